#!/usr/bin/env bats
# Faults around routes, ports and start-up (issue 9, items 4, 8, 9, 14):
# a berthd started while its router's disk is full, and a route change
# on a full disk, are applied once space is freed and named by
# daemon:status meanwhile; a dyno port range that overlaps the kernel's
# ephemeral ports is refused; a dyno that loses its port before it
# binds restarts on another one; CI that cannot record its run says why
# and points at no run; a daemonizing berthd returns with its apps
# already serving. Full disks are small tmpfs mounts (root only), each
# unmounted by teardown; every helper process is stopped by its pid.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	[ "$(id -u)" = 0 ] || skip "mounting a small tmpfs needs root"
	MOUNTS=""
	HELPER_PIDS=""
	setup_root
	configure_berthd
	berth pipelines:create alpha >/dev/null
	ALPHA=$BATS_TEST_TMPDIR/alpha
	mkdir -p "$ALPHA"
	cp "$FIXTURES/apps/version/Procfile" "$FIXTURES/apps/version/server.js" \
	    "$ALPHA/"
	echo a1 > "$ALPHA/VERSION"
	git -C "$ALPHA" init -q
	git -C "$ALPHA" add -A
	git -C "$ALPHA" commit -qm a1
}

teardown() {
	local p m
	# First: one holds the ledger open, a process of the root.
	for p in $HELPER_PIDS; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_berthd
	# The innermost mount first.
	for m in $MOUNTS; do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
}

# small_disk DIR SIZE: DIR becomes a tmpfs of SIZE holding what DIR held.
small_disk() {
	local dir=$1 keep=$BATS_TEST_TMPDIR/keep.$RANDOM
	mkdir -p "$dir" "$keep"
	cp -a "$dir/." "$keep/"
	mount -t tmpfs -o size="$2" tmpfs "$dir"
	MOUNTS="$dir $MOUNTS"
	cp -a "$keep/." "$dir/"
	rm -rf "$keep"
}

# fill DIR: no byte left on DIR's file system.
fill() {
	local avail
	avail=$(df --output=avail -k "$1" | tail -n 1)
	[ "$avail" -le 0 ] || fallocate -l $(( avail * 1024 )) "$1/filler"
	dd if=/dev/zero of="$1/filler.rest" bs=4096 2>/dev/null || true
	[ "$(df --output=avail -k "$1" | tail -n 1)" -eq 0 ]
}

unfill() {
	rm -f "$1/filler" "$1/filler.rest"
}

now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

# deploy_a1: push ALPHA; it must serve a1 through nginx.
deploy_a1() {
	run push "$ALPHA" alpha
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	router_says alpha-staging / a1
}

status_json() {
	berth daemon:status --json
}

# pending_names: the apps daemon:status says are not routed, sorted.
pending_names() {
	json_get "$(status_json)" \
	    '" ".join(sorted(r["app"] for r in d["routes_pending"]))'
}

route_pending() {
	[ "$(pending_names)" = "$1" ]
}

nothing_pending() {
	[ "$(json_get "$(status_json)" \
	    'len(d["routes_pending"]) == 0 and d["router_error"] is None')" = True ]
}

# serves_after_freeing DIR: free DIR, then alpha must serve a1 through
# nginx and every route be applied within 15 s; says how long it took.
serves_after_freeing() {
	local t0
	unfill "$1"
	t0=$(now_ms)
	wait_for "alpha to serve after space is freed" 15 \
	    router_says alpha-staging / a1
	echo "# space freed to alpha serving: $(( $(now_ms) - t0 )) ms" >&3
	wait_for "daemon:status to show nothing pending" 15 nothing_pending
	echo "# space freed to every route applied: $(( $(now_ms) - t0 )) ms" >&3
}

