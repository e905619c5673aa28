/*
 * cmd-apps.c - apps, apps:create, apps:info, apps:destroy: list the
 * live apps, add one to a pipeline stage, show one, and destroy one
 * (its ledger history stays; its config vars and build cache go).
 */
#include "cmd.h"
#include "runtime.h"
#include "names.h"
#include "procfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Take the app from "APP" or "-a APP"; both must agree. */
static int
app_from_args(struct cmd_ctx *ctx)
{
	if (ctx->argc == 0)
		return 0;
	if (ctx->app != NULL && strcmp(ctx->app, ctx->argv[0]) != 0)
		return cmd_fail("%s names two apps (%s and %s): give one",
		    ctx->cmd->name, ctx->argv[0], ctx->app);
	ctx->app = ctx->argv[0];
	return 0;
}

static int
cmd_apps(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct app *apps = NULL;
	size_t nr = 0, shown = 0, i;
	json_t *arr = NULL;
	struct table t;

	memset(&p, 0, sizeof(p));
	ctx->checked = 1;	/* a berth user sees the apps they may */
	if (ctx->pipeline != NULL && cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_app_list(ctx->root.db, p.id, &apps, &nr) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	if (ctx->json)
		arr = json_array();
	table_init(&t, 5);
	table_row(&t, "NAME", "PIPELINE", "STAGE", "RELEASE", "AUTO-DEPLOYS");
	for (i = 0; i < nr; i++) {
		struct release r;
		char ver[16] = "-";
		int rc;

		if (!cmd_may(ctx, apps[i].pipeline_id, ROLE_VIEWER))
			continue;
		shown++;
		memset(&r, 0, sizeof(r));
		rc = ledger_release_current(ctx->root.db, apps[i].id, &r);
		if (rc == 0)
			snprintf(ver, sizeof(ver), "v%d", r.version);
		if (ctx->json)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, "
			    "s:o, s:o, s:s}", "name", apps[i].name,
			    "pipeline", apps[i].pipeline, "stage",
			    apps[i].stage, "release", rc == 0 ?
			    json_integer(r.version) : json_null(), "branch",
			    json_str_or_null(apps[i].branch), "created_at",
			    apps[i].created_at));
		else
			table_row(&t, apps[i].name, apps[i].pipeline,
			    apps[i].stage, ver, apps[i].branch ?
			    apps[i].branch : "-");
		if (rc == 0)
			release_clear(&r);
	}
	if (ctx->json)
		cmd_print_json(arr);
	else if (shown == 0 && ctx->remote)
		printf("No apps you have a role on; ask an admin: berth "
		    "access:grant %s -p PIPELINE --role viewer\n",
		    ctx->user.name);
	else if (shown == 0)
		printf("No apps yet; create one with: berth apps:create NAME "
		    "-p %s --stage staging\n", p.name ? p.name : "PIPELINE");
	else
		table_print(&t, stdout);
	table_clear(&t);
	app_list_free(apps, nr);
	pipeline_clear(&p);
	return 0;
}

