/*
 * appjson.h - app.json, read with jansson from the pushed commit. This
 * module reads the subset Heroku documents and Dokku reuses: name, env,
 * formation, buildpacks, scripts, healthchecks, environments.test and
 * environments.review. Errors name the JSON path ("buildpacks[1].url: expected
 * a string") or the line and column of a syntax error.
 */
#ifndef BERTH_APPJSON_H
#define BERTH_APPJSON_H

#include <stddef.h>

#include "ledger.h"
#include "util.h"

#define APPJSON_MAX_SIZE (1 << 20)

/*
 * A health check, from app.json healthchecks (Dokku's form) or a Dokku
 * CHECKS file (checks.h): before a rollout switches the router, GET
 * path on each new dyno of type must answer `status` (or any 2xx/3xx
 * when 0) with a body that contains `content` (when not NULL), within
 * `timeout` seconds a try, in `attempts` tries: the first initial_delay
 * seconds after the dyno accepts connections, then `wait` apart.
 */
struct healthcheck {
	char *type;
	char *name;		/* Dokku's "name", or NULL */
	char *path;
	char *host;		/* CHECKS //HOST/path: the Host header, or NULL */
	int https;		/* CHECKS https://: sent with X-Forwarded-Proto */
	char *content;
	int status;
	int timeout;
	int attempts;
	int initial_delay;
	int wait;
	char *where;		/* "app.json healthchecks.web", "CHECKS line 3" */
};

/* One app.json env var: "KEY": "value" or {description, value,
 * required, generator}. */
struct appjson_env {
	char *key;
	char *value;		/* NULL when none given */
	char *description;
	int required;		/* default: true when neither a value nor a
				   generator is given, as on Heroku */
	int secret;		/* generator: "secret" */
};

struct appjson_scripts {
	char *postdeploy;
	char *pr_predestroy;
	char *dokku_predeploy;	/* scripts.dokku.predeploy (top level only) */
	char *dokku_postdeploy;	/* scripts.dokku.postdeploy */
	char *test_setup;	/* environments.test only */
	char *test;		/* environments.test only */
};

/* environments.test or environments.review */
struct appjson_environment {
	int present;
	struct appjson_env *env;
	size_t nenv;
	struct formation_item *formation;	/* {type: {quantity}} */
	size_t nformation;
	struct appjson_scripts scripts;
};

struct appjson {
	char *name;
	struct strvec buildpacks;	/* urls, in order */
	struct healthcheck *checks;
	size_t nchecks;
	struct appjson_env *env;
	size_t nenv;
	struct formation_item *formation;
	size_t nformation;
	struct appjson_scripts scripts;	/* postdeploy, pr-predestroy */
	struct appjson_environment test;
	struct appjson_environment review;
	/* "berth": {"procfile_only": true}: build without buildpacks */
	int procfile_only;
};

typedef void (*appjson_note_fn)(const char *msg, void *data);

/* Parse text; unknown top-level keys produce a note each. */
int appjson_parse(const char *text, size_t len, struct appjson *out,
    appjson_note_fn note, void *data);
/* Load dir/app.json when present (returns 1 when absent). */
int appjson_load(const char *dir, struct appjson *out,
    appjson_note_fn note, void *data);
void appjson_clear(struct appjson *aj);
/*
 * The env of an environment ("review", "test") over the top-level env:
 * the environment's entries replace the top-level ones of the same key.
 * Caller frees with appjson_env_list_free().
 */
int appjson_env_merged(const struct appjson *aj, const char *environment,
    struct appjson_env **out, size_t *nr);
void appjson_env_list_free(struct appjson_env *env, size_t nr);
/* The first check for a process type, or NULL. */
const struct healthcheck *appjson_check(const struct appjson *aj,
    const char *type);
/* Append hc to aj's checks (aj owns its strings from then on). */
void appjson_add_check(struct appjson *aj, const struct healthcheck *hc);
void healthcheck_clear(struct healthcheck *hc);

#endif
