#!/usr/bin/env bats
# The router without reloads: with Debian's Lua module, a deploy, scale,
# stop or start of an app already routed changes its ports in nginx
# without a reload (router_generation and nginx's workers stay), so a
# keep-alive client of any app sees no error; only a new app's first
# route reloads. Routes come back after berthd restarts or dies (with
# its nginx, too) and after [router] lua changes; with lua = off the
# reload path still routes.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	configure_berthd
	berth pipelines:create alpha >/dev/null
	berth pipelines:create beta >/dev/null
	ALPHA=$BATS_TEST_TMPDIR/alpha
	BETA=$BATS_TEST_TMPDIR/beta
	version_app "$ALPHA" a0
	version_app "$BETA" b0
}

teardown() {
	stop_keepalive
	stop_berthd
}

# version_app DIR VERSION: the Node app that answers VERSION, committed.
version_app() {
	mkdir -p "$1"
	cp "$FIXTURES/apps/version/Procfile" "$FIXTURES/apps/version/server.js" \
	    "$1/"
	echo "$2" > "$1/VERSION"
	git -C "$1" init -q
	git -C "$1" add -A
	git -C "$1" commit -qm "$2"
}

# push_version DIR PIPELINE VERSION: like deploy, output as it is.
push_version() {
	echo "$3" > "$1/VERSION"
	git -C "$1" commit -qam "$3"
	push "$1" "$2"
}

# deploy DIR PIPELINE VERSION: push_version; the push must succeed and
# the router answer VERSION when it returns.
deploy() {
	run push_version "$1" "$2" "$3"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[[ "$output" == *"Launching v"*"... done"* ]]
	router_says "$2-staging" / "$3"
}

generation() {
	json_get "$(berth daemon:status --json)" 'd["router_generation"]'
}

# workers: nginx's worker pids, sorted, on one line.
workers() {
	pgrep -P "$(cat "$BERTH_ROOT/router/nginx.pid")" | sort -n | tr '\n' ' '
}

# start_keepalive APP OUT: one keep-alive client of APP in the
# background (tests/fixtures/keepalive-client.py), lines in OUT; waits
# for its first answers.
start_keepalive() {
	: > "$2"
	python3 "$FIXTURES/keepalive-client.py" "$ROUTER_PORT" \
	    "$1.localhost" "$2" 3>&- &
	KEEPALIVE_PIDS="${KEEPALIVE_PIDS:-} $!"
	wait_for "the keep-alive client to make requests" 10 \
	    more_lines "$2" 0 5
}

# stop_keepalive: end the clients this test started (SIGTERM, by pid).
stop_keepalive() {
	local p
	for p in ${KEEPALIVE_PIDS:-}; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	KEEPALIVE_PIDS=""
}

# more_lines OUT FROM N: OUT has at least FROM + N lines.
more_lines() {
	[ "$(wc -l < "$1")" -ge $(( $2 + $3 )) ]
}

# keepalive_report OUT: requests, failures (by kind) and connections.
keepalive_report() {
	awk '{ n++; if ($3 != "200") { bad++; why[$3]++ } c = $4 }
	    END { printf "requests=%d failed=%d connections=%d\n", n, bad, c
	          for (w in why) printf "  %d %s\n", why[w], w }' "$1"
}

failures() {
	awk '$3 != "200"' "$1" | wc -l
}

# redeploy_around_client OUT: with a keep-alive client of alpha
# writing OUT, redeploy beta five times (b2..b6) and alpha twice (a3,
# a5), then wait for 20 more of its requests and stop it.
redeploy_around_client() {
	local i n
	start_keepalive alpha-staging "$1"
	for i in 2 3 4 5 6; do
		deploy "$BETA" beta "b$i"
		if [ "$i" = 3 ] || [ "$i" = 5 ]; then
			deploy "$ALPHA" alpha "a$i"
		fi
	done
	n=$(wc -l < "$1")
	wait_for "more requests after the deploys" 10 more_lines "$1" "$n" 20
	stop_keepalive
	keepalive_report "$1"
}

router_mode_is() {
	[ "$(json_get "$(berth daemon:status --json)" 'd["router_mode"]')" = "$1" ]
}

# every_app_answers: alpha and beta serve their last versions.
every_app_answers() {
	router_says alpha-staging / a1 && router_says beta-staging / b1
}

router_up() {
	[[ "$(berth daemon:status)" == *"router up (ports change without reloads)"* ]]
}

# kill_nginx: SIGKILL the router's nginx, master and workers (the
# master stopped first, or it would fork new workers), and wait until
# nothing answers on the router port.
kill_nginx() {
	local master
	master=$(cat "$BERTH_ROOT/router/nginx.pid")
	kill -STOP "$master"
	kill -KILL $(pgrep -P "$master") "$master"
	wait_for "nginx to go away" 10 eval '[ "$(router_code alpha-staging /)" = 000 ]'
}

