#!/usr/bin/env bats
# Hostile input (issue 16): clients of berthd's control socket that send
# nothing, too many of them, or enough to use up berthd's fds; a
# berth.ini that is a FIFO or a link to nothing; a stdout that refuses
# the output. Each gets a clear error and berthd keeps serving.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
}

teardown() {
	kill_clients
	stop_berthd
}

# idle_clients N: N connections to berthd's socket that send nothing
# (tests/fixtures/idle-clients.py), in the background (kill_clients
# ends them); their state is in $IDLE (JSON), read with idle EXPR.
idle_clients() {
	IDLE=$BATS_TEST_TMPDIR/idle.$RANDOM.json
	python3 "$FIXTURES/idle-clients.py" "$BERTH_ROOT/run/berthd.sock" \
	    "$1" "$IDLE" 3>&- &
	CLIENT_PIDS="${CLIENT_PIDS:-} $!"
	wait_for "$1 idle clients to connect" 15 idle_is "d['opened'] == $1"
}

idle() {
	json_get "$(cat "$IDLE")" "$1"
}

# idle_is EXPR: the python EXPR on the state d is true.
idle_is() {
	[ -s "$IDLE" ] && [ "$(idle "$1")" = True ]
}

# fds_at_least N: berthd has N fds open or more.
fds_at_least() {
	[ "$(ls "/proc/$BERTHD_PID/fd" | wc -l)" -ge "$1" ]
}

# cpu_ticks PID: user + system CPU time of PID so far, in clock ticks.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

@test "idle clients are closed at the request deadline; berthd answers meanwhile" {
	start_berthd
	idle_clients 50
	# While the 50 are held, berth commands are served.
	run berth daemon:status
	[ "$status" -eq 0 ]
	wait_for "berthd to close the idle clients" 15 idle_is "d['done']"
	[ "$(idle "d['closed']")" = 50 ]
	# Closed at the deadline (5 s), not at once, not much later.
	idle "d['held']"
	idle_is "4.5 <= d['held'] <= 8"
	# Each was told why.
	idle "d['replies']"
	idle_is "all('timed out' in r for r in d['replies'])"
	run berth daemon:status
	[ "$status" -eq 0 ]
}

@test "clients past max_clients are told berthd is busy, and served once it is not" {
	printf '\n[server]\nmax_clients = 8\n' >> "$BERTH_ROOT/berth.ini"
	start_berthd
	idle_clients 8
	first=$IDLE
	idle_clients 5
	wait_for "the 5 past the cap to be refused" 10 idle_is "d['done']"
	idle "d['replies']"
	idle_is "d['replies'] == {'{\"ok\":false,\"error\":\"berthd is busy: 8 clients (berth.ini [server] max_clients); try again\"}': 5}"
	# A berth command past the cap gets the same one line, exit 1.
	run berth daemon:status
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "berth: berthd is busy: 8 clients (berth.ini [server] max_clients); try again" ]
	# Once the 8 are gone (the deadline), berthd serves again.
	IDLE=$first
	wait_for "the first 8 to be closed" 15 idle_is "d['done']"
	idle_is "d['closed'] == 8"
	run berth daemon:status
	[ "$status" -eq 0 ]
}

@test "with its fds used up by idle clients berthd does not spin, and serves again once they go" {
	start_berthd
	prlimit --pid "$BERTHD_PID" --nofile=64:64
	idle_clients 100
	wait_for "berthd to use up its fds" 10 fds_at_least 63
	# Out of fds, berthd idles: no accept() loop at 100% of a CPU.
	before=$(cpu_ticks "$BERTHD_PID")
	sleep 1		# a measurement, not a wait for something
	after=$(cpu_ticks "$BERTHD_PID")
	echo "CPU over 1 s with no fd left: $((after - before)) ticks"
	[ $((after - before)) -le 10 ]
	# It holds what fit, and told the rest it is out of fds.
	wait_for "berthd to refuse the clients past its fds" 10 \
	    idle_is "sum(n for r, n in d['replies'].items() if 'out of file descriptors' in r) > 0"
	idle "d['replies']"
	# When the held clients reach their deadline, berthd serves again.
	wait_for "the idle clients to be closed" 15 idle_is "d['done']"
	idle "d['replies']"
	idle_is "d['closed'] == 100"
	run berth daemon:status
	[ "$status" -eq 0 ]
	grep -q "control: out of file descriptors" "$BATS_TEST_TMPDIR/berthd.log"
}

