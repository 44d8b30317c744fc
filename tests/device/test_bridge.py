# SPDX-License-Identifier: GPL-2.0-or-later
"""epf-bridge alone, against a test peer that plays the endpoint."""
import struct
import threading
import time

import peer as P
from machines import BridgeVm, HOST_RAM, PCI_COMMAND, MEM, BME
from base import DeviceTest, FIRST_BOUND, LATER_BOUND
from qtest import wait_until

VENDOR = struct.pack('<I', 0xb500104c)


class BridgeBase(DeviceTest):
    """The bridge and a test peer playing the endpoint, handshake done."""
    peer_features = 0

    def setUp(self):
        super().setUp()
        self.sock = self.path('link.sock')
        self.peer = self.track_peer(P.Peer(self.sock, P.ROLE_ENDPOINT, listen=True,
                                           features=self.peer_features))
        self.vm = self.track(BridgeVm(self.sock, self.dir))
        self.peer.connect()
        self.peer.handshake()

    def serve_cfg(self, answer, count=1):
        """Answer `count` config requests in the background."""
        def run():
            for _ in range(count):
                m = self.peer.recv(10, 'a config request')
                if m.type == P.CFG_READ:
                    self.peer.send(P.cpl(m.tag, m.type, P.SC, answer(m)))
                elif m.type == P.CFG_WRITE:
                    self.seen.append((m.m.u.cfg.offset, m.m.u.cfg.data))
                    self.peer.send(P.cpl(m.tag, m.type, P.SC))
        self.seen = []
        t = threading.Thread(target=run)
        t.start()
        return t

    def link_up(self, bars=((0x10000, 0),)):
        self.peer.send(P.link(1, bars))
        time.sleep(0.05)


