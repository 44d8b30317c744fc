#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of the NTB client checks of `qemu-epc-bench run --epf vntb`, run
# in guest 2 once the function is present ($QEPC_FUNCTION): the kernel's NTB
# test clients over ntb_hw_epf here and pci-epf-vntb's device in guest 1
# (guest/ntb-clients.sh answers on the pair's serial line, ttyS2): ntb_perf
# both ways, ntb_tool's scratchpads and doorbells both ways, ntb_pingpong.
# One KTAP line per check (guest/lib.sh); "QEPC-MEASURE" lines carry
# ntb_perf's figures.  Every wait is bounded.
# QEPC_TOPOLOGY=ntb (run --epf ntb): the other side is guest 3's ntb_hw_epf
# across guest 1's pci-epf-ntb (guest/ntb-peer.sh runs ntb-clients.sh there,
# on the serial line between guests 2 and 3); the cases say "guest 3".
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
P="guest 1"
[ "${QEPC_TOPOLOGY:-}" != ntb ] || P="guest 3"
C_PERF21="ntb_perf: handshake, guest 2 writes $P's window"
C_PERF12="ntb_perf: $P writes guest 2's window"
C_SPAD21="ntb_tool: a scratchpad guest 2 writes reads back in $P"
C_SPAD12="ntb_tool: a scratchpad $P writes reads back in guest 2"
C_DB21="ntb_tool: a doorbell guest 2 rings reaches $P"
C_DB12="ntb_tool: a doorbell $P rings reaches guest 2"
C_PP="ntb_pingpong: pings go both ways"
plan "$C_PERF21" "$C_PERF12" "$C_SPAD21" "$C_SPAD12" "$C_DB21" "$C_DB12" "$C_PP"

D=/sys/kernel/debug
fn=$QEPC_FUNCTION
dir() { ls -d "$D/$1/$fn/" 2>/dev/null; }
pair_open
# ask LINE: the other side's one-line answer, within 90 s.  Requests are
# numbered (in a file: ask runs in command substitutions) and an answer
# carries its request's number: one that comes after its request was given
# up is skipped, not taken for the next one's
ask() {
	_seq=$(($(cat /tmp/ask.seq 2>/dev/null || echo 0) + 1))
	echo $_seq >/tmp/ask.seq
	echo "$_seq $*" >&3
	if ! answer=$(timeout "${ask_secs:-90}" sh -c 'while read -r t l <&3; do
			[ "$t" = "$1" ] && { echo "$l"; exit 0; }
			echo "# a late answer, skipped: $t $l" >&2
		done; exit 1' _ $_seq); then
		answer="failed: $P did not answer '$*' within ${ask_secs:-90} s"
	fi
	echo "$answer"
}
# greet: once the other side answers at all (it listens only once its
# script runs, and a UART nobody has open drops what arrives: a request
# sent before is lost, and waiting 90 s for it failed a warm run's first
# case); within 120 s
greet() {
	_end=$(($(cut -d. -f1 /proc/uptime) + 120))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt $_end ]; do
		[ "$(ask_secs=5 ask hello)" = hello ] && return 0
	done
	return 1
}
# both CLIENT [PARAM=VALUE...]: load CLIENT here and on the other side
both() {
	a=$(ask load "$@")
	[ "$a" = "loaded $1" ] || { why="$P: $a"; return 1; }
	need "$@" || { why="guest 2: loading $1 failed: $(dmesg | tail -3)"; return 1; }
	wait_for 10 test -d "$(dir "$1")" || { why="guest 2: no $D/$1/$fn"; return 1; }
}
# neither CLIENT: unload it on both sides
neither() {
	rmmod "$1" 2>/dev/null
	ask unload "$1" >/dev/null
}
# rung VALUE: a doorbell register's value that says a doorbell came (hex,
# not 0); db_rung DIR: ntb_tool's local doorbell there says so
rung() {
	case "$1" in
	0x0 | 0x | '') return 1 ;;
	0x*) return 0 ;;
	esac
	return 1
}
db_rung() { rung "$(cat "$1db" 2>/dev/null)"; }
# perf_result NAME LINE: ok with the figure, or not ok
perf_result() {
	rate=$(echo "$2" | sed -n 's/.*copied \([0-9]*\) bytes in \([0-9]*\) usecs, \([0-9]*\) MBytes\/s.*/\3/p')
	if [ -n "$rate" ]; then
		echo "QEPC-MEASURE $1: $rate MB/s"
		ok "$1"
	else
		notok "$1" "$2"
	fi
}

