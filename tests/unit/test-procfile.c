/*
 * test-procfile.c - Procfile and bin/release parsing, and the JSON form
 * of process types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "procfile.h"
#include "util.h"

/* Warnings collected by collect_warn(), joined with '\n'. */
static struct strbuf warnings = STRBUF_INIT;

static void
collect_warn(const char *msg, void *data)
{
	int *count = data;

	(*count)++;
	strbuf_addstr(&warnings, msg);
	strbuf_addch(&warnings, '\n');
}

static int
teardown(void **state)
{
	(void)state;
	strbuf_release(&warnings);
	return 0;
}

/* Parse text, which must succeed with nwarn warnings. */
static void
parse_ok(const char *text, struct proctypes *pt, int nwarn)
{
	int count = 0;

	berth_clear_error();
	if (procfile_parse(text, strlen(text), pt, collect_warn, &count) != 0)
		fail_msg("refused: %s", berth_last_error());
	assert_int_equal(count, nwarn);
}

/* Parse text, which must fail with exactly msg and leave pt empty. */
static void
parse_fails(const char *text, const char *msg)
{
	struct proctypes pt = { NULL, 0 };

	berth_clear_error();
	assert_int_equal(procfile_parse(text, strlen(text), &pt, NULL, NULL),
	    -1);
	assert_string_equal(berth_last_error(), msg);
	assert_int_equal(pt.nr, 0);
	proctypes_clear(&pt);
}

static void
test_procfile_basic(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	parse_ok("web: node server.js\nworker: node worker.js\n", &pt, 0);
	assert_int_equal(pt.nr, 2);
	assert_string_equal(pt.items[0].name, "web");
	assert_string_equal(pt.items[0].command, "node server.js");
	assert_string_equal(pt.items[1].name, "worker");
	assert_string_equal(proctypes_get(&pt, "worker"), "node worker.js");
	assert_null(proctypes_get(&pt, "clock"));
	proctypes_clear(&pt);
	assert_int_equal(pt.nr, 0);
	assert_null(pt.items);
}

static void
test_procfile_whitespace_comments(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	parse_ok("# the app\n\n   \n  web  :\t bundle exec puma -b "
	    "tcp://0.0.0.0:$PORT  \n\t# indented comment\nrelease:./bin/"
	    "migrate # not a comment\n", &pt, 0);
	assert_int_equal(pt.nr, 2);
	assert_string_equal(proctypes_get(&pt, "web"),
	    "bundle exec puma -b tcp://0.0.0.0:$PORT");
	assert_string_equal(proctypes_get(&pt, "release"),
	    "./bin/migrate # not a comment");
	proctypes_clear(&pt);
}

static void
test_procfile_crlf_bom(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	parse_ok("\xef\xbb\xbfweb: python app.py\r\nworker: celery\r\n", &pt,
	    0);
	assert_int_equal(pt.nr, 2);
	assert_string_equal(pt.items[0].name, "web");
	assert_string_equal(pt.items[0].command, "python app.py");
	assert_string_equal(pt.items[1].command, "celery");
	proctypes_clear(&pt);

	/* No final newline; a BOM only counts at the very start. */
	parse_ok("web: a", &pt, 0);
	assert_string_equal(proctypes_get(&pt, "web"), "a");
	proctypes_clear(&pt);
	parse_fails("web: a\n\xef\xbb\xbfworker: b\n", "Procfile line 2: "
	    "'\xef\xbb\xbfworker' is not a valid process type: use letters, "
	    "digits, '-' and '_'");
	parse_fails("web: a\r\nbad line\r\n", "Procfile line 2: expected "
	    "'type: command'");
}

