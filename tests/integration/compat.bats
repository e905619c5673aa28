#!/usr/bin/env bats
# Heroku and Dokku apps move over unchanged: submodules, CHECKS and
# Dokku's app.json health checks, .buildpacks and BUILDPACK_URL, a clear
# failure for a language no buildpack detects, the nodejs buildpack as
# Heroku's behaves, and app.json scripts.dokku.

load helpers
load daemon

teardown() {
	stop_berthd
}

setup() {
	setup_root
	berth pipelines:create demo >/dev/null
	APP=$BATS_TEST_TMPDIR/app
}

# fixture_app NAME DIR: tests/fixtures/apps/NAME as a new repo, committed.
fixture_app() {
	mkdir -p "$2"
	cp -R "$FIXTURES/apps/$1/." "$2/"
	git -C "$2" init -q
	git -C "$2" add -A
	git -C "$2" commit -qm "$1"
}

# commit_all DIR MESSAGE
commit_all() {
	git -C "$1" add -A
	git -C "$1" commit -qm "$2"
}

# slug_dir APP: the directory of APP's newest release's slug.
slug_dir() {
	local id
	id=$(json_get "$(berth releases -a "$1" --json)" 'd[0]["slug_id"]')
	echo "$BERTH_ROOT/slugs/$id"
}

# nothing_changed: the push left no release, slug or build directory.
nothing_changed() {
	[ "$(remote_head demo main)" = none ]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'len(d)')" = 0 ]
	[ -z "$(ls "$BERTH_ROOT/slugs")" ]
	[ -z "$(ls "$BERTH_ROOT/tmp")" ]
}

# ---- a language no buildpack detects ----

@test "a Gemfile app no buildpack detects fails the build naming Ruby" {
	fixture_app ruby-no-buildpack "$APP"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Build failed: this looks like a Ruby app (Gemfile) but no installed buildpack detects it: add one with berth buildpacks:add https://github.com/heroku/heroku-buildpack-ruby, or build it Procfile-only with berth config:set BERTH_PROCFILE_ONLY=1"* ]]
	[[ "$output" != *"Procfile-only app ("* ]]
	[[ "$output" == *"pre-receive hook declined"* ]]
	nothing_changed
}

@test "BERTH_PROCFILE_ONLY=1 builds a Gemfile app Procfile-only" {
	fixture_app ruby-no-buildpack "$APP"
	berth config:set BERTH_PROCFILE_ONLY=1 -a demo-staging >/dev/null
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Procfile-only app (as config var BERTH_PROCFILE_ONLY asks)"* ]]
	[ -f "$(slug_dir demo-staging)/Gemfile" ]
}

@test "app.json berth.procfile_only builds Procfile-only, and needs a Procfile" {
	fixture_app ruby-no-buildpack "$APP"
	echo '{"berth": {"procfile_only": true}}' > "$APP/app.json"
	git -C "$APP" rm -q Procfile
	commit_all "$APP" "Procfile-only, without a Procfile"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Build failed: app.json berth.procfile_only asks for a Procfile-only build but the app has no Procfile: add one"* ]]
	nothing_changed
	cp "$FIXTURES/apps/ruby-no-buildpack/Procfile" "$APP/"
	commit_all "$APP" "Add the Procfile back"
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Procfile-only app (as app.json berth.procfile_only asks)"* ]]
}

# ---- .buildpacks and BUILDPACK_URL ----

@test ".buildpacks runs its two buildpacks in order, heroku/NAME meaning installed NAME" {
	berth buildpacks:add "$FIXTURES/buildpacks/stamp-two" >/dev/null
	fixture_app web-static "$APP"
	printf '# the buildpacks, in order\n%s\n\nheroku/stamp-two\n' \
	    "$FIXTURES/buildpacks/stamp-one" > "$APP/.buildpacks"
	commit_all "$APP" "Two buildpacks"
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Stamp one app detected (stamp-one, from .buildpacks)"* ]]
	[[ "$output" == *"Stamp two app detected (stamp-two, from .buildpacks)"* ]]
	[ "$(cat "$(slug_dir demo-staging)/stamps")" = "$(printf 'stamp-one\nstamp-two')" ]
}

