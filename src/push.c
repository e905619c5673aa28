/*
 * push.c - a push's ref updates, before and after they move (push.h).
 */
#include "access.h"
#include "build.h"
#include "ci.h"
#include "deploy.h"
#include "gate.h"
#include "names.h"
#include "output.h"
#include "push.h"
#include "review.h"
#include "runtime.h"
#include "sandbox.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
push_add(struct push *p, const char *ref, const char *old, const char *new)
{
	struct push_command *c;

	p->cmds = xrealloc(p->cmds, (p->ncmds + 1) * sizeof(*p->cmds));
	c = &p->cmds[p->ncmds++];
	snprintf(c->old, sizeof(c->old), "%s", old);
	snprintf(c->new, sizeof(c->new), "%s", new);
	c->ref = xstrdup(ref);
}

void
push_clear(struct push *p)
{
	size_t i;

	for (i = 0; i < p->ncmds; i++)
		free(p->cmds[i].ref);
	free(p->cmds);
	free(p->actor);
	p->cmds = NULL;
	p->ncmds = 0;
	p->actor = NULL;
}

/* Whether git moves the refs (the hooks), not this process (deploy). */
static int
by_git(const struct push *p)
{
	return p->mover != getpid();
}

/*
 * CI for a pushed commit of branch. 0: passed, or nothing to test, or
 * skipped; -1: the run failed, errored or could not run (after saying
 * so, unless quiet: the caller says why itself), with berth_error()
 * what a rejection says: "tests failed", or the reason ("tests
 * errored: ...", "CI could not run: ..."). It points at a run only
 * when the ledger holds how that run ended.
 */
static int
run_ci(struct push *p, const struct push_command *c, const char *branch,
    int quiet)
{
	struct ci_opts o = { p->root, p->repo, &p->pipeline, branch, c->new,
	    p->actor };
	struct test_run run;
	int rc;

	if (p->ci_skip) {
		out_heading("CI skipped (%s)", by_git(p) ?
		    "git push -o ci.skip" : "--ignore-ci");
		return 0;
	}
	if (p->ci_known && (rc = ledger_test_run_of_commit(p->root->db,
	    p->pipeline.id, c->new, &run)) <= 0) {
		char sha[8];

		if (rc < 0)
			return -1;
		out_heading("CI of %s: test run #%d %s", short_sha(c->new, sha),
		    run.number, run.status);
		rc = strcmp(run.status, "succeeded") == 0 ? 0 :
		    berth_error("tests %s in run #%d (see: berth ci:info %d "
		    "-p %s)", run.status, run.number, run.number,
		    p->pipeline.name);
		test_run_clear(&run);
		return rc;
	}
	rc = ci_run(&o, &run);
	if (rc == 1)
		return 0;
	if (rc < 0) {
		char *why = xstrdup(berth_last_error());

		if (run.number > 0)
			out_error("See: berth ci:info %d -p %s", run.number,
			    p->pipeline.name);
		else if (strncmp(why, "tests ", 6) != 0 && !quiet)
			/* Not shown yet (a bad app.json, a full disk). */
			out_error("%s", why);
		berth_error("%s", run.status != NULL &&
		    strcmp(run.status, "failed") == 0 ? "tests failed" : why);
		free(why);
	}
	test_run_clear(&run);
	return rc < 0 ? -1 : 0;
}

/* How a refusal starts: git's client is told its push was rejected. */
static const char *
rejected(const struct push *p)
{
	return by_git(p) ? "Push rejected" : "Deploy refused";
}

static void
say_waiting(const char *holder, void *data)
{
	(void)data;
	out_heading("Another push is deploying: waiting for the %s to finish",
	    holder);
}

/* Print a multi-line reason: the first line as an error, then details. */
static void
show_failure(const char *what, const char *why)
{
	const char *nl = strchr(why, '\n');

	out_error("%s: %.*s", what, nl ? (int)(nl - why) : (int)strlen(why),
	    why);
	while (nl != NULL) {
		const char *start = nl + 1;

		nl = strchr(start, '\n');
		out_error("%.*s", nl ? (int)(nl - start) : (int)strlen(start),
		    start);
	}
}

/*
 * Release a successful build (release_deploy()). Its gate names the
 * receive-pack that runs this hook: the release goes live once that
 * has moved the ref, and fails if it exits without.
 */
