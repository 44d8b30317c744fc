/*
 * epf-bridge: the remote endpoint function as guest 2 (the host) sees it.
 *
 * Config space reads and writes go to qemu-epc, which holds the function's
 * config space; a local copy of the command register, BARs and interrupt pin
 * is kept so that QEMU maps the BARs, gates bus mastering and routes INTx.
 * BAR accesses become memory/I/O requests; the endpoint's memory requests
 * (outbound windows, MSI and MSI-X messages) are executed as this device's
 * PCI DMA.  While the link is down the function reads as absent.
 *
 *   -device epf-bridge,socket=PATH|chardev=ID[,timeout-ms=300]
 *                     [,reconnect-ms=500]
 *                     [,function=K]
 *
 * Function K of a qemu-epc with functions=N is reached at PATH (K = 0) or
 * PATH.K; K defaults to this device's own PCI function number, so
 *   -device epf-bridge,socket=S,addr=04.0,multifunction=on
 *   -device epf-bridge,socket=S,addr=04.1
 * shows functions 0 and 1 of the controller as one multi-function device.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "epc-qemu-compat.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qom/object.h"
#include "hw/core/cpu.h"
#include "hw/qdev-properties-system.h"

#include "epc-link.h"
#include "epc-cfgspace.h"
#include "epc-direct.h"
#include "epc-module.h"
#include "qemu-epc-regs.h"
#include QEP_TRACE_H

#define TYPE_EPF_BRIDGE "epf-bridge"
OBJECT_DECLARE_SIMPLE_TYPE(EpfBridgeState, EPF_BRIDGE)

typedef struct BridgeBar {
    EpfBridgeState *s;
    int n;
    MemoryRegion mr;
    /* the parts the endpoint lets us map onto its shared RAM (MAP) */
    int npieces;
    struct qep_map_piece pieces[QEP_MAP_MAX];
    QepDirect direct[QEP_MAP_MAX];
} BridgeBar;

struct EpfBridgeState {
    PCIDevice parent_obj;

    QepLink link;
    BridgeBar bar[QEP_NUM_BARS];
    bool present;            /* LINK up received: the function exists */
    /*
     * With CFG_STATE (an endpoint of protocol 1.3): the function's config
     * space, built from the parameters LINK up carried, as the endpoint
     * builds its own; every host write goes to both, so config accesses
     * never wait for the endpoint.  Without, they are requests to it.
     */
    bool mirror;
    EpcCfgParams params;
    EpcCfgSpace cfg;
    /*
     * Config writes of QEMU itself (reset, qtest) still to send, in order:
     * every request slot of the link was taken when they came
     */
    GQueue cfg_backlog;

    /* properties */
    char *socket;
    QepCharFe chr;         /* chardev=: instead of socket= */
    int32_t function;        /* -1: PCI_FUNC of our address */
    char *path;              /* what we connect to: socket or socket.K */
    uint32_t timeout_ms;
    uint32_t reconnect_ms;
    bool shmem;
    char *capture_path;
    uint64_t capture_limit;
    char *inject;            /* inject= */
    QepCapture *capture;     /* capture= */
};

/* where the link goes, for messages */
static const char *bridge_where(EpfBridgeState *s)
{
    return s->path ? s->path : "chardev";
}

/* ---- BAR accesses from guest 2 ------------------------------------------- */

static bool bar_is_io(BridgeBar *b)
{
    return b->s->parent_obj.io_regions[b->n].type & PCI_BASE_ADDRESS_SPACE_IO;
}

static uint64_t bridge_bar_read(void *opaque, hwaddr off, unsigned size)
{
    BridgeBar *b = opaque;
    EpfBridgeState *s = b->s;
    uint64_t val;
    int st;

    if (!s->present) {
        return UINT64_MAX;
    }
    trace_epf_bridge_bar_access("read", b->n, off, size);
    val = qep_link_read(&s->link,
                        bar_is_io(b) ? QEP_MSG_IO_READ : QEP_MSG_MEM_READ,
                        pci_get_bar_addr(PCI_DEVICE(s), b->n) + off, size, &st);
    if (st > 0) {
        qemu_log_mask(LOG_GUEST_ERROR, "epf-bridge: BAR%d read at 0x%"
                      HWADDR_PRIx ": %s\n", b->n, off,
                      st == QEP_CPL_UR ? "unsupported request"
                                       : "completer abort");
    }
    return val;
}