# started_on_full_router MODE FILE: berthd (first in [router] lua =
# auto) started again in lua = MODE while router/ is full: it cannot
# write FILE, and so cannot start nginx.
started_on_full_router() {
	small_disk "$BERTH_ROOT/router" 4m
	start_berthd
	deploy_a1
	berth daemon:stop >/dev/null
	printf '[router]\nlua = %s\n' "$1" >> "$BERTH_ROOT/berth.ini"
	fill "$BERTH_ROOT/router"
	start_berthd
	wait_for "daemon:status to name the unapplied route" 10 \
	    route_pending alpha-staging
	run berth daemon:status
	[[ "$output" == *"router not running"* ]]
	[[ "$output" == *"router down (berthd retries): "*"cannot write $BERTH_ROOT/router/$2: disk full (No space left on device)"* ]]
	[[ "$output" == *"route of alpha-staging not applied for "*"(berthd retries)"* ]]
	[[ "$(json_get "$(status_json)" 'd["router_error"]')" == *"No space left on device"* ]]
	[ "$(router_code alpha-staging /)" = 000 ]
	grep -q "route of alpha-staging is not applied" \
	    "$BATS_TEST_TMPDIR/berthd.log"
	serves_after_freeing "$BERTH_ROOT/router"
	grep -q "nginx runs now; applying every route" \
	    "$BATS_TEST_TMPDIR/berthd.log"
	grep -q "route of alpha-staging is applied" \
	    "$BATS_TEST_TMPDIR/berthd.log"
}

@test "berthd started with its router's disk full routes every app once space is freed (Lua)" {
	started_on_full_router auto generation.conf
	[ "$(json_get "$(status_json)" 'd["router_mode"]')" = lua ]
}

@test "berthd that cannot write nginx.conf at start routes every app once space is freed (reloads)" {
	started_on_full_router off nginx.conf
	[ "$(json_get "$(status_json)" 'd["router_mode"]')" = reload ]
}

# served_or_named: alpha serves a1, or daemon:status names its route.
served_or_named() {
	router_says alpha-staging / a1 || route_pending alpha-staging
}

@test "after kill -9 of berthd, one started on a full disk adopts nginx and routes its dynos" {
	small_disk "$BERTH_ROOT/router" 4m
	for mode in auto off; do
		printf '[router]\nlua = %s\n' "$mode" >> "$BERTH_ROOT/berth.ini"
		start_berthd
		if [ "$mode" = auto ]; then
			deploy_a1
		else
			wait_for "alpha to serve" 15 router_says alpha-staging / a1
		fi
		kill -KILL "$BERTHD_PID"
		wait "$BERTHD_PID" || true
		fill "$BERTH_ROOT/router"
		start_berthd
		if [ "$mode" = auto ]; then
			# Routes go to nginx over its socket: no disk needed.
			wait_for "alpha to serve on a full disk" 15 \
			    router_says alpha-staging / a1
			nothing_pending
		else
			# Routes are files: named until they can be written.
			wait_for "alpha to serve or be named" 15 served_or_named
		fi
		serves_after_freeing "$BERTH_ROOT/router"
		berth daemon:stop >/dev/null
	done
}

# conf_ports: how many dyno ports alpha's server block names.
conf_ports() {
	grep -c 'server 127.0.0.1:' "$BERTH_ROOT/router/conf.d/alpha-staging.conf"
}

@test "a route change on a full disk is retried until it applies, and named meanwhile" {
	printf '[router]\nlua = off\n' >> "$BERTH_ROOT/berth.ini"
	small_disk "$BERTH_ROOT/router" 4m
	start_berthd
	deploy_a1
	fill "$BERTH_ROOT/router"
	run berth ps:scale web=2 -a alpha-staging
	[ "$status" -ne 0 ]
	[[ "$output" == *"route not applied yet: router: routing alpha-staging: "*"No space left on device"* ]]
	route_pending alpha-staging
	run berth daemon:status
	[[ "$output" == *"router up"* ]]
	[[ "$output" == *"route of alpha-staging not applied for "* ]]
	# The route nginx has keeps serving the dyno it names.
	[ "$(conf_ports)" = 1 ]
	router_says alpha-staging / a1
	serves_after_freeing "$BERTH_ROOT/router"
	[ "$(conf_ports)" = 2 ]
	# And down again, the other way: the extra dyno leaves the route.
	fill "$BERTH_ROOT/router"
	run berth ps:scale web=1 -a alpha-staging
	[ "$status" -ne 0 ]
	[[ "$output" == *"route not applied yet: "*"No space left on device"* ]]
	route_pending alpha-staging
	serves_after_freeing "$BERTH_ROOT/router"
	[ "$(conf_ports)" = 1 ]
}

