#!/usr/bin/env bash
# bench/push-to-live.sh - from `git push` to the new version answering.
#
# A Procfile-only Node app (tests/fixtures/apps/version: `web: node
# server.js`, answering its VERSION) against the physical-limit
# baseline in the same run: a plain bare repo whose post-receive checks
# the tree out (git archive | tar -x), stops the old server, starts the
# new one detached, and the client polls it. Both are timed from the
# start of `git push` to the first 200 with the new version (berth's
# through its router):
#
#   redeploy      median of 10 pushes to a running app (target <= 1.2x)
#   first deploy  median of 5 pushes, each to a new app: a new pipeline
#                 (its staging app gets its first route), and
#                 for the baseline a new bare repo and port (<= 1.3x)
#
# and, read from berth's push output ("switched in X ms"), the median
# time from `web.1 up` to the switch of the router (target under 5 ms
# for a redeploy).
#
# usage: bench/push-to-live.sh [BUILDDIR]   (default: _build)
. "$(dirname "$0")/lib.sh" "$@"
bench_extra_cleanup() {
	local f
	for f in "$tmp"/plain-*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	return 0
}

berth init >/dev/null
router_ini 22000 22999
berthd

app=$tmp/app
version_app "$app"

# plain_repo NAME PORT: a bare repo whose post-receive checks out and
# (re)starts the app on PORT; its server's pid in $tmp/plain-NAME.pid.
plain_repo() {
	local repo=$tmp/$1.git pidfile=$tmp/plain-$1.pid
	git init -q --bare "$repo"
	cat > "$repo/hooks/post-receive" <<-HOOK
	#!/bin/bash
	# Check the tree out, stop the old server, start the new one.
	while read -r old new ref; do
		d=\$(mktemp -d "$tmp/plain-XXXXXX")
		git archive "\$new" | tar -x -C "\$d"
		[ -f "$pidfile" ] && kill "\$(cat "$pidfile")" 2>/dev/null
		while (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null; do :; done
		# A simple command, so that no shell waits for it holding
		# the hook's output (the push would hang).
		cd "\$d"
		PORT=$2 setsid node server.js </dev/null >/dev/null 2>&1 &
		echo \$! > "$pidfile"
	done
	HOOK
	chmod +x "$repo/hooks/post-receive"
}

# timed_push REMOTE HOST PORT VERSION TIMES: commit VERSION, push it and
# poll http://127.0.0.1:PORT/ (Host: HOST) until it answers VERSION;
# the milliseconds go to TIMES, the push's output to $tmp/push.out.
timed_push() {
	local remote=$1 host=$2 port=$3 version=$4 t0 body
	echo "$version" > "$app/VERSION"
	git -C "$app" commit -qam "$version"
	t0=$(ms)
	if ! git -C "$app" push -q "$remote" HEAD:main 2>"$tmp/push.out"; then
		cat "$tmp/push.out" >&2
		exit 1
	fi
	until body=$(curl -s --max-time 2 -H "Host: $host" \
	    "http://127.0.0.1:$port/") && [ "$body" = "$version" ]; do :; done
	echo $(( $(ms) - t0 )) >> "$5"
}

# switched TIMES: berth's "switched in X ms" of the last push to TIMES.
switched() {
	sed -n 's/.*switched in \([0-9.]*\) ms.*/\1/p' "$tmp/push.out" >> "$1"
}

: > "$tmp/berth.redeploy"; : > "$tmp/plain.redeploy"
: > "$tmp/berth.first"; : > "$tmp/plain.first"
: > "$tmp/switch.redeploy"; : > "$tmp/switch.first"

# Redeploys: one app each, deployed once before the timed pushes.
berth pipelines:create bench >/dev/null
pport=$(free_port)
plain_repo bench "$pport"
git -C "$app" push -q "$BERTH_ROOT/repos/bench.git" HEAD:main 2>/dev/null
git -C "$app" push -q "$tmp/bench.git" HEAD:main 2>/dev/null
for i in $(seq 1 10); do
	timed_push "$BERTH_ROOT/repos/bench.git" bench-staging.localhost \
	    "$rport" "berth-$i" "$tmp/berth.redeploy"
	switched "$tmp/switch.redeploy"
done
for i in $(seq 1 10); do
	timed_push "$tmp/bench.git" localhost "$pport" "plain-$i" \
	    "$tmp/plain.redeploy"
done

# First deploys: a new app (and a new plain repo and port) each time.
for i in $(seq 1 5); do
	berth pipelines:create "first$i" >/dev/null
	timed_push "$BERTH_ROOT/repos/first$i.git" \
	    "first$i-staging.localhost" "$rport" "berth-first-$i" \
	    "$tmp/berth.first"
	switched "$tmp/switch.first"
	p=$(free_port)
	plain_repo "first$i" "$p"
	timed_push "$tmp/first$i.git" localhost "$p" "plain-first-$i" \
	    "$tmp/plain.first"
done

# report WHAT N TARGET BERTH_TIMES PLAIN_TIMES
report() {
	local b p
	b=$(median < "$4")
	p=$(median < "$5")
	echo "$1 (Procfile-only Node app), median of $2:"
	echo "  berth  ${b} ms   (build, release, rollout, router switch)"
	echo "  plain  ${p} ms   (post-receive: checkout, restart server; client polls)"
	awk -v b="$b" -v p="$p" -v t="$3" \
	    'BEGIN {printf "  ratio  %.2fx   (target <= %s)\n", b / p, t}'
}
report "push to live, redeploy" 10 1.2x "$tmp/berth.redeploy" \
    "$tmp/plain.redeploy"
report "push to live, first deploy of a new app" 5 1.3x "$tmp/berth.first" \
    "$tmp/plain.first"
echo "web.1 up -> switched (berth's push output), median:"
echo "  redeploy      $(median < "$tmp/switch.redeploy") ms   (target < 5 ms)"
echo "  first deploy  $(median < "$tmp/switch.first") ms   (a new app needs no reload either)"
