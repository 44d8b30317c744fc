#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build a guest kernel and its host-side test program from Debian's kernel
# source, cached under $QEMU_EPC_CACHE keyed by the package version and the
# config.
#   guest-kernel.sh [--series S]          the guest kernel of series S:
#                                         6.12 (default; linux-source-6.12,
#                                         installed from bookworm-backports)
#                                         or 7.3 (linux-source-7.3, fetched
#                                         from trixie-backports by
#                                         scripts/fetch-package.sh); a
#                                         series other than 6.12 also builds
#                                         pcie-qemu-ep against it into
#                                         BUILD/kmod-S/kmod
#   guest-kernel.sh --prepare-only PKG    only a configured tree ready for
#                                         out-of-tree modules (e.g.
#                                         linux-source-6.1, for the driver's
#                                         compile check)
#   guest-kernel.sh --variant debug       the 6.12 guest kernel with
#                                         guest/kernel-debug.config on
#                                         top (KASAN, kmemleak) instead of
#                                         kernel-pair.config, cached in a
#                                         directory of its own, and
#                                         pcie-qemu-ep built against it in
#                                         BUILD/kmod-debug/kmod (BUILD is
#                                         $QEMU_EPC_BUILD, default build/):
#                                         a copy of kmod/, so that
#                                         kmod/pcie-qemu-ep.ko stays the
#                                         normal kernel's
# Prints the kernel directory on stdout:
#   DIR/linux        configured and built kernel tree (modules, dkms --kernelsourcedir)
#   DIR/bzImage      the kernel
#   DIR/modules/     modules_install output
#   DIR/pcitest      static pcitest, DIR/pcitest.sh the host-side suite (6.12)
#   DIR/pci_endpoint_test  the static kselftest (7.3)
#   DIR/release      the kernel release string
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${QEMU_EPC_CACHE:-$HOME/.cache/qemu-epc}
SERIES=6.12
PREPARE=
VARIANT=
while [ $# -gt 0 ]; do
	case "$1" in
	--prepare-only) PREPARE=1; PKG=${2:?--prepare-only needs a package name}; shift 2 ;;
	--variant) VARIANT=${2:?--variant needs a name (debug)}; shift 2 ;;
	--series) SERIES=${2:?--series needs 6.12 or 7.3}; shift 2 ;;
	*) printf 'guest-kernel: error: unknown argument %s\n' "$1" >&2; exit 2 ;;
	esac
done
# the kernels the bench boots: guest/kernel.config, what the guest pairs
# need (kernel-pair.config) and the series' own; the debug variant: kernel.config
# and kernel-debug.config only (guest 1 alone: no ACPI, IOMMU or network)
FRAGS=("$TOP/guest/kernel.config")
case "$SERIES" in
6.12) ;;
7.3) ;;
*) printf 'guest-kernel: error: unknown series %s (known: 6.12, 7.3)\n' "$SERIES" >&2; exit 2 ;;
esac
[ -n "${PKG:-}" ] || PKG=linux-source-$SERIES
# where a series' source comes from when no package of this release has it
SUITE=
[ "$SERIES" != 7.3 ] || [ -n "$PREPARE" ] || SUITE=trixie-backports
case "$VARIANT" in
'')
	FRAGS+=("$TOP/guest/kernel-pair.config")
	[ "$SERIES" = 6.12 ] || FRAGS+=("$TOP/guest/kernel-$SERIES.config")
	;;
debug) FRAGS+=("$TOP/guest/kernel-debug.config") ;;
*) printf 'guest-kernel: error: unknown variant %s (known: debug)\n' "$VARIANT" >&2; exit 1 ;;
esac
# kmod/Kbuild includes ../include: the copy sits next to a link to it
KMOD_TAG=$VARIANT
[ "$SERIES" = 6.12 ] || KMOD_TAG=$SERIES${VARIANT:+-$VARIANT}
KMOD_OUT=${QEMU_EPC_BUILD:-$TOP/build}/kmod-$KMOD_TAG/kmod
JOBS=$(nproc)

