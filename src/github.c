/*
 * github.c - commit statuses and deployments on GitHub (github.h), with
 * libcurl: one call at a time, each within GITHUB_TIMEOUT_MS, no
 * redirect followed, the answer read up to GITHUB_BODY_MAX.
 */
#include "github.h"
#include "util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GITHUB_TIMEOUT_MS 10000
#define GITHUB_CONNECT_MS 5000
#define GITHUB_BODY_MAX (256 * 1024)

struct answer {
	struct strbuf body;
	int retry_after;
	int ratelimit_out;	/* X-RateLimit-Remaining: 0 */
};

static size_t
take_body(char *data, size_t size, size_t n, void *p)
{
	struct answer *a = p;

	if (a->body.len + size * n > GITHUB_BODY_MAX)
		return 0;	/* ends the call: no one needs more */
	strbuf_add(&a->body, data, size * n);
	return size * n;
}

static size_t
take_header(char *data, size_t size, size_t n, void *p)
{
	struct answer *a = p;
	size_t len = size * n;

	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
		a->retry_after = atoi(data + 12);
	else if (len > 22 && strncasecmp(data, "X-RateLimit-Remaining:",
	    22) == 0 && atoi(data + 22) == 0)
		a->ratelimit_out = 1;
	return len;
}

/*
 * One call: method api+path with JSON body (or NULL). 0 with the parsed
 * answer in *out (may be NULL) for a 2xx; -1 with berth_error() and
 * res updated otherwise.
 */
static int
call(const char *method, const char *api, const char *path,
    const char *token, json_t *body, json_t **out, struct github_result *res)
{
	struct answer a = { STRBUF_INIT, 0, 0 };
	struct curl_slist *hdrs = NULL;
	char *url = xasprintf("%s%s", api, path);
	char *auth = xasprintf("Authorization: Bearer %s", token);
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	long code = 0;
	CURLcode rc;
	int ret = -1;

	if (out != NULL)
		*out = NULL;
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Accept: application/vnd.github+json");
	hdrs = curl_slist_append(hdrs, "X-GitHub-Api-Version: 2022-11-28");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "User-Agent: berth/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (text != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* A proxy from the environment, but never for this machine. */
	curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)GITHUB_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)GITHUB_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, take_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(h);
	res->calls++;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	res->http_code = (int)code;
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && code >= 200)) {
		berth_error("GitHub %s %s: %s", method, path, errbuf[0] ?
		    errbuf : curl_easy_strerror(rc));
		goto out;
	}
	if (code < 200 || code > 299) {
		json_t *j = json_loadb(strbuf_str(&a.body), a.body.len, 0,
		    NULL);
		const char *msg = json_string_value(json_object_get(j,
		    "message"));

		berth_error("GitHub %s %s answered %ld%s%s", method, path, code,
		    msg != NULL ? ": " : "", msg != NULL ? msg : "");
		json_decref(j);
		res->retry_after = a.retry_after;
		/* A rate limit is a 403 or 429 that asks to wait. */
		res->permanent = (code == 401 || code == 404 || code == 422 ||
		    (code == 403 && !a.ratelimit_out && a.retry_after == 0));
		goto out;
	}
	if (out != NULL)
		*out = json_loadb(strbuf_str(&a.body), a.body.len, 0, NULL);
	ret = 0;
out:
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	strbuf_release(&a.body);
	free(text);
	free(auth);
	free(url);
	return ret;
}

/* POST /statuses/SHA with context. */
static int
commit_status(const char *api, const char *token, const char *sha,
    const char *context, const char *state, const char *desc,
    const char *target, struct github_result *res)
{
	char *path = xasprintf("/statuses/%s", sha);
	json_t *body = json_pack("{s:s, s:s, s:s, s:s?}", "state", state,
	    "context", context, "description", desc, "target_url", target);
	int rc = call("POST", api, path, token, body, NULL, res);

	json_decref(body);
	free(path);
	return rc;
}

