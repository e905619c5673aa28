/*
 * dyno.c - dyno directories, environments and processes.
 */
#include "dyno.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
dyno_prepare_dir(const struct berth_root *r, const char *app,
    const char *slug_id, const char *name)
{
	char *slug = root_pathf(r, "slugs/%s", slug_id);
	char *parent = root_pathf(r, "apps/%s/dynos", app);
	char rnd[9], *dir = NULL;

	if (!is_dir(slug)) {
		berth_error("the slug %s of this release was removed; deploy "
		    "or roll back to another release", slug_id);
		goto out;
	}
	if (mkdir_p(parent, 0750) < 0 || random_hex(rnd, 4) < 0)
		goto out;
	dir = xasprintf("%s/%s-%s", parent, name, rnd);
	if (copy_tree(slug, dir) < 0) {
		rm_rf(dir);
		free(dir);
		dir = NULL;
	}
out:
	free(slug);
	free(parent);
	return dir;
}

/* Names berth sets itself; config vars of these names are not passed. */
static int
platform_name(const char *key)
{
	static const char *const names[] = { "PORT", "DYNO", "HOME",
	    "SOURCE_VERSION", "BERTH_APP", "BERTH_RELEASE", NULL };
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], key) == 0)
			return 1;
	return 0;
}

void
dyno_env(const struct dyno_spec *d, struct strvec *env)
{
	struct kvlist config = { NULL, 0 };
	const char *path = getenv("PATH");
	size_t i;

	strvec_pushf(env, "PATH=%s", path != NULL ? path :
	    "/usr/local/bin:/usr/bin:/bin");
	strvec_push(env, "LANG=C.UTF-8");
	strvec_pushf(env, "HOME=%s", d->dir);
	if (strcmp(d->type, "run") == 0 && getenv("TERM") != NULL)
		strvec_pushf(env, "TERM=%s", getenv("TERM"));
	if (d->rel != NULL && d->rel->config != NULL &&
	    kvlist_from_json(d->rel->config, &config) == 0)
		for (i = 0; i < config.nr; i++)
			if (!platform_name(config.items[i].key))
				strvec_pushf(env, "%s=%s", config.items[i].key,
				    config.items[i].value);
	kvlist_clear(&config);
	if (d->port > 0)
		strvec_pushf(env, "PORT=%d", d->port);
	strvec_pushf(env, "DYNO=%s.%d", d->type, d->index);
	if (d->commit != NULL)
		strvec_pushf(env, "SOURCE_VERSION=%s", d->commit);
	strvec_pushf(env, "BERTH_APP=%s", d->app);
	if (d->rel != NULL)
		strvec_pushf(env, "BERTH_RELEASE=v%d", d->rel->version);
}

void
dyno_argv(const struct dyno_spec *d, struct strvec *argv)
{
	strvec_push(argv, "/bin/bash");
	strvec_push(argv, "-c");
	strvec_push(argv, "for f in .profile.d/*.sh; do "
	    "[ -r \"$f\" ] && . \"$f\"; done; eval \"$1\"");
	strvec_pushf(argv, "%s.%d", d->type, d->index);
	strvec_push(argv, d->command);
}

pid_t
dyno_spawn(const struct dyno_spec *d, int in_fd, int out_fd,
    int new_session)
{
	struct strvec env = STRVEC_INIT, argv = STRVEC_INIT;
	pid_t pid;

	dyno_env(d, &env);
	dyno_argv(d, &argv);
	pid = fork();
	if (pid < 0) {
		berth_error_errno("cannot start %s.%d", d->type, d->index);
	} else if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		int in = in_fd;
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (new_session)
			setsid();
		if (in < 0)
			in = open("/dev/null", O_RDONLY);
		if (in >= 0 && in != 0)
			dup2(in, 0);
		if (out_fd >= 0) {
			dup2(out_fd, 1);
			dup2(out_fd, 2);
		}
		close_range(3, ~0U, 0);
		if (chdir(d->dir) < 0)
			_exit(126);
		execve(argv.v[0], argv.v, env.v);
		_exit(127);
	}
	strvec_clear(&env);
	strvec_clear(&argv);
	return pid;
}

int
dyno_formation(struct ledger *db, int64_t app_id,
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
		int q = -1;

		/* The release phase is not a formation type (as on Heroku). */
		if (strcmp(t, "release") == 0)
			continue;

		for (j = 0; j < nrows; j++)
			if (strcmp(rows[j].type, t) == 0)
				q = rows[j].quantity;
		if (q < 0)
			q = strcmp(t, "web") == 0 ||
			    (!have_web && nrows == 0 && *nr == 0) ? 1 : 0;
		(*out)[*nr].type = xstrdup(t);
		(*out)[*nr].quantity = q;
		(*nr)++;
	}
	formation_list_free(rows, nrows);
	return 0;
}
