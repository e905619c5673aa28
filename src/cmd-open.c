/*
 * cmd-open.c - open: the app's URL.
 */
#include "cmd.h"
#include "router.h"

#include <stdio.h>
#include <stdlib.h>

static int
cmd_open(struct cmd_ctx *ctx)
{
	struct app a;
	char *url;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	url = router_url(&ctx->root.cfg, a.name);
	printf("%s\n", url);
	free(url);
	app_clear(&a);
	return 0;
}

const struct berth_cmd cmd_open_entry = {
	"open", NULL, "a", 0, 0,
	"open -a APP",
	"print the app's URL",
	"http://APP.DOMAIN:PORT/ from berth.ini [server] domain and [router]\n"
	"port. With the default domain, localhost, it works with no DNS.",
	cmd_open, 0,
};
