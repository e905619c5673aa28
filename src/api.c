/*
 * api.c - berthd's JSON API (api.h, doc/api.md): a token names the
 * user; a route names one berth command, run as that user with
 * BERTH_AS_USER, whose JSON is the answer; GET /api/events streams
 * events as Server-Sent Events.
 */
#include "api.h"
#include "access.h"
#include "names.h"
#include "run-command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* A command's longest run (a promotion waits for its release phase). */
#define API_COMMAND_TIMEOUT_MS (600 * 1000)
/* How often the event stream looks for new events, and pings. */
#define SSE_POLL_MS 200
#define SSE_PING_MS 15000

extern char **environ;

/* One API request being answered. */
struct call {
	struct http_server *s;
	const struct http_request *req;
	struct http_response *res;
	struct user user;
	char *seg[6];		/* the path after /api/, split at '/' */
	int nseg;
	char *path;		/* what seg points into */
};

static void
collect_line(const char *line, void *data)
{
	strbuf_addstr(data, line);
	strbuf_addch(data, '\n');
}

/* The last line of berth's stderr, without "berth: ". Caller frees. */
static char *
last_error(int fd)
{
	struct strbuf sb = STRBUF_INIT;
	char *line, *nl;

	lseek(fd, 0, SEEK_SET);
	if (read_fd(fd, "berth's errors", &sb, 65536) < 0)
		strbuf_reset(&sb);
	strbuf_rtrim(&sb);
	nl = strrchr(strbuf_str(&sb), '\n');
	line = nl != NULL ? nl + 1 : (char *)strbuf_str(&sb);
	if (strncmp(line, "berth: ", 7) == 0)
		line += 7;
	line = xstrdup(*line ? line : "the command failed");
	strbuf_release(&sb);
	return line;
}

int
api_run_berth(struct http_server *s, const char *user,
    const struct strvec *args, struct strbuf *out, char **err)
{
	return api_run_berth_as(s, user, user, args, out, err);
}

int
api_run_berth_as(struct http_server *s, const char *user, const char *actor,
    const struct strvec *args, struct strbuf *out, char **err)
{
	struct child c = CHILD_INIT;
	char **e, *berth = helper_program("berth", "BERTH_PROGRAM");
	size_t i;
	int efd = memfd_create("berth-api", MFD_CLOEXEC), rc;

	*err = NULL;
	if (efd < 0) {
		*err = xasprintf("cannot run berth: %s", strerror(errno));
		free(berth);
		return -1;
	}
	strvec_push(&c.args, berth);
	strvec_push(&c.args, args->v[0]);
	strvec_push(&c.args, "--root");
	strvec_push(&c.args, http_root(s)->dir);
	for (i = 1; i < args->nr; i++)
		strvec_push(&c.args, args->v[i]);
	for (e = environ; *e != NULL; e++)
		if (strncmp(*e, ACCESS_USER_ENV "=", strlen(ACCESS_USER_ENV) +
		    1) != 0 && strncmp(*e, "BERTH_USER=", 11) != 0 &&
		    strncmp(*e, "BERTH_ROOT=", 11) != 0)
			strvec_push(&c.env, *e);
	if (user != NULL)
		strvec_pushf(&c.env, "%s=%s", ACCESS_USER_ENV, user);
	strvec_pushf(&c.env, "BERTH_USER=%s", actor);
	c.on_line = collect_line;
	c.data = out;
	c.err_fd = efd;
	c.timeout_ms = API_COMMAND_TIMEOUT_MS;
	rc = run_command(&c) == 0 ? 0 : c.exit_code > 0 ? c.exit_code : -1;
	if (rc != 0)
		*err = last_error(efd);
	close(efd);
	child_clear(&c);
	free(berth);
	return rc;
}

/*
 * Run args as the call's user and answer: its JSON (json: stdout is
 * JSON), else {"ok": true, "output": ...}; 403 when it refused the
 * user's role, 422 when it failed otherwise, with its error.
 */
