/*
 * cmd-pipelines.c - pipelines, pipelines:create, pipelines:info.
 */
#include "cmd.h"
#include "names.h"
#include "repo.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* berth-receive beside this berth binary, or $BERTH_RECEIVE. */
static char *
receive_path(void)
{
	const char *env = getenv("BERTH_RECEIVE");
	char *self, *slash, *p;

	if (env != NULL && *env != '\0')
		return realpath(env, NULL);
	self = realpath("/proc/self/exe", NULL);
	if (self == NULL)
		return NULL;
	slash = strrchr(self, '/');
	*slash = '\0';
	p = xasprintf("%s/berth-receive", self);
	free(self);
	if (access(p, X_OK) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static int
cmd_pipelines(struct cmd_ctx *ctx)
{
	struct pipeline *ps;
	struct table t;
	size_t nr, i, kept = 0;

	if (ledger_pipeline_list(ctx->root.db, &ps, &nr) < 0)
		return cmd_fail_last();
	/* A berth user sees the pipelines they have a role on. */
	for (i = 0; i < nr; i++) {
		if (!cmd_may(ctx, ps[i].id, ROLE_VIEWER))
			pipeline_clear(&ps[i]);
		else
			ps[kept++] = ps[i];
	}
	ctx->checked = 1;
	nr = kept;
	if (ctx->json) {
		json_t *arr = json_array();

		for (i = 0; i < nr; i++) {
			char *repo = root_repo_path(&ctx->root, ps[i].name);

			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, "
			    "s:s}", "name", ps[i].name, "deploy_branch",
			    ps[i].deploy_branch, "repo", repo, "created_at",
			    ps[i].created_at));
			free(repo);
		}
		pipeline_list_free(ps, nr);
		return cmd_print_json(arr);
	}
	if (nr == 0 && ctx->remote)
		printf("No pipelines you have a role on; ask an admin: berth "
		    "access:grant %s -p PIPELINE --role viewer\n",
		    ctx->user.name);
	else if (nr == 0)
		printf("No pipelines yet; create one with: berth "
		    "pipelines:create NAME\n");
	table_init(&t, 3);
	for (i = 0; i < nr; i++) {
		char *repo = root_repo_path(&ctx->root, ps[i].name);

		table_row(&t, ps[i].name, ps[i].deploy_branch, repo);
		free(repo);
	}
	table_print(&t, stdout);
	table_clear(&t);
	pipeline_list_free(ps, nr);
	return 0;
}

/*
 * Check that pipeline name can be created before anything is: its
 * staging app's name is valid (unless no_apps), berth-receive is found
 * for the hooks (*recv) and nothing is at its repository path yet
 * (*repo). Returns 0, or prints why and returns -1; the caller frees
 * *recv and *repo either way.
 */
static int
create_check(struct cmd_ctx *ctx, const char *name, const char *staging,
    int no_apps, char **recv, char **repo)
{
	struct pipeline p;

	if (!no_apps && name_check_app(staging) < 0) {
		cmd_fail("%s; pick a shorter pipeline name or use --no-apps",
		    berth_last_error());
		return -1;
	}
	*recv = receive_path();
	if (*recv == NULL) {
		cmd_fail("cannot find berth-receive next to berth; install "
		    "berth or set BERTH_RECEIVE to its path");
		return -1;
	}
	/* A pipeline's name taken is said as such, not as its repo. */
	if (ledger_pipeline_get(ctx->root.db, name, &p) == 0) {
		pipeline_clear(&p);
		cmd_fail("pipeline %s already exists; see: berth "
		    "pipelines:info -p %s", name, name);
		return -1;
	}
	berth_clear_error();
	*repo = root_repo_path(&ctx->root, name);
	if (path_exists(*repo)) {
		cmd_fail("%s already exists; pick another name or remove it",
		    *repo);
		return -1;
	}
	return 0;
}

/*
 * Build the bare repository aside in ROOT/tmp with recv as its hooks,
 * record the pipeline with its apps (staging, which auto-deploys
 * branch, and name in production; none when no_apps), then move the
 * repository in at repo. Returns 0, or prints why and returns -1 with
 * the repository aside removed (a pipeline recorded before a failed
 * move stays recorded).
 */
