#!/usr/bin/env bats
# Heroku Flow: promotion reuses the staging slug with production's
# config, the release phase gates every new release (deploy, config
# change, promotion, rollback, retry), rollback restores code and config,
# pipelines:diff lists what a promotion would move, and a killed CLI
# neither leaves a release pending nor lets the next change overlap it.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	# The release phases of these tests log, and park, through the
	# gate server: they run sandboxed.
	start_gates
	PHASE_LOG=$GATES/log
	make_flow_app "$APP"
}

teardown() {
	# A release phase parked at a go gate must not outlive the test.
	touch "$GATES"/go.{demo,demo-staging}.v{1,2,3,4,5,6} \
	    2>/dev/null || true
	for p in ${CLI_PIDS:-}; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_berthd
	stop_gates
}

# make_flow_app DIR: a Procfile-only app whose web dyno answers with its
# config, commit, release and content.txt, in a new repo, one commit.
make_flow_app() {
	local dir=$1
	mkdir -p "$dir"
	cat > "$dir/app.py" <<-'EOF'
	import http.server, os
	class H(http.server.BaseHTTPRequestHandler):
	    def do_GET(self):
	        e = os.environ.get
	        with open("content.txt") as f:
	            content = f.read().strip()
	        body = ("GREETING=%s COMMIT=%s RELEASE=%s CONTENT=%s\n" % (
	            e("GREETING", ""), e("SOURCE_VERSION", ""),
	            e("BERTH_RELEASE", ""), content)).encode()
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

# set_content DIR TEXT: replace content.txt and commit.
set_content() {
	echo "$2" > "$1/content.txt"
	git -C "$1" add -A
	git -C "$1" commit -qm "Content $2"
}

# set_release DIR COMMAND: the Procfile's release: line, committed.
set_release() {
	printf 'web: python3 app.py\nrelease: %s\n' "$2" > "$1/Procfile"
	git -C "$1" add -A
	git -C "$1" commit -qm "Release phase: $2"
}

# body APP: what the app answers through the router.
body() {
	router_get "$1" /
}

# rel APP vN FIELD: one field of `releases:info vN --json`.
rel() {
	local out
	out=$(berth releases:info "$2" -a "$1" --json) || return 1
	json_get "$out" "d[\"$3\"]"
}

# nreleases APP: how many releases the app has.
nreleases() {
	local out
	out=$(berth releases -a "$1" -n 1000 --json) || return 1
	json_get "$out" 'len(d)'
}

# statuses APP: "v1:succeeded v2:failed ...", oldest first.
statuses() {
	local out
	out=$(berth releases -a "$1" -n 1000 --json) || return 1
	json_get "$out" '" ".join("v%d:%s" % (r["version"], r["status"]) for r in reversed(d))'
}

# no_pending APP: no release of APP is pending.
no_pending() {
	local st
	st=$(statuses "$1") || return 1
	[ -n "$st" ] && [[ "$st" != *pending* ]]
}

# one_line_failure: the `run --separate-stderr` command failed with exactly one
# line on stderr and nothing on stdout.
one_line_failure() {
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -ne 0 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ -z "$output" ]
}