static void
run_berth(struct call *a, const struct strvec *args, int json)
{
	struct strbuf out = STRBUF_INIT;
	char *err = NULL;
	json_t *j;
	int rc = api_run_berth(a->s, a->user.name, args, &out, &err);

	if (rc == 0 && !json)
		http_json(a->res, 200, json_pack("{s:b, s:s}", "ok", 1,
		    "output", strbuf_str(&out)));
	else if (rc == 0 && (j = json_loads(strbuf_str(&out), 0, NULL)) != NULL)
		http_json(a->res, 200, j);
	else if (rc == 0)
		http_error(a->res, 500, "berth %s printed no JSON", args->v[0]);
	else if (rc == CMD_EXIT_REFUSED)
		http_error(a->res, 403, "%s", err);
	else
		http_json(a->res, 422, json_pack("{s:s, s:s}", "error", err,
		    "output", strbuf_str(&out)));
	free(err);
	strbuf_release(&out);
}

/* The bearer token's user into a->user; 0, or answered 401. */
static int
authenticate(struct call *a)
{
	const char *auth = http_header(a->req, "Authorization");
	struct ledger *db;
	int rc;

	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0) {
		strvec_push(&a->res->headers, "WWW-Authenticate: Bearer");
		http_error(a->res, 401, "send Authorization: Bearer TOKEN (make "
		    "one with: berth tokens:create)");
		return -1;
	}
	db = http_db(a->s);
	if (db == NULL) {
		http_error(a->res, 503, "%s", berth_last_error());
		return -1;
	}
	rc = access_token_user(db, auth + 7, &a->user);
	http_db_done(a->s, db);
	if (rc == 0)
		return 0;
	strvec_push(&a->res->headers, "WWW-Authenticate: Bearer "
	    "error=\"invalid_token\"");
	http_error(a->res, rc < 0 ? 503 : 401, "%s", berth_last_error());
	return -1;
}

/* Whether the app or pipeline named exists; answered 404 when not. */
static int
exists(struct call *a, int app, const char *name)
{
	struct ledger *db;
	struct app ap;
	struct pipeline p;
	int rc;

	if ((app ? name_check_app(name) : name_check_pipeline(name)) < 0) {
		http_error(a->res, 404, "%s", berth_last_error());
		return 0;
	}
	if ((db = http_db(a->s)) == NULL) {
		http_error(a->res, 503, "%s", berth_last_error());
		return 0;
	}
	rc = app ? ledger_app_get(db, name, &ap) : ledger_pipeline_get(db,
	    name, &p);
	if (rc == 0 && app)
		app_clear(&ap);
	else if (rc == 0)
		pipeline_clear(&p);
	else
		http_error(a->res, rc == 1 ? 404 : 503, "%s",
		    berth_last_error());
	http_db_done(a->s, db);
	return rc == 0;
}

/* The body as a JSON object (an empty body: {}); NULL after 400. */
static json_t *
body_object(struct call *a)
{
	json_error_t je;
	json_t *j;

	if (a->req->body_len == 0)
		return json_object();
	j = json_loadb(a->req->body, a->req->body_len, 0, &je);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		http_error(a->res, 400, "the body must be a JSON object%s%s",
		    j == NULL ? ": " : "", j == NULL ? je.text : "");
		return NULL;
	}
	return j;
}

