/*
 * slack.c - ChatOps: berthd's /slack/commands (the /berth slash
 * command) and /slack/interactive (buttons), as Heroku ChatOps has them.
 *
 * Every request must carry Slack's signature of itself: X-Slack-
 * Signature = v0= + HMAC-SHA256 of "v0:TIMESTAMP:BODY" with the signing
 * secret (berth slack:connect), compared in constant time, the
 * timestamp within 5 minutes, and never a signature seen before. A
 * Slack user acts as the berth user they linked (/berth login, then
 * berth slack:link CODE), with that user's roles: each command runs as
 * a berth command as that user (api_run_berth()), as over SSH.
 *
 * Slack wants an answer within 3 s: reads are answered at once (berth
 * takes milliseconds); a promotion or rollback is acknowledged at once
 * and its result posted to the request's response_url when it ends.
 */
#include "slack.h"
#include "access.h"
#include "api.h"
#include "crypto.h"
#include "names.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLACK_MAX_AGE_S 300
#define CODE_TTL_S 600
#define POST_TIMEOUT_MS 10000
#define OUTPUT_LINES 40		/* of a command's output, in a reply */

/*
 * Signatures seen in the last SLACK_MAX_AGE_S, so a replay is refused:
 * a hash table of SEEN_SLOTS, probed SEEN_PROBE slots from the
 * signature's own. A slot is free once its entry is older than the
 * window; when none of the probed slots is, the oldest is taken (at
 * thousands of requests a second for 5 minutes, a replay of one of
 * those could then pass).
 */
#define SEEN_SLOTS 65536
#define SEEN_PROBE 16
static struct {
	pthread_mutex_t lock;
	unsigned char sig[SEEN_SLOTS][32];
	time_t at[SEEN_SLOTS];
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* 1 when sig (64 hex digits) was seen within the window; else notes it. */
static int
replayed(const char *sig, time_t now)
{
	unsigned char raw[32];
	size_t i, slot, oldest = SEEN_SLOTS;
	unsigned h;
	int found = 0;

	for (i = 0; i < 32; i++) {
		unsigned hi, lo;

		sscanf(sig + 2 * i, "%1x%1x", &hi, &lo);
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	h = (unsigned)raw[0] | (unsigned)raw[1] << 8;
	pthread_mutex_lock(&seen.lock);
	for (i = 0; i < SEEN_PROBE && !found; i++) {
		slot = (h + i) % SEEN_SLOTS;
		if (seen.at[slot] != 0 && now - seen.at[slot] <=
		    SLACK_MAX_AGE_S && memcmp(seen.sig[slot], raw, 32) == 0)
			found = 1;
		else if (oldest == SEEN_SLOTS || seen.at[slot] <
		    seen.at[oldest])
			oldest = slot;
	}
	if (!found) {
		memcpy(seen.sig[oldest], raw, 32);
		seen.at[oldest] = now;
	}
	pthread_mutex_unlock(&seen.lock);
	return found;
}

/* The request is Slack's: 0, or answered (401, 503) and -1. */
static int
verify(struct http_server *s, const struct http_request *req,
    struct http_response *res)
{
	const char *ts = http_header(req, "X-Slack-Request-Timestamp");
	const char *sig = http_header(req, "X-Slack-Signature");
	struct ledger *db = http_db(s);
	struct strbuf base = STRBUF_INIT;
	unsigned char mac[32];
	char hex[65], *secret = NULL;
	time_t now = time(NULL);
	long long t;
	int rc = -1;

	if (db == NULL || ledger_setting_get(db, "slack.signing_secret",
	    &secret) != 0) {
		http_error(res, 503, "Slack is not connected to this berth: "
		    "berth slack:connect --signing-secret-file FILE");
		goto out;
	}
	if (ts == NULL || sig == NULL || strspn(ts, "0123456789") !=
	    strlen(ts) || *ts == '\0' || strlen(ts) > 12 ||
	    strncmp(sig, "v0=", 3) != 0 || strlen(sig) != 3 + 64) {
		http_error(res, 401, "not signed by Slack (X-Slack-Signature, "
		    "X-Slack-Request-Timestamp)");
		goto out;
	}
	t = strtoll(ts, NULL, 10);
	if (t < now - SLACK_MAX_AGE_S || t > now + SLACK_MAX_AGE_S) {
		http_error(res, 401, "the request was signed %lld s ago; "
		    "Slack's are answered within %d s", (long long)(now - t),
		    SLACK_MAX_AGE_S);
		goto out;
	}
	strbuf_addf(&base, "v0:%s:", ts);
	strbuf_add(&base, req->body, req->body_len);
	crypto_hmac_sha256(secret, strlen(secret), base.buf, base.len, mac);
	crypto_hex(mac, sizeof(mac), hex);
	if (!crypto_equal(hex, sig + 3, 64)) {
		http_error(res, 401, "the Slack signature does not match: is "
		    "the signing secret of berth slack:connect this app's?");
		goto out;
	}
	if (replayed(sig + 3, now)) {
		http_error(res, 401, "this request was seen before (a replay)");
		goto out;
	}
	rc = 0;
out:
	free(secret);
	strbuf_release(&base);
	http_db_done(s, db);
	return rc;
}

/* A field of an x-www-form-urlencoded body, decoded; NULL if absent. */
static char *
form_field(const char *body, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = body;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '&');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] ==
		    '=') {
			char *raw = xstrndup(p + nlen + 1, len - nlen - 1), *q;
			char *dec;
			int n = 0;

			for (q = raw; *q != '\0'; q++)
				if (*q == '+')
					*q = ' ';
			dec = curl_easy_unescape(NULL, raw, 0, &n);
			free(raw);
			raw = dec != NULL ? xstrndup(dec, (size_t)n) : NULL;
			curl_free(dec);
			return raw;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

/* An answer to Slack: ephemeral (only the asker sees it) or in_channel. */
static void
reply(struct http_response *res, int in_channel, const char *text)
{
	http_json(res, 200, json_pack("{s:s, s:s}", "response_type",
	    in_channel ? "in_channel" : "ephemeral", "text", text));
}

/* POST text to Slack's response_url. */
static void
post_result(const char *url, const char *text)
{
	json_t *j = json_pack("{s:s, s:s, s:b}", "response_type",
	    "in_channel", "text", text, "replace_original", 0);
	char *body = json_dumps(j, JSON_COMPACT);
	struct curl_slist *h = curl_slist_append(NULL,
	    "Content-Type: application/json");
	CURL *c = curl_easy_init();

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)POST_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) != CURLE_OK)
		log_say("slack: cannot post a result to %.40s...", url);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(body);
	json_decref(j);
}