@test "promote serves staging's slug on production's URL with production's config" {
	start_berthd
	berth config:set GREETING=staging -a demo-staging >/dev/null
	berth config:set GREETING=prod -a demo >/dev/null
	run push "$APP" demo
	[ "$status" -eq 0 ]
	sha=$(git -C "$APP" rev-parse HEAD)
	run body demo-staging
	[ "$output" = "GREETING=staging COMMIT=$sha RELEASE=v1 CONTENT=A" ]
	run berth pipelines:promote -p demo
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "Promoting demo-staging v1 (${sha:0:7}) to demo..." ]]
	[[ "$output" =~ demo\ +v1\ +succeeded ]]
	run body demo
	[ "$output" = "GREETING=prod COMMIT=$sha RELEASE=v1 CONTENT=A" ]
	# Staging is untouched.
	run body demo-staging
	[ "$output" = "GREETING=staging COMMIT=$sha RELEASE=v1 CONTENT=A" ]
	staging_slug=$(json_get "$(berth releases -a demo-staging --json)" \
	    'd[0]["slug_id"]')
	[ -n "$staging_slug" ]
	[ "$staging_slug" != None ]
	[ "$(rel demo v1 slug_id)" = "$staging_slug" ]
	[ "$(rel demo v1 description)" = "Promote demo-staging v1" ]
	[ "$(rel demo v1 kind)" = promote ]
	[ "$(rel demo v1 status)" = succeeded ]
	[ "$(rel demo v1 commit)" = "$sha" ]
	[ "$(rel demo v1 config_vars)" = "['GREETING']" ]
	[ "$(berth config:get GREETING -a demo)" = prod ]
	# No second slug was built.
	[ "$(ls "$BERTH_ROOT/slugs" | wc -l)" -eq 1 ]
}

@test "promotion does not rerun the buildpacks; --rebuild does and says so" {
	printf '{"buildpacks": [{"url": "%s"}]}\n' \
	    "$FIXTURES/buildpacks/counting" > "$APP/app.json"
	git -C "$APP" add app.json
	git -C "$APP" commit -qm "Use the counting buildpack"
	count=$GATES/log
	berth config:set COUNT_GATE="$GATE_PORT" -a demo-staging >/dev/null
	berth config:set COUNT_GATE="$GATE_PORT" -a demo >/dev/null
	start_berthd
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *compiled* ]]
	[ "$(wc -l < "$count")" -eq 1 ]
	run berth pipelines:promote -p demo
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *compiled* ]]
	[ "$(wc -l < "$count")" -eq 1 ]
	staging_slug=$(rel demo-staging v1 slug_id)
	[ "$(rel demo v1 slug_id)" = "$staging_slug" ]
	run berth pipelines:promote -p demo --rebuild
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(wc -l < "$count")" -eq 2 ]
	[ "$(rel demo v2 description)" = \
	    "Promote demo-staging v1 (rebuilt with demo's config)" ]
	[ "$(rel demo v2 status)" = succeeded ]
	[ "$(rel demo v2 commit)" = "$(git -C "$APP" rev-parse HEAD)" ]
	[ "$(rel demo v2 slug_id)" != "$staging_slug" ]
	run body demo
	[[ "$output" == *"RELEASE=v2 CONTENT=A" ]]
	# Staging was not touched by either promotion.
	[ "$(nreleases demo-staging)" -eq 1 ]
}

@test "a failing release phase rejects the push; the old release keeps serving" {
	start_berthd
	push "$APP" demo
	v1=$(git -C "$APP" rev-parse HEAD)
	run body demo-staging
	[[ "$output" == *"RELEASE=v1 CONTENT=A" ]]
	echo B > "$APP/content.txt"
	set_release "$APP" "sh -c 'echo running migrations; echo migration failed; exit 1'"
	run push "$APP" demo
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"migration failed"* ]]
	[[ "$output" == *"pre-receive hook declined"* ]]
	[ "$(remote_head demo main)" = "$v1" ]
	[ "$(statuses demo-staging)" = "v1:succeeded v2:failed" ]
	run berth releases -a demo-staging
	[ "${lines[0]}" = "=== demo-staging Releases - Current: v1" ]
	[[ "${lines[1]}" =~ ^v2\ .*failed$ ]]
	[[ "${lines[2]}" =~ ^v1\ .*succeeded\ +\(current\)$ ]]
	run body demo-staging
	[ "$output" = "GREETING= COMMIT=$v1 RELEASE=v1 CONTENT=A" ]
	[ "$(ps_count demo-staging 'd["release"] == 1 and d["state"] == "up"')" = 1 ]
	[ "$(ps_count demo-staging 'd["release"] != 1')" = 0 ]
	run berth releases:output v2 -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$output" == *"running migrations"*"migration failed"* ]]
	run berth releases:output v1 -a demo-staging
	[ "$status" -eq 0 ]
	[[ "$output" == *"ran no release phase"* ]]
}

