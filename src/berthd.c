/*
 * berthd.c - the daemon. It is the only process that starts or stops
 * dynos: it reads the desired state from the ledger (each app's current
 * release and formation), converges the running dynos to it, owns the
 * router (its own nginx), captures dyno output into the app logs, and
 * restarts crashed dynos with back-off.
 *
 * Threads: the main thread runs one poll() loop over the control socket,
 * a signalfd (SIGCHLD, SIGTERM, SIGINT) and every dyno's output pipe, and
 * wakes only for I/O or for the next timer (a restart after back-off, a
 * SIGKILL after stop_timeout): no polling. Each control connection gets
 * a thread of its own, so a rollout that waits for a dyno to boot never
 * stalls log capture. All shared state (apps, dynos) is guarded by
 * D.lock; only the main thread frees a dyno, and only once no client
 * thread has it pinned (a thread that keeps a dyno pointer across an
 * unlock pins it).
 *
 * Recovery: every dyno has a pid file under run/dynos/; a berthd that
 * starts after a crash (kill -9) stops the dynos those files name (after
 * checking the pid still belongs to them) before it converges again, so
 * nothing runs that berthd cannot account for.
 */
#include "appjson.h"
#include "applog.h"
#include "control.h"
#include "dyno.h"
#include "names.h"
#include "release.h"
#include "review.h"
#include "repo.h"
#include "root.h"
#include "router.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TAIL_LINES 20
#define RESTART_MAX_MS (5 * 60 * 1000)

enum dstate { D_STARTING, D_UP, D_CRASHED, D_STOPPING };

static const char *const state_names[] = {
	"starting", "up", "crashed", "stopping",
};

struct appst;

struct dyno {
	struct dyno *next;
	struct appst *app;
	char *type;
	int index;
	char *command;
	struct release rel;	/* its own copy: id, version, slug, config */
	char *commit;		/* its slug's commit */
	pid_t pid;		/* 0 once reaped */
	pid_t pgid;		/* its process group (its first pid) */
	int port;
	int out_fd;		/* -1 once closed */
	struct dyno_dir dir;	/* dir.path NULL when it has none */
	enum dstate state;
	int rollout;		/* started by a rollout not yet switched */
	int64_t started_ms;	/* monotonic */
	time_t started_at;	/* wall clock, for ps */
	int64_t restart_at;	/* crashed: when to restart */
	int64_t kill_at;	/* stopping: when to SIGKILL */
	int restarts;		/* shown by ps */
	int backoff;		/* crashes in a row, for the back-off */
	int pins;		/* client threads holding a pointer to it */
	char token[20];		/* BERTH_DYNO_ID of its current process */
	int exit_code;
	struct strbuf partial;
	char *tail[TAIL_LINES];
	int tail_next;
};

struct appst {
	struct appst *next;
	char *name;
	int64_t id;
	struct release rel;	/* current release; rel.id 0 = none */
	char *commit;		/* its slug's commit */
	struct proctypes types;
	struct applog *log;
	int rolling;
	int deploying;		/* a deploy request holds the app */
	int destroyed;		/* apps:destroy: no more dynos */
	int stopped;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t deploy_done;	/* an app's deploying went to 0 */
	pthread_mutex_t router_lock;
	struct berth_root root;
	struct appst *apps;
	struct dyno *dynos;
	struct router *router;
	int wake[2];
	int listen_fd;
	int sig_fd;
	int pid_fd;
	volatile int stopping;
	time_t started_at;
	int next_port;
	int foreground;
	int64_t next_review_check;	/* monotonic ms */
	int reaping;			/* a reaper thread runs */
} D;

static void
wake_main(void)
{
	ssize_t n = write(D.wake[1], "x", 1);

	(void)n;
}

/* berthd's own log: stderr (redirected to run/berthd.log by default). */
static void
say(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);

static void
say(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	char ts[32];
	va_list ap;

	now_iso(ts);
	strbuf_addf(&sb, "%s berthd[%ld]: ", ts, (long)getpid());
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addch(&sb, '\n');
	fputs(sb.buf, stderr);
	fflush(stderr);
	strbuf_release(&sb);
}

/* A platform line in the app's log. Call with D.lock held. */
static void
app_event(struct appst *a, const char *proc, const char *fmt, ...)
    BERTH_ATTR_PRINTF(3, 4);

static void
app_event(struct appst *a, const char *proc, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (a->log != NULL)
		applog_write(a->log, "berth", proc, sb.buf);
	strbuf_release(&sb);
}

/* ---- apps ---- */

