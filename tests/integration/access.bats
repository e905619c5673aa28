#!/usr/bin/env bats
# Who may do what, through a real sshd: each user's keys log in with the
# forced command berth writes (berth shell USER); pushes and berth
# commands are checked against the user's role on the pipeline. A role
# x action matrix (git over ssh, then berth commands over ssh, as each
# kind of user), and the bad input of berth shell and keys:add, each
# refused with one line and nothing changed.
#
# The team, on pipeline shop (shop-staging auto-deploys main, shop is
# production): vera a viewer, dev a developer, dep a deployer, adm the
# pipeline's admin, sam a server admin, nora a user with no role.

load helpers
load sshd

setup() {
	setup_root
	berth pipelines:create shop >/dev/null
	declare -gA KEY
	local u
	for u in vera:viewer dev:developer dep:deployer adm:admin sam nora; do
		if [ "$u" = sam ]; then
			berth users:add sam --admin >/dev/null
		else
			berth users:add "${u%%:*}" >/dev/null
		fi
		[ "${u#*:}" = "$u" ] ||
		    berth access:grant "${u%%:*}" -p shop --role "${u#*:}" \
		    >/dev/null
		KEY[${u%%:*}]=$(make_user_key "${u%%:*}")
		berth keys:add "${u%%:*}" "${KEY[${u%%:*}]}.pub" >/dev/null
	done
	AUTH_KEYS=$BATS_TEST_TMPDIR/authorized_keys
	start_sshd "$AUTH_KEYS"
	GIT_URL=ssh://root@127.0.0.1:$SSHD_PORT/shop.git
	ACCESS_LOG=$BERTH_ROOT/logs/access.log
	# What a case gives a command on stdin (keys:add - reads it).
	CASE_STDIN=/dev/null
	FAILED=0
	NCASES=0
}

teardown() {
	stop_sshd
	stop_berthd
}

# ---- running cases ----

