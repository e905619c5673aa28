#!/usr/bin/env bash
# bench/webhooks.sh - what webhooks cost a deploy, and how fast berthd
# delivers them.
#
#  1. Push to live (tests/fixtures/apps/version, a Procfile-only Node
#     app: `git push` until its new VERSION answers through the router),
#     median of ROUNDS (default 20) pushes each to two pipelines in the
#     same run, taking turns: one without webhooks (the baseline) and
#     one with 50 json webhooks to a local sink
#     (tests/fixtures/http-sink.py), one of which hangs until the try's
#     timeout. Before each push the other webhooks' deliveries are
#     sent. Target: a median difference under 5 ms (also shown: the
#     median of each round's difference, which drift does not move).
#     NHOOKS=1 keeps only the hanging one (an A/A check of the noise).
#  2. Events delivered per second: EVENTS (default 2000) events written
#     at once to a pipeline with one json webhook, until every delivery
#     is recorded succeeded; against the baseline of the same number of
#     POSTs of a body of the same size from curl (4 at a time, kept
#     alive, as berthd sends to one webhook) to the same sink.
#  Also berthd's CPU time (user + system, /proc) per push with and
#  without the webhooks, their deliveries sent: a figure the machine's
#  noise moves far less than a few ms of push to live.
#
# usage: bench/webhooks.sh [BUILDDIR]   (default: _build)
. "$(dirname "$0")/lib.sh" "$@"
rounds=${ROUNDS:-20}
events=${EVENTS:-2000}
sink_pid=
bench_extra_cleanup() {
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null
	return 0
}

berth init >/dev/null
router_ini 26000 26999
berthd

mkdir -p "$tmp/sink"
# The sink stands for receivers on other machines: its own CPU must not
# count against the deploy, so it runs at the lowest priority.
nice -n 19 python3 "$top/tests/fixtures/http-sink.py" "$tmp/sink" &
sink_pid=$!
until [ -s "$tmp/sink/port" ]; do sleep 0.05; done
sport=$(cat "$tmp/sink/port")

app=$tmp/app
version_app "$app"
berth pipelines:create zero >/dev/null
berth pipelines:create fifty >/dev/null
berth webhooks:add "http://127.0.0.1:$sport/hang/x" -p fifty >/dev/null
for i in $(seq 2 "${NHOOKS:-50}"); do
	berth webhooks:add "http://127.0.0.1:$sport/ok/$i" -p fifty >/dev/null
done
for p in zero fifty; do
	git -C "$app" push -q "$BERTH_ROOT/repos/$p.git" HEAD:main 2>/dev/null
done

# berthd's CPU time so far, in ms (user + system, all its threads).
berthd_cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' \
	    "/proc/$(cat "$BERTH_ROOT/run/berthd.pid")/stat"
}

# unsent PIPELINE: its deliveries still pending, but the hanging one's.
unsent() {
	python3 - "$BERTH_ROOT/ledger.db" "$1" <<-'EOF'
	import sqlite3, sys
	db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
	print(db.execute("SELECT count(*) FROM deliveries d JOIN webhooks w "
	    "ON w.id = d.webhook_id JOIN pipelines p ON p.id = w.pipeline_id "
	    "WHERE p.name = ? AND d.status = 'pending' AND w.url NOT LIKE "
	    "'%/hang/%'", (sys.argv[1],)).fetchone()[0])
	EOF
}

# timed_push PIPELINE VERSION TIMES: commit VERSION, push it, and ask
# its staging app until it answers VERSION; the ms go to TIMES. The push
# returns once the release is live (post-receive waits for the switch),
# so the first answer is the new one: no polling loop takes the CPU
# the deploy needs, which would drown a few ms in noise.
timed_push() {
	local t0 body
	echo "$2" > "$app/VERSION"
	git -C "$app" commit -qam "$2"
	t0=$(ms)
	if ! git -C "$app" push -q "$BERTH_ROOT/repos/$1.git" HEAD:main \
	    2>"$tmp/push.out"; then
		cat "$tmp/push.out" >&2
		exit 1
	fi
	until body=$(curl -s --max-time 2 -H "Host: $1-staging.localhost" \
	    "http://127.0.0.1:$rport/") && [ "$body" = "$2" ]; do
		sleep 0.001
	done
	echo $(( $(ms) - t0 )) >> "$3"
}

: > "$tmp/zero"; : > "$tmp/fifty"; : > "$tmp/zero.cpu"; : > "$tmp/fifty.cpu"
for i in $(seq 1 "$rounds"); do
	# Taking turns, each first every other round.
	order="zero fifty"
	[ $((i % 2)) = 0 ] && order="fifty zero"
	for p in $order; do
		c0=$(berthd_cpu_ms)
		timed_push "$p" "$p-$i" "$tmp/$p"
		# berthd's CPU for the push and its deliveries.
		until [ "$(unsent fifty)" = 0 ]; do sleep 0.05; done
		awk -v a="$c0" -v b="$(berthd_cpu_ms)" 'BEGIN {print b - a}' \
		    >> "$tmp/$p.cpu"
	done
