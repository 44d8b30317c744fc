# SPDX-License-Identifier: GPL-2.0-or-later
"""pcie-qemu-ep in a booted guest: bind, unbind/rebind, unload/reload,
with and without pci-epf-test bound, and unbind with a DMA transfer in
flight; nothing left behind, no oops."""
import os
import time
import unittest

import artefacts
import e2e
import guests
import initramfs


class DriverLifecycle(unittest.TestCase):
    def test_unbind_rebind_unload_reload(self):
        rundir = e2e.test_rundir('driver')
        try:
            g, raw = e2e.driver_cycle_guest(artefacts.kernel_dir(), artefacts.kmod_path(),
                                            rundir, 300, 'the driver cycle script in guest 1')
        except guests.GuestError as e:
            self.fail(str(e))
        plan, _, wrong = e2e.script_results(raw)
        self.assertIsNone(wrong, 'log in %s' % rundir)
        self.assertEqual(len(plan), 8, plan)
        self.assertEqual(g.kernel_problems(guests.EPF_EXPECTED), [],
                         'kernel log: %s' % g.console)


# guest 2 keeps a DMA read going: 4 MB, pci-epf-test's DMA write to the host
DMA_LOOP = ['-i 1'] + ['-d -r -s 4000000'] * 200


class DmaInFlight(unittest.TestCase):
    def test_unbind_with_dma_in_flight(self):
        kdir = artefacts.kernel_dir()
        rundir = e2e.test_rundir('dma-unbind')
        mods = list(initramfs.find_modules(os.path.join(kdir, 'modules'),
                                           {'pci-epf-test', 'pci_endpoint_test'}).values())
        initrd = initramfs.build(os.path.join(rundir, 'initramfs.cpio.gz'),
                                 mods + [artefacts.kmod_path()],
                                 os.path.join(kdir, 'pcitest'),
                                 os.path.join(kdir, 'pcitest.sh'),
                                 os.path.join(e2e.TEST_GUEST_DIR, 'dma-unbind.sh'),
                                 os.path.join(artefacts.GUEST_DIR, 'host-pcitest.sh'),
                                 suites={'dma-loop': DMA_LOOP},
                                 extra=[('etc/qemu-epc/epf-test.sh',
                                         os.path.join(artefacts.GUEST_DIR, 'epf-test.sh'))])
        # a 16 MB/s engine: each transfer is busy for a quarter second
        pair = guests.Pair(rundir, os.path.join(kdir, 'bzImage'), initrd, host_smp=2,
                           suite='dma-loop', epc_props=',dma-rate=16000000')
        try:
            pair.bring_up()
            pair.epf.wait_for('DONE', 600,
                              'guest 1 to see a busy DMA channel, unbind and reload')
            time.sleep(0.2)
        except guests.GuestError as e:
            self.fail(str(e))
        finally:
            pair.stop()
        self.assertEqual(pair.exit_problems(), [])
        with open(pair.epf.results, errors='replace') as f:
            plan, _, wrong = e2e.script_results(f.read().splitlines())
        self.assertIsNone(wrong, 'log in %s' % rundir)
        self.assertEqual(len(plan), 7, plan)
        # pci-epf-test got the completion of the transfer that was in
        # flight, and the kernel said nothing
        with open(pair.epf.console, errors='replace') as f:
            self.assertRegex(f.read(), r'WRITE => Size: 4000000 B, DMA: YES')
        self.assertEqual(pair.epf.kernel_problems(guests.EPF_EXPECTED), [],
                         'kernel log: %s' % pair.epf.console)


if __name__ == '__main__':
    unittest.main()
