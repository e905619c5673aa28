/*
 * test-config.c - berth.ini: defaults, every key, warnings and errors
 * with their line numbers, inih's long-line trap, a dyno port range
 * that overlaps the kernel's ephemeral ports, and a berth.ini that is
 * a FIFO or a link to nothing.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "runtime.h"
#include "util.h"

/* Warnings collected by collect_warn(), each followed by '\n'. */
static struct strbuf warnings = STRBUF_INIT;

static void
collect_warn(const char *msg, void *data)
{
	int *count = data;

	(*count)++;
	strbuf_addstr(&warnings, msg);
	strbuf_addch(&warnings, '\n');
}

static int
setup(void **state)
{
	struct berth_config *cfg = xcalloc(1, sizeof(*cfg));

	config_defaults(cfg);
	strbuf_reset(&warnings);
	berth_clear_error();
	*state = cfg;
	return 0;
}

static int
teardown(void **state)
{
	struct berth_config *cfg = *state;

	config_clear(cfg);
	free(cfg);
	strbuf_release(&warnings);
	return 0;
}

static void
assert_defaults(const struct berth_config *cfg)
{
	assert_string_equal(cfg->domain, "localhost");
	assert_int_equal(cfg->log_level, BERTH_LOG_INFO);
	assert_int_equal(cfg->build_timeout, 900);
	assert_int_equal(cfg->buildpacks.nr, 0);
	assert_string_equal(cfg->runtime_backend, "local");
}

/* Load text, which must fail with exactly msg and leave cfg alone. */
static void
load_fails(struct berth_config *cfg, const char *text, const char *msg)
{
	berth_clear_error();
	assert_int_equal(config_load_string(cfg, text, "berth.ini", NULL,
	    NULL), -1);
	assert_string_equal(berth_last_error(), msg);
	assert_defaults(cfg);
}

static void
test_defaults(void **state)
{
	(void)state;
	assert_defaults(*state);
}

static void
test_all_keys(void **state)
{
	struct berth_config *cfg = *state;
	int count = 0;

	assert_int_equal(config_load_string(cfg,
	    "; berth\n"
	    "[server]\n"
	    "domain = apps.example.com\n"
	    "log_level = debug ; inline comment\n"
	    "\n"
	    "[build]\n"
	    "timeout=60\n"
	    "buildpacks = nodejs, python ,go-1.x,ruby_3\n",
	    "berth.ini", collect_warn, &count), 0);
	assert_int_equal(count, 0);
	assert_string_equal(cfg->domain, "apps.example.com");
	assert_int_equal(cfg->log_level, BERTH_LOG_DEBUG);
	assert_int_equal(cfg->build_timeout, 60);
	assert_int_equal(cfg->buildpacks.nr, 4);
	assert_string_equal(cfg->buildpacks.v[0], "nodejs");
	assert_string_equal(cfg->buildpacks.v[1], "python");
	assert_string_equal(cfg->buildpacks.v[2], "go-1.x");
	assert_string_equal(cfg->buildpacks.v[3], "ruby_3");
	assert_null(cfg->buildpacks.v[4]);
}

static void
test_log_levels_and_limits(void **state)
{
	struct berth_config *cfg = *state;

	assert_int_equal(config_load_string(cfg, "[server]\nlog_level=error\n"
	    "[build]\ntimeout = 1\n", "berth.ini", NULL, NULL), 0);
	assert_int_equal(cfg->log_level, BERTH_LOG_ERROR);
	assert_int_equal(cfg->build_timeout, 1);
	assert_int_equal(config_load_string(cfg, "[server]\nlog_level=warn\n"
	    "[build]\ntimeout = 86400\n", "berth.ini", NULL, NULL), 0);
	assert_int_equal(cfg->log_level, BERTH_LOG_WARN);
	assert_int_equal(cfg->build_timeout, 86400);
	/* A later load starts from what the earlier one left. */
	assert_int_equal(config_load_string(cfg, "[server]\nlog_level=info\n",
	    "berth.ini", NULL, NULL), 0);
	assert_int_equal(cfg->log_level, BERTH_LOG_INFO);
	assert_int_equal(cfg->build_timeout, 86400);
}

