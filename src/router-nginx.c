/*
 * router-nginx.c - the router as an nginx instance of berthd's own.
 *
 * Everything lives under ROOT/router/, which is nginx's prefix (-p):
 *
 *   nginx.conf        the main config, rewritten by every router_start()
 *   generation.conf   the generation location (see below)
 *   listen.conf       "listen PORT;" for the app servers, so that a new
 *                     berth.ini port needs no change to conf.d/
 *   conf.d/APP.conf   one server block per routed app; nginx.conf
 *                     includes the *.conf files there and nothing else;
 *                     router_start() rewrites those of the other form
 *                     (berth.ini [router] lua changed)
 *   staging/          candidates and backups of a change in progress;
 *                     never included
 *   logs/error.log, tmp/ (the *_temp_path dirs), nginx.pid
 *
 *   berth_router.lua, run/ctl.sock  the Lua upstream and its control
 *                     socket, when nginx has the Lua module (router-lua.h)
 *
 * Every path in the config is relative to the prefix (or to nginx's cwd,
 * the router dir, for the control socket), so the root's path (which
 * may hold any character) never appears in nginx syntax.
 *
 * Two ways to change an app's dyno ports. With Debian's
 * libnginx-mod-http-lua (detected at start), the ports are set over
 * the control socket in well under a millisecond, without a reload; a
 * server block changes (a reload) only when an app is first routed or
 * removed. Without it, every change rewrites the app's server block
 * with an upstream of its ports and reloads.
 *
 * Invariant: whatever is in conf.d/ passed `nginx -t`. A change puts the
 * candidate in place with the previous file saved in staging/, runs
 * `nginx -t` on the whole configuration and puts the previous file back
 * when the test fails; staging/ also lets router_start() undo a change
 * that berthd did not finish (it crashed).
 *
 * Knowing when a change serves: `nginx -s reload` only sends a signal
 * and returns 0 even when the new configuration then fails (a port in
 * use). So every change also bumps a generation number that nginx
 * serves at http://127.0.0.1:PORT/__berth/generation for Host
 * _berth-router; a change returns once the new number answers, or fails
 * on a new [emerg] line in the error log, a dead master or a deadline.
 */
#include "router.h"
#include "proc.h"
#include "router-lua.h"

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

#include "names.h"
#include "run-command.h"

extern char **environ;

#define DEADLINE_MS	10000	/* for a change or a stop to work */
#define POLL_MS		5	/* between two looks at nginx */
#define NGINX_RUN_MS	15000	/* for one nginx -t, -s or start */
#define LOG_SCAN_MAX	65536	/* log bytes read after a change */

#define GENERATION_HOST	"_berth-router"

struct pidlist {
	pid_t *v;
	size_t nr, alloc;
};

struct router {
	char *dir;		/* ROOT/router */
	char *prefix;		/* ROOT/router/ (-p wants the slash) */
	char *conf;		/* ROOT/router/nginx.conf */
	char *confd;		/* ROOT/router/conf.d */
	char *staging;		/* ROOT/router/staging */
	char *errlog;		/* ROOT/router/logs/error.log */
	char *pidfile;		/* ROOT/router/nginx.pid */
	char *genfile;		/* ROOT/router/generation.conf */
	char *nginx;		/* absolute path of the binary */
	char *domain;
	int port;
	long generation;	/* the last one written */
	pid_t pid;		/* nginx master; 0 = not known */
	enum router_lua want_lua;	/* berth.ini [router] lua */
	int lua;		/* ports change over ctl_sock, no reload */
	char *ctl_sock;		/* ROOT/router/run/ctl.sock */
	struct strbuf load_lines;	/* load_module lines for Lua */
	struct route *routes;	/* every app's ports, to push after a start */
	size_t nroutes;
};

/* What an app is routed to, kept to set it again in a new nginx. */
struct route {
	char *app;
	int *ports;
	size_t n;
};

static const char not_installed_hint[] =
    "apps are reachable on their dyno ports only; install nginx "
    "(apt-get install nginx-light) and restart berthd";

/*
 * The main config. %s are the load_module lines (Lua), the temp paths
 * nginx knows and the Lua upstream's lines, then the listening port
 * (twice).
 */
static const char main_conf[] =
"%s"
"# nginx.conf - written by berthd on every start; do not edit.\n"
"# Apps are in conf.d/APP.conf (also written by berthd).\n"
"worker_processes 2;\n"
"daemon on;\n"
"pid nginx.pid;\n"
"error_log logs/error.log warn;\n"
"\n"
"events {\n"
"\tworker_connections 768;\n"
"}\n"
"\n"
"http {\n"
"\taccess_log off;\n"
"\tserver_tokens off;\n"
"\tserver_names_hash_bucket_size 512;\n"
"\tclient_max_body_size 100m;\n"
"\tclient_body_temp_path tmp/client_body;\n"
"\tproxy_temp_path tmp/proxy;\n"
"%s"
"%s"
"\n"
"\t# Websockets: pass Upgrade through, otherwise close.\n"
"\tmap $http_upgrade $berth_connection {\n"
"\t\tdefault upgrade;\n"
"\t\t'' close;\n"
"\t}\n"
"\n"
"\t# A host no app has.\n"
"\tserver {\n"
"\t\tlisten %d default_server;\n"
"\t\tserver_name \"\";\n"
"\t\tdefault_type text/html;\n"
"\t\treturn 404 '<!DOCTYPE html>\\n<html><head><meta charset=\"utf-8\">"
"<title>No app here</title></head>\\n<body><h1>No app at this address"
"</h1><p>No app at this address \xe2\x80\x94 berth</p></body></html>\\n';\n"
"\t}\n"
"\n"
"\t# berthd asks here which configuration nginx serves.\n"
"\tserver {\n"
"\t\tlisten %d;\n"
"\t\tserver_name " GENERATION_HOST ";\n"
"\t\tallow 127.0.0.1;\n"
"\t\tdeny all;\n"
"\t\tinclude generation.conf;\n"
"\t\tlocation / {\n"
"\t\t\treturn 404;\n"
"\t\t}\n"
"\t}\n"
"\n"
"\tinclude conf.d/*.conf;\n"
"}\n";