@test "a deploy that takes longer than the request deadline still succeeds" {
	start_berthd
	berth pipelines:create demo >/dev/null
	make_app "$BATS_TEST_TMPDIR/app"
	# The web dyno binds $PORT only after 7 s: the deploy's answer
	# streams past the 5 s deadline for the request line.
	set_procfile "$BATS_TEST_TMPDIR/app" 'web: sleep 7; exec python3 -m http.server $PORT'
	run push "$BATS_TEST_TMPDIR/app" demo
	echo "$output"
	[ "$status" -eq 0 ]
	router_says demo-staging / hello
}

@test "berth logs | head -1 ends quietly, with and without --tail" {
	start_berthd
	berth pipelines:create demo >/dev/null
	make_app "$BATS_TEST_TMPDIR/app"
	# More log than a pipe holds, so berth writes on after head left.
	set_procfile "$BATS_TEST_TMPDIR/app" \
	    "web: seq 1 5000 | sed 's/^/line /'; exec python3 -m http.server \$PORT"
	push "$BATS_TEST_TMPDIR/app" demo
	wait_for "the lines in the log" 15 \
	    eval "berth logs -a demo-staging -n 10 | grep -q 'line 5000'"
	run --separate-stderr bash -c 'berth logs -a demo-staging -n 5000 | head -1; echo "exit ${PIPESTATUS[0]}"'
	[ "${lines[1]}" = "exit 0" ]
	[ -z "$stderr" ]
	run --separate-stderr timeout 20 bash -c 'berth logs -a demo-staging -n 5000 --tail | head -1; echo "exit ${PIPESTATUS[0]}"'
	[ "${lines[1]}" = "exit 0" ]
	[ -z "$stderr" ]
}

@test "berth.ini as a FIFO is an error naming it, not a hang" {
	mv "$BERTH_ROOT/berth.ini" "$BATS_TEST_TMPDIR/berth.ini"
	mkfifo "$BERTH_ROOT/berth.ini"
	run timeout 10 berth apps
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "berth: $BERTH_ROOT/berth.ini is a FIFO, not a regular file; make it a file"* ]]
	run timeout 10 berthd -f
	[ "$status" -eq 1 ]
	[[ "$output" == *"berth.ini is a FIFO"* ]]
	# A link to a file is fine.
	rm "$BERTH_ROOT/berth.ini"
	ln -s "$BATS_TEST_TMPDIR/berth.ini" "$BERTH_ROOT/berth.ini"
	run berth apps
	[ "$status" -eq 0 ]
}

@test "a berth.ini link to nothing is an error, not silent defaults" {
	rm "$BERTH_ROOT/berth.ini"
	ln -s "$BATS_TEST_TMPDIR/gone.ini" "$BERTH_ROOT/berth.ini"
	run timeout 10 berth apps
	[ "$status" -eq 1 ]
	[ "$output" = "berth: $BERTH_ROOT/berth.ini is a symbolic link to $BATS_TEST_TMPDIR/gone.ini, which does not exist; make it a file (see berth.ini(5)) or remove it for the defaults" ]
	# No berth.ini at all is the defaults.
	rm "$BERTH_ROOT/berth.ini"
	run berth apps
	[ "$status" -eq 0 ]
}

@test "a ledger file that is a FIFO is an error, not a hang" {
	mkfifo "$BERTH_ROOT/ledger.db-wal"
	run timeout 10 berth apps
	[ "$status" -eq 1 ]
	[ "$output" = "berth: $BERTH_ROOT/ledger.db-wal is a FIFO, not a regular file; remove it (SQLite makes its own)" ]
}

@test "output that cannot be written fails the command: berth apps >/dev/full" {
	berth pipelines:create demo >/dev/null
	run --separate-stderr bash -c 'berth apps >/dev/full'
	[ "$status" -eq 1 ]
	[ "$stderr" = "berth: cannot write the output: No space left on device" ]
	run --separate-stderr bash -c 'berth apps --json >/dev/full'
	[ "$status" -eq 1 ]
	[ "$stderr" = "berth: cannot write the output: No space left on device" ]
	# Help is output too.
	run --separate-stderr bash -c 'berth help >/dev/full'
	[ "$status" -eq 1 ]
	[[ "$stderr" == "berth: cannot write the output"* ]]
	run bash -c 'berth apps >/dev/null'
	[ "$status" -eq 0 ]
}

