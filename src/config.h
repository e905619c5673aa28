/*
 * config.h - berth.ini, read with inih. Sections and keys:
 *
 *   [server]  domain = localhost      ; apps are APP.DOMAIN
 *             log_level = info        ; error|warn|info|debug
 *             max_clients = 128       ; berthd's control clients at once
 *   [build]   timeout = 900           ; seconds for one whole build
 *             buildpacks = nodejs, python  ; detection order (optional)
 *             app_json_paths = 0      ; 1: app.json may name buildpack dirs
 *   [router]  port = 8080             ; nginx listens on this port
 *             nginx = nginx           ; the nginx binary
 *   [runtime] backend = local         ; where apps run (runtime.h)
 *             port_min = 20000, port_max = 29999  ; web dyno ports,
 *                                     ; clear of the ephemeral ports
 *             boot_timeout = 60       ; seconds for web to bind $PORT
 *             stop_timeout = 30       ; SIGTERM to SIGKILL, seconds
 *             max_dynos = 100         ; per process type
 *   [logs]    max_size_kb = 10240     ; app log size before rotation
 *   [release] timeout = 3600          ; seconds for the release phase
 *   [ci]      timeout = 1800, max_nodes = 4
 *   [review]  check_interval = 3600   ; seconds between stale checks
 *   [sandbox] enabled = 1             ; 0: app code runs unisolated
 *             uid_min = 900000, uid_max = 999999  ; apps' uids (as root)
 *   [sandbox] memory = 512M           ; per dyno, NNN[KMG] (cgroup.h)
 *             pids = 256              ; processes per dyno
 *             build_memory = 2G       ; per build or CI node
 *   [ssh]     authorized_keys = ~/.ssh/authorized_keys  ; berth's users'
 *                                     ; keys; empty: none (access.h)
 *   [http]    listen =                ; HOST:PORT of berthd's HTTP (http.h)
 *             max_connections = 1024
 *   [webhooks] retry_base = 30        ; seconds before the 2nd try
 *             timeout = 10            ; seconds for one try (notify.h)
 *
 * Unknown sections or keys warn with their line number; a bad value is
 * an error naming section.key; a line longer than inih's limit (200) is
 * refused, never truncated.
 */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include "util.h"

enum log_level { BERTH_LOG_ERROR, BERTH_LOG_WARN, BERTH_LOG_INFO,
    BERTH_LOG_DEBUG };

/* [router] lua: auto (when installed), on (required), off (reloads). */
enum router_lua { ROUTER_LUA_AUTO, ROUTER_LUA_ON, ROUTER_LUA_OFF };

struct berth_config {
	char *domain;
	enum log_level log_level;
	int max_clients;		/* control clients berthd serves */
	int build_timeout;		/* seconds */
	struct strvec buildpacks;	/* detection order; empty = ledger's */
	int app_json_paths;		/* app.json may name server paths */
	int router_port;		/* nginx listens here */
	char *nginx;			/* nginx binary ("nginx" = from PATH) */
	enum router_lua router_lua;	/* [router] lua: ports without reloads */
	char *runtime_backend;		/* [runtime] backend: "local" */
	int port_min, port_max;		/* web dyno ports */
	int boot_timeout;		/* seconds for web to bind $PORT */
	int stop_timeout;		/* seconds from SIGTERM to SIGKILL */
	int max_dynos;			/* per process type */
	int log_max_kb;			/* app log size before rotation */
	int release_timeout;		/* seconds for the release phase */
	int ci_timeout;			/* seconds for one CI node's tests */
	int ci_max_nodes;		/* parallel CI nodes at most */
	int review_check_interval;	/* seconds between stale checks */
	int sandbox;			/* [sandbox] enabled */
	int uid_min, uid_max;		/* apps' uids, when berth is root */
	int64_t dyno_memory;		/* bytes per dyno (or ps:resize's) */
	int dyno_pids;			/* processes per dyno */
	int64_t build_memory;		/* bytes per build or CI node */
	char *authorized_keys;		/* as given: /PATH, ~/PATH or "" */
	char *http_listen;		/* HOST:PORT, or "" (off) */
	int http_max_connections;
	int webhook_retry_base;		/* seconds; the back-off grows 4x */
	int webhook_timeout;		/* seconds for one try */
};

/* The least memory a dyno may be given ([sandbox] memory, ps:resize). */
#define DYNO_MEMORY_MIN (4LL << 20)

typedef void (*config_warn_fn)(const char *msg, void *data);

/* Where Linux says which ports it gives outgoing connections. */
#define EPHEMERAL_PORTS_FILE	"/proc/sys/net/ipv4/ip_local_port_range"

/*
 * The kernel's ephemeral port range from EPHEMERAL_PORTS_FILE: 0, or -1
 * when it cannot be read.
 */
int config_ephemeral_ports(int *lo, int *hi);
/*
 * Whether cfg's web dyno ports are in order and stay clear of [lo, hi]
 * (the ephemeral ports: one taken by an outgoing connection makes a
 * dyno fail to bind, and a probe of it can connect to itself). 0, or -1
 * with berth_error() naming the keys and a range to use instead. Every
 * load checks the real range.
 */
int config_check_port_range(const struct berth_config *cfg,
    const char *name, int lo, int hi);

/* Defaults: localhost, info, 900, no buildpack order. */
void config_defaults(struct berth_config *cfg);
/*
 * Load path over the defaults. A missing file is not an error (defaults
 * stay). Returns -1 with berth_error() "berth.ini line 4: build.timeout
 * must be a whole number of seconds from 1 to 86400" and the like.
 */
int config_load(struct berth_config *cfg, const char *path,
    config_warn_fn warn, void *data);
/*
 * Same, from len bytes of text (a NUL byte among them is refused);
 * name is used in messages. cfg changes only on success. config_load()
 * reads the file and parses it here.
 */
int config_load_text(struct berth_config *cfg, const char *text, size_t len,
    const char *name, config_warn_fn warn, void *data);
/* config_load_text() of a C string (for tests). */
int config_load_string(struct berth_config *cfg, const char *text,
    const char *name, config_warn_fn warn, void *data);
void config_clear(struct berth_config *cfg);
/* The berth.ini that `berth init` writes, documented. */
const char *config_template(void);

#endif
