/*
 * qemu-epc link layer, shared by qemu-epc and epf-bridge (see epc-link.h).
 *
 * Who runs what (docs/protocol.md, "Threads and ordering"):
 * - the I/O thread (an IOThread, one per process) reads each connection,
 *   checks every message, completes replies into the link's own buffers
 *   and queues every other message, in arrival order, for the main loop;
 *   it writes what the socket did not take at once, and watches a peer
 *   that stops reading.  It runs no device code and never takes the BQL.
 * - the main loop runs each connection's queue in a bottom half with the
 *   BQL held: the peer's requests and messages (QepLinkOps), the releases
 *   of completions that arrived behind them (so a completion never passes
 *   a posted request that came before it) and the callbacks of
 *   asynchronous requests.  It also accepts and connects.
 * - a requester (a vCPU, or the main loop) waits for its completion
 *   without the BQL; the main loop runs the connections' queues meanwhile.
 * Everything a connection shares between these threads is under its lock;
 * the link's own fields (QepLink) are the main loop's, under the BQL.
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
#include "block/aio.h"
#include "chardev/char-socket.h"
#include "hw/core/cpu.h"
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include "epc-link-int.h"
#include QEP_TRACE_H

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
/*
 * After a completion timed out, and until the peer sends anything, a
 * request waits this long instead of timeout_ms: enough for a peer that is
 * alive (its answer ends the stall), little for a vCPU held by a silent one.
 */
#define STALL_GRACE_MS 50
/* a request that failed without a completion */
#define NO_STATUS     UINT16_MAX
/* how often the I/O thread looks at a send queue that does not move */
#define TX_CHECK_MS   50
/* how deep the main loop serves queues while it waits (see link_wait_main) */
#define MAX_SERVE_DEPTH 8
#define RX_BUF        (256 * 1024)

/* bytes the socket did not take yet */
typedef struct QepTxMsg {
    QSIMPLEQ_ENTRY(QepTxMsg) next;
    int fd;                  /* to pass with the first byte, or -1 */
    size_t len, done;
    uint8_t buf[];
} QepTxMsg;

/* what the I/O thread queued for the main loop */
typedef struct QepInMsg {
    QSIMPLEQ_ENTRY(QepInMsg) next;
    int slot;                /* >= 0: release that request's completion */
    uint16_t tag;            /* ... if it still has this tag */
    int fd;                  /* a descriptor that came with the message */
    size_t len;
    uint8_t buf[];           /* the message as it came */
} QepInMsg;

typedef struct QepPending {
    uint16_t tag;            /* 0: slot free */
    uint16_t req_type;
    uint32_t handle;         /* asynchronous requests: their handle */
    bool arrived;            /* its completion is in data/status */
    bool done;               /* ... and may be taken by the requester */
    bool abandoned;          /* nobody takes it: freed when it arrives */
    bool grace;              /* sent while stalled: a short wait */
    uint16_t status;
    uint32_t len;            /* bytes of data a successful completion carries */
    QepLinkDone *cb;         /* asynchronous: called in the main loop */
    void *cb_opaque;
    int64_t deadline_ms;
    uint8_t data[QEP_MAX_DATA];
} QepPending;

/* what the I/O thread has read and not decoded yet */
typedef struct RxBuf {
    uint8_t *buf;
    size_t head, tail;
    int fd;                  /* a descriptor, and the read that brought it */
    size_t fd_start, fd_end;
} RxBuf;

struct QepConn {
    int refs;                /* atomic: the link, the I/O thread, waiters */
    QepLink *link;           /* main loop only, while !dead */
    QIOChannel *ioc;
    QepCharFe *chr;        /* the chardev the connection belongs to */
    uint32_t timeout_ms;
    QepCapture *cap;         /* the link's capture, or NULL */
    uint8_t fn;              /* the function, for the capture */
    QEMUBH *bh;              /* main loop: runs inq */
    int fd;                  /* the link's own socket: closed with ioc */
    int tx_tfd;              /* I/O thread: a send queue that does not move */
    RxBuf rx;                /* I/O thread only */

    QemuMutex lock;          /* everything below */
    QemuCond cond;           /* a completion arrived, or the end */
    QemuCond tx_room;        /* the queue fell to TX_CREDIT, or the end */
    bool dead;               /* disconnected: the threads let go of it */
    bool up;                 /* HELLO exchanged */
    bool stalled;            /* a completion timed out; peer silent since */
    bool reading;            /* the I/O thread has the read handler set */
    bool writing;            /* ... and the write handler */
    bool io_stopped;         /* handlers removed for good (conn_io_stop) */
    const char *io_error;    /* why the I/O thread stopped, for the main loop */
    char io_error_buf[160];
    uint64_t negotiated;
    uint16_t next_tag;
    int max_pending;         /* slots of pend[] in use (max_requests) */
    QepPending pend[QEP_LINK_MAX_PENDING];
    QSIMPLEQ_HEAD(, QepTxMsg) txq;
    size_t txq_bytes;
    int64_t tx_progress_ms;
    int tx_unread;           /* bytes in the socket at the last look */
    GSList *resume;          /* QEMUBH * to schedule once there is room */
    QSIMPLEQ_HEAD(, QepInMsg) inq;
};

/*
 * The connections' common ground: the I/O thread, every started link (for
 * the main loop's waits) and what wakes a waiting main loop.
 */
static IOThread *link_iothread;
static int link_iothread_users;
static QTAILQ_HEAD(, QepLink) link_all = QTAILQ_HEAD_INITIALIZER(link_all);
static QemuMutex wait_lock;
static QemuCond wait_cond;
static unsigned wait_epoch;
static int serve_depth;      /* main loop: queues being served while waiting */
/* asynchronous requests that failed, callbacks still to run (main loop) */
static uint32_t next_handle = 1;

static int conn_write(QepConn *c, const void *buf, size_t len, int *fds,
                      size_t nfds, uint16_t note);
static void conn_io_stop(QepConn *c);

static void __attribute__((constructor)) link_init_globals(void)
{
    qemu_mutex_init(&wait_lock);
    qemu_cond_init(&wait_cond);
}

/* where the link goes, for messages */
const char *link_where(QepLink *l)
{
    return l->path ? l->path : "chardev";
}

/* Report once per distinct message, so a retrying client does not flood. */
void link_report(QepLink *l, const char *fmt, ...)
{
    char buf[sizeof(l->last_error)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    trace_qep_link_error(buf);
    qep_capture_event(l->capture, l->fn, QEP_NOTE_LINK, "%s", buf);
    if (strcmp(buf, l->last_error)) {
        error_report("%s: %s: %s", l->name, link_where(l), buf);
        pstrcpy(l->last_error, sizeof(l->last_error), buf);
    }
}

/* The note the device gave the next message it sends, once.  BQL held. */
static uint16_t link_take_note(QepLink *l)
{
    uint16_t note = l->note;

    l->note = QEP_NOTE_NONE;
    return note;
}

void qep_link_note(QepLink *l, enum qep_cap_note note)
{
    l->note = note;
}

static int64_t now_ms(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME) / SCALE_MS;
}

static AioContext *io_ctx(void)
{
    return iothread_get_aio_context(link_iothread);
}

