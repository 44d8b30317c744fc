/*
 * qemu-epc's outbound windows: ranges of the window BAR (BAR2) that lead to
 * host PCI addresses, each carried by one function's link.  Plain C: no
 * QEMU dependency, unit-tested in tests/unit.  Registers: qemu-epc-regs.h,
 * docs/qemu-epc.md ("Register map").
 *
 * A window's OFF, SIZE and PCI registers may change only while it is
 * disabled; writing CTRL with ENABLE checks them (granule, inside the
 * window BAR, no wrap of the host range) and enables the window, or leaves
 * it disabled and says why.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_WINDOWS_H
#define EPC_WINDOWS_H

#include <stdbool.h>
#include <stdint.h>
#include "qemu-epc-regs.h"

/* window offsets and sizes are multiples of this (register WIN_ALIGN) */
#define EPC_WIN_ALIGN 0x1000

typedef struct EpcWin {
    uint64_t offset, size, pci_addr;
    uint32_t ctrl;           /* ENABLE and the function */
} EpcWin;

typedef struct EpcWindows {
    EpcWin win[QEPC_NUM_WINDOWS];
    uint64_t bar_size;       /* the window BAR's size */
    unsigned functions;      /* functions the controller has */
} EpcWindows;

/* Reset state: every window disabled and zero; bar_size, functions kept. */
void epc_windows_reset(EpcWindows *ws);

/* Reads of the window registers; false if @off is not one of them. */
bool epc_windows_read(const EpcWindows *ws, unsigned off, uint32_t *val);

/*
 * Writes: 0 when handled, -1 when @off is not a window register, or a
 * QEPC_ERR_* code with *why set when the write is refused (a window
 * changed while enabled, an invalid window enabled: it stays disabled, a
 * function the controller does not have: nothing changes).  *committed is
 * the window of a CTRL write that took effect, else -1.
 */
int epc_windows_write(EpcWindows *ws, unsigned off, uint32_t val,
                      const char **why, int *committed);

static inline bool epc_win_enabled(const EpcWin *w)
{
    return w->ctrl & QEPC_WIN_ENABLE;
}

static inline unsigned epc_win_func(const EpcWin *w)
{
    return QEPC_WIN_FUNC_OF(w->ctrl);
}

/* The enabled window that holds [off, off + size) of the BAR, or -1. */
int epc_windows_find(const EpcWindows *ws, uint64_t off, uint64_t size);

/*
 * The host address of BAR offset @off (in window @n) and how many bytes
 * from there the window still covers.
 */
uint64_t epc_windows_host(const EpcWindows *ws, int n, uint64_t off,
                          uint64_t *avail);

#endif /* EPC_WINDOWS_H */
