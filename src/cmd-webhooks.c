/*
 * cmd-webhooks.c - webhooks, webhooks:add, webhooks:remove,
 * webhooks:deliveries, webhooks:redeliver: where a pipeline's events
 * go (ledger-events.c keeps them; berthd sends them, notify.h).
 *
 * A webhook's secret is never shown ("secret set"), and neither is the
 * path of a Slack webhook's URL: it is the secret of an incoming webhook.
 */
#include "cmd.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 2048

/* The kinds of events, and the prefixes --events may name. */
static const char *const event_kinds[] = {
	"push", "build", "build.succeeded", "build.failed", "test_run",
	"test_run.started", "test_run.succeeded", "test_run.failed",
	"test_run.errored", "test_run.cancelled", "release",
	"release.succeeded", "release.failed", "review_app",
	"review_app.created", "review_app.destroyed", "config",
	"config.changed", "formation", "formation.changed", "access",
	"access.changed", NULL,
};

/* What a Slack webhook gets unless --events says: what a team reads. */
#define SLACK_EVENTS "push,build.failed,test_run.succeeded,test_run.failed," \
	"test_run.errored,release,review_app"

/* An http(s) URL without credentials (curl's parser, not ours). */
static int
check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *host = NULL;
	int ret = -1;

	if (strlen(url) > URL_MAX) {
		berth_error("the webhook URL is %zu bytes long; at most %d",
		    strlen(url), URL_MAX);
		goto out;
	}
	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		berth_error("'%.80s' is not a URL: give http://HOST/PATH or "
		    "https://HOST/PATH", url);
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		berth_error("webhook URLs are http or https, not %s", scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		berth_error("the webhook URL carries credentials: leave them "
		    "out and sign with --secret-file instead");
		goto out;
	}
	ret = 0;
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

/* Every word of a comma list of event kinds is one berth has. */
static int
check_events(const char *list)
{
	char *copy = xstrdup(list), *save = NULL, *w;
	int ret = 0;

	for (w = strtok_r(copy, ",", &save); w != NULL && ret == 0;
	    w = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; event_kinds[i] != NULL; i++)
			if (strcmp(w, event_kinds[i]) == 0)
				break;
		if (event_kinds[i] == NULL)
			ret = berth_error("--events: no event '%.40s'; berth has "
			    "push, build, test_run, release, review_app, "
			    "config, formation, access (and their .KIND, "
			    "e.g. release.failed)", w);
	}
	if (ret == 0 && (*list == '\0' || strstr(list, ",,") != NULL ||
	    list[strlen(list) - 1] == ','))
		ret = berth_error("--events: give kinds separated by commas, "
		    "e.g. build,release");
	free(copy);
	return ret;
}

/*
 * The URL as shown: a Slack webhook's path is its secret, so only
 * scheme and host of those; others as they are. Caller frees.
 */
static char *
shown_url(const struct webhook *w)
{
	const char *p = strstr(w->url, "://");
	const char *slash = p != NULL ? strchr(p + 3, '/') : NULL;

	if (strcmp(w->kind, "slack") != 0 || slash == NULL)
		return xstrdup(w->url);
	return xasprintf("%.*s/…", (int)(slash - w->url), w->url);
}

static int
cmd_webhooks(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct webhook *ws = NULL;
	size_t nr = 0, i;
	struct table t;
	json_t *arr;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_webhook_list(ctx->root.db, p.id, &ws, &nr) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	arr = ctx->json ? json_array() : NULL;
	if (!ctx->json && nr == 0)
		printf("%s has no webhooks; add one with: berth webhooks:add URL "
		    "-p %s --kind json|slack\n", p.name, p.name);
	table_init(&t, 5);
	if (nr > 0)
		table_row(&t, "ID", "KIND", "URL", "EVENTS", "SECRET");
	for (i = 0; i < nr; i++) {
		char id[24], *url = shown_url(&ws[i]);

		snprintf(id, sizeof(id), "%lld", (long long)ws[i].id);
		if (ctx->json)
			json_array_append_new(arr, json_pack("{s:I, s:s, s:s, "
			    "s:s, s:b, s:s}", "id", (json_int_t)ws[i].id,
			    "kind", ws[i].kind, "url", url, "events",
			    ws[i].events, "secret", ws[i].secret != NULL,
			    "created_at", ws[i].created_at));
		else
			table_row(&t, id, ws[i].kind, url, *ws[i].events ?
			    ws[i].events : "all", ws[i].secret != NULL ?
			    "secret set" : "-");
		free(url);
	}
	if (ctx->json)
		cmd_print_json(arr);
	else
		table_print(&t, stdout);
	table_clear(&t);
	webhook_list_free(ws, nr);
	pipeline_clear(&p);
	return 0;
}

