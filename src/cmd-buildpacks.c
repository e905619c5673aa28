/*
 * cmd-buildpacks.c - buildpacks, buildpacks:add, buildpacks:remove.
 * Without -p they work on the server's installed buildpacks
 * (ROOT/buildpacks/NAME, tried in order for detection); with -p on a
 * pipeline's own explicit list, which its builds run instead of
 * detection: installed names ("nodejs", "heroku/nodejs"), local paths
 * or Git URLs.
 */
#include "cmd.h"
#include "buildpack.h"
#include "names.h"

#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

/* The ledger's entry for name in bps, or NULL. */
static const struct buildpack *
find_bp(const struct buildpack *bps, size_t nr, const char *name)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (strcmp(bps[i].name, name) == 0)
			return &bps[i];
	return NULL;
}

/* The name a user means by arg: "heroku/nodejs", "NodeJS" -> "nodejs". */
static char *
bp_name_arg(const char *arg)
{
	char *name = buildpack_name_for(arg), q[64];

	if (name == NULL) {
		name_quote(arg, q, sizeof(q));
		berth_error("'%s' is not a buildpack name; see: berth "
		    "buildpacks", q);
	}
	return name;
}

static int
installed(struct berth_root *r, const char *name)
{
	char *dir = root_pathf(r, "buildpacks/%s", name);
	int ok = is_dir(dir);

	free(dir);
	return ok;
}

/* What berth shows of sources: a URL's password hidden. */
static int
list_shown(struct ledger *db, int64_t pipeline_id, struct buildpack **bps,
    size_t *nr)
{
	size_t i;

	if (ledger_buildpack_list(db, pipeline_id, bps, nr) < 0)
		return -1;
	for (i = 0; i < *nr; i++) {
		char *shown = redact_userinfo((*bps)[i].source);

		free((*bps)[i].source);
		(*bps)[i].source = shown;
	}
	return 0;
}

static int
list_installed(struct cmd_ctx *ctx)
{
	struct strvec order = STRVEC_INIT;
	struct strbuf unused = STRBUF_INIT;
	struct buildpack *bps = NULL;
	size_t nr = 0, i;
	json_t *arr = NULL;
	struct table t;

	if (buildpack_detection_order(&ctx->root, &order) < 0 ||
	    list_shown(ctx->root.db, 0, &bps, &nr) < 0) {
		strvec_clear(&order);
		return cmd_fail_last();
	}
	if (ctx->json)
		arr = json_array();
	table_init(&t, 3);
	for (i = 0; i < order.nr; i++) {
		const struct buildpack *b = find_bp(bps, nr, order.v[i]);
		int ok = installed(&ctx->root, order.v[i]);
		char pos[24];

		snprintf(pos, sizeof(pos), "%zu.", i + 1);
		if (ctx->json)
			json_array_append_new(arr, json_pack("{s:I, s:s, s:o, "
			    "s:b}", "position", (json_int_t)(i + 1), "name",
			    order.v[i], "source", json_str_or_null(b ?
			    b->source : NULL), "installed", ok));
		else
			table_row(&t, pos, order.v[i], !ok ? "(not installed)"
			    : b != NULL ? b->source : "");
	}
	/* berth.ini may leave installed ones out: they are never tried. */
	for (i = 0; i < nr; i++) {
		size_t j;

		for (j = 0; j < order.nr; j++)
			if (strcmp(order.v[j], bps[i].name) == 0)
				break;
		if (j < order.nr)
			continue;
		if (ctx->json)
			json_array_append_new(arr, json_pack("{s:n, s:s, s:s, "
			    "s:b}", "position", "name", bps[i].name, "source",
			    bps[i].source, "installed", 1));
		else
			strbuf_addf(&unused, "%s%s", unused.len ? ", " : "",
			    bps[i].name);
	}
	if (ctx->json)
		cmd_print_json(arr);
	else if (order.nr == 0 && unused.len == 0)
		printf("No buildpacks installed; add one with: berth "
		    "buildpacks:add PATH|GIT-URL\n");
	else {
		printf("=== Installed buildpacks (detection order)\n");
		table_print(&t, stdout);
		if (ctx->root.cfg.buildpacks.nr > 0)
			printf("(order from berth.ini [build] buildpacks)\n");
		if (unused.len > 0)
			printf("Installed, not in that order, never tried: "
			    "%s\n", unused.buf);
	}
	strbuf_release(&unused);
	table_clear(&t);
	buildpack_list_free(bps, nr);
	strvec_clear(&order);
	return 0;
}

