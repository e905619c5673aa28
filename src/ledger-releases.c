/*
 * ledger-releases.c - the ledger's config vars, releases and formations.
 *
 * Invariants enforced here:
 * - release versions only grow and are unique per app (UNIQUE(app_id,
 *   version), allocated as max+1 inside BEGIN IMMEDIATE);
 * - a release carries the config snapshot taken in the same transaction
 *   that allocated its version;
 * - the current release of an app is its newest succeeded one.
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

void
sql_fill_kv(sqlite3_stmt *st, void *v)
{
	struct kv *kv = v;

	kv->key = sql_text(st, 0);
	kv->value = sql_text(st, 1);
}

int
ledger_config_get(struct ledger *db, int64_t app_id, struct kvlist *out)
{
	out->items = NULL;
	out->nr = 0;
	return sql_collect(db, sql_prep(db, "SELECT key, value FROM config_vars "
	    "WHERE app_id = ? ORDER BY key", "i", app_id),
	    sizeof(*out->items), sql_fill_kv, (void **)&out->items, &out->nr);
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
	"actor, commit_sha, description, created_at, finished_at, gate"

/* Insert a release inside an open transaction. */
static int
release_insert(struct ledger *db, const struct release_new *rn,
    struct release *out)
{
	char now[32];
	char *config;
	sqlite3_stmt *st;
	int version, rc;

