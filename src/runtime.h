/*
 * runtime.h - the runtime: the one way the CLI, the hook, builds, CI
 * and review apps reach anything that runs app code or reads its
 * runtime state. Callers include this header only; what runs where
 * (dyno directories and pids, nginx, ROOT/apps, berthd) belongs to the
 * backend.
 *
 * A backend is a struct runtime_backend (below); berth.ini [runtime]
 * backend names the one a server uses (only "local" exists: berthd's
 * supervisor, its dynos and its nginx, runtime-local.c). The runtime_*
 * functions call the configured backend's operations.
 *
 * "Backend unavailable" means the backend's control plane cannot be
 * reached (local: berthd is not running). It is not an error the user
 * caused, and each call says what it does then:
 *  - deploy still runs the release phase (here) and records the release
 *    as succeeded, returning 1; the backend starts it when it comes up;
 *  - scale, restart, stop, start, destroy, ps and status return 1 with
 *    berth_error() saying so ("berthd is not running; start it with:
 *    berthd"); the ledger already holds what they asked for.
 * Every other failure is -1 with berth_error() saying why in one line
 * (more lines only for a release phase's or a dyno's last output).
 */
#ifndef BERTH_RUNTIME_H
#define BERTH_RUNTIME_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#include "ledger.h"
#include "root.h"
#include "run-command.h"

struct runtime_backend;

/* A CI node (runtime_node_open()); each backend's node begins with it. */
struct runtime_node {
	const struct runtime_backend *backend;	/* that opened it */
};

/* Which lines of an app's log (berth logs). */
struct runtime_log_query {
	int lines;		/* the last N matching lines; 0 = 100 */
	const char *ps;		/* "web.1", or "web" (every web dyno) */
	const char *source;	/* "app" or "berth", NULL = both */
};

/*
 * What a backend provides. Each operation promises what the runtime_*
 * function of the same name below says; all are required.
 */
struct runtime_backend {
	const char *name;		/* berth.ini [runtime] backend */
	int (*deploy)(const struct berth_root *r, const char *app,
	    int64_t release_id, line_fn progress, void *data);
	int (*wait_release)(const struct berth_root *r, const char *app,
	    int64_t release_id, line_fn progress, void *data);
	int (*scale)(const struct berth_root *r, const char *app,
	    line_fn progress, void *data);
	int (*restart)(const struct berth_root *r, const char *app,
	    const char *target, line_fn progress, void *data);
	int (*stop)(const struct berth_root *r, const char *app,
	    const char *target);
	int (*start)(const struct berth_root *r, const char *app);
	int (*destroy)(const struct berth_root *r, const char *app);
	int (*ps)(const struct berth_root *r, const char *app, json_t **out);
	int (*status)(const struct berth_root *r, json_t **out);
	int (*settle_stale)(const struct berth_root *r, const struct app *app);
	int (*shutdown)(const struct berth_root *r);
	char *(*url)(const struct berth_root *r, const char *app);
	int (*logs)(const struct berth_root *r, const char *app,
	    const struct runtime_log_query *q, FILE *out,
	    volatile sig_atomic_t *stop);
	int (*slug_put)(const struct berth_root *r, const char *tree,
	    const char *slug_id);
	int (*slug_exists)(const struct berth_root *r, const char *slug_id);
	int (*slug_open)(const struct berth_root *r, const char *slug_id,
	    char **dir);
	void (*slug_close)(const struct berth_root *r, char *dir);
	int (*slug_remove)(const struct berth_root *r, const char *slug_id);
	int (*run)(const struct berth_root *r, const char *app,
	    const struct release *rel, const char *commit,
	    const char *command);
	int (*script)(const struct berth_root *r, const char *app,
	    const struct release *rel, const char *commit, const char *cmd,
	    const char *name, const char *logpath, line_fn out, void *data);
	int (*node_open)(const struct berth_root *r, int64_t pipeline_id,
	    const char *tree, const char *parent, const char *name,
	    struct runtime_node **out);
	const char *(*node_dir)(const struct runtime_node *n);
	const char *(*node_share)(struct runtime_node *n, const char *src,
	    const char *name);
	int (*node_run)(struct runtime_node *n, struct child *c);
	void (*node_close)(struct runtime_node *n);
};

/* The backends berth has; config.c accepts exactly their names. */
extern const struct runtime_backend runtime_local;

/*
 * Roll release (a pending release of app) out with zero downtime: run
 * its release phase, start its dynos, wait until web dynos accept
 * connections, switch the router, stop the old dynos. The release ends
 * succeeded or failed in the ledger, settled by the backend
 * (release_settle()) even when the caller goes away. Progress goes to
 * progress(). Returns 0 when live, -1 when the release phase or the
 * rollout failed (berth_error() says why, with the last lines), 1 when
 * the backend is unavailable: then the release phase ran here, the
 * release is marked succeeded and the backend starts it when it comes
 * up. A release with a gate (gate.h) is not switched to before its
 * gate opens: 2 once it is up and waits for git; it stays pending
 * until the backend settles it (backend unavailable: 1, and it waits
 * for gate_settle_app()). Only release_deploy() (deploy.h) calls this.
 */