static void bridge_bar_write(void *opaque, hwaddr off, uint64_t val,
                             unsigned size)
{
    BridgeBar *b = opaque;
    EpfBridgeState *s = b->s;

    if (!s->present) {
        return;
    }
    /* I/O writes are non-posted: qep_link_write() waits for those */
    if (!bar_is_io(b) && !qep_link_credit(&s->link, NULL)) {
        qemu_log_mask(LOG_GUEST_ERROR, "epf-bridge: BAR%d write at 0x%"
                      HWADDR_PRIx " dropped: the endpoint does not take "
                      "writes in\n", b->n, off);
        return;
    }
    trace_epf_bridge_bar_access("write", b->n, off, size);
    qep_link_write(&s->link,
                   bar_is_io(b) ? QEP_MSG_IO_WRITE : QEP_MSG_MEM_WRITE,
                   pci_get_bar_addr(PCI_DEVICE(s), b->n) + off, size, val);
}

static const MemoryRegionOps bridge_bar_ops = {
    .read = bridge_bar_read,
    .write = bridge_bar_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

/* ---- direct BAR pieces --------------------------------------------------- */

/*
 * Map the pieces of BAR @b that the endpoint offered onto its RAM, where
 * that RAM is one we mapped and the piece is whole pages inside the BAR;
 * the rest of the BAR goes through messages.
 */
static bool bridge_bar_apply(BridgeBar *b)
{
    uint64_t page = qemu_real_host_page_size();
    uint64_t size = b->s->present ? memory_region_size(&b->mr) : 0;

    bool removed = false;

    for (int i = 0; i < QEP_MAP_MAX; i++) {
        const struct qep_map_piece *p = &b->pieces[i];
        MemoryRegion *ram = NULL;
        uint64_t off = 0;

        if (i < b->npieces && !((p->offset | p->size | p->gpa) & (page - 1)) &&
            p->offset < size && p->size <= size - p->offset) {
            ram = qep_link_peer_mr(&b->s->link, p->gpa, p->size, &off);
        }
        if (ram) {
            qep_direct_set(&b->direct[i], OBJECT(b->s), &b->mr,
                           "epf-bridge-direct-bar", p->offset, p->size, ram,
                           off);
        } else {
            removed |= qep_direct_clear(&b->direct[i], &b->mr);
        }
    }
    return removed;
}

/* Forget every BAR's pieces: nothing is mapped directly any more. */
static bool bridge_bars_unmap(EpfBridgeState *s)
{
    bool removed = false;

    for (int i = 0; i < QEP_NUM_BARS; i++) {
        s->bar[i].npieces = 0;
        removed |= bridge_bar_apply(&s->bar[i]);
    }
    return removed;
}

/* a MAP whose completion waits until guest 2's vCPUs let go */
typedef struct BridgeMapConfirm {
    EpfBridgeState *s;
    uint64_t generation;
    struct qep_hdr req;
} BridgeMapConfirm;

static void bridge_map_confirm(void *opaque)
{
    BridgeMapConfirm *mc = opaque;
    EpfBridgeState *s = mc->s;

    if (qep_link_generation(&s->link) == mc->generation) {
        trace_epf_bridge_map_confirmed(mc->req.tag);
        qep_link_complete(&s->link, &mc->req, QEP_CPL_SC, NULL, 0);
    }
    g_free(mc);
}

static void bridge_handle_map(EpfBridgeState *s, const struct qep_msg *m)
{
    int bar = m->u.map.bar;
    bool removed;

    trace_epf_bridge_map(bar, m->u.map.count);
    if (bar == QEP_MAP_ALL_BARS) {
        removed = bridge_bars_unmap(s);
    } else {
        BridgeBar *b = &s->bar[bar];

        b->npieces = m->u.map.count;
        for (int i = 0; i < b->npieces; i++) {
            qep_map_piece(m, i, &b->pieces[i]);
        }
        removed = bridge_bar_apply(b);
    }
    if (!qep_needs_completion(&m->hdr)) {
        return;
    }
    /*
     * Confirm once the old mapping is gone from every vCPU's view: none
     * of guest 2's vCPUs reaches the endpoint's old memory after that
     */
    if (removed) {
        BridgeMapConfirm *mc = g_new0(BridgeMapConfirm, 1);

        mc->s = s;
        mc->generation = qep_link_generation(&s->link);
        mc->req = m->hdr;
        qep_after_unmap(bridge_map_confirm, mc);
    } else {
        qep_link_complete(&s->link, &m->hdr, QEP_CPL_SC, NULL, 0);
    }
}

static void bridge_peer_ram_changed(void *opaque)
{
    EpfBridgeState *s = opaque;

    for (int i = 0; i < QEP_NUM_BARS; i++) {
        bridge_bar_apply(&s->bar[i]);
    }
}

/*
 * Give the local copy the function's BAR layout.  The function comes up
 * from reset, so its BARs are unassigned and decoding is off: clearing the
 * local command register unmaps every BAR before the layout changes.
 */
static void bridge_set_layout(EpfBridgeState *s, const struct qep_link *l)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    bridge_bars_unmap(s);
    pci_default_write_config(pdev, PCI_COMMAND, 0, 2);
    for (int i = 0; i < QEP_NUM_BARS; i++) {
        PCIIORegion *r = &pdev->io_regions[i];
        const struct qep_bar_desc *d = &l->bar[i];

        pci_default_write_config(pdev, PCI_BASE_ADDRESS_0 + 4 * i, 0, 4);
        if (r->size == d->size && r->type == d->flags) {
            continue;
        }
        /* QEMU has no call to unregister a BAR; it is unmapped here */
        r->size = 0;
        r->type = 0;
        r->memory = NULL;
        pci_set_long(pdev->config + PCI_BASE_ADDRESS_0 + 4 * i, 0);
        pci_set_long(pdev->wmask + PCI_BASE_ADDRESS_0 + 4 * i, 0);
        if (!d->size) {
            continue;
        }
        memory_region_set_size(&s->bar[i].mr, d->size);
        pci_register_bar(pdev, i, d->flags, &s->bar[i].mr);
    }
    pdev->config[PCI_INTERRUPT_PIN] = l->intx_pin;
}

