// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the fault injection rules: parsing, formatting, matching. */
#include <check.h>
#include "check-run.h"
#include <glib.h>
#include "qemu-epc-proto.h"
#include "epc-inject.h"

static QepFaults fs;
static char why[200];

static int parse(const char *spec)
{
    why[0] = 0;
    return qep_faults_parse(spec, &fs, why, sizeof(why));
}

static void ck_format(const char *want)
{
    char *got = qep_faults_format(&fs);

    ck_assert_str_eq(got, want);
    g_free(got);
}

START_TEST(test_rules_read_and_written_back)
{
    ck_assert_int_eq(parse("cpl-timeout:mem-read:5"), 0);
    ck_assert_int_eq(fs.n, 1);
    ck_assert_int_eq(fs.f[0].kind, QEP_FAULT_CPL_TIMEOUT);
    ck_assert_uint_eq(fs.f[0].match, 1u << QEP_MSG_MEM_READ);
    ck_assert_uint_eq(fs.f[0].count, 5);
    ck_format("cpl-timeout:mem-read:5");

    ck_assert_int_eq(parse(" cpl-ur:cfg-read ; msi-delay:2:40;link-down:250 "), 0);
    ck_assert_int_eq(fs.n, 3);
    ck_assert_uint_eq(fs.f[0].count, 1);             /* one by default */
    ck_assert_uint_eq(fs.f[1].ms, 40);
    ck_assert_uint_eq(fs.f[2].ms, 250);
    ck_format("cpl-ur:cfg-read:1;msi-delay:2:40;link-down:250");

    ck_assert_int_eq(parse("cpl-delay:any:25%:10;remove"), 0);
    ck_assert_uint_eq(fs.f[0].percent, 25);
    ck_format("cpl-delay:any:25%:10;remove");

    ck_assert_int_eq(parse(""), 0);
    ck_assert_int_eq(fs.n, 0);
    ck_format("");
}
END_TEST

START_TEST(test_bad_rules_refused_with_the_reason)
{
    static const struct {
        const char *spec, *why;
    } bad[] = {
        { "cpl-lost:mem-read", "unknown fault" },
        { "cpl-timeout", "needs the requests it acts on" },
        { "cpl-timeout:mem-reed:1", "needs the requests it acts on" },
        { "cpl-ca:mem-read:0", "is not a count" },
        { "cpl-ca:mem-read:101%", "is not a count" },
        { "cpl-ca:mem-read:-3", "is not a count" },
        { "cpl-delay:mem-read:1", "needs a time in ms" },
        { "msi-delay:1:0", "needs a time in ms" },
        { "link-down", "needs a time in ms" },
        { "msi-drop:1:5", "one field too many" },
        { "remove:3", "one field too many" },
        { "msi-drop;msi-drop;msi-drop;msi-drop;msi-drop;msi-drop;msi-drop;"
          "msi-drop;msi-drop", "at most 8 rules" },
    };

    ck_assert_int_eq(parse("msi-drop:3"), 0);
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        ck_assert_msg(parse(bad[i].spec) < 0, "%s accepted", bad[i].spec);
        ck_assert_msg(strstr(why, bad[i].why), "%s: %s", bad[i].spec, why);
        /* what was set stays */
        ck_assert_int_eq(fs.f[0].kind, QEP_FAULT_MSI_DROP);
        ck_assert_uint_eq(fs.f[0].count, 3);
    }
}
END_TEST

START_TEST(test_rules_act_on_their_matches_and_run_out)
{
    uint32_t cpl = (1u << QEP_FAULT_CPL_TIMEOUT) | (1u << QEP_FAULT_CPL_UR);
    QepFault *f;

    ck_assert_int_eq(parse("cpl-timeout:mem-read:2;cpl-ur:any:1"), 0);
    ck_assert_ptr_null(qep_faults_take(&fs, 1u << QEP_FAULT_MSI_DROP,
                       QEP_MSG_MEM_READ));
    f = qep_faults_take(&fs, cpl, QEP_MSG_MEM_READ);
    ck_assert_int_eq(f->kind, QEP_FAULT_CPL_TIMEOUT);
    ck_format("cpl-timeout:mem-read:1;cpl-ur:any:1");
    /* another type: the next rule that matches it */
    f = qep_faults_take(&fs, cpl, QEP_MSG_CFG_WRITE);
    ck_assert_int_eq(f->kind, QEP_FAULT_CPL_UR);
    ck_assert_ptr_null(qep_faults_take(&fs, cpl, QEP_MSG_CFG_WRITE));
    f = qep_faults_take(&fs, cpl, QEP_MSG_MEM_READ);
    ck_assert_int_eq(f->kind, QEP_FAULT_CPL_TIMEOUT);
    ck_assert_ptr_null(qep_faults_take(&fs, cpl, QEP_MSG_MEM_READ));
    ck_format("");

    /* a share acts on about that share, and never runs out */
    ck_assert_int_eq(parse("cpl-ca:mem-read:50%"), 0);
    int hits = 0;

    for (int i = 0; i < 2000; i++)
        hits += qep_faults_take(&fs, 1u << QEP_FAULT_CPL_CA,
                    QEP_MSG_MEM_READ) != NULL;
    ck_assert_int_gt(hits, 800);
    ck_assert_int_lt(hits, 1200);
    ck_format("cpl-ca:mem-read:50%");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("inject");
    TCase *tc = tcase_create("rules");

    tcase_add_test(tc, test_rules_read_and_written_back);
    tcase_add_test(tc, test_bad_rules_refused_with_the_reason);
    tcase_add_test(tc, test_rules_act_on_their_matches_and_run_out);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
