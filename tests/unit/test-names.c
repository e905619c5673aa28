/*
 * test-names.c - which names berth accepts, and the exact words it uses
 * when it refuses one (those messages reach users through git push).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "util.h"

#define ALLOWED "use letters, digits, '/', '-', '_' and '.'"

/* fn(s) must fail with exactly msg. */
static void
refuses(int (*fn)(const char *), const char *s, const char *msg)
{
	berth_clear_error();
	assert_int_equal(fn(s), -1);
	assert_string_equal(berth_last_error(), msg);
}

/* fn(s) must fail with a message that starts with prefix. */
static void
refuses_prefix(int (*fn)(const char *), const char *s, const char *prefix)
{
	berth_clear_error();
	assert_int_equal(fn(s), -1);
	if (strncmp(berth_last_error(), prefix, strlen(prefix)) != 0)
		fail_msg("'%s': got \"%s\", want prefix \"%s\"", s,
		    berth_last_error(), prefix);
}

static void
accepts(int (*fn)(const char *), const char *s)
{
	berth_clear_error();
	if (fn(s) != 0)
		fail_msg("'%s' refused: %s", s, berth_last_error());
}

static void
test_app_names(void **state)
{
	(void)state;
	accepts(name_check_app, "shop");
	accepts(name_check_app, "my-app-2");
	accepts(name_check_app, "ab");
	accepts(name_check_app, "a23456789012345678901234567890");
	refuses(name_check_app, "Shop", "app name 'Shop' is not valid: use "
	    "2-30 characters, lowercase letters, digits and '-', starting "
	    "with a letter");
	refuses_prefix(name_check_app, "a", "app name 'a' is not valid: use");
	refuses_prefix(name_check_app, "", "app name '' is not valid");
	refuses_prefix(name_check_app, "a234567890123456789012345678901",
	    "app name 'a234567890123456789012345678901' is not valid");
	refuses_prefix(name_check_app, "2shop", "app name '2shop'");
	refuses_prefix(name_check_app, "-shop", "app name '-shop'");
	refuses_prefix(name_check_app, "my_app", "app name 'my_app'");
	refuses_prefix(name_check_app, "sh op", "app name 'sh op'");
	refuses_prefix(name_check_app, "../x", "app name '../x'");
	refuses(name_check_app, "shop-", "app name 'shop-' is not valid: it "
	    "must not end with '-'");
	refuses_prefix(name_check_app, "sh\nop", "app name 'sh\\x0aop'");
}

static void
test_pipeline_names(void **state)
{
	(void)state;
	accepts(name_check_pipeline, "web-shop");
	refuses(name_check_pipeline, "Web", "pipeline name 'Web' is not "
	    "valid: use 2-30 characters, lowercase letters, digits and '-', "
	    "starting with a letter");
	refuses_prefix(name_check_pipeline, "web-", "pipeline name 'web-'");
}

static void
test_refs_accepted(void **state)
{
	(void)state;
	accepts(name_check_ref, "refs/heads/main");
	accepts(name_check_ref, "refs/heads/feature/login-v2");
	accepts(name_check_ref, "refs/heads/release/1.2");
	accepts(name_check_ref, "refs/heads/fix_bug.3");
	accepts(name_check_ref, "refs/heads/Main");
	accepts(name_check_ref, "refs/tags/v1.2.3");
	accepts(name_check_ref, "refs/tags/release-2024.01");
	accepts(name_check_branch, "main");
	accepts(name_check_branch, "feature/login-v2");
	accepts(name_check_branch, "release/1.2");
	accepts(name_check_branch, "a.lockx");
}

static void
test_refs_not_branch_or_tag(void **state)
{
	(void)state;
	refuses(name_check_ref, "refs/remotes/origin/main", "ref "
	    "'refs/remotes/origin/main' is not a branch or tag");
	refuses(name_check_ref, "refs/notes/commits", "ref "
	    "'refs/notes/commits' is not a branch or tag");
	refuses(name_check_ref, "main", "ref 'main' is not a branch or tag");
	refuses(name_check_ref, "HEAD", "ref 'HEAD' is not a branch or tag");
	refuses(name_check_ref, "refs/headsX/a\x01", "ref "
	    "'refs/headsX/a\\x01' is not a branch or tag");
}

/* Characters a shell or git gives meaning to. */
static void
test_refs_bad_characters(void **state)
{
	static const char *const bad[] = {
		"a b", "a\tb", "a\nb", "a\x7f", "$(id)", "a`id`", "a;b", "a|b",
		"a&b", "a~1", "a^2", "a:b", "a?", "a*", "a[b", "a\\b", "a@{1}",
		"a'b", "a\"b", "a<b", "a>b", "a{b}", "a!b", "a%b", "a#b",
		"a+b", "a=b", "a,b", "caf\xc3\xa9", NULL
	};
	char want[512], q[256];
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		char ref[300];

		name_quote(bad[i], q, sizeof(q));
		snprintf(want, sizeof(want), "Branch name '%s' is not allowed: "
		    ALLOWED, q);
		snprintf(ref, sizeof(ref), "refs/heads/%s", bad[i]);
		refuses(name_check_ref, ref, want);
		refuses(name_check_branch, bad[i], want);
		snprintf(want, sizeof(want), "Tag name '%s' is not allowed: "
		    ALLOWED, q);
		snprintf(ref, sizeof(ref), "refs/tags/%s", bad[i]);
		refuses(name_check_ref, ref, want);
	}
}

