#!/usr/bin/env bats
# Heroku Flow per branch: CI test runs on every push (the deploy branch
# only moves when its tests pass) and a review app per pushed branch on a
# predictable URL, driven by app.json; deleting the branch or going
# stale destroys it. Bad input: malformed app.json, branch names that
# slug badly, missing required review vars, hanging or forking tests.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	berth pipelines:create demo >/dev/null
	berth reviewapps:enable -p demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	# App scripts log, and park, through the gate server: sandboxed.
	start_gates
	HOOK_LOG=$GATES/log
	make_review_app "$APP"
}

teardown() {
	# A parked postdeploy must not outlive the test.
	touch "$BATS_TEST_TMPDIR/go" "$GATES/go" 2>/dev/null || true
	for p in ${CLI_PIDS:-}; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	# Test scripts that a bug would leave running (their pid files; only
	# while the pid is still one of their sleeps or shells).
	for f in "$BATS_TEST_TMPDIR"/*.pids; do
		[ -e "$f" ] || continue
		for p in $(cat "$f"); do
			if alive "$p" && grep -qa -e sleep -e PIDS \
			    "/proc/$p/cmdline" 2>/dev/null; then
				kill -KILL "$p" 2>/dev/null || true
			fi
		done
	done
	stop_berthd
	stop_gates
}

# make_review_app DIR: a Procfile-only python app whose web dyno answers
# with one KEY=VALUE line per variable review apps care about, plus
# content.txt; in a new repo with one commit on main.
make_review_app() {
	local dir=$1
	mkdir -p "$dir"
	cat > "$dir/app.py" <<-'EOF'
	import http.server, os
	KEYS = ("GREETING", "OVERRIDE", "PIPE_VAR", "STAGING_ONLY", "SECRET_KEY",
	        "API_KEY", "BERTH_BRANCH", "BERTH_APP", "BERTH_PARENT_APP",
	        "BERTH_RELEASE")
	class H(http.server.BaseHTTPRequestHandler):
	    def do_GET(self):
	        with open("content.txt") as f:
	            content = f.read().strip()
	        lines = ["%s=%s" % (k, os.environ.get(k, "")) for k in KEYS]
	        lines.append("CONTENT=%s" % content)
	        body = ("\n".join(lines) + "\n").encode()
	        self.send_response(200)
	        self.send_header("Content-Length", str(len(body)))
	        self.end_headers()
	        self.wfile.write(body)
	    def log_message(self, *args):
	        pass
	http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])),
	    H).serve_forever()
	EOF
	echo A > "$dir/content.txt"
	add_gate_script "$dir"
	printf 'web: python3 app.py\n' > "$dir/Procfile"
	git -C "$dir" init -q
	git -C "$dir" add -A
	git -C "$dir" commit -qm "First commit"
}

# set_appjson DIR TEXT: replace app.json and commit.
set_appjson() {
	printf '%s\n' "$2" > "$1/app.json"
	git -C "$1" add -A
	git -C "$1" commit -qm "app.json"
}

# set_content DIR TEXT: replace content.txt and commit.
set_content() {
	echo "$2" > "$1/content.txt"
	git -C "$1" add -A
	git -C "$1" commit -qm "Content $2"
}

# branch DIR NAME: create and check out a branch of the current commit.
branch() {
	git -C "$1" checkout -qb "$2"
}

# bpush DIR REFSPEC [GIT-PUSH-ARGS...]: push one refspec to pipeline
# demo, e.g. bpush "$APP" feature/x -o ci.skip.
bpush() {
	local dir=$1 spec=$2
	shift 2
	git -C "$dir" push "$@" "$(repo_of demo)" "$spec" 2>&1
}

# var APP KEY: the value the review app's web dyno reports for KEY.
var() {
	local body
	body=$(router_get "$1" /) || return 1
	printf '%s\n' "$body" | sed -n "s/^$2=//p"
}

# ra_json: `berth reviewapps -p demo --json`.
ra_json() {
	berth reviewapps -p demo --json
}

# ra_branches: the listed review apps' branches, sorted, space-separated.
ra_branches() {
	local out
	out=$(ra_json) || return 1
	json_get "$out" '" ".join(sorted(r["branch"] for r in d))'
}

# ra BRANCH EXPR: EXPR on the review app r of BRANCH.
ra() {
	local out
	out=$(ra_json) || return 1
	python3 -c 'import json,sys
rs = [r for r in json.loads(sys.argv[1]) if r["branch"] == sys.argv[2]]
r = rs[0]
print(eval(sys.argv[3]))' "$out" "$1" "$2"
}

# not_listed BRANCH: no live review app for BRANCH.
not_listed() {
	local b
	b=$(ra_branches) || return 1
	[[ " $b " != *" $1 "* ]]
}

# ci_json: every test run of demo, newest first.
ci_json() {
	berth ci -p demo -n 1000 --json
}

# nruns: how many test runs demo has.
nruns() {
	json_get "$(ci_json)" 'len(d)'
}

# run0 EXPR: EXPR on the newest test run r.
run0() {
	json_get "$(ci_json)" "(lambda r: $1)(d[0])"
}

# nreleases APP
nreleases() {
	json_get "$(berth releases -a "$1" -n 1000 --json)" 'len(d)'
}

# sql QUERY [ARGS...]: the ledger, read-only, one row a line ("|").
sql() {
	python3 - "$BERTH_ROOT/ledger.db" "$@" <<-'EOF'
	import sqlite3, sys
	db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
	for row in db.execute(sys.argv[2], sys.argv[3:]):
	    print("|".join("" if v is None else str(v) for v in row))
	EOF
}

# alive PID: the process exists and is not a zombie.
alive() {
	[ -e "/proc/$1/stat" ] &&
	    ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

# all_gone FILE: no pid listed in FILE is alive.
all_gone() {
	local p
	for p in $(cat "$1"); do
		! alive "$p" || return 1
	done
}

# hash_suffix BRANCH: the 4-hex suffix of a cut or taken review app
# name: the low 16 bits of the FNV-1a hash of the exact branch name.
hash_suffix() {
	python3 -c 'import sys
h = 2166136261
for c in sys.argv[1].encode():
    h = ((h ^ c) * 16777619) & 0xffffffff
print("%04x" % (h & 0xffff))' "$1"
}

# in_background NAME COMMAND...: output in $BATS_TEST_TMPDIR/NAME.out.
in_background() {
	local name=$1
	shift
	"$@" >"$BATS_TEST_TMPDIR/$name.out" 2>&1 3>&- &
	LAST_PID=$!
	CLI_PIDS="${CLI_PIDS:-} $LAST_PID"
}

@test "a branch push makes a review app on its predictable URL with the review config; a second push redeploys it" {
	set_appjson "$APP" '{
  "env": {
    "GREETING": "from app.json",
    "OVERRIDE": {"description": "the pipeline overrides it", "value": "from app.json"},
    "SECRET_KEY": {"generator": "secret"}
  },
  "colour": "blue",
  "environments": {"review": {"env": {"GREETING": "from environments.review"}}}
}'
	berth reviewapps:config:set PIPE_VAR=pipeline OVERRIDE=pipeline -p demo >/dev/null
	berth config:set STAGING_ONLY=leaked -a demo-staging >/dev/null
	start_berthd
	run bpush "$APP" main
	[ "$status" -eq 0 ]
	staging_releases=$(nreleases demo-staging)
	branch "$APP" feature/Login_Form
	set_content "$APP" "review one"
	sha1=$(git -C "$APP" rev-parse HEAD)
	run bpush "$APP" feature/Login_Form
	echo "$output"
	[ "$status" -eq 0 ]
	url="http://demo-feature-login-form.localhost:$ROUTER_PORT/"
	[[ "$output" == *"Review app demo-feature-login-form (new)"* ]]
	[[ "$output" == *"Launching v1... done, $url"* ]]
	# Unknown keys are ignored with a note, as on Heroku.
	[[ "$output" == *"unknown key 'colour' ignored"* ]]
	[ "$(remote_head demo feature/Login_Form)" = "$sha1" ]

	run router_get demo-feature-login-form /
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\nCONTENT=review one'* ]]
	[ "$(var demo-feature-login-form GREETING)" = "from environments.review" ]
	[ "$(var demo-feature-login-form OVERRIDE)" = pipeline ]
	[ "$(var demo-feature-login-form PIPE_VAR)" = pipeline ]
	[ "$(var demo-feature-login-form BERTH_BRANCH)" = feature/Login_Form ]
	[ "$(var demo-feature-login-form BERTH_APP)" = demo-feature-login-form ]
	[ "$(var demo-feature-login-form BERTH_PARENT_APP)" = demo-staging ]
	[ "$(var demo-feature-login-form BERTH_RELEASE)" = v1 ]
	# Review apps never see staging's config.
	[ "$(var demo-feature-login-form STAGING_ONLY)" = "" ]
	run berth config:get STAGING_ONLY -a demo-feature-login-form
	[ "$status" -ne 0 ]
	secret=$(berth config:get SECRET_KEY -a demo-feature-login-form)
	[[ "$secret" =~ ^[0-9a-f]{64}$ ]]
	[ "$(var demo-feature-login-form SECRET_KEY)" = "$secret" ]

	run ra_json
	[ "$(json_get "$output" 'len(d)')" = 1 ]
	[ "$(ra feature/Login_Form 'r["app"]')" = demo-feature-login-form ]
	[ "$(ra feature/Login_Form 'r["url"]')" = "$url" ]
	[ "$(ra feature/Login_Form 'r["status"]')" = deployed ]
	run berth reviewapps -p demo
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ feature/Login_Form\ +demo-feature-login-form\ +http://demo-feature-login-form\.localhost:$ROUTER_PORT/\ +deployed ]]

	# The second push redeploys the same app; the secret is kept.
	set_content "$APP" "review two"
	sha2=$(git -C "$APP" rev-parse HEAD)
	run bpush "$APP" feature/Login_Form
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"(new)"* ]]
	[[ "$output" == *"Launching v2... done, $url"* ]]
	[ "$(var demo-feature-login-form CONTENT)" = "review two" ]
	[ "$(var demo-feature-login-form BERTH_RELEASE)" = v2 ]
	[ "$(berth config:get SECRET_KEY -a demo-feature-login-form)" = "$secret" ]
	[ "$(var demo-feature-login-form SECRET_KEY)" = "$secret" ]
	run berth releases -a demo-feature-login-form --json
	[ "$(json_get "$output" '[(r["version"], r["status"], r["commit"]) for r in d]')" = \
	    "[(2, 'succeeded', '$sha2'), (1, 'succeeded', '$sha1')]" ]
	[ "$(json_get "$(ra_json)" 'len(d)')" = 1 ]
	# Staging is untouched by branch pushes.
	[ "$(nreleases demo-staging)" = "$staging_releases" ]
	run router_get demo-staging /
	[[ "$output" == *$'\nCONTENT=A'* ]]
}

@test "postdeploy runs once; deleting the branch runs pr-predestroy, removes the route and keeps the history" {
	set_appjson "$APP" '{
  "env": {"HOOK_LOG": {"required": true}},
  "scripts": {
    "postdeploy": "./gate.sh log postdeploy $BERTH_APP",
    "pr-predestroy": "./gate.sh log pr-predestroy $BERTH_APP"
  },
  "environments": {"test": {"scripts": {"test": "echo ok 1 - fine"}}}
}'
	berth reviewapps:config:set HOOK_LOG="$HOOK_LOG" -p demo >/dev/null
	start_berthd
	branch "$APP" feature/x
	run bpush "$APP" feature/x
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"postdeploy: "* ]]
	[[ "$output" == *"postdeploy done"* ]]
	set_content "$APP" B
	run bpush "$APP" feature/x
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching v2... done"* ]]
	[[ "$output" != *"postdeploy"* ]]
	run cat "$HOOK_LOG"
	[ "$output" = "postdeploy demo-feature-x" ]
	[ "$(ra feature/x 'r["postdeploy_done"]')" = True ]
	[ "$(router_code demo-feature-x /)" = 200 ]
	[ -n "$(dyno_pids demo-feature-x)" ]
	[ "$(json_get "$(berth ci -p demo --branch feature/x --json)" 'len(d)')" = 2 ]

	run bpush "$APP" :feature/x
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Review app demo-feature-x destroyed (pr-predestroy ran)"* ]]
	[ "$(remote_head demo feature/x)" = none ]
	run cat "$HOOK_LOG"
	[ "$output" = "postdeploy demo-feature-x
pr-predestroy demo-feature-x" ]
	[ "$(router_code demo-feature-x /)" = 404 ]
	wait_for "the review app's dynos to stop" 10 \
	    eval '[ -z "$(dyno_pids demo-feature-x)" ]'
	run berth reviewapps -p demo
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *feature/x* ]]
	[ "$(json_get "$(ra_json)" 'len(d)')" = 0 ]
	run berth apps -p demo
	[[ "$output" != *demo-feature-x* ]]
	# The ledger keeps the app, its releases and its test runs.
	[ "$(sql "SELECT status, destroyed_at IS NOT NULL FROM review_apps WHERE branch = ?" feature/x)" = "destroyed|1" ]
	[ "$(sql "SELECT count(*) FROM apps WHERE name = ? AND destroyed_at IS NOT NULL" demo-feature-x)" = 1 ]
	[ "$(sql "SELECT r.version || ':' || r.status FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = ? ORDER BY r.version" demo-feature-x | tr '\n' ' ')" = "1:succeeded 2:succeeded " ]
	[ "$(json_get "$(berth ci -p demo --branch feature/x --json)" '[r["status"] for r in d]')" = "['succeeded', 'succeeded']" ]

	# A later push of the branch makes a new one, with postdeploy again.
	run bpush "$APP" feature/x
	[ "$status" -eq 0 ]
	[[ "$output" == *"Review app demo-feature-x (new)"* ]]
	[ "$(grep -c '^postdeploy demo-feature-x$' "$HOOK_LOG")" = 2 ]
	[ "$(router_code demo-feature-x /)" = 200 ]
}

@test "a failing test on the deploy branch rejects the push; staging keeps its release" {
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": "echo ok 1 - tax"}}}}'
	start_berthd
	run bpush "$APP" main
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 passed, 0 failed"* ]]
	v1=$(git -C "$APP" rev-parse HEAD)
	echo B > "$APP/content.txt"
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": "echo '"'not ok 1 - tax'"'; exit 1"}}}}'
	bad=$(git -C "$APP" rev-parse HEAD)
	run bpush "$APP" main
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not ok 1 - tax"* ]]
	[[ "$output" == *"0 passed, 1 failed"* ]]
	[[ "$output" == *"Push rejected: tests failed"* ]]
	[[ "$output" == *"demo-staging stays on v1"* ]]
	[[ "$output" == *"pre-receive hook declined"* ]]
	# Rejected before any build.
	[[ "$output" != *"Building demo-staging"* ]]
	[ "$(remote_head demo main)" = "$v1" ]
	[ "$(nreleases demo-staging)" = 1 ]
	run router_get demo-staging /
	[[ "$output" == *$'\nBERTH_RELEASE=v1\nCONTENT=A'* ]]
	run berth ci -p demo --json
	echo "$output"
	[ "$(json_get "$output" 'len(d)')" = 2 ]
	[ "$(json_get "$output" '(d[0]["number"], d[0]["status"], d[0]["passed"], d[0]["failed"], d[0]["branch"], d[0]["commit"])')" = \
	    "(2, 'failed', 0, 1, 'main', '$bad')" ]
	[ "$(json_get "$output" 'd[1]["status"]')" = succeeded ]
	run berth ci -p demo
	[[ "${lines[0]}" =~ ^#2\ +failed\ +main\ +${bad:0:7}\ +0\ passed,\ 1\ failed ]]
}

@test "a failing test on a branch still deploys its review app and shows failed in reviewapps and ci" {
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": "echo ok 1 - a; echo not ok 2 - b; exit 1"}}}}'
	start_berthd
	branch "$APP" feature/broken
	sha=$(git -C "$APP" rev-parse HEAD)
	run bpush "$APP" feature/broken
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 passed, 1 failed"* ]]
	[[ "$output" == *"Tests failed"* ]]
	[[ "$output" == *"Launching v1... done"* ]]
	[ "$(remote_head demo feature/broken)" = "$sha" ]
	[ "$(router_code demo-feature-broken /)" = 200 ]
	[ "$(ra feature/broken 'r["status"]')" = deployed ]
	[ "$(ra feature/broken 'r["ci"]["status"]')" = failed ]
	[ "$(ra feature/broken 'r["ci"]["number"]')" = 1 ]
	run berth reviewapps -p demo
	echo "$output"
	[[ "$output" =~ feature/broken\ +demo-feature-broken\ +http[^\ ]+\ +deployed\ +.*\ failed($|$'\n') ]]
	run berth ci -p demo
	echo "$output"
	[[ "${lines[0]}" =~ ^#1\ +failed\ +feature/broken\ +${sha:0:7}\ +1\ passed,\ 1\ failed ]]
}

@test "a later push of a branch whose tests now fail still redeploys its review app; the push is not rejected" {
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": "echo ok 1 - tax"}}}}'
	start_berthd
	branch "$APP" feature/flaky
	run bpush "$APP" feature/flaky
	[ "$status" -eq 0 ]
	[ "$(ra feature/flaky 'r["ci"]["status"]')" = succeeded ]
	echo B > "$APP/content.txt"
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": "echo not ok 1 - tax; exit 1"}}}}'
	sha=$(git -C "$APP" rev-parse HEAD)
	run bpush "$APP" feature/flaky
	echo "$output"
	# post-receive never rejects: only the deploy branch is gated.
	[ "$status" -eq 0 ]
	[[ "$output" != *"Push rejected"* ]]
	[ "$(remote_head demo feature/flaky)" = "$sha" ]
	[[ "$output" == *"Launching v2... done"* ]]
	[ "$(var demo-feature-flaky CONTENT)" = B ]
	[ "$(ra feature/flaky 'r["ci"]["status"]')" = failed ]
}

@test "every push of a branch refreshes its review app's last push time" {
	start_berthd
	branch "$APP" feature/busy
	run bpush "$APP" feature/busy
	[ "$status" -eq 0 ]
	first=$(ra feature/busy 'r["last_push_at"]')
	echo "first push at $first"
	# last_push_at has one-second resolution.
	t=$(date +%s)
	wait_for "a second to pass" 5 eval "[ \$(date +%s) -gt $t ]"
	set_content "$APP" B
	run bpush "$APP" feature/busy
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(var demo-feature-busy CONTENT)" = B ]
	second=$(ra feature/busy 'r["last_push_at"]')
	echo "second push at $second"
	# Else the stale reaper (--autodestroy) destroys a branch in active use.
	[[ "$second" > "$first" ]]
	[ "$(ra feature/busy 'r["status"]')" = deployed ]
}

@test "-o ci.skip pushes without a test run; -o review.skip without a review app" {
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": "echo ok 1"}}}}'
	start_berthd
	branch "$APP" feature/a
	run bpush "$APP" feature/a -o ci.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"CI skipped (git push -o ci.skip)"* ]]
	[[ "$output" != *"Testing "* ]]
	[ "$(nruns)" = 0 ]
	[ "$(router_code demo-feature-a /)" = 200 ]

	branch "$APP" feature/b
	run bpush "$APP" feature/b -o review.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Review app skipped (git push -o review.skip)"* ]]
	[[ "$output" == *"Testing "* ]]
	[ "$(nruns)" = 1 ]
	[ "$(run0 'r["branch"]')" = feature/b ]
	[ "$(ra_branches)" = feature/a ]
	[ "$(router_code demo-feature-b /)" = 404 ]
	run berth apps -p demo
	[[ "$output" != *demo-feature-b* ]]
	[ "$(remote_head demo feature/b)" = "$(git -C "$APP" rev-parse HEAD)" ]

	# Both at once: nothing but the ref moves.
	set_content "$APP" B
	run bpush "$APP" feature/b -o ci.skip -o review.skip
	[ "$status" -eq 0 ]
	[ "$(nruns)" = 1 ]
	[ "$(ra_branches)" = feature/a ]
	# The deploy branch with -o ci.skip deploys untested.
	run bpush "$APP" feature/b:main -o ci.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"CI skipped"* ]]
	[[ "$output" == *"Launching v1... done"* ]]
	[ "$(nruns)" = 1 ]
	# Options hold for one push only.
	set_content "$APP" C
	run bpush "$APP" feature/b
	[ "$status" -eq 0 ]
	[ "$(nruns)" = 2 ]
	[ "$(ra_branches)" = "feature/a feature/b" ]
}

@test "parallel CI nodes see distinct CI_NODE_INDEX and run at the same time; one failing node fails the run" {
	# Each node waits (bounded) for the other at the gate server's
	# barrier: sequential nodes would fail.
	set_appjson "$APP" '{"environments": {"test": {
  "formation": {"test": {"quantity": 2}},
  "scripts": {"test": "./gate.sh barrier nodes 2 && echo \"ok 1 - node $CI_NODE_INDEX of $CI_NODE_TOTAL met the other\""}}}}'
	branch "$APP" feature/par
	run bpush "$APP" feature/par -o review.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"[test run #1, parallel]"* ]]
	[[ "$output" == *"[node 0] ok 1 - node 0 of 2 met the other"* ]]
	[[ "$output" == *"[node 1] ok 1 - node 1 of 2 met the other"* ]]
	[[ "$output" == *"2 passed, 0 failed"* ]]
	[ "$(run0 '(r["nodes"], r["status"], r["passed"], r["failed"])')" = "(2, 'succeeded', 2, 0)" ]
	run berth ci:info 1 -p demo --node 0
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"=== Node 0 (CI_NODE_INDEX=0)"* ]]
	[[ "$output" == *"ok 1 - node 0 of 2"* ]]
	[[ "$output" != *"node 1 of 2"* ]]
	run berth ci:info 1 -p demo --node 1
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok 1 - node 1 of 2"* ]]
	[[ "$output" != *"node 0 of 2"* ]]
	run --separate-stderr berth ci:info 1 -p demo --node 2
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"ran on 2 nodes: --node takes 0 to 1"* ]]

	# Node 1 fails, node 0 passes: the run failed.
	set_appjson "$APP" '{"environments": {"test": {
  "formation": {"test": {"quantity": 2}},
  "scripts": {"test": "echo \"ok 1 - node $CI_NODE_INDEX\"; [ $CI_NODE_INDEX = 0 ] || { echo \"not ok 2 - node $CI_NODE_INDEX\"; exit 1; }"}}}}'
	run bpush "$APP" feature/par -o review.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 passed, 1 failed"* ]]
	[ "$(run0 '(r["number"], r["status"], r["passed"], r["failed"])')" = "(2, 'failed', 2, 1)" ]
	run sql "SELECT n.node || ':' || n.status FROM test_nodes n JOIN test_runs r ON r.id = n.run_id WHERE r.number = 2 ORDER BY n.node"
	[ "$output" = "0:succeeded
1:failed" ]

	# berth.ini [ci] max_nodes bounds formation.test.quantity.
	printf '\n[ci]\nmax_nodes = 2\n' >> "$BERTH_ROOT/berth.ini"
	set_appjson "$APP" '{"environments": {"test": {
  "formation": {"test": {"quantity": 3}},
  "scripts": {"test": "echo ok 1 - node $CI_NODE_INDEX of $CI_NODE_TOTAL"}}}}'
	run bpush "$APP" feature/par -o review.skip
	echo "$output"
	[ "$(run0 '(r["nodes"], r["status"], r["passed"])')" = "(2, 'succeeded', 2)" ]
	[[ "$output" == *"ok 1 - node 1 of 2"* ]]
	[[ "$output" != *"node 2 of"* ]]
}

@test "test-setup failure errors the run; a hanging test errors after [ci] timeout and leaves no process; a forked daemon is killed" {
	set_appjson "$APP" '{"environments": {"test": {
  "scripts": {"test-setup": "echo setting up; exit 3", "test": "./gate.sh log test ran; echo ok 1"}}}}'
	branch "$APP" feature/t
	run bpush "$APP" feature/t -o review.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"setting up"* ]]
	[[ "$output" == *"Tests errored"* ]]
	[[ "$output" == *"exited with status 3"* ]]
	[[ "$(cat "$GATES/log" 2>/dev/null)" != *"test ran"* ]]
	[ "$(run0 'r["status"]')" = errored ]
	[[ "$(run0 'r["error"]')" == *"exit 3"* ]]

	# A test that never ends: [ci] timeout = 2.
	printf '\n[ci]\ntimeout = 2\n' >> "$BERTH_ROOT/berth.ini"
	set_appjson "$APP" '{"environments": {"test": {
  "scripts": {"test": "sleep 1000 & echo waiting forever; wait"}}}}'
	start=$(date +%s)
	run bpush "$APP" feature/t -o review.skip
	took=$(( $(date +%s) - start ))
	echo "$output"
	echo "took ${took}s"
	[ "$status" -eq 0 ]
	[ "$took" -ge 2 ]
	[ "$took" -lt 15 ]
	[[ "$output" == *"waiting forever"* ]]
	[[ "$output" == *"timed out after 2 s (berth.ini [ci] timeout)"* ]]
	[ "$(run0 '(r["number"], r["status"])')" = "(2, 'errored')" ]
	# Its sandbox's processes (found by their mounts) are gone.
	wait_for "the hanging test's processes to end" 5 no_root_procs

	# A test that forks a daemon and exits 0.
	set_appjson "$APP" '{"environments": {"test": {
  "scripts": {"test": "setsid sleep 1000 </dev/null >/dev/null 2>&1 & ./gate.sh log forked $!; echo ok 1 - forked"}}}}'
	run bpush "$APP" feature/t -o review.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(run0 '(r["number"], r["status"])')" = "(3, 'succeeded')" ]
	grep -q '^forked [0-9]' "$GATES/log"
	wait_for "the test's daemon to be killed" 5 no_root_procs
	# Nothing the runs started is left in the server root.
	wait_for "no process of the root" 5 no_root_procs
}

@test "a required review var missing: no review app, the push succeeds, the message says how to set it" {
	set_appjson "$APP" '{"env": {
  "API_KEY": {"description": "the payment API key", "required": true},
  "DB_URL": {"description": "no value and no generator: required"},
  "OPTIONAL": {"description": "not needed", "required": false},
  "GREETING": "hi"}}'
	start_berthd
	branch "$APP" feature/pay
	sha=$(git -C "$APP" rev-parse HEAD)
	run bpush "$APP" feature/pay
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(remote_head demo feature/pay)" = "$sha" ]
	[[ "$output" == *"review app for feature/pay not created"* ]]
	[[ "$output" == *"required config vars"* ]]
	[[ "$output" == *API_KEY* ]]
	[[ "$output" == *DB_URL* ]]
	[[ "$output" != *OPTIONAL* ]]
	[[ "$output" == *"berth reviewapps:config:set KEY=VALUE -p demo"* ]]
	[ "$(json_get "$(ra_json)" 'len(d)')" = 0 ]
	run berth apps -p demo
	[[ "$output" != *demo-feature-pay* ]]
	[ "$(router_code demo-feature-pay /)" = 404 ]

	run berth reviewapps:config:set API_KEY=k-123 DB_URL=postgres://review -p demo
	[ "$status" -eq 0 ]
	[[ "$output" != *k-123* ]]
	run berth reviewapps:create -p demo -b feature/pay
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Review app demo-feature-pay for feature/pay: http://demo-feature-pay.localhost:$ROUTER_PORT/"* ]]
	[ "$(var demo-feature-pay API_KEY)" = k-123 ]
	[ "$(var demo-feature-pay GREETING)" = hi ]
	[ "$(berth config:get DB_URL -a demo-feature-pay)" = postgres://review ]
	run berth config:get OPTIONAL -a demo-feature-pay
	[ "$status" -ne 0 ]
	[ "$(ra feature/pay 'r["status"]')" = deployed ]
}

@test "branch names: one that slugs to nothing, a very long one, two that differ only in case" {
	start_berthd
	# git allows "___"; it has no letter or digit.
	branch "$APP" ___
	run bpush "$APP" ___
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"branch '___' makes no review app name: use letters or digits in it"* ]]
	[ "$(remote_head demo ___)" != none ]
	[ "$(json_get "$(ra_json)" 'len(d)')" = 0 ]

	long=feature/JIRA-1234-make-the-checkout-page-much-faster
	branch "$APP" "$long"
	run bpush "$APP" "$long"
	echo "$output"
	[ "$status" -eq 0 ]
	name=$(ra "$long" 'r["app"]')
	echo "long branch -> $name"
	[ "${#name}" -le 30 ]
	[ "$name" = "demo-feature-jira-1234-ma-$(hash_suffix "$long")" ]
	[ "$(var "$name" BERTH_BRANCH)" = "$long" ]
	# A redeploy keeps the name.
	set_content "$APP" long2
	run bpush "$APP" "$long"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching v2... done, http://$name.localhost:$ROUTER_PORT/"* ]]
	[[ "$output" != *"(new)"* ]]

	branch "$APP" Feature/A
	run bpush "$APP" Feature/A
	[ "$status" -eq 0 ]
	branch "$APP" feature/a
	run bpush "$APP" feature/a
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(ra Feature/A 'r["app"]')" = demo-feature-a ]
	lower=$(ra feature/a 'r["app"]')
	[ "$lower" = "demo-feature-a-$(hash_suffix feature/a)" ]
	[ "$(var demo-feature-a BERTH_BRANCH)" = Feature/A ]
	[ "$(var "$lower" BERTH_BRANCH)" = feature/a ]
	# Each branch redeploys its own app.
	set_content "$APP" lower2
	run bpush "$APP" feature/a
	[ "$status" -eq 0 ]
	[[ "$output" == *"Launching v2... done, http://$lower.localhost:$ROUTER_PORT/"* ]]
	[ "$(var "$lower" CONTENT)" = lower2 ]
	[ "$(var demo-feature-a CONTENT)" = long2 ]
	# Deleting one leaves the other.
	run bpush "$APP" :Feature/A
	[ "$status" -eq 0 ]
	[ "$(router_code demo-feature-a /)" = 404 ]
	[ "$(router_code "$lower" /)" = 200 ]
	[ "$(ra_branches)" = "$long feature/a" ]
}

@test "the stale reaper destroys an idle review app of an autodestroy pipeline, and only that" {
	configure_berthd
	printf '\n[review]\ncheck_interval = 1\n' >> "$BERTH_ROOT/berth.ini"
	# A second pipeline with review apps but no autodestroy.
	berth pipelines:create other >/dev/null
	berth reviewapps:enable -p other >/dev/null
	run berth reviewapps:enable -p demo --autodestroy --stale-days 0
	[ "$status" -eq 0 ]
	[[ "$output" == *"autodestroy after 0 days"* ]]
	start_berthd
	branch "$APP" feature/idle
	git -C "$APP" push -q "$(repo_of other)" feature/idle 2>&1
	[ "$(json_get "$(berth reviewapps -p other --json)" 'len(d)')" = 1 ]
	run bpush "$APP" feature/idle
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Review app demo-feature-idle (new)"* ]]
	[[ "$output" == *"Launching v1... done"* ]]
	wait_for "the reaper to destroy demo-feature-idle" 15 not_listed feature/idle
	[ "$(router_code demo-feature-idle /)" = 404 ]
	grep -q "destroying review app demo-feature-idle: no push for 0 days" \
	    "$BATS_TEST_TMPDIR/berthd.log"
	[ "$(sql "SELECT status FROM review_apps r JOIN pipelines p ON p.id = r.pipeline_id WHERE p.name = 'demo' AND r.branch = 'feature/idle'")" = destroyed ]
	# Two more checks later, other's review app (older) is still there.
	t=$(date +%s)
	wait_for "two check intervals to pass" 10 eval "[ \$(date +%s) -ge $((t + 3)) ]"
	[ "$(json_get "$(berth reviewapps -p other --json)" '[r["branch"] for r in d]')" = "['feature/idle']" ]
	[ "$(router_code other-feature-idle /)" = 200 ]
	# The reaper leaves apps that are not review apps alone.
	run berth apps -p demo
	[[ "$output" == *demo-staging* ]]
}

@test "malformed app.json on a branch push: the error names line and column, or the JSON path; the push succeeds" {
	branch "$APP" feature/syntax
	printf '{\n  "env": {\n    "A": "b",\n  }\n}\n' > "$APP/app.json"
	git -C "$APP" add -A
	git -C "$APP" commit -qm "broken app.json"
	sha=$(git -C "$APP" rev-parse HEAD)
	run bpush "$APP" feature/syntax
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(remote_head demo feature/syntax)" = "$sha" ]
	[[ "$output" =~ app\.json\ line\ 4\ column\ [0-9]+: ]]
	[ "$(json_get "$(ra_json)" 'len(d)')" = 0 ]
	[ "$(nruns)" = 0 ]

	branch "$APP" feature/type
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": 5}}}}'
	run bpush "$APP" feature/type
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"app.json: environments.test.scripts.test: expected a string"* ]]
	[ "$(json_get "$(ra_json)" 'len(d)')" = 0 ]
	[ "$(nruns)" = 0 ]

	branch "$APP" feature/huge
	python3 -c 'import sys
open(sys.argv[1], "w").write("{\"name\": \"big\", \"pad\": \"" + "a" * (10 << 20) + "\"}\n")' "$APP/app.json"
	git -C "$APP" add -A
	git -C "$APP" commit -qm "10 MB app.json"
	run bpush "$APP" feature/huge
	echo "${output:0:2000}"
	[ "$status" -eq 0 ]
	[[ "$output" == *"app.json is larger than 1 MB"* ]]
	[ "$(json_get "$(ra_json)" 'len(d)')" = 0 ]
	[ "$(nruns)" = 0 ]
}

@test "malformed app.json on a branch pushed with -o review.skip: the error is still shown" {
	branch "$APP" feature/type
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": 5}}}}'
	run bpush "$APP" feature/type -o review.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(nruns)" = 0 ]
	[[ "$output" == *"environments.test.scripts.test: expected a string"* ]]
}

@test "malformed app.json on the deploy branch rejects the push naming the JSON path" {
	start_berthd
	run bpush "$APP" main
	[ "$status" -eq 0 ]
	v1=$(git -C "$APP" rev-parse HEAD)
	set_appjson "$APP" '{"environments": {"test": {"scripts": {"test": 5}}}}'
	run bpush "$APP" main
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$(remote_head demo main)" = "$v1" ]
	[ "$(nreleases demo-staging)" = 1 ]
	[[ "$output" == *"environments.test.scripts.test: expected a string"* ]]
}

@test "ci:rerun makes a new run of the same commit with today's CI config; ci:info --node shows one node's log" {
	berth ci:config:set FLAVOUR=vanilla -p demo >/dev/null
	berth config:set LEAK=staging-secret -a demo-staging >/dev/null
	set_appjson "$APP" '{"environments": {"test": {
  "formation": {"test": {"quantity": 2}},
  "scripts": {"test": "echo \"ok 1 - node $CI_NODE_INDEX flavour=$FLAVOUR\"; echo \"env CI=$CI branch=$BERTH_TEST_RUN_BRANCH commit=$BERTH_TEST_RUN_COMMIT run=$BERTH_TEST_RUN_ID leak=${LEAK:-unset}\""}}}}'
	branch "$APP" feature/r
	sha=$(git -C "$APP" rev-parse HEAD)
	run bpush "$APP" feature/r -o review.skip
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"env CI=true branch=feature/r commit=$sha run=1 leak=unset"* ]]
	[ "$(run0 '(r["number"], r["status"])')" = "(1, 'succeeded')" ]

	berth ci:config:set FLAVOUR=chocolate -p demo >/dev/null
	run berth ci:rerun 1 -p demo
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Re-running test run #1: feature/r@${sha:0:7}" ]
	[[ "$output" == *"ok 1 - node 1 flavour=chocolate"* ]]
	[[ "$output" == *"run=2 leak=unset"* ]]
	[ "${lines[-1]}" = "Test run #2 (re-run of #1) succeeded" ]
	run ci_json
	[ "$(json_get "$output" '[(r["number"], r["branch"], r["commit"], r["status"], r["nodes"]) for r in d]')" = \
	    "[(2, 'feature/r', '$sha', 'succeeded', 2), (1, 'feature/r', '$sha', 'succeeded', 2)]" ]

	run berth ci:info 2 -p demo --node 1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"=== demo test run #2"* ]]
	[[ "$output" == *"=== Node 1 (CI_NODE_INDEX=1)"* ]]
	[[ "$output" == *"ok 1 - node 1 flavour=chocolate"* ]]
	[[ "$output" != *"node 0 flavour"* ]]
	[[ "$output" != *"=== Node 0"* ]]
	[[ "$output" != *"=== Test build"* ]]
	# Each run keeps its own logs.
	run berth ci:info 1 -p demo --node 1
	[[ "$output" == *"ok 1 - node 1 flavour=vanilla"* ]]
	run berth ci:info '#2' -p demo --json
	[ "$(json_get "$output" '[n["node"] for n in d["node_logs"]]')" = "[0, 1]" ]

	# Without N: the newest run.
	run berth ci:rerun -p demo
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Re-running test run #2: feature/r@${sha:0:7}" ]
	[ "$(nruns)" = 3 ]
	run --separate-stderr berth ci:rerun 99 -p demo
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"no test run #99 (latest is #3)"* ]]
	[ "$(nruns)" = 3 ]
	# A re-run never deploys or creates a review app.
	[ "$(json_get "$(ra_json)" 'len(d)')" = 0 ]
}

@test "deleting a branch whose review app is mid-deploy waits for the deploy, then destroys it" {
	set_appjson "$APP" '{
  "env": {"HOOK_LOG": {"required": true}, "GO": {"required": true}},
  "scripts": {
    "postdeploy": "./gate.sh log postdeploy start; ./gate.sh wait go; ./gate.sh log postdeploy end",
    "pr-predestroy": "./gate.sh log pr-predestroy"
  }
}'
	berth reviewapps:config:set HOOK_LOG="$HOOK_LOG" GO="$BATS_TEST_TMPDIR/go" -p demo >/dev/null
	start_berthd
	branch "$APP" feature/slow
	in_background deploy bpush "$APP" feature/slow
	deploy=$LAST_PID
	wait_for "postdeploy to start" 15 grep -qx "postdeploy start" "$HOOK_LOG"
	in_background delete bpush "$APP" :feature/slow
	delete=$LAST_PID
	wait_for "the deletion to wait for the deploy" 10 \
	    grep -q "Waiting for the review deploy of" "$BATS_TEST_TMPDIR/delete.out"
	# Still there while the deploy runs.
	[ "$(ra_branches)" = feature/slow ]
	[ "$(router_code demo-feature-slow /)" = 200 ]
	touch "$GATES/go"
	rc=0
	wait "$deploy" || rc=$?
	cat "$BATS_TEST_TMPDIR/deploy.out"
	[ "$rc" -eq 0 ]
	rc=0
	wait "$delete" || rc=$?
	cat "$BATS_TEST_TMPDIR/delete.out"
	[ "$rc" -eq 0 ]
	grep -q "Review app demo-feature-slow destroyed (pr-predestroy ran)" \
	    "$BATS_TEST_TMPDIR/delete.out"
	run cat "$HOOK_LOG"
	[ "$output" = "postdeploy start
postdeploy end
pr-predestroy" ]
	[ "$(json_get "$(ra_json)" 'len(d)')" = 0 ]
	[ "$(router_code demo-feature-slow /)" = 404 ]
	[ "$(sql "SELECT status || ':' || postdeploy_done FROM review_apps WHERE branch = 'feature/slow'")" = "destroyed:1" ]
}

@test "a review app's app.json formation is held to [runtime] max_dynos, as ps:scale is" {
	printf '\n[runtime]\nmax_dynos = 3\n' >> "$BERTH_ROOT/berth.ini"
	set_appjson "$APP" '{"formation": {"web": {"quantity": 1}, "worker": {"quantity": 120}}}'
	printf 'web: python3 app.py\nworker: sleep 100000\n' > "$APP/Procfile"
	git -C "$APP" commit -qam "120 workers"
	start_berthd
	branch "$APP" feature/many
	run bpush "$APP" feature/many
	echo "$output"
	[[ "$output" == *"app.json: formation: worker has quantity 120, more than berth.ini [runtime] max_dynos (3) allows; lower it"* ]]
	# Nothing was made of it: no review app, no dynos.
	[ -z "$(ra_branches)" ]
	run berth apps --json
	[[ "$output" != *feature-many* ]]
	# Within the limit it deploys.
	set_appjson "$APP" '{"formation": {"web": {"quantity": 1}, "worker": {"quantity": 2}}}'
	run bpush "$APP" feature/many
	[ "$status" -eq 0 ]
	wait_for "two workers" 20 ps_has demo-feature-many 2 'd["type"] == "worker"'
}
