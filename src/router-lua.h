/*
 * router-lua.h - the router's upstreams without reloads: with Debian's
 * libnginx-mod-http-lua, every app's server block proxies to one
 * upstream whose balancer (Lua) picks a port of that app from a shared
 * dict, and berthd changes an app's ports with one request to a control
 * socket of that nginx (ROOT/router/run/ctl.sock, in a 0700 dir): no
 * reload, no idle keep-alive connection of any app closed. One server
 * block serves every app (server_name APP.DOMAIN for any APP), so an
 * app created or destroyed needs no reload either. The same
 * dict counts each port's requests in flight, so a drain waits for one
 * app's old dynos only. Only router-nginx.c includes this.
 *
 * The dict lives as long as the nginx master: it survives reloads, and
 * is empty after a start, so router-nginx.c pushes every route again
 * after it starts nginx.
 */
#ifndef BERTH_ROUTER_LUA_H
#define BERTH_ROUTER_LUA_H

#include <stddef.h>

#include "util.h"

/* The control socket, relative to the router dir (nginx's cwd). */
#define LUA_CTL_DIR	"run"
#define LUA_CTL_SOCK	"run/ctl.sock"
/* The Lua berthd writes next to nginx.conf. */
#define LUA_FILE	"berth_router.lua"

/*
 * Whether this nginx can run the Lua upstream: its modules dir (from
 * `nginx -V` output, --modules-path=) has the ndk and lua modules and
 * lua-resty-core's ngx.balancer is installed. Fills load_lines with the
 * load_module lines when it can.
 */
int lua_detect(const char *nginx_v, struct strbuf *load_lines);
/* Write LUA_FILE into dir (the router dir): 1, or 0 when it was so. */
int lua_write_module(const char *dir);
/* The http{} lines: shared dicts, init, the upstream, the control server. */
const char *lua_http_conf(void);
/*
 * The one server block of every app, up to its location's proxy_pass:
 * server_name APP.DOMAIN for any APP, which the Lua looks up (404 when
 * it has no ports set, 503 when none). The caller adds the proxy
 * settings and the error pages, and closes the blocks.
 */
void lua_server_start(struct strbuf *sb, const char *domain);
/*
 * Set app's ports (none: its 503 page) in nginx at sock (an absolute
 * path). 0 once nginx has them: the next request uses them.
 */
int lua_put(const char *sock, const char *app, const int *ports, size_t n);
/* Forget app's ports. */
int lua_delete(const char *sock, const char *app);
/*
 * How many requests to app are in flight on any of ports; -1 with
 * berth_error() when nginx does not answer.
 */
int lua_inflight(const char *sock, const char *app, const int *ports,
    size_t n);
/* Whether nginx at sock runs berth's Lua (the module loaded). */
int lua_ping(const char *sock);

#endif
