#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of `qemu-epc-bench run --epf nvme` (Linux 7.3), run in guest 2
# by /init once the function is present ($QEPC_FUNCTION): the stock nvme
# driver (built in) has bound to it; this checks the drive guest 1 serves
# (guest/epf-nvme.sh), one KTAP line per check, and prints fio's figures as
# "QEPC-MEASURE what: value unit" lines, beside the same fio jobs on a
# ramdisk of guest 2 (the ceiling without the link).  Link down and up are
# asked of guest 1 on the pair's serial line (ttyS2).  Every wait is
# bounded.  $QEPC_RUNS (default 1): how many times each measured job runs.
runs=${QEPC_RUNS:-1}
fn=$QEPC_FUNCTION
dev=/sys/bus/pci/devices/$fn
MODEL=qemu-epc-nvme
BYTES=$((128 * 1024 * 1024))
n=0
ok() {
	n=$((n + 1))
	echo "ok $n $1"
}
notok() {
	n=$((n + 1))
	echo "not ok $n $1"
}
# wait_for SECONDS COMMAND...: poll every 0.1 s
wait_for() {
	t=0
	lim=$(($1 * 10))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $t -lt $lim ] || return 1
		sleep 0.1
		t=$((t + 1))
	done
}
vendor() { od -An -tx4 -N4 "$dev/config" 2>/dev/null | tr -d ' '; }
absent() { [ "$(vendor)" = ffffffff ]; }
present() { v=$(vendor) && [ -n "$v" ] && [ "$v" != ffffffff ]; }
# the controller and namespace the nvme driver made of the function
ctrl() { basename "$(ls -d "$dev"/nvme/nvme* 2>/dev/null | head -1)"; }
ns() { c=$(ctrl) && [ -n "$c" ] && basename "$(ls -d /sys/block/"$c"n1 2>/dev/null)"; }
have_ns() { s=$(ns) && [ -n "$s" ] && [ -b "/dev/$s" ]; }
# ask guest 1 (restart | stop-now); its answer comes when the function is back
ask() {
	echo "$1" >/dev/ttyS2
	answer=
	read -r -t 60 answer </dev/ttyS2
	[ "$answer" = restarted ]
}
# after the function went away and came back: enumerate it again
reprobe() {
	wait_for 30 present || return 1
	echo 1 >"$dev/remove"
	echo 1 >/sys/bus/pci/rescan
	wait_for 60 have_ns
}
# the files of the filesystem and their checksums, made and checked
tree_sums() { (cd /mnt && find tree -type f | sort | xargs sha256sum); }
remount_check() {
	mount -t ext2 "/dev/$(ns)" /mnt || return 1
	sums=$(tree_sums)
	umount /mnt
	[ "$sums" = "$(cat /tmp/sums)" ]
}

stty -F /dev/ttyS2 raw -echo
# failed commands end within seconds, not the default 30 s (applies from
# the next probe of the controller)
echo 10 >/sys/module/nvme_core/parameters/io_timeout
echo 10 >/sys/module/nvme_core/parameters/admin_timeout
mkdir -p /mnt

if ! wait_for 60 have_ns; then
	notok "nvme controller and namespace: model and size as guest 1 set them: no namespace in 60 s ($(ls "$dev" | tr '\n' ' '))"
else
	s=$(ns)
	model=$(tr -d ' \n' <"/sys/class/nvme/$(ctrl)/model")
	size=$(($(cat "/sys/block/$s/size") * 512))
	if [ "$model" = "$MODEL" ] && [ "$size" = $BYTES ]; then
		ok "nvme controller and namespace: model and size as guest 1 set them"
	else
		notok "nvme controller and namespace: model and size as guest 1 set them: model '$model', $size bytes"
	fi
fi
s=$(ns)
c=$(ctrl)

