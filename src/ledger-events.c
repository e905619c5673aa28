/*
 * ledger-events.c - the activity feed (events), the webhooks of each
 * pipeline, and the outbox of their deliveries.
 *
 * An event is written in the transaction of the change it tells of, so
 * there is never one for a change that rolled back, and never a change
 * without its event: builds, test runs and releases get theirs from the
 * schema's triggers (ledger.c, v8), everything else from sql_event().
 * The schema's event_deliveries trigger gives each event a pending
 * delivery for every webhook of its pipeline that wants it; berthd
 * sends those (notify.h) and records each try here.
 */
#include "ledger.h"
#include "ledger-int.h"
#include "util.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- events ---- */

int
sql_event(struct ledger *db, const struct event_new *ev)
{
	char now[32];

	sql_now(now);
	return sql_run(db, sql_prep(db, "INSERT INTO events (pipeline_id, "
	    "app_id, kind, actor, message, created_at, version, commit_sha, "
	    "data) VALUES (CASE WHEN ?1 > 0 THEN ?1 ELSE (SELECT pipeline_id "
	    "FROM apps WHERE id = ?2) END, CASE WHEN ?2 > 0 THEN ?2 END, ?3, "
	    "?4, ?5, ?6, CASE WHEN ?7 > 0 THEN ?7 END, ?8, coalesce(?9, "
	    "'{}'))", "iissssdss", ev->pipeline_id, ev->app_id, ev->kind,
	    ev->actor, ev->message, now, ev->version, ev->commit, ev->data));
}

int
sql_event_json(struct ledger *db, const struct event_new *ev, json_t *data)
{
	struct event_new e = *ev;
	char *text = json_dumps(data, JSON_COMPACT);
	int rc;

	e.data = text;
	rc = sql_event(db, &e);
	free(text);
	json_decref(data);
	return rc;
}

int
ledger_event_add(struct ledger *db, const struct event_new *ev)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_event(db, ev) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

#define EVENT_COLS "e.id, e.kind, e.pipeline_id, p.name, e.app_id, a.name, " \
	"e.actor, e.version, e.commit_sha, e.message, e.data, e.created_at"
#define EVENT_FROM " FROM events e LEFT JOIN pipelines p ON p.id = " \
	"e.pipeline_id LEFT JOIN apps a ON a.id = e.app_id "

static void
fill_event(sqlite3_stmt *st, void *out)
{
	struct event *e = out;
	int64_t v;

	e->id = sqlite3_column_int64(st, 0);
	e->kind = sql_text(st, 1);
	e->pipeline_id = sqlite3_column_int64(st, 2);
	e->pipeline = sql_text(st, 3);
	e->app_id = sqlite3_column_int64(st, 4);
	e->app = sql_text(st, 5);
	e->actor = sql_text(st, 6);
	v = sqlite3_column_int64(st, 7);
	/* A version no release can have (a ledger changed by hand) is
	 * shown as none, never cut to another one's. */
	e->version = v >= 1 && v <= RELEASE_VERSION_MAX ? (int)v : 0;
	e->commit = sql_text(st, 8);
	e->message = sql_text(st, 9);
	e->data = sql_text(st, 10);
	e->created_at = sql_text(st, 11);
}

json_t *
event_json(const struct event *e)
{
	json_t *data = json_loads(e->data != NULL ? e->data : "{}", 0, NULL);

	return json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:o, "
	    "s:s?}", "id", (json_int_t)e->id, "kind", e->kind, "pipeline",
	    e->pipeline, "app", e->app, "actor", e->actor, "version",
	    e->version > 0 ? json_integer(e->version) : json_null(), "commit",
	    e->commit, "message", e->message, "data", data != NULL ? data :
	    json_object(), "created_at", e->created_at);
}

void
event_clear(struct event *e)
{
	free(e->kind);
	free(e->pipeline);
	free(e->app);
	free(e->actor);
	free(e->commit);
	free(e->message);
	free(e->data);
	free(e->created_at);
	memset(e, 0, sizeof(*e));
}

