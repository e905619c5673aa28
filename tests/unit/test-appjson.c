/*
 * test-appjson.c - app.json: every form berth reads (name, buildpacks,
 * healthchecks, env, formation, scripts, environments.test and
 * environments.review), the exact text of every error, the notes for
 * ignored keys, the merged env of an environment, and the size limit
 * through appjson_load().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "appjson.h"
#include "util.h"

/* Notes collected by collect_note(), each followed by '\n'. */
static struct strbuf notes = STRBUF_INIT;

static void
collect_note(const char *msg, void *data)
{
	int *count = data;

	(*count)++;
	strbuf_addstr(&notes, msg);
	strbuf_addch(&notes, '\n');
}

static int
reset_notes(void **state)
{
	(void)state;
	strbuf_release(&notes);
	return 0;
}

/* Whether every byte of aj is zero, as after a failed parse or clear. */
static int
is_empty(const struct appjson *aj)
{
	static const struct appjson zero;

	return memcmp(aj, &zero, sizeof(zero)) == 0;
}

/* Parse text, which must succeed with exactly nnotes notes. */
static void
parse_ok(const char *text, struct appjson *aj, int nnotes)
{
	int count = 0;

	strbuf_reset(&notes);
	berth_clear_error();
	if (appjson_parse(text, strlen(text), aj, collect_note, &count) != 0)
		fail_msg("refused: %s", berth_last_error());
	if (count != nnotes)
		fail_msg("%d notes, expected %d:\n%s", count, nnotes,
		    strbuf_str(&notes));
}

/* Parse text, which must fail with exactly msg and leave aj empty. */
static void
parse_fails(const char *text, const char *msg)
{
	struct appjson aj;

	memset(&aj, 0xa5, sizeof(aj));
	berth_clear_error();
	assert_int_equal(appjson_parse(text, strlen(text), &aj, NULL, NULL),
	    -1);
	assert_string_equal(berth_last_error(), msg);
	assert_true(is_empty(&aj));
	appjson_clear(&aj);
}

static const struct appjson_env *
env_get(const struct appjson_env *env, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(env[i].key, key) == 0)
			return &env[i];
	return NULL;
}

/* ---- the whole file ---- */

static void
test_empty_object(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok("{}", &aj, 0);
	assert_true(is_empty(&aj));
	assert_null(appjson_check(&aj, "web"));
	appjson_clear(&aj);
	parse_ok("  {\n}\n", &aj, 0);
	assert_true(is_empty(&aj));
	appjson_clear(&aj);
	/* Clearing twice is harmless. */
	appjson_clear(&aj);
	assert_true(is_empty(&aj));
}

static void
test_top_level_not_object(void **state)
{
	(void)state;
	parse_fails("[]", "app.json: expected a JSON object at the top");
	parse_fails("[1, 2]", "app.json: expected a JSON object at the top");
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	parse_fails("", "app.json line 1 column 0: '[' or '{' expected near "
	    "end of file");
	parse_fails("{", "app.json line 1 column 1: string or '}' expected "
	    "near end of file");
	parse_fails("{\n  \"name\": \n}", "app.json line 3 column 1: "
	    "unexpected token near '}'");
	parse_fails("{} x", "app.json line 1 column 4: end of file expected "
	    "near 'x'");
	parse_fails("{\"name\": \"a\\u0000b\"}", "app.json line 1 column 19: "
	    "a string holds \\u0000 (a NUL byte), which berth does not "
	    "take");
}

static void
test_duplicate_keys(void **state)
{
	(void)state;
	parse_fails("{\"name\": \"a\",\n \"name\": \"b\"}",
	    "app.json line 2 column 7: duplicate object key near '\"name\"'");
	parse_fails("{\"env\": {\"A\": \"1\", \"A\": \"2\"}}",
	    "app.json line 1 column 22: duplicate object key near '\"A\"'");
}

static void
test_unknown_keys_noted(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok("{\"name\": \"shop\", \"description\": \"d\", \"addons\": [],"
	    " \"bogus\": 1, \"other\": {}}", &aj, 2);
	assert_string_equal(strbuf_str(&notes),
	    "app.json: unknown key 'bogus' ignored\n"
	    "app.json: unknown key 'other' ignored\n");
	assert_string_equal(aj.name, "shop");
	appjson_clear(&aj);
	/* No callback: still parses. */
	assert_int_equal(appjson_parse("{\"x\": 1}", 8, &aj, NULL, NULL), 0);
	appjson_clear(&aj);
}

static void
test_parse_too_large(void **state)
{
	struct appjson aj;
	size_t len = APPJSON_MAX_SIZE + 1;
	char *text = xmalloc(len);

	(void)state;
	memset(text, ' ', len);
	text[0] = '{';
	text[len - 1] = '}';
	berth_clear_error();
	assert_int_equal(appjson_parse(text, len, &aj, NULL, NULL), -1);
	assert_string_equal(berth_last_error(),
	    "app.json is larger than 1 MB");
	assert_true(is_empty(&aj));
	/* Exactly the limit is fine. */
	text[len - 2] = '}';
	assert_int_equal(appjson_parse(text, len - 1, &aj, NULL, NULL), 0);
	appjson_clear(&aj);
	free(text);
}

/* ---- name, buildpacks, healthchecks ---- */

