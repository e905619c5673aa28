/*
 * util.c - error slot, strbuf, strvec and file system helpers.
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Per thread: berthd serves requests in threads of their own. */
static __thread char last_error[1024];

/*
 * Format into last_error through a copy: the arguments may be the last
 * error itself ("context: %s", berth_last_error()).
 */
static void
set_error(const char *fmt, va_list ap)
{
	char buf[sizeof(last_error)];
	char *clean;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* A URL's password never reaches a message. */
	clean = redact_userinfo(buf);
	snprintf(last_error, sizeof(last_error), "%s", clean);
	free(clean);
}

char *
redact_userinfo(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = s, *scheme;

	while ((scheme = strstr(p, "://")) != NULL) {
		const char *host = scheme + 3, *end = host, *at = NULL, *colon;

		while (*end != '\0' && strchr("/?#\"' \t\n", *end) == NULL) {
			if (*end == '@')
				at = end;
			end++;
		}
		strbuf_add(&sb, p, (size_t)(host - p));
		if (at != NULL) {
			colon = memchr(host, ':', (size_t)(at - host));
			if (colon != NULL)
				strbuf_add(&sb, host, (size_t)(colon - host + 1));
			strbuf_addstr(&sb, "***");
			host = at;
		}
		strbuf_add(&sb, host, (size_t)(end - host));
		p = end;
	}
	strbuf_addstr(&sb, p);
	return strbuf_detach(&sb);
}

int
berth_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(fmt, ap);
	va_end(ap);
	return -1;
}

int
berth_error_errno(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;
	size_t len;

	va_start(ap, fmt);
	set_error(fmt, ap);
	va_end(ap);
	len = strlen(last_error);
	if (saved == ENOSPC)
		snprintf(last_error + len, sizeof(last_error) - len,
		    ": disk full (No space left on device); free space and "
		    "try again");
	else
		snprintf(last_error + len, sizeof(last_error) - len, ": %s",
		    strerror(saved));
	errno = saved;
	return -1;
}

const char *
berth_last_error(void)
{
	return last_error;
}

void
berth_clear_error(void)
{
	last_error[0] = '\0';
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		abort();
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	return strbuf_detach(&sb);
}

void
strbuf_init(struct strbuf *sb)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->alloc = 0;
}

void
strbuf_release(struct strbuf *sb)
{
	free(sb->buf);
	strbuf_init(sb);
}

char *
strbuf_detach(struct strbuf *sb)
{
	char *p;

	strbuf_grow(sb, 0);
	p = sb->buf;
	strbuf_init(sb);
	return p;
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf != NULL)
		sb->buf[0] = '\0';
}

void
strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;

	if (need <= sb->alloc)
		return;
	if (sb->alloc * 2 > need)
		need = sb->alloc * 2;
	if (need < 64)
		need = 64;
	sb->buf = xrealloc(sb->buf, need);
	if (sb->alloc == 0)
		sb->buf[0] = '\0';
	sb->alloc = need;
}

void
strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
	strbuf_grow(sb, len);
	if (len > 0)		/* data may be NULL then (an empty strbuf) */
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void
strbuf_addstr(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void
strbuf_addch(struct strbuf *sb, int c)
{
	char ch = (char)c;

	strbuf_add(sb, &ch, 1);
}

void
strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	strbuf_grow(sb, 64);
	va_copy(cp, ap);
	n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	if ((size_t)n >= sb->alloc - sb->len) {
		strbuf_grow(sb, (size_t)n);
		vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
	}
	sb->len += (size_t)n;
}

void
strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}

const char *
strbuf_str(const struct strbuf *sb)
{
	return sb->buf != NULL ? sb->buf : "";
}

void
strbuf_rtrim(struct strbuf *sb)
{
	while (sb->len > 0 && (sb->buf[sb->len - 1] == '\n' ||
	    sb->buf[sb->len - 1] == '\r' || sb->buf[sb->len - 1] == ' ' ||
	    sb->buf[sb->len - 1] == '\t'))
		sb->buf[--sb->len] = '\0';
}

