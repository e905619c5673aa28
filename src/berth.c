/*
 * berth.c - the admin CLI: the command table, help, and the helpers
 * commands share. cmd-parse.c reads a command's options.
 */
#include "cmd.h"
#include "names.h"
#include "repo.h"
#include "runtime.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct berth_cmd *const commands[] = {
	&cmd_init_entry,
	&cmd_pipelines_entry,
	&cmd_pipelines_create_entry,
	&cmd_pipelines_info_entry,
	&cmd_pipelines_promote_entry,
	&cmd_pipelines_diff_entry,
	&cmd_apps_entry,
	&cmd_apps_create_entry,
	&cmd_apps_info_entry,
	&cmd_apps_destroy_entry,
	&cmd_deploy_entry,
	&cmd_releases_entry,
	&cmd_releases_info_entry,
	&cmd_releases_output_entry,
	&cmd_releases_rollback_entry,
	&cmd_releases_retry_entry,
	&cmd_rollback_entry,
	&cmd_activity_entry,
	&cmd_activity_info_entry,
	&cmd_webhooks_entry,
	&cmd_webhooks_add_entry,
	&cmd_webhooks_remove_entry,
	&cmd_webhooks_deliveries_entry,
	&cmd_webhooks_redeliver_entry,
	&cmd_github_connect_entry,
	&cmd_github_info_entry,
	&cmd_github_disconnect_entry,
	&cmd_slack_connect_entry,
	&cmd_slack_info_entry,
	&cmd_slack_disconnect_entry,
	&cmd_slack_link_entry,
	&cmd_slack_unlink_entry,
	&cmd_builds_entry,
	&cmd_builds_output_entry,
	&cmd_config_entry,
	&cmd_config_get_entry,
	&cmd_config_set_entry,
	&cmd_config_unset_entry,
	&cmd_buildpacks_entry,
	&cmd_buildpacks_add_entry,
	&cmd_buildpacks_remove_entry,
	&cmd_logs_entry,
	&cmd_ps_entry,
	&cmd_ps_scale_entry,
	&cmd_ps_resize_entry,
	&cmd_ps_restart_entry,
	&cmd_ps_stop_entry,
	&cmd_ps_start_entry,
	&cmd_run_entry,
	&cmd_open_entry,
	&cmd_daemon_status_entry,
	&cmd_daemon_stop_entry,
	&cmd_ci_entry,
	&cmd_ci_info_entry,
	&cmd_ci_last_entry,
	&cmd_ci_rerun_entry,
	&cmd_ci_config_entry,
	&cmd_ci_config_set_entry,
	&cmd_ci_config_unset_entry,
	&cmd_ci_gate_entry,
	&cmd_reviewapps_entry,
	&cmd_reviewapps_enable_entry,
	&cmd_reviewapps_disable_entry,
	&cmd_reviewapps_config_entry,
	&cmd_reviewapps_config_set_entry,
	&cmd_reviewapps_config_unset_entry,
	&cmd_reviewapps_create_entry,
	&cmd_reviewapps_destroy_entry,
	&cmd_users_entry,
	&cmd_users_add_entry,
	&cmd_users_remove_entry,
	&cmd_keys_entry,
	&cmd_keys_add_entry,
	&cmd_keys_remove_entry,
	&cmd_keys_authorized_entry,
	&cmd_access_entry,
	&cmd_access_grant_entry,
	&cmd_access_revoke_entry,
	&cmd_tokens_entry,
	&cmd_tokens_create_entry,
	&cmd_tokens_revoke_entry,
	&cmd_shell_entry,
	NULL,
};

