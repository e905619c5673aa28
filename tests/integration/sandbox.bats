#!/usr/bin/env bats
# App code runs sandboxed: one-off and formation dynos, the release
# phase, CI and buildpacks see /app and nothing of the server root,
# other apps or berthd; without bubblewrap pushes are refused.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	berth pipelines:create demo >/dev/null
	berth pipelines:create other >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	OTHER=$BATS_TEST_TMPDIR/other
	make_app "$OTHER"
}

teardown() {
	stop_berthd
}

# add_probe DIR: commit probe.sh, which tries what a hostile app would
# and prints one "WHAT: denied|ALLOWED" line each, then "pwd: DIR".
add_probe() {
	cat > "$1/probe.sh" <<-EOF
	#!/bin/bash
	try() { local what=\$1; shift
		if "\$@" >/dev/null 2>&1; then echo "probe \$what: ALLOWED"
		else echo "probe \$what: denied"; fi; }
	try read-ledger cat "$BERTH_ROOT/ledger.db"
	try list-root ls "$BERTH_ROOT"
	try read-slugs ls "$BERTH_ROOT/slugs"
	try read-other-cache ls "$BERTH_ROOT/cache/other-staging"
	try write-ini sh -c 'echo x >> "$BERTH_ROOT/berth.ini"'
	try berthd-socket python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect("$BERTH_ROOT/run/berthd.sock")'
	if [ -n "\${OTHER_PID:-}" ]; then
		try other-environ cat "/proc/\$OTHER_PID/environ"
		try signal-other kill -0 "\$OTHER_PID"
	fi
	echo "probe pwd: \$(pwd) home: \$HOME uid: \$(id -u)"
	EOF
	chmod +x "$1/probe.sh"
	git -C "$1" add probe.sh
	git -C "$1" commit -qm "probe"
}

# no_allowed OUTPUT: every probe line says denied, and there are some.
all_denied() {
	local n
	n=$(printf '%s\n' "$1" | grep -c 'probe [a-z-]*: denied')
	[ "$n" -ge 6 ]
	! printf '%s\n' "$1" | grep -q 'ALLOWED'
}

# other_pid: the pid of the other app's web dyno, from its record.
other_pid() {
	python3 -c 'import glob, json, sys
for f in glob.glob(sys.argv[1] + "/run/dynos/*.json"):
    r = json.load(open(f))
    if r["app"] == "other-staging":
        print(r["pid"])' "$BERTH_ROOT"
}

@test "dynos, one-offs and the release phase see /app and nothing of the server" {
	start_berthd
	push "$OTHER" other >/dev/null
	wait_for "the other app is up" 20 router_says other-staging / hello
	pid=$(other_pid)
	[ -n "$pid" ]
	add_probe "$APP"
	set_procfile "$APP" 'web: ./probe.sh > probe.txt; exec python3 -m http.server $PORT
release: ./probe.sh && touch /app/release.test'
	berth config:set OTHER_PID="$pid" -a demo-staging >/dev/null
	run push "$APP" demo
	echo "$output"
	[ "$status" -eq 0 ]
	all_denied "$output"
	[[ "$output" == *"probe pwd: /app home: /app"* ]]
	# Served through the router: what the web dyno found.
	wait_for "demo is up" 20 router_says demo-staging /probe.txt probe
	web=$(router_get demo-staging /probe.txt)
	echo "$web"
	all_denied "$web"
	[[ "$web" == *"probe pwd: /app home: /app"* ]]
	run berth run -a demo-staging -- ./probe.sh
	echo "$output"
	[ "$status" -eq 0 ]
	all_denied "$output"
	[[ "$output" == *"probe pwd: /app home: /app"* ]]
	# Each app its own uid when berth is root; writes stay out of slugs.
	if [ "$(id -u)" = 0 ]; then
		uid=$(printf '%s\n' "$output" | sed -n 's/.*uid: //p')
		[ "$uid" -ge 900000 ]
		run berth run -a other-staging -- id -u
		[ "$status" -eq 0 ]
		[ "$output" != "$uid" ]
		# ... which has a name, as on Heroku.
		run berth run -a demo-staging -- whoami
		[ "$output" = dyno ]
	fi
	run berth run -a demo-staging -- 'touch /app/written && ls /app/release.test'
	[ "$status" -ne 0 ]
	[ -z "$(find "$BERTH_ROOT/slugs" -name written -o -name release.test \
	    -o -name probe.txt)" ]
}