int
fd_read_lines(int fd, struct strbuf *pending,
    void (*fn)(const char *line, void *data), void *data)
{
	char buf[8192];
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			strbuf_add(pending, buf, (size_t)n);
			strbuf_take_lines(pending, 0, fn, data);
		} else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN)
			return 0;
		else
			break;
	}
	strbuf_take_lines(pending, 1, fn, data);
	return 1;
}

void
strbuf_take_lines(struct strbuf *pending, int flush,
    void (*fn)(const char *line, void *data), void *data)
{
	char *start = pending->buf, *nl;
	size_t used;

	if (pending->len == 0)
		return;
	while ((nl = memchr(start, '\n', pending->len -
	    (size_t)(start - pending->buf))) != NULL) {
		*nl = '\0';
		if (nl > start && nl[-1] == '\r')
			nl[-1] = '\0';
		fn(start, data);
		start = nl + 1;
	}
	used = (size_t)(start - pending->buf);
	if (flush || pending->len - used > 65536) {
		if (pending->len > used)
			fn(start, data);
		used = pending->len;
	}
	memmove(pending->buf, pending->buf + used, pending->len - used);
	pending->len -= used;
	pending->buf[pending->len] = '\0';
}

void
strvec_push(struct strvec *sv, const char *s)
{
	if (sv->nr + 2 > sv->alloc) {
		sv->alloc = sv->alloc ? sv->alloc * 2 : 8;
		sv->v = xrealloc(sv->v, sv->alloc * sizeof(*sv->v));
	}
	sv->v[sv->nr++] = xstrdup(s);
	sv->v[sv->nr] = NULL;
}

void
strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	char *s;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	s = strbuf_detach(&sb);
	strvec_push(sv, s);
	free(s);
}

void
strvec_clear(struct strvec *sv)
{
	size_t i;

	for (i = 0; i < sv->nr; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->nr = sv->alloc = 0;
}

char **
strvec_argv(struct strvec *sv)
{
	if (sv->v == NULL) {
		sv->alloc = 8;
		sv->v = xcalloc(sv->alloc, sizeof(*sv->v));
	}
	return sv->v;
}

int
read_fd(int fd, const char *name, struct strbuf *out, size_t max)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berth_error_errno("cannot read %s", name);
		}
		if (max > 0 && out->len + (size_t)n > max)
			return file_too_large(name, max);
		strbuf_add(out, buf, (size_t)n);
	}
	strbuf_grow(out, 0);
	return 0;
}

int
read_file(const char *path, struct strbuf *out, size_t max)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno("cannot read %s", path);
	rc = read_fd(fd, path, out, max);
	close(fd);
	return rc;
}

static const char *file_kind(mode_t mode);

int
read_file_regular(const char *path, struct strbuf *out, size_t max)
{
	struct stat st;
	const char *name = strrchr(path, '/');

	int fd, rc;

	name = name != NULL ? name + 1 : path;
	if (lstat(path, &st) < 0)
		return berth_error_errno("cannot read %s", name);
	if (!S_ISREG(st.st_mode))
		return file_not_a_file(name, file_kind(st.st_mode));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno("cannot read %s", name);
	rc = read_fd(fd, name, out, max);
	close(fd);
	return rc;
}

int
file_too_large(const char *name, size_t max)
{
	char size[32];

	human_size((int64_t)max, size);
	return berth_error("%s is larger than %s", name, size);
}

int
file_not_a_file(const char *name, const char *what)
{
	return berth_error("%s is %s; it must be a file", name, what);
}

int
fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write path.tmp, fsync it when sync, rename it to path. */
static int
write_file_replace(const char *path, const void *data, size_t len,
    mode_t mode, int sync)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd, ret = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		berth_error_errno("cannot write %s", path);
		goto out;
	}
	if (fd_write_all(fd, data, len) < 0 || (sync && fsync(fd) < 0)) {
		berth_error_errno("cannot write %s", path);
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		berth_error_errno("cannot write %s", path);
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(tmp);
	return ret;
}

