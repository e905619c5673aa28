/*
 * test-ledger.c - the SQLite ledger against its contract in ledger.h:
 * the file it makes (0600, WAL, schema version), pipelines and apps
 * (atomic creation, live names), config vars and the releases they
 * make, release numbering and lookups, builds, slugs, buildpack order,
 * the kvlist helpers, and versions under four concurrent writers.
 *
 * Each test gets a fresh ledger in its own temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "util.h"

#define SLUG1 "0123456789abcdef01234567"
#define SLUG2 "fedcba9876543210fedcba98"
#define SHA1 "1111111111111111111111111111111111111111"
#define SHA2 "2222222222222222222222222222222222222222"

struct fixture {
	char *dir;
	char *path;		/* dir/ledger.db */
	struct ledger *db;
};

static int
setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	fx->dir = xasprintf("%s/berth-test-ledger-XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL) {
		free(fx->dir);
		free(fx);
		return -1;
	}
	fx->path = path_join(fx->dir, "ledger.db");
	berth_clear_error();
	if (ledger_open(fx->path, &fx->db) != 0) {
		fprintf(stderr, "# ledger_open: %s\n", berth_last_error());
		rm_rf(fx->dir);
		free(fx->path);
		free(fx->dir);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	ledger_close(fx->db);
	rm_rf(fx->dir);
	free(fx->path);
	free(fx->dir);
	free(fx);
	return 0;
}

/* The last error must contain needle. */
static void
error_mentions(const char *needle)
{
	if (strstr(berth_last_error(), needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"",
		    berth_last_error(), needle);
}

/* Create a pipeline without apps; returns its id. */
static int64_t
make_pipeline(struct ledger *db, const char *name)
{
	int64_t id = 0;

	if (ledger_pipeline_create(db, name, "main", NULL, 0, &id) != 0)
		fail_msg("pipeline %s: %s", name, berth_last_error());
	assert_true(id > 0);
	return id;
}

static int64_t
make_app(struct ledger *db, const char *name, int64_t pipeline_id,
    const char *stage, const char *branch)
{
	int64_t id = 0;

	if (ledger_app_create(db, name, pipeline_id, stage, branch, &id) != 0)
		fail_msg("app %s: %s", name, berth_last_error());
	assert_true(id > 0);
	return id;
}

static void
make_slug(struct ledger *db, const char *id, const char *sha)
{
	struct slug s = { (char *)id, (char *)sha,
	    (char *)"{\"web\":\"./server\"}", 4096, (char *)"go", NULL };

	if (ledger_slug_create(db, &s) != 0)
		fail_msg("slug %s: %s", id, berth_last_error());
}

/* Record a release; returns its version. */
static int
make_release(struct ledger *db, int64_t app_id, const char *slug_id,
    const char *kind, const char *status, const char *desc)
{
	struct release_new rn = {
		.app_id = app_id,
		.slug_id = slug_id,
		.kind = kind,
		.status = status,
		.actor = "alice",
		.commit = slug_id != NULL ? SHA1 : NULL,
		.description = desc,
	};
	struct release r;
	int v;

	memset(&r, 0, sizeof(r));
	if (ledger_release_create(db, &rn, &r) != 0)
		fail_msg("release: %s", berth_last_error());
	v = r.version;
	release_clear(&r);
	return v;
}

/* Run a one-value query on a second, plain sqlite3 connection. */
static char *
sql_text(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char *ret = NULL;

	assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) != NULL)
		ret = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return ret;
}

static void
sql_exec(const char *path, const char *sql)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* ---- open ---- */

static void
test_open_file_mode_wal_schema(void **state)
{
	struct fixture *fx = *state;
	struct stat st;
	char *wal = xasprintf("%s-wal", fx->path), *s;

	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(ledger_schema_version(fx->db), LEDGER_SCHEMA_VERSION);

	/* A write goes through the WAL file, which inherits the mode. */
	make_pipeline(fx->db, "shop");
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	s = sql_text(fx->path, "PRAGMA journal_mode");
	assert_non_null(s);
	assert_string_equal(s, "wal");
	free(s);
	s = sql_text(fx->path, "PRAGMA user_version");
	assert_non_null(s);
	assert_int_equal(atoi(s), LEDGER_SCHEMA_VERSION);
	free(s);
	free(wal);
}

