#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the Debian packages of this tree (debian/: qemu-epc-modules,
# pcie-qemu-ep-dkms) with dpkg-buildpackage -us -uc -b, in a copy of the
# tree under BUILD/pkg-src (so that the tree itself stays clean), against
# the installed QEMU (the configured tree scripts/setup.sh made,
# BUILD/qemu-tree).  The .deb files, the .changes and lintian's report
# (lintian.txt) end up in BUILD/debs.  Fails if lintian reports an error,
# or fails itself.
#   package.sh --lintian-only   lintian again on what BUILD/debs holds
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${QEMU_EPC_BUILD:-$TOP/build}

log() { printf 'package: %s\n' "$*" >&2; }
die() { printf 'package: error: %s\n' "$*" >&2; exit 1; }

# lintian on the .changes: every package and the .buildinfo.  Its exit
# status is 0 (no error), 1 (errors: they are listed below) or, when
# lintian itself failed, anything else: that is no clean report
lintian_check() {
	local changes rc=0 errors warnings infos f
	changes=$(ls "$debs"/*.changes 2>/dev/null) || die "no .changes in $debs"
	lintian --display-info --tag-display-limit 0 "$changes" >"$debs/lintian.txt" 2>&1 || rc=$?
	errors=$(grep -c '^E: ' "$debs/lintian.txt" || true)
	if [ $rc != 0 ] && { [ $rc != 1 ] || [ "$errors" = 0 ]; }; then
		tail -20 "$debs/lintian.txt" >&2
		die "lintian itself failed (exit $rc), see $debs/lintian.txt"
	fi
	warnings=$(grep -c '^W: ' "$debs/lintian.txt" || true)
	infos=$(grep -c '^I: ' "$debs/lintian.txt" || true)
	for f in "$debs"/*.deb; do
		printf '%s %d bytes\n' "$f" "$(stat -c %s "$f")"
	done
	printf 'lintian: %d errors, %d warnings, %d info (%s)\n' "$errors" "$warnings" "$infos" \
		"$debs/lintian.txt"
	[ "$errors" = 0 ] || { grep '^E: ' "$debs/lintian.txt" >&2; die "lintian reports errors"; }
}

debs=$BUILD/debs
if [ "${1:-}" = --lintian-only ]; then
	command -v lintian >/dev/null || die "lintian is missing (./qemu-epc-bench setup installs it)"
	lintian_check
	exit 0
fi
[ $# = 0 ] || die "usage: package.sh [--lintian-only]"

[ -f "$BUILD/qemu-tree" ] || die "no $BUILD/qemu-tree: run ./qemu-epc-bench setup first"
tree=$(cat "$BUILD/qemu-tree")
for tool in dpkg-buildpackage dh dh_dkms lintian; do
	command -v "$tool" >/dev/null || die "$tool is missing (./qemu-epc-bench setup installs it)"
done
version=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
work=$BUILD/pkg-src
src=$work/qemu-epc-$version
rm -rf "$work"
mkdir -p "$src"

# the tree's files (tracked, and new ones not ignored), not build output
if git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$TOP" && git ls-files -co --exclude-standard) | while IFS= read -r f; do
		[ -e "$TOP/$f" ] || continue
		mkdir -p "$src/$(dirname "$f")"
		cp -a "$TOP/$f" "$src/$f"
	done
else
	tar -C "$TOP" --exclude=./build --exclude='./build-*' --exclude='./obj-*' \
		--exclude='*.o' --exclude='*.ko' -cf - . | tar -C "$src" -xf -
fi

log "dpkg-buildpackage -us -uc -b in $src (log: $work/build.log)"
t0=$(date +%s)
(cd "$src" && QEMU_EPC_QEMU_TREE=$tree nice -n 10 dpkg-buildpackage -us -uc -b \
	>"$work/build.log" 2>&1) ||
	{ tail -30 "$work/build.log" >&2; die "dpkg-buildpackage failed, see $work/build.log"; }
log "built in $(( $(date +%s) - t0 )) s"

rm -rf "$debs"
mkdir -p "$debs"
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.changes "$work"/*.buildinfo; do
	[ -e "$f" ] && mv "$f" "$debs/"
done
ls "$debs"/*.deb >/dev/null 2>&1 || die "dpkg-buildpackage made no .deb"

lintian_check
