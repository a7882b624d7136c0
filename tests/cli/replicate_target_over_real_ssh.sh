#!/usr/bin/env bash
# The ssh target with a real sshd: one started by this test on 127.0.0.1
# only, with throwaway host and user keys (root only; needs openssh-server).
# verify over ssh compares only hashes and names a changed range; the
# target side receives a stream over ssh all or nothing.
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
	echo "SKIP: needs root, sshd and ssh (scripts/deps.sh installs openssh-server)"
	finish
	exit 0
fi
K="$TF_TMP/ssh"
mkdir -p "$K" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$K/host"
ssh-keygen -q -t ed25519 -N '' -f "$K/user"
cp "$K/user.pub" "$K/authorized_keys"
chmod 600 "$K/authorized_keys"
port=
for p in $(shuf -i 20000-60000 -n 20); do
	# -D: stays in the foreground, so this test owns the process and ends it.
	/usr/sbin/sshd -D -f /dev/null -h "$K/host" -o ListenAddress=127.0.0.1 -o Port="$p" \
		-o AuthorizedKeysFile="$K/authorized_keys" -o StrictModes=no -o UsePAM=no \
		-o PermitRootLogin=prohibit-password -o PidFile=none 2>"$K/sshd.err" &
	spid=$!
	for _ in $(seq 50); do
		kill -0 $spid 2>/dev/null || break
		ssh -p "$p" -i "$K/user" -o BatchMode=yes -o StrictHostKeyChecking=no \
			-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 true 2>/dev/null && { port=$p; break; }
		sleep 0.1
	done
	[ -n "$port" ] && break
	kill $spid 2>/dev/null
	wait $spid 2>/dev/null
done
trap 'kill $spid 2>/dev/null; tf_cleanup' EXIT
check "a throwaway sshd listens on 127.0.0.1" [ -n "$port" ]
export THINFS_SSH="ssh -p $port -i $K/user -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
export THINFS_REMOTE="$THINFS"

P="$TF_TMP/pool"
D="$TF_TMP/dst dir" # a space, for the remote shell's quoting
unpack_demo "$P"
mkdir -p "$D"
"$THINFS" send "$P" web_monday >"$TF_TMP/full.s"
"$THINFS" send "$P" web_tuesday --from web_monday >"$TF_TMP/inc.s"
ssh_recv() { $THINFS_SSH -- root@127.0.0.1 "'$THINFS' replicate --target-side receive '$D' $*"; }
check "a full stream is received over ssh" ssh_recv web_monday <"$TF_TMP/full.s"
head -c 70000 "$TF_TMP/inc.s" >"$TF_TMP/cut.s"
fails() { ! "$@" 2>/dev/null; }
check "a stream cut off over ssh fails" fails ssh_recv web_tuesday web_monday <"$TF_TMP/cut.s"
check "and leaves nothing behind" bash -c "[ ! -e '$D/web_tuesday' ] && ! ls -a '$D' | grep -q incoming"
check "the incremental is received over ssh" ssh_recv web_tuesday web_monday <"$TF_TMP/inc.s"
check "verify over ssh: equal" "$THINFS" verify "$P/web_tuesday" "ssh:root@127.0.0.1:$D"
check "verify over ssh: the base too" "$THINFS" verify "$P/web_monday" "ssh:127.0.0.1:$D"
chmod u+w "$D/web_tuesday"
printf 'Z' | dd of="$D/web_tuesday" bs=1 seek=$((13 * 1048576)) conv=notrunc status=none
rc=0
"$THINFS" verify "$P/web_tuesday" "ssh:root@127.0.0.1:$D" >"$TF_TMP/v" 2>&1 || rc=$?
check "a changed byte over ssh: exit 1 naming the range" bash -c "[ $rc = 1 ] && grep -q 'bytes 12582912-16777215' '$TF_TMP/v'"
rc=0
THINFS_SSH="ssh -p 1 -o ConnectTimeout=5 -o BatchMode=yes" "$THINFS" verify "$P/web_tuesday" "ssh:127.0.0.1:$D" >"$TF_TMP/v" 2>&1 || rc=$?
check "an unreachable ssh target is an error naming it" bash -c "[ $rc = 1 ] && grep -q 'ssh:127.0.0.1' '$TF_TMP/v'"
finish