trim() {
	local s=$1
	s=${s#"${s%%[![:space:]]*}"}
	printf '%s' "${s%"${s##*[![:space:]]}"}"
}

# The key exchange of this file's ssh and git: OpenSSH 9's default
# (sntrup761x25519) costs ~100 ms a connection here, a third of a case;
# berth shell never sees which one ran.
FAST_KEX=KexAlgorithms=curve25519-sha256

# as USER COMMAND: COMMAND (one string: SSH_ORIGINAL_COMMAND) over ssh
# with USER's key, as ssh_as runs it, stdin from $CASE_STDIN, stdout and
# stderr together.
as() {
	local opts
	mapfile -t opts < <(sshd_ssh_opts)
	ssh -p "$SSHD_PORT" -i "${KEY[$1]}" "${opts[@]}" -o "$FAST_KEX" \
	    root@127.0.0.1 "$2" < "$CASE_STDIN" 2>&1
}

# check NAME USER WANT PRESENT ABSENT: the case named NAME exited
# $status WANT, its $output holds PRESENT and not ABSENT ("-": nothing
# to look for); a refusal (PRESENT holds " needs ", as every refusal
# does) of USER has its line in logs/access.log since $LOG_LINES.
# Prints what went wrong, naming the case, and counts it in FAILED.
check() {
	local name=$1 user=$2 want=$3 present=$4 absent=$5 why=""

	NCASES=$((NCASES + 1))
	[ "$status" -eq "$want" ] || why="exit status $status, wanted $want"
	if [ "$present" != - ] && [[ "$output" != *"$present"* ]]; then
		why="${why:+$why; }output lacks '$present'"
	fi
	if [ "$absent" != - ] && [[ "$output" == *"$absent"* ]]; then
		why="${why:+$why; }output holds '$absent'"
	fi
	# git's refusal ends in '.', the log's line does not.
	if [[ "$present" == *" needs "* ]] &&
	    ! tail -n +$((LOG_LINES + 1)) "$ACCESS_LOG" |
	    grep -F "$user: refused: " | grep -qF "${present%.}"; then
		why="${why:+$why; }no '$user: refused: ...$present' in access.log"
	fi
	if [ -n "$why" ]; then
		FAILED=$((FAILED + 1))
		printf 'case %s: %s\n--- output:\n%s\n---\n' "$name" "$why" \
		    "$output" >&2
	fi
}

# log_mark: where check() starts looking in access.log.
log_mark() {
	LOG_LINES=$(wc -l < "$ACCESS_LOG" 2>/dev/null || echo 0)
}

# run_cases: the cases on stdin, one a line (blank lines and # comments
# skipped):  USER | STATUS | PRESENT | ABSENT | COMMAND
# each run over ssh as USER and checked as check() does.
run_cases() {
	local user want present absent cmd line
	while IFS= read -r line; do
		line=$(trim "$line")
		case $line in '' | '#'*) continue ;; esac
		IFS='|' read -r user want present absent cmd <<< "$line"
		user=$(trim "$user")
		want=$(trim "$want")
		present=$(trim "$present")
		absent=$(trim "$absent")
		cmd=$(trim "$cmd")
		log_mark
		status=0
		output=$(as "$user" "$cmd") || status=$?
		check "$user: $cmd" "$user" "$want" "$present" "$absent"
	done
}

# git_case NAME USER WANT PRESENT GIT-ARGS...: git with USER's key.
git_case() {
	local name=$1 user=$2 want=$3 present=$4
	shift 4
	git_ssh_env "${KEY[$user]}"
	GIT_SSH_COMMAND="$GIT_SSH_COMMAND -o $FAST_KEX"
	log_mark
	status=0
	output=$(git "$@" 2>&1) || status=$?
	check "$name" "$user" "$want" "$present" -
}

# ref_is NAME BRANCH SHA|none: shop's BRANCH is SHA (none: absent).
ref_is() {
	local got
	got=$(remote_head shop "$2")
	NCASES=$((NCASES + 1))
	if [ "$got" != "$3" ]; then
		FAILED=$((FAILED + 1))
		echo "case $1: shop's $2 is $got, wanted $3" >&2
	fi
}

cases_done() {
	echo "# $NCASES cases, $FAILED failed" >&3
	[ "$FAILED" -eq 0 ]
}

@test "a developer's push to a review branch goes in; to the deploy branch it is refused, the ref unchanged" {
	make_app "$BATS_TEST_TMPDIR/app"
	git_ssh_env "${KEY[dev]}"
	run git -C "$BATS_TEST_TMPDIR/app" push "$GIT_URL" main
	[ "$status" -ne 0 ]
	[[ "$output" == *"dev is a developer on shop: pushing main (shop-staging) needs deployer."* ]]
	[[ "$output" == *"Push a branch for a review app, or ask an admin: berth access:grant dev -p shop --role deployer"* ]]
	run git --git-dir "$(repo_of shop)" rev-parse --verify -q refs/heads/main
	[ "$status" -ne 0 ]
	grep -q "dev: refused: dev is a developer on shop: pushing main" "$ACCESS_LOG"
	git -C "$BATS_TEST_TMPDIR/app" push -q "$GIT_URL" main:feature-x
	[ "$(git --git-dir "$(repo_of shop)" rev-parse feature-x)" = "$(git -C "$BATS_TEST_TMPDIR/app" rev-parse HEAD)" ]
}

@test "commands over ssh run with the user's role" {
	run ssh_as "${KEY[vera]}" releases -a shop-staging
	[ "$status" -eq 0 ]
	run ssh_as "${KEY[vera]}" config:set A=1 -a shop-staging
	[ "$status" -eq 77 ]
	[[ "$output" == *"vera is a viewer on shop: config:set on shop-staging needs deployer"* ]]
	run ssh_as "${KEY[vera]}" "git-receive-pack 'shop.git'; id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"';' is not allowed"* ]]
}

@test "matrix: fetch, clone and push over ssh, by role" {
	local app=$BATS_TEST_TMPDIR/app head one
	berth reviewapps:enable -p shop >/dev/null
	make_app "$app"
	head=$(git -C "$app" rev-parse HEAD)

	# Nothing to fetch yet is still a fetch: access first.
	git_case "nora ls-remote" nora 128 \
	    "nora has no role on shop: fetching from shop needs viewer" \
	    ls-remote "$GIT_URL"
	git_case "vera pushes a review branch" vera 128 \
	    "vera is a viewer on shop: pushing to shop needs developer" \
	    -C "$app" push "$GIT_URL" main:feature
	ref_is "vera's review branch" feature none
	git_case "nora pushes a review branch" nora 128 \
	    "nora has no role on shop: pushing to shop needs developer" \
	    -C "$app" push "$GIT_URL" main:feature
	git_case "dev pushes main" dev 1 \
	    "dev is a developer on shop: pushing main (shop-staging) needs deployer." \
	    -C "$app" push "$GIT_URL" main
	ref_is "dev's push of main" main none
	git_case "dev pushes main and a review branch at once" dev 1 \
	    "pushing main (shop-staging) needs deployer." \
	    -C "$app" push "$GIT_URL" main main:feature
	ref_is "dev's push of main and feature: feature" feature none
	git_case "dev pushes a review branch" dev 0 \
	    "Review app shop-feature (new)" \
	    -C "$app" push "$GIT_URL" main:feature
	ref_is "dev's review branch" feature "$head"
	commit_change "$app" "Second"
	git_case "dev pushes the review branch again" dev 0 \
	    "Building shop-feature from feature@" \
	    -C "$app" push "$GIT_URL" main:feature
	ref_is "dev's second push of feature" feature \
	    "$(git -C "$app" rev-parse HEAD)"
	status=0
	output=$(berth releases -a shop-feature) || status=$?
	check "shop-feature's releases" - 0 "v2  Deploy" -
	[[ "$output" == *"  dev  "* ]] ||
	    { FAILED=$((FAILED + 1)); echo "shop-feature: $output" >&2; }
	git_case "dev pushes a tag" dev 0 "[new tag]" \
	    -C "$app" push "$GIT_URL" HEAD:refs/tags/v1
	git_case "dep pushes main" dep 0 "Building shop-staging from main@" \
	    -C "$app" push "$GIT_URL" main
	ref_is "dep's push of main" main "$(git -C "$app" rev-parse HEAD)"
	git_case "dep deletes main" dep 1 "Deleting main is not allowed" \
	    -C "$app" push "$GIT_URL" :main
	ref_is "dep's deletion of main" main "$(git -C "$app" rev-parse HEAD)"
	git_case "vera clones" vera 0 "Cloning into" \
	    clone "$GIT_URL" "$BATS_TEST_TMPDIR/vera-clone"
	one=$(git -C "$BATS_TEST_TMPDIR/vera-clone" rev-parse HEAD 2>&1)
	NCASES=$((NCASES + 1))
	[ "$one" = "$(git -C "$app" rev-parse HEAD)" ] ||
	    { FAILED=$((FAILED + 1)); echo "case vera's clone: HEAD $one" >&2; }
	git_case "nora clones" nora 128 \
	    "nora has no role on shop: fetching from shop needs viewer" \
	    clone "$GIT_URL" "$BATS_TEST_TMPDIR/nora-clone"
	NCASES=$((NCASES + 1))
	[ ! -e "$BATS_TEST_TMPDIR/nora-clone/.git/refs/heads/main" ] ||
	    { FAILED=$((FAILED + 1)); echo "case nora's clone: main" >&2; }
	commit_change "$app" "Third"
	git_case "sam pushes main" sam 0 "Building shop-staging from main@" \
	    -C "$app" push "$GIT_URL" main
	git_case "dev deletes the review branch" dev 0 "[deleted]" \
	    -C "$app" push "$GIT_URL" :feature
	ref_is "dev's deletion of feature" feature none
	# Releases and builds name who pushed.
	status=0
	output=$(berth releases -a shop-staging) || status=$?
	check "releases name the pusher" - 0 "Deploy" -
	[[ "$output" == *"  dep  "* && "$output" == *"  sam  "* ]] ||
	    { FAILED=$((FAILED + 1)); echo "releases: $output" >&2; }
	cases_done
}

@test "matrix: berth commands over ssh, by role" {
	local app=$BATS_TEST_TMPDIR/app
	start_berthd
	make_app "$app"
	push "$app" shop >/dev/null
	berth config:set SECRET=staging-secret -a shop-staging >/dev/null
	berth config:set SECRET=prod-secret -a shop >/dev/null
	berth pipelines:promote -p shop >/dev/null
	berth reviewapps:enable -p shop >/dev/null
	push "$app" shop main:feature >/dev/null
	berth apps:create shop-qa -p shop --stage staging >/dev/null
	berth pipelines:create other >/dev/null
	make_user_key spare >/dev/null
	CASE_STDIN=$BATS_TEST_TMPDIR/ssh-keys/spare.pub

	run_cases <<-'EOF'
	# Reading: viewers and up; nobody without a role.
	vera | 0 | Deploy                 | -      | releases -a shop-staging
	nora | 77 | nora has no role on shop: releases on shop-staging needs viewer | - | releases -a shop-staging
	vera | 0 | web.1                  | -      | ps -a shop
	nora | 77 | nora has no role on shop: ps on shop needs viewer | - | ps -a shop
	vera | 0 | berth[web.1]: State changed from starting to up | needs | logs -a shop-staging -n 5
	nora | 77 | nora has no role on shop: logs on shop-staging needs viewer | - | logs -a shop-staging -n 5
	vera | 0 | shop-staging           | -      | pipelines:info -p shop
	vera | 0 | shop-staging and shop are up to date | needs | pipelines:diff -p shop --from shop-staging --to shop
	nora | 77 | nora has no role on shop: pipelines:info needs viewer | - | pipelines:info -p shop
	vera | 0 | dep                    | -      | access -p shop
	# Config values: deployers on non-production apps, admins on all.
	vera | 0 | SECRET:  (hidden)      | staging-secret | config -a shop-staging
	dev  | 0 | SECRET:  (hidden)      | staging-secret | config -a shop-staging
	dep  | 0 | SECRET:  staging-secret | hidden | config -a shop-staging
	dep  | 0 | "SECRET": "(hidden)"   | prod-secret | config -a shop --json
	dep  | 0 | names only: values need admin | prod-secret | config -a shop
	adm  | 0 | SECRET:  prod-secret   | hidden | config -a shop
	sam  | 0 | SECRET:  prod-secret   | hidden | config -a shop
	vera | 77 | vera is a viewer on shop: config:get on shop-staging needs deployer | staging-secret | config:get SECRET -a shop-staging
	dep  | 77 | dep is a deployer on shop: config:get on shop needs admin | prod-secret | config:get SECRET -a shop
	dep  | 0 | Setting A and restarting shop-staging... done, v | - | config:set A=1 -a shop-staging
	dev  | 77 | dev is a developer on shop: config:set on shop-staging needs deployer | - | config:set A=2 -a shop-staging
	dep  | 77 | dep is a deployer on shop: config:set on shop needs admin | - | config:set A=1 -a shop
	adm  | 0 | Setting A and restarting shop... done, v | - | config:set A=1 -a shop
	# Production's dynos and releases: admins only.
	dep  | 77 | dep is a deployer on shop: ps:scale on shop needs admin | - | ps:scale web=2 -a shop
	dep  | 0 | Scaling shop-staging: web=2 | needs | ps:scale web=2 -a shop-staging
	dev  | 77 | dev is a developer on shop: ps:restart on shop-staging needs deployer | - | ps:restart -a shop-staging
	dep  | 77 | dep is a deployer on shop: rollback on shop needs admin | - | rollback -a shop
	adm  | 0 | Rolled back shop to     | -      | rollback -a shop
	# Promoting: into staging a deployer, into production an admin.
	dev  | 77 | dev is a developer on shop: pipelines:promote needs deployer | - | pipelines:promote -p shop --from shop-staging --to shop-qa
	dep  | 0 | Promoting shop-staging  | -      | pipelines:promote -p shop --from shop-staging --to shop-qa
	dep  | 77 | dep is a deployer on shop: pipelines:promote on shop needs admin | - | pipelines:promote -p shop --from shop-staging --to shop
	adm  | 0 | Promoting shop-staging  | -      | pipelines:promote -p shop --from shop-staging --to shop
	# One-off dynos: a review app a developer's, production an admin's.
	dev  | 0 | hello-review           | -      | run -a shop-feature -- echo hello-review
	vera | 77 | vera is a viewer on shop: run on shop-feature needs developer | - | run -a shop-feature -- echo hi
	dev  | 77 | dev is a developer on shop: run on shop-staging needs deployer | - | run -a shop-staging -- echo hi
	dep  | 0 | hello-staging          | -      | run -a shop-staging -- echo hello-staging
	dep  | 77 | dep is a deployer on shop: run on shop needs admin | - | run -a shop -- echo hi
	adm  | 0 | hello-production       | -      | run -a shop -- echo hello-production
	# Settings and access: the pipeline's admin.
	dep  | 77 | dep is a deployer on shop: reviewapps:disable needs admin | - | reviewapps:disable -p shop
	vera | 77 | vera is a viewer on shop: ci:rerun needs developer | - | ci:rerun 1 -p shop
	dev  | 77 | dev is a developer on shop: apps:destroy on shop-feature needs admin | - | apps:destroy shop-feature --confirm shop-feature
	dep  | 77 | dep is a deployer on shop: access:grant needs admin | - | access:grant nora -p shop --role viewer
	adm  | 0 | nora is now a viewer on shop | - | access:grant nora -p shop --role viewer
	nora | 0 | Deploy                 | -      | releases -a shop-staging
	adm  | 0 | nora has no role on shop now | - | access:revoke nora -p shop
	nora | 77 | nora has no role on shop: releases on shop-staging needs viewer | - | releases -a shop-staging
	# Users and the server: server admins only; some only on the server.
	sam  | 0 | Added zed              | -      | users:add zed
	nora | 77 | shell runs only on the server itself | - | shell sam
	sam  | 77 | init runs only on the server itself | - | init
	vera | 77 | vera is not a server admin: daemon:status needs one | - | daemon:status
	sam  | 0 | berthd is running      | -      | daemon:status
	nora | 0 | usage: berth users [--json] | - | help users
	adm  | 77 | adm is not a server admin: users:add needs one | - | users:add zoe
	adm  | 77 | adm is not a server admin: pipelines:create needs one | - | pipelines:create mine
	# Lists show what the user has a role on.
	vera | 0 | shop-staging           | other  | apps
	vera | 0 | shop                   | other  | pipelines
	nora | 0 | No apps you have a role on | shop | apps
	nora | 0 | No pipelines you have a role on | shop | pipelines
	sam  | 0 | other-staging          | -      | apps
	# Keys and tokens: one's own.
	dev  | 77 | dev is not a server admin: adding another user's key needs one | - | keys:add vera -
	dev  | 0 | Added key SHA256:      | -      | keys:add dev --name spare -
	vera | 77 | vera is not a server admin: keys of another user needs one | - | keys -u dev
	dev  | 0 | spare                  | vera   | keys
	dev  | 0 | Token 1 for dev, never expires | - | tokens:create
	dev  | 77 | dev is not a server admin: a token for another user needs one | - | tokens:create -u vera
	sam  | 0 | for vera, never expires | -     | tokens:create -u vera
	vera | 1 | no token 1 of vera      | -      | tokens:revoke 1
	EOF
	# A refused key is not in the ledger; the one added works at once.
	status=0
	output=$(berth keys -u vera) || status=$?
	check "vera's keys" - 0 vera spare
	status=0
	output=$(ssh_as "$BATS_TEST_TMPDIR/ssh-keys/spare" apps 2>&1) ||
	    status=$?
	check "dev's spare key" - 0 shop-staging other-staging
	cases_done
}

# ---- bad input ----

# snapshot: what bad input must not change: the ledger's users, keys,
# roles, tokens, apps and pipelines, authorized_keys, shop's refs, and
# the other root's ledger.
snapshot() {
	berth users --json
	berth keys --json
	berth access -p shop --json
	berth tokens --json
	berth apps --json
	berth pipelines --json
	cat "$AUTH_KEYS"
	git --git-dir "$(repo_of shop)" for-each-ref
	ls "$BERTH_ROOT/repos"
	BERTH_ROOT=$ELSEWHERE berth users --json
	BERTH_ROOT=$ELSEWHERE berth pipelines --json
}

# refused NAME MESSAGE: the case's $status is 1 and its $output one line,
# "berth: ..." holding MESSAGE.
refused() {
	local name=$1 msg=$2 why=""
	NCASES=$((NCASES + 1))
	[ "$status" -eq 1 ] || why="exit status $status, wanted 1"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ] ||
	    why="${why:+$why; }not one line"
	[[ "$output" == "berth: "*"$msg"* ]] ||
	    why="${why:+$why; }no 'berth: ...$msg'"
	if [ -n "$why" ]; then
		FAILED=$((FAILED + 1))
		printf 'case %s: %s\n--- output:\n%s\n---\n' "$name" "$why" \
		    "$output" >&2
	fi
}

