/*
 * test-router.c - the router against a real nginx: routing by Host to
 * a real upstream (python3 -m http.server), the 404 and 503 pages, a
 * change nginx -t rejects leaving the previous route serving, removal,
 * adopting a running nginx, starting after one was killed, stopping
 * it, and a taken port. Each test has its own server root and ports;
 * teardown kills whatever a test started, even when it failed.
 * Skipped when nginx or python3 is missing. Every test runs twice:
 * with berth.ini [router] lua = off (each change a checked reload)
 * and, when nginx has the Lua module, lua = on (ports change without a
 * reload; a keep-alive connection of one app survives every change of
 * another; a change of lua between two starts keeps every route).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "root.h"
#include "router.h"
#include "util.h"

#define BODY "hello from demo\n"

/* berth.ini [router] lua for this build of the tests (test-router-lua
 * is this file built with ROUTER_LUA). */
#ifdef ROUTER_LUA
static const char *lua_mode = "on";
#else
static const char *lua_mode = "off";
#endif

struct fixture {
	char *dir;		/* temp dir holding root/ and www/ */
	char *rootdir;
	struct berth_root root;
	int opened;
	struct router *rt;
	int port;		/* the router's */
	int up_port;		/* the upstream's */
	pid_t upstream;		/* python3 http.server, own group */
	int busy_fd;		/* a socket holding the router port */
};

/* A TCP port nobody uses right now (bound to port 0, then closed). */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int
port_accepts(int port)
{
	struct sockaddr_in sa;
	int fd, ok;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Whether pid runs (a zombie does not). */
static int
alive(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	if (pid <= 0 || kill(pid, 0) < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return !(p != NULL && p[1] == ' ' && p[2] == 'Z');
}

static char *
router_file(struct fixture *f, const char *rel)
{
	return xasprintf("%s/router/%s", f->rootdir, rel);
}

static pid_t
nginx_pid(struct fixture *f)
{
	struct strbuf sb = STRBUF_INIT;
	char *path = router_file(f, "nginx.pid");
	long pid = 0;

	if (read_file(path, &sb, 64) == 0)
		pid = atol(strbuf_str(&sb));
	strbuf_release(&sb);
	free(path);
	berth_clear_error();
	return (pid_t)pid;
}

/*
 * SIGKILL pid and its children (nginx's workers). The master is
 * stopped first: it would fork a new worker for each one killed.
 */
static void
kill_tree(pid_t pid)
{
	DIR *d;
	struct dirent *de;

	kill(pid, SIGSTOP);
	d = opendir("/proc");
	while (d != NULL && (de = readdir(d)) != NULL) {
		char path[300], buf[512], *p;
		long ppid;
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p != NULL && sscanf(p + 1, " %*c %ld", &ppid) == 1 &&
		    ppid == (long)pid)
			kill((pid_t)atol(de->d_name), SIGKILL);
	}
	if (d != NULL)
		closedir(d);
	kill(pid, SIGKILL);
}

static size_t
collect(char *data, size_t size, size_t nmemb, void *arg)
{
	strbuf_add(arg, data, size * nmemb);
	return size * nmemb;
}

/* GET http://127.0.0.1:PORT/ with Host host; HTTP status, or -curlcode. */
static long
get(int port, const char *host, struct strbuf *body)
{
	struct curl_slist *hdrs = NULL;
	char url[64], *hh = xasprintf("Host: %s", host);
	long code = 0;
	CURLcode rc;
	CURL *h = curl_easy_init();

	assert_non_null(h);
	strbuf_reset(body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	hdrs = curl_slist_append(hdrs, hh);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	else
		code = -(long)rc;
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(hh);
	return code;
}

/* GET must answer want with a body containing needle. */
static void
expect(struct fixture *f, const char *host, long want, const char *needle)
{
	struct strbuf body = STRBUF_INIT;
	long code = get(f->port, host, &body);

	if (code != want || strstr(strbuf_str(&body), needle) == NULL) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s: got %ld \"%.200s\", want %ld "
		    "with \"%s\"", host, code, strbuf_str(&body), want, needle);
		strbuf_release(&body);
		fail_msg("%s", msg);
	}
	strbuf_release(&body);
}

static void
write_text(const char *path, const char *text)
{
	if (write_file_atomic(path, text, strlen(text), 0644) < 0)
		fail_msg("%s", berth_last_error());
}

