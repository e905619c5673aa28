/*
 * cmd-keys.c - keys, keys:add, keys:remove, keys:authorized: the SSH
 * keys berth's users log in with. Each change rewrites berth's part of
 * the authorized_keys file (access_keys_install()), so a key works, or
 * stops working, as soon as the command returns.
 */
#include "cmd.h"
#include "names.h"
#include "sshkey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A public key file is a line; anything much longer is not one. */
#define KEY_FILE_MAX 16384

static int
cmd_keys(struct cmd_ctx *ctx)
{
	const char *user = cmd_opt(ctx, "user");
	struct user_key *ks = NULL;
	struct table t;
	size_t nr = 0, i;
	json_t *arr;

	if (user == NULL && ctx->remote)
		user = ctx->user.name;
	if (user != NULL && cmd_check_self(ctx, user, "keys of another "
	    "user") != 0)
		return 1;
	if (ledger_key_list(ctx->root.db, user, &ks, &nr) < 0)
		return cmd_fail_last();
	/* Shown: the key's type, its first word. */
	for (i = 0; i < nr; i++)
		ks[i].key[strcspn(ks[i].key, " ")] = '\0';
	if (ctx->json) {
		arr = json_array();
		for (i = 0; i < nr; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, "
			    "s:o, s:s}", "user", ks[i].user, "fingerprint",
			    ks[i].fingerprint, "type", ks[i].key, "label",
			    json_str_or_null(ks[i].label), "created_at",
			    ks[i].created_at));
		user_key_list_free(ks, nr);
		return cmd_print_json(arr);
	}
	if (nr == 0)
		printf("No keys%s%s yet; add one with: berth keys:add %s "
		    "KEY.pub\n", user ? " of " : "", user ? user : "",
		    user ? user : "USER");
	table_init(&t, 5);
	if (nr > 0)
		table_row(&t, "USER", "FINGERPRINT", "TYPE", "LABEL", "ADDED");
	for (i = 0; i < nr; i++)
		table_row(&t, ks[i].user, ks[i].fingerprint, ks[i].key,
		    ks[i].label != NULL ? ks[i].label : "-",
		    ks[i].created_at);
	table_print(&t, stdout);
	table_clear(&t);
	user_key_list_free(ks, nr);
	return 0;
}

/* The text of the key file arg ("-" or none: stdin) into sb. */
static int
read_key(struct cmd_ctx *ctx, const char *arg, struct strbuf *sb)
{
	if (arg != NULL && strcmp(arg, "-") != 0) {
		/* The server's files are not a remote user's to read. */
		if (ctx->remote)
			return cmd_fail("over SSH, give the key on stdin: ssh "
			    "HOST keys:add %s - < KEY.pub", ctx->argv[0]);
		return read_file(arg, sb, KEY_FILE_MAX) < 0 ? cmd_fail_last() :
		    0;
	}
	if (!ctx->remote && isatty(STDIN_FILENO))
		return cmd_fail("keys:add needs the public key: give its file "
		    "(berth keys:add %s ~/.ssh/id_ed25519.pub) or pipe it in",
		    ctx->argv[0]);
	return read_fd(STDIN_FILENO, "the key on stdin", sb, KEY_FILE_MAX) <
	    0 ? cmd_fail_last() : 0;
}

static int
cmd_keys_add(struct cmd_ctx *ctx)
{
	const char *user = ctx->argv[0], *label = cmd_opt(ctx, "name");
	struct strbuf text = STRBUF_INIT;
	struct sshkey key;
	struct user u;
	char *line = NULL;
	int ret = 1;

	memset(&key, 0, sizeof(key));
	if (cmd_check_self(ctx, user, "adding another user's key") != 0)
		return 1;
	if (ledger_user_get(ctx->root.db, user, &u) != 0)
		return cmd_fail_last();
	user_clear(&u);
	if (read_key(ctx, ctx->argc > 1 ? ctx->argv[1] : NULL, &text) != 0)
		goto out;
	if (sshkey_parse(strbuf_str(&text), text.len, &key) < 0) {
		cmd_fail_last();
		goto out;
	}
	if (label == NULL)
		label = key.comment;
	if (label != NULL && (strlen(label) > 100 || !utf8_valid(label,
	    strlen(label)))) {
		cmd_fail("the key's label must be at most 100 characters of "
		    "UTF-8; give one with --name LABEL");
		goto out;
	}
	line = sshkey_line(&key);
	if (ledger_key_add(ctx->root.db, user, key.fingerprint, line,
	    label) < 0) {
		cmd_fail_last();
		goto out;
	}
	if (access_keys_install(&ctx->root) < 0) {
		cmd_fail("added the key, but it does not work yet: %s",
		    berth_last_error());
		goto out;
	}
	access_log(&ctx->root, NULL, "added key %s for %s", key.fingerprint,
	    user);
	printf("Added key %s (%s) for %s\n", key.fingerprint, key.type, user);
	ret = 0;
out:
	free(line);
	sshkey_clear(&key);
	strbuf_release(&text);
	return ret;
}

