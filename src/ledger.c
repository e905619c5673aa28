/*
 * ledger.c - the SQLite ledger. The only module that speaks SQL.
 *
 * Invariants enforced here:
 * - release versions only grow and are unique per app (UNIQUE(app_id,
 *   version), allocated as max+1 inside BEGIN IMMEDIATE);
 * - a release carries the config snapshot taken in the same transaction
 *   that allocated its version;
 * - the current release of an app is its newest succeeded one.
 */
#include "ledger.h"
#include "names.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ledger {
	sqlite3 *db;
};

/* Forward migrations; entry i takes user_version i to i+1. */
static const char *const migrations[] = {
	/* v0 -> v1 */
	"CREATE TABLE pipelines ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  deploy_branch TEXT NOT NULL DEFAULT 'main',"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE apps ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),"
	"  stage TEXT NOT NULL CHECK (stage IN"
	"    ('review','development','staging','production')),"
	"  branch TEXT,"
	"  created_at TEXT NOT NULL,"
	"  destroyed_at TEXT);"
	"CREATE UNIQUE INDEX apps_live_name ON apps(name)"
	"  WHERE destroyed_at IS NULL;"
	"CREATE TABLE config_vars ("
	"  app_id INTEGER NOT NULL REFERENCES apps(id),"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (app_id, key));"
	"CREATE TABLE slugs ("
	"  id TEXT PRIMARY KEY,"
	"  commit_sha TEXT NOT NULL,"
	"  process_types TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  buildpacks TEXT NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  removed_at TEXT);"
	"CREATE TABLE builds ("
	"  id INTEGER PRIMARY KEY,"
	"  app_id INTEGER NOT NULL REFERENCES apps(id),"
	"  commit_sha TEXT NOT NULL,"
	"  ref TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('building','succeeded','failed')),"
	"  slug_id TEXT REFERENCES slugs(id),"
	"  actor TEXT NOT NULL,"
	"  error TEXT,"
	"  started_at TEXT NOT NULL,"
	"  finished_at TEXT);"
	"CREATE INDEX builds_app ON builds(app_id, id);"
	"CREATE TABLE releases ("
	"  id INTEGER PRIMARY KEY,"
	"  app_id INTEGER NOT NULL REFERENCES apps(id),"
	"  version INTEGER NOT NULL,"
	"  slug_id TEXT REFERENCES slugs(id),"
	"  config TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN"
	"    ('deploy','config','promote','rollback','scale')),"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('pending','succeeded','failed')),"
	"  actor TEXT NOT NULL,"
	"  commit_sha TEXT,"
	"  description TEXT NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  finished_at TEXT,"
	"  UNIQUE (app_id, version));"
	"CREATE INDEX releases_status ON releases(app_id, status, version);"
	"CREATE TABLE formation ("
	"  app_id INTEGER NOT NULL REFERENCES apps(id),"
	"  type TEXT NOT NULL,"
	"  quantity INTEGER NOT NULL CHECK (quantity >= 0),"
	"  PRIMARY KEY (app_id, type));"
	"CREATE TABLE buildpacks ("
	"  pipeline_id INTEGER NOT NULL DEFAULT 0,"
	"  name TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  position INTEGER NOT NULL,"
	"  PRIMARY KEY (pipeline_id, name));"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  pipeline_id INTEGER REFERENCES pipelines(id),"
	"  app_id INTEGER REFERENCES apps(id),"
	"  kind TEXT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  message TEXT NOT NULL,"
	"  created_at TEXT NOT NULL);",
	/* v1 -> v2: ps:stop keeps an app stopped until ps:start or deploy */
	"ALTER TABLE apps ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;",
	/* v2 -> v3: CI test runs and review apps */
	"ALTER TABLE pipelines ADD COLUMN review_apps INTEGER NOT NULL "
	"  DEFAULT 0;"
	"ALTER TABLE pipelines ADD COLUMN review_autodestroy INTEGER NOT NULL "
	"  DEFAULT 0;"
	"ALTER TABLE pipelines ADD COLUMN review_stale_days INTEGER NOT NULL "
	"  DEFAULT 5;"
	"ALTER TABLE pipelines ADD COLUMN ci_gate TEXT NOT NULL "
	"  DEFAULT 'reject' CHECK (ci_gate IN ('reject','off'));"
	"CREATE TABLE pipeline_config ("
	"  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),"
	"  scope TEXT NOT NULL CHECK (scope IN ('ci','review')),"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (pipeline_id, scope, key));"
	"CREATE TABLE test_runs ("
	"  id INTEGER PRIMARY KEY,"
	"  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),"
	"  number INTEGER NOT NULL,"
	"  branch TEXT NOT NULL,"
	"  commit_sha TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('pending','building',"
	"    'running','succeeded','failed','errored','cancelled')),"
	"  actor TEXT NOT NULL,"
	"  nodes INTEGER NOT NULL DEFAULT 1,"
	"  passed INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0,"
	"  error TEXT,"
	"  created_at TEXT NOT NULL,"
	"  finished_at TEXT,"
	"  UNIQUE (pipeline_id, number));"
	"CREATE INDEX test_runs_branch ON test_runs(pipeline_id, branch, id);"
	"CREATE TABLE test_nodes ("
	"  run_id INTEGER NOT NULL REFERENCES test_runs(id),"
	"  node INTEGER NOT NULL,"
	"  status TEXT NOT NULL,"
	"  exit_code INTEGER,"
	"  passed INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (run_id, node));"
	"CREATE TABLE review_apps ("
	"  id INTEGER PRIMARY KEY,"
	"  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),"
	"  app_id INTEGER NOT NULL REFERENCES apps(id),"
	"  branch TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('creating','deployed',"
	"    'failed','destroyed')),"
	"  postdeploy_done INTEGER NOT NULL DEFAULT 0,"
	"  last_push_at TEXT NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  destroyed_at TEXT);"
	"CREATE UNIQUE INDEX review_live ON review_apps(pipeline_id, branch)"
	"  WHERE status != 'destroyed';",
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

static int
db_error(struct ledger *db, const char *what)
{
	return berth_error("ledger: %s: %s", what, sqlite3_errmsg(db->db));
}

