/*
 * cmd-promote.c - pipelines:promote and pipelines:diff: moving what was
 * tested downstream without rebuilding it, and seeing what would move.
 *
 * Stages flow review -> development -> staging -> production. By default
 * the source is the pipeline's staging app and the targets are the apps
 * of the next stage.
 */
#include "cmd.h"
#include "build.h"
#include "names.h"
#include "repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const stages[] = {
	"review", "development", "staging", "production",
};
#define NSTAGES (sizeof(stages) / sizeof(stages[0]))

static int
stage_index(const char *stage)
{
	size_t i;

	for (i = 0; i < NSTAGES; i++)
		if (strcmp(stages[i], stage) == 0)
			return (int)i;
	return -1;
}

/* The first app of the pipeline in stage, or NULL. */
static struct app *
app_in_stage(const struct pipeline *p, struct app *apps, size_t napps,
    const char *stage, struct strbuf *several)
{
	struct app *one = NULL;
	size_t i, n = 0;

	for (i = 0; i < napps; i++) {
		if (strcmp(apps[i].stage, stage) != 0)
			continue;
		strbuf_addf(several, "%s%s", n++ ? ", " : "", apps[i].name);
		/* Of several, the one a push of the deploy branch updates. */
		if (one == NULL || (apps[i].branch != NULL &&
		    strcmp(apps[i].branch, p->deploy_branch) == 0 &&
		    (one->branch == NULL || strcmp(one->branch,
		    p->deploy_branch) != 0)))
			one = &apps[i];
	}
	if (n > 1 && (one->branch == NULL || strcmp(one->branch,
	    p->deploy_branch) != 0))
		return NULL;
	strbuf_reset(several);
	return one;
}

static struct app *
app_named(struct app *apps, size_t napps, const char *name)
{
	size_t i;

	for (i = 0; i < napps; i++)
		if (strcmp(apps[i].name, name) == 0)
			return &apps[i];
	return NULL;
}

/*
 * The pipeline of the -a app (Heroku's form: pipelines:promote -a
 * shop-staging), which -p must name too when given, into *p. 0, or -1
 * after saying why.
 */
static int
pipeline_of_app(struct cmd_ctx *ctx, struct pipeline *p)
{
	const char *given = ctx->pipeline;
	struct app a;
	char q[64];
	int rc;

	if (ledger_app_get(ctx->root.db, ctx->app, &a) != 0) {
		cmd_fail_last();
		return -1;
	}
	if (given != NULL && strcmp(given, a.pipeline) != 0) {
		name_quote(given, q, sizeof(q));
		cmd_fail("%s is an app of pipeline %s, not of '%s': give -a "
		    "or -p", a.name, a.pipeline, q);
		app_clear(&a);
		return -1;
	}
	/* cmd_need_pipeline() checks the asking user's role on it. */
	ctx->pipeline = a.pipeline;
	rc = cmd_need_pipeline(ctx, p);
	ctx->pipeline = given;
	app_clear(&a);
	return rc != 0 ? -1 : 0;
}

/*
 * The -p pipeline (or the -a app's) into *p and its apps into *apps and
 * *napps (the caller frees them: app_list_free, pipeline_clear).
 * Returns 0, or prints why and returns -1 with nothing left to free.
 */
static int
need_pipeline_apps(struct cmd_ctx *ctx, struct pipeline *p,
    struct app **apps, size_t *napps)
{
	*apps = NULL;
	*napps = 0;
	if (ctx->app == NULL && ctx->pipeline == NULL) {
		cmd_fail("%s needs a pipeline: add -p PIPELINE, or -a APP to "
		    "start from that app (see: berth pipelines)",
		    ctx->cmd->name);
		return -1;
	}
	if (ctx->app != NULL ? pipeline_of_app(ctx, p) < 0 :
	    cmd_need_pipeline(ctx, p) != 0)
		return -1;
	if (ledger_app_list(ctx->root.db, p->id, apps, napps) < 0) {
		cmd_fail_last();
		app_list_free(*apps, *napps);
		pipeline_clear(p);
		return -1;
	}
	return 0;
}

