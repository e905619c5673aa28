/*
 * notify.c - berthd's webhook sender (notify.h): one thread, its own
 * ledger connection, a libcurl multi handle for the tries of json and
 * slack webhooks, and a thread per GitHub call (github_tell() blocks).
 *
 * A try in flight is only in memory; its delivery stays pending in the
 * ledger until the try's outcome is recorded, so nothing is lost when
 * berthd dies, and a delivery being tried is never taken again (it is
 * in the list of tries). Outcomes are recorded a few at a time, in one
 * transaction (record()): a burst of deliveries costs a deploy a few
 * short writes, not one per delivery. An outcome that cannot be
 * recorded (a full disk) stays in the list and is tried again, never
 * sent again.
 *
 * At most NOTIFY_AT_ONCE tries run at once, and at most PER_WEBHOOK
 * to one json webhook (one to a slack or github webhook, whose
 * messages and statuses should land in order): a webhook that hangs
 * holds its own slots until the timeout, never the others'.
 */
#include "notify.h"
#include "github.h"
#include "runtime.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Tries in flight at once, to all webhooks. */
#define NOTIFY_AT_ONCE 64
/* ...to one json webhook; slack and github get one at a time. */
#define PER_WEBHOOK 4
/* GitHub calls in flight at once (each a thread). */
#define GITHUB_AT_ONCE 4
/* Look at the ledger at least this often: events come from hooks and
 * the CLI, which do not tell berthd. */
#define LOOK_MS 500
/* ...and, when the last look could start nothing (every due one's
 * webhook busy), at most this often as tries end. */
#define LOOK_MIN_MS 10
/* How long a stop lets tries in flight end. */
#define STOP_GRACE_MS 1000
/* How long, and for how many others, an outcome may wait to be recorded
 * with them while tries are in flight: a fan-out to 50 webhooks is a
 * few transactions, not 50; a backlog's rows are not read again and
 * again meanwhile. */
#define RECORD_MS 50
#define RECORD_BATCH 32
/* Webhooks kept in memory at most, and for how long (see webhook()). */
#define HOOKS_MAX 256
#define HOOKS_MS 60000
/* Connecting may take this long at most (and at most the timeout). */
#define CONNECT_MS 5000

struct gh_job;

/* One try of one delivery, from its start until its outcome is recorded. */
struct try {
	struct try *next;
	int64_t id;		/* the delivery */
	int64_t webhook_id;
	int64_t event_id;
	char *event_kind;
	char *kind;		/* the webhook's: json, slack, github */
	char *host;		/* its URL's, for the log (never the path) */
	int attempts;		/* tries made before this one */
	int64_t started_ms;
	/* a POST of json or slack */
	CURL *h;
	struct curl_slist *hdrs;
	char *body;
	size_t got;		/* bytes of the answer read */
	int cut;		/* the answer passed NOTIFY_BODY_MAX */
	int retry_after;	/* seconds the answer asked for */
	char errbuf[CURL_ERROR_SIZE];
	/* a github_tell() on its own thread */
	struct gh_job *job;
	/* its outcome, to record */
	int done;
	int64_t done_ms;
	struct delivery_try rec;
	char next_at[32];
	char *error;
};

/* A GitHub call: what the thread needs, and what it found. */
struct gh_job {
	struct gh_job *next;	/* on n->gh_done once finished */
	struct notifier *n;
	struct try *t;		/* NULL: the sender stopped waiting */
	char *api, *token;
	struct event ev;
	char *stage, *url;
	int rc;
	struct github_result res;
	char *error;
};

/* What the deliveries of one event share (the last event's, cached). */
struct event_ctx {
	int64_t id;		/* 0: none */
	struct event e;
	struct app app;
	int has_app;
	char *url;
	struct commit_info ci;
	int has_commit;
	int push_deploys;
};

struct notifier {
	const struct berth_root *root;
	pthread_t thread;
	pthread_mutex_t lock;	/* stopping, gh_done, refs, multi_alive */
	int stopping;
	int refs;		/* the sender, and each GitHub thread */
	int multi_alive;
	struct gh_job *gh_done;
	CURLM *multi;
	/* the sender thread's own */
	struct ledger *db;
	struct try *tries;	/* in flight, or done and not recorded yet */
	int ntries;
	int ninflight;		/* of them, not done */
	int ngithub;
	int64_t look_at;	/* monotonic ms of the next look at it */
	int look_now;		/* look again at once (or LOOK_MIN_MS) */
	int64_t looked;		/* monotonic ms of the last look */
	int looked_idle;	/* and it started nothing */
	int more_due;		/* the last look left due ones unstarted */
	int64_t record_by;	/* when done tries are recorded; 0: none */
	int64_t record_at;	/* after a failed record: when to try again */
	int record_failing;
	git_repository *repo;
	char *repo_pipeline;
	struct event_ctx ctx;
	struct webhook *hooks;	/* read from the ledger lately */
	size_t nhooks;
	int64_t hooks_at;	/* monotonic ms of the first of them */
};

