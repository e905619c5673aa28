/*
 * cmd-run.c - run: a one-off dyno on the app's current release, with
 * its config, stdio attached and the exit status passed through.
 */
#include "cmd.h"
#include "runtime.h"

#include <string.h>

/*
 * `berth run bash -a shop`: the words after the command are its own,
 * so an -a there is bash's. Say where it goes instead of "needs an
 * app". 1 after saying so, else 0.
 */
static int
app_after_command(struct cmd_ctx *ctx)
{
	int i;

	if (ctx->app != NULL)
		return 0;
	for (i = 1; i < ctx->argc; i++)
		if (strcmp(ctx->argv[i], "-a") == 0 ||
		    strcmp(ctx->argv[i], "--app") == 0 ||
		    strncmp(ctx->argv[i], "--app=", 6) == 0)
			return cmd_fail("run takes -a APP before the command "
			    "(what follows the command is the command's): "
			    "berth run -a APP COMMAND [ARGS...]");
	return 0;
}

static int
cmd_run(struct cmd_ctx *ctx)
{
	struct app a;
	struct release rel;
	struct slug slug;
	struct strbuf cmd = STRBUF_INIT;
	int i, ret = 1;

	memset(&slug, 0, sizeof(slug));
	memset(&rel, 0, sizeof(rel));
	if (app_after_command(ctx) != 0 || cmd_need_app(ctx, &a) != 0)
		return 1;
	if (cmd_need_current(ctx, &a, "run", &rel) != 0)
		goto out;
	if (rel.slug_id == NULL ||
	    ledger_slug_get(ctx->root.db, rel.slug_id, &slug) != 0) {
		cmd_fail("%s v%d has no slug to run", a.name, rel.version);
		goto out;
	}
	/* The words from the command on make one command line, run by
	 * the dyno's shell. */
	for (i = 0; i < ctx->argc; i++)
		strbuf_addf(&cmd, "%s%s", i ? " " : "", ctx->argv[i]);
	ret = runtime_run(&ctx->root, a.name, &rel, slug.commit, cmd.buf);
	if (ret < 0)
		ret = cmd_fail_last();
out:
	strbuf_release(&cmd);
	slug_clear(&slug);
	release_clear(&rel);
	app_clear(&a);
	return ret;
}

const struct berth_cmd cmd_run_entry = {
	.name = "run",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .review = ROLE_DEVELOPER,
	    .production = ROLE_ADMIN },
	.usage = "run -a APP COMMAND [ARGS...]",
	.summary = "run a one-off dyno on the app's current release",
	.help =
	"berth's options come before COMMAND; every word from COMMAND on is\n"
	"the command's own (berth run -a shop ls -la), as after \"--\"\n"
	"(berth run -a shop -- ls -la, which works too).\n"
	"The command runs in a fresh copy of the current release's slug,\n"
	"with its config vars, DYNO=run.N, the .profile.d scripts sourced,\n"
	"and this terminal's stdin, stdout and stderr. berth exits with the\n"
	"command's exit status (128+N when a signal N ended it).",
	.options = cmd_opts_app,
	.min_args = 1, .max_args = -1,
	.exec = cmd_run,
	.flags = CMD_OPTS_FIRST,
};