int
cmd_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("berth: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int
cmd_fail_last(void)
{
	return cmd_fail("%s", berth_last_error());
}

/* A remote user's role on pipeline_id against need: 0, or 1 refused. */
static int
check_role(struct cmd_ctx *ctx, int64_t pipeline_id, const char *pipeline,
    const char *what, enum role need)
{
	enum role have;

	if (!ctx->remote)
		return 0;
	if (access_role(ctx->root.db, &ctx->user, pipeline_id, &have) < 0)
		return cmd_fail_last();
	if (have < need) {
		access_refuse(&ctx->root, &ctx->user, have, pipeline, what,
		    need);
		ctx->refused = 1;
		return cmd_fail_last();
	}
	ctx->checked = 1;
	return 0;
}

int
cmd_check_app(struct cmd_ctx *ctx, const struct app *a)
{
	char *what = xasprintf("%s on %s", ctx->cmd->name, a->name);
	int rc = check_role(ctx, a->pipeline_id, a->pipeline, what,
	    access_needed(&ctx->cmd->access, a->stage));

	free(what);
	return rc;
}

int
cmd_check_pipeline(struct cmd_ctx *ctx, const struct pipeline *p)
{
	return check_role(ctx, p->id, p->name, ctx->cmd->name,
	    access_needed(&ctx->cmd->access, NULL));
}

int
cmd_read_secret(const char *option, const char *path, const char *noun,
    const char *what, char **out)
{
	struct strbuf sb = STRBUF_INIT;
	struct stat st;
	size_t i;

	*out = NULL;
	if (read_file(path, &sb, 4096) < 0) {
		strbuf_release(&sb);
		return -1;
	}
	strbuf_rtrim(&sb);
	for (i = 0; i < sb.len; i++)
		if ((unsigned char)sb.buf[i] < ' ' ||
		    (unsigned char)sb.buf[i] == 0x7f)
			break;
	if (sb.len == 0 || i < sb.len) {
		strbuf_release(&sb);
		return berth_error("%s %s must hold one %s, on one line: %s",
		    option, path, noun, what);
	}
	if (stat(path, &st) == 0 && (st.st_mode & 0044))
		fprintf(stderr, "berth: warning: others can read %s; chmod 600 "
		    "it\n", path);
	*out = strbuf_detach(&sb);
	return 0;
}

int
cmd_check_server(struct cmd_ctx *ctx, const char *what)
{
	if (!ctx->remote || ctx->user.admin) {
		ctx->checked = 1;
		return 0;
	}
	access_refuse(&ctx->root, &ctx->user, ROLE_NONE, NULL, what,
	    ROLE_ADMIN);
	ctx->refused = 1;
	return cmd_fail_last();
}

int
cmd_check_self(struct cmd_ctx *ctx, const char *user, const char *what)
{
	if (ctx->remote && strcmp(user, ctx->user.name) == 0) {
		ctx->checked = 1;
		return 0;
	}
	return cmd_check_server(ctx, what);
}

int
cmd_may(struct cmd_ctx *ctx, int64_t pipeline_id, enum role need)
{
	enum role have;

	if (!ctx->remote)
		return 1;
	return access_role(ctx->root.db, &ctx->user, pipeline_id, &have) ==
	    0 && have >= need;
}

int
cmd_need_app(struct cmd_ctx *ctx, struct app *out)
{
	if (ctx->app == NULL)
		return cmd_fail("%s needs an app: add -a APP (see: berth apps)",
		    ctx->cmd->name);
	if (ledger_app_get(ctx->root.db, ctx->app, out) != 0)
		return cmd_fail_last();
	if (cmd_check_app(ctx, out) != 0) {
		app_clear(out);
		return 1;
	}
	return 0;
}

int
cmd_need_pipeline(struct cmd_ctx *ctx, struct pipeline *out)
{
	if (ctx->pipeline == NULL)
		return cmd_fail("%s needs a pipeline: add -p PIPELINE (see: "
		    "berth pipelines)", ctx->cmd->name);
	if (ledger_pipeline_get(ctx->root.db, ctx->pipeline, out) != 0)
		return cmd_fail_last();
	if (cmd_check_pipeline(ctx, out) != 0) {
		pipeline_clear(out);
		return 1;
	}
	return 0;
}

int
cmd_need_release(struct cmd_ctx *ctx, const struct app *a, const char *arg,
    struct release *out)
{
	const char *p = arg[0] == 'v' || arg[0] == 'V' ? arg + 1 : arg;
	char q[64];
	int64_t v;
	size_t n = strspn(p, "0123456789");
	int latest, rc = 1;

	if (n == 0 || p[n] != '\0') {
		name_quote(arg, q, sizeof(q));
		return cmd_fail("'%s' is not a release version: use vN, e.g. "
		    "v3", q);
	}
	/* Any digits: a version past int64 is one no app has either. */
	errno = 0;
	v = strtoll(p, NULL, 10);
	if (errno == 0 && v == 0)
		return cmd_fail("v0 is not a release: versions start at v1; "
		    "see: berth releases -a %s", a->name);
	if (errno == 0)
		rc = ledger_release_get(ctx->root.db, a->id, v, out);
	if (rc == 0)
		return 0;
	latest = rc < 0 ? -1 : ledger_release_latest_version(ctx->root.db,
	    a->id);
	if (latest < 0)
		return cmd_fail_last();
	name_quote(p, q, sizeof(q));
	if (latest == 0)
		return cmd_fail("%s has no release v%s (it has no releases "
		    "yet; push to deploy it)", a->name, q);
	return cmd_fail("%s has no release v%s (latest is v%d); see: berth "
	    "releases -a %s", a->name, q, latest, a->name);
}

int
cmd_need_current(struct cmd_ctx *ctx, const struct app *a, const char *what,
    struct release *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ledger_release_current(ctx->root.db, a->id, out);
	if (rc < 0)
		return cmd_fail_last();
	if (rc > 0)
		return cmd_fail("%s has no release to %s; push to deploy it "
		    "first", a->name, what);
	return 0;
}

static void
launch_progress(const char *line, void *data)
{
	(void)data;
	if (strncmp(line, "-----> ", 7) == 0)
		printf("%s\n", line + 7);
	else
		printf("  %s\n", line);
	fflush(stdout);
}

int
cmd_release(struct cmd_ctx *ctx, const struct release_order *o, int *version)
{
	struct release_order ord = *o;
	struct release_done done;
	int ret = 0;

	if (ord.progress == NULL)
		ord.progress = launch_progress;
	switch (release_deploy(&ctx->root, &ord, &done)) {
	case RELEASE_NOT_CREATED:
		ret = -1;
		break;
	case RELEASE_RECORDED:
		fprintf(stderr, "berth: %s; v%d is recorded and starts when "
		    "berthd does\n", done.why, done.version);
		break;
	case RELEASE_FAILED:
		ret = cmd_fail("v%d of %s failed to start, the previous "
		    "release keeps running: %s", done.version, o->app->name,
		    done.why);
		break;
	case RELEASE_LIVE:
	case RELEASE_STAGED:	/* only a push's release has a gate */
	case RELEASE_UNNEEDED:
		break;
	}
	if (version != NULL)
		*version = done.version;
	release_done_clear(&done);
	return ret;
}

void
cmd_settle_idle(struct cmd_ctx *ctx, const struct app *a)
{
	int fd = deploy_trylock(&ctx->root, a->pipeline);

	if (fd >= 0) {
		runtime_settle_stale(&ctx->root, a);
		deploy_unlock(fd);
	}
}

static void
lock_waiting(const char *holder, void *data)
{
	(void)data;
	fprintf(stderr, "berth: waiting for the %s to finish...\n", holder);
}

int
cmd_lock_app(struct cmd_ctx *ctx, const struct app *a, const char *what)
{
	int fd = deploy_lock(&ctx->root, a->pipeline, what, lock_waiting,
	    NULL);

	if (fd < 0)
		cmd_fail_last();
	else
		runtime_settle_stale(&ctx->root, a);
	return fd;
}

int
cmd_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(j);
	return 0;
}

