/*
 * config.c - berth.ini, parsed with inih.
 *
 * inih as Debian builds it silently cuts lines at 199 characters and
 * does not report line numbers to the handler, so the text is first
 * scanned here (long lines and NUL bytes are refused) and then fed to
 * ini_parse_stream() one whole line at a time by a reader that counts
 * lines; the handler reads the count to name the line it is called for.
 * The reader also drops leading whitespace, so indented keys work and
 * no line is ever taken as a continuation of the previous value.
 *
 * Loading is all or nothing: the first error stops parsing and leaves
 * the caller's config untouched.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "names.h"

/* inih's line limit (INI_MAX_LINE 200, less the NUL). */
#define CONFIG_MAX_LINE	199
/* berth.ini is a handful of lines; anything this big is a mistake. */
#define CONFIG_MAX_SIZE	(1024 * 1024)
#define TIMEOUT_MAX	86400
#define DOMAIN_MAX	253
#define QUOTE_SIZE	192

/* The state of one load, shared by the line reader and the handler. */
struct load {
	struct berth_config *cfg;	/* the copy being filled */
	const char *name;		/* file name for messages */
	config_warn_fn warn;
	void *data;
	const char *text;
	size_t len;
	size_t pos;			/* offset of the next line */
	int lineno;			/* line last handed to inih */
	int err_line;			/* line of our error, 0 = none */
};

struct key {
	const char *section;
	const char *name;
	int (*set)(struct load *ld, const struct key *k, const char *value);
	/* whole-number keys: where the value goes, its bounds and unit */
	size_t off;
	int min, max;
	const char *unit;
};

static const char *const log_levels[] = { "error", "warn", "info", "debug" };
/* The runtime backends berth has (runtime.c has one of each name). */
static const char *const runtime_backends[] = { "local" };
static const char *const router_luas[] = { "auto", "on", "off" };

