/*
 * test-notify.c - what the webhook sender sends and when (notify.h):
 * the JSON body's fields, Slack messages as Block Kit takes them (and
 * none for internal steps), the signature as GitHub computes it, how an
 * answer is judged and the back-off schedule; and the ledger side it
 * relies on: at most N due deliveries of each webhook, so one backlog
 * never hides another, and the release phase's result in the release
 * event's data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "ledger.h"
#include "notify.h"
#include "util.h"

#define SHA "3f2a9c1b5e6d7f8091a2b3c4d5e6f708192a3b4c"
#define UUID "0123456789abcdef0123456789abcdef"
#define URL "http://shop-staging.localhost:8080/"

/* A release.succeeded event of shop-staging v24 and what goes with it. */
struct sample {
	struct event e;
	struct app a;
	struct commit_info c;
	struct notify_event ne;
};

static void
sample_init(struct sample *s, const char *kind, const char *data)
{
	memset(s, 0, sizeof(*s));
	s->e.id = 42;
	s->e.kind = (char *)kind;
	s->e.pipeline_id = 1;
	s->e.pipeline = (char *)"shop";
	s->e.app_id = 2;
	s->e.app = (char *)"shop-staging";
	s->e.actor = (char *)"ana@laptop";
	s->e.version = 24;
	s->e.commit = (char *)SHA;
	s->e.message = (char *)"Deploy 3f2a9c1";
	s->e.data = (char *)data;
	s->e.created_at = (char *)"2026-11-26T13:23:22Z";
	s->a.id = 2;
	s->a.name = (char *)"shop-staging";
	s->a.pipeline = (char *)"shop";
	s->a.stage = (char *)"staging";
	s->a.branch = (char *)"main";
	snprintf(s->c.sha, sizeof(s->c.sha), "%s", SHA);
	snprintf(s->c.short_sha, sizeof(s->c.short_sha), "%.7s", SHA);
	s->c.subject = (char *)"Fix the cart total";
	s->c.author = (char *)"Ana";
	s->c.time = 1795699402;
	s->ne.event = &s->e;
	s->ne.delivery = UUID;
	s->ne.app = &s->a;
	s->ne.url = URL;
	s->ne.commit = &s->c;
}

