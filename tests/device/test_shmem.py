# SPDX-License-Identifier: GPL-2.0-or-later
"""The shared-memory data path: both guests' RAM is a shared memfd, the
devices offer it to each other (FDS), and outbound windows, BARs and the
DMA engine reach the other guest's RAM directly.  A direct access needs no
message, so it works while the other QEMU is stopped (SIGSTOP): that is how
these tests tell the direct path from the message path."""
import mmap
import os
import random
import signal
import socket
import struct
import threading
import time

import peer as P
from machines import (EpcVm, R, EPF_RAM, EPC_WINDOW, HOST_RAM, PCI_COMMAND, MEM, BME)
from base import DeviceTest, WiredDeviceTest
from qtest import wait_until

PAGE = 4096


class Stopped:
    """A QEMU stopped with SIGSTOP for the length of a with-block.  kill()
    returns before every thread has stopped (a thread of QEMU 7.2 was seen
    to answer one more request), so wait until all of them are."""

    def __init__(self, vm):
        self.vm = vm

    def thread_states(self):
        states = []
        task = '/proc/%d/task' % self.vm.proc.pid
        for tid in os.listdir(task):
            try:
                with open(os.path.join(task, tid, 'stat')) as f:
                    states.append(f.read().rsplit(')', 1)[1].split()[0])
            except OSError:
                pass   # a thread that ended
        return states

    def __enter__(self):
        self.vm.proc.send_signal(signal.SIGSTOP)
        wait_until(lambda: all(s in 'Tt' for s in self.thread_states()), 5,
                   'every thread of %s to stop after SIGSTOP' % self.vm.name)
        return self

    def __exit__(self, *exc):
        self.vm.proc.send_signal(signal.SIGCONT)


