/*
 * qemu-epc link layer, shared by qemu-epc and epf-bridge.
 *
 * Threads (docs/protocol.md, "Threads and ordering"):
 * - A receive thread per connection reads and validates messages.  A
 *   completion goes straight to its waiter unless messages received before
 *   it still wait for the main loop (a completion never passes a posted
 *   request); everything else is queued for the main loop, which handles
 *   it with the BQL held (a bottom half).
 * - A vCPU thread that waits for a completion does so without the BQL, so
 *   the other vCPUs and the main loop run meanwhile.  The main loop itself
 *   (qtest, or a caller in a bottom half) waits handling the queue, so two
 *   sides waiting on each other both progress.  Every wait is bounded by
 *   timeout_ms.
 * - Connection set-up, HELLO, shared RAM and disconnection happen in the
 *   main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/cutils.h"
#include "qemu/rcu.h"
#include "qemu/sockets.h"
#include "exec/ramblock.h"
#include "system/system.h"
#include "migration/blocker.h"
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "epc-link.h"

#define RX_MAX        (16 * 1024 * 1024)  /* queued bytes before reading stops */
#define HELLO_WAIT_MS 2000
#define NO_STATUS     UINT16_MAX          /* a request failed without completion */

/* a received message waiting for the main loop */
struct QepRxMsg {
    QSIMPLEQ_ENTRY(QepRxMsg) next;
    int fd;                  /* passed with an FDS message, else -1 */
    uint32_t len;            /* 0: the connection ended, @buf says why */
    uint8_t buf[];
};

static void link_dispatch(QepLink *l);
static void link_shm_peer_drop(QepLink *l, uint64_t gpa, uint64_t size);
static void link_shm_offer_all(QepLink *l);

/* Report once per distinct message, so a retrying client does not flood. */
static void link_report(QepLink *l, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void link_report(QepLink *l, const char *fmt, ...)
{
    char buf[sizeof(l->last_error)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (strcmp(buf, l->last_error)) {
        error_report("%s: %s: %s", l->name, l->path, buf);
        pstrcpy(l->last_error, sizeof(l->last_error), buf);
    }
}

static int64_t now_ms(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS;
}

bool qep_link_up(QepLink *l)
{
    return qatomic_read(&l->up);
}

bool qep_link_shmem(QepLink *l)
{
    return qep_link_up(l) && (l->negotiated & QEP_FEAT_SHMEM);
}

/* ---- sending ---------------------------------------------------------------- */

/*
 * Write one whole message (and its descriptors); bounded by timeout_ms if
 * the peer does not drain its socket (its receive thread drains it into its
 * queue whatever its guest does, so a full socket means a peer in
 * trouble).  Called with the BQL held.  Returns 0, or -1 and the
 * connection is dropped.
 */
static int link_write(QepLink *l, const void *buf, size_t len, int *fds,
                      size_t nfds)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    int64_t deadline = now_ms() + l->timeout_ms;
    const char *why = NULL;

    qemu_mutex_lock(&l->send_lock);
    while (iov.iov_len && !why) {
        ssize_t n;

        if (l->fd < 0) {
            why = "not connected";
            break;
        }
        n = qio_channel_writev_full(QIO_CHANNEL(l->ioc), &iov, 1, fds, nfds,
                                    0, NULL);
        if (n > 0) {
            iov.iov_base = (uint8_t *)iov.iov_base + n;
            iov.iov_len -= n;
            fds = NULL;              /* the descriptors went with byte one */
            nfds = 0;
        } else if (n == QIO_CHANNEL_ERR_BLOCK) {
            struct pollfd pfd = { .fd = l->fd, .events = POLLOUT };
            int64_t left = deadline - now_ms();

            if (left <= 0) {
                why = "peer does not read its socket";
                break;
            }
            poll(&pfd, 1, left);
        } else {
            why = "send failed";
        }
    }
    qemu_mutex_unlock(&l->send_lock);
    if (why && l->fd >= 0) {
        l->n_timeouts++;
        qep_link_disconnect(l, why);
    }
    return why ? -1 : 0;
}

int qep_link_send(QepLink *l, void *msg, size_t len)
{
    if (!qep_link_up(l)) {
        return -1;
    }
    return link_write(l, msg, len, NULL, 0);
}

void qep_link_complete(QepLink *l, const struct qep_msg *req,
                       enum qep_cpl_status status, const void *data,
                       uint32_t len)
{
    uint8_t buf[QEP_MSG_MAX];
    size_t n;

    if (status != QEP_CPL_SC) {
        len = 0;
    }
    n = qep_enc_cpl(buf, req->hdr.tag, req->hdr.type, status, data, len);
    qep_link_send(l, buf, n);
}

/* ---- requests --------------------------------------------------------------- */

/* A free slot with a fresh tag, or NULL.  Lock held. */
static QepPending *link_alloc_pending(QepLink *l)
{
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        QepPending *p = &l->pend[i];

        if (p->tag) {
            continue;
        }
        do {
            p->tag = l->next_tag++;
            for (int j = 0; j < QEP_LINK_MAX_PENDING && p->tag; j++) {
                if (j != i && l->pend[j].tag == p->tag) {
                    p->tag = 0;      /* still outstanding: next one */
                }
            }
        } while (!p->tag);
        p->done = false;
        p->status = NO_STATUS;
        p->cb = NULL;
        return p;
    }
    return NULL;
}

