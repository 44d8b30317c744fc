/*
 * Endpoint function configuration space held by qemu-epc.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include "epc-cfgspace.h"

static void put8(uint8_t *b, unsigned o, uint8_t v) { b[o] = v; }
static void put16(uint8_t *b, unsigned o, uint16_t v)
{
    b[o] = v;
    b[o + 1] = v >> 8;
}
static void put32(uint8_t *b, unsigned o, uint32_t v)
{
    put16(b, o, v);
    put16(b, o + 2, v >> 16);
}
static uint16_t get16(const uint8_t *b, unsigned o)
{
    return b[o] | b[o + 1] << 8;
}
static uint32_t get32(const uint8_t *b, unsigned o)
{
    return get16(b, o) | (uint32_t)get16(b, o + 2) << 16;
}

const char *epc_cfg_check_bar(const struct qep_bar_desc *b)
{
    bool io = EPC_BAR_IS_IO(b->flags);

    if (b->size & (b->size - 1)) {
        return "BAR size is not a power of two";
    }
    if (io ? (b->size < 4 || b->size > 256 ||
              b->flags != PCI_BASE_ADDRESS_SPACE_IO)
           : (b->size < 16 || (b->flags & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
               PCI_BASE_ADDRESS_MEM_TYPE_1M ||
               b->flags & ~0xeu)) {
        return "BAR size or flags not valid for its kind";
    }
    if (!EPC_BAR_IS_64(b->flags) && b->size > 0x80000000ull) {
        return "32-bit BAR larger than 2 GiB";
    }
    return NULL;
}

const char *epc_cfg_check(const EpcCfgParams *p)
{
    const char *why;

    for (int i = 0; i < QEP_NUM_BARS; i++) {
        const struct qep_bar_desc *b = &p->bar[i];

        if (!b->size) {
            continue;
        }
        why = epc_cfg_check_bar(b);
        if (why) {
            return why;
        }
        if (EPC_BAR_IS_64(b->flags)) {            /* 64-bit */
            if (i == QEP_NUM_BARS - 1) {
                return "64-bit BAR in the last slot";
            }
            if (p->bar[i + 1].size || p->bar[i + 1].flags) {
                return "64-bit BAR overlaps the next BAR";
            }
            i++;
        }
    }
    if (p->msi_log2 < -1 || p->msi_log2 > 5) {
        return "MSI vector count out of range";
    }
    if (p->msix_count > 2048) {
        return "MSI-X table size over 2048";
    }
    if (p->msix_count) {
        unsigned tbir = p->msix_table & 7, pbir = p->msix_pba & 7;

        if (tbir >= QEP_NUM_BARS || pbir >= QEP_NUM_BARS ||
            !p->bar[tbir].size || !p->bar[pbir].size ||
            EPC_BAR_IS_IO(p->bar[tbir].flags) ||
            EPC_BAR_IS_IO(p->bar[pbir].flags)) {
            return "MSI-X table or PBA in a BAR that is not a memory BAR";
        }
        if ((p->msix_table & ~7u) + 16ull * p->msix_count >
            p->bar[tbir].size) {
            return "MSI-X table does not fit in its BAR";
        }
        if ((p->msix_pba & ~7u) + 8ull * ((p->msix_count + 63) / 64) >
            p->bar[pbir].size) {
            return "MSI-X PBA does not fit in its BAR";
        }
    }
    if (p->hdr.intx_pin > 4) {
        return "interrupt pin out of range";
    }
    return NULL;
}