/* A server root whose berth.ini sets the router port (and more). */
static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/berth-test-router-XXXXXX";
	char *ini, *text;

	f->busy_fd = -1;
	assert_non_null(mkdtemp(tmpl));
	/* nginx workers run as nobody when we are root. */
	chmod(tmpl, 0755);
	f->dir = xstrdup(tmpl);
	f->rootdir = path_join(f->dir, "root");
	f->port = free_port();
	assert_int_equal(mkdir_p(f->rootdir, 0755), 0);
	ini = path_join(f->rootdir, "berth.ini");
	text = xasprintf("[router]\nport = %d\nlua = %s\n", f->port, lua_mode);
	write_text(ini, text);
	free(text);
	free(ini);
	*state = f;
	if (root_init(f->rootdir, NULL) < 0 ||
	    root_open(&f->root, f->rootdir) < 0)
		fail_msg("%s", berth_last_error());
	f->opened = 1;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	pid_t pid;

	if (f->rt != NULL)
		router_stop(f->rt);
	pid = nginx_pid(f);
	if (pid > 0 && alive(pid))
		kill_tree(pid);
	if (f->upstream > 0) {
		kill(-f->upstream, SIGKILL);
		waitpid(f->upstream, NULL, 0);
	}
	if (f->busy_fd >= 0)
		close(f->busy_fd);
	if (f->opened)
		root_close(&f->root);
	rm_rf(f->dir);
	free(f->rootdir);
	free(f->dir);
	free(f);
	return 0;
}

/* Start the router or fail the test. */
static void
start_router(struct fixture *f)
{
	int rc = router_start(&f->root, &f->rt);

	if (rc != 0)
		fail_msg("router_start: %s", berth_last_error());
	assert_non_null(f->rt);
}

/* python3 -m http.server on a free port serving index.html = BODY. */
static void
start_upstream(struct fixture *f)
{
	char *www = path_join(f->dir, "www"), *index, port[16];
	int64_t deadline;
	pid_t pid;

	assert_int_equal(mkdir_p(www, 0755), 0);
	index = path_join(www, "index.html");
	write_text(index, BODY);
	free(index);
	f->up_port = free_port();
	snprintf(port, sizeof(port), "%d", f->up_port);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		setpgid(0, 0);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (chdir(www) == 0)
			execlp("python3", "python3", "-m", "http.server", port,
			    "--bind", "127.0.0.1", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	f->upstream = pid;
	free(www);
	deadline = now_ms() + 10000;
	while (!port_accepts(f->up_port)) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			f->upstream = 0;
			fail_msg("python3 -m http.server exited");
		}
		if (now_ms() > deadline)
			fail_msg("python3 http.server did not listen on %d",
			    f->up_port);
		usleep(10000);
	}
}

static void
set_ok(struct fixture *f, const char *app, const int *ports, size_t n)
{
	if (router_set(f->rt, app, ports, n) != 0)
		fail_msg("router_set %s: %s", app, berth_last_error());
}

