/*
 * runtime.h - how the CLI and the hook change what runs. The runtime is
 * an interface: today runtime-local.c asks berthd over its control
 * socket; a Kubernetes backend would implement the same calls.
 */
#ifndef BERTH_RUNTIME_H
#define BERTH_RUNTIME_H

#include <jansson.h>

#include "root.h"
#include "run-command.h"

/*
 * Roll release (a pending release of app) out with zero downtime: start
 * its dynos, wait until web dynos accept connections, switch the router,
 * stop the old dynos. The release ends succeeded or failed in the
 * ledger. Progress goes to progress(). Returns 0 when live, -1 when the
 * rollout failed (berth_error() says why, with the dyno's last lines),
 * 1 when berthd is not running: then the release is marked succeeded
 * and berthd starts it when it comes up.
 */
int runtime_deploy(const struct berth_root *r, const char *app,
    int64_t release_id, line_fn progress, void *data);
/* Match running dynos to the ledger's formation (after ps:scale). */
int runtime_scale(const struct berth_root *r, const char *app,
    line_fn progress, void *data);
/* Replace dynos (target: NULL = all, "web", "web.1") without downtime. */
int runtime_restart(const struct berth_root *r, const char *app,
    const char *target, line_fn progress, void *data);
/* Stop dynos (target NULL = the whole app, until ps:start or deploy). */
int runtime_stop(const struct berth_root *r, const char *app,
    const char *target);
int runtime_start(const struct berth_root *r, const char *app);
/* Stop everything of a destroyed app and remove its route. */
int runtime_destroy(const struct berth_root *r, const char *app);
/* The app's dynos as a JSON array (see berth ps --json). */
int runtime_ps(const struct berth_root *r, const char *app, json_t **out);
/* berthd's pid, uptime, apps and dynos; 1 when not running. */
int runtime_status(const struct berth_root *r, json_t **out);
/*
 * Under the app's deploy lock, before a new release: when berthd is not
 * running, nothing can still be rolling a pending release of the app
 * out, so pending releases left by a killed client are marked failed.
 * (With berthd running, its request thread finishes them.)
 */
int runtime_settle_stale(const struct berth_root *r, int64_t app_id);
/* Stop berthd, its dynos and its nginx. */
int runtime_shutdown(const struct berth_root *r);

#endif
