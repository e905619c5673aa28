/*
 * router-conf.c - the files berthd writes for its nginx: nginx.conf
 * (with the Lua upstream and the one server block of every app, when
 * nginx has the module), listen.conf, generation.conf, and without Lua
 * conf.d/APP.conf, one server block per app; and how a change of one
 * is staged so that a failed test or a crash puts the previous one
 * back (see router-int.h).
 */
#include "router-lua.h"
#include "names.h"
#include "run-command.h"
#include "router-int.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a host no app has gets (in nginx's single quotes). */
#define NO_APP_PAGE "<!DOCTYPE html>\\n<html><head><meta charset=\"utf-8\">" \
	"<title>No app here</title></head>\\n<body><h1>No app at this " \
	"address</h1><p>No app at this address \xe2\x80\x94 berth</p></body>" \
	"</html>\\n"

static char *apps_server(const struct router *rt);

/*
 * The main config. %s are the load_module lines (Lua), the temp paths
 * nginx knows and the Lua upstream's lines, then the listening port
 * (twice), then the apps: the one server block of them all (Lua), or
 * the include of their own server blocks.
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
"\t\treturn 404 '" NO_APP_PAGE "';\n"
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
"%s"
"%s"
"}\n";

/* berthd's own HTTP endpoint ([http] listen) as http://berth.DOMAIN/. */
static const char berth_server[] =
"\n"
"\t# berthd's HTTP endpoint: its API, Slack and GitHub.\n"
"\tserver {\n"
"\t\tinclude listen.conf;\n"
"\t\tserver_name berth.%s;\n"
"\t\tclient_max_body_size 1m;\n"
"\t\tlocation / {\n"
"\t\t\tproxy_pass http://%s;\n"
"\t\t\tproxy_set_header Host $host;\n"
"\t\t\tproxy_set_header X-Forwarded-For $remote_addr;\n"
"\t\t\tproxy_buffering off;\n"
"\t\t\tproxy_read_timeout 1h;\n"
"\t\t}\n"
"\t}\n";

static const char generation_conf[] =
"# generation.conf - written by berthd on every change; do not edit.\n"
"location = /__berth/generation {\n"
"\tdefault_type text/plain;\n"
"\treturn 200 \"%ld\\n\";\n"
"}\n";


void
router_collect_line(const char *line, void *data)
{
	struct strbuf *out = data;

	strbuf_addstr(out, line);
	strbuf_addch(out, '\n');
}

/* What `nginx -V` prints ("" when it fails); caller frees. */
static char *
nginx_version(const struct router *rt)
{
	struct strbuf version = STRBUF_INIT;
	struct child c = CHILD_INIT;

	strvec_push(&c.args, rt->nginx);
	strvec_push(&c.args, "-V");
	c.on_line = router_collect_line;
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
 * 0666). A file that holds what it should already is not written: 1
 * when one changed, 0 when none did.
 */
int
conf_write_main(struct router *rt)
{
	char *version = nginx_version(rt);
	char *temps = module_temp_paths(version);
	char *line = xasprintf("listen %d;\n", rt->port);
	char *listen_path = path_join(rt->dir, "listen.conf");
	char *run_dir = path_join(rt->dir, LUA_CTL_DIR);
	char *text, *apps, *berth;
	int ret, changed = 0;

	rt->lua = rt->want_lua != ROUTER_LUA_OFF &&
	    lua_detect(version, &rt->load_lines);
	if (rt->want_lua == ROUTER_LUA_ON && !rt->lua)
		ret = berth_error("berth.ini [router] lua = on, but nginx has "
		    "no Lua module: apt-get install libnginx-mod-http-lua, or "
		    "set lua = auto");
	else
		ret = 0;
	apps = rt->lua ? apps_server(rt) :
	    xstrdup("\tinclude conf.d/*.conf;\n");
	berth = rt->berth_http != NULL ? xasprintf(berth_server, rt->domain,
	    rt->berth_http) : xstrdup("");
	text = xasprintf(main_conf, strbuf_str(&rt->load_lines), temps,
	    rt->lua ? lua_http_conf() : "", rt->port, rt->port, apps, berth);
	free(berth);
	free(apps);
	if (ret == 0)
		changed |= ret = write_file_changed(listen_path, line,
		    strlen(line), 0644);
	if (ret >= 0 && rt->lua)
		changed |= ret = mkdir_p(run_dir, 0700) == 0 &&
		    chmod(run_dir, 0700) == 0 ? lua_write_module(rt->dir) :
		    berth_error_errno("cannot create %s", run_dir);
	if (ret >= 0)
		changed |= ret = write_file_changed(rt->conf, text,
		    strlen(text), 0644);
	if (ret >= 0)
		ret = changed;
	free(run_dir);
	free(listen_path);
	free(line);
	free(text);
	free(temps);
	free(version);
	return ret;
}

