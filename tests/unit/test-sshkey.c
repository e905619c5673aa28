/*
 * test-sshkey.c - which public keys `berth keys:add` accepts, the exact
 * words of each refusal, and fingerprints that agree with ssh-keygen:
 * fixed lines whose fingerprints ssh-keygen printed, and (when
 * ssh-keygen is installed) new keys of each type made and fingerprinted
 * by it in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "run-command.h"
#include "sshkey.h"
#include "util.h"

#define TYPES "ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, " \
	"ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, " \
	"sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com"
#define COPY_LINE "copy the whole line of the .pub file unchanged"

/* Keys ssh-keygen made, with what `ssh-keygen -lf` printed for them. */
static const struct {
	const char *type, *blob64, *comment, *fingerprint;
} known[] = {
	{ "ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIHFa5p9Y6kk+JR78So3fVGAYoOkN"
	    "I7ugULv9ZxJ99owN", "user@host ed25519",
	    "SHA256:eo3SpvaJJsu+7fpHvGPxtty4f7T8C+Th1p2QJVlqHCQ" },
	{ "ssh-rsa", "AAAAB3NzaC1yc2EAAAADAQABAAABAQCRxr687GmXBa5VVyJLIhfW4yhA"
	    "FuiSBXScSErW9GYvbwdYN4d+EcnPbFjBuomhMH3DTQUHyPHi93ORQ7dTos/WI+Fi"
	    "dd6B89hhqJlX2dUPKzYoPolE81Y0tuHf+HnlCH/2lnRLn0EQiGJTsAQvpAV126Dd"
	    "8quRi0k8/+KhlS5nZu816mFOQ0TyB2T5XgNG9MfSK6zC8c+2mG5wQgd1F5K3oUuY"
	    "OeTd/OpJJB47wSD4aOWHppz5k3jXXhwXy0wRynfINAtmBH6euJmXOR89yIYvx70U"
	    "/hMcnRRXZh4gjJVZN+D2H6CyPNoDkhpx7wRTdd1K6UogOcPiOLKKVl1OsWKX",
	    "user@host rsab2048",
	    "SHA256:sBTl0erBSdOwPKvKGpOBHnqDPY83mTPICK6sXe/yegI" },
	{ "ssh-rsa", "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDZ8teXXleaMPER3o1BYYaYdamn"
	    "JpUgTmypHjfwGGD5U20jRlVInlM+EwzfORqPhOgwxmQLNImwJsZ5RAHYY0NjNceH"
	    "Lw91VNR6UVOXETWXKuz2Rc3lYwsN8YCZnBkDlBHx2hJy2TvGISyi7VE0OQaoDmAk"
	    "3sJsr73c57tnV94SKw==", "r1024",
	    "SHA256:7aGm3jQLwIBqhSI/ZEwcmAaMRtcH1CrTr9X3f6ywd9A" },
	{ "ecdsa-sha2-nistp256", "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAy"
	    "NTYAAABBBKSmpk0Rptou5Uftm10sLfIKxW6sMG9z6P8z29eqw7ENC9womxCyspzx"
	    "EbVEEA5wKStlqr/7ZYzLjXJFi4lbKdM=", "user@host ecdsab256",
	    "SHA256:nMrYAK1SIXhkxW80iJX+ImVrswrQJdPFooweS0O2UyM" },
	{ "ecdsa-sha2-nistp384", "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAz"
	    "ODQAAABhBO2cP2KLc35hjqLDjSletkDUNBWgq1rh+twG9bd/3xQQTe/T8eD3DEJe"
	    "ax4JcjaJx23FWS00mmPd009beBK04YEdQXqO50HUV4wG+ppMdI4lHAP9TTK0APai"
	    "1/dS1I0wxA==", "user@host ecdsab384",
	    "SHA256:9+Jt5nPO1ELug27zQ4Lu618iqmwzFPPSZ3Vmkp3KPoE" },
	{ "ecdsa-sha2-nistp521", "AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1"
	    "MjEAAACFBAF/WIvqfeOy6ufIX98xIoyZILgTs0ZAO4hmFUy5jYBXLIOAnnjzZPJ4"
	    "4qB24BLmcd+sQ12yO3dfcONtG7W9SOn8IQAsqT+RxQ//mLDdX5VI/xoHOWktXwAD"
	    "h5oJ4NU/caNq4jiSI1Jla3l7FuWkdLeqp1KIZ4bnF1nOPNKfnlotBc5uyA==",
	    "user@host ecdsab521",
	    "SHA256:/PDVh8h2BWPu4VMMfU9M4N0lsKXK9/rpYua4UOFlabk" },
	/* Security keys: the Ed25519 and P-256 keys above, as a FIDO
	 * token would hold them (application "ssh:"). */
	{ "sk-ssh-ed25519@openssh.com", "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2gu"
	    "Y29tAAAAIHFa5p9Y6kk+JR78So3fVGAYoOkNI7ugULv9ZxJ99owNAAAABHNzaDo=",
	    "sk ed", "SHA256:UtjwH1JAJ/sfoGvagGg9Pw9qHszeXleq5UlwepErs+4" },
	{ "sk-ecdsa-sha2-nistp256@openssh.com", "AAAAInNrLWVjZHNhLXNoYTItbmlz"
	    "dHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBKSmpk0Rptou5Uftm10s"
	    "LfIKxW6sMG9z6P8z29eqw7ENC9womxCyspzxEbVEEA5wKStlqr/7ZYzLjXJFi4lb"
	    "KdMAAAAEc3NoOg==", "sk ec",
	    "SHA256:vIj2VwIxX5wJjpk0cRcQeGXZl4inUHfHWBpwdsnC8z4" },
};
#define N_KNOWN	(sizeof(known) / sizeof(known[0]))