static void
test_name_buildpacks(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok("{\"name\": \"shop\", \"buildpacks\": [\"https://a/b\", "
	    "{\"url\": \"heroku/nodejs\"}]}", &aj, 0);
	assert_string_equal(aj.name, "shop");
	assert_int_equal(aj.buildpacks.nr, 2);
	assert_string_equal(aj.buildpacks.v[0], "https://a/b");
	assert_string_equal(aj.buildpacks.v[1], "heroku/nodejs");
	appjson_clear(&aj);

	parse_fails("{\"name\": 3}", "app.json: name: expected a string");
	parse_fails("{\"buildpacks\": {}}", "app.json: buildpacks: expected "
	    "an array of {\"url\": ...} objects");
	parse_fails("{\"buildpacks\": [\"a\", 3]}", "app.json: buildpacks[1]: "
	    "expected an object with a \"url\"");
	parse_fails("{\"buildpacks\": [{\"url\": 3}]}", "app.json: "
	    "buildpacks[0].url: expected a string");
}

static void
test_healthchecks(void **state)
{
	struct appjson aj;
	const struct healthcheck *hc;

	(void)state;
	/* An entry without a path (Dokku's uptime check) is skipped, said. */
	parse_ok("{\"healthchecks\": {\"web\": [{\"type\": \"startup\"}, "
	    "{\"path\": \"/up\", \"status\": 204}], \"api\": [{\"path\": "
	    "\"/\", \"timeout\": 2, \"attempts\": 7}]}}", &aj, 1);
	assert_string_equal(strbuf_str(&notes), "app.json: healthchecks.web[0] "
	    "has no path: berth runs only HTTP checks; skipped\n");
	assert_int_equal(aj.nchecks, 2);
	hc = appjson_check(&aj, "web");
	assert_non_null(hc);
	assert_string_equal(hc->path, "/up");
	assert_int_equal(hc->status, 204);
	assert_int_equal(hc->timeout, 5);
	assert_int_equal(hc->attempts, 3);
	hc = appjson_check(&aj, "api");
	assert_non_null(hc);
	assert_int_equal(hc->status, 0);
	assert_int_equal(hc->timeout, 2);
	assert_int_equal(hc->attempts, 7);
	assert_null(appjson_check(&aj, "worker"));
	appjson_clear(&aj);

	/* Dokku's keys; the ones berth does not support are named. */
	parse_ok("{\"healthchecks\": {\"web\": [{\"type\": \"startup\", "
	    "\"name\": \"web check\", \"description\": \"d\", \"path\": "
	    "\"/about\", \"content\": \"Our Amazing Team\", \"wait\": 2, "
	    "\"initialDelay\": 4, \"timeout\": 3, \"attempts\": 6, "
	    "\"port\": 5000, \"httpHeaders\": []}, {\"type\": \"liveness\", "
	    "\"path\": \"/live\"}, {\"path\": \"/x\", \"bogus\": 1}]}}",
	    &aj, 4);
	assert_string_equal(strbuf_str(&notes),
	    "app.json: healthchecks.web[0].port is not supported by berth; "
	    "ignored\n"
	    "app.json: healthchecks.web[0].httpHeaders is not supported by "
	    "berth; ignored\n"
	    "app.json: healthchecks.web[1]: type 'liveness' is not supported "
	    "by berth (only \"startup\" checks gate a rollout); skipped\n"
	    "app.json: unknown key 'healthchecks.web[2].bogus' ignored\n");
	assert_int_equal(aj.nchecks, 2);
	hc = appjson_check(&aj, "web");
	assert_string_equal(hc->name, "web check");
	assert_string_equal(hc->path, "/about");
	assert_string_equal(hc->content, "Our Amazing Team");
	assert_int_equal(hc->wait, 2);
	assert_int_equal(hc->initial_delay, 4);
	assert_int_equal(hc->timeout, 3);
	assert_int_equal(hc->attempts, 6);
	assert_string_equal(hc->where, "app.json healthchecks.web");
	assert_string_equal(aj.checks[1].path, "/x");
	assert_int_equal(aj.checks[1].wait, 1);
	assert_int_equal(aj.checks[1].initial_delay, 0);
	assert_null(aj.checks[1].content);
	appjson_clear(&aj);

	parse_fails("{\"healthchecks\": {\"web\": [{\"path\": \"/\", "
	    "\"content\": 3}]}}", "app.json: healthchecks.web[0].content: "
	    "expected a string");
	parse_fails("{\"healthchecks\": {\"web\": [{\"path\": \"/\", "
	    "\"initialDelay\": -1}]}}", "app.json: healthchecks.web[0]."
	    "initialDelay: expected a whole number from 0 to 600");
	parse_fails("{\"healthchecks\": []}", "app.json: healthchecks: "
	    "expected an object of process types");
	parse_fails("{\"healthchecks\": {\"web\": {}}}", "app.json: "
	    "healthchecks.web: expected an array of checks");
	parse_fails("{\"healthchecks\": {\"web\": [3]}}", "app.json: "
	    "healthchecks.web[0]: expected an object");
	parse_fails("{\"healthchecks\": {\"web\": [{\"path\": \"up\"}]}}",
	    "app.json: healthchecks.web[0].path: expected a string starting "
	    "with '/'");
	parse_fails("{\"healthchecks\": {\"web\": [{\"path\": \"/\", "
	    "\"status\": 700}]}}", "app.json: healthchecks.web[0].status: "
	    "expected a whole number from 100 to 599");
}

/* ---- env ---- */

