/*
 * test-applog.c - app logs against applog.h: the exact line format,
 * multi-line text, control characters and the 64 KiB cut, filters,
 * -n across log.1 and log, rotation keeping log + log.1, concurrent
 * writers from two processes, and following (new lines, filters,
 * rotation, a log that does not exist yet, a reader that went away).
 *
 * Each test gets a fresh server root in its own temp dir; the rotation
 * tests write berth.ini with [logs] max_size_kb = 16, the smallest cap.
 * Followers run in a thread writing to a pipe; the test reads the pipe
 * with a deadline, never sleeping to synchronise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "applog.h"
#include "names.h"
#include "util.h"

#define CAP_KB		16
#define DEADLINE_MS	4000
#define TS_LEN		32	/* "2026-11-26T13:23:22.123456+00:00" */
#define LINE_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}" \
	"\\.[0-9]{6}\\+00:00 [a-z]+\\[[A-Za-z0-9._-]+\\]: "

struct fixture {
	char *dir;
	struct berth_root r;
};

static int
setup_root(void **state, int cap_kb)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	fx->dir = xasprintf("%s/berth-test-applog-XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL)
		goto fail;
	if (cap_kb > 0) {
		char *ini = path_join(fx->dir, "berth.ini");
		char *text = xasprintf("[logs]\nmax_size_kb = %d\n", cap_kb);
		int rc = write_file_atomic(ini, text, strlen(text), 0644);

		free(ini);
		free(text);
		if (rc < 0)
			goto fail;
	}
	if (root_init(fx->dir, NULL) < 0 || root_open(&fx->r, fx->dir) < 0)
		goto fail;
	if (cap_kb > 0 && fx->r.cfg.log_max_kb != cap_kb) {
		root_close(&fx->r);
		goto fail;
	}
	*state = fx;
	return 0;
fail:
	fprintf(stderr, "# setup: %s\n", berth_last_error());
	rm_rf(fx->dir);
	free(fx->dir);
	free(fx);
	return -1;
}

static int
setup(void **state)
{
	return setup_root(state, 0);
}

