/*
 * test-deploy.c - release_deploy(), the one release path, against its
 * contract in deploy.h, with berthd not running (the runtime backend
 * unavailable): a release is recorded succeeded after its release phase
 * ran here, a failing release phase leaves it failed and the app's
 * config vars as they were, a config change to an app without releases
 * makes none, a retry keeps the kind it retries, and nothing is
 * recorded for a slug the ledger does not know.
 *
 * Each test gets a fresh server root in its own temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deploy.h"
#include "util.h"

#define SHA1 "1111111111111111111111111111111111111111"
#define SLUG_OK "00000000000000000000000a"
#define SLUG_FAIL "00000000000000000000000b"

struct fixture {
	char *dir;
	struct berth_root root;
	struct app app;
	struct strbuf lines;	/* progress, one line each */
};

static void
on_line(const char *line, void *data)
{
	struct fixture *fx = data;

	strbuf_addf(&fx->lines, "%s\n", line);
}

/* A slug in the ledger and on disk whose release phase runs cmd. */
static void
make_slug(struct fixture *fx, const char *id, const char *cmd)
{
	char *types = xasprintf("{\"web\":\"sleep 60\",\"release\":\"%s\"}",
	    cmd);
	struct slug s = {
		.id = (char *)id,
		.commit = (char *)SHA1,
		.process_types = types,
		.size = 1,
		.buildpacks = (char *)"",
	};
	char *dir = root_pathf(&fx->root, "slugs/%s", id);
	char *file = path_join(dir, "Procfile");

	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(file, "web: sleep 60\n", 14, 0644),
	    0);
	if (ledger_slug_create(fx->root.db, &s) != 0)
		fail_msg("slug %s: %s", id, berth_last_error());
	free(file);
	free(dir);
	free(types);
}

static int
setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	struct app_new an = { .name = "shop", .stage = "production" };
	int64_t pid;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	fx->dir = xasprintf("%s/berth-test-deploy-XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL || root_init(fx->dir, NULL) < 0 ||
	    root_open(&fx->root, fx->dir) < 0 ||
	    ledger_pipeline_create(fx->root.db, "shop", "main", &an, 1,
	    &pid) < 0 || ledger_app_get(fx->root.db, "shop", &fx->app) != 0) {
		fprintf(stderr, "# setup: %s\n", berth_last_error());
		return -1;
	}
	make_slug(fx, SLUG_OK, "echo migrated; test x$FOO != xbad");
	make_slug(fx, SLUG_FAIL, "echo oops; exit 3");
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	app_clear(&fx->app);
	root_close(&fx->root);
	rm_rf(fx->dir);
	free(fx->dir);
	strbuf_release(&fx->lines);
	free(fx);
	return 0;
}

/* A deploy of slug; returns the outcome, done filled. */
static enum release_outcome
deploy(struct fixture *fx, const char *slug, struct release_done *done)
{
	struct release_order o = {
		.app = &fx->app,
		.kind = RELEASE_DEPLOY,
		.slug_id = slug,
		.commit = SHA1,
		.actor = "alice",
		.description = "Deploy 1111111",
		.progress = on_line,
		.data = fx,
	};

	return release_deploy(&fx->root, &o, done);
}

/* A rollback or retry of from, by carol. */
static enum release_outcome
copy_of(struct fixture *fx, enum release_kind kind,
    const struct release *from, const char *desc, struct release_done *done)
{
	struct release_order o = {
		.app = &fx->app,
		.kind = kind,
		.from = from,
		.actor = "carol",
		.description = desc,
	};

	return release_deploy(&fx->root, &o, done);
}

static void
assert_status(struct fixture *fx, int version, const char *status)
{
	struct release rel;

	assert_int_equal(ledger_release_get(fx->root.db, fx->app.id, version,
	    &rel), 0);
	assert_string_equal(rel.status, status);
	release_clear(&rel);
}

static void
assert_config(struct fixture *fx, const char *key, const char *value)
{
	struct kvlist kv;

	assert_int_equal(ledger_config_get(fx->root.db, fx->app.id, &kv), 0);
	if (value == NULL)
		assert_null(kvlist_get(&kv, key));
	else
		assert_string_equal(kvlist_get(&kv, key), value);
	kvlist_clear(&kv);
}

