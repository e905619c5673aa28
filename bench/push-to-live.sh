#!/usr/bin/env bash
# bench/push-to-live.sh - from `git push` to the new version answering.
#
# Median over 10 pushes of a Procfile-only web app (python3 http.server)
# of the time from the start of `git push` to the first 200 with the new
# content through berth's router, against the physical-limit baseline in
# the same run: a plain bare repo whose post-receive checks the tree out
# (git archive | tar -x), starts the same server detached on a fixed
# port, and the client polls that port. Prints both and the ratio
# (target: at most 1.5x).
#
# usage: bench/push-to-live.sh [BUILDDIR]   (default: _build)
. "$(dirname "$0")/lib.sh" "$@"
bench_extra_cleanup() {
	[ -f "$tmp/plain.pid" ] && kill "$(cat "$tmp/plain.pid")" 2>/dev/null
	return 0
}

pport=$(free_port)
berth init >/dev/null
router_ini 42000 42999
berth pipelines:create bench >/dev/null
berthd

plain=$tmp/plain.git
git init -q --bare "$plain"
cat > "$plain/hooks/post-receive" <<HOOK
#!/bin/sh
# Check the tree out and (re)start the server on a fixed port.
while read -r old new ref; do
	d=\$(mktemp -d "$tmp/plain-XXXXXX")
	git archive "\$new" | tar -x -C "\$d"
	[ -f "$tmp/plain.pid" ] && kill "\$(cat "$tmp/plain.pid")" 2>/dev/null
	while python3 -c 'import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", $pport)) != 0)' 2>/dev/null; do :; done
	cd "\$d" && setsid python3 -m http.server $pport --bind 127.0.0.1 </dev/null >/dev/null 2>&1 &
	echo \$! > "$tmp/plain.pid"
done
HOOK
chmod +x "$plain/hooks/post-receive"

app=$tmp/app
mkdir -p "$app"
printf 'web: python3 -m http.server $PORT --bind 127.0.0.1\n' > "$app/Procfile"
echo "v0" > "$app/index.html"
git -C "$app" init -q
git -C "$app" add -A
git -C "$app" commit -qm "Initial"
git -C "$app" push -q "$BERTH_ROOT/repos/bench.git" main 2>/dev/null
git -C "$app" push -q "$plain" main 2>/dev/null

# time_pushes REMOTE URL HOSTHEADER OUT
time_pushes() {
	local remote=$1 url=$2 host=$3 out=$4 i t0 body
	: > "$out"
	for i in $(seq 1 10); do
		echo "$remote-$i" > "$app/index.html"
		git -C "$app" commit -qam "Change $i"
		t0=$(ms)
		if ! git -C "$app" push -q "$remote" main 2>"$tmp/push.err"; then
			cat "$tmp/push.err" >&2
			exit 1
		fi
		until body=$(curl -s --max-time 2 -H "Host: $host" "$url") &&
		    [ "$body" = "$remote-$i" ]; do :; done
		echo $(( $(ms) - t0 )) >> "$out"
	done
}
time_pushes "$BERTH_ROOT/repos/bench.git" "http://127.0.0.1:$rport/" \
    bench-staging.localhost "$tmp/berth.times"
time_pushes "$plain" "http://127.0.0.1:$pport/" localhost "$tmp/plain.times"
b=$(median < "$tmp/berth.times")
p=$(median < "$tmp/plain.times")
echo "push to live (Procfile-only python web app), median of 10:"
echo "  berth  ${b} ms   (build, release, rollout, router switch)"
echo "  plain  ${p} ms   (post-receive: checkout, restart server; client polls)"
awk -v b="$b" -v p="$p" 'BEGIN {printf "  ratio  %.2fx   (target <= 1.5x)\n", b / p}'
