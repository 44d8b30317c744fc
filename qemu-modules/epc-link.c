/*
 * qemu-epc link layer, shared by qemu-epc and epf-bridge.
 *
 * Threads (docs/protocol.md, "Threads and ordering"), per connection:
 * - a receive thread reads and checks each message; it hands a completion
 *   straight to the thread that waits for it, and handles everything else
 *   itself, in arrival order, with the BQL taken for the time of the
 *   handler.  Messages are handled in the order they came, so a completion
 *   never passes a posted request that came before it;
 * - a send thread writes what the socket did not take at once, so that no
 *   sender ever waits for the peer (a sender writes directly while nothing
 *   is queued);
 * - a thread that waits for a completion (a vCPU, or the main loop under
 *   qtest) does so without the BQL: the other vCPUs, the main loop and the
 *   receive thread run meanwhile, so two sides that wait on each other
 *   both progress.  Every wait is bounded by timeout_ms.
 * The threads hold references to their connection (QepConn), not to the
 * device: once the connection is dead (set with the BQL held) they touch
 * nothing else and end.  Connection set-up, HELLO deadlines, shared RAM and
 * disconnection take the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "epc-qemu-compat.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/cutils.h"
#include "qemu/rcu.h"
#include "qemu/sockets.h"
#include <poll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "epc-link.h"

#define TX_MAX        (64 * 1024 * 1024)  /* queued bytes: a peer in trouble */
/*
 * Queued bytes (beyond what the socket holds) a posted write may find
 * before its sender waits: the flow-control credit of the link, which
 * bounds how long a completion queued behind posted writes takes.
 */
#define TX_CREDIT     (64 * 1024)
#define HELLO_WAIT_MS 2000
/*
 * An asynchronous request (the DMA engine's) stalls no vCPU: it may wait
 * this many times timeout_ms, so a busy peer does not fail transfers.
 */
#define ASYNC_TIMEOUT_FACTOR 10
/* a request that failed without a completion */
#define NO_STATUS     UINT16_MAX
/* how long a waiter looks for its completion before it sleeps */
#define SPIN_NS       (150 * 1000)

/* bytes the socket did not take yet */
typedef struct QepTxMsg {
    QSIMPLEQ_ENTRY(QepTxMsg) next;
    int fd;                  /* to pass with the first byte, or -1 */
    size_t len, done;
    uint8_t buf[];
} QepTxMsg;

struct QepConn {
    int refs;                /* atomic: the link, its threads, waiters */
    QepLink *link;           /* read only with the BQL, while !dead */
    QIOChannelSocket *ioc;
    int fd;
    uint32_t timeout_ms;
    QemuThread rx_thread, tx_thread;

    QemuMutex lock;          /* everything below */
    QemuCond cond;           /* a completion arrived, or the end */
    QemuCond tx_cond;        /* something to send, or the end */
    QemuCond tx_room;        /* the queue fell to TX_CREDIT, or the end */
    bool dead;               /* disconnected: threads end, waiters fail */
    bool up;                 /* HELLO exchanged */
    bool stalled;            /* a completion timed out; peer silent since */
    uint64_t negotiated;
    uint16_t next_tag;
    QepPending pend[QEP_LINK_MAX_PENDING];
    QSIMPLEQ_HEAD(, QepTxMsg) txq;
    size_t txq_bytes;
};

static void link_shm_peer_drop(QepLink *l, uint64_t gpa, uint64_t size);
static void link_shm_offer_all(QepLink *l);
static int link_write(QepLink *l, const void *buf, size_t len, int *fds,
                      size_t nfds);

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

/* ---- connections --------------------------------------------------------- */

static QepConn *conn_ref(QepConn *c)
{
    qatomic_inc(&c->refs);
    return c;
}

static void conn_unref(QepConn *c)
{
    QepTxMsg *t;

    if (qatomic_fetch_dec(&c->refs) != 1) {
        return;
    }
    while ((t = QSIMPLEQ_FIRST(&c->txq))) {
        QSIMPLEQ_REMOVE_HEAD(&c->txq, next);
        if (t->fd >= 0) {
            close(t->fd);
        }
        g_free(t);
    }
    object_unref(OBJECT(c->ioc));      /* closes the socket */
    qemu_cond_destroy(&c->tx_room);
    qemu_cond_destroy(&c->tx_cond);
    qemu_cond_destroy(&c->cond);
    qemu_mutex_destroy(&c->lock);
    g_free(c);
}

