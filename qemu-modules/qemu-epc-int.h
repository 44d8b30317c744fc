/*
 * qemu-epc: what the device's files share (one device, one state; each
 * file owns one job, qemu-epc.c says which).  Main loop or vCPU, BQL held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_EPC_INT_H
#define QEMU_EPC_INT_H

/* include "qemu/osdep.h" first */
#include "epc-qemu-compat.h"
#include "qom/object.h"
#include "epc-link.h"
#include "epc-direct.h"
#include "epc-bars.h"
#include "epc-windows.h"
#include "epc-cfgspace.h"
#include "epc-dma.h"
#include "epc-mhi.h"
#include "qemu-epc-regs.h"

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

struct QemuEpcState {
    PCIDevice parent_obj;

    MemoryRegion regs;       /* BAR0: the common registers, blocks over them */
    MemoryRegion bar_regs, ib_regs, win_regs;   /* (qemu-epc-regs.c) */
    MemoryRegion window;
    MemoryRegion mhi_mr;     /* BAR1 with mhi=on (qemu-epc-mhi.c) */
    EpcMhi mhi;
    EpcDma dma;

    /* properties */
    char *socket;
    QepCharFe chr;         /* chardev=: instead of socket= (one function) */
    uint16_t vendor_id, device_id;
    uint64_t window_size;
    uint32_t timeout_ms;
    uint32_t max_requests;       /* x-requests: request slots of a link */
    uint32_t inbound_windows;
    char *bar_kind[QEPC_NUM_BARS];
    bool shmem;
    bool mhi_on;             /* mhi=: the MHI register block */
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

/* qemu-epc-mhi.c: the MHI register block */
void epc_mhi_realize(QemuEpcState *s);
MemTxResult epc_inbound_mhi(QemuEpcState *s, uint64_t off, bool write,
                            const uint8_t *wdata, uint8_t *rdata, uint32_t len);

/* qemu-epc.c: interrupts to guest 1, the link's state, QOM */
void epc_update_irq(QemuEpcState *s, uint32_t new_bits);
void epc_event(QemuEpcState *s, uint32_t bits);
void epc_error(QemuEpcState *s, uint32_t code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
void epc_doorbell(QemuEpcState *s, uint32_t val);
void epc_link_update(EpcFunc *f);
void epc_start(QemuEpcState *s, bool start);

/* qemu-epc-shm.c: direct windows onto the host's RAM, BAR pieces offered */
/* withdrawals a function may have outstanding before FLAGS writes wait */
#define EPC_MAX_UNMAPPING 16
bool epc_host_bme(EpcFunc *f);
bool epc_windows_update(QemuEpcState *s);
void epc_bar_announce(EpcFunc *f, int n);
bool epc_bar_withdraw(EpcFunc *f, int n);
void epc_withdraw_forget(EpcFunc *f);

/* qemu-epc-regs.c: BAR0, the registers (docs/qemu-epc.md), less DMA's */
void epc_regs_init(QemuEpcState *s);

/*
 * qemu-epc-outbound.c: the function as master: interrupts to the host, the
 * outbound window BAR, the DMA engine's link
 */
void epc_raise(EpcFunc *f, uint32_t val);
extern const MemoryRegionOps epc_window_ops;
extern const EpcDmaOps epc_dma_ops;

/* qemu-epc-inbound.c: requests and messages from the host */
extern const QepLinkOps epc_link_ops;

#endif
