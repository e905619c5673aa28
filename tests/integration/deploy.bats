#!/usr/bin/env bats
# berth deploy: a push that no git client makes (Slack's /berth deploy,
# a redeploy, berthd's mirror of a GitHub push). It goes through the
# same path as `git push`: the CI gate, the build, a gated release, the
# invariant that the deploy branch head is the app's current release.

load helpers
load daemon

setup() {
	setup_root
	berth pipelines:create shop >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	echo main > "$APP/index.html"
	git -C "$APP" commit -qam "main page"
	start_berthd
	push "$APP" shop >/dev/null
}

teardown() {
	stop_berthd
}

# feature BRANCH TEXT: a branch of APP whose page says TEXT, pushed.
feature() {
	git -C "$APP" checkout -q -b "$1" main
	echo "$2" > "$APP/index.html"
	git -C "$APP" commit -qam "$2"
	git -C "$APP" checkout -q main
	push "$APP" shop "$1" >/dev/null
}

@test "deploy -a redeploys the head of the app's branch" {
	head=$(remote_head shop main)
	run berth deploy -a shop-staging
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching v2... done"* ]]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'd[0]["commit"]')" = "$head" ]
	[ "$(remote_head shop main)" = "$head" ]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'd[0]["actor"]')" = tester@bats ]
	router_says shop-staging / main
}

@test "deploy -a APP BRANCH deploys the branch and moves the app's branch to it" {
	feature feature/login "login page"
	want=$(remote_head shop feature/login)
	run berth deploy -a shop-staging feature/login
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching v2... done"* ]]
	router_says shop-staging / "login page"
	# The invariant: main is the commit of shop-staging's release.
	[ "$(remote_head shop main)" = "$want" ]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'd[0]["commit"]')" = "$want" ]
	# The push event says what moved, as a git push's does.
	run berth activity -p shop --json
	[[ "$output" == *"Pushed main"* ]]
}

@test "deploy refuses a commit whose tests failed, unless --ignore-ci" {
	git -C "$APP" checkout -q -b broken main
	printf '{"environments": {"test": {"scripts": {"test": "echo not ok 1 - broken; exit 1"}}}}\n' > "$APP/app.json"
	git -C "$APP" add app.json
	git -C "$APP" commit -qm "broken tests"
	git -C "$APP" checkout -q main
	push "$APP" shop broken >/dev/null
	before=$(berth releases -a shop-staging --json)
	head=$(remote_head shop main)
	run berth deploy -a shop-staging broken
	[ "$status" -eq 1 ]
	[[ "$output" == *"tests failed in run #1 (see: berth ci:info 1 -p shop)"* ]]
	[ "$(berth releases -a shop-staging --json)" = "$before" ]
	[ "$(remote_head shop main)" = "$head" ]
	router_says shop-staging / main
	run berth deploy -a shop-staging broken --ignore-ci
	[ "$status" -eq 0 ]
	[[ "$output" == *"CI skipped (--ignore-ci)"* ]]
	[ "$(remote_head shop main)" = "$(remote_head shop broken)" ]
}

@test "deploy names what is wrong and changes nothing" {
	berth apps:create shop-prod -p shop --stage production >/dev/null
	before=$(berth releases -a shop-staging --json)
	head=$(remote_head shop main)
	run berth deploy -a shop-staging no-such-branch
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "berth: pipeline shop's repository has no branch, tag or commit 'no-such-branch'; push it first: git push berth no-such-branch" ]]
	run berth deploy -a shop-prod
	[ "$status" -eq 1 ]
	[[ "$output" == *"shop-prod auto-deploys no branch: promote to it instead (berth pipelines:promote -p shop --to shop-prod)"* ]]
	run berth deploy -p shop main
	[ "$status" -eq 1 ]
	[[ "$output" == *"deploy -p shop needs --branch BRANCH"* ]]
	run berth deploy -a shop-staging -p shop
	[ "$status" -eq 1 ]
	[[ "$output" == *"deploy takes -a APP, or -p PIPELINE with --branch BRANCH"* ]]
	run berth deploy -a nope
	[ "$status" -eq 1 ]
	[[ "$output" == *"no app"*nope* ]]
	[ "$(berth releases -a shop-staging --json)" = "$before" ]
	[ "$(remote_head shop main)" = "$head" ]
}

@test "deploy as a berth user needs the role a push of that branch needs" {
	berth users:add dev >/dev/null
	berth access:grant dev -p shop --role developer >/dev/null
	before=$(berth releases -a shop-staging --json)
	BERTH_AS_USER=dev BERTH_USER=dev run berth deploy -a shop-staging
	[ "$status" -eq 77 ]
	[[ "$output" == *"dev is a developer on shop: "*"needs deployer"* ]]
	[ "$(berth releases -a shop-staging --json)" = "$before" ]
	berth access:grant dev -p shop --role deployer >/dev/null
	BERTH_AS_USER=dev BERTH_USER=dev run berth deploy -a shop-staging
	[ "$status" -eq 0 ]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'd[0]["actor"]')" = dev ]
}

@test "deploy -p --branch moves any branch as a push would: a review app" {
	berth reviewapps:enable -p shop >/dev/null
	git -C "$APP" checkout -q -b topic main
	echo topic > "$APP/index.html"
	git -C "$APP" commit -qam topic
	git -C "$APP" push -q "$(repo_of shop)" topic:refs/heads/incoming 2>/dev/null
	sha=$(git -C "$APP" rev-parse topic)
	run berth deploy -p shop --branch topic "$sha"
	[ "$status" -eq 0 ]
	[ "$(remote_head shop topic)" = "$sha" ]
	run berth reviewapps -p shop
	[[ "$output" == *"shop-topic"* ]]
	router_says shop-topic / topic
}