/* ---- the rules: what an answer means, how long to wait ---- */

enum notify_outcome
notify_judge(int http_code, int cut_off)
{
	if (http_code >= 200 && http_code <= 299)
		return cut_off ? NOTIFY_FAILED : NOTIFY_SUCCEEDED;
	if (http_code == 0 || http_code == 408 || http_code == 429 ||
	    http_code >= 500 || http_code < 200)
		return NOTIFY_RETRY;
	return NOTIFY_FAILED;	/* 3xx, 4xx: asking again gets the same */
}

int
notify_backoff(int tries, int base)
{
	static const int times[NOTIFY_TRIES - 1] = { 1, 4, 16, 40 };

	if (tries < 1 || tries >= NOTIFY_TRIES)
		return -1;
	return base * times[tries - 1];
}

/* ---- time ---- */

static void
iso_of(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ"; -1 if it is not. */
static time_t
time_of(const char *iso)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* ---- what a delivery's event is about ---- */

static void
ctx_clear(struct event_ctx *c)
{
	if (c->id != 0) {
		event_clear(&c->e);
		if (c->has_app)
			app_clear(&c->app);
		if (c->has_commit)
			commit_info_clear(&c->ci);
		free(c->url);
	}
	memset(c, 0, sizeof(*c));
}

/* The pipeline's repository, kept open while its events come. */
static git_repository *
pipeline_repo(struct notifier *n, const char *pipeline)
{
	char *path;

	if (pipeline == NULL)
		return NULL;
	if (n->repo_pipeline != NULL && strcmp(n->repo_pipeline,
	    pipeline) == 0)
		return n->repo;
	git_repository_free(n->repo);
	free(n->repo_pipeline);
	n->repo = NULL;
	n->repo_pipeline = xstrdup(pipeline);
	path = root_repo_path(n->root, pipeline);
	if (repo_open(path, &n->repo) < 0)
		n->repo = NULL;
	free(path);
	return n->repo;
}

/*
 * Whether a push's branch deploys an app (its release tells) or gets a
 * review app (whose release tells, with its URL).
 */
static int
push_deploys(struct notifier *n, const struct event *e)
{
	json_t *d = json_loads(e->data != NULL ? e->data : "{}", 0, NULL);
	const char *ref = json_string_value(json_object_get(d, "ref"));
	const char *branch = json_string_value(json_object_get(d, "branch"));
	struct pipeline p;
	struct app *apps = NULL;
	size_t nr = 0;
	int ret = 0;

	if (ref == NULL || branch == NULL || strncmp(ref, "refs/heads/",
	    11) != 0) {
		json_decref(d);
		return 0;	/* a tag: nothing deploys it */
	}
	if (ledger_pipeline_get_by_id(n->db, e->pipeline_id, &p) == 0) {
		ret = p.review_apps;
		pipeline_clear(&p);
	}
	if (!ret && ledger_apps_for_branch(n->db, e->pipeline_id, branch,
	    &apps, &nr) == 0) {
		ret = nr > 0;
		app_list_free(apps, nr);
	}
	json_decref(d);
	return ret;
}

/* n->ctx for event id: 0, or -1 when the event cannot be read. */
static int
load_ctx(struct notifier *n, int64_t id)
{
	struct event_ctx *c = &n->ctx;
	git_repository *repo;

	if (c->id == id)
		return 0;
	ctx_clear(c);
	if (ledger_event_get(n->db, id, &c->e) != 0)
		return -1;
	c->id = id;
	if (c->e.app_id != 0 && ledger_app_get_by_id(n->db, c->e.app_id,
	    &c->app) == 0) {
		c->has_app = 1;
		if (strcmp(c->e.kind, "review_app.destroyed") != 0)
			c->url = runtime_url(n->root, c->app.name);
	}
	repo = c->e.commit != NULL ? pipeline_repo(n, c->e.pipeline) : NULL;
	/* A commit a rejected push left in quarantine is not there. */
	if (repo != NULL && repo_commit_info(repo, c->e.commit, &c->ci) == 0)
		c->has_commit = 1;
	if (strcmp(c->e.kind, "push") == 0)
		c->push_deploys = push_deploys(n, &c->e);
	berth_clear_error();
	return 0;
}

/* ---- webhooks ---- */

static void
hooks_clear(struct notifier *n)
{
	webhook_list_free(n->hooks, n->nhooks);
	n->hooks = NULL;
	n->nhooks = 0;
}

/*
 * Webhook id, from memory when read lately: a webhook is never changed,
 * only added and removed (ledger.h), and a removed one's deliveries are
 * not due (they failed with it), so what is kept is never wrong for a
 * due delivery; a fan-out to 50 webhooks reads each once, not once per
 * event. Kept for HOOKS_MS at most, so a secret removal forgot leaves
 * memory too. NULL when there is no such live webhook.
 */
static const struct webhook *
webhook(struct notifier *n, int64_t id)
{
	size_t i;

	if (n->nhooks > 0 && (n->nhooks >= HOOKS_MAX ||
	    now_ms() - n->hooks_at > HOOKS_MS))
		hooks_clear(n);
	for (i = 0; i < n->nhooks; i++)
		if (n->hooks[i].id == id)
			return &n->hooks[i];
	if (n->nhooks == 0)
		n->hooks_at = now_ms();
	n->hooks = xrealloc(n->hooks, (n->nhooks + 1) * sizeof(*n->hooks));
	if (ledger_webhook_get(n->db, id, &n->hooks[n->nhooks]) != 0)
		return NULL;
	return &n->hooks[n->nhooks++];
}

/* ---- tries ---- */

/* The host of url, for the log; caller frees. */
static char *
url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *out;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
		curl_url_get(u, CURLUPART_HOST, &host, 0);
	out = xstrdup(host != NULL ? host : "?");
	curl_free(host);
	curl_url_cleanup(u);
	return out;
}