bool qep_link_up(QepLink *l)
{
    return l->conn && qatomic_read(&l->conn->up);
}

bool qep_link_has(QepLink *l, uint64_t feature)
{
    return qep_link_up(l) && (l->conn->negotiated & feature) == feature;
}

/* ---- sending ------------------------------------------------------------- */

/*
 * Send one whole message and its descriptors: directly while nothing is
 * queued, else (or for what the socket does not take) through the send
 * thread.  Never waits.  BQL held.  Returns 0, or -1 when not connected.
 */
static int link_write(QepLink *l, const void *buf, size_t len, int *fds,
                      size_t nfds)
{
    QepConn *c = l->conn;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    ssize_t n = 0;
    QepTxMsg *t;

    if (!c) {
        return -1;
    }
    qemu_mutex_lock(&c->lock);
    if (c->dead) {
        qemu_mutex_unlock(&c->lock);
        return -1;
    }
    if (QSIMPLEQ_EMPTY(&c->txq)) {
        n = qio_channel_writev_full(QIO_CHANNEL(c->ioc), &iov, 1, fds, nfds,
                                    0, NULL);
        if (n < 0 && n != QIO_CHANNEL_ERR_BLOCK) {
            /* the receive thread sees the broken socket and ends it */
            qemu_mutex_unlock(&c->lock);
            return -1;
        }
        n = MAX(n, 0);
    }
    if ((size_t)n < len) {
        t = g_malloc(sizeof(*t) + len - n);
        t->fd = n == 0 && nfds ? dup(fds[0]) : -1;
        t->len = len - n;
        t->done = 0;
        memcpy(t->buf, (const uint8_t *)buf + n, len - n);
        QSIMPLEQ_INSERT_TAIL(&c->txq, t, next);
        c->txq_bytes += t->len;
        qemu_cond_broadcast(&c->tx_cond);
    }
    qemu_mutex_unlock(&c->lock);
    return 0;
}

/*
 * The send thread: writes the queue as the socket takes it.  A queue that
 * does not move for timeout_ms, or grows past TX_MAX, means a peer that
 * does not read: the connection ends.
 */
static void *link_tx_thread(void *opaque)
{
    QepConn *c = opaque;
    const char *why = NULL;
    int last_unread = -1;
    int64_t progress_ms = now_ms();

    qemu_mutex_lock(&c->lock);
    while (!c->dead && !why) {
        QepTxMsg *t = QSIMPLEQ_FIRST(&c->txq);
        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
        struct iovec iov;
        ssize_t n;

        if (!t) {
            qemu_cond_wait(&c->tx_cond, &c->lock);
            continue;
        }
        if (c->txq_bytes > TX_MAX) {
            why = "peer does not read its socket (send queue full)";
            break;
        }
        iov.iov_base = t->buf + t->done;
        iov.iov_len = t->len - t->done;
        n = qio_channel_writev_full(QIO_CHANNEL(c->ioc), &iov, 1,
                                    t->fd >= 0 ? &t->fd : NULL,
                                    t->fd >= 0 ? 1 : 0, 0, NULL);
        if (n > 0) {
            if (t->fd >= 0) {
                close(t->fd);
                t->fd = -1;
            }
            t->done += n;
            if (c->txq_bytes > TX_CREDIT && c->txq_bytes - n <= TX_CREDIT) {
                qemu_cond_broadcast(&c->tx_room);
            }
            c->txq_bytes -= n;
            progress_ms = now_ms();
            if (t->done == t->len) {
                QSIMPLEQ_REMOVE_HEAD(&c->txq, next);
                g_free(t);
            }
            continue;
        }
        if (n != QIO_CHANNEL_ERR_BLOCK) {
            why = "send failed";
            break;
        }
        qemu_mutex_unlock(&c->lock);
        n = poll(&pfd, 1, 50);
        qemu_mutex_lock(&c->lock);
        /*
         * The socket says writable only once most of it is free: judge the
         * peer by whether it reads at all, not by that.
         */
        if (n == 0 && !c->dead) {
            int unread = -1;
            int64_t now = now_ms();

            ioctl(c->fd, SIOCOUTQ, &unread);
            if (unread != last_unread) {
                last_unread = unread;
                progress_ms = now;
            } else if (now - progress_ms >= c->timeout_ms) {
                why = "peer does not read its socket";
            }
        }
    }
    qemu_mutex_unlock(&c->lock);
    if (why) {
        bql_lock();
        if (!c->dead) {
            c->link->n_timeouts++;
            qep_link_disconnect(c->link, why);
        }
        bql_unlock();
    }
    conn_unref(c);
    return NULL;
}

