/*
 * control.c - JSON lines over berthd's unix socket.
 */
#include "control.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

char *
control_socket_path(const struct berth_root *r)
{
	return root_path(r, "run/berthd.sock");
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The client this thread serves stopped reading (a send failed or timed
 * out): later messages to it are dropped at once instead of each
 * waiting out the socket's send timeout.
 */
static __thread int dead_fd = -1;

int
control_send(int fd, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	int ret = -1;

	json_decref(msg);
	if (s == NULL || fd == dead_fd) {
		free(s);
		return -1;
	}
	if (write_all(fd, s, strlen(s)) == 0 && write_all(fd, "\n", 1) == 0)
		ret = 0;
	else
		dead_fd = fd;
	free(s);
	return ret;
}

int
control_progress(int fd, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	ret = control_send(fd, json_pack("{s:s}", "progress", sb.buf));
	strbuf_release(&sb);
	return ret;
}

/*
 * Read one line into line (without the newline). timeout_ms < 0 waits
 * for ever. 0 on a line, -1 on EOF, error or timeout.
 */
static int
read_line(int fd, struct strbuf *buf, struct strbuf *line, int timeout_ms)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;

	for (;;) {
		char *nl = buf->len ? memchr(buf->buf, '\n', buf->len) : NULL;
		char tmp[4096];
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;
		int wait = -1, rc;

		if (nl != NULL) {
			size_t len = (size_t)(nl - buf->buf);

			strbuf_reset(line);
			strbuf_add(line, buf->buf, len);
			memmove(buf->buf, nl + 1, buf->len - len - 1);
			buf->len -= len + 1;
			buf->buf[buf->len] = '\0';
			return 0;
		}
		if (buf->len > (1 << 20))
			return berth_error("control: message too long");
		if (deadline > 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return berth_error("control: timed out after "
				    "%d ms", timeout_ms);
			wait = (int)left;
		}
		rc = poll(&pfd, 1, wait);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return berth_error_errno("control");
		if (rc == 0)
			continue;	/* the deadline, checked above */
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return berth_error("berthd closed the connection; see "
			    "its log: berth daemon:status");
		strbuf_add(buf, tmp, (size_t)n);
	}
}

int
control_parse_request(const char *line, size_t len, json_t **req)
{
	const char *nul = memchr(line, '\0', len);
	json_error_t err;

	*req = NULL;
	if (nul != NULL)
		return berth_error("control: bad request: a NUL byte at "
		    "offset %zu; send one JSON object on one line",
		    (size_t)(nul - line));
	*req = json_loadb(line, len, 0, &err);
	if (*req == NULL)
		return berth_error("control: bad request: %s", err.text);
	if (!json_is_object(*req)) {
		json_decref(*req);
		*req = NULL;
		return berth_error("control: bad request: expected a JSON "
		    "object ({\"cmd\": ...})");
	}
	return 0;
}

int
control_read_request(int fd, json_t **req)
{
	struct strbuf buf = STRBUF_INIT, line = STRBUF_INIT;
	int ret = -1;

	*req = NULL;
	if (read_line(fd, &buf, &line, CONTROL_REQUEST_TIMEOUT_MS) == 0)
		ret = control_parse_request(strbuf_str(&line), line.len, req);
	strbuf_release(&buf);
	strbuf_release(&line);
	return ret;
}

int
control_call(const struct berth_root *r, json_t *req, line_fn progress,
    void *data, json_t **reply)
{
	struct sockaddr_un sa;
	struct strbuf buf = STRBUF_INIT, line = STRBUF_INIT;
	char *path = control_socket_path(r);
	int fd, ret = -1, sent, answered = 0;

	if (reply != NULL)
		*reply = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		berth_error("control socket path %s is too long; use a shorter "
		    "server root", path);
		free(path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	free(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berth_error_errno("control socket");
	dead_fd = -1;		/* a new connection, perhaps on an old number */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		berth_error("berthd is not running; start it with: berthd "
		    "--root %s", r->dir);
		return 1;
	}
	json_incref(req);
	/* A berthd that refused us at once (it is busy) may have closed
	 * before the request went: its one line is still there to read. */
	sent = control_send(fd, req) == 0;
	while (read_line(fd, &buf, &line, -1) == 0) {
		json_error_t err;
		json_t *msg = json_loads(strbuf_str(&line), 0, &err);
		json_t *p;

		if (msg == NULL)
			continue;
		p = json_object_get(msg, "progress");
		if (json_is_string(p)) {
			if (progress != NULL)
				progress(json_string_value(p), data);
			json_decref(msg);
			continue;
		}
		if (json_is_true(json_object_get(msg, "ok"))) {
			ret = 0;
			if (reply != NULL)
				*reply = msg;
			else
				json_decref(msg);
		} else {
			const char *e = json_string_value(json_object_get(msg,
			    "error"));

			berth_error("%s", e != NULL ? e : "berthd failed");
			json_decref(msg);
		}
		answered = 1;
		break;
	}
	if (!answered && !sent) {
		berth_error("berthd is not running; start it with: berthd "
		    "--root %s", r->dir);
		ret = 1;
	}
	close(fd);
	strbuf_release(&buf);
	strbuf_release(&line);
	return ret;
}
