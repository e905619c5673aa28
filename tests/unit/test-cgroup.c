/*
 * test-cgroup.c - dyno limits through real control groups (cgroup.h):
 * a forked child enters a group of its own; there its forks stop at
 * the pids limit, and past the memory limit the kernel kills it and the
 * group says so (oom_kill); destroying a group kills what is left in
 * it; a sweep removes the groups nobody keeps. Skipped where this
 * machine cannot enforce limits (not root, no controllers). Also the
 * sizes berth.ini and ps:resize read ("512M").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

struct fixture {
	char *dir;
	struct berth_root root;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/berth-cgroup-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->root.dir = f->dir;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	cgroup_sweep(&f->root, NULL, NULL);
	rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Skip the test where limits cannot be enforced, saying why. */
static void
need_cgroups(struct fixture *f)
{
	const char *why;

	if (cgroup_available(&f->root, &why) == 0) {
		print_message("# skipped: %s\n", why);
		skip();
	}
}

static void
test_sizes(void **state)
{
	int64_t v;
	char buf[32];

	(void)state;
	assert_int_equal(size_parse("512M", &v), 0);
	assert_int_equal(v, 512LL << 20);
	assert_int_equal(size_parse("1g", &v), 0);
	assert_int_equal(v, 1LL << 30);
	assert_int_equal(size_parse("64k", &v), 0);
	assert_int_equal(v, 64 << 10);
	assert_int_equal(size_parse("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(size_parse("", &v), -1);
	assert_int_equal(size_parse("M", &v), -1);
	assert_int_equal(size_parse("0M", &v), -1);
	assert_int_equal(size_parse("12MB", &v), -1);
	assert_int_equal(size_parse("1.5G", &v), -1);
	assert_int_equal(size_parse("-1M", &v), -1);
	assert_int_equal(size_parse("2048G", &v), -1);
	assert_int_equal(size_parse("99999999999999999999", &v), -1);
	size_format(512LL << 20, buf);
	assert_string_equal(buf, "512M");
	size_format(1LL << 30, buf);
	assert_string_equal(buf, "1G");
	size_format(1536LL << 10, buf);
	assert_string_equal(buf, "1536K");
	size_format(1000, buf);
	assert_string_equal(buf, "1000");
}

/*
 * In a child in cg: fork children that wait, until a fork fails;
 * exits with how many it got (or 200 + errno's class of failure).
 */
static int
fork_until_refused(const struct dyno_cgroup *cg)
{
	pid_t pid = fork();
	int status, n = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (cgroup_enter(cg) < 0)
			_exit(201);
		for (n = 0; n < 100; n++) {
			pid_t c = fork();

			if (c < 0)
				_exit(errno == EAGAIN ? n : 202);
			if (c == 0) {
				pause();
				_exit(0);
			}
		}
		_exit(200);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_pids_limit(void **state)
{
	struct fixture *f = *state;
	struct dyno_limits l = { .memory = 0, .pids = 8 };
	struct dyno_cgroup cg;
	char *dir;
	int n;

	need_cgroups(f);
	assert_int_equal(cgroup_create(&f->root, "bomb", "0123abcd", &l, &cg),
	    0);
	n = fork_until_refused(&cg);
	/* The child itself is one of the 8. */
	assert_int_equal(n, 7);
	/* Its children outlive it, in the group, until it is destroyed. */
	assert_int_equal(cgroup_procs(&cg), 7);
	assert_false(cgroup_oom_killed(&cg));
	dir = xstrdup(cg.dirs[0]);
	cgroup_destroy(&cg);
	assert_false(path_exists(dir));
	assert_null(cg.dirs[0]);
	free(dir);
	/* They are gone: reap them (they were reparented to init or us). */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Allocate size bytes and write every page (not optimised away). */
static int
touch_memory(size_t size)
{
	volatile char *p = malloc(size);
	size_t i;

	if (p == NULL)
		return 202;
	for (i = 0; i < size; i += 4096)
		p[i] = 1;
	return p[size / 2] == 1 ? 0 : 203;
}

/*
 * In a child in a new group of (name, token) with limits l: allocate
 * and touch size bytes. Its wait status into *status; whether the
 * group saw an OOM kill into *oom.
 */
static void
eat_in_group(struct fixture *f, const struct dyno_limits *l,
    const char *name, size_t size, int *status, int *oom)
{
	struct dyno_cgroup cg;
	pid_t pid;

	assert_int_equal(cgroup_create(&f->root, name, "4567cdef", l, &cg),
	    0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (cgroup_enter(&cg) < 0)
			_exit(201);
		_exit(touch_memory(size));
	}
	assert_int_equal(waitpid(pid, status, 0), pid);
	*oom = cgroup_oom_killed(&cg);
	cgroup_destroy(&cg);
}

static void
test_memory_limit(void **state)
{
	struct dyno_limits l = { .memory = 16 << 20, .pids = 0 };
	int status, oom;

	need_cgroups(*state);
	eat_in_group(*state, &l, "hog", 64 << 20, &status, &oom);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_true(oom);
}

/* Below its limit, a process is not killed and nothing says it was. */
static void
test_memory_within_limit(void **state)
{
	struct dyno_limits l = { .memory = 64 << 20, .pids = 16 };
	int status, oom;

	need_cgroups(*state);
	eat_in_group(*state, &l, "ok", 8 << 20, &status, &oom);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(oom);
}

static int
keep_one(const char *token, void *data)
{
	return strcmp(token, data) == 0;
}

static void
test_sweep(void **state)
{
	struct fixture *f = *state;
	struct dyno_limits l = { .memory = 32 << 20, .pids = 16 };
	struct dyno_cgroup a, b, found;

	need_cgroups(f);
	assert_int_equal(cgroup_create(&f->root, "my-app", "aaaa0000", &l,
	    &a), 0);
	assert_int_equal(cgroup_create(&f->root, "my-app", "bbbb1111", &l,
	    &b), 0);
	cgroup_release(&b);
	assert_int_equal(cgroup_sweep(&f->root, keep_one, "aaaa0000"), 1);
	assert_true(path_exists(a.dirs[0]));
	assert_int_equal(cgroup_find(&f->root, "my-app", "bbbb1111", &found),
	    -1);
	assert_int_equal(cgroup_find(&f->root, "my-app", "aaaa0000", &found),
	    0);
	cgroup_destroy(&found);
	assert_false(path_exists(a.dirs[0]));
	cgroup_release(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test_setup_teardown(test_pids_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_memory_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_memory_within_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
