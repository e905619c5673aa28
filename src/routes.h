/*
 * routes.h - the routes berthd wants, and whether its router has them:
 * for each app the ports it last asked for (or that it is not to be
 * routed at all), and for a route that could not be applied (a full
 * disk, an nginx that does not answer) why, since when, and when to try
 * again, with back-off from 0.5 s to 5 s. The same for the router
 * itself when it could not start. berthd applies a change at once, and
 * when that fails keeps applying the latest one from a thread until it
 * works; daemon:status and the log say what is not applied.
 *
 * Only the bookkeeping: no router call and no I/O here. The table has
 * its own lock, held for in-memory work only, so a status request never
 * waits for a router change. Whoever applies routes applies one at a
 * time (berthd's router lock): want, apply and done of one change are
 * never interleaved with another's.
 */
#ifndef BERTH_ROUTES_H
#define BERTH_ROUTES_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

#define ROUTE_RETRY_MIN_MS	500
#define ROUTE_RETRY_MAX_MS	5000

/* One app's wanted route. */
struct route_want {
	char *app;
	int *ports;
	size_t n;
	int removed;		/* wanted: not routed at all */
	int pending;		/* not applied yet */
	char *why;		/* why the last try failed */
	time_t since;		/* wall clock: when it first failed */
	int tries;		/* failed tries in a row */
	int64_t next_try;	/* monotonic ms */
};

/* What is said of a try, for the log. */
enum route_news { ROUTE_QUIET, ROUTE_FAILED, ROUTE_RECOVERED };

struct route_table {
	pthread_mutex_t lock;
	struct route_want *v;
	size_t nr;
	/* The router itself: down_why non-NULL while it could not start. */
	char *down_why;
	time_t down_since;
	int down_tries;
	int64_t down_next;
};

void route_table_init(struct route_table *t);
void route_table_clear(struct route_table *t);
/* Back-off before the next try after tries failures in a row (ms). */
int64_t route_retry_delay(int tries);

/*
 * app is wanted at ports (removed 1: not routed at all), replacing what
 * it was wanted at; pending until route_table_done() says it applied.
 */
void route_table_want(struct route_table *t, const char *app,
    const int *ports, size_t n, int removed);
/* A copy of app's wanted route: 0, or -1 when it is not in the table. */
int route_table_get(struct route_table *t, const char *app,
    struct route_want *out);
void route_want_clear(struct route_want *w);
/*
 * How applying app's wanted route ended at now (monotonic ms): ok, or
 * why not (then it is due again after the back-off). A removal that
 * applied leaves the table.
 */
enum route_news route_table_done(struct route_table *t, const char *app,
    int ok, const char *why, int64_t now);
/* Every route is pending and due at now (a new nginx knows none). */
void route_table_reset(struct route_table *t, int64_t now);
/* The apps whose route is pending and due at now, into apps. */
void route_table_due(struct route_table *t, int64_t now,
    struct strvec *apps);
/* Whether app's route is not applied yet. */
int route_table_is_pending(struct route_table *t, const char *app);
/* "APP: why" of each pending route, into out. */
void route_table_pending(struct route_table *t, struct strvec *out);

/* The router could not start (why), or started (why NULL). */
enum route_news route_table_router(struct route_table *t, const char *why,
    int64_t now);
/* Whether the router is down and due for another start at now. */
int route_table_router_due(struct route_table *t, int64_t now);
/* Why the router is down (a copy, caller frees), or NULL. */
char *route_table_router_why(struct route_table *t);
/* The earliest due time of anything pending, 0 when nothing is. */
int64_t route_table_next(struct route_table *t);

/*
 * What daemon:status shows: "router_error" (why the router is down, or
 * null) and "routes_pending": [{app, error, since, tries}], added to
 * obj.
 */
void route_table_status(struct route_table *t, json_t *obj);

#endif
