/*
 * release.h - the release phase: the Procfile `release:` command, run
 * once per new release (deploy, config change, promotion, rollback,
 * retry) in a one-off dyno of that release (its slug and its config),
 * before any of its dynos start. Its output streams to whoever caused
 * the release and is kept, capped, in logs/release-ID.log (berth
 * releases:output). A non-zero exit or a timeout (berth.ini [release]
 * timeout) fails the release; the current one keeps running.
 *
 * release_phase() and release_script() run dynos: only the local
 * runtime backend (berthd, runtime-local.c) calls them; everyone else
 * goes through runtime.h. release_load(), release_formation() and
 * release_settle() are the ledger side of a release, for any backend.
 */
#ifndef BERTH_RELEASE_H
#define BERTH_RELEASE_H

#include "ledger.h"
#include "procfile.h"
#include "root.h"
#include "run-command.h"

/* Most of a release phase's output that is kept (it all streams). */
#define RELEASE_OUTPUT_MAX (1 << 20)

/* logs/release-ID.log; caller frees. */
char *release_output_path(const struct berth_root *r, int64_t release_id);
/*
 * Run rel's release phase when types has a `release` command (returns 1
 * when it has none, doing nothing). Each output line goes to out. 0 when
 * it succeeded; -1 with berth_error() saying why (with the last lines).
 * How it went (exit status, duration) is recorded into the release on
 * db (the caller's connection), for its event.
 */
int release_phase(const struct berth_root *r, struct ledger *db,
    const char *app, const struct release *rel, const char *commit,
    const struct proctypes *types, line_fn out, void *data);

/*
 * Run a one-off command the same way (a dyno of rel named name, e.g.
 * "postdeploy"), with output to out and, capped, to logpath; timeout in
 * seconds. 0 or -1 with berth_error() saying why, with the last lines.
 */
int release_script(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *cmd,
    const char *name, const char *logpath, int timeout, line_fn out,
    void *data);
/*
 * Run app.json scripts.dokku.WHICH ("predeploy" or "postdeploy") of
 * rel's slug as Dokku does: predeploy before the release phase (a
 * failure fails the release), postdeploy once the release is live. A
 * one-off dyno of rel, like the release phase, output to out and, capped,
 * to logs/release-ID-WHICH.log; changes it makes never reach the slug.
 * 1 when the slug's app.json has no such script; 0 when it succeeded;
 * -1 with berth_error() naming the script, with its last lines.
 */
int release_dokku_script(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *which,
    line_fn out, void *data);
/*
 * Load release rel_id (0 = the app's current one) with its slug's commit
 * and process types.
 */
int release_load(struct ledger *db, int64_t app_id, int64_t rel_id,
    struct release *rel, char **commit, struct proctypes *types);
/*
 * Record how a pending release ended. When it failed and it had changed
 * the app's config vars (a config change or a rollback), put them back
 * to prev_config, the snapshot of the release that keeps running (NULL
 * when there is none).
 */
int release_settle(struct ledger *db, const struct release *rel, int ok,
    const char *prev_config);

/*
 * The formation to run for a release: every process type of the
 * release with its quantity from the ledger, and the default for types
 * without a row: web=1, others 0, or the first type 1 when there is no
 * web type and no row at all. Caller frees with formation_list_free().
 */
int release_formation(struct ledger *db, int64_t app_id,
    const struct proctypes *types, struct formation_item **out,
    size_t *nr);

#endif
