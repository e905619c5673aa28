#!/usr/bin/env bats
# Faults: the deploy invariant when a push's hook is killed, git refuses
# a push after pre-receive, or berthd dies while a release waits for git.
# The invariant: the deploy branch head is the commit of the app's
# newest succeeded release, and the router serves that release.
#
# Each fault is placed by a gate file: the release phase, a dyno's boot
# or git's ref update (held by a reference-transaction hook) waits until
# the test creates it, so the kill lands where the test says.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	start_berthd
	berth pipelines:create shop >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	start_gates
	G=$GATES
	# v1: serves "one", no release phase, boots at once.
	version_app one 'web: python3 -m http.server $PORT'
	run push "$APP" shop
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	router_says shop-staging /VERSION one
	V1=$(git -C "$APP" rev-parse HEAD)
}

teardown() {
	touch "$G/release" "$G/boot" "$G/ref" "$G/ci" "$G/compile" \
	    2>/dev/null || true
	[ -z "${NGINX_STOPPED:-}" ] || kill -CONT $NGINX_STOPPED 2>/dev/null || true
	[ -z "${PUSH_PID:-}" ] || wait "$PUSH_PID" 2>/dev/null || true
	stop_berthd
	stop_gates
}

# version_app VERSION PROCFILE: commit VERSION and the Procfile to $APP.
version_app() {
	mkdir -p "$APP"
	echo "$1" > "$APP/VERSION"
	printf '%s\n' "$2" > "$APP/Procfile"
	[ -d "$APP/.git" ] || git -C "$APP" init -q
	git -C "$APP" add -A
	git -C "$APP" commit -qm "$1"
}

# waits NAME: a shell command that marks NAME started, then waits for
# the test to create $G/NAME (app code runs sandboxed: over the gate
# server, start_gates).
waits() {
	gate_cmd "$1"
}

# push_bg [REFSPEC...]: push $APP to shop in the background, output in
# push.out.
push_bg() {
	push "$APP" shop "$@" > "$BATS_TEST_TMPDIR/push.out" 2>&1 &
	PUSH_PID=$!
}

# push_wait: wait for the background push; PUSH_RC is its exit status.
push_wait() {
	PUSH_RC=0
	wait "$PUSH_PID" || PUSH_RC=$?
	PUSH_PID=
	echo "push exited $PUSH_RC:"
	cat "$BATS_TEST_TMPDIR/push.out"
}

# kill_hook_at GATE: push $APP; once the push reaches GATE, kill -9 its
# pre-receive and open GATE. The push must fail.
kill_hook_at() {
	push_bg
	wait_for "the push to reach $1" 60 test -e "$G/$1.started"
	kill -9 "$(hook_pid pre-receive)"
	touch "$G/$1"
	push_wait
	[ "$PUSH_RC" -ne 0 ]
}

