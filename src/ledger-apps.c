/*
 * ledger-apps.c - the ledger's pipelines, apps, their settings,
 * pipeline config vars and buildpacks.
 */
#include "ledger.h"
#include "ledger-int.h"
#include "names.h"
#include "util.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pipelines ---- */

#define PIPELINE_COLS "id, name, deploy_branch, created_at, review_apps, " \
	"review_autodestroy, review_stale_days, ci_gate"

static void
pipeline_from_row(sqlite3_stmt *st, struct pipeline *p)
{
	p->id = sqlite3_column_int64(st, 0);
	p->name = sql_text(st, 1);
	p->deploy_branch = sql_text(st, 2);
	p->created_at = sql_text(st, 3);
	p->review_apps = sqlite3_column_int(st, 4);
	p->review_autodestroy = sqlite3_column_int(st, 5);
	p->review_stale_days = sqlite3_column_int(st, 6);
	p->ci_gate = sql_text(st, 7);
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
	sqlite3_stmt *st = sql_prep(db, "SELECT 1 FROM apps WHERE name = ? AND "
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
		return sql_error(db, "read app");
	return 0;
}

int
sql_app_insert(struct ledger *db, const char *name, int64_t pipeline_id,
    const char *stage, const char *branch, int64_t *id)
{
	char now[32];

	sql_now(now);
	if (app_name_free(db, name) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "INSERT INTO apps (name, pipeline_id, stage, "
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

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	st = sql_prep(db, "SELECT 1 FROM pipelines WHERE name = ?", "s", name);
	if (st == NULL)
		goto fail;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW) {
		sql_rollback(db);
		return berth_error("pipeline %s already exists; see: berth "
		    "pipelines:info -p %s", name, name);
	}
	if (sql_run(db, sql_prep(db, "INSERT INTO pipelines (name, deploy_branch, "
	    "created_at) VALUES (?, ?, ?)", "sss", name, deploy_branch,
	    now)) < 0)
		goto fail;
	pid = sqlite3_last_insert_rowid(db->db);
	for (i = 0; i < napps; i++)
		if (sql_app_insert(db, apps[i].name, pid, apps[i].stage,
		    apps[i].branch, NULL) < 0)
			goto fail;
	if (id != NULL)
		*id = pid;
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

static void
fill_pipeline(sqlite3_stmt *st, void *p)
{
	pipeline_from_row(st, p);
}

int
ledger_pipeline_get(struct ledger *db, const char *name,
    struct pipeline *out)
{
	int rc = sql_one(db, sql_prep(db, "SELECT " PIPELINE_COLS
	    " FROM pipelines WHERE name = ?", "s", name), fill_pipeline, out);

	if (rc == 1)
		sql_no_such("pipeline", name, "pipelines");
	return rc;
}

int
ledger_pipeline_get_by_id(struct ledger *db, int64_t id,
    struct pipeline *out)
{
	int rc = sql_one(db, sql_prep(db, "SELECT " PIPELINE_COLS
	    " FROM pipelines WHERE id = ?", "i", id), fill_pipeline, out);

	if (rc == 1)
		berth_error("no pipeline with id %lld", (long long)id);
	return rc;
}


int
ledger_pipeline_list(struct ledger *db, struct pipeline **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " PIPELINE_COLS " FROM pipelines"
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
	a->name = sql_text(st, 1);
	a->pipeline_id = sqlite3_column_int64(st, 2);
	a->pipeline = sql_text(st, 3);
	a->stage = sql_text(st, 4);
	a->branch = sql_text(st, 5);
	a->created_at = sql_text(st, 6);
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
	if (sql_begin(db) < 0)
		return -1;
	if (sql_app_insert(db, name, pipeline_id, stage, branch, id) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_app_get_by_id(struct ledger *db, int64_t id, struct app *out)
{
	int rc = sql_one(db, sql_prep(db, "SELECT " APP_COLS APP_FROM
	    "WHERE a.id = ?", "i", id), fill_app, out);

	if (rc == 1)
		berth_error("no app with id %lld", (long long)id);
	return rc;
}

int
ledger_app_get(struct ledger *db, const char *name, struct app *out)
{
	sqlite3_stmt *st = sql_prep(db, "SELECT " APP_COLS APP_FROM
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
		return sql_error(db, "read app");
	sql_no_such("app", name, "apps");
	return 1;
}

int
ledger_app_list(struct ledger *db, int64_t pipeline_id, struct app **out,
    size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " APP_COLS APP_FROM
	    "WHERE a.destroyed_at IS NULL AND (?1 = 0 OR a.pipeline_id = ?1)"
	    APP_ORDER, "i", pipeline_id), sizeof(**out), fill_app,
	    (void **)out, nr);
}

int
ledger_apps_for_branch(struct ledger *db, int64_t pipeline_id,
    const char *branch, struct app **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " APP_COLS APP_FROM
	    "WHERE a.destroyed_at IS NULL AND a.pipeline_id = ? AND "
	    "a.branch = ? AND a.stage != 'review'" APP_ORDER, "is",
	    pipeline_id, branch),
	    sizeof(**out), fill_app, (void **)out, nr);
}

int
ledger_app_set_stopped(struct ledger *db, int64_t app_id, int stopped)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE apps SET stopped = ? WHERE id = ?", "di",
	    stopped, app_id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_app_destroy(struct ledger *db, int64_t app_id)
{
	char now[32];

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE apps SET destroyed_at = ? WHERE id = ? "
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

/* ---- pipeline settings and config ---- */

int
ledger_pipeline_set_review(struct ledger *db, int64_t pipeline_id,
    int enabled, int autodestroy, int stale_days)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE pipelines SET review_apps = ?, "
	    "review_autodestroy = ?, review_stale_days = ? WHERE id = ?",
	    "dddi", enabled, autodestroy, stale_days, pipeline_id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_pipeline_set_ci_gate(struct ledger *db, int64_t pipeline_id,
    const char *gate)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE pipelines SET ci_gate = ? WHERE id = ?",
	    "si", gate, pipeline_id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_pipeline_config_get(struct ledger *db, int64_t pipeline_id,
    const char *scope, struct kvlist *out)
{
	out->items = NULL;
	out->nr = 0;
	return sql_collect(db, sql_prep(db, "SELECT key, value FROM pipeline_config "
	    "WHERE pipeline_id = ? AND scope = ? ORDER BY key", "is",
	    pipeline_id, scope), sizeof(*out->items), sql_fill_kv,
	    (void **)&out->items, &out->nr);
}

int
ledger_pipeline_config_change(struct ledger *db, int64_t pipeline_id,
    const char *scope, const struct kvlist *set, const char *const *unset,
    size_t nunset)
{
	size_t i;

	if (sql_begin(db) < 0)
		return -1;
	for (i = 0; set != NULL && i < set->nr; i++)
		if (sql_run(db, sql_prep(db, "INSERT INTO pipeline_config (pipeline_id, "
		    "scope, key, value) VALUES (?, ?, ?, ?) ON CONFLICT "
		    "(pipeline_id, scope, key) DO UPDATE SET value = "
		    "excluded.value", "isss", pipeline_id, scope,
		    set->items[i].key, set->items[i].value)) < 0)
			goto fail;
	for (i = 0; i < nunset; i++)
		if (sql_run(db, sql_prep(db, "DELETE FROM pipeline_config WHERE "
		    "pipeline_id = ? AND scope = ? AND key = ?", "iss",
		    pipeline_id, scope, unset[i])) < 0)
			goto fail;
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

/* ---- buildpacks ---- */

static void
fill_buildpack(sqlite3_stmt *st, void *v)
{
	struct buildpack *b = v;

	b->name = sql_text(st, 0);
	b->source = sql_text(st, 1);
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
	return sql_collect(db, sql_prep(db, "SELECT name, source, position FROM "
	    "buildpacks WHERE pipeline_id = ? ORDER BY position",
	    "i", pipeline_id), sizeof(**out), fill_buildpack, (void **)out,
	    nr);
}

/* Renumber positions 1..n in order, inside the caller's transaction. */
static int
buildpack_renumber(struct ledger *db, int64_t pipeline_id)
{
	return sql_run(db, sql_prep(db, "UPDATE buildpacks SET position = r.rn FROM "
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

	if (sql_begin(db) < 0)
		return -1;
	st = sql_prep(db, "SELECT (SELECT COUNT(*) FROM buildpacks WHERE "
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
		sql_rollback(db);
		return berth_error("buildpack %s is already in the list; "
		    "remove it first to move it", name);
	}
	if (index <= 0 || index > count + 1)
		index = count + 1;
	if (sql_run(db, sql_prep(db, "UPDATE buildpacks SET position = position + 1 "
	    "WHERE pipeline_id = ? AND position >= ?", "id", pipeline_id,
	    index)) < 0 ||
	    sql_run(db, sql_prep(db, "INSERT INTO buildpacks (pipeline_id, name, "
	    "source, position) VALUES (?, ?, ?, ?)", "issd", pipeline_id,
	    name, source, index)) < 0)
		goto fail;
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

int
ledger_buildpack_remove(struct ledger *db, int64_t pipeline_id,
    const char *name)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "DELETE FROM buildpacks WHERE pipeline_id = ? "
	    "AND name = ?", "is", pipeline_id, name)) < 0)
		goto fail;
	if (sqlite3_changes(db->db) == 0) {
		sql_rollback(db);
		return berth_error("buildpack %s is not in the list; see: "
		    "berth buildpacks", name);
	}
	if (buildpack_renumber(db, pipeline_id) < 0)
		goto fail;
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

int
ledger_sandbox_uid(struct ledger *db, const char *owner, int uid_min,
    int uid_max, int *uid)
{
	int have, next;

	if (sql_begin(db) < 0)
		return -1;
	have = sql_int(sql_prep(db, "SELECT uid FROM sandbox_uids WHERE "
	    "owner = ?", "s", owner));
	if (have >= 0) {
		sql_rollback(db);
		*uid = have;
		return 0;
	}
	next = sql_int(sql_prep(db, "SELECT COALESCE(MAX(uid) + 1, ?1) FROM "
	    "sandbox_uids WHERE uid BETWEEN ?1 AND ?2", "dd", uid_min,
	    uid_max));
	if (next < uid_min || next > uid_max) {
		sql_rollback(db);
		return berth_error("every uid of berth.ini sandbox.uid_min-"
		    "uid_max (%d-%d) has been given to an app; widen the range",
		    uid_min, uid_max);
	}
	if (sql_run(db, sql_prep(db, "INSERT INTO sandbox_uids (owner, uid) "
	    "VALUES (?, ?)", "sd", owner, next)) < 0) {
		sql_rollback(db);
		return -1;
	}
	*uid = next;
	return sql_commit(db);
}