static const char generation_conf[] =
"# generation.conf - written by berthd on every change; do not edit.\n"
"location = /__berth/generation {\n"
"\tdefault_type text/plain;\n"
"\treturn 200 \"%ld\\n\";\n"
"}\n";

static void
router_free_fields(struct router *rt)
{
	free(rt->dir);
	free(rt->prefix);
	free(rt->conf);
	free(rt->confd);
	free(rt->staging);
	free(rt->errlog);
	free(rt->pidfile);
	free(rt->genfile);
	free(rt->nginx);
	free(rt->domain);
	free(rt->ctl_sock);
	strbuf_release(&rt->load_lines);
	while (rt->nroutes > 0) {
		rt->nroutes--;
		free(rt->routes[rt->nroutes].app);
		free(rt->routes[rt->nroutes].ports);
	}
	free(rt->routes);
}

void
router_free(struct router *rt)
{
	if (rt == NULL)
		return;
	router_free_fields(rt);
	free(rt);
}

char *
router_url(const struct berth_config *cfg, const char *app)
{
	if (cfg->router_port == 80)
		return xasprintf("http://%s.%s/", app, cfg->domain);
	return xasprintf("http://%s.%s:%d/", app, cfg->domain,
	    cfg->router_port);
}

/*
 * The absolute path of the nginx binary: name itself when it holds a
 * '/', else the first match in $PATH, then the sbin dirs that a
 * non-root $PATH often lacks. NULL when there is none; caller frees.
 */
static char *
find_nginx(const char *name)
{
	const char *path = getenv("PATH");
	char *dirs = xasprintf("%s:/usr/local/sbin:/usr/sbin:/sbin",
	    path != NULL && *path != '\0' ? path :
	    "/usr/local/bin:/usr/bin:/bin");
	char *found = path_search(name, dirs), *real = NULL;

	if (found != NULL)
		real = realpath(found, NULL);
	free(found);
	free(dirs);
	return real;
}

static void
collect_line(const char *line, void *data)
{
	struct strbuf *out = data;

	strbuf_addstr(out, line);
	strbuf_addch(out, '\n');
}

/*
 * Run nginx with our prefix, config and error log plus the extra
 * arguments (NULL-terminated); its output goes to out. Returns
 * run_command()'s result. The environment is ours without NGINX, which
 * nginx would take as sockets to inherit.
 */
static int
nginx_run(const struct router *rt, struct strbuf *out, ...)
{
	struct child c = CHILD_INIT;
	const char *arg;
	va_list ap;
	char **e;
	int ret;

	strvec_push(&c.args, rt->nginx);
	strvec_push(&c.args, "-p");
	strvec_push(&c.args, rt->prefix);
	strvec_push(&c.args, "-c");
	strvec_push(&c.args, rt->conf);
	strvec_push(&c.args, "-e");
	strvec_push(&c.args, rt->errlog);
	va_start(ap, out);
	while ((arg = va_arg(ap, const char *)) != NULL)
		strvec_push(&c.args, arg);
	va_end(ap);
	for (e = environ; *e != NULL; e++)
		if (strncmp(*e, "NGINX=", 6) != 0)
			strvec_push(&c.env, *e);
	/*
	 * Output through a pipe, never inherited: run_command() kills the
	 * child's process group once nginx's first process exits, and when
	 * it waits on a pipe it only looks after the daemonized master has
	 * left that group (setsid) and closed its copy of the pipe.
	 */
	c.on_line = collect_line;
	c.data = out;
	c.timeout_ms = NGINX_RUN_MS;
	/* The control socket's path is relative to nginx's cwd. */
	c.dir = rt->dir;
	ret = run_command(&c);
	child_clear(&c);
	return ret;
}

/*
 * The message of the first [emerg] line in text (nginx's stderr
 * "nginx: [emerg] MSG" or its log "DATE [emerg] PID#TID: MSG") into
 * msg. Returns 1 when there is one.
 */
static int
find_emerg(const char *text, struct strbuf *msg)
{
	const char *p = strstr(text, "[emerg] ");
	const char *end, *s;

	if (p == NULL)
		return 0;
	p += strlen("[emerg] ");
	end = strchr(p, '\n');
	if (end == NULL)
		end = p + strlen(p);
	/* Skip the log's "PID#TID: ". */
	for (s = p; s < end && (*s >= '0' && *s <= '9'); s++)
		;
	if (s > p && *s == '#') {
		for (s++; s < end && *s >= '0' && *s <= '9'; s++)
			;
		if (s + 1 < end && s[0] == ':' && s[1] == ' ')
			p = s + 2;
	}
	strbuf_reset(msg);
	strbuf_add(msg, p, (size_t)(end - p));
	return 1;
}

/* The last non-empty line of text, for errors without an [emerg]. */
static void
last_line(const char *text, struct strbuf *msg)
{
	size_t len = strlen(text);
	const char *start;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	start = text + len;
	while (start > text && start[-1] != '\n')
		start--;
	strbuf_reset(msg);
	strbuf_add(msg, start, (size_t)(text + len - start));
}