static int
setup_small(void **state)
{
	return setup_root(state, CAP_KB);
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	root_close(&fx->r);
	rm_rf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

#define OK(call) do { \
	berth_clear_error(); \
	if ((call) != 0) \
		fail_msg("%s: %s", #call, berth_last_error()); \
} while (0)

/* ROOT/apps/APP/NAME, whole; "" when missing. Caller frees. */
static char *
slurp(struct fixture *fx, const char *app, const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	char *p = root_pathf(&fx->r, "apps/%s/%s", app, name);

	if (path_exists(p) && read_file(p, &sb, 0) < 0)
		fail_msg("read %s: %s", p, berth_last_error());
	free(p);
	return strbuf_detach(&sb);
}

static off_t
file_size(struct fixture *fx, const char *app, const char *name)
{
	char *p = root_pathf(&fx->r, "apps/%s/%s", app, name);
	struct stat st;
	off_t n = stat(p, &st) == 0 ? st.st_size : -1;

	free(p);
	return n;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/*
 * Every line of s must start with a well-formed stamp and tag; returns
 * s with the stamps cut ("app[web.1]: text\n..."). Caller frees.
 */
static char *
unstamp(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	regex_t re;
	const char *nl;

	assert_int_equal(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB), 0);
	for (; *s != '\0'; s = nl + 1) {
		char *line;

		nl = strchr(s, '\n');
		if (nl == NULL)
			fail_msg("unended line: %s", s);
		line = xstrndup(s, (size_t)(nl - s));
		if (regexec(&re, line, 0, NULL, 0) != 0)
			fail_msg("bad line: %s", line);
		strbuf_add(&sb, line + TS_LEN + 1, strlen(line) - TS_LEN - 1);
		strbuf_addch(&sb, '\n');
		free(line);
	}
	regfree(&re);
	return strbuf_detach(&sb);
}

/* slurp() without the stamps. Caller frees. */
static char *
slurp_plain(struct fixture *fx, const char *app, const char *name)
{
	char *s = slurp(fx, app, name);
	char *t = unstamp(s);

	free(s);
	return t;
}

/* applog_read into a string. Caller frees. */
static char *
read_log(struct fixture *fx, const char *app, int lines, const char *ps,
    const char *source)
{
	struct applog_filter f = { lines, ps, source };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	berth_clear_error();
	if (applog_read(&fx->r, app, &f, out) != 0)
		fail_msg("applog_read: %s", berth_last_error());
	fclose(out);
	return buf;
}

static char *
read_plain(struct fixture *fx, const char *app, int lines, const char *ps,
    const char *source)
{
	char *s = read_log(fx, app, lines, ps, source);
	char *t = unstamp(s);

	free(s);
	return t;
}

static void
test_line_format(void **state)
{
	struct fixture *fx = *state;
	char *log, *dir;
	struct stat st;
	struct tm tm;
	time_t t0 = time(NULL), t;
	regex_t re;

	OK(applog_append(&fx->r, "shop", "app", "web.1", "hello world"));
	log = slurp(fx, "shop", "log");
	assert_int_equal(regcomp(&re, LINE_RE "hello world\n$",
	    REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, log, 0, NULL, 0) != 0)
		fail_msg("bad line: %s", log);
	regfree(&re);
	assert_int_equal(strlen(log), TS_LEN + strlen(" app[web.1]: hello "
	    "world\n"));
	assert_string_equal(log + 26, "+00:00 app[web.1]: hello world\n");
	/* It is now, in UTC. */
	memset(&tm, 0, sizeof(tm));
	assert_non_null(strptime(log, "%Y-%m-%dT%H:%M:%S", &tm));
	t = timegm(&tm);
	assert_true(t >= t0 - 1 && t <= time(NULL) + 1);
	free(log);

	dir = root_path(&fx->r, "apps/shop");
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	free(dir);
	dir = root_path(&fx->r, "apps/shop/log");
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(dir);

	OK(applog_append(&fx->r, "shop", "berth", "router", "web.1 is up"));
	log = slurp_plain(fx, "shop", "log");
	assert_string_equal(log, "app[web.1]: hello world\n"
	    "berth[router]: web.1 is up\n");
	free(log);
}

static void
test_multiline(void **state)
{
	struct fixture *fx = *state;
	struct applog *l;
	char *log, *raw;

	OK(applog_open(&fx->r, "shop", &l));
	OK(applog_write(l, "app", "web.1", "one\ntwo\r\n\nthree\n"));
	OK(applog_write(l, "app", "web.1", ""));
	OK(applog_write(l, "app", "web.1", "\n"));
	OK(applog_write(l, "app", "web.1", "crlf\r"));
	OK(applog_write(l, "app", "web.1", "a\r\rb"));
	applog_close(l);
	raw = slurp(fx, "shop", "log");
	log = unstamp(raw);
	assert_string_equal(log,
	    "app[web.1]: one\n"
	    "app[web.1]: two\n"
	    "app[web.1]: \n"
	    "app[web.1]: three\n"
	    "app[web.1]: \n"
	    "app[web.1]: \n"
	    "app[web.1]: crlf\n"
	    "app[web.1]: a\\x0d\\x0db\n");
	/* The lines of one text share one stamp. */
	assert_memory_equal(raw, strchr(raw, '\n') + 1, TS_LEN);
	free(raw);
	free(log);
}

static void
test_control_chars_and_cut(void **state)
{
	struct fixture *fx = *state;
	struct strbuf sb = STRBUF_INIT;
	char *log, *text;
	size_t i, len;

	OK(applog_append(&fx->r, "shop", "app", "web.1",
	    "a\tb\x01" "c\x1b[31mred\x7f" "\xc3\xa9t\xc3\xa9"));
	log = slurp_plain(fx, "shop", "log");
	assert_string_equal(log, "app[web.1]: a\tb\\x01c\\x1b[31mred\\x7f"
	    "\xc3\xa9t\xc3\xa9\n");
	free(log);

	/* 70000 bytes cut to 65536 + "…". */
	text = xmalloc(70001);
	memset(text, 'x', 70000);
	text[70000] = '\0';
	OK(applog_append(&fx->r, "long", "app", "web.1", text));
	log = slurp_plain(fx, "long", "log");
	len = strlen("app[web.1]: ");
	assert_int_equal(strlen(log), len + 65536 + 3 + 1);
	assert_string_equal(log + len + 65536, "\xe2\x80\xa6\n");
	free(log);

	/* A cut in the middle of "é" keeps the UTF-8 valid. */
	strbuf_addch(&sb, 'y');
	for (i = 0; i < 40000; i++)
		strbuf_addstr(&sb, "\xc3\xa9");
	OK(applog_append(&fx->r, "utf", "app", "web.1", sb.buf));
	log = slurp(fx, "utf", "log");
	assert_true(utf8_valid(log, strlen(log)));
	assert_true(strlen(log) <= TS_LEN + 1 + len + 65536 + 3 + 1);
	assert_string_equal(log + strlen(log) - 6, "\xc3\xa9\xe2\x80\xa6\n");
	free(log);

	/* Escapes are not cut in half either. */
	memset(text, 1, 70000);
	OK(applog_append(&fx->r, "ctl", "app", "web.1", text));
	log = slurp_plain(fx, "ctl", "log");
	assert_int_equal(strlen(log), len + 65536 + 3 + 1);
	assert_string_equal(log + len + 65532, "\\x01\xe2\x80\xa6\n");
	free(log);
	free(text);
	strbuf_release(&sb);
}

static void
test_bad_input(void **state)
{
	struct fixture *fx = *state;
	struct applog_filter f = { 0, NULL, NULL };
	struct applog *l;

	berth_clear_error();
	assert_int_equal(applog_append(&fx->r, "../etc", "app", "web.1",
	    "x"), -1);
	assert_non_null(strstr(berth_last_error(), "app name"));
	assert_int_equal(applog_read(&fx->r, "a/b", &f, stdout), -1);
	OK(applog_open(&fx->r, "shop", &l));
	assert_int_equal(applog_write(l, "app", "web 1", "x"), -1);
	assert_string_equal(berth_last_error(), "log proc 'web 1' is not "
	    "valid: use 1-63 letters, digits, '.', '_' and '-'");
	assert_int_equal(applog_write(l, "", "web.1", "x"), -1);
	assert_int_equal(applog_write(l, "app]", "web.1", "x"), -1);
	assert_int_equal(applog_write(l, NULL, "web.1", "x"), -1);
	applog_close(l);
	assert_int_equal(file_size(fx, "shop", "log"), 0);
}

static void
write_mix(struct fixture *fx)
{
	struct applog *l;

	OK(applog_open(&fx->r, "shop", &l));
	OK(applog_write(l, "app", "web.1", "w1 a"));
	OK(applog_write(l, "app", "web.2", "w2 a"));
	OK(applog_write(l, "app", "worker.1", "k1 a"));
	OK(applog_write(l, "app", "webby.1", "y1 a"));
	OK(applog_write(l, "berth", "router", "r a"));
	OK(applog_write(l, "berth", "release", "v2"));
	OK(applog_write(l, "app", "web.1", "w1 b"));
	OK(applog_write(l, "app", "web.10", "w10 a"));
	OK(applog_write(l, "app", "web", "bare web"));
	applog_close(l);
}

static void
test_filters(void **state)
{
	struct fixture *fx = *state;
	char *s;

	write_mix(fx);
	s = read_plain(fx, "shop", 0, "web.1", NULL);
	assert_string_equal(s, "app[web.1]: w1 a\napp[web.1]: w1 b\n");
	free(s);
	s = read_plain(fx, "shop", 0, "web", NULL);
	assert_string_equal(s, "app[web.1]: w1 a\napp[web.2]: w2 a\n"
	    "app[web.1]: w1 b\napp[web.10]: w10 a\napp[web]: bare web\n");
	free(s);
	s = read_plain(fx, "shop", 0, NULL, "berth");
	assert_string_equal(s, "berth[router]: r a\nberth[release]: v2\n");
	free(s);
	s = read_plain(fx, "shop", 0, "router", "berth");
	assert_string_equal(s, "berth[router]: r a\n");
	free(s);
	s = read_plain(fx, "shop", 0, "router", "app");
	assert_string_equal(s, "");
	free(s);
	s = read_plain(fx, "shop", 0, "worker", "app");
	assert_string_equal(s, "app[worker.1]: k1 a\n");
	free(s);
	/* The last N *matching* lines. */
	s = read_plain(fx, "shop", 2, "web", NULL);
	assert_string_equal(s, "app[web.10]: w10 a\napp[web]: bare web\n");
	free(s);
	s = read_plain(fx, "shop", 3, NULL, NULL);
	assert_string_equal(s, "app[web.1]: w1 b\napp[web.10]: w10 a\n"
	    "app[web]: bare web\n");
	free(s);
	s = read_plain(fx, "shop", 0, NULL, NULL);
	assert_int_equal(count_lines(s), 9);
	free(s);
	/* An app with no log yet prints nothing. */
	s = read_log(fx, "nolog", 0, NULL, NULL);
	assert_string_equal(s, "");
	free(s);
}

static void
test_default_100_and_long_lines(void **state)
{
	struct fixture *fx = *state;
	struct applog *l;
	char *s, *big, want[64];
	int i;

	/* Lines longer than the 64 KiB read block, between short ones. */
	big = xmalloc(100001);
	memset(big, 'z', 100000);
	big[100000] = '\0';
	OK(applog_open(&fx->r, "shop", &l));
	for (i = 0; i < 3000; i++) {
		char t[32];

		snprintf(t, sizeof(t), "line %d", i);
		OK(applog_write(l, "app", "web.1", t));
		if (i == 2995 || i == 2996)
			OK(applog_write(l, "app", "big.1", big));
	}
	applog_close(l);
	s = read_plain(fx, "shop", 0, NULL, NULL);
	assert_int_equal(count_lines(s), 100);
	assert_int_equal(strncmp(s, "app[web.1]: line 2902\n", 22), 0);
	free(s);
	s = read_plain(fx, "shop", 6, NULL, NULL);
	assert_int_equal(count_lines(s), 6);
	assert_non_null(strstr(s, "app[big.1]: zzz"));
	snprintf(want, sizeof(want), "app[web.1]: line 2999\n");
	assert_string_equal(s + strlen(s) - strlen(want), want);
	free(s);
	s = read_plain(fx, "shop", 3, "big", NULL);
	assert_int_equal(count_lines(s), 2);
	assert_int_equal(strlen(s), 2 * (strlen("app[big.1]: ") + 65536 +
	    3 + 1));
	free(s);
	s = read_plain(fx, "shop", 1000000, "web.1", NULL);
	assert_int_equal(count_lines(s), 3000);
	assert_int_equal(strncmp(s, "app[web.1]: line 0\n", 19), 0);
	free(s);
	free(big);
}

/* Write lines "n N" padded to ~100 bytes; returns how many. */
static void
write_numbered(struct fixture *fx, const char *app, int from, int to)
{
	struct applog *l;
	char t[128];
	int i;

	OK(applog_open(&fx->r, app, &l));
	for (i = from; i < to; i++) {
		snprintf(t, sizeof(t), "n %d %s", i,
		    "................................................");
		OK(applog_write(l, "app", "web.1", t));
	}
	applog_close(l);
}

/* s must be lines "... n K ..." for K = first, first+1, ... last. */
static void
assert_run(const char *s, int first, int last)
{
	int k = first;
	const char *p;

	for (p = s; *p != '\0'; p = strchr(p, '\n') + 1, k++) {
		int got;

		if (sscanf(p, "app[web.1]: n %d ", &got) != 1 || got != k)
			fail_msg("want line %d, got: %.40s", k, p);
	}
	assert_int_equal(k - 1, last);
}

static void
test_read_across_rotation(void **state)
{
	struct fixture *fx = *state;
	size_t in_log, in_log1;
	char *s;

	write_numbered(fx, "shop", 0, 400);
	s = slurp(fx, "shop", "log");
	in_log = count_lines(s);
	free(s);
	s = slurp(fx, "shop", "log.1");
	in_log1 = count_lines(s);
	free(s);
	assert_true(in_log > 0 && in_log < 150);
	assert_true(in_log + in_log1 >= 150 && in_log + in_log1 < 400);
	/* -n 150 needs log.1's newest lines, then all of log. */
	s = read_plain(fx, "shop", 150, NULL, NULL);
	assert_int_equal(count_lines(s), 150);
	assert_run(s, 250, 399);
	free(s);
	/* More than both hold: everything kept, in order. */
	s = read_plain(fx, "shop", 1000, NULL, NULL);
	assert_int_equal(count_lines(s), in_log + in_log1);
	assert_run(s, 400 - (int)(in_log + in_log1), 399);
	free(s);
	/* Exactly what log holds: log.1 not needed. */
	s = read_plain(fx, "shop", (int)in_log, NULL, NULL);
	assert_run(s, 400 - (int)in_log, 399);
	free(s);
}

static size_t
dir_entries(struct fixture *fx, const char *app, char *names, size_t n)
{
	char *p = root_pathf(&fx->r, "apps/%s", app);
	DIR *d = opendir(p);
	struct dirent *de;
	size_t nr = 0;

	assert_non_null(d);
	names[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..")
		    == 0)
			continue;
		nr++;
		strncat(names, de->d_name, n - strlen(names) - 2);
		strcat(names, " ");
	}
	closedir(d);
	free(p);
	return nr;
}

