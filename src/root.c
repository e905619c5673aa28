/*
 * root.c - the server root's layout, berth.ini and the ledger handle.
 */
#include "root.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

static const char *const layout[] = {
	"repos", "buildpacks", "slugs", "cache", "apps", "logs", "router",
	"run", "run/locks", "tmp",
};

const char *
root_default(void)
{
	const char *env = getenv("BERTH_ROOT");

	return env != NULL && *env != '\0' ? env : BERTH_DEFAULT_ROOT;
}

static void
warn_stderr(const char *msg, void *data)
{
	(void)data;
	fprintf(stderr, "berth: warning: %s\n", msg);
}

/* An empty ledger in a root whose repos/ holds nothing: a killed init. */
static int
unborn(const char *dir, const char *ledger_path)
{
	char *repos = path_join(dir, "repos");
	struct dirent *e;
	struct stat st;
	DIR *d;
	int empty = 1;

	if (stat(ledger_path, &st) < 0 || st.st_size != 0) {
		free(repos);
		return 0;
	}
	if ((d = opendir(repos)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				empty = 0;
		closedir(d);
	}
	free(repos);
	return empty;
}

int
root_init(const char *dir, const char *domain)
{
	struct ledger *db;
	char *ini, *ledger_path, *p;
	size_t i;
	int ret = -1;

	if (mkdir_p(dir, 0755) < 0)
		return -1;
	for (i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
		p = path_join(dir, layout[i]);
		if (mkdir_p(p, 0755) < 0) {
			free(p);
			return -1;
		}
		free(p);
	}
	ini = path_join(dir, "berth.ini");
	ledger_path = path_join(dir, "ledger.db");
	if (!path_exists(ini)) {
		struct strbuf sb = STRBUF_INIT;

		strbuf_addstr(&sb, config_template());
		if (domain != NULL)
			strbuf_addf(&sb, "\n[server]\ndomain = %s\n", domain);
		if (write_file_atomic(ini, sb.buf, sb.len, 0644) < 0) {
			strbuf_release(&sb);
			goto out;
		}
		strbuf_release(&sb);
	}
	/* A new ledger only where there is none (or an empty one of an
	 * init killed before it wrote any, in a root with no pipeline):
	 * init never writes over a damaged one a backup may restore. */
	if ((path_exists(ledger_path) && !unborn(dir, ledger_path) ?
	    ledger_open_existing(ledger_path, &db) : ledger_open(ledger_path,
	    &db)) < 0)
		goto out;
	ledger_close(db);
	ret = 0;
out:
	free(ini);
	free(ledger_path);
	return ret;
}

int
root_open(struct berth_root *r, const char *dir)
{
	char *ini = NULL, *ledger_path = NULL;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	config_defaults(&r->cfg);
	r->dir = realpath(dir, NULL);
	if (r->dir == NULL) {
		berth_error("no berth server root at %s; run: berth init "
		    "--root %s", dir, dir);
		goto out;
	}
	ledger_path = path_join(r->dir, "ledger.db");
	if (!path_exists(ledger_path)) {
		berth_error("no berth server root at %s; run: berth init "
		    "--root %s", dir, dir);
		goto out;
	}
	ini = path_join(r->dir, "berth.ini");
	if (config_load(&r->cfg, ini, warn_stderr, NULL) < 0)
		goto out;
	if (ledger_open_existing(ledger_path, &r->db) < 0)
		goto out;
	ret = 0;
out:
	free(ini);
	free(ledger_path);
	if (ret < 0) {
		config_clear(&r->cfg);
		free(r->dir);
		r->dir = NULL;
	}
	return ret;
}

void
root_close(struct berth_root *r)
{
	ledger_close(r->db);
	config_clear(&r->cfg);
	free(r->dir);
	memset(r, 0, sizeof(*r));
}

char *
root_path(const struct berth_root *r, const char *rel)
{
	return path_join(r->dir, rel);
}

char *
root_pathf(const struct berth_root *r, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	strbuf_addstr(&sb, r->dir);
	strbuf_addch(&sb, '/');
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	return strbuf_detach(&sb);
}

char *
root_repo_path(const struct berth_root *r, const char *pipeline)
{
	return root_pathf(r, "repos/%s.git", pipeline);
}

char *
actor_name(void)
{
	const char *env = getenv("BERTH_USER");
	struct passwd *pw;
	char host[256];

	if (env != NULL && *env != '\0')
		return xstrdup(env);
	pw = getpwuid(getuid());
	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	return xasprintf("%s@%s", pw != NULL ? pw->pw_name : "unknown", host);
}

int
deploy_lock(const struct berth_root *r, const char *pipeline,
    const char *what, void (*waiting)(const char *holder, void *data),
    void *data)
{
	char *path = root_pathf(r, "run/locks/%s.lock", pipeline);
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		berth_error_errno("cannot open the deploy lock %s", path);
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char holder[256];
		ssize_t n;

		if (errno != EWOULDBLOCK) {
			berth_error_errno("cannot take the deploy lock");
			close(fd);
			return -1;
		}
		n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		if (waiting != NULL)
			waiting(holder[0] ? holder : "other deploy", data);
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				berth_error_errno("cannot take the deploy lock");
				close(fd);
				return -1;
			}
		}
	}
	if (ftruncate(fd, 0) == 0 && what != NULL) {
		ssize_t n = pwrite(fd, what, strlen(what), 0);

		(void)n;
	}
	return fd;
}

int
deploy_trylock(const struct berth_root *r, const char *pipeline)
{
	char *path = root_pathf(r, "run/locks/%s.lock", pipeline);
	int fd = open(path, O_RDWR | O_CLOEXEC);

	free(path);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void
deploy_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