/* The Ed25519 key above as one line, for tests that vary its wrapping. */
#define ED_TYPE	"ssh-ed25519"
#define ED_B64	"AAAAC3NzaC1lZDI1NTE5AAAAIHFa5p9Y6kk+JR78So3fVGAYoOkNI7ugULv9" \
	"ZxJ99owN"
#define ED_LINE	ED_TYPE " " ED_B64
#define ED_FP	"SHA256:eo3SpvaJJsu+7fpHvGPxtty4f7T8C+Th1p2QJVlqHCQ"

/* text (len bytes) must parse to type and comment, with ED's data. */
static void
accepts_len(const char *text, size_t len, const char *comment)
{
	struct sshkey k;

	berth_clear_error();
	if (sshkey_parse(text, len, &k) != 0)
		fail_msg("refused \"%s\": %s", text, berth_last_error());
	assert_string_equal(k.type, ED_TYPE);
	assert_string_equal(k.blob64, ED_B64);
	assert_string_equal(k.comment, comment);
	assert_string_equal(k.fingerprint, ED_FP);
	sshkey_clear(&k);
}

static void
accepts(const char *text, const char *comment)
{
	accepts_len(text, strlen(text), comment);
}

/* text must be refused with exactly msg, and k left zeroed. */
static void
refuses_len(const char *text, size_t len, const char *msg)
{
	struct sshkey k;

	memset(&k, 0xff, sizeof(k));
	berth_clear_error();
	if (sshkey_parse(text, len, &k) != -1)
		fail_msg("accepted \"%s\"", text);
	assert_string_equal(berth_last_error(), msg);
	assert_null(k.type);
	assert_null(k.blob64);
	assert_null(k.comment);
	assert_string_equal(k.fingerprint, "");
}

static void
refuses(const char *text, const char *msg)
{
	refuses_len(text, strlen(text), msg);
}

/* A line "TYPE BASE64-OF-BLOB" for key data built by a test. */
static char *
line_of(const char *type, const struct strbuf *blob)
{
	char *b64 = crypto_base64(blob->buf, blob->len, 1), *line;

	line = xasprintf("%s %s\n", type, b64);
	free(b64);
	return line;
}

/* Append an SSH string (uint32 big-endian length, then the bytes). */
static void
put_string(struct strbuf *sb, const void *data, size_t len)
{
	unsigned char n[4] = {
		(unsigned char)(len >> 24), (unsigned char)(len >> 16),
		(unsigned char)(len >> 8), (unsigned char)len,
	};

	strbuf_add(sb, n, 4);
	strbuf_add(sb, data, len);
}

static void
put_str(struct strbuf *sb, const char *s)
{
	put_string(sb, s, strlen(s));
}