/* ---- requests from the endpoint ------------------------------------------ */

/* The BAR of the function's own that [addr, addr + len) touches, or -1. */
static int bridge_own_bar(EpfBridgeState *s, uint64_t addr, uint32_t len)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    for (int i = 0; i < QEP_NUM_BARS; i++) {
        pcibus_t base = pci_get_bar_addr(pdev, i);
        uint64_t size = pdev->io_regions[i].size;

        if (size && base != PCI_BAR_UNMAPPED &&
            !(pdev->io_regions[i].type & PCI_BASE_ADDRESS_SPACE_IO) &&
            addr < base + size && base < addr + len) {
            return i;
        }
    }
    return -1;
}

static void bridge_handle_mem(EpfBridgeState *s, const struct qep_msg *m)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool write = m->hdr.type == QEP_MSG_MEM_WRITE;
    bool master = pci_get_word(pdev->config + PCI_COMMAND) & PCI_COMMAND_MASTER;

    if (m->hdr.type != QEP_MSG_MEM_READ && !write) {
        qep_link_complete(&s->link, &m->hdr, QEP_CPL_UR, NULL, 0);  /* I/O */
        return;
    }
    if (!master || !s->present) {
        qemu_log_mask(LOG_GUEST_ERROR, "epf-bridge: endpoint %s at 0x%"
                      PRIx64 " with bus mastering disabled\n",
                      qep_type_name(m->hdr.type), m->u.mem.addr);
        if (qep_needs_completion(&m->hdr)) {
            qep_link_complete(&s->link, &m->hdr, QEP_CPL_UR, NULL, 0);
        }
        return;
    }
    if (bridge_own_bar(s, m->u.mem.addr, m->u.mem.len) >= 0) {
        /*
         * The function's own BAR: served, it would be a request to the
         * endpoint again, which could come back here: a loop
         */
        qemu_log_mask(LOG_GUEST_ERROR, "epf-bridge: endpoint %s at 0x%"
                      PRIx64 " hits the function's own BAR%d: refused, it "
                      "would loop back to the endpoint\n",
                      qep_type_name(m->hdr.type), m->u.mem.addr,
                      bridge_own_bar(s, m->u.mem.addr, m->u.mem.len));
        if (qep_needs_completion(&m->hdr)) {
            qep_link_complete(&s->link, &m->hdr, QEP_CPL_UR, NULL, 0);
        }
        return;
    }
    trace_epf_bridge_dma(qep_type_name(m->hdr.type), m->u.mem.addr,
                         m->u.mem.len);
    qep_link_serve_dma(&s->link, pdev, m, m->u.mem.addr);
}

