/*
 * sandbox.c - app code in bubblewrap (sandbox.h).
 *
 * As root, the child of a sandboxed start does in its own mount
 * namespace what bubblewrap, running as the app's uid, could not: it
 * mounts the dyno's overlay (over an idmapped view of the slug when the
 * slug's owner is not the app's uid), and since the app's uid may not
 * even look into the server root, it stages each directory the sandbox
 * gets on a tmpfs over /tmp (bound by fd, opened before the tmpfs hides
 * anything). Then it becomes the app's uid and execs bubblewrap, which
 * binds the staged directories into the sandbox's new root. Not root,
 * there is nothing to hide from ourselves: bubblewrap binds the
 * directories where they are.
 */
#include "sandbox.h"
#include "cgroup.h"
#include "ledger.h"
#include "slug.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <grp.h>
#include <unistd.h>

#define STAGE		"/tmp"	/* in the child's mount namespace only */
#define NSTAGED		(SANDBOX_BINDS + 4)	/* + /app, passwd, group,
						 * berth-enter */
#define ENTER		"/run/berth/enter"	/* berth-enter, inside */

struct sandbox_prep {
	int uid;
	const struct dyno_cgroup *cgroup;	/* entered first */
	/* the dyno's overlay, mounted by the child (root) */
	const struct dyno_dir *dir;
	char *lower;		/* the slug */
	char *idmapped;		/* where the slug is mounted as uid's */
	char *opts;		/* the overlay's options */
	char map[48];		/* "OWNER UID 1": the slug's owner is uid;
				 * "" when it is uid's already */
	/* staged directories (root): src[i] at stage[i] */
	const char *src[NSTAGED];
	char stage[NSTAGED][16];
	int file[NSTAGED];	/* a file, not a directory */
	size_t nstaged;
	/* the app's uid in the sandbox's passwd and group (root) */
	char *passwd, *group;
};

/* The bubblewrap binary, found once: NULL when there is none. */
static char *bwrap_path;
static char *enter_path;	/* berth-enter, found with it */
static char *probe_error;	/* why sandboxes cannot be had, or NULL */

static int
as_root(void)
{
	return geteuid() == 0;
}

/* ---- in the child, after fork: async-signal-safe only ---- */

/* buf = pre + the digits of v + post. */
static void
num_path(char buf[40], const char *pre, long v, const char *post)
{
	size_t n = strlen(pre);

	memcpy(buf, pre, n);
	put_ulong(buf, &n, (unsigned long)v);
	memcpy(buf + n, post, strlen(post) + 1);
}

/*
 * A user namespace in which the slug's owner is uid (p->map), for an
 * idmapped mount: made by a child that only unshares and waits, while
 * we (root) write its maps.
 */
static int
idmap_userns(const struct sandbox_prep *p)
{
	char path[40];
	int pipefd[2], fd = -1;
	char c = 'n';
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		c = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
		if (write(pipefd[1], &c, 1) == 1)
			pause();
		_exit(0);
	}
	close(pipefd[1]);
	if (pid > 0 && read(pipefd[0], &c, 1) == 1 && c == 'y') {
		num_path(path, "/proc/", pid, "/uid_map");
		if (write_small(path, p->map, strlen(p->map)) == 0) {
			num_path(path, "/proc/", pid, "/gid_map");
			if (write_small(path, p->map, strlen(p->map)) == 0) {
				num_path(path, "/proc/", pid, "/ns/user");
				fd = open(path, O_RDONLY | O_CLOEXEC);
			}
		}
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	close(pipefd[0]);
	return fd;
}