@test "the release phase runs for the deploy, a config change, a promotion and a rollback" {
	set_release "$APP" "./gate.sh log \"\$BERTH_APP \$BERTH_RELEASE \$GREETING \$SOURCE_VERSION\""
	berth config:set PHASE_LOG="$PHASE_LOG" GREETING=one -a demo-staging >/dev/null
	berth config:set PHASE_LOG="$PHASE_LOG" GREETING=prod -a demo >/dev/null
	[ ! -e "$PHASE_LOG" ]
	start_berthd
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Release phase: ./gate.sh log"* ]]
	sha=$(git -C "$APP" rev-parse HEAD)
	run berth config:set GREETING=two -a demo-staging
	[ "$status" -eq 0 ]
	run berth pipelines:promote -p demo
	[ "$status" -eq 0 ]
	run berth rollback v1 -a demo-staging
	[ "$status" -eq 0 ]
	run cat "$PHASE_LOG"
	echo "$output"
	[ "${lines[0]}" = "demo-staging v1 one $sha" ]
	[ "${lines[1]}" = "demo-staging v2 two $sha" ]
	[ "${lines[2]}" = "demo v1 prod $sha" ]
	[ "${lines[3]}" = "demo-staging v3 one $sha" ]
	[ "${#lines[@]}" -eq 4 ]
	[ "$(statuses demo-staging)" = "v1:succeeded v2:succeeded v3:succeeded" ]
	[ "$(statuses demo)" = "v1:succeeded" ]
	run body demo-staging
	[[ "$output" == "GREETING=one "*"RELEASE=v3 CONTENT=A" ]]
}

@test "rollback restores code and config; without a version it skips failed releases" {
	set_release "$APP" "sh -c 'test \"\$FAIL\" != 1'"
	berth config:set GREETING=a -a demo-staging >/dev/null
	start_berthd
	push "$APP" demo
	shaA=$(git -C "$APP" rev-parse HEAD)
	set_content "$APP" B
	push "$APP" demo
	shaB=$(git -C "$APP" rev-parse HEAD)
	berth config:set GREETING=b -a demo-staging >/dev/null
	run body demo-staging
	[ "$output" = "GREETING=b COMMIT=$shaB RELEASE=v3 CONTENT=B" ]
	# v4 fails in its release phase: the config change is undone.
	run berth config:set FAIL=1 -a demo-staging
	[ "$status" -ne 0 ]
	[ "$(statuses demo-staging)" = "v1:succeeded v2:succeeded v3:succeeded v4:failed" ]
	run berth config:get FAIL -a demo-staging
	[ "$status" -ne 0 ]

	run berth rollback v1 -a demo-staging
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Rolling back demo-staging to v1..." ]
	[ "${lines[-1]}" = "Rolled back demo-staging to v1 as v5 (code and config of v1). Undo: berth rollback v3 -a demo-staging" ]
	[ "$(rel demo-staging v5 description)" = "Rollback to v1" ]
	[ "$(rel demo-staging v5 kind)" = rollback ]
	[ "$(rel demo-staging v5 status)" = succeeded ]
	[ "$(rel demo-staging v5 slug_id)" = "$(rel demo-staging v1 slug_id)" ]
	[ "$(rel demo-staging v5 commit)" = "$shaA" ]
	run body demo-staging
	[ "$output" = "GREETING=a COMMIT=$shaA RELEASE=v5 CONTENT=A" ]
	[ "$(berth config:get GREETING -a demo-staging)" = a ]

	# No version: the newest succeeded release before the current one
	# (v4 failed, so v3).
	run berth rollback -a demo-staging
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "Rolled back demo-staging to v3 as v6 (code and config of v3). Undo: berth rollback v5 -a demo-staging" ]
	[ "$(rel demo-staging v6 description)" = "Rollback to v3" ]
	run body demo-staging
	[ "$output" = "GREETING=b COMMIT=$shaB RELEASE=v6 CONTENT=B" ]
	[ "$(berth config:get GREETING -a demo-staging)" = b ]
	# releases:rollback is the same command.
	run berth releases:rollback v2 -a demo-staging
	[ "$status" -eq 0 ]
	run body demo-staging
	[ "$output" = "GREETING=a COMMIT=$shaB RELEASE=v7 CONTENT=B" ]
}

