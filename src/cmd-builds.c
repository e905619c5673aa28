/*
 * cmd-builds.c - builds, builds:output: an app's builds, newest first,
 * and the full output of one build (its log, as the pusher saw it).
 */
#include "cmd.h"
#include "build.h"
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUILDS_DEFAULT_NUM 15

/* "refs/heads/main" -> "main"; other refs stay whole. */
static const char *
short_ref(const char *ref)
{
	if (ref != NULL && strncmp(ref, "refs/heads/", 11) == 0)
		return ref + 11;
	return ref;
}

static int
cmd_builds(struct cmd_ctx *ctx)
{
	struct app a;
	struct build *bs = NULL;
	size_t nr = 0, i;
	int failed = 0;
	struct table t;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	if (ledger_build_list(ctx->root.db, a.id, cmd_num(ctx, "num",
	    BUILDS_DEFAULT_NUM), &bs, &nr) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	if (ctx->json) {
		json_t *arr = json_array();

		for (i = 0; i < nr; i++)
			json_array_append_new(arr, json_pack("{s:I, s:s, s:s, "
			    "s:s, s:o, s:s, s:o, s:s, s:o}", "id",
			    (json_int_t)bs[i].id, "status", bs[i].status,
			    "commit", bs[i].commit, "ref", bs[i].ref,
			    "slug_id", json_str_or_null(bs[i].slug_id),
			    "actor", bs[i].actor,
			    "error", json_str_or_null(bs[i].error),
			    "started_at", bs[i].started_at,
			    "finished_at",
			    json_str_or_null(bs[i].finished_at)));
		cmd_print_json(arr);
		goto out;
	}
	if (nr == 0) {
		printf("%s has no builds yet; push to build it\n", a.name);
		goto out;
	}
	for (i = 0; i < nr; i++)
		if (bs[i].error != NULL)
			failed = 1;
	/* The ERROR column shows only when a build failed. */
	table_init(&t, failed ? 7 : 6);
	table_row(&t, "ID", "STATUS", "COMMIT", "REF", "STARTED", "ACTOR",
	    "ERROR");
	for (i = 0; i < nr; i++) {
		char id[24], sha[8], *when = format_time(bs[i].started_at);

		snprintf(id, sizeof(id), "%lld", (long long)bs[i].id);
		table_row(&t, id, bs[i].status, short_sha(bs[i].commit, sha),
		    short_ref(bs[i].ref), when, bs[i].actor, bs[i].error);
		free(when);
	}
	table_print(&t, stdout);
	table_clear(&t);
out:
	build_list_free(bs, nr);
	app_clear(&a);
	return 0;
}

/* Copy the file at path to stdout as it is; -1 with berth_error(). */
static int
cat_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char buf[8192];
	size_t n;
	int ret = 0;

	if (f == NULL)
		return berth_error_errno("cannot read %s", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (fwrite(buf, 1, n, stdout) != n)
			break;
	if (ferror(f))
		ret = berth_error_errno("cannot read %s", path);
	fclose(f);
	if (fflush(stdout) != 0 || ferror(stdout))
		ret = berth_error_errno("cannot write the log");
	return ret;
}

/* A berth user may read a build's log when they may read its app's. */
static int
build_app_allowed(struct cmd_ctx *ctx, const struct build *b)
{
	struct app a;
	int ret;

	/* A destroyed app's builds stay; its pipeline decides. */
	if (ledger_app_get_by_id(ctx->root.db, b->app_id, &a) != 0)
		return cmd_fail_last();
	ret = cmd_check_app(ctx, &a);
	app_clear(&a);
	return ret;
}

static int
cmd_builds_output(struct cmd_ctx *ctx)
{
	const char *arg = ctx->argv[0], *who = ctx->app ? ctx->app : "APP";
	struct build b;
	char *end = NULL, *log, q[64];
	long long id;
	int rc, ret = 0;

	errno = 0;
	id = *arg >= '0' && *arg <= '9' ? strtoll(arg, &end, 10) : 0;
	if (id < 1 || errno != 0 || *end != '\0') {
		name_quote(arg, q, sizeof(q));
		return cmd_fail("'%s' is not a build id: use a number from "
		    "berth builds -a %s", q, who);
	}
	rc = ledger_build_get(ctx->root.db, id, &b);
	if (rc < 0)
		return cmd_fail_last();
	if (rc == 1)
		return cmd_fail("no build %lld; see: berth builds -a %s", id,
		    who);
	if (ctx->app != NULL && strcmp(b.app, ctx->app) != 0) {
		ret = cmd_fail("build %lld is a build of %s, not %s; see: "
		    "berth builds -a %s", id, b.app, ctx->app, ctx->app);
		build_clear(&b);
		return ret;
	}
	if (ctx->remote && (ret = build_app_allowed(ctx, &b)) != 0) {
		build_clear(&b);
		return ret;
	}
	log = build_log_path(&ctx->root, b.id);
	if (!path_exists(log))
		ret = cmd_fail("build %lld of %s has no log (%s is missing)",
		    id, b.app, log);
	else if (cat_file(log) < 0)
		ret = cmd_fail_last();
	free(log);
	build_clear(&b);
	return ret;
}

const struct berth_cmd cmd_builds_entry = {
	.name = "builds",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "builds -a APP [-n NUM] [--json]",
	.summary = "list an app's builds, newest first (default 15)",
	.options = (const struct cmd_option[]){
		CMD_OPT_APP,
		CMD_OPT_NUM("how many builds (default 15)"),
		CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_builds,
};

const struct berth_cmd cmd_builds_output_entry = {
	.name = "builds:output",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "builds:output ID [-a APP]",
	.summary = "print the full output of a build",
	.help =
	"Prints the build's log as the pusher saw it. With -a, the build must\n"
	"belong to APP.",
	.options = cmd_opts_app,
	.min_args = 1, .max_args = 1,
	.exec = cmd_builds_output,
};
