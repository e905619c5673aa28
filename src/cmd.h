/*
 * cmd.h - the berth CLI's commands. Each cmd-TOPIC.c file defines the
 * struct berth_cmd entries of one topic, each with the options it
 * takes; berth.c lists them in one table and nothing else knows a
 * command exists. Options follow the Heroku CLI: -a/--app,
 * -p/--pipeline, --json, -n/--num, anywhere on the line. cmd-parse.c
 * reads a command line against its command's options, and a command
 * reads their values by name: cmd_opt(ctx, "confirm").
 */
#ifndef BERTH_CMD_H
#define BERTH_CMD_H

#include "access.h"
#include "deploy.h"
#include "output.h"
#include "root.h"

#include <stdio.h>

#include <jansson.h>

/* What an option takes. */
enum cmd_opt_kind {
	CMD_FLAG,		/* nothing: --json */
	CMD_STRING,		/* a value: --confirm APP */
	CMD_NUMBER,		/* a whole number from min to max: -n 20 */
};

/* One option a command takes; a command's list ends with { 0 }. */
struct cmd_option {
	const char *name;	/* "confirm" for --confirm */
	char short_name;	/* 'a' for -a, or 0 */
	const char *alias;	/* another long name ("ps" for --dyno), or
				   NULL; it reads as the same option */
	enum cmd_opt_kind kind;
	const char *arg;	/* "APP" in --help, for a value */
	int min, max;		/* a CMD_NUMBER's range */
	const char *help;	/* one line for --help */
};

/*
 * The Heroku CLI's options that many commands share, worded once. An
 * entry lists them by name: .options = (const struct cmd_option[]){
 * CMD_OPT_APP, CMD_OPT_NUM("how many builds"), { 0 } }.
 */
#define CMD_OPT_APP { .name = "app", .short_name = 'a', \
	.kind = CMD_STRING, .arg = "APP", .help = "the app to work on" }
#define CMD_OPT_PIPELINE { .name = "pipeline", .short_name = 'p', \
	.kind = CMD_STRING, .arg = "PIPELINE", \
	.help = "the pipeline to work on" }
#define CMD_OPT_JSON { .name = "json", .short_name = 'j', \
	.kind = CMD_FLAG, .help = "print JSON instead of a table" }
/* -n and -b count and mean different things, so each entry says what. */
#define CMD_OPT_NUM(what) { .name = "num", .short_name = 'n', \
	.kind = CMD_NUMBER, .arg = "NUM", .min = 1, .max = 1000000, \
	.help = (what) }
#define CMD_OPT_BRANCH(what) { .name = "branch", .short_name = 'b', \
	.kind = CMD_STRING, .arg = "BRANCH", .help = (what) }

/* Whole option lists that many commands take (cmd-parse.c). */
extern const struct cmd_option cmd_opts_app[];	/* -a */
extern const struct cmd_option cmd_opts_app_json[];	/* -a, --json */
extern const struct cmd_option cmd_opts_pipeline[];	/* -p */
extern const struct cmd_option cmd_opts_pipeline_json[];	/* -p, --json */
extern const struct cmd_option cmd_opts_json[];	/* --json */

/* The value of one option on a parsed command line. */
struct cmd_value {
	const char *str;	/* as given, "" for a flag; NULL: not given */
	int num;		/* a CMD_NUMBER's value */
};

/* Parsed command line, handed to a command's exec. */
struct cmd_ctx {
	const struct berth_cmd *cmd;
	const char *root_dir;	/* --root */
	struct berth_root root;	/* open unless the command has CMD_NO_ROOT */
	int argc;		/* positional arguments */
	char **argv;
	/*
	 * The options nearly every command takes, as fields; set only
	 * when the command lists them. Its other options: cmd_opt().
	 */
	const char *app;	/* -a, --app */
	const char *pipeline;	/* -p, --pipeline */
	int json;		/* --json */
	struct cmd_value *values;	/* one per cmd->options entry */
	/*
	 * Who is asking: remote, a berth user (berth shell), whose roles
	 * cmd->access checks; else a local user, who may do everything.
	 */
	int remote;
	struct user user;
	int checked;		/* a remote user's access was checked */
	int refused;		/* ...and refused: exit CMD_EXIT_REFUSED */
};

