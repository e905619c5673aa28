/*
 * cmd-deploy.c - deploy: a push that no git client makes. `berth deploy
 * -a APP [REVISION]` is `git push --force berth REVISION:BRANCH` for the
 * branch APP auto-deploys (Slack's /berth deploy P/BRANCH to STAGE, a
 * redeploy of the branch head); `berth deploy -p P --branch BRANCH
 * REVISION` moves any branch as a push of it would (berthd mirroring a
 * GitHub push). Both go through push.h: the same access checks, CI
 * gate, builds, gated releases, ledger rows and review apps as a push.
 */
#include "cmd.h"
#include "names.h"
#include "push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The branch to move: APP's (-a), or --branch of -p. 0, or 1 said. */
static int
target(struct cmd_ctx *ctx, struct pipeline *p, char **branch)
{
	const char *b = cmd_opt(ctx, "branch");
	struct app a;
	int rc;

	*branch = NULL;
	if ((ctx->app != NULL) == (ctx->pipeline != NULL))
		return cmd_fail("deploy takes -a APP, or -p PIPELINE with "
		    "--branch BRANCH; see: berth deploy --help");
	if (ctx->pipeline != NULL) {
		if (b == NULL)
			return cmd_fail("deploy -p %s needs --branch BRANCH "
			    "(the branch to move)", ctx->pipeline);
		if (name_check_branch(b) < 0)
			return cmd_fail_last();
		if (cmd_need_pipeline(ctx, p) != 0)
			return 1;
		*branch = xstrdup(b);
		return 0;
	}
	if (b != NULL)
		return cmd_fail("deploy -a %s moves the branch the app "
		    "deploys: name what to deploy as REVISION, not --branch",
		    ctx->app);
	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	if (a.branch == NULL || *a.branch == '\0') {
		rc = cmd_fail("%s auto-deploys no branch: promote to it "
		    "instead (berth pipelines:promote -p %s --to %s)", a.name,
		    a.pipeline, a.name);
		app_clear(&a);
		return rc;
	}
	*branch = xstrdup(a.branch);
	rc = ledger_pipeline_get(ctx->root.db, a.pipeline, p);
	app_clear(&a);
	if (rc != 0) {
		free(*branch);
		*branch = NULL;
		return cmd_fail_last();
	}
	return 0;
}

static int
cmd_deploy(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct push push;
	char *branch = NULL, *ref = NULL, *path = NULL, q[128];
	char old[GIT_OID_HEXSZ + 1], new[GIT_OID_HEXSZ + 1];
	const char *rev;
	int rc, ret = 1;

	memset(&p, 0, sizeof(p));
	memset(&push, 0, sizeof(push));
	if (target(ctx, &p, &branch) != 0)
		goto out;
	path = root_repo_path(&ctx->root, p.name);
	if (repo_open(path, &push.repo) < 0) {
		cmd_fail_last();
		goto out;
	}
	ref = xasprintf("refs/heads/%s", branch);
	rc = repo_ref_target(push.repo, ref, old);
	if (rc < 0) {
		cmd_fail_last();
		goto out;
	}
	if (rc == 1)
		strcpy(old, ZERO_SHA);
	rev = ctx->argc > 0 ? ctx->argv[0] : ref;
	if (cmd_flag(ctx, "delete")) {
		if (ctx->pipeline == NULL || ctx->argc > 0) {
			cmd_fail("--delete takes -p PIPELINE --branch BRANCH "
			    "and no REVISION");
			goto out;
		}
		strcpy(new, ZERO_SHA);
		rc = 0;
	} else
		rc = repo_resolve_commit(push.repo, rev, new);
	if (rc < 0) {
		cmd_fail_last();
		goto out;
	}
	if (rc == 1) {
		name_quote(rev, q, sizeof(q));
		cmd_fail("pipeline %s's repository has no branch, tag or "
		    "commit '%s'; push it first: git push berth %s", p.name, q,
		    ctx->argc > 0 ? q : branch);
		goto out;
	}
	/* -p moves a branch as git would: to where it is is no push. */
	if (ctx->pipeline != NULL && strcmp(old, new) == 0) {
		printf("%s is %s already: nothing to deploy\n", branch,
		    strcmp(new, ZERO_SHA) == 0 ? "absent" : short_sha(new, q));
		ret = 0;
		goto out;
	}
	push.root = &ctx->root;
	push.pipeline = p;
	memset(&p, 0, sizeof(p));
	push.actor = actor_name();
	push.mover = getpid();
	push.ci_skip = cmd_flag(ctx, "ignore-ci");
	push.ci_known = 1;
	push_add(&push, ref, old, new);
	fflush(stdout);
	ret = push_apply(&push) == 0 ? 0 : 1;
	fflush(stdout);
	if (push.refused) {
		ctx->refused = 1;
		cmd_fail_last();
	} else if (ret != 0)
		cmd_fail("%s was not deployed (the lines above say why)",
		    short_sha(new, q));
out:
	push_clear(&push);
	pipeline_clear(&push.pipeline);
	git_repository_free(push.repo);
	pipeline_clear(&p);
	free(branch);
	free(ref);
	free(path);
	return ret;
}

const struct berth_cmd cmd_deploy_entry = {
	.name = "deploy",
	/* A developer may push a branch; push.h checks each ref's role. */
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_DEVELOPER },
	.usage = "deploy [REVISION] -a APP | deploy REVISION|--delete "
	    "-p PIPELINE --branch BRANCH",
	.summary = "deploy a branch, tag or commit as a push of it would",
	.help =
	"With -a: build REVISION (default: the head of the branch APP\n"
	"auto-deploys, a redeploy) and release it to APP, as `git push\n"
	"--force berth REVISION:BRANCH` would: the branch moves to it, so it\n"
	"stays the commit of APP's current release. With -p and --branch:\n"
	"move BRANCH to REVISION as a push of it would (its apps deploy it,\n"
	"or it is tested and its review app updated; --delete: as a push\n"
	"deleting it). The CI gate holds: a commit whose test run failed is\n"
	"refused, unless --ignore-ci (which, past a gate that rejects, needs\n"
	"admin, as git push -o ci.skip).",
	.options = (const struct cmd_option[]){
		CMD_OPT_APP,
		CMD_OPT_PIPELINE,
		CMD_OPT_BRANCH("with -p: the branch to move"),
		{ .name = "ignore-ci", .kind = CMD_FLAG,
		    .help = "deploy even when the commit's tests failed" },
		{ .name = "delete", .kind = CMD_FLAG,
		    .help = "with -p: delete BRANCH, as a push deleting it" },
		{ 0 } },
	.min_args = 0, .max_args = 1,
	.exec = cmd_deploy,
};