static void
test_env_forms(void **state)
{
	struct appjson aj;
	const struct appjson_env *e;

	(void)state;
	parse_ok("{\"env\": {"
	    "\"PLAIN\": \"x\", "
	    "\"EMPTY\": \"\", "
	    "\"DESCRIBED\": {\"description\": \"the db\"}, "
	    "\"DEFAULTED\": {\"description\": \"d\", \"value\": \"5\"}, "
	    "\"SECRET_KEY\": {\"generator\": \"secret\"}, "
	    "\"OPTIONAL\": {\"required\": false}, "
	    "\"FORCED\": {\"value\": \"v\", \"required\": true}, "
	    "\"SECRET_REQ\": {\"generator\": \"secret\", \"required\": true}, "
	    "\"_under\": {}"
	    "}}", &aj, 0);
	assert_int_equal(aj.nenv, 9);
	/* Order is the file's order. */
	assert_string_equal(aj.env[0].key, "PLAIN");
	assert_string_equal(aj.env[1].key, "EMPTY");
	assert_string_equal(aj.env[8].key, "_under");

	e = &aj.env[0];
	assert_string_equal(e->value, "x");
	assert_null(e->description);
	assert_int_equal(e->required, 0);
	assert_int_equal(e->secret, 0);

	e = &aj.env[1];
	assert_string_equal(e->value, "");
	assert_int_equal(e->required, 0);

	e = env_get(aj.env, aj.nenv, "DESCRIBED");
	assert_null(e->value);
	assert_string_equal(e->description, "the db");
	assert_int_equal(e->required, 1);
	assert_int_equal(e->secret, 0);

	e = env_get(aj.env, aj.nenv, "DEFAULTED");
	assert_string_equal(e->value, "5");
	assert_string_equal(e->description, "d");
	assert_int_equal(e->required, 0);

	e = env_get(aj.env, aj.nenv, "SECRET_KEY");
	assert_null(e->value);
	assert_int_equal(e->secret, 1);
	assert_int_equal(e->required, 0);

	e = env_get(aj.env, aj.nenv, "OPTIONAL");
	assert_null(e->value);
	assert_int_equal(e->required, 0);

	e = env_get(aj.env, aj.nenv, "FORCED");
	assert_string_equal(e->value, "v");
	assert_int_equal(e->required, 1);

	e = env_get(aj.env, aj.nenv, "SECRET_REQ");
	assert_int_equal(e->secret, 1);
	assert_int_equal(e->required, 1);

	e = env_get(aj.env, aj.nenv, "_under");
	assert_null(e->value);
	assert_null(e->description);
	assert_int_equal(e->required, 1);
	appjson_clear(&aj);

	parse_ok("{\"env\": {}}", &aj, 0);
	assert_int_equal(aj.nenv, 0);
	appjson_clear(&aj);
}

static void
test_env_unknown_member_noted(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok("{\"env\": {\"A\": {\"value\": \"1\", \"secret\": true}}}",
	    &aj, 1);
	assert_string_equal(strbuf_str(&notes),
	    "app.json: unknown key 'env.A.secret' ignored\n");
	assert_string_equal(aj.env[0].value, "1");
	appjson_clear(&aj);
}

static void
test_env_errors(void **state)
{
	char *text, *msg, longkey[301];

	(void)state;
	parse_fails("{\"env\": []}",
	    "app.json: env: expected an object of config vars");
	parse_fails("{\"env\": \"A=1\"}",
	    "app.json: env: expected an object of config vars");
	parse_fails("{\"env\": {\"1BAD\": \"x\"}}",
	    "app.json: env.1BAD: config var key '1BAD' is not valid: use "
	    "letters, digits and '_', not starting with a digit");
	parse_fails("{\"env\": {\"A-B\": \"x\"}}",
	    "app.json: env.A-B: config var key 'A-B' is not valid: use "
	    "letters, digits and '_', not starting with a digit");
	parse_fails("{\"env\": {\"\": \"x\"}}",
	    "app.json: env.: config var key '' is not valid: use "
	    "letters, digits and '_', not starting with a digit");
	parse_fails("{\"env\": {\"A\\u0001\": \"x\"}}",
	    "app.json: env.A\\x01: config var key 'A\\x01' is not valid: use "
	    "letters, digits and '_', not starting with a digit");
	parse_fails("{\"env\": {\"WEB_PORT\": 5000}}",
	    "app.json: env.WEB_PORT: expected a string or an object");
	parse_fails("{\"env\": {\"DEBUG\": true}}",
	    "app.json: env.DEBUG: expected a string or an object");
	parse_fails("{\"env\": {\"A\": null}}",
	    "app.json: env.A: expected a string or an object");
	parse_fails("{\"env\": {\"A\": [\"x\"]}}",
	    "app.json: env.A: expected a string or an object");
	parse_fails("{\"env\": {\"WEB_PORT\": {\"value\": 5000}}}",
	    "app.json: env.WEB_PORT.value: expected a string");
	parse_fails("{\"env\": {\"DEBUG\": {\"value\": false}}}",
	    "app.json: env.DEBUG.value: expected a string");
	parse_fails("{\"env\": {\"A\": {\"value\": null}}}",
	    "app.json: env.A.value: expected a string");
	parse_fails("{\"env\": {\"A\": {\"description\": 1}}}",
	    "app.json: env.A.description: expected a string");
	parse_fails("{\"env\": {\"A\": {\"required\": \"yes\"}}}",
	    "app.json: env.A.required: expected true or false");
	parse_fails("{\"env\": {\"A\": {\"required\": 1}}}",
	    "app.json: env.A.required: expected true or false");
	parse_fails("{\"env\": {\"A\": {\"generator\": \"uuid\"}}}",
	    "app.json: env.A.generator: unknown generator 'uuid': only "
	    "\"secret\" is supported");
	parse_fails("{\"env\": {\"A\": {\"generator\": true}}}",
	    "app.json: env.A.generator: expected a string");
	/* An error after good entries frees them (ASan checks). */
	parse_fails("{\"env\": {\"A\": {\"value\": \"1\", \"description\": "
	    "\"d\"}, \"B\": \"2\", \"C\": {\"description\": \"c\", "
	    "\"value\": 3}}}", "app.json: env.C.value: expected a string");

	/* A key too long for a config var: the path is cut, with "...". */
	memset(longkey, 'K', 300);
	longkey[300] = '\0';
	text = xasprintf("{\"env\": {\"%s\": \"x\"}}", longkey);
	berth_clear_error();
	{
		struct appjson aj;

		assert_int_equal(appjson_parse(text, strlen(text), &aj, NULL,
		    NULL), -1);
		assert_true(is_empty(&aj));
	}
	msg = xasprintf("app.json: env.%.124s...: config var key '",
	    longkey);
	assert_memory_equal(berth_last_error(), msg, strlen(msg));
	assert_non_null(strstr(berth_last_error(), "is too long (300 bytes): "
	    "use at most 255 bytes"));
	free(msg);
	free(text);
}

