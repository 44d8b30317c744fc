/*
 * qemu-epc DMA engine (see epc-dma.h; registers in docs/qemu-epc.md).
 *
 * A channel copies LEN bytes from SRC to DST.  Each side is either a host
 * PCI address (the CTRL bit says so), reached with memory requests over the
 * link, or a guest-1 address: RAM, or the controller's own outbound window
 * BAR, which the engine resolves through the window table to a host
 * address.  A step moves at most EPC_DMA_MPS bytes and never crosses a
 * 4 KiB boundary on a host side.  Host RAM that the host shares is copied
 * directly; otherwise reads from the host are requests whose completion
 * resumes the channel, and writes are posted except the last one, whose
 * completion tells that the data has landed (and that every posted write
 * before it has).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "epc-qemu-compat.h"
#include "qemu/bitops.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"

#include "epc-dma.h"
#include "epc-link.h"
#include "qemu-epc-proto.h"
#include QEP_TRACE_H

/* bytes one channel moves per run before the others go */
#define DMA_SLICE (64 * 1024)

static const char *const dma_err_names[] = {
    [QEPC_DMA_E_LEN] = "length 0, too large or wrapping",
    [QEPC_DMA_E_LOCAL] = "local address not RAM or not mapped by a window",
    [QEPC_DMA_E_HOST_UR] = "host answered unsupported request "
                           "(bus master off?)",
    [QEPC_DMA_E_HOST_CA] = "host answered completer abort",
    [QEPC_DMA_E_LINK] = "link down or no completion in time",
    [QEPC_DMA_E_ABORTED] = "aborted",
    [QEPC_DMA_E_POISONED] = "host data came poisoned",
};

