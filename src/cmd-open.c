/*
 * cmd-open.c - open: the app's URL.
 */
#include "cmd.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>

static int
cmd_open(struct cmd_ctx *ctx)
{
	struct app a;
	char *url;

	json_t *st = NULL, *dynos = NULL, *d;
	size_t i;

	if (cmd_need_app(ctx, &a) != 0)
		return 1;
	/* Without nginx, apps answer on their web dynos' ports. */
	if (runtime_status(&ctx->root, &st) == 0 &&
	    !json_is_true(json_object_get(st, "router")) &&
	    runtime_ps(&ctx->root, a.name, &dynos) == 0) {
		json_array_foreach(dynos, i, d) {
			json_int_t port = json_integer_value(json_object_get(d,
			    "port"));

			if (port > 0) {
				/* stdout is only the URL: url=$(berth
				 * open -a APP) && curl "$url". */
				printf("http://127.0.0.1:%lld/\n",
				    (long long)port);
				fprintf(stderr, "berth: no router (is nginx "
				    "installed? apt-get install nginx-light): "
				    "this is one web dyno's own address\n");
				json_decref(dynos);
				json_decref(st);
				app_clear(&a);
				return 0;
			}
		}
	}
	json_decref(dynos);
	json_decref(st);
	url = runtime_url(&ctx->root, a.name);
	printf("%s\n", url);
	free(url);
	app_clear(&a);
	return 0;
}

const struct berth_cmd cmd_open_entry = {
	.name = "open",
	.access = { .scope = ACCESS_APP, .role = ROLE_VIEWER },
	.usage = "open -a APP",
	.summary = "print the app's URL",
	.help =
	"http://APP.DOMAIN:PORT/ from berth.ini [server] domain and [router]\n"
	"port. With the default domain, localhost, it works with no DNS.\n"
	"When berthd runs without nginx, the address of a web dyno instead,\n"
	"and a line on stderr saying so: stdout is only ever the URL.",
	.options = cmd_opts_app,
	.min_args = 0, .max_args = 0,
	.exec = cmd_open,
};
