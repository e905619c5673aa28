/*
 * run-command.c - start, feed, time out and reap external programs.
 * Every program berth runs (buildpacks, git for buildpack clones, nginx)
 * goes through run_command(): argv arrays only, never a shell string.
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
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Children in flight, for run_command_owns(). */
static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t inflight[64];

/* Replace old by new in the table (inflight_lock held). */
static void
inflight_put(pid_t old, pid_t new)
{
	size_t i;

	for (i = 0; i < sizeof(inflight) / sizeof(inflight[0]); i++)
		if (inflight[i] == old) {
			inflight[i] = new;
			break;
		}
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
	for (i = 0; i < sizeof(inflight) / sizeof(inflight[0]); i++)
		if (inflight[i] == pid)
			found = 1;
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
	if (c->timed_out)
		return xasprintf("timed out after %lld s",
		    (long long)(c->timeout_ms / 1000));
	if (c->signaled)
		return xasprintf("killed by signal %d (%s)", c->exit_code - 128,
		    strsignal(c->exit_code - 128));
	return xasprintf("exited with status %d", c->exit_code);
}

/* In the child: wire up fds, move to dir, exec. Never returns. */
static void
exec_child(struct child *c, int out_fd)
{
	int in = c->in_fd;
	sigset_t none;

	/* A daemon's blocked or ignored signals must not reach the child. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (in < 0)
		in = open("/dev/null", O_RDONLY);
	if (in >= 0 && in != 0) {
		dup2(in, 0);
	}
	if (out_fd >= 0) {
		dup2(out_fd, 1);
		if (c->stdout_only) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0)
				dup2(null, 2);
		} else
			dup2(out_fd, 2);
	}
	/* Nothing of ours but stdio reaches the program (dyno pipes...). */
	close_range(3, ~0U, 0);
	if (c->pre_exec != NULL && c->pre_exec(c->pre_exec_data) != 0) {
		dprintf(2, "cannot prepare %s: %s\n", c->args.v[0],
		    strerror(errno));
		_exit(126);
	}
	if (c->dir != NULL && chdir(c->dir) < 0) {
		dprintf(2, "cannot change to %s: %s\n", c->dir,
		    strerror(errno));
		_exit(127);
	}
	if (c->env.nr > 0)
		execve(c->args.v[0], c->args.v, c->env.v);
	else
		execv(c->args.v[0], c->args.v);
	dprintf(2, "cannot run %s: %s\n", c->args.v[0], strerror(errno));
	_exit(127);
}

/* Split buffered output into lines and deliver the complete ones. */
static void
deliver_lines(struct child *c, struct strbuf *pending, int flush)
{
	char *start = pending->buf, *nl;
	size_t used;

	if (pending->len == 0)
		return;
	while ((nl = memchr(start, '\n', pending->len -
	    (size_t)(start - pending->buf))) != NULL) {
		*nl = '\0';
		if (nl > start && nl[-1] == '\r')
			nl[-1] = '\0';
		c->on_line(start, c->data);
		start = nl + 1;
	}
	used = (size_t)(start - pending->buf);
	/* A line longer than 64 KiB is delivered in pieces. */
	if (flush || pending->len - used > 65536) {
		if (pending->len > used)
			c->on_line(start, c->data);
		used = pending->len;
	}
	memmove(pending->buf, pending->buf + used, pending->len - used);
	pending->len -= used;
	pending->buf[pending->len] = '\0';
}

int
run_command(struct child *c)
{
	struct strbuf pending = STRBUF_INIT;
	int pipefd[2] = { -1, -1 };
	int64_t deadline = c->timeout_ms > 0 ? now_ms() + c->timeout_ms : 0;
	int status = 0, done = 0, open_pipe;

	pid_t pid;

	c->exit_code = -1;
	c->timed_out = 0;
	c->signaled = 0;
	if (c->args.nr == 0)
		return berth_error("run_command: empty argv");
	if (c->on_line != NULL && pipe2(pipefd, O_CLOEXEC) < 0)
		return berth_error_errno("cannot create a pipe");
	fflush(stdout);
	fflush(stderr);
	/* Registered before anyone can look: fork under the lock. */
	pthread_mutex_lock(&inflight_lock);
	pid = fork();
	if (pid > 0)
		inflight_put(0, pid);
	if (pid != 0)
		pthread_mutex_unlock(&inflight_lock);
	if (pid < 0) {
		if (pipefd[0] >= 0) {
			close(pipefd[0]);
			close(pipefd[1]);
		}
		return berth_error_errno("cannot start %s", c->args.v[0]);
	}
	if (pid == 0)
		exec_child(c, c->on_line != NULL ? pipefd[1] : c->out_fd);
	setpgid(pid, pid);
	open_pipe = c->on_line != NULL;
	if (open_pipe)
		close(pipefd[1]);

	/*
	 * Read output and reap; on timeout kill the group. Once the main
	 * process has exited, its group is killed and the pipe drained for
	 * at most a second: a descendant that escaped the group and holds
	 * the pipe cannot hang us.
	 */
	int64_t drain_until = 0;

	while (open_pipe || !done) {
		int timeout = 100;

		if (!done) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			/* A lost child (someone reaped it) is a failure. */
			if (w < 0 && errno != EINTR)
				status = 255 << 8;
			if (w == pid || (w < 0 && errno != EINTR)) {
				done = 1;
				kill(-pid, SIGKILL);
				drain_until = now_ms() + 1000;
			}
		}
		if (!done && deadline > 0 && now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			c->timed_out = 1;
			deadline = 0;
		}
		if (done && (!open_pipe || now_ms() >= drain_until))
			break;
		if (open_pipe) {
			struct pollfd pfd = { pipefd[0], POLLIN, 0 };
			int rc = poll(&pfd, 1, timeout);

			if (rc > 0) {
				char buf[8192];
				ssize_t n = read(pipefd[0], buf, sizeof(buf));

				if (n > 0) {
					strbuf_add(&pending, buf, (size_t)n);
					deliver_lines(c, &pending, 0);
				} else if (n == 0 || (errno != EINTR &&
				    errno != EAGAIN)) {
					close(pipefd[0]);
					open_pipe = 0;
				}
			}
		} else if (!done && deadline == 0) {
			if (waitpid(pid, &status, 0) == pid) {
				done = 1;
				kill(-pid, SIGKILL);
			}
		} else if (!done)
			poll(NULL, 0, 10);
	}
	if (open_pipe)
		close(pipefd[0]);
	if (c->on_line != NULL)
		deliver_lines(c, &pending, 1);
	strbuf_release(&pending);
	/* Whatever the main process left in its group goes with it. */
	kill(-pid, SIGKILL);
	inflight_set(pid, 0);
	if (WIFSIGNALED(status)) {
		c->signaled = 1;
		c->exit_code = 128 + WTERMSIG(status);
	} else
		c->exit_code = WEXITSTATUS(status);
	if (c->timed_out || c->exit_code != 0) {
		char *why = child_describe(c);
		const char *slash = strrchr(c->args.v[0], '/');

		berth_error("%s %s", slash ? slash + 1 : c->args.v[0], why);
		free(why);
		return -1;
	}
	return 0;
}
