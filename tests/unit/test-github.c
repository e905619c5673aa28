/*
 * test-github.c - github_tell() against a fake of GitHub's API
 * (tests/fixtures/fake-github.py, started per test on a loopback port):
 * which calls each event becomes, what they carry, and how GitHub's
 * refusals come back (permanent or to retry).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "github.h"
#include "util.h"

#define SHA "3f2a9c1e94acb329ba9a0571b5a054ac42ee3210"

struct fixture {
	char *dir;
	pid_t pid;
	char *api;		/* http://127.0.0.1:PORT/repos/acme/shop */
};

static int
setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	const char *src = getenv("BERTH_SRCDIR"), *tmp = getenv("TMPDIR");
	char *script, port[16] = "";
	int out[2];
	ssize_t n;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	fx->dir = xasprintf("%s/berth-test-github-XXXXXX", tmp);
	if (src == NULL || mkdtemp(fx->dir) == NULL || pipe(out) < 0)
		return -1;
	script = xasprintf("%s/tests/fixtures/fake-github.py", src);
	fx->pid = fork();
	if (fx->pid == 0) {
		dup2(out[1], 1);
		execlp("python3", "python3", script, fx->dir, "t0ken",
		    (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	n = read(out[0], port, sizeof(port) - 1);
	close(out[0]);
	free(script);
	if (n <= 0)
		return -1;
	port[strcspn(port, "\n")] = '\0';
	fx->api = xasprintf("http://127.0.0.1:%s/repos/acme/shop", port);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	kill(fx->pid, SIGTERM);
	waitpid(fx->pid, NULL, 0);
	rm_rf(fx->dir);
	free(fx->dir);
	free(fx->api);
	free(fx);
	return 0;
}

/* The requests the fake recorded, as a JSON array. */
static json_t *
requests(struct fixture *fx)
{
	char *path = path_join(fx->dir, "requests.jsonl");
	struct strbuf sb = STRBUF_INIT;
	json_t *arr = json_array();
	char *line, *save = NULL;

	if (read_file(path, &sb, 0) == 0)
		for (line = strtok_r(sb.buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			json_array_append_new(arr, json_loads(line, 0, NULL));
	strbuf_release(&sb);
	free(path);
	return arr;
}

static const char *
req_str(json_t *reqs, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(reqs, i),
	    key));
}

static const char *
body_str(json_t *reqs, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_object_get(
	    json_array_get(reqs, i), "body"), key));
}

static void
test_test_run_statuses(void **state)
{
	struct fixture *fx = *state;
	struct event started = { .kind = "test_run.started", .commit = SHA,
	    .data = "{\"number\": 7}" };
	struct event done = { .kind = "test_run.failed", .commit = SHA,
	    .data = "{\"number\": 7, \"passed\": 41, \"failed\": 1}" };
	struct github_result res;
	json_t *reqs;

	assert_int_equal(github_tell(fx->api, "t0ken", &started, NULL, &res),
	    0);
	assert_int_equal(github_tell(fx->api, "t0ken", &done, NULL, &res), 0);
	assert_int_equal(res.http_code, 201);
	reqs = requests(fx);
	assert_int_equal(json_array_size(reqs), 2);
	assert_string_equal(req_str(reqs, 0, "path"),
	    "/repos/acme/shop/statuses/" SHA);
	assert_string_equal(body_str(reqs, 0, "context"), "berth/ci");
	assert_string_equal(body_str(reqs, 0, "state"), "pending");
	assert_string_equal(body_str(reqs, 1, "state"), "failure");
	assert_non_null(strstr(body_str(reqs, 1, "description"),
	    "41 passed, 1 failed"));
	json_decref(reqs);
}