/* INTx of the local copy; QEMU routes it by the local Interrupt Pin */
static void bridge_set_intx(EpfBridgeState *s, int level)
{
    if (PCI_DEVICE(s)->config[PCI_INTERRUPT_PIN]) {
        pci_set_irq(PCI_DEVICE(s), level);
    }
}

static void bridge_cfg_backlog_clear(EpfBridgeState *s);

static void bridge_link_down(EpfBridgeState *s)
{
    bridge_cfg_backlog_clear(s);
    bridge_bars_unmap(s);
    if (s->present) {
        s->present = false;
        bridge_set_intx(s, 0);
        info_report("epf-bridge: %s: link down, function absent",
                    bridge_where(s));
    }
}

/*
 * LINK up: with parameters (CFG_STATE), the config space as the endpoint
 * builds it.  False (and disconnected) if they do not make one.
 */
static bool bridge_set_mirror(EpfBridgeState *s, const struct qep_msg *m)
{
    const struct qep_link_cfg *c = &m->link_cfg;
    EpcCfgParams *p = &s->params;
    const char *why;

    s->mirror = m->has_link_cfg && qep_link_has(&s->link, QEP_FEAT_CFG_STATE);
    if (!s->mirror) {
        return true;
    }
    *p = (EpcCfgParams) {
        .hdr = {
            .vendor_id = c->vendor_id, .device_id = c->device_id,
            .revision = c->revision, .progif = c->progif,
            .subclass = c->subclass, .baseclass = c->baseclass,
            .subsys_vendor_id = c->subsys_vendor_id,
            .subsys_id = c->subsys_id, .intx_pin = m->u.link.intx_pin,
        },
        .msi_log2 = c->msi_log2, .msix_count = c->msix_count,
        .msix_table = c->msix_table, .msix_pba = c->msix_pba,
    };
    memcpy(p->bar, m->u.link.bar, sizeof(p->bar));
    why = epc_cfg_check(p);
    if (why) {
        g_autofree char *msg = g_strdup_printf("protocol error: LINK up with "
                                               "a function that cannot be: "
                                               "%s", why);

        s->mirror = false;
        qep_link_disconnect(&s->link, msg);
        return false;
    }
    epc_cfg_build(&s->cfg, p);
    return true;
}

