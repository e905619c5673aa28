/*
 * test-control.c - berthd's control request parser (control.h): one
 * JSON object a line, and the words of each refusal, a NUL byte or
 * bytes after the object among them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control.h"
#include "util.h"

static void
parse_fails(const char *line, size_t len, const char *msg)
{
	json_t *req = (json_t *)1;

	berth_clear_error();
	assert_int_equal(control_parse_request(line, len, &req), -1);
	assert_null(req);
	assert_string_equal(berth_last_error(), msg);
}

static void
test_object(void **state)
{
	static const char line[] = "{\"cmd\": \"deploy\", \"app\": \"shop\"}\r";
	json_t *req;

	(void)state;
	assert_int_equal(control_parse_request(line, strlen(line), &req), 0);
	assert_string_equal(json_string_value(json_object_get(req, "cmd")),
	    "deploy");
	assert_string_equal(json_string_value(json_object_get(req, "app")),
	    "shop");
	json_decref(req);
	/* Only len bytes are read: what follows is not the request's. */
	assert_int_equal(control_parse_request("{}{}", 2, &req), 0);
	json_decref(req);
}

static void
test_refused(void **state)
{
	static const char nul[] = "{}\0junk";

	(void)state;
	parse_fails(nul, sizeof(nul) - 1, "control: bad request: a NUL byte "
	    "at offset 2; send one JSON object on one line");
	parse_fails("\0", 1, "control: bad request: a NUL byte at offset 0; "
	    "send one JSON object on one line");
	parse_fails("{} {}", 5, "control: bad request: end of file expected "
	    "near '{'");
	parse_fails("[\"status\"]", 10, "control: bad request: expected a "
	    "JSON object ({\"cmd\": ...})");
	parse_fails("", 0, "control: bad request: '[' or '{' expected near "
	    "end of file");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_object),
		cmocka_unit_test(test_refused),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
