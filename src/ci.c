/*
 * ci.c - CI test runs: build for testing, then run the tests on N
 * parallel nodes, each in a throwaway overlay of the build.
 */
#include "ci.h"
#include "sandbox.h"
#include "appjson.h"
#include "build.h"
#include "output.h"
#include "run-command.h"
#include "runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *
ci_log_path(const struct berth_root *r, int64_t run_id, int node)
{
	if (node == 0)
		return root_pathf(r, "logs/ci-%lld.log", (long long)run_id);
	return root_pathf(r, "logs/ci-%lld-node-%d.log", (long long)run_id,
	    node);
}

/* What every node shares. */
struct ci_job {
	const struct ci_opts *o;
	const struct test_run *run;
	struct appjson aj;
	struct kvlist config;	/* environments.test.env + CI config */
	struct strvec test_bps;	/* buildpack dirs with bin/test */
	char *built;		/* the test build's tree */
	char *nodes_dir;
	char *author, *date, *message;
	int nnodes;
	pthread_mutex_t out_lock;
};

/* The most of a node's output the pusher sees and its log keeps. */
#define CI_OUTPUT_MAX (8LL << 20)
#define CI_OUTPUT_LINES 100000

struct ci_node {
	struct ci_job *job;
	int index;		/* CI_NODE_INDEX, from 0 */
	FILE *log;
	int64_t emitted;	/* bytes shown and logged */
	int64_t lines;		/* lines shown and logged */
	int64_t dropped_lines, dropped_bytes;	/* past CI_OUTPUT_MAX */
	int passed, failed;
	const char *status;	/* succeeded|failed|errored */
	int exit_code;
	char *why;
};

/* Count TAP results: "ok ..." and "not ok ...". */
static void
tap_count(struct ci_node *n, const char *line)
{
	if (strncmp(line, "ok", 2) == 0 && (line[2] == ' ' || line[2] == '\0'))
		n->passed++;
	else if (strncmp(line, "not ok", 6) == 0 && (line[6] == ' ' ||
	    line[6] == '\0'))
		n->failed++;
}

/* One line of a node's output to its log and the pusher. */
static void
node_emit(struct ci_node *n, const char *line)
{
	struct ci_job *j = n->job;

	if (n->log != NULL)
		fprintf(n->log, "%s\n", line);
	pthread_mutex_lock(&j->out_lock);
	if (j->nnodes > 1)
		printf("       [node %d] %s\n", n->index, line);
	else
		printf("       %s\n", line);
	fflush(stdout);
	pthread_mutex_unlock(&j->out_lock);
}

/*
 * A line of the tests' output: counted as TAP always, shown and logged
 * up to CI_OUTPUT_MAX (tests printing without end fill no disk).
 */
static void
node_line(const char *line, void *data)
{
	struct ci_node *n = data;
	int64_t len = (int64_t)strlen(line) + 1;

	tap_count(n, line);
	if (n->emitted + len > CI_OUTPUT_MAX || n->lines >= CI_OUTPUT_LINES) {
		n->dropped_lines++;
		n->dropped_bytes += len;
		return;
	}
	n->emitted += len;
	n->lines++;
	node_emit(n, line);
}

/* Say what node_line() dropped, once the node's tests ended. */
static void
node_say_dropped(struct ci_node *n)
{
	char *msg;

	if (n->dropped_lines == 0)
		return;
	msg = xasprintf(" !     %lld lines (%lld bytes) of test output were "
	    "dropped: test runs keep and show their first %lld MB or %d "
	    "lines", (long long)n->dropped_lines, (long long)n->dropped_bytes,
	    CI_OUTPUT_MAX >> 20, CI_OUTPUT_LINES);
	node_emit(n, msg);
	free(msg);
}