/* Fail naming the port when why is about binding to it, else as is. */
static int
start_error(const struct router *rt, const char *what, const char *why)
{
	if (strstr(why, "Address already in use") != NULL)
		return berth_error("router port %d is in use (berth.ini "
		    "[router] port): %s; stop what listens there or choose "
		    "another port", rt->port, why);
	return berth_error("router: %s: %s; see %s", what, why, rt->errlog);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The first [emerg] of the error log after offset from, into msg. */
static int
log_emerg_since(const struct router *rt, off_t from, struct strbuf *msg)
{
	struct strbuf text = STRBUF_INIT;
	char buf[8192];
	ssize_t n;
	int fd, found = 0;

	if (file_size(rt->errlog) <= from)
		return 0;
	fd = open(rt->errlog, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (lseek(fd, from, SEEK_SET) == from) {
		while (text.len < LOG_SCAN_MAX &&
		    (n = read(fd, buf, sizeof(buf))) > 0)
			strbuf_add(&text, buf, (size_t)n);
		found = find_emerg(strbuf_str(&text), msg);
	}
	close(fd);
	strbuf_release(&text);
	return found;
}

/* Whether pid runs (a zombie does not; reap it if it is ours). */
static int
pid_alive(pid_t pid)
{
	if (pid <= 0 || kill(pid, 0) < 0)
		return 0;
	if (proc_zombie(pid)) {
		waitpid(pid, NULL, WNOHANG);
		return 0;
	}
	return 1;
}

/* The pid in router/nginx.pid, 0 when there is none. */
static pid_t
read_pid(const struct router *rt)
{
	struct strbuf sb = STRBUF_INIT;
	char *end;
	long pid = 0;

	if (read_file(rt->pidfile, &sb, 64) == 0) {
		pid = strtol(strbuf_str(&sb), &end, 10);
		if (end == sb.buf || (*end != '\n' && *end != '\0') ||
		    pid <= 1)
			pid = 0;
	}
	strbuf_release(&sb);
	berth_clear_error();
	return (pid_t)pid;
}

/*
 * Whether pid is an nginx master started with our config: its
 * /proc/PID/cmdline ("nginx: master process /usr/sbin/nginx -p ...")
 * names nginx and our nginx.conf.
 */
static int
is_our_nginx(const struct router *rt, pid_t pid)
{
	char buf[4096];

	if (!pid_alive(pid) || proc_cmdline(pid, buf, sizeof(buf)) <= 0)
		return 0;
	return strstr(buf, "nginx") != NULL && strstr(buf, rt->conf) != NULL;
}

struct children_walk {
	pid_t parent;
	struct pidlist *out;
};

static int
add_child(pid_t pid, void *data)
{
	struct children_walk *w = data;
	struct pidlist *out = w->out;

	if (proc_ppid(pid) != w->parent)
		return 0;
	if (out->nr == out->alloc) {
		out->alloc = out->alloc ? 2 * out->alloc : 8;
		out->v = xrealloc(out->v, out->alloc * sizeof(*out->v));
	}
	out->v[out->nr++] = pid;
	return 0;
}

/* The pids whose parent is pid (an nginx master's workers). */
static void
children(pid_t pid, struct pidlist *out)
{
	struct children_walk w = { pid, out };

	out->nr = 0;
	proc_each(add_child, &w);
}

struct master_walk {
	const struct router *rt;
	pid_t found;
};

static int
match_master(pid_t pid, void *data)
{
	static const char master[] = "nginx: master process";
	struct master_walk *w = data;
	char buf[4096];

	if (proc_cmdline(pid, buf, sizeof(buf)) > 0 &&
	    strncmp(buf, master, strlen(master)) == 0 &&
	    is_our_nginx(w->rt, pid))
		w->found = pid;
	return w->found != 0;
}

/* A running master of ours whatever the pid file says; 0 = none. */
static pid_t
find_master(const struct router *rt)
{
	struct master_walk w = { rt, 0 };

	proc_each(match_master, &w);
	return w.found;
}

/* Send sig to pid and to its children (nginx's workers). */
static void
kill_family(pid_t pid, int sig)
{
	struct pidlist kids = { NULL, 0, 0 };
	size_t i;

	children(pid, &kids);
	for (i = 0; i < kids.nr; i++)
		kill(kids.v[i], sig);
	kill(pid, sig);
	free(kids.v);
}

/*
 * Whether worker pid no longer accepts connections: it is gone, or it
 * calls itself "worker process is shutting down", which nginx sets just
 * before it closes its listening sockets (in the same step).
 */
static int
worker_retired(pid_t pid)
{
	char buf[4096];

	if (!pid_alive(pid))
		return 1;
	if (proc_cmdline(pid, buf, sizeof(buf)) >= 0)
		return strstr(buf, "shutting down") != NULL;
	return !pid_alive(pid);	/* gone while we read */
}

/* Wait until pid is gone or deadline (now_ms() based) passes. */
static int
wait_gone(pid_t pid, int64_t deadline)
{
	while (pid_alive(pid)) {
		if (now_ms() >= deadline)
			return -1;
		usleep(POLL_MS * 1000);
	}
	return 0;
}

static size_t
write_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct strbuf *sb = arg;

	if (sb->len + size * nmemb > 64)
		return 0;
	strbuf_add(sb, data, size * nmemb);
	return size * nmemb;
}

/* The generation nginx serves now; -1 when it does not answer. */
static long
served_generation(const struct router *rt)
{
	struct strbuf body = STRBUF_INIT;
	struct curl_slist *hdrs = NULL;
	char url[64], *end;
	long code = 0, gen = -1;
	CURL *h;

	h = curl_easy_init();
	if (h == NULL)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/__berth/generation",
	    rt->port);
	hdrs = curl_slist_append(hdrs, "Host: " GENERATION_HOST);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 500L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* A kept-alive connection could stay with an old worker. */
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	if (curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
	    code == 200 && body.len > 0) {
		gen = strtol(body.buf, &end, 10);
		if (end == body.buf || *end != '\n')
			gen = -1;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	strbuf_release(&body);
	return gen;
}

/*
 * Wait until nginx serves rt->generation. Fails on a new [emerg] in the
 * error log since log_from (the message then names the port when it is
 * taken), when the master dies, or after DEADLINE_MS. Learns rt->pid
 * from the pid file when it is not known yet (a fresh start).
 */
static int
wait_generation(struct router *rt, off_t log_from, const char *what)
{
	struct strbuf msg = STRBUF_INIT;
	int64_t deadline = now_ms() + DEADLINE_MS;
	int ret = -1;

	for (;;) {
		if (rt->pid == 0)
			rt->pid = read_pid(rt);
		if (served_generation(rt) == rt->generation) {
			ret = 0;
			break;
		}
		if (log_emerg_since(rt, log_from, &msg)) {
			start_error(rt, what, msg.buf);
			break;
		}
		if (rt->pid != 0 && !pid_alive(rt->pid)) {
			berth_error("router: %s: nginx (pid %ld) exited; see "
			    "%s", what, (long)rt->pid, rt->errlog);
			rt->pid = 0;
			break;
		}
		if (now_ms() >= deadline) {
			berth_error("router: %s: nginx did not serve the new "
			    "configuration within %d s; see %s", what,
			    DEADLINE_MS / 1000, rt->errlog);
			break;
		}
		usleep(POLL_MS * 1000);
	}
	strbuf_release(&msg);
	return ret;
}

/* Bump the generation and write generation.conf. */
static int
next_generation(struct router *rt)
{
	char *text;
	int ret;

	rt->generation++;
	text = xasprintf(generation_conf, rt->generation);
	ret = write_file_atomic(rt->genfile, text, strlen(text), 0644);
	free(text);
	return ret;
}

/* The generation in generation.conf, 0 when there is none. */
static long
stored_generation(const struct router *rt)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p;
	long gen = 0;

	if (read_file(rt->genfile, &sb, 65536) == 0 &&
	    (p = strstr(strbuf_str(&sb), "return 200 \"")) != NULL)
		gen = strtol(p + strlen("return 200 \""), NULL, 10);
	strbuf_release(&sb);
	berth_clear_error();
	return gen > 0 ? gen : 0;
}

