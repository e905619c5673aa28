/*
 * ledger-access.c - the ledger's users, their SSH keys, their roles on
 * pipelines (grants) and their API tokens. What a role allows is
 * access.c's business; this file only keeps who has which.
 *
 * One rule is kept here, inside each write's transaction: a pipeline
 * whose members had an admin is never left with members and no admin,
 * and the last server admin is not removed while other users remain.
 */
#include "ledger.h"
#include "ledger-int.h"
#include "util.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- users ---- */

#define USER_COLS "u.id, u.name, u.admin, u.created_at, " \
	"(SELECT COUNT(*) FROM keys k WHERE k.user_id = u.id)"

static void
fill_user(sqlite3_stmt *st, void *v)
{
	struct user *u = v;

	u->id = sqlite3_column_int64(st, 0);
	u->name = sql_text(st, 1);
	u->admin = sqlite3_column_int(st, 2);
	u->created_at = sql_text(st, 3);
	u->nkeys = sqlite3_column_int(st, 4);
}

void
user_clear(struct user *u)
{
	free(u->name);
	free(u->created_at);
	memset(u, 0, sizeof(*u));
}

void
user_list_free(struct user *u, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		user_clear(&u[i]);
	free(u);
}

int
ledger_user_add(struct ledger *db, const char *name, int admin)
{
	char now[32];

	if (sql_begin(db) < 0)
		return -1;
	if (sql_int(sql_prep(db, "SELECT 1 FROM users WHERE name = ?", "s",
	    name)) == 1) {
		sql_rollback(db);
		return berth_error("there is a user %s already; see: berth "
		    "users", name);
	}
	sql_now(now);
	if (sql_run(db, sql_prep(db, "INSERT INTO users (name, admin, "
	    "created_at) VALUES (?, ?, ?)", "sds", name, admin ? 1 : 0,
	    now)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_user_get(struct ledger *db, const char *name, struct user *out)
{
	int rc = sql_one(db, sql_prep(db, "SELECT " USER_COLS " FROM users u "
	    "WHERE u.name = ?", "s", name), fill_user, out);

	if (rc == 1)
		sql_no_such("user", name, "users");
	return rc;
}

int
ledger_user_list(struct ledger *db, struct user **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " USER_COLS " FROM users "
	    "u ORDER BY u.name", ""), sizeof(**out), fill_user, (void **)out,
	    nr);
}

/* Inside a transaction: the id of user name, or -1 after saying so. */
static int64_t
user_id(struct ledger *db, const char *name)
{
	sqlite3_stmt *st = sql_prep(db, "SELECT id FROM users WHERE name = ?",
	    "s", name);
	int64_t id = -1;
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return id;
	if (rc != SQLITE_DONE)
		return sql_error(db, "read user");
	sql_no_such("user", name, "users");
	return -1;
}

int
ledger_user_remove(struct ledger *db, const char *name)
{
	int64_t id;

	if (sql_begin(db) < 0)
		return -1;
	if ((id = user_id(db, name)) < 0)
		goto fail;
	if (sql_int(sql_prep(db, "SELECT admin FROM users WHERE id = ?", "i",
	    id)) == 1 && sql_int(sql_prep(db, "SELECT COUNT(*) FROM users "
	    "WHERE admin = 1", "")) == 1 && sql_int(sql_prep(db, "SELECT "
	    "COUNT(*) FROM users", "")) > 1) {
		berth_error("%s is the last server admin and other users "
		    "remain; make another one first: berth users:add NAME "
		    "--admin", name);
		goto fail;
	}
	if (sql_run(db, sql_prep(db, "DELETE FROM users WHERE id = ?", "i",
	    id)) < 0)
		goto fail;
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

/* ---- SSH keys ---- */

#define KEY_COLS "k.id, u.name, k.fingerprint, k.key, k.label, k.created_at"
#define KEY_FROM " FROM keys k JOIN users u ON u.id = k.user_id "

static void
fill_key(sqlite3_stmt *st, void *v)
{
	struct user_key *k = v;

	k->id = sqlite3_column_int64(st, 0);
	k->user = sql_text(st, 1);
	k->fingerprint = sql_text(st, 2);
	k->key = sql_text(st, 3);
	k->label = sql_text(st, 4);
	k->created_at = sql_text(st, 5);
}

void
user_key_clear(struct user_key *k)
{
	free(k->user);
	free(k->fingerprint);
	free(k->key);
	free(k->label);
	free(k->created_at);
	memset(k, 0, sizeof(*k));
}

void
user_key_list_free(struct user_key *k, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		user_key_clear(&k[i]);
	free(k);
}

int
ledger_key_add(struct ledger *db, const char *user, const char *fingerprint,
    const char *key, const char *label)
{
	struct user_key have;
	char now[32];
	int64_t id;
	int rc;

	if (sql_begin(db) < 0)
		return -1;
	if ((id = user_id(db, user)) < 0)
		goto fail;
	rc = sql_one(db, sql_prep(db, "SELECT " KEY_COLS KEY_FROM "WHERE "
	    "k.fingerprint = ? OR k.key = ?", "ss", fingerprint, key),
	    fill_key, &have);
	if (rc < 0)
		goto fail;
	if (rc == 0) {
		berth_error("key %s is %s's already; see: berth keys -u %s",
		    fingerprint, have.user, have.user);
		user_key_clear(&have);
		goto fail;
	}
	sql_now(now);
	if (sql_run(db, sql_prep(db, "INSERT INTO keys (user_id, fingerprint, "
	    "key, label, created_at) VALUES (?, ?, ?, ?, ?)", "issss", id,
	    fingerprint, key, label, now)) < 0)
		goto fail;
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

int
ledger_key_list(struct ledger *db, const char *user, struct user_key **out,
    size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " KEY_COLS KEY_FROM
	    "WHERE ?1 IS NULL OR u.name = ?1 ORDER BY u.name, k.id", "s",
	    user), sizeof(**out), fill_key, (void **)out, nr);
}

int
ledger_key_get(struct ledger *db, const char *fingerprint,
    struct user_key *out)
{
	int rc = sql_one(db, sql_prep(db, "SELECT " KEY_COLS KEY_FROM "WHERE "
	    "k.fingerprint = ?", "s", fingerprint), fill_key, out);

	if (rc == 1)
		berth_error("no key %s; see: berth keys -u USER", fingerprint);
	return rc;
}

int
ledger_key_remove(struct ledger *db, const char *fingerprint)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_int(sql_prep(db, "SELECT 1 FROM keys WHERE fingerprint = ?",
	    "s", fingerprint)) != 1) {
		sql_rollback(db);
		berth_error("no key %s; see: berth keys -u USER", fingerprint);
		return 1;
	}
	if (sql_run(db, sql_prep(db, "DELETE FROM keys WHERE fingerprint = ?",
	    "s", fingerprint)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

/* ---- grants ---- */

/* Inside a transaction: the id of pipeline name, or -1 after saying so. */
static int64_t
pipeline_id(struct ledger *db, const char *name)
{
	int id = sql_int(sql_prep(db, "SELECT id FROM pipelines WHERE name = ?",
	    "s", name));

	if (id < 0)
		sql_no_such("pipeline", name, "pipelines");
	return id;
}

/*
 * Inside the transaction that changed pipeline pid's grants: refuse (-1)
 * when its members had an admin (had_admin) and now have none.
 */
static int
admin_kept(struct ledger *db, int64_t pid, int had_admin, const char *user,
    const char *pipeline)
{
	if (!had_admin || sql_int(sql_prep(db, "SELECT COUNT(*) FROM grants "
	    "WHERE pipeline_id = ? AND role = 'admin'", "i", pid)) > 0 ||
	    sql_int(sql_prep(db, "SELECT COUNT(*) FROM grants WHERE "
	    "pipeline_id = ?", "i", pid)) == 0)
		return 0;
	return berth_error("%s is the last admin of pipeline %s; make another "
	    "member admin first: berth access:grant USER -p %s --role admin",
	    user, pipeline, pipeline);
}

/* access.changed, in the transaction of the change. */
static int
access_event(struct ledger *db, int64_t pid, const char *user,
    const char *role, const char *actor)
{
	char *msg = role != NULL ? xasprintf("Gave %s the role %s", user,
	    role) : xasprintf("Took %s's role away", user);
	struct event_new ev = {
		.kind = "access.changed",
		.pipeline_id = pid,
		.actor = actor,
		.message = msg,
	};
	int rc = sql_event_json(db, &ev, json_pack("{s:s, s:s?}", "user",
	    user, "role", role));

	free(msg);
	return rc;
}

/* role NULL: revoke. actor: who does it. */
static int
grant_change(struct ledger *db, const char *user, const char *pipeline,
    const char *role, const char *actor)
{
	int64_t uid, pid;
	int had_admin;
	char now[32];

	if (sql_begin(db) < 0)
		return -1;
	if ((uid = user_id(db, user)) < 0 || (pid = pipeline_id(db,
	    pipeline)) < 0)
		goto fail;
	had_admin = sql_int(sql_prep(db, "SELECT COUNT(*) FROM grants WHERE "
	    "pipeline_id = ? AND role = 'admin'", "i", pid)) > 0;
	if (role == NULL) {
		if (sql_int(sql_prep(db, "SELECT 1 FROM grants WHERE user_id = "
		    "? AND pipeline_id = ?", "ii", uid, pid)) != 1) {
			sql_rollback(db);
			berth_error("%s has no role on pipeline %s; see: berth "
			    "access -p %s", user, pipeline, pipeline);
			return 1;
		}
		if (sql_run(db, sql_prep(db, "DELETE FROM grants WHERE "
		    "user_id = ? AND pipeline_id = ?", "ii", uid, pid)) < 0)
			goto fail;
	} else {
		sql_now(now);
		if (sql_run(db, sql_prep(db, "INSERT OR REPLACE INTO grants "
		    "(user_id, pipeline_id, role, granted_by, created_at) "
		    "VALUES (?, ?, ?, ?, ?)", "iisss", uid, pid, role,
		    actor, now)) < 0)
			goto fail;
	}
	if (admin_kept(db, pid, had_admin, user, pipeline) < 0 ||
	    access_event(db, pid, user, role, actor) < 0)
		goto fail;
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

int
ledger_grant_set(struct ledger *db, const char *user, const char *pipeline,
    const char *role, const char *granted_by)
{
	return grant_change(db, user, pipeline, role, granted_by);
}

int
ledger_grant_revoke(struct ledger *db, const char *user,
    const char *pipeline, const char *actor)
{
	return grant_change(db, user, pipeline, NULL, actor);
}

static void
fill_role(sqlite3_stmt *st, void *v)
{
	const unsigned char *t = sqlite3_column_text(st, 0);

	snprintf(v, 16, "%s", t != NULL ? (const char *)t : "");
}

int
ledger_grant_get(struct ledger *db, int64_t user_id, int64_t pipeline_id,
    char role[16])
{
	return sql_one(db, sql_prep(db, "SELECT role FROM grants WHERE "
	    "user_id = ? AND pipeline_id = ?", "ii", user_id, pipeline_id),
	    fill_role, role);
}

static void
fill_grant(sqlite3_stmt *st, void *v)
{
	struct grant *g = v;

	g->user = sql_text(st, 0);
	g->pipeline = sql_text(st, 1);
	g->role = sql_text(st, 2);
	g->granted_by = sql_text(st, 3);
	g->created_at = sql_text(st, 4);
}

void
grant_list_free(struct grant *g, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		free(g[i].user);
		free(g[i].pipeline);
		free(g[i].role);
		free(g[i].granted_by);
		free(g[i].created_at);
	}
	free(g);
}

int
ledger_grant_list(struct ledger *db, const char *pipeline, const char *user,
    struct grant **out, size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT u.name, p.name, g.role, "
	    "g.granted_by, g.created_at FROM grants g JOIN users u ON u.id = "
	    "g.user_id JOIN pipelines p ON p.id = g.pipeline_id WHERE (?1 IS "
	    "NULL OR p.name = ?1) AND (?2 IS NULL OR u.name = ?2) ORDER BY "
	    "p.name, u.name", "ss", pipeline, user), sizeof(**out),
	    fill_grant, (void **)out, nr);
}

