/*
 * fuzz-config.c - berth.ini (config_load_text()) on any bytes, over the
 * defaults; a refused load must leave them as they were.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void
ignore(const char *msg, void *data)
{
	(void)msg;
	(void)data;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct berth_config cfg;

	config_defaults(&cfg);
	if (config_load_text(&cfg, (const char *)data, size, "berth.ini",
	    ignore, NULL) != 0) {
		if (strcmp(cfg.domain, "localhost") != 0 ||
		    cfg.build_timeout != 900 || cfg.buildpacks.nr != 0)
			abort();
	} else if (cfg.port_min > cfg.port_max || cfg.uid_min > cfg.uid_max)
		abort();
	config_clear(&cfg);
	return 0;
}
