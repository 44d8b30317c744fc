#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Headers of a QEMU other than the installed one, so that the device
# modules can be built against the QEMU versions people have:
#
#   qemu-tree.sh bookworm   Debian 12's own QEMU (7.2): its full source
#                           with Debian's patches, configured, its generated
#                           headers; its qemu-system-x86 unpacked into
#                           DIR/root (apt-get download + dpkg-deb -x, nothing
#                           installed) with the qtest accelerator module the
#                           package lacks, in DIR/modules
#   qemu-tree.sh newest     the newest QEMU in Debian (sid), through a private
#                           apt configuration under the cache (the system's
#                           apt sources are not touched); headers only: its
#                           binaries need Debian 13's C library
#
# Prints DIR ($QEMU_EPC_CACHE/qemu-DEBIAN_VERSION): DIR/src, DIR/build (what
# meson's -Dqemu_tree takes is DIR), DIR/deb-version, for bookworm also
# DIR/root/usr/bin/qemu-system-x86_64 and DIR/modules.  Cached by the
# Debian version and idempotent; when the archive cannot be reached the
# newest tree made before is used (and said so on stderr).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${QEMU_EPC_CACHE:-$HOME/.cache/qemu-epc}
WHICH=${1:-}

log() { printf 'qemu-tree: %s\n' "$*" >&2; }
die() { printf 'qemu-tree: error: %s\n' "$*" >&2; exit 1; }

case "$WHICH" in
bookworm | newest) ;;
*) die "usage: qemu-tree.sh bookworm|newest" ;;
esac

mirror=$(sed -n 's/^URIs: *\(.*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}

# apt options of a private configuration reaching SUITE (deb-src only)
private_apt() {
	local suite=$1 apt=$CACHE/apt-src-$1
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	cat >"$apt/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main
EOF
	APT_OPTS=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		  -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		  -o APT::Architectures=amd64 -o Debug::NoLocking=1)
	if [ -z "$(find "$apt/lists/.updated" -mtime -1 2>/dev/null)" ]; then
		if timeout 300 apt-get "${APT_OPTS[@]}" -qq update >"$apt/update.log" 2>&1; then
			touch "$apt/lists/.updated"
		else
			log "apt-get update for $suite failed (see $apt/update.log)"
		fi
	fi
}

# the newest tree made before for this kind, if any
newest_cached() {
	local d
	for d in "$CACHE"/qemu-*/.kind; do
		[ -f "$d" ] && [ "$(cat "$d")" = "$WHICH" ] && [ -f "${d%/.kind}/.done" ] &&
			echo "$(cat "${d%/.kind}/deb-version") ${d%/.kind}"
	done | sort -V | tail -1 | cut -d' ' -f2
}

# Download and unpack the source of qemu=VERSION (with Debian's patches)
# into DIR/src; APT_OPTS as given.  Returns 1 if the archive lacks a file.
fetch_source() {
	local ver=$1 dir=$2 dl=$2/dl
	rm -rf "$dl" "$dir/src"
	mkdir -p "$dl"
	if ! (cd "$dl" && timeout 900 apt-get "${APT_OPTS[@]}" source --download-only -qq \
		"qemu=$ver" >"$dir/download.log" 2>&1); then
		return 1
	fi
	# apt-get checked the files against the signed Sources index
	log "unpacking the source of qemu $ver"
	dpkg-source --no-check -x "$dl"/qemu_*.dsc "$dir/src" >"$dir/unpack.log" 2>&1 ||
		die "dpkg-source -x failed, see $dir/unpack.log"
	rm -rf "$dl"
}