/* ---- formation ---- */

static void
test_formation_forms(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok("{\"formation\": {\"web\": {\"quantity\": 2, \"size\": "
	    "\"standard-1X\"}, \"worker\": {\"quantity\": 0}, "
	    "\"clock\": {}, \"big\": {\"quantity\": 1000, \"size\": 3}, "
	    "\"w_2-x\": {\"quantity\": 1}}}", &aj, 0);
	assert_int_equal(aj.nformation, 5);
	assert_string_equal(aj.formation[0].type, "web");
	assert_int_equal(aj.formation[0].quantity, 2);
	assert_string_equal(aj.formation[1].type, "worker");
	assert_int_equal(aj.formation[1].quantity, 0);
	/* Heroku's default quantity is 1. */
	assert_string_equal(aj.formation[2].type, "clock");
	assert_int_equal(aj.formation[2].quantity, 1);
	assert_string_equal(aj.formation[3].type, "big");
	assert_int_equal(aj.formation[3].quantity, 1000);
	assert_string_equal(aj.formation[4].type, "w_2-x");
	appjson_clear(&aj);

	parse_ok("{\"formation\": {\"web\": {\"quantity\": 1, \"autoscale\": "
	    "true}}}", &aj, 1);
	assert_string_equal(strbuf_str(&notes),
	    "app.json: unknown key 'formation.web.autoscale' ignored\n");
	appjson_clear(&aj);

	parse_ok("{\"formation\": {}}", &aj, 0);
	assert_int_equal(aj.nformation, 0);
	appjson_clear(&aj);
}

static void
test_formation_errors(void **state)
{
	(void)state;
	parse_fails("{\"formation\": [\"web\"]}",
	    "app.json: formation: expected an object of process types");
	parse_fails("{\"formation\": {\"web\": 2}}",
	    "app.json: formation.web: expected an object with a "
	    "\"quantity\"");
	parse_fails("{\"formation\": {\"we b\": {\"quantity\": 1}}}",
	    "app.json: formation.we b: 'we b' is not a valid process type: "
	    "use letters, digits, '-' and '_'");
	parse_fails("{\"formation\": {\"-web\": {\"quantity\": 1}}}",
	    "app.json: formation.-web: '-web' is not a valid process type: "
	    "start with a letter or digit");
	parse_fails("{\"formation\": {\"\": {\"quantity\": 1}}}",
	    "app.json: formation.: '' is not a valid process type: use "
	    "letters, digits, '-' and '_'");
	parse_fails("{\"formation\": {\"web\": {\"quantity\": -1}}}",
	    "app.json: formation.web.quantity: expected a whole number from "
	    "0 to 1000");
	parse_fails("{\"formation\": {\"web\": {\"quantity\": 1001}}}",
	    "app.json: formation.web.quantity: expected a whole number from "
	    "0 to 1000");
	parse_fails("{\"formation\": {\"web\": {\"quantity\": 1.5}}}",
	    "app.json: formation.web.quantity: expected a whole number from "
	    "0 to 1000");
	parse_fails("{\"formation\": {\"web\": {\"quantity\": \"2\"}}}",
	    "app.json: formation.web.quantity: expected a whole number from "
	    "0 to 1000");
	parse_fails("{\"formation\": {\"web\": {\"quantity\": true}}}",
	    "app.json: formation.web.quantity: expected a whole number from "
	    "0 to 1000");
	parse_fails("{\"formation\": {\"web\": {\"quantity\": "
	    "99999999999999999}}}",
	    "app.json: formation.web.quantity: expected a whole number from "
	    "0 to 1000");
	/* The good entries before the bad one are freed (ASan checks). */
	parse_fails("{\"formation\": {\"web\": {\"quantity\": 1}, "
	    "\"worker\": {\"quantity\": 2}, \"x\": {\"quantity\": -2}}}",
	    "app.json: formation.x.quantity: expected a whole number from "
	    "0 to 1000");
}

/* ---- scripts ---- */