/* The error must contain needle. */
static void
error_has(const char *needle)
{
	if (strstr(berth_last_error(), needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", berth_last_error(),
		    needle);
}

static void
test_routes_by_host(void **state)
{
	struct fixture *f = *state;
	int dead = free_port();
	int two[2];

	start_router(f);
	start_upstream(f);
	/* Before any route, and for unknown hosts: berth's 404 page. */
	expect(f, "demo.localhost", 404, "No app at this address");
	set_ok(f, "demo", &f->up_port, 1);
	expect(f, "demo.localhost", 200, BODY);
	expect(f, "demo.localhost:8080", 200, BODY);
	expect(f, "other.localhost", 404, "berth");
	expect(f, "localhost", 404, "berth");

	/* No web dynos: a 503 naming the app and berth. */
	set_ok(f, "demo", NULL, 0);
	expect(f, "demo.localhost", 503, "demo has no web dynos running");
	expect(f, "demo.localhost", 503, "berth");

	/* A dyno that is gone (rollout): requests go to the live one. */
	two[0] = dead;
	two[1] = f->up_port;
	set_ok(f, "demo", two, 2);
	for (int i = 0; i < 4; i++)
		expect(f, "demo.localhost", 200, BODY);

	/* Names with '-' make valid upstreams. */
	set_ok(f, "my-app-2", &f->up_port, 1);
	expect(f, "my-app-2.localhost", 200, BODY);
	expect(f, "demo.localhost", 200, BODY);

	/* Bad input never reaches nginx. */
	assert_int_equal(router_set(f->rt, "Bad", &f->up_port, 1), -1);
	error_has("app name 'Bad' is not valid");
	two[0] = 0;
	assert_int_equal(router_set(f->rt, "demo", two, 2), -1);
	expect(f, "demo.localhost", 200, BODY);
}

#ifndef ROUTER_LUA
static void
test_rejected_config_keeps_serving(void **state)
{
	struct fixture *f = *state;
	char *bad = router_file(f, "conf.d/zz-bad.conf");
	char *demo = router_file(f, "conf.d/demo.conf");
	char *other = router_file(f, "conf.d/other.conf");
	char *staging = router_file(f, "staging");
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT;
	int port = 1;
	DIR *d;
	struct dirent *de;

	start_router(f);
	start_upstream(f);
	set_ok(f, "demo", &f->up_port, 1);
	assert_int_equal(read_file(demo, &before, 0), 0);

	write_text(bad, "bogus directive;\n");
	assert_int_equal(router_set(f->rt, "demo", &port, 1), -1);
	error_has("routing demo: nginx rejected the configuration");
	error_has("zz-bad.conf");
	error_has("the previous configuration keeps serving");
	expect(f, "demo.localhost", 200, BODY);
	assert_int_equal(read_file(demo, &after, 0), 0);
	assert_string_equal(strbuf_str(&after), strbuf_str(&before));

	/* A new app: its file must not stay behind. */
	assert_int_equal(router_set(f->rt, "other", &f->up_port, 1), -1);
	assert_false(path_exists(other));
	/* A removal: the file comes back. */
	assert_int_equal(router_remove(f->rt, "demo"), -1);
	assert_true(path_exists(demo));
	expect(f, "demo.localhost", 200, BODY);

	/* Nothing of the failed changes is left in staging/. */
	d = opendir(staging);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			fail_msg("staging/%s left behind", de->d_name);
	closedir(d);

	assert_int_equal(unlink(bad), 0);
	set_ok(f, "other", &f->up_port, 1);
	expect(f, "other.localhost", 200, BODY);
	expect(f, "demo.localhost", 200, BODY);

	strbuf_release(&before);
	strbuf_release(&after);
	free(bad);
	free(demo);
	free(other);
	free(staging);
}
#endif

static void
test_remove(void **state)
{
	struct fixture *f = *state;
	char *demo = router_file(f, "conf.d/demo.conf");

	start_router(f);
	start_upstream(f);
	set_ok(f, "demo", &f->up_port, 1);
	expect(f, "demo.localhost", 200, BODY);
	assert_int_equal(router_remove(f->rt, "demo"), 0);
	expect(f, "demo.localhost", 404, "berth");
	assert_false(path_exists(demo));
	/* Removing what is not routed is fine. */
	assert_int_equal(router_remove(f->rt, "demo"), 0);
	free(demo);
}

static void
test_adopt(void **state)
{
	struct fixture *f = *state;
	char *pidfile = router_file(f, "nginx.pid");
	pid_t pid;

	start_router(f);
	start_upstream(f);
	set_ok(f, "demo", &f->up_port, 1);
	pid = nginx_pid(f);
	assert_true(pid > 0 && alive(pid));

	/* berthd restarts: nginx keeps running and is adopted. */
	router_free(f->rt);
	f->rt = NULL;
	expect(f, "demo.localhost", 200, BODY);
	start_router(f);
	assert_int_equal(nginx_pid(f), pid);
	expect(f, "demo.localhost", 200, BODY);
	set_ok(f, "second", &f->up_port, 1);
	expect(f, "second.localhost", 200, BODY);
	assert_int_equal(nginx_pid(f), pid);

	/* Its pid file gone: found by its command line all the same. */
	router_free(f->rt);
	f->rt = NULL;
	assert_int_equal(unlink(pidfile), 0);
	start_router(f);
	assert_int_equal(nginx_pid(f), pid);
	expect(f, "demo.localhost", 200, BODY);
	free(pidfile);
}

static void
test_stale_pid_file(void **state)
{
	struct fixture *f = *state;
	char *pidfile = router_file(f, "nginx.pid");
	char *text = xasprintf("%ld\n", (long)getpid());

	/* Our own pid is alive but not nginx: must not be adopted. */
	write_text(pidfile, text);
	start_router(f);
	assert_true(nginx_pid(f) != getpid());
	assert_true(alive(nginx_pid(f)));
	expect(f, "x.localhost", 404, "berth");
	free(text);
	free(pidfile);
}

#ifndef ROUTER_LUA
/* A berthd that died mid-change: router_start() undoes the change. */
static void
test_recover_half_done_change(void **state)
{
	struct fixture *f = *state;
	char *demo = router_file(f, "conf.d/demo.conf");
	char *prev = router_file(f, "staging/demo.prev");
	char *fresh = router_file(f, "conf.d/fresh.conf");
	char *none = router_file(f, "staging/fresh.none");
	char *junk = router_file(f, "staging/fresh.conf");

	start_router(f);
	start_upstream(f);
	set_ok(f, "demo", &f->up_port, 1);
	router_free(f->rt);
	f->rt = NULL;
	/* Untested candidates in conf.d/, the previous state in staging/. */
	assert_int_equal(rename(demo, prev), 0);
	write_text(demo, "broken {\n");
	write_text(fresh, "broken too\n");
	write_text(none, "");
	write_text(junk, "half written");

	start_router(f);
	expect(f, "demo.localhost", 200, BODY);
	assert_false(path_exists(fresh));
	assert_false(path_exists(prev));
	assert_false(path_exists(none));
	assert_false(path_exists(junk));
	free(demo);
	free(prev);
	free(fresh);
	free(none);
	free(junk);
}
#endif

/*
 * A router serving demo, then freed as a berthd that exits or dies
 * leaves it: nginx keeps running. Returns the master's pid.
 */
static pid_t
left_running(struct fixture *f)
{
	pid_t pid;

	start_router(f);
	start_upstream(f);
	set_ok(f, "demo", &f->up_port, 1);
	pid = nginx_pid(f);
	router_free(f->rt);
	f->rt = NULL;
	return pid;
}

/*
 * berth.ini's port changed to a taken one while nginx kept running:
 * nginx -t passes, the reload fails inside nginx; the error names the
 * port and the old configuration keeps serving on the old port.
 */
static void
test_new_port_in_use_on_adopt(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sa;
	int old_port = f->port, rc;
	pid_t pid;
	char *want;

	pid = left_running(f);
	f->busy_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->busy_fd >= 0);
	f->port = free_port();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)f->port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	assert_int_equal(bind(f->busy_fd, (struct sockaddr *)&sa,
	    sizeof(sa)), 0);
	assert_int_equal(listen(f->busy_fd, 8), 0);
	f->root.cfg.router_port = f->port;

	rc = router_start(&f->root, &f->rt);
	assert_int_equal(rc, -1);
	assert_null(f->rt);
	want = xasprintf("router port %d is in use (berth.ini [router] "
	    "port): ", f->port);
	error_has(want);
	free(want);
	assert_int_equal(nginx_pid(f), pid);
	f->port = old_port;
	expect(f, "demo.localhost", 200, BODY);
}

