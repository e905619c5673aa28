/*
 * access.c - roles, what a command or a push needs, refusals and their
 * log, and the authorized_keys file that sends berth's users to
 * `berth shell`. Who has which role is the ledger's (ledger-access.c).
 */
#include "access.h"
#include "crypto.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const role_names[] = {
	[ROLE_NONE] = "no role",
	[ROLE_VIEWER] = "viewer",
	[ROLE_DEVELOPER] = "developer",
	[ROLE_DEPLOYER] = "deployer",
	[ROLE_ADMIN] = "admin",
};

const char *
role_name(enum role r)
{
	return role_names[r];
}

int
role_parse(const char *s, enum role *out)
{
	char q[64];
	int r;

	for (r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
		if (strcmp(s, role_names[r]) == 0) {
			*out = (enum role)r;
			return 0;
		}
	name_quote(s, q, sizeof(q));
	return berth_error("'%s' is not a role: use viewer, developer, "
	    "deployer or admin", q);
}

enum role
access_needed(const struct access_rule *rule, const char *stage)
{
	if (stage != NULL && strcmp(stage, "production") == 0 &&
	    rule->production != ROLE_NONE)
		return rule->production;
	if (stage != NULL && strcmp(stage, "review") == 0 &&
	    rule->review != ROLE_NONE)
		return rule->review;
	return rule->role;
}

int
access_user_from_env(struct ledger *db, struct user *out)
{
	const char *name = getenv(ACCESS_USER_ENV);
	int rc;

	memset(out, 0, sizeof(*out));
	if (name == NULL || *name == '\0')
		return 0;
	rc = ledger_user_get(db, name, out);
	if (rc == 0)
		return 1;
	if (rc == 1)
		berth_error("berth user %s no longer exists", name);
	return -1;
}

int
access_role(struct ledger *db, const struct user *u, int64_t pipeline_id,
    enum role *out)
{
	char role[16];
	int rc;

	*out = ROLE_NONE;
	if (u->admin) {
		*out = ROLE_ADMIN;
		return 0;
	}
	rc = ledger_grant_get(db, u->id, pipeline_id, role);
	if (rc < 0)
		return -1;
	if (rc == 0 && role_parse(role, out) < 0)
		return -1;
	return 0;
}

void
access_log(const struct berth_root *r, const char *user, const char *fmt,
    ...)
{
	struct strbuf sb = STRBUF_INIT;
	char *path = root_path(r, "logs/access.log"), ts[32];
	char *actor = user == NULL ? actor_name() : NULL;
	va_list ap;
	int fd;

	now_iso(ts);
	strbuf_addf(&sb, "%s %s: ", ts, user != NULL ? user : actor);
	free(actor);
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addch(&sb, '\n');
	/* One write() to an O_APPEND file: lines of concurrent users never
	 * interleave. A log that cannot be written does not stop berth. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		fd_write_all(fd, sb.buf, sb.len);
		close(fd);
	}
	free(path);
	strbuf_release(&sb);
}

char *
access_standing(const struct user *u, enum role have, const char *pipeline)
{
	if (have == ROLE_NONE)
		return xasprintf("%s has no role on %s", u->name, pipeline);
	return xasprintf("%s is a%s %s on %s", u->name,
	    have == ROLE_ADMIN ? "n" : "", role_name(have), pipeline);
}

int
access_refuse(const struct berth_root *r, const struct user *u,
    enum role have, const char *pipeline, const char *what, enum role need)
{
	char *msg, *standing;

	if (pipeline == NULL) {
		msg = xasprintf("%s is not a server admin: %s needs one; ask "
		    "one, or run it on the server", u->name, what);
	} else {
		standing = access_standing(u, have, pipeline);
		msg = xasprintf("%s: %s needs %s; ask an admin: berth "
		    "access:grant %s -p %s --role %s", standing, what,
		    role_name(need), u->name, pipeline, role_name(need));
		free(standing);
	}
	access_log(r, u->name, "refused: %s", msg);
	berth_error("%s", msg);
	free(msg);
	return -1;
}

enum role
access_push_role(const struct pipeline *p, const char *ref, int deleting,
    const struct app *apps, size_t napps, char **what)
{
	const char *verb = deleting ? "deleting" : "pushing";
	const char *branch = strncmp(ref, "refs/heads/", 11) == 0 ?
	    ref + 11 : NULL;
	enum role need = ROLE_DEVELOPER;
	struct strbuf names = STRBUF_INIT;
	size_t i;

	for (i = 0; branch != NULL && i < napps; i++) {
		enum role r = strcmp(apps[i].stage, "production") == 0 ?
		    ROLE_ADMIN : ROLE_DEPLOYER;

		if (r > need)
			need = r;
		strbuf_addf(&names, "%s%s", names.len ? ", " : "",
		    apps[i].name);
	}
	if (branch != NULL && napps == 0 &&
	    strcmp(branch, p->deploy_branch) == 0)
		need = ROLE_DEPLOYER;
	if (branch == NULL)
		*what = xasprintf("%s %s", verb, ref);
	else if (names.len > 0)
		*what = xasprintf("%s %s (%s)", verb, branch, names.buf);
	else if (need == ROLE_DEPLOYER)
		*what = xasprintf("%s %s (the deploy branch)", verb, branch);
	else
		*what = xasprintf("%s %s", verb, branch);
	strbuf_release(&names);
	return need;
}

int
access_token_user(struct ledger *db, const char *token, struct user *out)
{
	unsigned char digest[32];
	char hash[65], now[32];
	struct token t;
	int rc;

	if (strncmp(token, "berth_", 6) != 0 || strlen(token) > 128) {
		berth_error("that is not a berth API token (berth_...); make "
		    "one with: berth tokens:create");
		return 1;
	}
	crypto_sha256(token, strlen(token), digest);
	crypto_hex(digest, sizeof(digest), hash);
	now_iso(now);
	if ((rc = ledger_token_find(db, hash, now, &t)) != 0)
		return rc;
	rc = ledger_user_get(db, t.user, out);
	token_clear(&t);
	return rc;
}

/* ---- authorized_keys ---- */

/*
 * sshd runs a forced command with the user's shell (sh -c): a path in it
 * must hold nothing that shell would read.
 */
static int
shell_safe(const char *what, const char *path)
{
	const char *p;

	for (p = path; *p != '\0'; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && strchr("/._+-", *p) == NULL)
			return berth_error("%s %s holds '%c', which sshd's "
			    "command= cannot carry safely: use a path of "
			    "letters, digits and /._+-", what, path, *p);
	return 0;
}

int
access_keys_text(const struct berth_root *r, struct strbuf *out)
{
	struct user_key *keys = NULL;
	char self[PATH_MAX];
	ssize_t n;
	size_t nkeys = 0, i;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return berth_error_errno("cannot tell where berth is "
		    "installed (/proc/self/exe)");
	self[n] = '\0';
	if (shell_safe("berth's path", self) < 0 ||
	    shell_safe("the server root", r->dir) < 0)
		return -1;
	if (ledger_key_list(r->db, NULL, &keys, &nkeys) < 0)
		return -1;
	for (i = 0; i < nkeys; i++)
		strbuf_addf(out, "command=\"%s --root %s shell %s\",restrict,"
		    "pty %s %s\n", self, r->dir, keys[i].user, keys[i].key,
		    keys[i].user);
	user_key_list_free(keys, nkeys);
	return 0;
}

char *
access_keys_path(const struct berth_root *r)
{
	const char *path = r->cfg.authorized_keys;
	const char *home;
	struct passwd *pw;

	if (path == NULL || *path == '\0')
		return NULL;
	if (path[0] == '/')
		return xstrdup(path);
	pw = getpwuid(geteuid());
	home = pw != NULL ? pw->pw_dir : getenv("HOME");
	return xasprintf("%s%s", home != NULL ? home : "", path + 1);
}

/* The marker lines around berth's part of an authorized_keys file. */
static void
markers(const struct berth_root *r, char **begin, char **end)
{
	*begin = xasprintf("# berth %s: keys of berth's users, written by "
	    "berth (berth keys:add); do not edit down to the end line",
	    r->dir);
	*end = xasprintf("# berth %s: end", r->dir);
}

/* old's lines outside berth's markers, then berth's block, into out. */
static void
merge_keys(const char *old, const char *begin, const char *end,
    const char *lines, struct strbuf *out)
{
	const char *p = old, *nl;
	int inside = 0;

	while (p != NULL && *p != '\0') {
		size_t len;

		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (len == strlen(begin) && strncmp(p, begin, len) == 0)
			inside = 1;
		else if (inside && len == strlen(end) &&
		    strncmp(p, end, len) == 0)
			inside = 0;
		else if (!inside) {
			strbuf_add(out, p, len);
			strbuf_addch(out, '\n');
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	strbuf_addf(out, "%s\n%s%s\n", begin, lines, end);
}

int
access_keys_install(const struct berth_root *r)
{
	struct strbuf lines = STRBUF_INIT, old = STRBUF_INIT,
	    text = STRBUF_INIT;
	char *path = access_keys_path(r), *dir = NULL, *lock, *begin, *end,
	    *slash;
	int fd = -1, ret = -1;

	if (path == NULL)
		return 0;
	lock = root_path(r, "run/locks/.authorized_keys.lock");
	markers(r, &begin, &end);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		berth_error_errno("cannot open %s", lock);
		goto out;
	}
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			berth_error_errno("cannot lock %s", lock);
			goto out;
		}
	/* Under the lock: the ledger's keys as they are now. */
	if (access_keys_text(r, &lines) < 0)
		goto out;
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir_p(dir, 0700) < 0)
			goto out;
	}
	if (path_exists(path) && read_file(path, &old, 1 << 24) < 0)
		goto out;
	merge_keys(strbuf_str(&old), begin, end, strbuf_str(&lines), &text);
	if (write_file_atomic(path, text.buf, text.len, 0600) < 0)
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(lock);
	free(begin);
	free(end);
	free(dir);
	free(path);
	strbuf_release(&lines);
	strbuf_release(&old);
	strbuf_release(&text);
	return ret;
}
