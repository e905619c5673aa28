/*
 * test-monitor.c - the dyno monitor (monitor.h) and dyno records
 * (dyno.h), with real processes: berth-monitor of the build tree
 * ($BERTH_BUILDDIR/src) starts small shell dynos in a root of its own
 * in a temp dir. What a dyno writes lands in the app's log and is
 * copied to its watcher; the monitor's exit status and record say how
 * the dyno ended; SIGTERM stops it, with SIGKILL after stop_timeout; a
 * crash takes what the dyno left in its group along; a dyno that cannot
 * start says why and leaves no record; a record survives a round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "monitor.h"
#include "proc.h"
#include "util.h"

#define DEADLINE_MS 10000

struct fixture {
	char *dir;
	struct berth_root root;
	struct dyno_dir app;	/* the dynos' working directory */
	struct release rel;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/berth-monitor-XXXXXX";
	const char *build = getenv("BERTH_BUILDDIR");
	char *p;

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->root.dir = f->dir;
	config_defaults(&f->root.cfg);
	f->root.cfg.stop_timeout = 1;
	p = path_join(f->dir, "run/dynos");
	assert_int_equal(mkdir_p(p, 0700), 0);
	free(p);
	f->app.path = path_join(f->dir, "app");
	assert_int_equal(mkdir_p(f->app.path, 0755), 0);
	f->rel.id = 4;
	f->rel.app_id = 1;
	f->rel.version = 3;
	f->rel.slug_id = xstrdup("slug");
	f->rel.config = xstrdup("{\"GREETING\": \"hi\"}");
	p = xasprintf("%s/src/berth-monitor", build != NULL ? build : ".");
	setenv("BERTH_MONITOR", p, 1);
	free(p);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir);
	free(f->app.path);
	release_clear(&f->rel);
	config_clear(&f->root.cfg);
	free(f->dir);
	free(f);
	return 0;
}

/* Start a monitor of worker.1 running cmd, its token into token. */
static int
start(struct fixture *f, const char *cmd, char token[20],
    struct monitor_proc *p)
{
	struct dyno_spec spec = {
		.app = "shop",
		.type = "worker",
		.index = 1,
		.command = cmd,
		.rel = &f->rel,
		.commit = "0123456789abcdef0123456789abcdef01234567",
		.dir = &f->app,
		.token = token,
	};

	random_hex(token, 8);
	return monitor_spawn(&f->root, &spec, p);
}

/* The monitor's exit status, within DEADLINE_MS. */
static int
wait_exit(pid_t pid)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	int status = 0;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		assert_true(now_ms() < deadline);
		poll(NULL, 0, 10);
	}
	return status;
}

/* Read the copies from fd until text is among them (or EOF). */
static void
read_until(int fd, struct strbuf *got, const char *text)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	while (strstr(strbuf_str(got), text) == NULL) {
		struct pollfd p = { fd, POLLIN, 0 };
		char buf[512];
		ssize_t n;

		assert_true(now_ms() < deadline);
		poll(&p, 1, 100);
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return;
		if (n > 0)
			strbuf_add(got, buf, (size_t)n);
	}
}

/*
 * Start cmd (as start() does) and wait until its copies hold text;
 * what they held into got (NULL: dropped).
 */
static void
start_until(struct fixture *f, const char *cmd, const char *text,
    char token[20], struct monitor_proc *p, struct strbuf *got)
{
	struct strbuf sb = STRBUF_INIT;

	assert_int_equal(start(f, cmd, token, p), 0);
	read_until(p->out_fd, got != NULL ? got : &sb, text);
	strbuf_release(&sb);
}

/* The monitor's exit code, which it must have exited with. */
static int
exit_code(pid_t pid)
{
	int status = wait_exit(pid);

	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static char *
app_log(struct fixture *f)
{
	struct strbuf sb = STRBUF_INIT;
	char *path = path_join(f->dir, "apps/shop/log");

	assert_int_equal(read_file(path, &sb, 0), 0);
	free(path);
	return strbuf_detach(&sb);
}

static void
load_record(struct fixture *f, const char *token, struct dyno_record *rec)
{
	char *path = monitor_record_path(&f->root, token);

	assert_int_equal(dyno_record_load(path, rec), 0);
	free(path);
}

static void
test_record_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct dyno_spec spec = {
		.app = "shop", .type = "web", .index = 2, .port = 30001,
		.command = "node server.js", .rel = &f->rel,
		.commit = "abc", .dir = &f->app, .token = "00ff00ff00ff00ff",
	};
	struct dyno_record rec, back;
	char *path = path_join(f->dir, "run/dynos/r.json");
	json_t *j;

	dyno_record_of_spec(&spec, &rec);
	rec.watcher = 42;
	rec.watcher_start = 1234567;
	rec.stopping = 1;
	assert_int_equal(dyno_record_write(path, &rec), 0);
	assert_int_equal(dyno_record_load(path, &back), 0);
	assert_string_equal(back.app, "shop");
	assert_string_equal(back.type, "web");
	assert_int_equal(back.index, 2);
	assert_int_equal(back.port, 30001);
	assert_string_equal(back.command, "node server.js");
	assert_int_equal(back.rel.id, 4);
	assert_int_equal(back.rel.version, 3);
	assert_string_equal(back.rel.slug_id, "slug");
	/* Config vars never reach the disk. */
	assert_null(back.rel.config);
	assert_string_equal(back.dir.path, f->app.path);
	assert_string_equal(back.token, "00ff00ff00ff00ff");
	assert_int_equal(back.watcher, 42);
	assert_true(back.watcher_start == 1234567);
	assert_int_equal(back.stopping, 1);
	assert_int_equal(back.exit_code, -1);
	assert_false(dyno_record_watched(&back));
	dyno_record_clear(&back);
	j = dyno_record_json(&rec, 1);
	assert_int_equal(dyno_record_from_json(j, &back), 0);
	assert_string_equal(back.rel.config, f->rel.config);
	dyno_record_clear(&back);
	/* A version or port beyond what berth writes is no record of its. */
	json_object_set_new(json_object_get(j, "release"), "version",
	    json_integer(3000000000LL));
	assert_int_equal(dyno_record_from_json(j, &back), -1);
	json_object_set_new(json_object_get(j, "release"), "version",
	    json_integer(3));
	json_object_set_new(j, "port", json_integer(70000));
	assert_int_equal(dyno_record_from_json(j, &back), -1);
	json_decref(j);
	free(path);
}

