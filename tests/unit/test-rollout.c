/*
 * test-rollout.c - berthd's rollout and convergence logic (rollout.c
 * over supervisor.c) driven through a fake spawner, a fake readiness
 * probe and a fake router: a deploy that succeeds and replaces the old
 * dynos; a web dyno that never listens; a failed health check; a scale
 * request while a deploy of the same app runs; destroy during a deploy;
 * two apps deploying at once without waiting on each other; and the
 * real readiness probe, which a TCP self-connect does not fool.
 *
 * The fake dynos are real processes (a forked child that pauses, or
 * exits at once), so stopping and reaping are the supervisor's own; what
 * they "do" on their port is the probe's answer, chosen by the dyno's
 * command: "ok", "never" (never accepts), "unhealthy" (accepts, health
 * check says 500), "gate" (accepts once the test opens the gate). Each
 * test has its own server root in a temp dir and stops every dyno it
 * started.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rollout.h"
#include "supervisor.h"
#include "util.h"

#define DEADLINE_MS 10000

/* What the fake router saw, in order: "set APP n" or "remove APP". */
struct router_log {
	pthread_mutex_t lock;
	struct strvec calls;
	int last_ports[16];
	size_t nlast;
};

struct fixture {
	char *dir;
	struct berth_root root;
	struct supervisor sv;
	struct rollout_env env;
	struct router_log rlog;
	pthread_t ticker;
	volatile int ticking;
	/* the gate "gate" dynos wait for */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	int gate_open;
};

/* ---- fakes ---- */

static int
fake_prepare(void *data, const struct berth_root *r, const char *app,
    const char *slug_id, const char *name, struct dyno_dir *out)
{
	(void)data;
	(void)app;
	(void)slug_id;
	(void)name;
	memset(out, 0, sizeof(*out));
	out->path = xstrdup(r->dir);
	return 0;
}

/*
 * A child that says hello on its output pipe and waits for SIGTERM, or
 * exits at once: what berthd watches is the child itself (no monitor).
 */
static int
fake_spawn(void *data, const struct berth_root *r,
    const struct dyno_spec *spec, struct monitor_proc *out)
{
	int crash = strcmp(spec->command, "crash") == 0, p[2];
	pid_t pid;

	(void)data;
	(void)r;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		static const char hello[] = "fake dyno up\n";
		ssize_t w;

		setsid();
		w = write(p[1], hello, sizeof(hello) - 1);
		(void)w;
		if (crash)
			_exit(3);
		for (;;)
			pause();
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	out->pid = out->pgid = pid;
	out->out_fd = p[0];
	return 0;
}

/* The command of the dyno on port (the sv lock is taken here). */
static void
command_of(struct fixture *f, int port, char *buf, size_t size)
{
	struct sv_dyno *d;

	buf[0] = '\0';
	pthread_mutex_lock(&f->sv.lock);
	for (d = f->sv.dynos; d != NULL; d = d->next)
		if (d->port == port)
			snprintf(buf, size, "%s", d->command);
	pthread_mutex_unlock(&f->sv.lock);
}

static int
fake_accepts(void *data, int port)
{
	struct fixture *f = data;
	char cmd[64];
	int open;

	command_of(f, port, cmd, sizeof(cmd));
	/* A crashing dyno never listens: it is found crashed. */
	if (strcmp(cmd, "never") == 0 || strcmp(cmd, "crash") == 0)
		return 0;
	if (strcmp(cmd, "gate") != 0)
		return 1;
	pthread_mutex_lock(&f->gate_lock);
	open = f->gate_open;
	pthread_mutex_unlock(&f->gate_lock);
	return open;
}

static long
fake_health(void *data, int port, const struct healthcheck *hc,
    struct strbuf *body)
{
	struct fixture *f = data;
	char cmd[64];

	(void)hc;
	strbuf_addstr(body, "all good");
	command_of(f, port, cmd, sizeof(cmd));
	return strcmp(cmd, "unhealthy") == 0 ? 500 : 200;
}

