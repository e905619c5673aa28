/*
 * crypto.c - SHA-256, HMAC-SHA256, constant-time comparison and random
 * bytes from OpenSSL's libcrypto; hex and base64 by hand, because
 * OpenSSL's base64 decoder skips whitespace and forgives bad padding,
 * and berth wants one spelling per byte string (an SSH key added twice
 * must look the same twice). Errors never quote the input, which may be
 * a secret: they name the offending character and its position.
 */
#include "crypto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* "" stands in for a NULL pointer of length 0, which OpenSSL may refuse. */
static const void *
nonnull(const void *p)
{
	return p != NULL ? p : "";
}

/*
 * A digest or MAC that fails here means libcrypto is unusable (out of
 * memory, or a provider configuration that forbids SHA-256): nothing a
 * caller could do about it, so, like xmalloc(), stop.
 */
static void
crypto_fatal(const char *what)
{
	fprintf(stderr, "berth: %s failed in libcrypto: %s\n", what,
	    ERR_error_string(ERR_get_error(), NULL));
	abort();
}

void
crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(nonnull(data), len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != 32)
		crypto_fatal("SHA-256");
}

void
crypto_hmac_sha256(const void *key, size_t klen, const void *data,
    size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	if (klen > (size_t)INT32_MAX)
		crypto_fatal("HMAC-SHA256 (key too long)");
	if (HMAC(EVP_sha256(), nonnull(key), (int)klen, nonnull(data), len,
	    out, &n) == NULL || n != 32)
		crypto_fatal("HMAC-SHA256");
}

int
crypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int
crypto_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t chunk;

	/* RAND_bytes() takes an int. */
	while (len > 0) {
		chunk = len > 1 << 20 ? 1 << 20 : len;
		if (RAND_bytes(p, (int)chunk) != 1)
			return berth_error("cannot read random bytes: %s",
			    ERR_error_string(ERR_get_error(), NULL));
		p += chunk;
		len -= chunk;
	}
	return 0;
}

void
crypto_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

char *
crypto_base64(const void *data, size_t len, int pad)
{
	const unsigned char *p = data;
	char *out, *o;
	size_t i;
	unsigned int v;

	out = xmalloc((len + 2) / 3 * 4 + 1);
	o = out;
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned int)p[i] << 16 | (unsigned int)p[i + 1] << 8 |
		    p[i + 2];
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 0x3f];
		*o++ = b64_alphabet[(v >> 6) & 0x3f];
		*o++ = b64_alphabet[v & 0x3f];
	}
	if (len - i == 1) {
		v = (unsigned int)p[i] << 16;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 0x3f];
		if (pad) {
			*o++ = '=';
			*o++ = '=';
		}
	} else if (len - i == 2) {
		v = (unsigned int)p[i] << 16 | (unsigned int)p[i + 1] << 8;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 0x3f];
		*o++ = b64_alphabet[(v >> 6) & 0x3f];
		if (pad)
			*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* The 6-bit value of base64 character c, or -1. */
static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* c as a message shows it: 'x', or \xNN for what is not printable. */
static void
show_char(int c, char buf[8])
{
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "\\x%02x", (unsigned int)c & 0xff);
}

int
crypto_unbase64(const char *s, struct strbuf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), npad = 0, start = out->len, i, j;
	unsigned int v;
	unsigned char bytes[3];
	char shown[8];
	int d;

	if (len % 4 != 0)
		return berth_error("base64 of %zu characters is cut short: "
		    "its length must be a multiple of 4 (with '=' padding "
		    "at the end)", len);
	while (npad < len && npad < 3 && p[len - 1 - npad] == '=')
		npad++;
	for (i = 0; i < len - npad; i++) {
		if (b64_value(p[i]) >= 0)
			continue;
		show_char(p[i], shown);
		if (p[i] == '=')
			return berth_error("base64 has '=' at position %zu: "
			    "padding may only end it, at most \"==\"", i + 1);
		return berth_error("base64 has %s at position %zu: use only "
		    "A-Z, a-z, 0-9, '+' and '/', with '=' padding at the end",
		    shown, i + 1);
	}
	if (npad == 3)
		return berth_error("base64 has '=' at position %zu: padding "
		    "may only end it, at most \"==\"", len - 2);
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (j = 0; j < 4; j++) {
			d = p[i + j] == '=' ? 0 : b64_value(p[i + j]);
			v = v << 6 | (unsigned int)d;
		}
		bytes[0] = (unsigned char)(v >> 16);
		bytes[1] = (unsigned char)(v >> 8);
		bytes[2] = (unsigned char)v;
		if (i + 4 < len) {
			strbuf_add(out, bytes, 3);
			continue;
		}
		/* The last group: padding leaves bits that must be zero. */
		if ((npad == 1 && (v & 0xff) != 0) ||
		    (npad == 2 && (v & 0xffff) != 0)) {
			out->len = start;
			if (out->buf != NULL)
				out->buf[start] = '\0';
			return berth_error("base64 ends in '%c', which sets "
			    "bits its padding leaves unused: it is not the "
			    "canonical encoding (expected '%c')",
			    p[len - npad - 1],
			    b64_alphabet[b64_value(p[len - npad - 1]) &
			    (npad == 1 ? 0x3c : 0x30)]);
		}
		strbuf_add(out, bytes, 3 - npad);
	}
	return 0;
}