/*
 * The app --from names (an app or a stage), else def_stage's. Prints
 * the error and returns NULL when there is none.
 */
static struct app *
pick_app(const struct pipeline *p, struct app *apps, size_t napps,
    const char *want, const char *def_stage, const char *flag)
{
	struct strbuf several = STRBUF_INIT;
	struct app *a;
	char q[64];

	if (want == NULL)
		want = def_stage;
	a = app_named(apps, napps, want);
	if (a == NULL && stage_index(want) >= 0)
		a = app_in_stage(p, apps, napps, want, &several);
	if (a == NULL && several.len > 0)
		cmd_fail("stage %s of pipeline %s has several apps (%s) and "
		    "none deploys %s: name one with %s APP", want, p->name,
		    several.buf, p->deploy_branch, flag);
	else if (a == NULL) {
		name_quote(want, q, sizeof(q));
		cmd_fail("%s '%s' is neither an app nor a stage with an app "
		    "in pipeline %s; see: berth pipelines:info -p %s", flag,
		    q, p->name, p->name);
	}
	strbuf_release(&several);
	return a;
}

/*
 * The source app: --from, or -a (Heroku's form), else the staging app.
 * NULL after saying why when there is none, or -a and --from differ.
 */
static struct app *
pick_source(struct cmd_ctx *ctx, const struct pipeline *p, struct app *apps,
    size_t napps)
{
	const char *from = cmd_opt(ctx, "from");
	char q[64];

	if (ctx->app != NULL && from != NULL && strcmp(from, ctx->app) != 0) {
		name_quote(from, q, sizeof(q));
		cmd_fail("-a %s and --from '%s' name different apps: give one",
		    ctx->app, q);
		return NULL;
	}
	return pick_app(p, apps, napps, from != NULL ? from : ctx->app,
	    "staging", from == NULL && ctx->app != NULL ? "-a" : "--from");
}

struct outcome {
	const char *app;
	int version;
	int ok;
	int64_t ms;
	char *why;
};

/* "APP vN:" above a target's release phase and rollout. */
static void
show_target(const struct release_order *o, const struct release *rel)
{
	printf("%s v%d:\n", o->app->name, rel->version);
}

/* One target: a release of the source's slug (or a rebuild of its
 * commit) with the target's config, released and rolled out. */
static void
promote_one(struct cmd_ctx *ctx, const struct app *src,
    const struct release *srel, const struct app *dst, git_repository *repo,
    char *actor, struct outcome *o)
{
	struct build_result res;
	char *desc;
	const char *slug = srel->slug_id;
	int64_t t0 = now_ms();

	memset(&res, 0, sizeof(res));
	o->app = dst->name;
	if (cmd_flag(ctx, "rebuild")) {
		struct build_opts bo = {
			.root = &ctx->root,
			.repo = repo,
			.app = dst,
			.commit = srel->commit,
			.ref = "refs/heads/promote",
			.actor = actor,
		};

		if (build_run(&bo, &res) < 0) {
			o->why = xstrdup(berth_last_error());
			o->ms = now_ms() - t0;
			build_result_clear(&res);
			return;
		}
		slug = res.slug_id;
		desc = xasprintf("Promote %s v%d (rebuilt with %s's config)",
		    src->name, srel->version, dst->name);
	} else
		desc = xasprintf("Promote %s v%d", src->name, srel->version);
	{
		struct release_order ord = {
			.app = dst,
			.kind = RELEASE_PROMOTE,
			.slug_id = slug,
			.commit = srel->commit,
			.actor = actor,
			.description = desc,
			.created = show_target,
		};

		if (cmd_release(ctx, &ord, &o->version) == 0)
			o->ok = 1;
		else
			o->why = xstrdup(berth_last_error());
	}
	o->ms = now_ms() - t0;
	free(desc);
	build_result_clear(&res);
}

