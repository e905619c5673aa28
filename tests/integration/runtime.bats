#!/usr/bin/env bats
# berthd runs the dynos behind its own nginx: zero-downtime rollouts,
# crash restarts with back-off, failed boots that keep the old release,
# scaling, one-off dynos, logs, and recovery after berthd dies.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
}

teardown() {
	kill_clients
	stop_berthd
}

# set_index DIR TEXT: replace index.html and commit.
set_index() {
	echo "$2" > "$1/index.html"
	git -C "$1" add -A
	git -C "$1" commit -qm "$2"
}

# formation APP: the ledger's formation rows, "type=quantity" sorted.
formation() {
	python3 - "$BERTH_ROOT/ledger.db" "$1" <<-'EOF'
	import sqlite3, sys
	db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
	rows = db.execute("SELECT f.type, f.quantity FROM formation f "
	                  "JOIN apps a ON a.id = f.app_id WHERE a.name = ? "
	                  "ORDER BY f.type", (sys.argv[2],)).fetchall()
	print(" ".join("%s=%d" % r for r in rows))
	EOF
}

# ps_summary APP: each dyno as NAME:STATE:STARTED_AT, sorted, one line.
ps_summary() {
	local out
	out=$(berth ps -a "$1" --json) || return 1
	python3 -c 'import json,sys
ds = json.loads(sys.argv[1])
print(" ".join(sorted("%s:%s:%s" % (d["name"], d["state"], d["started_at"]) for d in ds)))' "$out"
}

now_s() {
	date +%s.%N
}

@test "a push makes the release live behind the router" {
	start_berthd
	run push "$APP" demo
	[ "$status" -eq 0 ]
	url="http://demo-staging.localhost:$ROUTER_PORT/"
	last=$(printf '%s\n' "$output" | grep '^remote:' | tail -n 1 |
	    sed 's/[[:space:]]*$//')
	[ "$last" = "remote: -----> Launching v1... done, $url" ] || { echo "$output"; false; }
	[[ "$output" == *"web.1 up"* ]]
	run router_get demo-staging /
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	run berth ps -a demo-staging
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "DYNO"*"STATE"* ]]
	[[ "${lines[1]}" =~ ^web\.1\ +up\ +.*\ +v1\ +0\ +python3\ -m\ http\.server ]]
	[ "${#lines[@]}" -eq 2 ]
	run berth open -a demo-staging
	[ "$status" -eq 0 ]
	[ "$output" = "$url" ]
}

@test "five pushes in a row drop no request" {
	start_berthd
	set_index "$APP" "version 0"
	push "$APP" demo
	run router_get demo-staging /
	[ "$output" = "version 0" ]
	out=$BATS_TEST_TMPDIR/client
	start_client demo-staging "$out" 3000 60
	wait_for "the client to make requests" 10 \
	    eval "[ \$(wc -l < '$out') -ge 5 ]"
	for i in 1 2 3 4 5; do
		set_index "$APP" "version $i"
		run push "$APP" demo
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		[[ "$output" == *"Launching v$((i + 1))... done"* ]]
		run router_get demo-staging /
		[ "$output" = "version $i" ]
	done
	stop_client "$out"
	client_report "$out"
	total=$(wc -l < "$out")
	[ "$total" -gt 20 ]
	[ "$(grep -cv '^200 0$' "$out")" -eq 0 ]
	# Exactly one dyno of the last release is left.
	wait_for "the old dynos to stop" 10 ps_has demo-staging 1 'True'
	[ "$(ps_count demo-staging 'd["release"] == 6 and d["state"] == "up"')" = 1 ]
}

