/*
 * dyno-record.c - dyno records (see dyno.h): what the process watching
 * a dyno writes about it under ROOT/run/, as JSON, so that a berthd
 * starting after a crash can tell which dynos still run and what each
 * one is, and the one-off records that let it clean up after a one-off
 * dyno whose process died with it.
 */
#include "dyno.h"
#include "proc.h"

#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The largest record read back (one with a config snapshot). */
#define RECORD_MAX (16 << 20)

static void
set_str(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_string(v));
}

static void
set_int(json_t *o, const char *key, long long v)
{
	json_object_set_new(o, key, json_integer(v));
}

/* A copy of o's string key, NULL when it has none. */
static char *
get_str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? xstrdup(v) : NULL;
}

static long long
get_int(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* An int member within lo..hi (absent: lo); *bad set when outside. */
static int
get_small(json_t *o, const char *key, int lo, int hi, int *bad)
{
	long long v = get_int(o, key, lo);

	if (v < lo || v > hi) {
		*bad = 1;
		return lo;
	}
	return (int)v;
}

json_t *
dyno_record_json(const struct dyno_record *rec, int with_config)
{
	json_t *o = json_object(), *rel = json_object(), *dir = json_object();
	json_t *lim = json_object();

	set_str(o, "app", rec->app);
	set_str(o, "type", rec->type);
	set_int(o, "index", rec->index);
	set_int(o, "port", rec->port);
	set_str(o, "command", rec->command);
	set_str(o, "commit", rec->commit);
	set_int(rel, "id", rec->rel.id);
	set_int(rel, "app_id", rec->rel.app_id);
	set_int(rel, "version", rec->rel.version);
	set_str(rel, "slug_id", rec->rel.slug_id);
	if (with_config)
		set_str(rel, "config", rec->rel.config);
	json_object_set_new(o, "release", rel);
	set_str(dir, "path", rec->dir.path);
	set_str(dir, "base", rec->dir.base);
	set_str(dir, "mount_opts", rec->dir.mount_opts);
	json_object_set_new(o, "dir", dir);
	set_str(o, "token", rec->token);
	if (rec->sandboxed)
		set_int(o, "sandbox_uid", rec->uid);
	set_int(o, "watcher", rec->watcher);
	set_int(o, "watcher_start", (long long)rec->watcher_start);
	set_int(o, "pid", rec->pid);
	set_int(o, "pid_start", (long long)rec->pid_start);
	set_int(o, "started_at", (long long)rec->started_at);
	json_object_set_new(o, "stopping", json_boolean(rec->stopping));
	set_int(o, "exit_code", rec->exit_code);
	set_int(lim, "memory", (long long)rec->limits.memory);
	set_int(lim, "pids", rec->limits.pids);
	json_object_set_new(o, "limits", lim);
	json_object_set_new(o, "oom_killed", json_boolean(rec->oom_killed));
	return o;
}

int
dyno_record_from_json(json_t *o, struct dyno_record *rec)
{
	json_t *rel = json_object_get(o, "release");
	json_t *dir = json_object_get(o, "dir");
	const char *token = json_string_value(json_object_get(o, "token"));
	int bad = 0;

	memset(rec, 0, sizeof(*rec));
	rec->exit_code = -1;
	if (!json_is_object(o) || !json_is_object(rel) ||
	    !json_is_object(dir) || token == NULL || strlen(token) >= 20)
		return berth_error("not a dyno record");
	rec->app = get_str(o, "app");
	rec->type = get_str(o, "type");
	rec->index = get_small(o, "index", 0, INT_MAX, &bad);
	rec->port = get_small(o, "port", 0, 65535, &bad);
	rec->command = get_str(o, "command");
	rec->commit = get_str(o, "commit");
	rec->rel.id = get_int(rel, "id", 0);
	rec->rel.app_id = get_int(rel, "app_id", 0);
	rec->rel.version = get_small(rel, "version", 0, RELEASE_VERSION_MAX,
	    &bad);
	rec->rel.slug_id = get_str(rel, "slug_id");
	rec->rel.config = get_str(rel, "config");
	rec->dir.path = get_str(dir, "path");
	rec->dir.base = get_str(dir, "base");
	rec->dir.mount_opts = get_str(dir, "mount_opts");
	snprintf(rec->token, sizeof(rec->token), "%s", token);
	rec->watcher = (pid_t)get_int(o, "watcher", 0);
	rec->watcher_start = (unsigned long long)get_int(o, "watcher_start",
	    0);
	rec->pid = (pid_t)get_int(o, "pid", 0);
	rec->pid_start = (unsigned long long)get_int(o, "pid_start", 0);
	rec->started_at = (time_t)get_int(o, "started_at", 0);
	rec->sandboxed = json_object_get(o, "sandbox_uid") != NULL;
	rec->uid = (int)get_int(o, "sandbox_uid", -1);
	rec->stopping = json_is_true(json_object_get(o, "stopping"));
	rec->exit_code = (int)get_int(o, "exit_code", -1);
	rec->limits.memory = get_int(json_object_get(o, "limits"), "memory", 0);
	rec->limits.pids = (int)get_int(json_object_get(o, "limits"), "pids",
	    0);
	rec->oom_killed = json_is_true(json_object_get(o, "oom_killed"));
	if (rec->app == NULL || rec->type == NULL || rec->command == NULL ||
	    bad) {
		dyno_record_clear(rec);
		return berth_error("not a dyno record");
	}
	return 0;
}

int
dyno_record_write(const char *path, const struct dyno_record *rec)
{
	json_t *o = dyno_record_json(rec, 0);
	char *text = json_dumps(o, JSON_COMPACT);
	int ret = write_file_volatile(path, text, strlen(text), 0600);

	free(text);
	json_decref(o);
	return ret;
}

int
dyno_record_load(const char *path, struct dyno_record *rec)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *o = NULL;
	int ret = -1;

	memset(rec, 0, sizeof(*rec));
	rec->exit_code = -1;
	if (read_file(path, &sb, RECORD_MAX) < 0)
		goto out;
	o = json_loads(strbuf_str(&sb), 0, NULL);
	ret = dyno_record_from_json(o, rec);
	if (ret < 0)
		berth_error("%s is not a dyno record", path);
out:
	json_decref(o);
	strbuf_release(&sb);
	return ret;
}