/* POST /deployments/ID/statuses. */
static int
deployment_status(const char *api, const char *token, json_int_t id,
    const char *state, const char *desc, const char *url,
    struct github_result *res)
{
	char *path = xasprintf("/deployments/%lld/statuses", (long long)id);
	json_t *body = json_pack("{s:s, s:s, s:s?, s:s?}", "state", state,
	    "description", desc, "environment_url", url, "log_url", url);
	int rc = call("POST", api, path, token, body, NULL, res);

	json_decref(body);
	free(path);
	return rc;
}

static int
tell_test_run(const char *api, const char *token, const struct event *e,
    struct github_result *res)
{
	json_t *d = json_loads(e->data != NULL ? e->data : "{}", 0, NULL);
	const char *kind = e->kind + strlen("test_run.");
	const char *state = strcmp(kind, "started") == 0 ? "pending" :
	    strcmp(kind, "succeeded") == 0 ? "success" :
	    strcmp(kind, "failed") == 0 ? "failure" : "error";
	char *desc;
	int rc;

	if (strcmp(kind, "started") == 0)
		desc = xasprintf("Test run #%lld running",
		    (long long)json_integer_value(json_object_get(d,
		    "number")));
	else
		desc = xasprintf("Test run #%lld %s: %lld passed, %lld failed",
		    (long long)json_integer_value(json_object_get(d, "number")),
		    kind, (long long)json_integer_value(json_object_get(d,
		    "passed")), (long long)json_integer_value(json_object_get(d,
		    "failed")));
	rc = commit_status(api, token, e->commit, "berth/ci", state, desc,
	    NULL, res);
	free(desc);
	json_decref(d);
	return rc;
}

static int
tell_release(const char *api, const char *token, const struct event *e,
    const struct github_app *app, struct github_result *res)
{
	int ok = strcmp(e->kind, "release.succeeded") == 0;
	char *context = xasprintf("berth/deploy/%s", e->app);
	char *desc = xasprintf("v%d of %s %s: %.80s", e->version, e->app,
	    ok ? "is live" : "failed", e->message);
	json_t *body, *dep = NULL;
	json_int_t id;
	int rc;

	rc = commit_status(api, token, e->commit, context, ok ? "success" :
	    "failure", desc, ok ? app->url : NULL, res);
	if (rc < 0)
		goto out;
	body = json_pack("{s:s, s:s, s:b, s:[], s:s, s:b, s:b}", "ref",
	    e->commit, "environment", e->app, "auto_merge", 0,
	    "required_contexts", "description", desc,
	    "transient_environment", strcmp(app->stage, "review") == 0,
	    "production_environment", strcmp(app->stage, "production") == 0);
	rc = call("POST", api, "/deployments", token, body, &dep, res);
	json_decref(body);
	if (rc < 0)
		goto out;
	id = json_integer_value(json_object_get(dep, "id"));
	if (id <= 0) {
		rc = berth_error("GitHub POST /deployments answered without a "
		    "deployment id");
		goto out;
	}
	rc = deployment_status(api, token, id, "in_progress", desc, NULL, res);
	if (rc == 0)
		rc = deployment_status(api, token, id, ok ? "success" :
		    "failure", desc, ok ? app->url : NULL, res);
out:
	json_decref(dep);
	free(desc);
	free(context);
	return rc;
}

/* The newest deployment of the review app's environment: inactive. */
static int
tell_destroyed(const char *api, const char *token, const struct event *e,
    struct github_result *res)
{
	char *path = xasprintf("/deployments?environment=%s&per_page=1",
	    e->app);
	json_t *list = NULL;
	json_int_t id;
	int rc = call("GET", api, path, token, NULL, &list, res);

	free(path);
	if (rc < 0)
		return -1;
	id = json_integer_value(json_object_get(json_array_get(list, 0),
	    "id"));
	json_decref(list);
	if (id <= 0)
		return 1;	/* GitHub never heard of it */
	return deployment_status(api, token, id, "inactive", "Review app "
	    "destroyed", NULL, res);
}

