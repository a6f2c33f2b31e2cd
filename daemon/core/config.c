/* config.c — see config.h.
 *
 * Parsing is driven by cfg_options[] (pgbouncer habit): the walk over the
 * parsed libconfig tree refuses every key that is not a row of the table
 * (unknown keys are errors, not ignored: a typo must not silently fall back
 * to a default), checks each value's type against the row, and takes
 * defaults from the row.  Ranges live in cfg_ranges[].  Semantic checks
 * that relate several options (connector names, tokens, defaults.target)
 * follow in parse_connector() and cfg_validate_defaults().
 *
 * Every error is one sentence "FILE:LINE: what was expected"; LINE comes
 * from libconfig (config_error_line for syntax errors,
 * config_setting_source_line for everything else) and is 0 when the
 * problem is not at a line (a missing top-level option).
 */
#include "config.h"
#include "cfgfile.h"
#include "config_internal.h"
#include "connector.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* def: NULL = required; text starting with '(' = no literal default (the
 * text describes what happens when the option is absent); anything else
 * is the literal default value. */
const struct cfg_option_doc cfg_options[] = {
	{ "database",                      "group",  NULL, false },
	{ "database.dsn",                  "string", NULL, false },
	{ "log_level",                     "string", "info", true },
	{ "poll_interval",                 "int",    "300", true },
	{ "notify_debounce_ms",            "int",    "500", true },
	{ "overlap",                       "int",    "120", true },
	{ "refusal_backoff",               "int",    "86400", true },
	{ "create_min_age",                "int",    "300", true },
	{ "directory",                     "string", "(none)", true },
	{ "listen",                        "string", "(none: no listener)", false },
	{ "webhooks",                      "group",  "(none: no webhook endpoint)", false },
	{ "webhooks.listen",               "string", "(none: no webhook endpoint)", false },
	{ "webhooks.max_body",             "int",    "1048576", true },
	{ "defaults",                      "group",  "(none)", true },
	{ "defaults.platform",             "string", "(none)", true },
	{ "defaults.team",                 "string", "(none)", true },
	{ "defaults.connector",            "string", "(none)", true },
	{ "defaults.target",               "string", "(none)", true },
	{ "conflict_policy",               "group",  "(per field, below)", true },
	{ "conflict_policy.title",         "string", "remote_wins", true },
	{ "conflict_policy.description",   "string", "remote_wins", true },
	{ "conflict_policy.state",         "string", "remote_wins", true },
	{ "conflict_policy.priority",      "string", "remote_wins", true },
	{ "conflict_policy.type",          "string", "remote_wins", true },
	{ "conflict_policy.owner",         "string", "remote_wins", true },
	{ "conflict_policy.due_date",      "string", "ledger_wins", true },
	{ "connectors",                    "list",   "(none)", false },
	{ "connectors.[].name",            "string", NULL, false },
	{ "connectors.[].type",            "string", NULL, false },
	{ "connectors.[].base_url",        "string", NULL, false },
	{ "connectors.[].token_file",      "string", "(one of token_file / token_env)", false },
	{ "connectors.[].token_env",       "string", "(one of token_file / token_env)", false },
	{ "connectors.[].targets",         "list",   NULL, true },
	{ "connectors.[].poll_interval",   "int",    "(global poll_interval)", true },
	{ "connectors.[].max_attempts",    "int",    "5", true },
	{ "connectors.[].request_timeout", "int",    "30", true },
	{ "connectors.[].max_inflight",    "int",    "4", true },
	{ "connectors.[].ca_file",         "string", "(the system's trust store)", false },
	{ "connectors.[].allow_insecure_http", "bool", "false", false },
	{ "connectors.[].webhook_secret_file", "string", "(none: no webhook deliveries for it)", false },
	{ "connectors.[].webhook_secret_env", "string", "(none: no webhook deliveries for it)", false },
	{ "connectors.[].discover",        "list",   "(none: nothing is discovered)", true },
	{ "connectors.[].discover.[].target", "string", NULL, true },
	{ "connectors.[].discover.[].team", "string", "(the team the directory routes to the target)", true },
	{ "flags",                         "group",  "(defaults below)", true },
	{ "flags.interval",                "int",    "300", true },
	{ "flags.disable",                 "list",   "(none)", true },
	{ "flags.ownerless_grace_days",    "int",    "2", true },
	{ "flags.undated_grace_days",      "int",    "2", true },
	{ "flags.stale_days",              "int",    "30", true },
	{ "flags.needs_decision_days",     "int",    "180", true },
	{ "flags.link_broken_errors",      "int",    "5", true },
	{ "flags.link_broken_refusals",    "int",    "3", true },
	{ "flags.no_action_items_grace_days", "int", "2", true },
	{ "flags.long_horizon_days",       "int",    "30", true },
	{ "flags.labels",                  "list",   "(none)", true },
	{ "escalation",                    "group",  "(defaults below)", true },
	{ "escalation.enabled",            "bool",   "true", true },
	{ "escalation.rungs",              "list",   "(one rung: overdue-30)", true },
	{ "escalation.rungs.[].name",      "string", NULL, true },
	{ "escalation.rungs.[].flag",      "string", "overdue", true },
	{ "escalation.rungs.[].days",      "int",    NULL, true },
	{ "escalation.rungs.[].notify",    "string", "platform_lead", true },
	{ "escalation.rungs.[].channels",  "list",   "[ \"comment\", \"chat\", \"email\" ]", true },
	{ "escalation.chat",               "list",   "(none)", true },
	{ "escalation.email",              "list",   "(none)", true },
	{ "quarterly_report",              "group",  "(defaults below)", true },
	{ "quarterly_report.enabled",      "bool",   "true", true },
	{ "quarterly_report.check_interval", "int",  "3600", true },
	{ "quarterly_report.store_debounce_ms", "int", "30000", true },
	{ "destinations",                  "list",   "(none)", true },
	{ "destinations.[].name",          "string", NULL, true },
	{ "destinations.[].type",          "string", NULL, true },
	{ "destinations.[].platforms",     "list",   "(every platform)", true },
	{ "destinations.[].path",          "string", "(required for type directory)", true },
	{ "destinations.[].url",           "string", "(required for types webhook and smtp)", true },
	{ "destinations.[].secret_file",   "string", "(none)", true },
	{ "destinations.[].secret_env",    "string", "(none)", true },
	{ "destinations.[].secret_header", "string", "X-Closeloop-Secret", true },
	{ "destinations.[].format",        "string", "closeloop", true },
	{ "destinations.[].username",      "string", "(none: no SMTP AUTH)", true },
	{ "destinations.[].from",          "string", "(required for type smtp)", true },
	{ "destinations.[].to",            "list",   "(required for type smtp)", true },
	{ "destinations.[].ca_file",       "string", "(the system's trust store)", true },
	{ "destinations.[].allow_insecure", "bool",  "false", true },
	{ "destinations.[].max_attempts",  "int",    "5", true },
	{ "destinations.[].timeout",       "int",    "30", true },
	{ "import",                        "group",  "(none: no directory is watched)", true },
	{ "import.watch",                  "list",   "(none)", true },
	{ "import.debounce_ms",            "int",    "1000", true },
	{ "import.rescan_interval",        "int",    "60", true },
};
const size_t cfg_n_options = ARRAY_SIZE(cfg_options);