/* The last n lines of s (a deploy's build output is long). */
static const char *
last_lines(const char *s, int n)
{
	const char *p = s + strlen(s);

	if (p > s && p[-1] == '\n')
		p--;
	while (p > s && n > 0)
		if (*--p == '\n' && --n == 0)
			return p + 1;
	return s;
}

/* "```OUTPUT```", or the error with a mark. Caller frees. */
static char *
outcome_text(int rc, const struct strbuf *out, const char *err,
    const char *done)
{
	const char *text = last_lines(strbuf_str(out), OUTPUT_LINES);
	const char *more = text != strbuf_str(out) ? "...\n" : "";

	if (rc == 0 && done != NULL)
		return xasprintf(":white_check_mark: %s\n```%s%s```", done,
		    more, text);
	if (rc == 0)
		return xasprintf("```%s%s```", more, out->len ? text :
		    "(nothing)\n");
	if (rc == CMD_EXIT_REFUSED)
		return xasprintf(":no_entry: %s", err);
	return xasprintf(":x: %s%s%s%s%s", err, out->len ? "\n```" : "",
	    more, text, out->len ? "```" : "");
}

/* A promotion or rollback, run after Slack got its acknowledgement. */
struct job {
	struct http_server *s;
	char *user;
	struct strvec args;
	char *response_url;
	char *done;		/* "shop v19 is live" ... */
};

static void *
job_thread(void *arg)
{
	struct job *j = arg;
	struct strbuf out = STRBUF_INIT;
	char *err = NULL, *text;
	int rc = api_run_berth(j->s, j->user, &j->args, &out, &err);

	text = outcome_text(rc, &out, err, j->done);
	post_result(j->response_url, text);
	free(text);
	free(err);
	strbuf_release(&out);
	strvec_clear(&j->args);
	free(j->user);
	free(j->response_url);
	free(j->done);
	free(j);
	return NULL;
}

/* Run args as user in the background; Slack hears at response_url. */
static int
start_job(struct http_server *s, const char *user, struct strvec *args,
    const char *response_url, const char *done)
{
	struct job *j = xcalloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	j->s = s;
	j->user = xstrdup(user);
	j->args = *args;
	memset(args, 0, sizeof(*args));
	j->response_url = xstrdup(response_url);
	j->done = xstrdup(done);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, job_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		strvec_clear(&j->args);
		free(j->user);
		free(j->response_url);
		free(j->done);
		free(j);
		return -1;
	}
	return 0;
}

