/*
 * monitor.c - the dyno monitor (see monitor.h): berthd's side, which
 * starts a monitor and reads its first line, and the monitor process,
 * one poll() loop over the dyno's output and a signalfd.
 */
#include "monitor.h"
#include "applog.h"
#include "proc.h"
#include "run-command.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MONITOR_PROTOCOL 1		/* what berthd and monitors share */
#define SPEC_MAX	(16 << 20)	/* a spec holds a config snapshot */
#define START_MS	30000		/* for the dyno's first exec */
#define COPY_MAX	4000		/* a copy stays one atomic pipe write */
#define DRAIN_MS	1000		/* reading what is left after a kill */
#define GROUP_POLL_MS	100		/* stopping: is the group empty yet? */

char *
monitor_record_path(const struct berth_root *r, const char *token)
{
	return root_pathf(r, "run/dynos/%s.json", token);
}

/* ---- berthd's side ---- */

/* What a monitor reads on its stdin. */
static char *
spec_text(const struct berth_root *r, const struct dyno_spec *spec,
    const char *record)
{
	struct dyno_record rec;
	json_t *o;
	char *text;

	dyno_record_of_spec(spec, &rec);
	o = json_pack("{s:i, s:s, s:i, s:i, s:i, s:s}", "protocol",
	    MONITOR_PROTOCOL, "root", r->dir, "log_max_kb",
	    r->cfg.log_max_kb, "stop_timeout",
	    r->cfg.stop_timeout, "parent", (int)getpid(), "record", record);
	json_object_set_new(o, "dyno", dyno_record_json(&rec, 1));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* The monitor's first line into buf; -1 at EOF or after START_MS. */
static int
first_line(int fd, char *buf, size_t size)
{
	int64_t deadline = now_ms() + START_MS;
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd p = { fd, POLLIN, 0 };
		int64_t left = deadline - now_ms();
		ssize_t got;

		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -1;
		got = read(fd, buf + n, 1);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

/* Give the monitor mon its spec and read how the start went. */
static int
hand_over(pid_t mon, int in, int ev, const char *text,
    const struct dyno_spec *spec, struct monitor_proc *out)
{
	char line[1024];
	long pid = 0;
	int sent = fd_write_all(in, text, strlen(text)) == 0;

	close(in);
	if (!sent || first_line(ev, line, sizeof(line)) < 0) {
		kill(mon, SIGKILL);
		waitpid(mon, NULL, 0);
		return berth_error("the monitor of %s.%d failed to start it",
		    spec->type, spec->index);
	}
	if (sscanf(line, "started %ld", &pid) != 1 || pid <= 1) {
		waitpid(mon, NULL, 0);
		return berth_error("%s", strncmp(line, "error ", 6) == 0 ?
		    line + 6 : line);
	}
	fcntl(ev, F_SETFL, O_NONBLOCK);
	out->pid = mon;
	out->pgid = (pid_t)pid;
	out->out_fd = ev;
	return 0;
}

int
monitor_spawn(const struct berth_root *r, const struct dyno_spec *spec,
    struct monitor_proc *out)
{
	char *record = monitor_record_path(r, spec->token);
	char *text = spec_text(r, spec, record);
	struct child c = CHILD_INIT;
	int in[2] = { -1, -1 }, ev[2] = { -1, -1 }, ret = -1;
	char *exe;
	pid_t mon;

	memset(out, 0, sizeof(*out));
	out->out_fd = -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(ev, O_CLOEXEC) < 0) {
		berth_error_errno("cannot start %s.%d", spec->type,
		    spec->index);
		goto out;
	}
	exe = helper_program("berth-monitor", "BERTH_MONITOR");
	strvec_push(&c.args, exe);
	free(exe);
	strvec_push(&c.args, record);
	c.in_fd = in[0];
	c.out_fd = ev[1];
	c.stdout_only = 1;
	c.group = CHILD_OWN_SESSION;
	mon = start_command(&c);
	close(in[0]);
	close(ev[1]);
	in[0] = ev[1] = -1;
	if (mon > 0) {
		ret = hand_over(mon, in[1], ev[0], text, spec, out);
		in[1] = -1;
		if (ret == 0)
			ev[0] = -1;
	}
out:
	if (in[1] >= 0)
		close(in[1]);
	if (ev[0] >= 0)
		close(ev[0]);
	child_clear(&c);
	free(text);
	free(record);
	return ret;
}

/* ---- the monitor ---- */

struct mon {
	struct berth_root root;	/* dir and cfg.log_max_kb only */
	struct applog *log;	/* NULL: the log cannot be written */
	struct dyno_record rec;	/* with its config */
	struct dyno_cgroup cg;	/* its limits; no dirs: none */
	char *record;		/* where it is written */
	char name[64];		/* "web.1" */
	int stop_timeout;	/* s */
	pid_t parent;		/* the berthd that started us */
	int out;		/* the dyno's output; -1 once at EOF */
	int events;		/* stdout, to berthd; -1 once it is gone */
	int sig;		/* signalfd */
	struct strbuf pending;
	int exited;		/* its main process has been reaped */
	int killed;		/* what was left of it got SIGKILL */
	int64_t kill_at;	/* stopping: SIGKILL then (0 = not) */
	int64_t drain_until;	/* killed: read the output until then */
};

static void
mon_event(struct mon *m, const char *fmt, ...) BERTH_ATTR_PRINTF(2, 3);

/* A berth[web.1] line in the app's log. */
static void
mon_event(struct mon *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	applog_vwritef(m->log, "berth", m->name, fmt, ap);
	va_end(ap);
}

/* Read the spec from stdin. */
static int
mon_load(struct mon *m)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *o = NULL;
	const char *root, *record;
	int ret = -1;

	if (read_file("/dev/stdin", &sb, SPEC_MAX) < 0)
		goto out;
	o = json_loads(strbuf_str(&sb), 0, NULL);
	if (json_integer_value(json_object_get(o, "protocol")) !=
	    MONITOR_PROTOCOL) {
		berth_error("berthd and berth-monitor are of different "
		    "versions; restart berthd");
		goto out;
	}
	root = json_string_value(json_object_get(o, "root"));
	record = json_string_value(json_object_get(o, "record"));
	if (root == NULL || record == NULL ||
	    dyno_record_from_json(json_object_get(o, "dyno"), &m->rec) < 0) {
		berth_error("the monitor's spec is not valid");
		goto out;
	}
	config_defaults(&m->root.cfg);
	m->root.dir = xstrdup(root);
	m->root.cfg.log_max_kb = (int)json_integer_value(json_object_get(o,
	    "log_max_kb"));
	m->stop_timeout = (int)json_integer_value(json_object_get(o,
	    "stop_timeout"));
	m->parent = (pid_t)json_integer_value(json_object_get(o, "parent"));
	m->record = xstrdup(record);
	snprintf(m->name, sizeof(m->name), "%s.%d", m->rec.type,
	    m->rec.index);
	ret = 0;
out:
	json_decref(o);
	strbuf_release(&sb);
	return ret;
}

