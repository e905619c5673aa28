#!/usr/bin/env bash
# bench/faults.sh - what each fault costs the clients of an app.
#
# One app (a Procfile-only Python web server answering its VERSION file)
# behind berth's router, with a client loop (a GET every 20 ms, 1 s
# timeout, tests/fixtures/fault-client.py) running through each fault:
#   build, ci, release, boot    kill -9 of the push's pre-receive there
#   switch                      kill -9 of berthd while the pushed
#                               release waits for git (then restart)
#   drain                       kill -9 of berthd as the router switches
#                               to the new release (then restart)
#   berthd-idle                 kill -9 of berthd, then restart
#   berthd-rollout              kill -9 of berthd while new dynos boot,
#                               then restart
#   nginx                       kill -9 of nginx's master
#   dyno-web1, dyno-web2        kill -9 of web.1 with web=1, web=2
# Each row: requests sent, failed (no 200), and the time from the fault
# until the app served the release the ledger calls current for good (0:
# it never stopped; for a push that went live, when it went live). The
# baseline row is a plain push with no fault.
#
# usage: bench/faults.sh [BUILDDIR]   (default: _build)
. "$(dirname "$0")/lib.sh" "$@"
client_pid=
bench_extra_cleanup() {
	[ -z "$client_pid" ] || kill "$client_pid" 2>/dev/null
	touch "$G/build" "$G/ci" "$G/release" "$G/boot" "$G/boot2" "$G/ref" \
	    2>/dev/null
	return 0
}

G=$tmp/gates
app=$tmp/app
mkdir -p "$G" "$app"
berth init >/dev/null
printf '[build]\napp_json_paths = 1\n' >> "$BERTH_ROOT/berth.ini"
router_ini 21000 21999
berthd >/dev/null
berth pipelines:create shop >/dev/null
repo=$BERTH_ROOT/repos/shop.git