/* The apps a promotion releases to: pointers into the pipeline's apps. */
struct targets {
	struct app **v;		/* the caller frees v, not what it points to */
	size_t nr;
};

static void
targets_add(struct targets *t, struct app *a)
{
	t->v = xrealloc(t->v, (t->nr + 1) * sizeof(*t->v));
	t->v[t->nr++] = a;
}

/*
 * Add to t each app of the comma-separated list (--to), in order.
 * Returns 0, or prints why and returns -1 when one is not an app of
 * pipeline p or is src itself.
 */
static int
targets_named(const struct pipeline *p, struct app *apps, size_t napps,
    const struct app *src, const char *names, struct targets *t)
{
	char *list = xstrdup(names), *tok, *save = NULL, q[64];
	int ret = 0;

	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		struct app *a = app_named(apps, napps, tok);

		if (a == NULL) {
			ret = -1;
			name_quote(tok, q, sizeof(q));
			cmd_fail("--to: no app '%s' in pipeline %s; see: berth "
			    "pipelines:info -p %s", q, p->name, p->name);
			break;
		}
		if (a == src) {
			ret = -1;
			cmd_fail("--to: %s is the app promoted from; name "
			    "another app", tok);
			break;
		}
		targets_add(t, a);
	}
	free(list);
	return ret;
}

/*
 * Fill t with the apps src promotes to: those --to names, else every
 * app of the stage after src's. Returns 0 with at least one target, or
 * prints why there is none (a review or production source without
 * --to, a bad --to, an empty next stage) and returns -1.
 */
static int
pick_targets(struct cmd_ctx *ctx, const struct pipeline *p,
    struct app *apps, size_t napps, const struct app *src, struct targets *t)
{
	const char *to = cmd_opt(ctx, "to");
	int si = stage_index(src->stage);
	size_t i;

	if (to == NULL && (si == (int)NSTAGES - 1 || si == 0)) {
		cmd_fail("%s is a %s app: promoting from %s needs --to APP "
		    "(%s)", src->name, src->stage, src->stage, si == 0 ?
		    "review apps promote to an app you name" :
		    "production is the last stage");
		return -1;
	}
	if (to != NULL) {
		if (targets_named(p, apps, napps, src, to, t) < 0)
			return -1;
	} else
		for (i = 0; i < napps; i++)
			if (stage_index(apps[i].stage) == si + 1)
				targets_add(t, &apps[i]);
	if (t->nr == 0 && to != NULL) {
		cmd_fail("--to '%s' names no app; give one or more app names, "
		    "comma-separated (see: berth apps -p %s)", to, p->name);
		return -1;
	}
	if (t->nr == 0) {
		cmd_fail("pipeline %s has no %s app to promote %s to; add one "
		    "with berth apps:create, or name one with --to", p->name,
		    stages[si + 1], src->name);
		return -1;
	}
	return 0;
}

/*
 * src's current release into *srel, to be called under src's lock so
 * a push cannot change it meanwhile. Returns 0, or prints why there is
 * nothing to promote and returns -1; the caller clears *srel either way.
 */
static int
source_release(struct cmd_ctx *ctx, const struct app *src,
    struct release *srel)
{
	if (cmd_need_current(ctx, src, "promote", srel) != 0)
		return -1;
	if (srel->slug_id == NULL) {
		cmd_fail("%s v%d has no slug to promote", src->name,
		    srel->version);
		return -1;
	}
	return 0;
}

/*
 * A line per target (app, version, succeeded or failed, and the time
 * taken or the first line of why), after a blank line. Returns how
 * many failed.
 */
