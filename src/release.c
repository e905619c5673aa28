/*
 * release.c - the release phase, and app.json's scripts.dokku that run
 * around it.
 */
#include "release.h"
#include "appjson.h"
#include "dyno.h"
#include "sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TAIL 10

char *
release_output_path(const struct berth_root *r, int64_t release_id)
{
	return root_pathf(r, "logs/release-%lld.log", (long long)release_id);
}

struct phase {
	FILE *log;
	size_t kept;
	int truncated;
	line_fn out;
	void *data;
	char *tail[TAIL];
	int next;
};

static void
on_line(const char *line, void *data)
{
	struct phase *ph = data;

	if (ph->out != NULL)
		ph->out(line, ph->data);
	if (ph->log != NULL && ph->kept < RELEASE_OUTPUT_MAX) {
		fprintf(ph->log, "%s\n", line);
		ph->kept += strlen(line) + 1;
	} else if (ph->log != NULL && !ph->truncated) {
		fprintf(ph->log, "[berth: output past %d bytes not kept]\n",
		    RELEASE_OUTPUT_MAX);
		ph->truncated = 1;
	}
	free(ph->tail[ph->next]);
	ph->tail[ph->next] = xstrdup(line);
	ph->next = (ph->next + 1) % TAIL;
}

int
release_phase(const struct berth_root *r, struct ledger *db,
    const char *app, const struct release *rel, const char *commit,
    const struct proctypes *types, line_fn out, void *data)
{
	const char *cmd = proctypes_get(types, "release");
	char *logpath, *why;
	int64_t t0 = now_ms();
	int ret;

	if (cmd == NULL)
		return 1;
	logpath = release_output_path(r, rel->id);
	ret = release_script(r, app, rel, commit, cmd, "release", logpath,
	    r->cfg.release_timeout, out, data);
	free(logpath);
	/* Only for the event: the release's status is what counts. */
	why = xstrdup(berth_last_error());
	if (ledger_release_phase(db, rel->id, cmd, ret == 0, now_ms() - t0) < 0)
		log_say("v%d of %s: %s", rel->version, app, berth_last_error());
	berth_error("%s", why);
	free(why);
	return ret;
}

int
release_script(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *cmd,
    const char *name, const char *logpath, int timeout, line_fn out,
    void *data)
{
	struct dyno_spec spec;
	struct child c = CHILD_INIT;
	struct phase ph;
	struct strbuf why = STRBUF_INIT;
	struct dyno_dir dir;
	struct sandbox sb = SANDBOX_INIT;
	char token[20];
	int ret = -1, i, recorded = 0;

	memset(&ph, 0, sizeof(ph));
	memset(&dir, 0, sizeof(dir));
	ph.out = out;
	ph.data = data;
	ph.log = fopen_private(logpath);
	if (dyno_dir_prepare(r, app, rel->slug_id, name, &dir) < 0)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.app = app;
	spec.type = name;
	spec.index = 1;
	spec.command = cmd;
	spec.rel = rel;
	spec.commit = commit;
	spec.dir = &dir;
	spec.sandboxed = sandbox_for_app(r, rel->app_id, &spec.uid);
	if (spec.sandboxed < 0)
		goto out;
	random_hex(token, 8);
	spec.token = token;
	/* So that what it leaves, if we die, is cleaned up (berthd). */
	recorded = dyno_oneoff_begin(r, &spec) == 0;
	/* The same environment and shell as every dyno, through run_command
	 * for its deadline and group kill. */
	sandbox_limit(&sb, r, app, 0);
	sb.die_with_parent = 1;
	if (dyno_child(&spec, &c, &sb) < 0)
		goto out;
	c.timeout_ms = (int64_t)timeout * 1000;
	c.on_line = on_line;
	c.data = &ph;
	if (run_command(&c) == 0) {
		ret = 0;
		goto out;
	}
	if (c.timed_out)
		strbuf_addf(&why, "%s (%s) timed out after %d s%s",
		    strcmp(name, "release") == 0 ? "the release phase" : name,
		    cmd, timeout, strcmp(name, "release") == 0 ?
		    " (berth.ini [release] timeout)" : "");
	else {
		char *how = child_describe(&c);

		strbuf_addf(&why, "%s (%s) %s", strcmp(name, "release") == 0 ?
		    "the release phase" : name, cmd, how);
		free(how);
	}
	strbuf_addstr(&why, "; its last lines:");
	for (i = 0; i < TAIL; i++) {
		const char *l = ph.tail[(ph.next + i) % TAIL];

		if (l != NULL)
			strbuf_addf(&why, "\n  %s", l);
	}
	berth_error("%s", why.buf);
out:
	if (ph.log != NULL)
		fclose(ph.log);
	for (i = 0; i < TAIL; i++)
		free(ph.tail[i]);
	dyno_dir_remove(&dir);
	sandbox_clear(&sb);
	if (recorded)
		dyno_oneoff_end(r, token);
	strbuf_release(&why);
	child_clear(&c);
	return ret;
}