static void
test_rotation_keeps_two_files(void **state)
{
	struct fixture *fx = *state;
	off_t cap = CAP_KB * 1024, line = 200;
	char names[256];
	int round;

	for (round = 0; round < 5; round++) {
		write_numbered(fx, "shop", round * 300, round * 300 + 300);
		assert_int_equal(dir_entries(fx, "shop", names,
		    sizeof(names)), 2);
		assert_true(strstr(names, "log ") != NULL &&
		    strstr(names, "log.1 ") != NULL);
		assert_true(file_size(fx, "shop", "log") <= cap);
		assert_true(file_size(fx, "shop", "log.1") > cap);
		assert_true(file_size(fx, "shop", "log.1") <= cap + line);
	}
}

/* A log that cannot rotate keeps every line and says why. */
static void
test_rotation_failure(void **state)
{
	struct fixture *fx = *state;
	struct applog *l;
	char *p, *s, t[128];
	int i, failed = 0;

	p = root_path(&fx->r, "apps/shop/log.1/x");
	assert_int_equal(mkdir_p(p, 0750), 0);	/* log.1: a full dir */
	free(p);
	OK(applog_open(&fx->r, "shop", &l));
	for (i = 0; i < 300; i++) {
		snprintf(t, sizeof(t), "n %d %s", i,
		    "................................................");
		berth_clear_error();
		if (applog_write(l, "app", "web.1", t) < 0) {
			failed++;
			assert_non_null(strstr(berth_last_error(),
			    "cannot rotate"));
		}
	}
	applog_close(l);
	assert_true(failed > 0 && failed < 300);
	s = slurp_plain(fx, "shop", "log");
	assert_run(s, 0, 299);
	free(s);
}

