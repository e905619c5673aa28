/*
 * repo.c - libgit2: pipeline repositories, checkouts, commit details.
 */
#include "repo.h"
#include "appjson.h"
#include "util.h"

#include <git2/sys/repository.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
repo_global_init(void)
{
	git_libgit2_init();
}

void
repo_global_shutdown(void)
{
	git_libgit2_shutdown();
}

int
repo_error(const char *what)
{
	const git_error *e = git_error_last();

	return berth_error("%s: %s", what, e != NULL && e->message != NULL ?
	    e->message : "unknown libgit2 error");
}

int
repo_open_from_env(git_repository **out)
{
	if (git_repository_open_ext(out, NULL, GIT_REPOSITORY_OPEN_FROM_ENV,
	    NULL) < 0)
		return repo_error("cannot open the pushed repository");
	return 0;
}

int
repo_open(const char *path, git_repository **out)
{
	if (git_repository_open_bare(out, path) < 0)
		return repo_error(path);
	return 0;
}

static int
link_hook(const char *repo_path, const char *hook, const char *target)
{
	char *path = xasprintf("%s/hooks/%s", repo_path, hook);
	int ret = 0;

	unlink(path);
	if (symlink(target, path) < 0)
		ret = berth_error_errno("cannot link %s", path);
	free(path);
	return ret;
}

int
repo_create_bare(const char *path, const char *branch,
    const char *receive_bin)
{
	git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	char *head = xasprintf("refs/heads/%s", branch);
	char *hooks = path_join(path, "hooks");
	int ret = -1;

	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
	    GIT_REPOSITORY_INIT_NO_REINIT;
	opts.initial_head = head;
	if (git_repository_init_ext(&repo, path, &opts) < 0) {
		repo_error("cannot create the repository");
		goto out;
	}
	if (git_repository_config(&cfg, repo) < 0 ||
	    git_config_set_bool(cfg, "receive.advertisePushOptions", 1) < 0 ||
	    git_config_set_bool(cfg, "receive.denyDeletes", 0) < 0) {
		repo_error("cannot configure the repository");
		goto out;
	}
	if (mkdir_p(hooks, 0755) < 0 ||
	    link_hook(path, "pre-receive", receive_bin) < 0 ||
	    link_hook(path, "post-receive", receive_bin) < 0)
		goto out;
	ret = 0;
out:
	git_config_free(cfg);
	git_repository_free(repo);
	free(head);
	free(hooks);
	return ret;
}

static int
lookup_commit(git_repository *repo, const char *sha, git_commit **out)
{
	git_oid oid;

	if (git_oid_fromstr(&oid, sha) < 0)
		return berth_error("'%s' is not a commit id", sha);
	if (git_commit_lookup(out, repo, &oid) < 0)
		return repo_error("cannot read the pushed commit");
	return 0;
}

int
repo_commit_info(git_repository *repo, const char *sha,
    struct commit_info *out)
{
	git_commit *c;
	const git_signature *a;
	const char *summary;

	memset(out, 0, sizeof(*out));
	if (lookup_commit(repo, sha, &c) < 0)
		return -1;
	git_oid_tostr(out->sha, sizeof(out->sha), git_commit_id(c));
	snprintf(out->short_sha, sizeof(out->short_sha), "%.7s", out->sha);
	summary = git_commit_summary(c);
	out->subject = xstrdup(summary != NULL ? summary : "");
	a = git_commit_author(c);
	out->author = xstrdup(a != NULL && a->name != NULL ? a->name : "");
	out->time = (int64_t)git_commit_time(c);
	git_commit_free(c);
	return 0;
}

void
commit_info_clear(struct commit_info *ci)
{
	free(ci->subject);
	free(ci->author);
	ci->subject = ci->author = NULL;
}

