/*
 * build-buildpacks.c - a build's buildpacks: choosing them (config var
 * BUILDPACK_URL, else app.json's, else .buildpacks, else the pipeline's,
 * else the first installed one that detects the app) and running their
 * bin/detect, bin/compile and bin/release in the build tree, with the
 * build's environment, deadline and output.
 * Installing and locating buildpacks is buildpack.c.
 */
#include "build-int.h"
#include "run-command.h"
#include "sandbox.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A buildpack's output line: keep its own formatting, indent the rest. */
static void
on_buildpack_line(const char *line, void *data)
{
	struct build_ctx *b = data;

	if (b->capturing) {
		strbuf_addstr(&b->capture, line);
		strbuf_addch(&b->capture, '\n');
		return;
	}
	if (line[strspn(line, " \t")] == '\0')
		build_emit(b, "", "");
	else if (strncmp(line, "-----> ", 7) == 0 ||
	    strncmp(line, "       ", 7) == 0 ||
	    strncmp(line, " !     ", 7) == 0)
		build_emit(b, "", line);
	else
		build_emit(b, "       ", line);
}

#define BP_VIEW		"/tmp/buildpack"
#define CACHE_VIEW	"/tmp/cache"
#define ENV_VIEW	"/tmp/env"

/* What a buildpack program sees as path (the build's own dirs). */
static const char *
view(const struct build_ctx *b, const char *path)
{
	if (!b->sandboxed || path == NULL)
		return path;
	if (strcmp(path, b->appdir) == 0)
		return SANDBOX_APP;
	if (strcmp(path, b->cachedir) == 0)
		return CACHE_VIEW;
	if (strcmp(path, b->envdir) == 0)
		return ENV_VIEW;
	return path;
}

/* Put c in the build's sandbox, with bp, the cache and ENV_DIR. */
static int
sandbox_script(struct build_ctx *b, const struct bp *bp, struct child *c,
    struct sandbox *sb)
{
	sb->uid = b->uid;
	sb->app_dir = b->appdir;
	sandbox_bind(sb, bp->dir, BP_VIEW, 0);
	sandbox_bind(sb, b->cachedir, CACHE_VIEW, 1);
	if (is_dir(b->envdir))
		sandbox_bind(sb, b->envdir, ENV_VIEW, 0);
	sandbox_limit(sb, b->root, b->o != NULL ? b->o->app->name : "ci", 1);
	sb->die_with_parent = 1;
	return sandbox_wrap(sb, c);
}

/*
 * Run bin/SCRIPT of bp with args. With capture, stdout+stderr are
 * collected in b->capture instead of shown.
 */
int
build_run_script(struct build_ctx *b, const struct bp *bp,
    const char *script, int capture, const char *arg1, const char *arg2,
    const char *arg3)
{
	struct child c = CHILD_INIT;
	struct sandbox sb = SANDBOX_INIT;
	int64_t left = build_time_left(b);
	size_t i;
	int ret;

	if (left < 0)
		return -1;
	strvec_pushf(&c.args, "%s/bin/%s", b->sandboxed ? BP_VIEW : bp->dir,
	    script);
	if (arg1 != NULL)
		strvec_push(&c.args, view(b, arg1));
	if (arg2 != NULL)
		strvec_push(&c.args, view(b, arg2));
	if (arg3 != NULL)
		strvec_push(&c.args, view(b, arg3));
	for (i = 0; i < b->env.nr; i++)
		strvec_push(&c.env, b->env.v[i]);
	c.dir = b->appdir;
	c.timeout_ms = left;
	c.on_line = on_buildpack_line;
	c.data = b;
	/* What bin/detect and bin/release print on stdout is data (their
	 * name, YAML); as on Heroku, their stderr is not part of it. */
	c.stdout_only = capture;
	b->capturing = capture;
	strbuf_reset(&b->capture);
	if (b->sandboxed && sandbox_script(b, bp, &c, &sb) < 0) {
		sandbox_clear(&sb);
		child_clear(&c);
		return -1;
	}
	ret = run_command(&c);
	sandbox_clear(&sb);
	b->capturing = 0;
	if (ret < 0 && c.timed_out)
		berth_error("buildpack %s: bin/%s timed out; the build is "
		    "limited to %d s (berth.ini build.timeout)", bp->name,
		    script, b->root->cfg.build_timeout);
	else if (ret < 0) {
		char *why = child_describe(&c);

		berth_error("buildpack %s: bin/%s %s", bp->name, script, why);
		free(why);
	}
	child_clear(&c);
	return ret;
}

/* First line of captured detect output, or the buildpack's name. */
static char *
detected_label(struct build_ctx *b, const struct bp *bp)
{
	struct strbuf sb = STRBUF_INIT;
	const char *s = strbuf_str(&b->capture);
	const char *nl = strchrnul(s, '\n');

	strbuf_add(&sb, s, (size_t)(nl - s));
	strbuf_rtrim(&sb);
	if (sb.len == 0)
		strbuf_addstr(&sb, bp->name);
	return strbuf_detach(&sb);
}

