/*
 * qemu-epc link layer: one Unix stream socket between qemu-epc and
 * epf-bridge, the HELLO handshake, tags and completions, bounded waits, and
 * the shared guest RAM each side offers the other.  Shared by both devices.
 *
 * Contexts (docs/protocol.md, "Threads and ordering"):
 * - the link's I/O runs in an IOThread of its own (one per QEMU process,
 *   "qemu-epc link"): it reads and checks messages, completes replies into
 *   buffers the link owns and queues everything else for the main loop.  It
 *   never runs device code and never takes the BQL;
 * - requests and messages from the peer are handled in the main loop, in a
 *   bottom half, in the order they came, with the BQL held (QepLinkOps);
 * - a requester waits for its completion without the BQL: a vCPU sleeps,
 *   the main loop serves the links' queues meanwhile (so two sides that
 *   wait on each other, or a request whose service needs another link,
 *   both progress).  Every wait is bounded by timeout-ms.
 * So device code runs only under the BQL, in the main loop or in a vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_EPC_LINK_H
#define QEMU_EPC_LINK_H

/* include "qemu/osdep.h" first */
#include "qemu/notify.h"
#include "qemu/queue.h"
#include "qemu/thread.h"
#include "chardev/char-fe.h"
#include "io/channel-socket.h"
#include "epc-qemu-compat.h"
#include "qemu-epc-proto.h"
#include "epc-capture.h"
#include "epc-inject.h"

/*
 * ThreadSanitizer build (-Dtsan=true): the QEMU binary is not instrumented,
 * so the runtime does not see how QEMU hands work to another thread (a
 * bottom half scheduled, an fd handler set, a timer armed in another
 * AioContext, call_rcu).  The link marks those edges: qep_tsan_release()
 * where it hands @obj over, qep_tsan_acquire() where the other side's
 * callback starts.  Its own locks and atomics need no mark.
 */
#ifdef QEP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define qep_tsan_release(obj) __tsan_release(obj)
#define qep_tsan_acquire(obj) __tsan_acquire(obj)
#else
#define qep_tsan_release(obj) ((void)(obj))
#define qep_tsan_acquire(obj) ((void)(obj))
#endif

/* the largest message, header included */
#define QEP_MSG_MAX        (sizeof(struct qep_hdr) + QEP_MAX_PAYLOAD)
/* a buffer for one message of the given payload type, header included */
#define QEP_MSG_BUF(payload) (sizeof(struct qep_hdr) + (payload))

typedef struct QepLink QepLink;
typedef struct QepDelayed QepDelayed;

typedef struct QepLinkOps {
    /*
     * A request or message from the peer other than HELLO, COMPLETION and
     * FDS: main loop, BQL held, in arrival order.  A non-posted request is
     * answered with qep_link_complete(), now or later (keep its header).
     */
    void (*handle)(void *opaque, const struct qep_msg *msg);
    void (*connected)(void *opaque);     /* HELLO exchanged */
    void (*disconnected)(void *opaque);  /* after being connected */
    /*
     * The peer's shared RAM changed: regions were added, or are about to
     * be unmapped (the device must stop using pointers from
     * qep_link_peer_ram() before returning).  Main loop, BQL held.
     */
    void (*peer_ram_changed)(void *opaque);
    /* The RAM this side offers changed (BQL held). */
    void (*own_ram_changed)(void *opaque);
} QepLinkOps;

#define QEP_LINK_MAX_PENDING 64
/*
 * Request slots of a connection kept for qep_link_request_reserved(): the
 * other requests take a slot only while more than this many are free.
 */
#define QEP_LINK_RESERVED 16
#define QEP_LINK_MAX_REGIONS 16

/*
 * The end of an asynchronous request: main loop, BQL held.  @status is the
 * completion status (enum qep_cpl_status), or -1 when the link went down or
 * the peer did not answer in time; a read's data (@len bytes, in a buffer
 * of the link that is valid during the call) only with QEP_CPL_SC.
 */
typedef void QepLinkDone(void *opaque, int status, const void *data,
                         uint32_t len);

/* a status besides enum qep_cpl_status: a completion with poisoned data */
#define QEP_LINK_POISONED  0x100

/* a guest RAM range one side offers the other (FDS GUEST_RAM) */
typedef struct QepRamRegion {
    uint64_t gpa, size;
    void *host;              /* peer regions: our mapping of it */
    MemoryRegion *mr;        /* peer regions: that mapping, as QEMU's */
    int fd;                  /* own regions: the backing fd */
    uint64_t offset;         /* own regions: offset in the fd */
} QepRamRegion;

/* one connection; the I/O thread and waiters hold references (epc-link.c) */
typedef struct QepConn QepConn;

