/*
 * Direct mappings of the peer's shared RAM (see epc-direct.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/rcu.h"
#include "qom/object.h"

#include "epc-direct.h"

void qep_direct_set(QepDirect *d, Object *owner, MemoryRegion *parent,
                    const char *name, uint64_t offset, uint64_t size,
                    MemoryRegion *ram, uint64_t ram_offset)
{
    if (d->mr && d->offset == offset && d->size == size && d->ram == ram &&
        d->ram_offset == ram_offset) {
        return;
    }
    memory_region_transaction_begin();
    qep_direct_clear(d, parent);
    d->mr = g_new0(MemoryRegion, 1);
    memory_region_init_alias(d->mr, owner, name, ram, ram_offset, size);
    memory_region_add_subregion_overlap(parent, offset, d->mr, 1);
    memory_region_transaction_commit();
    d->offset = offset;
    d->size = size;
    d->ram = ram;
    d->ram_offset = ram_offset;
}

typedef struct DirectFree {
    struct rcu_head rcu;
    MemoryRegion *mr;
} DirectFree;

/* RCU callbacks run with the BQL held */
static void direct_free(DirectFree *f)
{
    object_unparent(OBJECT(f->mr));
    g_free(f->mr);
    g_free(f);
}

bool qep_direct_clear(QepDirect *d, MemoryRegion *parent)
{
    DirectFree *f;

    if (!d->mr) {
        return false;
    }
    memory_region_del_subregion(parent, d->mr);
    /*
     * Flat views still in use may point at the region: it goes after them
     * (their reclamation was queued first).
     */
    f = g_new0(DirectFree, 1);
    f->mr = d->mr;
    call_rcu(f, direct_free, rcu);
    d->mr = NULL;
    d->ram = NULL;
    return true;
}
