/*
 * cgroup.c - a control group per dyno (see cgroup.h): probing the
 * layout from /proc/self/mountinfo and /proc/self/cgroup, creating a
 * dyno's group with its limits, joining it, reading its OOM kills,
 * and killing and removing it.
 */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DESTROY_MS	1000	/* for what is left in a group to go */

/* Where the groups of every root go, probed once. */
struct layout {
	int version;			/* 0 (none), 1, 2 */
	char *base[CGROUP_DIRS];	/* v1: memory, pids; v2: base[0] */
	char why[512];			/* version 0: why not */
};

static pthread_mutex_t layout_lock = PTHREAD_MUTEX_INITIALIZER;
static struct layout layout;
static int layout_known;

/* Whether word is one of the comma-separated words of list. */
static int
has_word(const char *list, const char *word, char sep)
{
	size_t n = strlen(word);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, word, n) == 0 && (p[n] == sep || p[n] == '\0' ||
		    p[n] == '\n'))
			return 1;
		p = strchr(p, sep);
		if (p != NULL)
			p++;
	}
	return 0;
}

/*
 * From /proc/self/cgroup, our group in the hierarchy whose controller
 * list has ctl ("" = the cgroup2 one, "0::"); caller frees.
 */
static char *
own_group(const char *ctl)
{
	struct strbuf sb = STRBUF_INIT;
	char *line, *save = NULL, *ret = NULL;

	if (read_file("/proc/self/cgroup", &sb, 1 << 16) < 0) {
		berth_clear_error();
		return NULL;
	}
	for (line = strtok_r(sb.buf, "\n", &save); line != NULL && ret == NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') :
		    NULL;

		if (c2 == NULL)
			continue;
		*c2 = '\0';
		if (ctl[0] == '\0' ? strcmp(line, "0") == 0 && c2 == c1 + 1 :
		    has_word(c1 + 1, ctl, ','))
			ret = xstrdup(c2 + 1);
	}
	strbuf_release(&sb);
	return ret;
}

/*
 * The directory of our group of ctl (or cgroup2's, ctl "") from
 * /proc/self/mountinfo, where a hierarchy of fstype with that
 * controller is mounted, and that mount point into *mnt; caller frees
 * both. NULL when there is none.
 */
static char *
own_dir(const char *fstype, const char *ctl, char **mnt_out)
{
	struct strbuf sb = STRBUF_INIT;
	char *line, *save = NULL, *ret = NULL, *group = own_group(ctl);

	*mnt_out = NULL;
	if (group == NULL ||
	    read_file("/proc/self/mountinfo", &sb, 1 << 20) < 0) {
		berth_clear_error();
		free(group);
		return NULL;
	}
	for (line = strtok_r(sb.buf, "\n", &save); line != NULL && ret == NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char root[4096], mnt[4096], type[64], opts[4096];
		const char *dash = strstr(line, " - "), *rel;
		size_t n;

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - TYPE SOURCE OPTS */
		if (dash == NULL || sscanf(line, "%*s %*s %*s %4095s %4095s",
		    root, mnt) != 2 || sscanf(dash + 3, "%63s %*s %4095s", type,
		    opts) != 2 || strcmp(type, fstype) != 0)
			continue;
		if (ctl[0] != '\0' && !has_word(opts, ctl, ','))
			continue;
		/* Our group relative to what the mount shows. */
		n = strlen(root);
		rel = group;
		if (strcmp(root, "/") != 0 && strncmp(group, root, n) == 0 &&
		    (group[n] == '/' || group[n] == '\0'))
			rel = group + n;
		ret = xasprintf("%s%s", mnt, strcmp(rel, "/") == 0 ? "" : rel);
		*mnt_out = xstrdup(mnt);
	}
	strbuf_release(&sb);
	free(group);
	return ret;
}

/* Write text to dir/file; -1 with errno. */
static int
write_knob(const char *dir, const char *file, const char *text)
{
	char *path = path_join(dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = -1, e;

	free(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text))
		ret = 0;
	e = errno;
	close(fd);
	errno = e;
	return ret;
}

/* dir/file's text into sb (emptied first); -1 when it cannot be read. */
static int
read_knob(const char *dir, const char *file, struct strbuf *sb)
{
	char *path = path_join(dir, file);
	int rc;

	strbuf_reset(sb);
	rc = read_file(path, sb, 1 << 20);
	free(path);
	if (rc < 0)
		berth_clear_error();
	return rc;
}

