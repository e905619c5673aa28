/*
 * router-lua.c - the router's upstreams without reloads (see
 * router-lua.h): the Lua nginx runs, the configuration around it, and
 * the control socket's client (libcurl over a unix socket).
 */
#include "router-lua.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_TIMEOUT_MS	2000
#define CTL_REPLY_MAX	65536

/*
 * The Lua, loaded once by the master (init_by_lua_file) so every worker
 * has it. Shared dicts: berth_ports (app -> "p1,p2", "" = no dynos),
 * berth_turns (app -> round-robin counter), berth_busy ("app:port" ->
 * requests in flight). A request takes its app's port list once
 * (access), so its retries walk one list; a refused connect moves on to
 * the next port (proxy_next_upstream), each port tried at most once.
 */
static const char lua_source[] =
"-- berth_router.lua - written by berthd on every start; do not edit.\n"
"local balancer = require \"ngx.balancer\"\n"
"local ports_of = ngx.shared.berth_ports\n"
"local turns = ngx.shared.berth_turns\n"
"local busy = ngx.shared.berth_busy\n"
"local parsed = {}\n"
"\n"
"-- The app's ports; nil and 404 (no such app) or 503 (no web dynos).\n"
"local function ports(app)\n"
"\tlocal raw = ports_of:get(app)\n"
"\tif raw == nil then return nil, 404 end\n"
"\tif raw == \"\" then return nil, 503 end\n"
"\tlocal p = parsed[app]\n"
"\tif p ~= nil and p.raw == raw then return p.list end\n"
"\tlocal list = {}\n"
"\tfor s in raw:gmatch(\"%d+\") do list[#list + 1] = tonumber(s) end\n"
"\tif #list == 0 then return nil, 503 end\n"
"\tparsed[app] = { raw = raw, list = list }\n"
"\treturn list\n"
"end\n"
"\n"
"-- The try in flight is in $berth_busy (\"app:port\"), which, unlike\n"
"-- ngx.ctx, outlives the internal redirect to an error page.\n"
"local function leave()\n"
"\tlocal key = ngx.var.berth_busy\n"
"\tif key ~= nil and key ~= \"\" then\n"
"\t\tbusy:incr(key, -1, 0)\n"
"\t\tngx.var.berth_busy = \"\"\n"
"\tend\n"
"end\n"
"\n"
"berth_router = {}\n"
"\n"
"function berth_router.access()\n"
"\tlocal list, status = ports(ngx.var.berth_app)\n"
"\tif list == nil then return ngx.exit(status) end\n"
"\tngx.ctx.ports = list\n"
"end\n"
"\n"
"function berth_router.balance()\n"
"\tlocal ctx = ngx.ctx\n"
"\tlocal list = ctx.ports\n"
"\tif list == nil then return ngx.exit(503) end\n"
"\tlocal n = #list\n"
"\tif ctx.try == nil then\n"
"\t\tctx.try = (turns:incr(ngx.var.berth_app, 1, 0) or 1) % n + 1\n"
"\t\tif n > 1 then balancer.set_more_tries(n - 1) end\n"
"\telse\n"
"\t\tctx.try = ctx.try % n + 1\n"
"\tend\n"
"\tleave()\n"
"\tlocal key = ngx.var.berth_app .. \":\" .. list[ctx.try]\n"
"\tbusy:incr(key, 1, 0)\n"
"\tngx.var.berth_busy = key\n"
"\tlocal ok, err = balancer.set_current_peer(\"127.0.0.1\", "
"list[ctx.try])\n"
"\tif not ok then\n"
"\t\tngx.log(ngx.ERR, \"berth: \", err)\n"
"\t\treturn ngx.exit(500)\n"
"\tend\n"
"end\n"
"\n"
"function berth_router.done()\n"
"\tleave()\n"
"end\n"
"\n"
"-- PUT /ports/APP (body p1,p2), DELETE /ports/APP,\n"
"-- GET /busy/APP (lines: port n), GET /ping\n"
"function berth_router.control()\n"
"\tlocal method, uri = ngx.req.get_method(), ngx.var.uri\n"
"\tif uri == \"/ping\" then ngx.say(\"berth\"); return end\n"
"\tlocal what, app = uri:match(\"^/(%a+)/([a-z0-9][a-z0-9-]*)$\")\n"
"\tif what == \"ports\" and method == \"PUT\" then\n"
"\t\tngx.req.read_body()\n"
"\t\tlocal body = ngx.req.get_body_data() or \"\"\n"
"\t\tif not body:match(\"^[%d,]*$\") then return ngx.exit(400) end\n"
"\t\tlocal ok, err = ports_of:set(app, body)\n"
"\t\tif not ok then ngx.status = 507; ngx.say(err); return end\n"
"\t\tngx.say(\"ok\")\n"
"\telseif what == \"ports\" and method == \"DELETE\" then\n"
"\t\tports_of:delete(app)\n"
"\t\tngx.say(\"ok\")\n"
"\telseif what == \"busy\" and method == \"GET\" then\n"
"\t\tlocal prefix = app .. \":\"\n"
"\t\tfor _, k in ipairs(busy:get_keys(0)) do\n"
"\t\t\tlocal n = busy:get(k)\n"
"\t\t\tif k:sub(1, #prefix) == prefix and n ~= nil and n > 0 then\n"
"\t\t\t\tngx.say(k:sub(#prefix + 1), \" \", n)\n"
"\t\t\tend\n"
"\t\tend\n"
"\telse\n"
"\t\treturn ngx.exit(404)\n"
"\tend\n"
"end\n";