/* A waiting main loop looks at the queues again. */
static void wake_main(void)
{
    qemu_mutex_lock(&wait_lock);
    wait_epoch++;
    qemu_cond_broadcast(&wait_cond);
    qemu_mutex_unlock(&wait_lock);
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
    QepInMsg *m;

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
    while ((m = QSIMPLEQ_FIRST(&c->inq))) {
        QSIMPLEQ_REMOVE_HEAD(&c->inq, next);
        if (m->fd >= 0) {
            close(m->fd);
        }
        g_free(m);
    }
    if (c->rx.fd >= 0) {
        close(c->rx.fd);
    }
    g_free(c->rx.buf);
    g_slist_free(c->resume);
    qemu_bh_delete(c->bh);
    object_unref(OBJECT(c->ioc));
    qemu_cond_destroy(&c->tx_room);
    qemu_cond_destroy(&c->cond);
    qemu_mutex_destroy(&c->lock);
    qep_capture_unref(c->cap);
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

static void conn_writable(void *opaque);
static void conn_readable(void *opaque);

/* The I/O thread's handlers of the connection's channel.  Lock held. */
static void conn_set_handlers(QepConn *c)
{
    qep_tsan_release(c);
    if (c->io_stopped) {
        /*
         * The handlers are gone; a late caller (the I/O thread finishing
         * a handler) must not touch the number again: the connection's
         * socket is only closed after the I/O thread let go, but a second
         * removal by number could hit whatever registers it next
         */
        return;
    }
    qep_aio_set_fd_handler(io_ctx(), c->fd,
                           c->reading ? conn_readable : NULL,
                           c->writing ? conn_writable : NULL, c);
}

/*
 * Arm (ms > 0) or stop the check of a send queue that does not move.  A
 * timerfd served by the I/O thread, not an AioContext timer: the timer
 * list of an AioContext is a field of a structure whose layout depends on
 * how the QEMU binary was configured (io_uring, libaio), so a module must
 * not reach into it.  Any thread.
 */
static void conn_tx_arm(QepConn *c, int64_t ms)
{
    struct itimerspec its = {
        .it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 },
    };

    timerfd_settime(c->tx_tfd, 0, &its, NULL);
}

/*
 * Send one whole message and its descriptors: directly while nothing is
 * queued, else (or for what the socket does not take) through the I/O
 * thread.  Never waits.  Any thread.  0, or -1 when the connection is gone.
 */
static int conn_write(QepConn *c, const void *buf, size_t len, int *fds,
                      size_t nfds, uint16_t note)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    ssize_t n = 0;
    QepTxMsg *t;

    qemu_mutex_lock(&c->lock);
    if (c->dead) {
        qemu_mutex_unlock(&c->lock);
        return -1;
    }
    /* under the lock: the capture has the messages in the socket's order */
    qep_capture_msg(c->cap, QEP_CAP_SENT, c->fn, note, buf, len);
    if (QSIMPLEQ_EMPTY(&c->txq)) {
        n = qio_channel_writev_full(c->ioc, &iov, 1, fds, nfds, 0, NULL);
        if (n < 0 && n != QIO_CHANNEL_ERR_BLOCK) {
            /* the I/O thread sees the broken socket and ends it */
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
        if (QSIMPLEQ_EMPTY(&c->txq)) {
            c->tx_progress_ms = now_ms();
            c->tx_unread = -1;
        }
        QSIMPLEQ_INSERT_TAIL(&c->txq, t, next);
        c->txq_bytes += t->len;
        if (!c->writing) {
            c->writing = true;
            conn_set_handlers(c);
            conn_tx_arm(c, TX_CHECK_MS);
        }
    }
    qemu_mutex_unlock(&c->lock);
    return 0;
}

/* The I/O thread hands an ending to the main loop.  Lock held. */
static void conn_fail_locked(QepConn *c, const char *why)
{
    if (!c->io_error) {
        c->io_error = why;
    }
    c->reading = c->writing = false;
    conn_set_handlers(c);
    qep_tsan_release(c);
    qemu_bh_schedule(c->bh);
    wake_main();
}

/* Resume the senders waiting for credit.  Lock held. */
static void conn_room_locked(QepConn *c)
{
    qemu_cond_broadcast(&c->tx_room);
    for (GSList *e = c->resume; e; e = e->next) {
        qemu_bh_schedule(e->data);
    }
    g_slist_free(c->resume);
    c->resume = NULL;
}

/* I/O thread: the socket takes more. */
static void conn_writable(void *opaque)
{
    QepConn *c = opaque;

    qep_tsan_acquire(c);
    qemu_mutex_lock(&c->lock);
    while (!c->dead && !c->io_error) {
        QepTxMsg *t = QSIMPLEQ_FIRST(&c->txq);
        struct iovec iov;
        size_t before = c->txq_bytes;
        ssize_t n;

        if (!t) {
            c->writing = false;
            conn_set_handlers(c);
            conn_tx_arm(c, 0);
            break;
        }
        if (c->txq_bytes > TX_MAX) {
            conn_fail_locked(c, "peer does not read its socket (send queue "
                             "full)");
            break;
        }
        iov.iov_base = t->buf + t->done;
        iov.iov_len = t->len - t->done;
        n = qio_channel_writev_full(c->ioc, &iov, 1,
                                    t->fd >= 0 ? &t->fd : NULL,
                                    t->fd >= 0 ? 1 : 0, 0, NULL);
        if (n == QIO_CHANNEL_ERR_BLOCK) {
            break;
        }
        if (n < 0) {
            conn_fail_locked(c, "send failed");
            break;
        }
        if (t->fd >= 0) {
            close(t->fd);
            t->fd = -1;
        }
        t->done += n;
        c->txq_bytes -= n;
        c->tx_progress_ms = now_ms();
        if (t->done == t->len) {
            QSIMPLEQ_REMOVE_HEAD(&c->txq, next);
            g_free(t);
        }
        if (before > TX_CREDIT && c->txq_bytes <= TX_CREDIT) {
            conn_room_locked(c);
        }
    }
    qemu_mutex_unlock(&c->lock);
}

/*
 * I/O thread, every TX_CHECK_MS while something is queued: a queue that
 * does not move for timeout_ms means a peer that does not read.  The socket
 * says writable only once most of it is free: judge the peer by whether it
 * reads at all, not by that.
 */
static void conn_tx_check(void *opaque)
{
    QepConn *c = opaque;
    int unread = -1;
    int64_t now = now_ms();
    uint64_t ticks;

    if (read(c->tx_tfd, &ticks, sizeof(ticks)) != sizeof(ticks)) {
        return;                         /* disarmed since it fired */
    }

    qep_tsan_acquire(c);
    qemu_mutex_lock(&c->lock);
    if (!c->dead && !c->io_error && !QSIMPLEQ_EMPTY(&c->txq)) {
        QIOChannelSocket *sioc = QIO_CHANNEL_SOCKET(c->ioc);

        ioctl(sioc->fd, SIOCOUTQ, &unread);
        if (unread != c->tx_unread) {
            c->tx_unread = unread;
            c->tx_progress_ms = now;
        } else if (now - c->tx_progress_ms >= c->timeout_ms) {
            conn_fail_locked(c, "peer does not read its socket");
        }
        if (!c->io_error) {
            conn_tx_arm(c, TX_CHECK_MS);
        }
    }
    qemu_mutex_unlock(&c->lock);
}

