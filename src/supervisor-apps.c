/*
 * supervisor-apps.c - the supervisor's apps (see supervisor.h): what
 * each one runs now, its log, and its operation queue, a FIFO ticket
 * lock under sv->lock, so one app's operations run one at a time in the
 * order they were asked for while other apps' run side by side.
 */
#include "supervisor.h"
#include "applog.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- apps ---- */

struct sv_app *
sv_app_find(struct supervisor *sv, const char *name)
{
	struct sv_app *a;

	for (a = sv->apps; a != NULL; a = a->next)
		if (!a->destroyed && strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

struct sv_app *
sv_app_get(struct supervisor *sv, const char *name, int64_t id)
{
	struct sv_app *a;

	for (a = sv->apps; a != NULL; a = a->next)
		if (a->id == id)
			return a;
	a = xcalloc(1, sizeof(*a));
	a->name = xstrdup(name);
	a->id = id;
	a->sandboxed = 1;
	a->uid = -1;
	pthread_cond_init(&a->op_turn, NULL);
	if (applog_open(sv->root, name, &a->log) < 0) {
		log_say("cannot open the log of %s: %s", name,
		    berth_last_error());
		a->log = NULL;
	}
	a->next = sv->apps;
	sv->apps = a;
	return a;
}

void
sv_app_event(struct sv_app *a, const char *proc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	applog_vwritef(a->log, "berth", proc, fmt, ap);
	va_end(ap);
}

struct sv_app *
sv_app_op_begin(struct supervisor *sv, const char *name, int64_t id)
{
	struct sv_app *a;
	unsigned long ticket;

	pthread_mutex_lock(&sv->lock);
	a = sv_app_get(sv, name, id);
	ticket = a->op_next++;
	while (a->op_serving != ticket)
		pthread_cond_wait(&a->op_turn, &sv->lock);
	pthread_mutex_unlock(&sv->lock);
	return a;
}

void
sv_app_op_end(struct supervisor *sv, struct sv_app *a)
{
	pthread_mutex_lock(&sv->lock);
	a->op_serving++;
	pthread_cond_broadcast(&a->op_turn);
	pthread_mutex_unlock(&sv->lock);
}