static const char http_conf[] =
"\n"
"\t# Apps without reloads: every app's ports are in berth_ports, set\n"
"\t# over run/ctl.sock (see berth_router.lua); an app with none there\n"
"\t# is unknown (404).\n"
"\tlua_shared_dict berth_ports 1m;\n"
"\tlua_shared_dict berth_turns 1m;\n"
"\tlua_shared_dict berth_busy 4m;\n"
"\tinit_by_lua_file " LUA_FILE ";\n"
"\tupstream berth_dynos {\n"
"\t\tserver 0.0.0.1;\t# never used: the balancer picks\n"
"\t\tbalancer_by_lua_block { berth_router.balance() }\n"
"\t}\n"
"\tserver {\n"
"\t\tlisten unix:" LUA_CTL_SOCK ";\n"
"\t\tclient_max_body_size 64k;\n"
"\t\tclient_body_buffer_size 64k;\n"
"\t\tlocation / {\n"
"\t\t\tcontent_by_lua_block { berth_router.control() }\n"
"\t\t}\n"
"\t}\n";

const char *
lua_http_conf(void)
{
	return http_conf;
}

int
lua_write_module(const char *dir)
{
	char *path = path_join(dir, LUA_FILE);
	int ret = write_file_changed(path, lua_source, strlen(lua_source),
	    0644);

	free(path);
	return ret;
}

void
lua_server_start(struct strbuf *sb, const char *domain)
{
	const char *p;

	/* APP.DOMAIN names the app: $berth_app (app names are [a-z0-9-]). */
	strbuf_addstr(sb, "\tserver {\n\t\tinclude listen.conf;\n"
	    "\t\tserver_name \"~^(?<berth_app>[a-z][a-z0-9-]*)\\.");
	for (p = domain; *p != '\0'; p++) {
		if (*p == '.')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *p);
	}
	/* At server level, so the error pages' locations count down too. */
	strbuf_addstr(sb, "$\";\n"
	    "\t\tset $berth_busy \"\";\n"
	    "\t\tlog_by_lua_block { berth_router.done() }\n\n"
	    "\t\tlocation / {\n"
	    "\t\t\taccess_by_lua_block { berth_router.access() }\n"
	    "\t\t\tproxy_pass http://berth_dynos;\n");
}

/* The modules dir of nginx -V's output; caller frees, NULL if none. */
static char *
modules_path(const char *nginx_v)
{
	const char *p = strstr(nginx_v, "--modules-path=");

	if (p == NULL)
		return NULL;
	p += strlen("--modules-path=");
	return xstrndup(p, strcspn(p, " \n"));
}

