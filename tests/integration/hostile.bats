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
	[ -z "${HOLDER:-}" ] || kill "$HOLDER" 2>/dev/null || true
	[ -z "${RO_MOUNT:-}" ] || umount "$RO_MOUNT"
	[ -z "${SMALL:-}" ] || umount "$SMALL"
	if [ -s "$BATS_TEST_TMPDIR/phase.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/phase.pid")" 2>/dev/null || true
	fi
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

# --- names -----------------------------------------------------------------

PIPELINE_RULE="is not valid: use 2-30 characters, lowercase letters, digits and '-', starting with a letter"

@test "pipeline name: uppercase is refused" {
	refused "pipeline name 'A' $PIPELINE_RULE" pipelines:create A
}

@test "pipeline name: one character is refused" {
	refused "pipeline name 'x' $PIPELINE_RULE" pipelines:create x
}

@test "pipeline name: a leading '-' is refused, not taken as an option" {
	refused "pipeline name '-ab' $PIPELINE_RULE" pipelines:create -- -ab
}

@test "pipeline name: a trailing '-' is refused" {
	refused "pipeline name 'ab-' is not valid: it must not end with '-'" \
	    pipelines:create ab-
}

@test "pipeline name: 32 characters is refused" {
	refused "pipeline name 'abcdefghijklmnopqrstuvwxyzabcdef' $PIPELINE_RULE" \
	    pipelines:create abcdefghijklmnopqrstuvwxyzabcdef
}

@test "pipeline name: '_' is refused" {
	refused "pipeline name 'a_b' $PIPELINE_RULE" pipelines:create a_b
}

@test "pipeline name: a path is refused, and no repo is made outside repos/" {
	refused "pipeline name '../x' $PIPELINE_RULE" pipelines:create ../x
	[ ! -e "$BERTH_ROOT/x.git" ]
}

@test "pipeline name: an ESC is refused, escaped" {
	refused "pipeline name 'a\\x1bb' $PIPELINE_RULE" pipelines:create $'a\x1bb'
}

@test "pipeline name: '' is refused, quoted" {
	refused "pipeline name '' $PIPELINE_RULE" pipelines:create ''
}

@test "pipeline name: one taken says the pipeline exists, not its repo" {
	berth pipelines:create demo >/dev/null
	refused "pipeline demo already exists; see: berth pipelines:info -p demo" \
	    pipelines:create demo
}

@test "app name: uppercase is refused" {
	berth pipelines:create demo >/dev/null
	refused "app name 'Bad' is not valid: use 2-30 characters, lowercase letters, digits and '-', starting with a letter" \
	    apps:create -p demo Bad
}

# --- CLI arguments -----------------------------------------------------------

# deployed: pipeline demo with demo-staging at v1 (berthd not running).
deployed() {
	berth pipelines:create demo >/dev/null
	make_app "$BATS_TEST_TMPDIR/app"
	push "$BATS_TEST_TMPDIR/app" demo >/dev/null
}

@test "ps:scale: a negative count is refused" {
	deployed
	refused "'web=-1': the count must be a whole number, 0 or more" \
	    ps:scale web=-1 -a demo-staging
}

@test "ps:scale: a count that is not a number is refused" {
	deployed
	refused "'web=abc': the count must be a whole number, 0 or more" \
	    ps:scale web=abc -a demo-staging
}

@test "ps:scale: past max_dynos is refused, naming the setting" {
	deployed
	refused "'web=99999' would make 99999 web dynos: use 0 to 100 (berth.ini [runtime] max_dynos)" \
	    ps:scale web=99999 -a demo-staging
}

@test "ps:scale: a process type the release lacks is refused" {
	deployed
	refused "demo-staging has no process type 'nope' (it has: web)" \
	    ps:scale nope=1 -a demo-staging
}

@test "config:set: an argument without '=' is refused" {
	deployed
	refused "'NOEQ' has no '=': use config:set KEY=VALUE" \
	    config:set NOEQ -a demo-staging
}

@test "config:set: an empty key is refused" {
	deployed
	refused "config var key '' is not valid: use letters, digits and '_', not starting with a digit" \
	    config:set =x -a demo-staging
}

@test "config:set: a key with a space is refused, and no other key of it is set" {
	deployed
	refused "config var key 'A B' is not valid: use letters, digits and '_', not starting with a digit" \
	    config:set GOOD=1 'A B=1' -a demo-staging
}

@test "config:unset: a key with '-' is refused" {
	deployed
	refused "config var key 'a-b' is not valid: use letters, digits and '_', not starting with a digit" \
	    config:unset a-b -a demo-staging
}

