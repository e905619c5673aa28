/*
 * api.h - berthd's JSON API under /api/ (doc/api.md), for scripts and
 * the dashboard to come: `Authorization: Bearer TOKEN` (berth
 * tokens:create), acting with the token's user's roles.
 *
 * Every call but the event stream runs one of berth's own commands as
 * that user (BERTH_AS_USER), as `ssh HOST COMMAND --json` would: the
 * same checks of the same roles, the same JSON, the same release path.
 * GET /api/events streams the events the user may see (Server-Sent
 * Events), live.
 */
#ifndef BERTH_API_H
#define BERTH_API_H

#include "http.h"

/*
 * Run `berth ARGS...` (args->v[0] the command) on the server's root as
 * berth user user; its stdout into out. Returns its exit status (0,
 * CMD_EXIT_REFUSED, 1...) or -1 when it could not run; unless 0, *err
 * is its one-line error (caller frees).
 */
int api_run_berth(struct http_server *s, const char *user,
    const struct strvec *args, struct strbuf *out, char **err);
/*
 * The same with the actor releases record (BERTH_USER) given apart;
 * user NULL runs it as berthd itself, a local user (GitHub's webhook,
 * whose signature is its authority).
 */
int api_run_berth_as(struct http_server *s, const char *user,
    const char *actor, const struct strvec *args, struct strbuf *out,
    char **err);

/* GET /health: {"status": "ok"}, for monitors; no token. */
void api_health(struct http_server *s, const struct http_request *req,
    struct http_response *res);
/* Everything under /api/ (doc/api.md). */
void api_serve(struct http_server *s, const struct http_request *req,
    struct http_response *res);

#endif