static QepPending *link_prepare(QepLink *l, void *msg, size_t msg_len,
                                void *data, uint32_t len)
{
    struct qep_hdr h;
    QepPending *p;

    qep_hdr_decode(msg, msg_len, &h);
    qemu_mutex_lock(&l->lock);
    p = l->up && !l->stalled ? link_alloc_pending(l) : NULL;
    if (p) {
        qep_set_tag(msg, p->tag);
        p->req_type = h.type;
        p->data = data;
        p->len = len;
        p->deadline_ms = now_ms() + l->timeout_ms;
    }
    qemu_mutex_unlock(&l->lock);
    return p;
}

static void link_timed_out(QepLink *l, QepPending *p)
{
    l->n_timeouts++;
    l->stalled = true;
    link_report(l, "peer did not complete %s (tag %u) within %u ms; "
                "reads return all-ones until it answers",
                qep_type_name(p->req_type), p->tag, l->timeout_ms);
}

int qep_link_request(QepLink *l, void *msg, size_t msg_len,
                     void *data, uint32_t len)
{
    bool main_thread = qemu_in_main_thread();
    bool drop_bql = bql_locked() && !main_thread;
    QepPending *p = link_prepare(l, msg, msg_len, data, len);
    int ret;

    if (!p) {
        return -1;
    }
    if (link_write(l, msg, msg_len, NULL, 0) == 0) {
        if (drop_bql) {
            bql_unlock();
        }
        qemu_mutex_lock(&l->lock);
        while (!p->done) {
            int64_t left = p->deadline_ms - now_ms();

            if (left <= 0) {
                break;
            }
            if (main_thread && !QSIMPLEQ_EMPTY(&l->rxq)) {
                /* nobody else handles the peer's messages meanwhile */
                qemu_mutex_unlock(&l->lock);
                link_dispatch(l);
                qemu_mutex_lock(&l->lock);
                continue;
            }
            qemu_cond_timedwait(&l->cond, &l->lock, MIN(left, 100));
        }
        if (!p->done && l->fd >= 0) {
            link_timed_out(l, p);
        }
        ret = p->done && p->status != NO_STATUS ? p->status : -1;
        p->tag = 0;
        qemu_mutex_unlock(&l->lock);
        if (drop_bql) {
            bql_lock();
        }
        return ret;
    }
    qemu_mutex_lock(&l->lock);
    p->tag = 0;
    qemu_mutex_unlock(&l->lock);
    return -1;
}