/*
 * nginx killed outright (SIGKILL, a crash) leaves its files behind,
 * the Lua control socket among them: a new start must not trip on it.
 */
static void
test_killed_nginx(void **state)
{
	struct fixture *f = *state;
	int64_t deadline;
	pid_t pid;

	pid = left_running(f);
	kill_tree(pid);
	/* Gone once no worker holds the port any more. */
	deadline = now_ms() + 5000;
	while ((alive(pid) || port_accepts(f->port)) && now_ms() < deadline)
		usleep(10000);
	assert_false(alive(pid));
	assert_false(port_accepts(f->port));

	start_router(f);
	assert_true(nginx_pid(f) != pid);
	set_ok(f, "demo", &f->up_port, 1);
	expect(f, "demo.localhost", 200, BODY);
}

static void
test_stop(void **state)
{
	struct fixture *f = *state;
	struct strbuf body = STRBUF_INIT;
	char *pidfile = router_file(f, "nginx.pid");
	pid_t pid;

	start_router(f);
	pid = nginx_pid(f);
	assert_true(pid > 0 && alive(pid));
	router_stop(f->rt);
	f->rt = NULL;
	assert_false(alive(pid));
	assert_false(path_exists(pidfile));
	assert_int_equal(get(f->port, "x.localhost", &body),
	    -(long)CURLE_COULDNT_CONNECT);
	strbuf_release(&body);
	free(pidfile);
}

