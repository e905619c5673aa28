#!/usr/bin/env bats
# The sshd harness (sshd.bash) itself: real ssh reaches a forced command
# with the original command and the test's environment, keys that may
# not log in do not, git pushes over it, and nothing of it outlives
# stop_sshd.

load helpers
load sshd

setup() {
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	export GIT_CONFIG_NOSYSTEM=1
	git config --global user.name "Test User"
	git config --global user.email "test@example.com"
	git config --global init.defaultBranch main
	KEYS=$BATS_TEST_TMPDIR/authorized_keys
	: > "$KEYS"
}

teardown() {
	stop_sshd
}

# gone PID: nothing runs as PID (a zombie not reaped yet does not run).
gone() {
	! sshd_alive "$1"
}

# authorize KEY [OPTIONS]: a line for KEY.pub in $KEYS, behind OPTIONS.
authorize() {
	printf '%s%s\n' "${2:+$2 }" "$(cat "$1.pub")" >> "$KEYS"
}

@test "a forced command gets the original command and the test's environment" {
	echo_key=$(make_user_key echo)
	env_key=$(make_user_key env)
	# The '$' are for the session's shell.
	# shellcheck disable=SC2016
	authorize "$echo_key" \
	    'command="printf '\''%s'\'' \"$SSH_ORIGINAL_COMMAND\"",restrict'
	# shellcheck disable=SC2016
	authorize "$env_key" 'command="printf '\''%s\n'\'' \"$BERTH_BUILDDIR\" \"$BERTH_SRCDIR\" \"$PATH\" \"$HOME\" \"${BERTH_ROOT-unset}\"",restrict'
	# Not for sessions: a forced command must name its root itself.
	export BERTH_ROOT=$BATS_TEST_TMPDIR/root
	start_sshd "$KEYS"
	[ -n "$SSHD_PORT" ] && [ -n "$SSHD_PID" ]
	run ssh_as "$echo_key" keys:add alice "'two words'"
	[ "$status" -eq 0 ]
	[ "$output" = "keys:add alice 'two words'" ]
	# The command the user asks for is only ever data.
	run ssh_as "$echo_key" 'id; rm -rf /nonexistent'
	[ "$status" -eq 0 ]
	[ "$output" = "id; rm -rf /nonexistent" ]
	run ssh_as "$env_key" env
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$BERTH_BUILDDIR" ]
	[ "${lines[1]}" = "$BERTH_SRCDIR" ]
	[ "${lines[2]}" = "$PATH" ]
	[ "${lines[3]}" = "$HOME" ]
	[ "${lines[4]}" = unset ]
	grep -q "Root login accepted for forced command" "$SSHD_DIR/sshd.log"
}

@test "a key not in authorized_keys, or listed without a command, is refused" {
	listed=$(make_user_key listed)
	bare=$(make_user_key bare)
	stranger=$(make_user_key stranger)
	authorize "$listed" 'command="echo hello",restrict'
	authorize "$bare"
	start_sshd "$KEYS"
	run ssh_as "$stranger" echo hello
	[ "$status" -eq 255 ]
	[[ "$output" == *"Permission denied (publickey)"* ]]
	# PermitRootLogin forced-commands-only. OpenSSH 9.2 lets the key
	# through the protocol ("Authenticated ... using publickey"), then
	# its privileged monitor refuses root and drops the connection.
	run ssh_as "$bare" echo hello
	[ "$status" -eq 255 ]
	[[ "$output" != *hello* ]]
	grep -q "ROOT LOGIN REFUSED FROM 127.0.0.1" "$SSHD_DIR/sshd.log"
	run ssh_as "$listed" whatever
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
}

@test "git pushes over ssh, and stop_sshd leaves neither sshd nor a session" {
	git init -q --bare "$BATS_TEST_TMPDIR/srv.git"
	pusher=$(make_user_key pusher)
	sleeper=$(make_user_key sleeper)
	authorize "$pusher" "command=\"git-receive-pack '$BATS_TEST_TMPDIR/srv.git'\",restrict"
	authorize "$sleeper" 'command="echo started; exec sleep 300",restrict'
	start_sshd "$KEYS"
	make_app "$BATS_TEST_TMPDIR/app"
	git_ssh_env "$pusher"
	run git -C "$BATS_TEST_TMPDIR/app" push \
	    "ssh://root@127.0.0.1:$SSHD_PORT/demo.git" main
	[ "$status" -eq 0 ]
	[ "$(git --git-dir="$BATS_TEST_TMPDIR/srv.git" rev-parse main)" = \
	    "$(git -C "$BATS_TEST_TMPDIR/app" rev-parse HEAD)" ]
	# A session still running when sshd stops.
	ssh_as "$sleeper" > "$BATS_TEST_TMPDIR/sleeper.out" 2>&1 3>&- &
	client=$!
	wait_for "the session to start" 10 grep -q started \
	    "$BATS_TEST_TMPDIR/sleeper.out"
	sshd=$SSHD_PID port=$SSHD_PORT
	sessions=$(descendants "$sshd")
	[ -n "$sessions" ]
	stop_sshd
	[ -z "$SSHD_PID" ]
	gone "$sshd"
	for p in $sessions; do
		gone "$p"
	done
	# The client saw its connection end.
	wait "$client" || true
	run sshd_banner "$port"
	[ "$status" -ne 0 ]
	# Twice is fine.
	stop_sshd
}