static int
print_outcomes(const struct outcome *res, size_t nr)
{
	struct table t;
	size_t i;
	int failed = 0;

	table_init(&t, 4);
	for (i = 0; i < nr; i++) {
		char ver[16] = "-", took[32];
		const char *why = res[i].why;
		char *first = NULL;

		if (res[i].version > 0)
			snprintf(ver, sizeof(ver), "v%d", res[i].version);
		snprintf(took, sizeof(took), "%.1fs", res[i].ms / 1000.0);
		if (why != NULL)
			first = xstrndup(why, strcspn(why, "\n"));
		table_row(&t, res[i].app, ver, res[i].ok ? "succeeded" :
		    "failed", res[i].ok ? took : first);
		free(first);
		if (!res[i].ok)
			failed++;
	}
	printf("\n");
	table_print(&t, stdout);
	table_clear(&t);
	return failed;
}

static int
cmd_pipelines_promote(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct app *apps, *src;
	struct targets dst = { NULL, 0 };
	size_t napps, i;
	struct release srel;
	struct outcome *res = NULL;
	git_repository *repo = NULL;
	char *actor = NULL, sha[8], *repo_path = NULL;
	int lock = -1, failed, ret = 1;

	memset(&srel, 0, sizeof(srel));
	if (need_pipeline_apps(ctx, &p, &apps, &napps) < 0)
		return 1;
	src = pick_source(ctx, &p, apps, napps);
	if (src == NULL || pick_targets(ctx, &p, apps, napps, src, &dst) < 0)
		goto out;
	/* Into production needs more than into staging (access.h). */
	for (i = 0; i < dst.nr; i++)
		if (cmd_check_app(ctx, dst.v[i]) != 0)
			goto out;
	actor = actor_name();
	lock = cmd_lock_app(ctx, src, "promotion");
	if (lock < 0 || source_release(ctx, src, &srel) < 0)
		goto out;
	if (cmd_flag(ctx, "rebuild")) {
		repo_path = root_repo_path(&ctx->root, p.name);
		if (repo_open(repo_path, &repo) < 0) {
			cmd_fail_last();
			goto out;
		}
	}
	printf("Promoting %s v%d (%s) to %s...\n", src->name, srel.version,
	    short_sha(srel.commit, sha), dst.nr == 1 ? dst.v[0]->name :
	    stages[stage_index(dst.v[0]->stage)]);
	res = xcalloc(dst.nr, sizeof(*res));
	for (i = 0; i < dst.nr; i++)
		promote_one(ctx, src, &srel, dst.v[i], repo, actor, &res[i]);
	failed = print_outcomes(res, dst.nr);
	ret = failed ? cmd_fail("%d of %zu promotion%s failed", failed,
	    dst.nr, dst.nr == 1 ? "" : "s") : 0;
out:
	deploy_unlock(lock);
	for (i = 0; res != NULL && i < dst.nr; i++)
		free(res[i].why);
	free(res);
	free(dst.v);
	free(actor);
	free(repo_path);
	git_repository_free(repo);
	release_clear(&srel);
	app_list_free(apps, napps);
	pipeline_clear(&p);
	return ret;
}

static json_t *
commits_json(const struct commit_info *ci, size_t nr)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < nr; i++) {
		char date[32];
		time_t t = (time_t)ci[i].time;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}",
		    "sha", ci[i].sha, "author", ci[i].author, "date", date,
		    "subject", ci[i].subject));
	}
	return arr;
}

static void
print_commits(const struct commit_info *ci, size_t nr)
{
	struct table t;
	size_t i;

	table_init(&t, 4);
	for (i = 0; i < nr; i++) {
		char date[16], *sha = xasprintf("  %s", ci[i].short_sha);
		time_t tt = (time_t)ci[i].time;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
		table_row(&t, sha, date, ci[i].author, ci[i].subject);
		free(sha);
	}
	table_print(&t, stdout);
	table_clear(&t);
}

/*
 * The two apps pipelines:diff compares: --from (default: the staging
 * app) into *up and --to (default: the production app) into *down,
 * pointers into apps. Returns 0, or prints why and returns -1 when one
 * is missing or both are the same app.
 */
