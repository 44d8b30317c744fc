// SPDX-License-Identifier: GPL-2.0
/*
 * PCI endpoint controller driver for the qemu-epc device.
 *
 * qemu-epc is a QEMU PCI device whose function appears, through a socket,
 * as a PCI device in a second QEMU guest.  This driver turns it into a
 * pci_epc so that unmodified endpoint function drivers run on it.
 * The register map is include/qemu-epc-regs.h (docs/qemu-epc.md).
 *
 * A BAR maps to one guest address, or (kernels with BAR subranges) to an
 * ordered list of subranges through the device's inbound translation
 * entries; a new mapping is staged and committed in one register write,
 * so the host sees the old mapping or the new one.  With MSI-X the device
 * has a doorbell vector, offered as the embedded doorbell resource.
 *
 * The device may offer several functions (max_functions): each has its own
 * header, BARs, inbound entries and interrupts, reached by selecting the
 * function in FUNC_SEL first, so every such sequence runs under qep->lock.
 * Windows name the function whose link carries them.
 *
 * The device's DMA channels are offered as a dmaengine device whose dev is
 * the controller's PCI device, so that EPF drivers find them as private
 * channels: DMA_SLAVE with DEV_TO_MEM/MEM_TO_DEV (remote = host PCI address)
 * and DMA_MEMCPY between guest addresses (a side inside the outbound window
 * reaches the host through the window).  The dmaengine API names no
 * function: transfers are mastered by function 0.  A descriptor ends in the
 * interrupt thread, or, if its submitter polls for it, in tx_status
 * (qep_dma_start_seg).
 */

#include <linux/bitfield.h>
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/dmaengine.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/iopoll.h>
#include <linux/jiffies.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/pci.h>
#include <linux/pci-epc.h>
#include <linux/pci-epf.h>
#include <linux/platform_device.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "qemu-epc-regs.h"
#include "pcie-qemu-ep-compat.h"

#define DRV_NAME	"pcie-qemu-ep"
#define QEP_PLAT_DRV	DRV_NAME "-epc"	/* the EPC parent's driver */
/* what a host writes to ring the doorbell (any value rings it) */
#define QEP_DOORBELL_DATA	0x1
/* longer than the device gives the host to drop a mapping (10 x 300 ms) */
#define QEP_UNMAP_TIMEOUT_US	5000000

static bool slave_dma = true;
module_param(slave_dma, bool, 0444);
MODULE_PARM_DESC(slave_dma,
		 "offer DMA_SLAVE channels (DEV_TO_MEM, MEM_TO_DEV) besides DMA_MEMCPY (default on; off: DMA_MEMCPY only)");

/* one hardware transfer */
struct qep_dma_seg {
	u64 src, dst;
	u32 len, ctrl;
};

struct qep_dma_desc {
	struct dma_async_tx_descriptor tx;
	struct list_head node;
	enum dma_transfer_direction dir;
	unsigned int nsegs, cur;
	struct qep_dma_seg segs[];
};

struct qep_dma_chan {
	struct dma_chan chan;
	struct qep *qep;
	unsigned int idx;
	/* protects everything below and the channel's registers */
	spinlock_t lock;
	struct list_head prepared;	/* prepared, not yet submitted */
	struct list_head submitted;
	struct list_head issued;
	struct qep_dma_desc *active;	/* on the hardware */
	bool irq_on;			/* active's segment interrupts at its end */
	dma_cookie_t failed;		/* last cookie that ended in error */
	bool closing;			/* unbinding: no new descriptors */
	struct dma_slave_config cfg;
};

struct qep {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct pci_epc *epc;
	int irq;

	phys_addr_t win_base;		/* outbound window BAR, guest view */
	resource_size_t win_size;
	u32 win_align;
	unsigned int num_windows;

	/*
	 * serialises register sequences (FUNC_SEL and the function's
	 * registers), the window and inbound tables
	 */
	struct mutex lock;
	unsigned int num_funcs;
	DECLARE_BITMAP(win_used, QEPC_NUM_WINDOWS);
	phys_addr_t win_addr[QEPC_NUM_WINDOWS];
	unsigned int num_inbound;
	struct qep_func_state {
		DECLARE_BITMAP(ib_used, QEPC_MAX_INBOUND);
		u8 bar_sub_first[QEPC_NUM_BARS];	/* entries each BAR uses */
		u8 bar_sub_count[QEPC_NUM_BARS];
	} fn[QEPC_MAX_FUNCS];
	int doorbell_irq;		/* 0: no doorbell vector */
	/*
	 * The EPC's parent, as on SoC controllers: a platform device whose
	 * resources are the MHI register block ("mmio") and its interrupt
	 * ("doorbell") when the device has one (pci-epf-mhi takes them from
	 * there); it is also the DMA channels' device, which EPFs match.
	 */
	struct platform_device *plat;

	/*
	 * Link and host events go to the EPF drivers from a work item, not
	 * from the interrupt thread: an EPF's link-down handler may wait for
	 * DMA transfers, whose completions that thread delivers.
	 */
	spinlock_t ev_lock;
	u32 ev_pending;			/* IRQ_STATUS bits not handled yet */
	struct work_struct ev_work;
	bool init_notified;
	struct pci_epc_features features;

	struct dma_device dma;
	struct qep_dma_chan dma_chan[QEPC_NUM_DMA];
	unsigned int num_dma;
	u32 dma_max_len;
};

static u32 qep_readl(struct qep *qep, u32 reg)
{
	return readl(qep->regs + reg);
}

static void qep_writel(struct qep *qep, u32 reg, u32 val)
{
	writel(val, qep->regs + reg);
}

static void qep_write64(struct qep *qep, u32 reg, u64 val)
{
	qep_writel(qep, reg, lower_32_bits(val));
	qep_writel(qep, reg + 4, upper_32_bits(val));
}

/* Show function @func_no's registers.  Lock held. */
static void qep_select(struct qep *qep, u8 func_no)
{
	lockdep_assert_held(&qep->lock);
	qep_writel(qep, QEPC_FUNC_SEL, func_no);
}

static bool qep_bad_func(struct qep *qep, u8 func_no, u8 vfunc_no)
{
	return func_no >= qep->num_funcs || vfunc_no;
}

static bool __maybe_unused qep_epc_bad_func(struct pci_epc *epc, u8 func_no,
					    u8 vfunc_no)
{
	return qep_bad_func(epc_get_drvdata(epc), func_no, vfunc_no);
}

/*
 * After a BAR FLAGS write or a stop: wait until the host has dropped the
 * direct mappings the write took away (STATUS.UNMAPPING), so that no host
 * access reaches memory the BAR no longer maps once the op returns.  The
 * device gives the host 10 x its completion timeout, then disconnects it
 * (which ends the wait too).  Lock held, the function selected.
 */
static void qep_wait_unmapped(struct qep *qep, u8 func_no)
{
	u32 st;

	if (readl_poll_timeout(qep->regs + QEPC_STATUS, st,
			       !(st & QEPC_STATUS_UNMAPPING), 20,
			       QEP_UNMAP_TIMEOUT_US))
		dev_warn(&qep->pdev->dev,
			 "function %u: the host still maps an old BAR after %u ms\n",
			 func_no, QEP_UNMAP_TIMEOUT_US / 1000);
}

