/*
 * ledger.h - the SQLite ledger of pipelines, apps, config vars, builds,
 * slugs and releases. This module is the only one that speaks SQL.
 *
 * Every connection sets busy_timeout first, then WAL, synchronous=NORMAL
 * and foreign_keys=ON. Every write is one BEGIN IMMEDIATE transaction, so
 * concurrent writers (hooks, CLI) serialize instead of failing. The
 * schema version is PRAGMA user_version; ledger_open() migrates forward.
 * The database file is mode 0600: config var values live in it.
 *
 * Lookups return 0 when found, 1 when not found (with berth_error()
 * saying so and what to run instead), and -1 on a database error.
 * Strings inside returned structs are owned by them; free with the
 * matching *_clear() or *_list_free().
 */
#ifndef BERTH_LEDGER_H
#define BERTH_LEDGER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct ledger;

#define LEDGER_SCHEMA_VERSION 10

struct pipeline {
	int64_t id;
	char *name;
	char *deploy_branch;
	char *created_at;
	int review_apps;	/* review apps enabled */
	int review_autodestroy;	/* berthd destroys stale ones */
	int review_stale_days;
	char *ci_gate;		/* reject|off */
};

struct app {
	int64_t id;
	char *name;
	int64_t pipeline_id;
	char *pipeline;		/* pipeline name */
	char *stage;		/* review|development|staging|production */
	char *branch;		/* branch it auto-deploys, or NULL */
	char *created_at;
	int stopped;		/* ps:stop: no dynos until ps:start */
};

struct kv {
	char *key;
	char *value;
};

struct kvlist {
	struct kv *items;
	size_t nr;
};

struct slug {
	char *id;		/* 24 hex chars */
	char *commit;		/* full sha */
	char *process_types;	/* JSON object {"web":"..."} */
	int64_t size;
	char *buildpacks;	/* comma-separated names, "" = Procfile-only */
	char *created_at;
};

struct build {
	int64_t id;
	int64_t app_id;
	char *app;		/* app name */
	char *commit;
	char *ref;
	char *status;		/* building|succeeded|failed */
	char *slug_id;		/* NULL unless succeeded */
	char *actor;
	char *error;		/* one line, NULL unless failed */
	char *started_at;
	char *finished_at;
};

/*
 * The highest release version: versions are read from the ledger as
 * int64 and a row outside 1..RELEASE_VERSION_MAX (a ledger changed by
 * hand) is refused as damaged, so an int holds every version berth
 * hands on.
 */
#define RELEASE_VERSION_MAX INT_MAX

struct release {
	int64_t id;
	int64_t app_id;
	int version;		/* 1..RELEASE_VERSION_MAX */
	char *slug_id;		/* NULL for a release without code */
	char *config;		/* JSON object snapshot of config vars */
	char *kind;		/* deploy|config|promote|rollback */
	char *status;		/* pending|succeeded|failed */
	char *actor;
	char *commit;
	char *description;
	char *created_at;
	char *finished_at;
	char *gate;		/* pending until git moves a ref (gate.h) */
};

struct buildpack {
	char *name;
	char *source;		/* path or URL it was installed from */
	int position;
};

/* What a new release is made of; config is snapshotted by the ledger. */
struct release_new {
	int64_t app_id;
	const char *slug_id;
	const char *kind;
	const char *status;
	const char *actor;
	const char *commit;
	const char *description;
	/*
	 * NULL: snapshot the app's config vars. Otherwise (a rollback) this
	 * snapshot becomes the app's config vars and the release's config.
	 */
	const char *config;
	const char *gate;	/* NULL, or what it waits for (gate.h) */
};

/* Open path, making a new ledger when it has none (berth init, tests). */
int ledger_open(const char *path, struct ledger **out);
/*
 * Open a server root's ledger, which must be there and whole: a
 * missing, empty or non-SQLite file, or one that lacks a table, is
 * refused with a line naming it and the fix, never made anew.
 */
int ledger_open_existing(const char *path, struct ledger **out);
void ledger_close(struct ledger *db);
int ledger_schema_version(struct ledger *db);

/* An app to create together with its pipeline. */
struct app_new {
	const char *name;
	const char *stage;
	const char *branch;	/* auto-deploys this branch, or NULL */
};

/* pipelines */
/*
 * Create the pipeline and its apps in one transaction: either all of
 * them exist afterwards or none does.
 */
