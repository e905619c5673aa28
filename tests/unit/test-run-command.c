/*
 * test-run-command.c - run_command() and start_command() against
 * run-command.h: exit statuses, programs that cannot be started (not
 * there, not executable, a bad directory, a failing pre_exec hook) and
 * the exact words that say so, no zombie left behind, a timeout killing
 * the whole process group, output delivered line by line, what the
 * child inherits (fds, signals) and run_command() from several threads
 * at once.
 *
 * The test process is a subreaper, so what a killed group leaves comes
 * back to it and can be waited for with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run-command.h"
#include "util.h"

#define THREADS		4
#define RUNS		50

/* Output lines of a child, collected by on_line. */
struct lines {
	struct strvec v;
};

static void
collect(const char *line, void *data)
{
	struct lines *l = data;

	strvec_push(&l->v, line);
}

/* c runs argv (NULL-terminated): the program and its arguments. */
static void
child_args(struct child *c, const char *const *argv)
{
	for (; *argv != NULL; argv++)
		strvec_push(&c->args, *argv);
}

/* run_command(c) with its output lines into out. */
static int
run_collect(struct child *c, struct lines *out)
{
	c->on_line = collect;
	c->data = out;
	return run_command(c);
}

/* run_collect() of "sh -c script". */
static int
run_sh(const char *script, struct lines *out)
{
	struct child c = CHILD_INIT;
	int ret;

	child_args(&c, (const char *[]){ "/bin/sh", "-c", script, NULL });
	ret = run_collect(&c, out);
	child_clear(&c);
	return ret;
}

/* The error must hold every one of the strings (NULL-terminated). */
static void
error_has(const char *want, ...)
{
	const char *err = berth_last_error(), *s;
	va_list ap;

	va_start(ap, want);
	for (s = want; s != NULL; s = va_arg(ap, const char *))
		if (strstr(err, s) == NULL)
			fail_msg("error \"%s\" lacks \"%s\"", err, s);
	va_end(ap);
}