static const char *
get_str(json_t *o, const char *path)
{
	json_t *v = o;
	char *copy = xstrdup(path), *save = NULL, *k;

	for (k = strtok_r(copy, ".", &save); k != NULL && v != NULL;
	    k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	free(copy);
	return json_string_value(v);
}

static void
test_json_body(void **state)
{
	struct sample s;
	json_t *j, *ev;
	char *body;

	(void)state;
	sample_init(&s, "release.succeeded", "{\"kind\":\"deploy\","
	    "\"release_id\":7,\"duration\":3.5,\"release_phase\":"
	    "{\"command\":\"./migrate\",\"status\":\"succeeded\","
	    "\"duration\":1.1}}");
	body = notify_json_body(&s.ne);
	assert_non_null(body);
	j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(get_str(j, "delivery"), UUID);
	ev = json_object_get(j, "event");
	assert_int_equal(json_integer_value(json_object_get(ev, "id")), 42);
	assert_string_equal(get_str(ev, "kind"), "release.succeeded");
	assert_string_equal(get_str(ev, "created_at"), "2026-11-26T13:23:22Z");
	assert_string_equal(get_str(ev, "actor"), "ana@laptop");
	assert_string_equal(get_str(ev, "pipeline"), "shop");
	assert_string_equal(get_str(ev, "app"), "shop-staging");
	assert_int_equal(json_integer_value(json_object_get(ev, "version")),
	    24);
	assert_string_equal(get_str(ev, "commit"), SHA);
	assert_string_equal(get_str(ev, "message"), "Deploy 3f2a9c1");
	/* data is an object, not a string holding one */
	assert_string_equal(get_str(ev, "data.release_phase.status"),
	    "succeeded");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    ev, "data"), "release_id")), 7);
	assert_string_equal(get_str(j, "app.name"), "shop-staging");
	assert_string_equal(get_str(j, "app.stage"), "staging");
	assert_string_equal(get_str(j, "app.branch"), "main");
	assert_string_equal(get_str(j, "app.url"), URL);
	assert_string_equal(get_str(j, "commit.sha"), SHA);
	assert_string_equal(get_str(j, "commit.short_sha"), "3f2a9c1");
	assert_string_equal(get_str(j, "commit.subject"),
	    "Fix the cart total");
	assert_string_equal(get_str(j, "commit.author"), "Ana");
	assert_string_equal(get_str(j, "commit.time"), "2026-11-26T13:23:22Z");
	json_decref(j);
	free(body);

	/* A pipeline's event: no app, no version, no commit; bad data. */
	sample_init(&s, "access.changed", "not json");
	s.e.app = NULL;
	s.e.app_id = 0;
	s.e.version = 0;
	s.e.commit = NULL;
	s.ne.app = NULL;
	s.ne.url = NULL;
	s.ne.commit = NULL;
	body = notify_json_body(&s.ne);
	j = json_loads(body, 0, NULL);
	assert_non_null(j);
	ev = json_object_get(j, "event");
	assert_true(json_is_null(json_object_get(ev, "app")));
	assert_true(json_is_null(json_object_get(ev, "version")));
	assert_true(json_is_null(json_object_get(ev, "commit")));
	assert_true(json_is_object(json_object_get(ev, "data")));
	assert_true(json_is_null(json_object_get(j, "app")));
	assert_true(json_is_null(json_object_get(j, "commit")));
	json_decref(j);
	free(body);

	/* A subject or a message that is not UTF-8 still makes a body. */
	sample_init(&s, "build.failed", "[1]");
	s.c.subject = (char *)"caf\xe9 au lait";
	s.e.message = (char *)"Build failed: \xff\xfe";
	body = notify_json_body(&s.ne);
	j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(get_str(j, "commit.subject"), "caf? au lait");
	assert_string_equal(get_str(j, "event.message"), "Build failed: ??");
	assert_string_equal(get_str(j, "event.kind"), "build.failed");
	assert_true(json_is_object(json_object_get(json_object_get(j,
	    "event"), "data")));
	json_decref(j);
	free(body);
}

static void
test_signature(void **state)
{
	/* GitHub's documented example of X-Hub-Signature-256. */
	static const char body[] = "Hello, World!";
	char sig[NOTIFY_SIGNATURE_SIZE], hex[65];
	unsigned char mac[32];
	struct sample s;
	char *json;

	(void)state;
	notify_signature("It's a Secret to Everybody", body, strlen(body), sig);
	assert_string_equal(sig, "sha256=757107ea0eb2509fc211221cce984b8a37"
	    "570b6d7586c22c46f4379c8b043e17");
	/* Of the exact bytes of a body. */
	sample_init(&s, "build.succeeded", "{}");
	json = notify_json_body(&s.ne);
	notify_signature("s3cret", json, strlen(json), sig);
	crypto_hmac_sha256("s3cret", 6, json, strlen(json), mac);
	crypto_hex(mac, sizeof(mac), hex);
	assert_memory_equal(sig, "sha256=", 7);
	assert_string_equal(sig + 7, hex);
	free(json);
}

/*
 * body is a Slack message Block Kit takes: a text, and blocks of a
 * section (mrkdwn text, an optional button) and a context (mrkdwn
 * elements), within Slack's lengths. Returns the parsed message.
 */
