/*
 * qemu-epc link layer: what its two files (epc-link.c, the connection and
 * its messages; epc-link-shm.c, shared RAM) use of each other.  Not for
 * the devices, which use epc-link.h.  Main loop, BQL held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_LINK_INT_H
#define EPC_LINK_INT_H

#include "epc-link.h"

/* epc-link.c */

/* where the link goes (its path, or "chardev"), for messages */
const char *link_where(QepLink *l);
/* an error report, once per distinct message (also traced and captured) */
void link_report(QepLink *l, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* send an encoded message on the connection, with @fd (>= 0) passed */
int link_write_fd(QepLink *l, const void *msg, size_t len, int fd);

/* epc-link-shm.c */

/* watch the device's DMA address space for RAM to offer (qep_link_start) */
void link_shm_start(QepLink *l);
void link_shm_stop(QepLink *l);
/* offer every RAM region this side has (after HELLO) */
void link_shm_offer_all(QepLink *l);
/* forget the peer's regions that overlap [gpa, gpa + size) */
void link_shm_peer_drop(QepLink *l, uint64_t gpa, uint64_t size);
/* an FDS message from the peer; @fd (or -1) is ours */
void link_handle_fds(QepLink *l, const struct qep_msg *m, int fd);

#endif