struct cfg_range {
	const char *name;
	long long min, max;
	const char *unit;
};
static const struct cfg_range cfg_ranges[] = {
	{ "poll_interval",                 10, 86400, "seconds" },
	{ "notify_debounce_ms",            0, 60000, "milliseconds" },
	{ "overlap",                       0, 86400, "seconds" },
	{ "refusal_backoff",               60, 2592000, "seconds" },
	{ "create_min_age",                0, 86400, "seconds" },
	{ "webhooks.max_body",             1024, 26214400, "bytes" },
	{ "connectors.[].poll_interval",   10, 86400, "seconds" },
	{ "connectors.[].max_attempts",    1, 20, "attempts" },
	{ "connectors.[].request_timeout", 1, 600, "seconds" },
	{ "connectors.[].max_inflight",    1, 64, "requests" },
	{ "flags.interval",                10, 86400, "seconds" },
	{ "flags.ownerless_grace_days",    0, 3650, "days" },
	{ "flags.undated_grace_days",      0, 3650, "days" },
	{ "flags.stale_days",              1, 3650, "days" },
	{ "flags.needs_decision_days",     1, 3650, "days" },
	{ "flags.link_broken_errors",      1, 1000, "errors" },
	{ "flags.link_broken_refusals",    1, 1000, "refusals" },
	{ "flags.no_action_items_grace_days", 0, 3650, "days" },
	{ "flags.long_horizon_days",       0, 3650, "days" },
	{ "escalation.rungs.[].days",      0, 3650, "days" },
	{ "quarterly_report.check_interval", 10, 86400, "seconds" },
	{ "quarterly_report.store_debounce_ms", 0, 3600000, "milliseconds" },
	{ "destinations.[].max_attempts",  1, 20, "attempts" },
	{ "destinations.[].timeout",       1, 600, "seconds" },
	{ "import.debounce_ms",            0, 60000, "milliseconds" },
	{ "import.rescan_interval",        5, 86400, "seconds" },
};

