/*
 * buildpack.h - classic Heroku buildpacks (bin/detect, bin/compile,
 * bin/release): installing them into the server root, and turning a
 * name, path or Git URL into a directory a build can run.
 *
 * The server's installed buildpacks live in buildpacks/NAME/ and are
 * tried in order for detection: berth.ini [build] buildpacks when set,
 * else the ledger's order (buildpacks:add --index), else by name.
 */
#ifndef BERTH_BUILDPACK_H
#define BERTH_BUILDPACK_H

#include "root.h"

struct bp {
	char *name;
	char *dir;
};

/* The name a source installs as: basename, ".git" and a leading
 * "heroku-buildpack-" dropped. Caller frees; NULL if none can be made. */
char *buildpack_name_for(const char *source);
/* Whether source looks like a Git URL rather than a local path. */
int buildpack_is_url(const char *source);
/*
 * Whether source names something on this server: a path, or a file://
 * URL (libgit2 clones those from the server's own file system).
 */
int buildpack_is_local(const char *source);
/*
 * Copy (path) or clone (Git URL) source into buildpacks/NAME and add it
 * to the server's detection order at index (1-based, 0 = last). Fails,
 * changing nothing, when bin/detect or bin/compile is missing or not
 * executable, or NAME is installed already. *name gets the name.
 */
int buildpack_install(struct berth_root *r, const char *source, int index,
    char **name);
/* Remove an installed buildpack (directory and ledger entry). */
int buildpack_uninstall(struct berth_root *r, const char *name);
/* Check that dir holds a runnable buildpack; error names label. */
int buildpack_check(const char *dir, const char *label);
/*
 * Resolve spec (an installed name, "heroku/NAME", a directory path or a
 * Git URL, cloned under scratch) to a buildpack directory.
 */
int buildpack_resolve(struct berth_root *r, const char *spec,
    const char *scratch, struct bp *out);
/*
 * A .buildpacks file (heroku-buildpack-multi's and Dokku's form): one
 * buildpack a line (a URL, which may end in #REF, or a name), blank
 * lines and lines starting with '#' skipped, CR LF endings accepted.
 * Appends to out; -1 with ".buildpacks line N: ..." for a line that
 * holds more than one word.
 */
int buildpack_list_parse(const char *text, size_t len, struct strvec *out);
/* Installed buildpacks in detection order. */
int buildpack_detection_order(struct berth_root *r, struct strvec *names);
void bp_clear(struct bp *b);

#endif