/* `nginx -t` on the whole configuration; what names the change. */
static int
test_config(const struct router *rt, const char *what)
{
	struct strbuf out = STRBUF_INIT, msg = STRBUF_INIT;
	int ret = 0;

	if (nginx_run(rt, &out, "-t", (const char *)NULL) < 0) {
		if (!find_emerg(strbuf_str(&out), &msg))
			last_line(strbuf_str(&out), &msg);
		if (msg.len == 0)
			strbuf_addstr(&msg, berth_last_error());
		ret = berth_error("router: %s: nginx rejected the "
		    "configuration: %s; %s", what, msg.buf,
		    rt->pid != 0 && pid_alive(rt->pid) ?
		    "the previous configuration keeps serving" :
		    "fix or remove the file it names");
	}
	strbuf_release(&out);
	strbuf_release(&msg);
	return ret;
}

/* Fail early, and without nginx's bind retries, when the port is taken. */
static int
check_port_free(const struct router *rt)
{
	struct sockaddr_in sa;
	int fd, one = 1, ret = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;	/* let nginx tell */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)rt->port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno == EADDRINUSE) {
		char why[128];

		snprintf(why, sizeof(why), "bind() to 0.0.0.0:%d failed "
		    "(%d: %s)", rt->port, errno, strerror(errno));
		ret = start_error(rt, "", why);
	}
	close(fd);
	return ret;
}

/* Start a new master and wait until it serves rt->generation. */
static int
launch(struct router *rt, const char *what)
{
	struct strbuf out = STRBUF_INIT, msg = STRBUF_INIT;
	off_t log_from;
	int ret = -1;

	if (check_port_free(rt) < 0)
		goto out;
	unlink(rt->pidfile);
	/*
	 * No master of ours runs, so a control socket left by one that
	 * died (SIGKILL, a crash) is stale; nginx cannot bind a unix
	 * socket whose file exists and would give up after 2.5 s.
	 */
	unlink(rt->ctl_sock);
	rt->pid = 0;
	log_from = file_size(rt->errlog);
	if (nginx_run(rt, &out, (const char *)NULL) < 0) {
		if (!find_emerg(strbuf_str(&out), &msg) &&
		    !log_emerg_since(rt, log_from, &msg))
			last_line(strbuf_str(&out), &msg);
		if (msg.len == 0)
			strbuf_addstr(&msg, berth_last_error());
		start_error(rt, "nginx failed to start", msg.buf);
		goto out;
	}
	ret = wait_generation(rt, log_from, what);
	if (ret < 0) {
		/* A master we cannot see serving is no router: stop it. */
		if (rt->pid == 0)
			rt->pid = read_pid(rt);
		if (rt->pid != 0 && pid_alive(rt->pid)) {
			kill_family(rt->pid, SIGTERM);
			if (wait_gone(rt->pid, now_ms() + 2000) < 0)
				kill_family(rt->pid, SIGKILL);
		}
		rt->pid = 0;
		unlink(rt->pidfile);
	}
out:
	strbuf_release(&out);
	strbuf_release(&msg);
	return ret;
}

/*
 * Reload the running master and wait until it serves rt->generation
 * and none of its old workers accepts connections any more: nginx lets
 * old and new workers serve side by side for 100 ms after a reload.
 */