static void
test_open_mode_ignores_umask(void **state)
{
	struct fixture *fx = *state;
	struct ledger *db2 = NULL;
	char *path = path_join(fx->dir, "other.db");
	struct stat st;
	mode_t old = umask(0);

	/* Even with umask 0 the file is private. */
	assert_int_equal(ledger_open(path, &db2), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	ledger_close(db2);
	free(path);
}

static void
test_open_foreign_keys_on(void **state)
{
	struct fixture *fx = *state;
	int64_t id = 0;

	/* No pipeline 4242: the foreign key refuses the app. */
	assert_int_equal(ledger_app_create(fx->db, "orphan", 4242,
	    "staging", NULL, &id), -1);
}

static void
test_reopen_idempotent(void **state)
{
	struct fixture *fx = *state;
	struct pipeline p;
	int64_t pid;
	int i;

	pid = make_pipeline(fx->db, "shop");
	make_app(fx->db, "shop-staging", pid, "staging", "main");
	for (i = 0; i < 3; i++) {
		ledger_close(fx->db);
		fx->db = NULL;
		berth_clear_error();
		if (ledger_open(fx->path, &fx->db) != 0)
			fail_msg("reopen %d: %s", i, berth_last_error());
		assert_int_equal(ledger_schema_version(fx->db),
		    LEDGER_SCHEMA_VERSION);
	}
	memset(&p, 0, sizeof(p));
	assert_int_equal(ledger_pipeline_get(fx->db, "shop", &p), 0);
	assert_int_equal(p.id, pid);
	pipeline_clear(&p);

	/* A second connection open at the same time is fine too. */
	{
		struct ledger *db2 = NULL;
		struct app a;

		assert_int_equal(ledger_open(fx->path, &db2), 0);
		memset(&a, 0, sizeof(a));
		assert_int_equal(ledger_app_get(db2, "shop-staging", &a), 0);
		assert_string_equal(a.pipeline, "shop");
		app_clear(&a);
		ledger_close(db2);
	}
}

static void
test_open_newer_schema_refused(void **state)
{
	struct fixture *fx = *state;
	struct ledger *db2 = NULL;

	sql_exec(fx->path, "PRAGMA user_version = 99");
	berth_clear_error();
	assert_int_equal(ledger_open(fx->path, &db2), -1);
	assert_null(db2);
	error_mentions("99");
	error_mentions("upgrade berth");
}

static void
test_open_bad_path(void **state)
{
	struct fixture *fx = *state;
	struct ledger *db2 = NULL;
	char *path = xasprintf("%s/no/such/dir/ledger.db", fx->dir);

	berth_clear_error();
	assert_int_equal(ledger_open(path, &db2), -1);
	assert_null(db2);
	error_mentions(path);
	free(path);
}

/* ---- pipelines ---- */

static void
test_pipeline_create_get_list(void **state)
{
	struct fixture *fx = *state;
	struct pipeline p, *list = NULL;
	size_t nr = 0;
	int64_t id = 0, id2;

	assert_int_equal(ledger_pipeline_create(fx->db, "shop", "trunk",
	    NULL, 0, &id), 0);
	assert_true(id > 0);
	id2 = make_pipeline(fx->db, "blog");
	assert_true(id2 != id);

	memset(&p, 0, sizeof(p));
	assert_int_equal(ledger_pipeline_get(fx->db, "shop", &p), 0);
	assert_int_equal(p.id, id);
	assert_string_equal(p.name, "shop");
	assert_string_equal(p.deploy_branch, "trunk");
	assert_non_null(p.created_at);
	assert_int_equal(strlen(p.created_at), 20);
	pipeline_clear(&p);

	assert_int_equal(ledger_pipeline_get_by_id(fx->db, id2, &p), 0);
	assert_string_equal(p.name, "blog");
	pipeline_clear(&p);

	assert_int_equal(ledger_pipeline_list(fx->db, &list, &nr), 0);
	assert_int_equal(nr, 2);
	assert_string_equal(list[0].name, "blog");
	assert_string_equal(list[1].name, "shop");
	pipeline_list_free(list, nr);
}

static void
test_pipeline_duplicate_and_missing(void **state)
{
	struct fixture *fx = *state;
	struct pipeline p, *list = NULL;
	size_t nr = 0;
	int64_t id = 0;

	make_pipeline(fx->db, "shop");
	berth_clear_error();
	assert_int_equal(ledger_pipeline_create(fx->db, "shop", "main", NULL,
	    0, &id), -1);
	error_mentions("shop");
	error_mentions("already exists");
	assert_int_equal(ledger_pipeline_list(fx->db, &list, &nr), 0);
	assert_int_equal(nr, 1);
	pipeline_list_free(list, nr);

	/* The failed create left no transaction open: writes still work. */
	make_pipeline(fx->db, "blog");

	memset(&p, 0, sizeof(p));
	berth_clear_error();
	assert_int_equal(ledger_pipeline_get(fx->db, "nope", &p), 1);
	assert_null(p.name);
	error_mentions("no pipeline named 'nope'");
	error_mentions("berth pipelines");

	berth_clear_error();
	assert_int_equal(ledger_pipeline_get_by_id(fx->db, 4242, &p), 1);
	error_mentions("4242");

	/* Names are bound, never spliced into SQL. */
	assert_int_equal(ledger_pipeline_get(fx->db, "x' OR '1'='1", &p), 1);
}

static void
test_pipeline_create_with_apps(void **state)
{
	struct fixture *fx = *state;
	const struct app_new apps[] = {
		{ "shop-staging", "staging", "main" },
		{ "shop", "production", NULL },
	};
	struct app a, *list = NULL;
	size_t nr = 0;
	int64_t id = 0;

	assert_int_equal(ledger_pipeline_create(fx->db, "shop", "main", apps,
	    2, &id), 0);
	assert_int_equal(ledger_app_list(fx->db, id, &list, &nr), 0);
	assert_int_equal(nr, 2);
	assert_string_equal(list[0].name, "shop-staging");
	assert_string_equal(list[1].name, "shop");
	app_list_free(list, nr);

	memset(&a, 0, sizeof(a));
	assert_int_equal(ledger_app_get(fx->db, "shop", &a), 0);
	assert_int_equal(a.pipeline_id, id);
	assert_null(a.branch);
	app_clear(&a);
}

static void
test_pipeline_create_atomic(void **state)
{
	struct fixture *fx = *state;
	const struct app_new clash[] = {
		{ "shop-staging", "staging", "main" },
		{ "taken", "production", NULL },
	};
	const struct app_new twice[] = {
		{ "dup-app", "staging", "main" },
		{ "dup-app", "production", NULL },
	};
	const struct app_new badstage[] = {
		{ "bad-staging", "staging", "main" },
		{ "bad", "qa", NULL },
	};
	struct pipeline p, *plist = NULL;
	struct app a, *list = NULL;
	size_t nr = 0;
	int64_t other, id = 0;

	other = make_pipeline(fx->db, "other");
	make_app(fx->db, "taken", other, "production", NULL);

	berth_clear_error();
	assert_int_equal(ledger_pipeline_create(fx->db, "shop", "main", clash,
	    2, &id), -1);
	error_mentions("taken");
	memset(&p, 0, sizeof(p));
	memset(&a, 0, sizeof(a));
	assert_int_equal(ledger_pipeline_get(fx->db, "shop", &p), 1);
	assert_int_equal(ledger_app_get(fx->db, "shop-staging", &a), 1);

	assert_int_equal(ledger_pipeline_create(fx->db, "dup", "main", twice,
	    2, &id), -1);
	error_mentions("dup-app");
	assert_int_equal(ledger_pipeline_get(fx->db, "dup", &p), 1);
	assert_int_equal(ledger_app_get(fx->db, "dup-app", &a), 1);

	assert_int_equal(ledger_pipeline_create(fx->db, "bad", "main",
	    badstage, 2, &id), -1);
	assert_int_equal(ledger_pipeline_get(fx->db, "bad", &p), 1);
	assert_int_equal(ledger_app_get(fx->db, "bad-staging", &a), 1);

	/* Only what existed before is there. */
	assert_int_equal(ledger_pipeline_list(fx->db, &plist, &nr), 0);
	assert_int_equal(nr, 1);
	assert_string_equal(plist[0].name, "other");
	pipeline_list_free(plist, nr);
	assert_int_equal(ledger_app_list(fx->db, 0, &list, &nr), 0);
	assert_int_equal(nr, 1);
	assert_string_equal(list[0].name, "taken");
	app_list_free(list, nr);

	/* And the same name works once the clash is gone. */
	assert_int_equal(ledger_pipeline_create(fx->db, "shop", "main",
	    clash, 1, &id), 0);
}

/* ---- apps ---- */

static void
test_app_create_get_list(void **state)
{
	struct fixture *fx = *state;
	struct app a, *list = NULL;
	size_t nr = 0;
	int64_t shop, blog, prod, id = 0;

	shop = make_pipeline(fx->db, "shop");
	blog = make_pipeline(fx->db, "blog");
	/* Created out of stage order on purpose. */
	prod = make_app(fx->db, "shop", shop, "production", NULL);
	make_app(fx->db, "shop-staging", shop, "staging", "main");
	make_app(fx->db, "shop-pr-2", shop, "review", "feature-b");
	make_app(fx->db, "shop-dev", shop, "development", "develop");
	make_app(fx->db, "shop-pr-1", shop, "review", "feature-a");
	make_app(fx->db, "blog", blog, "production", NULL);

	memset(&a, 0, sizeof(a));
	assert_int_equal(ledger_app_get(fx->db, "shop", &a), 0);
	assert_int_equal(a.id, prod);
	assert_string_equal(a.name, "shop");
	assert_int_equal(a.pipeline_id, shop);
	assert_string_equal(a.pipeline, "shop");
	assert_string_equal(a.stage, "production");
	assert_null(a.branch);
	assert_non_null(a.created_at);
	app_clear(&a);

	assert_int_equal(ledger_app_get(fx->db, "shop-dev", &a), 0);
	assert_string_equal(a.branch, "develop");
	app_clear(&a);

	assert_int_equal(ledger_app_list(fx->db, shop, &list, &nr), 0);
	assert_int_equal(nr, 5);
	assert_string_equal(list[0].name, "shop-pr-1");
	assert_string_equal(list[1].name, "shop-pr-2");
	assert_string_equal(list[2].name, "shop-dev");
	assert_string_equal(list[3].name, "shop-staging");
	assert_string_equal(list[4].name, "shop");
	app_list_free(list, nr);

	/* Every pipeline: by pipeline name first. */
	assert_int_equal(ledger_app_list(fx->db, 0, &list, &nr), 0);
	assert_int_equal(nr, 6);
	assert_string_equal(list[0].name, "blog");
	assert_string_equal(list[0].pipeline, "blog");
	assert_string_equal(list[1].name, "shop-pr-1");
	assert_string_equal(list[5].name, "shop");
	app_list_free(list, nr);

	/* A pipeline with no apps lists nothing. */
	assert_int_equal(ledger_app_list(fx->db, make_pipeline(fx->db,
	    "empty"), &list, &nr), 0);
	assert_int_equal(nr, 0);
	app_list_free(list, nr);

	berth_clear_error();
	assert_int_equal(ledger_app_create(fx->db, "shop", blog, "staging",
	    NULL, &id), -1);
	error_mentions("app shop already exists");

	berth_clear_error();
	assert_int_equal(ledger_app_get(fx->db, "nope", &a), 1);
	error_mentions("no app named 'nope'");
	error_mentions("berth apps");

	/* Stages are checked by the schema. */
	assert_int_equal(ledger_app_create(fx->db, "shop-qa", shop, "qa",
	    NULL, &id), -1);
	assert_int_equal(ledger_app_get(fx->db, "shop-qa", &a), 1);
}

static void
test_apps_for_branch(void **state)
{
	struct fixture *fx = *state;
	struct app *list = NULL;
	size_t nr = 0;
	int64_t shop, blog;

	shop = make_pipeline(fx->db, "shop");
	blog = make_pipeline(fx->db, "blog");
	make_app(fx->db, "shop", shop, "production", NULL);
	make_app(fx->db, "shop-staging", shop, "staging", "main");
	make_app(fx->db, "shop-dev", shop, "development", "main");
	make_app(fx->db, "shop-pr-1", shop, "review", "feature-x");
	make_app(fx->db, "blog-staging", blog, "staging", "main");

	assert_int_equal(ledger_apps_for_branch(fx->db, shop, "main", &list,
	    &nr), 0);
	assert_int_equal(nr, 2);
	assert_string_equal(list[0].name, "shop-dev");
	assert_string_equal(list[1].name, "shop-staging");
	app_list_free(list, nr);

	/* A review app is deployed by post-receive, not auto-deployed. */
	assert_int_equal(ledger_apps_for_branch(fx->db, shop, "feature-x",
	    &list, &nr), 0);
	assert_int_equal(nr, 0);
	app_list_free(list, nr);

	assert_int_equal(ledger_apps_for_branch(fx->db, shop, "nope", &list,
	    &nr), 0);
	assert_int_equal(nr, 0);
	app_list_free(list, nr);

	assert_int_equal(ledger_apps_for_branch(fx->db, blog, "main", &list,
	    &nr), 0);
	assert_int_equal(nr, 1);
	assert_string_equal(list[0].name, "blog-staging");
	app_list_free(list, nr);
}

static void
test_app_destroy(void **state)
{
	struct fixture *fx = *state;
	struct app a, *list = NULL;
	struct release *rl = NULL;
	struct kvlist set = { NULL, 0 }, got = { NULL, 0 };
	size_t nr = 0;
	int64_t shop, old, fresh;
	int v = -1;

	shop = make_pipeline(fx->db, "shop");
	old = make_app(fx->db, "shop-staging", shop, "staging", "main");
	make_slug(fx->db, SLUG1, SHA1);
	assert_int_equal(make_release(fx->db, old, SLUG1, "deploy",
	    "succeeded", "Deploy 1111111"), 1);
	kvlist_add(&set, "SECRET", "hunter2");
	assert_int_equal(ledger_config_change(fx->db, old, &set, NULL, 0,
	    "alice", &v, NULL), 0);
	assert_int_equal(v, 2);

	assert_int_equal(ledger_app_destroy(fx->db, old), 0);
	memset(&a, 0, sizeof(a));
	assert_int_equal(ledger_app_get(fx->db, "shop-staging", &a), 1);
	assert_int_equal(ledger_app_list(fx->db, shop, &list, &nr), 0);
	assert_int_equal(nr, 0);
	app_list_free(list, nr);
	assert_int_equal(ledger_apps_for_branch(fx->db, shop, "main", &list,
	    &nr), 0);
	assert_int_equal(nr, 0);
	app_list_free(list, nr);

	/* History stays; config vars of a destroyed app do not. */
	assert_int_equal(ledger_release_list(fx->db, old, 0, &rl, &nr), 0);
	assert_int_equal(nr, 2);
	release_list_free(rl, nr);
	assert_int_equal(ledger_config_get(fx->db, old, &got), 0);
	assert_int_equal(got.nr, 0);
	kvlist_clear(&got);

	/* The name is free again, for a brand new app. */
	fresh = make_app(fx->db, "shop-staging", shop, "staging", "main");
	assert_true(fresh != old);
	assert_int_equal(ledger_app_get(fx->db, "shop-staging", &a), 0);
	assert_int_equal(a.id, fresh);
	app_clear(&a);
	assert_int_equal(ledger_release_latest_version(fx->db, fresh), 0);
	assert_int_equal(ledger_config_get(fx->db, fresh, &got), 0);
	assert_int_equal(got.nr, 0);
	kvlist_clear(&got);
	kvlist_clear(&set);
}

/* ---- config vars ---- */

static void
test_config_change_without_release(void **state)
{
	struct fixture *fx = *state;
	struct kvlist set = { NULL, 0 }, got = { NULL, 0 };
	const char *unset[] = { "B", "NEVER_SET" };
	int64_t app;
	int v = -1;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	kvlist_add(&set, "B", "2");
	kvlist_add(&set, "A", "1");
	assert_int_equal(ledger_config_change(fx->db, app, &set, NULL, 0,
	    "alice", &v, NULL), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ledger_release_latest_version(fx->db, app), 0);

	assert_int_equal(ledger_config_get(fx->db, app, &got), 0);
	assert_int_equal(got.nr, 2);
	assert_string_equal(got.items[0].key, "A");
	assert_string_equal(got.items[0].value, "1");
	assert_string_equal(got.items[1].key, "B");
	assert_string_equal(got.items[1].value, "2");
	kvlist_clear(&got);

	/* Unsetting a key that is not set is not an error. */
	v = -1;
	assert_int_equal(ledger_config_change(fx->db, app, NULL, unset, 2,
	    "alice", &v, NULL), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ledger_config_get(fx->db, app, &got), 0);
	assert_int_equal(got.nr, 1);
	assert_string_equal(kvlist_get(&got, "A"), "1");
	kvlist_clear(&got);

	/* version may be NULL. */
	assert_int_equal(ledger_config_change(fx->db, app, &set, NULL, 0,
	    "alice", NULL, NULL), 0);
	kvlist_clear(&set);
}

/* Release v of app must be a config release with this snapshot. */
static void
assert_config_release(struct ledger *db, int64_t app, int v,
    const char *desc, const char *const *keys, const char *const *values,
    size_t n)
{
	struct release r;
	struct kvlist snap = { NULL, 0 };
	size_t i;

	memset(&r, 0, sizeof(r));
	assert_int_equal(ledger_release_get(db, app, v, &r), 0);
	assert_int_equal(r.version, v);
	assert_string_equal(r.kind, "config");
	/* pending until the runtime rolls it out */
	assert_string_equal(r.status, "pending");
	assert_string_equal(r.slug_id, SLUG1);
	assert_string_equal(r.commit, SHA1);
	assert_string_equal(r.actor, "bob");
	assert_string_equal(r.description, desc);
	assert_null(r.finished_at);
	assert_int_equal(kvlist_from_json(r.config, &snap), 0);
	assert_int_equal(snap.nr, n);
	for (i = 0; i < n; i++) {
		if (kvlist_get(&snap, keys[i]) == NULL)
			fail_msg("v%d: %s missing from %s", v, keys[i],
			    r.config);
		assert_string_equal(kvlist_get(&snap, keys[i]), values[i]);
	}
	kvlist_clear(&snap);
	release_clear(&r);
}

static void
test_config_change_with_release(void **state)
{
	struct fixture *fx = *state;
	struct kvlist set = { NULL, 0 }, snap = { NULL, 0 };
	struct release r;
	const char *unset_a[] = { "A" };
	const char *unset_two[] = { "B", "GONE" };
	int64_t app;
	int v = -1;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	make_slug(fx->db, SLUG1, SHA1);
	assert_int_equal(make_release(fx->db, app, SLUG1, "deploy",
	    "succeeded", "Deploy 1111111"), 1);

	kvlist_add(&set, "A", "1");
	kvlist_add(&set, "B", "x=y");
	assert_int_equal(ledger_config_change(fx->db, app, &set, NULL, 0,
	    "bob", &v, NULL), 0);
	assert_int_equal(v, 2);
	{
		const char *k[] = { "A", "B" }, *val[] = { "1", "x=y" };

		assert_config_release(fx->db, app, 2, "Set A, B config vars",
		    k, val, 2);
	}
	kvlist_clear(&set);

	assert_int_equal(ledger_config_change(fx->db, app, NULL, unset_a, 1,
	    "bob", &v, NULL), 0);
	assert_int_equal(v, 3);
	{
		const char *k[] = { "B" }, *val[] = { "x=y" };

		assert_config_release(fx->db, app, 3, "Remove A config var",
		    k, val, 1);
	}

	/* One key set: singular. Overwrite keeps one entry. */
	kvlist_add(&set, "B", "changed");
	assert_int_equal(ledger_config_change(fx->db, app, &set, NULL, 0,
	    "bob", &v, NULL), 0);
	assert_int_equal(v, 4);
	{
		const char *k[] = { "B" }, *val[] = { "changed" };

		assert_config_release(fx->db, app, 4, "Set B config var",
		    k, val, 1);
	}
	kvlist_clear(&set);

	/* Set and unset together, one release. */
	kvlist_add(&set, "C", "3");
	assert_int_equal(ledger_config_change(fx->db, app, &set, unset_two, 2,
	    "bob", &v, NULL), 0);
	assert_int_equal(v, 5);
	assert_int_equal(ledger_release_latest_version(fx->db, app), 5);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ledger_release_get(fx->db, app, 5, &r), 0);
	assert_non_null(strstr(r.description, "Set C config var"));
	assert_non_null(strstr(r.description, "Remove B, GONE config vars"));
	assert_int_equal(kvlist_from_json(r.config, &snap), 0);
	assert_int_equal(snap.nr, 1);
	assert_string_equal(kvlist_get(&snap, "C"), "3");
	kvlist_clear(&snap);
	release_clear(&r);
	kvlist_clear(&set);

	/* Older snapshots are not rewritten. */
	assert_int_equal(ledger_release_get(fx->db, app, 1, &r), 0);
	assert_string_equal(r.config, "{}");
	assert_string_equal(r.kind, "deploy");
	release_clear(&r);
}

