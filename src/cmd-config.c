/*
 * cmd-config.c - config, config:get, config:set, config:unset: an app's
 * config vars, with Heroku's semantics. A change to an app that has a
 * release records a new release (same slug, new config snapshot).
 * Values are shown only by config and config:get, never echoed by a
 * change, so they stay out of terminal scrollback and shared logs.
 */
#include "cmd.h"
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
cmd_config(struct cmd_ctx *ctx)
{
	struct app a;
	struct kvlist kv;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	cmd_settle_idle(ctx, &a);
	if (ledger_config_get(ctx->root.db, a.id, &kv) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	{
		enum role need = access_needed(&cmd_config_get_entry.access,
		    a.stage);
		int names_only = !cmd_may(ctx, a.pipeline_id, need);
		char *title = names_only ? xasprintf("%s Config Vars (names "
		    "only: values need %s)", a.name, role_name(need)) :
		    xasprintf("%s Config Vars", a.name);
		size_t i;

		for (i = 0; names_only && i < kv.nr; i++) {
			free(kv.items[i].value);
			kv.items[i].value = xstrdup("(hidden)");
		}
		char *empty = xasprintf("%s has no config vars; set one with: "
		    "berth config:set KEY=VALUE -a %s", a.name, a.name);

		cmd_vars_print(ctx, &kv, title, empty);
		free(title);
		free(empty);
	}
	kvlist_clear(&kv);
	app_clear(&a);
	return 0;
}

static int
cmd_config_get(struct cmd_ctx *ctx)
{
	const char *key = ctx->argv[0], *value;
	struct app a;
	struct kvlist kv;
	int ret = 0;

	if (name_check_config_key(key) < 0)
		return cmd_fail_last();
	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	cmd_settle_idle(ctx, &a);
	if (ledger_config_get(ctx->root.db, a.id, &kv) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	value = kvlist_get(&kv, key);
	if (value != NULL && isatty(STDOUT_FILENO)) {
		/* The exact value for $(...) and pipes; a terminal gets no
		 * control byte raw (an ESC would be obeyed). */
		char *q = name_quoted(value);

		printf("%s\n", q);
		free(q);
	} else if (value != NULL)
		printf("%s\n", value);
	else
		ret = cmd_fail("%s is not set on %s", key, a.name);
	kvlist_clear(&kv);
	app_clear(&a);
	return ret;
}

/*
 * Heroku's words: "Setting A, B and restarting shop... done, v5" when
 * the change made release v5, "Setting A, B on shop... done" when it
 * made none (the app has no release yet: nothing restarts).
 */
static void
print_done(const char *verb, const char *const *keys, size_t nr,
    const char *app, int version)
{
	char *names = cmd_key_names(keys, nr);

	if (version > 0)
		printf("%s %s and restarting %s... done, v%d\n", verb, names,
		    app, version);
	else
		printf("%s %s on %s... done\n", verb, names, app);
	free(names);
}

static int
cmd_config_set(struct cmd_ctx *ctx)
{
	struct kvlist set = { NULL, 0 };
	const char **keys = NULL;
	struct app a;
	char *actor = NULL;
	int version = 0, ret = 1, lock = -1;
	size_t k;

	/* Check every argument before anything changes. */
	if (cmd_vars_parse(ctx, "config:set", 1, &set) != 0)
		goto out;
	if (cmd_need_app(ctx, &a) != 0)
		goto out;
	actor = actor_name();
	lock = cmd_lock_app(ctx, &a, "config change");
	if (lock < 0)
		;
	else {
		struct release_order o = {
			.app = &a,
			.kind = RELEASE_CONFIG,
			.set = &set,
			.actor = actor,
		};

		ret = cmd_release(ctx, &o, &version);
		if (ret < 0)
			ret = cmd_fail_last();
	}
	if (ret == 0) {
		keys = xcalloc(set.nr, sizeof(*keys));
		for (k = 0; k < set.nr; k++)
			keys[k] = set.items[k].key;
		print_done("Setting", keys, set.nr, a.name, version);
	}
	deploy_unlock(lock);
	app_clear(&a);
out:
	free(keys);
	free(actor);
	kvlist_clear(&set);
	return ret;
}

static int
cmd_config_unset(struct cmd_ctx *ctx)
{
	const char **keys, **absent;
	size_t nkeys = 0, nabsent = 0;
	struct kvlist kv;
	struct app a;
	char *actor = NULL, *names;
	int i, version, ret = 0;

	for (i = 0; i < ctx->argc; i++)
		if (name_check_config_key(ctx->argv[i]) < 0)
			return cmd_fail_last();
	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	if (ledger_config_get(ctx->root.db, a.id, &kv) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	/* Only keys that are set make the release; say which were not. */
	keys = xcalloc((size_t)ctx->argc, sizeof(*keys));
	absent = xcalloc((size_t)ctx->argc, sizeof(*absent));
	cmd_vars_split(ctx, &kv, keys, &nkeys, absent, &nabsent);
	if (nkeys > 0) {
		int lock = cmd_lock_app(ctx, &a, "config change");
		struct release_order o = {
			.app = &a,
			.kind = RELEASE_CONFIG,
			.unset = keys,
			.nunset = nkeys,
		};

		o.actor = actor = actor_name();
		if (lock < 0)
			ret = 1;
		else if ((ret = cmd_release(ctx, &o, &version)) < 0)
			ret = cmd_fail_last();
		else if (ret == 0)
			print_done("Unsetting", keys, nkeys, a.name, version);
		deploy_unlock(lock);
	}
	if (ret == 0 && nabsent > 0) {
		names = cmd_key_names(absent, nabsent);
		printf("%s %s not set on %s%s\n", names, nabsent > 1 ? "were" :
		    "was", a.name, nkeys == 0 ? "; nothing changed" : "");
		free(names);
	}
	free(actor);
	free(absent);
	free(keys);
	kvlist_clear(&kv);
	app_clear(&a);
	return ret;
}

const struct berth_cmd cmd_config_entry = {
	.name = "config",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "config -a APP [--json]",
	.summary = "show an app's config vars",
	.options = cmd_opts_app_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_config,
};

const struct berth_cmd cmd_config_get_entry = {
	.name = "config:get",
	/* A review app's values are its developers': their code runs
	 * with them (berth run, a push) whatever config shows. */
	.access = { .scope = ACCESS_APP, .role = ROLE_DEPLOYER,
	    .review = ROLE_DEVELOPER, .production = ROLE_ADMIN },
	.usage = "config:get KEY -a APP",
	.summary = "print one config var's value",
	.help = "Exits 1 with nothing on stdout when KEY is not set.",
	.options = cmd_opts_app,
	.min_args = 1, .max_args = 1,
	.exec = cmd_config_get,
};

const struct berth_cmd cmd_config_set_entry = {
	.name = "config:set",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.usage = "config:set KEY=VALUE [KEY=VALUE...] -a APP",
	.summary = "set config vars (a new release when the app has one)",
	.help =
	"Each argument is split at its first '='; VALUE may be empty or hold\n"
	"'='. KEY is letters, digits and '_', not starting with a digit.\n"
	"berth sets PORT, DYNO, HOME, SOURCE_VERSION, BERTH_APP,\n"
	"BERTH_RELEASE and BERTH_DYNO_ID in every dyno itself: those keys are\n"
	"refused. Values are not echoed back; see them with: berth config\n"
	"-a APP. Heroku's words: \"Setting KEY and restarting APP... done,\n"
	"vN\" (\"Setting KEY on APP... done\" before the app's first release).",
	.options = cmd_opts_app,
	.min_args = 1, .max_args = -1,
	.exec = cmd_config_set,
};

const struct berth_cmd cmd_config_unset_entry = {
	.name = "config:unset",
	.access = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .production = ROLE_ADMIN },
	.usage = "config:unset KEY [KEY...] -a APP",
	.summary = "remove config vars (a new release when the app has one)",
	.options = cmd_opts_app,
	.min_args = 1, .max_args = -1,
	.exec = cmd_config_unset,
};