static void
test_refs_exact_messages(void **state)
{
	(void)state;
	refuses(name_check_ref, "refs/heads/$(id)", "Branch name '$(id)' is "
	    "not allowed: " ALLOWED);
	refuses(name_check_ref, "refs/heads/a\x01z", "Branch name 'a\\x01z' "
	    "is not allowed: " ALLOWED);
	refuses(name_check_ref, "refs/heads/a\xff", "Branch name 'a\\xff' is "
	    "not allowed: " ALLOWED);
	refuses(name_check_ref, "refs/tags/v1 2", "Tag name 'v1 2' is not "
	    "allowed: " ALLOWED);
	refuses(name_check_ref, "refs/heads/a..b", "Branch name 'a..b' is "
	    "not allowed: " ALLOWED "; it must not contain '..'");
	refuses(name_check_ref, "refs/heads/", "Branch name '' is not "
	    "allowed: " ALLOWED "; it must not be empty");
	refuses(name_check_ref, "refs/tags/", "Tag name '' is not allowed: "
	    ALLOWED "; it must not be empty");
}

/* Every character is allowed; their arrangement is not. */
static void
test_refs_bad_structure(void **state)
{
	static const struct {
		const char *name, *why;
	} bad[] = {
		{ "..", "it must not end with '.'" },
		{ "a..b", "it must not contain '..'" },
		{ "a/../b", "it must not contain '..'" },
		{ "-rf", "it must not start with '-'" },
		{ ".hidden", "no part between '/' may start with '.'" },
		{ "a/.b", "no part between '/' may start with '.'" },
		{ "/abs", "it must not start with '/'" },
		{ "a/", "it must not end with '/'" },
		{ "a.", "it must not end with '.'" },
		{ "main.lock", "no part between '/' may end with '.lock'" },
		{ "a.lock/b", "no part between '/' may end with '.lock'" },
		{ "a//b", "it must not contain '//'" },
		{ NULL, NULL }
	};
	char want[512];
	size_t i;

	(void)state;
	for (i = 0; bad[i].name != NULL; i++) {
		snprintf(want, sizeof(want), "Branch name '%s' is not allowed: "
		    ALLOWED "; %s", bad[i].name, bad[i].why);
		refuses(name_check_branch, bad[i].name, want);
	}
}

static void
test_refs_too_long(void **state)
{
	char name[300], ref[320];

	(void)state;
	memset(name, 'a', 255);
	name[255] = '\0';
	accepts(name_check_branch, name);
	snprintf(ref, sizeof(ref), "refs/tags/%s", name);
	accepts(name_check_ref, ref);
	memset(name, 'a', 256);
	name[256] = '\0';
	refuses_prefix(name_check_branch, name, "Branch name 'aaaa");
	assert_non_null(strstr(berth_last_error(), "is too long (256 bytes): "
	    "use at most 255 bytes"));
	assert_true(strlen(berth_last_error()) < 300);
	snprintf(ref, sizeof(ref), "refs/tags/%s", name);
	refuses_prefix(name_check_ref, ref, "Tag name 'aaaa");
	assert_non_null(strstr(berth_last_error(), "at most 255 bytes"));
}

static void
test_config_keys(void **state)
{
	char key[300];

	(void)state;
	accepts(name_check_config_key, "DATABASE_URL");
	accepts(name_check_config_key, "_private");
	accepts(name_check_config_key, "port8080");
	accepts(name_check_config_key, "x");
	refuses(name_check_config_key, "1PORT", "config var key '1PORT' is "
	    "not valid: use letters, digits and '_', not starting with a "
	    "digit");
	refuses_prefix(name_check_config_key, "", "config var key '' is not "
	    "valid");
	refuses_prefix(name_check_config_key, "A-B", "config var key 'A-B'");
	refuses_prefix(name_check_config_key, "A B", "config var key 'A B'");
	refuses_prefix(name_check_config_key, "A=B", "config var key 'A=B'");
	refuses_prefix(name_check_config_key, "A\nB", "config var key "
	    "'A\\x0aB'");
	refuses_prefix(name_check_config_key, "$(id)", "config var key "
	    "'$(id)'");
	memset(key, 'K', 255);
	key[255] = '\0';
	accepts(name_check_config_key, key);
	key[255] = 'K';
	key[256] = '\0';
	refuses_prefix(name_check_config_key, key, "config var key 'KKK");
	assert_non_null(strstr(berth_last_error(), "at most 255 bytes"));
}

