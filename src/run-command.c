/*
 * run-command.c - start, feed, time out and reap external programs.
 * Every program berth runs (buildpacks, git for buildpack clones, nginx,
 * release and test scripts, dynos) is started by child_start(): argv
 * arrays only, never a shell string.
 *
 * berthd and builds are threaded, so between fork() and exec the child
 * makes async-signal-safe calls only: another thread may have held a
 * lock (malloc's, stdio's) at the fork, and in the child it is never
 * released. Everything the child needs (the program's path, argv, envp,
 * its stdio fds) is prepared before the fork; the child resets signals,
 * dups, closes, runs the pre_exec hook, changes directory and execs.
 * When one of those steps fails it writes the step and errno to a
 * close-on-exec pipe and exits: the parent reads EOF when the exec
 * succeeded, or why it failed (as git's start_command does).
 */
#include "run-command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Children in flight, for run_command_owns(). */
static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t *inflight;		/* 0 = a free slot */
static size_t ninflight;

/*
 * run_command_guard(): the signals that end a command, caught while it
 * runs children whose end it must record; the one caught, and the
 * dispositions they had before.
 */
static const int guarded[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
#define NGUARDED (sizeof(guarded) / sizeof(guarded[0]))
static struct sigaction unguarded[NGUARDED];
static int guarding;
static volatile sig_atomic_t caught;

/* What the child writes to the notify pipe when a step fails. */
struct child_failure {
	int step;		/* enum child_step */
	int err;		/* its errno */
};

/* Everything the child needs, made before the fork. */
struct launch {
	char *path;		/* the file to exec; NULL = not found */
	char **argv;
	char **envp;
	int fd[3];		/* what becomes fd 0, 1, 2; -1 = inherited */
	int null_fd;		/* /dev/null when needed, else -1 */
	int out_pipe[2];	/* to on_line, when there is one */
	int notify[2];		/* the close-on-exec notify pipe */
};

/*
 * Replace old by new in the table (inflight_lock held); adding (old 0)
 * grows the table when it is full, so no child goes unregistered.
 */
static void
inflight_put(pid_t old, pid_t new)
{
	size_t i;

	for (i = 0; i < ninflight; i++)
		if (inflight[i] == old) {
			inflight[i] = new;
			return;
		}
	if (old != 0)
		return;
	inflight = xrealloc(inflight, (ninflight + 16) * sizeof(*inflight));
	memset(inflight + ninflight, 0, 16 * sizeof(*inflight));
	inflight[ninflight] = new;
	ninflight += 16;
}

static void
inflight_set(pid_t old, pid_t new)
{
	pthread_mutex_lock(&inflight_lock);
	inflight_put(old, new);
	pthread_mutex_unlock(&inflight_lock);
}

int
run_command_owns(pid_t pid)
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&inflight_lock);
	for (i = 0; i < ninflight && !found; i++)
		found = inflight[i] == pid;
	pthread_mutex_unlock(&inflight_lock);
	return found;
}

void
child_clear(struct child *c)
{
	strvec_clear(&c->args);
	strvec_clear(&c->env);
}

char *
child_describe(const struct child *c)
{
	const char *err = strerror(c->start_errno);

	switch (c->start_step) {
	case CHILD_STEP_STDIO:
		return xasprintf("could not be started: cannot set up its "
		    "stdin, stdout and stderr: %s", err);
	case CHILD_STEP_PRE_EXEC:
		return xasprintf("could not be prepared to run: %s", err);
	case CHILD_STEP_CHDIR:
		return xasprintf("could not be run in %s: %s", c->dir, err);
	case CHILD_STEP_EXEC:
		return xasprintf("could not be run: %s", err);
	case CHILD_STEP_NONE:
		break;
	}
	if (c->timed_out)
		return xasprintf("timed out after %lld s",
		    (long long)(c->timeout_ms / 1000));
	if (c->stopped)
		return xasprintf("was stopped: this command got signal %d "
		    "(%s)", c->stopped, strsignal(c->stopped));
	if (c->signaled)
		return xasprintf("killed by signal %d (%s)", c->exit_code - 128,
		    strsignal(c->exit_code - 128));
	return xasprintf("exited with status %d", c->exit_code);
}