static json_t *
block_kit(const char *body)
{
	json_t *j = json_loads(body, 0, NULL), *blocks, *b;
	size_t i;

	assert_non_null(j);
	assert_true(json_is_string(json_object_get(j, "text")));
	assert_true(strlen(get_str(j, "text")) > 0);
	assert_true(strlen(get_str(j, "text")) <= 3000);
	blocks = json_object_get(j, "blocks");
	assert_true(json_is_array(blocks));
	assert_true(json_array_size(blocks) >= 1);
	assert_true(json_array_size(blocks) <= 50);
	json_array_foreach(blocks, i, b) {
		const char *type = get_str(b, "type");

		assert_non_null(type);
		if (strcmp(type, "section") == 0) {
			json_t *acc = json_object_get(b, "accessory");

			assert_string_equal(get_str(b, "text.type"), "mrkdwn");
			assert_true(strlen(get_str(b, "text.text")) > 0);
			assert_true(strlen(get_str(b, "text.text")) <= 3000);
			if (acc != NULL) {
				assert_string_equal(get_str(acc, "type"),
				    "button");
				assert_string_equal(get_str(acc, "text.type"),
				    "plain_text");
				assert_non_null(get_str(acc, "url"));
			}
		} else if (strcmp(type, "actions") == 0) {
			/* A staging deploy's "Promote to production". */
			json_t *el = json_array_get(json_object_get(b,
			    "elements"), 0);

			assert_int_equal(json_array_size(json_object_get(b,
			    "elements")), 1);
			assert_string_equal(get_str(el, "type"), "button");
			assert_string_equal(get_str(el, "action_id"),
			    "promote");
			assert_string_equal(get_str(el, "text.text"),
			    "Promote to production");
			assert_non_null(get_str(el, "value"));
		} else {
			json_t *els = json_object_get(b, "elements"), *el;
			size_t k;

			assert_string_equal(type, "context");
			assert_true(json_array_size(els) >= 1);
			assert_true(json_array_size(els) <= 10);
			json_array_foreach(els, k, el) {
				assert_string_equal(get_str(el, "type"),
				    "mrkdwn");
				assert_true(strlen(get_str(el,
				    "text")) <= 3000);
			}
		}
	}
	return j;
}

/* The section's text and the context's, of a message. */
static const char *
section(json_t *j)
{
	return get_str(json_array_get(json_object_get(j, "blocks"), 0),
	    "text.text");
}

static const char *
context(json_t *j)
{
	return get_str(json_array_get(json_object_get(json_array_get(
	    json_object_get(j, "blocks"), 1), "elements"), 0), "text");
}

static void
contains(const char *hay, const char *needle)
{
	if (hay == NULL || strstr(hay, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)",
		    needle);
}