int ledger_pipeline_create(struct ledger *db, const char *name,
    const char *deploy_branch, const struct app_new *apps, size_t napps,
    int64_t *id);
int ledger_pipeline_get(struct ledger *db, const char *name,
    struct pipeline *out);
int ledger_pipeline_get_by_id(struct ledger *db, int64_t id,
    struct pipeline *out);
int ledger_pipeline_list(struct ledger *db, struct pipeline **out,
    size_t *nr);
void pipeline_clear(struct pipeline *p);
void pipeline_list_free(struct pipeline *p, size_t nr);

/* apps (only live apps are found; destroyed ones keep their history) */
int ledger_app_create(struct ledger *db, const char *name,
    int64_t pipeline_id, const char *stage, const char *branch,
    int64_t *id);
int ledger_app_get(struct ledger *db, const char *name, struct app *out);
/* The app with this id, destroyed or not. */
int ledger_app_get_by_id(struct ledger *db, int64_t id, struct app *out);
/* pipeline_id 0 = every pipeline. Ordered by pipeline, stage, name. */
int ledger_app_list(struct ledger *db, int64_t pipeline_id,
    struct app **out, size_t *nr);
/* Live apps of the pipeline that auto-deploy branch (review apps, which
 * post-receive deploys, are not among them). */
int ledger_apps_for_branch(struct ledger *db, int64_t pipeline_id,
    const char *branch, struct app **out, size_t *nr);
int ledger_app_destroy(struct ledger *db, int64_t app_id);
int ledger_app_set_stopped(struct ledger *db, int64_t app_id, int stopped);
/*
 * The uid owner's code runs as (sandbox.h: "app/ID", "ci/PIPELINE_ID")
 * into *uid: the one it was given, else the next one of [uid_min,
 * uid_max] no owner had, kept from then on (a destroyed app's uid is
 * never another's: what it left stays its own).
 */
int ledger_sandbox_uid(struct ledger *db, const char *owner, int uid_min,
    int uid_max, int *uid);
void app_clear(struct app *a);
void app_list_free(struct app *a, size_t nr);

/* config vars */
int ledger_config_get(struct ledger *db, int64_t app_id,
    struct kvlist *out);
/*
 * Set and unset config vars in one transaction. When the app has a
 * current release, also records a new release (kind "config", status
 * "pending", same slug, new config snapshot, description like "Set A, B
 * config vars") for the runtime to roll out, and returns its version and
 * id (0 when no release was made). Unsetting a key that is not set is
 * not an error; keys and values must be valid UTF-8.
 */
int ledger_config_change(struct ledger *db, int64_t app_id,
    const struct kvlist *set, const char *const *unset, size_t nunset,
    const char *actor, int *version, int64_t *release_id);
void kvlist_add(struct kvlist *kv, const char *key, const char *value);
const char *kvlist_get(const struct kvlist *kv, const char *key);
void kvlist_clear(struct kvlist *kv);
/* JSON object text of the list; caller frees. */
char *kvlist_to_json(const struct kvlist *kv);
int kvlist_from_json(const char *json, struct kvlist *out);

/* slugs */
int ledger_slug_create(struct ledger *db, const struct slug *s);
int ledger_slug_get(struct ledger *db, const char *id, struct slug *out);
void slug_clear(struct slug *s);

/* builds */
int ledger_build_start(struct ledger *db, int64_t app_id,
    const char *commit, const char *ref, const char *actor, int64_t *id);
int ledger_build_finish(struct ledger *db, int64_t id, const char *status,
    const char *slug_id, const char *error);
int ledger_build_get(struct ledger *db, int64_t id, struct build *out);
/* Newest first; limit 0 = all. app_id 0 = every app. */
int ledger_build_list(struct ledger *db, int64_t app_id, int limit,
    struct build **out, size_t *nr);
void build_clear(struct build *b);
void build_list_free(struct build *b, size_t nr);

/* releases */
/*
 * Record release v(max+1) of the app, snapshotting its config vars, in one
 * BEGIN IMMEDIATE transaction. Fills *out when out is not NULL.
 */
int ledger_release_create(struct ledger *db, const struct release_new *rn,
    struct release *out);
int ledger_release_finish(struct ledger *db, int64_t release_id,
    const char *status);
/*
 * The same, and (snapshot not NULL) the app's config vars put back to
 * snapshot, in one transaction: a failed config change is undone with
 * its release or not at all.
 */
