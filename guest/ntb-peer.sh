#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest 3 of `qemu-epc-bench run --epf ntb`, run by /init once its function
# (the secondary interface of guest 1's pci-epf-ntb) is present: ntb_hw_epf
# binds to it, and this guest is the far end of guest 2's network
# (vntb-agent.sh serve: 10.0.0.1, the servers guest 2's checks talk to), or
# with $QEPC_NTB_CLIENTS the other side of the NTB client checks
# (ntb-clients.sh, answering guest 2 on the serial line between them).
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
if ! load ntb || ! load ntb_hw_epf; then
	echo "QEPC-ERROR loading ntb and ntb_hw_epf in guest 3 failed"
	exit 1
fi
[ -z "${QEPC_NTB_CLIENTS:-}" ] || exec sh "$QEPC_SHARE/ntb-clients.sh"
exec sh "$QEPC_SHARE/vntb-agent.sh" serve