log() { printf 'guest-kernel: %s\n' "$*" >&2; }
die() { printf 'guest-kernel: error: %s\n' "$*" >&2; exit 1; }

# the source: an installed linux-source package, else one fetched privately
if pkgver=$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null) &&
   [ -f "/usr/src/$PKG.tar.xz" ]; then
	tarball=/usr/src/$PKG.tar.xz
else
	if [ -n "$SUITE" ]; then
		# its source from $SUITE through a private apt configuration
		# (the system's sources are not touched)
		fetched=$("$TOP/scripts/fetch-package.sh" "$SUITE" "$PKG") ||
			die "fetching $PKG from $SUITE failed"
	else
		fetched=$(ls -d "$CACHE/pkg/${PKG}"_*/.done 2>/dev/null | sort -V | tail -1)
		[ -n "$fetched" ] ||
			die "$PKG is neither installed nor fetched (scripts/setup.sh does either)"
		fetched=$(dirname "$fetched")
	fi
	pkgver=$(cat "$fetched/version")
	tarball=$fetched/root/usr/src/$PKG.tar.xz
	[ -f "$tarball" ] || die "$tarball missing; remove $fetched and run setup again"
fi
# bump RECIPE when the steps below change what ends up in the directory
RECIPE=1
[ "$SERIES" = 6.12 ] || RECIPE="$RECIPE $SERIES"
# the project's fixes to the series' source (guest/patches/SERIES/*.patch,
# each with its explanation, ready to send): applied to the guest kernels,
# not to the trees prepared for compile checks
PATCHES=()
if [ -z "$PREPARE" ] && [ -d "$TOP/guest/patches/$SERIES" ]; then
	for p in "$TOP/guest/patches/$SERIES"/*.patch; do
		[ -f "$p" ] && PATCHES+=("$p")
	done
fi
# keyed by the fragments' options (their comments do not matter), the
# source package's version, the patches and this recipe
options() {
	grep -hE '^(CONFIG_|# CONFIG_.* is not set)' "${FRAGS[@]}"
	[ ${#PATCHES[@]} = 0 ] || cat "${PATCHES[@]}"
}
if [ -z "$VARIANT" ]; then
	key=$( (options; echo "$RECIPE $pkgver $PREPARE") | sha256sum | cut -c1-12)
	dir=$CACHE/kernel-${pkgver//[:~]/_}-$key
else
	key=$( (options; echo "$RECIPE $pkgver $VARIANT") | sha256sum | cut -c1-12)
	dir=$CACHE/kernel-$VARIANT-${pkgver//[:~]/_}-$key
fi
[ -z "$PREPARE" ] || dir=$CACHE/tree-${pkgver//[:~]/_}-$key

# a variant's pcie-qemu-ep: a copy of kmod/ built against its tree, on
# every call (make rebuilds only what changed), outside the kernel cache
build_variant_kmod() {
	[ -n "$KMOD_TAG" ] || return 0
	mkdir -p "$KMOD_OUT"
	ln -sfn "$TOP/include" "$KMOD_OUT/../include"
	local f
	# the sources only, not kbuild's output of the in-place build (*.mod.c);
	# a file is copied (new mtime, make rebuilds) only when it differs
	for f in "$TOP"/kmod/Kbuild "$TOP"/kmod/Makefile "$TOP"/kmod/*.[ch]; do
		case "$f" in *.mod.c) continue ;; esac
		cmp -s "$f" "$KMOD_OUT/${f##*/}" || cp "$f" "$KMOD_OUT"/
	done
	make -C "$KMOD_OUT" KDIR="$dir/linux" >"$KMOD_OUT/build.log" 2>&1 ||
		{ cat "$KMOD_OUT/build.log" >&2; die "building $KMOD_OUT/pcie-qemu-ep.ko failed"; }
}

# one build per directory at a time: a second caller (a test asking for a
# kernel while set-up builds it) waits here and then finds it done
mkdir -p "$CACHE"
exec 8>"$dir.lock"
if ! flock -n 8; then
	log "waiting up to 60 min for the build of $dir by another process"
	flock -w 3600 8 || die "waited 60 min for $dir.lock; its build still holds it"
