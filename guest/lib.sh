# SPDX-License-Identifier: GPL-2.0-or-later
#
# What the guest scripts share, sourced by /init and every script of guest/
# and tests/guest/ (". $QEPC_SHARE/lib.sh"; in the images QEPC_SHARE is
# /usr/local/share/qemu-epc, where regs.sh, made from qemu-epc-regs.h, sits
# beside it).
#
# Results are KTAP: a script first declares its cases with plan, then
# reports each with ok or notok under the name it planned; diagnostics are
# "# " lines before the result they explain.  The harness matches results to
# the plan by name.  With QEPC_PLAN_ONLY set, plan prints the plan and ends
# the script: the harness runs a script that way on the build machine to
# learn its cases (harness/cases.py), so the names live in the script only.
QEPC_SHARE=${QEPC_SHARE:-/usr/local/share/qemu-epc}
n=${n:-0}

# plan NAME...: the cases of this script, in order, before any result
plan() {
	for c in "$@"; do
		echo "QEPC-PLAN $c"
	done
	echo "QEPC-PLAN-END $#"
	[ -z "${QEPC_PLAN_ONLY:-}" ] || exit 0
}

# ok NAME, notok NAME [WHY]: one result
ok() {
	n=$((n + 1))
	progress
	echo "ok $n $1"
}
notok() {
	n=$((n + 1))
	progress
	[ -z "${2:-}" ] || echo "# $1: $(echo "$2" | tr '\n' ' ' | sed 's/ *$//')"
	echo "not ok $n $1"
}

# xfail NAME WHY: the case failed as the script knew it would: a known
# defect of a driver, which WHY names (with the kernel's own message where
# there is one); neither a pass nor a failure for the harness
xfail() {
	n=$((n + 1))
	progress
	echo "ok $n $1 # XFAIL $(echo "$2" | tr '\n' ' ' | sed 's/ *$//')"
}

# ask_harness WHAT REQUEST ANSWER: REQUEST to the harness on ttyS1, the
# results line, which run reads for guests 2 and 3; 0 once it answered
# ANSWER, else 1 with what it answered (or nothing within 60 s), named WHAT
ask_harness() {
	echo "$2"
	_ans=
	read -r -t 60 _ans </dev/ttyS1 || true
	[ "$_ans" = "$3" ] && return 0
	echo "# $1: the harness answered '${_ans:-nothing within 60 s}'"
	return 1
}

# inject DEVICE [SPEC]: the harness sets the inject property of DEVICE (epc
# or epc1 in guest 1, or this guest's own bridgeK) to SPEC now
# (docs/qemu-epc.md, "Fault injection"; no SPEC removes the rules); returns
# once it has, 1 with the reason if it refused or did not answer within
# 60 s.  Host guests' scripts only
inject() {
	ask_harness "inject $1 ${2:-}" "QEPC-INJECT $1 ${2:-}" "QEPC-INJECTED $1"
}

# timing on|off NAME: the harness turns the devices' timing trace events on
# or off in guests 1's and 2's QEMU (harness/timing.py); at off it reports
# the phases of NAME's 4 KiB reads at queue depth 1 as measures.  timing cpu
# NAME, then timing cpu-off NAME READS: both QEMUs' CPU time in between, per
# read.  Returns once it has, 1 with the reason if it refused or did not
# answer within 60 s.  Guest 2's scripts only, in a pair started for timing
timing() {
	ask_harness "timing $1 $2" "QEPC-TIMING $1 $2${3:+ $3}" "QEPC-TIMED $1 $2"
}

