/*
 * control-deploy.c - berthd's deploy operation (release phase, rollout,
 * settle), and a push's release waiting for git (gate.h): the early
 * "staged" answer to pre-receive, the wait for the ref, the "await" of
 * post-receive, and the watch a starting berthd keeps on such releases.
 */
#include "control-server-int.h"
#include "control.h"
#include "gate.h"
#include "output.h"
#include "release.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a push's release waits for git (gate.h) ---- */

/*
 * A deploy that answered its client "staged" and goes on without it:
 * what it says from then on is kept for the "await" of the pusher's
 * reference-transaction hook.
 */
struct staged {
	int64_t release_id;
	struct strbuf lines;
	int done, ok;
	char *why;		/* when not ok */
	time_t done_at;
	struct staged *next;
};

/* What the deploy's before_switch needs. */
struct gate_wait {
	struct request *rq;
	struct release rel;	/* id, version, commit and gate */
	struct staged *st;
};

/* Kept at most this long when nobody awaits them (old hooks). */
#define STAGED_KEEP_S 600
/* A receive-pack that neither moves the ref nor exits for this long is
 * given up on. */
#define GATE_WAIT_MS (10 * 60 * 1000)

static void
staged_line(const char *line, void *data)
{
	struct gate_wait *gw = data;
	struct control_server *cs = gw->rq->cs;

	pthread_mutex_lock(&cs->staged_lock);
	strbuf_addf(&gw->st->lines, "%s\n", line);
	pthread_mutex_unlock(&cs->staged_lock);
}

static void
staged_free(struct staged *st)
{
	strbuf_release(&st->lines);
	free(st->why);
	free(st);
}

/* Take the entry for release_id out of the list, and free the ones
 * kept too long (lock held). */
static struct staged *
staged_take(struct control_server *cs, int64_t release_id)
{
	struct staged **pp, *st;
	time_t now = time(NULL);

	for (pp = &cs->staged; (st = *pp) != NULL;) {
		if (st->release_id == release_id ||
		    (st->done && now - st->done_at > STAGED_KEEP_S)) {
			*pp = st->next;
			if (st->release_id == release_id)
				return st;
			staged_free(st);
		} else
			pp = &st->next;
	}
	return NULL;
}

/* Answer the client now, and keep what the deploy says from here on. */
static void
answer_staged(struct gate_wait *gw)
{
	struct request *rq = gw->rq;
	struct control_server *cs = rq->cs;

	control_send(rq->fd, json_pack("{s:b, s:b, s:i}", "ok", 1, "staged",
	    1, "version", gw->rel.version));
	rq->replied = 1;
	gw->st = xcalloc(1, sizeof(*gw->st));
	gw->st->release_id = gw->rel.id;
	strbuf_init(&gw->st->lines);
	pthread_mutex_lock(&cs->staged_lock);
	staged_take(cs, 0);	/* drops the expired ones */
	gw->st->next = cs->staged;
	cs->staged = gw->st;
	pthread_mutex_unlock(&cs->staged_lock);
	rq->pr.fn = staged_line;
	rq->pr.data = gw;
}

/*
 * Whether git has refused the push already (its hook was killed while
 * it waited for us): then no release phase or dyno is started for it.
 * -1 with berth_error() when it has.
 */
static int
refused(struct request *rq, const struct gate_wait *gw)
{
	char sha[8];

	if (gw->rel.gate == NULL || gate_check(rq->cs->root, rq->la.pipeline,
	    &gw->rel) != GATE_REFUSED)
		return 0;
	return berth_error("git did not take the push of %s (it failed, or "
	    "its hook was killed)", short_sha(gw->rel.commit, sha));
}

/*
 * The rollout's before_switch: the new dynos are up; let pre-receive
 * exit so that git moves the ref, and switch only once it has.
 */