@test "a crashing worker restarts with back-off and its log says why" {
	set_procfile "$APP" "web: python3 -m http.server \$PORT
worker: echo tick; exit 3"
	start_berthd
	push "$APP" demo
	t0=$(now_s)
	run berth ps:scale worker=1 -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$(formation demo-staging)" == *"worker=1"* ]]
	wait_for "worker.1 to restart twice" 10 ps_has demo-staging 1 \
	    'd["name"] == "worker.1" and d["restarts"] >= 2 and d["state"] in ("crashed", "starting")'
	t2=$(now_s)
	# Back-off 0 s, 1 s, 2 s, 4 s: the 2nd restart comes 1 s after the 1st.
	python3 -c "import sys; sys.exit(0 if $t2 - $t0 >= 0.9 else 1)"
	# 3.5 s after the scale there have been 3 restarts (at ~0, 1, 3 s),
	# and certainly no more than 4.
	wait_for "3.5 s to pass" 10 python3 -c \
	    "import time, sys; sys.exit(0 if time.time() >= $t0 + 3.5 else 1)"
	restarts=$(json_get "$(ps_json demo-staging)" \
	    '[x["restarts"] for x in d if x["name"] == "worker.1"][0]')
	echo "restarts after 3.5 s: $restarts"
	[ "$restarts" -ge 2 ]
	[ "$restarts" -le 4 ]
	# The web dyno is unaffected.
	[ "$(ps_count demo-staging 'd["name"] == "web.1" and d["state"] == "up" and d["restarts"] == 0')" = 1 ]
	run router_get demo-staging /
	[ "$output" = hello ]
	run berth logs -a demo-staging --ps worker.1
	[ "$status" -eq 0 ]
	[[ "$output" == *"app[worker.1]: tick"* ]]
	[[ "$output" == *"berth[worker.1]: State changed from "*" to crashed"* ]]
	[[ "$output" == *"berth[worker.1]: Process exited with status 3"* ]]
	[[ "$output" != *"[web.1]"* ]]
}

@test "a web dyno that never binds \$PORT fails the push after boot_timeout" {
	configure_berthd
	printf '[runtime]\nboot_timeout = 2\n' >> "$BERTH_ROOT/berth.ini"
	start_berthd
	set_index "$APP" "v1 content"
	push "$APP" demo
	v1=$(git -C "$APP" rev-parse HEAD)
	set_procfile "$APP" "web: echo going to sleep; sleep 1000"
	start=$(date +%s)
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[ $(( $(date +%s) - start )) -lt 15 ]
	[[ "$output" == *"did not accept connections"* ]]
	[[ "$output" == *"within 2 s"* ]]
	[[ "$output" == *"boot_timeout"* ]]
	[[ "$output" == *"going to sleep"* ]]
	[[ "$output" == *"pre-receive hook declined"* ]]
	[ "$(remote_head demo main)" = "$v1" ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'd[0]["version"]')" = 2 ]
	[ "$(json_get "$output" 'd[0]["status"]')" = failed ]
	[ "$(json_get "$output" 'd[1]["status"]')" = succeeded ]
	run router_get demo-staging /
	[ "$output" = "v1 content" ]
	# The dyno that never came up is stopped; v1's keeps running.
	wait_for "the failed dyno to stop" 10 ps_has demo-staging 1 'True'
	[ "$(ps_count demo-staging 'd["release"] == 1 and d["state"] == "up"')" = 1 ]
	for p in $(dyno_pids demo-staging); do
		! grep -q 'sleep' "/proc/$p/cmdline" 2>/dev/null || false
	done
}

@test "a web dyno that crashes on boot fails the push with its last lines" {
	start_berthd
	set_index "$APP" "v1 content"
	push "$APP" demo
	v1=$(git -C "$APP" rev-parse HEAD)
	set_procfile "$APP" "web: echo bad config; exit 1"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad config"* ]]
	[[ "$output" == *"web.1 crashed during boot (exit status 1)"* ]]
	[[ "$output" == *"pre-receive hook declined"* ]]
	[ "$(remote_head demo main)" = "$v1" ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'd[0]["status"]')" = failed ]
	run router_get demo-staging /
	[ "$output" = "v1 content" ]
	wait_for "only v1's dyno to be left" 10 ps_has demo-staging 1 'True'
	[ "$(ps_count demo-staging 'd["release"] == 1 and d["state"] == "up" and d["restarts"] == 0')" = 1 ]
}