@test "rollback refuses a missing, malformed or failed version with one line" {
	set_release "$APP" "sh -c 'test \"\$FAIL\" != 1'"
	start_berthd
	push "$APP" demo
	# v2 fails in its release phase.
	run berth config:set FAIL=1 -a demo-staging
	[ "$status" -ne 0 ]
	[ "$(statuses demo-staging)" = "v1:succeeded v2:failed" ]
	before=$(body demo-staging)
	[[ "$before" == *"RELEASE=v1 CONTENT=A" ]]

	run --separate-stderr berth rollback v99 -a demo-staging
	one_line_failure
	[[ "$stderr" == *"no release v99 (latest is v2)"* ]]
	run --separate-stderr berth rollback v0 -a demo-staging
	one_line_failure
	[[ "$stderr" == *"v0 is not a release"* ]]
	run --separate-stderr berth rollback vx -a demo-staging
	one_line_failure
	[[ "$stderr" == *"'vx' is not a release version"* ]]
	run --separate-stderr berth rollback v2 -a demo-staging
	one_line_failure
	[[ "$stderr" == *"demo-staging v2 failed"* ]]
	# v1 is the only succeeded release: nothing earlier to go back to.
	run --separate-stderr berth rollback -a demo-staging
	one_line_failure
	[[ "$stderr" == *"no earlier release"* ]]
	# demo (production) has never been released.
	run --separate-stderr berth rollback -a demo
	one_line_failure
	[[ "$stderr" == *"demo has no release"* ]]
	run --separate-stderr berth rollback v1 -a demo
	one_line_failure
	[[ "$stderr" == *"demo has no release"* ]]

	[ "$(statuses demo-staging)" = "v1:succeeded v2:failed" ]
	[ "$(nreleases demo)" -eq 0 ]
	[ "$(body demo-staging)" = "$before" ]
}

@test "a promotion that fails for one of two production apps exits non-zero" {
	set_release "$APP" "sh -c 'echo phase of \$BERTH_APP; test \"\$FAIL\" != 1'"
	run berth apps:create demo-eu -p demo --stage production
	[ "$status" -eq 0 ]
	berth config:set FAIL=1 -a demo-eu >/dev/null
	start_berthd
	push "$APP" demo
	sha=$(git -C "$APP" rev-parse HEAD)
	run --separate-stderr berth pipelines:promote -p demo
	echo "stdout: $output"
	echo "stderr: $stderr"
	[ "$status" -ne 0 ]
	[[ "${lines[0]}" == "Promoting demo-staging v1 (${sha:0:7}) to production..." ]]
	[[ "$output" =~ (^|$'\n')demo\ +v1\ +succeeded\ +[0-9.]+s ]]
	[[ "$output" =~ (^|$'\n')demo-eu\ +v1\ +failed\ +.*release\ phase ]]
	[[ "$stderr" == *"1 of 2 promotions failed"* ]]
	[ "$(statuses demo)" = "v1:succeeded" ]
	[ "$(statuses demo-eu)" = "v1:failed" ]
	run body demo
	[ "$output" = "GREETING= COMMIT=$sha RELEASE=v1 CONTENT=A" ]
	[ "$(ps_count demo-eu 'True')" = 0 ]
	run berth releases:output v1 -a demo-eu
	[[ "$output" == *"phase of demo-eu"* ]]
}

