// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of qemu-epc's outbound windows: checks, changes, lookups. */
#include <check.h>
#include "check-run.h"
#include "epc-windows.h"

#define BAR_SIZE 0x4000000ull   /* a 64 MiB window BAR */

static EpcWindows ws;

static void fresh(unsigned functions)
{
    ws.bar_size = BAR_SIZE;
    ws.functions = functions;
    epc_windows_reset(&ws);
}

/* write a register of window @n; returns epc_windows_write's result */
static int w(int n, unsigned reg, uint32_t val, int *committed)
{
    const char *why = NULL;
    int c, r;

    r = epc_windows_write(&ws, QEPC_WIN_BASE(n) + reg, val, &why, &c);
    ck_assert(r <= 0 || why);
    if (committed)
        *committed = c;
    return r;
}

static void stage(int n, uint64_t off, uint64_t size, uint64_t pci)
{
    ck_assert_int_eq(w(n, QEPC_WIN_OFF_LO, (uint32_t)off, NULL), 0);
    ck_assert_int_eq(w(n, QEPC_WIN_OFF_HI, off >> 32, NULL), 0);
    ck_assert_int_eq(w(n, QEPC_WIN_SIZE_LO, (uint32_t)size, NULL), 0);
    ck_assert_int_eq(w(n, QEPC_WIN_SIZE_HI, size >> 32, NULL), 0);
    ck_assert_int_eq(w(n, QEPC_WIN_PCI_LO, (uint32_t)pci, NULL), 0);
    ck_assert_int_eq(w(n, QEPC_WIN_PCI_HI, pci >> 32, NULL), 0);
}

static uint32_t r(int n, unsigned reg)
{
    uint32_t v = 0xdeadbeef;

    ck_assert(epc_windows_read(&ws, QEPC_WIN_BASE(n) + reg, &v));
    return v;
}

START_TEST(enable_find_translate)
{
    uint64_t avail;
    int c;

    fresh(1);
    stage(3, 0x10000, 0x2000, 0x1234567000ull);
    ck_assert_int_eq(r(3, QEPC_WIN_PCI_HI), 0x12);
    ck_assert_int_eq(r(3, QEPC_WIN_PCI_LO), 0x34567000);
    ck_assert_int_eq(epc_windows_find(&ws, 0x10000, 4), -1);  /* disabled */
    ck_assert_int_eq(w(3, QEPC_WIN_CTRL, QEPC_WIN_ENABLE, &c), 0);
    ck_assert_int_eq(c, 3);
    ck_assert_int_eq(r(3, QEPC_WIN_CTRL), QEPC_WIN_ENABLE);
    ck_assert_int_eq(epc_windows_find(&ws, 0x10000, 4), 3);
    ck_assert_int_eq(epc_windows_find(&ws, 0x11ffc, 4), 3);
    /* not wholly inside: no window */
    ck_assert_int_eq(epc_windows_find(&ws, 0x11ffe, 4), -1);
    ck_assert_int_eq(epc_windows_find(&ws, 0xfffc, 8), -1);
    ck_assert_int_eq(epc_windows_find(&ws, 0x12000, 1), -1);
    ck_assert(epc_windows_host(&ws, 3, 0x10010, &avail) == 0x1234567010ull);
    ck_assert(avail == 0x1ff0);
    /* the lowest-numbered enabled window wins where two overlap */
    stage(1, 0x11000, 0x1000, 0x9000);
    ck_assert_int_eq(w(1, QEPC_WIN_CTRL, QEPC_WIN_ENABLE, NULL), 0);
    ck_assert_int_eq(epc_windows_find(&ws, 0x11000, 4), 1);
    ck_assert_int_eq(epc_windows_find(&ws, 0x10000, 4), 3);
}
END_TEST

