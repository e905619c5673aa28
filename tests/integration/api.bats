#!/usr/bin/env bats
# berthd's HTTP endpoint and JSON API (doc/api.md): a token acts with its
# user's roles, through the same berth commands `ssh HOST CMD` runs;
# limits on bodies and slow clients; the event stream.

load helpers
load daemon

setup() {
	setup_root
	HTTP_PORT=$(free_port)
	printf '\n[http]\nlisten = 127.0.0.1:%s\n' "$HTTP_PORT" >> "$BERTH_ROOT/berth.ini"
	API=http://127.0.0.1:$HTTP_PORT
	berth pipelines:create shop >/dev/null
	berth users:add ana >/dev/null
	berth users:add boss --admin >/dev/null
	berth access:grant ana -p shop --role viewer >/dev/null
	ANA=$(berth tokens:create -u ana | sed -n 's/^  \(berth_[0-9a-f]*\)$/\1/p')
	BOSS=$(berth tokens:create -u boss | sed -n 's/^  \(berth_[0-9a-f]*\)$/\1/p')
	[ -n "$ANA" ] && [ -n "$BOSS" ]
	start_berthd
}

teardown() {
	if [ -n "${SSE_PID:-}" ]; then
		kill "$SSE_PID" 2>/dev/null
		wait "$SSE_PID" 2>/dev/null || true
	fi
	stop_berthd
}

