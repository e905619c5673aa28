#!/usr/bin/env bats
# Dynos that survive berthd: each formation dyno runs under a monitor
# that holds its output and exit status, so it keeps serving and logging
# while berthd is down, and a berthd that starts again adopts it. Also:
# crash restarts of dynos a rollout started, the state `berth ps` shows
# after a crash restart, and release phases left by a killed berthd.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	LOG=$BERTH_ROOT/apps/demo-staging/log
}

teardown() {
	kill_clients
	stop_berthd
	stop_gates
}

# seq_loop APP OUT: GET /?n=1, /?n=2 ... through the router until
# OUT.stop exists; one line "N CODE EXIT" per request in OUT.
seq_loop() {
	local app=$1 out=$2 n=0 code rc
	: > "$out"
	while [ ! -e "$out.stop" ] && [ "$n" -lt 5000 ]; do
		n=$((n + 1))
		rc=0
		code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
		    -H "Host: $app.localhost" \
		    "http://127.0.0.1:$ROUTER_PORT/?n=$n") || rc=$?
		echo "$n $code $rc" >> "$out"
	done
	echo done >> "$out.done"
}

start_seq_client() {
	seq_loop "$@" 3>&- &
	CLIENT_PIDS="${CLIENT_PIDS:-} $!"
}

# requests OUT: how many the client made.
requests() {
	wc -l < "$1"
}

# more_requests OUT N: the client made N more than now (within 20 s).
more_requests() {
	local want=$(( $(requests "$1") + $2 ))
	wait_for "$2 more requests" 20 eval "[ \$(wc -l < '$1') -ge $want ]"
}

# failed OUT: requests that did not get a 200.
failed() {
	awk '$2 != 200 || $3 != 0' "$1" | wc -l
}

# kill_berthd: kill -9 berthd and wait until it is gone.
kill_berthd() {
	kill -KILL "$BERTHD_PID"
	wait "$BERTHD_PID" 2>/dev/null || true
	! berthd_ready || false
}

