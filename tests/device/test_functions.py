# SPDX-License-Identifier: GPL-2.0-or-later
"""Several functions on one qemu-epc (functions=N): FUNC_SEL, per-function
registers, one connection per function, windows, interrupts and DMA routed
by function; two wired bridges in one guest 2 as a multi-function device."""
import struct

import peer as P
from qtest import wait_until
from machines import (EpcVm, BridgeVm, R, DEVFN, EPF_RAM, EPC_WINDOW, HOST_RAM,
                      PCI_COMMAND, MEM, BME)
from base import DeviceTest

# function 1: another vendor/device and its own BAR layout, in its own memory
FN1_RAM = EPF_RAM + 0x1000000


def select(vm, fn):
    vm.set_reg(R.QEPC_FUNC_SEL, fn)
    assert vm.reg(R.QEPC_FUNC_SEL) == fn


def function1(vm, vendor=0x1af4, device=0x1111, msi_log2=2):
    """Function 1 set up differently from standard_function(): ID, two BARs
    (BAR0 16 KiB, BAR2 64 KiB 64-bit), MSI 4 vectors, no MSI-X."""
    select(vm, 1)
    vm.write_header(vendor=vendor, device=device, cls=0x05800000, pin=2)
    assert vm.set_bar(0, FN1_RAM, 0x4000)
    assert vm.set_bar(2, FN1_RAM + 0x100000, 0x10000, flags=0x4)
    vm.set_msi(msi_log2)
    select(vm, 0)


def find_cap(cfg, cap_id):
    p = cfg(0x34, 1)
    while p:
        if cfg(p, 1) == cap_id:
            return p
        p = cfg(p + 1, 1)
    return 0


