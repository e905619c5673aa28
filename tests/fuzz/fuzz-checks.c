/*
 * fuzz-checks.c - Dokku's CHECKS file (checks_parse()) on any bytes.
 * A refusal adds no check; every check added is a web check with a path
 * and Dokku's limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct healthcheck *hcs = NULL;
	size_t nr = 0, i;

	if (checks_parse((const char *)data, size, &hcs, &nr) != 0 && nr != 0)
		abort();
	for (i = 0; i < nr; i++)
		if (strcmp(hcs[i].type, "web") != 0 || hcs[i].path == NULL ||
		    hcs[i].attempts < 1)
			abort();
	while (nr > 0)
		healthcheck_clear(&hcs[--nr]);
	free(hcs);
	return 0;
}
