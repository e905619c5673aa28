/*
 * cmd-ps.c - ps, ps:scale, ps:resize, ps:restart, ps:stop, ps:start:
 * the app's dynos, which berthd runs to match the formation (how many
 * of each process type, and how big) in the ledger.
 */
#include "cmd.h"
#include "release.h"
#include "names.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
progress(const char *line, void *data)
{
	(void)data;
	printf("  %s\n", line);
	fflush(stdout);
}

static char *
uptime(json_int_t started)
{
	long d = (long)(time(NULL) - (time_t)started);

	if (started <= 0)
		return xstrdup("-");
	if (d < 60)
		return xasprintf("%lds", d);
	if (d < 3600)
		return xasprintf("%ldm %lds", d / 60, d % 60);
	if (d < 86400)
		return xasprintf("%ldh %ldm", d / 3600, (d % 3600) / 60);
	return xasprintf("%ldd %ldh", d / 86400, (d % 86400) / 3600);
}

/*
 * The formation of the app's current release into *cur: 0, -1 with
 * cmd_fail() done (no release yet, its slug unreadable).
 */
static int
load_formation(struct cmd_ctx *ctx, const struct app *a,
    struct formation_item **cur, size_t *ncur)
{
	struct release rel;
	struct slug slug;
	struct proctypes types = { NULL, 0 };
	int rc;

	memset(&slug, 0, sizeof(slug));
	*cur = NULL;
	*ncur = 0;
	if (ledger_release_current(ctx->root.db, a->id, &rel) != 0) {
		cmd_fail("%s has no release yet: push to deploy it first",
		    a->name);
		return -1;
	}
	rc = ledger_slug_get(ctx->root.db, rel.slug_id, &slug);
	release_clear(&rel);
	if (rc != 0 || proctypes_from_json(slug.process_types, &types) < 0 ||
	    release_formation(ctx->root.db, a->id, &types, cur, ncur) < 0) {
		cmd_fail_last();
		rc = -1;
	}
	proctypes_clear(&types);
	slug_clear(&slug);
	return rc != 0 ? -1 : 0;
}

/* A type's size for people: "512M"; the berth.ini one when 0. */
static void
type_size(const struct cmd_ctx *ctx, int64_t memory, char buf[32])
{
	size_format(memory > 0 ? memory : ctx->root.cfg.dyno_memory, buf);
}

