/*
 * applog.c - writing an app's log stream: ROOT/apps/APP/log, and
 * rotating it to log.1. Reading and following are in applog-read.c.
 *
 * Writing. Each applog_write() stamps its text once (UTC, microseconds,
 * "+00:00") and makes every line of it "TS SOURCE[PROC]: text\n". Text is
 * split on '\n': a final '\n' ends the last line and adds no empty one,
 * and a '\r' ending a line is dropped. Other control characters except
 * tab are shown as \xNN. A line whose (escaped) text passes 64 KiB is
 * cut there and ends with "…"; the cut never splits a UTF-8 sequence or
 * an escape. Whole lines go to an O_APPEND descriptor in one write(), so
 * berthd and the CLI writing at once never mix inside a line (the lines
 * of one text stay together too, up to 64 KiB of them).
 *
 * Rotation. When a write leaves the file past [logs] max_size_kb, the
 * writer takes flock() on it and, if the path still names that file,
 * renames it to log.1 (dropping the old log.1) and opens a new log; the
 * lock keeps two writers from rotating twice. A writer whose file another
 * process rotated finds it past the cap at its next write and reopens,
 * so that one line lands at the end of log.1; a removed log is noticed
 * within 64 writes.
 */
#include "applog.h"
#include "applog-int.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEXT_MAX	(64 * 1024)	/* escaped text bytes per line */
#define BATCH_MAX	(64 * 1024)	/* a long text goes in parts */
#define RECHECK_EVERY	64		/* writes per removal check */
#define TAG_MAX		63		/* source and proc length */
#define ELLIPSIS	"\xe2\x80\xa6"

struct applog {
	char *path;		/* ROOT/apps/APP/log */
	char *path1;		/* ROOT/apps/APP/log.1 */
	int fd;			/* -1 after a failed reopen */
	off_t max;		/* rotate past this many bytes */
	unsigned writes;
};

/* source and proc: 1-63 of [A-Za-z0-9._-], so lines parse back. */
static int
check_tag(const char *what, const char *s)
{
	char q[80];
	size_t i, n = s != NULL ? strlen(s) : 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			break;
	}
	if (n > 0 && n <= TAG_MAX && i == n)
		return 0;
	name_quote(s != NULL ? s : "", q, sizeof(q));
	return berth_error("log %s '%s' is not valid: use 1-%d letters, "
	    "digits, '.', '_' and '-'", what, q, TAG_MAX);
}

/* "2026-11-26T13:23:22.123456+00:00", now. */
static void
stamp(char buf[48])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, 48, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 48 - n, ".%06ld+00:00", ts.tv_nsec / 1000);
}

static int
is_plain(unsigned char c)
{
	return (c >= 0x20 && c != 0x7f) || c == '\t';
}

/* Add s[0..n) escaped, cut at TEXT_MAX bytes with an ellipsis. */
static void
add_text(struct strbuf *sb, const char *s, size_t n)
{
	size_t i = 0, room = TEXT_MAX, run, take;

	while (i < n) {
		for (run = 0; i + run < n &&
		    is_plain((unsigned char)s[i + run]); run++)
			;
		if (run > 0) {
			take = run < room ? run : room;
			if (take < run) {
				/* Never leave half a UTF-8 sequence. */
				while (take > 0 &&
				    ((unsigned char)s[i + take] & 0xc0) == 0x80)
					take--;
				strbuf_add(sb, s + i, take);
				strbuf_addstr(sb, ELLIPSIS);
				return;
			}
			strbuf_add(sb, s + i, take);
			room -= take;
			i += take;
			continue;
		}
		if (room < 4) {
			strbuf_addstr(sb, ELLIPSIS);
			return;
		}
		strbuf_addf(sb, "\\x%02x", (unsigned char)s[i]);
		room -= 4;
		i++;
	}
}

static int
open_log(struct applog *l)
{
	l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (l->fd < 0)
		return berth_error_errno("cannot open %s", l->path);
	return 0;
}

/*
 * Make l->fd the file l->path names: rotate it first when it is still
 * that file and past the cap; just reopen when another process rotated
 * or removed it. flock() makes the check-and-rename one step among
 * writers.
 */
