/*
 * router-int.h - what the router's files share, and nothing else may
 * include: struct router and the steps of router-nginx.c (starting,
 * reloading, stopping nginx), router-conf.c (the files berthd writes
 * for it, and how a change to one is staged) and router-proc.c
 * (nginx's processes, read from /proc).
 */
#ifndef BERTH_ROUTER_INT_H
#define BERTH_ROUTER_INT_H

#include <sys/types.h>

#include "config.h"
#include "router.h"
#include "util.h"

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
	char *berth_http;	/* [http] listen, served as berth.DOMAIN */
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


/* --- router-proc.c --- */
/* Whether pid runs (a zombie does not; reap it if it is ours). */
int nginx_alive(pid_t pid);
/* The pid in router/nginx.pid, 0 when there is none. */
pid_t nginx_read_pid(const struct router *rt);
/* Whether pid is an nginx master started with our config. */
int nginx_is_ours(const struct router *rt, pid_t pid);
/* The pids whose parent is pid (an nginx master's workers). */
void nginx_children(pid_t pid, struct pidlist *out);
/* A running master of ours whatever the pid file says; 0 = none. */
pid_t nginx_find_master(const struct router *rt);
/* Send sig to pid and to its children (nginx's workers). */
void nginx_kill_family(pid_t pid, int sig);
/* Whether worker pid no longer accepts connections. */
int nginx_worker_retired(pid_t pid);
/* Wait until pid is gone or deadline (now_ms() based) passes. */
int nginx_wait_gone(pid_t pid, int64_t deadline);
/*
 * Stop the workers a killed master left: nginx processes whose parent
 * is now this process (berthd is their subreaper), and orphaned nginx
 * workers running in rt's directory (those of a master berthd took over
 * after a restart, reparented to init); they hold the port a new master
 * needs, and would serve their old routes. SIGTERM, then SIGKILL at
 * deadline.
 */
int nginx_stop_orphans(const struct router *rt, int64_t deadline);
/* Wait until no retired worker (of a reload) still runs. */
int nginx_drain_workers(struct router *rt, int64_t deadline);

/* --- router-conf.c --- */
/* run_command()'s line_fn that appends each line to a strbuf. */
void router_collect_line(const char *line, void *data);
/*
 * Write nginx.conf, listen.conf (and with Lua its file and run/), each
 * only when it changes: 1 when one did, 0 when none did.
 */
int conf_write_main(struct router *rt);
/* Bump the generation and write generation.conf. */
int conf_next_generation(struct router *rt);
/* The generation in generation.conf, 0 when there is none. */
long conf_stored_generation(const struct router *rt);
/* The server block of one app without Lua; caller frees. */
char *conf_app(const struct router *rt, const char *app, const int *ports,
    size_t nports);
/* Whether conf.d/APP.conf holds exactly text already (no change). */
int conf_unchanged(const struct router *rt, const char *app,
    const char *text);
/* Undo changes a previous berthd left half done (staging/): how many. */
int conf_recover(const struct router *rt);
/* Replace conf.d/APP.conf with text (NULL: remove) and apply it. */
int conf_change(struct router *rt, const char *app, const char *text,
    const char *what);

/* --- router-nginx.c --- */
/* Make nginx serve the files as they are now: reload, or start anew. */
int router_apply(struct router *rt, const char *what);

#endif
