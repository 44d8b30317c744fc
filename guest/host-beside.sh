#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run --epf vntb --functions 2: the pcitest cases against function 1, a
# pci-epf-test beside pci-epf-vntb on the same controller, run by
# host-vntb.sh in guest 2 while the vNTB network of function 0 is up.
# The cases are the suite's list (qepc.suite=), one pcitest invocation per
# line; the pcitest wrapper prints each result as a QEPC-CASE line.
fn=${QEPC_FUNCTION%.*}.1
ko=$(find /lib/modules -name pci_endpoint_test.ko | head -1)
[ -d /sys/module/pci_endpoint_test ] || [ -z "$ko" ] || insmod "$ko"
t=0
until [ -c /dev/pci-endpoint-test.0 ]; do
	if [ $t -ge 100 ]; then
		echo "QEPC-ERROR pci_endpoint_test did not bind to $fn in 10s"
		exit 1
	fi
	sleep 0.1
	t=$((t + 1))
done
echo "QEPC-BOUND function 1: $fn $(cat /sys/bus/pci/devices/"$fn"/vendor):$(cat /sys/bus/pci/devices/"$fn"/device) $(basename "$(readlink /sys/bus/pci/devices/"$fn"/driver)") is /dev/pci-endpoint-test.0"
export PATH=/usr/local/libexec/qemu-epc:$PATH
while read -r args; do
	# shellcheck disable=SC2086
	pcitest $args </dev/null
done <"/usr/local/share/qemu-epc/cases-$QEPC_SUITE"