static int
cmd_keys_remove(struct cmd_ctx *ctx)
{
	const char *fp = ctx->argv[0];
	struct user_key k;
	int rc;

	if ((rc = ledger_key_get(ctx->root.db, fp, &k)) != 0)
		return cmd_fail_last();
	rc = cmd_check_self(ctx, k.user, "removing another user's key");
	if (rc == 0 && ledger_key_remove(ctx->root.db, fp) != 0)
		rc = cmd_fail_last();
	if (rc == 0 && access_keys_install(&ctx->root) < 0)
		rc = cmd_fail("removed the key, but it may still log in: %s",
		    berth_last_error());
	if (rc == 0) {
		access_log(&ctx->root, NULL, "removed key %s of %s", fp,
		    k.user);
		printf("Removed key %s of %s\n", fp, k.user);
	}
	user_key_clear(&k);
	return rc;
}

static int
cmd_keys_authorized(struct cmd_ctx *ctx)
{
	struct strbuf sb = STRBUF_INIT;

	if (access_keys_text(&ctx->root, &sb) < 0) {
		strbuf_release(&sb);
		return cmd_fail_last();
	}
	fputs(strbuf_str(&sb), stdout);
	strbuf_release(&sb);
	return 0;
}

const struct berth_cmd cmd_keys_entry = {
	.name = "keys",
	.access = { .scope = ACCESS_SELF },
	.usage = "keys [-u USER] [--json]",
	.summary = "list users' SSH keys",
	.help =
	"Without -u, every user's (over SSH: your own). A user sees their own\n"
	"keys; a server admin sees anyone's.",
	.options = (const struct cmd_option[]){
		{ .name = "user", .short_name = 'u', .kind = CMD_STRING,
		    .arg = "USER", .help = "only this user's keys" },
		CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_keys,
};

const struct berth_cmd cmd_keys_add_entry = {
	.name = "keys:add",
	.access = { .scope = ACCESS_SELF },
	.usage = "keys:add USER [--name LABEL] [FILE|-]",
	.summary = "let a user log in with an SSH public key",
	.help =
	"FILE (or stdin) holds one OpenSSH public key: ssh-ed25519, ssh-rsa,\n"
	"ecdsa-sha2-nistp256/384/521 or a security key's sk- type, as in\n"
	"~/.ssh/id_ed25519.pub. Prints its SHA256 fingerprint. berth writes\n"
	"it into berth.ini [ssh] authorized_keys with the forced command\n"
	"`berth shell USER`. Private keys, key lines with options and keys\n"
	"that anyone has already are refused. --name: a label (default: the\n"
	"key's comment).",
	.options = (const struct cmd_option[]){
		{ .name = "name", .kind = CMD_STRING, .arg = "LABEL",
		    .help = "what the key is, e.g. laptop" },
		{ 0 },
	},
	.min_args = 1, .max_args = 2,
	.exec = cmd_keys_add,
};

const struct berth_cmd cmd_keys_remove_entry = {
	.name = "keys:remove",
	.access = { .scope = ACCESS_SELF },
	.usage = "keys:remove FINGERPRINT",
	.summary = "stop a key logging in",
	.help = "FINGERPRINT as berth keys shows it (SHA256:...).",
	.min_args = 1, .max_args = 1,
	.exec = cmd_keys_remove,
};

const struct berth_cmd cmd_keys_authorized_entry = {
	.name = "keys:authorized",
	.access = { .scope = ACCESS_SERVER },
	.usage = "keys:authorized",
	.summary = "print the authorized_keys lines of berth's users",
	.help =
	"The lines berth keeps in berth.ini [ssh] authorized_keys. To have\n"
	"sshd ask berth instead (authorized_keys = empty), in sshd_config:\n"
	"  Match User git\n"
	"    AuthorizedKeysCommand /usr/local/bin/berth --root ROOT "
	"keys:authorized\n"
	"    AuthorizedKeysCommandUser git",
	.min_args = 0, .max_args = 0,
	.exec = cmd_keys_authorized,
};
