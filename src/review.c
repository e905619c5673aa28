/*
 * review.c - review apps: one app per pushed branch, created on its
 * first push, redeployed on every push, destroyed with the branch.
 */
#include "review.h"
#include "appjson.h"
#include "build.h"
#include "deploy.h"
#include "names.h"
#include "output.h"
#include "release.h"
#include "runtime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_MAX_LEN 30

/* FNV-1a: a stable short hash of the exact branch name. */
static unsigned
branch_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* feature/Login_Form -> feature-login-form */
static char *
branch_slug(const char *branch)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p;

	for (p = branch; *p != '\0'; p++) {
		int c = tolower((unsigned char)*p);

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			strbuf_addch(&sb, c);
		else if (sb.len > 0 && sb.buf[sb.len - 1] != '-')
			strbuf_addch(&sb, '-');
	}
	while (sb.len > 0 && sb.buf[sb.len - 1] == '-')
		sb.buf[--sb.len] = '\0';
	return strbuf_detach(&sb);
}

/* Whether name is free for branch: no live app, or its own review app. */
static int
name_free_for(struct ledger *db, int64_t pid, const char *name,
    const char *branch)
{
	struct app a;
	struct review_app ra;
	int mine = 0;

	memset(&a, 0, sizeof(a));
	if (ledger_app_get(db, name, &a) != 0)
		return 1;
	if (ledger_review_get(db, pid, branch, &ra) == 0) {
		mine = ra.app_id == a.id;
		review_app_clear(&ra);
	}
	app_clear(&a);
	return mine;
}

char *
review_app_name(struct ledger *db, const char *pipeline, const char *branch)
{
	struct pipeline p;
	char *slug = branch_slug(branch), *name = NULL;
	size_t plen = strlen(pipeline);
	char suffix[8];

	memset(&p, 0, sizeof(p));
	if (*slug == '\0') {
		berth_error("branch '%s' makes no review app name: use letters "
		    "or digits in it", branch);
		goto out;
	}
	if (ledger_pipeline_get(db, pipeline, &p) != 0)
		goto out;
	name = xasprintf("%s-%s", pipeline, slug);
	snprintf(suffix, sizeof(suffix), "-%04x",
	    branch_hash(branch) & 0xffff);
	if (strlen(name) > NAME_MAX_LEN ||
	    !name_free_for(db, p.id, name, branch)) {
		/* Cut to leave room for "-xxxx", never inside "-". */
		size_t keep = NAME_MAX_LEN - strlen(suffix);

		if (plen + 1 >= keep) {
			free(name);
			name = NULL;
			berth_error("pipeline name %s leaves no room for a "
			    "review app name (at most %d characters)",
			    pipeline, NAME_MAX_LEN);
			goto out;
		}
		if (strlen(name) > keep)
			name[keep] = '\0';
		while (name[strlen(name) - 1] == '-')
			name[strlen(name) - 1] = '\0';
		{
			char *n2 = xasprintf("%s%s", name, suffix);

			free(name);
			name = n2;
		}
		if (!name_free_for(db, p.id, name, branch)) {
			berth_error("review app name %s for branch %s is "
			    "taken; rename the branch or destroy that app",
			    name, branch);
			free(name);
			name = NULL;
			goto out;
		}
	}
	if (name_check_app(name) < 0) {
		free(name);
		name = NULL;
	}
out:
	pipeline_clear(&p);
	free(slug);
	return name;
}

static void
waiting(const char *holder, void *data)
{
	(void)data;
	out_heading("Waiting for the %s to finish", holder);
}

/*
 * The config of a new review app from app.json (review over top-level
 * env), the pipeline's review config and berth's own variables. Fails
 * naming every required var that has no value.
 */
static int
review_config(struct berth_root *r, const struct pipeline *p,
    const struct appjson *aj, const char *branch, const char *name,
    struct kvlist *out)
{
	struct appjson_env *env = NULL;
	struct kvlist pconf = { NULL, 0 };
	struct strbuf missing = STRBUF_INIT;
	struct app *parents = NULL;
	size_t nenv = 0, nparents = 0, i;
	int ret = -1;