/* Key data built by a test must be refused with exactly msg. */
static void
blob_refused(const char *type, const struct strbuf *blob, const char *msg)
{
	char *line = line_of(type, blob);

	refuses(line, msg);
	free(line);
}

static void
test_known_keys(void **state)
{
	struct sshkey k;
	char *text, *line;
	size_t i;

	(void)state;
	for (i = 0; i < N_KNOWN; i++) {
		text = xasprintf("%s %s %s\n", known[i].type, known[i].blob64,
		    known[i].comment);
		berth_clear_error();
		if (sshkey_parse(text, strlen(text), &k) != 0)
			fail_msg("%s refused: %s", known[i].type,
			    berth_last_error());
		assert_string_equal(k.type, known[i].type);
		assert_string_equal(k.blob64, known[i].blob64);
		assert_string_equal(k.comment, known[i].comment);
		assert_string_equal(k.fingerprint, known[i].fingerprint);
		line = sshkey_line(&k);
		assert_int_equal(strlen(line), strlen(text) - 2 -
		    strlen(known[i].comment));
		assert_memory_equal(line, text, strlen(line));
		free(line);
		sshkey_clear(&k);
		assert_null(k.type);
		free(text);
	}
	/* Clearing twice, or a zeroed key, is fine. */
	sshkey_clear(&k);
}

/* What may surround or separate the fields of the one key line. */
static void
test_accepted_layouts(void **state)
{
	static char exact[SSHKEY_MAX_INPUT + 1];
	size_t n;

	(void)state;
	accepts(ED_LINE, "");
	accepts(ED_LINE "\n", "");
	accepts(ED_LINE " alice@laptop\n", "alice@laptop");
	accepts(ED_LINE " alice@laptop", "alice@laptop");
	accepts(ED_LINE "   work laptop (2024)  \n", "work laptop (2024)");
	accepts(ED_TYPE "\t" ED_B64 "\talice\t\n", "alice");
	accepts("  " ED_LINE " x\n", "x");
	accepts(ED_LINE " Jos\xc3\xa9 \xe2\x9c\x93\n",
	    "Jos\xc3\xa9 \xe2\x9c\x93");
	accepts(ED_LINE " # not a comment line\n", "# not a comment line");
	/* Windows line ends. */
	accepts(ED_LINE " alice\r\n", "alice");
	accepts("# mine\r\n\r\n" ED_LINE " alice\r\n\r\n", "alice");
	/* Blank and '#' lines around it. */
	accepts("\n\n" ED_LINE " a\n\n", "a");
	accepts("# my laptop's key\n  \t\n" ED_LINE " a\n# the end\n", "a");
	accepts("  # indented note\n" ED_LINE "\n", "");
	/* 16 KB exactly: the key, then '#' padding. */
	n = strlen(ED_LINE "\n");
	memcpy(exact, ED_LINE "\n", n);
	memset(exact + n, '#', sizeof(exact) - 1 - n);
	accepts_len(exact, SSHKEY_MAX_INPUT, "");
	/* No NUL is needed after the text. */
	accepts_len(ED_LINE " alice and more", strlen(ED_LINE) + 6, "alice");
}

static void
test_empty(void **state)
{
	(void)state;
	refuses("", "no public key given: the input is empty; give one, e.g. "
	    "~/.ssh/id_ed25519.pub");
	refuses_len(NULL, 0, "no public key given: the input is empty; give "
	    "one, e.g. ~/.ssh/id_ed25519.pub");
	refuses("\n", "no public key found: the input has only blank and '#' "
	    "lines; give one, e.g. ~/.ssh/id_ed25519.pub");
	refuses(" \t\n\r\n\n", "no public key found: the input has only blank "
	    "and '#' lines; give one, e.g. ~/.ssh/id_ed25519.pub");
	refuses("# " ED_LINE "\n", "no public key found: the input has only "
	    "blank and '#' lines; give one, e.g. ~/.ssh/id_ed25519.pub");
}

