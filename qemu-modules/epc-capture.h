/*
 * Capture of a device's link: every message it sends and receives, and
 * what it saw besides (link events, doorbells, injected faults), in a
 * pcapng file (docs/protocol.md, "Capture format").  Any thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_CAPTURE_H
#define EPC_CAPTURE_H

/* include "qemu/osdep.h" first */
#include "qemu-epc-proto.h"

typedef struct QepCapture QepCapture;

/* capture-limit's default */
#define QEP_CAPTURE_LIMIT   (256ull << 20)     /* 256 MiB */

/*
 * Create @path (replacing a file there) and write the section and
 * interface headers.  @device names the capturing device, @shmem says that
 * it offers the shared-memory path (whose accesses cross no link), @limit
 * bounds the file's size in bytes (0: no bound).  NULL and *errp on error.
 */
QepCapture *qep_capture_open(const char *path, const char *device,
                             bool shmem, uint64_t limit, Error **errp);

/* References: each connection that records holds one.  NULL is ignored. */
QepCapture *qep_capture_ref(QepCapture *cap);
void qep_capture_unref(QepCapture *cap);

/* A whole message (@len bytes as on the wire) of function @fn. */
void qep_capture_msg(QepCapture *cap, enum qep_cap_dir dir, uint8_t fn,
                     uint16_t note, const void *msg, size_t len);

/* A line of text about function @fn. */
void qep_capture_event(QepCapture *cap, uint8_t fn, uint16_t note,
                       const char *fmt, ...) G_GNUC_PRINTF(4, 5);

#endif /* EPC_CAPTURE_H */
