/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-epc DMA engine: channels that move data between guest-1 memory and
 * host PCI addresses, programmed through BAR0 (docs/qemu-epc.md, "DMA
 * engine").  Transfers run in a bottom half, one bounded slice at a time,
 * so guest-1 vCPUs are never held for the length of a transfer; a channel
 * that waits for the host's completion, or for the link's credit to post a
 * write, yields until it comes, so the main loop never waits either.  An
 * abort or a reset cancels the request a channel waits for: its completion
 * can no longer reach the channel.
 */
#ifndef QEMU_EPC_DMA_H
#define QEMU_EPC_DMA_H

/* include "qemu/osdep.h" first */
#include "epc-qemu-compat.h"
#include "qemu/timer.h"
#include "qemu-epc-regs.h"
#include "qemu-epc-proto.h"

/*
 * The end of a host request (main loop, BQL held): its completion status
 * (enum qep_cpl_status), or -1 when the link went down or the host did not
 * answer in time; a read's data (in a buffer valid during the call) with
 * QEP_CPL_SC.
 */
typedef void EpcDmaDone(void *opaque, int status, const void *data,
                        uint32_t len);

/*
 * what the engine needs from the controller; QEPC_DMA_E_* or 0.  @fn is the
 * function that masters the transfer (the channel's CTRL function field).
 */
typedef struct EpcDmaOps {
    /* the host's RAM at a host address, mapped here, or NULL */
    void *(*host_ram)(void *opaque, unsigned fn, uint64_t addr, uint32_t len);
    /*
     * start reading host memory; @done follows unless an error is
     * returned; *handle names the request for cancel
     */
    int (*host_read)(void *opaque, unsigned fn, uint64_t addr, uint32_t len,
                     EpcDmaDone *done, void *done_opaque, uint32_t *handle);
    /* write host memory: posted if @done is NULL, else @done follows */
    int (*host_write)(void *opaque, unsigned fn, uint64_t addr,
                      const void *buf, uint32_t len, EpcDmaDone *done,
                      void *done_opaque, uint32_t *handle);
    /*
     * may a posted write go now (the link's credit)?  If not, @resume is
     * scheduled once it may
     */
    bool (*host_credit)(void *opaque, unsigned fn, QEMUBH *resume);
    /* forget a request: its @done will not run */
    void (*host_cancel)(void *opaque, unsigned fn, uint32_t handle);
    /*
     * A guest-1 address inside the outbound window BAR: 1 with the host
     * address in *host and *len cut to the window's end, 0 if @addr is not in
     * the window BAR, -1 if it is but no enabled window maps it.
     */
    int (*window)(void *opaque, uint64_t addr, uint64_t *host, uint32_t *len);
    void (*finished)(void *opaque, unsigned ch);    /* raise QEPC_IRQ_DMA */
    /* a register write refused: set ERROR to @code, log @msg */
    void (*error)(void *opaque, uint32_t code, const char *msg);
} EpcDmaOps;

#define EPC_DMA_MAX_LEN   (64u << 20)
/* the largest memory request the link carries (4 KiB: none crosses a page) */
#define EPC_DMA_MPS       QEP_MAX_DATA

typedef struct EpcDma EpcDma;

typedef struct EpcDmaChan {
    uint64_t src, dst;
    uint32_t len, ctrl, status;
    uint32_t done;           /* bytes completed */
    /* the step waiting for the host, if any */
    EpcDma *d;
    bool waiting;            /* for the completion of req */
    uint32_t req;            /* the outstanding request's handle */
    bool stepping;           /* the step's data is in buf, to be written */
    bool posted;             /* a write of this transfer went out posted */
    uint64_t step_dst;
    uint32_t step_len;
    bool step_dst_host, step_last;
    uint8_t buf[EPC_DMA_MPS];
} EpcDmaChan;

/* BAR0's block of DMA registers, 0x600..0x6ff: a subregion the engine owns */
#define EPC_DMA_REGS      QEPC_DMA_CHANNELS
#define EPC_DMA_REGS_SIZE 0x100

struct EpcDma {
    PCIDevice *pdev;
    MemoryRegion regs;       /* in the controller's BAR0 at EPC_DMA_REGS */
    unsigned functions;      /* a channel's CTRL may name 0..functions-1 */
    const EpcDmaOps *ops;
    void *opaque;
    QEMUBH *bh;
    QEMUTimer *pace;         /* runs the next slices when rate is set */
    uint64_t rate;           /* bytes per second of virtual time, 0: no limit */
    uint64_t paced;          /* bytes moved since the pace timer last ran */
    unsigned next;           /* round-robin start */
    EpcDmaChan ch[QEPC_NUM_DMA];
};

/* the engine of @pdev, its registers added to @bar0 */
void epc_dma_init(EpcDma *d, PCIDevice *pdev, MemoryRegion *bar0,
                  unsigned functions, const EpcDmaOps *ops, void *opaque);
void epc_dma_fini(EpcDma *d);
void epc_dma_reset(EpcDma *d);


#endif /* QEMU_EPC_DMA_H */