static int
cmd_webhooks_add(struct cmd_ctx *ctx)
{
	const char *url = ctx->argv[0], *kind = cmd_opt(ctx, "kind");
	const char *events = cmd_opt(ctx, "events");
	const char *secret_file = cmd_opt(ctx, "secret-file");
	char *secret = NULL;
	struct pipeline p;
	int64_t id;
	int ret = 1;

	if (check_url(url) < 0)
		return cmd_fail_last();
	if (kind == NULL)
		kind = "json";
	if (strcmp(kind, "json") != 0 && strcmp(kind, "slack") != 0)
		return cmd_fail("--kind is json or slack, not '%.40s'", kind);
	if (events != NULL && check_events(events) < 0)
		return cmd_fail_last();
	if (events == NULL)
		events = strcmp(kind, "slack") == 0 ? SLACK_EVENTS : "";
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	/* A remote user names no file on the server. */
	if (secret_file != NULL && ctx->remote) {
		cmd_fail("--secret-file reads a file on the server: run "
		    "webhooks:add there");
		goto out;
	}
	if (secret_file != NULL && cmd_read_secret("--secret-file",
	    secret_file, "secret", "the key the receiver checks signatures "
	    "with", &secret) < 0) {
		cmd_fail_last();
		goto out;
	}
	if (ledger_webhook_add(ctx->root.db, p.id, url, kind, events, secret,
	    &id) < 0) {
		cmd_fail_last();
		goto out;
	}
	access_log(&ctx->root, NULL, "added webhook %lld (%s) to %s",
	    (long long)id, kind, p.name);
	printf("Added webhook %lld to %s: %s events%s; see: berth "
	    "webhooks:deliveries -p %s\n", (long long)id, p.name,
	    *events ? events : "all", secret != NULL ? ", signed" : "",
	    p.name);
	ret = 0;
out:
	free(secret);
	pipeline_clear(&p);
	return ret;
}

/* The webhook (or delivery's webhook) id arg, checked against ctx. */
static int
webhook_of(struct cmd_ctx *ctx, int64_t id, struct webhook *w)
{
	struct pipeline p;
	int rc;

	if (ledger_webhook_get(ctx->root.db, id, w) != 0)
		return cmd_fail_last();
	if (ledger_pipeline_get_by_id(ctx->root.db, w->pipeline_id, &p) != 0) {
		webhook_clear(w);
		return cmd_fail_last();
	}
	rc = cmd_check_pipeline(ctx, &p);
	pipeline_clear(&p);
	if (rc != 0)
		webhook_clear(w);
	return rc;
}

/* A positive id argument; 0 after printing why not. */
static int64_t
id_arg(const char *arg, const char *what, const char *see)
{
	char *end;
	long long id = strtoll(arg, &end, 10);

	if (*arg < '1' || *arg > '9' || *end != '\0') {
		cmd_fail("'%.40s' is not a %s id: use a number from berth %s",
		    arg, what, see);
		return 0;
	}
	return id;
}

static int
cmd_webhooks_remove(struct cmd_ctx *ctx)
{
	int64_t id = id_arg(ctx->argv[0], "webhook", "webhooks -p PIPELINE");
	struct webhook w;

	if (id == 0 || webhook_of(ctx, id, &w) != 0)
		return 1;
	if (ledger_webhook_remove(ctx->root.db, id) != 0) {
		webhook_clear(&w);
		return cmd_fail_last();
	}
	access_log(&ctx->root, NULL, "removed webhook %lld of %s",
	    (long long)id, w.pipeline);
	printf("Removed webhook %lld of %s\n", (long long)id, w.pipeline);
	webhook_clear(&w);
	return 0;
}

