/*
 * test-cli-options.c - how the berth CLI reads a command line against
 * a command's own options (cmd-parse.c), the exact words it uses when
 * it refuses one, and the option list --help prints from the specs.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "util.h"

static int
no_exec(struct cmd_ctx *ctx)
{
	(void)ctx;
	return 0;
}

/* A command like berth's run, with one option of each kind. */
static const struct berth_cmd run_cmd = {
	.name = "run",
	.usage = "run -a APP -- COMMAND",
	.summary = "a test command",
	.options = (const struct cmd_option[]){
		CMD_OPT_APP,
		CMD_OPT_JSON,
		CMD_OPT_NUM("how many"),
		{ .name = "confirm", .kind = CMD_STRING, .arg = "APP",
		    .help = "the app again" },
		{ .name = "tail", .short_name = 't', .kind = CMD_FLAG,
		    .help = "keep going" },
		{ .name = "node", .kind = CMD_NUMBER, .arg = "I", .min = 0,
		    .max = 9, .help = "one node" },
		{ .name = "dyno", .short_name = 'd', .alias = "ps",
		    .kind = CMD_STRING, .arg = "DYNO", .help = "one dyno" },
		{ 0 },
	},
	.min_args = 0, .max_args = -1,
	.exec = no_exec,
};

/* A command whose options end at its first argument, as berth run's. */
static const struct berth_cmd exec_cmd = {
	.name = "exec",
	.usage = "exec -a APP COMMAND [ARGS...]",
	.summary = "options first",
	.options = (const struct cmd_option[]){ CMD_OPT_APP, { 0 } },
	.min_args = 1, .max_args = -1,
	.exec = no_exec,
	.flags = CMD_OPTS_FIRST,
};

/* Another command: its options are known, but not to run. */
static const struct berth_cmd other_cmd = {
	.name = "other",
	.usage = "other NAME",
	.summary = "another test command",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "deploy-branch", .kind = CMD_STRING,
		    .arg = "BRANCH", .help = "the branch" },
		{ 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = no_exec,
};

/* A command that takes no options at all. */
static const struct berth_cmd bare_cmd = {
	.name = "bare",
	.usage = "bare",
	.summary = "no options",
	.exec = no_exec,
};

/* Parse the NULL-terminated words (words[0] is the command) as c's. */
static int
parse_words(struct cmd_ctx *ctx, const struct berth_cmd *c,
    const char **words)
{
	int argc = 0;

	while (words[argc] != NULL)
		argc++;
	berth_clear_error();
	return cmd_parse(ctx, c, argc, (char **)words);
}

/* The words must be refused with exactly msg. */
static void
refused(const struct berth_cmd *c, const char **words, const char *msg)
{
	struct cmd_ctx ctx;

	assert_int_equal(parse_words(&ctx, c, words), -1);
	assert_string_equal(berth_last_error(), msg);
	cmd_ctx_clear(&ctx);
}

/* The words must be taken, with option opt's value want. */
static void
accepted(const struct berth_cmd *c, const char **words, const char *opt,
    const char *want)
{
	struct cmd_ctx ctx;

	assert_int_equal(parse_words(&ctx, c, words), 0);
	assert_string_equal(cmd_opt(&ctx, opt), want);
	cmd_ctx_clear(&ctx);
}

static void
test_options_anywhere(void **state)
{
	const char *w[] = { "run", "x", "-a", "shop", "y", "--json", "z",
	    "--tail", NULL };
	struct cmd_ctx ctx;

	(void)state;
	assert_int_equal(parse_words(&ctx, &run_cmd, w), 0);
	assert_int_equal(ctx.argc, 3);
	assert_string_equal(ctx.argv[0], "x");
	assert_string_equal(ctx.argv[1], "y");
	assert_string_equal(ctx.argv[2], "z");
	assert_string_equal(ctx.app, "shop");
	assert_string_equal(cmd_opt(&ctx, "app"), "shop");
	assert_int_equal(ctx.json, 1);
	assert_int_equal(cmd_flag(&ctx, "json"), 1);
	assert_int_equal(cmd_flag(&ctx, "tail"), 1);
	assert_null(cmd_opt(&ctx, "confirm"));
	assert_int_equal(cmd_num(&ctx, "num", 15), 15);
	assert_int_equal(cmd_num(&ctx, "node", -1), -1);
	assert_null(ctx.root_dir);
	cmd_ctx_clear(&ctx);
}

