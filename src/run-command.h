/*
 * run-command.h - the one way berth runs an external program: an argv
 * array (never a shell string), an explicit environment, a working
 * directory, an optional deadline, and output delivered line by line.
 * Starting (fork, the child's setup, exec), exit status, signals and
 * timeouts are decoded here, in one place.
 */
#ifndef BERTH_RUN_COMMAND_H
#define BERTH_RUN_COMMAND_H

#include "util.h"

/* Called once per output line (without the newline). */
typedef void (*line_fn)(const char *line, void *data);

/* Which process group the child runs in. */
enum child_group {
	CHILD_OWN_GROUP = 0,	/* a group of its own (run_command: always) */
	CHILD_OWN_SESSION,	/* a session of its own: a daemon's dyno */
	CHILD_OUR_GROUP,	/* ours: a foreground job of our terminal */
};

/* The step of the child's setup that failed; it never ran. */
enum child_step {
	CHILD_STEP_NONE = 0,	/* it started (exec succeeded) */
	CHILD_STEP_STDIO,	/* wiring up stdin, stdout, stderr */
	CHILD_STEP_PRE_EXEC,	/* the pre_exec hook */
	CHILD_STEP_CHDIR,	/* moving to dir */
	CHILD_STEP_EXEC,	/* exec itself (no such file, not executable) */
};

struct child {
	struct strvec args;	/* argv; args.v[0] is the program: a path,
				 * or a name looked up in PATH */
	struct strvec env;	/* full environment; empty = inherit ours */
	const char *dir;	/* chdir here before exec (NULL = stay) */
	int64_t timeout_ms;	/* 0 = no deadline */
	/* stdout+stderr merged and delivered to on_line; when on_line is
	 * NULL they go to out_fd (or are inherited when out_fd < 0). */
	line_fn on_line;
	void *data;
	int out_fd;
	int in_fd;		/* stdin; -1 = /dev/null */
	int err_fd;		/* stderr here when >= 0, apart from stdout */
	int stdout_only;	/* stderr to /dev/null, not to on_line/out_fd */
	enum child_group group;
	/* Called in the child just before chdir and exec, with errno set
	 * on failure; a non-zero return ends the child with status 126.
	 * It runs after fork in a threaded process: async-signal-safe
	 * calls only (no malloc, no stdio, no locks). */
	int (*pre_exec)(const void *data);
	const void *pre_exec_data;

	/* results */
	int exit_code;		/* exit status, or 128+signal */
	int timed_out;
	int stopped;		/* the guarded signal that killed it */
	int signaled;
	enum child_step start_step;	/* != NONE: it could not be started */
	int start_errno;	/* then: the errno of that step */
};
#define CHILD_INIT { .args = STRVEC_INIT, .env = STRVEC_INIT, \
	.out_fd = -1, .in_fd = -1, .err_fd = -1 }

/*
 * Run the child to completion in its own process group. Returns 0 when it
 * exited 0; -1 otherwise with berth_error() describing why ("exited with
 * status 2", "killed by signal 9", "timed out after 30 s", "could not be
 * run: No such file or directory"). On timeout the whole process group
 * is killed.
 */
int run_command(struct child *c);
/*
 * Start the child and return its pid once it has exec'd, for a caller
 * that waits for it itself (a dyno). on_line and timeout_ms are
 * run_command()'s: they must be unset. When the child could not be
 * started, it has been reaped, c's results say why and -1 is returned
 * with berth_error() naming the program and the reason.
 */
pid_t start_command(struct child *c);
void child_clear(struct child *c);
/*
 * The file that running name runs: name itself when it holds a '/' and
 * is an executable file, else the first executable regular file NAME in
 * the absolute directories of dirs (colon-separated; NULL or "" means
 * /usr/local/bin:/usr/bin:/bin). NULL when there is none; caller frees.
 */
char *path_search(const char *name, const char *dirs);
/*
 * Whether pid is a child run_command() is running right now (from any
 * thread). berthd, a subreaper, uses it to leave those to their waiter.
 */
int run_command_owns(pid_t pid);
/*
 * on: until run_command_guard(0), SIGINT, SIGTERM, SIGHUP and SIGPIPE
 * do not end this process: they kill the process group of the
 * run_command() child running (its result says "was stopped"), and no
 * other starts, so that the caller records how its work ended (a
 * release phase: its release failed, never left pending). Not for
 * threaded processes (berthd): the handler is the process's.
 */
void run_command_guard(int on);
/*
 * End this process by the guarded signal caught, if one was, as it
 * would have ended without the guard (exit status 128+N).
 */
void run_command_reraise(void);
/*
 * Describe how the child ended ("exited with status 1") or why it never
 * started ("could not be run: Permission denied"); caller frees.
 */
char *child_describe(const struct child *c);

#endif
