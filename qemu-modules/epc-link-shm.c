/*
 * qemu-epc link layer: shared RAM (FDS in both directions) and coherent
 * unmapping.
 *
 * This side offers the RAM of the device's DMA address space to the peer
 * (FDS GUEST_RAM when a region appears, RAM_GONE when it goes) and maps the
 * regions the peer offers as RAM regions of the device, which the devices
 * use for the shared-memory path (docs/protocol.md, "FDS").  That runs in
 * the main loop with the BQL held.  qep_after_unmap() waits, for a mapping
 * the device withdrew, until no vCPU can still reach it: its steps run in
 * each vCPU and in the RCU thread, its callback in the main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "epc-qemu-compat.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/rcu.h"
#include "hw/core/cpu.h"

#include "epc-link-int.h"
#include QEP_TRACE_H

static void link_send_fds(QepLink *l, const QepRamRegion *r, bool gone)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_fds))];
    struct qep_fds f = {
        .kind = gone ? QEP_FD_RAM_GONE : QEP_FD_GUEST_RAM,
        .nfds = gone ? 0 : 1,
        .gpa = r->gpa, .size = r->size, .offset = gone ? 0 : r->offset,
    };
    int fd = r->fd;

    if (qep_link_has(l, QEP_FEAT_SHMEM)) {
        trace_qep_link_fds(gone ? "RAM_GONE" : "GUEST_RAM", r->gpa,
                           r->size);
        link_write_fd(l, buf, qep_enc_fds(buf, &f), gone ? -1 : fd);
    }
}

void link_shm_offer_all(QepLink *l)
{
    for (int i = 0; i < l->n_own; i++) {
        link_send_fds(l, &l->own[i], false);
    }
}

/* RAM the device reaches through its DMA address space, shareable */
static void link_ram_add(MemoryListener *ml, MemoryRegionSection *sec)
{
    QepLink *l = container_of(ml, QepLink, listener);
    MemoryRegion *mr = sec->mr;
    QepRamRegion *r;

    if (!memory_region_is_ram(mr) || memory_region_is_ram_device(mr) ||
        mr->readonly || memory_region_get_fd(mr) < 0 ||
        !qemu_ram_is_shared(mr->ram_block)) {
        return;
    }
    /*
     * The peer's own RAM, seen through a direct mapping (a BAR that the
     * peer backs with its RAM): the peer has it already, and offering it
     * back would turn an access to that BAR into one to the peer's RAM,
     * past the loop check of the message path.
     */
    for (int i = 0; i < l->n_peer; i++) {
        if (l->peer[i].mr == mr) {
            return;
        }
    }
    if (l->n_own == QEP_LINK_MAX_REGIONS) {
        link_report(l, "more than %d RAM regions: the rest use messages",
                    QEP_LINK_MAX_REGIONS);
        return;
    }
    r = &l->own[l->n_own++];
    *r = (QepRamRegion) {
        .gpa = sec->offset_within_address_space,
        .size = int128_get64(sec->size),
        .fd = memory_region_get_fd(mr),
        .offset = sec->offset_within_region +
                  qep_ram_block_fd_offset(mr->ram_block),
    };
    link_send_fds(l, r, false);
    if (qep_link_has(l, QEP_FEAT_SHMEM) && l->ops->own_ram_changed) {
        l->ops->own_ram_changed(l->opaque);
    }
}

static void link_ram_del(MemoryListener *ml, MemoryRegionSection *sec)
{
    QepLink *l = container_of(ml, QepLink, listener);
    uint64_t gpa = sec->offset_within_address_space;

    for (int i = 0; i < l->n_own; i++) {
        if (l->own[i].gpa == gpa &&
            l->own[i].size == int128_get64(sec->size)) {
            link_send_fds(l, &l->own[i], true);
            l->own[i] = l->own[--l->n_own];
            if (qep_link_has(l, QEP_FEAT_SHMEM) && l->ops->own_ram_changed) {
                l->ops->own_ram_changed(l->opaque);
            }
            return;
        }
    }
}

bool qep_link_own_ram(QepLink *l, uint64_t gpa, uint64_t size)
{
    if (!qep_link_has(l, QEP_FEAT_SHMEM)) {
        return false;
    }
    for (int i = 0; i < l->n_own; i++) {
        const QepRamRegion *r = &l->own[i];

        if (gpa >= r->gpa && size <= r->size &&
            gpa - r->gpa <= r->size - size) {
            return true;
        }
    }
    return false;
}