static void bridge_handle(void *opaque, const struct qep_msg *m)
{
    EpfBridgeState *s = opaque;

    switch (m->hdr.type) {
    case QEP_MSG_MEM_READ:
    case QEP_MSG_MEM_WRITE:
    case QEP_MSG_IO_READ:
    case QEP_MSG_IO_WRITE:
        bridge_handle_mem(s, m);
        break;
    case QEP_MSG_INTX:
        trace_epf_bridge_intx(m->u.intx.pin, m->u.intx.assert);
        if (s->present &&
            m->u.intx.pin + 1 == PCI_DEVICE(s)->config[PCI_INTERRUPT_PIN]) {
            bridge_set_intx(s, m->u.intx.assert);
        } else {
            qemu_log_mask(LOG_GUEST_ERROR, "epf-bridge: INTx on pin %u "
                          "ignored\n", m->u.intx.pin);
        }
        break;
    case QEP_MSG_MAP:
        bridge_handle_map(s, m);
        break;
    case QEP_MSG_LINK:
        trace_epf_bridge_link(m->u.link.up);
        if (m->u.link.up) {
            if (!bridge_set_mirror(s, m)) {
                break;
            }
            bridge_set_intx(s, 0);
            bridge_set_layout(s, &m->u.link);
            s->present = true;
            info_report("epf-bridge: %s: link up, function present",
                        bridge_where(s));
        } else {
            bridge_link_down(s);
        }
        break;
    default:
        if (qep_needs_completion(&m->hdr)) {
            qep_link_complete(&s->link, &m->hdr, QEP_CPL_UR, NULL, 0);
        }
        qemu_log_mask(LOG_GUEST_ERROR, "epf-bridge: endpoint sent %s, which "
                      "only a host sends\n", qep_type_name(m->hdr.type));
    }
}

static void bridge_disconnected(void *opaque)
{
    bridge_link_down(opaque);
}

static const QepLinkOps bridge_link_ops = {
    .handle = bridge_handle,
    .disconnected = bridge_disconnected,
    .peer_ram_changed = bridge_peer_ram_changed,
};

/* ---- config space -------------------------------------------------------- */

static uint32_t bridge_cfg_read(PCIDevice *pdev, uint32_t addr, int len)
{
    EpfBridgeState *s = EPF_BRIDGE(pdev);
    uint32_t val = 0;

    if (!s->present) {
        return len == 4 ? UINT32_MAX : (1u << (8 * len)) - 1;
    }
    if (addr & (len - 1)) {                  /* split unaligned accesses */
        for (int i = 0; i < len; i++) {
            val |= bridge_cfg_read(pdev, addr + i, 1) << (8 * i);
        }
        return val;
    }
    if (s->mirror) {
        val = epc_cfg_read(&s->cfg, addr, len);
    } else {
        /* an endpoint without CFG_STATE: ask it, and wait */
        val = qep_link_read(&s->link, QEP_MSG_CFG_READ, addr, len, NULL);
    }
    trace_epf_bridge_cfg_read(addr, len, val);
    /*
     * The multi-function bit of the header type is the slot's business:
     * the host scans functions 1-7 only when function 0 has it.
     */
    if ((pdev->cap_present & QEMU_PCI_CAP_MULTIFUNCTION) &&
        addr <= PCI_HEADER_TYPE && addr + len > PCI_HEADER_TYPE &&
        val != UINT32_MAX) {
        val |= PCI_HEADER_TYPE_MULTI_FUNCTION << (8 * (PCI_HEADER_TYPE - addr));
    }
    return val;
}

/* at most this many config writes wait for a request slot (12 bytes each) */
#define BRIDGE_CFG_BACKLOG_MAX 65536

typedef struct BridgeCfgWrite {
    uint32_t addr, len, val;
} BridgeCfgWrite;

static void bridge_cfg_written(void *opaque, int status, const void *data,
                               uint32_t len);

static bool bridge_cfg_send(EpfBridgeState *s, const BridgeCfgWrite *w)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_cfg_req))];

    return qep_link_request_async(&s->link, buf,
                                  qep_enc_cfg_write(buf, 0, w->addr, w->len,
                                                    w->val),
                                  0, bridge_cfg_written, s) != 0;
}

