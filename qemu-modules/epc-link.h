/*
 * qemu-epc link layer: one Unix stream socket between qemu-epc and
 * epf-bridge, the HELLO handshake, tags and completions, bounded waits, and
 * the shared guest RAM each side offers the other.  Shared by both devices;
 * the state machine is described in docs/protocol.md ("Connection life
 * cycle", "Threads and ordering").
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_EPC_LINK_H
#define QEMU_EPC_LINK_H

/* include "qemu/osdep.h" first */
#include "qemu/notify.h"
#include "qemu/queue.h"
#include "qemu/thread.h"
#include "io/channel-socket.h"
#include "epc-qemu-compat.h"
#include "qemu-epc-proto.h"

/* the largest message, header included */
#define QEP_MSG_MAX        (sizeof(struct qep_hdr) + QEP_MAX_PAYLOAD)
/* a buffer for one message of the given payload type, header included */
#define QEP_MSG_BUF(payload) (sizeof(struct qep_hdr) + (payload))

typedef struct QepLink QepLink;

typedef struct QepLinkOps {
    /*
     * A message from the peer other than HELLO, COMPLETION and FDS, in the
     * link's receive thread with the BQL held.  A non-posted request must
     * be answered with qep_link_complete().  The callbacks below run with
     * the BQL held too, in that thread or another.
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
#define QEP_LINK_MAX_REGIONS 16

/* the completion of an asynchronous request; status as qep_link_request() */
typedef void QepLinkDone(void *opaque, int status);

typedef struct QepPending {
    uint16_t tag;            /* 0: slot free */
    uint16_t req_type;
    bool done;
    uint16_t status;
    uint8_t *data;           /* where read data goes */
    uint32_t len;
    QepLinkDone *cb;         /* asynchronous: called in the main loop */
    void *cb_opaque;
    int64_t deadline_ms;
} QepPending;

/* a guest RAM range one side offers the other (FDS GUEST_RAM) */
typedef struct QepRamRegion {
    uint64_t gpa, size;
    void *host;              /* peer regions: our mapping of it */
    int fd;                  /* own regions: the backing fd */
    uint64_t offset;         /* own regions: offset in the fd */
} QepRamRegion;

/* one connection; its threads hold references to it (epc-link.c) */
typedef struct QepConn QepConn;

struct QepLink {
    /* configuration */
    const char *name;        /* "qemu-epc" or "epf-bridge", for messages */
    char *path;
    bool server;
    enum qep_role role;
    uint64_t features;       /* offered */
    uint32_t timeout_ms;     /* completion wait */
    uint32_t reconnect_ms;   /* client retry period */
    AddressSpace *dma_as;    /* what the device reaches: its RAM is offered */
    const QepLinkOps *ops;
    void *opaque;

    /* state, under the BQL */
    QepConn *conn;           /* NULL: not connected */
    int listen_fd;
    bool bound;              /* we created path */
    Notifier exit_notifier;  /* removes path when QEMU exits */
    Error *migration_blocker;  /* a socket and a peer do not migrate */
    QEMUTimer *timer;        /* reconnect, HELLO deadline, request deadlines */
    MemoryListener listener; /* the RAM of dma_as, when SHMEM is on */
    bool listening;
    QepRamRegion own[QEP_LINK_MAX_REGIONS];
    int n_own;
    QepRamRegion peer[QEP_LINK_MAX_REGIONS];   /* unmapped after RCU */
    int n_peer;
    char last_error[160];    /* suppresses repeated identical reports */

    /* counters; not reported anywhere yet */
    uint64_t n_timeouts;
    uint64_t n_proto_errors;
};

/*
 * Start the link: a server binds and listens on l->path (replacing only a
 * stale socket), a client connects and keeps retrying every reconnect_ms.
 * Returns 0, or -1 with *errp set.
 */
int qep_link_start(QepLink *l, Error **errp);
void qep_link_stop(QepLink *l);

/* Is the connection up (HELLO exchanged)? */
bool qep_link_up(QepLink *l);

/* Is the connection up with @feature (QEP_FEAT_*) negotiated? */
bool qep_link_has(QepLink *l, uint64_t feature);

/*
 * Send a posted message (INTX, LINK, posted MEM_WRITE, MAP).  It never
 * waits: what the socket does not take at once is queued for the link's
 * send thread.  0, or -1 when not connected.  BQL held.
 */
int qep_link_send(QepLink *l, void *msg, size_t len);

/*
 * Send a non-posted request (tag assigned here) and wait for its completion.
 * Read data (at most @len bytes) is stored at @data.  Returns the completion
 * status (enum qep_cpl_status), or -1 when the link is down, the peer
 * vanished or did not answer within timeout_ms; the caller then answers its
 * guest with all-ones.  A vCPU thread waits without the BQL, so the other
 * vCPUs and the main loop run meanwhile; the main loop (qtest) waits serving
 * the peer's requests.
 */
int qep_link_request(QepLink *l, void *msg, size_t msg_len,
                     void *data, uint32_t len);

/*
 * The same without waiting: @done runs with the BQL held and the status
 * (also -1 when the link goes down or the deadline passes).  Returns 0, or
 * -1 if the request could not be sent (then @done is not called).
 */
int qep_link_request_async(QepLink *l, void *msg, size_t msg_len,
                           void *data, uint32_t len, QepLinkDone *done,
                           void *opaque);

/* Answer the non-posted request @req. */
void qep_link_complete(QepLink *l, const struct qep_msg *req,
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
 * Before a posted write of a device's MMIO handler (bulk data: a window or
 * BAR access): while more than the link's credit is queued, wait without
 * the BQL until the send thread has written it, at most timeout_ms.  Does
 * nothing in the receive thread.  The handler's region must not rely on
 * QEMU's re-entrancy guard (other vCPUs enter meanwhile).
 */
void qep_link_wait_credit(QepLink *l);

/*
 * Write @size (1..8) bytes of @val at @addr of the peer: MEM_WRITE is posted
 * and never waits (returns 0 or -1), IO_WRITE and CFG_WRITE wait for their
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

/* Drop the connection (the client side reconnects). */
void qep_link_disconnect(QepLink *l, const char *why);

/*
 * The host address of the peer's shared RAM at [gpa, gpa + size), or NULL
 * if it is not one region the peer offered.  Call under RCU or the BQL; the
 * pointer is valid until peer_ram_changed says otherwise.
 */
void *qep_link_peer_ram(QepLink *l, uint64_t gpa, uint64_t size);

/* Is [gpa, gpa + size) inside one region this side offers the peer? */
bool qep_link_own_ram(QepLink *l, uint64_t gpa, uint64_t size);

#endif /* QEMU_EPC_LINK_H */