static void dma_end(EpcDma *d, unsigned n, uint32_t state, uint32_t err)
{
    EpcDmaChan *c = &d->ch[n];

    trace_qemu_epc_dma_end(n, state, err);
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

/* A link completion status as a QEPC_DMA_E_* code. */
static int dma_host_status(int st)
{
    return st < 0 ? QEPC_DMA_E_LINK : st == QEP_CPL_SC ? 0
         : st == QEP_CPL_UR ? QEPC_DMA_E_HOST_UR
         : st == QEP_LINK_POISONED ? QEPC_DMA_E_POISONED : QEPC_DMA_E_HOST_CA;
}

static void dma_schedule(EpcDma *d)
{
    if (!timer_pending(d->pace)) {
        qemu_bh_schedule(d->bh);
    }
}

/*
 * The step's data has landed: the step is over.  With a rate set, every
 * DMA_SLICE bytes (all channels) wait until they have had their time.
 */
static void dma_step_done(EpcDma *d, EpcDmaChan *c)
{
    c->done += c->step_len;
    if (d->rate) {
        d->paced += c->step_len;
        if (d->paced >= DMA_SLICE) {
            timer_mod(d->pace, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                      muldiv64(d->paced, NANOSECONDS_PER_SECOND, d->rate));
            d->paced = 0;
        }
    }
    if (c->done == c->len) {
        dma_end(d, c - d->ch, QEPC_DMA_DONE, QEPC_DMA_E_NONE);
    }
}

static void dma_write_done(void *opaque, int st, const void *data,
                           uint32_t len)
{
    EpcDmaChan *c = opaque;
    EpcDma *d = c->d;
    int err = dma_host_status(st);

    assert(c->waiting);
    c->waiting = false;
    c->req = 0;
    trace_qemu_epc_dma_host_done(c - d->ch, st);
    if (err) {
        dma_end(d, c - d->ch, QEPC_DMA_FAILED, err);
    } else {
        c->stepping = false;
        dma_step_done(d, c);
    }
    dma_schedule(d);
}

/*
 * Write the step's data (in the channel's buffer) to its destination: 0
 * when done, -1 when it waits (a completion, or the link's credit), or
 * QEPC_DMA_E_*.
 */
static int dma_write_step(EpcDma *d, EpcDmaChan *c)
{
    unsigned fn = QEPC_DMA_FUNC_OF(c->ctrl);
    void *ram = NULL;
    int err = 0;

    c->stepping = true;
    if (!c->step_dst_host) {
        if (!dma_ram(d, c->step_dst, c->step_len, true) ||
            pci_dma_write(d->pdev, c->step_dst, c->buf,
                          c->step_len) != MEMTX_OK) {
            return QEPC_DMA_E_LOCAL;
        }
        c->stepping = false;
        dma_step_done(d, c);
        return 0;
    }
    /*
     * The last write of a transfer that posted writes goes as a request:
     * its completion follows them, so done means they all landed.
     */
    if (!(c->step_last && c->posted)) {
        ram = d->ops->host_ram(d->opaque, fn, c->step_dst, c->step_len);
    }
    if (ram) {
        RCU_READ_LOCK_GUARD();
        memcpy(ram, c->buf, c->step_len);
    } else if (!c->step_last) {
        /* posted: as a vCPU's, within the link's credit */
        if (!d->ops->host_credit(d->opaque, fn, d->bh)) {
            return -1;          /* resumes when the bottom half runs again */
        }
        err = d->ops->host_write(d->opaque, fn, c->step_dst, c->buf,
                                 c->step_len, NULL, NULL, NULL);
        c->posted = true;
    } else {
        c->waiting = true;
        err = d->ops->host_write(d->opaque, fn, c->step_dst, c->buf,
                                 c->step_len, dma_write_done, c, &c->req);
        if (!err) {
            return -1;          /* resumes in dma_write_done */
        }
        c->waiting = false;
    }
    if (!err) {
        c->stepping = false;
        dma_step_done(d, c);
    }
    return err;
}

static void dma_read_done(void *opaque, int st, const void *data, uint32_t len)
{
    EpcDmaChan *c = opaque;
    EpcDma *d = c->d;
    int err = dma_host_status(st);

    assert(c->waiting);
    c->waiting = false;
    c->req = 0;
    trace_qemu_epc_dma_host_done(c - d->ch, st);
    if (!err) {
        /* the link checked that a successful read carries all its data */
        memcpy(c->buf, data, MIN(len, c->step_len));
        err = dma_write_step(d, c);
    }
    if (err > 0) {
        dma_end(d, c - d->ch, QEPC_DMA_FAILED, err);
    }
    dma_schedule(d);
}

/*
 * Move the next piece of channel @c: 0 when done with it, -1 when it waits
 * for the host (a completion or the link's credit resumes it), or
 * QEPC_DMA_E_*.
 */
static int dma_step(EpcDma *d, EpcDmaChan *c)
{
    uint32_t len = MIN(c->len - c->done, EPC_DMA_MPS);
    uint64_t src;
    bool src_host;
    void *ram;
    int err;

    if (c->stepping) {
        return dma_write_step(d, c);    /* the data is in buf already */
    }
    err = dma_side(d, c->src + c->done, c->ctrl & QEPC_DMA_SRC_HOST, &len,
                   &src, &src_host);
    if (!err) {
        err = dma_side(d, c->dst + c->done, c->ctrl & QEPC_DMA_DST_HOST, &len,
                       &c->step_dst, &c->step_dst_host);
    }
    if (err) {
        return err;
    }
    c->step_len = len;
    c->step_last = c->done + len == c->len;
    trace_qemu_epc_dma_step(c - d->ch, src, c->step_dst, len);
    if (!src_host) {
        if (!dma_ram(d, src, len, false) ||
            pci_dma_read(d->pdev, src, c->buf, len) != MEMTX_OK) {
            return QEPC_DMA_E_LOCAL;
        }
        return dma_write_step(d, c);
    }
    ram = d->ops->host_ram(d->opaque, QEPC_DMA_FUNC_OF(c->ctrl), src, len);
    if (ram) {
        RCU_READ_LOCK_GUARD();
        memcpy(c->buf, ram, len);
        return dma_write_step(d, c);
    }
    c->waiting = true;
    err = d->ops->host_read(d->opaque, QEPC_DMA_FUNC_OF(c->ctrl), src, len,
                            dma_read_done, c, &c->req);
    if (err) {
        c->waiting = false;
        return err;
    }
    return -1;                  /* resumes in dma_read_done */
}

/* Forget the request channel @c waits for, if any. */
static void dma_cancel(EpcDma *d, EpcDmaChan *c)
{
    if (c->waiting) {
        d->ops->host_cancel(d->opaque, QEPC_DMA_FUNC_OF(c->ctrl), c->req);
        c->waiting = false;
        c->req = 0;
    }
    c->stepping = false;
}

/* Each channel in turn moves up to DMA_SLICE bytes, or until it waits. */
static void dma_run(void *opaque)
{
    EpcDma *d = opaque;
    bool more = false;

    for (unsigned i = 0; i < QEPC_NUM_DMA && !timer_pending(d->pace); i++) {
        unsigned n = (d->next + i) % QEPC_NUM_DMA;
        EpcDmaChan *c = &d->ch[n];
        uint32_t start = c->done;

        while (QEPC_DMA_STATE(c->status) == QEPC_DMA_BUSY && !c->waiting &&
               c->done - start < DMA_SLICE && !timer_pending(d->pace)) {
            int err = dma_step(d, c);

            if (err > 0) {
                dma_end(d, n, QEPC_DMA_FAILED, err);
            } else if (err < 0 && !c->waiting) {
                break;          /* no credit: the link reschedules us */
            }
        }
    }
    d->next = (d->next + 1) % QEPC_NUM_DMA;
    for (unsigned i = 0; i < QEPC_NUM_DMA; i++) {
        EpcDmaChan *c = &d->ch[i];

        /* a channel that only ran out of its slice goes on */
        more |= QEPC_DMA_STATE(c->status) == QEPC_DMA_BUSY && !c->waiting &&
                !c->stepping;
    }
    if (more) {
        dma_schedule(d);        /* after the pace timer, if it runs */
    }
}

static void dma_go(EpcDma *d, unsigned n)
{
    EpcDmaChan *c = &d->ch[n];

    c->done = 0;
    dma_cancel(d, c);
    c->posted = false;
    if (!c->len || c->len > EPC_DMA_MAX_LEN ||
        c->src + c->len - 1 < c->src || c->dst + c->len - 1 < c->dst) {
        dma_end(d, n, QEPC_DMA_FAILED, QEPC_DMA_E_LEN);
        return;
    }
    trace_qemu_epc_dma_go(n, c->src, c->dst, c->len, c->ctrl);
    c->status = QEPC_DMA_BUSY;
    /*
     * Start at once, in the register write: a transfer between shared RAM
     * can end before the write returns, without waiting for the main loop
     * (and for the BQL that a driver polling the channel keeps taking).
     * What is left, and what waits for the host, goes on in the BH.
     */
    if (!timer_pending(d->pace)) {
        dma_run(d);
    }
}

/* ---- BAR0's DMA block --------------------------------------------------- */

/* the channel whose registers hold BAR0 offset @addr (in its block) */
static unsigned dma_chan_of(hwaddr addr)
{
    return (addr - QEPC_DMA_BASE(0)) / (QEPC_DMA_BASE(1) - QEPC_DMA_BASE(0));
}

/* at BAR0 offset @addr; false: no such register */
static bool dma_reg_read(EpcDma *d, hwaddr addr, uint32_t *val)
{
    EpcDmaChan *c;

    switch (addr) {
    case QEPC_DMA_CHANNELS:
        *val = QEPC_NUM_DMA;
        return true;
    case QEPC_DMA_MAX_LEN:
        *val = EPC_DMA_MAX_LEN;
        return true;
    case QEPC_DMA_MPS:
        *val = EPC_DMA_MPS;
        return true;
    }
    if (addr < QEPC_DMA_BASE(0) || addr >= QEPC_DMA_BASE(QEPC_NUM_DMA)) {
        return false;
    }
    c = &d->ch[dma_chan_of(addr)];
    switch (addr & 0x1f) {
    case QEPC_DMA_SRC_LO:
        *val = c->src;
        return true;
    case QEPC_DMA_SRC_HI:
        *val = c->src >> 32;
        return true;
    case QEPC_DMA_DST_LO:
        *val = c->dst;
        return true;
    case QEPC_DMA_DST_HI:
        *val = c->dst >> 32;
        return true;
    case QEPC_DMA_LEN:
        *val = c->len;
        return true;
    case QEPC_DMA_CTRL:
        *val = c->ctrl;
        return true;
    case QEPC_DMA_STATUS:
        *val = c->status;
        return true;
    case QEPC_DMA_DONE_BYTES:
        *val = c->done;
        return true;
    }
    return false;
}

typedef enum EpcDmaWrite {
    EPC_DMA_OK,
    EPC_DMA_UNKNOWN,         /* no such (writable) register */
    EPC_DMA_REFUSED,         /* the channel is busy */
} EpcDmaWrite;

static EpcDmaWrite dma_reg_write(EpcDma *d, hwaddr addr, uint32_t val)
{
    unsigned n;
    EpcDmaChan *c;
    bool busy;

    if (addr < QEPC_DMA_BASE(0) || addr >= QEPC_DMA_BASE(QEPC_NUM_DMA)) {
        return EPC_DMA_UNKNOWN;
    }
    n = dma_chan_of(addr);
    c = &d->ch[n];
    busy = QEPC_DMA_STATE(c->status) == QEPC_DMA_BUSY;
    if ((addr & 0x1f) == QEPC_DMA_CTRL) {
        if (busy && (val & QEPC_DMA_ABORT)) {
            dma_cancel(d, c);   /* a completion still to come is dropped */
            dma_end(d, n, QEPC_DMA_FAILED, QEPC_DMA_E_ABORTED);
            return EPC_DMA_OK;
        }
        if (busy && !(val & QEPC_DMA_GO)) {
            /* a running transfer takes IRQ_EN alone: its end interrupts */
            c->ctrl = (c->ctrl & ~QEPC_DMA_IRQ_EN) | (val & QEPC_DMA_IRQ_EN);
            return EPC_DMA_OK;
        }
        if (busy) {
            return EPC_DMA_REFUSED;
        }
        c->ctrl = val & (QEPC_DMA_SRC_HOST | QEPC_DMA_DST_HOST |
                         QEPC_DMA_IRQ_EN | QEPC_DMA_FUNC(7));
        if (val & QEPC_DMA_GO) {
            dma_go(d, n);
        }
        return EPC_DMA_OK;
    }
    if (busy && (addr & 0x1f) <= QEPC_DMA_LEN) {
        return EPC_DMA_REFUSED;
    }
    switch (addr & 0x1f) {
    case QEPC_DMA_SRC_LO:
        c->src = deposit64(c->src, 0, 32, val);
        return EPC_DMA_OK;
    case QEPC_DMA_SRC_HI:
        c->src = deposit64(c->src, 32, 32, val);
        return EPC_DMA_OK;
    case QEPC_DMA_DST_LO:
        c->dst = deposit64(c->dst, 0, 32, val);
        return EPC_DMA_OK;
    case QEPC_DMA_DST_HI:
        c->dst = deposit64(c->dst, 32, 32, val);
        return EPC_DMA_OK;
    case QEPC_DMA_LEN:
        c->len = val;
        return EPC_DMA_OK;
    }
    return EPC_DMA_UNKNOWN;
}

static uint64_t dma_mmio_read(void *opaque, hwaddr off, unsigned size)
{
    uint32_t val;

    if (dma_reg_read(opaque, EPC_DMA_REGS + off, &val)) {
        return val;
    }
    qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: read of unknown register "
                  "0x%" HWADDR_PRIx "\n", EPC_DMA_REGS + off);
    return 0;
}