static int
cmd_ps(struct cmd_ctx *ctx)
{
	struct app a;
	json_t *dynos = NULL, *d;
	struct table t;
	size_t i;
	int rc;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	rc = runtime_ps(&ctx->root, a.name, &dynos);
	if (rc != 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	if (ctx->json) {
		app_clear(&a);
		return cmd_print_json(dynos);
	}
	if (json_array_size(dynos) == 0)
		printf("%s has no dynos running%s\n", a.name, a.stopped ?
		    " (stopped: berth ps:start -a APP)" : "");
	table_init(&t, 8);
	if (json_array_size(dynos) > 0)
		table_row(&t, "DYNO", "STATE", "UPTIME", "PORT", "SIZE",
		    "RELEASE", "RESTARTS", "COMMAND");
	json_array_foreach(dynos, i, d) {
		char port[24] = "-", rel[24], restarts[24], size[32] = "-";
		char *up = uptime(json_integer_value(json_object_get(d,
		    "started_at")));
		json_int_t p = json_integer_value(json_object_get(d, "port"));
		json_int_t mem = json_integer_value(json_object_get(d,
		    "memory"));
		const char *crash = json_string_value(json_object_get(d,
		    "crash"));
		char *state = xasprintf("%s%s%s%s", json_string_value(
		    json_object_get(d, "state")), crash ? " (" : "",
		    crash ? crash : "", crash ? ")" : "");

		if (p > 0)
			snprintf(port, sizeof(port), "%lld", (long long)p);
		snprintf(rel, sizeof(rel), "v%lld", (long long)
		    json_integer_value(json_object_get(d, "release")));
		snprintf(restarts, sizeof(restarts), "%lld", (long long)
		    json_integer_value(json_object_get(d, "restarts")));
		if (mem > 0)
			size_format(mem, size);
		table_row(&t, json_string_value(json_object_get(d, "name")),
		    state, up, port, size, rel, restarts,
		    json_string_value(json_object_get(d, "command")));
		free(state);
		free(up);
	}
	table_print(&t, stdout);
	table_clear(&t);
	json_decref(dynos);
	app_clear(&a);
	return 0;
}

/*
 * The index of type in the formation cur, or -1 with berth_error()
 * naming the types there are.
 */
static int
find_type(const struct cmd_ctx *ctx, const struct formation_item *cur,
    size_t ncur, const char *type)
{
	struct strbuf known = STRBUF_INIT;
	size_t j;

	for (j = 0; j < ncur; j++)
		if (strcmp(cur[j].type, type) == 0)
			return (int)j;
	for (j = 0; j < ncur; j++)
		strbuf_addf(&known, "%s%s", j ? ", " : "", cur[j].type);
	berth_error("%s has no process type '%s' (it has: %s)", ctx->app, type,
	    ncur ? known.buf : "none");
	strbuf_release(&known);
	return -1;
}

/*
 * Parse "web=2", "worker+1", "web-1" against the current formation.
 * Fills items (type, new quantity).
 */
static int
parse_scale(struct cmd_ctx *ctx, const struct formation_item *cur,
    size_t ncur, struct formation_item *items)
{
	int i;

	for (i = 0; i < ctx->argc; i++) {
		const char *arg = ctx->argv[i];
		size_t tlen = strcspn(arg, "=+-");
		char *type = xstrndup(arg, tlen), *end;
		const char *num = arg + tlen + (arg[tlen] ? 1 : 0);
		long v;
		int found;

		if (arg[tlen] == '\0' || *num == '\0') {
			free(type);
			return berth_error("'%s' is not a scale: use TYPE=N, "
			    "TYPE+N or TYPE-N, e.g. web=2", arg);
		}
		found = find_type(ctx, cur, ncur, type);
		if (found < 0) {
			free(type);
			return -1;
		}
		v = strtol(num, &end, 10);
		if (*end != '\0' || v < 0 || *num == '-' || *num == '+') {
			free(type);
			return berth_error("'%s': the count must be a whole "
			    "number, 0 or more", arg);
		}
		if (arg[tlen] == '+')
			v = cur[found].quantity + v;
		else if (arg[tlen] == '-')
			v = cur[found].quantity - v;
		if (v < 0 || v > ctx->root.cfg.max_dynos) {
			free(type);
			return berth_error("'%s' would make %ld %s dynos: use 0 "
			    "to %d (berth.ini [runtime] max_dynos)", arg, v,
			    cur[found].type, ctx->root.cfg.max_dynos);
		}
		items[i].type = type;
		items[i].quantity = (int)v;
	}
	return 0;
}

/*
 * Parse "web=512M", "worker=1G" against the current formation into
 * items (type, its quantity now, the new size).
 */
static int
parse_resize(struct cmd_ctx *ctx, const struct formation_item *cur,
    size_t ncur, struct formation_item *items)
{
	int i;

	for (i = 0; i < ctx->argc; i++) {
		const char *arg = ctx->argv[i], *eq = strchr(arg, '=');
		char *type;
		int found;

		if (eq == NULL || eq == arg || eq[1] == '\0')
			return berth_error("'%s' is not a size: use TYPE=SIZE, "
			    "e.g. web=512M or worker=1G", arg);
		type = xstrndup(arg, (size_t)(eq - arg));
		found = find_type(ctx, cur, ncur, type);
		if (found < 0) {
			free(type);
			return -1;
		}
		if (size_parse(eq + 1, &items[i].memory) < 0 ||
		    items[i].memory < DYNO_MEMORY_MIN) {
			free(type);
			return berth_error("'%s': the size must be a number and "
			    "K, M or G, e.g. 512M or 1G, at least 4M", arg);
		}
		items[i].type = type;
		items[i].quantity = cur[found].quantity;
	}
	return 0;
}

/*
 * Restart the resized types that run dynos, one after the other: each
 * replaced without downtime, as ps:restart does. 0, 1 when berthd is
 * not running (the sizes apply when it starts them), -1.
 */
static int
restart_resized(struct cmd_ctx *ctx, const struct app *a,
    const struct formation_item *items, size_t n)
{
	size_t i, j;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(items[j].type, items[i].type) == 0)
				break;
		if (j < i || items[i].quantity == 0)
			continue;
		rc = runtime_restart(&ctx->root, a->name, items[i].type,
		    progress, NULL);
	}
	return rc;
}

