#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest 1's side of the vNTB checks, started by epf-vntb.sh.
#   vntb-agent.sh serve   load ntb_transport and ntb_netdev, give the
#                         interface 10.0.0.1/24, make the file guest 2 fetches
#                         ($QEPC_MIB MiB, default 64), and serve on TCP
#                         (busybox nc):
#                           5001  sink: answers the sha256 of what it got
#                           5002  source: that file
#                           5003  that file's sha256
#                           5004  commands of guest 2 (vntb-agent.sh ctl)
#                           5201  iperf3
#   vntb-agent.sh ctl     one command line from the connection:
#                           ready      "ready" once every server runs
#                           ping ADDR  ping ADDR 100 times, print the summary
#                           restart    stop and start the function (link
#                                      down and up), after answering
#                           stats      guest 1's transport queue and TCP
#                                      counters (for a failure report)
#                           relink     (run --epf ntb, where this agent is
#                                      guest 3's) after answering: its own
#                                      link down for 2 s (the harness takes
#                                      it down, guest/lib.sh inject), the
#                                      function found again by a rescan,
#                                      ntb_hw_epf and the interface back
# Lines for the harness start with "QEPC-".
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
CFS=/sys/kernel/config/pci_ep
# tcp_tuning and stats serve guest 2 too: host-vntb.sh sources this file
# with "lib" as its argument
# tcp_tuning: ntb_netdev receives into buffers of its whole MTU (about
# 64 KiB, 128 KiB of socket memory each, whatever the packet's length). With
# the default 128 KiB receive buffer one such packet closes the TCP window,
# and on a link this fast Linux 7.3 grows the buffer only slowly (autotuning
# holds back below tcp_rcvbuf_low_rtt, 1 ms): the window stays shut between reads and
# the sender falls back to zero-window probes, down to a few packets a
# second. A receive buffer that holds several packets from the start avoids
# that; the link itself is what the checks measure.
tcp_tuning() {
	echo "4096 4194304 16777216" >/proc/sys/net/ipv4/tcp_rmem
}
# stats: the transport queue's counters and the TCP counters that are not 0
stats() {
	ntb_counters
	awk '/^TcpExt:/ { if (!h) { split($0, n); h = 1 } else { for (i = 2; i <= NF; i++) if ($i != 0) printf " %s=%s", n[i], $i } }' \
		/proc/net/netstat
	echo
}
[ "$1" = lib ] && return 0

# net_up: the transport's interface, with this side's address
net_up() {
	load ntb_transport && load ntb_netdev || return 1
	wait_for 30 ip link show eth0 || return 1
	tcp_tuning
	ip addr add 10.0.0.1/24 dev eth0 && ip link set eth0 up
}
# relink: see "relink" above; its lines (the fault request among them) go
# to ttyS1, where the harness reads them
relink() {
	dev=/sys/bus/pci/devices/$QEPC_FUNCTION
	rmmod ntb_netdev ntb_transport ntb_hw_epf 2>/dev/null
	inject bridge0 link-down:2000 || return 1
	if ! wait_for 20 absent || ! wait_for 60 present; then
		echo "# relink: the function did not go and come back (config space reads $(vendor))"
		return 1
	fi
	rescan_function
	wait_for 10 test -e "$dev" && load ntb_hw_epf && net_up && echo "QEPC-NTB-RELINKED"
}

case "$1" in
serve)
	if ! net_up; then
		echo "QEPC-ERROR no ntb_netdev interface 10.0.0.1 after 30 s ($(lsmod | cut -d' ' -f1 | tr '\n' ' '))"
		exit 1
	fi
	nc -ll -p 5004 -e sh "$0" ctl &
	nc -ll -p 5001 -e sh -c "sha256sum | cut -d' ' -f1" &
	dd if=/dev/urandom of=/tmp/tx.bin bs=1M count="${QEPC_MIB:-64}" 2>/dev/null
	sha256sum /tmp/tx.bin | cut -d' ' -f1 >/tmp/tx.sum.new
	nc -ll -p 5002 -e cat /tmp/tx.bin &
	nc -ll -p 5003 -e cat /tmp/tx.sum &
	iperf3 -s >/dev/null 2>&1 &
	# "ready" answers from now on
	mv /tmp/tx.sum.new /tmp/tx.sum
	echo "QEPC-VNTB-UP eth0 10.0.0.1"
	wait
	;;
ctl)
	read -r cmd arg
	case "$cmd" in
	ready)
		[ -s /tmp/tx.sum ] && echo ready
		;;
	ping)
		# (bounded by timeout: -W does not end a ping in these guests; INT
		# makes it print its summary)
		timeout -s INT 100 ping -A -c 100 -W 5 "$arg" 2>&1 | tail -3
		;;
	restart)
		# guest 2 unbinds its driver meanwhile, as a host does before
		# its endpoint goes away
		echo "restarting"
		epc=$(ls "$CFS"/controllers | head -1)
		# (and 60 s later its transport's counters, for a failure's
		# report: guest 2 cannot ask over a network that does not work)
		( sleep 5 && echo 0 >"$CFS/controllers/$epc/start" && sleep 2 &&
		  echo 1 >"$CFS/controllers/$epc/start" &&
		  echo "QEPC-VNTB-RESTARTED" >/dev/ttyS1 && sleep 60 &&
		  echo "QEPC-VNTB-STATS $(stats)" >/dev/ttyS1 ) </dev/null >/dev/null 2>&1 &
		;;
	stats)
		stats
		;;
	relink)
		echo "relinking"
		( sleep 2 && relink ) </dev/null >/dev/ttyS1 2>&1 &
		;;
	*)
		echo "unknown command: $cmd"
		;;
	esac
	;;
*)
	echo "usage: vntb-agent.sh serve|ctl" >&2
	exit 2
	;;
esac
