// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of qemu-epc's function BARs: commit, kinds, subranges. */
#include <check.h>
#include "check-run.h"
#include "epc-bars.h"

static EpcBars b;

static void fresh(unsigned n_ib)
{
    epc_bars_reset(&b);
    for (int i = 0; i < QEPC_NUM_BARS; i++)
        b.kind[i] = QEPC_BAR_PROGRAMMABLE;
    b.n_ib = n_ib;
}

/* write a register; returns epc_bars_write's result */
static int w(unsigned off, uint32_t val)
{
    const char *why = NULL;
    int bar;

    return epc_bars_write(&b, off, val, &why, &bar);
}

static int stage(int n, uint64_t addr, uint64_t size, uint32_t submap)
{
    unsigned base = QEPC_BAR_BASE(n);

    w(base + QEPC_BAR_ADDR_LO, (uint32_t)addr);
    w(base + QEPC_BAR_ADDR_HI, addr >> 32);
    w(base + QEPC_BAR_SIZE_LO, (uint32_t)size);
    w(base + QEPC_BAR_SIZE_HI, size >> 32);
    return w(base + QEPC_BAR_SUBMAP, submap);
}

static int commit(int n, uint32_t flags)
{
    return w(QEPC_BAR_BASE(n) + QEPC_BAR_FLAGS, flags | QEPC_BAR_ENABLE);
}

static int entry(unsigned e, uint64_t addr, uint64_t size)
{
    int r = w(QEPC_IB_BASE(e) + QEPC_IB_ADDR_LO, (uint32_t)addr);

    r |= w(QEPC_IB_BASE(e) + QEPC_IB_ADDR_HI, addr >> 32);
    r |= w(QEPC_IB_BASE(e) + QEPC_IB_SIZE_LO, (uint32_t)size);
    r |= w(QEPC_IB_BASE(e) + QEPC_IB_SIZE_HI, size >> 32);
    return r;
}

static uint64_t xlate(int n, uint64_t off, uint64_t *avail)
{
    uint64_t addr = 0, a = 0;

    ck_assert(epc_bars_translate(&b, n, off, &addr, &a));
    if (avail)
        *avail = a;
    return addr;
}

START_TEST(whole_bar_commit_is_atomic)
{
    uint64_t avail;

    fresh(16);
    stage(0, 0x100000, 0x1000, 0);
    /* staged only: nothing mapped yet */
    ck_assert(!epc_bars_translate(&b, 0, 0, &avail, &avail));
    ck_assert_int_eq(commit(0, 0), 0);
    ck_assert_uint_eq(xlate(0, 0x10, &avail), 0x100010);
    ck_assert_uint_eq(avail, 0x1000 - 0x10);
    /* a new address staged half-way does not move the mapping */
    w(QEPC_BAR_BASE(0) + QEPC_BAR_ADDR_LO, 0x200000);
    ck_assert_uint_eq(xlate(0, 0, NULL), 0x100000);
    w(QEPC_BAR_BASE(0) + QEPC_BAR_ADDR_HI, 1);
    ck_assert_uint_eq(xlate(0, 0, NULL), 0x100000);
    ck_assert_int_eq(commit(0, 0), 0);
    ck_assert_uint_eq(xlate(0, 0, NULL), 0x100200000ull);
    ck_assert(!epc_bars_translate(&b, 0, 0x1000, &avail, &avail));
}
END_TEST