static void
test_scripts(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok("{\"scripts\": {\"postdeploy\": \"bin/seed\", "
	    "\"pr-predestroy\": \"bin/cleanup --all\"}}", &aj, 0);
	assert_string_equal(aj.scripts.postdeploy, "bin/seed");
	assert_string_equal(aj.scripts.pr_predestroy, "bin/cleanup --all");
	assert_null(aj.scripts.test);
	assert_null(aj.scripts.test_setup);
	appjson_clear(&aj);

	/* Dokku's scripts; other names, the test ones at the top too, are
	 * noted. */
	parse_ok("{\"scripts\": {\"dokku\": {\"predeploy\": \"x\", "
	    "\"postdeploy\": \"y\", \"prebuild\": \"z\"}, "
	    "\"test\": \"make check\", \"postdeploy\": \"\"}}", &aj, 2);
	assert_string_equal(strbuf_str(&notes),
	    "app.json: unknown key 'scripts.dokku.prebuild' ignored\n"
	    "app.json: unknown key 'scripts.test' ignored\n");
	assert_string_equal(aj.scripts.dokku_predeploy, "x");
	assert_string_equal(aj.scripts.dokku_postdeploy, "y");
	assert_string_equal(aj.scripts.postdeploy, "");
	assert_null(aj.scripts.pr_predestroy);
	assert_null(aj.scripts.test);
	appjson_clear(&aj);

	parse_ok("{\"scripts\": {}}", &aj, 0);
	assert_null(aj.scripts.postdeploy);
	appjson_clear(&aj);

	parse_fails("{\"scripts\": {\"dokku\": \"x\"}}",
	    "app.json: scripts.dokku: expected an object of commands");
	parse_fails("{\"scripts\": {\"dokku\": {\"predeploy\": 1}}}",
	    "app.json: scripts.dokku.predeploy: expected a string");
	/* only at the top: environments.review's scripts do not know it */
	parse_ok("{\"environments\": {\"review\": {\"scripts\": "
	    "{\"dokku\": {}}}}}", &aj, 1);
	appjson_clear(&aj);
	parse_fails("{\"scripts\": \"bin/seed\"}",
	    "app.json: scripts: expected an object of commands");
	parse_fails("{\"scripts\": {\"postdeploy\": [\"bin/seed\"]}}",
	    "app.json: scripts.postdeploy: expected a string");
	parse_fails("{\"scripts\": {\"postdeploy\": \"a\", "
	    "\"pr-predestroy\": 5}}",
	    "app.json: scripts.pr-predestroy: expected a string");
}

/* ---- environments ---- */

static const char full_json[] =
    "{\n"
    "  \"name\": \"shop\",\n"
    "  \"env\": {\n"
    "    \"SECRET_TOKEN\": {\"generator\": \"secret\"},\n"
    "    \"DATABASE_URL\": {\"description\": \"db\", \"required\": true},\n"
    "    \"LANG\": \"en_US.UTF-8\",\n"
    "    \"WEB_CONCURRENCY\": \"4\"\n"
    "  },\n"
    "  \"formation\": {\"web\": {\"quantity\": 2}},\n"
    "  \"scripts\": {\"postdeploy\": \"bin/seed\"},\n"
    "  \"environments\": {\n"
    "    \"test\": {\n"
    "      \"scripts\": {\"test-setup\": \"bin/setup\", "
    "\"test\": \"bin/test\"},\n"
    "      \"env\": {\"RACK_ENV\": \"test\", \"LANG\": \"C\"},\n"
    "      \"formation\": {\"test\": {\"quantity\": 3}}\n"
    "    },\n"
    "    \"review\": {\n"
    "      \"env\": {\"WEB_CONCURRENCY\": \"1\", \"REVIEW\": "
    "{\"value\": \"yes\", \"description\": \"r\"},\n"
    "        \"DATABASE_URL\": {\"value\": \"postgres://review\"}},\n"
    "      \"formation\": {\"web\": {\"quantity\": 1}, "
    "\"worker\": {\"quantity\": 0}},\n"
    "      \"scripts\": {\"postdeploy\": \"bin/seed --review\", "
    "\"pr-predestroy\": \"bin/drop\"}\n"
    "    }\n"
    "  }\n"
    "}\n";

static void
test_environments_full(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok(full_json, &aj, 0);
	assert_int_equal(aj.nenv, 4);
	assert_int_equal(aj.nformation, 1);
	assert_string_equal(aj.scripts.postdeploy, "bin/seed");

	assert_int_equal(aj.test.present, 1);
	assert_string_equal(aj.test.scripts.test_setup, "bin/setup");
	assert_string_equal(aj.test.scripts.test, "bin/test");
	assert_null(aj.test.scripts.postdeploy);
	assert_int_equal(aj.test.nenv, 2);
	assert_string_equal(aj.test.env[0].key, "RACK_ENV");
	assert_string_equal(aj.test.env[0].value, "test");
	assert_int_equal(aj.test.nformation, 1);
	assert_string_equal(aj.test.formation[0].type, "test");
	assert_int_equal(aj.test.formation[0].quantity, 3);

	assert_int_equal(aj.review.present, 1);
	assert_string_equal(aj.review.scripts.postdeploy, "bin/seed --review");
	assert_string_equal(aj.review.scripts.pr_predestroy, "bin/drop");
	assert_null(aj.review.scripts.test);
	assert_int_equal(aj.review.nenv, 3);
	assert_string_equal(aj.review.env[1].key, "REVIEW");
	assert_string_equal(aj.review.env[1].description, "r");
	assert_int_equal(aj.review.nformation, 2);
	assert_string_equal(aj.review.formation[1].type, "worker");
	assert_int_equal(aj.review.formation[1].quantity, 0);
	appjson_clear(&aj);
	assert_true(is_empty(&aj));
}

