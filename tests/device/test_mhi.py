# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc's MHI register block (mhi=on): the host's view through a
function BAR, guest 1's, the doorbells and the interrupt they raise."""
import struct

import peer as P
from machines import R, EPC_MSIX, MSIX_RAM
from base import DeviceTest
from test_inbound import InboundBase, BAR_HOST
from qtest import wait_until

EPC_MHI = 0xe0020000       # guest 1: qemu-epc BAR1, the MHI block
MHI_VEC = MSIX_RAM + 0x10 * R.QEPC_VEC_MHI
MHICTRL, MHISTATUS, CRDB = 0x38, 0x48, 0x70   # the host's offsets


class MhiTest(InboundBase):
    epc_props = ',mhi=on'

    def setUp(self):
        super().setUp()
        self.vm.cfg_write(self.vm.devfn, 0x10 + 4 * R.QEPC_MHI_BAR, EPC_MHI)
        self.vm.enable_msix(EPC_MSIX)
        self.vm.memwrite(MSIX_RAM, b'\0' * 0x30)
        # function BAR1 onto the block, as pci-epf-mhi maps its BAR0
        self.link_up(size=0x1000)
        self.assertTrue(self.vm.reg(R.QEPC_CAPS) & R.QEPC_CAPS_MHI)
        self.assertEqual(self.vm.remap_bar(1, addr=EPC_MHI), 0)

    def host_write(self, off, val):
        self.peer.send(P.mem_write(BAR_HOST + off, struct.pack('<I', val)))

    def host_reg(self, off):
        status, data = self.host_read(off)
        self.assertEqual(status, P.SC)
        return struct.unpack('<I', data)[0]

    def mhi(self, off):
        return self.vm.readl(EPC_MHI + off)

    def set_mhi(self, off, val):
        self.vm.writel(EPC_MHI + off, val)

    def vector_fired(self):
        return self.vm.memread(MHI_VEC, 4) == struct.pack('<I', 0xd0 + R.QEPC_VEC_MHI)

    def test_host_and_guest1_views(self):
        # the hardware's reset values, as the host reads them
        self.assertEqual(self.host_reg(0x18), R.QEPC_MHI_CHDB(0) - R.QEPC_MHI_HOST_BASE)
        self.assertEqual(self.host_reg(0x20), R.QEPC_MHI_ERDB(0) - R.QEPC_MHI_HOST_BASE)
        self.assertEqual(self.host_reg(0x28), 0x100)
        # guest 1 sets MHISTATUS (READY), the host reads it 0x100 lower
        self.set_mhi(R.QEPC_MHI_HOST_BASE + MHISTATUS, 0x101)
        self.assertEqual(self.host_reg(MHISTATUS), 0x101)
        # the host sets a context base, guest 1 reads it
        self.host_write(0x58, 0x12345000)
        self.assertEqual(self.host_reg(0x58), 0x12345000)
        self.assertEqual(self.mhi(R.QEPC_MHI_HOST_BASE + 0x58), 0x12345000)

    def test_mhictrl_write_interrupts_guest1_on_its_vector(self):
        self.set_mhi(R.QEPC_MHI_INT_MASK, 3)
        self.host_write(MHICTRL, 0x200)          # M0
        wait_until(self.vector_fired, 5, 'the MHI vector (MSI-X 2) in guest 1')
        self.assertEqual(self.mhi(R.QEPC_MHI_INT_STATUS), 1)
        self.assertEqual(self.mhi(R.QEPC_MHI_HOST_BASE + MHICTRL), 0x200)
        # nothing on the event vector: not an IRQ_STATUS event
        self.assertEqual(self.vm.memread(MSIX_RAM, 4), b'\0' * 4)
        self.set_mhi(R.QEPC_MHI_INT_CLEAR, 1)
        self.assertEqual(self.mhi(R.QEPC_MHI_INT_STATUS), 0)
        # the command ring doorbell, its low word
        self.vm.memwrite(MHI_VEC, b'\0' * 4)
        self.host_write(CRDB + 4, 0)
        self.host_write(CRDB, 0x4000)
        wait_until(self.vector_fired, 5, 'the MHI vector after CRDB')
        self.assertEqual(self.mhi(R.QEPC_MHI_INT_STATUS), 2)

    def test_masked_doorbell_latches_and_fires_when_unmasked(self):
        ch = 33
        self.host_write(R.QEPC_MHI_CHDB(ch) - R.QEPC_MHI_HOST_BASE, 0x8000)
        # latched, masked: guest 1 sees it, no interrupt
        wait_until(lambda: self.mhi(R.QEPC_MHI_CHDB_STATUS(1)) == 1 << (ch - 32), 5,
                   'channel 33 latched')
        self.assertFalse(self.vector_fired())
        self.assertEqual(self.mhi(R.QEPC_MHI_CHDB(ch)), 0x8000)
        self.set_mhi(R.QEPC_MHI_CHDB_MASK(1), 1 << (ch - 32))
        wait_until(self.vector_fired, 5, 'the MHI vector once unmasked')
        self.set_mhi(R.QEPC_MHI_CHDB_CLEAR(1), 0xffffffff)
        self.assertEqual(self.mhi(R.QEPC_MHI_CHDB_STATUS(1)), 0)

    def test_bad_host_access_refused(self):
        status, _ = self.host_read(0x39, 1)
        self.assertEqual(status, P.CA)
        self.assertIn('aligned 32-bit words', self.vm.guest_errors())
        # the status registers are not in the host's view: its offset 0x4
        # is the block's 0x104 (MHIREGLEN's upper neighbour), not INT_STATUS
        self.set_mhi(R.QEPC_MHI_INT_MASK, 1)
        self.host_write(MHICTRL, 0x200)
        wait_until(lambda: self.mhi(R.QEPC_MHI_INT_STATUS) == 1, 5, 'MHICTRL latched')
        self.host_write(R.QEPC_MHI_INT_CLEAR, 1)
        self.assertEqual(self.mhi(R.QEPC_MHI_INT_STATUS), 1)


class NoMhiTest(DeviceTest):
    def test_off_by_default(self):
        from machines import EpcVm
        vm = self.track(EpcVm(self.path('link.sock'), self.dir))
        self.assertFalse(vm.reg(R.QEPC_CAPS) & R.QEPC_CAPS_MHI)
        # BAR1 is not implemented: it reads back 0 after all-ones
        vm.cfg_write(vm.devfn, 0x14, 0xffffffff)
        self.assertEqual(vm.cfg_read(vm.devfn, 0x14, 4), 0)