# hook_pid NAME: the pid of the repo's running hook NAME.
hook_pid() {
	local repo p
	repo=$(cd "$(repo_of shop)" && pwd -P)
	for p in $(pgrep -f "hooks/$1"); do
		if [ "$(readlink "/proc/$p/cwd")" = "$repo" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# release_status VERSION: its status in the ledger.
release_status() {
	json_get "$(berth releases -a shop-staging --json)" \
	    "[r['status'] for r in d if r['version'] == $1][0]"
}

# invariant VERSION BODY: the branch head is the commit of vVERSION, the
# newest succeeded release, and the router serves BODY.
invariant() {
	local want cur
	want=$(json_get "$(berth releases -a shop-staging --json)" \
	    "[r['commit'] for r in d if r['status'] == 'succeeded'][0]")
	cur=$(json_get "$(berth releases -a shop-staging --json)" \
	    "[r['version'] for r in d if r['status'] == 'succeeded'][0]")
	[ "$cur" = "$1" ] || { echo "current is v$cur, not v$1"; return 1; }
	[ "$(remote_head shop main)" = "$want" ] ||
	    { echo "main is $(remote_head shop main), v$1 is $want"; return 1; }
	router_says shop-staging /VERSION "$2"
}

# push_held VERSION: push VERSION of $APP; return once pre-receive has
# exited 0 and git holds its ref update (hold_ref_update).
push_held() {
	hold_ref_update
	version_app "$1" 'web: python3 -m http.server $PORT'
	push_bg
	wait_for "git's ref update" 60 test -e "$G/ref.started"
}

kill_berthd() {
	kill -9 "$BERTHD_PID"
	wait "$BERTHD_PID" 2>/dev/null || true
}

nginx_pid() {
	cat "$BERTH_ROOT/router/nginx.pid"
}

# no_pending: no release of the app is pending.
no_pending() {
	! berth releases -a shop-staging --json | grep -q '"pending"'
}

# hold_ref_update: git runs a reference-transaction hook (if there is
# one) once pre-receive has exited 0, before it moves the refs. This one,
# when "prepared", waits for $G/ref, then lets git go on, or aborts the
# ref update when $G/refuse exists.
hold_ref_update() {
	cat > "$(repo_of shop)/hooks/reference-transaction" <<-EOF
	#!/bin/sh
	cat >/dev/null
	[ "\$1" = prepared ] || exit 0
	touch $G/ref.started; while [ ! -e $G/ref ]; do sleep 0.05; done
	[ ! -e $G/refuse ]
	EOF
	chmod +x "$(repo_of shop)/hooks/reference-transaction"
}

@test "a push whose hook is killed in the release phase is not released" {
	version_app two "web: python3 -m http.server \$PORT
release: $(waits release)"
	kill_hook_at release
	wait_for "v2 to be settled" 30 no_pending
	[ "$(release_status 2)" = failed ]
	invariant 1 one
	# Its dynos are gone; the next push is not held up.
	wait_for "v2's dyno to stop" 30 ps_has shop-staging 1 True
	version_app three 'web: python3 -m http.server $PORT'
	run push "$APP" shop
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	invariant 3 three
}

@test "a push whose hook is killed while its dynos boot is not released" {
	version_app two "web: bash -c '$(waits boot); exec python3 -m http.server \$PORT'"
	kill_hook_at boot
	wait_for "v2 to be settled" 30 no_pending
	[ "$(release_status 2)" = failed ]
	invariant 1 one
	wait_for "v2's dyno to stop" 30 ps_has shop-staging 1 True
}

@test "a push git refuses after pre-receive succeeded is not released" {
	touch "$G/refuse"
	push_held two
	# pre-receive has exited 0; v2 is up and waits for git.
	[ "$(release_status 2)" = pending ]
	router_says shop-staging /VERSION one
	touch "$G/ref"
	push_wait
	[ "$PUSH_RC" -ne 0 ]
	wait_for "v2 to be settled" 30 no_pending
	[ "$(release_status 2)" = failed ]
	invariant 1 one
}

@test "a release goes live only once git moved the ref, and the push says so" {
	push_held two
	router_says shop-staging /VERSION one
	[ "$(release_status 2)" = pending ]
	touch "$G/ref"
	push_wait
	[ "$PUSH_RC" -eq 0 ]
	grep -q "v2 is up; it goes live once git has taken the push" \
	    "$BATS_TEST_TMPDIR/push.out"
	grep -q "Launching v2... done" "$BATS_TEST_TMPDIR/push.out"
	[ "$(release_status 2)" = succeeded ]
	invariant 2 two
}

@test "berthd killed while a release waits for git: git's answer decides" {
	push_held two
	kill_berthd
	touch "$G/ref"
	# git moves the ref: the hook settles v2 without berthd.
	push_wait
	[ "$PUSH_RC" -eq 0 ]
	[ "$(release_status 2)" = succeeded ]
	start_berthd
	invariant 2 two

	# The same, but git refuses: berthd's start fails v3.
	rm -f "$G/ref" "$G/ref.started"
	touch "$G/refuse"
	version_app three 'web: python3 -m http.server $PORT'
	push_bg
	wait_for "git's ref update" 60 test -e "$G/ref.started"
	kill_berthd
	start_berthd
	touch "$G/ref"
	push_wait
	[ "$PUSH_RC" -ne 0 ]
	wait_for "v3 to be settled" 30 no_pending
	[ "$(release_status 3)" = failed ]
	invariant 2 two
}

# build_procs: the processes of this root's buildpacks (their sandbox's
# mounts name the root).
build_procs() {
	local p
	for p in $(pgrep -f 'bin/compile'); do
		grep -q "$BERTH_ROOT/" "/proc/$p/mountinfo" 2>/dev/null &&
		    echo "$p"
	done
	return 0
}

# build_status N: the status of the app's Nth newest build (0 = newest).
build_status() {
	json_get "$(berth builds -a shop-staging --json)" "d[$1]['status']"
}

@test "a build whose hook is killed is failed by the next push, and its config values are removed" {
	berth config:set GO_GATE="$GATE_PORT compile" SECRET_TOKEN=hunter2hunter2 \
	    -a shop-staging >/dev/null
	printf '{"buildpacks": [{"url": "%s"}]}\n' \
	    "$FIXTURES/buildpacks/slow" > "$APP/app.json"
	version_app two 'web: python3 -m http.server $PORT'
	push_bg
	wait_for "the build's ENV_DIR" 30 \
	    eval 'ls "$BERTH_ROOT"/tmp/build-*/env/SECRET_TOKEN'
	wait_for "the buildpack to wait" 30 test -e "$G/compile.started"
	[ -n "$(build_procs)" ]
	kill -9 "$(hook_pid pre-receive)"
	# Its sandbox dies with it: nothing of the killed push runs on.
	wait_for "the buildpack to end with its hook" 10 \
	    eval '[ -z "$(build_procs)" ]'
	touch "$G/compile"
	push_wait
	[ "$PUSH_RC" -ne 0 ]
	[ "$(build_status 0)" = building ]
	rm "$APP/app.json"
	version_app three 'web: python3 -m http.server $PORT'
	run push "$APP" shop
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ "$(build_status 0)" = succeeded ]
	[ "$(build_status 1)" = failed ]
	run ! grep -rq hunter2hunter2 "$BERTH_ROOT/tmp"
	invariant 3 three
}

@test "a test run whose hook is killed is errored when berthd starts, and its dir removed" {
	printf '{"environments": {"test": {"scripts": {"test": "%s; echo ok 1"}}}}\n' \
	    "$(waits ci)" > "$APP/app.json"
	version_app two 'web: python3 -m http.server $PORT'
	kill_hook_at ci
	run berth ci -p shop --json
	[ "$(json_get "$output" 'd[0]["status"]')" = running ] ||
	    [ "$(json_get "$output" 'd[0]["status"]')" = building ]
	ls -d "$BERTH_ROOT"/tmp/ci-*
	stop_berthd
	start_berthd
	run berth ci -p shop --json
	[ "$(json_get "$output" 'd[0]["status"]')" = errored ]
	run ! ls -d "$BERTH_ROOT"/tmp/ci-*
	invariant 1 one
}

@test "a rollback killed while berthd is down leaves config as the running release has it" {
	touch "$G/release"
	version_app two "web: python3 -m http.server \$PORT
release: $(waits release)"
	run push "$APP" shop
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	berth config:set GREETING=new -a shop-staging >/dev/null
	rm "$G/release" "$G/release.started"
	stop_berthd
	berth rollback v2 -a shop-staging > "$BATS_TEST_TMPDIR/rollback.out" 2>&1 &
	pid=$!
	wait_for "the rollback's release phase" 30 test -e "$G/release.started"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	touch "$G/release"
	# v4, the rollback, changed the config vars; it never finished.
	[ "$(berth config:get GREETING -a shop-staging)" = new ]
	[ "$(release_status 4)" = failed ]
	start_berthd
	invariant 3 two
}

# A router that does not answer (nginx stopped, here by SIGSTOP; its
# control socket times out) at the moment git has moved the ref: the
# release git took is failed, so main names a commit no succeeded
# release has, while the router keeps serving v1.
@test "a route that cannot be applied once git moved the ref does not fail the release git took" {
	push_held two
	np=$(nginx_pid)
	NGINX_STOPPED="$np $(pgrep -P "$np" | tr '\n' ' ')"
	kill -STOP $NGINX_STOPPED
	touch "$G/ref"
	push_wait
	[ "$PUSH_RC" -eq 0 ]
	[ "$(remote_head shop main)" = "$(git -C "$APP" rev-parse HEAD)" ]
	wait_for "v2 to be settled" 60 no_pending
	# git took the push: v2 is the current release, routed once nginx
	# answers again.
	[ "$(release_status 2)" = succeeded ]
	kill -CONT $NGINX_STOPPED
	NGINX_STOPPED=
	wait_for "the router to answer" 30 \
	    eval '[ "$(router_code shop-staging /VERSION)" = 200 ]'
	run ! grep -q "The release failed after git took the push" \
	    "$BATS_TEST_TMPDIR/push.out"
	wait_for "the router to serve v2" 30 \
	    router_says shop-staging /VERSION two
	invariant 2 two
}

# berthd killed while a release waits for git and started again before
# git answers: the new berthd watches the gate, and rolls the app out to
# the release once git took the push.
@test "a release waiting for git across a berthd restart goes live once git moved the ref" {
	push_held two
	kill_berthd
	start_berthd
	router_says shop-staging /VERSION one
	touch "$G/ref"
	push_wait
	[ "$PUSH_RC" -eq 0 ]
	# receive-pack is gone and the ref is v2's commit.
	wait_for "v2 to be settled" 30 no_pending
	run ! grep -q "The release failed after git took the push" \
	    "$BATS_TEST_TMPDIR/push.out"
	wait_for "the router to serve v2" 30 \
	    router_says shop-staging /VERSION two
	invariant 2 two
	# And the next push is not held up by it.
	version_app three 'web: python3 -m http.server $PORT'
	t0=$(date +%s)
	run push "$APP" shop
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ $(( $(date +%s) - t0 )) -lt 20 ]
	no_pending
	invariant 3 three
}