static void
test_private_keys(void **state)
{
	static const char want[] = "this is a private key; give its public "
	    "half, e.g. ~/.ssh/id_ed25519.pub";

	(void)state;
	refuses("-----BEGIN OPENSSH PRIVATE KEY-----\n"
	    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz\n"
	    "-----END OPENSSH PRIVATE KEY-----\n", want);
	refuses("-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n"
	    "-----END RSA PRIVATE KEY-----\n", want);
	refuses("-----BEGIN EC PRIVATE KEY-----\n", want);
	refuses("-----BEGIN PRIVATE KEY-----\n", want);
	refuses("-----BEGIN ENCRYPTED PRIVATE KEY-----\r\n", want);
	refuses("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n", want);
	refuses("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n", want);
	/* Whatever comes with it: `cat id_ed25519.pub id_ed25519`. */
	refuses(ED_LINE " a\n-----BEGIN OPENSSH PRIVATE KEY-----\n\x01\n",
	    want);
	refuses("  -----BEGIN OPENSSH PRIVATE KEY-----", want);
	/* Public keys in formats sshd does not read. */
	refuses("---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"x\"\n"
	    "AAAAC3NzaC1lZDI1NTE5AAAAIHFa5p9Y6kk+JR78So3fVGAYoOkNI7ugULv9ZxJ9\n"
	    "---- END SSH2 PUBLIC KEY ----\n", "this is an RFC 4716 (SSH2) "
	    "public key; convert it with `ssh-keygen -i -f FILE` and give the "
	    "line that prints");
	refuses("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n"
	    "-----END PUBLIC KEY-----\n", "this is a PEM public key; convert "
	    "it with `ssh-keygen -i -m PKCS8 -f FILE` and give the line that "
	    "prints");
}

static void
test_options(void **state)
{
	static const char want[] = "key options are refused: give the bare "
	    "public key; berth writes the options";

	(void)state;
	refuses("command=\"berth-receive alice\" " ED_LINE "\n", want);
	refuses("command=\"echo a b\",restrict " ED_LINE " a\n", want);
	refuses("restrict " ED_LINE "\n", want);
	refuses("RESTRICT " ED_LINE "\n", want);
	refuses("no-pty,no-port-forwarding " ED_LINE "\n", want);
	refuses("no-pty " ED_LINE "\n", want);
	refuses("from=\"10.0.0.0/8\" " ED_LINE "\n", want);
	refuses("environment=\"BERTH_USER=root\" " ED_LINE "\n", want);
	refuses("cert-authority " ED_LINE "\n", want);
	refuses("# ok\n\n  restrict " ED_LINE "\n", want);
	/* Something else before the type. */
	refuses("alice " ED_LINE "\n", "'alice' comes before the key type: "
	    "give the bare public key line, starting with its type");
}

static void
test_several_keys(void **state)
{
	(void)state;
	refuses(ED_LINE " a\n" ED_LINE " b\n", "the input holds more than one "
	    "key (lines 1 and 2): add one key at a time");
	refuses("# first\n" ED_LINE " a\n\n# second\n" ED_LINE " b\n" ED_LINE
	    "\n", "the input holds more than one key (lines 2 and 5): add one "
	    "key at a time");
	/* A second line that is not a key is not accepted either. */
	refuses(ED_LINE " a\nhello\n", "the input holds more than one key "
	    "(lines 1 and 2): add one key at a time");
}

static void
test_unsupported_types(void **state)
{
	(void)state;
	refuses("ssh-dss AAAAB3NzaC1kc3MAAACBAPQpaG5HnyEsirAnIPUXAyH8qEAEMXEO"
	    "X3ZRuWZpDJc/1q6QHhcirvd+qJKmHO5jIUmq7Q/grC76OAI+GXiemiyX5Ao/XH0P"
	    "== root@vm\n", "key type 'ssh-dss' is not supported: use " TYPES
	    " (e.g. `ssh-keygen -t ed25519`)");
	refuses("ssh-ed25519-cert-v01@openssh.com AAAA x\n", "key type "
	    "'ssh-ed25519-cert-v01@openssh.com' is not supported: use " TYPES
	    " (e.g. `ssh-keygen -t ed25519`)");
	refuses("SSH-ED25519 " ED_B64 "\n", "key type 'SSH-ED25519' is not "
	    "supported: use " TYPES " (e.g. `ssh-keygen -t ed25519`)");
	refuses("ecdsa-sha2-nistp224 AAAA\n", "key type 'ecdsa-sha2-nistp224' "
	    "is not supported: use " TYPES " (e.g. `ssh-keygen -t ed25519`)");
	/* The data alone, without its type. */
	refuses(ED_B64 " alice\n", "the key line starts with its key data: "
	    "put its type first (\"ssh-ed25519 AAAAC3Nz...\")");
	refuses("AAAAB3NzaC1kc3MAAACBAPQp\n", "key type "
	    "'AAAAB3NzaC1kc3MAAACBAPQp' is not supported: use " TYPES " (e.g. "
	    "`ssh-keygen -t ed25519`)");
	refuses("hello world\n", "key type 'hello' is not supported: use "
	    TYPES " (e.g. `ssh-keygen -t ed25519`)");
}

