/*
 * github-hook.c - POST /github/webhook: a connected pipeline's GitHub
 * repository tells berthd of its pull requests, and each gets a review
 * app PIPELINE-pr-N, as Heroku's review apps do.
 *
 * The request must be signed: X-Hub-Signature-256 = sha256= + HMAC of
 * the body with the webhook secret of `github:connect
 * --webhook-secret-file`, compared in constant time. The pipeline is
 * the one connected to the payload's repository.full_name.
 *
 * opened, reopened, synchronize: the pull request's head is fetched
 * (libgit2, with the connection's token) into the pipeline's repo as
 * branch pr/N, and `berth reviewapps:create -b pr/N` builds and deploys
 * it as a push of that branch would (actor github:LOGIN); closed:
 * `berth reviewapps:destroy` (pr-predestroy runs) and the branch goes.
 * Each is answered 202 at once and done in the background; two events
 * of one pull request wait for each other on the pipeline's deploy lock,
 * and the later one deploys what the branch then holds. Pull requests
 * from forks are not built. ping is answered; other events get 204.
 */
#include "github-hook.h"
#include "api.h"
#include "crypto.h"
#include "github.h"
#include "names.h"
#include "repo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The pipeline connected to repository full_name: its name, API token. */
struct connected {
	char *pipeline;
	char *token;
	char *secret;		/* the webhook's, or NULL */
};

static void
connected_clear(struct connected *c)
{
	free(c->pipeline);
	free(c->token);
	free(c->secret);
	memset(c, 0, sizeof(*c));
}

/* 0 and *c when a pipeline is connected to full_name; 1 when none. */
static int
find_connected(struct ledger *db, const char *full_name,
    struct connected *c)
{
	struct pipeline *ps = NULL;
	size_t np = 0, i, j;
	char *suffix = xasprintf("/repos/%s", full_name);
	size_t slen = strlen(suffix);
	int rc = 1;

	memset(c, 0, sizeof(*c));
	if (ledger_pipeline_list(db, &ps, &np) < 0) {
		free(suffix);
		return -1;
	}
	for (i = 0; i < np && rc == 1; i++) {
		struct webhook *ws = NULL;
		size_t nw = 0;

		if (ledger_webhook_list(db, ps[i].id, &ws, &nw) < 0)
			continue;
		for (j = 0; j < nw && rc == 1; j++) {
			size_t ulen = strlen(ws[j].url);

			if (strcmp(ws[j].kind, "github") != 0 || ulen < slen ||
			    strcasecmp(ws[j].url + ulen - slen, suffix) != 0)
				continue;
			c->pipeline = xstrdup(ps[i].name);
			c->token = ws[j].secret != NULL ?
			    xstrdup(ws[j].secret) : NULL;
			rc = 0;
		}
		webhook_list_free(ws, nw);
	}
	pipeline_list_free(ps, np);
	free(suffix);
	if (rc == 0) {
		char *key = xasprintf(GITHUB_HOOK_SECRET "%s", c->pipeline);

		if (ledger_setting_get(db, key, &c->secret) < 0)
			rc = -1;
		free(key);
	}
	return rc;
}

/* What a pull request event asks of berthd, done in the background. */
struct pr_job {
	struct http_server *s;
	struct connected c;
	int number;
	int closed;
	char *clone_url;
	char *head_ref;
	char *actor;
};

static void
pr_job_free(struct pr_job *j)
{
	connected_clear(&j->c);
	free(j->clone_url);
	free(j->head_ref);
	free(j->actor);
	free(j);
}

/* Run `berth ARGS` as berthd, the actor github:LOGIN; log a failure. */
static void
run_as_github(struct pr_job *j, struct strvec *args)
{
	struct strbuf out = STRBUF_INIT;
	char *err = NULL;

	if (api_run_berth_as(j->s, NULL, j->actor, args, &out, &err) != 0)
		log_say("github: %s of %s pull request #%d: %s", args->v[0],
		    j->c.pipeline, j->number, err != NULL ? err : "failed");
	free(err);
	strbuf_release(&out);
}

static void *
pr_thread(void *arg)
{
	struct pr_job *j = arg;
	struct strvec args = STRVEC_INIT;
	char *path = root_repo_path(http_root(j->s), j->c.pipeline);
	char *branch = xasprintf("pr/%d", j->number);
	char *spec = NULL, *ref = xasprintf("refs/heads/%s", branch);
	git_repository *repo = NULL;

	if (repo_open(path, &repo) < 0) {
		log_say("github: %s", berth_last_error());
		goto out;
	}
	strvec_push(&args, j->closed ? "reviewapps:destroy" : "reviewapps:create");
	strvec_pushf(&args, "--pipeline=%s", j->c.pipeline);
	strvec_pushf(&args, "--branch=%s", branch);
	if (j->closed) {
		run_as_github(j, &args);
		if (repo_ref_delete(repo, ref) < 0)
			log_say("github: %s", berth_last_error());
		goto out;
	}
	spec = xasprintf("+refs/heads/%s:%s", j->head_ref, ref);
	if (repo_fetch(repo, j->clone_url, j->c.token, spec) < 0) {
		log_say("github: cannot fetch %s pull request #%d: %s",
		    j->c.pipeline, j->number, berth_last_error());
		goto out;
	}
	run_as_github(j, &args);
out:
	git_repository_free(repo);
	strvec_clear(&args);
	free(spec);
	free(ref);
	free(branch);
	free(path);
	pr_job_free(j);
	return NULL;
}