/* The environment a node's scripts run with. */
static void
node_env(struct ci_node *n, const char *dir, struct strvec *env)
{
	struct ci_job *j = n->job;
	const char *path = getenv("PATH");
	size_t i;

	strvec_pushf(env, "PATH=%s", path != NULL ? path :
	    "/usr/local/bin:/usr/bin:/bin");
	strvec_push(env, "LANG=C.UTF-8");
	strvec_pushf(env, "HOME=%s", dir);
	for (i = 0; i < j->config.nr; i++)
		strvec_pushf(env, "%s=%s", j->config.items[i].key,
		    j->config.items[i].value);
	strvec_push(env, "CI=true");
	strvec_pushf(env, "BERTH_TEST_RUN_ID=%d", j->run->number);
	strvec_pushf(env, "BERTH_TEST_RUN_BRANCH=%s", j->o->branch);
	strvec_pushf(env, "BERTH_TEST_RUN_COMMIT=%s", j->o->commit);
	strvec_pushf(env, "BERTH_TEST_RUN_AUTHOR=%s", j->author);
	strvec_pushf(env, "BERTH_TEST_RUN_DATE=%s", j->date);
	strvec_pushf(env, "BERTH_TEST_RUN_MESSAGE=%s", j->message);
	strvec_pushf(env, "CI_NODE_TOTAL=%d", j->nnodes);
	strvec_pushf(env, "CI_NODE_INDEX=%d", n->index);
	strvec_pushf(env, "SOURCE_VERSION=%s", j->o->commit);
}

/*
 * Run one script of a node: a shell command (via bash, .profile.d
 * sourced) or a buildpack's bin/test BUILD ENV_DIR. Returns run_command's
 * result; c->timed_out and exit code land in n.
 */
static int
node_script(struct ci_node *n, struct runtime_node *node, const char *cmd,
    const char *bp, int64_t deadline)
{
	struct child c = CHILD_INIT;
	const char *dir = runtime_node_dir(node);
	int ret;

	node_env(n, dir, &c.env);
	if (cmd != NULL) {
		strvec_push(&c.args, "/bin/bash");
		strvec_push(&c.args, "-c");
		strvec_push(&c.args, "for f in .profile.d/*.sh; do "
		    "[ -r \"$f\" ] && . \"$f\"; done; eval \"$1\"");
		strvec_pushf(&c.args, "test.%d", n->index);
		strvec_push(&c.args, cmd);
	} else {
		char *env = path_join(n->job->nodes_dir, "env");

		strvec_pushf(&c.args, "%s/bin/test", runtime_node_share(node,
		    bp, "buildpack"));
		strvec_push(&c.args, dir);
		strvec_push(&c.args, runtime_node_share(node, env, "env"));
		free(env);
	}
	c.on_line = node_line;
	c.data = n;
	c.timeout_ms = deadline - now_ms();
	if (c.timeout_ms <= 0)
		c.timeout_ms = 1;
	ret = runtime_node_run(node, &c);
	n->exit_code = c.exit_code;
	if (ret < 0) {
		free(n->why);
		if (c.timed_out)
			n->why = xasprintf("%s timed out after %d s (berth.ini "
			    "[ci] timeout)", cmd ? cmd : "bin/test",
			    n->job->o->root->cfg.ci_timeout);
		else {
			char *how = child_describe(&c);

			n->why = xasprintf("%s %s", cmd ? cmd : "bin/test",
			    how);
			free(how);
		}
		if (c.timed_out)
			n->exit_code = -1;
	}
	child_clear(&c);
	return ret;
}

static void *
node_thread(void *arg)
{
	struct ci_node *n = arg;
	struct ci_job *j = n->job;
	struct runtime_node *node = NULL;
	const struct appjson_scripts *sc = &j->aj.test.scripts;
	int64_t deadline = now_ms() + (int64_t)j->o->root->cfg.ci_timeout *
	    1000;
	char name[32];
	size_t i;

	n->status = "succeeded";
	snprintf(name, sizeof(name), "node-%d", n->index);
	if (runtime_node_open(j->o->root, j->o->pipeline->id, j->built,
	    j->nodes_dir, name, &node) < 0) {
		n->status = "errored";
		n->why = xstrdup(berth_last_error());
		return NULL;
	}
	if (sc->test_setup != NULL &&
	    node_script(n, node, sc->test_setup, NULL, deadline) < 0) {
		n->status = "errored";
		goto out;
	}
	if (sc->test != NULL) {
		if (node_script(n, node, sc->test, NULL, deadline) < 0)
			n->status = n->exit_code < 0 ? "errored" : "failed";
	} else
		for (i = 0; i < j->test_bps.nr; i++)
			if (node_script(n, node, NULL, j->test_bps.v[i],
			    deadline) < 0) {
				n->status = n->exit_code < 0 ? "errored" :
				    "failed";
				break;
			}
out:
	node_say_dropped(n);
	runtime_node_close(node);
	return NULL;
}