bool qep_link_credit(QepLink *l, QEMUBH *resume)
{
    QepConn *c = l->conn;
    bool room;
    int64_t deadline;

    if (!c) {
        return true;        /* (without a connection the write goes nowhere) */
    }
    qemu_mutex_lock(&c->lock);
    room = c->dead || c->txq_bytes <= TX_CREDIT;
    if (room || resume) {
        if (!room && !g_slist_find(c->resume, resume)) {
            c->resume = g_slist_prepend(c->resume, resume);
        }
        qemu_mutex_unlock(&c->lock);
        return room;
    }
    qemu_mutex_unlock(&c->lock);
    conn_ref(c);
    bql_unlock();
    qemu_mutex_lock(&c->lock);
    deadline = now_ms() + c->timeout_ms;
    while (!c->dead && c->txq_bytes > TX_CREDIT) {
        int64_t left = deadline - now_ms();

        if (left <= 0) {
            break;
        }
        qemu_cond_timedwait(&c->tx_room, &c->lock, left);
    }
    room = c->dead || c->txq_bytes <= TX_CREDIT;
    qemu_mutex_unlock(&c->lock);
    bql_lock();
    conn_unref(c);
    if (!room) {
        trace_qep_link_credit_timeout();
    }
    return room;
}

/* ---- injected faults ----------------------------------------------------- */

static void link_arm_timer(QepLink *l, uint32_t ms);

/* a message a fault holds back, sent when its timer fires */
struct QepDelayed {
    QSLIST_ENTRY(QepDelayed) next;
    QepLink *l;
    uint64_t generation;     /* only on the connection it was meant for */
    uint16_t note;
    QEMUTimer *timer;
    size_t len;
    uint8_t buf[];
};