/* The app of pipeline p in stage: 0 and *app; else answered, -1. */
static int
stage_app(struct http_server *s, struct http_response *res, const char *p,
    const char *stage, char **app)
{
	struct ledger *db = http_db(s);
	struct pipeline pl;
	struct app *apps = NULL;
	size_t n = 0, i, found = 0;

	*app = NULL;
	if (db == NULL || ledger_pipeline_get(db, p, &pl) != 0) {
		reply(res, 0, berth_last_error());
		http_db_done(s, db);
		return -1;
	}
	if (ledger_app_list(db, pl.id, &apps, &n) == 0)
		for (i = 0; i < n; i++)
			if (strcmp(apps[i].stage, stage) == 0 && found++ == 0)
				*app = xstrdup(apps[i].name);
	app_list_free(apps, n);
	pipeline_clear(&pl);
	http_db_done(s, db);
	if (found == 1)
		return 0;
	free(*app);
	*app = NULL;
	reply(res, 0, found == 0 ? "That pipeline has no app in that stage; "
	    "see: /berth info PIPELINE" : "That stage has more than one app: "
	    "promote or roll back by app name from the CLI (berth "
	    "pipelines:promote --to APP)");
	return -1;
}

static const char help_text[] =
    "*berth* commands:\n"
    "`/berth login` link your Slack user to your berth user\n"
    "`/berth pipelines` the pipelines you have a role on\n"
    "`/berth info PIPELINE` its apps by stage\n"
    "`/berth releases PIPELINE [in STAGE]` the last releases (production)\n"
    "`/berth diff PIPELINE` what staging has that production lacks\n"
    "`/berth deploy PIPELINE[/BRANCH] [to STAGE]` build the branch for the "
    "stage's app (default staging; `deploy!` even when its tests failed)\n"
    "`/berth promote PIPELINE [from STAGE] [to STAGE]` (default staging to "
    "production)\n"
    "`/berth rollback APP [vN]` to the release before, or vN";

/* /berth login: a one-time code to link with berth slack:link. */
static void
login(struct http_server *s, struct http_response *res, const char *who)
{
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char raw[8], d[32];
	char code[10], hash[65], until[32], *text;
	struct ledger *db;
	time_t t = time(NULL) + CODE_TTL_S;
	struct tm tm;
	int i;

	if (crypto_random(raw, sizeof(raw)) < 0) {
		reply(res, 0, berth_last_error());
		return;
	}
	for (i = 0; i < 8; i++)
		code[i < 4 ? i : i + 1] = alphabet[raw[i] % 32];
	code[4] = '-';
	code[9] = '\0';
	crypto_sha256(code, 9, d);
	crypto_hex(d, sizeof(d), hash);
	gmtime_r(&t, &tm);
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	db = http_db(s);
	if (db == NULL || ledger_slack_code_add(db, hash, who, until) < 0) {
		reply(res, 0, berth_last_error());
		http_db_done(s, db);
		return;
	}
	http_db_done(s, db);
	text = xasprintf("To act as your berth user here, run within 10 "
	    "minutes:\n`ssh git@%s slack:link %s`\n(or, on the server: `berth "
	    "slack:link %s -u USER`)", http_root(s)->cfg.domain, code, code);
	reply(res, 0, text);
	free(text);
}

/* Words of the command's text, at most 8. */
static size_t
words(char *text, char **w, size_t max)
{
	char *save = NULL, *p;
	size_t n = 0;

	for (p = strtok_r(text, " \t", &save); p != NULL && n < max;
	    p = strtok_r(NULL, " \t", &save))
		w[n++] = p;
	return n;
}

/* Run a read at once and answer with its output. */
static void
read_now(struct http_server *s, struct http_response *res, const char *user,
    struct strvec *args)
{
	struct strbuf out = STRBUF_INIT;
	char *err = NULL, *text;
	int rc = api_run_berth(s, user, args, &out, &err);

	text = outcome_text(rc, &out, err, NULL);
	reply(res, 0, text);
	free(text);
	free(err);
	strbuf_release(&out);
}

/*
 * deploy P[/BRANCH] [to STAGE], promote P [from STAGE] [to STAGE],
 * rollback APP [vN]: acknowledged
 * in the channel now, the outcome posted to response_url.
 */
