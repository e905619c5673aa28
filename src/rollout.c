/*
 * rollout.c - rollouts, convergence, stop and destroy of one app's
 * dynos (see rollout.h), and the readiness checks that gate them.
 */
#include "rollout.h"
#include "applog.h"
#include "names.h"

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
progress_say(const struct progress *p, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (p == NULL || p->fn == NULL)
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	p->fn(sb.buf, p->data);
	strbuf_release(&sb);
}

void
rollout_plan_clear(struct rollout_plan *plan)
{
	release_clear(&plan->rel);
	free(plan->commit);
	plan->commit = NULL;
	proctypes_clear(&plan->types);
	formation_list_free(plan->form, plan->nform);
	plan->form = NULL;
	plan->nform = 0;
	if (plan->has_aj)
		appjson_clear(&plan->aj);
	plan->has_aj = 0;
}

/* ---- the real probe ---- */

static int
real_accepts(void *data, int port)
{
	(void)data;
	return sv_port_accepts(port);
}

/* Keep the first HEALTH_BODY_MAX bytes of an answer, for its content. */
static size_t
keep_body(char *p, size_t size, size_t n, void *data)
{
	struct strbuf *body = data;
	size_t len = size * n;

	if (body->len < HEALTH_BODY_MAX)
		strbuf_add(body, p, len < HEALTH_BODY_MAX - body->len ? len :
		    HEALTH_BODY_MAX - body->len);
	return len;
}

static long
real_health(void *data, int port, const struct healthcheck *hc,
    struct strbuf *body)
{
	CURL *c = curl_easy_init();
	struct curl_slist *headers = NULL;
	char url[512], *host = NULL;
	long code = -1;
	CURLcode rc;

	(void)data;
	if (c == NULL)
		return berth_error("cannot start a health check");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, hc->path);
	if (hc->host != NULL) {
		host = xasprintf("Host: %s", hc->host);
		headers = curl_slist_append(headers, host);
	}
	if (hc->https)
		headers = curl_slist_append(headers, "X-Forwarded-Proto: https");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)hc->timeout * 1000);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	else
		berth_error("%s", curl_easy_strerror(rc));
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	free(host);
	return code;
}

const struct rollout_probe rollout_probe_real = {
	.accepts = real_accepts,
	.health = real_health,
	.data = NULL,
};

/* ---- readiness ---- */

enum readiness { READY, WAITING, FAILED };

/* Per-dyno state of a wait for readiness. */
struct boot {
	struct sv_dyno *d;
	size_t check;		/* the health check being tried (aj->checks) */
	int checking;		/* its first try is scheduled */
	int tries;		/* its failed tries */
	int64_t next_try;	/* monotonic ms */
	int moves;		/* restarts on another port */
	int accepted;		/* it accepted a connection on its port */
	int up;
};

#define BOOT_MOVES_MAX	3	/* a port lost at boot: tries on another */

/* "NAME crashed during boot ...; its last lines:" (sv->lock held). */
static void
crashed_error(const struct sv_dyno *d)
{
	struct strbuf sb = STRBUF_INIT;
	char name[64];

	sv_dyno_name(d, name);
	strbuf_addf(&sb, "%s crashed during boot (exit status %d); its last "
	    "lines:", name, d->exit_code);
	sv_dyno_tail(d, &sb);
	berth_error("%s", sb.buf);
	strbuf_release(&sb);
}

/*
 * One try of health check hc of b's dyno, when it is due: READY when
 * the answer has the status wanted and the content (if any), FAILED
 * after hc->attempts tries; each failed try before that is said.
 */