/* ---- API tokens ---- */

#define TOKEN_COLS "t.id, u.name, t.description, t.created_at, " \
	"t.expires_at, t.last_used_at"
#define TOKEN_FROM " FROM tokens t JOIN users u ON u.id = t.user_id "

static void
fill_token(sqlite3_stmt *st, void *v)
{
	struct token *t = v;

	t->id = sqlite3_column_int64(st, 0);
	t->user = sql_text(st, 1);
	t->description = sql_text(st, 2);
	t->created_at = sql_text(st, 3);
	t->expires_at = sql_text(st, 4);
	t->last_used_at = sql_text(st, 5);
}

void
token_clear(struct token *t)
{
	free(t->user);
	free(t->description);
	free(t->created_at);
	free(t->expires_at);
	free(t->last_used_at);
	memset(t, 0, sizeof(*t));
}

void
token_list_free(struct token *t, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		token_clear(&t[i]);
	free(t);
}

int
ledger_token_create(struct ledger *db, const char *user, const char *hash,
    const char *description, const char *expires_at, int64_t *id)
{
	char now[32];
	int64_t uid;

	if (sql_begin(db) < 0)
		return -1;
	if ((uid = user_id(db, user)) < 0)
		goto fail;
	sql_now(now);
	if (sql_run(db, sql_prep(db, "INSERT INTO tokens (user_id, hash, "
	    "description, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
	    "issss", uid, hash, description, now, expires_at)) < 0)
		goto fail;
	*id = sqlite3_last_insert_rowid(db->db);
	return sql_commit(db);
fail:
	sql_rollback(db);
	return -1;
}

