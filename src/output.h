/*
 * output.h - how berth talks to people: "-----> " headings, 7-space
 * detail lines and " !     " errors in hook output (git shows them as
 * "remote: " lines), aligned tables and dates in the CLI.
 */
#ifndef BERTH_OUTPUT_H
#define BERTH_OUTPUT_H

#include <stdio.h>

#include "util.h"

void out_heading(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);
void out_detail(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);
/*
 * A line of berthd's progress (a release_order's progress callback):
 * its "-----> " headings as they are, the rest indented; flushed.
 */
void out_progress(const char *line, void *data);
void out_error(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);

/* A table of text cells printed with aligned columns. */
struct table {
	size_t ncols;
	struct strvec cells;	/* row-major */
};
void table_init(struct table *t, size_t ncols);
/* Add one row of ncols cells (NULL shows as ""). */
void table_row(struct table *t, ...);
/* Print rows, two spaces between columns, no trailing spaces. */
void table_print(struct table *t, FILE *f);
void table_clear(struct table *t);

/* "2026-11-26T14:02:11Z" -> "2026-11-26 14:02" (UTC). Caller frees. */
char *format_time(const char *iso);
/* "2 min ago" from an ISO time. Caller frees. */
char *format_age(const char *iso);
/* First 7 characters of a sha, or "-" when NULL. */
const char *short_sha(const char *sha, char buf[8]);

#endif
