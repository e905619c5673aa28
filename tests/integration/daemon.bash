# daemon.bash - run berthd (and so its nginx and dynos) inside a test's
# own server root. Load after helpers: `load helpers; load daemon`.
#
# start_berthd gives the router a free port and the dynos a private port
# window; stop_berthd (call it from teardown) stops everything and checks
# that nothing started under $BERTH_ROOT survives.

# free_port: a TCP port nothing listens on right now.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# configure_berthd: the router port and a random 1000-port dyno window
# between 2000 and 32000 (so test files run in parallel do not collide),
# below the kernel's ephemeral ports (32768-60999 on Debian), which
# berth.ini may not overlap.
configure_berthd() {
	ROUTER_PORT=$(free_port)
	DYNO_PORT_MIN=$(( 2000 + (RANDOM % 30) * 1000 ))
	DYNO_PORT_MAX=$(( DYNO_PORT_MIN + 999 ))
	printf '\n[router]\nport = %s\n[runtime]\nport_min = %s\nport_max = %s\n' \
	    "$ROUTER_PORT" "$DYNO_PORT_MIN" "$DYNO_PORT_MAX" \
	    >> "$BERTH_ROOT/berth.ini"
	export ROUTER_PORT DYNO_PORT_MIN DYNO_PORT_MAX
}

# launch_berthd: start `berthd -f` in the background, logging to
# $BATS_TEST_TMPDIR/berthd.log; BERTHD_PID is its pid. It gets a session
# of its own (setsid execs it, same pid), so a signal berthd sends to its
# own process group can never reach bats.
launch_berthd() {
	setsid berthd -f >>"$BATS_TEST_TMPDIR/berthd.log" 2>&1 </dev/null 3>&- &
	BERTHD_PID=$!
	BERTHD_PIDS="${BERTHD_PIDS:-} $BERTHD_PID"
	export BERTHD_PID BERTHD_PIDS
}

berthd_ready() {
	berth daemon:status >/dev/null 2>&1
}

# start_berthd: configure (once per test), launch, wait until it answers.
start_berthd() {
	[ -n "${ROUTER_PORT:-}" ] || configure_berthd
	launch_berthd
	if ! wait_for "berthd to answer daemon:status" 10 berthd_ready; then
		echo "berthd.log:" >&2
		cat "$BATS_TEST_TMPDIR/berthd.log" >&2
		return 1
	fi
	# The pid berthd reports is the one we started.
	[ "$(json_get "$(berth daemon:status --json)" 'd["pid"]')" = "$BERTHD_PID" ]
}

# root_procs: pids of processes that belong to this server root: their
# command line names it (nginx -p ROOT/router/, berthd), their working
# directory is in it (dynos run in apps/APP/dynos/...), or their HOME is
# in it (dynos get HOME = their dir). Never this shell or its children
# that merely inherited BERTH_ROOT.
root_procs() {
	python3 - "$BERTH_ROOT" <<-'EOF'
	import os, sys
	root = sys.argv[1].rstrip("/")
	me = os.getpid()
	for p in os.listdir("/proc"):
	    if not p.isdigit() or int(p) == me:
	        continue
	    try:
	        cmd = open("/proc/%s/cmdline" % p, "rb").read().replace(b"\0", b" ").decode("utf-8", "replace")
	        cwd = ""
	        try:
	            cwd = os.readlink("/proc/%s/cwd" % p)
	        except OSError:
	            pass
	        env = b""
	        try:
	            env = open("/proc/%s/environ" % p, "rb").read()
	        except OSError:
	            pass
	        stat = open("/proc/%s/stat" % p).read()
	    except OSError:
	        continue
	    if stat[stat.rfind(")") + 2] == "Z":
	        continue
	    home = any(e.startswith(b"HOME=" + root.encode() + b"/")
	               for e in env.split(b"\0"))
	    # A sandbox's processes see /app; their mounts name the root.
	    mounts = ""
	    if b"BERTH_DYNO_ID=" in env or "bwrap" in cmd:
	        try:
	            mounts = open("/proc/%s/mountinfo" % p).read()
	        except OSError:
	            pass
	    if (root + "/") in cmd or cwd == root or cwd.startswith(root + "/") or home or (root + "/") in mounts:
	        print(p, cmd.strip())
	EOF
}

# descendants PID: PID's children, grandchildren... (pids).
descendants() {
	local kids k
	kids=$(pgrep -P "$1" 2>/dev/null) || return 0
	for k in $kids; do
		echo "$k"
		descendants "$k"
	done
}

no_root_procs() {
	[ -z "$(root_procs)" ]
}

