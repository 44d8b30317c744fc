# SPDX-License-Identifier: GPL-2.0-or-later
"""The link's rules, each against a peer that breaks or strains it: strict
completions, flow-control credit for every posted write (the DMA engine's
too), routes that would loop, requests nested through two links of one
QEMU, and a socket made owner-only without the process umask."""
import os
import re
import struct
import threading
import time

import peer as P
from qtest import wait_until
from machines import (EpcVm, EpcIn, BridgeVm, R, EPF_RAM, EPC_WINDOW, PCI_COMMAND,
                      MEM, BME)
from base import DeviceTest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST_ADDR = 0x7f000000          # where guest 1's window points in the host


class HostPeer(DeviceTest):
    """qemu-epc with a test peer that plays the host, the link up, bus
    mastering and memory decoding on."""
    props = ''

    def setUp(self):
        super().setUp()
        self.sock = self.path('link.sock')
        self.vm = self.track(EpcVm(self.sock, self.dir, props=self.props))
        self.peer = self.track_peer(P.Peer(self.sock, P.ROLE_HOST).connect())
        self.peer.handshake()
        self.vm.wait_status(R.QEPC_STATUS_PEER, 'qemu-epc to see the peer')
        self.vm.standard_function()
        self.vm.start()
        self.peer.expect(P.LINK, what='LINK up')

    def set_cfg(self, off, val, ln=4):
        c = self.peer.request(P.cfg_write(self.peer.next_tag(), off, ln, val))
        self.assertEqual(c.m.u.cpl.status, P.SC)

    def window_read(self, off):
        """Guest 1 reads its window in a thread; returns (thread, result)."""
        got = {}
        t = threading.Thread(target=lambda: got.update(v=self.vm.readl(EPC_WINDOW + off)))
        t.start()
        return t, got


class StrictCompletionTest(HostPeer):
    """A completion must match its request exactly (docs/protocol.md): a
    successful read carries exactly the bytes asked for, a failed one none.
    Anything else ends the connection as a protocol error, and the waiting
    read gets all-ones, never bytes nobody sent."""

    def answer_read_with(self, status, data):
        self.vm.map_window(0, 0, 0x1000, HOST_ADDR)
        t, got = self.window_read(0x10)
        req = self.peer.expect(P.MEM_READ, what='the window read')
        self.assertEqual(req.m.u.mem.len, 4)
        self.peer.send(P.cpl(req.tag, P.MEM_READ, status, data))
        t.join(10)
        self.assertFalse(t.is_alive(), 'the window read never returned')
        self.assertEqual(got['v'], 0xffffffff)
        self.assertTrue(self.peer.closed(), 'qemu-epc kept a peer that broke the protocol')
        wait_until(lambda: 'protocol error' in self.vm.read_log(), 5,
                   'qemu-epc to report the protocol error')

    def test_successful_read_completion_without_data(self):
        self.answer_read_with(P.SC, b'')

    def test_successful_read_completion_short_of_data(self):
        self.answer_read_with(P.SC, b'\x11\x22')

    def test_successful_read_completion_with_extra_data(self):
        self.answer_read_with(P.SC, b'\x11\x22\x33\x44\x55\x66\x77\x88')

    def test_failed_read_completion_with_data(self):
        self.answer_read_with(P.UR, b'\x11\x22\x33\x44')