static int qep_write_header(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			    struct pci_epf_header *hdr)
{
	struct qep *qep = epc_get_drvdata(epc);

	if (qep_bad_func(qep, func_no, vfunc_no))
		return -EINVAL;
	if (hdr->interrupt_pin > PCI_INTERRUPT_INTD)
		return -EINVAL;

	mutex_lock(&qep->lock);
	qep_select(qep, func_no);
	qep_writel(qep, QEPC_HDR_ID, hdr->vendorid | (u32)hdr->deviceid << 16);
	qep_writel(qep, QEPC_HDR_CLASS, hdr->revid | (u32)hdr->progif_code << 8 |
		   (u32)hdr->subclass_code << 16 | (u32)hdr->baseclass_code << 24);
	qep_writel(qep, QEPC_HDR_SUBSYS, hdr->subsys_vendor_id |
		   (u32)hdr->subsys_id << 16);
	qep_writel(qep, QEPC_HDR_INTPIN, hdr->interrupt_pin);
	mutex_unlock(&qep->lock);
	return 0;
}

/* Free the inbound entries BAR @n of function @f uses.  Lock held. */
static void qep_bar_release_entries(struct qep_func_state *f, int n)
{
	bitmap_clear(f->ib_used, f->bar_sub_first[n], f->bar_sub_count[n]);
	f->bar_sub_count[n] = 0;
}

/*
 * Program @epf_bar's subranges into free inbound entries and return the
 * SUBMAP value naming them.  Lock held.
 */
static int qep_bar_stage_submap(struct qep *qep, struct qep_func_state *f,
				struct pci_epf_bar *epf_bar, unsigned int nsub,
				u32 *submap)
{
	unsigned long first;
	u64 addr, size, sum = 0;
	unsigned int i;

	for (i = 0; i < nsub; i++) {
		qep_bar_submap(epf_bar, i, &addr, &size);
		if (!size || size > epf_bar->size - sum)
			return -EINVAL;
		sum += size;
	}
	if (sum != epf_bar->size)
		return -EINVAL;
	first = bitmap_find_next_zero_area(f->ib_used, qep->num_inbound, 0,
					   nsub, 0);
	if (first >= qep->num_inbound) {
		dev_dbg(&qep->pdev->dev,
			"BAR%d: no %u free inbound entries of %u\n",
			epf_bar->barno, nsub, qep->num_inbound);
		return -ENOSPC;
	}
	for (i = 0; i < nsub; i++) {
		u32 base = QEPC_IB_BASE(first + i);

		qep_bar_submap(epf_bar, i, &addr, &size);
		qep_write64(qep, base + QEPC_IB_ADDR_LO, addr);
		qep_write64(qep, base + QEPC_IB_SIZE_LO, size);
	}
	bitmap_set(f->ib_used, first, nsub);
	*submap = QEPC_SUBMAP((u32)first, nsub);
	return 0;
}

static int qep_set_bar(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
		       struct pci_epf_bar *epf_bar)
{
	struct qep *qep = epc_get_drvdata(epc);
	int n = epf_bar->barno;
	u32 base = QEPC_BAR_BASE(n);
	u32 flags = epf_bar->flags & 0xf;
	unsigned int nsub = qep_bar_num_submap(epf_bar);
	u64 size = epf_bar->size;
	struct qep_func_state *f;
	u32 cur, submap = 0, err;
	bool same;
	int ret = 0;

	if (qep_bad_func(qep, func_no, vfunc_no) || n < 0 ||
	    n >= QEPC_NUM_BARS)
		return -EINVAL;
	f = &qep->fn[func_no];
	if (!size || !is_power_of_2(size))
		return -EINVAL;
	/*
	 * A BAR the controller only has as 64-bit is 64-bit whatever the EPF
	 * asked for, as on hardware with such BARs (pci-epf-vntb asks for a
	 * 32-bit window on every controller).
	 */
	if (!(flags & PCI_BASE_ADDRESS_SPACE_IO) &&
	    (qep_readl(qep, QEPC_BAR_KIND(n)) & QEPC_BAR_KIND_64BIT))
		flags |= PCI_BASE_ADDRESS_MEM_TYPE_64;

	mutex_lock(&qep->lock);
	qep_select(qep, func_no);
	cur = qep_readl(qep, base + QEPC_BAR_FLAGS);
	same = (cur & QEPC_BAR_ENABLE) && (cur & 0xf) == flags &&
	       qep_readl(qep, base + QEPC_BAR_SIZE_LO) == lower_32_bits(size) &&
	       qep_readl(qep, base + QEPC_BAR_SIZE_HI) == upper_32_bits(size);
	if (nsub && !same) {
		/* subranges remap a BAR that is set up already */
		ret = -EINVAL;
		goto out;
	}
	if (nsub) {
		ret = qep_bar_stage_submap(qep, f, epf_bar, nsub, &submap);
		if (ret)
			goto out;
	} else {
		qep_write64(qep, base + QEPC_BAR_ADDR_LO, epf_bar->phys_addr);
	}
	if (!same) {
		/* a new layout: the BAR is cleared first */
		qep_writel(qep, base + QEPC_BAR_FLAGS, 0);
		qep_wait_unmapped(qep, func_no);
		qep_bar_release_entries(f, n);
		qep_write64(qep, base + QEPC_BAR_SIZE_LO, size);
	}
	qep_writel(qep, base + QEPC_BAR_SUBMAP, submap);
	qep_writel(qep, QEPC_ERROR, 0);
	/* the commit: the new mapping replaces the old one at once */
	qep_writel(qep, base + QEPC_BAR_FLAGS, flags | QEPC_BAR_ENABLE);
	err = qep_readl(qep, QEPC_ERROR);
	qep_wait_unmapped(qep, func_no);
	if (err) {
		/* refused: the BAR keeps its previous mapping, if any */
		dev_err(&qep->pdev->dev,
			"function %u BAR%d refused: size %#llx flags %#x subranges %u (error %u)\n",
			func_no, n, size, flags, nsub, err);
		if (nsub)
			bitmap_clear(f->ib_used, QEPC_SUBMAP_FIRST(submap), nsub);
		ret = -EINVAL;
		goto out;
	}
	qep_bar_release_entries(f, n);
	f->bar_sub_first[n] = QEPC_SUBMAP_FIRST(submap);
	f->bar_sub_count[n] = nsub;
out:
	mutex_unlock(&qep->lock);
	return ret;
}

static void qep_clear_bar(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			  struct pci_epf_bar *epf_bar)
{
	struct qep *qep = epc_get_drvdata(epc);
	int n = epf_bar->barno;

	if (qep_bad_func(qep, func_no, vfunc_no) || n < 0 ||
	    n >= QEPC_NUM_BARS)
		return;

	mutex_lock(&qep->lock);
	qep_select(qep, func_no);
	qep_writel(qep, QEPC_BAR_BASE(n) + QEPC_BAR_FLAGS, 0);
	qep_wait_unmapped(qep, func_no);
	qep_bar_release_entries(&qep->fn[func_no], n);
	mutex_unlock(&qep->lock);
}

static u64 __maybe_unused qep_align(struct pci_epc *epc, u64 pci_addr,
				    size_t *size, size_t *offset)
{
	struct qep *qep = epc_get_drvdata(epc);
	u64 mask = qep->win_align - 1;

	*offset = pci_addr & mask;
	*size = ALIGN(*offset + *size, qep->win_align);
	return pci_addr & ~mask;
}

