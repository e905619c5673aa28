/*
 * ledger-int.h - what the ledger*.c files share, and nothing outside
 * them may include: the connection and the statement helpers. Every
 * write runs in sql_begin() (BEGIN IMMEDIATE) ... sql_commit().
 */
#ifndef BERTH_LEDGER_INT_H
#define BERTH_LEDGER_INT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

struct ledger {
	sqlite3 *db;
	char *path;		/* the file, for messages and reopening */
	int full;		/* opened read-only: its disk was full */
};

/*
 * "no WHAT named 'NAME'; see: berth SEE" as berth_error(), the name
 * quoted (control bytes escaped: it is what a user typed, maybe '').
 * Returns -1.
 */
int sql_no_such(const char *what, const char *name, const char *see);
/*
 * "ledger: what: sqlite's message" as berth_error(); returns -1. A full
 * disk says "disk full" and a read-only file "is read-only", each with
 * the file and what to do.
 */
int sql_error(struct ledger *db, const char *what);
/* Run sql (no rows, no parameters); -1 with berth_error() set. */
int sql_exec(struct ledger *db, const char *sql);
int sql_begin(struct ledger *db);
/* COMMIT; when it fails the transaction is rolled back, not left open. */
int sql_commit(struct ledger *db);
void sql_rollback(struct ledger *db);
/*
 * Prepare sql and bind arguments described by types: 'i' int64, 'd' int,
 * 's' string (NULL binds NULL). NULL with berth_error() on failure.
 */
sqlite3_stmt *sql_prep(struct ledger *db, const char *sql,
    const char *types, ...);
/* Run a statement that returns no rows; finalizes it. */
int sql_run(struct ledger *db, sqlite3_stmt *st);
/* Column 0 of the first row of st as an int, -1 when none; finalizes. */
int sql_int(sqlite3_stmt *st);
/* Column i as a new string, NULL for SQL NULL. */
char *sql_text(sqlite3_stmt *st, int i);
/* The time now, as the ledger stores it. */
void sql_now(char buf[32]);
/*
 * The first row of st into out with fill(): 0; 1 when there is none
 * (no error set: the caller names what is missing); -1. Finalizes st.
 */
int sql_one(struct ledger *db, sqlite3_stmt *st,
    void (*fill)(sqlite3_stmt *, void *), void *out);
/*
 * Collect every row of st into a growing array of elem_size elements,
 * filling each with fill(). Finalizes st.
 */
int sql_collect(struct ledger *db, sqlite3_stmt *st, size_t elem_size,
    void (*fill)(sqlite3_stmt *, void *), void **out, size_t *nr);
/*
 * Record ev inside the caller's transaction (ledger-events.c): the
 * event, and a delivery for each webhook that wants it.
 */
int sql_event(struct ledger *db, const struct event_new *ev);
/* The same with data as JSON (ev->data ignored); steals data. */
int sql_event_json(struct ledger *db, const struct event_new *ev,
    json_t *data);
/* A (key, value) row into a struct kv, for sql_collect(). */
void sql_fill_kv(sqlite3_stmt *st, void *kv);
/*
 * Insert app name of pipeline_id at stage (branch may be NULL) inside
 * the caller's transaction, after checking the name is free; its id.
 */
int sql_app_insert(struct ledger *db, const char *name, int64_t pipeline_id,
    const char *stage, const char *branch, int64_t *id);

#endif
