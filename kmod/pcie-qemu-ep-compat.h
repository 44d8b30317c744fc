/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pci_epc API differences between Linux 6.1 and 6.12 that pcie-qemu-ep
 * meets, kept in one place.  Kbuild sets QEP_EPC_API from the kernel version:
 * 601 for 6.1, 612 for 6.12 and later, 0 for kernels in between.
 */
#ifndef PCIE_QEMU_EP_COMPAT_H
#define PCIE_QEMU_EP_COMPAT_H

#include <linux/pci.h>
#include <linux/pci-epc.h>

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

static inline void qep_features_init(struct pci_epc_features *f)
{
	int i;

	for (i = 0; i < PCI_STD_NUM_BARS; i++)
		f->bar[i].type = BAR_PROGRAMMABLE;
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

static inline void qep_features_init(struct pci_epc_features *f)
{
	/* all BARs programmable: no reserved, fixed-64 or fixed-size BARs */
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

#else
#error "pcie-qemu-ep supports the pci_epc API of Linux 6.1 and of 6.12 or later"
#endif

#endif /* PCIE_QEMU_EP_COMPAT_H */