static void
try_free(struct try *t)
{
	if (t->h != NULL)
		curl_easy_cleanup(t->h);
	curl_slist_free_all(t->hdrs);
	free(t->body);
	free(t->event_kind);
	free(t->kind);
	free(t->host);
	free(t->error);
	free(t);
}

/* The number of tries in flight to webhook id. */
static int
webhook_tries(struct notifier *n, int64_t id)
{
	struct try *t;
	int k = 0;

	for (t = n->tries; t != NULL; t = t->next)
		k += t->webhook_id == id && !t->done;
	return k;
}

static int
has_try(struct notifier *n, int64_t delivery)
{
	struct try *t;

	for (t = n->tries; t != NULL; t = t->next)
		if (t->id == delivery)
			return 1;
	return 0;
}

/*
 * The try's outcome, for record() to write with others. A try to retry waits its back-off, or its answer's Retry-After when
 * that is longer; after NOTIFY_TRIES tries it has failed.
 */
static void
finish(struct notifier *n, struct try *t, enum notify_outcome o,
    int http_code, const char *error)
{
	int tries = t->attempts + 1, wait = -1;
	char *why = error != NULL ? xstrdup(error) : NULL;

	if (o == NOTIFY_RETRY) {
		wait = notify_backoff(tries, n->root->cfg.webhook_retry_base);
		if (wait < 0) {
			o = NOTIFY_FAILED;
			free(why);
			why = xasprintf("gave up after %d tries: %s", tries,
			    error != NULL ? error : "no answer");
		} else if (t->retry_after > wait)
			wait = t->retry_after < NOTIFY_RETRY_AFTER_MAX ?
			    t->retry_after : NOTIFY_RETRY_AFTER_MAX;
	}
	if (wait >= 0)
		iso_of(time(NULL) + wait, t->next_at);
	t->done = 1;
	t->done_ms = now_ms();
	n->ninflight--;
	/* A slot is free: what waited for one can go. */
	if (n->more_due)
		n->look_now = 1;
	t->error = why;
	t->rec.id = t->id;
	t->rec.status = o == NOTIFY_SUCCEEDED ? "succeeded" : o ==
	    NOTIFY_RETRY ? "pending" : "failed";
	t->rec.next_at = wait >= 0 ? t->next_at : NULL;
	t->rec.http_code = http_code;
	t->rec.error = t->error;
	t->rec.latency_ms = (int)(now_ms() - t->started_ms);
	if (o == NOTIFY_RETRY)
		log_say("webhook %lld (%s): %s (event %lld): %s; try %d of %d, "
		    "next at %s", (long long)t->webhook_id, t->host,
		    t->event_kind, (long long)t->event_id, why != NULL ? why :
		    "no answer", tries, NOTIFY_TRIES, t->next_at);
	else if (o == NOTIFY_FAILED)
		log_say("webhook %lld (%s): %s (event %lld) failed: %s",
		    (long long)t->webhook_id, t->host, t->event_kind,
		    (long long)t->event_id, why != NULL ? why : "no answer");
}

