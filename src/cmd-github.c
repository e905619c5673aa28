/*
 * cmd-github.c - github:connect, github:info, github:disconnect: a
 * pipeline's repository on GitHub, told of its test runs and releases
 * (commit statuses and deployments, github.h). The connection is kept
 * as the pipeline's webhook of kind "github"; its token as the secret,
 * never shown.
 */
#include "cmd.h"
#include "github.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a GitHub connection sends: CI runs, releases, ended review apps. */
#define GITHUB_EVENTS "test_run,release,review_app.destroyed"

/* The pipeline's GitHub webhook into *w: 0; 1 when it has none. */
static int
connection(struct cmd_ctx *ctx, const struct pipeline *p, struct webhook *w)
{
	struct webhook *ws = NULL;
	size_t nr = 0, i;
	int rc = 1;

	if (ledger_webhook_list(ctx->root.db, p->id, &ws, &nr) < 0)
		return -1;
	for (i = 0; i < nr && rc == 1; i++)
		if (strcmp(ws[i].kind, "github") == 0) {
			*w = ws[i];
			memset(&ws[i], 0, sizeof(ws[i]));
			rc = 0;
		}
	webhook_list_free(ws, nr);
	return rc;
}

static int
cmd_github_connect(struct cmd_ctx *ctx)
{
	const char *repo = cmd_opt(ctx, "repo");
	const char *file = cmd_opt(ctx, "token-file");
	const char *api = cmd_opt(ctx, "api-url");
	const char *hook_file = cmd_opt(ctx, "webhook-secret-file");
	const char *mirror = cmd_flag(ctx, "wait-for-ci") ? "ci" :
	    cmd_flag(ctx, "mirror") ? "push" : NULL;
	struct pipeline p;
	struct webhook have;
	char *token = NULL, *url = NULL, *hook_secret = NULL, *key = NULL;
	char *mkey = NULL;
	int64_t id;
	int ret = 1, rc;

	if (repo == NULL || file == NULL)
		return cmd_fail("github:connect needs --repo OWNER/NAME and "
		    "--token-file FILE");
	if (github_check_repo(repo) < 0)
		return cmd_fail_last();
	if (mirror != NULL && hook_file == NULL)
		return cmd_fail("--%s needs --webhook-secret-file FILE: GitHub "
		    "tells berth of pushes through the repository's webhook",
		    cmd_flag(ctx, "wait-for-ci") ? "wait-for-ci" : "mirror");
	if (api == NULL)
		api = GITHUB_API_URL;
	if ((strncmp(api, "https://", 8) != 0 && strncmp(api, "http://",
	    7) != 0) || strlen(api) > 1000 || strchr(api, '@') != NULL ||
	    strpbrk(api, " \t\r\n?#") != NULL)
		return cmd_fail("--api-url wants the API's http(s) address, "
		    "e.g. https://github.example.com/api/v3 (no credentials)");
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ctx->remote) {
		cmd_fail("--token-file reads a file on the server: run "
		    "github:connect there");
		goto out;
	}
	rc = connection(ctx, &p, &have);
	if (rc < 0) {
		cmd_fail_last();
		goto out;
	}
	if (rc == 0) {
		cmd_fail("%s is connected to %s already; run berth "
		    "github:disconnect -p %s first", p.name, have.url, p.name);
		webhook_clear(&have);
		goto out;
	}
	if (cmd_read_secret("--token-file", file, "token", "e.g. a "
	    "fine-grained token with commit statuses and deployments: read "
	    "and write", &token) < 0 || (hook_file != NULL &&
	    cmd_read_secret("--webhook-secret-file", hook_file, "secret",
	    "the secret of the repository's webhook", &hook_secret) < 0)) {
		cmd_fail_last();
		goto out;
	}
	url = xasprintf("%.*s/repos/%s", (int)(strlen(api) -
	    (api[strlen(api) - 1] == '/')), api, repo);
	key = xasprintf(GITHUB_HOOK_SECRET "%s", p.name);
	mkey = xasprintf(GITHUB_MIRROR "%s", p.name);
	if (ledger_webhook_add(ctx->root.db, p.id, url, "github",
	    GITHUB_EVENTS, token, &id) < 0 || (hook_secret != NULL &&
	    ledger_setting_set(ctx->root.db, key, hook_secret) < 0) ||
	    ledger_setting_set(ctx->root.db, mkey, mirror) < 0) {
		cmd_fail_last();
		goto out;
	}
	access_log(&ctx->root, NULL, "connected %s to GitHub %s", p.name, repo);
	printf("Connected %s to %s: test runs become berth/ci statuses, "
	    "releases berth/deploy/APP statuses and deployments. See: berth "
	    "webhooks:deliveries -p %s\n", p.name, repo, p.name);
	if (hook_secret != NULL)
		printf("Point the repository's webhook (pull requests) at "
		    "http://berth.%s/github/webhook with the same secret: each "
		    "pull request gets its review app %s-pr-N\n",
		    ctx->root.cfg.domain, p.name);
	if (mirror != NULL)
		printf("Mirror mode: each push to %s on GitHub is fetched and "
		    "deployed as a git push of it would be%s (webhook events: "
		    "push%s)\n", repo, strcmp(mirror, "ci") == 0 ? ", once "
		    "its CI on GitHub passed" : "", strcmp(mirror, "ci") == 0 ?
		    ", statuses, check suites" : "");
	ret = 0;
out:
	free(mkey);
	free(key);
	free(hook_secret);
	free(url);
	free(token);
	pipeline_clear(&p);
	return ret;
}

