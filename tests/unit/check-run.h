/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every unit test program ends with: run its suite, say how it went. */
#ifndef CHECK_RUN_H
#define CHECK_RUN_H

#include <check.h>

/* Run @s verbosely; the program's exit status (1 if any test failed). */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