static size_t
take_body(char *data, size_t size, size_t nmemb, void *p)
{
	struct try *t = p;
	size_t len = size * nmemb;

	(void)data;
	if (t->got + len > NOTIFY_BODY_MAX) {
		t->cut = 1;
		return 0;	/* ends the transfer: nobody reads more */
	}
	t->got += len;
	return len;
}

static size_t
take_header(char *data, size_t size, size_t nmemb, void *p)
{
	struct try *t = p;
	size_t len = size * nmemb;
	char value[128];

	if (len > 12 && len < 12 + sizeof(value) &&
	    strncasecmp(data, "Retry-After:", 12) == 0) {
		char *end;
		long secs;

		memcpy(value, data + 12, len - 12);
		value[len - 12] = '\0';
		value[strcspn(value, "\r\n")] = '\0';
		secs = strtol(value, &end, 10);
		if (end == value || *end != '\0') {
			time_t when = curl_getdate(value, NULL);

			secs = when > 0 ? (long)(when - time(NULL)) : 0;
		}
		t->retry_after = secs > 0 ? (secs < NOTIFY_RETRY_AFTER_MAX ?
		    (int)secs : NOTIFY_RETRY_AFTER_MAX) : 0;
	}
	return len;
}

/*
 * Start the POST of body (which t takes) to w for t, delivery uuid. 0,
 * or -1 with berth_error().
 */
static int
start_post(struct notifier *n, struct try *t, const struct webhook *w,
    const char *uuid, char *body)
{
	char *h;
	long timeout = (long)n->root->cfg.webhook_timeout * 1000;

	t->body = body;
	t->h = curl_easy_init();
	if (t->h == NULL)
		return berth_error("cannot start a transfer (libcurl)");
	t->hdrs = curl_slist_append(t->hdrs, "Content-Type: application/json");
	t->hdrs = curl_slist_append(t->hdrs, "User-Agent: berth/"
	    PACKAGE_VERSION);
	t->hdrs = curl_slist_append(t->hdrs, "Expect:");
	h = xasprintf("X-Berth-Event: %s", t->event_kind);
	t->hdrs = curl_slist_append(t->hdrs, h);
	free(h);
	h = xasprintf("X-Berth-Delivery: %s", uuid);
	t->hdrs = curl_slist_append(t->hdrs, h);
	free(h);
	if (w->secret != NULL && *w->secret != '\0') {
		char sig[NOTIFY_SIGNATURE_SIZE];

		notify_signature(w->secret, body, strlen(body), sig);
		h = xasprintf("X-Berth-Signature-256: %s", sig);
		t->hdrs = curl_slist_append(t->hdrs, h);
		free(h);
	}
	curl_easy_setopt(t->h, CURLOPT_URL, w->url);
	curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE, (long)strlen(t->body));
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, t->hdrs);
	curl_easy_setopt(t->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t->h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT_MS, timeout < CONNECT_MS ?
	    timeout : (long)CONNECT_MS);
	curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, take_body);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->h, CURLOPT_HEADERFUNCTION, take_header);
	curl_easy_setopt(t->h, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
	if (curl_multi_add_handle(n->multi, t->h) != CURLM_OK)
		return berth_error("cannot start a transfer (libcurl)");
	return 0;
}

/* ---- GitHub calls, each on a thread of its own ---- */

static void
notifier_unref(struct notifier *n)
{
	int last;

	pthread_mutex_lock(&n->lock);
	last = --n->refs == 0;
	pthread_mutex_unlock(&n->lock);
	if (last) {
		pthread_mutex_destroy(&n->lock);
		free(n);
	}
}

static void
job_free(struct gh_job *j)
{
	free(j->api);
	free(j->token);
	event_clear(&j->ev);
	free(j->stage);
	free(j->url);
	free(j->error);
	free(j);
}