@test "promote refuses production without --to, --to the source, and a source with no release" {
	run --separate-stderr berth pipelines:promote -p demo
	one_line_failure
	[[ "$stderr" == *"demo-staging has no release to promote"* ]]
	push "$APP" demo
	[ "$(statuses demo-staging)" = "v1:succeeded" ]
	run --separate-stderr berth pipelines:promote -p demo --from demo
	one_line_failure
	[[ "$stderr" == *"demo is a production app"* ]]
	[[ "$stderr" == *"needs --to APP"* ]]
	run --separate-stderr berth pipelines:promote -p demo --from production
	one_line_failure
	[[ "$stderr" == *"needs --to APP"* ]]
	run --separate-stderr berth pipelines:promote -p demo --to demo-staging
	one_line_failure
	[[ "$stderr" == *"demo-staging is the app promoted from"* ]]
	run --separate-stderr berth pipelines:promote -p demo --to nosuch
	one_line_failure
	[[ "$stderr" == *"no app 'nosuch' in pipeline demo"* ]]
	run --separate-stderr berth pipelines:promote -p demo --from demo --to ,
	one_line_failure
	[[ "$stderr" == *"--to ',' names no app"* ]]
	[ "$(nreleases demo)" -eq 0 ]
	[ "$(statuses demo-staging)" = "v1:succeeded" ]
}

@test "with several staging apps, promote and diff take the one that deploys the deploy branch" {
	berth apps:create demo-aaa -p demo --stage staging >/dev/null
	push "$APP" demo
	run berth pipelines:diff -p demo
	[ "$status" -eq 0 ]
	[[ "$output" == *demo-staging* ]]
	run berth pipelines:promote -p demo
	[ "$status" -eq 0 ]
	[ "$(statuses demo)" = "v1:succeeded" ]
	[[ "$(berth releases -a demo)" == *"Promote demo-staging v1"* ]]
	# None of them deploys main: the user names one.
	berth apps:create demo-bbb -p demo --stage staging >/dev/null
	berth apps:destroy demo-staging --confirm demo-staging >/dev/null
	run --separate-stderr berth pipelines:promote -p demo
	one_line_failure
	[[ "$stderr" == *"stage staging of pipeline demo has several apps (demo-aaa, demo-bbb) and none deploys main: name one with --from APP"* ]]
}

@test "pipelines:diff lists exactly the commits between the two releases" {
	start_berthd
	push "$APP" demo
	run berth pipelines:diff -p demo
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "demo has no release yet; demo-staging has 1 commit:" ]]
	berth pipelines:promote -p demo >/dev/null
	first=$(git -C "$APP" rev-parse HEAD)
	run berth pipelines:diff -p demo
	[ "$output" = "demo-staging and demo are up to date (${first:0:7})" ]
	set_content "$APP" "Add search"
	set_content "$APP" "Fix typo"
	set_content "$APP" "Speed up"
	git -C "$APP" log --format=%s -n 3
	push "$APP" demo
	run berth pipelines:diff -p demo
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "demo-staging is 3 commits ahead of demo" ]
	[ "${#lines[@]}" -eq 4 ]
	today=$(date -u +%Y-%m-%d)
	i=1
	for n in 0 1 2; do
		sha=$(git -C "$APP" rev-parse "HEAD~$n")
		subj=$(git -C "$APP" log -1 --format=%s "HEAD~$n")
		[[ "${lines[$i]}" =~ ^\ \ ${sha:0:7}\ +$today\ +Test\ User\ +$subj$ ]]
		i=$((i + 1))
	done
	run berth pipelines:diff -p demo --json
	[ "$status" -eq 0 ]
	[ "$(json_get "$output" 'len(d["ahead"])')" = 3 ]
	[ "$(json_get "$output" 'len(d["behind"])')" = 0 ]
	[ "$(json_get "$output" '[c["subject"] for c in d["ahead"]]')" = \
	    "['Content Speed up', 'Content Fix typo', 'Content Add search']" ]
	[ "$(json_get "$output" '[c["sha"] for c in d["ahead"]]')" = \
	    "$(python3 -c 'import sys; print(sys.argv[1:])' $(git -C "$APP" rev-list -n 3 HEAD))" ]
	[ "$(json_get "$output" 'set(c["author"] for c in d["ahead"])')" = "{'Test User'}" ]
	[ "$(json_get "$output" 'all(c["date"].startswith("'"$today"'T") and c["date"].endswith("Z") for c in d["ahead"])')" = True ]
	[ "$(json_get "$output" 'd["from_commit"]')" = "$(git -C "$APP" rev-parse HEAD)" ]
	[ "$(json_get "$output" 'd["to_commit"]')" = "$first" ]
	berth pipelines:promote -p demo >/dev/null
	run berth pipelines:diff -p demo
	[ "$output" = "demo-staging and demo are up to date ($(git -C "$APP" rev-parse --short=7 HEAD))" ]
	run berth pipelines:diff -p demo --json
	[ "$(json_get "$output" 'len(d["ahead"]) + len(d["behind"])')" = 0 ]
	# Staging rolled back to the first commit is 3 behind production.
	berth rollback v1 -a demo-staging >/dev/null
	run berth pipelines:diff -p demo
	echo "$output"
	[ "${lines[0]}" = "demo-staging is 3 commits behind demo (a rollback or a promotion from elsewhere):" ]
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[1]}" == "  $(git -C "$APP" rev-parse --short=7 HEAD) "*"Content Speed up" ]]
}

