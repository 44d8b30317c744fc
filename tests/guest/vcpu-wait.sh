#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest 1 with two vCPUs and qemu-epc programmed by hand (devmem, no
# driver); the host side is a test peer that answers each memory read
# after a delay.  vCPU 0 reads an outbound window five times, each read
# waiting for the peer; vCPU 1 meanwhile reads a qemu-epc register in a
# loop (an MMIO access: it needs QEMU's big lock) and notes the time of
# each.  Prints on ttyS1:
#   QEPC-TEST reads <s> beats <n> gap <s> values <v1> ... <v5>
# (the reads' total time, the heartbeats within it, the longest time
# between two of them) and QEPC-TEST done.
set -e
dev=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1234:0xe9c0 ] && dev=$d
done
[ -n "$dev" ] || { echo "QEPC-ERROR no qemu-epc device"; exit 1; }
echo 1 >"$dev/enable"
bar0=$(sed -n 1p "$dev/resource" | cut -d' ' -f1)
win=$(sed -n 3p "$dev/resource" | cut -d' ' -f1)
r() { devmem $((bar0 + $1)) 32 "$2"; }

# a started function with one BAR; then window 0 onto host address 0x10000
r 0x30 0xb500104c
r 0x3c 1
r 0x100 0x1000000
r 0x104 0
r 0x108 0x1000
r 0x10c 0
r 0x110 0x80000000
r 0x10 1
t=0
until [ $(($(devmem $((bar0 + 0x14)) 32) & 2)) = 2 ]; do
	[ $t -lt 100 ] || { echo "QEPC-ERROR no link up"; exit 1; }
	sleep 0.1
	t=$((t + 1))
done
r 0x408 0x1000
r 0x40c 0
r 0x410 0x10000
r 0x414 0
r 0x418 1

taskset 2 sh -c "while :; do v=\$(devmem $bar0 32); echo \$(cut -d' ' -f1 /proc/uptime) \$v; done" >/tmp/beats &
beat=$!
sleep 1
t0=$(cut -d' ' -f1 /proc/uptime)
values=$(taskset 1 sh -c "for i in 1 2 3 4 5; do devmem $win 32; done" | tr '\n' ' ')
t1=$(cut -d' ' -f1 /proc/uptime)
kill $beat
awk -v a="$t0" -v b="$t1" -v v="$values" '
	$1 >= a && $1 <= b { if (p != "" && $1 - p > g) g = $1 - p; p = $1; n++; if ($2 != "0x43504551") bad++ }
	END { printf "QEPC-TEST reads %.2f beats %d gap %.2f wrong %d values %s\n", b - a, n, g, bad + 0, v }' /tmp/beats
echo "QEPC-TEST done"