static int
release_build(struct push *p, const struct push_command *c,
    const struct app *app,
    const struct build_result *res)
{
	struct release_done done;
	char sha[8], *desc, *url, *gate;
	int ret = 0;

	desc = xasprintf("Deploy %s", short_sha(c->new, sha));
	gate = gate_format(c->ref, p->mover);
	{
		struct release_order o = {
			.app = app,
			.kind = RELEASE_DEPLOY,
			.slug_id = res->slug_id,
			.commit = c->new,
			.actor = p->actor,
			.description = desc,
			.gate = gate,
			.progress = out_progress,
		};

		release_deploy(p->root, &o, &done);
	}
	free(desc);
	free(gate);
	if (done.outcome == RELEASE_NOT_CREATED) {
		out_error("Cannot record the release of %s: %s", app->name,
		    done.why);
		release_done_clear(&done);
		return -1;
	}
	url = runtime_url(p->root, app->name);
	if (done.outcome == RELEASE_LIVE)
		out_heading("Launching v%d... done, %s", done.version, url);
	else if (done.outcome == RELEASE_RECORDED)
		out_heading("Launching v%d... %s; once git has taken the push, "
		    "v%d starts when berthd does", done.version, done.why,
		    done.version);
	else if (done.outcome != RELEASE_STAGED) {
		char *what = xasprintf("%s: the release failed to start",
		    rejected(p));

		show_failure(what, done.why);
		free(what);
		ret = -1;
	}
	free(url);
	release_done_clear(&done);
	return ret;
}

/*
 * Under the lock, before anything is built. A push before this one may
 * still wait for git to move the ref (its releases' gates, gate.h):
 * wait until they are settled. Then the branch must be where this push
 * found it; otherwise another push moved it while we waited, and git
 * would refuse this update after we had released it.
 */
static int
branch_unchanged(struct push *p, const struct push_command *c,
    const char *branch, struct app *apps, size_t napps)
{
	char cur[GIT_OID_HEXSZ + 1], sha[8];
	int64_t deadline = now_ms() + 30000;
	size_t i, waiting = 0;
	int rc, said = 0;

	do {
		if (waiting > 0 && !said) {
			out_heading("Waiting for the push before this one to "
			    "go live or fail");
			said = 1;
		}
		for (i = 0, waiting = 0; i < napps; i++) {
			struct release *rels;
			size_t n;

			runtime_settle_stale(p->root, &apps[i]);
			if (ledger_release_gated(p->root->db, apps[i].id, &rels,
			    &n) < 0)
				return -1;
			release_list_free(rels, n);
			waiting += n;
		}
	} while (waiting > 0 && now_ms() < deadline && poll(NULL, 0, 20) >= 0);
	rc = repo_ref_target(p->repo, c->ref, cur);
	if (rc < 0)
		return -1;
	if (rc == 1)
		strcpy(cur, ZERO_SHA);
	if (strcmp(cur, c->old) != 0)
		return berth_error("%s moved to %s while this push waited; "
		    "pull and push again", branch, short_sha(cur, sha));
	return 0;
}