static void
test_procfile_duplicate(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	parse_ok("web: one\nworker: w\n\n# x\nweb: two\n", &pt, 1);
	assert_string_equal(strbuf_str(&warnings), "Procfile line 5: "
	    "duplicate process type 'web'; the last one wins\n");
	assert_int_equal(pt.nr, 2);
	assert_string_equal(pt.items[0].name, "web");
	assert_string_equal(pt.items[0].command, "two");
	assert_string_equal(pt.items[1].name, "worker");
	proctypes_clear(&pt);

	/* A NULL warn callback is fine. */
	assert_int_equal(procfile_parse("web: a\nweb: b\n", 14, &pt, NULL,
	    NULL), 0);
	assert_string_equal(proctypes_get(&pt, "web"), "b");
	proctypes_clear(&pt);
}

static void
test_procfile_errors(void **state)
{
	(void)state;
	parse_fails("web: a\n\nwe b: c\n", "Procfile line 3: 'we b' is not a "
	    "valid process type: use letters, digits, '-' and '_'");
	parse_fails("web node server.js\n", "Procfile line 1: expected "
	    "'type: command'");
	parse_fails("# c\nweb: a\nworker:\n", "Procfile line 3: process type "
	    "'worker' has no command");
	parse_fails("web:   \t\n", "Procfile line 1: process type 'web' has "
	    "no command");
	parse_fails(": cmd\n", "Procfile line 1: '' is not a valid process "
	    "type: use letters, digits, '-' and '_'");
	parse_fails("-web: cmd\n", "Procfile line 1: '-web' is not a valid "
	    "process type: start with a letter or digit");
	parse_fails("w\x01: cmd\n", "Procfile line 1: 'w\\x01' is not a valid "
	    "process type: use letters, digits, '-' and '_'");
	parse_fails("web: caf\xe9\n", "Procfile line 1: the command for 'web' "
	    "is not valid UTF-8");
}

static void
test_procfile_nul_and_empty(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	berth_clear_error();
	assert_int_equal(procfile_parse("web: a\nwork\0er: b\n", 18, &pt,
	    NULL, NULL), -1);
	assert_string_equal(berth_last_error(), "Procfile line 2: contains a "
	    "NUL byte");
	assert_int_equal(pt.nr, 0);

	parse_ok("", &pt, 0);
	assert_int_equal(pt.nr, 0);
	parse_ok("# only comments\n\n", &pt, 0);
	assert_int_equal(pt.nr, 0);
	parse_ok("\xef\xbb\xbf", &pt, 0);
	assert_int_equal(pt.nr, 0);
}

/* A failed parse leaves what out already held alone. */
static void
test_procfile_keeps_out_on_error(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	proctypes_set(&pt, "web", "old");
	assert_int_equal(procfile_parse("web: new\nbad\n", 13, &pt, NULL,
	    NULL), -1);
	assert_int_equal(pt.nr, 1);
	assert_string_equal(proctypes_get(&pt, "web"), "old");
	proctypes_clear(&pt);
}

static void
test_set_and_merge(void **state)
{
	struct proctypes a = { NULL, 0 }, b = { NULL, 0 };

	(void)state;
	proctypes_set(&a, "web", "procfile web");
	proctypes_set(&a, "worker", "w");
	proctypes_set(&a, "web", "replaced");
	assert_int_equal(a.nr, 2);
	assert_string_equal(a.items[0].command, "replaced");
	proctypes_set(&b, "web", "buildpack web");
	proctypes_set(&b, "console", "irb");
	proctypes_merge_missing(&a, &b);
	assert_int_equal(a.nr, 3);
	assert_string_equal(proctypes_get(&a, "web"), "replaced");
	assert_string_equal(a.items[2].name, "console");
	assert_string_equal(a.items[2].command, "irb");
	proctypes_clear(&a);
	proctypes_clear(&b);
	proctypes_clear(&b);
}

/* Parse bin/release output, which must succeed. */
static void
release_ok(const char *text, struct proctypes *pt)
{
	berth_clear_error();
	if (release_yaml_parse(text, pt) != 0)
		fail_msg("refused: %s", berth_last_error());
}