static void
test_slack_release(void **state)
{
	static const char deploy[] = "{\"kind\":\"deploy\",\"release_id\":7,"
	    "\"release_phase\":{\"command\":\"./migrate\",\"status\":"
	    "\"succeeded\",\"duration\":1.1}}";
	struct sample s;
	json_t *j;
	char *body;

	(void)state;
	/* A merge deployed to staging. */
	sample_init(&s, "release.succeeded", deploy);
	body = notify_slack_body(&s.ne);
	assert_non_null(body);
	j = block_kit(body);
	assert_string_equal(get_str(j, "text"), "shop-staging v24 is live "
	    "(3f2a9c1 \"Fix the cart total\", Ana) · release phase 1.1s");
	contains(section(j), "<" URL "|shop-staging> v24 is live*");
	contains(section(j), "(staging)");
	contains(context(j), "`3f2a9c1` Fix the cart total (Ana)");
	contains(context(j), "release phase 1.1 s");
	contains(context(j), "by ana@laptop");
	assert_string_equal(get_str(json_object_get(json_array_get(
	    json_object_get(j, "blocks"), 0), "accessory"), "url"), URL);
	json_decref(j);
	free(body);

	/* A promotion to production, and who did it. */
	sample_init(&s, "release.succeeded", "{\"kind\":\"promote\"}");
	s.e.app = s.a.name = (char *)"shop";
	s.a.stage = (char *)"production";
	s.e.message = (char *)"Promote shop-staging v24";
	s.ne.url = "http://shop.localhost:8080/";
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	contains(section(j), ":rocket:");
	contains(section(j), "(production): promoted by ana@laptop "
	    "(Promote shop-staging v24)");
	contains(get_str(j, "text"), "shop v24 is live, promoted by "
	    "ana@laptop");
	json_decref(j);
	free(body);

	/* A review app up, with its URL. */
	sample_init(&s, "release.succeeded", "{\"kind\":\"deploy\"}");
	s.e.app = s.a.name = (char *)"shop-feature-login";
	s.a.stage = (char *)"review";
	s.a.branch = (char *)"feature/login";
	s.ne.url = "http://shop-feature-login.localhost:8080/";
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	contains(get_str(j, "text"), "Review app of feature/login is up: "
	    "http://shop-feature-login.localhost:8080/");
	contains(section(j), "<http://shop-feature-login.localhost:8080/|"
	    "shop-feature-login> v24");
	json_decref(j);
	free(body);

	/* A failed release, its release phase failed: marked as such. */
	sample_init(&s, "release.failed", "{\"kind\":\"deploy\","
	    "\"release_phase\":{\"command\":\"./migrate\",\"status\":"
	    "\"failed\",\"duration\":2.0}}");
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	contains(section(j), ":x: *");
	contains(section(j), "v24 failed*");
	contains(get_str(j, "text"), "shop-staging v24 failed");
	contains(context(j), "release phase failed after 2.0 s");
	contains(context(j), "see: berth releases:output v24 -a shop-staging");
	/* No button to an app that did not change. */
	assert_null(json_object_get(json_array_get(json_object_get(j,
	    "blocks"), 0), "accessory"));
	json_decref(j);
	free(body);
}

static void
test_slack_ci_build_push(void **state)
{
	struct sample s;
	json_t *j;
	char *body;

	(void)state;
	sample_init(&s, "test_run.failed", "{\"number\":12,\"branch\":"
	    "\"main\",\"passed\":40,\"failed\":2,\"duration\":12.3}");
	s.e.app = NULL;
	s.ne.app = NULL;
	s.ne.url = NULL;
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	contains(section(j), ":x: *Tests failed* on `main` (#12): 40 passed, "
	    "2 failed in 12.3 s");
	contains(context(j), "`3f2a9c1` Fix the cart total (Ana)");
	json_decref(j);
	free(body);

	s.e.kind = (char *)"test_run.succeeded";
	s.e.data = (char *)"{\"number\":13,\"branch\":\"main\",\"passed\":42,"
	    "\"failed\":0,\"duration\":3}";
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	contains(section(j), ":white_check_mark: *Tests passed* on `main` "
	    "(#13): 42 passed, 0 failed in 3.0 s");
	json_decref(j);
	free(body);

	sample_init(&s, "build.failed", "{\"build\":9,\"ref\":"
	    "\"refs/heads/main\",\"error\":\"no buildpack detected\"}");
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	contains(section(j), ":x: *Build of `main` failed* for shop-staging: "
	    "no buildpack detected");
	contains(context(j), "see: berth builds:output 9 -a shop-staging");
	json_decref(j);
	free(body);

	/* A branch that deploys nothing, and no review apps: its push. */
	sample_init(&s, "push", "{\"ref\":\"refs/heads/spike\",\"branch\":"
	    "\"spike\",\"before\":null,\"after\":\"" SHA "\"}");
	s.e.app = NULL;
	s.ne.app = NULL;
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	contains(section(j), ":arrow_up: *ana@laptop pushed `spike`* of shop");
	json_decref(j);
	free(body);

	sample_init(&s, "review_app.destroyed", "{\"branch\":\"feature/x\"}");
	s.e.app = (char *)"shop-feature-x";
	s.e.commit = NULL;
	s.ne.commit = NULL;
	s.ne.url = NULL;
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	assert_string_equal(section(j), ":wastebasket: *Review app of "
	    "`feature/x`* destroyed (shop-feature-x)");
	assert_string_equal(get_str(j, "text"), "Review app of feature/x "
	    "destroyed");
	json_decref(j);
	free(body);
}