# configure the tree in DIR and generate only the headers a device needs
configure_headers() {
	local dir=$1 src=$1/src bld=$1/build opts targets
	rm -rf "$bld"; mkdir -p "$bld"
	# the +ds/+dfsg tarballs lack firmware blobs that configure declares
	# when bzip2 is present; nothing here builds them, so empty stand-ins do
	sed -n "s/^ *'\\(edk2-[^']*\\.fd\\)',\$/\\1/p" "$src/pc-bios/meson.build" |
	while read -r fd; do [ -e "$src/pc-bios/$fd.bz2" ] || : >"$src/pc-bios/$fd.bz2"; done
	opts=(--enable-modules --target-list=x86_64-softmmu
	      --disable-docs --disable-install-blobs --disable-werror)
	# 7.2's configure takes --python only with its own meson, which the
	# Debian source lacks: the system's meson then, run by its python3
	if grep -q "requires using QEMU's embedded Meson" "$src/configure" && [ ! -d "$src/meson" ]; then
		opts+=(--meson=/usr/bin/meson)
	else
		opts+=(--python=/usr/bin/python3)
	fi
	# (7.2's configure has no --disable-download)
	grep -q -e '--disable-download' "$src/configure" "$src/scripts/meson-buildoptions.sh" 2>/dev/null &&
		opts+=(--disable-download)
	log "configuring QEMU $(cat "$src/VERSION") (headers only)"
	(cd "$bld" && PATH=/usr/bin:/bin:$PATH nice -n 10 "$src/configure" "${opts[@]}" \
		>"$dir/configure.log" 2>&1) ||
		die "QEMU configure failed, see $dir/configure.log"
	targets=$(cd "$bld" && ninja -t targets all 2>/dev/null |
		  sed -n 's/^\(\(qapi\|trace\)\/[^:]*\.h\|qemu-version\.h\|config-poison\.h\|config-host\.h\|[^:]*-config-target\.h\|[^:]*-config-devices\.h\):.*/\1/p' | sort -u)
	log "generating QEMU headers"
	(cd "$bld" && nice -n 10 ninja $targets >"$dir/headers.log" 2>&1) ||
		die "generating QEMU headers failed, see $dir/headers.log"
}

# bookworm: the qemu-system-x86 of bookworm itself (not the backport)
bookworm_version() {
	apt-cache madison qemu-system-x86 2>/dev/null |
		awk -F' *[|] *' '$3 ~ / bookworm\/main / {print $2}' | sort -V | tail -1
}