	if (appjson_env_merged(aj, "review", &env, &nenv) < 0 ||
	    ledger_pipeline_config_get(r->db, p->id, "review", &pconf) < 0)
		goto out;
	for (i = 0; i < nenv; i++) {
		const char *pv = kvlist_get(&pconf, env[i].key);

		if (env[i].value != NULL)
			kvlist_add(out, env[i].key, env[i].value);
		else if (env[i].secret) {
			char rnd[65];

			random_hex(rnd, 32);
			kvlist_add(out, env[i].key, rnd);
		} else if (env[i].required && pv == NULL)
			strbuf_addf(&missing, "%s%s", missing.len ? ", " : "",
			    env[i].key);
	}
	if (missing.len > 0) {
		berth_error("review app for %s not created: required config "
		    "var%s %s %s not set; set %s with: berth "
		    "reviewapps:config:set KEY=VALUE -p %s", branch,
		    strchr(missing.buf, ',') ? "s" : "", missing.buf,
		    strchr(missing.buf, ',') ? "are" : "is",
		    strchr(missing.buf, ',') ? "them" : "it", p->name);
		goto out;
	}
	for (i = 0; i < pconf.nr; i++)
		kvlist_add(out, pconf.items[i].key, pconf.items[i].value);
	kvlist_add(out, "BERTH_BRANCH", branch);
	kvlist_add(out, "BERTH_APP", name);
	if (ledger_apps_for_branch(r->db, p->id, p->deploy_branch, &parents,
	    &nparents) == 0 && nparents > 0)
		kvlist_add(out, "BERTH_PARENT_APP", parents[0].name);
	ret = 0;
out:
	app_list_free(parents, nparents);
	appjson_env_list_free(env, nenv);
	kvlist_clear(&pconf);
	strbuf_release(&missing);
	return ret;
}

/* The formation of a new review app: environments.review's, else the
 * top-level one; *where names it for messages. */
static const struct formation_item *
review_items(const struct appjson *aj, size_t *n, const char **where)
{
	*where = "environments.review.formation";
	*n = aj->review.nformation;
	if (*n > 0)
		return aj->review.formation;
	*where = "formation";
	*n = aj->nformation;
	return aj->formation;
}

/*
 * Whether that formation stays within berth.ini [runtime] max_dynos,
 * as ps:scale must: checked before the review app exists.
 */
static int
review_formation_allowed(const struct berth_root *r,
    const struct appjson *aj)
{
	const struct formation_item *f;
	const char *where;
	size_t n, i;

	f = review_items(aj, &n, &where);
	for (i = 0; i < n; i++)
		if (f[i].quantity > r->cfg.max_dynos)
			return berth_error("app.json: %s: %s has quantity %d, "
			    "more than berth.ini [runtime] max_dynos (%d) "
			    "allows; lower it", where, f[i].type,
			    f[i].quantity, r->cfg.max_dynos);
	return 0;
}

static int
review_formation(struct berth_root *r, int64_t app_id,
    const struct appjson *aj, const char *actor)
{
	const char *where;
	size_t n;
	const struct formation_item *f = review_items(aj, &n, &where);

	return n > 0 ? ledger_formation_set(r->db, app_id, f, n, actor) : 0;
}

/* Run a script of app.json for the app's release (postdeploy...). */
static int
run_hook_script(struct berth_root *r, const struct app *a, int64_t rel_id,
    const char *cmd, const char *name)
{
	struct release rel;
	struct proctypes types;
	char *commit = NULL, *log;
	int ret;

	if (release_load(r->db, a->id, rel_id, &rel, &commit, &types) < 0)
		return -1;
	out_heading("%s: %s", name, cmd);
	log = root_pathf(r, "logs/%s-%lld.log", name, (long long)rel.id);
	ret = runtime_script(r, a->name, &rel, commit, cmd, name, log,
	    out_progress, NULL);
	free(log);
	free(commit);
	proctypes_clear(&types);
	release_clear(&rel);
	return ret;
}

/* One review_deploy: the push it deploys and the review app it goes to. */
struct review_push {
	struct berth_root *r;
	git_repository *repo;
	const struct pipeline *p;
	const char *branch, *commit, *actor;
	struct appjson aj;	/* the commit's; empty when it has none */
	struct review_app ra;	/* the branch's review app */
	struct app a;		/* ra's app */
	int is_new;		/* ra was created by this push */
};

/*
 * The pushed commit's app.json into rp->aj, left empty when there is
 * none. -1 with berth_error() set when it cannot be read or parsed.
 */
static int
push_appjson(struct review_push *rp)
{
	return repo_read_appjson(rp->repo, rp->commit, &rp->aj) < 0 ? -1 : 0;
}

/*
 * The branch's review app into rp->ra and its app into rp->a; on the
 * branch's first push a new one (name, config, formation from app.json),
 * which sets rp->is_new. -1 with berth_error() set when there is none
 * and none can be made.
 */