static void
test_config_change_uses_current_release(void **state)
{
	struct fixture *fx = *state;
	struct kvlist set = { NULL, 0 };
	struct release r;
	int64_t app;
	int v = -1;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	make_slug(fx->db, SLUG1, SHA1);
	make_slug(fx->db, SLUG2, SHA2);
	/* Only a failed release: nothing to re-release. */
	assert_int_equal(make_release(fx->db, app, SLUG1, "deploy", "failed",
	    "Deploy"), 1);
	kvlist_add(&set, "A", "1");
	assert_int_equal(ledger_config_change(fx->db, app, &set, NULL, 0,
	    "bob", &v, NULL), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ledger_release_latest_version(fx->db, app), 1);

	/* v2 succeeded with SLUG1, v3 failed with SLUG2: the config
	 * release carries v2's slug, numbered after v3. */
	assert_int_equal(make_release(fx->db, app, SLUG1, "deploy",
	    "succeeded", "Deploy"), 2);
	assert_int_equal(make_release(fx->db, app, SLUG2, "deploy", "failed",
	    "Deploy"), 3);
	assert_int_equal(ledger_config_change(fx->db, app, &set, NULL, 0,
	    "bob", &v, NULL), 0);
	assert_int_equal(v, 4);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ledger_release_get(fx->db, app, 4, &r), 0);
	assert_string_equal(r.slug_id, SLUG1);
	release_clear(&r);
	kvlist_clear(&set);
}