struct QepLink {
    /* configuration */
    const char *name;        /* "qemu-epc" or "epf-bridge", for messages */
    char *path;              /* socket=, or NULL with a chardev */
    QepCharFe *chr;        /* chardev=: a socket chardev the user set up */
    bool server;
    enum qep_role role;
    uint64_t features;       /* offered */
    uint32_t timeout_ms;     /* completion wait */
    uint32_t max_requests;   /* request slots (0: QEP_LINK_MAX_PENDING) */
    uint32_t reconnect_ms;   /* client retry period */
    AddressSpace *dma_as;    /* what the device reaches: its RAM is offered */
    Object *owner;           /* the device, owner of the peer RAM regions */
    const QepLinkOps *ops;
    void *opaque;
    QepCapture *capture;     /* capture=: the device's, or NULL */
    uint8_t fn;              /* the function's number, for the capture */

    /* state, under the BQL */
    QepConn *conn;           /* NULL: not connected */
    uint64_t generation;     /* counts connections */
    int listen_fd;
    bool bound;              /* we created path */
    Notifier exit_notifier;  /* removes path when QEMU exits */
    Error *migration_blocker;  /* a socket and a peer do not migrate */
    QEMUTimer *timer;        /* reconnect, HELLO deadline, request deadlines */
    MemoryListener listener; /* the RAM of dma_as, when SHMEM is on */
    bool listening;
    QepRamRegion own[QEP_LINK_MAX_REGIONS];
    int n_own;
    QepRamRegion peer[QEP_LINK_MAX_REGIONS];
    int n_peer;
    char last_error[160];    /* suppresses repeated identical reports */
    uint16_t note;           /* enum qep_cap_note of the next message sent */
    QepFaults faults;        /* injected faults still to act */
    int64_t hold_until_ms;   /* link-down/remove: no connection before */
    QSLIST_HEAD(, QepDelayed) delayed;  /* messages a fault holds back */
    QTAILQ_ENTRY(QepLink) next;  /* every started link, for main-loop waits */

    /* counters */
    uint64_t n_timeouts;
    uint64_t n_proto_errors;
};

/*
 * Start the link: with a path, a server binds and listens on it (replacing
 * only a stale socket), a client connects and keeps retrying every
 * reconnect_ms; with a chardev, the link uses each connection the chardev
 * makes.  Returns 0, or -1 with *errp set.
 */
int qep_link_start(QepLink *l, Error **errp);
void qep_link_stop(QepLink *l);

/*
 * The next message this link sends is captured with @note (an MSI, a DMA
 * request ...: what the wire does not say).  BQL held.
 */
void qep_link_note(QepLink *l, enum qep_cap_note note);

/*
 * Replace the link's injected faults with the rules of @spec (docs/
 * qemu-epc.md, "Fault injection"); link-down and remove act at once.
 * 0, or -1 and *errp (the rules in place stay).  BQL held.
 */
int qep_link_set_faults(QepLink *l, const char *spec, Error **errp);

/* Is @spec a valid inject spec?  If not, false and *errp. */
bool qep_faults_valid(const char *spec, Error **errp);

/* The rules still to act, as a spec (g_free it).  BQL held. */
char *qep_link_get_faults(QepLink *l);

/* Is the connection up (HELLO exchanged)? */
bool qep_link_up(QepLink *l);

/*
 * Which connection the link has: a completion decided later (after an
 * unmap, say) goes only on the connection that asked for it.
 */
static inline uint64_t qep_link_generation(QepLink *l)
{
    return l->generation;
}

/* Is the connection up with @feature (QEP_FEAT_*) negotiated? */
bool qep_link_has(QepLink *l, uint64_t feature);

/*
 * Send a posted message (INTX, LINK, posted MEM_WRITE, MAP, RESET).  It
 * never waits: what the socket does not take at once is queued for the I/O
 * thread.  0, or -1 when not connected.  Any thread.
 */
int qep_link_send(QepLink *l, void *msg, size_t len);

/*
 * Send a non-posted request (tag assigned here) and wait for its
 * completion, at most timeout_ms.  Read data (@len bytes, exactly as many
 * as a successful completion must carry) is copied to @data once the
 * completion is in.  Returns the completion status (enum qep_cpl_status),
 * or -1 when the link is down, the peer vanished or did not answer in time.
 * A vCPU waits without the BQL; the main loop serves the links' queues
 * while it waits.  Not for the link's I/O thread.
 */
int qep_link_request(QepLink *l, void *msg, size_t msg_len,
                     void *data, uint32_t len);

