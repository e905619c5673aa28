/*
 * slug.c - .slugignore and sealing built slugs.
 */
#include "slug.h"
#include "util.h"

#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

void
slugignore_parse(const char *text, size_t size, struct slugignore *out)
{
	const char *line = text, *stop = text + size;

	memset(out, 0, sizeof(*out));
	while (line < stop) {
		const char *end = memchr(line, '\n', (size_t)(stop - line));
		char *p = xstrndup(line, (size_t)((end != NULL ? end : stop) -
		    line));
		size_t len = strlen(p);	/* a NUL byte ends the line */
		struct slugignore_pattern pat = { NULL, 0, 0 };
		char *s = p;

		while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ' ||
		    p[len - 1] == '\t'))
			p[--len] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '\0' && *s != '#') {
			len = strlen(s);
			if (len > 1 && s[len - 1] == '/') {
				pat.dir_only = 1;
				s[--len] = '\0';
			}
			if (*s == '/') {
				pat.anchored = 1;
				s++;
			}
			if (strchr(s, '/') != NULL)
				pat.anchored = 1;
			if (*s != '\0') {
				pat.glob = xstrdup(s);
				out->items = xrealloc(out->items,
				    (out->nr + 1) * sizeof(*out->items));
				out->items[out->nr++] = pat;
			}
		}
		free(p);
		line = end != NULL ? end + 1 : stop;
	}
}

int
slugignore_match(const struct slugignore *si, const char *rel, int isdir)
{
	const char *name = strrchr(rel, '/');
	size_t i;

	name = name != NULL ? name + 1 : rel;
	for (i = 0; i < si->nr; i++) {
		const struct slugignore_pattern *p = &si->items[i];

		if (p->dir_only && !isdir)
			continue;
		if (p->anchored ? fnmatch(p->glob, rel, FNM_PATHNAME) == 0 :
		    fnmatch(p->glob, name, 0) == 0)
			return 1;
	}
	return 0;
}

void
slugignore_clear(struct slugignore *si)
{
	size_t i;

	for (i = 0; i < si->nr; i++)
		free(si->items[i].glob);
	free(si->items);
	si->items = NULL;
	si->nr = 0;
}

/* Walk dir (rel is its path from the top, "" at the top). */
static int
walk(const struct slugignore *si, const char *dir, const char *rel)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int removed = 0;

	if (d == NULL)
		return berth_error_errno("cannot read %s", dir);
	while ((de = readdir(d)) != NULL) {
		char *path, *sub;
		struct stat st;
		int isdir, n;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path = path_join(dir, de->d_name);
		sub = *rel ? xasprintf("%s/%s", rel, de->d_name) :
		    xstrdup(de->d_name);
		isdir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
		if (slugignore_match(si, sub, isdir)) {
			n = rm_rf(path) < 0 ? -1 : 1;
		} else if (isdir) {
			n = walk(si, path, sub);
		} else
			n = 0;
		free(path);
		free(sub);
		if (n < 0) {
			closedir(d);
			return -1;
		}
		removed += n;
	}
	closedir(d);
	return removed;
}

int
slugignore_apply(const char *dir)
{
	struct strbuf text = STRBUF_INIT;
	struct slugignore si;
	char *path = path_join(dir, ".slugignore");
	int ret;

	if (!path_exists(path)) {
		free(path);
		return 0;
	}
	if (read_file_regular(path, &text, 1 << 20) < 0) {
		free(path);
		return -1;
	}
	slugignore_parse(strbuf_str(&text), text.len, &si);
	ret = walk(&si, dir, "");
	slugignore_clear(&si);
	strbuf_release(&text);
	free(path);
	return ret;
}

/*
 * Make everything below path berth's: root's when we are root (the
 * build ran as the app's uid, and so may a process it left that holds
 * the tree open), writable by no one else, plus the mode bits add. The
 * owner keeps its write bits: a sandbox sees the slug only through its
 * overlay, as its own files (sandbox.h), and writes never reach the
 * slug. The walk follows no link, even one swapped in meanwhile.
 */
static int
seal_one(int fd, const struct stat *st, void *data)
{
	mode_t add = *(const mode_t *)data;

	if (S_ISLNK(st->st_mode))
		return geteuid() == 0 && st->st_uid != 0 ?
		    fchownat(fd, "", 0, 0, AT_EMPTY_PATH) : 0;
	if (geteuid() == 0 && (st->st_uid != 0 || st->st_gid != 0) &&
	    fchownat(fd, "", 0, 0, AT_EMPTY_PATH) < 0)
		return -1;
	return fd_chmod(fd, (st->st_mode & 07755 & ~(mode_t)S_ISUID &
	    ~(mode_t)S_ISGID) | add);
}

static int
seal_tree(const char *path, mode_t add)
{
	if (walk_tree(path, seal_one, &add) != 0)
		return berth_error_errno("cannot seal %s", path);
	return 0;
}

int
slug_seal(const char *build_dir, const char *slug_dir)
{
	/* Move first: moving a directory needs write access to it. */
	if (rename(build_dir, slug_dir) < 0)
		return berth_error_errno("cannot move the slug to %s", slug_dir);
	return seal_tree(slug_dir, 0);
}

int
slug_owner_writable(const char *slug_dir)
{
	struct stat st;

	if (stat(slug_dir, &st) < 0)
		return berth_error_errno("cannot read the slug %s", slug_dir);
	return (st.st_mode & S_IWUSR) ? 0 : seal_tree(slug_dir, S_IWUSR);
}