int
lua_detect(const char *nginx_v, struct strbuf *load_lines)
{
	static const char *const mods[] = { "ndk_http_module.so",
	    "ngx_http_lua_module.so" };
	char *dir = modules_path(nginx_v);
	size_t i;
	int ok = dir != NULL &&
	    path_exists("/usr/share/lua/5.1/ngx/balancer.lua");

	strbuf_reset(load_lines);
	for (i = 0; ok && i < sizeof(mods) / sizeof(mods[0]); i++) {
		char *so = path_join(dir, mods[i]);

		ok = path_exists(so) && strchr(so, '"') == NULL;
		strbuf_addf(load_lines, "load_module \"%s\";\n", so);
		free(so);
	}
	if (!ok)
		strbuf_reset(load_lines);
	free(dir);
	return ok;
}

static size_t
collect_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	struct strbuf *sb = arg;

	if (sb->len + size * nmemb > CTL_REPLY_MAX)
		return 0;
	strbuf_add(sb, data, size * nmemb);
	return size * nmemb;
}

/*
 * One request to the control socket for /what/app (app NULL: /what);
 * the reply's body into out (may be NULL). 0 on a 200; -1 with
 * berth_error() naming what failed.
 */
static int
ctl_request(const char *sock, const char *method, const char *what,
    const char *app, const char *body, struct strbuf *out)
{
	struct strbuf reply = STRBUF_INIT;
	char *path = app != NULL ? xasprintf("/%s/%s", what, app) :
	    xasprintf("/%s", what);
	char *url = xasprintf("http://berth%s", path);
	CURL *h = curl_easy_init();
	long code = 0;
	CURLcode rc;
	int ret = -1;

	if (h == NULL) {
		free(url);
		free(path);
		return berth_error("router: cannot start a request");
	}
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)CTL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CTL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_reply);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK)
		berth_error("router: %s %s: nginx's control socket %s: %s",
		    method, path, sock, curl_easy_strerror(rc));
	else if (code != 200)
		berth_error("router: %s %s: nginx answered HTTP %ld%s%s",
		    method, path, code, reply.len ? ": " : "",
		    strbuf_str(&reply));
	else
		ret = 0;
	if (ret == 0 && out != NULL) {
		strbuf_reset(out);
		strbuf_add(out, reply.buf, reply.len);
	}
	strbuf_release(&reply);
	curl_easy_cleanup(h);
	free(url);
	free(path);
	return ret;
}

int
lua_put(const char *sock, const char *app, const int *ports, size_t n)
{
	struct strbuf body = STRBUF_INIT;
	size_t i;
	int ret;

	for (i = 0; i < n; i++)
		strbuf_addf(&body, "%s%d", i ? "," : "", ports[i]);
	ret = ctl_request(sock, "PUT", "ports", app, strbuf_str(&body), NULL);
	strbuf_release(&body);
	return ret;
}

int
lua_delete(const char *sock, const char *app)
{
	return ctl_request(sock, "DELETE", "ports", app, NULL, NULL);
}

int
lua_inflight(const char *sock, const char *app, const int *ports, size_t n)
{
	struct strbuf reply = STRBUF_INIT;
	const char *line;
	int total = 0;

	if (ctl_request(sock, "GET", "busy", app, NULL, &reply) < 0) {
		strbuf_release(&reply);
		return -1;
	}
	for (line = strbuf_str(&reply); *line != '\0'; ) {
		int port = 0, busy = 0;
		size_t i;

		if (sscanf(line, "%d %d", &port, &busy) == 2)
			for (i = 0; i < n; i++)
				if (ports[i] == port)
					total += busy;
		line += strcspn(line, "\n");
		if (*line == '\n')
			line++;
	}
	strbuf_release(&reply);
	return total;
}

int
lua_ping(const char *sock)
{
	struct strbuf reply = STRBUF_INIT;
	int ok = ctl_request(sock, "GET", "ping", NULL, NULL, &reply) == 0 &&
	    strncmp(strbuf_str(&reply), "berth", 5) == 0;

	strbuf_release(&reply);
	berth_clear_error();
	return ok;
}