static int
deploy_command(struct push *p, const struct push_command *c,
    const char *branch, struct app *apps, size_t napps)
{
	struct build_result *results;
	char sha[8], *what;
	size_t i;
	int fd, ret = 0, rejects;

	what = xasprintf("deploy of %s", short_sha(c->new, sha));
	fd = deploy_lock(p->root, p->pipeline.name, what, say_waiting, NULL);
	free(what);
	if (fd < 0) {
		out_error("%s", berth_last_error());
		return -1;
	}
	if (branch_unchanged(p, c, branch, apps, napps) < 0) {
		out_error("%s: %s", rejected(p), berth_last_error());
		deploy_unlock(fd);
		return -1;
	}
	/* The CI gate: failing tests reject the push before any release. */
	rejects = strcmp(p->pipeline.ci_gate, "reject") == 0;
	if (run_ci(p, c, branch, rejects) < 0 && rejects) {
		struct release cur;
		char *why = xstrdup(berth_last_error());

		if (ledger_release_current(p->root->db, apps[0].id,
		    &cur) == 0) {
			char a[8];

			out_error("%s: %s. %s stays on v%d (%s).",
			    rejected(p), why, apps[0].name, cur.version,
			    short_sha(cur.commit, a));
			release_clear(&cur);
		} else
			out_error("%s: %s.", rejected(p), why);
		free(why);
		deploy_unlock(fd);
		return -1;
	}
	/* Build for every app first: a push releases all of them or none. */
	results = xcalloc(napps, sizeof(*results));
	for (i = 0; i < napps && ret == 0; i++) {
		struct build_opts o = { p->root, p->repo, &apps[i], c->new,
		    c->ref, p->actor };
		struct release cur;
		int had = ledger_release_current(p->root->db, apps[i].id, &cur);

		if (build_run(&o, &results[i]) < 0) {
			char a[8];

			if (had == 0)
				out_error("%s: build failed. %s stays "
				    "on v%d (%s).", rejected(p), apps[i].name,
				    cur.version, short_sha(cur.commit, a));
			else
				out_error("%s: build failed.", rejected(p));
			ret = -1;
		}
		if (had == 0)
			release_clear(&cur);
	}
	for (i = 0; i < napps && ret == 0; i++)
		ret = release_build(p, c, &apps[i], &results[i]);
	for (i = 0; i < napps; i++)
		build_result_clear(&results[i]);
	free(results);
	deploy_unlock(fd);
	return ret;
}

/*
 * A berth user (berth shell set ACCESS_USER_ENV) pushes each ref only
 * with the role it needs (access_push_role()); a local user may push
 * anything. Refused as a whole, before anything is built.
 */
static int
check_access(struct push *p)
{
	struct user u;
	enum role have, need;
	size_t i;
	int rc = access_user_from_env(p->root->db, &u), ret = 0;

	if (rc < 0)
		out_error("%s", berth_last_error());
	if (rc <= 0)
		return rc;
	if (access_role(p->root->db, &u, p->pipeline.id, &have) < 0) {
		out_error("%s", berth_last_error());
		user_clear(&u);
		return -1;
	}
	for (i = 0; i < p->ncmds && ret == 0; i++) {
		struct push_command *c = &p->cmds[i];
		struct app *apps = NULL;
		size_t napps = 0;
		char *what, *standing;

		if (strncmp(c->ref, "refs/heads/", 11) == 0 &&
		    ledger_apps_for_branch(p->root->db, p->pipeline.id,
		    c->ref + 11, &apps, &napps) < 0) {
			out_error("%s", berth_last_error());
			ret = -1;
			break;
		}
		need = access_push_role(&p->pipeline, c->ref,
		    strcmp(c->new, ZERO_SHA) == 0, apps, napps, &what);
		/* Past the CI gate an admin set, only an admin goes. */
		if (p->ci_skip && napps > 0 && strcmp(c->new, ZERO_SHA) != 0 &&
		    strcmp(p->pipeline.ci_gate, "reject") == 0 &&
		    need < ROLE_ADMIN) {
			char *more = xasprintf("%s with -o ci.skip past the CI "
			    "gate", what);

			free(what);
			what = more;
			need = ROLE_ADMIN;
		}
		app_list_free(apps, napps);
		if (have < need) {
			const char *fix = have == ROLE_DEVELOPER ? "Push a "
			    "branch for a review app, or ask an admin" :
			    "Ask an admin";

			p->refused = 1;
			standing = access_standing(&u, have, p->pipeline.name);
			/* A hook speaks to git's client; berth deploy says it
			 * as any command does (push.h). */
			if (by_git(p)) {
				out_error("%s: %s needs %s.", standing, what,
				    role_name(need));
				out_error("%s: berth access:grant %s -p %s "
				    "--role %s", fix, u.name, p->pipeline.name,
				    role_name(need));
			} else
				berth_error("%s: %s needs %s. %s: berth "
				    "access:grant %s -p %s --role %s", standing,
				    what, role_name(need), fix, u.name,
				    p->pipeline.name, role_name(need));
			access_log(p->root, u.name, "refused: %s: %s needs %s",
			    standing, what, role_name(need));
			free(standing);
			ret = -1;
		}
		free(what);
	}
	user_clear(&u);
	return ret;
}

/*
 * Before anything is built: refuse deleting a branch an app auto-deploys,
 * and a push that updates more than one such branch (each would release
 * on its own, and git takes or refuses the whole push).
 */