/* The live (not destroyed) app of that name (D.lock held). */
static struct appst *
app_find(const char *name)
{
	struct appst *a;

	for (a = D.apps; a != NULL; a = a->next)
		if (!a->destroyed && strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/*
 * Find or add the app by its ledger id (D.lock held): a name can come
 * back after its app was destroyed, as a new app with a new id.
 */
static struct appst *
app_get(const char *name, int64_t id)
{
	struct appst *a;

	for (a = D.apps; a != NULL; a = a->next)
		if (a->id == id)
			return a;
	a = xcalloc(1, sizeof(*a));
	a->name = xstrdup(name);
	a->id = id;
	if (applog_open(&D.root, name, &a->log) < 0) {
		say("cannot open the log of %s: %s", name, berth_last_error());
		a->log = NULL;
	}
	a->next = D.apps;
	D.apps = a;
	return a;
}

/*
 * Wait until no deploy or rollout of the app is under way (D.lock
 * held; it is released while waiting).
 */
static void
app_wait_idle(struct appst *a)
{
	while (a->deploying || a->rolling)
		pthread_cond_wait(&D.deploy_done, &D.lock);
}

/* Make rel (with its slug's commit and types) the app's current one. */
static void
app_set_release(struct appst *a, struct release *rel, const char *commit,
    struct proctypes *types)
{
	release_clear(&a->rel);
	a->rel = *rel;
	memset(rel, 0, sizeof(*rel));
	free(a->commit);
	a->commit = commit != NULL ? xstrdup(commit) : NULL;
	proctypes_clear(&a->types);
	a->types = *types;
	memset(types, 0, sizeof(*types));
}

/* ---- dynos ---- */

static char *
dyno_name(const struct dyno *d)
{
	return xasprintf("%s.%d", d->type, d->index);
}

static char *
pid_file(const struct dyno *d)
{
	return root_pathf(&D.root, "run/dynos/%s.%s.%d.%ld", d->app->name,
	    d->type, d->index, (long)d->pid);
}

/*
 * Field n (1-based, as in proc(5): 4 is the ppid, 22 the start time in
 * clock ticks) of /proc/PID/stat; 0 when the process is gone.
 */
static unsigned long long
proc_stat_field(pid_t pid, int field)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	int i;

	if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	/* The command name (field 2) may hold spaces: start after it. */
	p = strrchr(buf, ')');
	for (i = 2; i < field && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

static unsigned long long
proc_start_time(pid_t pid)
{
	return proc_stat_field(pid, 22);
}

static void
write_pid_file(const struct dyno *d)
{
	char *path = pid_file(d), buf[64];
	int n = snprintf(buf, sizeof(buf), "%ld %llu\n", (long)d->pid,
	    proc_start_time(d->pid));

	write_file_atomic(path, buf, (size_t)n, 0600);
	free(path);
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

/* A port no dyno holds and nothing listens on (D.lock held). */
static int
port_alloc(void)
{
	int span = D.root.cfg.port_max - D.root.cfg.port_min + 1, i;

	for (i = 0; i < span; i++) {
		int port = D.root.cfg.port_min + (D.next_port++ % span);
		struct dyno *d;

		for (d = D.dynos; d != NULL; d = d->next)
			if (d->port == port)
				break;
		if (d == NULL && port_free(port))
			return port;
	}
	return berth_error("no free port in %d-%d (berth.ini [runtime] "
	    "port_min, port_max)", D.root.cfg.port_min, D.root.cfg.port_max);
}

/*
 * Spawn d's process on its prepared dir (D.lock held). On failure d is
 * left crashed with a reason in its log.
 */
static int
dyno_exec(struct dyno *d)
{
	struct dyno_spec spec;
	int pipefd[2];
	char *name = dyno_name(d);
	int ret = -1;

	memset(&spec, 0, sizeof(spec));
	spec.app = d->app->name;
	spec.type = d->type;
	spec.index = d->index;
	spec.port = d->port;
	spec.command = d->command;
	spec.rel = &d->rel;
	spec.commit = d->commit;
	spec.dir = &d->dir;
	random_hex(d->token, 8);
	spec.token = d->token;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		berth_error_errno("cannot start %s", name);
		goto out;
	}
	d->pid = dyno_spawn(&spec, -1, pipefd[1], 1);
	d->pgid = d->pid > 0 ? d->pid : 0;
	close(pipefd[1]);
	if (d->pid < 0) {
		d->pid = 0;
		close(pipefd[0]);
		goto out;
	}
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	d->out_fd = pipefd[0];
	d->state = D_STARTING;
	d->started_ms = now_ms();
	d->started_at = time(NULL);
	write_pid_file(d);
	app_event(d->app, name, "Starting process with command `%s`%s",
	    d->command, d->port ? "" : "");
	ret = 0;
out:
	free(name);
	wake_main();
	return ret;
}

/* A copy of what a dyno needs of its release (D.lock held). */
static void
release_copy(const struct release *from, struct release *to)
{
	memset(to, 0, sizeof(*to));
	to->id = from->id;
	to->app_id = from->app_id;
	to->version = from->version;
	to->slug_id = from->slug_id ? xstrdup(from->slug_id) : NULL;
	to->config = from->config ? xstrdup(from->config) : NULL;
}

/*
 * Create and start a dyno of the app's release as it is now (the current
 * one, or the one a rollout is starting; rollout marks the dyno as not
 * yet live). The dyno keeps its own copy of the release, so a restart
 * after a crash runs what it ran before. D.lock NOT held: preparing the
 * directory may copy the slug.
 */
static struct dyno *
dyno_start(struct appst *a, const char *type, int index, int rollout)
{
	struct dyno *d = xcalloc(1, sizeof(*d));
	char *name;

	d->type = xstrdup(type);
	d->index = index;
	d->out_fd = -1;
	d->app = a;
	d->rollout = rollout;
	pthread_mutex_lock(&D.lock);
	release_copy(&a->rel, &d->rel);
	d->commit = a->commit ? xstrdup(a->commit) : NULL;
	pthread_mutex_unlock(&D.lock);
	name = dyno_name(d);
	dyno_dir_prepare(&D.root, a->name, d->rel.slug_id, name, &d->dir);
	pthread_mutex_lock(&D.lock);
	{
		const char *cmd = NULL;
		size_t i;

		/* The command comes from the release's slug types. */
		for (i = 0; i < a->types.nr; i++)
			if (strcmp(a->types.items[i].name, type) == 0)
				cmd = a->types.items[i].command;
		d->command = xstrdup(cmd != NULL ? cmd : "true");
	}
	d->next = D.dynos;
	D.dynos = d;
	d->pins = 1;		/* the caller unpins */
	if (d->dir.path == NULL) {
		app_event(a, name, "Cannot start: %s", berth_last_error());
		d->state = D_CRASHED;
		d->exit_code = -1;
	} else if (strcmp(type, "web") == 0 && (d->port = port_alloc()) < 0) {
		app_event(a, name, "Cannot start: %s", berth_last_error());
		d->port = 0;
		d->state = D_CRASHED;
	} else if (dyno_exec(d) < 0) {
		app_event(a, name, "Cannot start: %s", berth_last_error());
		d->state = D_CRASHED;
	}
	pthread_mutex_unlock(&D.lock);
	free(name);
	return d;
}

/* SIGTERM the dyno's group; SIGKILL at stop_timeout (D.lock held). */
static void
dyno_stop(struct dyno *d)
{
	char *name = dyno_name(d);

	if (d->state == D_STOPPING) {
		free(name);
		return;
	}
	if (d->pid > 0) {
		app_event(d->app, name, "Stopping all processes with SIGTERM");
		kill(-d->pgid, SIGTERM);
		d->kill_at = now_ms() + (int64_t)D.root.cfg.stop_timeout * 1000;
	}
	d->state = D_STOPPING;
	d->restart_at = 0;
	free(name);
	wake_main();
}

/* Keep the last lines of a dyno's output for failure reports. */
static void
tail_add(struct dyno *d, const char *line)
{
	free(d->tail[d->tail_next]);
	d->tail[d->tail_next] = xstrdup(line);
	d->tail_next = (d->tail_next + 1) % TAIL_LINES;
}

static void
tail_format(const struct dyno *d, struct strbuf *out)
{
	int i;

	for (i = 0; i < TAIL_LINES; i++) {
		const char *l = d->tail[(d->tail_next + i) % TAIL_LINES];

		if (l != NULL)
			strbuf_addf(out, "\n  %s", l);
	}
}

static void
dyno_line(struct dyno *d, const char *line)
{
	char *name = dyno_name(d);

	if (d->app->log != NULL)
		applog_write(d->app->log, "app", name, line);
	tail_add(d, line);
	free(name);
}

/* Read what the dyno wrote (D.lock held). At EOF the pipe is closed. */
static void
dyno_read(struct dyno *d)
{
	char buf[8192];
	ssize_t n;

	while ((n = read(d->out_fd, buf, sizeof(buf))) > 0) {
		char *start, *nl;

		strbuf_add(&d->partial, buf, (size_t)n);
		start = d->partial.buf;
		while ((nl = memchr(start, '\n', d->partial.len -
		    (size_t)(start - d->partial.buf))) != NULL) {
			*nl = '\0';
			dyno_line(d, start);
			start = nl + 1;
		}
		n = (ssize_t)(start - d->partial.buf);
		memmove(d->partial.buf, start, d->partial.len - (size_t)n);
		d->partial.len -= (size_t)n;
		d->partial.buf[d->partial.len] = '\0';
		if (d->partial.len > 65536) {
			dyno_line(d, d->partial.buf);
			strbuf_reset(&d->partial);
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		if (d->partial.len > 0)
			dyno_line(d, d->partial.buf);
		strbuf_reset(&d->partial);
		close(d->out_fd);
		d->out_fd = -1;
	}
}

static void
dyno_free(struct dyno *d)
{
	int i;

	if (d->out_fd >= 0)
		close(d->out_fd);
	dyno_dir_remove(&d->dir);
	release_clear(&d->rel);
	free(d->commit);
	free(d->type);
	free(d->command);
	strbuf_release(&d->partial);
	for (i = 0; i < TAIL_LINES; i++)
		free(d->tail[i]);
	free(d);
}

/* Unlink d from the list and free it (main thread, D.lock held). */
static void
dyno_remove(struct dyno *d)
{
	struct dyno **pp;

	for (pp = &D.dynos; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	dyno_free(d);
}

/* Pin dynos a client thread keeps across unlocks (D.lock held). */
static void
pin_all(struct dyno **ds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ds[i]->pins++;
}

/* Let go of them; the main loop frees stopped ones (D.lock NOT held). */
static void
unpin_all(struct dyno **ds, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	pthread_mutex_lock(&D.lock);
	for (i = 0; i < n; i++)
		ds[i]->pins--;
	pthread_mutex_unlock(&D.lock);
	wake_main();
}

/* Back-off before the nth restart: 0 s, then 1, 2, 4 ... 300 s. */
static int64_t
restart_delay(int restarts)
{
	int64_t ms = restarts == 0 ? 0 : 1000LL << (restarts - 1 > 16 ?
	    16 : restarts - 1);

	return ms > RESTART_MAX_MS ? RESTART_MAX_MS : ms;
}

/* Whether any process of the dyno's group is left. */
static int
group_alive(const struct dyno *d)
{
	return d->pgid > 0 && (kill(-d->pgid, 0) == 0 || errno == EPERM);
}

/* A dyno's process ended (main thread, D.lock held). */
static void
dyno_exited(struct dyno *d, int status)
{
	char *name = dyno_name(d), *pf = pid_file(d);

	unlink(pf);
	free(pf);
	d->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
	d->pid = 0;
	if (d->out_fd >= 0)
		dyno_read(d);
	if (d->state == D_STOPPING) {
		/*
		 * Stopping: the shell may go first while the app it ran
		 * still finishes its requests and says goodbye; the group
		 * has until kill_at, and the main loop removes the dyno once
		 * the group is empty and its output read.
		 */
		app_event(d->app, name, "Process exited with status %d",
		    d->exit_code);
		free(name);
		return;
	}
	/* Crashed: whatever it left in its group goes too. */
	kill(-d->pgid, SIGKILL);
	d->pgid = 0;
	if (d->out_fd >= 0) {
		close(d->out_fd);
		d->out_fd = -1;
	}
	app_event(d->app, name, "Process exited with status %d", d->exit_code);
	app_event(d->app, name, "State changed from %s to crashed",
	    state_names[d->state]);
	/* A dyno that ran a good while before it crashed starts afresh. */
	if (now_ms() - d->started_ms > 60000)
		d->backoff = 0;
	d->state = D_CRASHED;
	if (!d->rollout) {
		d->restart_at = now_ms() + restart_delay(d->backoff);
		if (d->restart_at <= now_ms())
			d->restart_at = now_ms() + 1;
	}
	dyno_dir_remove(&d->dir);
	free(name);
}

/* Restart a crashed formation dyno whose back-off ran out (main). */
static void
dyno_restart(struct dyno *d)
{
	char *name = dyno_name(d);

	d->restart_at = 0;
	d->restarts++;
	d->backoff++;
	if (dyno_dir_prepare(&D.root, d->app->name, d->rel.slug_id, name,
	    &d->dir) < 0 || dyno_exec(d) < 0) {
		app_event(d->app, name, "Cannot restart: %s",
		    berth_last_error());
		d->restart_at = now_ms() + restart_delay(d->backoff);
	} else
		app_event(d->app, name, "Restarting (restart %d)",
		    d->restarts);
	free(name);
}

/* Whether /proc/PID/comm is name. */
static int
proc_is(pid_t pid, const char *name)
{
	char comm[64];

	if (proc_read(pid, "comm", comm, sizeof(comm)) <= 0)
		return 0;
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, name) == 0;
}

/* Parent pid of pid from /proc, 0 if gone. */
static pid_t
proc_ppid(pid_t pid)
{
	return (pid_t)proc_stat_field(pid, 4);
}

/* Whether pid is a zombie. */
static int
proc_zombie(pid_t pid)
{
	char buf[512], *p;

	if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

/*
 * Processes that came to us as subreaper: descendants of dynos whose
 * parent died. One that carries the BERTH_DYNO_ID of a dyno that is gone
 * outlived its dyno (a double fork, a setsid daemon): kill it. One of a
 * live dyno is left alone. Zombies are reaped. Dynos, run_command()
 * children and nginx are never touched. (main thread, D.lock held)
 */
static void
reap_orphans(void)
{
	DIR *dp = opendir("/proc");
	struct dirent *de;
	pid_t self = getpid();

	while (dp != NULL && (de = readdir(dp)) != NULL) {
		pid_t pid = (pid_t)atol(de->d_name);
		struct dyno *d;
		char id[32];

		if (pid <= 0 || proc_ppid(pid) != self)
			continue;
		for (d = D.dynos; d != NULL; d = d->next)
			if (d->pid == pid)
				break;
		if (d != NULL || run_command_owns(pid) || proc_is(pid, "nginx"))
			continue;
		if (proc_zombie(pid)) {
			waitpid(pid, NULL, WNOHANG);
			continue;
		}
		dyno_proc_token(pid, id);
		if (id[0] == '\0')
			continue;
		for (d = D.dynos; d != NULL; d = d->next)
			if ((d->pid > 0 || d->state == D_STOPPING) &&
			    strcmp(d->token, id) == 0)
				break;
		if (d != NULL)
			continue;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (dp != NULL)
		closedir(dp);
}

/* Reap exited dynos and orphans (main thread, D.lock held). */
static void
reap(void)
{
	struct dyno *d, *next;
	int status;

	for (d = D.dynos; d != NULL; d = next) {
		next = d->next;
		if (d->pid > 0 && waitpid(d->pid, &status, WNOHANG) == d->pid)
			dyno_exited(d, status);
	}
	reap_orphans();
}

/* ---- web readiness ---- */

static int
port_accepts(int port)
{
	return loopback_try(port, connect);
}

static size_t
discard(char *p, size_t size, size_t n, void *data)
{
	(void)p;
	(void)data;
	return size * n;
}

/* GET hc->path on port; the HTTP status, or -1 (reason in berth_error). */
static long
health_get(int port, const struct healthcheck *hc)
{
	CURL *c = curl_easy_init();
	char url[512];
	long code = -1;
	CURLcode rc;

	if (c == NULL)
		return berth_error("cannot start a health check");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, hc->path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)hc->timeout * 1000);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	else
		berth_error("%s", curl_easy_strerror(rc));
	curl_easy_cleanup(c);
	return code;
}

/* Whether a health check answer is the one wanted. */
static int
health_ok(const struct healthcheck *hc, long code)
{
	return hc->status ? code == hc->status : code >= 200 && code < 400;
}

/*
 * Wait until every dyno in ds is up (web: accepts connections on its
 * port; others: still running). Returns 0, or -1 with berth_error()
 * naming the dyno that crashed or timed out and its last lines.
 */
static int
wait_up(struct dyno **ds, size_t n, int fd, const struct appjson *aj)
{
	int64_t deadline = now_ms() + (int64_t)D.root.cfg.boot_timeout * 1000;
	int *tries = xcalloc(n ? n : 1, sizeof(*tries));
	int64_t booted;
	int64_t *next_try = xcalloc(n ? n : 1, sizeof(*next_try));
	size_t i, up = 0;
	int ret = -1;

	while (up < n) {
		up = 0;
		for (i = 0; i < n; i++) {
			struct dyno *d = ds[i];
			int port, state, accepts;
			char *name;

			pthread_mutex_lock(&D.lock);
			state = d->state;
			port = d->port;
			pthread_mutex_unlock(&D.lock);
			if (state == D_UP) {
				up++;
				continue;
			}
			/* Only web dynos gate: a crashing worker restarts
			 * with back-off, visible in ps, as on Heroku. */
			if (strcmp(d->type, "web") != 0 && (state == D_CRASHED ||
			    state == D_STOPPING)) {
				up++;
				continue;
			}
			if (state == D_CRASHED || state == D_STOPPING) {
				struct strbuf sb = STRBUF_INIT;

				pthread_mutex_lock(&D.lock);
				name = dyno_name(d);
				strbuf_addf(&sb, "%s crashed during boot (exit "
				    "status %d); its last lines:", name,
				    d->exit_code);
				tail_format(d, &sb);
				pthread_mutex_unlock(&D.lock);
				berth_error("%s", sb.buf);
				strbuf_release(&sb);
				free(name);
				goto out;
			}
			accepts = strcmp(d->type, "web") != 0 ||
			    port_accepts(port);
			if (!accepts)
				continue;
			if (aj != NULL && port > 0 &&
			    appjson_check(aj, d->type) != NULL) {
				const struct healthcheck *hc =
				    appjson_check(aj, d->type);
				long code;

				/* A second between tries, as Dokku waits. */
				if (now_ms() < next_try[i])
					continue;
				next_try[i] = now_ms() + 1000;
				code = health_get(port, hc);

				if (!health_ok(hc, code)) {
					char got[64];

					if (code > 0)
						snprintf(got, sizeof(got),
						    "got HTTP %ld", code);
					else
						snprintf(got, sizeof(got), "%s",
						    berth_last_error());
					if (++tries[i] < hc->attempts)
						continue;
					pthread_mutex_lock(&D.lock);
					name = dyno_name(d);
					pthread_mutex_unlock(&D.lock);
					berth_error("%s failed its health check "
					    "GET %s after %d tries: %s (app.json "
					    "healthchecks.%s)", name, hc->path,
					    tries[i], got, d->type);
					free(name);
					goto out;
				}
			}
			pthread_mutex_lock(&D.lock);
			name = dyno_name(d);
			booted = -1;
			if (d->state == D_STARTING) {
				d->state = D_UP;
				app_event(d->app, name, "State changed from "
				    "starting to up");
				booted = now_ms() - d->started_ms;
				up++;
			}
			pthread_mutex_unlock(&D.lock);
			/* Never write to a client with D.lock held. */
			if (booted >= 0 && fd >= 0)
				control_progress(fd, "%s up (%.1fs)", name,
				    booted / 1000.0);
			free(name);
		}
		if (up == n)
			break;
		if (now_ms() > deadline) {
			for (i = 0; i < n; i++) {
				struct strbuf sb = STRBUF_INIT;
				char *name;

				pthread_mutex_lock(&D.lock);
				if (ds[i]->state == D_UP) {
					pthread_mutex_unlock(&D.lock);
					continue;
				}
				name = dyno_name(ds[i]);
				strbuf_addf(&sb, "%s did not accept connections "
				    "on $PORT (%d) within %d s (berth.ini "
				    "[runtime] boot_timeout); its last lines:",
				    name, ds[i]->port, D.root.cfg.boot_timeout);
				tail_format(ds[i], &sb);
				pthread_mutex_unlock(&D.lock);
				berth_error("%s", sb.buf);
				strbuf_release(&sb);
				free(name);
				goto out;
			}
		}
		poll(NULL, 0, 20);
	}
	ret = 0;
out:
	free(tries);
	free(next_try);
	return ret;
}

/* ---- router ---- */

/*
 * Point the router at the app's live web dynos, plus extra (dynos a
 * rollout is about to make live), minus except. D.lock NOT held.
 */
static int
route_app(struct appst *a, struct dyno **extra, size_t nextra,
    struct dyno **except, size_t nexcept)
{
	int *ports = NULL;
	size_t n = 0, i;
	struct dyno *d;
	int ret = 0;

	pthread_mutex_lock(&D.lock);
	for (d = D.dynos; d != NULL; d = d->next) {
		int skip = d->app != a || strcmp(d->type, "web") != 0 ||
		    d->rollout || d->state == D_STOPPING || d->port == 0;

		for (i = 0; !skip && i < nexcept; i++)
			if (except[i] == d)
				skip = 1;
		if (skip)
			continue;
		ports = xrealloc(ports, (n + 1) * sizeof(*ports));
		ports[n++] = d->port;
	}
	for (i = 0; i < nextra; i++)
		if (strcmp(extra[i]->type, "web") == 0 && extra[i]->port) {
			ports = xrealloc(ports, (n + 1) * sizeof(*ports));
			ports[n++] = extra[i]->port;
		}
	pthread_mutex_unlock(&D.lock);
	pthread_mutex_lock(&D.router_lock);
	if (D.router != NULL)
		ret = router_set(D.router, a->name, ports, n);
	pthread_mutex_unlock(&D.router_lock);
	if (ret < 0) {
		pthread_mutex_lock(&D.lock);
		app_event(a, "router", "Route not changed: %s",
		    berth_last_error());
		pthread_mutex_unlock(&D.lock);
	}
	free(ports);
	return ret;
}

/* ---- rollouts and convergence (control threads) ---- */

/* Whether dyno d matches target ("web", "web.1"; NULL matches all). */
static int
target_matches(const struct dyno *d, const char *target)
{
	char *name;
	int m;

	if (target == NULL)
		return 1;
	if (strchr(target, '.') == NULL)
		return strcmp(d->type, target) == 0;
	name = dyno_name(d);
	m = strcmp(name, target) == 0;
	free(name);
	return m;
}

/*
 * Replace the app's dynos that match target with new ones of release
 * rel_id (0 = the current release): start them, wait until they are up,
 * switch the router, stop the old ones. fd gets progress. On failure
 * the new dynos are stopped and the old ones keep serving.
 */
static int
rollout(struct ledger *db, const struct app *la, int64_t rel_id,
    const char *target, int fd)
{
	struct release rel;
	struct proctypes types;
	struct formation_item *form = NULL;
	struct dyno **fresh = NULL, **old = NULL, *d;
	size_t nform = 0, nfresh = 0, nold = 0, i;
	struct appst *a;
	char *commit = NULL;
	struct release prev;
	struct proctypes prev_types;
	char *prev_commit = NULL;
	int q, ret = -1;

	memset(&prev, 0, sizeof(prev));
	memset(&prev_types, 0, sizeof(prev_types));
	if (release_load(db, la->id, rel_id, &rel, &commit, &types) < 0)
		return -1;
	if (dyno_formation(db, la->id, &types, &form, &nform) < 0)
		goto out_release;

	pthread_mutex_lock(&D.lock);
	a = app_get(la->name, la->id);
	if (a->destroyed) {
		pthread_mutex_unlock(&D.lock);
		berth_error("%s was destroyed", la->name);
		goto out_release;
	}
	if (a->rolling) {
		pthread_mutex_unlock(&D.lock);
		berth_error("%s is being deployed already; try again when "
		    "that is done", la->name);
		goto out_release;
	}
	a->rolling = 1;
	/* New dynos run with the new release's config and types. */
	prev = a->rel;
	prev_commit = a->commit;
	prev_types = a->types;
	memset(&a->rel, 0, sizeof(a->rel));
	a->commit = NULL;
	memset(&a->types, 0, sizeof(a->types));
	app_set_release(a, &rel, commit, &types);
	if (a->log != NULL && rel_id != 0)
		app_event(a, "api", "Deploy v%d (%s)", a->rel.version,
		    a->rel.description);
	pthread_mutex_unlock(&D.lock);

	for (i = 0; i < nform; i++)
		for (q = 1; q <= form[i].quantity; q++) {
			struct dyno tmp;

			tmp.type = form[i].type;
			tmp.index = q;
			if (!target_matches(&tmp, target))
				continue;
			fresh = xrealloc(fresh, (nfresh + 1) * sizeof(*fresh));
			fresh[nfresh++] = dyno_start(a, form[i].type,
			    q, 1);
		}
	{
		struct appjson aj;
		char *slugdir = root_pathf(&D.root, "slugs/%s",
		    a->rel.slug_id);
		int rc = appjson_load(slugdir, &aj, NULL, NULL);

		free(slugdir);
		rc = wait_up(fresh, nfresh, fd, rc == 0 ? &aj : NULL);
		appjson_clear(&aj);
		if (rc < 0)
			goto fail;
	}

	/* The old dynos this rollout replaces. */
	pthread_mutex_lock(&D.lock);
	for (d = D.dynos; d != NULL; d = d->next) {
		int mine = 0;

		for (i = 0; i < nfresh; i++)
			if (fresh[i] == d)
				mine = 1;
		if (d->app == a && !mine && d->state != D_STOPPING &&
		    (target_matches(d, target) || rel_id != 0)) {
			old = xrealloc(old, (nold + 1) * sizeof(*old));
			old[nold++] = d;
		}
	}
	pin_all(old, nold);
	pthread_mutex_unlock(&D.lock);
	if (route_app(a, fresh, nfresh, old, nold) < 0)
		goto fail;
	/*
	 * Drain: nginx workers of the old configuration may still be
	 * proxying requests to the old dynos; stop those only once the
	 * workers are done (10 s at most, for long-lived connections).
	 */
	pthread_mutex_lock(&D.router_lock);
	if (D.router != NULL)
		router_drain(D.router, 10000);
	pthread_mutex_unlock(&D.router_lock);
	pthread_mutex_lock(&D.lock);
	for (i = 0; i < nfresh; i++)
		fresh[i]->rollout = 0;
	for (i = 0; i < nold; i++)
		dyno_stop(old[i]);
	a->rolling = 0;
	pthread_cond_broadcast(&D.deploy_done);
	a->stopped = 0;
	release_clear(&prev);
	free(prev_commit);
	proctypes_clear(&prev_types);
	pthread_mutex_unlock(&D.lock);
	if (fd >= 0 && nold > 0)
		control_progress(fd, "switched; %zu old dyno%s stopping", nold,
		    nold == 1 ? "" : "s");
	ret = 0;
	goto out;
fail:
	{
		char *why = xstrdup(berth_last_error());

		pthread_mutex_lock(&D.lock);
		for (i = 0; i < nfresh; i++)
			dyno_stop(fresh[i]);
		/* Back to the release that keeps serving. */
		release_clear(&a->rel);
		free(a->commit);
		proctypes_clear(&a->types);
		a->rel = prev;
		a->commit = prev_commit;
		a->types = prev_types;
		a->rolling = 0;
		pthread_cond_broadcast(&D.deploy_done);
		app_event(a, "api", "Rollout failed: %s", why);
		pthread_mutex_unlock(&D.lock);
		berth_error("%s", why);
		free(why);
	}
out:
	unpin_all(fresh, nfresh);
	unpin_all(old, nold);
	free(fresh);
	free(old);
	free(commit);
	formation_list_free(form, nform);
	return ret;
out_release:
	release_clear(&rel);
	free(commit);
	proctypes_clear(&types);
	formation_list_free(form, nform);
	return -1;
}

/*
 * Match the app's running dynos to its formation: start missing ones
 * (web ones join the router once up), stop extra ones (after leaving
 * the router). Used at start-up, after ps:scale and ps:start.
 */
static int
converge(struct ledger *db, const struct app *la, int fd)
{
	struct formation_item *form = NULL;
	struct dyno **fresh = NULL, **extra = NULL, *d;
	size_t nform = 0, nfresh = 0, nextra = 0, i;
	struct appst *a;
	int ret = 0, q;

	pthread_mutex_lock(&D.lock);
	a = app_get(la->name, la->id);
	app_wait_idle(a);
	if (a->destroyed) {
		pthread_mutex_unlock(&D.lock);
		return 0;
	}
	a->stopped = la->stopped;
	if (a->rel.id == 0) {
		struct release rel;
		struct proctypes types;
		char *commit = NULL;

		pthread_mutex_unlock(&D.lock);
		if (release_load(db, la->id, 0, &rel, &commit, &types) < 0)
			return 0;	/* nothing released yet */
		pthread_mutex_lock(&D.lock);
		app_set_release(a, &rel, commit, &types);
		free(commit);
	}
	pthread_mutex_unlock(&D.lock);
	if (dyno_formation(db, la->id, &a->types, &form, &nform) < 0)
		return -1;
	pthread_mutex_lock(&D.lock);
	if (a->stopped)
		for (i = 0; i < nform; i++)
			form[i].quantity = 0;
	for (d = D.dynos; d != NULL; d = d->next) {
		int want = 0;

		if (d->app != a || d->state == D_STOPPING || d->rollout)
			continue;
		for (i = 0; i < nform; i++)
			if (strcmp(form[i].type, d->type) == 0 &&
			    d->index <= form[i].quantity)
				want = 1;
		if (!want) {
			extra = xrealloc(extra, (nextra + 1) * sizeof(*extra));
			extra[nextra++] = d;
		}
	}
	pin_all(extra, nextra);
	pthread_mutex_unlock(&D.lock);
	if (nextra > 0) {
		route_app(a, NULL, 0, extra, nextra);
		pthread_mutex_lock(&D.router_lock);
		if (D.router != NULL)
			router_drain(D.router, 10000);
		pthread_mutex_unlock(&D.router_lock);
		pthread_mutex_lock(&D.lock);
		for (i = 0; i < nextra; i++)
			dyno_stop(extra[i]);
		pthread_mutex_unlock(&D.lock);
	}
	for (i = 0; i < nform; i++)
		for (q = 1; q <= form[i].quantity; q++) {
			int have = 0;

			pthread_mutex_lock(&D.lock);
			for (d = D.dynos; d != NULL; d = d->next)
				if (d->app == a && d->state != D_STOPPING &&
				    strcmp(d->type, form[i].type) == 0 &&
				    d->index == q)
					have = 1;
			pthread_mutex_unlock(&D.lock);
			if (have)
				continue;
			fresh = xrealloc(fresh, (nfresh + 1) * sizeof(*fresh));
			fresh[nfresh++] = dyno_start(a, form[i].type,
			    q, 1);
		}
	if (nfresh > 0) {
		ret = wait_up(fresh, nfresh, fd, NULL);
		pthread_mutex_lock(&D.lock);
		for (i = 0; i < nfresh; i++) {
			fresh[i]->rollout = 0;
			/*
			 * They are formation dynos now: one still booting
			 * goes on, one that crashed restarts with back-off.
			 */
			if (fresh[i]->state == D_CRASHED &&
			    fresh[i]->restart_at == 0)
				fresh[i]->restart_at = now_ms() +
				    restart_delay(fresh[i]->backoff);
		}
		pthread_mutex_unlock(&D.lock);
		wake_main();
	}
	if (nfresh > 0 || nextra > 0) {
		char *why = ret < 0 ? xstrdup(berth_last_error()) : NULL;

		route_app(a, NULL, 0, NULL, 0);
		if (why != NULL)
			berth_error("%s", why);
		free(why);
	}
	unpin_all(fresh, nfresh);
	unpin_all(extra, nextra);
	free(fresh);
	free(extra);
	formation_list_free(form, nform);
	return ret;
}

/* ---- control requests ---- */

struct client {
	int fd;
};

static json_t *
ps_json(struct appst *a)
{
	json_t *arr = json_array();
	struct dyno *d;

	for (d = D.dynos; d != NULL; d = d->next) {
		char *name;

		if (a == NULL || d->app != a)
			continue;
		name = dyno_name(d);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:s, "
		    "s:s, s:i, s:I, s:i, s:i, s:I}", "name", name, "type",
		    d->type, "index", d->index, "state",
		    d->rollout && d->state != D_CRASHED ? "booting" :
		    state_names[d->state], "command", d->command, "port",
		    d->port, "release", (json_int_t)d->rel.version, "restarts",
		    d->restarts, "exit_code", d->exit_code, "started_at",
		    (json_int_t)d->started_at));
		free(name);
	}
	return arr;
}

static json_t *
fail_json(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);

static json_t *
fail_json(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	j = json_pack("{s:b, s:s}", "ok", 0, "error", sb.buf);
	strbuf_release(&sb);
	return j;
}

/* Stream a release phase line to the client. */
static void
phase_line(const char *line, void *data)
{
	int fd = *(int *)data;

	if (fd >= 0)
		control_progress(fd, "%s", line);
}

/*
 * A deploy: run the pending release's release phase, roll it out, and
 * record how it ended. The release never stays pending: if the client
 * goes away, this thread still finishes it.
 */
static json_t *
do_deploy(struct ledger *db, const struct app *la, int64_t rel_id, int fd)
{
	struct release rel, prev;
	struct proctypes types;
	char *commit = NULL;
	int had_prev, rc;
	json_t *reply;
	struct appst *a;

	memset(&rel, 0, sizeof(rel));
	if (release_load(db, la->id, rel_id, &rel, &commit, &types) < 0)
		return fail_json("%s", berth_last_error());
	if (rel.app_id != la->id) {
		release_clear(&rel);
		free(commit);
		proctypes_clear(&types);
		return fail_json("release %lld is not one of %s",
		    (long long)rel_id, la->name);
	}
	/*
	 * One deploy of an app at a time, in the order they come: a client
	 * killed mid-deploy frees the pipeline's lock, but this thread goes
	 * on, and the next deploy must wait for it here.
	 */
	pthread_mutex_lock(&D.lock);
	a = app_get(la->name, la->id);
	while (a->deploying)
		pthread_cond_wait(&D.deploy_done, &D.lock);
	a->deploying = 1;
	pthread_mutex_unlock(&D.lock);
	memset(&prev, 0, sizeof(prev));
	had_prev = ledger_release_current(db, la->id, &prev) == 0;
	rc = 0;
	if (proctypes_get(&types, "release") != NULL) {
		control_progress(fd, "-----> Release phase: %s",
		    proctypes_get(&types, "release"));
		rc = release_phase(&D.root, la->name, &rel, commit, &types,
		    phase_line, &fd);
		pthread_mutex_lock(&D.lock);
		app_event(a, "release", "Release phase of v%d %s", rel.version,
		    rc == 0 ? "succeeded" : "failed");
		pthread_mutex_unlock(&D.lock);
	}
	if (rc >= 0) {
		control_progress(fd, "-----> Starting the dynos of v%d",
		    rel.version);
		rc = rollout(db, la, rel_id, NULL, fd);
	}
	if (rc >= 0) {
		release_settle(db, &rel, 1, NULL);
		if (la->stopped)
			ledger_app_set_stopped(db, la->id, 0);
		reply = json_pack("{s:b, s:i}", "ok", 1, "version",
		    rel.version);
	} else {
		char *why = xstrdup(berth_last_error());

		release_settle(db, &rel, 0, had_prev ? prev.config : NULL);
		reply = fail_json("%s", why);
		free(why);
	}
	pthread_mutex_lock(&D.lock);
	a->deploying = 0;
	pthread_cond_broadcast(&D.deploy_done);
	pthread_mutex_unlock(&D.lock);
	release_clear(&rel);
	free(commit);
	proctypes_clear(&types);
	if (had_prev)
		release_clear(&prev);
	return reply;
}

static json_t *
handle(json_t *req, int fd)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	const char *appname = json_string_value(json_object_get(req, "app"));
	const char *target = json_string_value(json_object_get(req, "target"));
	struct ledger *db = NULL;
	struct app la;
	json_t *reply = NULL;
	char *path;

	memset(&la, 0, sizeof(la));
	if (cmd == NULL)
		return fail_json("no cmd in request");
	if (strcmp(cmd, "status") == 0) {
		size_t napps = 0, ndynos = 0;
		struct appst *a;
		struct dyno *d;

		pthread_mutex_lock(&D.lock);
		for (a = D.apps; a != NULL; a = a->next)
			napps++;
		for (d = D.dynos; d != NULL; d = d->next)
			ndynos++;
		reply = json_pack("{s:b, s:i, s:I, s:I, s:I, s:b}", "ok", 1,
		    "pid", (int)getpid(), "started_at",
		    (json_int_t)D.started_at, "apps", (json_int_t)napps,
		    "dynos", (json_int_t)ndynos, "router", D.router != NULL);
		pthread_mutex_unlock(&D.lock);
		return reply;
	}
	if (strcmp(cmd, "shutdown") == 0) {
		D.stopping = 1;
		wake_main();
		return json_pack("{s:b}", "ok", 1);
	}
	if (appname == NULL || name_check_app(appname) < 0)
		return fail_json("bad or missing app in request");
	path = root_path(&D.root, "ledger.db");
	if (ledger_open(path, &db) < 0) {
		free(path);
		return fail_json("%s", berth_last_error());
	}
	free(path);
	if (strcmp(cmd, "destroy") == 0) {
		struct appst *a;
		struct dyno *d;

		pthread_mutex_lock(&D.lock);
		a = app_find(appname);
		if (a != NULL) {
			app_wait_idle(a);
			a->destroyed = 1;
		}
		for (d = D.dynos; a != NULL && d != NULL; d = d->next)
			if (d->app == a)
				dyno_stop(d);
		if (a != NULL && a->log != NULL) {
			applog_close(a->log);
			a->log = NULL;
		}
		pthread_mutex_unlock(&D.lock);
		pthread_mutex_lock(&D.router_lock);
		if (D.router != NULL)
			router_remove(D.router, appname);
		pthread_mutex_unlock(&D.router_lock);
		reply = json_pack("{s:b}", "ok", 1);
		goto out;
	}
	if (ledger_app_get(db, appname, &la) != 0) {
		reply = fail_json("%s", berth_last_error());
		goto out;
	}
	if (strcmp(cmd, "deploy") == 0) {
		json_t *id = json_object_get(req, "release_id");

		reply = json_is_integer(id) ? do_deploy(db, &la,
		    json_integer_value(id), fd) :
		    fail_json("deploy needs a release_id");
	} else if (strcmp(cmd, "scale") == 0 || strcmp(cmd, "start") == 0) {
		if (strcmp(cmd, "start") == 0) {
			ledger_app_set_stopped(db, la.id, 0);
			la.stopped = 0;
		}
		reply = converge(db, &la, fd) == 0 ?
		    json_pack("{s:b}", "ok", 1) :
		    fail_json("%s", berth_last_error());
	} else if (strcmp(cmd, "restart") == 0) {
		reply = rollout(db, &la, 0, target, fd) == 0 ?
		    json_pack("{s:b}", "ok", 1) :
		    fail_json("%s", berth_last_error());
	} else if (strcmp(cmd, "stop") == 0) {
		struct appst *a;
		struct dyno *d;
		int n = 0;

		if (target == NULL)
			ledger_app_set_stopped(db, la.id, 1);
		pthread_mutex_lock(&D.lock);
		a = app_get(la.name, la.id);
		app_wait_idle(a);
		if (target == NULL)
			a->stopped = 1;
		for (d = D.dynos; d != NULL; d = d->next)
			if (d->app == a && target_matches(d, target) &&
			    d->state != D_STOPPING) {
				n++;
				d->backoff = 0;
				if (target == NULL)
					dyno_stop(d);
				else if (d->pid > 0)
					/* Like Heroku: it comes back. */
					kill(-d->pid, SIGTERM);
			}
		pthread_mutex_unlock(&D.lock);
		if (target == NULL)
			route_app(a, NULL, 0, NULL, 0);
		reply = json_pack("{s:b, s:i}", "ok", 1, "stopped", n);
	} else if (strcmp(cmd, "ps") == 0) {
		pthread_mutex_lock(&D.lock);
		reply = json_pack("{s:b, s:o}", "ok", 1, "dynos",
		    ps_json(app_find(la.name)));
		pthread_mutex_unlock(&D.lock);
	} else
		reply = fail_json("unknown cmd %s", cmd);
out:
	app_clear(&la);
	ledger_close(db);
	return reply;
}

static void *
client_thread(void *arg)
{
	struct client *c = arg;
	json_t *req = NULL;

	if (control_read_request(c->fd, &req) == 0)
		control_send(c->fd, handle(req, c->fd));
	json_decref(req);
	close(c->fd);
	free(c);
	return NULL;
}

/* Converge every app at start-up, in a thread of its own. */
static void *
startup_thread(void *arg)
{
	struct ledger *db = NULL;
	struct app *apps = NULL;
	size_t napps = 0, i;
	char *path = root_path(&D.root, "ledger.db");

	(void)arg;
	if (ledger_open(path, &db) == 0 &&
	    ledger_app_list(db, 0, &apps, &napps) == 0) {
		for (i = 0; i < napps; i++) {
			/* Pending releases of a dead rollout stay failed. */
			ledger_release_fail_stale(db, apps[i].id);
			if (converge(db, &apps[i], -1) < 0)
				say("%s: %s", apps[i].name, berth_last_error());
		}
		say("converged %zu app%s", napps, napps == 1 ? "" : "s");
	} else
		say("start-up: %s", berth_last_error());
	app_list_free(apps, napps);
	ledger_close(db);
	free(path);
	return NULL;
}

/* ---- start-up, recovery, shutdown ---- */

/*
 * Stop the dynos a previous berthd left (its pid files), after checking
 * each pid still is that dyno (start time), so no orphan survives.
 */
static void
recover_orphans(void)
{
	char *dir = root_path(&D.root, "run/dynos");
	struct strvec files = STRVEC_INIT;
	pid_t *pids = NULL;
	size_t npids = 0, i;
	int64_t deadline;
	struct dirent *de;
	DIR *dp;

	mkdir_p(dir, 0700);
	dp = opendir(dir);
	while (dp != NULL && (de = readdir(dp)) != NULL) {
		struct strbuf sb = STRBUF_INIT;
		char *path;
		long pid = 0;
		unsigned long long start = 0;

		if (de->d_name[0] == '.')
			continue;
		path = path_join(dir, de->d_name);
		if (read_file(path, &sb, 4096) == 0 &&
		    sscanf(strbuf_str(&sb), "%ld %llu", &pid, &start) == 2 &&
		    pid > 1 && proc_start_time((pid_t)pid) == start) {
			kill(-(pid_t)pid, SIGTERM);
			pids = xrealloc(pids, (npids + 1) * sizeof(*pids));
			pids[npids++] = (pid_t)pid;
		}
		strvec_push(&files, path);
		strbuf_release(&sb);
		free(path);
	}
	if (dp != NULL)
		closedir(dp);
	deadline = now_ms() + 2000;
	for (i = 0; i < npids; i++) {
		while (kill(pids[i], 0) == 0 && now_ms() < deadline)
			poll(NULL, 0, 10);
		kill(-pids[i], SIGKILL);
	}
	for (i = 0; i < files.nr; i++)
		unlink(files.v[i]);
	if (npids > 0)
		say("stopped %zu dyno%s left by a previous berthd", npids,
		    npids == 1 ? "" : "s");
	strvec_clear(&files);
	free(pids);
	free(dir);
	/* Their working copies go too. */
	{
		char *apps = root_path(&D.root, "apps");
		DIR *ad = opendir(apps);

		while (ad != NULL && (de = readdir(ad)) != NULL) {
			char *dd;

			if (de->d_name[0] == '.')
				continue;
			dd = xasprintf("%s/%s/dynos", apps, de->d_name);
			rm_rf(dd);
			free(dd);
		}
		if (ad != NULL)
			closedir(ad);
		free(apps);
	}
}

/* Take run/berthd.pid; a second berthd refuses, naming the first. */
static int
take_pid_file(void)
{
	char *path = root_path(&D.root, "run/berthd.pid"), buf[32];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), n;

	if (fd < 0) {
		berth_error_errno("cannot open %s", path);
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[r > 0 ? r : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		berth_error("berthd is already running for %s (pid %s); stop "
		    "it with: berth daemon:stop", D.root.dir, buf);
		close(fd);
		free(path);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		berth_error_errno("cannot write %s", path);
		close(fd);
		free(path);
		return -1;
	}
	D.pid_fd = fd;
	free(path);
	return 0;
}

static int
listen_control(void)
{
	struct sockaddr_un sa;
	char *path = control_socket_path(&D.root);
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		berth_error("control socket path %s is too long", path);
		free(path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		berth_error_errno("cannot listen on %s", path);
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	free(path);
	D.listen_fd = fd;
	return 0;
}

/* Stop every dyno and wait for them (main thread, at shutdown). */
static void
stop_all(void)
{
	int64_t deadline;
	struct dyno *d;

	pthread_mutex_lock(&D.lock);
	for (d = D.dynos; d != NULL; d = d->next)
		dyno_stop(d);
	pthread_mutex_unlock(&D.lock);
	deadline = now_ms() + (int64_t)D.root.cfg.stop_timeout * 1000;
	for (;;) {
		int left = 0, late = now_ms() >= deadline;

		pthread_mutex_lock(&D.lock);
		reap();
		for (d = D.dynos; d != NULL; d = d->next) {
			if (d->out_fd >= 0)
				dyno_read(d);
			if (d->pid == 0 && !group_alive(d))
				continue;
			left++;
			if (late && d->pgid > 0)
				kill(-d->pgid, SIGKILL);
		}
		pthread_mutex_unlock(&D.lock);
		if (left == 0 || now_ms() >= deadline + 5000)
			break;
		poll(NULL, 0, 20);
	}
}

/* ---- stale review apps ---- */

/*
 * Destroy the review apps of autodestroy pipelines that had no push for
 * their stale period (review_destroy runs pr-predestroy, stops them and
 * removes their route, through this berthd's control socket).
 */
static void *
reaper_thread(void *arg)
{
	struct berth_root r;
	struct pipeline *ps = NULL;
	size_t nps = 0, i, j;

	(void)arg;
	if (root_open(&r, D.root.dir) < 0) {
		say("review reaper: %s", berth_last_error());
		goto out;
	}
	if (ledger_pipeline_list(r.db, &ps, &nps) == 0)
		for (i = 0; i < nps; i++) {
			struct review_app *ra = NULL;
			size_t nra = 0;
			char before[32];
			time_t t;
			struct tm tm;

			if (!ps[i].review_apps || !ps[i].review_autodestroy)
				continue;
			t = time(NULL) - (time_t)ps[i].review_stale_days * 86400;
			gmtime_r(&t, &tm);
			strftime(before, sizeof(before), "%Y-%m-%dT%H:%M:%SZ",
			    &tm);
			if (ledger_review_stale(r.db, ps[i].id, before, &ra,
			    &nra) < 0)
				continue;
			for (j = 0; j < nra; j++) {
				say("destroying review app %s: no push for %d "
				    "day%s", ra[j].app, ps[i].review_stale_days,
				    ps[i].review_stale_days == 1 ? "" : "s");
				if (review_destroy(&r, &ps[i], ra[j].branch,
				    "berthd") < 0)
					say("%s", berth_last_error());
			}
			review_app_list_free(ra, nra);
		}
	pipeline_list_free(ps, nps);
	root_close(&r);
out:
	pthread_mutex_lock(&D.lock);
	D.reaping = 0;
	pthread_mutex_unlock(&D.lock);
	return NULL;
}

/* ---- the main loop ---- */

static void
main_loop(void)
{
	struct pollfd *pfds = NULL;
	struct dyno **pdyno = NULL;
	size_t alloc = 0;

	while (!D.stopping) {
		size_t n = 0, i;
		int64_t next = 0, now;
		int timeout, got_chld;
		struct dyno *d;

		pthread_mutex_lock(&D.lock);
		alloc = 3;
		for (d = D.dynos; d != NULL; d = d->next)
			alloc++;
		pfds = xrealloc(pfds, alloc * sizeof(*pfds));
		pdyno = xrealloc(pdyno, alloc * sizeof(*pdyno));
		pfds[n].fd = D.wake[0];
		pfds[n++].events = POLLIN;
		pfds[n].fd = D.listen_fd;
		pfds[n++].events = POLLIN;
		pfds[n].fd = D.sig_fd;
		pfds[n++].events = POLLIN;
		for (d = D.dynos; d != NULL; d = d->next) {
			int64_t t = d->state == D_CRASHED ? d->restart_at :
			    d->state == D_STOPPING ? d->kill_at :
			    0;

			if (t > 0 && (next == 0 || t < next))
				next = t;
			if (d->out_fd < 0)
				continue;
			pdyno[n] = d;
			pfds[n].fd = d->out_fd;
			pfds[n++].events = POLLIN;
		}
		if (next == 0 || D.next_review_check < next)
			next = D.next_review_check;
		pthread_mutex_unlock(&D.lock);
		now = now_ms();
		timeout = next == 0 ? -1 : next <= now ? 0 :
		    (int)(next - now);
		if (poll(pfds, n, timeout) < 0 && errno != EINTR)
			break;

		pthread_mutex_lock(&D.lock);
		if (pfds[0].revents & POLLIN) {
			char buf[64];

			while (read(D.wake[0], buf, sizeof(buf)) > 0)
				;
		}
		got_chld = 0;
		if (pfds[2].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(D.sig_fd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGTERM ||
				    si.ssi_signo == SIGINT)
					D.stopping = 1;
				if (si.ssi_signo == SIGCHLD)
					got_chld = 1;
			}
		}
		for (i = 3; i < n; i++)
			if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR))
				if (pdyno[i]->out_fd >= 0)
					dyno_read(pdyno[i]);
		/* Reap after reading, so a dyno's last words are logged. */
		if (got_chld)
			reap();
		now = now_ms();
		for (d = D.dynos; d != NULL; d = d->next) {
			if (d->state == D_CRASHED && d->restart_at > 0 &&
			    d->restart_at <= now)
				dyno_restart(d);
			else if (d->state == D_STOPPING && d->kill_at > 0 &&
			    d->kill_at <= now) {
				if (d->pgid > 0)
					kill(-d->pgid, SIGKILL);
				d->kill_at = 0;
				/* What an escapee still holds open is dropped. */
				if (d->pid == 0 && d->out_fd >= 0) {
					dyno_read(d);
					if (d->out_fd >= 0) {
						close(d->out_fd);
						d->out_fd = -1;
					}
				}
			}
		}
		if (now >= D.next_review_check) {
			D.next_review_check = now +
			    (int64_t)D.root.cfg.review_check_interval * 1000;
			if (!D.reaping) {
				pthread_t t;

				D.reaping = 1;
				if (pthread_create(&t, NULL, reaper_thread,
				    NULL) == 0)
					pthread_detach(t);
				else
					D.reaping = 0;
			}
		}
		/* Stopped dynos whose process was already gone. */
		for (d = D.dynos; d != NULL; ) {
			struct dyno *next_d = d->next;

			if (d->state == D_STOPPING && d->pid == 0 &&
			    d->pins == 0 && d->out_fd < 0 && !group_alive(d))
				dyno_remove(d);
			d = next_d;
		}
		pthread_mutex_unlock(&D.lock);

		if (pfds[1].revents & POLLIN) {
			int cfd;

			while ((cfd = accept4(D.listen_fd, NULL, NULL,
			    SOCK_CLOEXEC)) >= 0) {
				struct client *c = xcalloc(1, sizeof(*c));
				pthread_t t;
				pthread_attr_t attr;

				c->fd = cfd;
				{
					/* A client that stops reading cannot
					 * hold a deploy for ever. */
					struct timeval tv = { 30, 0 };

					setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO,
					    &tv, sizeof(tv));
				}
				pthread_attr_init(&attr);
				pthread_attr_setdetachstate(&attr,
				    PTHREAD_CREATE_DETACHED);
				if (pthread_create(&t, &attr, client_thread,
				    c) != 0) {
					close(cfd);
					free(c);
				}
				pthread_attr_destroy(&attr);
			}
		}
	}
	free(pfds);
	free(pdyno);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: berthd [-f] [--root DIR]\n"
	    "\n"
	    "The berth daemon: runs every app's dynos as the ledger says,\n"
	    "behind its own nginx, and restarts crashed ones.\n"
	    "\n"
	    "  -f, --foreground  stay in the foreground, log to stderr\n"
	    "  --root DIR        server root (default: $BERTH_ROOT or %s)\n"
	    "  --help            this text\n"
	    "\n"
	    "Stop it with `berth daemon:stop` or SIGTERM. See berthd(8).\n",
	    BERTH_DEFAULT_ROOT);
}

