/*
 * qemu-epc: BAR0, the register file guest 1's driver programs
 * (docs/qemu-epc.md, qemu-epc-regs.h).  BAR0 is a region of its own, the
 * common registers, with a subregion over each block of registers that one
 * model owns: the BARs' kinds and descriptors and the inbound entries
 * (epc-bars.c), the outbound windows (epc-windows.c) and the DMA channels
 * (epc-dma.c, which adds its block itself).  An address no block claims
 * falls to the common registers, which log it as unknown.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu-epc-int.h"
#include QEP_TRACE_H

/* ---- what no register is ------------------------------------------------ */

static uint64_t epc_reg_unknown(hwaddr addr)
{
    qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: read of unknown register "
                  "0x%" HWADDR_PRIx "\n", addr);
    return 0;
}

static void epc_reg_bad_write(hwaddr addr, uint32_t val)
{
    qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: write 0x%x to read-only or "
                  "unknown register 0x%" HWADDR_PRIx "\n", val, addr);
}

/* ---- common registers --------------------------------------------------- */

static uint32_t epc_status(EpcFunc *f)
{
    uint32_t st = 0;
    uint16_t cmd;

    if (qep_link_up(&f->link)) {
        st |= QEPC_STATUS_PEER;
    }
    if (f->unmapping) {
        st |= QEPC_STATUS_UNMAPPING;
    }
    if (!f->link_up) {
        return st;
    }
    cmd = epc_cfg_command(&f->cfg);
    st |= QEPC_STATUS_LINK_UP;
    st |= cmd & 0x1 ? QEPC_STATUS_IO_EN : 0;
    st |= cmd & 0x2 ? QEPC_STATUS_MEM_EN : 0;
    st |= cmd & 0x4 ? QEPC_STATUS_BME : 0;
    st |= cmd & 0x400 ? QEPC_STATUS_INTX_DIS : 0;
    st |= epc_cfg_msi_enabled(&f->cfg) ? QEPC_STATUS_MSI_EN : 0;
    st |= epc_cfg_msix_ctrl(&f->cfg) & 0x8000 ? QEPC_STATUS_MSIX_EN : 0;
    st |= epc_cfg_msix_ctrl(&f->cfg) & 0x4000 ? QEPC_STATUS_MSIX_MASK : 0;
    return st;
}

static uint64_t epc_reg_read(void *opaque, hwaddr addr, unsigned size)
{
    QemuEpcState *s = opaque;
    EpcFunc *f = &s->fn[s->func_sel];

    switch (addr) {
    case QEPC_MAGIC:
        return QEPC_MAGIC_VALUE;
    case QEPC_VERSION:
        return QEPC_REGS_VERSION;
    case QEPC_CAPS:
        return QEPC_NUM_WINDOWS | QEPC_NUM_BARS << 8 | QEPC_CAPS_MSI |
               QEPC_CAPS_MSIX | QEPC_CAPS_INTX | QEPC_CAPS_LINKUP_IRQ |
               QEPC_CAPS_DMA | QEPC_CAPS_SUBRANGE | QEPC_CAPS_DOORBELL |
               (s->mhi_on ? QEPC_CAPS_MHI : 0);
    case QEPC_WIN_ALIGN:
        return EPC_WIN_ALIGN;
    case QEPC_CTRL:
        return s->ctrl;
    case QEPC_STATUS:
        return epc_status(f);
    case QEPC_IRQ_STATUS:
        return s->irq_status;
    case QEPC_IRQ_ENABLE:
        return s->irq_enable;
    case QEPC_ERROR:
        return s->error;
    case QEPC_INBOUND_COUNT:
        return f->bars.n_ib;
    case QEPC_FUNC_SEL:
        return s->func_sel;
    case QEPC_NUM_FUNCS:
        return s->functions;
    case QEPC_DOORBELL:
        return 0;
    case QEPC_DOORBELL_DATA:
        return s->doorbell_data;
    case QEPC_HDR_ID:
        return f->hdr_id;
    case QEPC_HDR_CLASS:
        return f->hdr_class;
    case QEPC_HDR_SUBSYS:
        return f->hdr_subsys;
    case QEPC_HDR_INTPIN:
        return f->hdr_intpin;
    case QEPC_MSI_CFG:
        return f->msi_cfg;
    case QEPC_MSI_CTRL:
        return f->link_up ? epc_cfg_msi_ctrl(&f->cfg) : 0;
    case QEPC_MSI_ADDR_LO:
        return f->link_up ? (uint32_t)epc_cfg_msi_addr(&f->cfg) : 0;
    case QEPC_MSI_ADDR_HI:
        return f->link_up ? epc_cfg_msi_addr(&f->cfg) >> 32 : 0;
    case QEPC_MSI_DATA:
        return f->link_up ? epc_cfg_msi_data(&f->cfg) : 0;
    case QEPC_MSIX_CFG:
        return f->msix_cfg;
    case QEPC_MSIX_TABLE:
        return f->msix_table;
    case QEPC_MSIX_PBA:
        return f->msix_pba;
    case QEPC_MSIX_CTRL:
        return f->link_up ? epc_cfg_msix_ctrl(&f->cfg) : 0;
    }
    return epc_reg_unknown(addr);
}