/* Signals come on a signalfd; orphans of the dyno come to us. */
static int
mon_signals_setup(struct mon *m)
{
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	m->sig = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->sig < 0)
		return berth_error_errno("cannot set up signals");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	prctl(PR_SET_NAME, "berthd-monitor");
	return 0;
}

/*
 * The dyno's control group, with its limits: 0, or -1 when it runs
 * without. Where this machine cannot enforce limits, berthd says so
 * once; a group that fails here is said in the app's log.
 */
static int
mon_limits(struct mon *m)
{
	const struct dyno_limits *l = &m->rec.limits;

	if ((l->memory == 0 && l->pids == 0) ||
	    cgroup_available(&m->root, NULL) == 0)
		return -1;
	if (cgroup_create(&m->root, m->rec.app, m->rec.token, l,
	    &m->cg) < 0) {
		mon_event(m, "Running without limits: %s", berth_last_error());
		return -1;
	}
	return 0;
}

/*
 * Start the dyno with its output to a pipe of ours, and record it. A
 * berthd that went away before we could start it is not there to
 * account for it: then nothing starts. (Should it die in the moment
 * between the start and the record, its successor starts too late to
 * miss the record.)
 */
static int
mon_start(struct mon *m)
{
	struct dyno_spec spec;
	int p[2];
	pid_t pid;

	m->rec.watcher = getpid();
	m->rec.watcher_start = proc_start_time(m->rec.watcher);
	if (getppid() != m->parent)
		return berth_error("berthd went away before %s started",
		    m->name);
	if (pipe2(p, O_CLOEXEC) < 0)
		return berth_error_errno("cannot start %s", m->name);
	dyno_spec_of_record(&m->rec, &spec);
	if (mon_limits(m) == 0)
		spec.cgroup = &m->cg;
	pid = dyno_spawn(&spec, -1, p[1], 1);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	m->out = p[0];
	m->rec.pid = pid;
	m->rec.pid_start = proc_start_time(pid);
	if (dyno_record_write(m->record, &m->rec) < 0) {
		/* Unrecorded, it would outlive a berthd crash unseen. */
		kill(-pid, SIGKILL);
		return -1;
	}
	return 0;
}

