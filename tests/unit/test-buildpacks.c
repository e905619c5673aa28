/*
 * test-buildpacks.c - the .buildpacks file as heroku-buildpack-multi and
 * Dokku read it (buildpack_list_parse()), and the names URL#REF sources
 * install as.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buildpack.h"
#include "util.h"

static void
parses(const char *text, size_t n, const char *const *want)
{
	struct strvec v = STRVEC_INIT;
	size_t i;

	berth_clear_error();
	if (buildpack_list_parse(text, strlen(text), &v) != 0)
		fail_msg("'%s' refused: %s", text, berth_last_error());
	assert_int_equal(v.nr, n);
	for (i = 0; i < n; i++)
		assert_string_equal(v.v[i], want[i]);
	strvec_clear(&v);
}

static void
test_lines(void **state)
{
	static const char *const two[] = {
		"https://github.com/heroku/heroku-buildpack-nodejs.git",
		"heroku/python",
	};
	static const char *const pinned[] = {
		"https://github.com/heroku/heroku-buildpack-ruby#v250",
	};

	(void)state;
	parses("https://github.com/heroku/heroku-buildpack-nodejs.git\n"
	    "heroku/python\n", 2, two);
	/* comments, blank lines, indentation, CR LF, no final newline */
	parses("# the app's buildpacks\n\n  https://github.com/heroku/"
	    "heroku-buildpack-nodejs.git  \r\n\t# python next\r\n"
	    "heroku/python", 2, two);
	parses("\xef\xbb\xbfhttps://github.com/heroku/heroku-buildpack-nodejs"
	    ".git\nheroku/python\n", 2, two);
	/* '#' inside a URL pins a ref; it is not a comment */
	parses("https://github.com/heroku/heroku-buildpack-ruby#v250\n", 1,
	    pinned);
	parses("", 0, NULL);
	parses("# nothing\n\n   \n", 0, NULL);
}

static void
test_refused(void **state)
{
	struct strvec v = STRVEC_INIT;
	const char *text = "heroku/nodejs\nheroku/python heroku/ruby\n";

	(void)state;
	assert_int_equal(buildpack_list_parse(text, strlen(text), &v), -1);
	assert_string_equal(berth_last_error(), ".buildpacks line 2: "
	    "expected one buildpack URL or name a line");
	strvec_clear(&v);
}

static void
test_names(void **state)
{
	char *n;

	(void)state;
	n = buildpack_name_for("https://github.com/heroku/"
	    "heroku-buildpack-ruby.git#v250");
	assert_string_equal(n, "ruby");
	free(n);
	n = buildpack_name_for("heroku/nodejs");
	assert_string_equal(n, "nodejs");
	free(n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_names),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