static int qep_map_addr(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			phys_addr_t addr, u64 pci_addr, size_t size)
{
	struct qep *qep = epc_get_drvdata(epc);
	u64 off, delta, wsize;
	unsigned int w;
	u32 base;
	int ret = 0;

	if (qep_bad_func(qep, func_no, vfunc_no) || !size)
		return -EINVAL;
	if (addr < qep->win_base || addr - qep->win_base >= qep->win_size)
		return -EINVAL;

	/* windows start on a granule: map from the granule below addr */
	off = addr - qep->win_base;
	delta = off & (qep->win_align - 1);
	if (pci_addr < delta)
		return -EINVAL;
	wsize = ALIGN(size + delta, qep->win_align);
	if (off - delta + wsize > qep->win_size)
		return -EINVAL;

	mutex_lock(&qep->lock);
	w = find_first_zero_bit(qep->win_used, qep->num_windows);
	if (w >= qep->num_windows) {
		dev_err(&qep->pdev->dev, "no free outbound window\n");
		ret = -ENOSPC;
		goto out;
	}
	base = QEPC_WIN_BASE(w);
	qep_write64(qep, base + QEPC_WIN_OFF_LO, off - delta);
	qep_write64(qep, base + QEPC_WIN_SIZE_LO, wsize);
	qep_write64(qep, base + QEPC_WIN_PCI_LO, pci_addr - delta);
	qep_writel(qep, QEPC_ERROR, 0);
	qep_writel(qep, base + QEPC_WIN_CTRL,
		   QEPC_WIN_ENABLE | QEPC_WIN_FUNC(func_no));
	if (!(qep_readl(qep, base + QEPC_WIN_CTRL) & QEPC_WIN_ENABLE)) {
		dev_err(&qep->pdev->dev, "window %u refused (error %u)\n", w,
			qep_readl(qep, QEPC_ERROR));
		ret = -EINVAL;
		goto out;
	}
	set_bit(w, qep->win_used);
	qep->win_addr[w] = addr;
out:
	mutex_unlock(&qep->lock);
	return ret;
}

static void qep_unmap_addr(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			   phys_addr_t addr)
{
	struct qep *qep = epc_get_drvdata(epc);
	unsigned int w;

	mutex_lock(&qep->lock);
	for_each_set_bit(w, qep->win_used, qep->num_windows) {
		if (qep->win_addr[w] != addr)
			continue;
		qep_writel(qep, QEPC_WIN_BASE(w) + QEPC_WIN_CTRL, 0);
		clear_bit(w, qep->win_used);
		break;
	}
	mutex_unlock(&qep->lock);
}

static int qep_set_msi(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
		       u8 interrupts)
{
	struct qep *qep = epc_get_drvdata(epc);
	int log2 = qep_msi_log2(interrupts);

	/* at most 32 vectors */
	if (qep_bad_func(qep, func_no, vfunc_no) || log2 < 0 || log2 > 5 ||
	    !(qep->features.msi_capable))
		return -EINVAL;

	mutex_lock(&qep->lock);
	qep_select(qep, func_no);
	qep_writel(qep, QEPC_MSI_CFG, QEPC_MSI_CFG_PRESENT | log2);
	mutex_unlock(&qep->lock);
	return 0;
}

static int qep_get_msi(struct pci_epc *epc, u8 func_no, u8 vfunc_no)
{
	struct qep *qep = epc_get_drvdata(epc);
	u32 ctrl;

	if (qep_bad_func(qep, func_no, vfunc_no))
		return -EINVAL;
	mutex_lock(&qep->lock);
	qep_select(qep, func_no);
	ctrl = qep_readl(qep, QEPC_MSI_CTRL);
	mutex_unlock(&qep->lock);
	if (!(ctrl & PCI_MSI_FLAGS_ENABLE))
		return -EINVAL;
	return qep_msi_ret(FIELD_GET(PCI_MSI_FLAGS_QSIZE, ctrl));
}

static int qep_set_msix(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			u16 nr_irqs, enum pci_barno bir, u32 offset)
{
	struct qep *qep = epc_get_drvdata(epc);
	u32 count = qep_msix_count(nr_irqs);

	if (qep_bad_func(qep, func_no, vfunc_no) || !qep->features.msix_capable)
		return -EINVAL;
	if (!count || count > PCI_MSIX_FLAGS_QSIZE + 1 ||
	    bir >= QEPC_NUM_BARS || offset & 7)
		return -EINVAL;

	mutex_lock(&qep->lock);
	qep_select(qep, func_no);
	qep_writel(qep, QEPC_MSIX_CFG, count);
	qep_writel(qep, QEPC_MSIX_TABLE, offset | bir);
	qep_writel(qep, QEPC_MSIX_PBA,
		   (offset + count * PCI_MSIX_ENTRY_SIZE) | bir);
	mutex_unlock(&qep->lock);
	return 0;
}

static int qep_get_msix(struct pci_epc *epc, u8 func_no, u8 vfunc_no)
{
	struct qep *qep = epc_get_drvdata(epc);
	u32 ctrl;

	if (qep_bad_func(qep, func_no, vfunc_no))
		return -EINVAL;
	mutex_lock(&qep->lock);
	qep_select(qep, func_no);
	ctrl = qep_readl(qep, QEPC_MSIX_CTRL);
	mutex_unlock(&qep->lock);
	if (!(ctrl & PCI_MSIX_FLAGS_ENABLE))
		return -EINVAL;
	return qep_msix_ret(ctrl & PCI_MSIX_FLAGS_QSIZE);
}

/* Write IRQ_RAISE and report whether the device refused it. */
static int qep_raise(struct qep *qep, u32 kind, u32 vector)
{
	u32 err;

	qep_writel(qep, QEPC_ERROR, 0);
	qep_writel(qep, QEPC_IRQ_RAISE, QEPC_RAISE(kind, vector));
	err = qep_readl(qep, QEPC_ERROR);
	if (!err)
		return 0;
	dev_dbg(&qep->pdev->dev, "interrupt kind %u vector %u refused (error %u)\n",
		kind, vector, err);
	return err == QEPC_ERR_LINK_DOWN ? -ENOLINK : -EINVAL;
}

static int qep_raise_irq(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			 QEP_IRQ_TYPE type, u16 interrupt_num)
{
	struct qep *qep = epc_get_drvdata(epc);
	int ret;

	if (qep_bad_func(qep, func_no, vfunc_no))
		return -EINVAL;

	mutex_lock(&qep->lock);
	qep_select(qep, func_no);
	switch (type) {
	case QEP_IRQ_INTX:
		/* a pulse: asserted long enough for the host to see it */
		ret = qep_raise(qep, QEPC_RAISE_INTX_ASSERT, 0);
		if (ret)
			break;
		usleep_range(1000, 2000);
		ret = qep_raise(qep, QEPC_RAISE_INTX_DEASSERT, 0);
		break;
	case QEP_IRQ_MSI:
		ret = interrupt_num ?
		      qep_raise(qep, QEPC_RAISE_MSI, interrupt_num - 1) : -EINVAL;
		break;
	case QEP_IRQ_MSIX:
		ret = interrupt_num ?
		      qep_raise(qep, QEPC_RAISE_MSIX, interrupt_num - 1) : -EINVAL;
		break;
	default:
		ret = -EINVAL;
	}
	mutex_unlock(&qep->lock);
	return ret;
}