/* The test environment: environments.test.env, then CI config vars. */
static int
job_config(struct ci_job *j)
{
	struct appjson_env *env = NULL;
	struct kvlist ci = { NULL, 0 };
	size_t nenv = 0, i;

	if (appjson_env_merged(&j->aj, "test", &env, &nenv) < 0)
		return -1;
	for (i = 0; i < nenv; i++) {
		if (env[i].value != NULL)
			kvlist_add(&j->config, env[i].key, env[i].value);
		else if (env[i].secret) {
			char rnd[33];

			random_hex(rnd, 16);
			kvlist_add(&j->config, env[i].key, rnd);
		}
	}
	appjson_env_list_free(env, nenv);
	if (ledger_pipeline_config_get(j->o->root->db, j->o->pipeline->id,
	    "ci", &ci) < 0)
		return -1;
	for (i = 0; i < ci.nr; i++)
		kvlist_add(&j->config, ci.items[i].key, ci.items[i].value);
	kvlist_clear(&ci);
	return 0;
}

static void
commit_details(struct ci_job *j)
{
	struct commit_info ci;
	char date[32];
	time_t t;
	struct tm tm;

	if (repo_commit_info(j->o->repo, j->o->commit, &ci) < 0) {
		j->author = xstrdup("");
		j->date = xstrdup("");
		j->message = xstrdup("");
		return;
	}
	t = (time_t)ci.time;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	j->author = xstrdup(ci.author);
	j->date = xstrdup(date);
	j->message = xstrdup(ci.subject);
	commit_info_clear(&ci);
}

/*
 * One ci_run from the recorded test run to its end: what the nodes share,
 * where the build lives, and the result so far.
 */
struct ci_ctx {
	struct ci_job j;
	char *dir;		/* tmp/ci-ID: the build and the nodes */
	char *log_path;
	FILE *log;		/* the build's log, logs/ci-ID.log */
	const char *status;	/* succeeded|failed|errored */
	int passed, failed;	/* TAP results of all nodes */
};

/*
 * The commit's app.json into aj. 0 when it has environments.test; 1 when
 * there is no app.json or no environments.test (aj cleared: nothing to
 * test); -1 when it cannot be read or parsed.
 */
static int
read_test_appjson(const struct ci_opts *o, struct appjson *aj)
{
	int rc = repo_read_appjson(o->repo, o->commit, aj);

	if (rc == 0 && !aj->test.present) {
		appjson_clear(aj);
		rc = 1;
	}
	return rc;
}

/*
 * How many nodes to test on: the quantity of environments.test's "test"
 * formation, at least 1 and at most max (berth.ini [ci] max_nodes).
 */
static int
test_nnodes(const struct appjson *aj, int max)
{
	int i, n = 1;

	for (i = 0; i < (int)aj->test.nformation; i++)
		if (strcmp(aj->test.formation[i].type, "test") == 0)
			n = aj->test.formation[i].quantity;
	if (n < 1)
		n = 1;
	if (n > max)
		n = max;
	return n;
}

/*
 * ENV_DIR for buildpacks' bin/test: a file per test config var in
 * nodes_dir/env, shared read-only by the nodes.
 */
static void
write_env_dir(const struct ci_job *j)
{
	char *envdir = path_join(j->nodes_dir, "env");
	size_t k;
	int uid;

	mkdir_p(envdir, 0700);
	for (k = 0; k < j->config.nr; k++) {
		char *f = path_join(envdir, j->config.items[k].key);

		write_file_atomic(f, j->config.items[k].value,
		    strlen(j->config.items[k].value), 0600);
		free(f);
	}
	/* Readable by the nodes' uid alone. */
	if (sandbox_for_ci(j->o->root, j->o->pipeline->id, &uid) > 0)
		sandbox_chown(envdir, uid);
	free(envdir);
}