START_TEST(subranges_in_order)
{
    uint64_t avail;

    fresh(16);
    ck_assert_int_eq(entry(3, 0x20000, 0x800), 0);
    ck_assert_int_eq(entry(4, 0x10000, 0x800), 0);
    stage(1, 0, 0x1000, QEPC_SUBMAP(3, 2));
    ck_assert_int_eq(commit(1, 0), 0);
    ck_assert_uint_eq(xlate(1, 0, &avail), 0x20000);
    ck_assert_uint_eq(avail, 0x800);
    ck_assert_uint_eq(xlate(1, 0x7fc, &avail), 0x207fc);
    ck_assert_uint_eq(avail, 4);
    ck_assert_uint_eq(xlate(1, 0x800, NULL), 0x10000);
    ck_assert_uint_eq(xlate(1, 0xfff, &avail), 0x107ff);
    ck_assert_uint_eq(avail, 1);
    /* entries in use cannot change under the BAR */
    ck_assert_int_eq(entry(3, 0x30000, 0x800), QEPC_ERR_INBOUND);
    ck_assert_uint_eq(xlate(1, 0, NULL), 0x20000);
    /* back to one mapping: the entries are free again */
    stage(1, 0x50000, 0x1000, 0);
    ck_assert_int_eq(commit(1, 0), 0);
    ck_assert_uint_eq(xlate(1, 0x800, NULL), 0x50800);
    ck_assert_int_eq(entry(3, 0x30000, 0x800), 0);
}
END_TEST

START_TEST(bad_subranges_refused)
{
    fresh(4);
    entry(0, 0x10000, 0x800);
    entry(1, 0x20000, 0x400);
    /* sizes add up to less than the BAR */
    stage(0, 0, 0x1000, QEPC_SUBMAP(0, 2));
    ck_assert_int_eq(commit(0, 0), QEPC_ERR_INBOUND);
    ck_assert(!epc_bars_enabled(&b, 0));
    /* beyond the entries the device has */
    stage(0, 0, 0x1000, QEPC_SUBMAP(3, 2));
    ck_assert_int_eq(commit(0, 0), QEPC_ERR_INBOUND);
    /* an entry of size 0 */
    stage(0, 0, 0x1000, QEPC_SUBMAP(1, 3));
    ck_assert_int_eq(commit(0, 0), QEPC_ERR_INBOUND);
    /* entries used by another BAR */
    entry(1, 0x20000, 0x800);
    stage(0, 0, 0x1000, QEPC_SUBMAP(0, 2));
    ck_assert_int_eq(commit(0, 0), 0);
    stage(2, 0, 0x1000, QEPC_SUBMAP(1, 2));
    entry(2, 0x30000, 0x800);
    ck_assert_int_eq(commit(2, 0), QEPC_ERR_INBOUND);
    ck_assert(epc_bars_enabled(&b, 0));
    ck_assert_int_eq(w(QEPC_BAR_BASE(0) + QEPC_BAR_SUBMAP, 0x10000),
                     QEPC_ERR_INBOUND);
}
END_TEST

START_TEST(kinds)
{
    fresh(0);
    b.kind[1] = QEPC_BAR_DISABLED;
    b.kind[2] = QEPC_BAR_FIXED | 16 << 8;          /* 64 KiB */
    b.kind[4] = QEPC_BAR_KIND_64BIT;
    stage(1, 0, 0x1000, 0);
    ck_assert_int_eq(commit(1, 0), QEPC_ERR_BAR);
    stage(2, 0, 0x1000, 0);
    ck_assert_int_eq(commit(2, 0), QEPC_ERR_BAR);
    stage(2, 0, 0x10000, 0);
    ck_assert_int_eq(commit(2, 0), 0);
    stage(4, 0, 0x1000, 0);
    ck_assert_int_eq(commit(4, 0), QEPC_ERR_BAR);
    ck_assert_int_eq(commit(4, 0x4), 0);
    /* BAR5 is the upper half of the 64-bit BAR4 */
    stage(5, 0, 0x1000, 0);
    ck_assert_int_eq(commit(5, 0), QEPC_ERR_BAR);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bars");
    TCase *tc = tcase_create("bars");

    tcase_add_test(tc, whole_bar_commit_is_atomic);
    tcase_add_test(tc, subranges_in_order);
    tcase_add_test(tc, bad_subranges_refused);
    tcase_add_test(tc, kinds);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
