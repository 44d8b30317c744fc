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
    void *host;
} QepDirect;

/*
 * Map @size bytes at @host over @parent at @offset (above the parent's own
 * I/O callbacks), replacing what @d mapped before; nothing changes if it
 * maps exactly that already.
 */
void qep_direct_set(QepDirect *d, Object *owner, MemoryRegion *parent,
                    const char *name, uint64_t offset, uint64_t size,
                    void *host);

/*
 * Remove the mapping.  Once this returns, accesses through @parent go to
 * its I/O callbacks again; the memory behind @host must stay mapped until
 * an RCU grace period has passed (epc-link.c unmaps peer RAM that way).
 */
void qep_direct_clear(QepDirect *d, MemoryRegion *parent);

#endif /* EPC_DIRECT_H */
