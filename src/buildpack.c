/*
 * buildpack.c - installing and locating classic buildpacks.
 */
#include "buildpack.h"
#include "repo.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int
buildpack_is_url(const char *source)
{
	return strstr(source, "://") != NULL ||
	    (strchr(source, '@') != NULL && strchr(source, ':') != NULL);
}

int
buildpack_is_local(const char *source)
{
	return source[0] == '/' || source[0] == '.' ||
	    strncasecmp(source, "file:", 5) == 0;
}

char *
buildpack_name_for(const char *source)
{
	char *s = xstrdup(source), *base, *p;
	size_t len;

	/* URL#REF: the name of URL */
	if (buildpack_is_url(s) && (p = strrchr(s, '#')) != NULL)
		*p = '\0';
	len = strlen(s);

	while (len > 1 && s[len - 1] == '/')
		s[--len] = '\0';
	base = strrchr(s, '/');
	base = base != NULL ? base + 1 : s;
	if (strncmp(base, "heroku-buildpack-", 17) == 0)
		base += 17;
	len = strlen(base);
	if (len > 4 && strcmp(base + len - 4, ".git") == 0)
		base[len - 4] = '\0';
	for (p = base; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
		    || *p == '-' || *p == '_' || *p == '.'))
			*p = '-';
	}
	if (*base == '\0' || *base == '.' || strlen(base) > 64) {
		free(s);
		return NULL;
	}
	p = xstrdup(base);
	free(s);
	return p;
}

int
buildpack_check(const char *dir, const char *label)
{
	static const char *const scripts[] = { "bin/detect", "bin/compile" };
	size_t i;

	if (!is_dir(dir))
		return berth_error("buildpack %s: %s is not a directory", label,
		    dir);
	for (i = 0; i < 2; i++) {
		char *p = path_join(dir, scripts[i]);
		int ok = access(p, X_OK) == 0;

		free(p);
		if (!ok)
			return berth_error("buildpack %s has no executable %s: "
			    "a classic buildpack needs bin/detect and "
			    "bin/compile", label, scripts[i]);
	}
	return 0;
}

int
buildpack_install(struct berth_root *r, const char *source, int index,
    char **name)
{
	char *bpname = buildpack_name_for(source), *dest = NULL, *tmp = NULL;
	char *abs = NULL, rnd[9];
	int ret = -1;

	*name = NULL;
	if (bpname == NULL)
		return berth_error("cannot make a buildpack name from '%s'",
		    source);
	dest = root_pathf(r, "buildpacks/%s", bpname);
	if (path_exists(dest)) {
		berth_error("buildpack %s is installed already; remove it "
		    "first: berth buildpacks:remove %s", bpname, bpname);
		goto out;
	}
	if (random_hex(rnd, 4) < 0)
		goto out;
	tmp = root_pathf(r, "tmp/buildpack-%s", rnd);
	if (buildpack_is_url(source)) {
		if (repo_clone(source, tmp) < 0)
			goto out;
		abs = xstrdup(source);
	} else {
		abs = realpath(source, NULL);
		if (abs == NULL) {
			berth_error_errno("buildpack %s", source);
			goto out;
		}
		if (buildpack_check(abs, source) < 0 ||
		    copy_tree(abs, tmp) < 0)
			goto out;
	}
	if (buildpack_check(tmp, source) < 0)
		goto out;
	if (ledger_buildpack_add(r->db, 0, bpname, abs, index) < 0)
		goto out;
	if (rename(tmp, dest) < 0) {
		berth_error_errno("cannot install %s", dest);
		ledger_buildpack_remove(r->db, 0, bpname);
		goto out;
	}
	*name = bpname;
	bpname = NULL;
	ret = 0;
out:
	if (tmp != NULL && path_exists(tmp))
		rm_rf(tmp);
	free(tmp);
	free(abs);
	free(dest);
	free(bpname);
	return ret;
}

int
buildpack_uninstall(struct berth_root *r, const char *name)
{
	char *dir = root_pathf(r, "buildpacks/%s", name);
	int ret;

	ret = ledger_buildpack_remove(r->db, 0, name);
	if (ret == 0 && rm_rf(dir) < 0)
		ret = -1;
	free(dir);
	return ret;
}

int
buildpack_resolve(struct berth_root *r, const char *spec,
    const char *scratch, struct bp *out)
{
	const char *slash = strrchr(spec, '/');
	char *dir;

	out->name = NULL;
	out->dir = NULL;
	if (buildpack_is_url(spec)) {
		char *name = buildpack_name_for(spec);

		if (name == NULL)
			return berth_error("cannot use buildpack '%s'", spec);
		dir = xasprintf("%s/%s", scratch, name);
		if (!path_exists(dir) && repo_clone(spec, dir) < 0) {
			free(dir);
			free(name);
			return -1;
		}
		out->name = name;
		out->dir = dir;
	} else if (spec[0] == '/' || spec[0] == '.') {
		out->dir = realpath(spec, NULL);
		if (out->dir == NULL)
			return berth_error_errno("buildpack %s", spec);
		out->name = buildpack_name_for(spec);
	} else {
		/* "nodejs" or "heroku/nodejs": an installed buildpack. */
		const char *name = slash != NULL ? slash + 1 : spec;

		if (strstr(name, "..") != NULL || *name == '\0')
			return berth_error("buildpack '%s' is not valid", spec);
		out->dir = root_pathf(r, "buildpacks/%s", name);
		out->name = xstrdup(name);
		if (!is_dir(out->dir)) {
			berth_error("buildpack '%s' is not installed; see: "
			    "berth buildpacks", spec);
			bp_clear(out);
			return -1;
		}
	}
	if (out->name == NULL)
		out->name = xstrdup("buildpack");
	if (buildpack_check(out->dir, out->name) < 0) {
		bp_clear(out);
		return -1;
	}
	return 0;
}

int
buildpack_list_parse(const char *text, size_t len, struct strvec *out)
{
	const char *p = text, *s, *e, *w;
	int lineno = 0;

	while (text_next_line(&p, text + len, &lineno, &s, &e)) {
		if (s == e || *s == '#')
			continue;
		for (w = s; w < e; w++)
			if (*w == ' ' || *w == '\t' || *w == '\0')
				return berth_error(".buildpacks line %d: expected "
				    "one buildpack URL or name a line", lineno);
		strvec_pushf(out, "%.*s", (int)(e - s), s);
	}
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
buildpack_detection_order(struct berth_root *r, struct strvec *names)
{
	struct buildpack *bps = NULL;
	size_t nr = 0, i;
	char *dir;
	DIR *d;
	struct dirent *de;

	if (r->cfg.buildpacks.nr > 0) {
		for (i = 0; i < r->cfg.buildpacks.nr; i++)
			strvec_push(names, r->cfg.buildpacks.v[i]);
		return 0;
	}
	if (ledger_buildpack_list(r->db, 0, &bps, &nr) < 0)
		return -1;
	for (i = 0; i < nr; i++)
		strvec_push(names, bps[i].name);
	buildpack_list_free(bps, nr);
	if (names->nr > 0)
		return 0;
	/* Copied in by hand: try them by name. */
	dir = root_path(r, "buildpacks");
	d = opendir(dir);
	free(dir);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			strvec_push(names, de->d_name);
	closedir(d);
	if (names->nr > 1)
		qsort(names->v, names->nr, sizeof(char *), cmp_str);
	return 0;
}

void
bp_clear(struct bp *b)
{
	free(b->name);
	free(b->dir);
	b->name = b->dir = NULL;
}