static enum readiness
health_try(struct rollout_env *env, struct boot *b, int port,
    const struct healthcheck *hc, const struct progress *pr)
{
	struct strbuf body = STRBUF_INIT, where = STRBUF_INIT;
	char got[160], name[64], *path, *q;
	long code;
	int ok;

	if (now_ms() < b->next_try)
		return WAITING;
	code = env->probe.health(env->probe.data, port, hc, &body);
	ok = code > 0 && (hc->status ? code == hc->status :
	    code >= 200 && code < 400);
	if (code > 0)
		snprintf(got, sizeof(got), "got HTTP %ld", code);
	else
		snprintf(got, sizeof(got), "%s", berth_last_error());
	if (ok && hc->content != NULL && memmem(body.buf, body.len,
	    hc->content, strlen(hc->content)) == NULL) {
		q = name_quoted(hc->content);
		snprintf(got, sizeof(got), "got HTTP %ld without '%.80s'",
		    code, q);
		free(q);
		ok = 0;
	}
	strbuf_release(&body);
	if (ok)
		return READY;
	b->next_try = now_ms() + (int64_t)hc->wait * 1000;
	sv_dyno_name(b->d, name);
	/* The app's strings reach a terminal: no control byte raw. */
	path = name_quoted(hc->path);
	if (++b->tries < hc->attempts) {
		progress_say(pr, "%s: health check GET %s, try %d of %d: %s",
		    name, path, b->tries, hc->attempts, got);
		free(path);
		return WAITING;
	}
	strbuf_addstr(&where, hc->where != NULL ? hc->where : "health check");
	if (hc->name != NULL) {
		q = name_quoted(hc->name);
		strbuf_addf(&where, " \"%s\"", q);
		free(q);
	}
	berth_error("%s failed its health check GET %s after %d tr%s: %s (%s)",
	    name, path, b->tries, b->tries == 1 ? "y" : "ies", got,
	    where.buf);
	free(path);
	strbuf_release(&where);
	return FAILED;
}

/*
 * b's dyno's health checks of its type in aj, one after the other, each
 * with its own tries; READY once all passed.
 */
static enum readiness
checks_try(struct rollout_env *env, struct boot *b, int port,
    const struct appjson *aj, const struct progress *pr)
{
	for (; b->check < aj->nchecks; b->check++) {
		const struct healthcheck *hc = &aj->checks[b->check];
		enum readiness r;

		if (strcmp(hc->type, b->d->type) != 0)
			continue;
		if (!b->checking) {
			b->checking = 1;
			b->tries = 0;
			b->next_try = now_ms() + (int64_t)hc->initial_delay *
			    1000;
		}
		r = health_try(env, b, port, hc, pr);
		if (r != READY)
			return r;
		b->checking = 0;
	}
	return READY;
}

/*
 * Whether b's crashed web dyno starts again on another port, as it lost
 * its own to another process (sv->lock held); at most BOOT_MOVES_MAX.
 */
static int
moves_port(struct supervisor *sv, struct boot *b)
{
	if (b->d->restart_at > 0 || b->d->restarting)
		return 1;	/* on its way already */
	if (b->moves >= BOOT_MOVES_MAX || !sv_dyno_move_port(sv, b->d))
		return 0;
	b->moves++;
	return 1;
}

/*
 * Whether b's dyno is up: a web dyno accepts on its port and passes its
 * health check; another kind is up while it runs (a crashing worker
 * restarts with back-off, visible in ps, as on Heroku). Marks it up and
 * says so.
 */
