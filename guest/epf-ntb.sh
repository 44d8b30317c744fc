#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Endpoint set-up of `qemu-epc-bench run --epf ntb`, run in guest 1 by /init:
# pci-epf-ntb across the two controllers of this guest, as
# Documentation/PCI/endpoint/pci-ntb-howto.rst describes: the primary
# interface on the first (the link to guest 2), the secondary on the second
# (the link to guest 3), the ID ntb_hw_epf binds to in both hosts (TI J721E),
# two 1 MiB memory windows; both links started.  The network runs between
# guests 2 and 3; guest 1 only bridges them.
set -e
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
need pci-epf-ntb

# both controllers, in the order of their PCI addresses
two() { [ "$(ls /sys/class/pci_epc | wc -l)" -ge 2 ]; }
wait_for 30 two || { echo "fewer than two endpoint controllers: $(ls /sys/class/pci_epc)"; exit 1; }
primary=$(ls /sys/class/pci_epc | sort | sed -n 1p)
secondary=$(ls /sys/class/pci_epc | sort | sed -n 2p)

cd /sys/kernel/config/pci_ep
mkdir functions/pci_epf_ntb/func1
cd functions/pci_epf_ntb/func1
echo 0x104c >vendorid
echo 0xb00d >deviceid
cd pci_epf_ntb.0
echo 4 >db_count
echo 64 >spad_count
echo 2 >num_mws
echo 0x100000 >mw1
echo 0x100000 >mw2
cd /sys/kernel/config/pci_ep
ln -s controllers/"$primary" functions/pci_epf_ntb/func1/primary
ln -s controllers/"$secondary" functions/pci_epf_ntb/func1/secondary
echo 1 >controllers/"$primary"/start
echo 1 >controllers/"$secondary"/start
echo "QEPC-NTB primary $primary secondary $secondary" >/dev/ttyS1
