/*
 * access.h - who may do what. People reach berth as berth users: over
 * SSH through `berth shell USER`, the forced command of each of USER's
 * keys in the authorized_keys file berth keeps, and (later) over HTTP
 * with a token. Anyone who runs berth on the server with access to the
 * root is a local user, and may do everything; so may a server admin
 * (users:add --admin). Everyone else has a role per pipeline:
 *
 *   viewer     fetch; read releases, builds, ps, logs, CI, config var
 *              names, pipelines:info and :diff
 *   developer  also push branches other than the deploy branches (review
 *              apps, CI), ci:rerun, run and review apps' own commands
 *   deployer   also push the deploy branch of a non-production app,
 *              promote into non-production stages, and change config,
 *              roll back, ps:* and run on non-production apps
 *   admin      also all of that on production, review app and CI
 *              settings, access changes, and destroying apps
 *
 * Each CLI command says in its table entry (struct access_rule) what it
 * needs; cmd_need_app() and cmd_need_pipeline() check it where the
 * command resolves its app or pipeline, and the pre-receive hook checks
 * each pushed ref (access_push_role()). Every refusal names the role
 * needed and is logged to ROOT/logs/access.log.
 */
#ifndef BERTH_ACCESS_H
#define BERTH_ACCESS_H

#include "ledger.h"
#include "root.h"
#include "util.h"

enum role { ROLE_NONE, ROLE_VIEWER, ROLE_DEVELOPER, ROLE_DEPLOYER,
    ROLE_ADMIN };

/* What a berth user needs to run a command; local users need nothing. */
enum access_scope {
	ACCESS_SERVER,		/* a server admin (the default: an entry
				   that says nothing is admins' only) */
	ACCESS_APP,		/* a role on the app's pipeline, by stage */
	ACCESS_PIPELINE,	/* a role on the pipeline */
	ACCESS_SELF,		/* any user: the command limits them to
				   what is theirs (keys, tokens) or what
				   they may see (apps, pipelines) */
	ACCESS_LOCAL,		/* only on the server itself (init) */
};

struct access_rule {
	enum access_scope scope;
	enum role role;		/* on the pipeline, or a non-production app */
	enum role review;	/* on a review app; ROLE_NONE: role */
	enum role production;	/* on a production app; ROLE_NONE: role */
};

/* "viewer"; "no role" for ROLE_NONE. */
const char *role_name(enum role r);
/* "deployer" into *out; -1 with berth_error() listing the roles. */
int role_parse(const char *s, enum role *out);
/* The role rule asks for on an app of stage (NULL: the pipeline's). */
enum role access_needed(const struct access_rule *rule, const char *stage);

/* What berth exits with when it refused a berth user (EX_NOPERM). */
#define CMD_EXIT_REFUSED 77

/* The environment variable `berth shell` names its user in. */
#define ACCESS_USER_ENV "BERTH_AS_USER"
/*
 * Who is asking: 1 and *out a berth user when ACCESS_USER_ENV names one
 * (berth shell set it, for this process and the hooks under it); 0 for
 * a local user; -1 with berth_error() when it names no user (removed
 * since they logged in).
 */
int access_user_from_env(struct ledger *db, struct user *out);
/* u's role on the pipeline (ROLE_ADMIN for a server admin) into *out. */
int access_role(struct ledger *db, const struct user *u,
    int64_t pipeline_id, enum role *out);
/* "ana is a developer on shop", "ana has no role on shop"; caller frees. */
char *access_standing(const struct user *u, enum role have,
    const char *pipeline);
/*
 * Refuse u doing what (e.g. "config:set on shop-staging") on pipeline
 * (NULL: a server admin's command), which needs need: berth_error()
 * with the line a user sees ("ana is a viewer on shop: config:set on
 * shop-staging needs deployer; ask an admin: berth access:grant ana -p
 * shop --role deployer"), the same in ROOT/logs/access.log. Returns -1.
 */
int access_refuse(const struct berth_root *r, const struct user *u,
    enum role have, const char *pipeline, const char *what,
    enum role need);
/*
 * Append one line to ROOT/logs/access.log ("TIME USER: line"); user
 * NULL: actor_name().
 */
void access_log(const struct berth_root *r, const char *user,
    const char *fmt, ...) BERTH_ATTR_PRINTF(3, 4);

/*
 * What pushing (or deleting) ref (refs/heads/B, refs/tags/T) to
 * pipeline p needs, apps[napps] being the apps that auto-deploy B: the
 * deploy branch of a production app needs admin, of another app (or
 * the pipeline's deploy branch) deployer, anything else developer.
 * *what gets the words for a refusal ("pushing main (shop-staging)");
 * the caller frees it.
 */
enum role access_push_role(const struct pipeline *p, const char *ref,
    int deleting, const struct app *apps, size_t napps, char **what);

/*
 * The user an API token acts as (tokens:create printed it) into *out:
 * 0; 1 when it names no live token (unknown, expired, revoked or
 * malformed), with berth_error() saying so; -1.
 */
int access_token_user(struct ledger *db, const char *token,
    struct user *out);

/*
 * The authorized_keys lines of every berth user's keys:
 * command="BERTH --root ROOT shell USER",restrict,pty TYPE KEY USER
 * where BERTH is this berth binary's absolute path. -1 when a path
 * holds characters sshd's shell would read (spaces, quotes, $).
 */
int access_keys_text(const struct berth_root *r, struct strbuf *out);
/*
 * Write them into berth.ini [ssh] authorized_keys (nothing when it is
 * empty), between berth's marker lines, keeping every other line:
 * written whole to a new file and renamed over, mode 0600, under a lock
 * so that concurrent changes each leave the ledger's keys. 0 or -1.
 */
int access_keys_install(const struct berth_root *r);
/* The path berth.ini names, ~ expanded; NULL when none. Caller frees. */
char *access_keys_path(const struct berth_root *r);

#endif
