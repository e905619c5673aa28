/*
 * cmd-reviewapps.c - reviewapps, reviewapps:enable, reviewapps:disable,
 * reviewapps:config, reviewapps:config:set, reviewapps:config:unset,
 * reviewapps:create, reviewapps:destroy: a pipeline's review apps, as
 * Heroku Review Apps work. With review apps enabled, every pushed branch
 * other than the deploy branch gets an app of stage review, named
 * <pipeline>-<branch slug>, created on its first push and redeployed on
 * every later one; deleting the branch destroys it. The pipeline's review
 * config vars stand in for production secrets: they are copied into a
 * review app when it is created, and a change never echoes their values.
 */
#include "cmd.h"
#include "names.h"
#include "repo.h"
#include "review.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REVIEW_SCOPE "review"

/* "review apps: enabled (autodestroy after 5 days)" and the like. */
static void
print_state(const struct pipeline *p)
{
	printf("review apps: %s", p->review_apps ? "enabled" : "disabled");
	if (p->review_autodestroy)
		printf(" (autodestroy after %d day%s)", p->review_stale_days,
		    p->review_stale_days == 1 ? "" : "s");
	printf("\n");
}

/*
 * The text listing's head: the pipeline's state and, when it has no
 * review apps, how to get some; with nr review apps, t is started with
 * its header row (the caller clears it).
 */
static void
list_head(const struct pipeline *p, size_t nr, struct table *t)
{
	print_state(p);
	if (nr == 0 && p->review_apps)
		printf("No review apps yet; push a branch other than "
		    "%s to create one\n", p->deploy_branch);
	else if (nr == 0)
		printf("No review apps; enable them with: berth "
		    "reviewapps:enable -p %s\n", p->name);
	else {
		printf("\n");
		table_init(t, 6);
		table_row(t, "BRANCH", "APP", "URL", "STATUS", "LAST PUSH",
		    "CI");
	}
}

/*
 * The --json object of review app ra at url; run is its latest CI run
 * (NULL: none). The caller owns the result.
 */
static json_t *
review_json(const struct review_app *ra, const char *url,
    const struct test_run *run)
{
	json_t *jci = run != NULL ? json_pack("{s:i, s:o}", "number",
	    run->number, "status", json_str_or_null(run->status)) :
	    json_null();

	return json_pack("{s:o, s:o, s:s, s:o, s:b, s:o, s:o, s:o}",
	    "branch", json_str_or_null(ra->branch),
	    "app", json_str_or_null(ra->app), "url", url,
	    "status", json_str_or_null(ra->status),
	    "postdeploy_done", ra->postdeploy_done,
	    "last_push_at", json_str_or_null(ra->last_push_at),
	    "created_at", json_str_or_null(ra->created_at),
	    "ci", jci);
}

/*
 * Review app ra of pipeline p with its URL and latest CI run: appended
 * to arr with --json, else a row of t. -1 with berth_error() set when
 * its CI run cannot be read.
 */
static int
list_row(struct cmd_ctx *ctx, const struct pipeline *p,
    const struct review_app *ra, json_t *arr, struct table *t)
{
	struct test_run run;
	char *url = runtime_url(&ctx->root, ra->app);
	int rc;

	memset(&run, 0, sizeof(run));
	rc = ledger_test_run_latest(ctx->root.db, p->id, ra->branch, &run);
	if (rc < 0) {
		free(url);
		return -1;
	}
	if (ctx->json)
		json_array_append_new(arr, review_json(ra, url,
		    rc == 0 ? &run : NULL));
	else {
		char *age = format_age(ra->last_push_at);

		table_row(t, ra->branch, ra->app, url, ra->status, age,
		    rc == 0 ? run.status : "-");
		free(age);
	}
	test_run_clear(&run);
	free(url);
	return 0;
}

static int
cmd_reviewapps(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct review_app *ra = NULL;
	size_t nr = 0, i;
	struct table t;
	json_t *arr = NULL;
	int ret = 0;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_review_list(ctx->root.db, p.id, 0, &ra, &nr) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	if (ctx->json)
		arr = json_array();
	else
		list_head(&p, nr, &t);
	for (i = 0; i < nr; i++)
		if (list_row(ctx, &p, &ra[i], arr, &t) < 0) {
			ret = cmd_fail_last();
			break;
		}
	if (ctx->json) {
		if (ret == 0)
			cmd_print_json(arr);
		else
			json_decref(arr);
	} else if (nr > 0) {
		if (ret == 0)
			table_print(&t, stdout);
		table_clear(&t);
	}
	review_app_list_free(ra, nr);
	pipeline_clear(&p);
	return ret;
}