static int
cmd_webhooks_deliveries(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct delivery *ds = NULL;
	size_t nr = 0, i;
	struct table t;
	json_t *arr;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_delivery_list(ctx->root.db, p.id, cmd_num(ctx, "num", 30),
	    &ds, &nr) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	arr = ctx->json ? json_array() : NULL;
	if (!ctx->json && nr == 0)
		printf("No deliveries for %s yet\n", p.name);
	table_init(&t, 8);
	if (nr > 0)
		table_row(&t, "ID", "WEBHOOK", "EVENT", "STATUS", "HTTP",
		    "TRIES", "LATENCY", "WHEN");
	for (i = 0; i < nr; i++) {
		const struct delivery *d = &ds[i];
		char id[24], wh[24], code[16], tries[16], ms[24];
		const char *status = d->status;
		char *st = NULL;

		if (ctx->json) {
			json_array_append_new(arr, json_pack("{s:I, s:s, s:I, "
			    "s:I, s:s, s:s, s:o, s:i, s:o, s:s?, s:s, s:s?, "
			    "s:s?}", "id", (json_int_t)d->id, "delivery",
			    d->uuid, "webhook", (json_int_t)d->webhook_id,
			    "event_id", (json_int_t)d->event_id, "event",
			    d->event_kind, "status", d->status, "http_code",
			    d->http_code ? json_integer(d->http_code) :
			    json_null(), "attempts", d->attempts,
			    "latency_ms", d->attempts ?
			    json_integer(d->latency_ms) : json_null(),
			    "error", d->error, "created_at", d->created_at,
			    "next_at", strcmp(d->status, "pending") == 0 ?
			    d->next_at : NULL, "finished_at",
			    d->finished_at));
			continue;
		}
		snprintf(id, sizeof(id), "%lld", (long long)d->id);
		snprintf(wh, sizeof(wh), "%lld", (long long)d->webhook_id);
		snprintf(code, sizeof(code), "%d", d->http_code);
		snprintf(tries, sizeof(tries), "%d", d->attempts);
		snprintf(ms, sizeof(ms), "%d ms", d->latency_ms);
		if (strcmp(d->status, "pending") == 0 && d->attempts > 0)
			status = st = xasprintf("pending (next %s)", d->next_at);
		else if (d->error != NULL && strcmp(d->status, "failed") == 0)
			status = st = xasprintf("failed: %s", d->error);
		table_row(&t, id, wh, d->event_kind, status, d->http_code ?
		    code : "-", tries, d->attempts ? ms : "-", d->created_at);
		free(st);
	}
	if (ctx->json)
		cmd_print_json(arr);
	else
		table_print(&t, stdout);
	table_clear(&t);
	delivery_list_free(ds, nr);
	pipeline_clear(&p);
	return 0;
}

static int
cmd_webhooks_redeliver(struct cmd_ctx *ctx)
{
	int64_t id = id_arg(ctx->argv[0], "delivery",
	    "webhooks:deliveries -p PIPELINE");
	struct delivery d;
	struct webhook w;
	int rc;

	if (id == 0)
		return 1;
	if (ledger_delivery_get(ctx->root.db, id, &d) != 0)
		return cmd_fail_last();
	rc = webhook_of(ctx, d.webhook_id, &w);
	if (rc == 0) {
		if (ledger_delivery_redeliver(ctx->root.db, id) != 0)
			rc = cmd_fail_last();
		else
			printf("Delivery %lld (%s of event %lld) is queued "
			    "again; berthd sends it\n", (long long)id,
			    d.event_kind, (long long)d.event_id);
		webhook_clear(&w);
	}
	delivery_clear(&d);
	return rc;
}

const struct berth_cmd cmd_webhooks_entry = {
	.name = "webhooks",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "webhooks -p PIPELINE [--json]",
	.summary = "list where a pipeline's events are sent",
	.help = "Secrets are never shown, nor the path of a Slack webhook's URL.",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_webhooks,
};

const struct berth_cmd cmd_webhooks_add_entry = {
	.name = "webhooks:add",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "webhooks:add URL -p PIPELINE [--kind json|slack] "
	"[--events KINDS] [--secret-file FILE]",
	.summary = "send a pipeline's events to a URL",
	.help =
	"--kind json (the default): berth's JSON (doc/webhooks.md), signed\n"
	"with X-Berth-Signature-256 when there is a secret. --kind slack: a\n"
	"Slack incoming webhook's URL; one message per push, deploy, CI run\n"
	"or promotion. --events: a comma list of kinds (push, build,\n"
	"test_run, release, review_app, config, formation, access, or one\n"
	"of theirs such as release.failed); default all (Slack: those a\n"
	"team reads). berthd sends them, retrying for about 30 minutes.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "kind", .kind = CMD_STRING, .arg = "json|slack",
		    .help = "what the receiver reads" },
		{ .name = "events", .kind = CMD_STRING, .arg = "KINDS",
		    .help = "which events, e.g. build,release" },
		{ .name = "secret-file", .kind = CMD_STRING, .arg = "FILE",
		    .help = "a file whose line signs each body" },
		{ 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = cmd_webhooks_add,
};

const struct berth_cmd cmd_webhooks_remove_entry = {
	.name = "webhooks:remove",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "webhooks:remove ID",
	.summary = "stop sending to a webhook (its history stays)",
	.min_args = 1, .max_args = 1,
	.exec = cmd_webhooks_remove,
};

const struct berth_cmd cmd_webhooks_deliveries_entry = {
	.name = "webhooks:deliveries",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "webhooks:deliveries -p PIPELINE [-n NUM] [--json]",
	.summary = "show what was sent to a pipeline's webhooks, newest first",
	.help = "Each delivery: its event, status, last HTTP code, tries and "
	"latency.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		CMD_OPT_NUM("how many deliveries (default 30)"), CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_webhooks_deliveries,
};

const struct berth_cmd cmd_webhooks_redeliver_entry = {
	.name = "webhooks:redeliver",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "webhooks:redeliver DELIVERY",
	.summary = "send a delivery again, with the same delivery id",
	.min_args = 1, .max_args = 1,
	.exec = cmd_webhooks_redeliver,
};
