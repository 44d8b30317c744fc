#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fetch a package of a Debian suite this system does not use (e.g.
# linux-source-7.3 from trixie-backports) without touching the system's apt
# configuration: a private sources list, lists and cache under $QEMU_EPC_CACHE.
#   fetch-package.sh SUITE PACKAGE        download and unpack the binary
#                                         package; prints its directory:
#                                         DIR/version, DIR/root (dpkg-deb -x)
# Cached by the package version; when the archive cannot be reached, the
# newest version fetched before is used (and said so on stderr).
set -euo pipefail

CACHE=${QEMU_EPC_CACHE:-$HOME/.cache/qemu-epc}
SUITE=${1:?usage: fetch-package.sh SUITE PACKAGE}
PKG=${2:?usage: fetch-package.sh SUITE PACKAGE}

log() { printf 'fetch-package: %s\n' "$*" >&2; }
die() { printf 'fetch-package: error: %s\n' "$*" >&2; exit 1; }

APT=$CACHE/apt-$SUITE
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$CACHE/pkg"
# one fetch per suite at a time (the lists and the download directory)
exec 7>"$APT.lock"
flock -w 1800 7 || die "waited 30 min for $APT.lock; another fetch still holds it"
mirror=$(sed -n 's/^URIs: *\(.*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
cat >"$APT/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $SUITE main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $SUITE main
EOF
OPTS=(-o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache"
      -o APT::Architectures=amd64 -o Debug::NoLocking=1)

newest_cached() {
	ls -d "$CACHE/pkg/$PKG"_*/.done 2>/dev/null | sort -V | tail -1 | xargs -r dirname
}

# refresh the lists at most once a day
stamp=$APT/lists/.updated
if [ -z "$(find "$stamp" -mtime -1 2>/dev/null)" ]; then
	if apt-get "${OPTS[@]}" -qq update >"$APT/update.log" 2>&1; then
		touch "$stamp"
	else
		log "apt-get update for $SUITE failed (see $APT/update.log)"
	fi
fi
ver=$(apt-cache "${OPTS[@]}" policy "$PKG" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	dir=$(newest_cached)
	[ -n "$dir" ] || die "$PKG is not in $SUITE (or $SUITE cannot be reached) and nothing is cached"
	log "$PKG: $SUITE not reachable, using the cached $(cat "$dir/version")"
	echo "$dir"
	exit 0
fi
dir=$CACHE/pkg/${PKG}_${ver//[:~]/_}
if [ -f "$dir/.done" ]; then
	echo "$dir"
	exit 0
fi
rm -rf "$dir"
mkdir -p "$dir/dl"
log "downloading $PKG $ver from $SUITE"
(cd "$dir/dl" && apt-get "${OPTS[@]}" -qq download "$PKG=$ver" >"$dir/download.log" 2>&1) ||
	die "apt-get download $PKG=$ver failed, see $dir/download.log"
deb=$(ls "$dir"/dl/*.deb)
dpkg-deb -x "$deb" "$dir/root" || die "dpkg-deb -x $deb failed"
rm -rf "$dir/dl"
echo "$ver" >"$dir/version"
touch "$dir/.done"
echo "$dir"