mount -t debugfs none $D 2>/dev/null
fails=
if ! load ntb || ! load ntb_hw_epf; then
	fails="ntb_hw_epf did not load: $(dmesg | tail -3)"
elif ! greet; then
	fails="$P did not answer on the serial line within 120 s"
fi

# ntb_perf: the handshake (each side gives the other its window) happens
# on link up; a run waits for it.  Across pci-epf-ntb every write to the
# window crosses guest 1's QEMU twice (about 1.5 MB/s): 4 MiB a run there
# instead of ntb_perf's default 1 GiB
perf_params=
[ "${QEPC_TOPOLOGY:-}" != ntb ] || perf_params=total_order=22
# shellcheck disable=SC2086
if [ -z "$fails" ] && both ntb_perf $perf_params; then
	d=$(dir ntb_perf)
	if out=$(timeout 60 sh -c "echo 0 >${d}run" 2>&1); then
		perf_result "$C_PERF21" "$(grep -m1 copied "${d}run")"
	else
		notok "$C_PERF21" "echo 0 >run: ${out:-timed out after 60 s}; $(tr '\n\t' '  ' <"${d}info")"
	fi
	perf_result "$C_PERF12" "$(ask perf-run)"
else
	notok "$C_PERF21" "${fails:-$why}"
	notok "$C_PERF12" "${fails:-$why}"
fi
neither ntb_perf
echo "# ntb_perf done at $(now) s"

# ntb_tool: scratchpads and doorbells, each way
if [ -z "$fails" ] && both ntb_tool; then
	d=$(dir ntb_tool)
	# ntb_tool leaves the link to its user: both sides enable theirs
	a=$(ask link-up)
	echo Y >"${d}link"
	if [ "$a" != done ] || ! wait_for 30 grep -q Y "${d}peer0/link"; then
		link="the link did not come up in 30 s ($P: $a; peer0/link: $(cat "${d}peer0/link"))"
	else
		link=
	fi
	echo 0x5eed0021 >"${d}peer0/spad3"
	got=$(ask spad 3)
	if [ -z "$link" ] && [ "$got" = 0x5eed0021 ]; then
		ok "$C_SPAD21"
	else
		notok "$C_SPAD21" "${link:-$P read '$got'}"
	fi
	a=$(ask peer-spad 5 0x5eed0012)
	got=$(cat "${d}spad5")
	if [ "$a" = done ] && [ "$got" = 0x5eed0012 ]; then
		ok "$C_SPAD12"
	else
		notok "$C_SPAD12" "$P: $a; guest 2 read '$got'"
	fi
	# doorbell bit 0 (pci-epf-vntb 7.3 offers db_count - 2 of them, so
	# bit 2 is out of range there); what a side reads back differs by
	# series (6.12's ntb_hw_epf gives the last vector's number, not bits),
	# so a doorbell counts as arrived when its side no longer reads 0
	a=$(ask db-clear)
	echo "s 0x1" >"${d}peer_db"
	got=
	i=0
	while [ $i -lt 50 ]; do
		got=$(ask db)
		rung "$got" && break
		i=$((i + 1))
		sleep 0.1
	done
	if [ "$a" = done ] && rung "$got"; then
		ok "$C_DB21"
	else
		notok "$C_DB21" "$P: clear: $a, doorbell '$got' after 5 s"
	fi
	echo "c 0xffff" >"${d}db"
	a=$(ask peer-db 0x1)
	if [ "$a" = done ] && wait_for 5 db_rung "$d"; then
		ok "$C_DB12"
	else
		notok "$C_DB12" "$P: $a; guest 2's doorbell $(cat "${d}db")"
	fi
else
	for c in "$C_SPAD21" "$C_SPAD12" "$C_DB21" "$C_DB12"; do notok "$c" "${fails:-$why}"; done
fi
neither ntb_tool
echo "# ntb_tool done at $(now) s"

# ntb_pingpong: each side rings the other's doorbell on every ping (a ping
# every 100 ms instead of every second)
if [ -z "$fails" ] && both ntb_pingpong delay_ms=100; then
	d=$(dir ntb_pingpong)
	sleep 3
	here=$(cat "${d}count")
	there=$(ask count)
	if [ "${here:-0}" -gt 5 ] 2>/dev/null && [ "${there:-0}" -gt 5 ] 2>/dev/null; then
		echo "# ntb_pingpong: $here pings here, $there in $P in 3 s"
		ok "$C_PP"
	else
		notok "$C_PP" "counts after 3 s: guest 2 '$here', $P '$there'"
	fi
else
	notok "$C_PP" "${fails:-$why}"
fi
neither ntb_pingpong
