/*
 * supervisor.c - berthd's dynos (see supervisor.h): starting them
 * through their monitors, the last lines of their output, their exits,
 * crash restarts with back-off, whether one started outside a rollout
 * is up yet, and shutdown.
 *
 * Every dyno has a record under run/dynos/ that its monitor writes
 * (monitor.h), so a berthd that starts after a kill -9 knows exactly
 * what the previous one left (supervisor-recover.c).
 */
#include "supervisor.h"
#include "applog.h"
#include "proc.h"
#include "run-command.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESTART_MAX_MS (5 * 60 * 1000)
#define MONITOR_GRACE_MS 2000	/* after stop_timeout, for its monitor */
#define PROBE_MS 100		/* is a starting web dyno up yet? */
#define PROBE_SLOW_MS 1000	/* ... once past boot_timeout */

static const char *const state_names[] = {
	"starting", "up", "crashed", "stopping",
};

static int
real_prepare(void *data, const struct berth_root *r, const char *app,
    const char *slug_id, const char *name, struct dyno_dir *out)
{
	(void)data;
	return dyno_dir_prepare(r, app, slug_id, name, out);
}

static int
real_spawn(void *data, const struct berth_root *r,
    const struct dyno_spec *spec, struct monitor_proc *out)
{
	(void)data;
	return monitor_spawn(r, spec, out);
}

static int
real_accepts(void *data, int port)
{
	(void)data;
	return sv_port_accepts(port);
}

const struct sv_spawner sv_spawner_real = {
	.prepare = real_prepare,
	.spawn = real_spawn,
	.data = NULL,
};

int
supervisor_init(struct supervisor *sv, const struct berth_root *r,
    const struct sv_spawner *sp)
{
	char rnd[9];

	memset(sv, 0, sizeof(*sv));
	pthread_mutex_init(&sv->lock, NULL);
	sv->root = r;
	sv->spawner = *sp;
	sv->accepts = real_accepts;
	if (pipe2(sv->wake, O_NONBLOCK | O_CLOEXEC) < 0)
		return berth_error_errno("cannot create a pipe");
	/* Start anywhere in the port range, so berthds that share a range
	 * (tests) rarely race for the same port. */
	if (random_hex(rnd, 4) == 0)
		sv->next_port = (int)(strtoul(rnd, NULL, 16) % 100000);
	return 0;
}

void
supervisor_wake(struct supervisor *sv)
{
	ssize_t n = write(sv->wake[1], "x", 1);

	(void)n;
}

/* ---- dynos ---- */

void
sv_dyno_name(const struct sv_dyno *d, char buf[64])
{
	snprintf(buf, 64, "%s.%d", d->type, d->index);
}

int
sv_dyno_matches(const struct sv_dyno *d, const char *target)
{
	char name[64];

	if (target == NULL)
		return 1;
	if (strchr(target, '.') == NULL)
		return strcmp(d->type, target) == 0;
	sv_dyno_name(d, name);
	return strcmp(name, target) == 0;
}

/*
 * Try port on 127.0.0.1: bind it (is it free?) or connect to it (does a
 * dyno accept on it?). 1 when that worked.
 */
static int
loopback_try(int port, int (*op)(int, const struct sockaddr *, socklen_t))
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = op(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static int
port_free(int port)
{
	return loopback_try(port, bind);
}

/* bind() as a server does (SO_REUSEADDR): only a holder makes it fail. */
static int
bind_reuse(int fd, const struct sockaddr *sa, socklen_t len)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return bind(fd, sa, len);
}

/* connect(), where connecting to itself is no listener (util.h). */
static int
connect_other(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (connect(fd, sa, len) < 0)
		return -1;
	return socket_connected_to_self(fd) ? -1 : 0;
}

int
sv_port_accepts(int port)
{
	return loopback_try(port, connect_other);
}

