#!/usr/bin/env bash
# bench/ssh.sh - what `berth shell` adds to a push over SSH.
#
# One sshd on a loopback port, one server root with one pipeline, and two
# keys that log in (as root) to the same bare repo: one with berth's own
# forced command (`berth shell bench`, written by keys:add; bench is a
# developer), one with a plain `git-shell -c "$SSH_ORIGINAL_COMMAND"`,
# given the repo's absolute path. Both pushes run the repo's berth hooks;
# the branch is not the deploy branch and review apps are off, so the
# hooks do little and the difference is berth shell (a berth start, the
# ledger, the role check, the exec of git) and the hook's role check.
#
#  1. PUSHES (20) pushes of a new commit to a branch each way, in pairs:
#     the medians, the median of the pairs' differences (the overhead;
#     target under 10 ms; a pair shares the machine's load of the
#     moment) and the ratio.
#  2. the same for `git ls-remote` (a fetch's first exchange).
#  3. the forced commands alone, without ssh: 100 pairs of `berth shell`
#     and `git-shell -c` running git-upload-pack with no client (the
#     refs advertised, then EOF), which is what 1 and 2 add up to
#     without ssh's noise.
#
# ssh uses curve25519-sha256 (KEX=... for another; empty: ssh's default,
# sntrup761x25519, ~100 ms of CPU a connection here and as much noise).
#
# usage: bench/ssh.sh [BUILDDIR]   (as root, for sshd; default _build)
. "$(dirname "$0")/lib.sh" "$@"

pushes=${PUSHES:-20}
KEX=${KEX-curve25519-sha256}
sshd=${SSHD_BIN:-/usr/sbin/sshd}
if [ "$(id -u)" -ne 0 ] || [ ! -x "$sshd" ]; then
	echo "bench/ssh.sh: needs root and $sshd (openssh-server)" >&2
	exit 1
fi

keys=$tmp/authorized_keys
berth init >/dev/null
printf '\n[ssh]\nauthorized_keys = %s\n' "$keys" >> "$BERTH_ROOT/berth.ini"
berth pipelines:create bench >/dev/null
berth users:add bench >/dev/null
berth access:grant bench -p bench --role developer >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$tmp/berth-key" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$tmp/plain-key" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$tmp/host-key" </dev/null
berth keys:add bench "$tmp/berth-key.pub" >/dev/null
# Outside berth's marker lines: berth keeps it. The '$' is sshd's shell's.
# shellcheck disable=SC2016
printf 'command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",restrict %s\n' \
    "$(cat "$tmp/plain-key.pub")" >> "$keys"

port=$(free_port)
cat > "$tmp/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $tmp/host-key
PidFile $tmp/sshd.pid
AuthorizedKeysFile $keys
PermitRootLogin forced-commands-only
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PrintMotd no
PrintLastLog no
EOF
if "$sshd" -t -f "$tmp/sshd_config" -o PerSourcePenalties=no 2>/dev/null; then
	echo "PerSourcePenalties no" >> "$tmp/sshd_config"
fi
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
"$sshd" -D -e -f "$tmp/sshd_config" >"$tmp/sshd.log" 2>&1 </dev/null &
sshd_pid=$!
bench_extra_cleanup() {
	kill "$sshd_pid" 2>/dev/null || true
	wait "$sshd_pid" 2>/dev/null || true
}
for _ in $(seq 1 500); do
	[ "$(cat "$tmp/sshd.pid" 2>/dev/null)" = "$sshd_pid" ] && break
	sleep 0.01
done
[ "$(cat "$tmp/sshd.pid" 2>/dev/null)" = "$sshd_pid" ] ||
    { echo "sshd did not start:" >&2; cat "$tmp/sshd.log" >&2; exit 1; }

ssh_cmd() {
	echo "ssh -i $1 -F /dev/null -o IdentitiesOnly=yes" \
	    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" \
	    "-o BatchMode=yes -o LogLevel=ERROR ${KEX:+-o KexAlgorithms=$KEX}"
}
berth_url=ssh://root@127.0.0.1:$port/bench.git
plain_url=ssh://root@127.0.0.1:$port$BERTH_ROOT/repos/bench.git

