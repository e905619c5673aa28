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

# pushed BRANCH SHA [BEFORE]: a push payload of acme/shop, cloned from
# CLONE (default: ORIGIN).
pushed() {
	python3 -c 'import json,sys
print(json.dumps({"ref": "refs/heads/" + sys.argv[1], "before": sys.argv[3],
  "after": sys.argv[2], "deleted": sys.argv[2] == "0" * 40,
  "repository": {"full_name": "acme/shop", "clone_url": sys.argv[4]},
  "sender": {"login": "octo"}}))' "$1" "$2" "${3:-0000000000000000000000000000000000000000}" "${CLONE:-$ORIGIN}"
}

# mirror [ARGS...]: connect shop again, in mirror mode.
mirror() {
	berth github:disconnect -p shop >/dev/null
	berth github:connect -p shop --repo acme/shop --token-file "$BATS_TEST_TMPDIR/token" \
	    --webhook-secret-file "$BATS_TEST_TMPDIR/secret" --mirror "$@" >/dev/null
}

staging_releases() {
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'sum(1 for r in d if r["status"] == "succeeded")')" = "$1" ]
}

# rows APP: its releases as the ledger has them, minus times and ids.
rows() {
	berth releases -a "$1" --json | python3 -c 'import json,sys
for r in json.load(sys.stdin):
    print(r["version"], r["kind"], r["status"], r["commit"], r["description"])'
}

# applied N: berthd has applied N mirrored pushes.
applied() {
	[ "$(grep -c 'GitHub push of .* applied' "$BATS_TEST_TMPDIR/berthd.log")" = "$1" ]
}

activity_says() {
	berth activity -p shop | grep -qF "$1"
}

@test "a push mirrored from GitHub deploys staging and writes the ledger rows a git push writes" {
	mirror --api-url http://127.0.0.1:9
	git -C "$APP" push -q "$ORIGIN" main
	sha=$(git -C "$APP" rev-parse main)
	run hook push "$(pushed main "$sha")"
	[[ "$output" == "202 "*'"queued": "mirror"'* ]]
	wait_for "shop-staging's release" 60 staging_releases 1
	[ "$(remote_head shop main)" = "$sha" ]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'd[0]["actor"]')" = github:octo ]
	router_says shop-staging / hello
	wait_for "the push event" 10 activity_says "Pushed main (new) at ${sha:0:7}"
	# The same commit pushed with git to a twin pipeline.
	berth pipelines:create twin >/dev/null
	push "$APP" twin >/dev/null
	[ "$(rows shop-staging)" = "$(rows twin-staging)" ]
	[ "$(berth builds -a shop-staging --json | json_get "$(cat)" 'd[0]["status"]')" = succeeded ]
	# A second push is applied on top; the same one again changes nothing.
	commit_change "$APP" "Second"
	git -C "$APP" push -q "$ORIGIN" main
	sha2=$(git -C "$APP" rev-parse main)
	run hook push "$(pushed main "$sha2" "$sha")"
	[[ "$output" == "202 "* ]]
	wait_for "the second release" 60 staging_releases 2
	[ "$(remote_head shop main)" = "$sha2" ]
	run hook push "$(pushed main "$sha2" "$sha")"
	[[ "$output" == "202 "* ]]
	wait_for "the repeated push to be applied" 30 applied 3
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'len(d)')" = 2 ]
}

