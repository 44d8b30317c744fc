#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the guest kernel (and pcitest) from Debian's linux-source-6.12,
# cached under $QEMU_EPC_CACHE keyed by the package version and the config.
#   guest-kernel.sh                       the guest kernel
#   guest-kernel.sh --prepare-only PKG    only a configured tree ready for
#                                         out-of-tree modules (e.g.
#                                         linux-source-6.1, for the driver's
#                                         compile check)
#   guest-kernel.sh --variant debug       the guest kernel with
#                                         tests/guest/kernel-debug.config on
#                                         top (KASAN, kmemleak), cached in a
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
#   DIR/pcitest      static pcitest, DIR/pcitest.sh the host-side suite
#   DIR/release      the kernel release string
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${QEMU_EPC_CACHE:-$HOME/.cache/qemu-epc}
PKG=linux-source-6.12
PREPARE=
VARIANT=
if [ "${1:-}" = --prepare-only ]; then
	PREPARE=1
	PKG=${2:?--prepare-only needs a package name}
elif [ "${1:-}" = --variant ]; then
	VARIANT=${2:?--variant needs a name (debug)}
fi
FRAG=$TOP/tests/guest/kernel.config
FRAGS=("$FRAG")
case "$VARIANT" in
'') ;;
debug) FRAGS+=("$TOP/tests/guest/kernel-debug.config") ;;
*) printf 'guest-kernel: error: unknown variant %s (known: debug)\n' "$VARIANT" >&2; exit 1 ;;
esac
# kmod/Kbuild includes ../qemu-modules: the copy sits next to a link to it
KMOD_OUT=${QEMU_EPC_BUILD:-$TOP/build}/kmod-$VARIANT/kmod
JOBS=$(nproc)

log() { printf 'guest-kernel: %s\n' "$*" >&2; }
die() { printf 'guest-kernel: error: %s\n' "$*" >&2; exit 1; }

pkgver=$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null) ||
	die "$PKG is not installed (scripts/setup.sh installs it)"
tarball=/usr/src/$PKG.tar.xz
[ -f "$tarball" ] || die "$tarball missing; reinstall $PKG"
# bump RECIPE when the steps below change what ends up in the directory
RECIPE=1
if [ -z "$VARIANT" ]; then
	key=$( (cat "$FRAG"; echo "$RECIPE $pkgver $PREPARE") | sha256sum | cut -c1-12)
	dir=$CACHE/kernel-${pkgver//[:~]/_}-$key
else
	# keyed by both fragments
	key=$( (cat "${FRAGS[@]}"; echo "$RECIPE $pkgver $VARIANT") | sha256sum | cut -c1-12)
	dir=$CACHE/kernel-$VARIANT-${pkgver//[:~]/_}-$key
fi
[ -z "$PREPARE" ] || dir=$CACHE/tree-${pkgver//[:~]/_}-$key

# a variant's pcie-qemu-ep: a copy of kmod/ built against its tree, on
# every call (make rebuilds only what changed), outside the kernel cache
build_variant_kmod() {
	[ -n "$VARIANT" ] || return 0
	mkdir -p "$KMOD_OUT"
	ln -sfn "$TOP/qemu-modules" "$KMOD_OUT/../qemu-modules"
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

log "building static pcitest from the same tree"
gcc -O2 -static -I"$k/usr/include" -o "$dir/pcitest" "$k/tools/pci/pcitest.c" ||
	die "building pcitest failed"
cp "$k/tools/pci/pcitest.sh" "$dir/pcitest.sh"
touch "$dir/.done"
log "kernel $(cat "$dir/release") ready in $dir"
build_variant_kmod
echo "$dir"