static void *
github_thread(void *arg)
{
	struct gh_job *j = arg;
	struct notifier *n = j->n;
	struct github_app app = { .stage = j->stage, .url = j->url };
	int keep;

	if (j->token == NULL) {
		j->rc = -1;
		j->res.permanent = 1;
		j->error = xstrdup("the GitHub connection has no token; "
		    "connect it again: berth github:connect");
	} else {
		j->rc = github_tell(j->api, j->token, &j->ev, &app, &j->res);
		if (j->rc < 0)
			j->error = xstrdup(berth_last_error());
	}
	pthread_mutex_lock(&n->lock);
	keep = j->t != NULL;
	if (keep) {
		j->next = n->gh_done;
		n->gh_done = j;
		if (n->multi_alive)
			curl_multi_wakeup(n->multi);
	}
	pthread_mutex_unlock(&n->lock);
	if (!keep)
		job_free(j);
	notifier_unref(n);
	return NULL;
}

/* Hand t to a thread of its own. 0, or -1 with berth_error(). */
static int
start_github(struct notifier *n, struct try *t, const struct webhook *w)
{
	struct gh_job *j = xcalloc(1, sizeof(*j));
	struct event_ctx *c = &n->ctx;
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	j->n = n;
	j->t = t;
	j->api = xstrdup(w->url);
	j->token = w->secret != NULL ? xstrdup(w->secret) : NULL;
	if (ledger_event_get(n->db, c->id, &j->ev) != 0) {
		job_free(j);
		return -1;
	}
	j->stage = c->has_app ? xstrdup(c->app.stage) : NULL;
	j->url = c->url != NULL ? xstrdup(c->url) : NULL;
	pthread_mutex_lock(&n->lock);
	n->refs++;
	pthread_mutex_unlock(&n->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, github_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		notifier_unref(n);
		job_free(j);
		errno = rc;
		return berth_error_errno("cannot start a thread for GitHub");
	}
	t->job = j;
	n->ngithub++;
	return 0;
}

/* The outcomes of GitHub calls that ended. */
static void
reap_github(struct notifier *n)
{
	struct gh_job *j, *next;

	pthread_mutex_lock(&n->lock);
	j = n->gh_done;
	n->gh_done = NULL;
	pthread_mutex_unlock(&n->lock);
	for (; j != NULL; j = next) {
		struct try *t = j->t;
		enum notify_outcome o;
		char *why = NULL;

		next = j->next;
		t->job = NULL;
		n->ngithub--;
		t->retry_after = j->res.retry_after;
		if (j->rc >= 0)
			o = NOTIFY_SUCCEEDED;
		else
			o = j->res.permanent ? NOTIFY_FAILED : NOTIFY_RETRY;
		if (j->rc == 1)
			why = xasprintf("not sent: nothing for GitHub in %s",
			    t->event_kind);
		finish(n, t, o, j->res.http_code, why != NULL ? why : j->error);
		free(why);
		job_free(j);
	}
}

/* ---- taking what is due ---- */

/* A try that ends as it starts (nothing to send, or it cannot start). */
static void
finish_now(struct notifier *n, struct try *t, enum notify_outcome o,
    const char *why)
{
	finish(n, t, o, 0, why);
}