@test "ps:scale web=3 spreads requests over three dynos, web=1 stops two" {
	start_berthd
	push "$APP" demo
	run berth ps:scale web=3 -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$output" == "Scaling demo-staging: web=3"* ]]
	run berth ps -a demo-staging
	[[ "$output" =~ web\.1\ +up ]]
	[[ "$output" =~ web\.2\ +up ]]
	[[ "$output" =~ web\.3\ +up ]]
	[ "$(ps_count demo-staging 'd["type"] == "web" and d["state"] == "up"')" = 3 ]
	# Three distinct ports, all in this test's window.
	[ "$(json_get "$(ps_json demo-staging)" \
	    "len(set(x['port'] for x in d if $DYNO_PORT_MIN <= x['port'] <= $DYNO_PORT_MAX))")" = 3 ]
	for i in $(seq 30); do
		[ "$(router_code demo-staging /)" = 200 ]
	done
	for n in 1 2 3; do
		wait_for "web.$n to log a request" 5 eval \
		    "berth logs -a demo-staging --ps web.$n -n 1000 | grep -q 'app\[web.$n\]: .*\"GET / HTTP/1.[01]\" 200'"
	done
	out=$BATS_TEST_TMPDIR/client
	start_client demo-staging "$out" 1000 30
	wait_for "the client to make requests" 10 \
	    eval "[ \$(wc -l < '$out') -ge 5 ]"
	run berth ps:scale web=1 -a demo-staging
	[ "$status" -eq 0 ]
	wait_for "web.2 and web.3 to stop" 10 ps_has demo-staging 1 'True'
	[ "$(ps_count demo-staging 'd["name"] == "web.1" and d["state"] == "up"')" = 1 ]
	start_n=$(wc -l < "$out")
	wait_for "more requests after the scale" 10 \
	    eval "[ \$(wc -l < '$out') -ge $((start_n + 10)) ]"
	stop_client "$out"
	client_report "$out"
	[ "$(wc -l < "$out")" -gt 20 ]
	[ "$(grep -cv '^200 0$' "$out")" -eq 0 ]
	[ "$(formation demo-staging)" = "web=1" ]
}

@test "ps:scale refuses bad input with one line and changes nothing" {
	start_berthd
	push "$APP" demo
	before_form=$(formation demo-staging)
	before_ps=$(ps_summary demo-staging)
	run --separate-stderr berth ps:scale worker=1 -a demo-staging
	[ "$status" -ne 0 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"'worker'"* ]]
	[[ "$stderr" == *"(it has: web)"* ]]
	for bad in web=-1 web=abc web=100000 web= web; do
		run --separate-stderr berth ps:scale "$bad" -a demo-staging
		echo "$bad: status $status, stderr: $stderr"
		[ "$status" -ne 0 ]
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == *"$bad"* ]]
	done
	run --separate-stderr berth ps:scale web=100000 -a demo-staging
	[[ "$stderr" == *"max_dynos"* ]]
	[ "$(formation demo-staging)" = "$before_form" ]
	[ "$(ps_summary demo-staging)" = "$before_ps" ]
}

@test "run starts a one-off dyno with the config and passes its exit status" {
	start_berthd
	push "$APP" demo
	berth config:set GREETING=hi -a demo-staging >/dev/null
	run berth run -a demo-staging -- 'echo $GREETING $DYNO; exit 7'
	[ "$status" -eq 7 ]
	[[ "$output" =~ ^hi\ run\.[0-9]+$ ]]
	# The one-off dyno is not part of the formation, and its dir is gone.
	[ "$(ps_count demo-staging 'd["type"] == "run"')" = 0 ]
	[ -z "$(ls "$BERTH_ROOT/apps/demo-staging/dynos" | grep '^run\.')" ]
}

@test "config:set restarts the dynos on a new release with the new config" {
	node=$BATS_TEST_TMPDIR/node
	cp -R "$BERTH_SRCDIR/contrib/sample-app" "$node"
	git -C "$node" init -q
	git -C "$node" add -A
	git -C "$node" commit -qm "Sample app"
	start_berthd
	run push "$node" demo
	[ "$status" -eq 0 ]
	run router_get demo-staging /
	echo "$output"
	[[ "$output" == "Hello from berth! Hello — release v1, commit "* ]]
	old=$(dyno_pids demo-staging)
	[ -n "$old" ]
	run berth config:set GREETING=Howdy -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$output" == *"v2"* ]]
	run router_get demo-staging /
	[[ "$output" == "Hello from berth! Howdy — release v2, commit "* ]]
	wait_for "the v1 dyno to stop" 10 ps_has demo-staging 1 'True'
	[ "$(ps_count demo-staging 'd["release"] == 2 and d["state"] == "up"')" = 1 ]
	for p in $old; do
		wait_for "old dyno process $p to end" 10 eval "! kill -0 $p"
	done
	# berthd logs what the old dyno wrote last once it reads its pipe.
	old_words() {
		berth logs -a demo-staging --ps web.1 |
		    grep -q 'app\[web.1\]: SIGTERM received, shutting down'
	}
	wait_for "the old dyno's last words in the log" 10 old_words
}

