#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest-1 script of tests/e2e/test_e2e_debug_kernel.py on the debug kernel:
# load qepc-planted.ko (a planted leak and out-of-bounds read), scan with
# kmemleak and pass its report on as "QEPC-KMEMLEAK <line>" lines; KASAN's
# report goes to the console.  Prints "QEPC-TEST ok|not ok <what>" lines.
out=/dev/ttyS1
KML=/sys/kernel/debug/kmemleak
n=0
result() {
	n=$((n + 1))
	echo "QEPC-TEST $1" >$out
}
[ -e $KML ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if insmod "$(find /lib/modules -name qepc-planted.ko | head -1)" 2>/tmp/insmod.log; then
	result "ok qepc-planted loaded"
else
	result "not ok qepc-planted did not load: $(cat /tmp/insmod.log)"
fi
# kmemleak reports no object younger than 5 s; two scans, as in driver-cycle.sh
if [ -e $KML ] && sleep 6 && echo scan >$KML && sleep 6 && echo scan >$KML &&
	cat $KML >/tmp/kmemleak.txt; then
	result "ok kmemleak scanned twice"
	sed 's/^/QEPC-KMEMLEAK /' /tmp/kmemleak.txt >$out
	echo "QEPC-KMEMLEAK-END $(grep -c '^unreferenced object' /tmp/kmemleak.txt) objects" >$out
else
	result "not ok kmemleak scan (no $KML?)"
fi
echo "QEPC-TEST done $n" >$out
