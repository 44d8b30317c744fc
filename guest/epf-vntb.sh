#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Endpoint set-up of `qemu-epc-bench run --epf vntb`, run in guest 1 by /init
# with $EPC set to the controller's name: pci-epf-vntb bound to it through
# configfs as Documentation/PCI/endpoint/pci-vntb-howto.rst describes, the
# link started; then guest 1's side of the network (vntb-agent.sh) in the
# background, reporting on ttyS1.
set -e
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
need ntb
need pci-epf-vntb

cd /sys/kernel/config/pci_ep
mkdir functions/pci_epf_vntb/func1
cd functions/pci_epf_vntb/func1
# the ID ntb_hw_epf binds to in guest 2
echo 0x1957 >vendorid
echo 0x0809 >deviceid
cd pci_epf_vntb.0
echo 4 >db_count
echo 128 >spad_count
echo 1 >num_mws
echo 0x100000 >mw1
# the virtual NTB device on guest 1's own virtual PCI bus
echo 0x1957 >vntb_vid
echo 0x080a >vntb_pid
echo 0x10 >vbus_number
cd /sys/kernel/config/pci_ep
ln -s functions/pci_epf_vntb/func1 controllers/"$EPC"/
# run --epf vntb --functions 2: a pci-epf-test as function 1 beside it
# (QEPC_FUNC1=DEVICE,MSI,MSIX,PIN as for epf-test.sh)
if [ "${QEPC_FUNCTIONS:-1}" -gt 1 ]; then
	load pci-epf-test
	# shellcheck disable=SC2046
	set -- $(echo "$QEPC_FUNC1" | tr , ' ')
	# (links in controllers/ are named after the function directory)
	dir=functions/pci_epf_test/test1
	mkdir "$dir"
	echo 0x104c >"$dir"/vendorid
	echo "$1" >"$dir"/deviceid
	echo "$2" >"$dir"/msi_interrupts
	echo "$3" >"$dir"/msix_interrupts
	echo "$4" >"$dir"/interrupt_pin
	ln -s "$dir" controllers/"$EPC"/
fi
echo 1 >controllers/"$EPC"/start

# run --epf vntb's NTB client pair ($QEPC_NTB_CLIENTS): guest 2 has the
# clients loaded here through ntb-clients.sh, on the serial line between the
# guests; else the network's side
if [ -n "${QEPC_NTB_CLIENTS:-}" ]; then
	setsid sh /usr/local/share/qemu-epc/ntb-clients.sh </dev/null >/dev/null 2>&1 &
else
	setsid sh /usr/local/share/qemu-epc/vntb-agent.sh serve </dev/null >/dev/ttyS1 2>&1 &
fi