static const char *const policy_names[] = { "remote_wins", "ledger_wins", "newest_wins" };

#define TOKEN_FILE_MAX (64 * 1024)

const char *cfg_policy_name(enum cfg_policy p)
{
	switch (p) {
	case CFG_POLICY_REMOTE_WINS:
	case CFG_POLICY_LEDGER_WINS:
	case CFG_POLICY_NEWEST_WINS:
		return policy_names[p];
	default:
		abort();
	}
}

/* Write "FILE:LINE: message" for setting s (NULL = line 0); -EINVAL. */
static int fail(struct ctx *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = cfgfile_vfail(x->path, s, x->err, x->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static const struct cfg_option_doc *opt_find(const char *name)
{
	for (size_t i = 0; i < cfg_n_options; i++)
		if (strcmp(cfg_options[i].name, name) == 0)
			return &cfg_options[i];
	return NULL;
}

/* The literal default of an option, or NULL (required or descriptive). */
static const char *opt_default(const char *name)
{
	const struct cfg_option_doc *o = opt_find(name);
	if (!o || !o->def || o->def[0] == '(')
		return NULL;
	return o->def;
}

/* The leaf of an option name when it sits directly under prefix ("" =
 * top level), else NULL. */
static const char *opt_leaf_under(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	if (n) {
		if (strncmp(name, prefix, n) != 0 || name[n] != '.')
			return NULL;
		name += n + 1;
	}
	return strchr(name, '.') ? NULL : name;
}

/* ct: the connector type whose own options are also allowed here (NULL
 * outside a connector's group). */
static int fail_unknown(struct ctx *x, const config_setting_t *m, const char *prefix,
                        const char *shown, const struct conn_type *ct)
{
	const char *key = config_setting_name(m);
	struct buf b = { 0 };
	const char *guess = NULL;
	size_t best = 3;
	int rc = 0;
	size_t n_type = ct ? ct->n_options : 0;
	for (size_t i = 0; i < cfg_n_options + n_type && rc == 0; i++) {
		const char *leaf = i < cfg_n_options ? opt_leaf_under(cfg_options[i].name, prefix) :
		                   ct->options[i - cfg_n_options].name;
		if (!leaf)
			continue;
		size_t d = str_edit_distance(key, leaf);
		if (d < best) {
			best = d;
			guess = leaf;
		}
		rc = buf_appendf(&b, "%s%s", b.len ? ", " : "", leaf);
	}
	char hint[128] = "";
	if (guess)
		snprintf(hint, sizeof(hint), "did you mean '%s'? ", guess);
	rc = fail(x, m, "unknown option '%s%s%s' (%sexpected one of %s)", shown,
	          shown[0] ? "." : "", key, hint, b.data ? b.data : "nothing here");
	buf_free(&b);
	return rc;
}

static const char *type_desc(const char *type)
{
	if (strcmp(type, "string") == 0) return "a string in double quotes";
	if (strcmp(type, "int") == 0) return "an integer";
	if (strcmp(type, "bool") == 0) return "true or false";
	if (strcmp(type, "list") == 0) return "a list ( ... ) or array [ ... ]";
	if (strcmp(type, "group") == 0) return "a group { ... }";
	return type;
}

static const char *setting_desc(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a number with a fraction";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "nothing";
	}
}

static bool type_ok(const char *type, const config_setting_t *s)
{
	int t = config_setting_type(s);
	if (strcmp(type, "string") == 0) return t == CONFIG_TYPE_STRING;
	if (strcmp(type, "int") == 0) return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
	if (strcmp(type, "bool") == 0) return t == CONFIG_TYPE_BOOL;
	if (strcmp(type, "list") == 0) return t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY;
	if (strcmp(type, "group") == 0) return t == CONFIG_TYPE_GROUP;
	return false;
}

/* Does the table describe the elements of list `name` as groups? */
static bool list_of_groups(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < cfg_n_options; i++)
		if (strncmp(cfg_options[i].name, name, n) == 0 &&
		    strncmp(cfg_options[i].name + n, ".[].", 4) == 0)
			return true;
	return false;
}