static const char template[] =
"# berth.ini - settings for this berth server.\n"
"#\n"
"# Lines starting with '#' or ';' are comments; a value may be followed by\n"
"# \" ; comment\". Lines may be at most 199 characters long. Every key is\n"
"# shown with its default value.\n"
"\n"
"[server]\n"
"# Apps are served at APP.DOMAIN (lowercase letters, digits, '.', '-').\n"
"domain = localhost\n"
"# How much berth logs: error, warn, info or debug.\n"
"log_level = info\n"
"# Most berth commands and pushes berthd serves at once; more are told\n"
"# it is busy.\n"
"max_clients = 128\n"
"\n"
"[build]\n"
"# Seconds one whole build may take, from 1 to 86400.\n"
"timeout = 900\n"
"# Buildpacks to try, in this order, as a comma-separated list of names,\n"
"# e.g. \"nodejs, python\". Empty means berth's own order.\n"
"buildpacks =\n"
"# 1 lets a pushed app.json name buildpack directories on this server\n"
"# (trusted pushers only); 0 allows installed names and Git URLs.\n"
"app_json_paths = 0\n"
"\n"
"[router]\n"
"# The port berth's own nginx listens on: http://APP.DOMAIN:PORT/.\n"
"port = 8080\n"
"# The nginx binary (a name is looked up in PATH).\n"
"nginx = nginx\n"
"# auto: with Debian's libnginx-mod-http-lua, a deploy changes an app's\n"
"# dyno ports without reloading nginx; on: require it; off: reload.\n"
"lua = auto\n"
"\n"
"[runtime]\n"
"# Where apps run: local (berthd's dynos on this server, behind nginx).\n"
"backend = local\n"
"# Web dynos get ports from this range.\n"
"port_min = 20000\n"
"port_max = 29999\n"
"# Seconds a web dyno has to accept connections on $PORT.\n"
"boot_timeout = 60\n"
"# Seconds between SIGTERM and SIGKILL when a dyno stops.\n"
"stop_timeout = 30\n"
"# Most dynos of one process type (ps:scale refuses more).\n"
"max_dynos = 100\n"
"\n"
"[logs]\n"
"# An app's log is rotated when it grows past this many KiB.\n"
"max_size_kb = 10240\n"
"\n"
"[release]\n"
"# Seconds the Procfile release: command may run before the release fails.\n"
"timeout = 3600\n"
"\n"
"[ci]\n"
"# Seconds one CI node's test-setup and test may take.\n"
"timeout = 1800\n"
"# Most CI nodes run in parallel (app.json formation.test.quantity).\n"
"max_nodes = 4\n"
"\n"
"[review]\n"
"# Seconds between berthd's checks for stale review apps.\n"
"check_interval = 3600\n"
"\n"
"[sandbox]\n"
"# 1: app code (builds, CI, the release phase, dynos) runs in a bubblewrap\n"
"# sandbox, refused when it cannot; 0: unisolated, with a warning.\n"
"enabled = 1\n"
"# With berth running as root, each app runs as its own uid from this range.\n"
"uid_min = 900000\n"
"uid_max = 999999\n"
"# Memory of one dyno (swap included) past which the kernel kills it:\n"
"# NNN[KMG], e.g. 512M or 1G. `berth ps:resize` sets it per process type.\n"
"memory = 512M\n"
"# Most processes and threads of one dyno (a fork bomb stops there).\n"
"pids = 256\n"
"# Memory of one build or CI node (its pids limit is pids).\n"
"build_memory = 2G\n"
"\n"
"[ssh]\n"
"# The authorized_keys file berth keeps its users' keys in (each with the\n"
"# forced command `berth shell USER`), between marker lines; ~ is the home\n"
"# of the user berth runs as. Empty: berth writes none (use sshd's\n"
"# AuthorizedKeysCommand with `berth keys:authorized`).\n"
"authorized_keys = ~/.ssh/authorized_keys\n"
"\n"
"[http]\n"
"# berthd's HTTP endpoint (JSON API, Slack, GitHub): HOST:PORT, e.g.\n"
"# 127.0.0.1:8090; empty: off.\n"
"listen =\n"
"# Connections it serves at once (each has a thread of its own).\n"
"max_connections = 1024\n"
"\n"
"[webhooks]\n"
"# Seconds berthd waits after a webhook's failed first try; each wait\n"
"# after is longer (30 s, 2 min, 8 min, 20 min: 5 tries in 30 minutes).\n"
"retry_base = 30\n"
"# Seconds one try may take, answer included (connecting: at most 5).\n"
"timeout = 10\n";

static int set_domain(struct load *, const struct key *, const char *);
static int set_log_level(struct load *, const struct key *, const char *);
static int set_int(struct load *, const struct key *, const char *);
static int set_buildpacks(struct load *, const struct key *, const char *);
static int set_program(struct load *, const struct key *, const char *);
static int set_backend(struct load *, const struct key *, const char *);
static int set_router_lua(struct load *, const struct key *, const char *);
static int set_size(struct load *, const struct key *, const char *);
static int set_keys_file(struct load *, const struct key *, const char *);
static int set_listen(struct load *, const struct key *, const char *);
static int set_string(struct load *, const struct key *, const char *);

#define INT_KEY(sec, name, field, min, max, unit) \
	{ sec, name, set_int, offsetof(struct berth_config, field), min, max, \
	    unit }