# check NAME COMMAND...: ok if COMMAND succeeds, else notok with its output
check() {
	what=$1
	shift
	if "$@" >/tmp/qepc-check.log 2>&1; then
		ok "$what"
	else
		notok "$what" "$(tr '\n' ' ' </tmp/qepc-check.log)"
	fi
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds;
# fails once SECONDS have passed, by the clock (a COMMAND that itself takes
# time, such as a ping waiting for its answer, does not stretch the bound)
wait_for() {
	uptime_cs
	_end=$((_cs + $1 * 100))
	shift
	until "$@" >/dev/null 2>&1; do
		uptime_cs
		[ "$_cs" -lt $_end ] || return 1
		sleep 0.1
	done
}
# progress: the time of the latest result, for stall_watch
progress() {
	read -r _pu _ </proc/uptime
	echo "${_pu%.*}" >"${QEPC_PROGRESS:-/tmp/qepc-progress}"
}
# stall_watch SECONDS: in the background while this shell lives, each time
# no result has come for SECONDS, write each user task, and each kernel
# thread in uninterruptible sleep, with its state, its CPU and the kernel
# function it waits in, and the interrupt counts per CPU twice 5 s apart
# (does each CPU still take its timer?), to the console (QEPC_STALL_OUT):
# where the guest was when the harness gave up on a case
stall_watch() {
	progress
	(
		_told=
		while kill -0 $$ 2>/dev/null && sleep "${QEPC_STALL_POLL:-5}"; do
			read -r _pu _ </proc/uptime
			read -r _last <"${QEPC_PROGRESS:-/tmp/qepc-progress}" || continue
			[ $((${_pu%.*} - _last)) -ge "$1" ] || { _told=; continue; }
			[ -z "$_told" ] || continue
			_told=1
			{
				echo "qepc-stall: no result for $1 s (the last at ${_last} s); the tasks:"
				tasks
				# which CPUs still take their timer and other interrupts
				grep -v -e '^ *[0-9]*: *0 *0 ' -e '^ *ERR' -e '^ *MIS' /proc/interrupts 2>/dev/null
				# the network, and any NTB transport queue's counters
				ip link 2>/dev/null
				ip neigh 2>/dev/null
				echo "NTB transport: $(ntb_counters)"
				sleep 5
				echo "5 s later:"
				grep -e CPU -e LOC -e RES -e CAL /proc/interrupts 2>/dev/null
			} 2>&1 | sed 's/^/qepc-stall: /' >>"${QEPC_STALL_OUT:-/dev/console}"
		done
	) </dev/null >/dev/null 2>&1 &
}
# ntb_counters: the NTB transport queues' counters on one line (read within
# 5 s: a report must not wait on a transport that hangs)
ntb_counters() {
	mount -t debugfs none /sys/kernel/debug 2>/dev/null
	timeout 5 grep -h -E 'rx_pkts|rx_index|rx_err|tx_pkts|tx_ring_full|tx_index|RRI|free tx|QP Link' \
		/sys/kernel/debug/ntb_transport/*/qp*/stats 2>/dev/null | tr -s ' \t' ' ' | tr '\n' ';'
}
# tasks: "PID STATE CPU WCHAN COMMAND" of each user task and of each kernel
# thread in uninterruptible sleep
tasks() {
	for _p in /proc/[0-9]*; do
		read -r _st <"$_p/stat" 2>/dev/null || continue
		_s=${_st##*) }
		_s=${_s%% *}
		_cmd=$(tr '\0' ' ' <"$_p/cmdline" 2>/dev/null)
		[ -n "$_cmd" ] || [ "$_s" = D ] || continue
		_comm=${_st#*(}
		# (the CPU it last ran on: field 39 of stat, the 37th after the state)
		# shellcheck disable=SC2086
		_cpu=$(set -- ${_st##*) }; shift 36; echo "$1")
		echo "${_p#/proc/} $_s cpu$_cpu $(cat "$_p/wchan" 2>/dev/null) ${_cmd:-[${_comm%)*}]}"
	done
}
# uptime_cs: the time since boot in centiseconds, in $_cs (no process started)
uptime_cs() {
	read -r _up _ </proc/uptime
	_cs=$((${_up%.*} * 100 + 1${_up#*.} - 100))
}

# load NAME [PARAM=VALUE...]: insmod NAME.ko from the image unless it is
# loaded already; nothing to do for a driver the image does not carry (built
# in); fails, saying why, when insmod does
load() {
	_name=$1
	shift
	[ -d "/sys/module/$(echo "$_name" | tr - _)" ] && return 0
	_ko=$(find /lib/modules -name "$_name.ko" 2>/dev/null | head -1)
	[ -n "$_ko" ] || return 0
	insmod "$_ko" "$@" || { echo "insmod $_name $* failed" >&2; return 1; }
}

# need NAME: like load, but the image must carry the module
need() {
	[ -n "$(find /lib/modules -name "$1.ko" 2>/dev/null | head -1)" ] ||
		[ -d "/sys/module/$(echo "$1" | tr - _)" ] ||
		{ echo "no $1.ko in the image" >&2; return 1; }
	load "$@"
}

# epc_dma_chans: in guest 1, the dmaengine channels of controller $EPC
# (their device is the EPC's parent), one sysfs directory a line
epc_dma_chans() {
	_pdev=$(basename "$(readlink -f /sys/class/pci_epc/"$EPC"/device)")
	for _ch in /sys/class/dma/dma*chan*; do
		[ "$(basename "$(readlink -f "$_ch/device")")" != "$_pdev" ] || echo "$_ch"
	done
}
# epc_dma_bytes: the bytes they have moved so far (dmaengine's statistics)
epc_dma_bytes() {
	_t=0
	for _ch in $(epc_dma_chans); do
		_t=$((_t + $(cat "$_ch/bytes_transferred")))
	done
	echo $_t
}
# epc_dma_in_use: how many of them a driver holds
epc_dma_in_use() {
	_n=0
	for _ch in $(epc_dma_chans); do
		_n=$((_n + $(cat "$_ch/in_use")))
	done
	echo $_n
}

# pair_open: the serial line between the guests (ttyS2) on fd 3, raw,
# opened once for the whole script: a UART that nobody has open drops what
# arrives, and the other guest may answer before a read would have opened it
pair_open() {
	stty -F /dev/ttyS2 raw -echo
	exec 3<>/dev/ttyS2
}
# pair_ask REQUEST...: the other guest's one-line answer in $answer, within
# 60 s (1 if none came)
pair_ask() {
	echo "$*" >&3
	answer=
	read -r -t 60 answer <&3
}

# rescan_function: forget the function $dev and find it again (after it
# went away and came back, the kernel's copy of it is stale)
rescan_function() {
	echo 1 >"$dev/remove"
	echo 1 >/sys/bus/pci/rescan
}
# reprobe SECONDS COMMAND...: once the function $dev is back (within 30 s),
# enumerate it again; then COMMAND within SECONDS
reprobe() {
	wait_for 30 present || return 1
	rescan_function
	wait_for "$@"
}

# the function $dev (a /sys/bus/pci/devices entry) in config space:
# vendor (its first dword), absent (all-ones) or present
vendor() { od -An -tx4 -N4 "$dev/config" 2>/dev/null | tr -d ' '; }
absent() { [ "$(vendor)" = ffffffff ]; }
present() { _v=$(vendor) && [ -n "$_v" ] && [ "$_v" != ffffffff ]; }

# now: seconds since boot
now() { cut -d' ' -f1 /proc/uptime; }

# cfg8 OFFSET, cfg16 OFFSET: config space of $dev
cfg8() { od -An -tu1 -j "$1" -N1 "$dev/config" | tr -d ' '; }
cfg16() { od -An -tu2 -j "$1" -N2 "$dev/config" | tr -d ' '; }
# msix_vectors: the MSI-X table size $dev offers (0 without MSI-X)
msix_vectors() {
	_p=$(cfg8 52)
	while [ -n "$_p" ] && [ "$_p" != 0 ]; do
		if [ "$(cfg8 "$_p")" = 17 ]; then
			echo $((($(cfg16 $((_p + 2))) & 2047) + 1))
			return
		fi
		_p=$(cfg8 $((_p + 1)))
	done
	echo 0
}