int qep_link_request_async(QepLink *l, void *msg, size_t msg_len,
                           void *data, uint32_t len, QepLinkDone *done,
                           void *opaque)
{
    QepPending *p = link_prepare(l, msg, msg_len, data, len);

    if (!p) {
        return -1;
    }
    p->cb = done;
    p->cb_opaque = opaque;
    if (link_write(l, msg, msg_len, NULL, 0) < 0) {
        qemu_mutex_lock(&l->lock);
        p->tag = 0;
        qemu_mutex_unlock(&l->lock);
        return -1;
    }
    if (!timer_pending(l->timer) ||
        timer_expire_time_ns(l->timer) / SCALE_MS > p->deadline_ms) {
        timer_mod(l->timer, p->deadline_ms);
    }
    return 0;
}

static QepPending *link_find_pending(QepLink *l, uint16_t tag)
{
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        if (l->pend[i].tag == tag && !l->pend[i].done) {
            return &l->pend[i];
        }
    }
    return NULL;
}

/*
 * Complete the request @m answers.  Lock held; an asynchronous request's
 * callback is returned in @cb to be called without it.
 */
static void link_complete_locked(QepLink *l, const struct qep_msg *m,
                                 QepPending *cb)
{
    QepPending *p = link_find_pending(l, m->hdr.tag);

    if (p) {
        if (m->u.cpl.req_type != p->req_type ||
            (m->data_len && m->data_len != p->len)) {
            link_report(l, "completion for tag %u does not match its %s "
                        "request; treated as completer abort",
                        m->hdr.tag, qep_type_name(p->req_type));
            p->status = QEP_CPL_CA;
        } else {
            p->status = m->u.cpl.status;
            if (m->data_len) {
                memcpy(p->data, m->data, m->data_len);
            }
        }
        p->done = true;
        if (p->cb) {
            *cb = *p;
            p->tag = 0;              /* the slot is the link's: free it */
        }
        qemu_cond_broadcast(&l->cond);
        return;
    }
    /* the answer to a request we gave up waiting for */
    link_report(l, "dropping completion with unknown tag %u", m->hdr.tag);
}

/* Fail every outstanding request; asynchronous ones are returned. Lock held. */
static int link_fail_pending(QepLink *l, QepPending *cbs, bool expired_only)
{
    int n = 0;
    int64_t now = now_ms();

    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        QepPending *p = &l->pend[i];

        if (!p->tag || p->done || (expired_only && p->deadline_ms > now) ||
            (expired_only && !p->cb)) {
            continue;
        }
        if (expired_only) {
            link_timed_out(l, p);
        }
        p->done = true;
        p->status = NO_STATUS;
        if (p->cb) {
            cbs[n++] = *p;
            p->tag = 0;
        }
    }
    qemu_cond_broadcast(&l->cond);
    return n;
}

static void link_run_callbacks(QepPending *cbs, int n)
{
    for (int i = 0; i < n; i++) {
        cbs[i].cb(cbs[i].cb_opaque,
                  cbs[i].status == NO_STATUS ? -1 : cbs[i].status);
    }
}

/* ---- receiving (the receive thread) ---------------------------------------- */

/* Queue a message, or (@len 0) the end of the connection with @buf its
 * reason, for the main loop.  Lock held. */
static void rx_queue(QepLink *l, const void *buf, uint32_t len, int fd)
{
    size_t size = len ? len : strlen(buf) + 1;
    QepRxMsg *q = g_malloc(sizeof(*q) + size);

    q->fd = fd;
    q->len = len;
    memcpy(q->buf, buf, size);
    QSIMPLEQ_INSERT_TAIL(&l->rxq, q, next);
    l->rxq_bytes += sizeof(*q) + len;
    qemu_cond_broadcast(&l->cond);
}

