#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Host side of `qemu-epc-bench run --epf nvme` (Linux 7.3), run in guest 2
# by /init once the function is present ($QEPC_FUNCTION): the stock nvme
# driver (built in) has bound to it; this checks the drive guest 1 serves
# (guest/epf-nvme.sh), one KTAP line per check, and prints fio's figures as
# "QEPC-MEASURE what: value unit" lines, beside the same fio jobs on a
# ramdisk of guest 2 (the ceiling without the link).  Link down and up,
# and the byte count of pcie-qemu-ep's DMA channels, are asked of guest 1 on
# the pair's serial line (ttyS2).  Every wait is bounded.  $QEPC_RUNS
# (default 1): how many times each measured job runs, $QEPC_SECONDS
# (default 4) for how long.  $QEPC_MEASURE_ONLY
# (the bench's pair through messages): the drive found and fio's figures,
# none of the other checks.
runs=${QEPC_RUNS:-1}
# seconds each measured fio job runs
secs=${QEPC_SECONDS:-4}
. "${QEPC_SHARE:-/usr/local/share/qemu-epc}/lib.sh"
MODEL=qemu-epc-nvme
BYTES=$((128 * 1024 * 1024))
# the data files of the filesystem check
FILES=120
# failed I/O ends within the driver's timeouts (both set to 10 s below), up
# to three in a row: a read whose completion guest 1 wrote but whose MSI-X
# the link took away is found by polling at its timeout, the next read times
# out and is aborted, and that admin command times out on a controller that
# is gone before the reset fails the I/O (seen: 10.4 s, 20.2 s, 30.6 s); the
# bound is the three and 5 s for a busy machine
IO_TIMEOUT=10
DOWN_BOUND=$((3 * IO_TIMEOUT + 5))

C_ID="nvme controller and namespace: model and size as guest 1 set them"
C_QUEUES="nvme more than one I/O queue, an MSI-X vector each"
C_PATTERN="nvme 64 MiB pattern written and read back with O_DIRECT, byte-exact"
C_DMA="nvme the pattern's 128 MiB moved through pcie-qemu-ep's DMA channels"
C_FS="nvme filesystem: made, mounted, a file tree copied, checksums after remount"
C_FIO="nvme fio verify=crc32c sequential and random, 4 jobs, 0 errors"
C_IDLE="nvme link down and up while idle: controller reset, I/O works again"
C_BUSY="nvme link down during I/O: the I/O ends with errors within $DOWN_BOUND s, no hang"
C_MSI="nvme an MSI-X lost during I/O (injected): the driver's timeout polls the completion, no I/O error"
C_LINK="nvme link down for 2 s during I/O (injected at the bridge): errors within $DOWN_BOUND s, back after a rescan"
if [ -n "${QEPC_MEASURE_ONLY:-}" ]; then
	plan "$C_ID"
else
	plan "$C_ID" "$C_QUEUES" "$C_PATTERN" "$C_DMA" "$C_FS" "$C_FIO" "$C_IDLE" "$C_BUSY" \
		"$C_MSI" "$C_LINK"
fi

fn=$QEPC_FUNCTION
dev=/sys/bus/pci/devices/$fn
# the controller and namespace the nvme driver made of the function
ctrl() { basename "$(ls -d "$dev"/nvme/nvme* 2>/dev/null | head -1)"; }
ns() { c=$(ctrl) && [ -n "$c" ] && basename "$(ls -d /sys/block/"$c"n1 2>/dev/null)"; }
have_ns() { s=$(ns) && [ -n "$s" ] && [ -b "/dev/$s" ]; }
# requests to guest 1 (guest/epf-nvme.sh) on the pair's line: pair_ask
# restart | stop-now: answered once the function is back
restart() { pair_ask "$1" && [ "$answer" = restarted ]; }
dma_bytes() { pair_ask dma-bytes && [ -n "$answer" ] && echo "$answer"; }
# the files of the filesystem and their checksums, made and checked
tree_sums() { (cd /mnt && find tree -type f | sort | xargs sha256sum); }
remount_check() {
	mount -t ext2 "/dev/$(ns)" /mnt || return 1
	sums=$(tree_sums)
	umount /mnt
	[ "$sums" = "$(cat /tmp/sums)" ]
}

pair_open
# failed commands end within seconds, not the default 30 s (applies from
# the next probe of the controller)
echo $IO_TIMEOUT >/sys/module/nvme_core/parameters/io_timeout
echo $IO_TIMEOUT >/sys/module/nvme_core/parameters/admin_timeout
mkdir -p /mnt

