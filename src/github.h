/*
 * github.h - what berth tells GitHub of a connected pipeline's events,
 * as Heroku's GitHub integration does: commit statuses (context
 * berth/ci for test runs, berth/deploy/APP for releases) and, for every
 * release of an app, a GitHub deployment with environment APP and its
 * statuses (in_progress, then success with the app's URL or failure;
 * inactive when a review app is destroyed).
 *
 * berth github:connect stores the connection as a webhook of kind
 * "github" whose URL is the repository's API address
 * (https://api.github.com/repos/OWNER/NAME, or a GitHub Enterprise
 * Server's) and whose secret is the token; berthd's sender (notify.h)
 * calls github_tell() for each of its deliveries, so GitHub's calls are
 * retried, recorded and kept across restarts like any webhook's.
 */
#ifndef BERTH_GITHUB_H
#define BERTH_GITHUB_H

#include "ledger.h"

/* The setting (ledger) of a pipeline's webhook secret: this + name. */
#define GITHUB_HOOK_SECRET "github.webhook_secret."

/* The API address GitHub.com has; github:connect --api-url for others. */
#define GITHUB_API_URL "https://api.github.com"

/* How a github_tell() went, for the delivery's record. */
struct github_result {
	int http_code;		/* of the last call made; 0 = none answered */
	int retry_after;	/* seconds GitHub asked to wait (rate limit) */
	int permanent;		/* 401, 403, 404, 422: trying again won't help */
	int calls;		/* how many calls were made */
};

/* What github_tell() needs to know of the event's app. */
struct github_app {
	const char *stage;	/* review|development|staging|production */
	const char *url;	/* its URL (environment_url), or NULL */
};

/*
 * Tell the repository at api (".../repos/OWNER/NAME") of event e, with
 * token. Returns 0 when told, 1 when the event has nothing for GitHub
 * (a push, a config change, an event without a commit), -1 with
 * berth_error() naming the call and GitHub's answer, *res saying
 * whether to try again. Blocks for at most a few seconds per call.
 */
int github_tell(const char *api, const char *token, const struct event *e,
    const struct github_app *app, struct github_result *res);

/* The setting of a pipeline's mirror mode (github:connect --mirror):
 * "push" (deploy every push) or "ci" (--wait-for-ci). */
#define GITHUB_MIRROR "github.mirror."

/* Where a commit's CI stands on GitHub (github_commit_ci()). */
enum github_ci {
	GITHUB_CI_PENDING,	/* something runs, or nothing reported yet */
	GITHUB_CI_GREEN,	/* every status and check run passed */
	GITHUB_CI_RED,		/* one failed */
};

/*
 * The commit statuses and check runs of sha on the repository at api,
 * except berth's own (contexts berth/...), as Heroku's "wait for CI"
 * reads them: one of enum github_ci into *out, why (the failing
 * context, or what is still pending) into *why (caller frees); -1 with
 * berth_error() when GitHub cannot be asked.
 */
int github_commit_ci(const char *api, const char *token, const char *sha,
    enum github_ci *out, char **why);

/*
 * "OWNER/NAME" as GitHub allows them (letters, digits, '-', '_', '.');
 * -1 with berth_error() otherwise.
 */
int github_check_repo(const char *repo);

#endif
