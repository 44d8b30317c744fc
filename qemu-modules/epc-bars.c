/*
 * qemu-epc function BARs: staged descriptors, commit, BAR kinds, inbound
 * subranges (see epc-bars.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include "epc-bars.h"
#include "epc-reg64.h"
#include "epc-cfgspace.h"

#define BAR_BLOCK    (QEPC_BAR_BASE(1) - QEPC_BAR_BASE(0))
#define IB_BLOCK     (QEPC_IB_BASE(1) - QEPC_IB_BASE(0))

void epc_bars_reset(EpcBars *b)
{
    memset(b->staged, 0, sizeof(b->staged));
    memset(b->bar, 0, sizeof(b->bar));
    memset(b->ib, 0, sizeof(b->ib));
}

/* Is inbound entry @e used by a committed BAR other than @except? */
static int ib_owner(const EpcBars *b, unsigned e, int except)
{
    for (int n = 0; n < QEPC_NUM_BARS; n++) {
        const EpcBarMap *m = &b->bar[n];

        if (n != except && (m->flags & QEPC_BAR_ENABLE) && m->sub_count &&
            e >= m->sub_first && e < (unsigned)m->sub_first + m->sub_count) {
            return n;
        }
    }
    return -1;
}

/* Check staged BAR @n against its kind, its neighbours and its entries. */
static int bar_check(const EpcBars *b, int n, uint32_t flags, const char **why)
{
    const EpcBarMap *st = &b->staged[n];
    struct qep_bar_desc d = { .size = st->size, .flags = flags & 0xf };
    uint32_t kind = b->kind[n];
    uint64_t sum = 0;

    *why = NULL;
    if (flags & ~(QEPC_BAR_ENABLE | 0xf) || !st->size) {
        *why = "unknown flags or size 0";
    } else if (epc_cfg_check_bar(&d)) {
        *why = epc_cfg_check_bar(&d);          /* size and flags rejected */
    } else if (QEPC_BAR_KIND_TYPE(kind) == QEPC_BAR_DISABLED) {
        *why = "the BAR is disabled on this controller";
    } else if (QEPC_BAR_KIND_TYPE(kind) == QEPC_BAR_FIXED &&
               st->size != 1ull << QEPC_BAR_KIND_LOG2(kind)) {
        *why = "the BAR has a fixed size on this controller";
    } else if ((kind & QEPC_BAR_KIND_64BIT) && !EPC_BAR_IS_64(d.flags)) {
        *why = "the BAR must be 64-bit on this controller";
    } else if (EPC_BAR_IS_64(d.flags) &&
               (n == QEPC_NUM_BARS - 1 || epc_bars_enabled(b, n + 1))) {
        *why = "64-bit BAR needs the next slot free";
    } else if (n > 0 && epc_bars_enabled(b, n - 1) &&
               EPC_BAR_IS_64(b->bar[n - 1].flags)) {
        *why = "slot is the upper half of a 64-bit BAR";
    }
    if (*why) {
        return QEPC_ERR_BAR;
    }
    if (!st->sub_count) {
        return 0;
    }
    if ((unsigned)st->sub_first + st->sub_count > b->n_ib) {
        *why = "subrange entries beyond INBOUND_COUNT";
        return QEPC_ERR_INBOUND;
    }
    for (unsigned e = st->sub_first; e < st->sub_first + st->sub_count; e++) {
        if (!b->ib[e].size || b->ib[e].size > st->size - sum) {
            *why = "subrange sizes are 0 or add up to more than the BAR";
            return QEPC_ERR_INBOUND;
        }
        if (b->ib[e].addr + b->ib[e].size - 1 < b->ib[e].addr) {
            *why = "subrange address range wraps";
            return QEPC_ERR_INBOUND;
        }
        if (ib_owner(b, e, n) >= 0) {
            *why = "subrange entry in use by another BAR";
            return QEPC_ERR_INBOUND;
        }
        sum += b->ib[e].size;
    }
    if (sum != st->size) {
        *why = "subrange sizes do not add up to the BAR size";
        return QEPC_ERR_INBOUND;
    }
    return 0;
}

static int bar_commit(EpcBars *b, int n, uint32_t flags, const char **why)
{
    int err;

    if (!(flags & QEPC_BAR_ENABLE)) {
        memset(&b->bar[n], 0, sizeof(b->bar[n]));
        b->bar[n].flags = flags & 0xf;
        return 0;
    }
    err = bar_check(b, n, flags, why);
    if (err) {
        return err;             /* the committed mapping stays */
    }
    b->bar[n] = b->staged[n];
    b->bar[n].flags = flags;
    return 0;
}

