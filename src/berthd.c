/*
 * berthd.c - the daemon: main, daemonizing, the pid file, and the one
 * event loop. It is the only process that starts or stops dynos: it
 * converges each app's dynos to the ledger's current release and
 * formation, owns the router (its own nginx), captures dyno output
 * into the app logs and restarts crashed dynos with back-off.
 *
 * Who owns what: supervisor.c the dynos (processes, output, exits,
 * restarts, recovery after a crash of berthd); rollout.c what an
 * operation does with them (rollouts, convergence, readiness, routes);
 * control-server.c the control socket's requests (one thread each,
 * each app's operations one at a time); review.c the stale review app
 * reaper this loop starts now and then; notify.c the webhook sender,
 * a thread of its own from start-up to shutdown.
 *
 * Threads: the main thread runs one poll() loop over the control
 * socket, a signalfd (SIGCHLD, SIGTERM, SIGINT) and every dyno's output
 * pipe, and wakes only for I/O or for the next timer (a restart after
 * back-off, a SIGKILL after stop_timeout, the reaper): no polling.
 */
#include "api.h"
#include "github-hook.h"
#include "slack.h"
#include "build.h"
#include "cgroup.h"
#include "control-server.h"
#include "names.h"
#include "notify.h"
#include "proc.h"
#include "repo.h"
#include "review.h"
#include "root.h"
#include "router.h"
#include "rollout.h"
#include "routes.h"
#include "supervisor.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/*
 * berthd's own router: nginx, with one change applied at a time, and
 * the routes berthd wants of it. A change that fails (a full disk, an
 * nginx that does not answer), or the router's own start, is tried
 * again from a thread until it works (routes.h).
 */
struct nginx_router {
	pthread_mutex_t lock;	/* held for one config change, not drains */
	struct router *rt;	/* NULL: no nginx, or it did not start */
	const struct berth_root *root;
	struct route_table want;
};

/* What the parent of a daemonizing berthd waits for (see daemonize). */
struct readiness {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int converged;		/* the start-up convergence ended */
	struct strvec failed;	/* "APP: why" of apps it could not start */
	int fd;			/* to the waiting parent; -1: none */
	int64_t started;	/* monotonic ms */
	int64_t deadline;
};

struct berthd {
	struct berth_root root;
	struct supervisor sv;
	struct control_server cs;
	struct nginx_router router;
	struct notifier *notify;	/* the webhook sender */
	int sig_fd;
	int pid_fd;
	int foreground;
	volatile int stopping;
	int64_t next_review_check;	/* monotonic ms */
	pthread_mutex_t reap_lock;
	int reaping;			/* a reaper thread runs */
	int reviving;			/* a thread restarts nginx */
	int retrying;			/* a thread applies routes again */
	/* A pidfd of nginx's master: its exit is seen even when it is not
	 * our child (one a restarted berthd took over). */
	int nginx_fd;
	pid_t nginx_watched;
	struct readiness ready;
	struct http_server *http;	/* [http] listen, or NULL */
};

/* ---- the loop's background work ---- */

/*
 * Run fn(D) in a detached thread unless the one before is still at it
 * (*busy, under reap_lock); fn ends with work_done(D, busy).
 */
static void
start_work(struct berthd *D, int *busy, void *(*fn)(void *))
{
	pthread_t t;

	pthread_mutex_lock(&D->reap_lock);
	if (!*busy) {
		*busy = 1;
		if (pthread_create(&t, NULL, fn, D) == 0)
			pthread_detach(t);
		else
			*busy = 0;
	}
	pthread_mutex_unlock(&D->reap_lock);
}

static void
work_done(struct berthd *D, int *busy)
{
	pthread_mutex_lock(&D->reap_lock);
	*busy = 0;
	pthread_mutex_unlock(&D->reap_lock);
}

/* ---- the router, as rollout.c sees it ---- */

/*
 * Apply app's wanted route (nr->lock held): 0 once the router serves
 * it. How it ended goes into the table, and into the log when that is
 * news (the first failure, a new reason, the first success after).
 */