@test "BUILDPACK_URL overrides .buildpacks and app.json, and says so" {
	berth buildpacks:add "$FIXTURES/buildpacks/stamp-two" >/dev/null
	fixture_app web-static "$APP"
	echo "$FIXTURES/buildpacks/stamp-one" > "$APP/.buildpacks"
	commit_all "$APP" "One buildpack"
	berth config:set BUILDPACK_URL=heroku/stamp-two -a demo-staging >/dev/null
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[[ "$output" == *"Warning: .buildpacks not used: the buildpacks of config var BUILDPACK_URL come first"* ]]
	[[ "$output" == *"(stamp-two, from config var BUILDPACK_URL)"* ]]
	[ "$(cat "$(slug_dir demo-staging)/stamps")" = stamp-two ]
}

@test "a bad .buildpacks line, or a path berth.ini does not allow, fails the build" {
	fixture_app web-static "$APP"
	printf 'heroku/nodejs\nheroku/python heroku/ruby\n' > "$APP/.buildpacks"
	commit_all "$APP" "Two on a line"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Build failed: .buildpacks line 2: expected one buildpack URL or name a line"* ]]
	nothing_changed
	sed -i '/^app_json_paths/d' "$BERTH_ROOT/berth.ini"
	echo "$FIXTURES/buildpacks/stamp-one" > "$APP/.buildpacks"
	commit_all "$APP" "A path"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Build failed: .buildpacks: '$FIXTURES/buildpacks/stamp-one' is a path on the server; name an installed buildpack (see: berth buildpacks) or a Git URL"* ]]
	nothing_changed
}

# ---- submodules ----

# make_lib: a bare repo of the submodule fixture beside the pipeline's
# repo ($BERTH_ROOT/repos/lib.git), so ../lib.git reaches it.
make_lib() {
	fixture_app submodule-lib "$BATS_TEST_TMPDIR/lib"
	git clone -q --bare "$BATS_TEST_TMPDIR/lib" "$BERTH_ROOT/repos/lib.git"
}

# add_submodule URL: the app gets the lib at vendor/lib, .gitmodules
# naming URL.
add_submodule() {
	git -C "$APP" -c protocol.file.allow=always submodule add -q \
	    "$BERTH_ROOT/repos/lib.git" vendor/lib
	git -C "$APP" config -f .gitmodules submodule.vendor/lib.url "$1"
	commit_all "$APP" "Add the lib as a submodule"
}

@test "a submodule from a local bare repo is checked out into the build" {
	make_lib
	fixture_app web-static "$APP"
	add_submodule "$BERTH_ROOT/repos/lib.git"
	run push "$APP" demo
	[ "$status" -eq 0 ]
	slug=$(slug_dir demo-staging)
	[ "$(cat "$slug/vendor/lib/lib.txt")" = "the library, from its own repository" ]
	[ ! -e "$slug/.git" ]
	[ ! -e "$slug/vendor/lib/.git" ]
	[ -z "$(ls "$BERTH_ROOT/tmp")" ]
}

@test "a relative submodule URL resolves against the pipeline's repo" {
	make_lib
	fixture_app web-static "$APP"
	add_submodule ../lib.git
	run push "$APP" demo
	[ "$status" -eq 0 ]
	[ "$(cat "$(slug_dir demo-staging)/vendor/lib/lib.txt")" = "the library, from its own repository" ]
}

@test "without app_json_paths, a submodule on this server (another pipeline's repo) is refused" {
	sed -i 's/^app_json_paths = 1$/app_json_paths = 0/' "$BERTH_ROOT/berth.ini"
	make_lib
	fixture_app web-static "$APP"
	add_submodule ../lib.git
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Build failed: submodule vendor/lib ($BERTH_ROOT/repos/lib.git) is a repository on this server: give it a URL of a git host, or set berth.ini [build] app_json_paths = 1 to let pushes name server paths"* ]]
	nothing_changed
}

