#!/usr/bin/env bats
# Limits per dyno (cgroups, berth.ini [sandbox], ps:resize): a web dyno
# that allocates past its size is killed by the kernel and shown as
# `crashed (out of memory)`, with Heroku's R15 line in the log; a fork
# bomb stops at its dyno's pids limit while another app keeps answering
# through the router. Skipped where this machine cannot enforce limits
# (berth not root, no memory/pids controllers): daemon:status says so.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
}

teardown() {
	stop_berthd
	stop_gates
}

# need_limits: skip unless berthd enforces limits here.
need_limits() {
	local st
	st=$(berth daemon:status --json)
	if [ "$(json_get "$st" 'd["limits"]["enforced"]')" != True ]; then
		skip "limits are not enforced: $(json_get "$st" 'd["limits"]["warning"]')"
	fi
}

# make_eater DIR: a web app that serves, and on GET /eat tells the gate
# server (start_gates: the app runs sandboxed) and allocates 256 MiB;
# started once it told, it allocates at once (so its restarts crash
# too, and the crash stays visible).
make_eater() {
	mkdir -p "$1"
	cat > "$1/eat.py" <<-'EOF'
	import http.server, os, socket, sys
	def gate(what):
	    s = socket.create_connection(("127.0.0.1", int(os.environ["GATE_PORT"])))
	    s.sendall(what.encode() + b"\n")
	    return s.makefile().readline().strip()
	def eat():
	    hog = bytearray(256 << 20)
	    print("ate %d bytes" % len(hog), flush=True)
	if gate("seen eat") == "yes":
	    eat()
	class H(http.server.BaseHTTPRequestHandler):
	    def do_GET(self):
	        if self.path == "/eat":
	            gate("once eat")
	            eat()
	        self.send_response(200)
	        self.end_headers()
	        self.wfile.write(b"still here\n")
	http.server.HTTPServer(("", int(os.environ["PORT"])), H).serve_forever()
	EOF
	printf 'web: GATE_PORT=%s exec python3 eat.py\n' "$GATE_PORT" > "$1/Procfile"
	git -C "$1" init -q
	git -C "$1" add -A
	git -C "$1" commit -qm "An app that eats memory when asked"
}

# state_of APP DYNO: its state as `berth ps` prints it.
state_of() {
	berth ps -a "$1" | awk -v d="$2" '$1 == d { sub(/^[^ ]+ +/, ""); print }'
}

@test "a web dyno over its size is killed: ps says crashed (out of memory), logs have R15" {
	start_berthd
	need_limits
	berth pipelines:create demo >/dev/null
	start_gates
	make_eater "$BATS_TEST_TMPDIR/app"
	push "$BATS_TEST_TMPDIR/app" demo
	router_says demo-staging / "still here"
	run berth ps -a demo-staging
	[[ "${lines[1]}" == "web.1 "*" 512M "* ]]

	# Bad input changes nothing.
	run berth ps:resize -a demo-staging worker=64M
	[ "$status" -ne 0 ]
	[ "$output" = "berth: demo-staging has no process type 'worker' (it has: web)" ]
	run berth ps:resize -a demo-staging web=64MB
	[ "$status" -ne 0 ]
	[ "$output" = "berth: 'web=64MB': the size must be a number and K, M or G, e.g. 512M or 1G, at least 4M" ]
	run berth ps:resize -a demo-staging web=1M
	[ "$status" -ne 0 ]
	[ "$(json_get "$(ps_json demo-staging)" 'd[0]["memory"]')" = $((512 << 20)) ]

	# Resizing replaces the dyno, without downtime, with a 64M one.
	old=$(json_get "$(ps_json demo-staging)" 'd[0]["started_at"], d[0]["port"]')
	run berth ps:resize -a demo-staging web=64M
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Resizing demo-staging: web=64M" ]
	[ "$(json_get "$(ps_json demo-staging)" 'd[0]["memory"]')" = $((64 << 20)) ]
	[ "$(json_get "$(ps_json demo-staging)" 'd[0]["started_at"], d[0]["port"]')" != "$old" ]
	run berth ps -a demo-staging
	[ "$(echo "${lines[0]}" | awk '{ print $5 }')" = SIZE ]
	[ "$(echo "${lines[1]}" | awk '{ print $5 }')" = 64M ]
	router_says demo-staging / "still here"

	# Past 64M the kernel kills it.
	t0=$(date +%s%N)
	code=$(router_code demo-staging /eat)
	[ "$code" != 200 ]
	wait_for "crashed (out of memory)" 15 eval \
	    '[ "$(state_of demo-staging web.1 | cut -c1-23)" = "crashed (out of memory)" ]'
	t1=$(date +%s%N)
	echo "from GET /eat to 'crashed (out of memory)' in berth ps: $(( (t1 - t0) / 1000000 )) ms"
	[ "$(json_get "$(ps_json demo-staging)" 'd[0]["crash"]')" = "out of memory" ]
	run berth logs -a demo-staging --ps web.1
	echo "$output"
	[[ "$output" =~ berth\[web\.1\]:\ Error\ R15\ \(Memory\ quota\ vastly\ exceeded\) ]]
	[[ "$output" == *"Process exited with status 137"* ]]
	[[ "$output" != *"ate 268435456 bytes"* ]]
	# Its R15 comes before its exit, as on Heroku.
	grep -n . "$BERTH_ROOT/apps/demo-staging/log" | grep -m1 -E 'R15|Process exited with status 137' |
	    grep -q R15
	# Within its size again, it serves again.
	rm "$GATES/eat.once"
	wait_for "web.1 serving again" 20 router_says demo-staging / "still here"
}