static void
test_port_in_use(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sa;
	char *want;
	int rc;

	f->busy_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->busy_fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)f->port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	assert_int_equal(bind(f->busy_fd, (struct sockaddr *)&sa,
	    sizeof(sa)), 0);
	assert_int_equal(listen(f->busy_fd, 1), 0);

	rc = router_start(&f->root, &f->rt);
	assert_int_equal(rc, -1);
	assert_null(f->rt);
	want = xasprintf("router port %d is in use (berth.ini [router] "
	    "port): ", f->port);
	error_has(want);
	assert_int_equal(nginx_pid(f), 0);
	free(want);
}

static void
test_not_installed(void **state)
{
	struct fixture *f = *state;

	free(f->root.cfg.nginx);
	f->root.cfg.nginx = xstrdup("/nonexistent/sbin/nginx");
	assert_int_equal(router_start(&f->root, &f->rt), 1);
	assert_null(f->rt);
	error_has("nginx is not installed");
	error_has("apt-get install nginx-light");

	free(f->root.cfg.nginx);
	f->root.cfg.nginx = xstrdup("berth-no-such-nginx");
	assert_int_equal(router_start(&f->root, &f->rt), 1);
	assert_string_equal(berth_last_error(), "nginx is not installed: apps "
	    "are reachable on their dyno ports only; install nginx (apt-get "
	    "install nginx-light) and restart berthd");
}

static void
test_url(void **state)
{
	struct berth_config cfg;
	char *url;

	(void)state;
	config_defaults(&cfg);
	url = router_url(&cfg, "demo");
	assert_string_equal(url, "http://demo.localhost:8080/");
	free(url);
	cfg.router_port = 80;
	url = router_url(&cfg, "demo");
	assert_string_equal(url, "http://demo.localhost/");
	free(url);
	config_clear(&cfg);
}

/*
 * Whether name is an executable in $PATH or, like router_start()
 * looks, in the sbin dirs.
 */
static int
have_program(const char *name)
{
	const char *env = getenv("PATH");
	char *dirs = xasprintf("%s:/usr/local/sbin:/usr/sbin:/sbin",
	    env != NULL ? env : "/usr/bin:/bin");
	char *dir, *save = NULL;
	int found = 0;

	for (dir = strtok_r(dirs, ":", &save); dir != NULL && !found;
	    dir = strtok_r(NULL, ":", &save)) {
		char *p = path_join(dir, name);

		found = access(p, X_OK) == 0;
		free(p);
	}
	free(dirs);
	return found;
}