@test "releases:retry releases the current slug again and reruns the release phase" {
	set_release "$APP" "./gate.sh log \"\$BERTH_RELEASE \$GREETING\""
	berth config:set PHASE_LOG="$PHASE_LOG" GREETING=hi -a demo-staging >/dev/null
	start_berthd
	push "$APP" demo
	sha=$(git -C "$APP" rev-parse HEAD)
	run berth releases:retry -a demo-staging
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "Released demo-staging v2 (Retry v1)" ]
	[ "$(rel demo-staging v2 description)" = "Retry v1" ]
	[ "$(rel demo-staging v2 status)" = succeeded ]
	[ "$(rel demo-staging v2 slug_id)" = "$(rel demo-staging v1 slug_id)" ]
	[ "$(rel demo-staging v2 commit)" = "$sha" ]
	run cat "$PHASE_LOG"
	[ "$output" = "v1 hi
v2 hi" ]
	run body demo-staging
	[ "$output" = "GREETING=hi COMMIT=$sha RELEASE=v2 CONTENT=A" ]
	# No release: nothing to retry.
	run --separate-stderr berth releases:retry -a demo
	one_line_failure
	[ "$(nreleases demo)" -eq 0 ]
}

# parked_phase: a release phase that logs "start APP vN", waits for the
# gate go.APP.vN, then logs "end APP vN". v1 of demo-staging may go.
parked_phase() {
	set_release "$APP" "./gate.sh log start \$BERTH_APP \$BERTH_RELEASE; ./gate.sh wait go.\$BERTH_APP.\$BERTH_RELEASE; ./gate.sh log end \$BERTH_APP \$BERTH_RELEASE"
	touch "$GATES/go.demo-staging.v1"
}

# go APP vN: let that release phase finish.
go() {
	touch "$GATES/go.$1.$2"
}

# in_background NAME COMMAND...: run a CLI in the background, output in
# $BATS_TEST_TMPDIR/NAME.out; its pid in LAST_PID.
in_background() {
	local name=$1
	shift
	"$@" >"$BATS_TEST_TMPDIR/$name.out" 2>&1 3>&- &
	LAST_PID=$!
	CLI_PIDS="${CLI_PIDS:-} $LAST_PID"
}