static void
test_environments_present(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok("{\"environments\": {\"test\": {}}}", &aj, 0);
	assert_int_equal(aj.test.present, 1);
	assert_int_equal(aj.review.present, 0);
	assert_int_equal(aj.test.nenv, 0);
	assert_null(aj.test.scripts.test);
	appjson_clear(&aj);

	parse_ok("{\"environments\": {\"review\": {}}}", &aj, 0);
	assert_int_equal(aj.test.present, 0);
	assert_int_equal(aj.review.present, 1);
	appjson_clear(&aj);

	parse_ok("{\"environments\": {}}", &aj, 0);
	assert_int_equal(aj.test.present, 0);
	assert_int_equal(aj.review.present, 0);
	appjson_clear(&aj);
}

static void
test_environments_notes(void **state)
{
	struct appjson aj;

	(void)state;
	parse_ok("{\"environments\": {"
	    "\"production\": {\"env\": {\"1BAD\": 3}}, "
	    "\"test\": {\"addons\": [\"heroku-postgresql\"], \"scripts\": "
	    "{\"postdeploy\": \"x\", \"test\": \"t\"}}, "
	    "\"review\": {\"scripts\": {\"test\": \"t\", "
	    "\"pr-predestroy\": \"p\"}}}}", &aj, 4);
	assert_string_equal(strbuf_str(&notes),
	    "app.json: unknown key 'environments.production' ignored\n"
	    "app.json: unknown key 'environments.test.addons' ignored\n"
	    "app.json: unknown key 'environments.test.scripts.postdeploy' "
	    "ignored\n"
	    "app.json: unknown key 'environments.review.scripts.test' "
	    "ignored\n");
	assert_string_equal(aj.test.scripts.test, "t");
	assert_null(aj.test.scripts.postdeploy);
	assert_null(aj.review.scripts.test);
	assert_string_equal(aj.review.scripts.pr_predestroy, "p");
	appjson_clear(&aj);
}

static void
test_environments_errors(void **state)
{
	(void)state;
	parse_fails("{\"environments\": []}",
	    "app.json: environments: expected an object with \"test\" "
	    "and/or \"review\"");
	parse_fails("{\"environments\": {\"test\": true}}",
	    "app.json: environments.test: expected an object");
	parse_fails("{\"environments\": {\"review\": \"x\"}}",
	    "app.json: environments.review: expected an object");
	parse_fails("{\"environments\": {\"test\": {\"scripts\": "
	    "{\"test\": 1}}}}",
	    "app.json: environments.test.scripts.test: expected a string");
	parse_fails("{\"environments\": {\"test\": {\"scripts\": "
	    "{\"test-setup\": null}}}}",
	    "app.json: environments.test.scripts.test-setup: expected a "
	    "string");
	parse_fails("{\"environments\": {\"test\": {\"scripts\": []}}}",
	    "app.json: environments.test.scripts: expected an object of "
	    "commands");
	parse_fails("{\"environments\": {\"test\": {\"env\": {\"PORT\": "
	    "{\"value\": 80}}}}}",
	    "app.json: environments.test.env.PORT.value: expected a string");
	/* A review app's dyno gets PORT from berth; a test run may set it. */
	parse_fails("{\"env\": {\"PORT\": \"80\"}}",
	    "app.json: env.PORT: PORT is set by berth in every dyno, so this "
	    "would be ignored: remove it");
	parse_fails("{\"environments\": {\"review\": {\"env\": "
	    "{\"DYNO\": \"x\"}}}}",
	    "app.json: environments.review.env.DYNO: DYNO is set by berth in "
	    "every dyno, so this would be ignored: remove it");
	parse_fails("{\"environments\": {\"test\": {\"env\": 1}}}",
	    "app.json: environments.test.env: expected an object of config "
	    "vars");
	parse_fails("{\"environments\": {\"test\": {\"formation\": "
	    "{\"test\": {\"quantity\": 1001}}}}}",
	    "app.json: environments.test.formation.test.quantity: expected a "
	    "whole number from 0 to 1000");
	parse_fails("{\"environments\": {\"test\": {\"formation\": "
	    "{\"test\": 4}}}}",
	    "app.json: environments.test.formation.test: expected an object "
	    "with a \"quantity\"");
	parse_fails("{\"environments\": {\"review\": {\"env\": {\"1X\": "
	    "\"y\"}}}}",
	    "app.json: environments.review.env.1X: config var key '1X' is "
	    "not valid: use letters, digits and '_', not starting with a "
	    "digit");
	parse_fails("{\"environments\": {\"review\": {\"env\": {\"A\": "
	    "{\"generator\": \"uuid\"}}}}}",
	    "app.json: environments.review.env.A.generator: unknown "
	    "generator 'uuid': only \"secret\" is supported");
	parse_fails("{\"environments\": {\"review\": {\"formation\": "
	    "{\"web!\": {\"quantity\": 1}}}}}",
	    "app.json: environments.review.formation.web!: 'web!' is not a "
	    "valid process type: use letters, digits, '-' and '_'");
	parse_fails("{\"environments\": {\"review\": {\"scripts\": "
	    "{\"pr-predestroy\": false}}}}",
	    "app.json: environments.review.scripts.pr-predestroy: expected a "
	    "string");
	/* Everything parsed before the error is freed (ASan checks). */
	parse_fails("{\"name\": \"n\", \"buildpacks\": [\"b\"], \"env\": "
	    "{\"A\": \"1\"}, \"formation\": {\"web\": {}}, \"scripts\": "
	    "{\"postdeploy\": \"p\"}, \"healthchecks\": {\"web\": "
	    "[{\"path\": \"/\"}]}, \"environments\": {\"test\": {\"env\": "
	    "{\"B\": \"2\"}, \"scripts\": {\"test\": \"t\"}}, \"review\": "
	    "{\"env\": {\"C\": \"3\"}, \"formation\": {\"web\": {}}, "
	    "\"scripts\": {\"postdeploy\": 0}}}}",
	    "app.json: environments.review.scripts.postdeploy: expected a "
	    "string");
}

