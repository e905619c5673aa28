/*
 * runtime-local.c - the runtime interface over berthd's control socket.
 */
#include "runtime.h"
#include "control.h"
#include "ledger.h"

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

int
runtime_deploy(const struct berth_root *r, const char *app,
    int64_t release_id, line_fn progress, void *data)
{
	int rc = call(r, json_pack("{s:s, s:s, s:I}", "cmd", "deploy", "app",
	    app, "release_id", (json_int_t)release_id), progress, data,
	    NULL);

	if (rc == 1) {
		char *keep = xstrdup(berth_last_error());

		if (ledger_release_finish(r->db, release_id, "succeeded") < 0)
			rc = -1;
		else
			berth_error("%s", keep);
		free(keep);
	}
	return rc;
}

int
runtime_scale(const struct berth_root *r, const char *app,
    line_fn progress, void *data)
{
	return call(r, json_pack("{s:s, s:s}", "cmd", "scale", "app", app),
	    progress, data, NULL);
}

int
runtime_restart(const struct berth_root *r, const char *app,
    const char *target, line_fn progress, void *data)
{
	return call(r, json_pack("{s:s, s:s, s:o}", "cmd", "restart", "app",
	    app, "target", target ? json_string(target) : json_null()),
	    progress, data, NULL);
}

int
runtime_stop(const struct berth_root *r, const char *app,
    const char *target)
{
	return call(r, json_pack("{s:s, s:s, s:o}", "cmd", "stop", "app", app,
	    "target", target ? json_string(target) : json_null()), NULL,
	    NULL, NULL);
}

int
runtime_start(const struct berth_root *r, const char *app)
{
	return call(r, json_pack("{s:s, s:s}", "cmd", "start", "app", app),
	    NULL, NULL, NULL);
}

int
runtime_destroy(const struct berth_root *r, const char *app)
{
	return call(r, json_pack("{s:s, s:s}", "cmd", "destroy", "app", app),
	    NULL, NULL, NULL);
}

int
runtime_ps(const struct berth_root *r, const char *app, json_t **out)
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

int
runtime_status(const struct berth_root *r, json_t **out)
{
	return call(r, json_pack("{s:s}", "cmd", "status"), NULL, NULL, out);
}

int
runtime_shutdown(const struct berth_root *r)
{
	return call(r, json_pack("{s:s}", "cmd", "shutdown"), NULL, NULL,
	    NULL);
}
