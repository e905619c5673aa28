#!/usr/bin/env bats
# Who may do what, through a real sshd: each user's keys log in with the
# forced command berth writes (berth shell USER); pushes and berth
# commands are checked against the user's role on the pipeline.

load helpers
load sshd

setup() {
	setup_root
	KEYS=$BATS_TEST_TMPDIR/authorized_keys
	: > "$KEYS"
	berth pipelines:create shop >/dev/null
	berth users:add ana >/dev/null
	ana_key=$(make_user_key ana)
	berth keys:add ana "$ana_key.pub" >/dev/null
	start_sshd "$KEYS"
	GIT_URL=ssh://root@127.0.0.1:$SSHD_PORT/shop.git
}

teardown() {
	stop_sshd
}

@test "a developer's push to a review branch goes in; to the deploy branch it is refused, the ref unchanged" {
	berth access:grant ana -p shop --role developer >/dev/null
	make_app "$BATS_TEST_TMPDIR/app"
	git_ssh_env "$ana_key"
	run git -C "$BATS_TEST_TMPDIR/app" push "$GIT_URL" main
	[ "$status" -ne 0 ]
	[[ "$output" == *"ana is a developer on shop: pushing main (shop-staging) needs deployer."* ]]
	[[ "$output" == *"Push a branch for a review app, or ask an admin: berth access:grant ana -p shop --role deployer"* ]]
	run git --git-dir "$(repo_of shop)" rev-parse --verify -q refs/heads/main
	[ "$status" -ne 0 ]
	grep -q "ana: refused: ana is a developer on shop: pushing main" "$BERTH_ROOT/logs/access.log"
	git -C "$BATS_TEST_TMPDIR/app" push -q "$GIT_URL" main:feature-x
	[ "$(git --git-dir "$(repo_of shop)" rev-parse feature-x)" = "$(git -C "$BATS_TEST_TMPDIR/app" rev-parse HEAD)" ]
}

@test "commands over ssh run with the user's role" {
	berth access:grant ana -p shop --role viewer >/dev/null
	run ssh_as "$ana_key" releases -a shop-staging
	[ "$status" -eq 0 ]
	run ssh_as "$ana_key" config:set A=1 -a shop-staging
	[ "$status" -eq 1 ]
	[[ "$output" == *"ana is a viewer on shop: config:set on shop-staging needs deployer"* ]]
	run ssh_as "$ana_key" "git-receive-pack 'shop.git'; id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"';' is not allowed"* ]]
}
