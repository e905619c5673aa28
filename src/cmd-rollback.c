/*
 * cmd-rollback.c - rollback (releases:rollback), releases:retry and
 * releases:output: new releases made from earlier ones, and what a
 * release phase printed.
 *
 * A rollback is a new release that copies the slug AND the config vars
 * of an earlier succeeded release (as on Heroku); versions only grow.
 */
#include "cmd.h"
#include "release.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether the slug of rel still exists; prints why not. */
static int
slug_usable(struct cmd_ctx *ctx, const struct app *a,
    const struct release *rel)
{
	int ok;

	if (rel->slug_id == NULL) {
		cmd_fail("%s v%d has no slug (no code was released yet)",
		    a->name, rel->version);
		return 0;
	}
	ok = runtime_slug_exists(&ctx->root, rel->slug_id);
	if (!ok)
		cmd_fail("the slug of %s v%d was removed; roll back to a newer "
		    "release (see: berth releases -a %s)", a->name,
		    rel->version, a->name);
	return ok;
}

/* Release a copy of `from` (a rollback or a retry) and roll it out. */
static int
release_from(struct cmd_ctx *ctx, const struct app *a,
    const struct release *from, enum release_kind kind, const char *desc,
    int *version)
{
	char *actor = actor_name();
	struct release_order o = {
		.app = a,
		.kind = kind,
		.from = from,
		.actor = actor,
		.description = desc,
	};
	int ret = cmd_release(ctx, &o, version);

	if (ret < 0)
		ret = cmd_fail_last();
	free(actor);
	return ret;
}

static int
cmd_rollback(struct cmd_ctx *ctx)
{
	struct app a;
	struct release cur, target;
	char *desc = NULL;
	int lock = -1, ret = 1, version = 0, rc;

	memset(&cur, 0, sizeof(cur));
	memset(&target, 0, sizeof(target));
	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	lock = cmd_lock_app(ctx, &a, "rollback");
	if (lock < 0)
		goto out;
	if (cmd_need_current(ctx, &a, "roll back from", &cur) != 0)
		goto out;
	if (ctx->argc > 0) {
		if (cmd_need_release(ctx, &a, ctx->argv[0], &target) != 0)
			goto out;
	} else {
		/* The newest succeeded release with a slug before the
		 * current one: one query a step, as many as there are. */
		int v = cur.version;

		while ((rc = ledger_release_before(ctx->root.db, a.id, v,
		    &target)) == 0 && target.slug_id == NULL) {
			v = target.version;
			release_clear(&target);
		}
		if (rc < 0) {
			cmd_fail_last();
			goto out;
		}
		if (rc == 1) {
			cmd_fail("%s has no earlier release to roll back to "
			    "(v%d is its first)", a.name, cur.version);
			goto out;
		}
	}
	if (strcmp(target.status, "succeeded") != 0) {
		cmd_fail("%s v%d %s; roll back to a release that succeeded "
		    "(see: berth releases -a %s)", a.name, target.version,
		    strcmp(target.status, "failed") == 0 ? "failed" :
		    "is still pending", a.name);
		goto out;
	}
	if (!slug_usable(ctx, &a, &target))
		goto out;
	desc = xasprintf("Rollback to v%d", target.version);
	printf("Rolling back %s to v%d...\n", a.name, target.version);
	if (release_from(ctx, &a, &target, RELEASE_ROLLBACK, desc,
	    &version) != 0)
		goto out;
	printf("Rolled back %s to v%d as v%d (code and config of v%d). "
	    "Undo: berth rollback v%d -a %s\n", a.name, target.version,
	    version, target.version, cur.version, a.name);
	ret = 0;
out:
	deploy_unlock(lock);
	free(desc);
	release_clear(&cur);
	release_clear(&target);
	app_clear(&a);
	return ret;
}

static int
cmd_releases_retry(struct cmd_ctx *ctx)
{
	struct app a;
	struct release cur;
	char *desc = NULL;
	int lock, ret = 1, version = 0;

	memset(&cur, 0, sizeof(cur));
	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	lock = cmd_lock_app(ctx, &a, "release retry");
	if (lock < 0)
		goto out;
	if (cmd_need_current(ctx, &a, "retry", &cur) != 0)
		goto out;
	if (!slug_usable(ctx, &a, &cur))
		goto out;
	desc = xasprintf("Retry v%d", cur.version);
	/* A retry keeps the kind of the release it retries: a retried
	 * rollback is no push, and must not count as the branch's last
	 * deploy. */
	if (release_from(ctx, &a, &cur, RELEASE_RETRY, desc, &version) == 0) {
		printf("Released %s v%d (%s)\n", a.name, version, desc);
		ret = 0;
	}
out:
	deploy_unlock(lock);
	free(desc);
	release_clear(&cur);
	app_clear(&a);
	return ret;
}

static int
cmd_releases_output(struct cmd_ctx *ctx)
{
	struct app a;
	struct release rel;
	struct strbuf sb = STRBUF_INIT;
	char *path = NULL;
	int ret = 1;

	memset(&rel, 0, sizeof(rel));
	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	if (cmd_need_release(ctx, &a, ctx->argv[0], &rel) != 0)
		goto out;
	path = release_output_path(&ctx->root, rel.id);
	if (!path_exists(path)) {
		printf("%s v%d ran no release phase (its Procfile has no "
		    "release: command)\n", a.name, rel.version);
		ret = 0;
		goto out;
	}
	if (read_file(path, &sb, 2 * RELEASE_OUTPUT_MAX) < 0) {
		cmd_fail_last();
		goto out;
	}
	fwrite(sb.buf, 1, sb.len, stdout);
	ret = 0;
out:
	strbuf_release(&sb);
	free(path);
	release_clear(&rel);
	app_clear(&a);
	return ret;
}

static const char rollback_help[] =
	"A new release copying the slug and the config vars of vN (default:\n"
	"the newest succeeded release before the current one), with its\n"
	"release phase and a zero-downtime rollout. Failed releases and\n"
	"releases whose slug was removed are refused. Prints how to undo.";

const struct berth_cmd cmd_rollback_entry = {
	.name = "rollback",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.usage = "rollback [vN] -a APP",
	.summary =
	"roll an app back to the code and config of an earlier release",
	.help = rollback_help,
	.options = cmd_opts_app,
	.min_args = 0, .max_args = 1,
	.exec = cmd_rollback,
};

const struct berth_cmd cmd_releases_rollback_entry = {
	.name = "releases:rollback",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.usage = "releases:rollback [vN] -a APP",
	.summary = "the same as rollback",
	.help = rollback_help,
	.options = cmd_opts_app,
	.min_args = 0, .max_args = 1,
	.exec = cmd_rollback,
};

const struct berth_cmd cmd_releases_retry_entry = {
	.name = "releases:retry",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.usage = "releases:retry -a APP",
	.summary =
	"release the current slug and config again, re-running the release "
	"phase",
	.options = cmd_opts_app,
	.min_args = 0, .max_args = 0,
	.exec = cmd_releases_retry,
};

const struct berth_cmd cmd_releases_output_entry = {
	.name = "releases:output",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "releases:output vN -a APP",
	.summary = "what the release phase of vN printed",
	.help =
	"The output is kept up to 1 MB per release; all of it streamed to\n"
	"whoever made the release.",
	.options = cmd_opts_app,
	.min_args = 1, .max_args = 1,
	.exec = cmd_releases_output,
};