/* Steps on the way to a message are not one. */
static void
test_slack_internal(void **state)
{
	static const char *const kinds[] = { "build.succeeded",
	    "test_run.started", "review_app.created" };
	struct sample s;
	size_t i;
	char *body;

	(void)state;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		sample_init(&s, kinds[i], "{}");
		assert_null(notify_slack_body(&s.ne));
	}
	sample_init(&s, "push", "{\"ref\":\"refs/heads/main\",\"branch\":"
	    "\"main\"}");
	s.ne.push_deploys = 1;
	assert_null(notify_slack_body(&s.ne));
	/* What a webhook asks for beyond the default gets a line. */
	sample_init(&s, "config.changed", "{\"set\":[\"FOO\"],\"unset\":[]}");
	s.e.message = (char *)"Set FOO config vars";
	body = notify_slack_body(&s.ne);
	assert_non_null(body);
	json_decref(block_kit(body));
	free(body);
}

/* Pushed text cannot mention, link or break the markup. */
static void
test_slack_escaping(void **state)
{
	struct sample s;
	json_t *j, *d;
	char *body, *text, big[5000];

	(void)state;
	sample_init(&s, "release.succeeded", "{\"kind\":\"deploy\"}");
	s.c.subject = (char *)"<!channel> fix & <http://evil|click>";
	s.c.author = (char *)"Mallory\nNew line";
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	assert_null(strstr(body, "<!channel>"));
	assert_null(strstr(body, "<http://evil"));
	contains(context(j), "&lt;!channel&gt; fix &amp; &lt;http://evil|"
	    "click&gt;");
	contains(context(j), "(Mallory New line)");
	json_decref(j);
	free(body);

	/* A long error is cut, on a character boundary (an é across the
	 * 300th byte goes whole). */
	memset(big, 'x', sizeof(big));
	memcpy(big + 299, "\xc3\xa9", 2);
	big[sizeof(big) - 1] = '\0';
	d = json_pack("{s:s, s:s}", "ref", "refs/heads/main", "error", big);
	text = json_dumps(d, JSON_COMPACT);
	sample_init(&s, "build.failed", text);
	body = notify_slack_body(&s.ne);
	j = block_kit(body);
	contains(section(j), ": xxx");
	contains(section(j), "xx…");
	assert_null(strstr(section(j), "\xc3"));
	json_decref(j);
	free(body);
	free(text);
	json_decref(d);
}

static void
test_backoff(void **state)
{
	int i, total = 0;

	(void)state;
	assert_int_equal(notify_backoff(1, 30), 30);
	assert_int_equal(notify_backoff(2, 30), 120);
	assert_int_equal(notify_backoff(3, 30), 480);
	assert_int_equal(notify_backoff(4, 30), 1200);
	assert_int_equal(notify_backoff(5, 30), -1);
	assert_int_equal(notify_backoff(0, 30), -1);
	/* At least 5 tries over about 30 minutes. */
	for (i = 1; notify_backoff(i, 30) >= 0; i++)
		total += notify_backoff(i, 30);
	assert_int_equal(i, NOTIFY_TRIES);
	assert_true(NOTIFY_TRIES >= 5);
	assert_true(total >= 25 * 60 && total <= 35 * 60);
	/* The tests' berth.ini: retry_base = 1. */
	assert_int_equal(notify_backoff(1, 1), 1);
	assert_int_equal(notify_backoff(4, 1), 40);
}

