#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-epc set-up: apt sources, packages, headers of the installed QEMU,
# the qtest accelerator module, the meson build of this project, the guest
# kernel and its pcitest, its debug variant (KASAN, kmemleak) with the
# driver built against it, the 7.3 guest kernel (source fetched from
# trixie-backports without adding it to the system's apt sources) with its
# kselftest and the driver, a 6.1 tree for the driver's compile check, and
# the driver itself; the headers of Debian 12's own QEMU 7.2 (with its
# binary unpacked) and of the newest QEMU in Debian (scripts/qemu-tree.sh);
# also a second build with ASan/UBSan (BUILD-san) and the libFuzzer target
# (clang-14) for the sanitize and fuzz test suites, a third with
# ThreadSanitizer (BUILD-tsan) for the tsan suite; iperf3 and fio for the
# guests.
# Idempotent; slow artefacts are cached outside the work tree under
# $QEMU_EPC_CACHE (default ~/.cache/qemu-epc), keyed by version.
#   setup.sh                    everything
#   setup.sh --stage base       all but the guest kernels and the driver
#   setup.sh --stage run        base, the 6.12 guest kernel and the driver
#                               (what `run` and `bench` boot; the other
#                               kernels are built when a run asks for one)
#   setup.sh --stage kernels    the guest kernels and the driver, after base
# (`qemu-epc-bench test` builds the kernels while the suites that need none
# run).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${QEMU_EPC_CACHE:-$HOME/.cache/qemu-epc}
BUILD=${QEMU_EPC_BUILD:-$TOP/build}
SAN_BUILD=${QEMU_EPC_SAN_BUILD:-$BUILD-san}
TSAN_BUILD=${QEMU_EPC_TSAN_BUILD:-$BUILD-tsan}
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- apt ----
APT_SOURCES=/etc/apt/sources.list.d/qemu-epc.sources
HOST_PKGS=(build-essential patch pkg-config ninja-build flex bison bzip2 xz-utils
           libglib2.0-dev libpixman-1-dev check python3 dpkg-dev ca-certificates
           clang-14 libclang-rt-14-dev
           debhelper dh-dkms lintian libfdt-dev tshark)
# (debhelper, dh-dkms, lintian: ./qemu-epc-bench package; libfdt-dev: QEMU
# 7.2's configure, for the build against Debian 12's own QEMU; tshark: the
# captures' dissector is tested with it)
# the guests: kernel sources (6.12 runs, 6.1 is a compile check), initramfs
GUEST_PKGS=(bc libelf-dev cpio kmod busybox-static dkms linux-source-6.1)
BPO_PKGS=(qemu-system-x86 meson python3-pycotap linux-source-6.12)

