/*
 * dyno.h - what a dyno is, shared by berthd (formation dynos) and
 * `berth run` (one-off dynos): its working directory (an ephemeral
 * writable copy of the slug: writes never reach the slug), its
 * environment (the runtime contract of DESIGN.md) and how it is started
 * (its own session and process group, .profile.d scripts sourced, the
 * Procfile command run by bash, as on Heroku).
 */
#ifndef BERTH_DYNO_H
#define BERTH_DYNO_H

#include <sys/types.h>

#include "ledger.h"
#include "procfile.h"
#include "root.h"

/*
 * A dyno's working directory. With overlayfs (measured: O(1) in the slug
 * size) path is an overlay of the read-only slug and a fresh upper dir,
 * mounted in the dyno's own mount namespace when it starts, so it goes
 * away with the dyno; without overlayfs path is a copy of the slug.
 * Either way writes never reach the slug.
 */
struct dyno_dir {
	char *path;		/* the dyno's cwd and HOME */
	char *base;		/* removed by dyno_dir_remove() */
	char *mount_opts;	/* overlay options; NULL when a copy */
};

struct dyno_spec {
	const char *app;
	const char *type;	/* "web", "run" */
	int index;		/* web.1 */
	int port;		/* 0 = no PORT */
	const char *command;	/* the Procfile command (run by bash -c) */
	const struct release *rel;
	const char *commit;	/* the slug's commit, SOURCE_VERSION */
	const struct dyno_dir *dir;
	/* BERTH_DYNO_ID: marks every process of this dyno, so berthd can
	 * tell what outlived it; NULL = none */
	const char *token;
};

/*
 * Prepare a working directory for a dyno of the slug under
 * ROOT/apps/APP/dynos/NAME-xxxx/. -1 with berth_error() when the slug is
 * gone or the disk is full.
 */
int dyno_dir_prepare(const struct berth_root *r, const char *app,
    const char *slug_id, const char *name, struct dyno_dir *out);
/* The same over any read-only tree: lower, under parent/NAME-xxxx. */
int dyno_dir_prepare_from(const struct berth_root *r, const char *lower,
    const char *parent, const char *name, struct dyno_dir *out);
void dyno_dir_remove(struct dyno_dir *dd);
/* The BERTH_DYNO_ID of a process into id[32] ("" when it has none). */
void dyno_proc_token(pid_t pid, char id[32]);
/* SIGKILL every process whose environment has BERTH_DYNO_ID=token. */
int dyno_kill_token(const char *token);
/*
 * In the dyno's process, after fork and before exec: enter a mount
 * namespace of its own and mount the overlay (nothing for a copy).
 * Async-signal-safe. -1 when it fails.
 */
int dyno_dir_enter(const struct dyno_dir *dd);
/* The same as a struct child pre_exec hook (dd is a dyno_dir). */
int dyno_dir_enter_hook(const void *dd);
/* Whether this process can mount overlays (probed once). */
int dyno_overlay_supported(const struct berth_root *r);

/*
 * The dyno's environment: a small base (PATH, LANG, HOME=dir, TERM for
 * one-off dynos), the release's config snapshot, then PORT, DYNO,
 * SOURCE_VERSION, BERTH_APP, BERTH_RELEASE (the platform's names win
 * over config vars of the same name).
 */
void dyno_env(const struct dyno_spec *d, struct strvec *env);
/* argv that sources the .profile.d scripts and then runs the command. */
void dyno_argv(const struct dyno_spec *d, struct strvec *argv);
/*
 * Start the dyno (through start_command) in a new session, so it leads
 * its own process group, or with !new_session in ours (a foreground
 * job); stdin from /dev/null (in_fd < 0) or in_fd, stdout and stderr to
 * out_fd (or inherited when out_fd < 0). Returns its pid once bash has
 * exec'd, or -1 with berth_error() when it could not be started (its
 * directory could not be entered...); that child is already reaped.
 */
pid_t dyno_spawn(const struct dyno_spec *d, int in_fd, int out_fd,
    int new_session);

#endif
