/*
 * names.c - the one place that decides which user-supplied names berth
 * accepts. Names end up in paths, SQL parameters, nginx configs and
 * child argv, so every rule here errs on the side of refusing: ASCII
 * only where the header says "letters", and anything a shell or git
 * would treat specially is out. Every refusal is one line that quotes
 * the input (control and invalid bytes escaped) and states the rule.
 */
#include "names.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

/* Longest branch, tag or config key, in bytes. */
#define NAME_MAX_BYTES	255
/* Longest process type, in bytes. */
#define PROCTYPE_MAX	63
/* Room for a quoted name inside an error message. */
#define QUOTE_SIZE	192

static const char *const stages[] = {
	"review", "development", "staging", "production", NULL
};

static int
is_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static int
is_alpha(int c)
{
	return is_lower(c) || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/*
 * Length of the well-formed UTF-8 sequence at p (1 to 4), or 0 when the
 * bytes there are not one: overlong forms, surrogates and code points
 * above U+10FFFF count as malformed. NUL counts as a 1-byte sequence;
 * callers that forbid it check for it themselves.
 */
static size_t
utf8_seq(const unsigned char *p, size_t left)
{
	size_t n, i;
	unsigned int cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] == '\0')
			return 0;
		n = utf8_seq(p + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/*
 * The printable form of the next character at p into piece (at most 4
 * bytes plus NUL): a well-formed UTF-8 sequence as is, a control byte
 * or a byte that is not part of one as \xNN. Returns bytes consumed.
 */
static size_t
quote_piece(const unsigned char *p, size_t left, char piece[5])
{
	size_t n;

	n = utf8_seq(p, left);
	if (n == 0 || p[0] < 0x20 || p[0] == 0x7f) {
		snprintf(piece, 5, "\\x%02x", p[0]);
		return 1;
	}
	memcpy(piece, p, n);
	piece[n] = '\0';
	return n;
}

void
name_quote(const char *s, char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), used = 0, total = 0, room, plen, i, k;
	char piece[5];

	if (n == 0)
		return;
	for (i = 0; i < left; i += k) {
		k = quote_piece(p + i, left - i, piece);
		total += strlen(piece);
	}
	/* When it does not all fit, keep room for "..." and the NUL. */
	room = total < n ? n - 1 : (n > 4 ? n - 4 : 0);
	for (i = 0; i < left; i += k) {
		k = quote_piece(p + i, left - i, piece);
		plen = strlen(piece);
		if (used + plen > room)
			break;
		memcpy(out + used, piece, plen);
		used += plen;
	}
	if (i < left && n > 4) {
		memcpy(out + used, "...", 3);
		used += 3;
	}
	out[used] = '\0';
}

int
has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

char *
name_quoted(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct strbuf sb = STRBUF_INIT;
	size_t left = strlen(s), i, k;
	char piece[5];

	for (i = 0; i < left; i += k) {
		k = quote_piece(p + i, left - i, piece);
		strbuf_addstr(&sb, piece);
	}
	return strbuf_detach(&sb);
}

/* App and pipeline names share one rule; what says which it is. */
static int
check_app_like(const char *what, const char *name)
{
	char q[QUOTE_SIZE];
	size_t len = strlen(name), i;
	int ok = len >= 2 && len <= 30 && is_lower((unsigned char)name[0]);

	for (i = 1; ok && i < len; i++)
		if (!is_lower((unsigned char)name[i]) &&
		    !is_digit((unsigned char)name[i]) && name[i] != '-')
			ok = 0;
	name_quote(name, q, sizeof(q));
	if (!ok)
		return berth_error("%s name '%s' is not valid: use 2-30 "
		    "characters, lowercase letters, digits and '-', starting "
		    "with a letter", what, q);
	if (name[len - 1] == '-')
		return berth_error("%s name '%s' is not valid: it must not end "
		    "with '-'", what, q);
	return 0;
}

/* http://berth.DOMAIN/ is berthd's own (router-conf.c). */
static int
not_reserved(const char *what, const char *name)
{
	if (strcmp(name, "berth") == 0)
		return berth_error("%s name 'berth' is reserved: "
		    "http://berth.DOMAIN/ is berthd's own; pick another", what);
	return 0;
}

int
name_check_app(const char *name)
{
	if (check_app_like("app", name) < 0)
		return -1;
	return not_reserved("app", name);
}

int
name_check_pipeline(const char *name)
{
	/* A pipeline's production app takes the pipeline's name. */
	if (check_app_like("pipeline", name) < 0)
		return -1;
	return not_reserved("pipeline", name);
}

int
name_check_user(const char *name)
{
	return check_app_like("user", name);
}

/*
 * The short part of a branch or tag; kind is "Branch" or "Tag". Returns
 * 0, or -1 with the fixed "... is not allowed: use ..." message, to
 * which a structural rule ("must not contain '..'") is appended when
 * every character is allowed but their arrangement is not.
 */
