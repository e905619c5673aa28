/*
 * run-command.h - the one way berth runs an external program: an argv
 * array (never a shell string), an explicit environment, a working
 * directory, an optional deadline, and output delivered line by line.
 * Exit status, signals and timeouts are decoded here, in one place.
 */
#ifndef BERTH_RUN_COMMAND_H
#define BERTH_RUN_COMMAND_H

#include "util.h"

/* Called once per output line (without the newline). */
typedef void (*line_fn)(const char *line, void *data);

struct child {
	struct strvec args;	/* argv; args.v[0] is the program */
	struct strvec env;	/* full environment; empty = inherit ours */
	const char *dir;	/* chdir here before exec (NULL = stay) */
	int64_t timeout_ms;	/* 0 = no deadline */
	/* stdout+stderr merged and delivered to on_line; when on_line is
	 * NULL they go to out_fd (or are inherited when out_fd < 0). */
	line_fn on_line;
	void *data;
	int out_fd;
	int in_fd;		/* stdin; -1 = /dev/null */
	int stdout_only;	/* stderr to /dev/null, not to on_line/out_fd */
	/* Called in the child just before exec (async-signal-safe only);
	 * a non-zero return ends the child with status 126. */
	int (*pre_exec)(const void *data);
	const void *pre_exec_data;

	/* results */
	int exit_code;		/* exit status, or 128+signal */
	int timed_out;
	int signaled;
};
#define CHILD_INIT { STRVEC_INIT, STRVEC_INIT, NULL, 0, NULL, NULL, -1, -1, \
	0, NULL, NULL, 0, 0, 0 }

/*
 * Run the child to completion in its own process group. Returns 0 when it
 * exited 0; -1 otherwise with berth_error() describing why ("exited with
 * status 2", "killed by signal 9", "timed out after 30 s"). On timeout
 * the whole process group is killed.
 */
int run_command(struct child *c);
void child_clear(struct child *c);
/*
 * Whether pid is a child run_command() is running right now (from any
 * thread). berthd, a subreaper, uses it to leave those to their waiter.
 */
int run_command_owns(pid_t pid);
/* Describe how the child ended ("exited with status 1"); caller frees. */
char *child_describe(const struct child *c);

#endif
