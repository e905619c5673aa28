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

/* The routes: /health and /api/. data: unused (NULL). */
extern const struct http_route api_routes[];

#endif