static int ready_fd = -1;

/*
 * Detach: fork, setsid, stdio to run/berthd.log. The parent exits once
 * the child says it is ready (listening), 0, or 1 if it died first.
 */
static int
daemonize(const char *dir)
{
	char *log = xasprintf("%s/run/berthd.log", dir);
	int fd, null, p[2];
	pid_t pid;

	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	free(log);
	if (fd < 0)
		return berth_error_errno("cannot open run/berthd.log");
	if (pipe2(p, O_CLOEXEC) < 0)
		return berth_error_errno("cannot create a pipe");
	pid = fork();
	if (pid < 0)
		return berth_error_errno("cannot fork");
	if (pid > 0) {
		char c;

		close(p[1]);
		if (read(p[0], &c, 1) == 1)
			_exit(0);
		fprintf(stderr, "berthd: failed to start; see "
		    "%s/run/berthd.log\n", dir);
		_exit(1);
	}
	close(p[0]);
	ready_fd = p[1];
	setsid();
	null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	close(null);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "root", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root_dir = NULL;
	struct router *rt = NULL;
	sigset_t mask;
	pthread_t st;
	int ch, rc;

	memset(&D, 0, sizeof(D));
	D.listen_fd = D.sig_fd = D.pid_fd = -1;
	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': D.foreground = 1; break;
		case 'R': root_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("berthd %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "berthd: unexpected argument '%s'; see: "
		    "berthd --help\n", argv[optind]);
		return 2;
	}
	if (root_dir == NULL)
		root_dir = root_default();
	repo_global_init();
	if (root_open(&D.root, root_dir) < 0) {
		fprintf(stderr, "berthd: %s\n", berth_last_error());
		return 1;
	}
	if (take_pid_file() < 0) {
		fprintf(stderr, "berthd: %s\n", berth_last_error());
		root_close(&D.root);
		return 1;
	}
	if (!D.foreground) {
		/*
		 * Neither the pid lock nor an SQLite connection may cross a
		 * fork: close both, fork, and open them again in the child.
		 */
		char *dir = xstrdup(D.root.dir);

		close(D.pid_fd);
		D.pid_fd = -1;
		root_close(&D.root);
		if (daemonize(dir) < 0 || root_open(&D.root, dir) < 0 ||
		    take_pid_file() < 0) {
			say("%s", berth_last_error());
			return 1;
		}
		free(dir);
	}
	pthread_mutex_init(&D.lock, NULL);
	pthread_cond_init(&D.deploy_done, NULL);
	pthread_mutex_init(&D.router_lock, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	D.started_at = time(NULL);
	/* Orphans of dynos (double forks) come back to us to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	D.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (D.sig_fd < 0 || pipe2(D.wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		say("cannot set up signals: %s", strerror(errno));
		return 1;
	}
	recover_orphans();
	rc = router_start(&D.root, &rt);
	if (rc == 1 || rc < 0)
		say("%s", berth_last_error());
	D.router = rt;
	if (listen_control() < 0) {
		say("%s", berth_last_error());
		return 1;
	}
	say("berthd %s running for %s (pid %ld)%s", PACKAGE_VERSION,
	    D.root.dir, (long)getpid(), D.router ? "" : ", without router");
	if (ready_fd >= 0) {
		ssize_t w = write(ready_fd, "r", 1);

		(void)w;
		close(ready_fd);
	}
	/* Start anywhere in the port range, so berthds that share a range
	 * (tests) rarely race for the same port. */
	{
		char rnd[9];

		if (random_hex(rnd, 4) == 0)
			D.next_port = (int)(strtoul(rnd, NULL, 16) % 100000);
	}
	D.next_review_check = now_ms() +
	    (int64_t)D.root.cfg.review_check_interval * 1000;
	pthread_create(&st, NULL, startup_thread, NULL);
	pthread_detach(st);
	main_loop();

	say("stopping");
	close(D.listen_fd);
	{
		char *sock = control_socket_path(&D.root);

		unlink(sock);
		free(sock);
	}
	stop_all();
	pthread_mutex_lock(&D.router_lock);
	if (D.router != NULL)
		router_stop(D.router);
	D.router = NULL;
	pthread_mutex_unlock(&D.router_lock);
	say("stopped");
	/* Threads still serving clients end with the process. */
	{
		char *pidpath = root_path(&D.root, "run/berthd.pid");

		unlink(pidpath);
		free(pidpath);
	}
	_exit(0);
}