static enum readiness
boot_check(struct rollout_env *env, struct boot *b,
    const struct appjson *aj, const struct progress *pr)
{
	struct supervisor *sv = env->sv;
	struct sv_dyno *d = b->d;
	int web = strcmp(d->type, "web") == 0, port;
	enum sv_state state;
	int64_t booted = -1;
	char name[64];

	pthread_mutex_lock(&sv->lock);
	state = d->state;
	port = d->port;
	if (web && state == SV_CRASHED && moves_port(sv, b)) {
		pthread_mutex_unlock(&sv->lock);
		return WAITING;
	}
	if (web && (state == SV_CRASHED || state == SV_STOPPING))
		crashed_error(d);
	pthread_mutex_unlock(&sv->lock);
	if (state == SV_UP || (!web && (state == SV_CRASHED ||
	    state == SV_STOPPING)))
		return READY;
	if (state == SV_CRASHED || state == SV_STOPPING)
		return FAILED;
	if (web && !env->probe.accepts(env->probe.data, port))
		return WAITING;
	b->accepted = 1;
	if (aj != NULL && port > 0) {
		enum readiness r = checks_try(env, b, port, aj, pr);

		if (r != READY)
			return r;
	}
	pthread_mutex_lock(&sv->lock);
	sv_dyno_name(d, name);
	if (d->state == SV_STARTING) {
		d->state = SV_UP;
		sv_app_event(d->app, name, "State changed from starting to "
		    "up");
		booted = now_ms() - d->started_ms;
	}
	pthread_mutex_unlock(&sv->lock);
	/* Never write to a client with sv->lock held. Other kinds are
	 * reported once the rollout is done with them (report_others). */
	if (booted >= 0 && web)
		progress_say(pr, "%s up (%.1fs)", name, booted / 1000.0);
	return READY;
}

/*
 * Say how the dynos in ds that are not web dynos are doing, now that
 * the operation is done with them: up, or crashed (and restarting), so
 * a worker that crashed during the rollout is never reported up.
 */
static void
report_others(struct rollout_env *env, struct sv_dyno **ds, size_t n,
    const struct progress *pr)
{
	size_t i;

	for (i = 0; i < n; i++) {
		enum sv_state state;
		char name[64];
		int code;

		if (strcmp(ds[i]->type, "web") == 0)
			continue;
		pthread_mutex_lock(&env->sv->lock);
		state = ds[i]->state;
		code = ds[i]->exit_code;
		sv_dyno_name(ds[i], name);
		pthread_mutex_unlock(&env->sv->lock);
		if (state == SV_CRASHED)
			progress_say(pr, "%s crashed (exit status %d); it "
			    "restarts with back-off: berth logs --ps %s",
			    name, code, name);
		else if (state == SV_UP || state == SV_STARTING)
			progress_say(pr, "%s up", name);
	}
}

/* The boot timeout's error for the first dyno not up (sv->lock held). */
static void
timeout_error(struct rollout_env *env, struct boot *bs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct strbuf sb = STRBUF_INIT;
		char name[64];

		if (bs[i].up)
			continue;
		sv_dyno_name(bs[i].d, name);
		if (bs[i].accepted)
			strbuf_addf(&sb, "%s did not pass its health checks "
			    "within %d s (berth.ini [runtime] boot_timeout); "
			    "its last lines:", name, env->boot_timeout);
		else
			strbuf_addf(&sb, "%s did not accept connections on "
			    "$PORT (%d) within %d s (berth.ini [runtime] "
			    "boot_timeout); its last lines:", name,
			    bs[i].d->port, env->boot_timeout);
		sv_dyno_tail(bs[i].d, &sb);
		berth_error("%s", sb.buf);
		strbuf_release(&sb);
		return;
	}
}

/*
 * Wait until every dyno in ds is up. 0, or -1 with berth_error()
 * naming the dyno that crashed, failed its check or timed out.
 */
static int
wait_up(struct rollout_env *env, struct sv_dyno **ds, size_t n,
    const struct appjson *aj, const struct progress *pr)
{
	int64_t deadline = now_ms() + (int64_t)env->boot_timeout * 1000;
	struct boot *bs = xcalloc(n ? n : 1, sizeof(*bs));
	size_t i, up = 0;
	int ret = -1;

	for (i = 0; i < n; i++)
		bs[i].d = ds[i];
	for (;;) {
		for (i = 0; i < n; i++) {
			enum readiness r;

			if (bs[i].up)
				continue;
			r = boot_check(env, &bs[i], aj, pr);
			if (r == FAILED)
				goto out;
			if (r == READY) {
				bs[i].up = 1;
				up++;
			}
		}
		if (up == n)
			break;
		if (now_ms() > deadline) {
			pthread_mutex_lock(&env->sv->lock);
			timeout_error(env, bs, n);
			pthread_mutex_unlock(&env->sv->lock);
			goto out;
		}
		poll(NULL, 0, 20);
	}
	ret = 0;
out:
	free(bs);
	return ret;
}