static int
exec_sql(struct ledger *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		berth_error("ledger: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
begin(struct ledger *db)
{
	return exec_sql(db, "BEGIN IMMEDIATE");
}

static int
commit(struct ledger *db)
{
	if (exec_sql(db, "COMMIT") == 0)
		return 0;
	/* A COMMIT that failed (disk full, I/O) may leave the transaction
	 * open, and every later BEGIN on this connection would fail. */
	if (!sqlite3_get_autocommit(db->db)) {
		char *keep = xstrdup(berth_last_error());

		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
		berth_error("%s", keep);
		free(keep);
	}
	return -1;
}

static void
rollback(struct ledger *db)
{
	sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Prepare sql and bind arguments described by types: 'i' int64, 'd' int,
 * 's' string (NULL binds NULL).
 */
static sqlite3_stmt *
prep(struct ledger *db, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int i;

	if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_error(db, "prepare");
		return NULL;
	}
	va_start(ap, types);
	for (i = 0; types[i] != '\0'; i++) {
		switch (types[i]) {
		case 'i':
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'd':
			sqlite3_bind_int(st, i + 1, va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (s == NULL)
				sqlite3_bind_null(st, i + 1);
			else
				sqlite3_bind_text(st, i + 1, s, -1,
				    SQLITE_TRANSIENT);
			break;
		}
		}
	}
	va_end(ap);
	return st;
}

/* Run a statement that returns no rows; finalizes it. */
static int
run(struct ledger *db, sqlite3_stmt *st)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(db, "write");
	return 0;
}

static char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? xstrdup((const char *)t) : NULL;
}

static void
now_text(char buf[32])
{
	now_iso(buf);
}

int
ledger_open(const char *path, struct ledger **out)
{
	struct ledger *db = xcalloc(1, sizeof(*db));
	int fd, version;
	size_t i;
	sqlite3_stmt *st;

	/*
	 * Create the file 0600 before SQLite does, so secrets stay ours
	 * (SQLite gives -wal and -shm the same mode). Only when it does not
	 * exist: closing any fd of a file drops every POSIX lock this
	 * process holds on it, which would break the locking of other
	 * connections in this process (berthd has one per thread).
	 */
	if (!path_exists(path)) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			free(db);
			return berth_error_errno("cannot open ledger %s", path);
		}
		if (fd >= 0)
			close(fd);
	}
	if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		berth_error("cannot open ledger %s: %s", path,
		    sqlite3_errmsg(db->db));
		sqlite3_close(db->db);
		free(db);
		return -1;
	}
	sqlite3_busy_timeout(db->db, 30000);
	/*
	 * Switching a new file to WAL needs an exclusive lock, and SQLite
	 * answers SQLITE_BUSY at once (no busy handler) when another
	 * process is doing the same: retry for up to the busy timeout.
	 */
	{
		int tries;

		for (tries = 0; ; tries++) {
			int rc = sqlite3_exec(db->db,
			    "PRAGMA journal_mode=WAL", NULL, NULL, NULL);

			if (rc == SQLITE_OK)
				break;
			if ((rc & 0xff) != SQLITE_BUSY || tries >= 3000) {
				db_error(db, "set WAL mode");
				goto fail;
			}
			usleep(10000);
		}
	}
	if (exec_sql(db, "PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=ON;") < 0)
		goto fail;
	if (begin(db) < 0)
		goto fail;
	version = ledger_schema_version(db);
	if (version < 0 || version > (int)NMIGRATIONS) {
		rollback(db);
		berth_error("ledger %s has schema version %d; this berth "
		    "knows up to %d: upgrade berth", path, version,
		    (int)NMIGRATIONS);
		goto fail;
	}
	for (i = (size_t)version; i < NMIGRATIONS; i++) {
		char pragma[64];

		if (exec_sql(db, migrations[i]) < 0) {
			rollback(db);
			goto fail;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu",
		    i + 1);
		if (exec_sql(db, pragma) < 0) {
			rollback(db);
			goto fail;
		}
	}
	if (commit(db) < 0)
		goto fail;
	(void)st;
	*out = db;
	return 0;
fail:
	sqlite3_close(db->db);
	free(db);
	return -1;
}

void
ledger_close(struct ledger *db)
{
	if (db == NULL)
		return;
	sqlite3_close(db->db);
	free(db);
}

int
ledger_schema_version(struct ledger *db)
{
	sqlite3_stmt *st = prep(db, "PRAGMA user_version", "");
	int v = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* ---- pipelines ---- */

#define PIPELINE_COLS "id, name, deploy_branch, created_at, review_apps, " \
	"review_autodestroy, review_stale_days, ci_gate"

static void
pipeline_from_row(sqlite3_stmt *st, struct pipeline *p)
{
	p->id = sqlite3_column_int64(st, 0);
	p->name = col_text(st, 1);
	p->deploy_branch = col_text(st, 2);
	p->created_at = col_text(st, 3);
	p->review_apps = sqlite3_column_int(st, 4);
	p->review_autodestroy = sqlite3_column_int(st, 5);
	p->review_stale_days = sqlite3_column_int(st, 6);
	p->ci_gate = col_text(st, 7);
}

void
pipeline_clear(struct pipeline *p)
{
	free(p->name);
	free(p->deploy_branch);
	free(p->created_at);
	free(p->ci_gate);
	memset(p, 0, sizeof(*p));
}

void
pipeline_list_free(struct pipeline *p, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		pipeline_clear(&p[i]);
	free(p);
}

/* Fail inside a transaction when a live app is named name. */
static int
app_name_free(struct ledger *db, const char *name)
{
	sqlite3_stmt *st = prep(db, "SELECT 1 FROM apps WHERE name = ? AND "
	    "destroyed_at IS NULL", "s", name);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return berth_error("app %s already exists; pick another name "
		    "or see: berth apps:info -a %s", name, name);
	if (rc != SQLITE_DONE)
		return db_error(db, "read app");
	return 0;
}

static int
app_insert(struct ledger *db, const char *name, int64_t pipeline_id,
    const char *stage, const char *branch, int64_t *id)
{
	char now[32];

	now_text(now);
	if (app_name_free(db, name) < 0)
		return -1;
	if (run(db, prep(db, "INSERT INTO apps (name, pipeline_id, stage, "
	    "branch, created_at) VALUES (?, ?, ?, ?, ?)", "sisss",
	    name, pipeline_id, stage, branch, now)) < 0)
		return -1;
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(db->db);
	return 0;
}

int
ledger_pipeline_create(struct ledger *db, const char *name,
    const char *deploy_branch, const struct app_new *apps, size_t napps,
    int64_t *id)
{
	char now[32];
	sqlite3_stmt *st;
	int64_t pid;
	size_t i;
	int rc;

	now_text(now);
	if (begin(db) < 0)
		return -1;
	st = prep(db, "SELECT 1 FROM pipelines WHERE name = ?", "s", name);
	if (st == NULL)
		goto fail;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW) {
		rollback(db);
		return berth_error("pipeline %s already exists; see: berth "
		    "pipelines:info -p %s", name, name);
	}
	if (run(db, prep(db, "INSERT INTO pipelines (name, deploy_branch, "
	    "created_at) VALUES (?, ?, ?)", "sss", name, deploy_branch,
	    now)) < 0)
		goto fail;
	pid = sqlite3_last_insert_rowid(db->db);
	for (i = 0; i < napps; i++)
		if (app_insert(db, apps[i].name, pid, apps[i].stage,
		    apps[i].branch, NULL) < 0)
			goto fail;
	if (id != NULL)
		*id = pid;
	return commit(db);
fail:
	rollback(db);
	return -1;
}