int
ledger_token_list(struct ledger *db, const char *user, struct token **out,
    size_t *nr)
{
	return sql_collect(db, sql_prep(db, "SELECT " TOKEN_COLS TOKEN_FROM
	    "WHERE ?1 IS NULL OR u.name = ?1 ORDER BY t.id", "s", user),
	    sizeof(**out), fill_token, (void **)out, nr);
}

int
ledger_token_revoke(struct ledger *db, int64_t id, const char *user)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_int(sql_prep(db, "SELECT 1" TOKEN_FROM "WHERE t.id = ?1 AND "
	    "(?2 IS NULL OR u.name = ?2)", "is", id, user)) != 1) {
		sql_rollback(db);
		berth_error("no token %lld%s%s; see: berth tokens",
		    (long long)id, user != NULL ? " of " : "",
		    user != NULL ? user : "");
		return 1;
	}
	if (sql_run(db, sql_prep(db, "DELETE FROM tokens WHERE id = ?", "i",
	    id)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_token_find(struct ledger *db, const char *hash, const char *now,
    struct token *out)
{
	int rc;

	if (sql_begin(db) < 0)
		return -1;
	rc = sql_one(db, sql_prep(db, "SELECT " TOKEN_COLS TOKEN_FROM "WHERE "
	    "t.hash = ? AND (t.expires_at IS NULL OR t.expires_at > ?)", "ss",
	    hash, now), fill_token, out);
	if (rc != 0) {
		sql_rollback(db);
		if (rc == 1)
			berth_error("no such token, or it expired or was "
			    "revoked; make one with: berth tokens:create");
		return rc;
	}
	if (sql_run(db, sql_prep(db, "UPDATE tokens SET last_used_at = ? "
	    "WHERE id = ?", "si", now, out->id)) < 0 || sql_commit(db) < 0) {
		sql_rollback(db);
		token_clear(out);
		return -1;
	}
	return 0;
}

/* ---- settings and Slack ---- */

static void
fill_text(sqlite3_stmt *st, void *v)
{
	*(char **)v = sql_text(st, 0);
}

int
ledger_setting_get(struct ledger *db, const char *key, char **value)
{
	*value = NULL;
	return sql_one(db, sql_prep(db, "SELECT value FROM settings WHERE "
	    "key = ?", "s", key), fill_text, value);
}

int
ledger_setting_set(struct ledger *db, const char *key, const char *value)
{
	if (sql_begin(db) < 0)
		return -1;
	if (sql_run(db, value != NULL ? sql_prep(db, "INSERT OR REPLACE INTO "
	    "settings (key, value) VALUES (?, ?)", "ss", key, value) :
	    sql_prep(db, "DELETE FROM settings WHERE key = ?", "s", key)) <
	    0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_slack_code_add(struct ledger *db, const char *code_hash,
    const char *slack_user, const char *expires_at)
{
	if (sql_begin(db) < 0)
		return -1;
	/* One live code per Slack user: a new /berth login replaces it. */
	if (sql_run(db, sql_prep(db, "DELETE FROM slack_codes WHERE "
	    "slack_user = ? OR expires_at < strftime('%Y-%m-%dT%H:%M:%SZ', "
	    "'now')", "s", slack_user)) < 0 || sql_run(db, sql_prep(db,
	    "INSERT INTO slack_codes (code_hash, slack_user, expires_at) "
	    "VALUES (?, ?, ?)", "sss", code_hash, slack_user,
	    expires_at)) < 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db);
}

int
ledger_slack_link(struct ledger *db, const char *code_hash, const char *now,
    const char *user, char **slack_user)
{
	int64_t uid;
	int rc;

	*slack_user = NULL;
	if (sql_begin(db) < 0)
		return -1;
	if ((uid = user_id(db, user)) < 0)
		goto fail;
	rc = sql_one(db, sql_prep(db, "SELECT slack_user FROM slack_codes "
	    "WHERE code_hash = ? AND expires_at > ?", "ss", code_hash, now),
	    fill_text, slack_user);
	if (rc != 0) {
		sql_rollback(db);
		if (rc == 1)
			berth_error("no such code, or it expired: run /berth "
			    "login in Slack again for a new one");
		return rc;
	}
	if (sql_run(db, sql_prep(db, "DELETE FROM slack_codes WHERE code_hash "
	    "= ?", "s", code_hash)) < 0 || sql_run(db, sql_prep(db,
	    "INSERT OR REPLACE INTO slack_links (slack_user, user_id, "
	    "linked_at) VALUES (?, ?, ?)", "sis", *slack_user, uid, now)) < 0)
		goto fail;
	return sql_commit(db);
fail:
	sql_rollback(db);
	free(*slack_user);
	*slack_user = NULL;
	return -1;
}

int
ledger_slack_user(struct ledger *db, const char *slack_user,
    struct user *out)
{
	return sql_one(db, sql_prep(db, "SELECT " USER_COLS " FROM users u "
	    "JOIN slack_links l ON l.user_id = u.id WHERE l.slack_user = ?",
	    "s", slack_user), fill_user, out);
}

int
ledger_slack_unlink(struct ledger *db, const char *user)
{
	int64_t uid;
	int n;

	if (sql_begin(db) < 0)
		return -1;
	if ((uid = user_id(db, user)) < 0 || sql_run(db, sql_prep(db,
	    "DELETE FROM slack_links WHERE user_id = ?", "i", uid)) < 0) {
		sql_rollback(db);
		return -1;
	}
	n = sqlite3_changes(db->db);
	return sql_commit(db) < 0 ? -1 : n;
}
