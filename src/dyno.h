/*
 * dyno.h - what a dyno is, shared by berthd (formation dynos) and
 * `berth run` (one-off dynos): its working directory (an ephemeral
 * writable copy of the slug: writes never reach the slug), its
 * environment (the runtime contract of DESIGN.md) and how it is started
 * (its own session and process group, .profile.d scripts sourced, the
 * Procfile command run by bash, as on Heroku).
 */
#ifndef BERTH_DYNO_H
#define BERTH_DYNO_H

#include <jansson.h>
#include <sys/types.h>
#include <time.h>

#include "cgroup.h"
#include "ledger.h"
#include "procfile.h"
#include "root.h"

struct child;
struct sandbox;

/*
 * A dyno's working directory. With overlayfs (measured: O(1) in the slug
 * size) path is an overlay of the read-only slug and a fresh upper dir,
 * mounted in the dyno's own mount namespace when it starts, so it goes
 * away with the dyno; without overlayfs path is a copy of the slug.
 * Either way writes never reach the slug.
 */
struct dyno_dir {
	char *path;		/* the dyno's cwd and HOME */
	char *base;		/* removed by dyno_dir_remove() */
	char *mount_opts;	/* overlay options; NULL when a copy */
};

struct dyno_spec {
	const char *app;
	const char *type;	/* "web", "run" */
	int index;		/* web.1 */
	int port;		/* 0 = no PORT */
	const char *command;	/* the Procfile command (run by bash -c) */
	const struct release *rel;
	const char *commit;	/* the slug's commit, SOURCE_VERSION */
	const struct dyno_dir *dir;
	/* BERTH_DYNO_ID: marks every process of this dyno, so berthd can
	 * tell what outlived it; NULL = none */
	const char *token;
	/* In a sandbox (sandbox.h), as uid (-1: as berth, not root); 0:
	 * unisolated ([sandbox] enabled = 0) */
	int sandboxed;
	int uid;
	/* its memory and pids limits (NULL = none), and the group that
	 * enforces them, which its process enters before exec (NULL =
	 * none; its monitor creates it from limits) */
	const struct dyno_limits *limits;
	const struct dyno_cgroup *cgroup;
};

/*
 * Prepare a working directory for a dyno of the slug under
 * ROOT/apps/APP/dynos/NAME-xxxx/. -1 with berth_error() when the slug is
 * gone or the disk is full.
 */
int dyno_dir_prepare(const struct berth_root *r, const char *app,
    const char *slug_id, const char *name, struct dyno_dir *out);
/* The same over any read-only tree: lower, under parent/NAME-xxxx. */
int dyno_dir_prepare_from(const struct berth_root *r, const char *lower,
    const char *parent, const char *name, struct dyno_dir *out);
void dyno_dir_remove(struct dyno_dir *dd);
/* The BERTH_DYNO_ID of a process into id[32] ("" when it has none). */
void dyno_proc_token(pid_t pid, char id[32]);
/* SIGKILL every process whose environment has BERTH_DYNO_ID=token. */
int dyno_kill_token(const char *token);
/*
 * In the dyno's process, after fork and before exec: enter a mount
 * namespace of its own and mount the overlay (nothing for a copy).
 * Async-signal-safe. -1 when it fails.
 */
int dyno_dir_enter(const struct dyno_dir *dd);
/* The same as a struct child pre_exec hook (dd is a dyno_dir). */
int dyno_dir_enter_hook(const void *dd);
/* Whether this process can mount overlays (probed once). */
int dyno_overlay_supported(const struct berth_root *r);

/*
 * The dyno's environment: a small base (PATH, LANG, HOME=dir, TERM for
 * one-off dynos), the release's config snapshot, then PORT, DYNO,
 * SOURCE_VERSION, BERTH_APP, BERTH_RELEASE (the platform's names win
 * over config vars of the same name).
 */