/*
 * A posted write waits for credit: while more than TX_CREDIT bytes are
 * queued, its sender (a vCPU, or the main loop) waits without the BQL until
 * the send thread has written them, at most timeout_ms (then the send
 * thread judges the peer).  As on PCIe, a requester that runs out of
 * credits stalls instead of piling writes up in front of the completions
 * the peer waits for.  The receive thread never waits: it is what lets the
 * peer's queue drain.
 */
void qep_link_wait_credit(QepLink *l)
{
    QepConn *c = l->conn;
    bool drop_bql;
    int64_t deadline;

    if (!c || qemu_thread_is_self(&c->rx_thread) ||
        qatomic_read(&c->txq_bytes) <= TX_CREDIT) {
        return;
    }
    conn_ref(c);
    drop_bql = bql_locked();
    if (drop_bql) {
        bql_unlock();
    }
    qemu_mutex_lock(&c->lock);
    deadline = now_ms() + c->timeout_ms;
    while (!c->dead && c->txq_bytes > TX_CREDIT) {
        int64_t left = deadline - now_ms();

        if (left <= 0) {
            break;
        }
        qemu_cond_timedwait(&c->tx_room, &c->lock, left);
    }
    qemu_mutex_unlock(&c->lock);
    if (drop_bql) {
        bql_lock();
    }
    conn_unref(c);
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

void qep_link_complete_mem(QepLink *l, const struct qep_msg *req,
                           MemTxResult r, const void *data)
{
    bool read = req->data == NULL;

    if (qep_needs_completion(&req->hdr)) {
        qep_link_complete(l, req, r == MEMTX_OK ? QEP_CPL_SC : QEP_CPL_CA,
                          data, read ? req->u.mem.len : 0);
    }
}

MemTxResult qep_pci_dma_rw(PCIDevice *pdev, uint64_t addr, bool write,
                           const void *wdata, void *rdata, uint32_t len)
{
    return pci_dma_rw(pdev, addr, write ? (void *)wdata : rdata, len,
                      write ? DMA_DIRECTION_FROM_DEVICE
                            : DMA_DIRECTION_TO_DEVICE,
                      MEMTXATTRS_UNSPECIFIED);
}

MemTxResult qep_link_serve_dma(QepLink *l, PCIDevice *pdev,
                               const struct qep_msg *req, uint64_t addr)
{
    uint8_t data[QEP_MAX_DATA];
    MemTxResult r;

    r = qep_pci_dma_rw(pdev, addr, req->data != NULL, req->data, data,
                       req->u.mem.len);
    qep_link_complete_mem(l, req, r, data);
    return r;
}

/* ---- requests ------------------------------------------------------------ */

/* A free slot with a fresh tag, or NULL.  Lock held. */
static QepPending *link_alloc_pending(QepConn *c)
{
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        QepPending *p = &c->pend[i];

        if (p->tag) {
            continue;
        }
        do {
            p->tag = c->next_tag++;
            for (int j = 0; j < QEP_LINK_MAX_PENDING && p->tag; j++) {
                if (j != i && c->pend[j].tag == p->tag) {
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

/* A slot for the request @msg, its tag set in it; NULL if it cannot go. */
static QepPending *link_prepare(QepConn *c, void *msg, size_t msg_len,
                                void *data, uint32_t len)
{
    struct qep_hdr h;
    QepPending *p;

    qep_hdr_decode(msg, msg_len, &h);
    qemu_mutex_lock(&c->lock);
    p = c->up && !c->stalled && !c->dead ? link_alloc_pending(c) : NULL;
    if (p) {
        qep_set_tag(msg, p->tag);
        p->req_type = h.type;
        p->data = data;
        p->len = len;
        p->deadline_ms = now_ms() + c->timeout_ms;
    }
    qemu_mutex_unlock(&c->lock);
    return p;
}

/*
 * A request went unanswered: later ones fail at once while the peer is
 * silent.  Lock held.
 */
static void link_timed_out(QepConn *c, QepPending *p)
{
    c->stalled = true;
    if (!c->dead) {
        QepLink *l = c->link;

        l->n_timeouts++;
        link_report(l, "peer did not complete %s (tag %u) within %u ms; "
                    "reads return all-ones until it answers",
                    qep_type_name(p->req_type), p->tag, c->timeout_ms);
    }
}

int qep_link_request(QepLink *l, void *msg, size_t msg_len,
                     void *data, uint32_t len)
{
    QepConn *c = l->conn;
    bool drop_bql = bql_locked();
    QepPending *p;
    int ret;

    if (!c || qemu_thread_is_self(&c->rx_thread)) {
        return -1;                      /* a handler cannot wait on itself */
    }
    p = link_prepare(c, msg, msg_len, data, len);
    if (!p) {
        return -1;
    }
    conn_ref(c);
    if (link_write(l, msg, msg_len, NULL, 0) < 0) {
        qemu_mutex_lock(&c->lock);
        p->tag = 0;
        qemu_mutex_unlock(&c->lock);
        conn_unref(c);
        return -1;
    }
    if (drop_bql) {
        bql_unlock();
    }
    /*
     * A peer that answers at once does so within tens of microseconds:
     * look for the answer a little while before sleeping, which spares a
     * thread wake-up on each access of the message path.
     */
    for (int64_t end = get_clock() + SPIN_NS;
         !qatomic_read(&p->done) && get_clock() < end;) {
        cpu_relax();
    }
    qemu_mutex_lock(&c->lock);
    while (!p->done) {
        int64_t left = p->deadline_ms - now_ms();

        if (left <= 0) {
            link_timed_out(c, p);
            break;
        }
        qemu_cond_timedwait(&c->cond, &c->lock, left);
    }
    ret = p->done && p->status != NO_STATUS ? p->status : -1;
    p->tag = 0;
    qemu_mutex_unlock(&c->lock);
    if (drop_bql) {
        bql_lock();
    }
    conn_unref(c);
    return ret;
}

uint64_t qep_link_read(QepLink *l, enum qep_msg_type type, uint64_t addr,
                       unsigned size, int *status)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_mem_req))], data[8];
    size_t n = type == QEP_MSG_CFG_READ
               ? qep_enc_cfg_read(buf, 0, addr, size)
               : qep_enc_mem_read(buf, type, 0, addr, size);
    int st = qep_link_request(l, buf, n, data, size);

    if (status) {
        *status = st;
    }
    if (st != QEP_CPL_SC) {
        return size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
    }
    return ldn_le_p(data, size);
}

int qep_link_write(QepLink *l, enum qep_msg_type type, uint64_t addr,
                   unsigned size, uint64_t val)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_mem_req) + 8)], data[8];
    size_t n;

    if (type == QEP_MSG_CFG_WRITE) {
        n = qep_enc_cfg_write(buf, 0, addr, size, val);
        return qep_link_request(l, buf, n, NULL, 0);
    }
    stn_le_p(data, size, val);
    n = qep_enc_mem_write(buf, type, 0, addr, size, data);
    if (type == QEP_MSG_MEM_WRITE) {
        return qep_link_send(l, buf, n);
    }
    return qep_link_request(l, buf, n, NULL, 0);
}

