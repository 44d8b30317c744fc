/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-epc link layer: one Unix stream socket between qemu-epc and
 * epf-bridge, the HELLO handshake, tags and completions, bounded waits.
 * Shared by both devices; the state machine is described in
 * docs/protocol.md ("Connection life cycle").
 */
#ifndef QEMU_EPC_LINK_H
#define QEMU_EPC_LINK_H

/* include "qemu/osdep.h" first */
#include "qemu/notify.h"
#include "qemu-epc-proto.h"

typedef struct QepLink QepLink;

typedef struct QepLinkOps {
	/*
	 * A message from the peer other than HELLO and COMPLETION.  For a
	 * non-posted request the handler must answer with qep_link_complete().
	 */
	void (*handle)(void *opaque, const struct qep_msg *msg);
	void (*connected)(void *opaque);     /* HELLO exchanged */
	void (*disconnected)(void *opaque);  /* after being connected */
} QepLinkOps;

#define QEP_LINK_MAX_PENDING 8
#define QEP_LINK_MAX_DEPTH   4

typedef struct QepPending {
	uint16_t tag;            /* 0: slot free */
	uint16_t req_type;
	bool done;
	uint16_t status;
	uint8_t *data;           /* where read data goes */
	uint32_t len;
} QepPending;

struct QepLink {
	/* configuration */
	const char *name;        /* "qemu-epc" or "epf-bridge", for messages */
	char *path;
	bool server;
	enum qep_role role;
	uint64_t features;       /* offered */
	uint32_t timeout_ms;     /* completion wait */
	uint32_t reconnect_ms;   /* client retry period */
	const QepLinkOps *ops;
	void *opaque;

	/* state */
	int listen_fd;
	int fd;
	bool up;                 /* HELLO exchanged */
	bool stalled;            /* a completion timed out; peer silent since */
	bool bound;              /* we created path */
	Notifier exit_notifier;  /* removes path when QEMU exits */
	Error *migration_blocker;  /* a socket and a peer do not migrate */
	uint64_t negotiated;
	char last_error[160];    /* suppresses repeated identical reports */
	QEMUTimer *timer;        /* reconnect or HELLO deadline */
	uint8_t *rx;
	size_t rx_head, rx_tail, rx_cap;
	uint16_t next_tag;
	int depth;
	QepPending pend[QEP_LINK_MAX_PENDING];

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

/* Send a posted message (INTX, LINK, posted MEM_WRITE). 0 or -1. */
int qep_link_send(QepLink *l, void *msg, size_t len);

/*
 * Send a non-posted request (tag assigned here) and wait for its completion,
 * serving the peer's requests meanwhile.  Read data (at most @len bytes) is
 * stored at @data.  Returns the completion status (enum qep_cpl_status), or
 * -1 when the link is down, the peer vanished or did not answer within
 * timeout_ms; the caller then answers its guest with all-ones.
 */
int qep_link_request(QepLink *l, void *msg, size_t msg_len,
		     void *data, uint32_t len);

/* Answer the non-posted request @req. */
void qep_link_complete(QepLink *l, const struct qep_msg *req,
		       enum qep_cpl_status status, const void *data,
		       uint32_t len);

/* Drop the connection (the client side reconnects). */
void qep_link_disconnect(QepLink *l, const char *why);

#endif /* QEMU_EPC_LINK_H */