@test "a dyno port range inside the kernel's ephemeral ports is refused, naming the keys" {
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
	printf '[runtime]\nport_min = %s\nport_max = %s\n' "$lo" $(( lo + 999 )) \
	    >> "$BERTH_ROOT/berth.ini"
	want="runtime.port_min-port_max ($lo-$(( lo + 999 ))) overlaps the kernel's ephemeral ports $lo-$hi"
	run berth apps
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"$want"*"set [runtime] port_min = "*" and port_max = "* ]]
	run berthd -f
	[ "$status" -eq 1 ]
	[[ "$output" == "berthd: "*"$want"* ]]
	run berthd
	[ "$status" -eq 1 ]
	[[ "$output" == "berthd: "*"$want"* ]]
	run push "$ALPHA" alpha
	[ "$status" -ne 0 ]
	[[ "$output" == *"$want"* ]]
	[ "$(remote_head alpha main)" = none ]
}

# start_gate: a TCP server (GATE_PORT) that a dyno of gate_app asks
# before it binds $PORT. The first time it binds that port itself (as an
# outgoing connection's socket would between berth's choice and the
# dyno's bind: bound, not listening) and writes it to
# $BATS_TEST_TMPDIR/taken; then it just answers.
start_gate() {
	GATE_PORT=$(free_port)
	python3 - "$GATE_PORT" "$BATS_TEST_TMPDIR/taken" \
	    "$BATS_TEST_TMPDIR/gate" <<-'EOF' 3>&- &
	import socket, sys
	srv = socket.socket()
	srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	srv.bind(("127.0.0.1", int(sys.argv[1])))
	srv.listen(8)
	open(sys.argv[3], "w").write("listening\n")
	held = None
	while True:
	    c, _ = srv.accept()
	    port = int(c.makefile().readline())
	    if held is None:
	        held = socket.socket()
	        held.bind(("127.0.0.1", port))
	        open(sys.argv[2], "w").write("%d\n" % port)
	    c.sendall(b"go\n")
	    c.close()
	EOF
	HELPER_PIDS="$HELPER_PIDS $!"
	wait_for "the gate to listen" 10 test -s "$BATS_TEST_TMPDIR/gate"
}

# gate_app DIR: a web app that asks the gate at $GATE_PORT (it exits
# when there is none), then serves DIR's files on $PORT.
gate_app() {
	mkdir -p "$1"
	cat > "$1/boot.py" <<-'EOF'
	import os, socket
	g = socket.create_connection(("127.0.0.1", int(os.environ["GATE_PORT"])))
	g.sendall(os.environ["PORT"].encode() + b"\n")
	g.recv(16)
	g.close()
	os.execvp("python3", ["python3", "-m", "http.server", os.environ["PORT"],
	                      "--bind", "127.0.0.1"])
	EOF
	echo "web: python3 boot.py" > "$1/Procfile"
	echo "gated" > "$1/index.html"
	git -C "$1" init -q
	git -C "$1" add -A
	git -C "$1" commit -qm gated
}

# deploy_gated: with a gate running, push gate_app to alpha-staging;
# the push must succeed (output as `run` gives it).
deploy_gated() {
	start_gate
	gate_app "$BATS_TEST_TMPDIR/gated"
	berth config:set GATE_PORT="$GATE_PORT" -a alpha-staging >/dev/null
	start_berthd
	run push "$BATS_TEST_TMPDIR/gated" alpha
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
}

# web_port APP: the port berth ps gives web.1.
web_port() {
	json_get "$(berth ps -a "$1" --json)" \
	    '[x["port"] for x in d if x["name"] == "web.1"][0]'
}

