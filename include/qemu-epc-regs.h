/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-epc register map (BAR0).  docs/qemu-epc.md describes each register;
 * this header is its C form, written to be included by the QEMU device and
 * by the Linux driver alike (plain #defines, no types).
 * All registers are 32-bit, little-endian.
 */
#ifndef QEMU_EPC_REGS_H
#define QEMU_EPC_REGS_H

#define QEPC_VENDOR_ID          0x1234
#define QEPC_DEVICE_ID          0xe9c0  /* the controller, guest 1 */
#define QEPC_BRIDGE_DEVICE_ID   0xe9c1  /* epf-bridge's own ID, guest 2 */

#define QEPC_REG_BAR            0       /* registers */
#define QEPC_WINDOW_BAR         2       /* outbound window space, 64-bit */
#define QEPC_MSIX_BAR           4       /* the controller's own MSI-X table */
#define QEPC_MHI_BAR            1       /* the MHI register block (mhi=on) */
#define QEPC_REGS_SIZE          0x1000

#define QEPC_MAGIC_VALUE        0x43504551  /* "QEPC" */
#define QEPC_REGS_VERSION       5   /* 3: functions (FUNC_SEL); 4: UNMAPPING;
				     * 5: IRQ_EN of a busy DMA channel */

#define QEPC_NUM_BARS           6
#define QEPC_NUM_WINDOWS        16
#define QEPC_MAX_FUNCS          8

/* identification */
#define QEPC_MAGIC              0x000   /* RO */
#define QEPC_VERSION            0x004   /* RO register map version */
#define QEPC_CAPS               0x008   /* RO */
#define  QEPC_CAPS_WINDOWS(v)   ((v) & 0xff)
#define  QEPC_CAPS_BARS(v)      (((v) >> 8) & 0xff)
#define  QEPC_CAPS_MSI          (1u << 16)
#define  QEPC_CAPS_MSIX         (1u << 17)
#define  QEPC_CAPS_INTX         (1u << 18)
#define  QEPC_CAPS_LINKUP_IRQ   (1u << 19)
#define  QEPC_CAPS_DMA          (1u << 20)  /* DMA registers at 0x600 */
#define  QEPC_CAPS_SUBRANGE     (1u << 21)  /* inbound table at 0x800 */
#define  QEPC_CAPS_DOORBELL     (1u << 22)  /* DOORBELL register */
#define  QEPC_CAPS_MHI          (1u << 23)  /* MHI register block in BAR1 */
#define QEPC_WIN_ALIGN          0x00c   /* RO window offset/size granule */

/* link control */
#define QEPC_CTRL               0x010   /* RW */
#define  QEPC_CTRL_START        (1u << 0)
#define QEPC_STATUS             0x014   /* RO */
#define  QEPC_STATUS_PEER       (1u << 0)   /* a bridge is connected */
#define  QEPC_STATUS_LINK_UP    (1u << 1)   /* started and peer connected */
#define  QEPC_STATUS_MEM_EN     (1u << 2)   /* host: memory space enable */
#define  QEPC_STATUS_BME        (1u << 3)   /* host: bus master enable */
#define  QEPC_STATUS_MSI_EN     (1u << 4)
#define  QEPC_STATUS_MSIX_EN    (1u << 5)
#define  QEPC_STATUS_MSIX_MASK  (1u << 6)
#define  QEPC_STATUS_INTX_DIS   (1u << 7)
#define  QEPC_STATUS_IO_EN      (1u << 8)
/*
 * the host still has a direct mapping of a BAR that a FLAGS write or a
 * STOP took away: accesses through it may still reach the old memory until
 * this clears (a driver waits for it after such a write)
 */
#define  QEPC_STATUS_UNMAPPING  (1u << 9)

/* interrupts to guest 1 */
#define QEPC_IRQ_STATUS         0x018   /* RW1C */
#define QEPC_IRQ_ENABLE         0x01c   /* RW */
#define  QEPC_IRQ_LINK_UP       (1u << 0)
#define  QEPC_IRQ_LINK_DOWN     (1u << 1)
#define  QEPC_IRQ_HOST_CFG      (1u << 2)   /* command, MSI or MSI-X changed */
#define  QEPC_IRQ_DOORBELL      (1u << 3)   /* DOORBELL written, without MSI-X */
#define  QEPC_IRQ_BME_SET       (1u << 4)   /* a host set bus master enable */
#define  QEPC_IRQ_DMA(n)        (1u << (8 + (n)))  /* DMA channel n finished */
#define  QEPC_IRQ_DMA_ALL       0xf00u
#define  QEPC_IRQ_ALL           0xf1fu

/* the controller's MSI-X vectors (when the driver enables MSI-X) */
#define QEPC_VEC_EVENTS         0   /* IRQ_STATUS events */
#define QEPC_VEC_DOORBELL       1   /* DOORBELL writes */
#define QEPC_VEC_MHI            2   /* MHI doorbell status (CAPS_MHI only) */
#define QEPC_NUM_VECTORS        3

#define QEPC_ERROR              0x020   /* RO last error, write clears */
#define  QEPC_ERR_NONE          0
#define  QEPC_ERR_BAR           1   /* BAR descriptor rejected */
#define  QEPC_ERR_WINDOW        2   /* window descriptor rejected */
#define  QEPC_ERR_IRQ           3   /* interrupt not enabled by the host */
#define  QEPC_ERR_LINK_DOWN     4   /* operation needs the link up */
#define  QEPC_ERR_CONFIG        5   /* START refused: header/BAR/MSI invalid */
#define  QEPC_ERR_DMA           6   /* DMA register written while busy */
#define  QEPC_ERR_INBOUND       7   /* BAR subrange map invalid or entries in use */
#define  QEPC_ERR_FUNC          8   /* function number out of range */

#define QEPC_INBOUND_COUNT      0x024   /* RO inbound translation entries */

/*
 * Functions: FUNC_SEL selects the function whose registers the per-function
 * blocks show (STATUS, HDR_*, MSI_*, MSIX_*, IRQ_RAISE, BAR[n], the inbound
 * entries); the rest is the controller's.  Reset: function 0.
 */
#define QEPC_FUNC_SEL           0x028   /* RW function number */
#define QEPC_NUM_FUNCS          0x02c   /* RO functions offered, 1..8 */

/* the function's header as written by the EPF (taken at START) */
#define QEPC_HDR_ID             0x030   /* [15:0] vendor, [31:16] device */
#define QEPC_HDR_CLASS          0x034   /* [7:0] rev, [15:8] progif, [23:16] sub, [31:24] base */
#define QEPC_HDR_SUBSYS         0x038   /* [15:0] subsys vendor, [31:16] subsys id */
#define QEPC_HDR_INTPIN         0x03c   /* [2:0] 0 none, 1..4 INTA..INTD */

/* MSI and MSI-X offered to the host (taken at START) and host state */
#define QEPC_MSI_CFG            0x040   /* RW [2:0] log2 vectors, bit31 present */
#define  QEPC_MSI_CFG_PRESENT   (1u << 31)
#define QEPC_MSI_CTRL           0x044   /* RO host's MSI Message Control */
#define QEPC_MSI_ADDR_LO        0x048   /* RO */
#define QEPC_MSI_ADDR_HI        0x04c   /* RO */
#define QEPC_MSI_DATA           0x050   /* RO */
#define QEPC_MSIX_CFG           0x058   /* RW table size (vectors), 0 none */
#define QEPC_MSIX_TABLE         0x05c   /* RW [2:0] BIR, [31:3] offset */
#define QEPC_MSIX_PBA           0x060   /* RW [2:0] BIR, [31:3] offset */
#define QEPC_MSIX_CTRL          0x064   /* RO host's MSI-X Message Control */

#define QEPC_IRQ_RAISE          0x070   /* WO */
#define  QEPC_RAISE_INTX_ASSERT   1
#define  QEPC_RAISE_INTX_DEASSERT 2
#define  QEPC_RAISE_MSI           3
#define  QEPC_RAISE_MSIX          4
#define  QEPC_RAISE(kind, vector) ((kind) | ((vector) << 16))  /* 0-based */

/* doorbell: a write (by the host through an inbound mapping, or by guest 1)
 * latches the value and interrupts guest 1 */
#define QEPC_DOORBELL           0x078   /* WO (reads 0) */
#define QEPC_DOORBELL_DATA      0x07c   /* RO the last value written */

/* what each function BAR may be, n = 0..5 (device properties) */
#define QEPC_BAR_KIND(n)        (0x0c0 + 4 * (n))   /* RO */
#define  QEPC_BAR_KIND_TYPE(v)  ((v) & 0x3)
#define  QEPC_BAR_PROGRAMMABLE  0
#define  QEPC_BAR_FIXED         1   /* size must be 1 << QEPC_BAR_KIND_LOG2 */
#define  QEPC_BAR_DISABLED      2   /* cannot be enabled */
#define  QEPC_BAR_KIND_64BIT    (1u << 4)   /* must be a 64-bit BAR */
#define  QEPC_BAR_KIND_LOG2(v)  (((v) >> 8) & 0x3f)

/*
 * per BAR of the function, n = 0..5.  ADDR, SIZE and SUBMAP are staged;
 * writing FLAGS commits them at once.
 */
#define QEPC_BAR_BASE(n)        (0x100 + 0x20 * (n))
#define QEPC_BAR_ADDR_LO        0x00    /* guest-1 address of the backing memory */
#define QEPC_BAR_ADDR_HI        0x04
#define QEPC_BAR_SIZE_LO        0x08
#define QEPC_BAR_SIZE_HI        0x0c
#define QEPC_BAR_FLAGS          0x10    /* [3:0] PCI BAR flags, bit31 ENABLE */
#define  QEPC_BAR_ENABLE        (1u << 31)
#define QEPC_BAR_HOST_LO        0x14    /* RO address the host assigned */
#define QEPC_BAR_HOST_HI        0x18
#define QEPC_BAR_SUBMAP         0x1c    /* [7:0] first inbound entry, [15:8] count */
#define  QEPC_SUBMAP(first, count) ((first) | ((count) << 8))
#define  QEPC_SUBMAP_FIRST(v)   ((v) & 0xff)
#define  QEPC_SUBMAP_COUNT(v)   (((v) >> 8) & 0xff)

/* per outbound window, n = 0..15 */
#define QEPC_WIN_BASE(n)        (0x400 + 0x20 * (n))
#define QEPC_WIN_OFF_LO         0x00    /* offset in the window BAR */
#define QEPC_WIN_OFF_HI         0x04
#define QEPC_WIN_SIZE_LO        0x08
#define QEPC_WIN_SIZE_HI        0x0c
#define QEPC_WIN_PCI_LO         0x10    /* host PCI address */
#define QEPC_WIN_PCI_HI         0x14
#define QEPC_WIN_CTRL           0x18    /* bit0 ENABLE, [10:8] function */
#define  QEPC_WIN_ENABLE        (1u << 0)
#define  QEPC_WIN_FUNC(f)       ((f) << 8)   /* whose link carries it */
#define  QEPC_WIN_FUNC_OF(v)    (((v) >> 8) & 0x7)

/* DMA engine */
#define QEPC_NUM_DMA            4
#define QEPC_DMA_CHANNELS       0x600   /* RO number of channels */
#define QEPC_DMA_MAX_LEN        0x604   /* RO longest transfer, bytes */
#define QEPC_DMA_MPS            0x608   /* RO largest memory request on the link */

/* per DMA channel, n = 0..QEPC_NUM_DMA - 1 */
#define QEPC_DMA_BASE(n)        (0x640 + 0x20 * (n))
#define QEPC_DMA_SRC_LO         0x00
#define QEPC_DMA_SRC_HI         0x04
#define QEPC_DMA_DST_LO         0x08
#define QEPC_DMA_DST_HI         0x0c
#define QEPC_DMA_LEN            0x10
#define QEPC_DMA_CTRL           0x14
#define  QEPC_DMA_SRC_HOST      (1u << 0)   /* SRC is a host PCI address */
#define  QEPC_DMA_DST_HOST      (1u << 1)   /* DST is a host PCI address */
#define  QEPC_DMA_IRQ_EN        (1u << 2)   /* raise QEPC_IRQ_DMA(n) at the end */
#define  QEPC_DMA_FUNC(f)       ((f) << 8)  /* [10:8] the function that masters */
#define  QEPC_DMA_FUNC_OF(v)    (((v) >> 8) & 0x7)
#define  QEPC_DMA_ABORT         (1u << 30)  /* WO: stop a busy channel */
#define  QEPC_DMA_GO            (1u << 31)  /* WO: start the transfer */
#define QEPC_DMA_STATUS         0x18    /* RO */
#define  QEPC_DMA_STATE(v)      ((v) & 0xf)
#define  QEPC_DMA_IDLE          0
#define  QEPC_DMA_BUSY          1
#define  QEPC_DMA_DONE          2
#define  QEPC_DMA_FAILED        3
#define  QEPC_DMA_ERR(v)        (((v) >> 8) & 0xff)
#define  QEPC_DMA_E_NONE        0
#define  QEPC_DMA_E_LEN         1   /* length 0, too large, or range wraps */
#define  QEPC_DMA_E_LOCAL       2   /* local address not RAM, or unmapped window */
#define  QEPC_DMA_E_HOST_UR     3   /* host: unsupported request, no bus master */
#define  QEPC_DMA_E_HOST_CA     4   /* host: completer abort */
#define  QEPC_DMA_E_LINK        5   /* link down, or no completion in time */
#define  QEPC_DMA_E_ABORTED     6   /* ABORT written */
#define  QEPC_DMA_E_POISONED    7   /* host: the data read came poisoned */
#define QEPC_DMA_DONE_BYTES     0x1c    /* RO bytes written to DST so far */

/*
 * inbound translation entries, n = 0..INBOUND_COUNT - 1: the subranges of
 * a BAR whose SUBMAP names them, in order from the start of the BAR
 */
#define QEPC_MAX_INBOUND        64
#define QEPC_IB_BASE(n)         (0x800 + 0x10 * (n))
#define QEPC_IB_ADDR_LO         0x00    /* guest-1 address of the subrange */
#define QEPC_IB_ADDR_HI         0x04
#define QEPC_IB_SIZE_LO         0x08    /* its size, not 0 */
#define QEPC_IB_SIZE_HI         0x0c

/*
 * The MHI register block (BAR1 of the controller, with CAPS_MHI): the
 * register file of a Qualcomm MHI endpoint, which an EPF maps behind one of
 * its BARs.  Guest 1 sees all of it at its own offsets; an access of the
 * host that the function's BAR leads to offset X of the block is the host's
 * view of the register file, which starts QEPC_MHI_HOST_BASE in: it reaches
 * register X + QEPC_MHI_HOST_BASE (the host's MHICTRL at X = 0x38 is guest
 * 1's at 0x138; the status registers below 0x100 are guest 1's only).
 * The MHI registers themselves
 * (MHICTRL, MHISTATUS, the doorbells ...) are the MHI specification's;
 * below are the hardware's: interrupt status, clear and mask registers
 * that only guest 1 reaches, and the block's layout.
 */
#define QEPC_MHI_SIZE           0x2000  /* the block (BAR1) */
#define QEPC_MHI_MMIO_SIZE      0x1000  /* what the EPF maps (the "mmio" resource) */
#define QEPC_MHI_HOST_BASE      0x100   /* block offset of the host's offset 0 */
#define QEPC_MHI_INT_STATUS     0x004   /* RO [0] MHICTRL written, [1] CRDB rung */
#define QEPC_MHI_CHDB_STATUS(n) (0x028 + 4 * (n))  /* RO channel doorbells rung, n = 0..3 */
#define QEPC_MHI_ERDB_STATUS(n) (0x038 + 4 * (n))  /* RO event doorbells rung */
#define QEPC_MHI_INT_CLEAR      0x04c   /* WO 1s clear INT_STATUS bits */
#define QEPC_MHI_CHDB_CLEAR(n)  (0x070 + 4 * (n))  /* WO */
#define QEPC_MHI_ERDB_CLEAR(n)  (0x080 + 4 * (n))  /* WO */
#define QEPC_MHI_INT_MASK       0x094   /* RW [0] MHICTRL, [1] CRDB */
#define QEPC_MHI_CHDB_MASK(n)   (0x0b8 + 4 * (n))  /* RW */
#define QEPC_MHI_ERDB_MASK(n)   (0x0c8 + 4 * (n))  /* RW */
#define QEPC_MHI_DB_ROWS        4       /* 128 channels, 128 event rings */
#define QEPC_MHI_CHDB(n)        (0x400 + 8 * (n))  /* channel n's doorbell */
#define QEPC_MHI_ERDB(n)        (0x800 + 8 * (n))  /* event ring n's doorbell */

#endif /* QEMU_EPC_REGS_H */
