/*
 * supervisor-recover.c - what a berthd that starts after a crash does
 * with what the previous one left (see supervisor_recover in
 * supervisor.h): adopt the dynos whose monitors still run, found by
 * their records, then let each app's convergence claim the ones of its
 * current release it wants (sv_adopt_claim) and stop the rest; remove
 * what is left of dynos that are gone.
 *
 * A record counts only if its processes are what it says: the monitor's
 * pid with its start time, and the dyno's. A pid that was reused is
 * another process, never signalled.
 */
#include "supervisor.h"
#include "proc.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What recovery found. */
struct recovery {
	struct supervisor *sv;
	int adopted, gone;
};

/* A copy of s that rec no longer frees. */
static char *
steal(char **s)
{
	char *v = *s;

	*s = NULL;
	return v;
}

/*
 * Track the dyno of rec as adopted, not claimed yet (sv->lock held).
 * -1 when its monitor cannot be watched.
 */
static int
adopt(struct supervisor *sv, struct dyno_record *rec)
{
	int fd = proc_pidfd(rec->watcher);
	struct sv_dyno *d;

	/* Checked again: the pidfd is of the process the record names. */
	if (fd >= 0 && !dyno_record_watched(rec)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return -1;
	d = xcalloc(1, sizeof(*d));
	d->app = sv_app_get(sv, rec->app, rec->rel.app_id);
	d->type = steal(&rec->type);
	d->index = rec->index;
	d->command = steal(&rec->command);
	d->rel.id = rec->rel.id;
	d->rel.app_id = rec->rel.app_id;
	d->rel.version = rec->rel.version;
	d->rel.slug_id = steal(&rec->rel.slug_id);
	d->commit = steal(&rec->commit);
	d->dir = rec->dir;
	memset(&rec->dir, 0, sizeof(rec->dir));
	snprintf(d->token, sizeof(d->token), "%s", rec->token);
	d->pid = rec->watcher;
	d->pidfd = fd;
	d->pgid = rec->pid;
	d->port = rec->port;
	d->limits = rec->limits;
	d->out_fd = -1;
	d->started_at = rec->started_at;
	d->started_ms = now_ms() - (int64_t)(time(NULL) - rec->started_at) *
	    1000;
	d->adopted = 1;
	d->state = SV_STARTING;
	if (rec->stopping) {
		d->state = SV_STOPPING;
		d->kill_at = now_ms() + (int64_t)sv->root->cfg.stop_timeout *
		    1000;
	}
	d->next = sv->dynos;
	sv->dynos = d;
	return 0;
}

/*
 * One record: adopt its dyno while both it and its monitor run (or it
 * is being stopped); else end what is left of it, and forget it.
 */
static int
recover_record(const char *path, struct dyno_record *rec, void *data)
{
	struct recovery *rv = data;
	int watched = dyno_record_watched(rec);

	if (watched && (rec->stopping || (rec->exit_code < 0 &&
	    proc_same(rec->pid, rec->pid_start))) && adopt(rv->sv, rec) == 0) {
		rv->adopted++;
		return 0;
	}
	if (watched)
		kill(rec->watcher, SIGKILL);
	dyno_record_kill(rec);
	dyno_dir_remove(&rec->dir);
	unlink(path);
	rv->gone++;
	return 0;
}

/*
 * A pid file of a berthd before dyno monitors ("pid start"): stop the
 * dyno it names, if it still is that process; its pid, or 0.
 */
static pid_t
stop_legacy(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned long long start = 0;
	long pid = 0;
	pid_t ret = 0;

	if (read_file(path, &sb, 4096) == 0 &&
	    sscanf(strbuf_str(&sb), "%ld %llu", &pid, &start) == 2 &&
	    proc_same((pid_t)pid, start)) {
		kill(-(pid_t)pid, SIGKILL);
		ret = (pid_t)pid;
	}
	strbuf_release(&sb);
	unlink(path);
	return ret;
}

/* Every entry of dir that is not a record (nor one being written). */
static void
stop_legacy_all(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;

	while (dp != NULL && (de = readdir(dp)) != NULL) {
		char *path;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".json") != NULL)
			continue;
		path = path_join(dir, de->d_name);
		if (stop_legacy(path) > 0)
			log_say("stopped a dyno of an older berthd (%s)",
			    de->d_name);
		free(path);
	}
	if (dp != NULL)
		closedir(dp);
}

/* Whether an adopted dyno works in base. */
static int
dir_in_use(struct supervisor *sv, const char *base)
{
	struct sv_dyno *d;

	for (d = sv->dynos; d != NULL; d = d->next)
		if (d->dir.base != NULL && strcmp(d->dir.base, base) == 0)
			return 1;
	return 0;
}

