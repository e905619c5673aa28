/*
 * applog-read.c - reading and following an app's log stream (log.1,
 * then log); applog.c writes and rotates it.
 *
 * Reading scans back from the end in 64 KiB blocks, so the last N lines
 * of a 10 MB log cost about N lines of I/O. Following watches the app's
 * directory with inotify (IN_MODIFY of the log, creations and renames
 * for rotation), or ROOT/apps until the app's directory appears.
 */
#include "applog.h"
#include "applog-int.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK		(64 * 1024)	/* read size, both directions */
#define PART_MAX	(1024 * 1024)	/* show an unended line past it */
#define WAKE_MS		250		/* re-check *stop (ms) */

/*
 * Reading.
 */

/* Whether line[0..len) passes f. Unparsable lines pass no filter. */
static int
line_matches(const struct applog_filter *f, const char *line, size_t len)
{
	const char *sp, *src, *lb, *rb, *end = line + len;
	size_t slen, plen, n;

	if (f == NULL || (f->ps == NULL && f->source == NULL))
		return 1;
	sp = memchr(line, ' ', len);
	if (sp == NULL)
		return 0;
	src = sp + 1;
	lb = memchr(src, '[', (size_t)(end - src));
	if (lb == NULL)
		return 0;
	rb = memchr(lb, ']', (size_t)(end - lb));
	if (rb == NULL || end - rb < 2 || rb[1] != ':')
		return 0;
	slen = (size_t)(lb - src);
	plen = (size_t)(rb - lb - 1);
	if (f->source != NULL && (strlen(f->source) != slen ||
	    memcmp(f->source, src, slen) != 0))
		return 0;
	if (f->ps != NULL) {
		n = strlen(f->ps);
		if (plen == n && memcmp(f->ps, lb + 1, n) == 0)
			return 1;
		/* "web" matches web.1, web.2, ... */
		return strchr(f->ps, '.') == NULL && plen > n &&
		    lb[1 + n] == '.' && memcmp(f->ps, lb + 1, n) == 0;
	}
	return 1;
}

static size_t
want_lines(const struct applog_filter *f)
{
	return f != NULL && f->lines > 0 ? (size_t)f->lines : 100;
}

