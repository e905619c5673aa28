/*
 * slug.h - a slug is the immutable result of a build: the directory
 * slugs/ID/ holding the built app. Invariant: a slug directory is never
 * written after slug_seal(); dynos run on a copy of it.
 */
#ifndef BERTH_SLUG_H
#define BERTH_SLUG_H

#include <stddef.h>

/*
 * A .slugignore: one pattern per line, gitignore-like: '#' comments, a
 * pattern without '/' matches a name at any depth, one with '/' matches
 * from the app's top, a trailing '/' matches directories only, '*' '?'
 * '[...]' as in fnmatch(3). Blank lines, and white space around a
 * pattern, are skipped; a NUL byte ends its line.
 */
struct slugignore_pattern {
	char *glob;
	int anchored;		/* contained '/': matches the whole path */
	int dir_only;		/* ended in '/' */
};

struct slugignore {
	struct slugignore_pattern *items;
	size_t nr;
};

/* Parse len bytes of .slugignore text into out; free with _clear(). */
void slugignore_parse(const char *text, size_t len, struct slugignore *out);
/*
 * Whether rel, a path from the app's top without a leading '/' ("docs",
 * "src/a.log"), is ignored; isdir says it names a directory.
 */
int slugignore_match(const struct slugignore *si, const char *rel,
    int isdir);
void slugignore_clear(struct slugignore *si);
/*
 * Remove from dir what dir/.slugignore names, before buildpacks run (as
 * Heroku does). Returns the number of paths removed, -1 on error.
 */
int slugignore_apply(const char *dir);
/*
 * Make the built tree at build_dir read-only and move it to slug_dir
 * (same file system). After this the slug is never written again.
 */
int slug_seal(const char *build_dir, const char *slug_dir);
/*
 * A slug sealed by a berth before the sandbox has no write bits at all,
 * so a dyno, no longer root, could not write its /app: give its owner
 * them back (once; a slug whose top has them is left alone).
 */
int slug_owner_writable(const char *slug_dir);

#endif