static int
apply_route(struct nginx_router *nr, const char *app)
{
	struct route_want w;
	char *down;
	int ret;

	if (route_table_get(&nr->want, app, &w) < 0)
		return 0;
	berth_clear_error();
	down = route_table_router_why(&nr->want);
	if (down != NULL)
		ret = berth_error("the router is not running");
	else if (nr->rt == NULL)
		ret = 0;	/* no nginx: apps are on their dyno ports */
	else if (w.removed)
		ret = router_remove(nr->rt, app);
	else
		ret = router_set(nr->rt, app, w.ports, w.n);
	switch (route_table_done(&nr->want, app, ret == 0,
	    berth_last_error(), now_ms())) {
	case ROUTE_FAILED:
		log_say("router: the route of %s is not applied: %s "
		    "(berthd retries)", app, berth_last_error());
		break;
	case ROUTE_RECOVERED:
		log_say("router: the route of %s is applied (after %d failed "
		    "tr%s)", app, w.tries, w.tries == 1 ? "y" : "ies");
		break;
	case ROUTE_QUIET:
		break;
	}
	free(down);
	route_want_clear(&w);
	return ret;
}

static int
nginx_set(void *data, const char *app, const int *ports, size_t n)
{
	struct nginx_router *nr = data;
	int ret;

	pthread_mutex_lock(&nr->lock);
	route_table_want(&nr->want, app, ports, n, 0);
	ret = apply_route(nr, app);
	pthread_mutex_unlock(&nr->lock);
	return ret;
}

/* Only reads (nginx's counters or processes): no lock, so a drain
 * holds up no one. */
static int
nginx_drain(void *data, const char *app, const int *ports, size_t n,
    int timeout_ms)
{
	struct nginx_router *nr = data;

	return nr->rt != NULL ? router_drain(nr->rt, app, ports, n,
	    timeout_ms) : 0;
}

static int
nginx_remove(void *data, const char *app)
{
	struct nginx_router *nr = data;
	int ret;

	pthread_mutex_lock(&nr->lock);
	route_table_want(&nr->want, app, NULL, 0, 1);
	ret = apply_route(nr, app);
	pthread_mutex_unlock(&nr->lock);
	return ret;
}

/*
 * Start nginx (nr->lock held). When it cannot start (but is installed)
 * the start is tried again with back-off; once it runs, every wanted
 * route is applied again, as a new nginx may know none of them.
 */
static void
start_router(struct nginx_router *nr)
{
	int rc = router_start(nr->root, &nr->rt);

	if (rc < 0) {
		if (route_table_router(&nr->want, berth_last_error(),
		    now_ms()) == ROUTE_FAILED)
			log_say("router: %s (berthd retries)",
			    berth_last_error());
		return;
	}
	if (rc == 1)
		log_say("%s", berth_last_error());
	if (route_table_router(&nr->want, NULL, now_ms()) == ROUTE_RECOVERED)
		log_say("router: nginx runs now; applying every route");
	route_table_reset(&nr->want, now_ms());
}

/*
 * One pass over what is due (a thread; nr->lock held for the pass): the
 * router's start, nginx when it died (its routes go with it), and each
 * route not applied yet.
 */
static void *
retry_thread(void *arg)
{
	struct berthd *D = arg;
	struct nginx_router *nr = &D->router;
	struct strvec due = STRVEC_INIT;
	size_t i;

	pthread_mutex_lock(&nr->lock);
	/* Stopping: shut_down() stops nginx, which must not start again. */
	if (!D->stopping && route_table_router_due(&nr->want, now_ms()))
		start_router(nr);
	if (!D->stopping)
		route_table_due(&nr->want, now_ms(), &due);
	if (due.nr > 0 && nr->rt != NULL && !router_running(nr->rt) &&
	    router_revive(nr->rt) < 0)
		log_say("%s", berth_last_error());
	for (i = 0; i < due.nr; i++)
		apply_route(nr, due.v[i]);
	pthread_mutex_unlock(&nr->lock);
	strvec_clear(&due);
	work_done(D, &D->retrying);
	/* The loop's next timer may be another retry. */
	supervisor_wake(&D->sv);
	return NULL;
}

