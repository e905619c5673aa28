/*
 * cmd-shell.c - shell USER: what sshd runs for each of USER's keys (the
 * forced command access_keys_text() writes). It reads the command the
 * client asked for from SSH_ORIGINAL_COMMAND and allows exactly:
 *
 *   git-receive-pack 'P.git'   a push (also '/P.git', 'P', '~/P.git')
 *   git-upload-pack 'P.git'    a fetch or clone
 *   COMMAND ARGS...            a berth command, as USER
 *
 * The line is split into words as sh would split it, quotes and
 * backslashes included, but nothing is expanded and no shell ever runs
 * it: a word with an unquoted ; & | < > ( ) $ or ` is refused. Git runs
 * with ACCESS_USER_ENV and BERTH_USER naming USER, so the hooks check
 * each ref against USER's role and record USER as the actor; a berth
 * command runs as this same berth binary, re-executed with the server
 * root of the forced command and the same environment.
 */
#include "cmd.h"
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The longest command line accepted (git's are under 300 bytes). */
#define SHELL_LINE_MAX 4096

/*
 * Split line into words as sh does, without expanding anything: '...'
 * keeps everything, "..." keeps all but \" \\ \$ \` and \newline (and
 * refuses a bare $ or `, which sh would expand there), and a backslash
 * outside quotes keeps the next character. 0, or -1 with berth_error()
 * naming what was refused.
 */
static int
split_words(const char *line, struct strvec *out)
{
	struct strbuf w = STRBUF_INIT;
	const char *p = line;
	int in_word = 0, ret = -1;

	for (; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t') {
			if (in_word)
				strvec_push(out, strbuf_str(&w));
			strbuf_reset(&w);
			in_word = 0;
			continue;
		}
		in_word = 1;
		if (*p == '\'') {
			const char *end = strchr(p + 1, '\'');

			if (end == NULL)
				goto unclosed;
			strbuf_add(&w, p + 1, (size_t)(end - p - 1));
			p = end;
		} else if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0')
					goto unclosed;
				if (*p == '\\' && p[1] != '\0' &&
				    strchr("\"\\$`", p[1]) != NULL)
					p++;
				else if (*p == '$' || *p == '`')
					goto meta_quoted;
				strbuf_addch(&w, *p);
			}
		} else if (*p == '\\') {
			if (p[1] == '\0')
				goto unclosed;
			strbuf_addch(&w, *++p);
		} else if (strchr(";&|<>()$`", *p) != NULL) {
			goto meta;
		} else {
			strbuf_addch(&w, *p);
		}
	}
	if (in_word)
		strvec_push(out, strbuf_str(&w));
	ret = 0;
	goto out;
unclosed:
	berth_error("the command has an unclosed quote or a trailing '\\'");
	goto out;
meta:
	berth_error("berth runs commands, not a shell: '%c' is not allowed "
	    "unquoted (quote the word that holds it)", *p);
	goto out;
meta_quoted:
	berth_error("berth runs commands, not a shell: '%c' is not allowed "
	    "in double quotes (use single quotes, or a backslash before it)",
	    *p);
out:
	strbuf_release(&w);
	return ret;
}

/* The line git or a person sent: printable, short, and not empty. */
static int
check_line(const char *line)
{
	const unsigned char *p;
	size_t len = line != NULL ? strlen(line) : 0;

	if (len == 0)
		return berth_error("give a command, e.g. ssh HOST apps, or push "
		    "with git; berth runs no interactive shell (see: ssh HOST "
		    "help)");
	if (len > SHELL_LINE_MAX)
		return berth_error("the command is %zu bytes long; berth takes "
		    "at most %d", len, SHELL_LINE_MAX);
	for (p = (const unsigned char *)line; *p != '\0'; p++)
		if (*p < ' ' && *p != '\t')
			return berth_error("the command holds control character "
			    "\\x%02x; send printable text", *p);
	if (!utf8_valid(line, len))
		return berth_error("the command is not valid UTF-8");
	return 0;
}

/*
 * The pipeline a git path names: 'P.git', '/P.git', '~/P.git' or 'P'.
 * Returns 0 with *p loaded, or 1 after printing why not.
 */
static int
git_pipeline(struct cmd_ctx *ctx, const char *path, struct pipeline *p)
{
	char *name, q[64];
	size_t len;
	int rc;

	if (strncmp(path, "~/", 2) == 0)
		path += 2;
	else if (path[0] == '/')
		path++;
	name = xstrdup(path);
	len = strlen(name);
	if (len > 4 && strcmp(name + len - 4, ".git") == 0)
		name[len - 4] = '\0';
	rc = name_check_pipeline(name) < 0 ? -1 : ledger_pipeline_get(
	    ctx->root.db, name, p);
	free(name);
	if (rc == 0)
		return 0;
	if (rc == 1) {
		name_quote(path, q, sizeof(q));
		berth_error("no pipeline '%s' here; see: ssh HOST pipelines",
		    q);
	}
	return cmd_fail_last();
}