class ShmemWiredTest(WiredDeviceTest):
    shared_ram = True

    def window(self):
        """Window 0: 64 KiB of guest-2 RAM at HOST_RAM, once the bridge's
        RAM has reached qemu-epc (the host enabled bus mastering)."""
        self.bring_up()
        self.assertEqual(self.epc.map_window(0, 0x100000, 0x10000, HOST_RAM), 1)

    def test_window_reaches_host_ram_without_messages(self):
        self.window()
        self.br.memwrite(HOST_RAM + 0x100, b'in guest 2 RAM')
        with Stopped(self.br):
            wait_until(lambda: self.epc.memread(EPC_WINDOW + 0x100100, 14) ==
                       b'in guest 2 RAM', 10, 'a direct window read with guest 2 stopped')
            data = random.Random(1).randbytes(0x10000)
            self.epc.memwrite(EPC_WINDOW + 0x100000, data)
        # written while guest 2 was stopped, there at once
        self.assertEqual(self.br.memread(HOST_RAM, 0x10000), data)

    def test_bar_reaches_endpoint_ram_without_messages(self):
        self.bring_up()
        big = 2                                   # 1 MiB: whole pages
        data = random.Random(2).randbytes(0x8000)
        self.epc.memwrite(EPF_RAM + big * 0x200000, data)
        with Stopped(self.epc):
            wait_until(lambda: self.br.memread(self.placed[big], 0x8000) == data, 10,
                       'a direct BAR read with guest 1 stopped')
            self.br.memwrite(self.placed[big] + 0x9000, b'host wrote this')
        self.assertEqual(self.epc.memread(EPF_RAM + big * 0x200000 + 0x9000, 15),
                         b'host wrote this')
        # a BAR smaller than a page keeps using messages, byte-exact (a
        # posted write: guest 1 sees it once its QEMU has taken the message,
        # which may be after guest 2's writel has returned)
        self.br.writel(self.placed[1] + 8, 0x5eed)
        wait_until(lambda: self.epc.memread(EPF_RAM + 0x200000 + 8, 4) ==
                   struct.pack('<I', 0x5eed), 5, 'the posted BAR write through messages')

    def test_remap_under_direct_traffic(self):
        """Guest 2 reads a directly mapped BAR while guest 1 moves the BAR
        between two memories 100 times: every read is the old memory's or
        the new one's, never a mix, never all-ones."""
        self.bring_up()
        big, old, new = 2, EPF_RAM + 0x400000, EPF_RAM + 0x600000
        self.epc.memwrite(old, b'\x11' * 0x2000)
        self.epc.memwrite(new, b'\x22' * 0x2000)
        self.assertEqual(self.epc.remap_bar(big, addr=old), 0)
        stop, bad, seen = threading.Event(), [], [0]

        def reader():
            while not stop.is_set():
                v = self.br.readq(self.placed[big] + 0x1000)
                if v not in (0x1111111111111111, 0x2222222222222222):
                    bad.append(hex(v))
                seen[0] += 1

        t = threading.Thread(target=reader)
        t.start()
        try:
            for i in range(100):
                self.assertEqual(self.epc.remap_bar(big, addr=new if i % 2 == 0 else old), 0)
        finally:
            stop.set()
            t.join(20)
        self.assertEqual(bad, [])
        self.assertGreater(seen[0], 20)

    def test_link_down_takes_the_mapping_away(self):
        self.bring_up()
        self.epc.memwrite(EPF_RAM + 2 * 0x200000, b'\x33' * 8)
        wait_until(lambda: self.br.readq(self.placed[2]) == 0x3333333333333333, 5,
                   'the BAR through its direct mapping')
        self.epc.stop()
        wait_until(lambda: self.br.cfg(0) == 0xffffffff, 5, 'the function to vanish')
        self.assertEqual(self.br.readq(self.placed[2]), 0xffffffffffffffff)

    def test_kill9_endpoint_while_mapped(self):
        self.bring_up()
        self.epc.memwrite(EPF_RAM + 2 * 0x200000, b'\x44' * 8)
        wait_until(lambda: self.br.readq(self.placed[2]) == 0x4444444444444444, 5,
                   'the BAR through its direct mapping')
        self.epc.kill()
        # the bridge notices, drops the mapping: all-ones, no crash
        wait_until(lambda: self.br.readq(self.placed[2]) == 0xffffffffffffffff, 5,
                   'all-ones from the BAR of a dead endpoint')
        self.assertTrue(self.br.alive())
        self.assertIn('peer closed the connection', self.br.read_log())

    def test_kill9_host_while_mapped(self):
        self.window()
        self.br.memwrite(HOST_RAM, b'\x55' * 8)
        wait_until(lambda: self.epc.readq(EPC_WINDOW + 0x100000) == 0x5555555555555555, 5,
                   'the window through its direct mapping')
        self.br.kill()
        wait_until(lambda: self.epc.readq(EPC_WINDOW + 0x100000) == 0xffffffffffffffff, 5,
                   'all-ones from the window of a dead host')
        self.assertTrue(self.epc.alive())
        self.assertFalse(self.epc.status() & R.QEPC_STATUS_LINK_UP)

    def test_bus_master_off_ends_direct_window(self):
        self.window()
        self.br.memwrite(HOST_RAM, b'\x66' * 8)
        wait_until(lambda: self.epc.readq(EPC_WINDOW + 0x100000) == 0x6666666666666666, 5,
                   'the window through its direct mapping')
        self.br.set_cfg(PCI_COMMAND, MEM, 2)
        # the host refuses a function that may not master: all-ones, once
        # guest 1's QEMU has the host's config write (it reaches it over
        # the link after the bridge's write returned)
        wait_until(lambda: self.epc.readq(EPC_WINDOW + 0x100000) == 0xffffffffffffffff, 5,
                   'all-ones from the window once the host cleared bus mastering')

    def test_dma_copies_directly(self):
        self.window()
        data = random.Random(3).randbytes(0x30000)
        self.epc.memwrite(EPF_RAM, data)
        b = R.QEPC_DMA_BASE(0)
        with Stopped(self.br):
            time.sleep(0.1)
            self.epc.dma_go(0, EPF_RAM, HOST_RAM + 0x1000, len(data), R.QEPC_DMA_DST_HOST)
            # done with guest 2 stopped: no request went to it
            wait_until(lambda: R.QEPC_DMA_STATE(self.epc.reg(b + R.QEPC_DMA_STATUS)) ==
                       R.QEPC_DMA_DONE, 10, 'the direct DMA transfer to end')
        self.assertEqual(self.br.memread(HOST_RAM + 0x1000, len(data)), data)


