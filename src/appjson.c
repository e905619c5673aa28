/*
 * appjson.c - the app.json subset berth understands. Everything is
 * checked here, so the build, CI and review-app code can trust what it
 * gets: every type error names the JSON path it was found at
 * ("environments.test.scripts.test: expected a string"), and keys berth
 * ignores are reported through the note callback, never silently.
 */
#include "appjson.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* Room for one JSON key quoted inside an error message or a path. */
#define KEY_QUOTE_SIZE	128

/* Where parsing reports unknown keys. */
struct notes {
	appjson_note_fn fn;
	void *data;
};

/* Keys of Heroku's app.json schema; the ones berth does not use yet
 * are accepted quietly, anything else is noted. */
static const char *const known_keys[] = {
	"name", "description", "keywords", "website", "repository", "logo",
	"success_url", "scripts", "env", "formation", "image", "addons",
	"buildpacks", "environments", "stack", "healthchecks", "berth", NULL,
};

static int
known_key(const char *k)
{
	size_t i;

	for (i = 0; known_keys[i] != NULL; i++)
		if (strcmp(known_keys[i], k) == 0)
			return 1;
	return 0;
}

static int
parse_buildpacks(json_t *v, struct appjson *out)
{
	size_t i;
	json_t *bp;

	if (!json_is_array(v))
		return berth_error("app.json: buildpacks: expected an array of "
		    "{\"url\": ...} objects");
	json_array_foreach(v, i, bp) {
		json_t *url;

		if (json_is_string(bp)) {
			strvec_push(&out->buildpacks, json_string_value(bp));
			continue;
		}
		if (!json_is_object(bp))
			return berth_error("app.json: buildpacks[%zu]: expected "
			    "an object with a \"url\"", i);
		url = json_object_get(bp, "url");
		if (!json_is_string(url) || json_string_length(url) == 0)
			return berth_error("app.json: buildpacks[%zu].url: "
			    "expected a string", i);
		strvec_push(&out->buildpacks, json_string_value(url));
	}
	return 0;
}

/* A whole number in [min, max] at path, or def when absent. */
static int
int_field(json_t *o, const char *key, const char *path, int min, int max,
    int def, int *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return berth_error("app.json: %s.%s: expected a whole number "
		    "from %d to %d", path, key, min, max);
	*out = (int)json_integer_value(v);
	return 0;
}

/* path.key, with key quoted (control bytes escaped, long keys cut). */
static char *
subpath(const char *path, const char *key)
{
	char q[KEY_QUOTE_SIZE];

	name_quote(key, q, sizeof(q));
	return xasprintf("%s.%s", path, q);
}

/* "app.json: unknown key 'path.key' ignored" (path NULL: the top). */
static void
note_unknown(const struct notes *n, const char *path, const char *key)
{
	char q[KEY_QUOTE_SIZE];
	char *where, *msg;

	if (n->fn == NULL)
		return;
	if (path != NULL) {
		where = subpath(path, key);
	} else {
		name_quote(key, q, sizeof(q));
		where = xstrdup(q);
	}
	msg = xasprintf("app.json: unknown key '%s' ignored", where);
	n->fn(msg, n->data);
	free(msg);
	free(where);
}

/* Put "app.json: path: " in front of the current error; returns -1. */
static int
error_at(const char *path)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", berth_last_error());
	return berth_error("app.json: %s: %s", path, msg);
}

/* A string member key of o into *out (left alone when absent). */
static int
string_field(json_t *o, const char *key, const char *path, char **out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return berth_error("app.json: %s.%s: expected a string", path,
		    key);
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* Keys of Dokku's healthchecks entries berth has no use for. */
static const char *const unsupported_check_keys[] = {
	"command", "httpHeaders", "listening", "port", "scheme", "uptime",
	"warn", "onFailure", NULL,
};

static int
in_list(const char *const *list, const char *k)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], k) == 0)
			return 1;
	return 0;
}

static void notef(const struct notes *n, const char *fmt, ...)
    BERTH_ATTR_PRINTF(2, 3);

