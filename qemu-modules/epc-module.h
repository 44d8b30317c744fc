/*
 * Loading qemu-epc modules into a stock QEMU (see qemu-epc-launch).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EPC_MODULE_H
#define EPC_MODULE_H

/*
 * True if the running QEMU is the one this module was built against
 * (version and package string); otherwise print why on stderr and return
 * false, and the caller registers nothing.
 */
bool qep_module_check_qemu(const char *type);

#endif /* EPC_MODULE_H */
