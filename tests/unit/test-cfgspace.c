// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the endpoint config space held by qemu-epc. */
#include <check.h>
#include "check-run.h"
#include "epc-cfgspace.h"

static EpcCfgSpace cs;

static EpcCfgParams params(void)
{
    EpcCfgParams p = {
        .hdr = { .vendor_id = 0x104c, .device_id = 0xb500, .revision = 2,
                 .baseclass = 0xff, .subsys_vendor_id = 0x1af4,
                 .subsys_id = 0x1100, .intx_pin = 1 },
        .msi_log2 = 5, .msix_count = 2048,
        .msix_table = 0 | 0x0, .msix_pba = 0 | 0x8000,
    };
    p.bar[0] = (struct qep_bar_desc){ .size = 0x10000, .flags = 0 };
    p.bar[2] = (struct qep_bar_desc){ .size = 1ull << 32, .flags = 0xc };
    p.bar[4] = (struct qep_bar_desc){ .size = 128, .flags = 0 };
    p.bar[5] = (struct qep_bar_desc){ .size = 256, .flags = 1 };
    return p;
}

START_TEST(header_and_caps)
{
    EpcCfgParams p = params();

    ck_assert_ptr_null(epc_cfg_check(&p));
    epc_cfg_build(&cs, &p);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0, 4), 0xb500104c);
    ck_assert_uint_eq(epc_cfg_read(&cs, 8, 4), 0xff000002);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x2c, 4), 0x11001af4);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x3d, 1), 1);
    ck_assert_uint_eq(epc_cfg_read(&cs, 6, 2) & 0x10, 0x10);
    /* capability chain: PCIe -> MSI -> MSI-X -> PM -> end */
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x34, 1), EPC_CFG_PCIE_CAP);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_PCIE_CAP, 2),
                      0x10 | EPC_CFG_MSI_CAP << 8);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_MSI_CAP, 2),
                      0x05 | EPC_CFG_MSIX_CAP << 8);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_MSI_CAP + 2, 2), 0x80 | 5 << 1);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_MSIX_CAP, 2),
                      0x11 | EPC_CFG_PM_CAP << 8);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_PM_CAP, 2), 0x01);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_PM_CAP + 2, 2), 0x4003);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_MSIX_CAP + 2, 2), 2047);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_MSIX_CAP + 8, 4), 0x8000);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x100, 4), 0);
    /* read-only fields stay */
    epc_cfg_write(&cs, 0, 4, 0);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0, 4), 0xb500104c);
}
END_TEST

/* D0 and D3hot only; PME enable writable, its status write-1-to-clear */
START_TEST(power_states)
{
    EpcCfgParams p = params();
    unsigned csr = EPC_CFG_PM_CAP + 4;

    epc_cfg_build(&cs, &p);
    ck_assert_uint_eq(epc_cfg_read(&cs, csr, 2), 0x0008);  /* D0, no reset */
    ck_assert_uint_eq(epc_cfg_write(&cs, csr, 2, 0x0103), 0);
    ck_assert_uint_eq(epc_cfg_read(&cs, csr, 2), 0x010b);  /* D3hot, PME_En */
    epc_cfg_write(&cs, csr, 2, 0x0101);                    /* D1: ignored */
    ck_assert_uint_eq(epc_cfg_read(&cs, csr, 2), 0x010b);
    epc_cfg_write(&cs, csr, 1, 0x02);                      /* D2: ignored */
    ck_assert_uint_eq(epc_cfg_read(&cs, csr, 2), 0x010b);
    epc_cfg_write(&cs, csr, 4, 0x8000);                    /* back to D0 */
    ck_assert_uint_eq(epc_cfg_read(&cs, csr, 2), 0x0008);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_PM_CAP + 1, 1), 0);
}
END_TEST

START_TEST(bar_sizing)
{
    EpcCfgParams p = params();

    epc_cfg_build(&cs, &p);
    for (int i = 0; i < 6; i++)
        epc_cfg_write(&cs, 0x10 + 4 * i, 4, 0xffffffff);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x10, 4), 0xffff0000);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x14, 4), 0);      /* absent */
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x18, 4), 0x0000000c);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x1c, 4), 0xffffffff);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x20, 4), 0xffffff80);
    ck_assert_uint_eq(epc_cfg_read(&cs, 0x24, 4), 0xffffff01);
    /* assign and decode */
    epc_cfg_write(&cs, 0x10, 4, 0xfe000000);
    epc_cfg_write(&cs, 0x18, 4, 0);
    epc_cfg_write(&cs, 0x1c, 4, 0x8);
    epc_cfg_write(&cs, 0x20, 4, 0xfe010080);
    epc_cfg_write(&cs, 0x24, 4, 0xc100);
    ck_assert(epc_cfg_bar_addr(&cs, 2) == 0x800000000ull);
    uint64_t off;
    ck_assert_int_eq(epc_cfg_bar_match(&cs, false, 0xfe000010, 4, &off), -1);
    ck_assert_uint_eq(epc_cfg_write(&cs, 4, 2, 0x3) & EPC_CFG_EV_COMMAND,
                      EPC_CFG_EV_COMMAND);
    ck_assert_int_eq(epc_cfg_bar_match(&cs, false, 0xfe000010, 4, &off), 0);
    ck_assert(off == 0x10);
    ck_assert_int_eq(epc_cfg_bar_match(&cs, false, 0xfe00fffe, 4, &off), -1);
    ck_assert_int_eq(epc_cfg_bar_match(&cs, false, 0x800000100ull, 8, &off), 2);
    ck_assert_int_eq(epc_cfg_bar_match(&cs, false, 0xfe010080, 4, &off), 4);
    ck_assert_int_eq(epc_cfg_bar_match(&cs, true, 0xc104, 4, &off), 5);
    ck_assert(off == 4);
    ck_assert_int_eq(epc_cfg_bar_match(&cs, false, 0xc104, 4, &off), -1);
}
END_TEST