void epc_cfg_build(EpcCfgSpace *s, const EpcCfgParams *p)
{
    uint8_t *c = s->cfg, *w = s->wmask;
    unsigned msi = EPC_CFG_MSI_CAP, msix = EPC_CFG_MSIX_CAP;
    unsigned pm = EPC_CFG_PM_CAP;
    unsigned after_pcie;

    memset(s, 0, sizeof(*s));
    s->p = *p;

    put16(c, PCI_VENDOR_ID, p->hdr.vendor_id);
    put16(c, PCI_DEVICE_ID, p->hdr.device_id);
    put16(c, PCI_STATUS, PCI_STATUS_CAP_LIST);
    put16(s->w1cmask, PCI_STATUS,
          PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
          PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |
          PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY);
    put8(c, PCI_REVISION_ID, p->hdr.revision);
    put8(c, PCI_CLASS_PROG, p->hdr.progif);
    put8(c, PCI_CLASS_DEVICE, p->hdr.subclass);
    put8(c, PCI_CLASS_DEVICE + 1, p->hdr.baseclass);
    put16(c, PCI_SUBSYSTEM_VENDOR_ID, p->hdr.subsys_vendor_id);
    put16(c, PCI_SUBSYSTEM_ID, p->hdr.subsys_id);
    put8(c, PCI_INTERRUPT_PIN, p->hdr.intx_pin);
    put8(c, PCI_CAPABILITY_LIST, EPC_CFG_PCIE_CAP);

    put16(w, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
          PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    for (int i = 0; i < QEP_NUM_BARS; i++) {
        const struct qep_bar_desc *b = &p->bar[i];
        unsigned o = PCI_BASE_ADDRESS_0 + 4 * i;

        if (!b->size) {
            continue;
        }
        if (EPC_BAR_IS_IO(b->flags)) {
            put16(w, PCI_COMMAND, get16(w, PCI_COMMAND) | PCI_COMMAND_IO);
        }
        put32(c, o, b->flags);
        put32(w, o, (uint32_t)~(b->size - 1) &
              (uint32_t)(EPC_BAR_IS_IO(b->flags) ? PCI_BASE_ADDRESS_IO_MASK
                                                 : PCI_BASE_ADDRESS_MEM_MASK));
        if (EPC_BAR_IS_64(b->flags)) {
            put32(w, o + 4, (uint32_t)(~(b->size - 1) >> 32));
            i++;
        }
    }
    put8(w, PCI_CACHE_LINE_SIZE, 0xff);
    put8(w, PCI_INTERRUPT_LINE, 0xff);

    /* PCI Express capability, version 2, endpoint, x1 2.5 GT/s */
    after_pcie = p->msi_log2 >= 0 ? msi : p->msix_count ? msix : pm;
    put8(c, EPC_CFG_PCIE_CAP, PCI_CAP_ID_EXP);
    put8(c, EPC_CFG_PCIE_CAP + 1, after_pcie);
    put16(c, EPC_CFG_PCIE_CAP + PCI_EXP_FLAGS, 2);  /* version 2, endpoint */
    /* 256-byte Max_Payload_Size (encoding 1), role-based error reporting */
    put32(c, EPC_CFG_PCIE_CAP + PCI_EXP_DEVCAP, 1 | PCI_EXP_DEVCAP_RBER);
    put16(w, EPC_CFG_PCIE_CAP + PCI_EXP_DEVCTL,
          PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE |
          PCI_EXP_DEVCTL_URRE | PCI_EXP_DEVCTL_PAYLOAD |
          PCI_EXP_DEVCTL_AUX_PME | PCI_EXP_DEVCTL_NOSNOOP_EN |
          PCI_EXP_DEVCTL_READRQ);
    put32(c, EPC_CFG_PCIE_CAP + PCI_EXP_LNKCAP,
          PCI_EXP_LNKCAP_SLS_2_5GB | 1 << 4);   /* x1 */
    put16(c, EPC_CFG_PCIE_CAP + PCI_EXP_LNKSTA,
          PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);

    if (p->msi_log2 >= 0) {
        put8(c, msi, PCI_CAP_ID_MSI);
        put8(c, msi + 1, p->msix_count ? msix : pm);
        put16(c, msi + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | p->msi_log2 << 1);
        put16(w, msi + PCI_MSI_FLAGS,
              PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
        put32(w, msi + PCI_MSI_ADDRESS_LO, 0xfffffffc);
        put32(w, msi + PCI_MSI_ADDRESS_HI, 0xffffffff);
        put16(w, msi + PCI_MSI_DATA_64, 0xffff);
    }
    if (p->msix_count) {
        put8(c, msix, PCI_CAP_ID_MSIX);
        put8(c, msix + 1, pm);
        put16(c, msix + PCI_MSIX_FLAGS, p->msix_count - 1);
        put16(w, msix + PCI_MSIX_FLAGS,
              PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
        put32(c, msix + PCI_MSIX_TABLE, p->msix_table);
        put32(c, msix + PCI_MSIX_PBA, p->msix_pba);
    }

    /*
     * Power management, version 3: D0 and D3hot, PME claimed from D3hot
     * (a host driver may want it before it suspends the function, as
     * mhi_pci_generic does) but never signalled: the host resumes the
     * function itself.  No_Soft_Reset: D3hot to D0 keeps the function's
     * state, as nothing here resets it then.
     */
    put8(c, pm, PCI_CAP_ID_PM);
    put8(c, pm + 1, 0);
    put16(c, pm + PCI_PM_PMC, 3 | PCI_PM_CAP_PME_D3hot);
    put16(c, pm + PCI_PM_CTRL, PCI_PM_CTRL_NO_SOFT_RESET);
    put16(w, pm + PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK | PCI_PM_CTRL_PME_ENABLE);
    put16(s->w1cmask, pm + PCI_PM_CTRL, PCI_PM_CTRL_PME_STATUS);
}

uint32_t epc_cfg_read(const EpcCfgSpace *s, unsigned off, unsigned len)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < len; i++) {
        v |= (uint32_t)s->cfg[off + i] << (8 * i);
    }
    return v;
}

unsigned epc_cfg_write(EpcCfgSpace *s, unsigned off, unsigned len,
                       uint32_t val)
{
    unsigned ev = 0;
    unsigned msi = EPC_CFG_MSI_CAP;
    unsigned pm_before = get16(s->cfg, EPC_CFG_PM_CAP + PCI_PM_CTRL) &
                         PCI_PM_CTRL_STATE_MASK;

    for (unsigned i = 0; i < len; i++) {
        unsigned o = off + i;
        uint8_t b = val >> (8 * i), old = s->cfg[o];

        s->cfg[o] = (old & ~s->wmask[o]) | (b & s->wmask[o]);
        s->cfg[o] &= ~(b & s->w1cmask[o]);
        if (s->cfg[o] == old) {
            continue;
        }
        if (o >= PCI_COMMAND && o < PCI_COMMAND + 2) {
            ev |= EPC_CFG_EV_COMMAND;
        } else if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_0 + 24) {
            ev |= EPC_CFG_EV_BAR;
        } else if (s->p.msi_log2 >= 0 && o >= msi + 2 && o < msi + 14) {
            ev |= EPC_CFG_EV_MSI;
        } else if (s->p.msix_count && o >= EPC_CFG_MSIX_CAP + 2 &&
                   o < EPC_CFG_MSIX_CAP + 4) {
            ev |= EPC_CFG_EV_MSIX;
        }
    }
    /* a state the function does not have (D1, D2) changes nothing */
    if (off < EPC_CFG_PM_CAP + PCI_PM_CTRL + 1 &&
        off + len > EPC_CFG_PM_CAP + PCI_PM_CTRL) {
        uint16_t pmcsr = get16(s->cfg, EPC_CFG_PM_CAP + PCI_PM_CTRL);
        unsigned st = pmcsr & PCI_PM_CTRL_STATE_MASK;

        if (st == 1 || st == 2) {
            put16(s->cfg, EPC_CFG_PM_CAP + PCI_PM_CTRL,
                  (pmcsr & ~PCI_PM_CTRL_STATE_MASK) | pm_before);
        }
    }
    /* Multiple Message Enable cannot exceed Multiple Message Capable */
    if (s->p.msi_log2 >= 0) {
        uint16_t ctrl = get16(s->cfg, msi + PCI_MSI_FLAGS);
        unsigned mme = (ctrl & PCI_MSI_FLAGS_QSIZE) >> 4;

        if (mme > (unsigned)s->p.msi_log2) {
            ctrl = (ctrl & ~PCI_MSI_FLAGS_QSIZE) | s->p.msi_log2 << 4;
            put16(s->cfg, msi + PCI_MSI_FLAGS, ctrl);
        }
    }
    return ev;
}

