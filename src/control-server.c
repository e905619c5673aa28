/*
 * control-server.c - berthd's control requests (see control-server.h):
 * the command table, loading what an operation works towards from the
 * ledger, and the deploy operation (release phase, rollout, settle).
 */
#include "control-server.h"
#include "control.h"
#include "gate.h"
#include "names.h"
#include "output.h"
#include "release.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* One request being served. */
struct request {
	struct control_server *cs;
	json_t *req;
	const char *target;	/* "web", "web.1" or NULL */
	struct ledger *db;	/* its own connection */
	struct app la;		/* the live app it names */
	struct progress pr;	/* to the client */
	int fd;			/* the client's */
	int replied;		/* a staged deploy answered early */
};

struct control_cmd {
	const char *name;
	/* What it needs of "app": nothing, a valid name, or the live app
	 * loaded from the ledger (in rq->la, with rq->db open). */
	enum { APP_NONE, APP_NAMED, APP_LIVE } app;
	json_t *(*run)(struct request *rq);
};

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

static json_t *
ok_json(void)
{
	return json_pack("{s:b}", "ok", 1);
}

/* 0 as ok, -1 as the error berth_error() holds. */
static json_t *
result_json(int rc)
{
	return rc < 0 ? fail_json("%s", berth_last_error()) : ok_json();
}

static void
client_line(const char *line, void *data)
{
	control_progress(*(int *)data, "%s", line);
}

/*
 * Load release rel_id of la (0 = its current one) with what an
 * operation needs of it: commit, types, formation, health checks.
 */
static int
plan_load(const struct berth_root *r, struct ledger *db, const struct app *la,
    int64_t rel_id, struct rollout_plan *plan)
{
	char *slugdir;
	int rc;

	memset(plan, 0, sizeof(*plan));
	plan->stopped = la->stopped;
	if (release_load(db, la->id, rel_id, &plan->rel, &plan->commit,
	    &plan->types) < 0)
		return -1;
	if (plan->rel.app_id != la->id) {
		rollout_plan_clear(plan);
		return berth_error("release %lld is not one of %s",
		    (long long)rel_id, la->name);
	}
	if (release_formation(db, la->id, &plan->types, &plan->form,
	    &plan->nform) < 0) {
		rollout_plan_clear(plan);
		return -1;
	}
	slugdir = root_pathf(r, "slugs/%s", plan->rel.slug_id);
	rc = appjson_load(slugdir, &plan->aj, NULL, NULL);
	free(slugdir);
	if (rc == 0)
		plan->has_aj = 1;
	else
		appjson_clear(&plan->aj);
	berth_clear_error();
	return 0;
}

/* ---- a push's release waits for git (gate.h) ---- */

/*
 * A deploy that answered its client "staged" and goes on without it:
 * what it says from then on is kept for the "await" of the pusher's
 * reference-transaction hook.
 */
struct staged {
	int64_t release_id;
	struct strbuf lines;
	int done, ok;
	char *why;		/* when not ok */
	time_t done_at;
	struct staged *next;
};

/* What the deploy's before_switch needs. */
struct gate_wait {
	struct request *rq;
	struct release rel;	/* id, version, commit and gate */
	struct staged *st;
};

/* Kept at most this long when nobody awaits them (old hooks). */
#define STAGED_KEEP_S 600
/* A receive-pack that neither moves the ref nor exits for this long is
 * given up on. */
#define GATE_WAIT_MS (10 * 60 * 1000)

static void
staged_line(const char *line, void *data)
{
	struct gate_wait *gw = data;
	struct control_server *cs = gw->rq->cs;

	pthread_mutex_lock(&cs->staged_lock);
	strbuf_addf(&gw->st->lines, "%s\n", line);
	pthread_mutex_unlock(&cs->staged_lock);
}

static void
staged_free(struct staged *st)
{
	strbuf_release(&st->lines);
	free(st->why);
	free(st);
}