static int
check_commands(struct push *p)
{
	const char *first = NULL;
	size_t i;

	for (i = 0; i < p->ncmds; i++) {
		struct push_command *c = &p->cmds[i];
		struct app *apps = NULL;
		size_t napps = 0;
		const char *branch;

		if (strncmp(c->ref, "refs/heads/", 11) != 0)
			continue;
		branch = c->ref + 11;
		if (ledger_apps_for_branch(p->root->db, p->pipeline.id, branch,
		    &apps, &napps) < 0) {
			out_error("%s", berth_last_error());
			return -1;
		}
		app_list_free(apps, napps);
		if (napps == 0 &&
		    strcmp(branch, p->pipeline.deploy_branch) != 0)
			continue;
		if (strcmp(c->new, ZERO_SHA) == 0) {
			out_error("Deleting %s is not allowed: it is %s of "
			    "pipeline %s. Push a new commit to it instead.",
			    branch, napps ? "a branch its apps deploy" :
			    "the deploy branch", p->pipeline.name);
			return -1;
		}
		if (napps == 0)
			continue;
		if (first != NULL) {
			out_error("This push updates %s and %s, which apps "
			    "deploy: push one of them at a time.", first,
			    branch);
			return -1;
		}
		first = branch;
	}
	return 0;
}

/* Say how app's release of this push went, once git moved c's ref. */
static void
announce(struct push *p, const struct push_command *c, const struct app *app)
{
	char *gate = gate_format(c->ref, p->mover), *url;
	json_t *st = NULL;
	struct release *rels;
	size_t n, i;
	int rc;

	if (ledger_release_list(p->root->db, app->id, 5, &rels, &n) < 0)
		n = 0;
	for (i = 0; i < n; i++)
		if (rels[i].gate != NULL && strcmp(rels[i].gate, gate) == 0)
			break;
	free(gate);
	if (i == n) {
		release_list_free(rels, n);
		return;
	}
	rc = runtime_wait_release(p->root, app->name, rels[i].id,
	    out_progress, NULL);
	if (rc < 0 && runtime_status(p->root, &st) == 1) {
		out_heading("berthd stopped while v%d went live; it runs "
		    "v%d when it starts again", rels[i].version,
		    rels[i].version);
		rc = 1;
	}
	json_decref(st);
	url = runtime_url(p->root, app->name);
	if (rc == 1) {		/* it starts when berthd does */
		if (gate_settle_app(p->root, p->root->db, app, 5000) == 0)
			out_heading("v%d is recorded and starts when berthd "
			    "does", rels[i].version);
	} else if (rc == 0)
		out_heading("Launching v%d... done, %s", rels[i].version, url);
	else
		show_failure("The release failed after git took the push",
		    berth_last_error());
	free(url);
	release_list_free(rels, n);
}

int
push_pre(struct push *p)
{
	size_t i;
	int ret = 0;

	if (check_access(p) < 0 || check_commands(p) < 0)
		return -1;
	/* Pushed code runs sandboxed, or not at all unless berth.ini says. */
	if (sandbox_check(p->root) < 0) {
		out_error("%s", berth_last_error());
		return -1;
	}
	if (sandbox_warning(p->root) != NULL)
		out_detail("Warning: %s", sandbox_warning(p->root));
	/* What a killed push before this one left. */
	if (build_sweep(p->root) < 0)
		out_detail("%s", berth_last_error());

	for (i = 0; i < p->ncmds && ret == 0; i++) {
		struct push_command *c = &p->cmds[i];
		const char *branch;
		struct app *apps = NULL;
		size_t napps = 0;

		if (strncmp(c->ref, "refs/heads/", 11) != 0)
			continue;	/* tags: accepted, nothing to do */
		branch = c->ref + 11;
		if (strcmp(c->new, ZERO_SHA) == 0)
			continue;	/* check_commands() allowed it */
		if (ledger_apps_for_branch(p->root->db, p->pipeline.id, branch,
		    &apps, &napps) < 0) {
			out_error("%s", berth_last_error());
			ret = -1;
			continue;
		}
		if (napps > 0)
			ret = deploy_command(p, c, branch, apps, napps);
		else if (strcmp(branch, p->pipeline.deploy_branch) == 0)
			out_heading("No app auto-deploys %s yet; add one with: "
			    "berth apps:create NAME -p %s --stage staging "
			    "--branch %s", branch, p->pipeline.name, branch);
		app_list_free(apps, napps);
	}
	return ret;
}

