/*
 * checks.c - Dokku's CHECKS file (see checks.h), read as Dokku reads it:
 * a setting is NAME=VALUE up to the first blank (so `WAIT=30  # half a
 * minute` works), a check is a path, //HOST/path or http(s)://HOST/path
 * and the rest of its line, trimmed, is the content its answer must
 * contain.
 */
#include "checks.h"
#include "names.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct settings {
	int wait, timeout, attempts;
};

/* NAME=VALUE at line lineno into st; -1 naming it when bad. */
static int
parse_setting(const char *word, size_t len, int lineno, struct settings *st)
{
	static const struct {
		const char *name;
		int min, max;
		size_t off;
	} known[] = {
		{ "WAIT", 0, 600, offsetof(struct settings, wait) },
		{ "TIMEOUT", 1, 600, offsetof(struct settings, timeout) },
		{ "ATTEMPTS", 1, 100, offsetof(struct settings, attempts) },
	};
	const char *eq = memchr(word, '=', len);
	size_t i, nlen = (size_t)(eq - word);

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		char buf[16], *end;
		size_t vlen = len - nlen - 1;
		long v;

		if (strlen(known[i].name) != nlen ||
		    strncmp(known[i].name, word, nlen) != 0)
			continue;
		if (vlen == 0 || vlen >= sizeof(buf))
			v = -1;
		else {
			memcpy(buf, eq + 1, vlen);
			buf[vlen] = '\0';
			v = strtol(buf, &end, 10);
			if (*end != '\0' || buf[0] == '-' || buf[0] == '+')
				v = -1;
		}
		if (v < known[i].min || v > known[i].max)
			return berth_error("CHECKS line %d: %.*s: expected a "
			    "whole number from %d to %d", lineno, (int)len,
			    word, known[i].min, known[i].max);
		*(int *)((char *)st + known[i].off) = (int)v;
		return 0;
	}
	return berth_error("CHECKS line %d: unknown setting '%.*s': use WAIT=, "
	    "TIMEOUT= or ATTEMPTS=", lineno, (int)nlen, word);
}

/*
 * The check's target: "/path", "//host/path" or "http(s)://host/path"
 * into hc (path, host, https). -1 naming the line when it is none.
 */
static int
parse_target(const char *word, size_t len, int lineno, struct healthcheck *hc)
{
	const char *p = word, *end = word + len, *slash;

	/* It goes into a URL, and into messages on a terminal. */
	if (has_control(word, len)) {
		char *w = xstrndup(word, len), *q = name_quoted(w);

		berth_error("CHECKS line %d: '%s' holds a control byte: a "
		    "check is a URL path, e.g. /health", lineno, q);
		free(q);
		free(w);
		return -1;
	}
	if (len >= 8 && strncmp(p, "https://", 8) == 0) {
		hc->https = 1;
		p += 6;
	} else if (len >= 7 && strncmp(p, "http://", 7) == 0)
		p += 5;
	else if (*p != '/')
		return berth_error("CHECKS line %d: '%.*s' is not a check: "
		    "start it with '/' (a path), '//HOST/' or 'http(s)://'",
		    lineno, (int)len, word);
	if (end - p >= 2 && p[1] == '/') {
		p += 2;
		slash = memchr(p, '/', (size_t)(end - p));
		if (slash == NULL)
			slash = end;
		if (slash == p)
			return berth_error("CHECKS line %d: '%.*s' names no "
			    "host", lineno, (int)len, word);
		hc->host = xstrndup(p, (size_t)(slash - p));
		p = slash;
	}
	hc->path = p < end ? xstrndup(p, (size_t)(end - p)) : xstrdup("/");
	return 0;
}

int
checks_parse(const char *text, size_t len, struct healthcheck **out,
    size_t *nr)
{
	struct settings st = { CHECKS_WAIT, CHECKS_TIMEOUT, CHECKS_ATTEMPTS };
	const char *p = text, *s, *e, *w;
	size_t first = *nr, i;
	int lineno = 0;

	while (text_next_line(&p, text + len, &lineno, &s, &e)) {
		struct healthcheck hc;

		for (w = s; w < e && *w != ' ' && *w != '\t'; w++)
			if (*w == '\0')
				goto bad_byte;
		if (s == e || *s == '#')
			continue;
		if (memchr(s, '=', (size_t)(w - s)) != NULL && *s != '/' &&
		    strncmp(s, "http", 4) != 0) {
			if (parse_setting(s, (size_t)(w - s), lineno, &st) < 0)
				goto fail;
			continue;
		}
		memset(&hc, 0, sizeof(hc));
		if (parse_target(s, (size_t)(w - s), lineno, &hc) < 0)
			goto fail;
		while (w < e && (*w == ' ' || *w == '\t'))
			w++;
		if (w < e && memchr(w, 0, (size_t)(e - w)) != NULL) {
			healthcheck_clear(&hc);
			goto bad_byte;
		}
		if (w < e)
			hc.content = xstrndup(w, (size_t)(e - w));
		hc.type = xstrdup("web");
		hc.where = xasprintf("CHECKS line %d", lineno);
		*out = xrealloc(*out, (*nr + 1) * sizeof(**out));
		(*out)[(*nr)++] = hc;
	}
	/* Settings apply to every check, wherever in the file they are. */
	for (i = first; i < *nr; i++) {
		(*out)[i].initial_delay = st.wait;
		(*out)[i].wait = st.wait;
		(*out)[i].timeout = st.timeout;
		(*out)[i].attempts = st.attempts;
	}
	return 0;
bad_byte:
	berth_error("CHECKS line %d: a NUL byte: CHECKS must be text", lineno);
fail:
	while (*nr > first)
		healthcheck_clear(&(*out)[--(*nr)]);
	return -1;
}

int
checks_load(const char *dir, struct appjson *aj, appjson_note_fn note,
    void *data)
{
	struct strbuf sb = STRBUF_INIT;
	char *path = path_join(dir, "CHECKS");
	int ret = 1;

	if (!path_exists(path))
		goto out;
	if (appjson_check(aj, "web") != NULL) {
		if (note != NULL)
			note("CHECKS not used: app.json has healthchecks for "
			    "web", data);
		ret = 0;
		goto out;
	}
	ret = read_file_regular(path, &sb, CHECKS_MAX_SIZE);
	if (ret == 0)
		ret = checks_parse(sb.buf, sb.len, &aj->checks, &aj->nchecks);
out:
	strbuf_release(&sb);
	free(path);
	return ret;
}