static const struct key keys[] = {
	{ "server", "domain", set_domain, 0, 0, 0, NULL },
	{ "server", "log_level", set_log_level, 0, 0, 0, NULL },
	INT_KEY("server", "max_clients", max_clients, 1, 100000, "clients"),
	INT_KEY("build", "timeout", build_timeout, 1, TIMEOUT_MAX, "seconds"),
	{ "build", "buildpacks", set_buildpacks, 0, 0, 0, NULL },
	INT_KEY("build", "app_json_paths", app_json_paths, 0, 1, NULL),
	INT_KEY("router", "port", router_port, 1, 65535, "port number"),
	{ "router", "nginx", set_program, offsetof(struct berth_config,
	    nginx), 0, 0, NULL },
	{ "router", "lua", set_router_lua, 0, 0, 0, NULL },
	{ "runtime", "backend", set_backend, 0, 0, 0, NULL },
	INT_KEY("runtime", "port_min", port_min, 1024, 65535, "port number"),
	INT_KEY("runtime", "port_max", port_max, 1024, 65535, "port number"),
	INT_KEY("runtime", "boot_timeout", boot_timeout, 1, 3600, "seconds"),
	INT_KEY("runtime", "stop_timeout", stop_timeout, 1, 3600, "seconds"),
	INT_KEY("runtime", "max_dynos", max_dynos, 1, 10000, "dynos"),
	INT_KEY("logs", "max_size_kb", log_max_kb, 16, 1048576, "KiB"),
	INT_KEY("release", "timeout", release_timeout, 1, 86400, "seconds"),
	INT_KEY("ci", "timeout", ci_timeout, 1, 86400, "seconds"),
	INT_KEY("ci", "max_nodes", ci_max_nodes, 1, 64, "nodes"),
	INT_KEY("review", "check_interval", review_check_interval, 1, 86400,
	    "seconds"),
	INT_KEY("sandbox", "enabled", sandbox, 0, 1, NULL),
	INT_KEY("sandbox", "uid_min", uid_min, 1000, 2000000000, "uid"),
	INT_KEY("sandbox", "uid_max", uid_max, 1000, 2000000000, "uid"),
	{ "sandbox", "memory", set_size, offsetof(struct berth_config,
	    dyno_memory), 0, 0, NULL },
	INT_KEY("sandbox", "pids", dyno_pids, 16, 1000000, "processes"),
	{ "sandbox", "build_memory", set_size, offsetof(struct berth_config,
	    build_memory), 0, 0, NULL },
	{ "ssh", "authorized_keys", set_keys_file, offsetof(struct
	    berth_config, authorized_keys), 0, 0, NULL },
	{ "http", "listen", set_listen, offsetof(struct berth_config,
	    http_listen), 0, 0, NULL },
	INT_KEY("http", "max_connections", http_max_connections, 1, 10000,
	    "connections"),
	INT_KEY("webhooks", "retry_base", webhook_retry_base, 1, 3600,
	    "seconds"),
	INT_KEY("webhooks", "timeout", webhook_timeout, 1, 60, "seconds"),
};

/* Record the first error of a load, prefixed "NAME line N: "; -1. */
static int BERTH_ATTR_PRINTF(2, 3)
load_error(struct load *ld, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (ld->err_line != 0)
		return -1;
	ld->err_line = ld->lineno;
	strbuf_addf(&sb, "%s line %d: ", ld->name, ld->lineno);
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	berth_error("%s", sb.buf);
	strbuf_release(&sb);
	return -1;
}

static int
is_host_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
	    c == '-';
}

static int
set_domain(struct load *ld, const struct key *k, const char *value)
{
	char key[64];
	char q[QUOTE_SIZE];
	size_t len = strlen(value), i;
	int ok = len > 0 && len <= DOMAIN_MAX && value[0] != '.' &&
	    value[0] != '-' && value[len - 1] != '.' && value[len - 1] != '-' &&
	    strstr(value, "..") == NULL;

	snprintf(key, sizeof(key), "%s.%s", k->section, k->name);
	for (i = 0; ok && i < len; i++)
		if (!is_host_char((unsigned char)value[i]))
			ok = 0;
	if (!ok) {
		name_quote(value, q, sizeof(q));
		return load_error(ld, "%s must be a host name such as "
		    "example.com: lowercase letters, digits, '.' and '-', not "
		    "starting or ending with '.' or '-' (got '%s')", key, q);
	}
	free(ld->cfg->domain);
	ld->cfg->domain = xstrdup(value);
	return 0;
}

