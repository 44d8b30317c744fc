#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of `qemu-epc-bench run --epf mhi` (Linux 7.3), run in guest 2 by
# /init once the function is present ($QEPC_FUNCTION): the kernel's MHI host
# stack (mhi_pci_generic, which binds the modem ID 17cb:0306) against the
# MHI endpoint stack that pci-epf-mhi runs in guest 1 (guest/epf-mhi.sh).
# One KTAP line per check.  The kernel has no MHI endpoint client driver
# (drivers/bus/mhi/ep has the stack only), so no channel carries data: the
# checks are the state machine's: mission mode and M0, the channels each
# side lists, an MHI reset by the host, M3 and back (runtime suspend and
# resume), a system error (SYS_ERR) and its recovery, a link down and up,
# and the configuration without DMA.  The MHI states are the host's MHI
# debugfs ("states": the PM state, the device's MHI state and its
# execution environment).  Guest 1 is asked over the pair's serial line
# (ttyS2).
# Every wait is bounded.
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"

C_BIND="mhi mhi_pci_generic bound the function (17cb:0306)"
C_M0="mhi mission mode and M0 (sm8450 configuration)"
C_CHAN="mhi channels: the host's devices for the modem's channels, the endpoint's controller"
C_DMA="mhi sm8450: pci-epf-mhi holds two of pcie-qemu-ep's DMA channels (to and from the host)"
C_RESET="mhi host reset: mhi_pci_generic unbound (MHI reset) and bound again, M0 again"
C_M3="mhi runtime suspend and resume: M3 (the function in D3hot), then M0 again"
C_SYSERR="mhi SYS_ERR and recovery: an M0 request in M0 makes the endpoint report a system error, the host's MHI stack resets it to M0"
C_LINK="mhi link down and up: guest 1 restarts the controller, M0 again after a rescan"
C_SDX55="mhi sdx55 configuration (no DMA): M0 again after guest 1 switched the function, no DMA channel held"
plan "$C_BIND" "$C_M0" "$C_CHAN" "$C_DMA" "$C_RESET" "$C_M3" "$C_SYSERR" "$C_LINK" "$C_SDX55"

fn=$QEPC_FUNCTION
dev=/sys/bus/pci/devices/$fn
DRIVER=mhi-pci-generic
# the function's power management capability (qemu-epc's configuration
# space) and its power state (PMCSR bits 1:0)
PM_CAP=0xa0
# the channels of mhi_pci_generic's configuration for this modem whose
# devices it makes in mission mode (LOOPBACK and FIREHOSE belong to other
# execution environments)
CHANNELS="DIAG MBIM QMI IPCR IP_SW0 IP_HW0"

bound() { [ "$(basename "$(readlink -f "$dev/driver")")" = $DRIVER ]; }
mhi_name() { basename "$(ls -d "$dev"/mhi[0-9]* 2>/dev/null | head -1)"; }
states() { cat "/sys/kernel/debug/mhi/$(mhi_name)/states" 2>/dev/null | head -1; }
# mhi_pci_generic allows runtime PM each time the device enters mission
# mode, and would suspend it (M3) after 2 s idle: outside the M3 case it
# stays forbidden (which also resumes a device that was suspended)
in_m0() {
	[ -e "$dev/power/control" ] && echo on >"$dev/power/control"
	s=$(states)
	case $s in
	*"PM state: M0 "*"MHI state: M0 EE: MISSION MODE "*) return 0 ;;
	esac
	return 1
}
in_m3() {
	case $(states) in
	*"PM state: M3 "*"MHI state: M3 "*) return 0 ;;
	esac
	return 1
}
d_state() { od -An -tu1 -j $((PM_CAP + 4)) -N1 "$dev/config" | tr -d ' '; }
# wait_m0 NAME: ok when the device reaches M0 in mission mode within 60 s
wait_m0() {
	if wait_for 60 in_m0; then
		echo "# $(states)"
		ok "$1"
	else
		notok "$1" "after 60 s: '$(states)'; $(dmesg | grep -i mhi | tail -3)"
	fi
}
# requests to guest 1 (guest/epf-mhi.sh): pair_ask
pair_open
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug

if need mhi && need mhi_pci_generic && wait_for 30 bound; then
	ok "$C_BIND"
else
	notok "$C_BIND" "driver '$(basename "$(readlink -f "$dev/driver")")'; $(dmesg | tail -3)"
fi

wait_m0 "$C_M0"

missing=
m=$(mhi_name)
for c in $CHANNELS; do
	[ -e "/sys/bus/mhi/devices/${m}_$c" ] || missing="$missing $c"
