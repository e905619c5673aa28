/*
 * supervisor.h - berthd's dynos: what runs, for which app, in which
 * state. The supervisor starts a dyno (through its monitor, monitor.h,
 * which holds the dyno's output and exit status and so outlives
 * berthd), keeps the last lines it wrote, notices its exit, restarts a
 * crashed one with back-off, stops one (SIGTERM to its monitor, which
 * stops the dyno's group; SIGKILL after stop_timeout), and after a
 * crash of berthd adopts the dynos the previous berthd left running.
 * It decides nothing about releases or routes: rollout.c does, through
 * the calls below.
 *
 * Locking: sv->lock guards every field of struct supervisor, sv_app and
 * sv_dyno. It is held only for short in-memory work: never across a
 * slug copy, a dyno's start, a health check, a router change or a
 * SQLite call. Only the event loop (supervisor_poll_*) frees a dyno,
 * and only once no other thread has it pinned.
 *
 * Per-app operations: deploy, converge, restart, stop, start and
 * destroy of one app run one at a time, in the order they were asked
 * for, between sv_app_op_begin() and sv_app_op_end(). Operations on
 * different apps never wait on each other.
 */
#ifndef BERTH_SUPERVISOR_H
#define BERTH_SUPERVISOR_H

#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "dyno.h"
#include "ledger.h"
#include "monitor.h"
#include "procfile.h"
#include "root.h"

#define SV_TAIL_LINES 20

enum sv_state { SV_STARTING, SV_UP, SV_CRASHED, SV_STOPPING };

/*
 * How a dyno's process comes to be: the real one prepares a dyno
 * directory and starts the dyno's monitor (monitor.h), which forks the
 * Procfile command (dyno.c); tests put fakes here. Both are called
 * without sv->lock.
 */
struct sv_spawner {
	int (*prepare)(void *data, const struct berth_root *r,
	    const char *app, const char *slug_id, const char *name,
	    struct dyno_dir *out);
	/*
	 * Start it in a session of its own: 0 with what to watch in *out
	 * (the process whose exit is the dyno's, its process group, a pipe
	 * of its output lines), or -1 with berth_error().
	 */
	int (*spawn)(void *data, const struct berth_root *r,
	    const struct dyno_spec *spec, struct monitor_proc *out);
	void *data;
};
extern const struct sv_spawner sv_spawner_real;

struct sv_app {
	struct sv_app *next;
	char *name;
	int64_t id;		/* ledger id: a reused name is a new app */
	struct release rel;	/* what new dynos run; rel.id 0 = none */
	char *commit;		/* its slug's commit */
	struct proctypes types;
	struct applog *log;
	int destroyed;		/* apps:destroy: no more dynos */
	int stopped;		/* ps:stop with no target */
	/* how its dynos run (dyno_spec's); till a plan says, sandboxed
	 * with no uid: a root berthd starts none */
	int sandboxed, uid;
	/* the operation queue: a ticket lock, FIFO */
	unsigned long op_next, op_serving;
	pthread_cond_t op_turn;
};

struct sv_dyno {
	struct sv_dyno *next;
	struct sv_app *app;
	char *type;
	int index;
	char *command;
	struct release rel;	/* its own copy: a restart runs the same */
	char *commit;
	pid_t pid;		/* its monitor; 0 once that exited */
	int pidfd;		/* readable once the monitor exited; -1 */
	pid_t pgid;		/* its process group (its first pid) */
	int port;		/* 0 = not a web dyno */
	int out_fd;		/* its output lines, for the tail; -1 */
	struct dyno_dir dir;	/* dir.path NULL when it has none */
	enum sv_state state;
	int rollout;		/* started by an operation, not yet live */
	int restarting;		/* a restart prepares its directory */
	int adopted;		/* left by a previous berthd, not claimed */
	int64_t probe_at;	/* starting, outside a rollout: look then
				 * whether it is up (0 = not) */
	int64_t started_ms;	/* monotonic */
	time_t started_at;	/* wall clock, for ps */
	int64_t restart_at;	/* crashed: when to restart (0 = never) */
	int64_t kill_at;	/* stopping: when to SIGKILL */
	int restarts;		/* shown by ps */
	int backoff;		/* crashes in a row */
	int pins;		/* threads holding a pointer to it */
	char token[20];		/* BERTH_DYNO_ID of its current process */
	int exit_code;
	struct dyno_limits limits;	/* what its processes may use */
	int oom_killed;		/* crashed: the kernel killed it for memory */
	struct strbuf partial;
	char *tail[SV_TAIL_LINES];
	int tail_next;
};

struct supervisor {
	pthread_mutex_t lock;
	const struct berth_root *root;
	struct sv_spawner spawner;
	struct sv_app *apps;
	struct sv_dyno *dynos;
	int next_port;
	int spawning;		/* dynos being started right now */
	int reap_again;		/* orphans wait until none is */
	int wake[2];		/* written to wake the event loop */
	/* Whether a dyno accepts on port (sv_port_accepts; tests: fakes);
	 * called without sv->lock. */
	int (*accepts)(void *data, int port);
	void *accepts_data;
};

/* Set sv up (not started: no dyno yet). -1 when the pipe fails. */
int supervisor_init(struct supervisor *sv, const struct berth_root *r,
    const struct sv_spawner *sp);
/* Free every app and dyno record (processes are not touched). */
void supervisor_clear(struct supervisor *sv);
/* Wake the event loop (after a change of timers or dynos). */
void supervisor_wake(struct supervisor *sv);