static int
fake_set(void *data, const char *app, const int *ports, size_t n)
{
	struct router_log *l = data;
	size_t i;

	pthread_mutex_lock(&l->lock);
	strvec_pushf(&l->calls, "set %s %zu", app, n);
	for (i = 0; i < n && i < 16; i++)
		l->last_ports[i] = ports[i];
	l->nlast = n;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

static int
fake_drain(void *data, const char *app, const int *ports, size_t n,
    int timeout_ms)
{
	(void)data;
	(void)app;
	(void)ports;
	(void)n;
	(void)timeout_ms;
	return 0;
}

static int
fake_remove(void *data, const char *app)
{
	struct router_log *l = data;

	pthread_mutex_lock(&l->lock);
	strvec_pushf(&l->calls, "remove %s", app);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

/* The event loop, as berthd runs it, without its signalfd. */
static void *
ticker(void *arg)
{
	struct fixture *f = arg;
	struct pollfd *pfds = NULL;
	struct sv_dyno **owners = NULL;
	size_t alloc = 0;

	while (f->ticking) {
		size_t n = 0;
		int timeout = supervisor_poll_fds(&f->sv, &pfds, &owners, &n,
		    &alloc, 0);

		/* No SIGCHLD here: look for exits at least every 10 ms. */
		if (timeout < 0 || timeout > 10)
			timeout = 10;
		poll(pfds, n, timeout);
		supervisor_poll_done(&f->sv, pfds, owners, n, 1);
	}
	free(pfds);
	free(owners);
	return NULL;
}

static const struct sv_spawner fake_spawner = {
	.prepare = fake_prepare,
	.spawn = fake_spawn,
	.data = NULL,
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/berth-rollout-XXXXXX";
	char *p;

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->root.dir = f->dir;
	config_defaults(&f->root.cfg);
	/* Below the kernel's ephemeral ports (berth.ini refuses those). */
	f->root.cfg.port_min = 22000;
	f->root.cfg.port_max = 22999;
	f->root.cfg.boot_timeout = 1;
	f->root.cfg.stop_timeout = 2;
	p = path_join(f->dir, "run/dynos");
	assert_int_equal(mkdir_p(p, 0700), 0);
	free(p);
	assert_int_equal(supervisor_init(&f->sv, &f->root, &fake_spawner), 0);
	f->sv.accepts = fake_accepts;
	f->sv.accepts_data = f;
	pthread_mutex_init(&f->rlog.lock, NULL);
	pthread_mutex_init(&f->gate_lock, NULL);
	pthread_cond_init(&f->gate_cond, NULL);
	f->env = (struct rollout_env){
		.sv = &f->sv,
		.router = {
			.set = fake_set,
			.drain = fake_drain,
			.remove = fake_remove,
			.data = &f->rlog,
		},
		.probe = {
			.accepts = fake_accepts,
			.health = fake_health,
			.data = f,
		},
		.boot_timeout = 1,
		.drain_ms = 100,
	};
	f->ticking = 1;
	assert_int_equal(pthread_create(&f->ticker, NULL, ticker, f), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	supervisor_stop_all(&f->sv);
	f->ticking = 0;
	supervisor_wake(&f->sv);
	pthread_join(f->ticker, NULL);
	supervisor_clear(&f->sv);
	strvec_clear(&f->rlog.calls);
	config_clear(&f->root.cfg);
	rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---- */

/*
 * A plan for release vN of app: process type web running cmd, the
 * formation web=quantity, and a health check on web when check.
 */
static void
make_plan(struct rollout_plan *plan, int version, const char *cmd,
    int quantity, int check)
{
	memset(plan, 0, sizeof(*plan));
	plan->rel.id = 100 + version;
	plan->rel.app_id = 1;
	plan->rel.version = version;
	plan->rel.slug_id = xstrdup("slug");
	plan->rel.config = xstrdup("{}");
	plan->rel.description = xstrdup("test");
	plan->commit = xstrdup("0123456789abcdef0123456789abcdef01234567");
	plan->types.items = xcalloc(1, sizeof(*plan->types.items));
	plan->types.items[0].name = xstrdup("web");
	plan->types.items[0].command = xstrdup(cmd);
	plan->types.nr = 1;
	plan->form = xcalloc(1, sizeof(*plan->form));
	plan->form[0].type = xstrdup("web");
	plan->form[0].quantity = quantity;
	plan->nform = 1;
	if (check) {
		/* 1: a status check; 2: then one whose content the answer
		 * ("all good") lacks; 3: then one whose content it has. */
		static const char *const ajs[] = { "", "{\"healthchecks\": "
		    "{\"web\": [{\"path\": \"/health\", \"attempts\": 2}]}}",
		    "{\"healthchecks\": {\"web\": [{\"path\": \"/health\"}, "
		    "{\"path\": \"/about\", \"name\": \"about\", \"content\": "
		    "\"missing\", \"attempts\": 2, \"wait\": 0}]}}",
		    "{\"healthchecks\": {\"web\": [{\"path\": \"/health\"}, "
		    "{\"path\": \"/about\", \"content\": \"good\"}]}}" };
		const char *aj = ajs[check];

		assert_int_equal(appjson_parse(aj, strlen(aj), &plan->aj,
		    NULL, NULL), 0);
		plan->has_aj = 1;
	}
}

/* Add process type name running cmd, one dyno of it, to plan. */
static void
add_type(struct rollout_plan *plan, const char *name, const char *cmd)
{
	size_t n = plan->types.nr;

	plan->types.items = xrealloc(plan->types.items, (n + 1) *
	    sizeof(*plan->types.items));
	plan->types.items[n].name = xstrdup(name);
	plan->types.items[n].command = xstrdup(cmd);
	plan->types.nr = n + 1;
	plan->form = xrealloc(plan->form, (plan->nform + 1) *
	    sizeof(*plan->form));
	plan->form[plan->nform].type = xstrdup(name);
	plan->form[plan->nform].quantity = 1;
	plan->form[plan->nform].memory = 0;
	plan->nform++;
}

/* Progress lines, kept. */
static void
keep_line(const char *line, void *data)
{
	strvec_push(data, line);
}

/*
 * Deploy vN of app as its operation, with a worker running worker too
 * (NULL: none) and its progress lines into lines (NULL: nowhere); the
 * rollout's result.
 */
static int
deploy_with(struct fixture *f, const char *app, int64_t id, int version,
    const char *cmd, int quantity, const char *worker, struct strvec *lines)
{
	struct progress pr = { lines != NULL ? keep_line : NULL, lines };
	struct rollout_plan plan;
	struct sv_app *a;
	int rc;

	make_plan(&plan, version, cmd, quantity, 0);
	if (worker != NULL)
		add_type(&plan, "worker", worker);
	a = sv_app_op_begin(&f->sv, app, id);
	rc = rollout_release(&f->env, a, &plan, NULL, 1, &pr);
	sv_app_op_end(&f->sv, a);
	rollout_plan_clear(&plan);
	return rc;
}

/* Deploy vN of app as its operation; the rollout's result. */
static int
deploy(struct fixture *f, const char *app, int64_t id, int version,
    const char *cmd, int quantity, int check)
{
	struct rollout_plan plan;
	struct sv_app *a;
	int rc;

	if (!check)
		return deploy_with(f, app, id, version, cmd, quantity, NULL,
		    NULL);
	make_plan(&plan, version, cmd, quantity, check);
	a = sv_app_op_begin(&f->sv, app, id);
	rc = rollout_release(&f->env, a, &plan, NULL, 1, NULL);
	sv_app_op_end(&f->sv, a);
	rollout_plan_clear(&plan);
	return rc;
}

/* The dyno of app named name (sv->lock held), or NULL. */
static struct sv_dyno *
dyno_named(struct fixture *f, const char *app, const char *name)
{
	struct sv_dyno *d;
	char n[64];

	for (d = f->sv.dynos; d != NULL; d = d->next) {
		sv_dyno_name(d, n);
		if (strcmp(d->app->name, app) == 0 && strcmp(n, name) == 0 &&
		    d->state != SV_STOPPING)
			return d;
	}
	return NULL;
}

/* Poll until app's dyno name is in state with at least restarts. */
static void
wait_state(struct fixture *f, const char *app, const char *name,
    enum sv_state state, int restarts)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	int done = 0;

	while (!done) {
		struct sv_dyno *d;

		assert_true(now_ms() < deadline);
		pthread_mutex_lock(&f->sv.lock);
		d = dyno_named(f, app, name);
		done = d != NULL && d->state == state &&
		    d->restarts >= restarts;
		pthread_mutex_unlock(&f->sv.lock);
		if (!done)
			poll(NULL, 0, 10);
	}
}

/* How many of app's dynos are in state (and of release version, if
 * version > 0). */
static int
count(struct fixture *f, const char *app, enum sv_state state, int version)
{
	struct sv_dyno *d;
	int n = 0;

	pthread_mutex_lock(&f->sv.lock);
	for (d = f->sv.dynos; d != NULL; d = d->next)
		if (strcmp(d->app->name, app) == 0 && d->state == state &&
		    (version == 0 || d->rel.version == version))
			n++;
	pthread_mutex_unlock(&f->sv.lock);
	return n;
}

/* Poll until app has no dyno left in state (deadline DEADLINE_MS). */
static void
wait_none(struct fixture *f, const char *app, enum sv_state state)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	while (count(f, app, state, 0) > 0) {
		assert_true(now_ms() < deadline);
		poll(NULL, 0, 10);
	}
}

/* Poll until n operations of app have been asked for (taken a ticket). */
static void
wait_queued(struct fixture *f, const char *app, unsigned long n)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	for (;;) {
		struct sv_app *a;
		unsigned long queued = 0;

		pthread_mutex_lock(&f->sv.lock);
		for (a = f->sv.apps; a != NULL; a = a->next)
			if (strcmp(a->name, app) == 0)
				queued = a->op_next - a->op_serving;
		pthread_mutex_unlock(&f->sv.lock);
		if (queued >= n)
			return;
		assert_true(now_ms() < deadline);
		poll(NULL, 0, 5);
	}
}

static void
open_gate(struct fixture *f)
{
	pthread_mutex_lock(&f->gate_lock);
	f->gate_open = 1;
	pthread_mutex_unlock(&f->gate_lock);
}

static int
router_saw(struct fixture *f, const char *call)
{
	size_t i;
	int at = -1;

	pthread_mutex_lock(&f->rlog.lock);
	for (i = 0; i < f->rlog.calls.nr; i++)
		if (strcmp(f->rlog.calls.v[i], call) == 0)
			at = (int)i;
	pthread_mutex_unlock(&f->rlog.lock);
	return at;
}

/* ---- a deploy in a thread of its own ---- */

struct bg_deploy {
	struct fixture *f;
	const char *app;
	int64_t id;
	int version;
	const char *cmd;
	int quantity;
	const char *worker;	/* a worker's command; NULL = none */
	struct strvec lines;	/* its progress, with a worker */
	volatile int done;
	int rc;
	pthread_t t;
};

static void *
bg_deploy_run(void *arg)
{
	struct bg_deploy *b = arg;

	b->rc = deploy_with(b->f, b->app, b->id, b->version, b->cmd,
	    b->quantity, b->worker, b->worker != NULL ? &b->lines : NULL);
	b->done = 1;
	return NULL;
}

static void
bg_start(struct bg_deploy *b)
{
	assert_int_equal(pthread_create(&b->t, NULL, bg_deploy_run, b), 0);
}

/* ---- tests ---- */

static void
test_deploy_replaces_old_dynos(void **state)
{
	struct fixture *f = *state;
	int v1_port;

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 2, 0), 0);
	assert_int_equal(count(f, "shop", SV_UP, 1), 2);
	assert_true(router_saw(f, "set shop 2") >= 0);
	v1_port = f->rlog.last_ports[0];

	assert_int_equal(deploy(f, "shop", 1, 2, "ok", 2, 0), 0);
	assert_int_equal(count(f, "shop", SV_UP, 2), 2);
	/* The router points at the new dynos only, and the old go. */
	assert_int_equal(f->rlog.nlast, 2);
	assert_int_not_equal(f->rlog.last_ports[0], v1_port);
	assert_int_not_equal(f->rlog.last_ports[1], v1_port);
	wait_none(f, "shop", SV_STOPPING);
	assert_int_equal(count(f, "shop", SV_UP, 1), 0);
}