static void bridge_cfg_backlog_clear(EpfBridgeState *s)
{
    BridgeCfgWrite *w;

    while ((w = g_queue_pop_head(&s->cfg_backlog))) {
        g_free(w);
    }
}

/* Send the waiting config writes, in order, while request slots are free. */
static void bridge_cfg_flush(EpfBridgeState *s)
{
    BridgeCfgWrite *w;

    while ((w = g_queue_peek_head(&s->cfg_backlog))) {
        if (!s->present || !qep_link_up(&s->link)) {
            bridge_cfg_backlog_clear(s);   /* the next link starts afresh */
            return;
        }
        if (!bridge_cfg_send(s, w)) {
            return;                 /* a completion will free a slot */
        }
        g_free(g_queue_pop_head(&s->cfg_backlog));
    }
}

/*
 * A config write of QEMU itself, which nobody waits for: sent now, or, when
 * every request slot of the link is taken (a burst of them while the
 * endpoint is slow to answer), after the ones before it as completions free
 * slots; never dropped while the link is up.
 */
static void bridge_cfg_post(EpfBridgeState *s, uint32_t addr, uint32_t len,
                            uint32_t val)
{
    BridgeCfgWrite w = { .addr = addr, .len = len, .val = val };

    bridge_cfg_flush(s);
    if (g_queue_is_empty(&s->cfg_backlog) && bridge_cfg_send(s, &w)) {
        return;
    }
    if (!qep_link_up(&s->link)) {
        return;                     /* no endpoint: it comes up from reset */
    }
    if (g_queue_get_length(&s->cfg_backlog) >= BRIDGE_CFG_BACKLOG_MAX) {
        qemu_log_mask(LOG_GUEST_ERROR, "epf-bridge: config write at 0x%x "
                      "dropped: %d writes already wait for the endpoint\n",
                      addr, BRIDGE_CFG_BACKLOG_MAX);
        return;
    }
    trace_epf_bridge_cfg_backlog(addr, g_queue_get_length(&s->cfg_backlog));
    g_queue_push_tail(&s->cfg_backlog, g_memdup2(&w, sizeof(w)));
}

/* The endpoint answered a config write (with CFG_STATE: nobody waits). */
static void bridge_cfg_written(void *opaque, int status, const void *data,
                               uint32_t len)
{
    EpfBridgeState *s = opaque;

    if (status != QEP_CPL_SC) {
        qemu_log_mask(LOG_GUEST_ERROR, "epf-bridge: the endpoint answered a "
                      "config write with status %d\n", status);
    }
    bridge_cfg_flush(s);            /* its slot is free now */
}

static void bridge_cfg_write(PCIDevice *pdev, uint32_t addr, uint32_t val,
                             int len)
{
    EpfBridgeState *s = EPF_BRIDGE(pdev);

    if (!s->present) {
        return;
    }
    if (addr & (len - 1)) {
        for (int i = 0; i < len; i++) {
            bridge_cfg_write(pdev, addr + i, (val >> (8 * i)) & 0xff, 1);
        }
        return;
    }
    if (len < 4) {
        val &= (1u << (8 * len)) - 1;
    }
    trace_epf_bridge_cfg_write(addr, len, val);
    if (s->mirror) {
        /*
         * Both copies take the write, in the same order (the endpoint's
         * from the socket, after everything sent before it)
         */
        epc_cfg_write(&s->cfg, addr, len, val);
    }
    if (s->mirror && !current_cpu) {
        /* QEMU itself (reset, qtest) does not wait for the endpoint */
        bridge_cfg_post(s, addr, len, val);
    } else {
        /*
         * Non-posted, as on PCIe: a vCPU goes on once the endpoint has the
         * write, so a BAR write that follows (through shared memory, which
         * no message orders) finds it done there.  The link waits without
         * the BQL.
         */
        qep_link_write(&s->link, QEP_MSG_CFG_WRITE, addr, len, val);
    }
    /* keep command, BARs and interrupt line coherent for QEMU */
    if (addr < PCI_CONFIG_HEADER_SIZE) {
        pci_default_write_config(pdev, addr, val, len);
    }
}