/* A port no dyno holds and nothing listens on (sv->lock held). */
static int
port_alloc(struct supervisor *sv)
{
	const struct berth_config *cfg = &sv->root->cfg;
	int span = cfg->port_max - cfg->port_min + 1, i;

	for (i = 0; i < span; i++) {
		int port = cfg->port_min + (sv->next_port++ % span);
		struct sv_dyno *d;

		for (d = sv->dynos; d != NULL; d = d->next)
			if (d->port == port)
				break;
		if (d == NULL && port_free(port))
			return port;
	}
	return berth_error("no free port in %d-%d (berth.ini [runtime] "
	    "port_min, port_max)", cfg->port_min, cfg->port_max);
}

int
sv_dyno_move_port(struct supervisor *sv, struct sv_dyno *d)
{
	char name[64];
	int port;

	/* A socket of its own lingering in TIME_WAIT is no holder. */
	if (d->state != SV_CRASHED || d->port <= 0 || d->restarting ||
	    d->restart_at > 0 || loopback_try(d->port, bind_reuse))
		return 0;
	port = port_alloc(sv);
	if (port < 0)
		return 0;
	sv_dyno_name(d, name);
	sv_app_event(d->app, name, "Port %d was taken by another process; "
	    "restarting on port %d", d->port, port);
	d->port = port;
	d->restart_at = now_ms();
	supervisor_wake(sv);
	return 1;
}

/* Its pidfd, or -1: then SIGCHLD tells of its exit (our child). */
static int
watch(pid_t pid)
{
	int fd = proc_pidfd(pid);

	if (fd < 0)
		berth_clear_error();
	return fd;
}

/*
 * Start d's process on its prepared dir. sv->lock is held on entry and
 * return, and dropped while the spawner runs (a monitor takes a few ms
 * to start); the caller has d pinned. -1 when it could not start: the
 * caller leaves d crashed. Stopped meanwhile, it is stopped at once.
 */
static int
dyno_exec(struct supervisor *sv, struct sv_dyno *d)
{
	struct dyno_spec spec = {
		.app = d->app->name,
		.type = d->type,
		.index = d->index,
		.port = d->port,
		.command = d->command,
		.rel = &d->rel,
		.commit = d->commit,
		.dir = &d->dir,
		.token = d->token,
		.sandboxed = d->app->sandboxed,
		.uid = d->app->uid,
		.limits = &d->limits,
	};
	struct monitor_proc proc;
	char name[64];
	int rc, fd = -1;

	sv_dyno_name(d, name);
	random_hex(d->token, 8);
	d->oom_killed = 0;
	sv_app_event(d->app, name, "Starting process with command `%s`",
	    d->command);
	/* No one reaps what we start before it is in d (reap_orphan). */
	sv->spawning++;
	pthread_mutex_unlock(&sv->lock);
	rc = sv->spawner.spawn(sv->spawner.data, sv->root, &spec, &proc);
	if (rc == 0)
		fd = watch(proc.pid);
	pthread_mutex_lock(&sv->lock);
	if (--sv->spawning == 0 && sv->reap_again)
		supervisor_wake(sv);
	if (rc < 0)
		return -1;
	d->pid = proc.pid;
	d->pidfd = fd;
	d->pgid = proc.pgid;
	d->out_fd = proc.out_fd;
	d->started_ms = now_ms();
	d->started_at = time(NULL);
	if (d->state == SV_STOPPING) {
		d->state = SV_STARTING;
		sv_dyno_stop(sv, d);
	} else {
		d->state = SV_STARTING;
		d->probe_at = d->rollout ? 0 : now_ms();
	}
	supervisor_wake(sv);
	return 0;
}

void
sv_release_copy(const struct release *from, struct release *to)
{
	memset(to, 0, sizeof(*to));
	to->id = from->id;
	to->app_id = from->app_id;
	to->version = from->version;
	to->slug_id = from->slug_id ? xstrdup(from->slug_id) : NULL;
	to->config = from->config ? xstrdup(from->config) : NULL;
}

