/* cfg_connector.c — the `connectors` list of the configuration file: each
 * connector's common options (name, type, base_url, token, webhook secret,
 * pacing knobs), its type's own option group (connector.h struct
 * conn_option, validated by the type), its targets (validated by the type's
 * target check) and its discovery rules (cfg_discover.c).  Split from
 * config.c, which keeps the option table, the typed getters and the top
 * level; errors are "FILE:LINE: ..." like every other option group.
 */
#include "config.h"
#include "config_internal.h"
#include "connector.h"
#include "log.h"
#include "url.h"
#include "util.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The secret goes into an HTTP header: refuse white space and control
 * characters (a pasted "Bearer x" or a second line). */
static int check_token_chars(struct ctx *x, const config_setting_t *s, const char *cname,
                             const char *what, const char *tok)
{
	for (const unsigned char *p = (const unsigned char *)tok; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return cfg_fail(x, s, "connector '%s': the token in %s contains white space or "
			            "control characters (expected one bare token)", cname, what);
	return 0;
}

static int load_token(struct ctx *x, const config_setting_t *e, const struct conn_type *ct,
                      struct cfg_connector *cc)
{
	const config_setting_t *sf = config_setting_get_member(e, "token_file");
	const config_setting_t *se = config_setting_get_member(e, "token_env");
	int rc = 0;
	char what[300];
	if (!!cc->token_file == !!cc->token_env)
		return cfg_fail(x, cc->token_file ? sf : e, "connector '%s': expected exactly one of "
		            "token_file or token_env (got %s)", cc->name,
		            cc->token_file ? "both" : "neither");
	if (cc->token_file) {
		char owner[200];
		snprintf(owner, sizeof(owner), "connector '%s'", cc->name);
		rc = cfg_read_secret(x, sf, owner, "token_file", cc->token_file, &cc->token);
		snprintf(what, sizeof(what), "token_file '%s'", cc->token_file);
		if (rc < 0)
			return rc;
	} else {
		const char *v = getenv(cc->token_env);
		if (!v)
			return cfg_fail(x, se, "connector '%s': environment variable %s (token_env) is not set",
			            cc->name, cc->token_env);
		if (!v[0])
			return cfg_fail(x, se, "connector '%s': environment variable %s (token_env) is empty",
			            cc->name, cc->token_env);
		cc->token = xstrdup(v);
		snprintf(what, sizeof(what), "environment variable %s", cc->token_env);
	}
	log_add_secret(cc->token);
	if ((rc = check_token_chars(x, cc->token_file ? sf : se, cc->name, what, cc->token)) < 0)
		return rc;
	struct conn_options o = { .name = cc->name, .type_opts = cc->type_opts };
	const char *bad = ct->token_check ? ct->token_check(cc->token, &o) : NULL;
	if (bad)
		return cfg_fail(x, cc->token_file ? sf : se, "connector '%s': the secret in %s is not "
		            "what type '%s' takes (expected %s)", cc->name, what, ct->name, bad);
	return 0;
}

/* The webhook secret (optional): from webhook_secret_file or
 * webhook_secret_env, never inline; registered as a secret so it is never
 * logged.  Needs the type to take deliveries. */
static int load_webhook_secret(struct ctx *x, const config_setting_t *e, const struct conn_type *ct,
                               struct cfg_connector *cc)
{
	const config_setting_t *sf = config_setting_get_member(e, "webhook_secret_file");
	const config_setting_t *se = config_setting_get_member(e, "webhook_secret_env");
	if (!cc->webhook_secret_file && !cc->webhook_secret_env)
		return 0;
	if (cc->webhook_secret_file && cc->webhook_secret_env)
		return cfg_fail(x, sf, "connector '%s': expected one of webhook_secret_file or "
		            "webhook_secret_env (got both)", cc->name);
	if (!conn_type_webhooks(ct))
		return cfg_fail(x, sf ? sf : se, "connector '%s': type '%s' takes no webhook deliveries "
		            "(remove webhook_secret_*)", cc->name, ct->name);
	if (cc->webhook_secret_file) {
		char *abs = cfg_resolve_relative(x->path, cc->webhook_secret_file);
		free(cc->webhook_secret_file);
		cc->webhook_secret_file = abs;
		char owner[200];
		snprintf(owner, sizeof(owner), "connector '%s'", cc->name);
		int rc = cfg_read_secret(x, sf, owner, "webhook_secret_file", cc->webhook_secret_file,
		                         &cc->webhook_secret);
		if (rc < 0)
			return rc;
	} else {
		const char *v = getenv(cc->webhook_secret_env);
		if (!v || !v[0])
			return cfg_fail(x, se, "connector '%s': environment variable %s (webhook_secret_env) "
			            "is %s", cc->name, cc->webhook_secret_env, v ? "empty" : "not set");
		cc->webhook_secret = xstrdup(v);
	}
	log_add_secret(cc->webhook_secret);
	return 0;
}

static int parse_targets(struct ctx *x, const config_setting_t *e, const struct conn_type *ct,
                         struct cfg_connector *cc)
{
	const config_setting_t *t = config_setting_get_member(e, "targets");
	/* what a target of this type looks like, from the registry */
	const char *what = ct->target_check ? ct->target_check("") : NULL;
	if (!what)
		what = "a target name";
	if (!t)
		return cfg_fail(x, e, "connector '%s': missing required option 'targets' "
		            "(expected a list, each %s)", cc->name, what);
	int n = config_setting_length(t);
	if (n == 0)
		return cfg_fail(x, t, "connector '%s': 'targets' is empty (expected at least one, "
		            "%s)", cc->name, what);
	cc->targets = xcalloc((size_t)n, sizeof(*cc->targets));
	for (int i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(t, (unsigned)i);
		const char *v = config_setting_get_string(el);
		const char *bad = ct->target_check ? ct->target_check(v) : (v[0] ? NULL : what);
		if (bad)
			return cfg_fail(x, el, "connector '%s': target '%s' is not valid for type '%s' "
			            "(expected %s)", cc->name, v, ct->name, bad);
		for (size_t j = 0; j < cc->n_targets; j++)
			if (strcmp(cc->targets[j], v) == 0)
				return cfg_fail(x, el, "connector '%s': target '%s' is listed twice",
				            cc->name, v);
		cc->targets[cc->n_targets++] = xstrdup(v);
	}
	return 0;
}

/* The type's own options (connector.h: struct conn_option), each as text in
 * cc->type_opts[] in the order of ct->options; sh names the connector
 * ("connectors[0] ('github-main')."). */
static int parse_type_options(struct ctx *x, const config_setting_t *e,
                              const struct conn_type *ct, const char *sh,
                              struct cfg_connector *cc)
{
	cc->n_type_opts = ct->n_options;
	cc->type_opts = xcalloc(ct->n_options + 1, sizeof(char *));
	for (size_t i = 0; i < ct->n_options; i++) {
		const struct conn_option *o = &ct->options[i];
		const config_setting_t *m = config_setting_get_member(e, o->name);
		if (!m) {
			if (!o->def)
				return cfg_fail(x, e, "connector '%s': missing required option '%s' for "
				            "type '%s'", cc->name, o->name, ct->name);
			continue; /* conn_opt() gives the default */
		}
		int rc = cfg_conn_option_value(x, m, o, sh, &cc->type_opts[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_connector(struct ctx *x, const config_setting_t *e, int idx,
                           const struct config *c, struct cfg_connector *cc)
{
	char sh[128];
	int rc;
	cc->line = config_setting_source_line(e);
	snprintf(sh, sizeof(sh), "connectors[%d].name", idx);
	if ((rc = cfg_get_string(x, e, "connectors.[].name", sh, &cc->name)) < 0)
		return rc;
	snprintf(sh, sizeof(sh), "connectors[%d] ('%s').", idx, cc->name);
	char n[200];
#define SH(leaf) (snprintf(n, sizeof(n), "%s%s", sh, leaf), n)
	if ((rc = cfg_get_string(x, e, "connectors.[].type", SH("type"), &cc->type)) < 0 ||
	    (rc = cfg_get_string(x, e, "connectors.[].base_url", SH("base_url"), &cc->base_url)) < 0 ||
	    (rc = cfg_get_string(x, e, "connectors.[].token_file", SH("token_file"), &cc->token_file)) < 0 ||
	    (rc = cfg_get_string(x, e, "connectors.[].token_env", SH("token_env"), &cc->token_env)) < 0 ||
	    (rc = cfg_get_string(x, e, "connectors.[].webhook_secret_file", SH("webhook_secret_file"),
	                     &cc->webhook_secret_file)) < 0 ||
	    (rc = cfg_get_string(x, e, "connectors.[].webhook_secret_env", SH("webhook_secret_env"),
	                     &cc->webhook_secret_env)) < 0 ||
	    (rc = cfg_get_int_or(x, e, "connectors.[].poll_interval", SH("poll_interval"),
	                  c->poll_interval_s, &cc->poll_interval_s)) < 0 ||
	    (rc = cfg_get_int_or(x, e, "connectors.[].max_attempts", SH("max_attempts"), 0, &cc->max_attempts)) < 0 ||
	    (rc = cfg_get_int_or(x, e, "connectors.[].request_timeout", SH("request_timeout"), 0,
	                  &cc->request_timeout_s)) < 0 ||
	    (rc = cfg_get_int_or(x, e, "connectors.[].max_inflight", SH("max_inflight"), 0, &cc->max_inflight)) < 0)
		return rc;
	const config_setting_t *m = config_setting_get_member(e, "ca_file");
	if (m && (rc = cfg_get_string(x, e, "connectors.[].ca_file", SH("ca_file"), &cc->ca_file)) < 0)
		return rc;
	m = config_setting_get_member(e, "allow_insecure_http");
	cc->allow_insecure_http = m && config_setting_get_bool(m);
#undef SH
	if (cc->ca_file) {
		char *abs = cfg_resolve_relative(x->path, cc->ca_file);
		free(cc->ca_file);
		cc->ca_file = abs;
		if (access(cc->ca_file, R_OK) < 0)
			return cfg_fail(x, config_setting_get_member(e, "ca_file"), "connector '%s': cannot "
			            "read ca_file '%s': %s (expected a PEM file of CA certificates)",
			            cc->name, cc->ca_file, strerror(errno));
	}
	if (cc->token_file) {
		/* like directory: relative to the config file's folder */
		char *abs = cfg_resolve_relative(x->path, cc->token_file);
		free(cc->token_file);
		cc->token_file = abs;
	}
	const struct conn_type *ct = conn_type_find(cc->type);
	if (!ct)
		return cfg_fail(x, config_setting_get_member(e, "type"), "connector '%s': unknown type "
		            "'%s' (expected one of: %s)", cc->name, cc->type, conn_type_names());
	const char *why = url_http_problem(cc->base_url); /* as libcurl will read it */
	if (why)
		return cfg_fail(x, config_setting_get_member(e, "base_url"), "connector '%s': base_url "
		            "'%s' is not an http(s) URL libcurl can parse: %s (expected e.g. "
		            "\"https://api.github.com\" or \"https://acme.service-now.com\")",
		            cc->name, cc->base_url, why);
	if (strncmp(cc->base_url, "http://", 7) == 0 && !cfg_url_host_is_loopback(cc->base_url + 7) &&
	    !cc->allow_insecure_http)
		return cfg_fail(x, config_setting_get_member(e, "base_url"), "connector '%s': base_url "
		            "'%s' is plain http to a host that is not loopback: the token would "
		            "travel in clear text (use https://, or set allow_insecure_http = true; "
		            "if you really mean it)", cc->name, cc->base_url);
	size_t ul = strlen(cc->base_url);
	while (ul > 8 && cc->base_url[ul - 1] == '/')
		cc->base_url[--ul] = '\0';
	for (size_t i = 0; i < c->n_connectors; i++)
		if (strcmp(c->connectors[i].name, cc->name) == 0)
			return cfg_fail(x, config_setting_get_member(e, "name"), "duplicate connector name "
			            "'%s' (first defined at line %d; expected unique names)",
			            cc->name, c->connectors[i].line);
	if ((rc = parse_type_options(x, e, ct, sh, cc)) < 0 ||
	    (rc = parse_targets(x, e, ct, cc)) < 0 ||
	    (rc = cfg_parse_discover(x, e, ct, sh, cc)) < 0 ||
	    (rc = load_webhook_secret(x, e, ct, cc)) < 0)
		return rc;
	return load_token(x, e, ct, cc);
}

void cfg_connector_free(struct cfg_connector *cc)
{
	free(cc->name);
	free(cc->type);
	free(cc->base_url);
	free(cc->ca_file);
	for (size_t i = 0; i < cc->n_type_opts; i++)
		free(cc->type_opts[i]);
	free(cc->type_opts);
	free(cc->token_file);
	free(cc->token_env);
	if (cc->token)
		explicit_bzero(cc->token, strlen(cc->token));
	free(cc->token);
	free(cc->webhook_secret_file);
	free(cc->webhook_secret_env);
	if (cc->webhook_secret)
		explicit_bzero(cc->webhook_secret, strlen(cc->webhook_secret));
	free(cc->webhook_secret);
	for (size_t i = 0; i < cc->n_targets; i++)
		free(cc->targets[i]);
	free(cc->targets);
	cfg_discover_free(cc);
}

int cfg_parse_connectors(struct ctx *x, const config_setting_t *root, struct config *c)
{
	const config_setting_t *list = config_setting_get_member(root, "connectors");
	int n = list ? config_setting_length(list) : 0;
	if (n <= 0)
		return 0;
	c->connectors = xcalloc((size_t)n, sizeof(*c->connectors));
	for (int i = 0; i < n; i++) {
		struct cfg_connector *cc = &c->connectors[c->n_connectors];
		int rc = parse_connector(x, config_setting_get_elem(list, (unsigned)i), i, c, cc);
		if (rc < 0) {
			cfg_connector_free(cc);
			memset(cc, 0, sizeof(*cc));
			return rc;
		}
		c->n_connectors++;
	}
	return 0;
}

const struct cfg_connector *cfg_find_connector(const struct config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->n_connectors; i++)
		if (strcmp(c->connectors[i].name, name) == 0)
			return &c->connectors[i];
	return NULL;
}

const char *cfg_connector_target(const struct cfg_connector *cc, const char *target)
{
	for (size_t i = 0; cc && target && i < cc->n_targets; i++)
		if (strcasecmp(cc->targets[i], target) == 0)
			return cc->targets[i];
	return NULL;
}

/* The first of the type's own options that may not change on reload and
 * did: "connectors.[github].api_version" (static), or NULL.  Same type. */
static const char *type_option_blocker(const struct cfg_connector *a, const struct cfg_connector *b)
{
	static char name[160];
	const struct conn_type *ct = conn_type_find(a->type);
	for (size_t i = 0; ct && i < ct->n_options; i++) {
		const char *va = i < a->n_type_opts ? a->type_opts[i] : NULL;
		const char *vb = i < b->n_type_opts ? b->type_opts[i] : NULL;
		if (ct->options[i].reloadable || str_eq(va, vb))
			continue;
		snprintf(name, sizeof(name), "connectors.[%s].%s", ct->name, ct->options[i].name);
		return name;
	}
	return NULL;
}

const char *cfg_connectors_reload_blocker(const struct config *old, const struct config *new_)
{
	if (old->n_connectors != new_->n_connectors)
		return "connectors";
	for (size_t i = 0; i < old->n_connectors; i++) {
		const struct cfg_connector *a = &old->connectors[i], *b = &new_->connectors[i];
		if (!str_eq(a->name, b->name))
			return "connectors.[].name";
		if (!str_eq(a->type, b->type))
			return "connectors.[].type";
		if (!str_eq(a->base_url, b->base_url))
			return "connectors.[].base_url";
		if (!str_eq(a->ca_file, b->ca_file))
			return "connectors.[].ca_file";
		if (a->allow_insecure_http != b->allow_insecure_http)
			return "connectors.[].allow_insecure_http";
		const char *t = type_option_blocker(a, b);
		if (t)
			return t;
		if (!str_eq(a->token_file, b->token_file) || !str_eq(a->token_env, b->token_env) ||
		    !str_eq(a->token, b->token))
			return b->token_file ? "connectors.[].token_file" : "connectors.[].token_env";
	}
	return NULL;
}
