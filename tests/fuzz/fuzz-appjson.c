/*
 * fuzz-appjson.c - app.json (appjson_parse()) on any bytes, then what
 * a build and a review app read of a parsed one: the merged env of each
 * environment and the web check.
 */
#include <stdint.h>
#include <stdlib.h>

#include "appjson.h"

static void
ignore(const char *msg, void *data)
{
	(void)msg;
	(void)data;
}

static void
read_env(const struct appjson *aj, const char *environment)
{
	struct appjson_env *env = NULL;
	size_t nr = 0, i;

	if (appjson_env_merged(aj, environment, &env, &nr) != 0)
		return;
	for (i = 0; i < nr; i++)
		if (env[i].key == NULL)
			abort();
	appjson_env_list_free(env, nr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct appjson aj;
	const struct healthcheck *hc;

	if (appjson_parse((const char *)data, size, &aj, ignore, NULL) != 0)
		return 0;
	read_env(&aj, "review");
	read_env(&aj, "test");
	hc = appjson_check(&aj, "web");
	if (hc != NULL && hc->path == NULL)
		abort();
	appjson_clear(&aj);
	return 0;
}