/* Whether we may make groups in dir (a probe group, removed again). */
static int
can_create(const char *dir, char *why, size_t size)
{
	char *probe = xasprintf("%s/berth-probe-%ld", dir, (long)getpid());
	int ok = mkdir(probe, 0755) == 0 || errno == EEXIST;

	if (!ok)
		snprintf(why, size, "cannot create a cgroup in %s: %s%s", dir,
		    strerror(errno), geteuid() != 0 ? " (berth is not root)" :
		    "");
	rmdir(probe);
	free(probe);
	return ok;
}

/*
 * cgroup2: groups go under the parent of ours (ours holds processes,
 * so it may not pass controllers on), or under the root when we are
 * in it; memory and pids must be enabled for that parent's children.
 */
static int
probe_v2(struct layout *lo)
{
	struct strbuf sb = STRBUF_INIT;
	char *mnt, *base = own_dir("cgroup2", "", &mnt), *slash;
	int ok = 0;

	if (base == NULL)
		return 0;
	slash = strrchr(base, '/');
	if (strcmp(base, mnt) != 0 && slash != NULL)
		*slash = '\0';
	if (read_knob(base, "cgroup.controllers", &sb) < 0 ||
	    !has_word(sb.buf, "memory", ' ') || !has_word(sb.buf, "pids", ' '))
		snprintf(lo->why, sizeof(lo->why), "cgroup2 at %s offers no "
		    "memory and pids controllers", base);
	else if (read_knob(base, "cgroup.subtree_control", &sb) < 0 ||
	    ((!has_word(sb.buf, "memory", ' ') ||
	    !has_word(sb.buf, "pids", ' ')) &&
	    write_knob(base, "cgroup.subtree_control", "+memory +pids") < 0))
		snprintf(lo->why, sizeof(lo->why), "cannot enable the memory "
		    "and pids controllers in %s: %s", base, strerror(errno));
	else if (can_create(base, lo->why, sizeof(lo->why))) {
		lo->base[0] = base;
		base = NULL;
		ok = 1;
	}
	free(base);
	free(mnt);
	strbuf_release(&sb);
	return ok;
}

/* cgroup v1: our groups in the memory and the pids hierarchies. */
static int
probe_v1(struct layout *lo)
{
	static const char *const ctls[CGROUP_DIRS] = { "memory", "pids" };
	char *dirs[CGROUP_DIRS] = { NULL, NULL }, *mnt;
	int i, ok = 1;

	for (i = 0; i < CGROUP_DIRS && ok; i++) {
		dirs[i] = own_dir("cgroup", ctls[i], &mnt);
		free(mnt);
		if (dirs[i] == NULL) {
			snprintf(lo->why, sizeof(lo->why), "no cgroup v1 %s "
			    "hierarchy is mounted", ctls[i]);
			ok = 0;
		} else
			ok = can_create(dirs[i], lo->why, sizeof(lo->why));
	}
	for (i = 0; i < CGROUP_DIRS; i++)
		if (ok)
			lo->base[i] = dirs[i];
		else
			free(dirs[i]);
	return ok;
}

int
cgroup_available(const struct berth_root *r, const char **why)
{
	char why2[sizeof(layout.why)];
	int v;

	(void)r;
	pthread_mutex_lock(&layout_lock);
	if (!layout_known) {
		if (probe_v2(&layout))
			layout.version = 2;
		else {
			snprintf(why2, sizeof(why2), "%s", layout.why);
			if (probe_v1(&layout))
				layout.version = 1;
			else if (why2[0] != '\0' &&
			    strncmp(layout.why, "no ", 3) == 0)
				/* Only cgroup2 is there: its reason. */
				snprintf(layout.why, sizeof(layout.why), "%s",
				    why2);
		}
		layout_known = 1;
	}
	v = layout.version;
	pthread_mutex_unlock(&layout_lock);
	if (why != NULL)
		*why = v == 0 ? layout.why : NULL;
	return v;
}

/* The parent of this root's groups in base: BASE/berth-HASH. */
static char *
parent_dir(const struct berth_root *r, const char *base)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	const char *p;

	for (p = r->dir; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return xasprintf("%s/berth-%016llx", base, (unsigned long long)h);
}

/* Fill cg's directories for (app, token), not creating anything. */
static int
group_dirs(const struct berth_root *r, const char *app, const char *token,
    struct dyno_cgroup *cg)
{
	int v = cgroup_available(r, NULL), i;