static int
sync_file(struct applog *l)
{
	struct stat fst, pst;
	int ret = 0, reopen = 0;

	while (flock(l->fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return berth_error_errno("cannot lock %s", l->path);
	if (fstat(l->fd, &fst) < 0) {
		ret = berth_error_errno("cannot stat %s", l->path);
		goto unlock;
	}
	if (stat(l->path, &pst) < 0 || !same_file(&pst, fst.st_dev,
	    fst.st_ino))
		reopen = 1;
	else if (fst.st_size > l->max) {
		if (rename(l->path, l->path1) < 0)
			ret = berth_error_errno("cannot rotate %s", l->path);
		else
			reopen = 1;
	}
unlock:
	flock(l->fd, LOCK_UN);
	if (reopen) {
		close(l->fd);
		if (open_log(l) < 0)
			return -1;
	}
	return ret;
}

/* One write() of whole lines, with the rotation checks around it. */
static int
write_batch(struct applog *l, const char *buf, size_t len)
{
	struct stat st;
	ssize_t n;

	if (l->fd < 0 && open_log(l) < 0)
		return -1;
	if (fstat(l->fd, &st) < 0)
		return berth_error_errno("cannot stat %s", l->path);
	/*
	 * Past the cap before we write: another writer rotated it (or our
	 * last rotation failed; then keep writing here rather than lose
	 * the line, and report the failure after the write).
	 */
	if ((st.st_size > l->max || ++l->writes % RECHECK_EVERY == 0) &&
	    sync_file(l) < 0 && l->fd < 0)
		return -1;
	while (len > 0) {
		n = write(l->fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berth_error_errno("cannot write %s", l->path);
		}
		buf += n;
		len -= (size_t)n;
	}
	if (fstat(l->fd, &st) < 0)
		return berth_error_errno("cannot stat %s", l->path);
	if (st.st_size > l->max)
		return sync_file(l);
	return 0;
}

int
applog_open(const struct berth_root *r, const char *app, struct applog **out)
{
	struct applog *l;
	char *dir;

	*out = NULL;
	if (name_check_app(app) < 0)
		return -1;
	dir = root_pathf(r, "apps/%s", app);
	if (mkdir_p(dir, 0750) < 0) {
		free(dir);
		return -1;
	}
	l = xcalloc(1, sizeof(*l));
	l->path = path_join(dir, "log");
	l->path1 = path_join(dir, "log.1");
	free(dir);
	l->max = (off_t)(r->cfg.log_max_kb > 0 ? r->cfg.log_max_kb : 10240) *
	    1024;
	if (open_log(l) < 0) {
		applog_close(l);
		return -1;
	}
	*out = l;
	return 0;
}

int
applog_write(struct applog *l, const char *source, const char *proc,
    const char *text)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p, *end, *nl;
	char ts[48];
	size_t len;
	int ret = 0;

	if (check_tag("source", source) < 0 || check_tag("proc", proc) < 0)
		return -1;
	if (text == NULL)
		text = "";
	stamp(ts);
	p = text;
	end = text + strlen(text);
	do {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		strbuf_addf(&sb, "%s %s[%s]: ", ts, source, proc);
		add_text(&sb, p, len);
		strbuf_addch(&sb, '\n');
		p = nl != NULL ? nl + 1 : end;
		if (sb.len >= BATCH_MAX || p == end) {
			if (write_batch(l, sb.buf, sb.len) < 0) {
				ret = -1;
				break;
			}
			strbuf_reset(&sb);
		}
	} while (p < end);
	strbuf_release(&sb);
	return ret;
}

int
applog_vwritef(struct applog *l, const char *source, const char *proc,
    const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	if (l == NULL)
		return 0;
	strbuf_vaddf(&sb, fmt, ap);
	ret = applog_write(l, source, proc, sb.buf);
	strbuf_release(&sb);
	return ret;
}

void
applog_close(struct applog *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l->path1);
	free(l);
}

int
applog_append(const struct berth_root *r, const char *app,
    const char *source, const char *proc, const char *text)
{
	struct applog *l;
	int ret;

	if (applog_open(r, app, &l) < 0)
		return -1;
	ret = applog_write(l, source, proc, text);
	applog_close(l);
	return ret;
}
