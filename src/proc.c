/*
 * proc.c - /proc readers (see proc.h).
 */
#include "proc.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

ssize_t
proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

unsigned long long
proc_stat_field(pid_t pid, int field)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	int i;

	if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	/* The command name (field 2) may hold spaces: start after it. */
	p = strrchr(buf, ')');
	for (i = 2; i < field && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

unsigned long long
proc_start_time(pid_t pid)
{
	return proc_stat_field(pid, 22);
}

char *
proc_owner(pid_t pid)
{
	return xasprintf("%ld %llu", (long)pid, proc_start_time(pid));
}

int
proc_owner_alive(const char *owner)
{
	unsigned long long start;
	long pid;

	if (owner == NULL || sscanf(owner, "%ld %llu", &pid, &start) != 2)
		return 0;
	return proc_same((pid_t)pid, start);
}

int
proc_same(pid_t pid, unsigned long long start)
{
	return pid > 1 && start != 0 && proc_start_time(pid) == start &&
	    !proc_zombie(pid);
}

int
proc_pidfd(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return berth_error_errno("cannot watch process %ld",
		    (long)pid);
	return fd;
}

pid_t
proc_ppid(pid_t pid)
{
	return (pid_t)proc_stat_field(pid, 4);
}

int
proc_zombie(pid_t pid)
{
	char buf[512], *p;

	if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

int
proc_comm_is(pid_t pid, const char *name)
{
	char comm[64];

	if (proc_read(pid, "comm", comm, sizeof(comm)) <= 0)
		return 0;
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, name) == 0;
}

ssize_t
proc_cmdline(pid_t pid, char *buf, size_t size)
{
	ssize_t n = proc_read(pid, "cmdline", buf, size), i;

	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return n;
}

int
proc_each(int (*fn)(pid_t pid, void *data), void *data)
{
	DIR *dp = opendir("/proc");
	struct dirent *de;
	int ret = 0;

	while (ret == 0 && dp != NULL && (de = readdir(dp)) != NULL) {
		long pid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = atol(de->d_name);
		if (pid > 0)
			ret = fn((pid_t)pid, data);
	}
	if (dp != NULL)
		closedir(dp);
	return ret;
}