@test "a submodule that cannot be fetched fails the build naming it and its URL" {
	make_lib
	fixture_app web-static "$APP"
	add_submodule ../missing.git
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Build failed: submodule vendor/lib ($BERTH_ROOT/repos/missing.git) cannot be fetched: no repository there; make its URL one this server can reach"* ]]
	nothing_changed
}

# ---- health checks: Dokku's CHECKS file and app.json healthchecks ----

# failed_release: v2 failed, v1 still current and serving $1 at $2.
old_release_serves() {
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'd[0]["version"]')" = 2 ]
	[ "$(json_get "$output" 'd[0]["status"]')" = failed ]
	[ "$(json_get "$output" 'd[1]["status"]')" = succeeded ]
	[ "$(remote_head demo main)" = "$v1" ]
	run router_get demo-staging "$2"
	[ "$output" = "$1" ]
}

@test "a CHECKS content check that passes lets the release go live" {
	start_berthd
	fixture_app checks "$APP"
	run push "$APP" demo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"Launching v1... done"* ]]
	run router_get demo-staging /
	[ "$output" = "Our Amazing Team" ]
}

@test "a CHECKS content check that fails keeps the old release serving" {
	start_berthd
	fixture_app checks "$APP"
	push "$APP" demo
	v1=$(remote_head demo main)
	echo "Under construction" > "$APP/index.html"
	commit_all "$APP" "Lose the team"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"web.1: health check GET /, try 1 of 2: got HTTP 200 without 'Our Amazing Team'"* ]]
	[[ "$output" == *"Push rejected: the release failed to start"*"web.1 failed its health check GET / after 2 tries: got HTTP 200 without 'Our Amazing Team' (CHECKS line 6)"* ]]
	old_release_serves "Our Amazing Team" /
}

@test "a bad CHECKS line fails the build naming it" {
	fixture_app checks "$APP"
	printf 'WAIT=soon\n/ Our Amazing Team\n' > "$APP/CHECKS"
	commit_all "$APP" "A bad setting"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"Build failed: CHECKS line 1: WAIT=soon: expected a whole number from 0 to 600"* ]]
	nothing_changed
}

@test "app.json Dokku-style checks gate the rollout; unsupported keys are named" {
	start_berthd
	fixture_app dokku-healthchecks "$APP"
	# CHECKS too: app.json's checks win, and the push says so.
	printf '/ Welcome\n' > "$APP/CHECKS"
	commit_all "$APP" "CHECKS too"
	run push "$APP" demo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"Warning: app.json: healthchecks.web[0].port is not supported by berth; ignored"* ]]
	[[ "$output" == *"Warning: CHECKS not used: app.json has healthchecks for web"* ]]
	v1=$(remote_head demo main)
	echo "About us" > "$APP/about.html"
	commit_all "$APP" "Lose the team"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"web.1 failed its health check GET /about.html after 2 tries: got HTTP 200 without 'Our Amazing Team' (app.json healthchecks.web \"about page\")"* ]]
	old_release_serves "Meet Our Amazing Team" /about.html
}

# ---- app.json scripts.dokku ----

@test "scripts.dokku.predeploy runs before the release phase, postdeploy once live" {
	start_berthd
	fixture_app dokku-scripts "$APP"
	run push "$APP" demo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	order=$(printf '%s\n' "$output" | grep -E '^remote:        (predeploy ran|release phase ran|web\.1 up|postdeploy ran)' |
	    sed -e 's/^remote: *//' -e 's/ (.*s)//' -e 's/[[:space:]]*$//' | tr '\n' '|')
	[ "$order" = "predeploy ran in predeploy.1, v1|release phase ran|web.1 up|postdeploy ran|" ] || { echo "$order"; false; }
	[[ "$output" != *"a review app seed"* ]]
	run router_get demo-staging /
	[ "$output" = v1 ]
}

