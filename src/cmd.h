/*
 * cmd.h - the berth CLI's commands. Each cmd-TOPIC.c file defines the
 * struct berth_cmd entries of one topic; berth.c lists them in one
 * table and nothing else knows a command exists. Options follow the
 * Heroku CLI: -a/--app, -p/--pipeline, --json, -n/--num, anywhere on
 * the line. Option letters in berth_cmd.opts: a app, p pipeline, s stage,
 * b branch, n num, i index, j json, t tail, D --deploy-branch,
 * C --confirm, N --no-apps, d --domain, P --ps, S --source, F --force,
 * f --from, T --to, R --rebuild, A --autodestroy, Y --stale-days,
 * O --node.
 */
#ifndef BERTH_CMD_H
#define BERTH_CMD_H

#include "deploy.h"
#include "output.h"
#include "root.h"

#include <jansson.h>

/* Parsed command line, handed to a command's exec. */
struct cmd_ctx {
	const struct berth_cmd *cmd;
	const char *root_dir;
	struct berth_root root;	/* open unless the command has CMD_NO_ROOT */
	int argc;		/* positional arguments */
	char **argv;
	const char *app;	/* -a, --app */
	const char *pipeline;	/* -p, --pipeline */
	const char *stage;	/* -s, --stage */
	const char *branch;	/* -b, --branch */
	const char *deploy_branch;	/* --deploy-branch */
	const char *confirm;	/* --confirm */
	const char *domain;	/* --domain */
	int num;		/* -n, --num; 0 = unset */
	int index;		/* -i, --index; 0 = unset */
	int json;		/* --json */
	int no_apps;		/* --no-apps */
	int tail;		/* -t, --tail */
	const char *ps;		/* --ps DYNO */
	const char *source;	/* --source app|berth */
	int force;		/* --force */
	const char *from;	/* --from APP|STAGE */
	const char *to;		/* --to APP[,APP] */
	int rebuild;		/* --rebuild */
	int autodestroy;	/* --autodestroy */
	int stale_days;		/* --stale-days N; -1 = unset */
	int node;		/* --node I; -1 = unset */
};

#define CMD_NO_ROOT 0x1		/* do not open the server root first */

struct berth_cmd {
	const char *name;	/* "releases:info" */
	const char *alias;	/* another name, or NULL */
	const char *opts;	/* short options it takes: "a:n:j" style */
	int min_args;
	int max_args;		/* -1 = any */
	const char *usage;	/* "releases:info vN -a APP" */
	const char *summary;	/* one line */
	const char *help;	/* more lines for --help, or NULL */
	int (*exec)(struct cmd_ctx *);
	int flags;
};

/* Print an error as "berth: msg"; returns 1 (the exit status). */
int cmd_fail(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);
/* berth_last_error() as a failure. */
int cmd_fail_last(void);
/* Load the -a app (live); prints the error and returns 1 on failure. */
int cmd_need_app(struct cmd_ctx *ctx, struct app *out);
int cmd_need_pipeline(struct cmd_ctx *ctx, struct pipeline *out);
/*
 * Release arg ("v12" or "12") of app into out; prints why not ("shop has
 * no release v99 (latest is v19); see: berth releases -a shop") and
 * returns 1 when there is none.
 */
int cmd_need_release(struct cmd_ctx *ctx, const struct app *a,
    const char *arg, struct release *out);
/*
 * Make the release o orders (release_deploy()), showing its progress
 * (o->progress, when NULL berth's own). *version (may be NULL) gets its
 * version, 0 when none was made. Returns 0 when it is live, needed no
 * release, or is recorded because berthd is not running (said on
 * stderr); 1 after printing why when it failed; -1, printing nothing,
 * when it could not be recorded (berth_last_error() says why).
 */
int cmd_release(struct cmd_ctx *ctx, const struct release_order *o,
    int *version);
/*
 * Take the deploy lock of the app's pipeline (as pushes do), saying so
 * when it has to wait. Returns the lock fd, or -1 after printing why.
 */
int cmd_lock_app(struct cmd_ctx *ctx, const struct app *a, const char *what);
/* Config var helpers (cmd-vars.c), shared by every config command. */
/* Parse and check every KEY=VALUE argument into set; 1 after printing. */
int cmd_vars_parse(struct cmd_ctx *ctx, const char *cmd, struct kvlist *set);
/* "A, B"; caller frees. */
char *cmd_key_names(const char *const *keys, size_t nr);
/* The distinct argv keys that kv has (keys) and has not (absent); both
 * arrays have room for ctx->argc. */