# waits NAME: a command that marks NAME started and waits for $G/NAME.
waits() {
	echo "touch $G/$1.started; while [ ! -e $G/$1 ]; do sleep 0.02; done"
}
# commit VERSION [RELEASE-CMD] [BOOT-CMD] [APP-JSON]: the next version.
n=0
commit() {
	n=$((n + 1))
	echo "$1" > "$app/VERSION"
	{
		echo "web: sh -c '${3:-true}; exec python3 -m http.server \$PORT'"
		[ -z "${2:-}" ] || echo "release: $2"
	} > "$app/Procfile"
	if [ -n "${4:-}" ]; then echo "$4" > "$app/app.json"; else rm -f "$app/app.json"; fi
	[ -d "$app/.git" ] || git -C "$app" init -q
	git -C "$app" add -A
	git -C "$app" commit -qm "$1"
}
push_bg() {
	git -C "$app" push "$repo" main > "$tmp/push.out" 2>&1 &
	push_pid=$!
}
push_wait() { wait "$push_pid" 2>/dev/null || true; }
wait_file() {
	local i=0
	until [ -e "$1" ]; do
		i=$((i + 1))
		[ "$i" -lt 3000 ] || { echo "no $1; the push says:" >&2; cat "$tmp/push.out" >&2; exit 1; }
		sleep 0.02
	done
}
hook_pid() {
	local p r
	r=$(cd "$repo" && pwd -P)
	for p in $(pgrep -f "hooks/pre-receive"); do
		[ "$(readlink "/proc/$p/cwd")" != "$r" ] || { echo "$p"; return; }
	done
}
berthd_pid() { berth daemon:status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
restart_berthd() {
	local i=0
	while berth daemon:status >/dev/null 2>&1; do
		i=$((i + 1)); [ "$i" -lt 500 ] || break; sleep 0.02
	done
	berthd >/dev/null
}
current_version() {
	berth releases -a shop-staging --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([r["commit"] for r in d if r["status"] == "succeeded"][0])'
}

# measure NAME ACTION...: run the client through ACTION, print a row.
measure() {
	local name=$1 t0 want
	shift
	rm -f "$tmp/client.out" "$tmp/client.stop"
	python3 "$top/tests/fixtures/fault-client.py" "$rport" shop-staging \
	    "$tmp/client.out" "$tmp/client.stop" &
	client_pid=$!
	sleep 0.5	# some requests before the fault
	t0=$(ms)
	"$@"
	# Let it settle, then ask for the current release's VERSION.
	sleep 3
	touch "$tmp/client.stop"
	wait "$client_pid" 2>/dev/null || true
	client_pid=
	want=$(git -C "$app" show "$(current_version):VERSION")
	python3 - "$tmp/client.out" "$t0" "$want" "$name" <<-'EOF'
	import sys
	rows = [l.split(" ", 2) for l in open(sys.argv[1]).read().splitlines()]
	t0, want, name = int(sys.argv[2]), sys.argv[3], sys.argv[4]
	failed = [r for r in rows if r[1] != "200"]
	other = [int(t) for t, code, body in rows
	         if int(t) >= t0 and (code != "200" or body != want)]
	rec = (max(other) - t0) if other else 0
	print("%-16s %8d %8d %10d" % (name, len(rows), len(failed), rec))
	EOF
}

kill_hook_at() {
	push_bg
	wait_file "$G/$1.started"
	kill -9 "$(hook_pid)"
	touch "$G/$1"
	push_wait
}

fault_none() { push_bg; push_wait; }
fault_build() {
	printf '{"buildpacks": [{"url": "%s"}]}\n' "$top/tests/fixtures/buildpacks/slow" > "$app/app.json"
	git -C "$app" add -A; git -C "$app" commit -qm slow
	berth config:set GO_FILE="$G/build" -a shop-staging >/dev/null
	push_bg
	local i=0
	until ls "$BERTH_ROOT"/tmp/build-*/env/GO_FILE >/dev/null 2>&1; do
		i=$((i + 1)); [ "$i" -lt 3000 ] || { echo "no build" >&2; exit 1; }
		sleep 0.02
	done
	kill -9 "$(hook_pid)"
	touch "$G/build"
	push_wait
	berth config:unset GO_FILE -a shop-staging >/dev/null
}
fault_hold_ref() {
	cat > "$repo/hooks/reference-transaction" <<-EOF
	#!/bin/sh
	cat >/dev/null
	[ "\$1" = prepared ] || exit 0
	$(waits ref)
	EOF
	chmod +x "$repo/hooks/reference-transaction"
}
fault_switch() {
	fault_hold_ref
	push_bg
	wait_file "$G/ref.started"
	kill -9 "$(berthd_pid)"
	touch "$G/ref"
	push_wait
	rm -f "$G/ref" "$G/ref.started" "$repo/hooks/reference-transaction"
	restart_berthd
}
fault_drain() {
	local want pid
	want=$(cat "$app/VERSION")
	pid=$(berthd_pid)
	push_bg
	until curl -s -H "Host: shop-staging.localhost" "http://127.0.0.1:$rport/VERSION" | grep -qx "$want"; do
		sleep 0.005
	done
	kill -9 "$pid"
	push_wait
	restart_berthd
}
fault_berthd_idle() { kill -9 "$(berthd_pid)"; restart_berthd; }
fault_berthd_rollout() {
	local pid
	pid=$(berthd_pid)
	push_bg
	wait_file "$G/boot2.started"
	kill -9 "$pid"
	touch "$G/boot2"
	push_wait
	restart_berthd
}
fault_nginx() { kill -9 "$(cat "$BERTH_ROOT/router/nginx.pid")"; }
fault_dyno() {
	local p
	for p in /proc/[0-9]*; do
		case "$(readlink "$p/cwd" 2>/dev/null)" in
		"$BERTH_ROOT/apps/shop-staging/dynos/web.1"*)
			grep -q python3 "$p/cmdline" 2>/dev/null && kill -9 "${p#/proc/}" && return;;
		esac
	done
}

commit v1
git -C "$app" push -q "$repo" main 2>/dev/null
printf '%-16s %8s %8s %10s\n' fault requests failed recover_ms
commit v2;                              measure "none (baseline)" fault_none
commit v3;                              measure build fault_build
commit v4 "" "" '{"environments": {"test": {"scripts": {"test": "'"$(waits ci)"'; echo ok 1"}}}}'
                                        measure ci kill_hook_at ci
commit v5 "$(waits release)";           measure release kill_hook_at release
commit v6 "" "$(waits boot)";           measure boot kill_hook_at boot
commit v7;                              measure switch fault_switch
commit v8;                              measure drain fault_drain
                                        measure berthd-idle fault_berthd_idle
commit v9 "" "$(waits boot2)";           measure berthd-rollout fault_berthd_rollout
                                        measure nginx fault_nginx
                                        measure dyno-web1 fault_dyno
berth ps:scale web=2 -a shop-staging >/dev/null
                                        measure dyno-web2 fault_dyno
