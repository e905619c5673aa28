/*
 * gate.c - whether git took a pushed release's ref (see gate.h).
 */
#include "gate.h"
#include "proc.h"
#include "repo.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
gate_format(const char *ref, pid_t pid)
{
	char *owner = proc_owner(pid), *gate = xasprintf("%s %s", ref, owner);

	free(owner);
	return gate;
}

/* Whether the receive-pack a gate names still runs. */
static int
receiver_alive(const char *gate, char ref[256])
{
	int n = 0;

	if (sscanf(gate, "%255s %n", ref, &n) != 1 || n == 0)
		return berth_error("release gate '%s' is not REF PID START",
		    gate);
	return proc_owner_alive(gate + n);
}

/* Where rel stands, its repo open. */
static int
check_in(git_repository *repo, const struct release *rel)
{
	char ref[256], head[GIT_OID_HEXSZ + 1];
	int alive, rc;

	/* receive-pack moves the ref before it exits: read the ref after
	 * seeing it gone, and a ref that has not moved is final. */
	if ((alive = receiver_alive(rel->gate, ref)) < 0)
		return -1;
	rc = repo_ref_target(repo, ref, head);
	if (rc < 0)
		return -1;
	if (rc == 0 && rel->commit != NULL && strcmp(head, rel->commit) == 0)
		return GATE_MOVED;
	return alive ? GATE_WAITING : GATE_REFUSED;
}

int
gate_wait(const struct berth_root *r, const char *pipeline,
    const struct release *rel, int64_t deadline)
{
	git_repository *repo = NULL;
	char *path = root_repo_path(r, pipeline);
	int st;

	st = repo_open(path, &repo);
	free(path);
	if (st < 0)
		return -1;
	while ((st = check_in(repo, rel)) == GATE_WAITING &&
	    now_ms() < deadline)
		poll(NULL, 0, 10);
	git_repository_free(repo);
	return st;
}

int
gate_check(const struct berth_root *r, const char *pipeline,
    const struct release *rel)
{
	return gate_wait(r, pipeline, rel, 0);
}

/*
 * Settle one gated release once its gate has an answer (by deadline);
 * 1 if it still waits.
 */
static int
settle_one(const struct berth_root *r, struct ledger *db,
    const struct app *app, const struct release *rel, int64_t deadline)
{
	int st = gate_wait(r, app->pipeline, rel, deadline);

	if (st < 0) {
		log_say("%s v%d: %s", app->name, rel->version,
		    berth_last_error());
		st = GATE_REFUSED;
	}
	if (st == GATE_WAITING)
		return 1;
	if (ledger_release_finish(db, rel->id, st == GATE_MOVED ?
	    "succeeded" : "failed") < 0)
		return -1;
	return 0;
}

int
gate_settle_app(const struct berth_root *r, struct ledger *db,
    const struct app *app, int wait_ms)
{
	int64_t deadline = now_ms() + wait_ms;
	struct release *rels;
	size_t n, i;
	int left = 0;

	if (ledger_release_gated(db, app->id, &rels, &n) < 0)
		return -1;
	for (i = 0; i < n && left >= 0; i++) {
		int rc = settle_one(r, db, app, &rels[i], deadline);

		left = rc < 0 ? -1 : left + rc;
	}
	release_list_free(rels, n);
	return left;
}
