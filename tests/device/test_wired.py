# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc (guest 1) and epf-bridge (guest 2) wired together."""
import signal
import struct
import threading
import time

from machines import (EpcVm, BridgeVm, R, EPF_RAM, EPC_WINDOW, HOST_RAM,
                      PCI_COMMAND, MEM, BME)
from base import WiredDeviceTest
from qtest import wait_until


class WiredTest(WiredDeviceTest):
    def test_header_and_bar_sizing(self):
        bars = self.bring_up()
        self.assertEqual(self.br.cfg(0), 0xb500104c)
        self.assertEqual(self.br.cfg(0x08) >> 8, 0xff0000)
        self.assertEqual(self.br.cfg(0x3d, 1), 1)
        self.assertEqual({n: s for n, (s, _) in bars.items()},
                         dict(enumerate(self.sizes)))
        for n in range(6):
            host = self.epc.reg(R.QEPC_BAR_BASE(n) + R.QEPC_BAR_HOST_LO)
            self.assertEqual(host, self.placed[n] & 0xffffffff)
        self.assertTrue(self.br.find_cap(0x10))
        msi = self.br.find_cap(0x05)
        self.assertEqual((self.br.cfg(msi + 2, 2) >> 1) & 7, 5)       # 32 vectors
        msix = self.br.find_cap(0x11)
        self.assertEqual(self.br.cfg(msix + 2, 2) & 0x7ff, 2047)     # 2048 entries

    def test_bar_write_lands_in_guest1_memory(self):
        self.bring_up()
        for n in range(6):
            base = self.placed[n]
            pattern = struct.pack('<I', 0xa5000000 | n)
            self.br.writel(base + 4, 0xa5000000 | n)
            self.assertEqual(self.br.readl(base + 4), 0xa5000000 | n)
            self.assertEqual(self.epc.memread(EPF_RAM + n * 0x200000 + 4, 4), pattern)
        # the EPF writes its memory; the host reads it through the BAR
        self.epc.memwrite(EPF_RAM + 0x100, b'from the endpoint')
        self.assertEqual(self.br.memread(self.placed[0] + 0x100, 17), b'from the endpoint')

    def test_outbound_window_reaches_guest2_memory(self):
        self.bring_up()
        self.epc.map_window(0, 0x100000, 0x10000, HOST_RAM)
        self.epc.memwrite(EPC_WINDOW + 0x100000, b'endpoint to host')
        # a posted write: it lands in guest 2 soon, not before the call returns
        wait_until(lambda: self.br.memread(HOST_RAM, 16) == b'endpoint to host', 5,
                   'the window write in guest 2 memory')
        self.br.memwrite(HOST_RAM + 0x100, b'host to endpoint')
        self.assertEqual(self.epc.memread(EPC_WINDOW + 0x100100, 16), b'host to endpoint')
        # without bus mastering the host refuses: reads are all-ones
        self.br.set_cfg(PCI_COMMAND, MEM, 2)
        self.assertEqual(self.epc.readl(EPC_WINDOW + 0x100000), 0xffffffff)

    def test_msi_msix_intx_delivered(self):
        self.bring_up()
        msi = self.host_msi_on(HOST_RAM + 0x1000)        # MSI address in RAM
        for vec in (0, 1, 31):
            self.epc.raise_irq(R.QEPC_RAISE_MSI, vec)
            wait_until(lambda: self.br.readl(HOST_RAM + 0x1000) == 0x4000 | vec, 5,
                       'MSI vector %d in guest 2 memory' % vec)
        # MSI-X: the table is in the EPF's BAR0 memory, programmed by the host
        msix = self.br.find_cap(0x11)
        table = self.placed[0] + 0x8000
        self.br.writeq(table + 16 * 5, HOST_RAM + 0x2000)
        self.br.writel(table + 16 * 5 + 8, 0xbeef)
        self.br.writel(table + 16 * 5 + 12, 0)
        # a read flushes the posted table writes, as on PCIe
        self.assertEqual(self.br.readl(table + 16 * 5 + 8), 0xbeef)
        self.br.set_cfg(msix + 2, 0x8000, 2)
        self.epc.wait_status(R.QEPC_STATUS_MSIX_EN, 'MSI-X enabled in guest 1')
        self.epc.raise_irq(R.QEPC_RAISE_MSIX, 5)
        wait_until(lambda: self.br.readl(HOST_RAM + 0x2000) == 0xbeef, 5,
                   'MSI-X vector 5 in guest 2 memory')
        # INTx
        self.br.set_cfg(msi + 2, 0, 2)
        self.epc.wait_status(R.QEPC_STATUS_MSI_EN, 'MSI disabled in guest 1', on=False)
        self.br.intercept_ioapic()
        self.epc.raise_irq(R.QEPC_RAISE_INTX_ASSERT)
        ev = wait_until(self.br.irq_events, 5, 'INTx assert in guest 2')
        self.assertTrue(ev[-1].startswith('IRQ raise'), ev)
        self.epc.raise_irq(R.QEPC_RAISE_INTX_DEASSERT)
        ev = wait_until(self.br.irq_events, 5, 'INTx deassert in guest 2')
        self.assertTrue(ev[-1].startswith('IRQ lower'), ev)

    def test_link_down_reads_all_ones(self):
        self.bring_up()
        self.epc.stop()
        wait_until(lambda: self.br.cfg(0) == 0xffffffff, 5, 'the function to vanish')
        self.assertEqual(self.br.readl(self.placed[0]), 0xffffffff)
        self.assertTrue(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_LINK_DOWN)

    def test_peer_restart_reconnects(self):
        self.bring_up()
        # the host side restarts: the endpoint sees link down then up
        self.br.quit()
        self.epc.wait_status(R.QEPC_STATUS_LINK_UP, 'link down after the host died', on=False)
        self.br = self.track(BridgeVm(self.sock, self.dir, name='bridge2'))
        self.br.wait_present()
        self.assertEqual(self.br.cfg(0), 0xb500104c)
        # the endpoint side restarts: the bridge reconnects on its own
        self.epc.kill()
        wait_until(lambda: self.br.cfg(0) == 0xffffffff, 5, 'all-ones after the endpoint died')
        self.epc = self.track(EpcVm(self.sock, self.dir, name='epc2'))
        self.epc.wait_status(R.QEPC_STATUS_PEER, 'the bridge to reconnect', timeout=15)
        self.bring_up()
        self.br.writel(self.placed[0], 0x600d)
        # a posted write: it lands when the endpoint's link thread handles it
        wait_until(lambda: self.epc.memread(EPF_RAM, 4) == struct.pack('<I', 0x600d),
                   5, 'the posted write to reach guest-1 memory')

    def test_guest2_reset_resets_the_function(self):
        self.bring_up()
        msi = self.br.find_cap(0x05)
        self.br.set_cfg(msi + 2, 1, 2)                     # MSI on
        self.br.set_cfg(msi + 4, 0xfee00000)
        # the config writes have reached guest 1 before its events are cleared
        self.epc.wait_status(R.QEPC_STATUS_MSI_EN, 'MSI enabled in guest 1')
        wait_until(lambda: self.epc.reg(R.QEPC_MSI_ADDR_LO) == 0xfee00000, 5,
                   "the host's MSI address in guest 1")
        self.epc.set_reg(R.QEPC_IRQ_STATUS, R.QEPC_IRQ_ALL)
        self.br.qmp('system_reset')
        # guest 2's copy and the endpoint's config space agree: reset values
        wait_until(lambda: self.br.cfg(PCI_COMMAND, 2) == 0, 5,
                   'the endpoint to clear its command register after the reset')
        for n in range(6):
            self.assertEqual(self.br.cfg(0x10 + 4 * n) & ~0xf, 0, 'BAR%d' % n)
        self.assertEqual(self.br.cfg(msi + 2, 2) & 1, 0)
        self.assertEqual(self.br.cfg(msi + 4), 0)
        # the endpoint learns of the reset through the link, in its own time
        wait_until(lambda: self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_HOST_CFG, 5,
                   'guest 1 to get HOST_CFG for the reset')
        self.epc.wait_status(R.QEPC_STATUS_MSI_EN, 'MSI off in guest 1 after the reset', on=False)
        # what guest 1 set up stays: the function is the same one
        self.assertEqual(self.br.cfg(0), 0xb500104c)
        self.assertEqual(self.br.size_bars(), self.bars)
        # the endpoint cannot master a host that has not enabled it again
        self.epc.map_window(0, 0, 0x1000, HOST_RAM)
        self.br.memwrite(HOST_RAM, b'\x5a' * 4)
        self.assertEqual(self.epc.memread(EPC_WINDOW, 4), b'\xff' * 4)
        # enumerated again, it works as before
        self.placed = self.br.assign_bars(self.bars)
        self.br.writel(self.placed[0], 0x600d)
        self.assertEqual(self.br.readl(self.placed[0]), 0x600d)
        self.assertEqual(self.epc.memread(EPF_RAM, 4), struct.pack('<I', 0x600d))

    def test_config_writes_during_a_stall_reach_the_endpoint(self):
        """Config writes nobody waits for (QEMU's own, as qtest's are; the
        bridge mirrors the config space): those made while the link is
        stalled by a read that timed out still go, and a qemu-epc that was
        only slow takes them."""
        self.bring_up()
        msi = self.br.find_cap(0x05)
        self.epc.kill(signal.SIGSTOP)
        try:
            self.assertEqual(self.br.readl(self.placed[0]), 0xffffffff)   # timed out
            self.br.set_cfg(msi + 4, HOST_RAM + 0x1000)
            self.br.set_cfg(msi + 2, 1, 2)
        finally:
            self.epc.kill(signal.SIGCONT)
        self.epc.wait_status(R.QEPC_STATUS_MSI_EN, 'the MSI set-up made during the stall')
        self.assertEqual(self.epc.reg(R.QEPC_MSI_ADDR_LO), HOST_RAM + 0x1000)