	*cg = (struct dyno_cgroup)DYNO_CGROUP_INIT;
	if (v == 0)
		return -1;
	cg->v2 = v == 2;
	for (i = 0; i < (cg->v2 ? 1 : CGROUP_DIRS); i++) {
		char *parent = parent_dir(r, layout.base[i]);

		cg->dirs[i] = xasprintf("%s/%s-%s", parent, app, token);
		cg->procs[i] = path_join(cg->dirs[i], "cgroup.procs");
		free(parent);
	}
	return 0;
}

/* Make dir's parent, and dir; on cgroup2 the parent passes on ours. */
static int
make_group(const char *dir, int v2)
{
	char *parent = xstrdup(dir), *slash = strrchr(parent, '/');
	int ret = -1;

	*slash = '\0';
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		berth_error_errno("cannot create the cgroup %s", parent);
	else if (v2 && write_knob(parent, "cgroup.subtree_control",
	    "+memory +pids") < 0)
		berth_error_errno("cannot enable memory and pids limits in %s",
		    parent);
	else if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		berth_error_errno("cannot create the cgroup %s", dir);
	else
		ret = 0;
	free(parent);
	return ret;
}

/* Write a limit; a knob this kernel lacks is skipped when optional. */
static int
set_limit(const char *dir, const char *file, long long v, int optional)
{
	char text[32];

	if (v < 0)
		snprintf(text, sizeof(text), "max");
	else
		snprintf(text, sizeof(text), "%lld", v);
	if (write_knob(dir, file, text) == 0 || (optional && errno == ENOENT))
		return 0;
	return berth_error_errno("cannot set %s/%s to %s", dir, file, text);
}

static int
set_limits(const struct dyno_cgroup *cg, const struct dyno_limits *l)
{
	const char *mem = cg->dirs[0], *pids = cg->v2 ? cg->dirs[0] :
	    cg->dirs[1];
	long long m = l->memory > 0 ? (long long)l->memory : -1;

	if (cg->v2) {
		/* No swap beyond the limit; an OOM kill takes the dyno. */
		if (set_limit(mem, "memory.max", m, 0) < 0 ||
		    (m > 0 && set_limit(mem, "memory.swap.max", 0, 1) < 0) ||
		    set_limit(mem, "memory.oom.group", 1, 1) < 0)
			return -1;
	} else if (m > 0 &&
	    (set_limit(mem, "memory.limit_in_bytes", m, 0) < 0 ||
	    set_limit(mem, "memory.memsw.limit_in_bytes", m, 1) < 0))
		return -1;
	return set_limit(pids, "pids.max", l->pids > 0 ? l->pids : -1, 0);
}

int
cgroup_create(const struct berth_root *r, const char *app,
    const char *token, const struct dyno_limits *l, struct dyno_cgroup *out)
{
	const char *why;
	int i;

	if (cgroup_available(r, &why) == 0) {
		*out = (struct dyno_cgroup)DYNO_CGROUP_INIT;
		return berth_error("limits are not enforced: %s", why);
	}
	group_dirs(r, app, token, out);
	for (i = 0; i < CGROUP_DIRS && out->dirs[i] != NULL; i++)
		if (make_group(out->dirs[i], out->v2) < 0)
			goto fail;
	if (set_limits(out, l) < 0)
		goto fail;
	for (i = 0; i < CGROUP_DIRS && out->dirs[i] != NULL; i++)
		if (access(out->procs[i], W_OK) < 0) {
			berth_error_errno("cannot join the cgroup %s",
			    out->dirs[i]);
			goto fail;
		}
	return 0;
fail:
	cgroup_destroy(out);
	return -1;
}

int
cgroup_find(const struct berth_root *r, const char *app, const char *token,
    struct dyno_cgroup *out)
{
	int i, found = 0;

	if (group_dirs(r, app, token, out) < 0)
		return -1;
	for (i = 0; i < CGROUP_DIRS && out->dirs[i] != NULL; i++)
		if (is_dir(out->dirs[i]))
			found = 1;
	if (!found) {
		cgroup_release(out);
		return -1;
	}
	return 0;
}

