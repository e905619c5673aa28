/*
 * sshkey.c - reads the OpenSSH public key a user gives `berth keys:add`
 * and refuses everything else. A key berth accepts ends up in an
 * authorized_keys line behind options berth wrote (a forced command),
 * so the text must not smuggle in options, a second key or a newline,
 * and the key data must be one sshd would accept: berth checks each of
 * its fields (the type inside matches the line's, sizes are whole, RSA
 * moduli are within sshd's bounds) rather than let a user add a key
 * that can never log in. Each refusal is one line: what was wrong, and
 * what to give instead.
 */
#include "sshkey.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "names.h"
#include "util.h"

/* Room for a quoted word inside an error message. */
#define QUOTE_SIZE	64
/* sshd's bounds on an RSA modulus (SSH_RSA_MINIMUM_MODULUS_SIZE...). */
#define RSA_MIN_BITS	1024
#define RSA_MAX_BITS	16384

#define PUB_EXAMPLE	"~/.ssh/id_ed25519.pub"

enum key_shape {
	SHAPE_ED25519,
	SHAPE_RSA,
	SHAPE_ECDSA,
};

/*
 * What the key data of each type holds after its type string: an
 * Ed25519 key (32 bytes), RSA's e and n, or an ECDSA curve name and
 * uncompressed point; a security key (sk) adds its application string.
 */
static const struct key_type {
	const char *name;
	enum key_shape shape;
	const char *curve;
	size_t point_len;
	int sk;
} key_types[] = {
	{ .name = "ssh-ed25519", .shape = SHAPE_ED25519 },
	{ .name = "ssh-rsa", .shape = SHAPE_RSA },
	{ .name = "ecdsa-sha2-nistp256", .shape = SHAPE_ECDSA,
	    .curve = "nistp256", .point_len = 65 },
	{ .name = "ecdsa-sha2-nistp384", .shape = SHAPE_ECDSA,
	    .curve = "nistp384", .point_len = 97 },
	{ .name = "ecdsa-sha2-nistp521", .shape = SHAPE_ECDSA,
	    .curve = "nistp521", .point_len = 133 },
	{ .name = "sk-ssh-ed25519@openssh.com", .shape = SHAPE_ED25519,
	    .sk = 1 },
	{ .name = "sk-ecdsa-sha2-nistp256@openssh.com", .shape = SHAPE_ECDSA,
	    .curve = "nistp256", .point_len = 65, .sk = 1 },
};
#define N_KEY_TYPES	(sizeof(key_types) / sizeof(key_types[0]))

/* The authorized_keys options of sshd(8), which may start a line. */
static const char *const key_options[] = {
	"agent-forwarding", "cert-authority", "command", "environment",
	"expiry-time", "from", "no-agent-forwarding", "no-port-forwarding",
	"no-pty", "no-touch-required", "no-user-rc", "no-x11-forwarding",
	"permitlisten", "permitopen", "port-forwarding", "principals", "pty",
	"restrict", "tunnel", "user-rc", "verify-required", "x11-forwarding",
	NULL
};

/* One line of the input, without its "\n" or "\r\n". */
struct line {
	const char *p;
	size_t len;
	int number;
};

/* The SSH wire format of the key data, read field by field. */
struct blob_reader {
	const unsigned char *p;
	size_t left;
};

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/*
 * The line at *pos into l and *pos past it; 0 at the end of the text.
 * A '\r' right before the '\n' (or the end) is part of the line ending.
 */
static int
next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
	const char *nl;
	size_t n;

	if (*pos >= len)
		return 0;
	l->p = text + *pos;
	nl = memchr(l->p, '\n', len - *pos);
	n = nl != NULL ? (size_t)(nl - l->p) : len - *pos;
	*pos += n + (nl != NULL);
	if (n > 0 && l->p[n - 1] == '\r')
		n--;
	l->len = n;
	l->number++;
	return 1;
}

