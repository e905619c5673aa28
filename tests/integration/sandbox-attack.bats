#!/usr/bin/env bats
# Attacks that got out of the sandbox when it was new, each of which
# must now fail. App processes of one app share a uid and the host's
# network namespace, so one sandbox could hand another an open directory
# (SCM_RIGHTS over an abstract unix socket): a buildpack hands /app, its
# build tree on the host, to a dyno of the same app, which keeps
# changing the tree after the build ended, while berth (root, outside
# any sandbox) walks it by path. berth-enter now scopes each sandbox
# (Landlock), berth walks trees without following links, and sealed
# slugs are root's; a one-off's TIOCSTI is refused (seccomp).

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	SOCK=berth-attack-$$-$RANDOM
	# A buildpack that runs the app's own build script (as npm's
	# postinstall or a setup.py would).
	BP=$BATS_TEST_TMPDIR/bp
	mkdir -p "$BP/bin"
	printf '#!/bin/sh\necho evil\n' > "$BP/bin/detect"
	printf '#!/bin/sh\ncd "$1" && exec ./build.sh\n' > "$BP/bin/compile"
	chmod +x "$BP/bin/detect" "$BP/bin/compile"
}

teardown() {
	[ -n "${RUN_PID:-}" ] && kill "$RUN_PID" 2>/dev/null
	stop_berthd
}

# add_sender DIR MSG BUILD-CMDS EXIT: build.sh runs BUILD-CMDS, hands
# /app (the build tree) with MSG to whoever listens on @$SOCK, exits EXIT.
add_sender() {
	cat > "$1/build.sh" <<-EOF
	#!/bin/bash
	$3
	python3 -c 'import os, socket
	s = socket.socket(socket.AF_UNIX)
	s.connect("\0$SOCK")
	socket.send_fds(s, [b"$2"], [os.open("/app", os.O_RDONLY | os.O_DIRECTORY)])'
	exit $4
	EOF
	chmod +x "$1/build.sh"
	printf '{"buildpacks": [{"url": "%s"}]}\n' "$BP" > "$1/app.json"
	git -C "$1" add -A
	git -C "$1" commit -qm "sender"
}

@test "a failed build's tree is removed without following a link a dyno put in it" {
	victim=$BATS_TEST_TMPDIR/victim
	mkdir -p "$victim"
	echo precious > "$victim/secret"
	chmod 600 "$victim/secret"
	# v1: a web dyno that waits for a build tree, and when berth starts
	# removing its directory a/, puts a link to the victim there.
	cat > "$APP/recv.py" <<-EOF
	import os, socket, time
	s = socket.socket(socket.AF_UNIX)
	s.bind("\0$SOCK")
	s.listen(1)
	c, _ = s.accept()
	msg, fds, _, _ = socket.recv_fds(c, 100, 1)
	app = fds[0]
	a = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=app)
	m0 = os.fstat(a).st_mtime_ns
	t0 = time.time()
	while os.fstat(a).st_mtime_ns == m0 and time.time() - t0 < 60:
	    pass
	os.rename("a", "a.old", src_dir_fd=app, dst_dir_fd=app)
	os.symlink(msg.decode(), "a", dir_fd=app)
	EOF
	set_procfile "$APP" 'web: python3 recv.py & exec python3 -m http.server $PORT'
	start_berthd
	run push "$APP" demo
	[ "$status" -eq 0 ]
	wait_for "v1 is up" 20 router_says demo-staging / hello
	# v2: its build fills a/ with names (one of them the victim's),
	# hands the tree over and fails, so that berth removes the tree.
	add_sender "$APP" "$victim" \
	    'mkdir a && (cd a && seq -f "z%05g" 1 20000 | xargs touch && touch secret)' 1
	run push "$APP" demo
	echo "$output"
	[ "$status" -ne 0 ]
	sleep 1
	# berth, as root, must not have removed a file outside the tree.
	[ -f "$victim/secret" ]
}

@test "a sealed slug cannot be changed by the app afterwards" {
	# A one-off of v1 (a console, a scheduler's job) that keeps a build
	# tree it is handed and writes into it two seconds later, when the
	# tree is the sealed slug of v2.
	cat > "$APP/hold.py" <<-EOF
	import os, socket, time
	s = socket.socket(socket.AF_UNIX)
	s.bind("\0$SOCK")
	s.listen(1)
	print("holding", flush=True)
	c, _ = s.accept()
	_, fds, _, _ = socket.recv_fds(c, 100, 1)
	time.sleep(2)
	fd = os.open("index.html", os.O_WRONLY | os.O_APPEND, dir_fd=fds[0])
	os.write(fd, b"TAMPERED\n")
	print("tampered", flush=True)
	EOF
	git -C "$APP" add hold.py
	git -C "$APP" commit -qm hold
	start_berthd
	run push "$APP" demo
	[ "$status" -eq 0 ]
	berth run -a demo-staging -- python3 hold.py \
	    > "$BATS_TEST_TMPDIR/run.out" 2>&1 &
	RUN_PID=$!
	wait_for "the one-off listens" 20 grep -q holding "$BATS_TEST_TMPDIR/run.out"
	add_sender "$APP" x : 0
	run push "$APP" demo
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for "the one-off is done" 20 grep -q tampered "$BATS_TEST_TMPDIR/run.out" || true
	slug=$(json_get "$(berth releases -a demo-staging --json)" 'd[0]["slug_id"]')
	echo "slug $slug:"
	cat "$BERTH_ROOT/slugs/$slug/index.html"
	run ! grep -q TAMPERED "$BERTH_ROOT/slugs/$slug/index.html"
	run berth run -a demo-staging -- cat index.html
	[[ "$output" != *TAMPERED* ]]
}

@test "a one-off cannot type into the terminal of whoever ran berth run" {
	[ "$(cat /proc/sys/dev/tty/legacy_tiocsti 2>/dev/null)" != 0 ] ||
	    skip "the kernel does not allow TIOCSTI"
	cat > "$APP/inject.py" <<-'EOF'
	import fcntl, termios
	for ch in "echo INJECTED\n":
	    fcntl.ioctl(0, termios.TIOCSTI, ch.encode())
	EOF
	git -C "$APP" add inject.py
	git -C "$APP" commit -qm inject
	start_berthd
	run push "$APP" demo
	[ "$status" -eq 0 ]
	# An operator's shell on a terminal runs a one-off, then reads a
	# line: it must not get the one the app typed.
	cat > "$BATS_TEST_TMPDIR/operator.sh" <<-'EOF'
	berth run -a demo-staging -- python3 inject.py
	read -t 3 line; echo "operator read: [$line]"
	EOF
	run python3 - "$BATS_TEST_TMPDIR/operator.sh" <<-'EOF'
	import os, select, sys, time
	pid, fd = os.forkpty()
	if pid == 0:
	    os.execvp("bash", ["bash", sys.argv[1]])
	out, t0 = b"", time.time()
	while time.time() - t0 < 30:
	    if select.select([fd], [], [], 0.5)[0]:
	        try:
	            d = os.read(fd, 4096)
	        except OSError:
	            break
	        if not d:
	            break
	        out += d
	print(out.decode(errors="replace"))
	EOF
	echo "$output"
	[[ "$output" == *"operator read: ["* ]]
	[[ "$output" != *"operator read: [echo INJECTED]"* ]]
}
