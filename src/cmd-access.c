/*
 * cmd-access.c - access, access:grant, access:revoke: who has which
 * role on a pipeline (access.h says what each role may do).
 */
#include "cmd.h"
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmd_access(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct grant *gs = NULL;
	struct table t;
	size_t nr = 0, i;
	json_t *arr;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_grant_list(ctx->root.db, p.name, NULL, &gs, &nr) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	if (ctx->json) {
		arr = json_array();
		for (i = 0; i < nr; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, "
			    "s:s}", "user", gs[i].user, "role", gs[i].role,
			    "granted_by", gs[i].granted_by, "created_at",
			    gs[i].created_at));
		cmd_print_json(arr);
	} else if (nr == 0) {
		printf("Nobody has a role on %s yet (server admins and local "
		    "users may do everything); give one with: berth "
		    "access:grant USER -p %s --role ROLE\n", p.name, p.name);
	} else {
		printf("=== %s access\n", p.name);
		table_init(&t, 4);
		table_row(&t, "USER", "ROLE", "GRANTED BY", "SINCE");
		for (i = 0; i < nr; i++)
			table_row(&t, gs[i].user, gs[i].role, gs[i].granted_by,
			    gs[i].created_at);
		table_print(&t, stdout);
		table_clear(&t);
	}
	grant_list_free(gs, nr);
	pipeline_clear(&p);
	return 0;
}

/* access:grant (role not NULL) and access:revoke. */
static int
change(struct cmd_ctx *ctx, const char *role)
{
	const char *user = ctx->argv[0];
	struct pipeline p;
	enum role r;
	char *actor;
	int rc;

	if (name_check_user(user) < 0)
		return cmd_fail_last();
	if (role != NULL && role_parse(role, &r) < 0)
		return cmd_fail_last();
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	actor = actor_name();
	rc = role != NULL ? ledger_grant_set(ctx->root.db, user, p.name,
	    role, actor) : ledger_grant_revoke(ctx->root.db, user, p.name,
	    actor);
	if (rc == 0) {
		access_log(&ctx->root, actor, "%s %s on %s%s%s",
		    role != NULL ? "granted" : "revoked", user, p.name,
		    role != NULL ? " as " : "", role != NULL ? role : "");
		if (role != NULL)
			printf("%s is now a%s %s on %s\n", user,
			    r == ROLE_ADMIN ? "n" : "", role, p.name);
		else
			printf("%s has no role on %s now\n", user, p.name);
	}
	free(actor);
	pipeline_clear(&p);
	return rc == 0 ? 0 : cmd_fail_last();
}

static int
cmd_access_grant(struct cmd_ctx *ctx)
{
	if (cmd_opt(ctx, "role") == NULL)
		return cmd_fail("access:grant needs a role: add --role viewer|"
		    "developer|deployer|admin");
	return change(ctx, cmd_opt(ctx, "role"));
}

static int
cmd_access_revoke(struct cmd_ctx *ctx)
{
	return change(ctx, NULL);
}

const struct berth_cmd cmd_access_entry = {
	.name = "access",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "access -p PIPELINE [--json]",
	.summary = "list who has which role on a pipeline",
	.help =
	"Roles, each with what the one before it may do:\n"
	"  viewer     fetch; read releases, builds, ps, logs, CI, config var\n"
	"             names, pipelines:info and pipelines:diff\n"
	"  developer  push branches other than the deploy branch (review apps,\n"
	"             CI), ci:rerun, run on review apps\n"
	"  deployer   push the deploy branch, promote into non-production\n"
	"             stages; config, rollback, ps and run on non-production\n"
	"  admin      all of that on production, review app and CI settings,\n"
	"             access changes, apps:destroy\n"
	"Server admins (users:add --admin) and local users may do everything.",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_access,
};

const struct berth_cmd cmd_access_grant_entry = {
	.name = "access:grant",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "access:grant USER -p PIPELINE --role ROLE",
	.summary = "give a user a role on a pipeline (replacing theirs)",
	.help = "ROLE: viewer, developer, deployer or admin (see: berth help "
	"access).",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "role", .short_name = 'r', .kind = CMD_STRING,
		    .arg = "ROLE", .help = "viewer|developer|deployer|admin" },
		{ 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = cmd_access_grant,
};

const struct berth_cmd cmd_access_revoke_entry = {
	.name = "access:revoke",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "access:revoke USER -p PIPELINE",
	.summary = "take a user's role on a pipeline away",
	.help = "A pipeline's last admin stays while it has other members.",
	.options = cmd_opts_pipeline,
	.min_args = 1, .max_args = 1,
	.exec = cmd_access_revoke,
};
