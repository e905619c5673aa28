/*
 * checks.h - Dokku's CHECKS file: the health checks of an app's web
 * dynos, one `PATH [EXPECTED CONTENT]` line each, with WAIT=, TIMEOUT=
 * and ATTEMPTS= settings and `#` comment lines. They become checks of
 * the same kind as app.json healthchecks (appjson.h), which win when
 * app.json has checks for web.
 */
#ifndef BERTH_CHECKS_H
#define BERTH_CHECKS_H

#include "appjson.h"

#define CHECKS_MAX_SIZE (64 << 10)
/* Dokku's defaults: wait 5 s before each try, 30 s a try, 5 tries. */
#define CHECKS_WAIT	5
#define CHECKS_TIMEOUT	30
#define CHECKS_ATTEMPTS	5

/*
 * Parse a CHECKS file's text into checks of type web, appended to
 * *out (*nr of them). -1 with "CHECKS line N: ..." naming a bad line.
 */
int checks_parse(const char *text, size_t len, struct healthcheck **out,
    size_t *nr);
/*
 * Read dir/CHECKS, when there is one, into aj's checks, unless aj has
 * checks for web already (then note says CHECKS is not used). 1 when
 * there is no CHECKS file.
 */
int checks_load(const char *dir, struct appjson *aj, appjson_note_fn note,
    void *data);

#endif