static void
test_never_listens_keeps_old(void **state)
{
	struct fixture *f = *state;
	struct sv_app *a;
	size_t calls;

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 1, 0), 0);
	calls = f->rlog.calls.nr;
	assert_int_equal(deploy(f, "shop", 1, 2, "never", 1, 0), -1);
	assert_non_null(strstr(berth_last_error(),
	    "web.1 did not accept connections on $PORT"));
	assert_non_null(strstr(berth_last_error(), "boot_timeout"));
	assert_non_null(strstr(berth_last_error(), "fake dyno up"));
	/* v1 keeps serving: same dyno, no route change, still its release. */
	assert_int_equal(count(f, "shop", SV_UP, 1), 1);
	assert_int_equal(f->rlog.calls.nr, calls);
	pthread_mutex_lock(&f->sv.lock);
	a = sv_app_find(&f->sv, "shop");
	assert_int_equal(a->rel.version, 1);
	pthread_mutex_unlock(&f->sv.lock);
	wait_none(f, "shop", SV_STOPPING);
	assert_int_equal(count(f, "shop", SV_STARTING, 2), 0);
}

static void
test_crash_during_boot(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(deploy(f, "shop", 1, 1, "crash", 1, 0), -1);
	assert_non_null(strstr(berth_last_error(),
	    "web.1 crashed during boot (exit status 3)"));
	assert_int_equal(router_saw(f, "set shop 1"), -1);
}

