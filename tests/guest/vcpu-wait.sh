#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest 1 with two vCPUs and qemu-epc programmed by hand (devmem, no
# driver); the host side is a test peer that answers each memory read
# after a delay.  vCPU 0 reads an outbound window five times, each read
# waiting for the peer; vCPU 1 meanwhile reads a qemu-epc register in a
# loop (an MMIO access: it needs QEMU's big lock) and notes the time of
# each.  Prints on ttyS1:
#   QEPC-TEST reads <s> beats <n> gap <s> wrong <n> values <v1> ... <v5>
# (the reads' total time, the heartbeats within it, the longest time
# between two of them, the heartbeats that read something else than the
# register's value) and QEPC-DONE.
set -e
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
. "$QEPC_SHARE/regs.sh"
dev=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = "$(printf '0x%04x:0x%04x' $QEPC_VENDOR_ID $QEPC_DEVICE_ID)" ] && dev=$d
done
[ -n "$dev" ] || { echo "QEPC-ERROR no qemu-epc device"; exit 1; }
echo 1 >"$dev/enable"
bar0=$(sed -n $((QEPC_REG_BAR + 1))p "$dev/resource" | cut -d' ' -f1)
win=$(sed -n $((QEPC_WINDOW_BAR + 1))p "$dev/resource" | cut -d' ' -f1)
r() { devmem $((bar0 + $1)) 32 "$2"; }
linkup() { [ $(($(devmem $((bar0 + QEPC_STATUS)) 32) & QEPC_STATUS_LINK_UP)) != 0 ]; }

# a started function with one 4 KiB BAR; then window 0 onto host address 0x10000
r $QEPC_HDR_ID 0xb500104c
r $QEPC_HDR_INTPIN 1
b=$(QEPC_BAR_BASE 0)
r $((b + QEPC_BAR_ADDR_LO)) 0x1000000
r $((b + QEPC_BAR_ADDR_HI)) 0
r $((b + QEPC_BAR_SIZE_LO)) 0x1000
r $((b + QEPC_BAR_SIZE_HI)) 0
r $((b + QEPC_BAR_FLAGS)) $QEPC_BAR_ENABLE
r $QEPC_CTRL $QEPC_CTRL_START
wait_for 10 linkup || { echo "QEPC-ERROR no link up"; exit 1; }
w=$(QEPC_WIN_BASE 0)
r $((w + QEPC_WIN_SIZE_LO)) 0x1000
r $((w + QEPC_WIN_SIZE_HI)) 0
r $((w + QEPC_WIN_PCI_LO)) 0x10000
r $((w + QEPC_WIN_PCI_HI)) 0
r $((w + QEPC_WIN_CTRL)) $QEPC_WIN_ENABLE

taskset 2 sh -c "while :; do v=\$(devmem $bar0 32); echo \$(cut -d' ' -f1 /proc/uptime) \$v; done" >/tmp/beats &
beat=$!
sleep 1
t0=$(now)
values=$(taskset 1 sh -c "for i in 1 2 3 4 5; do devmem $win 32; done" | tr '\n' ' ')
t1=$(now)
kill $beat
awk -v a="$t0" -v b="$t1" -v v="$values" -v magic="$(printf '0x%08X' $QEPC_MAGIC_VALUE)" '
	$1 >= a && $1 <= b { if (p != "" && $1 - p > g) g = $1 - p; p = $1; n++; if ($2 != magic) bad++ }
	END { printf "QEPC-TEST reads %.2f beats %d gap %.2f wrong %d values %s\n", b - a, n, g, bad + 0, v }' /tmp/beats
echo "QEPC-DONE"