static void link_fault_report(QepLink *l, const QepFault *f,
                              const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void link_fault_report(QepLink *l, const QepFault *f,
                              const char *fmt, ...)
{
    g_autofree char *what = NULL;
    va_list ap;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    trace_qep_link_fault(qep_fault_name(f->kind), what);
    qep_capture_event(l->capture, l->fn, QEP_NOTE_FAULT, "injected %s: %s",
                      qep_fault_name(f->kind), what);
    info_report("%s: %s: injected %s: %s", l->name, link_where(l),
                qep_fault_name(f->kind), what);
}

static void link_delayed_fire(void *opaque)
{
    QepDelayed *d = opaque;
    QepLink *l = d->l;

    if (l->generation == d->generation && qep_link_up(l)) {
        conn_write(l->conn, d->buf, d->len, NULL, 0, d->note);
    }
    QSLIST_REMOVE(&l->delayed, d, QepDelayed, next);
    timer_free(d->timer);
    g_free(d);
}

static void link_delay(QepLink *l, const void *msg, size_t len, uint16_t note,
                       uint32_t ms)
{
    QepDelayed *d = g_malloc(sizeof(*d) + len);

    d->l = l;
    d->generation = l->generation;
    d->note = note;
    d->len = len;
    memcpy(d->buf, msg, len);
    /* in ns: a millisecond clock would fire up to 1 ms before D ms */
    d->timer = timer_new_ns(QEMU_CLOCK_REALTIME, link_delayed_fire, d);
    QSLIST_INSERT_HEAD(&l->delayed, d, next);
    timer_mod(d->timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
              (int64_t)ms * SCALE_MS);
}

static void link_delayed_drop_all(QepLink *l)
{
    while (!QSLIST_EMPTY(&l->delayed)) {
        QepDelayed *d = QSLIST_FIRST(&l->delayed);

        QSLIST_REMOVE_HEAD(&l->delayed, next);
        timer_free(d->timer);
        g_free(d);
    }
}

/* No connection until @until_ms: the one there is goes now. */
static void link_hold(QepLink *l, int64_t until_ms, const char *why)
{
    l->hold_until_ms = until_ms;
    if (l->conn) {
        qep_link_disconnect(l, why);
    }
    if (!l->server && !l->chr && until_ms != INT64_MAX) {
        link_arm_timer(l, until_ms - now_ms());
    }
}

static bool link_held(QepLink *l)
{
    return l->hold_until_ms && now_ms() < l->hold_until_ms;
}

/* @spec's rules into @fs; false and *errp if it has a bad one */
static bool link_parse_faults(const char *spec, QepFaults *fs, Error **errp)
{
    char why[200];

    if (qep_faults_parse(spec, fs, why, sizeof(why)) < 0) {
        error_setg(errp, "inject: %s", why);
        return false;
    }
    return true;
}

int qep_link_set_faults(QepLink *l, const char *spec, Error **errp)
{
    QepFaults fs;
    bool removed = false;

    if (!link_parse_faults(spec, &fs, errp)) {
        return -1;
    }
    l->faults = fs;
    for (int i = 0; i < fs.n; i++) {
        QepFault *f = &l->faults.f[i];

        if (f->kind == QEP_FAULT_LINK_DOWN) {
            f->count = 0;
            link_fault_report(l, f, "link down for %u ms", f->ms);
            link_hold(l, now_ms() + f->ms, "injected link-down");
        } else if (f->kind == QEP_FAULT_REMOVE) {
            removed = true;
            if (l->hold_until_ms != INT64_MAX) {
                link_fault_report(l, f, "the link is gone until the rules "
                                  "change");
                link_hold(l, INT64_MAX, "injected remove");
            }
        }
    }
    if (!removed && l->hold_until_ms == INT64_MAX) {
        /* back: the client side connects again */
        l->hold_until_ms = 0;
        if (!l->server && !l->chr && l->timer) {
            link_arm_timer(l, 0);
        }
    }
    return 0;
}

bool qep_faults_valid(const char *spec, Error **errp)
{
    QepFaults fs;

    return link_parse_faults(spec, &fs, errp);
}

char *qep_link_get_faults(QepLink *l)
{
    return qep_faults_format(&l->faults);
}

int qep_link_send(QepLink *l, void *msg, size_t len)
{
    uint16_t note = link_take_note(l);
    QepFault *f = NULL;

    if (!qep_link_up(l)) {
        return -1;
    }
    if ((note == QEP_NOTE_MSI || note == QEP_NOTE_MSIX) && l->faults.n) {
        f = qep_faults_take(&l->faults, QEP_FAULTS_MSI, 0);
    }
    trace_qep_link_send(qep_type_name(((struct qep_hdr *)msg)->type),
                        ((struct qep_hdr *)msg)->tag, len);
    if (f) {
        const char *kind = note == QEP_NOTE_MSI ? "MSI" : "MSI-X";
        uint64_t addr = ldq_le_p((uint8_t *)msg + sizeof(struct qep_hdr));

        if (f->kind == QEP_FAULT_MSI_DROP) {
            link_fault_report(l, f, "%s to 0x%" PRIx64 " dropped", kind, addr);
            return 0;
        }
        link_fault_report(l, f, "%s to 0x%" PRIx64 " delayed %u ms", kind,
                          addr, f->ms);
        link_delay(l, msg, len, note, f->ms);
        return 0;
    }
    return conn_write(l->conn, msg, len, NULL, 0, note);
}

int link_write_fd(QepLink *l, const void *msg, size_t len, int fd)
{
    return conn_write(l->conn, msg, len, fd >= 0 ? &fd : NULL, fd >= 0,
                      QEP_NOTE_NONE);
}

void qep_link_complete(QepLink *l, const struct qep_hdr *req,
                       enum qep_cpl_status status, const void *data,
                       uint32_t len)
{
    uint8_t buf[QEP_MSG_MAX];
    QepFault *f = l->faults.n ? qep_faults_take(&l->faults, QEP_FAULTS_CPL,
                                                req->type) : NULL;
    const char *what = qep_type_name(req->type);
    size_t n;

    if (f && f->kind == QEP_FAULT_CPL_TIMEOUT) {
        link_fault_report(l, f, "completion of %s tag %u withheld", what,
                          req->tag);
        return;
    }
    if (f && (f->kind == QEP_FAULT_CPL_UR || f->kind == QEP_FAULT_CPL_CA)) {
        status = f->kind == QEP_FAULT_CPL_UR ? QEP_CPL_UR : QEP_CPL_CA;
        link_fault_report(l, f, "%s tag %u completed with %s", what,
                          req->tag, status == QEP_CPL_UR ? "UR" : "CA");
    }
    if (status != QEP_CPL_SC) {
        len = 0;
    }
    n = qep_enc_cpl(buf, req->tag, req->type, status, data, len);
    if (f && f->kind == QEP_FAULT_CPL_POISON) {
        if (len && qep_link_has(l, QEP_FEAT_POISON)) {
            qep_set_flags(buf, QEP_F_POISONED);
            link_fault_report(l, f, "data of %s tag %u poisoned", what,
                              req->tag);
        } else {
            n = qep_enc_cpl(buf, req->tag, req->type, QEP_CPL_CA, NULL, 0);
            link_fault_report(l, f, "%s tag %u completed with CA (%s)", what,
                              req->tag, len ? "the peer does not take "
                              "poisoned data" : "no data to poison");
        }
    }
    if (f && f->kind == QEP_FAULT_CPL_DELAY) {
        link_fault_report(l, f, "completion of %s tag %u delayed %u ms", what,
                          req->tag, f->ms);
        link_delay(l, buf, n, QEP_NOTE_FAULT, f->ms);
        return;
    }
    qep_link_send(l, buf, n);
}

void qep_link_complete_mem(QepLink *l, const struct qep_msg *req,
                           MemTxResult r, const void *data)
{
    bool read = req->data == NULL;

    if (qep_needs_completion(&req->hdr)) {
        qep_link_complete(l, &req->hdr, r == MEMTX_OK ? QEP_CPL_SC : QEP_CPL_CA,
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

/*
 * A free slot with a fresh tag, or NULL.  Unless @reserved, only while more
 * than QEP_LINK_RESERVED slots are free.  Lock held.
 */
static QepPending *link_alloc_pending(QepConn *c, bool reserved)
{
    int free_slots = 0, first = -1;
    QepPending *p;

    for (int i = 0; i < c->max_pending; i++) {
        if (!c->pend[i].tag) {
            free_slots++;
            first = first < 0 ? i : first;
        }
    }
    if (free_slots == 0 || (!reserved && free_slots <= QEP_LINK_RESERVED)) {
        return NULL;
    }
    p = &c->pend[first];
    do {
        p->tag = c->next_tag++;
        for (int j = 0; j < QEP_LINK_MAX_PENDING && p->tag; j++) {
            if (j != first && c->pend[j].tag == p->tag) {
                p->tag = 0;          /* still outstanding: next one */
            }
        }
    } while (!p->tag);
    p->arrived = p->done = p->abandoned = p->grace = false;
    p->status = NO_STATUS;
    p->cb = NULL;
    p->handle = 0;
    return p;
}

/* The length a successful completion of @type with @len asked must carry. */
static uint32_t cpl_data_len(uint16_t type, uint32_t len)
{
    switch (type) {
    case QEP_MSG_CFG_READ:
    case QEP_MSG_MEM_READ:
    case QEP_MSG_IO_READ:
        return len;
    default:
        return 0;
    }
}

/*
 * A slot for the request @msg, its tag set in it; NULL if it cannot go.
 * While the link is stalled, a request that someone waits for (@async
 * false) gets STALL_GRACE_MS instead of timeout-ms: a peer that is alive
 * answers within that, and its answer ends the stall; a silent one costs
 * the waiter no more.  Either way it is sent, in order, so a peer that was
 * only slow still applies it.
 */
static QepPending *link_prepare(QepConn *c, void *msg, size_t msg_len,
                                uint32_t len, bool async, bool reserved)
{
    struct qep_hdr h;
    QepPending *p = NULL;

    qep_hdr_decode(msg, msg_len, &h);
    qemu_mutex_lock(&c->lock);
    if (c->up && !c->dead) {
        p = link_alloc_pending(c, reserved);
    }
    if (p) {
        qep_set_tag(msg, p->tag);
        p->req_type = h.type;
        p->len = cpl_data_len(h.type, len);
        p->deadline_ms = now_ms() + (c->stalled && !async ? STALL_GRACE_MS
                                                          : c->timeout_ms);
        p->grace = c->stalled && !async;
    }
    qemu_mutex_unlock(&c->lock);
    return p;
}

/*
 * Run the connections' queues from a main loop that waits: what arrives
 * for the main loop is what a completion it waits for may depend on.
 * Returns whether it ran anything.  BQL held.
 */
static bool link_serve_all(void);

/*
 * The main loop waits for @p: it serves the queues while nothing else is
 * to be done, and sleeps (without the BQL) until something arrives.
 */
static void link_wait_main(QepConn *c, QepPending *p)
{
    serve_depth++;
    for (;;) {
        unsigned epoch;
        int64_t left;
        bool done;

        qemu_mutex_lock(&wait_lock);
        epoch = wait_epoch;
        qemu_mutex_unlock(&wait_lock);
        if (serve_depth <= MAX_SERVE_DEPTH) {
            link_serve_all();
        }
        qemu_mutex_lock(&c->lock);
        done = p->done || c->dead;
        left = p->deadline_ms - now_ms();
        qemu_mutex_unlock(&c->lock);
        if (done || left <= 0) {
            break;
        }
        bql_unlock();
        qemu_mutex_lock(&wait_lock);
        if (wait_epoch == epoch) {
            qemu_cond_timedwait(&wait_cond, &wait_lock, left);
        }
        qemu_mutex_unlock(&wait_lock);
        bql_lock();
    }
    serve_depth--;
}

/* A vCPU (any thread but the main loop's) waits for @p without the BQL. */
static void link_wait_vcpu(QepConn *c, QepPending *p)
{
    bool drop_bql = bql_locked();

    if (drop_bql) {
        bql_unlock();
    }
    qemu_mutex_lock(&c->lock);
    while (!p->done && !c->dead) {
        int64_t left = p->deadline_ms - now_ms();

        if (left <= 0) {
            break;
        }
        qemu_cond_timedwait(&c->cond, &c->lock, left);
    }
    qemu_mutex_unlock(&c->lock);
    if (drop_bql) {
        bql_lock();
    }
}

int qep_link_request(QepLink *l, void *msg, size_t msg_len,
                     void *data, uint32_t len)
{
    QepConn *c = l->conn;
    QepPending *p;
    bool timed_out, grace;
    uint16_t type, tag;
    int ret;

    if (!c) {
        return -1;
    }
    p = link_prepare(c, msg, msg_len, len, false, false);
    if (!p) {
        return -1;
    }
    type = p->req_type;
    tag = p->tag;
    grace = p->grace;           /* no completion can free it before it goes */
    trace_qep_link_request(qep_type_name(type), tag);
    conn_ref(c);
    if (conn_write(c, msg, msg_len, NULL, 0, link_take_note(l)) < 0) {
        qemu_mutex_lock(&c->lock);
        p->tag = 0;
        qemu_mutex_unlock(&c->lock);
        trace_qep_link_done(qep_type_name(type), tag, -1);
        conn_unref(c);
        return -1;
    }
    if (current_cpu) {
        link_wait_vcpu(c, p);
    } else {
        link_wait_main(c, p);
    }
    qemu_mutex_lock(&c->lock);
    timed_out = !p->done && !c->dead;
    ret = p->done && p->status != NO_STATUS ? p->status : -1;
    if (ret == QEP_CPL_SC && data) {
        memcpy(data, p->data, MIN(len, p->len));
    }
    if (timed_out) {
        c->stalled = true;      /* later requests get STALL_GRACE_MS */
        p->abandoned = true;    /* its completion may still come, until */
        p->deadline_ms = now_ms() + c->timeout_ms * ASYNC_TIMEOUT_FACTOR;
        timer_mod_anticipate(l->timer, p->deadline_ms);  /* frees the slot */
    } else {
        p->tag = 0;
    }
    qemu_mutex_unlock(&c->lock);
    /* back with the BQL: the link's own fields are ours again */
    if (ret == QEP_LINK_POISONED) {
        link_report(l, "%s tag %u: the completion's data is poisoned; it is "
                    "dropped (all-ones)", qep_type_name(type), tag);
    }
    if (timed_out && !grace && l->conn == c) {
        l->n_timeouts++;
        link_report(l, "peer did not complete %s (tag %u) within %u ms; "
                    "reads return all-ones until it answers",
                    qep_type_name(type), tag, c->timeout_ms);
    }
    trace_qep_link_done(qep_type_name(type), tag, ret);
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

static uint32_t link_request_async(QepLink *l, void *msg, size_t msg_len,
                                   uint32_t len, QepLinkDone *done,
                                   void *opaque, bool reserved)
{
    QepConn *c = l->conn;
    QepPending *p = c ? link_prepare(c, msg, msg_len, len, true, reserved)
                      : NULL;
    uint32_t handle;

    if (!p) {
        return 0;
    }
    qemu_mutex_lock(&c->lock);
    handle = next_handle++ ? : next_handle++;
    p->handle = handle;
    p->cb = done;
    p->cb_opaque = opaque;
    p->deadline_ms += (int64_t)c->timeout_ms * (ASYNC_TIMEOUT_FACTOR - 1);
    qemu_mutex_unlock(&c->lock);
    trace_qep_link_request(qep_type_name(p->req_type), p->tag);
    if (conn_write(c, msg, msg_len, NULL, 0, link_take_note(l)) < 0) {
        qemu_mutex_lock(&c->lock);
        p->tag = 0;
        qemu_mutex_unlock(&c->lock);
        return 0;
    }
    if (!timer_pending(l->timer) ||
        timer_expire_time_ns(l->timer) / SCALE_MS > p->deadline_ms) {
        timer_mod(l->timer, p->deadline_ms);
    }
    return handle;
}

uint32_t qep_link_request_async(QepLink *l, void *msg, size_t msg_len,
                                uint32_t len, QepLinkDone *done, void *opaque)
{
    return link_request_async(l, msg, msg_len, len, done, opaque, false);
}

uint32_t qep_link_request_reserved(QepLink *l, void *msg, size_t msg_len,
                                   uint32_t len, QepLinkDone *done,
                                   void *opaque)
{
    return link_request_async(l, msg, msg_len, len, done, opaque, true);
}

/* asynchronous requests failed by a disconnection, their callbacks due */
typedef struct Orphan {
    QepLink *l;
    uint32_t handle;
    QepLinkDone *cb;
    void *opaque;
} Orphan;

static GArray *orphans;      /* of Orphan, main loop */

void qep_link_cancel(QepLink *l, uint32_t handle)
{
    QepConn *c = l->conn;

    if (!handle) {
        return;
    }
    if (c) {
        qemu_mutex_lock(&c->lock);
        for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
            QepPending *p = &c->pend[i];

            if (p->tag && p->handle == handle) {
                /* a completion still to come finds no request: dropped */
                p->tag = 0;
                trace_qep_link_cancel(handle);
            }
        }
        qemu_mutex_unlock(&c->lock);
    }
    for (guint i = 0; orphans && i < orphans->len; i++) {
        Orphan *o = &g_array_index(orphans, Orphan, i);

        if (o->l == l && o->handle == handle) {
            o->cb = NULL;
        }
    }
}

static void link_run_orphans(void *unused)
{
    while (orphans && orphans->len) {
        Orphan o = g_array_index(orphans, Orphan, 0);

        g_array_remove_index(orphans, 0);
        if (o.cb) {
            o.cb(o.opaque, -1, NULL, 0);
        }
    }
}

/*
 * Fail the asynchronous requests of @c (all, or those past their deadline):
 * their callbacks run from a bottom half, unless cancelled first.  Lock
 * held.  Returns how many.
 */
static int link_fail_async(QepLink *l, QepConn *c, bool expired_only)
{
    int64_t now = now_ms();
    int n = 0;

    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        QepPending *p = &c->pend[i];
        Orphan o;

        if (!p->tag || !p->cb || (expired_only && p->deadline_ms > now)) {
            continue;
        }
        o = (Orphan) { l, p->handle, p->cb, p->cb_opaque };
        if (!orphans) {
            orphans = g_array_new(false, false, sizeof(Orphan));
        }
        g_array_append_val(orphans, o);
        p->tag = 0;
        n++;
    }
    if (n) {
        aio_bh_schedule_oneshot(qemu_get_aio_context(), link_run_orphans, NULL);
    }
    return n;
}

/*
 * A completion came in (I/O thread): into its request's buffer.  It may be
 * taken at once if nothing the peer sent before it waits for the main loop;
 * else, and for asynchronous requests, the main loop releases it in order.
 * Returns NULL, or why the completion is a protocol error.  Lock held.
 */
static const char *link_complete_locked(QepConn *c, const struct qep_msg *m,
                                        bool *queue, int *slot)
{
    QepPending *p = NULL;

    *queue = false;
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        if (c->pend[i].tag == m->hdr.tag && !c->pend[i].arrived) {
            p = &c->pend[i];
            *slot = i;
        }
    }
    if (!p) {
        *queue = true;          /* the main loop reports it, in order */
        *slot = -1;
        return NULL;
    }
    if (m->u.cpl.req_type != p->req_type) {
        return "protocol error: a completion of another type than its request";
    }
    if (m->u.cpl.status == QEP_CPL_SC && m->data_len != p->len) {
        return "protocol error: a successful completion without the data its "
               "request asked for";
    }
    if (m->u.cpl.status != QEP_CPL_SC && m->data_len) {
        return "protocol error: data in an unsuccessful completion";
    }
    if (m->hdr.flags & QEP_F_POISONED && !(c->negotiated & QEP_FEAT_POISON)) {
        return "protocol error: poisoned data without the POISON feature";
    }
    if (p->abandoned) {
        trace_qep_link_drop_completion(m->hdr.tag);
        p->tag = 0;
        return NULL;
    }
    if (m->hdr.flags & QEP_F_POISONED) {
        p->status = QEP_LINK_POISONED;  /* the data is not to be used */
    } else {
        p->status = m->u.cpl.status;
        memcpy(p->data, m->data, m->data_len);
    }
    p->arrived = true;
    if (!p->cb && QSIMPLEQ_EMPTY(&c->inq)) {
        p->done = true;
        qemu_cond_broadcast(&c->cond);
        wake_main();
    } else {
        *queue = true;
    }
    return NULL;
}

/* ---- receiving (the I/O thread) ------------------------------------------ */

/*
 * Read what the socket has.  A read that brings a descriptor ends with the
 * write it came with (the kernel does not read past it), and the sender
 * puts a descriptor on the first byte of its FDS message: the descriptor
 * belongs to the last message that starts within that read.  Returns the
 * bytes read, 0 if none now, -1 (and *why) at the end.
 */
static ssize_t rx_fill(QepConn *c, RxBuf *r, const char **why)
{
    struct iovec iov;
    int *f = NULL;
    size_t nf = 0;
    ssize_t n;
    int rx_errno;

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
    n = qio_channel_readv_full(c->ioc, &iov, 1, &f, &nf, 0, NULL);
    if (n == QIO_CHANNEL_ERR_BLOCK) {
        return 0;
    }
    rx_errno = errno;
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
    return n;
}

/*
 * The next whole message in @r, decoded, and the descriptor that belongs
 * to it; 0 if more bytes are needed, -1 (and *why) if it is invalid.
 */
static int rx_next(RxBuf *r, struct qep_msg *m, int *fd, const char **why)
{
    int n = qep_msg_decode(r->buf + r->head, r->tail - r->head, m);

    if (n == -QEP_E_SHORT) {
        return 0;
    }
    if (n < 0) {
        *why = qep_strerror(n);
        return -1;
    }
    *fd = -1;
    if (r->fd >= 0 && r->head >= r->fd_start && r->head + n >= r->fd_end) {
        /* the last message that starts within the read that brought it */
        *fd = r->fd;
        r->fd = -1;
    } else if (r->fd >= 0 && r->head >= r->fd_end) {
        *why = "a descriptor without its message";
        return -1;
    }
    if ((*fd >= 0) != (m->hdr.type == QEP_MSG_FDS &&
                       m->u.fds.kind == QEP_FD_GUEST_RAM)) {
        *why = *fd >= 0 ? "a descriptor with a message that carries none"
                        : "FDS GUEST_RAM without its descriptor";
        if (*fd >= 0) {
            close(*fd);
        }
        return -1;
    }
    r->head += n;
    return n;
}

/* Queue a message (or a completion's release) for the main loop.  Lock held. */
static void conn_queue_locked(QepConn *c, const void *buf, size_t len, int fd,
                              int slot, uint16_t tag)
{
    QepInMsg *m = g_malloc(sizeof(*m) + len);

    m->slot = slot;
    m->tag = tag;
    m->fd = fd;
    m->len = len;
    memcpy(m->buf, buf, len);
    QSIMPLEQ_INSERT_TAIL(&c->inq, m, next);
}

/* I/O thread: the socket has something.  Everything it has is taken in. */
static void conn_readable(void *opaque)
{
    QepConn *c = opaque;
    const char *why = NULL;
    bool queued = false, bad_msg = false;
    struct qep_msg m;

    qep_tsan_acquire(c);
    while (!why && rx_fill(c, &c->rx, &why) > 0) {
        int fd, n;

        while ((n = rx_next(&c->rx, &m, &fd, &why)) > 0) {
            const uint8_t *raw = c->rx.buf + c->rx.head - n;
            bool queue = true;
            int slot = -1;

            trace_qep_link_recv(qep_type_name(m.hdr.type), m.hdr.tag, n);
            qep_capture_msg(c->cap, QEP_CAP_RECEIVED, c->fn, QEP_NOTE_NONE,
                            raw, n);
            qemu_mutex_lock(&c->lock);
            c->stalled = false;
            if (m.hdr.type == QEP_MSG_COMPLETION && c->up) {
                why = link_complete_locked(c, &m, &queue, &slot);
            }
            if (!why && queue) {
                conn_queue_locked(c, raw, n, fd, slot, m.hdr.tag);
                queued = true;
            }
            qemu_mutex_unlock(&c->lock);
            if (why) {
                break;
            }
        }
        bad_msg = n < 0;
    }
    qemu_mutex_lock(&c->lock);
    if (why) {
        if (bad_msg && !c->io_error) {
            snprintf(c->io_error_buf, sizeof(c->io_error_buf),
                     "protocol error: %s (type %u, size %u)", why, m.hdr.type,
                     m.hdr.size);
            why = c->io_error_buf;
        }
        conn_fail_locked(c, why);
    } else if (queued) {
        qep_tsan_release(c);
        qemu_bh_schedule(c->bh);
        wake_main();
    }
    qemu_mutex_unlock(&c->lock);
}

/* ---- the main loop's side of a connection -------------------------------- */

static void link_dispatch(QepLink *l, const struct qep_msg *m, int fd);

/*
 * Run @c's queue (main loop, BQL held): messages in arrival order, and
 * the completions that came behind them.  Returns whether it ran anything.
 */
static bool conn_run_queue(QepConn *c)
{
    bool ran = false;
    const char *why;

    conn_ref(c);
    for (;;) {
        QepInMsg *in;
        QepLinkDone *cb = NULL;
        void *cb_opaque = NULL;
        int status = -1;
        uint32_t len = 0;
        uint8_t *data = NULL;

        qemu_mutex_lock(&c->lock);
        in = QSIMPLEQ_FIRST(&c->inq);
        if (in) {
            QSIMPLEQ_REMOVE_HEAD(&c->inq, next);
        }
        if (in && in->slot >= 0) {
            QepPending *p = &c->pend[in->slot];

            if (p->tag == in->tag && p->arrived && !c->dead) {
                if (p->cb) {
                    cb = p->cb;
                    cb_opaque = p->cb_opaque;
                    status = p->status;
                    len = p->status == QEP_CPL_SC ? p->len : 0;
                    data = g_memdup2(p->data, len);
                    p->tag = 0;
                } else if (p->abandoned) {
                    p->tag = 0;         /* its requester gave up on it */
                } else {
                    p->done = true;
                    qemu_cond_broadcast(&c->cond);
                    wake_main();
                }
            }
        }
        qemu_mutex_unlock(&c->lock);
        if (!in) {
            break;
        }
        ran = true;
        if (cb) {
            cb(cb_opaque, status, data, len);
            g_free(data);
        } else if (in->slot < 0) {
            struct qep_msg m;

            if (c->dead || !c->link ||
                qep_msg_decode(in->buf, in->len, &m) < 0) {
                if (in->fd >= 0) {
                    close(in->fd);
                }
            } else {
                link_dispatch(c->link, &m, in->fd);
            }
        }
        g_free(in);
    }
    /* set once by the I/O thread, under the lock, and never changed */
    qemu_mutex_lock(&c->lock);
    why = c->io_error;
    qemu_mutex_unlock(&c->lock);
    if (why && !c->dead && c->link) {
        QepLink *l = c->link;

        if (strstr(why, "protocol error")) {
            l->n_proto_errors++;
        } else if (strstr(why, "does not read")) {
            l->n_timeouts++;
        }
        qep_link_disconnect(l, why);
    }
    conn_unref(c);
    return ran;
}

static void conn_bh(void *opaque)
{
    qep_tsan_acquire(opaque);
    conn_run_queue(opaque);
}

static bool link_serve_all(void)
{
    bool ran = false;
    QepLink *l;

    QTAILQ_FOREACH(l, &link_all, next) {
        if (l->conn) {
            ran |= conn_run_queue(l->conn);
        }
    }
    return ran;
}

/* ---- handling (main loop, BQL held) -------------------------------------- */

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
    info_report("%s: %s: connected, %s%s", l->name, link_where(l), why,
                c->negotiated & QEP_FEAT_SHMEM ? ", shared memory on" : "");
    trace_qep_link_up(c->negotiated);
    qep_capture_event(l->capture, l->fn, QEP_NOTE_LINK, "connected, %s%s", why,
                      c->negotiated & QEP_FEAT_SHMEM
                      ? ", shared memory on: direct accesses are not captured"
                      : "");
    if (c->negotiated & QEP_FEAT_SHMEM) {
        link_shm_offer_all(l);
    }
    if (l->ops->connected) {
        l->ops->connected(l->opaque);
    }
}

/* One message from the queue; @fd is ours. */
static void link_dispatch(QepLink *l, const struct qep_msg *m, int fd)
{
    if (m->hdr.type == QEP_MSG_HELLO) {
        link_hello(l, m);
    } else if (!l->conn->up) {
        l->n_proto_errors++;
        qep_link_disconnect(l, "protocol error: message before HELLO");
    } else if (m->hdr.type == QEP_MSG_COMPLETION) {
        /* the answer to a request we gave up waiting for, or cancelled */
        trace_qep_link_drop_completion(m->hdr.tag);
        link_report(l, "dropping completion with unknown tag %u",
                    m->hdr.tag);
    } else if (m->hdr.type == QEP_MSG_FDS) {
        link_handle_fds(l, m, fd);
        return;
    } else {
        trace_qep_link_handle(qep_type_name(m->hdr.type), m->hdr.tag);
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

/* Main loop: the I/O thread's reference goes. */
static void conn_io_unref(void *opaque)
{
    qep_tsan_acquire(opaque);
    conn_unref(opaque);
}

/*
 * I/O thread: after any handler ran, it lets go.  Its reference is dropped
 * in the main loop: the last one frees the connection and deletes its
 * bottom half, which must not happen while the main loop may be running it.
 */
static void conn_io_release(void *opaque)
{
    QepConn *c = opaque;

    qep_tsan_acquire(c);
    qep_aio_set_fd_handler(io_ctx(), c->tx_tfd, NULL, NULL, NULL);
    close(c->tx_tfd);
    c->tx_tfd = -1;
    qep_tsan_release(c);
    aio_bh_schedule_oneshot(qemu_get_aio_context(), conn_io_unref, c);
}

/* The I/O thread lets go of @c. */
static void conn_io_stop(QepConn *c)
{
    qemu_mutex_lock(&c->lock);
    c->reading = c->writing = false;
    conn_set_handlers(c);
    c->io_stopped = true;
    qemu_mutex_unlock(&c->lock);
    qep_tsan_release(c);
    aio_bh_schedule_oneshot(io_ctx(), conn_io_release, c);
}

void qep_link_disconnect(QepLink *l, const char *why)
{
    QepConn *c = l->conn;
    bool was_up;

    if (!c) {
        return;
    }
    if (why) {
        link_report(l, "disconnecting: %s", why);
    } else {
        qep_capture_event(l->capture, l->fn, QEP_NOTE_LINK, "disconnected");
    }
    trace_qep_link_down(why ? why : "stopped");
    qemu_mutex_lock(&c->lock);
    was_up = c->up;
    c->dead = true;
    qatomic_set(&c->up, false);
    link_fail_async(l, c, false);
    qemu_cond_broadcast(&c->cond);
    conn_room_locked(c);
    qemu_mutex_unlock(&c->lock);
    wake_main();
    c->link = NULL;
    l->conn = NULL;
    conn_io_stop(c);
    /* wakes a peer that waits on us; the chardev sees its connection end */
    qio_channel_shutdown(c->ioc, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
    if (c->chr) {
        qemu_chr_fe_disconnect(c->chr);
    }
    conn_unref(c);
    timer_del(l->timer);
    link_shm_peer_drop(l, 0, UINT64_MAX);
    if (!l->server && !l->chr) {
        link_arm_timer(l, l->reconnect_ms);
    }
    if (was_up && l->ops->disconnected) {
        l->ops->disconnected(l->opaque);
    }
}

static void link_connected(QepLink *l, QIOChannel *ioc, QepCharFe *chr)
{
    uint8_t hello[QEP_MSG_BUF(sizeof(struct qep_hello))];
    QepConn *c;

    qio_channel_set_blocking(ioc, false, NULL);
    c = g_new0(QepConn, 1);
    c->refs = 2;                        /* the link and the I/O thread */
    c->link = l;
    c->ioc = ioc;
    c->fd = QIO_CHANNEL_SOCKET(ioc)->fd;
    c->chr = chr;
    c->timeout_ms = l->timeout_ms;
    c->max_pending = l->max_requests ? l->max_requests : QEP_LINK_MAX_PENDING;
    c->cap = qep_capture_ref(l->capture);
    c->fn = l->fn;
    c->next_tag = 1;
    c->rx.buf = g_malloc(RX_BUF);
    c->rx.fd = -1;
    c->bh = qemu_bh_new(conn_bh, c);
    c->tx_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (c->tx_tfd < 0) {
        /* the connection works, without the send queue's watchdog */
        error_report("qemu-epc link: timerfd_create: %s", strerror(errno));
    } else {
        qep_aio_set_fd_handler(io_ctx(), c->tx_tfd, conn_tx_check, NULL, c);
    }
    qemu_mutex_init(&c->lock);
    qemu_cond_init(&c->cond);
    qemu_cond_init(&c->tx_room);
    QSIMPLEQ_INIT(&c->txq);
    QSIMPLEQ_INIT(&c->inq);
    l->conn = c;
    l->generation++;
    trace_qep_link_connect();
    qep_capture_event(l->capture, l->fn, QEP_NOTE_LINK, "connection on %s",
                      link_where(l));
    conn_write(c, hello, qep_enc_hello(hello, l->role, l->features), NULL, 0,
               QEP_NOTE_NONE);
    qemu_mutex_lock(&c->lock);
    c->reading = true;
    conn_set_handlers(c);
    qemu_mutex_unlock(&c->lock);
    link_arm_timer(l, HELLO_WAIT_MS);   /* the peer must answer */
}

static void link_connected_fd(QepLink *l, int fd, QepCharFe *chr)
{
    QIOChannelSocket *sioc = qio_channel_socket_new_fd(fd, NULL);

    if (!sioc) {
        close(fd);
        if (chr) {
            qemu_chr_fe_disconnect(chr);
        }
        return;
    }
    link_connected(l, QIO_CHANNEL(sioc), chr);
}

static void link_try_connect(QepLink *l)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    if (link_held(l)) {
        if (l->hold_until_ms != INT64_MAX) {
            link_arm_timer(l, l->hold_until_ms - now_ms());
        }
        return;
    }
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
    link_connected_fd(l, fd, NULL);
}

static void link_accept(void *opaque)
{
    QepLink *l = opaque;
    int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    if (link_held(l)) {
        close(fd);                      /* an injected link-down, remove */
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
    link_connected_fd(l, fd, NULL);
}

/* HELLO deadline, reconnection, deadlines of asynchronous requests */
static void link_timer(void *opaque)
{
    QepLink *l = opaque;
    QepConn *c = l->conn;
    int64_t next = INT64_MAX;
    int n;

    if (!c) {
        if (!l->server && !l->chr) {
            link_try_connect(l);
        }
        return;
    }
    if (!c->up) {
        qep_link_disconnect(l, "peer sent no HELLO in time");
        return;
    }
    qemu_mutex_lock(&c->lock);
    n = link_fail_async(l, c, true);
    if (n) {
        c->stalled = true;
    }
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        QepPending *p = &c->pend[i];

        if (p->tag && p->abandoned && p->deadline_ms <= now_ms()) {
            p->tag = 0;         /* a completion that late is unknown */
        } else if (p->tag && (p->cb || p->abandoned)) {
            next = MIN(next, p->deadline_ms);
        }
    }
    qemu_mutex_unlock(&c->lock);
    if (n) {
        l->n_timeouts += n;
        link_report(l, "peer did not complete %d request(s) of the DMA engine "
                    "within %u ms", n, c->timeout_ms * ASYNC_TIMEOUT_FACTOR);
    }
    if (next != INT64_MAX) {
        timer_mod(l->timer, next);
    }
}

/*
 * chardev=: each connection the chardev makes is the link's, through a
 * descriptor of its own.  The chardev closes its channel from the main
 * loop when it sees the peer go, while the link's I/O thread may still be
 * reading or writing the socket; with the chardev's own number, a new
 * connection accepted under that number would get the old one's bytes.
 * The duplicate lives until the I/O thread has let go of the connection.
 */
static void link_chr_connected(QepLink *l, int chr_fd)
{
    int fd = fcntl(chr_fd, F_DUPFD_CLOEXEC, 0);

    if (fd < 0) {
        link_report(l, "cannot take the chardev's connection: %s",
                    strerror(errno));
        qemu_chr_fe_disconnect(l->chr);
        return;
    }
    link_connected_fd(l, fd, l->chr);
}

/* chardev=: each connection the chardev makes is the link's */
static int link_chr_can_read(void *opaque)
{
    return 0;                   /* the link reads the channel itself */
}

static void link_chr_event(void *opaque, QEMUChrEvent event)
{
    QepLink *l = opaque;
    Chardev *chr = qemu_chr_fe_get_driver(l->chr);

    switch (event) {
    case CHR_EVENT_OPENED:
        if (l->conn) {
            /* the chardev's connection is the new one now: leave it */
            l->conn->chr = NULL;
            qep_link_disconnect(l, "the chardev made a new connection");
        }
        l->last_error[0] = 0;
        link_chr_connected(l, SOCKET_CHARDEV(chr)->sioc->fd);
        break;
    case CHR_EVENT_CLOSED:
        /*
         * The chardev has ended the connection, and holds its write lock
         * while it says so: it must not be asked to disconnect again
         */
        if (l->conn) {
            l->conn->chr = NULL;
            qep_link_disconnect(l, "peer closed the connection");
        }
        break;
    default:
        break;
    }
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
    /*
     * Owner-only from the start: Linux gives the socket file the mode of
     * the socket's inode, less the umask, so 0600 (or stricter if the
     * user's umask says so) without touching the process's umask.
     */
    if (fd < 0 || fchmod(fd, 0600) < 0 ||
        bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 2) < 0) {
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

/* The chardev= of a device: a connected-or-listening Unix socket chardev. */
static int link_chr_check(QepLink *l, Error **errp)
{
    Chardev *chr = qemu_chr_fe_get_driver(l->chr);

    if (!chr) {
        error_setg(errp, "property 'chardev' names no character device");
        return -1;
    }
    if (!object_dynamic_cast(OBJECT(chr), TYPE_CHARDEV_SOCKET) ||
        !qemu_chr_has_feature(chr, QEMU_CHAR_FEATURE_FD_PASS)) {
        error_setg(errp, "chardev '%s' is not a Unix socket chardev (-chardev "
                   "socket,path=...): the link needs one, to pass descriptors",
                   chr->label);
        return -1;
    }
    return 0;
}

int qep_link_start(QepLink *l, Error **errp)
{
    bool have_chr = l->chr && qemu_chr_fe_backend_connected(l->chr);

    if ((!l->path || !*l->path) && !have_chr) {
        error_setg(errp, "property 'socket' or 'chardev' is required");
        return -1;
    }
    if (l->path && *l->path && have_chr) {
        error_setg(errp, "properties 'socket' and 'chardev' exclude each "
                   "other");
        return -1;
    }
    if (have_chr && link_chr_check(l, errp) < 0) {
        return -1;
    }
    if (!have_chr) {
        l->chr = NULL;
    }
    error_setg(&l->migration_blocker, "%s: the link on %s cannot be migrated "
               "(the peer QEMU and the link state stay behind)", l->name,
               l->path ? l->path : "its chardev");
    if (migrate_add_blocker(&l->migration_blocker, errp) < 0) {
        return -1;
    }
    if (!link_iothread_users++) {
        link_iothread = iothread_create("qemu-epc-link", errp);
        if (!link_iothread) {
            link_iothread_users = 0;
            migrate_del_blocker(&l->migration_blocker);
            return -1;
        }
    }
    l->conn = NULL;
    l->listen_fd = -1;
    l->timer = timer_new_ms(QEMU_CLOCK_REALTIME, link_timer, l);
    QTAILQ_INSERT_TAIL(&link_all, l, next);
    link_shm_start(l);
    if (l->chr) {
        qemu_chr_fe_set_handlers(l->chr, link_chr_can_read, NULL,
                                 link_chr_event, NULL, l, NULL, true);
    } else if (l->server && link_listen(l, errp) < 0) {
        qep_link_stop(l);
        return -1;
    } else if (!l->server) {
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
    if (l->chr) {
        qemu_chr_fe_set_handlers(l->chr, NULL, NULL, NULL, NULL, NULL, NULL,
                                 true);
    }
    qep_link_disconnect(l, NULL);
    link_delayed_drop_all(l);
    link_shm_stop(l);
    timer_free(l->timer);
    l->timer = NULL;
    QTAILQ_REMOVE(&link_all, l, next);
    for (guint i = 0; orphans && i < orphans->len; i++) {
        Orphan *o = &g_array_index(orphans, Orphan, i);

        if (o->l == l) {
            o->cb = NULL;
        }
    }
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
    /* the I/O thread stays: connections being released still use it */
    link_iothread_users--;
}
