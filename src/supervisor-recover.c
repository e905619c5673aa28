/*
 * supervisor-recover.c - what a berthd that starts after a crash does
 * first (see supervisor_recover in supervisor.h): stop the dynos the
 * previous one left, found by their pid files, and remove their working
 * copies.
 */
#include "supervisor.h"
#include "proc.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Stop the dyno a pid file names if it still is that process. */
static pid_t
recover_one(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned long long start = 0;
	long pid = 0;
	pid_t ret = 0;

	if (read_file(path, &sb, 4096) == 0 &&
	    sscanf(strbuf_str(&sb), "%ld %llu", &pid, &start) == 2 &&
	    pid > 1 && proc_start_time((pid_t)pid) == start) {
		kill(-(pid_t)pid, SIGTERM);
		ret = (pid_t)pid;
	}
	strbuf_release(&sb);
	return ret;
}

/* Remove every ROOT/apps/APP/dynos/: the working copies of old dynos. */
static void
remove_dyno_dirs(struct supervisor *sv)
{
	char *apps = root_path(sv->root, "apps");
	DIR *ad = opendir(apps);
	struct dirent *de;

	while (ad != NULL && (de = readdir(ad)) != NULL) {
		char *dd;

		if (de->d_name[0] == '.')
			continue;
		dd = xasprintf("%s/%s/dynos", apps, de->d_name);
		rm_rf(dd);
		free(dd);
	}
	if (ad != NULL)
		closedir(ad);
	free(apps);
}

void
supervisor_recover(struct supervisor *sv)
{
	char *dir = root_path(sv->root, "run/dynos");
	struct strvec files = STRVEC_INIT;
	pid_t *pids = NULL;
	size_t npids = 0, i;
	int64_t deadline;
	struct dirent *de;
	DIR *dp;

	mkdir_p(dir, 0700);
	dp = opendir(dir);
	while (dp != NULL && (de = readdir(dp)) != NULL) {
		char *path;
		pid_t pid;

		if (de->d_name[0] == '.')
			continue;
		path = path_join(dir, de->d_name);
		if ((pid = recover_one(path)) > 0) {
			pids = xrealloc(pids, (npids + 1) * sizeof(*pids));
			pids[npids++] = pid;
		}
		strvec_push(&files, path);
		free(path);
	}
	if (dp != NULL)
		closedir(dp);
	deadline = now_ms() + 2000;
	for (i = 0; i < npids; i++) {
		while (kill(pids[i], 0) == 0 && now_ms() < deadline)
			poll(NULL, 0, 10);
		kill(-pids[i], SIGKILL);
	}
	for (i = 0; i < files.nr; i++)
		unlink(files.v[i]);
	if (npids > 0)
		log_say("stopped %zu dyno%s left by a previous berthd", npids,
		    npids == 1 ? "" : "s");
	strvec_clear(&files);
	free(pids);
	free(dir);
	remove_dyno_dirs(sv);
}

