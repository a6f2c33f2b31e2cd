/* cfg_watch.c — the `flags` and `escalation` option groups (config.h
 * struct cfg_watch).  Rows, defaults and ranges are in config.c's
 * cfg_options[] / cfg_ranges[] like every other option; this file reads
 * them and checks what relates several values: flag kinds named in
 * flags.disable and rungs.[].flag exist, rung names are unique. */
#include "config.h"
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cfg_flag_kinds[] = {
	"ownerless", "undated", "overdue", "stale", "needs_decision",
	"owner_inactive", "link_broken", "long_horizon",
	"no_action_items", "no_high_priority", "discovery_left",
};
const size_t cfg_n_flag_kinds = ARRAY_SIZE(cfg_flag_kinds);

#define KINDS_TEXT "ownerless, undated, overdue, stale, needs_decision, owner_inactive, " \
                   "link_broken, long_horizon, no_action_items, no_high_priority or discovery_left"

static bool kind_known(const char *k)
{
	for (size_t i = 0; i < cfg_n_flag_kinds; i++)
		if (strcmp(cfg_flag_kinds[i], k) == 0)
			return true;
	return false;
}

static int parse_disable(struct ctx *x, const config_setting_t *g, struct cfg_watch *w)
{
	const config_setting_t *l = g ? config_setting_get_member(g, "disable") : NULL;
	int n = l ? config_setting_length(l) : 0;
	if (n <= 0)
		return 0;
	w->disable = xcalloc((size_t)n, sizeof(*w->disable));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (!kind_known(v))
			return cfg_fail(x, e, "flags.disable: '%s' is not a flag (expected %s)",
			                v, KINDS_TEXT);
		w->disable[w->n_disable++] = xstrdup(v);
	}
	return 0;
}

/* flags.labels: item flag kinds, not the postmortem flags (a postmortem
 * has no ticket), and not "escalated": that label is an action of the
 * escalation rungs (rungs.[].channels "label").  "stale" is one: the tracker's update
 * that closeloop's own label write causes is not counted as activity
 * (sql/025_watch_own_writes.sql), so the label does not clear its flag. */
static int parse_labels(struct ctx *x, const config_setting_t *g, struct cfg_watch *w)
{
	const config_setting_t *l = g ? config_setting_get_member(g, "labels") : NULL;
	int n = l ? config_setting_length(l) : 0;
	if (n <= 0)
		return 0;
	w->labels = xcalloc((size_t)n, sizeof(*w->labels));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (v && strcmp(v, "escalated") == 0)
			return cfg_fail(x, e, "flags.labels: 'escalated' is an action of the escalation "
			                "rungs, not a flag (expected it in escalation.rungs.[].channels, "
			                "e.g. channels = [ \"comment\", \"label\", \"chat\", \"email\" ]; "
			                "remove it here)");
		if (!v || !(kind_known(v) && strcmp(v, "no_action_items") != 0 &&
		            strcmp(v, "no_high_priority") != 0))
			return cfg_fail(x, e, "flags.labels: '%s' cannot be a ticket label (expected "
			                "an item flag: ownerless, undated, overdue, stale, "
			                "needs_decision, owner_inactive, link_broken, long_horizon, "
			                "discovery_left; "
			                "no_action_items and no_high_priority concern a postmortem, "
			                "which has no ticket)", v ? v : "(not a string)");
		w->labels[w->n_labels++] = xstrdup(v);
	}
	return 0;
}

static int parse_flags(struct ctx *x, const config_setting_t *root, struct cfg_watch *w)
{
	static const struct { const char *name; size_t off; } ints[] = {
		{ "flags.interval", offsetof(struct cfg_watch, interval_s) },
		{ "flags.ownerless_grace_days", offsetof(struct cfg_watch, ownerless_grace_days) },
		{ "flags.undated_grace_days", offsetof(struct cfg_watch, undated_grace_days) },
		{ "flags.stale_days", offsetof(struct cfg_watch, stale_days) },
		{ "flags.needs_decision_days", offsetof(struct cfg_watch, needs_decision_days) },
		{ "flags.link_broken_errors", offsetof(struct cfg_watch, link_broken_errors) },
		{ "flags.link_broken_refusals", offsetof(struct cfg_watch, link_broken_refusals) },
		{ "flags.no_action_items_grace_days",
		  offsetof(struct cfg_watch, no_action_items_grace_days) },
		{ "flags.long_horizon_days", offsetof(struct cfg_watch, long_horizon_days) },
	};
	const config_setting_t *g = config_setting_get_member(root, "flags");
	for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
		int *dst = (int *)((char *)w + ints[i].off);
		int rc = cfg_get_int(x, g, ints[i].name, ints[i].name, dst);
		if (rc < 0)
			return rc;
	}
	int rc = parse_disable(x, g, w);
	return rc < 0 ? rc : parse_labels(x, g, w);
}