void *qep_link_peer_ram(QepLink *l, uint64_t gpa, uint64_t size)
{
    for (int i = 0; i < l->n_peer; i++) {
        const QepRamRegion *r = &l->peer[i];

        if (gpa >= r->gpa && size <= r->size &&
            gpa - r->gpa <= r->size - size) {
            return (uint8_t *)r->host + (gpa - r->gpa);
        }
    }
    return NULL;
}

MemoryRegion *qep_link_peer_mr(QepLink *l, uint64_t gpa, uint64_t size,
                               uint64_t *offset)
{
    for (int i = 0; i < l->n_peer; i++) {
        const QepRamRegion *r = &l->peer[i];

        if (gpa >= r->gpa && size <= r->size &&
            gpa - r->gpa <= r->size - size) {
            *offset = gpa - r->gpa;
            return r->mr;
        }
    }
    return NULL;
}

typedef struct PeerUnmap {
    struct rcu_head rcu;
    MemoryRegion *mr;
} PeerUnmap;

/* RCU callbacks run with the BQL held */
static void peer_unmap(PeerUnmap *u)
{
    object_unparent(OBJECT(u->mr));
    g_free(u->mr);
    g_free(u);
}

/*
 * Forget the peer regions that overlap [gpa, gpa + size): the device drops
 * what uses them first, the mappings go once no reader can hold them.
 */
void link_shm_peer_drop(QepLink *l, uint64_t gpa, uint64_t size)
{
    QepRamRegion gone[QEP_LINK_MAX_REGIONS];
    int n = 0;

    for (int i = 0; i < l->n_peer;) {
        QepRamRegion *r = &l->peer[i];

        if (gpa < r->gpa + r->size && r->gpa < gpa + size) {
            gone[n++] = *r;
            *r = l->peer[--l->n_peer];
        } else {
            i++;
        }
    }
    if (!n) {
        return;
    }
    if (l->ops->peer_ram_changed) {
        l->ops->peer_ram_changed(l->opaque);
    }
    for (int i = 0; i < n; i++) {
        PeerUnmap *u = g_new0(PeerUnmap, 1);

        u->mr = gone[i].mr;
        call_rcu(u, peer_unmap, rcu);
    }
}

/*
 * A peer region (FDS GUEST_RAM): check it, map it as a RAM region of the
 * device's (QEMU maps the descriptor), offer it to the device.
 */
static void link_shm_peer_add(QepLink *l, const struct qep_fds *f, int fd)
{
    uint64_t page = qemu_real_host_page_size();
    Error *err = NULL;
    g_autofree char *name = NULL;
    MemoryRegion *mr;
    struct stat st;
    const char *why = NULL;

    if (l->n_peer == QEP_LINK_MAX_REGIONS) {
        why = "too many regions";
    } else if ((f->gpa | f->size | f->offset) & (page - 1) || !f->size) {
        why = "region not page-aligned";
    } else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
               f->offset + f->size < f->offset ||
               f->offset + f->size > (uint64_t)st.st_size) {
        why = "the descriptor is not a file that holds the region";
    }
    for (int i = 0; i < l->n_peer && !why; i++) {
        if (f->gpa < l->peer[i].gpa + l->peer[i].size &&
            l->peer[i].gpa < f->gpa + f->size) {
            why = "region overlaps one offered before";
        }
    }
    if (why) {
        l->n_proto_errors++;
        close(fd);
        qep_link_disconnect(l, why);
        return;
    }
#ifdef F_GET_SEALS
    if (!(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK)) {
        warn_report("%s: %s: the peer's RAM at 0x%" PRIx64 " is not sealed "
                    "against shrinking: a peer that truncates it can crash "
                    "this QEMU", l->name, link_where(l), f->gpa);
    }