/* ---- routes ---- */

static int
in_list(struct sv_dyno *const *ds, size_t n, const struct sv_dyno *d)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ds[i] == d)
			return 1;
	return 0;
}

static void
add_port(int **ports, size_t *n, int port)
{
	*ports = xrealloc(*ports, (*n + 1) * sizeof(**ports));
	(*ports)[(*n)++] = port;
}

/*
 * Point the router at the app's live web dynos, plus extra (dynos about
 * to go live), minus except. sv->lock NOT held. The app's operation
 * makes route changes of one app apply in order.
 */
static int
route_app(struct rollout_env *env, struct sv_app *a, struct sv_dyno **extra,
    size_t nextra, struct sv_dyno **except, size_t nexcept)
{
	struct supervisor *sv = env->sv;
	int *ports = NULL, ret = 0;
	struct sv_dyno *d;
	size_t n = 0, i;

	pthread_mutex_lock(&sv->lock);
	for (d = sv->dynos; d != NULL; d = d->next)
		if (d->app == a && strcmp(d->type, "web") == 0 &&
		    !d->rollout && d->state != SV_STOPPING && d->port != 0 &&
		    !in_list(except, nexcept, d))
			add_port(&ports, &n, d->port);
	for (i = 0; i < nextra; i++)
		if (strcmp(extra[i]->type, "web") == 0 && extra[i]->port)
			add_port(&ports, &n, extra[i]->port);
	pthread_mutex_unlock(&sv->lock);
	if (env->router.set != NULL)
		ret = env->router.set(env->router.data, a->name, ports, n);
	if (ret < 0) {
		pthread_mutex_lock(&sv->lock);
		sv_app_event(a, "router", "Route not changed: %s",
		    berth_last_error());
		pthread_mutex_unlock(&sv->lock);
	}
	free(ports);
	return ret;
}

/*
 * Requests may still be in flight to dynos just taken out of the route;
 * wait for them (drain_ms at most, for long-lived connections) before
 * the dynos are stopped. Other apps' requests are not waited for.
 */
static void
drain(struct rollout_env *env, struct sv_app *a, struct sv_dyno **ds,
    size_t n)
{
	int *ports = NULL;
	size_t i, nports = 0;

	if (env->router.drain == NULL || n == 0)
		return;
	pthread_mutex_lock(&env->sv->lock);
	for (i = 0; i < n; i++)
		if (ds[i]->port > 0)
			add_port(&ports, &nports, ds[i]->port);
	pthread_mutex_unlock(&env->sv->lock);
	if (nports > 0)
		env->router.drain(env->router.data, a->name, ports, nports,
		    env->drain_ms);
	free(ports);
}

/* ---- rollouts ---- */

/* The dynos a rollout starts: plan's formation matching target. */
static size_t
start_fresh(struct rollout_env *env, struct sv_app *a,
    const struct rollout_plan *plan, const char *target,
    struct sv_dyno ***out)
{
	size_t i, n = 0;
	int q;

	for (i = 0; i < plan->nform; i++)
		for (q = 1; q <= plan->form[i].quantity; q++) {
			struct sv_dyno probe = {
				.type = plan->form[i].type,
				.index = q,
			};

			if (!sv_dyno_matches(&probe, target))
				continue;
			*out = xrealloc(*out, (n + 1) * sizeof(**out));
			(*out)[n++] = sv_dyno_start(env->sv, a,
			    plan->form[i].type, q, plan->form[i].memory);
		}
	return n;
}