/* A note (a warning in the build output), formatted. */
static void
notef(const struct notes *n, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (n->fn == NULL)
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	n->fn(strbuf_str(&sb), n->data);
	strbuf_release(&sb);
}

/*
 * One entry of healthchecks.TYPE at where into *hc (hc->path NULL when
 * it is not a check berth runs: each such entry and each key berth does
 * not support is noted).
 */
static int
parse_check(json_t *c, const char *type, const char *where,
    struct healthcheck *hc, const struct notes *n)
{
	static const char *const known[] = {
		"type", "name", "description", "path", "content", "status",
		"timeout", "attempts", "wait", "initialDelay", NULL,
	};
	json_t *path = json_object_get(c, "path"), *t, *m;
	const char *k;

	if (!json_is_object(c))
		return berth_error("app.json: %s: expected an object", where);
	json_object_foreach(c, k, m) {
		if (in_list(unsupported_check_keys, k))
			notef(n, "app.json: %s.%s is not supported by berth; "
			    "ignored", where, k);
		else if (!in_list(known, k))
			note_unknown(n, where, k);
	}
	t = json_object_get(c, "type");
	if (t != NULL && !json_is_string(t))
		return berth_error("app.json: %s.type: expected a string",
		    where);
	if (string_field(c, "name", where, &hc->name) < 0 ||
	    string_field(c, "content", where, &hc->content) < 0)
		return -1;
	if (path != NULL && (!json_is_string(path) ||
	    json_string_value(path)[0] != '/'))
		return berth_error("app.json: %s.path: expected a string "
		    "starting with '/'", where);
	if (path != NULL && has_control(json_string_value(path),
	    json_string_length(path))) {
		char q[KEY_QUOTE_SIZE];

		name_quote(json_string_value(path), q, sizeof(q));
		return berth_error("app.json: %s.path: '%s' holds a control "
		    "byte: a check is a URL path, e.g. /health", where, q);
	}
	if (int_field(c, "status", where, 100, 599, 0, &hc->status) < 0 ||
	    int_field(c, "timeout", where, 1, 600, 5, &hc->timeout) < 0 ||
	    int_field(c, "attempts", where, 1, 100, 3, &hc->attempts) < 0 ||
	    int_field(c, "wait", where, 0, 600, 1, &hc->wait) < 0 ||
	    int_field(c, "initialDelay", where, 0, 600, 0,
	    &hc->initial_delay) < 0)
		return -1;
	if (t != NULL && strcmp(json_string_value(t), "startup") != 0) {
		char q[KEY_QUOTE_SIZE];

		name_quote(json_string_value(t), q, sizeof(q));
		notef(n, "app.json: %s: type '%s' is not supported by berth "
		    "(only \"startup\" checks gate a rollout); skipped",
		    where, q);
		return 0;
	}
	if (path == NULL) {
		notef(n, "app.json: %s has no path: berth runs only HTTP "
		    "checks; skipped", where);
		return 0;
	}
	hc->path = xstrdup(json_string_value(path));
	hc->type = xstrdup(type);
	hc->where = xasprintf("app.json healthchecks.%s", type);
	return 0;
}

/* "healthchecks": {"web": [{"path": "/health", ...}]} */
static int
parse_checks(json_t *v, struct appjson *out, const struct notes *n)
{
	const char *type;
	json_t *list;

	if (!json_is_object(v))
		return berth_error("app.json: healthchecks: expected an object "
		    "of process types");
	json_object_foreach(v, type, list) {
		size_t i;
		json_t *c;

		if (!json_is_array(list))
			return berth_error("app.json: healthchecks.%s: expected "
			    "an array of checks", type);
		json_array_foreach(list, i, c) {
			struct healthcheck hc;
			char where[128];

			snprintf(where, sizeof(where), "healthchecks.%s[%zu]",
			    type, i);
			memset(&hc, 0, sizeof(hc));
			if (parse_check(c, type, where, &hc, n) < 0) {
				healthcheck_clear(&hc);
				return -1;
			}
			if (hc.path == NULL)
				healthcheck_clear(&hc);
			else
				appjson_add_check(out, &hc);
		}
	}
	return 0;
}