/*
 * post-receive: the releases of pushes to auto-deployed branches have
 * gone live (berthd switched to them once git moved the ref): say so.
 * Branches no app auto-deploys get CI and their review app; a deleted
 * branch loses its review app. Never rejects anything (git has moved
 * the refs already).
 */
/* The push event of ref c (git has moved it): who, what, old..new. */
static void
record_push(struct push *p, const struct push_command *c)
{
	int created = strcmp(c->old, ZERO_SHA) == 0;
	int deleted = strcmp(c->new, ZERO_SHA) == 0;
	const char *name = strncmp(c->ref, "refs/heads/", 11) == 0 ?
	    c->ref + 11 : c->ref;
	json_t *data = json_pack("{s:s, s:s, s:s?, s:s?}", "ref", c->ref,
	    "branch", name, "before", created ? NULL : c->old, "after",
	    deleted ? NULL : c->new);
	char *text = json_dumps(data, JSON_COMPACT), *msg;
	struct event_new ev = {
		.kind = "push",
		.pipeline_id = p->pipeline.id,
		.actor = p->actor,
		.commit = deleted ? NULL : c->new,
	};

	if (deleted)
		msg = xasprintf("Deleted %s", name);
	else if (created)
		msg = xasprintf("Pushed %s (new) at %.7s", name, c->new);
	else
		msg = xasprintf("Pushed %s %.7s..%.7s", name, c->old, c->new);
	ev.message = msg;
	ev.data = text;
	if (ledger_event_add(p->root->db, &ev) < 0)
		out_detail("%s", berth_last_error());
	free(msg);
	free(text);
	json_decref(data);
}

int
push_post(struct push *p)
{
	size_t i, j;

	for (i = 0; i < p->ncmds; i++)
		record_push(p, &p->cmds[i]);
	for (i = 0; i < p->ncmds; i++) {
		struct push_command *c = &p->cmds[i];
		struct app *apps = NULL;
		size_t napps = 0;
		const char *branch;
		struct review_app ra;

		if (strncmp(c->ref, "refs/heads/", 11) != 0)
			continue;
		branch = c->ref + 11;
		if (strcmp(c->new, ZERO_SHA) == 0) {
			if (ledger_review_get(p->root->db, p->pipeline.id,
			    branch, &ra) == 0) {
				review_app_clear(&ra);
				review_destroy(p->root, &p->pipeline, branch,
				    p->actor);
			}
			continue;
		}
		if (ledger_apps_for_branch(p->root->db, p->pipeline.id, branch,
		    &apps, &napps) == 0 && napps > 0) {
			/* Deployed (and tested) in pre-receive. */
			for (j = 0; j < napps; j++)
				announce(p, c, &apps[j]);
			app_list_free(apps, napps);
			continue;
		}
		app_list_free(apps, napps);
		run_ci(p, c, branch, 0);
		if (p->pipeline.review_apps && !p->review_skip)
			review_deploy(p->root, p->repo, &p->pipeline, branch,
			    c->new, p->actor);
		else if (p->pipeline.review_apps)
			out_heading("Review app skipped (git push -o "
			    "review.skip)");
	}
	return 0;
}


/* Move each ref as git would once push_pre() accepted them. */
static int
move_refs(struct push *p)
{
	size_t i;

	for (i = 0; i < p->ncmds; i++) {
		struct push_command *c = &p->cmds[i];
		char *msg = xasprintf("berth: %s", p->actor);
		int rc;

		if (strcmp(c->old, c->new) == 0)
			rc = 0;
		else if (strcmp(c->new, ZERO_SHA) == 0)
			rc = repo_ref_delete(p->repo, c->ref);
		else
			rc = repo_ref_move(p->repo, c->ref, c->old, c->new,
			    msg);
		free(msg);
		if (rc < 0) {
			out_error("Deploy refused: %s; nothing was changed "
			    "after it", berth_last_error());
			return -1;
		}
	}
	return 0;
}

int
push_apply(struct push *p)
{
	if (push_pre(p) < 0 || move_refs(p) < 0)
		return -1;
	return push_post(p);
}