static void
test_failed_health_check(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 1, 1), 0);
	assert_int_equal(deploy(f, "shop", 1, 2, "unhealthy", 1, 1), -1);
	assert_non_null(strstr(berth_last_error(), "web.1 failed its health "
	    "check GET /health after 2 tries: got HTTP 500 (app.json "
	    "healthchecks.web)"));
	assert_int_equal(count(f, "shop", SV_UP, 1), 1);
}

static void
test_content_check(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 1, 1), 0);
	assert_int_equal(deploy(f, "shop", 1, 2, "ok", 1, 2), -1);
	assert_non_null(strstr(berth_last_error(), "web.1 failed its health "
	    "check GET /about after 2 tries: got HTTP 200 without 'missing' "
	    "(app.json healthchecks.web \"about\")"));
	assert_int_equal(count(f, "shop", SV_UP, 1), 1);
	assert_int_equal(deploy(f, "shop", 1, 3, "ok", 1, 3), 0);
	assert_int_equal(count(f, "shop", SV_UP, 3), 1);
}

/* A second operation of the app, in a thread: scale to 3, or destroy. */
struct bg_op {
	struct fixture *f;
	int destroy;
	volatile int done;
	int rc;
	pthread_t t;
};

static void *
bg_op_run(void *arg)
{
	struct bg_op *o = arg;
	struct rollout_plan plan;
	struct sv_app *a;

	make_plan(&plan, 2, "gate", 3, 0);
	a = sv_app_op_begin(&o->f->sv, "shop", 1);
	if (o->destroy)
		rollout_destroy(&o->f->env, a);
	else
		o->rc = rollout_converge(&o->f->env, a, &plan, NULL);
	sv_app_op_end(&o->f->sv, a);
	rollout_plan_clear(&plan);
	o->done = 1;
	return NULL;
}