static int
pick_pair(struct cmd_ctx *ctx, const struct pipeline *p, struct app *apps,
    size_t napps, struct app **up, struct app **down)
{
	*up = pick_source(ctx, p, apps, napps);
	if (*up == NULL)
		return -1;
	*down = pick_app(p, apps, napps, cmd_opt(ctx, "to"), "production",
	    "--to");
	if (*down == NULL)
		return -1;
	if (*up != *down)
		return 0;
	if (cmd_opt(ctx, "to") == NULL)
		cmd_fail("%s is the %s app: nothing is downstream of it to "
		    "diff against; name an app with --to", (*up)->name,
		    (*up)->stage);
	else
		cmd_fail("%s is both ends of the diff: name another app with "
		    "--from or --to", (*up)->name);
	return -1;
}

/* The commits one app runs that the other lacks, each way. */
struct drift {
	struct commit_info *ahead;	/* in from_commit, not in to_commit */
	size_t nahead;
	struct commit_info *behind;	/* in to_commit, not in from_commit */
	size_t nbehind;
};

/*
 * Fill d from the pipeline repository at repo_path: everything from
 * from_commit back when to_commit is NULL (the downstream app has no
 * release), else both directions. *repo is the caller's to free, and
 * d's lists too (commit_info_list_free). Returns 0, or prints the
 * error and returns -1.
 */
static int
drift_log(const char *repo_path, const char *from_commit,
    const char *to_commit, git_repository **repo, struct drift *d)
{
	if (repo_open(repo_path, repo) < 0 ||
	    repo_log(*repo, from_commit, to_commit, 0, &d->ahead,
	    &d->nahead) < 0 ||
	    (to_commit != NULL && repo_log(*repo, to_commit, from_commit, 0,
	    &d->behind, &d->nbehind) < 0)) {
		cmd_fail_last();
		return -1;
	}
	return 0;
}

/* The diff as one JSON object; to_commit is NULL without a release. */
static void
print_drift_json(const struct app *up, const struct app *down,
    const char *from_commit, const char *to_commit, const struct drift *d)
{
	cmd_print_json(json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}",
	    "from", up->name, "to", down->name, "from_commit",
	    json_str_or_null(from_commit), "to_commit",
	    json_str_or_null(to_commit), "ahead",
	    commits_json(d->ahead, d->nahead), "behind",
	    commits_json(d->behind, d->nbehind)));
}

/*
 * The diff for people: a line saying how up and down compare (down has
 * no release when to_commit is NULL), then the commits up is ahead by,
 * then those it is behind by.
 */
static void
print_drift(const struct app *up, const struct app *down,
    const char *from_commit, const char *to_commit, const struct drift *d)
{
	if (to_commit == NULL)
		printf("%s has no release yet; %s has %zu commit%s:\n",
		    down->name, up->name, d->nahead, d->nahead == 1 ? "" :
		    "s");
	else if (d->nahead == 0 && d->nbehind == 0)
		printf("%s and %s are up to date (%.7s)\n", up->name,
		    down->name, from_commit);
	else if (d->nahead > 0)
		printf("%s is %zu commit%s ahead of %s\n", up->name,
		    d->nahead, d->nahead == 1 ? "" : "s", down->name);
	if (d->nahead > 0)
		print_commits(d->ahead, d->nahead);
	if (d->nbehind > 0) {
		printf("%s is %zu commit%s behind %s (a rollback or a "
		    "promotion from elsewhere):\n", up->name, d->nbehind,
		    d->nbehind == 1 ? "" : "s", down->name);
		print_commits(d->behind, d->nbehind);
	}
}

