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
 * from forks are built only after `reviewapps:enable --forks`.
 *
 * push, in mirror mode (github:connect --mirror): the branch is fetched
 * and applied as a git push of it would be (below); status,
 * check_suite and check_run events release what --wait-for-ci holds.
 * ping is answered; other events get 204.
 */
#include "github-hook.h"
#include "api.h"
#include "crypto.h"
#include "github.h"
#include "names.h"
#include "push.h"
#include "repo.h"
#include "review.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The pipeline connected to repository full_name: its name, API token. */
struct connected {
	char *pipeline;
	char *api;		/* https://api.github.com/repos/OWNER/NAME */
	char *token;
	char *secret;		/* the webhook's, or NULL */
	char *mirror;		/* "push", "ci" (github.h), or NULL */
	int forks;		/* reviewapps:enable --forks */
};

static void
connected_clear(struct connected *c)
{
	free(c->pipeline);
	free(c->api);
	free(c->token);
	free(c->secret);
	free(c->mirror);
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
			c->api = xstrdup(ws[j].url);
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
		char *mkey = xasprintf(GITHUB_MIRROR "%s", c->pipeline);
		char *fkey = xasprintf(REVIEW_FORKS "%s", c->pipeline);
		char *forks = NULL;

		if (ledger_setting_get(db, key, &c->secret) < 0 ||
		    ledger_setting_get(db, mkey, &c->mirror) < 0 ||
		    ledger_setting_get(db, fkey, &forks) < 0)
			rc = -1;
		c->forks = forks != NULL;
		free(forks);
		free(fkey);
		free(mkey);
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
static int
run_as(struct http_server *s, const char *actor, struct strvec *args,
    const char *what)
{
	struct strbuf out = STRBUF_INIT;
	char *err = NULL;
	int rc = api_run_berth_as(s, NULL, actor, args, &out, &err);

	if (rc != 0)
		log_say("github: %s of %s: %s", args->v[0], what,
		    err != NULL ? err : "failed");
	free(err);
	strbuf_release(&out);
	return rc;
}

static void
run_as_github(struct pr_job *j, struct strvec *args)
{
	char *what = xasprintf("%s pull request #%d", j->c.pipeline,
	    j->number);

	run_as(j->s, j->actor, args, what);
	free(what);
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

static const char *
jstr(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return json_string_value(v);
}

/*
 * Mirror mode (github:connect --mirror): a push GitHub reports is
 * fetched into the pipeline's repo as refs/berth/mirror/BRANCH, then
 * applied with `berth deploy -p P --branch BRANCH SHA` as github:LOGIN:
 * what a git push of it would do. With --wait-for-ci the commit waits
 * there until GitHub says its statuses and check runs passed (a status,
 * check_suite or check_run event looks again). One mirror job runs at
 * a time, so that pushes are applied in the order GitHub sent them.
 */
#define MIRROR_REFS "refs/berth/mirror/"

static pthread_mutex_t mirror_lock = PTHREAD_MUTEX_INITIALIZER;

struct mirror_job {
	struct http_server *s;
	struct connected c;
	char *branch;		/* a push; NULL: CI news of sha */
	char *sha;		/* the pushed commit (ZERO_SHA: deleted) */
	char *clone_url;
	char *actor;
};

static void
mirror_job_free(struct mirror_job *j)
{
	connected_clear(&j->c);
	free(j->branch);
	free(j->sha);
	free(j->clone_url);
	free(j->actor);
	free(j);
}

/* What became of a mirrored push that was not applied: log, activity. */
static void
mirror_note(struct mirror_job *j, const char *branch, const char *kind,
    const char *fmt, ...) BERTH_ATTR_PRINTF(4, 5);

static void
mirror_note(struct mirror_job *j, const char *branch, const char *kind,
    const char *fmt, ...)
{
	struct ledger *db = http_db(j->s);
	struct pipeline p;
	struct strbuf text = STRBUF_INIT;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	strbuf_vaddf(&text, fmt, ap);
	va_end(ap);
	msg = xasprintf("GitHub push of %s at %.7s %s", branch, j->sha,
	    strbuf_str(&text));
	log_say("github: %s: %s", j->c.pipeline, msg);
	if (db != NULL && ledger_pipeline_get(db, j->c.pipeline, &p) == 0) {
		struct event_new ev = {
			.kind = kind,
			.pipeline_id = p.id,
			.actor = j->actor,
			.commit = j->sha,
			.message = msg,
		};

		if (ledger_event_add(db, &ev) < 0)
			log_say("github: %s", berth_last_error());
		pipeline_clear(&p);
	}
	http_db_done(j->s, db);
	free(msg);
	strbuf_release(&text);
}

/* Apply sha to branch, as a push of it (berth deploy -p). */
static void
mirror_apply(struct mirror_job *j, const char *branch, const char *sha)
{
	struct strvec args = STRVEC_INIT;
	char *what = xasprintf("%s's GitHub push of %s", j->c.pipeline,
	    branch);

	strvec_push(&args, "deploy");
	strvec_pushf(&args, "--pipeline=%s", j->c.pipeline);
	strvec_pushf(&args, "--branch=%s", branch);
	if (strcmp(sha, ZERO_SHA) == 0)
		strvec_push(&args, "--delete");
	else
		strvec_push(&args, sha);
	if (run_as(j->s, j->actor, &args, what) == 0)
		log_say("github: %s: GitHub push of %s at %.7s applied",
		    j->c.pipeline, branch, sha);
	strvec_clear(&args);
	free(what);
}

/* --wait-for-ci: apply sha to branch once GitHub's CI passed. */
static void
mirror_when_green(struct mirror_job *j, const char *branch, const char *sha)
{
	enum github_ci ci;
	char *why = NULL;

	if (j->c.token == NULL)
		mirror_note(j, branch, "mirror.held", "waits: berth has no "
		    "GitHub token to read its CI with");
	else if (github_commit_ci(j->c.api, j->c.token, sha, &ci, &why) < 0)
		mirror_note(j, branch, "mirror.held", "waits: cannot read its "
		    "CI: %s", berth_last_error());
	else if (ci == GITHUB_CI_GREEN)
		mirror_apply(j, branch, sha);
	else if (ci == GITHUB_CI_RED)
		mirror_note(j, branch, "mirror.failed", "is not deployed: CI "
		    "failed on GitHub (%s)", why);
	else
		mirror_note(j, branch, "mirror.held", "waits for CI on GitHub "
		    "(%s)", why);
	free(why);
}

static void *
mirror_thread(void *arg)
{
	struct mirror_job *j = arg;
	char *path = root_repo_path(http_root(j->s), j->c.pipeline);
	struct strvec held = STRVEC_INIT;
	git_repository *repo = NULL;
	char *ref = NULL, *spec = NULL, head[GIT_OID_HEXSZ + 1];
	size_t i;

	pthread_mutex_lock(&mirror_lock);
	if (repo_open(path, &repo) < 0) {
		log_say("github: %s", berth_last_error());
		goto out;
	}
	if (j->branch == NULL) {
		/* CI news of sha: the branches whose push waits for it. */
		if (repo_refs_at(repo, MIRROR_REFS "*", j->sha, &held) < 0)
			log_say("github: %s", berth_last_error());
		for (i = 0; i < held.nr; i++) {
			const char *b = held.v[i] + strlen(MIRROR_REFS);
			char *bref = xasprintf("refs/heads/%s", b);

			if (repo_ref_target(repo, bref, head) != 0 ||
			    strcmp(head, j->sha) != 0)
				mirror_when_green(j, b, j->sha);
			free(bref);
		}
		goto out;
	}
	ref = xasprintf(MIRROR_REFS "%s", j->branch);
	if (strcmp(j->sha, ZERO_SHA) == 0) {
		if (repo_ref_delete(repo, ref) < 0)
			log_say("github: %s", berth_last_error());
		mirror_apply(j, j->branch, j->sha);
		goto out;
	}
	spec = xasprintf("+refs/heads/%s:%s", j->branch, ref);
	if (repo_fetch(repo, j->clone_url, j->c.token, spec) < 0) {
		mirror_note(j, j->branch, "mirror.failed", "could not be "
		    "fetched: %s", berth_last_error());
		goto out;
	}
	if (strcmp(j->c.mirror, "ci") == 0)
		mirror_when_green(j, j->branch, j->sha);
	else
		mirror_apply(j, j->branch, j->sha);
out:
	pthread_mutex_unlock(&mirror_lock);
	git_repository_free(repo);
	strvec_clear(&held);
	free(spec);
	free(ref);
	free(path);
	mirror_job_free(j);
	return NULL;
}

/* Start job in the background: 202 with what was queued, or 503. */
static void
start_mirror(struct mirror_job *job, struct http_response *res,
    json_t *queued)
{
	if (detached(mirror_thread, job) != 0) {
		mirror_job_free(job);
		json_decref(queued);
		http_error(res, 503, "berthd cannot start that now; GitHub "
		    "redelivers");
	} else
		http_json(res, 202, queued);
}

static int
is_sha(const char *s)
{
	return s != NULL && strlen(s) == GIT_OID_HEXSZ &&
	    strspn(s, "0123456789abcdef") == GIT_OID_HEXSZ;
}

/* push: in mirror mode, fetch and apply it; otherwise 204. */
static void
push_event(struct http_server *s, json_t *j, struct connected *c,
    struct http_response *res)
{
	const char *ref = jstr(j, "ref", NULL), *after = jstr(j, "after", NULL);
	const char *clone = jstr(j, "repository", "clone_url");
	const char *login = jstr(j, "sender", "login");
	int deleted = json_is_true(json_object_get(j, "deleted"));
	struct mirror_job *job;

	if (c->mirror == NULL) {
		http_json(res, 202, json_pack("{s:s}", "skipped", "mirror "
		    "mode is off (berth github:connect --mirror)"));
		return;
	}
	if (ref == NULL || !is_sha(after) || (!deleted && clone == NULL)) {
		http_error(res, 400, "a push event names its ref, its after "
		    "commit and the repository's clone_url");
		return;
	}
	if (strncmp(ref, "refs/heads/", 11) != 0) {
		res->status = 204;	/* a tag: a git push of it builds
					   nothing either */
		return;
	}
	if (name_check_branch(ref + 11) < 0) {
		http_error(res, 400, "%s", berth_last_error());
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->c = *c;
	memset(c, 0, sizeof(*c));
	job->branch = xstrdup(ref + 11);
	job->sha = xstrdup(deleted ? ZERO_SHA : after);
	job->clone_url = clone != NULL ? xstrdup(clone) : NULL;
	job->actor = xasprintf("github:%s", login != NULL ? login : "unknown");
	start_mirror(job, res, json_pack("{s:s, s:s, s:s, s:s}", "queued",
	    strcmp(job->c.mirror, "ci") == 0 ? "mirror once CI passes" :
	    "mirror", "pipeline", job->c.pipeline, "branch", job->branch,
	    "commit", job->sha));
}

/* status, check_suite, check_run: a held commit's CI may have passed. */
static void
ci_event(struct http_server *s, const char *event, json_t *j,
    struct connected *c, struct http_response *res)
{
	const char *sha, *state;
	struct mirror_job *job;

	if (strcmp(event, "status") == 0) {
		sha = jstr(j, "sha", NULL);
		state = jstr(j, "state", NULL);
	} else {
		const char *key = strcmp(event, "check_suite") == 0 ?
		    "check_suite" : "check_run";

		sha = jstr(j, key, "head_sha");
		state = jstr(j, key, "status");
	}
	if (c->mirror == NULL || strcmp(c->mirror, "ci") != 0 ||
	    state == NULL || strcmp(state, strcmp(event, "status") == 0 ?
	    "success" : "completed") != 0) {
		res->status = 204;
		return;
	}
	if (!is_sha(sha)) {
		http_error(res, 400, "a %s event names its commit", event);
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->c = *c;
	memset(c, 0, sizeof(*c));
	job->sha = xstrdup(sha);
	job->actor = xstrdup("github:ci");
	start_mirror(job, res, json_pack("{s:s, s:s, s:s}", "queued",
	    "look at held pushes", "pipeline", job->c.pipeline, "commit",
	    job->sha));
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
	if (!closed && !c->forks && (head_repo == NULL || base_repo == NULL ||
	    strcasecmp(head_repo, base_repo) != 0)) {
		http_json(res, 202, json_pack("{s:s}", "skipped", "pull "
		    "requests from forks are not built (berth "
		    "reviewapps:enable --forks builds them)"));
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
	if (detached(pr_thread, job) != 0) {
		pr_job_free(job);
		http_error(res, 503, "berthd cannot start that now; GitHub "
		    "redelivers");
	} else {
		http_json(res, 202, json_pack("{s:s, s:s, s:I}", "queued",
		    closed ? "destroy" : "deploy", "pipeline",
		    job->c.pipeline, "pull_request", number));
	}
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
	else if (strcmp(event, "push") == 0)
		push_event(s, j, &c, res);
	else if (strcmp(event, "status") == 0 ||
	    strcmp(event, "check_suite") == 0 ||
	    strcmp(event, "check_run") == 0)
		ci_event(s, event, j, &c, res);
	else
		res->status = 204;
out:
	connected_clear(&c);
	json_decref(j);
}
