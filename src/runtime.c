/*
 * runtime.c - the runtime interface (runtime.h): the backend berth.ini
 * [runtime] backend names, and each runtime_* call handed to it.
 */
#include "runtime.h"

#include <string.h>

static const struct runtime_backend *const backends[] = {
	&runtime_local,
};

/*
 * The configured backend. config.c accepts only the names above, so an
 * unknown one cannot reach here; the first backend is the fallback.
 */
static const struct runtime_backend *
backend(const struct berth_root *r)
{
	const char *name = r->cfg.runtime_backend;
	size_t i;

	for (i = 0; name != NULL && i < sizeof(backends) / sizeof(backends[0]);
	    i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return backends[0];
}

int
runtime_deploy(const struct berth_root *r, const char *app,
    int64_t release_id, line_fn progress, void *data)
{
	return backend(r)->deploy(r, app, release_id, progress, data);
}

int
runtime_scale(const struct berth_root *r, const char *app,
    line_fn progress, void *data)
{
	return backend(r)->scale(r, app, progress, data);
}

int
runtime_restart(const struct berth_root *r, const char *app,
    const char *target, line_fn progress, void *data)
{
	return backend(r)->restart(r, app, target, progress, data);
}

int
runtime_stop(const struct berth_root *r, const char *app,
    const char *target)
{
	return backend(r)->stop(r, app, target);
}

int
runtime_start(const struct berth_root *r, const char *app)
{
	return backend(r)->start(r, app);
}

int
runtime_destroy(const struct berth_root *r, const char *app)
{
	return backend(r)->destroy(r, app);
}

int
runtime_ps(const struct berth_root *r, const char *app, json_t **out)
{
	return backend(r)->ps(r, app, out);
}

int
runtime_wait_release(const struct berth_root *r, const char *app,
    int64_t release_id, line_fn progress, void *data)
{
	return backend(r)->wait_release(r, app, release_id, progress, data);
}

int
runtime_status(const struct berth_root *r, json_t **out)
{
	return backend(r)->status(r, out);
}

int
runtime_settle_stale(const struct berth_root *r, const struct app *app)
{
	return backend(r)->settle_stale(r, app);
}

int
runtime_shutdown(const struct berth_root *r)
{
	return backend(r)->shutdown(r);
}

char *
runtime_url(const struct berth_root *r, const char *app)
{
	return backend(r)->url(r, app);
}

int
runtime_logs(const struct berth_root *r, const char *app,
    const struct runtime_log_query *q, FILE *out,
    volatile sig_atomic_t *stop)
{
	return backend(r)->logs(r, app, q, out, stop);
}

int
runtime_slug_put(const struct berth_root *r, const char *tree,
    const char *slug_id)
{
	return backend(r)->slug_put(r, tree, slug_id);
}

int
runtime_slug_exists(const struct berth_root *r, const char *slug_id)
{
	return backend(r)->slug_exists(r, slug_id);
}

int
runtime_slug_open(const struct berth_root *r, const char *slug_id,
    char **dir)
{
	return backend(r)->slug_open(r, slug_id, dir);
}

void
runtime_slug_close(const struct berth_root *r, char *dir)
{
	backend(r)->slug_close(r, dir);
}

int
runtime_slug_remove(const struct berth_root *r, const char *slug_id)
{
	return backend(r)->slug_remove(r, slug_id);
}

int
runtime_run(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *command)
{
	return backend(r)->run(r, app, rel, commit, command);
}

int
runtime_script(const struct berth_root *r, const char *app,
    const struct release *rel, const char *commit, const char *cmd,
    const char *name, const char *logpath, line_fn out, void *data)
{
	return backend(r)->script(r, app, rel, commit, cmd, name, logpath,
	    out, data);
}

int
runtime_node_open(const struct berth_root *r, int64_t pipeline_id,
    const char *tree, const char *parent, const char *name,
    struct runtime_node **out)
{
	return backend(r)->node_open(r, pipeline_id, tree, parent, name, out);
}

const char *
runtime_node_dir(const struct runtime_node *n)
{
	return n->backend->node_dir(n);
}

const char *
runtime_node_share(struct runtime_node *n, const char *src, const char *name)
{
	return n->backend->node_share(n, src, name);
}

int
runtime_node_run(struct runtime_node *n, struct child *c)
{
	return n->backend->node_run(n, c);
}

void
runtime_node_close(struct runtime_node *n)
{
	if (n != NULL)
		n->backend->node_close(n);
}