static void
test_release_deployment(void **state)
{
	struct fixture *fx = *state;
	struct event rel = { .kind = "release.succeeded", .commit = SHA,
	    .app = "shop-staging", .version = 4, .message = "Deploy 3f2a9c1" };
	struct event gone = { .kind = "review_app.destroyed",
	    .app = "shop-staging" };
	struct github_app app = { .stage = "staging",
	    .url = "http://shop-staging.example.com/" };
	struct github_result res;
	json_t *reqs;

	assert_int_equal(github_tell(fx->api, "t0ken", &rel, &app, &res), 0);
	assert_int_equal(res.calls, 4);
	reqs = requests(fx);
	assert_int_equal(json_array_size(reqs), 4);
	assert_string_equal(body_str(reqs, 0, "context"),
	    "berth/deploy/shop-staging");
	assert_string_equal(body_str(reqs, 0, "state"), "success");
	assert_string_equal(req_str(reqs, 1, "path"),
	    "/repos/acme/shop/deployments");
	assert_string_equal(body_str(reqs, 1, "environment"), "shop-staging");
	assert_string_equal(body_str(reqs, 1, "ref"), SHA);
	assert_string_equal(req_str(reqs, 2, "path"),
	    "/repos/acme/shop/deployments/1/statuses");
	assert_string_equal(body_str(reqs, 2, "state"), "in_progress");
	assert_string_equal(body_str(reqs, 3, "state"), "success");
	assert_string_equal(body_str(reqs, 3, "environment_url"),
	    "http://shop-staging.example.com/");
	json_decref(reqs);
	/* A destroyed review app's deployment goes inactive. */
	assert_int_equal(github_tell(fx->api, "t0ken", &gone, NULL, &res), 0);
	reqs = requests(fx);
	assert_string_equal(body_str(reqs, 5, "state"), "inactive");
	json_decref(reqs);
}

static void
test_refusals(void **state)
{
	struct fixture *fx = *state;
	struct event rel = { .kind = "release.failed", .commit = SHA,
	    .app = "shop", .version = 2, .message = "Deploy 3f2a9c1" };
	struct event push = { .kind = "push", .commit = SHA };
	struct github_app app = { .stage = "production" };
	struct github_result res;
	char *path;

	/* Nothing to tell of a push. */
	assert_int_equal(github_tell(fx->api, "t0ken", &push, NULL, &res), 1);
	/* A bad token: permanent. */
	assert_int_equal(github_tell(fx->api, "wrong", &rel, &app, &res), -1);
	assert_int_equal(res.http_code, 401);
	assert_true(res.permanent);
	assert_non_null(strstr(berth_last_error(), "401: Bad credentials"));
	/* A commit GitHub does not have: 422, permanent. */
	path = path_join(fx->dir, "unknown-commits");
	write_file_atomic(path, SHA "\n", strlen(SHA) + 1, 0644);
	free(path);
	assert_int_equal(github_tell(fx->api, "t0ken", &rel, &app, &res), -1);
	assert_int_equal(res.http_code, 422);
	assert_true(res.permanent);
	assert_non_null(strstr(berth_last_error(), "No ref found"));
	/* A rate limit: try again, after Retry-After. */
	path = path_join(fx->dir, "status-code");
	write_file_atomic(path, "429\n", 4, 0644);
	free(path);
	assert_int_equal(github_tell(fx->api, "t0ken", &rel, &app, &res), -1);
	assert_int_equal(res.http_code, 429);
	assert_false(res.permanent);
	assert_int_equal(res.retry_after, 1);
	/* Nobody there: try again. */
	assert_int_equal(github_tell("http://127.0.0.1:9/repos/a/b", "t0ken",
	    &rel, &app, &res), -1);
	assert_int_equal(res.http_code, 0);
	assert_false(res.permanent);
}

static void
test_check_repo(void **state)
{
	(void)state;
	assert_int_equal(github_check_repo("acme/shop"), 0);
	assert_int_equal(github_check_repo("a-b_c.d/e.f-g"), 0);
	assert_int_equal(github_check_repo("acme"), -1);
	assert_int_equal(github_check_repo("acme/shop/x"), -1);
	assert_int_equal(github_check_repo("/shop"), -1);
	assert_int_equal(github_check_repo("acme/.."), -1);
	assert_int_equal(github_check_repo("acme/sh op"), -1);
	assert_int_equal(github_check_repo("acme/shop?x=1"), -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_test_run_statuses),
		T(test_release_deployment),
		T(test_refusals),
		cmocka_unit_test(test_check_repo),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
