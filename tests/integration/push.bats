#!/usr/bin/env bats
# git push builds a slug and records a release; failures reject the push.

load helpers

teardown() {
	stop_gates
}

setup() {
	setup_root
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
}

@test "first push builds a Procfile-only app and records v1" {
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"-----> Building demo-staging from main@"* ]]
	[[ "$output" == *"Procfile-only app"* ]]
	[[ "$output" == *"Launching v1"* ]]
	sha=$(git -C "$APP" rev-parse HEAD)
	[ "$(remote_head demo main)" = "$sha" ]
	run berth releases -a demo-staging
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "=== demo-staging Releases - Current: v1" ]
	[[ "${lines[1]}" == "v1"*"Deploy ${sha:0:7}"*"tester@bats"*"succeeded  (current)" ]]
	# --root may also come first, as an sshd forced command writes it.
	run env -u BERTH_ROOT berth --root "$BERTH_ROOT" releases -a demo-staging
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == "v1"*"succeeded  (current)" ]]
}

@test "a second push records v2 with the new commit" {
	push "$APP" demo
	commit_change "$APP" "Second change"
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching v2"* ]]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 2 ]
	[ "$(json_get "$output" 'd[0]["version"]')" = 2 ]
	[ "$(json_get "$output" 'd[0]["commit"]')" = "$(git -C "$APP" rev-parse HEAD)" ]
}

@test "a failing buildpack rejects the push and the ref stays" {
	push "$APP" demo
	before=$(remote_head demo main)
	use_buildpack "$APP" failing
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"compiling, then failing"* ]]
	[[ "$output" == *"Build failed: buildpack failing: bin/compile exited with status 3"* ]]
	[[ "$output" == *"demo-staging stays on v1"* ]]
	[[ "$output" == *"pre-receive hook declined"* ]]
	[ "$(remote_head demo main)" = "$before" ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 1 ]
	run berth builds -a demo-staging --json
	[ "$(json_get "$output" 'd[0]["status"]')" = failed ]
	id=$(json_get "$output" 'd[0]["id"]')
	run berth builds:output "$id"
	[[ "$output" == *"compiling, then failing"* ]]
	# No half-built slug or scratch directory is left behind.
	[ "$(ls "$BERTH_ROOT/slugs" | wc -l)" -eq 1 ]
	[ -z "$(ls "$BERTH_ROOT/tmp")" ]
}

@test "a malformed Procfile is rejected with its line number" {
	printf 'web: python3 -m http.server $PORT\nwe b: oops\n' > "$APP/Procfile"
	git -C "$APP" commit -qam "Break the Procfile"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Procfile line 2"* ]]
	[ "$(remote_head demo main)" = none ]
}

@test "a Procfile with CRLF endings, a BOM and a duplicate type is accepted" {
	printf '\xef\xbb\xbfweb: first\r\nworker: python3 w.py\r\nweb: python3 -m http.server $PORT\r\n' > "$APP/Procfile"
	git -C "$APP" commit -qam "Windows Procfile"
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"duplicate process type 'web'"* ]]
	[[ "$output" == *"process types: web, worker"* ]]
}

@test ".slugignore keeps files out of the slug" {
	mkdir -p "$APP/docs" "$APP/src"
	echo secret > "$APP/docs/big.pdf"
	echo keep > "$APP/src/app.py"
	echo tmp > "$APP/src/x.log"
	printf '# not in the slug\n/docs\n*.log\n' > "$APP/.slugignore"
	git -C "$APP" add -A
	git -C "$APP" commit -qm "Add slugignore"
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Removed 2 paths listed in .slugignore"* ]]
	slug=$(ls "$BERTH_ROOT/slugs")
	[ -f "$BERTH_ROOT/slugs/$slug/src/app.py" ]
	[ ! -e "$BERTH_ROOT/slugs/$slug/docs" ]
	[ ! -e "$BERTH_ROOT/slugs/$slug/src/x.log" ]
	# The slug is sealed: writable by no one but its owner.
	[ "$(stat -c %a "$BERTH_ROOT/slugs/$slug/src/app.py")" = 644 ]
}