@test "a keep-alive client sees no error while its app and another redeploy" {
	start_berthd
	router_mode_is lua
	deploy "$ALPHA" alpha a1
	deploy "$BETA" beta b1
	out=$BATS_TEST_TMPDIR/keepalive
	redeploy_around_client "$out"
	[ "$(failures "$out")" -eq 0 ]
	# One connection all along (nginx closes one politely after 1000
	# requests, keepalive_requests).
	[ "$(tail -n 1 "$out" | cut -d' ' -f4)" -le \
	    $(( $(wc -l < "$out") / 1000 + 1 )) ]
	# It saw each of alpha's versions, and answers the last one.
	for v in a1 a3 a5; do
		grep -q " 200 [0-9]* $v\$" "$out"
	done
	[ "$(tail -n 1 "$out" | cut -d' ' -f5)" = a5 ]
}

@test "a redeploy, a scale, a restart and a new app leave nginx's configuration alone" {
	start_berthd
	deploy "$ALPHA" alpha a1
	gen=$(generation)
	pids=$(workers)
	[ -n "$pids" ]
	run push_version "$ALPHA" alpha a2
	[[ "$output" =~ switched\ in\ [0-9.]+\ ms\;\ 1\ old\ dyno\ stopping ]]
	router_says alpha-staging / a2
	berth ps:scale web=2 -a alpha-staging >/dev/null
	berth ps:restart -a alpha-staging >/dev/null
	router_says alpha-staging / a2
	[ "$(generation)" = "$gen" ]
	[ "$(workers)" = "$pids" ]
	# One server block serves every app: a new app is no reload either.
	deploy "$BETA" beta b1
	[ "$(generation)" = "$gen" ]
	[ "$(workers)" = "$pids" ]
	router_says alpha-staging / a2
}

@test "an unknown host gets berth's 404; ps:stop a 503, ps:start the app, no reload" {
	start_berthd
	deploy "$ALPHA" alpha a1
	[ "$(router_code nobody /)" = 404 ]
	run router_get nobody /
	[[ "$output" == *"No app at this address — berth"* ]]
	gen=$(generation)
	pids=$(workers)
	run berth ps:stop -a alpha-staging
	[ "$status" -eq 0 ]
	[ "$(router_code alpha-staging /)" = 503 ]
	run router_get alpha-staging /
	[[ "$output" == *"alpha-staging is not running"* ]]
	[[ "$output" == *"alpha-staging has no web dynos running — berth"* ]]
	run berth ps:start -a alpha-staging
	[ "$status" -eq 0 ]
	[ "$(router_code alpha-staging /)" = 200 ]
	router_says alpha-staging / a1
	[ "$(generation)" = "$gen" ]
	[ "$(workers)" = "$pids" ]
}

@test "after daemon:stop and berthd again every app answers" {
	start_berthd
	deploy "$ALPHA" alpha a1
	deploy "$BETA" beta b1
	berth daemon:stop >/dev/null
	[ "$(router_code alpha-staging /)" = 000 ]
	start_berthd
	wait_for "every app to answer" 15 every_app_answers
	router_up
}

@test "after kill -9 of berthd (then of nginx too) a new berthd routes every app" {
	start_berthd
	deploy "$ALPHA" alpha a1
	deploy "$BETA" beta b1
	kill -KILL "$BERTHD_PID"
	wait "$BERTHD_PID" || true
	# nginx and the dynos do not need berthd to serve.
	every_app_answers
	start_berthd
	wait_for "every app to answer" 15 every_app_answers
	router_up
	# The new berthd's ports work: a redeploy switches them.
	deploy "$ALPHA" alpha a2
	router_says beta-staging / b1
	# Both die: the next nginx starts in spite of what the last left.
	kill -KILL "$BERTHD_PID"
	wait "$BERTHD_PID" || true
	kill_nginx
	start_berthd
	wait_for "alpha to answer" 15 router_says alpha-staging / a2
	router_says beta-staging / b1
	router_up
}

@test "with [router] lua = off a keep-alive client's app keeps answering across reloads" {
	printf '[router]\nlua = off\n' >> "$BERTH_ROOT/berth.ini"
	start_berthd
	router_mode_is reload
	run berth daemon:status
	[[ "$output" == *"router up (reloads on every change: berth.ini [router] lua = off)"* ]]
	deploy "$ALPHA" alpha a1
	deploy "$BETA" beta b1
	gen=$(generation)
	out=$BATS_TEST_TMPDIR/keepalive
	redeploy_around_client "$out"
	# Every change was a reload.
	[ "$(generation)" = $(( gen + 7 )) ]
	# Reloads may close its idle connection; it still gets its answers.
	[ "$(tail -n 20 "$out" | awk '$3 == "200" && $5 == "a5"' | wc -l)" -eq 20 ]
	[ "$(awk '$3 == "200"' "$out" | wc -l)" -gt $(( $(wc -l < "$out") / 2 )) ]
}

@test "a change of [router] lua between two starts keeps every app routed" {
	start_berthd
	deploy "$ALPHA" alpha a1
	deploy "$BETA" beta b1
	for mode in off on; do
		berth daemon:stop >/dev/null
		printf '[router]\nlua = %s\n' "$mode" >> "$BERTH_ROOT/berth.ini"
		start_berthd
		wait_for "every app to answer (lua = $mode)" 15 every_app_answers
		if [ "$mode" = off ]; then router_mode_is reload; else router_up; fi
	done
}