static void dma_mmio_write(void *opaque, hwaddr off, uint64_t val64,
                           unsigned size)
{
    EpcDma *d = opaque;
    hwaddr addr = EPC_DMA_REGS + off;
    uint32_t val = val64;
    g_autofree char *msg = NULL;

    if (addr >= QEPC_DMA_BASE(0) && addr < QEPC_DMA_BASE(QEPC_NUM_DMA) &&
        (addr & 0x1f) == QEPC_DMA_CTRL &&
        QEPC_DMA_FUNC_OF(val) >= d->functions) {
        msg = g_strdup_printf("DMA channel %u: function %u of %u refused",
                              dma_chan_of(addr), QEPC_DMA_FUNC_OF(val),
                              d->functions);
        d->ops->error(d->opaque, QEPC_ERR_FUNC, msg);
        return;
    }
    switch (dma_reg_write(d, addr, val)) {
    case EPC_DMA_OK:
        return;
    case EPC_DMA_REFUSED:
        msg = g_strdup_printf("DMA channel %u register 0x%x written while "
                              "busy", dma_chan_of(addr),
                              (unsigned)(addr & 0x1f));
        d->ops->error(d->opaque, QEPC_ERR_DMA, msg);
        return;
    case EPC_DMA_UNKNOWN:
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: write 0x%x to read-only or "
                      "unknown register 0x%" HWADDR_PRIx "\n", val, addr);
    }
}

