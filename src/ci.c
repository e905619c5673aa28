/*
 * ci.c - CI test runs: build for testing, then run the tests on N
 * parallel nodes, each in a throwaway overlay of the build.
 */
#include "ci.h"
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

struct ci_node {
	struct ci_job *job;
	int index;		/* CI_NODE_INDEX, from 0 */
	FILE *log;
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

static void
node_line(const char *line, void *data)
{
	struct ci_node *n = data;
	struct ci_job *j = n->job;

	tap_count(n, line);
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
		strvec_pushf(&c.args, "%s/bin/test", bp);
		strvec_push(&c.args, dir);
		strvec_pushf(&c.args, "%s/env", n->job->nodes_dir);
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

			n->why = xasprintf("%s %s", cmd ? cmd : "bin/test", how);
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
	if (runtime_node_open(j->o->root, j->built, j->nodes_dir, name,
	    &node) < 0) {
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

int
ci_run(const struct ci_opts *o, struct test_run *run)
{
	struct strbuf text = STRBUF_INIT;
	struct ci_job j;
	struct ci_node *nodes = NULL;
	pthread_t *threads = NULL;
	char *dir = NULL, *log_path = NULL;
	const char *status = "succeeded";
	FILE *log = NULL;
	int64_t t0 = now_ms();
	int rc, i, passed = 0, failed = 0, nnodes = 1, ret = -1;

	memset(&j, 0, sizeof(j));
	memset(run, 0, sizeof(*run));
	/* Only a commit whose app.json has environments.test is tested. */
	rc = repo_read_blob(o->repo, o->commit, "app.json", APPJSON_MAX_SIZE,
	    &text);
	if (rc == 1) {
		strbuf_release(&text);
		return 1;
	}
	if (rc < 0 || appjson_parse(text.buf, text.len, &j.aj, NULL,
	    NULL) < 0) {
		strbuf_release(&text);
		return -1;
	}
	strbuf_release(&text);
	if (!j.aj.test.present) {
		appjson_clear(&j.aj);
		return 1;
	}
	for (i = 0; i < (int)j.aj.test.nformation; i++)
		if (strcmp(j.aj.test.formation[i].type, "test") == 0)
			nnodes = j.aj.test.formation[i].quantity;
	if (nnodes < 1)
		nnodes = 1;
	if (nnodes > o->root->cfg.ci_max_nodes)
		nnodes = o->root->cfg.ci_max_nodes;
	j.o = o;
	j.nnodes = nnodes;
	pthread_mutex_init(&j.out_lock, NULL);
	if (ledger_test_run_create(o->root->db, o->pipeline->id, o->branch,
	    o->commit, o->actor, nnodes, run) < 0)
		goto out;
	j.run = run;
	out_heading("Testing %.7s on %s (app.json environments.test) [test "
	    "run #%d%s]", o->commit, o->branch, run->number, nnodes > 1 ?
	    ", parallel" : "");
	commit_details(&j);
	if (job_config(&j) < 0) {
		status = "errored";
		goto done;
	}
	log_path = ci_log_path(o->root, run->id, 0);
	log = fopen_private(log_path);
	dir = root_pathf(o->root, "tmp/ci-%lld", (long long)run->id);
	j.built = path_join(dir, "app");
	j.nodes_dir = path_join(dir, "nodes");
	ledger_test_run_update(o->root->db, run->id, "building", 0, 0, NULL);
	{
		struct build_test_opts bo = { o->root, o->repo,
		    o->pipeline->id, o->commit, &j.config, dir, log };

		if (build_for_test(&bo, &j.test_bps) < 0) {
			status = "errored";
			goto done;
		}
	}
	if (j.aj.test.scripts.test == NULL && j.test_bps.nr == 0) {
		berth_error("app.json environments.test has no scripts.test and "
		    "no buildpack has bin/test: add scripts.test");
		status = "errored";
		goto done;
	}
	/* ENV_DIR for buildpacks' bin/test, shared read-only by nodes. */
	{
		char *envdir = path_join(j.nodes_dir, "env");
		size_t k;

		mkdir_p(envdir, 0700);
		for (k = 0; k < j.config.nr; k++) {
			char *f = path_join(envdir, j.config.items[k].key);

			write_file_atomic(f, j.config.items[k].value,
			    strlen(j.config.items[k].value), 0600);
			free(f);
		}
		free(envdir);
	}
	ledger_test_run_update(o->root->db, run->id, "running", 0, 0, NULL);
	nodes = xcalloc((size_t)nnodes, sizeof(*nodes));
	threads = xcalloc((size_t)nnodes, sizeof(*threads));
	for (i = 0; i < nnodes; i++) {
		char *np = ci_log_path(o->root, run->id, i + 1);

		nodes[i].job = &j;
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
	for (i = 0; i < nnodes; i++) {
		if (nodes[i].index >= 0)
			pthread_join(threads[i], NULL);
		else
			nodes[i].index = i;
		passed += nodes[i].passed;
		failed += nodes[i].failed;
		ledger_test_node_set(o->root->db, run->id, i, nodes[i].status,
		    nodes[i].exit_code, nodes[i].passed, nodes[i].failed);
		if (strcmp(nodes[i].status, "errored") == 0)
			status = "errored";
		else if (strcmp(nodes[i].status, "failed") == 0 &&
		    strcmp(status, "succeeded") == 0)
			status = "failed";
	}
	for (i = 0; i < nnodes; i++)
		if (nodes[i].why != NULL &&
		    strcmp(nodes[i].status, "succeeded") != 0) {
			berth_error("node %d: %s", i, nodes[i].why);
			break;
		}
done:
	{
		char *why = strcmp(status, "succeeded") != 0 ?
		    xstrdup(berth_last_error()) : NULL;
		double secs = (now_ms() - t0) / 1000.0;

		ledger_test_run_update(o->root->db, run->id, status, passed,
		    failed, why);
		free(run->status);
		run->status = xstrdup(status);
		run->passed = passed;
		run->failed = failed;
		if (passed + failed > 0)
			out_detail("%d passed, %d failed  [test run #%d, %s, "
			    "%.1fs]", passed, failed, run->number, status,
			    secs);
		else
			out_detail("test run #%d %s  [%.1fs]", run->number,
			    status, secs);
		if (why != NULL) {
			out_error("Tests %s: %s", status, why);
			berth_error("tests %s: %s", status, why);
		}
		ret = why == NULL ? 0 : -1;
		free(why);
	}
out:
	if (nodes != NULL)
		for (i = 0; i < nnodes; i++) {
			if (nodes[i].log != NULL)
				fclose(nodes[i].log);
			free(nodes[i].why);
		}
	free(nodes);
	free(threads);
	if (log != NULL)
		fclose(log);
	if (dir != NULL)
		rm_rf(dir);
	free(dir);
	free(log_path);
	free(j.built);
	free(j.nodes_dir);
	free(j.author);
	free(j.date);
	free(j.message);
	kvlist_clear(&j.config);
	strvec_clear(&j.test_bps);
	appjson_clear(&j.aj);
	if (j.o != NULL)
		pthread_mutex_destroy(&j.out_lock);
	return ret;
}