/* CRLF, a BOM, indentation and "key: value" all work. */
static void
test_format_variants(void **state)
{
	struct berth_config *cfg = *state;

	assert_int_equal(config_load_string(cfg, "\xef\xbb\xbf[server]\r\n"
	    "   domain = a.test\r\n\tlog_level: warn\r\n# hash comment\r\n"
	    "[build]\r\n  buildpacks =\r\n", "berth.ini", NULL, NULL), 0);
	assert_string_equal(cfg->domain, "a.test");
	assert_int_equal(cfg->log_level, BERTH_LOG_WARN);
	assert_int_equal(cfg->buildpacks.nr, 0);
	assert_int_equal(config_load_string(cfg, "[build]\nbuildpacks = a,b\n"
	    "buildpacks = c\n", "berth.ini", NULL, NULL), 0);
	assert_int_equal(cfg->buildpacks.nr, 1);
	assert_string_equal(cfg->buildpacks.v[0], "c");
}

static void
test_unknown_keys_warn(void **state)
{
	struct berth_config *cfg = *state;
	int count = 0;

	assert_int_equal(config_load_string(cfg,
	    "stray = 1\n"
	    "[server]\n"
	    "domain = x.test\n"
	    "\n"
	    "port = 80\n"
	    "[buidl]\n"
	    "timeout = 5\n"
	    "[build]\n"
	    "timeout = 30\n",
	    "berth.ini", collect_warn, &count), 0);
	assert_int_equal(count, 3);
	assert_string_equal(strbuf_str(&warnings),
	    "berth.ini line 1: unknown key 'stray' ignored; keys belong under "
	    "a section such as [server] (see berth.ini(5))\n"
	    "berth.ini line 5: unknown key 'server.port' ignored\n"
	    "berth.ini line 7: unknown key 'buidl.timeout' ignored\n");
	assert_string_equal(cfg->domain, "x.test");
	assert_int_equal(cfg->build_timeout, 30);
	/* No callback: unknown keys are ignored quietly. */
	assert_int_equal(config_load_string(cfg, "[x]\ny = 1\n", "berth.ini",
	    NULL, NULL), 0);
}

static void
test_bad_timeout(void **state)
{
	struct berth_config *cfg = *state;
	static const char *const bad[] = {
		"abc", "0", "86401", "-5", "+5", "1.5", "9e2", "10s", "",
		"99999999999999999999", NULL
	};
	char text[128], want[256];
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof(text), "[build]\n\ntimeout = %s\n",
		    bad[i]);
		snprintf(want, sizeof(want), "berth.ini line 3: build.timeout "
		    "must be a whole number of seconds from 1 to 86400 (got "
		    "'%s')", bad[i]);
		load_fails(cfg, text, want);
	}
}

