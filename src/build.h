/*
 * build.h - one build: check a commit out, apply .slugignore, run the
 * buildpacks, seal a slug, and record the build (with its log) in the
 * ledger. Output streams to stdout (the pusher) as it happens and is
 * kept in logs/build-ID.log. Config var values are redacted from both.
 */
#ifndef BERTH_BUILD_H
#define BERTH_BUILD_H

#include <stdio.h>

#include "procfile.h"
#include "repo.h"
#include "root.h"

struct build_opts {
	struct berth_root *root;
	git_repository *repo;
	const struct app *app;
	const char *commit;	/* full sha */
	const char *ref;	/* refs/heads/main */
	const char *actor;
};

struct build_result {
	int64_t build_id;
	char *slug_id;
	int64_t size;
	struct proctypes types;
};

/*
 * Build opts->commit for opts->app. Returns 0 with res filled, or -1
 * after printing " !     why" and recording the build as failed; a
 * failed build leaves no slug behind.
 */
int build_run(const struct build_opts *o, struct build_result *res);
void build_result_clear(struct build_result *res);
/*
 * What killed builds and test runs left: their rows, still building or
 * running, become failed and errored, and every tmp/build-N and
 * tmp/ci-N not in progress is removed (they hold config var values).
 * Run by each push and each berthd start. -1 with berth_error() when
 * the ledger cannot be written.
 */
int build_sweep(const struct berth_root *r);
/*
 * A build for CI: check the commit out into DIR/app and run each
 * buildpack's bin/test-compile (or bin/compile) with config (the test
 * environment: app.json environments.test.env and the pipeline's CI
 * config vars, never an app's) as ENV_DIR. Nothing is sealed or
 * recorded; output goes to stdout and log. The directories of the
 * buildpacks that have bin/test are added to test_bps.
 */
struct build_test_opts {
	struct berth_root *root;
	git_repository *repo;
	int64_t pipeline_id;
	const char *commit;
	const struct kvlist *config;
	const char *dir;
	FILE *log;
};
int build_for_test(const struct build_test_opts *o, struct strvec *test_bps);
/* logs/build-ID.log of the root; caller frees. */
char *build_log_path(const struct berth_root *r, int64_t build_id);

#endif