# stop_berthd: daemon:stop, falling back to SIGTERM then SIGKILL of the
# berthds this test started; then nothing of this root may remain.
stop_berthd() {
	local pid family="" p alive
	[ -n "${BERTHD_PIDS:-}" ] || return 0
	for pid in $BERTHD_PIDS; do
		family="$family $(descendants "$pid" | tr '\n' ' ')"
	done
	if berthd_ready; then
		timeout 60 berth daemon:stop >/dev/null 2>&1 || true
	fi
	for pid in $BERTHD_PIDS; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			wait_for "berthd $pid to exit" 10 \
			    eval "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	BERTHD_PIDS=""
	if ! wait_for "every process of $BERTH_ROOT to end" 5 no_root_procs; then
		echo "still running after berthd stopped:" >&2
		root_procs >&2
		# Do not leave them for the next test.
		for p in $(root_procs | cut -d' ' -f1); do
			kill -KILL "$p" 2>/dev/null || true
		done
		return 1
	fi
	alive=""
	for p in $family; do
		if kill -0 "$p" 2>/dev/null &&
		    ! grep -q '^[^)]*) Z' "/proc/$p/stat" 2>/dev/null; then
			alive="$alive $p"
		fi
	done
	if [ -n "$alive" ]; then
		echo "berthd's children still running:$alive" >&2
		ps -o pid,ppid,cmd -p "${alive# }" >&2 || true
		for p in $alive; do
			kill -KILL "$p" 2>/dev/null || true
		done
		return 1
	fi
}

# router_get APP PATH [CURL-ARGS...]: a request through berth's nginx.
router_get() {
	local app=$1 path=${2#/}
	shift 2
	curl -s --max-time 5 -H "Host: $app.localhost" "$@" \
	    "http://127.0.0.1:$ROUTER_PORT/$path"
}

# router_code APP PATH: only the HTTP status code ("000" on no answer).
router_code() {
	router_get "$1" "$2" -o /dev/null -w '%{http_code}'
}

# router_says APP PATH TEXT: the response body contains TEXT.
router_says() {
	local body
	body=$(router_get "$1" "$2") || return 1
	[[ "$body" == *"$3"* ]]
}

# ps_json APP: `berth ps --json`.
ps_json() {
	berth ps -a "$1" --json
}

# ps_count APP EXPR: count dynos for which the python EXPR on d is true.
ps_count() {
	local out
	out=$(berth ps -a "$1" --json) || return 1
	python3 -c 'import json,sys
ds = json.loads(sys.argv[1])
print(sum(1 for d in ds if eval(sys.argv[2])))' "$out" "$2"
}

# ps_has APP N EXPR: exactly N dynos match EXPR.
ps_has() {
	[ "$(ps_count "$1" "$3")" = "$2" ]
}

# dyno_pids APP: pids of the processes of the app's formation dynos
# (by the BERTH_DYNO_ID of their records), not their sandboxes' bwrap.
dyno_pids() {
	python3 - "$BERTH_ROOT" "$1" <<-'EOF'
	import glob, json, os, sys
	tokens = set()
	for f in glob.glob(sys.argv[1] + "/run/dynos/*.json"):
	    try:
	        r = json.load(open(f))
	    except (OSError, ValueError):
	        continue
	    if r.get("app") == sys.argv[2]:
	        tokens.add(("BERTH_DYNO_ID=" + r["token"]).encode())
	for p in os.listdir("/proc"):
	    if not p.isdigit():
	        continue
	    try:
	        env = open("/proc/%s/environ" % p, "rb").read().split(b"\0")
	        exe = os.readlink("/proc/%s/exe" % p)
	    except OSError:
	        continue
	    if not exe.endswith("/bwrap") and tokens.intersection(env):
	        print(p)
	EOF
}

# client_loop APP OUTFILE MAX_REQUESTS MAX_SECONDS: GET / through the
# router until stopped (touch OUTFILE.stop) or a bound is hit; one line
# "CODE EXIT" per request in OUTFILE. Run it in the background.
client_loop() {
	local app=$1 out=$2 max=$3 secs=$4 n=0 code rc deadline
	deadline=$(( $(date +%s) + secs ))
	: > "$out"
	while [ "$n" -lt "$max" ] && [ "$(date +%s)" -lt "$deadline" ] &&
	    [ ! -e "$out.stop" ]; do
		rc=0
		code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
		    -H "Host: $app.localhost" \
		    "http://127.0.0.1:$ROUTER_PORT/") || rc=$?
		echo "$code $rc" >> "$out"
		n=$((n + 1))
	done
	echo done >> "$out.done"
}

# start_client APP OUTFILE MAX SECS: client_loop in the background.
start_client() {
	client_loop "$@" 3>&- &
	CLIENT_PIDS="${CLIENT_PIDS:-} $!"
}

# stop_client OUTFILE: ask the loop to end and wait for it.
stop_client() {
	touch "$1.stop"
	wait_for "the client loop to end" 15 test -e "$1.done"
}

# kill_clients: for teardown.
kill_clients() {
	local p
	for p in ${CLIENT_PIDS:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	CLIENT_PIDS=""
}

# client_report OUTFILE: the requests made, and those that failed.
client_report() {
	local total bad
	total=$(wc -l < "$1")
	bad=$(grep -cv '^200 0$' "$1" || true)
	echo "requests=$total failed=$bad"
	grep -v '^200 0$' "$1" | sort | uniq -c | sed 's/^/  /' || true
}