/* Read exactly @len bytes; fds that come with them are returned. */
static int rx_read(QepLink *l, int sock, uint8_t *buf, size_t len, int **fds,
                   size_t *nfds, const char **why)
{
    while (len) {
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        int *f = NULL;
        size_t nf = 0;
        ssize_t n = qio_channel_readv_full(QIO_CHANNEL(l->ioc), &iov, 1,
                                           fds ? &f : NULL, fds ? &nf : NULL,
                                           0, NULL);

        if (nf) {
            if (*nfds || nf > 1) {
                *why = "protocol error: more than one descriptor";
                for (size_t i = 0; i < nf; i++) {
                    close(f[i]);
                }
                g_free(f);
                return -1;
            }
            *fds = f;
            *nfds = nf;
        } else {
            g_free(f);
        }
        if (n > 0) {
            buf += n;
            len -= n;
        } else if (n == QIO_CHANNEL_ERR_BLOCK) {
            /* a shutdown by qep_link_disconnect() ends this wait */
            struct pollfd pfd = { .fd = sock, .events = POLLIN };

            poll(&pfd, 1, -1);
        } else {
            *why = n == 0 ? "peer closed the connection" : "receive failed";
            return -1;
        }
    }
    return 0;
}

static void *link_rx_thread(void *opaque)
{
    QepLink *l = opaque;
    uint8_t buf[QEP_MSG_MAX];
    char why_buf[160];
    const char *why = NULL;
    int sock;

    qemu_mutex_lock(&l->lock);
    sock = l->fd;
    qemu_mutex_unlock(&l->lock);

    while (!why) {
        struct qep_hdr h;
        struct qep_msg m;
        int *fds = NULL;
        size_t nfds = 0;
        int fd = -1, n;

        if (rx_read(l, sock, buf, sizeof(h), &fds, &nfds, &why) == 0) {
            n = qep_hdr_decode(buf, sizeof(h), &h);
            if (n == 0 && rx_read(l, sock, buf + sizeof(h), h.size, NULL,
                                  NULL, &why) < 0) {
                n = 1;
            }
        } else {
            n = 1;
        }
        if (nfds) {
            fd = fds[0];
            g_free(fds);
        }
        if (n == 0) {
            n = qep_msg_decode(buf, sizeof(h) + h.size, &m);
        }
        if (n < 0) {
            snprintf(why_buf, sizeof(why_buf), "protocol error: %s "
                     "(type %u, size %u)", qep_strerror(n), h.type, h.size);
            why = why_buf;
        } else if (n > 0 && !why && (fd >= 0) != (m.hdr.type == QEP_MSG_FDS &&
                                    m.u.fds.kind == QEP_FD_GUEST_RAM)) {
            why = fd >= 0 ? "protocol error: a descriptor with a message "
                            "that carries none"
                          : "protocol error: FDS GUEST_RAM without its "
                            "descriptor";
        }
        if (why) {
            if (fd >= 0) {
                close(fd);
            }
            break;
        }
        qemu_mutex_lock(&l->lock);
        l->stalled = false;
        if (m.hdr.type == QEP_MSG_COMPLETION && QSIMPLEQ_EMPTY(&l->rxq) &&
            link_find_pending(l, m.hdr.tag) &&
            !link_find_pending(l, m.hdr.tag)->cb) {
            QepPending unused = { 0 };

            /* nothing received before it waits: straight to its waiter */
            link_complete_locked(l, &m, &unused);
        } else {
            rx_queue(l, buf, n, fd);
        }
        while (l->rxq_bytes > RX_MAX && l->fd >= 0) {
            /* the main loop is behind: stop reading until it catches up */
            qemu_cond_wait(&l->cond, &l->lock);
        }
        qemu_mutex_unlock(&l->lock);
        qemu_bh_schedule(l->rx_bh);
    }
    qemu_mutex_lock(&l->lock);
    rx_queue(l, why, 0, -1);
    qemu_mutex_unlock(&l->lock);
    qemu_bh_schedule(l->rx_bh);
    return NULL;
}

/* ---- the main loop's side of receiving ------------------------------------- */