# listener PORT: the pid of the process listening on 127.0.0.1:PORT.
listener() {
	ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# port_of APP DYNO: its port, from berth ps.
port_of() {
	json_get "$(ps_json "$1")" "[x['port'] for x in d if x['name'] == '$2'][0]"
}

# logged_in_order LOG FIRST LAST: the app's log has "GET /?n=N" for
# every N from FIRST to LAST, once each, in that order.
logged_in_order() {
	python3 - "$1" "$2" "$3" <<-'EOF'
	import re, sys
	got = [int(m.group(1)) for line in open(sys.argv[1])
	       for m in [re.search(r' app\[web\.1\]: .*"GET /\?n=(\d+) ', line)] if m]
	want = list(range(int(sys.argv[2]), int(sys.argv[3]) + 1))
	seen = [n for n in got if want[0] <= n <= want[-1]]
	if seen != want:
	    print("expected requests %d..%d in order; got %s" % (want[0], want[-1], seen))
	    sys.exit(1)
	EOF
}

@test "kill -9 of berthd and a restart drop no request; the app logs while berthd is down" {
	start_berthd
	push "$APP" demo
	dyno=$(dyno_pids demo-staging | sort)
	[ -n "$dyno" ]
	out=$BATS_TEST_TMPDIR/client
	start_seq_client demo-staging "$out"
	more_requests "$out" 20
	kill_berthd
	first_down=$(( $(requests "$out") + 1 ))
	more_requests "$out" 40
	last_down=$(requests "$out")
	# berthd is down: its dyno serves, and what it writes reaches the
	# app's log (before, it died of EPIPE on its first line).
	[ "$(dyno_pids demo-staging | sort)" = "$dyno" ]
	wait_for "request $last_down in the log" 5 grep -q "GET /?n=$last_down " "$LOG"
	start_berthd
	wait_for "web.1 up" 10 ps_has demo-staging 1 \
	    'd["name"] == "web.1" and d["state"] == "up" and d["restarts"] == 0'
	more_requests "$out" 40
	stop_client "$out"
	total=$(requests "$out")
	echo "requests=$total failed=$(failed "$out") (berthd down for $first_down..$last_down)"
	[ "$(failed "$out")" -eq 0 ]
	# The same dyno served throughout, and logged every request in order.
	[ "$(dyno_pids demo-staging | sort)" = "$dyno" ]
	grep -q 'berth\[web.1\]: Adopted' "$LOG"
	wait_for "the last request in the log" 5 grep -q "GET /?n=$total " "$LOG"
	logged_in_order "$LOG" 1 "$total"
}

@test "a dyno that dies while berthd is down is replaced, and only its directory removed" {
	start_berthd
	push "$APP" demo
	berth ps:scale web=2 -a demo-staging >/dev/null
	wait_for "two web dynos up" 10 ps_has demo-staging 2 'd["state"] == "up"'
	web1=$(listener "$(port_of demo-staging web.1)")
	web2=$(listener "$(port_of demo-staging web.2)")
	[ -n "$web1" ] && [ -n "$web2" ]
	kill_berthd
	kill -KILL "$web1"
	# Its monitor records how it ended, and goes.
	ended() {
		grep -l '"exit_code":137' "$BERTH_ROOT"/run/dynos/*.json
	}
	wait_for "web.1's monitor to record its end" 10 ended
	[ "$(ls "$BERTH_ROOT/apps/demo-staging/dynos" | wc -l)" -eq 2 ]
	start_berthd
	wait_for "web.1 and web.2 up" 10 ps_has demo-staging 2 'd["state"] == "up"'
	run ps_json demo-staging
	echo "$output"
	[ "$(json_get "$output" 'sorted(x["name"] for x in d)')" = "['web.1', 'web.2']" ]
	# web.2 was adopted (the same process), web.1 is a new one.
	[ "$(listener "$(port_of demo-staging web.2)")" = "$web2" ]
	[ "$(listener "$(port_of demo-staging web.1)")" != "$web1" ]
	! kill -0 "$web1" 2>/dev/null || false
	# The dead dyno's directory went; the live ones' stay.
	[ "$(ls "$BERTH_ROOT/apps/demo-staging/dynos" | wc -l)" -eq 2 ]
	[ "$(ls "$BERTH_ROOT/run/dynos" | grep -c '\.json$')" -eq 2 ]
	[ "$(router_code demo-staging /)" = 200 ]
}

@test "a restarted berthd stops adopted dynos not wanted and replaces an old release without a failed request" {
	start_berthd
	push "$APP" demo
	berth ps:scale web=2 -a demo-staging >/dev/null
	wait_for "two web dynos up" 10 ps_has demo-staging 2 'd["state"] == "up"'
	old=$(dyno_pids demo-staging)
	out=$BATS_TEST_TMPDIR/client
	start_seq_client demo-staging "$out"
	more_requests "$out" 10
	kill_berthd
	# While berthd is down the ledger takes the changes.
	run berth ps:scale web=1 -a demo-staging
	[[ "$output" == *"berthd is not running"* ]]
	run berth config:set GREETING=hi -a demo-staging
	[[ "$output" == *"v2"* ]]
	more_requests "$out" 10
	start_berthd
	wait_for "one v2 dyno" 15 eval "ps_has demo-staging 1 True &&
	    ps_has demo-staging 1 'd[\"release\"] == 2 and d[\"state\"] == \"up\"'"
	more_requests "$out" 20
	stop_client "$out"
	echo "requests=$(requests "$out") failed=$(failed "$out")"
	[ "$(failed "$out")" -eq 0 ]
	for p in $old; do
		wait_for "old dyno process $p to end" 10 eval "! kill -0 $p"
	done
	[ "$(ls "$BERTH_ROOT/apps/demo-staging/dynos" | wc -l)" -eq 1 ]
}

@test "a worker that crashes during a deploy is restarted, and the push does not call it up" {
	start_gates
	# The worker crashes on the first run of each release (the gate
	# server remembers); web takes a second to boot, so the deploy's
	# worker crashes before the switch.
	set_procfile "$APP" "web: sleep 1; exec python3 -m http.server \$PORT
worker: exec 3<>/dev/tcp/127.0.0.1/$GATE_PORT; echo once ran-\$BERTH_RELEASE >&3; read -r r <&3; exec 3>&-; [ \$r = again ] && exec sleep 100000; echo first run; exit 3"
	start_berthd
	push "$APP" demo
	berth ps:scale worker=1 -a demo-staging >/dev/null
	wait_for "v1's worker.1 to be up after its crash" 10 ps_has demo-staging 1 \
	    'd["name"] == "worker.1" and d["restarts"] == 1 and d["state"] == "up"'
	commit_change "$APP" "v2"
	run push "$APP" demo
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"worker.1 crashed (exit status 3)"* ]]
	[[ "$output" != *"worker.1 up"* ]]
	wait_for "v2's worker.1 to be restarted and up" 10 ps_has demo-staging 1 \
	    'd["name"] == "worker.1" and d["release"] == 2 and d["restarts"] == 1 and d["state"] == "up"'
	[ -e "$GATES/ran-v2.once" ]
	stop_gates
	run berth logs -a demo-staging --ps worker.1
	[[ "$output" == *"app[worker.1]: first run"* ]]
	[[ "$output" == *"berth[worker.1]: Process exited with status 3"* ]]
}

@test "berth ps shows a crash-restarted web dyno as up once it serves" {
	start_berthd
	push "$APP" demo
	pid=$(listener "$(port_of demo-staging web.1)")
	[ -n "$pid" ]
	kill -KILL "$pid"
	wait_for "web.1 to be restarted and up" 10 ps_has demo-staging 1 \
	    'd["name"] == "web.1" and d["restarts"] == 1 and d["state"] == "up"'
	[ "$(router_code demo-staging /)" = 200 ]
	run berth ps -a demo-staging
	[[ "${lines[1]}" =~ ^web\.1\ +up\  ]]
	run berth logs -a demo-staging --ps web.1
	[[ "$output" == *"Restarting (restart 1)"*"State changed from starting to up"* ]]
}

@test "a dyno whose monitor is killed is stopped and restarted" {
	start_berthd
	push "$APP" demo
	pid=$(listener "$(port_of demo-staging web.1)")
	monitor=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["watcher"])' \
	    "$BERTH_ROOT"/run/dynos/*.json)
	grep -q berth-monitor "/proc/$monitor/cmdline"
	kill -KILL "$monitor"
	wait_for "the dyno to be stopped" 10 eval "! kill -0 $pid 2>/dev/null"
	wait_for "web.1 to be restarted and up" 10 ps_has demo-staging 1 \
	    'd["name"] == "web.1" and d["restarts"] == 1 and d["state"] == "up"'
	grep -q 'berth\[web.1\]: Its monitor was killed' "$LOG"
	[ "$(router_code demo-staging /)" = 200 ]
}

@test "a release phase left by a killed berthd is ended and its directory removed at the next start" {
	start_berthd
	push "$APP" demo
	set_procfile "$APP" "web: python3 -m http.server \$PORT
release: echo migrating; exec sleep 100000"
	push "$APP" demo > "$BATS_TEST_TMPDIR/push" 2>&1 &
	pusher=$!
	# The release phase's processes (not their sandbox's bwrap): they
	# are DYNO=release.1 of this root's oneoff/ directory.
	phase() {
		for p in /proc/[0-9]*; do
			tr '\0' '\n' < "$p/environ" 2>/dev/null |
			    grep -qx 'DYNO=release.1' || continue
			[[ "$(readlink "$p/exe")" == */bwrap ]] && continue
			grep -q "$BERTH_ROOT/apps/demo-staging/oneoff/release" \
			    "$p/mountinfo" 2>/dev/null ||
			    [[ "$(readlink "$p/cwd")" == "$BERTH_ROOT/apps/demo-staging/oneoff/release"* ]] ||
			    continue
			echo "${p#/proc/}"
		done
		return 0
	}
	wait_for "the release phase to run" 20 eval '[ -n "$(phase)" ]'
	running=$(phase)
	kill_berthd
	wait "$pusher" || true
	cat "$BATS_TEST_TMPDIR/push"
	grep -q "berthd closed the connection" "$BATS_TEST_TMPDIR/push"
	[ -n "$(ls "$BERTH_ROOT/run/oneoff")" ]
	start_berthd
	for p in $running; do
		wait_for "release phase process $p to end" 10 eval "! kill -0 $p"
	done
	[ -z "$(phase)" ]
	[ -z "$(ls "$BERTH_ROOT/apps/demo-staging/oneoff")" ]
	[ -z "$(ls "$BERTH_ROOT/run/oneoff")" ]
	grep -q "ended 1 one-off dyno" "$BATS_TEST_TMPDIR/berthd.log"
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'd[0]["status"]')" = failed ]
	[ "$(router_code demo-staging /)" = 200 ]
}
