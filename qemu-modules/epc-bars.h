/*
 * The endpoint function's BARs as qemu-epc maps them into guest 1: the
 * per-BAR descriptors the EPC driver stages and commits, the BAR kinds the
 * device's properties impose, and the inbound translation entries that
 * split a BAR into subranges.  Pure C: no QEMU dependency, unit-tested in
 * tests/unit.  Registers: qemu-epc-regs.h, docs/qemu-epc.md ("Function
 * BARs and inbound translation").
 *
 * A BAR's ADDR, SIZE and SUBMAP registers are staged; writing FLAGS checks
 * them and, if they are valid, makes them the BAR's mapping in one step, so
 * a host access sees the old mapping or the new one, never a mix.  The
 * entries a committed BAR uses cannot be rewritten while it uses them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_BARS_H
#define EPC_BARS_H

#include <stdbool.h>
#include <stdint.h>
#include "qemu-epc-regs.h"

typedef struct EpcBarMap {
    uint64_t addr;           /* guest-1 address (no subranges) */
    uint64_t size;
    uint32_t flags;          /* PCI BAR flags [3:0] | QEPC_BAR_ENABLE */
    uint8_t sub_first, sub_count;   /* subranges: inbound entries */
} EpcBarMap;

typedef struct EpcInbound {
    uint64_t addr, size;
} EpcInbound;

typedef struct EpcBars {
    EpcBarMap staged[QEPC_NUM_BARS];   /* what the registers hold */
    EpcBarMap bar[QEPC_NUM_BARS];      /* committed: what accesses use */
    uint32_t kind[QEPC_NUM_BARS];      /* QEPC_BAR_KIND register values */
    EpcInbound ib[QEPC_MAX_INBOUND];
    unsigned n_ib;                     /* entries the device offers */
} EpcBars;

/* Reset state: no BAR, no entry; kinds and n_ib are kept. */
void epc_bars_reset(EpcBars *b);

/*
 * Register accesses in the BAR blocks (except HOST_LO/HI), the BAR kinds
 * and the inbound table.  Reads: false if @off is none of those.
 */
bool epc_bars_read(const EpcBars *b, unsigned off, uint32_t *val);

/*
 * Writes: 0 when handled, -1 when @off is none of those registers, or a
 * QEPC_ERR_* code with *why set when the write is refused: a refused
 * commit leaves the BAR as it was (disabled, or its previous mapping).
 * *committed is set to the BAR number of a FLAGS write, else -1.
 */
int epc_bars_write(EpcBars *b, unsigned off, uint32_t val, const char **why,
                   int *committed);

/* Is BAR @n enabled (committed)? */
static inline bool epc_bars_enabled(const EpcBars *b, int n)
{
    return b->bar[n].flags & QEPC_BAR_ENABLE;
}

/*
 * The guest-1 address of offset @off of BAR @n and how many bytes from there
 * are contiguous in guest 1 (*avail, to the end of the subrange).  False if
 * the BAR is not enabled or @off is beyond it.
 */
bool epc_bars_translate(const EpcBars *b, int n, uint64_t off, uint64_t *addr,
                        uint64_t *avail);

#endif /* EPC_BARS_H */
