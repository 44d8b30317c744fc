# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest-side garbage: random register traffic from guest 1 and config
writes to every offset from guest 2 (fixed seeds).  Neither QEMU may die,
bad programming is reported with LOG_GUEST_ERROR, and the link is usable
again afterwards."""
import random

from machines import R, EPC_REGS, EPC_WINDOW, DEVFN
from base import WiredDeviceTest


class GarbageTest(WiredDeviceTest):
    def assert_usable(self):
        """Both alive, and a fresh set-up brings the function back."""
        self.assertTrue(self.epc.alive(), self.epc.read_log())
        self.assertTrue(self.br.alive(), self.br.read_log())
        self.assertEqual(self.epc.reg(R.QEPC_MAGIC), R.QEPC_MAGIC_VALUE)
        self.epc.setup_pci()
        self.epc.stop()
        for n in range(R.QEPC_NUM_BARS):
            self.epc.set_reg(R.QEPC_BAR_BASE(n) + R.QEPC_BAR_FLAGS, 0)
        for n in range(R.QEPC_NUM_WINDOWS):
            self.epc.set_reg(R.QEPC_WIN_BASE(n) + R.QEPC_WIN_CTRL, 0)
        self.epc.set_reg(R.QEPC_ERROR, 0)
        self.bring_up()
        self.assertEqual(self.br.cfg(0), 0xb500104c)

    def test_random_register_traffic_from_guest1(self):
        self.bring_up()
        rnd = random.Random(20261125)
        ops = {1: (self.epc.writeb, self.epc.readb),
               4: (self.epc.writel, self.epc.readl),
               8: (self.epc.writeq, self.epc.readq)}
        for _ in range(4000):
            size = rnd.choice((1, 4, 4, 4, 8))
            # mostly the defined registers, some anywhere in BAR0
            if rnd.random() < 0.8:
                off = rnd.choice((0x0, 0x8, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x30,
                                  0x3c, 0x40, 0x58, 0x5c, 0x60, 0x70,
                                  R.QEPC_BAR_BASE(rnd.randrange(8)) + rnd.randrange(0, 0x20, 4),
                                  R.QEPC_WIN_BASE(rnd.randrange(18)) + rnd.randrange(0, 0x20, 4)))
            else:
                off = rnd.randrange(0x1000)
            off += rnd.choice((0, 0, 0, 1, 2, 3))        # some unaligned
            off = min(off, 0x1000 - size)
            val = rnd.choice((0, 0xffffffff, 1, 0x80000000, rnd.getrandbits(64)))
            write, read = ops[size]
            if rnd.random() < 0.7:
                write(EPC_REGS + off, val & ((1 << (8 * size)) - 1))
            else:
                read(EPC_REGS + off)
        # and the window space, whatever is mapped there now
        for _ in range(200):
            off = rnd.randrange(0, 0x100000, 4)
            if rnd.random() < 0.5:
                self.epc.writel(EPC_WINDOW + off, rnd.getrandbits(32))
            else:
                self.epc.readl(EPC_WINDOW + off)
        self.assertIn('qemu-epc', self.epc.guest_errors())
        self.assert_usable()

    def test_config_writes_to_every_offset_from_guest2(self):
        self.bring_up()
        rnd = random.Random(4096)
        for off in range(0x1000):
            self.br.cfg_write(DEVFN, off, rnd.getrandbits(8), 1)
        for off in range(0, 0x1000, 2):
            self.br.cfg_write(DEVFN, off, rnd.getrandbits(16), 2)
        for off in range(0, 0x1000, 4):
            self.br.cfg_write(DEVFN, off, rnd.choice((0xffffffff, 0, rnd.getrandbits(32))), 4)
            self.br.cfg_read(DEVFN, off, 4)
        self.assert_usable()
