/*
 * cmd-vars.c - what the config var commands share: parsing KEY=VALUE
 * arguments, listing vars, splitting keys into set and not set, and the
 * show/set/unset commands of a pipeline's own config vars (CI and review
 * apps), which differ only in their scope and wording.
 */
#include "cmd.h"
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cmd_vars_parse(struct cmd_ctx *ctx, const char *cmd, int dyno,
    struct kvlist *set)
{
	char q[64];
	int i;

	for (i = 0; i < ctx->argc; i++) {
		const char *arg = ctx->argv[i], *eq = strchr(arg, '=');
		char *key;

		if (eq == NULL) {
			name_quote(arg, q, sizeof(q));
			kvlist_clear(set);
			return cmd_fail("'%s' has no '=': use %s KEY=VALUE", q,
			    cmd);
		}
		key = xstrndup(arg, (size_t)(eq - arg));
		if (name_check_config_key(key) < 0) {
			free(key);
			kvlist_clear(set);
			return cmd_fail_last();
		}
		if (dyno && name_is_dyno_var(key)) {
			cmd_fail("%s is set by berth in every dyno, so a config "
			    "var %s would be ignored: nothing was set", key,
			    key);
			free(key);
			kvlist_clear(set);
			return 1;
		}
		if (!utf8_valid(eq + 1, strlen(eq + 1))) {
			cmd_fail("the value of %s is not valid UTF-8", key);
			free(key);
			kvlist_clear(set);
			return 1;
		}
		kvlist_add(set, key, eq + 1);
		free(key);
	}
	return 0;
}

char *
cmd_key_names(const char *const *keys, size_t nr)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < nr; i++)
		strbuf_addf(&sb, "%s%s", i ? ", " : "", keys[i]);
	return strbuf_detach(&sb);
}

void
cmd_vars_split(struct cmd_ctx *ctx, const struct kvlist *kv,
    const char **keys, size_t *nkeys, const char **absent, size_t *nabsent)
{
	size_t j;
	int i;

	*nkeys = *nabsent = 0;
	for (i = 0; i < ctx->argc; i++) {
		const char *key = ctx->argv[i];

		for (j = 0; j < *nkeys; j++)
			if (strcmp(keys[j], key) == 0)
				break;
		if (j < *nkeys)
			continue;
		if (kvlist_get(kv, key) != NULL)
			keys[(*nkeys)++] = key;
		else
			absent[(*nabsent)++] = key;
	}
}

void
cmd_vars_print(struct cmd_ctx *ctx, const struct kvlist *kv,
    const char *title, const char *empty)
{
	struct table t;
	size_t i;

	if (ctx->json) {
		json_t *o = json_object();

		for (i = 0; i < kv->nr; i++) {
			json_t *v = json_string(kv->items[i].value);

			json_object_set_new(o, kv->items[i].key,
			    v != NULL ? v : json_null());
		}
		cmd_print_json(o);
		return;
	}
	if (kv->nr == 0) {
		printf("%s\n", empty);
		return;
	}
	printf("=== %s\n", title);
	table_init(&t, 2);
	for (i = 0; i < kv->nr; i++) {
		char *key = xasprintf("%s:", kv->items[i].key);
		char *value = name_quoted(kv->items[i].value);

		table_row(&t, key, value);
		free(value);
		free(key);
	}
	table_print(&t, stdout);
	table_clear(&t);
}

int
cmd_pipeline_vars_show(struct cmd_ctx *ctx, const struct var_scope *vs)
{
	struct pipeline p;
	struct kvlist kv;
	char *title, *empty;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_pipeline_config_get(ctx->root.db, p.id, vs->scope,
	    &kv) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	title = xasprintf("%s %s Config Vars", p.name, vs->title);
	empty = xasprintf("pipeline %s has no %s config vars; set one with: "
	    "berth %s:set KEY=VALUE -p %s", p.name, vs->label, vs->cmd,
	    p.name);
	cmd_vars_print(ctx, &kv, title, empty);
	free(title);
	free(empty);
	kvlist_clear(&kv);
	pipeline_clear(&p);
	return 0;
}

int
cmd_pipeline_vars_set(struct cmd_ctx *ctx, const struct var_scope *vs)
{
	struct kvlist set = { NULL, 0 };
	struct pipeline p;
	const char **keys;
	char *cmd = xasprintf("%s:set", vs->cmd), *names;
	size_t k;
	int ret = 1;

	/* Every argument is checked before anything changes; review
	 * apps' vars become their dynos' config. */
	if (cmd_vars_parse(ctx, cmd, strcmp(vs->scope, "review") == 0,
	    &set) != 0) {
		free(cmd);
		return 1;
	}
	free(cmd);
	if (cmd_need_pipeline(ctx, &p) != 0) {
		kvlist_clear(&set);
		return 1;
	}
	if (ledger_pipeline_config_change(ctx->root.db, p.id, vs->scope, &set,
	    NULL, 0) < 0)
		cmd_fail_last();
	else {
		keys = xcalloc(set.nr, sizeof(*keys));
		for (k = 0; k < set.nr; k++)
			keys[k] = set.items[k].key;
		names = cmd_key_names(keys, set.nr);
		printf("Setting %s on pipeline %s's %s... done\n", names,
		    p.name, vs->label);
		if (vs->note != NULL)
			printf("%s\n", vs->note);
		free(names);
		free(keys);
		ret = 0;
	}
	pipeline_clear(&p);
	kvlist_clear(&set);
	return ret;
}

int
cmd_pipeline_vars_unset(struct cmd_ctx *ctx, const struct var_scope *vs)
{
	const char **keys, **absent;
	size_t nkeys, nabsent;
	struct kvlist kv;
	struct pipeline p;
	char *names;
	int i, ret = 0;

	for (i = 0; i < ctx->argc; i++)
		if (name_check_config_key(ctx->argv[i]) < 0)
			return cmd_fail_last();
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_pipeline_config_get(ctx->root.db, p.id, vs->scope,
	    &kv) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	keys = xcalloc((size_t)ctx->argc, sizeof(*keys));
	absent = xcalloc((size_t)ctx->argc, sizeof(*absent));
	cmd_vars_split(ctx, &kv, keys, &nkeys, absent, &nabsent);
	if (nkeys > 0) {
		if (ledger_pipeline_config_change(ctx->root.db, p.id,
		    vs->scope, NULL, keys, nkeys) < 0)
			ret = cmd_fail_last();
		else {
			names = cmd_key_names(keys, nkeys);
			printf("Unsetting %s on pipeline %s's %s... done\n",
			    names, p.name, vs->label);
			if (vs->note != NULL)
				printf("%s\n", vs->note);
			free(names);
		}
	}
	if (ret == 0 && nabsent > 0) {
		names = cmd_key_names(absent, nabsent);
		printf("%s %s not set on pipeline %s's %s%s\n", names,
		    nabsent > 1 ? "were" : "was", p.name, vs->label,
		    nkeys == 0 ? "; nothing changed" : "");
		free(names);
	}
	free(absent);
	free(keys);
	kvlist_clear(&kv);
	pipeline_clear(&p);
	return ret;
}
