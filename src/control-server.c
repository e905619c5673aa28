/*
 * control-server.c - berthd's control requests (see control-server.h):
 * the command table, loading what an operation works towards from the
 * ledger, and the app operations but the deploy (control-deploy.c).
 */
#include "control-server.h"
#include "control-server-int.h"
#include "checks.h"
#include "control.h"
#include "gate.h"
#include "names.h"
#include "release.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
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

struct control_cmd {
	const char *name;
	/* What it needs of "app": nothing, a valid name, or the live app
	 * loaded from the ledger (in rq->la, with rq->db open). */
	enum { APP_NONE, APP_NAMED, APP_LIVE } app;
	json_t *(*run)(struct request *rq);
};

json_t *
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

json_t *
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

int
plan_load(const struct berth_root *r, struct ledger *db, const struct app *la,
    int64_t rel_id, struct rollout_plan *plan)
{
	char *slugdir;
	int rc;

	memset(plan, 0, sizeof(*plan));
	plan->stopped = la->stopped;
	plan->sandboxed = sandbox_for_app(r, la->id, &plan->uid);
	if (plan->sandboxed < 0)
		return -1;
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
	if (rc != 0)
		appjson_clear(&plan->aj);
	/* The build checked both files; a slug's CHECKS adds web's
	 * health checks when its app.json has none. */
	if (checks_load(slugdir, &plan->aj, NULL, NULL) == 0 || rc == 0)
		plan->has_aj = 1;
	free(slugdir);
	berth_clear_error();
	return 0;
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
	if (ledger_open_existing(path, &rq->db) < 0) {
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

/* A client is done: one fewer, and the loop wakes if the socket rests. */
static void
client_done(struct control_server *cs)
{
	int wake;

	pthread_mutex_lock(&cs->clients_lock);
	cs->nclients--;
	wake = cs->accept_after != 0;
	cs->accept_after = 0;
	pthread_mutex_unlock(&cs->clients_lock);
	if (wake)
		supervisor_wake(cs->sv);
}

/*
 * A client has CONTROL_REQUEST_TIMEOUT_MS to send its request (one
 * that sends nothing holds nothing for long); the answer then takes as
 * long as the operation does.
 */
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
	} else
		control_send(c->fd, fail_json("%s", berth_last_error()));
	json_decref(rq.req);
	close(c->fd);
	client_done(c->cs);
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
	cs->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_init(&cs->staged_lock, NULL);
	pthread_mutex_init(&cs->clients_lock, NULL);
	return 0;
}

/*
 * Tell a client that is not served why, in one error line, and close
 * it. The event loop calls this: the line is sent without waiting (a
 * new connection's buffer has room for it).
 */
static void BERTH_ATTR_PRINTF(2, 3)
refuse(int fd, const char *fmt, ...)
{
	struct strbuf why = STRBUF_INIT;
	json_t *j;
	char *s;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&why, fmt, ap);
	va_end(ap);
	j = fail_json("%s", why.buf);
	s = json_dumps(j, JSON_COMPACT);
	if (s != NULL) {
		strbuf_reset(&why);
		strbuf_addf(&why, "%s\n", s);
		if (send(fd, why.buf, why.len, MSG_DONTWAIT |
		    MSG_NOSIGNAL) < 0) {
			/* it is refused either way */
		}
	}
	free(s);
	json_decref(j);
	strbuf_release(&why);
	close(fd);
}

/*
 * Whether the peer on fd may command berthd: root, or the server
 * root's owner (us). App code runs as other uids (sandbox.h), and never
 * sees the socket besides.
 */
static int
peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    (cred.uid == 0 || cred.uid == geteuid());
}

/* Count a new client in; 0, or the number served when that is all. */
static int
client_admit(struct control_server *cs)
{
	int busy = 0;

	pthread_mutex_lock(&cs->clients_lock);
	if (cs->nclients >= cs->max_clients)
		busy = cs->nclients;
	else
		cs->nclients++;
	pthread_mutex_unlock(&cs->clients_lock);
	return busy;
}

/* How long the socket rests out of fds, unless a client ends first. */
#define ACCEPT_REST_MS	1000

/*
 * accept() found no fd left (err): the client waiting keeps the socket
 * readable, and a loop that polled it would spin. Give up the spare fd
 * to take that client and tell it why; when the spare cannot be had
 * again (or it took no client), rest the socket until a client ends,
 * or for ACCEPT_REST_MS (fds may free elsewhere). 1 when a client was
 * refused and the spare is back (try the next), 0 when the socket rests.
 */
static int
out_of_fds(struct control_server *cs, int err)
{
	int cfd = -1, n;

	pthread_mutex_lock(&cs->clients_lock);
	n = cs->nclients;
	pthread_mutex_unlock(&cs->clients_lock);
	if (cs->spare_fd >= 0) {
		close(cs->spare_fd);
		cfd = accept4(cs->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0)
			refuse(cfd, "berthd is out of file descriptors (%s) "
			    "with %d clients; try again", strerror(err), n);
		cs->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (cfd >= 0 && cs->spare_fd >= 0)
		return 1;
	if (!cs->fds_short)
		log_say("control: out of file descriptors (%s) with %d "
		    "clients; refusing new ones until one ends",
		    strerror(err), n);
	cs->fds_short = 1;
	pthread_mutex_lock(&cs->clients_lock);
	cs->accept_after = now_ms() + ACCEPT_REST_MS;
	pthread_mutex_unlock(&cs->clients_lock);
	return 0;
}

void
control_server_accept(struct control_server *cs)
{
	for (;;) {
		/* A client that stops reading cannot hold a deploy for
		 * ever. */
		struct timeval tv = { 30, 0 };
		struct client *c;
		int cfd, busy;

		cfd = accept4(cs->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (cfd < 0 && (errno == EMFILE || errno == ENFILE ||
		    errno == ENOBUFS || errno == ENOMEM)) {
			if (out_of_fds(cs, errno))
				continue;
			return;
		}
		if (cfd < 0)
			return;		/* EAGAIN: none waits */
		if (cs->fds_short) {
			log_say("control: file descriptors to spare again");
			cs->fds_short = 0;
		}
		if (!peer_allowed(cfd)) {
			refuse(cfd, "berthd answers only root and the owner "
			    "of the server root");
			continue;
		}
		if ((busy = client_admit(cs)) > 0) {
			refuse(cfd, "berthd is busy: %d clients (berth.ini "
			    "[server] max_clients); try again", busy);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c->cs = cs;
		c->fd = cfd;
		if (detached(client_thread, c) < 0) {
			refuse(cfd, "berthd cannot start a thread for this "
			    "request; try again");
			client_done(cs);
			free(c);
		}
	}
}

int
control_server_poll_fd(struct control_server *cs, int64_t *next)
{
	int64_t after;

	pthread_mutex_lock(&cs->clients_lock);
	if (cs->accept_after != 0 && cs->accept_after <= now_ms())
		cs->accept_after = 0;
	after = cs->accept_after;
	pthread_mutex_unlock(&cs->clients_lock);
	if (after == 0)
		return cs->listen_fd;
	if (*next == 0 || after < *next)
		*next = after;
	return -1;
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

/* One app at start-up, with its own ledger connection. */
static void *
converge_one(void *arg)
{
	struct converge_job *job = arg;
	struct ledger *db = NULL;
	char *path = root_path(job->cs->root, "ledger.db");

	job->rc = ledger_open_existing(path, &db);
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

	if (ledger_open_existing(path, &db) < 0 ||
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
