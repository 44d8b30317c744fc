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

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('6.12',)


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


# trace events each guest's QEMU must have printed (-trace): name, the
# start of its text
TRACED = {
    'epf': [('qemu_epc_link_connect', r'a peer connected'),
            ('qemu_epc_link_up', r'HELLO exchanged, features 0x[0-9a-f]+'),
            ('qemu_epc_start', r'CTRL\.START 1'),
            ('qemu_epc_link', r'function 0 link 1'),
            ('qemu_epc_dma_go', r'channel \d+: 0x[0-9a-f]+ -> 0x[0-9a-f]+ \d+ bytes'),
            ('qemu_epc_dma_end', r'channel \d+: state \d+ error 0'),
            ('qemu_epc_event', r'IRQ_STATUS \|= 0x[0-9a-f]+')],
    'host': [('epf_bridge_link_up', r'HELLO exchanged, features 0x[0-9a-f]+'),
             ('epf_bridge_link', r'function 1')],
}


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
        # a 16 MB/s engine: each transfer is busy for a quarter second; the
        # devices take their link from a -chardev socket the command line
        # sets up (chardev=), as a user of QEMU's chardevs would, and
        # trace their events through QEMU's tracing
        pair = guests.Pair(rundir, os.path.join(kdir, 'bzImage'), initrd, host_smp=2,
                           suite='dma-loop', epc_props=',dma-rate=16000000',
                           link='chardev', trace=True)
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
        for g, dev in ((pair.epf, 'qemu-epc,id=epc,chardev=epclink'),
                       (pair.host, 'epf-bridge,id=bridge0,chardev=epclink')):
            with open(g.qemu_log, errors='replace') as f:
                log = f.read()
            self.assertIn(dev, log, 'the pair did not use chardev=')
            # the events of the link's life and of the transfers, with
            # their fields (the formats of qemu-modules/trace-events-*)
            events = TRACED[g.name]
            for ev, fmt in events:
                self.assertRegex(log, r'(?m)^(\d+@[\d.]+:)?%s %s' % (ev, fmt),
                                 '%s: no %s event' % (g.qemu_log, ev))
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