static int
pipeline_one(struct ledger *db, sqlite3_stmt *st, struct pipeline *out)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		pipeline_from_row(st, out);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(db, "read pipeline");
	return 1;
}

int
ledger_pipeline_get(struct ledger *db, const char *name,
    struct pipeline *out)
{
	int rc = pipeline_one(db, prep(db, "SELECT " PIPELINE_COLS
	    " FROM pipelines WHERE name = ?", "s", name), out);

	if (rc == 1)
		berth_error("no pipeline named %s; see: berth pipelines", name);
	return rc;
}

int
ledger_pipeline_get_by_id(struct ledger *db, int64_t id,
    struct pipeline *out)
{
	int rc = pipeline_one(db, prep(db, "SELECT " PIPELINE_COLS
	    " FROM pipelines WHERE id = ?", "i", id), out);

	if (rc == 1)
		berth_error("no pipeline with id %lld", (long long)id);
	return rc;
}

/*
 * Collect every row of st into a growing array of elem_size elements,
 * filling each with fill(). Finalizes st.
 */
static int
collect(struct ledger *db, sqlite3_stmt *st, size_t elem_size,
    void (*fill)(sqlite3_stmt *, void *), void **out, size_t *nr)
{
	char *arr = NULL;
	size_t n = 0, alloc = 0;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			arr = xrealloc(arr, alloc * elem_size);
		}
		memset(arr + n * elem_size, 0, elem_size);
		fill(st, arr + n * elem_size);
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(arr);
		return db_error(db, "read");
	}
	*out = arr;
	*nr = n;
	return 0;
}

static void
fill_pipeline(sqlite3_stmt *st, void *p)
{
	pipeline_from_row(st, p);
}

int
ledger_pipeline_list(struct ledger *db, struct pipeline **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT " PIPELINE_COLS " FROM pipelines"
	    " ORDER BY name", ""), sizeof(**out), fill_pipeline,
	    (void **)out, nr);
}

/* ---- apps ---- */

#define APP_COLS "a.id, a.name, a.pipeline_id, p.name, a.stage, a.branch, " \
	"a.created_at, a.stopped"
#define APP_FROM " FROM apps a JOIN pipelines p ON p.id = a.pipeline_id "
#define APP_ORDER " ORDER BY p.name, CASE a.stage WHEN 'review' THEN 0 " \
	"WHEN 'development' THEN 1 WHEN 'staging' THEN 2 ELSE 3 END, a.name"

static void
fill_app(sqlite3_stmt *st, void *v)
{
	struct app *a = v;

	a->id = sqlite3_column_int64(st, 0);
	a->name = col_text(st, 1);
	a->pipeline_id = sqlite3_column_int64(st, 2);
	a->pipeline = col_text(st, 3);
	a->stage = col_text(st, 4);
	a->branch = col_text(st, 5);
	a->created_at = col_text(st, 6);
	a->stopped = sqlite3_column_int(st, 7);
}

void
app_clear(struct app *a)
{
	free(a->name);
	free(a->pipeline);
	free(a->stage);
	free(a->branch);
	free(a->created_at);
	memset(a, 0, sizeof(*a));
}

void
app_list_free(struct app *a, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		app_clear(&a[i]);
	free(a);
}

int
ledger_app_create(struct ledger *db, const char *name, int64_t pipeline_id,
    const char *stage, const char *branch, int64_t *id)
{
	if (begin(db) < 0)
		return -1;
	if (app_insert(db, name, pipeline_id, stage, branch, id) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_app_get(struct ledger *db, const char *name, struct app *out)
{
	sqlite3_stmt *st = prep(db, "SELECT " APP_COLS APP_FROM
	    "WHERE a.name = ? AND a.destroyed_at IS NULL", "s", name);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		fill_app(st, out);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(db, "read app");
	berth_error("no app named %s; see: berth apps", name);
	return 1;
}

int
ledger_app_list(struct ledger *db, int64_t pipeline_id, struct app **out,
    size_t *nr)
{
	return collect(db, prep(db, "SELECT " APP_COLS APP_FROM
	    "WHERE a.destroyed_at IS NULL AND (?1 = 0 OR a.pipeline_id = ?1)"
	    APP_ORDER, "i", pipeline_id), sizeof(**out), fill_app,
	    (void **)out, nr);
}

int
ledger_apps_for_branch(struct ledger *db, int64_t pipeline_id,
    const char *branch, struct app **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT " APP_COLS APP_FROM
	    "WHERE a.destroyed_at IS NULL AND a.pipeline_id = ? AND "
	    "a.branch = ? AND a.stage != 'review'" APP_ORDER, "is",
	    pipeline_id, branch),
	    sizeof(**out), fill_app, (void **)out, nr);
}

int
ledger_app_set_stopped(struct ledger *db, int64_t app_id, int stopped)
{
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "UPDATE apps SET stopped = ? WHERE id = ?", "di",
	    stopped, app_id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_app_destroy(struct ledger *db, int64_t app_id)
{
	char now[32];

	now_text(now);
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "UPDATE apps SET destroyed_at = ? WHERE id = ? "
	    "AND destroyed_at IS NULL", "si", now, app_id)) < 0 ||
	    run(db, prep(db, "DELETE FROM config_vars WHERE app_id = ?", "i",
	    app_id)) < 0 ||
	    run(db, prep(db, "DELETE FROM formation WHERE app_id = ?", "i",
	    app_id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

/* ---- config vars ---- */

void
kvlist_add(struct kvlist *kv, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < kv->nr; i++) {
		if (strcmp(kv->items[i].key, key) == 0) {
			free(kv->items[i].value);
			kv->items[i].value = xstrdup(value);
			return;
		}
	}
	kv->items = xrealloc(kv->items, (kv->nr + 1) * sizeof(*kv->items));
	kv->items[kv->nr].key = xstrdup(key);
	kv->items[kv->nr].value = xstrdup(value);
	kv->nr++;
}

const char *
kvlist_get(const struct kvlist *kv, const char *key)
{
	size_t i;

	for (i = 0; i < kv->nr; i++)
		if (strcmp(kv->items[i].key, key) == 0)
			return kv->items[i].value;
	return NULL;
}

void
kvlist_clear(struct kvlist *kv)
{
	size_t i;

	for (i = 0; i < kv->nr; i++) {
		free(kv->items[i].key);
		free(kv->items[i].value);
	}
	free(kv->items);
	kv->items = NULL;
	kv->nr = 0;
}

char *
kvlist_to_json(const struct kvlist *kv)
{
	json_t *o = json_object();
	char *s, *ret;
	size_t i;

	for (i = 0; i < kv->nr; i++)
		json_object_set_new(o, kv->items[i].key,
		    json_string(kv->items[i].value));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	ret = xstrdup(s != NULL ? s : "{}");
	free(s);
	return ret;
}

int
kvlist_from_json(const char *json, struct kvlist *out)
{
	json_error_t err;
	json_t *o = json_loads(json, 0, &err), *v;
	const char *k;

	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return berth_error("config snapshot is not a JSON object");
	}
	json_object_foreach(o, k, v) {
		if (json_is_string(v))
			kvlist_add(out, k, json_string_value(v));
	}
	json_decref(o);
	return 0;
}