static int check_members(struct ctx *x, const config_setting_t *grp, const char *prefix,
                         const char *shown);

static int check_list(struct ctx *x, const config_setting_t *m, const char *full,
                      const char *shown)
{
	bool groups = list_of_groups(full);
	int n = config_setting_length(m);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
		if (groups) {
			if (config_setting_type(e) != CONFIG_TYPE_GROUP)
				return fail(x, e, "element %d of '%s' must be a group { ... }, got %s",
				            i, shown, setting_desc(e));
			char *p = xasprintf("%s.[]", full);
			char *s = xasprintf("%s[%d]", shown, i);
			int rc = check_members(x, e, p, s);
			free(p);
			free(s);
			if (rc < 0)
				return rc;
		} else if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			return fail(x, e, "element %d of '%s' must be a string in double quotes, got %s",
			            i, shown, setting_desc(e));
		}
	}
	return 0;
}

/* Every member of grp must be a row of cfg_options with the right type;
 * prefix is the table name of grp ("" for the root, "connectors.[]"),
 * shown the name a user recognises ("connectors[1]"). */
static int check_members(struct ctx *x, const config_setting_t *grp, const char *prefix,
                         const char *shown)
{
	int n = config_setting_length(grp);
	bool in_conn = strcmp(prefix, "connectors.[]") == 0;
	const char *tname = NULL;
	/* a connector's group also holds its type's own options (connector.h) */
	const struct conn_type *ct = in_conn && config_setting_lookup_string(grp, "type", &tname) ?
	                             conn_type_find(tname) : NULL;
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		const char *key = config_setting_name(m);
		char *full = xasprintf("%s%s%s", prefix, prefix[0] ? "." : "", key);
		char *sh = xasprintf("%s%s%s", shown, shown[0] ? "." : "", key);
		const struct cfg_option_doc *o = opt_find(full);
		int ti = o ? -1 : conn_type_option(ct, key);
		int rc = 0;
		if (ti >= 0) {
			if (!type_ok(ct->options[ti].type, m))
				rc = fail(x, m, "option '%s' must be %s, got %s", sh,
				          type_desc(ct->options[ti].type), setting_desc(m));
		} else if (in_conn && strcmp(key, "discover") == 0) {
			rc = 0; /* its rules hold the type's members: cfg_discover.c */
		} else if (!o && in_conn && strcmp(key, "token") == 0)
			rc = fail(x, m, "inline 'token' is refused: secrets never go in the "
			          "config file; use token_file (e.g. a systemd LoadCredential= "
			          "file) or token_env (an environment variable name)");
		else if (in_conn && !o && tname && !ct)
			rc = 0; /* an unknown type: parse_connector says so */
		else if (!o)
			rc = fail_unknown(x, m, prefix, shown, ct);
		else if (!type_ok(o->type, m))
			rc = fail(x, m, "option '%s' must be %s, got %s", sh,
			          type_desc(o->type), setting_desc(m));
		else if (config_setting_type(m) == CONFIG_TYPE_GROUP)
			rc = check_members(x, m, full, sh);
		else if (strcmp(o->type, "list") == 0)
			rc = check_list(x, m, full, sh);
		free(full);
		free(sh);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- typed getters: grp may be NULL (absent group) ---- */

static const char *missing_hint(const char *table)
{
	static const struct { const char *name, *hint; } hints[] = {
		{ "database.dsn", "a libpq connection string, e.g. "
		                  "dsn = \"host=/run/postgresql dbname=closeloop\"; in database = { ... }" },
		{ "connectors.[].name", "a unique connector name, e.g. name = \"github-main\";" },
		{ "connectors.[].type", "the tracker type, type = \"github\";" },
		{ "connectors.[].base_url", "the API root, e.g. base_url = \"https://api.github.com\";" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(hints); i++)
		if (strcmp(hints[i].name, table) == 0)
			return hints[i].hint;
	return "a value";
}

/* *out = a copy of the value, the literal default, or NULL; missing
 * required options and empty strings are errors.  table = row name. */
static int get_string(struct ctx *x, const config_setting_t *grp, const char *table,
                      const char *shown, char **out)
{
	const char *key = strrchr(table, '.');
	key = key ? key + 1 : table;
	const config_setting_t *m = grp ? config_setting_get_member(grp, key) : NULL;
	if (m) {
		const char *v = config_setting_get_string(m);
		if (!v || !v[0])
			return fail(x, m, "option '%s' must not be empty", shown);
		*out = xstrdup(v);
		return 0;
	}
	const struct cfg_option_doc *o = opt_find(table);
	if (o && !o->def) {
		/* report at the enclosing group's line (0 for the root) */
		return fail(x, grp, "missing required option '%s' (expected %s)", shown,
		            missing_hint(table));
	}
	*out = xstrdup(opt_default(table));
	return 0;
}

static int get_int(struct ctx *x, const config_setting_t *grp, const char *table,
                   const char *shown, int fallback, int *out)
{
	const char *key = strrchr(table, '.');
	key = key ? key + 1 : table;
	const config_setting_t *m = grp ? config_setting_get_member(grp, key) : NULL;
	if (!m) {
		const char *def = opt_default(table);
		*out = fallback;
		if (def) {
			char *end = NULL;
			long v = strtol(def, &end, 10);
			if (*end)
				abort(); /* the table itself is wrong */
			*out = (int)v;
		}
		return 0;
	}
	long long v = config_setting_get_int64(m);
	for (size_t i = 0; i < ARRAY_SIZE(cfg_ranges); i++) {
		const struct cfg_range *r = &cfg_ranges[i];
		if (strcmp(r->name, table) == 0 && (v < r->min || v > r->max))
			return fail(x, m, "%s = %lld is out of range (expected %lld..%lld %s)",
			            shown, v, r->min, r->max, r->unit);
	}
	if (v < 0 || v > 1000000000)
		return fail(x, m, "%s = %lld is out of range (expected 0..1000000000)", shown, v);
	*out = (int)v;
	return 0;
}

/* ---- connectors ---- */

/* p relative to the folder of cfg_path (absolute p unchanged); NULL stays NULL. */
static char *resolve_relative(const char *cfg_path, const char *p)
{
	if (!p || p[0] == '/')
		return xstrdup(p);
	char *copy = xstrdup(cfg_path);
	char *r = xasprintf("%s/%s", dirname(copy), p);
	free(copy);
	return r;
}


/* Is the host at the start of hostpart ("127.0.0.1:8089/x", "[::1]/",
 * "localhost") a loopback address (RFC 6890: 127.0.0.0/8, ::1; RFC 6761:
 * "localhost" resolves to loopback)? */
static bool url_host_is_loopback(const char *hostpart)
{
	size_t n = strcspn(hostpart, "/?#");
	const char *at = memchr(hostpart, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - hostpart);
		hostpart = at + 1;
	}
	if (n >= 5 && strncmp(hostpart, "[::1]", 5) == 0)
		return true;
	size_t h = strcspn(hostpart, ":/?#");
	if (h > n)
		h = n;
	if ((h == 9 && strncasecmp(hostpart, "localhost", 9) == 0))
		return true;
	if (h < 4 || strncmp(hostpart, "127.", 4) != 0)
		return false;
	for (size_t i = 4; i < h; i++)
		if (!((hostpart[i] >= '0' && hostpart[i] <= '9') || hostpart[i] == '.'))
			return false;
	return true;
}

/* Read a token file: at most TOKEN_FILE_MAX bytes, trailing newline and
 * white space stripped.  Errors name the file, never its contents. */
int cfg_read_secret(struct ctx *x, const config_setting_t *s, const char *owner,
                           const char *field, const char *path, char **out)
{
	struct buf b = { .max = TOKEN_FILE_MAX };
	char chunk[4096];
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = fail(x, s, "%s: cannot read %s '%s': %s",
		          owner, field, path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077))
		log_warn("%s: %s '%s' is readable by group or others "
		         "(mode %04o); 0400 is enough", owner, field, path, (unsigned)(st.st_mode & 07777));
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail(x, s, "%s: cannot read %s '%s': %s",
			          owner, field, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			rc = fail(x, s, "%s: %s '%s' is larger than %d bytes "
			          "(expected one secret)", owner, field, path, TOKEN_FILE_MAX);
			goto out;
		}
	}
	while (b.len && strchr(" \t\r\n", b.data[b.len - 1]))
		b.data[--b.len] = '\0';
	if (b.len == 0) {
		rc = fail(x, s, "%s: %s '%s' is empty (expected %s)", owner, field, path,
		          strcmp(field, "token_file") == 0 ? "the API token" : "the secret");
		goto out;
	}
	*out = buf_steal(&b);
