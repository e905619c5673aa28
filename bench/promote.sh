#!/usr/bin/env bash
# bench/promote.sh - promotion and rollback must not grow with the slug.
#
# Median of 5 `berth pipelines:promote` and of 5 `berth rollback` of a
# healthy web app (python3 http.server, an empty release phase) with a
# 1 MB and a 200 MB slug; prints both and the ratio 200 MB / 1 MB
# (target: ~1x, each under 1 s, dominated by the web dyno's boot).
#
# usage: bench/promote.sh [BUILDDIR]   (default: _build)
. "$(dirname "$0")/lib.sh" "$@"
berth init >/dev/null
router_ini 24000 24999
printf '[build]\napp_json_paths = 1\n' >> "$BERTH_ROOT/berth.ini"
berthd

# A buildpack that makes the slug SLUG_MB big (from the app's config).
bp=$tmp/bigslug
mkdir -p "$bp/bin"
printf '#!/bin/sh\nexit 0\n' > "$bp/bin/detect"
printf '#!/bin/sh\nhead -c "$(cat "$3/SLUG_MB")M" /dev/zero > "$1/big.bin"\n' > "$bp/bin/compile"
chmod +x "$bp/bin/detect" "$bp/bin/compile"

# run SIZE_MB: prints "promote_ms rollback_ms"
run() {
	local mb=$1 p=b$1 app=$tmp/app$1 i t0
	berth pipelines:create "$p" >/dev/null
	berth config:set SLUG_MB="$mb" -a "$p-staging" >/dev/null
	mkdir -p "$app"
	printf 'web: python3 -m http.server $PORT --bind 127.0.0.1\nrelease: true\n' > "$app/Procfile"
	printf '{"buildpacks": [{"url": "%s"}]}\n' "$bp" > "$app/app.json"
	echo hi > "$app/index.html"
	git -C "$app" init -q
	git -C "$app" add -A
	git -C "$app" commit -qm "Initial"
	git -C "$app" push -q "$BERTH_ROOT/repos/$p.git" main 2>/dev/null
	: > "$tmp/promote.$mb"
	: > "$tmp/rollback.$mb"
	for i in 1 2 3 4 5; do
		t0=$(ms)
		berth pipelines:promote -p "$p" >/dev/null
		echo $(( $(ms) - t0 )) >> "$tmp/promote.$mb"
	done
	for i in 1 2 3 4 5; do
		t0=$(ms)
		berth rollback -a "$p" >/dev/null
		echo $(( $(ms) - t0 )) >> "$tmp/rollback.$mb"
	done
	echo "$(median < "$tmp/promote.$mb") $(median < "$tmp/rollback.$mb")"
}
read -r p1 r1 < <(run 1)
read -r p200 r200 < <(run 200)
echo "pipelines:promote, median of 5:"
echo "  200 MB slug  ${p200} ms"
echo "  1 MB slug    ${p1} ms   (baseline)"
awk -v a="$p200" -v b="$p1" 'BEGIN {printf "  ratio        %.2fx\n", a / b}'
echo "rollback, median of 5:"
echo "  200 MB slug  ${r200} ms"
echo "  1 MB slug    ${r1} ms   (baseline)"
awk -v a="$r200" -v b="$r1" 'BEGIN {printf "  ratio        %.2fx\n", a / b}'
