#!/usr/bin/env bash
# bench/review.sh - what review apps and CI cost.
#
#  1. median of 5: `git push` of a new branch until its review app
#     answers 200, against the same kind of push to the deploy branch
#     until staging serves it (target: review <= 1.2x deploy).
#  2. median of 5: the push of a branch whose app.json runs a trivial
#     `true` test, against the same push with -o ci.skip (the CI
#     overhead over the build alone).
#
# usage: bench/review.sh [BUILDDIR]   (default: _build)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build}
export PATH="$build/src:$PATH"
tmp=$(mktemp -d)
export BERTH_ROOT=$tmp/root HOME=$tmp/home GIT_CONFIG_NOSYSTEM=1
trap 'berth daemon:stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
mkdir -p "$HOME"
git config --global user.name bench
git config --global user.email bench@localhost
git config --global init.defaultBranch main

ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
berth init >/dev/null
printf '[router]\nport = %s\n[runtime]\nport_min = 45000\nport_max = 45999\n' "$rport" >> "$BERTH_ROOT/berth.ini"
berth pipelines:create bench >/dev/null
berth reviewapps:enable -p bench >/dev/null
berthd
remote=$BERTH_ROOT/repos/bench.git

app=$tmp/app
mkdir -p "$app"
printf 'web: python3 -m http.server $PORT --bind 127.0.0.1\n' > "$app/Procfile"
echo v0 > "$app/index.html"
git -C "$app" init -q
git -C "$app" add -A
git -C "$app" commit -qm "Initial"
git -C "$app" push -q "$remote" main 2>/dev/null

# until_serves HOST BODY
until_serves() {
	until [ "$(curl -s --max-time 2 -H "Host: $1" "http://127.0.0.1:$rport/")" = "$2" ]; do :; done
}

: > "$tmp/deploy"
: > "$tmp/review"
for i in 1 2 3 4 5; do
	git -C "$app" checkout -q main
	echo "main-$i" > "$app/index.html"
	git -C "$app" commit -qam "Main $i"
	t0=$(ms)
	git -C "$app" push -q "$remote" main 2>/dev/null
	until_serves bench-staging.localhost "main-$i"
	echo $(( $(ms) - t0 )) >> "$tmp/deploy"

	git -C "$app" checkout -qb "feature-$i"
	echo "feature-$i" > "$app/index.html"
	git -C "$app" commit -qam "Feature $i"
	t0=$(ms)
	git -C "$app" push -q "$remote" "feature-$i" 2>/dev/null
	until_serves "bench-feature-$i.localhost" "feature-$i"
	echo $(( $(ms) - t0 )) >> "$tmp/review"
done
d=$(median < "$tmp/deploy")
r=$(median < "$tmp/review")
echo "push to a running app, median of 5:"
echo "  new branch -> review app  ${r} ms"
echo "  deploy branch -> staging  ${d} ms   (baseline)"
awk -v a="$r" -v b="$d" 'BEGIN {printf "  ratio                     %.2fx   (target <= 1.2x)\n", a / b}'

git -C "$app" checkout -qb ci-bench main
printf '{"environments": {"test": {"scripts": {"test": "true"}}}}\n' > "$app/app.json"
git -C "$app" add app.json
git -C "$app" commit -qm "CI"
: > "$tmp/ci"
: > "$tmp/noci"
for i in 1 2 3 4 5; do
	echo "ci-$i" > "$app/index.html"
	git -C "$app" commit -qam "CI $i"
	t0=$(ms)
	git -C "$app" push -q -o review.skip "$remote" ci-bench 2>/dev/null
	echo $(( $(ms) - t0 )) >> "$tmp/ci"
	echo "noci-$i" > "$app/index.html"
	git -C "$app" commit -qam "No CI $i"
	t0=$(ms)
	git -C "$app" push -q -o review.skip -o ci.skip "$remote" ci-bench 2>/dev/null
	echo $(( $(ms) - t0 )) >> "$tmp/noci"
done
c=$(median < "$tmp/ci")
n=$(median < "$tmp/noci")
echo "branch push with a trivial test (true), median of 5:"
echo "  with CI        ${c} ms   (test build + one node)"
echo "  -o ci.skip     ${n} ms   (baseline)"
awk -v a="$c" -v b="$n" 'BEGIN {printf "  CI overhead    %d ms (%.2fx)\n", a - b, a / b}'