/* No child of ours is left, running or a zombie. */
static void
no_children(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/*
 * run_command(c) must fail at step with err, the child exiting with
 * status, and say exactly msg; nothing is left of the child. Clears c.
 */
static void
cannot_start(struct child *c, enum child_step step, int err, int status,
    const char *msg)
{
	assert_int_equal(run_command(c), -1);
	assert_int_equal(c->start_step, step);
	assert_int_equal(c->start_errno, err);
	assert_int_equal(c->exit_code, status);
	assert_false(c->signaled);
	assert_string_equal(berth_last_error(), msg);
	child_clear(c);
	no_children();
}

/* A fresh temp dir; caller frees (and removes). */
static char *
temp_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	dir = xasprintf("%s/berth-test-run-command-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void
test_exit_status(void **state)
{
	struct child c = CHILD_INIT;

	(void)state;
	child_args(&c, (const char *[]){ "/bin/true", NULL });
	assert_int_equal(run_command(&c), 0);
	assert_int_equal(c.exit_code, 0);
	assert_int_equal(c.start_step, CHILD_STEP_NONE);
	child_clear(&c);

	child_args(&c, (const char *[]){ "/bin/sh", "-c", "exit 3", NULL });
	assert_int_equal(run_command(&c), -1);
	assert_int_equal(c.exit_code, 3);
	assert_false(c.signaled);
	assert_false(c.timed_out);
	assert_int_equal(c.start_step, CHILD_STEP_NONE);
	assert_string_equal(berth_last_error(), "sh exited with status 3");
	child_clear(&c);

	child_args(&c, (const char *[]){ "/bin/sh", "-c", "kill -9 $$",
	    NULL });
	assert_int_equal(run_command(&c), -1);
	assert_true(c.signaled);
	assert_int_equal(c.exit_code, 128 + 9);
	error_has("sh killed by signal 9", (char *)NULL);
	child_clear(&c);
	no_children();
}

static void
test_not_found(void **state)
{
	struct child c = CHILD_INIT;

	(void)state;
	child_args(&c, (const char *[]){ "/nonexistent/berth-prog", "arg",
	    NULL });
	cannot_start(&c, CHILD_STEP_EXEC, ENOENT, 127, "/nonexistent/"
	    "berth-prog could not be run: No such file or directory");

	/* A name is looked up in PATH: not there is the same failure. */
	child_args(&c, (const char *[]){ "berth-no-such-program", NULL });
	strvec_push(&c.env, "PATH=/bin:/usr/bin");
	cannot_start(&c, CHILD_STEP_EXEC, ENOENT, 127, "berth-no-such-"
	    "program could not be run: No such file or directory");

	/* ... and found there, it runs. */
	child_args(&c, (const char *[]){ "sh", "-c", "exit 0", NULL });
	strvec_push(&c.env, "PATH=/nonexistent:/bin:/usr/bin");
	assert_int_equal(run_command(&c), 0);
	child_clear(&c);
	no_children();
}

static void
test_not_executable(void **state)
{
	struct child c = CHILD_INIT;
	char *dir = temp_dir(), *prog = path_join(dir, "prog");
	char *msg = xasprintf("%s could not be run: Permission denied", prog);

	(void)state;
	assert_int_equal(write_file_atomic(prog, "#!/bin/sh\nexit 0\n", 17,
	    0644), 0);
	child_args(&c, (const char *[]){ prog, NULL });
	cannot_start(&c, CHILD_STEP_EXEC, EACCES, 126, msg);
	rm_rf(dir);
	free(msg);
	free(prog);
	free(dir);
}

static void
test_bad_dir(void **state)
{
	struct child c = CHILD_INIT;
	char *described;

	(void)state;
	child_args(&c, (const char *[]){ "/bin/true", NULL });
	c.dir = "/nonexistent/berth-dir";
	cannot_start(&c, CHILD_STEP_CHDIR, ENOENT, 127, "/bin/true could "
	    "not be run in /nonexistent/berth-dir: No such file or directory");
	/* What callers put after their own name for the program. */
	described = child_describe(&c);
	assert_string_equal(described, "could not be run in "
	    "/nonexistent/berth-dir: No such file or directory");
	free(described);
}

/* A pre_exec hook that fails (async-signal-safe, as hooks must be). */
static int
refuse_hook(const void *data)
{
	(void)data;
	errno = EPERM;
	return -1;
}

/* One that shows it runs once stdout is wired up. */
static int
mark_hook(const void *data)
{
	(void)data;
	return write(1, "hook\n", 5) == 5 ? 0 : -1;
}

static void
test_pre_exec(void **state)
{
	struct child c = CHILD_INIT;
	struct lines out = { STRVEC_INIT };

	(void)state;
	child_args(&c, (const char *[]){ "/bin/echo", "ran", NULL });
	c.pre_exec = refuse_hook;
	cannot_start(&c, CHILD_STEP_PRE_EXEC, EPERM, 126, "/bin/echo could "
	    "not be prepared to run: Operation not permitted");

	/* It runs in the child, after stdio is wired, before the exec. */
	child_args(&c, (const char *[]){ "/bin/echo", "ran", NULL });
	c.pre_exec = mark_hook;
	assert_int_equal(run_collect(&c, &out), 0);
	assert_int_equal(out.v.nr, 2);
	assert_string_equal(out.v.v[0], "hook");
	assert_string_equal(out.v.v[1], "ran");
	strvec_clear(&out.v);
	child_clear(&c);
}

/* Whether pid was SIGKILLed, waiting for it at most two seconds. */
static int
killed_soon(pid_t pid)
{
	int64_t until = now_ms() + 2000;
	int status;

	while (now_ms() < until) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGKILL;
		if (w < 0)
			return 0;
		usleep(10000);
	}
	return 0;
}

static void
test_timeout_kills_group(void **state)
{
	struct child c = CHILD_INIT;
	struct lines out = { STRVEC_INIT };
	int64_t t0 = now_ms();
	pid_t bg;

	(void)state;
	/* The group: the shell and a sleep it started in the background. */
	child_args(&c, (const char *[]){ "/bin/sh", "-c",
	    "sleep 30 & echo $!; wait", NULL });
	c.timeout_ms = 300;
	assert_int_equal(run_collect(&c, &out), -1);
	assert_true(c.timed_out);
	assert_true(c.signaled);
	assert_int_equal(c.exit_code, 128 + SIGKILL);
	assert_string_equal(berth_last_error(), "sh timed out after 0 s");
	assert_true(now_ms() - t0 < 5000);
	assert_int_equal(out.v.nr, 1);
	bg = (pid_t)atol(out.v.v[0]);
	assert_true(bg > 0);
	assert_true(killed_soon(bg));
	strvec_clear(&out.v);
	child_clear(&c);
	no_children();
}

static void
test_output_lines(void **state)
{
	struct child c = CHILD_INIT;
	struct lines out = { STRVEC_INIT };

	(void)state;
	/* stdout and stderr merged, CRLF cut, a last line without '\n'. */
	assert_int_equal(run_sh("echo one; echo two >&2; printf 'three\\r\\n';"
	    " printf four", &out), 0);
	assert_int_equal(out.v.nr, 4);
	assert_string_equal(out.v.v[0], "one");
	assert_string_equal(out.v.v[1], "two");
	assert_string_equal(out.v.v[2], "three");
	assert_string_equal(out.v.v[3], "four");
	strvec_clear(&out.v);

	/* stdout_only: stderr goes to /dev/null. */
	child_args(&c, (const char *[]){ "/bin/sh", "-c",
	    "echo out; echo err >&2", NULL });
	c.stdout_only = 1;
	assert_int_equal(run_collect(&c, &out), 0);
	assert_int_equal(out.v.nr, 1);
	assert_string_equal(out.v.v[0], "out");
	strvec_clear(&out.v);
	child_clear(&c);

	/* An explicit environment is the whole environment. */
	child_args(&c, (const char *[]){ "/bin/sh", "-c",
	    "echo \"$X-${HOME:-none}\"", NULL });
	strvec_push(&c.env, "X=1");
	assert_int_equal(run_collect(&c, &out), 0);
	assert_int_equal(out.v.nr, 1);
	assert_string_equal(out.v.v[0], "1-none");
	strvec_clear(&out.v);
	child_clear(&c);
}

static void
test_child_inherits_little(void **state)
{
	struct lines out = { STRVEC_INIT };
	struct sigaction ign, old_int;
	sigset_t usr1, old_mask;
	int leak = open("/dev/null", O_RDONLY);	/* not close-on-exec */

	(void)state;
	assert_true(leak >= 3);
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGINT, &ign, &old_int);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
	/* Only stdio: not the fd above, nor the notify pipe. */
	assert_int_equal(run_sh("ls /proc/$$/fd", &out), 0);
	assert_int_equal(out.v.nr, 3);
	assert_string_equal(out.v.v[0], "0");
	assert_string_equal(out.v.v[1], "1");
	assert_string_equal(out.v.v[2], "2");
	strvec_clear(&out.v);
	/*
	 * Neither our blocked signals nor the ignored SIGINT. (glibc's
	 * own 32 and 33, which make may leave ignored, are not ours.)
	 */
	assert_int_equal(run_sh("sed -n 's/^Sig\\(Blk\\|Ign\\):\t//p' "
	    "/proc/self/status", &out), 0);
	assert_int_equal(out.v.nr, 2);
	assert_int_equal(strtoull(out.v.v[0], NULL, 16), 0);
	assert_int_equal(strtoull(out.v.v[1], NULL, 16) & 0x7fffffff, 0);
	strvec_clear(&out.v);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGINT, &old_int, NULL);
	close(leak);
}