/*
 * The same without waiting: @done runs in the main loop with the BQL held
 * (also with -1 when the link goes down or the deadline of 10 x timeout-ms
 * passes), exactly once unless the request is cancelled first.  Returns a
 * request handle (> 0) for qep_link_cancel(), or 0 if the request could not
 * be sent (then @done is not called).  Main loop or vCPU, BQL held.
 */
uint32_t qep_link_request_async(QepLink *l, void *msg, size_t msg_len,
                                uint32_t len, QepLinkDone *done, void *opaque);

/*
 * The same for a request that must not fail for want of a slot while the
 * link is up (the withdrawal of a direct mapping: without it, the
 * connection must end).  It may take the QEP_LINK_RESERVED slots the
 * others leave free; the caller has no more than that outstanding.
 */
uint32_t qep_link_request_reserved(QepLink *l, void *msg, size_t msg_len,
                                   uint32_t len, QepLinkDone *done,
                                   void *opaque);

/*
 * Forget an asynchronous request: its @done will not run, and a
 * completion that still arrives is dropped.  BQL held.
 */
void qep_link_cancel(QepLink *l, uint32_t handle);

/* Answer the non-posted request whose header is @req (now or later). */
void qep_link_complete(QepLink *l, const struct qep_hdr *req,
                       enum qep_cpl_status status, const void *data,
                       uint32_t len);

/*
 * Read @size (1..8) bytes at @addr of the peer with a non-posted request of
 * @type (MEM_READ, IO_READ; CFG_READ with @addr the config offset) and wait.
 * The value, or all-ones of @size bytes when the link is down, the peer does
 * not answer in time or answers with an error status.  @status (if not NULL)
 * gets what qep_link_request() returned.
 */
uint64_t qep_link_read(QepLink *l, enum qep_msg_type type, uint64_t addr,
                       unsigned size, int *status);

/*
 * Flow control of posted writes (PCIe's credits): may a posted write of
 * @len bytes go now?  While more than the link's credit is queued a vCPU
 * (@resume NULL) waits without the BQL until the I/O thread has written it
 * out, at most timeout_ms; false then (the write is not sent: the peer does
 * not read).  The main loop never waits: with @resume it gets false and
 * @resume is scheduled once there is room again.  BQL held.
 */
bool qep_link_credit(QepLink *l, QEMUBH *resume);

/*
 * Write @size (1..8) bytes of @val at @addr of the peer: MEM_WRITE is posted
 * (returns 0, or -1 when not sent), IO_WRITE and CFG_WRITE wait for their
 * completion (returns as qep_link_request()).
 */
int qep_link_write(QepLink *l, enum qep_msg_type type, uint64_t addr,
                   unsigned size, uint64_t val);

/* @len bytes at @addr of @pdev's DMA address space, as a bus master. */
MemTxResult qep_pci_dma_rw(PCIDevice *pdev, uint64_t addr, bool write,
                           const void *wdata, void *rdata, uint32_t len);

/*
 * Answer the memory request @req (if it is non-posted) with the outcome @r
 * of serving it; @data holds what a read returned.
 */
void qep_link_complete_mem(QepLink *l, const struct qep_msg *req,
                           MemTxResult r, const void *data);

/*
 * Serve the memory request @req as a bus-master access of @pdev at @addr
 * and answer it; the caller has checked that it may.  Returns the outcome.
 */
MemTxResult qep_link_serve_dma(QepLink *l, PCIDevice *pdev,
                               const struct qep_msg *req, uint64_t addr);

/* Drop the connection (the client side reconnects).  BQL held. */
void qep_link_disconnect(QepLink *l, const char *why);

/*
 * The host address of the peer's shared RAM at [gpa, gpa + size), or NULL
 * if it is not one region the peer offered.  Call under RCU or the BQL; the
 * pointer is valid until peer_ram_changed says otherwise.
 */
void *qep_link_peer_ram(QepLink *l, uint64_t gpa, uint64_t size);

/*
 * The same as QEMU's memory: the peer's RAM region that holds [gpa, gpa +
 * size) and the offset of gpa in it, or NULL.  Valid as the pointer above.
 */
MemoryRegion *qep_link_peer_mr(QepLink *l, uint64_t gpa, uint64_t size,
                               uint64_t *offset);

/* Is [gpa, gpa + size) inside one region this side offers the peer? */
bool qep_link_own_ram(QepLink *l, uint64_t gpa, uint64_t size);

/*
 * Run @done (main loop, BQL held) once no vCPU of this QEMU can still reach
 * memory through a mapping removed before this call: after every vCPU has
 * taken the new memory map (TCG flushes its TLBs then) and an RCU grace
 * period.  For confirming to the peer that a mapping is gone.
 */
void qep_after_unmap(void (*done)(void *opaque), void *opaque);

#endif /* QEMU_EPC_LINK_H */