static void
test_bad_base64(void **state)
{
	(void)state;
	refuses(ED_TYPE "\n", "the key line has its type (ssh-ed25519) but no "
	    "key data after it: copy the whole line of the .pub file");
	refuses(ED_TYPE "   \n", "the key line has its type (ssh-ed25519) but "
	    "no key data after it: copy the whole line of the .pub file");
	/* Cut short, as a terminal's line wrap or a bad paste leaves it. */
	refuses(ED_TYPE " AAAAC3NzaC1lZDI1NTE5AAAAIHFa5p9Y6kk+JR78So3fVGAYoOkN"
	    "I7ugULv9ZxJ99ow alice\n", "the key data is not valid base64: "
	    "base64 of 67 characters is cut short: its length must be a "
	    "multiple of 4 (with '=' padding at the end); " COPY_LINE);
	refuses(ED_TYPE " AAAAC3NzaC1lZDI1NTE5AAAAIHFa5p9Y6kk-JR78So3fVGAYoOkN"
	    "I7ugULv9ZxJ99owN\n", "the key data is not valid base64: base64 "
	    "has '-' at position 36: use only A-Z, a-z, 0-9, '+' and '/', "
	    "with '=' padding at the end; " COPY_LINE);
	refuses(ED_TYPE " AAAAC3NzaC1lZDI1NTE5AAAAIHFa5p9Y6kk+JR78So3fVGAYoOkN"
	    "I7ugULv9ZxJ99owN=== a\n", "the key data is not valid base64: "
	    "base64 of 71 characters is cut short: its length must be a "
	    "multiple of 4 (with '=' padding at the end); " COPY_LINE);
	/* Another spelling of the same bytes. */
	refuses("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5z"
	    "c2guY29tAAAAIHFa5p9Y6kk+JR78So3fVGAYoOkNI7ugULv9ZxJ99owNAAAABHNz"
	    "aDp=\n",
	    "the key data is not valid base64: base64 ends in 'p', which sets "
	    "bits its padding leaves unused: it is not the canonical encoding "
	    "(expected 'o'); " COPY_LINE);
}

