#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run --epf vntb --functions 2: the pcitest cases against function 1, a
# pci-epf-test beside pci-epf-vntb on the same controller, run by
# host-vntb.sh in guest 2 while the vNTB network of function 0 is up.
# The cases are the suite's list (qepc.suite=), one pcitest invocation per
# line; the pcitest wrapper prints each result as a QEPC-CASE line.
#   host-beside.sh --plan   the cases, one a line (host-vntb.sh's plan)
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
cases=$QEPC_SHARE/cases-$QEPC_SUITE
if [ "${1:-}" = --plan ]; then
	cat "$cases"
	exit
fi
fn=${QEPC_FUNCTION%.*}.1
load pci_endpoint_test || exit 1
if ! wait_for 10 test -c /dev/pci-endpoint-test.0; then
	echo "QEPC-ERROR pci_endpoint_test did not bind to $fn in 10s"
	exit 1
fi
echo "QEPC-BOUND function 1: $fn $(cat /sys/bus/pci/devices/"$fn"/vendor):$(cat /sys/bus/pci/devices/"$fn"/device) $(basename "$(readlink /sys/bus/pci/devices/"$fn"/driver)") is /dev/pci-endpoint-test.0"
export PATH=/usr/local/libexec/qemu-epc:$PATH
while read -r args; do
	# shellcheck disable=SC2086
	pcitest $args </dev/null
done <"$cases"