static int
reload(struct router *rt, const char *what)
{
	struct strbuf out = STRBUF_INIT, msg = STRBUF_INIT;
	struct pidlist old = { NULL, 0, 0 };
	off_t log_from = file_size(rt->errlog);
	int64_t deadline;
	size_t i;
	int ret = -1;

	children(rt->pid, &old);
	if (nginx_run(rt, &out, "-s", "reload", (const char *)NULL) < 0) {
		if (!find_emerg(strbuf_str(&out), &msg))
			last_line(strbuf_str(&out), &msg);
		berth_error("router: %s: nginx -s reload failed: %s", what,
		    msg.len > 0 ? msg.buf : berth_last_error());
		goto out;
	}
	if (wait_generation(rt, log_from, what) < 0)
		goto out;
	deadline = now_ms() + DEADLINE_MS;
	for (i = 0; i < old.nr; i++) {
		while (!worker_retired(old.v[i])) {
			if (now_ms() >= deadline) {
				berth_error("router: %s: nginx's old worker "
				    "(pid %ld) still accepts connections "
				    "after %d s; see %s", what,
				    (long)old.v[i], DEADLINE_MS / 1000,
				    rt->errlog);
				goto out;
			}
			usleep(POLL_MS * 1000);
		}
	}
	ret = 0;
out:
	free(old.v);
	strbuf_release(&out);
	strbuf_release(&msg);
	return ret;
}

/* A new master's dict is empty: give it every route berthd knows. */
static int
push_routes(struct router *rt, const char *what)
{
	size_t i;

	if (!lua_ping(rt->ctl_sock))
		return berth_error("router: %s: nginx does not answer on %s; "
		    "see %s", what, rt->ctl_sock, rt->errlog);
	for (i = 0; i < rt->nroutes; i++)
		if (lua_put(rt->ctl_sock, rt->routes[i].app,
		    rt->routes[i].ports, rt->routes[i].n) < 0)
			return -1;
	return 0;
}

/* Make nginx serve the files as they are now: reload, or start anew. */
static int
apply(struct router *rt, const char *what)
{
	if (next_generation(rt) < 0)
		return -1;
	if (test_config(rt, what) < 0)
		return -1;
	if (rt->pid != 0 && pid_alive(rt->pid))
		return reload(rt, what);
	if (launch(rt, what) < 0)
		return -1;
	return rt->lua ? push_routes(rt, what) : 0;
}

/*
 * Saved state of one app's file during a change: staging/APP.prev is the
 * previous conf.d/APP.conf, staging/APP.none says there was none.
 */
static char *
staged(const struct router *rt, const char *app, const char *ext)
{
	return xasprintf("%s/%s.%s", rt->staging, app, ext);
}

/* Put the saved state of a change back into conf.d/; drop the save. */
static void
restore(const struct router *rt, const char *app)
{
	char *live = xasprintf("%s/%s.conf", rt->confd, app);
	char *prev = staged(rt, app, "prev"), *none = staged(rt, app, "none");

	if (path_exists(prev))
		rename(prev, live);
	else if (path_exists(none)) {
		unlink(live);
		unlink(none);
	}
	free(live);
	free(prev);
	free(none);
}

/* Forget the saved state: the change is done. */
static void
commit(const struct router *rt, const char *app)
{
	char *prev = staged(rt, app, "prev"), *none = staged(rt, app, "none");

	unlink(prev);
	unlink(none);
	free(prev);
	free(none);
}

/*
 * Undo changes a previous berthd left half done: each staging/APP.prev
 * or APP.none goes back into conf.d/, and anything else there goes.
 */
static void
recover(const struct router *rt)
{
	DIR *d = opendir(rt->staging);
	struct dirent *de;
	struct strvec apps = STRVEC_INIT;
	size_t i;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *dot = strrchr(de->d_name, '.');
		char *path;

		if (de->d_name[0] == '.')
			continue;
		if (dot != NULL && (strcmp(dot, ".prev") == 0 ||
		    strcmp(dot, ".none") == 0)) {
			char *app = xstrndup(de->d_name,
			    (size_t)(dot - de->d_name));

			if (name_check_app(app) == 0) {
				strvec_push(&apps, app);
				free(app);
				continue;
			}
			free(app);
		}
		path = path_join(rt->staging, de->d_name);
		unlink(path);
		free(path);
	}
	closedir(d);
	for (i = 0; i < apps.nr; i++)
		restore(rt, apps.v[i]);
	strvec_clear(&apps);
	berth_clear_error();
}

/*
 * Replace conf.d/APP.conf with text (NULL: remove it) and make nginx
 * serve it. The candidate is written to staging/, the previous file
 * saved there; a failed test or reload puts it back.
 */
static int
change(struct router *rt, const char *app, const char *text,
    const char *what)
{
	char *live = xasprintf("%s/%s.conf", rt->confd, app);
	char *cand = staged(rt, app, "conf");
	char *prev = staged(rt, app, "prev"), *none = staged(rt, app, "none");
	int had = path_exists(live), ret = -1;

	if (text == NULL && !had) {
		ret = 0;	/* nothing routed: nothing to do */
		goto out;
	}
	if (text != NULL &&
	    write_file_atomic(cand, text, strlen(text), 0644) < 0)
		goto out;
	if (had ? rename(live, prev) < 0 :
	    write_file_atomic(none, "", 0, 0644) < 0) {
		berth_error_errno("router: %s: cannot save %s", what, live);
		unlink(cand);
		goto out;
	}
	if (text != NULL && rename(cand, live) < 0) {
		berth_error_errno("router: %s: cannot write %s", what, live);
		restore(rt, app);
		unlink(cand);
		goto out;
	}
	if (apply(rt, what) < 0) {
		restore(rt, app);
		goto out;
	}
	commit(rt, app);
	ret = 0;
out:
	free(live);
	free(cand);
	free(prev);
	free(none);
	return ret;
}