static int
set_log_level(struct load *ld, const struct key *k, const char *value)
{
	char key[64];
	char q[QUOTE_SIZE];
	size_t i;

	snprintf(key, sizeof(key), "%s.%s", k->section, k->name);
	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcmp(value, log_levels[i]) == 0) {
			ld->cfg->log_level = (enum log_level)i;
			return 0;
		}
	name_quote(value, q, sizeof(q));
	return load_error(ld, "%s must be error, warn, info or debug "
	    "(got '%s')", key, q);
}

static int
set_int(struct load *ld, const struct key *k, const char *value)
{
	char q[QUOTE_SIZE];
	const char *p;
	long v = 0;

	for (p = value; *p >= '0' && *p <= '9' && v <= k->max; p++)
		v = v * 10 + (*p - '0');
	if (p == value || *p != '\0' || v < k->min || v > k->max) {
		name_quote(value, q, sizeof(q));
		if (k->unit == NULL)
			return load_error(ld, "%s.%s must be 0 or 1 (got '%s')",
			    k->section, k->name, q);
		return load_error(ld, "%s.%s must be a whole number of %s "
		    "from %d to %d (got '%s')", k->section, k->name, k->unit,
		    k->min, k->max, q);
	}
	*(int *)(void *)((char *)ld->cfg + k->off) = (int)v;
	return 0;
}

/* A size of memory, NNN[KMG] (at least a MiB, as ps:resize wants). */
static int
set_size(struct load *ld, const struct key *k, const char *value)
{
	char q[QUOTE_SIZE];
	int64_t v;

	if (size_parse(value, &v) < 0 || v < DYNO_MEMORY_MIN) {
		name_quote(value, q, sizeof(q));
		return load_error(ld, "%s.%s must be a size such as 512M or 1G "
		    "(a number and K, M or G), at least 4M (got '%s')",
		    k->section, k->name, q);
	}
	*(int64_t *)(void *)((char *)ld->cfg + k->off) = v;
	return 0;
}

/* HOST:PORT ("127.0.0.1:8090", "[::1]:8090"), or "" for off. */
static int
set_listen(struct load *ld, const struct key *k, const char *value)
{
	const char *colon = strrchr(value, ':');
	char q[QUOTE_SIZE];
	long port = colon != NULL ? strtol(colon + 1, NULL, 10) : -1;

	if (*value != '\0' && (colon == NULL || colon == value || port < 0 ||
	    port > 65535 || strspn(colon + 1, "0123456789") !=
	    strlen(colon + 1) || colon[1] == '\0' ||
	    strspn(value, "0123456789.:[]abcdefABCDEF") != strlen(value))) {
		name_quote(value, q, sizeof(q));
		return load_error(ld, "%s.%s must be a numeric HOST:PORT, e.g. "
		    "127.0.0.1:8090, or empty (got '%s')", k->section, k->name,
		    q);
	}
	return set_string(ld, k, value);
}

/* The string key k sets, replaced by value. */
static int
set_string(struct load *ld, const struct key *k, const char *value)
{
	char **field = (char **)(void *)((char *)ld->cfg + k->off);

	free(*field);
	*field = xstrdup(value);
	return 0;
}

/* A program: a name looked up in PATH, or an absolute path. */
static int
set_program(struct load *ld, const struct key *k, const char *value)
{
	char q[QUOTE_SIZE];
	const char *p;

	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ')
			break;
	if (*value == '\0' || *p != '\0' || (strchr(value, '/') != NULL &&
	    value[0] != '/')) {
		name_quote(value, q, sizeof(q));
		return load_error(ld, "%s.%s must be a program name or an "
		    "absolute path (got '%s')", k->section, k->name, q);
	}
	return set_string(ld, k, value);
}

/* An absolute path, ~/PATH (the home of berth's user), or "" for none. */
static int
set_keys_file(struct load *ld, const struct key *k, const char *value)
{
	char q[QUOTE_SIZE];
	const char *p;

	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == '"' || *p == '\\')
			break;
	if (*p != '\0' || (*value != '\0' && value[0] != '/' &&
	    strncmp(value, "~/", 2) != 0)) {
		name_quote(value, q, sizeof(q));
		return load_error(ld, "%s.%s must be an absolute path, ~/PATH or "
		    "empty (got '%s')", k->section, k->name, q);
	}
	return set_string(ld, k, value);
}

