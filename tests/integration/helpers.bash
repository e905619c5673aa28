# helpers.bash - shared set-up for berth's bats tests. Each test gets its
# own server root in BATS_TEST_TMPDIR, runs the built binaries, and
# pushes with a real git over the local transport.

: "${BERTH_BUILDDIR:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
: "${BERTH_SRCDIR:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
FIXTURES=$BERTH_SRCDIR/tests/fixtures

setup_root() {
	export PATH="$BERTH_BUILDDIR/src:$PATH"
	export BERTH_ROOT="$BATS_TEST_TMPDIR/root"
	export BERTH_DATADIR="$BERTH_SRCDIR/contrib"
	export BERTH_USER="tester@bats"
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	export GIT_CONFIG_NOSYSTEM=1
	git config --global user.name "Test User"
	git config --global user.email "test@example.com"
	git config --global init.defaultBranch main
	git config --global advice.detachedHead false
	berth init >/dev/null
	# The tests name fixture buildpacks by path in app.json.
	printf '\n[build]\napp_json_paths = 1\n' >> "$BERTH_ROOT/berth.ini"
	# Users' keys go to the test's own file, never to ~/.ssh of root.
	printf '\n[ssh]\nauthorized_keys = %s\n' \
	    "$BATS_TEST_TMPDIR/authorized_keys" >> "$BERTH_ROOT/berth.ini"
}

# make_app DIR: a Procfile-only app in a new git repo with one commit.
make_app() {
	local dir=$1
	mkdir -p "$dir"
	printf 'web: python3 -m http.server $PORT\n' > "$dir/Procfile"
	echo "hello" > "$dir/index.html"
	git -C "$dir" init -q
	git -C "$dir" add -A
	git -C "$dir" commit -qm "First commit"
}

# commit_change DIR MESSAGE: change a file and commit.
commit_change() {
	echo "$2" >> "$1/index.html"
	git -C "$1" add -A
	git -C "$1" commit -qm "$2"
}

# set_procfile DIR TEXT: replace the Procfile and commit.
set_procfile() {
	printf '%s\n' "$2" > "$1/Procfile"
	git -C "$1" add -A
	git -C "$1" commit -qm "Procfile: $2"
}

# use_buildpack DIR FIXTURE: commit an app.json naming a fixture buildpack.
use_buildpack() {
	printf '{"buildpacks": [{"url": "%s"}]}\n' \
	    "$FIXTURES/buildpacks/$2" > "$1/app.json"
	git -C "$1" add app.json
	git -C "$1" commit -qm "Use the $2 buildpack"
}

repo_of() {
	echo "$BERTH_ROOT/repos/$1.git"
}

# push DIR PIPELINE [REFSPEC...]: push over the local transport.
push() {
	local dir=$1 pipeline=$2
	shift 2
	git -C "$dir" push "$(repo_of "$pipeline")" "${@:-main}" 2>&1
}

# remote_head PIPELINE BRANCH: the bare repo's branch, or "none".
remote_head() {
	git --git-dir="$(repo_of "$1")" rev-parse -q --verify \
	    "refs/heads/$2" || echo none
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local what=$1 secs=$2 deadline
	shift 2
	deadline=$(( $(date +%s) + secs ))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "timed out after ${secs}s waiting for $what" >&2
			return 1
		fi
		sleep 0.05
	done
}

# json_get JSON-TEXT EXPR: read a value with python (jq may be absent).
json_get() {
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# start_gates: gates for app code, which runs sandboxed and cannot see
# the test's files: app code waits at gate NAME (gate_cmd NAME prints the
# shell code) over loopback; the server marks $GATES/NAME.started and
# lets it go once the test creates $GATES/NAME. stop_gates ends it.
start_gates() {
	GATES=$BATS_TEST_TMPDIR/gates
	mkdir -p "$GATES"
	python3 "$FIXTURES/gate-server.py" "$GATES" > "$GATES/.port" &
	GATE_PID=$!
	wait_for "the gate server" 10 test -s "$GATES/.port"
	GATE_PORT=$(cat "$GATES/.port")
}

stop_gates() {
	[ -z "${GATE_PID:-}" ] && return 0
	kill "$GATE_PID" 2>/dev/null
	wait "$GATE_PID" 2>/dev/null || true
	GATE_PID=
}

# add_gate_script DIR: DIR/gate.sh, for app code to reach the gate
# server: `./gate.sh log WORDS...` adds a line to $GATES/log, `./gate.sh
# wait NAME` waits at gate NAME, `./gate.sh barrier NAME N` until N
# sandboxes got there (exit 1 after 10 s). Commit it with the app.
add_gate_script() {
	cat > "$1/gate.sh" <<-EOF
	#!/bin/bash
	exec 3<>/dev/tcp/127.0.0.1/$GATE_PORT || exit 1
	case \$1 in
	log) shift; echo "log \$*" >&3 ;;
	wait) echo "\$2" >&3 ;;
	barrier) echo "barrier \$2 \$3" >&3 ;;
	esac
	read -r answer <&3
	[ "\$answer" != timeout ]
	EOF
	chmod +x "$1/gate.sh"
}

# gate_cmd NAME: bash code that waits at gate NAME.
gate_cmd() {
	echo "exec 3<>/dev/tcp/127.0.0.1/$GATE_PORT && echo $1 >&3 && read -r _ <&3; exec 3>&-"
}

# ledger_state: the ledger rows a refused input must leave as they were
# (not builds and events: a failed build is history).
ledger_state() {
	python3 - "$BERTH_ROOT/ledger.db" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for t in ("pipelines", "apps", "config_vars", "releases", "formation",
          "slugs", "review_apps", "test_runs"):
    for r in c.execute("SELECT * FROM %s ORDER BY rowid" % t):
        print(t, r)
EOF
}

# state: what a refused command must leave as it was; a file may define
# its own (after `load helpers`).
state() {
	ledger_state
}

# refused MESSAGE ARGS...: berth ARGS exits 1 with exactly "berth:
# MESSAGE" on stderr, nothing on stdout, and state unchanged.
refused() {
	local msg=$1 before after
	shift
	before=$(state)
	run --separate-stderr berth "$@"
	after=$(state)
	if [ "$status" -ne 1 ] || [ "$stderr" != "berth: $msg" ] ||
	    [ -n "$output" ] || [ "$before" != "$after" ]; then
		printf 'berth %s\n  status %s\n  stderr: %s\n  stdout: %s\n' \
		    "$*" "$status" "$stderr" "$output" >&2
		[ "$before" = "$after" ] || printf '  changed:\n%s\n---\n%s\n' \
		    "$before" "$after" >&2
		return 1
	fi
}