@test "after kill -9 of berthd a new one adopts the dynos without duplicates" {
	start_berthd
	push "$APP" demo
	berth ps:scale web=2 -a demo-staging >/dev/null
	[ "$(ps_count demo-staging 'd["state"] == "up"')" = 2 ]
	old=$(dyno_pids demo-staging | sort)
	[ -n "$old" ]
	kill -KILL "$BERTHD_PID"
	wait "$BERTHD_PID" || true
	! berthd_ready || false
	start=$(now_s)
	start_berthd
	wait_for "web.1 and web.2 to be up again" 5 ps_has demo-staging 2 \
	    'd["state"] == "up"'
	python3 -c "import time, sys; sys.exit(0 if time.time() - $start <= 5 else 1)"
	run ps_json demo-staging
	echo "$output"
	[ "$(json_get "$output" 'sorted(x["name"] for x in d)')" = "['web.1', 'web.2']" ]
	[ "$(router_code demo-staging /)" = 200 ]
	run router_get demo-staging /
	[ "$output" = hello ]
	# The very same processes serve: adopted, not replaced.
	wait_for "the log to say so" 5 grep -q \
	    'berth\[web.2\]: Adopted' "$BERTH_ROOT/apps/demo-staging/log"
	[ "$(dyno_pids demo-staging | sort)" = "$old" ]
	[ "$(ls "$BERTH_ROOT/apps/demo-staging/dynos" | wc -l)" -eq 2 ]
	# One nginx master for this root.
	[ "$(pgrep -f "nginx: master process .* -p $BERTH_ROOT/router/" | wc -l)" -eq 1 ]
}