/* Start a try of d (its webhook w). */
static void
start_try(struct notifier *n, const struct delivery *d,
    const struct webhook *w)
{
	struct try *t = xcalloc(1, sizeof(*t));
	struct notify_event ne;
	char *body = NULL;

	t->id = d->id;
	t->webhook_id = d->webhook_id;
	t->event_id = d->event_id;
	t->event_kind = xstrdup(d->event_kind);
	t->kind = xstrdup(w->kind);
	t->host = url_host(w->url);
	t->attempts = d->attempts;
	t->started_ms = now_ms();
	t->next = n->tries;
	n->tries = t;
	n->ntries++;
	n->ninflight++;
	if (load_ctx(n, d->event_id) < 0) {
		char *why = xasprintf("cannot read its event: %s",
		    berth_last_error());

		finish_now(n, t, NOTIFY_RETRY, why);
		free(why);
		return;
	}
	memset(&ne, 0, sizeof(ne));
	ne.event = &n->ctx.e;
	ne.delivery = d->uuid;
	ne.app = n->ctx.has_app ? &n->ctx.app : NULL;
	ne.url = n->ctx.url;
	ne.commit = n->ctx.has_commit ? &n->ctx.ci : NULL;
	ne.push_deploys = n->ctx.push_deploys;
	if (strcmp(w->kind, "github") == 0) {
		if (start_github(n, t, w) < 0)
			finish_now(n, t, NOTIFY_RETRY, berth_last_error());
		return;
	}
	if (strcmp(w->kind, "json") == 0) {
		body = notify_json_body(&ne);
		if (body == NULL) {
			finish_now(n, t, NOTIFY_FAILED, "cannot make its body "
			    "(out of memory?)");
			return;
		}
	} else if (strcmp(w->kind, "slack") == 0) {
		body = notify_slack_body(&ne);
		if (body == NULL) {
			/* Its message is another event's. */
			char *why = xasprintf("not sent: nothing to tell Slack "
			    "(%s is a step of another message)", t->event_kind);

			finish_now(n, t, NOTIFY_SUCCEEDED, why);
			free(why);
			return;
		}
	} else {
		finish_now(n, t, NOTIFY_FAILED, "this berthd sends no webhooks "
		    "of that kind");
		return;
	}
	if (start_post(n, t, w, d->uuid, body) < 0) {
		if (t->h != NULL) {
			curl_easy_cleanup(t->h);
			t->h = NULL;
		}
		finish_now(n, t, NOTIFY_RETRY, berth_last_error());
	}
}

/* When, in monotonic ms, the wall clock reads iso (now_ms() if past). */
static int64_t
ms_at(const char *iso)
{
	time_t t = time_of(iso);
	struct timespec ts;
	int64_t wall;

	clock_gettime(CLOCK_REALTIME, &ts);
	wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (t < 0 || (int64_t)t * 1000 <= wall)
		return now_ms();
	return now_ms() + (int64_t)t * 1000 - wall;
}

/* The most tries we hold (in flight or to record) of one webhook. */
static int
most_held(struct notifier *n)
{
	struct try *t, *u;
	int most = 0;

	for (t = n->tries; t != NULL; t = t->next) {
		int k = 0;

		for (u = n->tries; u != NULL; u = u->next)
			k += u->webhook_id == t->webhook_id;
		if (k > most)
			most = k;
	}
	return most;
}

/* Whether the webhook has per of the rows (so maybe more behind). */
static int
webhook_full(const struct delivery *ds, size_t nr, int64_t id, int per)
{
	size_t i;
	int k = 0;

	for (i = 0; i < nr; i++)
		k += ds[i].webhook_id == id;
	return k >= per;
}

/*
 * Start what is due and has a slot, and set when to look again: at the
 * next due one, but within LOOK_MS (the CLI and hooks add deliveries
 * without telling berthd), and as soon as a slot frees when something
 * due is left waiting for one (more_due).
 */
static void
take_due(struct notifier *n)
{
	struct delivery *ds = NULL;
	size_t nr = 0, i;
	char now[32], next[32];
	int64_t at = now_ms() + LOOK_MS, due;
	/* Rows of what we hold (in flight, or done and not yet recorded)
	 * come too: room for them, besides those that can start. */
	int limit = NOTIFY_AT_ONCE - n->ninflight + n->ntries;
	int per = PER_WEBHOOK + most_held(n);

	n->look_now = 0;
	n->look_at = at;
	n->looked = now_ms();
	n->looked_idle = 1;
	n->more_due = 1;
	if (n->ninflight >= NOTIFY_AT_ONCE)
		return;
	now_iso(now);
	if (ledger_delivery_due(n->db, now, per, limit, &ds, &nr) < 0) {
		log_say("webhooks: %s", berth_last_error());
		return;
	}
	n->more_due = nr == (size_t)limit;
	for (i = 0; i < nr; i++) {
		const struct webhook *w;
		int busy, free_slot;

		if (webhook_full(ds, nr, ds[i].webhook_id, per))
			n->more_due = 1;
		if (has_try(n, ds[i].id) || (w = webhook(n,
		    ds[i].webhook_id)) == NULL)
			continue;
		busy = webhook_tries(n, w->id);
		free_slot = strcmp(w->kind, "json") == 0 ? busy < PER_WEBHOOK :
		    busy == 0 && (strcmp(w->kind, "github") != 0 ||
		    n->ngithub < GITHUB_AT_ONCE);
		if (free_slot && n->ninflight < NOTIFY_AT_ONCE) {
			start_try(n, &ds[i], w);
			n->looked_idle = 0;
		} else
			n->more_due = 1;
	}
	delivery_list_free(ds, nr);
	berth_clear_error();
	/* Within LOOK_MS: only worth a query when nothing is waiting for a
	 * slot (a free one brings the next look sooner). */
	if (!n->more_due && ledger_delivery_next_due(n->db, next) == 0) {
		due = ms_at(next);
		/* Due already: what has no slot waits for one to free. */
		if (due > now_ms() && due < at)
			n->look_at = due;
	}
}