/* The dynos a rollout replaces, pinned (sv->lock held). */
static size_t
collect_old(struct supervisor *sv, struct sv_app *a, struct sv_dyno **fresh,
    size_t nfresh, const char *target, int deploy, struct sv_dyno ***out)
{
	struct sv_dyno *d;
	size_t n = 0;

	for (d = sv->dynos; d != NULL; d = d->next)
		if (d->app == a && !in_list(fresh, nfresh, d) &&
		    d->state != SV_STOPPING &&
		    (deploy || sv_dyno_matches(d, target))) {
			*out = xrealloc(*out, (n + 1) * sizeof(**out));
			(*out)[n++] = d;
		}
	sv_pin(*out, n);
	return n;
}

/* Swap what the app runs with plan's release (sv->lock held). */
static void
swap_release(struct sv_app *a, struct rollout_plan *plan)
{
	struct release rel = a->rel;
	struct proctypes types = a->types;
	char *commit = a->commit;

	a->rel = plan->rel;
	a->types = plan->types;
	a->commit = plan->commit;
	a->sandboxed = plan->sandboxed;
	a->uid = plan->uid;
	plan->rel = rel;
	plan->types = types;
	plan->commit = commit;
}

/*
 * A rollout failed (berth_error() says why): stop its new dynos and go
 * back to the release that keeps serving. When the switch was what
 * failed, the router is asked for the old dynos' route again (the new
 * ones are stopping), so it never keeps retrying a route to them; a
 * route it still has is no change.
 */
static void
abort_rollout(struct rollout_env *env, struct sv_app *a,
    struct rollout_plan *plan, struct sv_dyno **fresh, size_t nfresh,
    int unrouted)
{
	struct supervisor *sv = env->sv;
	char *why = xstrdup(berth_last_error());
	size_t i;

	pthread_mutex_lock(&sv->lock);
	for (i = 0; i < nfresh; i++)
		sv_dyno_stop(sv, fresh[i]);
	swap_release(a, plan);
	sv_app_event(a, "api", "Rollout failed: %s", why);
	pthread_mutex_unlock(&sv->lock);
	if (unrouted)
		route_app(env, a, NULL, 0, NULL, 0);
	berth_error("%s", why);
	free(why);
}

int
rollout_release(struct rollout_env *env, struct sv_app *a,
    struct rollout_plan *plan, const char *target, int deploy,
    const struct progress *pr)
{
	struct supervisor *sv = env->sv;
	struct sv_dyno **fresh = NULL, **old = NULL;
	size_t nfresh, nold = 0, i;
	int64_t switch_us;
	int ret = -1, unrouted = 0;

	pthread_mutex_lock(&sv->lock);
	if (a->destroyed) {
		pthread_mutex_unlock(&sv->lock);
		return berth_error("%s was destroyed", a->name);
	}
	/* New dynos run with the new release's config and types; plan
	 * holds the previous ones until the switch. */
	swap_release(a, plan);
	if (deploy)
		sv_app_event(a, "api", "Deploy v%d (%s)", a->rel.version,
		    a->rel.description ? a->rel.description : "");
	pthread_mutex_unlock(&sv->lock);

	nfresh = start_fresh(env, a, plan, target, &fresh);
	if (wait_up(env, fresh, nfresh, plan->has_aj ? &plan->aj : NULL,
	    pr) < 0)
		goto fail;
	if (plan->before_switch != NULL &&
	    plan->before_switch(plan->before_switch_data, pr) < 0)
		goto fail;
	switch_us = now_us();
	pthread_mutex_lock(&sv->lock);
	nold = collect_old(sv, a, fresh, nfresh, target, deploy, &old);
	pthread_mutex_unlock(&sv->lock);
	if (route_app(env, a, fresh, nfresh, old, nold) < 0) {
		if (plan->before_switch == NULL) {
			unrouted = 1;
			goto fail;
		}
		/* Past the gate git has taken the push: no going back. The
		 * router keeps the route berthd wants and retries it. */
		progress_say(pr, "the router has not taken v%d yet (%s); "
		    "berthd retries until it does", a->rel.version,
		    berth_last_error());
	}
	switch_us = now_us() - switch_us;
	drain(env, a, old, nold);
	pthread_mutex_lock(&sv->lock);
	for (i = 0; i < nfresh; i++)
		sv_dyno_go_live(sv, fresh[i]);
	for (i = 0; i < nold; i++)
		sv_dyno_stop(sv, old[i]);
	a->stopped = 0;
	pthread_mutex_unlock(&sv->lock);
	if (nold > 0)
		progress_say(pr, "switched in %.1f ms; %zu old dyno%s "
		    "stopping", switch_us / 1000.0, nold, nold == 1 ? "" : "s");
	else
		progress_say(pr, "switched in %.1f ms", switch_us / 1000.0);
	report_others(env, fresh, nfresh, pr);
	ret = 0;
	goto out;
fail:
	abort_rollout(env, a, plan, fresh, nfresh, unrouted);
out:
	sv_unpin(sv, fresh, nfresh);
	sv_unpin(sv, old, nold);
	free(fresh);
	free(old);
	return ret;
}