@test "logs -n: a negative count is refused" {
	deployed
	refused "-n wants a whole number from 1 to 1000000, not '-5'" \
	    logs -n -5 -a demo-staging
}

@test "releases:info: v-1 is not a version" {
	deployed
	refused "'v-1' is not a release version: use vN, e.g. v3" \
	    releases:info v-1 -a demo-staging
}

@test "rollback: vabc is not a version" {
	deployed
	refused "'vabc' is not a release version: use vN, e.g. v3" \
	    rollback vabc -a demo-staging
}

# --- berth.ini ---------------------------------------------------------------

# ini_refused MESSAGE TEXT: berth.ini with TEXT appended makes `berth
# apps` fail with "berth: $BERTH_ROOT/berth.ini MESSAGE".
ini_refused() {
	printf '\n%s\n' "$2" >> "$BERTH_ROOT/berth.ini"
	line=$(wc -l < "$BERTH_ROOT/berth.ini")
	refused "$BERTH_ROOT/berth.ini ${1//LINE/$line}" apps
}

@test "berth.ini: a count that is not a number names its line and the range" {
	ini_refused "line LINE: server.max_clients must be a whole number of clients from 1 to 100000 (got 'lots')" \
	    $'[server]\nmax_clients = lots'
}

@test "berth.ini: a line over 199 characters is refused, not cut" {
	ini_refused "line LINE: line is longer than 199 characters; shorten it" \
	    "[server]"$'\n'"domain = $(printf 'a%.0s' $(seq 300))"
}

@test "berth.ini: a section without ']' is refused" {
	ini_refused "line LINE: expected ']' to end the section name" '[server'
}

@test "berth.ini: a negative max_dynos is refused" {
	ini_refused "line LINE: runtime.max_dynos must be a whole number of dynos from 1 to 10000 (got '-5')" \
	    $'[runtime]\nmax_dynos = -5'
}

@test "berth.ini: a domain with a space is refused" {
	ini_refused "line LINE: server.domain must be a host name such as example.com: lowercase letters, digits, '.' and '-', not starting or ending with '.' or '-' (got 'a b')" \
	    $'[server]\ndomain = a b'
}

@test "berth.ini: a directory is refused" {
	rm "$BERTH_ROOT/berth.ini"
	mkdir "$BERTH_ROOT/berth.ini"
	refused "$BERTH_ROOT/berth.ini is a directory, not a regular file; make it a file (see berth.ini(5)) or remove it for the defaults" apps
}

# --- the ledger ---------------------------------------------------------------

@test "ledger: a newer schema says upgrade berth" {
	python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version = 99"); c.commit()' \
	    "$BERTH_ROOT/ledger.db"
	refused "ledger $BERTH_ROOT/ledger.db has schema version 99; this berth knows up to 10: upgrade berth" apps
}

@test "ledger: a directory is refused" {
	rm "$BERTH_ROOT/ledger.db"
	mkdir "$BERTH_ROOT/ledger.db"
	run --separate-stderr berth apps
	[ "$status" -eq 1 ]
	[ "$stderr" = "berth: $BERTH_ROOT/ledger.db is a directory, not a regular file; restore the ledger from a backup" ]
}

@test "ledger: a link to nothing is refused, not 'run: berth init'" {
	mv "$BERTH_ROOT/ledger.db" "$BATS_TEST_TMPDIR/ledger.db"
	ln -s "$BATS_TEST_TMPDIR/gone.db" "$BERTH_ROOT/ledger.db"
	run --separate-stderr berth apps
	[ "$status" -eq 1 ]
	[ "$stderr" = "berth: $BERTH_ROOT/ledger.db is a symbolic link to $BATS_TEST_TMPDIR/gone.db, which does not exist; restore the ledger from a backup" ]
	run --separate-stderr berth init
	[ "$status" -eq 1 ]
	[ ! -e "$BATS_TEST_TMPDIR/gone.db" ]
}

# ro_ledger: ledger.db read-only by a read-only bind mount of it (root
# writes through a chmod).
ro_ledger() {
	[ "$(id -u)" -eq 0 ] || skip "a read-only bind mount needs root"
	mount --bind "$BERTH_ROOT/ledger.db" "$BERTH_ROOT/ledger.db"
	RO_MOUNT=$BERTH_ROOT/ledger.db
	mount -o remount,ro,bind "$BERTH_ROOT/ledger.db"
}

