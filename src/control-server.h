/*
 * control-server.h - berthd's side of the control socket (the protocol
 * is in control.h): one thread per connection reads one request, finds
 * its command in a table and runs it, streaming progress lines back.
 * App commands run as the app's operation (supervisor.h), so requests
 * for one app run one at a time, in order, and never wait on another
 * app's.
 */
#ifndef BERTH_CONTROL_SERVER_H
#define BERTH_CONTROL_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "rollout.h"
#include "root.h"
#include "supervisor.h"

struct control_server {
	const struct berth_root *root;
	struct supervisor *sv;
	struct rollout_env env;
	int listen_fd;
	/*
	 * Clients being served (each has a thread and an fd until its
	 * request ends), and how many may be at once (berth.ini [server]
	 * max_clients): more are refused. Under clients_lock, with
	 * accept_after: 0, or while berthd is out of fds, the monotonic ms
	 * until which the loop leaves the socket alone (a client's end
	 * wakes it sooner). spare_fd is an fd kept to be closed when none
	 * is left, so that the client waiting can be told why; fds_short
	 * (the loop's own) says the log has been told.
	 */
	pthread_mutex_t clients_lock;
	int nclients;
	int max_clients;
	int64_t accept_after;
	int spare_fd;
	int fds_short;
	time_t started_at;
	int has_router;
	/* Deploys that answered "staged" (control-server.c). */
	pthread_mutex_t staged_lock;
	struct staged *staged;
	/* The router's mode ("lua", "reload"; NULL = none) and how many
	 * configurations it has loaded, for status. */
	void (*router_info)(void *data, const char **mode, long *generation);
	/* Adds what berthd knows of its routes to a status reply. */
	void (*add_status)(void *data, json_t *status);
	/* Called (from a client thread) for {"cmd": "shutdown"}. */
	void (*on_shutdown)(void *data);
	/* The start-up convergence ended; failed: "APP: why" of each app
	 * that does not serve as its formation says. */
	void (*on_converged)(void *data, const struct strvec *failed);
	void *data;
};

/*
 * Listen on ROOT/run/berthd.sock (mode 0600, non-blocking). -1 with
 * berth_error() naming the path.
 */
int control_server_listen(struct control_server *cs);
/*
 * Accept every waiting connection, each into a thread of its own; one
 * past max_clients is answered "berthd is busy" and closed. When no fd
 * is left the waiting clients are refused the same way, and the socket
 * rests (control_server_poll_fd) until a client ends.
 */
void control_server_accept(struct control_server *cs);
/*
 * The fd the event loop polls for connections: the socket, or -1 while
 * it rests; *next (monotonic ms, 0 = none) is moved earlier to the end
 * of the rest.
 */
int control_server_poll_fd(struct control_server *cs, int64_t *next);
/* Close and unlink the socket. */
void control_server_close(struct control_server *cs);
/*
 * Converge every app of the ledger (after a start), in a thread of its
 * own; pending releases a dead rollout left are failed first. Calls
 * on_converged when every app is done.
 */
void control_server_converge_all(struct control_server *cs);

#endif