#define CMD_NO_ROOT 0x1		/* do not open the server root first */
#define CMD_NO_GIT 0x2		/* uses no libgit2: skip its start-up (it
				   reads every CA certificate, ~4 ms) */
#define CMD_OPTS_FIRST 0x4	/* options end at the first argument: the
				   rest is a command line of its own (run) */

struct berth_cmd {
	const char *name;	/* "releases:info" */
	const char *alias;	/* another name ("info" for apps:info), or
				   NULL: the same entry, options and access */
	const char *usage;	/* "releases:info vN -a APP" */
	const char *summary;	/* one line */
	const char *help;	/* more lines for --help, or NULL */
	const struct cmd_option *options;	/* ends with { 0 }; or NULL */
	int min_args;
	int max_args;		/* -1 = any */
	int (*exec)(struct cmd_ctx *);
	int flags;
	/* What a berth user needs to run it (access.h). */
	struct access_rule access;
};

/*
 * Parse the command line of command c (argv[0] is its name) into ctx.
 * Options come anywhere before "--" (with CMD_OPTS_FIRST, before the
 * first argument), as -a APP, -aAPP, -a=APP, --app APP or --app=APP,
 * flags also clustered (-jt); numbers are checked against their range.
 * c takes its own options and the global --root and -h/--help. Returns
 * 0; 1 when --help came before any error (c's help is wanted, the rest
 * is not checked); -1 after berth_error() naming the option ("releases
 * does not take -x", "--app needs a value", "--json does not take a
 * value") or the argument count. In every case release ctx with
 * cmd_ctx_clear().
 */
int cmd_parse(struct cmd_ctx *ctx, const struct berth_cmd *c, int argc,
    char **argv);
void cmd_ctx_clear(struct cmd_ctx *ctx);
/*
 * An option's value by its long name: the string (NULL when not given),
 * whether a flag was given, a number (def when not given). The name
 * and kind must be in the command's options: asking for another is a
 * bug in berth, and aborts.
 */
const char *cmd_opt(const struct cmd_ctx *ctx, const char *name);
int cmd_flag(const struct cmd_ctx *ctx, const char *name);
int cmd_num(const struct cmd_ctx *ctx, const char *name, int def);
/* "Options:" and a line per option, for --help; nothing when none. */
void cmd_print_options(FILE *f, const struct cmd_option *opts);

/* Print an error as "berth: msg"; returns 1 (the exit status). */
int cmd_fail(const char *fmt, ...) BERTH_ATTR_PRINTF(1, 2);
/* berth_last_error() as a failure. */
int cmd_fail_last(void);
/*
 * Load the -a app (live) and check the asking user may run the command
 * on it (cmd->access); prints the error and returns 1 on failure.
 */
int cmd_need_app(struct cmd_ctx *ctx, struct app *out);
/* The same for the -p pipeline. */
int cmd_need_pipeline(struct cmd_ctx *ctx, struct pipeline *out);
/*
 * Whether the asking user may run the command on app a, or on pipeline
 * p (a remote user's role against cmd->access): 0; 1 after printing
 * the refusal (and logging it).
 */
int cmd_check_app(struct cmd_ctx *ctx, const struct app *a);
int cmd_check_pipeline(struct cmd_ctx *ctx, const struct pipeline *p);
/* The same for what only a server admin may do (what: its words). */
int cmd_check_server(struct cmd_ctx *ctx, const char *what);
/* The same for what is user's: user themselves, or a server admin. */
int cmd_check_self(struct cmd_ctx *ctx, const char *user, const char *what);
/* Whether the asking user has need on the pipeline; no refusal. */
int cmd_may(struct cmd_ctx *ctx, int64_t pipeline_id, enum role need);
/*
 * Release arg ("v12" or "12") of app into out; prints why not ("shop has
 * no release v99 (latest is v19); see: berth releases -a shop") and
 * returns 1 when there is none.
 */