static int
check_ref_short(const char *kind, const char *name)
{
	static const char allowed[] = "use letters, digits, '/', '-', '_' and "
	    "'.'";
	char q[QUOTE_SIZE];
	const char *why = NULL, *comp;
	size_t len = strlen(name), i, clen;

	name_quote(name, q, sizeof(q));
	if (len > NAME_MAX_BYTES)
		return berth_error("%s name '%s' is too long (%zu bytes): use "
		    "at most %d bytes", kind, q, len, NAME_MAX_BYTES);
	if (len == 0)
		return berth_error("%s name '' is not allowed: %s; it must not "
		    "be empty", kind, allowed);
	if (!utf8_valid(name, len))
		return berth_error("%s name '%s' is not allowed: %s", kind, q,
		    allowed);
	for (i = 0; i < len; i++) {
		int c = (unsigned char)name[i];

		if (!is_alpha(c) && !is_digit(c) && c != '/' && c != '-' &&
		    c != '_' && c != '.')
			return berth_error("%s name '%s' is not allowed: %s",
			    kind, q, allowed);
	}
	if (name[0] == '-')
		why = "it must not start with '-'";
	else if (name[0] == '/')
		why = "it must not start with '/'";
	else if (name[len - 1] == '/')
		why = "it must not end with '/'";
	else if (name[len - 1] == '.')
		why = "it must not end with '.'";
	else if (strstr(name, "..") != NULL)
		why = "it must not contain '..'";
	else if (strstr(name, "//") != NULL)
		why = "it must not contain '//'";
	/* Per component, as git check-ref-format: no ".x", no "x.lock". */
	for (comp = name; why == NULL && *comp != '\0'; comp += clen) {
		clen = strcspn(comp, "/");
		if (comp[0] == '.')
			why = "no part between '/' may start with '.'";
		else if (clen >= 5 && memcmp(comp + clen - 5, ".lock", 5) == 0)
			why = "no part between '/' may end with '.lock'";
		if (comp[clen] == '/')
			clen++;
	}
	if (why != NULL)
		return berth_error("%s name '%s' is not allowed: %s; %s", kind,
		    q, allowed, why);
	return 0;
}

int
name_check_ref(const char *refname)
{
	char q[QUOTE_SIZE];

	if (strncmp(refname, "refs/heads/", 11) == 0)
		return check_ref_short("Branch", refname + 11);
	if (strncmp(refname, "refs/tags/", 10) == 0)
		return check_ref_short("Tag", refname + 10);
	name_quote(refname, q, sizeof(q));
	return berth_error("ref '%s' is not a branch or tag", q);
}

int
name_check_branch(const char *branch)
{
	return check_ref_short("Branch", branch);
}

int
name_check_config_key(const char *key)
{
	char q[QUOTE_SIZE];
	size_t len = strlen(key), i;
	int ok = len > 0 && (is_alpha((unsigned char)key[0]) ||
	    key[0] == '_');

	name_quote(key, q, sizeof(q));
	if (len > NAME_MAX_BYTES)
		return berth_error("config var key '%s' is too long (%zu "
		    "bytes): use at most %d bytes", q, len, NAME_MAX_BYTES);
	for (i = 1; ok && i < len; i++)
		if (!is_alpha((unsigned char)key[i]) &&
		    !is_digit((unsigned char)key[i]) && key[i] != '_')
			ok = 0;
	if (!ok)
		return berth_error("config var key '%s' is not valid: use "
		    "letters, digits and '_', not starting with a digit", q);
	return 0;
}

int
name_is_dyno_var(const char *key)
{
	static const char *const names[] = { "PORT", "DYNO", "HOME",
	    "SOURCE_VERSION", "BERTH_APP", "BERTH_RELEASE", "BERTH_DYNO_ID",
	    NULL };
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], key) == 0)
			return 1;
	return 0;
}

int
name_check_process_type(const char *type)
{
	char q[QUOTE_SIZE];
	size_t len = strlen(type), i;

	name_quote(type, q, sizeof(q));
	for (i = 0; i < len; i++) {
		int c = (unsigned char)type[i];

		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			return berth_error("'%s' is not a valid process type: "
			    "use letters, digits, '-' and '_'", q);
	}
	if (len == 0)
		return berth_error("'' is not a valid process type: use "
		    "letters, digits, '-' and '_'");
	if (len > PROCTYPE_MAX)
		return berth_error("'%s' is not a valid process type: use at "
		    "most %d characters", q, PROCTYPE_MAX);
	if (type[0] == '-' || type[0] == '_')
		return berth_error("'%s' is not a valid process type: start "
		    "with a letter or digit", q);
	return 0;
}

int
name_check_stage(const char *stage)
{
	char q[QUOTE_SIZE];
	size_t i;

	for (i = 0; stages[i] != NULL; i++)
		if (strcmp(stage, stages[i]) == 0)
			return 0;
	name_quote(stage, q, sizeof(q));
	return berth_error("stage '%s' is not valid: use review, development, "
	    "staging or production", q);
}
