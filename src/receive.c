/*
 * receive.c - berth-receive, installed into each pipeline's bare repo as
 * hooks/pre-receive and hooks/post-receive (symlinks); it dispatches on
 * the name it was called by.
 *
 * Both read git's "old new ref" lines and push options and hand them to
 * push.h, which does what every push does: pre-receive is push_pre()
 * (any failure exits non-zero, so git moves no ref), post-receive is
 * push_post(). Their releases are gated on receive-pack, the hooks'
 * parent: they go live once it has moved the ref.
 */
#include "names.h"
#include "output.h"
#include "push.h"
#include "repo.h"
#include "root.h"
#include "run-command.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* git push -o OPTION: ci.skip and review.skip; others are noted. */
static void
read_push_options(struct push *p)
{
	const char *count = getenv("GIT_PUSH_OPTION_COUNT");
	int n = count != NULL ? atoi(count) : 0, i;

	for (i = 0; i < n && i < 100; i++) {
		char name[64];
		const char *v;

		snprintf(name, sizeof(name), "GIT_PUSH_OPTION_%d", i);
		v = getenv(name);
		if (v == NULL)
			continue;
		if (strcmp(v, "ci.skip") == 0)
			p->ci_skip = 1;
		else if (strcmp(v, "review.skip") == 0)
			p->review_skip = 1;
		else {
			char q[128];

			name_quote(v, q, sizeof(q));
			out_heading("Push option '%s' ignored (berth knows "
			    "ci.skip and review.skip)", q);
		}
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: berth-receive   (installed as hooks/pre-receive and "
	    "hooks/post-receive)\n"
	    "\n"
	    "berth-receive is run by git in a pipeline's bare repository,\n"
	    "reading 'old new ref' lines on stdin. As pre-receive it builds\n"
	    "and starts pushes to auto-deployed branches and rejects the\n"
	    "push when that fails; as post-receive it says when they went\n"
	    "live, once git moved the branch. Pipelines are created with\n"
	    "`berth pipelines:create`, which links the hooks. See "
	    "berth-receive(8).\n");
}

/* Root and pipeline from the repository path ROOT/repos/NAME.git. */
static int
locate(struct push *p, struct berth_root *root)
{
	const char *gitdir = git_repository_path(p->repo);
	char *abs = realpath(gitdir, NULL), *copy, *base, *reposdir, *rootdir;
	size_t len;
	int ret = -1;

	if (abs == NULL)
		return berth_error_errno("cannot resolve %s", gitdir);
	copy = xstrdup(abs);
	base = basename(copy);
	len = strlen(base);
	if (len < 5 || strcmp(base + len - 4, ".git") != 0) {
		berth_error("%s is not a berth pipeline repository "
		    "(ROOT/repos/NAME.git)", abs);
		goto out;
	}
	base[len - 4] = '\0';
	reposdir = xstrdup(abs);
	rootdir = dirname(dirname(reposdir));
	if (root_open(root, rootdir) == 0) {
		p->root = root;
		if (ledger_pipeline_get(root->db, base, &p->pipeline) == 0)
			ret = 0;
		else
			berth_error("%s: no pipeline %s in the ledger; recreate "
			    "it with: berth pipelines:create %s", abs, base,
			    base);
	}
	free(reposdir);
out:
	free(copy);
	free(abs);
	return ret;
}

/* Read and validate every "old new ref" line; reject all on a bad one. */
static int
read_commands(struct push *p)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int bad = 0, lineno = 0;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		char *sp1, *sp2, old[GIT_OID_HEXSZ + 1];

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		/* "refs/heads/a\0b" must not pass as refs/heads/a. */
		if (strlen(line) != (size_t)n) {
			out_error("hook input line %d holds a NUL byte; is this "
			    "berth-receive run by git?", lineno);
			bad = 1;
			continue;
		}
		sp1 = strchr(line, ' ');
		sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
		if (sp1 == NULL || sp2 == NULL || sp1 - line != GIT_OID_HEXSZ ||
		    sp2 - sp1 - 1 != GIT_OID_HEXSZ) {
			out_error("hook input line %d is not 'OLD NEW REF'; is "
			    "this berth-receive run by git?", lineno);
			bad = 1;
			continue;
		}
		if (strspn(line, "0123456789abcdef") != GIT_OID_HEXSZ ||
		    strspn(sp1 + 1, "0123456789abcdef") != GIT_OID_HEXSZ) {
			out_error("hook input line %d: its commit ids are not "
			    "40 hex digits; is this berth-receive run by git?",
			    lineno);
			bad = 1;
			continue;
		}
		if (name_check_ref(sp2 + 1) < 0) {
			out_error("hook input line %d: %s", lineno,
			    berth_last_error());
			bad = 1;
			continue;
		}
		memcpy(old, line, GIT_OID_HEXSZ);
		old[GIT_OID_HEXSZ] = '\0';
		*sp2 = '\0';
		push_add(p, sp2 + 1, old, sp1 + 1);
	}
	free(line);
	return bad ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct push p;
	struct berth_root root;
	const char *self = strrchr(argv[0], '/');
	int pre, ret = 1;

	self = self != NULL ? self + 1 : argv[0];
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("berth-receive %s\n", PACKAGE_VERSION);
		return 0;
	}
	pre = strcmp(self, "pre-receive") == 0;
	if (!pre && strcmp(self, "post-receive") != 0) {
		usage(stderr);
		return 2;
	}
	memset(&p, 0, sizeof(p));
	memset(&root, 0, sizeof(root));
	repo_global_init();
	/* Open from the environment before anything changes directory. */
	if (repo_open_from_env(&p.repo) < 0 || locate(&p, &root) < 0) {
		out_error("berth: %s", berth_last_error());
		goto out;
	}
	p.actor = actor_name();
	p.mover = getppid();
	if (read_commands(&p) < 0)
		goto out;
	read_push_options(&p);
	ret = pre ? push_pre(&p) : push_post(&p);
	if (ret != 0)
		ret = 1;
out:
	push_clear(&p);
	if (root.dir != NULL)
		root_close(&root);
	pipeline_clear(&p.pipeline);
	git_repository_free(p.repo);
	repo_global_shutdown();
	/* Interrupted while it ran a release phase itself (berthd down):
	 * the release is recorded failed; end as the signal would. */
	run_command_reraise();
	return ret;
}
