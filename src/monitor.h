/*
 * monitor.h - the dyno monitor of the local runtime backend: one small
 * process per formation dyno, berth-monitor (a helper in LIBEXECDIR/
 * berth/, linked with little so it starts in about a millisecond), as
 * podman's conmon is one per container. It starts the dyno and is its
 * parent; it holds the dyno's output, writing each line into the app's
 * log itself, and its exit status; it stops the dyno when asked. So a
 * dyno keeps running and logging while berthd is down, and a berthd
 * that starts again finds it by its record and adopts it
 * (supervisor_recover).
 *
 * What a monitor and berthd share:
 *  - its stdin: the dyno's spec, read once (JSON: the dyno record with
 *    its config snapshot, and the monitor's settings);
 *  - its stdout: first one line, "started PID START" (the dyno's first
 *    process and its start time) or "error WHY", then a copy of each
 *    line the dyno writes, for berthd's failure reports; copies berthd
 *    does not read in time, or once it is gone, are dropped;
 *  - ROOT/run/dynos/TOKEN.json: the dyno record (dyno.h), written by
 *    the monitor only: when it starts, once the dyno runs, when it is
 *    asked to stop and when the dyno has exited (its exit_code);
 *  - SIGTERM: stop the dyno: SIGTERM to its process group, SIGKILL
 *    after stop_timeout;
 *  - its exit status: the dyno's (128+N when signal N ended it). It
 *    exits once the dyno's main process has exited, its output is read
 *    and what it left (its group, its orphans, which come to the
 *    monitor as their subreaper) is gone and reaped. After a crash (the
 *    main process exiting unasked) that is at once: whatever is left of
 *    the dyno, in its group or marked with its BERTH_DYNO_ID, is
 *    killed. After a stop, the rest has until stop_timeout.
 * The monitor also writes the dyno's "Process exited with status N"
 * line into the app's log, after the dyno's last lines.
 *
 * It is a detail of the local backend: another backend (Docker Swarm)
 * has its own way to keep containers running without berthd.
 */
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

#include <sys/types.h>

#include "dyno.h"
#include "root.h"

/* What berthd watches of a dyno. */
struct monitor_proc {
	pid_t pid;		/* the monitor */
	pid_t pgid;		/* the dyno's process group (its first pid) */
	int out_fd;		/* the copies of its output; -1 = none */
};

/*
 * Start a monitor that starts the dyno of spec (its token names the
 * record), from this process (berthd: its parent waits for the dyno's
 * first process to have exec'd). 0 with *out filled, or -1 with
 * berth_error() saying why the dyno could not start.
 */
int monitor_spawn(const struct berth_root *r, const struct dyno_spec *spec,
    struct monitor_proc *out);
/* ROOT/run/dynos/TOKEN.json; caller frees. */
char *monitor_record_path(const struct berth_root *r, const char *token);
/*
 * `berth-monitor RECORD`: the monitor itself (spec on stdin). Its exit
 * status: the dyno's, or 1 when it could not start it.
 */
int monitor_main(int argc, char **argv);

#endif
