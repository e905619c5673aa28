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
. "$(dirname "$0")/lib.sh" "$@"
berth init >/dev/null
router_ini 25000 25999
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
