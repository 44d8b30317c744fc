// SPDX-License-Identifier: GPL-2.0
/*
 * PCI endpoint controller driver for the qemu-epc device.
 *
 * qemu-epc is a QEMU PCI device whose function appears, through a socket,
 * as a PCI device in a second QEMU guest.  This driver turns it into a
 * pci_epc so that unmodified endpoint function drivers run on it.
 * The register map is qemu-modules/qemu-epc-regs.h (docs/qemu-epc.md).
 */

#include <linux/bitfield.h>
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-epc.h>
#include <linux/pci-epf.h>

#include "qemu-epc-regs.h"
#include "pcie-qemu-ep-compat.h"

#define DRV_NAME	"pcie-qemu-ep"

struct qep {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct pci_epc *epc;
	int irq;

	phys_addr_t win_base;		/* outbound window BAR, guest view */
	resource_size_t win_size;
	u32 win_align;
	unsigned int num_windows;

	/* serialises register sequences and the window table */
	struct mutex lock;
	DECLARE_BITMAP(win_used, QEPC_NUM_WINDOWS);
	phys_addr_t win_addr[QEPC_NUM_WINDOWS];

	u32 host_status;		/* STATUS at the last event */
	bool init_notified;
	struct pci_epc_features features;
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

static int qep_write_header(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			    struct pci_epf_header *hdr)
{
	struct qep *qep = epc_get_drvdata(epc);

	if (func_no || vfunc_no)
		return -EINVAL;
	if (hdr->interrupt_pin > PCI_INTERRUPT_INTD)
		return -EINVAL;

	mutex_lock(&qep->lock);
	qep_writel(qep, QEPC_HDR_ID, hdr->vendorid | (u32)hdr->deviceid << 16);
	qep_writel(qep, QEPC_HDR_CLASS, hdr->revid | (u32)hdr->progif_code << 8 |
		   (u32)hdr->subclass_code << 16 | (u32)hdr->baseclass_code << 24);
	qep_writel(qep, QEPC_HDR_SUBSYS, hdr->subsys_vendor_id |
		   (u32)hdr->subsys_id << 16);
	qep_writel(qep, QEPC_HDR_INTPIN, hdr->interrupt_pin);
	mutex_unlock(&qep->lock);
	return 0;
}

static int qep_set_bar(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
		       struct pci_epf_bar *epf_bar)
{
	struct qep *qep = epc_get_drvdata(epc);
	u32 base = QEPC_BAR_BASE(epf_bar->barno);
	u32 flags = epf_bar->flags & 0xf;
	u64 size = epf_bar->size;
	u32 cur;
	int ret = 0;

	if (func_no || vfunc_no || epf_bar->barno >= QEPC_NUM_BARS)
		return -EINVAL;
	if (!size || !is_power_of_2(size))
		return -EINVAL;

