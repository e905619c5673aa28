#!/usr/bin/env bats
# The berth CLI as a Heroku CLI user types it: Heroku's forms work as
# aliases of berth's own (one parser, one table entry a command), and
# every refusal is one line naming what was wrong, exits 1 and changes
# nothing. Through the real binary, on a server root of the test's own.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	setup_root
	berth pipelines:create shop >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	make_app "$APP"
	push "$APP" shop >/dev/null
	SHA=$(git -C "$APP" rev-parse HEAD)
}

teardown() {
	stop_berthd
}

# ledger_rows: how many rows each table a command could change holds.
ledger_rows() {
	python3 - "$BERTH_ROOT/ledger.db" <<-'EOF'
	import sqlite3, sys
	db = sqlite3.connect(sys.argv[1])
	print(" ".join("%s=%d" % (t, db.execute("SELECT count(*) FROM " + t)
	    .fetchone()[0]) for t in ("pipelines", "apps", "releases",
	    "config_vars", "events", "builds")))
	EOF
}

# sql STATEMENT: run one statement on the ledger (a hand-made change).
sql() {
	python3 - "$BERTH_ROOT/ledger.db" "$1" <<-'EOF'
	import sqlite3, sys
	db = sqlite3.connect(sys.argv[1])
	for row in db.execute(sys.argv[2]):
	    print(*row)
	db.commit()
	EOF
}

# state: what a refused command must leave as it was.
state() {
	ledger_rows
	berth releases -a shop-staging --json 2>&1
	berth releases -a shop --json 2>&1
	berth config -a shop-staging --json 2>&1
}

@test "option errors name the option as it was typed" {
	refused "pipelines:promote does not take -x; see: berth help pipelines:promote" \
	    pipelines:promote -x
	refused "releases does not take --bogus; see: berth help releases" \
	    releases -a shop-staging --bogus=1
	refused "apps does not take --confirm; see: berth help apps" \
	    apps --confirm shop
	refused "--app needs a value; see: berth help releases" releases --app
	refused "-a needs a value; see: berth help releases" releases -a
	refused "--json does not take a value; see: berth help apps" \
	    apps --json=yes
	refused "-j does not take a value; see: berth help apps" apps -j=yes
	refused "-n wants a whole number from 1 to 1000000, not '0'" \
	    releases -a shop-staging -n 0
	refused "--num wants a whole number from 1 to 1000000, not 'x'" \
	    releases -a shop-staging --num=x
	refused "config:set does not take --\\x1b[31m; see: berth help config:set" \
	    config:set A=1 -a shop-staging $'--\e[31m'
}

@test "values as --opt=value and -a=APP read as the separate word does" {
	want=$(berth releases -a shop-staging -n 1)
	[ "$(berth releases --app=shop-staging --num=1)" = "$want" ]
	[ "$(berth releases -a=shop-staging -n=1)" = "$want" ]
	[ "$(berth releases -ashop-staging -n1)" = "$want" ]
	[ "$(berth releases --json -a shop-staging)" = \
	    "$(berth releases -j --app shop-staging)" ]
}

@test "global options come anywhere, the command first or after them" {
	want=$(berth apps)
	[ "$(env -u BERTH_ROOT berth --root "$BERTH_ROOT" apps)" = "$want" ]
	[ "$(env -u BERTH_ROOT berth --root="$BERTH_ROOT" apps)" = "$want" ]
	[ "$(env -u BERTH_ROOT berth apps --root "$BERTH_ROOT")" = "$want" ]
	run env -u BERTH_ROOT berth --root "$BERTH_ROOT" help releases
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: berth releases -a APP"* ]]
	refused "--root is given twice: give one root" \
	    --root "$BERTH_ROOT" --root /tmp/elsewhere apps
	refused "--root is given twice: give one root" \
	    apps --root "$BERTH_ROOT" --root=/tmp/elsewhere
	refused "no command after --root DIR; see: berth help" --root "$BERTH_ROOT"
	refused "-a before the command: write the command first, then its options (berth COMMAND [options]; see: berth help)" \
	    -a shop-staging releases
	refused "no command 'relases'; see: berth help" relases -a shop-staging
}

@test "names in messages are quoted, the empty one too" {
	refused "no app named ''; see: berth apps" releases -a ''
	refused "no app named ''; see: berth apps" info -a ''
	refused "no app named 'nope'; see: berth apps" config:set A=1 -a nope
	refused "no pipeline named ''; see: berth pipelines" pipelines:info -p ''
	refused "no app named 'a\\x1bb'; see: berth apps" releases -a $'a\eb'
}