static int
wait_for_git(void *data, const struct progress *pr)
{
	struct gate_wait *gw = data;
	struct request *rq = gw->rq;
	int64_t deadline = now_ms() + GATE_WAIT_MS;
	char sha[8];
	int st;

	progress_say(pr, "-----> v%d is up; it goes live once git has taken "
	    "the push", gw->rel.version);
	answer_staged(gw);
	st = gate_wait(rq->cs->root, rq->la.pipeline, &gw->rel, deadline);
	if (st == GATE_MOVED)
		return 0;
	if (st == GATE_WAITING)
		return berth_error("git did not update the branch to %s "
		    "within %d minutes", short_sha(gw->rel.commit, sha),
		    GATE_WAIT_MS / 60000);
	return st == GATE_REFUSED ? refused(rq, gw) : -1;
}

/* The deploy ended: the kept lines and outcome wait for "await". */
static void
staged_end(struct gate_wait *gw, int ok, const char *why)
{
	struct control_server *cs;

	if (gw->st == NULL)
		return;		/* not staged: the client has the answer */
	cs = gw->rq->cs;
	pthread_mutex_lock(&cs->staged_lock);
	gw->st->ok = ok;
	gw->st->why = ok ? NULL : xstrdup(why);
	gw->st->done = 1;
	gw->st->done_at = time(NULL);
	pthread_mutex_unlock(&cs->staged_lock);
}

/*
 * The pusher's reference-transaction hook, once git moved the ref:
 * wait for the staged deploy (it holds the app's turn until it ends),
 * then pass on what it said and how it ended.
 */