static int
review_app_open(struct review_push *rp)
{
	struct ledger *db = rp->r->db;
	struct kvlist config = { NULL, 0 };
	char *name = NULL;
	int ret = -1;

	if (ledger_review_get(db, rp->p->id, rp->branch, &rp->ra) != 0) {
		if (review_formation_allowed(rp->r, &rp->aj) < 0)
			goto out;
		name = review_app_name(db, rp->p->name, rp->branch);
		if (name == NULL || review_config(rp->r, rp->p, &rp->aj,
		    rp->branch, name, &config) < 0 ||
		    ledger_review_create(db, rp->p->id, rp->branch, name,
		    &config, rp->actor, &rp->ra) < 0)
			goto out;
		rp->is_new = 1;
	}
	if (ledger_app_get(db, rp->ra.app, &rp->a) != 0)
		goto out;
	if (rp->is_new && review_formation(rp->r, rp->a.id, &rp->aj,
	    rp->actor) < 0)
		goto out;
	ret = 0;
out:
	free(name);
	kvlist_clear(&config);
	return ret;
}

/*
 * Build the pushed commit for rp's app and release it, progress on
 * stdout; done says how the release went. -1 with berth_error() set
 * when the build fails or no release went live or was recorded.
 */
static int
push_release(struct review_push *rp, struct release_done *done)
{
	char *ref = xasprintf("refs/heads/%s", rp->branch), *desc, sha[8];
	struct build_opts bo = {
		.root = rp->r,
		.repo = rp->repo,
		.app = &rp->a,
		.commit = rp->commit,
		.ref = ref,
		.actor = rp->actor,
	};
	struct build_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = build_run(&bo, &res);
	free(ref);
	if (rc < 0) {
		build_result_clear(&res);
		return -1;
	}
	desc = xasprintf("Deploy %s", short_sha(rp->commit, sha));
	{
		struct release_order o = {
			.app = &rp->a,
			.kind = RELEASE_DEPLOY,
			.slug_id = res.slug_id,
			.commit = rp->commit,
			.actor = rp->actor,
			.description = desc,
			.progress = out_progress,
		};

		release_deploy(rp->r, &o, done);
	}
	free(desc);
	build_result_clear(&res);
	return done->outcome == RELEASE_NOT_CREATED ||
	    done->outcome == RELEASE_FAILED ? -1 : 0;
}

/*
 * Deploy the push to rp's app and mark the review app deployed, or
 * failed (-1, berth_error() set) when the build or the release fails.
 * done is filled as push_release fills it.
 */
static int
push_deploy(struct review_push *rp, struct release_done *done)
{
	struct ledger *db = rp->r->db;
	char *url;

	runtime_settle_stale(rp->r, &rp->a);
	out_heading("Review app %s%s", rp->a.name, rp->is_new ? " (new)" : "");
	ledger_review_update(db, rp->ra.id, NULL, 0, 1);
	if (push_release(rp, done) < 0) {
		ledger_review_update(db, rp->ra.id, "failed", 0, 0);
		return -1;
	}
	url = runtime_url(rp->r, rp->a.name);
	if (done->outcome == RELEASE_RECORDED)
		out_heading("Launching v%d... %s; it starts when berthd does",
		    done->version, done->why);
	else
		out_heading("Launching v%d... done, %s", done->version, url);
	free(url);
	ledger_review_update(db, rp->ra.id, "deployed", 0, 0);
	return 0;
}

/*
 * scripts.postdeploy (environments.review's, else the top-level one) for
 * release rel_id: once, after the review app's first successful deploy.
 * -1, said on stdout, when it fails; it is then run on the next push.
 */
static int
push_postdeploy(struct review_push *rp, int64_t rel_id)
{
	const char *cmd = rp->aj.review.scripts.postdeploy != NULL ?
	    rp->aj.review.scripts.postdeploy : rp->aj.scripts.postdeploy;

	if (rp->ra.postdeploy_done || cmd == NULL)
		return 0;
	if (run_hook_script(rp->r, &rp->a, rel_id, cmd, "postdeploy") < 0) {
		out_error("postdeploy failed: %s", berth_last_error());
		return -1;
	}
	ledger_review_update(rp->r->db, rp->ra.id, NULL, 1, 0);
	out_detail("postdeploy done");
	return 0;
}

