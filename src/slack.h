/*
 * slack.h - ChatOps from Slack (slack.c): POST /slack/commands, the
 * /berth slash command, and POST /slack/interactive, its buttons; each
 * signed by Slack and run with the linked berth user's roles.
 */
#ifndef BERTH_SLACK_H
#define BERTH_SLACK_H

#include "http.h"

void slack_commands(struct http_server *s, const struct http_request *req,
    struct http_response *res);
void slack_interactive(struct http_server *s, const struct http_request *req,
    struct http_response *res);

#endif
