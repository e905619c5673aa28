/*
 * ledger-ci.c - the ledger's test runs and review apps.
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
	t->branch = sql_text(st, 3);
	t->commit = sql_text(st, 4);
	t->status = sql_text(st, 5);
	t->actor = sql_text(st, 6);
	t->nodes = sqlite3_column_int(st, 7);
	t->passed = sqlite3_column_int(st, 8);
	t->failed = sqlite3_column_int(st, 9);
	t->error = sql_text(st, 10);
	t->created_at = sql_text(st, 11);
	t->finished_at = sql_text(st, 12);
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
		return sql_error(db, "read test run");
	return 1;
}

int
ledger_test_run_create(struct ledger *db, int64_t pipeline_id,
    const char *branch, const char *commit_sha, const char *actor,
    int nodes, struct test_run *out)
{
	char now[32], *owner;
	sqlite3_stmt *st;
	int number = 0;

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	owner = proc_owner(getpid());
	st = sql_prep(db, "SELECT COALESCE(MAX(number), 0) + 1 FROM test_runs "
	    "WHERE pipeline_id = ?", "i", pipeline_id);
	if (st == NULL)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		number = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (number == 0 || sql_run(db, sql_prep(db, "INSERT INTO test_runs "
	    "(pipeline_id, number, branch, commit_sha, status, actor, nodes, "
	    "created_at, owner) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
	    "idsssdss", pipeline_id, number, branch, commit_sha, actor, nodes,
	    now, owner)) < 0)
		goto fail;
	if (run_one(db, sql_prep(db, "SELECT " RUN_COLS " FROM test_runs WHERE "
	    "id = ?", "i", sqlite3_last_insert_rowid(db->db)), out) != 0)
		goto fail;
	free(owner);
	if (sql_commit(db) == 0)
		return 0;
	/* Not recorded (a full disk): no run to point at. */
	test_run_clear(out);
	return -1;
fail:
	free(owner);
	sql_rollback(db);
	return -1;
}

