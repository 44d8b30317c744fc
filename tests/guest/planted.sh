#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest-1 script of tests/e2e/test_e2e_debug_kernel.py on the debug kernel:
# load qepc-planted.ko (a planted leak and out-of-bounds read), scan with
# kmemleak and pass its report on as "QEPC-KMEMLEAK <line>" lines; KASAN's
# report goes to the console.  Prints its plan and KTAP results on ttyS1
# (guest/lib.sh), then "QEPC-DONE".
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
exec >/dev/ttyS1 2>&1
KML=/sys/kernel/debug/kmemleak
plan "qepc-planted loaded" "kmemleak scanned twice"
[ -e $KML ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
check "qepc-planted loaded" need qepc-planted
# kmemleak reports no object younger than 5 s; two scans, as in driver-cycle.sh
scan() {
	[ -e $KML ] && sleep 6 && echo scan >$KML && sleep 6 && echo scan >$KML &&
		cat $KML >/tmp/kmemleak.txt
}
if scan; then
	ok "kmemleak scanned twice"
	sed 's/^/QEPC-KMEMLEAK /' /tmp/kmemleak.txt
	echo "QEPC-KMEMLEAK-END $(grep -c '^unreferenced object' /tmp/kmemleak.txt) objects"
else
	notok "kmemleak scanned twice" "no $KML, or the scan failed"
fi
echo "QEPC-DONE $n"