static void
test_bad_blobs(void **state)
{
	struct strbuf b = STRBUF_INIT;
	unsigned char pk[32], n[129], point[97];

	(void)state;
	memset(pk, 7, sizeof(pk));
	/* The line's type and the data's disagree. */
	refuses("ssh-rsa " ED_B64 " a\n", "the key line says ssh-rsa but its "
	    "key data is of type 'ssh-ed25519': copy the line of the .pub "
	    "file unchanged");
	refuses("sk-ssh-ed25519@openssh.com " ED_B64 "\n", "the key line says "
	    "sk-ssh-ed25519@openssh.com but its key data is of type "
	    "'ssh-ed25519': copy the line of the .pub file unchanged");
	put_str(&b, "ssh-ed\x01");
	put_string(&b, pk, 32);
	blob_refused(ED_TYPE, &b, "the key line says ssh-ed25519 but its key "
	    "data is of type 'ssh-ed\\x01': copy the line of the .pub file "
	    "unchanged");
	/* Truncated in the first field. */
	strbuf_reset(&b);
	strbuf_add(&b, "\0\0\0", 3);
	blob_refused(ED_TYPE, &b, "the key data ends inside its first field "
	    "(its type): " COPY_LINE);
	strbuf_reset(&b);
	put_str(&b, ED_TYPE);
	b.len -= 2;
	blob_refused(ED_TYPE, &b, "the key data ends inside its first field "
	    "(its type): " COPY_LINE);
	strbuf_reset(&b);
	strbuf_add(&b, "\xff\xff\xff\xffssh-ed25519", 15);
	blob_refused(ED_TYPE, &b, "the key data ends inside its first field "
	    "(its type): " COPY_LINE);
	/* Ed25519: a 32-byte key and nothing after. */
	strbuf_reset(&b);
	put_str(&b, ED_TYPE);
	blob_refused(ED_TYPE, &b, "the ssh-ed25519 key data is malformed: it "
	    "ends inside its public key; " COPY_LINE);
	put_string(&b, pk, 31);
	blob_refused(ED_TYPE, &b, "the ssh-ed25519 key data is malformed: its "
	    "public key is 31 bytes, not 32; " COPY_LINE);
	strbuf_reset(&b);
	put_str(&b, ED_TYPE);
	put_string(&b, pk, 32);
	strbuf_add(&b, "xy", 2);
	blob_refused(ED_TYPE, &b, "the ssh-ed25519 key data is malformed: 2 "
	    "bytes follow its last field; " COPY_LINE);
	/* A security key needs its application. */
	strbuf_reset(&b);
	put_str(&b, "sk-ssh-ed25519@openssh.com");
	put_string(&b, pk, 32);
	blob_refused("sk-ssh-ed25519@openssh.com", &b, "the "
	    "sk-ssh-ed25519@openssh.com key data is malformed: it ends inside "
	    "its application; " COPY_LINE);
	/* RSA: within sshd's sizes. */
	memset(n, 0xc5, sizeof(n));
	n[0] = 0;
	strbuf_reset(&b);
	put_str(&b, "ssh-rsa");
	put_string(&b, "\x01\x00\x01", 3);
	put_string(&b, n, 65);
	blob_refused("ssh-rsa", &b, "the ssh-rsa key has 512 bits: sshd "
	    "accepts RSA keys of 1024 to 16384 bits; make a new key with "
	    "`ssh-keygen -t ed25519`");
	strbuf_reset(&b);
	put_str(&b, "ssh-rsa");
	put_string(&b, "\x81", 1);
	put_string(&b, n, 129);
	blob_refused("ssh-rsa", &b, "the ssh-rsa key data is malformed: its "
	    "exponent is not a positive number; " COPY_LINE);
	strbuf_reset(&b);
	put_str(&b, "ssh-rsa");
	put_string(&b, "\x01\x00\x01", 3);
	blob_refused("ssh-rsa", &b, "the ssh-rsa key data is malformed: it "
	    "ends inside its modulus; " COPY_LINE);
	/* ECDSA: its own curve, an uncompressed point of its size. */
	memset(point, 0x42, sizeof(point));
	point[0] = 0x04;
	strbuf_reset(&b);
	put_str(&b, "ecdsa-sha2-nistp256");
	put_str(&b, "nistp384");
	put_string(&b, point, 65);
	blob_refused("ecdsa-sha2-nistp256", &b, "the ecdsa-sha2-nistp256 key "
	    "data is malformed: its curve is not nistp256; " COPY_LINE);
	strbuf_reset(&b);
	put_str(&b, "ecdsa-sha2-nistp384");
	put_str(&b, "nistp384");
	put_string(&b, point, 65);
	blob_refused("ecdsa-sha2-nistp384", &b, "the ecdsa-sha2-nistp384 key "
	    "data is malformed: its public point is not an uncompressed "
	    "nistp384 point; " COPY_LINE);
	point[0] = 0x02;
	strbuf_reset(&b);
	put_str(&b, "ecdsa-sha2-nistp384");
	put_str(&b, "nistp384");
	put_string(&b, point, 97);
	blob_refused("ecdsa-sha2-nistp384", &b, "the ecdsa-sha2-nistp384 key "
	    "data is malformed: its public point is not an uncompressed "
	    "nistp384 point; " COPY_LINE);
	strbuf_release(&b);
}

