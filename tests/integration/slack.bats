#!/usr/bin/env bats
# ChatOps from Slack: the test signs each request as Slack does (v0,
# HMAC-SHA256 of "v0:TIMESTAMP:BODY"); a linked Slack user acts with
# their berth user's roles; results of a promotion reach response_url.

load helpers
load daemon

setup() {
	setup_root
	HTTP_PORT=$(free_port)
	printf '\n[http]\nlisten = 127.0.0.1:%s\n' "$HTTP_PORT" >> "$BERTH_ROOT/berth.ini"
	BERTH=http://127.0.0.1:$HTTP_PORT
	printf '%s\n' 8f742231b10e8888abcd99ffff85a5 > "$BATS_TEST_TMPDIR/secret"
	SECRET=8f742231b10e8888abcd99ffff85a5
	berth slack:connect --signing-secret-file "$BATS_TEST_TMPDIR/secret" >/dev/null 2>&1
	berth pipelines:create shop >/dev/null
	berth users:add ana >/dev/null
	berth users:add dev >/dev/null
	berth access:grant ana -p shop --role admin >/dev/null
	berth access:grant dev -p shop --role developer >/dev/null
	SINK=$BATS_TEST_TMPDIR/sink
	mkdir -p "$SINK"
	python3 "$FIXTURES/http-sink.py" "$SINK" > /dev/null 2>&1 &
	SINK_PID=$!
	wait_for "the sink" 10 test -s "$SINK/port"
	RESPONSE_URL=http://127.0.0.1:$(cat "$SINK/port")/respond
	start_berthd
}

teardown() {
	kill "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null || true
	stop_berthd
}

# slack PATH BODY [TIMESTAMP [SECRET]]: POST as Slack signs it; prints
# "CODE BODY".
slack() {
	local ts=${3:-$(date +%s)} key=${4:-$SECRET} sig
	sig=$(python3 -c 'import hmac,hashlib,sys
print("v0=" + hmac.new(sys.argv[1].encode(), ("v0:%s:%s" % (sys.argv[2], sys.argv[3])).encode(), hashlib.sha256).hexdigest())' "$key" "$ts" "$2")
	curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' \
	    -H "X-Slack-Request-Timestamp: $ts" -H "X-Slack-Signature: $sig" \
	    -H 'Content-Type: application/x-www-form-urlencoded' \
	    --data-binary "$2" "$BERTH$1"
	echo " $(cat "$BATS_TEST_TMPDIR/body")"
}

# command USER TEXT: the /berth slash command from Slack user USER.
command() {
	local text
	text=$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote_plus(sys.argv[1]))' "$2")
	# Slack's bodies differ (trigger_id): berthd refuses a replay.
	slack /slack/commands "team_id=T1&user_id=$1&command=%2Fberth&text=$text&trigger_id=$(date +%s%N)&response_url=$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=""))' "$RESPONSE_URL")"
}

# link SLACK_USER BERTH_USER: /berth login, then slack:link the code.
link() {
	local code
	code=$(command "$1" login | grep -o '[A-Z2-9]\{4\}-[A-Z2-9]\{4\}' | head -1)
	[ -n "$code" ]
	berth slack:link "$code" -u "$2"
}

# posted N: the Nth body posted to response_url (1-based), once there.
posted() {
	wait_for "result $1 at response_url" 30 python3 -c 'import json,sys
n = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l).get("kind") == "request"]
sys.exit(0 if len(n) >= int(sys.argv[2]) else 1)' "$SINK/requests.jsonl" "$1"
	python3 -c 'import json,sys
n = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l).get("kind") == "request"]
print(json.loads(n[int(sys.argv[2]) - 1]["body"])["text"])' "$SINK/requests.jsonl" "$1"
}

@test "only Slack's fresh, unseen signatures get in" {
	body="team_id=T1&user_id=U1&text=help"
	run slack /slack/commands "$body" "$(date +%s)" wrong-secret
	[[ "$output" == "401 "*"does not match"* ]]
	run slack /slack/commands "$body" $(( $(date +%s) - 600 ))
	[[ "$output" == "401 "*"signed 6"*" s ago"* ]]
	ts=$(date +%s)
	run slack /slack/commands "$body" "$ts"
	[[ "$output" == "200 "*"/berth login"* ]]
	run slack /slack/commands "$body" "$ts"
	[[ "$output" == "401 "*"seen before"* ]]
	run curl -s -o /dev/null -w '%{http_code}' --data "$body" "$BERTH/slack/commands"
	[ "$output" = 401 ]
	berth slack:disconnect >/dev/null
	run slack /slack/commands "$body"
	[[ "$output" == "503 "*"slack:connect"* ]]
}