/* ---- QOM ----------------------------------------------------------------- */

static void bridge_realize(PCIDevice *pdev, Error **errp)
{
    EpfBridgeState *s = EPF_BRIDGE(pdev);
    int fn = s->function < 0 ? PCI_FUNC(pdev->devfn) : s->function;

    if (s->function < -1 || fn >= QEPC_MAX_FUNCS) {
        error_setg(errp, "function must be 0 to %d", QEPC_MAX_FUNCS - 1);
        return;
    }
    s->path = fn && s->socket ? g_strdup_printf("%s.%d", s->socket, fn)
                              : g_strdup(s->socket);
    for (int i = 0; i < QEP_NUM_BARS; i++) {
        s->bar[i].s = s;
        s->bar[i].n = i;
        memory_region_init_io(&s->bar[i].mr, OBJECT(s), &bridge_bar_ops,
                              &s->bar[i], "epf-bridge-bar", 16);
        /* waits without the BQL, as qemu-epc's window (see there) */
        s->bar[i].mr.disable_reentrancy_guard = true;
    }
    s->link = (QepLink) {
        .name = TYPE_EPF_BRIDGE,
        .path = s->path,
        .chr = &s->chr,
        .owner = OBJECT(s),
        .server = false,
        .role = QEP_ROLE_HOST,
        .features = QEP_FEAT_RESET | QEP_FEAT_CFG_STATE |
                    QEP_FEAT_POISON | (s->shmem ? QEP_FEAT_SHMEM : 0),
        .dma_as = pci_get_address_space(pdev),
        .timeout_ms = s->timeout_ms,
        .reconnect_ms = s->reconnect_ms,
        .ops = &bridge_link_ops,
        .opaque = s,
        .fn = fn,
    };
    if (s->capture_path) {
        s->capture = qep_capture_open(s->capture_path, TYPE_EPF_BRIDGE,
                                      s->shmem, s->capture_limit, errp);
        if (!s->capture) {
            g_free(s->path);
            s->path = NULL;
            return;
        }
        s->link.capture = s->capture;
    }
    if (qep_link_start(&s->link, errp) < 0) {
        g_free(s->path);
        s->path = NULL;
        qep_capture_unref(s->capture);
        s->capture = NULL;
        return;
    }
    if (s->inject) {
        qep_link_set_faults(&s->link, s->inject, &error_abort);
    }
}

/*
 * A reset of guest 2 resets this copy of the function (QEMU clears command,
 * BARs and the interrupt line); RESET tells the endpoint to do the same to
 * the config space it owns.  It is posted and ordered before any later
 * config request of the host.
 */
static void bridge_reset(DeviceState *dev)
{
    EpfBridgeState *s = EPF_BRIDGE(dev);
    uint8_t buf[QEP_MSG_BUF(0)];

    if (!s->present) {
        return;
    }
    if (s->mirror) {
        /* as the endpoint does when RESET comes */
        epc_cfg_build(&s->cfg, &s->params);
    }
    if (!qep_link_has(&s->link, QEP_FEAT_RESET)) {
        warn_report("epf-bridge: %s: the endpoint does not take RESET; its "
                    "config space keeps what the host wrote before the reset",
                    bridge_where(s));
        return;
    }
    qep_link_send(&s->link, buf, qep_enc_reset(buf));
}

/* inject: the rules of the link; reading gives those still to act */
static char *bridge_get_inject(Object *obj, Error **errp)
{
    EpfBridgeState *s = EPF_BRIDGE(obj);

    if (!DEVICE(obj)->realized) {
        return g_strdup(s->inject ? s->inject : "");
    }
    return qep_link_get_faults(&s->link);
}