static int qep_start(struct pci_epc *epc)
{
	struct qep *qep = epc_get_drvdata(epc);
	int ret = 0;

	mutex_lock(&qep->lock);
	qep_writel(qep, QEPC_ERROR, 0);
	qep_writel(qep, QEPC_CTRL, QEPC_CTRL_START);
	if (!(qep_readl(qep, QEPC_CTRL) & QEPC_CTRL_START)) {
		dev_err(&qep->pdev->dev,
			"start refused: header, BAR or MSI set-up invalid (error %u)\n",
			qep_readl(qep, QEPC_ERROR));
		ret = -EINVAL;
	}
	mutex_unlock(&qep->lock);
	return ret;
}

static void qep_stop(struct pci_epc *epc)
{
	struct qep *qep = epc_get_drvdata(epc);

	unsigned int i;

	mutex_lock(&qep->lock);
	qep_writel(qep, QEPC_CTRL, 0);
	for (i = 0; i < qep->num_funcs; i++) {
		qep_select(qep, i);
		qep_wait_unmapped(qep, i);
	}
	mutex_unlock(&qep->lock);
}

static const struct pci_epc_features *
qep_get_features(struct pci_epc *epc, u8 func_no, u8 vfunc_no)
{
	struct qep *qep = epc_get_drvdata(epc);

	if (qep_bad_func(qep, func_no, vfunc_no))
		return NULL;
	return &qep->features;
}

/* The doorbell register, its interrupt and the value to write. */
static int __maybe_unused qep_doorbell(struct pci_epc *epc, phys_addr_t *addr,
				       int *irq, u32 *data)
{
	struct qep *qep = epc_get_drvdata(epc);

	if (!qep->doorbell_irq)
		return -ENODEV;
	*addr = pci_resource_start(qep->pdev, QEPC_REG_BAR) + QEPC_DOORBELL;
	*irq = qep->doorbell_irq;
	*data = QEP_DOORBELL_DATA;
	return 0;
}

static const struct pci_epc_ops qep_epc_ops = {
	.write_header	= qep_write_header,
	.set_bar	= qep_set_bar,
	.clear_bar	= qep_clear_bar,
	QEP_ALIGN_OPS
	.map_addr	= qep_map_addr,
	.unmap_addr	= qep_unmap_addr,
	.set_msi	= qep_set_msi,
	.get_msi	= qep_get_msi,
	.set_msix	= qep_set_msix,
	.get_msix	= qep_get_msix,
	.raise_irq	= qep_raise_irq,
	.start		= qep_start,
	.stop		= qep_stop,
	.get_features	= qep_get_features,
	QEP_AUX_OPS
	.owner		= THIS_MODULE,
};

/* ---- DMA engine ---------------------------------------------------------- */

static struct qep_dma_chan *to_qep_dma_chan(struct dma_chan *chan)
{
	return container_of(chan, struct qep_dma_chan, chan);
}

static struct qep_dma_desc *to_qep_dma_desc(struct dma_async_tx_descriptor *tx)
{
	return container_of(tx, struct qep_dma_desc, tx);
}

/*
 * A descriptor whose submitter polls for its end (dma_sync_wait, or
 * tx_status): it asks for no interrupt (DMA_PREP_INTERRUPT) and has no
 * callback.
 */
static bool qep_dma_polled(struct qep_dma_desc *desc)
{
	return !(desc->tx.flags & DMA_PREP_INTERRUPT) && !desc->tx.callback &&
	       !desc->tx.callback_result;
}

/*
 * Program the active descriptor's current segment.  It interrupts at its end
 * unless it is a polled descriptor's last and nothing waits behind it: the
 * engine moves up to 64 KiB of shared RAM in the GO write itself, so the
 * first poll finds it done, and an interrupt would only wake a vCPU for
 * nothing (two per NVMe command with nvmet-pci-epf).  Lock held.
 */
static void qep_dma_start_seg(struct qep_dma_chan *qc)
{
	struct qep_dma_desc *desc = qc->active;
	struct qep_dma_seg *seg = &desc->segs[desc->cur];
	struct qep *qep = qc->qep;
	u32 base = QEPC_DMA_BASE(qc->idx);

	qc->irq_on = desc->cur + 1 < desc->nsegs || !qep_dma_polled(desc) ||
		     !list_empty(&qc->issued);
	/*
	 * Three accesses: SRC, DST, then LEN and CTRL (the device takes the
	 * lower register of an 8-byte write first).
	 */
	writeq(seg->src, qep->regs + base + QEPC_DMA_SRC_LO);
	writeq(seg->dst, qep->regs + base + QEPC_DMA_DST_LO);
	writeq(seg->len | (u64)(seg->ctrl | QEPC_DMA_GO |
				(qc->irq_on ? QEPC_DMA_IRQ_EN : 0)) << 32,
	       qep->regs + base + QEPC_DMA_LEN);
}

/* Start the next issued descriptor if the channel is free.  Lock held. */
static void qep_dma_start_next(struct qep_dma_chan *qc)
{
	if (qc->active || list_empty(&qc->issued))
		return;
	qc->active = list_first_entry(&qc->issued, struct qep_dma_desc, node);
	list_del(&qc->active->node);
	qc->active->cur = 0;
	qep_dma_start_seg(qc);
}

/*
 * A transfer completed: count it in the channel's dmaengine statistics
 * (/sys/class/dma/dmaXchanY/memcpy_count and bytes_transferred), so that
 * one can tell that an EPF driver's data went through these channels.
 */
static void qep_dma_account(struct qep_dma_chan *qc, struct qep_dma_desc *desc)
{
	unsigned long bytes = 0;
	unsigned int i;

	for (i = 0; i < desc->nsegs; i++)
		bytes += desc->segs[i].len;
	this_cpu_inc(qc->chan.local->memcpy_count);
	this_cpu_add(qc->chan.local->bytes_transferred, bytes);
}

/*
 * Look at the channel: if its segment ended, start the active descriptor's
 * next one, or end the descriptor (its result in @res) and start the next
 * issued one.  Returns the descriptor that ended, or NULL.  Lock held.
 */
static struct qep_dma_desc *qep_dma_advance(struct qep_dma_chan *qc,
					    struct dmaengine_result *res)
{
	struct qep_dma_desc *desc = qc->active;
	struct qep *qep = qc->qep;
	u32 st;

	if (!desc)
		return NULL;
	st = qep_readl(qep, QEPC_DMA_BASE(qc->idx) + QEPC_DMA_STATUS);
	if (QEPC_DMA_STATE(st) == QEPC_DMA_BUSY)
		return NULL;
	if (QEPC_DMA_STATE(st) == QEPC_DMA_DONE && ++desc->cur < desc->nsegs) {
		qep_dma_start_seg(qc);
		return NULL;
	}
	qc->active = NULL;
	res->result = DMA_TRANS_NOERROR;
	if (QEPC_DMA_STATE(st) != QEPC_DMA_DONE) {
		qc->failed = desc->tx.cookie;
		res->result = desc->dir == DMA_DEV_TO_MEM ?
			      DMA_TRANS_READ_FAILED : DMA_TRANS_WRITE_FAILED;
		dev_err_ratelimited(&qep->pdev->dev,
				    "DMA channel %u: transfer failed, error %u\n",
				    qc->idx, QEPC_DMA_ERR(st));
	} else {
		qep_dma_account(qc, desc);
	}
	qc->chan.completed_cookie = desc->tx.cookie;
	qep_dma_start_next(qc);
	return desc;
}

