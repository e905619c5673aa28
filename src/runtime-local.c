/*
 * runtime-local.c - the local runtime backend (berth.ini [runtime]
 * backend = local): berthd supervises the dynos of every app on this
 * server behind its own nginx, and is asked over its control socket;
 * when it is not running, a deploy runs its release phase here.
 */
#include "runtime.h"
#include "applog.h"
#include "control.h"
#include "dyno.h"
#include "gate.h"
#include "ledger.h"
#include "release.h"
#include "router.h"
#include "sandbox.h"
#include "slug.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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
 * berthd is not running: run app.json scripts.dokku.predeploy and the
 * release phase here, and record the release as succeeded (berthd
 * starts it when it comes up; its postdeploy is not run) or failed.
 * A gated release stays pending for its gate: git has not moved its
 * ref yet. Interrupted (Ctrl-C, a reader gone: `| head -1`), it kills
 * what it runs and records the release failed before it ends.
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
	run_command_guard(1);
	rc = release_dokku_script(r, app, &rel, commit, "predeploy", progress,
	    data);
	if (rc >= 0 && proctypes_get(&types, "release") != NULL &&
	    progress != NULL) {
		char *head = xasprintf("-----> Release phase: %s",
		    proctypes_get(&types, "release"));

		progress(head, data);
		free(head);
	}
	if (rc >= 0)
		rc = release_phase(r, r->db, app, &rel, commit, &types,
		    progress, data);
	if (rc < 0) {
		char *why = xstrdup(berth_last_error());

		release_settle(r->db, &rel, 0, had_prev ? prev.config : NULL);
		berth_error("%s", why);
		free(why);
	} else if (rel.gate != NULL) {
		berth_error("%s", offline);
		rc = 1;
	} else if (release_settle(r->db, &rel, 1, NULL) < 0)
		rc = -1;
	else {
		berth_error("%s", offline);
		rc = 1;
	}
	run_command_guard(0);
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
	json_t *reply = NULL;
	int rc = call(r, json_pack("{s:s, s:s, s:I}", "cmd", "deploy", "app",
	    app, "release_id", (json_int_t)release_id), progress, data,
	    &reply);

	if (rc == 1)
		rc = deploy_offline(r, app, release_id, progress, data);
	else if (rc == 0 && json_is_true(json_object_get(reply, "staged")))
		rc = 2;
	json_decref(reply);
	return rc;
}

