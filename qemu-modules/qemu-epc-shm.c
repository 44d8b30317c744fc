/*
 * qemu-epc: shared memory.  Outbound windows mapped straight onto the
 * host's RAM where it offered it, the parts of each BAR the host may map
 * directly (MAP), and their withdrawal, confirmed by the host.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu-epc-int.h"
#include QEP_TRACE_H

typedef struct EpcWithdraw {
    EpcFunc *f;
    uint32_t handle;
} EpcWithdraw;

static bool page_aligned(uint64_t a, uint64_t b, uint64_t c)
{
    return !((a | b | c) & (qemu_real_host_page_size() - 1));
}

/* Does the host let the function master (PCI_COMMAND bus master)? */
bool epc_host_bme(EpcFunc *f)
{
    return f->link_up && (epc_cfg_command(&f->cfg) & PCI_COMMAND_MASTER);
}

/*
 * Map each enabled window straight onto the host's RAM where the host
 * offered it and lets the function master; the others use messages.
 * Returns whether a direct window went away.
 */
bool epc_windows_update(QemuEpcState *s)
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
void epc_bar_announce(EpcFunc *f, int n)
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

/*
 * Take BAR @n's (or every BAR's) direct mapping from the host: a MAP
 * without pieces, non-posted.  Until the host confirms (once none of its
 * vCPUs can reach the old mapping any more), STATUS says UNMAPPING; the
 * driver waits for that before it uses the memory otherwise.  A host that
 * does not confirm is disconnected (and drops its mappings when it
 * notices).  Never waits.  False if it could not ask now (too many
 * outstanding): the BAR must not change then.
 */
bool epc_bar_withdraw(EpcFunc *f, int n)
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
    /* never more outstanding than the link keeps slots for */
    QEMU_BUILD_BUG_ON(EPC_MAX_UNMAPPING > QEP_LINK_RESERVED);
    w->handle = qep_link_request_reserved(&f->link, buf,
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
void epc_withdraw_forget(EpcFunc *f)
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