/* ---- merged env ---- */

static void
test_env_merged_review(void **state)
{
	struct appjson aj;
	struct appjson_env *env;
	size_t n;

	(void)state;
	parse_ok(full_json, &aj, 0);
	assert_int_equal(appjson_env_merged(&aj, "review", &env, &n), 0);
	appjson_clear(&aj);	/* the list is a copy */
	assert_int_equal(n, 5);
	/* Top-level order first, replaced in place... */
	assert_string_equal(env[0].key, "SECRET_TOKEN");
	assert_int_equal(env[0].secret, 1);
	assert_null(env[0].value);
	assert_string_equal(env[1].key, "DATABASE_URL");
	assert_string_equal(env[1].value, "postgres://review");
	assert_null(env[1].description);	/* replaced, not merged */
	assert_int_equal(env[1].required, 0);
	assert_string_equal(env[2].key, "LANG");
	assert_string_equal(env[2].value, "en_US.UTF-8");
	assert_string_equal(env[3].key, "WEB_CONCURRENCY");
	assert_string_equal(env[3].value, "1");
	/* ...then the environment's new keys. */
	assert_string_equal(env[4].key, "REVIEW");
	assert_string_equal(env[4].value, "yes");
	assert_string_equal(env[4].description, "r");
	appjson_env_list_free(env, n);
}