/* ---- transfers that ended ---- */

static void
reap_posts(struct notifier *n)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(n->multi, &left)) != NULL) {
		struct try *t;
		char *priv = NULL;
		long code = 0;
		CURLcode rc = msg->data.result;
		char *why = NULL;
		enum notify_outcome o;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		t = (struct try *)(void *)priv;
		curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(n->multi, t->h);
		curl_easy_cleanup(t->h);
		t->h = NULL;
		if (t->cut) {
			o = notify_judge((int)code, 1);
			why = xasprintf("HTTP %ld, and an answer longer than "
			    "%d KiB: cut off there", code,
			    NOTIFY_BODY_MAX / 1024);
		} else if (rc == CURLE_OPERATION_TIMEDOUT) {
			o = NOTIFY_RETRY;
			why = xasprintf("%s (berth.ini [webhooks] timeout is "
			    "%d s)", t->errbuf[0] ? t->errbuf : "timed out",
			    n->root->cfg.webhook_timeout);
		} else if (rc != CURLE_OK) {
			o = NOTIFY_RETRY;
			why = xstrdup(t->errbuf[0] ? t->errbuf :
			    curl_easy_strerror(rc));
		} else {
			o = notify_judge((int)code, 0);
			if (code >= 300 && code <= 399)
				why = xasprintf("HTTP %ld: a redirect, which "
				    "berth does not follow; give the webhook "
				    "the URL it leads to", code);
			else if (o != NOTIFY_SUCCEEDED)
				why = xasprintf("HTTP %ld", code);
		}
		/* No answer: a code from a half-read one means nothing. */
		finish(n, t, o, rc == CURLE_OK || t->cut ? (int)code : 0, why);
		free(why);
	}
}

/*
 * Record every outcome there is, in one transaction; they leave the
 * list once recorded. While tries are in flight an outcome waits up to
 * RECORD_MS for more (unless force). When the ledger cannot be written
 * they stay (never sent again meanwhile) and are tried again a second
 * later.
 */
static void
record(struct notifier *n, int force)
{
	struct delivery_try *recs = NULL;
	struct try **pp, *t;
	int64_t oldest = 0;
	size_t nr = 0, ndone = 0;

	n->record_by = 0;
	if (n->record_failing && now_ms() < n->record_at)
		return;
	for (t = n->tries; t != NULL; t = t->next)
		if (t->done) {
			ndone++;
			if (oldest == 0 || t->done_ms < oldest)
				oldest = t->done_ms;
		}
	if (ndone == 0)
		return;
	if (!force && n->ninflight > 0 && ndone < RECORD_BATCH &&
	    now_ms() < oldest + RECORD_MS) {
		n->record_by = oldest + RECORD_MS;
		return;
	}
	for (t = n->tries; t != NULL; t = t->next)
		if (t->done) {
			recs = xrealloc(recs, (nr + 1) * sizeof(*recs));
			recs[nr++] = t->rec;
		}
	if (ledger_delivery_record_all(n->db, recs, nr) < 0) {
		if (!n->record_failing)
			log_say("webhooks: cannot record %zu tr%s (berthd "
			    "keeps trying): %s", nr, nr == 1 ? "y" : "ies",
			    berth_last_error());
		n->record_failing = 1;
		n->record_at = now_ms() + 1000;
		free(recs);
		return;
	}
	if (n->record_failing)
		log_say("webhooks: recording works again");
	n->record_failing = 0;
	free(recs);
	for (pp = &n->tries; (t = *pp) != NULL; ) {
		if (t->done) {
			*pp = t->next;
			n->ntries--;
			try_free(t);
		} else
			pp = &t->next;
	}
	if (n->more_due)
		n->look_now = 1;
}

/* ---- the thread ---- */

static int
stopping(struct notifier *n)
{
	int s;

	pthread_mutex_lock(&n->lock);
	s = n->stopping;
	pthread_mutex_unlock(&n->lock);
	return s;
}