/* l without its leading blanks. */
static void
skip_blanks(struct line *l)
{
	while (l->len > 0 && is_blank((unsigned char)l->p[0])) {
		l->p++;
		l->len--;
	}
}

static int
starts_with(const struct line *l, const char *prefix)
{
	size_t n = strlen(prefix);

	return l->len >= n && memcmp(l->p, prefix, n) == 0;
}

static int
contains(const struct line *l, const char *word)
{
	size_t n = strlen(word), i;

	for (i = 0; i + n <= l->len; i++)
		if (memcmp(l->p + i, word, n) == 0)
			return 1;
	return 0;
}

/*
 * Whether a line that is not a public key line is some other kind of
 * key file people mistake for one: a private key (OpenSSH, PEM, PKCS#8,
 * RFC 4716, PuTTY), or a public key in a format sshd does not read.
 */
static int
check_key_file_kind(const struct line *l)
{
	if (starts_with(l, "PuTTY-User-Key-File-") ||
	    ((starts_with(l, "-----BEGIN") || starts_with(l, "---- BEGIN")) &&
	    contains(l, "PRIVATE KEY")))
		return berth_error("this is a private key; give its public "
		    "half, e.g. " PUB_EXAMPLE);
	if (starts_with(l, "---- BEGIN SSH2 PUBLIC KEY"))
		return berth_error("this is an RFC 4716 (SSH2) public key; "
		    "convert it with `ssh-keygen -i -f FILE` and give the "
		    "line that prints");
	if (starts_with(l, "-----BEGIN") && contains(l, "PUBLIC KEY"))
		return berth_error("this is a PEM public key; convert it with "
		    "`ssh-keygen -i -m PKCS8 -f FILE` and give the line that "
		    "prints");
	return 0;
}

/* The characters a key file may hold: no NUL, no control but tab. */
static int
check_characters(const struct line *l)
{
	size_t i;
	int c;

	for (i = 0; i < l->len; i++) {
		c = (unsigned char)l->p[i];
		if (c == '\0')
			return berth_error("line %d has a NUL byte: this is "
			    "not a public key file; give one, e.g. "
			    PUB_EXAMPLE, l->number);
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return berth_error("line %d has a control character "
			    "(\\x%02x): give the public key as ssh-keygen "
			    "wrote it", l->number, (unsigned int)c);
	}
	return 0;
}

/* Whether a line holds nothing for the parser: blank, or a '#' line. */
static int
is_ignored(const struct line *l)
{
	struct line t = *l;

	skip_blanks(&t);
	return t.len == 0 || t.p[0] == '#';
}

/* The next blank-separated word of l into w (consumed from l). */
static void
next_word(struct line *l, struct line *w)
{
	skip_blanks(l);
	w->p = l->p;
	w->len = 0;
	while (w->len < l->len && !is_blank((unsigned char)l->p[w->len]))
		w->len++;
	l->p += w->len;
	l->len -= w->len;
}

/* w, quoted for a message (control bytes escaped, long ones cut). */
static void
quote_word(const struct line *w, char q[QUOTE_SIZE])
{
	char *s = xstrndup(w->p, w->len);

	name_quote(s, q, QUOTE_SIZE);
	free(s);
}

static const struct key_type *
find_type(const struct line *w)
{
	size_t i;

	for (i = 0; i < N_KEY_TYPES; i++)
		if (strlen(key_types[i].name) == w->len &&
		    memcmp(key_types[i].name, w->p, w->len) == 0)
			return &key_types[i];
	return NULL;
}

/*
 * Whether the first word of a key line is the start of authorized_keys
 * options ("restrict", "no-pty,...", "command=\"...\""): a known option
 * name (sshd ignores their case), or anything with '=', ',' or '"'.
 */