void
event_list_free(struct event *e, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		event_clear(&e[i]);
	free(e);
}

int
ledger_event_list(struct ledger *db, int64_t pipeline_id, int64_t app_id,
    int limit, struct event **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " EVENT_COLS EVENT_FROM
	    "WHERE e.pipeline_id = ?1 AND (?2 = 0 OR e.app_id = ?2) ORDER BY "
	    "e.id DESC LIMIT CASE WHEN ?3 > 0 THEN ?3 ELSE -1 END", "iid",
	    pipeline_id, app_id, limit), sizeof(**out), fill_event,
	    (void **)out, nr);
}

int
ledger_event_since(struct ledger *db, int64_t after, int limit,
    struct event **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " EVENT_COLS EVENT_FROM
	    "WHERE e.id > ? ORDER BY e.id LIMIT ?", "id", after, limit),
	    sizeof(**out), fill_event, (void **)out, nr);
}

int
ledger_event_last(struct ledger *db, int64_t *id)
{
	sqlite3_stmt *st = sql_prep(db, "SELECT COALESCE(MAX(id), 0) FROM "
	    "events", "");

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return sql_error(db, "read events");
	}
	*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int
ledger_event_get(struct ledger *db, int64_t id, struct event *out)
{
	int rc = sql_one(db, sql_prep(db, "SELECT " EVENT_COLS EVENT_FROM
	    "WHERE e.id = ?", "i", id), fill_event, out);

	if (rc == 1)
		berth_error("no event %lld; see: berth activity -p PIPELINE",
		    (long long)id);
	return rc;
}

/* ---- webhooks ---- */

#define WEBHOOK_COLS "w.id, w.pipeline_id, p.name, w.url, w.kind, " \
	"w.events, w.secret, w.created_at"
#define WEBHOOK_FROM " FROM webhooks w JOIN pipelines p ON p.id = " \
	"w.pipeline_id "

static void
fill_webhook(sqlite3_stmt *st, void *v)
{
	struct webhook *w = v;

	w->id = sqlite3_column_int64(st, 0);
	w->pipeline_id = sqlite3_column_int64(st, 1);
	w->pipeline = sql_text(st, 2);
	w->url = sql_text(st, 3);
	w->kind = sql_text(st, 4);
	w->events = sql_text(st, 5);
	w->secret = sql_text(st, 6);
	w->created_at = sql_text(st, 7);
}

void
webhook_clear(struct webhook *w)
{
	free(w->pipeline);
	free(w->url);
	free(w->kind);
	free(w->events);
	free(w->secret);
	free(w->created_at);
	memset(w, 0, sizeof(*w));
}

void
webhook_list_free(struct webhook *w, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		webhook_clear(&w[i]);
	free(w);
}

int
ledger_webhook_add(struct ledger *db, int64_t pipeline_id, const char *url,
    const char *kind, const char *events, const char *secret, int64_t *id)
{
	char now[32];

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "INSERT INTO webhooks (pipeline_id, url, "
	    "kind, events, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)",
	    "isssss", pipeline_id, url, kind, events != NULL ? events : "",
	    secret, now)) < 0) {
		sql_rollback(db);
		return -1;
	}
	*id = sqlite3_last_insert_rowid(db->db);
	return sql_commit(db);
}

int
ledger_webhook_list(struct ledger *db, int64_t pipeline_id,
    struct webhook **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " WEBHOOK_COLS WEBHOOK_FROM
	    "WHERE w.pipeline_id = ? AND w.removed_at IS NULL ORDER BY w.id",
	    "i", pipeline_id), sizeof(**out), fill_webhook, (void **)out, nr);
}