int
cgroup_enter(const struct dyno_cgroup *cg)
{
	int i;

	for (i = 0; i < CGROUP_DIRS; i++) {
		int fd, ok;

		if (cg->procs[i] == NULL)
			continue;
		fd = open(cg->procs[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		ok = write(fd, "0", 1) == 1;
		close(fd);
		if (!ok)
			return -1;
	}
	return 0;
}

/* The number after "key " on a line of dir/file (0 when none has it). */
static long long
knob_field(const char *dir, const char *file, const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	size_t n = strlen(key);
	long long v = 0;
	const char *p;

	if (dir == NULL || read_knob(dir, file, &sb) < 0)
		return 0;
	for (p = sb.buf; *p != '\0'; p += strcspn(p, "\n"), p += *p != '\0')
		if (strncmp(p, key, n) == 0 && p[n] == ' ')
			v = strtoll(p + n + 1, NULL, 10);
	strbuf_release(&sb);
	return v;
}

int
cgroup_oom_killed(const struct dyno_cgroup *cg)
{
	return knob_field(cg->dirs[0], cg->v2 ? "memory.events" :
	    "memory.oom_control", "oom_kill") > 0;
}

/* The pids in dir/cgroup.procs into *pids (of *n); -1 if unreadable. */
static int
group_pids(const char *dir, pid_t **pids, size_t *n)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p;

	*pids = NULL;
	*n = 0;
	if (read_knob(dir, "cgroup.procs", &sb) < 0)
		return -1;
	for (p = sb.buf; *p != '\0'; p += strcspn(p, "\n"), p += *p != '\0') {
		long v = strtol(p, NULL, 10);

		if (v <= 0)
			continue;
		*pids = xrealloc(*pids, (*n + 1) * sizeof(**pids));
		(*pids)[(*n)++] = (pid_t)v;
	}
	strbuf_release(&sb);
	return 0;
}

int
cgroup_procs(const struct dyno_cgroup *cg)
{
	const char *dir = cg->v2 ? cg->dirs[0] : cg->dirs[1];
	pid_t *pids;
	size_t n;

	if (dir == NULL || group_pids(dir, &pids, &n) < 0)
		return -1;
	free(pids);
	return (int)n;
}

void
cgroup_kill(const struct dyno_cgroup *cg)
{
	int i;

	if (cg->v2 && cg->dirs[0] != NULL &&
	    write_knob(cg->dirs[0], "cgroup.kill", "1") == 0)
		return;
	for (i = 0; i < CGROUP_DIRS; i++) {
		pid_t *pids;
		size_t n, j;

		if (cg->dirs[i] == NULL || group_pids(cg->dirs[i], &pids,
		    &n) < 0)
			continue;
		for (j = 0; j < n; j++)
			kill(pids[j], SIGKILL);
		free(pids);
	}
}

void
cgroup_release(struct dyno_cgroup *cg)
{
	int i;

	for (i = 0; i < CGROUP_DIRS; i++) {
		free(cg->procs[i]);
		free(cg->dirs[i]);
	}
	*cg = (struct dyno_cgroup)DYNO_CGROUP_INIT;
}

void
cgroup_destroy(struct dyno_cgroup *cg)
{
	int64_t deadline = now_ms() + DESTROY_MS;
	int i, left;

	do {
		cgroup_kill(cg);
		left = 0;
		for (i = 0; i < CGROUP_DIRS; i++)
			if (cg->dirs[i] != NULL && rmdir(cg->dirs[i]) < 0 &&
			    errno != ENOENT)
				left = 1;
		if (left)
			usleep(10000);
	} while (left && now_ms() < deadline);
	cgroup_release(cg);
}

int
cgroup_sweep(const struct berth_root *r,
    int (*keep)(const char *token, void *data), void *data)
{
	int v = cgroup_available(r, NULL), i, n = 0;

	for (i = 0; v > 0 && i < (v == 2 ? 1 : CGROUP_DIRS); i++) {
		char *parent = parent_dir(r, layout.base[i]);
		DIR *d = opendir(parent);
		struct dirent *de;

		while (d != NULL && (de = readdir(d)) != NULL) {
			struct dyno_cgroup cg = DYNO_CGROUP_INIT;
			const char *dash = strrchr(de->d_name, '-');

			if (de->d_type != DT_DIR || de->d_name[0] == '.' ||
			    dash == NULL || (keep != NULL && keep(dash + 1,
			    data)))
				continue;
			cg.v2 = v == 2;
			cg.dirs[0] = path_join(parent, de->d_name);
			cgroup_destroy(&cg);
			n += i == 0;
		}
		if (d != NULL)
			closedir(d);
		rmdir(parent);
		free(parent);
	}
	return n;
}
