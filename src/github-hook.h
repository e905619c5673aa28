/*
 * github-hook.h - POST /github/webhook (github-hook.c): a connected
 * repository's pull requests become review apps PIPELINE-pr-N.
 */
#ifndef BERTH_GITHUB_HOOK_H
#define BERTH_GITHUB_HOOK_H

#include "http.h"

void github_webhook(struct http_server *s, const struct http_request *req,
    struct http_response *res);

#endif