int ledger_release_end(struct ledger *db, int64_t release_id,
    const char *status, int64_t app_id, const char *snapshot);
/* Release version of the app (any int64: none beyond the highest). */
int ledger_release_get(struct ledger *db, int64_t app_id, int64_t version,
    struct release *out);
/* The newest succeeded release; 1 when the app has none. */
int ledger_release_current(struct ledger *db, int64_t app_id,
    struct release *out);
/* Highest version (any status), 0 when none; -1 on error. */
int ledger_release_latest_version(struct ledger *db, int64_t app_id);
/*
 * The newest succeeded release with code before version (what a
 * release's diff is from); 1 when there is none.
 */
int ledger_release_before(struct ledger *db, int64_t app_id,
    int64_t version, struct release *out);
/*
 * How the release phase of a release went (its Procfile release:
 * command, whether it exited 0, how long it took): its event tells it
 * (release.succeeded|failed data.release_phase).
 */
int ledger_release_phase(struct ledger *db, int64_t release_id,
    const char *command, int ok, int64_t duration_ms);
/* Newest first; limit 0 = all. */
int ledger_release_list(struct ledger *db, int64_t app_id, int limit,
    struct release **out, size_t *nr);
void release_clear(struct release *r);
void release_list_free(struct release *r, size_t nr);

/*
 * formation: how many dynos of each process type an app wants, and how
 * big each is (its memory limit, cgroup.h)
 */
struct formation_item {
	char *type;
	int quantity;
	int64_t memory;		/* bytes; 0 = berth.ini [sandbox] memory */
};
int ledger_formation_get(struct ledger *db, int64_t app_id,
    struct formation_item **out, size_t *nr);
/* Set the quantities of several types at once (one transaction). */
int ledger_formation_set(struct ledger *db, int64_t app_id,
    const struct formation_item *items, size_t nr, const char *actor);
/*
 * Set the memory of several types at once (one transaction); a type
 * without a row yet gets one with the quantity given, which the
 * resize leaves as it is otherwise.
 */
int ledger_formation_resize(struct ledger *db, int64_t app_id,
    const struct formation_item *items, size_t nr, const char *actor);
void formation_list_free(struct formation_item *f, size_t nr);

/*
 * Releases left pending (their rollout's process died), but for those
 * waiting on a gate (gate_settle_app()): mark them
 * failed. Returns how many, or -1.
 */
int ledger_release_fail_stale(struct ledger *db, int64_t app_id);
/* Work a process records and does: builds, test runs. */
enum ledger_work { LEDGER_WORK_BUILD, LEDGER_WORK_TEST_RUN };
/*
 * Builds and test runs still in progress whose process (their owner) is
 * gone, killed or crashed: failed and errored. How many, or -1.
 */
int ledger_fail_interrupted(struct ledger *db);
/* Whether that build or test run is in progress (1) or not (0). */
int ledger_work_running(struct ledger *db, enum ledger_work kind,
    int64_t id);
/* The app's pending releases that wait on a gate (gate.h), oldest first. */
int ledger_release_gated(struct ledger *db, int64_t app_id,
    struct release **out, size_t *nr);
/* The release with this id. */
int ledger_release_get_by_id(struct ledger *db, int64_t id,
    struct release *out);

/* pipeline settings, and config vars of its CI runs and review apps */
int ledger_pipeline_set_review(struct ledger *db, int64_t pipeline_id,
    int enabled, int autodestroy, int stale_days);
int ledger_pipeline_set_ci_gate(struct ledger *db, int64_t pipeline_id,
    const char *gate);
/* scope: "ci" or "review" */
int ledger_pipeline_config_get(struct ledger *db, int64_t pipeline_id,
    const char *scope, struct kvlist *out);
int ledger_pipeline_config_change(struct ledger *db, int64_t pipeline_id,
    const char *scope, const struct kvlist *set, const char *const *unset,
    size_t nunset);

/* CI test runs, numbered per pipeline */
struct test_run {
	int64_t id;
	int64_t pipeline_id;
	int number;
	char *branch;
	char *commit;
	char *status;	/* pending building running succeeded failed errored
			   cancelled */
	char *actor;
	int nodes;
	int passed;	/* TAP counts, when the tests print TAP */
	int failed;
	char *error;
	char *created_at;
	char *finished_at;
};
/* Number and record a new pending run: out is filled only on success. */
int ledger_test_run_create(struct ledger *db, int64_t pipeline_id,
    const char *branch, const char *commit_sha, const char *actor,
    int nodes, struct test_run *out);
