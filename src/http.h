/*
 * http.h - berthd's HTTP endpoint (berth.ini [http] listen; off by
 * default), on GNU libmicrohttpd: no HTTP parsing of berth's own.
 *
 * Each connection has a thread of its own, so a handler may wait (run a
 * berth command, follow the event stream) without delaying any other
 * request, and a slow client holds only its own. Limits: [http]
 * max_connections at once, HTTP_IDLE_S of silence, HTTP_BODY_MAX of
 * body (413 beyond, without reading it), HTTP_HEADER_MAX of headers.
 * Nothing here touches berthd's dynos: handlers have their own ledger
 * connections (http_db()), never the supervisor's.
 */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include "root.h"
#include "util.h"

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_BODY_MAX (1024 * 1024)
#define HTTP_HEADER_MAX (32 * 1024)
#define HTTP_IDLE_S 15

struct http_server;
struct MHD_Connection;

struct http_request {
	const char *method;	/* "GET" */
	const char *path;	/* "/api/pipelines/shop", no query */
	const char *body;	/* NUL-terminated; "" when none */
	size_t body_len;
	struct MHD_Connection *conn;
};

/* A header of the request (case-insensitive name), or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* A query argument ("?n=5"), or NULL. */
const char *http_query(const struct http_request *req, const char *name);

/*
 * What a handler answers: a status and a body (JSON unless content_type
 * says), or a stream: stream() is called on the connection's thread
 * until it returns -1 (end) or the client goes; it may wait.
 */
struct http_response {
	int status;
	struct strbuf body;
	const char *content_type;	/* NULL: application/json */
	struct strvec headers;		/* "Name: value" */
	ssize_t (*stream)(void *data, char *buf, size_t max);
	void (*stream_free)(void *data);
	void *stream_data;
};

/* A JSON body (steals j). */
void http_json(struct http_response *res, int status, json_t *j);
/* {"error": "..."} with status. */
void http_error(struct http_response *res, int status, const char *fmt, ...)
    BERTH_ATTR_PRINTF(3, 4);

typedef void (*http_handler)(struct http_server *s,
    const struct http_request *req, struct http_response *res);

/* A route: method ("GET", or NULL for any) and path prefix. */
struct http_route {
	const char *method;
	const char *prefix;
	http_handler fn;
};

/*
 * Listen on listen ("127.0.0.1:8090", "[::1]:8090") and serve routes
 * (the first whose method and prefix match; none: 404) with at most
 * max_connections at once. -1 with berth_error() naming the address.
 */
int http_start(struct berth_root *r, const char *listen, int max_connections,
    const struct http_route *routes, void *data, struct http_server **out);
/* Stop: every connection ends (streams see http_stopping()). */
void http_stop(struct http_server *s);
/* The port it listens on (for a listen of port 0). */
int http_port(const struct http_server *s);
/* Whether http_stop() has begun: streams end when it has. */
int http_stopping(const struct http_server *s);
struct berth_root *http_root(struct http_server *s);
void *http_data(struct http_server *s);
/*
 * A ledger connection of this request's own (from a pool); give it
 * back with http_db_done(). NULL with berth_error() when the ledger
 * cannot be opened.
 */
struct ledger *http_db(struct http_server *s);
void http_db_done(struct http_server *s, struct ledger *db);

#endif