/* One line of the dyno's: into the log, and a copy to berthd. */
static void
mon_line(const char *line, void *data)
{
	struct mon *m = data;
	char buf[COPY_MAX + 1];
	size_t n = strlen(line);

	if (m->log != NULL)
		applog_write(m->log, "app", m->name, line);
	if (m->events < 0)
		return;
	if (n > COPY_MAX)
		n = COPY_MAX;
	memcpy(buf, line, n);
	buf[n++] = '\n';
	/* Not read in time: that copy is dropped. Gone: no more copies. */
	if (write(m->events, buf, n) < 0 && errno != EAGAIN) {
		close(m->events);
		m->events = -1;
	}
}

/* Read what the dyno wrote; at EOF its last partial line goes too. */
static void
mon_read(struct mon *m)
{
	if (m->out >= 0 && fd_read_lines(m->out, &m->pending, mon_line, m)) {
		close(m->out);
		m->out = -1;
	}
}

/* SIGKILL whatever is left of the dyno, in its group or by its mark. */
static void
mon_kill(struct mon *m)
{
	kill(-m->rec.pid, SIGKILL);
	dyno_kill_token(m->rec.token);
	cgroup_kill(&m->cg);
	m->killed = 1;
	m->kill_at = 0;
	m->drain_until = now_ms() + DRAIN_MS;
}

/* Asked to stop: SIGTERM to the group, SIGKILL at stop_timeout. */
static void
mon_stop(struct mon *m)
{
	if (m->rec.stopping)
		return;
	m->rec.stopping = 1;
	if (dyno_record_write(m->record, &m->rec) < 0)
		mon_event(m, "Cannot record the stop: %s", berth_last_error());
	if (m->exited)
		return;
	kill(-m->rec.pid, SIGTERM);
	m->kill_at = now_ms() + (int64_t)m->stop_timeout * 1000;
}

/*
 * The dyno's main process ended. Unasked (a crash), whatever it left
 * goes at once; asked, the rest of its group has until kill_at.
 */
static void
mon_exited(struct mon *m, int status)
{
	mon_read(m);
	m->exited = 1;
	m->rec.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
	/* Heroku's words for a dyno the kernel killed at its limit. */
	if (m->cg.dirs[0] != NULL && cgroup_oom_killed(&m->cg)) {
		m->rec.oom_killed = 1;
		mon_event(m, "Error R15 (Memory quota vastly exceeded)");
	}
	mon_event(m, "Process exited with status %d", m->rec.exit_code);
	if (!m->rec.stopping)
		mon_kill(m);
}

/*
 * Reap every child that has exited, the dyno's main process or one of
 * its orphans (we are a subreaper); whether any child is left.
 */
static int
mon_reap(struct mon *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == m->rec.pid)
			mon_exited(m, status);
	return pid == 0;
}