struct sv_dyno *
sv_dyno_start(struct supervisor *sv, struct sv_app *a, const char *type,
    int index, int64_t memory)
{
	struct sv_dyno *d = xcalloc(1, sizeof(*d));
	const char *cmd;
	char name[64];

	d->type = xstrdup(type);
	d->index = index;
	d->limits.memory = memory > 0 ? memory : sv->root->cfg.dyno_memory;
	d->limits.pids = sv->root->cfg.dyno_pids;
	d->out_fd = d->pidfd = -1;
	d->app = a;
	d->rollout = 1;
	pthread_mutex_lock(&sv->lock);
	sv_release_copy(&a->rel, &d->rel);
	d->commit = a->commit ? xstrdup(a->commit) : NULL;
	/* The command comes from the release's slug types. */
	cmd = proctypes_get(&a->types, type);
	d->command = xstrdup(cmd != NULL ? cmd : "true");
	pthread_mutex_unlock(&sv->lock);
	sv_dyno_name(d, name);
	sv->spawner.prepare(sv->spawner.data, sv->root, a->name,
	    d->rel.slug_id, name, &d->dir);
	pthread_mutex_lock(&sv->lock);
	d->next = sv->dynos;
	sv->dynos = d;
	d->pins = 1;		/* the caller unpins */
	if (d->dir.path == NULL ||
	    (strcmp(type, "web") == 0 && (d->port = port_alloc(sv)) < 0) ||
	    dyno_exec(sv, d) < 0) {
		sv_app_event(a, name, "Cannot start: %s", berth_last_error());
		if (d->port < 0)
			d->port = 0;
		if (d->state != SV_STOPPING)
			d->state = SV_CRASHED;
		d->exit_code = -1;
	}
	pthread_mutex_unlock(&sv->lock);
	return d;
}

void
sv_dyno_stop(struct supervisor *sv, struct sv_dyno *d)
{
	char name[64];

	if (d->state == SV_STOPPING)
		return;
	sv_dyno_name(d, name);
	if (d->pid > 0) {
		sv_app_event(d->app, name, "Stopping all processes with "
		    "SIGTERM");
		/* Its monitor stops it, and SIGKILLs it at stop_timeout;
		 * we do, a little later, if the monitor did not. */
		kill(d->pid, SIGTERM);
		d->kill_at = now_ms() + (int64_t)sv->root->cfg.stop_timeout *
		    1000 + MONITOR_GRACE_MS;
	}
	d->state = SV_STOPPING;
	d->restart_at = 0;
	d->probe_at = 0;
	supervisor_wake(sv);
}

void
sv_dyno_go_live(struct supervisor *sv, struct sv_dyno *d)
{
	d->rollout = 0;
	if (d->state == SV_CRASHED && d->restart_at == 0 && !d->restarting)
		d->restart_at = now_ms() + sv_restart_delay(d->backoff);
	if (d->state == SV_STARTING && d->pid > 0)
		d->probe_at = now_ms();
	supervisor_wake(sv);
}

/* Keep the last lines of a dyno's output for failure reports. */
static void
tail_add(struct sv_dyno *d, const char *line)
{
	free(d->tail[d->tail_next]);
	d->tail[d->tail_next] = xstrdup(line);
	d->tail_next = (d->tail_next + 1) % SV_TAIL_LINES;
}

void
sv_dyno_tail(const struct sv_dyno *d, struct strbuf *out)
{
	int i;

	for (i = 0; i < SV_TAIL_LINES; i++) {
		const char *l = d->tail[(d->tail_next + i) % SV_TAIL_LINES];

		if (l != NULL)
			strbuf_addf(out, "\n  %s", l);
	}
}

static void
tail_line(const char *line, void *data)
{
	tail_add(data, line);
}

static void
close_output(struct sv_dyno *d)
{
	if (d->out_fd >= 0) {
		close(d->out_fd);
		d->out_fd = -1;
	}
}

/*
 * Read the copies of what the dyno wrote (sv->lock held); its monitor
 * writes the log. At EOF the pipe is closed.
 */
static void
dyno_read(struct sv_dyno *d)
{
	if (fd_read_lines(d->out_fd, &d->partial, tail_line, d))
		close_output(d);
}

