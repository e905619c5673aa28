/*
 * http.c - berthd's HTTP endpoint on libmicrohttpd (http.h): a thread
 * per connection, the body gathered up to HTTP_BODY_MAX, the route
 * found, its answer queued; a pool of ledger connections for handlers.
 */
#include "http.h"
#include "ledger.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DB_POOL_MAX 8
/* A connection's thread: handlers are shallow (a berth command runs in
 * its own process), and a thousand of them stay cheap. */
#define HTTP_STACK_SIZE (512 * 1024)

struct http_server {
	struct MHD_Daemon *mhd;
	struct berth_root *root;
	const struct http_route *routes;
	void *data;
	int port;
	volatile int stopping;
	pthread_mutex_t lock;
	struct ledger *pool[DB_POOL_MAX];	/* idle connections */
	int npool;
};

/* What one request has gathered between the handler's calls. */
struct pending {
	struct strbuf body;
	int too_big;
};

const char *
http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
http_query(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

void
http_json(struct http_response *res, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	res->status = status;
	strbuf_reset(&res->body);
	if (s != NULL) {
		strbuf_addstr(&res->body, s);
		strbuf_addch(&res->body, '\n');
	}
	free(s);
	json_decref(j);
}

void
http_error(struct http_response *res, int status, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	http_json(res, status, json_pack("{s:s}", "error", sb.buf));
	strbuf_release(&sb);
}

struct berth_root *
http_root(struct http_server *s)
{
	return s->root;
}

void *
http_data(struct http_server *s)
{
	return s->data;
}

int
http_port(const struct http_server *s)
{
	return s->port;
}

int
http_stopping(const struct http_server *s)
{
	return s->stopping;
}

struct ledger *
http_db(struct http_server *s)
{
	struct ledger *db = NULL;
	char *path;

	pthread_mutex_lock(&s->lock);
	if (s->npool > 0)
		db = s->pool[--s->npool];
	pthread_mutex_unlock(&s->lock);
	if (db != NULL)
		return db;
	path = root_path(s->root, "ledger.db");
	if (ledger_open_existing(path, &db) < 0)
		db = NULL;
	free(path);
	return db;
}

void
http_db_done(struct http_server *s, struct ledger *db)
{
	if (db == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->npool < DB_POOL_MAX) {
		s->pool[s->npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	ledger_close(db);
}

static const struct http_route *
find_route(const struct http_server *s, const char *method, const char *path)
{
	const struct http_route *r;

	for (r = s->routes; r->prefix != NULL; r++)
		if ((r->method == NULL || strcmp(r->method, method) == 0) &&
		    strncmp(path, r->prefix, strlen(r->prefix)) == 0)
			return r;
	return NULL;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_response *res = cls;

	(void)pos;
	return res->stream(res->stream_data, buf, max);
}

static void
stream_done(void *cls)
{
	struct http_response *res = cls;

	if (res->stream_free != NULL)
		res->stream_free(res->stream_data);
	strbuf_release(&res->body);
	strvec_clear(&res->headers);
	free(res);
}

/* Queue res on conn; frees what it owns. */
static enum MHD_Result
answer(struct MHD_Connection *conn, struct http_response *res)
{
	struct MHD_Response *r;
	enum MHD_Result rc;
	size_t i;

	if (res->stream != NULL)
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
		    stream_read, res, stream_done);
	else
		r = MHD_create_response_from_buffer(res->body.len,
		    (void *)strbuf_str(&res->body), MHD_RESPMEM_MUST_COPY);
	if (r == NULL) {
		stream_done(res);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", res->content_type != NULL ?
	    res->content_type : "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	for (i = 0; i < res->headers.nr; i++) {
		char *h = xstrdup(res->headers.v[i]), *colon = strchr(h, ':');

		if (colon != NULL) {
			*colon = '\0';
			MHD_add_response_header(r, h, colon + 1 +
			    strspn(colon + 1, " "));
		}
		free(h);
	}
	rc = MHD_queue_response(conn, (unsigned)res->status, r);
	MHD_destroy_response(r);
	if (res->stream == NULL)
		stream_done(res);
	return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **state)
{
	struct http_server *s = cls;
	struct pending *p = *state;
	struct http_response *res;
	struct http_request req;
	const struct http_route *route;
	const char *len;

	(void)version;
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		*state = p;
		len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    "Content-Length");
		/* Refused before a byte of it is read. */
		if (len != NULL && strtoull(len, NULL, 10) > HTTP_BODY_MAX)
			p->too_big = 1;
		else
			return MHD_YES;
	}
	if (*upload_size > 0 && !p->too_big) {
		if (p->body.len + *upload_size > HTTP_BODY_MAX)
			p->too_big = 1;
		else
			strbuf_add(&p->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	res = xcalloc(1, sizeof(*res));
	strbuf_init(&res->body);
	memset(&res->headers, 0, sizeof(res->headers));
	if (p->too_big) {
		http_error(res, 413, "the body is larger than %d bytes",
		    HTTP_BODY_MAX);
		return answer(conn, res);
	}
	route = find_route(s, method, url);
	if (route == NULL) {
		http_error(res, 404, "no such resource: %s %s (see "
		    "doc/api.md)", method, url);
		return answer(conn, res);
	}
	req.method = method;
	req.path = url;
	req.body = strbuf_str(&p->body);
	req.body_len = p->body.len;
	req.conn = conn;
	res->status = 200;
	route->fn(s, &req, res);
	return answer(conn, res);
}

static void
on_done(void *cls, struct MHD_Connection *conn, void **state,
    enum MHD_RequestTerminationCode why)
{
	struct pending *p = *state;

	(void)cls;
	(void)conn;
	(void)why;
	if (p != NULL) {
		strbuf_release(&p->body);
		free(p);
		*state = NULL;
	}
}

/* A listening socket for "HOST:PORT" or "[V6]:PORT". */
static int
listen_on(const char *listen_addr, int *port)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char *host = xstrdup(listen_addr), *colon = strrchr(host, ':');
	char *h = host;
	int fd = -1, one = 1, rc;

	if (colon == NULL || colon == host || colon[1] == '\0') {
		berth_error("http.listen must be HOST:PORT, e.g. "
		    "127.0.0.1:8090 (got '%.60s')", listen_addr);
		goto out;
	}
	*colon = '\0';
	if (h[0] == '[' && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(h, colon + 1, &hints, &ai);
	if (rc != 0) {
		berth_error("http.listen %s: %s (give a numeric address and "
		    "port)", listen_addr, gai_strerror(rc));
		goto out;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, 128) < 0 || getsockname(fd, (struct sockaddr *)&ss,
	    &sl) < 0) {
		berth_error_errno("cannot listen on %s (http.listen)",
		    listen_addr);
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto out;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	free(host);
	return fd;
}

int
http_start(struct berth_root *r, const char *listen_addr, int max_connections,
    const struct http_route *routes, void *data, struct http_server **out)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	int fd = listen_on(listen_addr, &s->port);

	if (fd < 0) {
		free(s);
		return -1;
	}
	s->root = r;
	s->routes = routes;
	s->data = data;
	pthread_mutex_init(&s->lock, NULL);
	s->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
	    on_request, s,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_HEADER_MAX,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_STACK_SIZE,
	    MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
	    MHD_OPTION_END);
	if (s->mhd == NULL) {
		close(fd);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return berth_error("cannot start the HTTP endpoint on %s",
		    listen_addr);
	}
	*out = s;
	return 0;
}

void
http_stop(struct http_server *s)
{
	int i;

	if (s == NULL)
		return;
	s->stopping = 1;
	MHD_stop_daemon(s->mhd);
	for (i = 0; i < s->npool; i++)
		ledger_close(s->pool[i]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