/*
 * The active transfer runs without its interrupt: end it if it ended;
 * otherwise ask for the interrupt (a busy channel takes IRQ_EN alone) and
 * look once more, for an end between the read and the write.  From then on
 * the interrupt ends it.  A descriptor that ended here is a polled one: no
 * callback to run, freed.  Lock held.
 */
static void qep_dma_poll(struct qep_dma_chan *qc)
{
	struct dmaengine_result res;
	struct qep_dma_desc *desc;

	if (!qc->active || qc->irq_on)
		return;
	desc = qep_dma_advance(qc, &res);
	if (!desc && qc->active && !qc->irq_on) {
		qc->irq_on = true;
		qep_writel(qc->qep, QEPC_DMA_BASE(qc->idx) + QEPC_DMA_CTRL,
			   qc->active->segs[qc->active->cur].ctrl |
			   QEPC_DMA_IRQ_EN);
		desc = qep_dma_advance(qc, &res);
	}
	kfree(desc);
}

/* The channel raised its interrupt: a segment ended. */
static void qep_dma_chan_irq(struct qep_dma_chan *qc)
{
	struct dmaengine_result res;
	struct qep_dma_desc *desc;
	unsigned long flags;

	spin_lock_irqsave(&qc->lock, flags);
	desc = qep_dma_advance(qc, &res);
	spin_unlock_irqrestore(&qc->lock, flags);
	if (!desc)
		return;
	if (desc->tx.callback_result)
		desc->tx.callback_result(desc->tx.callback_param, &res);
	else if (desc->tx.callback)
		desc->tx.callback(desc->tx.callback_param);
	kfree(desc);
}

static dma_cookie_t qep_dma_tx_submit(struct dma_async_tx_descriptor *tx)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(tx->chan);
	struct qep_dma_desc *desc = to_qep_dma_desc(tx);
	unsigned long flags;
	dma_cookie_t cookie;

	spin_lock_irqsave(&qc->lock, flags);
	cookie = qc->chan.cookie + 1;
	if (cookie < DMA_MIN_COOKIE)
		cookie = DMA_MIN_COOKIE;
	qc->chan.cookie = cookie;
	tx->cookie = cookie;
	list_move_tail(&desc->node, &qc->submitted);
	spin_unlock_irqrestore(&qc->lock, flags);
	return cookie;
}

static struct qep_dma_desc *qep_dma_alloc(struct qep_dma_chan *qc,
					  unsigned int nsegs,
					  enum dma_transfer_direction dir,
					  unsigned long flags)
{
	struct qep_dma_desc *desc;
	unsigned long lflags;

	desc = kzalloc(struct_size(desc, segs, nsegs), GFP_NOWAIT);
	if (!desc)
		return NULL;
	dma_async_tx_descriptor_init(&desc->tx, &qc->chan);
	desc->tx.tx_submit = qep_dma_tx_submit;
	desc->tx.flags = flags;
	desc->dir = dir;
	desc->nsegs = nsegs;
	spin_lock_irqsave(&qc->lock, lflags);
	if (qc->closing) {
		spin_unlock_irqrestore(&qc->lock, lflags);
		kfree(desc);
		return NULL;
	}
	list_add_tail(&desc->node, &qc->prepared);
	spin_unlock_irqrestore(&qc->lock, lflags);
	return desc;
}

/* Split [src, src + len) -> dst into segments; returns the next free one. */
static unsigned int qep_dma_fill(struct qep *qep, struct qep_dma_seg *seg,
				 u64 src, u64 dst, u64 len, u32 ctrl)
{
	unsigned int n = 0;

	while (len) {
		u32 l = min_t(u64, len, qep->dma_max_len);

		seg[n++] = (struct qep_dma_seg){ src, dst, l, ctrl };
		src += l;
		dst += l;
		len -= l;
	}
	return n;
}

static struct dma_async_tx_descriptor *
qep_dma_prep_memcpy(struct dma_chan *chan, dma_addr_t dst, dma_addr_t src,
		    size_t len, unsigned long flags)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(chan);
	struct qep *qep = qc->qep;
	struct qep_dma_desc *desc;

	if (!len)
		return NULL;
	desc = qep_dma_alloc(qc, DIV_ROUND_UP_ULL(len, qep->dma_max_len),
			     DMA_MEM_TO_MEM, flags);
	if (!desc)
		return NULL;
	qep_dma_fill(qep, desc->segs, src, dst, len, 0);
	return &desc->tx;
}

static struct dma_async_tx_descriptor *
qep_dma_prep_slave_sg(struct dma_chan *chan, struct scatterlist *sgl,
		      unsigned int sg_len, enum dma_transfer_direction dir,
		      unsigned long flags, void *context)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(chan);
	struct qep *qep = qc->qep;
	struct qep_dma_desc *desc;
	struct scatterlist *sg;
	unsigned int i, n = 0;
	unsigned long lflags;
	u64 remote;

	if (dir != DMA_DEV_TO_MEM && dir != DMA_MEM_TO_DEV) {
		/* a slave transfer names one host address: no MEM_TO_MEM */
		dev_dbg(&qep->pdev->dev, "slave transfer direction %d refused\n",
			dir);
		return NULL;
	}
	for_each_sg(sgl, sg, sg_len, i) {
		if (!sg_dma_len(sg))
			return NULL;
		n += DIV_ROUND_UP(sg_dma_len(sg), qep->dma_max_len);
	}
	if (!n)
		return NULL;
	desc = qep_dma_alloc(qc, n, dir, flags);
	if (!desc)
		return NULL;

	spin_lock_irqsave(&qc->lock, lflags);
	remote = dir == DMA_DEV_TO_MEM ? qc->cfg.src_addr : qc->cfg.dst_addr;
	spin_unlock_irqrestore(&qc->lock, lflags);
	n = 0;
	for_each_sg(sgl, sg, sg_len, i) {
		u64 local = sg_dma_address(sg);
		u32 len = sg_dma_len(sg);

		if (dir == DMA_DEV_TO_MEM)
			n += qep_dma_fill(qep, desc->segs + n, remote, local, len,
					  QEPC_DMA_SRC_HOST);
		else
			n += qep_dma_fill(qep, desc->segs + n, local, remote, len,
					  QEPC_DMA_DST_HOST);
		remote += len;
	}
	return &desc->tx;
}

static int qep_dma_config(struct dma_chan *chan, struct dma_slave_config *cfg)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(chan);
	unsigned long flags;

	spin_lock_irqsave(&qc->lock, flags);
	qc->cfg = *cfg;
	spin_unlock_irqrestore(&qc->lock, flags);
	return 0;
}

static void qep_dma_issue_pending(struct dma_chan *chan)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(chan);
	unsigned long flags;

	spin_lock_irqsave(&qc->lock, flags);
	list_splice_tail_init(&qc->submitted, &qc->issued);
	/* descriptors now wait behind a transfer that may not interrupt */
	if (!list_empty(&qc->issued))
		qep_dma_poll(qc);
	qep_dma_start_next(qc);
	spin_unlock_irqrestore(&qc->lock, flags);
}

