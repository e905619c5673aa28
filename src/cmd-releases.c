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

static json_t *
release_json(const struct release *r)
{
	return json_pack("{s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:o}",
	    "version", r->version, "status", r->status, "kind", r->kind,
	    "description", json_str_or_null(r->description),
	    "actor", json_str_or_null(r->actor),
	    "commit", json_str_or_null(r->commit),
	    "slug_id", json_str_or_null(r->slug_id),
	    "created_at", r->created_at,
	    "finished_at", json_str_or_null(r->finished_at));
}

static int
cmd_releases(struct cmd_ctx *ctx)
{
	struct app a;
	struct release *rs = NULL;
	size_t nr = 0, i;
	struct table t;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	cmd_settle_idle(ctx, &a);
	if (ledger_release_list(ctx->root.db, a.id, cmd_num(ctx, "num",
	    RELEASES_DEFAULT_NUM), &rs, &nr) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	if (ctx->json) {
		json_t *arr = json_array();

		for (i = 0; i < nr; i++)
			json_array_append_new(arr, release_json(&rs[i]));
		cmd_print_json(arr);
	} else if (nr == 0)
		printf("%s has no releases yet; push to deploy it\n", a.name);
	else {
		table_init(&t, 5);
		for (i = 0; i < nr; i++) {
			char ver[16], *when = format_time(rs[i].created_at);

			snprintf(ver, sizeof(ver), "v%d", rs[i].version);
			table_row(&t, ver, rs[i].description, rs[i].actor,
			    when, rs[i].status);
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
	char sha[8], *created, *finished;
	size_t i;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	cmd_settle_idle(ctx, &a);
	if (cmd_need_release(ctx, &a, ctx->argv[0], &r) != 0) {
		app_clear(&a);
		return 1;
	}
	if (r.config != NULL && kvlist_from_json(r.config, &cfg) < 0)
		kvlist_clear(&cfg);
	for (i = 0; i < cfg.nr; i++)
		strbuf_addf(&keys, "%s%s", i ? ", " : "", cfg.items[i].key);

	if (ctx->json) {
		json_t *j = release_json(&r), *jkeys = json_array();

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
		table_init(&t, 2);
		table_row(&t, "Status:", r.status);
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
