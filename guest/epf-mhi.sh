#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Endpoint set-up of `qemu-epc-bench run --epf mhi` (Linux 7.3), run in
# guest 1 by /init with $EPC set to the controller's name (a qemu-epc with
# mhi=on: its MHI register block and doorbell interrupt are the "mmio" and
# "doorbell" resources pcie-qemu-ep gives the EPC's parent): pci-epf-mhi
# with the sm8450 configuration (the MHI endpoint stack moves its data with
# the controller's DMA channels), bound through configfs, and the link
# started.  Afterwards it answers guest 2 on the pair's serial line (ttyS2),
# one command a line:
#   restart       stop the controller, start it again 2 s later; answers
#                 "restarted" once started
#   switch CONF   unbind the function, bind pci-epf-mhi's CONF configuration
#                 (sm8450, sdx55: no DMA) instead, start; answers "switched"
#   dma-in-use    how many of pcie-qemu-ep's DMA channels a driver holds
#   log PATTERN   how many lines of guest 1's kernel log match PATTERN
#   ep-devices    the MHI endpoint bus's devices, on one line
set -e
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
need mhi_ep
need pci-epf-mhi

conf=sm8450
cd /sys/kernel/config/pci_ep
bind() {
	mkdir -p functions/pci_epf_mhi_"$1"/mhi0
	ln -s functions/pci_epf_mhi_"$1"/mhi0 controllers/"$EPC"/
	echo 1 >controllers/"$EPC"/start
}
bind $conf

serve() {
	start=/sys/kernel/config/pci_ep/controllers/$EPC/start
	stty -F /dev/ttyS2 raw -echo
	while read -r cmd arg; do
		case "$cmd" in
		restart) echo 0 >"$start"; sleep 2; echo 1 >"$start"; echo restarted ;;
		switch)
			echo 0 >"$start"
			rm controllers/"$EPC"/mhi0
			rmdir functions/pci_epf_mhi_$conf/mhi0
			conf=$arg
			bind "$conf" && echo switched
			;;
		dma-in-use) epc_dma_in_use ;;
		log) dmesg | grep -c -e "$arg" || true ;;
		ep-devices) echo $(ls /sys/bus/mhi_ep/devices 2>/dev/null) ;;
		*) echo "unknown: $cmd" ;;
		esac >/dev/ttyS2 2>&1
	done </dev/ttyS2
}
(serve) </dev/null >/dev/null 2>&1 &
