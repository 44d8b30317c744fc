/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pci_epc API differences that pcie-qemu-ep meets between Linux 6.1,
 * 6.12 and 7.x, kept in one place.  Kbuild sets QEP_EPC_API from the kernel
 * version (601 for 6.1, 612 for 6.12 and later, 0 for kernels in between)
 * and the QEP_HAVE_* and QEP_MSI_NR_IRQS flags from what the kernel's own
 * headers declare.
 */
#ifndef PCIE_QEMU_EP_COMPAT_H
#define PCIE_QEMU_EP_COMPAT_H

#include <linux/log2.h>
#include <linux/pci.h>
#include <linux/pci-epc.h>
#include <linux/pci-epf.h>

#include "qemu-epc-regs.h"

#include <linux/platform_device.h>

/* bind a platform device to the driver named @drv only */
static inline int qep_set_driver_override(struct platform_device *p,
					  const char *drv)
{
#ifdef QEP_HAVE_DEV_DRIVER_OVERRIDE
	return device_set_driver_override(&p->dev, drv);
#else
	return driver_set_override(&p->dev, &p->driver_override, drv,
				   strlen(drv));
#endif
}

#if QEP_EPC_API == 612

#define QEP_IRQ_TYPE		unsigned int
#define QEP_IRQ_INTX		PCI_IRQ_INTX
#define QEP_IRQ_MSI		PCI_IRQ_MSI
#define QEP_IRQ_MSIX		PCI_IRQ_MSIX
#define QEP_PCI_IRQ_INTX	PCI_IRQ_INTX

/* set_msix() receives the number of vectors */
static inline u32 qep_msix_count(u16 arg)
{
	return arg;
}

/* the EPF configures itself from the init notification */
static inline void qep_init_notify(struct pci_epc *epc)
{
	pci_epc_init_notify(epc);
}

static inline void qep_deinit_notify(struct pci_epc *epc)
{
	pci_epc_deinit_notify(epc);
}

static inline void qep_linkdown(struct pci_epc *epc)
{
	pci_epc_linkdown(epc);
}

static inline void qep_bme_notify(struct pci_epc *epc)
{
#ifdef QEP_HAVE_BME_NOTIFY
	pci_epc_bus_master_enable_notify(epc);
#endif
}

/* what the device's QEPC_BAR_KIND register says, as a BAR descriptor */
static inline void qep_features_bar(struct pci_epc_features *f, int n,
				    u32 kind)
{
	struct pci_epc_bar_desc *d = &f->bar[n];

	d->type = BAR_PROGRAMMABLE;
	d->only_64bit = !!(kind & QEPC_BAR_KIND_64BIT);
	switch (QEPC_BAR_KIND_TYPE(kind)) {
	case QEPC_BAR_FIXED:
		d->type = BAR_FIXED;
		d->fixed_size = 1ULL << QEPC_BAR_KIND_LOG2(kind);
		break;
	case QEPC_BAR_DISABLED:
#ifdef QEP_HAVE_BAR_DISABLED
		d->type = BAR_DISABLED;
#else
		/* unavailable to EPF drivers */
		d->type = BAR_RESERVED;
#endif
		break;
	}
}

#elif QEP_EPC_API == 601

#define QEP_IRQ_TYPE		enum pci_epc_irq_type
#define QEP_IRQ_INTX		PCI_EPC_IRQ_LEGACY
#define QEP_IRQ_MSI		PCI_EPC_IRQ_MSI
#define QEP_IRQ_MSIX		PCI_EPC_IRQ_MSIX
#define QEP_PCI_IRQ_INTX	PCI_IRQ_LEGACY

/* set_msix() receives the table size field, vectors minus one */
static inline u32 qep_msix_count(u16 arg)
{
	return (u32)arg + 1;
}

/*
 * Without core_init_notifier the EPF configures itself in bind; an init
 * notification would make it do so twice.  6.1 has no link-down or
 * bus-master notification.
 */
static inline void qep_init_notify(struct pci_epc *epc)
{
}

static inline void qep_deinit_notify(struct pci_epc *epc)
{
}

static inline void qep_linkdown(struct pci_epc *epc)
{
}

static inline void qep_bme_notify(struct pci_epc *epc)
{
}

static inline void qep_features_bar(struct pci_epc_features *f, int n,
				    u32 kind)
{
	if (kind & QEPC_BAR_KIND_64BIT)
		f->bar_fixed_64bit |= BIT(n);
	if (QEPC_BAR_KIND_TYPE(kind) == QEPC_BAR_FIXED)
		f->bar_fixed_size[n] = 1ULL << QEPC_BAR_KIND_LOG2(kind);
	if (QEPC_BAR_KIND_TYPE(kind) == QEPC_BAR_DISABLED)
		f->reserved_bar |= BIT(n);
}