/* The body's signature is the webhook secret's: 0, or answered. */
static int
signed_by(const struct http_request *req, const char *secret,
    struct http_response *res)
{
	const char *sig = http_header(req, "X-Hub-Signature-256");
	unsigned char mac[32];
	char hex[65];

	if (secret == NULL) {
		http_error(res, 401, "this pipeline keeps no webhook secret: "
		    "berth github:connect --webhook-secret-file FILE");
		return -1;
	}
	if (sig == NULL || strncmp(sig, "sha256=", 7) != 0 ||
	    strlen(sig) != 7 + 64) {
		http_error(res, 401, "not signed (X-Hub-Signature-256)");
		return -1;
	}
	crypto_hmac_sha256(secret, strlen(secret), req->body, req->body_len,
	    mac);
	crypto_hex(mac, sizeof(mac), hex);
	if (!crypto_equal(hex, sig + 7, 64)) {
		http_error(res, 401, "the signature does not match the "
		    "webhook secret of github:connect");
		return -1;
	}
	return 0;
}

static const char *
jstr(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return json_string_value(v);
}

/* pull_request: queue its job; answer 202 (or why not). */
static void
pull_request(struct http_server *s, json_t *j, struct connected *c,
    struct http_response *res)
{
	const char *action = jstr(j, "action", NULL);
	json_t *pr = json_object_get(j, "pull_request");
	json_int_t number = json_integer_value(json_object_get(j, "number"));
	const char *head_repo = json_string_value(json_object_get(
	    json_object_get(json_object_get(pr, "head"), "repo"), "full_name"));
	const char *base_repo = jstr(j, "repository", "full_name");
	const char *clone = json_string_value(json_object_get(
	    json_object_get(json_object_get(pr, "head"), "repo"), "clone_url"));
	const char *ref = json_string_value(json_object_get(
	    json_object_get(pr, "head"), "ref"));
	const char *login = jstr(j, "sender", "login");
	struct pr_job *job;
	pthread_attr_t attr;
	pthread_t t;
	int closed;

	if (action == NULL || number <= 0 || number > 100000000) {
		http_error(res, 400, "a pull_request event names its action and "
		    "number");
		return;
	}
	closed = strcmp(action, "closed") == 0;
	if (!closed && strcmp(action, "opened") != 0 &&
	    strcmp(action, "reopened") != 0 &&
	    strcmp(action, "synchronize") != 0) {
		res->status = 204;
		return;
	}
	if (!closed && (clone == NULL || ref == NULL ||
	    name_check_branch(ref) < 0)) {
		http_error(res, 400, "the pull request names no head branch and "
		    "clone URL berth can use");
		return;
	}
	if (!closed && (head_repo == NULL || base_repo == NULL ||
	    strcasecmp(head_repo, base_repo) != 0)) {
		http_json(res, 202, json_pack("{s:s}", "skipped", "pull "
		    "requests from forks are not built"));
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->c = *c;
	memset(c, 0, sizeof(*c));
	job->number = (int)number;
	job->closed = closed;
	job->clone_url = clone != NULL ? xstrdup(clone) : NULL;
	job->head_ref = ref != NULL ? xstrdup(ref) : NULL;
	job->actor = xasprintf("github:%s", login != NULL ? login : "unknown");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, pr_thread, job) != 0) {
		pr_job_free(job);
		http_error(res, 503, "berthd cannot start that now; GitHub "
		    "redelivers");
	} else {
		http_json(res, 202, json_pack("{s:s, s:s, s:I}", "queued",
		    closed ? "destroy" : "deploy", "pipeline",
		    job->c.pipeline, "pull_request", number));
	}
	pthread_attr_destroy(&attr);
}

void
github_webhook(struct http_server *s, const struct http_request *req,
    struct http_response *res)
{
	const char *event = http_header(req, "X-GitHub-Event");
	json_t *j = json_loadb(req->body, req->body_len, 0, NULL);
	const char *repo = jstr(j, "repository", "full_name");
	struct connected c;
	struct ledger *db;
	int rc;

	memset(&c, 0, sizeof(c));
	if (event == NULL || j == NULL || !json_is_object(j)) {
		http_error(res, 400, "not a GitHub webhook: it needs "
		    "X-GitHub-Event and a JSON body");
		goto out;
	}
	if (repo == NULL || github_check_repo(repo) < 0) {
		http_error(res, 400, "the payload names no repository");
		goto out;
	}
	if ((db = http_db(s)) == NULL) {
		http_error(res, 503, "%s", berth_last_error());
		goto out;
	}
	rc = find_connected(db, repo, &c);
	http_db_done(s, db);
	if (rc != 0) {
		http_error(res, rc < 0 ? 503 : 404, "no pipeline is connected "
		    "to %s; see: berth github:connect", repo);
		goto out;
	}
	if (signed_by(req, c.secret, res) < 0)
		goto out;
	if (strcmp(event, "ping") == 0)
		http_json(res, 200, json_pack("{s:s, s:s}", "ok", "pong",
		    "pipeline", c.pipeline));
	else if (strcmp(event, "pull_request") == 0)
		pull_request(s, j, &c, res);
	else
		res->status = 204;
out:
	connected_clear(&c);
	json_decref(j);
}
