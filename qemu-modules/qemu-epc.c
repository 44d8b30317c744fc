/*
 * qemu-epc: a PCI endpoint controller for guest 1.
 *
 * The endpoint function driver in guest 1 (through pcie-qemu-ep) programs
 * the function's header, BARs, MSI/MSI-X and outbound windows in BAR0; the
 * host (epf-bridge in guest 2) reaches the function over the socket.  The
 * register map is docs/qemu-epc.md and qemu-epc-regs.h; the DMA engine is
 * epc-dma.c.
 *
 *   -device qemu-epc,socket=PATH|chardev=ID[,window-size=64M][,timeout-ms=300]
 *                   [,inbound-windows=16][,barN=KIND][,dma-rate=0]
 *                   [,vendor-id=0x1234][,device-id=0xe9c0][,functions=1]
 *
 * With functions=N each function has its own header, BARs, inbound entries,
 * MSI/MSI-X, config space and link: function 0 listens on PATH, function K
 * on PATH.K.  FUNC_SEL selects the function the per-function registers
 * show; windows and DMA channels name the function whose link they use.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "epc-qemu-compat.h"
#include "qemu/bitops.h"
#include "qapi/error.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "qom/object.h"
#include "hw/qdev-properties-system.h"

#include "epc-link.h"
#include "epc-direct.h"
#include "epc-bars.h"
#include "epc-windows.h"
#include "epc-cfgspace.h"
#include "epc-dma.h"
#include "epc-module.h"
#include "qemu-epc-regs.h"
#include QEP_TRACE_H

#define TYPE_QEMU_EPC "qemu-epc"
OBJECT_DECLARE_SIMPLE_TYPE(QemuEpcState, QEMU_EPC)

/* one function of the controller: what guest 1 and its host see of it */
typedef struct EpcFunc {
    QemuEpcState *s;
    unsigned n;
    char *path;              /* socket: PATH for function 0, else PATH.n */
    QepLink link;

    /* guest-1 programming model */
    uint32_t hdr_id, hdr_class, hdr_subsys, hdr_intpin;
    uint32_t msi_cfg, msix_cfg, msix_table, msix_pba;
    EpcBars bars;

    /* the function as the host sees it, valid while the link is up */
    bool link_up;
    EpcCfgSpace cfg;
    bool bar_mapped[QEPC_NUM_BARS];   /* the host may map it directly */
    /* withdrawals of direct mappings the host has not confirmed yet */
    GSList *unmapping;                /* of EpcWithdraw */
} EpcFunc;

typedef struct EpcWithdraw {
    EpcFunc *f;
    uint32_t handle;
} EpcWithdraw;

struct QemuEpcState {
    PCIDevice parent_obj;

    MemoryRegion regs;
    MemoryRegion window;
    EpcDma dma;

    /* properties */
    char *socket;
    QepCharFe chr;         /* chardev=: instead of socket= (one function) */
    uint16_t vendor_id, device_id;
    uint64_t window_size;
    uint32_t timeout_ms;
    uint32_t inbound_windows;
    char *bar_kind[QEPC_NUM_BARS];
    bool shmem;
    char *capture_path;
    uint64_t capture_limit;
    char *inject;            /* inject=, applied to each function's link */
    QepCapture *capture;     /* capture=, shared by every function's link */
    uint32_t functions;

    /* guest-1 programming model */
    uint32_t ctrl, irq_status, irq_enable, error;
    uint32_t func_sel;
    uint32_t doorbell_data;
    EpcWindows wins;         /* outbound windows: the model, epc-windows.c */
    QepDirect win_direct[QEPC_NUM_WINDOWS]; /* mapped onto host shared RAM */
    EpcFunc fn[QEPC_MAX_FUNCS];
};

/* a function's BARs in the register map and on the wire: PCI's six */
QEMU_BUILD_BUG_ON(QEPC_NUM_BARS != QEP_NUM_BARS);

/* ---- interrupts to guest 1 ----------------------------------------------- */

static void epc_update_irq(QemuEpcState *s, uint32_t new_bits)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint32_t pending = s->irq_status & s->irq_enable;

    if (msix_enabled(pdev)) {
        if (new_bits & s->irq_enable) {
            msix_notify(pdev, QEPC_VEC_EVENTS);
        }
    } else if (msi_enabled(pdev)) {
        if (new_bits & s->irq_enable) {
            msi_notify(pdev, 0);
        }
    } else {
        pci_set_irq(pdev, pending != 0);
    }
}

static void epc_event(QemuEpcState *s, uint32_t bits)
{
    trace_qemu_epc_event(bits);
    s->irq_status |= bits;
    epc_update_irq(s, bits);
}

static void epc_error(QemuEpcState *s, uint32_t code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static void epc_error(QemuEpcState *s, uint32_t code, const char *fmt, ...)
{
    va_list ap;

    s->error = code;
    va_start(ap, fmt);
    if (qemu_loglevel_mask(LOG_GUEST_ERROR) ||
        trace_event_get_state_backends(TRACE_QEMU_EPC_ERROR)) {
        char *msg = g_strdup_vprintf(fmt, ap);

        trace_qemu_epc_error(code, msg);
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: %s\n", msg);
        g_free(msg);
    }
    va_end(ap);
}

/*
 * The doorbell: with MSI-X enabled it has a vector of its own and is not
 * latched in IRQ_STATUS; otherwise it is an IRQ_STATUS event like others.
 */
static void epc_doorbell(QemuEpcState *s, uint32_t val)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    trace_qemu_epc_doorbell(val);
    qep_capture_event(s->capture, 0, QEP_NOTE_DOORBELL,
                      "doorbell rung with 0x%08x", val);
    s->doorbell_data = val;
    if (msix_enabled(pdev)) {
        msix_notify(pdev, QEPC_VEC_DOORBELL);
    } else {
        epc_event(s, QEPC_IRQ_DOORBELL);
    }
}