@test "config:set creates a release on an app that has one" {
	run berth config:set GREETING=hi -a demo-staging
	[ "$status" -eq 0 ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 0 ]
	push "$APP" demo
	run berth config:set GREETING=hello TOKEN=abc=def -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$output" == *"v2"* ]]
	[[ "$output" != *"hello"* ]]
	run berth releases -a demo-staging
	[[ "${lines[1]}" == "v2"*"Set GREETING, TOKEN config vars"* ]]
	run berth config:get TOKEN -a demo-staging
	[ "$output" = "abc=def" ]
	run berth config:unset TOKEN -a demo-staging
	[ "$status" -eq 0 ]
	run berth releases -a demo-staging
	[[ "${lines[1]}" == "v3"*"Remove TOKEN config var"* ]]
}

@test "config var values never appear in build output or logs" {
	berth config:set SECRET_TOKEN=s3cr3t-value-123 -a demo-staging
	use_buildpack "$APP" echo-env
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"SECRET_TOKEN=[SECRET_TOKEN]"* ]]
	[[ "$output" != *"s3cr3t-value-123"* ]]
	! grep -r "s3cr3t-value-123" "$BERTH_ROOT/logs"
}

@test "two concurrent pushes both land, in order, one waiting for the other" {
	berth apps:create demo-dev -p demo --stage development --branch develop
	start_gates
	berth config:set GO_GATE="$GATE_PORT go" -a demo-staging >/dev/null
	berth config:set GO_GATE="$GATE_PORT go" -a demo-dev >/dev/null
	use_buildpack "$APP" slow
	git -C "$APP" branch develop
	push "$APP" demo main > "$BATS_TEST_TMPDIR/a.out" &
	a=$!
	wait_for "the first build to start" 20 \
	    grep -q "Building demo-staging" "$BATS_TEST_TMPDIR/a.out"
	push "$APP" demo develop > "$BATS_TEST_TMPDIR/b.out" &
	b=$!
	wait_for "the second push to wait" 20 \
	    grep -q "waiting for the deploy of" "$BATS_TEST_TMPDIR/b.out"
	touch "$GATES/go"
	wait "$a"
	wait "$b"
	stop_gates
	grep -q "Launching v1" "$BATS_TEST_TMPDIR/a.out"
	grep -q "Launching v1" "$BATS_TEST_TMPDIR/b.out"
	[ "$(remote_head demo main)" = "$(git -C "$APP" rev-parse HEAD)" ]
	[ "$(remote_head demo develop)" = "$(git -C "$APP" rev-parse HEAD)" ]
}

@test "a push racing config:set gets contiguous versions" {
	push "$APP" demo
	for i in 1 2 3 4 5; do
		berth config:set "N$i=$i" -a demo-staging >/dev/null &
	done
	commit_change "$APP" "Racing change"
	push "$APP" demo
	wait
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" '[r["version"] for r in d]')" = "[7, 6, 5, 4, 3, 2, 1]" ]
}

@test "a buildpack that hangs is timed out and the push rejected" {
	printf '[build]\ntimeout = 2\n' >> "$BERTH_ROOT/berth.ini"
	use_buildpack "$APP" hang
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"timed out"* ]]
	[[ "$output" == *"build.timeout"* ]]
	[ "$(remote_head demo main)" = none ]
	! pgrep -f "$FIXTURES/buildpacks/hang" >/dev/null
}

@test "a buildpack without bin/compile is refused" {
	use_buildpack "$APP" nocompile
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"has no executable bin/compile"* ]]
}

@test "an app with no Procfile and no detecting buildpack is rejected" {
	git -C "$APP" rm -q Procfile
	git -C "$APP" commit -qm "No Procfile"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"no buildpack detected this app and it has no Procfile"* ]]
}

@test "other branches and tags are accepted without a deploy" {
	push "$APP" demo
	git -C "$APP" checkout -qb feature/login
	commit_change "$APP" "Login"
	run push "$APP" demo feature/login
	[ "$status" -eq 0 ]
	[[ "$output" != *"Building"* ]]
	git -C "$APP" tag v1.0
	run push "$APP" demo v1.0
	[ "$status" -eq 0 ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 1 ]
}