int
write_file_changed(const char *path, const void *data, size_t len,
    mode_t mode)
{
	struct strbuf sb = STRBUF_INIT;
	int same = read_file(path, &sb, len + 1) == 0 && sb.len == len &&
	    memcmp(sb.buf, data, len) == 0;

	strbuf_release(&sb);
	berth_clear_error();
	if (same)
		return 0;
	return write_file_atomic(path, data, len, mode) < 0 ? -1 : 1;
}

int
write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode)
{
	return write_file_replace(path, data, len, mode, 1);
}

int
write_file_volatile(const char *path, const void *data, size_t len,
    mode_t mode)
{
	return write_file_replace(path, data, len, mode, 0);
}

int
mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path), *s;
	int ret = 0;

	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			ret = berth_error_errno("cannot create %s", p);
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	if (ret == 0 && !is_dir(path))
		return berth_error("cannot create %s: not a directory", path);
	return ret;
}

/*
 * Remove name in the directory dirfd and everything under it, never
 * following a symlink: each directory is opened from its parent's fd
 * (O_NOFOLLOW) and emptied through its own, so a directory that app
 * code swaps for a link meanwhile leads nowhere outside the tree.
 * path names it in messages.
 */
static int
rm_at(int dirfd, const char *name, const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, ret = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : berth_error_errno("cannot remove %s",
		    path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return berth_error_errno("cannot remove %s", path);
		return 0;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno("cannot remove %s", path);
	fchmod(fd, 0700);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return berth_error_errno("cannot remove %s", path);
	}
	while ((de = readdir(d)) != NULL) {
		char *sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		sub = path_join(path, de->d_name);
		if (rm_at(fd, de->d_name, sub) < 0)
			ret = -1;
		free(sub);
	}
	closedir(d);
	if (ret == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 &&
	    errno != ENOENT)
		ret = berth_error_errno("cannot remove %s", path);
	return ret;
}

int
rm_rf(const char *path)
{
	char *p = xstrdup(path), *slash, *parent;
	size_t len = strlen(p);
	int dirfd, ret;

	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	slash = strrchr(p, '/');
	if (slash == NULL || slash[1] == '\0') {
		ret = rm_at(AT_FDCWD, p, path);
		free(p);
		return ret;
	}
	parent = slash == p ? xstrdup("/") : xstrndup(p, (size_t)(slash - p));
	dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	if (dirfd < 0)
		ret = errno == ENOENT ? 0 : berth_error_errno("cannot remove %s",
		    path);
	else {
		ret = rm_at(dirfd, slash + 1, path);
		close(dirfd);
	}
	free(p);
	return ret;
}

static int
copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	ssize_t n;
	int in, out, ret = 0;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return berth_error_errno("cannot read %s", from);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0) {
		close(in);
		return berth_error_errno("cannot write %s", to);
	}
	/*
	 * copy_file_range copies in the kernel, and shares the blocks
	 * (reflink) on file systems that can (XFS, btrfs); fall back to
	 * read/write where it is not supported.
	 */
	while ((n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0)) > 0)
		;
	if (n == 0)
		goto done;
	if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
	    errno != EOPNOTSUPP) {
		ret = berth_error_errno("cannot copy %s", from);
		goto done;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (fd_write_all(out, buf, (size_t)n) < 0) {
			ret = berth_error_errno("cannot write %s", to);
			break;
		}
	}
	if (n < 0)
		ret = berth_error_errno("cannot read %s", from);
done:
	close(in);
	if (close(out) < 0 && ret == 0)
		ret = berth_error_errno("cannot write %s", to);
	return ret;
}