static int
is_options(const struct line *w)
{
	size_t i, n;

	if (memchr(w->p, '=', w->len) != NULL ||
	    memchr(w->p, ',', w->len) != NULL ||
	    memchr(w->p, '"', w->len) != NULL)
		return 1;
	for (i = 0; key_options[i] != NULL; i++) {
		n = strlen(key_options[i]);
		if (w->len == n && strncasecmp(w->p, key_options[i], n) == 0)
			return 1;
	}
	return 0;
}

/*
 * The next SSH string (a uint32 big-endian length, then the bytes): 0,
 * or -1 when the data ends first.
 */
static int
next_string(struct blob_reader *r, const unsigned char **s, size_t *n)
{
	uint32_t len;

	if (r->left < 4)
		return -1;
	len = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	if (len > r->left - 4)
		return -1;
	*s = r->p + 4;
	*n = len;
	r->p += 4 + len;
	r->left -= 4 + len;
	return 0;
}

/* The type key data w names in its first field, when w is key data. */
static const struct key_type *
data_type(const struct line *w)
{
	struct strbuf blob = STRBUF_INIT;
	struct blob_reader r;
	struct line name;
	const struct key_type *t = NULL;
	const unsigned char *s;
	char *b64 = xstrndup(w->p, w->len);

	if (crypto_unbase64(b64, &blob) == 0) {
		r.p = (const unsigned char *)blob.buf;
		r.left = blob.len;
		if (next_string(&r, &s, &name.len) == 0) {
			name.p = (const char *)s;
			t = find_type(&name);
		}
	}
	berth_clear_error();
	free(b64);
	strbuf_release(&blob);
	return t;
}

/* Refuse a first word that is not a supported type, saying what it is. */
static int
refuse_type(const struct line *first, const struct line *rest)
{
	struct strbuf names = STRBUF_INIT;
	struct line r = *rest, w;
	const struct key_type *t;
	char q[QUOTE_SIZE];
	size_t i;
	int later = 0;

	if (is_options(first))
		return berth_error("key options are refused: give the bare "
		    "public key; berth writes the options");
	quote_word(first, q);
	for (next_word(&r, &w); w.len > 0; next_word(&r, &w))
		if (find_type(&w) != NULL)
			later = 1;
	if (later)
		return berth_error("'%s' comes before the key type: give the "
		    "bare public key line, starting with its type", q);
	if ((t = data_type(first)) != NULL)
		return berth_error("the key line starts with its key data: "
		    "put its type first (\"%s %.8s...\")", t->name, first->p);
	for (i = 0; i < N_KEY_TYPES; i++) {
		if (i > 0)
			strbuf_addstr(&names, i + 1 < N_KEY_TYPES ? ", " :
			    " or ");
		strbuf_addstr(&names, key_types[i].name);
	}
	berth_error("key type '%s' is not supported: use %s (e.g. "
	    "`ssh-keygen -t ed25519`)", q, names.buf);
	strbuf_release(&names);
	return -1;
}

static int
malformed(const struct key_type *t, const char *why)
{
	return berth_error("the %s key data is malformed: %s; copy the whole "
	    "line of the .pub file unchanged", t->name, why);
}

/* The next field, which must be there: 0, or -1 naming it. */
static int
need_field(const struct key_type *t, struct blob_reader *r, const char *what,
    const unsigned char **s, size_t *n)
{
	char why[64];

	if (next_string(r, s, n) == 0)
		return 0;
	snprintf(why, sizeof(why), "it ends inside its %s", what);
	return malformed(t, why);
}

