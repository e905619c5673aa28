/*
 * runtime-local.c - the local runtime backend (berth.ini [runtime]
 * backend = local): berthd supervises the dynos of every app on this
 * server behind its own nginx, and is asked over its control socket;
 * when it is not running, a deploy runs its release phase here.
 */
#include "runtime.h"
#include "control.h"
#include "ledger.h"
#include "release.h"

#include <stdlib.h>
#include <string.h>

/* One request; returns control_call()'s result. */
static int
call(const struct berth_root *r, json_t *req, line_fn progress, void *data,
    json_t **reply)
{
	int rc = control_call(r, req, progress, data, reply);

	json_decref(req);
	return rc;
}

/*
 * berthd is not running: run the release phase here, and record the
 * release as succeeded (berthd starts it when it comes up) or failed.
 */
static int
deploy_offline(const struct berth_root *r, const char *app,
    int64_t release_id, line_fn progress, void *data)
{
	struct release rel, prev;
	struct proctypes types;
	char *commit = NULL, *offline = xstrdup(berth_last_error());
	int had_prev, rc;

	if (release_load(r->db, 0, release_id, &rel, &commit, &types) < 0) {
		free(offline);
		return -1;
	}
	memset(&prev, 0, sizeof(prev));
	had_prev = ledger_release_current(r->db, rel.app_id, &prev) == 0;
	if (proctypes_get(&types, "release") != NULL && progress != NULL) {
		char *head = xasprintf("-----> Release phase: %s",
		    proctypes_get(&types, "release"));

		progress(head, data);
		free(head);
	}
	rc = release_phase(r, app, &rel, commit, &types, progress, data);
	if (rc < 0) {
		char *why = xstrdup(berth_last_error());

		release_settle(r->db, &rel, 0, had_prev ? prev.config : NULL);
		berth_error("%s", why);
		free(why);
	} else if (release_settle(r->db, &rel, 1, NULL) < 0)
		rc = -1;
	else {
		berth_error("%s", offline);
		rc = 1;
	}
	free(offline);
	free(commit);
	proctypes_clear(&types);
	release_clear(&rel);
	if (had_prev)
		release_clear(&prev);
	return rc;
}

static int
local_deploy(const struct berth_root *r, const char *app,
    int64_t release_id, line_fn progress, void *data)
{
	int rc = call(r, json_pack("{s:s, s:s, s:I}", "cmd", "deploy", "app",
	    app, "release_id", (json_int_t)release_id), progress, data,
	    NULL);

	if (rc == 1)
		rc = deploy_offline(r, app, release_id, progress, data);
	return rc;
}

static int
local_scale(const struct berth_root *r, const char *app,
    line_fn progress, void *data)
{
	return call(r, json_pack("{s:s, s:s}", "cmd", "scale", "app", app),
	    progress, data, NULL);
}

static int
local_restart(const struct berth_root *r, const char *app,
    const char *target, line_fn progress, void *data)
{
	return call(r, json_pack("{s:s, s:s, s:o}", "cmd", "restart", "app",
	    app, "target", target ? json_string(target) : json_null()),
	    progress, data, NULL);
}

static int
local_stop(const struct berth_root *r, const char *app,
    const char *target)
{
	return call(r, json_pack("{s:s, s:s, s:o}", "cmd", "stop", "app", app,
	    "target", target ? json_string(target) : json_null()), NULL,
	    NULL, NULL);
}

static int
local_start(const struct berth_root *r, const char *app)
{
	return call(r, json_pack("{s:s, s:s}", "cmd", "start", "app", app),
	    NULL, NULL, NULL);
}

static int
local_destroy(const struct berth_root *r, const char *app)
{
	return call(r, json_pack("{s:s, s:s}", "cmd", "destroy", "app", app),
	    NULL, NULL, NULL);
}

static int
local_ps(const struct berth_root *r, const char *app, json_t **out)
{
	json_t *reply = NULL;
	int rc = call(r, json_pack("{s:s, s:s}", "cmd", "ps", "app", app),
	    NULL, NULL, &reply);

	if (rc == 0) {
		*out = json_incref(json_object_get(reply, "dynos"));
		json_decref(reply);
	}
	return rc;
}

static int
local_status(const struct berth_root *r, json_t **out)
{
	return call(r, json_pack("{s:s}", "cmd", "status"), NULL, NULL, out);
}

static int
local_shutdown(const struct berth_root *r)
{
	return call(r, json_pack("{s:s}", "cmd", "shutdown"), NULL, NULL,
	    NULL);
}

static int
local_settle_stale(const struct berth_root *r, int64_t app_id)
{
	json_t *st = NULL;

	if (local_status(r, &st) == 0) {
		json_decref(st);
		return 0;
	}
	return ledger_release_fail_stale(r->db, app_id) < 0 ? -1 : 0;
}

const struct runtime_backend runtime_local = {
	.name = "local",
	.deploy = local_deploy,
	.scale = local_scale,
	.restart = local_restart,
	.stop = local_stop,
	.start = local_start,
	.destroy = local_destroy,
	.ps = local_ps,
	.status = local_status,
	.settle_stale = local_settle_stale,
	.shutdown = local_shutdown,
};
