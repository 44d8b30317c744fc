#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Endpoint set-up of `qemu-epc-bench run --epf nvme` (Linux 7.3), run in
# guest 1 by /init with $EPC set to the controller's name: a 128 MiB ramdisk
# as the namespace of an nvmet subsystem, a PCI port, and the nvmet_pci_epf
# function bound to the controller through configfs, as the kernel's
# Documentation/nvme/nvme-pci-endpoint-target.rst describes; then the link
# started.  Afterwards it answers guest 2 on the pair's serial line (ttyS2,
# not the device under test), one command a line:
#   restart       stop the controller, start it again 2 s later; answers
#                 "restarted" once started
#   stop-now      the same, but stops at once (guest 2 has I/O in flight)
#   dma-bytes     the bytes pcie-qemu-ep's DMA channels have moved so far
#                 (their dmaengine statistics)
#   cpus          the number of this guest's CPUs
set -e
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
MODEL=qemu-epc-nvme
MIB=128
NQN=nqn.2026-11.org.qemu-epc:nvme

need brd rd_nr=1 rd_size=$((MIB * 1024))
need nvmet
need nvmet-pci-epf

cd /sys/kernel/config/nvmet/subsystems
mkdir $NQN
echo -n $MODEL >$NQN/attr_model
echo 0x1b96 >$NQN/attr_vendor_id
echo 0x1b96 >$NQN/attr_subsys_vendor_id
echo 1 >$NQN/attr_allow_any_host
echo 4 >$NQN/attr_qid_max
mkdir $NQN/namespaces/1
echo -n /dev/ram0 >$NQN/namespaces/1/device_path
echo 1 >$NQN/namespaces/1/enable
cd /sys/kernel/config/nvmet/ports
mkdir 1
echo -n pci >1/addr_trtype
ln -s /sys/kernel/config/nvmet/subsystems/$NQN 1/subsystems/$NQN

cd /sys/kernel/config/pci_ep/functions/nvmet_pci_epf
mkdir nvme0
echo 0xbeef >nvme0/deviceid
echo 8 >nvme0/msix_interrupts
echo 1 >nvme0/nvme/portid
echo $NQN >nvme0/nvme/subsysnqn
cd /sys/kernel/config/pci_ep
ln -s functions/nvmet_pci_epf/nvme0 controllers/"$EPC"/
echo 1 >controllers/"$EPC"/start

# guest 2's requests on the serial line between the guests
serve() {
	start=/sys/kernel/config/pci_ep/controllers/$EPC/start
	stty -F /dev/ttyS2 raw -echo
	while read -r cmd; do
		case "$cmd" in
		restart) sleep 1; echo 0 >"$start"; sleep 2; echo 1 >"$start" ;;
		stop-now) echo 0 >"$start"; sleep 2; echo 1 >"$start" ;;
		dma-bytes) epc_dma_bytes >/dev/ttyS2; continue ;;
		cpus) nproc >/dev/ttyS2; continue ;;
		*) echo "unknown: $cmd" >/dev/ttyS2; continue ;;
		esac
		echo restarted >/dev/ttyS2
	done </dev/ttyS2
}
(serve) </dev/null >/dev/null 2>&1 &