static void
test_long_values(void **state)
{
	const char *eq[] = { "run", "--confirm=shop", "--app=a=b", NULL };
	const char *sep[] = { "run", "--confirm", "shop", "--app", "-x",
	    NULL };
	const char *empty[] = { "run", "--confirm=", NULL };
	struct cmd_ctx ctx;

	(void)state;
	assert_int_equal(parse_words(&ctx, &run_cmd, eq), 0);
	assert_string_equal(cmd_opt(&ctx, "confirm"), "shop");
	assert_string_equal(ctx.app, "a=b");
	assert_int_equal(ctx.argc, 0);
	cmd_ctx_clear(&ctx);
	/* A value is the next word, whatever it looks like. */
	assert_int_equal(parse_words(&ctx, &run_cmd, sep), 0);
	assert_string_equal(cmd_opt(&ctx, "confirm"), "shop");
	assert_string_equal(ctx.app, "-x");
	cmd_ctx_clear(&ctx);
	assert_int_equal(parse_words(&ctx, &run_cmd, empty), 0);
	assert_string_equal(cmd_opt(&ctx, "confirm"), "");
	cmd_ctx_clear(&ctx);
}

static void
test_short_options(void **state)
{
	const char *attached[] = { "run", "-ashop", "-n3", NULL };
	const char *cluster[] = { "run", "-jt", NULL };
	const char *value_last[] = { "run", "-ta", "shop", "-tn", "7", NULL };
	const char *value_rest[] = { "run", "-tashop", NULL };
	struct cmd_ctx ctx;

	(void)state;
	assert_int_equal(parse_words(&ctx, &run_cmd, attached), 0);
	assert_string_equal(ctx.app, "shop");
	assert_int_equal(cmd_num(&ctx, "num", 15), 3);
	cmd_ctx_clear(&ctx);
	assert_int_equal(parse_words(&ctx, &run_cmd, cluster), 0);
	assert_int_equal(ctx.json, 1);
	assert_int_equal(cmd_flag(&ctx, "tail"), 1);
	cmd_ctx_clear(&ctx);
	assert_int_equal(parse_words(&ctx, &run_cmd, value_last), 0);
	assert_string_equal(ctx.app, "shop");
	assert_int_equal(cmd_num(&ctx, "num", 15), 7);
	assert_int_equal(ctx.argc, 0);
	cmd_ctx_clear(&ctx);
	assert_int_equal(parse_words(&ctx, &run_cmd, value_rest), 0);
	assert_string_equal(ctx.app, "shop");
	assert_int_equal(cmd_flag(&ctx, "tail"), 1);
	cmd_ctx_clear(&ctx);
}

static void
test_last_one_wins(void **state)
{
	const char *w[] = { "run", "-a", "one", "--app=two", "-", NULL };
	struct cmd_ctx ctx;

	(void)state;
	assert_int_equal(parse_words(&ctx, &run_cmd, w), 0);
	assert_string_equal(ctx.app, "two");
	/* A lone "-" is an argument, as for getopt. */
	assert_int_equal(ctx.argc, 1);
	assert_string_equal(ctx.argv[0], "-");
	cmd_ctx_clear(&ctx);
}

static void
test_missing_value(void **state)
{
	const char *lng[] = { "run", "x", "--confirm", NULL };
	const char *shrt[] = { "run", "-a", NULL };
	const char *cluster[] = { "run", "-ja", NULL };
	const char *num[] = { "run", "--num", NULL };

	(void)state;
	refused(&run_cmd, lng, "--confirm needs a value; see: berth help run");
	refused(&run_cmd, shrt, "-a needs a value; see: berth help run");
	refused(&run_cmd, cluster, "-a needs a value; see: berth help run");
	refused(&run_cmd, num, "--num needs a value; see: berth help run");
}

