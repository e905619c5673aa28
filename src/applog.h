/*
 * applog.h - one log stream per app: ROOT/apps/APP/log, lines
 *
 *   2026-11-26T13:23:22.123456+00:00 app[web.1]: text
 *   2026-11-26T13:23:22.123456+00:00 berth[router]: text
 *
 * source is "app" (a dyno's output) or "berth" (platform events, with
 * proc router|release|api|...). Writers append whole lines with
 * O_APPEND; when the file passes berth.ini [logs] max_size_kb it is
 * renamed to log.1 (the previous log.1 is dropped) and a new log begins.
 */
#ifndef BERTH_APPLOG_H
#define BERTH_APPLOG_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "root.h"

struct applog;

int applog_open(const struct berth_root *r, const char *app,
    struct applog **out);
/*
 * Append one line, stamped now. text may hold newlines: each line of it
 * becomes a log line. Control characters other than tab are shown as
 * \xNN. Rotates when the file is past the size cap.
 */
int applog_write(struct applog *l, const char *source, const char *proc,
    const char *text);
/* applog_write() of a printf-formatted text; nothing when l is NULL. */
int applog_vwritef(struct applog *l, const char *source, const char *proc,
    const char *fmt, va_list ap) BERTH_ATTR_PRINTF(4, 0);
void applog_close(struct applog *l);
/* Open, write one line, close: for the CLI and the hook. */
int applog_append(const struct berth_root *r, const char *app,
    const char *source, const char *proc, const char *text);

struct applog_filter {
	int lines;		/* the last N matching lines; 0 = 100 */
	const char *ps;		/* "web.1", or "web" for every web dyno */
	const char *source;	/* "app" or "berth", NULL = both */
};

/*
 * Print the last f->lines matching lines (reading log.1 too when the
 * current file has fewer) to out. An app with no log yet prints nothing.
 */
int applog_read(const struct berth_root *r, const char *app,
    const struct applog_filter *f, FILE *out);
/*
 * applog_read(), then print matching lines as they are appended, across
 * rotations, until *stop becomes non-zero (set from a signal handler) or
 * out fails (EPIPE). Uses inotify, not polling. Returns 0 when stopped,
 * -1 with errno EPIPE when out's reader has gone (both read and follow).
 */
int applog_follow(const struct berth_root *r, const char *app,
    const struct applog_filter *f, FILE *out, volatile sig_atomic_t *stop);

#endif