/*
 * The index of value in choices[n]; -1 after an error that lists them
 * ("runtime.backend must be local (got 'swarm')").
 */
static int
choose(struct load *ld, const struct key *k, const char *value,
    const char *const *choices, size_t n)
{
	struct strbuf names = STRBUF_INIT;
	char q[QUOTE_SIZE];
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(value, choices[i]) == 0)
			return (int)i;
	for (i = 0; i < n; i++)
		strbuf_addf(&names, "%s%s", i == 0 ? "" : i + 1 < n ? ", " :
		    " or ", choices[i]);
	name_quote(value, q, sizeof(q));
	load_error(ld, "%s.%s must be %s (got '%s')", k->section, k->name,
	    names.buf, q);
	strbuf_release(&names);
	return -1;
}

static int
set_backend(struct load *ld, const struct key *k, const char *value)
{
	if (choose(ld, k, value, runtime_backends, sizeof(runtime_backends) /
	    sizeof(runtime_backends[0])) < 0)
		return -1;
	free(ld->cfg->runtime_backend);
	ld->cfg->runtime_backend = xstrdup(value);
	return 0;
}

static int
set_router_lua(struct load *ld, const struct key *k, const char *value)
{
	int i = choose(ld, k, value, router_luas, sizeof(router_luas) /
	    sizeof(router_luas[0]));

	if (i < 0)
		return -1;
	ld->cfg->router_lua = (enum router_lua)i;
	return 0;
}

