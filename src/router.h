/*
 * router.h - the router: an nginx instance of berthd's own, under
 * ROOT/router/ (nginx.conf, conf.d/APP.conf, logs/, temp dirs, pid),
 * listening on berth.ini [router] port. One server block per app,
 * server_name APP.DOMAIN, proxying to the app's web dyno ports. An
 * unknown host gets a 404 page that names berth, an app with no web
 * dynos a 503 page.
 *
 * With Debian's libnginx-mod-http-lua an app's ports change without a
 * reload (router-lua.h); its server block changes only when it is first
 * routed or removed. Without it, every change rewrites the block. A
 * server block change is written to a temp file, checked with
 * `nginx -t`, renamed into place and applied with a graceful reload.
 * Either way router_set() returns only once nginx serves the change;
 * when anything fails, the previous configuration stays in place and
 * keeps serving. Only berthd calls these functions, one at a time.
 */
#ifndef BERTH_ROUTER_H
#define BERTH_ROUTER_H

#include <stddef.h>

#include "root.h"

struct router;

/*
 * Write ROOT/router/nginx.conf and start nginx, or adopt the one already
 * running from router/nginx.pid (after a berthd restart). Returns 0 with
 * *out set; 1 with *out NULL and berth_error() saying so when nginx is
 * not installed (apps are then reachable on their dyno ports); -1 on
 * failure (e.g. the port is taken: the message names the port and the
 * berth.ini key).
 */
int router_start(const struct berth_root *r, struct router **out);
/*
 * Route APP.DOMAIN to 127.0.0.1:ports[i]. nports 0 routes it to a 503
 * page ("APP has no web dynos running") that names berth.
 */
int router_set(struct router *rt, const char *app, const int *ports,
    size_t nports);
/*
 * Wait until nothing sends requests to app's old ports any more (at
 * most timeout_ms; -1 when something still does): with Lua, until the
 * requests in flight to ports have finished; without, until the
 * workers an earlier reload retired have finished theirs and exited.
 * Needs no lock: it only reads.
 */
int router_drain(struct router *rt, const char *app, const int *ports,
    size_t n, int timeout_ms);
/*
 * Whether nginx runs. When it does not (killed), router_revive() starts
 * it again with every route router_set() gave it: 0 once it serves.
 */
int router_running(struct router *rt);
int router_revive(struct router *rt);
/* "lua" (no reloads for port changes) or "reload". */
const char *router_mode(const struct router *rt);
/* How many configurations nginx has loaded: reloads + starts. */
long router_generation(const struct router *rt);
/* nginx's master, 0 when none runs (router_revive() starts one). */
pid_t router_master(const struct router *rt);
/* Stop routing APP.DOMAIN (unknown host again). */
int router_remove(struct router *rt, const char *app);
/* Graceful quit of nginx (then SIGTERM, SIGKILL), and free rt. */
void router_stop(struct router *rt);
/* Free rt leaving nginx running (berthd exiting for a restart). */
void router_free(struct router *rt);
/* "http://APP.DOMAIN:PORT/" (":80" left out); caller frees. */
char *router_url(const struct berth_config *cfg, const char *app);

#endif