int ledger_test_run_update(struct ledger *db, int64_t run_id,
    const char *status, int passed, int failed, const char *error);
int ledger_test_node_set(struct ledger *db, int64_t run_id, int node,
    const char *status, int exit_code, int passed, int failed);
int ledger_test_run_get(struct ledger *db, int64_t pipeline_id, int number,
    struct test_run *out);
/* The newest run (of branch; NULL = any); 1 when there is none. */
int ledger_test_run_latest(struct ledger *db, int64_t pipeline_id,
    const char *branch, struct test_run *out);
/*
 * The newest run of commit that ended (succeeded, failed or errored);
 * 1 when there is none.
 */
int ledger_test_run_of_commit(struct ledger *db, int64_t pipeline_id,
    const char *commit, struct test_run *out);
/* Newest first; branch NULL = all; limit 0 = all. */
int ledger_test_run_list(struct ledger *db, int64_t pipeline_id,
    const char *branch, int limit, struct test_run **out, size_t *nr);
void test_run_clear(struct test_run *t);
void test_run_list_free(struct test_run *t, size_t nr);

/* review apps: one live app of stage review per pushed branch */
struct review_app {
	int64_t id;
	int64_t pipeline_id;
	int64_t app_id;
	char *app;
	char *branch;
	char *status;		/* creating|deployed|failed|destroyed */
	int postdeploy_done;
	char *last_push_at;
	char *created_at;
	char *destroyed_at;
};
/* Create the review app's app (stage review) with its config vars and
 * its review row, in one transaction. */
int ledger_review_create(struct ledger *db, int64_t pipeline_id,
    const char *branch, const char *app_name, const struct kvlist *config,
    const char *actor, struct review_app *out);
int ledger_review_get(struct ledger *db, int64_t pipeline_id,
    const char *branch, struct review_app *out);
/* all: include destroyed ones */
int ledger_review_list(struct ledger *db, int64_t pipeline_id, int all,
    struct review_app **out, size_t *nr);
/* status NULL = unchanged; touch = last push now */
int ledger_review_update(struct ledger *db, int64_t id, const char *status,
    int postdeploy_done, int touch);
/* Mark it and its app destroyed; releases and test runs stay. */
int ledger_review_destroy(struct ledger *db, int64_t id, const char *actor);
/* Live review apps with no push since before (ISO time). */
int ledger_review_stale(struct ledger *db, int64_t pipeline_id,
    const char *before, struct review_app **out, size_t *nr);
void review_app_clear(struct review_app *r);
void review_app_list_free(struct review_app *r, size_t nr);

/*
 * buildpacks: pipeline_id 0 = the server's installed buildpacks (their
 * detection order); otherwise a pipeline's own explicit list.
 * index is 1-based; 0 = append. Adding a name that is there fails.
 */
int ledger_buildpack_list(struct ledger *db, int64_t pipeline_id,
    struct buildpack **out, size_t *nr);
int ledger_buildpack_add(struct ledger *db, int64_t pipeline_id,
    const char *name, const char *source, int index);
int ledger_buildpack_remove(struct ledger *db, int64_t pipeline_id,
    const char *name);
void buildpack_list_free(struct buildpack *b, size_t nr);

/*
 * Who may do what (ledger-access.c): users, their SSH keys, their role
 * on each pipeline (viewer, developer, deployer, admin: access.h says
 * what each may do) and their API tokens. Users, pipelines and keys are
 * named, not numbered, in these calls: the errors name them.
 */
struct user {
	int64_t id;
	char *name;
	int admin;		/* a server admin: may do everything */
	int nkeys;
	char *created_at;
};

struct user_key {
	int64_t id;
	char *user;
	char *fingerprint;	/* "SHA256:..." as ssh-keygen -l prints */
	char *key;		/* "TYPE BASE64" */
	char *label;		/* or NULL */
	char *created_at;
};

struct grant {
	char *user;
	char *pipeline;
	char *role;
	char *granted_by;
	char *created_at;
};

struct token {
	int64_t id;
	char *user;
	char *description;	/* or NULL */
	char *created_at;
	char *expires_at;	/* or NULL: never */
	char *last_used_at;	/* or NULL */
};

