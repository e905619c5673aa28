/*
 * fuzz-names.c - the name gate (names.h) on any bytes: every check on
 * the input as a C string, the ref forms of it, UTF-8 validation of the
 * raw bytes and the quoting used in error messages. What a check
 * accepts must keep the rules its header states.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "util.h"

/* Whether every byte of s is in set. */
static int
only(const char *s, const char *set)
{
	return s[strspn(s, set)] == '\0';
}

#define LOWER	"abcdefghijklmnopqrstuvwxyz"
#define UPPER	"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS	"0123456789"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	size_t len = strlen(s);
	char quoted[64], tiny[5], *ref;

	if (name_check_app(s) == 0 &&
	    (len < 2 || len > 30 || !only(s, LOWER DIGITS "-") ||
	    s[len - 1] == '-'))
		abort();
	name_check_pipeline(s);
	name_check_user(s);
	if (name_check_config_key(s) == 0 &&
	    (len > 255 || !only(s, LOWER UPPER DIGITS "_")))
		abort();
	name_is_dyno_var(s);
	if (name_check_process_type(s) == 0 &&
	    (len > 63 || !only(s, LOWER UPPER DIGITS "-_")))
		abort();
	name_check_stage(s);
	if (name_check_branch(s) == 0 && (strstr(s, "..") != NULL ||
	    strstr(s, "//") != NULL || !utf8_valid(s, len)))
		abort();
	name_check_ref(s);
	ref = xasprintf("refs/heads/%s", s);
	name_check_ref(ref);
	free(ref);
	ref = xasprintf("refs/tags/%s", s);
	name_check_ref(ref);
	free(ref);
	utf8_valid((const char *)data, size);
	name_quote(s, quoted, sizeof(quoted));
	name_quote(s, tiny, sizeof(tiny));
	if (strlen(quoted) >= sizeof(quoted) || strlen(tiny) >= sizeof(tiny))
		abort();
	free(s);
	return 0;
}