/* A 1024-bit modulus is the smallest accepted; check it passes. */
static void
test_rsa_bounds(void **state)
{
	struct strbuf b = STRBUF_INIT;
	struct sshkey k;
	unsigned char n[2049];
	char *line;

	(void)state;
	memset(n, 0xc5, sizeof(n));
	n[0] = 0;
	put_str(&b, "ssh-rsa");
	put_string(&b, "\x01\x00\x01", 3);
	put_string(&b, n, 129);
	line = line_of("ssh-rsa", &b);
	assert_int_equal(sshkey_parse(line, strlen(line), &k), 0);
	sshkey_clear(&k);
	free(line);
	/* 16384 bits is the largest. */
	strbuf_reset(&b);
	put_str(&b, "ssh-rsa");
	put_string(&b, "\x01\x00\x01", 3);
	put_string(&b, n, 2049);
	line = line_of("ssh-rsa", &b);
	assert_int_equal(sshkey_parse(line, strlen(line), &k), 0);
	sshkey_clear(&k);
	free(line);
	n[0] = 1;
	strbuf_reset(&b);
	put_str(&b, "ssh-rsa");
	put_string(&b, "\x01\x00\x01", 3);
	put_string(&b, n, 2049);
	blob_refused("ssh-rsa", &b, "the ssh-rsa key has 16385 bits: sshd "
	    "accepts RSA keys of 1024 to 16384 bits; make a new key with "
	    "`ssh-keygen -t ed25519`");
	strbuf_release(&b);
}

static void
test_control_characters(void **state)
{
	static char big[SSHKEY_MAX_INPUT + 2];

	(void)state;
	refuses(ED_LINE " ali\x1b[31mce\n", "line 1 has a control character "
	    "(\\x1b): give the public key as ssh-keygen wrote it");
	refuses("# note\x07\n" ED_LINE "\n", "line 1 has a control character "
	    "(\\x07): give the public key as ssh-keygen wrote it");
	refuses("\n" ED_LINE " a\rb\n", "line 2 has a control character "
	    "(\\x0d): give the public key as ssh-keygen wrote it");
	refuses(ED_LINE " a\r\r\n", "line 1 has a control character "
	    "(\\x0d): give the public key as ssh-keygen wrote it");
	refuses(ED_LINE " a\x7f\n", "line 1 has a control character "
	    "(\\x7f): give the public key as ssh-keygen wrote it");
	refuses(ED_LINE " a\fb\n", "line 1 has a control character "
	    "(\\x0c): give the public key as ssh-keygen wrote it");
	refuses_len(ED_LINE " alice\0evil\n", strlen(ED_LINE) + 12, "line 1 "
	    "has a NUL byte: this is not a public key file; give one, e.g. "
	    "~/.ssh/id_ed25519.pub");
	refuses_len(ED_LINE "\n\0", strlen(ED_LINE) + 2, "line 2 has a NUL "
	    "byte: this is not a public key file; give one, e.g. "
	    "~/.ssh/id_ed25519.pub");
	/* In the comment: a tab, C1 controls, bytes that are not UTF-8. */
	refuses(ED_LINE " work\tlaptop\n", "the key's comment has a control "
	    "character (\\x09): change it with `ssh-keygen -c -f FILE`, or "
	    "remove it");
	refuses(ED_LINE " a\xc2\x9b" "31m\n", "the key's comment has a control "
	    "character (\\x9b): change it with `ssh-keygen -c -f FILE`, or "
	    "remove it");
	refuses(ED_LINE " caf\xe9\n", "the key's comment is not valid UTF-8: "
	    "change it with `ssh-keygen -c -f FILE`, or remove it");
	/* Too big, whatever it holds. */
	memset(big, '\n', sizeof(big));
	memcpy(big, ED_LINE, strlen(ED_LINE));
	refuses_len(big, SSHKEY_MAX_INPUT + 1, "the input is 16385 bytes: a "
	    "public key is at most 16 KB (16384 bytes); give the .pub file, "
	    "e.g. ~/.ssh/id_ed25519.pub");
}

/* One line of output from ssh-keygen -lf, kept. */
static void
keep_line(const char *line, void *data)
{
	struct strbuf *sb = data;

	strbuf_addstr(sb, line);
	strbuf_addch(sb, '\n');
}

/* Run argv (NULL-terminated) and return its output; NULL if it failed. */
static char *
run_out(const char *const *argv)
{
	struct child c = CHILD_INIT;
	struct strbuf out = STRBUF_INIT;
	size_t i;

	for (i = 0; argv[i] != NULL; i++)
		strvec_push(&c.args, argv[i]);
	c.on_line = keep_line;
	c.data = &out;
	c.timeout_ms = 60000;
	if (run_command(&c) < 0) {
		print_message("# %s: %s\n%s", argv[0], berth_last_error(),
		    strbuf_str(&out));
		child_clear(&c);
		strbuf_release(&out);
		return NULL;
	}
	child_clear(&c);
	return strbuf_detach(&out);
}