int
review_deploy(struct berth_root *r, git_repository *repo,
    const struct pipeline *p, const char *branch, const char *commit,
    const char *actor)
{
	struct review_push rp;
	struct release_done done;
	char *what, sha[8];
	int lock, ret = -1;

	memset(&rp, 0, sizeof(rp));
	memset(&done, 0, sizeof(done));
	rp.r = r;
	rp.repo = repo;
	rp.p = p;
	rp.branch = branch;
	rp.commit = commit;
	rp.actor = actor;
	what = xasprintf("review deploy of %s", short_sha(commit, sha));
	lock = deploy_lock(r, p->name, what, waiting, NULL);
	free(what);
	if (lock < 0)
		return -1;
	if (push_appjson(&rp) < 0 || review_app_open(&rp) < 0 ||
	    push_deploy(&rp, &done) < 0)
		out_error("Review app: %s", berth_last_error());
	else
		ret = push_postdeploy(&rp, done.id);
	deploy_unlock(lock);
	appjson_clear(&rp.aj);
	review_app_clear(&rp.ra);
	app_clear(&rp.a);
	release_done_clear(&done);
	return ret;
}

int
review_destroy(struct berth_root *r, const struct pipeline *p,
    const char *branch, const char *actor)
{
	struct review_app ra;
	struct release cur;
	struct app a;
	char *what;
	int lock, ret = -1, ran = 0;

	memset(&a, 0, sizeof(a));
	memset(&cur, 0, sizeof(cur));
	what = xasprintf("review app destruction of %s", branch);
	lock = deploy_lock(r, p->name, what, waiting, NULL);
	free(what);
	if (lock < 0)
		return -1;
	if (ledger_review_get(r->db, p->id, branch, &ra) != 0) {
		berth_error("branch %s of pipeline %s has no review app",
		    branch, p->name);
		goto out_nora;
	}
	if (ledger_app_get(r->db, ra.app, &a) != 0)
		goto out;
	/* scripts.pr-predestroy of the running release's app.json. */
	if (ledger_release_current(r->db, a.id, &cur) == 0 &&
	    cur.slug_id != NULL) {
		struct appjson aj;
		char *dir = NULL;
		const char *cmd;

		if (runtime_slug_open(r, cur.slug_id, &dir) == 0 &&
		    appjson_load(dir, &aj, NULL, NULL) == 0) {
			cmd = aj.review.scripts.pr_predestroy != NULL ?
			    aj.review.scripts.pr_predestroy :
			    aj.scripts.pr_predestroy;
			if (cmd != NULL) {
				if (run_hook_script(r, &a, 0, cmd,
				    "pr-predestroy") < 0)
					out_error("pr-predestroy failed: %s; "
					    "destroying anyway",
					    berth_last_error());
				ran = 1;
			}
			appjson_clear(&aj);
		}
		if (dir != NULL)
			runtime_slug_close(r, dir);
	}
	if (runtime_destroy(r, a.name) < 0)
		out_error("%s", berth_last_error());
	if (ledger_review_destroy(r->db, ra.id, actor) < 0)
		goto out;
	out_heading("Review app %s destroyed%s", a.name, ran ?
	    " (pr-predestroy ran)" : "");
	ret = 0;
out:
	review_app_clear(&ra);
out_nora:
	deploy_unlock(lock);
	release_clear(&cur);
	app_clear(&a);
	return ret;
}

/* The review apps of pipeline p with no push since its stale period. */
static void
reap_pipeline(struct berth_root *r, const struct pipeline *p,
    void (*say)(const char *fmt, ...))
{
	struct review_app *ra = NULL;
	size_t nra = 0, j;
	char before[32];
	time_t t;
	struct tm tm;

	t = time(NULL) - (time_t)p->review_stale_days * 86400;
	gmtime_r(&t, &tm);
	strftime(before, sizeof(before), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (ledger_review_stale(r->db, p->id, before, &ra, &nra) < 0)
		return;
	for (j = 0; j < nra; j++) {
		say("destroying review app %s: no push for %d day%s",
		    ra[j].app, p->review_stale_days,
		    p->review_stale_days == 1 ? "" : "s");
		if (review_destroy(r, p, ra[j].branch, "berthd") < 0)
			say("%s", berth_last_error());
	}
	review_app_list_free(ra, nra);
}

void
review_reap_stale(const char *root_dir,
    void (*say)(const char *fmt, ...))
{
	struct berth_root r;
	struct pipeline *ps = NULL;
	size_t nps = 0, i;

	if (root_open(&r, root_dir) < 0) {
		say("review reaper: %s", berth_last_error());
		return;
	}
	if (ledger_pipeline_list(r.db, &ps, &nps) == 0)
		for (i = 0; i < nps; i++)
			if (ps[i].review_apps && ps[i].review_autodestroy)
				reap_pipeline(&r, &ps[i], say);
	pipeline_list_free(ps, nps);
	root_close(&r);
}