if ! wait_for 60 have_ns; then
	notok "$C_ID" "no namespace in 60 s ($(ls "$dev" | tr '\n' ' '))"
else
	s=$(ns)
	model=$(tr -d ' \n' <"/sys/class/nvme/$(ctrl)/model")
	size=$(($(cat "/sys/block/$s/size") * 512))
	if [ "$model" = "$MODEL" ] && [ "$size" = $BYTES ]; then
		ok "$C_ID"
	else
		notok "$C_ID" "model '$model', $size bytes"
	fi
fi
s=$(ns)
c=$(ctrl)

checks() {
	# I/O from each CPU: each goes down its own queue, with its own vector
	taskset 1 dd if="/dev/$s" of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null
	taskset 2 dd if="/dev/$s" of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null
	queues=$(ls -d /sys/block/"$s"/mq/* 2>/dev/null | wc -l)
	used=$(grep -E " ${c}q[1-9][0-9]*\$" /proc/interrupts | grep -c MSIX)
	busy=$(grep -E " ${c}q[1-9][0-9]*\$" /proc/interrupts |
		awk '{ t = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) t += $i; if (t > 0) n++ } END { print n + 0 }')
	if [ "$queues" -ge 2 ] && [ "$used" -ge 2 ] && [ "$busy" -ge 2 ]; then
		echo "# $queues I/O queues, $used MSI-X I/O vectors, $busy of them interrupted"
		ok "$C_QUEUES"
	else
		notok "$C_QUEUES" "$queues queues, $used MSI-X vectors, $busy interrupted"
	fi

	dd if=/dev/urandom of=/tmp/pat.bin bs=1M count=64 2>/dev/null
	want=$(sha256sum </tmp/pat.bin | cut -d' ' -f1)
	before=$(dma_bytes)
	if dd if=/tmp/pat.bin of="/dev/$s" bs=1M oflag=direct conv=fsync 2>/dev/null &&
		got=$(dd if="/dev/$s" bs=1M count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1) &&
		[ "$got" = "$want" ]; then
		ok "$C_PATTERN"
	else
		notok "$C_PATTERN" "wrote $want, read ${got:-nothing}"
	fi
	after=$(dma_bytes)
	rm -f /tmp/pat.bin
	# written and read: 128 MiB through the channels (the commands' own
	# queue entries and completions add a little)
	if [ -z "$before" ] || [ -z "$after" ]; then
		notok "$C_DMA" "guest 1 did not tell its DMA byte count ('$before', '$after')"
	elif [ $((after - before)) -ge $((128 * 1024 * 1024)) ]; then
		echo "# pcie-qemu-ep's channels moved $((after - before)) bytes meanwhile"
		ok "$C_DMA"
	else
		notok "$C_DMA" "pcie-qemu-ep's channels moved $((after - before)) bytes"
	fi

	why=
	# the filesystem takes the first 56 MiB; fio works past 64 MiB
	if ! mke2fs -q "/dev/$s" 57344 >/tmp/mkfs.log 2>&1; then
		why="mke2fs: $(tail -1 /tmp/mkfs.log)"
	elif ! mount -t ext2 "/dev/$s" /mnt; then
		why="mount failed"
	else
		# the image's programs and modules, and $FILES files of random data
		# from 1 to 340 KiB (about 20 MiB) in 8 directories
		mkdir /mnt/tree && cp -a /bin /lib /usr /mnt/tree/ && i=0
		image=$(find /mnt/tree -type f | wc -l)
		while [ $i -lt $FILES ]; do
			mkdir -p /mnt/tree/data/d$((i % 8))
			dd if=/dev/urandom of=/mnt/tree/data/d$((i % 8))/f$i bs=1k \
				count=$(((i * 37) % 340 + 1)) 2>/dev/null
			i=$((i + 1))
		done
		tree_sums >/tmp/sums
		umount /mnt
		total=$(wc -l </tmp/sums)
		data=$(grep -c ' tree/data/' /tmp/sums)
		if [ "$data" != $FILES ] || [ "$total" != $((image + FILES)) ]; then
			why="$total files checksummed, $data of them data files: expected $((image + FILES)) and $FILES"
		elif ! remount_check; then
			why="checksums differ after remount"
		fi
	fi
	if [ -z "$why" ]; then
		echo "# $total files ($FILES data files, $image of the image)"
		ok "$C_FS"
	else
		notok "$C_FS" "$why"
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
		ok "$C_FIO"
	else
		notok "$C_FIO" "exit $rc, $good jobs clean: $(echo "$out" | grep -E 'err=|verify|error' | head -3)"
	fi
}
[ -n "${QEPC_MEASURE_ONLY:-}" ] || checks

# fio's figures: KiB/s and IOPS from the terse line of a job (fields 7, 8
# read; 48, 49 write); one job with io_uring at queue depth $5, so that the
# depth is the driver's and the device's, not the number of processes.
# With a sixth argument, the harness measures both QEMUs' CPU time during a
# read job and reports it per read under that name (fio's field 6: KiB read)
measure() {
	what=$1
	target=$2
	rw=$3
	bs=$4
	qd=$5
	i=0
	while [ $i -lt "$runs" ]; do
		[ -z "${6:-}" ] || timing cpu "$6" || true
		line=$(timeout 120 fio --minimal --name=m --filename="$target" \
			--direct=1 --ioengine=io_uring --iodepth="$qd" --rw="$rw" --bs="$bs" \
			--size=64m --offset=64m --time_based --runtime="$secs" 2>&1 | tail -1)
		if [ -n "${6:-}" ]; then
			kb=$(echo "$line" | cut -d';' -f6)
			[ "$kb" -eq "$kb" ] 2>/dev/null || kb=0
			timing cpu-off "$6" $((kb / ${bs%k})) || true
		fi
		case $rw in
		*read) f=7 ;;
		*) f=48 ;;
		esac
		v=$(echo "$line" | cut -d';' -f$f)
		iops=$(echo "$line" | cut -d';' -f$((f + 1)))
		if [ -z "$v" ] || [ "$v" = 0 ] || ! [ "$v" -eq "$v" ] 2>/dev/null; then
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
# the vCPUs of both guests, which bound what a queue depth can gain
echo "QEPC-MEASURE nvme vCPUs, guest 2: $(nproc) vCPUs"
if pair_ask cpus && [ -n "$answer" ]; then
	echo "QEPC-MEASURE nvme vCPUs, guest 1: $answer vCPUs"
fi
# where a read's time goes: the devices' trace events during 4 KiB random
# reads at queue depth 1, split by the harness into phases (harness/timing.py)
phases() {
	i=0
	while [ $i -lt "$runs" ]; do
		timing on "nvme phases 4k read QD1" || return
		timeout 120 fio --minimal --name=p --filename="$1" --direct=1 \
			--ioengine=io_uring --iodepth=1 --rw=randread --bs=4k \
			--size=64m --offset=64m --time_based --runtime=2 >/dev/null 2>&1
		timing off "nvme phases 4k read QD1" || return
		i=$((i + 1))
	done
}
phases "/dev/$s"
for target in "/dev/$s" ramdisk; do
	where=drive
	if [ $target = ramdisk ]; then
		ko=$(find /lib/modules -name brd.ko | head -1)
		[ -b /dev/ram0 ] || insmod "$ko" rd_nr=1 rd_size=$((BYTES / 1024)) || break
		target=/dev/ram0
		where=ramdisk
	fi
	for qd in 1 32; do
		cpu=
		[ $qd = 1 ] || cpu="nvme cpu per read 4k QD$qd, $where"
		measure "rand read 4k QD$qd, $where" $target randread 4k $qd "$cpu"
		measure "rand write 4k QD$qd, $where" $target randwrite 4k $qd
		measure "seq read 128k QD$qd, $where" $target read 128k $qd
	done
done

[ -z "${QEPC_MEASURE_ONLY:-}" ] || exit 0

# link down and up with nothing in flight: guest 1 stops the function and
# starts it again; the controller comes back from reset
if ! restart restart; then
	notok "$C_IDLE" "guest 1 answered '${answer:-nothing}'"
elif ! reprobe 60 have_ns; then
	notok "$C_IDLE" "no namespace after the rescan (config space reads $(vendor))"
elif ! remount_check; then
	notok "$C_IDLE" "the filesystem's checksums differ"
else
	ok "$C_IDLE"
fi

# reads_start BS COUNT: reads in flight: dd of COUNT blocks of BS in a loop
# until /tmp/stop appears or one fails, in the background ($reader);
# /tmp/reader gets "TIME ok" or "TIME failed" when they end
reads_start() {
	s=$(ns)
	rm -f /tmp/reader /tmp/stop
	(while [ ! -e /tmp/stop ]; do
		dd if="/dev/$s" of=/dev/null bs="$1" count="$2" iflag=direct 2>/dev/null ||
			{ echo "$(now) failed" >/tmp/reader; exit; }
	done
	echo "$(now) ok" >/tmp/reader) &
	reader=$!
	sleep 1
}

# link down while reads are in flight: they end with errors, within the
# driver's timeouts, and the drive works again after it is back
reads_start 1M 128
t0=$(now)
echo "stop-now" >&3
# the reads end (or the bound and a margin pass) before guest 1's answer
wait_for $((DOWN_BOUND * 2)) test -s /tmp/reader
answer=
read -r -t 60 answer <&3
took=
[ ! -s /tmp/reader ] || took=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /tmp/reader)" 'BEGIN { printf "%.1f", b - a }')
if [ -z "$took" ]; then
	kill $reader 2>/dev/null
	notok "$C_BUSY" "reads still running $((DOWN_BOUND * 2)) s after the stop"
elif [ "$(awk -v t="$took" -v b="$DOWN_BOUND" 'BEGIN { print (t <= b) }')" != 1 ]; then
	notok "$C_BUSY" "the reads failed only $took s after the stop"
elif [ "$answer" != restarted ]; then
	notok "$C_BUSY" "guest 1 answered '${answer:-nothing}'"
elif ! reprobe 60 have_ns || ! remount_check; then
	notok "$C_BUSY" "the drive does not work again after the link is back"
else
	echo "# the reads failed $took s after the stop"
	ok "$C_BUSY"
fi

# the faults the script asks the harness for (guest/lib.sh inject) while
# reads are in flight (reads_start above), 64 KiB each: one command at a
# time, so that a later command's interrupt does not end the one whose
# MSI-X was lost (with 1 MiB reads, two 512 KiB commands, it did)
# the kernel's lines since the mark
kmsg_mark() { mark=$(dmesg | wc -l); }
kmsg_new() { dmesg | tail -n +$((mark + 1)); }

# a lost MSI-X: the nvme driver's timeout ($IO_TIMEOUT s) looks at the
# queue, finds the completion guest 1 wrote and ends the I/O without error
kmsg_mark
reads_start 64k 64
polled() { kmsg_new | grep -q 'timeout, completion polled'; }
if ! inject epc msi-drop:1; then
	notok "$C_MSI" "the harness did not set the fault"
elif ! wait_for $((IO_TIMEOUT * 2 + 10)) polled; then
	touch /tmp/stop
	notok "$C_MSI" "no polled completion within $((IO_TIMEOUT * 2 + 10)) s: $(kmsg_new | tail -3)"
else
	touch /tmp/stop
	wait_for 30 test -s /tmp/reader
	if [ "$(cut -d' ' -f2 /tmp/reader 2>/dev/null)" != ok ]; then
		notok "$C_MSI" "the reads ended '$(cat /tmp/reader 2>/dev/null)': $(kmsg_new | tail -3)"
	else
		echo "# $(kmsg_new | grep 'completion polled' | head -1 | sed 's/^\[[^]]*\] //')"
		ok "$C_MSI"
	fi
fi
kill $reader 2>/dev/null

# the link taken down by the bridge (not by guest 1) for 2 s: the reads in
# flight time out and fail, the driver's reset finds no controller ready and
# disables the device; a rescan finds the function again and the drive works
kmsg_mark
reads_start 64k 64
t0=$(now)
if ! inject bridge0 link-down:2000; then
	notok "$C_LINK" "the harness did not set the fault"
elif ! wait_for $((DOWN_BOUND * 2)) test -s /tmp/reader; then
	kill $reader 2>/dev/null
	notok "$C_LINK" "reads still running $((DOWN_BOUND * 2)) s after the link went down"
else
	took=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /tmp/reader)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$(cut -d' ' -f2 /tmp/reader)" != failed ]; then
		notok "$C_LINK" "the reads did not fail: $(cat /tmp/reader)"
	elif [ "$(awk -v t="$took" -v b="$DOWN_BOUND" 'BEGIN { print (t <= b) }')" != 1 ]; then
		notok "$C_LINK" "the reads failed only $took s after the link went down"
	elif ! reprobe 60 have_ns || ! remount_check; then
		notok "$C_LINK" "the drive does not work again after a rescan: $(kmsg_new | tail -3)"
	else
		echo "# the reads failed $took s after the link went down; the driver: $(kmsg_new | grep -E 'timeout|reset|Disabling|not ready' | sed 's/^\[[^]]*\] //' | head -4 | tr '\n' ' ')"
		ok "$C_LINK"
	fi
fi
