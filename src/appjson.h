/*
 * appjson.h - app.json, read with jansson from the pushed commit. This
 * module grows with the features that use app.json; today: name and
 * buildpacks. Errors name the JSON path ("buildpacks[1].url: expected
 * a string") or the line and column of a syntax error.
 */
#ifndef BERTH_APPJSON_H
#define BERTH_APPJSON_H

#include <stddef.h>

#include "util.h"

#define APPJSON_MAX_SIZE (1 << 20)

struct appjson {
	char *name;
	struct strvec buildpacks;	/* urls, in order */
};

typedef void (*appjson_note_fn)(const char *msg, void *data);

/* Parse text; unknown top-level keys produce a note each. */
int appjson_parse(const char *text, size_t len, struct appjson *out,
    appjson_note_fn note, void *data);
/* Load dir/app.json when present (returns 1 when absent). */
int appjson_load(const char *dir, struct appjson *out,
    appjson_note_fn note, void *data);
void appjson_clear(struct appjson *aj);

#endif