int ledger_user_add(struct ledger *db, const char *name, int admin);
int ledger_user_get(struct ledger *db, const char *name, struct user *out);
int ledger_user_list(struct ledger *db, struct user **out, size_t *nr);
/*
 * Remove the user with their keys, roles and tokens. Refused while they
 * are the last server admin and other users remain (none of whom could
 * then manage users over SSH).
 */
int ledger_user_remove(struct ledger *db, const char *name);
void user_clear(struct user *u);
void user_list_free(struct user *u, size_t nr);

/* A key is one user's: adding one that anyone has is refused. */
int ledger_key_add(struct ledger *db, const char *user,
    const char *fingerprint, const char *key, const char *label);
/* user NULL = every user's, ordered by user then age */
int ledger_key_list(struct ledger *db, const char *user,
    struct user_key **out, size_t *nr);
int ledger_key_get(struct ledger *db, const char *fingerprint,
    struct user_key *out);
int ledger_key_remove(struct ledger *db, const char *fingerprint);
void user_key_clear(struct user_key *k);
void user_key_list_free(struct user_key *k, size_t nr);

/*
 * Give user role on pipeline (replacing the one they had), or take it
 * away. Either is refused when it would leave a pipeline whose members
 * had an admin with members and none.
 */
int ledger_grant_set(struct ledger *db, const char *user,
    const char *pipeline, const char *role, const char *granted_by);
int ledger_grant_revoke(struct ledger *db, const char *user,
    const char *pipeline, const char *actor);
/* user's role on pipeline_id into role (e.g. "viewer"); 1 when none */
int ledger_grant_get(struct ledger *db, int64_t user_id, int64_t pipeline_id,
    char role[16]);
/* pipeline/user NULL = all; ordered by pipeline, user */
int ledger_grant_list(struct ledger *db, const char *pipeline,
    const char *user, struct grant **out, size_t *nr);
void grant_list_free(struct grant *g, size_t nr);

/* hash: hex SHA-256 of the token, which the ledger never sees */
int ledger_token_create(struct ledger *db, const char *user,
    const char *hash, const char *description, const char *expires_at,
    int64_t *id);
/* user NULL = everyone's */
int ledger_token_list(struct ledger *db, const char *user,
    struct token **out, size_t *nr);
/* user not NULL: only when the token is theirs */
int ledger_token_revoke(struct ledger *db, int64_t id, const char *user);
/*
 * The token whose hash this is, when it has not expired by now (ISO
 * time), noting its use; 1 when there is none (or it expired).
 */
int ledger_token_find(struct ledger *db, const char *hash, const char *now,
    struct token *out);
void token_clear(struct token *t);
void token_list_free(struct token *t, size_t nr);

/*
 * Server settings (key, value): "slack.signing_secret". 1 when unset.
 * value NULL removes it.
 */
int ledger_setting_get(struct ledger *db, const char *key, char **value);
int ledger_setting_set(struct ledger *db, const char *key,
    const char *value);
/*
 * Slack users linked to berth users (berth slack:link): a one-time code
 * of /berth login is kept hashed until expires_at (ISO) or used.
 */
int ledger_slack_code_add(struct ledger *db, const char *code_hash,
    const char *slack_user, const char *expires_at);
/* Use the code: link its Slack user to user; 1 when none (or expired). */
int ledger_slack_link(struct ledger *db, const char *code_hash,
    const char *now, const char *user, char **slack_user);
/* The berth user of a Slack user into *out; 1 when not linked. */
int ledger_slack_user(struct ledger *db, const char *slack_user,
    struct user *out);
/* Unlink every Slack user of user; how many, or -1. */
int ledger_slack_unlink(struct ledger *db, const char *user);

/*
 * The activity feed, webhooks and their deliveries (ledger-events.c).
 * Events of builds, test runs and releases are written by the schema
 * itself when their status changes; the others by the ledger call that
 * makes the change (config, formation, review apps, access) or, for a
 * push, ledger_event_add(). Kinds: push, build.succeeded|failed,
 * test_run.started|succeeded|failed|errored|cancelled,
 * release.succeeded|failed, review_app.created|destroyed,
 * config.changed, formation.changed, access.changed.
 */
struct event {
	int64_t id;
	char *kind;
	int64_t pipeline_id;
	char *pipeline;
	int64_t app_id;		/* 0: the pipeline's (test runs, access) */
	char *app;		/* or NULL */
	char *actor;
	int version;		/* a release's, else 0 */
	char *commit;		/* or NULL */
	char *message;		/* one line for people */
	char *data;		/* JSON object: what the kind adds */
	char *created_at;
};

