#!/usr/bin/env bats
# Hostile input through a push (issue 16): ref names and hook input that
# git itself would never send, and a Procfile, app.json, .slugignore,
# CHECKS or .buildpacks an attacker would. One server root for the file
# (pushing is what takes time), one app deployed at v1; each case pushes
# one bad commit on top of v1 and checks the one line that says why, the
# refusal, and that the ledger and the branch are as they were.

bats_require_minimum_version 1.5.0

load helpers

ZERO=0000000000000000000000000000000000000000

setup_file() {
	BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR setup_root
	berth pipelines:create demo >/dev/null
	export APP=$BATS_FILE_TMPDIR/app
	BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR make_app "$APP"
	push "$APP" demo >/dev/null
	BASE=$(git -C "$APP" rev-parse HEAD)
	export BASE
}

setup() {
	setup_root_env
	git -C "$APP" reset -q --hard "$BASE"
	git -C "$APP" clean -qfdx
	BEFORE=$(ledger_state)
}

# setup_root_env: what setup_root exported, for each test's shell.
setup_root_env() {
	export PATH="$BERTH_BUILDDIR/src:$PATH"
}

# unchanged: the ledger's rows and the deploy branch are as before.
unchanged() {
	[ "$(ledger_state)" = "$BEFORE" ]
	[ "$(remote_head demo main)" = "$BASE" ]
}

# push_refused WANT: commit what the test changed in $APP, push it; the
# push is refused, says WANT on one remote line, and changes nothing.
push_refused() {
	git -C "$APP" add -A
	git -C "$APP" commit -qm "Hostile"
	run push "$APP" demo
	echo "$output"
	[ "$status" -ne 0 ]
	# Said once: on a line of its own, or as the rejection's reason.
	[[ "$output" == *"remote:  !     $1"* ||
	    "$output" == *"remote:  !     Push rejected: $1"* ]]
	[ "$(grep -c -F -- "$1" <<<"$output")" -le 2 ]
	[[ "$output" == *"Push rejected: "* ]]
	unchanged
}

# build_refused WANT: push_refused, the build saying "Build failed: WANT".
build_refused() {
	push_refused "Build failed: $1"
}

# hook_refused REF WANT: the pre-receive hook, given a line creating REF
# at v1's commit, refuses it with the one line
# " !     hook input line 1: WANT".
hook_refused() {
	hook_input_refused "$(printf '%s %s %s' "$ZERO" "$BASE" "$1")" \
	    "hook input line 1: $2"
}

# hook_input_refused LINE WANT: the same for any one line of hook input.
hook_input_refused() {
	run bash -c 'printf "%s\n" "$1" | (cd "$2" && GIT_DIR=. ./hooks/pre-receive)' \
	    _ "$1" "$(repo_of demo)"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$output" = " !     $2" ]
	unchanged
}

ALLOWED="use letters, digits, '/', '-', '_' and '.'"

# --- ref names -----------------------------------------------------------

@test "ref: a branch with '..' is refused" {
	hook_refused refs/heads/a..b "Branch name 'a..b' is not allowed: $ALLOWED; it must not contain '..'"
}

@test "ref: a branch with \$(...) is refused" {
	hook_refused 'refs/heads/$(id)' "Branch name '\$(id)' is not allowed: $ALLOWED"
}

@test "ref: a branch with ';' is refused" {
	hook_refused 'refs/heads/a;rm' "Branch name 'a;rm' is not allowed: $ALLOWED"
}

@test "ref: a branch starting with '-' is refused" {
	hook_refused refs/heads/-x "Branch name '-x' is not allowed: $ALLOWED; it must not start with '-'"
}

@test "ref: a branch part starting with '.' is refused" {
	hook_refused refs/heads/.x "Branch name '.x' is not allowed: $ALLOWED; no part between '/' may start with '.'"
}

@test "ref: a branch ending in .lock is refused" {
	hook_refused refs/heads/x.lock "Branch name 'x.lock' is not allowed: $ALLOWED; no part between '/' may end with '.lock'"
}

@test "ref: a branch with '//' is refused" {
	hook_refused refs/heads/a//b "Branch name 'a//b' is not allowed: $ALLOWED; it must not contain '//'"
}

@test "ref: a branch ending in '/' is refused" {
	hook_refused refs/heads/x/ "Branch name 'x/' is not allowed: $ALLOWED; it must not end with '/'"
}

@test "ref: a branch of 300 bytes is refused, its name cut in the message" {
	long=$(printf 'a%.0s' $(seq 300))
	run bash -c 'printf "%s\n" "$1" | (cd "$2" && GIT_DIR=. ./hooks/pre-receive)' \
	    _ "$ZERO $BASE refs/heads/$long" "$(repo_of demo)"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == " !     hook input line 1: Branch name 'aaaa"*"...' is too long (300 bytes): use at most 255 bytes" ]]
	[ "${#output}" -lt 300 ]
	unchanged
}

