/*
 * test-slugignore.c - .slugignore patterns (slug.h): what a line
 * becomes (comments, blanks, white space, a trailing '/', a leading
 * '/'), how names and paths match, and that the parser reads only the
 * bytes it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slug.h"

static struct slugignore si;

static int
clear(void **state)
{
	(void)state;
	slugignore_clear(&si);
	return 0;
}

static void
parse(const char *text)
{
	slugignore_clear(&si);
	slugignore_parse(text, strlen(text), &si);
}

static void
test_lines(void **state)
{
	(void)state;
	parse("# not in the slug\n\n  \t\r\n/docs\r\n  *.log  \nnode_modules/\n"
	    "/\n");
	assert_int_equal(si.nr, 3);
	assert_string_equal(si.items[0].glob, "docs");
	assert_true(si.items[0].anchored);
	assert_false(si.items[0].dir_only);
	assert_string_equal(si.items[1].glob, "*.log");
	assert_false(si.items[1].anchored);
	assert_string_equal(si.items[2].glob, "node_modules");
	assert_true(si.items[2].dir_only);
	assert_false(si.items[2].anchored);
	parse("");
	assert_int_equal(si.nr, 0);
	parse("last line without a newline");
	assert_int_equal(si.nr, 1);
	assert_string_equal(si.items[0].glob, "last line without a newline");
}

static void
test_match(void **state)
{
	(void)state;
	parse("/docs\n*.log\nnode_modules/\ntest/fixtures/*.json\n");
	assert_true(slugignore_match(&si, "docs", 1));
	assert_false(slugignore_match(&si, "src/docs", 1));
	assert_true(slugignore_match(&si, "app.log", 0));
	assert_true(slugignore_match(&si, "a/b/app.log", 0));
	assert_true(slugignore_match(&si, "node_modules", 1));
	assert_true(slugignore_match(&si, "lib/node_modules", 1));
	assert_false(slugignore_match(&si, "node_modules", 0));
	assert_true(slugignore_match(&si, "test/fixtures/a.json", 0));
	assert_false(slugignore_match(&si, "test/fixtures/a/b.json", 0));
	assert_false(slugignore_match(&si, "src/app.js", 0));
}

static void
test_bounded(void **state)
{
	static const char text[] = "*.log\n*.tmp\0\n*.bak\n";

	(void)state;
	slugignore_clear(&si);
	slugignore_parse(text, 5, &si);
	assert_int_equal(si.nr, 1);
	assert_string_equal(si.items[0].glob, "*.log");
	assert_false(slugignore_match(&si, "a.tmp", 0));
	slugignore_clear(&si);
	/* A NUL byte ends its line; the lines after it still count. */
	slugignore_parse(text, sizeof(text) - 1, &si);
	assert_int_equal(si.nr, 3);
	assert_string_equal(si.items[1].glob, "*.tmp");
	assert_string_equal(si.items[2].glob, "*.bak");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lines, clear),
		cmocka_unit_test_teardown(test_match, clear),
		cmocka_unit_test_teardown(test_bounded, clear),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
