/*
 * util.h - the small pieces every berth module uses: one error slot,
 * a growable string (strbuf), an argv/env vector (strvec), and file
 * system helpers. Library code returns -1 after berth_error(); only the
 * main() of each binary decides to print and exit.
 */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define BERTH_ATTR_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * Record a one-line error for the caller to show; always returns -1.
 * The arguments may include berth_last_error() (to add context).
 */
int berth_error(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);
/* Like berth_error() but appends ": strerror(errno)". */
int berth_error_errno(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);
/* The last recorded error ("" when none). */
const char *berth_last_error(void);
/*
 * s with the password of every URL in it hidden (user:PASSWORD@host
 * becomes user:[three stars]@host, a token alone is all stars): every
 * message goes through it.
 * Caller frees.
 */
char *redact_userinfo(const char *s);
void berth_clear_error(void);

/* Allocation that never returns NULL (aborts on out of memory). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);

/* A growable, always NUL-terminated string. */
struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
};
#define STRBUF_INIT { NULL, 0, 0 }
void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
/* Hand the buffer to the caller (never NULL) and reset sb. */
char *strbuf_detach(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
    BERTH_ATTR_PRINTF(2, 3);
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* Buffer's contents ("" when empty; never NULL). */
const char *strbuf_str(const struct strbuf *sb);
void strbuf_rtrim(struct strbuf *sb);
/*
 * Take the complete lines out of pending, output as it comes in, and
 * give each to fn without its '\n' (or a '\r' before it); the rest
 * waits for more. With flush, or past 64 KiB, the rest goes as a line
 * too (a longer line arrives in pieces).
 */
void strbuf_take_lines(struct strbuf *pending, int flush,
    void (*fn)(const char *line, void *data), void *data);
/*
 * Read what waits on fd (non-blocking) into pending and give its lines
 * to fn, as strbuf_take_lines() does. 1 at EOF or on a read error, once
 * the rest went as a line too; 0 when nothing more waits.
 */
int fd_read_lines(int fd, struct strbuf *pending,
    void (*fn)(const char *line, void *data), void *data);

/* A NULL-terminated vector of owned strings: argv and envp. */
struct strvec {
	char **v;
	size_t nr;
	size_t alloc;
};
#define STRVEC_INIT { NULL, 0, 0 }
void strvec_push(struct strvec *sv, const char *s);
void strvec_pushf(struct strvec *sv, const char *fmt, ...)
    BERTH_ATTR_PRINTF(2, 3);
void strvec_clear(struct strvec *sv);
/* The NULL-terminated array (a valid empty one when nothing was pushed). */
char **strvec_argv(struct strvec *sv);

/* Read a whole file (adds a NUL); -1 with errno-based error if it fails. */
int read_file(const char *path, struct strbuf *out, size_t max);
/* The same from an open fd (name for messages), to its end. */
int read_fd(int fd, const char *name, struct strbuf *out, size_t max);
/*
 * read_file() for a file at the top of a pushed tree (Procfile,
 * app.json...): refuses a symlink or anything but a regular file (a
 * link to /etc/passwd or to a pipe) with file_not_a_file(), and names
 * the file as the repo does (its last component), never the path.
 */
int read_file_regular(const char *path, struct strbuf *out, size_t max);
/* berth_error() "NAME is larger than 1 MB" (max as human_size()): -1. */
int file_too_large(const char *name, size_t max);
/*
 * berth_error() "NAME is WHAT; it must be a file" ("a directory", "a
 * symbolic link"): the one message for a file of a pushed tree that is
 * none, read from a checkout or from git. Returns -1.
 */
int file_not_a_file(const char *name, const char *what);
/* Write data to path via path.tmp + rename, with the given mode. */
int write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode);
/*
 * write_file_atomic() unless path holds exactly data already (nothing
 * is written then, so it works on a full disk): 1 written, 0 unchanged.
 */
int write_file_changed(const char *path, const void *data, size_t len,
    mode_t mode);
/*
 * The same without waiting for the disk (no fsync): for a file that
 * only describes running processes, which no crash of the machine
 * outlives.
 */
int write_file_volatile(const char *path, const void *data, size_t len,
    mode_t mode);