#endif
    mr = g_new0(MemoryRegion, 1);
    name = g_strdup_printf("%s-peer-ram-%" PRIx64, l->name, f->gpa);
    /*
     * On success the RAM block owns fd (QEMU closes it when it frees the
     * block).  Newer QEMUs also return whether it worked: err says it for all.
     */
    memory_region_init_ram_from_fd(mr, l->owner, name, f->size, RAM_SHARED, fd,
                                   f->offset, &err);
    if (err) {
        close(fd);
        link_report(l, "cannot map the peer's RAM at 0x%" PRIx64 " (%s); "
                    "accesses to it use messages", f->gpa,
                    error_get_pretty(err));
        error_free(err);
        object_unparent(OBJECT(mr));
        g_free(mr);
        return;
    }
    l->peer[l->n_peer++] = (QepRamRegion) {
        .gpa = f->gpa, .size = f->size, .mr = mr,
        .host = memory_region_get_ram_ptr(mr), .fd = -1,
    };
    trace_qep_link_peer_ram(f->gpa, f->size);
    if (l->ops->peer_ram_changed) {
        l->ops->peer_ram_changed(l->opaque);
    }
}

/* FDS from the peer (the link is up) */
void link_handle_fds(QepLink *l, const struct qep_msg *m, int fd)
{
    if (!qep_link_has(l, QEP_FEAT_SHMEM)) {
        if (fd >= 0) {
            close(fd);
        }
        l->n_proto_errors++;
        qep_link_disconnect(l, "protocol error: FDS without the SHMEM "
                            "feature");
        return;
    }
    if (m->u.fds.kind == QEP_FD_GUEST_RAM) {
        link_shm_peer_add(l, &m->u.fds, fd);
    } else {
        link_shm_peer_drop(l, m->u.fds.gpa, m->u.fds.size);
    }
}

/* Offer the RAM of the device's DMA address space (SHMEM offered) */
void link_shm_start(QepLink *l)
{
    if ((l->features & QEP_FEAT_SHMEM) && l->dma_as) {
        l->listener = (MemoryListener) {
            .name = "qemu-epc-link",
            .region_add = link_ram_add,
            .region_del = link_ram_del,
        };
        memory_listener_register(&l->listener, l->dma_as);
        l->listening = true;
    }
}

void link_shm_stop(QepLink *l)
{
    if (l->listening) {
        memory_listener_unregister(&l->listener);
        l->listening = false;
    }
}

/* ---- unmapping, coherently ----------------------------------------------- */

typedef struct AfterUnmap {
    struct rcu_head rcu;
    void (*done)(void *opaque);
    void *opaque;
    int left;                /* vCPUs yet to take the new map, and this call */
    QEMUTimer *kick;         /* main loop: the vCPUs kicked until the end */
} AfterUnmap;

#define AFTER_UNMAP_KICK_MS 10

static void after_unmap_done(void *opaque)
{
    AfterUnmap *a = opaque;

    timer_free(a->kick);
    a->done(a->opaque);
    g_free(a);
}

/*
 * A TCG vCPU holds its RCU read lock for as long as it runs guest code;
 * it leaves that loop for interrupts and I/O, which a guest spinning with
 * interrupts off never has.  The grace period would wait for its next
 * exit: kick every vCPU until the grace period is over.
 */
static void after_unmap_kick(void *opaque)
{
    AfterUnmap *a = opaque;
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        qemu_cpu_kick(cpu);
    }
    timer_mod(a->kick, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              AFTER_UNMAP_KICK_MS);
}

/* RCU thread: every reader that could hold the old map is gone */
static void after_unmap_rcu(AfterUnmap *a)
{
    aio_bh_schedule_oneshot(qemu_get_aio_context(), after_unmap_done, a);
}

static void after_unmap_put(AfterUnmap *a)
{
    if (qatomic_fetch_dec(&a->left) == 1) {
        call_rcu(a, after_unmap_rcu, rcu);
    }
}

/*
 * Runs in each vCPU after the work the memory-map change queued for it
 * (under TCG: taking the new map, flushing its TLB), in order.
 */
static void after_unmap_cpu(CPUState *cpu, run_on_cpu_data data)
{
    after_unmap_put(data.host_ptr);
}

void qep_after_unmap(void (*done)(void *opaque), void *opaque)
{
    AfterUnmap *a = g_new0(AfterUnmap, 1);
    CPUState *cpu;

    a->done = done;
    a->opaque = opaque;
    a->left = 1;
    a->kick = timer_new_ms(QEMU_CLOCK_REALTIME, after_unmap_kick, a);
    timer_mod(a->kick, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              AFTER_UNMAP_KICK_MS);
    CPU_FOREACH(cpu) {
        qatomic_inc(&a->left);
        async_run_on_cpu(cpu, after_unmap_cpu, RUN_ON_CPU_HOST_PTR(a));
    }
    after_unmap_put(a);
}
