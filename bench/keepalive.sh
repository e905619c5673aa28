#!/usr/bin/env bash
# bench/keepalive.sh - what deploys, scales and restarts cost clients
# that keep their connection alive.
#
# Three apps (tests/fixtures/apps/version, a Node server; web=1, 2 and
# 2), one keep-alive client each (tests/fixtures/keepalive-client.py:
# one reused connection, no retries, every request's latency and every
# error recorded). The clients first run IDLE_SECONDS (default 5) with
# nothing going on, then while 20 deploys, 10 `ps:scale web=N` and 10
# `ps:restart` run across the apps. Prints the requests, the failed
# ones (target 0), the p99 latency during the operations against the
# p99 when idle (same clients) and their ratio (target within 2x), and
# how many configurations nginx loaded meanwhile. All of it twice in
# one run: with the Lua upstream ([router] lua = on), and as the
# baseline with lua = off, where every change is an nginx reload.
#
# usage: bench/keepalive.sh [BUILDDIR]   (default: _build)
. "$(dirname "$0")/lib.sh" "$@"
idle=${IDLE_SECONDS:-5}
apps=(ka1 ka2 ka3)
client_pids=()
bench_extra_cleanup() {
	local p
	for p in "${client_pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	return 0
}

app=$tmp/app
version_app "$app"

generation() {
	berth daemon:status --json |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)["router_generation"])'
}

# deploy APP VERSION: push VERSION to APP's pipeline.
deploy() {
	echo "$2" > "$app/VERSION"
	git -C "$app" commit -qam "$2"
	if ! git -C "$app" push -q "$BERTH_ROOT/repos/$1.git" HEAD:main \
	    2>"$tmp/push.err"; then
		cat "$tmp/push.err" >&2
		exit 1
	fi
}

# scenario LUA: a server root with [router] lua = LUA, the apps and
# their clients, idle then the operations; prints one row.
scenario() {
	local lua=$1 i a p gen0 gen1 t_idle t_ops t_end
	local -A web
	export BERTH_ROOT=$tmp/root-$lua
	berth init >/dev/null
	router_ini 23000 23999
	printf '[router]\nlua = %s\n' "$lua" >> "$BERTH_ROOT/berth.ini"
	berthd
	for i in 0 1 2; do
		a=${apps[$i]}
		berth pipelines:create "$a" >/dev/null
		deploy "$a" "$a-0"
		web[$a]=$(( i == 0 ? 1 : 2 ))
		berth ps:scale "web=${web[$a]}" -a "$a-staging" >/dev/null
	done
	# The clients start only now: each app's first route above was a
	# reload, which closes the idle connections of running clients.
	for a in "${apps[@]}"; do
		: > "$tmp/$lua.$a"
		python3 "$top/tests/fixtures/keepalive-client.py" "$rport" \
		    "$a-staging.localhost" "$tmp/$lua.$a" &
		client_pids+=($!)
	done
	t_idle=$(date +%s.%N)
	sleep "$idle"
	t_ops=$(date +%s.%N)
	gen0=$(generation)
	# 40 operations, round robin over the apps: deploy, scale, deploy,
	# restart, ... (20 deploys, 10 scales, 10 restarts).
	for i in $(seq 0 39); do
		a=${apps[$(( i % 3 ))]}
		case $(( i % 4 )) in
		0|2)	deploy "$a" "$a-$i" ;;
		1)	web[$a]=$(( 3 - ${web[$a]} ))
			berth ps:scale "web=${web[$a]}" -a "$a-staging" >/dev/null ;;
		3)	berth ps:restart -a "$a-staging" >/dev/null ;;
		esac
	done
	t_end=$(date +%s.%N)
	gen1=$(generation)
	for p in "${client_pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	client_pids=()
	berth daemon:stop >/dev/null
	python3 - "$lua" "$t_idle" "$t_ops" "$t_end" $(( gen1 - gen0 )) \
	    "$tmp/$lua".ka? <<-'EOF'
	import sys
	mode, t_idle, t_ops, t_end, reloads = sys.argv[1:6]
	t_idle, t_ops, t_end = float(t_idle), float(t_ops), float(t_end)
	idle, ops, failed, why = [], [], 0, {}
	for path in sys.argv[6:]:
	    for line in open(path):
	        start, ms, result = line.split()[:3]
	        start, ms = float(start), float(ms)
	        if result != "200":
	            failed += 1
	            why[result] = why.get(result, 0) + 1
	        if t_idle <= start < t_ops:
	            idle.append(ms)
	        elif t_ops <= start < t_end:
	            ops.append(ms)
	def p99(v):
	    v = sorted(v)
	    return v[min(len(v) - 1, int(len(v) * 0.99))] if v else float("nan")
	name = "lua" if mode == "on" else "reload (baseline, lua = off)"
	print("  %-29s %8d %6d %8.2f %8.2f %6.2fx %5s %7.1f s" % (name,
	      len(idle) + len(ops), failed, p99(idle), p99(ops),
	      p99(ops) / p99(idle), reloads, t_end - t_ops))
	for w in sorted(why):
	    print("    %d %s" % (why[w], w))
	EOF
}

echo "keep-alive clients of 3 apps (web=1,2,2): idle ${idle} s, then 20" \
    "deploys + 10 scales + 10 restarts"
printf '  %-29s %8s %6s %8s %8s %7s %5s %9s\n' "" requests failed \
    "p99 idle" "p99 ops" ratio loads "ops took"
scenario on
scenario off
echo "  (targets with lua: 0 failed, p99 ratio within 2x; latencies in ms;" \
    "loads: configurations nginx loaded during the operations)"