uint16_t epc_cfg_command(const EpcCfgSpace *s)
{
    return get16(s->cfg, PCI_COMMAND);
}

uint64_t epc_cfg_bar_addr(const EpcCfgSpace *s, int bar)
{
    const struct qep_bar_desc *b = &s->p.bar[bar];
    uint64_t a;

    if (!b->size) {
        return 0;
    }
    a = get32(s->cfg, PCI_BASE_ADDRESS_0 + 4 * bar);
    if (EPC_BAR_IS_IO(b->flags)) {
        return a & PCI_BASE_ADDRESS_IO_MASK;
    }
    a &= PCI_BASE_ADDRESS_MEM_MASK;
    if (EPC_BAR_IS_64(b->flags)) {
        a |= (uint64_t)get32(s->cfg, PCI_BASE_ADDRESS_0 + 4 * bar + 4) << 32;
    }
    return a;
}

int epc_cfg_bar_match(const EpcCfgSpace *s, bool io, uint64_t addr,
                      uint32_t len, uint64_t *offset)
{
    uint16_t cmd = epc_cfg_command(s);

    if (!(cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY))) {
        return -1;
    }
    for (int i = 0; i < QEP_NUM_BARS; i++) {
        const struct qep_bar_desc *b = &s->p.bar[i];
        uint64_t base;

        if (!b->size || (bool)EPC_BAR_IS_IO(b->flags) != io) {
            continue;
        }
        base = epc_cfg_bar_addr(s, i);
        if (base && addr >= base && addr - base < b->size &&
            len <= b->size - (addr - base)) {
            *offset = addr - base;
            return i;
        }
        if (EPC_BAR_IS_64(b->flags)) {
            i++;
        }
    }
    return -1;
}

