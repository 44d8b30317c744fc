/*
 * Endpoint function configuration space held by qemu-epc.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include "epc-cfgspace.h"

/* register numbers from the PCI specifications */
#define CFG_VENDOR     0x00
#define CFG_COMMAND    0x04
#define CFG_STATUS     0x06
#define CFG_REVISION   0x08
#define CFG_CACHE_LINE 0x0c
#define CFG_BAR0       0x10
#define CFG_SUBSYS     0x2c
#define CFG_CAP_PTR    0x34
#define CFG_INT_LINE   0x3c
#define CFG_INT_PIN    0x3d

#define CMD_IO         0x0001
#define CMD_MEMORY     0x0002
#define CMD_MASTER     0x0004
#define CMD_PARITY     0x0040
#define CMD_SERR       0x0100
#define CMD_INTX_DIS   0x0400
#define STATUS_CAPS    0x0010
#define STATUS_ERRORS  0xf900   /* parity, target/master aborts, SERR */

#define MSI_CTRL_EN    0x0001
#define MSI_CTRL_64    0x0080
#define MSIX_CTRL_EN   0x8000
#define MSIX_CTRL_MASK 0x4000

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
    bool io = b->flags & 1;

    if (b->size & (b->size - 1)) {
        return "BAR size is not a power of two";
    }
    if (io ? (b->size < 4 || b->size > 256 || b->flags != 1)
           : (b->size < 16 || (b->flags & 0x6) == 0x2 || b->flags & ~0xeu)) {
        return "BAR size or flags not valid for its kind";
    }
    if ((b->flags & 0x6) != 0x4 && b->size > 0x80000000ull) {
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
        if ((b->flags & 0x6) == 0x4) {            /* 64-bit */
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
            (p->bar[tbir].flags & 1) || (p->bar[pbir].flags & 1)) {
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
    unsigned after_pcie;

    memset(s, 0, sizeof(*s));
    s->p = *p;

    put16(c, CFG_VENDOR, p->hdr.vendor_id);
    put16(c, CFG_VENDOR + 2, p->hdr.device_id);
    put16(c, CFG_STATUS, STATUS_CAPS);
    put16(s->w1cmask, CFG_STATUS, STATUS_ERRORS);
    put8(c, CFG_REVISION, p->hdr.revision);
    put8(c, CFG_REVISION + 1, p->hdr.progif);
    put8(c, CFG_REVISION + 2, p->hdr.subclass);
    put8(c, CFG_REVISION + 3, p->hdr.baseclass);
    put16(c, CFG_SUBSYS, p->hdr.subsys_vendor_id);
    put16(c, CFG_SUBSYS + 2, p->hdr.subsys_id);
    put8(c, CFG_INT_PIN, p->hdr.intx_pin);
    put8(c, CFG_CAP_PTR, EPC_CFG_PCIE_CAP);

    put16(w, CFG_COMMAND, CMD_MEMORY | CMD_MASTER | CMD_PARITY | CMD_SERR |
          CMD_INTX_DIS);
    for (int i = 0; i < QEP_NUM_BARS; i++) {
        const struct qep_bar_desc *b = &p->bar[i];
        unsigned o = CFG_BAR0 + 4 * i;

        if (!b->size) {
            continue;
        }
        if (b->flags & 1) {
            put16(w, CFG_COMMAND, get16(w, CFG_COMMAND) | CMD_IO);
        }
        put32(c, o, b->flags);
        put32(w, o, (uint32_t)~(b->size - 1) & ~(b->flags & 1 ? 3u : 0xfu));
        if ((b->flags & 0x6) == 0x4) {
            put32(w, o + 4, (uint32_t)(~(b->size - 1) >> 32));
            i++;
        }
    }
    put8(w, CFG_CACHE_LINE, 0xff);
    put8(w, CFG_INT_LINE, 0xff);

    /* PCI Express capability, version 2, endpoint, x1 2.5 GT/s */
    after_pcie = p->msi_log2 >= 0 ? msi : p->msix_count ? msix : 0;
    put8(c, EPC_CFG_PCIE_CAP, 0x10);
    put8(c, EPC_CFG_PCIE_CAP + 1, after_pcie);
    put16(c, EPC_CFG_PCIE_CAP + 2, 0x0002);
    put32(c, EPC_CFG_PCIE_CAP + 4, 0x00008001);   /* DevCap: 256 B MPS, RBER */
    put16(w, EPC_CFG_PCIE_CAP + 8, 0x7cef);       /* DevCtl: MPS, MRRS, ... */
    put32(c, EPC_CFG_PCIE_CAP + 0x0c, 0x00000011); /* LnkCap: x1, 2.5 GT/s */
    put16(c, EPC_CFG_PCIE_CAP + 0x12, 0x0011);    /* LnkSta: x1, 2.5 GT/s */

    if (p->msi_log2 >= 0) {
        put8(c, msi, 0x05);
        put8(c, msi + 1, p->msix_count ? msix : 0);
        put16(c, msi + 2, MSI_CTRL_64 | p->msi_log2 << 1);
        put16(w, msi + 2, MSI_CTRL_EN | 0x0070);
        put32(w, msi + 4, 0xfffffffc);
        put32(w, msi + 8, 0xffffffff);
        put16(w, msi + 12, 0xffff);
    }
    if (p->msix_count) {
        put8(c, msix, 0x11);
        put8(c, msix + 1, 0);
        put16(c, msix + 2, p->msix_count - 1);
        put16(w, msix + 2, MSIX_CTRL_EN | MSIX_CTRL_MASK);
        put32(c, msix + 4, p->msix_table);
        put32(c, msix + 8, p->msix_pba);
    }
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

    for (unsigned i = 0; i < len; i++) {
        unsigned o = off + i;
        uint8_t b = val >> (8 * i), old = s->cfg[o];

        s->cfg[o] = (old & ~s->wmask[o]) | (b & s->wmask[o]);
        s->cfg[o] &= ~(b & s->w1cmask[o]);
        if (s->cfg[o] == old) {
            continue;
        }
        if (o >= CFG_COMMAND && o < CFG_COMMAND + 2) {
            ev |= EPC_CFG_EV_COMMAND;
        } else if (o >= CFG_BAR0 && o < CFG_BAR0 + 24) {
            ev |= EPC_CFG_EV_BAR;
        } else if (s->p.msi_log2 >= 0 && o >= msi + 2 && o < msi + 14) {
            ev |= EPC_CFG_EV_MSI;
        } else if (s->p.msix_count && o >= EPC_CFG_MSIX_CAP + 2 &&
                   o < EPC_CFG_MSIX_CAP + 4) {
            ev |= EPC_CFG_EV_MSIX;
        }
    }
    /* Multiple Message Enable cannot exceed Multiple Message Capable */
    if (s->p.msi_log2 >= 0) {
        uint16_t ctrl = get16(s->cfg, msi + 2);
        unsigned mme = (ctrl >> 4) & 7;

        if (mme > (unsigned)s->p.msi_log2) {
            ctrl = (ctrl & ~0x70) | s->p.msi_log2 << 4;
            put16(s->cfg, msi + 2, ctrl);
        }
    }
    return ev;
}

uint16_t epc_cfg_command(const EpcCfgSpace *s)
{
    return get16(s->cfg, CFG_COMMAND);
}

uint64_t epc_cfg_bar_addr(const EpcCfgSpace *s, int bar)
{
    const struct qep_bar_desc *b = &s->p.bar[bar];
    uint64_t a;

    if (!b->size) {
        return 0;
    }
    a = get32(s->cfg, CFG_BAR0 + 4 * bar);
    if (b->flags & 1) {
        return a & ~3ull;
    }
    a &= ~0xfull;
    if ((b->flags & 0x6) == 0x4) {
        a |= (uint64_t)get32(s->cfg, CFG_BAR0 + 4 * bar + 4) << 32;
    }
    return a;
}

int epc_cfg_bar_match(const EpcCfgSpace *s, bool io, uint64_t addr,
                      uint32_t len, uint64_t *offset)
{
    uint16_t cmd = epc_cfg_command(s);

    if (!(cmd & (io ? CMD_IO : CMD_MEMORY))) {
        return -1;
    }
    for (int i = 0; i < QEP_NUM_BARS; i++) {
        const struct qep_bar_desc *b = &s->p.bar[i];
        uint64_t base;

        if (!b->size || (bool)(b->flags & 1) != io) {
            continue;
        }
        base = epc_cfg_bar_addr(s, i);
        if (base && addr >= base && addr - base < b->size &&
            len <= b->size - (addr - base)) {
            *offset = addr - base;
            return i;
        }
        if ((b->flags & 0x6) == 0x4) {
            i++;
        }
    }
    return -1;
}

uint16_t epc_cfg_msi_ctrl(const EpcCfgSpace *s)
{
    return s->p.msi_log2 >= 0 ? get16(s->cfg, EPC_CFG_MSI_CAP + 2) : 0;
}

bool epc_cfg_msi_enabled(const EpcCfgSpace *s)
{
    return epc_cfg_msi_ctrl(s) & MSI_CTRL_EN;
}

unsigned epc_cfg_msi_vectors(const EpcCfgSpace *s)
{
    return epc_cfg_msi_enabled(s) ? 1u << ((epc_cfg_msi_ctrl(s) >> 4) & 7)
                                  : 0;
}

uint64_t epc_cfg_msi_addr(const EpcCfgSpace *s)
{
    return get32(s->cfg, EPC_CFG_MSI_CAP + 4) |
           (uint64_t)get32(s->cfg, EPC_CFG_MSI_CAP + 8) << 32;
}

uint16_t epc_cfg_msi_data(const EpcCfgSpace *s)
{
    return get16(s->cfg, EPC_CFG_MSI_CAP + 12);
}

uint16_t epc_cfg_msix_ctrl(const EpcCfgSpace *s)
{
    return s->p.msix_count ? get16(s->cfg, EPC_CFG_MSIX_CAP + 2) : 0;
}
