#!/usr/bin/env bats
# A full disk: the server root is a small tmpfs of its own, filled by a
# file the test creates and removes. Whatever fails meanwhile, nothing
# is left pending, a failed config change is undone, and once space is
# back everything is as the ledger says.

bats_require_minimum_version 1.5.0

load helpers
load daemon

setup() {
	[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
	mkdir -p "$BATS_TEST_TMPDIR/root"
	mount -t tmpfs -o size=64m tmpfs "$BATS_TEST_TMPDIR/root"
	MOUNTED=1
	setup_root
	start_berthd
	berth pipelines:create shop >/dev/null
	APP=$BATS_TEST_TMPDIR/app
	start_gates
	G=$GATES
	mkdir -p "$APP"
	printf 'web: python3 -m http.server $PORT\nrelease: %s\n' \
	    "$(gate_cmd release)" > "$APP/Procfile"
	echo one > "$APP/VERSION"
	git -C "$APP" init -q
	git -C "$APP" add -A
	git -C "$APP" commit -qm one
	touch "$G/release"
	run push "$APP" shop
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	rm "$G/release"
	berth config:set GREETING=old -a shop-staging >/dev/null < /dev/null &
	wait_for "the config release" 30 test -e "$G/release.started"
	touch "$G/release"
	wait_for "v2 to be settled" 30 no_pending
	rm "$G/release" "$G/release.started"
}

teardown() {
	touch "$G/release" 2>/dev/null || true
	rm -f "$BERTH_ROOT/filler"
	[ -z "${CONFIG_PID:-}" ] || wait "$CONFIG_PID" 2>/dev/null || true
	stop_berthd
	stop_gates
	[ -z "${MOUNTED:-}" ] || umount "$BATS_TEST_TMPDIR/root"
}

no_pending() {
	! berth releases -a shop-staging --json | grep -q '"pending"'
}

# fill_disk: take every free byte of the root.
fill_disk() {
	local avail
	avail=$(df --output=avail -B1 "$BERTH_ROOT" | tail -n 1)
	fallocate -l "$avail" "$BERTH_ROOT/filler" ||
	    dd if=/dev/zero of="$BERTH_ROOT/filler" bs=1M 2>/dev/null || true
}

newest_succeeded() {
	json_get "$(berth releases -a shop-staging --json)" \
	    "[r['version'] for r in d if r['status'] == 'succeeded'][0]"
}

@test "a config:set that meets a full disk is settled once space is back, its vars as its outcome says" {
	berth config:set GREETING=new -a shop-staging \
	    > "$BATS_TEST_TMPDIR/config.out" 2>&1 < /dev/null &
	CONFIG_PID=$!
	wait_for "the release phase of v3" 30 test -e "$G/release.started"
	fill_disk
	touch "$G/release"
	# On the full disk v3 fails or succeeds, and berthd may not be able
	# to record which: then it keeps trying.
	wait_for "v3 to end or berthd to retry" 60 eval \
	    'no_pending || grep -q "cannot record" "$BATS_TEST_TMPDIR/berthd.log"'
	rm "$BERTH_ROOT/filler"
	wait_for "v3 to be settled" 60 no_pending
	rc=0
	wait "$CONFIG_PID" || rc=$?
	CONFIG_PID=
	cat "$BATS_TEST_TMPDIR/config.out"
	status3=$(json_get "$(berth releases -a shop-staging --json)" \
	    "[r['status'] for r in d if r['version'] == 3][0]")
	greeting=$(berth config:get GREETING -a shop-staging)
	if [ "$status3" = succeeded ]; then
		[ "$rc" -eq 0 ]
		[ "$greeting" = new ]
	else
		[ "$rc" -ne 0 ]
		[ "$greeting" = old ]
		grep -q "previous release keeps running" "$BATS_TEST_TMPDIR/config.out"
	fi
	[ "$(newest_succeeded)" -ge 2 ]
	router_says shop-staging /VERSION one
}
