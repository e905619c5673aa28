/*
 * repo.h - every read of a Git repository, through libgit2. berth never
 * parses the output of the git CLI.
 */
#ifndef BERTH_REPO_H
#define BERTH_REPO_H

#include <git2.h>
#include <stdint.h>

#include "util.h"

/* Call once per process before any other repo_* function. */
void repo_global_init(void);
void repo_global_shutdown(void);

/*
 * Open the repository a hook runs in, from the environment (GIT_DIR and
 * the quarantine object directory), so objects being pushed are visible.
 * Must be called before any chdir().
 */
int repo_open_from_env(git_repository **out);
int repo_open(const char *path, git_repository **out);
/*
 * Create a bare repository at path for a pipeline whose deploy branch is
 * branch: HEAD points at it, push options are advertised, and
 * hooks/pre-receive and hooks/post-receive are symlinks to receive_bin.
 */
int repo_create_bare(const char *path, const char *branch,
    const char *receive_bin);

struct commit_info {
	char sha[GIT_OID_HEXSZ + 1];
	char short_sha[8];
	char *subject;
	char *author;
	int64_t time;		/* seconds since the epoch */
};
int repo_commit_info(git_repository *repo, const char *sha,
    struct commit_info *out);
void commit_info_clear(struct commit_info *ci);
/*
 * Check the commit's tree out into dir (which must not exist; its parent
 * must) without touching the repository's HEAD or index. Its submodules
 * are fetched and checked out too (a relative URL resolves against the
 * repository's own path), using dir.git beside dir meanwhile; no .git
 * is left in dir. One that cannot be fetched fails the checkout, named
 * with its URL; so does one on this machine (a path, file://, or a
 * relative URL: another pipeline's repository) unless local_ok.
 */
int repo_checkout(git_repository *repo, const char *sha, const char *dir,
    int local_ok);
/* Current target of a ref; 1 (and out "") when it does not exist. */
int repo_ref_target(git_repository *repo, const char *refname,
    char out[GIT_OID_HEXSZ + 1]);
/*
 * The commit a revision names (a branch, a tag, a full or short sha, as
 * in the repository), into out; 1 when it names none, -1 on an error.
 */
int repo_resolve_commit(git_repository *repo, const char *rev,
    char out[GIT_OID_HEXSZ + 1]);
/*
 * Move refname from old (ZERO_SHA or NULL: it must not exist yet) to
 * new, as one compare-and-swap: -1 with berth_error() "REF moved to
 * SHA meanwhile" when it is no longer at old. Logged as msg.
 */
int repo_ref_move(git_repository *repo, const char *refname,
    const char *old, const char *new, const char *msg);
/* The names of the refs matching glob (a path with a trailing star,
 * as git for-each-ref takes) whose target is sha, added to out. */
int repo_refs_at(git_repository *repo, const char *glob, const char *sha,
    struct strvec *out);
/*
 * The commits reachable from `from` but not from `hide` (NULL: none
 * hidden), newest first, at most limit (0 = all). *nr may be 0.
 */
int repo_log(git_repository *repo, const char *from, const char *hide,
    int limit, struct commit_info **out, size_t *nr);
void commit_info_list_free(struct commit_info *ci, size_t nr);
/*
 * The content of path in the commit's tree into out (at most max bytes).
 * 1 when the commit has no such file; -1 when it is too large, or not a
 * file (a directory, a link: file_not_a_file()).
 */
int repo_read_blob(git_repository *repo, const char *sha, const char *path,
    size_t max, struct strbuf *out);
struct appjson;
/*
 * The commit's app.json parsed into aj (emptied first; appjson_clear()
 * it): 0; 1 when the commit has none; -1 with berth_error() when it
 * cannot be read (too large, not a file) or parsed.
 */
int repo_read_appjson(git_repository *repo, const char *sha,
    struct appjson *aj);
/* What changed between two commits, as `git diff --shortstat -M`. */
struct diff_stats {
	size_t files;
	size_t insertions;
	size_t deletions;
};
/* from NULL: against the empty tree (a first deploy). */
int repo_diff_stats(git_repository *repo, const char *from, const char *to,
    struct diff_stats *out);
/*
 * Fetch refspec ("+refs/heads/x:refs/heads/pr/7") from url into repo,
 * authenticating with token (GitHub's x-access-token) when not NULL.
 */
int repo_fetch(git_repository *repo, const char *url, const char *token,
    const char *refspec);
/* Delete refname; 0 also when there was none. */
int repo_ref_delete(git_repository *repo, const char *refname);
/* Clone url into dir (a buildpack from a Git URL); url#REF checks the
 * branch, tag or commit REF out. */
int repo_clone(const char *url, const char *dir);
/* Record libgit2's last error as ours, prefixed with what. */
int repo_error(const char *what);

#endif
