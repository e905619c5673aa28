/*
 * test-routes.c - the table of routes berthd wants (routes.c): a
 * failed route is pending and due again after a back-off that doubles
 * from 0.5 s to 5 s; a newer want replaces it; what is news for the log;
 * a removal leaves once applied; a router that could not start; and
 * what daemon:status shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "routes.h"

static int
setup(void **state)
{
	struct route_table *t = xcalloc(1, sizeof(*t));

	route_table_init(t);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct route_table *t = *state;

	route_table_clear(t);
	free(t);
	return 0;
}

/* The apps due at now, space-separated, into buf. */
static const char *
due(struct route_table *t, int64_t now, char buf[256])
{
	struct strvec v = STRVEC_INIT;
	size_t i;

	buf[0] = '\0';
	route_table_due(t, now, &v);
	for (i = 0; i < v.nr; i++) {
		if (i > 0)
			strcat(buf, " ");
		strcat(buf, v.v[i]);
	}
	strvec_clear(&v);
	return buf;
}

static void
test_backoff(void **state)
{
	(void)state;
	assert_int_equal(route_retry_delay(1), 500);
	assert_int_equal(route_retry_delay(2), 1000);
	assert_int_equal(route_retry_delay(3), 2000);
	assert_int_equal(route_retry_delay(4), 4000);
	assert_int_equal(route_retry_delay(5), 5000);
	assert_int_equal(route_retry_delay(1000), 5000);
}

static void
test_failed_route_is_retried(void **state)
{
	struct route_table *t = *state;
	int ports[] = { 20001, 20002 };
	struct route_want w;
	char buf[256];

	route_table_want(t, "shop", ports, 2, 0);
	assert_true(route_table_is_pending(t, "shop"));
	assert_int_equal(route_table_done(t, "shop", 1, NULL, 1000),
	    ROUTE_QUIET);
	assert_false(route_table_is_pending(t, "shop"));
	assert_int_equal(route_table_next(t), 0);

	/* It fails: news once, then quiet, due after the back-off. */
	route_table_want(t, "shop", ports, 1, 0);
	assert_int_equal(route_table_done(t, "shop", 0, "disk full", 1000),
	    ROUTE_FAILED);
	assert_int_equal(route_table_next(t), 1500);
	assert_string_equal(due(t, 1499, buf), "");
	assert_string_equal(due(t, 1500, buf), "shop");
	assert_int_equal(route_table_done(t, "shop", 0, "disk full", 1500),
	    ROUTE_QUIET);
	assert_int_equal(route_table_next(t), 2500);
	/* A new reason is news again. */
	assert_int_equal(route_table_done(t, "shop", 0, "nginx -t", 2500),
	    ROUTE_FAILED);
	assert_int_equal(route_table_get(t, "shop", &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.ports[0], 20001);
	assert_int_equal(w.tries, 3);
	assert_string_equal(w.why, "nginx -t");
	route_want_clear(&w);
	/* It applies: news, and nothing is pending. */
	assert_int_equal(route_table_done(t, "shop", 1, NULL, 9000),
	    ROUTE_RECOVERED);
	assert_int_equal(route_table_next(t), 0);
	assert_int_equal(route_table_get(t, "unknown", &w), -1);
}

static void
test_removal_leaves(void **state)
{
	struct route_table *t = *state;
	struct route_want w;
	int port = 20001;

	route_table_want(t, "a", &port, 1, 0);
	route_table_done(t, "a", 1, NULL, 10);
	route_table_want(t, "b", &port, 1, 0);
	route_table_done(t, "b", 1, NULL, 10);
	route_table_want(t, "a", NULL, 0, 1);
	route_table_done(t, "a", 0, "disk full", 10);
	assert_int_equal(route_table_get(t, "a", &w), 0);
	assert_true(w.removed && w.pending);
	route_want_clear(&w);
	route_table_done(t, "a", 1, NULL, 600);
	assert_int_equal(route_table_get(t, "a", &w), -1);
	assert_int_equal(route_table_get(t, "b", &w), 0);
	route_want_clear(&w);
}

static void
test_router_down_and_reset(void **state)
{
	struct route_table *t = *state;
	int port = 20001;
	char buf[256], *why;

	route_table_want(t, "a", &port, 1, 0);
	route_table_done(t, "a", 1, NULL, 10);
	assert_int_equal(route_table_router(t, "cannot write nginx.conf",
	    100), ROUTE_FAILED);
	assert_int_equal(route_table_router(t, "cannot write nginx.conf",
	    600), ROUTE_QUIET);
	assert_false(route_table_router_due(t, 1599));
	assert_true(route_table_router_due(t, 1600));
	assert_int_equal(route_table_next(t), 1600);
	why = route_table_router_why(t);
	assert_string_equal(why, "cannot write nginx.conf");
	free(why);
	/* It starts: every route is due at once. */
	assert_int_equal(route_table_router(t, NULL, 1600), ROUTE_RECOVERED);
	assert_null(route_table_router_why(t));
	route_table_reset(t, 1600);
	assert_string_equal(due(t, 1600, buf), "a");
}

static void
test_status(void **state)
{
	struct route_table *t = *state;
	json_t *st = json_object(), *list;
	int port = 20001;

	route_table_want(t, "ok", &port, 1, 0);
	route_table_done(t, "ok", 1, NULL, 10);
	route_table_want(t, "stuck", &port, 1, 0);
	route_table_done(t, "stuck", 0, "disk full", 10);
	route_table_status(t, st);
	assert_true(json_is_null(json_object_get(st, "router_error")));
	list = json_object_get(st, "routes_pending");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "app")), "stuck");
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "error")), "disk full");
	json_decref(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test_setup_teardown(test_failed_route_is_retried,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_removal_leaves, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_router_down_and_reset,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