/* ---- convergence ---- */

/* Whether the formation wants d. */
static int
wanted(const struct rollout_plan *plan, const struct sv_dyno *d)
{
	size_t i;

	for (i = 0; i < plan->nform; i++)
		if (strcmp(plan->form[i].type, d->type) == 0 &&
		    d->index <= plan->form[i].quantity)
			return 1;
	return 0;
}

/* Whether the app has a dyno type.index that is not stopping. */
static int
have_dyno(struct supervisor *sv, struct sv_app *a, const char *type, int q)
{
	struct sv_dyno *d;
	int have = 0;

	pthread_mutex_lock(&sv->lock);
	for (d = sv->dynos; d != NULL && !have; d = d->next)
		have = d->app == a && d->state != SV_STOPPING &&
		    strcmp(d->type, type) == 0 && d->index == q;
	pthread_mutex_unlock(&sv->lock);
	return have;
}

/* Take extra dynos out of the route, drain, then stop them. */
static size_t
stop_extra(struct rollout_env *env, struct sv_app *a,
    const struct rollout_plan *plan)
{
	struct supervisor *sv = env->sv;
	struct sv_dyno **extra = NULL, *d;
	size_t n = 0, i;

	pthread_mutex_lock(&sv->lock);
	for (d = sv->dynos; d != NULL; d = d->next)
		if (d->app == a && d->state != SV_STOPPING && !d->rollout &&
		    (plan->stopped || !wanted(plan, d))) {
			extra = xrealloc(extra, (n + 1) * sizeof(*extra));
			extra[n++] = d;
		}
	sv_pin(extra, n);
	pthread_mutex_unlock(&sv->lock);
	if (n > 0) {
		route_app(env, a, NULL, 0, extra, n);
		drain(env, a, extra, n);
		pthread_mutex_lock(&sv->lock);
		for (i = 0; i < n; i++)
			sv_dyno_stop(sv, extra[i]);
		pthread_mutex_unlock(&sv->lock);
	}
	sv_unpin(sv, extra, n);
	free(extra);
	return n;
}

/*
 * Dynos a convergence started are formation dynos now, whether they
 * came up or not: one still booting goes on, one that crashed restarts
 * with back-off.
 */
static void
go_live(struct supervisor *sv, struct sv_dyno **fresh, size_t n)
{
	size_t i;

	pthread_mutex_lock(&sv->lock);
	for (i = 0; i < n; i++)
		sv_dyno_go_live(sv, fresh[i]);
	pthread_mutex_unlock(&sv->lock);
}

int
rollout_converge(struct rollout_env *env, struct sv_app *a,
    struct rollout_plan *plan, const struct progress *pr)
{
	struct supervisor *sv = env->sv;
	struct sv_dyno **fresh = NULL;
	size_t nfresh = 0, stale, i;
	int ret = 0, q;