class CreditTest(HostPeer):
    """Posted writes queue at most the link's credit beyond what the socket
    holds: a DMA transfer pauses until the host reads, a vCPU write waits
    timeout-ms for room and is then dropped (never queued anyway)."""
    props = ',timeout-ms=2000'

    def go_dma_to_host(self, ch, length):
        self.set_cfg(PCI_COMMAND, MEM | BME, 2)
        self.vm.dma_go(ch, EPF_RAM, HOST_ADDR, length, R.QEPC_DMA_DST_HOST)

    def dma_state(self, ch):
        st = self.vm.reg(R.QEPC_DMA_BASE(ch) + R.QEPC_DMA_STATUS)
        return R.QEPC_DMA_STATE(st), R.QEPC_DMA_ERR(st)

    def drain(self, want, timeout=60):
        """Read MEM_WRITEs until `want` bytes arrived, completing the
        non-posted one that ends a transfer; their (addr, len)."""
        got, seen = 0, []
        end = time.monotonic() + timeout
        while got < want:
            m = self.peer.recv(max(0.1, end - time.monotonic()),
                               'the DMA writes (%d of %d bytes so far)' % (got, want))
            if m.type == P.MEM_WRITE:
                seen.append((m.m.u.mem.addr, len(m.data)))
                got += len(m.data)
                if m.tag:
                    self.peer.send(P.cpl(m.tag, P.MEM_WRITE, P.SC, b''))
        return seen

    def test_dma_pauses_while_the_host_does_not_read(self):
        length = 4 << 20
        self.go_dma_to_host(0, length)
        # the host reads nothing for a second: the engine may fill the
        # socket and the credit, not queue the transfer
        time.sleep(1.0)
        self.assertEqual(self.dma_state(0)[0], R.QEPC_DMA_BUSY,
                         'the transfer ended while the host read nothing of it')
        queued = self.vm.reg(R.QEPC_DMA_BASE(0) + R.QEPC_DMA_DONE_BYTES)
        self.assertLess(queued, 1 << 20, 'bytes sent to a host that reads nothing')
        # registers stay served meanwhile
        self.assertEqual(self.vm.reg(R.QEPC_MAGIC), R.QEPC_MAGIC_VALUE)
        seen = self.drain(length)
        self.assertEqual(seen[0][0], HOST_ADDR)
        self.assertEqual(sum(n for _, n in seen), length)
        addr = HOST_ADDR
        for a, n in seen:                        # in order, nothing twice
            self.assertEqual(a, addr)
            addr += n
        wait_until(lambda: self.dma_state(0)[0] != R.QEPC_DMA_BUSY, 30,
                   'the DMA transfer to end once the host reads')
        self.assertEqual(self.dma_state(0), (R.QEPC_DMA_DONE, R.QEPC_DMA_E_NONE))
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_LINK_UP)

    def test_vcpu_write_without_credit_is_dropped(self):
        # a paused transfer fills the socket and the credit
        self.go_dma_to_host(1, 4 << 20)
        time.sleep(0.5)
        self.assertEqual(self.dma_state(1)[0], R.QEPC_DMA_BUSY)
        # the host reads a trickle: the link is alive (the watchdog sees
        # progress), but the queue does not fall to the credit in time
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                self.peer.rx += self.peer.sock.recv(2048)
                time.sleep(0.1)
        t = threading.Thread(target=trickle)
        t.start()
        try:
            self.vm.map_window(0, 0, 0x1000, HOST_ADDR + 0x8000000)
            t0 = time.monotonic()
            self.vm.writel(EPC_WINDOW + 0x40, 0xdeadbeef)       # no room: dropped
            waited = time.monotonic() - t0
        finally:
            stop.set()
            t.join(10)
        self.assertGreaterEqual(waited, 1.9, 'the write did not wait for credit')
        self.assertIn('dropped', self.vm.guest_errors())
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_LINK_UP)
        # once the host reads everything, a write goes through; the dropped
        # one never arrives
        self.drain(4 << 20)
        self.vm.writel(EPC_WINDOW + 0x44, 0x600dcafe)
        while True:
            m = self.peer.recv(10, 'the write after the drain')
            if m.type == P.MEM_WRITE and m.m.u.mem.addr >= HOST_ADDR + 0x8000000:
                break
        self.assertEqual((m.m.u.mem.addr, m.data),
                         (HOST_ADDR + 0x8000044, struct.pack('<I', 0x600dcafe)))


class EpcLoopTest(HostPeer):
    """An inbound mapping onto the function's own outbound window would send
    the host's write straight back to the host: refused, said once per
    access as a guest error, the read completed UR."""

    def test_inbound_onto_own_window_refused(self):
        self.vm.map_window(0, 0x10000, 0x10000, HOST_ADDR)
        self.vm.stop()
        self.peer.expect(P.LINK, what='LINK down')
        self.assertTrue(self.vm.set_bar(0, EPC_WINDOW + 0x10000, 0x10000))
        self.vm.start()
        self.peer.expect(P.LINK, what='LINK up')
        self.set_cfg(0x10, 0xd0000000)
        self.set_cfg(PCI_COMMAND, MEM | BME, 2)
        self.peer.send(P.mem_write(0xd0000020, b'\x01\x02\x03\x04'))
        c = self.peer.request(P.mem_read(self.peer.next_tag(), 0xd0000020, 4))
        self.assertNotEqual(c.m.u.cpl.status, P.SC)
        self.assertEqual(c.data, b'')
        self.assertIn('a loop', self.vm.guest_errors())
        # nothing came back out of the window (the completion above was
        # the next message after the write)
        self.assertEqual(self.vm.status() & R.QEPC_STATUS_LINK_UP, R.QEPC_STATUS_LINK_UP)
        # the same BAR onto RAM works
        self.assertEqual(self.vm.remap_bar(0, EPF_RAM), 0)
        self.peer.send(P.mem_write(0xd0000020, b'\x01\x02\x03\x04'))
        c = self.peer.request(P.mem_read(self.peer.next_tag(), 0xd0000020, 4))
        self.assertEqual((c.m.u.cpl.status, c.data), (P.SC, b'\x01\x02\x03\x04'))