static void
test_process_types(void **state)
{
	char type[80];

	(void)state;
	accepts(name_check_process_type, "web");
	accepts(name_check_process_type, "worker_2");
	accepts(name_check_process_type, "clock-tick");
	accepts(name_check_process_type, "2nd");
	accepts(name_check_process_type, "Web");
	refuses(name_check_process_type, "we b", "'we b' is not a valid "
	    "process type: use letters, digits, '-' and '_'");
	refuses(name_check_process_type, "", "'' is not a valid process "
	    "type: use letters, digits, '-' and '_'");
	refuses(name_check_process_type, "-web", "'-web' is not a valid "
	    "process type: start with a letter or digit");
	refuses_prefix(name_check_process_type, "web.1", "'web.1' is not");
	memset(type, 'w', 63);
	type[63] = '\0';
	accepts(name_check_process_type, type);
	type[63] = 'w';
	type[64] = '\0';
	refuses_prefix(name_check_process_type, type, "'wwww");
	assert_non_null(strstr(berth_last_error(), "use at most 63 "
	    "characters"));
}

static void
test_stages(void **state)
{
	(void)state;
	accepts(name_check_stage, "review");
	accepts(name_check_stage, "development");
	accepts(name_check_stage, "staging");
	accepts(name_check_stage, "production");
	refuses(name_check_stage, "prod", "stage 'prod' is not valid: use "
	    "review, development, staging or production");
	refuses_prefix(name_check_stage, "Production", "stage 'Production'");
	refuses_prefix(name_check_stage, "", "stage ''");
}

static void
test_utf8(void **state)
{
	(void)state;
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid("plain", 5));
	assert_true(utf8_valid("caf\xc3\xa9", 5));
	assert_true(utf8_valid("\xe2\x82\xac", 3));
	assert_true(utf8_valid("\xf0\x9f\x9a\xa2", 4));
	assert_false(utf8_valid("a\0b", 3));
	assert_false(utf8_valid("\xff", 1));
	assert_false(utf8_valid("\xc3", 1));		/* cut short */
	assert_false(utf8_valid("\xc0\xaf", 2));	/* overlong '/' */
	assert_false(utf8_valid("\xe0\x80\xaf", 3));	/* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_false(utf8_valid("\x80", 1));
}

static void
test_quote(void **state)
{
	char out[16];
	char big[64];

	(void)state;
	name_quote("plain", out, sizeof(out));
	assert_string_equal(out, "plain");
	name_quote("a\tb\x1b", out, sizeof(out));
	assert_string_equal(out, "a\\x09b\\x1b");
	name_quote("caf\xc3\xa9\xff", out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9\\xff");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	name_quote(big, out, sizeof(out));
	assert_string_equal(out, "xxxxxxxxxxxx...");
	name_quote("\x01\x02\x03\x04", out, 12);
	assert_string_equal(out, "\\x01\\x02...");
	name_quote("abc", out, 1);
	assert_string_equal(out, "");
}

/* The whole-string form: nothing cut, every control byte escaped. */
static void
test_quoted(void **state)
{
	char big[301], *q;

	(void)state;
	q = name_quoted("a\x1b[31mred\rX\ny");
	assert_string_equal(q, "a\\x1b[31mred\\x0dX\\x0ay");
	free(q);
	q = name_quoted("caf\xc3\xa9\xff\x7f");
	assert_string_equal(q, "caf\xc3\xa9\\xff\\x7f");
	free(q);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	q = name_quoted(big);
	assert_string_equal(q, big);
	free(q);
	assert_int_equal(has_control("abc", 3), 0);
	assert_int_equal(has_control("a\0c", 3), 1);
	assert_int_equal(has_control("a\x7f", 2), 1);
	assert_int_equal(has_control("caf\xc3\xa9", 5), 0);
}

/* A URL's password never shows: in messages, output, build logs. */
static void
test_redact_userinfo(void **state)
{
	static const char *const cases[][2] = {
		{ "https://alice:pw@host/x.git", "https://alice:***@host/x.git" },
		{ "https://tok3n@github.com/o/r", "https://***@github.com/o/r" },
		{ "clone 'https://a:b@h:8/p' failed", "clone 'https://a:***@h:8/p' failed" },
		{ "https://host/path@v1", "https://host/path@v1" },
		{ "two: http://u:p@a/ and ssh://git@b/x",
		    "two: http://u:***@a/ and ssh://***@b/x" },
		{ "no url: user@host:path", "no url: user@host:path" },
		{ "ends://", "ends://" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = redact_userinfo(cases[i][0]);

		assert_string_equal(got, cases[i][1]);
		free(got);
	}
	berth_error("cannot clone %s", "https://alice:secret@h/x");
	assert_string_equal(berth_last_error(),
	    "cannot clone https://alice:***@h/x");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_app_names),
		cmocka_unit_test(test_pipeline_names),
		cmocka_unit_test(test_refs_accepted),
		cmocka_unit_test(test_refs_not_branch_or_tag),
		cmocka_unit_test(test_refs_bad_characters),
		cmocka_unit_test(test_refs_exact_messages),
		cmocka_unit_test(test_refs_bad_structure),
		cmocka_unit_test(test_refs_too_long),
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_process_types),
		cmocka_unit_test(test_stages),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_redact_userinfo),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