void cmd_vars_split(struct cmd_ctx *ctx, const struct kvlist *kv,
    const char **keys, size_t *nkeys, const char **absent, size_t *nabsent);
/* "=== title" and aligned "KEY: value" lines, or empty, or --json. */
void cmd_vars_print(struct cmd_ctx *ctx, const struct kvlist *kv,
    const char *title, const char *empty);
/* A pipeline's own config vars of one scope (ci, review). */
struct var_scope {
	const char *scope;	/* "ci" */
	const char *label;	/* "CI" in "pipeline P's CI" */
	const char *title;	/* "CI" in "=== P CI Config Vars" */
	const char *cmd;	/* "ci:config" */
	const char *note;	/* printed after a change, or NULL */
};
int cmd_pipeline_vars_show(struct cmd_ctx *ctx, const struct var_scope *vs);
int cmd_pipeline_vars_set(struct cmd_ctx *ctx, const struct var_scope *vs);
int cmd_pipeline_vars_unset(struct cmd_ctx *ctx, const struct var_scope *vs);
/* Print JSON to stdout, steals the reference. Returns 0. */
int cmd_print_json(json_t *j);
/* json_string that maps NULL to JSON null. */
json_t *json_str_or_null(const char *s);

extern const struct berth_cmd cmd_init_entry;
extern const struct berth_cmd cmd_pipelines_entry;
extern const struct berth_cmd cmd_pipelines_create_entry;
extern const struct berth_cmd cmd_pipelines_info_entry;
extern const struct berth_cmd cmd_apps_entry;
extern const struct berth_cmd cmd_apps_create_entry;
extern const struct berth_cmd cmd_apps_info_entry;
extern const struct berth_cmd cmd_apps_destroy_entry;
extern const struct berth_cmd cmd_releases_entry;
extern const struct berth_cmd cmd_releases_info_entry;
extern const struct berth_cmd cmd_builds_entry;
extern const struct berth_cmd cmd_builds_output_entry;
extern const struct berth_cmd cmd_config_entry;
extern const struct berth_cmd cmd_config_get_entry;
extern const struct berth_cmd cmd_config_set_entry;
extern const struct berth_cmd cmd_config_unset_entry;
extern const struct berth_cmd cmd_buildpacks_entry;
extern const struct berth_cmd cmd_buildpacks_add_entry;
extern const struct berth_cmd cmd_buildpacks_remove_entry;
extern const struct berth_cmd cmd_logs_entry;
extern const struct berth_cmd cmd_ps_entry;
extern const struct berth_cmd cmd_ps_scale_entry;
extern const struct berth_cmd cmd_ps_restart_entry;
extern const struct berth_cmd cmd_ps_stop_entry;
extern const struct berth_cmd cmd_ps_start_entry;
extern const struct berth_cmd cmd_run_entry;
extern const struct berth_cmd cmd_open_entry;
extern const struct berth_cmd cmd_daemon_status_entry;
extern const struct berth_cmd cmd_daemon_stop_entry;
extern const struct berth_cmd cmd_pipelines_promote_entry;
extern const struct berth_cmd cmd_pipelines_diff_entry;
extern const struct berth_cmd cmd_rollback_entry;
extern const struct berth_cmd cmd_releases_rollback_entry;
extern const struct berth_cmd cmd_releases_retry_entry;
extern const struct berth_cmd cmd_releases_output_entry;
extern const struct berth_cmd cmd_ci_entry;
extern const struct berth_cmd cmd_ci_info_entry;
extern const struct berth_cmd cmd_ci_last_entry;
extern const struct berth_cmd cmd_ci_rerun_entry;
extern const struct berth_cmd cmd_ci_config_entry;
extern const struct berth_cmd cmd_ci_config_set_entry;
extern const struct berth_cmd cmd_ci_config_unset_entry;
extern const struct berth_cmd cmd_ci_gate_entry;
extern const struct berth_cmd cmd_reviewapps_entry;
extern const struct berth_cmd cmd_reviewapps_enable_entry;
extern const struct berth_cmd cmd_reviewapps_disable_entry;
extern const struct berth_cmd cmd_reviewapps_config_entry;
extern const struct berth_cmd cmd_reviewapps_config_set_entry;
extern const struct berth_cmd cmd_reviewapps_config_unset_entry;
extern const struct berth_cmd cmd_reviewapps_create_entry;
extern const struct berth_cmd cmd_reviewapps_destroy_entry;

#endif