void
appjson_add_check(struct appjson *aj, const struct healthcheck *hc)
{
	aj->checks = xrealloc(aj->checks, (aj->nchecks + 1) *
	    sizeof(*aj->checks));
	aj->checks[aj->nchecks++] = *hc;
}

void
healthcheck_clear(struct healthcheck *hc)
{
	free(hc->type);
	free(hc->name);
	free(hc->path);
	free(hc->host);
	free(hc->content);
	free(hc->where);
	memset(hc, 0, sizeof(*hc));
}

static void
env_free_one(struct appjson_env *e)
{
	free(e->key);
	free(e->value);
	free(e->description);
}

void
appjson_env_list_free(struct appjson_env *env, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		env_free_one(&env[i]);
	free(env);
}

/*
 * One env entry at path: "value" or {description, value, required,
 * generator}. Fills e (key not set); on error e may hold allocations the
 * caller frees.
 */
static int
parse_env_entry(json_t *v, const char *path, struct appjson_env *e,
    const struct notes *n)
{
	json_t *req, *gen, *m;
	const char *k;
	int has_required = 0;

	if (json_is_string(v)) {
		e->value = xstrdup(json_string_value(v));
		e->required = 0;
		return 0;
	}
	if (!json_is_object(v))
		return berth_error("app.json: %s: expected a string or an "
		    "object", path);
	json_object_foreach(v, k, m) {
		if (strcmp(k, "description") != 0 && strcmp(k, "value") != 0 &&
		    strcmp(k, "required") != 0 && strcmp(k, "generator") != 0)
			note_unknown(n, path, k);
	}
	if (string_field(v, "description", path, &e->description) < 0 ||
	    string_field(v, "value", path, &e->value) < 0)
		return -1;
	gen = json_object_get(v, "generator");
	if (gen != NULL) {
		char q[KEY_QUOTE_SIZE];

		if (!json_is_string(gen))
			return berth_error("app.json: %s.generator: expected "
			    "a string", path);
		if (strcmp(json_string_value(gen), "secret") != 0) {
			name_quote(json_string_value(gen), q, sizeof(q));
			return berth_error("app.json: %s.generator: unknown "
			    "generator '%s': only \"secret\" is supported",
			    path, q);
		}
		e->secret = 1;
	}
	req = json_object_get(v, "required");
	if (req != NULL) {
		if (!json_is_boolean(req))
			return berth_error("app.json: %s.required: expected "
			    "true or false", path);
		e->required = json_is_true(req);
		has_required = 1;
	}
	/* A var with a value or a generator is satisfied without one. */
	if (!has_required)
		e->required = e->value == NULL && !e->secret;
	return 0;
}

/* "env": {"KEY": "value" | {...}} at path, appended to *env. */
static int
parse_env(json_t *v, const char *path, struct appjson_env **env,
    size_t *nenv, const struct notes *n)
{
	const char *key;
	json_t *ev;

	if (!json_is_object(v))
		return berth_error("app.json: %s: expected an object of config "
		    "vars", path);
	json_object_foreach(v, key, ev) {
		struct appjson_env e;
		char *where = subpath(path, key);

		memset(&e, 0, sizeof(e));
		if (name_check_config_key(key) < 0) {
			error_at(where);
			free(where);
			return -1;
		}
		/* A dyno's env (review apps): berth sets these there. */
		if (strncmp(path, "environments.test", 17) != 0 &&
		    name_is_dyno_var(key)) {
			berth_error("app.json: %s: %s is set by berth in every "
			    "dyno, so this would be ignored: remove it", where,
			    key);
			free(where);
			return -1;
		}
		if (parse_env_entry(ev, where, &e, n) < 0) {
			env_free_one(&e);
			free(where);
			return -1;
		}
		free(where);
		e.key = xstrdup(key);
		*env = xrealloc(*env, (*nenv + 1) * sizeof(**env));
		(*env)[(*nenv)++] = e;
	}
	return 0;
}

