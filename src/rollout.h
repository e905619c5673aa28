/*
 * rollout.h - what berthd's per-app operations do with dynos and
 * routes: roll a release out with zero downtime (deploy, restart),
 * match the running dynos to the formation (scale, start), stop and
 * destroy. The caller holds the app's operation (sv_app_op_begin), so
 * one app has one of these at a time; they never hold a lock shared by
 * all apps across a boot wait, a health check, a router change or a
 * drain.
 *
 * The router and the readiness probe are function tables, so the logic
 * can be driven in unit tests by fakes (tests/unit/test-rollout.c);
 * berthd passes nginx (router.h) and real TCP/HTTP probes.
 */
#ifndef BERTH_ROLLOUT_H
#define BERTH_ROLLOUT_H

#include "appjson.h"
#include "run-command.h"
#include "supervisor.h"

/* Where an operation's progress lines go (a control client, or none). */
struct progress {
	line_fn fn;		/* NULL = nowhere */
	void *data;
};
void progress_say(const struct progress *p, const char *fmt, ...)
    BERTH_ATTR_PRINTF(2, 3);

struct rollout_router {
	/* Route APP to ports (none: its 503 page); 0 once it serves. */
	int (*set)(void *data, const char *app, const int *ports, size_t n);
	/* Wait until no request is in flight to app's ports (at most ms). */
	int (*drain)(void *data, const char *app, const int *ports, size_t n,
	    int timeout_ms);
	/* Stop routing APP. */
	int (*remove)(void *data, const char *app);
	void *data;
};

struct rollout_probe {
	/* Whether something accepts connections on 127.0.0.1:port. */
	int (*accepts)(void *data, int port);
	/* GET hc->path on port: the HTTP status, or -1 (berth_error);
	 * the answer's body (its first HEALTH_BODY_MAX bytes) into body. */
	long (*health)(void *data, int port, const struct healthcheck *hc,
	    struct strbuf *body);
	void *data;
};
extern const struct rollout_probe rollout_probe_real;
#define HEALTH_BODY_MAX (1 << 20)

struct rollout_env {
	struct supervisor *sv;
	struct rollout_router router;
	struct rollout_probe probe;
	int boot_timeout;	/* s: web dynos must accept by then */
	int drain_ms;		/* most a drain may take (stop_timeout) */
};

/*
 * What an operation works towards, loaded from the ledger by the
 * caller: a release with its commit and process types, the formation
 * for it, and its health checks (app.json's, else its CHECKS file's).
 */
struct rollout_plan {
	struct release rel;
	char *commit;
	struct proctypes types;
	struct formation_item *form;
	size_t nform;
	struct appjson aj;
	int has_aj;
	int stopped;		/* the app is ps:stop'ped: formation 0 */
	int sandboxed, uid;	/* how its dynos run (sandbox_for_app()) */
	/*
	 * When set, called once the new dynos are up and before the router
	 * switches to them: -1 (with berth_error()) abandons the rollout
	 * as a failed boot would. A push's release waits here for git to
	 * move its ref (gate.h). Once it returned 0 there is no going
	 * back: a switch the router refuses is left to its retries.
	 */
	int (*before_switch)(void *data, const struct progress *pr);
	void *before_switch_data;
};
void rollout_plan_clear(struct rollout_plan *plan);

/*
 * Replace the app's dynos that match target (NULL = all) with new ones
 * of plan->rel: start them, wait until they are up (web: accept on
 * $PORT and pass the health check), switch the router, drain, stop
 * the old ones. deploy = 1 for a new release (then every old dyno
 * goes, and the release becomes what the app runs); 0 for a restart.
 * On failure the new dynos stop, the old ones keep serving, and
 * berth_error() names the dyno and shows its last lines. Steals
 * plan->rel, commit and types on success.
 */
int rollout_release(struct rollout_env *env, struct sv_app *a,
    struct rollout_plan *plan, const char *target, int deploy,
    const struct progress *pr);
/*
 * Match the app's dynos to plan's formation: start missing ones (web
 * ones join the router once up), stop extra ones (after leaving the
 * router). When the app runs nothing yet, plan->rel becomes its
 * release. 0, or -1 when a new web dyno did not come up.
 */
int rollout_converge(struct rollout_env *env, struct sv_app *a,
    struct rollout_plan *plan, const struct progress *pr);
/*
 * Stop the app's dynos matching target. NULL: all of them, until a
 * start or a deploy (the router then shows the 503 page); a target:
 * those dynos restart, as on Heroku. Returns how many.
 */
int rollout_stop(struct rollout_env *env, struct sv_app *a,
    const char *target);
/* Stop everything of a destroyed app and remove its route. */
void rollout_destroy(struct rollout_env *env, struct sv_app *a);

#endif