static void
dyno_free(struct sv_dyno *d)
{
	int i;

	close_output(d);
	if (d->pidfd >= 0)
		close(d->pidfd);
	dyno_dir_remove(&d->dir);
	release_clear(&d->rel);
	free(d->commit);
	free(d->type);
	free(d->command);
	strbuf_release(&d->partial);
	for (i = 0; i < SV_TAIL_LINES; i++)
		free(d->tail[i]);
	free(d);
}

void
sv_pin(struct sv_dyno **ds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ds[i]->pins++;
}

void
sv_unpin(struct supervisor *sv, struct sv_dyno **ds, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	pthread_mutex_lock(&sv->lock);
	for (i = 0; i < n; i++)
		ds[i]->pins--;
	pthread_mutex_unlock(&sv->lock);
	supervisor_wake(sv);
}

int64_t
sv_restart_delay(int restarts)
{
	int64_t ms = restarts == 0 ? 0 : 1000LL << (restarts - 1 > 16 ?
	    16 : restarts - 1);

	return ms > RESTART_MAX_MS ? RESTART_MAX_MS : ms;
}

/* Whether any process of the dyno's group is left. */
static int
group_alive(const struct sv_dyno *d)
{
	return d->pgid > 0 && (kill(-d->pgid, 0) == 0 || errno == EPERM);
}

/* d's record, as its monitor wrote it last; -1 when there is none. */
static int
load_record(struct supervisor *sv, const struct sv_dyno *d,
    struct dyno_record *rec)
{
	char *path = monitor_record_path(sv->root, d->token);
	int rc = dyno_record_load(path, rec);

	free(path);
	return rc;
}

/*
 * How d's monitor ended, once it has: its exit status is the dyno's;
 * killed by a signal, it is lost (*lost), and what it watched may
 * still run. One that is not our child (adopted) wrote the dyno's exit
 * status in its record. 0 while it runs (sv->lock held).
 */
static int
monitor_ended(struct supervisor *sv, struct sv_dyno *d, int *code,
    int *lost)
{
	struct pollfd p = { d->pidfd, POLLIN, 0 };
	struct dyno_record rec;
	siginfo_t si;
	int status;

	*lost = 0;
	if (d->pidfd < 0) {
		/* Our child without a pidfd: SIGCHLD tells. */
		if (waitpid(d->pid, &status, WNOHANG) != d->pid)
			return 0;
		*lost = WIFSIGNALED(status);
		*code = WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status);
		return 1;
	}
	/* By its pidfd: never another process that got its pid since. */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)d->pidfd, &si, WEXITED | WNOHANG) == 0) {
		if (si.si_pid == 0)
			return 0;
		*lost = si.si_code != CLD_EXITED;
		*code = *lost ? 128 + si.si_status : si.si_status;
		return 1;
	}
	if (poll(&p, 1, 0) <= 0)
		return 0;
	*code = -1;
	if (load_record(sv, d, &rec) == 0) {
		*code = rec.exit_code;
		dyno_record_clear(&rec);
	}
	*lost = *code < 0;
	return 1;
}

/* Whether d's monitor recorded that the kernel killed it for memory. */
static int
oom_killed(struct supervisor *sv, const struct sv_dyno *d)
{
	struct dyno_record rec;
	int oom = 0;

	if (load_record(sv, d, &rec) == 0) {
		oom = rec.oom_killed;
		dyno_record_clear(&rec);
	}
	return oom;
}

/* SIGKILL what a lost monitor left of d (sv->lock held). */
static void
kill_remains(struct supervisor *sv, struct sv_dyno *d)
{
	struct dyno_record rec;
	char name[64];

	struct dyno_cgroup cg;

	sv_dyno_name(d, name);
	sv_app_event(d->app, name, "Its monitor was killed; stopping what "
	    "is left of it");
	if (load_record(sv, d, &rec) == 0) {
		dyno_record_kill(&rec);
		dyno_record_clear(&rec);
	} else
		dyno_kill_token(d->token);
	if (cgroup_find(sv->root, d->app->name, d->token, &cg) == 0)
		cgroup_destroy(&cg);
}