json_t *
json_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static const struct berth_cmd *
find_cmd(const char *name)
{
	size_t i;

	for (i = 0; commands[i] != NULL; i++)
		if (strcmp(commands[i]->name, name) == 0 ||
		    (commands[i]->alias != NULL &&
		    strcmp(commands[i]->alias, name) == 0))
			return commands[i];
	return NULL;
}

static void
print_usage(FILE *f)
{
	size_t i;
	int w = 0;

	fprintf(f, "usage: berth COMMAND [options]   (berth help COMMAND "
	    "for more)\n\nHeroku Flow on your own server.\n\nCommands:\n");
	for (i = 0; commands[i] != NULL; i++) {
		int len = (int)strlen(commands[i]->name);

		if (len > w)
			w = len;
	}
	for (i = 0; commands[i] != NULL; i++)
		fprintf(f, "  %-*s  %s\n", w, commands[i]->name,
		    commands[i]->summary);
	fprintf(f, "\nGlobal options:\n"
	    "  --root DIR   server root (default: $BERTH_ROOT or %s)\n"
	    "  --help       help for a command\n", BERTH_DEFAULT_ROOT);
}

static void
print_cmd_help(const struct berth_cmd *c)
{
	printf("usage: berth %s\n\n%s\n", c->usage, c->summary);
	if (c->help != NULL)
		printf("\n%s\n", c->help);
	if (c->alias != NULL)
		printf("\nAlias: %s\n", c->alias);
	cmd_print_options(stdout, c->options);
	printf("\nGlobal: --root DIR (default: $BERTH_ROOT or %s)\n",
	    BERTH_DEFAULT_ROOT);
}