/* Start a retry pass when one is due and none runs (event loop). */
static void
maybe_retry(struct berthd *D)
{
	int64_t next = route_table_next(&D->router.want);

	if (next != 0 && next <= now_ms())
		start_work(D, &D->retrying, retry_thread);
}

/*
 * daemon:status: whether dynos get their memory and pids limits
 * (berth.ini [sandbox]), and through which cgroup version, or why not.
 */
static void
limits_status(const struct berth_root *r, json_t *status)
{
	const char *why;
	int v = cgroup_available(r, &why);
	json_t *o = json_pack("{s:b, s:I, s:i}", "enforced", v > 0, "memory",
	    (json_int_t)r->cfg.dyno_memory, "pids", r->cfg.dyno_pids);

	if (v > 0)
		json_object_set_new(o, "cgroup", json_string(v == 2 ? "v2" :
		    "v1"));
	else
		json_object_set_new(o, "warning", json_string(why));
	json_object_set_new(status, "limits", o);
}

/* daemon:status: what is not applied, and whether start-up is over. */
static void
add_status(void *data, json_t *status)
{
	struct berthd *D = data;

	route_table_status(&D->router.want, status);
	limits_status(&D->root, status);
	pthread_mutex_lock(&D->ready.lock);
	json_object_set_new(status, "converged",
	    json_boolean(D->ready.converged));
	pthread_mutex_unlock(&D->ready.lock);
}

static void
router_info(void *data, const char **mode, long *generation)
{
	struct berthd *D = data;

	pthread_mutex_lock(&D->router.lock);
	*mode = D->router.rt != NULL && router_running(D->router.rt) ?
	    router_mode(D->router.rt) : NULL;
	*generation = D->router.rt != NULL ?
	    router_generation(D->router.rt) : 0;
	pthread_mutex_unlock(&D->router.lock);
}

static void
request_shutdown(void *data)
{
	struct berthd *D = data;

	D->stopping = 1;
	supervisor_wake(&D->sv);
}

/* ---- nginx died: start it again ---- */

static void *
revive_thread(void *arg)
{
	struct berthd *D = arg;

	pthread_mutex_lock(&D->router.lock);
	if (D->router.rt != NULL && !router_running(D->router.rt)) {
		log_say("router: nginx exited; starting it again");
		if (router_revive(D->router.rt) < 0)
			log_say("%s", berth_last_error());
		else
			log_say("router: nginx serves every route again");
	}
	pthread_mutex_unlock(&D->router.lock);
	work_done(D, &D->reviving);
	return NULL;
}

/*
 * Watch nginx's current master with a pidfd (pfd): a master berthd
 * took over after a restart is not its child, so no SIGCHLD tells of
 * its death. The router's lock is only tried: a change holding it
 * leaves the watch as it was for this turn.
 */
static void
watch_nginx(struct berthd *D, struct pollfd *pfd)
{
	pid_t pid = D->nginx_watched;

	if (D->router.rt != NULL &&
	    pthread_mutex_trylock(&D->router.lock) == 0) {
		pid = D->router.rt != NULL ? router_master(D->router.rt) : 0;
		pthread_mutex_unlock(&D->router.lock);
	}
	if (pid != D->nginx_watched) {
		if (D->nginx_fd >= 0)
			close(D->nginx_fd);
		D->nginx_fd = pid > 0 ? proc_pidfd(pid) : -1;
		if (D->nginx_fd < 0)
			berth_clear_error();
		D->nginx_watched = pid;
	}
	pfd->fd = D->nginx_fd;
	pfd->events = POLLIN;
	pfd->revents = 0;
}

