#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest 1's side of the NTB client checks (run --epf vntb), started by
# epf-vntb.sh when $QEPC_NTB_CLIENTS is set: it answers guest 2's requests
# on the pair's serial line (ttyS2), one line each, since the clients it
# loads take the NTB device that a network would need.
#   load M [P=V...]     the NTB client module M (ntb_perf, ntb_tool,
#                       ntb_pingpong) on guest 1's vNTB device
#   unload M
#   perf-run            an ntb_perf test towards guest 2, its result line
#   spad K | db         ntb_tool: local scratchpad K, local doorbell bits
#   db-clear            ntb_tool: clear the local doorbell
#   link-up             ntb_tool: enable the local side of the link
#   peer-spad K V       ntb_tool: write V into guest 2's scratchpad K
#   peer-db V           ntb_tool: ring guest 2's doorbell bits V
#   count               ntb_pingpong: the pings counted here
#   hello               "hello": guest 2 asks until it gets it, so that its
#                       first real request does not go before this listens
# A request is "SEQ REQUEST..." and its answer "SEQ ANSWER", one line; a
# failure starts with "failed".
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
D=/sys/kernel/debug
# dir CLIENT: its debugfs directory of guest 1's vNTB device
dir() { ls -d "$D/$1"/*/ 2>/dev/null | head -1; }
answer() {
	case "$1" in
	load)
		shift
		if need "$@" 2>/dev/null; then echo "loaded $1"; else echo "failed to load $*"; fi ;;
	unload)
		if rmmod "$2" 2>/dev/null; then echo "unloaded $2"; else echo "failed to unload $2"; fi ;;
	perf-run)
		d=$(dir ntb_perf)
		if [ -n "$d" ] && out=$(timeout 60 sh -c "echo 0 >${d}run" 2>&1); then
			grep -m1 copied "${d}run" || echo "failed: no result in ${d}run"
		else
			echo "failed: echo 0 >run: ${out:-no ntb_perf directory}"
		fi ;;
	spad) cat "$(dir ntb_tool)spad$2" 2>&1 | head -1 ;;
	db) cat "$(dir ntb_tool)db" 2>&1 | head -1 ;;
	link-up)
		if echo Y >"$(dir ntb_tool)link"; then echo done; else echo failed; fi ;;
	db-clear)
		if echo "c 0xffff" >"$(dir ntb_tool)db"; then echo done; else echo failed; fi ;;
	peer-spad)
		if echo "$3" >"$(dir ntb_tool)peer0/spad$2"; then echo done; else echo failed; fi ;;
	peer-db)
		if echo "s $2" >"$(dir ntb_tool)peer_db"; then echo done; else echo failed; fi ;;
	count) cat "$(dir ntb_pingpong)count" 2>&1 | head -1 ;;
	hello) echo hello ;;
	*) echo "failed: unknown request $1" ;;
	esac
}
mount -t debugfs none $D 2>/dev/null
stty -F /dev/ttyS2 raw -echo
# shellcheck disable=SC2086
while read -r seq cmd args; do
	echo "$seq $(answer "$cmd" $args 2>&1 | head -1)" >/dev/ttyS2
done </dev/ttyS2