/* Record a checkout's libgit2 error, a full disk said as such. */
static int
checkout_error(void)
{
	const git_error *e = git_error_last();

	/* libgit2 does not keep errno; its message names ENOSPC. */
	if (errno == ENOSPC || (e != NULL && e->message != NULL &&
	    strstr(e->message, "No space left") != NULL))
		return berth_error("cannot check the commit out: disk full (no "
		    "space left on the server root's file system); free space "
		    "and push again");
	return repo_error("cannot check the commit out");
}

static int
find_gitlink(const char *root, const git_tree_entry *e, void *payload)
{
	(void)root;
	if (git_tree_entry_filemode(e) != GIT_FILEMODE_COMMIT)
		return 0;
	*(int *)payload = 1;
	return 1;		/* stop the walk */
}

/* Whether tree holds a submodule (a gitlink) anywhere. */
static int
has_submodules(const git_tree *tree)
{
	int found = 0;

	git_tree_walk(tree, GIT_TREEWALK_PRE, find_gitlink, &found);
	git_error_clear();
	return found;
}

#define SUBMODULE_DEPTH_MAX 8	/* submodules of submodules of... */

/* Whether url is a path on this server (or file://) where nothing is:
 * libgit2 would call it an "unsupported URL protocol". */
static int
local_missing(const char *url)
{
	if (url == NULL)
		return 0;
	if (strncmp(url, "file://", 7) == 0)
		url += 7;
	return url[0] == '/' && !path_exists(url);
}

/* A URL that names this machine's files: a path, file://. */
static int
is_local(const char *url)
{
	return url[0] == '/' || url[0] == '.' ||
	    strncmp(url, "file:", 5) == 0 ||
	    (strstr(url, "://") == NULL && strchr(url, ':') == NULL);
}

static int
collect_name(git_submodule *sm, const char *name, void *payload)
{
	(void)sm;
	strvec_push(payload, name);
	return 0;
}

/* Remove the .git file a submodule's (or the build's) work tree got. */
static void
drop_dotgit(const char *workdir)
{
	char *p = path_join(workdir, ".git");

	rm_rf(p);
	free(p);
}

/*
 * Fetch and check out every submodule of w (a repository with a work
 * tree whose HEAD is the commit built), and theirs, as `git submodule
 * update --init --recursive` does. A relative URL resolves against w's
 * origin. -1 with an error naming the submodule and its URL.
 */
static int
update_submodules(git_repository *w, int depth, int local_ok)
{
	struct strvec names = STRVEC_INIT;
	size_t i;
	int ret = -1;

	if (git_submodule_foreach(w, collect_name, &names) < 0) {
		repo_error("cannot read .gitmodules");
		goto out;
	}
	for (i = 0; i < names.nr; i++) {
		git_submodule_update_options uo = GIT_SUBMODULE_UPDATE_OPTIONS_INIT;
		git_submodule *sm = NULL;
		git_repository *sub = NULL;
		git_buf url = GIT_BUF_INIT;
		const char *raw;
		char *shown = NULL;
		int rc;

		if (git_submodule_lookup(&sm, w, names.v[i]) < 0) {
			repo_error(names.v[i]);
			goto out;
		}
		raw = git_submodule_url(sm);
		if (raw == NULL) {
			berth_error("submodule %s has no URL in .gitmodules: add "
			    "one (git submodule add URL %s)", names.v[i],
			    git_submodule_path(sm));
			git_submodule_free(sm);
			goto out;
		}
		if (git_submodule_resolve_url(&url, w, raw) == 0)
			shown = redact_userinfo(url.ptr);
		else
			shown = redact_userinfo(raw);
		git_error_clear();
		uo.checkout_opts.checkout_strategy = GIT_CHECKOUT_FORCE;
		uo.fetch_opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
		if (!local_ok && is_local(url.ptr != NULL ? url.ptr : raw)) {
			rc = berth_error("submodule %s (%s) is a repository on "
			    "this server: give it a URL of a git host, or set "
			    "berth.ini [build] app_json_paths = 1 to let pushes "
			    "name server paths", names.v[i], shown);
		} else if (local_missing(url.ptr)) {
			rc = berth_error("submodule %s (%s) cannot be fetched: no "
			    "repository there; make its URL one this server "
			    "can reach", names.v[i], shown);
		} else if ((rc = git_submodule_update(sm, 1, &uo)) < 0) {
			const git_error *e = git_error_last();

			berth_error("submodule %s (%s) cannot be fetched: %s; "
			    "make its URL one this server can reach",
			    names.v[i], shown, e != NULL && e->message != NULL ?
			    e->message : "unknown libgit2 error");
		} else if (git_submodule_open(&sub, sm) < 0) {
			rc = repo_error(names.v[i]);
		} else if (depth + 1 >= SUBMODULE_DEPTH_MAX) {
			rc = berth_error("submodule %s: submodules nest more "
			    "than %d deep", names.v[i], SUBMODULE_DEPTH_MAX);
		} else {
			rc = update_submodules(sub, depth + 1, local_ok);
			if (git_repository_workdir(sub) != NULL)
				drop_dotgit(git_repository_workdir(sub));
		}
		git_repository_free(sub);
		git_submodule_free(sm);
		git_buf_dispose(&url);
		free(shown);
		if (rc < 0)
			goto out;
	}
	ret = 0;
out:
	strvec_clear(&names);
	return ret;
}