static void
act(struct http_server *s, struct http_response *res, const char *user,
    char **w, size_t n, const char *response_url)
{
	struct strvec args = STRVEC_INIT;
	const char *from = "staging", *to = "production";
	char *app = NULL, *ack = NULL, *done = NULL;
	size_t i;

	if (strncmp(w[0], "deploy", 6) == 0) {
		/* deploy[!] P[/BRANCH] [to STAGE]: a push of BRANCH to the
		 * branch the stage's app deploys (berth deploy). */
		char *pl = xstrdup(n >= 2 ? w[1] : ""), *branch;

		branch = strchr(pl, '/');
		if (branch != NULL)
			*branch++ = '\0';
		to = n == 4 ? w[3] : "staging";
		if ((n != 2 && !(n == 4 && strcmp(w[2], "to") == 0)) ||
		    name_check_pipeline(pl) < 0 || name_check_stage(to) < 0 ||
		    (branch != NULL && name_check_branch(branch) < 0)) {
			reply(res, 0, "Usage: /berth deploy PIPELINE[/BRANCH] "
			    "[to STAGE] (default staging; deploy! deploys "
			    "even when the commit's tests failed)");
			free(pl);
			goto out;
		}
		if (stage_app(s, res, pl, to, &app) < 0) {
			free(pl);
			goto out;
		}
		strvec_push(&args, "deploy");
		strvec_pushf(&args, "--app=%s", app);
		if (strcmp(w[0], "deploy!") == 0)
			strvec_push(&args, "--ignore-ci");
		if (branch != NULL) {
			strvec_push(&args, "--");
			strvec_pushf(&args, "refs/heads/%s", branch);
		}
		ack = xasprintf("Deploying %s%s%s to %s (%s)...", pl,
		    branch != NULL ? "/" : "", branch != NULL ? branch : "",
		    app, user);
		done = xasprintf("%s%s%s deployed to %s by %s", pl,
		    branch != NULL ? "/" : "", branch != NULL ? branch : "",
		    app, user);
		free(pl);
	} else if (strcmp(w[0], "promote") == 0) {
		for (i = 2; i + 1 < n; i += 2) {
			if (strcmp(w[i], "from") == 0)
				from = w[i + 1];
			else if (strcmp(w[i], "to") == 0)
				to = w[i + 1];
		}
		if ((n % 2) != 0 || name_check_pipeline(w[1]) < 0 ||
		    name_check_stage(from) < 0 || name_check_stage(to) < 0) {
			reply(res, 0, "Usage: /berth promote PIPELINE [from "
			    "STAGE] [to STAGE]");
			goto out;
		}
		if (stage_app(s, res, w[1], to, &app) < 0)
			goto out;
		strvec_push(&args, "pipelines:promote");
		strvec_pushf(&args, "--pipeline=%s", w[1]);
		strvec_pushf(&args, "--from=%s", from);
		strvec_pushf(&args, "--to=%s", app);
		ack = xasprintf("Promoting %s's %s to %s (%s)...", w[1], from,
		    app, user);
		done = xasprintf("%s promoted to %s by %s", w[1], app, user);
	} else {
		if (n < 2 || n > 3 || name_check_app(w[1]) < 0) {
			reply(res, 0, "Usage: /berth rollback APP [vN]");
			goto out;
		}
		strvec_push(&args, "rollback");
		if (n == 3)
			strvec_push(&args, w[2]);
		strvec_pushf(&args, "--app=%s", w[1]);
		ack = xasprintf("Rolling %s back%s%s (%s)...", w[1],
		    n == 3 ? " to " : "", n == 3 ? w[2] : "", user);
		done = xasprintf("%s rolled back by %s", w[1], user);
	}
	if (response_url == NULL || (strncmp(response_url, "https://", 8) != 0 &&
	    strncmp(response_url, "http://", 7) != 0)) {
		reply(res, 0, "Slack sent no response_url to answer at");
		goto out;
	}
	if (start_job(s, user, &args, response_url, done) < 0)
		reply(res, 0, "berthd cannot start that now; try again");
	else
		reply(res, 1, ack);
out:
	strvec_clear(&args);
	free(app);
	free(ack);
	free(done);
}

/* The berth user of the Slack user who (TEAM:USER); 0, or answered. */
static int
linked_user(struct http_server *s, struct http_response *res,
    const char *who, struct user *u)
{
	struct ledger *db = http_db(s);
	int rc = db != NULL ? ledger_slack_user(db, who, u) : -1;

	http_db_done(s, db);
	if (rc == 0)
		return 0;
	reply(res, 0, rc == 1 ? "You are not linked to a berth user yet: "
	    "run `/berth login`" : berth_last_error());
	return -1;
}

