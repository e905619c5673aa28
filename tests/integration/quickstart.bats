#!/usr/bin/env bats
# The README's first command, and a newcomer's first push, work.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_root
}

teardown() {
	if [ -n "${QS_ROOT:-}" ]; then
		BERTH_ROOT=$QS_ROOT berth daemon:stop >/dev/null 2>&1 || true
	fi
}

# quickstart_root [ROUTER-LINE...]: the quick start's own server root,
# with a router port of its own (port), so tests can run side by side,
# dyno ports of its own too, below daemon.bash's windows, and the given
# lines in its [router] section.
quickstart_root() {
	export BERTH_ROOT=$BATS_TEST_TMPDIR/qs-root QS_ROOT=$BATS_TEST_TMPDIR/qs-root
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$BERTH_ROOT"
	{
		printf '[router]\nport = %s\n' "$port"
		[ $# -eq 0 ] || printf '%s\n' "$@"
		printf '[runtime]\nport_min = 1100\nport_max = 1999\n'
	} > "$BERTH_ROOT/berth.ini"
}

@test "contrib/quickstart deploys the sample app, and is safe to run twice" {
	quickstart_root
	run "$BERTH_SRCDIR/contrib/quickstart"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching v1"* ]]
	[[ "$output" == *"Launching v1... done, http://demo-staging.localhost:$port/"* ]]
	[[ "$output" == *"Hello from berth!"* ]]
	[[ "$output" == *"Try next"* ]]
	run curl -s --max-time 5 "http://demo-staging.localhost:$port/"
	[[ "$output" == "Hello from berth!"* ]]
	run berth releases -a demo-staging
	[[ "${lines[1]}" == "v1"*"succeeded  (current)" ]]
	# Again after a reboot, as it were: berthd starts and returns once
	# the app serves, so the quick start's curl right after it gets it.
	berth daemon:stop >/dev/null
	run "$BERTH_SRCDIR/contrib/quickstart"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Starting berthd"* ]]
	[[ "$output" == *"Hello from berth!"* ]]
	[[ "$output" != *"No app at this address"* ]]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 1 ]
}

@test "a newcomer pushes a clone of contrib/sample-app as the README says" {
	berth pipelines:create shop >/dev/null
	work=$BATS_TEST_TMPDIR/shop
	cp -R "$BERTH_SRCDIR/contrib/sample-app" "$work"
	cd "$work"
	git init -q
	git add -A
	git commit -qm "My app"
	git remote add berth "$BERTH_ROOT/repos/shop.git"
	run git push berth main
	[ "$status" -eq 0 ]
	[[ "$output" == *"Node.js app detected (nodejs)"* ]]
	[[ "$output" == *"process types: web"* ]]
	[[ "$output" == *"Launching v1"* ]]
	run berth apps:info shop-staging
	[[ "$output" == *"Process types:  web"* ]]
}

@test "without a router the quick start's URL is only a URL, and the missing router its own line" {
	# A machine whose nginx is missing, as a fresh one was before the
	# quick start installed it.
	quickstart_root "nginx = /nonexistent/nginx"
	run "$BERTH_SRCDIR/contrib/quickstart"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Hello from berth!"* ]]
	# The suggested curl is a URL and nothing else, and works.
	curl_line=$(printf '%s\n' "$output" | grep '^  curl ')
	[[ "$curl_line" =~ ^\ \ curl\ http://127\.0\.0\.1:[0-9]+/$ ]]
	url=${curl_line#  curl }
	[[ "$output" == *"-----> The app answers at $url"$'\n'"       no router (is nginx installed? apt-get install nginx-light): this is one web dyno's own address"$'\n'* ]]
	[[ "$output" == *"on a web dyno's own port (no router: see above)"* ]]
	run curl -s --max-time 5 "$url"
	[[ "$output" == "Hello from berth!"* ]]
	# berth open: the URL alone on stdout, why on stderr.
	run --separate-stderr berth open -a demo-staging
	[ "$status" -eq 0 ]
	[ "$output" = "$url" ]
	[ "$stderr" = "berth: no router (is nginx installed? apt-get install nginx-light): this is one web dyno's own address" ]
}