done
pair_ask ep-devices
echo "# host: $(ls /sys/bus/mhi/devices | tr '\n' ' ')"
echo "# endpoint: $answer"
case " $answer " in
*" mhi_ep0 "*) ep=yes ;;
*) ep= ;;
esac
if [ -z "$missing" ] && [ -n "$ep" ]; then
	ok "$C_CHAN"
else
	notok "$C_CHAN" "host lacks:${missing:- nothing}; endpoint bus: '$answer'"
fi

# the sm8450 configuration moves its data (transfers of 4 KiB and more)
# with DMA channels whose device is the controller's: it takes one each way
# when the controller initialises it
if pair_ask dma-in-use && [ "$answer" = 2 ]; then
	ok "$C_DMA"
else
	notok "$C_DMA" "guest 1's DMA channels in use: '$answer'"
fi

pair_ask log "Host triggered MHI reset"
resets=$answer
echo "$fn" >/sys/bus/pci/drivers/$DRIVER/unbind
echo "$fn" >/sys/bus/pci/drivers/$DRIVER/bind
pair_ask log "Host triggered MHI reset"
if [ "${answer:-0}" -gt "${resets:-0}" ] 2>/dev/null; then
	wait_m0 "$C_RESET"
else
	notok "$C_RESET" "guest 1 saw no MHI reset (reset messages before $resets, after '$answer')"
fi

# runtime PM: mhi_pci_generic suspends the idle function after 2 s
# (mhi_pm_suspend: the host asks for M3 in MHICTRL, pci-epf-mhi's MHI stack
# suspends its channels and reports M3), then the PCI core puts it in D3hot;
# resuming asks for M0 again.  Only with PME from D3hot does the driver
# allow runtime suspend at all
if [ ! -e "$dev/power/control" ]; then
	notok "$C_M3" "no runtime PM in this kernel (CONFIG_PM)"
else
	echo auto >"$dev/power/control"
	if ! wait_for 30 in_m3; then
		notok "$C_M3" "not in M3 30 s after runtime PM was allowed: '$(states)'," \
			"runtime status $(cat "$dev/power/runtime_status")"
	else
		echo "# $(states)"
		d=$(( $(d_state) & 3 ))
		st=$(cat "$dev/power/runtime_status")
		echo on >"$dev/power/control"
		if [ "$d" != 3 ] || [ "$st" != suspended ]; then
			notok "$C_M3" "in M3 the function was in D$d, runtime status $st"
		else
			wait_m0 "$C_M3"
		fi
	fi
fi

# SYS_ERR: MHICTRL (BAR0 + 0x38) written with the state the device is
# already in (M0, bits 15:8), as a confused host would: every MHICTRL
# write interrupts the endpoint, whose MHI stack refuses a change from M0
# to M0, enters SYS_ERR and tells the host so; the host's MHI stack
# recovers it (mhi_pci_generic logs the crash; an MHI reset, READY, M0)
crashes() { dmesg | grep -c "firmware crashed"; }
crashed() { [ "$(crashes)" -gt "$before" ]; }
bar0=$(( $(head -1 "$dev/resource" | cut -d' ' -f1) ))
before=$(crashes)
pair_ask log "is not allowed"
refused=$answer
devmem $((bar0 + 0x38)) 32 0x200
if ! wait_for 30 crashed; then
	notok "$C_SYSERR" "the host saw no system error in 30 s: '$(states)'"
elif ! pair_ask log "is not allowed" || [ "${answer:-0}" -le "${refused:-0}" ] 2>/dev/null; then
	notok "$C_SYSERR" "guest 1's MHI stack refused no state change (before $refused, after '$answer')"
else
	echo "# $(dmesg | grep "firmware crashed" | tail -1)"
	wait_m0 "$C_SYSERR"
fi

if ! pair_ask restart || [ "$answer" != restarted ]; then
	notok "$C_LINK" "guest 1 answered '$answer' to restart"
elif ! reprobe 30 bound; then
	notok "$C_LINK" "not bound again after a rescan: $(dmesg | tail -3)"
else
	wait_m0 "$C_LINK"
fi

if ! pair_ask switch sdx55 || [ "$answer" != switched ]; then
	notok "$C_SDX55" "guest 1 answered '$answer' to switch sdx55"
elif ! reprobe 30 bound; then
	notok "$C_SDX55" "not bound again after a rescan: $(dmesg | tail -3)"
elif ! wait_for 60 in_m0; then
	notok "$C_SDX55" "after 60 s: '$(states)'; $(dmesg | grep -i mhi | tail -3)"
elif ! pair_ask dma-in-use || [ "$answer" != 0 ]; then
	notok "$C_SDX55" "guest 1's DMA channels in use: '$answer'"
else
	echo "# $(states)"
	ok "$C_SDX55"
fi
