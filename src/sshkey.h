/*
 * sshkey.h - the one gate for the SSH public keys users hand to
 * `berth keys:add USER [FILE|-]`. A key that passes is one OpenSSH
 * public key of a type sshd accepts, with well-formed key data, and
 * nothing else: no authorized_keys options (berth writes those itself),
 * no second key, no private key, no control characters. Its canonical
 * line and fingerprint come from here too, so berth shows the same
 * "SHA256:..." that `ssh-keygen -lf key.pub` prints.
 */
#ifndef BERTH_SSHKEY_H
#define BERTH_SSHKEY_H

#include <stddef.h>

/* Longest input sshkey_parse() reads, in bytes. */
#define SSHKEY_MAX_INPUT	(16 * 1024)

struct sshkey {
	/* "ssh-ed25519", "ssh-rsa", ... (one of the supported types). */
	char *type;
	/* The key data in canonical padded base64, as in the .pub file. */
	char *blob64;
	/* What followed the key data, blanks trimmed; "" when nothing. */
	char *comment;
	/* "SHA256:" and the unpadded base64 of the key data's SHA-256. */
	char fingerprint[64];
};

/*
 * Parse the len bytes at text (the whole of a .pub file, or what came
 * on stdin; no NUL needed at the end): blank lines and lines starting
 * with '#' may surround exactly one line "TYPE BASE64 [COMMENT]"
 * (fields apart by spaces or tabs, lines may end in "\r\n"). The types:
 * ssh-ed25519, ssh-rsa (1024 to 16384 bits), ecdsa-sha2-nistp256,
 * ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com
 * and sk-ecdsa-sha2-nistp256@openssh.com; the data must decode to a
 * key of that same type with each field whole and nothing after them
 * (an EC point is not checked to be on its curve: sshd does that).
 * 0 with out filled (free with sshkey_clear()), or -1 with out zeroed
 * and one berth_error() line that names what was wrong and the fix.
 */
int sshkey_parse(const char *text, size_t len, struct sshkey *out);
/* Free what sshkey_parse() filled in and zero k (a zeroed k is fine). */
void sshkey_clear(struct sshkey *k);
/*
 * "TYPE BASE64", the key as an authorized_keys line holds it after its
 * options: no comment (it is the user's text, not berth's). Caller
 * frees.
 */
char *sshkey_line(const struct sshkey *k);

#endif