/* Take the entry for release_id out of the list, and free the ones
 * kept too long (lock held). */
static struct staged *
staged_take(struct control_server *cs, int64_t release_id)
{
	struct staged **pp, *st;
	time_t now = time(NULL);

	for (pp = &cs->staged; (st = *pp) != NULL;) {
		if (st->release_id == release_id ||
		    (st->done && now - st->done_at > STAGED_KEEP_S)) {
			*pp = st->next;
			if (st->release_id == release_id)
				return st;
			staged_free(st);
		} else
			pp = &st->next;
	}
	return NULL;
}

/* Answer the client now, and keep what the deploy says from here on. */
static void
answer_staged(struct gate_wait *gw)
{
	struct request *rq = gw->rq;
	struct control_server *cs = rq->cs;

	control_send(rq->fd, json_pack("{s:b, s:b, s:i}", "ok", 1, "staged",
	    1, "version", gw->rel.version));
	rq->replied = 1;
	gw->st = xcalloc(1, sizeof(*gw->st));
	gw->st->release_id = gw->rel.id;
	strbuf_init(&gw->st->lines);
	pthread_mutex_lock(&cs->staged_lock);
	staged_take(cs, 0);	/* drops the expired ones */
	gw->st->next = cs->staged;
	cs->staged = gw->st;
	pthread_mutex_unlock(&cs->staged_lock);
	rq->pr.fn = staged_line;
	rq->pr.data = gw;
}

/*
 * Whether git has refused the push already (its hook was killed while
 * it waited for us): then no release phase or dyno is started for it.
 * -1 with berth_error() when it has.
 */
static int
refused(struct request *rq, const struct gate_wait *gw)
{
	char sha[8];

	if (gw->rel.gate == NULL || gate_check(rq->cs->root, rq->la.pipeline,
	    &gw->rel) != GATE_REFUSED)
		return 0;
	return berth_error("git did not take the push of %s (it failed, or "
	    "its hook was killed)", short_sha(gw->rel.commit, sha));
}

/*
 * The rollout's before_switch: the new dynos are up; let pre-receive
 * exit so that git moves the ref, and switch only once it has.
 */
static int
wait_for_git(void *data, const struct progress *pr)
{
	struct gate_wait *gw = data;
	struct request *rq = gw->rq;
	int64_t deadline = now_ms() + GATE_WAIT_MS;
	char sha[8];
	int st;

	progress_say(pr, "-----> v%d is up; it goes live once git has taken "
	    "the push", gw->rel.version);
	answer_staged(gw);
	while ((st = gate_check(rq->cs->root, rq->la.pipeline, &gw->rel)) ==
	    GATE_WAITING && now_ms() < deadline)
		poll(NULL, 0, 10);
	if (st == GATE_MOVED)
		return 0;
	if (st == GATE_WAITING)
		return berth_error("git did not update the branch to %s "
		    "within %d minutes", short_sha(gw->rel.commit, sha),
		    GATE_WAIT_MS / 60000);
	return st == GATE_REFUSED ? refused(rq, gw) : -1;
}

/* The deploy ended: the kept lines and outcome wait for "await". */
static void
staged_end(struct gate_wait *gw, int ok, const char *why)
{
	struct control_server *cs;

	if (gw->st == NULL)
		return;		/* not staged: the client has the answer */
	cs = gw->rq->cs;
	pthread_mutex_lock(&cs->staged_lock);
	gw->st->ok = ok;
	gw->st->why = ok ? NULL : xstrdup(why);
	gw->st->done = 1;
	gw->st->done_at = time(NULL);
	pthread_mutex_unlock(&cs->staged_lock);
}

/*
 * The pusher's reference-transaction hook, once git moved the ref:
 * wait for the staged deploy (it holds the app's turn until it ends),
 * then pass on what it said and how it ended.
 */
