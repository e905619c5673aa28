/*
 * fuzz-slugignore.c - .slugignore patterns (slugignore_parse()) and
 * matching (slugignore_match()). The input is the .slugignore text up
 * to its first NUL byte, then paths one a line; without a NUL the
 * paths are a few of an ordinary app's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slug.h"
#include "util.h"

static const char *const paths[] = {
	"docs", "docs/index.md", "src/app.log", "node_modules/x/y.js",
	"a/b/c", ".env", "test", NULL
};

/* isdir only narrows: a pattern ending in '/' skips files. */
static void
match(const struct slugignore *si, const char *rel)
{
	if (slugignore_match(si, rel, 0) && !slugignore_match(si, rel, 1))
		abort();
}

/* A pattern without wildcards or escapes matches its own text. */
static void
match_literals(const struct slugignore *si)
{
	size_t i;

	for (i = 0; i < si->nr; i++)
		if (strpbrk(si->items[i].glob, "*?[\\") == NULL &&
		    !slugignore_match(si, si->items[i].glob, 1))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	struct slugignore si;
	size_t i;

	slugignore_parse(text, nul != NULL ? (size_t)(nul - text) : size, &si);
	match_literals(&si);
	if (nul == NULL) {
		for (i = 0; paths[i] != NULL; i++)
			match(&si, paths[i]);
	} else {
		const char *p = nul + 1, *end = text + size;
		int lineno = 0;
		const char *s, *e;

		while (text_line(&p, end, &lineno, &s, &e)) {
			char *rel = xstrndup(s, (size_t)(e - s));

			match(&si, rel);
			free(rel);
		}
	}
	slugignore_clear(&si);
	return 0;
}