/* Run git's receive-pack or upload-pack on the pipeline's repo. */
static int
run_git(struct cmd_ctx *ctx, const char *service, const char *path)
{
	int push = strcmp(service, "git-receive-pack") == 0;
	enum role have;
	struct pipeline p;
	char *repo, *what;
	char *argv[4];

	if (git_pipeline(ctx, path, &p) != 0)
		return 1;
	/* Each pushed ref is checked by the hook; any push needs this. */
	if (access_role(ctx->root.db, &ctx->user, p.id, &have) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	if (have < (push ? ROLE_DEVELOPER : ROLE_VIEWER)) {
		what = xasprintf("%s %s", push ? "pushing to" :
		    "fetching from", p.name);
		access_refuse(&ctx->root, &ctx->user, have, p.name, what,
		    push ? ROLE_DEVELOPER : ROLE_VIEWER);
		ctx->refused = 1;
		free(what);
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	repo = root_repo_path(&ctx->root, p.name);
	pipeline_clear(&p);
	argv[0] = "git";
	argv[1] = (char *)(push ? "receive-pack" : "upload-pack");
	argv[2] = repo;
	argv[3] = NULL;
	fflush(stdout);
	execvp("git", argv);
	cmd_fail("cannot run git %s: %s", argv[1], strerror(errno));
	free(repo);
	return 1;
}

/* Run berth command words[] as the user, on this server root. */
static int
run_berth(struct cmd_ctx *ctx, struct strvec *words)
{
	struct strvec argv = STRVEC_INIT;
	size_t i;

	for (i = 0; i < words->nr; i++) {
		const char *w = words->v[i];

		if (strcmp(w, "--") == 0)
			break;
		if (strcmp(w, "--root") == 0 || strncmp(w, "--root=", 7) == 0)
			return cmd_fail("--root is not yours to give over SSH: "
			    "this server has one root");
	}
	strvec_push(&argv, "berth");
	strvec_push(&argv, words->v[0]);
	strvec_push(&argv, "--root");
	strvec_push(&argv, ctx->root.dir);
	for (i = 1; i < words->nr; i++)
		strvec_push(&argv, words->v[i]);
	fflush(stdout);
	execv("/proc/self/exe", strvec_argv(&argv));
	cmd_fail("cannot run berth %s: %s", words->v[0], strerror(errno));
	strvec_clear(&argv);
	return 1;
}

static int
cmd_shell(struct cmd_ctx *ctx)
{
	const char *name = ctx->argv[0];
	const char *line = getenv("SSH_ORIGINAL_COMMAND");
	struct strvec words = STRVEC_INIT;
	int rc, ret = 1;

	if (name_check_user(name) < 0)
		return cmd_fail_last();
	rc = ledger_user_get(ctx->root.db, name, &ctx->user);
	if (rc != 0)
		return cmd_fail_last();
	ctx->remote = 1;
	if (check_line(line) < 0 || split_words(line, &words) < 0) {
		access_log(&ctx->root, name, "refused: %s", berth_last_error());
		cmd_fail_last();
		goto out;
	}
	if (words.nr == 0) {
		cmd_fail("give a command, e.g. ssh HOST apps");
		goto out;
	}
	/* From here on, this process and all it runs act as the user. */
	if (setenv(ACCESS_USER_ENV, name, 1) < 0 ||
	    setenv("BERTH_USER", name, 1) < 0) {
		cmd_fail("cannot set the environment: %s", strerror(errno));
		goto out;
	}
	if (strcmp(words.v[0], "git-receive-pack") == 0 ||
	    strcmp(words.v[0], "git-upload-pack") == 0) {
		if (words.nr != 2) {
			cmd_fail("%s takes one repository, e.g. %s 'shop.git'",
			    words.v[0], words.v[0]);
			goto out;
		}
		ret = run_git(ctx, words.v[0], words.v[1]);
	} else if (strncmp(words.v[0], "git-", 4) == 0 ||
	    strcmp(words.v[0], "git") == 0) {
		cmd_fail("berth serves git-receive-pack and git-upload-pack "
		    "only, not %s", words.v[0]);
	} else {
		ret = run_berth(ctx, &words);
	}
out:
	strvec_clear(&words);
	return ret;
}

const struct berth_cmd cmd_shell_entry = {
	.name = "shell",
	.access = { .scope = ACCESS_LOCAL },
	.usage = "shell USER",
	.summary = "the SSH forced command of USER's keys (run by sshd)",
	.help =
	"Reads SSH_ORIGINAL_COMMAND: git-receive-pack or git-upload-pack of\n"
	"a pipeline's repo ('P.git'), or a berth command with its arguments,\n"
	"run as USER with USER's roles (berth help access). Anything else is\n"
	"refused. berth keys:add writes the authorized_keys lines that run it.",
	.flags = CMD_NO_GIT,	/* it runs git, or berth, and nothing else */
	.min_args = 1, .max_args = 1,
	.exec = cmd_shell,
};