@test "a Slack user acts as the berth user they linked, with that user's roles" {
	run command U9 "pipelines"
	[[ "$output" == "200 "*"not linked to a berth user"*"/berth login"* ]]
	link U1 ana
	run command U1 "pipelines"
	[[ "$output" == "200 "*shop* ]]
	run command U1 "info shop"
	[[ "$output" == "200 "*shop-staging* ]]
	run command U1 "frobnicate shop"
	[[ "$output" == "200 "*"I do not know"* ]]
	# a code works once
	code=$(command U2 login | grep -o '[A-Z2-9]\{4\}-[A-Z2-9]\{4\}' | head -1)
	berth slack:link "$code" -u dev >/dev/null
	run berth slack:link "$code" -u dev
	[ "$status" -eq 1 ]
	[[ "$output" == *"no such code, or it expired"* ]]
}

@test "promote from Slack moves staging's slug to production; a developer is refused" {
	make_app "$BATS_TEST_TMPDIR/app"
	push "$BATS_TEST_TMPDIR/app" shop >/dev/null
	link U1 ana
	link U2 dev
	run command U2 "promote shop"
	[[ "$output" == "200 "*"Promoting shop's staging to shop (dev)"* ]]
	run posted 1
	[[ "$output" == *":no_entry: dev is a developer on shop: pipelines:promote needs deployer"* ]]
	berth access:grant dev -p shop --role deployer >/dev/null
	run command U2 "promote shop"
	run posted 2
	[[ "$output" == *":no_entry: dev is a deployer on shop: pipelines:promote on shop needs admin"* ]]
	run berth releases -a shop --json
	[ "$output" = "[]" ]
	run command U1 "promote shop"
	[[ "$output" == "200 "*'"in_channel"'*"Promoting shop's staging to shop (ana)"* ]]
	run posted 3
	[[ "$output" == *":white_check_mark: shop promoted to shop by ana"* ]]
	staging=$(json_get "$(berth releases -a shop-staging --json)" 'd[0]["slug_id"]')
	prod=$(json_get "$(berth releases -a shop --json)" 'd[0]["slug_id"]')
	[ "$staging" = "$prod" ]
	[ "$(json_get "$(berth releases -a shop --json)" 'd[0]["actor"]')" = ana ]
	run command U1 "releases shop"
	[[ "$output" == *"Promote shop-staging v1"* ]]
	# The "Promote to production" button of a staging deploy's message.
	payload=$(python3 -c 'import json,sys,urllib.parse
print("payload=" + urllib.parse.quote(json.dumps({"type": "block_actions",
  "user": {"id": "U1"}, "team": {"id": "T1"}, "response_url": sys.argv[1],
  "actions": [{"action_id": "promote", "value": "shop"}]})))' "$RESPONSE_URL")
	run slack /slack/interactive "$payload"
	[[ "$output" == "200 "*"Promoting shop's staging to shop (ana)"* ]]
	run posted 4
	[[ "$output" == *":white_check_mark: shop promoted to shop by ana"* ]]
}

@test "deploy from Slack builds a branch for the stage's app; a developer is refused" {
	make_app "$BATS_TEST_TMPDIR/app"
	push "$BATS_TEST_TMPDIR/app" shop >/dev/null
	git -C "$BATS_TEST_TMPDIR/app" checkout -q -b feature/cart
	echo cart > "$BATS_TEST_TMPDIR/app/index.html"
	git -C "$BATS_TEST_TMPDIR/app" commit -qam cart
	push "$BATS_TEST_TMPDIR/app" shop feature/cart >/dev/null
	link U1 ana
	link U2 dev
	run command U2 "deploy shop/feature/cart to staging"
	[[ "$output" == "200 "*"Deploying shop/feature/cart to shop-staging (dev)"* ]]
	run posted 1
	[[ "$output" == *":no_entry: dev is a developer on shop: "*"needs deployer"* ]]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'len(d)')" = 1 ]
	run command U1 "deploy shop/feature/cart"
	[[ "$output" == "200 "*'"in_channel"'*"Deploying shop/feature/cart to shop-staging (ana)"* ]]
	run posted 2
	[[ "$output" == *":white_check_mark: shop/feature/cart deployed to shop-staging by ana"*"Launching v2... done"* ]]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'd[0]["actor"]')" = ana ]
	router_says shop-staging / cart
	[ "$(remote_head shop main)" = "$(remote_head shop feature/cart)" ]
	run command U1 "deploy shop/nope to staging"
	run posted 3
	[[ "$output" == *":x: "*"no branch, tag or commit 'refs/heads/nope'"* ]]
	run command U1 "deploy shop to qa"
	[[ "$output" == "200 "*"Usage: /berth deploy PIPELINE[/BRANCH] [to STAGE]"* ]]
}
