#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest-1 script of tests/e2e/test_e2e_driver.py (DmaInFlight): pci-epf-test
# bound as usual, then, while guest 2 loops DMA reads (the engine slowed by
# qemu-epc's dma-rate), wait until one of the controller's DMA channels is
# busy and unbind pcie-qemu-ep right then; unload, reload, bind pci-epf-test
# again.
# Prints "QEPC-TEST ok|not ok <what>" lines on ttyS1, then "QEPC-TEST done N".
sh /etc/qemu-epc/epf-test.sh || exit 1

out=/dev/ttyS1
DRV=/sys/bus/pci/drivers/pcie-qemu-ep
DEV=$(ls $DRV | grep '^0000:' | head -1)
# BAR0, the register block (docs/qemu-epc.md: DMA channel n at 0x640 + 0x20 n,
# STATUS at +0x18, state in bits 3:0, 1 = busy)
BAR0=$(($(cut -d' ' -f1 /sys/bus/pci/devices/"$DEV"/resource | head -1)))
WAIT_BUSY=${WAIT_BUSY:-600}

status() { devmem $((BAR0 + 0x640 + 0x20 * $1 + 0x18)) 32; }
uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
epcs() { ls /sys/class/pci_epc 2>/dev/null | wc -l; }
report() {
	if [ "$1" = 0 ]; then
		echo "QEPC-TEST ok $2" >$out
	else
		echo "QEPC-TEST not ok $2" >$out
	fi
	n=$((n + 1))
}

watch_and_unbind() {
	n=0
	end=$(($(uptime_ms) + WAIT_BUSY * 1000))
	busy=
	while [ -z "$busy" ] && [ "$(uptime_ms)" -lt $end ]; do
		for c in 0 1 2 3; do
			if [ $(($(status $c) & 0xf)) = 1 ]; then
				busy=$c
				break
			fi
		done
	done
	if [ -z "$busy" ]; then
		report 1 "a DMA channel turned busy within ${WAIT_BUSY}s (no transfer seen)"
		echo "QEPC-TEST done $n" >$out
		return
	fi
	t0=$(uptime_ms)
	echo "$DEV" >$DRV/unbind
	rc=$?
	t1=$(uptime_ms)
	st=$(status "$busy")
	report $rc "unbind with channel $busy busy took $((t1 - t0)) ms (channel status now $st)"
	[ "$(epcs)" = 0 ]
	report $? "no controller left after the unbind"
	# pcie-qemu-ep lets an issued transfer end before the EPF driver's
	# deinit releases the channel: done (2), not aborted or still busy
	[ $((st & 0xf)) = 2 ]
	report $? "channel $busy finished its transfer during the unbind"
	rmmod pcie_qemu_ep
	report $? "rmmod pcie_qemu_ep after the unbind"
	ko=$(find /lib/modules -name pcie-qemu-ep.ko | head -1)
	insmod "$ko" && [ "$(epcs)" = 1 ]
	report $? "insmod: the controller probes again"
	EPC=$(ls /sys/class/pci_epc | head -1)
	cd /sys/kernel/config/pci_ep &&
		mkdir functions/pci_epf_test/again &&
		ln -s functions/pci_epf_test/again controllers/"$EPC"/ &&
		echo 1 >controllers/"$EPC"/start
	report $? "pci-epf-test binds and starts on the reloaded controller"
	echo "QEPC-TEST done $n" >$out
}

watch_and_unbind </dev/null >/tmp/dma-unbind.log 2>&1 &
