/*
 * dyno.c - dyno directories, environments and processes.
 */
#include "dyno.h"
#include "cgroup.h"
#include "names.h"
#include "proc.h"
#include "run-command.h"
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Create base/upper and base/work for an overlay. */
static int
xmkdir_in(const char *base)
{
	char *u = path_join(base, "upper"), *w = path_join(base, "work");
	int ret = mkdir_p(u, 0755) == 0 && mkdir_p(w, 0755) == 0 ? 0 : -1;

	free(u);
	free(w);
	return ret;
}

/* Give back the write bits a sealed slug's copy lacks. */
static int
writable_one(int fd, const struct stat *st, void *data)
{
	(void)data;
	return S_ISLNK(st->st_mode) ? 0 : fd_chmod(fd, st->st_mode | S_IWUSR);
}

static int
make_writable(const char *path)
{
	if (walk_tree(path, writable_one, NULL) != 0)
		return berth_error_errno("cannot prepare %s", path);
	return 0;
}

/* "ID ID 1": an id map in which id is itself (async-signal-safe). */
static int
write_map(const char *path, unsigned long id)
{
	char buf[64];
	size_t n = 0;

	put_ulong(buf, &n, id);
	buf[n++] = ' ';
	put_ulong(buf, &n, id);
	memcpy(buf + n, " 1\n", 3);
	return write_small(path, buf, n + 3);
}

int
dyno_dir_enter(const struct dyno_dir *dd)
{
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (dd == NULL || dd->mount_opts == NULL)
		return 0;
	if (uid == 0) {
		if (unshare(CLONE_NEWNS) < 0)
			return -1;
	} else {
		int fd;

		/* A user namespace where we are still ourselves. */
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return -1;
		fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "deny", 4) != 4) {
				close(fd);
				return -1;
			}
			close(fd);
		}
		if (write_map("/proc/self/uid_map", uid) < 0 ||
		    write_map("/proc/self/gid_map", gid) < 0)
			return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	return mount("overlay", dd->path, "overlay", MS_NOSUID | MS_NODEV,
	    dd->mount_opts);
}

int
dyno_dir_enter_hook(const void *dd)
{
	return dyno_dir_enter(dd);
}

static void
ignore_line(const char *line, void *data)
{
	(void)line;
	(void)data;
}

int
dyno_overlay_supported(const struct berth_root *r)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int known = -1;
	struct dyno_dir dd;
	struct child c = CHILD_INIT;
	char rnd[9], *lower = NULL, *sub = NULL, *base = NULL;
	int ok = 0;

	pthread_mutex_lock(&lock);
	if (known >= 0)
		goto out;
	if (random_hex(rnd, 4) < 0)
		goto done;
	base = root_pathf(r, "tmp/overlay-probe-%s", rnd);
	lower = path_join(base, "lower");
	sub = path_join(lower, "sealed");
	memset(&dd, 0, sizeof(dd));
	dd.path = path_join(base, "app");
	dd.mount_opts = xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/"
	    "work", lower, base, base);
	/*
	 * Like a sealed slug: a directory without write bits. A program
	 * (after exec, with the credentials a dyno has) must be able to
	 * write in it through the overlay, or dynos get copies instead.
	 */
	if (mkdir_p(sub, 0755) == 0 && chmod(sub, 0555) == 0 &&
	    mkdir_p(dd.path, 0755) == 0 && xmkdir_in(base) == 0) {
		strvec_push(&c.args, "/bin/sh");
		strvec_push(&c.args, "-c");
		strvec_push(&c.args, ": > sealed/probe");
		c.dir = dd.path;
		c.on_line = ignore_line;
		c.pre_exec = dyno_dir_enter_hook;
		c.pre_exec_data = &dd;
		ok = run_command(&c) == 0;
		child_clear(&c);
	}
	rm_rf(base);
	free(dd.path);
	free(dd.mount_opts);
done:
	known = ok;
out:
	ok = known;
	pthread_mutex_unlock(&lock);
	free(base);
	free(lower);
	free(sub);
	return ok;
}

