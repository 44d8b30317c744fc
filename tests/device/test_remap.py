# SPDX-License-Identifier: GPL-2.0-or-later
"""A BAR remapped while a vCPU writes it (TCG): guest 2 runs a firmware
that stores an incrementing counter into the function's BAR0 in a tight
loop, straight into guest 1's RAM through the direct mapping; guest 1
switches BAR0 between two buffers.  Once a remap has completed
(STATUS.UNMAPPING clear), no write lands in the old buffer any more, and
the writes reach the new one."""
import os
import time

from machines import R, EPF_RAM, PCI_COMMAND, MEM, BME, BridgeVm, EpcVm
from base import DeviceTest
from qtest import wait_until
from peer import BUILD

FIRMWARE = os.path.join(BUILD, 'tests', 'bar-writer.bin')
BAR_ADDR = 0xd0000000        # where guest 2 places BAR0 (the firmware's target)
SLOT = 0x100                 # the word the firmware writes
BUFFERS = (EPF_RAM, EPF_RAM + 0x400000)


class RemapUnderVcpuTest(DeviceTest):

    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.isfile(FIRMWARE), '%s missing (meson builds it)' % FIRMWARE)
        sock = self.path('link.sock')
        self.epc = self.track(EpcVm(sock, self.dir, shared_ram=True))
        self.br = self.track(BridgeVm(sock, self.dir, shared_ram=True, firmware=FIRMWARE))
        self.epc.wait_status(R.QEPC_STATUS_PEER, 'the bridge to connect to qemu-epc')

    def counter(self, buf):
        return int.from_bytes(self.epc.memread(buf + SLOT, 4), 'little')

    def test_no_write_lands_in_the_old_buffer_after_the_remap(self):
        self.epc.standard_function()
        self.epc.start()
        self.epc.wait_status(R.QEPC_STATUS_LINK_UP, 'link up in guest 1')
        self.br.wait_present()
        self.br.assign_bars(self.br.size_bars())
        self.br.set_cfg(0x10, BAR_ADDR)
        self.br.set_cfg(PCI_COMMAND, MEM | BME, 2)
        cur = BUFFERS[0]
        v = self.counter(cur)
        wait_until(lambda: self.counter(cur) != v, 10,
                   "guest 2's vCPU writes to reach guest 1's RAM through BAR0")
        for n in range(20):
            new = BUFFERS[(n + 1) % 2]
            self.assertEqual(self.epc.remap_bar(0, new), 0, 'remap %d refused' % n)
            # completed: the old buffer is frozen ...
            before = self.counter(cur)
            time.sleep(0.05)
            after = self.counter(cur)
            self.assertEqual(before, after, 'remap %d: the vCPU still wrote the old buffer '
                             '(%#x then %#x)' % (n, before, after))
            # ... and the writes go to the new one
            v = self.counter(new)
            wait_until(lambda: self.counter(new) != v, 10,
                       'remap %d: the writes to reach the new buffer' % n)
            cur = new
        self.assertEqual(self.br.proc.poll(), None, 'guest 2 ended')