static void
test_offline_records_succeeded(void **state)
{
	struct fixture *fx = *state;
	struct release_done done;

	assert_int_equal(deploy(fx, SLUG_OK, &done), RELEASE_RECORDED);
	assert_int_equal(done.outcome, RELEASE_RECORDED);
	assert_int_equal(done.version, 1);
	assert_true(done.id > 0);
	assert_non_null(strstr(done.why, "berthd is not running"));
	assert_non_null(strstr(fx->lines.buf,
	    "-----> Release phase: echo migrated"));
	assert_non_null(strstr(fx->lines.buf, "migrated\n"));
	assert_status(fx, 1, "succeeded");
	release_done_clear(&done);
}

/* config:set KEY=VALUE on the app. */
static enum release_outcome
config_set(struct fixture *fx, const char *key, const char *value,
    struct release_done *done)
{
	struct kvlist set = { NULL, 0 };
	struct release_order o = {
		.app = &fx->app,
		.kind = RELEASE_CONFIG,
		.set = &set,
		.actor = "bob",
	};
	enum release_outcome rc;

	kvlist_add(&set, key, value);
	rc = release_deploy(&fx->root, &o, done);
	kvlist_clear(&set);
	return rc;
}

static void
test_failing_phase_restores_config(void **state)
{
	struct fixture *fx = *state;
	struct release_done done;
	struct release v1;

	/* No release yet: the change needs none. */
	assert_int_equal(config_set(fx, "FOO", "1", &done), RELEASE_UNNEEDED);
	assert_int_equal(done.version, 0);
	assert_null(done.why);
	assert_int_equal(deploy(fx, SLUG_FAIL, &done), RELEASE_FAILED);
	assert_int_equal(done.version, 1);
	assert_non_null(strstr(done.why, "the release phase"));
	assert_non_null(strstr(done.why, "oops"));
	release_done_clear(&done);
	assert_status(fx, 1, "failed");
	assert_int_equal(deploy(fx, SLUG_OK, &done), RELEASE_RECORDED);
	release_done_clear(&done);
	assert_status(fx, 2, "succeeded");
	/* SLUG_OK's release phase refuses FOO=bad: the config goes back. */
	assert_int_equal(config_set(fx, "FOO", "bad", &done), RELEASE_FAILED);
	assert_int_equal(done.version, 3);
	release_done_clear(&done);
	assert_status(fx, 3, "failed");
	assert_config(fx, "FOO", "1");
	assert_int_equal(config_set(fx, "FOO", "2", &done), RELEASE_RECORDED);
	assert_int_equal(done.version, 4);
	release_done_clear(&done);
	assert_config(fx, "FOO", "2");
	/* A rollback to v1 (FOO=1, a failing release phase) fails and puts
	 * FOO=2 back. */
	assert_int_equal(ledger_release_get(fx->root.db, fx->app.id, 1, &v1),
	    0);
	assert_int_equal(copy_of(fx, RELEASE_ROLLBACK, &v1, "Rollback to v1",
	    &done), RELEASE_FAILED);
	assert_int_equal(done.version, 5);
	release_done_clear(&done);
	assert_status(fx, 5, "failed");
	assert_config(fx, "FOO", "2");
	release_clear(&v1);
}

static void
test_retry_keeps_kind(void **state)
{
	struct fixture *fx = *state;
	struct release_done done;
	struct release cur, rel;

	assert_int_equal(deploy(fx, SLUG_OK, &done), RELEASE_RECORDED);
	release_done_clear(&done);
	assert_int_equal(ledger_release_current(fx->root.db, fx->app.id,
	    &cur), 0);
	assert_int_equal(copy_of(fx, RELEASE_RETRY, &cur, "Retry v1", &done),
	    RELEASE_RECORDED);
	assert_int_equal(ledger_release_get(fx->root.db, fx->app.id, 2, &rel),
	    0);
	assert_string_equal(rel.kind, "deploy");
	assert_string_equal(rel.slug_id, SLUG_OK);
	assert_string_equal(rel.actor, "carol");
	assert_string_equal(rel.description, "Retry v1");
	release_clear(&rel);
	release_clear(&cur);
	release_done_clear(&done);
}

static void
test_unknown_slug_not_created(void **state)
{
	struct fixture *fx = *state;
	struct release_done done;

	assert_int_equal(deploy(fx, "ffffffffffffffffffffffff", &done),
	    RELEASE_NOT_CREATED);
	assert_int_equal(done.version, 0);
	assert_non_null(done.why);
	assert_int_equal(ledger_release_latest_version(fx->root.db,
	    fx->app.id), 0);
	release_done_clear(&done);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_offline_records_succeeded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failing_phase_restores_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_keeps_kind, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_slug_not_created,
		    setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