int
github_tell(const char *api, const char *token, const struct event *e,
    const struct github_app *app, struct github_result *res)
{
	memset(res, 0, sizeof(*res));
	if (strncmp(e->kind, "test_run.", 9) == 0 && e->commit != NULL)
		return tell_test_run(api, token, e, res);
	if (strncmp(e->kind, "release.", 8) == 0 && e->commit != NULL &&
	    e->app != NULL && app != NULL && app->stage != NULL)
		return tell_release(api, token, e, app, res);
	if (strcmp(e->kind, "review_app.destroyed") == 0 && e->app != NULL)
		return tell_destroyed(api, token, e, res);
	return 1;
}

/* One status or check run of a commit: count it, keep the first why. */
static void
ci_note(const char *name, int passed, int failed, const char *state,
    size_t *seen, size_t *red, char **why)
{
	(*seen)++;
	if (passed || (*why != NULL && *red > 0))
		return;
	if (failed)
		(*red)++;
	if (*why == NULL || failed) {
		free(*why);
		*why = xasprintf("%s is %s", name, state);
	}
}

int
github_commit_ci(const char *api, const char *token, const char *sha,
    enum github_ci *out, char **why)
{
	struct github_result res;
	json_t *st = NULL, *runs = NULL, *v;
	char *path;
	size_t i, seen = 0, red = 0;
	int ret = -1;

	memset(&res, 0, sizeof(res));
	*out = GITHUB_CI_PENDING;
	*why = NULL;
	path = xasprintf("/commits/%s/status", sha);
	if (call("GET", api, path, token, NULL, &st, &res) < 0)
		goto out;
	free(path);
	path = xasprintf("/commits/%s/check-runs", sha);
	if (call("GET", api, path, token, NULL, &runs, &res) < 0)
		goto out;
	json_array_foreach(json_object_get(st, "statuses"), i, v) {
		const char *ctx = json_string_value(json_object_get(v,
		    "context"));
		const char *state = json_string_value(json_object_get(v,
		    "state"));

		if (ctx != NULL && state != NULL &&
		    strncmp(ctx, "berth/", 6) != 0)
			ci_note(ctx, strcmp(state, "success") == 0,
			    strcmp(state, "pending") != 0, state, &seen, &red,
			    why);
	}
	json_array_foreach(json_object_get(runs, "check_runs"), i, v) {
		const char *name = json_string_value(json_object_get(v,
		    "name"));
		const char *status = json_string_value(json_object_get(v,
		    "status"));
		const char *concl = json_string_value(json_object_get(v,
		    "conclusion"));
		int done = status != NULL && strcmp(status, "completed") == 0;

		if (name == NULL || status == NULL ||
		    strncmp(name, "berth/", 6) == 0)
			continue;
		if (done && concl == NULL)
			concl = "failed";
		ci_note(name, done && (strcmp(concl, "success") == 0 ||
		    strcmp(concl, "neutral") == 0 ||
		    strcmp(concl, "skipped") == 0), done, done ? concl : status,
		    &seen, &red, why);
	}
	if (red > 0)
		*out = GITHUB_CI_RED;
	else if (seen > 0 && *why == NULL)
		*out = GITHUB_CI_GREEN;
	else if (seen == 0)
		*why = xstrdup("GitHub has no status or check run for it yet");
	ret = 0;
out:
	free(path);
	json_decref(st);
	json_decref(runs);
	return ret;
}

int
github_check_repo(const char *repo)
{
	const char *slash = strchr(repo, '/'), *p;
	size_t len = strlen(repo);

	for (p = repo; *p != '\0'; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && strchr("-_./", *p) == NULL)
			break;
	if (*p != '\0' || slash == NULL || slash == repo || slash[1] == '\0' ||
	    strchr(slash + 1, '/') != NULL || len > 140 ||
	    strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
		return berth_error("--repo wants OWNER/NAME as GitHub shows it, "
		    "e.g. acme/shop (got '%.60s')", repo);
	return 0;
}
