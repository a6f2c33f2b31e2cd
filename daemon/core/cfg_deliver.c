/* cfg_deliver.c — the `quarterly_report` group and the `destinations` option list (config.h struct
 * cfg_destination; the sender is daemon/deliver/).  Rows, defaults and
 * ranges are in config.c's cfg_options[] / cfg_ranges[] like every other
 * option; this file reads them and checks what relates several values:
 * a type's required options, the URL scheme, the secret (exactly one of
 * secret_file / secret_env, or none), unique names. */
#include "config.h"
#include "config_internal.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dest_type_names[] = { "directory", "webhook", "smtp" };

const char *cfg_dest_type_name(enum cfg_dest_type t)
{
	switch (t) {
	case CFG_DEST_DIRECTORY:
	case CFG_DEST_WEBHOOK:
	case CFG_DEST_SMTP:
		return dest_type_names[t];
	default:
		abort();
	}
}

const struct cfg_destination *cfg_find_destination(const struct config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->n_destinations; i++)
		if (strcmp(c->destinations[i].name, name) == 0)
			return &c->destinations[i];
	return NULL;
}

bool cfg_destination_serves(const struct cfg_destination *d, const char *platform)
{
	if (!d->platforms)
		return true;
	for (size_t i = 0; platform && i < d->n_platforms; i++)
		if (strcmp(d->platforms[i], platform) == 0)
			return true;
	return false;
}

/* A list of strings (already type-checked by config.c) into *out. */
static void string_list(const config_setting_t *l, char ***out, size_t *n)
{
	int len = config_setting_length(l);
	*out = xcalloc(len > 0 ? (size_t)len : 1, sizeof(**out));
	for (int i = 0; i < len; i++)
		(*out)[(*n)++] = xstrdup(config_setting_get_string(config_setting_get_elem(l, (unsigned)i)));
}

/* The scheme's host part when url starts with one of the two schemes, else NULL. */
static const char *url_host(const char *url, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (strncmp(url, a, la) == 0)
		return url + la;
	if (strncmp(url, b, lb) == 0)
		return url + lb;
	return NULL;
}

static int check_url(struct ctx *x, const config_setting_t *e, struct cfg_destination *d)
{
	const config_setting_t *u = config_setting_get_member(e, "url");
	if (!d->url)
		return cfg_fail(x, e, "destination '%s': missing required option 'url' (expected %s)",
		                d->name, d->type == CFG_DEST_SMTP ? "url = \"smtps://smtp.example.com\";"
		                : "url = \"https://chat.example.com/hooks/...\";");
	bool smtp = d->type == CFG_DEST_SMTP;
	const char *host = smtp ? url_host(d->url, "smtp://", "smtps://") :
	                          url_host(d->url, "http://", "https://");
	if (!host || !host[0] || host[0] == '/' || strpbrk(d->url, " \t\r\n"))
		return cfg_fail(x, u, "destination '%s': url \"%s\" is not %s", d->name, d->url,
		                smtp ? "an smtp:// (STARTTLS) or smtps:// URL" : "an http:// or https:// URL");
	if (!smtp && strncmp(d->url, "http://", 7) == 0 && !d->allow_insecure &&
	    !cfg_url_host_is_loopback(host))
		return cfg_fail(x, u, "destination '%s': url \"%s\" is plain http to a host that is "
		                "not loopback: the message and its secret would travel in clear text "
		                "(expected https://, or allow_insecure = true if you accept that)",
		                d->name, d->url);
	return 0;
}

static int load_secret(struct ctx *x, const config_setting_t *e, struct cfg_destination *d)
{
	const config_setting_t *sf = config_setting_get_member(e, "secret_file");
	const config_setting_t *se = config_setting_get_member(e, "secret_env");
	char owner[200];
	int rc;
	snprintf(owner, sizeof(owner), "destination '%s'", d->name);
	if (d->secret_file && d->secret_env)
		return cfg_fail(x, sf, "%s: expected at most one of secret_file or secret_env (got both)",
		                owner);
	if (d->type == CFG_DEST_DIRECTORY && (d->secret_file || d->secret_env))
		return cfg_fail(x, sf ? sf : se, "%s: a directory takes no secret (expected no "
		                "secret_file / secret_env)", owner);
	if (d->secret_file) {
		char *abs = cfg_resolve_relative(x->path, d->secret_file);
		free(d->secret_file);
		d->secret_file = abs;
		if ((rc = cfg_read_secret_file(x, sf, owner, d->secret_file, &d->secret)) < 0)
			return rc;
	} else if (d->secret_env) {
		const char *v = getenv(d->secret_env);
		if (!v || !v[0])
			return cfg_fail(x, se, "%s: environment variable %s (secret_env) is %s", owner,
			                d->secret_env, v ? "empty" : "not set");
		d->secret = xstrdup(v);
	}
	if (!d->secret)
		return 0;
	log_add_secret(d->secret);
	for (const unsigned char *p = (const unsigned char *)d->secret; *p; p++)
		if (*p < ' ' || *p == 0x7f)
			return cfg_fail(x, sf ? sf : se, "%s: the secret contains control characters "
			                "(expected one line)", owner);
	return 0;
}

