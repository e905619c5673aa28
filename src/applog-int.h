/*
 * applog-int.h - what applog.c (writing, rotation) and applog-read.c
 * (reading, following) share, and nothing outside them may include.
 */
#ifndef BERTH_APPLOG_INT_H
#define BERTH_APPLOG_INT_H

#include <sys/stat.h>

/* Whether a (a stat of the path) is the file dev, ino: a rotation or a
 * removal shows as the path naming another file, or none. */
static inline int
same_file(const struct stat *a, dev_t dev, ino_t ino)
{
	return a->st_dev == dev && a->st_ino == ino;
}

#endif