static int
cmd_github_info(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct webhook w;
	struct table t;
	char *key, *mirror = NULL;
	int rc;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	rc = connection(ctx, &p, &w);
	if (rc != 0) {
		if (rc < 0)
			cmd_fail_last();
		else
			printf("%s is not connected to GitHub; connect it with: "
			    "berth github:connect -p %s --repo OWNER/NAME "
			    "--token-file FILE\n", p.name, p.name);
		pipeline_clear(&p);
		return rc < 0;
	}
	key = xasprintf(GITHUB_MIRROR "%s", p.name);
	if (ledger_setting_get(ctx->root.db, key, &mirror) < 0)
		mirror = NULL;
	free(key);
	if (ctx->json) {
		cmd_print_json(json_pack("{s:s, s:s, s:b, s:I, s:s, s:s}",
		    "pipeline", p.name, "api", w.url, "token", w.secret != NULL,
		    "webhook", (json_int_t)w.id, "connected_at",
		    w.created_at, "mirror", mirror == NULL ? "off" :
		    strcmp(mirror, "ci") == 0 ? "wait-for-ci" : "on"));
	} else {
		printf("=== %s on GitHub\n", p.name);
		table_init(&t, 2);
		table_row(&t, "Repository:", strstr(w.url, "/repos/") != NULL ?
		    strstr(w.url, "/repos/") + 7 : w.url);
		table_row(&t, "API:", w.url);
		table_row(&t, "Token:", w.secret != NULL ? "set" : "none");
		table_row(&t, "Sends:", "berth/ci statuses, berth/deploy/APP "
		    "statuses and deployments");
		table_row(&t, "Mirror:", mirror == NULL ? "off" :
		    strcmp(mirror, "ci") == 0 ? "every push, once its CI on "
		    "GitHub passed" : "every push");
		table_row(&t, "Since:", w.created_at);
		table_print(&t, stdout);
		table_clear(&t);
	}
	free(mirror);
	webhook_clear(&w);
	pipeline_clear(&p);
	return 0;
}

static int
cmd_github_disconnect(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct webhook w;
	int rc;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	rc = connection(ctx, &p, &w);
	if (rc == 0) {
		char *key = xasprintf(GITHUB_HOOK_SECRET "%s", p.name);
		char *mkey = xasprintf(GITHUB_MIRROR "%s", p.name);

		if (ledger_webhook_remove(ctx->root.db, w.id) != 0 ||
		    ledger_setting_set(ctx->root.db, key, NULL) != 0 ||
		    ledger_setting_set(ctx->root.db, mkey, NULL) != 0) {
			rc = -1;
		} else {
			access_log(&ctx->root, NULL, "disconnected %s from "
			    "GitHub", p.name);
			printf("Disconnected %s from GitHub; its token and "
			    "webhook secret are forgotten\n", p.name);
		}
		free(key);
		free(mkey);
		webhook_clear(&w);
	} else if (rc == 1) {
		berth_error("%s is not connected to GitHub", p.name);
	}
	pipeline_clear(&p);
	return rc == 0 ? 0 : cmd_fail_last();
}

const struct berth_cmd cmd_github_connect_entry = {
	.name = "github:connect",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "github:connect -p PIPELINE --repo OWNER/NAME --token-file "
	"FILE [--api-url URL] [--webhook-secret-file FILE [--mirror "
	"[--wait-for-ci]]]",
	.summary = "report a pipeline's test runs and releases to GitHub",
	.help =
	"Test runs become commit statuses (berth/ci), releases statuses\n"
	"(berth/deploy/APP) and GitHub deployments with environment APP and\n"
	"the app's URL; a destroyed review app's deployment goes inactive.\n"
	"The token (a fine-grained token with commit statuses and\n"
	"deployments: read and write) is kept in the ledger only. --api-url:\n"
	"a GitHub Enterprise Server's API (https://HOST/api/v3).\n"
	"--webhook-secret-file: the secret of the repository's webhook, which\n"
	"sends pull requests to http://berth.DOMAIN/github/webhook: each gets\n"
	"a review app PIPELINE-pr-N, redeployed on every push to it and\n"
	"destroyed when it closes. --mirror: every push GitHub reports is\n"
	"fetched and applied as a git push of it would be (the same build,\n"
	"CI gate, release and ledger rows); --wait-for-ci: only once the\n"
	"commit's statuses and check runs on GitHub passed.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "repo", .kind = CMD_STRING, .arg = "OWNER/NAME",
		    .help = "the repository on GitHub" },
		{ .name = "token-file", .kind = CMD_STRING, .arg = "FILE",
		    .help = "a file holding the token" },
		{ .name = "api-url", .kind = CMD_STRING, .arg = "URL",
		    .help = "default " GITHUB_API_URL },
		{ .name = "webhook-secret-file", .kind = CMD_STRING,
		    .arg = "FILE", .help = "the repository webhook's secret: "
		    "pull requests get review apps" },
		{ .name = "mirror", .kind = CMD_FLAG,
		    .help = "deploy every push to the GitHub repository" },
		{ .name = "wait-for-ci", .kind = CMD_FLAG,
		    .help = "mirror, once GitHub's CI passed" },
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_github_connect,
};

const struct berth_cmd cmd_github_info_entry = {
	.name = "github:info",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "github:info -p PIPELINE [--json]",
	.summary = "show a pipeline's GitHub connection",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_github_info,
};

const struct berth_cmd cmd_github_disconnect_entry = {
	.name = "github:disconnect",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "github:disconnect -p PIPELINE",
	.summary = "stop reporting to GitHub and forget the token",
	.options = cmd_opts_pipeline,
	.min_args = 0, .max_args = 0,
	.exec = cmd_github_disconnect,
};
