/*
 * qemu-epc: the MHI register block (BAR1 with mhi=on).  The register file
 * is epc-mhi.c's model; here it meets guest 1 (its BAR), the host (inbound
 * accesses that a function's BAR leads into the block) and the interrupt
 * that a host doorbell raises in guest 1 (MSI-X vector QEPC_VEC_MHI).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "hw/pci/msix.h"
#include "qemu-epc-int.h"
#include QEP_TRACE_H

static void epc_mhi_notify(QemuEpcState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    trace_qemu_epc_mhi_irq(s->mhi.int_status, s->mhi.chdb_status[0],
                           s->mhi.erdb_status[0]);
    if (msix_enabled(pdev)) {
        msix_notify(pdev, QEPC_VEC_MHI);
    } else {
        /* latched all the same: guest 1 sees it when it looks */
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: an MHI doorbell was rung "
                      "but MSI-X is off: the MHI block interrupts through "
                      "MSI-X vector %d only\n", QEPC_VEC_MHI);
    }
}

static uint64_t epc_mhi_mr_read(void *opaque, hwaddr addr, unsigned size)
{
    QemuEpcState *s = opaque;

    return epc_mhi_read(&s->mhi, addr);
}

static void epc_mhi_mr_write(void *opaque, hwaddr addr, uint64_t val,
                             unsigned size)
{
    QemuEpcState *s = opaque;

    if (epc_mhi_write(&s->mhi, addr, val)) {
        epc_mhi_notify(s);
    }
}

static const MemoryRegionOps epc_mhi_ops = {
    .read = epc_mhi_mr_read,
    .write = epc_mhi_mr_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

void epc_mhi_realize(QemuEpcState *s)
{
    memory_region_init_io(&s->mhi_mr, OBJECT(s), &epc_mhi_ops, s,
                          "qemu-epc-mhi", QEPC_MHI_SIZE);
    pci_register_bar(PCI_DEVICE(s), QEPC_MHI_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->mhi_mr);
    epc_mhi_reset(&s->mhi);
}

/*
 * A host access that a function's BAR leads to offset @off of the block:
 * the host's offset @off of the register file (epc-mhi.h), in aligned
 * 32-bit words.
 */
MemTxResult epc_inbound_mhi(QemuEpcState *s, uint64_t off, bool write,
                            const uint8_t *wdata, uint8_t *rdata, uint32_t len)
{
    bool irq = false;

    if ((off & 3) || (len & 3)) {
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: host %s of %u bytes at MHI "
                      "offset 0x%" PRIx64 " refused: the MHI registers take "
                      "aligned 32-bit words\n", write ? "write" : "read",
                      len, off);
        return MEMTX_ERROR;
    }
    for (uint32_t i = 0; i < len; i += 4) {
        unsigned host_off = off + i;
        uint32_t v;
        bool rang;

        if (write) {
            v = ldl_le_p(wdata + i);
            if (!epc_mhi_host_write(&s->mhi, host_off, v, &rang)) {
                return MEMTX_DECODE_ERROR;
            }
            irq |= rang;
        } else {
            if (!epc_mhi_host_read(&s->mhi, host_off, &v)) {
                return MEMTX_DECODE_ERROR;
            }
            stl_le_p(rdata + i, v);
        }
        trace_qemu_epc_mhi_host(host_off, v, write);
    }
    if (irq) {
        epc_mhi_notify(s);
    }
    return MEMTX_OK;
}