/*
 * Start a deploy of shop v2 whose dynos wait at the gate, then op (a
 * scale or a destroy) behind it; returns once op is queued.
 */
static void
deploy_then(struct fixture *f, struct bg_deploy *b, struct bg_op *op)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	bg_start(b);
	while (count(f, "shop", SV_STARTING, 2) < b->quantity) {
		assert_true(now_ms() < deadline);
		poll(NULL, 0, 5);
	}
	assert_int_equal(pthread_create(&op->t, NULL, bg_op_run, op), 0);
	wait_queued(f, "shop", 2);
	/* The deploy holds the app: the second operation did nothing. */
	assert_false(b->done);
	assert_false(op->done);
}

/* A scale asked for mid-deploy waits, then applies to the new release. */
static void
test_scale_during_deploy(void **state)
{
	struct fixture *f = *state;
	struct bg_deploy b = { .f = f, .app = "shop", .id = 1, .version = 2,
	    .cmd = "gate", .quantity = 1 };
	struct bg_op scale = { .f = f };

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 1, 0), 0);
	deploy_then(f, &b, &scale);
	assert_int_equal(count(f, "shop", SV_STARTING, 2), 1);
	open_gate(f);
	pthread_join(b.t, NULL);
	pthread_join(scale.t, NULL);
	assert_int_equal(b.rc, 0);
	assert_int_equal(scale.rc, 0);
	assert_int_equal(count(f, "shop", SV_UP, 2), 3);
	assert_int_equal(f->rlog.nlast, 3);
	wait_none(f, "shop", SV_STOPPING);
	assert_int_equal(count(f, "shop", SV_UP, 1), 0);
}

