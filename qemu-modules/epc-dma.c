/*
 * qemu-epc DMA engine (see epc-dma.h; registers in docs/qemu-epc.md).
 *
 * A channel copies LEN bytes from SRC to DST.  Each side is either a host
 * PCI address (the CTRL bit says so), reached with memory requests over the
 * link, or a guest-1 address: RAM, or the controller's own outbound window
 * BAR, which the engine resolves through the window table to a host
 * address.  A step moves at most EPC_DMA_MPS bytes and never crosses a
 * 4 KiB boundary on a host side; reads from the host wait for their
 * completion, writes are posted except the last one, whose completion
 * tells that the data has landed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "system/dma.h"

#include "epc-dma.h"

/* bytes one channel moves per bottom-half run before the others go */
#define DMA_SLICE (64 * 1024)

static const char *const dma_err_names[] = {
    [QEPC_DMA_E_LEN] = "length 0, too large or wrapping",
    [QEPC_DMA_E_LOCAL] = "local address not RAM or not mapped by a window",
    [QEPC_DMA_E_HOST_UR] = "host answered unsupported request (bus master off?)",
    [QEPC_DMA_E_HOST_CA] = "host answered completer abort",
    [QEPC_DMA_E_LINK] = "link down or no completion in time",
    [QEPC_DMA_E_ABORTED] = "aborted",
};

static void dma_end(EpcDma *d, unsigned n, uint32_t state, uint32_t err)
{
    EpcDmaChan *c = &d->ch[n];

    c->status = state | err << 8;
    if (err && err != QEPC_DMA_E_ABORTED) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: DMA channel %u failed after "
                      "%u of %u bytes: %s\n", n, c->done, c->len,
                      dma_err_names[err]);
    }
    if (c->ctrl & QEPC_DMA_IRQ_EN) {
        d->ops->finished(d->opaque, n);
    }
}

/* Is [addr, addr + len) guest RAM the engine may read, or write? */
static bool dma_ram(EpcDma *d, uint64_t addr, uint32_t len, bool write)
{
    AddressSpace *as = pci_get_address_space(d->pdev);

    RCU_READ_LOCK_GUARD();
    while (len) {
        hwaddr xlat, l = len;
        MemoryRegion *mr = address_space_translate(as, addr, &xlat, &l, write,
                                                   MEMTXATTRS_UNSPECIFIED);

        if (!memory_region_is_ram(mr) || (write && mr->readonly) || !l) {
            return false;
        }
        addr += l;
        len -= l;
    }
    return true;
}

/*
 * Resolve one side of a step: *host tells whether *out is a host address;
 * *len is cut so that one request carries it.
 */
static int dma_side(EpcDma *d, uint64_t addr, bool host, uint32_t *len,
                    uint64_t *out, bool *is_host)
{
    *out = addr;
    if (!host) {
        int w = d->ops->window(d->opaque, addr, out, len);

        if (w < 0) {
            return QEPC_DMA_E_LOCAL;
        }
        host = w > 0;
    }
    if (host) {
        *len = MIN(*len, EPC_DMA_MPS - (*out & (EPC_DMA_MPS - 1)));
    }
    *is_host = host;
    return 0;
}

/* Move the next piece of channel @c; returns 0 or QEPC_DMA_E_*. */
static int dma_step(EpcDma *d, EpcDmaChan *c)
{
    uint8_t buf[EPC_DMA_MPS];
    uint32_t len = MIN(c->len - c->done, EPC_DMA_MPS);
    uint64_t src, dst;
    bool src_host, dst_host;
    int err;

    err = dma_side(d, c->src + c->done, c->ctrl & QEPC_DMA_SRC_HOST, &len,
                   &src, &src_host);
    if (!err) {
        err = dma_side(d, c->dst + c->done, c->ctrl & QEPC_DMA_DST_HOST, &len,
                       &dst, &dst_host);
    }
    if (err) {
        return err;
    }
    if (src_host) {
        err = d->ops->host_read(d->opaque, src, buf, len);
    } else if (!dma_ram(d, src, len, false) ||
               pci_dma_read(d->pdev, src, buf, len) != MEMTX_OK) {
        err = QEPC_DMA_E_LOCAL;
    }
    if (err) {
        return err;
    }
    if (dst_host) {
        err = d->ops->host_write(d->opaque, dst, buf, len,
                                 c->done + len == c->len);
    } else if (!dma_ram(d, dst, len, true) ||
               pci_dma_write(d->pdev, dst, buf, len) != MEMTX_OK) {
        err = QEPC_DMA_E_LOCAL;
    }
    if (!err) {
        c->done += len;
    }
    return err;
}

static void dma_run(void *opaque)
{
    EpcDma *d = opaque;
    bool more = false;
    uint64_t moved = 0;

    for (unsigned i = 0; i < QEPC_NUM_DMA; i++) {
        unsigned n = (d->next + i) % QEPC_NUM_DMA;
        EpcDmaChan *c = &d->ch[n];
        uint32_t start = c->done;

        while (QEPC_DMA_STATE(c->status) == QEPC_DMA_BUSY &&
               c->done - start < DMA_SLICE) {
            int err = dma_step(d, c);

            if (err) {
                dma_end(d, n, QEPC_DMA_FAILED, err);
            } else if (c->done == c->len) {
                dma_end(d, n, QEPC_DMA_DONE, QEPC_DMA_E_NONE);
            }
        }
        more |= QEPC_DMA_STATE(c->status) == QEPC_DMA_BUSY;
        moved += c->done - start;
    }
    d->next = (d->next + 1) % QEPC_NUM_DMA;
    if (more && d->rate) {
        /* the next slices when this one's bytes have had their time */
        timer_mod(d->pace, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                  muldiv64(moved, NANOSECONDS_PER_SECOND, d->rate));
    } else if (more) {
        qemu_bh_schedule(d->bh);
    }
}

