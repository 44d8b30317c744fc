/*
 * A link capture as a pcapng file: one section, one interface of link type
 * DLT_USER0, an Enhanced Packet Block per record (docs/protocol.md).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "epc-qemu-compat.h"
#include "epc-capture.h"

#define PCAPNG_SHB          0x0a0d0d0au
#define PCAPNG_IDB          0x00000001u
#define PCAPNG_EPB          0x00000006u
#define PCAPNG_BOM          0x1a2b3c4du
#define OPT_END             0
#define OPT_COMMENT         1
#define OPT_SHB_USERAPPL    4
#define OPT_IF_NAME         2
#define OPT_IF_TSRESOL      9
#define OPT_EPB_FLAGS       2
#define EPB_INBOUND         1
#define EPB_OUTBOUND        2
#define EPB_TS              12          /* offset of an EPB's time stamp */
#define FLUSH_NS            (100 * 1000 * 1000)

struct QepCapture {
    int refs;                /* atomic */
    QemuMutex lock;          /* everything below */
    FILE *f;
    char *path;
    uint64_t written, limit;
    uint64_t dropped;        /* records the limit kept out */
    bool broken;             /* a write failed: no more records */
    int64_t flushed_ns;
    Notifier exit;           /* QEMU does not unrealize devices at exit */
};

/* pcapng blocks are built in a GByteArray: 32-bit words, little-endian */
static void put32(GByteArray *k, uint32_t v)
{
    uint8_t le[4];

    stl_le_p(le, v);
    g_byte_array_append(k, le, 4);
}

static void put_bytes(GByteArray *k, const void *p, size_t len)
{
    static const uint8_t pad[4];

    g_byte_array_append(k, p, len);
    g_byte_array_append(k, pad, -len & 3);
}

static void put_opt(GByteArray *k, uint16_t code, const void *p, size_t len)
{
    put32(k, code | (uint32_t)len << 16);
    put_bytes(k, p, len);
}

static GByteArray *block_new(uint32_t type)
{
    GByteArray *k = g_byte_array_new();

    put32(k, type);
    put32(k, 0);                        /* length, set by block_end */
    return k;
}

/* The block's trailing length, and the same in its header. */
static void block_end(GByteArray *k)
{
    put32(k, k->len + 4);
    stl_le_p(k->data + 4, k->len);
}

/*
 * Write the ended block and free it.  Lock held (or not yet shared).  A
 * capture that cannot be written stops, and says so once.
 */
static void block_write(QepCapture *cap, GByteArray *k)
{
    if (!cap->broken && fwrite(k->data, 1, k->len, cap->f) != k->len) {
        cap->broken = true;
        warn_report("capture '%s': cannot write: %s; later records are not "
                    "written", cap->path, strerror(errno));
    }
    cap->written += k->len;
    g_byte_array_free(k, true);
}

static void capture_at_exit(Notifier *n, void *data)
{
    QepCapture *cap = container_of(n, QepCapture, exit);

    qemu_mutex_lock(&cap->lock);
    fflush(cap->f);
    qemu_mutex_unlock(&cap->lock);
}

QepCapture *qep_capture_open(const char *path, const char *device,
                             bool shmem, uint64_t limit, Error **errp)
{
    QepCapture *cap = g_new0(QepCapture, 1);
    g_autofree char *appl = g_strdup_printf("%s (qemu-epc link capture)",
                                            device);
    const char *comment = shmem
        ? "shared memory offered: BAR and window accesses that take the "
          "direct path cross no link and are not captured; start both "
          "devices with shmem=off for every access"
        : "shared memory off: every access crosses the link";
    uint8_t tsresol = 9;                /* nanoseconds */
    GByteArray *k;

    cap->f = fopen(path, "wb");
    if (!cap->f) {
        error_setg_errno(errp, errno, "capture: cannot create '%s'", path);
        g_free(cap);
        return NULL;
    }
    cap->refs = 1;
    cap->path = g_strdup(path);
    cap->limit = limit;
    qemu_mutex_init(&cap->lock);

    k = block_new(PCAPNG_SHB);
    put32(k, PCAPNG_BOM);
    put32(k, 1);                        /* version 1.0 */
    put32(k, UINT32_MAX);               /* section length not known */
    put32(k, UINT32_MAX);
    put_opt(k, OPT_COMMENT, comment, strlen(comment));
    put_opt(k, OPT_SHB_USERAPPL, appl, strlen(appl));
    put_opt(k, OPT_END, NULL, 0);
    block_end(k);
    block_write(cap, k);

    k = block_new(PCAPNG_IDB);
    put32(k, QEP_CAP_LINKTYPE);         /* and 16 reserved bits */
    put32(k, 0);                        /* no snapshot length */
    put_opt(k, OPT_IF_NAME, device, strlen(device));
    put_opt(k, OPT_IF_TSRESOL, &tsresol, 1);
    put_opt(k, OPT_END, NULL, 0);
    block_end(k);
    block_write(cap, k);
    if (cap->broken || fflush(cap->f)) {
        error_setg_errno(errp, errno, "capture: cannot write '%s'", path);
        qep_capture_unref(cap);
        return NULL;
    }
    cap->exit.notify = capture_at_exit;
    qemu_add_exit_notifier(&cap->exit);
    return cap;
}