static void
fill_kv(sqlite3_stmt *st, void *v)
{
	struct kv *kv = v;

	kv->key = col_text(st, 0);
	kv->value = col_text(st, 1);
}

int
ledger_config_get(struct ledger *db, int64_t app_id, struct kvlist *out)
{
	out->items = NULL;
	out->nr = 0;
	return collect(db, prep(db, "SELECT key, value FROM config_vars "
	    "WHERE app_id = ? ORDER BY key", "i", app_id),
	    sizeof(*out->items), fill_kv, (void **)&out->items, &out->nr);
}

/* Snapshot of the app's config as JSON, inside the caller's txn. */
static char *
config_snapshot(struct ledger *db, int64_t app_id)
{
	struct kvlist kv = { NULL, 0 };
	char *json;

	if (ledger_config_get(db, app_id, &kv) < 0)
		return NULL;
	json = kvlist_to_json(&kv);
	kvlist_clear(&kv);
	return json;
}

static void
fill_release(sqlite3_stmt *st, void *v);
static int
config_replace(struct ledger *db, int64_t app_id, const char *snapshot);

#define RELEASE_COLS "id, app_id, version, slug_id, config, kind, status, " \
	"actor, commit_sha, description, created_at, finished_at"

/* Insert a release inside an open transaction. */
static int
release_insert(struct ledger *db, const struct release_new *rn,
    struct release *out)
{
	char now[32];
	char *config;
	sqlite3_stmt *st;
	int version = 0, rc;

	now_text(now);
	st = prep(db, "SELECT COALESCE(MAX(version), 0) FROM releases WHERE "
	    "app_id = ?", "i", rn->app_id);
	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0) + 1;
	sqlite3_finalize(st);
	if (version == 0)
		return db_error(db, "read release version");
	if (rn->config != NULL && config_replace(db, rn->app_id,
	    rn->config) < 0)
		return -1;
	config = config_snapshot(db, rn->app_id);
	if (config == NULL)
		return -1;
	rc = run(db, prep(db, "INSERT INTO releases (app_id, version, "
	    "slug_id, config, kind, status, actor, commit_sha, description, "
	    "created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "CASE WHEN ?6 = 'pending' THEN NULL ELSE ?10 END)",
	    "idssssssss", rn->app_id, version, rn->slug_id, config, rn->kind,
	    rn->status, rn->actor, rn->commit, rn->description, now));
	free(config);
	if (rc < 0)
		return -1;
	if (out != NULL) {
		int64_t rid = sqlite3_last_insert_rowid(db->db);

		st = prep(db, "SELECT " RELEASE_COLS " FROM releases WHERE "
		    "id = ?", "i", rid);
		if (st == NULL)
			return -1;
		if (sqlite3_step(st) == SQLITE_ROW)
			fill_release(st, out);
		sqlite3_finalize(st);
	}
	return version;
}

static int
current_release_in_txn(struct ledger *db, int64_t app_id,
    struct release *out);

int
ledger_config_change(struct ledger *db, int64_t app_id,
    const struct kvlist *set, const char *const *unset, size_t nunset,
    const char *actor, int *version, int64_t *release_id)
{
	struct strbuf desc = STRBUF_INIT, names = STRBUF_INIT;
	struct release cur;
	size_t i;
	int rc, n = 0;

	if (version != NULL)
		*version = 0;
	if (release_id != NULL)
		*release_id = 0;
	memset(&cur, 0, sizeof(cur));
	if (begin(db) < 0)
		return -1;
	for (i = 0; set != NULL && i < set->nr; i++) {
		const struct kv *kv = &set->items[i];

		if (!utf8_valid(kv->key, strlen(kv->key)) ||
		    !utf8_valid(kv->value, strlen(kv->value))) {
			berth_error("config var %s is not valid UTF-8",
			    set->items[i].key);
			goto fail;
		}
		if (run(db, prep(db, "INSERT INTO config_vars (app_id, key, "
		    "value) VALUES (?, ?, ?) ON CONFLICT (app_id, key) DO "
		    "UPDATE SET value = excluded.value", "iss", app_id,
		    set->items[i].key, set->items[i].value)) < 0)
			goto fail;
		strbuf_addf(&names, "%s%s", n++ ? ", " : "", set->items[i].key);
	}
	if (n > 0)
		strbuf_addf(&desc, "Set %s config var%s", strbuf_str(&names),
		    n > 1 ? "s" : "");
	strbuf_reset(&names);
	n = 0;
	for (i = 0; i < nunset; i++) {
		if (run(db, prep(db, "DELETE FROM config_vars WHERE app_id = ? "
		    "AND key = ?", "is", app_id, unset[i])) < 0)
			goto fail;
		strbuf_addf(&names, "%s%s", n++ ? ", " : "", unset[i]);
	}
	if (n > 0)
		strbuf_addf(&desc, "%sRemove %s config var%s",
		    desc.len ? "; " : "", strbuf_str(&names), n > 1 ? "s" : "");
	rc = current_release_in_txn(db, app_id, &cur);
	if (rc < 0)
		goto fail;
	if (rc == 0) {
		struct release_new rn = {
			.app_id = app_id,
			.slug_id = cur.slug_id,
			.kind = "config",
			.status = "pending",
			.actor = actor,
			.commit = cur.commit,
			.description = strbuf_str(&desc),
		};
		int v = release_insert(db, &rn, NULL);

		if (v < 0)
			goto fail;
		if (version != NULL)
			*version = v;
		if (release_id != NULL)
			*release_id = sqlite3_last_insert_rowid(db->db);
	}
	release_clear(&cur);
	strbuf_release(&desc);
	strbuf_release(&names);
	return commit(db);
fail:
	release_clear(&cur);
	strbuf_release(&desc);
	strbuf_release(&names);
	rollback(db);
	return -1;
}

/* ---- slugs ---- */

void
slug_clear(struct slug *s)
{
	free(s->id);
	free(s->commit);
	free(s->process_types);
	free(s->buildpacks);
	free(s->created_at);
	memset(s, 0, sizeof(*s));
}

