/*
 * cmd-parse.c - a berth command line, read against the options its
 * command lists (struct berth_cmd.options); the values a command reads
 * back by name; the option lists many commands share. Every command
 * also takes --root and -h/--help. Words are read as getopt_long reads
 * them, except that an option is never abbreviated (--conf is not
 * --confirm), --root may be given only once, and -a=APP is -a APP (as
 * the Heroku CLI reads it): a word that starts with '-' is an option
 * until "--", a value is the rest of its word or the next word, and
 * options and arguments mix in any order. An error names the option as
 * it was written: "releases does not take -x".
 */
#include "cmd.h"
#include "names.h"

#include <stdlib.h>
#include <string.h>

enum { GLOBAL_ROOT, GLOBAL_HELP };
static const struct cmd_option global_options[] = {
	[GLOBAL_ROOT] = { .name = "root", .kind = CMD_STRING, .arg = "DIR" },
	[GLOBAL_HELP] = { .name = "help", .short_name = 'h',
	    .kind = CMD_FLAG },
	{ 0 },
};

const struct cmd_option cmd_opts_app[] = { CMD_OPT_APP, { 0 } };
const struct cmd_option cmd_opts_app_json[] = {
	CMD_OPT_APP, CMD_OPT_JSON, { 0 },
};
const struct cmd_option cmd_opts_pipeline[] = { CMD_OPT_PIPELINE, { 0 } };
const struct cmd_option cmd_opts_pipeline_json[] = {
	CMD_OPT_PIPELINE, CMD_OPT_JSON, { 0 },
};
const struct cmd_option cmd_opts_json[] = { CMD_OPT_JSON, { 0 } };

static const char *const kind_names[] = {
	[CMD_FLAG] = "flag",
	[CMD_STRING] = "value",
	[CMD_NUMBER] = "number",
};

/* Whether the long name s (NULL: none) is the len bytes at name. */
static int
name_is(const char *s, const char *name, size_t len)
{
	return s != NULL && strlen(s) == len && strncmp(s, name, len) == 0;
}

/*
 * The option of opts named name (len bytes, its name or its alias; NULL
 * to match by letter) or with short letter ch; NULL when there is none.
 * opts may be NULL.
 */
static const struct cmd_option *
find_option(const struct cmd_option *opts, const char *name, size_t len,
    int ch)
{
	for (; opts != NULL && opts->name != NULL; opts++) {
		if (name == NULL ? opts->short_name != 0 &&
		    opts->short_name == ch : name_is(opts->name, name, len) ||
		    name_is(opts->alias, name, len))
			return opts;
	}
	return NULL;
}

/* How many options opts lists. */
static size_t
count_options(const struct cmd_option *opts)
{
	size_t n = 0;

	while (opts != NULL && opts[n].name != NULL)
		n++;
	return n;
}

/* An option command c does not list, written as word: -1 after saying
 * so, word shown as typed (control bytes escaped). */
static int
refuse(const struct berth_cmd *c, const char *word)
{
	char q[64];

	name_quote(word, q, sizeof(q));
	return berth_error("%s does not take %s; see: berth help %s", c->name,
	    q, c->name);
}

/* s as a whole number in o's range into out; -1 after naming word. */
static int
parse_number(const struct cmd_option *o, const char *word, const char *s,
    int *out)
{
	char *end, q[64];
	long v = -1;

	if (*s >= '0' && *s <= '9') {
		v = strtol(s, &end, 10);
		if (*end != '\0')
			v = -1;
	}
	if (v < 0 || v < o->min || v > o->max) {
		name_quote(s, q, sizeof(q));
		return berth_error("%s wants a whole number from %d to %d, "
		    "not '%s'", word, o->min, o->max, q);
	}
	*out = (int)v;
	return 0;
}

/*
 * Option o, written as word, with its value val (NULL for a flag): the
 * global ones act, the command's are kept. Returns 0, 1 for --help, or
 * -1 after an error.
 */