/*
 * A value that is not valid UTF-8 must either be refused (nothing
 * changes) or reach the release snapshot; it must never be stored in
 * config_vars yet silently left out of the snapshot the dynos run with.
 */
static void
test_config_change_not_utf8(void **state)
{
	struct fixture *fx = *state;
	struct kvlist set = { NULL, 0 }, now = { NULL, 0 };
	struct kvlist snap = { NULL, 0 };
	struct release r;
	int64_t app;
	int rc, v = 0, in_config, in_snapshot = -1;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	make_slug(fx->db, SLUG1, SHA1);
	make_release(fx->db, app, SLUG1, "deploy", "succeeded", "Deploy");
	kvlist_add(&set, "OK", "fine");
	kvlist_add(&set, "LATIN1", "caf\xe9");
	rc = ledger_config_change(fx->db, app, &set, NULL, 0, "bob", &v,
	    NULL);
	kvlist_clear(&set);

	assert_int_equal(ledger_config_get(fx->db, app, &now), 0);
	in_config = kvlist_get(&now, "LATIN1") != NULL;
	kvlist_clear(&now);
	memset(&r, 0, sizeof(r));
	if (rc == 0 && ledger_release_get(fx->db, app, v, &r) == 0) {
		if (kvlist_from_json(r.config, &snap) == 0)
			in_snapshot = kvlist_get(&snap, "LATIN1") != NULL;
		kvlist_clear(&snap);
	}
	release_clear(&r);

	if (rc != 0) {
		/* Refused: nothing stored, no release. */
		assert_false(in_config);
		assert_int_equal(ledger_release_latest_version(fx->db, app),
		    1);
	} else {
		assert_int_equal(v, 2);
		assert_true(in_config);
		if (in_snapshot != 1)
			fail_msg("LATIN1 is set but missing from the v2 "
			    "config snapshot");
	}
}

