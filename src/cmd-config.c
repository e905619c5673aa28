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

static int
cmd_config(struct cmd_ctx *ctx)
{
	struct app a;
	struct kvlist kv;
	struct table t;
	size_t i;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	if (ledger_config_get(ctx->root.db, a.id, &kv) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	if (ctx->json) {
		json_t *o = json_object();

		for (i = 0; i < kv.nr; i++) {
			json_t *v = json_string(kv.items[i].value);

			json_object_set_new(o, kv.items[i].key,
			    v != NULL ? v : json_null());
		}
		cmd_print_json(o);
	} else if (kv.nr == 0)
		printf("%s has no config vars; set one with: berth config:set "
		    "KEY=VALUE -a %s\n", a.name, a.name);
	else {
		printf("=== %s Config Vars\n", a.name);
		table_init(&t, 2);
		for (i = 0; i < kv.nr; i++) {
			char *key = xasprintf("%s:", kv.items[i].key);

			table_row(&t, key, kv.items[i].value);
			free(key);
		}
		table_print(&t, stdout);
		table_clear(&t);
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
	if (ledger_config_get(ctx->root.db, a.id, &kv) < 0) {
		app_clear(&a);
		return cmd_fail_last();
	}
	value = kvlist_get(&kv, key);
	if (value != NULL)
		printf("%s\n", value);
	else
		ret = cmd_fail("%s is not set on %s", key, a.name);
	kvlist_clear(&kv);
	app_clear(&a);
	return ret;
}

/* "A, B" from the keys of kv; caller frees. */
static char *
key_names(const char *const *keys, size_t nr)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < nr; i++)
		strbuf_addf(&sb, "%s%s", i ? ", " : "", keys[i]);
	return strbuf_detach(&sb);
}

/* "... done, v5" or "... done" when the change made no release. */
static void
print_done(const char *verb, const char *const *keys, size_t nr,
    const char *app, int version)
{
	char *names = key_names(keys, nr);

	if (version > 0)
		printf("%s %s on %s... done, v%d\n", verb, names, app, version);
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
	char *actor = NULL, q[64];
	int i, version, ret = 1, lock = -1;
	int64_t release_id = 0;
	size_t k;

	/* Check every argument before anything changes. */
	for (i = 0; i < ctx->argc; i++) {
		const char *arg = ctx->argv[i], *eq = strchr(arg, '=');
		char *key;

		if (eq == NULL) {
			name_quote(arg, q, sizeof(q));
			cmd_fail("'%s' has no '=': use config:set KEY=VALUE",
			    q);
			goto out;
		}
		key = xstrndup(arg, (size_t)(eq - arg));
		if (name_check_config_key(key) < 0) {
			free(key);
			cmd_fail_last();
			goto out;
		}
		if (!utf8_valid(eq + 1, strlen(eq + 1))) {
			cmd_fail("the value of %s is not valid UTF-8", key);
			free(key);
			goto out;
		}
		kvlist_add(&set, key, eq + 1);
		free(key);
	}
	if (cmd_need_app(ctx, &a) != 0)
		goto out;
	actor = actor_name();
	lock = cmd_lock_app(ctx, &a, "config change");
	if (lock < 0)
		;
	else if (ledger_config_change(ctx->root.db, a.id, &set, NULL, 0,
	    actor, &version, &release_id) < 0)
		cmd_fail_last();
	else {
		keys = xcalloc(set.nr, sizeof(*keys));
		for (k = 0; k < set.nr; k++)
			keys[k] = set.items[k].key;
		ret = release_id ? cmd_launch(ctx, a.name, version,
		    release_id) : 0;
		if (ret == 0)
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
	for (i = 0; i < ctx->argc; i++) {
		const char *key = ctx->argv[i];
		size_t j;

		for (j = 0; j < nkeys; j++)
			if (strcmp(keys[j], key) == 0)
				break;
		if (j < nkeys)
			continue;
		if (kvlist_get(&kv, key) != NULL)
			keys[nkeys++] = key;
		else
			absent[nabsent++] = key;
	}
	if (nkeys > 0) {
		int64_t release_id = 0;
		int lock = cmd_lock_app(ctx, &a, "config change");

		actor = actor_name();
		if (lock < 0)
			ret = 1;
		else if (ledger_config_change(ctx->root.db, a.id, NULL, keys,
		    nkeys, actor, &version, &release_id) < 0)
			ret = cmd_fail_last();
		else {
			ret = release_id ? cmd_launch(ctx, a.name, version,
			    release_id) : 0;
			if (ret == 0)
				print_done("Unsetting", keys, nkeys, a.name,
				    version);
		}
		deploy_unlock(lock);
	}
	if (ret == 0 && nabsent > 0) {
		names = key_names(absent, nabsent);
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
	"config", NULL, "aj", 0, 0,
	"config -a APP [--json]",
	"show an app's config vars",
	NULL, cmd_config, 0,
};

const struct berth_cmd cmd_config_get_entry = {
	"config:get", NULL, "a", 1, 1,
	"config:get KEY -a APP",
	"print one config var's value",
	"Exits 1 with nothing on stdout when KEY is not set.",
	cmd_config_get, 0,
};

const struct berth_cmd cmd_config_set_entry = {
	"config:set", NULL, "a", 1, -1,
	"config:set KEY=VALUE [KEY=VALUE...] -a APP",
	"set config vars (a new release when the app has one)",
	"Each argument is split at its first '='; VALUE may be empty or hold\n"
	"'='. KEY is letters, digits and '_', not starting with a digit.\n"
	"Values are not echoed back; see them with: berth config -a APP.",
	cmd_config_set, 0,
};

const struct berth_cmd cmd_config_unset_entry = {
	"config:unset", NULL, "a", 1, -1,
	"config:unset KEY [KEY...] -a APP",
	"remove config vars (a new release when the app has one)",
	NULL, cmd_config_unset, 0,
};