/* The dyno's monitor ended with code (event loop, sv->lock held). */
static void
dyno_exited(struct supervisor *sv, struct sv_dyno *d, int code, int lost)
{
	char name[64], *rec = monitor_record_path(sv->root, d->token);

	sv_dyno_name(d, name);
	if (lost)
		kill_remains(sv, d);
	else
		d->oom_killed = oom_killed(sv, d);
	unlink(rec);
	free(rec);
	d->exit_code = code;
	d->pid = 0;
	if (d->pidfd >= 0)
		close(d->pidfd);
	d->pidfd = -1;
	if (d->out_fd >= 0)
		dyno_read(d);
	close_output(d);
	/*
	 * Stopping: its monitor waited for the group (the shell may go
	 * first while the app it ran says goodbye); the event loop
	 * removes the dyno once nothing of its group is left.
	 */
	if (d->state == SV_STOPPING)
		return;
	d->pgid = 0;
	sv_app_event(d->app, name, "State changed from %s to crashed",
	    state_names[d->state]);
	/* A dyno that ran a good while before it crashed starts afresh. */
	if (now_ms() - d->started_ms > 60000)
		d->backoff = 0;
	d->state = SV_CRASHED;
	d->probe_at = 0;
	if (!d->rollout && !d->adopted)
		d->restart_at = now_ms() + sv_restart_delay(d->backoff);
	dyno_dir_remove(&d->dir);
}

/* Act on d's exit if its monitor has ended (sv->lock held). */
static void
dyno_collect(struct supervisor *sv, struct sv_dyno *d)
{
	int code, lost;

	if (d->pid > 0 && monitor_ended(sv, d, &code, &lost))
		dyno_exited(sv, d, code, lost);
}

struct restart_job {
	struct supervisor *sv;
	struct sv_dyno *d;
};

/*
 * Restart a crashed formation dyno whose back-off ran out: its
 * directory is prepared without sv->lock (it may be a slug copy), in a
 * thread of its own so the event loop keeps reading logs meanwhile. The
 * dyno is pinned and marked restarting until it is done.
 */
static void *
restart_thread(void *arg)
{
	struct restart_job *job = arg;
	struct supervisor *sv = job->sv;
	struct sv_dyno *d = job->d;
	struct dyno_dir dir = { NULL, NULL, NULL };
	char name[64];
	int rc;

	free(job);
	sv_dyno_name(d, name);
	rc = sv->spawner.prepare(sv->spawner.data, sv->root, d->app->name,
	    d->rel.slug_id, name, &dir);
	pthread_mutex_lock(&sv->lock);
	if (d->state != SV_CRASHED || d->app->destroyed) {
		/* Stopped while we prepared: it is not wanted any more. */
		dyno_dir_remove(&dir);
	} else if (rc < 0 || (d->dir = dir, dyno_exec(sv, d) < 0)) {
		sv_app_event(d->app, name, "Cannot restart: %s",
		    berth_last_error());
		dyno_dir_remove(&d->dir);
		if (d->state == SV_CRASHED)
			d->restart_at = now_ms() +
			    sv_restart_delay(d->backoff);
	} else
		sv_app_event(d->app, name, "Restarting (restart %d)",
		    d->restarts);
	/* Pinned until here: dyno_exec() lets go of the lock. */
	d->restarting = 0;
	d->pins--;
	pthread_mutex_unlock(&sv->lock);
	supervisor_wake(sv);
	return NULL;
}

/* Hand a due restart to a thread (event loop, sv->lock held). */
static void
dyno_restart(struct supervisor *sv, struct sv_dyno *d)
{
	struct restart_job *job = xcalloc(1, sizeof(*job));
	pthread_attr_t attr;
	pthread_t t;

	d->restart_at = 0;
	d->restarts++;
	d->backoff++;
	d->restarting = 1;
	d->pins++;
	job->sv = sv;
	job->d = d;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, restart_thread, job) != 0) {
		free(job);
		d->restarting = 0;
		d->pins--;
		d->restart_at = now_ms() + sv_restart_delay(d->backoff);
	}
	pthread_attr_destroy(&attr);
}

struct orphan_walk {
	struct supervisor *sv;
	pid_t self;
	int deferred;		/* a zombie was left for later */
};