/* An RSA key's e and n: positive, n within sshd's sizes. */
static int
check_rsa(const struct key_type *t, struct blob_reader *r)
{
	const unsigned char *e, *n;
	size_t elen, nlen, bits;
	unsigned int top;

	if (need_field(t, r, "exponent", &e, &elen) < 0 ||
	    need_field(t, r, "modulus", &n, &nlen) < 0)
		return -1;
	if (elen == 0 || (e[0] & 0x80) != 0)
		return malformed(t, "its exponent is not a positive number");
	if (nlen == 0 || (n[0] & 0x80) != 0)
		return malformed(t, "its modulus is not a positive number");
	while (nlen > 0 && n[0] == 0) {
		n++;
		nlen--;
	}
	bits = 0;
	if (nlen > 0) {
		bits = (nlen - 1) * 8;
		for (top = n[0]; top != 0; top >>= 1)
			bits++;
	}
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
		return berth_error("the ssh-rsa key has %zu bits: sshd accepts "
		    "RSA keys of %d to %d bits; make a new key with "
		    "`ssh-keygen -t ed25519`", bits, RSA_MIN_BITS,
		    RSA_MAX_BITS);
	return 0;
}

/* An ECDSA key's curve name and uncompressed point (0x04 X Y). */
static int
check_ecdsa(const struct key_type *t, struct blob_reader *r)
{
	const unsigned char *curve, *point;
	size_t clen, plen;
	char why[96];

	if (need_field(t, r, "curve name", &curve, &clen) < 0 ||
	    need_field(t, r, "public point", &point, &plen) < 0)
		return -1;
	if (clen != strlen(t->curve) || memcmp(curve, t->curve, clen) != 0) {
		snprintf(why, sizeof(why), "its curve is not %s", t->curve);
		return malformed(t, why);
	}
	if (plen != t->point_len || point[0] != 0x04) {
		snprintf(why, sizeof(why), "its public point is not an "
		    "uncompressed %s point", t->curve);
		return malformed(t, why);
	}
	return 0;
}

/*
 * The decoded key data: its type string first (the same as the line's),
 * then what the type holds, and nothing after.
 */
static int
check_blob(const struct key_type *t, const unsigned char *blob, size_t len)
{
	struct blob_reader r = { .p = blob, .left = len };
	const unsigned char *s;
	size_t n;
	char q[QUOTE_SIZE], why[64], *name;

	if (next_string(&r, &s, &n) < 0)
		return berth_error("the key data ends inside its first field "
		    "(its type): copy the whole line of the .pub file "
		    "unchanged");
	if (n != strlen(t->name) || memcmp(s, t->name, n) != 0) {
		name = xstrndup((const char *)s, n < QUOTE_SIZE ? n :
		    QUOTE_SIZE);
		name_quote(name, q, sizeof(q));
		free(name);
		return berth_error("the key line says %s but its key data is "
		    "of type '%s': copy the line of the .pub file unchanged",
		    t->name, q);
	}
	switch (t->shape) {
	case SHAPE_ED25519:
		if (need_field(t, &r, "public key", &s, &n) < 0)
			return -1;
		if (n != 32) {
			snprintf(why, sizeof(why), "its public key is %zu "
			    "bytes, not 32", n);
			return malformed(t, why);
		}
		break;
	case SHAPE_RSA:
		if (check_rsa(t, &r) < 0)
			return -1;
		break;
	case SHAPE_ECDSA:
		if (check_ecdsa(t, &r) < 0)
			return -1;
		break;
	}
	if (t->sk && need_field(t, &r, "application", &s, &n) < 0)
		return -1;
	if (r.left != 0) {
		snprintf(why, sizeof(why), "%zu bytes follow its last field",
		    r.left);
		return malformed(t, why);
	}
	return 0;
}

/*
 * The comment is shown by `berth keys` and in logs: printable UTF-8,
 * no C0 or C1 control characters (a terminal would act on them).
 */
static int
check_comment(const char *c, size_t len)
{
	const unsigned char *p = (const unsigned char *)c;
	size_t i;

	if (!utf8_valid(c, len))
		return berth_error("the key's comment is not valid UTF-8: "
		    "change it with `ssh-keygen -c -f FILE`, or remove it");
	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f ||
		    (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f))
			return berth_error("the key's comment has a control "
			    "character (\\x%02x): change it with `ssh-keygen "
			    "-c -f FILE`, or remove it", (unsigned int)(p[i] ==
			    0xc2 ? p[i + 1] : p[i]));
	return 0;
}