START_TEST(msi_and_msix)
{
    EpcCfgParams p = params();
    unsigned msi = EPC_CFG_MSI_CAP, ev;

    p.msi_log2 = 3;
    epc_cfg_build(&cs, &p);
    ck_assert(!epc_cfg_msi_enabled(&cs));
    ev = epc_cfg_write(&cs, msi + 4, 4, 0xfee00004);
    ck_assert_uint_eq(ev, EPC_CFG_EV_MSI);
    epc_cfg_write(&cs, msi + 8, 4, 0);
    epc_cfg_write(&cs, msi + 12, 2, 0x4020);
    /* asking for 32 vectors gets the 8 offered */
    epc_cfg_write(&cs, msi + 2, 2, 0x1 | 5 << 4);
    ck_assert(epc_cfg_msi_enabled(&cs));
    ck_assert_uint_eq(epc_cfg_msi_vectors(&cs), 8);
    ck_assert(epc_cfg_msi_addr(&cs) == 0xfee00004);
    ck_assert_uint_eq(epc_cfg_msi_data(&cs), 0x4020);
    ev = epc_cfg_write(&cs, EPC_CFG_MSIX_CAP + 2, 2, 0xc000);
    ck_assert_uint_eq(ev, EPC_CFG_EV_MSIX);
    ck_assert_uint_eq(epc_cfg_msix_ctrl(&cs), 0xc000 | 2047);
    /* status error bits are write-one-to-clear, not settable */
    epc_cfg_write(&cs, 6, 2, 0xffff);
    ck_assert_uint_eq(epc_cfg_read(&cs, 6, 2), 0x10);
}
END_TEST

START_TEST(no_msi)
{
    EpcCfgParams p = params();

    p.msi_log2 = -1;
    p.msix_count = 0;
    epc_cfg_build(&cs, &p);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_PCIE_CAP + 1, 1),
                      EPC_CFG_PM_CAP);
    ck_assert_uint_eq(epc_cfg_read(&cs, EPC_CFG_MSI_CAP, 4), 0);
    ck_assert_uint_eq(epc_cfg_write(&cs, EPC_CFG_MSI_CAP + 2, 2, 1), 0);
    ck_assert(!epc_cfg_msi_enabled(&cs));
}
END_TEST

START_TEST(bad_params)
{
    EpcCfgParams p = params();

    p.bar[1] = (struct qep_bar_desc){ .size = 0x3000, .flags = 0 };
    ck_assert_ptr_nonnull(epc_cfg_check(&p));
    p = params();
    p.bar[3] = (struct qep_bar_desc){ .size = 4096, .flags = 0 };  /* under 64-bit BAR2 */
    ck_assert_ptr_nonnull(epc_cfg_check(&p));
    p = params();
    p.bar[5] = (struct qep_bar_desc){ .size = 4096, .flags = 0x4 };
    ck_assert_ptr_nonnull(epc_cfg_check(&p));
    p = params();
    p.bar[5] = (struct qep_bar_desc){ .size = 512, .flags = 1 };
    ck_assert_ptr_nonnull(epc_cfg_check(&p));
    p = params();
    p.msix_table = 1;                             /* BAR1 not implemented */
    ck_assert_ptr_nonnull(epc_cfg_check(&p));
    p = params();
    p.msix_table = 0xf000;                        /* 2048 entries do not fit */
    ck_assert_ptr_nonnull(epc_cfg_check(&p));
    p = params();
    p.msi_log2 = 6;
    ck_assert_ptr_nonnull(epc_cfg_check(&p));
    p = params();
    p.hdr.intx_pin = 5;
    ck_assert_ptr_nonnull(epc_cfg_check(&p));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cfgspace");
    TCase *tc = tcase_create("cfgspace");

    tcase_add_test(tc, header_and_caps);
    tcase_add_test(tc, bar_sizing);
    tcase_add_test(tc, power_states);
    tcase_add_test(tc, msi_and_msix);
    tcase_add_test(tc, no_msi);
    tcase_add_test(tc, bad_params);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