static void
test_unknown_option(void **state)
{
	const char *shrt[] = { "run", "-x", NULL };
	const char *cluster[] = { "run", "-jx", NULL };
	const char *lng[] = { "run", "--bogus=1", NULL };
	const char *other[] = { "run", "--deploy-branch", "main", NULL };
	const char *other_short[] = { "run", "-p", "shop", NULL };
	const char *bare[] = { "bare", "--json", NULL };
	const char *ctrl[] = { "run", "--\x1b[31m", NULL };

	(void)state;
	refused(&run_cmd, shrt, "run does not take -x; see: berth help run");
	refused(&run_cmd, cluster, "run does not take -x; see: berth help run");
	refused(&run_cmd, lng, "run does not take --bogus; see: berth help run");
	refused(&run_cmd, other,
	    "run does not take --deploy-branch; see: berth help run");
	refused(&run_cmd, other_short,
	    "run does not take -p; see: berth help run");
	refused(&bare_cmd, bare,
	    "bare does not take --json; see: berth help bare");
	refused(&run_cmd, ctrl,
	    "run does not take --\\x1b[31m; see: berth help run");
}

static void
test_flag_with_value(void **state)
{
	const char *w[] = { "run", "--json=yes", NULL };
	const char *empty[] = { "run", "--tail=", NULL };
	const char *shrt[] = { "run", "-j=yes", NULL };
	const char *cluster[] = { "run", "-tj=1", NULL };

	(void)state;
	refused(&run_cmd, w, "--json does not take a value; see: berth help run");
	refused(&run_cmd, empty,
	    "--tail does not take a value; see: berth help run");
	refused(&run_cmd, shrt, "-j does not take a value; see: berth help run");
	refused(&run_cmd, cluster,
	    "-j does not take a value; see: berth help run");
}

/* -a=APP is -a APP, as the Heroku CLI reads it; -a== keeps one '='. */
static void
test_short_equals(void **state)
{
	const char *eq[] = { "run", "-a=shop", "-n=4", NULL };
	const char *cluster[] = { "run", "-ta=shop", NULL };
	const char *empty[] = { "run", "-a=", NULL };
	const char *two[] = { "run", "-a==x", NULL };
	struct cmd_ctx ctx;

	(void)state;
	assert_int_equal(parse_words(&ctx, &run_cmd, eq), 0);
	assert_string_equal(ctx.app, "shop");
	assert_int_equal(cmd_num(&ctx, "num", 15), 4);
	cmd_ctx_clear(&ctx);
	assert_int_equal(parse_words(&ctx, &run_cmd, cluster), 0);
	assert_string_equal(ctx.app, "shop");
	assert_int_equal(cmd_flag(&ctx, "tail"), 1);
	cmd_ctx_clear(&ctx);
	accepted(&run_cmd, empty, "app", "");
	accepted(&run_cmd, two, "app", "=x");
}

/* An option's alias (--ps for --dyno) is the same option, all forms. */
static void
test_option_alias(void **state)
{
	const char *alias[] = { "run", "--ps", "web.1", NULL };
	const char *alias_eq[] = { "run", "--ps=web", NULL };
	const char *name[] = { "run", "--dyno", "web.2", NULL };
	const char *letter[] = { "run", "-d", "worker", NULL };
	const char *missing[] = { "run", "--ps", NULL };

	(void)state;
	accepted(&run_cmd, alias, "dyno", "web.1");
	accepted(&run_cmd, alias_eq, "dyno", "web");
	accepted(&run_cmd, name, "dyno", "web.2");
	accepted(&run_cmd, letter, "dyno", "worker");
	/* The error names the option as it was written. */
	refused(&run_cmd, missing, "--ps needs a value; see: berth help run");
}