	mutex_lock(&qep->lock);
	cur = qep_readl(qep, base + QEPC_BAR_FLAGS);
	if ((cur & QEPC_BAR_ENABLE) && (cur & 0xf) == flags &&
	    qep_readl(qep, base + QEPC_BAR_SIZE_LO) == lower_32_bits(size) &&
	    qep_readl(qep, base + QEPC_BAR_SIZE_HI) == upper_32_bits(size)) {
		/* same BAR, new backing memory: the address may change live */
		qep_write64(qep, base + QEPC_BAR_ADDR_LO, epf_bar->phys_addr);
		goto out;
	}
	qep_writel(qep, base + QEPC_BAR_FLAGS, 0);
	qep_write64(qep, base + QEPC_BAR_ADDR_LO, epf_bar->phys_addr);
	qep_write64(qep, base + QEPC_BAR_SIZE_LO, size);
	qep_writel(qep, QEPC_ERROR, 0);
	qep_writel(qep, base + QEPC_BAR_FLAGS, flags | QEPC_BAR_ENABLE);
	if (!(qep_readl(qep, base + QEPC_BAR_FLAGS) & QEPC_BAR_ENABLE)) {
		dev_err(&qep->pdev->dev,
			"BAR%d refused: size %#llx flags %#x (error %u)\n",
			epf_bar->barno, size, flags,
			qep_readl(qep, QEPC_ERROR));
		ret = -EINVAL;
	}
out:
	mutex_unlock(&qep->lock);
	return ret;
}

static void qep_clear_bar(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			  struct pci_epf_bar *epf_bar)
{
	struct qep *qep = epc_get_drvdata(epc);

	if (func_no || vfunc_no || epf_bar->barno >= QEPC_NUM_BARS)
		return;

	mutex_lock(&qep->lock);
	qep_writel(qep, QEPC_BAR_BASE(epf_bar->barno) + QEPC_BAR_FLAGS, 0);
	mutex_unlock(&qep->lock);
}

static int qep_map_addr(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			phys_addr_t addr, u64 pci_addr, size_t size)
{
	struct qep *qep = epc_get_drvdata(epc);
	u64 off, delta, wsize;
	unsigned int w;
	u32 base;
	int ret = 0;

	if (func_no || vfunc_no || !size)
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
	qep_writel(qep, base + QEPC_WIN_CTRL, QEPC_WIN_ENABLE);
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

	/* interrupts is log2 of the vector count, at most 32 vectors */
	if (func_no || vfunc_no || interrupts > 5 ||
	    !(qep->features.msi_capable))
		return -EINVAL;

	qep_writel(qep, QEPC_MSI_CFG, QEPC_MSI_CFG_PRESENT | interrupts);
	return 0;
}

static int qep_get_msi(struct pci_epc *epc, u8 func_no, u8 vfunc_no)
{
	struct qep *qep = epc_get_drvdata(epc);
	u32 ctrl;

	if (func_no || vfunc_no)
		return -EINVAL;
	ctrl = qep_readl(qep, QEPC_MSI_CTRL);
	if (!(ctrl & PCI_MSI_FLAGS_ENABLE))
		return -EINVAL;
	return FIELD_GET(PCI_MSI_FLAGS_QSIZE, ctrl);
}

static int qep_set_msix(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			u16 nr_irqs, enum pci_barno bir, u32 offset)
{
	struct qep *qep = epc_get_drvdata(epc);
	u32 count = qep_msix_count(nr_irqs);

	if (func_no || vfunc_no || !qep->features.msix_capable)
		return -EINVAL;
	if (!count || count > PCI_MSIX_FLAGS_QSIZE + 1 ||
	    bir >= QEPC_NUM_BARS || offset & 7)
		return -EINVAL;

	mutex_lock(&qep->lock);
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

	if (func_no || vfunc_no)
		return -EINVAL;
	ctrl = qep_readl(qep, QEPC_MSIX_CTRL);
	if (!(ctrl & PCI_MSIX_FLAGS_ENABLE))
		return -EINVAL;
	return ctrl & PCI_MSIX_FLAGS_QSIZE;
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

	if (func_no || vfunc_no)
		return -EINVAL;

	mutex_lock(&qep->lock);
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

	mutex_lock(&qep->lock);
	qep_writel(qep, QEPC_CTRL, 0);
	mutex_unlock(&qep->lock);
}

static const struct pci_epc_features *
qep_get_features(struct pci_epc *epc, u8 func_no, u8 vfunc_no)
{
	struct qep *qep = epc_get_drvdata(epc);

	if (func_no || vfunc_no)
		return NULL;
	return &qep->features;
}

static const struct pci_epc_ops qep_epc_ops = {
	.write_header	= qep_write_header,
	.set_bar	= qep_set_bar,
	.clear_bar	= qep_clear_bar,
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
	.owner		= THIS_MODULE,
};

static irqreturn_t qep_irq(int irq, void *data)
{
	struct qep *qep = data;

	if (!(qep_readl(qep, QEPC_IRQ_STATUS) & qep_readl(qep, QEPC_IRQ_ENABLE)))
		return IRQ_NONE;
	return IRQ_WAKE_THREAD;
}

/* Link and host events reach the EPF drivers through the epc notifiers. */
static irqreturn_t qep_irq_thread(int irq, void *data)
{
	struct qep *qep = data;
	struct device *dev = &qep->pdev->dev;
	u32 events, status, was;

	events = qep_readl(qep, QEPC_IRQ_STATUS);
	qep_writel(qep, QEPC_IRQ_STATUS, events);
	status = qep_readl(qep, QEPC_STATUS);
	was = qep->host_status;
	qep->host_status = status;

	if (events & QEPC_IRQ_LINK_DOWN) {
		dev_info(dev, "link down\n");
		qep_linkdown(qep->epc);
	}
	if ((events & QEPC_IRQ_LINK_UP) && (status & QEPC_STATUS_LINK_UP)) {
		dev_info(dev, "link up\n");
		pci_epc_linkup(qep->epc);
	}
	if ((events & QEPC_IRQ_HOST_CFG) && (status & QEPC_STATUS_BME) &&
	    !(was & QEPC_STATUS_BME)) {
		dev_dbg(dev, "host enabled bus mastering\n");
		qep_bme_notify(qep->epc);
	}
	return IRQ_HANDLED;
}

/* Put the device in its reset state: stopped, no BARs, no windows. */
static void qep_hw_reset(struct qep *qep)
{
	int i;

	qep_writel(qep, QEPC_IRQ_ENABLE, 0);
	qep_writel(qep, QEPC_CTRL, 0);
	for (i = 0; i < QEPC_NUM_BARS; i++)
		qep_writel(qep, QEPC_BAR_BASE(i) + QEPC_BAR_FLAGS, 0);
	for (i = 0; i < QEPC_NUM_WINDOWS; i++)
		qep_writel(qep, QEPC_WIN_BASE(i) + QEPC_WIN_CTRL, 0);
	qep_writel(qep, QEPC_MSI_CFG, 0);
	qep_writel(qep, QEPC_MSIX_CFG, 0);
	qep_writel(qep, QEPC_IRQ_STATUS, QEPC_IRQ_ALL);
	qep_writel(qep, QEPC_ERROR, 0);
}

static void qep_mem_exit(void *data)
{
	pci_epc_mem_exit(data);
}

static int qep_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct qep *qep;
	u32 caps;
	int ret;

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

