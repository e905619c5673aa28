/*
 * cmd-releases.c - releases, releases:info: an app's release history,
 * newest first, and one release in full. Config var values are never
 * shown: a release lists only the keys of its config snapshot.
 */
#include "cmd.h"
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELEASES_DEFAULT_NUM 15

/* current: r is the release the app runs (Heroku's "current"). */
static json_t *
release_json(const struct release *r, int current)
{
	return json_pack("{s:i, s:s, s:b, s:s, s:o, s:o, s:o, s:o, s:s, s:o}",
	    "version", r->version, "status", r->status, "current", current,
	    "kind", r->kind,
	    "description", json_str_or_null(r->description),
	    "actor", json_str_or_null(r->actor),
	    "commit", json_str_or_null(r->commit),
	    "slug_id", json_str_or_null(r->slug_id),
	    "created_at", r->created_at,
	    "finished_at", json_str_or_null(r->finished_at));
}

/* The version app a runs (its newest that succeeded), 0 when none; -1
 * on error, berth_last_error() says why. */
static int
current_version(struct cmd_ctx *ctx, const struct app *a)
{
	struct release cur;
	int rc, v;

	memset(&cur, 0, sizeof(cur));
	rc = ledger_release_current(ctx->root.db, a->id, &cur);
	v = rc == 0 ? cur.version : rc > 0 ? 0 : -1;
	release_clear(&cur);
	return v;
}

static int
cmd_releases(struct cmd_ctx *ctx)
{
	struct app a;
	struct release *rs = NULL;
	size_t nr = 0, i;
	struct table t;
	int current;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	cmd_settle_idle(ctx, &a);
	current = current_version(ctx, &a);
	if (current < 0 || ledger_release_list(ctx->root.db, a.id, cmd_num(ctx,
	    "num", RELEASES_DEFAULT_NUM), &rs, &nr) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	if (ctx->json) {
		json_t *arr = json_array();

		for (i = 0; i < nr; i++)
			json_array_append_new(arr, release_json(&rs[i],
			    rs[i].version == current));
		cmd_print_json(arr);
	} else if (nr == 0)
		printf("%s has no releases yet; push to deploy it\n", a.name);
	else {
		/* Heroku's header; the current release is marked too. */
		if (current > 0)
			printf("=== %s Releases - Current: v%d\n", a.name,
			    current);
		else
			printf("=== %s Releases - Current: none (no release "
			    "succeeded yet)\n", a.name);
		table_init(&t, 6);
		for (i = 0; i < nr; i++) {
			char ver[16], *when = format_time(rs[i].created_at);

			snprintf(ver, sizeof(ver), "v%d", rs[i].version);
			table_row(&t, ver, rs[i].description, rs[i].actor,
			    when, rs[i].status, rs[i].version == current ?
			    "(current)" : "");
			free(when);
		}
		table_print(&t, stdout);
		table_clear(&t);
	}
	release_list_free(rs, nr);
	app_clear(&a);
	return 0;
}

static int
cmd_releases_info(struct cmd_ctx *ctx)
{
	struct app a;
	struct release r;
	struct kvlist cfg = { NULL, 0 };
	struct strbuf keys = STRBUF_INIT;
	struct table t;
	char sha[8], *created, *finished, *status;
	size_t i;
	int current, is_current;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	cmd_settle_idle(ctx, &a);
	if (cmd_need_release(ctx, &a, ctx->argv[0], &r) != 0) {
		app_clear(&a);
		return 1;
	}
	current = current_version(ctx, &a);
	if (current < 0) {
		release_clear(&r);
		app_clear(&a);
		return cmd_fail_last();
	}
	is_current = r.version == current;
	if (r.config != NULL && kvlist_from_json(r.config, &cfg) < 0)
		kvlist_clear(&cfg);
	for (i = 0; i < cfg.nr; i++)
		strbuf_addf(&keys, "%s%s", i ? ", " : "", cfg.items[i].key);

	if (ctx->json) {
		json_t *j = release_json(&r, is_current),
		    *jkeys = json_array();

		for (i = 0; i < cfg.nr; i++)
			json_array_append_new(jkeys,
			    json_string(cfg.items[i].key));
		json_object_set_new(j, "app", json_string(a.name));
		json_object_set_new(j, "config_vars", jkeys);
		cmd_print_json(j);
	} else {
		created = format_time(r.created_at);
		finished = r.finished_at ? format_time(r.finished_at) : NULL;
		printf("=== %s Release v%d\n", a.name, r.version);
		status = xasprintf("%s%s", r.status, is_current ?
		    " (current)" : "");
		table_init(&t, 2);
		table_row(&t, "Status:", status);
		table_row(&t, "Kind:", r.kind);
		table_row(&t, "Description:", r.description);
		table_row(&t, "By:", r.actor);
		table_row(&t, "Commit:", r.commit ? r.commit :
		    short_sha(NULL, sha));
		table_row(&t, "Slug:", r.slug_id ? r.slug_id : "-");
		table_row(&t, "Created:", created);
		table_row(&t, "Finished:", finished ? finished : "-");
		table_row(&t, "Config vars:", cfg.nr ? keys.buf : "none");
		table_print(&t, stdout);
		table_clear(&t);
		free(status);
		free(created);
		free(finished);
	}
	strbuf_release(&keys);
	kvlist_clear(&cfg);
	release_clear(&r);
	app_clear(&a);
	return 0;
}

const struct berth_cmd cmd_releases_entry = {
	.name = "releases",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "releases -a APP [-n NUM] [--json]",
	.summary = "list an app's releases, newest first (default 15)",
	.help =
	"Under a header naming the current release (the newest that\n"
	"succeeded: the one the app runs), a line per release: version,\n"
	"description, who made it, when, and its status; the current one\n"
	"is marked (current). --json gives each a \"current\" true or false.",
	.options = (const struct cmd_option[]){
		CMD_OPT_APP,
		CMD_OPT_NUM("how many releases (default 15)"),
		CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_releases,
};

const struct berth_cmd cmd_releases_info_entry = {
	.name = "releases:info",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "releases:info vN -a APP [--json]",
	.summary = "show one release: status, commit, slug, config var names",
	.help =
	"Lists the keys of the release's config snapshot, never the values.",
	.options = cmd_opts_app_json,
	.min_args = 1, .max_args = 1,
	.exec = cmd_releases_info,
};