/*
 * An 8-byte access is two 4-byte ones, the lower register first: a driver
 * sets SRC or DST in one access, and LEN then CTRL (with GO) in another.
 */
static const MemoryRegionOps dma_mmio_ops = {
    .read = dma_mmio_read,
    .write = dma_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 8 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

/* ---- life cycle --------------------------------------------------------- */

void epc_dma_init(EpcDma *d, PCIDevice *pdev, MemoryRegion *bar0,
                  unsigned functions, const EpcDmaOps *ops, void *opaque)
{
    d->pdev = pdev;
    d->functions = functions;
    d->ops = ops;
    d->opaque = opaque;
    d->bh = qemu_bh_new_guarded(dma_run, d,
                                &DEVICE(pdev)->mem_reentrancy_guard);
    d->pace = timer_new_ns(QEMU_CLOCK_VIRTUAL, dma_run, d);
    for (unsigned i = 0; i < QEPC_NUM_DMA; i++) {
        d->ch[i].d = d;
    }
    memory_region_init_io(&d->regs, OBJECT(pdev), &dma_mmio_ops, d,
                          "qemu-epc-dma-regs", EPC_DMA_REGS_SIZE);
    memory_region_add_subregion(bar0, EPC_DMA_REGS, &d->regs);
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
    for (unsigned i = 0; i < QEPC_NUM_DMA; i++) {
        EpcDmaChan *c = &d->ch[i];

        dma_cancel(d, c);       /* completions still to come are dropped */
        memset(c, 0, sizeof(*c));
        c->d = d;
    }
    d->next = 0;
    d->paced = 0;
}
