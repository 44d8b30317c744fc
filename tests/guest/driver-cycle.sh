#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest-1 script of tests/e2e/test_e2e_driver.py: unbind/rebind and
# unload/reload pcie-qemu-ep, with and without pci-epf-test bound to it.
# Prints "QEPC-TEST ok|not ok <what>" lines on ttyS1.
# The endpoint core's configfs entry of a controller holds a reference on
# the controller driver's module, so unloading means unbinding first.
CYCLES=${CYCLES:-100}
out=/dev/ttyS1
n=0
check() {
	what=$1
	shift
	n=$((n + 1))
	if "$@" >/tmp/check.log 2>&1; then
		echo "QEPC-TEST ok $what" >$out
	else
		echo "QEPC-TEST not ok $what: $(tr '\n' ' ' </tmp/check.log)" >$out
	fi
}
epcs() { ls /sys/class/pci_epc 2>/dev/null | wc -l; }
# wait up to 5 s for N controllers
want_epcs() {
	i=0
	while [ "$(epcs)" != "$1" ]; do
		[ $i -lt 50 ] || { echo "$(epcs) controllers, expected $1"; return 1; }
		sleep 0.1
		i=$((i + 1))
	done
}
ko() { find /lib/modules -name "$1.ko" | head -1; }
DRV=/sys/bus/pci/drivers/pcie-qemu-ep
DEV=$(basename "$(readlink "$DRV"/0000:* | head -1)")
[ -n "$DEV" ] || DEV=$(ls "$DRV" | grep '^0000:' | head -1)

check "controller $EPC registered at boot" want_epcs 1
unbind_bind() {
	echo "$DEV" >$DRV/unbind && want_epcs 0 && echo "$DEV" >$DRV/bind && want_epcs 1
}
check "unbind and rebind $DEV" unbind_bind
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

# A kernel with kmemleak (guest/kernel-debug.config): scan once the
# cycle is over and pass the report on as "QEPC-KMEMLEAK <line>" lines
# for the test to judge.  Other kernels have no debugfs: nothing happens.
KML=/sys/kernel/debug/kmemleak
[ -d /sys/kernel/debug ] && ! [ -e $KML ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if [ -e $KML ]; then
	# kmemleak reports no object younger than 5 s, and recommends a
	# second scan a little later: a pointer may have been in flight
	# (a register, a list being moved) during the first
	scan() {
		sleep 6 && echo scan >$KML && sleep 6 && echo scan >$KML &&
		cat $KML >/tmp/kmemleak.txt
	}
	check "kmemleak scanned twice after the cycle" scan
	sed 's/^/QEPC-KMEMLEAK /' /tmp/kmemleak.txt >$out
	echo "QEPC-KMEMLEAK-END $(grep -c '^unreferenced object' /tmp/kmemleak.txt) objects" >$out
fi
echo "QEPC-TEST done $n" >$out