static void link_hello(QepLink *l, const struct qep_msg *m)
{
    char why[160];

    if (l->up) {
        qep_link_disconnect(l, "protocol error: second HELLO");
        return;
    }
    if (qep_hello_check(&m->u.hello, l->role, why, sizeof(why)) < 0) {
        l->n_proto_errors++;
        qep_link_disconnect(l, why);
        return;
    }
    timer_del(l->timer);
    qemu_mutex_lock(&l->lock);
    l->negotiated = l->features & m->u.hello.features;
    l->stalled = false;
    qatomic_set(&l->up, true);
    qemu_mutex_unlock(&l->lock);
    l->last_error[0] = 0;
    info_report("%s: %s: connected, %s%s", l->name, l->path, why,
                l->negotiated & QEP_FEAT_SHMEM ? ", shared memory on" : "");
    if (l->negotiated & QEP_FEAT_SHMEM) {
        link_shm_offer_all(l);
    }
    if (l->ops->connected) {
        l->ops->connected(l->opaque);
    }
}

/* A peer region (FDS GUEST_RAM): check it, map it, offer it to the device. */
static void link_shm_peer_add(QepLink *l, const struct qep_fds *f, int fd)
{
    uint64_t page = qemu_real_host_page_size();
    struct stat st;
    const char *why = NULL;
    void *host;

    if (l->n_peer == QEP_LINK_MAX_REGIONS) {
        why = "too many regions";
    } else if ((f->gpa | f->size | f->offset) & (page - 1)) {
        why = "region not page-aligned";
    } else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
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
                    "this QEMU", l->name, l->path, f->gpa);
    }
#endif
    host = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                f->offset);
    close(fd);
    if (host == MAP_FAILED) {
        link_report(l, "cannot map the peer's RAM at 0x%" PRIx64 " (%s); "
                    "accesses to it use messages", f->gpa, strerror(errno));
        return;
    }
    l->peer[l->n_peer++] = (QepRamRegion) {
        .gpa = f->gpa, .size = f->size, .host = host, .fd = -1,
    };
    if (l->ops->peer_ram_changed) {
        l->ops->peer_ram_changed(l->opaque);
    }
}

static void link_handle_fds(QepLink *l, const struct qep_msg *m, int fd)
{
    if (!(l->negotiated & QEP_FEAT_SHMEM)) {
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

/* Handle the messages queued for the main loop, in order.  BQL held. */
static void link_dispatch(QepLink *l)
{
    for (;;) {
        QepRxMsg *q;
        struct qep_msg m;
        QepPending cb = { 0 };

        qemu_mutex_lock(&l->lock);
        q = QSIMPLEQ_FIRST(&l->rxq);
        if (q) {
            QSIMPLEQ_REMOVE_HEAD(&l->rxq, next);
            l->rxq_bytes -= sizeof(*q) + q->len;
            qemu_cond_broadcast(&l->cond);
        }
        qemu_mutex_unlock(&l->lock);
        if (!q) {
            return;
        }
        if (!q->len) {
            qep_link_disconnect(l, (const char *)q->buf);
            g_free(q);
            return;
        }
        qep_msg_decode(q->buf, q->len, &m);
        if (l->fd < 0) {
            /* left over from a connection that is gone */
        } else if (m.hdr.type == QEP_MSG_HELLO) {
            link_hello(l, &m);
        } else if (!l->up) {
            l->n_proto_errors++;
            qep_link_disconnect(l, "protocol error: message before HELLO");
        } else if (m.hdr.type == QEP_MSG_COMPLETION) {
            qemu_mutex_lock(&l->lock);
            link_complete_locked(l, &m, &cb);
            qemu_mutex_unlock(&l->lock);
            if (cb.cb) {
                link_run_callbacks(&cb, 1);
            }
        } else if (m.hdr.type == QEP_MSG_FDS) {
            link_handle_fds(l, &m, q->fd);
            q->fd = -1;
        } else {
            l->ops->handle(l->opaque, &m);
        }
        if (q->fd >= 0) {
            close(q->fd);
        }
        g_free(q);
    }
}

static void link_rx_bh(void *opaque)
{
    link_dispatch(opaque);
}

/* ---- shared RAM --------------------------------------------------------------- */

static void link_send_fds(QepLink *l, const QepRamRegion *r, bool gone)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_fds))];
    struct qep_fds f = {
        .kind = gone ? QEP_FD_RAM_GONE : QEP_FD_GUEST_RAM,
        .nfds = gone ? 0 : 1,
        .gpa = r->gpa, .size = r->size, .offset = gone ? 0 : r->offset,
    };
    int fd = r->fd;

    if (qep_link_shmem(l)) {
        link_write(l, buf, qep_enc_fds(buf, &f), gone ? NULL : &fd,
                   gone ? 0 : 1);
    }
}