int
ledger_webhook_get(struct ledger *db, int64_t id, struct webhook *out)
{
	int rc = sql_one(db, sql_prep(db, "SELECT " WEBHOOK_COLS WEBHOOK_FROM
	    "WHERE w.id = ? AND w.removed_at IS NULL", "i", id), fill_webhook,
	    out);

	if (rc == 1)
		berth_error("no webhook %lld; see: berth webhooks -p PIPELINE",
		    (long long)id);
	return rc;
}

int
ledger_webhook_remove(struct ledger *db, int64_t id)
{
	char now[32];

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	/* Its history stays, its secret goes; what it had not sent yet is
	 * dropped. */
	if (sql_run(db, sql_prep(db, "UPDATE webhooks SET removed_at = ?, "
	    "secret = NULL WHERE id = ? AND removed_at IS NULL", "si", now,
	    id)) < 0)
		goto fail;
	if (sqlite3_changes(db->db) == 0) {
		sql_rollback(db);
		berth_error("no webhook %lld; see: berth webhooks -p PIPELINE",
		    (long long)id);
		return 1;
	}
	if (sql_run(db, sql_prep(db, "UPDATE deliveries SET status = 'failed', "
	    "error = 'webhook removed', finished_at = ? WHERE webhook_id = ? "
	    "AND status = 'pending'", "si", now, id)) < 0)
		goto fail;
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

/* ---- deliveries ---- */

#define DELIVERY_COLS "d.id, d.uuid, d.webhook_id, d.event_id, e.kind, " \
	"d.status, d.attempts, d.next_at, d.http_code, d.error, " \
	"d.latency_ms, d.created_at, d.finished_at, w.url"
#define DELIVERY_FROM " FROM deliveries d JOIN events e ON e.id = " \
	"d.event_id JOIN webhooks w ON w.id = d.webhook_id "

static void
fill_delivery(sqlite3_stmt *st, void *v)
{
	struct delivery *d = v;

	d->id = sqlite3_column_int64(st, 0);
	d->uuid = sql_text(st, 1);
	d->webhook_id = sqlite3_column_int64(st, 2);
	d->event_id = sqlite3_column_int64(st, 3);
	d->event_kind = sql_text(st, 4);
	d->status = sql_text(st, 5);
	d->attempts = sqlite3_column_int(st, 6);
	d->next_at = sql_text(st, 7);
	d->http_code = sqlite3_column_int(st, 8);
	d->error = sql_text(st, 9);
	d->latency_ms = sqlite3_column_int(st, 10);
	d->created_at = sql_text(st, 11);
	d->finished_at = sql_text(st, 12);
	d->url = sql_text(st, 13);
}

void
delivery_clear(struct delivery *d)
{
	free(d->uuid);
	free(d->event_kind);
	free(d->status);
	free(d->next_at);
	free(d->error);
	free(d->created_at);
	free(d->finished_at);
	free(d->url);
	memset(d, 0, sizeof(*d));
}

void
delivery_list_free(struct delivery *d, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		delivery_clear(&d[i]);
	free(d);
}

int
ledger_delivery_list(struct ledger *db, int64_t pipeline_id, int limit,
    struct delivery **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " DELIVERY_COLS
	    DELIVERY_FROM "WHERE w.pipeline_id = ?1 ORDER BY d.id DESC LIMIT "
	    "CASE WHEN ?2 > 0 THEN ?2 ELSE -1 END", "id", pipeline_id, limit),
	    sizeof(**out), fill_delivery, (void **)out, nr);
}

int
ledger_delivery_get(struct ledger *db, int64_t id, struct delivery *out)
{
	int rc = sql_one(db, sql_prep(db, "SELECT " DELIVERY_COLS
	    DELIVERY_FROM "WHERE d.id = ?", "i", id), fill_delivery, out);

	if (rc == 1)
		berth_error("no delivery %lld; see: berth webhooks:deliveries "
		    "-p PIPELINE", (long long)id);
	return rc;
}