/*
 * berth_error() "PROG HOW": the whole path when it could not be run,
 * else its last component ("compile exited with status 2"). Returns -1.
 */
static int
child_error(const struct child *c)
{
	const char *name = c->args.v[0], *slash = strrchr(name, '/');
	char *why = child_describe(c);

	if (c->start_step == CHILD_STEP_NONE && slash != NULL)
		name = slash + 1;
	berth_error("%s %s", name, why);
	free(why);
	return -1;
}

/* Whether path is a regular, executable file. */
static int
is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

char *
path_search(const char *name, const char *dirs)
{
	const char *p, *end;

	if (strchr(name, '/') != NULL)
		return is_executable(name) ? xstrdup(name) : NULL;
	if (dirs == NULL || *dirs == '\0')
		dirs = "/usr/local/bin:/usr/bin:/bin";
	for (p = dirs; ; p = end + 1) {
		char *cand;

		end = strchrnul(p, ':');
		/* "" or relative: never the cwd of a daemon */
		if (*p == '/') {
			cand = xasprintf("%.*s/%s", (int)(end - p), p, name);
			if (is_executable(cand))
				return cand;
			free(cand);
		}
		if (*end == '\0')
			return NULL;
	}
}

/* PATH in env, or ours when env is empty (NULL when unset). */
static const char *
env_path(const struct strvec *env)
{
	size_t i;

	if (env->nr == 0)
		return getenv("PATH");
	for (i = 0; i < env->nr; i++)
		if (strncmp(env->v[i], "PATH=", 5) == 0)
			return env->v[i] + 5;
	return NULL;
}

/*
 * The status the child exits with when a step failed, as shells do:
 * 127 when the program or the directory is not there, 126 otherwise.
 */
static int
failure_status(int step, int err)
{
	return step == CHILD_STEP_CHDIR || (step == CHILD_STEP_EXEC &&
	    err == ENOENT) ? 127 : 126;
}

/*
 * Move *fd to 3 or above (still close-on-exec), out of the child's way
 * when it dups onto 0-2.
 */
static int
fd_above_stdio(int *fd)
{
	int moved;

	if (*fd >= 3)
		return 0;
	moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (moved < 0)
		return -1;
	close(*fd);
	*fd = moved;
	return 0;
}

/* Close *fd if open and mark it closed. */
static void
fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
launch_release(struct launch *l)
{
	int i;

	free(l->path);
	fd_close(&l->null_fd);
	for (i = 0; i < 2; i++) {
		fd_close(&l->out_pipe[i]);
		fd_close(&l->notify[i]);
	}
}

/*
 * Prepare what the child of c needs: its stdout (and stderr unless
 * c->stdout_only) a pipe to on_line, or c->out_fd. -1 with berth_error()
 * when out of fds; launch_release() l either way.
 */
