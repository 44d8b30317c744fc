/*
 * A 64-bit register value written as two 32-bit halves (plain C, shared
 * by the QEMU-free register models epc-bars.c and epc-windows.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_REG64_H
#define EPC_REG64_H

#include <stdbool.h>
#include <stdint.h>

/* Set the low (@hi false) or high half of *@v to @val. */
static inline void epc_set32(uint64_t *v, bool hi, uint32_t val)
{
    *v = hi ? (*v & 0xffffffffull) | (uint64_t)val << 32
            : (*v & ~0xffffffffull) | val;
}

#endif /* EPC_REG64_H */
