# sshd.bash - a real OpenSSH server for a test: Debian's /usr/sbin/sshd,
# run as root on a free loopback port with its own host key and config in
# the test's temp dir, so tests reach berth the way users will, through
# ssh and authorized_keys forced commands. Load after helpers:
# `load helpers; load sshd` (it loads daemon.bash, for descendants, when
# it is not there yet). Call stop_sshd from teardown: nothing else stops
# an sshd a failed test left.
#
#   start_sshd AUTHORIZED_KEYS [VAR...]  sshd with that AuthorizedKeysFile;
#                                 exports SSHD_PORT, SSHD_PID, SSHD_DIR
#   stop_sshd                     (teardown) ends it and its sessions
#   make_user_key NAME            a new ed25519 key; prints its path
#   ssh_as KEY ARGS...            ssh root@127.0.0.1 ARGS with that key
#   git_ssh_env KEY               git push ssh://root@127.0.0.1:$SSHD_PORT/
#                                 P.git then uses that key
#
# Root may only log in with a key whose line has command="..."
# (PermitRootLogin forced-commands-only). A key listed without one gets
# through the protocol (ssh says "Authenticated") before sshd's monitor
# refuses root and drops the connection: ssh exits 255 with "Broken
# pipe", not "Permission denied", and sshd.log says ROOT LOGIN REFUSED.
# The command runs through root's login shell in root's home directory
# (/root), whatever HOME the test passes.

declare -F descendants >/dev/null ||
    load "$(dirname "${BASH_SOURCE[0]}")/daemon"

SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}

# The variables a session's command gets from the test, each when set
# (sshd gives it only USER, LOGNAME, HOME, SHELL, MAIL, SSH_* and a
# default PATH, and SetEnv overrides those): where the build and its
# helpers are, PATH (with the built binaries) and the test's HOME. Never
# BERTH_ROOT or BERTH_USER: a forced command must carry those itself, as
# berth's own will.
SSHD_PASS_ENV="PATH HOME GIT_CONFIG_NOSYSTEM BERTH_BUILDDIR BERTH_SRCDIR
	BERTH_DATADIR BERTH_ENTER BERTH_MONITOR BERTH_RECEIVE"