int
release_dokku_script(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *which,
    line_fn out, void *data)
{
	struct appjson aj;
	char *dir = root_pathf(r, "slugs/%s", rel->slug_id), *logpath, *msg;
	const char *cmd;
	int ret = 1;

	if (appjson_load(dir, &aj, NULL, NULL) != 0) {
		berth_clear_error();	/* the build checked it */
		free(dir);
		return 1;
	}
	free(dir);
	cmd = strcmp(which, "predeploy") == 0 ? aj.scripts.dokku_predeploy :
	    aj.scripts.dokku_postdeploy;
	if (cmd == NULL)
		goto out;
	if (out != NULL) {
		msg = xasprintf("-----> Running %s (app.json scripts.dokku): "
		    "%s", which, cmd);
		out(msg, data);
		free(msg);
	}
	logpath = root_pathf(r, "logs/release-%lld-%s.log",
	    (long long)rel->id, which);
	ret = release_script(r, app, rel, commit, cmd, which, logpath,
	    r->cfg.release_timeout, out, data);
	free(logpath);
	if (ret < 0) {
		/* "predeploy (cmd) exited ..." names the script in full */
		msg = xstrdup(berth_last_error());
		berth_error("app.json scripts.dokku.%s", msg);
		free(msg);
	}
out:
	appjson_clear(&aj);
	return ret;
}

int
release_load(struct ledger *db, int64_t app_id, int64_t rel_id,
    struct release *rel, char **commit, struct proctypes *types)
{
	struct slug slug;
	int rc;

	memset(&slug, 0, sizeof(slug));
	memset(types, 0, sizeof(*types));
	*commit = NULL;
	rc = rel_id ? ledger_release_get_by_id(db, rel_id, rel) :
	    ledger_release_current(db, app_id, rel);
	if (rc != 0)
		return -1;
	if (rel->slug_id == NULL) {
		release_clear(rel);
		return berth_error("the release has no slug");
	}
	if (ledger_slug_get(db, rel->slug_id, &slug) != 0) {
		release_clear(rel);
		return -1;
	}
	*commit = xstrdup(slug.commit);
	rc = proctypes_from_json(slug.process_types, types);
	slug_clear(&slug);
	if (rc < 0) {
		release_clear(rel);
		free(*commit);
		*commit = NULL;
	}
	return rc;
}

int
release_settle(struct ledger *db, const struct release *rel, int ok,
    const char *prev_config)
{
	int restore = !ok && prev_config != NULL &&
	    (strcmp(rel->kind, "config") == 0 ||
	    strcmp(rel->kind, "rollback") == 0);

	return ledger_release_end(db, rel->id, ok ? "succeeded" : "failed",
	    rel->app_id, restore ? prev_config : NULL);
}

int
release_formation(struct ledger *db, int64_t app_id,
    const struct proctypes *types, struct formation_item **out, size_t *nr)
{
	struct formation_item *rows = NULL;
	size_t nrows = 0, i, j;
	int have_web = proctypes_get(types, "web") != NULL;

	if (ledger_formation_get(db, app_id, &rows, &nrows) < 0)
		return -1;
	*out = xcalloc(types->nr ? types->nr : 1, sizeof(**out));
	*nr = 0;
	for (i = 0; i < types->nr; i++) {
		const char *t = types->items[i].name;
		int64_t memory = 0;
		int q = -1;

		/* The release phase is not a formation type (as on Heroku). */
		if (strcmp(t, "release") == 0)
			continue;

		for (j = 0; j < nrows; j++)
			if (strcmp(rows[j].type, t) == 0) {
				q = rows[j].quantity;
				memory = rows[j].memory;
			}
		if (q < 0)
			q = strcmp(t, "web") == 0 ||
			    (!have_web && nrows == 0 && *nr == 0) ? 1 : 0;
		(*out)[*nr].type = xstrdup(t);
		(*out)[*nr].quantity = q;
		(*out)[*nr].memory = memory;
		(*nr)++;
	}
	formation_list_free(rows, nrows);
	return 0;
}