/* ---- releases ---- */

static void
test_release_create_versions(void **state)
{
	struct fixture *fx = *state;
	struct release_new rn = {
		.slug_id = SLUG1,
		.kind = "deploy",
		.status = "succeeded",
		.actor = "alice",
		.commit = SHA1,
		.description = "Deploy 1111111",
	};
	struct release r;
	struct kvlist set = { NULL, 0 };
	int64_t app, app2;
	int i;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	app2 = make_app(fx->db, "blog", make_pipeline(fx->db, "blog"),
	    "production", NULL);
	make_slug(fx->db, SLUG1, SHA1);
	assert_int_equal(ledger_release_latest_version(fx->db, app), 0);

	rn.app_id = app;
	for (i = 1; i <= 3; i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(ledger_release_create(fx->db, &rn, &r), 0);
		assert_true(r.id > 0);
		assert_int_equal(r.app_id, app);
		assert_int_equal(r.version, i);
		assert_string_equal(r.slug_id, SLUG1);
		assert_string_equal(r.kind, "deploy");
		assert_string_equal(r.status, "succeeded");
		assert_string_equal(r.actor, "alice");
		assert_string_equal(r.commit, SHA1);
		assert_string_equal(r.description, "Deploy 1111111");
		assert_non_null(r.created_at);
		assert_non_null(r.finished_at);
		release_clear(&r);
	}
	assert_int_equal(ledger_release_latest_version(fx->db, app), 3);

	/* Versions are per app. */
	rn.app_id = app2;
	assert_int_equal(ledger_release_create(fx->db, &rn, NULL), 0);
	assert_int_equal(ledger_release_latest_version(fx->db, app2), 1);

	/* The snapshot is the config at the time; no code, no commit. */
	kvlist_add(&set, "K", "v");
	assert_int_equal(ledger_config_change(fx->db, app2, &set, NULL, 0,
	    "alice", NULL, NULL), 0);
	kvlist_clear(&set);
	rn.slug_id = NULL;
	rn.commit = NULL;
	rn.kind = "rollback";
	rn.status = "pending";
	memset(&r, 0, sizeof(r));
	assert_int_equal(ledger_release_create(fx->db, &rn, &r), 0);
	assert_int_equal(r.version, 3);
	assert_null(r.slug_id);
	assert_null(r.commit);
	assert_null(r.finished_at);
	assert_string_equal(r.status, "pending");
	assert_string_equal(r.config, "{\"K\":\"v\"}");
	release_clear(&r);

	/* A bad kind or an unknown slug is refused and uses no version. */
	rn.kind = "bogus";
	assert_int_equal(ledger_release_create(fx->db, &rn, NULL), -1);
	rn.kind = "deploy";
	rn.slug_id = "000000000000000000000000";
	assert_int_equal(ledger_release_create(fx->db, &rn, NULL), -1);
	assert_int_equal(ledger_release_latest_version(fx->db, app2), 3);
}

static void
test_release_current(void **state)
{
	struct fixture *fx = *state;
	struct release r, r3;
	int64_t app;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	make_slug(fx->db, SLUG1, SHA1);

	memset(&r, 0, sizeof(r));
	berth_clear_error();
	assert_int_equal(ledger_release_current(fx->db, app, &r), 1);
	assert_null(r.kind);
	error_mentions("no release");

	assert_int_equal(make_release(fx->db, app, SLUG1, "deploy",
	    "succeeded", "v1"), 1);
	assert_int_equal(make_release(fx->db, app, SLUG1, "deploy", "failed",
	    "v2"), 2);
	memset(&r3, 0, sizeof(r3));
	{
		struct release_new rn = {
			.app_id = app,
			.slug_id = SLUG1,
			.kind = "deploy",
			.status = "pending",
			.actor = "alice",
			.commit = SHA1,
			.description = "v3",
		};

		assert_int_equal(ledger_release_create(fx->db, &rn, &r3), 0);
	}
	assert_int_equal(r3.version, 3);

	assert_int_equal(ledger_release_current(fx->db, app, &r), 0);
	assert_int_equal(r.version, 1);
	assert_string_equal(r.description, "v1");
	release_clear(&r);

	assert_int_equal(ledger_release_finish(fx->db, r3.id, "succeeded"),
	    0);
	assert_int_equal(ledger_release_current(fx->db, app, &r), 0);
	assert_int_equal(r.version, 3);
	assert_string_equal(r.status, "succeeded");
	assert_non_null(r.finished_at);
	release_clear(&r);

	assert_int_equal(ledger_release_finish(fx->db, r3.id, "failed"), 0);
	assert_int_equal(ledger_release_current(fx->db, app, &r), 0);
	assert_int_equal(r.version, 1);
	release_clear(&r);

	/* An invalid status is refused by the schema. */
	assert_int_equal(ledger_release_finish(fx->db, r3.id, "done"), -1);
	release_clear(&r3);
}

static void
test_release_get_missing(void **state)
{
	struct fixture *fx = *state;
	struct release r;
	int64_t shop, app, empty;

	shop = make_pipeline(fx->db, "shop");
	app = make_app(fx->db, "shop", shop, "production", NULL);
	empty = make_app(fx->db, "shop-staging", shop, "staging", NULL);
	make_release(fx->db, app, NULL, "config", "succeeded", "a");
	make_release(fx->db, app, NULL, "config", "failed", "b");

	memset(&r, 0, sizeof(r));
	assert_int_equal(ledger_release_get(fx->db, app, 2, &r), 0);
	assert_string_equal(r.description, "b");
	release_clear(&r);

	berth_clear_error();
	assert_int_equal(ledger_release_get(fx->db, app, 9, &r), 1);
	assert_null(r.kind);
	assert_string_equal(berth_last_error(),
	    "no release v9 (latest is v2)");

	berth_clear_error();
	assert_int_equal(ledger_release_get(fx->db, empty, 1, &r), 1);
	error_mentions("no release v1");
}