static void link_shm_offer_all(QepLink *l)
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
        .offset = sec->offset_within_region + mr->ram_block->fd_offset,
    };
    link_send_fds(l, r, false);
    if (qep_link_shmem(l) && l->ops->own_ram_changed) {
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
            if (qep_link_shmem(l) && l->ops->own_ram_changed) {
                l->ops->own_ram_changed(l->opaque);
            }
            return;
        }
    }
}

bool qep_link_own_ram(QepLink *l, uint64_t gpa, uint64_t size)
{
    if (!qep_link_shmem(l)) {
        return false;
    }
    for (int i = 0; i < l->n_own; i++) {
        const QepRamRegion *r = &l->own[i];

        if (gpa >= r->gpa && size <= r->size && gpa - r->gpa <= r->size - size) {
            return true;
        }
    }
    return false;
}

void *qep_link_peer_ram(QepLink *l, uint64_t gpa, uint64_t size)
{
    for (int i = 0; i < l->n_peer; i++) {
        const QepRamRegion *r = &l->peer[i];

        if (gpa >= r->gpa && size <= r->size && gpa - r->gpa <= r->size - size) {
            return (uint8_t *)r->host + (gpa - r->gpa);
        }
    }
    return NULL;
}

typedef struct PeerUnmap {
    struct rcu_head rcu;
    void *host;
    size_t size;
} PeerUnmap;

static void peer_unmap(PeerUnmap *u)
{
    munmap(u->host, u->size);
    g_free(u);
}

/*
 * Forget the peer regions that overlap [gpa, gpa + size): the device drops
 * what uses them first, the mappings go once no reader can hold them.
 */
static void link_shm_peer_drop(QepLink *l, uint64_t gpa, uint64_t size)
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

        u->host = gone[i].host;
        u->size = gone[i].size;
        call_rcu(u, peer_unmap, rcu);
    }
}

/* ---- connection life cycle ---------------------------------------------------- */

static void link_arm_timer(QepLink *l, uint32_t ms)
{
    timer_mod(l->timer, now_ms() + ms);
}

