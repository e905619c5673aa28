/*
 * root.h - the server root (BERTH_ROOT, default /var/lib/berth): where
 * everything berth owns lives. Opening a root loads berth.ini and the
 * ledger; every path berth uses is derived from it here.
 */
#ifndef BERTH_ROOT_H
#define BERTH_ROOT_H

#include "config.h"
#include "ledger.h"

#define BERTH_DEFAULT_ROOT "/var/lib/berth"

struct berth_root {
	char *dir;			/* absolute */
	struct berth_config cfg;
	struct ledger *db;
};

/* $BERTH_ROOT or the default. */
const char *root_default(void);
/*
 * Create the layout under dir (idempotent), write a documented berth.ini
 * when none exists (with domain when not NULL), create the ledger.
 */
int root_init(const char *dir, const char *domain);
/*
 * Open an initialized root: berth.ini (warnings to stderr) and the
 * ledger. Fails with "no berth server root at DIR; run: berth init
 * --root DIR" when DIR was never initialized.
 */
int root_open(struct berth_root *r, const char *dir);
void root_close(struct berth_root *r);
/* DIR/rel; caller frees. */
char *root_path(const struct berth_root *r, const char *rel);
char *root_pathf(const struct berth_root *r, const char *fmt, ...)
    BERTH_ATTR_PRINTF(2, 3);
/* Path of a pipeline's bare repo: DIR/repos/NAME.git. */
char *root_repo_path(const struct berth_root *r, const char *pipeline);
/* Who is acting: $BERTH_USER, else user@host. Caller frees. */
char *actor_name(void);

/*
 * Take the pipeline's deploy lock (run/locks/PIPELINE.lock, flock), and
 * wait for it when another deploy holds it: waiting() is called once
 * with what that holder wrote ("deploy of 3f2a9c1"; "other deploy" when
 * it wrote nothing yet), to follow "the". `what` is written
 * for the next waiter. Returns the lock fd; closing it (or exiting)
 * releases the lock.
 */
int deploy_lock(const struct berth_root *r, const char *pipeline,
    const char *what, void (*waiting)(const char *holder, void *data),
    void *data);
void deploy_unlock(int fd);
/* The lock when nobody holds it; -1 when someone does (or on error). */
int deploy_trylock(const struct berth_root *r, const char *pipeline);

#endif
