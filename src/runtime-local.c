/*
 * runtime-local.c - the local runtime backend (berth.ini [runtime]
 * backend = local): berthd supervises the dynos of every app on this
 * server behind its own nginx, and is asked over its control socket;
 * when it is not running, a deploy runs its release phase here.
 */
#include "runtime.h"
#include "applog.h"
#include "control.h"
#include "ledger.h"
#include "release.h"
#include "router.h"
#include "slug.h"

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

static char *
local_url(const struct berth_root *r, const char *app)
{
	return router_url(&r->cfg, app);
}

/* The app's log file, ROOT/apps/APP/log (applog.c). */
static int
local_logs(const struct berth_root *r, const char *app,
    const struct runtime_log_query *q, FILE *out,
    volatile sig_atomic_t *stop)
{
	struct applog_filter f = {
		.lines = q->lines,
		.ps = q->ps,
		.source = q->source,
	};

	if (stop != NULL)
		return applog_follow(r, app, &f, out, stop);
	return applog_read(r, app, &f, out);
}

/* Slugs are sealed directories, ROOT/slugs/ID, that dynos overlay. */
static char *
slug_dir(const struct berth_root *r, const char *slug_id)
{
	return root_pathf(r, "slugs/%s", slug_id);
}

static int
local_slug_put(const struct berth_root *r, const char *tree,
    const char *slug_id)
{
	char *dir = slug_dir(r, slug_id);
	int rc = slug_seal(tree, dir);

	free(dir);
	return rc;
}

static int
local_slug_exists(const struct berth_root *r, const char *slug_id)
{
	char *dir = slug_dir(r, slug_id);
	int ok = is_dir(dir);

	free(dir);
	return ok;
}

static int
local_slug_open(const struct berth_root *r, const char *slug_id,
    char **dir)
{
	*dir = slug_dir(r, slug_id);
	if (is_dir(*dir))
		return 0;
	free(*dir);
	*dir = NULL;
	return berth_error("slug %s was removed", slug_id);
}

static void
local_slug_close(const struct berth_root *r, char *dir)
{
	(void)r;
	free(dir);
}

static int
local_slug_remove(const struct berth_root *r, const char *slug_id)
{
	char *dir = slug_dir(r, slug_id);
	int rc = rm_rf(dir);

	free(dir);
	return rc;
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
	.url = local_url,
	.logs = local_logs,
	.slug_put = local_slug_put,
	.slug_exists = local_slug_exists,
	.slug_open = local_slug_open,
	.slug_close = local_slug_close,
	.slug_remove = local_slug_remove,
};