@test "logs lines have a UTC timestamp, a source and a dyno" {
	start_berthd
	push "$APP" demo
	for i in 1 2 3; do
		router_get demo-staging / >/dev/null
	done
	wait_for "a request in the log" 5 eval \
	    "berth logs -a demo-staging --source app | grep -q 'GET /'"
	run berth logs -a demo-staging
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 4 ]
	re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}\+00:00 (app|berth)\[[a-z0-9.]+\]: '
	for l in "${lines[@]}"; do
		[[ "$l" =~ $re ]] || { echo "bad line: $l"; false; }
	done
	[[ "$output" == *" app[web.1]: "* ]]
	[[ "$output" == *" berth[web.1]: "* ]]
	run berth logs -a demo-staging --source berth
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 1 ]
	for l in "${lines[@]}"; do
		[[ "$l" =~ $re ]]
		[[ "$l" =~ \ berth\[ ]] || { echo "not a berth line: $l"; false; }
	done
	run berth logs -a demo-staging --source app
	for l in "${lines[@]}"; do
		[[ "$l" =~ \ app\[ ]] || { echo "not an app line: $l"; false; }
	done
	run berth logs -a demo-staging -n 3
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	for l in "${lines[@]}"; do
		[[ "$l" =~ $re ]]
	done
}

@test "a second berthd refuses to start; daemon:stop stops everything" {
	start_berthd
	push "$APP" demo
	[ -n "$(dyno_pids demo-staging)" ]
	run timeout 10 berthd -f
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	[[ "$output" == *"already running"* ]]
	[[ "$output" == *"pid $BERTHD_PID"* ]]
	# The first one is unharmed.
	berthd_ready
	[ "$(router_code demo-staging /)" = 200 ]
	run berth daemon:stop
	[ "$status" -eq 0 ]
	[[ "$output" == *"Stopped berthd (pid $BERTHD_PID)"* ]]
	! kill -0 "$BERTHD_PID" 2>/dev/null || \
	    grep -q '^[^)]*) Z' "/proc/$BERTHD_PID/stat"
	run root_procs
	[ -z "$output" ]
	[ "$(router_code demo-staging /)" = 000 ]
	run berth ps -a demo-staging
	[ "$status" -ne 0 ]
	[[ "$output" == *"berthd is not running"* ]]
}

@test "ps:stop takes the app down with a 503, ps:start brings it back" {
	start_berthd
	push "$APP" demo
	[ "$(router_code demo-staging /)" = 200 ]
	run berth ps:stop -a demo-staging
	[ "$status" -eq 0 ]
	[ "$(router_code demo-staging /)" = 503 ]
	run router_get demo-staging /
	[[ "$output" == *"demo-staging is not running"* ]]
	wait_for "no dynos to be left" 10 ps_has demo-staging 0 'True'
	run berth ps -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$output" == "demo-staging has no dynos running"* ]]
	[ -z "$(dyno_pids demo-staging)" ]
	run berth ps:start -a demo-staging
	[ "$status" -eq 0 ]
	[ "$(router_code demo-staging /)" = 200 ]
	[ "$(ps_count demo-staging 'd["name"] == "web.1" and d["state"] == "up"')" = 1 ]
}

@test "ps:scale of a worker that exits at once succeeds and each one crash-loops" {
	set_procfile "$APP" "web: python3 -m http.server \$PORT
worker: echo tick; exit 3"
	start_berthd
	push "$APP" demo
	# Six, so that the first has crashed before the last has started.
	run --separate-stderr berth ps:scale worker=6 -a demo-staging
	echo "status $status; stdout: $output; stderr: $stderr"
	# Whatever the outcome, an error says what went wrong.
	[ "$status" -eq 0 ] || [ -n "$(printf '%s' "$stderr" | sed 's/^berth: *//')" ]
	# Like Heroku (and like worker=1 most of the time): the formation is
	# set, the dynos start, crash and restart with back-off.
	[ "$status" -eq 0 ]
	[ "$(formation demo-staging)" = "worker=6" ]
	wait_for "worker.1..6 to restart" 10 ps_has demo-staging 6 \
	    'd["type"] == "worker" and d["restarts"] >= 1'
	[ "$(router_code demo-staging /)" = 200 ]
}

@test "ps:stop TYPE while one of its dynos is crashed leaves berthd running" {
	set_procfile "$APP" "web: python3 -m http.server \$PORT
worker: echo tick; exit 3"
	start_berthd
	push "$APP" demo
	berth ps:scale worker=1 -a demo-staging || true
	# From the 2nd restart on, worker.1 waits >= 2 s crashed.
	wait_for "worker.1 to wait crashed" 10 ps_has demo-staging 1 \
	    'd["name"] == "worker.1" and d["state"] == "crashed" and d["restarts"] >= 2'
	run berth ps:stop worker -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$output" == *"Stopped worker on demo-staging"* ]]
	# berthd did not take that for a shutdown, and web still serves.
	! wait_for "berthd to go away" 2 eval '! berthd_ready' || false
	kill -0 "$BERTHD_PID"
	! grep -q "stopping" "$BATS_TEST_TMPDIR/berthd.log" || false
	[ "$(router_code demo-staging /)" = 200 ]
	# As on Heroku, the formation starts worker.1 again.
	wait_for "worker.1 to run again" 10 ps_has demo-staging 1 \
	    'd["name"] == "worker.1" and d["state"] in ("starting", "crashed", "up")'
}

@test "a process a web dyno starts in the background keeps serving" {
	# A start script that daemonizes its server, then waits.
	set_procfile "$APP" "web: (python3 -m http.server \$PORT &); exec sleep 100000"
	start_berthd
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching v1... done"* ]]
	[ "$(router_code demo-staging /)" = 200 ]
	# Any child of berthd that exits (here: a dyno of a scale) must not
	# take the dyno's background server with it.
	berth ps:scale web=2 -a demo-staging >/dev/null
	for i in $(seq 10); do
		code=$(router_code demo-staging /)
		[ "$code" = 200 ] || { echo "request $i: $code"; false; }
	done
	[ "$(ps_count demo-staging 'd["type"] == "web" and d["state"] == "up"')" = 2 ]
	# Both web dynos still have their server.
	[ "$(for p in $(dyno_pids demo-staging); do
		tr '\0' ' ' < /proc/$p/cmdline; echo; done | grep -c 'http.server')" -eq 2 ]
}

@test "web=2 with one dyno killed drops no request: the router moves on to the other" {
	start_berthd
	push "$APP" demo
	berth ps:scale web=2 -a demo-staging >/dev/null
	wait_for "two web dynos up" 10 eval \
	    "[ \$(ps_count demo-staging 'd[\"type\"] == \"web\" and d[\"state\"] == \"up\"') = 2 ]"
	port=$(json_get "$(ps_json demo-staging)" \
	    "[x['port'] for x in d if x['name'] == 'web.1'][0]")
	out=$BATS_TEST_TMPDIR/client
	start_client demo-staging "$out" 1000 30
	wait_for "the client to make requests" 10 \
	    eval "[ \$(wc -l < '$out') -ge 5 ]"
	pid=$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -n 1 |
	    cut -d= -f2)
	[ -n "$pid" ]
	kill -9 "$pid"
	start_n=$(wc -l < "$out")
	wait_for "web.1 to restart" 15 eval \
	    "[ \$(ps_count demo-staging 'd[\"name\"] == \"web.1\" and d[\"restarts\"] >= 1') = 1 ]"
	wait_for "more requests after the kill" 10 \
	    eval "[ \$(wc -l < '$out') -ge $((start_n + 20)) ]"
	stop_client "$out"
	client_report "$out"
	[ "$(grep -cv '^200 0$' "$out")" -eq 0 ]
}