static void bridge_set_inject(Object *obj, const char *value, Error **errp)
{
    EpfBridgeState *s = EPF_BRIDGE(obj);

    if (!qep_faults_valid(value, errp)) {
        return;
    }
    g_free(s->inject);
    s->inject = g_strdup(value);
    if (DEVICE(obj)->realized) {
        qep_link_set_faults(&s->link, value, &error_abort);
    }
}

static void bridge_exit(PCIDevice *pdev)
{
    EpfBridgeState *s = EPF_BRIDGE(pdev);

    qep_link_stop(&s->link);
    bridge_cfg_backlog_clear(s);
    bridge_bars_unmap(s);
    g_free(s->path);
    s->path = NULL;
    qep_capture_unref(s->capture);
    s->capture = NULL;
}

static QepProperty bridge_properties[] = {
    DEFINE_PROP_STRING("socket", EpfBridgeState, socket),
    DEFINE_PROP_CHR("chardev", EpfBridgeState, chr),
    DEFINE_PROP_INT32("function", EpfBridgeState, function, -1),
    DEFINE_PROP_UINT32("timeout-ms", EpfBridgeState, timeout_ms, 300),
    DEFINE_PROP_UINT32("reconnect-ms", EpfBridgeState, reconnect_ms, 500),
    DEFINE_PROP_BOOL("shmem", EpfBridgeState, shmem, true),
    DEFINE_PROP_STRING("capture", EpfBridgeState, capture_path),
    DEFINE_PROP_SIZE("capture-limit", EpfBridgeState, capture_limit,
                     QEP_CAPTURE_LIMIT),
    QEP_PROPERTIES_END
};

static const char *const bridge_property_help[][2] = {
    { "socket", "Unix socket of the qemu-epc to connect to (this or "
      "chardev= is required)" },
    { "chardev", "a Unix socket chardev (-chardev socket,id=ID,path=P,"
      "reconnect-ms=500) whose connections carry the link, instead of "
      "socket=" },
    { "function", "the controller's function to show (0-7; default this "
      "device's PCI function number): function K>0 is at SOCKET.K" },
    { "timeout-ms", "longest wait for a completion from the endpoint side" },
    { "reconnect-ms", "period of connection attempts while disconnected" },
    { "shmem", "offer and use shared guest RAM, so BARs and the endpoint's "
      "accesses reach the other guest's memory without messages (on/off)" },
    { "capture", "write every link message, and link events, to this "
      "pcapng file (docs/protocol.md)" },
    { "capture-limit", "largest size of the capture file (0: no bound)" },
    { "inject", "faults to inject, settable at run time with qom-set: rules "
      "KIND[:MATCH][:COUNT][:MS] separated by ';' (docs/qemu-epc.md, "
      "\"Fault injection\"); reads back the rules still to act" },
};

static void bridge_class_init(ObjectClass *oc, QepClassData *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(oc);

    k->realize = bridge_realize;
    k->exit = bridge_exit;
    k->config_read = bridge_cfg_read;
    k->config_write = bridge_cfg_write;
    k->vendor_id = QEPC_VENDOR_ID;
    k->device_id = QEPC_BRIDGE_DEVICE_ID;
    k->class_id = PCI_CLASS_OTHERS;
    dc->desc = "qemu-epc endpoint function bridge (host side)";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    device_class_set_legacy_reset(dc, bridge_reset);
    device_class_set_props(dc, bridge_properties);
    object_class_property_add_str(oc, "inject", bridge_get_inject,
                                  bridge_set_inject);
    for (int i = 0; i < ARRAY_SIZE(bridge_property_help); i++) {
        object_class_property_set_description(oc, bridge_property_help[i][0],
                                              bridge_property_help[i][1]);
    }
}

static const TypeInfo bridge_info = {
    .name = TYPE_EPF_BRIDGE,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(EpfBridgeState),
    .class_init = bridge_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { },
    },
};

static void bridge_register_types(void)
{
    if (qep_module_check_qemu(TYPE_EPF_BRIDGE)) {
        type_register_static(&bridge_info);
    }
}

type_init(bridge_register_types)
