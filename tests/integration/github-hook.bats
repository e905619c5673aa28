#!/usr/bin/env bats
# GitHub's webhook: a connected repository's pull requests become review
# apps PIPELINE-pr-N. "GitHub" is a local bare repo whose path is the
# pull request's clone URL; the test signs each payload as GitHub does.

load helpers
load daemon

setup() {
	setup_root
	HTTP_PORT=$(free_port)
	printf '\n[http]\nlisten = 127.0.0.1:%s\n' "$HTTP_PORT" >> "$BERTH_ROOT/berth.ini"
	HOOK=http://127.0.0.1:$HTTP_PORT/github/webhook
	berth pipelines:create shop >/dev/null
	echo t0ken > "$BATS_TEST_TMPDIR/token"
	echo hook-secret > "$BATS_TEST_TMPDIR/secret"
	chmod 600 "$BATS_TEST_TMPDIR/token" "$BATS_TEST_TMPDIR/secret"
	# The API is nobody: its statuses fail, recorded, never the deploy.
	berth github:connect -p shop --repo acme/shop --api-url http://127.0.0.1:9 \
	    --token-file "$BATS_TEST_TMPDIR/token" \
	    --webhook-secret-file "$BATS_TEST_TMPDIR/secret" >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	ORIGIN=$BATS_TEST_TMPDIR/origin.git
	git init -q --bare "$ORIGIN"
	git -C "$APP" push -q "$ORIGIN" main:feature
	start_berthd
}

teardown() {
	stop_berthd
}

# hook EVENT JSON [SECRET]: POST it signed; prints "CODE BODY".
hook() {
	local sig
	sig=$(printf '%s' "$2" | openssl dgst -sha256 -hmac "${3:-hook-secret}" | sed 's/^.* //')
	curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' \
	    -H "X-GitHub-Event: $1" -H "X-Hub-Signature-256: sha256=$sig" \
	    -H 'Content-Type: application/json' --data-binary "$2" "$HOOK"
	echo " $(cat "$BATS_TEST_TMPDIR/body")"
}

# pr ACTION [HEAD_REPO]: a pull_request payload for #7 of acme/shop.
pr() {
	python3 -c 'import json,sys
print(json.dumps({"action": sys.argv[1], "number": 7,
  "pull_request": {"number": 7, "head": {"ref": "feature", "sha": "0" * 40,
    "repo": {"full_name": sys.argv[2], "clone_url": sys.argv[3]}}},
  "repository": {"full_name": "acme/shop"}, "sender": {"login": "octo"}}))' \
	    "$1" "${2:-acme/shop}" "$ORIGIN"
}

releases_of() {
	berth releases -a shop-pr-7 --json 2>/dev/null | python3 -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin) if r["status"] == "succeeded"))'
}

has_releases() {
	[ "$(releases_of)" = "$1" ]
}

pr_app_gone() {
	! berth apps | grep -q shop-pr-7
}

@test "a pull request gets its review app; a push to it redeploys; closing it destroys it" {
	run hook pull_request "$(pr opened)"
	[[ "$output" == "202 "*'"queued": "deploy"'* ]]
	wait_for "shop-pr-7's first release" 60 has_releases 1
	[ "$(remote_head shop pr/7)" = "$(git -C "$APP" rev-parse HEAD)" ]
	[[ "$(berth releases -a shop-pr-7)" == *"github:octo"* ]]
	commit_change "$APP" "Second"
	git -C "$APP" push -q "$ORIGIN" main:feature
	run hook pull_request "$(pr synchronize)"
	[[ "$output" == "202 "* ]]
	wait_for "shop-pr-7's second release" 60 has_releases 2
	[ "$(remote_head shop pr/7)" = "$(git -C "$APP" rev-parse HEAD)" ]
	run hook pull_request "$(pr closed)"
	[[ "$output" == "202 "*'"queued": "destroy"'* ]]
	wait_for "shop-pr-7 to go" 60 pr_app_gone
	wait_for "branch pr/7 to go" 10 test "$(remote_head shop pr/7)" = none
}

@test "unsigned, wrongly signed, unknown or forked: refused, nothing built" {
	run hook pull_request "$(pr opened)" wrong
	[[ "$output" == "401 "*"does not match"* ]]
	run curl -s -o /dev/null -w '%{http_code}' -H "X-GitHub-Event: ping" \
	    --data-binary '{"repository": {"full_name": "acme/shop"}}' "$HOOK"
	[ "$output" = 401 ]
	run hook ping '{"zen": "hi", "repository": {"full_name": "acme/other"}}'
	[[ "$output" == "404 "*"no pipeline is connected to acme/other"* ]]
	run hook ping '{"zen": "hi", "repository": {"full_name": "acme/shop"}}'
	[[ "$output" == "200 "*'"pong"'* ]]
	run hook issue_comment '{"repository": {"full_name": "acme/shop"}}'
	[[ "$output" == "204 "* ]]
	run hook pull_request "$(pr opened someone/fork)"
	[[ "$output" == "202 "*"forks are not built"* ]]
	run hook pull_request 'not json'
	[[ "$output" == "400 "* ]]
	run berth apps
	[[ "$output" != *shop-pr-7* ]]
	[ "$(remote_head shop pr/7)" = none ]
}