static int
cmd_buildpacks(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct buildpack *bps = NULL;
	size_t nr = 0, i;
	struct table t;

	if (ctx->pipeline == NULL)
		return list_installed(ctx);
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (list_shown(ctx->root.db, p.id, &bps, &nr) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	if (ctx->json) {
		json_t *arr = json_array();

		for (i = 0; i < nr; i++)
			json_array_append_new(arr, json_pack("{s:i, s:s, s:s}",
			    "position", bps[i].position, "name", bps[i].name,
			    "source", bps[i].source));
		cmd_print_json(arr);
	} else if (nr == 0)
		printf("%s has no buildpacks set: installed buildpacks are "
		    "tried in order\n", p.name);
	else {
		printf("=== %s Buildpacks\n", p.name);
		table_init(&t, 3);
		for (i = 0; i < nr; i++) {
			char pos[24];

			snprintf(pos, sizeof(pos), "%d.", bps[i].position);
			table_row(&t, pos, bps[i].name, bps[i].source);
		}
		table_print(&t, stdout);
		table_clear(&t);
	}
	buildpack_list_free(bps, nr);
	pipeline_clear(&p);
	return 0;
}

/* Position of name in the list of pipeline_id, 0 when not found. */
static int
position_of(struct ledger *db, int64_t pipeline_id, const char *name)
{
	struct buildpack *bps = NULL;
	const struct buildpack *b;
	size_t nr = 0;
	int pos = 0;

	if (ledger_buildpack_list(db, pipeline_id, &bps, &nr) == 0 &&
	    (b = find_bp(bps, nr, name)) != NULL)
		pos = b->position;
	buildpack_list_free(bps, nr);
	return pos;
}

/*
 * What a pipeline's list stores for spec: a Git URL as it is, a local
 * path made absolute (builds run elsewhere), an installed name as it
 * is. Checks what can be checked now. Caller frees.
 */
static char *
pipeline_spec(struct berth_root *r, const char *spec, const char *name)
{
	char *abs, q[64];

	if (buildpack_is_url(spec))
		return xstrdup(spec);
	if (spec[0] == '/' || spec[0] == '.') {
		abs = realpath(spec, NULL);
		if (abs == NULL) {
			berth_error_errno("buildpack %s", spec);
			return NULL;
		}
		if (buildpack_check(abs, spec) < 0) {
			free(abs);
			return NULL;
		}
		return abs;
	}
	if (!installed(r, name)) {
		name_quote(spec, q, sizeof(q));
		if (is_dir(spec))
			berth_error("buildpack '%s' is not installed; for the "
			    "directory, use ./%s", q, q);
		else
			berth_error("buildpack '%s' is not installed; see: "
			    "berth buildpacks", q);
		return NULL;
	}
	/* Stored as the installed name the build will look for. */
	return xstrdup(name);
}

static int
cmd_buildpacks_add(struct cmd_ctx *ctx)
{
	const char *spec = ctx->argv[0];
	int index = cmd_num(ctx, "index", 0);
	struct pipeline p;
	char *name = NULL, *stored = NULL;
	int ret = 1;

	if (ctx->pipeline == NULL) {
		if (cmd_check_server(ctx, "installing a buildpack") != 0)
			return 1;
		if (buildpack_install(&ctx->root, spec, index, &name) < 0)
			return cmd_fail_last();
		printf("Installed buildpack %s (position %d)\n", name,
		    position_of(ctx->root.db, 0, name));
		if (ctx->root.cfg.buildpacks.nr > 0)
			printf("berth.ini [build] buildpacks sets the "
			    "detection order; add %s there to use it\n", name);
		free(name);
		return 0;
	}
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	/* The server's files are for those who have the server. */
	if (ctx->remote && !ctx->user.admin && (spec[0] == '/' ||
	    spec[0] == '.' || strncasecmp(spec, "file:", 5) == 0)) {
		cmd_fail("a buildpack from a path on the server needs a server "
		    "admin: give a Git URL or an installed buildpack's name");
		goto out;
	}
	if ((name = bp_name_arg(spec)) == NULL ||
	    (stored = pipeline_spec(&ctx->root, spec, name)) == NULL ||
	    ledger_buildpack_add(ctx->root.db, p.id, name, stored,
	    index) < 0) {
		cmd_fail_last();
		goto out;
	}
	printf("Added buildpack %s to %s (position %d)\n", name, p.name,
	    position_of(ctx->root.db, p.id, name));
	ret = 0;
out:
	free(stored);
	free(name);
	pipeline_clear(&p);
	return ret;
}

static int
cmd_buildpacks_remove(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct buildpack *bps = NULL;
	size_t nr = 0;
	char *name;
	int ret = 1;

	if ((name = bp_name_arg(ctx->argv[0])) == NULL)
		return cmd_fail_last();
	if (ctx->pipeline == NULL) {
		if (cmd_check_server(ctx, "removing an installed buildpack") !=
		    0)
			ret = 1;
		else if (buildpack_uninstall(&ctx->root, name) < 0)
			ret = cmd_fail_last();
		else {
			printf("Removed buildpack %s\n", name);
			ret = 0;
		}
		free(name);
		return ret;
	}
	if (cmd_need_pipeline(ctx, &p) != 0) {
		free(name);
		return 1;
	}
	if (list_shown(ctx->root.db, p.id, &bps, &nr) < 0)
		cmd_fail_last();
	else if (find_bp(bps, nr, name) == NULL)
		cmd_fail("buildpack %s is not in %s's list; see: berth "
		    "buildpacks -p %s", name, p.name, p.name);
	else if (ledger_buildpack_remove(ctx->root.db, p.id, name) < 0)
		cmd_fail_last();
	else {
		printf("Removed buildpack %s from %s\n", name, p.name);
		if (nr == 1)
			printf("%s has no buildpacks set now: installed "
			    "buildpacks are tried in order\n", p.name);
		ret = 0;
	}
	buildpack_list_free(bps, nr);
	pipeline_clear(&p);
	free(name);
	return ret;
}

const struct berth_cmd cmd_buildpacks_entry = {
	.name = "buildpacks",
	.access = { .scope = ACCESS_SELF, .role = ROLE_VIEWER },
	.usage = "buildpacks [-p PIPELINE] [--json]",
	.summary = "list installed buildpacks, or a pipeline's own list",
	.help =
	"Without -p: the server's installed buildpacks in detection order.\n"
	"With -p: the buildpacks the pipeline's builds run, in order, instead\n"
	"of detection.",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_buildpacks,
};

const struct berth_cmd cmd_buildpacks_add_entry = {
	.name = "buildpacks:add",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "buildpacks:add PATH|GIT-URL|NAME [--index N] [-p PIPELINE]",
	.summary = "install a buildpack, or add one to a pipeline's list",
	.help =
	"Without -p: copies PATH or clones GIT-URL into ROOT/buildpacks/NAME\n"
	"and adds it to the detection order at position N (default: last).\n"
	"With -p: adds an installed NAME (\"nodejs\" or \"heroku/nodejs\"), a\n"
	"PATH or a GIT-URL to the pipeline's own list at position N.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		{ .name = "index", .short_name = 'i', .kind = CMD_NUMBER,
		    .arg = "N", .min = 1, .max = 1000000,
		    .help = "the position in the list (default: last)" },
		{ 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = cmd_buildpacks_add,
};

const struct berth_cmd cmd_buildpacks_remove_entry = {
	.name = "buildpacks:remove",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "buildpacks:remove NAME [-p PIPELINE]",
	.summary =
	"uninstall a buildpack, or remove one from a pipeline's list",
	.options = cmd_opts_pipeline,
	.min_args = 1, .max_args = 1,
	.exec = cmd_buildpacks_remove,
};
