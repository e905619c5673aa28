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
 * reaper this loop starts now and then.
 *
 * Threads: the main thread runs one poll() loop over the control
 * socket, a signalfd (SIGCHLD, SIGTERM, SIGINT) and every dyno's output
 * pipe, and wakes only for I/O or for the next timer (a restart after
 * back-off, a SIGKILL after stop_timeout, the reaper): no polling.
 */
#include "control-server.h"
#include "names.h"
#include "repo.h"
#include "review.h"
#include "root.h"
#include "router.h"
#include "rollout.h"
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
#include <unistd.h>

/* berthd's own router: nginx, with one change applied at a time. */
struct nginx_router {
	pthread_mutex_t lock;	/* held for one config change, not drains */
	struct router *rt;	/* NULL: no nginx */
};

struct berthd {
	struct berth_root root;
	struct supervisor sv;
	struct control_server cs;
	struct nginx_router router;
	int sig_fd;
	int pid_fd;
	int foreground;
	volatile int stopping;
	int64_t next_review_check;	/* monotonic ms */
	pthread_mutex_t reap_lock;
	int reaping;			/* a reaper thread runs */
	int reviving;			/* a thread restarts nginx */
};

/* ---- the router, as rollout.c sees it ---- */

static int
nginx_set(void *data, const char *app, const int *ports, size_t n)
{
	struct nginx_router *nr = data;
	int ret = 0;

	pthread_mutex_lock(&nr->lock);
	if (nr->rt != NULL)
		ret = router_set(nr->rt, app, ports, n);
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
	int ret = 0;

	pthread_mutex_lock(&nr->lock);
	if (nr->rt != NULL)
		ret = router_remove(nr->rt, app);
	pthread_mutex_unlock(&nr->lock);
	return ret;
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
	pthread_mutex_lock(&D->reap_lock);
	D->reviving = 0;
	pthread_mutex_unlock(&D->reap_lock);
	return NULL;
}

/*
 * After a SIGCHLD: nginx's master is our child (we are its subreaper),
 * so its death is one. Whether it died is looked at in a thread, under
 * the router's lock (a change may hold it a while), never in the loop.
 */
static void
maybe_revive(struct berthd *D)
{
	pthread_t t;

	pthread_mutex_lock(&D->reap_lock);
	if (D->router.rt != NULL && !D->reviving) {
		D->reviving = 1;
		if (pthread_create(&t, NULL, revive_thread, D) == 0)
			pthread_detach(t);
		else
			D->reviving = 0;
	}
	pthread_mutex_unlock(&D->reap_lock);
}

/* ---- stale review apps ---- */

static void *
reaper_thread(void *arg)
{
	struct berthd *D = arg;

	review_reap_stale(D->root.dir, log_say);
	pthread_mutex_lock(&D->reap_lock);
	D->reaping = 0;
	pthread_mutex_unlock(&D->reap_lock);
	return NULL;
}

/* Start the reaper when it is due and not running yet. */
static void
maybe_reap(struct berthd *D)
{
	pthread_t t;

	if (now_ms() < D->next_review_check)
		return;
	D->next_review_check = now_ms() +
	    (int64_t)D->root.cfg.review_check_interval * 1000;
	pthread_mutex_lock(&D->reap_lock);
	if (!D->reaping) {
		D->reaping = 1;
		if (pthread_create(&t, NULL, reaper_thread, D) == 0)
			pthread_detach(t);
		else
			D->reaping = 0;
	}
	pthread_mutex_unlock(&D->reap_lock);
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

		if (alloc < 2) {
			alloc = 2;
			pfds = xrealloc(pfds, alloc * sizeof(*pfds));
			owners = xrealloc(owners, alloc * sizeof(*owners));
		}
		pfds[n].fd = D->cs.listen_fd;
		pfds[n].events = POLLIN;
		owners[n++] = NULL;
		pfds[n].fd = D->sig_fd;
		pfds[n].events = POLLIN;
		owners[n++] = NULL;
		timeout = supervisor_poll_fds(&D->sv, &pfds, &owners, &n,
		    &alloc, D->next_review_check);
		if (poll(pfds, n, timeout) < 0 && errno != EINTR)
			break;
		if (pfds[1].revents & POLLIN)
			got_chld = read_signals(D);
		supervisor_poll_done(&D->sv, pfds + 2, owners + 2, n - 2,
		    got_chld);
		if (got_chld)
			maybe_revive(D);
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

	if (root_open(&D->root, root_dir) < 0)
		return -1;
	if (take_pid_file(D) < 0) {
		root_close(&D->root);
		return -1;
	}
	if (D->foreground)
		return 0;
	dir = xstrdup(D->root.dir);
	close(D->pid_fd);
	D->pid_fd = -1;
	root_close(&D->root);
	if (daemonize(dir) < 0 || root_open(&D->root, dir) < 0 ||
	    take_pid_file(D) < 0) {
		log_say("%s", berth_last_error());
		free(dir);
		exit(1);
	}
	free(dir);
	return 0;
}

/* Wire the supervisor, the router and the control server together. */
static int
setup(struct berthd *D)
{
	struct control_server *cs = &D->cs;
	int rc;

	if (supervisor_init(&D->sv, &D->root, &sv_spawner_real) < 0)
		return -1;
	supervisor_recover(&D->sv);
	pthread_mutex_init(&D->router.lock, NULL);
	rc = router_start(&D->root, &D->router.rt);
	if (rc != 0)
		log_say("%s", berth_last_error());
	cs->root = &D->root;
	cs->sv = &D->sv;
	cs->listen_fd = -1;
	cs->started_at = time(NULL);
	cs->has_router = D->router.rt != NULL;
	cs->on_shutdown = request_shutdown;
	cs->router_info = router_info;
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
	return control_server_listen(cs);
}

/* Stop taking requests, stop every dyno, then nginx. */
static void
shut_down(struct berthd *D)
{
	char *pidpath = root_path(&D->root, "run/berthd.pid");

	log_say("stopping");
	control_server_close(&D->cs);
	supervisor_stop_all(&D->sv);
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
	int ch;

	D.sig_fd = D.pid_fd = -1;
	pthread_mutex_init(&D.reap_lock, NULL);
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
	log_say("berthd %s running for %s (pid %ld)%s", PACKAGE_VERSION,
	    D.root.dir, (long)getpid(),
	    D.router.rt != NULL ? "" : ", without router");
	if (ready_fd >= 0) {
		ssize_t w = write(ready_fd, "r", 1);

		(void)w;
		close(ready_fd);
	}
	D.next_review_check = now_ms() +
	    (int64_t)D.root.cfg.review_check_interval * 1000;
	control_server_converge_all(&D.cs);
	main_loop(&D);
	shut_down(&D);
	/* Threads still serving clients end with the process. */
	_exit(0);
}
