/*
 * qemu-epc: what the host sends: config requests answered from the function's
 * config space, memory and I/O requests routed through its BARs into
 * guest-1 memory, resets, and the link's connection events.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu-epc-int.h"
#include QEP_TRACE_H

/* ---- requests from the host ---------------------------------------------- */

/* a config write whose completion waits until guest 1's vCPUs let go */
typedef struct EpcCfgConfirm {
    EpcFunc *f;
    uint64_t generation;
    struct qep_hdr req;
} EpcCfgConfirm;

static void epc_cfg_confirm(void *opaque)
{
    EpcCfgConfirm *cc = opaque;
    EpcFunc *f = cc->f;

    if (qep_link_generation(&f->link) == cc->generation) {
        qep_link_complete(&f->link, &cc->req, QEP_CPL_SC, NULL, 0);
    }
    g_free(cc);
}

static void epc_handle_cfg(EpcFunc *f, const struct qep_msg *m)
{
    QemuEpcState *s = f->s;
    unsigned ev;
    bool bme;
    uint8_t data[4];

    if (!f->link_up) {
        qep_link_complete(&f->link, &m->hdr, QEP_CPL_UR, NULL, 0);
        return;
    }
    if (m->hdr.type == QEP_MSG_CFG_READ) {
        stl_le_p(data, epc_cfg_read(&f->cfg, m->u.cfg.offset, m->u.cfg.len));
        qep_link_complete(&f->link, &m->hdr, QEP_CPL_SC, data, m->u.cfg.len);
        return;
    }
    bme = epc_cfg_command(&f->cfg) & PCI_COMMAND_MASTER;
    ev = epc_cfg_write(&f->cfg, m->u.cfg.offset, m->u.cfg.len, m->u.cfg.data);
    trace_qemu_epc_host_cfg_write(f->n, m->u.cfg.offset, m->u.cfg.len,
                                  m->u.cfg.data);
    /*
     * Bus mastering off: no direct window once the write completes, that
     * is once no vCPU of guest 1 can still reach the host's RAM through it
     */
    if ((ev & EPC_CFG_EV_COMMAND) && epc_windows_update(s)) {
        EpcCfgConfirm *cc = g_new0(EpcCfgConfirm, 1);

        cc->f = f;
        cc->generation = qep_link_generation(&f->link);
        cc->req = m->hdr;
        qep_after_unmap(epc_cfg_confirm, cc);
    } else {
        qep_link_complete(&f->link, &m->hdr, QEP_CPL_SC, NULL, 0);
    }
    if (ev & (EPC_CFG_EV_COMMAND | EPC_CFG_EV_MSI | EPC_CFG_EV_MSIX)) {
        epc_event(s, QEPC_IRQ_HOST_CFG |
                  (!bme && (epc_cfg_command(&f->cfg) & PCI_COMMAND_MASTER) ?
                   QEPC_IRQ_BME_SET : 0));
    }
}

/*
 * An inbound access whose target is the controller's own register BAR: only
 * the doorbell is reachable there (the EPF maps a BAR onto it, as on real
 * controllers); anything else would let the host program the controller.
 */
static MemTxResult epc_inbound_regs(QemuEpcState *s, uint64_t off, bool write,
                                    const uint8_t *wdata, uint8_t *rdata,
                                    uint32_t len)
{
    if (off != QEPC_DOORBELL || len != 4) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: host %s of %u bytes at "
                      "controller register 0x%" PRIx64 " refused: only the "
                      "doorbell is reachable\n", write ? "write" : "read",
                      len, off);
        return MEMTX_ERROR;
    }
    if (write) {
        epc_doorbell(s, ldl_le_p(wdata));
    } else {
        memset(rdata, 0, len);
    }
    return MEMTX_OK;
}

/*
 * Would a host access that the function maps to guest-1 address @addr go
 * out again on the same function's link (through an outbound window of its
 * own)?  Served, it becomes a request to the same host, which may route it
 * back here: a loop.  (A window of another function is another link.)
 */
static bool epc_inbound_loops(EpcFunc *f, uint64_t addr, uint32_t len)
{
    QemuEpcState *s = f->s;
    pcibus_t win = pci_get_bar_addr(PCI_DEVICE(s), QEPC_WINDOW_BAR);

    if (win == PCI_BAR_UNMAPPED || addr + len <= win ||
        addr >= win + s->window_size) {
        return false;
    }
    for (int i = 0; i < QEPC_NUM_WINDOWS; i++) {
        const EpcWin *w = &s->wins.win[i];
        uint64_t off = addr - win;

        if (epc_win_enabled(w) && epc_win_func(w) == f->n &&
            off < w->offset + w->size && w->offset < off + len) {
            return true;
        }
    }
    return false;
}

