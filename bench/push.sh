#!/usr/bin/env bash
# bench/push.sh - what a berth push costs over a plain one, and how
# `berth releases` scales with the ledger.
#
#  1. median wall time of 10 pushes of a Procfile-only app to berth,
#     against the same 10 pushes to a plain bare repo whose post-receive
#     only checks the tree out (git archive | tar -x); prints the ratio.
#  2. median time of `berth releases -a APP -n 20` with 100,000 releases
#     in the ledger, against the same with 20 releases; prints the ratio.
#
# usage: bench/push.sh [BUILDDIR]   (default: _build, from contrib/check)
. "$(dirname "$0")/lib.sh" "$@"

berth init >/dev/null
berth pipelines:create bench >/dev/null

plain=$tmp/plain.git
git init -q --bare "$plain"
cat > "$plain/hooks/post-receive" <<'HOOK'
#!/bin/sh
while read -r old new ref; do
	d=$(mktemp -d)
	git archive "$new" | tar -x -C "$d"
	rm -rf "$d"
done
HOOK
chmod +x "$plain/hooks/post-receive"

app=$tmp/app
mkdir -p "$app"
printf 'web: python3 -m http.server $PORT\n' > "$app/Procfile"
for i in $(seq 1 200); do echo "file $i" > "$app/f$i.txt"; done
git -C "$app" init -q
git -C "$app" add -A
git -C "$app" commit -qm "Initial"

time_pushes() {
	local remote=$1 out=$2
	: > "$out"
	for i in $(seq 1 10); do
		echo "$i" >> "$app/f1.txt"
		git -C "$app" commit -qam "Change $i"
		t0=$(ms)
		git -C "$app" push -q "$remote" main 2>/dev/null
		echo $(( $(ms) - t0 )) >> "$out"
	done
}
time_pushes "$BERTH_ROOT/repos/bench.git" "$tmp/berth.times"
time_pushes "$plain" "$tmp/plain.times"
b=$(median < "$tmp/berth.times")
p=$(median < "$tmp/plain.times")
echo "push (Procfile-only, 201 files), median of 10:"
echo "  berth  ${b} ms"
echo "  plain  ${p} ms   (bare repo, post-receive git archive | tar -x)"
awk -v b="$b" -v p="$p" 'BEGIN {printf "  ratio  %.2fx\n", b / p}'

time_releases() {
	local app=$1
	for i in $(seq 1 10); do
		t0=$(ms)
		berth releases -a "$app" -n 20 >/dev/null
		echo $(( $(ms) - t0 ))
	done | median
}
berth apps:create big -p bench --stage development >/dev/null
berth apps:create small -p bench --stage development >/dev/null
python3 - "$BERTH_ROOT/ledger.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ids = dict(db.execute("SELECT name, id FROM apps WHERE name IN ('big','small')"))
def fill(app, n):
    db.executemany(
        "INSERT INTO releases (app_id, version, slug_id, config, kind, status,"
        " actor, commit_sha, description, created_at) VALUES"
        " (?, ?, NULL, '{}', 'config', 'succeeded', 'bench', NULL, ?,"
        " '2026-11-26T12:00:00Z')",
        ((app, v, "Set X config var") for v in range(1, n + 1)))
fill(ids["big"], 100000)
fill(ids["small"], 20)
db.commit()
PY
big=$(time_releases big)
small=$(time_releases small)
echo "berth releases -n 20, median of 10:"
echo "  100,000 releases  ${big} ms"
echo "  20 releases       ${small} ms   (baseline)"
awk -v b="$big" -v s="$small" 'BEGIN {printf "  ratio             %.2fx\n", b / s}'
