/*
 * Every difference between the QEMU versions the modules build against,
 * in one place: Debian 12's QEMU 7.2, bookworm-backports' 10.0 and the
 * newest in Debian (tests/versions builds against each).  The sources use
 * the newest API; this header supplies it on older QEMUs.  Include it
 * right after "qemu/osdep.h" (which defines QEMU_VERSION_MAJOR/MINOR); it
 * includes the headers that moved between versions.  Built and tested
 * against 7.2, 10.0 and 10.2: the release that brought each change is
 * from QEMU's history, versions in between are not built here.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_QEMU_COMPAT_H
#define EPC_QEMU_COMPAT_H

#define QEP_QEMU_AT_LEAST(major, minor) \
    (QEMU_VERSION_MAJOR > (major) || \
     (QEMU_VERSION_MAJOR == (major) && QEMU_VERSION_MINOR >= (minor)))

#if !QEP_QEMU_AT_LEAST(7, 2)
#error "qemu-epc builds against QEMU 7.2 or newer"
#endif

/* 8.0 split PCIDevice out of hw/pci/pci.h */
#if QEP_QEMU_AT_LEAST(8, 0)
#include "hw/pci/pci_device.h"
#else
#include "hw/pci/pci.h"
#endif

/* 10.0 renamed include/sysemu to include/system */
#if QEP_QEMU_AT_LEAST(10, 0)
#include "system/dma.h"
#include "system/iothread.h"
#include "system/system.h"
#else
#include "sysemu/dma.h"
#include "sysemu/iothread.h"
#include "sysemu/sysemu.h"
#endif

/* 10.1 moved memory.h and ramblock.h from exec/ to system/ */
#if QEP_QEMU_AT_LEAST(10, 1)
#include "system/memory.h"
#include "system/ramblock.h"
#else
#include "exec/memory.h"
#include "exec/ramblock.h"
#endif

#include "qapi/error.h"
#include "hw/qdev-properties.h"
#include "io/channel.h"
#include "migration/blocker.h"

/*
 * 10.0: Property arrays are const and sized by the compiler; before, a
 * DEFINE_PROP_END_OF_LIST() entry ends a writable array.  Declare them
 * "static QepProperty name[] = { ..., QEP_PROPERTIES_END };".
 */
#if QEP_QEMU_AT_LEAST(10, 0)
typedef const Property QepProperty;
#define QEP_PROPERTIES_END
#else
typedef Property QepProperty;
#define QEP_PROPERTIES_END DEFINE_PROP_END_OF_LIST()
#endif

/* 10.1: class_init takes its class_data as const void * */
#if QEP_QEMU_AT_LEAST(10, 1)
typedef const void QepClassData;
#else
typedef void QepClassData;
#endif

/* 9.0 renamed the iothread mutex the Big QEMU Lock */
#if !QEP_QEMU_AT_LEAST(9, 0)
#define bql_lock() qemu_mutex_lock_iothread()
#define bql_unlock() qemu_mutex_unlock_iothread()
#define bql_locked() qemu_mutex_iothread_locked()
#endif

/* 9.2: DeviceClass.reset became the "legacy" reset, set by a function */
#if !QEP_QEMU_AT_LEAST(9, 2)
static inline void device_class_set_legacy_reset(DeviceClass *dc,
                                                 DeviceReset reset)
{
    dc->reset = reset;
}
#endif

/*
 * 8.0: qio_channel_readv_full() takes flags (before, none; the modules
 * pass 0)
 */
#if !QEP_QEMU_AT_LEAST(8, 0)
#define qio_channel_readv_full(ioc, iov, niov, fds, nfds, flags, errp) \
    (qio_channel_readv_full)(ioc, iov, niov, fds, nfds, errp)
#endif

/* 8.2: a RAM block knows the offset of its memory in its file */
static inline uint64_t qep_ram_block_fd_offset(RAMBlock *rb)
{
#if QEP_QEMU_AT_LEAST(8, 2)
    return rb->fd_offset;
#else
    return 0;
#endif
}

/*
 * 10.2: qemu_set_blocking() replaced qemu_socket_set_nonblock(), which
 * asserted success as this does
 */
#if QEP_QEMU_AT_LEAST(10, 2)
#define qemu_socket_set_nonblock(fd) qemu_set_blocking(fd, false, &error_abort)
#endif

/* 10.2: the front end of a chardev is a CharFrontend (was CharBackend) */
#if QEP_QEMU_AT_LEAST(10, 2)
typedef struct CharFrontend QepCharFe;
#else
typedef struct CharBackend QepCharFe;
#endif

/* 8.1: aio_set_fd_handler() lost is_external */
#if QEP_QEMU_AT_LEAST(8, 1)
#define qep_aio_set_fd_handler(ctx, fd, rd, wr, opaque) \
    aio_set_fd_handler(ctx, fd, rd, wr, NULL, NULL, opaque)
#else
#define qep_aio_set_fd_handler(ctx, fd, rd, wr, opaque) \
    aio_set_fd_handler(ctx, fd, false, rd, wr, NULL, NULL, opaque)
#endif

/*
 * 8.2: migrate_add_blocker() and migrate_del_blocker() take the reason by
 * reference, free it on failure and on removal, and clear the pointer.
 */
#if !QEP_QEMU_AT_LEAST(8, 2)
static inline int qep_migrate_add_blocker(Error **reasonp, Error **errp)
{
    int r = migrate_add_blocker(*reasonp, errp);

    if (r < 0) {
        error_free(*reasonp);
        *reasonp = NULL;
    }
    return r;
}

static inline void qep_migrate_del_blocker(Error **reasonp)
{
    if (*reasonp) {
        migrate_del_blocker(*reasonp);
        error_free(*reasonp);
        *reasonp = NULL;
    }
}
#define migrate_add_blocker qep_migrate_add_blocker
#define migrate_del_blocker qep_migrate_del_blocker
#endif

#endif