/* Remove every ROOT/apps/APP/dynos/ENTRY no adopted dyno works in. */
static void
remove_dead_dirs(struct supervisor *sv)
{
	char *apps = root_path(sv->root, "apps");
	DIR *ad = opendir(apps), *dd;
	struct dirent *de, *ee;

	while (ad != NULL && (de = readdir(ad)) != NULL) {
		char *dir;

		if (de->d_name[0] == '.')
			continue;
		dir = xasprintf("%s/%s/dynos", apps, de->d_name);
		dd = opendir(dir);
		while (dd != NULL && (ee = readdir(dd)) != NULL) {
			char *base;

			if (strcmp(ee->d_name, ".") == 0 ||
			    strcmp(ee->d_name, "..") == 0)
				continue;
			base = path_join(dir, ee->d_name);
			if (!dir_in_use(sv, base))
				rm_rf(base);
			free(base);
		}
		if (dd != NULL)
			closedir(dd);
		free(dir);
	}
	if (ad != NULL)
		closedir(ad);
	free(apps);
}

/* Whether token is an adopted dyno's: its control group stays. */
static int
adopted_token(const char *token, void *data)
{
	struct supervisor *sv = data;
	struct sv_dyno *d;

	for (d = sv->dynos; d != NULL; d = d->next)
		if (strcmp(d->token, token) == 0)
			return 1;
	return 0;
}

void
supervisor_recover(struct supervisor *sv)
{
	char *dir = root_path(sv->root, "run/dynos");
	struct recovery rv = { sv, 0, 0 };
	int oneoff, groups;

	mkdir_p(dir, 0700);
	stop_legacy_all(dir);
	pthread_mutex_lock(&sv->lock);
	dyno_records_each(dir, recover_record, &rv);
	remove_dead_dirs(sv);
	groups = cgroup_sweep(sv->root, adopted_token, sv);
	pthread_mutex_unlock(&sv->lock);
	oneoff = dyno_oneoff_reap(sv->root);
	if (groups > 0)
		log_say("removed %d control group%s of dynos that had ended",
		    groups, groups == 1 ? "" : "s");
	if (rv.adopted > 0 || rv.gone > 0)
		log_say("adopted %d dyno%s a previous berthd left running; "
		    "%d had ended", rv.adopted, rv.adopted == 1 ? "" : "s",
		    rv.gone);
	if (oneoff > 0)
		log_say("ended %d one-off dyno%s (release phase, script) whose "
		    "berthd or berth had died", oneoff, oneoff == 1 ? "" : "s");
	free(dir);
}

/* ---- claiming ---- */

/* Whether d's process runs (an adopted one is starting until claimed). */
static int
running(const struct sv_dyno *d)
{
	return d->state == SV_STARTING || d->state == SV_UP;
}

/*
 * Whether another dyno of the app has d's type and index, runs the
 * app's release and is older than d, or is not adopted (claimed, or
 * new): then d is the twin that goes.
 */
static int
has_twin(struct supervisor *sv, const struct sv_dyno *d)
{
	struct sv_dyno *e;

	for (e = sv->dynos; e != NULL; e = e->next)
		if (e != d && e->app == d->app && e->index == d->index &&
		    strcmp(e->type, d->type) == 0 &&
		    running(e) &&
		    e->rel.id == d->app->rel.id && (!e->adopted ||
		    e->started_at < d->started_at ||
		    (e->started_at == d->started_at && e->pid < d->pid)))
			return 1;
	return 0;
}

void
sv_adopt_claim(struct supervisor *sv, struct sv_app *a)
{
	struct sv_dyno *d;
	char name[64];

	for (d = sv->dynos; d != NULL; d = d->next) {
		if (d->app != a || !d->adopted || d->state == SV_STOPPING)
			continue;
		sv_dyno_name(d, name);
		if (!running(d) || d->rel.id != a->rel.id || has_twin(sv, d)) {
			sv_app_event(a, name, "Not adopted: %s",
			    d->rel.id != a->rel.id ? "of another release" :
			    !running(d) ? "it ended" : "another one runs");
			d->adopted = 0;
			sv_dyno_stop(sv, d);
			continue;
		}
		d->adopted = 0;
		release_clear(&d->rel);
		sv_release_copy(&a->rel, &d->rel);
		free(d->commit);
		d->commit = a->commit != NULL ? xstrdup(a->commit) : NULL;
		sv_app_event(a, name, "Adopted: it kept running while berthd "
		    "was down (v%d)", d->rel.version);
		sv_dyno_go_live(sv, d);
	}
}

size_t
sv_adopt_stale(struct supervisor *sv, struct sv_app *a, int64_t rel_id)
{
	struct sv_dyno *d;
	size_t n = 0;

	for (d = sv->dynos; d != NULL; d = d->next)
		if (d->app == a && d->adopted && running(d) &&
		    d->rel.id != rel_id)
			n++;
	return n;
}

void
supervisor_stop_unclaimed(struct supervisor *sv)
{
	struct sv_dyno *d;
	char name[64];

	pthread_mutex_lock(&sv->lock);
	for (d = sv->dynos; d != NULL; d = d->next)
		if (d->adopted && d->state != SV_STOPPING) {
			sv_dyno_name(d, name);
			sv_app_event(d->app, name, "Not adopted: its app runs "
			    "nothing now");
			d->adopted = 0;
			sv_dyno_stop(sv, d);
		}
	pthread_mutex_unlock(&sv->lock);
}