static int
set_option(struct cmd_ctx *ctx, const struct cmd_option *o,
    const char *word, const char *val)
{
	struct cmd_value *v;

	if (o == &global_options[GLOBAL_HELP])
		return 1;
	if (o == &global_options[GLOBAL_ROOT]) {
		/* Not "last one wins": berth shell puts the server's root
		 * first, and a user's second one must not replace it, even
		 * behind an option's value ("-a -- --root DIR"). */
		if (ctx->root_dir != NULL)
			return berth_error("%s is given twice: give one root",
			    word);
		ctx->root_dir = val;
		return 0;
	}
	v = &ctx->values[o - ctx->cmd->options];
	if (o->kind == CMD_NUMBER && parse_number(o, word, val, &v->num) < 0)
		return -1;
	v->str = val != NULL ? val : "";
	return 0;
}

/*
 * The value of option word: rest (what followed it in its own argv
 * word) when not NULL, else the next argv word. -1 after an error when
 * there is none.
 */
static int
take_value(struct cmd_ctx *ctx, int argc, char **argv, int *i,
    const char *word, const char *rest, const char **val)
{
	if (rest != NULL)
		*val = rest;
	else if (*i + 1 < argc)
		*val = argv[++*i];
	else
		return berth_error("%s needs a value; see: berth help %s", word,
		    ctx->cmd->name);
	return 0;
}

/* The option (global first) named name, len bytes, or lettered ch. */
static const struct cmd_option *
lookup(const struct berth_cmd *c, const char *name, size_t len, int ch)
{
	const struct cmd_option *o = find_option(global_options, name, len,
	    ch);

	return o != NULL ? o : find_option(c->options, name, len, ch);
}

/* argv[*i], "--name" or "--name=value"; returns as set_option(). */
static int
parse_long(struct cmd_ctx *ctx, int argc, char **argv, int *i)
{
	const char *name = argv[*i] + 2, *eq = strchr(name, '=');
	size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	const struct cmd_option *o = lookup(ctx->cmd, name, len, 0);
	const char *val = NULL;
	char word[64];

	snprintf(word, sizeof(word), "--%.*s", (int)len, name);
	if (o == NULL)
		return refuse(ctx->cmd, word);
	if (o->kind == CMD_FLAG && eq != NULL)
		return berth_error("%s does not take a value; see: berth help "
		    "%s", word, ctx->cmd->name);
	if (o->kind != CMD_FLAG && take_value(ctx, argc, argv, i, word,
	    eq != NULL ? eq + 1 : NULL, &val) < 0)
		return -1;
	return set_option(ctx, o, word, val);
}

/*
 * argv[*i], "-j", "-jt", "-aAPP", "-a=APP" or "-a APP"; returns as
 * set_option().
 */
static int
parse_short(struct cmd_ctx *ctx, int argc, char **argv, int *i)
{
	const char *p, *rest;
	int rc;

	for (p = argv[*i] + 1; *p != '\0'; p++) {
		const struct cmd_option *o = lookup(ctx->cmd, NULL, 0, *p);
		const char *val = NULL;
		char word[3] = { '-', *p, '\0' };

		if (o == NULL)
			return refuse(ctx->cmd, word);
		if (o->kind == CMD_FLAG && p[1] == '=')
			return berth_error("%s does not take a value; see: "
			    "berth help %s", word, ctx->cmd->name);
		rest = p[1] == '=' ? p + 2 : p[1] != '\0' ? p + 1 : NULL;
		if (o->kind != CMD_FLAG && take_value(ctx, argc, argv, i, word,
		    rest, &val) < 0)
			return -1;
		rc = set_option(ctx, o, word, val);
		if (rc != 0 || val != NULL)
			return rc;
	}
	return 0;
}

/* The value of the command's option name, or NULL when it has none. */
static const struct cmd_value *
value_if_listed(const struct cmd_ctx *ctx, const char *name)
{
	const struct cmd_option *o = find_option(ctx->cmd->options, name,
	    strlen(name), 0);

	return o != NULL ? &ctx->values[o - ctx->cmd->options] : NULL;
}