/* berthd's reply to "await" carries the progress it kept. */
static int
local_wait_release(const struct berth_root *r, const char *app,
    int64_t release_id, line_fn progress, void *data)
{
	return call(r, json_pack("{s:s, s:s, s:I}", "cmd", "await", "app",
	    app, "release_id", (json_int_t)release_id), progress, data,
	    NULL);
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
local_settle_stale(const struct berth_root *r, const struct app *app)
{
	json_t *st = NULL;

	if (local_status(r, &st) == 0) {
		json_decref(st);
		return 0;
	}
	if (gate_settle_app(r, r->db, app, 0) < 0)
		return -1;
	return ledger_release_fail_stale(r->db, app->id) < 0 ? -1 : 0;
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

/*
 * The exit status of a one-off dyno started as pid: its own, or (in a
 * sandbox, with us its subreaper) when a signal ended it while a
 * process of its sandbox lived on, the status of the last of those.
 */
static int
wait_dyno(pid_t pid, int sandboxed)
{
	int status = 0, first = -1, last = -1;
	pid_t got;

	while ((got = waitpid(sandboxed ? -1 : pid, &status, 0)) > 0 ||
	    errno == EINTR) {
		int code;

		if (got <= 0)
			continue;
		code = WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status);
		if (got == pid)
			first = WIFSIGNALED(status) ? -code : code;
		else
			last = code;
	}
	if (first >= 0)
		return first;
	return last >= 0 ? last : -first;
}

/* A child of this process, not of berthd, so the terminal is attached;
 * it works in ROOT/apps/APP/oneoff/, which berthd leaves alone. */
static int
local_run(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *command)
{
	struct dyno_spec spec;
	struct dyno_dir dir;
	struct sandbox limits = SANDBOX_INIT;
	char name[32];
	int ret = -1;
	pid_t pid;

	memset(&spec, 0, sizeof(spec));
	memset(&dir, 0, sizeof(dir));
	snprintf(name, sizeof(name), "run.%d", (int)(getpid() % 10000));
	if (dyno_dir_prepare(r, app, rel->slug_id, name, &dir) < 0)
		goto out;
	spec.app = app;
	spec.type = "run";
	spec.index = (int)(getpid() % 10000);
	spec.command = command;
	spec.rel = rel;
	spec.commit = commit;
	spec.dir = &dir;
	spec.sandboxed = sandbox_for_app(r, rel->app_id, &spec.uid);
	if (spec.sandboxed < 0)
		goto out;
	sandbox_limit(&limits, r, app, 0);
	spec.cgroup = limits.own;
	/* The terminal's Ctrl-C goes to the dyno; we wait for it. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	/* A sandbox's bubblewrap dies of the Ctrl-C its shell ignores: the
	 * dyno ends with the sandbox's init, which comes to us then. */
	if (spec.sandboxed)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid = dyno_spawn(&spec, 0, -1, 0);
	if (pid < 0)
		goto out;
	ret = wait_dyno(pid, spec.sandboxed);
out:
	sandbox_clear(&limits);
	dyno_dir_remove(&dir);
	return ret;
}

static int
local_script(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *cmd,
    const char *name, const char *logpath, line_fn out, void *data)
{
	return release_script(r, app, rel, commit, cmd, name, logpath,
	    r->cfg.release_timeout, out, data);
}

/* A CI node: an overlay (or a copy) of the test build, like a dyno's. */
struct local_node {
	struct runtime_node base;
	const struct berth_root *root;
	struct dyno_dir dir;
	int sandboxed, uid;
	/* directories shared with its commands, and where they see them */
	char *src[SANDBOX_BINDS], *dest[SANDBOX_BINDS];
	size_t nshared;
};

static int
local_node_open(const struct berth_root *r, int64_t pipeline_id,
    const char *tree, const char *parent, const char *name,
    struct runtime_node **out)
{
	struct local_node *n = xcalloc(1, sizeof(*n));

	n->base.backend = &runtime_local;
	n->root = r;
	n->sandboxed = sandbox_for_ci(r, pipeline_id, &n->uid);
	if (n->sandboxed < 0 ||
	    dyno_dir_prepare_from(r, tree, parent, name, &n->dir) < 0) {
		free(n);
		return -1;
	}
	*out = &n->base;
	return 0;
}

static const char *
local_node_dir(const struct runtime_node *base)
{
	const struct local_node *n = (const struct local_node *)base;

	return sandbox_app_path(n->sandboxed, n->dir.path);
}

static const char *
local_node_share(struct runtime_node *base, const char *src,
    const char *name)
{
	struct local_node *n = (struct local_node *)base;
	size_t i;

	if (!n->sandboxed)
		return src;
	for (i = 0; i < n->nshared; i++)
		if (strcmp(n->src[i], src) == 0)
			return n->dest[i];
	if (n->nshared == SANDBOX_BINDS) {
		n->nshared--;
		free(n->src[n->nshared]);
		free(n->dest[n->nshared]);
	}
	n->src[n->nshared] = xstrdup(src);
	n->dest[n->nshared] = xasprintf("/tmp/%s", name);
	return n->dest[n->nshared++];
}

static int
local_node_run(struct runtime_node *base, struct child *c)
{
	struct local_node *n = (struct local_node *)base;
	char token[20];
	int ret;

	struct sandbox sb = SANDBOX_INIT;
	size_t i;

	random_hex(token, 8);
	strvec_pushf(&c->env, "BERTH_DYNO_ID=%s", token);
	c->dir = n->dir.path;
	c->pre_exec = dyno_dir_enter_hook;
	c->pre_exec_data = &n->dir;
	if (n->sandboxed) {
		sb.uid = n->uid;
		sb.dir = &n->dir;
		for (i = 0; i < n->nshared; i++)
			sandbox_bind(&sb, n->src[i], n->dest[i], 0);
		sandbox_limit(&sb, n->root, "ci", 1);
		sb.die_with_parent = 1;
		if (sandbox_wrap(&sb, c) < 0) {
			sandbox_clear(&sb);
			return -1;
		}
	}
	ret = run_command(c);
	sandbox_clear(&sb);
	/* A daemon a test left behind goes with the node. */
	dyno_kill_token(token);
	return ret;
}

static void
local_node_close(struct runtime_node *base)
{
	struct local_node *n = (struct local_node *)base;
	size_t i;

	for (i = 0; i < n->nshared; i++) {
		free(n->src[i]);
		free(n->dest[i]);
	}
	dyno_dir_remove(&n->dir);
	free(n);
}

const struct runtime_backend runtime_local = {
	.name = "local",
	.deploy = local_deploy,
	.wait_release = local_wait_release,
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
	.run = local_run,
	.script = local_script,
	.node_open = local_node_open,
	.node_dir = local_node_dir,
	.node_share = local_node_share,
	.node_run = local_node_run,
	.node_close = local_node_close,
};