static int
cmd_apps_create(struct cmd_ctx *ctx)
{
	const char *name = ctx->argv[0];
	const char *stage = cmd_opt(ctx, "stage");
	const char *branch = cmd_opt(ctx, "branch");
	struct pipeline p;

	if (name_check_app(name) < 0)
		return cmd_fail_last();
	if (stage == NULL)
		return cmd_fail("apps:create needs a stage: add --stage "
		    "review|development|staging|production");
	if (name_check_stage(stage) < 0 || (branch != NULL &&
	    name_check_branch(branch) < 0))
		return cmd_fail_last();
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	/* A branch deploys one app: a push releases it or is refused. */
	if (branch != NULL) {
		struct app *apps = NULL;
		size_t n = 0;
		int rc = ledger_apps_for_branch(ctx->root.db, p.id, branch,
		    &apps, &n);

		if (rc == 0 && n > 0)
			cmd_fail("%s already auto-deploys %s; a branch "
			    "deploys one app (promote to the others: berth "
			    "pipelines:promote)", apps[0].name, branch);
		else if (rc < 0)
			cmd_fail_last();
		app_list_free(apps, n);
		if (rc < 0 || n > 0) {
			pipeline_clear(&p);
			return 1;
		}
	}
	if (stage != NULL && strcmp(stage, "review") == 0 &&
	    branch != NULL) {
		pipeline_clear(&p);
		return cmd_fail("review apps are made by pushing their branch "
		    "(or berth reviewapps:create), not with --branch");
	}
	if (ledger_app_create(ctx->root.db, name, p.id, stage,
	    branch, NULL) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	printf("Created app %s in pipeline %s (stage %s%s%s)\n", name, p.name,
	    stage, branch ? ", auto-deploys " : "",
	    branch ? branch : "");
	pipeline_clear(&p);
	return 0;
}

/* "web, worker" from a slug's process types JSON; caller frees. */
static char *
type_names(const char *json)
{
	struct proctypes pt = { NULL, 0 };
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	if (json != NULL && proctypes_from_json(json, &pt) == 0)
		for (i = 0; i < pt.nr; i++)
			strbuf_addf(&sb, "%s%s", i ? ", " : "",
			    pt.items[i].name);
	proctypes_clear(&pt);
	if (sb.len == 0)
		strbuf_addstr(&sb, "none");
	return strbuf_detach(&sb);
}

/* What apps:info shows about one app; app_view_clear() frees it. */
struct app_view {
	struct app a;
	struct kvlist cfg;	/* its config vars (only the keys are shown) */
	struct release r;	/* its current release, if have_rel */
	struct slug s;		/* that release's slug, if have_slug */
	int have_rel;
	int have_slug;
	char *repo;		/* its pipeline's repository */
};

/*
 * Fill v's current release, slug and repository path for the app and
 * config vars already in v. A missing release or slug is no error: it
 * is shown as such.
 */
static void
app_view_load(struct cmd_ctx *ctx, struct app_view *v)
{
	v->have_rel = ledger_release_current(ctx->root.db, v->a.id,
	    &v->r) == 0;
	if (v->have_rel && v->r.slug_id != NULL)
		v->have_slug = ledger_slug_get(ctx->root.db, v->r.slug_id,
		    &v->s) == 0;
	v->repo = root_repo_path(&ctx->root, v->a.pipeline);
}

static void
app_view_clear(struct app_view *v)
{
	free(v->repo);
	kvlist_clear(&v->cfg);
	if (v->have_slug)
		slug_clear(&v->s);
	if (v->have_rel)
		release_clear(&v->r);
	app_clear(&v->a);
}

/* The app as one JSON object: config var names, never their values. */
static void
print_app_info_json(const struct app_view *v)
{
	json_t *jkeys = json_array(), *jrel = json_null();
	json_t *jslug = json_null();
	size_t i;

	for (i = 0; i < v->cfg.nr; i++)
		json_array_append_new(jkeys, json_string(v->cfg.items[i].key));
	if (v->have_rel)
		jrel = json_pack("{s:i, s:s, s:o, s:o, s:o, s:s}",
		    "version", v->r.version, "status", v->r.status,
		    "commit", json_str_or_null(v->r.commit),
		    "description", json_str_or_null(v->r.description),
		    "actor", json_str_or_null(v->r.actor),
		    "created_at", v->r.created_at);
	if (v->have_slug) {
		json_t *jt = json_loads(v->s.process_types, 0, NULL);

		jslug = json_pack("{s:s, s:I, s:o, s:s}", "id", v->s.id,
		    "size", (json_int_t)v->s.size, "process_types",
		    jt ? jt : json_object(), "buildpacks", v->s.buildpacks);
	}
	cmd_print_json(json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s, "
	    "s:s}", "name", v->a.name, "pipeline", v->a.pipeline,
	    "stage", v->a.stage, "branch", json_str_or_null(v->a.branch),
	    "release", jrel, "slug", jslug, "config_vars", jkeys,
	    "repo", v->repo, "created_at", v->a.created_at));
}

/*
 * The app for people: "=== NAME", then a two-column table of its
 * pipeline, stage, auto-deploy branch, release, slug, config var names,
 * web URL, repository and creation time.
 */
static void
print_app_info(struct cmd_ctx *ctx, const struct app_view *v)
{
	struct strbuf line = STRBUF_INIT;
	struct table t;
	char *url, *created;
	size_t i;

	printf("=== %s\n", v->a.name);
	table_init(&t, 2);
	table_row(&t, "Pipeline:", v->a.pipeline);
	table_row(&t, "Stage:", v->a.stage);
	table_row(&t, "Auto-deploys:", v->a.branch ? v->a.branch :
	    "no (promoted or released by hand)");
	if (v->have_rel) {
		char sha[8], *age = format_age(v->r.created_at);

		strbuf_addf(&line, "v%d  %s  (%s, %s)", v->r.version,
		    v->r.description ? v->r.description : "",
		    short_sha(v->r.commit, sha), age);
		table_row(&t, "Release:", line.buf);
		free(age);
	} else
		table_row(&t, "Release:", "none yet; push to deploy it");
	if (v->have_slug) {
		char size[32], *types = type_names(v->s.process_types);

		human_size(v->s.size, size);
		strbuf_reset(&line);
		strbuf_addf(&line, "%s  %s", v->s.id, size);
		table_row(&t, "Slug:", line.buf);
		table_row(&t, "Process types:", types);
		free(types);
	}
	strbuf_reset(&line);
	if (v->cfg.nr == 0)
		strbuf_addstr(&line, "none");
	else {
		struct strbuf keys = STRBUF_INIT;

		for (i = 0; i < v->cfg.nr; i++)
			strbuf_addf(&keys, "%s%s", i ? ", " : "",
			    v->cfg.items[i].key);
		strbuf_addf(&line, "%zu (%s)", v->cfg.nr, keys.buf);
		strbuf_release(&keys);
	}
	table_row(&t, "Config vars:", line.buf);
	url = runtime_url(&ctx->root, v->a.name);
	table_row(&t, "Web URL:", url);
	free(url);
	table_row(&t, "Repo:", v->repo);
	created = format_time(v->a.created_at);
	table_row(&t, "Created:", created);
	free(created);
	table_print(&t, stdout);
	table_clear(&t);
	strbuf_release(&line);
}