# I/O from each CPU: each goes down its own queue, with its own vector
taskset 1 dd if="/dev/$s" of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null
taskset 2 dd if="/dev/$s" of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null
queues=$(ls -d /sys/block/"$s"/mq/* 2>/dev/null | wc -l)
used=$(grep -E " ${c}q[1-9][0-9]*\$" /proc/interrupts | grep -c MSIX)
busy=$(grep -E " ${c}q[1-9][0-9]*\$" /proc/interrupts |
	awk '{ t = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) t += $i; if (t > 0) n++ } END { print n + 0 }')
if [ "$queues" -ge 2 ] && [ "$used" -ge 2 ] && [ "$busy" -ge 2 ]; then
	ok "nvme more than one I/O queue, an MSI-X vector each"
	echo "# $queues I/O queues, $used MSI-X I/O vectors, $busy of them interrupted"
else
	notok "nvme more than one I/O queue, an MSI-X vector each: $queues queues, $used MSI-X vectors, $busy interrupted"
fi

dd if=/dev/urandom of=/tmp/pat.bin bs=1M count=64 2>/dev/null
want=$(sha256sum </tmp/pat.bin | cut -d' ' -f1)
if dd if=/tmp/pat.bin of="/dev/$s" bs=1M oflag=direct conv=fsync 2>/dev/null &&
	got=$(dd if="/dev/$s" bs=1M count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1) &&
	[ "$got" = "$want" ]; then
	ok "nvme 64 MiB pattern written and read back with O_DIRECT, byte-exact"
else
	notok "nvme 64 MiB pattern written and read back with O_DIRECT, byte-exact: wrote $want, read ${got:-nothing}"
fi
rm -f /tmp/pat.bin

why=
# the filesystem takes the first 56 MiB; fio works past 64 MiB
if ! mke2fs -q "/dev/$s" 57344 >/tmp/mkfs.log 2>&1; then
	why="mke2fs: $(tail -1 /tmp/mkfs.log)"
elif ! mount -t ext2 "/dev/$s" /mnt; then
	why="mount failed"
else
	# the image's programs and modules, and 120 files of random data
	# from 1 to 340 KiB (about 20 MiB) in 8 directories
	mkdir /mnt/tree && cp -a /bin /lib /usr /mnt/tree/ && i=0
	while [ $i -lt 120 ]; do
		mkdir -p /mnt/tree/data/d$((i % 8))
		dd if=/dev/urandom of=/mnt/tree/data/d$((i % 8))/f$i bs=1k \
			count=$(((i * 37) % 340 + 1)) 2>/dev/null
		i=$((i + 1))
	done
	tree_sums >/tmp/sums
	umount /mnt
	[ -s /tmp/sums ] || why="nothing copied"
	[ -n "$why" ] || remount_check || why="checksums differ after remount"
fi
if [ -z "$why" ]; then
	ok "nvme filesystem: made, mounted, a file tree copied, checksums after remount"
	echo "# $(wc -l </tmp/sums) files"
else
	notok "nvme filesystem: made, mounted, a file tree copied, checksums after remount: $why"
fi

# fio verifies what it wrote (crc32c in each block): two sequential and two
# random writers, each on its own 16 MiB past the filesystem's start
out=$(timeout 300 fio --output-format=normal \
	--name=seq --filename="/dev/$s" --direct=1 --ioengine=psync --rw=write --bs=128k \
	--size=16m --offset=64m --offset_increment=16m --numjobs=2 --verify=crc32c \
	--name=rand --filename="/dev/$s" --direct=1 --ioengine=psync --rw=randwrite --bs=4k \
	--size=8m --offset=96m --offset_increment=16m --numjobs=2 --verify=crc32c 2>&1)
rc=$?
good=$(echo "$out" | grep -c 'err= 0')
if [ $rc = 0 ] && [ "$good" = 4 ] && ! echo "$out" | grep -q 'verify:'; then
	ok "nvme fio verify=crc32c sequential and random, 4 jobs, 0 errors"
else
	notok "nvme fio verify=crc32c sequential and random, 4 jobs, 0 errors: exit $rc, $good jobs clean: $(echo "$out" | grep -E 'err=|verify|error' | head -3 | tr '\n' ' ')"
fi

# fio's figures: KiB/s and IOPS from the terse line of a group (fields 7, 8
# read; 48, 49 write)
measure() {
	what=$1
	target=$2
	rw=$3
	bs=$4
	i=0
	while [ $i -lt "$runs" ]; do
		line=$(timeout 120 fio --minimal --group_reporting --name=m --filename="$target" \
			--direct=1 --ioengine=psync --rw="$rw" --bs="$bs" --size=32m --offset=64m \
			--numjobs=2 --offset_increment=32m --time_based --runtime=4 2>/dev/null | tail -1)
		case $rw in
		*read) f=7 ;;
		*) f=48 ;;
		esac
		v=$(echo "$line" | cut -d';' -f$f)
		iops=$(echo "$line" | cut -d';' -f$((f + 1)))
		if [ -z "$v" ] || [ "$v" = 0 ]; then
			echo "# nvme fio $what: no figure: ${line:-fio printed nothing}"
			return
		fi
		case $bs in
		4k) echo "QEPC-MEASURE nvme fio $what: ${iops%%.*} IOPS" ;;
		*) echo "QEPC-MEASURE nvme fio $what: $(awk -v k="$v" 'BEGIN { printf "%.2f", k * 1.024 / 1000 }') MB/s" ;;
		esac
		i=$((i + 1))
	done
}
for target in "/dev/$s" ramdisk; do
	where=drive
	if [ $target = ramdisk ]; then
		ko=$(find /lib/modules -name brd.ko | head -1)
		[ -b /dev/ram0 ] || insmod "$ko" rd_nr=1 rd_size=$((BYTES / 1024)) || break
		target=/dev/ram0
		where=ramdisk
	fi
	measure "seq read 1M, $where" $target read 1m
	measure "seq write 1M, $where" $target write 1m
	measure "rand read 4k, $where" $target randread 4k
	measure "rand write 4k, $where" $target randwrite 4k
done

# link down and up with nothing in flight: guest 1 stops the function and
# starts it again; the controller comes back from reset
if ! ask restart; then
	notok "nvme link down and up while idle: controller reset, I/O works again: guest 1 answered '${answer:-nothing}'"
elif ! reprobe; then
	notok "nvme link down and up while idle: controller reset, I/O works again: no namespace after the rescan (config space reads $(vendor))"
elif ! remount_check; then
	notok "nvme link down and up while idle: controller reset, I/O works again: the filesystem's checksums differ"
else
	ok "nvme link down and up while idle: controller reset, I/O works again"
fi

# link down while reads are in flight: they end with errors, within the
# driver's timeouts, and the drive works again after it is back
s=$(ns)
(while dd if="/dev/$s" of=/dev/null bs=1M count=128 iflag=direct 2>/dev/null; do :; done
 echo done >/tmp/reader) &
reader=$!
sleep 1
t0=$(cut -d' ' -f1 /proc/uptime)
echo "stop-now" >/dev/ttyS2
answer=
read -r -t 60 answer </dev/ttyS2
t=0
while [ ! -e /tmp/reader ] && [ $t -lt 900 ]; do
	sleep 0.1
	t=$((t + 1))
done
t1=$(cut -d' ' -f1 /proc/uptime)
if [ ! -e /tmp/reader ]; then
	kill $reader 2>/dev/null
	notok "nvme link down during I/O: the I/O ends with errors, no hang: reads still running 90 s later"
elif [ "$answer" != restarted ]; then
	notok "nvme link down during I/O: the I/O ends with errors, no hang: guest 1 answered '${answer:-nothing}'"
elif ! reprobe || ! remount_check; then
	notok "nvme link down during I/O: the I/O ends with errors, no hang: the drive does not work again after the link is back"
else
	ok "nvme link down during I/O: the I/O ends with errors, no hang"
	echo "# the reads failed within $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s of the stop"
fi