class FunctionsTest(DeviceTest):
    """qemu-epc with functions=2 and a test peer playing the host on each
    function's socket."""

    def setUp(self):
        super().setUp()
        self.sock = self.path('link.sock')
        self.vm = self.track(EpcVm(self.sock, self.dir, props=',functions=2'))
        self.peers = []
        for sock in (self.sock, self.sock + '.1'):
            p = self.track_peer(P.Peer(sock, P.ROLE_HOST).connect())
            p.handshake()
        self.p0, self.p1 = self.peers
        for fn in (0, 1):
            select(self.vm, fn)
            self.vm.wait_status(R.QEPC_STATUS_PEER, 'function %d to see its peer' % fn)
        select(self.vm, 0)

    def cfg(self, peer, off, ln=4):
        c = peer.request(P.cfg_read(peer.next_tag(), off, ln))
        self.assertEqual(c.m.u.cpl.status, P.SC)
        return int.from_bytes(c.data, 'little')

    def set_cfg(self, peer, off, val, ln=4):
        c = peer.request(P.cfg_write(peer.next_tag(), off, ln, val))
        self.assertEqual(c.m.u.cpl.status, P.SC)

    def start_both(self):
        self.vm.standard_function()
        function1(self.vm)
        self.vm.start()
        links = [p.expect(P.LINK, what='LINK up').m.u.link for p in self.peers]
        self.assertEqual([l.up for l in links], [1, 1])
        return links

    def test_function_count_and_select(self):
        self.assertEqual(self.vm.reg(R.QEPC_NUM_FUNCS), 2)
        self.assertEqual(self.vm.reg(R.QEPC_FUNC_SEL), 0)
        self.vm.set_reg(R.QEPC_FUNC_SEL, 1)
        self.assertEqual(self.vm.reg(R.QEPC_FUNC_SEL), 1)
        for bad in (2, 7, 8, 0xffffffff):
            self.vm.set_reg(R.QEPC_ERROR, 0)
            self.vm.set_reg(R.QEPC_FUNC_SEL, bad)
            self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_FUNC)
            self.assertEqual(self.vm.reg(R.QEPC_FUNC_SEL), 1, 'FUNC_SEL %#x' % bad)
        self.assertIn('FUNC_SEL', self.vm.guest_errors())

    def test_registers_are_per_function(self):
        self.vm.standard_function()
        function1(self.vm)
        # the inbound entries are the function's too
        select(self.vm, 1)
        ib = R.QEPC_IB_BASE(3)
        self.vm.set_reg(ib + R.QEPC_IB_SIZE_LO, 0x2000)
        self.assertEqual(self.vm.reg(R.QEPC_INBOUND_COUNT), 16)
        select(self.vm, 0)
        self.assertEqual(self.vm.reg(ib + R.QEPC_IB_SIZE_LO), 0)
        self.assertEqual(self.vm.reg(R.QEPC_HDR_ID), 0xb500104c)
        self.assertEqual(self.vm.reg(R.QEPC_MSI_CFG), R.QEPC_MSI_CFG_PRESENT | 5)
        self.assertEqual(self.vm.reg(R.QEPC_MSIX_CFG), 2048)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_BASE(0) + R.QEPC_BAR_SIZE_LO), 0x10000)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_BASE(3) + R.QEPC_BAR_FLAGS),
                         R.QEPC_BAR_ENABLE)
        select(self.vm, 1)
        self.assertEqual(self.vm.reg(R.QEPC_HDR_ID), 0x11111af4)
        self.assertEqual(self.vm.reg(R.QEPC_HDR_INTPIN), 2)
        self.assertEqual(self.vm.reg(R.QEPC_MSI_CFG), R.QEPC_MSI_CFG_PRESENT | 2)
        self.assertEqual(self.vm.reg(R.QEPC_MSIX_CFG), 0)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_BASE(0) + R.QEPC_BAR_SIZE_LO), 0x4000)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_BASE(3) + R.QEPC_BAR_FLAGS), 0)
        self.assertEqual(self.vm.reg(ib + R.QEPC_IB_SIZE_LO), 0x2000)
        # a BAR refused on function 1 leaves function 0's alone
        self.vm.set_reg(R.QEPC_ERROR, 0)
        self.assertFalse(self.vm.set_bar(3, FN1_RAM, 0x3000))          # not a power of 2
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_BAR)
        select(self.vm, 0)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_BASE(3) + R.QEPC_BAR_SIZE_LO), 0x200000)

    def test_each_function_on_its_own_connection(self):
        l0, l1 = self.start_both()
        self.assertEqual([l0.bar[i].size for i in range(6)],
                         [0x10000, 0x80, 0x100000, 0x200000, 0x400, 0x100])
        self.assertEqual([l1.bar[i].size for i in range(6)], [0x4000, 0, 0x10000, 0, 0, 0])
        self.assertEqual((l0.intx_pin, l1.intx_pin), (1, 2))
        self.assertEqual(self.cfg(self.p0, 0), 0xb500104c)
        self.assertEqual(self.cfg(self.p1, 0), 0x11111af4)
        self.assertEqual(self.cfg(self.p1, 0x08) >> 8, 0x058000)
        # sizing a BAR of function 1 does not touch function 0
        self.set_cfg(self.p1, 0x18, 0xffffffff)
        self.assertEqual(self.cfg(self.p1, 0x18), 0xffff0004)
        self.assertEqual(self.cfg(self.p0, 0x18), 0)
        # host writes through function 1's BAR0 land in its memory
        self.set_cfg(self.p1, 0x10, 0xd0000000)
        self.set_cfg(self.p1, 0x04, MEM | BME, 2)
        self.p1.send(P.mem_write(0xd0000010, b'function one'))
        c = self.p1.request(P.mem_read(self.p1.next_tag(), 0xd0000010, 12))
        self.assertEqual(c.data, b'function one')
        self.assertEqual(self.vm.memread(FN1_RAM + 0x10, 12), b'function one')
        # function 0 decodes nothing there
        c = self.p0.request(P.mem_read(self.p0.next_tag(), 0xd0000010, 4))
        self.assertEqual(c.m.u.cpl.status, P.UR)
        # STATUS is the selected function's
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_LINK_UP)
        self.assertFalse(self.vm.status() & R.QEPC_STATUS_BME)
        select(self.vm, 1)
        self.assertTrue(self.vm.status() & R.QEPC_STATUS_BME)
        self.assertEqual(self.vm.reg(R.QEPC_BAR_BASE(0) + R.QEPC_BAR_HOST_LO), 0xd0000000)

    def test_windows_follow_their_function(self):
        self.start_both()
        for p in self.peers:
            self.set_cfg(p, 0x04, MEM | BME, 2)
        base = R.QEPC_WIN_BASE(0)
        self.vm.map_window(0, 0, 0x1000, 0x5000000)
        self.vm.set_reg(base + R.QEPC_WIN_CTRL, 0)
        self.vm.set_reg(base + R.QEPC_WIN_CTRL, R.QEPC_WIN_ENABLE | R.QEPC_WIN_FUNC(1))
        self.assertEqual(self.vm.reg(base + R.QEPC_WIN_CTRL),
                         R.QEPC_WIN_ENABLE | R.QEPC_WIN_FUNC(1))
        self.vm.map_window(1, 0x1000, 0x1000, 0x6000000)            # function 0
        self.vm.writel(EPC_WINDOW + 0x10, 0x11111111)
        m = self.p1.expect(P.MEM_WRITE, what="function 1's window write")
        self.assertEqual((m.m.u.mem.addr, m.data), (0x5000010, struct.pack('<I', 0x11111111)))
        self.vm.writel(EPC_WINDOW + 0x1010, 0x22222222)
        m = self.p0.expect(P.MEM_WRITE, what="function 0's window write")
        self.assertEqual(m.m.u.mem.addr, 0x6000010)
        # neither saw the other's
        with self.assertRaises(TimeoutError):
            self.p0.recv(0.3)
        with self.assertRaises(TimeoutError):
            self.p1.recv(0.3)
        # a window of a function the controller does not have is refused
        base = R.QEPC_WIN_BASE(2)
        self.vm.set_reg(R.QEPC_ERROR, 0)
        self.vm.set_reg(base + R.QEPC_WIN_SIZE_LO, 0x1000)
        self.vm.set_reg(base + R.QEPC_WIN_CTRL, R.QEPC_WIN_ENABLE | R.QEPC_WIN_FUNC(2))
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_FUNC)
        self.assertEqual(self.vm.reg(base + R.QEPC_WIN_CTRL), 0)

    def test_interrupts_follow_the_selected_function(self):
        self.start_both()
        for p, addr, data in ((self.p0, 0xfee01000, 0x40), (self.p1, 0xfee02000, 0x80)):
            msi = find_cap(lambda o, n=4: self.cfg(p, o, n), 0x05)
            self.assertTrue(msi)
            self.set_cfg(p, msi + 4, addr)
            self.set_cfg(p, msi + 8, 0)
            self.set_cfg(p, msi + 12, data, 2)
            self.set_cfg(p, msi + 2, 1 | 2 << 4, 2)                # 4 vectors on
            self.set_cfg(p, 0x04, MEM | BME, 2)
        select(self.vm, 1)
        self.assertEqual(self.vm.reg(R.QEPC_MSI_ADDR_LO), 0xfee02000)
        self.vm.raise_irq(R.QEPC_RAISE_MSI, 3)
        m = self.p1.expect(P.MEM_WRITE, what="function 1's MSI")
        self.assertEqual((m.m.u.mem.addr, m.data), (0xfee02000, struct.pack('<I', 0x83)))
        self.vm.raise_irq(R.QEPC_RAISE_INTX_ASSERT)
        m = self.p1.expect(P.INTX, what="function 1's INTx")
        self.assertEqual((m.m.u.intx.pin, m.m.u.intx.assert_), (1, 1))    # INTB
        select(self.vm, 0)
        self.vm.raise_irq(R.QEPC_RAISE_MSI, 1)
        m = self.p0.expect(P.MEM_WRITE, what="function 0's MSI")
        self.assertEqual((m.m.u.mem.addr, m.data), (0xfee01000, struct.pack('<I', 0x41)))
        with self.assertRaises(TimeoutError):
            self.p1.recv(0.3)

    def test_dma_channel_names_its_function(self):
        self.start_both()
        self.set_cfg(self.p1, 0x04, MEM | BME, 2)
        ch = R.QEPC_DMA_BASE(0)
        self.vm.memwrite(EPF_RAM, b'dma by function 1')
        for o, v in ((R.QEPC_DMA_SRC_LO, EPF_RAM), (R.QEPC_DMA_SRC_HI, 0),
                     (R.QEPC_DMA_DST_LO, 0x7000000), (R.QEPC_DMA_DST_HI, 0),
                     (R.QEPC_DMA_LEN, 17)):
            self.vm.set_reg(ch + o, v)
        # out of range: refused, the channel stays idle
        self.vm.set_reg(R.QEPC_ERROR, 0)
        self.vm.set_reg(ch + R.QEPC_DMA_CTRL, R.QEPC_DMA_DST_HOST | R.QEPC_DMA_FUNC(5) |
                        R.QEPC_DMA_GO)
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_FUNC)
        self.assertEqual(R.QEPC_DMA_STATE(self.vm.reg(ch + R.QEPC_DMA_STATUS)), R.QEPC_DMA_IDLE)
        self.vm.set_reg(ch + R.QEPC_DMA_CTRL, R.QEPC_DMA_DST_HOST | R.QEPC_DMA_FUNC(1) |
                        R.QEPC_DMA_GO)
        m = self.p1.expect(P.MEM_WRITE, what="the DMA write on function 1's link")
        self.assertEqual((m.m.u.mem.addr, m.data), (0x7000000, b'dma by function 1'))
        self.p1.send(P.cpl(m.tag, P.MEM_WRITE, P.SC))
        wait_until(lambda: R.QEPC_DMA_STATE(self.vm.reg(ch + R.QEPC_DMA_STATUS)) ==
                   R.QEPC_DMA_DONE, 5, 'the DMA to finish')
        self.assertEqual(R.QEPC_DMA_FUNC_OF(self.vm.reg(ch + R.QEPC_DMA_CTRL)), 1)
        with self.assertRaises(TimeoutError):
            self.p0.recv(0.3)

    def test_function_without_header_stays_down(self):
        self.vm.standard_function()
        self.vm.start()
        self.assertEqual(self.p0.expect(P.LINK, what='LINK up').m.u.link.up, 1)
        with self.assertRaises(TimeoutError):
            self.p1.recv(0.5)
        select(self.vm, 1)
        self.assertEqual(self.vm.status() & (R.QEPC_STATUS_PEER | R.QEPC_STATUS_LINK_UP),
                         R.QEPC_STATUS_PEER)
        c = self.p1.request(P.cfg_read(self.p1.next_tag(), 0, 4))
        self.assertEqual(c.m.u.cpl.status, P.UR)

    def test_invalid_function_refuses_start_and_stop_takes_all_down(self):
        self.vm.standard_function()
        function1(self.vm)
        select(self.vm, 1)
        self.vm.set_reg(R.QEPC_MSIX_CFG, 4)            # table in a BAR it has not
        self.vm.set_reg(R.QEPC_MSIX_TABLE, 1)
        self.vm.set_reg(R.QEPC_ERROR, 0)
        self.vm.start()
        self.assertEqual(self.vm.reg(R.QEPC_ERROR), R.QEPC_ERR_CONFIG)
        self.assertEqual(self.vm.reg(R.QEPC_CTRL), 0)
        self.vm.set_reg(R.QEPC_MSIX_CFG, 0)
        self.vm.start()
        self.assertEqual(self.vm.reg(R.QEPC_CTRL), R.QEPC_CTRL_START)
        for p in self.peers:
            self.assertEqual(p.expect(P.LINK, what='LINK up').m.u.link.up, 1)
        self.vm.stop()
        for p in self.peers:
            self.assertEqual(p.expect(P.LINK, what='LINK down').m.u.link.up, 0)