/* ---- link state ---------------------------------------------------------- */

static void epc_params(EpcFunc *f, EpcCfgParams *p)
{
    memset(p, 0, sizeof(*p));
    p->hdr.vendor_id = f->hdr_id;
    p->hdr.device_id = f->hdr_id >> 16;
    p->hdr.revision = f->hdr_class;
    p->hdr.progif = f->hdr_class >> 8;
    p->hdr.subclass = f->hdr_class >> 16;
    p->hdr.baseclass = f->hdr_class >> 24;
    p->hdr.subsys_vendor_id = f->hdr_subsys;
    p->hdr.subsys_id = f->hdr_subsys >> 16;
    p->hdr.intx_pin = f->hdr_intpin & 7;
    for (int i = 0; i < QEPC_NUM_BARS; i++) {
        if (epc_bars_enabled(&f->bars, i)) {
            p->bar[i].size = f->bars.bar[i].size;
            p->bar[i].flags = f->bars.bar[i].flags & 0xf;
        }
    }
    p->msi_log2 = f->msi_cfg & QEPC_MSI_CFG_PRESENT ? (int)(f->msi_cfg & 7)
                                                    : -1;
    p->msix_count = f->msix_cfg;
    p->msix_table = f->msix_table;
    p->msix_pba = f->msix_pba;
}

/* ---- shared memory: direct windows and BAR pieces ------------------------ */

static bool page_aligned(uint64_t a, uint64_t b, uint64_t c)
{
    return !((a | b | c) & (qemu_real_host_page_size() - 1));
}

/* Does the host let the function master (PCI_COMMAND bus master)? */
static bool epc_host_bme(EpcFunc *f)
{
    return f->link_up && (epc_cfg_command(&f->cfg) & PCI_COMMAND_MASTER);
}

/*
 * Map each enabled window straight onto the host's RAM where the host
 * offered it and lets the function master; the others use messages.
 * Returns whether a direct window went away.
 */
static bool epc_windows_update(QemuEpcState *s)
{
    bool removed = false;

    for (int i = 0; i < QEPC_NUM_WINDOWS; i++) {
        const EpcWin *w = &s->wins.win[i];
        EpcFunc *f = &s->fn[epc_win_func(w)];
        MemoryRegion *ram = NULL;
        uint64_t off = 0;

        if (epc_win_enabled(w) && epc_host_bme(f) &&
            page_aligned(w->offset, w->size, w->pci_addr)) {
            ram = qep_link_peer_mr(&f->link, w->pci_addr, w->size, &off);
        }
        if (ram) {
            qep_direct_set(&s->win_direct[i], OBJECT(s), &s->window,
                           "qemu-epc-direct-window", w->offset, w->size, ram,
                           off);
        } else {
            removed |= qep_direct_clear(&s->win_direct[i], &s->window);
        }
    }
    return removed;
}

/* The parts of BAR @n the host may map directly: guest-1 RAM we offered. */
static int epc_bar_pieces(EpcFunc *f, int n, struct qep_map_piece *p)
{
    const EpcBarMap *m = &f->bars.bar[n];
    uint64_t off = 0;
    int k = 0;

    if (!epc_bars_enabled(&f->bars, n) ||
        (m->flags & PCI_BASE_ADDRESS_SPACE_IO)) {
        return 0;
    }
    for (unsigned i = 0; i < MAX(m->sub_count, 1); i++) {
        const EpcInbound *e = &f->bars.ib[m->sub_first + i];
        uint64_t gpa = m->sub_count ? e->addr : m->addr;
        uint64_t size = m->sub_count ? e->size : m->size;

        if (page_aligned(off, size, gpa) &&
            qep_link_own_ram(&f->link, gpa, size)) {
            p[k++] = (struct qep_map_piece) {
                .offset = off, .size = size, .gpa = gpa,
            };
        }
        off += size;
    }
    return k;
}

/* Tell the host which parts of BAR @n it may map directly (posted). */
static void epc_bar_announce(EpcFunc *f, int n)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_map) +
                            QEP_MAP_MAX * sizeof(struct qep_map_piece))];
    struct qep_map_piece p[QEP_MAP_MAX];
    int k;

    if (!f->link_up || !qep_link_has(&f->link, QEP_FEAT_SHMEM)) {
        return;
    }
    k = epc_bar_pieces(f, n, p);
    if (k || f->bar_mapped[n]) {
        trace_qemu_epc_map(f->n, n, k);
        qep_link_send(&f->link, buf, qep_enc_map(buf, 0, n, k, p));
        f->bar_mapped[n] = k > 0;
    }
}

static void epc_withdraw_done(void *opaque, int status, const void *data,
                              uint32_t len);

/* withdrawals a function may have outstanding before FLAGS writes wait */
#define EPC_MAX_UNMAPPING 16

/*
 * Take BAR @n's (or every BAR's) direct mapping from the host: a MAP
 * without pieces, non-posted.  Until the host confirms (once none of its
 * vCPUs can reach the old mapping any more), STATUS says UNMAPPING; the
 * driver waits for that before it uses the memory otherwise.  A host that
 * does not confirm is disconnected (and drops its mappings when it
 * notices).  Never waits.  False if it could not ask now (too many
 * outstanding): the BAR must not change then.
 */