void dyno_env(const struct dyno_spec *d, struct strvec *env);
/* argv that sources the .profile.d scripts and then runs the command. */
void dyno_argv(const struct dyno_spec *d, struct strvec *argv);
/*
 * The child that runs d (not started): its environment, argv, and its
 * directory entered (sandboxed: the sandbox, set up in sb, which must
 * stay until it started; sandbox_clear() it after). -1 with
 * berth_error() when the sandbox cannot be had.
 */
int dyno_child(const struct dyno_spec *d, struct child *c,
    struct sandbox *sb);
/*
 * Start the dyno (through start_command) in a new session, so it leads
 * its own process group, or with !new_session in ours (a foreground
 * job); stdin from /dev/null (in_fd < 0) or in_fd, stdout and stderr to
 * out_fd (or inherited when out_fd < 0). Returns its pid once bash has
 * exec'd, or -1 with berth_error() when it could not be started (its
 * directory could not be entered...); that child is already reaped.
 */
pid_t dyno_spawn(const struct dyno_spec *d, int in_fd, int out_fd,
    int new_session);

/*
 * A dyno's record: what the process that watches a dyno (its monitor,
 * or the process running a one-off dyno) knows of it, written under
 * ROOT/run/ as JSON (mode 0600, whole, by rename), so that a berthd
 * that starts after a crash can tell what still runs and what each
 * process is: a pid counts only with its start time.
 */
struct dyno_record {
	char *app;
	char *type;		/* "web"; a one-off: its name ("release") */
	int index;
	int port;		/* 0 = none */
	char *command;
	char *commit;
	/* id, app_id, version, slug_id; config only where with_config */
	struct release rel;
	struct dyno_dir dir;
	char token[20];		/* its BERTH_DYNO_ID */
	pid_t watcher;		/* the monitor, or the one-off's runner */
	unsigned long long watcher_start;
	pid_t pid;		/* its first process, leader of its group */
	unsigned long long pid_start;	/* (0, 0: not started yet) */
	time_t started_at;
	int sandboxed, uid;	/* dyno_spec's */
	int stopping;		/* asked to stop */
	int exit_code;		/* -1 while it runs */
	struct dyno_limits limits;	/* { 0, 0 }: none */
	int oom_killed;		/* the kernel killed it for memory (R15) */
};

/* The record as JSON; the config snapshot only with with_config. */
json_t *dyno_record_json(const struct dyno_record *rec, int with_config);
/* Fill rec (owned strings) from JSON; -1 when it is not a record. */
int dyno_record_from_json(json_t *o, struct dyno_record *rec);
/* Write rec (without its config) to path; -1 with berth_error(). */
int dyno_record_write(const char *path, const struct dyno_record *rec);
int dyno_record_load(const char *path, struct dyno_record *rec);
void dyno_record_clear(struct dyno_record *rec);
/*
 * A record of spec that borrows its strings (never clear it), started
 * now, not watched yet; and a spec borrowing a record's.
 */
void dyno_record_of_spec(const struct dyno_spec *spec,
    struct dyno_record *rec);
void dyno_spec_of_record(const struct dyno_record *rec,
    struct dyno_spec *spec);
/* Whether the record's watcher still is the process it names. */
int dyno_record_watched(const struct dyno_record *rec);
/* SIGKILL what is left of the record's dyno: its group, its token. */
void dyno_record_kill(const struct dyno_record *rec);
/*
 * Call fn for every record DIR/ *.json (an unreadable one is logged and
 * removed); returns the sum of what fn returned.
 */
int dyno_records_each(const char *dir, int (*fn)(const char *path,
    struct dyno_record *rec, void *data), void *data);

/*
 * One-off dynos (the release phase, app scripts) run by this process:
 * begin records it in ROOT/run/oneoff/TOKEN.json, end removes that.
 * dyno_oneoff_reap() (berthd, at start) kills what is left of one-off
 * dynos whose process is gone (by BERTH_DYNO_ID) and removes their
 * directories; it returns how many.
 */
int dyno_oneoff_begin(const struct berth_root *r,
    const struct dyno_spec *spec);
void dyno_oneoff_end(const struct berth_root *r, const char *token);
int dyno_oneoff_reap(const struct berth_root *r);

#endif
