#!/usr/bin/env bats
# The activity feed: every push, build, release and change leaves an
# event, written with the change; a release shows the diff stats of what
# it brings over the previous release, as git diff --shortstat -M counts.

load helpers

setup() {
	setup_root
	berth pipelines:create shop >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
}

# kinds: the event kinds of the pipeline, newest first, one per line.
kinds() {
	berth activity -p shop --json | python3 -c 'import json,sys
for e in json.load(sys.stdin): print(e["kind"])'
}

@test "a push leaves its build, push and release events, newest first" {
	push "$APP" shop >/dev/null
	run kinds
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = release.succeeded ]
	[ "${lines[1]}" = push ]
	[ "${lines[2]}" = build.succeeded ]
	run berth activity -p shop
	[ "$status" -eq 0 ]
	[[ "$output" == *"tester@bats"*"Pushed main (new) at"* ]]
	[[ "$output" == *"v1 Deploy"* ]]
}

@test "a release's diff stats match git diff --shortstat -M over the previous release" {
	push "$APP" shop >/dev/null
	first=$(git -C "$APP" rev-parse HEAD)
	git -C "$APP" mv index.html page.html
	printf 'a\nb\nc\n' > "$APP/new.txt"
	echo more >> "$APP/page.html"
	git -C "$APP" add -A
	git -C "$APP" commit -qm "Rename and add"
	push "$APP" shop >/dev/null
	second=$(git -C "$APP" rev-parse HEAD)
	want=$(git -C "$APP" diff --shortstat -M "$first" "$second")
	run berth activity -p shop -a shop-staging -n 1 --json
	[ "$status" -eq 0 ]
	got=$(json_get "$output" 'd[0]["diff"]')
	[ "$(json_get "$output" 'd[0]["diff"]["from"]')" = "$first" ]
	# " 2 files changed, 2 insertions(+)" has no deletions part
	files=$(echo "$want" | sed -E 's/^ ([0-9]+) files? changed.*/\1/')
	ins=$(echo "$want" | sed -nE 's/.* ([0-9]+) insertions?\(\+\).*/\1/p')
	del=$(echo "$want" | sed -nE 's/.* ([0-9]+) deletions?\(-\).*/\1/p')
	[ "$(json_get "$output" 'd[0]["diff"]["files"]')" = "$files" ]
	[ "$(json_get "$output" 'd[0]["diff"]["insertions"]')" = "${ins:-0}" ]
	[ "$(json_get "$output" 'd[0]["diff"]["deletions"]')" = "${del:-0}" ]
	run berth activity:info "$(json_get "$output" 'd[0]["id"]')"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Rename and add"* ]]
	[[ "$output" == *"$files files changed"* ]]
	[ -n "$got" ]
}

@test "config changes name the vars, never their values; formation and access changes are events" {
	push "$APP" shop >/dev/null
	berth config:set SECRET=hunter2 -a shop-staging >/dev/null 2>&1
	berth ps:scale web=2 -a shop-staging >/dev/null 2>&1 || true
	berth users:add ana >/dev/null
	berth access:grant ana -p shop --role viewer >/dev/null
	run berth activity -p shop --json
	[ "$status" -eq 0 ]
	[[ "$output" != *hunter2* ]]
	[[ "$output" == *'"config.changed"'* ]]
	[[ "$output" == *'"SECRET"'* ]]
	[[ "$output" == *'"formation.changed"'* ]]
	[[ "$output" == *'"access.changed"'* ]]
	# and nothing of it in the ledger's events either
	run python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*) from events where message like ? or data like ?", ("%hunter2%","%hunter2%")).fetchone()[0])' "$BERTH_ROOT/ledger.db"
	[ "$output" = 0 ]
}

@test "a rejected push leaves no push event, and its failed build says so" {
	use_buildpack "$APP" failing
	run push "$APP" shop
	[ "$status" -ne 0 ]
	run kinds
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = build.failed ]
	[[ "$output" != *push* ]]
	[[ "$output" != *release* ]]
}

@test "activity refuses what it does not know" {
	run berth activity -p nope
	[ "$status" -eq 1 ]
	[[ "$output" == *"no pipeline named 'nope'"* ]]
	run berth activity:info 99
	[ "$status" -eq 1 ]
	[[ "$output" == *"no event 99"* ]]
	run berth activity:info x1
	[ "$status" -eq 1 ]
	[[ "$output" == *"not an event id"* ]]
}