/* Output to the log and to the watcher; the exit in status and record. */
static void
test_output_and_exit(void **state)
{
	struct fixture *f = *state;
	struct strbuf got = STRBUF_INIT;
	struct monitor_proc p;
	struct dyno_record rec;
	char token[20], *log;

	start_until(f, "echo $GREETING $DYNO; echo oops >&2; exit 7", "oops\n",
	    token, &p, &got);
	assert_string_equal(got.buf, "hi worker.1\noops\n");
	assert_int_equal(exit_code(p.pid), 7);
	log = app_log(f);
	assert_non_null(strstr(log, " app[worker.1]: hi worker.1\n"));
	assert_non_null(strstr(log, " app[worker.1]: oops\n"));
	assert_non_null(strstr(log, " berth[worker.1]: Process exited with "
	    "status 7\n"));
	assert_true(strstr(log, "oops") < strstr(log, "Process exited"));
	load_record(f, token, &rec);
	assert_int_equal(rec.exit_code, 7);
	assert_int_equal(rec.watcher, p.pid);
	assert_int_equal(rec.pid, p.pgid);
	assert_int_equal(rec.stopping, 0);
	dyno_record_clear(&rec);
	close(p.out_fd);
	strbuf_release(&got);
	free(log);
}

/* SIGTERM to the monitor stops the dyno, which may say goodbye. */
static void
test_stop(void **state)
{
	struct fixture *f = *state;
	struct monitor_proc p;
	struct dyno_record rec;
	char token[20], *log;

	start_until(f, "trap 'echo bye; exit 0' TERM; echo ready; "
	    "while :; do sleep 0.05; done", "ready\n", token, &p, NULL);
	kill(p.pid, SIGTERM);
	assert_int_equal(exit_code(p.pid), 0);
	log = app_log(f);
	assert_non_null(strstr(log, " app[worker.1]: bye\n"));
	load_record(f, token, &rec);
	assert_int_equal(rec.stopping, 1);
	assert_int_equal(rec.exit_code, 0);
	dyno_record_clear(&rec);
	close(p.out_fd);
	free(log);
}

/* A dyno that ignores SIGTERM gets SIGKILL after stop_timeout (1 s). */
static void
test_stop_timeout(void **state)
{
	struct fixture *f = *state;
	struct monitor_proc p;
	char token[20];
	int64_t t0;

	start_until(f, "trap '' TERM; echo ready; sleep 100", "ready\n",
	    token, &p, NULL);
	t0 = now_ms();
	kill(p.pid, SIGTERM);
	assert_int_equal(exit_code(p.pid), 128 + SIGKILL);
	assert_true(now_ms() - t0 >= 900);
	assert_true(now_ms() - t0 < 5000);
	assert_true(kill(-p.pgid, 0) < 0 && errno == ESRCH);
	close(p.out_fd);
}

/* A dyno's main process that exits unasked takes its group along. */
static void
test_crash_kills_leftovers(void **state)
{
	struct fixture *f = *state;
	struct strbuf pidtext = STRBUF_INIT;
	char *file = path_join(f->dir, "bg.pid"), *cmd;
	struct monitor_proc p;
	char token[20];
	int64_t deadline;
	pid_t bg;

	cmd = xasprintf("sleep 100 & echo $! > %s; exit 3", file);
	assert_int_equal(start(f, cmd, token, &p), 0);
	assert_int_equal(exit_code(p.pid), 3);
	assert_int_equal(read_file(file, &pidtext, 0), 0);
	bg = (pid_t)atol(pidtext.buf);
	assert_true(bg > 1);
	deadline = now_ms() + DEADLINE_MS;
	while (kill(bg, 0) == 0 && !proc_zombie(bg)) {
		assert_true(now_ms() < deadline);
		poll(NULL, 0, 10);
	}
	close(p.out_fd);
	strbuf_release(&pidtext);
	free(cmd);
	free(file);
}

/* A dyno that cannot start: the reason, and no record left. */
static void
test_start_failure(void **state)
{
	struct fixture *f = *state;
	struct monitor_proc p;
	char token[20], *path;

	free(f->app.path);
	f->app.path = path_join(f->dir, "no-such-dir");
	assert_int_equal(start(f, "true", token, &p), -1);
	assert_non_null(strstr(berth_last_error(), "no-such-dir"));
	assert_int_equal(p.pid, 0);
	path = monitor_record_path(&f->root, token);
	assert_false(path_exists(path));
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_output_and_exit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crash_kills_leftovers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_failure, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