#else
#error "pcie-qemu-ep supports the pci_epc API of Linux 6.1 and of 6.12 or later"
#endif

/*
 * MSI and MSI-X vector counts: since the nr_irqs change, set_msi() gets the
 * number of vectors and get_msi()/get_msix() return numbers of vectors;
 * before it, set_msi() got and get_msi() returned log2 of the number and
 * get_msix() the table size field (vectors minus one).
 */
#ifdef QEP_MSI_NR_IRQS
static inline int qep_msi_log2(u8 arg)
{
	return arg ? order_base_2(arg) : -EINVAL;
}

static inline int qep_msi_ret(u32 log2)
{
	return 1 << log2;
}

static inline int qep_msix_ret(u32 qsize)
{
	return qsize + 1;
}
#else
static inline int qep_msi_log2(u8 arg)
{
	return arg;
}

static inline int qep_msi_ret(u32 log2)
{
	return log2;
}

static inline int qep_msix_ret(u32 qsize)
{
	return qsize;
}
#endif

static inline void qep_features_caps(struct pci_epc_features *f,
				     bool intx, bool subranges)
{
#ifdef QEP_HAVE_INTX_CAP
	f->intx_capable = intx;
#endif
#ifdef QEP_HAVE_SUBRANGE
	/* a BAR's mapping may change while it is set up, also piecewise */
	f->dynamic_inbound_mapping = 1;
	f->subrange_mapping = subranges;
#endif
}

/* a BAR's subranges, in order from its start */
static inline unsigned int qep_bar_num_submap(const struct pci_epf_bar *b)
{
#ifdef QEP_HAVE_SUBRANGE
	return b->submap ? b->num_submap : 0;
#else
	return 0;
#endif
}

static inline void qep_bar_submap(const struct pci_epf_bar *b, unsigned int i,
				  u64 *addr, u64 *size)
{
#ifdef QEP_HAVE_SUBRANGE
	*addr = b->submap[i].phys_addr;
	*size = b->submap[i].size;
#else
	*addr = 0;
	*size = 0;
#endif
}

/*
 * Windows start on a WIN_ALIGN granule: where the framework asks
 * (align_addr), say which aligned range a mapping of [pci_addr, +size)
 * takes.  qep_align() is the driver's.
 */
static u64 qep_align(struct pci_epc *epc, u64 pci_addr, size_t *size,
		     size_t *offset);

#ifdef QEP_HAVE_ALIGN_ADDR
#define QEP_ALIGN_OPS	.align_addr = qep_align,
#else
#define QEP_ALIGN_OPS
#endif

/*
 * The embedded doorbell as a controller auxiliary resource, where the
 * framework has them.  qep_doorbell() (the driver's) says where the
 * doorbell register is, its interrupt and the value to write; it fails
 * when the controller has none.  Every function has the one doorbell (the
 * framework marks an embedded doorbell's interrupt shared).
 */
static int qep_doorbell(struct pci_epc *epc, phys_addr_t *addr, int *irq,
			u32 *data);
static bool qep_epc_bad_func(struct pci_epc *epc, u8 func_no, u8 vfunc_no);

#ifdef QEP_HAVE_AUX_RES
static inline int qep_aux_count(struct pci_epc *epc, u8 func_no, u8 vfunc_no)
{
	phys_addr_t addr;
	u32 data;
	int irq;

	if (qep_epc_bad_func(epc, func_no, vfunc_no))
		return -EINVAL;
	return qep_doorbell(epc, &addr, &irq, &data) ? 0 : 1;
}

static inline int qep_aux_get(struct pci_epc *epc, u8 func_no, u8 vfunc_no,
			      struct pci_epc_aux_resource *res, int num)
{
	phys_addr_t addr;
	u32 data;
	int irq;

	if (qep_epc_bad_func(epc, func_no, vfunc_no) || num < 1 ||
	    qep_doorbell(epc, &addr, &irq, &data))
		return -EINVAL;
	res[0] = (struct pci_epc_aux_resource) {
		.type = PCI_EPC_AUX_DOORBELL_MMIO,
		.phys_addr = addr,
		.size = sizeof(u32),
		.bar = NO_BAR,
		.u.db_mmio = { .irq = irq, .data = data },
	};
	return 0;
}

#define QEP_AUX_OPS \
	.get_aux_resources_count = qep_aux_count, \
	.get_aux_resources = qep_aux_get,
#else
#define QEP_AUX_OPS
#endif

#endif /* PCIE_QEMU_EP_COMPAT_H */