int runtime_deploy(const struct berth_root *r, const char *app,
    int64_t release_id, line_fn progress, void *data);
/*
 * Wait until the staged release release_id of app (runtime_deploy()
 * returned 2) has gone live or failed, its progress since to
 * progress(): 0 live, -1 failed (berth_error() says why), 1 when the
 * backend is unavailable.
 */
int runtime_wait_release(const struct berth_root *r, const char *app,
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
/*
 * The backend's pid, uptime, apps and dynos, and "router": whether apps
 * are behind a router; 1 when unavailable.
 */
int runtime_status(const struct berth_root *r, json_t **out);
/*
 * Under the app's deploy lock, before a new release: when the backend
 * is unavailable, nothing can still be rolling a pending release of the
 * app out, so pending releases left by a killed client are marked
 * failed, and those of a push settled by their gate (gate.h). (With it
 * available, it finishes them itself.)
 */
int runtime_settle_stale(const struct berth_root *r, const struct app *app);
/* Stop the backend, its dynos and its router. */
int runtime_shutdown(const struct berth_root *r);

/* Where the app answers: "http://APP.DOMAIN:PORT/"; caller frees. */
char *runtime_url(const struct berth_root *r, const char *app);
/*
 * Print the app's last q->lines matching log lines to out, oldest first
 * (nothing for an app with no log yet), in the format of DESIGN.md
 * ("2026-11-26T13:23:22.123456+00:00 app[web.1]: text"). With stop not
 * NULL, then print matching lines as they come until *stop becomes
 * non-zero (set from a signal handler). Returns 0; -1 with errno EPIPE
 * when out's reader has gone, or with berth_error().
 */
int runtime_logs(const struct berth_root *r, const char *app,
    const struct runtime_log_query *q, FILE *out,
    volatile sig_atomic_t *stop);

/*
 * Slugs. The backend keeps them where its dynos can run them; a slug is
 * never changed once put. Put the built tree (on this machine; it is
 * consumed) as slug slug_id; 0 or -1 with berth_error().
 */
int runtime_slug_put(const struct berth_root *r, const char *tree,
    const char *slug_id);
/* 1 when the slug is still stored, 0 when it was removed. */
int runtime_slug_exists(const struct berth_root *r, const char *slug_id);
/*
 * A read-only directory on this machine holding the slug's tree, into
 * *dir, until runtime_slug_close(); -1 with berth_error() when it is
 * gone.
 */
int runtime_slug_open(const struct berth_root *r, const char *slug_id,
    char **dir);
void runtime_slug_close(const struct berth_root *r, char *dir);
/* Remove a slug no release uses (a build whose record failed). */
int runtime_slug_remove(const struct berth_root *r, const char *slug_id);

/*
 * A one-off dyno (berth run): command, run by the dyno's shell, in a
 * fresh copy of rel's slug (commit: its SOURCE_VERSION) with rel's
 * config, DYNO=run.N and this process's stdin, stdout and stderr; the
 * terminal's Ctrl-C goes to the dyno, and this waits for it. Returns
 * its exit status (128+N when signal N ended it), -1 with berth_error()
 * when it could not start. Needs no control plane.
 */
int runtime_run(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *command);
/*
 * An app script of rel (app.json postdeploy, pr-predestroy) run like
 * the release phase: a one-off dyno named name, output to out line by
 * line and, capped, to logpath, bounded by [release] timeout. 0, or -1
 * with berth_error() saying why with the script's last lines.
 */
int runtime_script(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *cmd,
    const char *name, const char *logpath, line_fn out, void *data);

/*
 * CI nodes: a throwaway writable view of tree (a test build on this
 * machine; writes never reach it), named name, with scratch space under
 * parent, running pipeline_id's CI code (sandboxed as sandbox.h says).
 * -1 with berth_error() when it cannot be made (full disk, no sandbox).
 */
int runtime_node_open(const struct berth_root *r, int64_t pipeline_id,
    const char *tree, const char *parent, const char *name,
    struct runtime_node **out);
/* The node's app directory as its commands see it (cwd and HOME). */
const char *runtime_node_dir(const struct runtime_node *n);
/*
 * Let the node's commands read the directory src (a buildpack, an
 * ENV_DIR) from now on; where they see it (/tmp/NAME in a sandbox).
 */
const char *runtime_node_share(struct runtime_node *n, const char *src,
    const char *name);
/*
 * Run c (its args, env, on_line, timeout_ms; c->dir is set here) in the
 * node, adding BERTH_DYNO_ID to its environment. Whatever it leaves
 * running (a daemon a test started) is killed when it ends. Returns
 * run_command()'s result; c holds the exit code or timed_out.
 */
int runtime_node_run(struct runtime_node *n, struct child *c);
void runtime_node_close(struct runtime_node *n);

#endif