/* The slug as uid's at p->idmapped, then the overlay over it. */
static int
mount_app(const struct sandbox_prep *p)
{
	if (p->map[0] != '\0') {
		int ns = idmap_userns(p);
		struct mount_attr a = {
			.attr_set = MOUNT_ATTR_IDMAP,
			.userns_fd = (unsigned long long)ns,
		};
		int t = ns < 0 ? -1 : (int)syscall(SYS_open_tree, AT_FDCWD,
		    p->lower, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		int rc = t < 0 || syscall(SYS_mount_setattr, t, "",
		    AT_EMPTY_PATH, &a, sizeof(a)) < 0 || syscall(SYS_move_mount,
		    t, "", AT_FDCWD, p->idmapped, MOVE_MOUNT_F_EMPTY_PATH) < 0;

		if (t >= 0)
			close(t);
		if (ns >= 0)
			close(ns);
		if (rc)
			return -1;
	}
	return mount("overlay", p->dir->path, "overlay", MS_NOSUID | MS_NODEV,
	    p->opts);
}

static int
enter_as_root(const struct sandbox_prep *p)
{
	int fds[NSTAGED];
	char path[40];
	size_t i;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	if (p->opts != NULL && mount_app(p) < 0)
		return -1;
	for (i = 0; i < p->nstaged; i++) {
		fds[i] = open(p->src[i], O_PATH | O_CLOEXEC |
		    (p->file[i] ? 0 : O_DIRECTORY));
		if (fds[i] < 0)
			return -1;
	}
	if (mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=0755") < 0)
		return -1;
	for (i = 0; i < p->nstaged; i++) {
		num_path(path, "/proc/self/fd/", fds[i], "");
		if (p->file[i]) {
			int fd = open(p->stage[i], O_CREAT | O_WRONLY |
			    O_CLOEXEC, 0644);

			if (fd < 0)
				return -1;
			close(fd);
		} else if (mkdir(p->stage[i], 0755) < 0)
			return -1;
		if (mount(path, p->stage[i], NULL, MS_BIND | MS_REC, NULL) < 0)
			return -1;
		close(fds[i]);
	}
	/* The app's uid and gid, no groups, no capabilities left. */
	if (setgroups(0, NULL) < 0 ||
	    setresgid((gid_t)p->uid, (gid_t)p->uid, (gid_t)p->uid) < 0 ||
	    setresuid((uid_t)p->uid, (uid_t)p->uid, (uid_t)p->uid) < 0)
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static int
enter_hook(const void *data)
{
	const struct sandbox_prep *p = data;

	/* While still root: a cgroup's procs file is root's. */
	if (p->cgroup != NULL && cgroup_enter(p->cgroup) < 0)
		return -1;
	if (p->uid >= 0)
		return enter_as_root(p);
	return p->dir != NULL ? dyno_dir_enter(p->dir) : 0;
}

/* ---- in the parent ---- */

/* "lowerdir=L,upperdir=..." -> L (the options dyno.c writes). */
static char *
opts_lower(const char *opts)
{
	const char *end;

	if (strncmp(opts, "lowerdir=", 9) != 0)
		return NULL;
	end = strstr(opts, ",upperdir=");
	return end != NULL ? xstrndup(opts + 9, (size_t)(end - opts - 9)) :
	    NULL;
}

/*
 * The dyno's overlay as uid's: upper and work are uid's, and the slug
 * is seen through an idmapped mount when someone else owns it.
 */
static int
prep_overlay(struct sandbox_prep *p, const struct dyno_dir *dd)
{
	char *upper = path_join(dd->base, "upper"), *work = NULL;
	struct stat st;
	int ret = -1;

	work = path_join(dd->base, "work");
	if (stat(p->lower, &st) < 0) {
		berth_error("the dyno's slug cannot be found");
		goto out;
	}
	if (chown(upper, (uid_t)p->uid, (gid_t)p->uid) < 0 ||
	    chown(work, (uid_t)p->uid, (gid_t)p->uid) < 0) {
		berth_error_errno("cannot give %s to the app", upper);
		goto out;
	}
	if ((int)st.st_uid == p->uid) {
		p->opts = xstrdup(dd->mount_opts);
		ret = 0;
		goto out;
	}
	p->idmapped = path_join(dd->base, "lower");
	if (mkdir(p->idmapped, 0755) < 0 && errno != EEXIST) {
		berth_error_errno("cannot prepare %s", p->idmapped);
		goto out;
	}
	snprintf(p->map, sizeof(p->map), "%ld %d 1\n", (long)st.st_uid,
	    p->uid);
	p->opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s",
	    p->idmapped, upper, work);
	ret = 0;
out:
	free(upper);
	free(work);
	return ret;
}

/* Where the sandbox's bubblewrap finds src: staged (root), or there. */
static const char *
staged(struct sandbox_prep *p, const char *src, int file)
{
	char *s;

	if (p->uid < 0)
		return src;
	s = p->stage[p->nstaged];
	snprintf(s, sizeof(p->stage[0]), STAGE "/%zu", p->nstaged);
	p->file[p->nstaged] = file;
	p->src[p->nstaged++] = src;
	return s;
}

/*
 * The host's passwd (or group) file and a line for uid, "dyno", whose
 * home is /app, into dir/NAME: so that whoami, ssh or a getpwuid() of
 * the app find it. The path, or NULL when it cannot be written.
 */
static char *
id_file(const char *dir, const char *name, int uid)
{
	struct strbuf sb = STRBUF_INIT;
	char *host = xasprintf("/etc/%s", name), *path = NULL;

	if (read_file(host, &sb, 4 << 20) == 0) {
		if (sb.len > 0 && sb.buf[sb.len - 1] != '\n')
			strbuf_addch(&sb, '\n');
		if (strcmp(name, "passwd") == 0)
			strbuf_addf(&sb, "dyno:x:%d:%d:berth app:" SANDBOX_APP
			    ":/bin/bash\n", uid, uid);
		else
			strbuf_addf(&sb, "dyno:x:%d:\n", uid);
		path = xasprintf("%s/.%s", dir, name);
		if (write_file_volatile(path, sb.buf, sb.len, 0644) < 0) {
			free(path);
			path = NULL;
		}
	}
	strbuf_release(&sb);
	free(host);
	return path;
}

/* The sandbox's passwd and group, beside its /app (root). */
static void
prep_ids(struct sandbox_prep *p, const struct sandbox *sb)
{
	const char *slash = sb->app_dir != NULL ? strrchr(sb->app_dir, '/') :
	    NULL;
	char *dir = sb->dir != NULL ? xstrdup(sb->dir->base) : slash != NULL ?
	    xstrndup(sb->app_dir, (size_t)(slash - sb->app_dir)) : NULL;

	if (dir == NULL || p->uid < 0)
		goto out;
	p->passwd = id_file(dir, "passwd", p->uid);
	p->group = id_file(dir, "group", p->uid);
out:
	free(dir);
}

/* The host's system directories, read-only; /bin and /lib* as they are
 * (symlinks into /usr on a merged-/usr system). */
static void
push_system(struct strvec *a)
{
	static const char *const links[] = { "/bin", "/sbin", "/lib",
	    "/lib32", "/lib64", "/libx32", NULL };
	char target[256];
	struct stat st;
	size_t i;

	strvec_push(a, "--ro-bind");
	strvec_push(a, "/usr");
	strvec_push(a, "/usr");
	for (i = 0; links[i] != NULL; i++) {
		ssize_t n;

		if (lstat(links[i], &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode) && (n = readlink(links[i], target,
		    sizeof(target) - 1)) > 0) {
			target[n] = '\0';
			strvec_push(a, "--symlink");
			strvec_push(a, target);
		} else
			strvec_push(a, "--ro-bind");
		if (!S_ISLNK(st.st_mode))
			strvec_push(a, links[i]);
		strvec_push(a, links[i]);
	}
	strvec_push(a, "--ro-bind");
	strvec_push(a, "/etc");
	strvec_push(a, "/etc");
	strvec_push(a, "--ro-bind-try");
	strvec_push(a, "/run/systemd/resolve");
	strvec_push(a, "/run/systemd/resolve");
}

static void
push_bind(struct strvec *a, const char *src, const char *dest, int writable)
{
	strvec_push(a, writable ? "--bind" : "--ro-bind");
	strvec_push(a, src);
	strvec_push(a, dest);
}

/* bubblewrap's arguments for sb, before the program's own. */
static void
bwrap_args(struct sandbox *sb, struct strvec *a)
{
	struct sandbox_prep *p = sb->prep;
	const char *app = sb->dir != NULL ? sb->dir->path : sb->app_dir;
	size_t i;

	strvec_push(a, bwrap_path);
	strvec_push(a, "--unshare-pid");
	strvec_push(a, "--unshare-ipc");
	strvec_push(a, "--unshare-uts");
	if (sb->die_with_parent)
		strvec_push(a, "--die-with-parent");
	push_system(a);
	strvec_push(a, "--proc");
	strvec_push(a, "/proc");
	strvec_push(a, "--dev");
	strvec_push(a, "/dev");
	strvec_push(a, "--tmpfs");
	strvec_push(a, "/tmp");
	strvec_push(a, "--tmpfs");
	strvec_push(a, "/dev/shm");
	strvec_push(a, "--tmpfs");
	strvec_push(a, "/var/tmp");
	if (app != NULL) {
		push_bind(a, staged(p, app, 0), SANDBOX_APP, 1);
		strvec_push(a, "--chdir");
		strvec_push(a, SANDBOX_APP);
	}
	if (p->passwd != NULL)
		push_bind(a, staged(p, p->passwd, 1), "/etc/passwd", 0);
	if (p->group != NULL)
		push_bind(a, staged(p, p->group, 1), "/etc/group", 0);
	for (i = 0; i < sb->nbinds; i++)
		push_bind(a, staged(p, sb->binds[i].src, 0),
		    sb->binds[i].dest, sb->binds[i].writable);
	push_bind(a, staged(p, enter_path, 1), ENTER, 0);
	strvec_push(a, "--");
	strvec_push(a, ENTER);
}

/* The last line a probe printed. */
static void
keep_line(const char *line, void *data)
{
	struct strbuf *sb = data;

	strbuf_reset(sb);
	strbuf_addstr(sb, line);
}

/* Find bubblewrap, once: bwrap_path, or why not in probe_error. */
static void
find_bwrap(void)
{
	const char *path = getenv("PATH");

	bwrap_path = path_search("bwrap", path != NULL ? path :
	    "/usr/local/bin:/usr/bin:/bin");
	enter_path = helper_program("berth-enter", "BERTH_ENTER");
	if (bwrap_path == NULL)
		probe_error = xstrdup("apps cannot be sandboxed: bwrap "
		    "(bubblewrap) is not in PATH; install it (apt-get install "
		    "bubblewrap), or set [sandbox] enabled = 0 in berth.ini to "
		    "run apps without isolation");
	else if (access(enter_path, X_OK) < 0)
		probe_error = xasprintf("apps cannot be sandboxed: %s is "
		    "missing; reinstall berth (make install)", enter_path);
}

static pthread_once_t found = PTHREAD_ONCE_INIT;

/*
 * What a probe that succeeded is good for: this bwrap (path and
 * mtime), this boot, this uid. Caller frees.
 */
static char *
probe_key(void)
{
	struct strbuf boot = STRBUF_INIT;
	struct stat st;
	char *key;

	if (stat(bwrap_path, &st) < 0)
		memset(&st, 0, sizeof(st));
	read_file("/proc/sys/kernel/random/boot_id", &boot, 64);
	strbuf_rtrim(&boot);
	key = xasprintf("%s %lld %s %ld\n", bwrap_path,
	    (long long)st.st_mtime, strbuf_str(&boot), (long)geteuid());
	strbuf_release(&boot);
	return key;
}

/*
 * See bubblewrap make a sandbox as an app's would be (root: as a uid
 * of its own). A success is remembered in ROOT/run/sandbox-probe until
 * bwrap changes or the machine reboots, so that each command does not
 * pay for it.
 */
static int
probe(const struct berth_root *r)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int known;
	struct sandbox sb = SANDBOX_INIT;
	struct child c = CHILD_INIT;
	struct strbuf last = STRBUF_INIT, cached = STRBUF_INIT;
	char *key = NULL, *file = NULL;
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (known || probe_error != NULL)
		goto out;
	key = probe_key();
	file = root_path(r, "run/sandbox-probe");
	if (read_file(file, &cached, 1024) == 0 &&
	    strcmp(strbuf_str(&cached), key) == 0) {
		known = 1;
		goto out;
	}
	sb.uid = as_root() ? 65534 : -1;
	strvec_push(&c.args, "/bin/true");
	c.on_line = keep_line;
	c.data = &last;
	if (sandbox_wrap(&sb, &c) < 0) {
		rc = -1;
		goto out;
	}
	if (run_command(&c) < 0)
		probe_error = xasprintf("apps cannot be sandboxed: bwrap cannot "
		    "make a sandbox here (%s%s%s); allow unprivileged user "
		    "namespaces (sysctl kernel.unprivileged_userns_clone=1), "
		    "or set [sandbox] enabled = 0 in berth.ini to run apps "
		    "without isolation", berth_last_error(), last.len > 0 ?
		    ": " : "", strbuf_str(&last));
	else {
		known = 1;
		/* Only a cache: a full disk costs the next command a probe. */
		write_file_atomic(file, key, strlen(key), 0644);
	}
out:
	if (probe_error != NULL)
		rc = berth_error("%s", probe_error);
	pthread_mutex_unlock(&lock);
	strbuf_release(&last);
	strbuf_release(&cached);
	sandbox_clear(&sb);
	child_clear(&c);
	free(key);
	free(file);
	return rc;
}

int
sandbox_check(const struct berth_root *r)
{
	if (!r->cfg.sandbox)
		return 0;
	pthread_once(&found, find_bwrap);
	return probe(r);
}

int
sandbox_scoped(void)
{
	return syscall(SYS_landlock_create_ruleset, NULL, 0, 1U) >= 6;
}

const char *
sandbox_warning(const struct berth_root *r)
{
	return r->cfg.sandbox ? NULL : "apps are not isolated from each other "
	    "or from berth: berth.ini [sandbox] enabled = 0";
}

/* Owners' uids this process has seen: they never change. */
static struct { char owner[40]; int uid; } uids[64];
static size_t nuids;
static pthread_mutex_t uids_lock = PTHREAD_MUTEX_INITIALIZER;

static int
owner_uid(const struct berth_root *r, const char *owner, int *uid)
{
	struct ledger *db;
	char *path;
	size_t i;
	int rc;

	pthread_mutex_lock(&uids_lock);
	for (i = 0; i < nuids; i++)
		if (strcmp(uids[i].owner, owner) == 0) {
			*uid = uids[i].uid;
			pthread_mutex_unlock(&uids_lock);
			return 0;
		}
	pthread_mutex_unlock(&uids_lock);
	path = root_path(r, "ledger.db");
	rc = ledger_open_existing(path, &db);
	free(path);
	if (rc < 0)
		return -1;
	rc = ledger_sandbox_uid(db, owner, r->cfg.uid_min, r->cfg.uid_max,
	    uid);
	ledger_close(db);
	if (rc < 0)
		return -1;
	pthread_mutex_lock(&uids_lock);
	if (nuids == sizeof(uids) / sizeof(uids[0]))
		nuids = 0;
	snprintf(uids[nuids].owner, sizeof(uids[0].owner), "%s", owner);
	uids[nuids++].uid = *uid;
	pthread_mutex_unlock(&uids_lock);
	return 0;
}

static int
sandbox_for(const struct berth_root *r, const char *kind, int64_t id,
    int *uid)
{
	char owner[40];

	*uid = -1;
	if (!r->cfg.sandbox)
		return 0;
	snprintf(owner, sizeof(owner), "%s/%lld", kind, (long long)id);
	if (sandbox_check(r) < 0 || (as_root() && owner_uid(r, owner,
	    uid) < 0))
		return -1;
	return 1;
}

int
sandbox_for_app(const struct berth_root *r, int64_t app_id, int *uid)
{
	return sandbox_for(r, "app", app_id, uid);
}

int
sandbox_for_ci(const struct berth_root *r, int64_t pipeline_id, int *uid)
{
	return sandbox_for(r, "ci", pipeline_id, uid);
}

const char *
sandbox_app_path(int sandboxed, const char *dir)
{
	return sandboxed ? SANDBOX_APP : dir;
}

void
sandbox_bind(struct sandbox *sb, const char *src, const char *dest,
    int writable)
{
	if (sb->nbinds == SANDBOX_BINDS)
		return;
	sb->binds[sb->nbinds].src = src;
	sb->binds[sb->nbinds].dest = dest;
	sb->binds[sb->nbinds].writable = writable;
	sb->nbinds++;
}

int
sandbox_wrap(struct sandbox *sb, struct child *c)
{
	struct strvec args = STRVEC_INIT;
	struct sandbox_prep *p;
	size_t i;

	pthread_once(&found, find_bwrap);
	if (bwrap_path == NULL || access(enter_path, X_OK) < 0)
		return berth_error("%s", probe_error);
	if (as_root() && sb->uid < 0)
		return berth_error("no uid to run the app's code as");
	p = xcalloc(1, sizeof(*p));
	p->uid = as_root() ? sb->uid : -1;
	p->cgroup = sb->cgroup;
	sb->prep = p;
	/* Its overlay (mounted by the child, mapped to uid as root), or a
	 * copy (uid's, as root; sandbox_chown() does nothing for -1). */
	p->dir = sb->dir;
	if (sb->dir != NULL && sb->dir->mount_opts != NULL) {
		p->lower = opts_lower(sb->dir->mount_opts);
		if (p->lower == NULL || !is_dir(p->lower))
			return berth_error("the dyno's slug cannot be found");
		if (slug_owner_writable(p->lower) < 0 ||
		    (p->uid >= 0 && prep_overlay(p, sb->dir) < 0))
			return -1;
	} else if (sb->dir != NULL && sandbox_chown(sb->dir->path, p->uid) < 0)
		return -1;
	prep_ids(p, sb);
	bwrap_args(sb, &args);
	for (i = 0; i < c->args.nr; i++)
		strvec_push(&args, c->args.v[i]);
	strvec_clear(&c->args);
	c->args = args;
	c->dir = NULL;
	c->pre_exec = enter_hook;
	c->pre_exec_data = p;
	return 0;
}

void
sandbox_limit(struct sandbox *sb, const struct berth_root *r,
    const char *app, int build)
{
	struct dyno_limits l = {
		.memory = build ? r->cfg.build_memory : r->cfg.dyno_memory,
		.pids = r->cfg.dyno_pids,
	};
	char token[20];

	if (sb->own != NULL || cgroup_available(r, NULL) == 0 ||
	    random_hex(token, 8) < 0)
		return;
	sb->own = xcalloc(1, sizeof(*sb->own));
	if (cgroup_create(r, app, token, &l, sb->own) < 0) {
		/* It runs, unlimited, as a dyno does then (cgroup.h). */
		free(sb->own);
		sb->own = NULL;
		return;
	}
	sb->cgroup = sb->own;
}

void
sandbox_clear(struct sandbox *sb)
{
	struct sandbox_prep *p = sb->prep;

	if (sb->own != NULL) {
		cgroup_destroy(sb->own);
		free(sb->own);
		sb->own = NULL;
		sb->cgroup = NULL;
	}
	if (p == NULL)
		return;
	free(p->lower);
	free(p->passwd);
	free(p->group);
	free(p->idmapped);
	free(p->opts);
	free(p);
	sb->prep = NULL;
}

static int
chown_one(int fd, const struct stat *st, void *data)
{
	int uid = *(const int *)data;

	(void)st;
	return fchownat(fd, "", (uid_t)uid, (gid_t)uid, AT_EMPTY_PATH);
}

int
sandbox_chown(const char *path, int uid)
{
	if (uid >= 0 && walk_tree(path, chown_one, &uid) != 0)
		return berth_error_errno("cannot give %s to uid %d", path, uid);
	return 0;
}