class FunctionsPropertyTest(DeviceTest):
    def start_plain(self, props):
        return self.run_plain(['-device', 'qemu-epc,socket=%s%s' % (self.path('s.sock'), props)])

    def test_functions_out_of_range_refused(self):
        for n in (0, 9):
            rc, out = self.start_plain(',functions=%d' % n)
            self.assertNotEqual(rc, 0)
            self.assertIn('functions must be 1 to 8', out)

    def test_single_function_by_default(self):
        vm = self.track(EpcVm(self.path('one.sock'), self.dir))
        self.assertEqual(vm.reg(R.QEPC_NUM_FUNCS), 1)
        vm.set_reg(R.QEPC_FUNC_SEL, 1)
        self.assertEqual(vm.reg(R.QEPC_ERROR), R.QEPC_ERR_FUNC)
        self.assertEqual(vm.reg(R.QEPC_FUNC_SEL), 0)
        import os
        self.assertTrue(os.path.exists(self.path('one.sock')))
        self.assertFalse(os.path.exists(self.path('one.sock.1')))

    def test_eight_functions_listen_on_eight_sockets(self):
        import os
        vm = self.track(EpcVm(self.path('e.sock'), self.dir, props=',functions=8'))
        self.assertEqual(vm.reg(R.QEPC_NUM_FUNCS), 8)
        names = ['e.sock'] + ['e.sock.%d' % k for k in range(1, 8)]
        self.assertTrue(all(os.path.exists(self.path(n)) for n in names))
        vm.quit()
        self.assertFalse(any(os.path.exists(self.path(n)) for n in names))


