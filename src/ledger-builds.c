/*
 * ledger-builds.c - the ledger's slugs and builds.
 */
#include "ledger.h"
#include "ledger-int.h"
#include "names.h"
#include "proc.h"
#include "util.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "INSERT INTO slugs (id, commit_sha, "
	    "process_types, size, buildpacks, created_at) VALUES "
	    "(?, ?, ?, ?, ?, ?)", "sssiss", s->id, s->commit,
	    s->process_types, s->size, s->buildpacks, now)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_slug_get(struct ledger *db, const char *id, struct slug *out)
{
	sqlite3_stmt *st = sql_prep(db, "SELECT id, commit_sha, process_types, "
	    "size, buildpacks, created_at FROM slugs WHERE id = ?", "s", id);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->id = sql_text(st, 0);
		out->commit = sql_text(st, 1);
		out->process_types = sql_text(st, 2);
		out->size = sqlite3_column_int64(st, 3);
		out->buildpacks = sql_text(st, 4);
		out->created_at = sql_text(st, 5);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_error(db, "read slug");
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
	b->app = sql_text(st, 2);
	b->commit = sql_text(st, 3);
	b->ref = sql_text(st, 4);
	b->status = sql_text(st, 5);
	b->slug_id = sql_text(st, 6);
	b->actor = sql_text(st, 7);
	b->error = sql_text(st, 8);
	b->started_at = sql_text(st, 9);
	b->finished_at = sql_text(st, 10);
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
	char now[32], *owner = proc_owner(getpid());
	int rc;

	sql_now(now);
	if (sql_begin(db) < 0) {
		free(owner);
		return -1;
	}
	rc = sql_run(db, sql_prep(db, "INSERT INTO builds (app_id, commit_sha, "
	    "ref, status, actor, started_at, owner) VALUES (?, ?, ?, "
	    "'building', ?, ?, ?)", "isssss", app_id, commit_sha, ref, actor,
	    now, owner));
	free(owner);
	if (rc < 0) {
		sql_rollback(db);
		return -1;
	}
	*id = sqlite3_last_insert_rowid(db->db);
	return sql_commit(db);
}

int
ledger_build_finish(struct ledger *db, int64_t id, const char *status,
    const char *slug_id, const char *error)
{
	char now[32];

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE builds SET status = ?, slug_id = ?, "
	    "error = ?, finished_at = ? WHERE id = ?", "ssssi", status,
	    slug_id, error, now, id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_build_get(struct ledger *db, int64_t id, struct build *out)
{
	sqlite3_stmt *st = sql_prep(db, "SELECT " BUILD_COLS BUILD_FROM
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
		return sql_error(db, "read build");
	berth_error("no build %lld; see: berth builds -a APP", (long long)id);
	return 1;
}

int
ledger_build_list(struct ledger *db, int64_t app_id, int limit,
    struct build **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " BUILD_COLS BUILD_FROM
	    "WHERE (?1 = 0 OR b.app_id = ?1) ORDER BY b.id DESC "
	    "LIMIT CASE WHEN ?2 > 0 THEN ?2 ELSE -1 END", "id", app_id,
	    limit), sizeof(**out), fill_build, (void **)out, nr);
}

/* ---- work a killed process left ---- */

/* What is in progress, per table, and what it becomes when orphaned. */
static const struct {
	const char *table;
	const char *running;	/* WHERE clause */
	const char *ended;	/* status */
} work[] = {
	[LEDGER_WORK_BUILD] = { "builds", "status = 'building'", "failed" },
	[LEDGER_WORK_TEST_RUN] = { "test_runs", "status IN ('pending', "
	    "'building', 'running')", "errored" },
};

static int
fail_orphans(struct ledger *db, enum ledger_work kind, char *now)
{
	struct kv *rows = NULL;
	size_t n = 0, i;
	char *sql;
	int ret = 0;

	sql = xasprintf("SELECT CAST(id AS TEXT), owner FROM %s WHERE %s",
	    work[kind].table, work[kind].running);
	if (sql_collect(db, sql_prep(db, sql, ""), sizeof(*rows), sql_fill_kv,
	    (void **)&rows, &n) < 0)
		ret = -1;
	free(sql);
	sql = xasprintf("UPDATE %s SET status = ?, error = ?, finished_at = ? "
	    "WHERE id = ? AND %s", work[kind].table, work[kind].running);
	for (i = 0; i < n && ret >= 0; i++) {
		if (proc_owner_alive(rows[i].value))
			continue;
		if (sql_run(db, sql_prep(db, sql, "sssi", work[kind].ended,
		    "interrupted: the process running it ended", now,
		    (int64_t)atoll(rows[i].key))) < 0)
			ret = -1;
		else
			ret++;
	}
	free(sql);
	kvlist_clear(&(struct kvlist){ rows, n });
	return ret;
}

int
ledger_fail_interrupted(struct ledger *db)
{
	char now[32];
	int a, b;

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if ((a = fail_orphans(db, LEDGER_WORK_BUILD, now)) < 0 ||
	    (b = fail_orphans(db, LEDGER_WORK_TEST_RUN, now)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db) < 0 ? -1 : a + b;
}

int
ledger_work_running(struct ledger *db, enum ledger_work kind, int64_t id)
{
	char *sql = xasprintf("SELECT 1 FROM %s WHERE id = ? AND %s",
	    work[kind].table, work[kind].running);
	int rc = sql_int(sql_prep(db, sql, "i", id));

	free(sql);
	return rc == 1;
}