out:
	if (fd >= 0)
		close(fd);
	if (b.data)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	return rc;
}

int cfg_conn_option_value(struct ctx *x, const config_setting_t *m, const struct conn_option *o,
                          const char *sh, char **out)
{
	char *v = NULL;
	if (!type_ok(o->type, m))
		return fail(x, m, "option '%s%s' must be %s, got %s", sh, o->name,
		            type_desc(o->type), setting_desc(m));
	if (strcmp(o->type, "int") == 0) {
		long long n = config_setting_get_int64(m);
		if (n < o->min || n > o->max)
			return fail(x, m, "%s%s = %lld is out of range (expected %lld..%lld %s)",
			            sh, o->name, n, o->min, o->max, o->unit ? o->unit : "");
		v = xasprintf("%lld", n);
	} else if (strcmp(o->type, "bool") == 0) {
		v = xstrdup(config_setting_get_bool(m) ? "true" : "false");
	} else {
		const char *sv = config_setting_get_string(m);
		if (!sv || !sv[0])
			return fail(x, m, "option '%s%s' must not be empty", sh, o->name);
		v = xstrdup(sv);
	}
	const char *bad = o->check ? o->check(v) : NULL;
	if (bad) {
		int rc = fail(x, m, "%s%s = \"%s\" (expected %s)", sh, o->name, v, bad);
		free(v);
		return rc;
	}
	*out = v;
	return 0;
}

