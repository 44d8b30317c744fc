// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the wire codec: every message round-trips, every malformed
 * header or payload is rejected with its own error. */
#include <check.h>
#include "check-run.h"
#include <string.h>
#include "qemu-epc-proto.h"

static uint8_t buf[sizeof(struct qep_hdr) + QEP_MAX_PAYLOAD + 64];
static struct qep_msg m;

static int decode(size_t n) { return qep_msg_decode(buf, n, &m); }

START_TEST(hello_roundtrip)
{
    size_t n = qep_enc_hello(buf, QEP_ROLE_HOST, QEP_FEAT_SHMEM);

    ck_assert_int_eq(n, 32);
    ck_assert_int_eq(decode(n), 32);
    ck_assert_int_eq(m.hdr.type, QEP_MSG_HELLO);
    ck_assert_int_eq(m.u.hello.major, QEP_VERSION_MAJOR);
    ck_assert_int_eq(m.u.hello.minor, QEP_VERSION_MINOR);
    ck_assert_int_eq(m.u.hello.role, QEP_ROLE_HOST);
    ck_assert(m.u.hello.features == QEP_FEAT_SHMEM);
    /* wire bytes are little-endian: magic "QEPC" */
    ck_assert(memcmp(buf, "QEPC", 4) == 0);
}
END_TEST

START_TEST(cfg_roundtrip)
{
    size_t n = qep_enc_cfg_read(buf, 7, 0x3c, 1);

    ck_assert_int_eq(decode(n), (int)n);
    ck_assert_int_eq(m.hdr.tag, 7);
    ck_assert_int_eq(m.u.cfg.offset, 0x3c);
    ck_assert_int_eq(m.u.cfg.len, 1);
    n = qep_enc_cfg_write(buf, 9, 0xffc, 4, 0xdeadbeef);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert_int_eq(m.hdr.type, QEP_MSG_CFG_WRITE);
    ck_assert_uint_eq(m.u.cfg.data, 0xdeadbeef);
    ck_assert_int_eq(m.u.cfg.offset, 0xffc);
}
END_TEST

START_TEST(mem_roundtrip)
{
    static uint8_t data[QEP_MAX_DATA];
    size_t n;

    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = i * 7;
    n = qep_enc_mem_write(buf, QEP_MSG_MEM_WRITE, 0, 0xfee00000ull, 4096, data);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert(m.u.mem.addr == 0xfee00000ull);
    ck_assert_int_eq(m.u.mem.len, 4096);
    ck_assert_int_eq(m.data_len, 4096);
    ck_assert(memcmp(m.data, data, 4096) == 0);
    ck_assert(!qep_needs_completion(&m.hdr));
    n = qep_enc_mem_write(buf, QEP_MSG_MEM_WRITE, 3, 0x1000, 8, data);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert(m.hdr.flags & QEP_F_NON_POSTED);
    ck_assert(qep_needs_completion(&m.hdr));
    n = qep_enc_mem_read(buf, QEP_MSG_MEM_READ, 0xffff, 0xffffffffff000ull, 64);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert_int_eq(m.hdr.tag, 0xffff);
    ck_assert(m.u.mem.addr == 0xffffffffff000ull);
    n = qep_enc_mem_read(buf, QEP_MSG_IO_READ, 1, 0xc002, 2);
    ck_assert_int_eq(decode(n), (int)n);
    n = qep_enc_mem_write(buf, QEP_MSG_IO_WRITE, 1, 0xc000, 4, data);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert(qep_needs_completion(&m.hdr));
}
END_TEST