/* In a child: write n lines "TAG i"; _exit status says how it went. */
static void
child_write(struct fixture *fx, const char *tag, int n, int go_fd)
{
	struct applog *l;
	char t[128], c;
	int i;

	if (go_fd >= 0 && read(go_fd, &c, 1) != 1)
		_exit(2);
	if (applog_open(&fx->r, "shop", &l) < 0)
		_exit(3);
	for (i = 0; i < n; i++) {
		snprintf(t, sizeof(t), "%s %d %s", tag, i,
		    "padding padding padding padding padding padding");
		if (applog_write(l, "app", tag, t) < 0)
			_exit(4);
	}
	applog_close(l);
	_exit(0);
}

static void
wait_child(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Two writers at once; returns both files' lines, log.1 first. */
static char *
two_writers(struct fixture *fx, int n)
{
	int go[2];
	pid_t a, b;
	char *s1, *s, *all;

	assert_int_equal(pipe(go), 0);
	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		close(go[1]);
		child_write(fx, "one", n, go[0]);
	}
	b = fork();
	assert_true(b >= 0);
	if (b == 0) {
		close(go[1]);
		child_write(fx, "two", n, go[0]);
	}
	close(go[0]);
	assert_int_equal(write(go[1], "gg", 2), 2);	/* start together */
	close(go[1]);
	wait_child(a);
	wait_child(b);
	s1 = slurp(fx, "shop", "log.1");
	s = slurp(fx, "shop", "log");
	all = xasprintf("%s%s", s1, s);
	free(s1);
	free(s);
	return all;
}

