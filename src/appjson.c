/*
 * appjson.c - the app.json subset berth understands.
 */
#include "appjson.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys of Heroku's app.json schema; the ones berth does not use yet
 * are accepted quietly, anything else is noted. */
static const char *const known_keys[] = {
	"name", "description", "keywords", "website", "repository", "logo",
	"success_url", "scripts", "env", "formation", "image", "addons",
	"buildpacks", "environments", "stack", "healthchecks", NULL,
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

/* "healthchecks": {"web": [{"path": "/health", ...}]} */
static int
parse_checks(json_t *v, struct appjson *out)
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
			json_t *path = json_object_get(c, "path");
			char where[128];

			snprintf(where, sizeof(where), "healthchecks.%s[%zu]",
			    type, i);
			memset(&hc, 0, sizeof(hc));
			if (!json_is_object(c))
				return berth_error("app.json: %s: expected an "
				    "object", where);
			if (path == NULL)
				continue;	/* not an HTTP check */
			if (!json_is_string(path) ||
			    json_string_value(path)[0] != '/')
				return berth_error("app.json: %s.path: expected "
				    "a string starting with '/'", where);
			if (int_field(c, "status", where, 100, 599, 0,
			    &hc.status) < 0 ||
			    int_field(c, "timeout", where, 1, 600, 5,
			    &hc.timeout) < 0 ||
			    int_field(c, "attempts", where, 1, 100, 3,
			    &hc.attempts) < 0)
				return -1;
			hc.type = xstrdup(type);
			hc.path = xstrdup(json_string_value(path));
			out->checks = xrealloc(out->checks, (out->nchecks + 1) *
			    sizeof(*out->checks));
			out->checks[out->nchecks++] = hc;
		}
	}
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
	json_error_t err;
	json_t *root, *v;
	const char *k;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (len > APPJSON_MAX_SIZE)
		return berth_error("app.json is larger than %d bytes",
		    APPJSON_MAX_SIZE);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return berth_error("app.json line %d column %d: %s", err.line,
		    err.column, err.text);
	if (!json_is_object(root)) {
		berth_error("app.json: expected a JSON object at the top");
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (!known_key(k) && note != NULL) {
			char *msg = xasprintf("app.json: unknown key '%s' "
			    "ignored", k);

			note(msg, data);
			free(msg);
		}
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
	if (v != NULL && parse_checks(v, out) < 0)
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
	ret = read_file(path, &sb, APPJSON_MAX_SIZE);
	if (ret == 0)
		ret = appjson_parse(sb.buf, sb.len, out, note, data);
	strbuf_release(&sb);
	free(path);
	return ret;
}

void
appjson_clear(struct appjson *aj)
{
	size_t i;

	free(aj->name);
	aj->name = NULL;
	strvec_clear(&aj->buildpacks);
	for (i = 0; i < aj->nchecks; i++) {
		free(aj->checks[i].type);
		free(aj->checks[i].path);
	}
	free(aj->checks);
	aj->checks = NULL;
	aj->nchecks = 0;
}