/* rungs.[].channels, the rung's actions: comment, label, chat, email
 * (default comment, chat and email; label only when named).  The label
 * marks a sent escalation, so a rung of "label" alone is refused. */
static int parse_channels(struct ctx *x, const config_setting_t *e, struct cfg_rung *r)
{
	const config_setting_t *l = config_setting_get_member(e, "channels");
	r->comment = r->chat = r->email = !l;
	r->label = false;
	for (int i = 0; l && i < config_setting_length(l); i++) {
		const config_setting_t *c = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_get_string(c);
		if (v && strcmp(v, "comment") == 0)
			r->comment = true;
		else if (v && strcmp(v, "label") == 0)
			r->label = true;
		else if (v && strcmp(v, "chat") == 0)
			r->chat = true;
		else if (v && strcmp(v, "email") == 0)
			r->email = true;
		else
			return cfg_fail(x, c, "escalation rung '%s': action '%s' is unknown (expected "
			                "comment, label, chat or email)", r->name, v ? v : "(not a string)");
	}
	if (r->label && !r->comment && !r->chat && !r->email)
		return cfg_fail(x, l, "escalation rung '%s': action 'label' alone sends nothing "
		                "(the closeloop:escalated label marks an escalation that was sent; "
		                "expected comment, chat or email with it)", r->name);
	return 0;
}

/* A list of strings into *out (NULL-free, copied). */
static void names(const config_setting_t *l, char ***out, size_t *n)
{
	int len = l ? config_setting_length(l) : 0;
	*out = xcalloc(len > 0 ? (size_t)len : 1, sizeof(**out));
	for (int i = 0; i < len; i++) {
		const char *v = config_setting_get_string(config_setting_get_elem(l, (unsigned)i));
		if (v)
			(*out)[(*n)++] = xstrdup(v);
	}
}

static int parse_rung(struct ctx *x, const config_setting_t *e, int idx, struct cfg_watch *w)
{
	struct cfg_rung *r = &w->rungs[w->n_rungs];
	char sh[160];
	int rc;
	r->line = config_setting_source_line(e);
	snprintf(sh, sizeof(sh), "escalation.rungs[%d].name", idx);
	if ((rc = cfg_get_string(x, e, "escalation.rungs.[].name", sh, &r->name)) < 0)
		return rc;
	w->n_rungs++; /* owned from here: freed with w */
	snprintf(sh, sizeof(sh), "escalation.rungs[%d] ('%s').flag", idx, r->name);
	if ((rc = cfg_get_string(x, e, "escalation.rungs.[].flag", sh, &r->flag)) < 0)
		return rc;
	snprintf(sh, sizeof(sh), "escalation.rungs[%d] ('%s').notify", idx, r->name);
	if ((rc = cfg_get_string(x, e, "escalation.rungs.[].notify", sh, &r->notify)) < 0)
		return rc;
	if ((rc = parse_channels(x, e, r)) < 0)
		return rc;
	if (!config_setting_get_member(e, "days"))
		return cfg_fail(x, e, "escalation rung '%s': missing required option 'days' "
		                "(expected e.g. days = 30; days past the due date for flag "
		                "\"overdue\", else days since the flag was raised)", r->name);
	snprintf(sh, sizeof(sh), "escalation.rungs[%d] ('%s').days", idx, r->name);
	if ((rc = cfg_get_int(x, e, "escalation.rungs.[].days", sh, &r->days)) < 0)
		return rc;
	if (!kind_known(r->flag))
		return cfg_fail(x, config_setting_get_member(e, "flag"), "escalation rung '%s': "
		                "flag '%s' is not a flag (expected %s)", r->name, r->flag, KINDS_TEXT);
	if (strcmp(r->flag, "no_action_items") == 0 ||
	    strcmp(r->flag, "no_high_priority") == 0)
		return cfg_fail(x, config_setting_get_member(e, "flag"), "escalation rung '%s': "
		                "'%s' is a postmortem flag; rungs escalate action items (expected "
		                "an item flag such as overdue or needs_decision)", r->name, r->flag);
	for (size_t i = 0; i + 1 < w->n_rungs; i++)
		if (strcmp(w->rungs[i].name, r->name) == 0)
			return cfg_fail(x, config_setting_get_member(e, "name"), "duplicate escalation "
			                "rung name '%s' (first defined at line %d; expected unique names)",
			                r->name, w->rungs[i].line);
	return 0;
}