@test "hook input with a NUL in a ref, or not 'OLD NEW REF', is refused naming its line" {
	berth pipelines:create demo >/dev/null
	repo=$(repo_of demo)
	zero=0000000000000000000000000000000000000000
	sha=1111111111111111111111111111111111111111
	# refs/heads/a\0b must not pass as refs/heads/a.
	run bash -c "printf '%s %s refs/heads/main\n%s %s refs/heads/a\0b\n' \
	    $zero $sha $zero $sha | (cd '$repo' && GIT_DIR=. ./hooks/pre-receive)"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"hook input line 2 holds a NUL byte; is this berth-receive run by git?"* ]]
	run bash -c "printf 'garbage\n' | (cd '$repo' && GIT_DIR=. ./hooks/pre-receive)"
	[ "$status" -ne 0 ]
	[[ "$output" == *"hook input line 1 is not 'OLD NEW REF'; is this berth-receive run by git?"* ]]
	# Nothing was built or released.
	run berth builds -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 0 ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 0 ]
}

@test "a URL's password is never shown: buildpacks:add's error and the listing" {
	run berth buildpacks:add https://alice:s3cretpw@127.0.0.1:9/x.git
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"https://alice:***@127.0.0.1:9/x.git"* ]]
	[[ "$output" != *s3cretpw* ]]
	run berth buildpacks:add https://tok3n@127.0.0.1:9/y.git
	[[ "$output" == *"https://***@127.0.0.1:9/y.git"* ]]
	[[ "$output" != *tok3n* ]]
}

@test "a buildpack printing without end fills no disk: its output stops at 8 MB, and the build says what it dropped" {
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	use_buildpack "$APP" chatty
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"of build output were dropped: builds keep and show their first 8 MB or 100000 lines"* ]]
	[ "${#output}" -lt 8000000 ]
	log=$(ls "$BERTH_ROOT"/logs/build-*.log | tail -1)
	[ "$(stat -c %s "$log")" -lt 8500000 ]
	grep -q "were dropped" "$log"
	[[ "$(berth releases -a demo-staging)" == *"v1"* ]]
}

@test "tests printing without end fill no disk either; their TAP still counts" {
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	printf '%s\n' '{"environments": {"test": {"scripts": {"test": "yes chatter | head -c 20000000; echo; echo ok 1 - after it all"}}}}' > "$APP/app.json"
	git -C "$APP" add -A
	git -C "$APP" commit -qm "Chatty tests"
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"of test output were dropped: test runs keep and show their first 8 MB or 100000 lines"* ]]
	[ "${#output}" -lt 8000000 ]
	# the run's log and its node's, together
	[ "$(cat "$BERTH_ROOT"/logs/ci-*.log | wc -c)" -lt 2000000 ]
	grep -q "were dropped" "$BERTH_ROOT"/logs/ci-*-node-1.log
	run berth ci -p demo --json
	[ "$(json_get "$output" 'd[0]["passed"]')" = 1 ]
	[ "$(json_get "$output" 'd[0]["status"]')" = succeeded ]
}

@test "an empty, damaged or incomplete ledger is refused, never made anew; only init makes one" {
	berth pipelines:create demo >/dev/null
	cp "$BERTH_ROOT/ledger.db" "$BATS_TEST_TMPDIR/good.db"
	: > "$BERTH_ROOT/ledger.db"
	rm -f "$BERTH_ROOT"/ledger.db-wal "$BERTH_ROOT"/ledger.db-shm
	for cmd in apps "pipelines:create demo" init; do
		run --separate-stderr berth $cmd
		[ "$status" -eq 1 ]
		[[ "$stderr" == *"ledger.db is empty (0 bytes): restore it from a backup"* ]]
	done
	[ "$(stat -c %s "$BERTH_ROOT/ledger.db")" -eq 0 ]
	head -c 8192 /dev/urandom > "$BERTH_ROOT/ledger.db"
	run --separate-stderr berth apps
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"is not an SQLite database (it is damaged)"* ]]
	cp "$BATS_TEST_TMPDIR/good.db" "$BERTH_ROOT/ledger.db"
	python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("drop table releases"); c.commit()' "$BERTH_ROOT/ledger.db"
	run --separate-stderr berth apps
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"has no releases table: it is damaged; restore it from a backup"* ]]
	# A root whose init was killed before the ledger was written: init again.
	fresh=$BATS_TEST_TMPDIR/fresh
	mkdir -p "$fresh/repos"
	: > "$fresh/ledger.db"
	run berth init --root "$fresh"
	[ "$status" -eq 0 ]
	run berth apps --root "$fresh"
	[ "$status" -eq 0 ]
}

@test "a buildpack cloned from a Git URL installs, and its process exits 0 (no leak report under the sanitizers)" {
	bp=$BATS_TEST_TMPDIR/bp
	cp -r "$FIXTURES/buildpacks/echo-env" "$bp"
	git -C "$bp" init -q
	git -C "$bp" add -A
	git -C "$bp" commit -qm "A buildpack"
	run berth buildpacks:add "file://$bp"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Installed buildpack"* ]]
	[[ "$output" != *LeakSanitizer* ]]
}
