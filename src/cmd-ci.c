/*
 * cmd-ci.c - ci, ci:info, ci:last, ci:rerun, ci:config, ci:config:set,
 * ci:config:unset: a pipeline's CI test runs, as Heroku CI shows them.
 * Runs are numbered per pipeline ("#18"); a run's output is stored per
 * node: node 0 of ci_log_path() is the test build, nodes 1..N the test
 * scripts of CI_NODE_INDEX 0..N-1. The pipeline's CI config vars are
 * what tests see instead of an app's config; like config:set, a change
 * never echoes their values.
 */
#include "cmd.h"
#include "ci.h"
#include "names.h"
#include "repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CI_DEFAULT_NUM 15
#define CI_NO_RUNS_HINT "push a commit whose app.json has environments.test"

static json_t *
run_json(const struct test_run *t)
{
	return json_pack("{s:i, s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:o, s:o, "
	    "s:o}", "number", t->number, "status", json_str_or_null(t->status),
	    "branch", json_str_or_null(t->branch),
	    "commit", json_str_or_null(t->commit),
	    "actor", json_str_or_null(t->actor), "nodes", t->nodes,
	    "passed", t->passed, "failed", t->failed,
	    "error", json_str_or_null(t->error),
	    "created_at", json_str_or_null(t->created_at),
	    "finished_at", json_str_or_null(t->finished_at));
}

/* "42 passed, 0 failed" when the tests printed TAP, else "-". */
static const char *
run_counts(const struct test_run *t, char buf[64])
{
	if (t->passed + t->failed <= 0)
		return "-";
	snprintf(buf, 64, "%d passed, %d failed", t->passed, t->failed);
	return buf;
}

/* "18" or "#18" into *out; prints why not and returns 1. */
static int
parse_run_number(const char *arg, const char *pipeline, int *out)
{
	const char *s = arg[0] == '#' ? arg + 1 : arg;
	char *end = NULL, q[64];
	long v = 0;

	if (*s >= '0' && *s <= '9')
		v = strtol(s, &end, 10);
	if (v < 1 || v > 1000000000 || *end != '\0') {
		name_quote(arg, q, sizeof(q));
		return cmd_fail("'%s' is not a test run number: use N or #N, "
		    "e.g. 18 (see: berth ci -p %s)", q, pipeline);
	}
	*out = (int)v;
	return 0;
}

/* Run arg ("18", "#18") of the pipeline; prints why not and returns 1. */
static int
need_run(struct cmd_ctx *ctx, const struct pipeline *p, const char *arg,
    struct test_run *out)
{
	struct test_run last;
	int number = 0, rc, ret;

	if (parse_run_number(arg, p->name, &number) != 0)
		return 1;
	rc = ledger_test_run_get(ctx->root.db, p->id, number, out);
	if (rc == 0)
		return 0;
	if (rc < 0)
		return cmd_fail_last();
	memset(&last, 0, sizeof(last));
	rc = ledger_test_run_latest(ctx->root.db, p->id, NULL, &last);
	if (rc < 0)
		return cmd_fail_last();
	if (rc == 1)
		return cmd_fail("pipeline %s has no test run #%d (it has no "
		    "test runs yet; " CI_NO_RUNS_HINT ")", p->name, number);
	ret = cmd_fail("pipeline %s has no test run #%d (latest is #%d); "
	    "see: berth ci -p %s", p->name, number, last.number, p->name);
	test_run_clear(&last);
	return ret;
}

/*
 * Copy the file at path to stdout as it is, ending on a new line;
 * -1 with berth_error().
 */
static int
cat_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char buf[8192];
	size_t n, last = 0, total = 0;
	int ret = 0;

	if (f == NULL)
		return berth_error_errno("cannot read %s", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (fwrite(buf, 1, n, stdout) != n)
			break;
		last = n;
		total += n;
	}
	if (ferror(f))
		ret = berth_error_errno("cannot read %s", path);
	fclose(f);
	/* The next heading starts on its own line. */
	if (total == 0)
		printf("(no output)\n");
	else if (buf[last - 1] != '\n')
		putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout))
		ret = berth_error_errno("cannot write the log");
	return ret;
}

