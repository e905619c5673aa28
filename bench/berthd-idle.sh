#!/usr/bin/env bash
# bench/berthd-idle.sh - what berthd costs while it supervises.
#
#  1. berthd's resident memory (VmRSS) with 100 running dynos, against
#     the same berthd with none; prints both and the ratio.
#  2. CPU time (user+system) berthd uses over IDLE_SECONDS (default 60)
#     of idle supervision of those 100 dynos; the target is ~0: berthd
#     has no polling loop, it sleeps in poll() until I/O or a timer.
#
# usage: bench/berthd-idle.sh [BUILDDIR]   (default: _build)
. "$(dirname "$0")/lib.sh" "$@"
idle=${IDLE_SECONDS:-60}
berth init >/dev/null
router_ini 23000 23999
printf 'max_dynos = 200\n' >> "$BERTH_ROOT/berth.ini"
berth pipelines:create bench >/dev/null
berthd
pid=$(cat "$BERTH_ROOT/run/berthd.pid")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

app=$tmp/app
mkdir -p "$app"
printf 'web: python3 -m http.server $PORT --bind 127.0.0.1\nworker: exec sleep 100000\n' > "$app/Procfile"
echo hi > "$app/index.html"
git -C "$app" init -q
git -C "$app" add -A
git -C "$app" commit -qm "Initial"
git -C "$app" push -q "$BERTH_ROOT/repos/bench.git" main 2>/dev/null
base=$(rss)
berth ps:scale worker=99 -a bench-staging >/dev/null
n=$(berth ps -a bench-staging --json | python3 -c 'import json,sys; print(sum(1 for d in json.load(sys.stdin) if d["state"] == "up"))')
full=$(rss)
echo "berthd resident memory:"
echo "  with $n dynos  ${full} KiB"
echo "  with 1 dyno    ${base} KiB   (baseline)"
awk -v f="$full" -v b="$base" 'BEGIN {printf "  ratio          %.2fx\n", f / b}'

hz=$(getconf CLK_TCK)
t0=$(cpu_ticks)
sleep "$idle"
t1=$(cpu_ticks)
echo "berthd CPU time over ${idle} s idle with $n dynos:"
awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$idle" 'BEGIN {printf "  %.2f s (%.3f%% of one core; target ~0)\n", d / hz, 100 * d / hz / s}'
