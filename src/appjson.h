/*
 * appjson.h - app.json, read with jansson from the pushed commit. This
 * module grows with the features that use app.json; today: name,
 * buildpacks and healthchecks. Errors name the JSON path ("buildpacks[1].url: expected
 * a string") or the line and column of a syntax error.
 */
#ifndef BERTH_APPJSON_H
#define BERTH_APPJSON_H

#include <stddef.h>

#include "util.h"

#define APPJSON_MAX_SIZE (1 << 20)

/*
 * A health check (Dokku's app.json form): before a rollout switches the
 * router, GET path on each new dyno of type must answer `status` (or any
 * 2xx/3xx when 0), within `timeout` seconds a try, in `attempts` tries.
 */
struct healthcheck {
	char *type;
	char *path;
	int status;
	int timeout;
	int attempts;
};

struct appjson {
	char *name;
	struct strvec buildpacks;	/* urls, in order */
	struct healthcheck *checks;
	size_t nchecks;
};

typedef void (*appjson_note_fn)(const char *msg, void *data);

/* Parse text; unknown top-level keys produce a note each. */
int appjson_parse(const char *text, size_t len, struct appjson *out,
    appjson_note_fn note, void *data);
/* Load dir/app.json when present (returns 1 when absent). */
int appjson_load(const char *dir, struct appjson *out,
    appjson_note_fn note, void *data);
void appjson_clear(struct appjson *aj);
/* The check for a process type, or NULL. */
const struct healthcheck *appjson_check(const struct appjson *aj,
    const char *type);

#endif
