#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of `qemu-epc-bench run` on kernels with the pci_endpoint
# kselftest (6.14 and later), run in guest 2 by /init once the function is
# present: load pci_endpoint_test and run the kselftest built from the same
# kernel tree, unchanged (the cases of the suite the harness names).  Its KTAP output ("ok N name", "not ok N name",
# "# Totals: ...") reaches the harness as it is printed; the exit status is
# the kselftest's.

ko=$(find /lib/modules -name pci_endpoint_test.ko | head -1)
[ -z "$ko" ] || insmod "$ko" || exit 1
t=0
until [ -c /dev/pci-endpoint-test.0 ]; do
	if [ $t -ge 100 ]; then
		echo "QEPC-ERROR pci_endpoint_test did not bind to $QEPC_FUNCTION in 10s"
		exit 1
	fi
	sleep 0.1
	t=$((t + 1))
done
echo "QEPC-BOUND $(basename "$(readlink /sys/bus/pci/devices/"$QEPC_FUNCTION"/driver)")"
# the suite's case list (qepc.suite=): kselftest options, one per line,
# e.g. "-r pci_ep_basic.MSI_TEST"; without one every case runs
list=/usr/local/share/qemu-epc/cases-${QEPC_SUITE:-kselftest}
# shellcheck disable=SC2046
exec /usr/local/bin/pci_endpoint_test $([ -f "$list" ] && cat "$list")