/* CMD_OPTS_FIRST: from the first argument on, every word is one. */
static void
test_options_first(void **state)
{
	const char *w[] = { "exec", "-a", "shop", "ls", "-la", "--json",
	    "-a", "x", "--", NULL };
	const char *dashes[] = { "exec", "-a", "shop", "--", "ls", "-l",
	    NULL };
	const char *before[] = { "exec", "-x", "ls", NULL };
	const char *root[] = { "exec", "ls", "--root", "/x", NULL };
	struct cmd_ctx ctx;

	(void)state;
	assert_int_equal(parse_words(&ctx, &exec_cmd, w), 0);
	assert_string_equal(ctx.app, "shop");
	assert_int_equal(ctx.argc, 6);
	assert_string_equal(ctx.argv[0], "ls");
	assert_string_equal(ctx.argv[1], "-la");
	assert_string_equal(ctx.argv[2], "--json");
	assert_string_equal(ctx.argv[3], "-a");
	assert_string_equal(ctx.argv[4], "x");
	assert_string_equal(ctx.argv[5], "--");
	cmd_ctx_clear(&ctx);
	/* "--" still ends berth's options, as before. */
	assert_int_equal(parse_words(&ctx, &exec_cmd, dashes), 0);
	assert_int_equal(ctx.argc, 2);
	assert_string_equal(ctx.argv[1], "-l");
	cmd_ctx_clear(&ctx);
	refused(&exec_cmd, before, "exec does not take -x; see: berth help exec");
	/* A --root after the command is the command's, never berth's. */
	assert_int_equal(parse_words(&ctx, &exec_cmd, root), 0);
	assert_null(ctx.root_dir);
	assert_int_equal(ctx.argc, 3);
	cmd_ctx_clear(&ctx);
}

static void
test_not_a_number(void **state)
{
	const char *word[] = { "run", "-n", "abc", NULL };
	const char *trail[] = { "run", "--num=12x", NULL };
	const char *zero[] = { "run", "--num", "0", NULL };
	const char *neg[] = { "run", "--num", "-3", NULL };
	const char *big[] = { "run", "-n", "99999999999999999999", NULL };
	const char *range[] = { "run", "--node=10", NULL };
	const char *ok[] = { "run", "--node", "0", "--num", "1000000", NULL };
	struct cmd_ctx ctx;

	(void)state;
	refused(&run_cmd, word,
	    "-n wants a whole number from 1 to 1000000, not 'abc'");
	refused(&run_cmd, trail,
	    "--num wants a whole number from 1 to 1000000, not '12x'");
	refused(&run_cmd, zero,
	    "--num wants a whole number from 1 to 1000000, not '0'");
	refused(&run_cmd, neg,
	    "--num wants a whole number from 1 to 1000000, not '-3'");
	refused(&run_cmd, big, "-n wants a whole number from 1 to 1000000, "
	    "not '99999999999999999999'");
	refused(&run_cmd, range,
	    "--node wants a whole number from 0 to 9, not '10'");
	assert_int_equal(parse_words(&ctx, &run_cmd, ok), 0);
	assert_int_equal(cmd_num(&ctx, "node", -1), 0);
	assert_int_equal(cmd_num(&ctx, "num", 15), 1000000);
	cmd_ctx_clear(&ctx);
}

static void
test_double_dash_ends_options(void **state)
{
	const char *w[] = { "run", "-a", "shop", "--", "cmd", "-x", "--json",
	    "--", NULL };
	struct cmd_ctx ctx;

	(void)state;
	assert_int_equal(parse_words(&ctx, &run_cmd, w), 0);
	assert_string_equal(ctx.app, "shop");
	assert_int_equal(ctx.json, 0);
	assert_int_equal(ctx.argc, 4);
	assert_string_equal(ctx.argv[0], "cmd");
	assert_string_equal(ctx.argv[1], "-x");
	assert_string_equal(ctx.argv[2], "--json");
	assert_string_equal(ctx.argv[3], "--");
	cmd_ctx_clear(&ctx);
}