fi
if [ -f "$dir/.done" ]; then
	build_variant_kmod
	echo "$dir"
	exit 0
fi

rm -rf "$dir"
mkdir -p "$dir"
log "unpacking $PKG $pkgver into $dir"
tar -xf "$tarball" -C "$dir"
mv "$dir/$PKG" "$dir/linux"
k=$dir/linux
for p in ${PATCHES[@]+"${PATCHES[@]}"}; do
	log "applying ${p#$TOP/}"
	patch -p1 -s -d "$k" <"$p" >"$dir/patch.log" 2>&1 ||
		{ cat "$dir/patch.log" >&2; die "${p#$TOP/} does not apply to $PKG $pkgver"; }
done

log "configuring (tinyconfig + ${FRAGS[*]#$TOP/})"
(cd "$k" && make -s ARCH=x86_64 tinyconfig >/dev/null &&
	scripts/kconfig/merge_config.sh -m .config "${FRAGS[@]}" >"$dir/merge.log" 2>&1 &&
	make -s ARCH=x86_64 olddefconfig >>"$dir/merge.log" 2>&1) ||
	die "kernel configuration failed, see $dir/merge.log"
# every requested option must have survived (a missing dependency drops
# it), in every fragment; "# CONFIG_X is not set" lines too
bad=0
while read -r line; do
	case "$line" in CONFIG_*|"# CONFIG_"*" is not set") ;; *) continue ;; esac
	grep -qx "$line" "$k/.config" || { log "option not set: $line"; bad=1; }
done < <(cat "${FRAGS[@]}")
if [ -n "$PREPARE" ]; then
	# a tree for compile checks only: options it lacks do not matter
	(cd "$k" && make -s ARCH=x86_64 -j"$JOBS" modules_prepare >"$dir/build.log" 2>&1) ||
		die "make modules_prepare failed, see $dir/build.log"
	(cd "$k" && make -s kernelrelease 2>/dev/null) >"$dir/release"
	touch "$dir/.done"
	log "tree $(cat "$dir/release") prepared in $dir"
	echo "$dir"
	exit 0
fi
[ $bad = 0 ] || die "the kernel config lost options (see above)"

log "building bzImage and modules (-j$JOBS), log in $dir/build.log"
(cd "$k" && make ARCH=x86_64 -j"$JOBS" bzImage modules >"$dir/build.log" 2>&1) ||
	{ tail -30 "$dir/build.log" >&2; die "kernel build failed, see $dir/build.log"; }
(cd "$k" && make -s ARCH=x86_64 INSTALL_MOD_PATH="$dir/modules" modules_install >>"$dir/build.log" 2>&1 &&
	make -s ARCH=x86_64 headers >>"$dir/build.log" 2>&1) ||
	die "modules_install/headers failed, see $dir/build.log"
cp "$k/arch/x86/boot/bzImage" "$dir/bzImage"
(cd "$k" && make -s kernelrelease 2>/dev/null) >"$dir/release"

if [ -f "$k/tools/pci/pcitest.c" ]; then
	log "building static pcitest from the same tree"
	gcc -O2 -static -I"$k/usr/include" -o "$dir/pcitest" "$k/tools/pci/pcitest.c" ||
		die "building pcitest failed"
	cp "$k/tools/pci/pcitest.sh" "$dir/pcitest.sh"
fi
kst=$k/tools/testing/selftests/pci_endpoint/pci_endpoint_test.c
if [ -f "$kst" ]; then
	log "building the static pci_endpoint kselftest from the same tree"
	gcc -O2 -static -Wall -Wl,-no-as-needed -isystem "$k/usr/include" \
		-I"$k/tools/testing/selftests" -o "$dir/pci_endpoint_test" "$kst" \
		-lrt -lpthread -lm >>"$dir/build.log" 2>&1 ||
		die "building the pci_endpoint kselftest failed, see $dir/build.log"
fi
touch "$dir/.done"
log "kernel $(cat "$dir/release") ready in $dir"
build_variant_kmod
echo "$dir"