QepCapture *qep_capture_ref(QepCapture *cap)
{
    if (cap) {
        qatomic_inc(&cap->refs);
    }
    return cap;
}

void qep_capture_unref(QepCapture *cap)
{
    if (!cap || qatomic_fetch_dec(&cap->refs) != 1) {
        return;
    }
    if (cap->dropped) {
        warn_report("capture '%s': %" PRIu64 " records beyond capture-limit "
                    "not written", cap->path, cap->dropped);
    }
    if (cap->exit.notify) {
        qemu_remove_exit_notifier(&cap->exit);
    }
    fclose(cap->f);
    qemu_mutex_destroy(&cap->lock);
    g_free(cap->path);
    g_free(cap);
}

/* One record: the record header, then @len bytes at @p. */
static void capture_record(QepCapture *cap, enum qep_cap_kind kind,
                           enum qep_cap_dir dir, uint8_t fn, uint16_t note,
                           const void *p, size_t len)
{
    struct timespec ts;
    uint64_t ns;
    uint32_t flags = dir == QEP_CAP_RECEIVED ? EPB_INBOUND : EPB_OUTBOUND;
    uint8_t rec[sizeof(struct qep_cap_hdr)] = {
        QEP_CAP_VERSION, kind, dir, fn, note & 0xff, note >> 8, 0, 0,
    };
    size_t total = sizeof(rec) + len;
    GByteArray *k;

    /* built without the lock; the time is taken with it, in file order */
    k = block_new(PCAPNG_EPB);
    put32(k, 0);                        /* interface */
    put32(k, 0);                        /* time, below */
    put32(k, 0);
    put32(k, total);
    put32(k, total);
    g_byte_array_append(k, rec, sizeof(rec));
    put_bytes(k, p, len);
    put_opt(k, OPT_EPB_FLAGS, &(uint32_t){ cpu_to_le32(flags) }, 4);
    put_opt(k, OPT_END, NULL, 0);
    block_end(k);
    qemu_mutex_lock(&cap->lock);
    clock_gettime(CLOCK_REALTIME, &ts);
    ns = ts.tv_sec * 1000000000ull + ts.tv_nsec;
    stl_le_p(k->data + EPB_TS, ns >> 32);
    stl_le_p(k->data + EPB_TS + 4, (uint32_t)ns);
    if (cap->limit && cap->written + k->len > cap->limit) {
        if (!cap->dropped++) {
            warn_report("capture '%s': capture-limit of %" PRIu64 " bytes "
                        "reached, later records are not written", cap->path,
                        cap->limit);
        }
        qemu_mutex_unlock(&cap->lock);
        g_byte_array_free(k, true);
        return;
    }
    block_write(cap, k);
    if (ns - cap->flushed_ns > FLUSH_NS || kind == QEP_CAP_EVENT) {
        fflush(cap->f);
        cap->flushed_ns = ns;
    }
    qemu_mutex_unlock(&cap->lock);
}

void qep_capture_msg(QepCapture *cap, enum qep_cap_dir dir, uint8_t fn,
                     uint16_t note, const void *msg, size_t len)
{
    if (cap) {
        capture_record(cap, QEP_CAP_MESSAGE, dir, fn, note, msg, len);
    }
}

void qep_capture_event(QepCapture *cap, uint8_t fn, uint16_t note,
                       const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    if (!cap) {
        return;
    }
    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    capture_record(cap, QEP_CAP_EVENT, QEP_CAP_SENT, fn, note, text,
                   strlen(text));
}
