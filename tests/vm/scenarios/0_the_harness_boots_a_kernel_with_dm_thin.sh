#!/usr/bin/env bash
# The harness itself: a real kernel with dm-thin, LVM without udev, and
# thin-provisioning-tools reading a held metadata snapshot.
. "$(dirname "$0")/lib.sh"

check "dm-thin is loaded" grep -q thin-pool <(dmsetup targets)
check "a VG with a thin pool is created" make_pool vmt 64k
check "a thin LV is created" lvcreate -qy -V 64M -T vmt/pool -n vol
check "data is written to it" dd if=/dev/urandom of=/dev/vmt/vol bs=64k count=10 seek=3 oflag=direct status=none
check "a snapshot is created" lvcreate -qy -s -n snap vmt/vol
check "reserve_metadata_snap works" dmsetup message vmt-pool-tpool 0 reserve_metadata_snap
check "the pool status shows the held root" bash -c "dmsetup status vmt-pool-tpool | awk '{ exit !(\$7 ~ /^[0-9]+$/) }'"
check "thin_dump -m reads the held snapshot" bash -c "thin_dump -m /dev/mapper/vmt-pool_tmeta | grep -q 'dev_id=\"2\"'"
check "release_metadata_snap works" dmsetup message vmt-pool-tpool 0 release_metadata_snap
check "FUSE is available" test -c /dev/fuse
check "the thinfs binary runs" "$THINFS" --version
finish