@test "kill -9 of config:set or promote during the release phase: the release still ends" {
	parked_phase
	start_berthd
	push "$APP" demo
	in_background set berth config:set GREETING=killed -a demo-staging
	cli=$LAST_PID
	wait_for "v2's release phase to start" 10 \
	    grep -qx "start demo-staging v2" "$PHASE_LOG"
	kill -KILL "$cli"
	wait "$cli" || true
	[ "$(statuses demo-staging)" = "v1:succeeded v2:pending" ]
	go demo-staging v2
	wait_for "v2 to end" 15 no_pending demo-staging
	[ "$(statuses demo-staging)" = "v1:succeeded v2:succeeded" ]
	run body demo-staging
	[[ "$output" == "GREETING=killed "*"RELEASE=v2 CONTENT=A" ]]
	[ "$(berth config:get GREETING -a demo-staging)" = killed ]

	in_background promote berth pipelines:promote -p demo
	cli=$LAST_PID
	wait_for "demo v1's release phase to start" 10 \
	    grep -qx "start demo v1" "$PHASE_LOG"
	kill -KILL "$cli"
	wait "$cli" || true
	[ "$(statuses demo)" = "v1:pending" ]
	go demo v1
	wait_for "demo v1 to end" 15 no_pending demo
	[ "$(statuses demo)" = "v1:succeeded" ]
	run body demo
	[[ "$output" == "GREETING= "*"RELEASE=v1 CONTENT=A" ]]

	# The next change works.
	go demo-staging v3
	run berth config:set GREETING=after -a demo-staging
	[ "$status" -eq 0 ]
	[ "$(statuses demo-staging)" = "v1:succeeded v2:succeeded v3:succeeded" ]
	run body demo-staging
	[[ "$output" == "GREETING=after "*"RELEASE=v3 CONTENT=A" ]]
}

@test "after kill -9 of config:set the next config:set waits for the release berthd still runs" {
	parked_phase
	start_berthd
	push "$APP" demo
	in_background first berth config:set GREETING=killed -a demo-staging
	cli=$LAST_PID
	wait_for "v2's release phase to start" 10 \
	    grep -qx "start demo-staging v2" "$PHASE_LOG"
	kill -KILL "$cli"
	wait "$cli" || true
	# berthd is still releasing v2; a second change must not overlap it.
	in_background second berth config:set OTHER=1 -a demo-staging
	cli2=$LAST_PID
	# Until it waits for the lock, has recorded v3 or (wrongly) started
	# v3's release phase; only then may v2 end.
	wait_for "the second config:set to get going" 10 eval \
	    "grep -q 'waiting for' '$BATS_TEST_TMPDIR/second.out' ||
	     [ \"\$(nreleases demo-staging)\" = 3 ] ||
	     grep -qx 'start demo-staging v3' '$PHASE_LOG'"
	go demo-staging v2
	wait_for "v2's release phase to end" 10 \
	    grep -qx "end demo-staging v2" "$PHASE_LOG"
	go demo-staging v3
	rc=0
	wait "$cli2" || rc=$?
	wait_for "no release to be pending" 15 no_pending demo-staging || true
	echo "second config:set: exit $rc"
	cat "$BATS_TEST_TMPDIR/second.out"
	run cat "$PHASE_LOG"
	echo "$output"
	statuses demo-staging
	berth config -a demo-staging
	body demo-staging
	[ "$rc" -eq 0 ]
	# One release phase at a time, in version order.
	[ "$output" = "start demo-staging v1
end demo-staging v1
start demo-staging v2
end demo-staging v2
start demo-staging v3
end demo-staging v3" ]
	[ "$(statuses demo-staging)" = "v1:succeeded v2:succeeded v3:succeeded" ]
	# The config vars are those of the current release.
	[ "$(berth config:get GREETING -a demo-staging)" = killed ]
	[ "$(berth config:get OTHER -a demo-staging)" = 1 ]
	run body demo-staging
	[[ "$output" == "GREETING=killed "*"RELEASE=v3 CONTENT=A" ]]
}
