/*
 * gate.h - a pushed release goes live only once git has moved its ref.
 *
 * pre-receive runs before git moves the pushed ref, and git may still
 * refuse the push afterwards: the hook killed, another push that moved
 * the ref first, a full disk. So a release made from a push carries a
 * gate, kept in the ledger with the release: the ref, and the
 * git-receive-pack process that moves it once pre-receive exits 0.
 * Whoever settles the release asks gate_check(): berthd before its
 * router switch, the reference-transaction hook when berthd is not
 * running, the next push or berthd start after a crash.
 */
#ifndef BERTH_GATE_H
#define BERTH_GATE_H

#include "ledger.h"
#include "root.h"

#include <sys/types.h>

enum gate_state {
	GATE_WAITING,		/* receive-pack is still at work */
	GATE_MOVED,		/* the ref is the release's commit */
	GATE_REFUSED,		/* receive-pack is gone, the ref elsewhere */
};

/*
 * The gate of a push to ref whose receive-pack is pid (pre-receive's
 * parent): "REF PID START", START being pid's start time, so that a
 * reused pid is not taken for it.
 */
char *gate_format(const char *ref, pid_t pid);
/*
 * Where release rel (with a gate, of an app of pipeline) stands: one of
 * enum gate_state, or -1 with berth_error() when the gate or the repo
 * cannot be read.
 */
int gate_check(const struct berth_root *r, const char *pipeline,
    const struct release *rel);
/*
 * The same, polled (every 10 ms, the repository opened once) while it
 * is GATE_WAITING and now_ms() is before deadline.
 */
int gate_wait(const struct berth_root *r, const char *pipeline,
    const struct release *rel, int64_t deadline);
/*
 * Settle the pending releases of app that wait on a gate: succeeded
 * when git moved the ref, failed when it refused, left pending while
 * receive-pack runs, for at most wait_ms. The number still pending, or
 * -1 with berth_error().
 */
int gate_settle_app(const struct berth_root *r, struct ledger *db,
    const struct app *app, int wait_ms);

#endif