/* Whether pull requests from forks get review apps (the setting). */
static int
set_forks(struct cmd_ctx *ctx, const struct pipeline *p, int on)
{
	char *key = xasprintf(REVIEW_FORKS "%s", p->name);
	int rc = ledger_setting_set(ctx->root.db, key, on ? "1" : NULL);

	free(key);
	return rc;
}

static int
cmd_reviewapps_enable(struct cmd_ctx *ctx)
{
	struct pipeline p;
	int autodestroy, days;
	int stale_days = cmd_num(ctx, "stale-days", -1);

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	autodestroy = cmd_flag(ctx, "autodestroy") || p.review_autodestroy;
	days = stale_days >= 0 ? stale_days : p.review_stale_days;
	if (ledger_pipeline_set_review(ctx->root.db, p.id, 1, autodestroy,
	    days) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	p.review_apps = 1;
	p.review_autodestroy = autodestroy;
	p.review_stale_days = days;
	if (cmd_flag(ctx, "forks") && set_forks(ctx, &p, 1) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	printf("Enabling review apps on pipeline %s... done\n", p.name);
	print_state(&p);
	if (cmd_flag(ctx, "forks"))
		printf("Pull requests from forks get review apps too: their "
		    "code runs with the pipeline's review config vars\n");
	if (!autodestroy && stale_days >= 0)
		printf("Stale days are used with autodestroy: add "
		    "--autodestroy to turn it on\n");
	printf("Push a branch other than %s to get its review app\n",
	    p.deploy_branch);
	pipeline_clear(&p);
	return 0;
}

static int
cmd_reviewapps_disable(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct review_app *ra = NULL;
	size_t nr = 0;
	int ret = 0;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	/* --autodestroy: only stop destroying stale ones, as on Heroku. */
	if (cmd_flag(ctx, "autodestroy")) {
		if (ledger_pipeline_set_review(ctx->root.db, p.id,
		    p.review_apps, 0, p.review_stale_days) < 0)
			ret = cmd_fail_last();
		else
			printf("Disabling autodestroy of review apps on "
			    "pipeline %s... done\n", p.name);
		pipeline_clear(&p);
		return ret;
	}
	if (ledger_review_list(ctx->root.db, p.id, 0, &ra, &nr) < 0 ||
	    ledger_pipeline_set_review(ctx->root.db, p.id, 0,
	    p.review_autodestroy, p.review_stale_days) < 0 ||
	    set_forks(ctx, &p, 0) < 0)
		ret = cmd_fail_last();
	else {
		printf("Disabling review apps on pipeline %s... done\n",
		    p.name);
		if (nr > 0)
			printf("The %zu existing review app%s stay%s; destroy "
			    "one with: berth reviewapps:destroy -p %s -b "
			    "BRANCH\n", nr, nr == 1 ? "" : "s", nr == 1 ?
			    "s" : "", p.name);
	}
	review_app_list_free(ra, nr);
	pipeline_clear(&p);
	return ret;
}

/* ---- the pipeline's review app config vars (scope "review") ---- */

static const struct var_scope review_vars = {
	.scope = "review",
	.label = "review apps",
	.title = "Review App",
	.cmd = "reviewapps:config",
	.note = "This applies to review apps created from now on; existing "
	    "ones keep their own config (change one with: berth config:set "
	    "-a APP)",
};

static int
cmd_reviewapps_config(struct cmd_ctx *ctx)
{
	return cmd_pipeline_vars_show(ctx, &review_vars);
}

static int
cmd_reviewapps_config_set(struct cmd_ctx *ctx)
{
	return cmd_pipeline_vars_set(ctx, &review_vars);
}

static int
cmd_reviewapps_config_unset(struct cmd_ctx *ctx)
{
	return cmd_pipeline_vars_unset(ctx, &review_vars);
}

/* The -b branch, checked; prints why not and returns 1. */
static int
need_branch(struct cmd_ctx *ctx, const struct pipeline *p)
{
	const char *branch = cmd_opt(ctx, "branch");

	if (branch == NULL)
		return cmd_fail("%s needs a branch: add -b BRANCH (see: berth "
		    "reviewapps -p %s)", ctx->cmd->name, p->name);
	if (name_check_branch(branch) < 0)
		return cmd_fail_last();
	return 0;
}

static int
cmd_reviewapps_create(struct cmd_ctx *ctx)
{
	struct pipeline p;
	const char *branch = cmd_opt(ctx, "branch");
	struct review_app ra;
	git_repository *repo = NULL;
	char *repo_path = NULL, *actor = NULL, *ref = NULL, *url;
	char sha[GIT_OID_HEXSZ + 1];
	int rc, ret = 1;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (need_branch(ctx, &p) != 0)
		goto out;
	if (strcmp(branch, p.deploy_branch) == 0) {
		cmd_fail("%s is pipeline %s's deploy branch: a push deploys "
		    "it to its apps, never to a review app", branch,
		    p.name);
		goto out;
	}
	repo_path = root_repo_path(&ctx->root, p.name);
	if (repo_open(repo_path, &repo) < 0) {
		cmd_fail_last();
		goto out;
	}
	ref = xasprintf("refs/heads/%s", branch);
	rc = repo_ref_target(repo, ref, sha);
	if (rc < 0) {
		cmd_fail_last();
		goto out;
	}
	if (rc == 1) {
		cmd_fail("pipeline %s has no branch %s; push it first: git "
		    "push berth %s", p.name, branch, branch);
		goto out;
	}
	actor = actor_name();
	fflush(stdout);
	if (review_deploy(&ctx->root, repo, &p, branch, sha,
	    actor) < 0) {
		fflush(stdout);
		cmd_fail_last();
		goto out;
	}
	fflush(stdout);
	memset(&ra, 0, sizeof(ra));
	if (ledger_review_get(ctx->root.db, p.id, branch, &ra) == 0) {
		url = runtime_url(&ctx->root, ra.app);
		printf("Review app %s for %s: %s\n", ra.app, branch, url);
		free(url);
		review_app_clear(&ra);
	}
	ret = 0;
out:
	free(ref);
	free(actor);
	free(repo_path);
	git_repository_free(repo);
	pipeline_clear(&p);
	return ret;
}

static int
cmd_reviewapps_destroy(struct cmd_ctx *ctx)
{
	struct pipeline p;
	const char *branch = cmd_opt(ctx, "branch");
	struct review_app ra;
	char *actor;
	int rc, ret = 1;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (need_branch(ctx, &p) != 0) {
		pipeline_clear(&p);
		return 1;
	}
	memset(&ra, 0, sizeof(ra));
	rc = ledger_review_get(ctx->root.db, p.id, branch, &ra);
	if (rc < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	if (rc == 1) {
		ret = cmd_fail("pipeline %s has no review app for %s; see: "
		    "berth reviewapps -p %s", p.name, branch, p.name);
		pipeline_clear(&p);
		return ret;
	}
	actor = actor_name();
	fflush(stdout);
	if (review_destroy(&ctx->root, &p, branch, actor) < 0) {
		fflush(stdout);
		ret = cmd_fail("cannot destroy review app %s: %s", ra.app,
		    berth_last_error());
	} else {
		fflush(stdout);
		printf("Destroyed review app %s (%s); its releases and test "
		    "runs stay in the ledger\n", ra.app, branch);
		ret = 0;
	}
	free(actor);
	review_app_clear(&ra);
	pipeline_clear(&p);
	return ret;
}

const struct berth_cmd cmd_reviewapps_entry = {
	.name = "reviewapps",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "reviewapps -p PIPELINE [--json]",
	.summary =
	"list a pipeline's review apps with their URLs and test status",
	.help =
	"One line per live review app: branch, app, URL, status (creating,\n"
	"deployed, failed), time since its branch was last pushed, and the\n"
	"status of the branch's newest test run (- when none). Destroyed\n"
	"review apps are not listed; their history stays in the ledger.",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_reviewapps,
};

const struct berth_cmd cmd_reviewapps_enable_entry = {
	.name = "reviewapps:enable",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage =
	"reviewapps:enable -p PIPELINE [--autodestroy] [--stale-days N] "
	"[--forks]",
	.summary = "give every pushed branch its own review app",
	.help =
	"From now on, a push of any branch other than the deploy branch\n"
	"creates (first push) or redeploys (later pushes) the review app\n"
	"PIPELINE-BRANCH, with app.json env and environments.review, plus\n"
	"the pipeline's review config vars; deleting the branch destroys it.\n"
	"git push -o review.skip pushes a branch without one.\n"
	"--autodestroy makes berthd destroy review apps whose branch had no\n"
	"push for --stale-days N days (default: the current setting, first\n"
	"5). Without --autodestroy, the current autodestroy setting stays;\n"
	"turn it off with: berth reviewapps:disable --autodestroy.\n"
	"--forks: GitHub pull requests from forks get review apps too (off\n"
	"by default: a fork's code would run with the review config vars);\n"
	"reviewapps:disable turns it off again.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "autodestroy", .kind = CMD_FLAG,
		    .help = "destroy review apps with no push for a while" },
		{ .name = "forks", .kind = CMD_FLAG,
		    .help = "build pull requests from forks too" },
		{ .name = "stale-days", .kind = CMD_NUMBER, .arg = "N",
		    .min = 0, .max = 3650,
		    .help = "days with no push before they go" },
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_reviewapps_enable,
};

const struct berth_cmd cmd_reviewapps_disable_entry = {
	.name = "reviewapps:disable",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "reviewapps:disable -p PIPELINE [--autodestroy]",
	.summary = "stop creating review apps for pushed branches",
	.help =
	"Existing review apps stay, and keep being destroyed when their\n"
	"branch is deleted; destroy one now with reviewapps:destroy.\n"
	"With --autodestroy, only stale review apps stop being destroyed;\n"
	"review apps stay enabled.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "autodestroy", .kind = CMD_FLAG,
		    .help = "only stop destroying stale review apps" },
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_reviewapps_disable,
};

const struct berth_cmd cmd_reviewapps_config_entry = {
	.name = "reviewapps:config",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "reviewapps:config -p PIPELINE [--json]",
	.summary = "show the config vars new review apps get",
	.help =
	"Review apps never see the staging or production config. These\n"
	"stand in for its secrets: a review app gets them when it is created,\n"
	"over app.json env, and app.json env marked required must be here.",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_reviewapps_config,
};

const struct berth_cmd cmd_reviewapps_config_set_entry = {
	.name = "reviewapps:config:set",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "reviewapps:config:set KEY=VALUE [KEY=VALUE...] -p PIPELINE",
	.summary = "set config vars that new review apps get",
	.help =
	"Each argument is split at its first '='; VALUE may be empty or hold\n"
	"'='. KEY is letters, digits and '_', not starting with a digit.\n"
	"Values are not echoed back; see them with: berth reviewapps:config\n"
	"-p PIPELINE. Review apps created afterwards get them; existing ones\n"
	"keep their own config (berth config:set -a APP changes one).",
	.options = cmd_opts_pipeline,
	.min_args = 1, .max_args = -1,
	.exec = cmd_reviewapps_config_set,
};

const struct berth_cmd cmd_reviewapps_config_unset_entry = {
	.name = "reviewapps:config:unset",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "reviewapps:config:unset KEY [KEY...] -p PIPELINE",
	.summary = "remove config vars that new review apps get",
	.help =
	"Review apps created afterwards no longer get them; existing ones\n"
	"keep their own config.",
	.options = cmd_opts_pipeline,
	.min_args = 1, .max_args = -1,
	.exec = cmd_reviewapps_config_unset,
};

const struct berth_cmd cmd_reviewapps_create_entry = {
	.name = "reviewapps:create",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_DEVELOPER },
	.usage = "reviewapps:create -p PIPELINE -b BRANCH",
	.summary = "create or redeploy the review app of a pushed branch",
	.help =
	"Deploys the head of BRANCH in the pipeline's repo to its review app,\n"
	"creating it first when there is none, as a push of the branch does\n"
	"(also when review apps are disabled, or the push said\n"
	"-o review.skip). BRANCH must not be the deploy branch. Exits 1 when\n"
	"the build or the deploy fails.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		CMD_OPT_BRANCH("the pushed branch to deploy"),
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_reviewapps_create,
};

const struct berth_cmd cmd_reviewapps_destroy_entry = {
	.name = "reviewapps:destroy",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_DEVELOPER },
	.usage = "reviewapps:destroy -p PIPELINE -b BRANCH",
	.summary = "destroy the review app of a branch",
	.help =
	"Runs app.json scripts.pr-predestroy, stops its dynos and removes its\n"
	"route, as deleting the branch does. Its releases and test runs stay\n"
	"in the ledger. A later push of the branch creates it again.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		CMD_OPT_BRANCH("the branch whose review app to destroy"),
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_reviewapps_destroy,
};