int qep_link_request_async(QepLink *l, void *msg, size_t msg_len,
                           void *data, uint32_t len, QepLinkDone *done,
                           void *opaque)
{
    QepConn *c = l->conn;
    QepPending *p = c ? link_prepare(c, msg, msg_len, data, len) : NULL;

    if (!p) {
        return -1;
    }
    p->cb = done;
    p->cb_opaque = opaque;
    p->deadline_ms += (int64_t)c->timeout_ms * (ASYNC_TIMEOUT_FACTOR - 1);
    if (link_write(l, msg, msg_len, NULL, 0) < 0) {
        qemu_mutex_lock(&c->lock);
        p->tag = 0;
        qemu_mutex_unlock(&c->lock);
        return -1;
    }
    if (!timer_pending(l->timer) ||
        timer_expire_time_ns(l->timer) / SCALE_MS > p->deadline_ms) {
        timer_mod(l->timer, p->deadline_ms);
    }
    return 0;
}

static QepPending *link_find_pending(QepConn *c, uint16_t tag)
{
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        if (c->pend[i].tag == tag && !c->pend[i].done) {
            return &c->pend[i];
        }
    }
    return NULL;
}

/*
 * Complete the request @m answers.  Lock held; an asynchronous request's
 * callback is copied to @cb (its slot freed), to be called with the BQL.
 * False if no request waits for it.
 */