static bool epc_bar_withdraw(EpcFunc *f, int n)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_map))];
    bool mapped = false;
    EpcWithdraw *w;

    for (int i = 0; i < QEPC_NUM_BARS; i++) {
        if (n == QEP_MAP_ALL_BARS || n == i) {
            mapped |= f->bar_mapped[i];
        }
    }
    if (!mapped || !qep_link_up(&f->link)) {
        return true;
    }
    if (g_slist_length(f->unmapping) >= EPC_MAX_UNMAPPING) {
        return false;
    }
    for (int i = 0; i < QEPC_NUM_BARS; i++) {
        if (n == QEP_MAP_ALL_BARS || n == i) {
            f->bar_mapped[i] = false;
        }
    }
    trace_qemu_epc_map_withdraw(f->n, n);
    w = g_new0(EpcWithdraw, 1);
    w->f = f;
    w->handle = qep_link_request_async(&f->link, buf,
                                       qep_enc_map(buf, 1, n, 0, NULL), 0,
                                       epc_withdraw_done, w);
    if (!w->handle) {
        /* no connection to ask on: the host's mapping goes with it */
        g_free(w);
        qep_link_disconnect(&f->link, "cannot ask the host to drop a direct "
                            "BAR mapping");
        return true;
    }
    f->unmapping = g_slist_append(f->unmapping, w);
    return true;
}

/* Forget the withdrawals still outstanding (a reset, or the end). */
static void epc_withdraw_forget(EpcFunc *f)
{
    for (GSList *e = f->unmapping; e; e = e->next) {
        EpcWithdraw *w = e->data;

        qep_link_cancel(&f->link, w->handle);
        g_free(w);
    }
    g_slist_free(f->unmapping);
    f->unmapping = NULL;
}

static void epc_withdraw_done(void *opaque, int status, const void *data,
                              uint32_t len)
{
    EpcWithdraw *w = opaque;
    EpcFunc *f = w->f;

    f->unmapping = g_slist_remove(f->unmapping, w);
    g_free(w);
    trace_qemu_epc_map_withdrawn(f->n, status);
    if (status != QEP_CPL_SC && qep_link_up(&f->link)) {
        qep_link_disconnect(&f->link, "the host did not confirm dropping a "
                            "direct BAR mapping");
    }
}

/*
 * LINK up or down; up carries the BAR layout, and with CFG_STATE every
 * parameter the config space is built from, so that the host builds the
 * same and answers its config reads itself
 */
static void epc_send_link(EpcFunc *f, bool up)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_link) +
                            sizeof(struct qep_link_cfg))];
    struct qep_link l = { .up = up };
    const EpcCfgParams *p = &f->cfg.p;
    struct qep_link_cfg c = {
        .vendor_id = p->hdr.vendor_id, .device_id = p->hdr.device_id,
        .revision = p->hdr.revision, .progif = p->hdr.progif,
        .subclass = p->hdr.subclass, .baseclass = p->hdr.baseclass,
        .subsys_vendor_id = p->hdr.subsys_vendor_id,
        .subsys_id = p->hdr.subsys_id, .msi_log2 = p->msi_log2,
        .msix_count = p->msix_count, .msix_table = p->msix_table,
        .msix_pba = p->msix_pba,
    };

    if (!up) {
        qep_link_send(&f->link, buf, qep_enc_link(buf, &l));
        return;
    }
    l.intx_pin = p->hdr.intx_pin;
    memcpy(l.bar, p->bar, sizeof(l.bar));
    qep_link_send(&f->link, buf,
                  qep_link_has(&f->link, QEP_FEAT_CFG_STATE)
                  ? qep_enc_link_cfg(buf, &l, &c) : qep_enc_link(buf, &l));
}

/*
 * Does START start function @f?  Function 0 always; another function when
 * its header is set up (a vendor ID written).
 */
static bool epc_func_used(EpcFunc *f)
{
    return f->n == 0 || (f->hdr_id & 0xffff);
}

/*
 * A function's link is up when the EPF started the controller, the function
 * is used and its bridge is connected.  LINK_UP and LINK_DOWN are raised
 * when any function's link changes; STATUS tells which.
 */
static void epc_link_update(EpcFunc *f)
{
    QemuEpcState *s = f->s;
    bool up = (s->ctrl & QEPC_CTRL_START) && epc_func_used(f) &&
              qep_link_up(&f->link);

    if (up == f->link_up) {
        return;
    }
    trace_qemu_epc_link(f->n, up);
    if (up) {
        EpcCfgParams p;

        f->link_up = true;
        /* a fresh link: the host starts from reset state */
        epc_params(f, &p);
        epc_cfg_build(&f->cfg, &p);
        epc_send_link(f, true);
        for (int i = 0; i < QEPC_NUM_BARS; i++) {
            epc_bar_announce(f, i);
        }
        epc_event(s, QEPC_IRQ_LINK_UP);
    } else {
        /*
         * (with too many withdrawals outstanding it asks nothing more: the
         * LINK down that follows takes every mapping away too)
         */
        epc_bar_withdraw(f, QEP_MAP_ALL_BARS);
        memset(f->bar_mapped, 0, sizeof(f->bar_mapped));
        f->link_up = false;
        epc_windows_update(s);
        epc_send_link(f, false);
        epc_event(s, QEPC_IRQ_LINK_DOWN);
    }
}

static void epc_start(QemuEpcState *s, bool start)
{
    EpcCfgParams p;
    const char *why;

    if (start && !(s->ctrl & QEPC_CTRL_START)) {
        for (unsigned i = 0; i < s->functions; i++) {
            if (!epc_func_used(&s->fn[i])) {
                continue;
            }
            epc_params(&s->fn[i], &p);
            why = epc_cfg_check(&p);
            if (why) {
                epc_error(s, QEPC_ERR_CONFIG, "START refused: function %u: "
                          "%s", i, why);
                return;
            }
        }
    }
    trace_qemu_epc_start(start);
    s->ctrl = start ? QEPC_CTRL_START : 0;
    for (unsigned i = 0; i < s->functions; i++) {
        epc_link_update(&s->fn[i]);
    }
}