@test "ledger: read-only, a change names the file and the fix; reads work" {
	deployed
	ro_ledger
	run --separate-stderr berth config:set A=1 -a demo-staging
	[ "$status" -eq 1 ]
	[ "$stderr" = "berth: ledger: $BERTH_ROOT/ledger.db is read-only (write: attempt to write a readonly database); make it and its directory writable by berth" ]
	run berth releases -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$output" == *v1* ]]
}

@test "ledger: read-only, a push says why, not only 'build failed'" {
	deployed
	commit_change "$BATS_TEST_TMPDIR/app" "Two"
	before=$(berth releases -a demo-staging --json)
	ro_ledger
	run push "$BATS_TEST_TMPDIR/app" demo
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Build failed: ledger: $BERTH_ROOT/ledger.db is read-only (write: attempt to write a readonly database); make it and its directory writable by berth"* ]]
	[[ "$output" == *"Push rejected: build failed."* ]]
	[ "$(berth releases -a demo-staging --json)" = "$before" ]
}

# small_root: the server root on a 16 MB tmpfs of its own, made anew.
small_root() {
	[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
	rm -rf "$BERTH_ROOT"
	mkdir -p "$BERTH_ROOT"
	mount -t tmpfs -o size=16m tmpfs "$BERTH_ROOT"
	SMALL=$BERTH_ROOT
	setup_root
}

# fill_root: take every free byte of the root.
fill_root() {
	fallocate -l "$(df --output=avail -B1 "$BERTH_ROOT" | tail -n 1)" \
	    "$BERTH_ROOT/filler"
	[ "$(df --output=avail -B1 "$BERTH_ROOT" | tail -n 1)" -eq 0 ]
}

@test "ledger: a full disk, no other connection: reads work, writes say disk full" {
	small_root
	deployed
	berth config:set A=1 -a demo-staging >/dev/null 2>&1
	before=$(berth releases -a demo-staging --json)
	fill_root
	for cmd in apps "releases -a demo-staging" "config -a demo-staging" \
	    "apps:info -a demo-staging" "releases:info v1 -a demo-staging" \
	    pipelines; do
		run --separate-stderr berth $cmd
		echo "$cmd: $status $stderr"
		[ "$status" -eq 0 ]
	done
	[ "$(berth releases -a demo-staging --json)" = "$before" ]
	for cmd in "config:set B=2 -a demo-staging" "config:unset A -a demo-staging" \
	    "ps:scale web=2 -a demo-staging"; do
		run --separate-stderr berth $cmd
		echo "$cmd: $status $stderr"
		[ "$status" -eq 1 ]
		[ "$stderr" = "berth: ledger: disk full: cannot write $BERTH_ROOT/ledger.db; free some space on its file system and try again" ]
	done
	[ "$(berth releases -a demo-staging --json)" = "$before" ]
	# Space back: the same commands work.
	rm "$BERTH_ROOT/filler"
	run berth config:set B=2 -a demo-staging
	[ "$status" -eq 0 ]
	[ "$(berth config:get B -a demo-staging)" = 2 ]
}

@test "ledger: a full disk while another connection holds it open: writes say disk full" {
	small_root
	deployed
	python3 - "$BERTH_ROOT/ledger.db" "$BATS_TEST_TMPDIR/held" <<-'EOF' &
	import sqlite3, sys, time
	db = sqlite3.connect(sys.argv[1])
	db.execute("SELECT count(*) FROM apps").fetchall()
	open(sys.argv[2], "w").write("held\n")
	while True:
	    time.sleep(60)
	EOF
	HOLDER=$!
	wait_for "the ledger to be held open" 10 test -s "$BATS_TEST_TMPDIR/held"
	fill_root
	run berth releases -a demo-staging
	[ "$status" -eq 0 ]
	run --separate-stderr berth config:set A=1 -a demo-staging
	[ "$status" -eq 1 ]
	[ "$stderr" = "berth: ledger: disk full: cannot write $BERTH_ROOT/ledger.db; free some space on its file system and try again" ]
	kill "$HOLDER"
	wait "$HOLDER" || true
	HOLDER=
}

# --- an interrupted release phase ------------------------------------------------

# slow_release: demo-staging at v1 with a release phase that, unless
# $BATS_TEST_TMPDIR/go exists, writes its pid to phase.pid and prints a
# line every 0.1 s for a minute (no sandbox, so that it sees the test's
# files). What a reader gone or a Ctrl-C must not leave running.
slow_release() {
	sed -i 's/^enabled = 1$/enabled = 0/' "$BERTH_ROOT/berth.ini"
	berth pipelines:create demo >/dev/null
	make_app "$BATS_TEST_TMPDIR/app"
	set_procfile "$BATS_TEST_TMPDIR/app" "$(printf 'web: python3 -m http.server $PORT\nrelease: test -e %s/go || { echo $$ > %s/phase.pid; for i in $(seq 600); do echo tick $i; sleep 0.1; done; }' \
	    "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR")"
	touch "$BATS_TEST_TMPDIR/go"
	push "$BATS_TEST_TMPDIR/app" demo >/dev/null
	rm "$BATS_TEST_TMPDIR/go"
}

no_pending() {
	! berth releases -a demo-staging --json | grep -q '"pending"'
}

# interrupted_cleanly: the release phase's process is gone, v2 failed,
# and config:set X=1 again sets it.
interrupted_cleanly() {
	wait_for "the release phase to be killed" 10 eval \
	    '! kill -0 "$(cat "$BATS_TEST_TMPDIR/phase.pid")"'
	no_pending
	[ "$(json_get "$(berth releases -a demo-staging --json)" 'd[0]["status"]')" = failed ]
	run berth config:get X -a demo-staging
	[ "$status" -eq 1 ]
	touch "$BATS_TEST_TMPDIR/go"
	run berth config:set X=1 -a demo-staging
	[ "$status" -eq 0 ]
	[ "$(berth config:get X -a demo-staging)" = 1 ]
	[ "$(json_get "$(berth releases -a demo-staging --json)" 'd[0]["status"]')" = succeeded ]
}

@test "config:set | head -1 with berthd stopped: the phase is killed, the release failed, not pending" {
	slow_release
	run --separate-stderr timeout 30 bash -c 'berth config:set X=1 -a demo-staging | head -1; echo "exit ${PIPESTATUS[0]}"'
	echo "$output / $stderr"
	[ "${lines[1]}" = "exit 141" ]
	[[ "$stderr" == *"v2 of demo-staging failed to start, the previous release keeps running: the release phase"*"was stopped: this command got signal 13 (Broken pipe)"* ]]
	interrupted_cleanly
}

@test "config:set interrupted by SIGINT with berthd stopped: the phase is killed, the release failed" {
	slow_release
	berth config:set X=1 -a demo-staging > "$BATS_TEST_TMPDIR/out" 2>&1 &
	pid=$!
	wait_for "the release phase to start" 20 test -s "$BATS_TEST_TMPDIR/phase.pid"
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	cat "$BATS_TEST_TMPDIR/out"
	[ "$rc" -eq 130 ]
	grep -q "was stopped: this command got signal 2 (Interrupt)" "$BATS_TEST_TMPDIR/out"
	interrupted_cleanly
}

# --- what berth prints of a user's strings -----------------------------------------

@test "config shows control bytes of a value escaped; config:get to a pipe gives it exactly" {
	deployed
	berth config:set E=$'a\e[31mred\rX' -a demo-staging >/dev/null
	run berth config -a demo-staging
	[[ "$output" == *'E:  a\x1b[31mred\x0dX'* ]]
	[[ "$output" != *$'\e'* ]]
	[ "$(berth config:get E -a demo-staging)" = $'a\e[31mred\rX' ]
	run script -qc "berth config:get E -a demo-staging" /dev/null
	[[ "$output" == *'a\x1b[31mred\x0dX'* ]]
}

# --- the control socket ---------------------------------------------------------------

# control LINE: send one request line to berthd's socket, print the reply.
control() {
	python3 - "$BERTH_ROOT/run/berthd.sock" "$1" <<-'EOF'
	import socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.settimeout(10)
	s.connect(sys.argv[1])
	s.sendall(sys.argv[2].encode() + b"\n")
	print(s.makefile().readline().strip())
	EOF
}

@test "control socket: garbage, a non-object, an unknown command and an unknown app each get one error, and berthd serves on" {
	start_berthd
	berth pipelines:create demo >/dev/null
	before=$(ledger_state)
	for req in 'not json' '[1, 2]' '{"cmd": "nosuch"}' \
	    '{"cmd": "deploy", "app": "nope", "release_id": 1}' '{"app": "x"}'; do
		run control "$req"
		echo "$req -> $output"
		[ "${#lines[@]}" -eq 1 ]
		[ "$(json_get "$output" 'd["ok"]')" = False ]
		[ -n "$(json_get "$output" 'd["error"]')" ]
	done
	[ "$(ledger_state)" = "$before" ]
	run berth daemon:status
	[ "$status" -eq 0 ]
}
