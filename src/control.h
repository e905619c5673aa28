/*
 * control.h - berthd's control socket, ROOT/run/berthd.sock (mode 0600).
 * One request per connection: the client sends one JSON object on one
 * line ({"cmd": "deploy", "app": "shop", ...}); berthd answers with any
 * number of {"progress": "text"} lines and then one final line,
 * {"ok": true, ...} or {"ok": false, "error": "one line"}.
 */
#ifndef BERTH_CONTROL_H
#define BERTH_CONTROL_H

#include <jansson.h>

#include "root.h"
#include "run-command.h"

/* ROOT/run/berthd.sock; caller frees. */
char *control_socket_path(const struct berth_root *r);
/*
 * Send req (not stolen) and wait for the final reply, handing progress
 * lines to progress (may be NULL). Returns 0 when the reply is ok (and
 * *reply holds it when reply is not NULL), -1 with berth_error() set to
 * the reply's error or a transport failure, 1 when berthd is not
 * running ("berthd is not running; start it with: berthd").
 */
int control_call(const struct berth_root *r, json_t *req, line_fn progress,
    void *data, json_t **reply);
/*
 * How long a client has, from its connection, to send its request line.
 * The deadline is for that line only: the answer may stream for as long
 * as the operation takes (a deploy, a log followed).
 */
#define CONTROL_REQUEST_TIMEOUT_MS	5000
/*
 * Server side: read one request line, within CONTROL_REQUEST_TIMEOUT_MS.
 * -1 with berth_error() on a timeout, EOF or a line that is no object.
 */
int control_read_request(int fd, json_t **req);
/*
 * Parse one request line of len bytes (without its newline) into *req,
 * a JSON object the caller frees. -1 with berth_error() "control: bad
 * request: ..." on anything else: a syntax error, a value that is no
 * object, bytes after the object, or a NUL byte anywhere.
 */
int control_parse_request(const char *line, size_t len, json_t **req);
/* Server side: send one message line; steals msg. -1 if the peer left. */
int control_send(int fd, json_t *msg);
int control_progress(int fd, const char *fmt, ...) BERTH_ATTR_PRINTF(2, 3);

#endif