# sshd_port: a random port of the kernel's ephemeral range, as
# free_port's bind to port 0 gives, without its python (150 ms here):
# sshd's own bind is the test of whether it is free.
sshd_port() {
	local lo hi
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
	echo $(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
}

# sshd_alive PID: PID runs (a zombie does not count).
sshd_alive() {
	kill -0 "$1" 2>/dev/null &&
	    ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

# sshd_setenv VAR...: the SetEnv line for those that are set.
sshd_setenv() {
	local name value line=""
	for name in "$@"; do
		[ -n "${!name:-}" ] || continue
		value=${!name}
		# sshd_config quoting: keep to values it reads back as is.
		if [[ "$value" == *[\"\\$'\n']* ]]; then
			echo "start_sshd: \$$name holds a quote, backslash or" \
			    "newline, which SetEnv cannot carry" >&2
			return 1
		fi
		line="$line \"$name=$value\""
	done
	[ -z "$line" ] || echo "SetEnv$line"
}

# sshd_write_config FILE PORT AUTHORIZED_KEYS [VAR...]
sshd_write_config() {
	local cfg=$1 port=$2 keys=$3 setenv
	shift 3
	# shellcheck disable=SC2086
	setenv=$(sshd_setenv $SSHD_PASS_ENV "$@") || return 1
	cat > "$cfg" <<-EOF
	# Written by tests/integration/sshd.bash for one test.
	ListenAddress 127.0.0.1
	Port $port
	HostKey $SSHD_DIR/host_ed25519
	PidFile $SSHD_DIR/sshd.pid
	AuthorizedKeysFile $keys
	PermitRootLogin forced-commands-only
	StrictModes no
	UsePAM no
	PubkeyAuthentication yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	PermitUserEnvironment no
	X11Forwarding no
	PrintMotd no
	PrintLastLog no
	LoginGraceTime 30
	$setenv
	EOF
	# OpenSSH 9.8 and later shut out an address that fails to log in
	# repeatedly; tests fail on purpose. Older ones know no such option.
	if "$SSHD_BIN" -t -f "$cfg" -o PerSourcePenalties=no 2>/dev/null; then
		echo "PerSourcePenalties no" >> "$cfg"
	fi
}

# start_sshd AUTHORIZED_KEYS [VAR...]: sshd -D on a free loopback port,
# logging to $SSHD_DIR/sshd.log, with AUTHORIZED_KEYS (absolute) as the
# only authorized_keys file; each VAR named (and those of
# SSHD_PASS_ENV) is set for sessions as it is here. Returns once sshd
# listens (it writes its PidFile after listen()) and has answered with
# its banner; a port in use means another try, with another port.
start_sshd() {
	local keys=$1 pid deadline banner logged rc
	shift
	if [ "${keys#/}" = "$keys" ]; then
		echo "start_sshd: give the authorized_keys file as an absolute" \
		    "path, not '$keys'" >&2
		return 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "start_sshd: sshd must run as root (the tests log in as" \
		    "root)" >&2
		return 1
	fi
	if [ ! -x "$SSHD_BIN" ]; then
		echo "start_sshd: no $SSHD_BIN; install openssh-server" \
		    "(contrib/install-deps --tests)" >&2
		return 1
	fi
	SSHD_DIR=$BATS_TEST_TMPDIR/sshd
	mkdir -p "$SSHD_DIR"
	[ -e "$SSHD_DIR/host_ed25519" ] ||
	    ssh-keygen -q -t ed25519 -N '' -C sshd@bats \
	    -f "$SSHD_DIR/host_ed25519" </dev/null || return 1
	# Privilege separation: the package makes it at boot (systemd's
	# RuntimeDirectory); without that, sshd refuses to start.
	[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
	: >> "$SSHD_DIR/sshd.log"
	for _ in 1 2 3 4 5; do
		SSHD_PORT=$(sshd_port)
		sshd_write_config "$SSHD_DIR/sshd_config" "$SSHD_PORT" \
		    "$keys" "$@" || return 1
		rm -f "$SSHD_DIR/sshd.pid"
		logged=$(wc -l < "$SSHD_DIR/sshd.log")
		"$SSHD_BIN" -D -e -f "$SSHD_DIR/sshd_config" \
		    >>"$SSHD_DIR/sshd.log" 2>&1 </dev/null 3>&- &
		pid=$!
		deadline=$(( $(date +%s) + 10 ))
		until [ "$(cat "$SSHD_DIR/sshd.pid" 2>/dev/null)" = "$pid" ]; do
			sshd_alive "$pid" || break
			if [ "$(date +%s)" -ge "$deadline" ]; then
				echo "start_sshd: no PidFile after 10s" >&2
				kill -KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.01
		done
		if sshd_alive "$pid" &&
		    [ "$(cat "$SSHD_DIR/sshd.pid" 2>/dev/null)" = "$pid" ]; then
			break
		fi
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		pid=
		# Only a port in use is worth another try, on another port.
		tail -n +$((logged + 1)) "$SSHD_DIR/sshd.log" |
		    grep -q 'Address already in use' || break
	done
	if [ -z "$pid" ]; then
		echo "start_sshd: sshd did not start (exit status $rc);" \
		    "sshd.log:" >&2
		cat "$SSHD_DIR/sshd.log" >&2
		return 1
	fi
	SSHD_PID=$pid
	export SSHD_PORT SSHD_PID SSHD_DIR
	# It listens: it must also answer as an SSH server.
	banner=$(sshd_banner "$SSHD_PORT") || banner=""
	if [[ "$banner" != SSH-2.0-* ]]; then
		echo "start_sshd: sshd on port $SSHD_PORT answered" \
		    "'$banner', not an SSH banner; sshd.log:" >&2
		cat "$SSHD_DIR/sshd.log" >&2
		stop_sshd
		return 1
	fi
}

# sshd_banner PORT: the first line a server on loopback PORT sends.
sshd_banner() {
	local line
	# shellcheck disable=SC2016
	line=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
	    IFS= read -r line <&3 && printf "%s" "$line"' _ "$1" 2>/dev/null) ||
	    return 1
	printf '%s' "${line%$'\r'}"
}

# stop_sshd: SIGTERM the sshd start_sshd started (SIGKILL after 10 s),
# reap it, and end its sessions, which outlive it otherwise; fails when
# any of them would not go. Safe to call twice, or with none started.
stop_sshd() {
	local pid=${SSHD_PID:-} family p alive="" deadline
	[ -n "$pid" ] || return 0
	family=$(descendants "$pid" | tr '\n' ' ')
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(( $(date +%s) + 10 ))
	while sshd_alive "$pid"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.01
	done
	wait "$pid" 2>/dev/null || true
	SSHD_PID=
	for p in $family; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $family; do
		wait_for "sshd session $p to end" 5 eval "! sshd_alive $p" ||
		    alive="$alive $p"
	done
	if [ -n "$alive" ]; then
		echo "stop_sshd: sshd's sessions still running:$alive" >&2
		for p in $alive; do
			kill -KILL "$p" 2>/dev/null || true
		done
		return 1
	fi
}

# make_user_key NAME: a new passphrase-less ed25519 key NAME in the test's
# temp dir (NAME.pub next to it); prints the private key's path.
make_user_key() {
	local dir=$BATS_TEST_TMPDIR/ssh-keys
	mkdir -p "$dir"
	ssh-keygen -q -t ed25519 -N '' -C "$1@bats" -f "$dir/$1" </dev/null ||
	    return 1
	echo "$dir/$1"
}

# The ssh options of ssh_as and git_ssh_env: only this key, no config
# files, no prompts, no host key bookkeeping.
sshd_ssh_opts() {
	printf '%s\n' -F /dev/null -o IdentitiesOnly=yes \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o BatchMode=yes -o LogLevel=ERROR
}

# ssh_as KEY ARGS...: run ARGS (joined by spaces into one command, as ssh
# does) as root over ssh to the test's sshd, authenticating with KEY.
ssh_as() {
	local key=$1 opts
	shift
	mapfile -t opts < <(sshd_ssh_opts)
	ssh -p "$SSHD_PORT" -i "$key" "${opts[@]}" root@127.0.0.1 "$@"
}

# git_ssh_env KEY: export GIT_SSH_COMMAND so that git reaches the test's
# sshd with KEY: `git push ssh://root@127.0.0.1:$SSHD_PORT/P.git main`.
git_ssh_env() {
	local opts cmd o
	mapfile -t opts < <(sshd_ssh_opts)
	cmd="ssh -i $(printf '%q' "$1")"
	for o in "${opts[@]}"; do
		cmd="$cmd $(printf '%q' "$o")"
	done
	export GIT_SSH_COMMAND=$cmd
}