/*
 * After a SIGCHLD or nginx's pidfd: nginx's master is our child (we are
 * its subreaper) or watched, so its death is one. Whether it died is looked at in a thread, under
 * the router's lock (a change may hold it a while), never in the loop.
 */
static void
maybe_revive(struct berthd *D)
{
	if (D->router.rt != NULL)
		start_work(D, &D->reviving, revive_thread);
}

/* ---- stale review apps ---- */

static void *
reaper_thread(void *arg)
{
	struct berthd *D = arg;

	review_reap_stale(D->root.dir, log_say);
	work_done(D, &D->reaping);
	return NULL;
}

/* Start the reaper when it is due and not running yet. */
static void
maybe_reap(struct berthd *D)
{
	if (now_ms() < D->next_review_check)
		return;
	D->next_review_check = now_ms() +
	    (int64_t)D->root.cfg.review_check_interval * 1000;
	start_work(D, &D->reaping, reaper_thread);
}

/* ---- start-up and the main loop ---- */

/* Take run/berthd.pid; a second berthd refuses, naming the first. */
static int
take_pid_file(struct berthd *D)
{
	char *path = root_path(&D->root, "run/berthd.pid"), buf[32];
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
		    "it with: berth daemon:stop", D->root.dir, buf);
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
	D->pid_fd = fd;
	free(path);
	return 0;
}

