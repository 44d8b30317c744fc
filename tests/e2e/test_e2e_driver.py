# SPDX-License-Identifier: GPL-2.0-or-later
"""pcie-qemu-ep in a booted guest: bind, unbind/rebind, unload/reload,
with and without pci-epf-test bound; nothing left behind, no oops."""
import os
import time
import unittest

import guests
import initramfs


class DriverLifecycle(unittest.TestCase):
    def test_unbind_rebind_unload_reload(self):
        kdir = guests.kernel_dir()
        rundir = guests.test_rundir('driver')
        mods = list(initramfs.find_modules(os.path.join(kdir, 'modules'),
                                           {'pci-epf-test'}).values())
        initrd = initramfs.build(os.path.join(rundir, 'initramfs.cpio.gz'),
                                 mods + [guests.kmod_path()],
                                 os.path.join(kdir, 'pcitest'),
                                 os.path.join(kdir, 'pcitest.sh'),
                                 os.path.join(guests.GUEST_DIR, 'driver-cycle.sh'),
                                 os.path.join(guests.GUEST_DIR, 'host-pcitest.sh'))
        g = guests.Guest('epf', rundir, os.path.join(kdir, 'bzImage'), initrd,
                         'console=ttyS0 panic=-1 qepc.role=epf qepc.wait=240',
                         ['-device', 'qemu-epc,socket=' + os.path.join(rundir, 'epc.sock')])
        lines = []
        try:
            g.wait_for('EPF-READY', 300, 'the driver cycle script in guest 1')
            time.sleep(0.2)
        except guests.GuestError as e:
            self.fail('%s\nresults so far: %s' % (e, lines))
        finally:
            g.stop()
        with open(g.results) as f:
            lines = [l.strip()[10:] for l in f if l.startswith('QEPC-TEST')]
        self.assertTrue(lines and lines[-1].startswith('done '), lines)
        bad = [l for l in lines if l.startswith('not ok')]
        self.assertEqual(bad, [], 'log in %s' % rundir)
        self.assertEqual(len(lines) - 1, int(lines[-1].split()[1]), lines)
        self.assertEqual(g.kernel_problems(guests.EPF_EXPECTED), [],
                         'kernel log: %s' % g.console)


if __name__ == '__main__':
    unittest.main()