static int
launch_prepare(struct child *c, struct launch *l)
{
	int out_fd = c->out_fd;

	memset(l, 0, sizeof(*l));
	l->null_fd = -1;
	l->out_pipe[0] = l->out_pipe[1] = l->notify[0] = l->notify[1] = -1;
	l->argv = strvec_argv(&c->args);
	l->envp = c->env.nr > 0 ? strvec_argv(&c->env) : environ;
	if (strchr(c->args.v[0], '/') != NULL)
		l->path = xstrdup(c->args.v[0]);
	else
		l->path = path_search(c->args.v[0], env_path(&c->env));
	if (c->on_line != NULL) {
		if (pipe2(l->out_pipe, O_CLOEXEC) < 0)
			return berth_error_errno("cannot create a pipe");
		out_fd = l->out_pipe[1];
	}
	if ((c->in_fd < 0 || (out_fd >= 0 && c->stdout_only)) &&
	    (l->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return berth_error_errno("cannot open /dev/null");
	l->fd[0] = c->in_fd >= 0 ? c->in_fd : l->null_fd;
	l->fd[1] = out_fd;
	l->fd[2] = c->err_fd >= 0 ? c->err_fd : out_fd >= 0 &&
	    c->stdout_only ? l->null_fd : out_fd;
	if (pipe2(l->notify, O_CLOEXEC) < 0 ||
	    fd_above_stdio(&l->notify[0]) < 0 ||
	    fd_above_stdio(&l->notify[1]) < 0)
		return berth_error_errno("cannot create a pipe");
	return 0;
}

/* In the child: report the failed step and errno, then exit. */
static void __attribute__((noreturn))
child_fail(int notify, enum child_step step)
{
	struct child_failure f;
	ssize_t n;

	f.step = step;
	f.err = errno;
	do
		n = write(notify, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	_exit(failure_status(f.step, f.err));
}

/*
 * In the child: default dispositions for every signal we catch (no
 * handler of ours may run here) and for the ones a daemon or `berth run`
 * ignores, then an empty mask: the program gets a clean slate.
 */
static void
child_reset_signals(void)
{
	struct sigaction dfl, old;
	sigset_t none;
	int sig;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    sigaction(sig, NULL, &old) < 0 ||
		    old.sa_handler == SIG_DFL)
			continue;
		if (old.sa_handler != SIG_IGN || sig == SIGPIPE ||
		    sig == SIGINT || sig == SIGQUIT || sig == SIGTERM)
			sigaction(sig, &dfl, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * In the child: l->fd[i] becomes fd i, and every other fd but the
 * notify pipe is closed: nothing of ours reaches the program (dyno
 * pipes, other children's pipes, the ledger). -1 with errno.
 */
static int
child_stdio(const struct launch *l)
{
	int fd[3], i, notify = l->notify[1];

	/*
	 * A source in 0-2 that is not its own target could be dup'd over
	 * before its turn: move it up first.
	 */
	for (i = 0; i < 3; i++) {
		fd[i] = l->fd[i];
		if (fd[i] >= 0 && fd[i] < 3 && fd[i] != i &&
		    (fd[i] = fcntl(fd[i], F_DUPFD, 3)) < 0)
			return -1;
	}
	for (i = 0; i < 3; i++) {
		if (fd[i] < 0)
			continue;
		if (fd[i] == i ? fcntl(i, F_SETFD, 0) < 0 : dup2(fd[i], i) < 0)
			return -1;
	}
	if (notify > 3)
		close_range(3, (unsigned int)notify - 1, 0);
	close_range((unsigned int)notify + 1, ~0U, 0);
	return 0;
}

/* In the child, after fork: async-signal-safe calls only. */
static void __attribute__((noreturn))
child_run(const struct child *c, const struct launch *l)
{
	int notify = l->notify[1];

	child_reset_signals();
	if (c->group == CHILD_OWN_GROUP)
		setpgid(0, 0);
	else if (c->group == CHILD_OWN_SESSION)
		setsid();
	if (child_stdio(l) < 0)
		child_fail(notify, CHILD_STEP_STDIO);
	if (c->pre_exec != NULL && c->pre_exec(c->pre_exec_data) != 0)
		child_fail(notify, CHILD_STEP_PRE_EXEC);
	if (c->dir != NULL && chdir(c->dir) < 0)
		child_fail(notify, CHILD_STEP_CHDIR);
	execve(l->path, l->argv, l->envp);
	child_fail(notify, CHILD_STEP_EXEC);
}

/* c never ran: record why, berth_error() it. Returns -1. */
static int
start_failed(struct child *c, int step, int err)
{
	c->start_step = step;
	c->start_errno = err;
	c->exit_code = failure_status(step, err);
	return child_error(c);
}

/*
 * Fork and exec c. For run_command (tracked) its pid is in the in-flight
 * table from the fork on, and the read end of the pipe to on_line goes
 * to *out_read. Returns the pid once the exec succeeded, else -1 with
 * berth_error() and c's results saying why (the child, if any, reaped).
 */
static pid_t
child_start(struct child *c, int tracked, int *out_read)
{
	struct launch l;
	struct child_failure f;
	sigset_t all, old;
	pid_t pid;
	ssize_t n;
	int fork_errno;

	c->exit_code = -1;
	c->timed_out = 0;
	c->stopped = 0;
	c->signaled = 0;
	c->start_step = CHILD_STEP_NONE;
	c->start_errno = 0;
	if (c->args.nr == 0)
		return berth_error("run_command: empty argv");
	/* Its group is what run_command kills on timeout. */
	if (tracked && c->group == CHILD_OUR_GROUP)
		return berth_error("run_command: a child needs a process "
		    "group of its own");
	if (launch_prepare(c, &l) < 0) {
		launch_release(&l);
		return -1;
	}
	if (l.path == NULL) {
		launch_release(&l);
		return start_failed(c, CHILD_STEP_EXEC, ENOENT);
	}
	fflush(stdout);
	fflush(stderr);
	/* No handler of ours may run in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* Registered before anyone can look: fork under the lock. */
	if (tracked)
		pthread_mutex_lock(&inflight_lock);
	pid = fork();
	if (pid == 0)
		child_run(c, &l);
	fork_errno = errno;
	if (tracked) {
		if (pid > 0)
			inflight_put(0, pid);
		pthread_mutex_unlock(&inflight_lock);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* The child's ends are the child's: EOF comes when it lets go. */
	fd_close(&l.notify[1]);
	fd_close(&l.out_pipe[1]);
	if (pid < 0) {
		launch_release(&l);
		errno = fork_errno;
		return berth_error_errno("cannot start %s", c->args.v[0]);
	}
	/* EOF: the exec closed the pipe. A report: a step failed. */
	do
		n = read(l.notify[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(f)) {
		if (out_read != NULL) {
			*out_read = l.out_pipe[0];
			l.out_pipe[0] = -1;
		}
		launch_release(&l);
		return pid;
	}
	launch_release(&l);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (tracked)
		inflight_set(pid, 0);
	return start_failed(c, f.step, f.err);
}

pid_t
start_command(struct child *c)
{
	if (c->on_line != NULL || c->timeout_ms != 0)
		return berth_error("start_command: on_line and timeout_ms "
		    "are for run_command()");
	return child_start(c, 0, NULL);
}

/* Deliver the complete lines of pending to c->on_line. */
static void
deliver_lines(struct child *c, struct strbuf *pending, int flush)
{
	strbuf_take_lines(pending, flush, c->on_line, c->data);
}

/* A run_command() child being watched: run_command() owns it all. */
struct watch {
	struct child *c;
	pid_t pid;
	int out;		/* the pipe to on_line; -1 = none or closed */
	int status;		/* its wait status, once done */
	int done;		/* the main process has been reaped */
	int64_t deadline;	/* when to kill it; 0 = never, or killed */
	int64_t drain_until;	/* once done, read the pipe until then */
	struct strbuf pending;	/* output not yet delivered as lines */
};

/*
 * The main process has ended (status) or is lost (someone reaped it):
 * kill what is left of its group and read the pipe for a second more.
 */
static void
watch_ended(struct watch *w, int status)
{
	w->status = status;
	w->done = 1;
	kill(-w->pid, SIGKILL);
	w->drain_until = now_ms() + 1000;
}

/* Reap the main process if it has exited, without waiting. */
static void
watch_reap(struct watch *w)
{
	int status = 0;
	pid_t got = waitpid(w->pid, &status, WNOHANG);

	/* A lost child (someone reaped it) is a failure. */
	if (got < 0 && errno != EINTR)
		watch_ended(w, 255 << 8);
	else if (got == w->pid)
		watch_ended(w, status);
}

/*
 * Past the deadline, or a guarded signal caught: kill the group and
 * mark the child timed out or stopped.
 */
static void
watch_deadline(struct watch *w)
{
	if (!w->done && w->deadline > 0 && now_ms() >= w->deadline) {
		kill(-w->pid, SIGKILL);
		w->c->timed_out = 1;
		w->deadline = 0;
	}
	if (!w->done && caught != 0 && w->c->stopped == 0) {
		kill(-w->pid, SIGKILL);
		w->c->stopped = caught;
	}
}

/*
 * Wait up to timeout ms for output and deliver its complete lines;
 * close the pipe at EOF or on a read error.
 */
static void
watch_read(struct watch *w, int timeout)
{
	struct pollfd pfd = { w->out, POLLIN, 0 };
	char buf[8192];
	ssize_t n;

	if (poll(&pfd, 1, timeout) <= 0)
		return;
	n = read(w->out, buf, sizeof(buf));
	if (n > 0) {
		strbuf_add(&w->pending, buf, (size_t)n);
		deliver_lines(w->c, &w->pending, 0);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		fd_close(&w->out);
}

/*
 * No output to read: wait for the main process, blocking when there is
 * no deadline to keep, else for 10 ms.
 */
static void
watch_wait(struct watch *w)
{
	int status = 0;

	if (w->deadline != 0 || guarding)
		poll(NULL, 0, 10);
	else if (waitpid(w->pid, &status, 0) == w->pid)
		watch_ended(w, status);
}

/*
 * Deliver the last output, kill what is left of the group, and set c's
 * exit_code (128 + N for signal N) and signaled from the wait status.
 */
static void
watch_finish(struct watch *w)
{
	struct child *c = w->c;

	fd_close(&w->out);
	if (c->on_line != NULL)
		deliver_lines(c, &w->pending, 1);
	strbuf_release(&w->pending);
	/* Whatever the main process left in its group goes with it. */
	kill(-w->pid, SIGKILL);
	inflight_set(w->pid, 0);
	if (WIFSIGNALED(w->status)) {
		c->signaled = 1;
		c->exit_code = 128 + WTERMSIG(w->status);
	} else
		c->exit_code = WEXITSTATUS(w->status);
}

int
run_command(struct child *c)
{
	struct watch w = { .c = c, .out = -1, .pending = STRBUF_INIT };

	w.deadline = c->timeout_ms > 0 ? now_ms() + c->timeout_ms : 0;
	if (caught != 0) {
		c->stopped = caught;
		return child_error(c);
	}
	w.pid = child_start(c, 1, &w.out);
	if (w.pid < 0)
		return -1;
	/*
	 * Read output and reap; on timeout kill the group. Once the main
	 * process has exited, its group is killed and the pipe drained for
	 * at most a second: a descendant that escaped the group and holds
	 * the pipe cannot hang us.
	 */
	while (w.out >= 0 || !w.done) {
		if (!w.done)
			watch_reap(&w);
		watch_deadline(&w);
		if (w.done && (w.out < 0 || now_ms() >= w.drain_until))
			break;
		if (w.out >= 0)
			watch_read(&w, 100);
		else if (!w.done)
			watch_wait(&w);
	}
	watch_finish(&w);
	if (c->timed_out || c->exit_code != 0)
		return child_error(c);
	return 0;
}

static void
on_guarded(int sig)
{
	caught = sig;
}

void
run_command_guard(int on)
{
	struct sigaction sa;
	size_t i;

	if (on == guarding)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_guarded;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NGUARDED; i++) {
		if (on)
			sigaction(guarded[i], &sa, &unguarded[i]);
		else
			sigaction(guarded[i], &unguarded[i], NULL);
	}
	guarding = on;
}

void
run_command_reraise(void)
{
	int sig = caught;

	if (sig == 0)
		return;
	run_command_guard(0);
	fflush(stderr);
	signal(sig, SIG_DFL);
	raise(sig);
}
