/*
 * router-proc.c - the router's nginx processes, as /proc shows them:
 * whether the master runs and is ours, its workers, which of them a
 * reload retired, and stopping them (see router-int.h).
 */
#include "router-int.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whether pid runs (a zombie does not; reap it if it is ours). */
int
nginx_alive(pid_t pid)
{
	if (pid <= 0 || kill(pid, 0) < 0)
		return 0;
	if (proc_zombie(pid)) {
		waitpid(pid, NULL, WNOHANG);
		return 0;
	}
	return 1;
}

/* The pid in router/nginx.pid, 0 when there is none. */
pid_t
nginx_read_pid(const struct router *rt)
{
	struct strbuf sb = STRBUF_INIT;
	char *end;
	long pid = 0;

	if (read_file(rt->pidfile, &sb, 64) == 0) {
		pid = strtol(strbuf_str(&sb), &end, 10);
		if (end == sb.buf || (*end != '\n' && *end != '\0') ||
		    pid <= 1)
			pid = 0;
	}
	strbuf_release(&sb);
	berth_clear_error();
	return (pid_t)pid;
}

/*
 * Whether pid is an nginx master started with our config: its
 * /proc/PID/cmdline ("nginx: master process /usr/sbin/nginx -p ...")
 * names nginx and our nginx.conf.
 */
int
nginx_is_ours(const struct router *rt, pid_t pid)
{
	char buf[4096];

	if (!nginx_alive(pid) || proc_cmdline(pid, buf, sizeof(buf)) <= 0)
		return 0;
	return strstr(buf, "nginx") != NULL && strstr(buf, rt->conf) != NULL;
}

struct children_walk {
	pid_t parent;
	/* Instead: orphaned workers in dir that are not parent's child. */
	const char *dir;
	struct pidlist *out;
};

/*
 * Whether pid is an nginx worker in dir whose master is gone: it was
 * reparented to init (or a subreaper), which is no nginx.
 */
static int
stray_worker(pid_t pid, const char *dir)
{
	char buf[4096], *link = xasprintf("/proc/%ld/cwd", (long)pid);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);

	free(link);
	if (n <= 0 || (size_t)n != strlen(dir) || memcmp(buf, dir, n) != 0 ||
	    !proc_comm_is(pid, "nginx") || proc_comm_is(proc_ppid(pid),
	    "nginx"))
		return 0;
	return proc_cmdline(pid, buf, sizeof(buf)) > 0 &&
	    strstr(buf, "worker process") != NULL;
}

static int
add_child(pid_t pid, void *data)
{
	struct children_walk *w = data;
	struct pidlist *out = w->out;

	if (w->dir != NULL ? proc_ppid(pid) == w->parent ||
	    !stray_worker(pid, w->dir) : proc_ppid(pid) != w->parent)
		return 0;
	if (out->nr == out->alloc) {
		out->alloc = out->alloc ? 2 * out->alloc : 8;
		out->v = xrealloc(out->v, out->alloc * sizeof(*out->v));
	}
	out->v[out->nr++] = pid;
	return 0;
}

/* The pids whose parent is pid (an nginx master's workers). */
void
nginx_children(pid_t pid, struct pidlist *out)
{
	struct children_walk w = { pid, NULL, out };

	out->nr = 0;
	proc_each(add_child, &w);
}

struct master_walk {
	const struct router *rt;
	pid_t found;
};

static int
match_master(pid_t pid, void *data)
{
	static const char master[] = "nginx: master process";
	struct master_walk *w = data;
	char buf[4096];

	if (proc_cmdline(pid, buf, sizeof(buf)) > 0 &&
	    strncmp(buf, master, strlen(master)) == 0 &&
	    nginx_is_ours(w->rt, pid))
		w->found = pid;
	return w->found != 0;
}


/* A running master of ours whatever the pid file says; 0 = none. */
pid_t
nginx_find_master(const struct router *rt)
{
	struct master_walk w = { rt, 0 };

	proc_each(match_master, &w);
	return w.found;
}

/* Send sig to pid and to its children (nginx's workers). */
void
nginx_kill_family(pid_t pid, int sig)
{
	struct pidlist kids = { NULL, 0, 0 };
	size_t i;

	nginx_children(pid, &kids);
	for (i = 0; i < kids.nr; i++)
		kill(kids.v[i], sig);
	kill(pid, sig);
	free(kids.v);
}

/*
 * Whether worker pid no longer accepts connections: it is gone, or it
 * calls itself "worker process is shutting down", which nginx sets just
 * before it closes its listening sockets (in the same step).
 */
int
nginx_worker_retired(pid_t pid)
{
	char buf[4096];

	if (!nginx_alive(pid))
		return 1;
	if (proc_cmdline(pid, buf, sizeof(buf)) >= 0)
		return strstr(buf, "shutting down") != NULL;
	return !nginx_alive(pid);	/* gone while we read */
}

/* Wait until pid is gone or deadline (now_ms() based) passes. */
int
nginx_wait_gone(pid_t pid, int64_t deadline)
{
	while (nginx_alive(pid)) {
		if (now_ms() >= deadline)
			return -1;
		usleep(POLL_MS * 1000);
	}
	return 0;
}

/* Wait until no retired worker (of a reload) still runs. */
int
nginx_drain_workers(struct router *rt, int64_t deadline)
{
	pid_t master = nginx_read_pid(rt);

	if (master <= 0)
		return 0;
	for (;;) {
		struct pidlist kids = { NULL, 0, 0 };
		size_t i, draining = 0;

		nginx_children(master, &kids);
		for (i = 0; i < kids.nr; i++)
			if (nginx_alive(kids.v[i]) && nginx_worker_retired(kids.v[i]))
				draining++;
		free(kids.v);
		if (draining == 0)
			return 0;
		if (now_ms() >= deadline)
			return -1;
		usleep(POLL_MS * 1000);
	}
}

int
nginx_stop_orphans(const struct router *rt, int64_t deadline)
{
	struct pidlist kids = { NULL, 0, 0 };
	char *dir = realpath(rt->dir, NULL);
	struct children_walk w = { getpid(), dir != NULL ? dir : rt->dir,
	    &kids };
	size_t i, n = 0;
	int ret = 0;

	/* Our children that are nginx processes and not yet zombies, and
	 * the workers of a master berthd had not started (one it took
	 * over after a restart), which are not: they would go on taking
	 * requests with the routes they had. */
	nginx_children(getpid(), &kids);
	for (i = 0; i < kids.nr; i++)
		if (proc_comm_is(kids.v[i], "nginx") && !proc_zombie(kids.v[i]))
			kids.v[n++] = kids.v[i];
	kids.nr = n;
	proc_each(add_child, &w);	/* appends the strays */
	n = kids.nr;
	free(dir);
	for (i = 0; i < n; i++)
		kill(kids.v[i], SIGTERM);
	for (i = 0; i < n; i++)
		if (nginx_wait_gone(kids.v[i], deadline) < 0) {
			kill(kids.v[i], SIGKILL);
			ret = -1;
		}
	free(kids.v);
	return ret;
}
