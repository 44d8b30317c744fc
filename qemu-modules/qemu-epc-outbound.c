/*
 * qemu-epc: the function as master on the link: interrupts to the host (INTx,
 * MSI, MSI-X from the table in guest-1 memory), accesses through the outbound
 * window BAR, and the DMA engine's (epc-dma.c) reads and writes of host memory.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu-epc-int.h"
#include QEP_TRACE_H

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

void epc_raise(EpcFunc *f, uint32_t val)
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

const MemoryRegionOps epc_window_ops = {
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

static void epc_dma_error(void *opaque, uint32_t code, const char *msg)
{
    epc_error(opaque, code, "%s", msg);
}

const EpcDmaOps epc_dma_ops = {
    .host_ram = epc_dma_host_ram,
    .host_read = epc_dma_host_read,
    .host_write = epc_dma_host_write,
    .host_credit = epc_dma_host_credit,
    .host_cancel = epc_dma_host_cancel,
    .window = epc_dma_window,
    .finished = epc_dma_finished,
    .error = epc_dma_error,
};
