/*
 * test-access.c - who may do what (access.h, ledger-access.c): role
 * names, what a rule asks for by stage, what a pushed ref needs, the
 * ledger's users, keys and grants with the last-admin rules, API
 * tokens (found by their hash, expired ones not), and the
 * authorized_keys file berth keeps (other lines kept, mode 0600).
 *
 * Each test gets a fresh server root in its own temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "access.h"
#include "crypto.h"
#include "root.h"
#include "util.h"

struct fixture {
	char *dir;
	struct berth_root root;
	int64_t shop;		/* pipeline id */
};

static int
setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	char *ini, *text;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	fx->dir = xasprintf("%s/berth-test-access-XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	if (root_init(fx->dir, NULL) < 0)
		return -1;
	ini = path_join(fx->dir, "berth.ini");
	text = xasprintf("[ssh]\nauthorized_keys = %s/ak/authorized_keys\n",
	    fx->dir);
	write_file_atomic(ini, text, strlen(text), 0644);
	free(text);
	free(ini);
	if (root_open(&fx->root, fx->dir) < 0) {
		fprintf(stderr, "# root_open: %s\n", berth_last_error());
		return -1;
	}
	if (ledger_pipeline_create(fx->root.db, "shop", "main", NULL, 0,
	    &fx->shop) < 0) {
		fprintf(stderr, "# pipeline: %s\n", berth_last_error());
		return -1;
	}
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	root_close(&fx->root);
	rm_rf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static void
error_mentions(const char *needle)
{
	if (strstr(berth_last_error(), needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"",
		    berth_last_error(), needle);
}

static void
test_roles(void **state)
{
	enum role r;
	const struct access_rule run = { .scope = ACCESS_APP,
	    .role = ROLE_DEPLOYER, .review = ROLE_DEVELOPER,
	    .production = ROLE_ADMIN };
	const struct access_rule view = { .scope = ACCESS_APP,
	    .role = ROLE_VIEWER };

	(void)state;
	assert_int_equal(role_parse("deployer", &r), 0);
	assert_int_equal(r, ROLE_DEPLOYER);
	assert_string_equal(role_name(ROLE_ADMIN), "admin");
	assert_int_equal(role_parse("boss", &r), -1);
	error_mentions("'boss' is not a role: use viewer, developer, deployer "
	    "or admin");
	assert_int_equal(role_parse("", &r), -1);
	assert_int_equal(access_needed(&run, "review"), ROLE_DEVELOPER);
	assert_int_equal(access_needed(&run, "staging"), ROLE_DEPLOYER);
	assert_int_equal(access_needed(&run, "production"), ROLE_ADMIN);
	assert_int_equal(access_needed(&run, NULL), ROLE_DEPLOYER);
	assert_int_equal(access_needed(&view, "production"), ROLE_VIEWER);
	assert_true(ROLE_VIEWER < ROLE_DEVELOPER &&
	    ROLE_DEVELOPER < ROLE_DEPLOYER && ROLE_DEPLOYER < ROLE_ADMIN);
}

static void
test_push_role(void **state)
{
	struct pipeline p = { .name = "shop", .deploy_branch = "main" };
	struct app staging = { .name = "shop-staging", .stage = "staging" };
	struct app prod = { .name = "shop", .stage = "production" };
	char *what;

	(void)state;
	assert_int_equal(access_push_role(&p, "refs/heads/main", 0, &staging,
	    1, &what), ROLE_DEPLOYER);
	assert_string_equal(what, "pushing main (shop-staging)");
	free(what);
	assert_int_equal(access_push_role(&p, "refs/heads/live", 0, &prod, 1,
	    &what), ROLE_ADMIN);
	assert_string_equal(what, "pushing live (shop)");
	free(what);
	/* The deploy branch with no app on it yet */
	assert_int_equal(access_push_role(&p, "refs/heads/main", 1, NULL, 0,
	    &what), ROLE_DEPLOYER);
	assert_string_equal(what, "deleting main (the deploy branch)");
	free(what);
	assert_int_equal(access_push_role(&p, "refs/heads/feature/x", 0, NULL,
	    0, &what), ROLE_DEVELOPER);
	assert_string_equal(what, "pushing feature/x");
	free(what);
	assert_int_equal(access_push_role(&p, "refs/tags/v1", 0, NULL, 0,
	    &what), ROLE_DEVELOPER);
	assert_string_equal(what, "pushing refs/tags/v1");
	free(what);
}

static void
test_users(void **state)
{
	struct fixture *fx = *state;
	struct ledger *db = fx->root.db;
	struct user u, *us;
	size_t n;

	assert_int_equal(ledger_user_add(db, "ana", 0), 0);
	assert_int_equal(ledger_user_add(db, "ana", 1), -1);
	error_mentions("there is a user ana already");
	assert_int_equal(ledger_user_add(db, "boss", 1), 0);
	assert_int_equal(ledger_user_get(db, "boss", &u), 0);
	assert_true(u.admin);
	user_clear(&u);
	assert_int_equal(ledger_user_get(db, "nobody", &u), 1);
	error_mentions("no user named 'nobody'");
	/* The last server admin stays while others remain... */
	assert_int_equal(ledger_user_remove(db, "boss"), -1);
	error_mentions("boss is the last server admin");
	assert_int_equal(ledger_user_list(db, &us, &n), 0);
	assert_int_equal(n, 2);
	user_list_free(us, n);
	/* ...and goes with the last of them. */
	assert_int_equal(ledger_user_remove(db, "ana"), 0);
	assert_int_equal(ledger_user_remove(db, "boss"), 0);
	assert_int_equal(ledger_user_list(db, &us, &n), 0);
	assert_int_equal(n, 0);
	free(us);
}

static void
test_keys(void **state)
{
	struct fixture *fx = *state;
	struct ledger *db = fx->root.db;
	struct user_key *ks, k;
	struct user u;
	size_t n;

	assert_int_equal(ledger_user_add(db, "ana", 0), 0);
	assert_int_equal(ledger_user_add(db, "li", 0), 0);
	assert_int_equal(ledger_key_add(db, "ana", "SHA256:aaa",
	    "ssh-ed25519 AAAA1", "laptop"), 0);
	/* One key is one user's. */
	assert_int_equal(ledger_key_add(db, "li", "SHA256:aaa",
	    "ssh-ed25519 AAAA1", NULL), -1);
	error_mentions("key SHA256:aaa is ana's already");
	assert_int_equal(ledger_key_add(db, "nobody", "SHA256:bbb",
	    "ssh-ed25519 AAAA2", NULL), -1);
	error_mentions("no user named 'nobody'");
	assert_int_equal(ledger_key_add(db, "li", "SHA256:ccc",
	    "ssh-ed25519 AAAA3", NULL), 0);
	assert_int_equal(ledger_key_list(db, "ana", &ks, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ks[0].label, "laptop");
	user_key_list_free(ks, n);
	assert_int_equal(ledger_user_get(db, "li", &u), 0);
	assert_int_equal(u.nkeys, 1);
	user_clear(&u);
	assert_int_equal(ledger_key_get(db, "SHA256:ccc", &k), 0);
	assert_string_equal(k.user, "li");
	user_key_clear(&k);
	assert_int_equal(ledger_key_remove(db, "SHA256:zzz"), 1);
	/* A removed user's keys go with them. */
	assert_int_equal(ledger_user_remove(db, "ana"), 0);
	assert_int_equal(ledger_key_list(db, NULL, &ks, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ks[0].user, "li");
	user_key_list_free(ks, n);
}

static void
test_grants(void **state)
{
	struct fixture *fx = *state;
	struct ledger *db = fx->root.db;
	struct user ana, boss;
	struct grant *gs;
	enum role r;
	size_t n;

	assert_int_equal(ledger_user_add(db, "ana", 0), 0);
	assert_int_equal(ledger_user_add(db, "li", 0), 0);
	assert_int_equal(ledger_user_add(db, "boss", 1), 0);
	assert_int_equal(ledger_user_get(db, "ana", &ana), 0);
	assert_int_equal(ledger_user_get(db, "boss", &boss), 0);
	assert_int_equal(access_role(db, &ana, fx->shop, &r), 0);
	assert_int_equal(r, ROLE_NONE);
	/* A server admin is an admin of every pipeline. */
	assert_int_equal(access_role(db, &boss, fx->shop, &r), 0);
	assert_int_equal(r, ROLE_ADMIN);
	assert_int_equal(ledger_grant_set(db, "ana", "shop", "developer",
	    "root"), 0);
	assert_int_equal(access_role(db, &ana, fx->shop, &r), 0);
	assert_int_equal(r, ROLE_DEVELOPER);
	assert_int_equal(ledger_grant_set(db, "ana", "nope", "admin", "root"),
	    -1);
	error_mentions("no pipeline named 'nope'");
	/* The pipeline's only admin may not step down while others stay */
	assert_int_equal(ledger_grant_set(db, "li", "shop", "admin", "root"),
	    0);
	assert_int_equal(ledger_grant_revoke(db, "li", "shop", "root"), -1);
	error_mentions("li is the last admin of pipeline shop");
	assert_int_equal(ledger_grant_set(db, "li", "shop", "viewer", "root"),
	    -1);
	assert_int_equal(ledger_grant_list(db, "shop", NULL, &gs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(gs[1].user, "li");
	assert_string_equal(gs[1].role, "admin");
	grant_list_free(gs, n);
	/* With another admin, or alone, they may. */
	assert_int_equal(ledger_grant_set(db, "ana", "shop", "admin", "li"),
	    0);
	assert_int_equal(ledger_grant_revoke(db, "li", "shop", "root"), 0);
	assert_int_equal(ledger_grant_revoke(db, "li", "shop", "root"), 1);
	error_mentions("li has no role on pipeline shop");
	assert_int_equal(ledger_grant_revoke(db, "ana", "shop", "root"), 0);
	user_clear(&ana);
	user_clear(&boss);
}

static void
test_tokens(void **state)
{
	struct fixture *fx = *state;
	struct ledger *db = fx->root.db;
	unsigned char d[32];
	char hash[65];
	struct user u;
	struct token *ts;
	size_t n;
	int64_t id, old;

	assert_int_equal(ledger_user_add(db, "ana", 0), 0);
	crypto_sha256("berth_abc", 9, d);
	crypto_hex(d, sizeof(d), hash);
	assert_int_equal(ledger_token_create(db, "ana", hash, "ci", NULL,
	    &id), 0);
	assert_int_equal(access_token_user(db, "berth_abc", &u), 0);
	assert_string_equal(u.name, "ana");
	user_clear(&u);
	assert_int_equal(access_token_user(db, "berth_abd", &u), 1);
	assert_int_equal(access_token_user(db, "abc", &u), 1);
	/* The ledger holds the hash, never the token; use is noted. */
	assert_int_equal(ledger_token_list(db, NULL, &ts, &n), 0);
	assert_int_equal(n, 1);
	assert_non_null(ts[0].last_used_at);
	token_list_free(ts, n);
	/* Expired tokens let nobody in. */
	crypto_sha256("berth_old", 9, d);
	crypto_hex(d, sizeof(d), hash);
	assert_int_equal(ledger_token_create(db, "ana", hash, NULL,
	    "2020-01-01T00:00:00Z", &old), 0);
	assert_int_equal(access_token_user(db, "berth_old", &u), 1);
	/* Revoked only by their user, when a user is named. */
	assert_int_equal(ledger_user_add(db, "li", 0), 0);
	assert_int_equal(ledger_token_revoke(db, id, "li"), 1);
	assert_int_equal(ledger_token_revoke(db, id, "ana"), 0);
	assert_int_equal(access_token_user(db, "berth_abc", &u), 1);
}

static void
test_authorized_keys(void **state)
{
	struct fixture *fx = *state;
	struct strbuf sb = STRBUF_INIT;
	char *path = access_keys_path(&fx->root), *other;
	struct stat st;

	assert_non_null(path);
	assert_int_equal(ledger_user_add(fx->root.db, "ana", 0), 0);
	assert_int_equal(ledger_key_add(fx->root.db, "ana", "SHA256:aaa",
	    "ssh-ed25519 AAAAC3Nz", NULL), 0);
	/* Lines someone else keeps there stay. */
	other = xasprintf("%s/ak", fx->dir);
	assert_int_equal(mkdir_p(other, 0700), 0);
	free(other);
	assert_int_equal(write_file_atomic(path, "ssh-rsa AAAAB3 admin\n", 21,
	    0600), 0);
	assert_int_equal(access_keys_install(&fx->root), 0);
	assert_int_equal(access_keys_install(&fx->root), 0);
	assert_int_equal(read_file(path, &sb, 0), 0);
	assert_non_null(strstr(sb.buf, "ssh-rsa AAAAB3 admin\n"));
	assert_non_null(strstr(sb.buf, " shell ana\",restrict,pty "
	    "ssh-ed25519 AAAAC3Nz ana\n"));
	/* Written once, however often it is installed. */
	assert_null(strstr(strstr(sb.buf, "AAAAC3Nz") + 1, "AAAAC3Nz"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	strbuf_reset(&sb);
	assert_int_equal(ledger_user_remove(fx->root.db, "ana"), 0);
	assert_int_equal(access_keys_install(&fx->root), 0);
	assert_int_equal(read_file(path, &sb, 0), 0);
	assert_null(strstr(sb.buf, "AAAAC3Nz"));
	assert_non_null(strstr(sb.buf, "ssh-rsa AAAAB3 admin\n"));
	strbuf_release(&sb);
	free(path);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_roles),
		T(test_push_role),
		T(test_users),
		T(test_keys),
		T(test_grants),
		T(test_tokens),
		T(test_authorized_keys),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