# api TOKEN METHOD PATH [BODY]: prints "CODE BODY".
api() {
	local args=(-s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -X "$2")
	[ -n "$1" ] && args+=(-H "Authorization: Bearer $1")
	[ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
	local code
	code=$(curl "${args[@]}" "$API$3")
	echo "$code $(cat "$BATS_TEST_TMPDIR/body")"
}

@test "the API answers a token with its user's roles, and nobody without one" {
	run api "" GET /api/pipelines
	[[ "$output" == "401 "*"Authorization: Bearer TOKEN"* ]]
	run api berth_0000 GET /api/pipelines
	[[ "$output" == "401 "*"no such token"* ]]
	run api "$ANA" GET /api/pipelines
	[[ "$output" == "200 "*'"name": "shop"'* ]]
	run api "$ANA" GET /api/apps/shop-staging/releases
	[[ "$output" == "200 "* ]]
	run api "$ANA" POST /api/apps/shop-staging/formation '{"web": 2}'
	[[ "$output" == "403 "*"ana is a viewer on shop: ps:scale on shop-staging needs deployer"* ]]
	run api "$BOSS" GET /api/apps/nope/releases
	[[ "$output" == "404 "*"no app named 'nope'"* ]]
	run api "$BOSS" GET /api/nothing
	[[ "$output" == "404 "* ]]
	run api "$BOSS" POST /api/apps/shop-staging/formation '[1'
	[[ "$output" == "400 "*"must be a JSON object"* ]]
	run api "$BOSS" POST /api/apps/shop-staging/formation '{"web": "two"}'
	[[ "$output" == "400 "*'{\"web\": 2}'* ]]
	run curl -s "$API/health"
	[[ "$output" == *'"status": "ok"'* ]]
}

@test "POST deploy builds a branch for an app as a push would, with the token's roles" {
	make_app "$BATS_TEST_TMPDIR/app"
	push "$BATS_TEST_TMPDIR/app" shop >/dev/null
	git -C "$BATS_TEST_TMPDIR/app" checkout -q -b topic
	commit_change "$BATS_TEST_TMPDIR/app" topic
	push "$BATS_TEST_TMPDIR/app" shop topic >/dev/null
	run api "$ANA" POST /api/apps/shop-staging/deploy '{"revision": "topic"}'
	[[ "$output" == "403 "*"ana is a viewer on shop: deploy"*"needs developer"* ]]
	run api "$BOSS" POST /api/apps/shop-staging/deploy '{"ignore_ci": "yes"}'
	[[ "$output" == "400 "*"ignore_ci must be true or false"* ]]
	run api "$BOSS" POST /api/apps/shop-staging/deploy '{"revision": "nope"}'
	[[ "$output" == "422 "*"has no branch, tag or commit 'nope'"* ]]
	run api "$BOSS" POST /api/apps/shop-staging/deploy '{"revision": "topic"}'
	[[ "$output" == "200 "*"Launching v2... done"* ]]
	[ "$(remote_head shop main)" = "$(remote_head shop topic)" ]
	[ "$(json_get "$(berth releases -a shop-staging --json)" 'd[0]["actor"]')" = boss ]
}

@test "berth's own router serves the endpoint as http://berth.DOMAIN/; no app may take that name" {
	if ! command -v nginx >/dev/null; then skip "nginx is not installed"; fi
	run curl -s -H "Host: berth.localhost" -H "Authorization: Bearer $ANA" \
	    "http://127.0.0.1:$ROUTER_PORT/api/pipelines"
	[[ "$output" == *'"name": "shop"'* ]]
	run berth apps:create berth -p shop --stage staging
	[ "$status" -eq 1 ]
	[[ "$output" == *"app name 'berth' is reserved"* ]]
	run berth pipelines:create berth
	[ "$status" -eq 1 ]
	[[ "$output" == *"pipeline name 'berth' is reserved"* ]]
}

@test "a body over 1 MB is refused with 413, unread" {
	head -c 2000000 /dev/zero | tr '\0' 'a' > "$BATS_TEST_TMPDIR/big"
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $BOSS" \
	    --data-binary @"$BATS_TEST_TMPDIR/big" "$API/api/apps/shop-staging/formation"
	[ "$output" = 413 ]
}

@test "a slow client does not delay another request" {
	# Headers one byte at a time, for longer than the request below takes.
	python3 - "$HTTP_PORT" <<-'EOF' &
	import socket, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	for ch in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
	    s.send(bytes([ch])); time.sleep(0.1)
	EOF
	SLOW=$!
	start=$(date +%s%N)
	run curl -s --max-time 2 "$API/health"
	took=$(( ($(date +%s%N) - start) / 1000000 ))
	kill "$SLOW" 2>/dev/null || true
	wait "$SLOW" 2>/dev/null || true
	[[ "$output" == *'"ok"'* ]]
	[ "$took" -lt 1000 ]
}

@test "the event stream delivers the events a user may see" {
	curl -s -N -H "Authorization: Bearer $ANA" "$API/api/events" > "$BATS_TEST_TMPDIR/sse" &
	SSE_PID=$!
	wait_for "the stream to open" 5 grep -q "berth events" "$BATS_TEST_TMPDIR/sse"
	berth pipelines:create other >/dev/null
	berth config:set A=1 -a other-staging >/dev/null 2>&1
	berth config:set B=1 -a shop-staging >/dev/null 2>&1
	wait_for "shop's config event" 5 grep -q '"config.changed"' "$BATS_TEST_TMPDIR/sse"
	grep -q '^event: config.changed$' "$BATS_TEST_TMPDIR/sse"
	grep -q '"shop-staging"' "$BATS_TEST_TMPDIR/sse"
	# ana has no role on other: none of its events reach her
	[[ "$(cat "$BATS_TEST_TMPDIR/sse")" != *'"other-staging"'* ]]
}

@test "500 idle connections at once do not keep a request out" {
	python3 - "$HTTP_PORT" "$BATS_TEST_TMPDIR/held" <<-'EOF' &
	import socket, sys, time
	conns = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(500)]
	for c in conns:
	    c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")   # headers never end
	open(sys.argv[2], "w").write("%d\n" % len(conns))
	time.sleep(30)
	EOF
	HOLD=$!
	wait_for "500 connections" 20 test -s "$BATS_TEST_TMPDIR/held"
	start=$(date +%s%N)
	run curl -s --max-time 5 -H "Authorization: Bearer $ANA" "$API/api/pipelines"
	took=$(( ($(date +%s%N) - start) / 1000000 ))
	kill "$HOLD" 2>/dev/null || true
	wait "$HOLD" 2>/dev/null || true
	[[ "$output" == *'"name": "shop"'* ]]
	[ "$took" -lt 2000 ]
}