/* A buildpack name: [a-z0-9][a-z0-9._-]*. */
static int
buildpack_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] == '.' || s[0] == '_' || s[0] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!is_host_char((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/* An empty value means no order of our own; a stray comma is an error. */
static int
set_buildpacks(struct load *ld, const struct key *k, const char *value)
{
	char key[64];
	struct strvec names = STRVEC_INIT;
	const char *p, *next;
	char q[QUOTE_SIZE], *one;
	size_t len;

	snprintf(key, sizeof(key), "%s.%s", k->section, k->name);
	for (p = value; *value != '\0'; p = next + 1) {
		next = p + strcspn(p, ",");
		len = (size_t)(next - p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		one = xstrndup(p, len);
		if (!buildpack_name_ok(one, len)) {
			name_quote(one, q, sizeof(q));
			free(one);
			strvec_clear(&names);
			return load_error(ld, "%s must be a comma-separated "
			    "list of buildpack names, each of lowercase "
			    "letters, digits, '.', '_' and '-', starting with "
			    "a letter or digit (got '%s')", key, q);
		}
		strvec_push(&names, one);
		free(one);
		if (*next == '\0')
			break;
	}
	strvec_clear(&ld->cfg->buildpacks);
	ld->cfg->buildpacks = names;
	return 0;
}

/*
 * inih's reader: hand over the next line whole, without its line end,
 * leading whitespace or (on line 1) a UTF-8 BOM. Returns NULL at the end
 * of the text or once an error has been recorded, which stops inih.
 */
static char *
read_line(char *str, int num, void *stream)
{
	struct load *ld = stream;
	const char *s, *nl;
	size_t n;

	if (ld->err_line != 0 || ld->pos >= ld->len)
		return NULL;
	s = ld->text + ld->pos;
	nl = memchr(s, '\n', ld->len - ld->pos);
	n = nl != NULL ? (size_t)(nl - s) : ld->len - ld->pos;
	ld->pos += n + (nl != NULL ? 1 : 0);
	ld->lineno++;
	if (ld->lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		n -= 3;
	}
	if (n > 0 && s[n - 1] == '\r')
		n--;
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (num < 1 || n > (size_t)num - 1) {
		load_error(ld, "line is longer than %d characters; shorten it",
		    num - 1);
		return NULL;
	}
	memcpy(str, s, n);
	str[n] = '\0';
	return str;
}

static int
handle(void *user, const char *section, const char *name, const char *value)
{
	struct load *ld = user;
	char qs[QUOTE_SIZE], qn[QUOTE_SIZE], key[64], *msg;
	const unsigned char *p;
	size_t i;

	if (ld->err_line != 0)
		return 0;
	if (name[0] == '\0') {
		load_error(ld, "expected 'key = value'");
		return 0;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(section, keys[i].section) != 0 ||
		    strcmp(name, keys[i].name) != 0)
			continue;
		snprintf(key, sizeof(key), "%s.%s", section, name);
		for (p = (const unsigned char *)value; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f) {
				name_quote(value, qs, sizeof(qs));
				load_error(ld, "%s must not contain control "
				    "characters (got '%s')", key, qs);
				return 0;
			}
		return keys[i].set(ld, &keys[i], value) == 0;
	}
	if (ld->warn == NULL)
		return 1;
	name_quote(section, qs, sizeof(qs));
	name_quote(name, qn, sizeof(qn));
	if (section[0] == '\0')
		msg = xasprintf("%s line %d: unknown key '%s' ignored; keys "
		    "belong under a section such as [server] (see "
		    "berth.ini(5))", ld->name, ld->lineno, qn);
	else
		msg = xasprintf("%s line %d: unknown key '%s.%s' ignored",
		    ld->name, ld->lineno, qs, qn);
	ld->warn(msg, ld->data);
	free(msg);
	return 1;
}

/*
 * Refuse what inih would mangle: a NUL byte or a line longer than it
 * reads in one piece. Returns 0, or -1 with the error recorded.
 */
static int
prescan(struct load *ld)
{
	const char *s = ld->text, *end = ld->text + ld->len, *nl, *b, *e;

	for (ld->lineno = 1; s < end; ld->lineno++) {
		nl = memchr(s, '\n', (size_t)(end - s));
		e = nl != NULL ? nl : end;
		if (memchr(s, '\0', (size_t)(e - s)) != NULL)
			return load_error(ld, "contains a NUL byte; remove it");
		b = s;
		if (ld->lineno == 1 && e - b >= 3 &&
		    memcmp(b, "\xef\xbb\xbf", 3) == 0)
			b += 3;
		if (e > b && e[-1] == '\r')
			e--;
		if (e - b > CONFIG_MAX_LINE)
			return load_error(ld, "line is longer than %d "
			    "characters; shorten it", CONFIG_MAX_LINE);
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	ld->lineno = 0;
	return 0;
}

/* What inih found wrong with line lineno, which it would not say. */
static void
syntax_error(struct load *ld, int lineno)
{
	const char *s = ld->text, *end = ld->text + ld->len;
	int i;

	for (i = 1; i < lineno && s < end; i++) {
		s = memchr(s, '\n', (size_t)(end - s));
		if (s == NULL)
			s = end;
		else
			s++;
	}
	if (lineno == 1 && end - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	ld->err_line = 0;
	ld->lineno = lineno;
	if (s < end && *s == '[')
		load_error(ld, "expected ']' to end the section name");
	else
		load_error(ld, "expected 'key = value', '[section]' or a "
		    "comment");
}

static void
config_copy(struct berth_config *to, const struct berth_config *from)
{
	size_t i;

	to->domain = xstrdup(from->domain != NULL ? from->domain :
	    "localhost");
	to->log_level = from->log_level;
	to->max_clients = from->max_clients;
	to->build_timeout = from->build_timeout;
	to->app_json_paths = from->app_json_paths;
	to->router_port = from->router_port;
	to->nginx = xstrdup(from->nginx != NULL ? from->nginx : "nginx");
	to->authorized_keys = xstrdup(from->authorized_keys != NULL ?
	    from->authorized_keys : "~/.ssh/authorized_keys");
	to->http_listen = xstrdup(from->http_listen != NULL ?
	    from->http_listen : "");
	to->http_max_connections = from->http_max_connections;
	to->router_lua = from->router_lua;
	to->runtime_backend = xstrdup(from->runtime_backend != NULL ?
	    from->runtime_backend : "local");
	to->port_min = from->port_min;
	to->port_max = from->port_max;
	to->boot_timeout = from->boot_timeout;
	to->stop_timeout = from->stop_timeout;
	to->max_dynos = from->max_dynos;
	to->log_max_kb = from->log_max_kb;
	to->release_timeout = from->release_timeout;
	to->ci_timeout = from->ci_timeout;
	to->ci_max_nodes = from->ci_max_nodes;
	to->review_check_interval = from->review_check_interval;
	to->sandbox = from->sandbox;
	to->uid_min = from->uid_min;
	to->uid_max = from->uid_max;
	to->dyno_memory = from->dyno_memory;
	to->dyno_pids = from->dyno_pids;
	to->build_memory = from->build_memory;
	to->webhook_retry_base = from->webhook_retry_base;
	to->webhook_timeout = from->webhook_timeout;
	memset(&to->buildpacks, 0, sizeof(to->buildpacks));
	for (i = 0; i < from->buildpacks.nr; i++)
		strvec_push(&to->buildpacks, from->buildpacks.v[i]);
}

int
config_ephemeral_ports(int *lo, int *hi)
{
	FILE *f = fopen(EPHEMERAL_PORTS_FILE, "re");
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "%d %d", lo, hi);
	fclose(f);
	return n == 2 && *lo <= *hi ? 0 : -1;
}

/*
 * A dyno port range clear of [lo, hi] to suggest: the default when it
 * is, else the 10,000 ports below lo, else those above hi.
 */
static void
suggest_ports(int lo, int hi, int *min, int *max)
{
	*min = 20000;
	*max = 29999;
	if (*max < lo || *min > hi)
		return;
	*min = lo - 10000 < 1024 ? 1024 : lo - 10000;
	*max = lo - 1;
	if (*max - *min >= 999)
		return;
	*min = hi + 1;
	*max = hi + 10000 > 65535 ? 65535 : hi + 10000;
}

int
config_check_port_range(const struct berth_config *cfg, const char *name,
    int lo, int hi)
{
	int min, max;

	if (cfg->port_min > cfg->port_max)
		return berth_error("%s: runtime.port_min (%d) must not be "
		    "above runtime.port_max (%d)", name, cfg->port_min,
		    cfg->port_max);
	if (cfg->port_max < lo || cfg->port_min > hi)
		return 0;
	suggest_ports(lo, hi, &min, &max);
	return berth_error("%s: runtime.port_min-port_max (%d-%d) overlaps "
	    "the kernel's ephemeral ports %d-%d (%s), which any outgoing "
	    "connection may take: set [runtime] port_min = %d and port_max "
	    "= %d, or another range outside them", name, cfg->port_min,
	    cfg->port_max, lo, hi, EPHEMERAL_PORTS_FILE, min, max);
}

/* The dyno port range: in order, and clear of the ephemeral ports. */
static int
check_ports(const struct berth_config *cfg, const char *name)
{
	int lo, hi;

	if (config_ephemeral_ports(&lo, &hi) < 0)
		lo = hi = 0;	/* no such file: nothing to keep clear of */
	return config_check_port_range(cfg, name, lo, hi);
}

int
config_load_text(struct berth_config *cfg, const char *text, size_t len,
    const char *name, config_warn_fn warn, void *data)
{
	struct berth_config tmp;
	struct load ld;
	int ret;

	memset(&ld, 0, sizeof(ld));
	ld.cfg = &tmp;
	ld.name = name;
	ld.warn = warn;
	ld.data = data;
	ld.text = text;
	ld.len = len;
	if (prescan(&ld) < 0)
		return -1;
	config_copy(&tmp, cfg);
	ret = ini_parse_stream(read_line, &ld, handle, &ld);
	if (ret < 0 && ld.err_line == 0)
		berth_error("%s: cannot be parsed (out of memory)", name);
	else if (ret > 0 && (ld.err_line == 0 || ret < ld.err_line))
		syntax_error(&ld, ret);
	if (ret == 0 && ld.err_line == 0 && check_ports(&tmp, name) < 0)
		ld.err_line = -1;
	if (ret == 0 && ld.err_line == 0 && tmp.uid_min > tmp.uid_max) {
		berth_error("%s: sandbox.uid_min (%d) must not be above "
		    "sandbox.uid_max (%d)", name, tmp.uid_min, tmp.uid_max);
		ld.err_line = -1;
	}
	if (ret != 0 || ld.err_line != 0) {
		config_clear(&tmp);
		return -1;
	}
	config_clear(cfg);
	*cfg = tmp;
	return 0;
}

void
config_defaults(struct berth_config *cfg)
{
	cfg->domain = xstrdup("localhost");
	cfg->log_level = BERTH_LOG_INFO;
	cfg->max_clients = 128;
	cfg->build_timeout = 900;
	cfg->router_port = 8080;
	cfg->router_lua = ROUTER_LUA_AUTO;
	cfg->nginx = xstrdup("nginx");
	cfg->runtime_backend = xstrdup("local");
	cfg->port_min = 20000;
	cfg->port_max = 29999;
	cfg->boot_timeout = 60;
	cfg->stop_timeout = 30;
	cfg->max_dynos = 100;
	cfg->log_max_kb = 10240;
	cfg->release_timeout = 3600;
	cfg->ci_timeout = 1800;
	cfg->ci_max_nodes = 4;
	cfg->review_check_interval = 3600;
	cfg->sandbox = 1;
	cfg->uid_min = 900000;
	cfg->uid_max = 999999;
	cfg->dyno_memory = 512LL << 20;		/* Heroku's standard-1x */
	cfg->dyno_pids = 256;
	cfg->build_memory = 2LL << 30;
	cfg->authorized_keys = xstrdup("~/.ssh/authorized_keys");
	cfg->http_listen = xstrdup("");
	cfg->http_max_connections = 1024;
	cfg->webhook_retry_base = 30;
	cfg->webhook_timeout = 10;
	memset(&cfg->buildpacks, 0, sizeof(cfg->buildpacks));
}

/*
 * cfg must hold defaults (config_defaults()) or an earlier load. Only
 * a path that does not exist counts as missing; a file that exists but
 * cannot be read is an error, and so is anything but a regular file (a
 * FIFO would hang every command) or a link to nothing (its defaults
 * would be silent). Messages name the path as given.
 */
int
config_load(struct berth_config *cfg, const char *path, config_warn_fn warn,
    void *data)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	ret = path_regular(path, "make it a file (see berth.ini(5)) or remove "
	    "it for the defaults");
	if (ret < 0)
		return -1;
	if (ret == 1)
		return check_ports(cfg, path);
	if (read_file(path, &sb, CONFIG_MAX_SIZE) < 0) {
		strbuf_release(&sb);
		return -1;
	}
	ret = config_load_text(cfg, strbuf_str(&sb), sb.len, path, warn,
	    data);
	strbuf_release(&sb);
	return ret;
}

int
config_load_string(struct berth_config *cfg, const char *text,
    const char *name, config_warn_fn warn, void *data)
{
	return config_load_text(cfg, text, strlen(text), name, warn, data);
}

void
config_clear(struct berth_config *cfg)
{
	free(cfg->domain);
	cfg->domain = NULL;
	free(cfg->nginx);
	cfg->nginx = NULL;
	free(cfg->runtime_backend);
	cfg->runtime_backend = NULL;
	free(cfg->authorized_keys);
	cfg->authorized_keys = NULL;
	free(cfg->http_listen);
	cfg->http_listen = NULL;
	strvec_clear(&cfg->buildpacks);
}

const char *
config_template(void)
{
	return template;
}
