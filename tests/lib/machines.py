# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc and epf-bridge under qtest: the guest-side programming of each
device, as a driver would do it, for the device-level tests."""
import os
import sys

from qtest import QTest, wait_until  # noqa: E402
from peer import BUILD  # noqa: E402
sys.path.insert(0, os.path.join(BUILD, 'tests'))
import regs as R  # noqa: E402  (build/regs.py, from qemu-epc-regs.h)

DEVFN = 4 << 3                 # both devices sit at 00:04.0
EPC_REGS = 0xe0000000          # guest 1: qemu-epc BAR0
EPC_WINDOW = 0xe8000000        # guest 1: qemu-epc BAR2 (window space)
EPF_RAM = 0x1000000            # guest 1: memory backing the EPF's BARs
HOST_RAM = 0x2000000           # guest 2: memory the endpoint reaches
HOST_BAR_BASE = 0xe0000000     # guest 2: where the function's BARs go
EPC_MSIX = 0xe0010000          # guest 1: qemu-epc BAR4 (its MSI-X table)
MSIX_RAM = 0x3000000           # guest 1: where its MSI-X messages land
PCI_COMMAND, MEM, BME, INTX_DIS = 0x04, 0x2, 0x4, 0x400


# RAM as a shared memfd: what the devices offer each other (shmem=on)
SHARED_RAM = ['-object', 'memory-backend-memfd,id=ram,size=256M,share=on',
              '-machine', 'memory-backend=ram']


class EpcDriver:
    """What the EPC driver does with one qemu-epc (at devfn, its registers
    at regs, its window BAR at window): mixed into the QEMU that has it."""
    devfn = DEVFN
    regs = EPC_REGS
    window = EPC_WINDOW

    def setup_pci(self):
        self.cfg_write(self.devfn, 0x10, self.regs)
        self.cfg_write(self.devfn, 0x18, self.window)
        self.cfg_write(self.devfn, 0x1c, 0)
        self.cfg_write(self.devfn, PCI_COMMAND, MEM | BME, 2)

    def reg(self, off):
        return self.readl(self.regs + off)

    def set_reg(self, off, val):
        self.writel(self.regs + off, val)

    def write_header(self, vendor=0x104c, device=0xb500, cls=0xff000000,
                     subsys=0, pin=1):
        self.set_reg(R.QEPC_HDR_ID, vendor | device << 16)
        self.set_reg(R.QEPC_HDR_CLASS, cls)
        self.set_reg(R.QEPC_HDR_SUBSYS, subsys)
        self.set_reg(R.QEPC_HDR_INTPIN, pin)

    def set_bar(self, n, addr, size, flags=0):
        base = R.QEPC_BAR_BASE(n)
        self.set_reg(base + R.QEPC_BAR_FLAGS, 0)
        self.set_reg(base + R.QEPC_BAR_ADDR_LO, addr & 0xffffffff)
        self.set_reg(base + R.QEPC_BAR_ADDR_HI, addr >> 32)
        self.set_reg(base + R.QEPC_BAR_SIZE_LO, size & 0xffffffff)
        self.set_reg(base + R.QEPC_BAR_SIZE_HI, size >> 32)
        self.set_reg(base + R.QEPC_BAR_FLAGS, flags | R.QEPC_BAR_ENABLE)
        self.wait_unmapped()
        return self.reg(base + R.QEPC_BAR_FLAGS) & R.QEPC_BAR_ENABLE

    def wait_unmapped(self, timeout=5):
        """As the driver does after a FLAGS write: until the host has
        dropped the direct mappings the write took away."""
        wait_until(lambda: not self.status() & R.QEPC_STATUS_UNMAPPING, timeout,
                   'the host to drop its direct BAR mappings (STATUS.UNMAPPING)')

    def remap_bar(self, n, addr=None, submap=None, flags=0):
        """Change an enabled BAR's mapping: stage the address or the
        subranges [(addr, size), ...] (in inbound entries from
        submap[0], a (first, [(addr, size)...]) pair), then commit with one
        FLAGS write.  Returns the ERROR register after the commit."""
        base = R.QEPC_BAR_BASE(n)
        if submap is not None:
            first, subs = submap
            for i, (a, size) in enumerate(subs):
                ib = R.QEPC_IB_BASE(first + i)
                self.set_reg(ib + R.QEPC_IB_ADDR_LO, a & 0xffffffff)
                self.set_reg(ib + R.QEPC_IB_ADDR_HI, a >> 32)
                self.set_reg(ib + R.QEPC_IB_SIZE_LO, size & 0xffffffff)
                self.set_reg(ib + R.QEPC_IB_SIZE_HI, size >> 32)
            self.set_reg(base + R.QEPC_BAR_SUBMAP, R.QEPC_SUBMAP(first, len(subs)))
        else:
            self.set_reg(base + R.QEPC_BAR_ADDR_LO, addr & 0xffffffff)
            self.set_reg(base + R.QEPC_BAR_ADDR_HI, addr >> 32)
            self.set_reg(base + R.QEPC_BAR_SUBMAP, 0)
        self.set_reg(R.QEPC_ERROR, 0)
        self.set_reg(base + R.QEPC_BAR_FLAGS, flags | R.QEPC_BAR_ENABLE)
        self.wait_unmapped()
        return self.reg(R.QEPC_ERROR)

    def enable_msix(self, table):
        """Place the controller's own MSI-X table (BAR4) at `table`, enable
        MSI-X and point vector v at RAM address 0x3000000 + 0x10 * v with
        data 0xd0 + v, so that a delivered vector is visible in memory."""
        self.cfg_write(self.devfn, 0x20, table)
        cap = self.cfg_read(self.devfn, 0x34, 1)
        while self.cfg_read(self.devfn, cap, 1) != 0x11:
            cap = self.cfg_read(self.devfn, cap + 1, 1)
        for v in range(R.QEPC_NUM_VECTORS):
            self.writel(table + 16 * v, MSIX_RAM + 0x10 * v)
            self.writel(table + 16 * v + 4, 0)
            self.writel(table + 16 * v + 8, 0xd0 + v)
            self.writel(table + 16 * v + 12, 0)
        self.cfg_write(self.devfn, cap + 2, 0x8000, 2)

    def set_msi(self, log2):
        self.set_reg(R.QEPC_MSI_CFG, R.QEPC_MSI_CFG_PRESENT | log2)

    def set_msix(self, count, bir, table_off, pba_off):
        self.set_reg(R.QEPC_MSIX_CFG, count)
        self.set_reg(R.QEPC_MSIX_TABLE, bir | table_off)
        self.set_reg(R.QEPC_MSIX_PBA, bir | pba_off)

    def dma_go(self, ch, src, dst, length, ctrl):
        """Start DMA channel ch: source, destination, length, then CTRL
        with GO (ctrl: direction and function bits, IRQ_EN)."""
        b = R.QEPC_DMA_BASE(ch)
        for off, v in ((R.QEPC_DMA_SRC_LO, src), (R.QEPC_DMA_DST_LO, dst)):
            self.set_reg(b + off, v & 0xffffffff)
            self.set_reg(b + off + 4, v >> 32)
        self.set_reg(b + R.QEPC_DMA_LEN, length)
        self.set_reg(b + R.QEPC_DMA_CTRL, ctrl | R.QEPC_DMA_GO)

    def dma_wait(self, ch, timeout=60):
        """(state, error) of DMA channel ch once it is no longer busy."""
        b = R.QEPC_DMA_BASE(ch)

        def ended():
            st = self.reg(b + R.QEPC_DMA_STATUS)
            return st if R.QEPC_DMA_STATE(st) != R.QEPC_DMA_BUSY else None
        st = wait_until(ended, timeout, 'DMA channel %d to finish' % ch)
        return R.QEPC_DMA_STATE(st), R.QEPC_DMA_ERR(st)

    def map_window(self, n, off, size, pci):
        base = R.QEPC_WIN_BASE(n)
        self.set_reg(base + R.QEPC_WIN_CTRL, 0)
        for o, v in ((R.QEPC_WIN_OFF_LO, off), (R.QEPC_WIN_SIZE_LO, size),
                     (R.QEPC_WIN_PCI_LO, pci)):
            self.set_reg(base + o, v & 0xffffffff)
            self.set_reg(base + o + 4, v >> 32)
        self.set_reg(base + R.QEPC_WIN_CTRL, R.QEPC_WIN_ENABLE)
        return self.reg(base + R.QEPC_WIN_CTRL)

    def start(self):
        self.set_reg(R.QEPC_CTRL, R.QEPC_CTRL_START)

    def stop(self):
        self.set_reg(R.QEPC_CTRL, 0)

    def status(self):
        return self.reg(R.QEPC_STATUS)

    def wait_status(self, bit, what, timeout=10, on=True):
        return wait_until(lambda: bool(self.status() & bit) == on, timeout, what)

    def raise_irq(self, kind, vec=0):
        self.set_reg(R.QEPC_IRQ_RAISE, kind | vec << 16)

    def standard_function(self):
        """What pci-epf-test sets up: header, BAR0..5, MSI 32, MSI-X 2048."""
        self.write_header()
        sizes = [0x10000, 0x80, 0x100000, 0x200000, 0x400, 0x100]
        for n, size in enumerate(sizes):
            assert self.set_bar(n, EPF_RAM + n * 0x200000, size), 'BAR%d' % n
        self.set_msi(5)
        self.set_msix(2048, 0, 0x8000, 0x10000 - 0x100)
        return sizes

class EpcVm(QTest, EpcDriver):
    """Guest 1 with qemu-epc: plays the EPC driver.  more: further qemu-epc
    devices ((socket, slot) pairs) in the same QEMU, programmed through
    EpcIn(vm, slot, regs, window)."""

    def __init__(self, sock, workdir, name='epc', props='', shared_ram=False, more=(),
                 chardev=False):
        """chardev: the first qemu-epc takes its link from a -chardev
        socket listening on sock (chardev=), not from socket=."""
        extra = list(SHARED_RAM if shared_ram else ())
        if chardev:
            extra += ['-chardev', 'socket,id=link,path=%s,server=on,wait=off' % sock]
            devs = ['qemu-epc,chardev=link,addr=04.0%s' % props]
        else:
            devs = ['qemu-epc,socket=%s,addr=04.0%s' % (sock, props)]
        devs += ['qemu-epc,socket=%s,addr=%02x.0%s' % (o, slot, props) for o, slot in more]
        super().__init__(name, devs, workdir, extra=extra)
        self.sock_path = sock
        self.setup_pci()


class EpcIn(EpcDriver):
    """Another qemu-epc of an EpcVm's QEMU, in slot `slot`."""

    def __init__(self, vm, slot, regs, window):
        self.vm = vm
        self.devfn = slot << 3
        self.regs = regs
        self.window = window
        self.setup_pci()

    def __getattr__(self, name):
        return getattr(self.vm, name)


