#!/usr/bin/env bash
# Installs everything thinfs needs to build and to run its whole test suite
# on Debian 12.  Idempotent: installs only what is missing.
set -euo pipefail

PKGS=(
	# build
	build-essential meson ninja-build pkg-config clang clang-format
	libfuse3-dev libdevmapper-dev libext2fs-dev libsqlite3-dev libcmocka-dev
	# run
	fuse3
	# tests: oracles, fixtures and the tools users copy with
	thin-provisioning-tools zstd e2fsprogs rsync tar coreutils util-linux
	fdisk gdisk sqlite3 qemu-utils attr jq fuse2fs
	# replicate over ssh: a throwaway sshd on 127.0.0.1 in the tests
	openssh-client openssh-server
	# the install test: man -l on the pages, systemd-analyze verify on the units
	man-db systemd
	# sanitizer and fuzzer runtimes
	libclang-rt-14-dev
	# VM tests: a real kernel with dm-thin under qemu
	qemu-system-x86 busybox-static kmod cpio lvm2 dmsetup xz-utils
	# VM tests: a reflink-capable directory target for replication
	xfsprogs
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "thinfs: installing ${missing[*]}" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
