#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Default host side of `qemu-epc-bench run`, run in guest 2 by /init once the
# function is present: load pci_endpoint_test and run the kernel's own
# tools/pci/pcitest.sh unchanged.  A pcitest wrapper early on $PATH bounds
# each case and tags its output for the harness:
#   QEPC-CASE <rc>|<pcitest arguments>|<pcitest output>
set -e

ko=$(find /lib/modules -name pci_endpoint_test.ko | head -1)
[ -z "$ko" ] || insmod "$ko"
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
set +e
PATH=/usr/local/libexec/qemu-epc:$PATH sh /usr/local/share/qemu-epc/pcitest.sh
