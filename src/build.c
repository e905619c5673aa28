/*
 * build.c - from a pushed commit to a sealed slug: the build's context
 * and output (config var values redacted), the checked-out tree with
 * .slugignore applied, ENV_DIR and the Procfile, then the slug sealed
 * and the build recorded; and build_for_test(), the unsealed build a CI
 * run tests. Choosing and running the buildpacks is build-buildpacks.c.
 */
#include "build.h"
#include "build-int.h"
#include "appjson.h"
#include "buildpack.h"
#include "checks.h"
#include "output.h"
#include "runtime.h"
#include "sandbox.h"
#include "slug.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Values this short are too common to redact without mangling output. */
#define REDACT_MIN 5

char *
build_log_path(const struct berth_root *r, int64_t build_id)
{
	return root_pathf(r, "logs/build-%lld.log", (long long)build_id);
}

/* berth's own variables, which hold no secret (app and branch names). */
static int
platform_var(const char *key)
{
	static const char *const names[] = { "BERTH_APP", "BERTH_BRANCH",
	    "BERTH_PARENT_APP", "BERTH_RELEASE", NULL };
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], key) == 0)
			return 1;
	return 0;
}

struct secret {
	const char *key;
	char *value;		/* one line of a config var's value */
};

static int
longest_first(const void *a, const void *b)
{
	size_t la = strlen(((const struct secret *)a)->value);
	size_t lb = strlen(((const struct secret *)b)->value);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/*
 * The values to hide, longest first (a short value inside a longer one
 * must not leave the rest of the longer one showing), each line of a
 * multi-line value (a PEM key) on its own.
 */
static void
secrets_init(struct build_ctx *b)
{
	size_t i;

	for (i = 0; i < b->config.nr; i++) {
		const char *v = b->config.items[i].value, *nl;

		if (platform_var(b->config.items[i].key))
			continue;
		for (; *v != '\0'; v = *nl ? nl + 1 : nl) {
			size_t len;

			nl = strchrnul(v, '\n');
			len = (size_t)(nl - v);
			if (len > 0 && v[len - 1] == '\r')
				len--;
			if (len < REDACT_MIN)
				continue;
			b->secrets = xrealloc(b->secrets, (b->nsecrets + 1) *
			    sizeof(*b->secrets));
			b->secrets[b->nsecrets].key = b->config.items[i].key;
			b->secrets[b->nsecrets].value = xstrndup(v, len);
			b->nsecrets++;
		}
	}
	if (b->nsecrets > 1)
		qsort(b->secrets, b->nsecrets, sizeof(*b->secrets),
		    longest_first);
}

/*
 * Replace config var values in line with [KEY], then hide what URLs'
 * passwords are left. Caller frees.
 */
static char *
redact(const struct build_ctx *b, const char *line)
{
	struct strbuf sb = STRBUF_INIT;
	char *cur = xstrdup(line), *clean;
	size_t i;

	for (i = 0; i < b->nsecrets; i++) {
		const char *v = b->secrets[i].value, *p, *start;
		size_t vlen = strlen(v);

		if (strstr(cur, v) == NULL)
			continue;
		strbuf_reset(&sb);
		for (start = cur; (p = strstr(start, v)) != NULL;
		    start = p + vlen) {
			strbuf_add(&sb, start, (size_t)(p - start));
			strbuf_addf(&sb, "[%s]", b->secrets[i].key);
		}
		strbuf_addstr(&sb, start);
		free(cur);
		cur = strbuf_detach(&sb);
	}
	strbuf_release(&sb);
	clean = redact_userinfo(cur);
	free(cur);
	return clean;
}

/* Show one line to the pusher and keep it in the log. */
static void
emit(struct build_ctx *b, const char *prefix, const char *text)
{
	char *clean = redact(b, text);

	printf("%s%s\n", prefix, clean);
	fflush(stdout);
	if (b->log != NULL)
		fprintf(b->log, "%s%s\n", prefix, clean);
	free(clean);
}

void
build_emit(struct build_ctx *b, const char *prefix, const char *text)
{
	int64_t len = (int64_t)(strlen(prefix) + strlen(text) + 1);

	/* A buildpack printing without end (`yes`) fills no disk. */
	if (b->emitted + len > BUILD_OUTPUT_MAX ||
	    b->lines >= BUILD_OUTPUT_LINES) {
		b->dropped_lines++;
		b->dropped_bytes += len;
		return;
	}
	b->emitted += len;
	b->lines++;
	emit(b, prefix, text);
}

void
build_say_dropped(struct build_ctx *b)
{
	char *line;

	if (b->dropped_lines == 0)
		return;
	line = xasprintf("%lld lines (%lld bytes) of build output were "
	    "dropped: builds keep and show their first %lld MB or %d lines",
	    (long long)b->dropped_lines, (long long)b->dropped_bytes,
	    BUILD_OUTPUT_MAX >> 20, BUILD_OUTPUT_LINES);
	emit(b, " !     ", line);
	free(line);
	b->dropped_lines = 0;
}

void
build_say(struct build_ctx *b, const char *prefix, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	/* berth's own few lines are never capped. */
	emit(b, prefix, strbuf_str(&sb));
	strbuf_release(&sb);
}

static const char *const passed_env[] = {
	"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "http_proxy",
	"https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
	NULL,
};

/*
 * The environment buildpacks see: a short allow-list of ours (so no
 * GIT_DIR or quarantine variable reaches a git inside the build) plus
 * STACK and SOURCE_VERSION. Config vars go through ENV_DIR only.
 */
static void
build_env(struct build_ctx *b)
{
	size_t i;

	for (i = 0; passed_env[i] != NULL; i++) {
		const char *v = getenv(passed_env[i]);

		/* A sandbox has neither berth's HOME nor its TMPDIR. */
		if (b->sandboxed && (strcmp(passed_env[i], "HOME") == 0 ||
		    strcmp(passed_env[i], "TMPDIR") == 0))
			continue;
		if (v != NULL)
			strvec_pushf(&b->env, "%s=%s", passed_env[i], v);
	}
	if (b->sandboxed)
		strvec_push(&b->env, "HOME=" SANDBOX_APP);
	if (getenv("PATH") == NULL)
		strvec_push(&b->env, "PATH=/usr/local/bin:/usr/bin:/bin");
	if (getenv("LANG") == NULL)
		strvec_push(&b->env, "LANG=C.UTF-8");
	strvec_push(&b->env, "STACK=berth-1");
	strvec_pushf(&b->env, "SOURCE_VERSION=%s", b->commit);
}

/* Time left for the build, or -1 after recording the timeout error. */
int64_t
build_time_left(struct build_ctx *b)
{
	int64_t left = b->deadline - now_ms();

	if (left <= 0) {
		berth_error("build timed out after %d s (berth.ini "
		    "build.timeout)", b->root->cfg.build_timeout);
		return -1;
	}
	return left;
}

static int
write_env_dir(struct build_ctx *b)
{
	size_t i;

	if (mkdir(b->envdir, 0700) < 0)
		return berth_error_errno("cannot create %s", b->envdir);
	for (i = 0; i < b->config.nr; i++) {
		char *p = path_join(b->envdir, b->config.items[i].key);
		const char *v = b->config.items[i].value;
		int rc = write_file_atomic(p, v, strlen(v), 0600);

		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Hand the tree, ENV_DIR and the cache to the uid buildpacks run as. */
static int
hand_over(struct build_ctx *b)
{
	struct stat st;

	if (!b->sandboxed || b->uid < 0)
		return 0;
	if (sandbox_chown(b->appdir, b->uid) < 0 ||
	    sandbox_chown(b->envdir, b->uid) < 0)
		return -1;
	if (stat(b->cachedir, &st) == 0 && st.st_uid != (uid_t)b->uid)
		return sandbox_chown(b->cachedir, b->uid);
	return 0;
}

static void
warn_line(const char *msg, void *data)
{
	build_say(data, " !     ", "Warning: %s", msg);
}

static int
read_procfile(struct build_ctx *b, struct proctypes *types, int *present)
{
	struct strbuf text = STRBUF_INIT;
	char *path = path_join(b->appdir, "Procfile");
	int ret = 0;

	*present = path_exists(path);
	if (*present) {
		ret = read_file_regular(path, &text, 1 << 20);
		if (ret == 0)
			ret = procfile_parse(strbuf_str(&text), text.len, types,
			    warn_line, b);
	}
	strbuf_release(&text);
	free(path);
	return ret;
}

static void
ctx_clear(struct build_ctx *b)
{
	if (b->scratch != NULL && path_exists(b->scratch))
		rm_rf(b->scratch);
	if (b->log != NULL)
		fclose(b->log);
	kvlist_clear(&b->config);
	while (b->nsecrets > 0)
		free(b->secrets[--b->nsecrets].value);
	free(b->secrets);
	b->secrets = NULL;
	free(b->scratch);
	free(b->appdir);
	free(b->envdir);
	free(b->cachedir);
	strvec_clear(&b->env);
	strbuf_release(&b->capture);
}

static void
parts_clear(struct build_parts *p)
{
	build_bps_free(p->bps, p->nbps);
	proctypes_clear(&p->release_types);
	appjson_clear(&p->aj);
	strbuf_release(&p->names);
}

/* Say what is built: the app, its branch, the commit and its subject. */
static int
announce(struct build_ctx *b)
{
	const struct build_opts *o = b->o;
	const char *branch = o->ref;
	struct commit_info ci;

	if (strncmp(branch, "refs/heads/", 11) == 0)
		branch += 11;
	if (repo_commit_info(o->repo, o->commit, &ci) < 0)
		return -1;
	build_say(b, "-----> ", "Building %s from %s@%s (%s)", o->app->name, branch,
	    ci.short_sha, ci.subject);
	commit_info_clear(&ci);
	return 0;
}

/*
 * Check the commit out into b->appdir less what .slugignore lists, read
 * its Procfile into res->types and its app.json (and CHECKS) into p->aj,
 * and make ENV_DIR and the cache directory the buildpacks are given.
 */
static int
prepare_tree(struct build_ctx *b, struct build_result *res,
    struct build_parts *p)
{
	int n;

	if (mkdir_p(b->scratch, 0700) < 0 ||
	    repo_checkout(b->o->repo, b->o->commit, b->appdir,
	    b->root->cfg.app_json_paths) < 0)
		return -1;
	n = slugignore_apply(b->appdir);
	if (n < 0)
		return -1;
	if (n > 0)
		build_say(b, "       ", "Removed %d path%s listed in .slugignore", n,
		    n == 1 ? "" : "s");
	if (read_procfile(b, &res->types, &p->have_procfile) < 0 ||
	    appjson_load(b->appdir, &p->aj, warn_line, b) < 0 ||
	    checks_load(b->appdir, &p->aj, warn_line, b) < 0 ||
	    write_env_dir(b) < 0 || mkdir_p(b->cachedir, 0700) < 0 ||
	    hand_over(b) < 0)
		return -1;
	return 0;
}

/*
 * Files that say which language an app is written in, for an app no
 * buildpack detected: building it Procfile-only would only fail at run
 * time (`bundle: command not found`).
 */
static const struct {
	const char *file;
	const char *language;
	const char *buildpack;	/* what to install for it */
} language_files[] = {
	{ "Gemfile", "Ruby", "https://github.com/heroku/heroku-buildpack-ruby" },
	{ "go.mod", "Go", "https://github.com/heroku/heroku-buildpack-go" },
	{ "pom.xml", "Java", "https://github.com/heroku/heroku-buildpack-java" },
	{ "composer.json", "PHP", "https://github.com/heroku/heroku-buildpack-php" },
	{ "requirements.txt", "Python", "https://github.com/heroku/heroku-buildpack-python" },
	{ "pyproject.toml", "Python", "https://github.com/heroku/heroku-buildpack-python" },
};

/* Whether the app asks to be built without buildpacks, and where. */
static const char *
procfile_only_asked(const struct build_ctx *b, const struct appjson *aj)
{
	const char *v = kvlist_get(&b->config, "BERTH_PROCFILE_ONLY");

	if (v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0))
		return "config var BERTH_PROCFILE_ONLY";
	if (aj->procfile_only)
		return "app.json berth.procfile_only";
	return NULL;
}

/*
 * An app needs a buildpack or a Procfile; without a buildpack it builds
 * Procfile-only when asked (asked: where), or when nothing says it
 * needs one; an app whose files name a language fails here instead.
 * A Procfile-only app's Procfile names a process (ntypes of them): a
 * slug with nothing to run would be released for nothing.
 */
static int
check_runnable(struct build_ctx *b, const struct build_parts *p,
    const char *asked, size_t ntypes)
{
	size_t i;

	if (p->nbps > 0)
		return 0;
	if (asked != NULL && !p->have_procfile)
		return berth_error("%s asks for a Procfile-only build but the "
		    "app has no Procfile: add one", asked);
	for (i = 0; asked == NULL && i < sizeof(language_files) /
	    sizeof(language_files[0]); i++) {
		char *path = path_join(b->appdir, language_files[i].file);
		int found = path_exists(path);

		free(path);
		if (found)
			return berth_error("this looks like a %s app (%s) but "
			    "no installed buildpack detects it: add one with "
			    "berth buildpacks:add %s, or build it Procfile-only "
			    "with berth config:set BERTH_PROCFILE_ONLY=1",
			    language_files[i].language, language_files[i].file,
			    language_files[i].buildpack);
	}
	if (!p->have_procfile)
		return berth_error("no buildpack detected this app and it has "
		    "no Procfile: add a Procfile, or a buildpack (see: berth "
		    "buildpacks)");
	if (ntypes == 0)
		return berth_error("Procfile names no process type, and a "
		    "Procfile-only app runs only what it names: add a line "
		    "such as 'web: COMMAND'");
	if (asked != NULL)
		build_say(b, "-----> ", "Procfile-only app (as %s asks)", asked);
	else
		build_say(b, "-----> ", "Procfile-only app (no buildpack "
		    "detected)");
	return 0;
}

/*
 * Seal the built tree: store it as a slug under a new id and record it
 * in the ledger with res->types and the buildpacks that made it; set
 * res->size and res->slug_id. From here on the slug is never written
 * again.
 */
static int
seal(struct build_ctx *b, struct build_result *res, const char *buildpacks)
{
	struct slug slug;
	char id[25], *types_json;
	int ret = 0;

	if (random_hex(id, 12) < 0)
		return -1;
	res->size = tree_size(b->appdir);
	if (runtime_slug_put(b->root, b->appdir, id) < 0)
		return -1;
	types_json = proctypes_to_json(&res->types);
	memset(&slug, 0, sizeof(slug));
	slug.id = id;
	slug.commit = (char *)b->o->commit;
	slug.process_types = types_json;
	slug.size = res->size;
	slug.buildpacks = (char *)buildpacks;
	if (ledger_slug_create(b->root->db, &slug) < 0) {
		runtime_slug_remove(b->root, id);
		ret = -1;
	} else
		res->slug_id = xstrdup(id);
	free(types_json);
	return ret;
}

/* Tell the pusher the slug's size and its process types. */
static void
say_slug(struct build_ctx *b, const struct build_result *res)
{
	struct strbuf names = STRBUF_INIT;
	char size[32];
	size_t i;

	human_size(res->size, size);
	for (i = 0; i < res->types.nr; i++)
		strbuf_addf(&names, "%s%s", i ? ", " : "",
		    res->types.items[i].name);
	build_say(b, "-----> ", "Slug %s, process types: %s", size,
	    res->types.nr ? strbuf_str(&names) : "(none: add a Procfile)");
	strbuf_release(&names);
}

/*
 * The build proper, after the ledger row and log exist: the Procfile's
 * types win over the buildpacks' defaults.
 */
static int
build_steps(struct build_ctx *b, struct build_result *res)
{
	struct build_parts p = { .names = STRBUF_INIT };
	const char *asked;
	int ret = -1;

	if (announce(b) < 0)
		return -1;
	if (prepare_tree(b, res, &p) < 0)
		goto out;
	asked = procfile_only_asked(b, &p.aj);
	if ((asked == NULL && build_choose_buildpacks(b, &p.aj, &p.bps,
	    &p.nbps) < 0) || check_runnable(b, &p, asked, res->types.nr) < 0 ||
	    build_compile_all(b, &p) < 0)
		goto out;
	proctypes_merge_missing(&res->types, &p.release_types);
	if (build_time_left(b) < 0 || seal(b, res, strbuf_str(&p.names)) < 0)
		goto out;
	say_slug(b, res);
	ret = 0;
out:
	parts_clear(&p);
	return ret;
}

/* " !     Build failed: " and berth_last_error(), which stays set. */
static void
say_failed(struct build_ctx *b)
{
	char *msg = xstrdup(berth_last_error());

	build_say(b, " !     ", "Build failed: %s", msg);
	berth_error("%s", msg);
	free(msg);
}

int
build_run(const struct build_opts *o, struct build_result *res)
{
	struct build_ctx b;
	char *logpath = NULL;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	memset(&b, 0, sizeof(b));
	b.o = o;
	b.root = o->root;
	b.pipeline_id = o->app->pipeline_id;
	b.commit = o->commit;
	b.deadline = now_ms() + (int64_t)o->root->cfg.build_timeout * 1000;
	/* With no build row there is no log either: the pusher still hears
	 * why (a read-only ledger, a full disk). */
	if (ledger_config_get(b.root->db, o->app->id, &b.config) < 0) {
		say_failed(&b);
		return -1;
	}
	secrets_init(&b);
	if (ledger_build_start(b.root->db, o->app->id, o->commit, o->ref,
	    o->actor, &res->build_id) < 0) {
		say_failed(&b);
		ctx_clear(&b);
		return -1;
	}
	logpath = build_log_path(b.root, res->build_id);
	b.log = fopen_private(logpath);
	b.scratch = root_pathf(b.root, "tmp/build-%lld",
	    (long long)res->build_id);
	b.appdir = path_join(b.scratch, "app");
	b.envdir = path_join(b.scratch, "env");
	b.cachedir = root_pathf(b.root, "cache/%s", o->app->name);
	b.sandboxed = sandbox_for_app(b.root, o->app->id, &b.uid);
	build_env(&b);

	if (b.log == NULL)
		berth_error_errno("cannot write the build log %s", logpath);
	else if (b.sandboxed >= 0)
		ret = build_steps(&b, res);
	build_say_dropped(&b);
	if (ret < 0) {
		char *msg = xstrdup(berth_last_error());

		build_say(&b, " !     ", "Build failed: %s", msg);
		if (b.log != NULL)
			build_say(&b, " !     ", "Build log: berth builds:output "
			    "%lld", (long long)res->build_id);
		ledger_build_finish(b.root->db, res->build_id, "failed", NULL,
		    msg);
		berth_error("%s", msg);
		free(msg);
	} else if (ledger_build_finish(b.root->db, res->build_id,
	    "succeeded", res->slug_id, NULL) < 0) {
		say_failed(&b);
		ret = -1;
	}
	if (b.log != NULL && (fflush(b.log) != 0 || ferror(b.log)) &&
	    errno == ENOSPC)
		fprintf(stderr, " !     build log incomplete: disk full\n");
	ctx_clear(&b);
	free(logpath);
	return ret;
}

void
build_result_clear(struct build_result *res)
{
	free(res->slug_id);
	res->slug_id = NULL;
	proctypes_clear(&res->types);
}

int
build_for_test(const struct build_test_opts *o, struct strvec *test_bps)
{
	struct build_ctx b;
	struct appjson aj;
	struct bp *bps = NULL;
	size_t nbps = 0, i;
	int ret = -1;

	memset(&b, 0, sizeof(b));
	memset(&aj, 0, sizeof(aj));
	b.root = o->root;
	b.pipeline_id = o->pipeline_id;
	b.commit = o->commit;
	b.deadline = now_ms() + (int64_t)o->root->cfg.build_timeout * 1000;
	b.log = o->log;
	b.scratch = xstrdup(o->dir);
	b.appdir = path_join(o->dir, "app");
	b.envdir = path_join(o->dir, "env");
	b.cachedir = root_pathf(b.root, "cache/ci-%lld",
	    (long long)o->pipeline_id);
	for (i = 0; o->config != NULL && i < o->config->nr; i++)
		kvlist_add(&b.config, o->config->items[i].key,
		    o->config->items[i].value);
	secrets_init(&b);
	b.sandboxed = sandbox_for_ci(b.root, o->pipeline_id, &b.uid);
	build_env(&b);
	if (b.sandboxed < 0 || mkdir_p(o->dir, 0700) < 0 ||
	    repo_checkout(o->repo, o->commit, b.appdir,
	    b.root->cfg.app_json_paths) < 0 ||
	    appjson_load(b.appdir, &aj, warn_line, &b) < 0 ||
	    write_env_dir(&b) < 0 || mkdir_p(b.cachedir, 0700) < 0 ||
	    hand_over(&b) < 0 || build_choose_buildpacks(&b, &aj, &bps, &nbps) < 0)
		goto out;
	for (i = 0; i < nbps; i++) {
		/* bin/test-compile when the buildpack has one (Heroku CI). */
		char *tc = xasprintf("%s/bin/test-compile", bps[i].dir);
		char *t = xasprintf("%s/bin/test", bps[i].dir);
		int has_tc = access(tc, X_OK) == 0;

		if (access(t, X_OK) == 0)
			strvec_push(test_bps, bps[i].dir);
		free(tc);
		free(t);
		if (build_run_script(&b, &bps[i], has_tc ? "test-compile" : "compile",
		    0, b.appdir, b.cachedir, b.envdir) < 0)
			goto out;
	}
	ret = 0;
out:
	build_say_dropped(&b);
	build_bps_free(bps, nbps);
	appjson_clear(&aj);
	/* The caller's log and directory stay; the env dir goes. */
	if (b.envdir != NULL)
		rm_rf(b.envdir);
	b.log = NULL;
	free(b.scratch);
	b.scratch = NULL;
	ctx_clear(&b);
	return ret;
}

int
build_sweep(const struct berth_root *r)
{
	static const struct {
		const char *prefix;
		enum ledger_work kind;
	} dirs[] = {
		{ "build-", LEDGER_WORK_BUILD },
		{ "ci-", LEDGER_WORK_TEST_RUN },
	};
	char *tmp = root_path(r, "tmp");
	struct dirent *de;
	DIR *d;
	int ret = ledger_fail_interrupted(r->db) < 0 ? -1 : 0;

	if ((d = opendir(tmp)) == NULL) {
		free(tmp);
		return ret;
	}
	while ((de = readdir(d)) != NULL) {
		size_t i, len;
		char *end;
		long long id;

		for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			len = strlen(dirs[i].prefix);
			if (strncmp(de->d_name, dirs[i].prefix, len) != 0)
				continue;
			id = strtoll(de->d_name + len, &end, 10);
			if (*end == '\0' && id > 0 && !ledger_work_running(r->db,
			    dirs[i].kind, id)) {
				char *path = path_join(tmp, de->d_name);

				rm_rf(path);
				free(path);
			}
		}
	}
	closedir(d);
	free(tmp);
	return ret;
}