/* Destroy asked for mid-deploy runs after it, and nothing is left. */
static void
test_destroy_during_deploy(void **state)
{
	struct fixture *f = *state;
	struct bg_deploy b = { .f = f, .app = "shop", .id = 1, .version = 2,
	    .cmd = "gate", .quantity = 2 };
	struct bg_op destroy = { .f = f, .destroy = 1 };

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 1, 0), 0);
	deploy_then(f, &b, &destroy);
	assert_int_equal(router_saw(f, "remove shop"), -1);
	open_gate(f);
	pthread_join(b.t, NULL);
	pthread_join(destroy.t, NULL);
	assert_int_equal(b.rc, 0);
	/* The route was set by the deploy, then removed. */
	assert_true(router_saw(f, "set shop 2") >= 0);
	assert_true(router_saw(f, "remove shop") > router_saw(f,
	    "set shop 2"));
	wait_none(f, "shop", SV_UP);
	wait_none(f, "shop", SV_STOPPING);
	pthread_mutex_lock(&f->sv.lock);
	assert_null(sv_app_find(&f->sv, "shop"));
	pthread_mutex_unlock(&f->sv.lock);
	/* A deploy of the destroyed app does not bring it back. */
	assert_int_equal(deploy(f, "shop", 1, 3, "ok", 1, 0), -1);
	assert_non_null(strstr(berth_last_error(), "shop was destroyed"));
}

/* While one app's deploy waits for its dynos, another deploys. */
static void
test_two_apps_at_once(void **state)
{
	struct fixture *f = *state;
	struct bg_deploy slow = { .f = f, .app = "slow", .id = 1, .version = 1,
	    .cmd = "gate", .quantity = 1 };
	int64_t deadline = now_ms() + DEADLINE_MS;

	bg_start(&slow);
	while (count(f, "slow", SV_STARTING, 1) < 1) {
		assert_true(now_ms() < deadline);
		poll(NULL, 0, 5);
	}
	assert_int_equal(deploy(f, "fast", 2, 1, "ok", 2, 0), 0);
	assert_int_equal(count(f, "fast", SV_UP, 1), 2);
	/* fast went live while slow still waited for its dyno. */
	assert_false(slow.done);
	assert_int_equal(router_saw(f, "set slow 1"), -1);
	open_gate(f);
	pthread_join(slow.t, NULL);
	assert_int_equal(slow.rc, 0);
	assert_true(router_saw(f, "set slow 1") > router_saw(f,
	    "set fast 2"));
}

/* A crashed formation dyno restarts after its back-off. */
static void
test_crash_restarts(void **state)
{
	struct fixture *f = *state;
	struct sv_dyno *d;
	int64_t deadline = now_ms() + DEADLINE_MS;
	int pid = 0, restarts = 0;

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 1, 0), 0);
	pthread_mutex_lock(&f->sv.lock);
	for (d = f->sv.dynos; d != NULL; d = d->next)
		pid = d->pid;
	pthread_mutex_unlock(&f->sv.lock);
	assert_true(pid > 0);
	kill(pid, SIGKILL);
	while (restarts == 0) {
		assert_true(now_ms() < deadline);
		poll(NULL, 0, 10);
		pthread_mutex_lock(&f->sv.lock);
		for (d = f->sv.dynos; d != NULL; d = d->next)
			if (d->restarts > 0 && d->pid > 0 && d->pid != pid)
				restarts = d->restarts;
		pthread_mutex_unlock(&f->sv.lock);
	}
	assert_int_equal(restarts, 1);
}

/* A TCP socket bound to 127.0.0.1:port (0: any), listening or not. */
static int
loopback_socket(int port, int listening, int *bound)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listening)
		assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*bound = ntohs(sa.sin_port);
	return fd;
}

/*
 * A socket that connects to its own address "succeeds" with nothing
 * listening (TCP simultaneous open: what a probe's connect() to a free
 * ephemeral port does now and then). That is made to happen here on
 * purpose: the check sees it, a real listener's connection is not one,
 * and the probe answers for listeners only.
 */
