#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of `qemu-epc-bench run --epf vntb`, run in guest 2 by /init once
# the function is present ($QEPC_FUNCTION): ntb_hw_epf, ntb_transport and
# ntb_netdev give an interface to guest 1 (10.0.0.2 here, 10.0.0.1 there,
# guest/vntb-agent.sh); then ping, TCP transfers with checksums, iperf3,
# a link down and up.  One KTAP line per check (guest/lib.sh); "QEPC-MEASURE
# what: value unit" lines carry the figures.  Every wait is bounded.
# $QEPC_RUNS (default 1): how many times each ping and transfer runs (the
# bench repeats them); $QEPC_MIB (default 64): MiB of each transfer;
# $QEPC_SECONDS (default 5): how long each iperf3 runs.
# With host-beside.sh in the image (run --epf vntb --functions 2) the
# pcitest cases of function 1 run after the transfers, with the network up.
# $QEPC_MEASURE_ONLY (the bench's pair through messages): no link down and
# up at the end.
# QEPC_TOPOLOGY=ntb (run --epf ntb): the far end is guest 3 (guest/ntb-peer.sh
# runs vntb-agent.sh there) across guest 1's pci-epf-ntb, the cases say
# "ntb" and "guest 3", and the link down and up is guest 2's own link, taken
# down for 2 s by the harness (guest/lib.sh inject).
runs=${QEPC_RUNS:-1}
mib=${QEPC_MIB:-64}
secs=${QEPC_SECONDS:-5}
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
beside=$QEPC_SHARE/host-beside.sh

K=vntb PEER="guest 1"
[ "${QEPC_TOPOLOGY:-}" != ntb ] || K=ntb PEER="guest 3"
C_UP="$K ntb_hw_epf bound, interface eth0 up"
C_LINK="$K link up: $PEER answers"
C_PING21="$K ping guest 2 to $PEER, 100 packets"
C_PING12="$K ping $PEER to guest 2, 100 packets"
C_TCP21="$K tcp $mib MiB guest 2 to $PEER, sha256 matches"
C_TCP12="$K tcp $mib MiB $PEER to guest 2, sha256 matches"
C_IPERF21="$K iperf3 guest 2 to $PEER, $secs s"
C_IPERF12="$K iperf3 $PEER to guest 2, $secs s"
C_RESTART="$K link down and up: function gone and back, ntb_hw_epf bound again"
[ $K = vntb ] ||
	C_RESTART="ntb link down for 2 s (guest 2's link): function gone and back, ntb_hw_epf bound again"
C_PINGAGAIN="$K ping after link down and up, 100 packets"
C_RELINK3="ntb link down for 2 s (guest 3's link): guest 3 finds its function again, 100 pings"
# (the cases of function 1 are pcitest invocations, host-beside.sh's plan)
besides=
[ ! -f "$beside" ] || besides=$(sh "$beside" --plan) || exit 1
# shellcheck disable=SC2086
IFS='
'
set -- "$C_UP" "$C_LINK" "$C_PING21" "$C_PING12" "$C_TCP21" "$C_TCP12" \
	"$C_IPERF21" "$C_IPERF12" $besides
unset IFS
[ -n "${QEPC_MEASURE_ONLY:-}" ] || set -- "$@" "$C_RESTART" "$C_PINGAGAIN"
[ $K = vntb ] || set -- "$@" "$C_RELINK3"
plan "$@"

