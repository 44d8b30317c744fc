/*
 * Direct mappings of the peer's shared RAM into a device's region: an
 * outbound window of qemu-epc, a BAR piece of epf-bridge.  Accesses there
 * are plain memory accesses of the other guest's RAM, no messages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_DIRECT_H
#define EPC_DIRECT_H

/* include "qemu/osdep.h" first */
#include "epc-qemu-compat.h"

typedef struct QepDirect {
    MemoryRegion *mr;        /* NULL: not mapped */
    uint64_t offset, size;   /* in the parent region */
    MemoryRegion *ram;       /* what it aliases, from ram_offset on */
    uint64_t ram_offset;
} QepDirect;

/*
 * Map @size bytes of @ram (the peer's RAM region, epc-link-shm.c) from
 * @ram_offset over @parent at @offset (above the parent's own I/O
 * callbacks), as an alias, replacing what @d mapped before; nothing
 * changes if it maps exactly that already.
 */
void qep_direct_set(QepDirect *d, Object *owner, MemoryRegion *parent,
                    const char *name, uint64_t offset, uint64_t size,
                    MemoryRegion *ram, uint64_t ram_offset);

/*
 * Remove the mapping; returns whether there was one.  New accesses through
 * @parent go to its I/O callbacks again; a vCPU that took the old memory
 * map may still use it until qep_after_unmap() says otherwise, and the
 * alias itself goes after an RCU grace period.
 */
bool qep_direct_clear(QepDirect *d, MemoryRegion *parent);

#endif /* EPC_DIRECT_H */