/*
 * A commit with submodules: libgit2 checks those out only into a
 * repository with a work tree, so dir gets one for the time of the
 * checkout, its git directory beside it (dir.git), sharing repo's
 * objects (pushed ones still in quarantine too), with repo's path as
 * its origin. Nothing of it stays in dir, nor in repo.
 */
static int
checkout_with_submodules(git_repository *repo, git_commit *c,
    git_tree *tree, const char *dir, int local_ok)
{
	git_repository_init_options io = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
	git_repository *w = NULL;
	git_remote *origin = NULL;
	git_odb *odb = NULL;
	git_tree *wtree = NULL;
	char *gitdir = xasprintf("%s.git", dir);
	char *self = xstrdup(git_repository_path(repo));
	size_t len = strlen(self);
	int ret = -1;

	while (len > 1 && self[len - 1] == '/')
		self[--len] = '\0';
	io.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_DOTGIT_DIR;
	io.workdir_path = dir;
	if (git_repository_init_ext(&w, gitdir, &io) < 0 ||
	    git_repository_odb(&odb, repo) < 0 ||
	    git_repository_set_odb(w, odb) < 0 ||
	    git_remote_create(&origin, w, "origin", self) < 0 ||
	    git_tree_lookup(&wtree, w, git_tree_id(tree)) < 0) {
		repo_error("cannot check the commit out");
		goto out;
	}
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	errno = 0;
	if (git_checkout_tree(w, (const git_object *)wtree, &co) < 0) {
		checkout_error();
		goto out;
	}
	if (git_repository_set_head_detached(w, git_commit_id(c)) < 0) {
		repo_error("cannot check the commit out");
		goto out;
	}
	ret = update_submodules(w, 0, local_ok);
out:
	git_tree_free(wtree);
	git_remote_free(origin);
	git_odb_free(odb);
	git_repository_free(w);
	drop_dotgit(dir);
	rm_rf(gitdir);
	free(gitdir);
	free(self);
	return ret;
}

int
repo_checkout(git_repository *repo, const char *sha, const char *dir,
    int local_ok)
{
	git_checkout_options opts = GIT_CHECKOUT_OPTIONS_INIT;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	int ret = -1;

	if (lookup_commit(repo, sha, &c) < 0)
		return -1;
	if (git_commit_tree(&tree, c) < 0) {
		repo_error("cannot read the pushed tree");
		goto out;
	}
	if (mkdir_p(dir, 0755) < 0)
		goto out;
	if (has_submodules(tree)) {
		ret = checkout_with_submodules(repo, c, tree, dir, local_ok);
		goto out;
	}
	opts.checkout_strategy = GIT_CHECKOUT_FORCE |
	    GIT_CHECKOUT_DONT_UPDATE_INDEX;
	opts.target_directory = dir;
	errno = 0;
	if (git_checkout_tree(repo, (const git_object *)tree, &opts) < 0) {
		checkout_error();
		goto out;
	}
	ret = 0;
out:
	git_tree_free(tree);
	git_commit_free(c);
	return ret;
}