/* One stored log under a "=== title" heading; -1 when it cannot be read. */
static int
print_log(const struct berth_root *r, const struct test_run *t, int node,
    const char *title)
{
	char *path = ci_log_path(r, t->id, node);
	int ret = 0;

	printf("\n=== %s\n", title);
	if (!path_exists(path))
		printf("(no output %s)\n", t->finished_at == NULL ? "yet" :
		    "was recorded");
	else
		ret = cat_file(path);
	free(path);
	return ret;
}

/*
 * A run in full: its details, then the test build's output and each
 * node's (only node I when --node I was given). Returns the exit
 * status.
 */
static int
show_run(struct cmd_ctx *ctx, const struct pipeline *p,
    const struct test_run *t)
{
	struct table tb;
	char counts[64], nodes[32], title[64];
	char *created, *finished;
	int i, first = 0, last = t->nodes - 1;
	int node = cmd_num(ctx, "node", -1);

	if (node >= 0 && node >= t->nodes) {
		if (t->nodes < 1)
			return cmd_fail("test run #%d has no node output: it "
			    "ran on no nodes", t->number);
		if (t->nodes == 1)
			return cmd_fail("test run #%d ran on 1 node: --node "
			    "takes 0 (nodes count from 0, as CI_NODE_INDEX)",
			    t->number);
		return cmd_fail("test run #%d ran on %d nodes: --node takes 0 "
		    "to %d (as CI_NODE_INDEX)", t->number, t->nodes,
		    t->nodes - 1);
	}
	if (node >= 0)
		first = last = node;
	if (ctx->json) {
		json_t *j = run_json(t), *jn = json_array();
		char *path;

		for (i = first; i <= last; i++) {
			path = ci_log_path(&ctx->root, t->id, i + 1);
			json_array_append_new(jn, json_pack("{s:i, s:s}",
			    "node", i, "path", path));
			free(path);
		}
		path = ci_log_path(&ctx->root, t->id, 0);
		json_object_set_new(j, "pipeline", json_string(p->name));
		json_object_set_new(j, "build_log", json_string(path));
		json_object_set_new(j, "node_logs", jn);
		free(path);
		return cmd_print_json(j);
	}
	created = format_time(t->created_at);
	finished = t->finished_at != NULL ? format_time(t->finished_at) :
	    NULL;
	snprintf(nodes, sizeof(nodes), "%d", t->nodes);
	printf("=== %s test run #%d\n", p->name, t->number);
	table_init(&tb, 2);
	table_row(&tb, "Status:", t->status);
	table_row(&tb, "Branch:", t->branch);
	table_row(&tb, "Commit:", t->commit);
	table_row(&tb, "Nodes:", nodes);
	table_row(&tb, "Tests:", run_counts(t, counts));
	if (t->error != NULL)
		table_row(&tb, "Error:", t->error);
	table_row(&tb, "By:", t->actor);
	table_row(&tb, "Created:", created);
	table_row(&tb, "Finished:", finished != NULL ? finished : "-");
	table_print(&tb, stdout);
	table_clear(&tb);
	free(created);
	free(finished);

	if (node < 0 && print_log(&ctx->root, t, 0, "Test build") < 0)
		return cmd_fail_last();
	for (i = first; i <= last; i++) {
		snprintf(title, sizeof(title), "Node %d (CI_NODE_INDEX=%d)",
		    i, i);
		if (print_log(&ctx->root, t, i + 1, title) < 0)
			return cmd_fail_last();
	}
	return 0;
}

