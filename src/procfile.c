/*
 * procfile.c - process types: the app's Procfile, a buildpack's
 * bin/release defaults, and the JSON form the ledger stores. A struct
 * proctypes owns its strings and keeps the order in which types first
 * appeared; every command in it is valid UTF-8 once it came through one
 * of the parsers here.
 */
#include "procfile.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "util.h"

/* One line of a text buffer, without its "\n" or "\r\n". */
struct line {
	const char *s;
	size_t len;
	int lineno;
};

/* The next line of text (ending at end) into *ln; 0 at the end. */
static int
next_line(const char **p, const char *end, struct line *ln)
{
	const char *s, *e;

	if (!text_line(p, end, &ln->lineno, &s, &e))
		return 0;
	ln->s = s;
	ln->len = (size_t)(e - s);
	return 1;
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Trim spaces and tabs from both ends of s[0..*len). */
static const char *
trim(const char *s, size_t *len)
{
	while (*len > 0 && is_blank((unsigned char)s[0])) {
		s++;
		(*len)--;
	}
	while (*len > 0 && is_blank((unsigned char)s[*len - 1]))
		(*len)--;
	return s;
}

/* Move every type of from into to (replacing same names); empty from. */
static void
proctypes_move(struct proctypes *to, struct proctypes *from)
{
	size_t i;

	for (i = 0; i < from->nr; i++)
		proctypes_set(to, from->items[i].name, from->items[i].command);
	proctypes_clear(from);
}

/*
 * Check one "type: command" pair; what prefixes messages ("Procfile
 * line 3"). On success *name and *cmd are new strings for the caller.
 */
static int
parse_pair(const char *what, const char *type, size_t tlen, const char *cmd,
    size_t clen, char **name, char **command)
{
	char *t;

	t = xstrndup(type, tlen);
	if (name_check_process_type(t) < 0) {
		char *msg = xstrdup(berth_last_error());

		berth_error("%s: %s", what, msg);
		free(msg);
		free(t);
		return -1;
	}
	if (clen == 0) {
		berth_error("%s: process type '%s' has no command", what, t);
		free(t);
		return -1;
	}
	if (!utf8_valid(cmd, clen)) {
		berth_error("%s: the command for '%s' is not valid UTF-8", what,
		    t);
		free(t);
		return -1;
	}
	*name = t;
	*command = xstrndup(cmd, clen);
	return 0;
}

int
procfile_parse(const char *text, size_t len, struct proctypes *out,
    warn_fn warn, void *data)
{
	struct proctypes pt = { NULL, 0 };
	struct line ln = { NULL, 0, 0 };
	const char *p = text;
	size_t tlen, clen;
	const char *colon, *type, *cmd;
	char what[64], *name, *command;

	while (next_line(&p, text + len, &ln)) {
		snprintf(what, sizeof(what), "Procfile line %d", ln.lineno);
		if (memchr(ln.s, '\0', ln.len) != NULL) {
			berth_error("%s: contains a NUL byte", what);
			goto fail;
		}
		tlen = ln.len;
		type = trim(ln.s, &tlen);
		if (tlen == 0 || type[0] == '#')
			continue;
		colon = memchr(type, ':', tlen);
		if (colon == NULL) {
			berth_error("%s: expected 'type: command'", what);
			goto fail;
		}
		clen = tlen - (size_t)(colon - type) - 1;
		cmd = trim(colon + 1, &clen);
		tlen = (size_t)(colon - type);
		type = trim(type, &tlen);
		if (parse_pair(what, type, tlen, cmd, clen, &name,
		    &command) < 0)
			goto fail;
		if (proctypes_get(&pt, name) != NULL && warn != NULL) {
			char *msg = xasprintf("%s: duplicate process type "
			    "'%s'; the last one wins", what, name);

			warn(msg, data);
			free(msg);
		}
		proctypes_set(&pt, name, command);
		free(name);
		free(command);
	}
	proctypes_move(out, &pt);
	return 0;
fail:
	proctypes_clear(&pt);
	return -1;
}

/*
 * The value of a YAML scalar s[0..*len), already trimmed: one level of
 * matching '' or "" quotes is stripped (nothing inside is unescaped);
 * a trailing " # comment" is dropped, as YAML does.
 */
static const char *
yaml_scalar(const char *s, size_t *len)
{
	const char *close, *rest;
	size_t i, rlen;

	if (*len >= 2 && (s[0] == '\'' || s[0] == '"')) {
		/* The last matching quote closes the scalar. */
		for (close = s + *len - 1; close > s && *close != s[0]; close--)
			;
		if (close > s) {
			rlen = *len - (size_t)(close + 1 - s);
			rest = trim(close + 1, &rlen);
			if (rlen == 0 || (rest[0] == '#' && rest > close + 1)) {
				*len = (size_t)(close - s) - 1;
				return s + 1;
			}
		}
	}
	for (i = 1; i < *len; i++)
		if (s[i] == '#' && is_blank((unsigned char)s[i - 1])) {
			*len = i;
			break;
		}
	return trim(s, len);
}

/* Whether a YAML value means an empty mapping: "{}", "~" or "null". */
static int
yaml_empty(const char *v, size_t len)
{
	return (len == 2 && memcmp(v, "{}", 2) == 0) ||
	    (len == 1 && v[0] == '~') ||
	    (len == 4 && memcmp(v, "null", 4) == 0);
}

/* One non-blank line of bin/release output, split for the parser. */
struct yaml_line {
	char what[64];		/* "bin/release line 3", prefixing messages */
	size_t indent;		/* leading spaces */
	const char *s;		/* the content, trimmed; len 0 = blank */
	size_t len;
	const char *colon;	/* the ':' that ends a key, or NULL */
};

/* Where release_yaml_parse() is in the document. */
struct yaml_state {
	int seen_content;	/* a "---" or a key came before */
	int in_types;		/* under default_process_types: */
	size_t child_indent;	/* its entries' indent; 0 = none yet */
};

/*
 * Split ln into yl. The colon ending a key is the first ':' on the
 * line, and only when a blank or the end of the line follows it.
 */
static void
yaml_line_split(const struct line *ln, struct yaml_line *yl)
{
	snprintf(yl->what, sizeof(yl->what), "bin/release line %d",
	    ln->lineno);
	for (yl->indent = 0; yl->indent < ln->len &&
	    ln->s[yl->indent] == ' '; yl->indent++)
		;
	yl->len = ln->len - yl->indent;
	yl->s = trim(ln->s + yl->indent, &yl->len);
	yl->colon = memchr(yl->s, ':', yl->len);
	if (yl->colon != NULL && yl->colon + 1 < yl->s + yl->len &&
	    !is_blank((unsigned char)yl->colon[1]))
		yl->colon = NULL;
}

/*
 * A "key: value" line at the top level: it opens default_process_types
 * (whose value must be empty: its types are on the lines below) or
 * another key, which is ignored with what is under it.
 */
static int
yaml_top_key(struct yaml_state *st, const struct yaml_line *yl)
{
	size_t vlen, klen;
	const char *val;

	if (yl->colon == NULL)
		return berth_error("%s: expected 'key:' at the top level",
		    yl->what);
	vlen = yl->len - (size_t)(yl->colon - yl->s) - 1;
	val = trim(yl->colon + 1, &vlen);
	val = yaml_scalar(val, &vlen);
	klen = (size_t)(yl->colon - yl->s);
	st->in_types = klen == 21 &&
	    memcmp(yl->s, "default_process_types", 21) == 0;
	st->child_indent = 0;
	if (st->in_types && vlen != 0 && !yaml_empty(val, vlen))
		return berth_error("%s: default_process_types must be "
		    "followed by indented 'type: command' lines", yl->what);
	return 0;
}

/*
 * A "type: command" line under default_process_types, indented like
 * the first one, added to pt.
 */
static int
yaml_type_entry(struct yaml_state *st, const struct yaml_line *yl,
    struct proctypes *pt)
{
	size_t vlen, klen;
	const char *val, *key;
	char *name, *command;

	if (st->child_indent == 0)
		st->child_indent = yl->indent;
	if (yl->indent != st->child_indent)
		return berth_error("%s: expected 'type: command' indented "
		    "like the lines above it", yl->what);
	if (yl->colon == NULL)
		return berth_error("%s: expected 'type: command' under "
		    "default_process_types", yl->what);
	klen = (size_t)(yl->colon - yl->s);
	key = trim(yl->s, &klen);
	key = yaml_scalar(key, &klen);
	vlen = yl->len - (size_t)(yl->colon - yl->s) - 1;
	val = trim(yl->colon + 1, &vlen);
	val = yaml_scalar(val, &vlen);
	if (vlen == 1 && (val[0] == '|' || val[0] == '>'))
		return berth_error("%s: multi-line commands ('|' or '>') are "
		    "not supported; put the command on one line", yl->what);
	if (parse_pair(yl->what, key, klen, val, vlen, &name, &command) < 0)
		return -1;
	proctypes_set(pt, name, command);
	free(name);
	free(command);
	return 0;
}

/*
 * One line of the document: blanks and comments are skipped, one "---"
 * may open it, then a top-level key or an entry under one.
 */
static int
yaml_line_parse(struct yaml_state *st, const struct line *ln,
    struct proctypes *pt)
{
	struct yaml_line yl;

	yaml_line_split(ln, &yl);
	if (yl.len == 0 || yl.s[0] == '#')
		return 0;
	if (ln->s[yl.indent] == '\t')
		return berth_error("%s: YAML does not allow tabs for "
		    "indentation", yl.what);
	if (yl.indent == 0 && yl.len == 3 && memcmp(yl.s, "---", 3) == 0) {
		if (st->seen_content)
			return berth_error("%s: only one YAML document is "
			    "allowed", yl.what);
		st->seen_content = 1;
		return 0;
	}
	st->seen_content = 1;
	if (yl.indent == 0)
		return yaml_top_key(st, &yl);
	if (!st->in_types)
		return 0;
	return yaml_type_entry(st, &yl, pt);
}

int
release_yaml_parse(const char *text, struct proctypes *out)
{
	struct proctypes pt = { NULL, 0 };
	struct line ln = { NULL, 0, 0 };
	struct yaml_state st = { 0, 0, 0 };
	const char *p = text;

	while (next_line(&p, text + strlen(text), &ln))
		if (yaml_line_parse(&st, &ln, &pt) < 0) {
			proctypes_clear(&pt);
			return -1;
		}
	proctypes_move(out, &pt);
	return 0;
}

void
proctypes_set(struct proctypes *pt, const char *name, const char *cmd)
{
	size_t i;

	for (i = 0; i < pt->nr; i++)
		if (strcmp(pt->items[i].name, name) == 0) {
			char *c = xstrdup(cmd);

			free(pt->items[i].command);
			pt->items[i].command = c;
			return;
		}
	pt->items = xrealloc(pt->items, (pt->nr + 1) * sizeof(*pt->items));
	pt->items[pt->nr].name = xstrdup(name);
	pt->items[pt->nr].command = xstrdup(cmd);
	pt->nr++;
}

const char *
proctypes_get(const struct proctypes *pt, const char *name)
{
	size_t i;

	for (i = 0; i < pt->nr; i++)
		if (strcmp(pt->items[i].name, name) == 0)
			return pt->items[i].command;
	return NULL;
}

void
proctypes_merge_missing(struct proctypes *dst, const struct proctypes *src)
{
	size_t i;

	for (i = 0; i < src->nr; i++)
		if (proctypes_get(dst, src->items[i].name) == NULL)
			proctypes_set(dst, src->items[i].name,
			    src->items[i].command);
}

void
proctypes_clear(struct proctypes *pt)
{
	size_t i;

	for (i = 0; i < pt->nr; i++) {
		free(pt->items[i].name);
		free(pt->items[i].command);
	}
	free(pt->items);
	pt->items = NULL;
	pt->nr = 0;
}

/*
 * Returns NULL with berth_error() only if a name or command is not
 * valid UTF-8, which the parsers here never let in.
 */
char *
proctypes_to_json(const struct proctypes *pt)
{
	json_t *obj, *str;
	char *dump, *ret;
	size_t i;

	obj = json_object();
	if (obj == NULL)
		abort();
	for (i = 0; i < pt->nr; i++) {
		str = json_string(pt->items[i].command);
		if (str == NULL || json_object_set_new(obj, pt->items[i].name,
		    str) < 0) {
			berth_error("process type '%s' cannot be stored: its "
			    "command is not valid UTF-8", pt->items[i].name);
			json_decref(obj);
			return NULL;
		}
	}
	dump = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (dump == NULL)
		abort();
	/* Hand out memory from our allocator, not jansson's. */
	ret = xstrdup(dump);
	free(dump);
	return ret;
}

int
proctypes_from_json(const char *json, struct proctypes *out)
{
	struct proctypes pt = { NULL, 0 };
	json_error_t err;
	json_t *root, *val;
	const char *key;
	int ret = -1;

	root = json_loads(json, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return berth_error("process types are not valid JSON: %s "
		    "(line %d)", err.text, err.line);
	if (!json_is_object(root)) {
		berth_error("process types must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, val) {
		if (name_check_process_type(key) < 0)
			goto out;
		if (!json_is_string(val)) {
			berth_error("process type '%s' must map to a command "
			    "string", key);
			goto out;
		}
		proctypes_set(&pt, key, json_string_value(val));
	}
	proctypes_move(out, &pt);
	ret = 0;
out:
	proctypes_clear(&pt);
	json_decref(root);
	return ret;
}