# bad USER COMMAND MESSAGE: COMMAND over ssh as USER is refused.
bad() {
	status=0
	output=$(as "$1" "$2") || status=$?
	refused "$1: $(printf '%q' "${2:0:60}")" "$3"
}

# other_root: a second server root, where dev is a server admin.
other_root() {
	ELSEWHERE=$BATS_TEST_TMPDIR/elsewhere
	BERTH_ROOT=$ELSEWHERE berth init >/dev/null
	BERTH_ROOT=$ELSEWHERE berth users:add dev --admin >/dev/null
	BERTH_ROOT=$ELSEWHERE berth pipelines:create evil >/dev/null
}

@test "bad command lines over ssh: one line each, exit 1, nothing changed" {
	local before junk long opts
	other_root
	make_app "$BATS_TEST_TMPDIR/app"
	push "$BATS_TEST_TMPDIR/app" shop >/dev/null
	before=$(snapshot)

	bad dev "ls" "no command 'ls'; see: berth help"
	bad dev "sh -c id" "no command 'sh'; see: berth help"
	bad dev "git-receive-pack '../x.git'" "pipeline name '../x' is not valid"
	bad dev "git-receive-pack 'shop.git'; id" "';' is not allowed unquoted"
	bad dev "git-receive-pack 'shop.git' && id" "'&' is not allowed unquoted"
	bad dev "git-upload-pack '/etc'" "no pipeline 'etc' here"
	bad dev "git-upload-pack '/etc/passwd'" "pipeline name 'etc/passwd' is not valid"
	bad dev "git-upload-pack 'nope.git'" "no pipeline 'nope.git' here"
	bad dev "git-upload-pack 'shop.git' 'shop.git'" "git-upload-pack takes one repository"
	bad dev "git-upload-archive 'shop.git'" "serves git-receive-pack and git-upload-pack only"
	bad dev "git receive-pack 'shop.git'" "serves git-receive-pack and git-upload-pack only, not git"
	bad dev "pipelines:info -p nope" "no pipeline named 'nope'"
	bad dev "releases -a nope" "no app named 'nope'"
	bad dev 'apps $(id)' "'\$' is not allowed unquoted"
	bad dev 'apps "$(id)"' "'\$' is not allowed in double quotes"
	bad dev 'apps `id`' "'\`' is not allowed unquoted"
	bad dev "apps > /tmp/x" "'>' is not allowed unquoted"
	bad dev "apps 'unclosed" "the command has an unclosed quote"
	bad dev "   " "give a command, e.g. ssh HOST apps"
	long=$(printf 'x%.0s' $(seq 1 10240))
	bad dev "releases -a $long" "is 10252 bytes long; berth takes at most 4096"
	junk=$(printf "$(printf '\\x%02x' $(seq 1 31))")
	bad dev "apps $junk" "the command holds control character \\x01"
	junk=$(printf "$(printf '\\x%02x' $(seq 128 255))")
	bad dev "apps $junk" "the command is not valid UTF-8"
	bad dev "releases -a shop --root $ELSEWHERE" "--root is not yours to give over SSH"
	bad dev "releases -a shop --root=$ELSEWHERE" "--root is not yours to give over SSH"
	# The parser takes "--" as -p's value, so --root is an option there.
	bad dev "pipelines:info -p -- --root $ELSEWHERE -p evil" "--root is given twice"
	bad dev "users:add -- --root $ELSEWHERE" "users:add takes one argument"
	# No command at all: sshd runs the forced command with none.
	mapfile -t opts < <(sshd_ssh_opts)
	status=0
	output=$(ssh -T -p "$SSHD_PORT" -i "${KEY[dev]}" "${opts[@]}" \
	    root@127.0.0.1 < /dev/null 2>&1) || status=$?
	refused "dev: no command" "give a command, e.g. ssh HOST apps, or push with git"
	grep -q "dev: refused: the command holds control character" "$ACCESS_LOG"

	[ "$(snapshot)" = "$before" ]
	cases_done
}