static int
cmd_ci(struct cmd_ctx *ctx)
{
	struct pipeline p;
	const char *branch = cmd_opt(ctx, "branch");
	struct test_run *rs = NULL;
	size_t nr = 0, i;
	struct table t;

	if (branch != NULL && name_check_branch(branch) < 0)
		return cmd_fail_last();
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (ledger_test_run_list(ctx->root.db, p.id, branch, cmd_num(ctx, "num",
	    CI_DEFAULT_NUM), &rs, &nr) < 0) {
		pipeline_clear(&p);
		return cmd_fail_last();
	}
	if (ctx->json) {
		json_t *arr = json_array();

		for (i = 0; i < nr; i++)
			json_array_append_new(arr, run_json(&rs[i]));
		cmd_print_json(arr);
	} else if (nr == 0 && branch != NULL)
		printf("No test runs of %s yet; " CI_NO_RUNS_HINT "\n",
		    branch);
	else if (nr == 0)
		printf("No test runs yet; " CI_NO_RUNS_HINT "\n");
	else {
		table_init(&t, 7);
		for (i = 0; i < nr; i++) {
			char num[16], sha[8], counts[64];
			char *when = format_time(rs[i].created_at);

			snprintf(num, sizeof(num), "#%d", rs[i].number);
			table_row(&t, num, rs[i].status, rs[i].branch,
			    short_sha(rs[i].commit, sha),
			    run_counts(&rs[i], counts), when, rs[i].actor);
			free(when);
		}
		table_print(&t, stdout);
		table_clear(&t);
	}
	test_run_list_free(rs, nr);
	pipeline_clear(&p);
	return 0;
}

static int
cmd_ci_info(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct test_run t;
	int ret;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	memset(&t, 0, sizeof(t));
	if (need_run(ctx, &p, ctx->argv[0], &t) != 0) {
		pipeline_clear(&p);
		return 1;
	}
	ret = show_run(ctx, &p, &t);
	test_run_clear(&t);
	pipeline_clear(&p);
	return ret;
}

static int
cmd_ci_last(struct cmd_ctx *ctx)
{
	struct pipeline p;
	const char *branch = cmd_opt(ctx, "branch");
	struct test_run t;
	int rc, ret;

	if (branch != NULL && name_check_branch(branch) < 0)
		return cmd_fail_last();
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	memset(&t, 0, sizeof(t));
	rc = ledger_test_run_latest(ctx->root.db, p.id, branch, &t);
	if (rc < 0)
		ret = cmd_fail_last();
	else if (rc == 1 && branch != NULL)
		ret = cmd_fail("pipeline %s has no test runs of %s yet; "
		    CI_NO_RUNS_HINT, p.name, branch);
	else if (rc == 1)
		ret = cmd_fail("pipeline %s has no test runs yet; "
		    CI_NO_RUNS_HINT, p.name);
	else
		ret = show_run(ctx, &p, &t);
	test_run_clear(&t);
	pipeline_clear(&p);
	return ret;
}

static int
cmd_ci_rerun(struct cmd_ctx *ctx)
{
	struct pipeline p;
	struct test_run old, run;
	struct ci_opts o;
	git_repository *repo = NULL;
	char *repo_path = NULL, *actor = NULL, sha[8];
	int rc, ret = 1;

	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	memset(&old, 0, sizeof(old));
	memset(&run, 0, sizeof(run));
	if (ctx->argc > 0) {
		if (need_run(ctx, &p, ctx->argv[0], &old) != 0)
			goto out;
	} else if ((rc = ledger_test_run_latest(ctx->root.db, p.id, NULL,
	    &old)) != 0) {
		if (rc < 0)
			cmd_fail_last();
		else
			cmd_fail("pipeline %s has no test runs to re-run; "
			    CI_NO_RUNS_HINT, p.name);
		goto out;
	}
	repo_path = root_repo_path(&ctx->root, p.name);
	if (repo_open(repo_path, &repo) < 0) {
		cmd_fail_last();
		goto out;
	}
	actor = actor_name();
	printf("Re-running test run #%d: %s@%s\n", old.number, old.branch,
	    short_sha(old.commit, sha));
	fflush(stdout);
	memset(&o, 0, sizeof(o));
	o.root = &ctx->root;
	o.repo = repo;
	o.pipeline = &p;
	o.branch = old.branch;
	o.commit = old.commit;
	o.actor = actor;
	rc = ci_run(&o, &run);
	fflush(stdout);
	if (rc == 0) {
		printf("Test run #%d (re-run of #%d) succeeded\n", run.number,
		    old.number);
		ret = 0;
	} else if (rc == 1)
		cmd_fail("%s at %s has no environments.test in its app.json; "
		    "nothing to run", old.branch, short_sha(old.commit, sha));
	else if (run.id != 0)
		/* Its output above already said why. */
		cmd_fail("test run #%d (re-run of #%d) %s; see: berth ci:info "
		    "%d -p %s", run.number, old.number, run.status != NULL ?
		    run.status : "failed", run.number, p.name);
	else
		cmd_fail_last();
out:
	free(actor);
	free(repo_path);
	git_repository_free(repo);
	test_run_clear(&run);
	test_run_clear(&old);
	pipeline_clear(&p);
	return ret;
}