int cmd_need_release(struct cmd_ctx *ctx, const struct app *a,
    const char *arg, struct release *out);
/*
 * App a's current release (the newest that succeeded) into out, for a
 * command that needs one to act on: 0, or 1 after printing the ledger's
 * error or "shop has no release to WHAT; push to deploy it first".
 * Clear out either way.
 */
int cmd_need_current(struct cmd_ctx *ctx, const struct app *a,
    const char *what, struct release *out);
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
/*
 * Before showing what the ledger says of a: when no deploy holds its
 * pipeline's lock, settle what a killed one left (runtime_settle_stale),
 * so that a pending release whose process is gone (a killed config
 * change or rollback while berthd is down) shows as it ended.
 */
void cmd_settle_idle(struct cmd_ctx *ctx, const struct app *a);
/* Config var helpers (cmd-vars.c), shared by every config command. */
/*
 * Parse and check every KEY=VALUE argument into set; 1 after printing.
 * dyno: the vars reach dynos, so a name berth sets there itself (PORT)
 * is refused rather than silently overridden.
 */
int cmd_vars_parse(struct cmd_ctx *ctx, const char *cmd, int dyno,
    struct kvlist *set);
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
/*
 * The secret or token in the file of option (--token-file PATH): one
 * line of at most 4 KB without control bytes, into *out; a
 * warning on stderr when others may read the file. -1 with
 * berth_error() "--token-file PATH must hold one token: WHAT" (what:
 * what it should be, e.g. "a fine-grained token with ...").
 */
int cmd_read_secret(const char *option, const char *path, const char *noun,
    const char *what, char **out);
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
extern const struct berth_cmd cmd_ps_resize_entry;
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
extern const struct berth_cmd cmd_deploy_entry;
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
extern const struct berth_cmd cmd_users_entry;
extern const struct berth_cmd cmd_users_add_entry;
extern const struct berth_cmd cmd_users_remove_entry;
extern const struct berth_cmd cmd_access_entry;
extern const struct berth_cmd cmd_access_grant_entry;
extern const struct berth_cmd cmd_access_revoke_entry;
extern const struct berth_cmd cmd_shell_entry;
extern const struct berth_cmd cmd_activity_entry;
extern const struct berth_cmd cmd_activity_info_entry;
extern const struct berth_cmd cmd_webhooks_entry;
extern const struct berth_cmd cmd_webhooks_add_entry;
extern const struct berth_cmd cmd_webhooks_remove_entry;
extern const struct berth_cmd cmd_webhooks_deliveries_entry;
extern const struct berth_cmd cmd_webhooks_redeliver_entry;
extern const struct berth_cmd cmd_github_connect_entry;
extern const struct berth_cmd cmd_github_info_entry;
extern const struct berth_cmd cmd_github_disconnect_entry;
extern const struct berth_cmd cmd_slack_connect_entry;
extern const struct berth_cmd cmd_slack_info_entry;
extern const struct berth_cmd cmd_slack_disconnect_entry;
extern const struct berth_cmd cmd_slack_link_entry;
extern const struct berth_cmd cmd_slack_unlink_entry;
extern const struct berth_cmd cmd_keys_entry;
extern const struct berth_cmd cmd_keys_add_entry;
extern const struct berth_cmd cmd_keys_remove_entry;
extern const struct berth_cmd cmd_keys_authorized_entry;
extern const struct berth_cmd cmd_tokens_entry;
extern const struct berth_cmd cmd_tokens_create_entry;
extern const struct berth_cmd cmd_tokens_revoke_entry;

#endif