class BridgeVm(QTest):
    """Guest 2 with epf-bridge: plays the host's PCI core and driver."""

    def __init__(self, sock, workdir, name='bridge', props='', shared_ram=False,
                 iommu=False, functions=1, firmware=None):
        """iommu: an intel-iommu in front of the bridge (DMA translation
        off until the test turns it on).  functions: that many bridges at
        04.0 (multifunction=on), 04.1, ..., showing the controller's
        functions 0, 1, ...; self.devfn picks the one the methods use.
        firmware: a -bios image its vCPU runs (TCG) while the test drives
        the devices."""
        if functions == 1:
            bridges = ['epf-bridge,socket=%s,addr=04.0%s' % (sock, props)]
        else:
            bridges = ['epf-bridge,socket=%s,addr=04.%d%s%s'
                       % (sock, k, ',multifunction=on' if k == 0 else '', props)
                       for k in range(functions)]
        self.devfn = DEVFN
        extra = list(SHARED_RAM if shared_ram else ())
        if firmware:
            extra += ['-bios', firmware]
        super().__init__(name, (['intel-iommu'] if iommu else []) + bridges,
                         workdir, extra=extra, accel='tcg' if firmware else 'qtest')

    def cfg(self, off, size=4):
        return self.cfg_read(self.devfn, off, size)

    def set_cfg(self, off, val, size=4):
        self.cfg_write(self.devfn, off, val, size)

    def wait_present(self, timeout=10):
        return wait_until(lambda: self.cfg(0, 2) != 0xffff, timeout,
                          'the function to appear in guest 2 config space')

    def size_bars(self):
        """Size every BAR as a host does: write all-ones, read the mask."""
        sizes, n = {}, 0
        while n < 6:
            off = 0x10 + 4 * n
            old = self.cfg(off)
            self.set_cfg(off, 0xffffffff)
            mask = self.cfg(off)
            is64 = (mask & 0x7) == 0x4
            if is64:
                self.set_cfg(off + 4, 0xffffffff)
                mask |= self.cfg(off + 4) << 32
                self.set_cfg(off + 4, 0)
            self.set_cfg(off, old)
            if mask & 1:
                size = (~(mask & ~3) & 0xffff) + 1
            elif mask:
                size = (~(mask & ~0xf) & (0xffffffffffffffff if is64 else 0xffffffff)) + 1
            else:
                size = 0
            if size:
                sizes[n] = (size, mask & (0x1 if mask & 1 else 0xf))
            n += 2 if is64 else 1
        return sizes

    def assign_bars(self, sizes, base=HOST_BAR_BASE, io=0xc000):
        """Place memory BARs naturally aligned from base, I/O at io."""
        addr, placed = base, {}
        for n, (size, flags) in sorted(sizes.items(), key=lambda x: -x[1][0]):
            if flags & 1:
                self.set_cfg(0x10 + 4 * n, io)
                placed[n] = io
                io += max(size, 0x100)
                continue
            addr = (addr + size - 1) & ~(size - 1)
            self.set_cfg(0x10 + 4 * n, addr & 0xffffffff)
            if (flags & 0x6) == 0x4:
                self.set_cfg(0x14 + 4 * n, addr >> 32)
            placed[n] = addr
            addr += size
        cmd = MEM | BME | (1 if any(f & 1 for _, f in sizes.values()) else 0)
        self.set_cfg(PCI_COMMAND, cmd, 2)
        return placed

    def find_cap(self, cap_id):
        p = self.cfg(0x34, 1)
        while p:
            if self.cfg(p, 1) == cap_id:
                return p
            p = self.cfg(p + 1, 1)
        return 0