bool epc_bars_read(const EpcBars *b, unsigned off, uint32_t *val)
{
    if (off >= QEPC_BAR_BASE(0) && off < QEPC_BAR_BASE(QEPC_NUM_BARS)) {
        int n = (off - QEPC_BAR_BASE(0)) / BAR_BLOCK;
        const EpcBarMap *st = &b->staged[n];

        switch (off % BAR_BLOCK) {
        case QEPC_BAR_ADDR_LO:
            *val = st->addr;
            return true;
        case QEPC_BAR_ADDR_HI:
            *val = st->addr >> 32;
            return true;
        case QEPC_BAR_SIZE_LO:
            *val = st->size;
            return true;
        case QEPC_BAR_SIZE_HI:
            *val = st->size >> 32;
            return true;
        case QEPC_BAR_FLAGS:
            *val = b->bar[n].flags;
            return true;
        case QEPC_BAR_SUBMAP:
            *val = QEPC_SUBMAP(st->sub_first, (uint32_t)st->sub_count);
            return true;
        }
        return false;
    }
    if (off >= QEPC_BAR_KIND(0) && off < QEPC_BAR_KIND(QEPC_NUM_BARS) &&
        !(off & 3)) {
        *val = b->kind[(off - QEPC_BAR_KIND(0)) / 4];
        return true;
    }
    if (off >= QEPC_IB_BASE(0) && off < QEPC_IB_BASE(b->n_ib)) {
        const EpcInbound *e = &b->ib[(off - QEPC_IB_BASE(0)) / IB_BLOCK];

        switch (off % IB_BLOCK) {
        case QEPC_IB_ADDR_LO:
            *val = e->addr;
            return true;
        case QEPC_IB_ADDR_HI:
            *val = e->addr >> 32;
            return true;
        case QEPC_IB_SIZE_LO:
            *val = e->size;
            return true;
        case QEPC_IB_SIZE_HI:
            *val = e->size >> 32;
            return true;
        }
    }
    return false;
}

int epc_bars_write(EpcBars *b, unsigned off, uint32_t val, const char **why,
                   int *committed)
{
    *committed = -1;
    if (off >= QEPC_BAR_BASE(0) && off < QEPC_BAR_BASE(QEPC_NUM_BARS)) {
        int n = (off - QEPC_BAR_BASE(0)) / BAR_BLOCK;
        EpcBarMap *st = &b->staged[n];

        switch (off % BAR_BLOCK) {
        case QEPC_BAR_ADDR_LO:
            epc_set32(&st->addr, false, val);
            return 0;
        case QEPC_BAR_ADDR_HI:
            epc_set32(&st->addr, true, val);
            return 0;
        case QEPC_BAR_SIZE_LO:
            epc_set32(&st->size, false, val);
            return 0;
        case QEPC_BAR_SIZE_HI:
            epc_set32(&st->size, true, val);
            return 0;
        case QEPC_BAR_SUBMAP:
            if (val & ~0xffffu) {
                *why = "unknown SUBMAP bits";
                return QEPC_ERR_INBOUND;
            }
            st->sub_first = QEPC_SUBMAP_FIRST(val);
            st->sub_count = QEPC_SUBMAP_COUNT(val);
            return 0;
        case QEPC_BAR_FLAGS:
            *committed = n;
            return bar_commit(b, n, val, why);
        }
        return -1;
    }
    if (off >= QEPC_IB_BASE(0) && off < QEPC_IB_BASE(b->n_ib)) {
        unsigned e = (off - QEPC_IB_BASE(0)) / IB_BLOCK;

        if (ib_owner(b, e, -1) >= 0) {
            *why = "inbound entry written while a BAR uses it";
            return QEPC_ERR_INBOUND;
        }
        switch (off % IB_BLOCK) {
        case QEPC_IB_ADDR_LO:
            epc_set32(&b->ib[e].addr, false, val);
            return 0;
        case QEPC_IB_ADDR_HI:
            epc_set32(&b->ib[e].addr, true, val);
            return 0;
        case QEPC_IB_SIZE_LO:
            epc_set32(&b->ib[e].size, false, val);
            return 0;
        case QEPC_IB_SIZE_HI:
            epc_set32(&b->ib[e].size, true, val);
            return 0;
        }
    }
    return -1;
}

bool epc_bars_translate(const EpcBars *b, int n, uint64_t off, uint64_t *addr,
                        uint64_t *avail)
{
    const EpcBarMap *m = &b->bar[n];

    if (!(m->flags & QEPC_BAR_ENABLE) || off >= m->size) {
        return false;
    }
    if (!m->sub_count) {
        *addr = m->addr + off;
        *avail = m->size - off;
        return true;
    }
    for (unsigned e = m->sub_first; e < (unsigned)m->sub_first + m->sub_count;
         e++) {
        if (off < b->ib[e].size) {
            *addr = b->ib[e].addr + off;
            *avail = b->ib[e].size - off;
            return true;
        }
        off -= b->ib[e].size;
    }
    return false;
}