apt_sources() {
	[ -f "$APT_SOURCES" ] && return 1
	local mirror sec
	mirror=$(sed -n 's/^URIs: *\(.*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
	sec=$(sed -n 's/^URIs: *\(.*debian-security\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
	mirror=${mirror:-http://deb.debian.org/debian}
	sec=${sec:-http://deb.debian.org/debian-security}
	log "adding deb-src and bookworm-backports sources ($APT_SOURCES)"
	$SUDO tee "$APT_SOURCES" >/dev/null <<SRC
# added by qemu-epc scripts/setup.sh
Types: deb-src
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $sec
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	return 0
}

pkgs_missing() {
	local installed p
	# one query for all of them (names with an architecture as given)
	installed=" $(dpkg-query -W -f='${binary:Package} ${Package} ${Status}\n' "$@" 2>/dev/null |
		awk '$3 == "install" && $4 == "ok" && $5 == "installed" { print $1; print $2 }' |
		tr '\n' ' ')"
	for p in "$@"; do
		case "$installed" in *" $p "*) ;; *) echo "$p" ;; esac
	done
}

install_packages() {
	local need_update=0 miss_host miss_bpo
	apt_sources && need_update=1
	miss_host=$(pkgs_missing "${HOST_PKGS[@]}" "${GUEST_PKGS[@]}")
	miss_bpo=$(pkgs_missing "${BPO_PKGS[@]}")
	# the backported meson must be >= 1.5
	if [ -z "$miss_bpo" ] && ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' meson)" ge 1.5; then
		miss_bpo=meson
	fi
	[ -z "$miss_host$miss_bpo" ] && [ $need_update = 0 ] && return 0
	log "apt-get update"
	$SUDO apt-get update -qq || die "apt-get update failed"
	if [ -n "$miss_host" ]; then
		log "installing: $(echo $miss_host)"
		# noninteractive: wireshark-common asks about capture rights
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $miss_host >/dev/null ||
			die "apt-get install $miss_host failed"
	fi
	if [ -n "$miss_bpo" ]; then
		log "installing from bookworm-backports: $(echo $miss_bpo)"
		$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports $miss_bpo >/dev/null ||
			die "apt-get install -t bookworm-backports $miss_bpo failed"
	fi
}

# ------------------------------------------------------- QEMU headers ----
# Debian version of the installed QEMU, e.g. 1:10.0.2+ds-1~bpo12+1
qemu_deb_version() { dpkg-query -W -f='${Version}' qemu-system-x86; }

qemu_stamp() {
	local so
	for so in /usr/lib/x86_64-linux-gnu/qemu/*.so; do
		nm -D --defined-only "$so" 2>/dev/null | sed -n 's/.* T \(qemu_stamp_[0-9a-f]*\)$/\1/p' | head -1
		return 0
	done
}

fetch_qemu_source() {
	local debver=$1 dir=$2 upver orig sha want
	upver=${debver#*:}; upver=${upver%-*}          # 10.0.2+ds
	orig="qemu_${upver}.orig.tar.xz"
	mkdir -p "$dir"
	if [ ! -f "$dir/$orig" ]; then
		log "downloading QEMU $upver source"
		# the .dsc may be missing on the mirror (apt-get then exits 100 after
		# fetching the orig tarball); the tarball's checksum is checked below
		(cd "$dir" && apt-get source --download-only -qq "qemu=$debver" >/dev/null 2>&1) || true
		[ -f "$dir/$orig" ] || die "could not download $orig (apt-get source qemu=$debver)"
	fi
	want=$(apt-cache showsrc qemu 2>/dev/null |
	       awk '/^Checksums-Sha256:/{s=1;next} /^[^ ]/{s=0} s && $3=="'"$orig"'"{print $1; exit}')
	[ -n "$want" ] || die "apt-cache showsrc qemu lists no sha256 for $orig"
	sha=$(sha256sum "$dir/$orig" | cut -d' ' -f1)
	[ "$sha" = "$want" ] || { rm -f "$dir/$orig"; die "$orig: sha256 $sha, expected $want"; }
	echo "$dir/$orig"
}

build_qemu_headers() {
	local debver upver qdir src bld tarball stamp
	debver=$(qemu_deb_version)
	upver=${debver#*:}; upver=${upver%-*}
	qdir="$CACHE/qemu-$upver"
	src="$qdir/src"; bld="$qdir/build"
	if [ -f "$qdir/.done" ]; then
		QEMU_TREE=$qdir; return 0
	fi
	tarball=$(fetch_qemu_source "$debver" "$qdir")
	rm -rf "$src" "$bld"; mkdir -p "$src" "$bld"
	log "unpacking $tarball"
	tar -xf "$tarball" -C "$src" --strip-components=1
	log "configuring QEMU $upver (headers only)"
	# The +ds tarball lacks the edk2 firmware blobs that configure declares
	# when bzip2 is present; nothing here builds them, so empty stand-ins do.
	sed -n "s/^ *'\\(edk2-[^']*\\.fd\\)',\$/\\1/p" "$src/pc-bios/meson.build" |
	while read -r fd; do [ -e "$src/pc-bios/$fd.bz2" ] || : >"$src/pc-bios/$fd.bz2"; done
	(cd "$bld" && PATH=/usr/bin:/bin:$PATH "$src/configure" --python=/usr/bin/python3 \
		--enable-modules --target-list=x86_64-softmmu --disable-docs \
		--disable-download --disable-install-blobs --disable-werror \
		>"$qdir/configure.log" 2>&1) ||
		die "QEMU configure failed, see $qdir/configure.log"
	log "generating QEMU headers"
	local targets
	targets=$(cd "$bld" && ninja -t targets all 2>/dev/null |
		  sed -n 's/^\(\(qapi\|trace\)\/[^:]*\.h\|qemu-version\.h\|config-poison\.h\|config-host\.h\|[^:]*-config-target\.h\|[^:]*-config-devices\.h\):.*/\1/p' | sort -u)
	(cd "$bld" && ninja $targets >"$qdir/headers.log" 2>&1) ||
		die "generating QEMU headers failed, see $qdir/headers.log"
	stamp=$(qemu_stamp)
	[ -n "$stamp" ] || die "no qemu_stamp_* symbol in /usr/lib/x86_64-linux-gnu/qemu/*.so"
	echo "$stamp" >"$qdir/stamp"
	echo "$debver" >"$qdir/deb-version"
	build_qtest_accel "$qdir"
	touch "$qdir/.done"
	QEMU_TREE=$qdir
}

# The Debian binary lists accel-qtest-x86_64 in its module table but does not
# ship it; build it from the same tree, stamped like the installed modules.
build_qtest_accel() {
	local qdir=$1 bld=$1/build stamp obj
	stamp=$(cat "$qdir/stamp")
	log "building accel-qtest-x86_64.so ($stamp)"
	(cd "$bld" && ninja accel-qtest-x86_64.so >"$qdir/qtest.log" 2>&1) ||
		die "building accel-qtest-x86_64.so failed, see $qdir/qtest.log"
	mkdir -p "$qdir/modules"
	printf 'void %s(void);\nvoid %s(void) {}\n' "$stamp" "$stamp" >"$qdir/stamp.c"
	gcc -fPIC -c "$qdir/stamp.c" -o "$qdir/stamp.o"
	obj=$(cd "$bld" && ls -d libaccel-qtest-x86_64.a.p/*.o 2>/dev/null || true)
	[ -n "$obj" ] || obj=$(cd "$bld" && find . -path '*accel-qtest*' -name '*.o' | head -20)
	(cd "$bld" && gcc -shared -fPIC -o "$qdir/modules/accel-qtest-x86_64.so" $obj "$qdir/stamp.o" \
		$(pkg-config --libs glib-2.0)) || die "linking accel-qtest-x86_64.so failed"
}

# Configure (once per QEMU tree) and build this project with meson:
# build_project DIR KIND, KIND one of plain, asan (ASan and UBSan, with the
# tests' fuzz target) or tsan (ThreadSanitizer, the modules only)
build_project() {
	local dir=$1 kind=$2 tag want have opts
	tag=$(basename "$dir")
	case "$kind" in
	plain) opts=(-Dsanitize=false -Dtsan=false) ;;
	asan) opts=(-Dsanitize=true -Dtsan=false) ;;
	tsan) opts=(-Dsanitize=false -Dtsan=true -Dtests=false) ;;
	*) die "build_project: unknown kind $kind" ;;
	esac
	want="$QEMU_TREE ${opts[*]}"
	if [ -f "$dir/build.ninja" ]; then
		have=$(meson introspect --buildoptions "$dir" 2>/dev/null |
			python3 -c 'import json,sys; o={x["name"]: x["value"] for x in json.load(sys.stdin)}; print(o["qemu_tree"], "-Dsanitize=%s -Dtsan=%s" % (str(o["sanitize"]).lower(), str(o.get("tsan")).lower()) + ("" if o["tests"] else " -Dtests=false"))' 2>/dev/null || true)
		[ "$have" = "$want" ] || rm -rf "$dir"
	fi
	if [ ! -f "$dir/build.ninja" ]; then
		log "configuring the build in $dir"
		meson setup "$dir" "$TOP" -Dqemu_tree="$QEMU_TREE" "${opts[@]}" \
			>"$CACHE/meson-setup-$tag.log" 2>&1 ||
			{ cat "$CACHE/meson-setup-$tag.log" >&2; die "meson setup failed"; }
	fi
	ninja -C "$dir" >"$CACHE/ninja-$tag.log" 2>&1 ||
		{ cat "$CACHE/ninja-$tag.log" >&2; die "build failed ($dir)"; }
	# for the tests: where accel-qtest-x86_64.so is
	echo "$QEMU_TREE" >"$dir/qemu-tree"
}

# The trees of the other QEMU versions the modules build against (each
# cached by its Debian version; scripts/qemu-tree.sh): Debian 12's own 7.2
# with its binary unpacked (the device tests run on it too), and the newest
# QEMU in Debian, for a compile check.  The tests build against them
# (tests/versions).
version_trees() {
	local which pid=()
	# side by side: each is mostly one single-threaded configure
	for which in bookworm newest; do
		"$TOP/scripts/qemu-tree.sh" "$which" >"$BUILD/qemu-tree-$which.new" &
		pid+=($!)
	done
	local failed=
	for which in bookworm newest; do
		if wait "${pid[0]}"; then
			mv "$BUILD/qemu-tree-$which.new" "$BUILD/qemu-tree-$which"
		else
			failed="$failed $which"
		fi
		pid=("${pid[@]:1}")
	done
	[ -z "$failed" ] || die "preparing the QEMU tree(s)$failed failed (scripts/qemu-tree.sh)"
}

# The guest kernel (cached) and pcie-qemu-ep built against it (in kmod/,
# as dkms and kbuild expect): what `run` boots by default.
build_guest_612() {
	local kdir
	kdir=$("$TOP/scripts/guest-kernel.sh") || die "guest kernel build failed"
	echo "$kdir" >"$BUILD/guest-kernel"
	make -C "$TOP/kmod" KDIR="$kdir/linux" >"$CACHE/kmod.log" 2>&1 ||
		{ cat "$CACHE/kmod.log" >&2; die "building kmod/pcie-qemu-ep.ko failed"; }
}

# The other kernels the tests boot or build against (each cached): a
# prepared 6.1 tree, the debug variant (KASAN, kmemleak) with pcie-qemu-ep
# built against it into $BUILD/kmod-debug/kmod, and the 7.3 series (its
# source from trixie-backports, its kselftest, pcie-qemu-ep in
# $BUILD/kmod-7.3/kmod).  `run` builds one of these itself when asked for
# it (harness/artefacts.py).
# In the order the tests need them: `qemu-epc-bench test` starts the suites
# that boot only 6.12 once KERNEL_612_READY is logged, its end-to-end tests
# ask for 7.3 before the debug variant, and the 6.1 tree is for the driver's
# compile check alone.
KERNEL_612_READY="the 6.12 guest kernel is ready"
build_guest_others() {
	local tree61 kdebug k73
	k73=$(QEMU_EPC_BUILD=$BUILD "$TOP/scripts/guest-kernel.sh" --series 7.3) ||
		die "7.3 guest kernel build failed"
	echo "$k73" >"$BUILD/guest-kernel-7.3"
	kdebug=$(QEMU_EPC_BUILD=$BUILD "$TOP/scripts/guest-kernel.sh" --variant debug) ||
		die "debug guest kernel build failed"
	echo "$kdebug" >"$BUILD/guest-kernel-debug"
	tree61=$("$TOP/scripts/guest-kernel.sh" --prepare-only linux-source-6.1) ||
		die "preparing the 6.1 tree failed"
	echo "$tree61" >"$BUILD/kernel-tree-6.1"
}
build_guest() {
	step build_guest_612
	# the other kernels have a lock each (scripts/guest-kernel.sh): a `run`
	# started now (an end-to-end test's) does its set-up beside them
	exec 9>&-
	log "$KERNEL_612_READY"
	step build_guest_others
}

# iperf3 for the vNTB checks, from this release's packages, unpacked into the
# cache (not installed here); the image takes it with the libraries ldd
# names (harness/initramfs.py)
fetch_iperf3() {
	local ver dir d
	ver=$(apt-cache policy iperf3 2>/dev/null | sed -n 's/^ *Candidate: *//p')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "apt-cache knows no iperf3 package"
	dir="$CACHE/iperf3-$ver"
	if [ ! -f "$dir/.done" ]; then
		log "fetching iperf3 $ver and its libraries"
		rm -rf "$dir"; mkdir -p "$dir/debs"
		(cd "$dir/debs" && apt-get download -qq "iperf3=$ver" libiperf0 libsctp1 libssl3 \
			>"$dir/download.log" 2>&1) ||
			die "apt-get download iperf3 libiperf0 libsctp1 libssl3 failed, see $dir/download.log"
		for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
		[ -x "$dir/root/usr/bin/iperf3" ] || die "no usr/bin/iperf3 in the iperf3 package"
		touch "$dir/.done"
	fi
	echo "$dir/root" >"$BUILD/iperf3-root"
}

# fio for the NVMe checks: bookworm's source built static (the package's
# binary needs Ceph, RDMA and GlusterFS libraries the guests have no use
# for), without SysV shared memory and without timerfd (the guest kernels
# have neither), cached by version and by these choices (FIO_RECIPE)
FIO_RECIPE=static-noshm-notimerfd
build_fio() {
	local ver dir src
	ver=$(apt-cache showsrc fio 2>/dev/null | sed -n 's/^Version: *//p' | sort -V | tail -1)
	[ -n "$ver" ] || die "apt-cache showsrc knows no fio source (deb-src lines missing?)"
	dir="$CACHE/fio-$ver-$FIO_RECIPE"
	if [ ! -f "$dir/.done" ]; then
		log "building fio $ver (static)"
		rm -rf "$dir"; mkdir -p "$dir"
		(cd "$dir" && apt-get source --download-only -qq "fio=$ver" >"$dir/download.log" 2>&1) ||
			die "apt-get source fio=$ver failed, see $dir/download.log"
		src=$(ls "$dir"/fio_*.orig.tar.* | head -1)
		[ -f "$src" ] || die "no fio orig tarball in $dir"
		mkdir "$dir/src" && tar -xf "$src" -C "$dir/src" --strip-components=1
		(cd "$dir/src" && ./configure --build-static --disable-shm --disable-native --disable-numa \
			--disable-rdma --disable-rados --disable-rbd --disable-http --disable-gfapi \
			--disable-pmem --disable-xnvme --disable-libzbc --disable-tcmalloc \
			--disable-lex --disable-dfs >"$dir/build.log" 2>&1 &&
		 sed -i '/CONFIG_HAVE_TIMERFD_CREATE/d' config-host.h config-host.mak &&
		 make -j"$(nproc)" fio >>"$dir/build.log" 2>&1) ||
			die "building fio failed, see $dir/build.log"
		strip -o "$dir/fio" "$dir/src/fio"
		rm -rf "$dir/src"
		touch "$dir/.done"
	fi
	echo "$dir/fio" >"$BUILD/fio"
}

# step NAME COMMAND...: run a step and say how long it took
step() {
	local t0=$SECONDS
	"$@"
	log "$1: $((SECONDS - t0)) s"
}

stage=all
case "${1:-}" in
'') ;;
--stage) stage=${2:-}; [ $# = 2 ] || die "usage: setup.sh [--stage base|run|kernels]" ;;
*) die "usage: setup.sh [--stage base|run|kernels]" ;;
esac
case "$stage" in
all | base | run | kernels) ;;
*) die "unknown stage '$stage' (base: packages, QEMU headers, builds; run: base and the 6.12 guest kernel with the driver; kernels: every guest kernel and the driver)" ;;
esac

