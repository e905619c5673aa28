/*
 * review.h - review apps: one app of stage review per pushed branch of a
 * pipeline with review apps enabled, on a predictable URL. Created on the
 * branch's first push with app.json env (environments.review over the
 * top level; generator "secret" values made once; required values from
 * the pipeline's review config, which also applies to every key), plus
 * BERTH_BRANCH, BERTH_PARENT_APP and BERTH_APP; built, released and
 * rolled out on every push; scripts.postdeploy runs once after the first
 * successful deploy and scripts.pr-predestroy before destruction. Review
 * apps never see staging or production config.
 */
#ifndef BERTH_REVIEW_H
#define BERTH_REVIEW_H

#include "ledger.h"
#include "repo.h"
#include "root.h"

/*
 * The review app name for branch: "<pipeline>-<branch slug>", lowercase
 * [a-z0-9-], at most 30 characters; a 4-hex suffix from the branch's hash
 * when it had to be cut or the name is taken by another branch's app.
 * Returns NULL with berth_error() when the branch slugs to nothing.
 */
char *review_app_name(struct ledger *db, const char *pipeline,
    const char *branch);
/*
 * Deploy branch at commit to its review app, creating it first if
 * needed; streams to stdout. Takes the pipeline's deploy lock. 0 on
 * success, -1 with berth_error() (the review app is then marked failed,
 * or not created when its config is incomplete).
 */
int review_deploy(struct berth_root *r, git_repository *repo,
    const struct pipeline *p, const char *branch, const char *commit,
    const char *actor);
/* Run pr-predestroy, stop it, remove its route, mark it destroyed. */
int review_destroy(struct berth_root *r, const struct pipeline *p,
    const char *branch, const char *actor);
/*
 * Destroy the review apps of autodestroy pipelines that had no push for
 * their stale period (review_destroy, as "berthd"), each said with
 * say(). The server root is opened here: call it from a thread.
 */
void review_reap_stale(const char *root_dir,
    void (*say)(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2));

/* The setting (ledger) that lets a pipeline's pull requests from forks
 * have review apps (reviewapps:enable --forks): this + name, "1". */
#define REVIEW_FORKS "reviewapps.forks."

#endif