void
slack_commands(struct http_server *s, const struct http_request *req,
    struct http_response *res)
{
	char *text = NULL, *team = NULL, *uid = NULL, *url = NULL, *who;
	char *w[8];
	struct strvec args = STRVEC_INIT;
	struct user u;
	size_t n;

	memset(&u, 0, sizeof(u));
	if (verify(s, req, res) < 0)
		return;
	text = form_field(req->body, "text");
	team = form_field(req->body, "team_id");
	uid = form_field(req->body, "user_id");
	url = form_field(req->body, "response_url");
	if (uid == NULL || *uid == '\0') {
		http_error(res, 400, "a slash command names its user_id");
		goto out;
	}
	who = xasprintf("%s:%s", team != NULL ? team : "", uid);
	n = words(text != NULL ? text : (char *)"", w, 8);
	if (n == 0 || strcmp(w[0], "help") == 0) {
		reply(res, 0, help_text);
	} else if (strcmp(w[0], "login") == 0) {
		login(s, res, who);
	} else if (linked_user(s, res, who, &u) < 0) {
		/* answered */
	} else if (strcmp(w[0], "pipelines") == 0 && n == 1) {
		strvec_push(&args, "pipelines");
		read_now(s, res, u.name, &args);
	} else if (strcmp(w[0], "info") == 0 && n == 2 &&
	    name_check_pipeline(w[1]) == 0) {
		strvec_push(&args, "pipelines:info");
		strvec_push(&args, w[1]);
		read_now(s, res, u.name, &args);
	} else if (strcmp(w[0], "diff") == 0 && n == 2 &&
	    name_check_pipeline(w[1]) == 0) {
		strvec_push(&args, "pipelines:diff");
		strvec_pushf(&args, "--pipeline=%s", w[1]);
		read_now(s, res, u.name, &args);
	} else if (strcmp(w[0], "releases") == 0 && (n == 2 || (n == 4 &&
	    strcmp(w[2], "in") == 0)) && name_check_pipeline(w[1]) == 0) {
		char *app = NULL;

		if (stage_app(s, res, w[1], n == 4 ? w[3] : "production",
		    &app) == 0) {
			strvec_push(&args, "releases");
			strvec_pushf(&args, "--app=%s", app);
			strvec_push(&args, "--num=5");
			read_now(s, res, u.name, &args);
		}
		free(app);
	} else if ((strcmp(w[0], "promote") == 0 && n >= 2) ||
	    strcmp(w[0], "rollback") == 0 || strcmp(w[0], "deploy") == 0 ||
	    strcmp(w[0], "deploy!") == 0) {
		act(s, res, u.name, w, n, url);
	} else {
		char *t = xasprintf("I do not know `%.40s`.\n%s", w[0],
		    help_text);

		reply(res, 0, t);
		free(t);
	}
	free(who);
out:
	strvec_clear(&args);
	user_clear(&u);
	free(text);
	free(team);
	free(uid);
	free(url);
}

/*
 * Buttons: "Promote to production" (action_id promote, value the
 * pipeline) of a staging deploy's message, with the clicker's roles.
 */
void
slack_interactive(struct http_server *s, const struct http_request *req,
    struct http_response *res)
{
	char *payload = NULL, *who = NULL, *w[2];
	json_t *j = NULL, *action;
	const char *id, *value, *url, *uid, *team;
	struct user u;

	memset(&u, 0, sizeof(u));
	if (verify(s, req, res) < 0)
		return;
	payload = form_field(req->body, "payload");
	j = payload != NULL ? json_loads(payload, 0, NULL) : NULL;
	action = json_array_get(json_object_get(j, "actions"), 0);
	id = json_string_value(json_object_get(action, "action_id"));
	value = json_string_value(json_object_get(action, "value"));
	url = json_string_value(json_object_get(j, "response_url"));
	uid = json_string_value(json_object_get(json_object_get(j, "user"),
	    "id"));
	team = json_string_value(json_object_get(json_object_get(j, "team"),
	    "id"));
	if (id == NULL || value == NULL || uid == NULL) {
		http_error(res, 400, "an interaction names its user and its "
		    "action");
		goto out;
	}
	if (strcmp(id, "promote") != 0) {
		http_error(res, 400, "berth has no action '%.40s'", id);
		goto out;
	}
	who = xasprintf("%s:%s", team != NULL ? team : "", uid);
	if (linked_user(s, res, who, &u) < 0)
		goto out;
	w[0] = "promote";
	w[1] = (char *)value;
	act(s, res, u.name, w, 2, url);
out:
	user_clear(&u);
	free(who);
	json_decref(j);
	free(payload);
}
