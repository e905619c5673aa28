/*
 * procfile.h - the Procfile: "type: command" per line. Blank lines and
 * lines starting with '#' are skipped; CRLF endings and a UTF-8 BOM are
 * accepted; a duplicate type keeps the last command and warns.
 */
#ifndef BERTH_PROCFILE_H
#define BERTH_PROCFILE_H

#include <stddef.h>

struct proctype {
	char *name;
	char *command;
};

struct proctypes {
	struct proctype *items;
	size_t nr;
};

typedef void (*warn_fn)(const char *msg, void *data);

/*
 * Parse Procfile text. On error returns -1 with berth_error() like
 * "Procfile line 3: 'we b' is not a valid process type: use letters,
 * digits, '-' and '_'". Warnings (duplicates) go to warn (may be NULL).
 * Order of first appearance is kept.
 */
int procfile_parse(const char *text, size_t len, struct proctypes *out,
    warn_fn warn, void *data);
/*
 * Parse a buildpack's bin/release YAML; fills default_process_types.
 * Unknown keys are ignored. Returns -1 on a malformed document.
 */
int release_yaml_parse(const char *text, struct proctypes *out);
/* Set (add or replace) a type. */
void proctypes_set(struct proctypes *pt, const char *name, const char *cmd);
const char *proctypes_get(const struct proctypes *pt, const char *name);
/* Add every type of src that dst lacks (Procfile over bin/release). */
void proctypes_merge_missing(struct proctypes *dst,
    const struct proctypes *src);
void proctypes_clear(struct proctypes *pt);
/* JSON object text {"web":"node server.js"}; caller frees. */
char *proctypes_to_json(const struct proctypes *pt);
int proctypes_from_json(const char *json, struct proctypes *out);

#endif