/* A string member of o, or NULL; 400 when it is there but no string. */
static int
body_string(struct call *a, json_t *o, const char *key, const char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		http_error(a->res, 400, "\"%s\" must be a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int
is_number(const char *s)
{
	return *s >= '1' && *s <= '9' && strspn(s, "0123456789") == strlen(s)
	    && strlen(s) < 10;
}

/* POST /api/pipelines/P/promote {"from": APP|STAGE, "to": "A,B"} */
static void
promote(struct call *a, const char *p)
{
	struct strvec args = STRVEC_INIT;
	const char *from, *to;
	json_t *o = body_object(a);

	if (o == NULL)
		return;
	if (body_string(a, o, "from", &from) == 0 &&
	    body_string(a, o, "to", &to) == 0) {
		strvec_push(&args, "pipelines:promote");
		strvec_pushf(&args, "--pipeline=%s", p);
		if (from != NULL)
			strvec_pushf(&args, "--from=%s", from);
		if (to != NULL)
			strvec_pushf(&args, "--to=%s", to);
		run_berth(a, &args, 0);
	}
	json_decref(o);
	strvec_clear(&args);
}

/* POST /api/apps/A/formation {"web": 2, "worker": 0} */
static void
scale(struct call *a, const char *app)
{
	struct strvec args = STRVEC_INIT;
	const char *type;
	json_t *o = body_object(a), *v;

	if (o == NULL)
		return;
	strvec_push(&args, "ps:scale");
	json_object_foreach(o, type, v) {
		if (!json_is_integer(v) || name_check_process_type(type) < 0) {
			http_error(a->res, 400, "the body maps process types "
			    "to dyno counts, e.g. {\"web\": 2}");
			goto out;
		}
		strvec_pushf(&args, "%s=%lld", type,
		    (long long)json_integer_value(v));
	}
	if (args.nr == 1) {
		http_error(a->res, 400, "the body maps process types to dyno "
		    "counts, e.g. {\"web\": 2}");
		goto out;
	}
	strvec_pushf(&args, "--app=%s", app);
	run_berth(a, &args, 0);
out:
	json_decref(o);
	strvec_clear(&args);
}

/* POST /api/apps/A/rollback {"version": "v3"} (default: the one before) */
static void
rollback(struct call *a, const char *app)
{
	struct strvec args = STRVEC_INIT;
	const char *v;
	json_t *o = body_object(a);

	if (o == NULL)
		return;
	if (body_string(a, o, "version", &v) == 0) {
		strvec_push(&args, "rollback");
		if (v != NULL)
			strvec_push(&args, v);
		strvec_pushf(&args, "--app=%s", app);
		run_berth(a, &args, 0);
	}
	json_decref(o);
	strvec_clear(&args);
}

/*
 * POST /api/apps/A/deploy {"revision": "feature/x", "ignore_ci": false}
 * (both optional): berth deploy, a push of revision to A's branch.
 */
static void
deploy(struct call *a, const char *app)
{
	struct strvec args = STRVEC_INIT;
	const char *rev;
	json_t *o = body_object(a), *ignore;

	if (o == NULL)
		return;
	ignore = json_object_get(o, "ignore_ci");
	if (ignore != NULL && !json_is_boolean(ignore))
		http_error(a->res, 400, "ignore_ci must be true or false");
	else if (body_string(a, o, "revision", &rev) == 0) {
		strvec_push(&args, "deploy");
		strvec_pushf(&args, "--app=%s", app);
		if (json_is_true(ignore))
			strvec_push(&args, "--ignore-ci");
		if (rev != NULL) {
			strvec_push(&args, "--");
			strvec_push(&args, rev);
		}
		run_berth(a, &args, 0);
	}
	json_decref(o);
	strvec_clear(&args);
}

/* GET /api/pipelines/P[/activity|/test-runs[/N]], POST .../promote... */
static void
pipeline_route(struct call *a)
{
	const char *method = a->req->method, *p = a->seg[1];
	struct strvec args = STRVEC_INIT;
	int get = strcmp(method, "GET") == 0, n = a->nseg;

	if (!exists(a, 0, p))
		return;
	if (get && n == 2) {
		strvec_push(&args, "pipelines:info");
		strvec_push(&args, p);
	} else if (get && n == 3 && strcmp(a->seg[2], "activity") == 0) {
		strvec_push(&args, "activity");
		strvec_pushf(&args, "--pipeline=%s", p);
		if (http_query(a->req, "n") != NULL &&
		    is_number(http_query(a->req, "n")))
			strvec_pushf(&args, "--num=%s", http_query(a->req, "n"));
	} else if (get && n == 3 && strcmp(a->seg[2], "test-runs") == 0) {
		strvec_push(&args, "ci");
		strvec_pushf(&args, "--pipeline=%s", p);
	} else if (get && n == 4 && strcmp(a->seg[2], "test-runs") == 0 &&
	    is_number(a->seg[3])) {
		strvec_push(&args, "ci:info");
		strvec_push(&args, a->seg[3]);
		strvec_pushf(&args, "--pipeline=%s", p);
	} else if (!get && n == 3 && strcmp(a->seg[2], "promote") == 0 &&
	    strcmp(method, "POST") == 0) {
		promote(a, p);
		return;
	} else if (!get && n == 5 && strcmp(a->seg[2], "test-runs") == 0 &&
	    is_number(a->seg[3]) && strcmp(a->seg[4], "rerun") == 0 &&
	    strcmp(method, "POST") == 0) {
		strvec_push(&args, "ci:rerun");
		strvec_push(&args, a->seg[3]);
		strvec_pushf(&args, "--pipeline=%s", p);
		run_berth(a, &args, 0);
		strvec_clear(&args);
		return;
	} else {
		http_error(a->res, 404, "no such resource: %s %s (see "
		    "doc/api.md)", method, a->req->path);
		return;
	}
	strvec_push(&args, "--json");
	run_berth(a, &args, 1);
	strvec_clear(&args);
}

/* GET /api/apps/A[/releases|/builds|/dynos|/config], POST ... */
static void
app_route(struct call *a)
{
	static const struct {
		const char *what, *cmd;
	} reads[] = {
		{ "releases", "releases" }, { "builds", "builds" },
		{ "dynos", "ps" }, { "config", "config" },
	};
	const char *method = a->req->method, *app = a->seg[1];
	struct strvec args = STRVEC_INIT;
	size_t i;

	if (!exists(a, 1, app))
		return;
	if (strcmp(method, "GET") == 0 && a->nseg == 2) {
		strvec_push(&args, "apps:info");
		strvec_push(&args, app);
		strvec_push(&args, "--json");
		run_berth(a, &args, 1);
		strvec_clear(&args);
		return;
	}
	for (i = 0; strcmp(method, "GET") == 0 && a->nseg == 3 &&
	    i < sizeof(reads) / sizeof(reads[0]); i++)
		if (strcmp(a->seg[2], reads[i].what) == 0) {
			strvec_push(&args, reads[i].cmd);
			strvec_pushf(&args, "--app=%s", app);
			strvec_push(&args, "--json");
			run_berth(a, &args, 1);
			strvec_clear(&args);
			return;
		}
	if (strcmp(method, "POST") == 0 && a->nseg == 3 &&
	    strcmp(a->seg[2], "rollback") == 0)
		rollback(a, app);
	else if (strcmp(method, "POST") == 0 && a->nseg == 3 &&
	    strcmp(a->seg[2], "deploy") == 0)
		deploy(a, app);
	else if (strcmp(method, "POST") == 0 && a->nseg == 3 &&
	    strcmp(a->seg[2], "formation") == 0)
		scale(a, app);
	else
		http_error(a->res, 404, "no such resource: %s %s (see "
		    "doc/api.md)", method, a->req->path);
}

/* ---- GET /api/events: Server-Sent Events ---- */

struct stream {
	struct http_server *s;
	struct user user;
	char *pipeline;		/* ?pipeline=P, or NULL for all */
	int64_t last;		/* the last event id sent */
	struct strbuf pending;	/* what is to be written */
	size_t off;
	int64_t next_ping;
};

static void
stream_free(void *data)
{
	struct stream *st = data;

	user_clear(&st->user);
	free(st->pipeline);
	strbuf_release(&st->pending);
	free(st);
}

/* The events after st->last that the user may see, into pending. */
static int
stream_poll(struct stream *st)
{
	struct ledger *db = http_db(st->s);
	struct event *es = NULL;
	size_t nr = 0, i;

	if (db == NULL)
		return -1;
	if (ledger_event_since(db, st->last, 100, &es, &nr) < 0) {
		http_db_done(st->s, db);
		return -1;
	}
	for (i = 0; i < nr; i++) {
		enum role have = ROLE_NONE;
		char *text;
		json_t *j;

		st->last = es[i].id;
		if (st->pipeline != NULL && (es[i].pipeline == NULL ||
		    strcmp(es[i].pipeline, st->pipeline) != 0))
			continue;
		if (access_role(db, &st->user, es[i].pipeline_id, &have) < 0 ||
		    have < ROLE_VIEWER)
			continue;
		j = event_json(&es[i]);
		text = json_dumps(j, JSON_COMPACT);
		strbuf_addf(&st->pending, "id: %lld\nevent: %s\ndata: %s\n\n",
		    (long long)es[i].id, es[i].kind, text);
		free(text);
		json_decref(j);
	}
	event_list_free(es, nr);
	http_db_done(st->s, db);
	return 0;
}

static ssize_t
stream_read(void *data, char *buf, size_t max)
{
	struct stream *st = data;
	struct timespec nap = { 0, SSE_POLL_MS * 1000000L };
	size_t n;

	while (st->off >= st->pending.len) {
		strbuf_reset(&st->pending);
		st->off = 0;
		if (http_stopping(st->s) || stream_poll(st) < 0)
			return -1;
		if (st->pending.len > 0)
			break;
		if (now_ms() >= st->next_ping) {
			strbuf_addstr(&st->pending, ": ping\n\n");
			st->next_ping = now_ms() + SSE_PING_MS;
			break;
		}
		nanosleep(&nap, NULL);
	}
	n = st->pending.len - st->off;
	if (n > max)
		n = max;
	memcpy(buf, st->pending.buf + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

static void
events_route(struct call *a)
{
	const char *p = http_query(a->req, "pipeline");
	const char *from = http_header(a->req, "Last-Event-ID");
	struct stream *st;
	struct ledger *db;

	if (p != NULL && !exists(a, 0, p))
		return;
	st = xcalloc(1, sizeof(*st));
	st->s = a->s;
	st->user = a->user;
	memset(&a->user, 0, sizeof(a->user));
	st->pipeline = p != NULL ? xstrdup(p) : NULL;
	strbuf_init(&st->pending);
	/* From where the client was (Last-Event-ID), else from now on. */
	if (from != NULL && is_number(from)) {
		st->last = strtoll(from, NULL, 10);
	} else if ((db = http_db(a->s)) == NULL ||
	    ledger_event_last(db, &st->last) < 0) {
		http_db_done(a->s, db);
		stream_free(st);
		http_error(a->res, 503, "%s", berth_last_error());
		return;
	} else {
		http_db_done(a->s, db);
	}
	/* A comment first, so the client sees the stream open at once. */
	strbuf_addstr(&st->pending, ": berth events\n\n");
	st->next_ping = now_ms() + SSE_PING_MS;
	a->res->status = 200;
	a->res->content_type = "text/event-stream";
	a->res->stream = stream_read;
	a->res->stream_free = stream_free;
	a->res->stream_data = st;
}

/* ---- the routes ---- */

void
api_serve(struct http_server *s, const struct http_request *req,
    struct http_response *res)
{
	struct call a;
	char *save = NULL, *w;

	memset(&a, 0, sizeof(a));
	a.s = s;
	a.req = req;
	a.res = res;
	if (authenticate(&a) < 0)
		return;
	a.path = xstrdup(req->path + strlen("/api/"));
	for (w = strtok_r(a.path, "/", &save); w != NULL && a.nseg < 6;
	    w = strtok_r(NULL, "/", &save))
		a.seg[a.nseg++] = w;
	if (a.nseg == 1 && strcmp(a.seg[0], "pipelines") == 0 &&
	    strcmp(req->method, "GET") == 0) {
		struct strvec args = STRVEC_INIT;

		strvec_push(&args, "pipelines");
		strvec_push(&args, "--json");
		run_berth(&a, &args, 1);
		strvec_clear(&args);
	} else if (a.nseg >= 2 && strcmp(a.seg[0], "pipelines") == 0) {
		pipeline_route(&a);
	} else if (a.nseg >= 2 && strcmp(a.seg[0], "apps") == 0) {
		app_route(&a);
	} else if (a.nseg == 1 && strcmp(a.seg[0], "events") == 0 &&
	    strcmp(req->method, "GET") == 0) {
		events_route(&a);
	} else {
		http_error(res, 404, "no such resource: %s %s (see "
		    "doc/api.md)", req->method, req->path);
	}
	user_clear(&a.user);
	free(a.path);
}

void
api_health(struct http_server *s, const struct http_request *req,
    struct http_response *res)
{
	(void)s;
	(void)req;
	http_json(res, 200, json_pack("{s:s, s:s}", "status", "ok",
	    "version", PACKAGE_VERSION));
}