void qep_link_disconnect(QepLink *l, const char *why)
{
    QepPending cbs[QEP_LINK_MAX_PENDING];
    bool was_up = l->up;
    QepRxMsg *q;
    int n;

    if (l->fd < 0) {
        return;
    }
    if (why) {
        link_report(l, "disconnecting: %s", why);
    }
    qemu_mutex_lock(&l->lock);
    qatomic_set(&l->up, false);
    l->stalled = false;
    /* wakes the receive thread, whether reading or held back */
    qio_channel_shutdown(QIO_CHANNEL(l->ioc), QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
    n = link_fail_pending(l, cbs, false);
    qemu_mutex_unlock(&l->lock);
    qemu_mutex_lock(&l->send_lock);
    qemu_mutex_lock(&l->lock);
    l->fd = -1;
    qemu_mutex_unlock(&l->lock);
    qemu_mutex_unlock(&l->send_lock);
    if (l->rx_running) {
        /* it may wait for queue space or for the BQL-free lock: let it end */
        qemu_mutex_lock(&l->lock);
        qemu_cond_broadcast(&l->cond);
        qemu_mutex_unlock(&l->lock);
        qemu_thread_join(&l->rx_thread);
        l->rx_running = false;
    }
    object_unref(OBJECT(l->ioc));
    l->ioc = NULL;
    qemu_mutex_lock(&l->lock);
    while ((q = QSIMPLEQ_FIRST(&l->rxq))) {
        QSIMPLEQ_REMOVE_HEAD(&l->rxq, next);
        if (q->fd >= 0) {
            close(q->fd);
        }
        g_free(q);
    }
    l->rxq_bytes = 0;
    qemu_mutex_unlock(&l->lock);
    timer_del(l->timer);
    link_run_callbacks(cbs, n);
    link_shm_peer_drop(l, 0, UINT64_MAX);
    if (!l->server) {
        link_arm_timer(l, l->reconnect_ms);
    }
    if (was_up && l->ops->disconnected) {
        l->ops->disconnected(l->opaque);
    }
}

static void link_connected_fd(QepLink *l, int fd)
{
    uint8_t hello[QEP_MSG_BUF(sizeof(struct qep_hello))];
    QIOChannelSocket *ioc = qio_channel_socket_new_fd(fd, NULL);

    if (!ioc) {
        close(fd);
        return;
    }
    qio_channel_set_blocking(QIO_CHANNEL(ioc), false, NULL);
    qemu_mutex_lock(&l->send_lock);
    qemu_mutex_lock(&l->lock);
    l->ioc = ioc;
    l->fd = fd;
    l->up = false;
    l->stalled = false;
    l->negotiated = 0;
    qemu_mutex_unlock(&l->lock);
    qemu_mutex_unlock(&l->send_lock);
    l->rx_running = true;
    qemu_thread_create(&l->rx_thread, "qep-link-rx", link_rx_thread, l,
                       QEMU_THREAD_JOINABLE);
    if (link_write(l, hello, qep_enc_hello(hello, l->role, l->features),
                   NULL, 0) == 0) {
        link_arm_timer(l, HELLO_WAIT_MS);   /* the peer must answer */
    }
}

static void link_try_connect(QepLink *l)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    pstrcpy(sun.sun_path, sizeof(sun.sun_path), l->path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        link_arm_timer(l, l->reconnect_ms);
        return;
    }
    l->last_error[0] = 0;
    link_connected_fd(l, fd);
}

static void link_accept(void *opaque)
{
    QepLink *l = opaque;
    int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    if (l->fd >= 0) {
        /* one peer at a time; the connected one keeps the link */
        error_report("%s: %s: refusing a second peer: a peer is connected",
                     l->name, l->path);
        close(fd);
        return;
    }
    l->last_error[0] = 0;
    link_connected_fd(l, fd);
}

/* HELLO deadline, reconnection, deadlines of asynchronous requests */
static void link_timer(void *opaque)
{
    QepLink *l = opaque;
    QepPending cbs[QEP_LINK_MAX_PENDING];
    int64_t next = INT64_MAX;
    int n;

    if (l->fd >= 0 && !l->up) {
        qep_link_disconnect(l, "peer sent no HELLO in time");
        return;
    }
    if (l->fd < 0) {
        if (!l->server) {
            link_try_connect(l);
        }
        return;
    }
    qemu_mutex_lock(&l->lock);
    n = link_fail_pending(l, cbs, true);
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        if (l->pend[i].tag && l->pend[i].cb) {
            next = MIN(next, l->pend[i].deadline_ms);
        }
    }
    qemu_mutex_unlock(&l->lock);
    if (next != INT64_MAX) {
        timer_mod(l->timer, next);
    }
    link_run_callbacks(cbs, n);
}

/* QEMU exits without unrealizing devices: remove the socket file here. */
static void link_exit(Notifier *n, void *data)
{
    QepLink *l = container_of(n, QepLink, exit_notifier);
    struct stat st;

    if (l->bound && lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(l->path);
    }
    l->bound = false;
}