int
ledger_slug_create(struct ledger *db, const struct slug *s)
{
	char now[32];

	now_text(now);
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "INSERT INTO slugs (id, commit_sha, "
	    "process_types, size, buildpacks, created_at) VALUES "
	    "(?, ?, ?, ?, ?, ?)", "sssiss", s->id, s->commit,
	    s->process_types, s->size, s->buildpacks, now)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_slug_get(struct ledger *db, const char *id, struct slug *out)
{
	sqlite3_stmt *st = prep(db, "SELECT id, commit_sha, process_types, "
	    "size, buildpacks, created_at FROM slugs WHERE id = ?", "s", id);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->id = col_text(st, 0);
		out->commit = col_text(st, 1);
		out->process_types = col_text(st, 2);
		out->size = sqlite3_column_int64(st, 3);
		out->buildpacks = col_text(st, 4);
		out->created_at = col_text(st, 5);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(db, "read slug");
	berth_error("no slug %s", id);
	return 1;
}

/* ---- builds ---- */

#define BUILD_COLS "b.id, b.app_id, a.name, b.commit_sha, b.ref, b.status, " \
	"b.slug_id, b.actor, b.error, b.started_at, b.finished_at"
#define BUILD_FROM " FROM builds b JOIN apps a ON a.id = b.app_id "

static void
fill_build(sqlite3_stmt *st, void *v)
{
	struct build *b = v;

	b->id = sqlite3_column_int64(st, 0);
	b->app_id = sqlite3_column_int64(st, 1);
	b->app = col_text(st, 2);
	b->commit = col_text(st, 3);
	b->ref = col_text(st, 4);
	b->status = col_text(st, 5);
	b->slug_id = col_text(st, 6);
	b->actor = col_text(st, 7);
	b->error = col_text(st, 8);
	b->started_at = col_text(st, 9);
	b->finished_at = col_text(st, 10);
}

void
build_clear(struct build *b)
{
	free(b->app);
	free(b->commit);
	free(b->ref);
	free(b->status);
	free(b->slug_id);
	free(b->actor);
	free(b->error);
	free(b->started_at);
	free(b->finished_at);
	memset(b, 0, sizeof(*b));
}

void
build_list_free(struct build *b, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		build_clear(&b[i]);
	free(b);
}

int
ledger_build_start(struct ledger *db, int64_t app_id, const char *commit_sha,
    const char *ref, const char *actor, int64_t *id)
{
	char now[32];

	now_text(now);
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "INSERT INTO builds (app_id, commit_sha, ref, "
	    "status, actor, started_at) VALUES (?, ?, ?, 'building', ?, ?)",
	    "issss", app_id, commit_sha, ref, actor, now)) < 0) {
		rollback(db);
		return -1;
	}
	*id = sqlite3_last_insert_rowid(db->db);
	return commit(db);
}

int
ledger_build_finish(struct ledger *db, int64_t id, const char *status,
    const char *slug_id, const char *error)
{
	char now[32];

	now_text(now);
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "UPDATE builds SET status = ?, slug_id = ?, "
	    "error = ?, finished_at = ? WHERE id = ?", "ssssi", status,
	    slug_id, error, now, id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_build_get(struct ledger *db, int64_t id, struct build *out)
{
	sqlite3_stmt *st = prep(db, "SELECT " BUILD_COLS BUILD_FROM
	    "WHERE b.id = ?", "i", id);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		fill_build(st, out);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(db, "read build");
	berth_error("no build %lld; see: berth builds -a APP", (long long)id);
	return 1;
}

int
ledger_build_list(struct ledger *db, int64_t app_id, int limit,
    struct build **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT " BUILD_COLS BUILD_FROM
	    "WHERE (?1 = 0 OR b.app_id = ?1) ORDER BY b.id DESC "
	    "LIMIT CASE WHEN ?2 > 0 THEN ?2 ELSE -1 END", "id", app_id,
	    limit), sizeof(**out), fill_build, (void **)out, nr);
}

/* ---- releases ---- */

static void
fill_release(sqlite3_stmt *st, void *v)
{
	struct release *r = v;

	r->id = sqlite3_column_int64(st, 0);
	r->app_id = sqlite3_column_int64(st, 1);
	r->version = sqlite3_column_int(st, 2);
	r->slug_id = col_text(st, 3);
	r->config = col_text(st, 4);
	r->kind = col_text(st, 5);
	r->status = col_text(st, 6);
	r->actor = col_text(st, 7);
	r->commit = col_text(st, 8);
	r->description = col_text(st, 9);
	r->created_at = col_text(st, 10);
	r->finished_at = col_text(st, 11);
}

void
release_clear(struct release *r)
{
	free(r->slug_id);
	free(r->config);
	free(r->kind);
	free(r->status);
	free(r->actor);
	free(r->commit);
	free(r->description);
	free(r->created_at);
	free(r->finished_at);
	memset(r, 0, sizeof(*r));
}

void
release_list_free(struct release *r, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		release_clear(&r[i]);
	free(r);
}

int
ledger_release_create(struct ledger *db, const struct release_new *rn,
    struct release *out)
{
	if (begin(db) < 0)
		return -1;
	if (release_insert(db, rn, out) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_release_finish(struct ledger *db, int64_t release_id,
    const char *status)
{
	char now[32];

	now_text(now);
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "UPDATE releases SET status = ?, finished_at = ? "
	    "WHERE id = ?", "ssi", status, now, release_id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

static int
release_one(struct ledger *db, sqlite3_stmt *st, struct release *out)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		fill_release(st, out);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(db, "read release");
	return 1;
}

int
ledger_release_get(struct ledger *db, int64_t app_id, int version,
    struct release *out)
{
	int rc = release_one(db, prep(db, "SELECT " RELEASE_COLS " FROM "
	    "releases WHERE app_id = ? AND version = ?", "id", app_id,
	    version), out);

	if (rc == 1) {
		int latest = ledger_release_latest_version(db, app_id);

		if (latest > 0)
			berth_error("no release v%d (latest is v%d)", version,
			    latest);
		else
			berth_error("no release v%d (the app has no releases "
			    "yet)", version);
	}
	return rc;
}

static int
current_release_in_txn(struct ledger *db, int64_t app_id,
    struct release *out)
{
	return release_one(db, prep(db, "SELECT " RELEASE_COLS " FROM "
	    "releases WHERE app_id = ? AND status = 'succeeded' ORDER BY "
	    "version DESC LIMIT 1", "i", app_id), out);
}

int
ledger_release_current(struct ledger *db, int64_t app_id,
    struct release *out)
{
	int rc = current_release_in_txn(db, app_id, out);

	if (rc == 1)
		berth_error("the app has no release yet; push to deploy it");
	return rc;
}

int
ledger_release_latest_version(struct ledger *db, int64_t app_id)
{
	sqlite3_stmt *st = prep(db, "SELECT COALESCE(MAX(version), 0) FROM "
	    "releases WHERE app_id = ?", "i", app_id);
	int v = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
ledger_release_list(struct ledger *db, int64_t app_id, int limit,
    struct release **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT " RELEASE_COLS " FROM releases "
	    "WHERE app_id = ?1 ORDER BY version DESC "
	    "LIMIT CASE WHEN ?2 > 0 THEN ?2 ELSE -1 END", "id", app_id,
	    limit), sizeof(**out), fill_release, (void **)out, nr);
}

/* ---- buildpacks ---- */

static void
fill_buildpack(sqlite3_stmt *st, void *v)
{
	struct buildpack *b = v;

	b->name = col_text(st, 0);
	b->source = col_text(st, 1);
	b->position = sqlite3_column_int(st, 2);
}

void
buildpack_list_free(struct buildpack *b, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		free(b[i].name);
		free(b[i].source);
	}
	free(b);
}