static int
cmd_pipelines_diff(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct app *apps, *up, *down;
	size_t napps;
	struct release ur, dr;
	struct drift d = { NULL, 0, NULL, 0 };
	git_repository *repo = NULL;
	char *repo_path = NULL;
	const char *to_commit;
	int ret = 1;

	memset(&ur, 0, sizeof(ur));
	memset(&dr, 0, sizeof(dr));
	if (need_pipeline_apps(ctx, &p, &apps, &napps) < 0)
		return 1;
	if (pick_pair(ctx, &p, apps, napps, &up, &down) < 0)
		goto out;
	if (ledger_release_current(ctx->root.db, up->id, &ur) != 0 ||
	    ur.commit == NULL) {
		cmd_fail("%s has no release yet; push to it first", up->name);
		goto out;
	}
	/* NULL when down has no release (or one without a commit). */
	to_commit = ledger_release_current(ctx->root.db, down->id, &dr) == 0 ?
	    dr.commit : NULL;
	repo_path = root_repo_path(&ctx->root, p.name);
	if (drift_log(repo_path, ur.commit, to_commit, &repo, &d) < 0)
		goto out;
	if (ctx->json)
		print_drift_json(up, down, ur.commit, to_commit, &d);
	else
		print_drift(up, down, ur.commit, to_commit, &d);
	ret = 0;
out:
	commit_info_list_free(d.ahead, d.nahead);
	commit_info_list_free(d.behind, d.nbehind);
	git_repository_free(repo);
	free(repo_path);
	release_clear(&ur);
	release_clear(&dr);
	app_list_free(apps, napps);
	pipeline_clear(&p);
	return ret;
}

const struct berth_cmd cmd_pipelines_promote_entry = {
	.name = "pipelines:promote",
	.access = { .scope = ACCESS_PIPELINE,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.alias = "promote",
	.usage =
	"pipelines:promote {-p PIPELINE | -a APP} [--from APP|STAGE] "
	"[--to APP,...] [--rebuild]",
	.summary =
	"release the source app's slug to the next stage, without a rebuild",
	.help =
	"Each target gets a new release of the source's current slug (the\n"
	"very build that was tested) with the target's own config, its\n"
	"release phase, and a zero-downtime rollout. Default source: the\n"
	"staging app; default targets: every app of the next stage\n"
	"(development -> staging -> production). -a APP (the Heroku CLI's\n"
	"form) promotes from APP, in its pipeline. Prints a line per target\n"
	"and exits 1 if any failed. --rebuild rebuilds the same commit with\n"
	"each target's config instead, for apps that bake config in at build\n"
	"time, and says so in the release description.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "app", .short_name = 'a', .kind = CMD_STRING,
		    .arg = "APP",
		    .help = "the source app, and so its pipeline (Heroku's)" },
		{ .name = "from", .kind = CMD_STRING, .arg = "APP|STAGE",
		    .help = "the source app (default: the staging app)" },
		{ .name = "to", .kind = CMD_STRING, .arg = "APP,...",
		    .help = "the target apps (default: the next stage's)" },
		{ .name = "rebuild", .kind = CMD_FLAG,
		    .help = "rebuild the commit with each target's config" },
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_pipelines_promote,
};

const struct berth_cmd cmd_pipelines_diff_entry = {
	.name = "pipelines:diff",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "pipelines:diff {-p PIPELINE | -a APP} [--from APP] [--to APP] "
	"[--json]",
	.summary =
	"the commits the upstream app runs that the downstream one lacks",
	.help =
	"Defaults: from the staging app (or -a APP, the Heroku CLI's form)\n"
	"to the production app. Lists short sha, date, author and subject,\n"
	"newest first; says \"up to date\" when both run the same commit.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "app", .short_name = 'a', .kind = CMD_STRING,
		    .arg = "APP",
		    .help = "the upstream app, and so its pipeline (Heroku's)" },
		{ .name = "from", .kind = CMD_STRING, .arg = "APP",
		    .help = "the upstream app (default: staging)" },
		{ .name = "to", .kind = CMD_STRING, .arg = "APP",
		    .help = "the downstream app (default: production)" },
		CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_pipelines_diff,
};
