/*
 * push.h - what a push does, whoever makes it: git (berth-receive, the
 * bare repos' hooks), `berth deploy` (Slack's /berth deploy, a
 * redeploy) or berthd mirroring a GitHub push. Each is a list of ref
 * updates "old new ref" applied in two steps around the moment the
 * refs move:
 *
 * push_pre() checks who may update each ref, refuses deleting a
 * branch apps deploy, and for a branch apps auto-deploy takes the
 * pipeline's deploy lock, runs the CI gate, builds for each app and
 * records their releases, gated (gate.h) on the process that moves
 * the ref: they go live once it has. Any failure returns -1 and the
 * refs must not move: the deploy branch head stays the commit of the
 * app's current release.
 *
 * push_post(), once the refs moved: records the push events, says how
 * the gated releases went, tests other branches and deploys their
 * review apps, destroys the review app of a deleted branch. Never
 * fails (the refs moved already).
 *
 * git moves the refs itself between the two hooks; push_apply() does
 * all three for a push that no git client makes.
 */
#ifndef BERTH_PUSH_H
#define BERTH_PUSH_H

#include "ledger.h"
#include "repo.h"
#include "root.h"

#include <sys/types.h>

#define ZERO_SHA "0000000000000000000000000000000000000000"

struct push_command {
	char old[GIT_OID_HEXSZ + 1];	/* ZERO_SHA: a new ref */
	char new[GIT_OID_HEXSZ + 1];	/* ZERO_SHA: deleted */
	char *ref;
};

struct push {
	struct berth_root *root;
	struct pipeline pipeline;
	git_repository *repo;
	struct push_command *cmds;
	size_t ncmds;
	char *actor;
	pid_t mover;		/* moves the refs: receive-pack (the hooks'
				   parent), or this process (push_apply) */
	int ci_skip;		/* git push -o ci.skip, deploy --ignore-ci */
	int review_skip;	/* git push -o review.skip */
	int ci_known;		/* a finished test run of the commit decides
				   the CI gate, if there is one (deploy) */
	int refused;		/* set by push_pre(): the user lacks a role;
				   outside a hook (mover is this process)
				   berth_error() says so instead of stdout */
};

/* Add the update of ref from old to new (full shas) to p. */
void push_add(struct push *p, const char *ref, const char *old,
    const char *new);
int push_pre(struct push *p);
int push_post(struct push *p);
/*
 * push_pre(), then move each ref from old to new (compare-and-swap: a
 * ref that moved meanwhile fails it, and its releases with it), then
 * push_post(). p->mover must be this process. 0, or -1 after saying
 * why.
 */
int push_apply(struct push *p);
/* Frees the commands and the actor; root, pipeline and repo are the
 * caller's. */
void push_clear(struct push *p);

#endif