static void dma_go(EpcDma *d, unsigned n)
{
    EpcDmaChan *c = &d->ch[n];

    c->done = 0;
    if (!c->len || c->len > EPC_DMA_MAX_LEN ||
        c->src + c->len - 1 < c->src || c->dst + c->len - 1 < c->dst) {
        dma_end(d, n, QEPC_DMA_FAILED, QEPC_DMA_E_LEN);
        return;
    }
    c->status = QEPC_DMA_BUSY;
    if (!timer_pending(d->pace)) {
        qemu_bh_schedule(d->bh);
    }
}

static void set32(uint64_t *v, bool hi, uint32_t val)
{
    *v = hi ? (*v & 0xffffffffull) | (uint64_t)val << 32
            : (*v & ~0xffffffffull) | val;
}

bool epc_dma_reg_read(EpcDma *d, hwaddr addr, uint32_t *val)
{
    EpcDmaChan *c;

    switch (addr) {
    case QEPC_DMA_CHANNELS: *val = QEPC_NUM_DMA; return true;
    case QEPC_DMA_MAX_LEN:  *val = EPC_DMA_MAX_LEN; return true;
    case QEPC_DMA_MPS:      *val = EPC_DMA_MPS; return true;
    }
    if (addr < QEPC_DMA_BASE(0) || addr >= QEPC_DMA_BASE(QEPC_NUM_DMA)) {
        return false;
    }
    c = &d->ch[epc_dma_chan_of(addr)];
    switch (addr & 0x1f) {
    case QEPC_DMA_SRC_LO:     *val = c->src; return true;
    case QEPC_DMA_SRC_HI:     *val = c->src >> 32; return true;
    case QEPC_DMA_DST_LO:     *val = c->dst; return true;
    case QEPC_DMA_DST_HI:     *val = c->dst >> 32; return true;
    case QEPC_DMA_LEN:        *val = c->len; return true;
    case QEPC_DMA_CTRL:       *val = c->ctrl; return true;
    case QEPC_DMA_STATUS:     *val = c->status; return true;
    case QEPC_DMA_DONE_BYTES: *val = c->done; return true;
    }
    return false;
}

EpcDmaWrite epc_dma_reg_write(EpcDma *d, hwaddr addr, uint32_t val)
{
    unsigned n;
    EpcDmaChan *c;
    bool busy;

    if (addr < QEPC_DMA_BASE(0) || addr >= QEPC_DMA_BASE(QEPC_NUM_DMA)) {
        return EPC_DMA_UNKNOWN;
    }
    n = epc_dma_chan_of(addr);
    c = &d->ch[n];
    busy = QEPC_DMA_STATE(c->status) == QEPC_DMA_BUSY;
    if ((addr & 0x1f) == QEPC_DMA_CTRL) {
        if (busy && (val & QEPC_DMA_ABORT)) {
            dma_end(d, n, QEPC_DMA_FAILED, QEPC_DMA_E_ABORTED);
            return EPC_DMA_OK;
        }
        if (busy) {
            return EPC_DMA_REFUSED;
        }
        c->ctrl = val & (QEPC_DMA_SRC_HOST | QEPC_DMA_DST_HOST |
                         QEPC_DMA_IRQ_EN);
        if (val & QEPC_DMA_GO) {
            dma_go(d, n);
        }
        return EPC_DMA_OK;
    }
    if (busy && (addr & 0x1f) <= QEPC_DMA_LEN) {
        return EPC_DMA_REFUSED;
    }
    switch (addr & 0x1f) {
    case QEPC_DMA_SRC_LO: set32(&c->src, false, val); return EPC_DMA_OK;
    case QEPC_DMA_SRC_HI: set32(&c->src, true, val); return EPC_DMA_OK;
    case QEPC_DMA_DST_LO: set32(&c->dst, false, val); return EPC_DMA_OK;
    case QEPC_DMA_DST_HI: set32(&c->dst, true, val); return EPC_DMA_OK;
    case QEPC_DMA_LEN:    c->len = val; return EPC_DMA_OK;
    }
    return EPC_DMA_UNKNOWN;
}

void epc_dma_init(EpcDma *d, PCIDevice *pdev, const EpcDmaOps *ops,
                  void *opaque)
{
    d->pdev = pdev;
    d->ops = ops;
    d->opaque = opaque;
    d->bh = qemu_bh_new_guarded(dma_run, d,
                                &DEVICE(pdev)->mem_reentrancy_guard);
    d->pace = timer_new_ns(QEMU_CLOCK_VIRTUAL, dma_run, d);
}

void epc_dma_fini(EpcDma *d)
{
    qemu_bh_delete(d->bh);
    d->bh = NULL;
    timer_free(d->pace);
    d->pace = NULL;
}

void epc_dma_reset(EpcDma *d)
{
    if (d->bh) {
        qemu_bh_cancel(d->bh);
        timer_del(d->pace);
    }
    memset(d->ch, 0, sizeof(d->ch));
    d->next = 0;
}
