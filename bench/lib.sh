# bench/lib.sh - what every benchmark script shares; source it first:
#   . "$(dirname "$0")/lib.sh" "$@"
# It puts the built binaries ($1, default _build) on PATH, makes a temp
# dir ($tmp) with a server root ($BERTH_ROOT) and a git identity, stops
# berthd and removes $tmp on exit, and defines:
#   ms                 milliseconds now
#   median             the median of numbers on stdin, one a line
#   free_port          a TCP port nothing listens on
#   router_ini MIN MAX append a free router port (exported as $rport)
#                      and the dyno port range MIN-MAX to berth.ini
#   version_app DIR    a git repo of tests/fixtures/apps/version (a
#                      Procfile-only Node app answering its VERSION),
#                      one commit with VERSION v0
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build}
export PATH="$build/src:$PATH"
tmp=$(mktemp -d)
export BERTH_ROOT=$tmp/root HOME=$tmp/home GIT_CONFIG_NOSYSTEM=1
# A script may define bench_extra_cleanup (after sourcing this) to stop
# what else it started. Called, not looked up: after `bench/x.sh | head`
# the first builtin to run reports the echo's broken pipe and fails, and
# `declare -F` was that builtin, so sshd and the like outlived the run.
bench_extra_cleanup() { :; }
bench_cleanup() {
	bench_extra_cleanup || true
	berth daemon:stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap bench_cleanup EXIT
mkdir -p "$HOME"
git config --global user.name bench
git config --global user.email bench@localhost
git config --global init.defaultBranch main

ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
router_ini() {
	rport=$(free_port)
	printf '[router]\nport = %s\n[runtime]\nport_min = %s\nport_max = %s\n' \
	    "$rport" "$1" "$2" >> "$BERTH_ROOT/berth.ini"
}
version_app() {
	mkdir -p "$1"
	cp "$top/tests/fixtures/apps/version/Procfile" \
	    "$top/tests/fixtures/apps/version/server.js" "$1/"
	echo v0 > "$1/VERSION"
	git -C "$1" init -q
	git -C "$1" add -A
	git -C "$1" commit -qm "Initial"
}
