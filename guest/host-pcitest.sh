#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Default host side of `qemu-epc-bench run` on kernels with pcitest.sh
# (before 6.14), run in guest 2 by /init once the function is present: load
# pci_endpoint_test, run the kernel's own tools/pci/pcitest.sh unchanged
# (suite "full"), then the cases listed for the suite (qepc.suite=,
# harness/cases.py SUITES), one pcitest invocation per line (or "!CMD
# ARGS": a program of the image, not a case).  First the plan: every pcitest
# invocation, pcitest.sh's found by running it with a pcitest that only
# prints its arguments.  A pcitest wrapper early on $PATH bounds each case
# and tags its output for the harness:
#   QEPC-CASE <rc>|<seconds>|<pcitest arguments>|<pcitest output>
# and once setting the IRQ type to MSI-X failed, it does not run the MSI-X
# cases of that device (they fail at once, naming why).  QEPC-HOSTINFO
# gives the harness what explains such a failure: the CPUs this kernel uses
# and the vectors the function offers.
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
suite=${QEPC_SUITE:-full}
cases=$QEPC_SHARE/cases-$suite

# the plan: the harness puts it in the image (plan-SUITE); without it,
# pcitest.sh's invocations come from running it with pcitest and expr as
# shell functions (no process per case), then the suite's list
pcitest_plan() {
	if [ -f "$QEPC_SHARE/plan-$suite" ]; then
		cat "$QEPC_SHARE/plan-$suite"
		return
	fi
	if [ "$suite" = full ]; then
		(
			pcitest() { echo "$*"; }
			# pcitest.sh counts with expr
			expr() { echo $(($*)); }
			. "$QEPC_SHARE/pcitest.sh"
		) | grep '^-'
	fi
	[ ! -f "$cases" ] || grep -v '^!' "$cases"
}
planf=$(mktemp)
pcitest_plan >"$planf"
sed 's/^/QEPC-PLAN /' "$planf"
echo "QEPC-PLAN-END $(wc -l <"$planf")"
rm -f "$planf"
[ -z "${QEPC_PLAN_ONLY:-}" ] || exit 0

set -e
load pci_endpoint_test
# with QEPC_FUNCTIONS=N: one device per function, /dev/pci-endpoint-test.K
# for function K (checked: the cases name the device)
n=${QEPC_FUNCTIONS:-1}
if ! wait_for 10 test -c /dev/pci-endpoint-test.$((n - 1)); then
	echo "QEPC-ERROR pci_endpoint_test did not bind to $QEPC_FUNCTION in 10s"
	exit 1
fi
echo "QEPC-BOUND $(basename "$(readlink /sys/bus/pci/devices/"$QEPC_FUNCTION"/driver)")"
k=0
while [ $k -lt "$n" ] && [ "$n" -gt 1 ]; do
	f=${QEPC_FUNCTION%.*}.$k
	d=$(basename "$(readlink -f /sys/class/misc/pci-endpoint-test.$k/device)")
	if [ "$d" != "$f" ]; then
		echo "QEPC-ERROR /dev/pci-endpoint-test.$k is $d, not function $f"
		exit 1
	fi
	echo "QEPC-BOUND function $k: $f $(cat /sys/bus/pci/devices/"$f"/vendor):$(cat /sys/bus/pci/devices/"$f"/device) is /dev/pci-endpoint-test.$k"
	k=$((k + 1))
done
dev=/sys/bus/pci/devices/$QEPC_FUNCTION
echo "QEPC-HOSTINFO cpus=$(nproc) possible=$(cat /sys/devices/system/cpu/possible) msix=$(msix_vectors)"
set +e
export PATH=/usr/local/libexec/qemu-epc:$PATH
[ "$suite" = full ] && sh "$QEPC_SHARE/pcitest.sh"
if [ -f "$cases" ]; then
	while read -r args; do
		case "$args" in
		# a line "!CMD ARGS": a program of the image, e.g. a baseline
		!*)	# shellcheck disable=SC2086
			${args#!} </dev/null ;;
		# shellcheck disable=SC2086
		*)	pcitest $args </dev/null ;;
		esac
	done <"$cases"
fi
exit 0