/* Each line intact, each writer's lines in order with no gap. */
static void
check_intact(const char *all, int *n_one, int *n_two)
{
	char *plain = unstamp(all), *p, *nl;
	int next_one = -1, next_two = -1;

	for (p = plain; *p != '\0'; p = nl + 1) {
		char tag[8], want[160];
		int i, *next;

		nl = strchr(p, '\n');
		if (sscanf(p, "app[%3[a-z]]: %*s %d ", tag, &i) != 2)
			fail_msg("bad line %.80s", p);
		snprintf(want, sizeof(want), "app[%s]: %s %d %s\n", tag, tag, i,
		    "padding padding padding padding padding padding");
		if (strncmp(p, want, strlen(want)) != 0)
			fail_msg("torn line %.*s", (int)(nl - p), p);
		next = strcmp(tag, "one") == 0 ? &next_one : &next_two;
		if (*next >= 0 && i != *next)
			fail_msg("%s: want %d, got %d", tag, *next, i);
		*next = i + 1;
		if (next == &next_one)
			(*n_one)++;
		else
			(*n_two)++;
	}
	free(plain);
}

static void
test_concurrent_writers(void **state)
{
	struct fixture *fx = *state;
	int n_one = 0, n_two = 0;
	char *all = two_writers(fx, 1000);

	assert_int_equal(count_lines(all), 2000);
	check_intact(all, &n_one, &n_two);
	assert_int_equal(n_one, 1000);
	assert_int_equal(n_two, 1000);
	free(all);
}