static void
test_judge(void **state)
{
	(void)state;
	assert_int_equal(notify_judge(200, 0), NOTIFY_SUCCEEDED);
	assert_int_equal(notify_judge(204, 0), NOTIFY_SUCCEEDED);
	assert_int_equal(notify_judge(200, 1), NOTIFY_FAILED);
	assert_int_equal(notify_judge(0, 0), NOTIFY_RETRY);
	assert_int_equal(notify_judge(500, 0), NOTIFY_RETRY);
	assert_int_equal(notify_judge(503, 1), NOTIFY_RETRY);
	assert_int_equal(notify_judge(408, 0), NOTIFY_RETRY);
	assert_int_equal(notify_judge(429, 0), NOTIFY_RETRY);
	assert_int_equal(notify_judge(410, 0), NOTIFY_FAILED);
	assert_int_equal(notify_judge(404, 0), NOTIFY_FAILED);
	assert_int_equal(notify_judge(400, 0), NOTIFY_FAILED);
	assert_int_equal(notify_judge(301, 0), NOTIFY_FAILED);
	assert_int_equal(notify_judge(302, 0), NOTIFY_FAILED);
}

/* ---- the ledger side ---- */

struct fixture {
	char *dir;
	struct ledger *db;
	int64_t pid;
};

static int
setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	struct app_new apps[] = { { "shop-staging", "staging", "main" } };
	char *path;

	fx->dir = xasprintf("%s/berth-test-notify-XXXXXX", tmp != NULL &&
	    *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	path = path_join(fx->dir, "ledger.db");
	if (ledger_open(path, &fx->db) != 0 || ledger_pipeline_create(fx->db,
	    "shop", "main", apps, 1, &fx->pid) != 0) {
		fprintf(stderr, "# %s\n", berth_last_error());
		free(path);
		return -1;
	}
	free(path);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	ledger_close(fx->db);
	rm_rf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static void
add_event(struct fixture *fx, const char *kind)
{
	struct event_new ev = {
		.kind = kind,
		.pipeline_id = fx->pid,
		.actor = "tester",
		.message = "something",
	};

	assert_int_equal(ledger_event_add(fx->db, &ev), 0);
}

/* A backlog of one webhook leaves room for the others'. */
static void
test_due_per_webhook(void **state)
{
	struct fixture *fx = *state;
	struct delivery *ds = NULL;
	int64_t slow, fast;
	size_t nr = 0, i, nslow = 0, nfast = 0;
	char next[32];
	int k;

	assert_int_equal(ledger_webhook_add(fx->db, fx->pid, "http://a/",
	    "json", "", NULL, &slow), 0);
	for (k = 0; k < 50; k++)
		add_event(fx, "push");
	assert_int_equal(ledger_webhook_add(fx->db, fx->pid, "http://b/",
	    "json", "push", NULL, &fast), 0);
	add_event(fx, "push");
	add_event(fx, "config.changed");	/* b does not want it */
	assert_int_equal(ledger_delivery_due(fx->db, "9999-01-01T00:00:00Z",
	    4, 10, &ds, &nr), 0);
	for (i = 0; i < nr; i++) {
		nslow += ds[i].webhook_id == slow;
		nfast += ds[i].webhook_id == fast;
		if (i > 0)
			assert_true(strcmp(ds[i - 1].next_at,
			    ds[i].next_at) <= 0);
	}
	assert_int_equal(nslow, 4);
	assert_int_equal(nfast, 1);
	assert_int_equal(ledger_delivery_next_due(fx->db, next), 0);
	assert_string_equal(next, ds[0].next_at);
	delivery_list_free(ds, nr);
	/* Nothing is due before it was made. */
	assert_int_equal(ledger_delivery_due(fx->db, "2000-01-01T00:00:00Z",
	    4, 10, &ds, &nr), 0);
	assert_int_equal(nr, 0);
	free(ds);
}

/* Outcomes of several tries land in one go; a pending one moves. */
static void
test_record_all(void **state)
{
	struct fixture *fx = *state;
	struct delivery *ds = NULL, d;
	struct delivery_try t[2];
	int64_t w;
	size_t nr = 0;

	assert_int_equal(ledger_webhook_add(fx->db, fx->pid, "http://a/",
	    "json", "", "s", &w), 0);
	add_event(fx, "push");
	add_event(fx, "push");
	assert_int_equal(ledger_delivery_due(fx->db, "9999-01-01T00:00:00Z",
	    4, 10, &ds, &nr), 0);
	assert_int_equal(nr, 2);
	memset(t, 0, sizeof(t));
	t[0].id = ds[0].id;
	t[0].status = "succeeded";
	t[0].http_code = 200;
	t[0].latency_ms = 3;
	t[1].id = ds[1].id;
	t[1].status = "pending";
	t[1].next_at = "2999-01-01T00:00:00Z";
	t[1].http_code = 500;
	t[1].error = "HTTP 500";
	assert_int_equal(ledger_delivery_record_all(fx->db, t, 2), 0);
	assert_int_equal(ledger_delivery_get(fx->db, ds[0].id, &d), 0);
	assert_string_equal(d.status, "succeeded");
	assert_int_equal(d.attempts, 1);
	assert_non_null(d.finished_at);
	delivery_clear(&d);
	assert_int_equal(ledger_delivery_get(fx->db, ds[1].id, &d), 0);
	assert_string_equal(d.status, "pending");
	assert_string_equal(d.next_at, "2999-01-01T00:00:00Z");
	assert_string_equal(d.error, "HTTP 500");
	assert_null(d.finished_at);
	delivery_clear(&d);
	delivery_list_free(ds, nr);
}

/* The release phase's result rides on the release's event. */
static void
test_release_phase_event(void **state)
{
	struct fixture *fx = *state;
	struct release_new rn = {
		.kind = "deploy",
		.status = "pending",
		.actor = "tester",
		.description = "Deploy 3f2a9c1",
	};
	struct release rel;
	struct app a;
	struct event *es = NULL;
	size_t nr = 0;
	json_t *d;

	assert_int_equal(ledger_app_get(fx->db, "shop-staging", &a), 0);
	rn.app_id = a.id;
	assert_int_equal(ledger_release_create(fx->db, &rn, &rel), 0);
	assert_int_equal(ledger_release_phase(fx->db, rel.id, "./migrate", 1,
	    1140), 0);
	assert_int_equal(ledger_release_finish(fx->db, rel.id, "succeeded"),
	    0);
	assert_int_equal(ledger_event_list(fx->db, fx->pid, a.id, 1, &es,
	    &nr), 0);
	assert_int_equal(nr, 1);
	assert_string_equal(es[0].kind, "release.succeeded");
	d = json_loads(es[0].data, 0, NULL);
	assert_string_equal(get_str(d, "release_phase.command"), "./migrate");
	assert_string_equal(get_str(d, "release_phase.status"), "succeeded");
	assert_true(json_real_value(json_object_get(json_object_get(d,
	    "release_phase"), "duration")) == 1.1);
	json_decref(d);
	event_list_free(es, nr);
	release_clear(&rel);
	/* Without a release phase: null. */
	assert_int_equal(ledger_release_create(fx->db, &rn, &rel), 0);
	assert_int_equal(ledger_release_finish(fx->db, rel.id, "failed"), 0);
	assert_int_equal(ledger_event_list(fx->db, fx->pid, a.id, 1, &es,
	    &nr), 0);
	d = json_loads(es[0].data, 0, NULL);
	assert_true(json_is_null(json_object_get(d, "release_phase")));
	json_decref(d);
	event_list_free(es, nr);
	release_clear(&rel);
	app_clear(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_body),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_slack_release),
		cmocka_unit_test(test_slack_ci_build_push),
		cmocka_unit_test(test_slack_internal),
		cmocka_unit_test(test_slack_escaping),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_judge),
		cmocka_unit_test_setup_teardown(test_due_per_webhook, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_record_all, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_release_phase_event,
		    setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