/*
 * `berth --root DIR CMD ...` (git's order, as an sshd forced command
 * writes it) means `berth CMD --root DIR ...`: move the command first,
 * past every --root DIR or --root=DIR before it (a second one is then
 * refused as given twice, as anywhere else).
 */
static void
root_first(int argc, char **argv)
{
	int n = 0;
	char *cmd;

	while (n + 1 < argc) {
		if (strcmp(argv[n + 1], "--root") == 0 && n + 2 < argc)
			n += 2;
		else if (strncmp(argv[n + 1], "--root=", 7) == 0)
			n += 1;
		else
			break;
	}
	if (n == 0 || argc <= n + 1)
		return;
	cmd = argv[n + 1];
	memmove(&argv[2], &argv[1], (size_t)n * sizeof(*argv));
	argv[1] = cmd;
}

/*
 * A command whose output did not all reach stdout (a full disk, a file
 * closed under it) fails, whatever else it did: exit 1, with one line
 * saying why. A reader that left (EPIPE: `berth logs | head`) is not a
 * failure: there was no one left to tell.
 */
static int
finish_output(int ret)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return ret;
	if (errno == EPIPE)
		return ret;
	if (errno == 0)
		return cmd_fail("cannot write the output");
	return cmd_fail("cannot write the output: %s", strerror(errno));
}

/*
 * Who is asking (access.h), and whether the command is theirs to run at
 * all; what it needs of an app or pipeline is checked where it resolves
 * it (cmd_need_app(), cmd_need_pipeline()). 0, or 1 after the refusal.
 */
static int
check_access(struct cmd_ctx *ctx, const struct berth_cmd *c)
{
	int rc;

	if (c->flags & CMD_NO_ROOT) {
		rc = getenv(ACCESS_USER_ENV) != NULL;
	} else {
		rc = access_user_from_env(ctx->root.db, &ctx->user);
		if (rc < 0)
			return cmd_fail_last();
	}
	ctx->remote = rc;
	if (!ctx->remote)
		return 0;
	if (c->access.scope == ACCESS_LOCAL) {
		ctx->refused = 1;
		return cmd_fail("%s runs only on the server itself, by a user "
		    "with access to the server root", c->name);
	}
	if (c->access.scope == ACCESS_SERVER)
		return cmd_check_server(ctx, c->name);
	return 0;
}

