/*
 * deploy.h - the one release path: every new release of an app (a
 * push, a review app deploy, a config change, a promotion, a rollback,
 * a retry) is created, released and settled by release_deploy(), and
 * by nothing else. Callers turn its outcome into their own words.
 */
#ifndef BERTH_DEPLOY_H
#define BERTH_DEPLOY_H

#include "ledger.h"
#include "root.h"
#include "run-command.h"

/* Why a release is made; the ledger's releases.kind. */
enum release_kind {
	RELEASE_DEPLOY,		/* a build of a push */
	RELEASE_CONFIG,		/* config vars changed */
	RELEASE_PROMOTE,	/* an upstream app's slug */
	RELEASE_ROLLBACK,	/* slug and config of an earlier release */
	RELEASE_RETRY,		/* the current release again */
};

/* What to release. Fill it with designated initialisers. */
struct release_order {
	const struct app *app;
	enum release_kind kind;
	/* deploy, promote: the slug and the commit it was built from */
	const char *slug_id;
	const char *commit;
	/*
	 * rollback, retry: the release copied (its slug and commit; for a
	 * rollback its config snapshot too, which becomes the app's config
	 * vars; a retry keeps the kind of the release it retries, so a
	 * retried rollback never counts as a push)
	 */
	const struct release *from;
	/* config: the change, made in the transaction of the release */
	const struct kvlist *set;
	const char *const *unset;
	size_t nunset;
	const char *actor;
	const char *description;	/* config: made by the ledger */
	/*
	 * deploy from a push: its gate (gate_format()). The release then
	 * goes live only once git has moved the pushed ref, and stays
	 * pending until it has or has refused (RELEASE_STAGED).
	 */
	const char *gate;
	/* Called once the pending release is recorded (may be NULL). */
	void (*created)(const struct release_order *o,
	    const struct release *rel);
	line_fn progress;		/* the release phase and the rollout */
	void *data;			/* for progress */
};

enum release_outcome {
	RELEASE_LIVE,		/* rolled out; the release succeeded */
	/*
	 * The runtime backend is unavailable (berthd is not running): the
	 * release phase ran here and the release is recorded succeeded
	 * (gated: pending until git moved its ref); the backend starts it
	 * when it comes up. why says so.
	 */
	RELEASE_RECORDED,
	/*
	 * A gated release is up (or, backend unavailable, its release
	 * phase ran) and waits for git to move its ref: it goes live then,
	 * or fails if git refuses the push.
	 */
	RELEASE_STAGED,
	/*
	 * The release phase or the rollout failed: the release is failed,
	 * the app's config is what it was, the current release keeps
	 * running. why says what failed, with the last lines.
	 */
	RELEASE_FAILED,
	/* No release could be recorded (why); nothing changed. */
	RELEASE_NOT_CREATED,
	/* A config change to an app with no release yet: done, no release. */
	RELEASE_UNNEEDED,
};

/* How it went; version and id are 0 when no release was recorded. */
struct release_done {
	enum release_outcome outcome;
	int version;
	int64_t id;
	char *why;		/* NULL when live or unneeded */
};

/*
 * Create the pending release o orders, hand it to the runtime (release
 * phase, rollout) and return how it ended; done is filled (free with
 * release_done_clear()) and berth_error() holds why when there is one.
 * The release never stays pending: whoever survives settles it (a
 * gated one by its gate).
 */
enum release_outcome release_deploy(struct berth_root *r,
    const struct release_order *o, struct release_done *done);
void release_done_clear(struct release_done *done);

#endif