static bool link_complete_locked(QepConn *c, const struct qep_msg *m,
                                 QepPending *cb)
{
    QepPending *p = link_find_pending(c, m->hdr.tag);

    if (!p) {
        return false;
    }
    if (m->u.cpl.req_type != p->req_type ||
        (m->data_len && m->data_len != p->len)) {
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
        p->tag = 0;
    }
    qemu_cond_broadcast(&c->cond);
    return true;
}

/*
 * Fail outstanding requests (all, or the asynchronous ones past their
 * deadline); asynchronous ones are returned in @cbs.  Lock held.
 */
static int link_fail_pending(QepConn *c, QepPending *cbs, bool expired_only)
{
    int64_t now = now_ms();
    int n = 0;

    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        QepPending *p = &c->pend[i];

        if (!p->tag || p->done ||
            (expired_only && (!p->cb || p->deadline_ms > now))) {
            continue;
        }
        if (expired_only) {
            link_timed_out(c, p);
        }
        p->done = true;
        p->status = NO_STATUS;
        if (p->cb) {
            cbs[n++] = *p;
            p->tag = 0;
        }
    }
    qemu_cond_broadcast(&c->cond);
    return n;
}

static void link_run_callbacks(QepPending *cbs, int n)
{
    for (int i = 0; i < n; i++) {
        cbs[i].cb(cbs[i].cb_opaque,
                  cbs[i].status == NO_STATUS ? -1 : cbs[i].status);
    }
}

/* ---- receiving (the receive thread) -------------------------------------- */

#define RX_BUF (256 * 1024)

/* What the receive thread has read and not handled yet. */
typedef struct RxBuf {
    uint8_t *buf;
    size_t head, tail;
    int fd;                  /* a descriptor, and the read that brought it */
    size_t fd_start, fd_end;
} RxBuf;

/*
 * Read what the socket has (waiting for something if nothing is buffered).
 * A read that brings a descriptor ends with the write it came with (the
 * kernel does not read past it), and the sender puts a descriptor on the
 * first byte of its FDS message: the descriptor belongs to the last
 * message that starts within that read.
 */
static int rx_fill(QepConn *c, RxBuf *r, const char **why)
{
    struct iovec iov;
    int *f = NULL;
    size_t nf = 0;
    ssize_t n;
    int rx_errno = 0;

    if (r->head == r->tail) {
        r->head = r->tail = 0;
    } else if (r->head && RX_BUF - r->tail < QEP_MSG_MAX) {
        memmove(r->buf, r->buf + r->head, r->tail - r->head);
        r->fd_start -= MIN(r->fd_start, r->head);
        r->fd_end -= MIN(r->fd_end, r->head);
        r->tail -= r->head;
        r->head = 0;
    }
    iov.iov_base = r->buf + r->tail;
    iov.iov_len = RX_BUF - r->tail;
    for (;;) {
        n = qio_channel_readv_full(QIO_CHANNEL(c->ioc), &iov, 1, &f, &nf, 0,
                                   NULL);
        if (n != QIO_CHANNEL_ERR_BLOCK) {
            rx_errno = errno;
            break;
        }
        /* a shutdown by qep_link_disconnect() ends this wait */
        poll(&(struct pollfd){ .fd = c->fd, .events = POLLIN }, 1, -1);
    }
    for (size_t i = 0; i < nf; i++) {
        if (i == 0 && r->fd < 0 && n > 0) {
            r->fd = f[0];
            r->fd_start = r->tail;
            r->fd_end = r->tail + n;
        } else {
            close(f[i]);
            *why = "protocol error: more than one descriptor";
        }
    }
    g_free(f);
    if (n <= 0 && !*why) {
        /* a peer that ends with our data unread resets the socket */
        *why = n == 0 ? "peer closed the connection" :
               rx_errno == ECONNRESET ? "peer closed the connection (reset)" :
               "receive failed";
    }
    if (*why) {
        return -1;
    }
    r->tail += n;
    return 0;
}