int
copy_tree(const char *from, const char *to)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int ret = 0;

	if (lstat(from, &st) < 0)
		return berth_error_errno("cannot read %s", from);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(from, target, sizeof(target) - 1);

		if (n < 0)
			return berth_error_errno("cannot read %s", from);
		target[n] = '\0';
		if (symlink(target, to) < 0)
			return berth_error_errno("cannot write %s", to);
		return 0;
	}
	if (S_ISREG(st.st_mode))
		return copy_file(from, to, st.st_mode & 07777);
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (mkdir(to, 0700) < 0 && errno != EEXIST)
		return berth_error_errno("cannot create %s", to);
	d = opendir(from);
	if (d == NULL)
		return berth_error_errno("cannot read %s", from);
	while (ret == 0 && (de = readdir(d)) != NULL) {
		char *a, *b;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		a = path_join(from, de->d_name);
		b = path_join(to, de->d_name);
		ret = copy_tree(a, b);
		free(a);
		free(b);
	}
	closedir(d);
	if (ret == 0 && chmod(to, st.st_mode & 07777) < 0)
		ret = berth_error_errno("cannot chmod %s", to);
	return ret;
}

/* Call fn for name in dirfd and, below a directory, all it holds. */
static int
walk_at(int at, const char *name, tree_fn fn, void *data)
{
	struct stat st;
	int fd = openat(at, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		/* The very directory fd holds, now readable. */
		int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;

		if (d == NULL) {
			if (dfd >= 0)
				close(dfd);
			close(fd);
			return -1;
		}
		while (ret == 0 && (de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				ret = walk_at(dirfd(d), de->d_name, fn, data);
		closedir(d);
	}
	if (ret == 0)
		ret = fn(fd, &st, data);
	close(fd);
	return ret;
}

int
walk_tree(const char *path, tree_fn fn, void *data)
{
	return walk_at(AT_FDCWD, path, fn, data);
}

int
fd_chmod(int fd, mode_t mode)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return chmod(path, mode);
}

static int
add_size(int fd, const struct stat *st, void *data)
{
	(void)fd;
	if (S_ISREG(st->st_mode))
		*(int64_t *)data += st->st_size;
	return 0;
}

int64_t
tree_size(const char *path)
{
	int64_t total = 0;

	walk_tree(path, add_size, &total);
	return total;
}

int
path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* What a file that is not a regular one is, for messages. */
static const char *
file_kind(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "not a regular file";
}

int
path_regular(const char *path, const char *fix)
{
	struct stat st;
	char target[PATH_MAX];
	ssize_t n;

	if (stat(path, &st) == 0) {
		if (S_ISREG(st.st_mode))
			return 0;
		return berth_error("%s is %s, not a regular file; %s", path,
		    file_kind(st.st_mode), fix);
	}
	if (errno != ENOENT)
		return berth_error_errno("cannot read %s", path);
	/* Not a link: nothing, or a file that another process (SQLite)
	 * made or removed just now. */
	if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
		return 1;
	n = readlink(path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	return berth_error("%s is a symbolic link to %s, which does not "
	    "exist; %s", path, target, fix);
}

int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *
path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la > 0 && a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

char *
path_real(const char *path)
{
	char *p = realpath(path, NULL);

	if (p == NULL)
		berth_error_errno("cannot resolve %s", path);
	return p;
}

void
now_iso(char buf[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

void
log_say(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	char ts[32];
	va_list ap;

	now_iso(ts);
	strbuf_addf(&sb, "%s %s[%ld]: ", ts, program_invocation_short_name,
	    (long)getpid());
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addch(&sb, '\n');
	fputs(sb.buf, stderr);
	fflush(stderr);
	strbuf_release(&sb);
}

int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
now_ms(void)
{
	return now_us() / 1000;
}

int
random_hex(char *out, size_t nbytes)
{
	unsigned char buf[64];
	size_t i;

	if (nbytes > sizeof(buf))
		return berth_error("random_hex: too many bytes");
	if (getrandom(buf, nbytes, 0) != (ssize_t)nbytes)
		return berth_error_errno("cannot read random bytes");
	for (i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", buf[i]);
	out[2 * nbytes] = '\0';
	return 0;
}

void
human_size(int64_t bytes, char buf[32])
{
	static const char *const units[] = { "KB", "MB", "GB" };
	int64_t unit = 1024LL * 1024 * 1024;
	int i;

	for (i = 2; i >= 0; i--, unit >>= 10)
		if (bytes >= unit && bytes % unit == 0) {
			snprintf(buf, 32, "%lld %s", (long long)(bytes / unit),
			    units[i]);
			return;
		}
	if (bytes < 1024)
		snprintf(buf, 32, "%lld B", (long long)bytes);
	else if (bytes < 1024 * 1024)
		snprintf(buf, 32, "%.1f KB", bytes / 1024.0);
	else if (bytes < 1024LL * 1024 * 1024)
		snprintf(buf, 32, "%.1f MB", bytes / (1024.0 * 1024));
	else
		snprintf(buf, 32, "%.1f GB", bytes / (1024.0 * 1024 * 1024));
}

int
size_parse(const char *s, int64_t *out)
{
	static const char units[] = "kmg";
	const char *p, *u;
	int64_t v = 0;
	int shift = 0;

	for (p = s; *p >= '0' && *p <= '9' && v <= SIZE_MAX_BYTES; p++)
		v = v * 10 + (*p - '0');
	if (p == s)
		return -1;
	if (*p != '\0') {
		u = strchr(units, *p | 0x20);
		if (u == NULL || p[1] != '\0')
			return -1;
		shift = 10 * (int)(u - units + 1);
	}
	if (v == 0 || v > SIZE_MAX_BYTES >> shift)
		return -1;
	*out = v << shift;
	return 0;
}

void
size_format(int64_t bytes, char buf[32])
{
	static const char units[] = "KMG";
	int i = -1;

	while (i < 2 && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, 32, "%lld", (long long)bytes);
	else
		snprintf(buf, 32, "%lld%c", (long long)bytes, units[i]);
}

FILE *
fopen_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (f == NULL)
		close(fd);
	return f;
}

int
socket_connected_to_self(int fd)
{
	struct sockaddr_storage me, peer;
	socklen_t mlen = sizeof(me), plen = sizeof(peer);

	if (getsockname(fd, (struct sockaddr *)&me, &mlen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		return 0;
	return mlen == plen && memcmp(&me, &peer, mlen) == 0;
}

char *
helper_program(const char *name, const char *env)
{
	char buf[PATH_MAX], *slash, *path;
	const char *set = getenv(env);
	ssize_t n;

	if (set != NULL && set[0] == '/')
		return xstrdup(set);
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		slash = strrchr(buf, '/');
		if (slash != NULL) {
			path = xasprintf("%.*s/%s", (int)(slash - buf), buf,
			    name);
			if (access(path, X_OK) == 0)
				return path;
			free(path);
		}
	}
	return xasprintf("%s/%s", BERTH_LIBEXECDIR, name);
}

void
put_ulong(char *buf, size_t *n, unsigned long v)
{
	char tmp[24];
	size_t k = 0;

	do {
		tmp[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (k > 0)
		buf[(*n)++] = tmp[--k];
}

int
write_small(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, data, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -1;
}

int
text_line(const char **p, const char *end, int *lineno, const char **start,
    const char **stop)
{
	const char *s = *p, *nl, *e;

	if (*lineno == 0 && end - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	if (s >= end)
		return 0;
	nl = memchr(s, '\n', (size_t)(end - s));
	e = nl != NULL ? nl : end;
	if (e > s && e[-1] == '\r')
		e--;
	*start = s;
	*stop = e;
	*p = nl != NULL ? nl + 1 : end;
	(*lineno)++;
	return 1;
}

int
text_next_line(const char **p, const char *end, int *lineno,
    const char **start, const char **stop)
{
	const char *s, *e;

	if (!text_line(p, end, lineno, &s, &e))
		return 0;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*start = s;
	*stop = e;
	return 1;
}
