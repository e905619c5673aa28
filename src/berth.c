/*
 * berth.c - the admin CLI: global options, the command table, help.
 */
#include "cmd.h"
#include "names.h"
#include "repo.h"
#include "runtime.h"

#include <getopt.h>
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
	&cmd_releases_entry,
	&cmd_releases_info_entry,
	&cmd_releases_output_entry,
	&cmd_releases_rollback_entry,
	&cmd_releases_retry_entry,
	&cmd_rollback_entry,
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
	NULL,
};

/* Long options; short letters are what berth_cmd.opts lists. */
enum { OPT_ROOT = 1000, OPT_DEPLOY_BRANCH, OPT_CONFIRM, OPT_NO_APPS,
    OPT_DOMAIN, OPT_PS, OPT_SOURCE, OPT_FORCE, OPT_FROM, OPT_TO,
    OPT_REBUILD, OPT_AUTODESTROY, OPT_STALE_DAYS, OPT_NODE };
static const struct option long_opts[] = {
	{ "app", required_argument, NULL, 'a' },
	{ "pipeline", required_argument, NULL, 'p' },
	{ "stage", required_argument, NULL, 's' },
	{ "branch", required_argument, NULL, 'b' },
	{ "num", required_argument, NULL, 'n' },
	{ "index", required_argument, NULL, 'i' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "deploy-branch", required_argument, NULL, OPT_DEPLOY_BRANCH },
	{ "confirm", required_argument, NULL, OPT_CONFIRM },
	{ "no-apps", no_argument, NULL, OPT_NO_APPS },
	{ "domain", required_argument, NULL, OPT_DOMAIN },
	{ "tail", no_argument, NULL, 't' },
	{ "ps", required_argument, NULL, OPT_PS },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "rebuild", no_argument, NULL, OPT_REBUILD },
	{ "autodestroy", no_argument, NULL, OPT_AUTODESTROY },
	{ "stale-days", required_argument, NULL, OPT_STALE_DAYS },
	{ "node", required_argument, NULL, OPT_NODE },
	{ NULL, 0, NULL, 0 },
};

/* Which long-only options a command takes, by its opts string letter. */
static const struct {
	int opt;
	char letter;
	const char *name;
} long_only[] = {
	{ OPT_DEPLOY_BRANCH, 'D', "--deploy-branch" },
	{ OPT_CONFIRM, 'C', "--confirm" },
	{ OPT_NO_APPS, 'N', "--no-apps" },
	{ OPT_DOMAIN, 'd', "--domain" },
	{ OPT_PS, 'P', "--ps" },
	{ OPT_SOURCE, 'S', "--source" },
	{ OPT_FORCE, 'F', "--force" },
	{ OPT_FROM, 'f', "--from" },
	{ OPT_TO, 'T', "--to" },
	{ OPT_REBUILD, 'R', "--rebuild" },
	{ OPT_AUTODESTROY, 'A', "--autodestroy" },
	{ OPT_STALE_DAYS, 'Y', "--stale-days" },
	{ OPT_NODE, 'O', "--node" },
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

int
cmd_need_app(struct cmd_ctx *ctx, struct app *out)
{
	if (ctx->app == NULL)
		return cmd_fail("%s needs an app: add -a APP (see: berth apps)",
		    ctx->cmd->name);
	if (ledger_app_get(ctx->root.db, ctx->app, out) != 0)
		return cmd_fail_last();
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
	return 0;
}

int
cmd_need_release(struct cmd_ctx *ctx, const struct app *a, const char *arg,
    struct release *out)
{
	const char *p = arg[0] == 'v' || arg[0] == 'V' ? arg + 1 : arg;
	char *end, q[64];
	long v = -1;
	int latest, rc;

	if (*p >= '0' && *p <= '9') {
		v = strtol(p, &end, 10);
		if (*end != '\0' || v > 1000000000)
			v = -1;
	}
	if (v < 0) {
		name_quote(arg, q, sizeof(q));
		return cmd_fail("'%s' is not a release version: use vN, e.g. "
		    "v3", q);
	}
	if (v == 0)
		return cmd_fail("v0 is not a release: versions start at v1; "
		    "see: berth releases -a %s", a->name);
	rc = ledger_release_get(ctx->root.db, a->id, (int)v, out);
	if (rc == 0)
		return 0;
	latest = ledger_release_latest_version(ctx->root.db, a->id);
	if (rc < 0 || latest < 0)
		return cmd_fail_last();
	if (latest == 0)
		return cmd_fail("%s has no release v%ld (it has no releases "
		    "yet; push to deploy it)", a->name, v);
	return cmd_fail("%s has no release v%ld (latest is v%d); see: berth "
	    "releases -a %s", a->name, v, latest, a->name);
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
	case RELEASE_UNNEEDED:
		break;
	}
	if (version != NULL)
		*version = done.version;
	release_done_clear(&done);
	return ret;
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
		runtime_settle_stale(&ctx->root, a->id);
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
	printf("\nGlobal: --root DIR (default: $BERTH_ROOT or %s)\n",
	    BERTH_DEFAULT_ROOT);
}

static int
parse_int(const char *s, const char *opt, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 1000000)
		return berth_error("%s wants a whole number from 1 to 1000000, "
		    "not '%s'", opt, s);
	*out = (int)v;
	return 0;
}

/* A whole number from 0 to max. */
static int
parse_count(const char *s, const char *opt, int max, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s < '0' || *s > '9' || *end != '\0' || v > max)
		return berth_error("%s wants a whole number from 0 to %d, not "
		    "'%s'", opt, max, s);
	*out = (int)v;
	return 0;
}