uint16_t epc_cfg_msi_ctrl(const EpcCfgSpace *s)
{
    return s->p.msi_log2 >= 0
           ? get16(s->cfg, EPC_CFG_MSI_CAP + PCI_MSI_FLAGS) : 0;
}

bool epc_cfg_msi_enabled(const EpcCfgSpace *s)
{
    return epc_cfg_msi_ctrl(s) & PCI_MSI_FLAGS_ENABLE;
}

unsigned epc_cfg_msi_vectors(const EpcCfgSpace *s)
{
    unsigned mme = (epc_cfg_msi_ctrl(s) & PCI_MSI_FLAGS_QSIZE) >> 4;

    return epc_cfg_msi_enabled(s) ? 1u << mme : 0;
}

uint64_t epc_cfg_msi_addr(const EpcCfgSpace *s)
{
    return get32(s->cfg, EPC_CFG_MSI_CAP + PCI_MSI_ADDRESS_LO) |
           (uint64_t)get32(s->cfg, EPC_CFG_MSI_CAP + PCI_MSI_ADDRESS_HI) << 32;
}

uint16_t epc_cfg_msi_data(const EpcCfgSpace *s)
{
    return get16(s->cfg, EPC_CFG_MSI_CAP + PCI_MSI_DATA_64);
}

uint16_t epc_cfg_msix_ctrl(const EpcCfgSpace *s)
{
    return s->p.msix_count
           ? get16(s->cfg, EPC_CFG_MSIX_CAP + PCI_MSIX_FLAGS) : 0;
}