int
ledger_test_run_update(struct ledger *db, int64_t run_id, const char *status,
    int passed, int failed, const char *error)
{
	char now[32];
	int final = strcmp(status, "pending") != 0 &&
	    strcmp(status, "building") != 0 && strcmp(status, "running") != 0;

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE test_runs SET status = ?, passed = ?, "
	    "failed = ?, error = ?, finished_at = ? WHERE id = ?", "sddssi",
	    status, passed, failed, error, final ? now : NULL, run_id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_test_node_set(struct ledger *db, int64_t run_id, int node,
    const char *status, int exit_code, int passed, int failed)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "INSERT INTO test_nodes (run_id, node, status, "
	    "exit_code, passed, failed) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
	    "(run_id, node) DO UPDATE SET status = excluded.status, "
	    "exit_code = excluded.exit_code, passed = excluded.passed, "
	    "failed = excluded.failed", "idsddd", run_id, node, status,
	    exit_code, passed, failed)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_test_run_get(struct ledger *db, int64_t pipeline_id, int number,
    struct test_run *out)
{
	int rc = run_one(db, sql_prep(db, "SELECT " RUN_COLS " FROM test_runs "
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
	return run_one(db, sql_prep(db, "SELECT " RUN_COLS " FROM test_runs "
	    "WHERE pipeline_id = ?1 AND (?2 IS NULL OR branch = ?2) ORDER BY "
	    "number DESC LIMIT 1", "is", pipeline_id, branch), out);
}

int
ledger_test_run_of_commit(struct ledger *db, int64_t pipeline_id,
    const char *commit, struct test_run *out)
{
	return run_one(db, sql_prep(db, "SELECT " RUN_COLS " FROM test_runs "
	    "WHERE pipeline_id = ?1 AND commit_sha = ?2 AND status IN "
	    "('succeeded', 'failed', 'errored') ORDER BY number DESC LIMIT 1",
	    "is", pipeline_id, commit), out);
}

int
ledger_test_run_list(struct ledger *db, int64_t pipeline_id,
    const char *branch, int limit, struct test_run **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " RUN_COLS " FROM test_runs "
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
	r->app = sql_text(st, 3);
	r->branch = sql_text(st, 4);
	r->status = sql_text(st, 5);
	r->postdeploy_done = sqlite3_column_int(st, 6);
	r->last_push_at = sql_text(st, 7);
	r->created_at = sql_text(st, 8);
	r->destroyed_at = sql_text(st, 9);
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

/* review_app.created|destroyed, in the transaction of the change. */
static int
review_event(struct ledger *db, const char *kind, int64_t app_id,
    const char *branch, const char *actor)
{
	char *msg = xasprintf("Review app of %s %s", branch,
	    strcmp(kind, "review_app.created") == 0 ? "created" :
	    "destroyed");
	struct event_new ev = {
		.kind = kind,
		.app_id = app_id,
		.actor = actor,
		.message = msg,
	};
	int rc = sql_event_json(db, &ev, json_pack("{s:s}", "branch",
	    branch));

	free(msg);
	return rc;
}

int
ledger_review_create(struct ledger *db, int64_t pipeline_id,
    const char *branch, const char *app_name, const struct kvlist *config,
    const char *actor, struct review_app *out)
{
	char now[32];
	int64_t app_id, id;
	size_t i;

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_app_insert(db, app_name, pipeline_id, "review", branch,
	    &app_id) < 0)
		goto fail;
	for (i = 0; config != NULL && i < config->nr; i++)
		if (sql_run(db, sql_prep(db, "INSERT INTO config_vars (app_id, key, "
		    "value) VALUES (?, ?, ?)", "iss", app_id,
		    config->items[i].key, config->items[i].value)) < 0)
			goto fail;
	if (sql_run(db, sql_prep(db, "INSERT INTO review_apps (pipeline_id, app_id, "
	    "branch, status, last_push_at, created_at) VALUES (?, ?, ?, "
	    "'creating', ?, ?)", "iisss", pipeline_id, app_id, branch, now,
	    now)) < 0)
		goto fail;
	/* Before the event's row takes last_insert_rowid. */
	id = sqlite3_last_insert_rowid(db->db);
	if (review_event(db, "review_app.created", app_id, branch, actor) < 0)
		goto fail;
	if (out != NULL) {
		sqlite3_stmt *st = sql_prep(db, "SELECT " REVIEW_COLS REVIEW_FROM
		    "WHERE r.id = ?", "i", id);

		if (st == NULL || sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_finalize(st);
			goto fail;
		}
		fill_review(st, out);
		sqlite3_finalize(st);
	}
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

int
ledger_review_get(struct ledger *db, int64_t pipeline_id, const char *branch,
    struct review_app *out)
{
	sqlite3_stmt *st = sql_prep(db, "SELECT " REVIEW_COLS REVIEW_FROM
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
		return sql_error(db, "read review app");
	berth_error("no review app for branch %s", branch);
	return 1;
}

int
ledger_review_list(struct ledger *db, int64_t pipeline_id, int all,
    struct review_app **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " REVIEW_COLS REVIEW_FROM
	    "WHERE r.pipeline_id = ? AND (? OR r.status != 'destroyed') "
	    "ORDER BY r.branch, r.id", "id", pipeline_id, all),
	    sizeof(**out), fill_review, (void **)out, nr);
}

int
ledger_review_update(struct ledger *db, int64_t id, const char *status,
    int postdeploy_done, int touch)
{
	char now[32];

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE review_apps SET status = COALESCE(?, "
	    "status), postdeploy_done = MAX(postdeploy_done, ?), "
	    "last_push_at = CASE WHEN ? THEN ? ELSE last_push_at END "
	    "WHERE id = ?", "sddsi", status, postdeploy_done, touch, now,
	    id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_review_destroy(struct ledger *db, int64_t id, const char *actor)
{
	char now[32];
	sqlite3_stmt *st;
	int64_t app_id = 0;
	char *branch = NULL;
	int rc;

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	st = sql_prep(db, "SELECT app_id, branch FROM review_apps WHERE id = ?",
	    "i", id);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		app_id = sqlite3_column_int64(st, 0);
		branch = sql_text(st, 1);
	}
	sqlite3_finalize(st);
	rc = app_id == 0 ? -1 : review_event(db, "review_app.destroyed",
	    app_id, branch, actor);
	free(branch);
	if (rc < 0 ||
	    sql_run(db, sql_prep(db, "UPDATE review_apps SET status = 'destroyed', "
	    "destroyed_at = ? WHERE id = ?", "si", now, id)) < 0 ||
	    sql_run(db, sql_prep(db, "UPDATE apps SET destroyed_at = ? WHERE id = ? "
	    "AND destroyed_at IS NULL", "si", now, app_id)) < 0 ||
	    sql_run(db, sql_prep(db, "DELETE FROM config_vars WHERE app_id = ?", "i",
	    app_id)) < 0 ||
	    sql_run(db, sql_prep(db, "DELETE FROM formation WHERE app_id = ?", "i",
	    app_id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_review_stale(struct ledger *db, int64_t pipeline_id,
    const char *before, struct review_app **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " REVIEW_COLS REVIEW_FROM
	    "WHERE r.pipeline_id = ? AND r.status != 'destroyed' AND "
	    "r.last_push_at < ?", "is", pipeline_id, before), sizeof(**out),
	    fill_review, (void **)out, nr);
}