static int
cmd_apps_info(struct cmd_ctx *ctx)
{
	struct app_view v;

	memset(&v, 0, sizeof(v));
	if (app_from_args(ctx) != 0 || cmd_need_app(ctx, &v.a) != 0)
		return 1;
	if (ledger_config_get(ctx->root.db, v.a.id, &v.cfg) < 0) {
		app_clear(&v.a);
		return cmd_fail_last();
	}
	app_view_load(ctx, &v);
	if (ctx->json)
		print_app_info_json(&v);
	else
		print_app_info(ctx, &v);
	app_view_clear(&v);
	return 0;
}

static int
cmd_apps_destroy(struct cmd_ctx *ctx)
{
	struct app a;
	const char *confirm = cmd_opt(ctx, "confirm");
	char *cache;
	int ret = 0;

	if (app_from_args(ctx) != 0 || cmd_need_app(ctx, &a) != 0)
		return 1;
	if (confirm == NULL || strcmp(confirm, a.name) != 0) {
		ret = cmd_fail("this destroys %s; to proceed, run: berth "
		    "apps:destroy %s --confirm %s", a.name, a.name, a.name);
		app_clear(&a);
		return ret;
	}
	if (ledger_app_destroy(ctx->root.db, a.id) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	/* Its dynos and route go; without berthd there are none. */
	if (runtime_destroy(&ctx->root, a.name) < 0)
		fprintf(stderr, "berth: warning: %s\n", berth_last_error());
	/* The name was checked when the app was created: safe in a path. */
	cache = root_pathf(&ctx->root, "cache/%s", a.name);
	if (path_exists(cache) && rm_rf(cache) < 0)
		ret = cmd_fail("destroyed %s, but could not remove its build "
		    "cache: %s", a.name, berth_last_error());
	else
		printf("Destroyed %s (its releases stay in the ledger)\n",
		    a.name);
	free(cache);
	app_clear(&a);
	return ret;
}

const struct berth_cmd cmd_apps_entry = {
	.name = "apps",
	.access = { .scope = ACCESS_SELF, .role = ROLE_VIEWER },
	.usage = "apps [-p PIPELINE] [--json]",
	.summary =
	"list apps with their stage, current release and auto-deploy branch",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_apps,
};

const struct berth_cmd cmd_apps_create_entry = {
	.name = "apps:create",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage =
	"apps:create NAME -p PIPELINE --stage STAGE [--branch BRANCH]",
	.summary = "add an app to a pipeline stage",
	.help =
	"STAGE is review, development, staging or production. With --branch,\n"
	"a push to BRANCH builds and deploys the app; without it, the app\n"
	"gets releases by promotion only.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "stage", .short_name = 's', .kind = CMD_STRING,
		    .arg = "STAGE",
		    .help = "review, development, staging or production" },
		CMD_OPT_BRANCH("a push to BRANCH deploys the app"),
		{ 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = cmd_apps_create,
};

const struct berth_cmd cmd_apps_info_entry = {
	.name = "apps:info",
	.alias = "info",		/* heroku info */
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "apps:info [-a APP | APP] [--json]",
	.summary =
	"show an app: pipeline, current release, slug, config var names",
	.help =
	"Config var values are never shown here; see: berth config -a APP.",
	.options = cmd_opts_app_json,
	.min_args = 0, .max_args = 1,
	.exec = cmd_apps_info,
};

const struct berth_cmd cmd_apps_destroy_entry = {
	.name = "apps:destroy",
	.access = { .scope = ACCESS_APP, .role = ROLE_ADMIN },
	.usage = "apps:destroy [-a APP | APP] --confirm APP",
	.summary = "destroy an app (its release history stays in the ledger)",
	.help =
	"Removes the app's config vars, formation and build cache. Its\n"
	"releases, builds and slugs stay in the ledger for the record. The\n"
	"name can be used again afterwards.",
	.options = (const struct cmd_option[]){
		CMD_OPT_APP,
		{ .name = "confirm", .kind = CMD_STRING, .arg = "APP",
		    .help = "the app's name again, to confirm" },
		{ 0 },
	},
	.min_args = 0, .max_args = 1,
	.exec = cmd_apps_destroy,
};
