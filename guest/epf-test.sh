#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Default endpoint set-up of `qemu-epc-bench run`, run in guest 1 by /init
# with $EPC set to the controller's name: bind pci-epf-test to it through
# configfs, as one does on a board, and start the link.
# A user's own script (--epf-script) gets the same environment.
#
# run --functions N sets QEPC_FUNCTIONS=N and QEPC_FUNCk=DEVICE,MSI,MSIX,PIN
# for k = 1..N-1: function k is another pci-epf-test with that device ID,
# vector counts and interrupt pin, subsystem ID k and class ff80, bound
# after function 0 (configfs links in order give functions 0, 1, ...).
set -e
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
# (built in, in a user's own kernel, it needs no loading)
load pci-epf-test

cd /sys/kernel/config/pci_ep
mkdir functions/pci_epf_test/func1
cd functions/pci_epf_test/func1
# an ID pci_endpoint_test binds to with its default settings (TI DRA74x)
echo 0x104c >vendorid
echo 0xb500 >deviceid
echo 32 >msi_interrupts
echo 2048 >msix_interrupts
cd /sys/kernel/config/pci_ep
ln -s functions/pci_epf_test/func1 controllers/"$EPC"/

k=1
while [ "$k" -lt "${QEPC_FUNCTIONS:-1}" ]; do
	eval "spec=\$QEPC_FUNC$k"
	[ -n "$spec" ] || { echo "no QEPC_FUNC$k for function $k" >&2; exit 1; }
	# shellcheck disable=SC2046
	set -- $(echo "$spec" | tr , ' ')
	dir=functions/pci_epf_test/func$((k + 1))
	mkdir "$dir"
	echo 0x104c >"$dir"/vendorid
	echo "$1" >"$dir"/deviceid
	echo "$2" >"$dir"/msi_interrupts
	echo "$3" >"$dir"/msix_interrupts
	echo "$4" >"$dir"/interrupt_pin
	echo 0x104c >"$dir"/subsys_vendor_id
	echo "$k" >"$dir"/subsys_id
	echo 0xff >"$dir"/baseclass_code
	echo 0x80 >"$dir"/subclass_code
	ln -s "$dir" controllers/"$EPC"/
	k=$((k + 1))
done
echo 1 >controllers/"$EPC"/start
