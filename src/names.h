/*
 * names.h - what names berth accepts. Every name a user supplies (apps,
 * pipelines, branches, config keys, process types) is checked here before
 * it touches the file system, the ledger or a child's argv. Each check
 * returns 0 or -1 with a one-line berth_error() naming the input and the
 * rule.
 */
#ifndef BERTH_NAMES_H
#define BERTH_NAMES_H

#include <stddef.h>

/* App and pipeline names: [a-z][a-z0-9-]{1,29}, no trailing '-'. */
int name_check_app(const char *name);
int name_check_pipeline(const char *name);
/* A berth user's name (access.h): the same rules as an app's. */
int name_check_user(const char *name);
/*
 * A full ref name as git sends it to a hook ("refs/heads/main").
 * Accepts refs/heads/ and refs/tags/ with a short name of letters,
 * digits, '/', '-', '_' and '.', at most 255 bytes, valid UTF-8, no
 * "..", no "//", no leading '/' '.' '-', no trailing '/' or ".lock".
 * Error text: "Branch name 'X' is not allowed: use letters, digits,
 * '/', '-', '_' and '.'" (control characters shown escaped).
 */
int name_check_ref(const char *refname);
/* A branch name alone ("main", "feature/x"), same rules as above. */
int name_check_branch(const char *branch);
/* Config var key: [A-Za-z_][A-Za-z0-9_]*, at most 255 bytes. */
int name_check_config_key(const char *key);
/*
 * Whether berth sets key itself in every dyno (PORT, DYNO, HOME,
 * SOURCE_VERSION, BERTH_APP, ...): a config var of that name is never
 * passed to one, so config:set refuses it.
 */
int name_is_dyno_var(const char *key);
/* Process type: [A-Za-z0-9_-]{1,63} starting with a letter or digit. */
int name_check_process_type(const char *type);
/* Stage: review|development|staging|production. */
int name_check_stage(const char *stage);
/* Valid UTF-8 (no NUL inside len). */
int utf8_valid(const char *s, size_t len);
/* Whether the len bytes at s hold a control byte (below 0x20, or 0x7f). */
int has_control(const char *s, size_t len);
/* Copy s to out (size n) with control bytes shown as \xNN; for errors. */
void name_quote(const char *s, char *out, size_t n);
/*
 * All of s the same way, for what berth prints of a user's strings
 * (config var values, health-check paths) so that no ESC, CR or LF
 * reaches a terminal raw. Caller frees.
 */
char *name_quoted(const char *s);

#endif
