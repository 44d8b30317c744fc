/*
 * qemu-epc's MHI register block: the register file of an MHI endpoint
 * (Qualcomm modems' host interface), as an MHI endpoint stack in guest 1
 * (pci-epf-mhi with the kernel's mhi_ep) expects the hardware to keep it.
 * Plain C: no QEMU dependency, unit-tested in tests/unit.  Layout:
 * qemu-epc-regs.h (QEPC_MHI_*), docs/qemu-epc.md ("MHI register block").
 *
 * Two sides reach it.  Guest 1 reads and writes every register at its own
 * offset; the interrupt status registers are read-only there and change
 * through their clear registers.  The host (through the function's BAR,
 * offset X = block offset QEPC_MHI_HOST_BASE + X) reads and writes the
 * MHI registers; its writes to MHICTRL and to the command, channel and
 * event ring doorbells latch a status bit, masked or not.  The interrupt
 * to guest 1 is a level: up while a latched bit is unmasked.  It is
 * signalled (an MSI-X message) when the host latches an unmasked bit,
 * when guest 1 unmasks a latched one, and after a clear that leaves one.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_MHI_H
#define EPC_MHI_H

#include <stdbool.h>
#include <stdint.h>
#include "qemu-epc-regs.h"

typedef struct EpcMhi {
    uint32_t reg[QEPC_MHI_SIZE / 4];   /* the plain registers */
    uint32_t int_status;
    uint32_t chdb_status[QEPC_MHI_DB_ROWS];
    uint32_t erdb_status[QEPC_MHI_DB_ROWS];
} EpcMhi;

/* Reset: the hardware's values (doorbell offsets, BHI offset, sizes). */
void epc_mhi_reset(EpcMhi *m);

/* Guest 1's accesses, 4 bytes at a 4-aligned @off below QEPC_MHI_SIZE. */
uint32_t epc_mhi_read(const EpcMhi *m, unsigned off);
/* true when the write signals the interrupt */
bool epc_mhi_write(EpcMhi *m, unsigned off, uint32_t val);

/*
 * The host's, at host offset @off (4 bytes, 4-aligned): false when @off is
 * outside what the host reaches.  A write returns in *irq whether it
 * latched a new status bit (guest 1 is to be interrupted).
 */
bool epc_mhi_host_read(const EpcMhi *m, unsigned off, uint32_t *val);
bool epc_mhi_host_write(EpcMhi *m, unsigned off, uint32_t val, bool *irq);

#endif