static void
release_fails(const char *text, const char *msg)
{
	struct proctypes pt = { NULL, 0 };

	berth_clear_error();
	assert_int_equal(release_yaml_parse(text, &pt), -1);
	assert_string_equal(berth_last_error(), msg);
	assert_int_equal(pt.nr, 0);
}

static void
test_release_yaml(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	release_ok("---\n"
	    "addons:\n"
	    "  - heroku-postgresql\n"
	    "config_vars:\n"
	    "  PATH: /app/bin:/usr/bin\n"
	    "  LANG: en_US.UTF-8\n"
	    "default_process_types:\n"
	    "  web: node server.js\n"
	    "  worker: 'node worker.js --queue=a:b'\n"
	    "  clock: \"bin/clock\"   # every minute\n"
	    "  quoted: 'it''s'\n"
	    "  plain: echo hi # a comment\n"
	    "  hash: echo a#b\n"
	    "other: x\n", &pt);
	assert_int_equal(pt.nr, 6);
	assert_string_equal(pt.items[0].name, "web");
	assert_string_equal(pt.items[0].command, "node server.js");
	assert_string_equal(proctypes_get(&pt, "worker"),
	    "node worker.js --queue=a:b");
	assert_string_equal(proctypes_get(&pt, "clock"), "bin/clock");
	assert_string_equal(proctypes_get(&pt, "quoted"), "it''s");
	assert_string_equal(proctypes_get(&pt, "plain"), "echo hi");
	assert_string_equal(proctypes_get(&pt, "hash"), "echo a#b");
	assert_null(proctypes_get(&pt, "PATH"));
	proctypes_clear(&pt);
}

static void
test_release_yaml_variants(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	release_ok("", &pt);
	assert_int_equal(pt.nr, 0);
	release_ok("---\n", &pt);
	assert_int_equal(pt.nr, 0);
	release_ok("--- \ndefault_process_types: {}\n", &pt);
	assert_int_equal(pt.nr, 0);
	release_ok("default_process_types:\naddons: []\n", &pt);
	assert_int_equal(pt.nr, 0);
	release_ok("default_process_types: ~\n", &pt);
	assert_int_equal(pt.nr, 0);
	release_ok("config_vars:\n  A: b\n", &pt);
	assert_int_equal(pt.nr, 0);

	/* No "---", CRLF, four-space indent, comments and blank lines. */
	release_ok("# from bin/release\r\ndefault_process_types:\r\n\r\n"
	    "    web: \"bin/start\"\r\n    # later\r\n    worker: w\r\n", &pt);
	assert_int_equal(pt.nr, 2);
	assert_string_equal(proctypes_get(&pt, "web"), "bin/start");
	assert_string_equal(proctypes_get(&pt, "worker"), "w");
	proctypes_clear(&pt);

	/* The keys after the mapping are not process types. */
	release_ok("default_process_types:\n  web: a\nconfig_vars:\n"
	    "  web: not-a-type\n", &pt);
	assert_int_equal(pt.nr, 1);
	assert_string_equal(proctypes_get(&pt, "web"), "a");
	proctypes_clear(&pt);
}

static void
test_release_yaml_errors(void **state)
{
	(void)state;
	release_fails("default_process_types:\n  web node\n", "bin/release "
	    "line 2: expected 'type: command' under default_process_types");
	release_fails("default_process_types:\n  web: a\n    more\n",
	    "bin/release line 3: expected 'type: command' indented like the "
	    "lines above it");
	release_fails("default_process_types:\n  web: >\n    long\n",
	    "bin/release line 2: multi-line commands ('|' or '>') are not "
	    "supported; put the command on one line");
	release_fails("default_process_types:\n  we b: x\n", "bin/release "
	    "line 2: 'we b' is not a valid process type: use letters, "
	    "digits, '-' and '_'");
	release_fails("default_process_types:\n  web:\n", "bin/release "
	    "line 2: process type 'web' has no command");
	release_fails("default_process_types:\n  web: ''\n", "bin/release "
	    "line 2: process type 'web' has no command");
	release_fails("default_process_types: {web: x}\n", "bin/release "
	    "line 1: default_process_types must be followed by indented "
	    "'type: command' lines");
	release_fails("just text\n", "bin/release line 1: expected 'key:' at "
	    "the top level");
	release_fails("default_process_types:\n\tweb: x\n", "bin/release "
	    "line 2: YAML does not allow tabs for indentation");
	release_fails("---\na: b\n---\n", "bin/release line 3: only one YAML "
	    "document is allowed");
}