/* Everything until EOF on fd. */
static void
read_all(int fd, struct strbuf *out)
{
	char buf[512];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(out, buf, (size_t)n);
}

static void
test_start_command(void **state)
{
	struct child c = CHILD_INIT;
	struct strbuf got = STRBUF_INIT;
	char want[64];
	int fds[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	/* A session of its own; stdout and stderr to the pipe. */
	child_args(&c, (const char *[]){ "/bin/sh", "-c",
	    "cut -d' ' -f6 /proc/$$/stat; echo $$ >&2", NULL });
	c.group = CHILD_OWN_SESSION;
	c.out_fd = fds[1];
	pid = start_command(&c);
	assert_true(pid > 0);
	close(fds[1]);
	read_all(fds[0], &got);
	close(fds[0]);
	snprintf(want, sizeof(want), "%ld\n%ld\n", (long)pid, (long)pid);
	assert_string_equal(strbuf_str(&got), want);
	strbuf_release(&got);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	child_clear(&c);

	/* Failing: reaped, results set, -1. */
	child_args(&c, (const char *[]){ "/nonexistent/berth-dyno", NULL });
	c.group = CHILD_OUR_GROUP;
	assert_int_equal(start_command(&c), -1);
	assert_int_equal(c.start_errno, ENOENT);
	error_has("/nonexistent/berth-dyno could not be run", (char *)NULL);
	child_clear(&c);
	child_args(&c, (const char *[]){ "/bin/true", NULL });
	c.dir = "/nonexistent/berth-dir";
	assert_int_equal(start_command(&c), -1);
	assert_int_equal(c.start_step, CHILD_STEP_CHDIR);
	no_children();

	/* What only run_command does is refused. */
	c.dir = NULL;
	c.on_line = collect;
	assert_int_equal(start_command(&c), -1);
	c.on_line = NULL;
	c.group = CHILD_OUR_GROUP;
	assert_int_equal(run_command(&c), -1);
	error_has("own", (char *)NULL);
	child_clear(&c);
	no_children();
}

/* One thread's share of the concurrent runs; NULL or what went wrong. */
static void *
runner(void *arg)
{
	long id = (long)arg;
	int i;

	for (i = 0; i < RUNS; i++) {
		struct child c = CHILD_INIT;
		struct lines out = { STRVEC_INIT };
		char want[64], missing[64];
		int ret;

		snprintf(want, sizeof(want), "thread %ld run %d", id, i);
		snprintf(missing, sizeof(missing), "/nonexistent/t%ld-%d",
		    id, i);
		/* Every fifth run cannot start: the report is its own. */
		if (i % 5 == 4)
			child_args(&c, (const char *[]){ missing, NULL });
		else
			child_args(&c, (const char *[]){ "/bin/sh", "-c",
			    "echo \"$1\"", "sh", want, NULL });
		ret = run_collect(&c, &out);
		child_clear(&c);
		if (i % 5 == 4) {
			if (ret != -1 || strstr(berth_last_error(), missing) ==
			    NULL || out.v.nr != 0)
				return xasprintf("%s: %d, \"%s\"", missing, ret,
				    berth_last_error());
		} else if (ret != 0 || out.v.nr != 1 ||
		    strcmp(out.v.v[0], want) != 0)
			return xasprintf("%s: %d, %zu lines, \"%s\"", want, ret,
			    out.v.nr, out.v.nr ? out.v.v[0] : "");
		strvec_clear(&out.v);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t th[THREADS];
	long i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, runner,
		    (void *)i), 0);
	for (i = 0; i < THREADS; i++) {
		void *why;

		assert_int_equal(pthread_join(th[i], &why), 0);
		if (why != NULL)
			fail_msg("%s", (char *)why);
	}
	no_children();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_not_executable),
		cmocka_unit_test(test_bad_dir),
		cmocka_unit_test(test_pre_exec),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_output_lines),
		cmocka_unit_test(test_child_inherits_little),
		cmocka_unit_test(test_start_command),
		cmocka_unit_test(test_threads),
	};

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