mkdir -p "$CACHE" "$BUILD"
# one set-up at a time on a machine: runs started side by side wait here
# instead of building into the same directories at once
exec 9>"$CACHE/setup.lock"
if ! flock -n 9; then
	log "another set-up is running (lock $CACHE/setup.lock): waiting up to 60 min"
	flock -w 3600 9 || die "waited 60 min for $CACHE/setup.lock; another set-up still holds it"
fi
t_all=$SECONDS
if [ "$stage" != kernels ]; then
	step install_packages
	step build_qemu_headers
	step build_project "$BUILD" plain
	# the sanitizer builds and the other QEMU versions: for the tests only
	if [ "$stage" != run ]; then
		step build_project "$SAN_BUILD" asan
		step build_project "$TSAN_BUILD" tsan
		step version_trees
	fi
	step fetch_iperf3
	step build_fio
else
	# the kernels need the packages; the QEMU tree is named for the log
	QEMU_TREE=$(cat "$BUILD/qemu-tree" 2>/dev/null) ||
		die "no $BUILD/qemu-tree: run setup.sh --stage base first"
fi
case "$stage" in
run) step build_guest_612 ;;
all | kernels) step build_guest ;;
esac
log "ready ($stage, $((SECONDS - t_all)) s): modules in $BUILD, QEMU tree $QEMU_TREE"