@test "config:set PORT (and the other names berth sets in dynos) is refused" {
	refused "PORT is set by berth in every dyno, so a config var PORT would be ignored: nothing was set" \
	    config:set PORT=1 -a shop-staging
	# All or nothing: A is not set either.
	refused "DYNO is set by berth in every dyno, so a config var DYNO would be ignored: nothing was set" \
	    config:set A=1 DYNO=web.9 -a shop-staging
	refused "HOME is set by berth in every dyno, so a config var HOME would be ignored: nothing was set" \
	    reviewapps:config:set HOME=/x -p shop
	# CI runs no dyno and sets no PORT: its config may have one.
	run berth ci:config:set PORT=5000 -p shop
	[ "$status" -eq 0 ]
	# One an old ledger holds can still be removed.
	sql "INSERT INTO config_vars (app_id, key, value) SELECT id, 'PORT', '1' FROM apps WHERE name = 'shop-staging'"
	run --separate-stderr berth config:unset PORT -a shop-staging
	[ "$status" -eq 0 ]
	[ "$output" = "Unsetting PORT and restarting shop-staging... done, v2" ]
}

@test "config:set and config:unset say it as Heroku does" {
	run --separate-stderr berth config:set GREETING=hi TOKEN=x -a shop-staging
	[ "$status" -eq 0 ]
	[ "$output" = "Setting GREETING, TOKEN and restarting shop-staging... done, v2" ]
	# berthd is not running here: the release starts when it does.
	[ "$stderr" = "berth: berthd is not running; start it with: berthd --root $BERTH_ROOT; v2 is recorded and starts when berthd does" ]
	run --separate-stderr berth config:unset TOKEN -a shop-staging
	[ "$output" = "Unsetting TOKEN and restarting shop-staging... done, v3" ]
	# shop has no release yet: nothing restarts, and it says so.
	run --separate-stderr berth config:set GREETING=hi -a shop
	[ "$status" -eq 0 ]
	[ "$output" = "Setting GREETING on shop... done" ]
	[ -z "$stderr" ]
}

@test "releases has Heroku's header and marks the current release" {
	berth config:set A=1 -a shop-staging >/dev/null 2>&1
	run berth releases -a shop-staging
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = "=== shop-staging Releases - Current: v2" ]
	[[ "${lines[1]}" =~ ^v2\ +Set\ A\ config\ var\ +tester@bats\ +.*\ succeeded\ +\(current\)$ ]]
	[[ "${lines[2]}" =~ ^v1\ +Deploy\ ${SHA:0:7}\ +.*\ succeeded$ ]]
	# The current release is the newest that succeeded, not the newest.
	sql "UPDATE releases SET status = 'failed' WHERE version = 2"
	run berth releases -a shop-staging
	[ "${lines[0]}" = "=== shop-staging Releases - Current: v1" ]
	[[ "${lines[1]}" =~ failed$ ]]
	[[ "${lines[2]}" =~ succeeded\ +\(current\)$ ]]
	run berth releases -a shop-staging --json
	[ "$(json_get "$output" '[r["current"] for r in d]')" = "[False, True]" ]
	run berth releases:info v1 -a shop-staging
	[[ "$output" == *"Status:       succeeded (current)"* ]]
	run berth releases -a shop
	[ "$output" = "shop has no releases yet; push to deploy it" ]
}

@test "info is apps:info, with the same options and output" {
	[ "$(berth info shop-staging)" = "$(berth apps:info shop-staging)" ]
	[ "$(berth info -a shop-staging --json)" = \
	    "$(berth apps:info -a shop-staging --json)" ]
	run berth help info
	[[ "$output" == "usage: berth apps:info"* ]]
	[[ "$output" == *"Alias: info"* ]]
}

@test "pipelines:promote -a SOURCE and pipelines:diff -a APP, next to -p" {
	diff_p=$(berth pipelines:diff -p shop)
	run berth pipelines:diff -a shop-staging
	[ "$status" -eq 0 ]
	[ "$output" = "$diff_p" ]
	[ "${lines[0]}" = "shop has no release yet; shop-staging has 1 commit:" ]
	[ "$(berth pipelines:diff -a shop-staging --json)" = \
	    "$(berth pipelines:diff -p shop --json)" ]
	refused "-a shop-staging and --from 'shop' name different apps: give one" \
	    pipelines:promote -a shop-staging --from shop
	refused "shop-staging is an app of pipeline shop, not of 'nope': give -a or -p" \
	    pipelines:promote -a shop-staging -p nope
	refused "no app named 'nope'; see: berth apps" pipelines:promote -a nope
	refused "pipelines:promote needs a pipeline: add -p PIPELINE, or -a APP to start from that app (see: berth pipelines)" \
	    pipelines:promote
	refused "shop is a production app: promoting from production needs --to APP (production is the last stage)" \
	    pipelines:promote -a shop
	refused "shop is the production app: nothing is downstream of it to diff against; name an app with --to" \
	    pipelines:diff -a shop
	# Heroku's form promotes as -p does; -p naming the same pipeline
	# and --from naming the same app are fine.
	run --separate-stderr berth pipelines:promote -a shop-staging -p shop \
	    --from shop-staging
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Promoting shop-staging v1 (${SHA:0:7}) to shop..." ]
	[[ "$(berth releases -a shop)" == *"v1  Promote shop-staging v1"* ]]
	run berth pipelines:diff -a shop-staging
	[ "$output" = "shop-staging and shop are up to date (${SHA:0:7})" ]
}