/*
 * Everything before the nodes run: the test config, the build for testing
 * in c->dir (logged to c->log) and ENV_DIR. -1, with berth_error() set,
 * when the tests cannot run; c holds what was made either way.
 */
static int
ci_prepare(struct ci_ctx *c)
{
	const struct ci_opts *o = c->j.o;
	int64_t id = c->j.run->id;

	if (job_config(&c->j) < 0)
		return -1;
	c->log_path = ci_log_path(o->root, id, 0);
	c->log = fopen_private(c->log_path);
	c->dir = root_pathf(o->root, "tmp/ci-%lld", (long long)id);
	c->j.built = path_join(c->dir, "app");
	c->j.nodes_dir = path_join(c->dir, "nodes");
	ledger_test_run_update(o->root->db, id, "building", 0, 0, NULL);
	{
		struct build_test_opts bo = {
			.root = o->root,
			.repo = o->repo,
			.pipeline_id = o->pipeline->id,
			.commit = o->commit,
			.config = &c->j.config,
			.dir = c->dir,
			.log = c->log,
		};

		if (build_for_test(&bo, &c->j.test_bps) < 0)
			return -1;
	}
	if (c->j.aj.test.scripts.test == NULL && c->j.test_bps.nr == 0) {
		berth_error("app.json environments.test has no scripts.test "
		    "and no buildpack has bin/test: add scripts.test");
		return -1;
	}
	write_env_dir(&c->j);
	return 0;
}

/*
 * Start a thread per node of j, each logging to logs/ci-ID-node-N.log.
 * A node whose thread cannot start is errored, with index -1 to say it
 * is not to be joined.
 */
static void
nodes_start(struct ci_job *j, struct ci_node *nodes, pthread_t *threads)
{
	int i;

	for (i = 0; i < j->nnodes; i++) {
		char *np = ci_log_path(j->o->root, j->run->id, i + 1);

		nodes[i].job = j;
		nodes[i].index = i;
		nodes[i].log = fopen_private(np);
		free(np);
		if (pthread_create(&threads[i], NULL, node_thread,
		    &nodes[i]) != 0) {
			nodes[i].status = "errored";
			nodes[i].why = xstrdup("cannot start a thread");
			nodes[i].index = -1;
		}
	}
}

/*
 * Wait for every node started by nodes_start; record each in the ledger
 * and fold its status (errored over failed over succeeded) and TAP counts
 * into c. The first unsuccessful node's reason becomes berth_last_error().
 */
static void
nodes_join(struct ci_ctx *c, struct ci_node *nodes, pthread_t *threads)
{
	struct ledger *db = c->j.o->root->db;
	int i;

	for (i = 0; i < c->j.nnodes; i++) {
		if (nodes[i].index >= 0)
			pthread_join(threads[i], NULL);
		else
			nodes[i].index = i;
		c->passed += nodes[i].passed;
		c->failed += nodes[i].failed;
		ledger_test_node_set(db, c->j.run->id, i, nodes[i].status,
		    nodes[i].exit_code, nodes[i].passed, nodes[i].failed);
		if (strcmp(nodes[i].status, "errored") == 0)
			c->status = "errored";
		else if (strcmp(nodes[i].status, "failed") == 0 &&
		    strcmp(c->status, "succeeded") == 0)
			c->status = "failed";
	}
	for (i = 0; i < c->j.nnodes; i++)
		if (nodes[i].why != NULL &&
		    strcmp(nodes[i].status, "succeeded") != 0) {
			berth_error("node %d: %s", i, nodes[i].why);
			break;
		}
}

/* Run the tests on all of c's nodes in parallel; c gets the result. */
static void
ci_test(struct ci_ctx *c)
{
	int n = c->j.nnodes, i;
	struct ci_node *nodes;
	pthread_t *threads;

	ledger_test_run_update(c->j.o->root->db, c->j.run->id, "running", 0,
	    0, NULL);
	nodes = xcalloc((size_t)n, sizeof(*nodes));
	threads = xcalloc((size_t)n, sizeof(*threads));
	nodes_start(&c->j, nodes, threads);
	nodes_join(c, nodes, threads);
	for (i = 0; i < n; i++) {
		if (nodes[i].log != NULL)
			fclose(nodes[i].log);
		free(nodes[i].why);
	}
	free(nodes);
	free(threads);
}

