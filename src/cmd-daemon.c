/*
 * cmd-daemon.c - daemon:status and daemon:stop: berthd itself.
 */
#include "cmd.h"
#include "runtime.h"
#include "sandbox.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The router's part of the status line. */
static const char *
router_summary(const struct cmd_ctx *ctx, json_t *st)
{
	const char *mode = json_string_value(json_object_get(st,
	    "router_mode"));

	if (mode == NULL)
		return json_is_string(json_object_get(st, "router_error")) ?
		    "router not running" : "no router (nginx not installed?)";
	if (strcmp(mode, "lua") == 0)
		return "router up (ports change without reloads)";
	if (ctx->root.cfg.router_lua == ROUTER_LUA_OFF)
		return "router up (reloads on every change: berth.ini "
		    "[router] lua = off)";
	return "router up (reloads on every change; install "
	    "libnginx-mod-http-lua to avoid them)";
}

/*
 * What is not as it should be: dyno limits not enforced, a start-up
 * still converging, the router not running, each route it has not
 * applied; a line each.
 */
static void
print_troubles(json_t *st)
{
	const char *down = json_string_value(json_object_get(st,
	    "router_error"));
	json_t *pending = json_object_get(st, "routes_pending"), *r;
	size_t i;
	const char *unlimited = json_string_value(json_object_get(
	    json_object_get(st, "limits"), "warning"));

	if (unlimited != NULL)
		printf("warning: dyno memory and pids limits are not enforced: "
		    "%s\n", unlimited);
	if (json_is_false(json_object_get(st, "converged")))
		printf("still starting: not every app is converged yet\n");
	if (down != NULL)
		printf("router down (berthd retries): %s\n", down);
	json_array_foreach(pending, i, r) {
		long secs = (long)(time(NULL) - (time_t)json_integer_value(
		    json_object_get(r, "since")));
		long long tries = json_integer_value(json_object_get(r,
		    "tries"));

		printf("route of %s not applied for %lds (%lld tr%s): %s "
		    "(berthd retries)\n", json_string_value(
		    json_object_get(r, "app")), secs, tries, tries == 1 ? "y" :
		    "ies", json_string_value(json_object_get(r, "error")));
	}
}

/*
 * Whether app code is isolated: NULL when it is, else what to say (a
 * copy); berth_error() is left as it was.
 */
static char *
sandbox_trouble(const struct berth_root *r)
{
	char *saved = xstrdup(berth_last_error()), *why = NULL;

	if (sandbox_warning(r) != NULL)
		why = xstrdup(sandbox_warning(r));
	else if (sandbox_check(r) < 0)
		why = xstrdup(berth_last_error());
	else if (!sandbox_scoped())
		why = xstrdup("sandboxes share abstract Unix sockets with each "
		    "other and the host: this kernel has no Landlock scopes "
		    "(Linux 6.12 and later do)");
	berth_error("%s", saved);
	free(saved);
	return why;
}

static int
cmd_daemon_status(struct cmd_ctx *ctx)
{
	json_t *st = NULL;
	long up;
	int rc = runtime_status(&ctx->root, &st);
	char *trouble = sandbox_trouble(&ctx->root);

	if (rc != 0) {
		if (trouble != NULL)
			fprintf(stderr, "berth: warning: %s\n", trouble);
		free(trouble);
		return cmd_fail_last();
	}
	json_object_set_new(st, "sandbox", trouble == NULL ?
	    json_string("on") : json_string(trouble));
	if (ctx->json) {
		free(trouble);
		return cmd_print_json(st);
	}
	up = (long)(time(NULL) - (time_t)json_integer_value(
	    json_object_get(st, "started_at")));
	printf("berthd is running (pid %lld, up %ldm %lds): %lld apps, %lld "
	    "dynos, %s\n", (long long)json_integer_value(json_object_get(st,
	    "pid")), up / 60, up % 60, (long long)json_integer_value(
	    json_object_get(st, "apps")), (long long)json_integer_value(
	    json_object_get(st, "dynos")), router_summary(ctx, st));
	print_troubles(st);
	if (trouble != NULL)
		printf("Warning: %s\n", trouble);
	free(trouble);
	json_decref(st);
	return 0;
}

static int
cmd_daemon_stop(struct cmd_ctx *ctx)
{
	json_t *st = NULL;
	pid_t pid;
	int64_t deadline;

	if (runtime_status(&ctx->root, &st) != 0)
		return cmd_fail_last();
	pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
	json_decref(st);
	if (runtime_shutdown(&ctx->root) != 0)
		return cmd_fail_last();
	/* berthd stops its dynos (SIGTERM, then SIGKILL) and its nginx. */
	deadline = now_ms() + (int64_t)(ctx->root.cfg.stop_timeout + 15) * 1000;
	while (pid > 0 && kill(pid, 0) == 0) {
		if (now_ms() > deadline)
			return cmd_fail("berthd (pid %ld) is still stopping; "
			    "see %s/run/berthd.log", (long)pid, ctx->root.dir);
		usleep(20000);
	}
	printf("Stopped berthd (pid %ld), its dynos and its router\n",
	    (long)pid);
	return 0;
}

const struct berth_cmd cmd_daemon_status_entry = {
	.name = "daemon:status",
	.access = { .scope = ACCESS_SERVER },
	.usage = "daemon:status [--json]",
	.summary = "is berthd running: pid, uptime, apps, dynos, router",
	.help = "Exits 1 when berthd is not running.",
	.options = cmd_opts_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_daemon_status,
};

const struct berth_cmd cmd_daemon_stop_entry = {
	.name = "daemon:stop",
	.access = { .scope = ACCESS_SERVER },
	.usage = "daemon:stop",
	.summary = "stop berthd, its dynos and its nginx",
	.min_args = 0, .max_args = 0,
	.exec = cmd_daemon_stop,
};
