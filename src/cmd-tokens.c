/*
 * cmd-tokens.c - tokens, tokens:create, tokens:revoke: API tokens for
 * berthd's HTTP endpoint. A token acts with its user's roles. It is
 * printed once; the ledger keeps only its SHA-256, so a copy of the
 * ledger lets nobody in.
 */
#include "cmd.h"
#include "crypto.h"
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Random bytes in a token: 160 bits, as hex after "berth_". */
#define TOKEN_BYTES 20

/* "30d", "12h", "90m" into seconds; -1 after naming the value. */
static long long
parse_expiry(const char *s)
{
	char *end;
	long long n;

	if (*s >= '1' && *s <= '9') {
		n = strtoll(s, &end, 10);
		if (n <= 100000 && end[0] != '\0' && end[1] == '\0') {
			if (*end == 'd')
				return n * 86400;
			if (*end == 'h')
				return n * 3600;
			if (*end == 'm')
				return n * 60;
		}
	}
	berth_error("--expires wants a time like 30d, 12h or 90m, not '%.40s'",
	    s);
	return -1;
}

static int
cmd_tokens_create(struct cmd_ctx *ctx)
{
	const char *user = cmd_opt(ctx, "user");
	const char *expires = cmd_opt(ctx, "expires");
	const char *desc = cmd_opt(ctx, "description");
	unsigned char raw[TOKEN_BYTES], digest[32];
	char hex[2 * TOKEN_BYTES + 1], hash[65], when[32], *token;
	long long secs = 0;
	int64_t id;
	struct user u;

	if (user == NULL && !ctx->remote)
		return cmd_fail("tokens:create needs the user the token acts as: "
		    "add -u USER");
	if (user == NULL)
		user = ctx->user.name;
	if (cmd_check_self(ctx, user, "a token for another user") != 0)
		return 1;
	if (ledger_user_get(ctx->root.db, user, &u) != 0)
		return cmd_fail_last();
	user_clear(&u);
	if (expires != NULL && (secs = parse_expiry(expires)) < 0)
		return cmd_fail_last();
	if (desc != NULL && (strlen(desc) > 200 || !utf8_valid(desc,
	    strlen(desc))))
		return cmd_fail("--description must be at most 200 characters "
		    "of UTF-8");
	if (expires != NULL) {
		time_t t = time(NULL) + (time_t)secs;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (crypto_random(raw, sizeof(raw)) < 0)
		return cmd_fail_last();
	crypto_hex(raw, sizeof(raw), hex);
	token = xasprintf("berth_%s", hex);
	crypto_sha256(token, strlen(token), digest);
	crypto_hex(digest, sizeof(digest), hash);
	if (ledger_token_create(ctx->root.db, user, hash, desc,
	    expires != NULL ? when : NULL, &id) < 0) {
		free(token);
		return cmd_fail_last();
	}
	access_log(&ctx->root, NULL, "created token %lld for %s",
	    (long long)id, user);
	printf("Token %lld for %s, %s%s:\n\n  %s\n\nIt is shown only now: "
	    "keep it like a password. Revoke it with: berth tokens:revoke "
	    "%lld\n", (long long)id, user, expires != NULL ? "expires " :
	    "never expires", expires != NULL ? when : "", token,
	    (long long)id);
	free(token);
	return 0;
}

static int
cmd_tokens(struct cmd_ctx *ctx)
{
	const char *user = ctx->remote && !ctx->user.admin ? ctx->user.name :
	    NULL;
	struct token *ts = NULL;
	struct table t;
	size_t nr = 0, i;
	json_t *arr;

	ctx->checked = 1;
	if (ledger_token_list(ctx->root.db, user, &ts, &nr) < 0)
		return cmd_fail_last();
	if (ctx->json) {
		arr = json_array();
		for (i = 0; i < nr; i++)
			json_array_append_new(arr, json_pack("{s:I, s:s, s:o, "
			    "s:s, s:o, s:o}", "id", (json_int_t)ts[i].id,
			    "user", ts[i].user, "description",
			    json_str_or_null(ts[i].description), "created_at",
			    ts[i].created_at, "expires_at",
			    json_str_or_null(ts[i].expires_at), "last_used_at",
			    json_str_or_null(ts[i].last_used_at)));
		token_list_free(ts, nr);
		return cmd_print_json(arr);
	}
	if (nr == 0)
		printf("No tokens yet; make one with: berth tokens:create%s\n",
		    ctx->remote ? "" : " -u USER");
	table_init(&t, 6);
	if (nr > 0)
		table_row(&t, "ID", "USER", "DESCRIPTION", "CREATED",
		    "EXPIRES", "LAST USED");
	for (i = 0; i < nr; i++) {
		char id[24];

		snprintf(id, sizeof(id), "%lld", (long long)ts[i].id);
		table_row(&t, id, ts[i].user, ts[i].description ?
		    ts[i].description : "-", ts[i].created_at,
		    ts[i].expires_at ? ts[i].expires_at : "never",
		    ts[i].last_used_at ? ts[i].last_used_at : "never");
	}
	table_print(&t, stdout);
	table_clear(&t);
	token_list_free(ts, nr);
	return 0;
}

static int
cmd_tokens_revoke(struct cmd_ctx *ctx)
{
	const char *arg = ctx->argv[0];
	char *end;
	long long id = strtoll(arg, &end, 10);
	int rc;

	if (*arg < '1' || *arg > '9' || *end != '\0')
		return cmd_fail("'%.40s' is not a token id: use a number from "
		    "berth tokens", arg);
	ctx->checked = 1;
	rc = ledger_token_revoke(ctx->root.db, id, ctx->remote &&
	    !ctx->user.admin ? ctx->user.name : NULL);
	if (rc != 0)
		return cmd_fail_last();
	access_log(&ctx->root, NULL, "revoked token %lld", id);
	printf("Revoked token %lld\n", id);
	return 0;
}

const struct berth_cmd cmd_tokens_entry = {
	.name = "tokens",
	.access = { .scope = ACCESS_SELF },
	.usage = "tokens [--json]",
	.summary = "list API tokens (never the tokens themselves)",
	.help = "A user sees their own tokens; a server admin sees all.",
	.options = cmd_opts_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_tokens,
};

const struct berth_cmd cmd_tokens_create_entry = {
	.name = "tokens:create",
	.access = { .scope = ACCESS_SELF },
	.usage = "tokens:create [-u USER] [--expires 30d] [--description TEXT]",
	.summary = "make an API token that acts with a user's roles",
	.help =
	"Prints the token once (berth_ and 40 hex digits); berth keeps only\n"
	"its SHA-256. Over SSH, -u defaults to you. --expires: N days (30d),\n"
	"hours (12h) or minutes (90m); without it the token never expires.",
	.options = (const struct cmd_option[]){
		{ .name = "user", .short_name = 'u', .kind = CMD_STRING,
		    .arg = "USER", .help = "whose roles it acts with" },
		{ .name = "expires", .kind = CMD_STRING, .arg = "TIME",
		    .help = "how long it works: 30d, 12h, 90m" },
		{ .name = "description", .short_name = 'd',
		    .kind = CMD_STRING, .arg = "TEXT",
		    .help = "what it is for" },
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_tokens_create,
};

const struct berth_cmd cmd_tokens_revoke_entry = {
	.name = "tokens:revoke",
	.access = { .scope = ACCESS_SELF },
	.usage = "tokens:revoke ID",
	.summary = "stop a token working",
	.help = "ID as berth tokens shows it. A user revokes their own tokens.",
	.min_args = 1, .max_args = 1,
	.exec = cmd_tokens_revoke,
};