fn=$QEPC_FUNCTION
dev=/sys/bus/pci/devices/$fn
peer=10.0.0.1
# tcp_tuning, stats (guest 1's agent, as a library)
set -- lib
. "$QEPC_SHARE/vntb-agent.sh"
# up: bind ntb_hw_epf, bring the transport's interface up
up() {
	load ntb && load ntb_hw_epf && load ntb_transport && load ntb_netdev || return 1
	wait_for 30 ip link show eth0 || return 1
	tcp_tuning
	ip addr add 10.0.0.2/24 dev eth0 && ip link set eth0 up
}
down() {
	ip link set eth0 down 2>/dev/null
	rmmod ntb_netdev ntb_transport ntb_hw_epf 2>/dev/null
	true
}
# ping_check COUNT WHAT COMMAND...: COMMAND (a ping of 100 packets) COUNT
# times, none lost each time; one result, every run's round trip
ping_check() {
	count=$1
	what=$2
	shift 2
	i=0
	all=
	while [ $i -lt "$count" ]; do
		out=$("$@" 2>&1)
		echo "$out" | grep -q '100 packets transmitted, 100 packets received, 0% packet loss' ||
			break
		all="$all$out
"
		i=$((i + 1))
	done
	if [ $i = "$count" ]; then
		ok "$what"
		echo "$all" | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|QEPC-MEASURE '"$what"', rtt avg: \1 ms|p'
	else
		notok "$what" "run $((i + 1)): $out"
	fi
}
# send_once, fetch_once: one transfer each way, $t0 and $t1 around it; on a
# checksum mismatch they fail with $why set
send_once() {
	t0=$(now)
	got=$(timeout 100 nc $peer 5001 </tmp/tx.bin)
	t1=$(now)
	[ -n "$got" ] && [ "$got" = "$want" ] && return 0
	why="sent $want, $PEER got ${got:-nothing}"
	return 1
}
fetch_once() {
	t0=$(now)
	timeout 100 nc $peer 5002 </dev/null >/tmp/rx.bin
	t1=$(now)
	got=$(sha256sum /tmp/rx.bin | cut -d' ' -f1)
	[ -n "$want" ] && [ "$got" = "$want" ] && return 0
	why="$(wc -c </tmp/rx.bin) bytes, sha256 $got, $PEER sent ${want:-?}"
	return 1
}
# tcp_check NAME WAY ONCE: ONCE $runs times; one result, every run's MB/s
tcp_check() {
	i=0
	while [ $i -lt "$runs" ]; do
		if ! $3; then
			echo "# guest 2: $(stats)"
			echo "# $PEER: $(ctl stats)"
			notok "$1" "run $((i + 1)): $why"
			return
		fi
		echo "QEPC-MEASURE $K tcp $2: $(mbps "$t0" "$t1") MB/s"
		i=$((i + 1))
	done
	ok "$1"
}
mbps() {
	awk -v a="$1" -v b="$2" -v m="$mib" \
		'BEGIN { d = b - a; if (d <= 0) d = 0.01; printf "%.2f", m * 1.048576 / d }'
}
# ctl COMMAND: the far end's answer (vntb-agent.sh ctl), within 120 s, or
# $ctl_secs where set
ctl() { echo "$*" | timeout "${ctl_secs:-120}" nc $peer 5004; }
# net_state: guest 2's side of the network, for a failure's reason
net_state() { echo "guest 2's neighbours: $(ip neigh show dev eth0); its transport: $(stats)"; }
# iperf3_not_begun OUT: did the server turn the client away before any
# interval of the test?
iperf3_not_begun() {
	echo "$1" | grep -q -e 'Connection refused' -e 'server is busy' \
		-e 'Connection reset by peer' || return 1
	! echo "$1" | grep -q 'bits/sec'
}
# iperf3_check NAME WAY [-R]: iperf3 for $secs s, $runs times; one result,
# every run's MB/s as the receiver counted it
iperf3_check() {
	name=$1
	way=$2
	shift 2
	i=0
	while [ $i -lt "$runs" ]; do
		# iperf3 -s serves one test at a time and listens again only once
		# the last one is cleaned up: a connection refused, told the
		# server is busy, or reset before the test began (no interval
		# reported; a loaded run: 'unable to receive control message:
		# Connection reset by peer' on the reverse run after another) is
		# tried again, up to 10 times a second apart, and said
		try=0
		while :; do
			out=$(timeout $((secs + 60)) iperf3 -c $peer -t "$secs" -f m "$@" 2>&1)
			if [ $try -ge 10 ] || ! iperf3_not_begun "$out"; then
				break
			fi
			echo "# $name: run $((i + 1)) tried again after: $(echo "$out" | tail -1)"
			try=$((try + 1))
			sleep 1
		done
		rate=$(echo "$out" | awk '/ receiver$/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec" && $i > 0) printf "%.2f\n", $i / 8 }')
		if [ -z "$rate" ]; then
			notok "$name" "run $((i + 1)): $(echo "$out" | tail -3)"
			return
		fi
		echo "QEPC-MEASURE $K iperf3 $way: $rate MB/s"
		i=$((i + 1))
	done
	ok "$name"
}