/* Drain the signalfd: stop requests, and children to reap. */
static void
mon_signals(struct mon *m)
{
	struct signalfd_siginfo si;

	while (read(m->sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			mon_reap(m);
		else
			mon_stop(m);
	}
}

static int
group_alive(const struct mon *m)
{
	return kill(-m->rec.pid, 0) == 0 || errno == EPERM;
}

/*
 * Done: the dyno ended, what it wrote is read and what it left is gone
 * and reaped (or, once killed, after DRAIN_MS whatever holds on).
 */
static int
mon_done(struct mon *m)
{
	if (!m->exited)
		return 0;
	if (m->killed && now_ms() >= m->drain_until)
		return 1;
	return m->out < 0 && !mon_reap(m) && !group_alive(m);
}

/* Until the next deadline, in ms for poll(); -1 = none. */
static int
mon_timeout(const struct mon *m)
{
	int64_t next = m->killed ? m->drain_until : m->kill_at, left;

	if (m->exited && !m->killed)
		return GROUP_POLL_MS;
	if (next == 0)
		return -1;
	left = next - now_ms();
	return left < 0 ? 0 : left > GROUP_POLL_MS ? GROUP_POLL_MS :
	    (int)left;
}

static void
mon_loop(struct mon *m)
{
	while (!mon_done(m)) {
		struct pollfd p[2] = {
			{ m->sig, POLLIN, 0 },
			{ m->out, POLLIN, 0 },
		};

		if (poll(p, m->out >= 0 ? 2 : 1, mon_timeout(m)) < 0 &&
		    errno != EINTR)
			break;
		if (m->out >= 0 && p[1].revents != 0)
			mon_read(m);
		if (p[0].revents & POLLIN)
			mon_signals(m);
		if (m->kill_at > 0 && now_ms() >= m->kill_at)
			mon_kill(m);
	}
	strbuf_take_lines(&m->pending, 1, mon_line, m);
}

static void
mon_clear(struct mon *m)
{
	if (m->log != NULL)
		applog_close(m->log);
	if (m->out >= 0)
		close(m->out);
	if (m->sig >= 0)
		close(m->sig);
	/* What is left in its group goes with it. */
	cgroup_destroy(&m->cg);
	dyno_record_clear(&m->rec);
	strbuf_release(&m->pending);
	config_clear(&m->root.cfg);
	free(m->root.dir);
	free(m->record);
}

int
monitor_main(int argc, char **argv)
{
	struct mon m;
	char line[1024];
	int n, code;

	memset(&m, 0, sizeof(m));
	m.cg = (struct dyno_cgroup)DYNO_CGROUP_INIT;
	m.out = m.sig = -1;
	m.events = 1;
	m.rec.exit_code = -1;
	/* argv[1], the record, is there for ps: the spec names it too. */
	if (argc != 2 || argv[1][0] != '/' || chdir("/") < 0 ||
	    mon_load(&m) < 0 || mon_signals_setup(&m) < 0)
		goto fail;
	if (applog_open(&m.root, m.rec.app, &m.log) < 0)
		m.log = NULL;
	if (mon_start(&m) < 0) {
		unlink(m.record);
		goto fail;
	}
	n = snprintf(line, sizeof(line), "started %ld %llu\n",
	    (long)m.rec.pid, m.rec.pid_start);
	if (fd_write_all(1, line, (size_t)n) < 0)
		m.events = -1;
	else
		fcntl(1, F_SETFL, O_NONBLOCK);
	mon_loop(&m);
	if (dyno_record_write(m.record, &m.rec) < 0)
		mon_event(&m, "Cannot record the exit: %s", berth_last_error());
	code = m.rec.exit_code;
	mon_clear(&m);
	return code;
fail:
	n = snprintf(line, sizeof(line), "error %s\n", berth_last_error());
	fd_write_all(1, line, (size_t)n < sizeof(line) ? (size_t)n :
	    sizeof(line) - 1);
	mon_clear(&m);
	return 1;
}
