#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Default endpoint set-up of `qemu-epc-bench run`, run in guest 1 by /init
# with $EPC set to the controller's name: bind pci-epf-test to it through
# configfs, as one does on a board, and start the link.
# A user's own script (--epf-script) gets the same environment.
set -e

load() {
	ko=$(find /lib/modules -name "$1.ko" | head -1)
	[ -z "$ko" ] || insmod "$ko"
}
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
echo 1 >controllers/"$EPC"/start
