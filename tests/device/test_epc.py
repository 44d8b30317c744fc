# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc alone, against a test peer that plays the host."""
import struct
import threading
import time

import peer as P
from machines import EpcVm, R, EPF_RAM, EPC_WINDOW
from base import DeviceTest, FIRST_BOUND, LATER_BOUND


class EpcTest(DeviceTest):
    def setUp(self):
        super().setUp()
        self.sock = self.path('link.sock')
        self.vm = self.track(EpcVm(self.sock, self.dir))
        self.peer = self.track_peer(P.Peer(self.sock, P.ROLE_HOST).connect())
        self.peer.handshake()
        self.vm.wait_status(R.QEPC_STATUS_PEER, 'qemu-epc to see the peer')

    def start_link(self):
        self.vm.standard_function()
        self.vm.start()
        m = self.peer.expect(P.LINK, what='LINK up')
        self.assertEqual(m.m.u.link.up, 1)
        return m.m.u.link

    def cfg(self, off, ln=4):
        c = self.peer.request(P.cfg_read(self.peer.next_tag(), off, ln))
        self.assertEqual(c.m.u.cpl.status, P.SC)
        return int.from_bytes(c.data, 'little')

    def set_cfg(self, off, val, ln=4):
        c = self.peer.request(P.cfg_write(self.peer.next_tag(), off, ln, val))
        self.assertEqual(c.m.u.cpl.status, P.SC)

    def test_registers_identify(self):
        self.assertEqual(self.vm.reg(R.QEPC_MAGIC), R.QEPC_MAGIC_VALUE)
        self.assertEqual(self.vm.reg(R.QEPC_VERSION), R.QEPC_REGS_VERSION)
        caps = self.vm.reg(R.QEPC_CAPS)
        self.assertEqual(caps & 0xff, R.QEPC_NUM_WINDOWS)
        self.assertEqual(caps >> 8 & 0xff, 6)

    def test_config_before_start_is_unsupported(self):
        c = self.peer.request(P.cfg_read(1, 0, 4))
        self.assertEqual(c.m.u.cpl.status, P.UR)

    def test_link_up_carries_bar_layout(self):
        link = self.start_link()
        self.assertEqual([link.bar[i].size for i in range(6)],
                         [0x10000, 0x80, 0x100000, 0x200000, 0x400, 0x100])
        self.assertEqual(link.intx_pin, 1)
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_LINK_UP)
        self.assertEqual(self.cfg(0), 0xb500104c)
        self.vm.stop()
        m = self.peer.expect(P.LINK, what='LINK down')
        self.assertEqual(m.m.u.link.up, 0)

    def test_bar_sizing_and_inbound(self):
        self.start_link()
        self.set_cfg(0x10, 0xffffffff)
        self.assertEqual(self.cfg(0x10), 0xffff0000)
        self.set_cfg(0x10, 0xd0000000)
        # decoding is off until the host sets Memory Space Enable
        c = self.peer.request(P.mem_read(self.peer.next_tag(), 0xd0000000, 4))
        self.assertEqual(c.m.u.cpl.status, P.UR)
        self.set_cfg(0x04, 0x6, 2)
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_MEM_EN)
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_BME)
        self.peer.send(P.mem_write(0xd0000100, b'hello, endpoint!'))
        c = self.peer.request(P.mem_read(self.peer.next_tag(), 0xd0000100, 16))
        self.assertEqual(c.data, b'hello, endpoint!')
        self.assertEqual(self.vm.memread(EPF_RAM + 0x100, 16), b'hello, endpoint!')
        # outside the BAR: unsupported request
        c = self.peer.request(P.mem_read(self.peer.next_tag(), 0xd0010000, 4))
        self.assertEqual(c.m.u.cpl.status, P.UR)
        # a read crossing the BAR end is not decoded either
        c = self.peer.request(P.mem_read(self.peer.next_tag(), 0xd000fffe, 4))
        self.assertEqual(c.m.u.cpl.status, P.UR)

    def test_host_config_change_interrupts_guest1(self):
        self.start_link()
        self.vm.set_reg(R.QEPC_IRQ_STATUS, R.QEPC_IRQ_ALL)
        self.set_cfg(0x04, 0x4, 2)
        self.assertTrue(self.vm.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_HOST_CFG)

    def test_reset_returns_host_state_to_reset_values(self):
        self.peer.send(P.reset())                    # link down: ignored
        link = self.start_link()
        self.set_cfg(0x10, 0xe0000000)
        self.set_cfg(0x04, 0x6, 2)
        self.set_cfg(0x80 + 2, 1, 2)                 # MSI on (capability at 0x80)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_BASE(0) + R.QEPC_BAR_HOST_LO), 0xe0000000)
        self.vm.set_reg(R.QEPC_IRQ_STATUS, R.QEPC_IRQ_ALL)
        self.peer.send(P.reset())
        self.assertEqual(self.cfg(0x04, 2), 0)      # ordered after RESET
        self.assertEqual(self.cfg(0x10), 0)
        self.assertEqual(self.cfg(0x80 + 2, 2) & 1, 0)
        self.assertEqual(self.cfg(0), 0xb500104c)   # guest 1's header stays
        self.assertEqual(self.vm.reg(R.QEPC_BAR_BASE(0) + R.QEPC_BAR_HOST_LO), 0)
        self.assertTrue(self.vm.reg(R.QEPC_IRQ_STATUS) & R.QEPC_IRQ_HOST_CFG)
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_LINK_UP)
        self.assertEqual(link.bar[0].size, 0x10000)

    def test_msi(self):
        self.start_link()
        msi = 0x80
        self.assertEqual(self.cfg(msi, 1), 0x05)
        self.set_cfg(msi + 4, 0xfee01000)
        self.set_cfg(msi + 8, 0)
        self.set_cfg(msi + 12, 0x4040, 2)
        self.set_cfg(msi + 2, 1 | 5 << 4, 2)
        self.assertEqual(self.vm.reg(R.QEPC_MSI_ADDR_LO), 0xfee01000)
        self.assertEqual(self.vm.reg(R.QEPC_MSI_DATA), 0x4040)
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_MSI_EN)
        self.vm.raise_irq(R.QEPC_RAISE_MSI, 7)
        m = self.peer.expect(P.MEM_WRITE, what='the MSI write')
        self.assertEqual(m.m.u.mem.addr, 0xfee01000)
        self.assertEqual(struct.unpack('<I', m.data)[0], 0x4047)
        # vector over what the host enabled: error, nothing sent
        self.vm.raise_irq(R.QEPC_RAISE_MSI, 32)
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_IRQ)
        self.vm.raise_irq(R.QEPC_RAISE_INTX_ASSERT)
        self.assertEqual(self.peer.expect(P.INTX).m.u.intx.assert_, 1)

    def test_msix_reads_table_from_bar_memory(self):
        self.start_link()
        self.set_cfg(0x90 + 2, 0x8000, 2)
        entry = struct.pack('<QII', 0xfee02000, 0x55, 0)
        self.vm.memwrite(EPF_RAM + 0x8000 + 16 * 2047, entry)
        self.vm.raise_irq(R.QEPC_RAISE_MSIX, 2047)
        m = self.peer.expect(P.MEM_WRITE, what='the MSI-X write')
        self.assertEqual((m.m.u.mem.addr, m.data), (0xfee02000, struct.pack('<I', 0x55)))
        # masked vector: nothing sent, error recorded
        self.vm.memwrite(EPF_RAM + 0x8000 + 16, struct.pack('<QII', 0xfee02000, 1, 1))
        self.vm.set_reg(R.QEPC_ERROR, 0)
        self.vm.raise_irq(R.QEPC_RAISE_MSIX, 1)
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_IRQ)

    def test_outbound_window(self):
        self.start_link()
        self.assertEqual(self.vm.map_window(0, 0x10000, 0x10000, 0x7f000000),
                         R.QEPC_WIN_ENABLE)
        self.vm.writel(EPC_WINDOW + 0x10010, 0xcafef00d)
        m = self.peer.expect(P.MEM_WRITE, what='the window write')
        self.assertEqual(m.m.u.mem.addr, 0x7f000010)
        self.assertEqual(m.data, struct.pack('<I', 0xcafef00d))
        # a window read waits for the host's completion
        self.peer.sock.settimeout(5)
        import threading
        got = {}
        t = threading.Thread(target=lambda: got.update(v=self.vm.readq(EPC_WINDOW + 0x10020)))
        t.start()
        req = self.peer.expect(P.MEM_READ, what='the window read')
        self.assertEqual((req.m.u.mem.addr, req.m.u.mem.len), (0x7f000020, 8))
        self.peer.send(P.cpl(req.tag, P.MEM_READ, P.SC, struct.pack('<Q', 0x1122334455667788)))
        t.join(10)
        self.assertEqual(got['v'], 0x1122334455667788)
        # outside any window: all-ones, logged
        self.assertEqual(self.vm.readl(EPC_WINDOW + 0x30000), 0xffffffff)
        self.assertIn('outside any window', self.vm.guest_errors())

    def test_silent_host_gives_all_ones_in_bounded_time(self):
        self.start_link()
        self.vm.map_window(0, 0, 0x1000, 0x1000)
        t0 = time.monotonic()
        self.assertEqual(self.vm.readl(EPC_WINDOW), 0xffffffff)
        took = time.monotonic() - t0
        # it waited timeout-ms (300 ms), and not much more
        self.assertGreaterEqual(took, 0.29)
        self.assertLess(took, FIRST_BOUND)
        late = self.peer.expect(P.MEM_READ)
        self.assertIn('did not complete', self.vm.read_log())
        # while the peer stays silent, later reads fail after a short wait; they still
        # go, in order, as they would on a real link
        for i in range(5):
            t0 = time.monotonic()
            self.assertEqual(self.vm.readl(EPC_WINDOW + 4 * (i + 1)), 0xffffffff)
            self.assertLess(time.monotonic() - t0, LATER_BOUND)
        later = [self.peer.expect(P.MEM_READ) for _ in range(5)]
        self.assertEqual([r.m.u.mem.addr for r in later],
                         [0x1000 + 4 * (i + 1) for i in range(5)])
        # any message from the peer ends that (here the late answers, which
        # nobody takes any more: dropped quietly, tags known)
        for r in [late] + later:
            self.peer.send(P.cpl(r.tag, P.MEM_READ, P.SC, bytes(4)))
        # a request of the peer's own, answered after those were read
        self.peer.request(P.mem_read(self.peer.next_tag(), 0, 4))
        got = {}
        t = threading.Thread(target=lambda: got.update(v=self.vm.readl(EPC_WINDOW + 8)))
        t0 = time.monotonic()
        t.start()
        req = self.peer.expect(P.MEM_READ)
        self.peer.send(P.cpl(req.tag, P.MEM_READ, P.SC, struct.pack('<I', 0x5eed)))
        t.join(10)
        self.assertEqual(got.get('v'), 0x5eed)       # the next read waits again
        self.assertNotIn('unknown tag', self.vm.read_log())
        # a silent peer does not use up the slots: each read still fails
        # soon, and the ones the 64 slots cannot hold are not sent
        self.assertEqual(self.vm.readl(EPC_WINDOW), 0xffffffff)
        for i in range(70):
            t0 = time.monotonic()
            self.assertEqual(self.vm.readl(EPC_WINDOW), 0xffffffff)
            self.assertLess(time.monotonic() - t0, LATER_BOUND)

    def test_bad_descriptors_rejected(self):
        self.assertFalse(self.vm.set_bar(0, EPF_RAM, 0x3000))       # not power of 2
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_BAR)
        self.assertFalse(self.vm.set_bar(5, EPF_RAM, 0x1000, 0x4))  # 64-bit in BAR5
        self.assertTrue(self.vm.set_bar(0, EPF_RAM, 0x1000, 0x4))
        self.assertFalse(self.vm.set_bar(1, EPF_RAM, 0x1000))       # upper half of BAR0
        self.assertFalse(self.vm.map_window(0, 0x800, 0x1000, 0))   # unaligned
        self.assertFalse(self.vm.map_window(1, 0, 128 << 20, 0))    # beyond window BAR
        self.vm.set_msix(2048, 1, 0, 0)                             # BAR1 not a BAR
        self.vm.start()
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_CONFIG)
        self.assertFalse(self.vm.status() & R.QEPC_STATUS_LINK_UP)
        self.assertIn('START refused', self.vm.guest_errors())

    def test_garbage_from_peer_disconnects_and_link_recovers(self):
        self.peer.send(b'\x00' * 16)
        self.assertTrue(self.peer.closed(), 'qemu-epc kept a peer sending garbage')
        self.assertIn('bad magic', self.vm.read_log())
        self.peer = self.track_peer(P.Peer(self.sock, P.ROLE_HOST).connect())
        self.peer.handshake()
        self.start_link()

    def test_wrong_version_and_role_refused(self):
        self.peer.close()
        self.vm.wait_status(R.QEPC_STATUS_PEER, 'qemu-epc to see the peer go', on=False)
        bad = self.track_peer(P.Peer(self.sock, P.ROLE_HOST, send_hello=False).connect())
        bad.handshake()
        h = bytearray(P.hello(P.ROLE_HOST))
        h[16] = 9                                      # major 9
        bad.send(bytes(h))
        self.assertTrue(bad.closed())
        self.assertIn('major versions differ', self.vm.read_log())
        bad = self.track_peer(P.Peer(self.sock, P.ROLE_ENDPOINT).connect())
        bad.handshake()
        self.assertTrue(bad.closed())
        self.assertIn('expected host', self.vm.read_log())

    def test_second_client_refused(self):
        # no HELLO: the device may close before it could be sent
        other = self.track_peer(P.Peer(self.sock, P.ROLE_HOST, send_hello=False).connect())
        self.assertTrue(other.closed())
        self.assertIn('refusing a second peer', self.vm.read_log())
        self.start_link()