static void
test_bad_values(void **state)
{
	struct berth_config *cfg = *state;

	load_fails(cfg, "[server]\ndomain = Example.COM\n", "berth.ini line "
	    "2: server.domain must be a host name such as example.com: "
	    "lowercase letters, digits, '.' and '-', not starting or ending "
	    "with '.' or '-' (got 'Example.COM')");
	load_fails(cfg, "[server]\ndomain =\n", "berth.ini line 2: "
	    "server.domain must be a host name such as example.com: "
	    "lowercase letters, digits, '.' and '-', not starting or ending "
	    "with '.' or '-' (got '')");
	load_fails(cfg, "[server]\ndomain = a..b\n", "berth.ini line 2: "
	    "server.domain must be a host name such as example.com: "
	    "lowercase letters, digits, '.' and '-', not starting or ending "
	    "with '.' or '-' (got 'a..b')");
	load_fails(cfg, "[server]\ndomain = x.test # comment\n", "berth.ini "
	    "line 2: server.domain must be a host name such as example.com: "
	    "lowercase letters, digits, '.' and '-', not starting or ending "
	    "with '.' or '-' (got 'x.test # comment')");
	load_fails(cfg, "[server]\nlog_level = verbose\n", "berth.ini line 2: "
	    "server.log_level must be error, warn, info or debug (got "
	    "'verbose')");
	load_fails(cfg, "[server]\nlog_level = INFO\n", "berth.ini line 2: "
	    "server.log_level must be error, warn, info or debug (got "
	    "'INFO')");
	load_fails(cfg, "[build]\nbuildpacks = nodejs, Python\n", "berth.ini "
	    "line 2: build.buildpacks must be a comma-separated list of "
	    "buildpack names, each of lowercase letters, digits, '.', '_' and "
	    "'-', starting with a letter or digit (got 'Python')");
	load_fails(cfg, "[build]\nbuildpacks = nodejs,,go\n", "berth.ini "
	    "line 2: build.buildpacks must be a comma-separated list of "
	    "buildpack names, each of lowercase letters, digits, '.', '_' and "
	    "'-', starting with a letter or digit (got '')");
	load_fails(cfg, "[build]\nbuildpacks = ../evil\n", "berth.ini "
	    "line 2: build.buildpacks must be a comma-separated list of "
	    "buildpack names, each of lowercase letters, digits, '.', '_' and "
	    "'-', starting with a letter or digit (got '../evil')");
	load_fails(cfg, "[server]\ndomain = a\x01""b\n", "berth.ini line 2: "
	    "server.domain must not contain control characters (got "
	    "'a\\x01b')");
	load_fails(cfg, "[build]\nbuildpacks = a\tb\n", "berth.ini line 2: "
	    "build.buildpacks must not contain control characters (got "
	    "'a\\x09b')");
}

/* [sandbox] memory and pids: sizes, their defaults and bad values. */
static void
test_sandbox_limits(void **state)
{
	struct berth_config *cfg = *state;

	assert_int_equal(cfg->dyno_memory, 512LL << 20);
	assert_int_equal(cfg->dyno_pids, 256);
	assert_int_equal(config_load_string(cfg, "[sandbox]\nmemory = 1G\n"
	    "pids = 64\n", "berth.ini", NULL, NULL), 0);
	assert_int_equal(cfg->dyno_memory, 1LL << 30);
	assert_int_equal(cfg->dyno_pids, 64);
	assert_int_equal(config_load_string(cfg, "[sandbox]\nmemory = 640k\n"
	    "memory = 65536k\n", "berth.ini", NULL, NULL), -1);
	assert_string_equal(berth_last_error(), "berth.ini line 2: "
	    "sandbox.memory must be a size such as 512M or 1G (a number and "
	    "K, M or G), at least 4M (got '640k')");
	config_clear(cfg);
	config_defaults(cfg);
	load_fails(cfg, "[sandbox]\nmemory = 512MB\n", "berth.ini line 2: "
	    "sandbox.memory must be a size such as 512M or 1G (a number and "
	    "K, M or G), at least 4M (got '512MB')");
	load_fails(cfg, "[sandbox]\npids = 2\n", "berth.ini line 2: "
	    "sandbox.pids must be a whole number of processes from 16 to "
	    "1000000 (got '2')");
}

/* The first error wins and nothing of the file is applied. */
static void
test_first_error_wins(void **state)
{
	struct berth_config *cfg = *state;
	int count = 0;

	assert_int_equal(config_load_string(cfg, "[server]\ndomain = ok.test\n"
	    "log_level = loud\n[build]\ntimeout = never\nfoo = 1\n",
	    "berth.ini", collect_warn, &count), -1);
	assert_string_equal(berth_last_error(), "berth.ini line 3: "
	    "server.log_level must be error, warn, info or debug (got "
	    "'loud')");
	assert_int_equal(count, 0);
	assert_defaults(cfg);
}

static void
test_syntax_errors(void **state)
{
	struct berth_config *cfg = *state;

	load_fails(cfg, "[server]\ndomain localhost\n", "berth.ini line 2: "
	    "expected 'key = value', '[section]' or a comment");
	load_fails(cfg, "\xef\xbb\xbf  [server\ndomain = x\n", "berth.ini "
	    "line 1: expected ']' to end the section name");
	load_fails(cfg, "[server\ndomain = x\n", "berth.ini line 1: expected "
	    "']' to end the section name");
	load_fails(cfg, "[server]\n= x\n", "berth.ini line 2: expected "
	    "'key = value'");
	/* A syntax error before a bad value is the one reported. */
	load_fails(cfg, "[server]\noops\nlog_level = loud\n", "berth.ini "
	    "line 2: expected 'key = value', '[section]' or a comment");
}

