/*
 * test-checks.c - Dokku's CHECKS file (checks.h): settings, check lines
 * with and without content, the host and scheme forms, and the exact
 * words of each refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "checks.h"
#include "util.h"

static struct healthcheck *hcs;
static size_t nhcs;

static int
clear_checks(void **state)
{
	(void)state;
	while (nhcs > 0)
		healthcheck_clear(&hcs[--nhcs]);
	free(hcs);
	hcs = NULL;
	return 0;
}

static void
parse_ok(const char *text, size_t n)
{
	clear_checks(NULL);
	berth_clear_error();
	if (checks_parse(text, strlen(text), &hcs, &nhcs) != 0)
		fail_msg("refused: %s", berth_last_error());
	assert_int_equal(nhcs, n);
}

static void
parse_fails(const char *text, const char *msg)
{
	clear_checks(NULL);
	assert_int_equal(checks_parse(text, strlen(text), &hcs, &nhcs), -1);
	assert_string_equal(berth_last_error(), msg);
	assert_int_equal(nhcs, 0);
}

static void
test_defaults(void **state)
{
	(void)state;
	parse_ok("# checks of the web dynos\n\n/about  Our Amazing Team\n"
	    "/images/logo.png\n", 2);
	assert_string_equal(hcs[0].type, "web");
	assert_string_equal(hcs[0].path, "/about");
	assert_string_equal(hcs[0].content, "Our Amazing Team");
	assert_string_equal(hcs[0].where, "CHECKS line 3");
	assert_null(hcs[0].host);
	assert_int_equal(hcs[0].status, 0);
	/* Dokku's defaults: 5 s before each try, 30 s a try, 5 tries */
	assert_int_equal(hcs[0].initial_delay, CHECKS_WAIT);
	assert_int_equal(hcs[0].wait, CHECKS_WAIT);
	assert_int_equal(hcs[0].timeout, CHECKS_TIMEOUT);
	assert_int_equal(hcs[0].attempts, CHECKS_ATTEMPTS);
	assert_string_equal(hcs[1].path, "/images/logo.png");
	assert_null(hcs[1].content);
	assert_string_equal(hcs[1].where, "CHECKS line 4");
}

static void
test_settings(void **state)
{
	(void)state;
	/* comments after a setting, CR LF, settings after the checks too */
	parse_ok("WAIT=0     # no wait\r\nTIMEOUT=60  # a minute\r\n"
	    "/  My Amazing App\r\nATTEMPTS=10 # ten tries\r\n", 1);
	assert_int_equal(hcs[0].initial_delay, 0);
	assert_int_equal(hcs[0].wait, 0);
	assert_int_equal(hcs[0].timeout, 60);
	assert_int_equal(hcs[0].attempts, 10);
	assert_string_equal(hcs[0].content, "My Amazing App");
	parse_ok("WAIT=1\n", 0);
}

static void
test_hosts(void **state)
{
	(void)state;
	parse_ok("//admin.example.com  Admin Dashboard\n"
	    "//static.example.com/logo.png\n"
	    "https://admin.example.com/login  Log in\n"
	    "http://example.com\n", 4);
	assert_string_equal(hcs[0].host, "admin.example.com");
	assert_string_equal(hcs[0].path, "/");
	assert_string_equal(hcs[0].content, "Admin Dashboard");
	assert_string_equal(hcs[1].host, "static.example.com");
	assert_string_equal(hcs[1].path, "/logo.png");
	assert_int_equal(hcs[1].https, 0);
	assert_string_equal(hcs[2].host, "admin.example.com");
	assert_string_equal(hcs[2].path, "/login");
	assert_int_equal(hcs[2].https, 1);
	assert_string_equal(hcs[3].host, "example.com");
	assert_string_equal(hcs[3].path, "/");
}

static void
test_refused(void **state)
{
	(void)state;
	parse_fails("/ ok\nabout  Our Team\n", "CHECKS line 2: 'about' is not "
	    "a check: start it with '/' (a path), '//HOST/' or 'http(s)://'");
	parse_fails("WAIT=soon\n/\n", "CHECKS line 1: WAIT=soon: expected a "
	    "whole number from 0 to 600");
	parse_fails("ATTEMPTS=0\n", "CHECKS line 1: ATTEMPTS=0: expected a "
	    "whole number from 1 to 100");
	parse_fails("TIMEOUT=\n", "CHECKS line 1: TIMEOUT=: expected a whole "
	    "number from 1 to 600");
	parse_fails("/\nRETRIES=3\n", "CHECKS line 2: unknown setting "
	    "'RETRIES': use WAIT=, TIMEOUT= or ATTEMPTS=");
	parse_fails("///x\n", "CHECKS line 1: '///x' names no host");
}

/* Control bytes in a check's target: refused, shown escaped. */
static void
test_control_bytes(void **state)
{
	(void)state;
	parse_fails("/a\x1b[31mb ok\n", "CHECKS line 1: '/a\\x1b[31mb' holds "
	    "a control byte: a check is a URL path, e.g. /health");
	parse_fails("/\n/x\ry ok\n", "CHECKS line 2: '/x\\x0dy' holds a "
	    "control byte: a check is a URL path, e.g. /health");
	parse_fails("//ho\x7fst/ ok\n", "CHECKS line 1: '//ho\\x7fst/' holds "
	    "a control byte: a check is a URL path, e.g. /health");
	/* A CRLF file is fine: the CR ends the line. */
	assert_int_equal(checks_parse("/ ok\r\n", 6, &hcs, &nhcs), 0);
	assert_int_equal(nhcs, 1);
	assert_string_equal(hcs[0].path, "/");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_defaults, clear_checks),
		cmocka_unit_test_teardown(test_settings, clear_checks),
		cmocka_unit_test_teardown(test_hosts, clear_checks),
		cmocka_unit_test_teardown(test_refused, clear_checks),
		cmocka_unit_test_teardown(test_control_bytes, clear_checks),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
