/*
 * notify.h - berthd's webhook sender, and what each delivery sends.
 *
 * Events are written to the ledger in the transaction of their change,
 * each with a pending delivery for every webhook of its pipeline that
 * wants it (the outbox, ledger-events.c). The sender is one thread of
 * berthd with its own ledger connection: it takes the deliveries that
 * are due, sends them with libcurl's multi interface, many at once (a
 * webhook that hangs holds only its own), and records each try. Nothing
 * of a delivery lives outside the ledger: one is pending until a try is
 * recorded, so a berthd killed mid-send sends it again when it starts
 * (at least once, with the same X-Berth-Delivery), and events made
 * while berthd was down go out when it is back. A deploy never waits
 * for it: another thread, another connection, short ledger writes.
 *
 * A try: POST within berth.ini [webhooks] timeout (connecting within
 * 5 s), no redirect followed, the answer read up to NOTIFY_BODY_MAX.
 * notify_judge() says what its answer means; a try to retry waits
 * notify_backoff() (or the answer's Retry-After, when longer); after
 * NOTIFY_TRIES tries the delivery has failed. Webhooks of kind github
 * are told through github_tell() (github.h), on threads of their own.
 *
 * What is sent (notify-body.c): kind json, berth's JSON (doc/webhooks.md)
 * signed with X-Berth-Signature-256; kind slack, one Slack message per
 * thing a team wants to know, nothing for an internal step.
 */
#ifndef BERTH_NOTIFY_H
#define BERTH_NOTIFY_H

#include <stddef.h>

#include "ledger.h"
#include "repo.h"
#include "root.h"

/* Tries of one delivery before it has failed. */
#define NOTIFY_TRIES 5
/* The most of an answer read; past it the try is cut off and failed. */
#define NOTIFY_BODY_MAX (64 * 1024)
/* The longest wait a Retry-After gets. */
#define NOTIFY_RETRY_AFTER_MAX 3600
/* "sha256=" and 64 hex digits, and a NUL. */
#define NOTIFY_SIGNATURE_SIZE 72

struct notifier;

/*
 * Start the sender thread for root r (which must outlive it): 0 and
 * *out, or -1 with berth_error(). The thread opens its own ledger
 * connection (again and again until it can).
 */
int notify_start(const struct berth_root *r, struct notifier **out);
/*
 * Stop it and wait for its thread: no new try starts; tries in flight
 * get up to a second to end and be recorded, the rest are dropped
 * unrecorded (pending: sent again at the next start). Frees n.
 */
void notify_stop(struct notifier *n);

/* What a body is made of: the event and what the sender knows of it. */
struct notify_event {
	const struct event *event;
	const char *delivery;		/* its X-Berth-Delivery uuid */
	const struct app *app;		/* the event's app, or NULL */
	const char *url;		/* where that app answers, or NULL */
	const struct commit_info *commit;	/* the event's, or NULL */
	/* A push whose branch deploys an app or gets a review app: that
	 * release tells of it, so Slack hears nothing of the push. */
	int push_deploys;
};

/* berth's JSON body of a delivery (doc/webhooks.md); caller frees. */
char *notify_json_body(const struct notify_event *ne);
/*
 * The Slack incoming-webhook message (text and Block Kit blocks) of a
 * delivery; NULL when the event is an internal step with nothing to
 * tell (build.succeeded, test_run.started, review_app.created, a push
 * a release tells of). Caller frees.
 */
char *notify_slack_body(const struct notify_event *ne);
/* "sha256=" and the hex HMAC-SHA256 of body under secret, into out. */
void notify_signature(const char *secret, const char *body, size_t len,
    char out[NOTIFY_SIGNATURE_SIZE]);

/* What one try's answer means. */
enum notify_outcome {
	NOTIFY_SUCCEEDED,	/* 2xx */
	NOTIFY_RETRY,		/* no answer, 408, 429, 5xx */
	NOTIFY_FAILED,		/* 3xx, 4xx (410 too): the same try would
				 * get the same answer */
};
/*
 * http_code 0: no answer (refused, reset, timed out). cut_off: the
 * answer was longer than NOTIFY_BODY_MAX, which fails a 2xx.
 */
enum notify_outcome notify_judge(int http_code, int cut_off);
/*
 * Seconds to wait after the tries-th try failed before the next: base,
 * 4, 16 and 40 times base (30 s, 2 min, 8 min, 20 min for base 30);
 * -1 once NOTIFY_TRIES tries were made.
 */
int notify_backoff(int tries, int base);

#endif