/* Host access at offset @off of BAR @bar: guest-1 memory, piece by piece. */
static MemTxResult epc_inbound_rw(EpcFunc *f, int bar, uint64_t off,
                                  bool write, const uint8_t *wdata,
                                  uint8_t *rdata, uint32_t len)
{
    QemuEpcState *s = f->s;
    PCIDevice *pdev = PCI_DEVICE(s);
    pcibus_t regs = pci_get_bar_addr(pdev, QEPC_REG_BAR);
    pcibus_t mhi = s->mhi_on ? pci_get_bar_addr(pdev, QEPC_MHI_BAR)
                             : PCI_BAR_UNMAPPED;

    while (len) {
        uint64_t addr, avail;
        uint32_t n;
        MemTxResult r;

        if (!epc_bars_translate(&f->bars, bar, off, &addr, &avail)) {
            return MEMTX_DECODE_ERROR;
        }
        n = MIN(len, avail);
        if (regs != PCI_BAR_UNMAPPED && addr >= regs &&
            addr - regs < QEPC_REGS_SIZE) {
            r = epc_inbound_regs(s, addr - regs, write, wdata, rdata, n);
        } else if (mhi != PCI_BAR_UNMAPPED && addr >= mhi &&
                   addr - mhi < QEPC_MHI_SIZE) {
            n = MIN(n, QEPC_MHI_SIZE - (addr - mhi));
            r = epc_inbound_mhi(s, addr - mhi, write, wdata, rdata, n);
        } else if (epc_inbound_loops(f, addr, n)) {
            qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: host %s of BAR%d at "
                          "0x%" PRIx64 " refused: its inbound mapping points "
                          "at function %u's own outbound window, which leads "
                          "back to the host: a loop\n",
                          write ? "write" : "read", bar, off, f->n);
            return MEMTX_ERROR;
        } else {
            r = qep_pci_dma_rw(pdev, addr, write, wdata, rdata, n);
        }
        if (r != MEMTX_OK) {
            return r;
        }
        off += n;
        len -= n;
        if (write) {
            wdata += n;
        } else {
            rdata += n;
        }
    }
    return MEMTX_OK;
}

static void epc_handle_mem(EpcFunc *f, const struct qep_msg *m)
{
    bool io = m->hdr.type == QEP_MSG_IO_READ || m->hdr.type == QEP_MSG_IO_WRITE;
    bool write = m->data != NULL;
    uint8_t data[QEP_MAX_DATA];
    uint64_t off;
    int bar = f->link_up ? epc_cfg_bar_match(&f->cfg, io, m->u.mem.addr,
                                             m->u.mem.len, &off) : -1;
    MemTxResult r;

    if (bar < 0) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: host %s at 0x%" PRIx64
                      " hits no enabled BAR\n", qep_type_name(m->hdr.type),
                      m->u.mem.addr);
        if (qep_needs_completion(&m->hdr)) {
            qep_link_complete(&f->link, &m->hdr, QEP_CPL_UR, NULL, 0);
        }
        return;
    }
    trace_qemu_epc_inbound(f->n, bar, off, m->u.mem.len, write);
    r = epc_inbound_rw(f, bar, off, write, m->data, data, m->u.mem.len);
    qep_link_complete_mem(&f->link, m, r, data);
    if (r != MEMTX_OK && !qep_needs_completion(&m->hdr)) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: host write to BAR%d offset "
                      "0x%" PRIx64 " failed: %s\n", bar, off,
                      r == MEMTX_DECODE_ERROR ? "no inbound mapping"
                                              : "guest-1 memory error");
    }
}

/*
 * The host reset the function (conventional reset): its host-writable config
 * state (command, BARs, MSI and MSI-X control) returns to reset values, as
 * the host's copy did.  What guest 1 set up (header, BAR sizes, inbound
 * mappings) stays.
 */
static void epc_host_reset(EpcFunc *f)
{
    EpcCfgParams p;

    if (!f->link_up) {
        return;
    }
    /* what the link came up with: the host rebuilds from the same */
    p = f->cfg.p;
    epc_cfg_build(&f->cfg, &p);
    epc_windows_update(f->s);           /* bus mastering is off now */
    epc_event(f->s, QEPC_IRQ_HOST_CFG);
}

static void epc_handle(void *opaque, const struct qep_msg *m)
{
    EpcFunc *f = opaque;

    switch (m->hdr.type) {
    case QEP_MSG_CFG_READ:
    case QEP_MSG_CFG_WRITE:
        epc_handle_cfg(f, m);
        break;
    case QEP_MSG_MEM_READ:
    case QEP_MSG_MEM_WRITE:
    case QEP_MSG_IO_READ:
    case QEP_MSG_IO_WRITE:
        epc_handle_mem(f, m);
        break;
    case QEP_MSG_RESET:
        epc_host_reset(f);
        break;
    default:
        /* INTX, LINK and MAP flow from the endpoint, never to it */
        qep_link_disconnect(&f->link, "protocol error: host sent a message "
                            "only an endpoint may send");
    }
}

static void epc_connected(void *opaque)
{
    epc_link_update(opaque);
}

static void epc_disconnected(void *opaque)
{
    epc_link_update(opaque);
}

static void epc_peer_ram_changed(void *opaque)
{
    EpcFunc *f = opaque;

    epc_windows_update(f->s);
}

static void epc_own_ram_changed(void *opaque)
{
    EpcFunc *f = opaque;

    for (int i = 0; i < QEPC_NUM_BARS; i++) {
        epc_bar_announce(f, i);
    }
}

const QepLinkOps epc_link_ops = {
    .handle = epc_handle,
    .connected = epc_connected,
    .disconnected = epc_disconnected,
    .peer_ram_changed = epc_peer_ram_changed,
    .own_ram_changed = epc_own_ram_changed,
};