/* write() all of data, again after EINTR; -1 with errno. */
int fd_write_all(int fd, const void *data, size_t len);
int mkdir_p(const char *path, mode_t mode);
/* Create or truncate path, mode 0600 from the start, for writing. */
FILE *fopen_private(const char *path);
/* Remove a tree (works on read-only trees, which sealed slugs are). */
int rm_rf(const char *path);
/* Copy a directory tree (regular files, dirs, symlinks); keeps modes. */
int copy_tree(const char *from, const char *to);
/* Total size in bytes of regular files under path. */
int64_t tree_size(const char *path);
/*
 * Call fn(fd, st, data) for path and everything below it, each
 * directory after what it holds, fd an O_PATH fd of the entry itself
 * (a symlink is never followed, and a directory is descended from its
 * parent's fd: one that app code swaps for a link meanwhile leads
 * nowhere), st its fstat. Stops at the first fn that returns non-zero
 * and returns that; -1 (errno) when an entry cannot be opened.
 */
typedef int (*tree_fn)(int fd, const struct stat *st, void *data);
int walk_tree(const char *path, tree_fn fn, void *data);
/* chmod the file an O_PATH fd holds (not a symlink: EOPNOTSUPP). */
int fd_chmod(int fd, mode_t mode);
/* Whether path exists (any type). */
int path_exists(const char *path);
/*
 * Whether path (links followed) is a regular file: 0 when it is, 1 when
 * nothing is there, -1 with berth_error() "PATH is a FIFO, not a regular
 * file; FIX" (a FIFO would block its reader for ever), or naming where
 * a link to nothing points, or why path cannot be looked at.
 */
int path_regular(const char *path, const char *fix);
int is_dir(const char *path);
/* "path/name" joined; caller frees. */
char *path_join(const char *a, const char *b);
/*
 * One of berth's helper programs (berth-monitor, berth-enter): $ENV
 * when set to an absolute path (tests), else the one next to this
 * program (a build tree), else the installed LIBEXECDIR/NAME. Caller
 * frees.
 */
char *helper_program(const char *name, const char *env);
/*
 * For a child between fork and exec (async-signal-safe, no malloc):
 * append the decimal digits of v to buf at *n; and write len bytes of
 * data to the existing file path in one write (a /proc id map), 0 or
 * -1 with errno.
 */
void put_ulong(char *buf, size_t *n, unsigned long v);
int write_small(const char *path, const char *data, size_t len);
/* Absolute, symlink-free path of an existing path; caller frees. */
char *path_real(const char *path);

/*
 * Whether connected socket fd is connected to itself: a TCP connect()
 * to a free loopback port inside the ephemeral range may pick that very
 * port as its source and "succeed" (simultaneous open), with nothing
 * listening.
 */
int socket_connected_to_self(int fd);

/* Current time as "2026-11-26T13:23:22Z" (UTC) into buf[32]. */
void now_iso(char buf[32]);
/* A line "TIME PROG[PID]: text" on stderr: a daemon's own log. */
void log_say(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);
/* Run fn(arg) in a thread that nobody joins; 0, or -1 when none could
 * be made. */
int detached(void *(*fn)(void *), void *arg);
/* Monotonic milliseconds, and microseconds. */
int64_t now_ms(void);
int64_t now_us(void);
/* n random bytes as 2n lowercase hex chars into out[2n+1]. */
int random_hex(char *out, size_t nbytes);
/* "4.1 MB" style size ("1 MB" when it is one exactly). buf has 32 bytes. */
void human_size(int64_t bytes, char buf[32]);
/*
 * A size as berth.ini and ps:resize write it: NNN bytes or NNN[KMG]
 * (K, M, G: 1024, 1024^2, 1024^3; lowercase too), from 1 to 1 TiB
 * (SIZE_MAX_BYTES). 0, or -1 when s is not one (no message: the
 * caller names what it was for).
 */
#define SIZE_MAX_BYTES (1LL << 40)
int size_parse(const char *s, int64_t *out);
/* bytes in the largest unit that divides it ("512M", "1G"); buf[32]. */
void size_format(int64_t bytes, char buf[32]);
/*
 * The next line of a text file being read from *p to end (a UTF-8 BOM
 * skipped at its top, where *lineno is 0): *start and *stop bound it,
 * without its newline and a CR before that; *p moves past its newline
 * and *lineno counts it. 0 when no line is left.
 */
int text_line(const char **p, const char *end, int *lineno,
    const char **start, const char **stop);
/* The same, with blanks trimmed from both ends (and CRs from its end). */
int text_next_line(const char **p, const char *end, int *lineno,
    const char **start, const char **stop);

#endif