/* What each type needs and refuses. */
static int check_type(struct ctx *x, const config_setting_t *e, struct cfg_destination *d)
{
	int rc;
	if (d->type == CFG_DEST_DIRECTORY) {
		if (!d->path)
			return cfg_fail(x, e, "destination '%s': missing required option 'path' "
			                "(expected the folder, e.g. path = \"/var/lib/closeloop/reports\";)",
			                d->name);
		char *abs = cfg_resolve_relative(x->path, d->path);
		free(d->path);
		d->path = abs;
		return 0;
	}
	if ((rc = check_url(x, e, d)) < 0)
		return rc;
	if (d->type == CFG_DEST_WEBHOOK)
		return 0;
	if (!d->from || !strchr(d->from, '@') || strpbrk(d->from, " <>\r\n"))
		return cfg_fail(x, d->from ? config_setting_get_member(e, "from") : e,
		                "destination '%s': %s (expected from = \"closeloop@example.com\";)",
		                d->name, d->from ? "'from' is not a bare mail address" :
		                "missing required option 'from'");
	if (d->n_to == 0)
		return cfg_fail(x, e, "destination '%s': missing required option 'to' (expected "
		                "to = [ \"lead@example.com\" ];)", d->name);
	for (size_t i = 0; i < d->n_to; i++)
		if (!strchr(d->to[i], '@') || strpbrk(d->to[i], " <>,\r\n"))
			return cfg_fail(x, config_setting_get_member(e, "to"), "destination '%s': to "
			                "\"%s\" is not a bare mail address", d->name, d->to[i]);
	if (d->secret && !d->username)
		return cfg_fail(x, e, "destination '%s': a password (secret_file / secret_env) "
		                "without username (expected username = \"...\"; for SMTP AUTH)", d->name);
	return 0;
}

#define SH(k) (snprintf(sh, sizeof(sh), "destinations[%d].%s", idx, k), sh)