/* "formation": {"web": {"quantity": 2, "size": "..."}} at path. */
static int
parse_formation(json_t *v, const char *path, struct formation_item **f,
    size_t *nf, const struct notes *n)
{
	const char *type, *k;
	json_t *item, *m;

	if (!json_is_object(v))
		return berth_error("app.json: %s: expected an object of "
		    "process types", path);
	json_object_foreach(v, type, item) {
		char *where = subpath(path, type);
		int quantity;

		if (name_check_process_type(type) < 0) {
			error_at(where);
			free(where);
			return -1;
		}
		if (!json_is_object(item)) {
			berth_error("app.json: %s: expected an object with a "
			    "\"quantity\"", where);
			free(where);
			return -1;
		}
		json_object_foreach(item, k, m) {
			if (strcmp(k, "quantity") != 0 &&
			    strcmp(k, "size") != 0)
				note_unknown(n, where, k);
		}
		/* Heroku's default quantity is 1; size means nothing here. */
		if (int_field(item, "quantity", where, 0, 1000, 1,
		    &quantity) < 0) {
			free(where);
			return -1;
		}
		free(where);
		*f = xrealloc(*f, (*nf + 1) * sizeof(**f));
		(*f)[*nf].type = xstrdup(type);
		(*f)[*nf].quantity = quantity;
		(*f)[*nf].memory = 0;	/* the berth.ini size */
		(*nf)++;
	}
	return 0;
}

/*
 * "scripts" at path. With test set, the scripts of environments.test
 * (test-setup, test); else the deploy ones (postdeploy, pr-predestroy).
 * Other script names are noted.
 */
/* scripts.dokku: {"predeploy": CMD, "postdeploy": CMD}, as on Dokku. */
static int
parse_dokku_scripts(json_t *v, const char *path, struct appjson_scripts *s,
    const struct notes *n)
{
	char *where = subpath(path, "dokku");
	const char *k;
	json_t *m;
	int ret = -1;

	if (!json_is_object(v)) {
		berth_error("app.json: %s: expected an object of commands",
		    where);
		goto out;
	}
	json_object_foreach(v, k, m) {
		char **slot = strcmp(k, "predeploy") == 0 ? &s->dokku_predeploy :
		    strcmp(k, "postdeploy") == 0 ? &s->dokku_postdeploy : NULL;

		if (slot == NULL)
			note_unknown(n, where, k);
		else if (string_field(v, k, where, slot) < 0)
			goto out;
	}
	ret = 0;
out:
	free(where);
	return ret;
}

/*
 * With dokku set (the top-level scripts), scripts.dokku is read too.
 */
static int
parse_scripts(json_t *v, const char *path, int test, int dokku,
    struct appjson_scripts *s, const struct notes *n)
{
	const char *k;
	json_t *m;

	if (!json_is_object(v))
		return berth_error("app.json: %s: expected an object of "
		    "commands", path);
	json_object_foreach(v, k, m) {
		char **slot = NULL;

		if (dokku && strcmp(k, "dokku") == 0) {
			if (parse_dokku_scripts(m, path, s, n) < 0)
				return -1;
			continue;
		}
		if (test && strcmp(k, "test-setup") == 0)
			slot = &s->test_setup;
		else if (test && strcmp(k, "test") == 0)
			slot = &s->test;
		else if (!test && strcmp(k, "postdeploy") == 0)
			slot = &s->postdeploy;
		else if (!test && strcmp(k, "pr-predestroy") == 0)
			slot = &s->pr_predestroy;
		if (slot == NULL) {
			note_unknown(n, path, k);
			continue;
		}
		if (string_field(v, k, path, slot) < 0)
			return -1;
	}
	return 0;
}