@test "a dyno whose port is taken before it binds restarts on another port; the push succeeds" {
	deploy_gated
	[[ "$output" == *"web.1 up"* ]]
	taken=$(cat "$BATS_TEST_TMPDIR/taken")
	[ -n "$taken" ]
	[ "$(web_port alpha-staging)" != "$taken" ]
	router_says alpha-staging / gated
	run berth logs -a alpha-staging
	[[ "$output" == *"Port $taken was taken by another process; restarting on port $(web_port alpha-staging)"* ]]
	[[ "$output" == *"Address already in use"* ]]
}

# hold_ledger_open: a process keeps ledger.db open (so its WAL and shm
# stay) with the WAL truncated to nothing: on a full disk every write
# to the ledger then fails, reads still work.
hold_ledger_open() {
	python3 - "$BERTH_ROOT/ledger.db" "$BATS_TEST_TMPDIR/held" <<-'EOF' 3>&- &
	import sqlite3, sys, time
	db = sqlite3.connect(sys.argv[1], timeout=10)
	db.execute("SELECT count(*) FROM apps").fetchall()
	db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
	open(sys.argv[2], "w").write("held\n")
	while True:
	    time.sleep(60)
	EOF
	HELPER_PIDS="$HELPER_PIDS $!"
	wait_for "the ledger to be held open" 10 test -s "$BATS_TEST_TMPDIR/held"
}

@test "CI that cannot record its run on a full disk says why and points at no run" {
	printf '{"environments": {"test": {"scripts": {"test": "echo ok 1 - fine"}}}}\n' \
	    > "$ALPHA/app.json"
	git -C "$ALPHA" add app.json
	git -C "$ALPHA" commit -qm "Test it"
	# The whole root on a small disk, git's objects on one with room.
	small_disk "$BERTH_ROOT" 32m
	small_disk "$BERTH_ROOT/repos" 32m
	hold_ledger_open
	fill "$BERTH_ROOT"
	run push "$ALPHA" alpha
	[ "$status" -ne 0 ]
	[[ "$output" == *"CI could not run: cannot record a test run: ledger: disk full: cannot write $BERTH_ROOT/ledger.db; free some space on its file system and try again"* ]]
	[[ "$output" == *"Push rejected: CI could not run: cannot record a test run: ledger: disk full"* ]]
	[[ "$output" != *"ci:info"* ]]
	[ "$(remote_head alpha main)" = none ]
	run berth ci -p alpha --json
	[ "$(json_get "$output" 'len(d)')" = 0 ]
	# With space again the same push tests, records and deploys.
	unfill "$BERTH_ROOT"
	start_berthd
	run push "$ALPHA" alpha
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"[test run #1, succeeded"* ]]
	router_says alpha-staging / a1
}

# daemon_berthd: start berthd as a daemon (it returns when ready);
# remember its pid for teardown. Output and status as `run` gives them.
daemon_berthd() {
	local t0
	t0=$(now_ms)
	run berthd 3>&-
	echo "# berthd returned after $(( $(now_ms) - t0 )) ms" >&3
	BERTHD_PID=$(cat "$BERTH_ROOT/run/berthd.pid")
	BERTHD_PIDS="${BERTHD_PIDS:-} $BERTHD_PID"
}

@test "a daemonizing berthd returns with every app already serving" {
	start_berthd
	deploy_a1
	berth daemon:stop >/dev/null
	[ "$(router_code alpha-staging /)" = 000 ]
	daemon_berthd
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# No waiting: it serves as berthd returns.
	router_says alpha-staging / a1
	[ "$(json_get "$(status_json)" 'd["converged"]')" = True ]
	grep -q "ready in .* s: every app is routed" "$BERTH_ROOT/run/berthd.log"
}

@test "a daemonizing berthd whose app cannot boot says which, and still runs" {
	deploy_gated
	berth daemon:stop >/dev/null
	# No gate any more: its dyno exits at boot.
	kill -TERM $HELPER_PIDS
	wait $HELPER_PIDS 2>/dev/null || true
	HELPER_PIDS=""
	daemon_berthd
	[ "$status" -eq 0 ]
	[[ "$output" == "berthd: not serving yet: alpha-staging: web.1 crashed during boot"* ]]
	[[ "$output" == *"berthd: it runs and tries again; see: berth daemon:status"* ]]
	berth daemon:status >/dev/null
}