/* ---- interrupts to the host ---------------------------------------------- */

static void epc_raise_msix(EpcFunc *f, unsigned vec)
{
    QemuEpcState *s = f->s;
    uint16_t ctrl = epc_cfg_msix_ctrl(&f->cfg);
    unsigned bir = f->cfg.p.msix_table & 7;
    uint8_t entry[16];
    uint64_t addr, avail;

    if (!(ctrl & 0x8000) || (ctrl & 0x4000)) {
        epc_error(s, QEPC_ERR_IRQ, "MSI-X %u: not enabled or masked by the "
                  "host", vec);
        return;
    }
    if (vec >= f->cfg.p.msix_count) {
        epc_error(s, QEPC_ERR_IRQ, "MSI-X vector %u over table size %u", vec,
                  f->cfg.p.msix_count);
        return;
    }
    /* the table lives in the EPF's BAR memory in guest 1 */
    if (!epc_bars_translate(&f->bars, bir,
                            (f->cfg.p.msix_table & ~7u) + 16ull * vec,
                            &addr, &avail) || avail < sizeof(entry) ||
        pci_dma_read(PCI_DEVICE(s), addr, entry, sizeof(entry))) {
        epc_error(s, QEPC_ERR_IRQ, "MSI-X %u: table entry at 0x%" PRIx64
                  " unreadable", vec, addr);
        return;
    }
    if (ldl_le_p(entry + 12) & 1) {
        epc_error(s, QEPC_ERR_IRQ, "MSI-X vector %u is masked", vec);
        return;
    }
    trace_qemu_epc_irq(f->n, "MSI-X", vec);
    qep_link_note(&f->link, QEP_NOTE_MSIX);
    qep_link_write(&f->link, QEP_MSG_MEM_WRITE, ldq_le_p(entry), 4,
                   ldl_le_p(entry + 8));
}

static void epc_raise(EpcFunc *f, uint32_t val)
{
    QemuEpcState *s = f->s;
    unsigned kind = val & 0xf, vec = val >> 16;
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_intx))];

    if (!f->link_up) {
        epc_error(s, QEPC_ERR_LINK_DOWN, "interrupt %u/%u with link down",
                  kind, vec);
        return;
    }
    switch (kind) {
    case QEPC_RAISE_INTX_ASSERT:
    case QEPC_RAISE_INTX_DEASSERT:
        if (!f->cfg.p.hdr.intx_pin) {
            epc_error(s, QEPC_ERR_IRQ, "INTx with no interrupt pin");
            return;
        }
        trace_qemu_epc_irq(f->n, kind == QEPC_RAISE_INTX_ASSERT
                                 ? "INTx assert" : "INTx deassert", 0);
        qep_link_send(&f->link, buf,
                      qep_enc_intx(buf, f->cfg.p.hdr.intx_pin - 1,
                                   kind == QEPC_RAISE_INTX_ASSERT));
        break;
    case QEPC_RAISE_MSI:
        {
        unsigned n = epc_cfg_msi_vectors(&f->cfg);

        if (vec >= n) {
            epc_error(s, QEPC_ERR_IRQ, "MSI vector %u, host enabled %u", vec,
                      n);
            return;
        }
        trace_qemu_epc_irq(f->n, "MSI", vec);
        qep_link_note(&f->link, QEP_NOTE_MSI);
        qep_link_write(&f->link, QEP_MSG_MEM_WRITE, epc_cfg_msi_addr(&f->cfg),
                       4, (epc_cfg_msi_data(&f->cfg) & ~(n - 1)) | vec);
        break;
    }
    case QEPC_RAISE_MSIX:
        epc_raise_msix(f, vec);
        break;
    default:
        epc_error(s, QEPC_ERR_IRQ, "unknown interrupt kind %u", kind);
    }
}

/* ---- BAR and window descriptors ------------------------------------------ */

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

/* ---- BAR0 registers ------------------------------------------------------ */

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
    uint32_t val;

    if (epc_dma_reg_read(&s->dma, addr, &val)) {
        return val;
    }

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
    if (epc_windows_read(&s->wins, addr, &val)) {
        return val;
    }

    switch (addr) {
    case QEPC_MAGIC:
        return QEPC_MAGIC_VALUE;
    case QEPC_VERSION:
        return QEPC_REGS_VERSION;
    case QEPC_CAPS:
        return QEPC_NUM_WINDOWS | QEPC_NUM_BARS << 8 | QEPC_CAPS_MSI |
               QEPC_CAPS_MSIX | QEPC_CAPS_INTX | QEPC_CAPS_LINKUP_IRQ |
               QEPC_CAPS_DMA | QEPC_CAPS_SUBRANGE | QEPC_CAPS_DOORBELL;
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
    qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: read of unknown register "
                  "0x%" HWADDR_PRIx "\n", addr);
    return 0;
}

