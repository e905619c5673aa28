/*
 * control-server-int.h - what the parts of berthd's control server
 * share: control-server.c (the socket, the command table, the app
 * operations) and control-deploy.c (the deploy operation, and a push's
 * release waiting for git).
 */
#ifndef BERTH_CONTROL_SERVER_INT_H
#define BERTH_CONTROL_SERVER_INT_H

#include "control-server.h"

#include <jansson.h>

/* One request being served. */
struct request {
	struct control_server *cs;
	json_t *req;
	const char *target;	/* "web", "web.1" or NULL */
	struct ledger *db;	/* its own connection */
	struct app la;		/* the live app it names */
	struct progress pr;	/* to the client */
	int fd;			/* the client's */
	int replied;		/* a staged deploy answered early */
};

json_t *fail_json(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);
json_t *ok_json(void);
/*
 * Load release rel_id of la (0 = its current one) with what an
 * operation needs of it: commit, types, formation, health checks.
 */
int plan_load(const struct berth_root *r, struct ledger *db,
    const struct app *la, int64_t rel_id, struct rollout_plan *plan);

/* The commands of control-deploy.c. */
json_t *cmd_deploy(struct request *rq);
json_t *cmd_await(struct request *rq);
/*
 * la has releases of a push still waiting for git as berthd starts:
 * watch them in a thread of their own (control-deploy.c).
 */
void watch_gates(struct control_server *cs, const struct app *la);

#endif