/* ---- the pipeline's CI config vars (scope "ci") ---- */

static const struct var_scope ci_vars = {
	.scope = "ci",
	.label = "CI",
	.title = "CI",
	.cmd = "ci:config",
};

static int
cmd_ci_config(struct cmd_ctx *ctx)
{
	return cmd_pipeline_vars_show(ctx, &ci_vars);
}

static int
cmd_ci_config_set(struct cmd_ctx *ctx)
{
	return cmd_pipeline_vars_set(ctx, &ci_vars);
}

static int
cmd_ci_config_unset(struct cmd_ctx *ctx)
{
	return cmd_pipeline_vars_unset(ctx, &ci_vars);
}

static int
cmd_ci_gate(struct cmd_ctx *ctx)
{
	struct pipeline p;
	const char *gate = ctx->argc > 0 ? ctx->argv[0] : NULL;
	int ret = 0;

	if (gate != NULL && strcmp(gate, "reject") != 0 &&
	    strcmp(gate, "off") != 0)
		return cmd_fail("ci:gate takes reject or off, not '%s'", gate);
	if (cmd_need_pipeline(ctx, &p) != 0)
		return 1;
	if (gate == NULL)
		printf("CI gate of pipeline %s: %s\n", p.name, p.ci_gate);
	else if (ledger_pipeline_set_ci_gate(ctx->root.db, p.id, gate) < 0)
		ret = cmd_fail_last();
	else
		printf("CI gate of pipeline %s: %s (%s)\n", p.name, gate,
		    strcmp(gate, "reject") == 0 ? "a failed test run rejects "
		    "a push to a deployed branch" : "test runs are recorded; "
		    "pushes are not rejected for them");
	pipeline_clear(&p);
	return ret;
}

/* --node I, of ci:info and ci:last. */
#define CI_OPT_NODE { .name = "node", .kind = CMD_NUMBER, .arg = "I", \
	.min = 0, .max = 1000, .help = "only node I's output, counted from 0" }

const struct berth_cmd cmd_ci_gate_entry = {
	.name = "ci:gate",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "ci:gate [reject|off] -p PIPELINE",
	.summary =
	"show or set whether failing tests reject pushes to deployed branches",
	.help =
	"reject (the default): a failed or errored test run of a push to a\n"
	"branch that apps auto-deploy rejects the push before any release,\n"
	"so the branch keeps matching what runs. off: runs are recorded and\n"
	"shown, the push goes on.",
	.options = cmd_opts_pipeline,
	.min_args = 0, .max_args = 1,
	.exec = cmd_ci_gate,
};