int
repo_ref_target(git_repository *repo, const char *refname,
    char out[GIT_OID_HEXSZ + 1])
{
	git_reference *ref = NULL;
	git_reference *resolved = NULL;
	int rc;

	out[0] = '\0';
	rc = git_reference_lookup(&ref, repo, refname);
	if (rc == GIT_ENOTFOUND)
		return 1;
	if (rc < 0)
		return repo_error(refname);
	if (git_reference_resolve(&resolved, ref) < 0) {
		git_reference_free(ref);
		return 1;
	}
	git_oid_tostr(out, GIT_OID_HEXSZ + 1, git_reference_target(resolved));
	git_reference_free(resolved);
	git_reference_free(ref);
	return 0;
}

int
repo_resolve_commit(git_repository *repo, const char *rev,
    char out[GIT_OID_HEXSZ + 1])
{
	git_object *obj = NULL, *commit = NULL;
	int rc;

	out[0] = '\0';
	rc = git_revparse_single(&obj, repo, rev);
	if (rc == GIT_ENOTFOUND || rc == GIT_EAMBIGUOUS || rc == GIT_EINVALIDSPEC)
		return 1;
	if (rc < 0)
		return repo_error(rev);
	rc = git_object_peel(&commit, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (rc < 0)
		return 1;
	git_oid_tostr(out, GIT_OID_HEXSZ + 1, git_object_id(commit));
	git_object_free(commit);
	return 0;
}

int
repo_ref_move(git_repository *repo, const char *refname, const char *old,
    const char *new, const char *msg)
{
	git_reference *ref = NULL;
	git_oid old_id, new_id;
	int creating = old == NULL || strspn(old, "0") == strlen(old), rc;
	char cur[GIT_OID_HEXSZ + 1];

	if (git_oid_fromstr(&new_id, new) < 0 ||
	    (!creating && git_oid_fromstr(&old_id, old) < 0))
		return berth_error("%s: '%s' is not a commit id", refname,
		    creating ? new : old);
	if (creating)
		rc = git_reference_create(&ref, repo, refname, &new_id, 0, msg);
	else
		rc = git_reference_create_matching(&ref, repo, refname,
		    &new_id, 1, &old_id, msg);
	git_reference_free(ref);
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS) {
		if (repo_ref_target(repo, refname, cur) != 0)
			strcpy(cur, "(deleted)");
		return berth_error("%s moved to %.7s meanwhile", refname,
		    cur);
	}
	return rc < 0 ? repo_error(refname) : 0;
}

struct refs_at {
	git_repository *repo;
	const char *sha;
	struct strvec *out;
};

static int
ref_at(const char *name, void *data)
{
	struct refs_at *ra = data;
	char cur[GIT_OID_HEXSZ + 1];

	if (repo_ref_target(ra->repo, name, cur) == 0 &&
	    strcmp(cur, ra->sha) == 0)
		strvec_push(ra->out, name);
	return 0;
}

int
repo_refs_at(git_repository *repo, const char *glob, const char *sha,
    struct strvec *out)
{
	struct refs_at ra = { repo, sha, out };

	if (git_reference_foreach_glob(repo, glob, ref_at, &ra) < 0)
		return repo_error(glob);
	return 0;
}