int
ledger_buildpack_list(struct ledger *db, int64_t pipeline_id,
    struct buildpack **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT name, source, position FROM "
	    "buildpacks WHERE pipeline_id = ? ORDER BY position",
	    "i", pipeline_id), sizeof(**out), fill_buildpack, (void **)out,
	    nr);
}

/* Renumber positions 1..n in order, inside the caller's transaction. */
static int
buildpack_renumber(struct ledger *db, int64_t pipeline_id)
{
	return run(db, prep(db, "UPDATE buildpacks SET position = r.rn FROM "
	    "(SELECT name, row_number() OVER (ORDER BY position) AS rn "
	    "FROM buildpacks WHERE pipeline_id = ?1) AS r "
	    "WHERE buildpacks.pipeline_id = ?1 AND buildpacks.name = r.name",
	    "i", pipeline_id));
}

int
ledger_buildpack_add(struct ledger *db, int64_t pipeline_id,
    const char *name, const char *source, int index)
{
	sqlite3_stmt *st;
	int rc, count = 0;

	if (begin(db) < 0)
		return -1;
	st = prep(db, "SELECT (SELECT COUNT(*) FROM buildpacks WHERE "
	    "pipeline_id = ?1), EXISTS (SELECT 1 FROM buildpacks WHERE "
	    "pipeline_id = ?1 AND name = ?2)", "is", pipeline_id, name);
	if (st == NULL)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		count = sqlite3_column_int(st, 0);
		rc = sqlite3_column_int(st, 1);
	} else
		rc = -1;
	sqlite3_finalize(st);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		rollback(db);
		return berth_error("buildpack %s is already in the list; "
		    "remove it first to move it", name);
	}
	if (index <= 0 || index > count + 1)
		index = count + 1;
	if (run(db, prep(db, "UPDATE buildpacks SET position = position + 1 "
	    "WHERE pipeline_id = ? AND position >= ?", "id", pipeline_id,
	    index)) < 0 ||
	    run(db, prep(db, "INSERT INTO buildpacks (pipeline_id, name, "
	    "source, position) VALUES (?, ?, ?, ?)", "issd", pipeline_id,
	    name, source, index)) < 0)
		goto fail;
	return commit(db);
fail:
	rollback(db);
	return -1;
}

int
ledger_buildpack_remove(struct ledger *db, int64_t pipeline_id,
    const char *name)
{
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "DELETE FROM buildpacks WHERE pipeline_id = ? "
	    "AND name = ?", "is", pipeline_id, name)) < 0)
		goto fail;
	if (sqlite3_changes(db->db) == 0) {
		rollback(db);
		return berth_error("buildpack %s is not in the list; see: "
		    "berth buildpacks", name);
	}
	if (buildpack_renumber(db, pipeline_id) < 0)
		goto fail;
	return commit(db);
fail:
	rollback(db);
	return -1;
}

/* ---- formation ---- */

static void
fill_formation(sqlite3_stmt *st, void *v)
{
	struct formation_item *f = v;

	f->type = col_text(st, 0);
	f->quantity = sqlite3_column_int(st, 1);
}

int
ledger_formation_get(struct ledger *db, int64_t app_id,
    struct formation_item **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT type, quantity FROM formation "
	    "WHERE app_id = ? ORDER BY type", "i", app_id), sizeof(**out),
	    fill_formation, (void **)out, nr);
}

int
ledger_formation_set(struct ledger *db, int64_t app_id,
    const struct formation_item *items, size_t nr)
{
	size_t i;

	if (begin(db) < 0)
		return -1;
	for (i = 0; i < nr; i++)
		if (run(db, prep(db, "INSERT INTO formation (app_id, type, "
		    "quantity) VALUES (?, ?, ?) ON CONFLICT (app_id, type) DO "
		    "UPDATE SET quantity = excluded.quantity", "isd", app_id,
		    items[i].type, items[i].quantity)) < 0) {
			rollback(db);
			return -1;
		}
	return commit(db);
}

void
formation_list_free(struct formation_item *f, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		free(f[i].type);
	free(f);
}

/* Make snapshot the app's config vars, inside the caller's txn. */
static int
config_replace(struct ledger *db, int64_t app_id, const char *snapshot)
{
	struct kvlist kv = { NULL, 0 };
	size_t i;
	int ret = -1;

	if (kvlist_from_json(snapshot, &kv) < 0)
		return -1;
	if (run(db, prep(db, "DELETE FROM config_vars WHERE app_id = ?", "i",
	    app_id)) < 0)
		goto out;
	for (i = 0; i < kv.nr; i++)
		if (run(db, prep(db, "INSERT INTO config_vars (app_id, key, "
		    "value) VALUES (?, ?, ?)", "iss", app_id, kv.items[i].key,
		    kv.items[i].value)) < 0)
			goto out;
	ret = 0;
out:
	kvlist_clear(&kv);
	return ret;
}

