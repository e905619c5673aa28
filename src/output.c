/*
 * output.c - headings, tables and dates.
 */
#include "output.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
out_prefixed(const char *prefix, const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;

	char *clean;

	strbuf_addstr(&sb, prefix);
	strbuf_vaddf(&sb, fmt, ap);
	strbuf_addch(&sb, '\n');
	clean = redact_userinfo(sb.buf);
	fputs(clean, stdout);
	fflush(stdout);
	free(clean);
	strbuf_release(&sb);
}

void
out_heading(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_prefixed("-----> ", fmt, ap);
	va_end(ap);
}

void
out_detail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_prefixed("       ", fmt, ap);
	va_end(ap);
}

void
out_progress(const char *line, void *data)
{
	(void)data;
	if (strncmp(line, "-----> ", 7) == 0)
		printf("%s\n", line);
	else
		out_detail("%s", line);
	fflush(stdout);
}

void
out_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_prefixed(" !     ", fmt, ap);
	va_end(ap);
}

void
table_init(struct table *t, size_t ncols)
{
	t->ncols = ncols;
	memset(&t->cells, 0, sizeof(t->cells));
}

void
table_row(struct table *t, ...)
{
	va_list ap;
	size_t i;

	va_start(ap, t);
	for (i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		strvec_push(&t->cells, s != NULL ? s : "");
	}
	va_end(ap);
}

/* Display width of UTF-8 text: count of non-continuation bytes. */
static size_t
text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void
table_print(struct table *t, FILE *f)
{
	size_t *width = xcalloc(t->ncols, sizeof(*width));
	size_t nrows = t->ncols ? t->cells.nr / t->ncols : 0, r, c;

	for (r = 0; r < nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			size_t w = text_width(t->cells.v[r * t->ncols + c]);

			if (w > width[c])
				width[c] = w;
		}
	for (r = 0; r < nrows; r++) {
		struct strbuf line = STRBUF_INIT;

		for (c = 0; c < t->ncols; c++) {
			const char *cell = t->cells.v[r * t->ncols + c];
			size_t pad;

			if (c > 0)
				strbuf_addstr(&line, "  ");
			strbuf_addstr(&line, cell);
			for (pad = text_width(cell); pad < width[c]; pad++)
				strbuf_addch(&line, ' ');
		}
		strbuf_rtrim(&line);
		fprintf(f, "%s\n", strbuf_str(&line));
		strbuf_release(&line);
	}
	free(width);
}

void
table_clear(struct table *t)
{
	strvec_clear(&t->cells);
}

static int
parse_iso(const char *iso, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL || strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return -1;
	*out = timegm(&tm);
	return 0;
}

char *
format_time(const char *iso)
{
	time_t t;
	struct tm tm;
	char buf[32];

	if (parse_iso(iso, &t) < 0)
		return xstrdup(iso != NULL ? iso : "-");
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
	return xstrdup(buf);
}

char *
format_age(const char *iso)
{
	time_t t, now = time(NULL);
	long d;

	if (parse_iso(iso, &t) < 0)
		return xstrdup("-");
	d = (long)(now - t);
	if (d < 60)
		return xstrdup("just now");
	if (d < 3600)
		return xasprintf("%ld min ago", d / 60);
	if (d < 86400)
		return xasprintf("%ld h ago", d / 3600);
	return xasprintf("%ld d ago", d / 86400);
}

const char *
short_sha(const char *sha, char buf[8])
{
	if (sha == NULL || *sha == '\0')
		return "-";
	snprintf(buf, 8, "%.7s", sha);
	return buf;
}
