/*
 * test-crypto.c - crypto.c against published vectors (FIPS 180-2,
 * RFC 4231, RFC 4648, GitHub's and Slack's webhook signature examples),
 * and the base64 spellings its strict decoder refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "util.h"

/* The hex of a 32-byte digest into hex[65]. */
static const char *
hex32(const unsigned char d[32], char hex[65])
{
	crypto_hex(d, 32, hex);
	return hex;
}

static void
sha256_is(const char *data, size_t len, const char *want)
{
	unsigned char d[32];
	char hex[65];

	crypto_sha256(data, len, d);
	assert_string_equal(hex32(d, hex), want);
}

static void
hmac_is(const void *key, size_t klen, const char *data, const char *want)
{
	unsigned char d[32];
	char hex[65];

	crypto_hmac_sha256(key, klen, data, strlen(data), d);
	assert_string_equal(hex32(d, hex), want);
}

static void
test_sha256(void **state)
{
	static const char two_blocks[] =
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	(void)state;
	sha256_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	sha256_is(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	sha256_is(two_blocks, strlen(two_blocks), "248d6a61d20638b8"
	    "e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* Bytes, not a C string: a NUL in the middle counts. */
	sha256_is("a\0b", 3, "59b271ae1bbcb1d31d41929817f4b16f"
	    "b439eb4f31520b5ad1d5ce98920a7138");
}

static void
test_hmac_rfc4231(void **state)
{
	unsigned char key1[20], key6[131];

	(void)state;
	memset(key1, 0x0b, sizeof(key1));
	memset(key6, 0xaa, sizeof(key6));
	/* Test case 1. */
	hmac_is(key1, sizeof(key1), "Hi There", "b0344c61d8db38535ca8afceaf0b"
	    "f12b881dc200c9833da726e9376c2e32cff7");
	/* Test case 2: a key shorter than the block. */
	hmac_is("Jefe", 4, "what do ya want for nothing?", "5bdcc146bf60754e6"
	    "a042426089575c75a003f089d2739839dec58b964ec3843");
	/* Test case 6: a key longer than the block is hashed first. */
	hmac_is(key6, sizeof(key6), "Test Using Larger Than Block-Size Key - "
	    "Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c51"
	    "40546040f0ee37f54");
	/* An empty key is allowed (a webhook without a secret). */
	hmac_is(NULL, 0, "", "b613679a0814d9ec772f95d778c35fc5"
	    "ff1697c493715653c6c712144292c5ad");
}

/* GitHub: X-Hub-Signature-256 is "sha256=" + hex HMAC of the body. */
static void
test_hmac_github(void **state)
{
	static const char secret[] = "It's a Secret to Everybody";

	(void)state;
	hmac_is(secret, strlen(secret), "Hello, World!", "757107ea0eb2509fc2112"
	    "21cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

/* Slack: v0= + hex HMAC of "v0:TIMESTAMP:BODY" under the signing secret. */
static void
test_hmac_slack(void **state)
{
	static const char secret[] = "8f742231b10e8888abcd99yyyzzz85a5";
	static const char base[] = "v0:1531420618:"
	    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&"
	    "team_domain=testteamnow&channel_id=G8PSS9T3V&"
	    "channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
	    "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2F"
	    "hooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F"
	    "96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
	    "803a0bc887a14d10d2c447fce8b6703c";

	(void)state;
	hmac_is(secret, strlen(secret), base, "a2114d57b48eac39b9ad189dd8316"
	    "235a7b4a8d21a10bd27519666489c69b503");
}

static void
test_equal(void **state)
{
	(void)state;
	assert_int_equal(crypto_equal("abcd", "abcd", 4), 1);
	assert_int_equal(crypto_equal("abcd", "abce", 4), 0);
	assert_int_equal(crypto_equal("xbcd", "abcd", 4), 0);
	/* Only len bytes count. */
	assert_int_equal(crypto_equal("abcX", "abcY", 3), 1);
	assert_int_equal(crypto_equal("a", "b", 0), 1);
}

static void
test_random(void **state)
{
	unsigned char a[32], b[32], zero[32];

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(b, sizeof(b)), 0);
	/* 2^-256 chances of a false failure. */
	assert_int_equal(crypto_equal(a, b, sizeof(a)), 0);
	assert_int_equal(crypto_equal(a, zero, sizeof(a)), 0);
	assert_int_equal(crypto_random(a, 0), 0);
}

static void
test_hex(void **state)
{
	static const unsigned char in[] = {
		0x00, 0x01, 0x7f, 0x80, 0xab, 0xff,
	};
	char out[2 * sizeof(in) + 1];

	(void)state;
	memset(out, 'x', sizeof(out));
	crypto_hex(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	crypto_hex(in, 0, out);
	assert_string_equal(out, "");
}

/* RFC 4648 section 10, padded and not. */
static void
test_base64_rfc4648(void **state)
{
	static const char *const vec[][3] = {
		{ "", "", "" },
		{ "f", "Zg==", "Zg" },
		{ "fo", "Zm8=", "Zm8" },
		{ "foo", "Zm9v", "Zm9v" },
		{ "foob", "Zm9vYg==", "Zm9vYg" },
		{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
	};
	struct strbuf sb = STRBUF_INIT;
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		s = crypto_base64(vec[i][0], strlen(vec[i][0]), 1);
		assert_string_equal(s, vec[i][1]);
		free(s);
		s = crypto_base64(vec[i][0], strlen(vec[i][0]), 0);
		assert_string_equal(s, vec[i][2]);
		free(s);
		strbuf_reset(&sb);
		assert_int_equal(crypto_unbase64(vec[i][1], &sb), 0);
		assert_int_equal(sb.len, strlen(vec[i][0]));
		assert_memory_equal(strbuf_str(&sb), vec[i][0], sb.len);
	}
	strbuf_release(&sb);
}

/* Every byte value, every length up to 70: encode then decode. */
static void
test_base64_round_trip(void **state)
{
	unsigned char data[256];
	struct strbuf sb = STRBUF_INIT;
	size_t len, i;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(255 - i);
	for (len = 0; len <= 70; len++) {
		s = crypto_base64(data + len % 16, len, 1);
		assert_int_equal(strlen(s), (len + 2) / 3 * 4);
		strbuf_reset(&sb);
		assert_int_equal(crypto_unbase64(s, &sb), 0);
		assert_int_equal(sb.len, len);
		if (len > 0)
			assert_memory_equal(sb.buf, data + len % 16, len);
		free(s);
	}
	s = crypto_base64(data, sizeof(data), 1);
	strbuf_reset(&sb);
	assert_int_equal(crypto_unbase64(s, &sb), 0);
	assert_int_equal(sb.len, sizeof(data));
	assert_memory_equal(sb.buf, data, sizeof(data));
	free(s);
	/* '+' and '/' are the last two values. */
	strbuf_reset(&sb);
	assert_int_equal(crypto_unbase64("+/+/", &sb), 0);
	assert_int_equal(sb.len, 3);
	assert_memory_equal(sb.buf, "\xfb\xff\xbf", 3);
	/* Decoding appends. */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "x");
	assert_int_equal(crypto_unbase64("Zm8=", &sb), 0);
	assert_string_equal(strbuf_str(&sb), "xfo");
	strbuf_release(&sb);
}

/* s must be refused with exactly msg, and out keep what it had. */
static void
unbase64_refuses(const char *s, const char *msg)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "kept");
	berth_clear_error();
	if (crypto_unbase64(s, &sb) != -1)
		fail_msg("'%s' was accepted", s);
	assert_string_equal(berth_last_error(), msg);
	assert_string_equal(strbuf_str(&sb), "kept");
	strbuf_release(&sb);
}

static void
test_base64_refusals(void **state)
{
	(void)state;
	/* Unpadded, or cut short. */
	unbase64_refuses("Zg", "base64 of 2 characters is cut short: its "
	    "length must be a multiple of 4 (with '=' padding at the end)");
	unbase64_refuses("Zm9vY", "base64 of 5 characters is cut short: its "
	    "length must be a multiple of 4 (with '=' padding at the end)");
	unbase64_refuses("Zm9vYg=", "base64 of 7 characters is cut short: "
	    "its length must be a multiple of 4 (with '=' padding at the "
	    "end)");
	/* Outside the alphabet: the URL-safe one, spaces, newlines, NUL. */
	unbase64_refuses("Zm9-", "base64 has '-' at position 4: use only "
	    "A-Z, a-z, 0-9, '+' and '/', with '=' padding at the end");
	unbase64_refuses("Zm9_Zm9v", "base64 has '_' at position 4: use only "
	    "A-Z, a-z, 0-9, '+' and '/', with '=' padding at the end");
	unbase64_refuses("Zm 9", "base64 has \\x20 at position 3: use only "
	    "A-Z, a-z, 0-9, '+' and '/', with '=' padding at the end");
	unbase64_refuses("Zm9v\nZm9v", "base64 of 9 characters is cut short: "
	    "its length must be a multiple of 4 (with '=' padding at the "
	    "end)");
	unbase64_refuses("Zm9\nZm9v", "base64 has \\x0a at position 4: use "
	    "only A-Z, a-z, 0-9, '+' and '/', with '=' padding at the end");
	unbase64_refuses("Zm9\xc3\xa9Zm9", "base64 has \\xc3 at position 4: "
	    "use only A-Z, a-z, 0-9, '+' and '/', with '=' padding at the "
	    "end");
	/* Padding in the wrong place, or too much of it. */
	unbase64_refuses("Zg==Zm9v", "base64 has '=' at position 3: padding "
	    "may only end it, at most \"==\"");
	unbase64_refuses("Z=9v", "base64 has '=' at position 2: padding may "
	    "only end it, at most \"==\"");
	unbase64_refuses("Z===", "base64 has '=' at position 2: padding may "
	    "only end it, at most \"==\"");
	unbase64_refuses("====", "base64 has '=' at position 1: padding may "
	    "only end it, at most \"==\"");
	/* Non-canonical: bits past the data are set. */
	unbase64_refuses("Zh==", "base64 ends in 'h', which sets bits its "
	    "padding leaves unused: it is not the canonical encoding "
	    "(expected 'g')");
	unbase64_refuses("Zm9vZm9=", "base64 ends in '9', which sets bits its "
	    "padding leaves unused: it is not the canonical encoding "
	    "(expected '8')");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hmac_github),
		cmocka_unit_test(test_hmac_slack),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_base64_refusals),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
