/*
 * router-nginx.c - the router as an nginx instance of berthd's own:
 * starting or adopting it, applying a change (a checked reload, and
 * knowing when it serves), setting routes and stopping it. The files it
 * is given are router-conf.c's, its processes router-proc.c's.
 *
 * Everything lives under ROOT/router/, which is nginx's prefix (-p):
 *
 *   nginx.conf        the main config, rewritten by every router_start()
 *   generation.conf   the generation location (see below)
 *   listen.conf       "listen PORT;" for the app servers, so that a new
 *                     berth.ini port needs no change to conf.d/
 *   conf.d/APP.conf   one server block per routed app; nginx.conf
 *                     includes the *.conf files there and nothing else
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
#include "router-int.h"
#include "router-lua.h"

#include <curl/curl.h>
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

static const char not_installed_hint[] =
    "apps are reachable on their dyno ports only; install nginx "
    "(apt-get install nginx-light) and restart berthd";


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
	free(rt->berth_http);
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
	c.on_line = router_collect_line;
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
			rt->pid = nginx_read_pid(rt);
		if (served_generation(rt) == rt->generation) {
			ret = 0;
			break;
		}
		if (log_emerg_since(rt, log_from, &msg)) {
			start_error(rt, what, msg.buf);
			break;
		}
		if (rt->pid != 0 && !nginx_alive(rt->pid)) {
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
		    rt->pid != 0 && nginx_alive(rt->pid) ?
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
	/* A killed master leaves its socket: nginx would not bind it. */
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
			rt->pid = nginx_read_pid(rt);
		if (rt->pid != 0 && nginx_alive(rt->pid)) {
			nginx_kill_family(rt->pid, SIGTERM);
			if (nginx_wait_gone(rt->pid, now_ms() + 2000) < 0)
				nginx_kill_family(rt->pid, SIGKILL);
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

	nginx_children(rt->pid, &old);
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
		while (!nginx_worker_retired(old.v[i])) {
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
int
router_apply(struct router *rt, const char *what)
{
	if (conf_next_generation(rt) < 0)
		return berth_error("router: %s: %s", what, berth_last_error());
	if (test_config(rt, what) < 0)
		return -1;
	if (rt->pid != 0 && nginx_alive(rt->pid))
		return reload(rt, what);
	if (launch(rt, what) < 0)
		return -1;
	return rt->lua ? push_routes(rt, what) : 0;
}









/*
 * The running master of ours to adopt, 0 when there is none; its pid
 * file is written again when it was lost (nginx -s needs it), -1 when
 * that fails.
 */
static pid_t
running(const struct router *rt)
{
	pid_t pid = nginx_read_pid(rt);
	char *text;
	int rc;

	if (pid != 0 && nginx_is_ours(rt, pid))
		return pid;
	unlink(rt->pidfile);		/* stale, or none */
	pid = nginx_find_master(rt);
	if (pid == 0)
		return 0;
	text = xasprintf("%ld\n", (long)pid);
	rc = write_file_atomic(rt->pidfile, text, strlen(text), 0644);
	free(text);
	return rc < 0 ? -1 : pid;
}

/* Whether the adopted nginx serves the generation on disk (and Lua). */
static int
serves_as_is(const struct router *rt)
{
	return rt->generation > 0 && served_generation(rt) ==
	    rt->generation && (!rt->lua || lua_ping(rt->ctl_sock));
}

int
router_start(const struct berth_root *r, struct router **out)
{
	static const char *const dirs[] = { "conf.d", "logs", "tmp",
	    "staging" };
	struct router *rt = xcalloc(1, sizeof(*rt));
	int recovered, changed;
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
	rt->berth_http = r->cfg.http_listen != NULL && *r->cfg.http_listen ?
	    xstrdup(r->cfg.http_listen) : NULL;
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
	recovered = conf_recover(rt);
	rt->generation = conf_stored_generation(rt);
	if ((changed = conf_write_main(rt)) < 0 || (pid = running(rt)) < 0)
		goto fail;
	rt->pid = pid;		/* adopted, or 0: start one */
	/*
	 * An nginx that serves these very files needs no reload; nothing
	 * is written either, which a full disk would refuse.
	 */
	if (pid != 0 && !changed && recovered == 0 && serves_as_is(rt))
		;
	else if (router_apply(rt, pid != 0 ? "adopting the running nginx" :
	    "starting nginx") < 0)
		goto fail;
	*out = rt;
	return 0;
fail:
	router_free(rt);
	return -1;
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

int
router_set(struct router *rt, const char *app, const int *ports,
    size_t nports)
{
	char *text, *what;
	size_t i;
	int ret;

	if (name_check_app(app) < 0)
		return -1;
	for (i = 0; i < nports; i++)
		if (ports[i] < 1 || ports[i] > 65535)
			return berth_error("router: %s: port %d is not a "
			    "port number", app, ports[i]);
	if (rt->lua) {
		remember(rt, app, ports, nports);
		return lua_put(rt->ctl_sock, app, ports, nports);
	}
	what = xasprintf("routing %s", app);
	text = conf_app(rt, app, ports, nports);
	ret = conf_unchanged(rt, app, text) ? 0 :
	    conf_change(rt, app, text, what);
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
	if (rt->lua) {
		remember(rt, app, NULL, 0);
		return lua_delete(rt->ctl_sock, app);
	}
	what = xasprintf("removing the route of %s", app);
	ret = conf_change(rt, app, NULL, what);
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
	pid = rt->pid != 0 ? rt->pid : nginx_read_pid(rt);
	if (pid != 0 && nginx_is_ours(rt, pid)) {
		/* Graceful: workers finish the requests they serve. */
		if (nginx_run(rt, &out, "-s", "quit", (const char *)NULL) < 0)
			kill(pid, SIGQUIT);
		if (nginx_wait_gone(pid, now_ms() + DEADLINE_MS) < 0) {
			nginx_kill_family(pid, SIGTERM);
			if (nginx_wait_gone(pid, now_ms() + 2000) < 0) {
				nginx_kill_family(pid, SIGKILL);
				nginx_wait_gone(pid, now_ms() + 2000);
			}
		}
	}
	unlink(rt->pidfile);
	strbuf_release(&out);
	berth_clear_error();
	router_free(rt);
}


int
router_drain(struct router *rt, const char *app, const int *ports, size_t n,
    int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int busy;

	if (!rt->lua)
		return nginx_drain_workers(rt, deadline);
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

pid_t
router_master(const struct router *rt)
{
	return rt->pid;
}

int
router_running(struct router *rt)
{
	return rt->pid != 0 && nginx_alive(rt->pid);
}

int
router_revive(struct router *rt)
{
	char *what;
	int ret;

	if (router_running(rt))
		return 0;
	what = xasprintf("restarting nginx (pid %ld exited)", (long)rt->pid);
	rt->pid = 0;
	nginx_stop_orphans(rt, now_ms() + 2000);
	ret = router_apply(rt, what);
	free(what);
	return ret;
}