/* libgit2 asks for credentials: GitHub takes a token as a password. */
static int
token_credential(git_credential **out, const char *url, const char *user,
    unsigned int allowed, void *payload)
{
	(void)url;
	(void)user;
	if (!(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
		return GIT_PASSTHROUGH;
	return git_credential_userpass_plaintext_new(out, "x-access-token",
	    payload);
}

int
repo_fetch(git_repository *repo, const char *url, const char *token,
    const char *refspec)
{
	git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
	git_strarray specs = { (char **)&refspec, 1 };
	git_remote *remote = NULL;
	char *shown;
	int rc;

	if (git_remote_create_anonymous(&remote, repo, url) < 0) {
		shown = redact_userinfo(url);
		rc = repo_error(shown);
		free(shown);
		return rc;
	}
	if (token != NULL) {
		fo.callbacks.credentials = token_credential;
		fo.callbacks.payload = (void *)token;
	}
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	rc = git_remote_fetch(remote, &specs, &fo, "berth: fetch");
	git_remote_free(remote);
	if (rc < 0) {
		shown = redact_userinfo(url);
		rc = repo_error(shown);
		free(shown);
	}
	return rc;
}

int
repo_ref_delete(git_repository *repo, const char *refname)
{
	git_reference *ref = NULL;
	int rc = git_reference_lookup(&ref, repo, refname);

	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0)
		return repo_error(refname);
	rc = git_reference_delete(ref);
	git_reference_free(ref);
	return rc < 0 ? repo_error(refname) : 0;
}

/* Check ref (a branch, tag or commit of the clone) out, detached. */
static int
checkout_ref(git_repository *repo, const char *url, const char *ref)
{
	git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
	git_object *obj = NULL, *commit = NULL;
	char *spec = xasprintf("origin/%s", ref);
	int ret = -1;

	if (git_revparse_single(&obj, repo, spec) < 0 &&
	    git_revparse_single(&obj, repo, ref) < 0) {
		berth_error("%s: no branch, tag or commit '%s'", url, ref);
		goto out;
	}
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0 ||
	    git_checkout_tree(repo, commit, &co) < 0 ||
	    git_repository_set_head_detached(repo, git_object_id(commit)) < 0) {
		repo_error(url);
		goto out;
	}
	ret = 0;
out:
	git_object_free(commit);
	git_object_free(obj);
	free(spec);
	return ret;
}

int
repo_clone(const char *url, const char *dir)
{
	git_clone_options opts = GIT_CLONE_OPTIONS_INIT;
	git_repository *repo = NULL;
	char *base = xstrdup(url), *ref = strrchr(base, '#');
	int ret = 0;

	if (ref != NULL)
		*ref++ = '\0';
	opts.checkout_opts.checkout_strategy = GIT_CHECKOUT_FORCE;
	if (git_clone(&repo, base, dir, &opts) < 0)
		ret = repo_error(base);
	else if (ref != NULL && *ref != '\0')
		ret = checkout_ref(repo, base, ref);
	git_repository_free(repo);
	free(base);
	return ret;
}

/* The tree of commit sha into *out (freed by the caller). */
static int
commit_tree(git_repository *repo, const char *sha, git_tree **out)
{
	git_commit *c = NULL;
	git_oid oid;
	int rc;

	if (git_oid_fromstr(&oid, sha) < 0 || git_commit_lookup(&c, repo,
	    &oid) < 0)
		return repo_error(sha);
	rc = git_commit_tree(out, c);
	git_commit_free(c);
	return rc < 0 ? repo_error(sha) : 0;
}

int
repo_diff_stats(git_repository *repo, const char *from, const char *to,
    struct diff_stats *out)
{
	git_diff_find_options find = GIT_DIFF_FIND_OPTIONS_INIT;
	git_tree *a = NULL, *b = NULL;
	git_diff *diff = NULL;
	git_diff_stats *st = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if ((from != NULL && commit_tree(repo, from, &a) < 0) ||
	    commit_tree(repo, to, &b) < 0)
		goto out;
	/* -M: renames at git's default 50% similarity */
	find.flags = GIT_DIFF_FIND_RENAMES;
	if (git_diff_tree_to_tree(&diff, repo, a, b, NULL) < 0 ||
	    git_diff_find_similar(diff, &find) < 0 ||
	    git_diff_get_stats(&st, diff) < 0) {
		repo_error("cannot diff the commits");
		goto out;
	}
	out->files = git_diff_stats_files_changed(st);
	out->insertions = git_diff_stats_insertions(st);
	out->deletions = git_diff_stats_deletions(st);
	ret = 0;
out:
	git_diff_stats_free(st);
	git_diff_free(diff);
	git_tree_free(a);
	git_tree_free(b);
	return ret;
}