/* What `nginx -V` prints ("" when it fails); caller frees. */
static char *
nginx_version(const struct router *rt)
{
	struct strbuf version = STRBUF_INIT;
	struct child c = CHILD_INIT;

	strvec_push(&c.args, rt->nginx);
	strvec_push(&c.args, "-V");
	c.on_line = collect_line;
	c.data = &version;
	c.timeout_ms = NGINX_RUN_MS;
	if (run_command(&c) < 0)
		strbuf_reset(&version);	/* assume all modules */
	child_clear(&c);
	berth_clear_error();
	return strbuf_detach(&version);
}

/*
 * The temp path lines for the modules this nginx has: fastcgi, uwsgi
 * and scgi can be left out of a build (-V says --without-...).
 */
static char *
module_temp_paths(const char *version)
{
	static const char *const mods[] = { "fastcgi", "uwsgi", "scgi" };
	struct strbuf lines = STRBUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		char *without = xasprintf("--without-http_%s_module",
		    mods[i]);

		if (strstr(version, without) == NULL)
			strbuf_addf(&lines, "\t%s_temp_path tmp/%s;\n",
			    mods[i], mods[i]);
		free(without);
	}
	return strbuf_detach(&lines);
}

/*
 * Write nginx.conf and listen.conf for rt->port, and with the Lua
 * module the Lua beside them and run/ (0700: nginx makes its socket
 * 0666).
 */
static int
write_main_conf(struct router *rt)
{
	char *version = nginx_version(rt);
	char *temps = module_temp_paths(version);
	char *line = xasprintf("listen %d;\n", rt->port);
	char *listen_path = path_join(rt->dir, "listen.conf");
	char *run_dir = path_join(rt->dir, LUA_CTL_DIR);
	char *text;
	int ret;

	rt->lua = rt->want_lua != ROUTER_LUA_OFF &&
	    lua_detect(version, &rt->load_lines);
	if (rt->want_lua == ROUTER_LUA_ON && !rt->lua)
		ret = berth_error("berth.ini [router] lua = on, but nginx has "
		    "no Lua module: apt-get install libnginx-mod-http-lua, or "
		    "set lua = auto");
	else
		ret = 0;
	text = xasprintf(main_conf, strbuf_str(&rt->load_lines), temps,
	    rt->lua ? lua_http_conf() : "", rt->port, rt->port);
	if (ret == 0)
		ret = write_file_atomic(listen_path, line, strlen(line), 0644);
	if (ret == 0 && rt->lua)
		ret = mkdir_p(run_dir, 0700) == 0 && chmod(run_dir, 0700) == 0 ?
		    lua_write_module(rt->dir) :
		    berth_error_errno("cannot create %s", run_dir);
	if (ret == 0)
		ret = write_file_atomic(rt->conf, text, strlen(text), 0644);
	free(run_dir);
	free(listen_path);
	free(line);
	free(text);
	free(temps);
	free(version);
	return ret;
}

static int refresh_confd(struct router *rt);

int
router_start(const struct berth_root *r, struct router **out)
{
	static const char *const dirs[] = { "conf.d", "logs", "tmp",
	    "staging" };
	struct router *rt = xcalloc(1, sizeof(*rt));
	pid_t pid;
	size_t i;

	*out = NULL;
	rt->dir = root_path(r, "router");
	rt->prefix = xasprintf("%s/", rt->dir);
	rt->conf = path_join(rt->dir, "nginx.conf");
	rt->confd = path_join(rt->dir, "conf.d");
	rt->staging = path_join(rt->dir, "staging");
	rt->errlog = path_join(rt->dir, "logs/error.log");
	rt->pidfile = path_join(rt->dir, "nginx.pid");
	rt->genfile = path_join(rt->dir, "generation.conf");
	rt->ctl_sock = path_join(rt->dir, LUA_CTL_SOCK);
	strbuf_init(&rt->load_lines);
	rt->domain = xstrdup(r->cfg.domain);
	rt->want_lua = r->cfg.router_lua;
	rt->port = r->cfg.router_port;

	rt->nginx = find_nginx(r->cfg.nginx);
	if (rt->nginx == NULL) {
		if (strchr(r->cfg.nginx, '/') != NULL)
			berth_error("nginx is not installed at %s (berth.ini "
			    "[router] nginx): %s", r->cfg.nginx,
			    not_installed_hint);
		else
			berth_error("nginx is not installed: %s",
			    not_installed_hint);
		router_free(rt);
		return 1;
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = path_join(rt->dir, dirs[i]);
		int rc = mkdir_p(p, 0755);

		free(p);
		if (rc < 0)
			goto fail;
	}
	recover(rt);
	rt->generation = stored_generation(rt);
	if (write_main_conf(rt) < 0 || refresh_confd(rt) < 0)
		goto fail;

	pid = read_pid(rt);
	if (pid == 0 || !is_our_nginx(rt, pid)) {
		unlink(rt->pidfile);		/* stale, or none */
		pid = find_master(rt);
		if (pid != 0) {
			/* Ours, but its pid file is gone: nginx -s needs it. */
			char *text = xasprintf("%ld\n", (long)pid);
			int rc = write_file_atomic(rt->pidfile, text,
			    strlen(text), 0644);

			free(text);
			if (rc < 0)
				goto fail;
		}
	}
	rt->pid = pid;		/* adopted, or 0: start one */
	if (apply(rt, pid != 0 ? "adopting the running nginx" :
	    "starting nginx") < 0)
		goto fail;
	/* A master that ran without Lua has an empty dict, too. */
	if (pid != 0 && rt->lua && rt->nroutes > 0 &&
	    push_routes(rt, "adopting the running nginx") < 0)
		goto fail;
	*out = rt;
	return 0;
fail:
	router_free(rt);
	return -1;
}