int
ledger_config_restore(struct ledger *db, int64_t app_id,
    const char *snapshot)
{
	if (begin(db) < 0)
		return -1;
	if (config_replace(db, app_id, snapshot) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_release_fail_stale(struct ledger *db, int64_t app_id)
{
	struct release cur;
	sqlite3_stmt *st;
	char now[32];
	int n, changed_config = 0;

	now_text(now);
	memset(&cur, 0, sizeof(cur));
	if (begin(db) < 0)
		return -1;
	/* A pending config change or rollback rewrote the config vars:
	 * put back those of the release that keeps running. */
	st = prep(db, "SELECT 1 FROM releases WHERE app_id = ? AND status = "
	    "'pending' AND kind IN ('config', 'rollback')", "i", app_id);
	if (st == NULL)
		goto fail;
	changed_config = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (changed_config && current_release_in_txn(db, app_id, &cur) == 0) {
		int rc = config_replace(db, app_id, cur.config);

		release_clear(&cur);
		if (rc < 0)
			goto fail;
	}
	if (run(db, prep(db, "UPDATE releases SET status = 'failed', "
	    "finished_at = ? WHERE app_id = ? AND status = 'pending'", "si",
	    now, app_id)) < 0)
		goto fail;
	n = sqlite3_changes(db->db);
	if (commit(db) < 0)
		return -1;
	return n;
fail:
	rollback(db);
	return -1;
}

int
ledger_release_get_by_id(struct ledger *db, int64_t id, struct release *out)
{
	int rc = release_one(db, prep(db, "SELECT " RELEASE_COLS " FROM "
	    "releases WHERE id = ?", "i", id), out);

	if (rc == 1)
		berth_error("no release with id %lld", (long long)id);
	return rc;
}

/* ---- pipeline settings and config ---- */

int
ledger_pipeline_set_review(struct ledger *db, int64_t pipeline_id,
    int enabled, int autodestroy, int stale_days)
{
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "UPDATE pipelines SET review_apps = ?, "
	    "review_autodestroy = ?, review_stale_days = ? WHERE id = ?",
	    "dddi", enabled, autodestroy, stale_days, pipeline_id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_pipeline_set_ci_gate(struct ledger *db, int64_t pipeline_id,
    const char *gate)
{
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "UPDATE pipelines SET ci_gate = ? WHERE id = ?",
	    "si", gate, pipeline_id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_pipeline_config_get(struct ledger *db, int64_t pipeline_id,
    const char *scope, struct kvlist *out)
{
	out->items = NULL;
	out->nr = 0;
	return collect(db, prep(db, "SELECT key, value FROM pipeline_config "
	    "WHERE pipeline_id = ? AND scope = ? ORDER BY key", "is",
	    pipeline_id, scope), sizeof(*out->items), fill_kv,
	    (void **)&out->items, &out->nr);
}

int
ledger_pipeline_config_change(struct ledger *db, int64_t pipeline_id,
    const char *scope, const struct kvlist *set, const char *const *unset,
    size_t nunset)
{
	size_t i;

	if (begin(db) < 0)
		return -1;
	for (i = 0; set != NULL && i < set->nr; i++)
		if (run(db, prep(db, "INSERT INTO pipeline_config (pipeline_id, "
		    "scope, key, value) VALUES (?, ?, ?, ?) ON CONFLICT "
		    "(pipeline_id, scope, key) DO UPDATE SET value = "
		    "excluded.value", "isss", pipeline_id, scope,
		    set->items[i].key, set->items[i].value)) < 0)
			goto fail;
	for (i = 0; i < nunset; i++)
		if (run(db, prep(db, "DELETE FROM pipeline_config WHERE "
		    "pipeline_id = ? AND scope = ? AND key = ?", "iss",
		    pipeline_id, scope, unset[i])) < 0)
			goto fail;
	return commit(db);
fail:
	rollback(db);
	return -1;
}

/* ---- test runs ---- */

#define RUN_COLS "id, pipeline_id, number, branch, commit_sha, status, " \
	"actor, nodes, passed, failed, error, created_at, finished_at"

static void
fill_run(sqlite3_stmt *st, void *v)
{
	struct test_run *t = v;

	t->id = sqlite3_column_int64(st, 0);
	t->pipeline_id = sqlite3_column_int64(st, 1);
	t->number = sqlite3_column_int(st, 2);
	t->branch = col_text(st, 3);
	t->commit = col_text(st, 4);
	t->status = col_text(st, 5);
	t->actor = col_text(st, 6);
	t->nodes = sqlite3_column_int(st, 7);
	t->passed = sqlite3_column_int(st, 8);
	t->failed = sqlite3_column_int(st, 9);
	t->error = col_text(st, 10);
	t->created_at = col_text(st, 11);
	t->finished_at = col_text(st, 12);
}

void
test_run_clear(struct test_run *t)
{
	free(t->branch);
	free(t->commit);
	free(t->status);
	free(t->actor);
	free(t->error);
	free(t->created_at);
	free(t->finished_at);
	memset(t, 0, sizeof(*t));
}

void
test_run_list_free(struct test_run *t, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		test_run_clear(&t[i]);
	free(t);
}

static int
run_one(struct ledger *db, sqlite3_stmt *st, struct test_run *out)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		fill_run(st, out);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(db, "read test run");
	return 1;
}

int
ledger_test_run_create(struct ledger *db, int64_t pipeline_id,
    const char *branch, const char *commit_sha, const char *actor,
    int nodes, struct test_run *out)
{
	char now[32];
	sqlite3_stmt *st;
	int number = 0;

	now_text(now);
	if (begin(db) < 0)
		return -1;
	st = prep(db, "SELECT COALESCE(MAX(number), 0) + 1 FROM test_runs "
	    "WHERE pipeline_id = ?", "i", pipeline_id);
	if (st == NULL)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		number = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (number == 0 || run(db, prep(db, "INSERT INTO test_runs "
	    "(pipeline_id, number, branch, commit_sha, status, actor, nodes, "
	    "created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)", "idsssds",
	    pipeline_id, number, branch, commit_sha, actor, nodes, now)) < 0)
		goto fail;
	if (run_one(db, prep(db, "SELECT " RUN_COLS " FROM test_runs WHERE "
	    "id = ?", "i", sqlite3_last_insert_rowid(db->db)), out) != 0)
		goto fail;
	return commit(db);
fail:
	rollback(db);
	return -1;
}

int
ledger_test_run_update(struct ledger *db, int64_t run_id, const char *status,
    int passed, int failed, const char *error)
{
	char now[32];
	int final = strcmp(status, "pending") != 0 &&
	    strcmp(status, "building") != 0 && strcmp(status, "running") != 0;

	now_text(now);
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "UPDATE test_runs SET status = ?, passed = ?, "
	    "failed = ?, error = ?, finished_at = ? WHERE id = ?", "sddssi",
	    status, passed, failed, error, final ? now : NULL, run_id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_test_node_set(struct ledger *db, int64_t run_id, int node,
    const char *status, int exit_code, int passed, int failed)
{
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "INSERT INTO test_nodes (run_id, node, status, "
	    "exit_code, passed, failed) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
	    "(run_id, node) DO UPDATE SET status = excluded.status, "
	    "exit_code = excluded.exit_code, passed = excluded.passed, "
	    "failed = excluded.failed", "idsddd", run_id, node, status,
	    exit_code, passed, failed)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_test_run_get(struct ledger *db, int64_t pipeline_id, int number,
    struct test_run *out)
{
	int rc = run_one(db, prep(db, "SELECT " RUN_COLS " FROM test_runs "
	    "WHERE pipeline_id = ? AND number = ?", "id", pipeline_id, number),
	    out);

	if (rc == 1)
		berth_error("no test run #%d", number);
	return rc;
}

int
ledger_test_run_latest(struct ledger *db, int64_t pipeline_id,
    const char *branch, struct test_run *out)
{
	return run_one(db, prep(db, "SELECT " RUN_COLS " FROM test_runs "
	    "WHERE pipeline_id = ?1 AND (?2 IS NULL OR branch = ?2) ORDER BY "
	    "number DESC LIMIT 1", "is", pipeline_id, branch), out);
}

int
ledger_test_run_list(struct ledger *db, int64_t pipeline_id,
    const char *branch, int limit, struct test_run **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT " RUN_COLS " FROM test_runs "
	    "WHERE pipeline_id = ?1 AND (?2 IS NULL OR branch = ?2) ORDER BY "
	    "number DESC LIMIT CASE WHEN ?3 > 0 THEN ?3 ELSE -1 END", "isd",
	    pipeline_id, branch, limit), sizeof(**out), fill_run,
	    (void **)out, nr);
}

/* ---- review apps ---- */

#define REVIEW_COLS "r.id, r.pipeline_id, r.app_id, a.name, r.branch, " \
	"r.status, r.postdeploy_done, r.last_push_at, r.created_at, " \
	"r.destroyed_at"
#define REVIEW_FROM " FROM review_apps r JOIN apps a ON a.id = r.app_id "

static void
fill_review(sqlite3_stmt *st, void *v)
{
	struct review_app *r = v;

	r->id = sqlite3_column_int64(st, 0);
	r->pipeline_id = sqlite3_column_int64(st, 1);
	r->app_id = sqlite3_column_int64(st, 2);
	r->app = col_text(st, 3);
	r->branch = col_text(st, 4);
	r->status = col_text(st, 5);
	r->postdeploy_done = sqlite3_column_int(st, 6);
	r->last_push_at = col_text(st, 7);
	r->created_at = col_text(st, 8);
	r->destroyed_at = col_text(st, 9);
}

void
review_app_clear(struct review_app *r)
{
	free(r->app);
	free(r->branch);
	free(r->status);
	free(r->last_push_at);
	free(r->created_at);
	free(r->destroyed_at);
	memset(r, 0, sizeof(*r));
}

void
review_app_list_free(struct review_app *r, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		review_app_clear(&r[i]);
	free(r);
}

int
ledger_review_create(struct ledger *db, int64_t pipeline_id,
    const char *branch, const char *app_name, const struct kvlist *config,
    struct review_app *out)
{
	char now[32];
	int64_t app_id;
	size_t i;

	now_text(now);
	if (begin(db) < 0)
		return -1;
	if (app_insert(db, app_name, pipeline_id, "review", branch,
	    &app_id) < 0)
		goto fail;
	for (i = 0; config != NULL && i < config->nr; i++)
		if (run(db, prep(db, "INSERT INTO config_vars (app_id, key, "
		    "value) VALUES (?, ?, ?)", "iss", app_id,
		    config->items[i].key, config->items[i].value)) < 0)
			goto fail;
	if (run(db, prep(db, "INSERT INTO review_apps (pipeline_id, app_id, "
	    "branch, status, last_push_at, created_at) VALUES (?, ?, ?, "
	    "'creating', ?, ?)", "iisss", pipeline_id, app_id, branch, now,
	    now)) < 0)
		goto fail;
	if (out != NULL) {
		sqlite3_stmt *st = prep(db, "SELECT " REVIEW_COLS REVIEW_FROM
		    "WHERE r.id = ?", "i", sqlite3_last_insert_rowid(db->db));

		if (st == NULL || sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_finalize(st);
			goto fail;
		}
		fill_review(st, out);
		sqlite3_finalize(st);
	}
	return commit(db);
fail:
	rollback(db);
	return -1;
}

int
ledger_review_get(struct ledger *db, int64_t pipeline_id, const char *branch,
    struct review_app *out)
{
	sqlite3_stmt *st = prep(db, "SELECT " REVIEW_COLS REVIEW_FROM
	    "WHERE r.pipeline_id = ? AND r.branch = ? AND r.status != "
	    "'destroyed'", "is", pipeline_id, branch);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		fill_review(st, out);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(db, "read review app");
	berth_error("no review app for branch %s", branch);
	return 1;
}

int
ledger_review_list(struct ledger *db, int64_t pipeline_id, int all,
    struct review_app **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT " REVIEW_COLS REVIEW_FROM
	    "WHERE r.pipeline_id = ? AND (? OR r.status != 'destroyed') "
	    "ORDER BY r.branch, r.id", "id", pipeline_id, all),
	    sizeof(**out), fill_review, (void **)out, nr);
}