/* ---- top level ---- */

static int parse_policies(struct ctx *x, const config_setting_t *root, struct config *c)
{
	const config_setting_t *g = config_setting_get_member(root, "conflict_policy");
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		char table[64], *v = NULL;
		snprintf(table, sizeof(table), "conflict_policy.%s", item_field_name((enum item_field)f));
		int rc = get_string(x, g, table, table, &v);
		if (rc < 0)
			return rc;
		int p = -1;
		for (size_t i = 0; i < ARRAY_SIZE(policy_names); i++)
			if (strcmp(v, policy_names[i]) == 0)
				p = (int)i;
		if (p < 0) {
			rc = fail(x, config_setting_get_member(g, item_field_name((enum item_field)f)),
			          "%s = \"%s\" is not a policy (expected remote_wins, ledger_wins "
			          "or newest_wins)", table, v);
			free(v);
			return rc;
		}
		c->policy[f] = (enum cfg_policy)p;
		free(v);
	}
	return 0;
}

static int validate_listen(struct ctx *x, const config_setting_t *grp, const char *leaf,
                           const char *opt, const char *v, const char *example)
{
	const char *colon = v ? strrchr(v, ':') : NULL;
	if (!v)
		return 0;
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || colon == v || !colon[1] || *end || port < 1 || port > 65535)
		return fail(x, config_setting_get_member(grp, leaf), "%s = \"%s\" "
		            "(expected \"ADDRESS:PORT\", e.g. \"%s\")", opt, v, example);
	return 0;
}