/*
 * pid came to us as subreaper: a descendant of a dyno whose parent
 * died. One that carries the BERTH_DYNO_ID of a dyno that is gone
 * outlived its dyno (a double fork, a setsid daemon): kill it. One of a
 * live dyno is left alone. Zombies are reaped. Dynos, run_command()
 * children and nginx are never touched.
 */
static int
reap_orphan(pid_t pid, void *data)
{
	struct orphan_walk *w = data;
	struct sv_dyno *d;
	char id[32];

	if (proc_ppid(pid) != w->self)
		return 0;
	for (d = w->sv->dynos; d != NULL; d = d->next)
		if (d->pid == pid)
			return 0;
	if (run_command_owns(pid) || proc_comm_is(pid, "nginx"))
		return 0;
	/* One just started is not in its dyno yet: reaped later. */
	if (proc_zombie(pid)) {
		if (w->sv->spawning == 0)
			waitpid(pid, NULL, WNOHANG);
		else
			w->deferred = 1;
		return 0;
	}
	dyno_proc_token(pid, id);
	if (id[0] == '\0')
		return 0;
	for (d = w->sv->dynos; d != NULL; d = d->next)
		if ((d->pid > 0 || d->state == SV_STOPPING) &&
		    strcmp(d->token, id) == 0)
			return 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 0;
}

/*
 * After a SIGCHLD: exits of monitors we watch without a pidfd, and
 * orphans (event loop, sv->lock held).
 */
static void
reap(struct supervisor *sv)
{
	struct orphan_walk w = { sv, getpid(), 0 };
	struct sv_dyno *d;

	for (d = sv->dynos; d != NULL; d = d->next)
		if (d->pidfd < 0)
			dyno_collect(sv, d);
	proc_each(reap_orphan, &w);
	/* No SIGCHLD may come again: look once the starts are done. */
	sv->reap_again = w.deferred;
}

/* ---- ps ---- */

json_t *
sv_ps_json(struct supervisor *sv, struct sv_app *a)
{
	json_t *arr = json_array(), *o;
	struct sv_dyno *d;

	for (d = sv->dynos; a != NULL && d != NULL; d = d->next) {
		char name[64];

		if (d->app != a)
			continue;
		sv_dyno_name(d, name);
		o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:I, s:i, s:i, "
		    "s:I, s:I, s:i}", "name", name, "type", d->type, "index",
		    d->index, "state", d->rollout && d->state != SV_CRASHED ?
		    "booting" : state_names[d->state], "command", d->command,
		    "port", d->port, "release", (json_int_t)d->rel.version,
		    "restarts", d->restarts, "exit_code", d->exit_code,
		    "started_at", (json_int_t)d->started_at, "memory",
		    (json_int_t)d->limits.memory, "pids", d->limits.pids);
		/* Why it crashed, when berth knows (Heroku's words). */
		if (d->state == SV_CRASHED && d->oom_killed)
			json_object_set_new(o, "crash", json_string(
			    "out of memory"));
		json_array_append_new(arr, o);
	}
	return arr;
}

void
sv_counts(struct supervisor *sv, size_t *apps, size_t *dynos)
{
	struct sv_app *a;
	struct sv_dyno *d;

	*apps = *dynos = 0;
	for (a = sv->apps; a != NULL; a = a->next)
		(*apps)++;
	for (d = sv->dynos; d != NULL; d = d->next)
		(*dynos)++;
}

/* ---- the event loop ---- */

/* The next timer of a dyno: a restart, a SIGKILL, a probe; 0 = none. */
static int64_t
dyno_timer(const struct sv_dyno *d)
{
	if (d->state == SV_CRASHED)
		return d->restart_at;
	if (d->state == SV_STOPPING)
		return d->kill_at;
	if (d->state == SV_STARTING)
		return d->probe_at;
	return 0;
}

/* Add fd to the poll set for d. */
static void
poll_add(struct pollfd *pfds, struct sv_dyno **owners, size_t *n, int fd,
    struct sv_dyno *d)
{
	pfds[*n].fd = fd;
	pfds[*n].events = POLLIN;
	owners[(*n)++] = d;
}