int
ledger_delivery_due(struct ledger *db, const char *now, int per_webhook,
    int limit, struct delivery **out, size_t *nr)
{
	/* The first per_webhook of each webhook (deliveries_webhook_due):
	 * as cheap with a backlog of thousands as without. */
	return sql_collect(db, sql_prep(db, "SELECT " DELIVERY_COLS " FROM "
	    "webhooks w JOIN deliveries d ON d.id IN (SELECT x.id FROM "
	    "deliveries x WHERE x.webhook_id = w.id AND x.status = 'pending' "
	    "AND x.next_at <= ?1 ORDER BY x.next_at, x.id LIMIT ?2) JOIN "
	    "events e ON e.id = d.event_id WHERE w.removed_at IS NULL ORDER "
	    "BY d.next_at, d.id LIMIT ?3", "sdd", now, per_webhook, limit),
	    sizeof(**out), fill_delivery, (void **)out, nr);
}

int
ledger_delivery_next_due(struct ledger *db, char next[32])
{
	sqlite3_stmt *st = sql_prep(db, "SELECT MIN((SELECT MIN(d.next_at) "
	    "FROM deliveries d WHERE d.webhook_id = w.id AND d.status = "
	    "'pending')) FROM webhooks w WHERE w.removed_at IS NULL", "");
	const unsigned char *t;
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (t != NULL)
		snprintf(next, 32, "%s", (const char *)t);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return sql_error(db, "read deliveries");
	return t != NULL ? 0 : 1;
}

int
ledger_delivery_record(struct ledger *db, const struct delivery_try *t)
{
	return ledger_delivery_record_all(db, t, 1);
}

int
ledger_delivery_record_all(struct ledger *db, const struct delivery_try *t,
    size_t n)
{
	sqlite3_stmt *st;
	char now[32];
	size_t i;
	int rc = SQLITE_DONE;

	if (n == 0)
		return 0;
	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	/* One statement for them all: a batch is one parse, not n. */
	st = sql_prep(db, "UPDATE deliveries SET status = ?1, attempts = "
	    "attempts + 1, next_at = coalesce(?2, next_at), http_code = ?3, "
	    "error = ?4, latency_ms = ?5, finished_at = CASE WHEN ?1 = "
	    "'pending' THEN NULL ELSE ?6 END WHERE id = ?7 AND status = "
	    "'pending'", "");
	for (i = 0; st != NULL && i < n && rc == SQLITE_DONE; i++) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_text(st, 1, t[i].status, -1, SQLITE_STATIC);
		if (t[i].next_at != NULL)
			sqlite3_bind_text(st, 2, t[i].next_at, -1,
			    SQLITE_STATIC);
		sqlite3_bind_int(st, 3, t[i].http_code);
		if (t[i].error != NULL)
			sqlite3_bind_text(st, 4, t[i].error, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, t[i].latency_ms);
		sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, t[i].id);
		rc = sqlite3_step(st);
	}
	if (st == NULL || rc != SQLITE_DONE) {
		if (st != NULL)
			sql_error(db, "write");
		sqlite3_finalize(st);
		sql_rollback(db);
		return -1;
	}
	sqlite3_finalize(st);
	return sql_commit(db);
}

int
ledger_delivery_redeliver(struct ledger *db, int64_t id)
{
	char now[32];

	sql_now(now);
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, sql_prep(db, "UPDATE deliveries SET status = 'pending', "
	    "attempts = 0, next_at = ?, finished_at = NULL WHERE id = ? AND "
	    "status != 'pending' AND webhook_id IN (SELECT id FROM webhooks "
	    "WHERE removed_at IS NULL)", "si", now, id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	if (sqlite3_changes(db->db) == 0) {
		sql_rollback(db);
		berth_error("delivery %lld is pending already, or its webhook is "
		    "gone; see: berth webhooks:deliveries -p PIPELINE",
		    (long long)id);
		return 1;
	}
	return sql_commit(db);
}