class IommuTest(DeviceTest):
    """Guest 2 turns on DMA translation of an intel-iommu: its bus
    addresses are no longer guest-physical, the bridge withdraws its RAM
    (RAM_GONE) and the window falls back to messages, which the IOMMU then
    refuses (no mapping): all-ones, not guest 2's RAM."""

    VTD = 0xfed90000

    def test_translation_on_withdraws_host_ram(self):
        from machines import BridgeVm
        sock = self.path('link.sock')
        epc = self.track(EpcVm(sock, self.dir, shared_ram=True))
        br = self.track(BridgeVm(sock, self.dir, shared_ram=True, iommu=True))
        epc.wait_status(R.QEPC_STATUS_PEER, 'the bridge to connect')
        epc.standard_function()
        epc.start()
        br.wait_present()
        br.assign_bars(br.size_bars())
        epc.map_window(0, 0x100000, 0x10000, HOST_RAM)
        br.memwrite(HOST_RAM, b'\x88' * 8)
        with Stopped(br):
            wait_until(lambda: epc.readq(EPC_WINDOW + 0x100000) == 0x8888888888888888, 10,
                       'the direct window with guest 2 stopped')
        # root table (empty) at 0x3000000, then translation on
        br.memwrite(0x3000000, bytes(4096))
        br.writeq(self.VTD + 0x20, 0x3000000)
        br.writel(self.VTD + 0x18, 1 << 30)
        wait_until(lambda: br.readl(self.VTD + 0x1c) & (1 << 30), 5, 'root table set')
        br.writel(self.VTD + 0x18, 1 << 31)
        wait_until(lambda: br.readl(self.VTD + 0x1c) & (1 << 31), 5, 'translation on')
        wait_until(lambda: epc.readq(EPC_WINDOW + 0x100000) == 0xffffffffffffffff, 10,
                   'the window to stop reaching guest 2 RAM')
        # the refusal is the IOMMU's, answered over a link that is up: not
        # all-ones from a link that went down
        self.assertEqual(epc.status() & (R.QEPC_STATUS_PEER | R.QEPC_STATUS_LINK_UP | R.QEPC_STATUS_BME),
                         R.QEPC_STATUS_PEER | R.QEPC_STATUS_LINK_UP | R.QEPC_STATUS_BME)
        self.assertEqual(br.cfg(0), 0xb500104c)
        self.assertIn('shared memory on', br.read_log())
        self.assertNotIn('disconnecting', br.read_log() + epc.read_log())


class NoShmemTest(WiredDeviceTest):
    """shmem=off on one side: the link uses messages for everything."""
    shared_ram = True
    epc_props = ',shmem=off'

    def test_shmem_off_keeps_messages(self):
        self.bring_up()
        self.epc.map_window(0, 0x100000, 0x10000, HOST_RAM)
        self.br.memwrite(HOST_RAM, b'\x77' * 8)
        self.assertEqual(self.epc.readq(EPC_WINDOW + 0x100000), 0x7777777777777777)
        # the bridge offered SHMEM, RESET, CFG_STATE and POISON; SHMEM is not in use
        self.assertIn('features 0x%x' % (P.FEAT_SHMEM | P.FEAT_RESET | P.FEAT_CFG_STATE |
                                         P.W.QEP_FEAT_POISON),
                      self.epc.read_log())
        self.assertNotIn('shared memory on', self.epc.read_log())
        with Stopped(self.br):
            self.assertEqual(self.epc.readq(EPC_WINDOW + 0x100000), 0xffffffffffffffff)