void
dyno_record_clear(struct dyno_record *rec)
{
	free(rec->app);
	free(rec->type);
	free(rec->command);
	free(rec->commit);
	release_clear(&rec->rel);
	free(rec->dir.path);
	free(rec->dir.base);
	free(rec->dir.mount_opts);
	memset(rec, 0, sizeof(*rec));
	rec->exit_code = -1;
}

void
dyno_record_of_spec(const struct dyno_spec *spec, struct dyno_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->app = (char *)spec->app;
	rec->type = (char *)spec->type;
	rec->index = spec->index;
	rec->port = spec->port;
	rec->command = (char *)spec->command;
	rec->commit = (char *)spec->commit;
	if (spec->rel != NULL) {
		rec->rel.id = spec->rel->id;
		rec->rel.app_id = spec->rel->app_id;
		rec->rel.version = spec->rel->version;
		rec->rel.slug_id = spec->rel->slug_id;
		rec->rel.config = spec->rel->config;
	}
	if (spec->dir != NULL)
		rec->dir = *spec->dir;
	if (spec->token != NULL)
		snprintf(rec->token, sizeof(rec->token), "%s", spec->token);
	rec->sandboxed = spec->sandboxed;
	rec->uid = spec->uid;
	if (spec->limits != NULL)
		rec->limits = *spec->limits;
	rec->started_at = time(NULL);
	rec->exit_code = -1;
}

void
dyno_spec_of_record(const struct dyno_record *rec, struct dyno_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->app = rec->app;
	spec->type = rec->type;
	spec->index = rec->index;
	spec->port = rec->port;
	spec->command = rec->command;
	spec->rel = &rec->rel;
	spec->commit = rec->commit;
	spec->dir = &rec->dir;
	spec->token = rec->token[0] != '\0' ? rec->token : NULL;
	spec->sandboxed = rec->sandboxed;
	spec->uid = rec->uid;
	spec->limits = &rec->limits;
}

int
dyno_record_watched(const struct dyno_record *rec)
{
	return proc_same(rec->watcher, rec->watcher_start);
}

void
dyno_record_kill(const struct dyno_record *rec)
{
	if (proc_same(rec->pid, rec->pid_start))
		kill(-rec->pid, SIGKILL);
	if (rec->token[0] != '\0')
		dyno_kill_token(rec->token);
}

/* ---- one-off dynos ---- */

static char *
oneoff_path(const struct berth_root *r, const char *token)
{
	return root_pathf(r, "run/oneoff/%s.json", token);
}

int
dyno_oneoff_begin(const struct berth_root *r, const struct dyno_spec *spec)
{
	struct dyno_record rec;
	char *parent = root_path(r, "run/oneoff"), *path;
	int ret;

	dyno_record_of_spec(spec, &rec);
	rec.watcher = getpid();
	rec.watcher_start = proc_start_time(rec.watcher);
	path = oneoff_path(r, spec->token);
	ret = mkdir_p(parent, 0700) < 0 ? -1 : dyno_record_write(path, &rec);
	free(path);
	free(parent);
	return ret;
}

void
dyno_oneoff_end(const struct berth_root *r, const char *token)
{
	char *path = oneoff_path(r, token);

	unlink(path);
	free(path);
}

/* Whether name ends in ".json" (not a "X.json.tmp.PID" being written). */
static int
is_record_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

int
dyno_records_each(const char *dir, int (*fn)(const char *path,
    struct dyno_record *rec, void *data), void *data)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (dp != NULL && (de = readdir(dp)) != NULL) {
		struct dyno_record rec;
		char *path;

		if (!is_record_name(de->d_name))
			continue;
		path = path_join(dir, de->d_name);
		if (dyno_record_load(path, &rec) == 0) {
			n += fn(path, &rec, data);
			dyno_record_clear(&rec);
		} else {
			/* Unreadable: nothing can act on it. */
			log_say("%s", berth_last_error());
			unlink(path);
		}
		free(path);
	}
	if (dp != NULL)
		closedir(dp);
	return n;
}

/* A one-off whose process is gone: kill what it left, remove its dir. */
static int
reap_oneoff(const char *path, struct dyno_record *rec, void *data)
{
	(void)data;
	if (dyno_record_watched(rec))
		return 0;
	dyno_kill_token(rec->token);
	dyno_dir_remove(&rec->dir);
	unlink(path);
	return 1;
}

int
dyno_oneoff_reap(const struct berth_root *r)
{
	char *dir = root_path(r, "run/oneoff");
	int n = dyno_records_each(dir, reap_oneoff, NULL);

	free(dir);
	return n;
}