/* webhooks { listen; max_body; }: its own address, so that /metrics and
 * /healthz (no authentication) can stay on a private one. */
static int parse_webhooks(struct ctx *x, const config_setting_t *root, struct config *c)
{
	const config_setting_t *g = config_setting_get_member(root, "webhooks");
	int rc;
	if ((rc = get_string(x, g, "webhooks.listen", "webhooks.listen", &c->webhook_listen)) < 0 ||
	    (rc = get_int(x, g, "webhooks.max_body", "webhooks.max_body", 0, &c->webhook_max_body)) < 0 ||
	    (rc = validate_listen(x, g, "listen", "webhooks.listen", c->webhook_listen,
	                          "0.0.0.0:9465")) < 0)
		return rc;
	if (c->webhook_listen && str_eq(c->webhook_listen, c->listen_address))
		return fail(x, config_setting_get_member(g, "listen"), "webhooks.listen = \"%s\" is "
		            "the address of listen (expected another one: /metrics and /healthz "
		            "have no authentication and stay on a private address)", c->webhook_listen);
	return 0;
}

static int validate_defaults(struct ctx *x, const config_setting_t *root, struct config *c)
{
	const config_setting_t *g = config_setting_get_member(root, "defaults");
	if (!!c->default_connector != !!c->default_target)
		return fail(x, g, "defaults.connector and defaults.target go together "
		            "(expected both or neither)");
	if (!c->default_connector)
		return 0;
	const struct cfg_connector *cc = cfg_find_connector(c, c->default_connector);
	if (!cc)
		return fail(x, config_setting_get_member(g, "connector"), "defaults.connector = "
		            "\"%s\" is not a configured connector (expected the name of one of "
		            "connectors)", c->default_connector);
	for (size_t i = 0; i < cc->n_targets; i++)
		if (strcmp(cc->targets[i], c->default_target) == 0)
			return 0;
	return fail(x, config_setting_get_member(g, "target"), "defaults.target = \"%s\" is not "
	            "served by connector '%s' (expected one of its targets)",
	            c->default_target, cc->name);
}


static int parse_root(struct ctx *x, const config_setting_t *root, struct config *c)
{
	const config_setting_t *db = config_setting_get_member(root, "database");
	const config_setting_t *defs = config_setting_get_member(root, "defaults");
	char *dir = NULL;
	int rc;
	if ((rc = get_string(x, db, "database.dsn", "database.dsn", &c->database_dsn)) < 0 ||
	    (rc = get_string(x, root, "log_level", "log_level", &c->log_level)) < 0 ||
	    (rc = get_int(x, root, "poll_interval", "poll_interval", 0, &c->poll_interval_s)) < 0 ||
	    (rc = get_int(x, root, "notify_debounce_ms", "notify_debounce_ms", 0,
	                  &c->notify_debounce_ms)) < 0 ||
	    (rc = get_int(x, root, "overlap", "overlap", 0, &c->overlap_s)) < 0 ||
	    (rc = get_int(x, root, "refusal_backoff", "refusal_backoff", 0, &c->refusal_backoff_s)) < 0 ||
	    (rc = get_int(x, root, "create_min_age", "create_min_age", 0, &c->create_min_age_s)) < 0 ||
	    (rc = get_string(x, root, "directory", "directory", &dir)) < 0 ||
	    (rc = get_string(x, root, "listen", "listen", &c->listen_address)) < 0 ||
	    (rc = get_string(x, defs, "defaults.platform", "defaults.platform", &c->default_platform)) < 0 ||
	    (rc = get_string(x, defs, "defaults.team", "defaults.team", &c->default_team)) < 0 ||
	    (rc = get_string(x, defs, "defaults.connector", "defaults.connector", &c->default_connector)) < 0 ||
	    (rc = get_string(x, defs, "defaults.target", "defaults.target", &c->default_target)) < 0)
		goto out;
	c->directory_file = resolve_relative(x->path, dir);
	if (log_level_parse(c->log_level) < 0) {
		rc = fail(x, config_setting_get_member(root, "log_level"), "log_level = \"%s\" "
		          "(expected error, warn, info or debug)", c->log_level);
		goto out;
	}
	if ((rc = validate_listen(x, root, "listen", "listen", c->listen_address,
	                          "127.0.0.1:9464")) < 0 ||
	    (rc = parse_webhooks(x, root, c)) < 0 ||
	    (rc = parse_policies(x, root, c)) < 0 ||
	    (rc = cfg_parse_connectors(x, root, c)) < 0 ||
	    (rc = validate_defaults(x, root, c)) < 0 ||
	    (rc = cfg_parse_watch(x, root, c)) < 0 ||
	    (rc = cfg_parse_destinations(x, root, c)) < 0 ||
	    (rc = cfg_check_watch_channels(x, root, c)) < 0 ||
	    (rc = cfg_parse_import(x, root, c)) < 0)
		goto out;
out:
	free(dir);
	return rc;
}

