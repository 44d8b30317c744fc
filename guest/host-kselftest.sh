#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of `qemu-epc-bench run` on kernels with the pci_endpoint
# kselftest (6.14 and later), run in guest 2 by /init once the function is
# present: load pci_endpoint_test and run the kselftest built from the same
# kernel tree, unchanged (the cases of the suite the harness names).  Its KTAP output ("ok N name", "not ok N name",
# "# Totals: ...") reaches the harness as it is printed; the exit status is
# the kselftest's.
#
# With QEPC_FUNCTIONS=N (run --functions) it runs once per function K: the
# kselftest opens /dev/pci-endpoint-test.0, which is then function K's
# device node (made with mknod from the misc device's numbers; function 0's
# node is put back at the end), and its case names get a "fnK " prefix.  A
# list cases-SUITE.fnK, if there, is function K's instead of the suite's.
# The plan comes first: the cases of the list(s).

. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
n=${QEPC_FUNCTIONS:-1}
# the suite's case list (qepc.suite=): kselftest options, one per line,
# e.g. "-r pci_ep_basic.MSI_TEST"; the plan is its cases (fnK NAME for
# function K when there are several)
list=$QEPC_SHARE/cases-${QEPC_SUITE:-kselftest}
list_of() {
	if [ "$n" -gt 1 ] && [ -f "$list.fn$1" ]; then
		echo "$list.fn$1"
	else
		echo "$list"
	fi
}
if [ ! -f "$list" ]; then
	echo "QEPC-ERROR no case list $list in the image"
	exit 1
fi
planf=$(mktemp)
k=0
while [ $k -lt "$n" ]; do
	pre=
	[ "$n" = 1 ] || pre="fn$k "
	sed -n "s/^-r /QEPC-PLAN $pre/p" "$(list_of $k)"
	k=$((k + 1))
done >"$planf"
cat "$planf"
echo "QEPC-PLAN-END $(wc -l <"$planf")"
rm -f "$planf"
[ -z "${QEPC_PLAN_ONLY:-}" ] || exit 0

load pci_endpoint_test || exit 1
if ! wait_for 10 test -c /dev/pci-endpoint-test.$((n - 1)); then
	echo "QEPC-ERROR pci_endpoint_test did not bind to $QEPC_FUNCTION in 10s"
	exit 1
fi
echo "QEPC-BOUND $(basename "$(readlink /sys/bus/pci/devices/"$QEPC_FUNCTION"/driver)")"
dev=/sys/bus/pci/devices/$QEPC_FUNCTION
echo "QEPC-HOSTINFO cpus=$(nproc) possible=$(cat /sys/devices/system/cpu/possible) msix=$(msix_vectors)"
# shellcheck disable=SC2046
[ "$n" -gt 1 ] || exec /usr/local/bin/pci_endpoint_test $(cat "$list")

node=/dev/pci-endpoint-test.0
rc=0
k=0
while [ $k -lt "$n" ]; do
	f=${QEPC_FUNCTION%.*}.$k
	misc=/sys/class/misc/pci-endpoint-test.$k
	dev=$(basename "$(readlink -f $misc/device)")
	if [ "$dev" != "$f" ]; then
		echo "QEPC-ERROR pci-endpoint-test.$k is $dev, not function $f"
		exit 1
	fi
	nums=$(cat $misc/dev)
	echo "QEPC-BOUND function $k: $f $(cat /sys/bus/pci/devices/"$f"/vendor):$(cat /sys/bus/pci/devices/"$f"/device) is /dev/pci-endpoint-test.$k ($nums), the kselftest's device for its run"
	rm -f $node
	mknod $node c "${nums%:*}" "${nums#*:}"
	# shellcheck disable=SC2046
	{ /usr/local/bin/pci_endpoint_test $(cat "$(list_of $k)"); echo $? >/tmp/ksft-rc; } 2>&1 |
		sed -e "s/^ok \([0-9]*\) /ok \1 fn$k /" -e "s/^not ok \([0-9]*\) /not ok \1 fn$k /"
	[ "$(cat /tmp/ksft-rc)" = 0 ] || rc=1
	k=$((k + 1))
done
nums=$(cat /sys/class/misc/pci-endpoint-test.0/dev)
rm -f $node
mknod $node c "${nums%:*}" "${nums#*:}"
exit $rc
