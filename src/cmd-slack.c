/*
 * cmd-slack.c - slack:connect, slack:info, slack:disconnect, slack:link,
 * slack:unlink: the server's Slack app (its signing secret, which
 * berthd's /slack/ endpoints check, slack.h) and which Slack user is
 * which berth user, so that /berth commands run with that user's roles.
 */
#include "cmd.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_KEY "slack.signing_secret"

static int
cmd_slack_connect(struct cmd_ctx *ctx)
{
	const char *file = cmd_opt(ctx, "signing-secret-file");
	char *secret = NULL;
	int ret = 1;

	if (file == NULL)
		return cmd_fail("slack:connect needs --signing-secret-file FILE "
		    "(your Slack app's Basic Information: Signing Secret)");
	if (ctx->remote)
		return cmd_fail("--signing-secret-file reads a file on the "
		    "server: run slack:connect there");
	if (cmd_read_secret("--signing-secret-file", file, "signing secret",
	    "hex digits, from your Slack app's Basic Information",
	    &secret) < 0) {
		cmd_fail_last();
		goto out;
	}
	if (strlen(secret) < 16 || strspn(secret, "0123456789abcdefABCDEF") !=
	    strlen(secret)) {
		cmd_fail("%s does not hold a Slack signing secret (a line of "
		    "hex digits, from your Slack app's Basic Information)",
		    file);
		goto out;
	}
	if (ledger_setting_set(ctx->root.db, SECRET_KEY, secret) < 0) {
		cmd_fail_last();
		goto out;
	}
	access_log(&ctx->root, NULL, "connected Slack");
	printf("Slack connected. Point your Slack app's slash command /berth "
	    "at http://berth.%s/slack/commands and Interactivity at "
	    "/slack/interactive; each person then runs /berth login.\n",
	    ctx->root.cfg.domain);
	ret = 0;
out:
	free(secret);
	return ret;
}

static int
cmd_slack_info(struct cmd_ctx *ctx)
{
	char *secret = NULL;
	int rc = ledger_setting_get(ctx->root.db, SECRET_KEY, &secret);

	if (rc < 0)
		return cmd_fail_last();
	if (rc == 1)
		printf("Slack is not connected; connect it with: berth "
		    "slack:connect --signing-secret-file FILE\n");
	else
		printf("Slack is connected (signing secret set); /berth "
		    "commands arrive at berthd's /slack/commands%s\n",
		    ctx->root.cfg.http_listen[0] ? "" :
		    " once berth.ini [http] listen is set");
	free(secret);
	return 0;
}

static int
cmd_slack_disconnect(struct cmd_ctx *ctx)
{
	if (ledger_setting_set(ctx->root.db, SECRET_KEY, NULL) < 0)
		return cmd_fail_last();
	access_log(&ctx->root, NULL, "disconnected Slack");
	printf("Slack disconnected: berthd refuses /berth commands until "
	    "slack:connect\n");
	return 0;
}

static int
cmd_slack_link(struct cmd_ctx *ctx)
{
	const char *user = cmd_opt(ctx, "user");
	unsigned char d[32];
	char hash[65], now[32], *slack_user = NULL, *code;
	size_t i;
	int rc;

	if (user == NULL && !ctx->remote)
		return cmd_fail("slack:link on the server needs the berth user: "
		    "add -u USER");
	if (user == NULL)
		user = ctx->user.name;
	if (cmd_check_self(ctx, user, "linking another user") != 0)
		return 1;
	/* Codes are shown in capitals with a dash: accept either. */
	code = xstrdup(ctx->argv[0]);
	for (i = 0; code[i] != '\0'; i++)
		if (code[i] >= 'a' && code[i] <= 'z')
			code[i] = (char)(code[i] - 'a' + 'A');
	crypto_sha256(code, strlen(code), d);
	crypto_hex(d, sizeof(d), hash);
	free(code);
	now_iso(now);
	rc = ledger_slack_link(ctx->root.db, hash, now, user, &slack_user);
	if (rc != 0)
		return cmd_fail_last();
	access_log(&ctx->root, NULL, "linked Slack user %s to %s", slack_user,
	    user);
	printf("Linked Slack user %s to %s: /berth commands now run with %s's "
	    "roles\n", slack_user, user, user);
	free(slack_user);
	return 0;
}

static int
cmd_slack_unlink(struct cmd_ctx *ctx)
{
	const char *user = cmd_opt(ctx, "user");
	int n;

	if (user == NULL && !ctx->remote)
		return cmd_fail("slack:unlink on the server needs the berth "
		    "user: add -u USER");
	if (user == NULL)
		user = ctx->user.name;
	if (cmd_check_self(ctx, user, "unlinking another user") != 0)
		return 1;
	if ((n = ledger_slack_unlink(ctx->root.db, user)) < 0)
		return cmd_fail_last();
	printf("%s has %s Slack link%s\n", user, n > 0 ? "no" : "had no",
	    n > 0 ? " now" : "");
	return 0;
}

#define OPT_USER(what) { .name = "user", .short_name = 'u', \
	.kind = CMD_STRING, .arg = "USER", .help = (what) }

const struct berth_cmd cmd_slack_connect_entry = {
	.name = "slack:connect",
	.access = { .scope = ACCESS_SERVER },
	.usage = "slack:connect --signing-secret-file FILE",
	.summary = "let the team's Slack app send /berth commands to berthd",
	.help =
	"FILE holds the Slack app's signing secret; berthd refuses requests\n"
	"not signed with it, or signed more than 5 minutes ago.",
	.options = (const struct cmd_option[]){
		{ .name = "signing-secret-file", .kind = CMD_STRING,
		    .arg = "FILE", .help = "the Slack app's signing secret" },
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_slack_connect,
};

const struct berth_cmd cmd_slack_info_entry = {
	.name = "slack:info",
	.access = { .scope = ACCESS_SELF },
	.usage = "slack:info",
	.summary = "say whether Slack is connected (never the secret)",
	.min_args = 0, .max_args = 0,
	.exec = cmd_slack_info,
};

const struct berth_cmd cmd_slack_disconnect_entry = {
	.name = "slack:disconnect",
	.access = { .scope = ACCESS_SERVER },
	.usage = "slack:disconnect",
	.summary = "forget the Slack app's signing secret",
	.min_args = 0, .max_args = 0,
	.exec = cmd_slack_disconnect,
};

const struct berth_cmd cmd_slack_link_entry = {
	.name = "slack:link",
	.access = { .scope = ACCESS_SELF },
	.usage = "slack:link CODE [-u USER]",
	.summary = "link your Slack user to your berth user",
	.help =
	"CODE is what /berth login answered in Slack (valid 10 minutes).\n"
	"Over SSH it links you (ssh HOST slack:link CODE); on the server,\n"
	"-u names the berth user.",
	.options = (const struct cmd_option[]){
		OPT_USER("the berth user to link"), { 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = cmd_slack_link,
};

const struct berth_cmd cmd_slack_unlink_entry = {
	.name = "slack:unlink",
	.access = { .scope = ACCESS_SELF },
	.usage = "slack:unlink [-u USER]",
	.summary = "unlink a berth user's Slack users",
	.options = (const struct cmd_option[]){
		OPT_USER("the berth user to unlink"), { 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_slack_unlink,
};