/* environments.test or environments.review at path. */
static int
parse_environment(json_t *v, const char *path, int test,
    struct appjson_environment *e, const struct notes *n)
{
	const char *k;
	json_t *m;
	char *where = NULL;
	int ret = 0;

	if (!json_is_object(v))
		return berth_error("app.json: %s: expected an object", path);
	e->present = 1;
	json_object_foreach(v, k, m) {
		if (strcmp(k, "env") == 0) {
			where = subpath(path, k);
			ret = parse_env(m, where, &e->env, &e->nenv, n);
		} else if (strcmp(k, "formation") == 0) {
			where = subpath(path, k);
			ret = parse_formation(m, where, &e->formation,
			    &e->nformation, n);
		} else if (strcmp(k, "scripts") == 0) {
			where = subpath(path, k);
			ret = parse_scripts(m, where, test, 0, &e->scripts, n);
		} else {
			note_unknown(n, path, k);
			continue;
		}
		free(where);
		where = NULL;
		if (ret < 0)
			return -1;
	}
	return 0;
}

/* "berth": {"procfile_only": true}, berth's own settings. */
static int
parse_berth(json_t *v, struct appjson *out, const struct notes *n)
{
	const char *k;
	json_t *m;

	if (!json_is_object(v))
		return berth_error("app.json: berth: expected an object");
	json_object_foreach(v, k, m) {
		if (strcmp(k, "procfile_only") != 0) {
			note_unknown(n, "berth", k);
			continue;
		}
		if (!json_is_boolean(m))
			return berth_error("app.json: berth.procfile_only: "
			    "expected true or false");
		out->procfile_only = json_is_true(m);
	}
	return 0;
}

/* "environments": {"test": {...}, "review": {...}} */
static int
parse_environments(json_t *v, struct appjson *out, const struct notes *n)
{
	const char *k;
	json_t *m;

	if (!json_is_object(v))
		return berth_error("app.json: environments: expected an object "
		    "with \"test\" and/or \"review\"");
	json_object_foreach(v, k, m) {
		int ret;

		if (strcmp(k, "test") == 0)
			ret = parse_environment(m, "environments.test", 1,
			    &out->test, n);
		else if (strcmp(k, "review") == 0)
			ret = parse_environment(m, "environments.review", 0,
			    &out->review, n);
		else {
			note_unknown(n, "environments", k);
			continue;
		}
		if (ret < 0)
			return -1;
	}
	return 0;
}

static void
env_copy(struct appjson_env *to, const struct appjson_env *from)
{
	to->key = xstrdup(from->key);
	to->value = from->value != NULL ? xstrdup(from->value) : NULL;
	to->description = from->description != NULL ?
	    xstrdup(from->description) : NULL;
	to->required = from->required;
	to->secret = from->secret;
}

int
appjson_env_merged(const struct appjson *aj, const char *environment,
    struct appjson_env **out, size_t *nr)
{
	const struct appjson_environment *e = NULL;
	struct appjson_env *list;
	size_t n = 0, i, j;
	size_t extra;

	if (environment != NULL && strcmp(environment, "review") == 0)
		e = &aj->review;
	else if (environment != NULL && strcmp(environment, "test") == 0)
		e = &aj->test;
	extra = e != NULL ? e->nenv : 0;
	list = xcalloc(aj->nenv + extra, sizeof(*list));
	for (i = 0; i < aj->nenv; i++) {
		const struct appjson_env *src = &aj->env[i];

		for (j = 0; j < extra; j++)
			if (strcmp(e->env[j].key, src->key) == 0) {
				src = &e->env[j];
				break;
			}
		env_copy(&list[n++], src);
	}
	for (j = 0; j < extra; j++) {
		for (i = 0; i < aj->nenv; i++)
			if (strcmp(aj->env[i].key, e->env[j].key) == 0)
				break;
		if (i == aj->nenv)
			env_copy(&list[n++], &e->env[j]);
	}
	*out = list;
	*nr = n;
	return 0;
}

