/*
 * cmd-activity.c - activity, activity:info: a pipeline's events, newest
 * first, as Heroku's Activity tab shows them. A release's line carries
 * the commits it brings over the app's previous release and their diff
 * stats (libgit2, as `git diff --shortstat -M` counts them), worked
 * out when shown: the ledger keeps the commits, the repo the diff.
 */
#include "cmd.h"
#include "repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a release event brought: from..to and the diff stats. */
struct release_diff {
	char from[GIT_OID_HEXSZ + 1];	/* "" for a first release */
	char to[GIT_OID_HEXSZ + 1];
	struct diff_stats stats;
};

/*
 * The diff of release event e over its app's previous release with
 * code: 0 and *d; 1 when it has none to show (no commit, the same
 * commit, or objects the repo no longer has).
 */
static int
release_diff(struct cmd_ctx *ctx, git_repository *repo,
    const struct event *e, struct release_diff *d)
{
	struct release prev;
	int rc;

	memset(d, 0, sizeof(*d));
	if (repo == NULL || e->commit == NULL || e->version == 0 ||
	    strncmp(e->kind, "release.", 8) != 0)
		return 1;
	snprintf(d->to, sizeof(d->to), "%s", e->commit);
	rc = ledger_release_before(ctx->root.db, e->app_id, e->version, &prev);
	if (rc < 0)
		return 1;
	if (rc == 0) {
		snprintf(d->from, sizeof(d->from), "%s", prev.commit);
		release_clear(&prev);
	}
	if (strcmp(d->from, d->to) == 0)
		return 1;
	if (repo_diff_stats(repo, d->from[0] ? d->from : NULL, d->to,
	    &d->stats) < 0)
		return 1;
	return 0;
}

/* "1a2b3c4..3f2a9c1: 3 files changed, 10 insertions(+), 2 deletions(-)" */
static void
diff_words(const struct release_diff *d, struct strbuf *out)
{
	char a[8], b[8];

	if (d->from[0] != '\0')
		strbuf_addf(out, "%s..%s: ", short_sha(d->from, a),
		    short_sha(d->to, b));
	else
		strbuf_addf(out, "%s (first): ", short_sha(d->to, b));
	strbuf_addf(out, "%zu file%s changed, %zu insertion%s(+), %zu "
	    "deletion%s(-)", d->stats.files, d->stats.files == 1 ? "" : "s",
	    d->stats.insertions, d->stats.insertions == 1 ? "" : "s",
	    d->stats.deletions, d->stats.deletions == 1 ? "" : "s");
}

static json_t *
event_with_diff(const struct event *e, const struct release_diff *d)
{
	json_t *j = event_json(e);

	if (d != NULL)
		json_object_set_new(j, "diff", json_pack("{s:s?, s:s, s:I, "
		    "s:I, s:I}", "from", d->from[0] ? d->from : NULL, "to",
		    d->to, "files", (json_int_t)d->stats.files, "insertions",
		    (json_int_t)d->stats.insertions, "deletions",
		    (json_int_t)d->stats.deletions));
	return j;
}

/* The pipeline's repo, or NULL (diffs are then left out). */
static git_repository *
open_repo(struct cmd_ctx *ctx, const char *pipeline)
{
	char *path = root_repo_path(&ctx->root, pipeline);
	git_repository *repo = NULL;

	if (repo_open(path, &repo) < 0)
		repo = NULL;
	free(path);
	return repo;
}

static int
cmd_activity(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct app a;
	struct event *es = NULL;
	size_t nr = 0, i;
	git_repository *repo;
	struct table t;
	json_t *arr = NULL;
	int ret = 1;

	memset(&a, 0, sizeof(a));
	if (ctx->app != NULL) {
		if (cmd_need_app(ctx, &a) != 0)
			return 1;
		if (ctx->pipeline == NULL)
			ctx->pipeline = a.pipeline;
	}
	if (cmd_need_pipeline(ctx, &p) != 0) {
		app_clear(&a);
		return 1;
	}
	if (a.id != 0 && a.pipeline_id != p.id) {
		cmd_fail("%s is not an app of pipeline %s", a.name, p.name);
		goto out;
	}
	if (ledger_event_list(ctx->root.db, p.id, a.id, cmd_num(ctx, "num",
	    30), &es, &nr) < 0) {
		cmd_fail_last();
		goto out;
	}
	repo = open_repo(ctx, p.name);
	if (ctx->json)
		arr = json_array();
	else if (nr == 0)
		printf("No activity on %s yet; push to start\n", p.name);
	table_init(&t, 5);
	for (i = 0; i < nr; i++) {
		struct release_diff d;
		int has_diff = release_diff(ctx, repo, &es[i], &d) == 0;
		struct strbuf what = STRBUF_INIT;
		char id[24];

		if (ctx->json) {
			json_array_append_new(arr, event_with_diff(&es[i],
			    has_diff ? &d : NULL));
			continue;
		}
		snprintf(id, sizeof(id), "%lld", (long long)es[i].id);
		if (es[i].version > 0)
			strbuf_addf(&what, "v%d ", es[i].version);
		strbuf_addstr(&what, es[i].message);
		if (has_diff) {
			strbuf_addstr(&what, " · ");
			diff_words(&d, &what);
		}
		table_row(&t, id, es[i].created_at, es[i].actor, es[i].kind,
		    what.buf);
		strbuf_release(&what);
	}
	if (ctx->json)
		cmd_print_json(arr);
	else
		table_print(&t, stdout);
	table_clear(&t);
	git_repository_free(repo);
	event_list_free(es, nr);
	ret = 0;
out:
	app_clear(&a);
	pipeline_clear(&p);
	return ret;
}