/* --- apps (sv->lock held) --- */
/* The live (not destroyed) app of that name, or NULL. */
struct sv_app *sv_app_find(struct supervisor *sv, const char *name);
/* Find or add the app by ledger id. */
struct sv_app *sv_app_get(struct supervisor *sv, const char *name,
    int64_t id);
/* A platform line (berth[proc]) in the app's log. */
void sv_app_event(struct sv_app *a, const char *proc, const char *fmt, ...)
    BERTH_ATTR_PRINTF(3, 4);

/* --- operations (sv->lock NOT held) --- */
/* Wait for the app's turn, then hold it; returns the app. */
struct sv_app *sv_app_op_begin(struct supervisor *sv, const char *name,
    int64_t id);
void sv_app_op_end(struct supervisor *sv, struct sv_app *a);

/* --- dynos --- */
/* Into to, a copy of what a dyno needs of release from. */
void sv_release_copy(const struct release *from, struct release *to);
/* "web.1" into buf. */
void sv_dyno_name(const struct sv_dyno *d, char buf[64]);
/* Whether d matches target ("web", "web.1"; NULL matches all). */
int sv_dyno_matches(const struct sv_dyno *d, const char *target);
/*
 * Create and start a dyno of the app's release (a->rel) as it is now,
 * marked as not yet live (rollout = 1), pinned once for the caller,
 * with memory bytes (0: berth.ini [sandbox] memory) and [sandbox] pids.
 * A dyno that cannot start is returned crashed with the reason in the
 * app's log. sv->lock NOT held (the directory may be a slug copy).
 */
struct sv_dyno *sv_dyno_start(struct supervisor *sv, struct sv_app *a,
    const char *type, int index, int64_t memory);
/* Stop it: SIGTERM, SIGKILL at stop_timeout (sv->lock held). */
void sv_dyno_stop(struct supervisor *sv, struct sv_dyno *d);
/*
 * The operation that started d is done with it: it is a formation dyno
 * now, so a crashed one restarts with back-off and one still starting
 * becomes up once it is (sv->lock held).
 */
void sv_dyno_go_live(struct supervisor *sv, struct sv_dyno *d);
/* The last lines it wrote, each on "\n  line" (sv->lock held). */
void sv_dyno_tail(const struct sv_dyno *d, struct strbuf *out);
/* Pin dynos across an unlock (sv->lock held) / unpin (NOT held). */
void sv_pin(struct sv_dyno **ds, size_t n);
void sv_unpin(struct supervisor *sv, struct sv_dyno **ds, size_t n);
/* Whether something accepts connections on 127.0.0.1:port. */
int sv_port_accepts(int port);
/*
 * A web dyno that crashed while something else holds its port (it lost
 * the port between allocation and its bind: EADDRINUSE) gets another
 * port and restarts at once. 1 when it will (sv->lock held).
 */
int sv_dyno_move_port(struct supervisor *sv, struct sv_dyno *d);
/* Back-off before the nth restart: 0 s, then 1, 2, 4 ... 300 s. */
int64_t sv_restart_delay(int restarts);

/* --- the app's dynos as JSON, and counts (sv->lock held) --- */
json_t *sv_ps_json(struct supervisor *sv, struct sv_app *a);
void sv_counts(struct supervisor *sv, size_t *apps, size_t *dynos);

/* --- the event loop (one thread) --- */
/*
 * Fill pfds from index *n with the wake pipe, and for every dyno the
 * copies of its output and its monitor's pidfd (growing *pfds and
 * *owners, of *alloc entries); returns the poll
 * timeout in ms for the next timer (-1 = none, also given next_ms, a
 * deadline of the caller's own, 0 = none).
 */
int supervisor_poll_fds(struct supervisor *sv, struct pollfd **pfds,
    struct sv_dyno ***owners, size_t *n, size_t *alloc, int64_t next_ms);
/*
 * After poll(): read what dynos wrote, act on monitors that exited,
 * reap orphans (got_chld), run due timers (restarts, SIGKILLs, probes
 * of starting dynos) and free what stopped.
 */
void supervisor_poll_done(struct supervisor *sv, struct pollfd *pfds,
    struct sv_dyno **owners, size_t n, int got_chld);
/*
 * At start-up: adopt the dynos a previous berthd left running, found by
 * their records under run/dynos/ (monitor.h), each checked by pid and
 * start time, as not yet claimed (adopted = 1); remove what is left of
 * the ones that are gone (their processes, records and working dirs),
 * and of one-off dynos whose process is gone (dyno_oneoff_reap).
 */
void supervisor_recover(struct supervisor *sv);
/*
 * Claim the app's adopted dynos for a->rel (sv->lock held): the oldest
 * running one of each TYPE.N of that release is the app's again (with
 * a->rel's config, for its restarts); the others (of another release,
 * crashed, a younger twin) are stopped. Then the formation decides.
 */
void sv_adopt_claim(struct supervisor *sv, struct sv_app *a);
/* How many of the app's adopted dynos run another release than rel_id. */
size_t sv_adopt_stale(struct supervisor *sv, struct sv_app *a,
    int64_t rel_id);
/* Stop the adopted dynos no convergence claimed (sv->lock NOT held). */
void supervisor_stop_unclaimed(struct supervisor *sv);
/* Stop every dyno and wait for them (at shutdown). */
void supervisor_stop_all(struct supervisor *sv);

#endif
