// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of qemu-epc's MHI register block: the two views, doorbells. */
#include <check.h>
#include "check-run.h"
#include "epc-mhi.h"

static EpcMhi m;

#define HOST(b) ((b) - QEPC_MHI_HOST_BASE)   /* host offset of block offset b */

static bool host_w(unsigned off, uint32_t val)
{
    bool irq = true;

    ck_assert(epc_mhi_host_write(&m, off, val, &irq));
    return irq;
}

static uint32_t host_r(unsigned off)
{
    uint32_t v = 0xdeadbeef;

    ck_assert(epc_mhi_host_read(&m, off, &v));
    return v;
}

START_TEST(reset_values_point_at_the_doorbells)
{
    epc_mhi_reset(&m);
    /* CHDBOFF, ERDBOFF, BHIOFF as the host reads them */
    ck_assert_uint_eq(host_r(0x18), HOST(QEPC_MHI_CHDB(0)));
    ck_assert_uint_eq(host_r(0x20), HOST(QEPC_MHI_ERDB(0)));
    ck_assert_uint_eq(host_r(0x28), 0x100);
    /* 128 channels and 128 event rings in MHICFG (NCH, NER) */
    ck_assert_uint_eq(host_r(0x10) & 0xff, 128);
    ck_assert_uint_eq((host_r(0x10) >> 16) & 0xff, 128);
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_INT_STATUS), 0);
}
END_TEST

START_TEST(both_views_share_the_mhi_registers)
{
    epc_mhi_reset(&m);
    /* guest 1 writes MHISTATUS (block 0x148), the host reads it at 0x48 */
    epc_mhi_write(&m, 0x148, 0x0201);
    ck_assert_uint_eq(host_r(0x48), 0x0201);
    /* the host writes CCABAP (0x58), guest 1 reads it at 0x158 */
    ck_assert(!host_w(0x58, 0x12345000));
    ck_assert_uint_eq(epc_mhi_read(&m, 0x158), 0x12345000);
    /* BHI EXECENV: guest 1 at 0x228, the host at BHIOFF + 0x28 */
    epc_mhi_write(&m, 0x228, 2);
    ck_assert_uint_eq(host_r(host_r(0x28) + 0x28), 2);
}
END_TEST

START_TEST(mhictrl_write_latches_and_interrupts_when_unmasked)
{
    epc_mhi_reset(&m);
    ck_assert(!host_w(0x38, 0x200));            /* masked: latched, no interrupt */
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_INT_STATUS), 1);
    ck_assert(epc_mhi_write(&m, QEPC_MHI_INT_MASK, 1));   /* unmasked: up */
    ck_assert(!epc_mhi_write(&m, QEPC_MHI_INT_MASK, 3));  /* nothing new */
    ck_assert(!host_w(0x38, 0x200));            /* still latched: no new one */
    ck_assert(host_w(0x70, 1));                 /* CRDB rung */
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_INT_STATUS), 3);
    /* status is read-only; the clear register clears */
    ck_assert(!epc_mhi_write(&m, QEPC_MHI_INT_STATUS, 0));
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_INT_STATUS), 3);
    /* a clear that leaves a latched unmasked bit signals again */
    ck_assert(epc_mhi_write(&m, QEPC_MHI_INT_CLEAR, 1));
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_INT_STATUS), 2);
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_INT_CLEAR), 0);
    ck_assert(!epc_mhi_write(&m, QEPC_MHI_INT_CLEAR, 2));
    ck_assert(host_w(0x38, 0x200));
}
END_TEST

START_TEST(channel_and_event_doorbells)
{
    epc_mhi_reset(&m);
    epc_mhi_write(&m, QEPC_MHI_CHDB_MASK(1), 1u << 2);   /* channel 34 */
    /* the high half does not ring; the low half does */
    ck_assert(!host_w(HOST(QEPC_MHI_CHDB(34)) + 4, 0));
    ck_assert(host_w(HOST(QEPC_MHI_CHDB(34)), 0x5000));
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_CHDB_STATUS(1)), 1u << 2);
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_CHDB(34)), 0x5000);
    /* masked: latched (guest 1 ANDs with its mask), no interrupt */
    ck_assert(!host_w(HOST(QEPC_MHI_CHDB(35)), 1));
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_CHDB_STATUS(1)), 3u << 2);
    ck_assert(!epc_mhi_write(&m, QEPC_MHI_CHDB_CLEAR(1), ~0u));
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_CHDB_STATUS(1)), 0);
    epc_mhi_write(&m, QEPC_MHI_ERDB_MASK(3), 1u << 31);  /* event ring 127 */
    ck_assert(host_w(HOST(QEPC_MHI_ERDB(127)), 7));
    ck_assert_uint_eq(epc_mhi_read(&m, QEPC_MHI_ERDB_STATUS(3)), 1u << 31);
}
END_TEST

START_TEST(host_cannot_reach_the_status_registers)
{
    uint32_t v;
    bool irq;

    epc_mhi_reset(&m);
    /* the host's last word is the block's last */
    ck_assert(epc_mhi_host_read(&m, QEPC_MHI_SIZE - QEPC_MHI_HOST_BASE - 4, &v));
    ck_assert(!epc_mhi_host_read(&m, QEPC_MHI_SIZE - QEPC_MHI_HOST_BASE, &v));
    ck_assert(!epc_mhi_host_write(&m, QEPC_MHI_SIZE, 1, &irq));
    ck_assert(!irq);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mhi");
    TCase *tc = tcase_create("mhi");

    tcase_add_test(tc, reset_values_point_at_the_doorbells);
    tcase_add_test(tc, both_views_share_the_mhi_registers);
    tcase_add_test(tc, mhictrl_write_latches_and_interrupts_when_unmasked);
    tcase_add_test(tc, channel_and_event_doorbells);
    tcase_add_test(tc, host_cannot_reach_the_status_registers);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