/* One key line, known to be the only one, into out. */
static int
parse_key_line(const struct line *key, struct sshkey *out)
{
	struct strbuf blob = STRBUF_INIT;
	struct line rest = *key, first, data;
	const struct key_type *t;
	unsigned char digest[32];
	char *b64 = NULL, *fp;
	int ret = -1;

	next_word(&rest, &first);
	t = find_type(&first);
	if (t == NULL)
		return refuse_type(&first, &rest);
	next_word(&rest, &data);
	if (data.len == 0)
		return berth_error("the key line has its type (%s) but no key "
		    "data after it: copy the whole line of the .pub file",
		    t->name);
	b64 = xstrndup(data.p, data.len);
	if (crypto_unbase64(b64, &blob) < 0) {
		berth_error("the key data is not valid base64: %s; copy the "
		    "whole line of the .pub file unchanged",
		    berth_last_error());
		goto out;
	}
	if (check_blob(t, (const unsigned char *)blob.buf, blob.len) < 0)
		goto out;
	skip_blanks(&rest);
	while (rest.len > 0 && is_blank((unsigned char)rest.p[rest.len - 1]))
		rest.len--;
	if (check_comment(rest.p, rest.len) < 0)
		goto out;
	crypto_sha256(blob.buf, blob.len, digest);
	fp = crypto_base64(digest, sizeof(digest), 0);
	snprintf(out->fingerprint, sizeof(out->fingerprint), "SHA256:%s", fp);
	free(fp);
	out->type = xstrdup(t->name);
	/* The same text (the decoder takes only canonical base64). */
	out->blob64 = crypto_base64(blob.buf, blob.len, 1);
	out->comment = xstrndup(rest.p, rest.len);
	ret = 0;
out:
	free(b64);
	strbuf_release(&blob);
	return ret;
}

int
sshkey_parse(const char *text, size_t len, struct sshkey *out)
{
	struct line l = { .number = 0 }, key = { .number = 0 }, t;
	size_t pos;
	int keys = 0, second = 0;

	memset(out, 0, sizeof(*out));
	if (len > SSHKEY_MAX_INPUT)
		return berth_error("the input is %zu bytes: a public key is at "
		    "most 16 KB (%d bytes); give the .pub file, e.g. "
		    PUB_EXAMPLE, len, SSHKEY_MAX_INPUT);
	if (len == 0)
		return berth_error("no public key given: the input is empty; "
		    "give one, e.g. " PUB_EXAMPLE);
	/* A pasted private key is named as such whatever else is there. */
	for (pos = 0; next_line(text, len, &pos, &l); ) {
		t = l;
		skip_blanks(&t);
		if (check_key_file_kind(&t) < 0)
			return -1;
	}
	for (pos = 0, l.number = 0; next_line(text, len, &pos, &l); ) {
		if (check_characters(&l) < 0)
			return -1;
		if (is_ignored(&l))
			continue;
		if (++keys == 1)
			key = l;
		else if (keys == 2)
			second = l.number;
	}
	if (keys == 0)
		return berth_error("no public key found: the input has only "
		    "blank and '#' lines; give one, e.g. " PUB_EXAMPLE);
	if (keys > 1)
		return berth_error("the input holds more than one key (lines "
		    "%d and %d): add one key at a time", key.number, second);
	if (parse_key_line(&key, out) < 0) {
		sshkey_clear(out);
		return -1;
	}
	return 0;
}

void
sshkey_clear(struct sshkey *k)
{
	free(k->type);
	free(k->blob64);
	free(k->comment);
	memset(k, 0, sizeof(*k));
}

char *
sshkey_line(const struct sshkey *k)
{
	return xasprintf("%s %s", k->type, k->blob64);
}
