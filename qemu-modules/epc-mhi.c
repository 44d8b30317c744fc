/*
 * qemu-epc's MHI register block (epc-mhi.h says what it is).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include "epc-mhi.h"

/* MHI registers (the MHI specification's offsets, from the host's view) */
#define MHI_MHIREGLEN   0x00
#define MHI_MHIVER      0x08
#define MHI_MHICFG      0x10
#define MHI_CHDBOFF     0x18
#define MHI_ERDBOFF     0x20
#define MHI_BHIOFF      0x28
#define MHI_MHICTRL     0x38
#define MHI_CRDB_LOWER  0x70

#define H(x)            (QEPC_MHI_HOST_BASE + (x))  /* block offset */
#define INT_MHICTRL     (1u << 0)
#define INT_CRDB        (1u << 1)
#define NUM_DB          (QEPC_MHI_DB_ROWS * 32)
/* the block offset of the BHI registers, the host's BHIOFF away */
#define BHI_BASE        0x200

void epc_mhi_reset(EpcMhi *m)
{
    memset(m, 0, sizeof(*m));
    /* the MHI register space, up to the doorbells, as the host sees it */
    m->reg[H(MHI_MHIREGLEN) / 4] = QEPC_MHI_CHDB(0) - QEPC_MHI_HOST_BASE;
    /*
     * 128 channels and 128 event rings (a doorbell each): the endpoint
     * stack sizes its event rings from NER before the host writes its own
     * count there
     */
    m->reg[H(MHI_MHICFG) / 4] = NUM_DB << 16 | NUM_DB;
    m->reg[H(MHI_CHDBOFF) / 4] = QEPC_MHI_CHDB(0) - QEPC_MHI_HOST_BASE;
    m->reg[H(MHI_ERDBOFF) / 4] = QEPC_MHI_ERDB(0) - QEPC_MHI_HOST_BASE;
    m->reg[H(MHI_BHIOFF) / 4] = BHI_BASE - QEPC_MHI_HOST_BASE;
}

static bool in_rows(unsigned off, unsigned base, unsigned *row)
{
    if (off < base || off >= base + 4 * QEPC_MHI_DB_ROWS) {
        return false;
    }
    *row = (off - base) / 4;
    return true;
}

uint32_t epc_mhi_read(const EpcMhi *m, unsigned off)
{
    unsigned row;

    if (off == QEPC_MHI_INT_STATUS) {
        return m->int_status;
    }
    if (in_rows(off, QEPC_MHI_CHDB_STATUS(0), &row)) {
        return m->chdb_status[row];
    }
    if (in_rows(off, QEPC_MHI_ERDB_STATUS(0), &row)) {
        return m->erdb_status[row];
    }
    if (off == QEPC_MHI_INT_CLEAR ||
        in_rows(off, QEPC_MHI_CHDB_CLEAR(0), &row) ||
        in_rows(off, QEPC_MHI_ERDB_CLEAR(0), &row)) {
        return 0;
    }
    return off < QEPC_MHI_SIZE ? m->reg[off / 4] : 0;
}

/* a summary of the status bits whose mask bit is set, one bit per row */
static uint64_t pending(const EpcMhi *m)
{
    uint64_t p = m->int_status & m->reg[QEPC_MHI_INT_MASK / 4] ? 1 : 0;

    for (unsigned r = 0; r < QEPC_MHI_DB_ROWS; r++) {
        p |= (uint64_t)(m->chdb_status[r] &
                        m->reg[QEPC_MHI_CHDB_MASK(r) / 4] ? 1 : 0) << (1 + r);
        p |= (uint64_t)(m->erdb_status[r] &
                        m->reg[QEPC_MHI_ERDB_MASK(r) / 4] ? 1 : 0) << (5 + r);
    }
    return p;
}

bool epc_mhi_write(EpcMhi *m, unsigned off, uint32_t val)
{
    uint64_t before = pending(m);
    unsigned row;

    if (off == QEPC_MHI_INT_CLEAR) {
        m->int_status &= ~val;
    } else if (in_rows(off, QEPC_MHI_CHDB_CLEAR(0), &row)) {
        m->chdb_status[row] &= ~val;
    } else if (in_rows(off, QEPC_MHI_ERDB_CLEAR(0), &row)) {
        m->erdb_status[row] &= ~val;
    } else if (off == QEPC_MHI_INT_STATUS ||
               in_rows(off, QEPC_MHI_CHDB_STATUS(0), &row) ||
               in_rows(off, QEPC_MHI_ERDB_STATUS(0), &row)) {
        return false;   /* read-only */
    } else if (off < QEPC_MHI_SIZE) {
        m->reg[off / 4] = val;
        /* unmasking a latched bit */
        return (pending(m) & ~before) != 0;
    } else {
        return false;
    }
    /* a clear that leaves unmasked bits latched: the line stays up */
    return pending(m) != 0;
}

/*
 * latch @bit in @status, masked or not; true if it is a new unmasked one
 * (the line goes up)
 */
static bool latch(uint32_t *status, uint32_t mask, uint32_t bit)
{
    bool fresh = (mask & bit) && !(*status & bit);

    *status |= bit;
    return fresh;
}

/*
 * A host write at block offset @b to the low word of doorbell n of the
 * array at @base (8 bytes a doorbell): latch bit n of @status, whose mask
 * rows start at @mask; true if that raised the interrupt
 */
static bool ring(EpcMhi *m, unsigned b, unsigned base, uint32_t *status,
                 unsigned mask)
{
    unsigned n = (b - base) / 8;

    if (b < base || n >= NUM_DB || (b & 7)) {
        return false;
    }
    return latch(&status[n / 32], m->reg[mask / 4 + n / 32], 1u << (n % 32));
}

bool epc_mhi_host_read(const EpcMhi *m, unsigned off, uint32_t *val)
{
    if (off >= QEPC_MHI_SIZE - QEPC_MHI_HOST_BASE) {
        return false;
    }
    *val = m->reg[H(off) / 4];
    return true;
}

bool epc_mhi_host_write(EpcMhi *m, unsigned off, uint32_t val, bool *irq)
{
    unsigned b = H(off);

    *irq = false;
    if (off >= QEPC_MHI_SIZE - QEPC_MHI_HOST_BASE) {
        return false;
    }
    m->reg[b / 4] = val;
    /* a 64-bit doorbell rings with its low half, written last */
    if (b == H(MHI_MHICTRL)) {
        *irq = latch(&m->int_status, m->reg[QEPC_MHI_INT_MASK / 4],
                     INT_MHICTRL);
    } else if (b == H(MHI_CRDB_LOWER)) {
        *irq = latch(&m->int_status, m->reg[QEPC_MHI_INT_MASK / 4], INT_CRDB);
    } else {
        *irq = ring(m, b, QEPC_MHI_CHDB(0), m->chdb_status,
                    QEPC_MHI_CHDB_MASK(0)) ||
               ring(m, b, QEPC_MHI_ERDB(0), m->erdb_status,
                    QEPC_MHI_ERDB_MASK(0));
    }
    return true;
}