int cfg_load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct ctx x = { .path = path, .err = err, .errlen = errlen };
	struct config *c = NULL;
	config_t lc;
	int rc = 0;
	config_init(&lc);
	if ((rc = cfgfile_read(&lc, path, "configuration file", err, errlen)) < 0)
		goto out;
	const config_setting_t *root = config_root_setting(&lc);
	if ((rc = check_members(&x, root, "", "")) < 0)
		goto out;
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	if ((rc = parse_root(&x, root, c)) < 0)
		goto out;
	*out = c;
	c = NULL;
out:
	cfg_free(c);
	config_destroy(&lc);
	return rc;
}

void cfg_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->database_dsn);
	free(c->directory_file);
	free(c->log_level);
	free(c->default_platform);
	free(c->default_team);
	free(c->default_connector);
	free(c->default_target);
	for (size_t i = 0; i < c->n_connectors; i++)
		cfg_connector_free(&c->connectors[i]);
	free(c->connectors);
	free(c->listen_address);
	free(c->webhook_listen);
	cfg_watch_free(&c->watch);
	cfg_destinations_free(c);
	cfg_import_free(&c->import);
	free(c);
}

const char *cfg_reload_blocker(const struct config *old, const struct config *new_)
{
	/* Exactly the rows of cfg_options[] marked not reloadable.  A
	 * connector's identity (name, type, base_url, token, and the type's
	 * own options marked not reloadable, e.g. GitHub's api_version) is
	 * fixed while it runs: links, cursors and in-flight requests belong to
	 * it.  Connectors are compared by position, as the daemon holds them. */
	if (!str_eq(old->database_dsn, new_->database_dsn))
		return "database.dsn";
	if (!str_eq(old->listen_address, new_->listen_address))
		return "listen";
	return cfg_connectors_reload_blocker(old, new_);
}

/* ---- for the other option groups' parsers (config_internal.h) ---- */

int cfg_fail(struct ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = cfgfile_vfail(x->path, s, x->err, x->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

int cfg_get_string(struct ctx *x, const config_setting_t *grp, const char *table,
                   const char *shown, char **out)
{
	return get_string(x, grp, table, shown, out);
}

int cfg_get_int(struct ctx *x, const config_setting_t *grp, const char *table,
                const char *shown, int *out)
{
	return get_int(x, grp, table, shown, 0, out);
}

int cfg_get_int_or(struct ctx *x, const config_setting_t *grp, const char *table,
                   const char *shown, int fallback, int *out)
{
	return get_int(x, grp, table, shown, fallback, out);
}

char *cfg_resolve_relative(const char *cfg_path, const char *p)
{
	return resolve_relative(cfg_path, p);
}

bool cfg_url_host_is_loopback(const char *hostpart)
{
	return url_host_is_loopback(hostpart);
}

int cfg_read_secret_file(struct ctx *x, const config_setting_t *s, const char *owner,
                         const char *path, char **out)
{
	return cfg_read_secret(x, s, owner, "secret_file", path, out);
}