class BridgeLoopTest(DeviceTest):
    """The endpoint's DMA at the function's own BAR in the host would go
    back to the endpoint: refused, with a guest error and UR."""

    def test_endpoint_access_to_own_bar_refused(self):
        sock = self.path('link.sock')
        peer = self.track_peer(P.Peer(sock, P.ROLE_ENDPOINT, listen=True))
        vm = self.track(BridgeVm(sock, self.dir))
        peer.connect()
        peer.handshake()
        peer.send(P.link(1, ((0x10000, 0),)))

        def serve(count):
            for _ in range(count):
                m = peer.recv(10, 'a config request')
                if m.type == P.CFG_READ:
                    peer.send(P.cpl(m.tag, m.type, P.SC, b'\0' * m.m.u.cfg.len))
                else:
                    peer.send(P.cpl(m.tag, m.type, P.SC))
        t = threading.Thread(target=serve, args=(2,))
        t.start()
        vm.set_cfg(0x10, 0xd0000000)
        vm.set_cfg(PCI_COMMAND, MEM | BME, 2)
        t.join(10)
        peer.send(P.mem_write(0xd0000010, b'\xaa\xbb\xcc\xdd'))
        c = peer.request(P.mem_read(peer.next_tag(), 0xd0000010, 4))
        self.assertEqual((c.m.u.cpl.status, c.data), (P.UR, b''))
        self.assertIn('would loop back', vm.guest_errors())
        # host RAM stays reachable
        peer.send(P.mem_write(0x2000000, b'\xaa\xbb\xcc\xdd'))
        c = peer.request(P.mem_read(peer.next_tag(), 0x2000000, 4))
        self.assertEqual((c.m.u.cpl.status, c.data), (P.SC, b'\xaa\xbb\xcc\xdd'))


class NestedTest(DeviceTest):
    """Two qemu-epc in one QEMU, each function's BAR0 backed by the other
    controller's outbound window: a host read of BAR0 needs a read from the
    other host while it is served.  Both hosts read at once, many times;
    every read completes with the other host's data, none waits for a
    timeout."""

    def test_two_links_read_through_each_other(self):
        socks = [self.path('a.sock'), self.path('b.sock')]
        vm = self.track(EpcVm(socks[0], self.dir, props=',timeout-ms=5000',
                              more=[(socks[1], 5)]))
        devs = [vm, EpcIn(vm, 5, 0xe1000000, 0xf0000000)]
        peers = []
        for s, d in zip(socks, devs):
            p = self.track_peer(P.Peer(s, P.ROLE_HOST).connect())
            p.handshake()
            d.wait_status(R.QEPC_STATUS_PEER, 'qemu-epc to see the peer')
            peers.append(p)
        for i, d in enumerate(devs):
            other = devs[1 - i]
            # this function's BAR0 is the other controller's window 0,
            # which leads to the other host's 0x7f000000
            other.map_window(0, 0, 0x10000, HOST_ADDR)
            d.write_header()
            self.assertTrue(d.set_bar(0, other.window, 0x10000))
            d.start()
            peers[i].expect(P.LINK, what='LINK up')
            for off, v, ln in ((0x10, 0xd0000000, 4), (PCI_COMMAND, MEM | BME, 2)):
                c = peers[i].request(P.cfg_write(peers[i].next_tag(), off, ln, v))
                self.assertEqual(c.m.u.cpl.status, P.SC)
        rounds = 50
        errors = []
        took = [0.0, 0.0]

        finished = [threading.Event(), threading.Event()]

        def host(i):
            """Read this host's BAR0 `rounds` times, one read at a time,
            and serve the other host's reads until both are done."""
            p = peers[i]
            n, tag, t0 = 0, None, 0.0
            try:
                while not all(e.is_set() for e in finished):
                    if tag is None and n < rounds:
                        tag = p.next_tag()
                        t0 = time.monotonic()
                        p.send(P.mem_read(tag, 0xd0000000 + 4 * n, 4))
                    try:
                        m = p.recv(0.2, 'host %d: a message' % i)
                    except TimeoutError:
                        if tag is not None and time.monotonic() - t0 > 10:
                            raise
                        continue
                    if m.type == P.MEM_READ:
                        # the other host's read, served by this one
                        a = m.m.u.mem.addr - HOST_ADDR
                        p.send(P.cpl(m.tag, P.MEM_READ, P.SC,
                                     struct.pack('<I', 0x10000000 * (i + 1) + a)))
                    elif m.type == P.COMPLETION and m.tag == tag:
                        took[i] = max(took[i], time.monotonic() - t0)
                        want = 0x10000000 * (2 - i) + 4 * n
                        if m.m.u.cpl.status != P.SC or m.data != struct.pack('<I', want):
                            errors.append('host %d read %d: status %d data %r, want %#x'
                                          % (i, n, m.m.u.cpl.status, m.data, want))
                        tag = None
                        n += 1
                        if n == rounds:
                            finished[i].set()
            except Exception as e:                       # noqa: BLE001
                errors.append('host %d: %s' % (i, e))
                finished[i].set()
        threads = [threading.Thread(target=host, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), 'a host never finished')
        self.assertEqual(errors, [])
        self.assertNotIn('did not complete', vm.read_log())
        # far below timeout-ms: nothing waited for a timeout
        self.assertLess(max(took), 4.0, 'slowest nested read %.2f s' % max(took))


