/*
 * fuzz-control.c - berthd's control request parser
 * (control_parse_request()) on any bytes: what it accepts is an object
 * that reads back the same after berth writes it out again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *req, *again;
	char *dump;

	if (control_parse_request((const char *)data, size, &req) != 0) {
		if (req != NULL)
			abort();
		return 0;
	}
	if (!json_is_object(req) || memchr(data, '\0', size) != NULL)
		abort();
	dump = json_dumps(req, JSON_COMPACT);
	if (dump == NULL || control_parse_request(dump, strlen(dump),
	    &again) != 0 || !json_equal(req, again))
		abort();
	json_decref(again);
	free(dump);
	json_decref(req);
	return 0;
}