int
dyno_dir_prepare_from(const struct berth_root *r, const char *lower,
    const char *parent, const char *name, struct dyno_dir *out)
{
	char rnd[9];
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (mkdir_p(parent, 0750) < 0 || random_hex(rnd, 4) < 0)
		goto out;
	out->base = xasprintf("%s/%s-%s", parent, name, rnd);
	out->path = path_join(out->base, "app");
	if (dyno_overlay_supported(r)) {
		if (mkdir_p(out->path, 0755) < 0 || xmkdir_in(out->base) < 0)
			goto out;
		out->mount_opts = xasprintf("lowerdir=%s,upperdir=%s/upper,"
		    "workdir=%s/work", lower, out->base, out->base);
	} else {
		if (mkdir_p(out->base, 0750) < 0 ||
		    copy_tree(lower, out->path) < 0)
			goto out;
		/* The copy of a sealed slug is read-only: make it ours. */
		if (make_writable(out->path) < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		dyno_dir_remove(out);
	return ret;
}

int
dyno_dir_prepare(const struct berth_root *r, const char *app,
    const char *slug_id, const char *name, struct dyno_dir *out)
{
	char *slug = root_pathf(r, "slugs/%s", slug_id);
	/*
	 * Formation dynos (web.1) live in dynos/, where a restarted berthd
	 * removes the dirs of the ones that are gone; one-off ones (run.N,
	 * release...) in oneoff/, which it leaves to the process that made
	 * them while that runs (dyno_oneoff_reap).
	 */
	char *parent = root_pathf(r, "apps/%s/%s", app, strchr(name, '.') !=
	    NULL && strncmp(name, "run.", 4) != 0 ? "dynos" : "oneoff");
	int ret;

	memset(out, 0, sizeof(*out));
	if (!is_dir(slug))
		ret = berth_error("the slug %s of this release was removed; "
		    "deploy or roll back to another release", slug_id);
	else
		ret = dyno_dir_prepare_from(r, slug, parent, name, out);
	free(slug);
	free(parent);
	return ret;
}

void
dyno_proc_token(pid_t pid, char id[32])
{
	char buf[65536], *p;
	ssize_t n = proc_read(pid, "environ", buf, sizeof(buf));

	id[0] = '\0';
	for (p = buf; n > 0 && p < buf + n; p += strlen(p) + 1)
		if (strncmp(p, "BERTH_DYNO_ID=", 14) == 0) {
			snprintf(id, 32, "%s", p + 14);
			return;
		}
}

static int
kill_marked(pid_t pid, void *data)
{
	const char *token = data;
	char id[32];

	if (pid <= 1 || pid == getpid())
		return 0;
	dyno_proc_token(pid, id);
	if (id[0] != '\0' && strcmp(id, token) == 0)
		kill(pid, SIGKILL);
	return 0;
}

int
dyno_kill_token(const char *token)
{
	return proc_each(kill_marked, (void *)token);
}

void
dyno_dir_remove(struct dyno_dir *dd)
{
	if (dd->base != NULL && path_exists(dd->base))
		rm_rf(dd->base);
	free(dd->base);
	free(dd->path);
	free(dd->mount_opts);
	memset(dd, 0, sizeof(*dd));
}

void
dyno_env(const struct dyno_spec *d, struct strvec *env)
{
	struct kvlist config = { NULL, 0 };
	const char *path = getenv("PATH");
	size_t i;

	strvec_pushf(env, "PATH=%s", path != NULL ? path :
	    "/usr/local/bin:/usr/bin:/bin");
	strvec_push(env, "LANG=C.UTF-8");
	strvec_pushf(env, "HOME=%s", sandbox_app_path(d->sandboxed,
	    d->dir->path));
	if (strcmp(d->type, "run") == 0 && getenv("TERM") != NULL)
		strvec_pushf(env, "TERM=%s", getenv("TERM"));
	if (d->rel != NULL && d->rel->config != NULL &&
	    kvlist_from_json(d->rel->config, &config) == 0)
		for (i = 0; i < config.nr; i++)
			if (!name_is_dyno_var(config.items[i].key))
				strvec_pushf(env, "%s=%s", config.items[i].key,
				    config.items[i].value);
	kvlist_clear(&config);
	if (d->port > 0)
		strvec_pushf(env, "PORT=%d", d->port);
	strvec_pushf(env, "DYNO=%s.%d", d->type, d->index);
	if (d->commit != NULL)
		strvec_pushf(env, "SOURCE_VERSION=%s", d->commit);
	strvec_pushf(env, "BERTH_APP=%s", d->app);
	if (d->rel != NULL)
		strvec_pushf(env, "BERTH_RELEASE=v%d", d->rel->version);
	if (d->token != NULL)
		strvec_pushf(env, "BERTH_DYNO_ID=%s", d->token);
}

void
dyno_argv(const struct dyno_spec *d, struct strvec *argv)
{
	strvec_push(argv, "/bin/bash");
	strvec_push(argv, "-c");
	strvec_push(argv, "for f in .profile.d/*.sh; do "
	    "[ -r \"$f\" ] && . \"$f\"; done; eval \"$1\"");
	strvec_pushf(argv, "%s.%d", d->type, d->index);
	strvec_push(argv, d->command);
}

/* The unsandboxed child (sb's dir and cgroup): its control group first
 * (what it does next counts), then its dir. */
static int
dyno_pre_exec_hook(const void *data)
{
	const struct sandbox *sb = data;

	if (sb->cgroup != NULL && cgroup_enter(sb->cgroup) < 0)
		return -1;
	return dyno_dir_enter(sb->dir);
}

int
dyno_child(const struct dyno_spec *d, struct child *c, struct sandbox *sb)
{
	dyno_env(d, &c->env);
	dyno_argv(d, &c->args);
	c->dir = d->dir->path;
	sb->dir = d->dir;
	if (d->cgroup != NULL)
		sb->cgroup = d->cgroup;
	if (!d->sandboxed) {
		c->pre_exec = dyno_pre_exec_hook;
		c->pre_exec_data = sb;
		return 0;
	}
	sb->uid = d->uid;
	return sandbox_wrap(sb, c);
}

pid_t
dyno_spawn(const struct dyno_spec *d, int in_fd, int out_fd,
    int new_session)
{
	struct child c = CHILD_INIT;
	struct sandbox sb = SANDBOX_INIT;
	pid_t pid = -1;

	c.in_fd = in_fd;
	c.out_fd = out_fd;
	c.group = new_session ? CHILD_OWN_SESSION : CHILD_OUR_GROUP;
	if (dyno_child(d, &c, &sb) == 0)
		pid = start_command(&c);
	sandbox_clear(&sb);
	child_clear(&c);
	return pid;
}

