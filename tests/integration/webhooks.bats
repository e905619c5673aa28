#!/usr/bin/env bats
# Webhooks: berthd delivers a pipeline's events from the outbox to a
# local HTTP sink (tests/fixtures/http-sink.py) that records each
# request: berth's signed JSON, Slack's Block Kit, retries with back-off
# (retry_base = 1 here) across a sink that is down and a berthd that
# restarts or is killed mid-send (at least once, the same delivery id),
# and the faults a receiver can throw (hang, reset, 500, 410, 302, a
# 100 MB answer), none of which fails or slows a deploy; and a GitHub
# connection's calls (tests/fixtures/fake-github.py) made by the sender.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	printf '\n[webhooks]\nretry_base = 1\ntimeout = 2\n' \
	    >> "$BERTH_ROOT/berth.ini"
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	SINK_PIDS=""
}

teardown() {
	stop_berthd
	local p
	for p in $SINK_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# start_sink NAME [PORT]: a sink recording into $BATS_TEST_TMPDIR/sink-NAME
# (on PORT, else a free one); sink_port NAME says which.
start_sink() {
	local dir=$BATS_TEST_TMPDIR/sink-$1
	mkdir -p "$dir"
	rm -f "$dir/port"
	python3 "$FIXTURES/http-sink.py" "$dir" "${2:-0}" 3>&- &
	SINK_PIDS="$SINK_PIDS $!"
	wait_for "sink $1 to listen" 10 test -s "$dir/port"
}

sink_port() {
	cat "$BATS_TEST_TMPDIR/sink-$1/port"
}

# sink_mode NAME MODE: how the sink answers from now on.
sink_mode() {
	echo "$2" > "$BATS_TEST_TMPDIR/sink-$1/mode"
}

# sink_count NAME EXPR: the requests r the sink recorded for which the
# python EXPR is true (r["headers"], r["path"], r["body"], r["mode"]).
sink_count() {
	python3 - "$BATS_TEST_TMPDIR/sink-$1/requests.jsonl" "$2" <<-'EOF'
	import json, sys
	n = 0
	try:
	    for line in open(sys.argv[1]):
	        r = json.loads(line)
	        if r["kind"] == "request" and eval(sys.argv[2]):
	            n += 1
	except FileNotFoundError:
	    pass
	print(n)
	EOF
}

# sink_got NAME N EXPR: at least N such requests.
sink_got() {
	[ "$(sink_count "$1" "$3")" -ge "$2" ]
}

# event_is KIND: python for "the request is of event KIND".
event_is() {
	echo "r['headers'].get('x-berth-event') == '$1'"
}

# deliveries EXPR: how many of demo's deliveries d match the python EXPR
# (d["event"], d["status"], d["attempts"], d["http_code"], d["error"]).
deliveries() {
	local out
	out=$(berth webhooks:deliveries -p demo -n 500 --json) || return 1
	python3 -c 'import json, sys
ds = json.loads(sys.argv[1])
print(sum(1 for d in ds if eval(sys.argv[2])))' "$out" "$1"
}

# deliveries_are N EXPR
deliveries_are() {
	[ "$(deliveries "$2")" = "$1" ]
}

# delivery_field WEBHOOK EVENT FIELD: the field of the webhook's newest
# delivery of that event kind.
delivery_field() {
	json_get "$(berth webhooks:deliveries -p demo -n 500 --json)" \
	    "[d for d in d if d['webhook'] == $1 and d['event'] == '$2'][0]['$3']"
}

# add_hook URL [ARGS...]: webhooks:add to demo; its id in $HOOK.
add_hook() {
	local out
	out=$(berth webhooks:add "$@" -p demo) || {
		echo "$out" >&2
		return 1
	}
	HOOK=$(echo "$out" | sed -n 's/^Added webhook \([0-9]*\) .*/\1/p')
	[ -n "$HOOK" ]
}

# push_live TEXT: commit TEXT, push it, wait until staging serves it;
# the milliseconds from push to live in $LIVE_MS.
push_live() {
	local t0
	commit_change "$APP" "$1"
	t0=$(date +%s%N)
	if ! push "$APP" demo > "$BATS_TEST_TMPDIR/push.out"; then
		cat "$BATS_TEST_TMPDIR/push.out" >&2
		return 1
	fi
	wait_for "staging to serve $1" 60 router_says demo-staging / "$1"
	LIVE_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}

@test "a push delivers its push, build and release events, signed as GitHub signs" {
	start_sink json
	echo 'It is a secret to everybody' > "$BATS_TEST_TMPDIR/secret"
	chmod 600 "$BATS_TEST_TMPDIR/secret"
	add_hook "http://127.0.0.1:$(sink_port json)/hooks/berth" \
	    --secret-file "$BATS_TEST_TMPDIR/secret"
	set_procfile "$APP" $'web: python3 -m http.server $PORT\nrelease: echo migrating'
	start_berthd
	push_live "Second commit"
	wait_for "the release event" 15 sink_got json 1 \
	    "$(event_is release.succeeded)"
	wait_for "the push event" 15 sink_got json 1 "$(event_is push)"
	[ "$(sink_count json "$(event_is build.succeeded)")" = 1 ]

	# Every body's signature, recomputed here; headers match the body.
	run python3 - "$BATS_TEST_TMPDIR/sink-json/requests.jsonl" \
	    "$BATS_TEST_TMPDIR/secret" <<-'EOF'
	import base64, hashlib, hmac, json, sys
	secret = open(sys.argv[2]).read().strip().encode()
	n = 0
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    body = base64.b64decode(r["body_b64"])
	    h = r["headers"]
	    want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
	    b = json.loads(body)
	    assert r["method"] == "POST" and r["path"] == "/hooks/berth", r
	    assert h["x-berth-signature-256"] == want, (h, want)
	    assert h["x-berth-delivery"] == b["delivery"], h
	    assert h["x-berth-event"] == b["event"]["kind"], h
	    assert h["content-type"] == "application/json", h
	    assert h["user-agent"].startswith("berth/"), h
	    n += 1
	print(n)
	EOF
	echo "$output"
	[ "$status" -eq 0 ]

	# The release's body: the app's URL, the commit, the release phase.
	python3 - "$BATS_TEST_TMPDIR/sink-json/requests.jsonl" \
	    "$BATS_TEST_TMPDIR/release.json" <<-'EOF'
	import json, sys
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    if r["headers"]["x-berth-event"] == "release.succeeded":
	        open(sys.argv[2], "w").write(r["body"])
	EOF
	body=$(cat "$BATS_TEST_TMPDIR/release.json")
	[ "$(json_get "$body" 'd["app"]["url"]')" = \
	    "http://demo-staging.localhost:$ROUTER_PORT/" ]
	[ "$(json_get "$body" 'd["app"]["stage"]')" = staging ]
	[ "$(json_get "$body" 'd["event"]["version"]')" = 1 ]
	[ "$(json_get "$body" 'd["event"]["commit"]')" = \
	    "$(git -C "$APP" rev-parse HEAD)" ]
	[ "$(json_get "$body" 'd["commit"]["subject"]')" = "Second commit" ]
	[ "$(json_get "$body" 'd["commit"]["author"]')" = "Test User" ]
	[ "$(json_get "$body" 'd["event"]["data"]["release_phase"]["status"]')" = succeeded ]
	[ "$(json_get "$body" 'd["event"]["data"]["release_phase"]["command"]')" = "echo migrating" ]
	# ...and the same with openssl, as a receiver's shell would.
	sig=$(openssl dgst -sha256 -hmac "It is a secret to everybody" \
	    "$BATS_TEST_TMPDIR/release.json" | awk '{print $NF}')
	[ "$(sink_count json "r['body'].startswith('{') and r['headers']['x-berth-signature-256'] == 'sha256=$sig'")" = 1 ]

	# Recorded as delivered; the secret is in no log and no listing.
	deliveries_are 0 "d['status'] != 'succeeded'"
	deliveries_are 3 "d['http_code'] == 200 and d['attempts'] == 1"
	! grep -q "secret to everybody" "$BATS_TEST_TMPDIR/berthd.log"
	! berth webhooks:deliveries -p demo --json | grep -q "secret to"
	! berth webhooks -p demo --json | grep -q "secret to"
}

@test "a Slack webhook gets one Block Kit message per deploy, with the commit and the URL" {
	start_sink slack
	add_hook "http://127.0.0.1:$(sink_port slack)/services/T0/B0/XYZ" \
	    --kind slack
	set_procfile "$APP" $'web: python3 -m http.server $PORT\nrelease: echo migrating'
	start_berthd
	push_live "Fix the cart total"
	wait_for "the Slack message" 15 sink_got slack 1 "True"
	# The push and its build are steps of the release's message.
	wait_for "the push's delivery" 15 deliveries_are 1 \
	    "d['event'] == 'push' and d['status'] == 'succeeded'"
	[ "$(delivery_field "$HOOK" push error)" = \
	    "not sent: nothing to tell Slack (push is a step of another message)" ]
	[ "$(sink_count slack True)" = 1 ]
	sha=$(git -C "$APP" rev-parse --short=7 HEAD)
	run python3 - "$BATS_TEST_TMPDIR/sink-slack/requests.jsonl" "$sha" \
	    "http://demo-staging.localhost:$ROUTER_PORT/" <<-'EOF'
	import json, sys
	r = json.loads(open(sys.argv[1]).readline())
	sha, url = sys.argv[2], sys.argv[3]
	assert r["headers"]["content-type"] == "application/json"
	m = json.loads(r["body"])
	assert isinstance(m["text"], str) and 0 < len(m["text"]) <= 3000, m
	assert sha in m["text"] and "is live" in m["text"], m["text"]
	assert "Fix the cart total" in m["text"], m["text"]
	assert "release phase" in m["text"], m["text"]
	blocks = m["blocks"]
	assert isinstance(blocks, list) and 1 <= len(blocks) <= 50
	for b in blocks:
	    assert b["type"] in ("section", "context", "actions"), b
	    if b["type"] == "actions":
	        # A staging deploy offers its promotion (slack.c handles it).
	        (button,) = b["elements"]
	        assert button["type"] == "button" and button["action_id"] == "promote", b
	        assert button["value"] == "demo" and button["text"]["type"] == "plain_text", b
	        assert button["text"]["text"] == "Promote to production", b
	        continue
	    if b["type"] == "section":
	        assert b["text"]["type"] == "mrkdwn"
	        assert 0 < len(b["text"]["text"]) <= 3000
	        if "accessory" in b:
	            assert b["accessory"]["type"] == "button"
	            assert b["accessory"]["text"]["type"] == "plain_text"
	            assert b["accessory"]["url"] == url, b
	    else:
	        assert 1 <= len(b["elements"]) <= 10
	        for e in b["elements"]:
	            assert e["type"] in ("mrkdwn", "plain_text")
	assert "<%s|demo-staging> v1 is live*" % url in blocks[0]["text"]["text"]
	assert "`%s` Fix the cart total (Test User)" % sha in blocks[1]["elements"][0]["text"]
	assert blocks[-1]["type"] == "actions", blocks
	print("ok")
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a receiver that is down gets the delivery once it comes up" {
	port=$(free_port)
	add_hook "http://127.0.0.1:$port/hook" --events config
	start_berthd
	berth config:set GREETING=hi -a demo-staging >/dev/null
	wait_for "a failed first try" 15 deliveries_are 1 \
	    "d['status'] == 'pending' and d['attempts'] >= 1 and d['error']"
	[ "$(delivery_field "$HOOK" config.changed http_code)" = None ]
	grep -q "webhook $HOOK (127.0.0.1): config.changed (event [0-9]*): .*; try 1 of 5" \
	    "$BATS_TEST_TMPDIR/berthd.log"
	start_sink late "$port"
	wait_for "the delivery" 30 deliveries_are 1 \
	    "d['status'] == 'succeeded' and d['attempts'] >= 2"
	[ "$(sink_count late True)" = 1 ]
}

@test "a berthd restart between tries delivers once, with the same delivery id" {
	start_sink s
	sink_mode s 500
	add_hook "http://127.0.0.1:$(sink_port s)/hook" --events config
	start_berthd
	berth config:set GREETING=hi -a demo-staging >/dev/null
	wait_for "a first try answered 500" 15 deliveries_are 1 \
	    "d['http_code'] == 500 and d['status'] == 'pending'"
	stop_berthd
	sink_mode s 200
	# Made while berthd is down: delivered once it is back.
	berth config:set GREETING=hello -a demo-staging >/dev/null
	start_berthd
	wait_for "both deliveries" 30 deliveries_are 2 \
	    "d['status'] == 'succeeded'"
	uuid=$(delivery_field "$HOOK" config.changed delivery)
	run python3 - "$BATS_TEST_TMPDIR/sink-s/requests.jsonl" <<-'EOF'
	import collections, json, sys
	tries = collections.defaultdict(list)
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    d = r["headers"]["x-berth-delivery"]
	    assert json.loads(r["body"])["delivery"] == d
	    tries[d].append(r["mode"])
	assert len(tries) == 2, tries
	for d, modes in tries.items():
	    # Answered 200 exactly once, as the last try.
	    assert modes.count("200") == 1 and modes[-1] == "200", tries
	print(sorted(len(m) for m in tries.values()))
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(sink_count s "r['headers']['x-berth-delivery'] == '$uuid'")" = 1 ]
}

@test "berthd killed mid-send sends the delivery again after its restart" {
	start_sink s
	sink_mode s hang
	add_hook "http://127.0.0.1:$(sink_port s)/hook" --events config
	start_berthd
	berth config:set GREETING=hi -a demo-staging >/dev/null
	wait_for "the try to reach the sink" 15 sink_got s 1 True
	kill -KILL "$BERTHD_PID"
	wait "$BERTHD_PID" 2>/dev/null || true
	# Nothing was recorded: it is pending, never tried.
	deliveries_are 1 "d['status'] == 'pending' and d['attempts'] == 0"
	sink_mode s 200
	start_berthd
	wait_for "the delivery" 30 deliveries_are 1 \
	    "d['status'] == 'succeeded' and d['attempts'] == 1"
	[ "$(sink_count s True)" = 2 ]
	[ "$(sink_count s "r['mode'] == '200'")" = 1 ]
	python3 - "$BATS_TEST_TMPDIR/sink-s/requests.jsonl" <<-'EOF'
	import json, sys
	ids = {json.loads(l)["headers"]["x-berth-delivery"] for l in open(sys.argv[1])}
	assert len(ids) == 1, ids
	EOF
}

@test "a hanging receiver neither slows a deploy nor holds up the others, and is a failed try" {
	start_sink s
	start_berthd
	push_live "one"
	push_live "two"
	without=$LIVE_MS
	add_hook "http://127.0.0.1:$(sink_port s)/hang/x"
	hang=$HOOK
	add_hook "http://127.0.0.1:$(sink_port s)/ok"
	push_live "three"
	with=$LIVE_MS
	echo "push to live: ${without} ms without, ${with} ms with a hanging webhook"
	[ "$with" -le $(( without * 2 + 2000 )) ]
	# The other webhook has the release while the hanging one waits.
	wait_for "the release at the other webhook" 10 sink_got s 1 \
	    "r['path'] == '/ok' and $(event_is release.succeeded)"
	[ "$(delivery_field "$hang" release.succeeded attempts)" = 0 ]
	# The hang ends at the timeout (2 s here): a failed try, retried.
	wait_for "the hanging try to time out" 15 deliveries_are 1 \
	    "d['webhook'] == $hang and d['event'] == 'release.succeeded' and d['attempts'] >= 1"
	[[ "$(delivery_field "$hang" release.succeeded error)" == *"timed out"* ]]
	[ "$(delivery_field "$hang" release.succeeded status)" = pending ]
	grep -q "webhook $hang (127.0.0.1): release.succeeded (event [0-9]*): .*timed out" \
	    "$BATS_TEST_TMPDIR/berthd.log"
	# The deploy itself went as ever.
	[ "$(json_get "$(berth releases -a demo-staging --json)" 'd[0]["status"]')" = succeeded ]
}

@test "410 Gone fails a delivery at once, 302 is not followed, 500 and resets are retried" {
	start_sink s
	port=$(sink_port s)
	add_hook "http://127.0.0.1:$port/410/x" --events config
	gone=$HOOK
	add_hook "http://127.0.0.1:$port/302/x" --events config
	moved=$HOOK
	add_hook "http://127.0.0.1:$port/500/x" --events config
	broken=$HOOK
	add_hook "http://127.0.0.1:$port/reset/x" --events config
	reset=$HOOK
	start_berthd
	berth config:set GREETING=hi -a demo-staging >/dev/null
	wait_for "the 410 and the 302 to fail" 15 deliveries_are 2 \
	    "d['status'] == 'failed'"
	[ "$(delivery_field "$gone" config.changed http_code)" = 410 ]
	[ "$(delivery_field "$gone" config.changed attempts)" = 1 ]
	[ "$(delivery_field "$moved" config.changed http_code)" = 302 ]
	[[ "$(delivery_field "$moved" config.changed error)" == *"redirect"* ]]
	[ "$(sink_count s "r['path'] == '/followed'")" = 0 ]
	wait_for "500 and reset to be tried again" 15 deliveries_are 2 \
	    "d['webhook'] in ($broken, $reset) and d['attempts'] >= 2 and d['status'] == 'pending'"
	[ "$(delivery_field "$broken" config.changed error)" = "HTTP 500" ]
	[ "$(delivery_field "$reset" config.changed http_code)" = None ]
	# Failed is final: no more tries of those.
	[ "$(sink_count s "r['path'] == '/410/x'")" = 1 ]
	[ "$(sink_count s "r['path'] == '/302/x'")" = 1 ]
}

@test "a 100 MB answer is cut off at 64 KiB" {
	start_sink s
	add_hook "http://127.0.0.1:$(sink_port s)/big/x" --events config
	start_berthd
	berth config:set GREETING=hi -a demo-staging >/dev/null
	wait_for "the try to fail" 15 deliveries_are 1 "d['status'] == 'failed'"
	[[ "$(delivery_field "$HOOK" config.changed error)" == *"cut off"* ]]
	wait_for "the sink to see the cut" 15 grep -q '"kind": "big"' \
	    "$BATS_TEST_TMPDIR/sink-s/requests.jsonl"
	run python3 -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["kind"] == "big":
        print(r["sent"], r["complete"])
        assert not r["complete"] and r["sent"] < 32 * 1024 * 1024' \
	    "$BATS_TEST_TMPDIR/sink-s/requests.jsonl"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a pipeline connected to GitHub gets its commit status and deployment from berthd" {
	local gh=$BATS_TEST_TMPDIR/github
	mkdir -p "$gh"
	python3 "$FIXTURES/fake-github.py" "$gh" ghp_s3cret > "$gh/port" 3>&- &
	SINK_PIDS="$SINK_PIDS $!"
	wait_for "the fake GitHub" 10 test -s "$gh/port"
	echo ghp_s3cret > "$BATS_TEST_TMPDIR/token"
	chmod 600 "$BATS_TEST_TMPDIR/token"
	berth github:connect -p demo --repo acme/shop --token-file \
	    "$BATS_TEST_TMPDIR/token" --api-url "http://127.0.0.1:$(cat "$gh/port")" \
	    >/dev/null
	start_berthd
	push_live "Ship it"
	wait_for "the release's delivery" 20 deliveries_are 1 \
	    "d['event'] == 'release.succeeded' and d['status'] == 'succeeded'"
	sha=$(git -C "$APP" rev-parse HEAD)
	run python3 - "$gh/requests.jsonl" "$sha" <<-'EOF'
	import json, sys
	rs = [json.loads(l) for l in open(sys.argv[1])]
	paths = [(r["method"], r["path"]) for r in rs]
	sha = sys.argv[2]
	st = [r for r in rs if r["path"] == "/repos/acme/shop/statuses/" + sha]
	assert st and st[0]["body"]["state"] == "success", rs
	assert st[0]["body"]["context"] == "berth/deploy/demo-staging"
	assert ("POST", "/repos/acme/shop/deployments") in paths, paths
	states = [r["body"]["state"] for r in rs
	          if r["path"].endswith("/statuses") and "deployments/" in r["path"]]
	assert states == ["in_progress", "success"], states
	print(len(rs))
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
	! grep -q ghp_s3cret "$BATS_TEST_TMPDIR/berthd.log"
}

@test "bad webhook and GitHub settings: one line each, nothing added; secrets never shown" {
	long="http://127.0.0.1/$(head -c 5000 /dev/zero | tr '\0' a)"
	for bad in "ftp://127.0.0.1/x|are http or https, not ftp" \
	    "http://user:pw@127.0.0.1/x|carries credentials" \
	    "$long|bytes long; at most 2048" \
	    "not a url|is not a URL"; do
		run --separate-stderr berth webhooks:add "${bad%%|*}" -p demo
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 0 ]
		[[ "$stderr" == *"${bad#*|}"* ]]
	done
	run --separate-stderr berth webhooks:add http://127.0.0.1/x -p demo --events build,nope
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"--events: no event 'nope'"* ]]
	run --separate-stderr berth webhooks:add http://127.0.0.1/x -p demo --secret-file "$BATS_TEST_TMPDIR/missing"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot read"*missing* ]]
	: > "$BATS_TEST_TMPDIR/empty"
	run --separate-stderr berth github:connect -p demo --repo acme/shop --token-file "$BATS_TEST_TMPDIR/empty"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"--token-file "*"empty must hold one token"* ]]
	run --separate-stderr berth github:connect -p demo --repo acme --token-file "$BATS_TEST_TMPDIR/empty"
	[[ "$stderr" == *"--repo wants OWNER/NAME"* ]]
	[ "$(berth webhooks -p demo --json)" = "[]" ]
	# A token others can read works, with a warning; it is never shown.
	echo ghp_s3cr3t > "$BATS_TEST_TMPDIR/token"
	chmod 644 "$BATS_TEST_TMPDIR/token"
	run --separate-stderr berth github:connect -p demo --repo acme/shop --token-file "$BATS_TEST_TMPDIR/token"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"warning: others can read"* ]]
	echo sekrit > "$BATS_TEST_TMPDIR/secret"
	chmod 600 "$BATS_TEST_TMPDIR/secret"
	berth webhooks:add https://hooks.slack.com/services/T1/B2/tok3n -p demo --kind slack >/dev/null
	berth webhooks:add http://127.0.0.1/x -p demo --secret-file "$BATS_TEST_TMPDIR/secret" >/dev/null
	run berth webhooks -p demo
	[[ "$output" == *"secret set"* ]]
	[[ "$output" != *sekrit* && "$output" != *ghp_s3cr3t* && "$output" != *tok3n* ]]
	run berth github:info -p demo --json
	[[ "$output" != *ghp_s3cr3t* ]]
	run berth webhooks -p demo --json
	[[ "$output" != *sekrit* && "$output" != *ghp_s3cr3t* && "$output" != *tok3n* ]]
}