#ifdef ROUTER_LUA
/* nginx's workers' pids, sorted: a reload replaces them all. */
static void
workers(struct fixture *f, char *out, size_t size)
{
	char *cmd = xasprintf("pgrep -P %ld | sort", (long)nginx_pid(f));
	FILE *p = popen(cmd, "r");
	size_t n;

	assert_non_null(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	pclose(p);
	assert_true(n > 0);
	free(cmd);
}

/* Ports change in place: no reload, and each change serves at once. */
static void
test_ports_without_reload(void **state)
{
	struct fixture *f = *state;
	char before[256], after[256];
	int dead = free_port();
	long gen;

	start_router(f);
	start_upstream(f);
	set_ok(f, "demo", &f->up_port, 1);
	expect(f, "demo.localhost", 200, BODY);
	gen = router_generation(f->rt);
	workers(f, before, sizeof(before));
	set_ok(f, "demo", &dead, 1);
	expect(f, "demo.localhost", 502, "demo is not responding");
	set_ok(f, "demo", NULL, 0);
	expect(f, "demo.localhost", 503, "demo has no web dynos running");
	set_ok(f, "demo", &f->up_port, 1);
	expect(f, "demo.localhost", 200, BODY);
	/* A dead port beside a live one: the request moves on to it. */
	{
		int two[2] = { dead, f->up_port };
		int i;

		set_ok(f, "demo", two, 2);
		for (i = 0; i < 10; i++)
			expect(f, "demo.localhost", 200, BODY);
	}
	/* A new app, and one removed: no reload either. */
	set_ok(f, "other", &f->up_port, 1);
	expect(f, "other.localhost", 200, BODY);
	assert_int_equal(router_remove(f->rt, "other"), 0);
	expect(f, "other.localhost", 404, "No app at this address");
	expect(f, "nosuch.localhost", 404, "No app at this address");
	assert_int_equal(router_generation(f->rt), gen);
	workers(f, after, sizeof(after));
	assert_string_equal(after, before);
	if (router_drain(f->rt, "demo", &dead, 1, 1000) != 0)
		fail_msg("drain: %s", berth_last_error());
}

/*
 * Restart the router with berth.ini [router] lua = want: nginx stopped
 * and started again, or (adopt) kept running and reloaded.
 */
static void
restart_as(struct fixture *f, enum router_lua want, int adopt)
{
	if (adopt)
		router_free(f->rt);
	else
		router_stop(f->rt);
	f->rt = NULL;
	f->root.cfg.router_lua = want;
	start_router(f);
}

/*
 * [router] lua changed between two starts, restarting nginx or
 * adopting it: the router starts in the new mode, and routes set again
 * (as berthd's start-up converge does) serve.
 */
static void
test_lua_switched_off_and_on(void **state)
{
	struct fixture *f = *state;
	int adopt;

	for (adopt = 0; adopt <= 1; adopt++) {
		start_router(f);
		if (adopt == 0)
			start_upstream(f);
		set_ok(f, "demo", &f->up_port, 1);
		restart_as(f, ROUTER_LUA_OFF, adopt);
		assert_string_equal(router_mode(f->rt), "reload");
		set_ok(f, "demo", &f->up_port, 1);
		expect(f, "demo.localhost", 200, BODY);
		restart_as(f, ROUTER_LUA_ON, adopt);
		assert_string_equal(router_mode(f->rt), "lua");
		set_ok(f, "demo", &f->up_port, 1);
		expect(f, "demo.localhost", 200, BODY);
		set_ok(f, "demo", NULL, 0);
		expect(f, "demo.localhost", 503,
		    "demo has no web dynos running");
		router_stop(f->rt);
		f->rt = NULL;
	}
}

/*
 * One reused connection to demo sees no error while another app's
 * ports change five times and demo's own twice.
 */
static void
test_keepalive_survives_changes(void **state)
{
	struct fixture *f = *state;
	struct curl_slist *hdrs = NULL;
	struct strbuf body = STRBUF_INIT;
	char url[64];
	CURL *h;
	int i, dead = free_port();

	start_router(f);
	start_upstream(f);
	set_ok(f, "demo", &f->up_port, 1);
	set_ok(f, "other", &dead, 1);
	h = curl_easy_init();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f->port);
	hdrs = curl_slist_append(hdrs, "Host: demo.localhost");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	for (i = 0; i < 8; i++) {
		long code = 0, conns = -1;
		int two[2] = { f->up_port, f->up_port };

		if (i < 5)
			set_ok(f, "other", i % 2 ? &dead : &f->up_port, 1);
		else if (i < 7)
			set_ok(f, "demo", two, (size_t)(i - 4));
		strbuf_reset(&body);
		assert_int_equal(curl_easy_perform(h), CURLE_OK);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
		assert_int_equal(code, 200);
		assert_non_null(strstr(strbuf_str(&body), BODY));
		/* The first request connects; every later one reuses it. */
		assert_int_equal(conns, i == 0 ? 1 : 0);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	strbuf_release(&body);
}
#endif

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_routes_by_host),
#ifndef ROUTER_LUA
		/* Server block files per app: only without Lua. */
		T(test_rejected_config_keeps_serving),
#endif
		T(test_remove),
		T(test_adopt),
		T(test_stale_pid_file),
#ifndef ROUTER_LUA
		T(test_recover_half_done_change),
#endif
		T(test_new_port_in_use_on_adopt),
		T(test_killed_nginx),
		T(test_stop),
		T(test_port_in_use),
		T(test_not_installed),
#ifdef ROUTER_LUA
		T(test_ports_without_reload),
		T(test_keepalive_survives_changes),
		T(test_lua_switched_off_and_on),
#endif
		cmocka_unit_test(test_url),
	};
	int rc;

	/* cmocka prints a skip as "not ok # SKIP": a failure in TAP. */
	if (!have_program("nginx") || !have_program("python3")) {
		printf("1..0 # SKIP needs nginx and python3\n");
		return 0;
	}
#ifdef ROUTER_LUA
	if (!path_exists("/usr/lib/nginx/modules/ngx_http_lua_module.so")) {
		printf("1..0 # SKIP needs libnginx-mod-http-lua\n");
		return 0;
	}
#endif
	curl_global_init(CURL_GLOBAL_DEFAULT);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