static void epc_reg_write(void *opaque, hwaddr addr, uint64_t val64,
                          unsigned size)
{
    QemuEpcState *s = opaque;
    EpcFunc *f = &s->fn[s->func_sel];
    uint32_t val = val64;

    switch (addr) {
    case QEPC_CTRL:
        epc_start(s, val & QEPC_CTRL_START);
        return;
    case QEPC_IRQ_STATUS:
        s->irq_status &= ~val;
        epc_update_irq(s, 0);
        return;
    case QEPC_IRQ_ENABLE:
        s->irq_enable = val & QEPC_IRQ_ALL;
        epc_update_irq(s, s->irq_status);
        return;
    case QEPC_ERROR:
        s->error = 0;
        return;
    case QEPC_FUNC_SEL:
        if (val >= s->functions) {
            epc_error(s, QEPC_ERR_FUNC, "FUNC_SEL %u: the controller has %u "
                      "function(s)", val, s->functions);
            return;
        }
        s->func_sel = val;
        return;
    case QEPC_HDR_ID:
        f->hdr_id = val;
        return;
    case QEPC_HDR_CLASS:
        f->hdr_class = val;
        return;
    case QEPC_HDR_SUBSYS:
        f->hdr_subsys = val;
        return;
    case QEPC_HDR_INTPIN:
        f->hdr_intpin = val & 7;
        return;
    case QEPC_MSI_CFG:
        f->msi_cfg = val & (QEPC_MSI_CFG_PRESENT | 7);
        return;
    case QEPC_MSIX_CFG:
        f->msix_cfg = val & 0xfff;
        return;
    case QEPC_MSIX_TABLE:
        f->msix_table = val;
        return;
    case QEPC_MSIX_PBA:
        f->msix_pba = val;
        return;
    case QEPC_IRQ_RAISE:
        epc_raise(f, val);
        return;
    case QEPC_DOORBELL:
        epc_doorbell(s, val);
        return;
    }
    epc_reg_bad_write(addr, val);
}

static const MemoryRegionOps epc_reg_ops = {
    .read = epc_reg_read,
    .write = epc_reg_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

/* ---- BAR kinds and descriptors, inbound entries (epc-bars.c) ------------ */

/* A BAR descriptor was committed: report a layout the host cannot see. */
static void epc_bar_committed(EpcFunc *f, int n)
{
    const EpcBarMap *b = &f->bars.bar[n];

    if (f->link_up && (b->flags & QEPC_BAR_ENABLE) &&
        (b->size != f->cfg.p.bar[n].size ||
         (b->flags & 0xf) != f->cfg.p.bar[n].flags)) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: BAR%d layout changed with "
                      "the link up: takes effect at the next start\n", n);
    }
}

/* both blocks, at their BAR0 offset @addr */
static uint64_t epc_bars_reg_read(QemuEpcState *s, hwaddr addr)
{
    EpcFunc *f = &s->fn[s->func_sel];
    uint32_t val;

    if (epc_bars_read(&f->bars, addr, &val)) {
        return val;
    }
    if (addr >= QEPC_BAR_BASE(0) && addr < QEPC_BAR_BASE(QEPC_NUM_BARS)) {
        int n = (addr - QEPC_BAR_BASE(0)) / 0x20;
        uint64_t host = f->link_up ? epc_cfg_bar_addr(&f->cfg, n) : 0;

        switch (addr & 0x1f) {
        case QEPC_BAR_HOST_LO:
            return (uint32_t)host;
        case QEPC_BAR_HOST_HI:
            return host >> 32;
        }
        return 0;
    }
    return epc_reg_unknown(addr);
}

static void epc_bars_reg_write(QemuEpcState *s, hwaddr addr, uint32_t val)
{
    EpcFunc *f = &s->fn[s->func_sel];
    const char *why;
    int err, bar;

    if (addr >= QEPC_BAR_BASE(0) && addr < QEPC_BAR_BASE(QEPC_NUM_BARS) &&
        (addr & 0x1f) == QEPC_BAR_FLAGS && f->link_up &&
        !epc_bar_withdraw(f, (addr - QEPC_BAR_BASE(0)) / 0x20)) {
        /* the host stops using the old mapping before it changes */
        epc_error(s, QEPC_ERR_BAR, "function %u BAR%d: FLAGS write refused: "
                  "the host has %d direct mappings still to drop (wait for "
                  "STATUS.UNMAPPING to clear)", f->n,
                  (int)((addr - QEPC_BAR_BASE(0)) / 0x20), EPC_MAX_UNMAPPING);
        return;
    }
    err = epc_bars_write(&f->bars, addr, val, &why, &bar);
    if (bar >= 0) {
        epc_bar_announce(f, bar);      /* the new mapping, or the old one */
    }
    if (err > 0) {
        if (bar >= 0) {
            epc_error(s, err, "function %u BAR%d: size 0x%" PRIx64 " flags "
                      "0x%x submap 0x%x rejected: %s", f->n, bar,
                      f->bars.staged[bar].size, val,
                      QEPC_SUBMAP(f->bars.staged[bar].sub_first,
                                  (uint32_t)f->bars.staged[bar].sub_count),
                      why);
        } else {
            epc_error(s, err, "register 0x%" HWADDR_PRIx ": %s", addr, why);
        }
    } else if (err == 0) {
        if (bar >= 0) {
            epc_bar_committed(f, bar);
        }
    } else {
        epc_reg_bad_write(addr, val);
    }
}