/* Bind the listening socket; only a stale socket may be replaced. */
static int link_listen(QepLink *l, Error **errp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(l->path) >= sizeof(sun.sun_path)) {
        error_setg(errp, "socket path '%s' is too long", l->path);
        return -1;
    }
    pstrcpy(sun.sun_path, sizeof(sun.sun_path), l->path);
    if (lstat(l->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error_setg(errp, "refusing to replace '%s': not a socket", l->path);
            return -1;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            close(fd);
            error_setg(errp, "socket '%s' is in use by another process",
                       l->path);
            return -1;
        }
        if (fd >= 0) {
            close(fd);
        }
        unlink(l->path);                      /* stale */
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        /*
         * Owner-only from the start: 0600, or stricter if the user's umask
         * says so.  Realize runs before the guest does, so no other thread
         * creates files while the umask is narrowed.
         */
        mode_t old = umask(0177);
        int r;

        umask(old | 0177);
        r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
        umask(old);
        if (r < 0) {
            error_setg_errno(errp, errno, "cannot listen on '%s'", l->path);
            close(fd);
            return -1;
        }
    }
    if (fd < 0 || listen(fd, 2) < 0) {
        error_setg_errno(errp, errno, "cannot listen on '%s'", l->path);
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    qemu_socket_set_nonblock(fd);
    l->listen_fd = fd;
    l->bound = true;
    l->exit_notifier.notify = link_exit;
    qemu_add_exit_notifier(&l->exit_notifier);
    qemu_set_fd_handler(fd, link_accept, NULL, l);
    return 0;
}

int qep_link_start(QepLink *l, Error **errp)
{
    if (!l->path || !*l->path) {
        error_setg(errp, "property 'socket' is required");
        return -1;
    }
    error_setg(&l->migration_blocker, "%s: the link on socket %s cannot be "
               "migrated (the peer QEMU and the link state stay behind)",
               l->name, l->path);
    if (migrate_add_blocker(&l->migration_blocker, errp) < 0) {
        return -1;
    }
    l->fd = -1;
    l->listen_fd = -1;
    l->next_tag = 1;
    qemu_mutex_init(&l->lock);
    qemu_mutex_init(&l->send_lock);
    qemu_cond_init(&l->cond);
    QSIMPLEQ_INIT(&l->rxq);
    l->timer = timer_new_ms(QEMU_CLOCK_REALTIME, link_timer, l);
    l->rx_bh = qemu_bh_new(link_rx_bh, l);
    if ((l->features & QEP_FEAT_SHMEM) && l->dma_as) {
        l->listener = (MemoryListener) {
            .name = "qemu-epc-link",
            .region_add = link_ram_add,
            .region_del = link_ram_del,
        };
        memory_listener_register(&l->listener, l->dma_as);
        l->listening = true;
    }
    if (l->server && link_listen(l, errp) < 0) {
        qep_link_stop(l);
        return -1;
    }
    if (!l->server) {
        link_try_connect(l);
    }
    return 0;
}

void qep_link_stop(QepLink *l)
{
    migrate_del_blocker(&l->migration_blocker);
    if (!l->timer) {
        return;
    }
    qep_link_disconnect(l, NULL);
    if (l->listening) {
        memory_listener_unregister(&l->listener);
        l->listening = false;
    }
    timer_free(l->timer);
    l->timer = NULL;
    qemu_bh_delete(l->rx_bh);
    l->rx_bh = NULL;
    if (l->listen_fd >= 0) {
        qemu_set_fd_handler(l->listen_fd, NULL, NULL, NULL);
        close(l->listen_fd);
        l->listen_fd = -1;
    }
    if (l->exit_notifier.notify) {
        qemu_remove_exit_notifier(&l->exit_notifier);
        l->exit_notifier.notify = NULL;
    }
    link_exit(&l->exit_notifier, NULL);
    qemu_cond_destroy(&l->cond);
    qemu_mutex_destroy(&l->send_lock);
    qemu_mutex_destroy(&l->lock);
}