int
supervisor_poll_fds(struct supervisor *sv, struct pollfd **pfds,
    struct sv_dyno ***owners, size_t *n, size_t *alloc, int64_t next_ms)
{
	int64_t next = next_ms, now;
	struct sv_dyno *d;
	size_t want = *n + 1;

	pthread_mutex_lock(&sv->lock);
	for (d = sv->dynos; d != NULL; d = d->next)
		want += 2;
	if (want > *alloc) {
		*alloc = want;
		*pfds = xrealloc(*pfds, want * sizeof(**pfds));
		*owners = xrealloc(*owners, want * sizeof(**owners));
	}
	poll_add(*pfds, *owners, n, sv->wake[0], NULL);
	for (d = sv->dynos; d != NULL; d = d->next) {
		int64_t t = dyno_timer(d);

		if (t > 0 && (next == 0 || t < next))
			next = t;
		if (d->out_fd >= 0)
			poll_add(*pfds, *owners, n, d->out_fd, d);
		if (d->pid > 0 && d->pidfd >= 0)
			poll_add(*pfds, *owners, n, d->pidfd, d);
	}
	pthread_mutex_unlock(&sv->lock);
	now = now_ms();
	return next == 0 ? -1 : next <= now ? 0 : (int)(next - now);
}

/*
 * A stopping dyno past its deadline (sv->lock held): its monitor did
 * not end it, so it goes, and the monitor with it.
 */
static void
dyno_kill_late(struct sv_dyno *d)
{
	if (d->pgid > 0)
		kill(-d->pgid, SIGKILL);
	if (d->pid > 0)
		kill(d->pid, SIGKILL);
	d->kill_at = 0;
	/* What an escapee still holds open is dropped. */
	if (d->pid == 0 && d->out_fd >= 0) {
		dyno_read(d);
		close_output(d);
	}
}

/* Unlink and free stopped dynos nobody holds (sv->lock held). */
static void
remove_stopped(struct supervisor *sv)
{
	struct sv_dyno **pp = &sv->dynos;

	while (*pp != NULL) {
		struct sv_dyno *d = *pp;

		if (d->state == SV_STOPPING && d->pid == 0 && d->pins == 0 &&
		    d->out_fd < 0 && !group_alive(d)) {
			*pp = d->next;
			dyno_free(d);
		} else
			pp = &d->next;
	}
}

/* Whether d waits to be found up (it started outside a rollout). */
static int
probe_due(const struct sv_dyno *d, int64_t now)
{
	return d->state == SV_STARTING && d->probe_at > 0 &&
	    d->probe_at <= now && !d->rollout && !d->adopted && d->pid > 0;
}

/*
 * A formation dyno that started outside a rollout (a crash restart, an
 * adopted one) is up once it runs, or for a web dyno once it accepts
 * connections on its port. The connects happen without sv->lock (one
 * to a dyno whose backlog is full can wait), the dynos pinned meanwhile
 * (sv->lock held on entry and return).
 */
static void
run_probes(struct supervisor *sv)
{
	int64_t now = now_ms();
	struct sv_dyno **due = NULL, *d;
	int *up = NULL;
	size_t n = 0, i;

	for (d = sv->dynos; d != NULL; d = d->next)
		if (probe_due(d, now)) {
			due = xrealloc(due, (n + 1) * sizeof(*due));
			due[n++] = d;
		}
	if (n == 0)
		return;
	sv_pin(due, n);
	up = xcalloc(n, sizeof(*up));
	pthread_mutex_unlock(&sv->lock);
	for (i = 0; i < n; i++)
		up[i] = strcmp(due[i]->type, "web") != 0 || due[i]->port == 0 ||
		    sv->accepts(sv->accepts_data, due[i]->port);
	pthread_mutex_lock(&sv->lock);
	for (i = 0; i < n; i++) {
		char name[64];

		d = due[i];
		d->pins--;
		if (!probe_due(d, now))
			continue;
		if (!up[i]) {
			d->probe_at = now + (now - d->started_ms <
			    (int64_t)sv->root->cfg.boot_timeout * 1000 ?
			    PROBE_MS : PROBE_SLOW_MS);
			continue;
		}
		d->state = SV_UP;
		d->probe_at = 0;
		sv_dyno_name(d, name);
		sv_app_event(d->app, name, "State changed from starting to up");
	}
	free(up);
	free(due);
}

