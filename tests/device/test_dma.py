# SPDX-License-Identifier: GPL-2.0-or-later
"""The qemu-epc DMA engine: transfers each way land byte-exact, through
the outbound window too; bad descriptors and host refusals end in the
error status; a transfer runs in slices, never holding the main loop."""
import os

from machines import R, EPF_RAM, EPC_WINDOW, HOST_RAM, PCI_COMMAND, MEM, BME
from base import WiredDeviceTest
from qtest import wait_until

LOCAL = EPF_RAM + 0x800000       # guest-1 RAM the tests transfer from/to


class DmaSetup(WiredDeviceTest):
    def setUp(self):
        super().setUp()
        self.bring_up()
        self.epc.set_reg(R.QEPC_IRQ_STATUS, R.QEPC_IRQ_ALL)

    def go(self, ch, src, dst, length, ctrl):
        self.epc.dma_go(ch, src, dst, length, ctrl)

    def wait(self, ch, timeout=60):
        return self.epc.dma_wait(ch, timeout)

    def transfer(self, ch, src, dst, length, ctrl):
        self.go(ch, src, dst, length, ctrl | R.QEPC_DMA_IRQ_EN)
        return self.wait(ch)

    def assert_done(self, res, ch, length):
        self.assertEqual(res, (R.QEPC_DMA_DONE, R.QEPC_DMA_E_NONE))
        self.assertEqual(self.epc.reg(R.QEPC_DMA_BASE(ch) + R.QEPC_DMA_DONE_BYTES), length)
        self.assertTrue(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DMA(ch))