const struct healthcheck *
appjson_check(const struct appjson *aj, const char *type)
{
	size_t i;

	for (i = 0; i < aj->nchecks; i++)
		if (strcmp(aj->checks[i].type, type) == 0)
			return &aj->checks[i];
	return NULL;
}

int
appjson_parse(const char *text, size_t len, struct appjson *out,
    appjson_note_fn note, void *data)
{
	struct notes n = { note, data };
	json_error_t err;
	json_t *root, *v;
	const char *k;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (len > APPJSON_MAX_SIZE)
		return file_too_large("app.json", APPJSON_MAX_SIZE);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		/* Jansson names its own flag for a \u0000: say what it is. */
		return berth_error("app.json line %d column %d: %s", err.line,
		    err.column, strstr(err.text, "JSON_ALLOW_NUL") != NULL ?
		    "a string holds \\u0000 (a NUL byte), which berth does "
		    "not take" : err.text);
	if (!json_is_object(root)) {
		berth_error("app.json: expected a JSON object at the top");
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (!known_key(k))
			note_unknown(&n, NULL, k);
	}
	v = json_object_get(root, "name");
	if (v != NULL) {
		if (!json_is_string(v)) {
			berth_error("app.json: name: expected a string");
			goto out;
		}
		out->name = xstrdup(json_string_value(v));
	}
	v = json_object_get(root, "buildpacks");
	if (v != NULL && parse_buildpacks(v, out) < 0)
		goto out;
	v = json_object_get(root, "healthchecks");
	if (v != NULL && parse_checks(v, out, &n) < 0)
		goto out;
	v = json_object_get(root, "env");
	if (v != NULL && parse_env(v, "env", &out->env, &out->nenv, &n) < 0)
		goto out;
	v = json_object_get(root, "formation");
	if (v != NULL && parse_formation(v, "formation", &out->formation,
	    &out->nformation, &n) < 0)
		goto out;
	v = json_object_get(root, "scripts");
	if (v != NULL && parse_scripts(v, "scripts", 0, 1, &out->scripts,
	    &n) < 0)
		goto out;
	v = json_object_get(root, "environments");
	if (v != NULL && parse_environments(v, out, &n) < 0)
		goto out;
	v = json_object_get(root, "berth");
	if (v != NULL && parse_berth(v, out, &n) < 0)
		goto out;
	ret = 0;
out:
	json_decref(root);
	if (ret < 0)
		appjson_clear(out);
	return ret;
}

int
appjson_load(const char *dir, struct appjson *out, appjson_note_fn note,
    void *data)
{
	struct strbuf sb = STRBUF_INIT;
	char *path = path_join(dir, "app.json");
	int ret;

	memset(out, 0, sizeof(*out));
	if (!path_exists(path)) {
		free(path);
		return 1;
	}
	ret = read_file_regular(path, &sb, APPJSON_MAX_SIZE);
	if (ret == 0)
		ret = appjson_parse(sb.buf, sb.len, out, note, data);
	strbuf_release(&sb);
	free(path);
	return ret;
}

static void
scripts_clear(struct appjson_scripts *s)
{
	free(s->postdeploy);
	free(s->pr_predestroy);
	free(s->dokku_predeploy);
	free(s->dokku_postdeploy);
	free(s->test_setup);
	free(s->test);
}

static void
environment_clear(struct appjson_environment *e)
{
	appjson_env_list_free(e->env, e->nenv);
	formation_list_free(e->formation, e->nformation);
	scripts_clear(&e->scripts);
}

void
appjson_clear(struct appjson *aj)
{
	size_t i;

	free(aj->name);
	aj->name = NULL;
	strvec_clear(&aj->buildpacks);
	for (i = 0; i < aj->nchecks; i++)
		healthcheck_clear(&aj->checks[i]);
	free(aj->checks);
	appjson_env_list_free(aj->env, aj->nenv);
	formation_list_free(aj->formation, aj->nformation);
	scripts_clear(&aj->scripts);
	environment_clear(&aj->test);
	environment_clear(&aj->review);
	memset(aj, 0, sizeof(*aj));
}
