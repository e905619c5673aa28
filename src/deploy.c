/*
 * deploy.c - the one release path (see deploy.h): from an order to a
 * pending release in the ledger, through the runtime, to an outcome.
 *
 * Settling (succeeded or failed, config put back) is not done here: the
 * runtime backend does it (berthd's deploy request, or the offline path
 * of runtime-local.c when berthd is not running), so that a release
 * never stays pending when the client that asked for it is killed.
 */
#include "deploy.h"
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {
	[RELEASE_DEPLOY] = "deploy",
	[RELEASE_CONFIG] = "config",
	[RELEASE_PROMOTE] = "promote",
	[RELEASE_ROLLBACK] = "rollback",
};

/* Record o's pending release into rel; -1 with berth_error(), 1 when a
 * config change needed none. */
static int
create(struct berth_root *r, const struct release_order *o,
    struct release *rel)
{
	const struct release *from = o->from;
	int64_t id = 0;
	int version;

	if (o->kind == RELEASE_CONFIG) {
		if (ledger_config_change(r->db, o->app->id, o->set, o->unset,
		    o->nunset, o->actor, &version, &id) < 0)
			return -1;
		if (id == 0)
			return 1;
		return ledger_release_get_by_id(r->db, id, rel) == 0 ? 0 : -1;
	}
	{
		struct release_new rn = {
			.app_id = o->app->id,
			.slug_id = from != NULL ? from->slug_id : o->slug_id,
			.kind = o->kind == RELEASE_RETRY ? from->kind :
			    kinds[o->kind],
			.status = "pending",
			.actor = o->actor,
			.commit = from != NULL ? from->commit : o->commit,
			.description = o->description,
			.config = o->kind == RELEASE_ROLLBACK ? from->config :
			    NULL,
			.gate = o->kind == RELEASE_DEPLOY ? o->gate : NULL,
		};

		return ledger_release_create(r->db, &rn, rel);
	}
}

/*
 * This is the one place a release is created. The events issue hooks
 * in twice: "release created" right after create() below, and "release
 * ended" in release_settle() (release.c), which berthd's deploy and the
 * offline path of runtime-local.c call. A failed config change or
 * rollback gets its config vars back there (release_settle's
 * prev_config).
 */
enum release_outcome
release_deploy(struct berth_root *r, const struct release_order *o,
    struct release_done *done)
{
	struct release rel;
	int rc;

	memset(done, 0, sizeof(*done));
	memset(&rel, 0, sizeof(rel));
	rc = create(r, o, &rel);
	if (rc != 0) {
		done->outcome = rc > 0 ? RELEASE_UNNEEDED : RELEASE_NOT_CREATED;
		if (rc < 0)
			done->why = xstrdup(berth_last_error());
		return done->outcome;
	}
	done->version = rel.version;
	done->id = rel.id;
	if (o->created != NULL)
		o->created(o, &rel);
	rc = runtime_deploy(r, o->app->name, rel.id, o->progress, o->data);
	release_clear(&rel);
	if (rc == 0)
		done->outcome = RELEASE_LIVE;
	else if (rc == 2)
		done->outcome = RELEASE_STAGED;
	else {
		done->outcome = rc == 1 ? RELEASE_RECORDED : RELEASE_FAILED;
		done->why = xstrdup(berth_last_error());
	}
	return done->outcome;
}

void
release_done_clear(struct release_done *done)
{
	free(done->why);
	done->why = NULL;
}