json_t *
cmd_await(struct request *rq)
{
	json_t *id = json_object_get(rq->req, "release_id");
	struct control_server *cs = rq->cs;
	struct staged *st;
	struct release rel;
	json_t *reply;
	char *line, *nl;

	if (!json_is_integer(id))
		return fail_json("await needs a release_id");
	sv_app_op_end(cs->sv, sv_app_op_begin(cs->sv, rq->la.name,
	    rq->la.id));
	pthread_mutex_lock(&cs->staged_lock);
	st = staged_take(cs, json_integer_value(id));
	pthread_mutex_unlock(&cs->staged_lock);
	if (st != NULL) {
		for (line = st->lines.buf; line != NULL &&
		    (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			*nl = '\0';
			progress_say(&rq->pr, "%s", line);
		}
		reply = st->ok ? ok_json() : fail_json("%s", st->why);
		staged_free(st);
		return reply;
	}
	if (ledger_release_get_by_id(rq->db, json_integer_value(id),
	    &rel) < 0)
		return fail_json("%s", berth_last_error());
	reply = strcmp(rel.status, "succeeded") == 0 ? ok_json() :
	    fail_json("v%d is %s", rel.version, rel.status);
	release_clear(&rel);
	return reply;
}

/* ---- the deploy operation ---- */

/*
 * Record how rel ended, retrying while the ledger cannot be written (a
 * full disk): a release must not stay pending, nor a failed config
 * change's vars stay set. The app's operation waits meanwhile; nothing
 * else of it could be recorded either.
 */
static void
settle(struct request *rq, const struct release *rel, int ok,
    const char *prev_config)
{
	int delay = 100;

	while (release_settle(rq->db, rel, ok, prev_config) < 0) {
		if (delay == 100) {
			log_say("%s v%d: cannot record that it %s: %s; "
			    "retrying", rq->la.name, rel->version, ok ?
			    "succeeded" : "failed", berth_last_error());
			progress_say(&rq->pr, "cannot record that v%d %s "
			    "(%s); retrying until the ledger can be written",
			    rel->version, ok ? "succeeded" : "failed",
			    berth_last_error());
		}
		poll(NULL, 0, delay);
		delay = delay < 5000 ? delay * 2 : 5000;
	}
	if (delay > 100)
		log_say("%s v%d: recorded", rq->la.name, rel->version);
}

/* Run the release phase of plan's release, when it has one. */
static int
run_release_phase(struct request *rq, struct sv_app *a,
    const struct rollout_plan *plan)
{
	struct supervisor *sv = rq->cs->sv;
	const char *cmd = proctypes_get(&plan->types, "release");
	int rc;

	if (cmd == NULL)
		return 0;
	progress_say(&rq->pr, "-----> Release phase: %s", cmd);
	rc = release_phase(rq->cs->root, rq->db, rq->la.name, &plan->rel,
	    plan->commit, &plan->types, rq->pr.fn, rq->pr.data);
	pthread_mutex_lock(&sv->lock);
	sv_app_event(a, "release", "Release phase of v%d %s",
	    plan->rel.version, rc < 0 ? "failed" : "succeeded");
	pthread_mutex_unlock(&sv->lock);
	return rc < 0 ? -1 : 0;
}

/*
 * Run app.json scripts.dokku.WHICH of plan's release, when it has one.
 * rel: the release as loaded (a rollout takes plan's).
 */
static int
run_dokku_script(struct request *rq, struct sv_app *a,
    const struct release *rel, const char *commit, const char *which)
{
	struct supervisor *sv = rq->cs->sv;
	int rc = release_dokku_script(rq->cs->root, rq->la.name, rel, commit,
	    which, rq->pr.fn, rq->pr.data);

	if (rc == 1)
		return 0;
	pthread_mutex_lock(&sv->lock);
	sv_app_event(a, "release", "%s of v%d %s", which, rel->version,
	    rc < 0 ? "failed" : "succeeded");
	pthread_mutex_unlock(&sv->lock);
	return rc;
}

/*
 * Once the release is live: its scripts.dokku.postdeploy. A failure is
 * reported; the release stays, as on Dokku.
 */
static void
run_postdeploy(struct request *rq, struct sv_app *a, int64_t rel_id)
{
	struct release rel;
	struct proctypes types;
	char *commit = NULL;

	if (release_load(rq->db, rq->la.id, rel_id, &rel, &commit,
	    &types) < 0) {
		progress_say(&rq->pr, " !     postdeploy not run: %s",
		    berth_last_error());
		return;
	}
	if (run_dokku_script(rq, a, &rel, commit, "postdeploy") < 0)
		progress_say(&rq->pr, " !     %s; v%d stays live",
		    berth_last_error(), rel.version);
	free(commit);
	proctypes_clear(&types);
	release_clear(&rel);
}

/*
 * A deploy: run the pending release's scripts.dokku.predeploy and
 * release phase, roll it out, record how it ended, then run its
 * scripts.dokku.postdeploy. The release never stays pending: when the
 * client goes away, this thread still finishes it.
 */
json_t *
cmd_deploy(struct request *rq)
{
	json_t *id = json_object_get(rq->req, "release_id");
	struct rollout_plan plan;
	struct release rel, prev;
	struct gate_wait gw;
	struct sv_app *a;
	json_t *reply;
	int had_prev, rc;

	if (!json_is_integer(id))
		return fail_json("deploy needs a release_id");
	/* The plan is read in the app's turn: its formation is current. */
	a = sv_app_op_begin(rq->cs->sv, rq->la.name, rq->la.id);
	if (plan_load(rq->cs->root, rq->db, &rq->la, json_integer_value(id),
	    &plan) < 0) {
		sv_app_op_end(rq->cs->sv, a);
		return fail_json("%s", berth_last_error());
	}
	/* What release_settle() needs, as the rollout takes plan's rel. */
	memset(&rel, 0, sizeof(rel));
	rel.id = plan.rel.id;
	rel.app_id = plan.rel.app_id;
	rel.version = plan.rel.version;
	rel.kind = xstrdup(plan.rel.kind);
	memset(&gw, 0, sizeof(gw));
	if (plan.rel.gate != NULL) {
		gw.rq = rq;
		gw.rel.id = plan.rel.id;
		gw.rel.version = plan.rel.version;
		gw.rel.commit = xstrdup(plan.rel.commit);
		gw.rel.gate = xstrdup(plan.rel.gate);
		plan.before_switch = wait_for_git;
		plan.before_switch_data = &gw;
	}
	memset(&prev, 0, sizeof(prev));
	had_prev = ledger_release_current(rq->db, rq->la.id, &prev) == 0;
	rc = refused(rq, &gw);
	if (rc == 0)
		rc = run_dokku_script(rq, a, &plan.rel, plan.commit,
		    "predeploy");
	if (rc == 0)
		rc = run_release_phase(rq, a, &plan);
	if (rc == 0)
		rc = refused(rq, &gw);
	if (rc == 0) {
		progress_say(&rq->pr, "-----> Starting the dynos of v%d",
		    plan.rel.version);
		rc = rollout_release(&rq->cs->env, a, &plan, NULL, 1, &rq->pr);
	}
	if (rc == 0) {
		settle(rq, &rel, 1, NULL);
		if (rq->la.stopped)
			ledger_app_set_stopped(rq->db, rq->la.id, 0);
		run_postdeploy(rq, a, rel.id);
		staged_end(&gw, 1, NULL);
		reply = json_pack("{s:b, s:i}", "ok", 1, "version",
		    rel.version);
	} else {
		char *why = xstrdup(berth_last_error());

		settle(rq, &rel, 0, had_prev ? prev.config : NULL);
		staged_end(&gw, 0, why);
		reply = fail_json("%s", why);
		free(why);
	}
	sv_app_op_end(rq->cs->sv, a);
	rollout_plan_clear(&plan);
	release_clear(&rel);
	release_clear(&gw.rel);
	if (had_prev)
		release_clear(&prev);
	return reply;
}

/*
 * A push's release that still waits for git when berthd starts (it was
 * killed meanwhile): in the app's turn, wait for git's answer and, when
 * git took the push, roll the app out to it (its release phase ran).
 */
struct gate_watch {
	struct control_server *cs;
	char *app;
};

static void
watch_one(struct control_server *cs, struct ledger *db, const struct app *la)
{
	struct rollout_plan plan;
	struct sv_app *a = sv_app_op_begin(cs->sv, la->name, la->id);
	int rc = gate_settle_app(cs->root, db, la, GATE_WAIT_MS);

	if (rc == 0 && plan_load(cs->root, db, la, 0, &plan) == 0) {
		pthread_mutex_lock(&cs->sv->lock);
		rc = a->rel.id == plan.rel.id;
		pthread_mutex_unlock(&cs->sv->lock);
		if (!rc && rollout_release(&cs->env, a, &plan, NULL, 1,
		    NULL) < 0)
			log_say("%s: %s", la->name, berth_last_error());
		rollout_plan_clear(&plan);
	} else if (rc != 0)
		log_say("%s: a push's release still waits for git", la->name);
	sv_app_op_end(cs->sv, a);
}

static void *
gate_watch_thread(void *arg)
{
	struct gate_watch *w = arg;
	struct ledger *db = NULL;
	char *path = root_path(w->cs->root, "ledger.db");
	struct app la;

	if (ledger_open_existing(path, &db) == 0 && ledger_app_get(db, w->app,
	    &la) == 0) {
		watch_one(w->cs, db, &la);
		app_clear(&la);
	}
	ledger_close(db);
	free(path);
	free(w->app);
	free(w);
	return NULL;
}

void
watch_gates(struct control_server *cs, const struct app *la)
{
	struct gate_watch *w = xcalloc(1, sizeof(*w));

	w->cs = cs;
	w->app = xstrdup(la->name);
	if (detached(gate_watch_thread, w) < 0) {
		log_say("%s: cannot watch its release waiting for git",
		    la->name);
		free(w->app);
		free(w);
	}
}

