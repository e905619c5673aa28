/*
 * cmd-logs.c - logs: an app's log stream (its dynos' output and berth's
 * events about it), the last lines or followed, like `heroku logs`.
 */
#include "cmd.h"
#include "names.h"
#include "runtime.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_tail;

static void
on_stop(int sig)
{
	(void)sig;
	stop_tail = 1;
}

/* --dyno takes a process type (web) or one dyno of it (web.1). */
static int
check_ps(const char *ps)
{
	const char *dot = strchr(ps, '.');
	char *type, q[80];
	size_t i;
	int ok;

	type = dot != NULL ? xstrndup(ps, (size_t)(dot - ps)) : xstrdup(ps);
	ok = name_check_process_type(type) == 0;
	free(type);
	if (ok && dot != NULL) {
		ok = dot[1] != '\0';
		for (i = 1; dot[i] != '\0'; i++)
			if (dot[i] < '0' || dot[i] > '9')
				ok = 0;
	}
	if (ok)
		return 0;
	name_quote(ps, q, sizeof(q));
	return cmd_fail("--dyno wants a process type (web) or a dyno (web.1), "
	    "not '%s'", q);
}

static int
cmd_logs(struct cmd_ctx *ctx)
{
	struct runtime_log_query f;
	struct sigaction sa;
	struct app a;
	const char *ps = cmd_opt(ctx, "dyno");
	const char *source = cmd_opt(ctx, "source");
	char q[80];
	int rc;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	app_clear(&a);
	if (source != NULL && strcmp(source, "app") != 0 &&
	    strcmp(source, "berth") != 0) {
		name_quote(source, q, sizeof(q));
		return cmd_fail("--source must be app (dyno output) or berth "
		    "(platform events), not '%s'", q);
	}
	if (ps != NULL && check_ps(ps) != 0)
		return 1;
	memset(&f, 0, sizeof(f));
	f.lines = cmd_num(ctx, "num", 100);
	f.ps = ps;
	f.source = source;
	/* `berth logs --tail | head` ends quietly when head exits. */
	signal(SIGPIPE, SIG_IGN);
	if (cmd_flag(ctx, "tail")) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = 0;	/* no SA_RESTART: wake the wait */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		rc = runtime_logs(&ctx->root, ctx->app, &f, stdout,
		    &stop_tail);
	} else
		rc = runtime_logs(&ctx->root, ctx->app, &f, stdout, NULL);
	if (rc < 0 && errno == EPIPE) {
		clearerr(stdout);	/* the reader left: not a failure */
		return 0;
	}
	if (rc < 0)
		return cmd_fail_last();
	return 0;
}

const struct berth_cmd cmd_logs_entry = {
	.name = "logs",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "logs -a APP [-n NUM] [-t] [-d DYNO] [-s app|berth]",
	.summary = "show an app's logs: its dynos' output and berth's events",
	.help =
	"Prints the last lines of the app's log, oldest first, one event a\n"
	"line:\n"
	"\n"
	"  2026-11-26T13:23:22.123456+00:00 app[web.1]: Listening on 20001\n"
	"  2026-11-26T13:23:25.000000+00:00 berth[router]: web.1 is up\n"
	"\n"
	"The time is UTC to the microsecond. app[DYNO] is what a dyno wrote\n"
	"to stdout or stderr; berth[router|release|api|...] are berth's own\n"
	"events about the app. Control characters show as \\xNN; a line\n"
	"longer than 64 KiB is cut and ends with \"…\". The log keeps about\n"
	"twice berth.ini [logs] max_size_kb; older lines are dropped.",
	.options = (const struct cmd_option[]){
		CMD_OPT_APP,
		CMD_OPT_NUM("the last NUM lines (default 100)"),
		{ .name = "tail", .short_name = 't', .kind = CMD_FLAG,
		    .help = "then keep printing new lines until Ctrl-C" },
		{ .name = "dyno", .short_name = 'd', .alias = "ps",
		    .kind = CMD_STRING, .arg = "DYNO",
		    .help = "only one dyno (web.1) or process type (web)" },
		{ .name = "source", .short_name = 's', .kind = CMD_STRING,
		    .arg = "SOURCE",
		    .help = "only app (dyno output) or berth lines" },
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_logs,
};