	pthread_mutex_lock(&sv->lock);
	if (a->destroyed) {
		pthread_mutex_unlock(&sv->lock);
		return 0;
	}
	a->stopped = plan->stopped;
	stale = a->rel.id == 0 && !plan->stopped ?
	    sv_adopt_stale(sv, a, plan->rel.id) : 0;
	pthread_mutex_unlock(&sv->lock);
	/*
	 * After a berthd restart, dynos it adopted that run another
	 * release (deployed while it was down) are replaced as a deploy
	 * replaces them: they serve until the new ones are up. When the
	 * new ones do not come up, convergence goes on below as usual.
	 */
	if (stale > 0 && rollout_release(env, a, plan, NULL, 1, pr) == 0)
		return 0;
	pthread_mutex_lock(&sv->lock);
	if (a->rel.id == 0 && plan->rel.id != 0)
		swap_release(a, plan);
	sv_adopt_claim(sv, a);
	pthread_mutex_unlock(&sv->lock);
	stop_extra(env, a, plan);
	for (i = 0; i < plan->nform && !plan->stopped; i++)
		for (q = 1; q <= plan->form[i].quantity; q++) {
			if (have_dyno(sv, a, plan->form[i].type, q))
				continue;
			fresh = xrealloc(fresh, (nfresh + 1) * sizeof(*fresh));
			fresh[nfresh++] = sv_dyno_start(sv, a,
			    plan->form[i].type, q, plan->form[i].memory);
		}
	if (nfresh > 0) {
		ret = wait_up(env, fresh, nfresh, NULL, pr);
		go_live(sv, fresh, nfresh);
		report_others(env, fresh, nfresh, pr);
	}
	/*
	 * Route even when nothing changed: after a start, nginx may not know
	 * the app yet (a stopped one must answer 503, not 404). An unchanged
	 * route costs nothing: no reload. A route the router could not take
	 * is not applied yet, and says so: the router tries it again.
	 */
	{
		char *why = ret < 0 ? xstrdup(berth_last_error()) : NULL;

		if (route_app(env, a, NULL, 0, NULL, 0) < 0 && why == NULL) {
			why = xasprintf("route not applied yet: %s",
			    berth_last_error());
			ret = -1;
		}
		if (why != NULL)
			berth_error("%s", why);
		free(why);
	}
	sv_unpin(sv, fresh, nfresh);
	free(fresh);
	return ret;
}

/* ---- stop and destroy ---- */

int
rollout_stop(struct rollout_env *env, struct sv_app *a, const char *target)
{
	struct supervisor *sv = env->sv;
	struct sv_dyno *d;
	int n = 0;

	pthread_mutex_lock(&sv->lock);
	if (target == NULL)
		a->stopped = 1;
	for (d = sv->dynos; d != NULL; d = d->next) {
		if (d->app != a || !sv_dyno_matches(d, target) ||
		    d->state == SV_STOPPING)
			continue;
		n++;
		d->backoff = 0;
		if (target == NULL)
			sv_dyno_stop(sv, d);
		else if (d->pid > 0)
			/* Like Heroku: it comes back. */
			kill(-d->pgid, SIGTERM);
	}
	pthread_mutex_unlock(&sv->lock);
	if (target == NULL)
		route_app(env, a, NULL, 0, NULL, 0);
	return n;
}

void
rollout_destroy(struct rollout_env *env, struct sv_app *a)
{
	struct supervisor *sv = env->sv;
	struct sv_dyno *d;

	pthread_mutex_lock(&sv->lock);
	a->destroyed = 1;
	for (d = sv->dynos; d != NULL; d = d->next)
		if (d->app == a)
			sv_dyno_stop(sv, d);
	if (a->log != NULL) {
		applog_close(a->log);
		a->log = NULL;
	}
	pthread_mutex_unlock(&sv->lock);
	if (env->router.remove != NULL)
		env->router.remove(env->router.data, a->name);
}