static enum dma_status qep_dma_tx_status(struct dma_chan *chan,
					 dma_cookie_t cookie,
					 struct dma_tx_state *state)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(chan);
	dma_cookie_t last, used;
	enum dma_status ret;
	unsigned long flags;

	spin_lock_irqsave(&qc->lock, flags);
	if (dma_async_is_complete(cookie, chan->completed_cookie,
				  chan->cookie) != DMA_COMPLETE)
		qep_dma_poll(qc);
	last = chan->completed_cookie;
	used = chan->cookie;
	ret = dma_async_is_complete(cookie, last, used);
	if (ret == DMA_COMPLETE && cookie == qc->failed)
		ret = DMA_ERROR;
	spin_unlock_irqrestore(&qc->lock, flags);
	dma_set_tx_state(state, last, used, 0);
	return ret;
}

/* Stop the hardware and drop every queued descriptor, callbacks not run. */
static int qep_dma_terminate_all(struct dma_chan *chan)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(chan);
	struct qep_dma_desc *desc, *tmp;
	unsigned long flags;
	LIST_HEAD(dead);

	spin_lock_irqsave(&qc->lock, flags);
	if (qc->active) {
		qep_writel(qc->qep, QEPC_DMA_BASE(qc->idx) + QEPC_DMA_CTRL,
			   QEPC_DMA_ABORT);
		list_add(&qc->active->node, &dead);
		qc->active = NULL;
	}
	list_splice_tail_init(&qc->submitted, &dead);
	list_splice_tail_init(&qc->issued, &dead);
	spin_unlock_irqrestore(&qc->lock, flags);

	list_for_each_entry_safe(desc, tmp, &dead, node)
		kfree(desc);
	return 0;
}

/* Callbacks run in the interrupt thread: wait for a running one. */
static void qep_dma_synchronize(struct dma_chan *chan)
{
	synchronize_irq(to_qep_dma_chan(chan)->qep->irq);
}

static int qep_dma_alloc_chan(struct dma_chan *chan)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(chan);
	unsigned long flags;

	spin_lock_irqsave(&qc->lock, flags);
	chan->cookie = DMA_MIN_COOKIE;
	chan->completed_cookie = DMA_MIN_COOKIE;
	qc->failed = 0;
	memset(&qc->cfg, 0, sizeof(qc->cfg));
	spin_unlock_irqrestore(&qc->lock, flags);
	return 0;
}

static void qep_dma_free_chan(struct dma_chan *chan)
{
	struct qep_dma_chan *qc = to_qep_dma_chan(chan);
	struct qep_dma_desc *desc, *tmp;
	unsigned long flags;
	LIST_HEAD(dead);

	qep_dma_terminate_all(chan);
	qep_dma_synchronize(chan);
	spin_lock_irqsave(&qc->lock, flags);
	list_splice_init(&qc->prepared, &dead);
	spin_unlock_irqrestore(&qc->lock, flags);
	list_for_each_entry_safe(desc, tmp, &dead, node)
		kfree(desc);
}

static bool qep_dma_busy(struct qep *qep)
{
	unsigned long flags;
	bool busy = false;
	unsigned int i;

	for (i = 0; i < qep->num_dma; i++) {
		struct qep_dma_chan *qc = &qep->dma_chan[i];

		spin_lock_irqsave(&qc->lock, flags);
		busy |= qc->active || !list_empty(&qc->issued);
		spin_unlock_irqrestore(&qc->lock, flags);
	}
	return busy;
}

/*
 * Unbinding: refuse new descriptors and give the issued ones time to end
 * with their callbacks (DMA interrupts enabled), so that an EPF driver
 * waiting for a transfer is not left waiting when its channels go away.
 * What is still running after QEP_DMA_DRAIN_MS is aborted by
 * terminate_all when the EPF driver releases the channel.
 */
#define QEP_DMA_DRAIN_MS	5000

static void qep_dma_close(struct qep *qep)
{
	unsigned long flags, end;
	unsigned int i;

	for (i = 0; i < qep->num_dma; i++) {
		struct qep_dma_chan *qc = &qep->dma_chan[i];

		spin_lock_irqsave(&qc->lock, flags);
		qc->closing = true;
		spin_unlock_irqrestore(&qc->lock, flags);
	}
	end = jiffies + msecs_to_jiffies(QEP_DMA_DRAIN_MS);
	while (qep_dma_busy(qep)) {
		if (time_after(jiffies, end)) {
			dev_warn(&qep->pdev->dev,
				 "DMA still running after %u ms, aborting it\n",
				 QEP_DMA_DRAIN_MS);
			return;
		}
		usleep_range(1000, 2000);
	}
}

static int qep_dma_register(struct qep *qep)
{
	struct dma_device *dd = &qep->dma;
	unsigned int i;

	qep->num_dma = min_t(u32, qep_readl(qep, QEPC_DMA_CHANNELS),
			     QEPC_NUM_DMA);
	qep->dma_max_len = qep_readl(qep, QEPC_DMA_MAX_LEN);
	if (!qep->num_dma || !qep->dma_max_len)
		return -ENODEV;

	dd->dev = &qep->plat->dev;
	INIT_LIST_HEAD(&dd->channels);
	dma_cap_set(DMA_PRIVATE, dd->cap_mask);
	dma_cap_set(DMA_MEMCPY, dd->cap_mask);
	if (slave_dma) {
		dma_cap_set(DMA_SLAVE, dd->cap_mask);
		dd->directions = BIT(DMA_DEV_TO_MEM) | BIT(DMA_MEM_TO_DEV);
	}
	dd->src_addr_widths = BIT(DMA_SLAVE_BUSWIDTH_1_BYTE) |
			      BIT(DMA_SLAVE_BUSWIDTH_2_BYTES) |
			      BIT(DMA_SLAVE_BUSWIDTH_4_BYTES) |
			      BIT(DMA_SLAVE_BUSWIDTH_8_BYTES);
	dd->dst_addr_widths = dd->src_addr_widths;
	dd->residue_granularity = DMA_RESIDUE_GRANULARITY_DESCRIPTOR;
	dd->device_alloc_chan_resources = qep_dma_alloc_chan;
	dd->device_free_chan_resources = qep_dma_free_chan;
	dd->device_prep_dma_memcpy = qep_dma_prep_memcpy;
	dd->device_prep_slave_sg = qep_dma_prep_slave_sg;
	dd->device_config = qep_dma_config;
	dd->device_issue_pending = qep_dma_issue_pending;
	dd->device_tx_status = qep_dma_tx_status;
	dd->device_terminate_all = qep_dma_terminate_all;
	dd->device_synchronize = qep_dma_synchronize;

	for (i = 0; i < qep->num_dma; i++) {
		struct qep_dma_chan *qc = &qep->dma_chan[i];

		qc->qep = qep;
		qc->idx = i;
		spin_lock_init(&qc->lock);
		INIT_LIST_HEAD(&qc->prepared);
		INIT_LIST_HEAD(&qc->submitted);
		INIT_LIST_HEAD(&qc->issued);
		qc->chan.device = dd;
		list_add_tail(&qc->chan.device_node, &dd->channels);
	}
	return dmaenginem_async_device_register(dd);
}

static void qep_dma_irq(struct qep *qep, u32 events)
{
	unsigned int i;

	for (i = 0; i < qep->num_dma; i++)
		if (events & QEPC_IRQ_DMA(i))
			qep_dma_chan_irq(&qep->dma_chan[i]);
}

static irqreturn_t qep_irq(int irq, void *data)
{
	struct qep *qep = data;

	if (!(qep_readl(qep, QEPC_IRQ_STATUS) & qep_readl(qep, QEPC_IRQ_ENABLE)))
		return IRQ_NONE;
	return IRQ_WAKE_THREAD;
}