static void
test_long_lines(void **state)
{
	struct berth_config *cfg = *state;
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	/* 199 characters (plus CRLF) is the longest line inih reads whole. */
	strbuf_addstr(&sb, "[build]\r\nbuildpacks = a");	/* 14 + 9 */
	for (i = 0; i < 92; i++)
		strbuf_addstr(&sb, ",a");
	strbuf_addstr(&sb, "b\r\n");
	assert_int_equal(sb.len, 9 + 199 + 2);
	if (config_load_string(cfg, sb.buf, "berth.ini", NULL, NULL) != 0)
		fail_msg("refused: %s", berth_last_error());
	assert_int_equal(cfg->buildpacks.nr, 93);
	assert_string_equal(cfg->buildpacks.v[92], "ab");
	config_clear(cfg);
	config_defaults(cfg);

	/* One more, even in a comment, is refused, never cut. */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "[server]\n\n# ");
	for (i = 0; i < 198; i++)
		strbuf_addch(&sb, 'x');
	strbuf_addstr(&sb, "\ndomain = x.test\n");
	load_fails(cfg, sb.buf, "berth.ini line 3: line is longer than 199 "
	    "characters; shorten it");

	/* The classic trap: a long value whose tail looks like a key. */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "[server]\ndomain = ");
	for (i = 0; i < 190; i++)
		strbuf_addch(&sb, 'a');
	strbuf_addstr(&sb, "log_level=debug\n");
	load_fails(cfg, sb.buf, "berth.ini line 2: line is longer than 199 "
	    "characters; shorten it");
	strbuf_release(&sb);
}