static int
create_repo(struct cmd_ctx *ctx, const char *name, const char *branch,
    const char *staging, int no_apps, const char *recv, const char *repo)
{
	const struct app_new apps[] = {
		{ .name = staging, .stage = "staging", .branch = branch },
		{ .name = name, .stage = "production", .branch = NULL },
	};
	char rnd[9], *tmp;
	int ret = -1;

	if (random_hex(rnd, 4) < 0) {
		cmd_fail_last();
		return -1;
	}
	tmp = root_pathf(&ctx->root, "tmp/repo-%s.git", rnd);
	if (repo_create_bare(tmp, branch, recv) < 0 ||
	    ledger_pipeline_create(ctx->root.db, name, branch, apps,
	    no_apps ? 0 : 2, NULL) < 0)
		cmd_fail_last();
	else if (rename(tmp, repo) < 0) {
		berth_error_errno("cannot move the repository to %s", repo);
		cmd_fail_last();
	} else
		ret = 0;
	if (ret < 0)
		rm_rf(tmp);
	free(tmp);
	return ret;
}

/*
 * "Created pipeline NAME", its repository, its two apps with their web
 * URLs (unless no_apps), and the git commands that push to it.
 */
static void
print_created(struct cmd_ctx *ctx, const char *name, const char *staging,
    const char *branch, int no_apps, const char *repo)
{
	struct table t;

	printf("Created pipeline %s\n  repo        %s\n", name, repo);
	if (!no_apps) {
		char *deploys = xasprintf("auto-deploys %s", branch);
		char *surl = runtime_url(&ctx->root, staging);
		char *purl = runtime_url(&ctx->root, name);

		table_init(&t, 4);
		table_row(&t, "  staging   ", staging, deploys, surl);
		table_row(&t, "  production", name, "promote from staging",
		    purl);
		table_print(&t, stdout);
		table_clear(&t);
		free(deploys);
		free(surl);
		free(purl);
	}
	printf("\nPush to it:  git remote add berth %s && git push berth "
	    "%s\n", repo, branch);
}

static int
cmd_pipelines_create(struct cmd_ctx *ctx)
{
	const char *name = ctx->argv[0];
	const char *branch = cmd_opt(ctx, "deploy-branch");
	int no_apps = cmd_flag(ctx, "no-apps");
	char *staging, *repo = NULL, *recv = NULL;
	int ret = 1;

	if (branch == NULL)
		branch = "main";
	if (name_check_pipeline(name) < 0 || name_check_branch(branch) < 0)
		return cmd_fail_last();
	staging = xasprintf("%s-staging", name);
	if (create_check(ctx, name, staging, no_apps, &recv, &repo) == 0 &&
	    create_repo(ctx, name, branch, staging, no_apps, recv,
	    repo) == 0) {
		print_created(ctx, name, staging, branch, no_apps, repo);
		ret = 0;
	}
	free(staging);
	free(repo);
	free(recv);
	return ret;
}

static const char *const stages[] = {
	"review", "development", "staging", "production",
};
#define NSTAGES (sizeof(stages) / sizeof(stages[0]))

/*
 * The pipeline as columns, one per stage that has apps, like the
 * Heroku dashboard: each app's current release, then its commit and
 * age on the line below.
 */
static void
print_columns(struct cmd_ctx *ctx, const struct app *apps, size_t napps)
{
	struct strvec cells[NSTAGES];
	size_t s, i, rows = 0, ncols = 0;
	struct table t;

	memset(cells, 0, sizeof(cells));
	for (s = 0; s < NSTAGES; s++) {
		for (i = 0; i < napps; i++) {
			struct release r;
			char sha[8], *age;

			if (strcmp(apps[i].stage, stages[s]) != 0)
				continue;
			memset(&r, 0, sizeof(r));
			if (ledger_release_current(ctx->root.db, apps[i].id,
			    &r) == 0) {
				age = format_age(r.created_at);
				strvec_pushf(&cells[s], "%s v%d", apps[i].name,
				    r.version);
				strvec_pushf(&cells[s], "  %s  %s",
				    short_sha(r.commit, sha), age);
				free(age);
				release_clear(&r);
			} else {
				strvec_push(&cells[s], apps[i].name);
				strvec_push(&cells[s], apps[i].branch != NULL ?
				    "  no release: push to deploy" :
				    "  no release: promote to it");
			}
		}
		if (cells[s].nr > 0)
			ncols++;
		if (cells[s].nr > rows)
			rows = cells[s].nr;
	}
	table_init(&t, ncols);
	for (i = 0; i <= rows; i++) {
		struct strvec row = STRVEC_INIT;

		for (s = 0; s < NSTAGES; s++) {
			if (cells[s].nr == 0)
				continue;
			if (i == 0)
				strvec_push(&row, stages[s]);
			else
				strvec_push(&row, i - 1 < cells[s].nr ?
				    cells[s].v[i - 1] : "");
		}
		for (s = 0; s < row.nr; s++)
			strvec_push(&t.cells, row.v[s]);
		strvec_clear(&row);
	}
	table_print(&t, stdout);
	table_clear(&t);
	for (s = 0; s < NSTAGES; s++)
		strvec_clear(&cells[s]);
}