class ChardevTest(DeviceTest):
    """chardev=: the link on a -chardev socket the command line set up.
    Peers come and go, the next often connecting before the last one's end
    was taken apart; whichever of the chardev and the link sees a peer
    leave first, QEMU stays responsive and takes the next peer."""

    def test_peers_come_and_go_on_a_chardev(self):
        sock = self.path('link.sock')
        vm = self.track(EpcVm(sock, self.dir, chardev=True))
        vm.standard_function()
        vm.start()
        for n in range(60):
            peer = P.Peer(sock, P.ROLE_HOST).connect()
            try:
                peer.handshake()
                peer.expect(P.LINK, what='LINK up (peer %d)' % n)
                c = peer.request(P.cfg_read(peer.next_tag(), 0, 4))
                self.assertEqual((c.m.u.cpl.status, c.data), (P.SC, b'\x4c\x10\x00\xb5'))
                if n % 3 == 0:
                    vm.wait_status(R.QEPC_STATUS_LINK_UP, 'link up with peer %d' % n)
            finally:
                peer.close()
            if n % 3 == 0:
                vm.wait_status(R.QEPC_STATUS_PEER, 'qemu-epc to see peer %d leave' % n,
                               on=False)
                self.assertEqual(vm.reg(R.QEPC_MAGIC), R.QEPC_MAGIC_VALUE)
            # else the next peer connects while this one's end is still
            # being taken apart: its socket may get the number just freed
        log = vm.read_log()
        self.assertIn('chardev', log)
        self.assertNotIn('no HELLO', log)

    def test_bad_chardev_refused(self):
        sock = self.path('x.sock')
        for args, want in (
                (['-chardev', 'null,id=n', '-device', 'qemu-epc,chardev=n'],
                 'not a Unix socket chardev'),
                (['-device', 'qemu-epc,chardev=nothing'], 'nothing'),
                (['-chardev', 'socket,id=l,path=%s,server=on,wait=off' % sock,
                  '-device', 'qemu-epc,chardev=l,socket=%s' % sock], 'exclude each other'),
                (['-device', 'epf-bridge'], "'socket' or 'chardev' is required")):
            rc, out = self.run_plain(args)
            self.assertNotEqual(rc, 0, args)
            self.assertIn(want, out, args)


class SourceTest(DeviceTest):
    """The socket is made owner-only with fchmod() before bind(), not by
    changing the process-wide umask that other threads create files under."""

    def test_no_umask_in_the_modules(self):
        srcs = [f for f in os.listdir(os.path.join(TOP, 'qemu-modules')) if f.endswith('.c')]
        self.assertGreaterEqual(len(srcs), 8)
        for f in srcs:
            with open(os.path.join(TOP, 'qemu-modules', f)) as fh:
                text = fh.read()
            self.assertIsNone(re.search(r'\bumask\s*\(', text), f)