@test "ref: a branch that is not UTF-8 is refused, its bytes escaped" {
	hook_refused $'refs/heads/\xff\xfe' "Branch name '\\xff\\xfe' is not allowed: $ALLOWED"
}

@test "ref: a branch with an ESC sequence is refused, the ESC escaped" {
	hook_refused $'refs/heads/a\x1b[31mb' "Branch name 'a\\x1b[31mb' is not allowed: $ALLOWED"
}

@test "ref: a branch with '~' is refused" {
	hook_refused 'refs/heads/a~1' "Branch name 'a~1' is not allowed: $ALLOWED"
}

@test "ref: a branch with a space is refused" {
	hook_refused 'refs/heads/a b' "Branch name 'a b' is not allowed: $ALLOWED"
}

@test "ref: a tag with '..' is refused" {
	hook_refused refs/tags/v1..2 "Tag name 'v1..2' is not allowed: $ALLOWED; it must not contain '..'"
}

@test "ref: refs/notes and HEAD are neither branch nor tag" {
	hook_refused refs/notes/x "ref 'refs/notes/x' is not a branch or tag"
	hook_refused HEAD "ref 'HEAD' is not a branch or tag"
}

# --- hook input ------------------------------------------------------------

@test "hook input: a short commit id is not 'OLD NEW REF'" {
	hook_input_refused "$ZERO 1234 refs/heads/main" \
	    "hook input line 1 is not 'OLD NEW REF'; is this berth-receive run by git?"
}

@test "hook input: an empty line is not 'OLD NEW REF'" {
	hook_input_refused "" \
	    "hook input line 1 is not 'OLD NEW REF'; is this berth-receive run by git?"
}

@test "hook input: a second line that is garbage is named by its number" {
	hook_input_refused "$(printf '%s %s refs/heads/x\nnonsense' "$ZERO" "$BASE")" \
	    "hook input line 2 is not 'OLD NEW REF'; is this berth-receive run by git?"
}

@test "hook input: a new id that is not hex is refused as hook input" {
	run bash -c 'printf "%s\n" "$1" | (cd "$2" && GIT_DIR=. ./hooks/pre-receive)' \
	    _ "$BASE zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz refs/heads/main" \
	    "$(repo_of demo)"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = " !     hook input line 1: its commit ids are not 40 hex digits; is this berth-receive run by git?" ]
	unchanged
}

@test "hook input: an old id that is not the branch's is refused as moved" {
	run bash -c 'printf "%s\n" "$1" | (cd "$2" && GIT_DIR=. ./hooks/pre-receive)' \
	    _ "$ZERO $BASE refs/heads/main" "$(repo_of demo)"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == " !     Push rejected: main moved to ${BASE:0:7} while this push waited; pull and push again" ]]
	unchanged
}

# --- Procfile -------------------------------------------------------------

@test "Procfile: a line without ':' names its line" {
	echo "no colon here" > "$APP/Procfile"
	build_refused "Procfile line 1: expected 'type: command'"
}

@test "Procfile: a process type with '/' is refused" {
	echo 'we/b: x' > "$APP/Procfile"
	build_refused "Procfile line 1: 'we/b' is not a valid process type: use letters, digits, '-' and '_'"
}

@test "Procfile: a NUL byte is refused" {
	printf 'web: a\0b\n' > "$APP/Procfile"
	build_refused "Procfile line 1: contains a NUL byte"
}

@test "Procfile: a type without a command is refused" {
	printf 'web:\n' > "$APP/Procfile"
	build_refused "Procfile line 1: process type 'web' has no command"
}

@test "Procfile: a directory is not a file" {
	rm "$APP/Procfile"
	mkdir "$APP/Procfile"
	touch "$APP/Procfile/x"
	build_refused "Procfile is a directory; it must be a file"
}

@test "Procfile: a link is refused before it is read" {
	rm "$APP/Procfile"
	ln -s /etc/passwd "$APP/Procfile"
	build_refused "Procfile is a symbolic link; it must be a file"
	[[ "$output" != *"root:x:"* ]]
}

@test "Procfile: over 1 MB is named as in the repo, not by its server path" {
	python3 -c 'print("web: " + "x" * (2 << 20))' > "$APP/Procfile"
	build_refused "Procfile is larger than 1 MB"
	[[ "$output" != *"tmp/build-"* ]]
}

@test "Procfile: only comments, with no buildpack, names nothing to run" {
	printf '# nothing here\n' > "$APP/Procfile"
	build_refused "Procfile names no process type, and a Procfile-only app runs only what it names: add a line such as 'web: COMMAND'"
}

@test "Procfile: an empty one, with no buildpack, names nothing to run" {
	: > "$APP/Procfile"
	build_refused "Procfile names no process type, and a Procfile-only app runs only what it names: add a line such as 'web: COMMAND'"
}

# --- app.json -------------------------------------------------------------