class CrossReadTest(WiredDeviceTest):
    """Each side reads the other at once, 5000 times: a read that waits
    for its completion never keeps the peer's read from being served.
    What is checked is that none waits for ever and every one returns
    the other side's data, not how fast: the devices get the
    timeout-ms that run gives them (harness/guests.py), so a QEMU that a
    busy machine (the e2e suite's guests beside this test) does not
    schedule for 300 ms does not turn a slow answer into all-ones."""
    epc_props = bridge_props = ',timeout-ms=5000'

    def test_concurrent_cross_reads_never_deadlock(self):
        self.bring_up()
        self.epc.map_window(0, 0, 0x1000, HOST_RAM)
        self.epc.memwrite(EPF_RAM, struct.pack('<I', 0x11111111))
        self.br.memwrite(HOST_RAM, struct.pack('<I', 0x22222222))
        rounds, errors, slowest = 5000, [], {}

        def loop(vm, addr, want):
            worst = 0.0
            try:
                for i in range(rounds):
                    t = time.monotonic()
                    v = vm.readl(addr)
                    worst = max(worst, time.monotonic() - t)
                    if v != want:
                        errors.append('%s round %d: 0x%x after %.3f s (slowest read so far %.3f s)'
                                      % (vm.name, i, v, time.monotonic() - t, worst))
                        return
            except Exception as e:     # noqa: BLE001 - reported below
                errors.append('%s: %s' % (vm.name, e))
            finally:
                slowest[vm.name] = worst

        t0 = time.monotonic()
        threads = [threading.Thread(target=loop, args=(self.epc, EPC_WINDOW, 0x22222222)),
                   threading.Thread(target=loop, args=(self.br, self.placed[0], 0x11111111))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertFalse(any(t.is_alive() for t in threads), 'cross reads hung')
        self.assertEqual(errors, [])
        print('  %d cross reads each way in %.1f s, slowest %s'
              % (rounds, time.monotonic() - t0,
                 ', '.join('%s %.3f s' % kv for kv in sorted(slowest.items()))))
