/*
 * The endpoint function's configuration space as the host sees it, held by
 * qemu-epc and built from what the EPF programmed (header, BARs, MSI,
 * MSI-X).  Plain C, unit-tested in tests/unit: it needs only proto/ and
 * the Linux UAPI pci_regs.h (the copy under the QEMU tree's
 * include/standard-headers), none of QEMU's objects or functions.
 *
 * Layout (docs/qemu-epc.md, "Endpoint configuration space"):
 *   0x00-0x3f  type 0 header
 *   0x40       PCI Express capability v2, endpoint       -> 0x80, 0x90 or 0xa0
 *   0x80       MSI, 64-bit, 1..32 vectors (if enabled)  -> 0x90 or 0xa0
 *   0x90       MSI-X (if enabled)                       -> 0xa0
 *   0xa0       power management v3: D0, D3hot           -> 0
 *   0x100-     extended space: empty (reads 0)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_CFGSPACE_H
#define EPC_CFGSPACE_H

#include <stdbool.h>
#include <stdint.h>
#include "standard-headers/linux/pci_regs.h"
#include "qemu-epc-proto.h"

/* the kind of a BAR from its low flag bits (as in struct qep_bar_desc) */
#define EPC_BAR_IS_IO(flags)   ((flags) & PCI_BASE_ADDRESS_SPACE_IO)
#define EPC_BAR_IS_64(flags)   (((flags) & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == \
                                PCI_BASE_ADDRESS_MEM_TYPE_64)

#define EPC_CFG_SIZE      4096
#define EPC_CFG_PCIE_CAP  0x40
#define EPC_CFG_MSI_CAP   0x80
#define EPC_CFG_MSIX_CAP  0x90
#define EPC_CFG_PM_CAP    0xa0

typedef struct EpcCfgHeader {
    uint16_t vendor_id, device_id;
    uint8_t revision, progif, subclass, baseclass;
    uint16_t subsys_vendor_id, subsys_id;
    uint8_t intx_pin;                 /* 0 none, 1..4 INTA..INTD */
} EpcCfgHeader;

typedef struct EpcCfgParams {
    EpcCfgHeader hdr;
    struct qep_bar_desc bar[QEP_NUM_BARS];   /* size 0: not implemented */
    int msi_log2;                    /* -1: no MSI; else log2(vectors) 0..5 */
    uint16_t msix_count;             /* 0: no MSI-X; else 1..2048 */
    uint32_t msix_table;             /* BIR in bits 2:0, offset 8-aligned */
    uint32_t msix_pba;
} EpcCfgParams;

/* what a host write changed; reported to guest 1 */
#define EPC_CFG_EV_COMMAND  (1u << 0)
#define EPC_CFG_EV_MSI      (1u << 1)
#define EPC_CFG_EV_MSIX     (1u << 2)
#define EPC_CFG_EV_BAR      (1u << 3)

typedef struct EpcCfgSpace {
    uint8_t cfg[EPC_CFG_SIZE];
    uint8_t wmask[EPC_CFG_SIZE];
    uint8_t w1cmask[EPC_CFG_SIZE];
    EpcCfgParams p;
} EpcCfgSpace;

/* Size and flags of one implemented BAR; NULL if valid, else why not. */
const char *epc_cfg_check_bar(const struct qep_bar_desc *b);
/* Check parameters; NULL if valid, else a message naming the fault. */
const char *epc_cfg_check(const EpcCfgParams *p);
/* Build the space from valid parameters (host-writable state reset). */
void epc_cfg_build(EpcCfgSpace *s, const EpcCfgParams *p);

/* Host accesses; @len 1, 2 or 4 and @off aligned to it (not checked here). */
uint32_t epc_cfg_read(const EpcCfgSpace *s, unsigned off, unsigned len);
unsigned epc_cfg_write(EpcCfgSpace *s, unsigned off, unsigned len,
                       uint32_t val);

/* Decoded host state */
uint16_t epc_cfg_command(const EpcCfgSpace *s);
uint64_t epc_cfg_bar_addr(const EpcCfgSpace *s, int bar);
/* Which BAR decodes [addr, addr+len)?  -1 if none (or decoding disabled). */
int epc_cfg_bar_match(const EpcCfgSpace *s, bool io, uint64_t addr,
                      uint32_t len, uint64_t *offset);
bool epc_cfg_msi_enabled(const EpcCfgSpace *s);
unsigned epc_cfg_msi_vectors(const EpcCfgSpace *s);  /* enabled by host */
uint64_t epc_cfg_msi_addr(const EpcCfgSpace *s);
uint16_t epc_cfg_msi_data(const EpcCfgSpace *s);
uint16_t epc_cfg_msi_ctrl(const EpcCfgSpace *s);
uint16_t epc_cfg_msix_ctrl(const EpcCfgSpace *s);

#endif /* EPC_CFGSPACE_H */