/*
 * Record and report the end of the run: c's status and counts into the
 * ledger and run, a summary line, and unless it succeeded the reason
 * (berth_last_error(): "tests failed: ..." or "tests errored: ...").
 * 0 when the run succeeded, else -1. When the end cannot be recorded
 * (a full disk) it says so, and run->number is 0: the ledger's row
 * would tell a stale status.
 */
static int
ci_finish(const struct ci_ctx *c, struct test_run *run, int64_t t0)
{
	char *why = strcmp(c->status, "succeeded") != 0 ?
	    xstrdup(berth_last_error()) : NULL;
	double secs = (now_ms() - t0) / 1000.0;
	int number = run->number, ret;
	char *unrecorded = NULL;

	if (ledger_test_run_update(c->j.o->root->db, run->id, c->status,
	    c->passed, c->failed, why) < 0) {
		unrecorded = xstrdup(berth_last_error());
		run->number = 0;
	}
	free(run->status);
	run->status = xstrdup(c->status);
	run->passed = c->passed;
	run->failed = c->failed;
	if (c->passed + c->failed > 0)
		out_detail("%d passed, %d failed  [test run #%d, %s, %.1fs]",
		    c->passed, c->failed, number, c->status, secs);
	else
		out_detail("test run #%d %s  [%.1fs]", number, c->status, secs);
	if (why != NULL)
		out_error("Tests %s: %s", c->status, why);
	if (unrecorded != NULL)
		out_error("Test run #%d could not be recorded as %s: %s",
		    number, c->status, unrecorded);
	if (why != NULL)
		berth_error("tests %s: %s", c->status, why);
	ret = why == NULL ? 0 : -1;
	free(unrecorded);
	free(why);
	return ret;
}

/* Free what c holds and remove its build directory. */
static void
ci_ctx_clear(struct ci_ctx *c)
{
	if (c->log != NULL)
		fclose(c->log);
	if (c->dir != NULL)
		rm_rf(c->dir);
	free(c->dir);
	free(c->log_path);
	free(c->j.built);
	free(c->j.nodes_dir);
	free(c->j.author);
	free(c->j.date);
	free(c->j.message);
	kvlist_clear(&c->j.config);
	strvec_clear(&c->j.test_bps);
	appjson_clear(&c->j.aj);
	if (c->j.o != NULL)
		pthread_mutex_destroy(&c->j.out_lock);
}

int
ci_run(const struct ci_opts *o, struct test_run *run)
{
	struct ci_ctx c;
	int64_t t0 = now_ms();
	int ret;

	memset(&c, 0, sizeof(c));
	memset(run, 0, sizeof(*run));
	c.status = "succeeded";
	/* Only a commit whose app.json has environments.test is tested. */
	/* A bad app.json is the app's error ("app.json line 3..."), not
	 * CI's: whether it has tests to run is not known. */
	ret = read_test_appjson(o, &c.j.aj);
	if (ret != 0)
		return ret;
	c.j.o = o;
	c.j.nnodes = test_nnodes(&c.j.aj, o->root->cfg.ci_max_nodes);
	pthread_mutex_init(&c.j.out_lock, NULL);
	if (ledger_test_run_create(o->root->db, o->pipeline->id, o->branch,
	    o->commit, o->actor, c.j.nnodes, run) < 0) {
		berth_error("CI could not run: cannot record a test run: %s",
		    berth_last_error());
		ci_ctx_clear(&c);
		return -1;
	}
	c.j.run = run;
	out_heading("Testing %.7s on %s (app.json environments.test) [test "
	    "run #%d%s]", o->commit, o->branch, run->number, c.j.nnodes > 1 ?
	    ", parallel" : "");
	commit_details(&c.j);
	if (ci_prepare(&c) < 0)
		c.status = "errored";
	else
		ci_test(&c);
	ret = ci_finish(&c, run, t0);
	ci_ctx_clear(&c);
	return ret;
}