static int
run(int argc, char **argv)
{
	struct cmd_ctx ctx;
	const struct berth_cmd *c;
	const char *topic;
	char q[64];
	int ret;

	if (argc < 2) {
		print_usage(stderr);
		return 1;
	}
	root_first(argc, argv);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		/* The word after a --root (berth shell gives one): `berth
		 * --root DIR help users` became `help --root DIR users`. */
		topic = argc > 2 ? argv[2] : NULL;
		if (topic != NULL && strcmp(topic, "--root") == 0)
			topic = argc > 4 ? argv[4] : NULL;
		else if (topic != NULL && strncmp(topic, "--root=", 7) == 0)
			topic = argc > 3 ? argv[3] : NULL;
		if (topic != NULL && topic[0] != '-' &&
		    (c = find_cmd(topic)) != NULL) {
			print_cmd_help(c);
			return 0;
		}
		if (topic != NULL && topic[0] != '-')
			return cmd_fail("no command '%s'; see: berth help",
			    topic);
		print_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("berth %s\n", PACKAGE_VERSION);
		return 0;
	}
	c = find_cmd(argv[1]);
	if (c == NULL && strncmp(argv[1], "--root", 6) == 0 &&
	    (argv[1][6] == '\0' || argv[1][6] == '='))
		return cmd_fail("no command after %s; see: berth help",
		    argv[1][6] == '\0' ? "--root DIR" : "--root=DIR");
	if (c == NULL && argv[1][0] == '-') {
		/* berth -a shop releases: which options there are, and
		 * whether -a takes a value, only the command knows. */
		name_quote(argv[1], q, sizeof(q));
		return cmd_fail("%s before the command: write the command "
		    "first, then its options (berth COMMAND [options]; see: "
		    "berth help)", q);
	}
	if (c == NULL) {
		name_quote(argv[1], q, sizeof(q));
		return cmd_fail("no command '%s'; see: berth help", q);
	}
	ret = cmd_parse(&ctx, c, argc - 1, argv + 1);
	if (ret < 0) {
		cmd_ctx_clear(&ctx);
		return cmd_fail_last();
	}
	if (ret > 0) {
		print_cmd_help(c);
		cmd_ctx_clear(&ctx);
		return 0;
	}
	if (ctx.root_dir == NULL)
		ctx.root_dir = root_default();
	if (!(c->flags & CMD_NO_GIT))
		repo_global_init();
	if (!(c->flags & CMD_NO_ROOT) && root_open(&ctx.root,
	    ctx.root_dir) < 0) {
		ret = cmd_fail_last();
		goto out;
	}
	ret = check_access(&ctx, c);
	if (ret == 0)
		ret = c->exec(&ctx);
	/* A command that never checked a remote user's role is a hole. */
	if (ret == 0 && ctx.remote && !ctx.checked &&
	    (c->access.scope == ACCESS_APP ||
	    c->access.scope == ACCESS_PIPELINE))
		ret = cmd_fail("%s did not check %s's access: a bug in berth; "
		    "please report it", c->name, ctx.user.name);
	if (ctx.refused && ret != 0)
		ret = CMD_EXIT_REFUSED;
	user_clear(&ctx.user);
	if (!(c->flags & CMD_NO_ROOT))
		root_close(&ctx.root);
out:
	if (!(c->flags & CMD_NO_GIT))
		repo_global_shutdown();
	cmd_ctx_clear(&ctx);
	return ret;
}

int
main(int argc, char **argv)
{
	int ret = run(argc, argv);

	/* Interrupted while a release phase ran: it was recorded failed,
	 * and now the command ends as the signal would have ended it. */
	run_command_reraise();
	return finish_output(ret);
}
