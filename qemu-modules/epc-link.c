/*
 * qemu-epc link layer, shared by qemu-epc and epf-bridge.
 *
 * Both devices run their link from the main loop (fd handler) and from vCPU
 * threads (a BAR or window access waiting for a completion), always under
 * the BQL.  While a side waits for a completion it keeps reading the socket
 * and serving the peer's requests, so two sides waiting on each other never
 * deadlock; every wait is bounded by timeout_ms.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/cutils.h"
#include "qemu/sockets.h"
#include "system/system.h"
#include "migration/blocker.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "epc-link.h"

#define RX_MAX        (16 * 1024 * 1024)  /* unread bytes before giving up */
#define MSG_MAX       (sizeof(struct qep_hdr) + QEP_MAX_PAYLOAD)
#define HELLO_WAIT_MS 2000

static void link_read_ready(void *opaque);
static void link_dispatch(QepLink *l);
static bool link_fill(QepLink *l);

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

/* ---- connection life cycle ---------------------------------------------- */

static void link_arm_timer(QepLink *l, uint32_t ms)
{
    timer_mod(l->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + ms);
}

static void link_fail_pending(QepLink *l)
{
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        if (l->pend[i].tag && !l->pend[i].done) {
            l->pend[i].done = true;
            l->pend[i].status = UINT16_MAX;     /* no completion */
        }
    }
}

void qep_link_disconnect(QepLink *l, const char *why)
{
    bool was_up = l->up;

    if (l->fd < 0) {
        return;
    }
    if (why) {
        link_report(l, "disconnecting: %s", why);
    }
    qemu_set_fd_handler(l->fd, NULL, NULL, NULL);
    close(l->fd);
    l->fd = -1;
    l->up = false;
    l->stalled = false;
    l->rx_head = l->rx_tail = 0;
    link_fail_pending(l);
    timer_del(l->timer);
    if (!l->server) {
        link_arm_timer(l, l->reconnect_ms);
    }
    if (was_up && l->ops->disconnected) {
        l->ops->disconnected(l->opaque);
    }
}

/* Write a whole message; bounded by timeout_ms if the peer does not drain. */
static int link_write(QepLink *l, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    int64_t deadline = now_ms() + l->timeout_ms;

    while (len) {
        ssize_t n = send(l->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            qep_link_disconnect(l, strerror(errno));
            return -1;
        }
        /* socket full: keep reading so that a peer writing to us progresses */
        struct pollfd pfd = { .fd = l->fd, .events = POLLOUT | POLLIN };
        int64_t left = deadline - now_ms();

        if (left <= 0 || poll(&pfd, 1, left) == 0) {
            l->n_timeouts++;
            qep_link_disconnect(l, "peer does not read its socket");
            return -1;
        }
        if (pfd.revents & POLLIN) {
            if (l->rx_tail - l->rx_head + MSG_MAX > RX_MAX) {
                qep_link_disconnect(l, "receive buffer overflow");
                return -1;
            }
            if (!link_fill(l)) {
                return -1;
            }
        }
    }
    return 0;
}