START_TEST(invalid_windows_stay_disabled)
{
    static const struct { uint64_t off, size, pci; } bad[] = {
        { 0, 0, 0 },                            /* empty */
        { 0x800, 0x1000, 0 },                   /* offset off the granule */
        { 0, 0x1800, 0 },                       /* size off the granule */
        { BAR_SIZE, 0x1000, 0 },                /* beyond the BAR */
        { BAR_SIZE - 0x1000, 0x2000, 0 },       /* past its end */
        { 0x1000, UINT64_MAX - 0xfff, 0 },      /* wraps the BAR check */
        { 0, 0x2000, UINT64_MAX - 0xfff },      /* host range wraps */
    };
    int c;

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fresh(1);
        stage(0, bad[i].off, bad[i].size, bad[i].pci);
        ck_assert_int_eq(w(0, QEPC_WIN_CTRL, QEPC_WIN_ENABLE, &c),
                         QEPC_ERR_WINDOW);
        ck_assert_int_eq(c, 0);                 /* committed, disabled */
        ck_assert_int_eq(r(0, QEPC_WIN_CTRL), 0);
        ck_assert_int_eq(epc_windows_find(&ws, bad[i].off, 1), -1);
    }
    /* the whole BAR and the top of the host space are fine */
    fresh(1);
    stage(0, 0, BAR_SIZE, UINT64_MAX - BAR_SIZE + 1);
    ck_assert_int_eq(w(0, QEPC_WIN_CTRL, QEPC_WIN_ENABLE, NULL), 0);
}
END_TEST

START_TEST(no_change_while_enabled)
{
    int c;

    fresh(1);
    stage(0, 0, 0x1000, 0x5000);
    ck_assert_int_eq(w(0, QEPC_WIN_CTRL, QEPC_WIN_ENABLE, NULL), 0);
    ck_assert_int_eq(w(0, QEPC_WIN_SIZE_LO, 0x2000, &c), QEPC_ERR_WINDOW);
    ck_assert_int_eq(c, -1);
    ck_assert_int_eq(w(0, QEPC_WIN_PCI_LO, 0x6000, NULL), QEPC_ERR_WINDOW);
    ck_assert_int_eq(r(0, QEPC_WIN_SIZE_LO), 0x1000);
    ck_assert_int_eq(r(0, QEPC_WIN_PCI_LO), 0x5000);
    /* disabled, it may change */
    ck_assert_int_eq(w(0, QEPC_WIN_CTRL, 0, NULL), 0);
    ck_assert_int_eq(w(0, QEPC_WIN_PCI_LO, 0x6000, NULL), 0);
    ck_assert_int_eq(w(0, QEPC_WIN_CTRL, QEPC_WIN_ENABLE, NULL), 0);
    ck_assert(epc_windows_host(&ws, 0, 0x10, NULL) == 0x6010);
}
END_TEST

START_TEST(functions_and_registers)
{
    uint32_t v;
    int c;

    fresh(2);
    stage(5, 0, 0x1000, 0);
    ck_assert_int_eq(w(5, QEPC_WIN_CTRL, QEPC_WIN_ENABLE | QEPC_WIN_FUNC(1), &c), 0);
    ck_assert_int_eq(epc_win_func(&ws.win[5]), 1);
    /* a function the controller lacks: refused, nothing changes */
    ck_assert_int_eq(w(5, QEPC_WIN_CTRL, QEPC_WIN_ENABLE | QEPC_WIN_FUNC(2), &c),
                     QEPC_ERR_FUNC);
    ck_assert_int_eq(c, -1);
    ck_assert_int_eq(r(5, QEPC_WIN_CTRL), QEPC_WIN_ENABLE | QEPC_WIN_FUNC(1));
    /* bits outside ENABLE and the function are not kept */
    ck_assert_int_eq(w(5, QEPC_WIN_CTRL, 0xfffff800 | QEPC_WIN_FUNC(1), NULL), 0);
    ck_assert_int_eq(r(5, QEPC_WIN_CTRL), QEPC_WIN_FUNC(1));
    /* the reserved word and offsets outside the window blocks */
    ck_assert_int_eq(w(5, 0x1c, 1, NULL), -1);
    ck_assert(epc_windows_read(&ws, QEPC_WIN_BASE(5) + 0x1c, &v) && v == 0);
    ck_assert(!epc_windows_read(&ws, QEPC_WIN_BASE(0) - 4, &v));
    ck_assert(!epc_windows_read(&ws, QEPC_WIN_BASE(QEPC_NUM_WINDOWS), &v));
    ck_assert_int_eq(w(QEPC_NUM_WINDOWS, 0, 1, NULL), -1);
    /* reset: all disabled and zero */
    epc_windows_reset(&ws);
    ck_assert_int_eq(r(5, QEPC_WIN_CTRL), 0);
    ck_assert(ws.bar_size == BAR_SIZE && ws.functions == 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("windows");
    TCase *tc = tcase_create("windows");

    tcase_add_test(tc, enable_find_translate);
    tcase_add_test(tc, invalid_windows_stay_disabled);
    tcase_add_test(tc, no_change_while_enabled);
    tcase_add_test(tc, functions_and_registers);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