static void
test_global_options(void **state)
{
	const char *root[] = { "bare", "--root", "/srv/b", NULL };
	const char *root_eq[] = { "other", "x", "--root=/srv/c", NULL };
	const char *help[] = { "other", "--help", "--bogus", NULL };
	const char *help_short[] = { "bare", "extra", "-h", NULL };
	const char *late_help[] = { "other", "--bogus", "--help", NULL };
	const char *twice[] = { "other", "--root", "/srv/a", "x",
	    "--root=/srv/b", NULL };
	const char *behind_value[] = { "other", "--root", "/srv/a", "-p",
	    "--", "--root", "/srv/b", "x", NULL };
	struct cmd_ctx ctx;

	(void)state;
	assert_int_equal(parse_words(&ctx, &bare_cmd, root), 0);
	assert_string_equal(ctx.root_dir, "/srv/b");
	cmd_ctx_clear(&ctx);
	assert_int_equal(parse_words(&ctx, &other_cmd, root_eq), 0);
	assert_string_equal(ctx.root_dir, "/srv/c");
	/* Fields for options the command does not take stay unset. */
	assert_null(ctx.app);
	assert_int_equal(ctx.json, 0);
	cmd_ctx_clear(&ctx);
	/* --help wins over what follows it, and over argument counts. */
	assert_int_equal(parse_words(&ctx, &other_cmd, help), 1);
	cmd_ctx_clear(&ctx);
	assert_int_equal(parse_words(&ctx, &bare_cmd, help_short), 1);
	cmd_ctx_clear(&ctx);
	refused(&other_cmd, late_help,
	    "other does not take --bogus; see: berth help other");
	/* berth shell gives the server's root first; no second one, not
	 * even behind an option that took "--" as its value. */
	refused(&other_cmd, twice, "--root is given twice: give one root");
	refused(&other_cmd, behind_value,
	    "--root is given twice: give one root");
}

static void
test_argument_counts(void **state)
{
	const char *none[] = { "other", "-p", "shop", NULL };
	const char *two[] = { "other", "a", "b", NULL };
	const char *extra[] = { "bare", "x", NULL };

	(void)state;
	refused(&other_cmd, none,
	    "other needs more arguments: berth other NAME");
	refused(&other_cmd, two,
	    "other takes one argument ('b' is extra): berth other NAME");
	refused(&bare_cmd, extra,
	    "bare takes no arguments ('x' is extra): berth bare");
}

/* Asking for an option the command does not list is a bug: abort. */
static void
test_undeclared_option_aborts(void **state)
{
	const char *w[] = { "run", NULL };
	struct cmd_ctx ctx;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(parse_words(&ctx, &run_cmd, w), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(2);
		(void)cmd_opt(&ctx, "nope");
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	cmd_ctx_clear(&ctx);
}

static void
test_help_lists_options(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	cmd_print_options(f, run_cmd.options);
	cmd_print_options(f, bare_cmd.options);
	fclose(f);
	assert_string_equal(buf,
	    "\n"
	    "Options:\n"
	    "  -a, --app APP      the app to work on\n"
	    "  -j, --json         print JSON instead of a table\n"
	    "  -n, --num NUM      how many\n"
	    "      --confirm APP  the app again\n"
	    "  -t, --tail         keep going\n"
	    "      --node I       one node\n"
	    "  -d, --dyno DYNO    one dyno; also --ps\n");
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_anywhere),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_short_options),
		cmocka_unit_test(test_last_one_wins),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_unknown_option),
		cmocka_unit_test(test_flag_with_value),
		cmocka_unit_test(test_short_equals),
		cmocka_unit_test(test_option_alias),
		cmocka_unit_test(test_options_first),
		cmocka_unit_test(test_not_a_number),
		cmocka_unit_test(test_double_dash_ends_options),
		cmocka_unit_test(test_global_options),
		cmocka_unit_test(test_argument_counts),
		cmocka_unit_test(test_undeclared_option_aborts),
		cmocka_unit_test(test_help_lists_options),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
