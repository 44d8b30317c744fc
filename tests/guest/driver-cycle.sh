#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest-1 script of tests/e2e/test_e2e_driver.py: unbind/rebind and
# unload/reload pcie-qemu-ep, with and without pci-epf-test bound to it.
# Prints its plan and one KTAP result per check on ttyS1 (guest/lib.sh),
# then "QEPC-DONE".
# The endpoint core's configfs entry of a controller holds a reference on
# the controller driver's module, so unloading means unbinding first.
CYCLES=${QEPC_CYCLES:-100}
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
exec >/dev/ttyS1 2>&1
# A kernel with kmemleak (guest/kernel-debug.config) gets a scan once the
# cycle is over; other kernels have no debugfs
KML=/sys/kernel/debug/kmemleak
[ -d /sys/kernel/debug ] && ! [ -e $KML ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
C_SCAN=
[ ! -e $KML ] || C_SCAN="kmemleak scanned twice after the cycle"
set -- "controller registered at boot" "unbind and rebind the controller" \
	"rmmod refused while the controller is registered" \
	"unbind, rmmod, insmod (probe again) $CYCLES times" \
	"pci-epf-test bound and started" \
	"EPF stopped and unlinked, then unbind, rmmod and insmod" \
	"pci-epf-test binds again to the reloaded controller" \
	"unbind and rebind with pci-epf-test bound and started"
[ -z "$C_SCAN" ] || set -- "$@" "$C_SCAN"
plan "$@"
epcs() { ls /sys/class/pci_epc 2>/dev/null | wc -l; }
epcs_are() { [ "$(epcs)" = "$1" ]; }
# wait up to 5 s for N controllers
want_epcs() {
	wait_for 5 epcs_are "$1" || { echo "$(epcs) controllers, expected $1"; return 1; }
}
ko() { find /lib/modules -name "$1.ko" | head -1; }
DRV=/sys/bus/pci/drivers/pcie-qemu-ep
DEV=$(basename "$(readlink "$DRV"/0000:* | head -1)")
[ -n "$DEV" ] || DEV=$(ls "$DRV" | grep '^0000:' | head -1)

check "controller registered at boot" want_epcs 1
unbind_bind() {
	echo "$DEV" >$DRV/unbind && want_epcs 0 && echo "$DEV" >$DRV/bind && want_epcs 1
}
check "unbind and rebind the controller" unbind_bind
bound_busy() { ! rmmod pcie_qemu_ep; }
check "rmmod refused while the controller is registered" bound_busy
reload() {
	c=0
	while [ $c -lt "$CYCLES" ]; do
		echo "$DEV" >$DRV/unbind && want_epcs 0 || return 1
		rmmod pcie_qemu_ep || return 1
		insmod "$(ko pcie-qemu-ep)" && want_epcs 1 || return 1
		c=$((c + 1))
	done
}
check "unbind, rmmod, insmod (probe again) $CYCLES times" reload

EPC=$(ls /sys/class/pci_epc | head -1)
insmod "$(ko pci-epf-test)"
CFS=/sys/kernel/config/pci_ep
with_epf() {
	mkdir $CFS/functions/pci_epf_test/t1 &&
	ln -s $CFS/functions/pci_epf_test/t1 $CFS/controllers/"$EPC"/ &&
	echo 1 >$CFS/controllers/"$EPC"/start
}
check "pci-epf-test bound and started" with_epf
unlink_epf() {
	echo 0 >$CFS/controllers/"$EPC"/start &&
	rm $CFS/controllers/"$EPC"/t1 &&
	rmdir $CFS/functions/pci_epf_test/t1 &&
	echo "$DEV" >$DRV/unbind && want_epcs 0 && rmmod pcie_qemu_ep &&
	insmod "$(ko pcie-qemu-ep)" && want_epcs 1
}
check "EPF stopped and unlinked, then unbind, rmmod and insmod" unlink_epf
again() {
	EPC=$(ls /sys/class/pci_epc | head -1)
	mkdir $CFS/functions/pci_epf_test/t2 &&
	ln -s $CFS/functions/pci_epf_test/t2 $CFS/controllers/"$EPC"/ &&
	echo 1 >$CFS/controllers/"$EPC"/start &&
	echo 0 >$CFS/controllers/"$EPC"/start &&
	rm $CFS/controllers/"$EPC"/t2 && rmdir $CFS/functions/pci_epf_test/t2
}
check "pci-epf-test binds again to the reloaded controller" again
active_unbind() {
	EPC=$(ls /sys/class/pci_epc | head -1)
	mkdir $CFS/functions/pci_epf_test/t3 &&
	ln -s $CFS/functions/pci_epf_test/t3 $CFS/controllers/"$EPC"/ &&
	echo 1 >$CFS/controllers/"$EPC"/start &&
	echo "$DEV" >$DRV/unbind && want_epcs 0 &&
	echo "$DEV" >$DRV/bind && want_epcs 1
}
check "unbind and rebind with pci-epf-test bound and started" active_unbind

# the kmemleak scan: its report passed on as "QEPC-KMEMLEAK <line>" lines
# for the test to judge
if [ -n "$C_SCAN" ]; then
	# kmemleak reports no object younger than 5 s, and recommends a
	# second scan a little later: a pointer may have been in flight
	# (a register, a list being moved) during the first
	scan() {
		sleep 6 && echo scan >$KML && sleep 6 && echo scan >$KML &&
		cat $KML >/tmp/kmemleak.txt
	}
	check "$C_SCAN" scan
	sed 's/^/QEPC-KMEMLEAK /' /tmp/kmemleak.txt
	echo "QEPC-KMEMLEAK-END $(grep -c '^unreferenced object' /tmp/kmemleak.txt) objects"
fi
echo "QEPC-DONE $n"