def memfd(size):
    fd = os.memfd_create('qepc-test-peer', os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    return fd


class FdsFromPeerTest(DeviceTest):
    """qemu-epc against a test peer that offers its own memory (FDS)."""

    def setUp(self):
        super().setUp()
        self.sock = self.path('link.sock')
        self.vm = self.track(EpcVm(self.sock, self.dir, shared_ram=True))
        self.peer = self.track_peer(P.Peer(self.sock, P.ROLE_HOST, features=P.FEAT_SHMEM)
                                    .connect())
        self.peer.handshake()
        self.vm.wait_status(R.QEPC_STATUS_PEER, 'qemu-epc to see the peer')
        # qemu-epc offers its RAM right after HELLO: one FDS per range
        self.offers = []
        while True:
            try:
                self.offers.append(self.peer.expect(P.FDS, timeout=1, what='an FDS'))
            except TimeoutError:
                break

    def offer(self, gpa, size, offset=0, fd=None, fd_size=None):
        fd = memfd(fd_size or size) if fd is None else fd
        self.peer.send_fds(P.fds(P.FD_GUEST_RAM, 1, gpa, size, offset), [fd])
        return fd

    def refused(self, why):
        self.assertTrue(self.peer.closed(), 'qemu-epc kept the peer')
        wait_until(lambda: why in self.vm.read_log(), 5, 'the reason in the log: ' + why)

    def test_endpoint_offers_its_ram(self):
        self.assertTrue(self.offers, 'qemu-epc offered no RAM')
        for m in self.offers:
            f = m.m.u.fds
            self.assertEqual((f.kind, f.nfds, len(m.fds)), (P.FD_GUEST_RAM, 1, 1))
            self.assertEqual((f.gpa | f.size | f.offset) % PAGE, 0)
        m = [m for m in self.offers if m.m.u.fds.gpa <= EPF_RAM <
             m.m.u.fds.gpa + m.m.u.fds.size]
        self.assertEqual(len(m), 1, 'no offer holds EPF_RAM')
        f = m[0].m.u.fds
        ram = mmap.mmap(m[0].fds[0], f.size, offset=f.offset)
        self.vm.memwrite(EPF_RAM, b'guest 1 RAM')
        self.assertEqual(ram[EPF_RAM - f.gpa:EPF_RAM - f.gpa + 11], b'guest 1 RAM')

    def window_on_peer_memory(self):
        """The peer offers 1 MiB at 0x40000000 and the host lets the
        function master; window 0 maps 0x40002000.  Returns the memfd."""
        fd = self.offer(0x40000000, 0x100000)
        self.vm.standard_function()
        self.vm.start()
        self.peer.expect(P.LINK, what='LINK up')
        c = self.peer.request(P.cfg_write(self.peer.next_tag(), 4, 2, BME | MEM))
        self.assertEqual(c.m.u.cpl.status, P.SC)
        self.vm.map_window(0, 0, 0x10000, 0x40002000)
        return fd

    def withdraw_peer_memory(self):
        """The peer takes its memory back: the window uses messages again."""
        self.peer.send(P.fds(P.FD_RAM_GONE, 0, 0x40000000, 0x100000, 0))
        wait_until(lambda: self.vm.readl(EPC_WINDOW) == 0xffffffff, 10,
                   'the window to stop reaching the withdrawn memory')

    def test_peer_memory_mapped_under_a_window(self):
        ram = mmap.mmap(self.window_on_peer_memory(), 0x100000)
        ram[0x2000:0x2005] = b'peer!'
        # no request reaches the peer: the window is its memory
        self.assertEqual(self.vm.memread(EPC_WINDOW, 5), b'peer!')
        self.vm.memwrite(EPC_WINDOW + 8, b'written directly')
        self.assertEqual(ram[0x2008:0x2018], b'written directly')
        self.withdraw_peer_memory()

    def peer_files(self):
        """How many descriptors qemu-epc holds on the peer's memfds."""
        fds = '/proc/%d/fd' % self.vm.proc.pid
        n = 0
        for name in os.listdir(fds):
            try:
                n += os.readlink(os.path.join(fds, name)).startswith('/memfd:qepc-test-peer')
            except OSError:
                pass        # closed meanwhile
        return n

    def test_peer_memory_held_while_mapped_and_not_offered_back(self):
        """The RAM block that maps the peer's memory keeps its descriptor
        for as long as it exists (QEMU closes it when it frees the block),
        and the peer's memory, now visible in guest 1 under a window, is
        not offered back to the peer."""
        fd = self.window_on_peer_memory()
        os.pwrite(fd, b'peer!', 0x2000)
        self.assertEqual(self.vm.memread(EPC_WINDOW, 5), b'peer!')
        self.assertEqual(self.peer_files(), 1, 'qemu-epc does not hold the mapped descriptor')
        offered = []
        while True:
            try:
                m = self.peer.recv(1, 'anything after the window was mapped')
            except TimeoutError:
                break
            if m.type == P.FDS:
                offered.append((m.m.u.fds.kind, hex(m.m.u.fds.gpa)))
        self.assertEqual(offered, [], 'qemu-epc offered memory back: the window is the peer\'s')
        self.withdraw_peer_memory()
        wait_until(lambda: self.peer_files() == 0, 10,
                   'qemu-epc to close the withdrawn memory\'s descriptor')

    def test_bad_regions_refused(self):
        self.offer(0x40000000, 0x1000 + 512)
        self.refused('region not page-aligned')

    def test_region_beyond_its_file_refused(self):
        self.offer(0x40000000, 0x100000, fd_size=0x1000)
        self.refused('the descriptor is not a file that holds the region')

    def test_overlapping_regions_refused(self):
        self.offer(0x40000000, 0x100000)
        self.offer(0x40080000, 0x100000)
        self.refused('overlaps one offered before')

    def test_fds_without_descriptor_refused(self):
        self.peer.send(P.fds(P.FD_GUEST_RAM, 1, 0x40000000, 0x1000, 0))
        self.refused('FDS GUEST_RAM without its descriptor')

    def test_descriptor_on_another_message_refused(self):
        self.peer.send_fds(P.intx(0, 1), [memfd(4096)])
        self.refused('a descriptor with a message that carries none')


class WithdrawalAtTheSlotLimitTest(DeviceTest):
    """Withdrawing a direct BAR mapping is a non-posted request, as the
    function's vCPU reads and DMA transfers are.  With every slot those may
    take held by requests the host has not answered, the withdrawal still
    goes (the link keeps slots for it) and the connection stays; it used to
    be ended, the only way left to take the mapping away."""

    def test_withdrawal_when_other_requests_hold_every_slot(self):
        sock = self.path('link.sock')
        # two slots besides the 16 the link keeps for withdrawals
        vm = self.track(EpcVm(sock, self.dir, shared_ram=True, props=',x-requests=18'))
        peer = self.track_peer(P.Peer(sock, P.ROLE_HOST, features=P.FEAT_SHMEM).connect())
        peer.handshake()
        vm.standard_function()
        vm.start()
        seen = []
        while not seen or seen[-1].type != P.LINK:
            seen.append(peer.recv(5, 'LINK up'))
        c = peer.request(P.cfg_write(peer.next_tag(), PCI_COMMAND, 2, BME | MEM))
        self.assertEqual(c.m.u.cpl.status, P.SC)
        mapped = [m for m in seen + peer.announced
                  if m.type == P.MAP and m.m.u.map.bar == 0 and m.pieces()]
        self.assertTrue(mapped, 'qemu-epc did not map BAR0 directly')
        # two DMA reads from the host take the two ordinary slots
        local = EPF_RAM + 0x800000
        for ch in (0, 1):
            vm.dma_go(ch, HOST_RAM + ch * 0x1000, local + ch * 0x1000, 64, R.QEPC_DMA_SRC_HOST)
        reads = [peer.expect(P.MEM_READ, what='the DMA read of channel %d' % ch)
                 for ch in (0, 1)]
        # the EPF changes BAR0: the host must drop its mapping first
        vm.set_reg(R.QEPC_BAR_BASE(0) + R.QEPC_BAR_FLAGS, R.QEPC_BAR_ENABLE)
        self.assertTrue(vm.status() & R.QEPC_STATUS_UNMAPPING)
        w = peer.expect(P.MAP, what='the withdrawal of BAR0')
        self.assertTrue(P.needs_completion(w), 'the withdrawal is not non-posted')
        self.assertEqual((w.m.u.map.bar, w.m.u.map.count), (0, 0))
        peer.send(P.cpl(w.tag, P.MAP, P.SC))
        vm.wait_unmapped()
        for ch, r in enumerate(reads):
            peer.send(P.cpl(r.tag, P.MEM_READ, P.SC, bytes([0x40 + ch]) * 64))
        for ch in (0, 1):
            self.assertEqual(vm.dma_wait(ch, 10), (R.QEPC_DMA_DONE, R.QEPC_DMA_E_NONE))
            self.assertEqual(vm.memread(local + ch * 0x1000, 64), bytes([0x40 + ch]) * 64)
        self.assertFalse(peer.closed(0.5), 'qemu-epc ended the connection')
        self.assertNotIn('disconnecting', vm.read_log())

    def test_fewer_slots_than_the_reserve_refused(self):
        rc, out = self.run_plain(['-device', 'qemu-epc,socket=%s,x-requests=16'
                                  % self.path('x.sock')])
        self.assertNotEqual(rc, 0)
        self.assertIn('x-requests must be 17 to 64', out)


class FdsWithoutShmemTest(DeviceTest):
    def test_fds_without_the_feature_refused(self):
        sock = self.path('link.sock')
        vm = self.track(EpcVm(sock, self.dir))
        peer = self.track_peer(P.Peer(sock, P.ROLE_HOST).connect())
        peer.handshake()
        peer.send_fds(P.fds(P.FD_GUEST_RAM, 1, 0, 4096, 0), [memfd(4096)])
        self.assertTrue(peer.closed())
        self.assertIn('FDS without the SHMEM feature', vm.read_log())