/* Drain the signalfd: SIGTERM and SIGINT stop berthd. 1 on SIGCHLD. */
static int
read_signals(struct berthd *D)
{
	struct signalfd_siginfo si;
	int got_chld = 0;

	while (read(D->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			D->stopping = 1;
		if (si.ssi_signo == SIGCHLD)
			got_chld = 1;
	}
	return got_chld;
}

static void
main_loop(struct berthd *D)
{
	struct pollfd *pfds = NULL;
	struct sv_dyno **owners = NULL;
	size_t alloc = 0;

	while (!D->stopping) {
		size_t n = 0;
		int timeout, got_chld = 0;
		int64_t next;

		if (alloc < 3) {
			alloc = 3;
			pfds = xrealloc(pfds, alloc * sizeof(*pfds));
			owners = xrealloc(owners, alloc * sizeof(*owners));
		}
		next = route_table_next(&D->router.want);
		if (next == 0 || next > D->next_review_check)
			next = D->next_review_check;
		/* -1 (not polled) while berthd is out of fds. */
		pfds[n].fd = control_server_poll_fd(&D->cs, &next);
		pfds[n].events = POLLIN;
		owners[n++] = NULL;
		pfds[n].fd = D->sig_fd;
		pfds[n].events = POLLIN;
		owners[n++] = NULL;
		watch_nginx(D, &pfds[n]);
		owners[n++] = NULL;
		timeout = supervisor_poll_fds(&D->sv, &pfds, &owners, &n,
		    &alloc, next);
		if (poll(pfds, n, timeout) < 0 && errno != EINTR)
			break;
		if (pfds[1].revents & POLLIN)
			got_chld = read_signals(D);
		supervisor_poll_done(&D->sv, pfds + 3, owners + 3, n - 3,
		    got_chld);
		if (pfds[2].revents != 0) {
			close(D->nginx_fd);
			D->nginx_fd = -1;	/* watched again once revived */
		}
		if (got_chld || pfds[2].revents != 0)
			maybe_revive(D);
		maybe_retry(D);
		maybe_reap(D);
		if (pfds[0].revents & POLLIN)
			control_server_accept(&D->cs);
	}
	free(pfds);
	free(owners);
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
 * How long start-up may take before berthd says it is ready anyway: a
 * web dyno's boot_timeout, plus time for slugs and the router.
 */
static int
ready_wait_s(const struct berth_config *cfg)
{
	return cfg->boot_timeout + 10;
}

/*
 * The parent's side of daemonize(): read what the child reports until
 * it closes the pipe, at most wait_s. The report is "R" and a line for
 * each thing not serving; the parent prints those lines and exits 0, as
 * the daemon runs. No "R" (the child died first): 1.
 */
static int
parent_wait(int fd, const char *dir, pid_t child, int wait_s)
{
	struct strbuf report = STRBUF_INIT;
	int64_t deadline = now_ms() + (int64_t)wait_s * 1000;
	char buf[4096];
	ssize_t n;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		int rc = left > 0 ? poll(&pfd, 1, (int)left) : 0;

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			fprintf(stderr, "berthd: running (pid %ld), but not "
			    "ready after %d s; see: berth daemon:status\n",
			    (long)child, wait_s);
			return 0;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		strbuf_add(&report, buf, (size_t)n);
	}
	if (report.len == 0 || report.buf[0] != 'R') {
		fprintf(stderr, "berthd: failed to start; see "
		    "%s/run/berthd.log\n", dir);
		return 1;
	}
	fputs(report.buf + 1, stderr);
	strbuf_release(&report);
	return 0;
}

/*
 * Detach: fork, setsid, stdio to run/berthd.log. The parent exits once
 * the child is ready (see ready_thread), at most wait_s later: as a
 * Type=forking service does, so that what runs berthd can use its apps
 * as soon as it returns.
 */
static int
daemonize(const char *dir, int wait_s)
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
		close(p[1]);
		_exit(parent_wait(p[0], dir, pid, wait_s));
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

/* ---- readiness ---- */

/* The start-up convergence ended; failed holds "APP: why" lines. */
static void
converged(void *data, const struct strvec *failed)
{
	struct berthd *D = data;
	size_t i;

	pthread_mutex_lock(&D->ready.lock);
	for (i = 0; i < failed->nr; i++)
		strvec_push(&D->ready.failed, failed->v[i]);
	D->ready.converged = 1;
	pthread_cond_broadcast(&D->ready.cond);
	pthread_mutex_unlock(&D->ready.lock);
}

/* What does not serve (yet), one line each, into out. */
static void
not_serving(struct berthd *D, struct strvec *out)
{
	char *down = route_table_router_why(&D->router.want);
	size_t i;

	if (down != NULL)
		strvec_pushf(out, "the router is not running: %s", down);
	free(down);
	pthread_mutex_lock(&D->ready.lock);
	if (!D->ready.converged)
		strvec_pushf(out, "the apps are still starting after %.0f s",
		    (now_ms() - D->ready.started) / 1000.0);
	for (i = 0; i < D->ready.failed.nr; i++) {
		const char *line = D->ready.failed.v[i];
		char *app = xstrndup(line, strcspn(line, ":"));

		/* The table says how its route is now. */
		if (!route_table_is_pending(&D->router.want, app))
			strvec_push(out, line);
		free(app);
	}
	pthread_mutex_unlock(&D->ready.lock);
	route_table_pending(&D->router.want, out);
}

/* Log how start-up ended, and tell a waiting parent. */
static void
report_ready(struct berthd *D, const struct strvec *why)
{
	double secs = (now_ms() - D->ready.started) / 1000.0;
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	ssize_t w;

	if (why->nr == 0)
		log_say("ready in %.1f s: every app is routed", secs);
	else
		log_say("ready in %.1f s, but not everything serves:", secs);
	strbuf_addch(&sb, 'R');
	for (i = 0; i < why->nr; i++) {
		log_say("  not serving: %s", why->v[i]);
		strbuf_addf(&sb, "berthd: not serving yet: %s\n", why->v[i]);
	}
	if (why->nr > 0)
		strbuf_addstr(&sb, "berthd: it runs and tries again; see: "
		    "berth daemon:status\n");
	if (D->ready.fd >= 0) {
		w = write(D->ready.fd, sb.buf, sb.len);
		(void)w;
		close(D->ready.fd);
		D->ready.fd = -1;
	}
	strbuf_release(&sb);
}

/*
 * berthd is ready when the start-up convergence has ended (every app's
 * formation started, or failed to) and every route is applied: then, or
 * at the deadline, say so. A route still failing after convergence gets
 * a few more tries (ROUTE_RETRY_MAX_MS), not the whole wait.
 */
static void *
ready_thread(void *arg)
{
	struct berthd *D = arg;
	struct readiness *R = &D->ready;
	struct strvec why = STRVEC_INIT;
	int64_t until;

	pthread_mutex_lock(&R->lock);
	while (!R->converged && now_ms() < R->deadline) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&R->cond, &R->lock, &ts);
	}
	pthread_mutex_unlock(&R->lock);
	until = now_ms() + ROUTE_RETRY_MAX_MS;
	if (until > R->deadline)
		until = R->deadline;
	while (route_table_next(&D->router.want) != 0 && now_ms() < until)
		poll(NULL, 0, 50);
	not_serving(D, &why);
	report_ready(D, &why);
	strvec_clear(&why);
	return NULL;
}