@test "a fork bomb stops at its dyno's pids limit; another app keeps answering" {
	# A process of the bomb caught between fork and exec may outlive
	# the SIGTERM of a stop: the SIGKILL after stop_timeout takes it.
	printf '\n[sandbox]\npids = 64\n[runtime]\nstop_timeout = 2\n' >> "$BERTH_ROOT/berth.ini"
	start_berthd
	need_limits
	berth pipelines:create calm >/dev/null
	make_app "$BATS_TEST_TMPDIR/calm"
	push "$BATS_TEST_TMPDIR/calm" calm
	berth pipelines:create bomb >/dev/null
	make_app "$BATS_TEST_TMPDIR/bomb"
	set_procfile "$BATS_TEST_TMPDIR/bomb" "web: python3 -m http.server \$PORT
worker: while :; do sleep 600 & done"
	push "$BATS_TEST_TMPDIR/bomb" bomb
	router_says calm-staging / hello

	t0=$(date +%s%N)
	berth ps:scale worker=1 -a bomb-staging
	log=$BERTH_ROOT/apps/bomb-staging/log
	wait_for "the bomb to hit its limit" 20 \
	    grep -q 'worker.1\]: .*fork: .*Resource temporarily unavailable' "$log"
	t1=$(date +%s%N)
	echo "worker=1 to the first refused fork: $(( (t1 - t0) / 1000000 )) ms"
	# It stays at its limit: 64 processes, the dyno's shell among them.
	n=$(dyno_pids bomb-staging | while read -r p; do
		grep -qz '^DYNO=worker.1$' "/proc/$p/environ" 2>/dev/null && echo "$p"
	done | wc -l)
	echo "processes of worker.1: $n"
	[ "$n" -le 64 ]
	[ "$n" -ge 60 ]
	# The other app, and the bomb's own web dyno, keep answering.
	ok=0
	for i in $(seq 1 20); do
		router_says calm-staging / hello && ok=$((ok + 1))
	done
	echo "calm-staging answered $ok/20 during the bomb"
	[ "$ok" -eq 20 ]
	router_says bomb-staging / hello
	# Stopping the worker takes every process of the bomb along.
	berth ps:scale worker=0 -a bomb-staging
	wait_for "the bomb to be gone" 20 eval \
	    '[ -z "$(dyno_pids bomb-staging | while read -r p; do grep -qz "^DYNO=worker.1$" /proc/$p/environ 2>/dev/null && echo $p; done)" ]'
}

@test "a fork bomb in a one-off dyno stops at its pids limit too" {
	printf '\n[sandbox]\npids = 64\n' >> "$BERTH_ROOT/berth.ini"
	start_berthd
	need_limits
	berth pipelines:create bomb >/dev/null
	make_app "$BATS_TEST_TMPDIR/bomb"
	# It forks until refused; its /proc is its PID namespace's, so it
	# counts its own processes.
	cat > "$BATS_TEST_TMPDIR/bomb/bomb.py" <<-'EOF'
	import os, time
	n = 0
	try:
	    for i in range(200):
	        if os.fork() == 0:
	            time.sleep(30)
	            os._exit(0)
	        n += 1
	except OSError as e:
	    print("fork refused after %d: %s" % (n, e.strerror))
	print(len([d for d in os.listdir("/proc") if d.isdigit()]))
	EOF
	git -C "$BATS_TEST_TMPDIR/bomb" add bomb.py
	git -C "$BATS_TEST_TMPDIR/bomb" commit -qm bomb
	push "$BATS_TEST_TMPDIR/bomb" bomb
	run timeout 60 berth run -a bomb-staging -- python3 bomb.py
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"fork refused after"*"Resource temporarily unavailable"* ]]
	n=$(printf '%s\n' "$output" | tail -n 1)
	[ "$n" -le 64 ]
	[ "$n" -ge 50 ]
	# ... and what it left went with it.
	left=$(for p in /proc/[0-9]*; do
		env=$(tr '\0' '\n' < "$p/environ" 2>/dev/null) || continue
		if grep -qx 'DYNO=run\.[0-9]*' <<< "$env" &&
		    grep -qx BERTH_APP=bomb-staging <<< "$env"; then
			echo "${p#/proc/}"
		fi
	done)
	[ -z "$left" ]
}

@test "daemon:status says whether limits are enforced" {
	start_berthd
	st=$(berth daemon:status --json)
	enforced=$(json_get "$st" 'd["limits"]["enforced"]')
	[ "$(json_get "$st" 'd["limits"]["memory"]')" = $((512 << 20)) ]
	[ "$(json_get "$st" 'd["limits"]["pids"]')" = 256 ]
	run berth daemon:status
	if [ "$enforced" = True ]; then
		[[ "$(json_get "$st" 'd["limits"]["cgroup"]')" == v[12] ]]
		[[ "$output" != *"not enforced"* ]]
	else
		[[ "$output" == *"warning: dyno memory and pids limits are not enforced: "* ]]
		grep -q "dyno limits are not enforced" "$BATS_TEST_TMPDIR/berthd.log"
	fi
}