static int
cmd_activity_info(struct cmd_ctx *ctx)
{
	const char *arg = ctx->argv[0];
	struct pipeline p;
	struct event e;
	struct release_diff d;
	struct commit_info *cs = NULL;
	git_repository *repo = NULL;
	size_t nc = 0, i;
	struct table t;
	char *end, ver[16];
	long long id = strtoll(arg, &end, 10);
	int has_diff, ret = 1;

	if (*arg < '1' || *arg > '9' || *end != '\0')
		return cmd_fail("'%.40s' is not an event id: use a number from "
		    "berth activity -p PIPELINE", arg);
	if (ledger_event_get(ctx->root.db, id, &e) != 0)
		return cmd_fail_last();
	if (ledger_pipeline_get_by_id(ctx->root.db, e.pipeline_id, &p) != 0) {
		event_clear(&e);
		return cmd_fail_last();
	}
	if (cmd_check_pipeline(ctx, &p) != 0)
		goto out;
	repo = open_repo(ctx, p.name);
	has_diff = release_diff(ctx, repo, &e, &d) == 0;
	if (has_diff && repo_log(repo, d.to, d.from[0] ? d.from : NULL, 50,
	    &cs, &nc) < 0)
		nc = 0;
	if (ctx->json) {
		json_t *j = event_with_diff(&e, has_diff ? &d : NULL);
		json_t *arr = json_array();

		for (i = 0; i < nc; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s}",
			    "sha", cs[i].sha, "author", cs[i].author,
			    "subject", cs[i].subject));
		json_object_set_new(j, "commits", arr);
		cmd_print_json(j);
		ret = 0;
		goto out;
	}
	snprintf(ver, sizeof(ver), "v%d", e.version);
	printf("=== %s: %s\n", e.kind, e.message);
	table_init(&t, 2);
	table_row(&t, "When:", e.created_at);
	table_row(&t, "By:", e.actor);
	table_row(&t, "Pipeline:", p.name);
	table_row(&t, "App:", e.app != NULL ? e.app : "-");
	table_row(&t, "Release:", e.version > 0 ? ver : "-");
	table_row(&t, "Commit:", e.commit != NULL ? e.commit : "-");
	table_row(&t, "Data:", e.data);
	table_print(&t, stdout);
	table_clear(&t);
	if (has_diff) {
		struct strbuf sb = STRBUF_INIT;

		diff_words(&d, &sb);
		printf("\n%s\n", sb.buf);
		strbuf_release(&sb);
		for (i = 0; i < nc; i++)
			printf("  %s  %s  (%s)\n", cs[i].short_sha,
			    cs[i].subject, cs[i].author);
	}
	ret = 0;
out:
	commit_info_list_free(cs, nc);
	git_repository_free(repo);
	event_clear(&e);
	pipeline_clear(&p);
	return ret;
}

const struct berth_cmd cmd_activity_entry = {
	.name = "activity",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "activity -p PIPELINE [-a APP] [-n NUM] [--json]",
	.summary = "show a pipeline's activity, newest first",
	.help =
	"One line per event: pushes, builds, test runs, releases (with the\n"
	"commits and diff stats over the app's previous release), review\n"
	"apps, config and formation changes, access changes. Config changes\n"
	"name the vars, never their values. -a: one app's (and -p may go).",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE, CMD_OPT_APP,
		CMD_OPT_NUM("how many events (default 30)"), CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_activity,
};

const struct berth_cmd cmd_activity_info_entry = {
	.name = "activity:info",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "activity:info ID [--json]",
	.summary = "show one event in full, a release's commits listed",
	.options = cmd_opts_json,
	.min_args = 1, .max_args = 1,
	.exec = cmd_activity_info,
};