/* Start waiting for readiness (after the convergence started). */
static void
watch_ready(struct berthd *D)
{
	pthread_t t;

	if (pthread_create(&t, NULL, ready_thread, D) == 0)
		pthread_detach(t);
	else
		report_ready(D, &(struct strvec)STRVEC_INIT);
}

/* Signals arrive on a signalfd; orphans of dynos come back to us. */
static int
setup_signals(struct berthd *D)
{
	sigset_t mask;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	D->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (D->sig_fd < 0)
		return berth_error_errno("cannot set up signals");
	return 0;
}

/*
 * Open the root and take the pid file; unless in the foreground, detach
 * first. Neither the pid lock nor an SQLite connection may cross a fork:
 * both are closed, and opened again in the child.
 */
static int
start(struct berthd *D, const char *root_dir)
{
	char *dir;
	int wait_s;

	if (root_open(&D->root, root_dir) < 0)
		return -1;
	if (take_pid_file(D) < 0) {
		root_close(&D->root);
		return -1;
	}
	if (D->foreground)
		return 0;
	dir = xstrdup(D->root.dir);
	/* The parent waits a little longer than the child does. */
	wait_s = ready_wait_s(&D->root.cfg) + 10;
	close(D->pid_fd);
	D->pid_fd = -1;
	root_close(&D->root);
	if (daemonize(dir, wait_s) < 0 || root_open(&D->root, dir) < 0 ||
	    take_pid_file(D) < 0) {
		log_say("%s", berth_last_error());
		free(dir);
		exit(1);
	}
	free(dir);
	return 0;
}

/* What berthd's HTTP endpoint serves (http.h). */
static const struct http_route http_routes[] = {
	{ .method = "GET", .prefix = "/health", .fn = api_health },
	{ .method = NULL, .prefix = "/api/", .fn = api_serve },
	{ .method = "POST", .prefix = "/slack/commands", .fn = slack_commands },
	{ .method = "POST", .prefix = "/slack/interactive",
	    .fn = slack_interactive },
	{ .method = "POST", .prefix = "/github/webhook", .fn = github_webhook },
	{ 0 },
};

/*
 * The HTTP endpoint when berth.ini [http] listen asks for it. One that
 * cannot listen stops berthd from starting: the team would wait for
 * ChatOps and webhooks that never come.
 */
static int
start_http(struct berthd *D)
{
	const struct berth_config *cfg = &D->root.cfg;

	if (cfg->http_listen == NULL || cfg->http_listen[0] == '\0')
		return 0;
	if (http_start(&D->root, cfg->http_listen, cfg->http_max_connections,
	    http_routes, NULL, &D->http) < 0)
		return -1;
	log_say("HTTP endpoint on %s (port %d)", cfg->http_listen,
	    http_port(D->http));
	return 0;
}

