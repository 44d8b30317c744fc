/*
 * qemu-epc's outbound windows (see epc-windows.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include "epc-windows.h"
#include "epc-reg64.h"

#define WIN_REGS 0x20            /* bytes of registers per window */

void epc_windows_reset(EpcWindows *ws)
{
    memset(ws->win, 0, sizeof(ws->win));
}

static EpcWin *win_of(const EpcWindows *ws, unsigned off)
{
    if (off < QEPC_WIN_BASE(0) || off >= QEPC_WIN_BASE(QEPC_NUM_WINDOWS)) {
        return NULL;
    }
    return (EpcWin *)&ws->win[(off - QEPC_WIN_BASE(0)) / WIN_REGS];
}

bool epc_windows_read(const EpcWindows *ws, unsigned off, uint32_t *val)
{
    const EpcWin *w = win_of(ws, off);

    if (!w) {
        return false;
    }
    switch (off % WIN_REGS) {
    case QEPC_WIN_OFF_LO:
        *val = (uint32_t)w->offset;
        break;
    case QEPC_WIN_OFF_HI:
        *val = w->offset >> 32;
        break;
    case QEPC_WIN_SIZE_LO:
        *val = (uint32_t)w->size;
        break;
    case QEPC_WIN_SIZE_HI:
        *val = w->size >> 32;
        break;
    case QEPC_WIN_PCI_LO:
        *val = (uint32_t)w->pci_addr;
        break;
    case QEPC_WIN_PCI_HI:
        *val = w->pci_addr >> 32;
        break;
    case QEPC_WIN_CTRL:
        *val = w->ctrl;
        break;
    default:
        *val = 0;
    }
    return true;
}

/* May @w be enabled as it stands? */
static bool win_valid(const EpcWindows *ws, const EpcWin *w)
{
    return w->size && !(w->offset % EPC_WIN_ALIGN) &&
           !(w->size % EPC_WIN_ALIGN) && w->offset <= ws->bar_size &&
           w->size <= ws->bar_size - w->offset &&
           w->pci_addr + w->size - 1 >= w->pci_addr;
}

int epc_windows_write(EpcWindows *ws, unsigned off, uint32_t val,
                      const char **why, int *committed)
{
    EpcWin *w = win_of(ws, off);
    unsigned reg = off % WIN_REGS;
    uint64_t *field;
    bool hi = false;

    *committed = -1;
    if (!w) {
        return -1;
    }
    switch (reg) {
    case QEPC_WIN_OFF_LO:
    case QEPC_WIN_OFF_HI:
        field = &w->offset;
        hi = reg == QEPC_WIN_OFF_HI;
        break;
    case QEPC_WIN_SIZE_LO:
    case QEPC_WIN_SIZE_HI:
        field = &w->size;
        hi = reg == QEPC_WIN_SIZE_HI;
        break;
    case QEPC_WIN_PCI_LO:
    case QEPC_WIN_PCI_HI:
        field = &w->pci_addr;
        hi = reg == QEPC_WIN_PCI_HI;
        break;
    case QEPC_WIN_CTRL:
        field = NULL;
        break;
    default:
        return -1;              /* reserved: not a register */
    }
    if (field) {
        if (epc_win_enabled(w)) {
            *why = "changed while enabled";
            return QEPC_ERR_WINDOW;
        }
        epc_set32(field, hi, val);
        return 0;
    }
    if (QEPC_WIN_FUNC_OF(val) >= ws->functions) {
        *why = "names a function the controller does not have";
        return QEPC_ERR_FUNC;
    }
    val &= QEPC_WIN_ENABLE | QEPC_WIN_FUNC(7);
    *committed = w - ws->win;
    if ((val & QEPC_WIN_ENABLE) && !win_valid(ws, w)) {
        w->ctrl = val & ~QEPC_WIN_ENABLE;
        *why = "rejected: offset and size must be non-zero multiples of "
               "WIN_ALIGN inside the window BAR, the host range must not wrap";
        return QEPC_ERR_WINDOW;
    }
    w->ctrl = val;
    return 0;
}

int epc_windows_find(const EpcWindows *ws, uint64_t off, uint64_t size)
{
    for (int i = 0; i < QEPC_NUM_WINDOWS; i++) {
        const EpcWin *w = &ws->win[i];

        if (epc_win_enabled(w) && off >= w->offset &&
            off - w->offset < w->size && size <= w->size - (off - w->offset)) {
            return i;
        }
    }
    return -1;
}

uint64_t epc_windows_host(const EpcWindows *ws, int n, uint64_t off,
                          uint64_t *avail)
{
    const EpcWin *w = &ws->win[n];

    if (avail) {
        *avail = w->offset + w->size - off;
    }
    return w->pci_addr + (off - w->offset);
}
