#!/usr/bin/env bats
# The README's first command, and a newcomer's first push, work.

load helpers

setup() {
	setup_root
}

@test "contrib/quickstart deploys the sample app, and is safe to run twice" {
	export BERTH_ROOT=$BATS_TEST_TMPDIR/qs-root
	run "$BERTH_SRCDIR/contrib/quickstart"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching demo-staging v1"* ]]
	[[ "$output" == *"Try next"* ]]
	run berth releases -a demo-staging
	[[ "${lines[0]}" == "v1"*"succeeded" ]]
	run "$BERTH_SRCDIR/contrib/quickstart"
	[ "$status" -eq 0 ]
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
	[[ "$output" == *"Launching shop-staging v1"* ]]
	run berth apps:info shop-staging
	[[ "$output" == *"Process types:  web"* ]]
}