@test "app.json: a directory says so, not libgit2's ODB message" {
	mkdir "$APP/app.json"
	touch "$APP/app.json/x"
	push_refused "app.json is a directory; it must be a file"
	[[ "$output" != *ODB* && "$output" != *"CI could not run"* ]]
}

@test "app.json: a link is refused before anything parses its target" {
	printf '{"environments": {"test": {"scripts": {"test": "echo ok 1"}}}}\n' \
	    > "$APP/target.json"
	ln -s target.json "$APP/app.json"
	push_refused "app.json is a symbolic link; it must be a file"
	[[ "$output" != *"Testing"* && "$output" != *"CI could not run"* ]]
}

@test "app.json: not JSON says where, labelled as app.json's, not CI's" {
	echo '{"x":' > "$APP/app.json"
	push_refused "app.json line 2 column 0: unexpected token near end of file"
	[[ "$output" != *"CI could not run"* ]]
}

@test "app.json: an array at the top is refused" {
	echo '[1, 2]' > "$APP/app.json"
	push_refused "app.json: expected a JSON object at the top"
}

@test "app.json: buildpacks that is a string is refused" {
	echo '{"buildpacks": "x"}' > "$APP/app.json"
	push_refused 'app.json: buildpacks: expected an array of {"url": ...} objects'
}

@test "app.json: a negative formation quantity is refused" {
	echo '{"formation": {"web": {"quantity": -1}}}' > "$APP/app.json"
	push_refused "app.json: formation.web.quantity: expected a whole number from 0 to 1000"
}

@test "app.json: environments.test that is a number is refused" {
	echo '{"environments": {"test": 5}}' > "$APP/app.json"
	push_refused "app.json: environments.test: expected an object"
}

@test "app.json: a health-check path that is a number is refused" {
	echo '{"healthchecks": {"web": [{"path": 5}]}}' > "$APP/app.json"
	push_refused "app.json: healthchecks.web[0].path: expected a string starting with '/'"
}

@test "app.json: a health-check path with an ESC is refused, escaped" {
	echo '{"healthchecks": {"web": [{"path": "/a\u001b[31mb"}]}}' > "$APP/app.json"
	push_refused "app.json: healthchecks.web[0].path: '/a\\x1b[31mb' holds a control byte: a check is a URL path, e.g. /health"
	[[ "$output" != *$'\x1b'* ]]
}

@test "app.json: a duplicate key is refused" {
	echo '{"a": 1, "a": 2}' > "$APP/app.json"
	push_refused "app.json line 1 column 12: duplicate object key near '\"a\"'"
}

@test "app.json: over 1 MB is refused with the size in MB" {
	python3 -c 'print("{\"x\": \"" + "a" * (2 << 20) + "\"}")' > "$APP/app.json"
	push_refused "app.json is larger than 1 MB"
}

# --- .slugignore, CHECKS, .buildpacks --------------------------------------

@test ".slugignore: a directory is not a file" {
	mkdir "$APP/.slugignore"
	touch "$APP/.slugignore/x"
	build_refused ".slugignore is a directory; it must be a file"
}

@test ".slugignore: a link is refused" {
	ln -s /etc/passwd "$APP/.slugignore"
	build_refused ".slugignore is a symbolic link; it must be a file"
}

@test ".slugignore: over 1 MB is refused" {
	head -c 2000000 /dev/zero | tr '\0' a > "$APP/.slugignore"
	build_refused ".slugignore is larger than 1 MB"
}

@test "CHECKS: a directory is not a file" {
	mkdir "$APP/CHECKS"
	touch "$APP/CHECKS/x"
	build_refused "CHECKS is a directory; it must be a file"
}

@test "CHECKS: a WAIT that is not a number names its line" {
	printf 'WAIT=abc\n/\n' > "$APP/CHECKS"
	build_refused "CHECKS line 1: WAIT=abc: expected a whole number from 0 to 600"
}

@test "CHECKS: a path with an ESC is refused, escaped" {
	printf '/a\x1b[31mb ok\n' > "$APP/CHECKS"
	build_refused "CHECKS line 1: '/a\\x1b[31mb' holds a control byte: a check is a URL path, e.g. /health"
	[[ "$output" != *$'\x1b'* ]]
}

@test ".buildpacks: a link is refused" {
	ln -s /etc/passwd "$APP/.buildpacks"
	build_refused ".buildpacks is a symbolic link; it must be a file"
}

# --- push options ----------------------------------------------------------

@test "push option: one berth does not know is named and ignored" {
	git -C "$(repo_of demo)" config receive.advertisePushOptions true
	echo "no colon" > "$APP/Procfile"
	git -C "$APP" add -A
	git -C "$APP" commit -qm "Hostile"
	run git -C "$APP" push -o nosuch.option "$(repo_of demo)" main
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Push option 'nosuch.option' ignored (berth knows ci.skip and review.skip)"* ]]
	[[ "$output" == *"Build failed: Procfile line 1: expected 'type: command'"* ]]
	unchanged
}