static void
test_nul_byte(void **state)
{
	struct berth_config *cfg = *state;
	char path[] = "/tmp/berth-test-config-XXXXXX";
	static const char text[] = "[server]\ndomain = a\0b\n";
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
	    (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(config_load(cfg, path, NULL, NULL), -1);
	assert_non_null(strstr(berth_last_error(), " line 2: contains a NUL "
	    "byte; remove it"));
	assert_defaults(cfg);
	unlink(path);
	/* The same text from memory, and only as much of it as len says. */
	assert_int_equal(config_load_text(cfg, text, sizeof(text) - 1,
	    "berth.ini", NULL, NULL), -1);
	assert_string_equal(berth_last_error(), "berth.ini line 2: contains "
	    "a NUL byte; remove it");
	assert_defaults(cfg);
	assert_int_equal(config_load_text(cfg, "[server]\ndomain = a.test\n"
	    "[x", 25, "berth.ini", NULL, NULL), 0);
	assert_string_equal(cfg->domain, "a.test");
}

static void
test_missing_file(void **state)
{
	struct berth_config *cfg = *state;

	assert_int_equal(config_load(cfg, "/nonexistent/berth.ini", NULL,
	    NULL), 0);
	assert_defaults(cfg);
	/* A directory is not a missing file. */
	assert_int_equal(config_load(cfg, "/", NULL, NULL), -1);
	assert_defaults(cfg);
}

/*
 * Only a regular file (links followed) is read: a FIFO would hang the
 * load, and a link to nothing would give silent defaults.
 */
static void
test_file_kinds(void **state)
{
	struct berth_config *cfg = *state;
	static const char text[] = "[server]\nmax_clients = 7\n";
	char dir[] = "/tmp/berth-test-config-XXXXXX";
	char *ini, *file, *want;
	int fd;

	assert_non_null(mkdtemp(dir));
	ini = path_join(dir, "berth.ini");
	file = path_join(dir, "real.ini");
	assert_int_equal(mkfifo(ini, 0600), 0);
	assert_int_equal(config_load(cfg, ini, NULL, NULL), -1);
	want = xasprintf("%s is a FIFO, not a regular file; make it a file "
	    "(see berth.ini(5)) or remove it for the defaults", ini);
	assert_string_equal(berth_last_error(), want);
	free(want);
	assert_defaults(cfg);
	unlink(ini);
	assert_int_equal(symlink(file, ini), 0);
	assert_int_equal(config_load(cfg, ini, NULL, NULL), -1);
	want = xasprintf("%s is a symbolic link to %s, which does not exist; "
	    "make it a file (see berth.ini(5)) or remove it for the "
	    "defaults", ini, file);
	assert_string_equal(berth_last_error(), want);
	free(want);
	assert_defaults(cfg);
	/* A link to a file is that file. */
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
	    (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(config_load(cfg, ini, NULL, NULL), 0);
	assert_int_equal(cfg->max_clients, 7);
	unlink(ini);
	unlink(file);
	rmdir(dir);
	free(ini);
	free(file);
}

/* [webhooks]: the sender's back-off base and per-try timeout. */
static void
test_webhooks(void **state)
{
	struct berth_config *cfg = *state;

	assert_int_equal(cfg->webhook_retry_base, 30);
	assert_int_equal(cfg->webhook_timeout, 10);
	assert_int_equal(config_load_string(cfg, "[webhooks]\nretry_base = "
	    "1\ntimeout = 2\n", "berth.ini", NULL, NULL), 0);
	assert_int_equal(cfg->webhook_retry_base, 1);
	assert_int_equal(cfg->webhook_timeout, 2);
	berth_clear_error();
	assert_int_equal(config_load_string(cfg, "[webhooks]\ntimeout = 61\n",
	    "berth.ini", NULL, NULL), -1);
	assert_string_equal(berth_last_error(), "berth.ini line 2: "
	    "webhooks.timeout must be a whole number of seconds from 1 to 60 "
	    "(got '61')");
	assert_int_equal(cfg->webhook_timeout, 2);
	assert_non_null(strstr(config_template(), "\n[webhooks]\n"
	    "# Seconds"));
}

static void
test_max_clients(void **state)
{
	struct berth_config *cfg = *state;

	assert_int_equal(cfg->max_clients, 128);
	load_fails(cfg, "[server]\nmax_clients = 0\n", "berth.ini line 2: "
	    "server.max_clients must be a whole number of clients from 1 to "
	    "100000 (got '0')");
	assert_int_equal(config_load_string(cfg, "[server]\nmax_clients = "
	    "1\n", "berth.ini", NULL, NULL), 0);
	assert_int_equal(cfg->max_clients, 1);
}

static void
test_load_file(void **state)
{
	struct berth_config *cfg = *state;
	char path[] = "/tmp/berth-test-config-XXXXXX";
	static const char text[] = "[build]\ntimeout = 120\nx = 1\n";
	char want[128];
	int fd, count = 0;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
	    (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(config_load(cfg, path, collect_warn, &count), 0);
	assert_int_equal(cfg->build_timeout, 120);
	snprintf(want, sizeof(want), "%s line 3: unknown key 'build.x' "
	    "ignored\n", path);
	assert_string_equal(strbuf_str(&warnings), want);
	unlink(path);
}

/*
 * [runtime] backend picks where apps run: a backend berth has, or a
 * one-line error naming the key and the values it takes.
 */
static void
test_runtime_backend(void **state)
{
	struct berth_config *cfg = *state;

	load_fails(cfg, "[runtime]\nbackend = swarm\n", "berth.ini line 2: "
	    "runtime.backend must be local (got 'swarm')");
	load_fails(cfg, "[runtime]\nbackend =\n", "berth.ini line 2: "
	    "runtime.backend must be local (got '')");
	load_fails(cfg, "[runtime]\nbackend = Local\n", "berth.ini line 2: "
	    "runtime.backend must be local (got 'Local')");
	assert_int_equal(config_load_string(cfg,
	    "[runtime]\nbackend = local\n", "berth.ini", NULL, NULL), 0);
	assert_string_equal(cfg->runtime_backend, "local");
	/* The name config.c accepts is the name of a backend. */
	assert_string_equal(runtime_local.name, cfg->runtime_backend);
	assert_non_null(strstr(config_template(),
	    "\nbackend = local\n"));
}

/* The template loads cleanly and says what the defaults are. */
static void
test_template(void **state)
{
	struct berth_config *cfg = *state;
	const char *t = config_template();
	int count = 0;

	assert_non_null(strstr(t, "[server]\n"));
	assert_non_null(strstr(t, "\ndomain = localhost\n"));
	assert_non_null(strstr(t, "\nlog_level = info\n"));
	assert_non_null(strstr(t, "[build]\n"));
	assert_non_null(strstr(t, "\ntimeout = 900\n"));
	assert_non_null(strstr(t, "\nbuildpacks =\n"));
	cfg->build_timeout = 5;
	assert_int_equal(config_load_string(cfg, t, "berth.ini", collect_warn,
	    &count), 0);
	assert_int_equal(count, 0);
	assert_defaults(cfg);
}

/* The range check against a given ephemeral range: the edges count. */
static void
test_port_range_check(void **state)
{
	struct berth_config *cfg = *state;

	cfg->port_min = 20000;
	cfg->port_max = 32767;
	assert_int_equal(config_check_port_range(cfg, "berth.ini", 32768,
	    60999), 0);
	cfg->port_min = 61000;
	cfg->port_max = 65535;
	assert_int_equal(config_check_port_range(cfg, "berth.ini", 32768,
	    60999), 0);
	cfg->port_min = 60999;
	assert_int_equal(config_check_port_range(cfg, "berth.ini", 32768,
	    60999), -1);
	cfg->port_min = 40000;
	cfg->port_max = 40999;
	assert_int_equal(config_check_port_range(cfg, "berth.ini", 32768,
	    60999), -1);
	assert_string_equal(berth_last_error(), "berth.ini: "
	    "runtime.port_min-port_max (40000-40999) overlaps the kernel's "
	    "ephemeral ports 32768-60999 (" EPHEMERAL_PORTS_FILE "), which "
	    "any outgoing connection may take: set [runtime] port_min = "
	    "20000 and port_max = 29999, or another range outside them");
	/* The default range inside: the suggestion is below the range. */
	cfg->port_min = 20000;
	cfg->port_max = 29999;
	assert_int_equal(config_check_port_range(cfg, "berth.ini", 10000,
	    60999), -1);
	assert_non_null(strstr(berth_last_error(), "port_min = 1024 and "
	    "port_max = 9999"));
	/* ...or above it. */
	assert_int_equal(config_check_port_range(cfg, "berth.ini", 1024,
	    50000), -1);
	assert_non_null(strstr(berth_last_error(), "port_min = 50001 and "
	    "port_max = 60000"));
}

/*
 * berth.ini as loaded is checked against this machine's real range
 * (never a copy a test could fake): a window inside it is refused with
 * the keys named; the default range is not.
 */
static void
test_port_range_real(void **state)
{
	struct berth_config *cfg = *state;
	char *text, *want;
	int lo, hi;

	if (config_ephemeral_ports(&lo, &hi) < 0) {
		skip();
		return;
	}
	text = xasprintf("[runtime]\nport_min = %d\nport_max = %d\n", lo,
	    lo + 9 > hi ? hi : lo + 9);
	want = xasprintf("berth.ini: runtime.port_min-port_max (%d-%d) "
	    "overlaps the kernel's ephemeral ports %d-%d", lo,
	    lo + 9 > hi ? hi : lo + 9, lo, hi);
	assert_int_equal(config_load_string(cfg, text, "berth.ini", NULL,
	    NULL), -1);
	assert_true(strncmp(berth_last_error(), want, strlen(want)) == 0);
	assert_defaults(cfg);
	free(text);
	free(want);
	if (cfg->port_max < lo || cfg->port_min > hi)
		assert_int_equal(config_load_string(cfg, "[runtime]\n",
		    "berth.ini", NULL, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_levels_and_limits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_variants, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_keys_warn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_first_error_wins, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_syntax_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_kinds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_max_clients, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_runtime_backend, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_template, setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_range_check, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_port_range_real, setup,
		    teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
