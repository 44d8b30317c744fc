#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest-1 script of tests/e2e/test_e2e_driver.py (DmaInFlight): pci-epf-test
# bound as usual, then, while guest 2 loops DMA reads (the engine slowed by
# qemu-epc's dma-rate), wait until one of the controller's DMA channels is
# busy and unbind pcie-qemu-ep right then; unload, reload, bind pci-epf-test
# again.  Prints its plan and KTAP results on ttyS1 (guest/lib.sh), then
# "QEPC-DONE".
sh /etc/qemu-epc/epf-test.sh || exit 1
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
. "$QEPC_SHARE/regs.sh"

DRV=/sys/bus/pci/drivers/pcie-qemu-ep
DEV=$(ls $DRV | grep '^0000:' | head -1)
BAR0=$(($(cut -d' ' -f1 /sys/bus/pci/devices/"$DEV"/resource | head -1)))
WAIT_BUSY=${WAIT_BUSY:-600}
C_BUSY="a DMA channel turned busy within ${WAIT_BUSY}s"
C_UNBIND="unbind with a channel busy"
C_NONE="no controller left after the unbind"
C_DONE="the busy channel finished its transfer during the unbind"
C_RMMOD="rmmod pcie_qemu_ep after the unbind"
C_INSMOD="insmod: the controller probes again"
C_AGAIN="pci-epf-test binds and starts on the reloaded controller"

state() { echo $(($(devmem $((BAR0 + $(QEPC_DMA_BASE "$1") + QEPC_DMA_STATUS)) 32) & 0xf)); }
uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
epcs() { ls /sys/class/pci_epc 2>/dev/null | wc -l; }

watch_and_unbind() {
	plan "$C_BUSY" "$C_UNBIND" "$C_NONE" "$C_DONE" "$C_RMMOD" "$C_INSMOD" "$C_AGAIN"
	end=$(($(uptime_ms) + WAIT_BUSY * 1000))
	busy=
	while [ -z "$busy" ] && [ "$(uptime_ms)" -lt $end ]; do
		c=0
		while [ $c -lt $QEPC_NUM_DMA ]; do
			if [ "$(state $c)" = $QEPC_DMA_BUSY ]; then
				busy=$c
				break
			fi
			c=$((c + 1))
		done
	done
	if [ -z "$busy" ]; then
		notok "$C_BUSY" "no transfer seen"
		echo "QEPC-DONE $n"
		return
	fi
	ok "$C_BUSY"
	t0=$(uptime_ms)
	echo "$DEV" >$DRV/unbind
	rc=$?
	t1=$(uptime_ms)
	st=$(state "$busy")
	echo "# channel $busy was busy; the unbind took $((t1 - t0)) ms, the channel's state is now $st"
	[ $rc = 0 ] && ok "$C_UNBIND" || notok "$C_UNBIND" "unbind failed"
	check "$C_NONE" test "$(epcs)" = 0
	# pcie-qemu-ep lets an issued transfer end before the EPF driver's
	# deinit releases the channel: done, not aborted or still busy
	check "$C_DONE" test "$st" = $QEPC_DMA_DONE
	check "$C_RMMOD" rmmod pcie_qemu_ep
	one_epc() { [ "$(epcs)" = 1 ]; }
	reload() { need pcie-qemu-ep && wait_for 5 one_epc; }
	check "$C_INSMOD" reload
	again() {
		EPC=$(ls /sys/class/pci_epc | head -1)
		cd /sys/kernel/config/pci_ep &&
			mkdir functions/pci_epf_test/again &&
			ln -s functions/pci_epf_test/again controllers/"$EPC"/ &&
			echo 1 >controllers/"$EPC"/start
	}
	check "$C_AGAIN" again
	echo "QEPC-DONE $n"
}

watch_and_unbind </dev/null >/dev/ttyS1 2>&1 &