	sql_now(now);
	version = ledger_release_latest_version(db, rn->app_id);
	if (version < 0)
		return -1;
	if (version == RELEASE_VERSION_MAX)
		return berth_error("the app has v%d, the highest release "
		    "version berth makes: no release after it", version);
	version++;
	if (rn->config != NULL && config_replace(db, rn->app_id,
	    rn->config) < 0)
		return -1;
	config = config_snapshot(db, rn->app_id);
	if (config == NULL)
		return -1;
	rc = sql_run(db, sql_prep(db, "INSERT INTO releases (app_id, version, "
	    "slug_id, config, kind, status, actor, commit_sha, description, "
	    "created_at, finished_at, gate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, CASE WHEN ?6 = 'pending' THEN NULL ELSE ?10 END, ?11)",
	    "idsssssssss", rn->app_id, version, rn->slug_id, config, rn->kind,
	    rn->status, rn->actor, rn->commit, rn->description, now,
	    rn->gate));
	free(config);
	if (rc < 0)
		return -1;
	if (out != NULL) {
		int64_t rid = sqlite3_last_insert_rowid(db->db);

		st = sql_prep(db, "SELECT " RELEASE_COLS " FROM releases WHERE "
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

/* config.changed: the names set and unset, never a value. */
static int
config_event(struct ledger *db, int64_t app_id, const struct kvlist *set,
    const char *const *unset, size_t nunset, const char *actor,
    int version, const char *desc)
{
	json_t *data = json_pack("{s:[], s:[]}", "set", "unset");
	struct event_new ev = {
		.kind = "config.changed",
		.app_id = app_id,
		.actor = actor,
		.version = version,
		.message = desc,
	};
	size_t i;

	for (i = 0; set != NULL && i < set->nr; i++)
		json_array_append_new(json_object_get(data, "set"),
		    json_string(set->items[i].key));
	for (i = 0; i < nunset; i++)
		json_array_append_new(json_object_get(data, "unset"),
		    json_string(unset[i]));
	return sql_event_json(db, &ev, data);
}

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
	if (sql_begin(db) < 0)
		return -1;
	for (i = 0; set != NULL && i < set->nr; i++) {
		const struct kv *kv = &set->items[i];

		if (!utf8_valid(kv->key, strlen(kv->key)) ||
		    !utf8_valid(kv->value, strlen(kv->value))) {
			berth_error("config var %s is not valid UTF-8",
			    set->items[i].key);
			goto fail;
		}
		if (sql_run(db, sql_prep(db, "INSERT INTO config_vars (app_id, key, "
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
		if (sql_run(db, sql_prep(db, "DELETE FROM config_vars WHERE app_id = ? "
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
		rc = v;
	} else {
		rc = 0;
	}
	if (config_event(db, app_id, set, unset, nunset, actor, rc,
	    strbuf_str(&desc)) < 0)
		goto fail;
	release_clear(&cur);
	strbuf_release(&desc);
	strbuf_release(&names);
	return sql_commit(db);
fail:
	release_clear(&cur);
	strbuf_release(&desc);
	strbuf_release(&names);
	sql_rollback(db);
	return -1;
}

/* ---- releases ---- */

/* v as a release version, 0 when it cannot be one. */
static int
version_in_range(int64_t v)
{
	return v >= 1 && v <= RELEASE_VERSION_MAX ? (int)v : 0;
}

/* A release row whose version is out of range: -1 after saying so. */
static int
bad_version(const struct release *r)
{
	return berth_error("ledger: release %lld of app %lld has a version "
	    "outside v1..v%d: the ledger was changed outside berth",
	    (long long)r->id, (long long)r->app_id, RELEASE_VERSION_MAX);
}

static void
fill_release(sqlite3_stmt *st, void *v)
{
	struct release *r = v;

	r->id = sqlite3_column_int64(st, 0);
	r->app_id = sqlite3_column_int64(st, 1);
	r->version = version_in_range(sqlite3_column_int64(st, 2));
	r->slug_id = sql_text(st, 3);
	r->config = sql_text(st, 4);
	r->kind = sql_text(st, 5);
	r->status = sql_text(st, 6);
	r->actor = sql_text(st, 7);
	r->commit = sql_text(st, 8);
	r->description = sql_text(st, 9);
	r->created_at = sql_text(st, 10);
	r->finished_at = sql_text(st, 11);
	r->gate = sql_text(st, 12);
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
	free(r->gate);
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
	if (sql_begin(db) < 0)
		return -1;
	if (release_insert(db, rn, out) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_release_finish(struct ledger *db, int64_t release_id,
    const char *status)
{
	return ledger_release_end(db, release_id, status, 0, NULL);
}

int
ledger_release_end(struct ledger *db, int64_t release_id, const char *status,
    int64_t app_id, const char *snapshot)
{
	char now[32];

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE releases SET status = ?, finished_at = ? "
	    "WHERE id = ?", "ssi", status, now, release_id)) < 0 ||
	    (snapshot != NULL && config_replace(db, app_id, snapshot) < 0)) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
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
		if (out->version == 0) {
			bad_version(out);
			release_clear(out);
			return -1;
		}
		return 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_error(db, "read release");
	return 1;
}

int
ledger_release_get(struct ledger *db, int64_t app_id, int64_t version,
    struct release *out)
{
	int rc = release_one(db, sql_prep(db, "SELECT " RELEASE_COLS " FROM "
	    "releases WHERE app_id = ? AND version = ?", "ii", app_id,
	    version), out);

	if (rc == 1) {
		int latest = ledger_release_latest_version(db, app_id);

		if (latest < 0)
			return -1;
		if (latest > 0)
			berth_error("no release v%lld (latest is v%d)",
			    (long long)version, latest);
		else
			berth_error("no release v%lld (the app has no releases "
			    "yet)", (long long)version);
	}
	return rc;
}

static int
current_release_in_txn(struct ledger *db, int64_t app_id,
    struct release *out)
{
	return release_one(db, sql_prep(db, "SELECT " RELEASE_COLS " FROM "
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
	sqlite3_stmt *st = sql_prep(db, "SELECT COALESCE(MAX(version), 0), "
	    "MIN(version) FROM releases WHERE app_id = ?", "i", app_id);
	int64_t max = -1, min = 1;
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		max = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			min = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return sql_error(db, "read release version");
	if (max > RELEASE_VERSION_MAX || min < 1)
		return berth_error("ledger: app %lld has a release version "
		    "outside v1..v%d: the ledger was changed outside berth",
		    (long long)app_id, RELEASE_VERSION_MAX);
	return (int)max;
}

int
ledger_release_phase(struct ledger *db, int64_t release_id,
    const char *command, int ok, int64_t duration_ms)
{
	char secs[32];

	snprintf(secs, sizeof(secs), "%.1f", duration_ms / 1000.0);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE releases SET phase = "
	    "json_object('command', ?, 'status', ?, 'duration', CAST(? AS "
	    "REAL)) WHERE id = ?", "sssi", command, ok ? "succeeded" :
	    "failed", secs, release_id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

/* -1 after bad_version() when a row of rs is out of range (and frees
 * them all), else 0. */
static int
check_versions(struct release **rs, size_t *nr)
{
	size_t i;

	for (i = 0; i < *nr; i++)
		if ((*rs)[i].version == 0) {
			bad_version(&(*rs)[i]);
			release_list_free(*rs, *nr);
			*rs = NULL;
			*nr = 0;
			return -1;
		}
	return 0;
}

int
ledger_release_list(struct ledger *db, int64_t app_id, int limit,
    struct release **out, size_t *nr)
{
	if (sql_collect(db, sql_prep(db, "SELECT " RELEASE_COLS " FROM "
	    "releases WHERE app_id = ?1 ORDER BY version DESC "
	    "LIMIT CASE WHEN ?2 > 0 THEN ?2 ELSE -1 END", "id", app_id,
	    limit), sizeof(**out), fill_release, (void **)out, nr) < 0)
		return -1;
	return check_versions(out, nr);
}

int
ledger_release_before(struct ledger *db, int64_t app_id, int64_t version,
    struct release *out)
{
	return release_one(db, sql_prep(db, "SELECT " RELEASE_COLS " FROM "
	    "releases WHERE app_id = ? AND version < ? AND status = "
	    "'succeeded' AND commit_sha IS NOT NULL ORDER BY version DESC "
	    "LIMIT 1", "ii", app_id, version), out);
}

/* ---- formation ---- */

static void
fill_formation(sqlite3_stmt *st, void *v)
{
	struct formation_item *f = v;

	f->type = sql_text(st, 0);
	f->quantity = sqlite3_column_int(st, 1);
	f->memory = sqlite3_column_int64(st, 2);
}

int
ledger_formation_get(struct ledger *db, int64_t app_id,
    struct formation_item **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT type, quantity, memory "
	    "FROM formation WHERE app_id = ? ORDER BY type", "i", app_id), sizeof(**out),
	    fill_formation, (void **)out, nr);
}

/* Upsert items (app_id, type, quantity, memory), on conflict by sql. */
/* formation.changed, in the transaction of the change. */
static int
formation_event(struct ledger *db, int64_t app_id,
    const struct formation_item *items, size_t nr, int sizes,
    const char *actor)
{
	struct strbuf msg = STRBUF_INIT;
	json_t *f = json_object();
	struct event_new ev = {
		.kind = "formation.changed",
		.app_id = app_id,
		.actor = actor,
	};
	size_t i;
	int rc;

	strbuf_addstr(&msg, sizes ? "Resized" : "Scaled");
	for (i = 0; i < nr; i++) {
		if (sizes)
			strbuf_addf(&msg, " %s=%lldM", items[i].type,
			    (long long)(items[i].memory >> 20));
		else
			strbuf_addf(&msg, " %s=%d", items[i].type,
			    items[i].quantity);
		json_object_set_new(f, items[i].type, sizes ?
		    json_integer(items[i].memory) :
		    json_integer(items[i].quantity));
	}
	ev.message = msg.buf;
	rc = sql_event_json(db, &ev, json_pack("{s:o}", sizes ? "memory" :
	    "quantity", f));
	strbuf_release(&msg);
	return rc;
}

static int
formation_upsert(struct ledger *db, int64_t app_id,
    const struct formation_item *items, size_t nr, int sizes,
    const char *actor)
{
	char *sql = xasprintf("INSERT INTO formation (app_id, type, quantity, "
	    "memory) VALUES (?, ?, ?, ?) ON CONFLICT (app_id, type) DO "
	    "UPDATE SET %s", sizes ? "memory = excluded.memory" :
	    "quantity = excluded.quantity");
	size_t i;
	int ret = -1;

	if (sql_begin(db) < 0)
		goto out;
	for (i = 0; i < nr; i++)
		if (sql_run(db, sql_prep(db, sql, "isdi", app_id,
		    items[i].type, items[i].quantity, items[i].memory)) < 0) {
			sql_rollback(db);
			goto out;
		}
	if (formation_event(db, app_id, items, nr, sizes, actor) < 0) {
		sql_rollback(db);
		goto out;
	}
	ret = sql_commit(db);
out:
	free(sql);
	return ret;
}

int
ledger_formation_set(struct ledger *db, int64_t app_id,
    const struct formation_item *items, size_t nr, const char *actor)
{
	return formation_upsert(db, app_id, items, nr, 0, actor);
}

int
ledger_formation_resize(struct ledger *db, int64_t app_id,
    const struct formation_item *items, size_t nr, const char *actor)
{
	return formation_upsert(db, app_id, items, nr, 1, actor);
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
	if (sql_run(db, sql_prep(db, "DELETE FROM config_vars WHERE app_id = ?", "i",
	    app_id)) < 0)
		goto out;
	for (i = 0; i < kv.nr; i++)
		if (sql_run(db, sql_prep(db, "INSERT INTO config_vars (app_id, key, "
		    "value) VALUES (?, ?, ?)", "iss", app_id, kv.items[i].key,
		    kv.items[i].value)) < 0)
			goto out;
	ret = 0;
out:
	kvlist_clear(&kv);
	return ret;
}

int
ledger_release_fail_stale(struct ledger *db, int64_t app_id)
{
	struct release cur;
	sqlite3_stmt *st;
	char now[32];
	int n, changed_config = 0;

	sql_now(now);
	memset(&cur, 0, sizeof(cur));
	if (sql_begin(db) < 0)
		return -1;
	/* A pending config change or rollback rewrote the config vars:
	 * put back those of the release that keeps running. */
	st = sql_prep(db, "SELECT 1 FROM releases WHERE app_id = ? AND status = "
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
	/* Gated ones wait for git (gate_settle_app()). */
	if (sql_run(db, sql_prep(db, "UPDATE releases SET status = 'failed', "
	    "finished_at = ? WHERE app_id = ? AND status = 'pending' AND "
	    "gate IS NULL", "si", now, app_id)) < 0)
		goto fail;
	n = sqlite3_changes(db->db);
	if (sql_commit(db) < 0)
		return -1;
	return n;
fail:
	sql_rollback(db);
	return -1;
}

int
ledger_release_gated(struct ledger *db, int64_t app_id, struct release **out,
    size_t *nr)
{
	*out = NULL;
	*nr = 0;
	if (sql_collect(db, sql_prep(db, "SELECT " RELEASE_COLS " FROM "
	    "releases WHERE app_id = ? AND status = 'pending' AND gate IS NOT "
	    "NULL ORDER BY version", "i", app_id), sizeof(**out),
	    fill_release, (void **)out, nr) < 0)
		return -1;
	return check_versions(out, nr);
}

int
ledger_release_get_by_id(struct ledger *db, int64_t id, struct release *out)
{
	int rc = release_one(db, sql_prep(db, "SELECT " RELEASE_COLS " FROM "
	    "releases WHERE id = ?", "i", id), out);

	if (rc == 1)
		berth_error("no release with id %lld", (long long)id);
	return rc;
}
