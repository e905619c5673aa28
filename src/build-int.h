/*
 * build-int.h - what build.c (the build's tree, output and slug) and
 * build-buildpacks.c (choosing and running its buildpacks) share, and
 * nothing outside them may include: the build's context and parts.
 */
#ifndef BERTH_BUILD_INT_H
#define BERTH_BUILD_INT_H

#include <stdint.h>
#include <stdio.h>

#include "appjson.h"
#include "build.h"
#include "buildpack.h"

struct secret;

struct build_ctx {
	const struct build_opts *o;	/* NULL for a test build */
	struct berth_root *root;
	int64_t pipeline_id;
	const char *commit;
	FILE *log;
	struct kvlist config;
	int64_t deadline;
	char *scratch;		/* tmp/build-ID */
	char *appdir;		/* scratch/app: the tree being built */
	char *envdir;
	char *cachedir;
	struct strvec env;	/* environment for buildpack programs */
	struct strbuf capture;	/* bin/detect and bin/release stdout */
	struct secret *secrets;	/* config values hidden from output */
	size_t nsecrets;
	int capturing;
	/* buildpacks run sandboxed (sandbox.h), as uid: the tree is at
	 * /app, the cache at /tmp/cache, ENV_DIR at /tmp/env */
	int sandboxed, uid;
	/* output shown and logged so far, and what the cap dropped */
	int64_t emitted, lines;
	int64_t dropped_lines, dropped_bytes;
};

/* The most of a build's output the pusher sees and its log keeps. */
#define BUILD_OUTPUT_MAX (8LL << 20)
#define BUILD_OUTPUT_LINES 100000

/* What build_steps() gathers on its way to a slug; parts_clear() frees. */
struct build_parts {
	struct appjson aj;
	int have_procfile;
	struct bp *bps;		/* the chosen buildpacks, in order */
	size_t nbps;
	struct strbuf names;	/* "a,b": the buildpacks run, for the ledger */
	struct proctypes release_types;	/* the last bin/release's defaults */
};

/* In build.c. */
/*
 * Show prefix + text to the pusher and the log, config values redacted;
 * past BUILD_OUTPUT_MAX of it, count it instead.
 */
void build_emit(struct build_ctx *b, const char *prefix, const char *text);
/* Say what the cap dropped, if anything (once, at the build's end). */
void build_say_dropped(struct build_ctx *b);
/* build_emit() a formatted line. */
void build_say(struct build_ctx *b, const char *prefix, const char *fmt, ...)
    BERTH_ATTR_PRINTF(3, 4);
/* Time left for the build, or -1 after recording the timeout error. */
int64_t build_time_left(struct build_ctx *b);

/* In build-buildpacks.c. */
/* Run bin/SCRIPT of bp in b->appdir; capture: stdout into b->capture. */
int build_run_script(struct build_ctx *b, const struct bp *bp,
    const char *script, int capture, const char *arg1, const char *arg2,
    const char *arg3);
/*
 * Choose the buildpacks into *out: config var BUILDPACK_URL, else
 * app.json's, else .buildpacks, else the pipeline's, else the first
 * installed one whose bin/detect accepts the app. *nr may be 0.
 */
int build_choose_buildpacks(struct build_ctx *b, const struct appjson *aj,
    struct bp **out, size_t *nr);
/* Each of p->bps's bin/compile then bin/release, in order. */
int build_compile_all(struct build_ctx *b, struct build_parts *p);
/* Free n buildpacks and the array holding them. */
void build_bps_free(struct bp *bps, size_t n);

#endif