static void link_dispatch(QepLink *l, const struct qep_msg *m, int fd);

/*
 * The next whole message in @r, decoded, and the descriptor that belongs
 * to it; 0 if more bytes are needed, -1 (and *why) if it is invalid.
 */
static int rx_next(RxBuf *r, struct qep_msg *m, int *fd, char *why_buf,
                   size_t why_len, const char **why)
{
    int n = qep_msg_decode(r->buf + r->head, r->tail - r->head, m);

    if (n == -QEP_E_SHORT) {
        return 0;
    }
    if (n < 0) {
        snprintf(why_buf, why_len, "protocol error: %s (type %u, size %u)",
                 qep_strerror(n), m->hdr.type, m->hdr.size);
        *why = why_buf;
        return -1;
    }
    *fd = -1;
    if (r->fd >= 0 && r->head >= r->fd_start && r->head + n >= r->fd_end) {
        /* the last message that starts within the read that brought it */
        *fd = r->fd;
        r->fd = -1;
    } else if (r->fd >= 0 && r->head >= r->fd_end) {
        *why = "protocol error: a descriptor without its message";
        return -1;
    }
    if ((*fd >= 0) != (m->hdr.type == QEP_MSG_FDS &&
                       m->u.fds.kind == QEP_FD_GUEST_RAM)) {
        *why = *fd >= 0 ? "protocol error: a descriptor with a message that "
                          "carries none"
                        : "protocol error: FDS GUEST_RAM without its "
                          "descriptor";
        if (*fd >= 0) {
            close(*fd);
        }
        return -1;
    }
    r->head += n;
    return n;
}

/*
 * The receive thread: handles each message in the order it came.  The BQL
 * is taken once for all the messages one read brought, not per message,
 * so that a flood of posted writes does not pay a lock hand-over each.
 */
static void *link_rx_thread(void *opaque)
{
    QepConn *c = opaque;
    RxBuf r = { .buf = g_malloc(RX_BUF), .fd = -1 };
    char why_buf[160];
    const char *why = NULL;

    while (!why && rx_fill(c, &r, &why) == 0) {
        bool locked = false;
        struct qep_msg m;
        int fd, n;

        while ((n = rx_next(&r, &m, &fd, why_buf, sizeof(why_buf), &why)) > 0) {
            QepPending cb = { 0 };

            qemu_mutex_lock(&c->lock);
            c->stalled = false;
            if (m.hdr.type == QEP_MSG_COMPLETION && c->up &&
                link_complete_locked(c, &m, &cb)) {
                /* to its waiter; everything received before it is handled */
                qemu_mutex_unlock(&c->lock);
                if (!cb.cb) {
                    continue;
                }
            } else {
                qemu_mutex_unlock(&c->lock);
            }
            if (!locked) {
                bql_lock();
                locked = true;
            }
            if (c->dead) {
                if (fd >= 0) {
                    close(fd);
                }
            } else if (cb.cb) {
                link_run_callbacks(&cb, 1);
            } else {
                link_dispatch(c->link, &m, fd);
            }
        }
        if (locked) {
            bql_unlock();
        }
    }
    if (r.fd >= 0) {
        close(r.fd);
    }
    g_free(r.buf);
    bql_lock();
    if (!c->dead) {
        if (strstr(why, "protocol error")) {
            c->link->n_proto_errors++;
        }
        qep_link_disconnect(c->link, why);
    }
    bql_unlock();
    conn_unref(c);
    return NULL;
}

/* ---- handling (receive thread, BQL held) --------------------------------- */

static void link_hello(QepLink *l, const struct qep_msg *m)
{
    QepConn *c = l->conn;
    char why[160];

    if (c->up) {
        qep_link_disconnect(l, "protocol error: second HELLO");
        return;
    }
    if (qep_hello_check(&m->u.hello, l->role, why, sizeof(why)) < 0) {
        l->n_proto_errors++;
        qep_link_disconnect(l, why);
        return;
    }
    timer_del(l->timer);
    qemu_mutex_lock(&c->lock);
    c->negotiated = l->features & m->u.hello.features;
    c->stalled = false;
    qatomic_set(&c->up, true);
    qemu_mutex_unlock(&c->lock);
    l->last_error[0] = 0;
    info_report("%s: %s: connected, %s%s", l->name, l->path, why,
                c->negotiated & QEP_FEAT_SHMEM ? ", shared memory on" : "");
    if (c->negotiated & QEP_FEAT_SHMEM) {
        link_shm_offer_all(l);
    }
    if (l->ops->connected) {
        l->ops->connected(l->opaque);
    }
}