/* STATUS of every function, ORed: a link up and a host that masters. */
static u32 qep_status_all(struct qep *qep)
{
	u32 status = 0;
	unsigned int i;

	mutex_lock(&qep->lock);
	for (i = 0; i < qep->num_funcs; i++) {
		qep_select(qep, i);
		status |= qep_readl(qep, QEPC_STATUS);
	}
	mutex_unlock(&qep->lock);
	return status;
}

/* DMA completions here; link and host events in qep_event_work(). */
static irqreturn_t qep_irq_thread(int irq, void *data)
{
	struct qep *qep = data;
	unsigned long flags;
	u32 events;

	events = qep_readl(qep, QEPC_IRQ_STATUS);
	qep_writel(qep, QEPC_IRQ_STATUS, events);
	qep_dma_irq(qep, events);

	events &= QEPC_IRQ_LINK_UP | QEPC_IRQ_LINK_DOWN | QEPC_IRQ_BME_SET;
	if (events) {
		spin_lock_irqsave(&qep->ev_lock, flags);
		qep->ev_pending |= events;
		spin_unlock_irqrestore(&qep->ev_lock, flags);
		schedule_work(&qep->ev_work);
	}
	return IRQ_HANDLED;
}

/*
 * Link and host events reach the EPF drivers through the epc notifiers,
 * which tell every function: the device raises LINK_UP and LINK_DOWN when
 * any function's link changes.
 */
static void qep_event_work(struct work_struct *work)
{
	struct qep *qep = container_of(work, struct qep, ev_work);
	struct device *dev = &qep->pdev->dev;
	u32 events, status;

	spin_lock_irq(&qep->ev_lock);
	events = qep->ev_pending;
	qep->ev_pending = 0;
	spin_unlock_irq(&qep->ev_lock);
	status = qep_status_all(qep);

	if (events & QEPC_IRQ_LINK_DOWN) {
		dev_info(dev, "link down\n");
		qep_linkdown(qep->epc);
	}
	if ((events & QEPC_IRQ_LINK_UP) && (status & QEPC_STATUS_LINK_UP)) {
		dev_info(dev, "link up\n");
		pci_epc_linkup(qep->epc);
	}
	/*
	 * each time a host sets bus mastering (the device reports every 0->1,
	 * also one that a clear and a set since the last look would hide: a
	 * driver rebound): pci-epf-mhi powers its stack up on it
	 */
	if ((events & QEPC_IRQ_BME_SET) && (status & QEPC_STATUS_BME)) {
		dev_dbg(dev, "host enabled bus mastering\n");
		qep_bme_notify(qep->epc);
	}
}

static void qep_cancel_events(void *data)
{
	struct qep *qep = data;

	cancel_work_sync(&qep->ev_work);
}

/* Put the device in its reset state: stopped, no BARs, no windows. */
static void qep_hw_reset(struct qep *qep)
{
	unsigned int f;
	int i;

	mutex_lock(&qep->lock);
	qep_writel(qep, QEPC_IRQ_ENABLE, 0);
	qep_writel(qep, QEPC_CTRL, 0);
	for (f = 0; f < qep->num_funcs; f++) {
		qep_select(qep, f);
		for (i = 0; i < QEPC_NUM_BARS; i++)
			qep_writel(qep, QEPC_BAR_BASE(i) + QEPC_BAR_FLAGS, 0);
		qep_writel(qep, QEPC_HDR_ID, 0);
		qep_writel(qep, QEPC_MSI_CFG, 0);
		qep_writel(qep, QEPC_MSIX_CFG, 0);
	}
	qep_select(qep, 0);
	for (i = 0; i < QEPC_NUM_WINDOWS; i++)
		qep_writel(qep, QEPC_WIN_BASE(i) + QEPC_WIN_CTRL, 0);
	for (i = 0; i < QEPC_NUM_DMA; i++)
		qep_writel(qep, QEPC_DMA_BASE(i) + QEPC_DMA_CTRL, QEPC_DMA_ABORT);
	qep_writel(qep, QEPC_IRQ_STATUS, QEPC_IRQ_ALL);
	qep_writel(qep, QEPC_ERROR, 0);
	mutex_unlock(&qep->lock);
}

static void qep_mem_exit(void *data)
{
	pci_epc_mem_exit(data);
}

static void qep_epc_destroy(void *data)
{
	pci_epc_destroy(data);
}

static void qep_platform_del(void *data)
{
	platform_device_unregister(data);
}

/*
 * The EPC's parent (struct qep, plat): named after the PCI device, so that
 * the controller keeps the PCI device's name in configfs, and bound to
 * qep_plat_driver, since a DMA device needs a driver.
 */
static int qep_platform_add(struct qep *qep, u32 caps, int nvec)
{
	struct pci_dev *pdev = qep->pdev;
	struct platform_device *plat;
	struct resource res[] = {
		DEFINE_RES_MEM_NAMED(pci_resource_start(pdev, QEPC_MHI_BAR),
				     QEPC_MHI_MMIO_SIZE, "mmio"),
		DEFINE_RES_IRQ_NAMED(nvec > QEPC_VEC_MHI ?
				     pci_irq_vector(pdev, QEPC_VEC_MHI) : 0,
				     "doorbell"),
	};
	int ret, nres = 0;

	if ((caps & QEPC_CAPS_MHI) && pdev->msix_enabled &&
	    nvec > QEPC_VEC_MHI &&
	    pci_resource_len(pdev, QEPC_MHI_BAR) >= QEPC_MHI_MMIO_SIZE) {
		nres = ARRAY_SIZE(res);
	} else if (caps & QEPC_CAPS_MHI) {
		dev_warn(&pdev->dev, "MHI block without its MSI-X vector: not offered\n");
	}

	plat = platform_device_alloc(dev_name(&pdev->dev), PLATFORM_DEVID_NONE);
	if (!plat)
		return -ENOMEM;
	plat->dev.parent = &pdev->dev;
	ret = dma_coerce_mask_and_coherent(&plat->dev, DMA_BIT_MASK(64));
	if (!ret && nres)
		ret = platform_device_add_resources(plat, res, nres);
	if (!ret)
		ret = qep_set_driver_override(plat, QEP_PLAT_DRV);
	if (!ret)
		ret = platform_device_add(plat);
	if (ret) {
		platform_device_put(plat);
		return ret;
	}
	ret = devm_add_action_or_reset(&pdev->dev, qep_platform_del, plat);
	if (ret)
		return ret;
	if (!plat->dev.driver)
		return -ENODEV;
	qep->plat = plat;
	return 0;
}