static void
test_concurrent_rotation(void **state)
{
	struct fixture *fx = *state;
	int n_one = 0, n_two = 0;
	char names[256], *all = two_writers(fx, 1000);

	/* ~220 KB through a 16 KiB cap: many rotations, never a double
	 * one (that would leave a small log.1), never a torn line. */
	check_intact(all, &n_one, &n_two);
	assert_true(n_one + n_two > 100);
	assert_int_equal(dir_entries(fx, "shop", names, sizeof(names)), 2);
	assert_true(file_size(fx, "shop", "log.1") > CAP_KB * 1024);
	assert_true(file_size(fx, "shop", "log") <= CAP_KB * 1024 + 200);
	free(all);
}

/*
 * Following: applog_follow() runs in a thread, writing to a pipe that
 * the test reads with a deadline.
 */
struct follower {
	struct berth_root *r;
	const char *app;
	struct applog_filter f;
	FILE *out;
	int rfd;
	volatile sig_atomic_t stop;
	int ret;
	char err[256];
	pthread_t th;
	struct strbuf got;
};

static void *
follow_main(void *arg)
{
	struct follower *fl = arg;

	fl->ret = applog_follow(fl->r, fl->app, &fl->f, fl->out, &fl->stop);
	if (fl->ret != 0)
		snprintf(fl->err, sizeof(fl->err), "%s", berth_last_error());
	fclose(fl->out);
	return NULL;
}

static void
follow_start(struct follower *fl, struct fixture *fx, const char *app,
    int lines, const char *ps)
{
	int p[2];

	memset(fl, 0, sizeof(*fl));
	strbuf_init(&fl->got);
	fl->r = &fx->r;
	fl->app = app;
	fl->f.lines = lines;
	fl->f.ps = ps;
	assert_int_equal(pipe(p), 0);
	fl->rfd = p[0];
	fl->out = fdopen(p[1], "w");
	assert_non_null(fl->out);
	assert_int_equal(pthread_create(&fl->th, NULL, follow_main, fl), 0);
}

/* Read until fl->got holds n lines; fails at the deadline. */
static void
follow_wait(struct follower *fl, size_t n, int64_t deadline)
{
	char buf[4096];

	while (count_lines(strbuf_str(&fl->got)) < n) {
		struct pollfd pfd = { fl->rfd, POLLIN, 0 };
		int64_t left = deadline - now_ms();
		ssize_t k;

		if (left <= 0)
			fail_msg("follow: want %zu lines by the deadline, "
			    "got %zu:\n%s", n, count_lines(strbuf_str(
			    &fl->got)), strbuf_str(&fl->got));
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		k = read(fl->rfd, buf, sizeof(buf));
		if (k <= 0)
			fail_msg("follow ended early (%s): got\n%s", fl->err,
			    strbuf_str(&fl->got));
		strbuf_add(&fl->got, buf, (size_t)k);
	}
}

/* Stop the follower, take whatever else it wrote; returns the text
 * without stamps. Caller frees. */
static char *
follow_stop(struct follower *fl)
{
	char buf[4096], *plain;
	ssize_t k;

	fl->stop = 1;
	assert_int_equal(pthread_join(fl->th, NULL), 0);
	while ((k = read(fl->rfd, buf, sizeof(buf))) > 0)
		strbuf_add(&fl->got, buf, (size_t)k);
	close(fl->rfd);
	if (fl->ret != 0)
		fail_msg("applog_follow: %s", fl->err);
	plain = unstamp(strbuf_str(&fl->got));
	strbuf_release(&fl->got);
	return plain;
}