/* Open the thread's own connection, every second until it can. */
static int
open_ledger(struct notifier *n)
{
	char *path = root_path(n->root, "ledger.db");
	int said = 0;

	while (ledger_open_existing(path, &n->db) < 0) {
		if (!said)
			log_say("webhooks: %s (berthd keeps trying)",
			    berth_last_error());
		said = 1;
		curl_multi_poll(n->multi, NULL, 0, 1000, NULL);
		if (stopping(n)) {
			free(path);
			return -1;
		}
	}
	free(path);
	return 0;
}

/* Drop what is still in flight (unrecorded: pending in the ledger). */
static void
drop_tries(struct notifier *n)
{
	struct try *t;
	size_t dropped = 0;

	while ((t = n->tries) != NULL) {
		n->tries = t->next;
		if (!t->done)
			dropped++;
		if (t->h != NULL)
			curl_multi_remove_handle(n->multi, t->h);
		if (t->job != NULL) {
			pthread_mutex_lock(&n->lock);
			t->job->t = NULL;	/* its thread frees it */
			pthread_mutex_unlock(&n->lock);
		}
		try_free(t);
	}
	n->ntries = n->ninflight = 0;
	if (dropped > 0)
		log_say("webhooks: %zu tr%s cut short by the stop; sent again "
		    "at the next start", dropped, dropped == 1 ? "y" : "ies");
}

/* When to look at the ledger next (monotonic ms). */
static int64_t
next_look(const struct notifier *n)
{
	int64_t soon = n->looked + (n->looked_idle ? LOOK_MIN_MS : 0);

	return n->look_now && soon < n->look_at ? soon : n->look_at;
}

static void *
sender(void *arg)
{
	struct notifier *n = arg;
	int64_t grace_end = 0;

	if (open_ledger(n) < 0)
		goto out;
	for (;;) {
		int64_t now = now_ms(), wake;
		long curl_ms = -1;
		int running;

		if (stopping(n)) {
			if (grace_end == 0)
				grace_end = now + STOP_GRACE_MS;
			if (n->ninflight == 0 || now >= grace_end)
				break;
		} else if (now >= next_look(n))
			take_due(n);
		curl_multi_perform(n->multi, &running);
		reap_posts(n);
		reap_github(n);
		record(n, 0);
		now = now_ms();
		wake = grace_end != 0 ? grace_end : next_look(n);
		if (n->record_failing && n->record_at < wake)
			wake = n->record_at;
		if (n->record_by != 0 && n->record_by < wake)
			wake = n->record_by;
		curl_multi_timeout(n->multi, &curl_ms);
		if (curl_ms >= 0 && now + curl_ms < wake)
			wake = now + curl_ms;
		curl_multi_poll(n->multi, NULL, 0, wake > now ? (int)(wake -
		    now) : 0, NULL);
	}
	record(n, 1);
	drop_tries(n);
out:
	pthread_mutex_lock(&n->lock);
	n->multi_alive = 0;
	pthread_mutex_unlock(&n->lock);
	ctx_clear(&n->ctx);
	hooks_clear(n);
	git_repository_free(n->repo);
	free(n->repo_pipeline);
	ledger_close(n->db);
	return NULL;
}

int
notify_start(const struct berth_root *r, struct notifier **out)
{
	struct notifier *n = xcalloc(1, sizeof(*n));
	int rc;

	n->root = r;
	n->refs = 1;
	pthread_mutex_init(&n->lock, NULL);
	n->multi = curl_multi_init();
	if (n->multi == NULL) {
		pthread_mutex_destroy(&n->lock);
		free(n);
		return berth_error("webhooks: cannot start libcurl");
	}
	/* Keep a connection to each webhook there can be a try to at
	 * once: the next event reuses them. */
	curl_multi_setopt(n->multi, CURLMOPT_MAXCONNECTS,
	    (long)NOTIFY_AT_ONCE * 2);
	n->multi_alive = 1;
	rc = pthread_create(&n->thread, NULL, sender, n);
	if (rc != 0) {
		curl_multi_cleanup(n->multi);
		pthread_mutex_destroy(&n->lock);
		free(n);
		errno = rc;
		return berth_error_errno("webhooks: cannot start a thread");
	}
	*out = n;
	return 0;
}

void
notify_stop(struct notifier *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = 1;
	curl_multi_wakeup(n->multi);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	curl_multi_cleanup(n->multi);
	notifier_unref(n);
}