if up; then
	ok "$C_UP"
else
	notok "$C_UP" "$fn: $(dmesg | tail -5)"
fi
# (each try bounded, so that the case ends within the harness's 150 s with
# its reason; by timeout, not by ping's -W: the guest kernels have no POSIX
# timers, so busybox ping's alarm() fails and -W never ends a ping whose
# answer does not come)
ready() { [ "$(ctl_secs=10 ctl ready)" = ready ]; }
if ! wait_for 60 timeout 2 ping -c 1 $peer; then
	notok "$C_LINK" "no answer to ping in 60 s; $(net_state)"
elif ! wait_for 60 ready; then
	notok "$C_LINK" "$PEER answers ping but its servers do not answer on TCP within 60 s; $(net_state)"
else
	ok "$C_LINK"
fi
ping_check "$runs" "$C_PING21" timeout 120 ping -A -c 100 -W 5 $peer
ping_check "$runs" "$C_PING12" ctl ping 10.0.0.2

dd if=/dev/urandom of=/tmp/tx.bin bs=1M count="$mib" 2>/dev/null
want=$(sha256sum /tmp/tx.bin | cut -d' ' -f1)
tcp_check "$C_TCP21" "guest 2 to $PEER" send_once
rm -f /tmp/tx.bin
want=$(timeout 30 nc $peer 5003 </dev/null)
tcp_check "$C_TCP12" "$PEER to guest 2" fetch_once
rm -f /tmp/rx.bin
iperf3_check "$C_IPERF21" "guest 2 to $PEER"
iperf3_check "$C_IPERF12" "$PEER to guest 2" -R

# run --epf vntb --functions 2: function 1 is a pci-epf-test on the same
# controller; its pcitest cases run now, with the network up
[ ! -f "$beside" ] || sh "$beside"

[ -z "${QEPC_MEASURE_ONLY:-}" ] || exit 0

# link down and up: guest 1 stops and starts the function (vNTB), or the
# harness takes guest 2's link down for 2 s (NTB); this side sees it vanish
# and come back, and enumerates it again (the driver goes first, as a host
# unbinds before its endpoint goes away: ntb_hw_epf's remove talks to the
# endpoint)
if [ $K = vntb ]; then
	answer=$(ctl restart)
	down
else
	down
	answer=restarting
	inject bridge0 link-down:2000 || answer="no fault from the harness"
fi
if [ "$answer" = restarting ] && wait_for 20 absent && wait_for 60 present; then
	rescan_function
	if wait_for 10 test -e "$dev" && up; then
		ok "$C_RESTART"
	else
		notok "$C_RESTART" "rebind failed"
	fi
else
	notok "$C_RESTART" "answer '$answer', config space reads $(vendor)"
fi
# (both bounds together within the harness's 150 s for a case, so that a
# slow network is reported here, with ping's own summary)
if wait_for 60 timeout 2 ping -c 1 $peer; then
	ping_check 1 "$C_PINGAGAIN" timeout -s INT 80 ping -A -c 100 -W 5 $peer
else
	notok "$C_PINGAGAIN" "$PEER does not answer in 60 s; $(net_state) ($PEER's: QEPC-VNTB-STATS in its ttyS1 log)"
fi

[ $K = ntb ] || exit 0
# the other host's link (NTB): guest 3 takes its own link down for 2 s (the
# harness, asked by its agent), finds its function again and rebuilds its
# side; this side sees guest 3 go (no answer) and come back
answer=$(ctl relink)
gone() { ! timeout 2 ping -c 1 $peer; }
if [ "$answer" != relinking ]; then
	notok "$C_RELINK3" "guest 3 answered '$answer'"
elif ! wait_for 30 gone; then
	notok "$C_RELINK3" "guest 3 still answers 30 s after it was asked to take its link down"
elif ! wait_for 90 timeout 2 ping -c 1 $peer; then
	notok "$C_RELINK3" "guest 3 does not answer 90 s after its link went down; $(net_state) (guest 3's lines: peer-ttyS1.log)"
else
	ping_check 1 "$C_RELINK3" timeout -s INT 80 ping -A -c 100 -W 5 $peer
fi