@test "run takes the command without --, and its flags are its own" {
	run berth run -a shop-staging echo -n one -a two --json
	[ "$status" -eq 0 ]
	[ "$output" = "one -a two --json" ]
	run berth run -a shop-staging -- echo three
	[ "$output" = "three" ]
	run berth run -a shop-staging sh -c 'exit 3'
	[ "$status" -eq 0 ]
	run berth run -a shop-staging "exit 3"
	[ "$status" -eq 3 ]
	refused "run takes -a APP before the command (what follows the command is the command's): berth run -a APP COMMAND [ARGS...]" \
	    run echo hi -a shop-staging
	refused "run needs an app: add -a APP (see: berth apps)" run echo hi
	refused "run needs more arguments: berth run -a APP COMMAND [ARGS...]" \
	    run -a shop-staging
	refused "run does not take -x; see: berth help run" run -x -a shop-staging ls
}

@test "logs takes Heroku's -d/--dyno, -s/--source and -n" {
	start_berthd
	berth ps:restart -a shop-staging >/dev/null
	wait_for "web.1's restart in the log" 20 eval \
	    "berth logs -a shop-staging -n 1000 | grep -q 'berth\[.*web.1'"
	[ "$(berth logs -a shop-staging -d web.1 -n 1000)" = \
	    "$(berth logs -a shop-staging --ps web.1 -n 1000)" ]
	[ "$(berth logs -a shop-staging --dyno=web.1 -n 1000)" = \
	    "$(berth logs -a shop-staging --ps=web.1 -n 1000)" ]
	run berth logs -a shop-staging -s berth -n 1000
	[ "$status" -eq 0 ]
	[ -n "$output" ]
	others=$(printf '%s\n' "$output" | grep -v ' berth\[' || true)
	[ -z "$others" ]
	[ "$output" = "$(berth logs -a shop-staging --source berth -n 1000)" ]
	run berth logs -a shop-staging -n 2
	[ "${#lines[@]}" -eq 2 ]
	all=$(berth logs -a shop-staging -n 1000)
	[[ "$all" == *"${lines[0]}"$'\n'"${lines[1]}"* ]]
	refused "--dyno wants a process type (web) or a dyno (web.1), not 'web.x'" \
	    logs -a shop-staging -d web.x
	refused "--source must be app (dyno output) or berth (platform events), not 'nope'" \
	    logs -a shop-staging -s nope
	run berth help logs
	[[ "$output" == *"-d, --dyno DYNO"*"; also --ps"* ]]
	[[ "$output" == *"-s, --source SOURCE"* ]]
}

@test "rollback to a version past int says there is no such release" {
	for v in v99999999999 v2147483648 v4294967297 v99999999999999999999999; do
		refused "shop-staging has no release $v (latest is v1); see: berth releases -a shop-staging" \
		    rollback "$v" -a shop-staging
		refused "shop-staging has no release $v (latest is v1); see: berth releases -a shop-staging" \
		    releases:info "$v" -a shop-staging
	done
	refused "'v1x' is not a release version: use vN, e.g. v3" \
	    rollback v1x -a shop-staging
	refused "v0 is not a release: versions start at v1; see: berth releases -a shop-staging" \
	    rollback v0 -a shop-staging
}

@test "a release version past int in the ledger is refused, never cut" {
	berth config:set A=1 -a shop-staging >/dev/null 2>&1
	id=$(sql "SELECT id FROM releases WHERE version = 2")
	app=$(sql "SELECT id FROM apps WHERE name = 'shop-staging'")
	row="ledger: release $id of app $app has a version outside v1..v2147483647: the ledger was changed outside berth"
	max="ledger: app $app has a release version outside v1..v2147483647: the ledger was changed outside berth"
	# 4294967298 read as an int was 2 (and the next release v3, the
	# one after a UNIQUE failure); 4294967296 was 0, and rollback
	# crashed on it. The newest succeeded row is the current release.
	for v in 4294967298 4294967296; do
		sql "UPDATE releases SET version = $v WHERE id = $id"
		refused "$row" releases -a shop-staging
		refused "$row" config:set B=1 -a shop-staging
		refused "$row" rollback -a shop-staging
		refused "$row" rollback v1 -a shop-staging
	done
	# Below v1 it is not the current one; still no release is made.
	sql "UPDATE releases SET version = -1 WHERE id = $id"
	refused "$row" releases -a shop-staging
	refused "$max" config:set B=1 -a shop-staging
	refused "$max" rollback v7 -a shop-staging
	# A release at the highest version is the last one.
	sql "UPDATE releases SET version = 2147483647 WHERE id = $id"
	refused "the app has v2147483647, the highest release version berth makes: no release after it" \
	    config:set B=1 -a shop-staging
}

@test "output that cannot be written fails the command" {
	run --separate-stderr sh -c 'berth apps >/dev/full'
	[ "$status" -eq 1 ]
	[ "$stderr" = "berth: cannot write the output: No space left on device" ]
}