class BridgeFunctionPropertyTest(DeviceTest):
    def test_function_property_picks_the_socket(self):
        """function=K connects to SOCKET.K whatever the bridge's address."""
        sock = self.path('b.sock')
        peer = self.track_peer(P.Peer(sock + '.2', P.ROLE_ENDPOINT, listen=True))
        self.track(BridgeVm(sock, self.dir, props=',function=2'))
        peer.connect()
        self.assertEqual(peer.handshake().type, P.HELLO)

    def test_function_out_of_range_refused(self):
        for bad in (8, -2):
            rc, out = self.run_plain(['-device', 'epf-bridge,socket=%s,function=%d'
                                      % (self.path('b.sock'), bad)])
            self.assertNotEqual(rc, 0)
            self.assertIn('function must be 0 to 7', out)


class WiredFunctionsTest(DeviceTest):
    """qemu-epc with functions=2; guest 2 has two epf-bridges, 04.0
    (multifunction=on) and 04.1: one multi-function device."""

    def setUp(self):
        super().setUp()
        self.sock = self.path('link.sock')
        self.epc = self.track(EpcVm(self.sock, self.dir, props=',functions=2'))
        self.br = self.track(BridgeVm(self.sock, self.dir, functions=2))
        for fn in (0, 1):
            select(self.epc, fn)
            self.epc.wait_status(R.QEPC_STATUS_PEER, 'bridge %d to connect' % fn)
        select(self.epc, 0)

    def test_guest2_sees_two_functions(self):
        self.assertEqual(self.br.cfg(0), 0xffffffff)
        self.epc.standard_function()
        function1(self.epc)
        self.epc.start()
        self.br.wait_present()
        self.br.devfn = DEVFN + 1
        self.br.wait_present()
        self.br.devfn = DEVFN
        self.assertEqual(self.br.cfg(0), 0xb500104c)
        self.assertEqual(self.br.cfg(0x0e, 1), 0x80)            # multi-function
        self.assertEqual(self.br.cfg(0x0c) >> 16 & 0xff, 0x80)
        bars0 = self.br.size_bars()
        placed0 = self.br.assign_bars(bars0)
        self.br.devfn = DEVFN + 1
        self.assertEqual(self.br.cfg(0), 0x11111af4)
        self.assertEqual(self.br.cfg(0x0e, 1), 0x00)
        self.assertEqual(self.br.cfg(0x3d, 1), 2)
        bars1 = self.br.size_bars()
        self.assertEqual({n: s for n, (s, _) in bars1.items()}, {0: 0x4000, 2: 0x10000})
        self.assertEqual({n: s for n, (s, _) in bars0.items()},
                         dict(enumerate([0x10000, 0x80, 0x100000, 0x200000, 0x400, 0x100])))
        placed1 = self.br.assign_bars(bars1, base=0xd0000000, io=0xd000)
        # each function's BAR reaches its own memory in guest 1
        self.br.writel(placed0[0] + 8, 0xf0f0f0f0)
        self.br.writel(placed1[0] + 8, 0xf1f1f1f1)
        self.br.writel(placed1[2] + 8, 0xf2f2f2f2)
        # posted writes: they land soon, not before writel returns
        for addr, val in ((EPF_RAM + 8, 0xf0f0f0f0), (FN1_RAM + 8, 0xf1f1f1f1),
                          (FN1_RAM + 0x100008, 0xf2f2f2f2)):
            wait_until(lambda: self.epc.memread(addr, 4) == struct.pack('<I', val), 5,
                       'the BAR write at guest-1 address %#x' % addr)
        # function 1's MSI and window reach guest 2 through its bridge
        msi = self.br.find_cap(0x05)
        self.br.set_cfg(msi + 4, HOST_RAM + 0x1000)
        self.br.set_cfg(msi + 8, 0)
        self.br.set_cfg(msi + 12, 0x7700, 2)
        self.br.set_cfg(msi + 2, 1 | 2 << 4, 2)
        select(self.epc, 1)
        # config writes reach guest 1 in order with the link's other
        # messages, not with this test's own commands to guest 1: wait as
        # an EPF driver does until the host's MSI set-up is there
        self.epc.wait_status(R.QEPC_STATUS_MSI_EN, "function 1's MSI enabled in guest 1")
        self.epc.raise_irq(R.QEPC_RAISE_MSI, 2)
        wait_until(lambda: self.br.readl(HOST_RAM + 0x1000) == 0x7702, 5,
                   "function 1's MSI in guest 2 memory")
        base = R.QEPC_WIN_BASE(0)
        self.epc.map_window(0, 0, 0x1000, HOST_RAM + 0x2000)
        self.epc.set_reg(base + R.QEPC_WIN_CTRL, 0)
        self.epc.set_reg(base + R.QEPC_WIN_CTRL, R.QEPC_WIN_ENABLE | R.QEPC_WIN_FUNC(1))
        self.epc.memwrite(EPC_WINDOW, b'through function 1')
        wait_until(lambda: self.br.memread(HOST_RAM + 0x2000, 18) == b'through function 1',
                   5, 'the window write in guest 2')
        # bus mastering off on function 1 only: its window is refused
        self.br.set_cfg(PCI_COMMAND, MEM, 2)
        self.assertEqual(self.epc.readl(EPC_WINDOW), 0xffffffff)
        self.epc.map_window(1, 0x1000, 0x1000, HOST_RAM + 0x2000)     # function 0
        self.assertEqual(self.epc.memread(EPC_WINDOW + 0x1000, 18), b'through function 1')
        # stopping the controller takes both functions away
        self.epc.stop()
        wait_until(lambda: self.br.cfg(0, 2) == 0xffff, 5, 'function 1 to vanish')
        self.br.devfn = DEVFN
        wait_until(lambda: self.br.cfg(0, 2) == 0xffff, 5, 'function 0 to vanish')