static void epc_reg_write(void *opaque, hwaddr addr, uint64_t val64,
                          unsigned size)
{
    QemuEpcState *s = opaque;
    EpcFunc *f = &s->fn[s->func_sel];
    uint32_t val = val64;
    const char *why;
    int err, bar, win;

    if (addr >= QEPC_DMA_BASE(0) && addr < QEPC_DMA_BASE(QEPC_NUM_DMA) &&
        (addr & 0x1f) == QEPC_DMA_CTRL &&
        QEPC_DMA_FUNC_OF(val) >= s->functions) {
        epc_error(s, QEPC_ERR_FUNC, "DMA channel %u: function %u of %u "
                  "refused", epc_dma_chan_of(addr), QEPC_DMA_FUNC_OF(val),
                  s->functions);
        return;
    }
    if (addr >= QEPC_DMA_CHANNELS && addr < QEPC_DMA_BASE(QEPC_NUM_DMA)) {
        switch (epc_dma_reg_write(&s->dma, addr, val)) {
        case EPC_DMA_OK:
            return;
        case EPC_DMA_REFUSED:
            epc_error(s, QEPC_ERR_DMA, "DMA channel %u register 0x%x written "
                      "while busy", epc_dma_chan_of(addr),
                      (unsigned)(addr & 0x1f));
            return;
        case EPC_DMA_UNKNOWN:
            goto bad;
        }
    }
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
        return;
    }
    if (err == 0) {
        if (bar >= 0) {
            epc_bar_committed(f, bar);
        }
        return;
    }
    err = epc_windows_write(&s->wins, addr, val, &why, &win);
    if (win >= 0) {
        const EpcWin *w = &s->wins.win[win];

        trace_qemu_epc_window(win, w->offset, w->size, w->pci_addr, w->ctrl);
        epc_windows_update(s);
    }
    if (err > 0) {
        int n = (addr - QEPC_WIN_BASE(0)) / 0x20;
        const EpcWin *w = &s->wins.win[n];

        epc_error(s, err, "window %d: offset 0x%" PRIx64 " size 0x%" PRIx64
                  " host 0x%" PRIx64 ", %s", n, w->offset, w->size,
                  w->pci_addr, why);
        return;
    }
    if (err == 0) {
        return;
    }

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
bad:
    qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: write 0x%x to read-only or "
                  "unknown register 0x%" HWADDR_PRIx "\n", val, addr);
}

static const MemoryRegionOps epc_reg_ops = {
    .read = epc_reg_read,
    .write = epc_reg_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

/* ---- outbound windows (BAR2) --------------------------------------------- */

static uint64_t epc_window_read(void *opaque, hwaddr off, unsigned size)
{
    QemuEpcState *s = opaque;
    int n = epc_windows_find(&s->wins, off, size);
    EpcFunc *f = n >= 0 ? &s->fn[epc_win_func(&s->wins.win[n])] : NULL;
    uint64_t host;

    if (!f || !f->link_up) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: window read at 0x%"
                      HWADDR_PRIx " %s\n", off,
                      f ? "with link down" : "outside any window");
        return UINT64_MAX;
    }
    host = epc_windows_host(&s->wins, n, off, NULL);
    trace_qemu_epc_window_access("read", host, size);
    return qep_link_read(&f->link, QEP_MSG_MEM_READ, host, size, NULL);
}

static void epc_window_write(void *opaque, hwaddr off, uint64_t val,
                             unsigned size)
{
    QemuEpcState *s = opaque;
    int n = epc_windows_find(&s->wins, off, size);
    EpcFunc *f = n >= 0 ? &s->fn[epc_win_func(&s->wins.win[n])] : NULL;

    if (!f || !f->link_up) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: window write at 0x%"
                      HWADDR_PRIx " %s\n", off,
                      f ? "with link down" : "outside any window");
        return;
    }
    if (!qep_link_credit(&f->link, NULL)) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: window write at 0x%"
                      HWADDR_PRIx " dropped: the host does not take writes "
                      "in\n", off);
        return;
    }
    qep_link_write(&f->link, QEP_MSG_MEM_WRITE,
                   epc_windows_host(&s->wins, n, off, NULL), size, val);
}

