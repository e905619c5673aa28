/*
 * cmd-init.c - berth init: create a server root.
 */
#include "cmd.h"
#include "buildpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Install the bundled buildpacks into a root that has none. */
static void
install_bundled(struct berth_root *r)
{
	static const char *const bundled[] = { "nodejs", "python" };
	struct strvec have = STRVEC_INIT;
	const char *datadir = getenv("BERTH_DATADIR");
	size_t i;

	if (datadir == NULL)
		datadir = BERTH_DATADIR;
	if (buildpack_detection_order(r, &have) < 0 || have.nr > 0) {
		strvec_clear(&have);
		return;
	}
	strvec_clear(&have);
	for (i = 0; i < sizeof(bundled) / sizeof(bundled[0]); i++) {
		char *src = xasprintf("%s/buildpacks/%s", datadir, bundled[i]);
		char *name = NULL;

		if (is_dir(src) && buildpack_install(r, src, 0, &name) == 0)
			printf("Installed buildpack %s\n", name);
		free(name);
		free(src);
	}
}

static int
cmd_init(struct cmd_ctx *ctx)
{
	struct berth_root r;
	const char *domain = cmd_opt(ctx, "domain");

	if (domain != NULL) {
		const char *p;

		for (p = domain; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' &&
			    *p <= '9') || *p == '-' || *p == '.'))
				return cmd_fail("domain '%s' is not valid: use "
				    "lowercase letters, digits, '-' and '.'",
				    domain);
	}
	if (root_init(ctx->root_dir, domain) < 0 ||
	    root_open(&r, ctx->root_dir) < 0)
		return cmd_fail_last();
	install_bundled(&r);
	printf("berth: server root %s ready (ledger v%d, router on :%d, apps "
	    "at http://APP.%s:%d/)\n", r.dir, ledger_schema_version(r.db),
	    r.cfg.router_port, r.cfg.domain, r.cfg.router_port);
	printf("Next: berthd --root %s, then: berth pipelines:create NAME\n",
	    r.dir);
	root_close(&r);
	return 0;
}

const struct berth_cmd cmd_init_entry = {
	.name = "init",
	.access = { .scope = ACCESS_LOCAL },
	.usage = "init [--domain DOMAIN] [--root DIR]",
	.summary = "create a server root (idempotent)",
	.help =
	"Creates the server root's folders, a documented berth.ini and the\n"
	"ledger, and installs the bundled buildpacks. Running it again on\n"
	"an existing root changes nothing that is there.",
	.options = (const struct cmd_option[]){
		{ .name = "domain", .kind = CMD_STRING, .arg = "DOMAIN",
		    .help = "apps answer at APP.DOMAIN (default: localhost)" },
		{ 0 },
	},
	.min_args = 0, .max_args = 0,
	.exec = cmd_init,
	.flags = CMD_NO_ROOT,
};