static void
test_env_merged_test_and_unknown(void **state)
{
	struct appjson aj;
	struct appjson_env *env;
	size_t n;

	(void)state;
	parse_ok(full_json, &aj, 0);
	assert_int_equal(appjson_env_merged(&aj, "test", &env, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(env[0].key, "SECRET_TOKEN");
	assert_string_equal(env[1].key, "DATABASE_URL");
	assert_null(env[1].value);
	assert_string_equal(env[1].description, "db");
	assert_int_equal(env[1].required, 1);
	assert_string_equal(env[2].key, "LANG");
	assert_string_equal(env[2].value, "C");
	assert_string_equal(env[3].value, "4");
	assert_string_equal(env[4].key, "RACK_ENV");
	appjson_env_list_free(env, n);

	/* An unknown environment is just the top-level env. */
	assert_int_equal(appjson_env_merged(&aj, "production", &env, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(env[0].key, "SECRET_TOKEN");
	assert_string_equal(env[2].value, "en_US.UTF-8");
	assert_string_equal(env[3].value, "4");
	appjson_env_list_free(env, n);
	appjson_clear(&aj);
}

static void
test_env_merged_edges(void **state)
{
	struct appjson aj;
	struct appjson_env *env;
	size_t n;

	(void)state;
	/* Nothing at all. */
	parse_ok("{}", &aj, 0);
	assert_int_equal(appjson_env_merged(&aj, "review", &env, &n), 0);
	assert_int_equal(n, 0);
	appjson_env_list_free(env, n);
	appjson_clear(&aj);

	/* Only the environment has env. */
	parse_ok("{\"environments\": {\"review\": {\"env\": {\"B\": \"2\", "
	    "\"A\": \"1\"}}}}", &aj, 0);
	assert_int_equal(appjson_env_merged(&aj, "review", &env, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(env[0].key, "B");
	assert_string_equal(env[1].key, "A");
	appjson_env_list_free(env, n);
	assert_int_equal(appjson_env_merged(&aj, "test", &env, &n), 0);
	assert_int_equal(n, 0);
	appjson_env_list_free(env, n);
	appjson_clear(&aj);

	/* Only the top level has env; the environment is absent. */
	parse_ok("{\"env\": {\"A\": \"1\"}}", &aj, 0);
	assert_int_equal(appjson_env_merged(&aj, "review", &env, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(env[0].value, "1");
	appjson_env_list_free(env, n);
	appjson_clear(&aj);

	/* Keys compare case-sensitively, as config vars do. */
	parse_ok("{\"env\": {\"a\": \"1\"}, \"environments\": {\"test\": "
	    "{\"env\": {\"A\": \"2\"}}}}", &aj, 0);
	assert_int_equal(appjson_env_merged(&aj, "test", &env, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(env[0].key, "a");
	assert_string_equal(env[1].key, "A");
	appjson_env_list_free(env, n);
	appjson_clear(&aj);

	/* Freeing an empty list is fine. */
	appjson_env_list_free(NULL, 0);
}

/* ---- appjson_load ---- */

/* A fresh temp dir; caller frees and removes it. */
static char *
temp_dir(void)
{
	char *dir = xstrdup("/tmp/berth-test-appjson.XXXXXX");

	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp failed");
	return dir;
}

static void
write_app_json(const char *dir, const char *data, size_t len)
{
	char *path = path_join(dir, "app.json");

	if (write_file_atomic(path, data, len, 0644) != 0)
		fail_msg("%s", berth_last_error());
	free(path);
}

static void
test_load(void **state)
{
	struct appjson aj;
	char *dir = temp_dir();
	const char *text;
	int count = 0;

	(void)state;
	/* Absent: 1, and aj is empty. */
	memset(&aj, 0xa5, sizeof(aj));
	assert_int_equal(appjson_load(dir, &aj, NULL, NULL), 1);
	assert_true(is_empty(&aj));

	write_app_json(dir, full_json, strlen(full_json));
	strbuf_reset(&notes);
	assert_int_equal(appjson_load(dir, &aj, collect_note, &count), 0);
	assert_int_equal(count, 0);
	assert_string_equal(aj.name, "shop");
	assert_int_equal(aj.test.present, 1);
	assert_int_equal(aj.review.present, 1);
	appjson_clear(&aj);

	text = "{\"environments\": {\"test\": {\"scripts\": {\"test\": "
	    "[\"x\"]}}}}";
	write_app_json(dir, text, strlen(text));
	berth_clear_error();
	assert_int_equal(appjson_load(dir, &aj, NULL, NULL), -1);
	assert_string_equal(berth_last_error(), "app.json: environments.test."
	    "scripts.test: expected a string");
	assert_true(is_empty(&aj));

	assert_int_equal(rm_rf(dir), 0);
	free(dir);
}

static void
test_load_ten_megabytes(void **state)
{
	struct appjson aj;
	size_t len = 10 * 1024 * 1024;
	char *dir = temp_dir(), *text = xmalloc(len), *msg, *path;

	(void)state;
	/* Valid JSON, so only the size can be the reason. */
	memset(text, ' ', len);
	text[0] = '{';
	text[len - 1] = '}';
	write_app_json(dir, text, len);
	free(text);

	berth_clear_error();
	assert_int_equal(appjson_load(dir, &aj, NULL, NULL), -1);
	path = path_join(dir, "app.json");
	msg = xstrdup("app.json is larger than 1 MB");
	assert_string_equal(berth_last_error(), msg);
	assert_true(is_empty(&aj));
	free(msg);
	free(path);

	/* One byte over the limit is refused too; the limit itself is not. */
	len = APPJSON_MAX_SIZE + 1;
	text = xmalloc(len);
	memset(text, ' ', len);
	text[0] = '{';
	text[len - 1] = '}';
	write_app_json(dir, text, len);
	assert_int_equal(appjson_load(dir, &aj, NULL, NULL), -1);
	text[1] = '{';
	write_app_json(dir, text + 1, len - 1);
	assert_int_equal(appjson_load(dir, &aj, NULL, NULL), 0);
	appjson_clear(&aj);
	free(text);

	assert_int_equal(rm_rf(dir), 0);
	free(dir);
}

/* Not a file: each kind named, none read (a link is never followed). */
static void
test_load_not_a_file(void **state)
{
	static const struct {
		const char *kind, *msg;
	} cases[] = {
		{ "dir", "app.json is a directory; it must be a file" },
		{ "link", "app.json is a symbolic link; it must be a file" },
		{ "fifo", "app.json is a FIFO; it must be a file" },
	};
	struct appjson aj;
	char *dir = temp_dir(), *path = path_join(dir, "app.json");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unlink(path);
		rmdir(path);
		if (strcmp(cases[i].kind, "dir") == 0)
			assert_int_equal(mkdir(path, 0755), 0);
		else if (strcmp(cases[i].kind, "link") == 0)
			assert_int_equal(symlink("/etc/passwd", path), 0);
		else
			assert_int_equal(mkfifo(path, 0644), 0);
		berth_clear_error();
		assert_int_equal(appjson_load(dir, &aj, NULL, NULL), -1);
		assert_string_equal(berth_last_error(), cases[i].msg);
		assert_true(is_empty(&aj));
	}
	unlink(path);
	rmdir(path);
	free(path);
	assert_int_equal(rm_rf(dir), 0);
	free(dir);
}

/* A health-check path with a control byte never reaches a URL. */
static void
test_healthcheck_path_control(void **state)
{
	(void)state;
	parse_fails("{\"healthchecks\": {\"web\": [{\"path\": "
	    "\"/a\\u001b[31mb\"}]}}", "app.json: healthchecks.web[0].path: "
	    "'/a\\x1b[31mb' holds a control byte: a check is a URL path, e.g. "
	    "/health");
	parse_fails("{\"healthchecks\": {\"web\": [{\"path\": "
	    "\"/a\\r\\nX-Evil: 1\"}]}}", "app.json: healthchecks.web[0].path: "
	    "'/a\\x0d\\x0aX-Evil: 1' holds a control byte: a check is a URL "
	    "path, e.g. /health");
	parse_fails("{\"healthchecks\": {\"web\": [{\"path\": "
	    "\"/a\\tb\"}]}}", "app.json: healthchecks.web[0].path: "
	    "'/a\\x09b' holds a control byte: a check is a URL path, e.g. "
	    "/health");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_object),
		cmocka_unit_test(test_top_level_not_object),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_unknown_keys_noted),
		cmocka_unit_test(test_parse_too_large),
		cmocka_unit_test(test_name_buildpacks),
		cmocka_unit_test(test_healthchecks),
		cmocka_unit_test(test_env_forms),
		cmocka_unit_test(test_env_unknown_member_noted),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_formation_forms),
		cmocka_unit_test(test_formation_errors),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_environments_full),
		cmocka_unit_test(test_environments_present),
		cmocka_unit_test(test_environments_notes),
		cmocka_unit_test(test_environments_errors),
		cmocka_unit_test(test_env_merged_review),
		cmocka_unit_test(test_env_merged_test_and_unknown),
		cmocka_unit_test(test_env_merged_edges),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_ten_megabytes),
		cmocka_unit_test(test_load_not_a_file),
		cmocka_unit_test(test_healthcheck_path_control),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("appjson", tests, NULL,
	    reset_notes);
}