static void
test_probe_ignores_self_connect(void **state)
{
	struct sockaddr_in sa;
	int self, lst, cli, port;

	(void)state;
	self = loopback_socket(0, 0, &port);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(self, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(socket_connected_to_self(self));

	lst = loopback_socket(0, 1, &port);
	assert_true(sv_port_accepts(port));
	cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons((uint16_t)port);
	assert_int_equal(connect(cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_false(socket_connected_to_self(cli));
	close(cli);
	close(lst);
	/* Nothing listens there any more. */
	assert_false(sv_port_accepts(port));
	close(self);
}

/* Whether one of lines holds text. */
static int
said(const struct strvec *lines, const char *text)
{
	size_t i;

	for (i = 0; i < lines->nr; i++)
		if (strstr(lines->v[i], text) != NULL)
			return 1;
	return 0;
}

/*
 * A worker that crashes while its rollout waits for the web dyno is
 * restarted once the rollout is done with it, and the rollout does not
 * report it up.
 */
static void
test_worker_crash_during_rollout(void **state)
{
	struct fixture *f = *state;
	struct bg_deploy b = { .f = f, .app = "shop", .id = 1, .version = 1,
	    .cmd = "gate", .quantity = 1, .worker = "crash",
	    .lines = STRVEC_INIT };

	bg_start(&b);
	wait_state(f, "shop", "worker.1", SV_CRASHED, 0);
	open_gate(f);
	pthread_join(b.t, NULL);
	assert_int_equal(b.rc, 0);
	assert_true(said(&b.lines, "web.1 up"));
	assert_true(said(&b.lines, "worker.1 crashed (exit status 3)"));
	assert_false(said(&b.lines, "worker.1 up"));
	/* Not left crashed for good: it restarts (and crashes again). */
	wait_state(f, "shop", "worker.1", SV_CRASHED, 1);
	strvec_clear(&b.lines);
}

/* A crash-restarted web dyno is up, not starting, once it accepts. */
static void
test_restarted_dyno_is_up(void **state)
{
	struct fixture *f = *state;
	pid_t pid;

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 1, 0), 0);
	pthread_mutex_lock(&f->sv.lock);
	pid = dyno_named(f, "shop", "web.1")->pid;
	pthread_mutex_unlock(&f->sv.lock);
	kill(pid, SIGKILL);
	wait_state(f, "shop", "web.1", SV_UP, 1);
}

/*
 * Adopted dynos: the oldest running one of each TYPE.N of the app's
 * release is claimed (with the release's config); one of another
 * release and a younger twin are stopped.
 */
static void
test_adopt_claim(void **state)
{
	struct fixture *f = *state;
	struct sv_dyno *web1, *web2, *twin;
	enum sv_state s1, s2, st;
	struct sv_app *a;
	char *config;
	int adopted;
	size_t stale;

	assert_int_equal(deploy(f, "shop", 1, 1, "ok", 2, 0), 0);
	pthread_mutex_lock(&f->sv.lock);
	a = sv_app_find(&f->sv, "shop");
	web1 = dyno_named(f, "shop", "web.1");
	web2 = dyno_named(f, "shop", "web.2");
	pthread_mutex_unlock(&f->sv.lock);
	twin = sv_dyno_start(&f->sv, a, "web", 1, 0);
	pthread_mutex_lock(&f->sv.lock);
	/* As supervisor_recover() leaves them: no config, not claimed. */
	web1->adopted = web2->adopted = twin->adopted = 1;
	twin->rollout = 0;
	twin->started_at = web1->started_at + 1;
	web2->rel.id = 99;
	free(web1->rel.config);
	web1->rel.config = NULL;
	sv_adopt_claim(&f->sv, a);
	adopted = web1->adopted;
	s1 = web1->state;
	s2 = web2->state;
	st = twin->state;
	config = web1->rel.config ? xstrdup(web1->rel.config) : NULL;
	stale = sv_adopt_stale(&f->sv, a, a->rel.id);
	pthread_mutex_unlock(&f->sv.lock);
	sv_unpin(&f->sv, &twin, 1);
	assert_int_equal(adopted, 0);
	assert_int_not_equal(s1, SV_STOPPING);
	assert_non_null(config);
	assert_string_equal(config, "{}");
	free(config);
	assert_int_equal(s2, SV_STOPPING);
	assert_int_equal(st, SV_STOPPING);
	assert_int_equal(stale, 0);
	wait_state(f, "shop", "web.1", SV_UP, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deploy_replaces_old_dynos,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_listens_keeps_old,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_boot,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_check, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failed_health_check,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_scale_during_deploy,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_during_deploy,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_apps_at_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_restarts,
		    setup, teardown),
		cmocka_unit_test(test_probe_ignores_self_connect),
		cmocka_unit_test_setup_teardown(
		    test_worker_crash_during_rollout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restarted_dyno_is_up,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_claim, setup,
		    teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
