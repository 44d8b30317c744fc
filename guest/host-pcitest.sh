#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Default host side of `qemu-epc-bench run`, run in guest 2 by /init once the
# function is present: load pci_endpoint_test, run the kernel's own
# tools/pci/pcitest.sh unchanged (suite "full"), then the cases listed for
# the suite (qepc.suite=, harness/guests.py SUITES), one pcitest
# invocation per line (or "!CMD ARGS": a program of the image).  A pcitest wrapper early on $PATH bounds each case
# and tags its output for the harness:
#   QEPC-CASE <rc>|<seconds>|<pcitest arguments>|<pcitest output>
set -e

ko=$(find /lib/modules -name pci_endpoint_test.ko | head -1)
[ -z "$ko" ] || insmod "$ko"
# with QEPC_FUNCTIONS=N: one device per function, /dev/pci-endpoint-test.K
# for function K (checked: the cases name the device)
n=${QEPC_FUNCTIONS:-1}
t=0
until [ -c /dev/pci-endpoint-test.$((n - 1)) ]; do
	if [ $t -ge 100 ]; then
		echo "QEPC-ERROR pci_endpoint_test did not bind to $QEPC_FUNCTION in 10s"
		exit 1
	fi
	sleep 0.1
	t=$((t + 1))
done
echo "QEPC-BOUND $(basename "$(readlink /sys/bus/pci/devices/"$QEPC_FUNCTION"/driver)")"
k=0
while [ $k -lt "$n" ] && [ "$n" -gt 1 ]; do
	f=${QEPC_FUNCTION%.*}.$k
	dev=$(basename "$(readlink -f /sys/class/misc/pci-endpoint-test.$k/device)")
	if [ "$dev" != "$f" ]; then
		echo "QEPC-ERROR /dev/pci-endpoint-test.$k is $dev, not function $f"
		exit 1
	fi
	echo "QEPC-BOUND function $k: $f $(cat /sys/bus/pci/devices/"$f"/vendor):$(cat /sys/bus/pci/devices/"$f"/device) is /dev/pci-endpoint-test.$k"
	k=$((k + 1))
done
set +e
suite=${QEPC_SUITE:-full}
share=/usr/local/share/qemu-epc
export PATH=/usr/local/libexec/qemu-epc:$PATH
[ "$suite" = full ] && sh $share/pcitest.sh
if [ -f "$share/cases-$suite" ]; then
	while read -r args; do
		case "$args" in
		# a line "!CMD ARGS": a program of the image, e.g. a baseline
		!*)	# shellcheck disable=SC2086
			${args#!} </dev/null ;;
		# shellcheck disable=SC2086
		*)	pcitest $args </dev/null ;;
		esac
	done <"$share/cases-$suite"
fi
exit 0