/*
 * Add spec, listed by what (an app.json entry, a .buildpacks line, a
 * config var: pushed or set by developers), to specs. Such lists name
 * installed buildpacks or Git URLs, not paths on the server, unless
 * berth.ini [build] app_json_paths = 1 trusts pushers.
 */
static int
push_listed(struct build_ctx *b, struct strvec *specs, const char *spec,
    const char *what)
{
	if (buildpack_is_local(spec) && !b->root->cfg.app_json_paths)
		return berth_error("%s: '%s' is a path on the server; name an "
		    "installed buildpack (see: berth buildpacks) or a Git URL",
		    what, spec);
	strvec_push(specs, spec);
	return 0;
}

/* The app's .buildpacks file (at path) into specs: 1 when it lists none. */
static int
dot_buildpacks(struct build_ctx *b, const char *path, struct strvec *specs)
{
	struct strbuf text = STRBUF_INIT;
	struct strvec list = STRVEC_INIT;
	size_t i;
	int ret = -1;

	if (read_file_regular(path, &text, 64 << 10) < 0 ||
	    buildpack_list_parse(strbuf_str(&text), text.len, &list) < 0)
		goto out;
	for (i = 0; i < list.nr; i++)
		if (push_listed(b, specs, list.v[i], ".buildpacks") < 0)
			goto out;
	ret = list.nr > 0 ? 0 : 1;
out:
	strvec_clear(&list);
	strbuf_release(&text);
	return ret;
}

/* Say that a list of buildpacks is not used, as one before it wins. */
static void
say_overridden(struct build_ctx *b, const char *what, const char *winner)
{
	build_say(b, " !     ", "Warning: %s not used: the buildpacks of %s "
	    "come first", what, winner);
}

/*
 * The buildpacks the app lists, appended to specs, with *source saying
 * where from: config var BUILDPACK_URL (it overrides the others, as on
 * Dokku), else app.json's, else the app's .buildpacks file, else the
 * pipeline's. *source stays NULL when none lists any.
 */
static int
listed_buildpacks(struct build_ctx *b, const struct appjson *aj,
    struct strvec *specs, const char **source)
{
	const char *url = kvlist_get(&b->config, "BUILDPACK_URL");
	struct buildpack *pbps = NULL;
	size_t npbps = 0, i;
	char *dot_file = path_join(b->appdir, ".buildpacks");
	int ret = -1, dot, has_dot = path_exists(dot_file);

	if (url != NULL && *url != '\0') {
		*source = "config var BUILDPACK_URL";
		if (aj->buildpacks.nr > 0)
			say_overridden(b, "app.json buildpacks", *source);
		if (has_dot)
			say_overridden(b, ".buildpacks", *source);
		ret = push_listed(b, specs, url, *source);
		goto out;
	}
	for (i = 0; i < aj->buildpacks.nr; i++)
		if (push_listed(b, specs, aj->buildpacks.v[i],
		    "app.json: buildpacks") < 0)
			goto out;
	if (aj->buildpacks.nr > 0) {
		*source = "app.json";
		if (has_dot)
			say_overridden(b, ".buildpacks", *source);
		ret = 0;
		goto out;
	}
	dot = has_dot ? dot_buildpacks(b, dot_file, specs) : 1;
	if (dot <= 0) {
		*source = ".buildpacks";
		ret = dot;
		goto out;
	}
	if (ledger_buildpack_list(b->root->db, b->pipeline_id, &pbps,
	    &npbps) >= 0) {
		for (i = 0; i < npbps; i++)
			strvec_push(specs, pbps[i].source);
		if (npbps > 0)
			*source = "the pipeline's buildpacks";
		ret = 0;
	}
	buildpack_list_free(pbps, npbps);
out:
	free(dot_file);
	return ret;
}

/*
 * Run bp's bin/detect on the app and, when it accepts, say what it
 * found (naming source, where the buildpack was listed, unless NULL).
 * -1 with build_run_script()'s berth_error() when it does not.
 */
static int
detect(struct build_ctx *b, const struct bp *bp, const char *source)
{
	char *label;

	if (build_run_script(b, bp, "detect", 1, b->appdir, NULL, NULL) < 0)
		return -1;
	label = detected_label(b, bp);
	if (source != NULL)
		build_say(b, "-----> ", "%s app detected (%s, from %s)", label,
		    bp->name, source);
	else
		build_say(b, "-----> ", "%s app detected (%s)", label, bp->name);
	free(label);
	return 0;
}

/*
 * Resolve every listed buildpack into *out (fetching into scratch),
 * each of which must detect the app. On failure *out holds the *nr
 * resolved so far, for the caller to clear.
 */
