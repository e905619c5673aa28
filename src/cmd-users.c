/*
 * cmd-users.c - users, users:add, users:remove: the berth users people
 * reach the server as (access.h). Only a server admin, or a local user,
 * manages them.
 */
#include "cmd.h"
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmd_users(struct cmd_ctx *ctx)
{
	struct user *us = NULL;
	struct table t;
	size_t nr = 0, i;
	json_t *arr;

	if (ledger_user_list(ctx->root.db, &us, &nr) < 0)
		return cmd_fail_last();
	if (ctx->json) {
		arr = json_array();
		for (i = 0; i < nr; i++)
			json_array_append_new(arr, json_pack("{s:s, s:b, s:i, "
			    "s:s}", "name", us[i].name, "admin", us[i].admin,
			    "keys", us[i].nkeys, "created_at",
			    us[i].created_at));
		user_list_free(us, nr);
		return cmd_print_json(arr);
	}
	if (nr == 0)
		printf("No users yet; add one with: berth users:add NAME "
		    "[--admin]\n");
	table_init(&t, 4);
	if (nr > 0)
		table_row(&t, "NAME", "ROLE", "KEYS", "CREATED");
	for (i = 0; i < nr; i++) {
		char keys[16];

		snprintf(keys, sizeof(keys), "%d", us[i].nkeys);
		table_row(&t, us[i].name, us[i].admin ? "server admin" :
		    "member", keys, us[i].created_at);
	}
	table_print(&t, stdout);
	table_clear(&t);
	user_list_free(us, nr);
	return 0;
}

static int
cmd_users_add(struct cmd_ctx *ctx)
{
	const char *name = ctx->argv[0];
	int admin = cmd_flag(ctx, "admin");

	if (name_check_user(name) < 0 || ledger_user_add(ctx->root.db, name,
	    admin) < 0)
		return cmd_fail_last();
	access_log(&ctx->root, NULL, "added user %s%s", name,
	    admin ? " (server admin)" : "");
	printf("Added %s%s. Next: berth keys:add %s KEY.pub, then berth "
	    "access:grant %s -p PIPELINE --role ROLE\n", name,
	    admin ? " as a server admin" : "", name, name);
	return 0;
}

static int
cmd_users_remove(struct cmd_ctx *ctx)
{
	const char *name = ctx->argv[0];

	if (name_check_user(name) < 0 || ledger_user_remove(ctx->root.db,
	    name) < 0)
		return cmd_fail_last();
	/* Their keys must stop working now, not at the next keys:add. */
	if (access_keys_install(&ctx->root) < 0)
		return cmd_fail("removed %s, but their keys may still log in: "
		    "%s; fix it and run: berth keys:remove (any key) or "
		    "users:remove again", name, berth_last_error());
	access_log(&ctx->root, NULL, "removed user %s", name);
	printf("Removed %s with their keys, roles and tokens\n", name);
	return 0;
}

const struct berth_cmd cmd_users_entry = {
	.name = "users",
	.access = { .scope = ACCESS_SERVER },
	.usage = "users [--json]",
	.summary = "list berth's users",
	.help =
	"People reach berth over SSH as berth users (berth shell USER), each\n"
	"with their keys (berth keys) and a role per pipeline (berth access).\n"
	"A server admin may do everything.",
	.options = cmd_opts_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_users,
};

const struct berth_cmd cmd_users_add_entry = {
	.name = "users:add",
	.access = { .scope = ACCESS_SERVER },
	.usage = "users:add NAME [--admin]",
	.summary = "add a berth user",
	.help =
	"NAME: 2-30 lowercase letters, digits and '-'. A user can do nothing\n"
	"until given a key (keys:add) and a role (access:grant), or --admin.",
	.options = (const struct cmd_option[]){
		{ .name = "admin", .kind = CMD_FLAG,
		    .help = "a server admin, who may do everything" },
		{ 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = cmd_users_add,
};

const struct berth_cmd cmd_users_remove_entry = {
	.name = "users:remove",
	.access = { .scope = ACCESS_SERVER },
	.usage = "users:remove NAME",
	.summary = "remove a user with their keys, roles and tokens",
	.help =
	"Their releases and builds keep their name. The last server admin\n"
	"stays while other users remain.",
	.min_args = 1, .max_args = 1,
	.exec = cmd_users_remove,
};
