# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault injection (docs/qemu-epc.md, "Fault injection"): the inject
property of each device, set with qom-set while both run, makes the next
matching transactions fail as a PCIe link can make them fail; then traffic
passes again.  Every fault is logged and, with capture=, in the capture."""
import os
import struct
import time

import pcapng
import peer as P
from machines import R, EPF_RAM, EPC_WINDOW, HOST_RAM
from base import FIRST_BOUND, LATER_BOUND
from test_dma import DmaSetup, LOCAL
from qtest import wait_until


class InjectTest(DmaSetup):
    """Both devices with an id for qom-set; every access through messages;
    a capture on each side."""
    epc_props = ',id=dev,shmem=off,capture={dir}/epc.pcapng'
    bridge_props = ',id=dev,shmem=off,capture={dir}/bridge.pcapng'

    def inject(self, vm, spec):
        vm.qmp('qom-set', path='dev', property='inject', value=spec)

    def left(self, vm):
        return vm.qmp('qom-get', path='dev', property='inject')

    def bar_read(self):
        t0 = time.monotonic()
        v = self.br.readl(self.placed[0])
        return v, time.monotonic() - t0

    def test_property_checks_rules_and_reads_back_what_is_left(self):
        for vm in (self.epc, self.br):
            self.assertEqual(self.left(vm), '')
            with self.assertRaisesRegex(RuntimeError, "inject: 'cpl-lost': unknown fault"):
                self.inject(vm, 'cpl-lost:mem-read')
            with self.assertRaisesRegex(RuntimeError, 'needs a time in ms'):
                self.inject(vm, 'msi-delay:1')
            self.inject(vm, 'cpl-ur:cfg-write:3; msi-drop:2')
            self.assertEqual(self.left(vm), 'cpl-ur:cfg-write:3;msi-drop:2')
            self.inject(vm, '')
            self.assertEqual(self.left(vm), '')

    def test_completion_timeout_then_traffic_passes(self):
        self.epc.memwrite(EPF_RAM, struct.pack('<I', 0x600d))
        self.inject(self.epc, 'cpl-timeout:mem-read:1')
        v, took = self.bar_read()
        self.assertEqual(v, 0xffffffff)                   # completion timeout
        self.assertGreaterEqual(took, 0.29)
        self.assertLess(took, FIRST_BOUND)
        self.assertEqual(self.left(self.epc), '')
        # the next read passes, as on a PCIe link after a completion
        # timeout: qemu-epc answers it within the stalled link's 50 ms
        # grace, and its answer ends the stall (docs/protocol.md); on a
        # loaded machine that answer may come after the grace, and the read
        # after it passes: never more than one more all-ones, each bounded
        for attempt in range(2):
            v, took = self.bar_read()
            self.assertLess(took, LATER_BOUND)
            if v == 0x600d:
                break
            self.assertEqual(v, 0xffffffff)
        self.assertEqual(v, 0x600d)
        self.assertIn('injected cpl-timeout: completion of MEM_READ tag', self.epc.read_log())
        self.assertIn('did not complete MEM_READ', self.br.read_log())

    def test_ur_and_ca_end_reads_and_dma_with_the_error(self):
        self.epc.map_window(0, 0x100000, 0x10000, HOST_RAM)
        self.br.memwrite(HOST_RAM, struct.pack('<I', 0x1234))
        self.inject(self.br, 'cpl-ur:mem-read:1;cpl-ca:mem-read:1')
        t0 = time.monotonic()
        self.assertEqual(self.epc.readl(EPC_WINDOW + 0x100000), 0xffffffff)   # UR
        self.assertEqual(self.epc.readl(EPC_WINDOW + 0x100000), 0xffffffff)   # CA
        self.assertLess(time.monotonic() - t0, 2 * LATER_BOUND)              # no waiting
        self.assertEqual(self.epc.readl(EPC_WINDOW + 0x100000), 0x1234)
        # the DMA engine's reads of host memory
        for spec, err in (('cpl-ur:mem-read:1', R.QEPC_DMA_E_HOST_UR),
                          ('cpl-ca:mem-read:1', R.QEPC_DMA_E_HOST_CA),
                          ('cpl-poison:mem-read:1', R.QEPC_DMA_E_POISONED)):
            self.inject(self.br, spec)
            res = self.transfer(0, HOST_RAM, LOCAL, 8192, R.QEPC_DMA_SRC_HOST)
            self.assertEqual(res, (R.QEPC_DMA_FAILED, err), spec)
            self.assert_done(self.transfer(0, HOST_RAM, LOCAL, 8192, R.QEPC_DMA_SRC_HOST),
                             0, 8192)
        log = self.br.read_log()
        for what in ('MEM_READ tag %s completed with UR', 'MEM_READ tag %s completed with CA',
                     'data of MEM_READ tag %s poisoned'):
            self.assertRegex(log, 'injected cpl-[a-z]+: ' + what % r'\d+')

    def test_poisoned_read_is_all_ones_and_logged(self):
        self.epc.map_window(0, 0x100000, 0x10000, HOST_RAM)
        self.br.memwrite(HOST_RAM, struct.pack('<I', 0x1234))
        self.inject(self.br, 'cpl-poison:mem-read:1')
        self.assertEqual(self.epc.readl(EPC_WINDOW + 0x100000), 0xffffffff)
        self.assertIn("the completion's data is poisoned", self.epc.read_log())
        self.assertEqual(self.epc.readl(EPC_WINDOW + 0x100000), 0x1234)

    def test_delayed_completion_arrives_late_and_whole(self):
        self.epc.memwrite(EPF_RAM, struct.pack('<I', 0x5eed))
        self.inject(self.epc, 'cpl-delay:mem-read:1:150')
        v, took = self.bar_read()
        self.assertEqual(v, 0x5eed)
        self.assertGreaterEqual(took, 0.15)
        self.assertLess(took, 0.29)                        # within timeout-ms

    def msi_value(self):
        return struct.unpack('<I', self.br.memread(HOST_RAM + 0x1000, 4))[0]

    def test_msi_dropped_and_delayed(self):
        self.host_msi_on(HOST_RAM + 0x1000)
        self.inject(self.epc, 'msi-drop:1')
        self.epc.raise_irq(R.QEPC_RAISE_MSI, 3)
        time.sleep(0.3)
        self.assertEqual(self.msi_value(), 0)              # never came
        self.epc.raise_irq(R.QEPC_RAISE_MSI, 4)
        wait_until(lambda: self.msi_value() == 0x4004, 5, 'the next MSI')
        self.inject(self.epc, 'msi-delay:1:300')
        t0 = time.monotonic()
        self.epc.raise_irq(R.QEPC_RAISE_MSI, 5)
        wait_until(lambda: self.msi_value() == 0x4005, 5, 'the delayed MSI')
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertIn('injected msi-drop: MSI to 0x%x dropped' % (HOST_RAM + 0x1000),
                      self.epc.read_log())

    def test_link_down_for_a_while_then_back(self):
        t0 = time.monotonic()                              # the link drops inside inject()
        self.inject(self.epc, 'link-down:400')
        self.epc.wait_status(R.QEPC_STATUS_LINK_UP, 'link down in guest 1', on=False)
        self.assertTrue(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_LINK_DOWN)
        wait_until(lambda: self.br.cfg(0) == 0xffffffff, 5, 'the function to vanish')
        self.epc.wait_status(R.QEPC_STATUS_LINK_UP, 'link up again', timeout=10)
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        self.br.wait_present()
        self.assertEqual(self.br.cfg(0), 0xb500104c)

    def test_surprise_removal_until_the_rules_change(self):
        self.inject(self.br, 'remove')
        wait_until(lambda: self.br.cfg(0) == 0xffffffff, 5, 'the function to vanish')
        self.assertEqual(self.br.readl(self.placed[0]), 0xffffffff)
        self.epc.wait_status(R.QEPC_STATUS_LINK_UP, 'link down in guest 1', on=False)
        time.sleep(1.2)                                    # > reconnect-ms twice
        self.assertEqual(self.br.cfg(0), 0xffffffff)       # still gone
        self.assertEqual(self.left(self.br), 'remove')
        self.inject(self.br, '')
        self.br.wait_present()
        self.epc.wait_status(R.QEPC_STATUS_LINK_UP, 'link up again')

    def test_faults_are_in_both_captures(self):
        self.inject(self.epc, 'cpl-ca:mem-read:2')
        for _ in range(2):
            self.assertEqual(self.br.readl(self.placed[0]), 0xffffffff)
        for vm in (self.epc, self.br):
            self.assertIsNone(vm.quit())
        _, _, erecs = pcapng.read(os.path.join(self.dir, 'epc.pcapng'))
        _, _, brecs = pcapng.read(os.path.join(self.dir, 'bridge.pcapng'))
        faults = [r.text for r in erecs if r.note == P.W.QEP_NOTE_FAULT]
        self.assertEqual(len(faults), 2, faults)
        self.assertTrue(all('completed with CA' in t for t in faults), faults)
        ca = [r for r in brecs if r.msg is not None and r.msg.type == P.COMPLETION and
              r.dir == 1 and r.msg.m.u.cpl.status == P.CA]
        self.assertEqual(len(ca), 2)