static int parse_destination(struct ctx *x, const config_setting_t *e, int idx, struct config *c)
{
	struct cfg_destination *d = &c->destinations[c->n_destinations];
	char sh[160], *type = NULL;
	int rc;
	d->line = config_setting_source_line(e);
	if ((rc = cfg_get_string(x, e, "destinations.[].name", SH("name"), &d->name)) < 0)
		return rc;
	c->n_destinations++; /* owned from here: freed with c */
	if ((rc = cfg_get_string(x, e, "destinations.[].type", SH("type"), &type)) < 0)
		goto out;
	size_t t;
	for (t = 0; t < ARRAY_SIZE(dest_type_names); t++)
		if (strcmp(dest_type_names[t], type) == 0)
			break;
	if (t == ARRAY_SIZE(dest_type_names)) {
		rc = cfg_fail(x, config_setting_get_member(e, "type"), "destination '%s': type "
		              "\"%s\" is unknown (expected directory, webhook or smtp)", d->name, type);
		goto out;
	}
	d->type = (enum cfg_dest_type)t;
	const config_setting_t *en = config_setting_get_member(e, "allow_insecure");
	d->allow_insecure = en && config_setting_get_bool(en);
	if ((rc = cfg_get_string(x, e, "destinations.[].path", SH("path"), &d->path)) < 0 ||
	    (rc = cfg_get_string(x, e, "destinations.[].url", SH("url"), &d->url)) < 0 ||
	    (rc = cfg_get_string(x, e, "destinations.[].secret_file", SH("secret_file"),
	                         &d->secret_file)) < 0 ||
	    (rc = cfg_get_string(x, e, "destinations.[].secret_env", SH("secret_env"),
	                         &d->secret_env)) < 0 ||
	    (rc = cfg_get_string(x, e, "destinations.[].secret_header", SH("secret_header"),
	                         &d->secret_header)) < 0 ||
	    (rc = cfg_get_string(x, e, "destinations.[].username", SH("username"), &d->username)) < 0 ||
	    (rc = cfg_get_string(x, e, "destinations.[].from", SH("from"), &d->from)) < 0 ||
	    (rc = cfg_get_string(x, e, "destinations.[].ca_file", SH("ca_file"), &d->ca_file)) < 0 ||
	    (rc = cfg_get_int(x, e, "destinations.[].max_attempts", SH("max_attempts"),
	                      &d->max_attempts)) < 0 ||
	    (rc = cfg_get_int(x, e, "destinations.[].timeout", SH("timeout"), &d->timeout_s)) < 0)
		goto out;
	if (d->ca_file) {
		char *abs = cfg_resolve_relative(x->path, d->ca_file);
		free(d->ca_file);
		d->ca_file = abs;
	}
	const config_setting_t *l = config_setting_get_member(e, "platforms");
	if (l)
		string_list(l, &d->platforms, &d->n_platforms);
	if ((l = config_setting_get_member(e, "to")))
		string_list(l, &d->to, &d->n_to);
	char *format = NULL;
	if ((rc = cfg_get_string(x, e, "destinations.[].format", SH("format"), &format)) < 0)
		goto out;
	d->slack = format && strcmp(format, "slack") == 0;
	if (format && !d->slack && strcmp(format, "closeloop") != 0) {
		rc = cfg_fail(x, config_setting_get_member(e, "format"), "destination '%s': format "
		              "\"%s\" is unknown (expected closeloop or slack)", d->name, format);
		free(format);
		goto out;
	}
	free(format);
	if (strpbrk(d->secret_header, ": \t\r\n")) {
		rc = cfg_fail(x, config_setting_get_member(e, "secret_header"), "destination '%s': "
		              "secret_header \"%s\" is not a header name", d->name, d->secret_header);
		goto out;
	}
	if ((rc = load_secret(x, e, d)) < 0 || (rc = check_type(x, e, d)) < 0)
		goto out;
	for (size_t i = 0; i + 1 < c->n_destinations; i++)
		if (strcmp(c->destinations[i].name, d->name) == 0) {
			rc = cfg_fail(x, config_setting_get_member(e, "name"), "duplicate destination "
			              "name '%s' (first defined at line %d; expected unique names)",
			              d->name, c->destinations[i].line);
			goto out;
		}
out:
	free(type);
	return rc;
}

int cfg_parse_destinations(struct ctx *x, const config_setting_t *root, struct config *c)
{
	const config_setting_t *g = config_setting_get_member(root, "quarterly_report");
	const config_setting_t *en = g ? config_setting_get_member(g, "enabled") : NULL;
	c->quarterly_enabled = en ? config_setting_get_bool(en) != 0 : true;
	int rc0 = cfg_get_int(x, g, "quarterly_report.check_interval",
	                      "quarterly_report.check_interval", &c->quarterly_check_s);
	if (rc0 < 0 || (rc0 = cfg_get_int(x, g, "quarterly_report.store_debounce_ms",
	                                  "quarterly_report.store_debounce_ms",
	                                  &c->quarterly_store_debounce_ms)) < 0)
		return rc0;
	const config_setting_t *l = config_setting_get_member(root, "destinations");
	int n = l ? config_setting_length(l) : 0;
	if (n <= 0)
		return 0;
	c->destinations = xcalloc((size_t)n, sizeof(*c->destinations));
	for (int i = 0; i < n; i++) {
		int rc = parse_destination(x, config_setting_get_elem(l, (unsigned)i), i, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void cfg_destinations_free(struct config *c)
{
	for (size_t i = 0; i < c->n_destinations; i++) {
		struct cfg_destination *d = &c->destinations[i];
		free(d->name);
		free_list(d->platforms, d->n_platforms);
		free(d->path);
		free(d->url);
		free(d->secret_file);
		free(d->secret_env);
		if (d->secret)
			explicit_bzero(d->secret, strlen(d->secret));
		free(d->secret);
		free(d->secret_header);
		free(d->username);
		free(d->from);
		free_list(d->to, d->n_to);
		free(d->ca_file);
	}
	free(c->destinations);
	c->destinations = NULL;
	c->n_destinations = 0;
}