@test "mirror mode off, tags, bad payloads and an unreachable GitHub change nothing" {
	sha=$(git -C "$APP" rev-parse main)
	run hook push "$(pushed main "$sha")"
	[[ "$output" == "202 "*"mirror mode is off (berth github:connect --mirror)"* ]]
	run berth github:connect -p twin --repo acme/twin --token-file "$BATS_TEST_TMPDIR/token" --mirror
	[ "$status" -eq 1 ]
	mirror --api-url http://127.0.0.1:9
	run berth github:info -p shop
	[[ "$output" == *"Mirror:"*"every push"* ]]
	run hook push '{"ref": "refs/tags/v1", "after": "'"$sha"'", "repository": {"full_name": "acme/shop", "clone_url": "x"}}'
	[[ "$output" == "204 "* ]]
	run hook push '{"ref": "refs/heads/main", "after": "nope", "repository": {"full_name": "acme/shop"}}'
	[[ "$output" == "400 "*"names its ref, its after commit and the repository's clone_url"* ]]
	run hook push '{"ref": "refs/heads/../x", "after": "'"$sha"'", "repository": {"full_name": "acme/shop", "clone_url": "x"}}'
	[[ "$output" == "400 "* ]]
	CLONE=$BATS_TEST_TMPDIR/gone.git run hook push "$(CLONE=$BATS_TEST_TMPDIR/gone.git pushed main "$sha")"
	[[ "$output" == "202 "* ]]
	wait_for "the failed mirror in the activity" 30 activity_says "GitHub push of main at ${sha:0:7} could not be fetched"
	[ "$(berth releases -a shop-staging --json)" = "[]" ]
	[ "$(remote_head shop main)" = none ]
	# berthd still answers, and the next push goes through.
	git -C "$APP" push -q "$ORIGIN" main
	run hook push "$(pushed main "$sha")"
	[[ "$output" == "202 "* ]]
	wait_for "shop-staging's release" 60 staging_releases 1
}

@test "--wait-for-ci holds a mirrored push until GitHub's CI passed; red CI is not deployed" {
	local gh=$BATS_TEST_TMPDIR/github
	mkdir -p "$gh/ci"
	python3 "$FIXTURES/fake-github.py" "$gh" t0ken > "$gh/port" 3>&- &
	GH_PID=$!
	wait_for "the fake GitHub" 10 test -s "$gh/port"
	mirror --wait-for-ci --api-url "http://127.0.0.1:$(cat "$gh/port")"
	git -C "$APP" push -q "$ORIGIN" main
	sha=$(git -C "$APP" rev-parse main)
	echo '{"check_runs": [{"name": "tests", "status": "in_progress", "conclusion": null}], "statuses": [{"context": "berth/ci", "state": "failure"}]}' > "$gh/ci/$sha.json"
	run hook push "$(pushed main "$sha")"
	[[ "$output" == "202 "*"mirror once CI passes"* ]]
	wait_for "the held push" 30 activity_says "GitHub push of main at ${sha:0:7} waits for CI on GitHub (tests is in_progress)"
	[ "$(berth releases -a shop-staging --json)" = "[]" ]
	[ "$(remote_head shop main)" = none ]
	# berth's own berth/ci status does not count; the check run passes.
	echo '{"check_runs": [{"name": "tests", "status": "completed", "conclusion": "success"}], "statuses": [{"context": "berth/ci", "state": "failure"}]}' > "$gh/ci/$sha.json"
	run hook check_suite '{"action": "completed", "check_suite": {"head_sha": "'"$sha"'", "status": "completed", "conclusion": "success"}, "repository": {"full_name": "acme/shop"}}'
	[[ "$output" == "202 "* ]]
	wait_for "shop-staging's release" 60 staging_releases 1
	[ "$(remote_head shop main)" = "$sha" ]
	# A commit whose CI failed on GitHub stays out.
	commit_change "$APP" "Broken"
	git -C "$APP" push -q "$ORIGIN" main
	sha2=$(git -C "$APP" rev-parse main)
	echo '{"statuses": [{"context": "ci/jenkins", "state": "failure"}]}' > "$gh/ci/$sha2.json"
	run hook push "$(pushed main "$sha2" "$sha")"
	wait_for "the refused push" 30 activity_says "GitHub push of main at ${sha2:0:7} is not deployed: CI failed on GitHub (ci/jenkins is failure)"
	[ "$(remote_head shop main)" = "$sha" ]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'len(d)')" = 1 ]
	kill "$GH_PID"
	wait "$GH_PID" 2>/dev/null || true
}

@test "reviewapps:enable --forks builds pull requests from forks" {
	berth reviewapps:enable -p shop --forks >/dev/null
	run hook pull_request "$(pr opened someone/fork)"
	[[ "$output" == "202 "*'"queued": "deploy"'* ]]
	wait_for "shop-pr-7's first release" 60 has_releases 1
	berth reviewapps:disable -p shop >/dev/null
	berth reviewapps:enable -p shop >/dev/null
	run hook pull_request "$(pr synchronize someone/fork)"
	[[ "$output" == "202 "*"forks are not built"* ]]
}