static void
test_release_list(void **state)
{
	struct fixture *fx = *state;
	struct release *list = NULL;
	size_t nr = 0, i;
	int64_t app, other;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	other = make_app(fx->db, "blog", make_pipeline(fx->db, "blog"),
	    "production", NULL);
	for (i = 0; i < 5; i++) {
		make_release(fx->db, app, NULL, "config", "succeeded", "x");
		make_release(fx->db, other, NULL, "config", "succeeded", "y");
	}

	assert_int_equal(ledger_release_list(fx->db, app, 0, &list, &nr), 0);
	assert_int_equal(nr, 5);
	for (i = 0; i < nr; i++) {
		assert_int_equal(list[i].version, 5 - (int)i);
		assert_int_equal(list[i].app_id, app);
	}
	release_list_free(list, nr);

	assert_int_equal(ledger_release_list(fx->db, app, 2, &list, &nr), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(list[0].version, 5);
	assert_int_equal(list[1].version, 4);
	release_list_free(list, nr);

	assert_int_equal(ledger_release_list(fx->db, app, 50, &list, &nr), 0);
	assert_int_equal(nr, 5);
	release_list_free(list, nr);

	assert_int_equal(ledger_release_list(fx->db, 4242, 0, &list, &nr), 0);
	assert_int_equal(nr, 0);
	release_list_free(list, nr);
}

/* ---- builds and slugs ---- */

static void
test_builds(void **state)
{
	struct fixture *fx = *state;
	struct build b, *list = NULL;
	size_t nr = 0;
	int64_t app, other, b1 = 0, b2 = 0, b3 = 0;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	other = make_app(fx->db, "blog", make_pipeline(fx->db, "blog"),
	    "production", NULL);
	make_slug(fx->db, SLUG1, SHA1);

	assert_int_equal(ledger_build_start(fx->db, app, SHA1,
	    "refs/heads/main", "alice", &b1), 0);
	assert_true(b1 > 0);
	memset(&b, 0, sizeof(b));
	assert_int_equal(ledger_build_get(fx->db, b1, &b), 0);
	assert_int_equal(b.id, b1);
	assert_int_equal(b.app_id, app);
	assert_string_equal(b.app, "shop");
	assert_string_equal(b.commit, SHA1);
	assert_string_equal(b.ref, "refs/heads/main");
	assert_string_equal(b.status, "building");
	assert_string_equal(b.actor, "alice");
	assert_null(b.slug_id);
	assert_null(b.error);
	assert_non_null(b.started_at);
	assert_null(b.finished_at);
	build_clear(&b);

	assert_int_equal(ledger_build_finish(fx->db, b1, "succeeded", SLUG1,
	    NULL), 0);
	assert_int_equal(ledger_build_get(fx->db, b1, &b), 0);
	assert_string_equal(b.status, "succeeded");
	assert_string_equal(b.slug_id, SLUG1);
	assert_null(b.error);
	assert_non_null(b.finished_at);
	build_clear(&b);

	assert_int_equal(ledger_build_start(fx->db, app, SHA2,
	    "refs/heads/main", "bob", &b2), 0);
	assert_int_equal(ledger_build_finish(fx->db, b2, "failed", NULL,
	    "no buildpack detected this app"), 0);
	assert_int_equal(ledger_build_get(fx->db, b2, &b), 0);
	assert_string_equal(b.status, "failed");
	assert_string_equal(b.error, "no buildpack detected this app");
	assert_null(b.slug_id);
	build_clear(&b);

	assert_int_equal(ledger_build_start(fx->db, other, SHA2,
	    "refs/heads/main", "bob", &b3), 0);

	assert_int_equal(ledger_build_list(fx->db, app, 0, &list, &nr), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(list[0].id, b2);
	assert_int_equal(list[1].id, b1);
	build_list_free(list, nr);

	assert_int_equal(ledger_build_list(fx->db, app, 1, &list, &nr), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(list[0].id, b2);
	build_list_free(list, nr);

	assert_int_equal(ledger_build_list(fx->db, 0, 0, &list, &nr), 0);
	assert_int_equal(nr, 3);
	assert_int_equal(list[0].id, b3);
	assert_string_equal(list[0].app, "blog");
	build_list_free(list, nr);

	berth_clear_error();
	assert_int_equal(ledger_build_get(fx->db, 4242, &b), 1);
	error_mentions("no build 4242");

	/* Unknown slug, unknown status: refused. */
	assert_int_equal(ledger_build_finish(fx->db, b3, "succeeded",
	    "000000000000000000000000", NULL), -1);
	assert_int_equal(ledger_build_finish(fx->db, b3, "done", NULL, NULL),
	    -1);
	assert_int_equal(ledger_build_get(fx->db, b3, &b), 0);
	assert_string_equal(b.status, "building");
	build_clear(&b);
}

static void
test_slugs(void **state)
{
	struct fixture *fx = *state;
	struct slug in = { (char *)SLUG1, (char *)SHA1,
	    (char *)"{\"web\":\"bin/web\",\"worker\":\"bin/w\"}",
	    (int64_t)5 << 32, (char *)"nodejs,procfile", NULL };
	struct slug out;

	assert_int_equal(ledger_slug_create(fx->db, &in), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(ledger_slug_get(fx->db, SLUG1, &out), 0);
	assert_string_equal(out.id, SLUG1);
	assert_string_equal(out.commit, SHA1);
	assert_string_equal(out.process_types, in.process_types);
	assert_int_equal(out.size, (int64_t)5 << 32);
	assert_string_equal(out.buildpacks, "nodejs,procfile");
	assert_non_null(out.created_at);
	slug_clear(&out);

	/* Procfile-only slugs have an empty buildpack list. */
	in.id = (char *)SLUG2;
	in.buildpacks = (char *)"";
	assert_int_equal(ledger_slug_create(fx->db, &in), 0);
	assert_int_equal(ledger_slug_get(fx->db, SLUG2, &out), 0);
	assert_string_equal(out.buildpacks, "");
	slug_clear(&out);

	/* Slug ids are unique. */
	assert_int_equal(ledger_slug_create(fx->db, &in), -1);

	berth_clear_error();
	assert_int_equal(ledger_slug_get(fx->db, "abc", &out), 1);
	assert_null(out.id);
	error_mentions("no slug abc");
}

/* ---- buildpacks ---- */

/*
 * The list of pipeline_id must be exactly names, at positions 1..n.
 * Compared as "name@pos ..." text so a failure frees everything first.
 */
static void
assert_buildpacks(struct ledger *db, int64_t pipeline_id,
    const char *const *names, size_t n)
{
	struct buildpack *list = NULL;
	char got[512] = "", want[512] = "";
	size_t nr = 0, i, len;

	assert_int_equal(ledger_buildpack_list(db, pipeline_id, &list, &nr),
	    0);
	for (i = 0; i < nr; i++) {
		len = strlen(got);
		snprintf(got + len, sizeof(got) - len, "%s%s@%d",
		    i ? " " : "", list[i].name, list[i].position);
	}
	buildpack_list_free(list, nr);
	for (i = 0; i < n; i++) {
		len = strlen(want);
		snprintf(want + len, sizeof(want) - len, "%s%s@%zu",
		    i ? " " : "", names[i], i + 1);
	}
	assert_string_equal(got, want);
}

static void
test_buildpack_add_remove(void **state)
{
	struct fixture *fx = *state;
	struct buildpack *list = NULL;
	size_t nr = 0;
	int64_t shop;

	assert_int_equal(ledger_buildpack_list(fx->db, 0, &list, &nr), 0);
	assert_int_equal(nr, 0);
	buildpack_list_free(list, nr);

	assert_int_equal(ledger_buildpack_add(fx->db, 0, "go", "/src/go", 0),
	    0);
	assert_int_equal(ledger_buildpack_add(fx->db, 0, "nodejs",
	    "https://example.com/nodejs.tgz", 0), 0);
	{
		const char *want[] = { "go", "nodejs" };

		assert_buildpacks(fx->db, 0, want, 2);
	}
	/* At index 1: in front. */
	assert_int_equal(ledger_buildpack_add(fx->db, 0, "python", "/src/py",
	    1), 0);
	/* At index 3 of 3: before the last one. */
	assert_int_equal(ledger_buildpack_add(fx->db, 0, "ruby", "/src/rb",
	    3), 0);
	/* Past the end: appended. */
	assert_int_equal(ledger_buildpack_add(fx->db, 0, "php", "/src/php",
	    99), 0);
	{
		const char *want[] = { "python", "go", "ruby", "nodejs",
		    "php" };

		assert_buildpacks(fx->db, 0, want, 5);
	}
	assert_int_equal(ledger_buildpack_list(fx->db, 0, &list, &nr), 0);
	assert_string_equal(list[3].source, "https://example.com/nodejs.tgz");
	buildpack_list_free(list, nr);

	berth_clear_error();
	assert_int_equal(ledger_buildpack_add(fx->db, 0, "go", "/elsewhere",
	    1), -1);
	error_mentions("go");
	error_mentions("already");

	assert_int_equal(ledger_buildpack_remove(fx->db, 0, "go"), 0);
	{
		const char *want[] = { "python", "ruby", "nodejs", "php" };

		assert_buildpacks(fx->db, 0, want, 4);
	}
	berth_clear_error();
	assert_int_equal(ledger_buildpack_remove(fx->db, 0, "go"), -1);
	error_mentions("go");
	error_mentions("not in the list");

	/* A pipeline's own list is separate from the server's. */
	shop = make_pipeline(fx->db, "shop");
	assert_int_equal(ledger_buildpack_add(fx->db, shop, "go", "/src/go",
	    0), 0);
	{
		const char *want[] = { "go" };

		assert_buildpacks(fx->db, shop, want, 1);
	}
	assert_int_equal(ledger_buildpack_remove(fx->db, shop, "python"), -1);
	assert_int_equal(ledger_buildpack_remove(fx->db, 0, "php"), 0);
	{
		const char *want[] = { "python", "ruby", "nodejs" };

		assert_buildpacks(fx->db, 0, want, 3);
	}
}

/*
 * Renumbering must follow positions, not insertion order: here the
 * rows were inserted a, b, c but sit at c=1, b=2, a=3.
 */
static void
test_buildpack_remove_renumbers_reordered(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(ledger_buildpack_add(fx->db, 0, "a", "/a", 0), 0);
	assert_int_equal(ledger_buildpack_add(fx->db, 0, "b", "/b", 1), 0);
	assert_int_equal(ledger_buildpack_add(fx->db, 0, "c", "/c", 1), 0);
	{
		const char *want[] = { "c", "b", "a" };

		assert_buildpacks(fx->db, 0, want, 3);
	}
	assert_int_equal(ledger_buildpack_remove(fx->db, 0, "c"), 0);
	{
		const char *want[] = { "b", "a" };

		assert_buildpacks(fx->db, 0, want, 2);
	}
}

/* ---- kvlist ---- */

static void
test_kvlist_helpers(void **state)
{
	struct kvlist kv = { NULL, 0 };

	(void)state;
	assert_null(kvlist_get(&kv, "A"));
	kvlist_add(&kv, "A", "1");
	kvlist_add(&kv, "B", "");
	kvlist_add(&kv, "A", "2");
	assert_int_equal(kv.nr, 2);
	assert_string_equal(kvlist_get(&kv, "A"), "2");
	assert_string_equal(kvlist_get(&kv, "B"), "");
	assert_null(kvlist_get(&kv, "a"));
	assert_string_equal(kv.items[0].key, "A");
	kvlist_clear(&kv);
	assert_int_equal(kv.nr, 0);
	assert_null(kv.items);
	/* Clearing twice is harmless. */
	kvlist_clear(&kv);
}

static void
test_kvlist_json_round_trip(void **state)
{
	static const char *const keys[] = {
		"DATABASE_URL", "GREETING", "EMPTY", "QUOTED", "MULTI",
		"EQUALS", "EMOJI",
	};
	static const char *const values[] = {
		"postgres://u:p%40ss@db:5432/shop?sslmode=require",
		"h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac",
		"",
		"say \"hi\" \\ back",
		"line1\nline2\ttab",
		"a=b==c=",
		"\xf0\x9f\x9a\xa2 berth",
	};
	struct kvlist kv = { NULL, 0 }, back = { NULL, 0 };
	char *json, *again;
	size_t i, n = sizeof(keys) / sizeof(keys[0]);

	(void)state;
	for (i = 0; i < n; i++)
		kvlist_add(&kv, keys[i], values[i]);
	json = kvlist_to_json(&kv);
	assert_non_null(json);
	assert_int_equal(json[0], '{');
	assert_int_equal(kvlist_from_json(json, &back), 0);
	assert_int_equal(back.nr, n);
	for (i = 0; i < n; i++) {
		assert_string_equal(back.items[i].key, keys[i]);
		assert_string_equal(back.items[i].value, values[i]);
	}
	/* Stable: the same list gives the same text. */
	again = kvlist_to_json(&back);
	assert_string_equal(json, again);
	free(again);
	free(json);
	kvlist_clear(&back);
	kvlist_clear(&kv);

	json = kvlist_to_json(&kv);
	assert_string_equal(json, "{}");
	assert_int_equal(kvlist_from_json(json, &back), 0);
	assert_int_equal(back.nr, 0);
	free(json);

	/* Unicode escapes are decoded. */
	assert_int_equal(kvlist_from_json("{\"K\":\"caf\\u00e9\"}", &back),
	    0);
	assert_string_equal(kvlist_get(&back, "K"), "caf\xc3\xa9");
	kvlist_clear(&back);

	berth_clear_error();
	assert_int_equal(kvlist_from_json("[\"a\"]", &back), -1);
	error_mentions("not a JSON object");
	assert_int_equal(kvlist_from_json("{\"a\":", &back), -1);
	assert_int_equal(kvlist_from_json("", &back), -1);
	assert_int_equal(back.nr, 0);
}

/* ---- concurrency ---- */

#define NCHILD 4
#define NEACH 100

static void
child_releases(const char *path, int64_t app, int n)
{
	struct ledger *db = NULL;
	char actor[32];
	int i;

	snprintf(actor, sizeof(actor), "child-%d", n);
	if (ledger_open(path, &db) != 0) {
		fprintf(stderr, "# child %d: open: %s\n", n,
		    berth_last_error());
		_exit(1);
	}
	for (i = 0; i < NEACH; i++) {
		struct release_new rn = {
			.app_id = app,
			.kind = "config",
			.status = "succeeded",
			.actor = actor,
			.description = "concurrent",
		};

		if (ledger_release_create(db, &rn, NULL) != 0) {
			fprintf(stderr, "# child %d: release %d: %s\n", n, i,
			    berth_last_error());
			_exit(1);
		}
	}
	ledger_close(db);
	_exit(0);
}

static void
test_concurrent_release_create(void **state)
{
	struct fixture *fx = *state;
	struct release *list = NULL;
	pid_t pids[NCHILD];
	int counts[NCHILD] = { 0 };
	size_t nr = 0, i;
	int64_t app;
	int n, status, failed = 0;

	app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", NULL);
	fflush(NULL);
	for (n = 0; n < NCHILD; n++) {
		pids[n] = fork();
		assert_true(pids[n] >= 0);
		if (pids[n] == 0)
			child_releases(fx->path, app, n);
	}
	for (n = 0; n < NCHILD; n++) {
		assert_int_equal(waitpid(pids[n], &status, 0), pids[n]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	assert_int_equal(failed, 0);

	assert_int_equal(ledger_release_latest_version(fx->db, app),
	    NCHILD * NEACH);
	assert_int_equal(ledger_release_list(fx->db, app, 0, &list, &nr), 0);
	assert_int_equal(nr, NCHILD * NEACH);
	for (i = 0; i < nr; i++) {
		assert_int_equal(list[i].version, NCHILD * NEACH - (int)i);
		n = list[i].actor[strlen(list[i].actor) - 1] - '0';
		assert_in_range(n, 0, NCHILD - 1);
		counts[n]++;
	}
	for (n = 0; n < NCHILD; n++)
		assert_int_equal(counts[n], NEACH);
	release_list_free(list, nr);
}

/*
 * NCHILD processes, released at once, open path, which does not exist
 * yet. Returns how many of them failed.
 */
static int
first_open_round(const char *path)
{
	pid_t pids[NCHILD];
	int gate[2], n, status, failed = 0;

	if (pipe(gate) != 0)
		return NCHILD;
	fflush(NULL);
	for (n = 0; n < NCHILD; n++) {
		pids[n] = fork();
		if (pids[n] < 0) {
			failed++;
			continue;
		}
		if (pids[n] == 0) {
			struct ledger *db = NULL;
			char c;

			close(gate[1]);
			if (read(gate[0], &c, 1) < 0)
				_exit(3);
			if (ledger_open(path, &db) != 0) {
				fprintf(stderr, "# child %d: open %s: %s\n",
				    n, path, berth_last_error());
				_exit(1);
			}
			if (ledger_schema_version(db) !=
			    LEDGER_SCHEMA_VERSION)
				_exit(2);
			ledger_close(db);
			_exit(0);
		}
	}
	close(gate[0]);
	close(gate[1]);
	for (n = 0; n < NCHILD; n++) {
		if (pids[n] < 0)
			continue;
		if (waitpid(pids[n], &status, 0) != pids[n] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	return failed;
}

/*
 * Processes racing to open a brand-new ledger all succeed, and the
 * schema is created once. Several rounds, since the race is narrow.
 */
#define FIRST_OPEN_ROUNDS 30

static void
test_concurrent_first_open(void **state)
{
	struct fixture *fx = *state;
	struct ledger *db2 = NULL;
	int round, failed = 0, rc = 0, version = -1;

	for (round = 0; round < FIRST_OPEN_ROUNDS; round++) {
		char *path = xasprintf("%s/fresh-%d.db", fx->dir, round);

		failed += first_open_round(path);
		if (round == 0 && (rc = ledger_open(path, &db2)) == 0) {
			version = ledger_schema_version(db2);
			make_pipeline(db2, "shop");
			ledger_close(db2);
		}
		free(path);
	}
	assert_int_equal(failed, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(version, LEDGER_SCHEMA_VERSION);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ps:resize sets sizes; a type without a row gets one, counts stay. */
static void
test_formation_resize(void **state)
{
	struct fixture *fx = *state;
	int64_t app = make_app(fx->db, "shop", make_pipeline(fx->db, "shop"),
	    "production", "main");
	struct formation_item scale[] = { { "web", 3, 0 } };
	struct formation_item sizes[] = { { "web", 9, 64LL << 20 },
	    { "worker", 0, 1LL << 30 } };
	struct formation_item *f = NULL;
	size_t n = 0;

	assert_int_equal(ledger_formation_set(fx->db, app, scale, 1, "t"), 0);
	assert_int_equal(ledger_formation_resize(fx->db, app, sizes, 2, "t"), 0);
	assert_int_equal(ledger_formation_get(fx->db, app, &f, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(f[0].type, "web");
	assert_int_equal(f[0].quantity, 3);
	assert_int_equal(f[0].memory, 64LL << 20);
	assert_string_equal(f[1].type, "worker");
	assert_int_equal(f[1].quantity, 0);
	assert_int_equal(f[1].memory, 1LL << 30);
	formation_list_free(f, n);
	/* Scaling leaves the size alone. */
	scale[0].quantity = 1;
	assert_int_equal(ledger_formation_set(fx->db, app, scale, 1, "t"), 0);
	assert_int_equal(ledger_formation_get(fx->db, app, &f, &n), 0);
	assert_int_equal(f[0].quantity, 1);
	assert_int_equal(f[0].memory, 64LL << 20);
	formation_list_free(f, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_file_mode_wal_schema),
		T(test_open_mode_ignores_umask),
		T(test_open_foreign_keys_on),
		T(test_reopen_idempotent),
		T(test_open_newer_schema_refused),
		T(test_open_bad_path),
		T(test_pipeline_create_get_list),
		T(test_pipeline_duplicate_and_missing),
		T(test_pipeline_create_with_apps),
		T(test_pipeline_create_atomic),
		T(test_app_create_get_list),
		T(test_apps_for_branch),
		T(test_app_destroy),
		T(test_config_change_without_release),
		T(test_config_change_with_release),
		T(test_config_change_uses_current_release),
		T(test_config_change_not_utf8),
		T(test_release_create_versions),
		T(test_release_current),
		T(test_release_get_missing),
		T(test_release_list),
		T(test_builds),
		T(test_slugs),
		T(test_buildpack_add_remove),
		T(test_buildpack_remove_renumbers_reordered),
		T(test_kvlist_helpers),
		T(test_kvlist_json_round_trip),
		T(test_concurrent_release_create),
		T(test_concurrent_first_open),
		T(test_formation_resize),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
