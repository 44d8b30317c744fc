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

ko=$(find /lib/modules -name pci_endpoint_test.ko | head -1)
[ -z "$ko" ] || insmod "$ko" || exit 1
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
# the suite's case list (qepc.suite=): kselftest options, one per line,
# e.g. "-r pci_ep_basic.MSI_TEST"; without one every case runs
list=/usr/local/share/qemu-epc/cases-${QEPC_SUITE:-kselftest}
# shellcheck disable=SC2046
[ "$n" -gt 1 ] || exec /usr/local/bin/pci_endpoint_test $([ -f "$list" ] && cat "$list")

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
	mine=$list
	[ -f "$list.fn$k" ] && mine=$list.fn$k
	# shellcheck disable=SC2046
	{ /usr/local/bin/pci_endpoint_test $([ -f "$mine" ] && cat "$mine"); echo $? >/tmp/ksft-rc; } 2>&1 |
		sed -e "s/^ok \([0-9]*\) /ok \1 fn$k /" -e "s/^not ok \([0-9]*\) /not ok \1 fn$k /"
	[ "$(cat /tmp/ksft-rc)" = 0 ] || rc=1
	k=$((k + 1))
done
nums=$(cat /sys/class/misc/pci-endpoint-test.0/dev)
rm -f $node
mknod $node c "${nums%:*}" "${nums#*:}"
exit $rc
