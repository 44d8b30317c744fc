/*
 * Fault injection on a device's link: rules, set at run time with qom-set
 * of the devices' "inject" property, that make the next N (or a share of)
 * matching transactions fail as a PCIe link can make them fail
 * (docs/qemu-epc.md, "Fault injection").
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_INJECT_H
#define EPC_INJECT_H

#include <stdbool.h>
#include <stdint.h>

#define QEP_MAX_FAULTS      8

enum qep_fault_kind {
    QEP_FAULT_CPL_TIMEOUT,   /* the completion is never sent */
    QEP_FAULT_CPL_UR,        /* it says Unsupported Request */
    QEP_FAULT_CPL_CA,        /* it says Completer Abort */
    QEP_FAULT_CPL_POISON,    /* its data is poisoned */
    QEP_FAULT_CPL_DELAY,     /* it is sent @ms later */
    QEP_FAULT_MSI_DROP,      /* an MSI or MSI-X message is not sent */
    QEP_FAULT_MSI_DELAY,     /* ... is sent @ms later */
    QEP_FAULT_LINK_DOWN,     /* the link goes down for @ms */
    QEP_FAULT_REMOVE,        /* the function is gone until the rules change */
    QEP_FAULT_KINDS,
};

/* the kinds that act on a completion, and those that act on an interrupt */
#define QEP_FAULTS_CPL  ((1u << QEP_FAULT_CPL_TIMEOUT) | \
                         (1u << QEP_FAULT_CPL_UR) | (1u << QEP_FAULT_CPL_CA) | \
                         (1u << QEP_FAULT_CPL_POISON) | \
                         (1u << QEP_FAULT_CPL_DELAY))
#define QEP_FAULTS_MSI  ((1u << QEP_FAULT_MSI_DROP) | \
                         (1u << QEP_FAULT_MSI_DELAY))

typedef struct QepFault {
    enum qep_fault_kind kind;
    uint32_t match;          /* completion faults: 1 << request type */
    uint32_t count;          /* matching transactions left (0: spent) */
    uint32_t percent;        /* not 0: this share of them, without end */
    uint32_t ms;             /* delays, link down */
} QepFault;

typedef struct QepFaults {
    QepFault f[QEP_MAX_FAULTS];
    int n;
} QepFaults;

/*
 * Parse @spec: rules separated by ';', each KIND[:MATCH][:COUNT][:MS]
 * (docs/qemu-epc.md); "" is no rule.  0, or -1 with @why (for the user).
 */
int qep_faults_parse(const char *spec, QepFaults *out, char *why,
                     size_t why_len);

/* The rules still active, in the syntax they were given in (g_free it). */
char *qep_faults_format(const QepFaults *fs);

/*
 * The rule of a kind in @kinds (a bit mask of 1 << kind) that acts on a
 * transaction of request @type (for completion faults), if one does: it is
 * counted.  NULL if none does.
 */
QepFault *qep_faults_take(QepFaults *fs, uint32_t kinds, unsigned type);

/* The rule's name, "cpl-timeout" ... */
const char *qep_fault_name(enum qep_fault_kind kind);

#endif /* EPC_INJECT_H */
