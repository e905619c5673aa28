/*
 * notify-body.c - what a delivery sends (notify.h): berth's JSON body
 * (doc/webhooks.md), its signature, and the Slack message of an event.
 *
 * Slack gets one message per thing a team wants to know: a review app
 * up (with its URL), a release live (a merge on staging, a promotion,
 * a rollback, a config change) or failed, with the release phase's
 * result; CI's result with its counts; a build that failed; a push no
 * release tells of; a review app destroyed. The steps on the way
 * (build.succeeded, test_run.started, review_app.created, the push of a
 * branch that deploys) get none. Text from pushers (commit subjects,
 * branch names, errors) is escaped for Slack's mrkdwn, so a subject
 * cannot mention @channel or forge a link, and cut to a length Slack
 * takes.
 */
#include "notify.h"
#include "crypto.h"
#include "names.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The most of one pushed string (a subject, an error) in a message. */
#define SLACK_PIECE_MAX 300

/* s as valid UTF-8 (each byte of an invalid one as '?'); caller frees. */
static char *
utf8_clean(const char *s)
{
	char *c = xstrdup(s), *p;

	if (utf8_valid(c, strlen(c)))
		return c;
	for (p = c; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	return c;
}

/* A JSON string of s, or null. */
static json_t *
jstr(const char *s)
{
	char *c;
	json_t *j;

	if (s == NULL)
		return json_null();
	c = utf8_clean(s);
	j = json_string(c);
	free(c);
	return j;
}

/* The event's data object (an empty one when it does not parse). */
static json_t *
event_data(const struct event *e)
{
	json_t *d = json_loads(e->data != NULL ? e->data : "{}", 0, NULL);

	if (!json_is_object(d)) {
		json_decref(d);
		d = json_object();
	}
	return d;
}

/* ISO 8601 UTC of t. */
static void
iso_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * The event as the API's event stream shows it (event_json()), its
 * text made valid UTF-8 first when it is not. New reference.
 */
static json_t *
event_object(const struct event *e)
{
	struct event c = *e;
	json_t *j = event_json(e);

	if (j != NULL && json_is_object(json_object_get(j, "data")))
		return j;
	json_decref(j);
	c.kind = utf8_clean(e->kind != NULL ? e->kind : "");
	c.pipeline = e->pipeline != NULL ? utf8_clean(e->pipeline) : NULL;
	c.app = e->app != NULL ? utf8_clean(e->app) : NULL;
	c.actor = e->actor != NULL ? utf8_clean(e->actor) : NULL;
	c.commit = e->commit != NULL ? utf8_clean(e->commit) : NULL;
	c.message = e->message != NULL ? utf8_clean(e->message) : NULL;
	c.created_at = e->created_at != NULL ? utf8_clean(e->created_at) :
	    NULL;
	c.data = NULL;
	j = event_json(&c);
	/* data as an object, whatever the ledger held */
	json_object_set_new(j, "data", event_data(e));
	free(c.kind);
	free(c.pipeline);
	free(c.app);
	free(c.actor);
	free(c.commit);
	free(c.message);
	free(c.created_at);
	return j;
}

char *
notify_json_body(const struct notify_event *ne)
{
	json_t *body = json_object();
	char *text;

	json_object_set_new(body, "delivery", jstr(ne->delivery));
	json_object_set_new(body, "event", event_object(ne->event));
	if (ne->app != NULL) {
		json_t *a = json_object();

		json_object_set_new(a, "name", jstr(ne->app->name));
		json_object_set_new(a, "stage", jstr(ne->app->stage));
		json_object_set_new(a, "branch", jstr(ne->app->branch));
		json_object_set_new(a, "url", jstr(ne->url));
		json_object_set_new(body, "app", a);
	} else
		json_object_set_new(body, "app", json_null());
	if (ne->commit != NULL) {
		json_t *c = json_object();
		char when[32];

		iso_time(ne->commit->time, when);
		json_object_set_new(c, "sha", jstr(ne->commit->sha));
		json_object_set_new(c, "short_sha",
		    jstr(ne->commit->short_sha));
		json_object_set_new(c, "subject", jstr(ne->commit->subject));
		json_object_set_new(c, "author", jstr(ne->commit->author));
		json_object_set_new(c, "time", jstr(when));
		json_object_set_new(body, "commit", c);
	} else
		json_object_set_new(body, "commit", json_null());
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

void
notify_signature(const char *secret, const char *body, size_t len,
    char out[NOTIFY_SIGNATURE_SIZE])
{
	unsigned char mac[32];

	crypto_hmac_sha256(secret, strlen(secret), body, len, mac);
	memcpy(out, "sha256=", 7);
	crypto_hex(mac, sizeof(mac), out + 7);
}

/* ---- Slack ---- */

/*
 * A message as it is put together: the section's mrkdwn (head), the
 * context line's pieces (joined with " · "), the notification text
 * (text, the fallback Slack shows where blocks are not), and the URL a
 * button opens.
 */
struct slack {
	struct strbuf head;
	struct strbuf ctx;
	struct strbuf text;
	const char *url;
	const char *promote;	/* the pipeline a button promotes, or NULL */
};

/*
 * s escaped for mrkdwn (& < > as entities: no mention, no link of its
 * own) and cut to at most max bytes of it, on a character boundary,
 * with "…" when cut.
 */
static void
md(struct strbuf *sb, const char *s, size_t max)
{
	char *c = utf8_clean(s != NULL ? s : "");
	size_t i, n = strlen(c);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)c[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		switch (c[i]) {
		case '&': strbuf_addstr(sb, "&amp;"); break;
		case '<': strbuf_addstr(sb, "&lt;"); break;
		case '>': strbuf_addstr(sb, "&gt;"); break;
		/* One line: a newline would start a list or a quote. */
		case '\n': case '\r': case '\t': strbuf_addch(sb, ' '); break;
		default: strbuf_addch(sb, c[i]);
		}
	}
	if (n < strlen(c))
		strbuf_addstr(sb, "…");
	free(c);
}

/* `s` in code style, which a backquote inside would end. */
static void
md_code(struct strbuf *sb, const char *s)
{
	char *c = xstrdup(s != NULL ? s : "");
	char *p;

	for (p = c; *p != '\0'; p++)
		if (*p == '`')
			*p = '\'';
	strbuf_addch(sb, '`');
	md(sb, c, 200);
	strbuf_addch(sb, '`');
	free(c);
}

/* A new piece of the context line. */
static struct strbuf *
ctx_piece(struct slack *m)
{
	if (m->ctx.len > 0)
		strbuf_addstr(&m->ctx, " · ");
	return &m->ctx;
}

/*
 * The commit: `3f2a9c1` subject (author) into the context, and
 * (3f2a9c1 "subject", author) into the text.
 */
static void
add_commit(struct slack *m, const struct notify_event *ne)
{
	const struct commit_info *c = ne->commit;
	struct strbuf *sb;

	if (c == NULL && ne->event->commit == NULL)
		return;
	sb = ctx_piece(m);
	if (c == NULL) {
		char sha[8];

		snprintf(sha, sizeof(sha), "%.7s", ne->event->commit);
		md_code(sb, sha);
		strbuf_addstr(&m->text, " (");
		md(&m->text, sha, 7);
		strbuf_addch(&m->text, ')');
		return;
	}
	md_code(sb, c->short_sha);
	strbuf_addch(sb, ' ');
	md(sb, c->subject, 100);
	strbuf_addstr(sb, " (");
	md(sb, c->author, 60);
	strbuf_addch(sb, ')');
	strbuf_addstr(&m->text, " (");
	md(&m->text, c->short_sha, 7);
	strbuf_addstr(&m->text, " \"");
	md(&m->text, c->subject, 100);
	strbuf_addstr(&m->text, "\", ");
	md(&m->text, c->author, 60);
	strbuf_addch(&m->text, ')');
}

static void
add_by(struct slack *m, const struct event *e)
{
	struct strbuf *sb = ctx_piece(m);

	strbuf_addstr(sb, "by ");
	md(sb, e->actor, 80);
}

static void
add_pipeline(struct slack *m, const struct event *e)
{
	struct strbuf *sb = ctx_piece(m);

	strbuf_addstr(sb, "pipeline ");
	md(sb, e->pipeline, 80);
}

/* "*<URL|APP> v24*", the app linked when it has a URL. */
static void
md_app_version(struct strbuf *sb, const struct notify_event *ne)
{
	const struct event *e = ne->event;

	strbuf_addch(sb, '*');
	if (ne->url != NULL) {
		strbuf_addch(sb, '<');
		md(sb, ne->url, 500);
		strbuf_addch(sb, '|');
		md(sb, e->app, 100);
		strbuf_addch(sb, '>');
	} else
		md(sb, e->app, 100);
	if (e->version > 0)
		strbuf_addf(sb, " v%d", e->version);
}

/*
 * The release phase's result from the event's data: " · release phase
 * 1.1 s" into the text and the context; 1 when it failed.
 */
static int
add_phase(struct slack *m, json_t *data)
{
	json_t *ph = json_object_get(data, "release_phase");
	const char *st = json_string_value(json_object_get(ph, "status"));
	double secs = json_number_value(json_object_get(ph, "duration"));
	int failed;
	struct strbuf *sb;

	if (st == NULL)
		return 0;
	failed = strcmp(st, "succeeded") != 0;
	sb = ctx_piece(m);
	if (failed) {
		strbuf_addf(sb, ":x: release phase failed after %.1f s", secs);
		strbuf_addf(&m->text, " · release phase failed after %.1f s",
		    secs);
	} else {
		strbuf_addf(sb, "release phase %.1f s", secs);
		strbuf_addf(&m->text, " · release phase %.1fs", secs);
	}
	return failed;
}

static void
slack_release(struct slack *m, const struct notify_event *ne, json_t *data)
{
	const struct event *e = ne->event;
	const char *kind = json_string_value(json_object_get(data, "kind"));
	const char *stage = ne->app != NULL ? ne->app->stage : NULL;
	int ok = strcmp(e->kind, "release.succeeded") == 0;
	int review = stage != NULL && strcmp(stage, "review") == 0;
	int phase_failed;

	if (kind == NULL)
		kind = "deploy";
	if (ok && review) {
		/* A branch pushed, and where its review app answers. */
		strbuf_addstr(&m->head, ":eyes: *Review app of ");
		md_code(&m->head, ne->app->branch);
		strbuf_addstr(&m->head, "* is up: ");
		md_app_version(&m->head, ne);
		strbuf_addch(&m->head, '*');
		strbuf_addstr(&m->text, "Review app of ");
		md(&m->text, ne->app->branch, 200);
		strbuf_addstr(&m->text, " is up: ");
		md(&m->text, ne->url != NULL ? ne->url : e->app, 500);
		m->url = ne->url;
	} else if (ok) {
		strbuf_addstr(&m->head, strcmp(kind, "promote") == 0 ?
		    ":rocket: " : strcmp(kind, "rollback") == 0 ?
		    ":leftwards_arrow_with_hook: " : ":white_check_mark: ");
		md_app_version(&m->head, ne);
		strbuf_addstr(&m->head, " is live*");
		md(&m->text, e->app, 100);
		strbuf_addf(&m->text, " v%d is live", e->version);
		m->url = ne->url;
		/* A staging deploy offers its promotion (slack.c). */
		if (stage != NULL && strcmp(stage, "staging") == 0 &&
		    ne->app->pipeline != NULL)
			m->promote = ne->app->pipeline;
	} else {
		strbuf_addstr(&m->head, ":x: ");
		md_app_version(&m->head, ne);
		strbuf_addstr(&m->head, " failed*");
		md(&m->text, e->app, 100);
		strbuf_addf(&m->text, " v%d failed", e->version);
	}
	if (stage != NULL && !review) {
		strbuf_addstr(&m->head, " (");
		md(&m->head, stage, 40);
		strbuf_addch(&m->head, ')');
	}
	/* What made it, and who: a promotion names its promoter. */
	if (strcmp(kind, "promote") == 0) {
		strbuf_addstr(&m->head, ": promoted by ");
		md(&m->head, e->actor, 80);
		strbuf_addstr(&m->text, ", promoted by ");
		md(&m->text, e->actor, 80);
		strbuf_addstr(&m->head, " (");
		md(&m->head, e->message, SLACK_PIECE_MAX);
		strbuf_addch(&m->head, ')');
	} else if (strcmp(kind, "deploy") != 0) {
		strbuf_addstr(&m->head, ": ");
		md(&m->head, e->message, SLACK_PIECE_MAX);
		strbuf_addstr(&m->head, ", by ");
		md(&m->head, e->actor, 80);
		strbuf_addstr(&m->text, ": ");
		md(&m->text, e->message, SLACK_PIECE_MAX);
	}
	add_commit(m, ne);
	phase_failed = add_phase(m, data);
	if (strcmp(kind, "deploy") == 0)
		add_by(m, e);
	if (!ok) {
		struct strbuf *sb = ctx_piece(m);

		strbuf_addf(sb, "see: berth releases:%s v%d -a ", phase_failed ?
		    "output" : "info", e->version);
		md(sb, e->app, 100);
	}
}

static void
slack_build_failed(struct slack *m, const struct notify_event *ne,
    json_t *data)
{
	const struct event *e = ne->event;
	const char *ref = json_string_value(json_object_get(data, "ref"));
	const char *err = json_string_value(json_object_get(data, "error"));
	json_int_t id = json_integer_value(json_object_get(data, "build"));
	struct strbuf *sb;

	if (ref != NULL && strncmp(ref, "refs/heads/", 11) == 0)
		ref += 11;
	strbuf_addstr(&m->head, ":x: *Build of ");
	md_code(&m->head, ref != NULL ? ref : "?");
	strbuf_addstr(&m->head, " failed* for ");
	md(&m->head, e->app, 100);
	strbuf_addstr(&m->text, "Build of ");
	md(&m->text, ref != NULL ? ref : "?", 200);
	strbuf_addstr(&m->text, " failed for ");
	md(&m->text, e->app, 100);
	if (err != NULL) {
		strbuf_addstr(&m->head, ": ");
		md(&m->head, err, SLACK_PIECE_MAX);
		strbuf_addstr(&m->text, ": ");
		md(&m->text, err, SLACK_PIECE_MAX);
	}
	add_commit(m, ne);
	add_by(m, e);
	if (id > 0) {
		sb = ctx_piece(m);
		strbuf_addf(sb, "see: berth builds:output %lld -a ",
		    (long long)id);
		md(sb, e->app, 100);
	}
}

static void
slack_test_run(struct slack *m, const struct notify_event *ne, json_t *data)
{
	const struct event *e = ne->event;
	const char *how = e->kind + strlen("test_run.");
	const char *branch = json_string_value(json_object_get(data,
	    "branch"));
	const char *err = json_string_value(json_object_get(data, "error"));
	json_int_t num = json_integer_value(json_object_get(data, "number"));
	json_int_t passed = json_integer_value(json_object_get(data,
	    "passed"));
	json_int_t failed = json_integer_value(json_object_get(data,
	    "failed"));
	double secs = json_number_value(json_object_get(data, "duration"));
	const char *emoji, *word;
	struct strbuf counts = STRBUF_INIT;

	if (strcmp(how, "succeeded") == 0) {
		emoji = ":white_check_mark:";
		word = "passed";
	} else if (strcmp(how, "cancelled") == 0) {
		emoji = ":heavy_minus_sign:";
		word = "cancelled";
	} else {
		emoji = ":x:";
		word = strcmp(how, "failed") == 0 ? "failed" : "errored";
	}
	strbuf_addf(&counts, "%lld passed, %lld failed in %.1f s",
	    (long long)passed, (long long)failed, secs);
	strbuf_addf(&m->head, "%s *Tests %s* on ", emoji, word);
	md_code(&m->head, branch);
	strbuf_addf(&m->head, " (#%lld): %s", (long long)num, counts.buf);
	strbuf_addf(&m->text, "Tests %s on ", word);
	md(&m->text, branch, 200);
	strbuf_addf(&m->text, " (#%lld): %s", (long long)num, counts.buf);
	if (err != NULL && strcmp(how, "succeeded") != 0) {
		strbuf_addstr(&m->head, ": ");
		md(&m->head, err, SLACK_PIECE_MAX);
		strbuf_addstr(&m->text, ": ");
		md(&m->text, err, SLACK_PIECE_MAX);
	}
	strbuf_release(&counts);
	add_commit(m, ne);
	add_pipeline(m, e);
	add_by(m, e);
}

static void
slack_push(struct slack *m, const struct notify_event *ne, json_t *data)
{
	const struct event *e = ne->event;
	const char *branch = json_string_value(json_object_get(data,
	    "branch"));
	int deleted = json_is_null(json_object_get(data, "after"));

	strbuf_addf(&m->head, "%s *", deleted ? ":wastebasket:" :
	    ":arrow_up:");
	md(&m->head, e->actor, 80);
	strbuf_addstr(&m->head, deleted ? " deleted " : " pushed ");
	md_code(&m->head, branch);
	strbuf_addstr(&m->head, "* of ");
	md(&m->head, e->pipeline, 80);
	md(&m->text, e->actor, 80);
	strbuf_addstr(&m->text, deleted ? " deleted " : " pushed ");
	md(&m->text, branch, 200);
	strbuf_addstr(&m->text, " of ");
	md(&m->text, e->pipeline, 80);
	add_commit(m, ne);
}

static void
slack_destroyed(struct slack *m, const struct notify_event *ne, json_t *data)
{
	const struct event *e = ne->event;
	const char *branch = json_string_value(json_object_get(data,
	    "branch"));

	strbuf_addstr(&m->head, ":wastebasket: *Review app of ");
	md_code(&m->head, branch);
	strbuf_addstr(&m->head, "* destroyed (");
	md(&m->head, e->app, 100);
	strbuf_addch(&m->head, ')');
	strbuf_addstr(&m->text, "Review app of ");
	md(&m->text, branch, 200);
	strbuf_addstr(&m->text, " destroyed");
	add_pipeline(m, e);
	add_by(m, e);
}

/* Any other event a webhook asked for: its own line, as berth says it. */
static void
slack_plain(struct slack *m, const struct notify_event *ne)
{
	const struct event *e = ne->event;
	struct strbuf *sb;

	strbuf_addch(&m->head, '*');
	md(&m->head, e->app != NULL ? e->app : e->pipeline, 100);
	strbuf_addstr(&m->head, "*: ");
	md(&m->head, e->message, SLACK_PIECE_MAX);
	md(&m->text, e->app != NULL ? e->app : e->pipeline, 100);
	strbuf_addstr(&m->text, ": ");
	md(&m->text, e->message, SLACK_PIECE_MAX);
	sb = ctx_piece(m);
	md(sb, e->kind, 60);
	add_by(m, e);
}

/* Whether the event is a step on the way to one that tells of it. */
static int
internal_step(const struct notify_event *ne)
{
	const char *k = ne->event->kind;

	return strcmp(k, "build.succeeded") == 0 ||
	    strcmp(k, "test_run.started") == 0 ||
	    strcmp(k, "review_app.created") == 0 ||
	    (strcmp(k, "push") == 0 && ne->push_deploys);
}

/* The message as Slack takes it: text, a section and a context. */
static char *
slack_json(struct slack *m)
{
	json_t *section = json_pack("{s:s, s:{s:s, s:s}}", "type", "section",
	    "text", "type", "mrkdwn", "text", strbuf_str(&m->head));
	json_t *msg;
	char *out;

	if (m->url != NULL)
		json_object_set_new(section, "accessory", json_pack("{s:s, "
		    "s:{s:s, s:s}, s:s}", "type", "button", "text", "type",
		    "plain_text", "text", "Open", "url", m->url));
	msg = json_pack("{s:s, s:[o]}", "text", strbuf_str(&m->text),
	    "blocks", section);
	if (m->ctx.len > 0)
		json_array_append_new(json_object_get(msg, "blocks"),
		    json_pack("{s:s, s:[{s:s, s:s}]}", "type", "context",
		    "elements", "type", "mrkdwn", "text", strbuf_str(&m->ctx)));
	if (m->promote != NULL)
		json_array_append_new(json_object_get(msg, "blocks"),
		    json_pack("{s:s, s:[{s:s, s:{s:s, s:s}, s:s, s:s, s:s}]}",
		    "type", "actions", "elements", "type", "button", "text",
		    "type", "plain_text", "text", "Promote to production",
		    "action_id", "promote", "value", m->promote, "style",
		    "primary"));
	out = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	return out;
}

char *
notify_slack_body(const struct notify_event *ne)
{
	const struct event *e = ne->event;
	struct slack m = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, NULL, NULL };
	json_t *data;
	char *out;

	if (internal_step(ne))
		return NULL;
	data = event_data(e);
	if (strncmp(e->kind, "release.", 8) == 0 && e->app != NULL)
		slack_release(&m, ne, data);
	else if (strcmp(e->kind, "build.failed") == 0)
		slack_build_failed(&m, ne, data);
	else if (strncmp(e->kind, "test_run.", 9) == 0)
		slack_test_run(&m, ne, data);
	else if (strcmp(e->kind, "push") == 0)
		slack_push(&m, ne, data);
	else if (strcmp(e->kind, "review_app.destroyed") == 0)
		slack_destroyed(&m, ne, data);
	else
		slack_plain(&m, ne);
	out = slack_json(&m);
	json_decref(data);
	strbuf_release(&m.head);
	strbuf_release(&m.ctx);
	strbuf_release(&m.text);
	return out;
}