/* Bump the generation and write generation.conf. */
int
conf_next_generation(struct router *rt)
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
long
conf_stored_generation(const struct router *rt)
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
 * The server block of one app without Lua, an upstream of its ports or
 * the 503 page when there are none; caller frees.
 */
char *
conf_app(const struct router *rt, const char *app, const int *ports,
    size_t nports)
{
	struct strbuf sb = STRBUF_INIT;
	char *upstream = xasprintf("berth_%s", app), *p;
	size_t i;

	for (p = upstream; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	strbuf_addf(&sb, "# %s - written by berthd; do not edit.\n", app);
	if (nports > 0) {
		strbuf_addf(&sb, "upstream %s {\n", upstream);
		for (i = 0; i < nports; i++)
			strbuf_addf(&sb, "\tserver 127.0.0.1:%d;\n", ports[i]);
		strbuf_addstr(&sb, "}\n\n");
	}
	strbuf_addf(&sb, "server {\n\tinclude listen.conf;\n"
	    "\tserver_name %s.%s;\n", app, rt->domain);
	if (nports == 0) {
		strbuf_addf(&sb, "\tdefault_type text/html;\n"
		    "\treturn 503 '<!DOCTYPE html>\\n<html><head>"
		    "<meta charset=\"utf-8\"><title>%s</title></head>\\n"
		    "<body><h1>%s is not running</h1><p>%s has no web dynos "
		    "running \xe2\x80\x94 berth</p></body></html>\\n';\n}\n",
		    app, app, app);
		goto out;
	}
	strbuf_addf(&sb, "\n\tlocation / {\n\t\tproxy_pass http://%s;\n",
	    upstream);
	strbuf_addstr(&sb, proxy_conf);
	add_error_page(&sb, 502, app, "is not responding", "did not answer");
	add_error_page(&sb, 504, app, "timed out", "did not answer in time");
	strbuf_addstr(&sb, "}\n");
out:
	free(upstream);
	return strbuf_detach(&sb);
}

/*
 * With Lua, the one server block of every app (see lua_server_start):
 * berth's pages name the app from $berth_app. Caller frees.
 */
static char *
apps_server(const struct router *rt)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "\n\t# Every app: APP.DOMAIN.\n");
	lua_server_start(&sb, rt->domain);
	strbuf_addstr(&sb, proxy_conf);
	strbuf_addstr(&sb, "\terror_page 404 @berth_404;\n"
	    "\tlocation @berth_404 {\n"
	    "\t\tdefault_type text/html;\n"
	    "\t\treturn 404 '" NO_APP_PAGE "';\n"
	    "\t}\n");
	add_error_page(&sb, 503, "$berth_app", "is not running",
	    "has no web dynos running");
	add_error_page(&sb, 502, "$berth_app", "is not responding",
	    "did not answer");
	add_error_page(&sb, 504, "$berth_app", "timed out",
	    "did not answer in time");
	strbuf_addstr(&sb, "\t}\n");
	return strbuf_detach(&sb);
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
 * Returns how many it put back.
 */
int
conf_recover(const struct router *rt)
{
	DIR *d = opendir(rt->staging);
	struct dirent *de;
	struct strvec apps = STRVEC_INIT;
	size_t i;

	if (d == NULL)
		return 0;
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
	return (int)i;
}

/*
 * Replace conf.d/APP.conf with text (NULL: remove it) and make nginx
 * serve it. The candidate is written to staging/, the previous file
 * saved there; a failed test or reload puts it back.
 */
int
conf_change(struct router *rt, const char *app, const char *text,
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
	    write_file_atomic(cand, text, strlen(text), 0644) < 0) {
		berth_error("router: %s: %s", what, berth_last_error());
		goto out;
	}
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
	if (router_apply(rt, what) < 0) {
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

int
conf_unchanged(const struct router *rt, const char *app, const char *text)
{
	struct strbuf sb = STRBUF_INIT;
	char *live = xasprintf("%s/%s.conf", rt->confd, app);
	int same = read_file(live, &sb, 1 << 20) == 0 &&
	    strcmp(strbuf_str(&sb), text) == 0;

	strbuf_release(&sb);
	free(live);
	berth_clear_error();
	return same;
}