# berthd stopped and a push git refuses after pre-receive
# (receive.denyNonFastForwards and a forced push): pre-receive has
# already told the pusher "v2 is recorded and starts when berthd does",
# which is untrue; nothing says that v2 will not start.
@test "a push git refuses while berthd is stopped does not say its release starts when berthd does" {
	git --git-dir="$(repo_of shop)" config receive.denyNonFastForwards true
	git -C "$APP" commit -q --amend -m one-amended
	stop_berthd
	push_bg -f main
	push_wait
	[ "$PUSH_RC" -ne 0 ]
	start_berthd
	wait_for "v2 to be settled" 30 no_pending
	[ "$(release_status 2)" = failed ]
	invariant 1 one
	run ! grep -q "v2 is recorded and starts when berthd does" \
	    "$BATS_TEST_TMPDIR/push.out"
}

# stray_workers: nginx workers in this root's router dir whose master is
# gone.
stray_workers() {
	local dir p
	dir=$(cd "$BERTH_ROOT/router" && pwd -P)
	for p in $(pgrep -x nginx); do
		[ "$(readlink "/proc/$p/cwd")" = "$dir" ] || continue
		grep -q "worker process" "/proc/$p/cmdline" 2>/dev/null || continue
		[ "$(cat "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/comm" 2>/dev/null)" = nginx ] ||
		    echo "$p"
	done
}

@test "nginx killed after berthd took it over leaves no worker serving old routes" {
	kill_berthd
	start_berthd
	master=$(nginx_pid)
	kill -9 "$master"
	wait_for "berthd to start nginx again" 10 \
	    eval '[ "$(nginx_pid)" != "$master" ] && router_says shop-staging /VERSION one'
	wait_for "the old workers to be gone" 10 eval '[ -z "$(stray_workers)" ]'
	version_app two 'web: python3 -m http.server $PORT'
	run push "$APP" shop
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	for i in $(seq 20); do
		router_says shop-staging /VERSION two
	done
}