/* Whether command c accepts option letter ch. */
static int
takes(const struct berth_cmd *c, int ch)
{
	return ch == 'h' || (c->opts != NULL && strchr(c->opts, ch) != NULL);
}

static int
parse(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct berth_cmd *c = ctx->cmd;
	int ch;
	size_t i;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "-a:p:s:b:n:i:jth", long_opts,
	    NULL)) != -1) {
		int letter = ch;

		for (i = 0; i < sizeof(long_only) / sizeof(long_only[0]); i++)
			if (long_only[i].opt == ch)
				letter = long_only[i].letter;
		if (ch == 1) {
			ctx->argv[ctx->argc++] = optarg;
			continue;
		}
		if (ch == '?' || ch == ':') {
			const struct option *lo;

			/* A known long option without its value. */
			for (lo = long_opts; lo->name != NULL; lo++)
				if (optopt != 0 && lo->val == optopt &&
				    lo->has_arg == required_argument)
					return berth_error("option %s%s needs a "
					    "value; see: berth help %s",
					    optopt < 256 ? "-" : "--",
					    optopt < 256 ? (char[2]){ (char)optopt,
					    0 } : lo->name, c->name);
			if (optopt > 0 && optopt < 256)
				return berth_error("unknown option '-%c'; see: "
				    "berth help %s", optopt, c->name);
			return berth_error("unknown option '%s'; see: berth "
			    "help %s", argv[optind - 1], c->name);
		}
		if (ch == OPT_ROOT) {
			ctx->root_dir = optarg;
			continue;
		}
		if (!takes(c, letter))
			return berth_error("%s does not take option '%s'; "
			    "see: berth help %s", c->name, argv[optind - 1],
			    c->name);
		switch (ch) {
		case 'a': ctx->app = optarg; break;
		case 'p': ctx->pipeline = optarg; break;
		case 's': ctx->stage = optarg; break;
		case 'b': ctx->branch = optarg; break;
		case 'j': ctx->json = 1; break;
		case 't': ctx->tail = 1; break;
		case 'h': print_cmd_help(c); exit(0);
		case 'n':
			if (parse_int(optarg, "-n", &ctx->num) < 0)
				return -1;
			break;
		case 'i':
			if (parse_int(optarg, "--index", &ctx->index) < 0)
				return -1;
			break;
		case OPT_DEPLOY_BRANCH: ctx->deploy_branch = optarg; break;
		case OPT_CONFIRM: ctx->confirm = optarg; break;
		case OPT_NO_APPS: ctx->no_apps = 1; break;
		case OPT_DOMAIN: ctx->domain = optarg; break;
		case OPT_PS: ctx->ps = optarg; break;
		case OPT_SOURCE: ctx->source = optarg; break;
		case OPT_FORCE: ctx->force = 1; break;
		case OPT_FROM: ctx->from = optarg; break;
		case OPT_TO: ctx->to = optarg; break;
		case OPT_REBUILD: ctx->rebuild = 1; break;
		case OPT_AUTODESTROY: ctx->autodestroy = 1; break;
		case OPT_STALE_DAYS:
			if (parse_count(optarg, "--stale-days", 3650,
			    &ctx->stale_days) < 0)
				return -1;
			break;
		case OPT_NODE:
			if (parse_count(optarg, "--node", 1000,
			    &ctx->node) < 0)
				return -1;
			break;
		}
	}
	/* After "--", everything is positional. */
	for (; optind < argc; optind++)
		ctx->argv[ctx->argc++] = argv[optind];
	if (ctx->argc < c->min_args)
		return berth_error("%s needs more arguments: berth %s",
		    c->name, c->usage);
	if (c->max_args >= 0 && ctx->argc > c->max_args)
		return berth_error("%s takes %s argument%s ('%s' is extra): "
		    "berth %s", c->name, c->max_args == 0 ? "no" :
		    c->max_args == 1 ? "one" : "fewer", c->max_args == 1 ?
		    "" : "s", ctx->argv[c->max_args], c->usage);
	return 0;
}

int
main(int argc, char **argv)
{
	struct cmd_ctx ctx;
	const struct berth_cmd *c;
	int ret;

	if (argc < 2) {
		print_usage(stderr);
		return 1;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2 && (c = find_cmd(argv[2])) != NULL) {
			print_cmd_help(c);
			return 0;
		}
		if (argc > 2)
			return cmd_fail("no command '%s'; see: berth help",
			    argv[2]);
		print_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("berth %s\n", PACKAGE_VERSION);
		return 0;
	}
	c = find_cmd(argv[1]);
	if (c == NULL)
		return cmd_fail("no command '%s'; see: berth help", argv[1]);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cmd = c;
	ctx.stale_days = -1;
	ctx.node = -1;
	ctx.argv = xcalloc((size_t)argc, sizeof(char *));
	if (parse(&ctx, argc - 1, argv + 1) < 0) {
		free(ctx.argv);
		return cmd_fail_last();
	}
	if (ctx.root_dir == NULL)
		ctx.root_dir = root_default();
	repo_global_init();
	if (!(c->flags & CMD_NO_ROOT) && root_open(&ctx.root,
	    ctx.root_dir) < 0) {
		ret = cmd_fail_last();
		goto out;
	}
	ret = c->exec(&ctx);
	if (!(c->flags & CMD_NO_ROOT))
		root_close(&ctx.root);
out:
	repo_global_shutdown();
	free(ctx.argv);
	return ret;
}