class EpcSocketTest(DeviceTest):
    """The listening socket: owner-only, refuses to replace other files."""

    def test_socket_mode_0600_and_stricter_umask_respected(self):
        import os
        import stat
        for mask, want in ((0o022, 0o600), (0o000, 0o600), (0o277, 0o400)):
            sock = self.path('mode-%o.sock' % mask)
            old = os.umask(mask)
            try:
                vm = self.track(EpcVm(sock, self.dir, name='mode%o' % mask))
            finally:
                os.umask(old)
            mode = stat.S_IMODE(os.stat(sock).st_mode)
            self.assertEqual(mode, want, 'umask %o: socket mode %o' % (mask, mode))
            vm.quit()
            self.assertFalse(os.path.exists(sock), 'socket left behind at exit')

    def start_plain(self, sock):
        """qemu-epc in a QEMU that is not driven, which must refuse to
        start: (rc, output); a QEMU still running after 30 s (a ThreadSanitizer
        build on a busy machine starts slowly) fails the test."""
        r = self.run_plain(['-device', 'qemu-epc,socket=' + sock], timeout=30)
        self.assertIsNotNone(r, 'QEMU did not refuse the socket within 30 s')
        return r

    def test_refuses_to_replace_a_file_or_a_live_socket(self):
        import socket
        path = self.path('not-a-socket')
        with open(path, 'w') as f:
            f.write('keep me')
        rc, out = self.start_plain(path)
        self.assertNotEqual(rc, 0)
        self.assertIn('refusing to replace', out)
        with open(path) as f:
            self.assertEqual(f.read(), 'keep me')
        live = self.path('live.sock')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(live)
        s.listen(1)
        try:
            rc, out = self.start_plain(live)
            self.assertNotEqual(rc, 0)
            self.assertIn('in use by another process', out)
        finally:
            s.close()
        # now stale (nobody listens): replaced
        vm = self.track(EpcVm(live, self.dir, name='stale'))
        self.assertEqual(vm.reg(R.QEPC_MAGIC), R.QEPC_MAGIC_VALUE)