static int
pread_full(int fd, char *buf, size_t len, off_t off, const char *path)
{
	ssize_t n;

	while (len > 0) {
		n = pread(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berth_error_errno("cannot read %s", path);
		if (n == 0)
			return berth_error("%s shrank while being read", path);
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static void
take_line(const struct applog_filter *f, const char *line, size_t len,
    struct strvec *found)
{
	char *s;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (!line_matches(f, line, len))
		return;
	s = xstrndup(line, len);
	strvec_push(found, s);
	free(s);
}

/*
 * Add to found, newest first, the matching lines among the first size
 * bytes of fd, reading back from there a block at a time, until found
 * holds want lines or the file's start is reached.
 */
static int
scan_back(int fd, const char *path, off_t size,
    const struct applog_filter *f, size_t want, struct strvec *found)
{
	size_t block = BLOCK, len, e, i;
	char *buf = xmalloc(block);
	off_t hi = size, lo;
	int ret = 0;

	while (hi > 0 && found->nr < want) {
		lo = hi > (off_t)block ? hi - (off_t)block : 0;
		len = (size_t)(hi - lo);
		if (pread_full(fd, buf, len, lo, path) < 0) {
			ret = -1;
			break;
		}
		/* buf ends with a line's '\n' (or the file's unended end). */
		e = len;
		i = len;
		if (buf[i - 1] == '\n')
			i--;
		while (i > 0 && found->nr < want) {
			if (buf[--i] != '\n')
				continue;
			take_line(f, buf + i + 1, e - i - 1, found);
			e = i + 1;
		}
		if (found->nr >= want)
			break;
		if (lo == 0) {
			take_line(f, buf, e, found);
			break;
		}
		if (e == len) {
			/* One line longer than the block: read more. */
			block *= 2;
			buf = xrealloc(buf, block);
			continue;
		}
		hi = lo + (off_t)e;
	}
	free(buf);
	return ret;
}

/* What a read of the newest lines leaves for following. */
struct snapshot {
	int fd;			/* the log, or -1 when there was none */
	dev_t dev;
	ino_t ino;
	off_t size;		/* read up to here */
	int seen;		/* newest file read: the log, else log.1 */
	dev_t seen_dev;
	ino_t seen_ino;
};

static int
flush_out(FILE *out)
{
	if (fflush(out) == EOF || ferror(out))
		return berth_error_errno("cannot write the log");
	return 0;
}

static void
print_newest_first(struct strvec *lines, FILE *out)
{
	size_t i;

	for (i = lines->nr; i-- > 0;) {
		fputs(lines->v[i], out);
		fputc('\n', out);
	}
}

/*
 * Print the last matching lines of log.1 + log. The log (if any) is left
 * open in s->fd, read up to s->size.
 */
static int
read_last(const char *path, const char *path1,
    const struct applog_filter *f, FILE *out, struct snapshot *s)
{
	struct strvec newer = STRVEC_INIT, older = STRVEC_INIT;
	size_t want = want_lines(f);
	struct stat st;
	int fd1 = -1, ret = -1;

	memset(s, 0, sizeof(*s));
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0 && errno != ENOENT && errno != ENOTDIR) {
		berth_error_errno("cannot open %s", path);
		goto out;
	}
	if (s->fd >= 0) {
		if (fstat(s->fd, &st) < 0) {
			berth_error_errno("cannot stat %s", path);
			goto out;
		}
		s->dev = st.st_dev;
		s->ino = st.st_ino;
		s->size = st.st_size;
		s->seen = 1;
		s->seen_dev = st.st_dev;
		s->seen_ino = st.st_ino;
		if (scan_back(s->fd, path, s->size, f, want, &newer) < 0)
			goto out;
	}
	if (newer.nr < want) {
		/* Opened after the log: a rotation in between shows as
		 * log.1 being the file we just read. */
		fd1 = open(path1, O_RDONLY | O_CLOEXEC);
		if (fd1 < 0 && errno != ENOENT && errno != ENOTDIR) {
			berth_error_errno("cannot open %s", path1);
			goto out;
		}
		if (fd1 >= 0) {
			if (fstat(fd1, &st) < 0) {
				berth_error_errno("cannot stat %s", path1);
				goto out;
			}
			if (!s->seen || !same_file(&st, s->dev, s->ino)) {
				if (!s->seen) {
					s->seen = 1;
					s->seen_dev = st.st_dev;
					s->seen_ino = st.st_ino;
				}
				if (scan_back(fd1, path1, st.st_size, f,
				    want - newer.nr, &older) < 0)
					goto out;
			}
		}
	}
	print_newest_first(&older, out);
	print_newest_first(&newer, out);
	ret = flush_out(out);
out:
	if (fd1 >= 0)
		close(fd1);
	if (ret < 0 && s->fd >= 0) {
		int saved = errno;

		close(s->fd);
		s->fd = -1;
		errno = saved;
	}
	strvec_clear(&newer);
	strvec_clear(&older);
	return ret;
}

int
applog_read(const struct berth_root *r, const char *app,
    const struct applog_filter *f, FILE *out)
{
	struct snapshot s;
	char *path, *path1;
	int ret, saved;

	if (name_check_app(app) < 0)
		return -1;
	path = root_pathf(r, "apps/%s/log", app);
	path1 = root_pathf(r, "apps/%s/log.1", app);
	ret = read_last(path, path1, f, out, &s);
	saved = errno;
	if (s.fd >= 0)
		close(s.fd);
	free(path);
	free(path1);
	errno = saved;		/* EPIPE tells a closed reader apart */
	return ret;
}

/*
 * Following.
 */

struct tail {
	const struct applog_filter *f;
	FILE *out;
	const char *path, *path1;
	int fd;			/* the log being followed, or -1 */
	dev_t dev;
	ino_t ino;
	off_t pos;
	int prev;		/* the last log we finished */
	dev_t prev_dev;
	ino_t prev_ino;
	char *blk;		/* BLOCK bytes */
	struct strbuf part;	/* read, not yet ended by '\n' */
};

static void
emit(struct tail *t, const char *line, size_t len)
{
	if (!line_matches(t->f, line, len))
		return;
	fwrite(line, 1, len, t->out);
	fputc('\n', t->out);
}

/* Lines of t->part ended by '\n' go out; the rest stays. */
static void
feed(struct tail *t, const char *data, size_t len)
{
	size_t start = 0, rest;
	char *nl;

	strbuf_add(&t->part, data, len);
	while ((nl = memchr(t->part.buf + start, '\n',
	    t->part.len - start)) != NULL) {
		emit(t, t->part.buf + start,
		    (size_t)(nl - (t->part.buf + start)));
		start = (size_t)(nl - t->part.buf) + 1;
	}
	rest = t->part.len - start;
	memmove(t->part.buf, t->part.buf + start, rest);
	t->part.len = rest;
	t->part.buf[rest] = '\0';
	if (t->part.len > PART_MAX) {
		emit(t, t->part.buf, t->part.len);
		strbuf_reset(&t->part);
	}
}

/* The unended end of a file we are leaving is a line too. */
static void
flush_part(struct tail *t)
{
	if (t->part.len > 0)
		emit(t, t->part.buf, t->part.len);
	strbuf_reset(&t->part);
}

/* Read fd from *pos to its end. */
static int
drain(struct tail *t, int fd, off_t *pos, const char *path)
{
	ssize_t n;

	for (;;) {
		n = pread(fd, t->blk, BLOCK, *pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berth_error_errno("cannot read %s", path);
		if (n == 0)
			return 0;
		*pos += n;
		feed(t, t->blk, (size_t)n);
	}
}

/*
 * Follow the path: when it names another file than t->fd (rotated) or
 * none (removed), finish the old file; when a new log is there, read
 * log.1 first if it is a file we never saw (two rotations while we
 * slept, or a rotation before the log we wait for appeared), then the
 * new log.
 */
static int
follow_path(struct tail *t)
{
	struct stat pst, st;
	int gone, fd, fd1;
	off_t pos1 = 0;

	gone = stat(t->path, &pst) < 0;
	if (gone && errno != ENOENT && errno != ENOTDIR)
		return berth_error_errno("cannot stat %s", t->path);
	if (t->fd >= 0) {
		if (!gone && same_file(&pst, t->dev, t->ino)) {
			if (pst.st_size < t->pos)
				t->pos = 0;	/* truncated */
			return 0;
		}
		if (drain(t, t->fd, &t->pos, t->path) < 0)
			return -1;
		flush_part(t);
		t->prev = 1;
		t->prev_dev = t->dev;
		t->prev_ino = t->ino;
		close(t->fd);
		t->fd = -1;
	}
	if (gone)
		return 0;
	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return berth_error_errno("cannot open %s", t->path);
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return berth_error_errno("cannot stat %s", t->path);
	}
	t->fd = fd;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->pos = 0;
	fd1 = open(t->path1, O_RDONLY | O_CLOEXEC);
	if (fd1 >= 0) {
		int skip = fstat(fd1, &st) < 0 ||
		    same_file(&st, t->dev, t->ino) ||
		    (t->prev && same_file(&st, t->prev_dev, t->prev_ino));

		if (!skip && drain(t, fd1, &pos1, t->path1) < 0) {
			close(fd1);
			return -1;
		}
		flush_part(t);
		close(fd1);
	}
	return drain(t, t->fd, &t->pos, t->path);
}

/* Watch the app's dir, or ROOT/apps until the app's dir exists. */
static int
add_watches(int in, const char *apps, const char *dir, int *awd, int *dwd)
{
	if (*dwd >= 0)
		return 0;
	if (*awd < 0) {
		*awd = inotify_add_watch(in, apps, IN_CREATE | IN_MOVED_TO |
		    IN_ONLYDIR);
		if (*awd < 0)
			return berth_error_errno("cannot watch %s", apps);
	}
	*dwd = inotify_add_watch(in, dir, IN_MODIFY | IN_CREATE | IN_DELETE |
	    IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR);
	if (*dwd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return berth_error_errno("cannot watch %s", dir);
	}
	inotify_rm_watch(in, *awd);
	*awd = -1;
	return 0;
}

/*
 * Wait for inotify events (or WAKE_MS); forget watches that ended. A
 * pipe or socket out whose reader went away ends the wait with EPIPE,
 * so `berth logs --tail | head` ends even when no line comes.
 */
static int
wait_events(int in, int outfd, int *awd, int *dwd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct
	    inotify_event))));
	struct pollfd pfd[2] = { { in, POLLIN, 0 }, { outfd, 0, 0 } };
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	if (poll(pfd, 2, WAKE_MS) < 0 && errno != EINTR)
		return berth_error_errno("cannot wait for the log");
	if (outfd >= 0 && (pfd[1].revents & (POLLERR | POLLHUP))) {
		errno = EPIPE;
		return berth_error_errno("cannot write the log");
	}
	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return berth_error_errno("cannot watch the log");
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (!(ev->mask & IN_IGNORED))
				continue;
			if (ev->wd == *dwd)
				*dwd = -1;
			else if (ev->wd == *awd)
				*awd = -1;
		}
	}
}