static int qep_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct qep *qep;
	u32 caps;
	int i, nvec, ret;

	qep = devm_kzalloc(dev, sizeof(*qep), GFP_KERNEL);
	if (!qep)
		return -ENOMEM;
	qep->pdev = pdev;
	mutex_init(&qep->lock);

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	/* managed, like everything below: pcim_enable_device() */
	ret = pci_request_regions(pdev, DRV_NAME);
	if (ret)
		return ret;
	qep->regs = pcim_iomap(pdev, QEPC_REG_BAR, QEPC_REGS_SIZE);
	if (!qep->regs)
		return -ENOMEM;

	if (qep_readl(qep, QEPC_MAGIC) != QEPC_MAGIC_VALUE ||
	    qep_readl(qep, QEPC_VERSION) != QEPC_REGS_VERSION) {
		dev_err(dev, "not a qemu-epc register map (magic %#x version %u)\n",
			qep_readl(qep, QEPC_MAGIC), qep_readl(qep, QEPC_VERSION));
		return -ENODEV;
	}
	qep->num_funcs = clamp_t(u32, qep_readl(qep, QEPC_NUM_FUNCS), 1,
				 QEPC_MAX_FUNCS);
	caps = qep_readl(qep, QEPC_CAPS);
	qep->num_windows = min_t(u32, QEPC_CAPS_WINDOWS(caps), QEPC_NUM_WINDOWS);
	qep->win_align = qep_readl(qep, QEPC_WIN_ALIGN);
	qep->win_base = pci_resource_start(pdev, QEPC_WINDOW_BAR);
	qep->win_size = pci_resource_len(pdev, QEPC_WINDOW_BAR);
	if (QEPC_CAPS_BARS(caps) != QEPC_NUM_BARS || !qep->num_windows ||
	    !is_power_of_2(qep->win_align) || qep->win_align < SZ_4K ||
	    qep->win_size < qep->win_align) {
		dev_err(dev, "unsupported device: caps %#x window align %#x size %pa\n",
			caps, qep->win_align, &qep->win_size);
		return -ENODEV;
	}
	qep_hw_reset(qep);

	pci_set_master(pdev);
	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;

	qep->features.linkup_notifier = !!(caps & QEPC_CAPS_LINKUP_IRQ);
	qep->features.msi_capable = !!(caps & QEPC_CAPS_MSI);
	qep->features.msix_capable = !!(caps & QEPC_CAPS_MSIX);
	/*
	 * EPFs that align a host address down before mapping it (pci-epf-ntb's
	 * MSI-X doorbells, pci-epf-mhi) take the window granule from here:
	 * with 0 they would map host address 0, or the whole address
	 */
	qep->features.align = qep->win_align;
	for (i = 0; i < QEPC_NUM_BARS; i++)
		qep_features_bar(&qep->features, i,
				 qep_readl(qep, QEPC_BAR_KIND(i)));
	if (caps & QEPC_CAPS_SUBRANGE)
		qep->num_inbound = min_t(u32, qep_readl(qep, QEPC_INBOUND_COUNT),
					 QEPC_MAX_INBOUND);
	/* pci-epf-test splits a BAR in two */
	qep_features_caps(&qep->features, caps & QEPC_CAPS_INTX,
			  qep->num_inbound >= 2);

	/* MSI-X gives the doorbell and the MHI block vectors of their own */
	nvec = pci_alloc_irq_vectors(pdev, 1, QEPC_NUM_VECTORS,
				     PCI_IRQ_MSIX | PCI_IRQ_MSI | QEP_PCI_IRQ_INTX);
	if (nvec < 0)
		return dev_err_probe(dev, nvec, "no interrupt\n");
	ret = qep_platform_add(qep, caps, nvec);
	if (ret)
		return dev_err_probe(dev, ret, "the EPC's platform device\n");

	qep->epc = pci_epc_create(&qep->plat->dev, &qep_epc_ops);
	if (IS_ERR(qep->epc))
		return dev_err_probe(dev, PTR_ERR(qep->epc), "creating the EPC\n");
	ret = devm_add_action_or_reset(dev, qep_epc_destroy, qep->epc);
	if (ret)
		return ret;
	qep->epc->max_functions = qep->num_funcs;
	epc_set_drvdata(qep->epc, qep);

	ret = pci_epc_mem_init(qep->epc, qep->win_base, qep->win_size,
			       qep->win_align);
	if (ret)
		return dev_err_probe(dev, ret, "outbound window memory\n");
	ret = devm_add_action_or_reset(dev, qep_mem_exit, qep->epc);
	if (ret)
		return ret;

	qep->irq = pci_irq_vector(pdev, QEPC_VEC_EVENTS);
	if (nvec > QEPC_VEC_DOORBELL && pdev->msix_enabled &&
	    (caps & QEPC_CAPS_DOORBELL))
		qep->doorbell_irq = pci_irq_vector(pdev, QEPC_VEC_DOORBELL);
	spin_lock_init(&qep->ev_lock);
	INIT_WORK(&qep->ev_work, qep_event_work);
	/* released after the interrupt (managed resources go in reverse) */
	ret = devm_add_action_or_reset(dev, qep_cancel_events, qep);
	if (ret)
		return ret;
	ret = devm_request_threaded_irq(dev, qep->irq, qep_irq, qep_irq_thread,
					IRQF_ONESHOT | IRQF_SHARED, DRV_NAME, qep);
	if (ret)
		return ret;

	pci_set_drvdata(pdev, qep);
	/* the doorbell, when there is one, has its own vector */
	qep_writel(qep, QEPC_IRQ_ENABLE, QEPC_IRQ_ALL & ~QEPC_IRQ_DOORBELL);

	/* EPF drivers look for DMA channels when notified of the EPC's init */
	if (caps & QEPC_CAPS_DMA) {
		ret = qep_dma_register(qep);
		if (ret)
			return dev_err_probe(dev, ret, "DMA engine\n");
	}

	qep_init_notify(qep->epc);
	qep->init_notified = true;
	dev_info(dev, "endpoint controller %s: %u function(s), %u windows in %pa bytes\n",
		 dev_name(&qep->epc->dev), qep->num_funcs, qep->num_windows,
		 &qep->win_size);
	return 0;
}

static void qep_remove(struct pci_dev *pdev)
{
	struct qep *qep = pci_get_drvdata(pdev);

	/*
	 * No link events for EPF drivers being torn down, but DMA completions
	 * still: an EPF may wait for a transfer in its deinit.
	 */
	qep_writel(qep, QEPC_IRQ_ENABLE, QEPC_IRQ_DMA_ALL);
	synchronize_irq(qep->irq);
	cancel_work_sync(&qep->ev_work);
	qep_dma_close(qep);
	if (qep->init_notified)
		qep_deinit_notify(qep->epc);
	qep_writel(qep, QEPC_IRQ_ENABLE, 0);
	synchronize_irq(qep->irq);
	qep_hw_reset(qep);
	/* managed resources go in reverse: irq, window memory, EPC, regions */
}

static const struct pci_device_id qep_ids[] = {
	{ PCI_DEVICE(QEPC_VENDOR_ID, QEPC_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, qep_ids);

static struct pci_driver qep_driver = {
	.name		= DRV_NAME,
	.id_table	= qep_ids,
	.probe		= qep_probe,
	.remove		= qep_remove,
};

/* binds the EPC's parent only (qep_platform_add) */
static int qep_plat_probe(struct platform_device *plat)
{
	return 0;
}

static struct platform_driver qep_plat_driver = {
	.driver = {
		.name = QEP_PLAT_DRV,
		.suppress_bind_attrs = true,
	},
	.probe = qep_plat_probe,
};

static int __init qep_init(void)
{
	int ret = platform_driver_register(&qep_plat_driver);

	if (ret)
		return ret;
	ret = pci_register_driver(&qep_driver);
	if (ret)
		platform_driver_unregister(&qep_plat_driver);
	return ret;
}
module_init(qep_init);

static void __exit qep_exit(void)
{
	pci_unregister_driver(&qep_driver);
	platform_driver_unregister(&qep_plat_driver);
}
module_exit(qep_exit);

MODULE_DESCRIPTION("PCI endpoint controller driver for the qemu-epc device");
MODULE_LICENSE("GPL");