int
ledger_review_update(struct ledger *db, int64_t id, const char *status,
    int postdeploy_done, int touch)
{
	char now[32];

	now_text(now);
	if (begin(db) < 0)
		return -1;
	if (run(db, prep(db, "UPDATE review_apps SET status = COALESCE(?, "
	    "status), postdeploy_done = MAX(postdeploy_done, ?), "
	    "last_push_at = CASE WHEN ? THEN ? ELSE last_push_at END "
	    "WHERE id = ?", "sddsi", status, postdeploy_done, touch, now,
	    id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_review_destroy(struct ledger *db, int64_t id)
{
	char now[32];
	sqlite3_stmt *st;
	int64_t app_id = 0;

	now_text(now);
	if (begin(db) < 0)
		return -1;
	st = prep(db, "SELECT app_id FROM review_apps WHERE id = ?", "i", id);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		app_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (app_id == 0 ||
	    run(db, prep(db, "UPDATE review_apps SET status = 'destroyed', "
	    "destroyed_at = ? WHERE id = ?", "si", now, id)) < 0 ||
	    run(db, prep(db, "UPDATE apps SET destroyed_at = ? WHERE id = ? "
	    "AND destroyed_at IS NULL", "si", now, app_id)) < 0 ||
	    run(db, prep(db, "DELETE FROM config_vars WHERE app_id = ?", "i",
	    app_id)) < 0 ||
	    run(db, prep(db, "DELETE FROM formation WHERE app_id = ?", "i",
	    app_id)) < 0) {
		rollback(db);
		return -1;
	}
	return commit(db);
}

int
ledger_review_stale(struct ledger *db, int64_t pipeline_id,
    const char *before, struct review_app **out, size_t *nr)
{
	return collect(db, prep(db, "SELECT " REVIEW_COLS REVIEW_FROM
	    "WHERE r.pipeline_id = ? AND r.status != 'destroyed' AND "
	    "r.last_push_at < ?", "is", pipeline_id, before), sizeof(**out),
	    fill_review, (void **)out, nr);
}

int
ledger_release_last_deploy(struct ledger *db, int64_t app_id, char *out,
    size_t size)
{
	sqlite3_stmt *st = prep(db, "SELECT commit_sha FROM releases WHERE "
	    "app_id = ? AND kind = 'deploy' AND status = 'succeeded' AND "
	    "commit_sha IS NOT NULL ORDER BY version DESC LIMIT 1", "i",
	    app_id);
	int rc;

	if (st == NULL)
		return -1;
	out[0] = '\0';
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(st,
		    0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(db, "read release");
	return rc == SQLITE_ROW ? 0 : 1;
}