static void link_connected_fd(QepLink *l, int fd)
{
    uint8_t hello[MSG_MAX];
    size_t n;

    qemu_socket_set_nonblock(fd);
    l->fd = fd;
    l->up = false;
    l->rx_head = l->rx_tail = 0;
    qemu_set_fd_handler(fd, link_read_ready, NULL, l);
    n = qep_enc_hello(hello, l->role, l->features);
    if (link_write(l, hello, n) == 0) {
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

static void link_timer(void *opaque)
{
    QepLink *l = opaque;

    if (l->fd >= 0 && !l->up) {
        qep_link_disconnect(l, "peer sent no HELLO in time");
    } else if (l->fd < 0 && !l->server) {
        link_try_connect(l);
    }
}

/* Bind the listening socket; only a stale socket may be replaced. */
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
    l->rx_cap = 2 * MSG_MAX;
    l->rx = g_malloc(l->rx_cap);
    l->next_tag = 1;
    l->timer = timer_new_ms(QEMU_CLOCK_REALTIME, link_timer, l);
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
    g_free(l->rx);
    l->rx = NULL;
}

/* ---- receiving ------------------------------------------------------------ */

/* Read what the socket has; false if the connection was lost. */
static bool link_fill(QepLink *l)
{
    for (;;) {
        ssize_t n;

        if (l->rx_head == l->rx_tail) {
            l->rx_head = l->rx_tail = 0;
        } else if (l->rx_head && l->rx_cap - l->rx_tail < MSG_MAX) {
            memmove(l->rx, l->rx + l->rx_head, l->rx_tail - l->rx_head);
            l->rx_tail -= l->rx_head;
            l->rx_head = 0;
        }
        if (l->rx_cap - l->rx_tail < MSG_MAX) {
            if (l->rx_cap >= RX_MAX) {
                return true;                  /* drain what we have first */
            }
            l->rx_cap *= 2;
            l->rx = g_realloc(l->rx, l->rx_cap);
        }
        n = recv(l->fd, l->rx + l->rx_tail, l->rx_cap - l->rx_tail,
                 MSG_DONTWAIT);
        if (n > 0) {
            l->rx_tail += n;
            if ((size_t)n < MSG_MAX) {
                return true;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        qep_link_disconnect(l, n == 0 ? "peer closed the connection"
                                      : strerror(errno));
        return false;
    }
}

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
    l->up = true;
    l->stalled = false;
    l->negotiated = l->features & m->u.hello.features;
    l->last_error[0] = 0;
    info_report("%s: %s: connected, %s", l->name, l->path, why);
    if (l->ops->connected) {
        l->ops->connected(l->opaque);
    }
}

static void link_completion(QepLink *l, const struct qep_msg *m)
{
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        QepPending *p = &l->pend[i];

        if (p->tag != m->hdr.tag || p->done) {
            continue;
        }
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
        return;
    }
    /* the answer to a request we gave up waiting for */
    link_report(l, "dropping completion with unknown tag %u", m->hdr.tag);
}

/* Handle every complete message in the receive buffer. */
static void link_dispatch(QepLink *l)
{
    while (l->fd >= 0 && l->rx_tail > l->rx_head) {
        uint8_t copy[MSG_MAX];
        struct qep_msg m;
        size_t avail = l->rx_tail - l->rx_head;
        int n = qep_msg_decode(l->rx + l->rx_head, avail, &m);

        if (n == -QEP_E_SHORT) {
            return;
        }
        if (n < 0) {
            char why[128];

            l->n_proto_errors++;
            snprintf(why, sizeof(why), "protocol error: %s (type %u, size %u)",
                     qep_strerror(n), m.hdr.type, m.hdr.size);
            qep_link_disconnect(l, why);
            return;
        }
        /* take the message out first: handlers may wait and read again */
        memcpy(copy, l->rx + l->rx_head, n);
        l->rx_head += n;
        qep_msg_decode(copy, n, &m);
        l->stalled = false;

        if (m.hdr.type == QEP_MSG_HELLO) {
            link_hello(l, &m);
        } else if (!l->up) {
            l->n_proto_errors++;
            qep_link_disconnect(l, "protocol error: message before HELLO");
        } else if (m.hdr.type == QEP_MSG_COMPLETION) {
            link_completion(l, &m);
        } else if (m.hdr.type == QEP_MSG_FDS) {
            /* shared memory is not negotiated by this version */
            l->n_proto_errors++;
            qep_link_disconnect(l, "protocol error: FDS without the SHMEM "
                                "feature");
        } else {
            l->ops->handle(l->opaque, &m);
        }
    }
}

static void link_read_ready(void *opaque)
{
    QepLink *l = opaque;

    if (link_fill(l)) {
        link_dispatch(l);
    }
}

/* ---- sending -------------------------------------------------------------- */

int qep_link_send(QepLink *l, void *msg, size_t len)
{
    if (!l->up) {
        return -1;
    }
    return link_write(l, msg, len);
}

void qep_link_complete(QepLink *l, const struct qep_msg *req,
                       enum qep_cpl_status status, const void *data,
                       uint32_t len)
{
    uint8_t buf[MSG_MAX];
    size_t n;

    if (status != QEP_CPL_SC) {
        len = 0;
    }
    n = qep_enc_cpl(buf, req->hdr.tag, req->hdr.type, status, data, len);
    qep_link_send(l, buf, n);
}

static QepPending *link_alloc_pending(QepLink *l)
{
    for (int i = 0; i < QEP_LINK_MAX_PENDING; i++) {
        if (!l->pend[i].tag) {
            QepPending *p = &l->pend[i];

            /* tags are never 0 and never reused while outstanding */
            do {
                p->tag = l->next_tag++;
                if (!l->next_tag) {
                    l->next_tag = 1;
                }
            } while (!p->tag);
            return p;
        }
    }
    return NULL;
}

int qep_link_request(QepLink *l, void *msg, size_t msg_len,
                     void *data, uint32_t len)
{
    QepPending *p;
    struct qep_hdr h;
    int64_t deadline;
    int ret;

    if (!l->up || l->stalled || l->depth >= QEP_LINK_MAX_DEPTH) {
        return -1;
    }
    p = link_alloc_pending(l);
    if (!p) {
        return -1;
    }
    qep_hdr_decode(msg, msg_len, &h);
    qep_set_tag(msg, p->tag);
    p->req_type = h.type;
    p->done = false;
    p->data = data;
    p->len = len;
    l->depth++;
    deadline = now_ms() + l->timeout_ms;
    if (link_write(l, msg, msg_len) == 0) {
        while (!p->done && l->fd >= 0) {
            struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
            int64_t left = deadline - now_ms();

            link_dispatch(l);             /* bytes read while writing */
            if (p->done || l->fd < 0) {
                break;
            }
            if (left <= 0) {
                break;
            }
            if (poll(&pfd, 1, left) > 0 && link_fill(l)) {
                link_dispatch(l);
            }
        }
    }
    l->depth--;
    if (p->done && p->status != UINT16_MAX) {
        ret = p->status;
    } else {
        if (!p->done && l->fd >= 0) {
            l->n_timeouts++;
            l->stalled = true;
            link_report(l, "peer did not complete %s (tag %u) within %u ms; "
                        "reads return all-ones until it answers",
                        qep_type_name(p->req_type), p->tag, l->timeout_ms);
        }
        ret = -1;
    }
    p->tag = 0;
    return ret;
}