class DmaTest(DmaSetup):
    def test_registers_describe_the_engine(self):
        self.assertTrue(self.epc.reg(R.QEPC_CAPS) & R.QEPC_CAPS_DMA)
        self.assertEqual(self.epc.reg(R.QEPC_DMA_CHANNELS), R.QEPC_NUM_DMA)
        self.assertEqual(self.epc.reg(R.QEPC_DMA_MPS), 4096)
        self.assertEqual(self.epc.reg(R.QEPC_DMA_MAX_LEN), 64 << 20)

    def test_endpoint_to_host_lands_byte_exact(self):
        data = os.urandom(10001)          # odd size, unaligned host start
        self.epc.memwrite(LOCAL, data)
        res = self.transfer(1, LOCAL, HOST_RAM + 3, len(data), R.QEPC_DMA_DST_HOST)
        self.assert_done(res, 1, len(data))
        self.assertEqual(self.br.memread(HOST_RAM + 3, len(data)), data)

    def test_host_to_endpoint_lands_byte_exact(self):
        data = os.urandom(20003)
        self.br.memwrite(HOST_RAM + 0x10005, data)
        res = self.transfer(0, HOST_RAM + 0x10005, LOCAL + 1, len(data), R.QEPC_DMA_SRC_HOST)
        self.assert_done(res, 0, len(data))
        self.assertEqual(self.epc.memread(LOCAL + 1, len(data)), data)

    def test_window_addresses_reach_the_host(self):
        # a memcpy between guest-1 addresses where one side is the outbound
        # window: the engine follows the window table
        self.epc.map_window(0, 0x10000, 0x10000, HOST_RAM + 0x40000)
        data = os.urandom(9000)
        self.epc.memwrite(LOCAL, data)
        res = self.transfer(2, LOCAL, EPC_WINDOW + 0x10000 + 7, len(data), 0)
        self.assert_done(res, 2, len(data))
        self.assertEqual(self.br.memread(HOST_RAM + 0x40007, len(data)), data)
        res = self.transfer(3, EPC_WINDOW + 0x10000 + 7, LOCAL + 0x10000, len(data), 0)
        self.assert_done(res, 3, len(data))
        self.assertEqual(self.epc.memread(LOCAL + 0x10000, len(data)), data)
        # past the window's end: unmapped window space
        res = self.transfer(2, LOCAL, EPC_WINDOW + 0x1f000, 0x2000, 0)
        self.assertEqual(res, (R.QEPC_DMA_FAILED, R.QEPC_DMA_E_LOCAL))

    def test_local_copy(self):
        data = os.urandom(70000)
        self.epc.memwrite(LOCAL, data)
        res = self.transfer(0, LOCAL, LOCAL + 0x100000, len(data), 0)
        self.assert_done(res, 0, len(data))
        self.assertEqual(self.epc.memread(LOCAL + 0x100000, len(data)), data)

    def test_bad_descriptors_end_in_error(self):
        E = R
        cases = [
            ('length 0', (LOCAL, HOST_RAM, 0, E.QEPC_DMA_DST_HOST), E.QEPC_DMA_E_LEN),
            ('length over the maximum', (LOCAL, HOST_RAM, (64 << 20) + 1,
                                         E.QEPC_DMA_DST_HOST), E.QEPC_DMA_E_LEN),
            ('host range wraps', (LOCAL, (1 << 64) - 16, 64, E.QEPC_DMA_DST_HOST),
             E.QEPC_DMA_E_LEN),
            ('source outside guest-1 RAM', (0x7f0000000000, HOST_RAM, 4096,
                                            E.QEPC_DMA_DST_HOST), E.QEPC_DMA_E_LOCAL),
            ('destination is MMIO, not RAM', (HOST_RAM, 0xe0000000 + 0x600, 4,
                                              E.QEPC_DMA_SRC_HOST), E.QEPC_DMA_E_LOCAL),
            ('destination past the end of RAM', (HOST_RAM, (256 << 20) - 100, 4096,
                                                 E.QEPC_DMA_SRC_HOST), E.QEPC_DMA_E_LOCAL),
            ('unmapped window space', (EPC_WINDOW + 0x3000000, LOCAL, 16, 0),
             E.QEPC_DMA_E_LOCAL),
        ]
        for name, args, err in cases:
            with self.subTest(name):
                self.epc.set_reg(R.QEPC_IRQ_STATUS, R.QEPC_IRQ_ALL)
                res = self.transfer(1, *args)
                self.assertEqual(res, (R.QEPC_DMA_FAILED, err))
                self.assertTrue(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DMA(1))
        # the channel is usable again after each error
        self.epc.memwrite(LOCAL, b'still works')
        res = self.transfer(1, LOCAL, HOST_RAM, 11, R.QEPC_DMA_DST_HOST)
        self.assert_done(res, 1, 11)
        self.assertEqual(self.br.memread(HOST_RAM, 11), b'still works')
        self.assertIn('DMA channel 1 failed', self.epc.guest_errors())

    def test_host_without_bus_mastering_refuses(self):
        self.br.set_cfg(PCI_COMMAND, MEM, 2)
        res = self.transfer(0, LOCAL, HOST_RAM, 8192, R.QEPC_DMA_DST_HOST)
        self.assertEqual(res, (R.QEPC_DMA_FAILED, R.QEPC_DMA_E_HOST_UR))
        res = self.transfer(0, HOST_RAM, LOCAL, 8192, R.QEPC_DMA_SRC_HOST)
        self.assertEqual(res, (R.QEPC_DMA_FAILED, R.QEPC_DMA_E_HOST_UR))
        self.br.set_cfg(PCI_COMMAND, MEM | BME, 2)
        self.assert_done(self.transfer(0, HOST_RAM, LOCAL, 8192, R.QEPC_DMA_SRC_HOST),
                         0, 8192)

    def test_link_down_ends_host_transfers(self):
        self.epc.stop()
        res = self.transfer(2, LOCAL, HOST_RAM, 4096, R.QEPC_DMA_DST_HOST)
        self.assertEqual(res, (R.QEPC_DMA_FAILED, R.QEPC_DMA_E_LINK))
        res = self.transfer(2, HOST_RAM, LOCAL, 4096, R.QEPC_DMA_SRC_HOST)
        self.assertEqual(res, (R.QEPC_DMA_FAILED, R.QEPC_DMA_E_LINK))

    def test_long_transfer_runs_in_slices_and_aborts(self):
        b = R.QEPC_DMA_BASE(3)
        length = 16 << 20
        self.go(3, HOST_RAM, LOCAL, length, R.QEPC_DMA_SRC_HOST | R.QEPC_DMA_IRQ_EN)
        # the main loop keeps serving register accesses while it runs, and
        # they show the transfer moving
        seen = set()

        def moving():
            busy = R.QEPC_DMA_STATE(self.epc.reg(b + R.QEPC_DMA_STATUS)) == R.QEPC_DMA_BUSY
            self.assertTrue(busy, 'the 16 MiB transfer ended before it was seen moving')
            seen.add(self.epc.reg(b + R.QEPC_DMA_DONE_BYTES))
            return len(seen) > 2
        wait_until(moving, 5, 'DONE_BYTES to change while the channel is busy')
        # a busy channel refuses a new descriptor
        self.epc.set_reg(R.QEPC_ERROR, 0)
        self.epc.set_reg(b + R.QEPC_DMA_LEN, 16)
        self.assertEqual(self.epc.reg(R.QEPC_ERROR), R.QEPC_ERR_DMA)
        self.assertEqual(self.epc.reg(b + R.QEPC_DMA_LEN), length)
        # nor GO, with or without its other bits
        self.epc.set_reg(R.QEPC_ERROR, 0)
        self.epc.set_reg(b + R.QEPC_DMA_CTRL, R.QEPC_DMA_GO | R.QEPC_DMA_IRQ_EN)
        self.assertEqual(self.epc.reg(R.QEPC_ERROR), R.QEPC_ERR_DMA)
        self.epc.set_reg(R.QEPC_ERROR, 0)
        self.epc.set_reg(b + R.QEPC_DMA_CTRL, R.QEPC_DMA_ABORT)
        st = self.epc.reg(b + R.QEPC_DMA_STATUS)
        self.assertEqual((R.QEPC_DMA_STATE(st), R.QEPC_DMA_ERR(st)),
                         (R.QEPC_DMA_FAILED, R.QEPC_DMA_E_ABORTED))
        done = self.epc.reg(b + R.QEPC_DMA_DONE_BYTES)
        self.assertLess(done, length)
        self.assertTrue(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DMA(3))
        # nothing moves after the abort
        self.assertEqual(self.epc.reg(b + R.QEPC_DMA_DONE_BYTES), done)

    def test_eight_byte_accesses(self):
        """The driver's three accesses per transfer: SRC, DST, and LEN with
        CTRL, each one 8-byte write (the lower register first).  qtest
        splits a write to the device's largest valid size, so this shows
        the order and the registers' effect; that a vCPU's 8-byte access is
        taken whole is shown by the guests' DMA cases (pcie-qemu-ep writes
        its channels with writeq)."""
        data = os.urandom(4096)
        self.epc.memwrite(LOCAL, data)
        b = self.epc.regs + R.QEPC_DMA_BASE(1)
        self.epc.writeq(b + R.QEPC_DMA_SRC_LO, LOCAL)
        self.epc.writeq(b + R.QEPC_DMA_DST_LO, HOST_RAM + 0x3000)
        self.epc.writeq(b + R.QEPC_DMA_LEN, len(data) | (R.QEPC_DMA_DST_HOST | R.QEPC_DMA_IRQ_EN |
                                                         R.QEPC_DMA_GO) << 32)
        self.assert_done(self.wait(1), 1, len(data))
        self.assertEqual(self.br.memread(HOST_RAM + 0x3000, len(data)), data)
        self.assertEqual(self.epc.readq(b + R.QEPC_DMA_DST_LO), HOST_RAM + 0x3000)

    def test_busy_channel_takes_irq_enable(self):
        """A transfer started without IRQ_EN interrupts at its end once a
        CTRL write without GO sets it while the channel is busy (the
        driver's polled transfers that did not end in the GO write); the
        write changes nothing else, and clearing it again is taken too."""
        b = R.QEPC_DMA_BASE(2)
        length = 16 << 20
        self.go(2, HOST_RAM, LOCAL, length, R.QEPC_DMA_SRC_HOST)
        st = self.epc.reg(b + R.QEPC_DMA_STATUS)
        self.assertEqual(R.QEPC_DMA_STATE(st), R.QEPC_DMA_BUSY, 'ended in the GO write')
        self.epc.set_reg(R.QEPC_ERROR, 0)
        self.epc.set_reg(b + R.QEPC_DMA_CTRL, R.QEPC_DMA_IRQ_EN | R.QEPC_DMA_DST_HOST)
        self.assertEqual(self.epc.reg(R.QEPC_ERROR), 0)
        self.assertEqual(self.epc.reg(b + R.QEPC_DMA_CTRL),
                         R.QEPC_DMA_SRC_HOST | R.QEPC_DMA_IRQ_EN)
        self.assert_done(self.wait(2), 2, length)
        self.assertTrue(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DMA(2))
        # and taken away again: no interrupt at the end
        self.epc.set_reg(R.QEPC_IRQ_STATUS, R.QEPC_IRQ_ALL)
        self.go(2, HOST_RAM, LOCAL, length, R.QEPC_DMA_SRC_HOST | R.QEPC_DMA_IRQ_EN)
        self.epc.set_reg(b + R.QEPC_DMA_CTRL, R.QEPC_DMA_SRC_HOST)
        self.assertEqual(self.wait(2), (R.QEPC_DMA_DONE, R.QEPC_DMA_E_NONE))
        self.assertFalse(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DMA(2))

    def test_channels_run_together(self):
        blobs = [os.urandom(50000 + i) for i in range(R.QEPC_NUM_DMA)]
        for i, d in enumerate(blobs):
            self.epc.memwrite(LOCAL + i * 0x20000, d)
        for i, d in enumerate(blobs):
            self.go(i, LOCAL + i * 0x20000, HOST_RAM + i * 0x20000, len(d),
                    R.QEPC_DMA_DST_HOST | R.QEPC_DMA_IRQ_EN)
        for i, d in enumerate(blobs):
            self.assert_done(self.wait(i), i, len(d))
            self.assertEqual(self.br.memread(HOST_RAM + i * 0x20000, len(d)), d)
        self.assertEqual(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DMA_ALL,
                         R.QEPC_IRQ_DMA_ALL)

    def test_no_interrupt_without_irq_enable(self):
        self.epc.memwrite(LOCAL, b'x' * 64)
        self.go(0, LOCAL, HOST_RAM, 64, R.QEPC_DMA_DST_HOST)
        self.assertEqual(self.wait(0), (R.QEPC_DMA_DONE, 0))
        self.assertFalse(self.epc.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DMA_ALL)