@test "bad keys, names and roles over ssh: one line each, exit 1, nothing changed" {
	local before k=$BATS_TEST_TMPDIR/ssh-keys
	other_root
	make_user_key spare >/dev/null
	printf 'command="id" %s\n' "$(cat "$k/spare.pub")" > "$k/options.pub"
	cat "$k/spare.pub" "$k/vera.pub" > "$k/two.pub"
	# ssh-keygen makes no DSA keys any more: a well-formed ssh-dss blob.
	python3 - > "$k/dss.pub" <<-'PY'
	import base64, struct
	def s(b): return struct.pack(">I", len(b)) + b
	def mp(n): return s(n.to_bytes(n.bit_length() // 8 + 1, "big"))
	blob = s(b"ssh-dss") + mp(2**1023 + 12345) + mp(2**159 + 7) + mp(3) + mp(5)
	print("ssh-dss " + base64.b64encode(blob).decode() + " old@dsa")
	PY
	: > "$k/empty.pub"
	before=$(snapshot)

	CASE_STDIN=${KEY[dev]}
	bad dev "keys:add dev -" "this is a private key; give its public half"
	CASE_STDIN=$k/options.pub
	bad dev "keys:add dev -" "key options are refused"
	CASE_STDIN=$k/two.pub
	bad dev "keys:add dev -" "the input holds more than one key (lines 1 and 2)"
	CASE_STDIN=$k/dss.pub
	bad dev "keys:add dev -" "key type 'ssh-dss' is not supported"
	CASE_STDIN=$k/empty.pub
	bad dev "keys:add dev -" "no public key given"
	CASE_STDIN=$k/vera.pub
	bad dev "keys:add dev -" "is vera's already"
	CASE_STDIN=/dev/null
	bad dev "keys:add dev $k/spare.pub" "over SSH, give the key on stdin"
	bad dev "keys:remove SHA256:nope" "SHA256:nope"
	bad sam "users:add Bad_Name" "user name 'Bad_Name' is not valid"
	bad sam "users:add x" "user name 'x' is not valid"
	bad sam "users:add 'ana b'" "user name 'ana b' is not valid"
	bad sam "users:add dev" "dev"
	bad adm "access:grant Bad_Name -p shop --role viewer" "user name 'Bad_Name' is not valid"
	bad adm "access:grant vera -p shop --role owner" "'owner' is not a role: use viewer, developer, deployer or admin"
	bad adm "access:grant vera -p shop" "access:grant needs a role"
	bad adm "access:revoke adm -p shop" "adm is the last admin of pipeline shop"
	bad adm "access:grant adm -p shop --role deployer" "adm is the last admin of pipeline shop"
	bad sam "users:remove sam" "sam is the last server admin and other users remain"
	bad dev "tokens:create --expires 0d" "--expires wants a time like 30d"
	bad dev "tokens:create --expires 30y" "--expires wants a time like 30d"

	[ "$(snapshot)" = "$before" ]
	cases_done
}

@test "skipping CI past the pipeline's CI gate needs admin; a review app's values are its developers'" {
	make_app "$BATS_TEST_TMPDIR/app"
	git_ssh_env "${KEY[dep]}"
	run git -C "$BATS_TEST_TMPDIR/app" push -o ci.skip "$GIT_URL" main
	[ "$status" -ne 0 ]
	[[ "$output" == *"dep is a deployer on shop: pushing main (shop-staging) with -o ci.skip past the CI gate needs admin."* ]]
	[ "$(remote_head shop main)" = none ]
	git_ssh_env "${KEY[adm]}"
	run git -C "$BATS_TEST_TMPDIR/app" push -o ci.skip "$GIT_URL" main
	[ "$status" -eq 0 ]
	[[ "$output" == *"CI skipped"* || "$output" == *"Launching"* || "$output" == *"recorded"* ]]
	# A developer's code runs with a review app's config: they may read it.
	berth reviewapps:enable -p shop >/dev/null
	berth reviewapps:config:set REVIEW_TOKEN=rv-secret -p shop >/dev/null
	git_ssh_env "${KEY[dev]}"
	git -C "$BATS_TEST_TMPDIR/app" push -q "$GIT_URL" main:feature 2>/dev/null
	run ssh_as "${KEY[dev]}" config -a shop-feature
	[ "$status" -eq 0 ]
	[[ "$output" == *"rv-secret"* ]]
	run ssh_as "${KEY[vera]}" config -a shop-feature
	[[ "$output" != *"rv-secret"* ]]
}
