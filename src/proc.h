/*
 * proc.h - the one reader of /proc for berth: a process's stat fields,
 * its command name, command line and environment, and a walk over every
 * process. berthd's supervisor, dyno.c and the router use it; nothing
 * else opens /proc/PID files.
 */
#ifndef BERTH_PROC_H
#define BERTH_PROC_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Read /proc/PID/NAME into buf (NUL-terminated, at most size - 1
 * bytes); its length, or -1 when the process is gone or the file is
 * unreadable.
 */
ssize_t proc_read(pid_t pid, const char *name, char *buf, size_t size);
/*
 * Field n (1-based, as in proc(5): 3 the state, 4 the ppid, 22 the
 * start time in clock ticks) of /proc/PID/stat; 0 when it is gone.
 */
unsigned long long proc_stat_field(pid_t pid, int field);
/* The start time of pid (clock ticks since boot); 0 when it is gone. */
unsigned long long proc_start_time(pid_t pid);
/*
 * A process as the ledger names it, "PID START" (START its start time,
 * so a reused pid is not taken for it); proc_owner_alive() says whether
 * it still runs (0 for NULL or a malformed one).
 */
char *proc_owner(pid_t pid);
int proc_owner_alive(const char *owner);
/*
 * Whether pid is still the process that started at start (its start
 * time, as proc_start_time() read it then): not gone, not a zombie and
 * not a new process that was given the same pid.
 */
int proc_same(pid_t pid, unsigned long long start);
/*
 * A pidfd of pid (pidfd_open(2): poll() finds it readable once the
 * process has exited, even one that is not our child; close-on-exec),
 * or -1 with berth_error().
 */
int proc_pidfd(pid_t pid);
/* The parent of pid; 0 when it is gone. */
pid_t proc_ppid(pid_t pid);
/* Whether pid is a zombie (exited, not yet reaped). */
int proc_zombie(pid_t pid);
/* Whether /proc/PID/comm is name. */
int proc_comm_is(pid_t pid, const char *name);
/*
 * /proc/PID/cmdline with its NULs turned into spaces, into buf; its
 * length, or -1 when the process is gone.
 */
ssize_t proc_cmdline(pid_t pid, char *buf, size_t size);
/*
 * Call fn for every process in /proc (pid > 0, in /proc's order) until
 * fn returns non-zero; returns that value, or 0.
 */
int proc_each(int (*fn)(pid_t pid, void *data), void *data);

#endif
