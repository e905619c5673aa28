/*
 * sandbox.h - where app code runs. Code from any branch runs on the
 * server, so every program berth starts that comes from a push or a
 * buildpack (bin/detect, bin/compile, bin/release; CI's test-setup,
 * test and bin/test; the release phase; dynos; one-offs; postdeploy and
 * pr-predestroy) goes through sandbox_wrap(): bubblewrap runs it in new
 * mount, PID, IPC and UTS namespaces, seeing the host's /usr, /etc and
 * /lib* read-only, a /tmp, /dev and /proc of its own, its app at /app
 * and the directories its caller binds, and nothing else of the host:
 * not the server root, other apps, berth's HOME or berthd's socket. The
 * host network stays shared, so dynos listen on their $PORT.
 *
 * When berth runs as root the code runs as the app's own uid (and gid
 * of the same number), kept in the ledger, with no capabilities and
 * no_new_privs; the slug it runs is mounted so that its files are that
 * uid's (an idmapped mount under the dyno's overlay). When berth runs
 * as an ordinary user, bubblewrap's user namespace gives the same view.
 *
 * berth.ini [sandbox] enabled = 0 turns all of it off: callers then run
 * the program as before, and pushes and daemon:status warn.
 */
#ifndef BERTH_SANDBOX_H
#define BERTH_SANDBOX_H

#include "dyno.h"
#include "root.h"
#include "run-command.h"

#define SANDBOX_APP	"/app"	/* cwd and HOME of what runs inside */
#define SANDBOX_BINDS	4

struct sandbox_bind {
	const char *src;	/* a directory on this machine */
	const char *dest;	/* where the sandbox sees it (under /tmp) */
	int writable;
};

struct sandbox_prep;
struct dyno_cgroup;

struct sandbox {
	int uid;		/* run as; -1: as this process (not root) */
	/* What /app is: a dyno's directory (its overlay is mounted in the
	 * child) or, with dir NULL, a plain directory (a build's tree). */
	const struct dyno_dir *dir;
	const char *app_dir;
	struct sandbox_bind binds[SANDBOX_BINDS];
	size_t nbinds;
	const struct dyno_cgroup *cgroup;	/* entered first; NULL = none */
	/* Killed with whoever started it (a hook, a CLI, berthd): steps
	 * that nobody stops gracefully (builds, CI, the release phase, app
	 * scripts). Not dynos: their stop's SIGTERM kills bubblewrap's own
	 * process at once, and the app must get its grace period. */
	int die_with_parent;
	struct dyno_cgroup *own;	/* sandbox_limit()'s */
	struct sandbox_prep *prep;	/* sandbox_wrap()'s; sandbox_clear() */
};
#define SANDBOX_INIT { .uid = -1 }

/*
 * Whether app code can run here as berth.ini says: 0 when it can be
 * sandboxed or [sandbox] enabled = 0; -1 with berth_error() naming the
 * fix (install bubblewrap, allow user namespaces, or enabled = 0).
 * Probed once per process.
 */
int sandbox_check(const struct berth_root *r);
/* The warning pushes and daemon:status show with enabled = 0, or NULL. */
const char *sandbox_warning(const struct berth_root *r);
/*
 * Whether this kernel lets berth-enter scope a sandbox (Landlock ABI 6,
 * Linux 6.12): without, sandboxes share abstract Unix sockets with the
 * host and each other, and daemon:status says so.
 */
int sandbox_scoped(void);
/*
 * How app_id's code runs: 1 sandboxed, as *uid when berth is root (the
 * app's, assigned on first use by ledger_sandbox_uid(), through a
 * connection of its own: any thread may ask), else *uid = -1; 0 when
 * [sandbox] enabled = 0; -1 with berth_error().
 */
int sandbox_for_app(const struct berth_root *r, int64_t app_id, int *uid);
/* The same for a pipeline's CI (its test builds and nodes). */
int sandbox_for_ci(const struct berth_root *r, int64_t pipeline_id,
    int *uid);
/* What a program in a sandbox (sandboxed != 0) sees as dir: /app. */
const char *sandbox_app_path(int sandboxed, const char *dir);
/* Bind src at dest (under /tmp) in sb as well. */
void sandbox_bind(struct sandbox *sb, const char *src, const char *dest,
    int writable);
/*
 * Make c run in sb: c->args become bubblewrap's, running the old ones
 * in /app; c->dir is dropped; c->pre_exec is taken (sandbox_wrap sets
 * it; callers do not set their own). c's environment is the program's.
 * sb must stay until c is started. -1 with berth_error() when it
 * cannot be (sandbox_check()).
 */
int sandbox_wrap(struct sandbox *sb, struct child *c);
void sandbox_clear(struct sandbox *sb);
/*
 * Limit what runs in sb (a one-off dyno, a release phase, a build, a CI
 * node: what no monitor watches) with a control group of its own,
 * named for app: memory bytes (build: [sandbox] build_memory, else
 * [sandbox] memory) and [sandbox] pids. sandbox_clear() removes it with
 * whatever is left in it. Where limits cannot be enforced (not root),
 * nothing.
 */
void sandbox_limit(struct sandbox *sb, const struct berth_root *r,
    const char *app, int build);
/* Give path and everything under it to uid (a build's tree); uid -1: no. */
int sandbox_chown(const char *path, int uid);

#endif