static int parse_escalation(struct ctx *x, const config_setting_t *root, struct cfg_watch *w)
{
	const config_setting_t *g = config_setting_get_member(root, "escalation");
	const config_setting_t *en = g ? config_setting_get_member(g, "enabled") : NULL;
	const config_setting_t *l = g ? config_setting_get_member(g, "rungs") : NULL;
	w->escalation_enabled = en ? config_setting_get_bool(en) != 0 : true;
	names(g ? config_setting_get_member(g, "chat") : NULL, &w->chat, &w->n_chat);
	names(g ? config_setting_get_member(g, "email") : NULL, &w->email, &w->n_email);
	if (!l) {
		/* the default ladder: 30 days overdue -> the platform lead */
		w->rungs = xcalloc(1, sizeof(*w->rungs));
		w->rungs[0] = (struct cfg_rung){ .name = xstrdup("overdue-30"),
		                                 .flag = xstrdup("overdue"), .days = 30,
		                                 .notify = xstrdup("platform_lead"),
		                                 .comment = true, .chat = true, .email = true };
		w->n_rungs = 1;
		return 0;
	}
	int n = config_setting_length(l);
	w->rungs = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*w->rungs));
	for (int i = 0; i < n; i++) {
		int rc = parse_rung(x, config_setting_get_elem(l, (unsigned)i), i, w);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cfg_parse_watch(struct ctx *x, const config_setting_t *root, struct config *c)
{
	int rc = parse_flags(x, root, &c->watch);
	if (rc < 0)
		return rc;
	return parse_escalation(x, root, &c->watch);
}

int cfg_check_watch_channels(struct ctx *x, const config_setting_t *root, struct config *c)
{
	const config_setting_t *g = config_setting_get_member(root, "escalation");
	for (int k = 0; k < 2; k++) {
		const char *opt = k ? "email" : "chat";
		enum cfg_dest_type want = k ? CFG_DEST_SMTP : CFG_DEST_WEBHOOK;
		char **l = k ? c->watch.email : c->watch.chat;
		size_t n = k ? c->watch.n_email : c->watch.n_chat;
		const config_setting_t *s = g ? config_setting_get_member(g, opt) : NULL;
		for (size_t i = 0; i < n; i++) {
			const struct cfg_destination *d = cfg_find_destination(c, l[i]);
			if (!d || d->type != want)
				return cfg_fail(x, s, "escalation.%s: '%s' is %s (expected the name of a "
				                "destination of type %s)", opt, l[i],
				                d ? "not of that type" : "no destination",
				                cfg_dest_type_name(want));
		}
	}
	return 0;
}

void cfg_watch_free(struct cfg_watch *w)
{
	for (size_t i = 0; i < w->n_chat; i++)
		free(w->chat[i]);
	free(w->chat);
	for (size_t i = 0; i < w->n_email; i++)
		free(w->email[i]);
	free(w->email);
	for (size_t i = 0; i < w->n_disable; i++)
		free(w->disable[i]);
	free(w->disable);
	for (size_t i = 0; i < w->n_labels; i++)
		free(w->labels[i]);
	free(w->labels);
	for (size_t i = 0; i < w->n_rungs; i++) {
		free(w->rungs[i].name);
		free(w->rungs[i].flag);
		free(w->rungs[i].notify);
	}
	free(w->rungs);
	memset(w, 0, sizeof(*w));
}