class DmaRateTest(DmaSetup):
    """dma-rate paces the engine in virtual time, which only qtest's
    clock_step moves here: the progress is exact, not timed."""
    epc_props = ',dma-rate=1000000'

    def test_rate_paces_a_transfer_in_virtual_time(self):
        slice_ = 64 * 1024
        data = os.urandom(4 * slice_)
        self.epc.memwrite(LOCAL, data)
        b = R.QEPC_DMA_BASE(0)
        self.go(0, LOCAL, HOST_RAM, len(data), R.QEPC_DMA_DST_HOST | R.QEPC_DMA_IRQ_EN)
        done = lambda: self.epc.reg(b + R.QEPC_DMA_DONE_BYTES)
        wait_until(lambda: done() == slice_, 10, 'the first 64 KiB slice')
        # one slice's time at 1 MB/s is 65.536 ms
        for n in (2, 3):
            self.epc.clock_step(65536000 - 1000)
            self.assertEqual(done(), (n - 1) * slice_)
            self.assertEqual(R.QEPC_DMA_STATE(self.epc.reg(b + R.QEPC_DMA_STATUS)),
                             R.QEPC_DMA_BUSY)
            self.epc.clock_step(1000)
            wait_until(lambda: done() == n * slice_, 10, 'slice %d' % n)
        self.epc.clock_step(65536000)
        res = self.wait(0)
        self.assert_done(res, 0, len(data))
        self.assertEqual(self.br.memread(HOST_RAM, len(data)), data)

    def test_abort_while_paced(self):
        b = R.QEPC_DMA_BASE(1)
        self.go(1, LOCAL, HOST_RAM, 1 << 20, R.QEPC_DMA_DST_HOST)
        wait_until(lambda: self.epc.reg(b + R.QEPC_DMA_DONE_BYTES) == 64 * 1024, 10,
                   'the first slice')
        self.epc.set_reg(b + R.QEPC_DMA_CTRL, R.QEPC_DMA_ABORT)
        self.assertEqual(self.wait(1), (R.QEPC_DMA_FAILED, R.QEPC_DMA_E_ABORTED))
        self.epc.clock_step(10 ** 9)
        self.assertEqual(self.epc.reg(b + R.QEPC_DMA_DONE_BYTES), 64 * 1024)