static void
test_follow(void **state)
{
	struct fixture *fx = *state;
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct follower fl;
	int go[2];
	pid_t pid;
	char *s;

	OK(applog_append(&fx->r, "shop", "app", "web.1", "old 1"));
	OK(applog_append(&fx->r, "shop", "app", "web.1", "old 2"));
	OK(applog_append(&fx->r, "shop", "app", "worker.1", "old w"));
	OK(applog_append(&fx->r, "shop", "app", "web.2", "old 3"));
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct applog *l;
		char c, t[32];
		int i;

		close(go[1]);
		if (read(go[0], &c, 1) != 1 ||
		    applog_open(&fx->r, "shop", &l) < 0)
			_exit(2);
		for (i = 0; i < 5; i++) {
			snprintf(t, sizeof(t), "new %d", i);
			if (applog_write(l, "app", i % 2 ? "worker.1" :
			    "web.3", t) < 0 ||
			    applog_write(l, "app", "web.1", "a\nb") < 0)
				_exit(3);
		}
		applog_close(l);
		_exit(0);
	}
	close(go[0]);
	follow_start(&fl, fx, "shop", 2, "web");
	/* The last two web lines first; then the writer may start. */
	follow_wait(&fl, 2, deadline);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	follow_wait(&fl, 2 + 3 + 10, deadline);
	wait_child(pid);
	s = follow_stop(&fl);
	assert_string_equal(s,
	    "app[web.1]: old 2\n"
	    "app[web.2]: old 3\n"
	    "app[web.3]: new 0\n" "app[web.1]: a\n" "app[web.1]: b\n"
	    "app[web.1]: a\n" "app[web.1]: b\n"
	    "app[web.3]: new 2\n" "app[web.1]: a\n" "app[web.1]: b\n"
	    "app[web.1]: a\n" "app[web.1]: b\n"
	    "app[web.3]: new 4\n" "app[web.1]: a\n" "app[web.1]: b\n");
	free(s);
}

static void
test_follow_rotation(void **state)
{
	struct fixture *fx = *state;
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct follower fl;
	int go[2], ack[2], i, n = 60;
	pid_t pid;
	char *s, *want_log1;

	OK(applog_append(&fx->r, "shop", "berth", "api", "ready"));
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ack), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* ~1 KiB lines, one at a time, each seen before the next:
		 * 60 KiB is ~3 rotations of the 16 KiB log. */
		struct applog *l;
		char c, t[1100];

		close(go[1]);
		close(ack[1]);
		if (read(go[0], &c, 1) != 1 ||
		    applog_open(&fx->r, "shop", &l) < 0)
			_exit(2);
		for (i = 0; i < n; i++) {
			size_t k = (size_t)snprintf(t, sizeof(t), "n %d ", i);

			memset(t + k, '.', 1000);
			t[k + 1000] = '\0';
			if (applog_write(l, "app", "web.1", t) < 0 ||
			    read(ack[0], &c, 1) != 1)
				_exit(3);
		}
		applog_close(l);
		_exit(0);
	}
	close(go[0]);
	close(ack[0]);
	follow_start(&fl, fx, "shop", 10, NULL);
	follow_wait(&fl, 1, deadline);
	assert_int_equal(write(go[1], "g", 1), 1);
	for (i = 0; i < n; i++) {
		follow_wait(&fl, (size_t)i + 2, deadline);
		assert_int_equal(write(ack[1], "a", 1), 1);
	}
	close(go[1]);
	close(ack[1]);
	wait_child(pid);
	want_log1 = slurp(fx, "shop", "log.1");
	assert_true(strlen(want_log1) > 0);	/* it did rotate */
	free(want_log1);
	s = follow_stop(&fl);
	assert_int_equal(strncmp(s, "berth[api]: ready\n", 18), 0);
	assert_run(s + 18, 0, n - 1);
	free(s);
}

static volatile sig_atomic_t child_stop;

static void
on_term(int sig)
{
	(void)sig;
	child_stop = 1;
}

/*
 * A follower that sleeps (SIGSTOP) through two rotations finds its old
 * file, then log.1 (which it never saw), then log: no line missed.
 */