static int
resolve_listed(struct build_ctx *b, const struct strvec *specs,
    const char *source, const char *scratch, struct bp **out, size_t *nr)
{
	size_t i;

	*out = xcalloc(specs->nr, sizeof(**out));
	for (i = 0; i < specs->nr; i++) {
		struct bp *bp = &(*out)[i];

		if (buildpack_resolve(b->root, specs->v[i], scratch, bp) < 0)
			return -1;
		(*nr)++;
		if (detect(b, bp, source) < 0)
			return berth_error("buildpack %s (from %s) does not "
			    "support this app: its bin/detect failed",
			    bp->name, source);
	}
	return 0;
}

/*
 * The first installed buildpack, in detection order, whose bin/detect
 * accepts the app: *out holds it and *nr is 1, or *nr stays 0 when none
 * does. One that cannot be resolved is skipped with a warning. -1 (and
 * nothing in *out) when the order cannot be read or time ran out.
 */
static int
detect_installed(struct build_ctx *b, const char *scratch, struct bp **out,
    size_t *nr)
{
	struct strvec specs = STRVEC_INIT;
	size_t i;
	int ret = -1;

	if (buildpack_detection_order(b->root, &specs) < 0)
		goto out;
	for (i = 0; i < specs.nr; i++) {
		struct bp bp;

		if (buildpack_resolve(b->root, specs.v[i], scratch, &bp) < 0) {
			build_say(b, " !     ", "Warning: skipping %s",
			    berth_last_error());
			continue;
		}
		if (detect(b, &bp, NULL) < 0) {
			bp_clear(&bp);
			if (build_time_left(b) < 0)
				goto out;
			continue;
		}
		*out = xcalloc(1, sizeof(**out));
		(*out)[0] = bp;
		*nr = 1;
		break;
	}
	ret = 0;
out:
	strvec_clear(&specs);
	return ret;
}

/* Free n buildpacks and the array holding them. */
void
build_bps_free(struct bp *bps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bp_clear(&bps[i]);
	free(bps);
}

/*
 * Choose the buildpacks: the ones the app lists (listed_buildpacks()),
 * else the first installed one whose bin/detect accepts the app.
 * Explicit ones must detect too, as on Heroku. *nr may end 0 (no buildpack).
 */
int
build_choose_buildpacks(struct build_ctx *b, const struct appjson *aj,
    struct bp **out, size_t *nr)
{
	struct strvec specs = STRVEC_INIT;
	char *scratch = path_join(b->scratch, "buildpacks");
	const char *source = NULL;
	int ret = -1;

	*out = NULL;
	*nr = 0;
	if (listed_buildpacks(b, aj, &specs, &source) < 0 ||
	    mkdir_p(scratch, 0700) < 0)
		goto out;
	if (source != NULL)
		ret = resolve_listed(b, &specs, source, scratch, out, nr);
	else
		ret = detect_installed(b, scratch, out, nr);
out:
	if (ret < 0) {
		build_bps_free(*out, *nr);
		*out = NULL;
		*nr = 0;
	}
	strvec_clear(&specs);
	free(scratch);
	return ret;
}

/*
 * bin/release is optional. When bp has one, run it and, if the
 * default_process_types it prints are not empty, they replace *types:
 * the last buildpack's win.
 */
static int
release_defaults(struct build_ctx *b, const struct bp *bp,
    struct proctypes *types)
{
	struct proctypes t = { NULL, 0 };
	char *rel = xasprintf("%s/bin/release", bp->dir);
	int has = access(rel, X_OK) == 0;

	free(rel);
	if (!has)
		return 0;
	if (build_run_script(b, bp, "release", 1, b->appdir, NULL, NULL) < 0)
		return -1;
	if (release_yaml_parse(strbuf_str(&b->capture), &t) < 0) {
		char *why = xstrdup(berth_last_error());

		berth_error("buildpack %s: bin/release printed "
		    "invalid YAML: %s", bp->name, why);
		free(why);
		proctypes_clear(&t);
		return -1;
	}
	if (t.nr > 0) {
		proctypes_clear(types);
		*types = t;
	} else
		proctypes_clear(&t);
	return 0;
}

/*
 * Run each chosen buildpack's bin/compile on the app, in order, then
 * its bin/release: p->names lists those run, p->release_types holds
 * the defaults release_defaults() kept.
 */
int
build_compile_all(struct build_ctx *b, struct build_parts *p)
{
	size_t i;

	for (i = 0; i < p->nbps; i++) {
		const struct bp *bp = &p->bps[i];

		if (p->nbps > 1)
			build_say(b, "-----> ", "Running buildpack %s", bp->name);
		if (build_run_script(b, bp, "compile", 0, b->appdir, b->cachedir,
		    b->envdir) < 0)
			return -1;
		strbuf_addf(&p->names, "%s%s", i ? "," : "", bp->name);
		if (!is_dir(b->appdir))
			return berth_error("buildpack %s removed the build "
			    "directory", bp->name);
		if (release_defaults(b, bp, &p->release_types) < 0)
			return -1;
	}
	return 0;
}