/*
 * The location berth answers an error of nginx's own with (not an
 * app's: proxy_intercept_errors stays off): "<h1>APP HEADING</h1>
 * <p>APP TEXT — berth</p>".
 */
static void
add_error_page(struct strbuf *sb, int code, const char *app,
    const char *heading, const char *text)
{
	strbuf_addf(sb,
	    "\terror_page %d @berth_%d;\n"
	    "\tlocation @berth_%d {\n"
	    "\t\tdefault_type text/html;\n"
	    "\t\treturn %d '<!DOCTYPE html>\\n<html><head><meta "
	    "charset=\"utf-8\"><title>%s</title></head>\\n<body><h1>%s %s"
	    "</h1><p>%s %s \xe2\x80\x94 berth</p></body></html>\\n';\n"
	    "\t}\n", code, code, code, code, app, app, heading, app, text);
}

/* What every proxying location sets, after its proxy_pass. */
static const char proxy_conf[] =
    "\t\tproxy_http_version 1.1;\n"
    "\t\tproxy_set_header Host $http_host;\n"
    "\t\tproxy_set_header Upgrade $http_upgrade;\n"
    "\t\tproxy_set_header Connection $berth_connection;\n"
    "\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
    "\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
    "\t\tproxy_set_header X-Forwarded-Port $server_port;\n"
    "\t\tproxy_set_header X-Request-Id $request_id;\n"
    "\t\tproxy_set_header X-Request-Start t=${msec};\n"
    "\t\t# A dyno going away during a rollout: try another one.\n"
    "\t\tproxy_next_upstream error timeout http_502;\n"
    "\t\tproxy_next_upstream_timeout 10s;\n"
    "\t\tproxy_connect_timeout 5s;\n"
    "\t\tproxy_send_timeout 60s;\n"
    "\t\tproxy_read_timeout 60s;\n"
    "\t\t# Responses stream to the client, never to disk.\n"
    "\t\tproxy_max_temp_file_size 0;\n"
    "\t}\n\n";

/*
 * The config of one app; caller frees. With Lua it does not depend on
 * the ports (they are set over the control socket), so it changes only
 * when the app is first routed; without, it is an upstream of them, or
 * the 503 page when there are none.
 */