@test "a failing scripts.dokku.predeploy rejects the release; the old one keeps serving" {
	start_berthd
	fixture_app dokku-scripts "$APP"
	push "$APP" demo
	v1=$(remote_head demo main)
	echo v2 > "$APP/index.html"
	touch "$APP/fail-predeploy"
	commit_all "$APP" "Fail the predeploy"
	run push "$APP" demo
	[ "$status" -ne 0 ]
	[[ "$output" == *"predeploy ran in predeploy.1, v2"* ]]
	[[ "$output" == *"Push rejected: the release failed to start: app.json scripts.dokku.predeploy (echo "*") exited with status 1"* ]]
	# Neither the release phase nor postdeploy ran for v2.
	[[ "$(printf '%s\n' "$output" | grep -c 'release phase ran')" -eq 0 ]]
	[[ "$output" != *"postdeploy ran"* ]]
	old_release_serves v1 /
}

@test "a failing scripts.dokku.postdeploy is reported; the release stays live" {
	start_berthd
	fixture_app dokku-scripts "$APP"
	push "$APP" demo
	echo v2 > "$APP/index.html"
	touch "$APP/fail-postdeploy"
	commit_all "$APP" "Fail the postdeploy"
	run push "$APP" demo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *" !     app.json scripts.dokku.postdeploy (echo "*") exited with status 1; its last lines:"* ]]
	[[ "$output" == *"v2 stays live"* ]]
	run berth releases -a demo-staging --json
	[ "$(json_get "$output" 'd[0]["status"]')" = succeeded ]
	[ "$(remote_head demo main)" = "$(git -C "$APP" rev-parse HEAD)" ]
	run router_get demo-staging /
	[ "$output" = v2 ]
}

# ---- the bundled nodejs buildpack, as Heroku's behaves ----

@test "nodejs without a lock file: scripts run as on Heroku, devDependencies pruned" {
	fixture_app node-nolock "$APP"
	run push "$APP" demo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"Node.js app detected (nodejs)"* ]]
	[[ "$output" == *"Installing dependencies with npm install (no lock file)"* ]]
	[[ "$output" == *"Running heroku-prebuild"*"Running heroku-postbuild"*"Pruning devDependencies"* ]]
	[[ "$output" != *"Running build"* ]]
	slug=$(slug_dir demo-staging)
	# heroku-prebuild before the install (its postinstall), heroku-postbuild
	# instead of build, with the devDependency still there for it.
	[ "$(cat "$slug/steps.txt")" = "$(printf 'prebuild\npostinstall\npostbuild')" ]
	[ -e "$slug/node_modules/greeting/index.js" ]
	[ ! -e "$slug/node_modules/devtool" ]
}

@test "nodejs: build runs when there is no heroku-postbuild; NODE_ENV=development keeps devDependencies" {
	fixture_app node-nolock "$APP"
	python3 - "$APP/package.json" <<-'PY'
	import json, sys
	p = json.load(open(sys.argv[1]))
	del p["scripts"]["heroku-postbuild"]
	p["scripts"]["build"] = "echo build >> steps.txt"
	json.dump(p, open(sys.argv[1], "w"), indent=2)
	PY
	commit_all "$APP" "Only build"
	berth config:set NODE_ENV=development -a demo-staging >/dev/null
	run push "$APP" demo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" != *"Pruning devDependencies"* ]]
	slug=$(slug_dir demo-staging)
	[ "$(cat "$slug/steps.txt")" = "$(printf 'prebuild\npostinstall\nbuild')" ]
	[ -e "$slug/node_modules/devtool/index.js" ]
}

@test "nodejs: on a cache hit the app's postinstall still runs" {
	fixture_app node-nolock "$APP"
	(cd "$APP" && npm install --package-lock-only --offline --no-audit \
	    --no-fund >/dev/null 2>&1)
	[ -f "$APP/package-lock.json" ]
	commit_all "$APP" "Lock file"
	run push "$APP" demo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"Installing dependencies with npm ci"* ]]
	commit_change "$APP" "Touch"
	run push "$APP" demo
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"Restoring node_modules from cache"*"Running postinstall"* ]]
	slug=$(slug_dir demo-staging)
	[ "$(cat "$slug/steps.txt")" = "$(printf 'prebuild\npostinstall\npostbuild')" ]
	[ ! -e "$slug/node_modules/devtool" ]
	[ -e "$slug/node_modules/greeting/index.js" ]
}