static uint64_t epc_bar_regs_read(void *opaque, hwaddr off, unsigned size)
{
    return epc_bars_reg_read(opaque, QEPC_BAR_KIND(0) + off);
}

static void epc_bar_regs_write(void *opaque, hwaddr off, uint64_t val,
                               unsigned size)
{
    epc_bars_reg_write(opaque, QEPC_BAR_KIND(0) + off, val);
}

static uint64_t epc_ib_regs_read(void *opaque, hwaddr off, unsigned size)
{
    return epc_bars_reg_read(opaque, QEPC_IB_BASE(0) + off);
}

static void epc_ib_regs_write(void *opaque, hwaddr off, uint64_t val,
                              unsigned size)
{
    epc_bars_reg_write(opaque, QEPC_IB_BASE(0) + off, val);
}

static const MemoryRegionOps epc_bar_regs_ops = {
    .read = epc_bar_regs_read,
    .write = epc_bar_regs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

static const MemoryRegionOps epc_ib_regs_ops = {
    .read = epc_ib_regs_read,
    .write = epc_ib_regs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

/* ---- outbound window descriptors (epc-windows.c) ------------------------ */

static uint64_t epc_win_regs_read(void *opaque, hwaddr off, unsigned size)
{
    QemuEpcState *s = opaque;
    hwaddr addr = QEPC_WIN_BASE(0) + off;
    uint32_t val;

    return epc_windows_read(&s->wins, addr, &val) ? val
                                                  : epc_reg_unknown(addr);
}

static void epc_win_regs_write(void *opaque, hwaddr off, uint64_t val64,
                               unsigned size)
{
    QemuEpcState *s = opaque;
    hwaddr addr = QEPC_WIN_BASE(0) + off;
    uint32_t val = val64;
    const char *why;
    int err, win;

    err = epc_windows_write(&s->wins, addr, val, &why, &win);
    if (win >= 0) {
        const EpcWin *w = &s->wins.win[win];

        trace_qemu_epc_window(win, w->offset, w->size, w->pci_addr, w->ctrl);
        epc_windows_update(s);
    }
    if (err > 0) {
        int n = off / 0x20;
        const EpcWin *w = &s->wins.win[n];

        epc_error(s, err, "window %d: offset 0x%" PRIx64 " size 0x%" PRIx64
                  " host 0x%" PRIx64 ", %s", n, w->offset, w->size,
                  w->pci_addr, why);
    } else if (err < 0) {
        epc_reg_bad_write(addr, val);
    }
}

static const MemoryRegionOps epc_win_regs_ops = {
    .read = epc_win_regs_read,
    .write = epc_win_regs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

/* ---- BAR0 put together -------------------------------------------------- */

void epc_regs_init(QemuEpcState *s)
{
    Object *o = OBJECT(s);

    memory_region_init_io(&s->regs, o, &epc_reg_ops, s, "qemu-epc-regs",
                          QEPC_REGS_SIZE);
    memory_region_init_io(&s->bar_regs, o, &epc_bar_regs_ops, s,
                          "qemu-epc-bar-regs",
                          QEPC_BAR_BASE(QEPC_NUM_BARS) - QEPC_BAR_KIND(0));
    memory_region_add_subregion(&s->regs, QEPC_BAR_KIND(0), &s->bar_regs);
    memory_region_init_io(&s->ib_regs, o, &epc_ib_regs_ops, s,
                          "qemu-epc-inbound-regs",
                          QEPC_IB_BASE(QEPC_MAX_INBOUND) - QEPC_IB_BASE(0));
    memory_region_add_subregion(&s->regs, QEPC_IB_BASE(0), &s->ib_regs);
    memory_region_init_io(&s->win_regs, o, &epc_win_regs_ops, s,
                          "qemu-epc-window-regs",
                          QEPC_WIN_BASE(QEPC_NUM_WINDOWS) - QEPC_WIN_BASE(0));
    memory_region_add_subregion(&s->regs, QEPC_WIN_BASE(0), &s->win_regs);
}