const struct berth_cmd cmd_ci_entry = {
	.name = "ci",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "ci -p PIPELINE [--branch BRANCH] [-n NUM] [--json]",
	.summary = "list a pipeline's CI test runs, newest first (default 15)",
	.help =
	"One line per run: number, status, branch, commit, TAP counts (or -\n"
	"when the tests print no TAP), when it started and who pushed it.\n"
	"As on Heroku CI, a run is made for every pushed commit whose\n"
	"app.json has environments.test (its scripts.test, or else the\n"
	"buildpacks' bin/test, is what runs),\n"
	"unless the push says: git push -o ci.skip. Statuses: pending,\n"
	"building, running, succeeded, failed (a test failed), errored\n"
	"(test-setup failed or the run timed out), cancelled.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		CMD_OPT_BRANCH("only the runs of BRANCH"),
		CMD_OPT_NUM("how many runs (default 15)"),
		CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_ci,
};

const struct berth_cmd cmd_ci_info_entry = {
	.name = "ci:info",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "ci:info N -p PIPELINE [--node I] [--json]",
	.summary = "show a test run and its output",
	.help =
	"N is the run's number, 18 or #18. Prints the run's details, the\n"
	"output of its test build, then each node's test output. --node I\n"
	"shows only node I, counted from 0 like CI_NODE_INDEX. --json gives\n"
	"the details and the paths of the stored logs.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		CI_OPT_NODE,
		CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 1, .max_args = 1,
	.exec = cmd_ci_info,
};

const struct berth_cmd cmd_ci_last_entry = {
	.name = "ci:last",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_VIEWER },
	.usage = "ci:last -p PIPELINE [--branch BRANCH] [--node I] [--json]",
	.summary = "show the newest test run (of a branch) and its output",
	.help =
	"Same as ci:info for the newest run of the pipeline, or of BRANCH.",
	.options = (const struct cmd_option[]){
		CMD_OPT_PIPELINE,
		CMD_OPT_BRANCH("the newest run of BRANCH"),
		CI_OPT_NODE,
		CMD_OPT_JSON,
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_ci_last,
};

const struct berth_cmd cmd_ci_rerun_entry = {
	.name = "ci:rerun",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_DEVELOPER },
	.usage = "ci:rerun [N] -p PIPELINE",
	.summary = "run the tests of a test run's commit again, as a new run",
	.help =
	"Re-runs run N (default: the newest) with the same branch and commit\n"
	"and today's CI config vars, streaming its output. The new run gets\n"
	"the next number. Exits 0 when it succeeds, 1 otherwise. A re-run\n"
	"never deploys or moves a branch: the push that made N is decided.",
	.options = cmd_opts_pipeline,
	.min_args = 0, .max_args = 1,
	.exec = cmd_ci_rerun,
};

const struct berth_cmd cmd_ci_config_entry = {
	.name = "ci:config",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "ci:config -p PIPELINE [--json]",
	.summary = "show the config vars a pipeline's test runs get",
	.help =
	"Test runs never see an app's config vars; they get app.json\n"
	"environments.test.env plus these, as on Heroku CI.",
	.options = cmd_opts_pipeline_json,
	.min_args = 0, .max_args = 0,
	.exec = cmd_ci_config,
};

const struct berth_cmd cmd_ci_config_set_entry = {
	.name = "ci:config:set",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "ci:config:set KEY=VALUE [KEY=VALUE...] -p PIPELINE",
	.summary = "set config vars for a pipeline's test runs",
	.help =
	"Each argument is split at its first '='; VALUE may be empty or hold\n"
	"'='. KEY is letters, digits and '_', not starting with a digit.\n"
	"Values are not echoed back; see them with: berth ci:config -p\n"
	"PIPELINE. Test runs started from now on get them.",
	.options = cmd_opts_pipeline,
	.min_args = 1, .max_args = -1,
	.exec = cmd_ci_config_set,
};

const struct berth_cmd cmd_ci_config_unset_entry = {
	.name = "ci:config:unset",
	.access = { .scope = ACCESS_PIPELINE, .role = ROLE_ADMIN },
	.usage = "ci:config:unset KEY [KEY...] -p PIPELINE",
	.summary = "remove config vars of a pipeline's test runs",
	.options = cmd_opts_pipeline,
	.min_args = 1, .max_args = -1,
	.exec = cmd_ci_config_unset,
};
