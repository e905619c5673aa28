/*
 * routes.c - the routes berthd wants and whether the router has them
 * (see routes.h): bookkeeping and back-off only.
 */
#include "routes.h"

#include <stdlib.h>
#include <string.h>

void
route_table_init(struct route_table *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
}

void
route_want_clear(struct route_want *w)
{
	free(w->app);
	free(w->ports);
	free(w->why);
	memset(w, 0, sizeof(*w));
}

void
route_table_clear(struct route_table *t)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		route_want_clear(&t->v[i]);
	free(t->v);
	free(t->down_why);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

int64_t
route_retry_delay(int tries)
{
	int64_t ms = ROUTE_RETRY_MIN_MS;

	while (--tries > 0 && ms < ROUTE_RETRY_MAX_MS)
		ms *= 2;
	return ms > ROUTE_RETRY_MAX_MS ? ROUTE_RETRY_MAX_MS : ms;
}

/* app's entry, or NULL (t->lock held). */
static struct route_want *
find(struct route_table *t, const char *app)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (strcmp(t->v[i].app, app) == 0)
			return &t->v[i];
	return NULL;
}

void
route_table_want(struct route_table *t, const char *app, const int *ports,
    size_t n, int removed)
{
	struct route_want *w;

	pthread_mutex_lock(&t->lock);
	w = find(t, app);
	if (w == NULL) {
		t->v = xrealloc(t->v, (t->nr + 1) * sizeof(*t->v));
		w = &t->v[t->nr++];
		memset(w, 0, sizeof(*w));
		w->app = xstrdup(app);
	}
	free(w->ports);
	w->ports = xcalloc(n ? n : 1, sizeof(*w->ports));
	if (n > 0)
		memcpy(w->ports, ports, n * sizeof(*ports));
	w->n = n;
	w->removed = removed;
	w->pending = 1;
	w->next_try = 1;	/* due at once */
	pthread_mutex_unlock(&t->lock);
}

int
route_table_get(struct route_table *t, const char *app,
    struct route_want *out)
{
	struct route_want *w;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->lock);
	w = find(t, app);
	if (w != NULL) {
		*out = *w;
		out->app = xstrdup(w->app);
		out->ports = xcalloc(w->n ? w->n : 1, sizeof(*w->ports));
		if (w->n > 0)
			memcpy(out->ports, w->ports, w->n * sizeof(*w->ports));
		out->why = w->why != NULL ? xstrdup(w->why) : NULL;
		ret = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* Note a failed try of w at now; ROUTE_FAILED for the first one. */
static enum route_news
failed(struct route_want *w, const char *why, int64_t now)
{
	enum route_news news = w->tries == 0 ? ROUTE_FAILED : ROUTE_QUIET;

	if (w->tries == 0)
		w->since = time(NULL);
	/* A new reason is news too. */
	if (w->why != NULL && strcmp(w->why, why) != 0)
		news = ROUTE_FAILED;
	free(w->why);
	w->why = xstrdup(why);
	w->tries++;
	w->next_try = now + route_retry_delay(w->tries);
	return news;
}

enum route_news
route_table_done(struct route_table *t, const char *app, int ok,
    const char *why, int64_t now)
{
	enum route_news news = ROUTE_QUIET;
	struct route_want *w;

	pthread_mutex_lock(&t->lock);
	w = find(t, app);
	if (w != NULL && !ok)
		news = failed(w, why != NULL && *why != '\0' ? why :
		    "unknown error", now);
	else if (w != NULL) {
		news = w->tries > 0 ? ROUTE_RECOVERED : ROUTE_QUIET;
		w->pending = 0;
		w->tries = 0;
		free(w->why);
		w->why = NULL;
		if (w->removed) {
			route_want_clear(w);
			*w = t->v[--t->nr];
		}
	}
	pthread_mutex_unlock(&t->lock);
	return news;
}

void
route_table_reset(struct route_table *t, int64_t now)
{
	size_t i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->nr; i++) {
		t->v[i].pending = 1;
		t->v[i].next_try = now;
	}
	pthread_mutex_unlock(&t->lock);
}

void
route_table_due(struct route_table *t, int64_t now, struct strvec *apps)
{
	size_t i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->nr; i++)
		if (t->v[i].pending && t->v[i].next_try <= now)
			strvec_push(apps, t->v[i].app);
	pthread_mutex_unlock(&t->lock);
}

int
route_table_is_pending(struct route_table *t, const char *app)
{
	struct route_want *w;
	int pending;

	pthread_mutex_lock(&t->lock);
	w = find(t, app);
	pending = w != NULL && w->pending;
	pthread_mutex_unlock(&t->lock);
	return pending;
}

void
route_table_pending(struct route_table *t, struct strvec *out)
{
	size_t i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->nr; i++)
		if (t->v[i].pending)
			strvec_pushf(out, "%s: %s", t->v[i].app,
			    t->v[i].why != NULL ? t->v[i].why :
			    "not applied yet");
	pthread_mutex_unlock(&t->lock);
}

enum route_news
route_table_router(struct route_table *t, const char *why, int64_t now)
{
	enum route_news news = ROUTE_QUIET;

	pthread_mutex_lock(&t->lock);
	if (why == NULL) {
		news = t->down_why != NULL ? ROUTE_RECOVERED : ROUTE_QUIET;
		free(t->down_why);
		t->down_why = NULL;
		t->down_tries = 0;
	} else {
		if (t->down_why == NULL || strcmp(t->down_why, why) != 0)
			news = ROUTE_FAILED;
		if (t->down_why == NULL)
			t->down_since = time(NULL);
		free(t->down_why);
		t->down_why = xstrdup(why);
		t->down_tries++;
		t->down_next = now + route_retry_delay(t->down_tries);
	}
	pthread_mutex_unlock(&t->lock);
	return news;
}

int
route_table_router_due(struct route_table *t, int64_t now)
{
	int due;

	pthread_mutex_lock(&t->lock);
	due = t->down_why != NULL && t->down_next <= now;
	pthread_mutex_unlock(&t->lock);
	return due;
}

char *
route_table_router_why(struct route_table *t)
{
	char *why;

	pthread_mutex_lock(&t->lock);
	why = t->down_why != NULL ? xstrdup(t->down_why) : NULL;
	pthread_mutex_unlock(&t->lock);
	return why;
}

int64_t
route_table_next(struct route_table *t)
{
	int64_t next = 0;
	size_t i;

	pthread_mutex_lock(&t->lock);
	if (t->down_why != NULL)
		next = t->down_next;
	for (i = 0; i < t->nr; i++)
		if (t->v[i].pending && (next == 0 || t->v[i].next_try < next))
			next = t->v[i].next_try;
	pthread_mutex_unlock(&t->lock);
	return next;
}

void
route_table_status(struct route_table *t, json_t *obj)
{
	json_t *list = json_array();
	size_t i;

	pthread_mutex_lock(&t->lock);
	json_object_set_new(obj, "router_error", t->down_why != NULL ?
	    json_string(t->down_why) : json_null());
	for (i = 0; i < t->nr; i++) {
		const struct route_want *w = &t->v[i];

		if (!w->pending || w->tries == 0)
			continue;
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:i}",
		    "app", w->app, "error", w->why, "since",
		    (json_int_t)w->since, "tries", w->tries));
	}
	pthread_mutex_unlock(&t->lock);
	json_object_set_new(obj, "routes_pending", list);
}