@test "buildpacks and CI run sandboxed too" {
	bp=$BATS_TEST_TMPDIR/probe-bp
	mkdir -p "$bp/bin"
	cat > "$bp/bin/detect" <<-'EOF'
	#!/bin/sh
	echo probe
	EOF
	cat > "$bp/bin/compile" <<-'EOF'
	#!/bin/sh
	cd "$1" && ./probe.sh
	echo "dirs: $1 $2 $3 home: $HOME"
	ls "$3"
	EOF
	chmod +x "$bp/bin/detect" "$bp/bin/compile"
	add_probe "$APP"
	printf '{"buildpacks": [{"url": "%s"}], "environments": {"test": {"scripts": {"test": "./probe.sh"}}}}\n' \
	    "$bp" > "$APP/app.json"
	git -C "$APP" add app.json
	git -C "$APP" commit -qm "probe buildpack and CI"
	berth config:set SECRET_TOKEN=s3cret -a demo-staging >/dev/null
	run push "$APP" demo
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"dirs: /app /tmp/cache /tmp/env home: /app"* ]]
	[[ "$output" == *"SECRET_TOKEN"* ]]
	# The buildpack's probe and CI's: every one denied.
	n=$(printf '%s\n' "$output" | grep -c 'probe read-ledger: denied')
	[ "$n" -ge 2 ]
	[[ "$output" != *ALLOWED* ]]
	# No ENV_DIR is left behind.
	[ -z "$(find "$BERTH_ROOT/tmp" -name SECRET_TOKEN 2>/dev/null)" ]
}

@test "without bubblewrap a push is refused with the fix named; enabled = 0 deploys with a warning" {
	bin=$BATS_TEST_TMPDIR/bin
	mkdir -p "$bin"
	for t in git git-receive-pack git-upload-pack python3 sh bash env \
	    cat ls mkdir rm; do
		p=$(command -v "$t") && ln -sf "$p" "$bin/$t"
	done
	ln -sf "$BERTH_BUILDDIR/src/berth-receive" "$bin/berth-receive"
	ln -sf "$BERTH_BUILDDIR/src/berth" "$bin/berth"
	run env PATH="$bin" git -C "$APP" push "$(repo_of demo)" main
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bwrap (bubblewrap) is not in PATH; install it (apt-get install bubblewrap), or set [sandbox] enabled = 0"* ]]
	[ "$(remote_head demo main)" = none ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 0 ]
	printf '\n[sandbox]\nenabled = 0\n' >> "$BERTH_ROOT/berth.ini"
	run env PATH="$bin" git -C "$APP" push "$(repo_of demo)" main
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Warning: apps are not isolated"* ]]
	run berth daemon:status
	[[ "$output" == *"apps are not isolated"* ]]
}

@test "berthd's socket answers only root and the root's owner" {
	[ "$(id -u)" = 0 ] || skip "needs root to connect as another uid"
	start_berthd
	# Let uid 65534 reach the socket, so that only berthd can refuse.
	d=$BERTH_ROOT/run
	while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
	chmod o+rw "$BERTH_ROOT/run/berthd.sock"
	run setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(b"{\"cmd\": \"stop\", \"app\": \"demo-staging\"}\n")
except OSError:
    pass
print(s.recv(4096).decode())' "$BERTH_ROOT/run/berthd.sock"
	echo "$output"
	[[ "$output" == *"berthd answers only root and the owner of the server root"* ]]
	run berth daemon:status
	[ "$status" -eq 0 ]
}

@test "a slug sealed before the sandbox (root's, read-only) still gives a writable /app" {
	push "$APP" demo >/dev/null
	slug=$(ls "$BERTH_ROOT/slugs")
	# As an older berth left it: no write bits at all, berth's own.
	chown -R "$(id -u):$(id -g)" "$BERTH_ROOT/slugs/$slug"
	chmod -R a-w "$BERTH_ROOT/slugs/$slug"
	run berth run -a demo-staging -- 'touch /app/new /app/index.html && echo wrote'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = wrote ]
	# The slug itself got its owner's write bits back, and nothing else.
	[ "$(stat -c %a "$BERTH_ROOT/slugs/$slug/index.html")" = 644 ]
	[ ! -e "$BERTH_ROOT/slugs/$slug/new" ]
}

@test "a stopped dyno gets its grace period inside the sandbox" {
	# bubblewrap's own process dies of the stop's SIGTERM at once; the
	# app must still have its stop_timeout to finish.
	set_procfile "$APP" "web: trap 'sleep 1; echo graceful-bye; exit 0' TERM; python3 -m http.server \$PORT & wait"
	start_berthd
	push "$APP" demo >/dev/null
	wait_for "the app" 20 router_says demo-staging / hello
	berth ps:restart -a demo-staging >/dev/null
	wait_for "the old dyno's goodbye" 20 eval \
	    'berth logs -a demo-staging | grep -q "app\[web.1\]: graceful-bye"'
}