START_TEST(cpl_intx_link_fds_roundtrip)
{
    uint8_t d[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct qep_link l = { .up = 1, .intx_pin = 1 };
    struct qep_fds f = { .kind = QEP_FD_GUEST_RAM, .nfds = 1, .gpa = 0x100000,
                         .size = 0x200000, .offset = 4096 };
    size_t n = qep_enc_cpl(buf, 5, QEP_MSG_MEM_READ, QEP_CPL_SC, d, 8);

    ck_assert_int_eq(decode(n), (int)n);
    ck_assert_int_eq(m.u.cpl.status, QEP_CPL_SC);
    ck_assert_int_eq(m.u.cpl.req_type, QEP_MSG_MEM_READ);
    ck_assert(memcmp(m.data, d, 8) == 0);
    n = qep_enc_cpl(buf, 5, QEP_MSG_CFG_WRITE, QEP_CPL_UR, NULL, 0);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert_int_eq(m.u.cpl.status, QEP_CPL_UR);
    n = qep_enc_intx(buf, 3, true);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert_int_eq(m.u.intx.pin, 3);
    ck_assert_int_eq(m.u.intx.assert, 1);
    l.bar[0] = (struct qep_bar_desc){ .size = 0x10000, .flags = 0 };
    l.bar[2] = (struct qep_bar_desc){ .size = 1ull << 33, .flags = 0xc };
    l.bar[5] = (struct qep_bar_desc){ .size = 256, .flags = 1 };
    n = qep_enc_link(buf, &l);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert(m.u.link.bar[2].size == 1ull << 33);
    ck_assert_int_eq(m.u.link.bar[2].flags, 0xc);
    ck_assert_int_eq(m.u.link.bar[5].flags, 1);
    ck_assert_int_eq(m.u.link.intx_pin, 1);
    n = qep_enc_fds(buf, &f);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert(m.u.fds.gpa == 0x100000 && m.u.fds.offset == 4096);
}
END_TEST

START_TEST(stream_of_messages)
{
    size_t n = qep_enc_intx(buf, 0, true);

    n += qep_enc_cfg_read(buf + n, 1, 0, 4);
    ck_assert_int_eq(decode(n), 20);
    ck_assert_int_eq(qep_msg_decode(buf + 20, n - 20, &m), 24);
    /* a partial message asks for more bytes */
    ck_assert_int_eq(qep_msg_decode(buf + 20, 10, &m), -QEP_E_SHORT);
    ck_assert_int_eq(qep_msg_decode(buf + 20, 20, &m), -QEP_E_SHORT);
}
END_TEST

/* header byte patches: offset, value, expected error */
START_TEST(bad_headers)
{
    size_t n = qep_enc_cfg_read(buf, 1, 0, 4);

    buf[0] ^= 1;
    ck_assert_int_eq(decode(n), -QEP_E_MAGIC);
    buf[0] ^= 1;
    buf[4] = 0;
    ck_assert_int_eq(decode(n), -QEP_E_TYPE);
    buf[4] = QEP_MSG_TYPE_MAX + 1;
    ck_assert_int_eq(decode(n), -QEP_E_TYPE);
    buf[4] = QEP_MSG_CFG_READ;
    buf[6] = 1;                                   /* flag on a CFG_READ */
    ck_assert_int_eq(decode(n), -QEP_E_FLAGS);
    buf[6] = 0;
    buf[14] = 1;
    ck_assert_int_eq(decode(n), -QEP_E_RESERVED);
    buf[14] = 0;
    buf[12] = 0;                                  /* non-posted without tag */
    ck_assert_int_eq(decode(n), -QEP_E_TAG);
    buf[12] = 1;
    buf[8] = 0; buf[9] = 0x20; buf[10] = 0;       /* size 8192 */
    ck_assert_int_eq(decode(sizeof(buf)), -QEP_E_TOO_LONG);
    buf[9] = 0; buf[8] = 9;
    ck_assert_int_eq(decode(n + 1), -QEP_E_SIZE);
    ck_assert_int_eq(decode(10), -QEP_E_SHORT);
    /* posted message with a tag */
    n = qep_enc_intx(buf, 0, true);
    buf[12] = 5;
    ck_assert_int_eq(decode(n), -QEP_E_TAG);
    /* unknown flag */
    n = qep_enc_mem_write(buf, QEP_MSG_MEM_WRITE, 0, 0, 1, "x");
    buf[6] = 2;
    ck_assert_int_eq(decode(n), -QEP_E_FLAGS);
}
END_TEST

START_TEST(bad_payloads)
{
    uint8_t d[8] = { 0 };
    size_t n;

    ck_assert_int_eq(decode(qep_enc_cfg_read(buf, 1, 2, 4)), -QEP_E_CFG);
    ck_assert_int_eq(decode(qep_enc_cfg_read(buf, 1, 0, 3)), -QEP_E_CFG);
    ck_assert_int_eq(decode(qep_enc_cfg_read(buf, 1, 4096, 1)), -QEP_E_CFG);
    ck_assert_int_eq(decode(qep_enc_cfg_write(buf, 1, 0, 1, 0x100)),
                     -QEP_E_VALUE);
    n = qep_enc_cfg_read(buf, 1, 0, 4);
    buf[16 + 4] = 1;                              /* data in a read */
    ck_assert_int_eq(decode(n), -QEP_E_RESERVED);
    ck_assert_int_eq(decode(qep_enc_mem_read(buf, QEP_MSG_MEM_READ, 1, 0, 0)),
                     -QEP_E_LEN);
    ck_assert_int_eq(decode(qep_enc_mem_read(buf, QEP_MSG_MEM_READ, 1, 0,
                                             QEP_MAX_DATA + 1)), -QEP_E_LEN);
    ck_assert_int_eq(decode(qep_enc_mem_read(buf, QEP_MSG_MEM_READ, 1,
                                             UINT64_MAX - 2, 4)), -QEP_E_ADDR);
    ck_assert_int_eq(decode(qep_enc_mem_read(buf, QEP_MSG_IO_READ, 1, 3, 2)),
                     -QEP_E_ADDR);
    ck_assert_int_eq(decode(qep_enc_mem_read(buf, QEP_MSG_IO_READ, 1,
                                             1ull << 32, 1)), -QEP_E_ADDR);
    /* a write whose declared length disagrees with the payload */
    n = qep_enc_mem_write(buf, QEP_MSG_MEM_WRITE, 0, 0, 8, d);
    buf[16 + 8] = 4;
    ck_assert_int_eq(decode(n), -QEP_E_SIZE);
    n = qep_enc_mem_read(buf, QEP_MSG_MEM_READ, 1, 0, 4);
    buf[16 + 12] = 1;
    ck_assert_int_eq(decode(n), -QEP_E_RESERVED);
    /* completions */
    ck_assert_int_eq(decode(qep_enc_cpl(buf, 1, QEP_MSG_MEM_READ, 2, NULL, 0)),
                     -QEP_E_STATUS);
    ck_assert_int_eq(decode(qep_enc_cpl(buf, 1, QEP_MSG_INTX, 0, NULL, 0)),
                     -QEP_E_VALUE);
    ck_assert_int_eq(decode(qep_enc_cpl(buf, 1, QEP_MSG_CFG_WRITE, 0, d, 4)),
                     -QEP_E_LEN);
    ck_assert_int_eq(decode(qep_enc_cpl(buf, 1, QEP_MSG_MEM_READ, QEP_CPL_CA,
                                        d, 4)), -QEP_E_LEN);
    /* INTx */
    ck_assert_int_eq(decode(qep_enc_intx(buf, 4, true)), -QEP_E_VALUE);
    n = qep_enc_intx(buf, 0, true);
    buf[17] = 2;
    ck_assert_int_eq(decode(n), -QEP_E_VALUE);
    /* HELLO with an unknown role */
    n = qep_enc_hello(buf, QEP_ROLE_HOST, 0);
    buf[16 + 4] = 3;
    ck_assert_int_eq(decode(n), -QEP_E_VALUE);
    n = qep_enc_hello(buf, QEP_ROLE_HOST, 0);
    ck_assert_int_eq(decode(n - 1), -QEP_E_SHORT);
}
END_TEST

START_TEST(link_with_config_parameters)
{
    struct qep_link l = { .up = 1, .intx_pin = 2 };
    struct qep_link_cfg c = {
        .vendor_id = 0x104c, .device_id = 0xb500, .revision = 1,
        .baseclass = 0xff, .subsys_vendor_id = 0x104c, .subsys_id = 7,
        .msi_log2 = 5, .msix_count = 2048, .msix_table = 0x8000,
        .msix_pba = 0xff00,
    };
    size_t n;

    l.bar[0] = (struct qep_bar_desc){ .size = 0x10000, .flags = 0 };
    n = qep_enc_link_cfg(buf, &l, &c);
    ck_assert_int_eq(n, 16 + 104 + 32);
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert(m.has_link_cfg);
    ck_assert(memcmp(&m.link_cfg, &c, sizeof(c)) == 0);
    ck_assert_int_eq(m.u.link.intx_pin, 2);
    /* the short form carries none */
    ck_assert_int_eq(decode(qep_enc_link(buf, &l)), 16 + 104);
    ck_assert(!m.has_link_cfg);
    /* no MSI is -1; below that, or more than 32 vectors, is wrong */
    c.msi_log2 = -1;
    ck_assert_int_gt(decode(qep_enc_link_cfg(buf, &l, &c)), 0);
    ck_assert_int_eq(m.link_cfg.msi_log2, -1);
    c.msi_log2 = 6;
    ck_assert_int_eq(decode(qep_enc_link_cfg(buf, &l, &c)), -QEP_E_VALUE);
    c.msi_log2 = 0;
    c.msix_count = 2049;
    ck_assert_int_eq(decode(qep_enc_link_cfg(buf, &l, &c)), -QEP_E_VALUE);
    c.msix_count = 1;
    c.msix_table = 6;                             /* BIR 6 */
    ck_assert_int_eq(decode(qep_enc_link_cfg(buf, &l, &c)), -QEP_E_VALUE);
    c.msix_table = 0;
    n = qep_enc_link_cfg(buf, &l, &c);
    buf[16 + 104 + 13] = 1;                       /* reserved */
    ck_assert_int_eq(decode(n), -QEP_E_RESERVED);
    /* parameters only with the link up */
    l.up = 0;
    l.bar[0].size = 0;
    ck_assert_int_eq(decode(qep_enc_link_cfg(buf, &l, &c)), -QEP_E_SIZE);
}
END_TEST

START_TEST(bad_link_and_fds)
{
    struct qep_link l = { .up = 1 };
    struct qep_fds f = { .kind = QEP_FD_GUEST_RAM, .nfds = 1, .size = 4096 };

    l.bar[0].size = 0x3000;                       /* not a power of two */
    ck_assert_int_eq(decode(qep_enc_link(buf, &l)), -QEP_E_VALUE);
    l.bar[0] = (struct qep_bar_desc){ .size = 16, .flags = 0x5 };  /* I/O+64 */
    ck_assert_int_eq(decode(qep_enc_link(buf, &l)), -QEP_E_VALUE);
    l.bar[0] = (struct qep_bar_desc){ .size = 16, .flags = 0 };
    l.up = 2;
    ck_assert_int_eq(decode(qep_enc_link(buf, &l)), -QEP_E_VALUE);
    l.up = 0;                                     /* down carries no BARs */
    ck_assert_int_eq(decode(qep_enc_link(buf, &l)), -QEP_E_VALUE);
    l.bar[0].size = 0;
    ck_assert_int_gt(decode(qep_enc_link(buf, &l)), 0);
    l.intx_pin = 5;
    ck_assert_int_eq(decode(qep_enc_link(buf, &l)), -QEP_E_VALUE);
    ck_assert_int_gt(decode(qep_enc_fds(buf, &f)), 0);
    f.nfds = 2;                                   /* one region, one fd */
    ck_assert_int_eq(decode(qep_enc_fds(buf, &f)), -QEP_E_VALUE);
    f.nfds = 1;
    f.kind = QEP_FD_RAM_GONE;                     /* GONE carries no fd */
    ck_assert_int_eq(decode(qep_enc_fds(buf, &f)), -QEP_E_VALUE);
    f.nfds = 0;
    ck_assert_int_gt(decode(qep_enc_fds(buf, &f)), 0);
    f.offset = 4096;                              /* nor an offset */
    ck_assert_int_eq(decode(qep_enc_fds(buf, &f)), -QEP_E_VALUE);
    f.offset = 0;
    f.kind = 3;
    ck_assert_int_eq(decode(qep_enc_fds(buf, &f)), -QEP_E_VALUE);
    f.kind = QEP_FD_GUEST_RAM;
    f.nfds = 1;
    f.gpa = UINT64_MAX;                           /* wraps */
    ck_assert_int_eq(decode(qep_enc_fds(buf, &f)), -QEP_E_ADDR);
    f.gpa = 0;
    f.size = 0;
    ck_assert_int_eq(decode(qep_enc_fds(buf, &f)), -QEP_E_ADDR);
}
END_TEST

START_TEST(map_messages)
{
    struct qep_map_piece p[3] = {
        { .offset = 0, .size = 0x1000, .gpa = 0x10000 },
        { .offset = 0x1000, .size = 0x1000, .gpa = 0x30000 },
        { .offset = 0x4000, .size = 0x4000, .gpa = 0x20000 },
    };
    struct qep_map_piece e;
    struct qep_msg m;
    int n;

    n = qep_msg_decode(buf, qep_enc_map(buf, 7, 2, 3, p), &m);
    ck_assert_int_eq(n, 16 + 8 + 3 * 24);
    ck_assert_uint_eq(m.hdr.flags, QEP_F_NON_POSTED);
    ck_assert_uint_eq(m.hdr.tag, 7);
    ck_assert_uint_eq(m.u.map.bar, 2);
    ck_assert_uint_eq(m.u.map.count, 3);
    qep_map_piece(&m, 2, &e);
    ck_assert_uint_eq(e.offset, 0x4000);
    ck_assert_uint_eq(e.size, 0x4000);
    ck_assert_uint_eq(e.gpa, 0x20000);
    ck_assert(qep_needs_completion(&m.hdr));
    /* posted, every BAR, nothing mapped */
    ck_assert_int_gt(decode(qep_enc_map(buf, 0, QEP_MAP_ALL_BARS, 0, NULL)), 0);
    /* every BAR only with no pieces; BAR 6 does not exist */
    ck_assert_int_eq(decode(qep_enc_map(buf, 0, QEP_MAP_ALL_BARS, 1, p)),
                     -QEP_E_VALUE);
    ck_assert_int_eq(decode(qep_enc_map(buf, 0, 6, 0, NULL)), -QEP_E_VALUE);
    /* pieces out of order or overlapping, empty, wrapping */
    p[1].offset = 0x800;
    ck_assert_int_eq(decode(qep_enc_map(buf, 0, 1, 2, p)), -QEP_E_ADDR);
    p[1].offset = 0x1000;
    p[1].size = 0;
    ck_assert_int_eq(decode(qep_enc_map(buf, 0, 1, 2, p)), -QEP_E_ADDR);
    p[1].size = 0x1000;
    p[1].gpa = UINT64_MAX - 0x10;
    ck_assert_int_eq(decode(qep_enc_map(buf, 0, 1, 2, p)), -QEP_E_ADDR);
    /* a count over QEP_MAP_MAX, or one the size does not match */
    n = qep_enc_map(buf, 0, 1, 0, NULL);
    buf[16 + 1] = QEP_MAP_MAX + 1;
    ck_assert_int_eq(decode(n), -QEP_E_SIZE);
    buf[16 + 1] = 1;
    ck_assert_int_eq(decode(n), -QEP_E_SIZE);
}
END_TEST

START_TEST(reset_message)
{
    size_t n = qep_enc_reset(buf);

    ck_assert_uint_eq(n, sizeof(struct qep_hdr));
    ck_assert_int_eq(decode(n), (int)n);
    ck_assert_uint_eq(m.hdr.type, QEP_MSG_RESET);
    ck_assert(!qep_needs_completion(&m.hdr));
    ck_assert_str_eq(qep_type_name(QEP_MSG_RESET), "RESET");
    buf[8] = 4;                                   /* it carries nothing */
    ck_assert_int_eq(decode(n + 4), -QEP_E_SIZE);
    buf[8] = 0;
    buf[12] = 1;                                  /* posted: no tag */
    ck_assert_int_eq(decode(n), -QEP_E_TAG);
    buf[12] = 0;
    buf[6] = QEP_F_NON_POSTED;
    ck_assert_int_eq(decode(n), -QEP_E_FLAGS);
}
END_TEST

START_TEST(hello_compat)
{
    char why[160];
    struct qep_hello h = { .major = QEP_VERSION_MAJOR, .minor = 99,
                           .role = QEP_ROLE_HOST };

    ck_assert_int_eq(qep_hello_check(&h, QEP_ROLE_ENDPOINT, why, sizeof(why)),
                     0);
    h.major++;
    ck_assert_int_lt(qep_hello_check(&h, QEP_ROLE_ENDPOINT, why, sizeof(why)),
                     0);
    ck_assert_ptr_nonnull(strstr(why, "major versions differ"));
    h.major--;
    ck_assert_int_lt(qep_hello_check(&h, QEP_ROLE_HOST, why, sizeof(why)), 0);
    ck_assert_ptr_nonnull(strstr(why, "expected endpoint"));
    for (int e = 0; e < QEP_E_COUNT; e++)
        ck_assert_ptr_nonnull(qep_strerror(-e));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, hello_roundtrip);
    tcase_add_test(tc, cfg_roundtrip);
    tcase_add_test(tc, mem_roundtrip);
    tcase_add_test(tc, cpl_intx_link_fds_roundtrip);
    tcase_add_test(tc, link_with_config_parameters);
    tcase_add_test(tc, stream_of_messages);
    tcase_add_test(tc, bad_headers);
    tcase_add_test(tc, bad_payloads);
    tcase_add_test(tc, bad_link_and_fds);
    tcase_add_test(tc, map_messages);
    tcase_add_test(tc, reset_message);
    tcase_add_test(tc, hello_compat);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
