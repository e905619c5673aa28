/*
 * crypto.h - the little cryptography berth needs, over OpenSSL's
 * libcrypto: SHA-256 (SSH key fingerprints, token digests), HMAC-SHA256
 * (webhook signatures: GitHub's X-Hub-Signature-256, Slack's v0), a
 * constant-time comparison for secrets, random bytes, hex, and a base64
 * whose decoder accepts only the canonical padded encoding. No other
 * module includes an OpenSSL header.
 */
#ifndef BERTH_CRYPTO_H
#define BERTH_CRYPTO_H

#include <stddef.h>

struct strbuf;

/* SHA-256 of data into out. data may be NULL when len is 0. */
void crypto_sha256(const void *data, size_t len, unsigned char out[32]);
/* HMAC-SHA256 of data under key into out (either may be NULL at 0 length). */
void crypto_hmac_sha256(const void *key, size_t klen, const void *data,
    size_t len, unsigned char out[32]);
/*
 * 1 when the len bytes at a and b are the same, else 0, in a time that
 * does not depend on where they differ: for secrets and signatures.
 */
int crypto_equal(const void *a, const void *b, size_t len);
/* len bytes from the system's secure generator: 0, or -1 (berth_error). */
int crypto_random(void *buf, size_t len);
/* in as 2*len lowercase hex digits and a NUL into out[2*len+1]. */
void crypto_hex(const unsigned char *in, size_t len, char *out);
/*
 * data in standard base64 (RFC 4648 alphabet A-Z a-z 0-9 + /), with '='
 * padding to a multiple of 4 when pad, without it (as ssh-keygen prints
 * fingerprints) when not. Caller frees.
 */
char *crypto_base64(const void *data, size_t len, int pad);
/*
 * Decode s, which must be padded base64 in its one canonical spelling:
 * nothing outside the alphabet (no spaces, no newlines), a length that
 * is a multiple of 4, at most two '=' and only at the end, and zero in
 * the bits the padding leaves over (so each byte string has exactly one
 * accepted spelling). Appends the bytes to out: 0, or -1 with a
 * berth_error() that says what was wrong (out keeps what it had).
 */
int crypto_unbase64(const char *s, struct strbuf *out);

#endif