static void
test_follow_missed_rotations(void **state)
{
	struct fixture *fx = *state;
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct follower fl;
	int p[2], status;
	pid_t pid;
	char *s;

	OK(applog_append(&fx->r, "shop", "berth", "api", "ready"));
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct applog_filter f = { 0, NULL, NULL };
		struct sigaction sa;
		FILE *out;
		int rc;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		close(p[0]);
		out = fdopen(p[1], "w");
		rc = applog_follow(&fx->r, "shop", &f, out, &child_stop);
		fclose(out);
		_exit(rc == 0 ? 0 : 1);
	}
	close(p[1]);
	memset(&fl, 0, sizeof(fl));
	strbuf_init(&fl.got);
	fl.rfd = p[0];
	follow_wait(&fl, 1, deadline);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFSTOPPED(status));
	write_numbered(fx, "shop", 0, 400);	/* ~2.4 logs of 16 KiB */
	assert_int_equal(kill(pid, SIGCONT), 0);
	follow_wait(&fl, 401, deadline);
	assert_int_equal(kill(pid, SIGTERM), 0);
	wait_child(pid);
	{
		char buf[4096];
		ssize_t k;

		while ((k = read(fl.rfd, buf, sizeof(buf))) > 0)
			strbuf_add(&fl.got, buf, (size_t)k);
	}
	close(fl.rfd);
	s = unstamp(strbuf_str(&fl.got));
	strbuf_release(&fl.got);
	assert_int_equal(strncmp(s, "berth[api]: ready\n", 18), 0);
	assert_run(s + 18, 0, 399);
	free(s);
}

static void
test_follow_waits_for_log(void **state)
{
	struct fixture *fx = *state;
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct follower fl;
	int go[2];
	pid_t pid;
	char *s, *dir, c;

	/* No apps/late/ yet: the follower waits for it to appear. */
	dir = root_path(&fx->r, "apps/late");
	assert_false(path_exists(dir));
	free(dir);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1 ||
		    applog_append(&fx->r, "late", "berth", "release",
		    "first") < 0 ||
		    applog_append(&fx->r, "late", "app", "web.1",
		    "second\nthird") < 0)
			_exit(3);
		_exit(0);
	}
	/* Fork first: no child of a threaded parent. */
	close(go[0]);
	follow_start(&fl, fx, "late", 0, NULL);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	follow_wait(&fl, 3, deadline);
	wait_child(pid);
	s = follow_stop(&fl);
	assert_string_equal(s, "berth[release]: first\napp[web.1]: second\n"
	    "app[web.1]: third\n");
	free(s);
}

static void
test_follow_reader_gone(void **state)
{
	struct fixture *fx = *state;
	struct applog_filter f = { 0, NULL, NULL };
	volatile sig_atomic_t stop = 0;
	FILE *out;
	int p[2], rc;

	OK(applog_append(&fx->r, "shop", "app", "web.1", "hello"));
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	out = fdopen(p[1], "w");
	assert_non_null(out);
	berth_clear_error();
	rc = applog_follow(&fx->r, "shop", &f, out, &stop);
	assert_int_equal(rc, -1);
	assert_int_equal(errno, EPIPE);
	fclose(out);
	/* No line to write: the reader going away still ends it. */
	{
		struct follower fl;
		struct timespec ts;
		char *t;

		follow_start(&fl, fx, "quiet", 0, NULL);
		close(fl.rfd);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += DEADLINE_MS / 1000;
		if (pthread_timedjoin_np(fl.th, NULL, &ts) != 0) {
			fl.stop = 1;
			pthread_join(fl.th, NULL);
			fail_msg("follow kept on after its reader left");
		}
		assert_int_equal(fl.ret, -1);
		assert_non_null(strstr(fl.err, "Broken pipe"));
		t = strbuf_detach(&fl.got);
		free(t);
	}
	/* A stop flag already set ends it after the first read. */
	out = fopen("/dev/null", "w");
	stop = 1;
	OK(applog_follow(&fx->r, "shop", &f, out, &stop));
	fclose(out);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define S(fn) cmocka_unit_test_setup_teardown(fn, setup_small, teardown)
	const struct CMUnitTest tests[] = {
		T(test_line_format),
		T(test_multiline),
		T(test_control_chars_and_cut),
		T(test_bad_input),
		T(test_filters),
		T(test_default_100_and_long_lines),
		S(test_read_across_rotation),
		S(test_rotation_keeps_two_files),
		S(test_rotation_failure),
		T(test_concurrent_writers),
		S(test_concurrent_rotation),
		T(test_follow),
		S(test_follow_rotation),
		S(test_follow_missed_rotations),
		T(test_follow_waits_for_log),
		T(test_follow_reader_gone),
	};

	signal(SIGPIPE, SIG_IGN);
	umask(022);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