int
repo_log(git_repository *repo, const char *from, const char *hide,
    int limit, struct commit_info **out, size_t *nr)
{
	git_revwalk *walk = NULL;
	git_oid oid;
	int ret = -1;

	*out = NULL;
	*nr = 0;
	if (git_revwalk_new(&walk, repo) < 0)
		return repo_error("cannot walk the history");
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	if (git_oid_fromstr(&oid, from) < 0 || git_revwalk_push(walk,
	    &oid) < 0) {
		repo_error(from);
		goto out;
	}
	if (hide != NULL && (git_oid_fromstr(&oid, hide) < 0 ||
	    git_revwalk_hide(walk, &oid) < 0)) {
		repo_error(hide);
		goto out;
	}
	while ((limit == 0 || *nr < (size_t)limit) &&
	    git_revwalk_next(&oid, walk) == 0) {
		char sha[GIT_OID_HEXSZ + 1];

		git_oid_tostr(sha, sizeof(sha), &oid);
		*out = xrealloc(*out, (*nr + 1) * sizeof(**out));
		if (repo_commit_info(repo, sha, &(*out)[*nr]) < 0)
			goto out;
		(*nr)++;
	}
	ret = 0;
out:
	if (ret < 0) {
		commit_info_list_free(*out, *nr);
		*out = NULL;
		*nr = 0;
	}
	git_revwalk_free(walk);
	return ret;
}

void
commit_info_list_free(struct commit_info *ci, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		commit_info_clear(&ci[i]);
	free(ci);
}

/* What a tree entry is when it is not a file ("a directory"), or NULL. */
static const char *
entry_not_a_file(const git_tree_entry *e)
{
	switch (git_tree_entry_filemode(e)) {
	case GIT_FILEMODE_TREE:
		return "a directory";
	case GIT_FILEMODE_LINK:
		return "a symbolic link";
	case GIT_FILEMODE_COMMIT:
		return "a submodule";
	default:
		return NULL;
	}
}

int
repo_read_blob(git_repository *repo, const char *sha, const char *path,
    size_t max, struct strbuf *out)
{
	const char *what;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	int ret = -1, rc;

	if (lookup_commit(repo, sha, &c) < 0)
		return -1;
	if (git_commit_tree(&tree, c) < 0) {
		repo_error("cannot read the pushed tree");
		goto out;
	}
	rc = git_tree_entry_bypath(&e, tree, path);
	if (rc == GIT_ENOTFOUND) {
		ret = 1;
		goto out;
	}
	/* What a checkout would refuse (read_file_regular()), in its words,
	 * before anything reads it. */
	if (rc == 0 && (what = entry_not_a_file(e)) != NULL) {
		file_not_a_file(path, what);
		goto out;
	}
	if (rc < 0 || git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0) {
		repo_error(path);
		goto out;
	}
	if ((size_t)git_blob_rawsize(blob) > max) {
		file_too_large(path, max);
		goto out;
	}
	strbuf_add(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	ret = 0;
out:
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(c);
	return ret;
}

int
repo_read_appjson(git_repository *repo, const char *sha, struct appjson *aj)
{
	struct strbuf text = STRBUF_INIT;
	int rc;

	memset(aj, 0, sizeof(*aj));
	rc = repo_read_blob(repo, sha, "app.json", APPJSON_MAX_SIZE, &text);
	if (rc == 0 && appjson_parse(text.buf, text.len, aj, NULL, NULL) < 0)
		rc = -1;
	strbuf_release(&text);
	return rc;
}
