/* cfg_discover.c — a connector's `discover` list: the rules that say
 * which tickets of its targets are action items born in the tracker
 * (connectors/connector.h "discovery", docs/configuration.md
 * "Discovery").
 *
 *     discover = ( { target = "acme/payments"; label = "postmortem-action"; team = "payments"; } );
 *
 * Generic members (rows of cfg_options): target (required, one of the
 * connector's targets, at most one rule each) and team.  The rest are the
 * type's discover_options, parsed like its own options; the type's
 * discover_check then judges the rule as a whole.  Every error is
 * "FILE:LINE: ..." at the member (or the rule) it is about.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "connector.h"
#include "util.h"

/* The type's discover option called key, or -1. */
static int type_member(const struct conn_type *ct, const char *key)
{
	for (size_t i = 0; i < ct->n_discover_options; i++)
		if (strcmp(ct->discover_options[i].name, key) == 0)
			return (int)i;
	return -1;
}

/* What one rule may hold, for the unknown-member message. */
static char *members_text(const struct conn_type *ct)
{
	struct buf b = { 0 };
	if (buf_appendf(&b, "target, team") < 0)
		abort();
	for (size_t i = 0; i < ct->n_discover_options; i++)
		if (buf_appendf(&b, ", %s", ct->discover_options[i].name) < 0)
			abort();
	return b.data;
}

static int parse_rule(struct ctx *x, const config_setting_t *e, const struct conn_type *ct,
                      const char *sh, struct cfg_connector *cc, struct cfg_discover *d)
{
	int rc = 0;
	d->line = config_setting_source_line(e);
	d->n_values = ct->n_discover_options;
	d->values = xcalloc(d->n_values + 1, sizeof(char *));
	for (int i = 0; i < config_setting_length(e); i++) {
		const config_setting_t *m = config_setting_get_elem(e, (unsigned)i);
		const char *key = config_setting_name(m);
		int ti = type_member(ct, key);
		if (strcmp(key, "target") == 0 || strcmp(key, "team") == 0) {
			const char *v = config_setting_type(m) == CONFIG_TYPE_STRING ?
			                config_setting_get_string(m) : NULL;
			if (!v || !v[0])
				return cfg_fail(x, m, "%s%s must be a non-empty string in double quotes",
				                sh, key);
			char **dst = key[1] == 'a' ? &d->target : &d->team;
			*dst = xstrdup(v);
		} else if (ti >= 0) {
			if ((rc = cfg_conn_option_value(x, m, &ct->discover_options[ti], sh,
			                                 &d->values[ti])) < 0)
				return rc;
		} else {
			char *all = members_text(ct);
			rc = cfg_fail(x, m, "unknown option '%s%s' in a discovery rule of type '%s' "
			              "(expected one of %s)", sh, key, ct->name, all);
			free(all);
			return rc;
		}
	}
	if (!d->target)
		return cfg_fail(x, e, "%smissing required option 'target' (expected one of the "
		                "connector's targets)", sh);
	const char *spelt = cfg_connector_target(cc, d->target);
	if (!spelt)
		return cfg_fail(x, config_setting_get_member(e, "target"), "%starget '%s' is not "
		                "one of connector '%s''s targets (add it to targets, or fix the "
		                "name)", sh, d->target, cc->name);
	str_replace(&d->target, spelt);
	for (size_t i = 0; i < ct->n_discover_options; i++)
		if (!d->values[i] && !ct->discover_options[i].def)
			return cfg_fail(x, e, "%smissing required option '%s' for type '%s'", sh,
			                ct->discover_options[i].name, ct->name);
	const char *bad = ct->discover_check ? ct->discover_check(d->values) : NULL;
	if (bad)
		return cfg_fail(x, e, "%sthe rule for target '%s' is not complete (expected %s)",
		                sh, d->target, bad);
	return 0;
}

int cfg_parse_discover(struct ctx *x, const config_setting_t *e, const struct conn_type *ct,
                       const char *sh, struct cfg_connector *cc)
{
	const config_setting_t *list = config_setting_get_member(e, "discover");
	if (!list)
		return 0;
	int t = config_setting_type(list);
	if (t != CONFIG_TYPE_LIST)
		return cfg_fail(x, list, "%sdiscover must be a list of groups ( { target = ...; "
		                "... } ), got something else", sh);
	if (!ct->discover_options)
		return cfg_fail(x, list, "connector '%s': type '%s' cannot discover action items "
		                "(remove discover)", cc->name, ct->name);
	int n = config_setting_length(list);
	cc->discover = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*cc->discover));
	for (int i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(list, (unsigned)i);
		char *rsh = xasprintf("%sdiscover[%d].", sh, i);
		int rc;
		if (config_setting_type(el) != CONFIG_TYPE_GROUP)
			rc = cfg_fail(x, el, "element %d of '%sdiscover' must be a group { ... }",
			              i, sh);
		else
			rc = parse_rule(x, el, ct, rsh, cc, &cc->discover[cc->n_discover++]);
		free(rsh);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j + 1 < cc->n_discover; j++)
			if (strcmp(cc->discover[j].target, cc->discover[cc->n_discover - 1].target) == 0)
				return cfg_fail(x, el, "%sdiscover[%d]: target '%s' already has a rule "
				                "(line %d; expected at most one rule a target)", sh, i,
				                cc->discover[j].target, cc->discover[j].line);
	}
	return 0;
}

void cfg_discover_free(struct cfg_connector *cc)
{
	for (size_t i = 0; i < cc->n_discover; i++) {
		struct cfg_discover *d = &cc->discover[i];
		for (size_t j = 0; j < d->n_values; j++)
			free(d->values[j]);
		free(d->values);
		free(d->target);
		free(d->team);
	}
	free(cc->discover);
	cc->discover = NULL;
	cc->n_discover = 0;
}
