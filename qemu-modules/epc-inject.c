/*
 * Fault injection rules: parsing, formatting and matching, in plain C and
 * GLib (tests/unit/test-inject.c).  The link (epc-link.c) applies them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qemu-epc-proto.h"
#include "epc-inject.h"

static const char *const kind_names[QEP_FAULT_KINDS] = {
    [QEP_FAULT_CPL_TIMEOUT] = "cpl-timeout",
    [QEP_FAULT_CPL_UR] = "cpl-ur",
    [QEP_FAULT_CPL_CA] = "cpl-ca",
    [QEP_FAULT_CPL_POISON] = "cpl-poison",
    [QEP_FAULT_CPL_DELAY] = "cpl-delay",
    [QEP_FAULT_MSI_DROP] = "msi-drop",
    [QEP_FAULT_MSI_DELAY] = "msi-delay",
    [QEP_FAULT_LINK_DOWN] = "link-down",
    [QEP_FAULT_REMOVE] = "remove",
};

static const struct {
    const char *name;
    uint32_t types;
} matches[] = {
    { "mem-read", 1u << QEP_MSG_MEM_READ },
    { "mem-write", 1u << QEP_MSG_MEM_WRITE },     /* non-posted ones */
    { "io-read", 1u << QEP_MSG_IO_READ },
    { "io-write", 1u << QEP_MSG_IO_WRITE },
    { "cfg-read", 1u << QEP_MSG_CFG_READ },
    { "cfg-write", 1u << QEP_MSG_CFG_WRITE },
    { "map", 1u << QEP_MSG_MAP },
    { "any", (1u << QEP_MSG_MEM_READ) | (1u << QEP_MSG_MEM_WRITE) |
             (1u << QEP_MSG_IO_READ) | (1u << QEP_MSG_IO_WRITE) |
             (1u << QEP_MSG_CFG_READ) | (1u << QEP_MSG_CFG_WRITE) |
             (1u << QEP_MSG_MAP) },
};

const char *qep_fault_name(enum qep_fault_kind kind)
{
    return kind < QEP_FAULT_KINDS ? kind_names[kind] : "?";
}

static bool is_cpl_fault(enum qep_fault_kind k)
{
    return QEP_FAULTS_CPL & (1u << k);
}

/* "N" (1..1000000), or "P%" (1..100): 0, or -1 */
static int parse_count(const char *s, QepFault *f)
{
    char *end;
    guint64 v = g_ascii_strtoull(s, &end, 10);

    if (end == s || v == 0) {
        return -1;
    }
    if (*end == '%' && !end[1] && v <= 100) {
        f->percent = v;
        f->count = 1;
        return 0;
    }
    if (*end || v > 1000000) {
        return -1;
    }
    f->count = v;
    return 0;
}

static int parse_ms(const char *s, uint32_t *ms)
{
    char *end;
    guint64 v = g_ascii_strtoull(s, &end, 10);

    if (end == s || *end || v == 0 || v > 600000) {
        return -1;
    }
    *ms = v;
    return 0;
}

static int parse_rule(const char *rule, QepFault *f, char *why, size_t len)
{
    g_auto(GStrv) part = g_strsplit(rule, ":", -1);
    unsigned n = g_strv_length(part), i = 1;
    int k;

    memset(f, 0, sizeof(*f));
    f->count = 1;
    for (k = 0; k < QEP_FAULT_KINDS; k++) {
        if (!strcmp(part[0], kind_names[k])) {
            break;
        }
    }
    if (k == QEP_FAULT_KINDS) {
        snprintf(why, len, "'%s': unknown fault (cpl-timeout, cpl-ur, cpl-ca, "
                 "cpl-poison, cpl-delay, msi-drop, msi-delay, link-down, "
                 "remove)", part[0]);
        return -1;
    }
    f->kind = k;
    if (is_cpl_fault(k)) {
        for (unsigned m = 0; i < n && m < G_N_ELEMENTS(matches); m++) {
            if (!strcmp(part[i], matches[m].name)) {
                f->match = matches[m].types;
            }
        }
        if (!f->match) {
            snprintf(why, len, "'%s': %s needs the requests it acts on "
                     "(mem-read, mem-write, io-read, io-write, cfg-read, "
                     "cfg-write, map, any)", rule, part[0]);
            return -1;
        }
        i++;
    }
    if (k != QEP_FAULT_LINK_DOWN && k != QEP_FAULT_REMOVE && i < n) {
        if (parse_count(part[i], f) < 0) {
            snprintf(why, len, "'%s': '%s' is not a count (1 to 1000000) or a "
                     "share (1%% to 100%%)", rule, part[i]);
            return -1;
        }
        i++;
    }
    if (k == QEP_FAULT_CPL_DELAY || k == QEP_FAULT_MSI_DELAY ||
        k == QEP_FAULT_LINK_DOWN) {
        if (i >= n || parse_ms(part[i], &f->ms) < 0) {
            snprintf(why, len, "'%s': %s needs a time in ms (1 to 600000) "
                     "last", rule, part[0]);
            return -1;
        }
        i++;
    }
    if (i < n) {
        snprintf(why, len, "'%s': '%s' is one field too many", rule, part[i]);
        return -1;
    }
    return 0;
}

int qep_faults_parse(const char *spec, QepFaults *out, char *why,
                     size_t why_len)
{
    g_auto(GStrv) rules = g_strsplit(spec ? spec : "", ";", -1);
    QepFaults fs = { .n = 0 };

    for (int i = 0; rules[i]; i++) {
        g_strstrip(rules[i]);
        if (!*rules[i]) {
            continue;
        }
        if (fs.n == QEP_MAX_FAULTS) {
            snprintf(why, why_len, "at most %d rules", QEP_MAX_FAULTS);
            return -1;
        }
        if (parse_rule(rules[i], &fs.f[fs.n], why, why_len) < 0) {
            return -1;
        }
        fs.n++;
    }
    *out = fs;
    return 0;
}

char *qep_faults_format(const QepFaults *fs)
{
    GString *s = g_string_new("");

    for (int i = 0; i < fs->n; i++) {
        const QepFault *f = &fs->f[i];

        if (!f->count) {
            continue;
        }
        if (s->len) {
            g_string_append_c(s, ';');
        }
        g_string_append(s, kind_names[f->kind]);
        if (is_cpl_fault(f->kind)) {
            for (unsigned m = 0; m < G_N_ELEMENTS(matches); m++) {
                if (matches[m].types == f->match) {
                    g_string_append_printf(s, ":%s", matches[m].name);
                    break;
                }
            }
        }
        if (f->kind != QEP_FAULT_LINK_DOWN && f->kind != QEP_FAULT_REMOVE) {
            if (f->percent) {
                g_string_append_printf(s, ":%u%%", f->percent);
            } else {
                g_string_append_printf(s, ":%u", f->count);
            }
        }
        if (f->ms) {
            g_string_append_printf(s, ":%u", f->ms);
        }
    }
    return g_string_free(s, false);
}

QepFault *qep_faults_take(QepFaults *fs, uint32_t kinds, unsigned type)
{
    for (int i = 0; i < fs->n; i++) {
        QepFault *f = &fs->f[i];

        if (!f->count || !(kinds & (1u << f->kind))) {
            continue;
        }
        if (is_cpl_fault(f->kind) && !(f->match & (1u << type))) {
            continue;
        }
        if (f->percent) {
            if (g_random_int_range(0, 100) >= (int)f->percent) {
                continue;
            }
        } else {
            f->count--;
        }
        return f;
    }
    return NULL;
}