/* Restarts and SIGKILLs that are due (sv->lock held). */
static void
run_timers(struct supervisor *sv)
{
	int64_t now = now_ms();
	struct sv_dyno *d;

	for (d = sv->dynos; d != NULL; d = d->next) {
		int64_t t = dyno_timer(d);

		if (t == 0 || t > now)
			continue;
		if (d->state == SV_CRASHED && !d->restarting)
			dyno_restart(sv, d);
		else if (d->state == SV_STOPPING)
			dyno_kill_late(d);
	}
}

void
supervisor_poll_done(struct supervisor *sv, struct pollfd *pfds,
    struct sv_dyno **owners, size_t n, int got_chld)
{
	size_t i;

	pthread_mutex_lock(&sv->lock);
	for (i = 0; i < n; i++) {
		if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (pfds[i].fd == sv->wake[0]) {
			char buf[64];

			while (read(sv->wake[0], buf, sizeof(buf)) > 0)
				;
		} else if (owners[i] != NULL &&
		    pfds[i].fd == owners[i]->out_fd)
			dyno_read(owners[i]);
	}
	/* Exits after reading, so a dyno's last lines are in its tail. */
	for (i = 0; i < n; i++)
		if ((pfds[i].revents & POLLIN) && owners[i] != NULL &&
		    pfds[i].fd == owners[i]->pidfd)
			dyno_collect(sv, owners[i]);
	if (got_chld || (sv->reap_again && sv->spawning == 0))
		reap(sv);
	run_timers(sv);
	run_probes(sv);
	remove_stopped(sv);
	pthread_mutex_unlock(&sv->lock);
}

/* ---- shutdown ---- */

void
supervisor_stop_all(struct supervisor *sv)
{
	int64_t deadline;
	struct sv_dyno *d;

	pthread_mutex_lock(&sv->lock);
	for (d = sv->dynos; d != NULL; d = d->next)
		sv_dyno_stop(sv, d);
	pthread_mutex_unlock(&sv->lock);
	deadline = now_ms() + (int64_t)sv->root->cfg.stop_timeout * 1000 +
	    MONITOR_GRACE_MS;
	for (;;) {
		int left = 0, late = now_ms() >= deadline;

		pthread_mutex_lock(&sv->lock);
		reap(sv);
		for (d = sv->dynos; d != NULL; d = d->next) {
			if (d->out_fd >= 0)
				dyno_read(d);
			dyno_collect(sv, d);
			/* A pinned dyno is still in another thread's hands (a
			 * crash restart in flight): clearing it now would free
			 * it under that thread. */
			if (d->pid == 0 && d->pins == 0 && !group_alive(d))
				continue;
			left++;
			if (late)
				dyno_kill_late(d);
		}
		pthread_mutex_unlock(&sv->lock);
		if (left == 0 || now_ms() >= deadline + 5000)
			break;
		poll(NULL, 0, 20);
	}
}

void
supervisor_clear(struct supervisor *sv)
{
	while (sv->dynos != NULL) {
		struct sv_dyno *d = sv->dynos;

		sv->dynos = d->next;
		dyno_free(d);
	}
	while (sv->apps != NULL) {
		struct sv_app *a = sv->apps;

		sv->apps = a->next;
		release_clear(&a->rel);
		free(a->commit);
		proctypes_clear(&a->types);
		if (a->log != NULL)
			applog_close(a->log);
		pthread_cond_destroy(&a->op_turn);
		free(a->name);
		free(a);
	}
	if (sv->wake[0] > 0)
		close(sv->wake[0]);
	if (sv->wake[1] > 0)
		close(sv->wake[1]);
	pthread_mutex_destroy(&sv->lock);
}