int
cmd_parse(struct cmd_ctx *ctx, const struct berth_cmd *c, int argc,
    char **argv)
{
	const struct cmd_value *v;
	int i, rc = 0;

	memset(ctx, 0, sizeof(*ctx));
	ctx->cmd = c;
	ctx->argv = xcalloc((size_t)argc + 1, sizeof(char *));
	ctx->values = xcalloc(count_options(c->options) + 1,
	    sizeof(*ctx->values));
	for (i = 1; i < argc && rc == 0; i++) {
		const char *w = argv[i];

		if (strcmp(w, "--") == 0) {
			/* After "--", everything is positional. */
			while (++i < argc)
				ctx->argv[ctx->argc++] = argv[i];
		} else if (w[0] != '-' || w[1] == '\0') {
			ctx->argv[ctx->argc++] = argv[i];
			/* run -a APP ls -la: "-la" is ls's. */
			while ((c->flags & CMD_OPTS_FIRST) && ++i < argc)
				ctx->argv[ctx->argc++] = argv[i];
		} else if (w[1] == '-')
			rc = parse_long(ctx, argc, argv, &i);
		else
			rc = parse_short(ctx, argc, argv, &i);
	}
	if (rc != 0)
		return rc;
	if ((v = value_if_listed(ctx, "app")) != NULL)
		ctx->app = v->str;
	if ((v = value_if_listed(ctx, "pipeline")) != NULL)
		ctx->pipeline = v->str;
	if ((v = value_if_listed(ctx, "json")) != NULL)
		ctx->json = v->str != NULL;
	if (ctx->argc < c->min_args)
		return berth_error("%s needs more arguments: berth %s",
		    c->name, c->usage);
	if (c->max_args >= 0 && ctx->argc > c->max_args)
		return berth_error("%s takes %s argument%s ('%s' is extra): "
		    "berth %s", c->name, c->max_args == 0 ? "no" :
		    c->max_args == 1 ? "one" : "fewer", c->max_args == 1 ?
		    "" : "s", ctx->argv[c->max_args], c->usage);
	return 0;
}

void
cmd_ctx_clear(struct cmd_ctx *ctx)
{
	free(ctx->argv);
	free(ctx->values);
	ctx->argv = NULL;
	ctx->values = NULL;
	ctx->argc = 0;
}

/* The value of option name of kind; aborts when the command lacks it. */
static const struct cmd_value *
value_of(const struct cmd_ctx *ctx, const char *name, enum cmd_opt_kind kind)
{
	const struct cmd_option *o = find_option(ctx->cmd->options, name,
	    strlen(name), 0);

	if (o == NULL || o->kind != kind) {
		fprintf(stderr, "berth: bug: %s reads option --%s, which its "
		    "options do not list as a %s\n", ctx->cmd->name, name,
		    kind_names[kind]);
		abort();
	}
	return &ctx->values[o - ctx->cmd->options];
}

const char *
cmd_opt(const struct cmd_ctx *ctx, const char *name)
{
	return value_of(ctx, name, CMD_STRING)->str;
}

int
cmd_flag(const struct cmd_ctx *ctx, const char *name)
{
	return value_of(ctx, name, CMD_FLAG)->str != NULL;
}

int
cmd_num(const struct cmd_ctx *ctx, const char *name, int def)
{
	const struct cmd_value *v = value_of(ctx, name, CMD_NUMBER);

	return v->str != NULL ? v->num : def;
}

/* "-a, --app APP" or "    --confirm APP": o as --help shows it. */
static void
option_words(struct strbuf *sb, const struct cmd_option *o)
{
	strbuf_reset(sb);
	if (o->short_name != 0)
		strbuf_addf(sb, "-%c, ", o->short_name);
	else
		strbuf_addstr(sb, "    ");
	strbuf_addf(sb, "--%s", o->name);
	if (o->kind != CMD_FLAG)
		strbuf_addf(sb, " %s", o->arg != NULL ? o->arg : "VALUE");
}

void
cmd_print_options(FILE *f, const struct cmd_option *opts)
{
	const struct cmd_option *o;
	struct strbuf sb = STRBUF_INIT;
	size_t w = 0;

	if (count_options(opts) == 0)
		return;
	for (o = opts; o->name != NULL; o++) {
		option_words(&sb, o);
		if (sb.len > w)
			w = sb.len;
	}
	fprintf(f, "\nOptions:\n");
	for (o = opts; o->name != NULL; o++) {
		option_words(&sb, o);
		fprintf(f, "  %-*s  %s%s%s\n", (int)w, strbuf_str(&sb), o->help,
		    o->alias != NULL ? "; also --" : "",
		    o->alias != NULL ? o->alias : "");
	}
	strbuf_release(&sb);
}