int
applog_follow(const struct berth_root *r, const char *app,
    const struct applog_filter *f, FILE *out, volatile sig_atomic_t *stop)
{
	struct snapshot s;
	struct tail t;
	char *apps, *dir;
	int in, awd = -1, dwd = -1, ret = -1, saved;

	if (name_check_app(app) < 0)
		return -1;
	memset(&t, 0, sizeof(t));
	t.f = f;
	t.out = out;
	t.fd = -1;
	strbuf_init(&t.part);
	apps = root_path(r, "apps");
	dir = root_pathf(r, "apps/%s", app);
	t.path = path_join(dir, "log");
	t.path1 = path_join(dir, "log.1");
	t.blk = xmalloc(BLOCK);
	/* Watch before reading, so nothing written after the read is
	 * missed: its event waits in the queue. */
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0) {
		berth_error_errno("cannot watch %s", dir);
		goto out;
	}
	if (add_watches(in, apps, dir, &awd, &dwd) < 0)
		goto out;
	if (read_last(t.path, t.path1, f, out, &s) < 0)
		goto out;
	t.fd = s.fd;
	t.dev = s.dev;
	t.ino = s.ino;
	t.pos = s.size;
	t.prev = s.seen;
	t.prev_dev = s.seen_dev;
	t.prev_ino = s.seen_ino;
	while (!*stop) {
		if (t.fd >= 0 && drain(&t, t.fd, &t.pos, t.path) < 0)
			goto out;
		if (follow_path(&t) < 0 || flush_out(out) < 0)
			goto out;
		if (*stop)
			break;
		if (wait_events(in, fileno(out), &awd, &dwd) < 0 ||
		    add_watches(in, apps, dir, &awd, &dwd) < 0)
			goto out;
	}
	ret = 0;
out:
	saved = errno;
	if (in >= 0)
		close(in);
	if (t.fd >= 0)
		close(t.fd);
	strbuf_release(&t.part);
	free(t.blk);
	free((char *)t.path);
	free((char *)t.path1);
	free(dir);
	free(apps);
	errno = saved;
	return ret;
}