/* How ps:scale and ps:resize change the formation. */
struct formation_op {
	const char *verb;	/* "Scaling" */
	/* Read ctx->argv into items against the formation cur. */
	int (*parse)(struct cmd_ctx *ctx, const struct formation_item *cur,
	    size_t ncur, struct formation_item *items);
	int (*write)(struct ledger *db, int64_t app_id,
	    const struct formation_item *items, size_t nr,
	    const char *actor);
	/* " web=2" */
	void (*print)(const struct cmd_ctx *ctx,
	    const struct formation_item *item);
	/* Have berthd act on it: 0, 1 when berthd is not running, -1. */
	int (*apply)(struct cmd_ctx *ctx, const struct app *a,
	    const struct formation_item *items, size_t n);
	const char *offline;	/* what happens without berthd */
};

/*
 * Parse, check every argument before anything changes, write the
 * ledger, say what changed, then have berthd apply it.
 */
static int
change_formation(struct cmd_ctx *ctx, const struct formation_op *op)
{
	struct app a;
	struct formation_item *cur = NULL, *items;
	size_t ncur = 0, n = (size_t)ctx->argc, i;
	char *actor;
	int ret = 1, rc;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	items = xcalloc(n, sizeof(*items));
	if (load_formation(ctx, &a, &cur, &ncur) < 0)
		goto out;
	actor = actor_name();
	rc = op->parse(ctx, cur, ncur, items) < 0 ||
	    op->write(ctx->root.db, a.id, items, n, actor) < 0;
	free(actor);
	if (rc) {
		cmd_fail_last();
		goto out;
	}
	printf("%s %s:", op->verb, a.name);
	for (i = 0; i < n; i++)
		op->print(ctx, &items[i]);
	printf("\n");
	rc = op->apply(ctx, &a, items, n);
	if (rc == 1)
		fprintf(stderr, "berth: %s; %s\n", berth_last_error(),
		    op->offline);
	else if (rc < 0) {
		cmd_fail_last();
		goto out;
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(items[i].type);
	free(items);
	formation_list_free(cur, ncur);
	app_clear(&a);
	return ret;
}

static void
print_scale(const struct cmd_ctx *ctx, const struct formation_item *item)
{
	(void)ctx;
	printf(" %s=%d", item->type, item->quantity);
}

static int
apply_scale(struct cmd_ctx *ctx, const struct app *a,
    const struct formation_item *items, size_t n)
{
	(void)items;
	(void)n;
	return runtime_scale(&ctx->root, a->name, progress, NULL);
}

static int
cmd_ps_scale(struct cmd_ctx *ctx)
{
	static const struct formation_op op = {
		.verb = "Scaling",
		.parse = parse_scale,
		.write = ledger_formation_set,
		.print = print_scale,
		.apply = apply_scale,
		.offline = "the new formation applies when it does",
	};

	return change_formation(ctx, &op);
}

static void
print_size(const struct cmd_ctx *ctx, const struct formation_item *item)
{
	char size[32];

	type_size(ctx, item->memory, size);
	printf(" %s=%s", item->type, size);
}

static int
cmd_ps_resize(struct cmd_ctx *ctx)
{
	static const struct formation_op op = {
		.verb = "Resizing",
		.parse = parse_resize,
		.write = ledger_formation_resize,
		.print = print_size,
		.apply = restart_resized,
		.offline = "the new sizes apply when it starts the dynos",
	};

	return change_formation(ctx, &op);
}

/* Check a TYPE or TYPE.N argument. */
static int
check_target(const char *target)
{
	const char *dot = strchr(target, '.');
	char *type = dot ? xstrndup(target, (size_t)(dot - target)) :
	    xstrdup(target);
	int rc = name_check_process_type(type);

	free(type);
	if (rc == 0 && dot != NULL && (dot[1] == '\0' ||
	    strspn(dot + 1, "0123456789") != strlen(dot + 1)))
		rc = berth_error("'%s' is not a dyno: use TYPE or TYPE.N, "
		    "e.g. web or web.1", target);
	return rc;
}

static int
cmd_ps_restart(struct cmd_ctx *ctx)
{
	const char *target = ctx->argc > 0 ? ctx->argv[0] : NULL;
	struct app a;
	int rc;

	if (target != NULL && check_target(target) < 0)
		return cmd_fail_last();
	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	printf("Restarting %s%s%s...\n", target ? target : "all dynos",
	    target ? " on " : " of ", a.name);
	rc = runtime_restart(&ctx->root, a.name, target, progress, NULL);
	app_clear(&a);
	if (rc != 0)
		return cmd_fail_last();
	printf("done\n");
	return 0;
}

static int
cmd_ps_stop(struct cmd_ctx *ctx)
{
	const char *target = ctx->argc > 0 ? ctx->argv[0] : NULL;
	struct app a;
	int rc;

	if (target != NULL && check_target(target) < 0)
		return cmd_fail_last();
	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	rc = runtime_stop(&ctx->root, a.name, target);
	if (rc == 0 && target == NULL)
		printf("Stopped %s; it stays stopped until: berth ps:start -a "
		    "%s (or a deploy)\n", a.name, a.name);
	else if (rc == 0)
		printf("Stopped %s on %s; it restarts as the formation says\n",
		    target, a.name);
	app_clear(&a);
	return rc != 0 ? cmd_fail_last() : 0;
}

static int
cmd_ps_start(struct cmd_ctx *ctx)
{
	struct app a;
	int rc;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	rc = runtime_start(&ctx->root, a.name);
	if (rc == 0)
		printf("Started %s\n", a.name);
	app_clear(&a);
	return rc != 0 ? cmd_fail_last() : 0;
}

const struct berth_cmd cmd_ps_entry = {
	.name = "ps",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "ps -a APP [--json]",
	.summary = "list an app's dynos: state, uptime, port, release",
	.help =
	"States: booting (a rollout is starting it), starting, up, crashed\n"
	"(restarted with back-off: 0 s, 1 s, 2 s, 4 s ... up to 5 min;\n"
	"`crashed (out of memory)` when it went past its size), stopping.\n"
	"SIZE is the memory each dyno may use (berth ps:resize).",
	.options = cmd_opts_app_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_ps,
};

const struct berth_cmd cmd_ps_scale_entry = {
	.name = "ps:scale",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.alias = "scale",
	.usage = "ps:scale TYPE=N|TYPE+N|TYPE-N ... -a APP",
	.summary = "set how many dynos of each process type run",
	.help =
	"The formation is kept in the ledger; berthd starts or stops dynos\n"
	"to match it. New web dynos join the router once they accept\n"
	"connections; removed ones leave it before they stop. The most per\n"
	"type is berth.ini [runtime] max_dynos.",
	.options = cmd_opts_app,
	.min_args = 1, .max_args = -1,
	.exec = cmd_ps_scale,
};

const struct berth_cmd cmd_ps_resize_entry = {
	.name = "ps:resize",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.alias = "resize",
	.usage = "ps:resize TYPE=SIZE ... -a APP",
	.summary = "set the memory of each dyno of a process type",
	.help =
	"SIZE is a number and K, M or G (512M, 1G), at least 4M; a dyno\n"
	"that uses more (swap included) is killed by the kernel, shown as\n"
	"`crashed (out of memory)` by `berth ps`, with an Error R15 line in\n"
	"`berth logs`, and restarted. Types not resized get berth.ini\n"
	"[sandbox] memory (512M by default); every dyno also has [sandbox]\n"
	"pids. The type's dynos are replaced, without downtime, to take\n"
	"the new size.",
	.options = cmd_opts_app,
	.min_args = 1, .max_args = -1,
	.exec = cmd_ps_resize,
};

const struct berth_cmd cmd_ps_restart_entry = {
	.name = "ps:restart",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.alias = "restart",
	.usage = "ps:restart [TYPE|DYNO] -a APP",
	.summary = "replace dynos with fresh ones, without downtime",
	.help =
	"New dynos start first; web ones take traffic once they accept\n"
	"connections, then the old ones stop.",
	.options = cmd_opts_app,
	.min_args = 0, .max_args = 1,
	.exec = cmd_ps_restart,
};

const struct berth_cmd cmd_ps_stop_entry = {
	.name = "ps:stop",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.alias = "stop",
	.usage = "ps:stop [TYPE|DYNO] -a APP",
	.summary = "stop an app (until ps:start), or stop dynos (they restart)",
	.help =
	"Without a target the whole app stops and stays stopped until\n"
	"`berth ps:start` or the next deploy (as in Dokku); its URL answers\n"
	"503. With TYPE or TYPE.N those dynos stop and, as on Heroku, the\n"
	"formation starts them again.",
	.options = cmd_opts_app,
	.min_args = 0, .max_args = 1,
	.exec = cmd_ps_stop,
};

const struct berth_cmd cmd_ps_start_entry = {
	.name = "ps:start",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.alias = "start",
	.usage = "ps:start -a APP",
	.summary = "start an app stopped with ps:stop",
	.options = cmd_opts_app,
	.min_args = 0, .max_args = 0,
	.exec = cmd_ps_start,
};