static void
test_json_roundtrip(void **state)
{
	struct proctypes pt = { NULL, 0 }, back = { NULL, 0 };
	char *json;

	(void)state;
	json = proctypes_to_json(&pt);
	assert_string_equal(json, "{}");
	free(json);

	proctypes_set(&pt, "web", "node server.js");
	proctypes_set(&pt, "worker", "say \"hi\" \\ caf\xc3\xa9");
	proctypes_set(&pt, "clock", "c");
	json = proctypes_to_json(&pt);
	assert_string_equal(json, "{\"web\":\"node server.js\",\"worker\":"
	    "\"say \\\"hi\\\" \\\\ caf\xc3\xa9\",\"clock\":\"c\"}");
	assert_int_equal(proctypes_from_json(json, &back), 0);
	free(json);
	assert_int_equal(back.nr, 3);
	assert_string_equal(back.items[0].name, "web");
	assert_string_equal(back.items[1].name, "worker");
	assert_string_equal(back.items[1].command, "say \"hi\" \\ caf\xc3\xa9");
	assert_string_equal(back.items[2].name, "clock");
	proctypes_clear(&pt);
	proctypes_clear(&back);
}

static void
test_json_errors(void **state)
{
	struct proctypes pt = { NULL, 0 };

	(void)state;
	assert_int_equal(proctypes_from_json("[1]", &pt), -1);
	assert_string_equal(berth_last_error(), "process types must be a JSON "
	    "object");
	assert_int_equal(proctypes_from_json("{\"web\": 1}", &pt), -1);
	assert_string_equal(berth_last_error(), "process type 'web' must map "
	    "to a command string");
	assert_int_equal(proctypes_from_json("{\"we b\": \"x\"}", &pt), -1);
	assert_string_equal(berth_last_error(), "'we b' is not a valid "
	    "process type: use letters, digits, '-' and '_'");
	assert_int_equal(proctypes_from_json("{", &pt), -1);
	assert_non_null(strstr(berth_last_error(), "not valid JSON"));
	assert_int_equal(proctypes_from_json("{\"a\":\"1\",\"a\":\"2\"}", &pt),
	    -1);
	assert_int_equal(pt.nr, 0);

	/* Commands that did not come through a parser may be bad UTF-8. */
	proctypes_set(&pt, "web", "caf\xe9");
	assert_null(proctypes_to_json(&pt));
	assert_string_equal(berth_last_error(), "process type 'web' cannot be "
	    "stored: its command is not valid UTF-8");
	proctypes_clear(&pt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_procfile_basic),
		cmocka_unit_test(test_procfile_whitespace_comments),
		cmocka_unit_test(test_procfile_crlf_bom),
		cmocka_unit_test_teardown(test_procfile_duplicate, teardown),
		cmocka_unit_test(test_procfile_errors),
		cmocka_unit_test(test_procfile_nul_and_empty),
		cmocka_unit_test(test_procfile_keeps_out_on_error),
		cmocka_unit_test(test_set_and_merge),
		cmocka_unit_test(test_release_yaml),
		cmocka_unit_test(test_release_yaml_variants),
		cmocka_unit_test(test_release_yaml_errors),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_errors),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