static json_t *
cmd_await(struct request *rq)
{
	json_t *id = json_object_get(rq->req, "release_id");
	struct control_server *cs = rq->cs;
	struct staged *st;
	struct release rel;
	json_t *reply;
	char *line, *nl;

	if (!json_is_integer(id))
		return fail_json("await needs a release_id");
	sv_app_op_end(cs->sv, sv_app_op_begin(cs->sv, rq->la.name,
	    rq->la.id));
	pthread_mutex_lock(&cs->staged_lock);
	st = staged_take(cs, json_integer_value(id));
	pthread_mutex_unlock(&cs->staged_lock);
	if (st != NULL) {
		for (line = st->lines.buf; line != NULL &&
		    (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			*nl = '\0';
			progress_say(&rq->pr, "%s", line);
		}
		reply = st->ok ? ok_json() : fail_json("%s", st->why);
		staged_free(st);
		return reply;
	}
	if (ledger_release_get_by_id(rq->db, json_integer_value(id),
	    &rel) < 0)
		return fail_json("%s", berth_last_error());
	reply = strcmp(rel.status, "succeeded") == 0 ? ok_json() :
	    fail_json("v%d is %s", rel.version, rel.status);
	release_clear(&rel);
	return reply;
}

/* ---- the deploy operation ---- */

/*
 * Record how rel ended, retrying while the ledger cannot be written (a
 * full disk): a release must not stay pending, nor a failed config
 * change's vars stay set. The app's operation waits meanwhile; nothing
 * else of it could be recorded either.
 */
static void
settle(struct request *rq, const struct release *rel, int ok,
    const char *prev_config)
{
	int delay = 100;

	while (release_settle(rq->db, rel, ok, prev_config) < 0) {
		if (delay == 100) {
			log_say("%s v%d: cannot record that it %s: %s; "
			    "retrying", rq->la.name, rel->version, ok ?
			    "succeeded" : "failed", berth_last_error());
			progress_say(&rq->pr, "cannot record that v%d %s "
			    "(%s); retrying until the ledger can be written",
			    rel->version, ok ? "succeeded" : "failed",
			    berth_last_error());
		}
		poll(NULL, 0, delay);
		delay = delay < 5000 ? delay * 2 : 5000;
	}
	if (delay > 100)
		log_say("%s v%d: recorded", rq->la.name, rel->version);
}

/* Run the release phase of plan's release, when it has one. */
static int
run_release_phase(struct request *rq, struct sv_app *a,
    const struct rollout_plan *plan)
{
	struct supervisor *sv = rq->cs->sv;
	const char *cmd = proctypes_get(&plan->types, "release");
	int rc;

	if (cmd == NULL)
		return 0;
	progress_say(&rq->pr, "-----> Release phase: %s", cmd);
	rc = release_phase(rq->cs->root, rq->la.name, &plan->rel,
	    plan->commit, &plan->types, rq->pr.fn, rq->pr.data);
	pthread_mutex_lock(&sv->lock);
	sv_app_event(a, "release", "Release phase of v%d %s",
	    plan->rel.version, rc < 0 ? "failed" : "succeeded");
	pthread_mutex_unlock(&sv->lock);
	return rc < 0 ? -1 : 0;
}

/*
 * A deploy: run the pending release's release phase, roll it out, and
 * record how it ended. The release never stays pending: when the
 * client goes away, this thread still finishes it.
 */
static json_t *
cmd_deploy(struct request *rq)
{
	json_t *id = json_object_get(rq->req, "release_id");
	struct rollout_plan plan;
	struct release rel, prev;
	struct gate_wait gw;
	struct sv_app *a;
	json_t *reply;
	int had_prev, rc;

	if (!json_is_integer(id))
		return fail_json("deploy needs a release_id");
	/* The plan is read in the app's turn: its formation is current. */
	a = sv_app_op_begin(rq->cs->sv, rq->la.name, rq->la.id);
	if (plan_load(rq->cs->root, rq->db, &rq->la, json_integer_value(id),
	    &plan) < 0) {
		sv_app_op_end(rq->cs->sv, a);
		return fail_json("%s", berth_last_error());
	}
	/* What release_settle() needs, as the rollout takes plan's rel. */
	memset(&rel, 0, sizeof(rel));
	rel.id = plan.rel.id;
	rel.app_id = plan.rel.app_id;
	rel.version = plan.rel.version;
	rel.kind = xstrdup(plan.rel.kind);
	memset(&gw, 0, sizeof(gw));
	if (plan.rel.gate != NULL) {
		gw.rq = rq;
		gw.rel.id = plan.rel.id;
		gw.rel.version = plan.rel.version;
		gw.rel.commit = xstrdup(plan.rel.commit);
		gw.rel.gate = xstrdup(plan.rel.gate);
		plan.before_switch = wait_for_git;
		plan.before_switch_data = &gw;
	}
	memset(&prev, 0, sizeof(prev));
	had_prev = ledger_release_current(rq->db, rq->la.id, &prev) == 0;
	rc = refused(rq, &gw);
	if (rc == 0)
		rc = run_release_phase(rq, a, &plan);
	if (rc == 0)
		rc = refused(rq, &gw);
	if (rc == 0) {
		progress_say(&rq->pr, "-----> Starting the dynos of v%d",
		    plan.rel.version);
		rc = rollout_release(&rq->cs->env, a, &plan, NULL, 1, &rq->pr);
	}
	if (rc == 0) {
		settle(rq, &rel, 1, NULL);
		if (rq->la.stopped)
			ledger_app_set_stopped(rq->db, rq->la.id, 0);
		staged_end(&gw, 1, NULL);
		reply = json_pack("{s:b, s:i}", "ok", 1, "version",
		    rel.version);
	} else {
		char *why = xstrdup(berth_last_error());

		settle(rq, &rel, 0, had_prev ? prev.config : NULL);
		staged_end(&gw, 0, why);
		reply = fail_json("%s", why);
		free(why);
	}
	sv_app_op_end(rq->cs->sv, a);
	rollout_plan_clear(&plan);
	release_clear(&rel);
	release_clear(&gw.rel);
	if (had_prev)
		release_clear(&prev);
	return reply;
}

/* ---- the other app operations ---- */

/* Converge the app to its current release and formation. */
static int
converge_app(struct control_server *cs, struct ledger *db,
    const struct app *la, const struct progress *pr)
{
	struct rollout_plan plan;
	struct sv_app *a;
	int rc = 0;

	a = sv_app_op_begin(cs->sv, la->name, la->id);
	/* Nothing released yet: nothing to run. */
	if (plan_load(cs->root, db, la, 0, &plan) == 0) {
		rc = rollout_converge(&cs->env, a, &plan, pr);
		rollout_plan_clear(&plan);
	}
	sv_app_op_end(cs->sv, a);
	return rc;
}

static json_t *
cmd_scale(struct request *rq)
{
	return result_json(converge_app(rq->cs, rq->db, &rq->la, &rq->pr));
}

static json_t *
cmd_start(struct request *rq)
{
	ledger_app_set_stopped(rq->db, rq->la.id, 0);
	rq->la.stopped = 0;
	return cmd_scale(rq);
}

static json_t *
cmd_restart(struct request *rq)
{
	struct rollout_plan plan;
	struct sv_app *a;
	int rc;

	a = sv_app_op_begin(rq->cs->sv, rq->la.name, rq->la.id);
	rc = plan_load(rq->cs->root, rq->db, &rq->la, 0, &plan);
	if (rc == 0) {
		rc = rollout_release(&rq->cs->env, a, &plan, rq->target, 0,
		    &rq->pr);
		rollout_plan_clear(&plan);
	}
	sv_app_op_end(rq->cs->sv, a);
	return result_json(rc);
}

static json_t *
cmd_stop(struct request *rq)
{
	struct sv_app *a;
	int n;

	if (rq->target == NULL)
		ledger_app_set_stopped(rq->db, rq->la.id, 1);
	a = sv_app_op_begin(rq->cs->sv, rq->la.name, rq->la.id);
	n = rollout_stop(&rq->cs->env, a, rq->target);
	sv_app_op_end(rq->cs->sv, a);
	return json_pack("{s:b, s:i}", "ok", 1, "stopped", n);
}

/* The app is gone from the ledger already: find it by name. */
static json_t *
cmd_destroy(struct request *rq)
{
	struct supervisor *sv = rq->cs->sv;
	const char *name = json_string_value(json_object_get(rq->req, "app"));
	struct sv_app *a;
	int64_t id = 0;

	pthread_mutex_lock(&sv->lock);
	a = sv_app_find(sv, name);
	if (a != NULL)
		id = a->id;
	pthread_mutex_unlock(&sv->lock);
	if (a == NULL) {
		if (rq->cs->env.router.remove != NULL)
			rq->cs->env.router.remove(rq->cs->env.router.data,
			    name);
		return ok_json();
	}
	a = sv_app_op_begin(sv, name, id);
	rollout_destroy(&rq->cs->env, a);
	sv_app_op_end(sv, a);
	return ok_json();
}

static json_t *
cmd_ps(struct request *rq)
{
	struct supervisor *sv = rq->cs->sv;
	json_t *reply;

	pthread_mutex_lock(&sv->lock);
	reply = json_pack("{s:b, s:o}", "ok", 1, "dynos", sv_ps_json(sv,
	    sv_app_find(sv, rq->la.name)));
	pthread_mutex_unlock(&sv->lock);
	return reply;
}

static json_t *
cmd_status(struct request *rq)
{
	struct control_server *cs = rq->cs;
	const char *mode = NULL;
	size_t napps, ndynos;
	long generation = 0;
	json_t *reply;

	pthread_mutex_lock(&cs->sv->lock);
	sv_counts(cs->sv, &napps, &ndynos);
	pthread_mutex_unlock(&cs->sv->lock);
	if (cs->router_info != NULL)
		cs->router_info(cs->data, &mode, &generation);
	reply = json_pack("{s:b, s:i, s:I, s:I, s:I, s:b, s:s?, s:I}", "ok", 1,
	    "pid", (int)getpid(), "started_at", (json_int_t)cs->started_at,
	    "apps", (json_int_t)napps, "dynos", (json_int_t)ndynos, "router",
	    mode != NULL, "router_mode", mode, "router_generation",
	    (json_int_t)generation);
	if (cs->add_status != NULL)
		cs->add_status(cs->data, reply);
	return reply;
}

static json_t *
cmd_shutdown(struct request *rq)
{
	if (rq->cs->on_shutdown != NULL)
		rq->cs->on_shutdown(rq->cs->data);
	return ok_json();
}

static const struct control_cmd commands[] = {
	{ .name = "status", .run = cmd_status },
	{ .name = "shutdown", .run = cmd_shutdown },
	{ .name = "destroy", .app = APP_NAMED, .run = cmd_destroy },
	{ .name = "deploy", .app = APP_LIVE, .run = cmd_deploy },
	{ .name = "await", .app = APP_LIVE, .run = cmd_await },
	{ .name = "scale", .app = APP_LIVE, .run = cmd_scale },
	{ .name = "start", .app = APP_LIVE, .run = cmd_start },
	{ .name = "restart", .app = APP_LIVE, .run = cmd_restart },
	{ .name = "stop", .app = APP_LIVE, .run = cmd_stop },
	{ .name = "ps", .app = APP_LIVE, .run = cmd_ps },
};

static const struct control_cmd *
find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Check what the command needs of the request, then run it. */
static json_t *
handle(struct request *rq)
{
	const char *name = json_string_value(json_object_get(rq->req, "cmd"));
	const char *app = json_string_value(json_object_get(rq->req, "app"));
	const struct control_cmd *c;
	json_t *reply;
	char *path;

	if (name == NULL)
		return fail_json("no cmd in request");
	if ((c = find_cmd(name)) == NULL)
		return fail_json("unknown cmd %s", name);
	if (c->app != APP_NONE && (app == NULL || name_check_app(app) < 0))
		return fail_json("bad or missing app in request");
	if (c->app != APP_LIVE)
		return c->run(rq);
	path = root_path(rq->cs->root, "ledger.db");
	if (ledger_open(path, &rq->db) < 0) {
		free(path);
		return fail_json("%s", berth_last_error());
	}
	free(path);
	if (ledger_app_get(rq->db, app, &rq->la) != 0)
		reply = fail_json("%s", berth_last_error());
	else
		reply = c->run(rq);
	app_clear(&rq->la);
	ledger_close(rq->db);
	return reply;
}

struct client {
	struct control_server *cs;
	int fd;
};

static void *
client_thread(void *arg)
{
	struct client *c = arg;
	struct request rq;

	memset(&rq, 0, sizeof(rq));
	rq.cs = c->cs;
	rq.pr.fn = client_line;
	rq.pr.data = &c->fd;
	rq.fd = c->fd;
	if (control_read_request(c->fd, &rq.req) == 0) {
		json_t *reply;

		rq.target = json_string_value(json_object_get(rq.req,
		    "target"));
		reply = handle(&rq);
		if (rq.replied)
			json_decref(reply);
		else
			control_send(c->fd, reply);
	}
	json_decref(rq.req);
	close(c->fd);
	free(c);
	return NULL;
}

/* ---- the socket ---- */

int
control_server_listen(struct control_server *cs)
{
	struct sockaddr_un sa;
	char *path = control_socket_path(cs->root);
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
	cs->listen_fd = fd;
	pthread_mutex_init(&cs->staged_lock, NULL);
	return 0;
}

/* Start a detached thread; 0, or -1 when none could be made. */
static int
detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

void
control_server_accept(struct control_server *cs)
{
	int cfd;

	while ((cfd = accept4(cs->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >=
	    0) {
		struct client *c = xcalloc(1, sizeof(*c));
		/* A client that stops reading cannot hold a deploy for
		 * ever. */
		struct timeval tv = { 30, 0 };

		setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c->cs = cs;
		c->fd = cfd;
		if (detached(client_thread, c) < 0) {
			close(cfd);
			free(c);
		}
	}
}

void
control_server_close(struct control_server *cs)
{
	char *sock = control_socket_path(cs->root);

	if (cs->listen_fd >= 0)
		close(cs->listen_fd);
	cs->listen_fd = -1;
	unlink(sock);
	free(sock);
}

struct converge_job {
	struct control_server *cs;
	struct app app;
	int rc;
	char *why;		/* rc < 0: "APP: why" */
	int started;		/* in a thread of its own, to be joined */
	pthread_t t;
};

/*
 * A push's release that still waits for git when berthd starts (it was
 * killed meanwhile): in the app's turn, wait for git's answer and, when
 * git took the push, roll the app out to it (its release phase ran).
 */
struct gate_watch {
	struct control_server *cs;
	char *app;
};

static void
watch_one(struct control_server *cs, struct ledger *db, const struct app *la)
{
	struct rollout_plan plan;
	struct sv_app *a = sv_app_op_begin(cs->sv, la->name, la->id);
	int rc = gate_settle_app(cs->root, db, la, GATE_WAIT_MS);

	if (rc == 0 && plan_load(cs->root, db, la, 0, &plan) == 0) {
		pthread_mutex_lock(&cs->sv->lock);
		rc = a->rel.id == plan.rel.id;
		pthread_mutex_unlock(&cs->sv->lock);
		if (!rc && rollout_release(&cs->env, a, &plan, NULL, 1,
		    NULL) < 0)
			log_say("%s: %s", la->name, berth_last_error());
		rollout_plan_clear(&plan);
	} else if (rc != 0)
		log_say("%s: a push's release still waits for git", la->name);
	sv_app_op_end(cs->sv, a);
}

static void *
gate_watch_thread(void *arg)
{
	struct gate_watch *w = arg;
	struct ledger *db = NULL;
	char *path = root_path(w->cs->root, "ledger.db");
	struct app la;

	if (ledger_open(path, &db) == 0 && ledger_app_get(db, w->app,
	    &la) == 0) {
		watch_one(w->cs, db, &la);
		app_clear(&la);
	}
	ledger_close(db);
	free(path);
	free(w->app);
	free(w);
	return NULL;
}

static int detached(void *(*fn)(void *), void *arg);

static void
watch_gates(struct control_server *cs, const struct app *la)
{
	struct gate_watch *w = xcalloc(1, sizeof(*w));

	w->cs = cs;
	w->app = xstrdup(la->name);
	if (detached(gate_watch_thread, w) < 0) {
		log_say("%s: cannot watch its release waiting for git",
		    la->name);
		free(w->app);
		free(w);
	}
}

/* One app at start-up, with its own ledger connection. */
static void *
converge_one(void *arg)
{
	struct converge_job *job = arg;
	struct ledger *db = NULL;
	char *path = root_path(job->cs->root, "ledger.db");

	job->rc = ledger_open(path, &db);
	if (job->rc == 0) {
		/* Pending releases of a dead rollout stay failed; a push's
		 * is settled by whether git moved its ref. */
		int left = gate_settle_app(job->cs->root, db, &job->app, 0);

		ledger_release_fail_stale(db, job->app.id);
		job->rc = converge_app(job->cs, db, &job->app, NULL);
		if (left > 0)
			watch_gates(job->cs, &job->app);
	}
	if (job->rc < 0) {
		job->why = xasprintf("%s: %s", job->app.name,
		    berth_last_error());
		log_say("%s", job->why);
	}
	ledger_close(db);
	free(path);
	return NULL;
}

/* Every app converges in a thread of its own: none waits on another. */
static void *
converge_thread(void *arg)
{
	struct control_server *cs = arg;
	struct converge_job *jobs;
	struct strvec failed = STRVEC_INIT;
	struct ledger *db = NULL;
	struct app *apps = NULL;
	size_t napps = 0, i;
	char *path = root_path(cs->root, "ledger.db");

	if (ledger_open(path, &db) < 0 ||
	    ledger_app_list(db, 0, &apps, &napps) < 0) {
		log_say("start-up: %s", berth_last_error());
		napps = 0;
	}
	ledger_close(db);
	free(path);
	jobs = xcalloc(napps ? napps : 1, sizeof(*jobs));
	for (i = 0; i < napps; i++) {
		jobs[i].cs = cs;
		jobs[i].app = apps[i];
		jobs[i].started = pthread_create(&jobs[i].t, NULL,
		    converge_one, &jobs[i]) == 0;
		if (!jobs[i].started)
			converge_one(&jobs[i]);
	}
	for (i = 0; i < napps; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].t, NULL);
		if (jobs[i].why != NULL)
			strvec_push(&failed, jobs[i].why);
		free(jobs[i].why);
	}
	/* Adopted dynos of apps that are gone, or run nothing now. */
	supervisor_stop_unclaimed(cs->sv);
	if (failed.nr == 0)
		log_say("converged %zu app%s", napps, napps == 1 ? "" : "s");
	else
		log_say("converged %zu app%s; %zu of them not as the ledger "
		    "says (above)", napps, napps == 1 ? "" : "s", failed.nr);
	if (cs->on_converged != NULL)
		cs->on_converged(cs->data, &failed);
	strvec_clear(&failed);
	free(jobs);
	app_list_free(apps, napps);
	return NULL;
}

void
control_server_converge_all(struct control_server *cs)
{
	if (detached(converge_thread, cs) < 0)
		log_say("cannot start converging: %s", strerror(errno));
}