/* The fingerprint ssh-keygen prints for the key file path. */
static char *
keygen_fingerprint(const char *path)
{
	const char *argv[] = { "ssh-keygen", "-E", "sha256", "-lf", path,
	    NULL };
	char *out = run_out(argv), *sp, *end;

	if (out == NULL)
		return NULL;
	/* "256 SHA256:... comment (ED25519)" */
	sp = strchr(out, ' ');
	if (sp == NULL)
		fail_msg("ssh-keygen -lf printed \"%s\"", out);
	end = strchr(sp + 1, ' ');
	if (end != NULL)
		*end = '\0';
	memmove(out, sp + 1, strlen(sp + 1) + 1);
	return out;
}

/*
 * Keys ssh-keygen makes now, of each type it can make without a
 * security key, and the sk lines above: what berth computes is what
 * ssh-keygen prints.
 */
static void
test_against_ssh_keygen(void **state)
{
	static const char *const kinds[][2] = {
		{ "ed25519", NULL }, { "rsa", "2048" }, { "ecdsa", "256" },
		{ "ecdsa", "384" }, { "ecdsa", "521" },
	};
	char dir[] = "/tmp/test-sshkey-XXXXXX";
	struct strbuf text = STRBUF_INIT;
	struct sshkey k;
	char *key, *pub, *fp, *out;
	size_t i;

	(void)state;
	key = path_search("ssh-keygen", getenv("PATH"));
	if (key == NULL) {
		print_message("# ssh-keygen not found: skipped\n");
		skip();
	}
	free(key);
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *argv[] = { "ssh-keygen", "-q", "-t", kinds[i][0],
		    "-N", "", "-C", "made by test-sshkey", "-f", NULL,
		    kinds[i][1] != NULL ? "-b" : NULL, kinds[i][1], NULL };

		key = xasprintf("%s/key%zu", dir, i);
		argv[9] = key;
		out = run_out(argv);
		assert_non_null(out);
		free(out);
		pub = xasprintf("%s.pub", key);
		strbuf_reset(&text);
		assert_int_equal(read_file(pub, &text, SSHKEY_MAX_INPUT), 0);
		if (sshkey_parse(text.buf, text.len, &k) != 0)
			fail_msg("%s refused: %s", text.buf,
			    berth_last_error());
		assert_string_equal(k.comment, "made by test-sshkey");
		fp = keygen_fingerprint(pub);
		assert_non_null(fp);
		assert_string_equal(k.fingerprint, fp);
		free(fp);
		sshkey_clear(&k);
		/* The private half is refused. */
		strbuf_reset(&text);
		assert_int_equal(read_file(key, &text, SSHKEY_MAX_INPUT), 0);
		assert_int_equal(sshkey_parse(text.buf, text.len, &k), -1);
		assert_string_equal(berth_last_error(), "this is a private "
		    "key; give its public half, e.g. ~/.ssh/id_ed25519.pub");
		unlink(key);
		unlink(pub);
		free(pub);
		free(key);
	}
	for (i = 0; i < N_KNOWN; i++) {
		pub = xasprintf("%s/known%zu.pub", dir, i);
		key = xasprintf("%s %s %s\n", known[i].type, known[i].blob64,
		    known[i].comment);
		assert_int_equal(write_file_atomic(pub, key, strlen(key),
		    0600), 0);
		fp = keygen_fingerprint(pub);
		assert_non_null(fp);
		assert_string_equal(fp, known[i].fingerprint);
		free(fp);
		unlink(pub);
		free(pub);
		free(key);
	}
	strbuf_release(&text);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_keys),
		cmocka_unit_test(test_accepted_layouts),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_private_keys),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_several_keys),
		cmocka_unit_test(test_unsupported_types),
		cmocka_unit_test(test_bad_base64),
		cmocka_unit_test(test_bad_blobs),
		cmocka_unit_test(test_rsa_bounds),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_against_ssh_keygen),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