static int
cmd_pipelines_info(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct app *apps = NULL;
	size_t napps = 0, i;
	char *repo;

	if (ctx->pipeline == NULL && ctx->argc > 0)
		ctx->pipeline = ctx->argv[0];
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_app_list(ctx->root.db, p.id, &apps, &napps) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	repo = root_repo_path(&ctx->root, p.name);
	if (ctx->json) {
		json_t *japps = json_array();

		for (i = 0; i < napps; i++) {
			struct release r;
			int rc;

			memset(&r, 0, sizeof(r));
			rc = ledger_release_current(ctx->root.db, apps[i].id,
			    &r);
			json_array_append_new(japps, json_pack(
			    "{s:s, s:s, s:o, s:o, s:o}", "name", apps[i].name,
			    "stage", apps[i].stage, "branch",
			    json_str_or_null(apps[i].branch), "release",
			    rc == 0 ? json_integer(r.version) : json_null(),
			    "commit", json_str_or_null(r.commit)));
			if (rc == 0)
				release_clear(&r);
		}
		cmd_print_json(json_pack("{s:s, s:s, s:s, s:o}", "name",
		    p.name, "deploy_branch", p.deploy_branch, "repo", repo,
		    "apps", japps));
	} else {
		printf("=== %s\n", p.name);
		printf("repo           %s\ndeploy branch  %s\n\n", repo,
		    p.deploy_branch);
		if (napps == 0)
			printf("No apps yet; add one with: berth apps:create "
			    "NAME -p %s --stage staging --branch %s\n",
			    p.name, p.deploy_branch);
		else
			print_columns(ctx, apps, napps);
	}
	free(repo);
	app_list_free(apps, napps);
	pipeline_clear(&p);
	return 0;
}

const struct berth_cmd cmd_pipelines_entry = {
	.name = "pipelines",
	.access = { .scope = ACCESS_SELF, .role = ROLE_VIEWER },
	.usage = "pipelines [--json]",
	.summary = "list pipelines",
	.options = cmd_opts_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_pipelines,
};

const struct berth_cmd cmd_pipelines_create_entry = {
	.name = "pipelines:create",
	.access = { .scope = ACCESS_SERVER },
	.usage = "pipelines:create NAME [--deploy-branch BRANCH] [--no-apps]",
	.summary =
	"create a pipeline: a bare repo plus NAME-staging and NAME apps",
	.help =
	"Creates ROOT/repos/NAME.git with berth-receive linked as its\n"
	"pre-receive and post-receive hooks, an app NAME-staging (stage\n"
	"staging) that auto-deploys BRANCH (default: main), and an app NAME\n"
	"(stage production) that is promoted to, never pushed to.\n"
	"--no-apps creates the pipeline and repo alone.",
	.options = (const struct cmd_option[]){
		{ .name = "deploy-branch", .kind = CMD_STRING,
		    .arg = "BRANCH",
		    .help = "the branch NAME-staging deploys "
		    "(default: main)" },
		{ .name = "no-apps", .kind = CMD_FLAG,
		    .help = "create the pipeline and its repo alone" },
		{ 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = cmd_pipelines_create,
};

const struct berth_cmd cmd_pipelines_info_entry = {
	.name = "pipelines:info",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "pipelines:info -p PIPELINE [--json]",
	.summary =
	"show a pipeline's apps by stage with their current releases",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 1,
	.exec = cmd_pipelines_info,
};
