# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc's inbound side: BAR subranges, remapping while the host
reads, running out of inbound entries, BAR kinds, and the doorbell."""
import struct
import threading

import peer as P
from machines import (EpcVm, R, EPF_RAM, EPC_REGS, EPC_MSIX, MSIX_RAM)
from base import DeviceTest, WiredDeviceTest
from qtest import wait_until

BAR_HOST = 0xd0000000        # where the test peer places BAR1
OLD, NEW = EPF_RAM + 0x400000, EPF_RAM + 0x500000


class InboundBase(DeviceTest):
    """qemu-epc against a test peer playing the host."""
    epc_props = ''

    def setUp(self):
        super().setUp()
        self.sock = self.path('link.sock')
        self.vm = self.track(EpcVm(self.sock, self.dir, props=self.epc_props))
        self.peer = self.track_peer(P.Peer(self.sock, P.ROLE_HOST).connect())
        self.peer.handshake()
        self.vm.wait_status(R.QEPC_STATUS_PEER, 'qemu-epc to see the peer')

    def link_up(self, bar=1, size=0x2000):
        """One memory BAR, placed by the peer at BAR_HOST, decoding on."""
        self.vm.write_header()
        self.assertTrue(self.vm.set_bar(bar, OLD, size))
        self.vm.start()
        self.assertEqual(self.peer.expect(P.LINK, what='LINK up').m.u.link.up, 1)
        self.set_cfg(0x10 + 4 * bar, BAR_HOST)
        self.set_cfg(0x04, 0x6, 2)

    def set_cfg(self, off, val, ln=4):
        c = self.peer.request(P.cfg_write(self.peer.next_tag(), off, ln, val))
        self.assertEqual(c.m.u.cpl.status, P.SC)

    def host_read(self, off, ln=4):
        c = self.peer.request(P.mem_read(self.peer.next_tag(), BAR_HOST + off, ln))
        return c.m.u.cpl.status, c.data

    def fill(self, addr, size, byte):
        self.vm.memwrite(addr, bytes([byte]) * size)


class InboundTest(InboundBase):
    def test_subranges_map_in_order(self):
        self.link_up()
        self.fill(OLD, 0x1000, 0x11)
        self.fill(OLD + 0x1000, 0x1000, 0x22)
        self.assertEqual(self.host_read(0), (P.SC, b'\x11' * 4))
        # swap the halves, as pci-epf-test's subrange test does
        err = self.vm.remap_bar(1, submap=(0, [(OLD + 0x1000, 0x1000), (OLD, 0x1000)]))
        self.assertEqual(err, 0)
        self.assertEqual(self.host_read(0), (P.SC, b'\x22' * 4))
        self.assertEqual(self.host_read(0x1ffc), (P.SC, b'\x11' * 4))
        # one read across the subrange boundary is split in guest 1
        self.assertEqual(self.host_read(0xffe), (P.SC, b'\x22\x22\x11\x11'))
        # host writes land in the subrange the offset maps to
        self.peer.send(P.mem_write(BAR_HOST + 0x1000, b'abcd'))
        self.assertEqual(self.host_read(0x1000), (P.SC, b'abcd'))
        self.assertEqual(self.vm.memread(OLD, 4), b'abcd')
        # entries in use are locked; back to one mapping frees them
        self.vm.set_reg(R.QEPC_ERROR, 0)
        self.vm.set_reg(R.QEPC_IB_BASE(0) + R.QEPC_IB_ADDR_LO, NEW)
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_INBOUND)
        self.assertEqual(self.vm.remap_bar(1, addr=OLD), 0)
        self.assertEqual(self.host_read(0), (P.SC, b'abcd'))

    def test_remap_is_atomic_between_register_writes(self):
        """Staged ADDR halves and SUBMAP entries change nothing the host
        sees until FLAGS commits them."""
        self.link_up()
        self.fill(OLD, 0x2000, 0x11)
        self.fill(NEW, 0x2000, 0x22)
        base = R.QEPC_BAR_BASE(1)
        self.vm.set_reg(base + R.QEPC_BAR_ADDR_LO, NEW)
        self.assertEqual(self.host_read(0x10), (P.SC, b'\x11' * 4))
        self.vm.set_reg(base + R.QEPC_BAR_ADDR_HI, 0)
        self.assertEqual(self.host_read(0x10), (P.SC, b'\x11' * 4))
        self.vm.set_reg(base + R.QEPC_BAR_FLAGS, R.QEPC_BAR_ENABLE)
        self.assertEqual(self.host_read(0x10), (P.SC, b'\x22' * 4))
        # the host never saw the layout change: same size, same place
        c = self.peer.request(P.cfg_read(self.peer.next_tag(), 0x14, 4))
        self.assertEqual(int.from_bytes(c.data, 'little'), BAR_HOST)

    def test_remap_under_traffic(self):
        """The host reads the BAR in a loop while guest 1 switches it
        between a whole mapping and two swapped subranges 200 times: every
        read returns one of the two layouts' bytes, never all-ones or a
        mix of the two in one access."""
        self.link_up()
        self.fill(OLD, 0x1000, 0x11)
        self.fill(OLD + 0x1000, 0x1000, 0x22)
        whole = {0: b'\x11' * 8, 0x1000: b'\x22' * 8}
        swapped = {0: b'\x22' * 8, 0x1000: b'\x11' * 8}
        stop = threading.Event()
        seen, bad = [0], []

        def reader():
            try:
                while not stop.is_set():
                    for off in (0, 0x1000):
                        st, data = self.host_read(off, 8)
                        if st != P.SC or data not in (whole[off], swapped[off]):
                            bad.append((off, st, data))
                        seen[0] += 1
            except Exception as e:      # noqa: BLE001 - reported below
                bad.append(repr(e))

        t = threading.Thread(target=reader)
        t.start()
        try:
            for i in range(200):
                if i % 2:
                    err = self.vm.remap_bar(1, addr=OLD)
                else:
                    err = self.vm.remap_bar(1, submap=(4 * (i % 4 // 2),
                                                       [(OLD + 0x1000, 0x1000), (OLD, 0x1000)]))
                self.assertEqual(err, 0, 'remap %d refused' % i)
        finally:
            stop.set()
            t.join(20)
        self.assertFalse(t.is_alive(), 'the reader did not stop')
        self.assertEqual(bad, [])
        self.assertGreater(seen[0], 50, 'too few reads overlapped the remaps')

    def test_bad_inbound_access_is_completer_abort(self):
        """A subrange whose guest-1 memory does not exist: CA, logged."""
        self.link_up()
        self.assertEqual(self.vm.remap_bar(1, submap=(0, [(OLD, 0x1000),
                                                          (1 << 46, 0x1000)])), 0)
        self.assertEqual(self.host_read(0)[0], P.SC)
        self.assertEqual(self.host_read(0x1000)[0], P.CA)


class InboundExhaustedTest(InboundBase):
    epc_props = ',inbound-windows=3'

    def test_running_out_of_entries_is_an_error_not_a_crash(self):
        self.link_up()
        self.fill(OLD, 0x2000, 0x33)
        self.assertEqual(self.vm.reg(R.QEPC_INBOUND_COUNT), 3)
        self.assertEqual(self.vm.remap_bar(1, submap=(0, [(OLD, 0x1000), (OLD + 0x1000, 0x1000)])), 0)
        # two more entries do not exist: refused, the mapping stays
        err = self.vm.remap_bar(1, submap=(2, [(OLD + 0x1000, 0x1000), (OLD, 0x1000)]))
        self.assertEqual(err, R.QEPC_ERR_INBOUND)
        self.assertIn('beyond INBOUND_COUNT', self.vm.guest_errors())
        self.assertEqual(self.host_read(0), (P.SC, b'\x33' * 4))
        # the entries of the committed map are not available to others
        self.vm.set_reg(R.QEPC_ERROR, 0)
        for off in range(R.QEPC_IB_BASE(0), R.QEPC_IB_BASE(2), 4):
            self.vm.set_reg(off, 0xdead0000)
            self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_INBOUND)
        self.assertEqual(self.host_read(0x1000), (P.SC, b'\x33' * 4))
        # an entry index past the table is ignored like any unknown register
        self.vm.set_reg(R.QEPC_IB_BASE(40), 1)
        self.assertEqual(self.vm.reg(R.QEPC_IB_BASE(40)), 0)


class BarKindTest(InboundBase):
    epc_props = ',bar0=disabled,bar2=fixed-64K,bar4=64bit'

    def test_kinds_are_reported_and_enforced(self):
        self.assertEqual(self.vm.reg(R.QEPC_BAR_KIND(0)), R.QEPC_BAR_DISABLED)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_KIND(1)), R.QEPC_BAR_PROGRAMMABLE)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_KIND(2)), R.QEPC_BAR_FIXED | 16 << 8)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_KIND(4)), R.QEPC_BAR_KIND_64BIT)
        self.assertFalse(self.vm.set_bar(0, EPF_RAM, 0x1000))
        self.assertIn('disabled on this controller', self.vm.guest_errors())
        self.assertFalse(self.vm.set_bar(2, EPF_RAM, 0x1000))
        self.assertTrue(self.vm.set_bar(2, EPF_RAM, 0x10000))
        self.assertFalse(self.vm.set_bar(4, EPF_RAM, 0x1000))
        self.assertTrue(self.vm.set_bar(4, EPF_RAM, 0x1000, 0x4))


class BadPropertyTest(DeviceTest):
    def test_bad_bar_kind_refused_at_start(self):
        import subprocess
        from qtest import LAUNCH, QEMU
        for props, msg in ((',bar3=fixed-3K', 'bar3=fixed-3K: fixed size must be'),
                           (',bar1=sometimes', 'bar1=sometimes: expected'),
                           (',inbound-windows=65', 'inbound-windows must be at most 64')):
            r = subprocess.run([LAUNCH, QEMU, '-machine', 'q35', '-display', 'none',
                                '-nodefaults', '-device',
                                'qemu-epc,socket=%s%s' % (self.path('s'), props)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(msg, r.stdout)


class DoorbellTest(InboundBase):
    def map_doorbell(self):
        """BAR1 mapped onto the page of the controller's registers, as
        pci-epf-test does with the embedded doorbell."""
        self.link_up(size=0x1000)
        self.assertTrue(self.vm.reg(R.QEPC_CAPS) & R.QEPC_CAPS_DOORBELL)
        self.assertEqual(self.vm.remap_bar(1, addr=EPC_REGS), 0)

    def test_host_write_rings_doorbell_with_msix_vector(self):
        self.vm.enable_msix(EPC_MSIX)
        self.map_doorbell()
        self.vm.memwrite(MSIX_RAM, b'\0' * 0x20)
        self.peer.send(P.mem_write(BAR_HOST + R.QEPC_DOORBELL, struct.pack('<I', 0x5a5a0001)))
        wait_until(lambda: self.vm.memread(MSIX_RAM + 0x10, 4) == struct.pack('<I', 0xd1), 5,
                   'the doorbell vector (MSI-X 1) in guest 1')
        self.assertEqual(self.vm.reg(R.QEPC_DOORBELL_DATA), 0x5a5a0001)
        # not latched as an event, nothing on the event vector
        self.assertFalse(self.vm.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DOORBELL)
        self.assertEqual(self.vm.memread(MSIX_RAM, 4), b'\0' * 4)
        # reads of the doorbell through the BAR return 0
        self.assertEqual(self.host_read(R.QEPC_DOORBELL), (P.SC, b'\0' * 4))

    def test_doorbell_without_msix_is_an_event(self):
        self.map_doorbell()
        self.vm.set_reg(R.QEPC_IRQ_STATUS, R.QEPC_IRQ_ALL)
        self.peer.send(P.mem_write(BAR_HOST + R.QEPC_DOORBELL, struct.pack('<I', 7)))
        wait_until(lambda: self.vm.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_DOORBELL, 5,
                   'IRQ_STATUS.DOORBELL')
        self.assertEqual(self.vm.reg(R.QEPC_DOORBELL_DATA), 7)
        # guest 1 may ring it too
        self.vm.set_reg(R.QEPC_DOORBELL, 9)
        self.assertEqual(self.vm.reg(R.QEPC_DOORBELL_DATA), 9)

    def test_other_registers_unreachable_from_the_host(self):
        self.map_doorbell()
        # a host write to CTRL through the BAR must not stop the function
        self.peer.send(P.mem_write(BAR_HOST + R.QEPC_CTRL, struct.pack('<I', 0)))
        self.assertEqual(self.host_read(R.QEPC_MAGIC)[0], P.CA)
        self.assertEqual(self.host_read(R.QEPC_DOORBELL, 2)[0], P.CA)
        self.assertEqual(self.vm.reg(R.QEPC_CTRL), R.QEPC_CTRL_START)
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_LINK_UP)
        self.assertIn('only the doorbell is reachable', self.vm.guest_errors())


class WiredDoorbellTest(WiredDeviceTest):
    def test_guest2_bar_write_rings_guest1_doorbell(self):
        self.epc.enable_msix(EPC_MSIX)
        self.epc.memwrite(MSIX_RAM, b'\0' * 0x20)
        self.bring_up()
        self.assertEqual(self.epc.remap_bar(1, addr=EPC_REGS & ~0x7f), 0)
        self.br.writel(self.placed[1] + R.QEPC_DOORBELL, 0xfeed)
        wait_until(lambda: self.epc.reg(R.QEPC_DOORBELL_DATA) == 0xfeed, 5,
                   'the doorbell value in guest 1')
        wait_until(lambda: self.epc.memread(MSIX_RAM + 0x10, 4) == struct.pack('<I', 0xd1),
                   5, 'the doorbell vector in guest 1')