make_bookworm() {
	local binver srcver dir stamp obj root
	binver=$(bookworm_version)
	if [ -z "$binver" ]; then
		dir=$(newest_cached)
		[ -n "$dir" ] || die "apt knows no qemu-system-x86 of bookworm and nothing is cached"
		log "bookworm's qemu-system-x86 is not known to apt; using the cached $(cat "$dir/deb-version")"
		echo "$dir"; return 0
	fi
	# a binNMU (+bN) is built from the source without it
	srcver=$(apt-cache show "qemu-system-x86=$binver" 2>/dev/null |
		 sed -n 's/^Source: qemu (\(.*\))$/\1/p' | head -1)
	srcver=${srcver:-$binver}
	dir=$CACHE/qemu-${binver//[:~]/_}
	if [ -f "$dir/.done" ]; then echo "$dir"; return 0; fi
	rm -rf "$dir"; mkdir -p "$dir"
	echo bookworm >"$dir/.kind"
	APT_OPTS=()
	log "downloading the source of qemu $srcver (bookworm)"
	fetch_source "$srcver" "$dir" ||
		die "apt-get source qemu=$srcver failed (deb-src for bookworm is added by setup.sh), see $dir/download.log"
	configure_headers "$dir"
	log "unpacking qemu-system-x86 $binver into $dir/root"
	mkdir -p "$dir/debs" "$dir/root"
	(cd "$dir/debs" && timeout 900 apt-get download -qq "qemu-system-x86=$binver" \
		"qemu-system-common=$binver" "qemu-system-data=$srcver" >"$dir/download-bin.log" 2>&1) ||
		die "apt-get download of qemu-system-x86 $binver failed, see $dir/download-bin.log"
	for deb in "$dir"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dir/root" || die "dpkg-deb -x $deb failed"
	done
	rm -rf "$dir/debs"
	root=$dir/root
	# its firmware path (seabios, ipxe) is looked up relative to the
	# binary: the system's firmware packages, which qemu-system-x86 pulled in
	for fw in usr/share/seabios usr/lib/ipxe; do
		[ -e "/$fw" ] && mkdir -p "$root/${fw%/*}" && ln -sfn "/$fw" "$root/$fw"
	done
	"$root/usr/bin/qemu-system-x86_64" --version >/dev/null 2>&1 ||
		die "the unpacked $root/usr/bin/qemu-system-x86_64 does not run here"
	# its qtest accelerator: built from the same tree, stamped like the
	# package's modules (the binary loads only modules with its stamp)
	stamp=$(for so in "$root"/usr/lib/x86_64-linux-gnu/qemu/*.so; do
		nm -D --defined-only "$so" 2>/dev/null | sed -n 's/.* T \(qemu_stamp_[0-9a-f]*\)$/\1/p'
	done | sort -u)
	[ "$(echo "$stamp" | wc -l)" = 1 ] && [ -n "$stamp" ] ||
		die "no single qemu_stamp_* in the modules of $root"
	echo "$stamp" >"$dir/stamp"
	log "building accel-qtest-x86_64.so ($stamp)"
	(cd "$dir/build" && nice -n 10 ninja accel-qtest-x86_64.so >"$dir/qtest.log" 2>&1) ||
		die "building accel-qtest-x86_64.so failed, see $dir/qtest.log"
	printf 'void %s(void);\nvoid %s(void) {}\n' "$stamp" "$stamp" >"$dir/stamp.c"
	gcc -fPIC -c "$dir/stamp.c" -o "$dir/stamp.o"
	obj=$(cd "$dir/build" && ls -d libaccel-qtest-x86_64.a.p/*.o 2>/dev/null || true)
	[ -n "$obj" ] || die "no objects of accel-qtest in $dir/build"
	mkdir -p "$dir/modules"
	(cd "$dir/build" && gcc -shared -fPIC -o "$dir/modules/accel-qtest-x86_64.so" $obj \
		"$dir/stamp.o" $(pkg-config --libs glib-2.0)) || die "linking accel-qtest-x86_64.so failed"
	echo "$binver" >"$dir/deb-version"
	touch "$dir/.done"
	echo "$dir"
}

# newest: try sid's versions newest first; a version whose files the mirror
# does not have (it happens right after an upload) is passed over, saying so
make_newest() {
	local vers ver dir missing listed=
	private_apt sid
	vers=$(apt-cache "${APT_OPTS[@]}" showsrc qemu 2>/dev/null | sed -n 's/^Version: //p' | sort -Vr)
	if [ -z "$vers" ]; then
		dir=$(newest_cached)
		[ -n "$dir" ] || die "sid's qemu source is not reachable and nothing is cached"
		log "sid not reachable; using the cached $(cat "$dir/deb-version")"
		echo "$dir"; return 0
	fi
	for ver in $vers; do
		listed=${listed:-$ver}
		dir=$CACHE/qemu-${ver//[:~]/_}
		if [ -f "$dir/.done" ]; then echo "$dir"; return 0; fi
		# a version found missing is tried again a day later
		missing=$CACHE/apt-src-sid/missing-${ver//[:~]/_}
		[ -n "$(find "$missing" -mtime -1 2>/dev/null)" ] && continue
		rm -rf "$dir"; mkdir -p "$dir"
		echo newest >"$dir/.kind"
		log "downloading the source of qemu $ver (sid)"
		if ! fetch_source "$ver" "$dir"; then
			log "qemu $ver is listed in sid but its source does not download: $(grep -o '[0-9]\{3\} *Not Found' "$dir/download.log" | head -1)"
			rm -rf "$dir"
			touch "$missing"
			continue
		fi
		[ "$ver" = "$listed" ] || log "the newest listed, qemu $listed, cannot be downloaded; using $ver"
		configure_headers "$dir"
		echo "$ver" >"$dir/deb-version"
		echo "$listed" >"$dir/newest-listed"
		touch "$dir/.done"
		echo "$dir"
		return 0
	done
	die "no version of qemu in sid could be downloaded"
}

mkdir -p "$CACHE"
"make_$WHICH"