static const MemoryRegionOps epc_window_ops = {
    .read = epc_window_read,
    .write = epc_window_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

/* ---- the DMA engine's view of the link ---------------------------------- */

/* Host RAM the function may reach directly: offered, bus mastering on. */
static void *epc_dma_host_ram(void *opaque, unsigned fn, uint64_t addr,
                              uint32_t len)
{
    QemuEpcState *s = opaque;
    EpcFunc *f = &s->fn[fn];

    return epc_host_bme(f) ? qep_link_peer_ram(&f->link, addr, len) : NULL;
}

static int epc_dma_host_read(void *opaque, unsigned fn, uint64_t addr,
                             uint32_t len, EpcDmaDone *done, void *done_opaque,
                             uint32_t *handle)
{
    QemuEpcState *s = opaque;
    EpcFunc *f = &s->fn[fn];
    uint8_t msg[QEP_MSG_BUF(sizeof(struct qep_mem_req))];

    if (!f->link_up) {
        return QEPC_DMA_E_LINK;
    }
    qep_link_note(&f->link, QEP_NOTE_DMA);
    *handle = qep_link_request_async(&f->link, msg,
                                     qep_enc_mem_read(msg, QEP_MSG_MEM_READ, 0,
                                                      addr, len),
                                     len, done, done_opaque);
    return *handle ? 0 : QEPC_DMA_E_LINK;
}

static int epc_dma_host_write(void *opaque, unsigned fn, uint64_t addr,
                              const void *buf, uint32_t len, EpcDmaDone *done,
                              void *done_opaque, uint32_t *handle)
{
    QemuEpcState *s = opaque;
    EpcFunc *f = &s->fn[fn];
    uint8_t msg[QEP_MSG_BUF(sizeof(struct qep_mem_req) + EPC_DMA_MPS)];
    size_t n;

    if (!f->link_up) {
        return QEPC_DMA_E_LINK;
    }
    /* the host drops posted writes of a function that may not master */
    if (!(epc_cfg_command(&f->cfg) & PCI_COMMAND_MASTER)) {
        return QEPC_DMA_E_HOST_UR;
    }
    if (!done) {
        n = qep_enc_mem_write(msg, QEP_MSG_MEM_WRITE, 0, addr, len, buf);
        qep_link_note(&f->link, QEP_NOTE_DMA);
        return qep_link_send(&f->link, msg, n) < 0 ? QEPC_DMA_E_LINK : 0;
    }
    /* non-posted (any tag marks it; the link assigns the real one) */
    n = qep_enc_mem_write(msg, QEP_MSG_MEM_WRITE, 1, addr, len, buf);
    qep_link_note(&f->link, QEP_NOTE_DMA);
    *handle = qep_link_request_async(&f->link, msg, n, 0, done, done_opaque);
    return *handle ? 0 : QEPC_DMA_E_LINK;
}

static bool epc_dma_host_credit(void *opaque, unsigned fn, QEMUBH *resume)
{
    QemuEpcState *s = opaque;

    return qep_link_credit(&s->fn[fn].link, resume);
}

static void epc_dma_host_cancel(void *opaque, unsigned fn, uint32_t handle)
{
    QemuEpcState *s = opaque;

    qep_link_cancel(&s->fn[fn].link, handle);
}

static int epc_dma_window(void *opaque, uint64_t addr, uint64_t *host,
                          uint32_t *len)
{
    QemuEpcState *s = opaque;
    pcibus_t base = pci_get_bar_addr(PCI_DEVICE(s), QEPC_WINDOW_BAR);
    uint64_t off, avail;
    int n;

    if (base == PCI_BAR_UNMAPPED || addr < base ||
        addr - base >= s->window_size) {
        return 0;
    }
    off = addr - base;
    n = epc_windows_find(&s->wins, off, 1);
    if (n < 0) {
        return -1;
    }
    *host = epc_windows_host(&s->wins, n, off, &avail);
    *len = MIN(*len, avail);
    return 1;
}

static void epc_dma_finished(void *opaque, unsigned ch)
{
    epc_event(opaque, QEPC_IRQ_DMA(ch));
}

static const EpcDmaOps epc_dma_ops = {
    .host_ram = epc_dma_host_ram,
    .host_read = epc_dma_host_read,
    .host_write = epc_dma_host_write,
    .host_credit = epc_dma_host_credit,
    .host_cancel = epc_dma_host_cancel,
    .window = epc_dma_window,
    .finished = epc_dma_finished,
};

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
        epc_event(s, QEPC_IRQ_HOST_CFG);
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

static const QepLinkOps epc_link_ops = {
    .handle = epc_handle,
    .connected = epc_connected,
    .disconnected = epc_disconnected,
    .peer_ram_changed = epc_peer_ram_changed,
    .own_ram_changed = epc_own_ram_changed,
};

/* ---- QOM ----------------------------------------------------------------- */

/*
 * A barN property: "" or "programmable", "disabled", "fixed-SIZE" (SIZE a
 * power of two from 16 bytes, with QEMU's size suffixes), each optionally
 * followed by "-64bit"; or "64bit" alone.  NULL and *kind, or why not.
 */
static const char *epc_parse_bar_kind(const char *s, uint32_t *kind)
{
    g_autofree char *str = g_strdup(s ? s : "");
    char *rest = str;
    uint32_t k = QEPC_BAR_PROGRAMMABLE;
    size_t len = strlen(str);

    if (len >= 6 && !strcmp(str + len - 6, "-64bit")) {
        str[len - 6] = 0;
        k |= QEPC_BAR_KIND_64BIT;
    } else if (!strcmp(str, "64bit")) {
        *kind = QEPC_BAR_KIND_64BIT;
        return NULL;
    }
    if (!*rest || !strcmp(rest, "programmable")) {
        /* k as it is */
    } else if (!strcmp(rest, "disabled") && !(k & QEPC_BAR_KIND_64BIT)) {
        k = QEPC_BAR_DISABLED;
    } else if (g_str_has_prefix(rest, "fixed-")) {
        uint64_t size;

        struct qep_bar_desc d = {
            .flags = k & QEPC_BAR_KIND_64BIT ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0,
        };

        /* the rules of any memory BAR (epc-cfgspace.c), up to 1T */
        if (qemu_strtosz(rest + 6, NULL, &size) < 0) {
            size = 0;
        }
        d.size = size;
        if (!size || size > (1ull << 40) || epc_cfg_check_bar(&d)) {
            return "fixed size must be a power of two from 16 bytes to 1T "
                   "(2G for a 32-bit BAR)";
        }
        k |= QEPC_BAR_FIXED | (uint32_t)ctz64(size) << 8;
    } else {
        return "expected programmable, disabled, fixed-SIZE, 64bit or "
               "fixed-SIZE-64bit";
    }
    *kind = k;
    return NULL;
}

static void epc_realize(PCIDevice *pdev, Error **errp)
{
    QemuEpcState *s = QEMU_EPC(pdev);

    if (s->window_size < EPC_WIN_ALIGN ||
        (s->window_size & (s->window_size - 1))) {
        error_setg(errp, "window-size must be a power of two of at least "
                   "4 KiB");
        return;
    }
    if (s->inbound_windows > QEPC_MAX_INBOUND) {
        error_setg(errp, "inbound-windows must be at most %d",
                   QEPC_MAX_INBOUND);
        return;
    }
    if (!s->functions || s->functions > QEPC_MAX_FUNCS) {
        error_setg(errp, "functions must be 1 to %d", QEPC_MAX_FUNCS);
        return;
    }
    s->wins.bar_size = s->window_size;
    s->wins.functions = s->functions;
    if (qemu_chr_fe_backend_connected(&s->chr) && s->functions > 1) {
        error_setg(errp, "chardev= carries one function; with functions=N "
                   "use socket=PATH (function K on PATH.K)");
        return;
    }
    for (int i = 0; i < QEPC_NUM_BARS; i++) {
        uint32_t kind;
        const char *why = epc_parse_bar_kind(s->bar_kind[i], &kind);

        if (why) {
            error_setg(errp, "bar%d=%s: %s", i, s->bar_kind[i], why);
            return;
        }
        for (unsigned k = 0; k < QEPC_MAX_FUNCS; k++) {
            s->fn[k].bars.kind[i] = kind;
        }
    }
    for (unsigned k = 0; k < QEPC_MAX_FUNCS; k++) {
        s->fn[k].s = s;
        s->fn[k].n = k;
        s->fn[k].bars.n_ib = s->inbound_windows;
    }
    pci_config_set_vendor_id(pdev->config, s->vendor_id);
    pci_config_set_device_id(pdev->config, s->device_id);
    pdev->config[PCI_INTERRUPT_PIN] = 1;
    if (msi_init(pdev, 0, 1, true, false, errp)) {
        return;
    }
    if (msix_init_exclusive_bar(pdev, QEPC_NUM_VECTORS, QEPC_MSIX_BAR, errp)) {
        msi_uninit(pdev);
        return;
    }
    for (int v = 0; v < QEPC_NUM_VECTORS; v++) {
        msix_vector_use(pdev, v);
    }
    if (s->capture_path) {
        s->capture = qep_capture_open(s->capture_path, TYPE_QEMU_EPC,
                                      s->shmem, s->capture_limit, errp);
        if (!s->capture) {
            msix_uninit_exclusive_bar(pdev);
            msi_uninit(pdev);
            return;
        }
    }
    memory_region_init_io(&s->regs, OBJECT(s), &epc_reg_ops, s,
                          "qemu-epc-regs", QEPC_REGS_SIZE);
    memory_region_init_io(&s->window, OBJECT(s), &epc_window_ops, s,
                          "qemu-epc-window", s->window_size);
    /*
     * A window access waits for its completion without the BQL, so other
     * vCPUs may access the device meanwhile: QEMU's re-entrancy guard
     * would refuse them (it is per device).  The handlers never touch
     * guest memory, so they cannot recurse; concurrent waits each have
     * their own tag.
     */
    s->window.disable_reentrancy_guard = true;
    pci_register_bar(pdev, QEPC_REG_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->regs);
    pci_register_bar(pdev, QEPC_WINDOW_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->window);

    for (unsigned k = 0; k < s->functions; k++) {
        EpcFunc *f = &s->fn[k];

        f->path = k && s->socket ? g_strdup_printf("%s.%u", s->socket, k)
                    : g_strdup(s->socket);
        f->link = (QepLink) {
            .name = TYPE_QEMU_EPC,
            .path = f->path,
            .chr = &s->chr,
            .owner = OBJECT(s),
            .server = true,
            .role = QEP_ROLE_ENDPOINT,
            .features = QEP_FEAT_RESET | QEP_FEAT_CFG_STATE |
                        QEP_FEAT_POISON | (s->shmem ? QEP_FEAT_SHMEM : 0),
            .dma_as = pci_get_address_space(pdev),
            .timeout_ms = s->timeout_ms,
            .ops = &epc_link_ops,
            .opaque = f,
            .capture = s->capture,
            .fn = k,
        };
        if (qep_link_start(&f->link, errp) < 0) {
            while (k--) {
                qep_link_stop(&s->fn[k].link);
            }
            for (unsigned i = 0; i < s->functions; i++) {
                g_free(s->fn[i].path);
                s->fn[i].path = NULL;
            }
            qep_capture_unref(s->capture);
            s->capture = NULL;
            msix_uninit_exclusive_bar(pdev);
            msi_uninit(pdev);
            return;
        }
    }
    for (unsigned k = 0; k < s->functions && s->inject; k++) {
        qep_link_set_faults(&s->fn[k].link, s->inject, &error_abort);
    }
    epc_dma_init(&s->dma, pdev, &epc_dma_ops, s);
}

/*
 * inject: each function's link takes the rules (a count is per function);
 * reading it gives function 0's rules still to act.
 */
static char *epc_get_inject(Object *obj, Error **errp)
{
    QemuEpcState *s = QEMU_EPC(obj);

    if (!DEVICE(obj)->realized) {
        return g_strdup(s->inject ? s->inject : "");
    }
    return qep_link_get_faults(&s->fn[0].link);
}

static void epc_set_inject(Object *obj, const char *value, Error **errp)
{
    QemuEpcState *s = QEMU_EPC(obj);

    if (!qep_faults_valid(value, errp)) {
        return;
    }
    g_free(s->inject);
    s->inject = g_strdup(value);
    for (unsigned k = 0; DEVICE(obj)->realized && k < s->functions; k++) {
        qep_link_set_faults(&s->fn[k].link, value, &error_abort);
    }
}

static void epc_exit(PCIDevice *pdev)
{
    QemuEpcState *s = QEMU_EPC(pdev);

    /* the links first: they may hold the DMA engine's bottom half */
    for (unsigned k = 0; k < s->functions; k++) {
        epc_withdraw_forget(&s->fn[k]);
        qep_link_stop(&s->fn[k].link);
        g_free(s->fn[k].path);
        s->fn[k].path = NULL;
    }
    epc_dma_fini(&s->dma);
    qep_capture_unref(s->capture);
    s->capture = NULL;
    for (int i = 0; i < QEPC_NUM_WINDOWS; i++) {
        qep_direct_clear(&s->win_direct[i], &s->window);
    }
    msix_uninit_exclusive_bar(pdev);
    msi_uninit(pdev);
}

static void epc_reset(DeviceState *dev)
{
    QemuEpcState *s = QEMU_EPC(dev);

    epc_start(s, false);
    epc_dma_reset(&s->dma);
    s->irq_status = s->irq_enable = s->error = 0;
    s->func_sel = 0;
    for (unsigned k = 0; k < QEPC_MAX_FUNCS; k++) {
        EpcFunc *f = &s->fn[k];

        epc_withdraw_forget(f);
        f->hdr_id = f->hdr_class = f->hdr_subsys = f->hdr_intpin = 0;
        f->msi_cfg = f->msix_cfg = f->msix_table = f->msix_pba = 0;
        epc_bars_reset(&f->bars);
    }
    s->doorbell_data = 0;
    for (int i = 0; i < QEPC_NUM_WINDOWS; i++) {
        qep_direct_clear(&s->win_direct[i], &s->window);
    }
    epc_windows_reset(&s->wins);
}

static QepProperty epc_properties[] = {
    DEFINE_PROP_STRING("socket", QemuEpcState, socket),
    DEFINE_PROP_CHR("chardev", QemuEpcState, chr),
    DEFINE_PROP_UINT16("vendor-id", QemuEpcState, vendor_id, QEPC_VENDOR_ID),
    DEFINE_PROP_UINT16("device-id", QemuEpcState, device_id, QEPC_DEVICE_ID),
    DEFINE_PROP_SIZE("window-size", QemuEpcState, window_size, 64 * MiB),
    DEFINE_PROP_UINT32("timeout-ms", QemuEpcState, timeout_ms, 300),
    DEFINE_PROP_UINT64("dma-rate", QemuEpcState, dma.rate, 0),
    DEFINE_PROP_UINT32("inbound-windows", QemuEpcState, inbound_windows, 16),
    DEFINE_PROP_BOOL("shmem", QemuEpcState, shmem, true),
    DEFINE_PROP_STRING("capture", QemuEpcState, capture_path),
    DEFINE_PROP_SIZE("capture-limit", QemuEpcState, capture_limit,
                     QEP_CAPTURE_LIMIT),
    DEFINE_PROP_UINT32("functions", QemuEpcState, functions, 1),
    DEFINE_PROP_STRING("bar0", QemuEpcState, bar_kind[0]),
    DEFINE_PROP_STRING("bar1", QemuEpcState, bar_kind[1]),
    DEFINE_PROP_STRING("bar2", QemuEpcState, bar_kind[2]),
    DEFINE_PROP_STRING("bar3", QemuEpcState, bar_kind[3]),
    DEFINE_PROP_STRING("bar4", QemuEpcState, bar_kind[4]),
    DEFINE_PROP_STRING("bar5", QemuEpcState, bar_kind[5]),
    QEP_PROPERTIES_END
};

static const char *const epc_property_help[][2] = {
    { "socket", "Unix socket to listen on for the epf-bridge (this or "
      "chardev= is required; created mode 0600)" },
    { "chardev", "a Unix socket chardev (-chardev socket,id=ID,path=P,"
      "server=on,wait=off) whose connections carry the link, instead of "
      "socket= (one function)" },
    { "vendor-id", "PCI vendor ID of the controller itself" },
    { "device-id", "PCI device ID of the controller itself" },
    { "window-size", "size of the outbound window BAR (power of two, at "
      "least 4 KiB)" },
    { "timeout-ms", "longest wait for a completion from the host side" },
    { "dma-rate", "DMA engine pace in bytes per second of guest time (0: "
      "unpaced)" },
    { "inbound-windows", "inbound translation entries for BAR subranges "
      "(0-64)" },
    { "shmem", "offer and use shared guest RAM, so windows, BARs and DMA "
      "reach the other guest's memory without messages (on/off)" },
    { "capture", "write every link message of every function, and link "
      "events, to this pcapng file (docs/protocol.md)" },
    { "capture-limit", "largest size of the capture file (0: no bound)" },
    { "inject", "faults to inject, settable at run time with qom-set: rules "
      "KIND[:MATCH][:COUNT][:MS] separated by ';' (docs/qemu-epc.md, "
      "\"Fault injection\"); reads back the rules still to act" },
    { "functions", "number of endpoint functions (1-8); function K>0 "
      "listens on SOCKET.K" },
    { "bar0", "what function BAR0 may be: programmable, disabled, "
      "fixed-SIZE, 64bit, fixed-SIZE-64bit" },
    { "bar1", "what function BAR1 may be (see bar0)" },
    { "bar2", "what function BAR2 may be (see bar0)" },
    { "bar3", "what function BAR3 may be (see bar0)" },
    { "bar4", "what function BAR4 may be (see bar0)" },
    { "bar5", "what function BAR5 may be (see bar0)" },
};

static void epc_class_init(ObjectClass *oc, QepClassData *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(oc);

    k->realize = epc_realize;
    k->exit = epc_exit;
    k->vendor_id = QEPC_VENDOR_ID;
    k->device_id = QEPC_DEVICE_ID;
    k->class_id = PCI_CLASS_OTHERS;
    k->revision = 1;
    dc->desc = "qemu-epc PCI endpoint controller (endpoint side)";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    device_class_set_legacy_reset(dc, epc_reset);
    device_class_set_props(dc, epc_properties);
    object_class_property_add_str(oc, "inject", epc_get_inject, epc_set_inject);
    for (int i = 0; i < ARRAY_SIZE(epc_property_help); i++) {
        object_class_property_set_description(oc, epc_property_help[i][0],
                                              epc_property_help[i][1]);
    }
}

static const TypeInfo epc_info = {
    .name = TYPE_QEMU_EPC,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(QemuEpcState),
    .class_init = epc_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    },
};

static void epc_register_types(void)
{
    if (qep_module_check_qemu(TYPE_QEMU_EPC)) {
        type_register_static(&epc_info);
    }
}

type_init(epc_register_types)