static char *
app_conf(const struct router *rt, const char *app, const int *ports,
    size_t nports)
{
	struct strbuf sb = STRBUF_INIT;
	char *upstream = xasprintf("berth_%s", app), *p;
	size_t i;

	for (p = upstream; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	strbuf_addf(&sb, "# %s - written by berthd; do not edit.\n", app);
	if (!rt->lua && nports > 0) {
		strbuf_addf(&sb, "upstream %s {\n", upstream);
		for (i = 0; i < nports; i++)
			strbuf_addf(&sb, "\tserver 127.0.0.1:%d;\n", ports[i]);
		strbuf_addstr(&sb, "}\n\n");
	}
	strbuf_addf(&sb, "server {\n\tinclude listen.conf;\n"
	    "\tserver_name %s.%s;\n", app, rt->domain);
	if (!rt->lua && nports == 0) {
		strbuf_addf(&sb, "\tdefault_type text/html;\n"
		    "\treturn 503 '<!DOCTYPE html>\\n<html><head>"
		    "<meta charset=\"utf-8\"><title>%s</title></head>\\n"
		    "<body><h1>%s is not running</h1><p>%s has no web dynos "
		    "running \xe2\x80\x94 berth</p></body></html>\\n';\n}\n",
		    app, app, app);
		goto out;
	}
	if (rt->lua)
		lua_app_location(&sb, app);
	else
		strbuf_addf(&sb, "\n\tlocation / {\n\t\tproxy_pass http://%s;\n",
		    upstream);
	strbuf_addstr(&sb, proxy_conf);
	if (rt->lua)
		add_error_page(&sb, 503, app, "is not running",
		    "has no web dynos running");
	add_error_page(&sb, 502, app, "is not responding", "did not answer");
	add_error_page(&sb, 504, app, "timed out", "did not answer in time");
	strbuf_addstr(&sb, "}\n");
out:
	free(upstream);
	return strbuf_detach(&sb);
}

/* Remember app's ports (NULL, 0: forget the app). */
static void
remember(struct router *rt, const char *app, const int *ports, size_t n)
{
	struct route *r = NULL;
	size_t i;

	for (i = 0; i < rt->nroutes; i++)
		if (strcmp(rt->routes[i].app, app) == 0)
			r = &rt->routes[i];
	if (r == NULL && ports == NULL)
		return;
	if (r == NULL) {
		rt->routes = xrealloc(rt->routes, (rt->nroutes + 1) *
		    sizeof(*rt->routes));
		r = &rt->routes[rt->nroutes++];
		r->app = xstrdup(app);
		r->ports = NULL;
	}
	free(r->ports);
	if (ports == NULL) {
		free(r->app);
		*r = rt->routes[--rt->nroutes];
		return;
	}
	r->ports = xcalloc(n ? n : 1, sizeof(*r->ports));
	memcpy(r->ports, ports, n * sizeof(*ports));
	r->n = n;
}

/* Whether path holds exactly text. */
static int
file_is(const char *path, const char *text)
{
	struct strbuf sb = STRBUF_INIT;
	int same = read_file(path, &sb, 1 << 20) == 0 &&
	    strcmp(strbuf_str(&sb), text) == 0;

	strbuf_release(&sb);
	berth_clear_error();
	return same;
}

/*
 * The ports of the upstream in a server block written without Lua
 * ("server 127.0.0.1:PORT;" lines); a Lua one has none. Caller frees.
 */
static size_t
conf_ports(const char *text, int **ports)
{
	static const char key[] = "\tserver 127.0.0.1:";
	const char *p = text;
	size_t n = 0;
	long port;

	*ports = NULL;
	while ((p = strstr(p, key)) != NULL) {
		p += strlen(key);
		port = strtol(p, NULL, 10);
		if (port > 0 && port <= 65535) {
			*ports = xrealloc(*ports, (n + 1) * sizeof(**ports));
			(*ports)[n++] = (int)port;
		}
	}
	return n;
}

/*
 * Rewrite each conf.d/APP.conf that is not in the form this router
 * writes, keeping the ports it names (with Lua: remembered, for
 * push_routes()): after berth.ini [router] lua changed (or the Lua
 * module went away) a block of the other form fails nginx -t
 * ("unknown directive log_by_lua_block"), and nginx would not start.
 * Called before the first apply(), whose nginx -t covers what this
 * writes.
 */
static int
refresh_confd(struct router *rt)
{
	DIR *d = opendir(rt->confd);
	struct dirent *de;
	int ret = 0;

	if (d == NULL)
		return berth_error_errno("cannot read %s", rt->confd);
	while (ret == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct strbuf old = STRBUF_INIT;
		char *app, *path, *text;
		int *ports;
		size_t n;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		app = xstrndup(de->d_name, len - 5);
		path = path_join(rt->confd, de->d_name);
		/* Not an app's (berthd writes no such name): leave it. */
		if (name_check_app(app) == 0 &&
		    read_file(path, &old, 1 << 20) == 0) {
			n = conf_ports(strbuf_str(&old), &ports);
			text = app_conf(rt, app, ports, n);
			if (strcmp(text, strbuf_str(&old)) != 0)
				ret = write_file_atomic(path, text,
				    strlen(text), 0644);
			if (rt->lua && n > 0)
				remember(rt, app, ports, n);
			free(text);
			free(ports);
		}
		if (ret == 0)
			berth_clear_error();
		strbuf_release(&old);
		free(path);
		free(app);
	}
	closedir(d);
	return ret;
}

int
router_set(struct router *rt, const char *app, const int *ports,
    size_t nports)
{
	char *text, *what, *live;
	size_t i;
	int ret = 0;

	if (name_check_app(app) < 0)
		return -1;
	for (i = 0; i < nports; i++)
		if (ports[i] < 1 || ports[i] > 65535)
			return berth_error("router: %s: port %d is not a "
			    "port number", app, ports[i]);
	what = xasprintf("routing %s", app);
	text = app_conf(rt, app, ports, nports);
	live = xasprintf("%s/%s.conf", rt->confd, app);
	if (rt->lua) {
		/* The ports first: a new server block serves them at once. */
		remember(rt, app, ports, nports);
		ret = lua_put(rt->ctl_sock, app, ports, nports);
	}
	if (ret == 0 && !(rt->lua && file_is(live, text)))
		ret = change(rt, app, text, what);
	free(live);
	free(what);
	free(text);
	return ret;
}

int
router_remove(struct router *rt, const char *app)
{
	char *what;
	int ret;

	if (name_check_app(app) < 0)
		return -1;
	what = xasprintf("removing the route of %s", app);
	ret = change(rt, app, NULL, what);
	if (ret == 0 && rt->lua) {
		remember(rt, app, NULL, 0);
		ret = lua_delete(rt->ctl_sock, app);
	}
	free(what);
	return ret;
}

void
router_stop(struct router *rt)
{
	struct strbuf out = STRBUF_INIT;
	pid_t pid;

	if (rt == NULL)
		return;
	pid = rt->pid != 0 ? rt->pid : read_pid(rt);
	if (pid != 0 && is_our_nginx(rt, pid)) {
		/* Graceful: workers finish the requests they serve. */
		if (nginx_run(rt, &out, "-s", "quit", (const char *)NULL) < 0)
			kill(pid, SIGQUIT);
		if (wait_gone(pid, now_ms() + DEADLINE_MS) < 0) {
			kill_family(pid, SIGTERM);
			if (wait_gone(pid, now_ms() + 2000) < 0) {
				kill_family(pid, SIGKILL);
				wait_gone(pid, now_ms() + 2000);
			}
		}
	}
	unlink(rt->pidfile);
	strbuf_release(&out);
	berth_clear_error();
	router_free(rt);
}

/* Wait until no retired worker (of a reload) still runs. */
static int
drain_workers(struct router *rt, int64_t deadline)
{
	pid_t master = read_pid(rt);

	if (master <= 0)
		return 0;
	for (;;) {
		struct pidlist kids = { NULL, 0, 0 };
		size_t i, draining = 0;

		children(master, &kids);
		for (i = 0; i < kids.nr; i++)
			if (pid_alive(kids.v[i]) && worker_retired(kids.v[i]))
				draining++;
		free(kids.v);
		if (draining == 0)
			return 0;
		if (now_ms() >= deadline)
			return -1;
		usleep(POLL_MS * 1000);
	}
}

int
router_drain(struct router *rt, const char *app, const int *ports, size_t n,
    int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int busy;

	if (!rt->lua)
		return drain_workers(rt, deadline);
	while ((busy = lua_inflight(rt->ctl_sock, app, ports, n)) > 0) {
		if (now_ms() >= deadline)
			return -1;
		usleep(POLL_MS * 1000);
	}
	return busy < 0 ? -1 : 0;
}

const char *
router_mode(const struct router *rt)
{
	return rt->lua ? "lua" : "reload";
}

long
router_generation(const struct router *rt)
{
	return rt->generation;
}
