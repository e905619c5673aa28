/*
 * cgroup.h - memory and process limits of a dyno, through a control
 * group of its own. The layout is probed once: cgroup2 (unified) where
 * its memory and pids controllers can be delegated to a group of
 * berth's, else cgroup v1 (memory and pids hierarchies, the hybrid
 * layout of many hosts). Where neither is usable (berth is not root,
 * the controllers are missing or bound elsewhere) limits are not
 * enforced: cgroup_available() says why, and dynos run without them.
 *
 * The groups of one server root sit under a parent of their own,
 * berth-HASH (a hash of the root's path; several roots run side by
 * side in tests), each dyno's named APP-TOKEN by its BERTH_DYNO_ID:
 *   v2: PARENT_OF_OURS/berth-HASH/APP-TOKEN (ours holds processes, so
 *       our parent's subtree gets berth's; the root: under the root)
 *   v1: MEMORY_MOUNT/OURS/berth-HASH/APP-TOKEN, the same under pids.
 * The monitor of a dyno (monitor.h) creates its group, the dyno's
 * process enters it before exec, and the monitor destroys it once the
 * dyno has ended; berthd removes the groups left by monitors that died
 * (cgroup_sweep).
 */
#ifndef BERTH_CGROUP_H
#define BERTH_CGROUP_H

#include <stdint.h>

#include "root.h"

/* What one dyno may use; 0 = no limit of that kind. */
struct dyno_limits {
	int64_t memory;		/* bytes of memory, swap included */
	int pids;		/* processes and threads */
};

#define CGROUP_DIRS 2		/* v1: memory and pids; v2: one */

/*
 * A dyno's group: its directories and their cgroup.procs, the files a
 * process joins it by. Paths, not open fds: the child closes every fd
 * it inherits before its pre_exec hook (run-command.h).
 */
struct dyno_cgroup {
	char *dirs[CGROUP_DIRS];	/* NULL when unused */
	char *procs[CGROUP_DIRS];	/* DIR/cgroup.procs */
	int v2;
};
#define DYNO_CGROUP_INIT { { NULL, NULL }, { NULL, NULL }, 0 }

/*
 * Whether limits can be enforced here: 2 (cgroup2), 1 (cgroup v1) or
 * 0 (not: *why, when why is not NULL, says why, for a warning). Probed
 * once per process; thread-safe.
 */
int cgroup_available(const struct berth_root *r, const char **why);
/*
 * Create the group of the dyno (app, token) with limits l, checked
 * writable for cgroup_enter(). 0, or -1 with berth_error() (then *out
 * holds nothing to destroy). Limits not available: -1 too.
 */
int cgroup_create(const struct berth_root *r, const char *app,
    const char *token, const struct dyno_limits *l, struct dyno_cgroup *out);
/*
 * Find the group of the dyno (app, token) if it exists, for
 * cgroup_destroy() (berthd, after its monitor died): 0, or -1.
 */
int cgroup_find(const struct berth_root *r, const char *app,
    const char *token, struct dyno_cgroup *out);
/*
 * Move the calling process into cg: "0" to each cgroup.procs. For the
 * child between fork and exec: async-signal-safe (open, write, close;
 * no malloc). 0, or -1 with errno.
 */
int cgroup_enter(const struct dyno_cgroup *cg);
/* Whether the kernel's OOM killer killed a process in cg. */
int cgroup_oom_killed(const struct dyno_cgroup *cg);
/* How many processes are in cg now (-1 when it cannot tell). */
int cgroup_procs(const struct dyno_cgroup *cg);
/* SIGKILL every process in cg (cgroup.kill where the kernel has it). */
void cgroup_kill(const struct dyno_cgroup *cg);
/*
 * Kill what is left in cg, wait (up to a second) for it to go, remove
 * the group and free cg. Safe on a group never created.
 */
void cgroup_destroy(struct dyno_cgroup *cg);
/* Free cg, leaving the group as it is. */
void cgroup_release(struct dyno_cgroup *cg);
/*
 * Destroy the groups of this root whose dyno keep() does not know
 * (berthd, at start: what monitors that died left). Returns how many.
 */
int cgroup_sweep(const struct berth_root *r,
    int (*keep)(const char *token, void *data), void *data);

#endif
