/*
 * ci.h - CI test runs, as Heroku CI does them: for a pushed commit whose
 * app.json has environments.test, build it for testing (bin/test-compile
 * or bin/compile with the test environment), then on each of N nodes (a
 * throwaway overlay of that build) run scripts.test-setup (failure:
 * errored) and scripts.test, or each buildpack's bin/test (non-zero:
 * failed). Tests see CI=true, BERTH_TEST_RUN_ID, _BRANCH, _COMMIT,
 * _AUTHOR, _DATE, _MESSAGE, CI_NODE_TOTAL, CI_NODE_INDEX, the
 * environments.test env and the pipeline's CI config vars, never an
 * app's config. TAP output is counted. Runs are numbered per pipeline.
 */
#ifndef BERTH_CI_H
#define BERTH_CI_H

#include "ledger.h"
#include "repo.h"
#include "root.h"

struct ci_opts {
	struct berth_root *root;
	git_repository *repo;
	const struct pipeline *pipeline;
	const char *branch;
	const char *commit;
	const char *actor;
};

/*
 * Run CI for the commit, streaming to stdout. Returns 1 when the commit
 * has no environments.test (nothing run, run untouched); 0 when the run
 * succeeded; -1 when it failed or errored (run->status says which,
 * berth_error() "tests failed: WHY" or "tests errored: WHY", both shown
 * already) or could not run ("CI could not run: WHY", not shown). A
 * run the ledger holds as it ended has run->number > 0; 0 when none
 * was recorded, or its end could not be (a full disk).
 */
int ci_run(const struct ci_opts *o, struct test_run *run);
/* logs/ci-ID.log (node 0: the build) or logs/ci-ID-node-N.log. */
char *ci_log_path(const struct berth_root *r, int64_t run_id, int node);

#endif