/* ---- shared RAM ---------------------------------------------------------- */

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
    if (!(l->conn->negotiated & QEP_FEAT_SHMEM)) {
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


/* One message other than a completion that has a waiter; @fd is ours. */
static void link_dispatch(QepLink *l, const struct qep_msg *m, int fd)
{
    if (m->hdr.type == QEP_MSG_HELLO) {
        link_hello(l, m);
    } else if (!l->conn->up) {
        l->n_proto_errors++;
        qep_link_disconnect(l, "protocol error: message before HELLO");
    } else if (m->hdr.type == QEP_MSG_COMPLETION) {
        /* the answer to a request we gave up waiting for */
        link_report(l, "dropping completion with unknown tag %u",
                    m->hdr.tag);
    } else if (m->hdr.type == QEP_MSG_FDS) {
        link_handle_fds(l, m, fd);
        return;
    } else {
        l->ops->handle(l->opaque, m);
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* ---- connection life cycle ----------------------------------------------- */

static void link_arm_timer(QepLink *l, uint32_t ms)
{
    timer_mod(l->timer, now_ms() + ms);
}

void qep_link_disconnect(QepLink *l, const char *why)
{
    QepPending cbs[QEP_LINK_MAX_PENDING];
    QepConn *c = l->conn;
    bool was_up;
    int n;

    if (!c) {
        return;
    }
    if (why) {
        link_report(l, "disconnecting: %s", why);
    }
    qemu_mutex_lock(&c->lock);
    was_up = c->up;
    c->dead = true;
    qatomic_set(&c->up, false);
    n = link_fail_pending(c, cbs, false);
    qemu_cond_broadcast(&c->tx_cond);
    qemu_cond_broadcast(&c->tx_room);
    qemu_mutex_unlock(&c->lock);
    /* wakes the receive and send threads; they end and drop their refs */
    qio_channel_shutdown(QIO_CHANNEL(c->ioc), QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
    l->conn = NULL;
    conn_unref(c);
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
    QepConn *c;

    if (!ioc) {
        close(fd);
        return;
    }
    qio_channel_set_blocking(QIO_CHANNEL(ioc), false, NULL);
    c = g_new0(QepConn, 1);
    c->refs = 3;                        /* the link and two threads */
    c->link = l;
    c->ioc = ioc;
    c->fd = fd;
    c->timeout_ms = l->timeout_ms;
    c->next_tag = 1;
    qemu_mutex_init(&c->lock);
    qemu_cond_init(&c->cond);
    qemu_cond_init(&c->tx_cond);
    qemu_cond_init(&c->tx_room);
    QSIMPLEQ_INIT(&c->txq);
    l->conn = c;
    qemu_thread_create(&c->rx_thread, "qep-link-rx", link_rx_thread, c,
                       QEMU_THREAD_DETACHED);
    qemu_thread_create(&c->tx_thread, "qep-link-tx", link_tx_thread, c,
                       QEMU_THREAD_DETACHED);
    link_write(l, hello, qep_enc_hello(hello, l->role, l->features), NULL, 0);
    link_arm_timer(l, HELLO_WAIT_MS);   /* the peer must answer */
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
    if (l->conn) {
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
    QepConn *c = l->conn;
    int64_t next = INT64_MAX;
    int n;

    if (!c) {
        if (!l->server) {
            link_try_connect(l);
        }
        return;
    }
    if (!c->up) {
        qep_link_disconnect(l, "peer sent no HELLO in time");
        return;
    }
    qemu_mutex_lock(&c->lock);
    n = link_fail_pending(c, cbs, true);
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        if (c->pend[i].tag && c->pend[i].cb) {
            next = MIN(next, c->pend[i].deadline_ms);
        }
    }
    qemu_mutex_unlock(&c->lock);
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
    l->conn = NULL;
    l->listen_fd = -1;
    l->timer = timer_new_ms(QEMU_CLOCK_REALTIME, link_timer, l);
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
}