app=$tmp/app
mkdir -p "$app"
printf 'web: python3 -m http.server $PORT\n' > "$app/Procfile"
git -C "$app" init -q
git -C "$app" add -A
git -C "$app" commit -qm "Initial"

# timed_push KEY URL: one new commit pushed to branch work; prints ms.
timed_push() {
	local t0
	echo "$RANDOM" >> "$app/Procfile.txt"
	git -C "$app" add -A
	git -C "$app" commit -qm change
	t0=$(ms)
	GIT_SSH_COMMAND=$(ssh_cmd "$1") git -C "$app" push -q "$2" HEAD:work \
	    2>"$tmp/push.err" || { cat "$tmp/push.err" >&2; exit 1; }
	echo $(( $(ms) - t0 ))
}

timed_ls_remote() {
	local t0
	t0=$(ms)
	GIT_SSH_COMMAND=$(ssh_cmd "$1") git ls-remote "$2" >/dev/null ||
	    exit 1
	echo $(( $(ms) - t0 ))
}

# Each key gets the forced command it should: berth runs berth commands,
# git-shell does not.
$(ssh_cmd "$tmp/berth-key") -p "$port" root@127.0.0.1 apps </dev/null |
    grep -q bench-staging
if $(ssh_cmd "$tmp/plain-key") -p "$port" root@127.0.0.1 apps </dev/null \
    2>/dev/null; then
	echo "bench/ssh.sh: the git-shell key ran a berth command" >&2
	exit 1
fi

# A first push each way (ssh's and git's caches warm), not counted.
timed_push "$tmp/berth-key" "$berth_url" >/dev/null
timed_push "$tmp/plain-key" "$plain_url" >/dev/null
: > "$tmp/berth.push"; : > "$tmp/plain.push"
: > "$tmp/berth.ls"; : > "$tmp/plain.ls"
for _ in $(seq 1 "$pushes"); do
	timed_push "$tmp/berth-key" "$berth_url" >> "$tmp/berth.push"
	timed_push "$tmp/plain-key" "$plain_url" >> "$tmp/plain.push"
	timed_ls_remote "$tmp/berth-key" "$berth_url" >> "$tmp/berth.ls"
	timed_ls_remote "$tmp/plain-key" "$plain_url" >> "$tmp/plain.ls"
done
# Both reached the same repo.
[ "$(git --git-dir "$BERTH_ROOT/repos/bench.git" rev-parse work)" = \
    "$(git -C "$app" rev-parse HEAD)" ]

# report WHAT KIND N: medians of $tmp/{berth,plain}.KIND, the median
# of their pairs' differences, the ratio.
report() {
	local b p d
	b=$(median < "$tmp/berth.$2")
	p=$(median < "$tmp/plain.$2")
	d=$(paste "$tmp/berth.$2" "$tmp/plain.$2" | awk '{print $1 - $2}' |
	    median)
	echo "$1, median of $3 pairs:"
	echo "  berth shell  ${b} ms"
	echo "  git-shell    ${p} ms   (baseline: command=\"git-shell -c ...\")"
	awk -v b="$b" -v p="$p" -v d="$d" 'BEGIN {
		printf "  overhead     %+.1f ms (median pair; target < 10 ms), " \
		    "ratio %.2fx\n", d, b / p }'
}
report "push over ssh of one commit to a branch that deploys nothing" \
    push "$pushes"
report "git ls-remote over ssh" ls "$pushes"

# The forced commands alone, in microseconds.
us() { echo $(( $(date +%s%N) / 1000 )); }
: > "$tmp/berth.direct"; : > "$tmp/plain.direct"
for _ in $(seq 1 100); do
	t0=$(us)
	SSH_ORIGINAL_COMMAND="git-upload-pack 'bench.git'" \
	    berth --root "$BERTH_ROOT" shell bench </dev/null >/dev/null 2>&1 ||
	    true
	t1=$(us)
	git-shell -c "git-upload-pack '$BERTH_ROOT/repos/bench.git'" \
	    </dev/null >/dev/null 2>&1 || true
	t2=$(us)
	echo "$(( t1 - t0 ))" | awk '{print $1 / 1000}' >> "$tmp/berth.direct"
	echo "$(( t2 - t1 ))" | awk '{print $1 / 1000}' >> "$tmp/plain.direct"
done
report "the forced command alone (git-upload-pack, no client, no ssh)" \
    direct 100