struct event_new {
	const char *kind;
	int64_t pipeline_id;	/* 0: the app's */
	int64_t app_id;		/* 0: none */
	const char *actor;
	int version;		/* 0: none */
	const char *commit;	/* or NULL */
	const char *message;
	const char *data;	/* JSON object text, or NULL for {} */
};

int ledger_event_add(struct ledger *db, const struct event_new *ev);
/* Newest first; app_id 0 = the whole pipeline's; limit 0 = all. */
int ledger_event_list(struct ledger *db, int64_t pipeline_id, int64_t app_id,
    int limit, struct event **out, size_t *nr);
int ledger_event_get(struct ledger *db, int64_t id, struct event *out);
/* Every pipeline's events after id after, oldest first, at most limit. */
int ledger_event_since(struct ledger *db, int64_t after, int limit,
    struct event **out, size_t *nr);
/* The newest event's id (0: none). */
int ledger_event_last(struct ledger *db, int64_t *id);
/*
 * The event as berth shows and sends it: {id, kind, pipeline, app,
 * actor, version, commit, message, data, created_at}. New reference.
 */
struct json_t;
struct json_t *event_json(const struct event *e);
void event_clear(struct event *e);
void event_list_free(struct event *e, size_t nr);

struct webhook {
	int64_t id;
	int64_t pipeline_id;
	char *pipeline;
	char *url;
	char *kind;		/* json|slack|github (github.h) */
	char *events;		/* "build,release.failed"; "" = all */
	char *secret;		/* or NULL; never shown */
	char *created_at;
};

int ledger_webhook_add(struct ledger *db, int64_t pipeline_id,
    const char *url, const char *kind, const char *events,
    const char *secret, int64_t *id);
int ledger_webhook_list(struct ledger *db, int64_t pipeline_id,
    struct webhook **out, size_t *nr);
int ledger_webhook_get(struct ledger *db, int64_t id, struct webhook *out);
/*
 * Its pending deliveries fail ("webhook removed"), its secret is
 * forgotten; its history stays.
 */
int ledger_webhook_remove(struct ledger *db, int64_t id);
void webhook_clear(struct webhook *w);
void webhook_list_free(struct webhook *w, size_t nr);

struct delivery {
	int64_t id;
	char *uuid;		/* X-Berth-Delivery: the same on every try */
	int64_t webhook_id;
	int64_t event_id;
	char *event_kind;
	char *status;		/* pending|succeeded|failed */
	int attempts;
	char *next_at;		/* when a pending one is tried next */
	int http_code;		/* the last try's, 0 = none */
	char *error;		/* the last try's, or NULL */
	int latency_ms;		/* the last try's */
	char *created_at;
	char *finished_at;
	char *url;		/* its webhook's */
};

/* What one try of a delivery came to, for ledger_delivery_record(). */
struct delivery_try {
	int64_t id;
	const char *status;	/* pending (to try again at next_at) or an end */
	const char *next_at;	/* or NULL */
	int http_code;
	const char *error;	/* or NULL */
	int latency_ms;
};

/* Newest first, of every webhook of the pipeline; limit 0 = all. */
int ledger_delivery_list(struct ledger *db, int64_t pipeline_id, int limit,
    struct delivery **out, size_t *nr);
int ledger_delivery_get(struct ledger *db, int64_t id, struct delivery *out);
/*
 * Pending ones due by now (ISO time), oldest first, at most limit, and
 * at most per_webhook of each webhook (so that one webhook's backlog
 * never hides the others').
 */
int ledger_delivery_due(struct ledger *db, const char *now, int per_webhook,
    int limit, struct delivery **out, size_t *nr);
/* When the next pending one is due into next; 1 when none is pending. */
int ledger_delivery_next_due(struct ledger *db, char next[32]);
int ledger_delivery_record(struct ledger *db, const struct delivery_try *t);
/* The same for n tries at once, in one transaction. */
int ledger_delivery_record_all(struct ledger *db,
    const struct delivery_try *t, size_t n);
/* Send a finished one again, as it was (same X-Berth-Delivery). */
int ledger_delivery_redeliver(struct ledger *db, int64_t id);
void delivery_clear(struct delivery *d);
void delivery_list_free(struct delivery *d, size_t nr);

#endif
