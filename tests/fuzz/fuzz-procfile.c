/*
 * fuzz-procfile.c - the Procfile parser (procfile_parse()) and the
 * buildpack bin/release reader (release_yaml_parse()) on any bytes.
 * What the Procfile parser accepts must survive the ledger's JSON form
 * unchanged: proctypes_to_json() then proctypes_from_json() gives back
 * the same types and commands.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procfile.h"
#include "util.h"

static void
ignore(const char *msg, void *data)
{
	(void)msg;
	(void)data;
}

static void
check_round_trip(const struct proctypes *pt)
{
	struct proctypes back = { NULL, 0 };
	char *json = proctypes_to_json(pt);
	size_t i;

	if (json == NULL || proctypes_from_json(json, &back) != 0)
		abort();
	if (back.nr != pt->nr)
		abort();
	for (i = 0; i < pt->nr; i++) {
		const char *cmd = proctypes_get(&back, pt->items[i].name);

		if (cmd == NULL || strcmp(cmd, pt->items[i].command) != 0)
			abort();
	}
	proctypes_clear(&back);
	free(json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proctypes pt = { NULL, 0 }, yaml = { NULL, 0 };
	char *text = xstrndup((const char *)data, size);

	if (procfile_parse((const char *)data, size, &pt, ignore, NULL) == 0)
		check_round_trip(&pt);
	if (release_yaml_parse(text, &yaml) == 0) {
		proctypes_merge_missing(&pt, &yaml);
		check_round_trip(&yaml);
	}
	proctypes_clear(&yaml);
	proctypes_clear(&pt);
	free(text);
	return 0;
}
