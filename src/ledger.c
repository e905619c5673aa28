/*
 * ledger.c - the SQLite ledger: opening it, its schema and migrations,
 * and the statement helpers of ledger-int.h. ledger*.c are the only
 * files that speak SQL; each owns some tables (see its head comment).
 */
#include "ledger.h"
#include "ledger-int.h"
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
	/* v3 -> v4: a pushed release goes live only once git moved its ref
	 * (gate.h): "REF PID START" of the receive-pack it waits for. */
	"ALTER TABLE releases ADD COLUMN gate TEXT;"
	/* and builds and test runs name their process (proc_owner()), so
	 * that those it left behind when killed are found. */
	"ALTER TABLE builds ADD COLUMN owner TEXT;"
	"ALTER TABLE test_runs ADD COLUMN owner TEXT;",
	/* v4 -> v5: the uid an app's (or a pipeline's CI's) code runs as
	 * when berth is root (sandbox.h): assigned on first use, kept, and
	 * never given to another owner. */
	"CREATE TABLE sandbox_uids ("
	"  owner TEXT PRIMARY KEY,"
	"  uid INTEGER NOT NULL UNIQUE);",
	/* v5 -> v6: each process type's dyno size (ps:resize), in bytes;
	 * 0 = berth.ini [sandbox] memory */
	"ALTER TABLE formation ADD COLUMN memory INTEGER NOT NULL DEFAULT 0 "
	"  CHECK (memory >= 0);",
	/* v6 -> v7: who may do what (ledger-access.c): users, their SSH
	 * keys, their role per pipeline, and their API tokens (only a hash
	 * of each). Removing a user removes the rest. */
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  admin INTEGER NOT NULL DEFAULT 0,"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE keys ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  key TEXT NOT NULL,"
	"  label TEXT,"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE grants ("
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),"
	"  role TEXT NOT NULL CHECK (role IN"
	"    ('viewer','developer','deployer','admin')),"
	"  granted_by TEXT NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  PRIMARY KEY (user_id, pipeline_id));"
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  description TEXT,"
	"  created_at TEXT NOT NULL,"
	"  expires_at TEXT,"
	"  last_used_at TEXT);",
	/* v7 -> v8: the activity feed and its outbox (ledger-events.c).
	 * An event is written in the transaction of the change it tells
	 * of: by these triggers for builds, test runs and releases (every
	 * path that ends one, killed ones included), by sql_event() for
	 * the rest. Each event gets a delivery per webhook that wants it,
	 * in the same transaction, which berthd sends (notify.h). */
	"ALTER TABLE events ADD COLUMN version INTEGER;"
	"ALTER TABLE events ADD COLUMN commit_sha TEXT;"
	"ALTER TABLE events ADD COLUMN data TEXT NOT NULL DEFAULT '{}';"
	"CREATE INDEX events_pipeline ON events(pipeline_id, id);"
	"CREATE TABLE webhooks ("
	"  id INTEGER PRIMARY KEY,"
	"  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),"
	"  url TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('json','slack','github')),"
	"  events TEXT NOT NULL DEFAULT '',"
	"  secret TEXT,"
	"  created_at TEXT NOT NULL,"
	"  removed_at TEXT);"
	"CREATE TABLE deliveries ("
	"  id INTEGER PRIMARY KEY,"
	"  uuid TEXT NOT NULL UNIQUE,"
	"  webhook_id INTEGER NOT NULL REFERENCES webhooks(id),"
	"  event_id INTEGER NOT NULL REFERENCES events(id),"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('pending','succeeded','failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at TEXT NOT NULL,"
	"  http_code INTEGER,"
	"  error TEXT,"
	"  latency_ms INTEGER,"
	"  created_at TEXT NOT NULL,"
	"  finished_at TEXT);"
	"CREATE INDEX deliveries_due ON deliveries(status, next_at);"
	"CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);"
	/* "build" in a webhook's events matches build.succeeded. */
	"CREATE TRIGGER event_deliveries AFTER INSERT ON events BEGIN"
	"  INSERT INTO deliveries (uuid, webhook_id, event_id, status,"
	"    next_at, created_at)"
	"  SELECT lower(hex(randomblob(16))), w.id, NEW.id, 'pending',"
	"    NEW.created_at, NEW.created_at FROM webhooks w"
	"  WHERE w.pipeline_id = NEW.pipeline_id AND w.removed_at IS NULL"
	"    AND (w.events = '' OR instr(',' || w.events || ',', ',' ||"
	"    NEW.kind || ',') > 0 OR instr(',' || w.events || ',', ',' ||"
	"    substr(NEW.kind, 1, instr(NEW.kind, '.') - 1) || ',') > 0);"
	"END;"
	"CREATE TRIGGER build_event AFTER UPDATE OF status ON builds"
	"  WHEN NEW.status != OLD.status AND NEW.status != 'building' BEGIN"
	"  INSERT INTO events (pipeline_id, app_id, kind, actor, message,"
	"    created_at, commit_sha, data)"
	"  SELECT a.pipeline_id, NEW.app_id, 'build.' || NEW.status,"
	"    NEW.actor, 'Build ' || substr(NEW.commit_sha, 1, 7) || ' of ' ||"
	"    replace(NEW.ref, 'refs/heads/', '') || ' ' || NEW.status ||"
	"    coalesce(': ' || NEW.error, ''),"
	"    strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), NEW.commit_sha,"
	"    json_object('build', NEW.id, 'ref', NEW.ref, 'error', NEW.error,"
	"    'duration', round((julianday(NEW.finished_at) -"
	"    julianday(NEW.started_at)) * 86400, 1))"
	"  FROM apps a WHERE a.id = NEW.app_id;"
	"END;"
	"CREATE TRIGGER test_run_started AFTER INSERT ON test_runs BEGIN"
	"  INSERT INTO events (pipeline_id, kind, actor, message, created_at,"
	"    commit_sha, data)"
	"  VALUES (NEW.pipeline_id, 'test_run.started', NEW.actor,"
	"    'Test run #' || NEW.number || ' of ' || NEW.branch || ' started',"
	"    NEW.created_at, NEW.commit_sha, json_object('number', NEW.number,"
	"    'branch', NEW.branch, 'nodes', NEW.nodes));"
	"END;"
	"CREATE TRIGGER test_run_event AFTER UPDATE OF status ON test_runs"
	"  WHEN NEW.status != OLD.status AND NEW.status IN ('succeeded',"
	"  'failed', 'errored', 'cancelled') BEGIN"
	"  INSERT INTO events (pipeline_id, kind, actor, message, created_at,"
	"    commit_sha, data)"
	"  VALUES (NEW.pipeline_id, 'test_run.' || NEW.status, NEW.actor,"
	"    'Test run #' || NEW.number || ' of ' || NEW.branch || ' ' ||"
	"    NEW.status || ' (' || NEW.passed || ' passed, ' || NEW.failed ||"
	"    ' failed)' || coalesce(': ' || NEW.error, ''),"
	"    strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), NEW.commit_sha,"
	"    json_object('number', NEW.number, 'branch', NEW.branch,"
	"    'passed', NEW.passed, 'failed', NEW.failed, 'error', NEW.error,"
	"    'duration', round((julianday(coalesce(NEW.finished_at,"
	"    strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))) -"
	"    julianday(NEW.created_at)) * 86400, 1)));"
	"END;"
	"CREATE TRIGGER release_event AFTER UPDATE OF status ON releases"
	"  WHEN NEW.status != OLD.status AND NEW.status != 'pending' BEGIN"
	"  INSERT INTO events (pipeline_id, app_id, kind, actor, message,"
	"    created_at, version, commit_sha, data)"
	"  SELECT a.pipeline_id, NEW.app_id, 'release.' || NEW.status,"
	"    NEW.actor, NEW.description, strftime('%Y-%m-%dT%H:%M:%SZ',"
	"    'now'), NEW.version, NEW.commit_sha, json_object('kind',"
	"    NEW.kind, 'release_id', NEW.id, 'duration',"
	"    round((julianday(NEW.finished_at) - julianday(NEW.created_at))"
	"    * 86400, 1))"
	"  FROM apps a WHERE a.id = NEW.app_id;"
	"END;",
	/* v8 -> v9: Slack (ledger-access.c): the server's Slack app (its
	 * signing secret, in settings), which Slack user is which berth
	 * user, and the one-time codes of /berth login (hashed). */
	"CREATE TABLE settings ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE slack_links ("
	"  slack_user TEXT PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  linked_at TEXT NOT NULL);"
	"CREATE TABLE slack_codes ("
	"  code_hash TEXT PRIMARY KEY,"
	"  slack_user TEXT NOT NULL,"
	"  expires_at TEXT NOT NULL);",
	/* v9 -> v10: the release phase's result (ledger_release_phase()),
	 * which the release's event carries as data.release_phase, so a
	 * webhook can tell it (notify.h); and an index for the sender. */
	"ALTER TABLE releases ADD COLUMN phase TEXT;"
	/* What is due of each webhook (ledger_delivery_due()). */
	"CREATE INDEX deliveries_webhook_due ON deliveries(webhook_id, status,"
	"  next_at, id);"
	"DROP TRIGGER release_event;"
	"CREATE TRIGGER release_event AFTER UPDATE OF status ON releases"
	"  WHEN NEW.status != OLD.status AND NEW.status != 'pending' BEGIN"
	"  INSERT INTO events (pipeline_id, app_id, kind, actor, message,"
	"    created_at, version, commit_sha, data)"
	"  SELECT a.pipeline_id, NEW.app_id, 'release.' || NEW.status,"
	"    NEW.actor, NEW.description, strftime('%Y-%m-%dT%H:%M:%SZ',"
	"    'now'), NEW.version, NEW.commit_sha, json_object('kind',"
	"    NEW.kind, 'release_id', NEW.id, 'duration',"
	"    round((julianday(NEW.finished_at) - julianday(NEW.created_at))"
	"    * 86400, 1), 'release_phase', json(NEW.phase))"
	"  FROM apps a WHERE a.id = NEW.app_id;"
	"END;",
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

int
sql_no_such(const char *what, const char *name, const char *see)
{
	char q[64];

	name_quote(name, q, sizeof(q));
	return berth_error("no %s named '%s'; see: berth %s", what, q, see);
}

/*
 * The last error was the disk's being full: SQLite's SQLITE_FULL, an
 * I/O error of ENOSPC (the -shm file cannot grow), or any write to a
 * connection opened read-only because the disk was full.
 */
static int
disk_full(struct ledger *db)
{
	int rc = sqlite3_errcode(db->db);

	return rc == SQLITE_FULL || (rc == SQLITE_IOERR &&
	    sqlite3_system_errno(db->db) == ENOSPC) ||
	    (db->full && rc == SQLITE_READONLY);
}

/* what went wrong (msg is SQLite's words) as berth_error(): -1. */
static int
ledger_failed(struct ledger *db, const char *what, const char *msg)
{
	if (disk_full(db))
		return berth_error("ledger: disk full: cannot write %s; free "
		    "some space on its file system and try again", db->path);
	if (sqlite3_errcode(db->db) == SQLITE_READONLY)
		return berth_error("ledger: %s is read-only (%s: %s); make it "
		    "and its directory writable by berth", db->path, what, msg);
	return berth_error("ledger: %s: %s", what, msg);
}

int
sql_error(struct ledger *db, const char *what)
{
	return ledger_failed(db, what, sqlite3_errmsg(db->db));
}

int
sql_exec(struct ledger *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ledger_failed(db, "write", msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int open_ledger(const char *path, int existing, struct ledger **out);

/*
 * A connection opened read-only on a full disk (open_full()) becomes a
 * read-write one again once there is space: berthd's connections live
 * long. It stays as it is while a statement of it is open.
 */
static void
writable_again(struct ledger *db)
{
	struct ledger *fresh;

	if (!db->full || open_ledger(db->path, 1, &fresh) < 0)
		return;
	if (!fresh->full && sqlite3_close(db->db) == SQLITE_OK) {
		db->db = fresh->db;
		db->full = 0;
		fresh->db = NULL;
	}
	ledger_close(fresh);
}

int
sql_begin(struct ledger *db)
{
	writable_again(db);
	return sql_exec(db, "BEGIN IMMEDIATE");
}

int
sql_commit(struct ledger *db)
{
	if (sql_exec(db, "COMMIT") == 0)
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

void
sql_rollback(struct ledger *db)
{
	sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Prepare sql and bind arguments described by types: 'i' int64, 'd' int,
 * 's' string (NULL binds NULL).
 */
sqlite3_stmt *
sql_prep(struct ledger *db, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int i;

	if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sql_error(db, "prepare");
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
int
sql_run(struct ledger *db, sqlite3_stmt *st)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sql_error(db, "write");
	return 0;
}

char *
sql_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? xstrdup((const char *)t) : NULL;
}

void
sql_now(char buf[32])
{
	now_iso(buf);
}

/*
 * Create the file 0600 before SQLite does, so secrets stay ours (SQLite
 * gives -wal and -shm the same mode). Only when it does not exist:
 * closing any fd of a file drops every POSIX lock this process holds on
 * it, which would break the locking of other connections in this
 * process (berthd has one per thread).
 */
static int
create_private(const char *path)
{
	static const struct {
		const char *suffix, *fix;
	} files[] = {
		{ "", "put the ledger's file back there" },
		{ "-wal", "remove it (SQLite makes its own)" },
		{ "-shm", "remove it (SQLite makes its own)" },
	};
	size_t i;
	int fd, rc = 0;

	/* SQLite would wait for ever reading a FIFO: only files, or none. */
	for (i = 0; i < sizeof(files) / sizeof(files[0]) && rc >= 0; i++) {
		char *p = xasprintf("%s%s", path, files[i].suffix);

		rc = path_regular(p, files[i].fix);
		free(p);
	}
	if (rc < 0)
		return -1;
	if (path_exists(path))
		return 0;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return berth_error_errno("cannot open ledger %s", path);
	if (fd >= 0)
		close(fd);
	return 0;
}

/*
 * WAL, NORMAL sync and foreign keys. Switching a new file to WAL needs
 * an exclusive lock, and SQLite answers SQLITE_BUSY at once (no busy
 * handler) when another process is doing the same: retry for up to the
 * busy timeout.
 */
static int
set_pragmas(struct ledger *db)
{
	int tries;

	for (tries = 0; ; tries++) {
		int rc = sqlite3_exec(db->db, "PRAGMA journal_mode=WAL", NULL,
		    NULL, NULL);

		if (rc == SQLITE_OK)
			break;
		if ((rc & 0xff) != SQLITE_BUSY || tries >= 3000)
			return sql_error(db, "set WAL mode");
		usleep(10000);
	}
	return sql_exec(db, "PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=ON;");
}

/* The tables a berth ledger has once migrated (its schema's). */
static const char *const tables[] = {
	"pipelines", "apps", "config_vars", "slugs", "builds", "releases",
	"formation", "buildpacks", "events", "pipeline_config", "test_runs",
	"test_nodes", "review_apps", "sandbox_uids", "users", "keys",
	"grants", "tokens", "webhooks", "deliveries", "settings",
	"slack_links", "slack_codes", NULL,
};

/* Every table is there: 0, or -1 naming the first one missing. */
static int
check_tables(struct ledger *db, const char *path)
{
	struct strbuf q = STRBUF_INIT;
	size_t i, n;
	int have;

	/* One query when all is well (every command opens the ledger). */
	strbuf_addstr(&q, "SELECT COUNT(*) FROM sqlite_master WHERE type = "
	    "'table' AND name IN (");
	for (n = 0; tables[n] != NULL; n++)
		strbuf_addf(&q, "%s'%s'", n ? ", " : "", tables[n]);
	strbuf_addch(&q, ')');
	have = sql_int(sql_prep(db, q.buf, ""));
	strbuf_release(&q);
	if (have == (int)n)
		return 0;
	for (i = 0; tables[i] != NULL; i++)
		if (sql_int(sql_prep(db, "SELECT 1 FROM sqlite_master WHERE "
		    "type = 'table' AND name = ?", "s", tables[i])) != 1)
			break;
	return berth_error("ledger %s has no %s table: it is damaged; "
	    "restore it from a backup", path, tables[i] != NULL ? tables[i] :
	    "?");
}

/*
 * Run the migrations the file lacks, in one transaction. existing: the
 * file is a root's ledger, which only berth init makes: a schema
 * version of 0 (an empty file, or some other database) is refused, not
 * made into a new ledger.
 */
static int
migrate(struct ledger *db, const char *path, int existing)
{
	int version;
	size_t i;

	if (sql_begin(db) < 0)
		return -1;
	version = ledger_schema_version(db);
	if (existing && version == 0) {
		sql_rollback(db);
		return berth_error("ledger %s is empty or not a berth ledger; "
		    "restore it from a backup (berth init makes one only for a "
		    "new server root)", path);
	}
	if (version < 0 || version > (int)NMIGRATIONS) {
		sql_rollback(db);
		return berth_error("ledger %s has schema version %d; this "
		    "berth knows up to %d: upgrade berth", path, version,
		    (int)NMIGRATIONS);
	}
	for (i = (size_t)version; i < NMIGRATIONS; i++) {
		char pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu",
		    i + 1);
		if (sql_exec(db, migrations[i]) < 0 ||
		    sql_exec(db, pragma) < 0) {
			sql_rollback(db);
			return -1;
		}
	}
	return sql_commit(db);
}

/*
 * Open db->path again, read-only, for a disk too full for SQLite's
 * -shm file: read-only commands still read (the WAL index is kept in
 * memory: SQLite's readonly_shm), and every write says "disk full"
 * (disk_full()). Missing -wal and -shm files are made empty: that
 * takes no space.
 */
static int
open_full(struct ledger *db)
{
	static const char *const sides[] = { "-wal", "-shm" };
	struct strbuf uri = STRBUF_INIT;
	const char *c;
	size_t i;
	int fd, rc;

	for (i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		char *p = xasprintf("%s%s", db->path, sides[i]);

		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		free(p);
	}
	strbuf_addstr(&uri, "file:");
	for (c = db->path; *c != '\0'; c++)
		if (*c == '%' || *c == '?' || *c == '#')
			strbuf_addf(&uri, "%%%02X", (unsigned char)*c);
		else
			strbuf_addch(&uri, *c);
	strbuf_addstr(&uri, "?mode=ro&readonly_shm=1");
	sqlite3_close(db->db);
	rc = sqlite3_open_v2(uri.buf, &db->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	strbuf_release(&uri);
	if (rc != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(db->db, 30000);
	db->full = 1;
	if (ledger_schema_version(db) != (int)NMIGRATIONS)
		return berth_error("ledger: disk full: cannot migrate %s; free "
		    "some space on its file system and try again", db->path);
	return sql_exec(db, "PRAGMA foreign_keys=ON;");
}

static int
open_ledger(const char *path, int existing, struct ledger **out)
{
	struct ledger *db;
	struct stat st;

	/* A link to nothing is a ledger lost, not one to make anew. */
	if (existing && path_regular(path, "restore the ledger from a "
	    "backup") < 0)
		return -1;
	if (existing && stat(path, &st) < 0)
		return berth_error("no ledger at %s; run: berth init", path);
	/* An empty file is a ledger that lost everything: opening it would
	 * write a new one over what a backup could still restore. */
	if (existing && S_ISREG(st.st_mode) && st.st_size == 0)
		return berth_error("ledger %s is empty (0 bytes): restore it "
		    "from a backup (berth init makes one only for a new server "
		    "root)", path);
	if (create_private(path) < 0)
		return -1;
	db = xcalloc(1, sizeof(*db));
	db->path = xstrdup(path);
	if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE |
	    (existing ? 0 : SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX,
	    NULL) != SQLITE_OK) {
		berth_error("cannot open ledger %s: %s", path,
		    sqlite3_errmsg(db->db));
		goto fail;
	}
	sqlite3_busy_timeout(db->db, 30000);
	if (set_pragmas(db) < 0) {
		/* A full disk: read what is there (a new ledger needs room). */
		if (existing && disk_full(db)) {
			/* berth_last_error() says "disk full" if this fails */
			if (open_full(db) < 0)
				goto fail;
		} else {
			/* "file is not a database": say what it means. */
			if (sqlite3_errcode(db->db) == SQLITE_NOTADB)
				berth_error("ledger %s is not an SQLite database "
				    "(it is damaged): restore it from a backup",
				    path);
			goto fail;
		}
	} else if (migrate(db, path, existing) < 0)
		goto fail;
	if (existing && check_tables(db, path) < 0)
		goto fail;
	*out = db;
	return 0;
fail:
	ledger_close(db);
	return -1;
}

int
ledger_open(const char *path, struct ledger **out)
{
	return open_ledger(path, 0, out);
}

int
ledger_open_existing(const char *path, struct ledger **out)
{
	return open_ledger(path, 1, out);
}

void
ledger_close(struct ledger *db)
{
	if (db == NULL)
		return;
	sqlite3_close(db->db);
	free(db->path);
	free(db);
}

int
sql_int(sqlite3_stmt *st)
{
	int v = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
ledger_schema_version(struct ledger *db)
{
	return sql_int(sql_prep(db, "PRAGMA user_version", ""));
}

int
sql_one(struct ledger *db, sqlite3_stmt *st,
    void (*fill)(sqlite3_stmt *, void *), void *out)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		fill(st, out);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return sql_error(db, "read");
	return 1;
}

/*
 * Collect every row of st into a growing array of elem_size elements,
 * filling each with fill(). Finalizes st.
 */
int
sql_collect(struct ledger *db, sqlite3_stmt *st, size_t elem_size,
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
		return sql_error(db, "read");
	}
	*out = arr;
	*nr = n;
	return 0;
}
