#!/usr/bin/env bash
# bench/sandbox.sh - what the sandbox costs: two server roots in the same
# run, one as installed (app code in bubblewrap, as the app's uid when
# root) and one with [sandbox] enabled = 0, each with berthd and the same
# Procfile-only Python app:
#
#   dyno start    median of 10 `ps:restart`: from berth's "Starting
#                 process" log line to the app's own "Serving HTTP" line
#                 (target: under 10 ms added)
#   one-off       median of 10 `berth run -- true`, wall time
#   push to live  median of 10 redeploys, `git push` to the first 200 of
#                 the new version through the router (target: under 5%)
#
# usage: bench/sandbox.sh [BUILDDIR]   (default: _build)
. "$(dirname "$0")/lib.sh" "$@"
bench_extra_cleanup() {
	BERTH_ROOT=$tmp/sandboxed berth daemon:stop >/dev/null 2>&1 || true
	BERTH_ROOT=$tmp/plain berth daemon:stop >/dev/null 2>&1 || true
}

# setup NAME PORTMIN PORTMAX SANDBOX: a root at $tmp/NAME, berthd on it.
setup() {
	BERTH_ROOT=$tmp/$1 berth init >/dev/null
	BERTH_ROOT=$tmp/$1 router_ini "$2" "$3"
	printf '[sandbox]\nenabled = %s\n' "$4" >> "$tmp/$1/berth.ini"
	eval "port_$1=$rport"
	BERTH_ROOT=$tmp/$1 berthd
	BERTH_ROOT=$tmp/$1 berth pipelines:create bench >/dev/null
}
setup sandboxed 22000 22499 1
setup plain 22500 22999 0

app=$tmp/app
mkdir -p "$app"
printf 'web: exec /usr/bin/python3 -u -m http.server $PORT\n' > "$app/Procfile"
echo v0 > "$app/index.html"
git -C "$app" init -q
git -C "$app" add -A
git -C "$app" commit -qm v0

# timed_push NAME VERSION: commit VERSION, push it to root NAME and poll
# its router until the app serves it; milliseconds to $tmp/NAME.push.
timed_push() {
	local port t0 body
	eval "port=\$port_$1"
	echo "$2" > "$app/index.html"
	git -C "$app" commit -qam "$2"
	t0=$(ms)
	git -C "$app" push -q "$tmp/$1/repos/bench.git" HEAD:main 2>/dev/null
	until body=$(curl -s --max-time 2 -H "Host: bench-staging.localhost" \
	    "http://127.0.0.1:$port/") && [ "$body" = "$2" ]; do :; done
	echo $(( $(ms) - t0 )) >> "$tmp/$1.push"
}

# starts NAME: from "Starting process" to "Serving HTTP" of each web.1
# start in root NAME's app log, in ms, one a line.
starts() {
	BERTH_ROOT=$tmp/$1 berth logs -a bench-staging -n 10000 | python3 -c '
import sys, datetime
def t(line):
    return datetime.datetime.fromisoformat(line.split(" ", 1)[0])
start = None
for line in sys.stdin:
    if "berth[web.1]: Starting process" in line:
        start = t(line)
    elif "app[web.1]: Serving HTTP" in line and start is not None:
        print("%.2f" % ((t(line) - start).total_seconds() * 1000))
        start = None'
}

for name in sandboxed plain; do
	: > "$tmp/$name.push"
	: > "$tmp/$name.run"
	git -C "$app" push -q "$tmp/$name/repos/bench.git" HEAD:main 2>/dev/null
done
for i in $(seq 1 10); do
	for name in sandboxed plain; do
		timed_push "$name" "v$i-$name"
		BERTH_ROOT=$tmp/$name berth ps:restart -a bench-staging >/dev/null
		t0=$(ms)
		BERTH_ROOT=$tmp/$name berth run -a bench-staging -- true
		echo $(( $(ms) - t0 )) >> "$tmp/$name.run"
	done
done

s_start=$(starts sandboxed | median)
p_start=$(starts plain | median)
s_run=$(median < "$tmp/sandboxed.run")
p_run=$(median < "$tmp/plain.run")
s_push=$(median < "$tmp/sandboxed.push")
p_push=$(median < "$tmp/plain.push")
echo "sandbox cost, $( [ "$(id -u)" = 0 ] && echo "as root (a uid per app)" || echo "as $(id -un)"), median of 10 each:"
awk -v s="$s_start" -v p="$p_start" 'BEGIN {
	printf "  dyno start to listening  sandboxed %.1f ms  plain %.1f ms  ratio %.2fx  (+%.1f ms; target under +10 ms)\n", s, p, s / p, s - p }'
awk -v s="$s_run" -v p="$p_run" 'BEGIN {
	printf "  berth run -- true        sandboxed %d ms  plain %d ms  ratio %.2fx  (+%d ms)\n", s, p, s / p, s - p }'
awk -v s="$s_push" -v p="$p_push" 'BEGIN {
	printf "  push to live (redeploy)  sandboxed %d ms  plain %d ms  ratio %.2fx  (target under 1.05x)\n", s, p, s / p }'