@test "deleting the deploy branch is refused" {
	push "$APP" demo
	run push "$APP" demo :main
	[ "$status" -ne 0 ]
	[[ "$output" == *"Deleting main is not allowed"* ]]
	[ "$(remote_head demo main)" != none ]
}

@test "branch names with shell metacharacters are refused" {
	for name in 'feat$(id)' 'a;b' 'x|y' 'back`tick`'; do
		git -C "$APP" branch "$name"
		run push "$APP" demo "$name"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Branch name '$name' is not allowed: use letters, digits, '/', '-', '_' and '.'"* ]]
		[ "$(remote_head demo "$name")" = none ]
	done
	# Over 255 bytes in all, each part short enough for the file system.
	long=$(printf '%0100d/%0100d/%060d' 1 2 3)
	git -C "$APP" branch "$long"
	run push "$APP" demo "$long"
	[ "$status" -ne 0 ]
	[[ "$output" == *"too long"* ]]
}

@test "the nodejs buildpack's cache skips npm ci on the second build" {
	node=$BATS_TEST_TMPDIR/node
	cp -R "$BERTH_SRCDIR/contrib/sample-app" "$node"
	git -C "$node" init -q
	git -C "$node" add -A
	git -C "$node" commit -qm "Sample app"
	run push "$node" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Node.js app detected (nodejs)"* ]]
	[[ "$output" == *"Installing dependencies with npm ci"* ]]
	commit_change "$node" "Touch"
	run push "$node" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Restoring node_modules from cache"* ]]
	[[ "$output" != *"Installing dependencies with npm ci"* ]]
}

@test "a full disk during the build is reported as such and changes nothing" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small tmpfs"
	mount -t tmpfs -o size=64k tmpfs "$BERTH_ROOT/tmp"
	head -c 300000 /dev/urandom > "$APP/big.bin"
	git -C "$APP" add big.bin
	git -C "$APP" commit -qm "Big file"
	run push "$APP" demo
	umount "$BERTH_ROOT/tmp"
	[ "$status" -ne 0 ]
	[[ "$output" == *"disk full"* ]]
	[ "$(remote_head demo main)" = none ]
	[ -z "$(ls "$BERTH_ROOT/slugs")" ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 0 ]
}

@test "a secret that contains another config value is hidden whole" {
	berth config:set APP_HOST=db.example.com \
	    DATABASE_URL=postgres://app:s3cretpw@db.example.com/prod \
	    -a demo-staging >/dev/null
	use_buildpack "$APP" echo-env
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"DATABASE_URL=[DATABASE_URL]"* ]]
	[[ "$output" != *"s3cretpw"* ]]
	! grep -r "s3cretpw" "$BERTH_ROOT/logs" || false
}

@test "a Procfile that is a symlink out of the tree is refused" {
	rm "$APP/Procfile"
	ln -s /etc/passwd "$APP/Procfile"
	git -C "$APP" add -A
	git -C "$APP" commit -qm "Sneaky Procfile"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Procfile is a symbolic link; it must be a file"* ]]
	[[ "$output" != *"root:x:"* ]]
}

@test "app.json may not name a buildpack directory unless berth.ini allows it" {
	sed -i 's/^app_json_paths = 1$/app_json_paths = 0/' "$BERTH_ROOT/berth.ini"
	use_buildpack "$APP" echo-env
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"is a path on the server; name an installed buildpack"* ]]
	[ "$(remote_head demo main)" = none ]
	# A file:// URL is a path on the server too (libgit2 clones it).
	for url in "file://$FIXTURES/buildpacks/echo-env" \
	    "FILE://$FIXTURES/buildpacks/echo-env"; do
		printf '{"buildpacks": [{"url": "%s"}]}\n' "$url" > "$APP/app.json"
		git -C "$APP" commit -qam "buildpack $url"
		run push "$APP" demo
		[ "$status" -ne 0 ]
		[[ "$output" == *"'$url' is a path on the server; name an installed buildpack"* ]]
		[ "$(remote_head demo main)" = none ]
	done
}