done
z=$(median < "$tmp/zero")
f=$(median < "$tmp/fifty")
# Each round's two pushes ran back to back: their difference is the
# steadier figure (the machine's drift cancels).
d=$(paste "$tmp/fifty" "$tmp/zero" | awk '{print $1 - $2}' | median)
echo "push to live (Procfile-only Node app), median of $rounds, same run:"
echo "  50 webhooks (1 hanging)  ${f} ms"
echo "  no webhooks              ${z} ms   (baseline)"
awk -v f="$f" -v z="$z" -v d="$d" 'BEGIN {printf "  difference               %+.1f ms (%.3fx); per round, median %+.1f ms   (target < 5 ms)\n", f - z, f / z, d}'
zc=$(median < "$tmp/zero.cpu")
fc=$(median < "$tmp/fifty.cpu")
echo "berthd's CPU per push, its deliveries sent, median:"
echo "  50 webhooks  ${fc} ms"
echo "  none         ${zc} ms   (baseline)"
awk -v f="$fc" -v z="$zc" -v n="${NHOOKS:-50}" 'BEGIN {printf "  webhooks     %+.0f ms, %.2f ms per delivery (3 events x %d)\n", f - z, (f - z) / (3 * n), n}'
python3 - "$BERTH_ROOT/ledger.db" <<-'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
n, hung = db.execute("SELECT count(*), sum(w.url LIKE '%/hang/%' AND "
    "d.error LIKE '%timed out%') FROM deliveries d JOIN webhooks w ON "
    "w.id = d.webhook_id").fetchone()
print("  deliveries made: %d; tries of the hanging webhook timed out: %d" % (n, hung or 0))
EOF

# Throughput: one webhook, EVENTS events written in one transaction.
berth pipelines:create rate >/dev/null
berth webhooks:add "http://127.0.0.1:$sport/ok/rate" -p rate >/dev/null
: > "$tmp/sink/requests.jsonl"
cpu0=$(berthd_cpu_ms)
rate=$(python3 - "$BERTH_ROOT/ledger.db" "$events" <<-'EOF'
import sqlite3, sys, time
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path, isolation_level=None, timeout=30)
pid = db.execute("SELECT id FROM pipelines WHERE name = 'rate'").fetchone()[0]
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
db.execute("BEGIN IMMEDIATE")
for i in range(n):
    db.execute("INSERT INTO events (pipeline_id, kind, actor, message, "
               "created_at, data) VALUES (?, 'push', 'bench', ?, ?, ?)",
               (pid, "Pushed bench %d" % i, now,
                '{"ref":"refs/heads/b","branch":"b","before":null,"after":null}'))
t0 = time.monotonic()
db.execute("COMMIT")
q = ("SELECT count(*) FROM deliveries d JOIN webhooks w ON w.id = "
     "d.webhook_id WHERE w.pipeline_id = ? AND d.status = 'succeeded'")
while db.execute(q, (pid,)).fetchone()[0] < n:
    time.sleep(0.01)
print("%.0f" % (n / (time.monotonic() - t0)))
EOF
)
cpu=$(awk -v a="$cpu0" -v b="$(berthd_cpu_ms)" -v n="$events" \
    'BEGIN {printf "%.3f", (b - a) / n}')
# The baseline: the same POSTs from curl, 4 at a time, kept alive.
python3 - "$tmp/sink/requests.jsonl" "$tmp/body.json" <<-'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
open(sys.argv[2], "w").write(r["body"])
EOF
for i in $(seq 1 "$events"); do
	printf 'url = "http://127.0.0.1:%s/ok/curl"\noutput = "/dev/null"\n' "$sport"
done > "$tmp/curl.cfg"
t0=$(date +%s%N)
curl -s --no-progress-meter -Z --parallel-max 4 -H 'Content-Type: application/json' \
    --data-binary @"$tmp/body.json" -K "$tmp/curl.cfg"
base=$(awk -v n="$events" -v t="$(( $(date +%s%N) - t0 ))" \
    'BEGIN {printf "%.0f", n / (t / 1e9)}')
echo "events delivered per second to a local sink (one json webhook, $events events):"
echo "  berthd  ${rate}/s   (each: read, body, POST, recorded)"
echo "  curl    ${base}/s   (baseline: the same POSTs, 4 at a time)"
awk -v a="$rate" -v b="$base" 'BEGIN {printf "  ratio   %.2fx\n", a / b}'
echo "  berthd's CPU per delivery: ${cpu} ms (a backlog to one webhook: a look at the ledger per try)"