	qep_features_init(&qep->features);
	qep->features.linkup_notifier = !!(caps & QEPC_CAPS_LINKUP_IRQ);
	qep->features.msi_capable = !!(caps & QEPC_CAPS_MSI);
	qep->features.msix_capable = !!(caps & QEPC_CAPS_MSIX);

	qep->epc = devm_pci_epc_create(dev, &qep_epc_ops);
	if (IS_ERR(qep->epc))
		return dev_err_probe(dev, PTR_ERR(qep->epc), "creating the EPC\n");
	qep->epc->max_functions = 1;
	epc_set_drvdata(qep->epc, qep);

	ret = pci_epc_mem_init(qep->epc, qep->win_base, qep->win_size,
			       qep->win_align);
	if (ret)
		return dev_err_probe(dev, ret, "outbound window memory\n");
	ret = devm_add_action_or_reset(dev, qep_mem_exit, qep->epc);
	if (ret)
		return ret;

	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI | QEP_PCI_IRQ_INTX);
	if (ret < 0)
		return dev_err_probe(dev, ret, "no interrupt\n");
	qep->irq = pci_irq_vector(pdev, 0);
	ret = devm_request_threaded_irq(dev, qep->irq, qep_irq, qep_irq_thread,
					IRQF_ONESHOT | IRQF_SHARED, DRV_NAME, qep);
	if (ret)
		return ret;

	pci_set_drvdata(pdev, qep);
	qep->host_status = qep_readl(qep, QEPC_STATUS);
	qep_writel(qep, QEPC_IRQ_ENABLE, QEPC_IRQ_ALL);

	qep_init_notify(qep->epc);
	qep->init_notified = true;
	dev_info(dev, "endpoint controller %s: %u windows in %pa bytes\n",
		 dev_name(&qep->epc->dev), qep->num_windows, &qep->win_size);
	return 0;
}

static void qep_remove(struct pci_dev *pdev)
{
	struct qep *qep = pci_get_drvdata(pdev);

	qep_writel(qep, QEPC_IRQ_ENABLE, 0);
	synchronize_irq(qep->irq);
	if (qep->init_notified)
		qep_deinit_notify(qep->epc);
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
module_pci_driver(qep_driver);

MODULE_DESCRIPTION("PCI endpoint controller driver for the qemu-epc device");
MODULE_LICENSE("GPL");