/* Wire the supervisor, the router and the control server together. */
static int
setup(struct berthd *D)
{
	struct control_server *cs = &D->cs;
	const char *why;

	if (supervisor_init(&D->sv, &D->root, &sv_spawner_real) < 0)
		return -1;
	if (cgroup_available(&D->root, &why) == 0)
		log_say("dyno limits are not enforced: %s", why);
	supervisor_recover(&D->sv);
	if (build_sweep(&D->root) < 0)
		log_say("%s", berth_last_error());
	pthread_mutex_init(&D->router.lock, NULL);
	D->router.root = &D->root;
	pthread_mutex_lock(&D->router.lock);
	start_router(&D->router);
	pthread_mutex_unlock(&D->router.lock);
	cs->root = &D->root;
	cs->sv = &D->sv;
	cs->listen_fd = cs->spare_fd = -1;
	cs->max_clients = D->root.cfg.max_clients;
	cs->started_at = time(NULL);
	cs->has_router = D->router.rt != NULL;
	cs->on_shutdown = request_shutdown;
	cs->router_info = router_info;
	cs->add_status = add_status;
	cs->on_converged = converged;
	cs->data = D;
	cs->env = (struct rollout_env){
		.sv = &D->sv,
		.router = {
			.set = nginx_set,
			.drain = nginx_drain,
			.remove = nginx_remove,
			.data = &D->router,
		},
		.probe = rollout_probe_real,
		.boot_timeout = D->root.cfg.boot_timeout,
		.drain_ms = D->root.cfg.stop_timeout * 1000,
	};
	if (control_server_listen(cs) < 0)
		return -1;
	return start_http(D);
}

/*
 * Stop taking requests, stop the webhook sender (what it has not
 * recorded stays pending for the next start), every dyno, then nginx.
 */
static void
shut_down(struct berthd *D)
{
	char *pidpath = root_path(&D->root, "run/berthd.pid");

	log_say("stopping");
	http_stop(D->http);
	D->http = NULL;
	control_server_close(&D->cs);
	notify_stop(D->notify);
	D->notify = NULL;
	supervisor_stop_all(&D->sv);
	/* Their monitors removed their groups: this root's parent goes. */
	cgroup_sweep(&D->root, NULL, NULL);
	pthread_mutex_lock(&D->router.lock);
	if (D->router.rt != NULL)
		router_stop(D->router.rt);
	D->router.rt = NULL;
	pthread_mutex_unlock(&D->router.lock);
	log_say("stopped");
	unlink(pidpath);
	free(pidpath);
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
	static struct berthd D;
	const char *root_dir = NULL;
	char *down;
	int ch;

	D.sig_fd = D.pid_fd = D.nginx_fd = -1;
	pthread_mutex_init(&D.reap_lock, NULL);
	route_table_init(&D.router.want);
	pthread_mutex_init(&D.ready.lock, NULL);
	pthread_cond_init(&D.ready.cond, NULL);
	D.ready.fd = -1;
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
	repo_global_init();
	if (start(&D, root_dir != NULL ? root_dir : root_default()) < 0) {
		fprintf(stderr, "berthd: %s\n", berth_last_error());
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (setup_signals(&D) < 0 || setup(&D) < 0) {
		log_say("%s", berth_last_error());
		return 1;
	}
	/* Deliveries wait in the ledger: berthd runs without a sender. */
	if (notify_start(&D.root, &D.notify) < 0)
		log_say("webhooks are not sent: %s", berth_last_error());
	down = route_table_router_why(&D.router.want);
	log_say("berthd %s running for %s (pid %ld)%s", PACKAGE_VERSION,
	    D.root.dir, (long)getpid(), D.router.rt != NULL ? "" :
	    down != NULL ? ", its router not running yet" : ", without router");
	free(down);
	D.ready.fd = ready_fd;
	D.ready.started = now_ms();
	D.ready.deadline = D.ready.started +
	    (int64_t)ready_wait_s(&D.root.cfg) * 1000;
	D.next_review_check = now_ms() +
	    (int64_t)D.root.cfg.review_check_interval * 1000;
	control_server_converge_all(&D.cs);
	watch_ready(&D);
	main_loop(&D);
	shut_down(&D);
	/* Threads still serving clients end with the process. */
	_exit(0);
}