class BridgeTest(BridgeBase):
    def test_absent_until_link_up(self):
        self.assertEqual(self.vm.cfg(0), 0xffffffff)
        self.assertEqual(self.vm.cfg(0, 2), 0xffff)
        self.link_up()
        t = self.serve_cfg(lambda m: VENDOR[:m.m.u.cfg.len])
        self.assertEqual(self.vm.cfg(0), 0xb500104c)
        t.join(10)
        self.peer.send(P.link(0))
        wait_until(lambda: self.vm.cfg(0, 2) == 0xffff, 5, 'the function to vanish')

    def test_unaligned_config_read_is_split(self):
        self.link_up()
        t = self.serve_cfg(lambda m: bytes([m.m.u.cfg.offset]), count=2)
        self.assertEqual(self.vm.cfg_read(4 << 3, 1, 2), 0x0201)
        t.join(10)

    def test_bar_forwarding_and_local_mapping(self):
        self.link_up()
        t = self.serve_cfg(lambda m: b'\0' * m.m.u.cfg.len, count=2)
        self.vm.set_cfg(0x10, 0xd0000000)
        self.vm.set_cfg(PCI_COMMAND, MEM | BME, 2)
        t.join(10)
        self.assertEqual(self.seen, [(0x10, 0xd0000000), (PCI_COMMAND, MEM | BME)])
        self.vm.writel(0xd0000040, 0x12345678)
        m = self.peer.expect(P.MEM_WRITE, what='the BAR write')
        self.assertEqual((m.m.u.mem.addr, m.data), (0xd0000040, struct.pack('<I', 0x12345678)))
        got = {}
        th = threading.Thread(target=lambda: got.update(v=self.vm.readl(0xd0000044)))
        th.start()
        m = self.peer.expect(P.MEM_READ, what='the BAR read')
        self.assertEqual(m.m.u.mem.addr, 0xd0000044)
        self.peer.send(P.cpl(m.tag, P.MEM_READ, P.SC, struct.pack('<I', 0xabcdef01)))
        th.join(10)
        self.assertEqual(got['v'], 0xabcdef01)
        # completer abort and unsupported request read as all-ones
        th = threading.Thread(target=lambda: got.update(v=self.vm.readl(0xd0000048)))
        th.start()
        m = self.peer.expect(P.MEM_READ)
        self.peer.send(P.cpl(m.tag, P.MEM_READ, P.CA))
        th.join(10)
        self.assertEqual(got['v'], 0xffffffff)

    def test_endpoint_dma_respects_bus_master(self):
        self.link_up()
        self.vm.memwrite(HOST_RAM, b'host memory!')
        tag = self.peer.next_tag()
        c = self.peer.request(P.mem_read(tag, HOST_RAM, 12))
        self.assertEqual(c.m.u.cpl.status, P.UR)           # BME off
        self.peer.send(P.mem_write(HOST_RAM, b'XXXX'))
        t = self.serve_cfg(None, count=1)
        self.vm.set_cfg(PCI_COMMAND, BME, 2)
        t.join(10)
        self.assertEqual(self.vm.memread(HOST_RAM, 12), b'host memory!')
        c = self.peer.request(P.mem_read(self.peer.next_tag(), HOST_RAM, 12))
        self.assertEqual((c.m.u.cpl.status, c.data), (P.SC, b'host memory!'))
        self.peer.send(P.mem_write(HOST_RAM + 4, b'MSI?'))
        c = self.peer.request(P.mem_read(self.peer.next_tag(), HOST_RAM, 12))
        self.assertEqual(c.data, b'hostMSI?ory!')
        # a non-posted write gets a completion
        c = self.peer.request(P.mem_write(HOST_RAM, b'np', tag=self.peer.next_tag()))
        self.assertEqual(c.m.u.cpl.status, P.SC)

    def test_intx(self):
        self.link_up()
        self.vm.intercept_ioapic()
        self.peer.send(P.intx(0, 1))
        ev = wait_until(lambda: self.vm.irq_events(), 5, 'IRQ raise in guest 2')
        self.assertTrue(ev[0].startswith('IRQ raise'), ev)
        self.peer.send(P.intx(0, 0))
        ev = wait_until(lambda: self.vm.irq_events(), 5, 'IRQ lower in guest 2')
        self.assertTrue(ev[0].startswith('IRQ lower'), ev)

    def test_silent_endpoint_bounded(self):
        self.link_up()
        t0 = time.monotonic()
        self.assertEqual(self.vm.cfg(0), 0xffffffff)       # nobody answers
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.29)                # timeout-ms, 300 ms
        self.assertLess(took, FIRST_BOUND)
        self.assertIn('did not complete', self.vm.read_log())
        # later requests fail after a short wait while the endpoint stays silent
        for _ in range(5):
            t0 = time.monotonic()
            self.assertEqual(self.vm.cfg(0), 0xffffffff)
            self.assertLess(time.monotonic() - t0, LATER_BOUND)

    def test_slow_endpoint_gets_every_config_write(self):
        """A config write that timed out, and the ones the host made while
        the link was stalled, still reach an endpoint that was only slow,
        in order; nothing the host wrote is lost."""
        self.link_up()
        t0 = time.monotonic()
        self.vm.set_cfg(0x10, 0xe0000000)                  # nobody answers yet
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        first = self.peer.expect(P.CFG_WRITE)
        t0 = time.monotonic()
        self.vm.set_cfg(0x14, 0xe0100000)
        self.vm.set_cfg(PCI_COMMAND, MEM, 2)
        self.assertLess(time.monotonic() - t0, 2 * LATER_BOUND)
        later = [self.peer.expect(P.CFG_WRITE) for _ in range(2)]
        self.assertEqual([(m.m.u.cfg.offset, m.m.u.cfg.data) for m in [first] + later],
                         [(0x10, 0xe0000000), (0x14, 0xe0100000), (PCI_COMMAND, MEM)])
        for m in [first] + later:
            self.peer.send(P.cpl(m.tag, P.CFG_WRITE, P.SC))
        # a request of the peer's own, answered after those were read
        self.peer.request(P.mem_read(self.peer.next_tag(), HOST_RAM, 4))
        # answered late, dropped quietly; the next request waits again
        t = self.serve_cfg(lambda m: VENDOR[:m.m.u.cfg.len])
        self.assertEqual(self.vm.cfg(0), 0xb500104c)
        t.join(10)
        self.assertNotIn('unknown tag', self.vm.read_log())

    def test_vanished_endpoint_and_reconnect(self):
        self.link_up()
        self.peer.close()
        wait_until(lambda: self.vm.cfg(0, 2) == 0xffff, 5, 'all-ones after the peer vanished')
        self.peer = self.track_peer(P.Peer(self.sock, P.ROLE_ENDPOINT, listen=True))
        self.peer.connect(10)
        self.peer.handshake()
        self.link_up()
        t = self.serve_cfg(lambda m: VENDOR[:m.m.u.cfg.len])
        self.assertEqual(self.vm.cfg(0), 0xb500104c)
        t.join(10)

    def test_protocol_error_from_endpoint(self):
        self.peer.send(P.cfg_read(1, 0, 4))                # endpoints do not send config
        c = self.peer.expect(P.COMPLETION)
        self.assertEqual(c.m.u.cpl.status, P.UR)
        bad = bytearray(P.intx(0, 1))
        bad[8] = 5                                          # size lies
        self.peer.send(bytes(bad) + b'\0')
        self.assertTrue(self.peer.closed())
        self.assertIn('protocol error', self.vm.read_log())


class BridgeResetTest(BridgeBase):
    """A reset of guest 2 reaches the endpoint as RESET, when it takes it."""
    peer_features = P.FEAT_RESET

    def test_reset_sends_reset_before_later_config_requests(self):
        self.link_up()
        self.vm.qmp('system_reset')
        self.peer.expect(P.RESET, what='RESET after the guest-2 reset')
        t = self.serve_cfg(lambda m: VENDOR[:m.m.u.cfg.len])
        self.assertEqual(self.vm.cfg(0), 0xb500104c)
        t.join(10)

    def test_no_reset_while_absent(self):
        self.vm.qmp('system_reset')
        self.link_up()
        t = self.serve_cfg(lambda m: VENDOR[:m.m.u.cfg.len])
        self.assertEqual(self.vm.cfg(0), 0xb500104c)     # the first message: CFG_READ
        t.join(10)


class BridgeOldEndpointTest(BridgeBase):
    """An endpoint without feature RESET gets none; the bridge says so."""

    def test_reset_not_sent_and_logged(self):
        self.link_up()
        self.vm.qmp('system_reset')
        wait_until(lambda: 'does not take RESET' in self.vm.read_log(), 5,
                   'the bridge to log that the endpoint keeps its config state')
        t = self.serve_cfg(lambda m: VENDOR[:m.m.u.cfg.len])
        self.assertEqual(self.vm.cfg(0), 0xb500104c)     # no RESET came first
        t.join(10)
