/* watch_text.c — the pure parts of watch.h: option JSON for the ledger
 * functions, the escalation comment, and the blocking `flags --once`. */
#include "watch.h"
#include "connector.h"
#include "db.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

const char watch_sql_flags[] =
	"SELECT r_kind, r_raised, r_cleared, r_open "
	"FROM closeloop_flags_compute($1::timestamptz, $2::jsonb, $3)";
const char watch_sql_arm[] =
	"SELECT closeloop_escalation_arm($1::timestamptz, $2::jsonb, $3)";
const char watch_sql_claim[] =
	"SELECT r_id, r_check, r_connector, r_target, r_remote_key, r_marker, r_rung, r_flag,"
	" r_recipient, r_login, r_platform, r_item, r_title, r_pm_ref, r_pm_title,"
	" r_due::text, r_days, r_remote_id, r_person::text, r_channel "
	"FROM closeloop_escalation_claim($1::timestamptz, $2, $3::int, $4::int)";

static char *json_take(struct json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

char *watch_flags_options_json(const struct cfg_watch *cw)
{
	struct json_object *o = json_object_new_object();
	struct json_object *off = json_object_new_array();
	for (size_t i = 0; i < cw->n_disable; i++)
		json_object_array_add(off, json_object_new_string(cw->disable[i]));
	json_object_object_add(o, "disable", off);
	json_object_object_add(o, "ownerless_grace_days", json_object_new_int(cw->ownerless_grace_days));
	json_object_object_add(o, "undated_grace_days", json_object_new_int(cw->undated_grace_days));
	json_object_object_add(o, "stale_days", json_object_new_int(cw->stale_days));
	json_object_object_add(o, "needs_decision_days", json_object_new_int(cw->needs_decision_days));
	json_object_object_add(o, "link_broken_errors", json_object_new_int(cw->link_broken_errors));
	json_object_object_add(o, "link_broken_refusals", json_object_new_int(cw->link_broken_refusals));
	json_object_object_add(o, "no_action_items_grace_days",
	                       json_object_new_int(cw->no_action_items_grace_days));
	json_object_object_add(o, "long_horizon_days", json_object_new_int(cw->long_horizon_days));
	return json_take(o);
}

/* "dests" of one rung: its chat and email destinations with the
 * platforms each serves (null = every one). */
static struct json_object *rung_dests(const struct cfg_rung *r, const struct cfg_watch *cw,
                                      const struct config *cfg)
{
	struct json_object *a = json_object_new_array();
	for (int k = 0; cfg && k < 2; k++) {
		bool on = k ? r->email : r->chat;
		char **names = k ? cw->email : cw->chat;
		size_t n = k ? cw->n_email : cw->n_chat;
		for (size_t i = 0; on && i < n; i++) {
			const struct cfg_destination *d = cfg_find_destination(cfg, names[i]);
			if (!d)
				continue; /* checked by cfg_check_watch_channels */
			struct json_object *o = json_object_new_object(), *pl = NULL;
			char *ch = xasprintf("%s:%s", k ? "email" : "chat", d->name);
			json_object_object_add(o, "channel", json_object_new_string(ch));
			free(ch);
			if (d->platforms) {
				pl = json_object_new_array();
				for (size_t j = 0; j < d->n_platforms; j++)
					json_object_array_add(pl, json_object_new_string(d->platforms[j]));
			}
			json_object_object_add(o, "platforms", pl);
			json_object_array_add(a, o);
		}
	}
	return a;
}

char *watch_rungs_json(const struct cfg_watch *cw, const struct config *cfg,
                       struct connector *const *conns, size_t n_conns)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; cw->escalation_enabled && i < cw->n_rungs; i++) {
		const struct cfg_rung *r = &cw->rungs[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(r->name));
		json_object_object_add(o, "flag", json_object_new_string(r->flag));
		json_object_object_add(o, "days", json_object_new_int(r->days));
		json_object_object_add(o, "notify", json_object_new_string(r->notify));
		if (!r->comment)
			json_object_object_add(o, "comment", json_object_new_boolean(false));
		if (conns) {
			struct json_object *cc = json_object_new_array();
			for (size_t j = 0; j < n_conns; j++)
				if (conns[j]->ops->comment && conns[j]->ops->find_comment)
					json_object_array_add(cc, json_object_new_string(conns[j]->name));
			json_object_object_add(o, "comment_connectors", cc);
		}
		struct json_object *dests = rung_dests(r, cw, cfg);
		if (json_object_array_length(dests))
			json_object_object_add(o, "dests", dests);
		else
			json_object_put(dests);
		json_object_array_add(a, o);
	}
	return json_take(a);
}

/* The labels options with the connector names in names (taken). */
static char *labels_options(const struct cfg_watch *cw, struct json_object *names)
{
	struct json_object *o = json_object_new_object();
	struct json_object *kinds = json_object_new_array();
	for (size_t i = 0; i < cw->n_labels; i++)
		json_object_array_add(kinds, json_object_new_string(cw->labels[i]));
	struct json_object *esc = json_object_new_array();
	for (size_t i = 0; cw->escalation_enabled && i < cw->n_rungs; i++)
		if (cw->rungs[i].label)
			json_object_array_add(esc, json_object_new_string(cw->rungs[i].name));
	json_object_object_add(o, "prefix", json_object_new_string("closeloop:"));
	json_object_object_add(o, "kinds", kinds);
	json_object_object_add(o, "escalated_rungs", esc);
	json_object_object_add(o, "connectors", names);
	return json_take(o);
}

char *watch_labels_options_json(const struct cfg_watch *cw, struct connector *const *conns,
                                size_t n_conns)
{
	struct json_object *names = json_object_new_array();
	for (size_t i = 0; i < n_conns; i++)
		if (conns[i]->ops->label)
			json_object_array_add(names, json_object_new_string(conns[i]->name));
	return labels_options(cw, names);
}

char *watch_labels_options_cfg(const struct config *cfg)
{
	struct json_object *names = json_object_new_array();
	for (size_t i = 0; i < cfg->n_connectors; i++) {
		const struct conn_type *t = conn_type_find(cfg->connectors[i].type);
		if (t && conn_type_labels(t))
			json_object_array_add(names, json_object_new_string(cfg->connectors[i].name));
	}
	return labels_options(&cfg->watch, names);
}

char *watch_person_mention(const struct conn_type *t, const char *person_json)
{
	struct json_object *o = person_json ? json_tokener_parse(person_json) : NULL, *v;
	const char *ident = NULL, *name = NULL;
	if (o && t && t->person_ident && json_object_object_get_ex(o, t->person_ident, &v) &&
	    json_object_is_type(v, json_type_string))
		ident = json_object_get_string(v);
	if (o && (json_object_object_get_ex(o, "display_name", &v) ||
	          json_object_object_get_ex(o, "handle", &v)) &&
	    json_object_is_type(v, json_type_string))
		name = json_object_get_string(v);
	char *m = conn_mention(t, ident, name);
	if (o)
		json_object_put(o);
	return m;
}

char *watch_person_field(const char *person_json, const char *key)
{
	struct json_object *o = person_json ? json_tokener_parse(person_json) : NULL, *v;
	char *out = NULL;
	if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		out = xstrdup(json_object_get_string(v));
	json_object_put(o);
	return out;
}

char *watch_esc_identity(const struct watch_esc *e)
{
	if (e->mention)
		return xstrdup(e->mention);
	return e->login && e->login[0] ? xasprintf("@%s", e->login) : NULL;
}

/* "@login (platform lead, kubernetes)" or what the directory lacks. */
static char *recipient_text(const struct watch_esc *e)
{
	char *id = watch_esc_identity(e);
	const char *pl = e->platform ? e->platform : "no platform";
	char *s;
	if (id)
		s = xasprintf("%s (platform lead, %s)", id, pl);
	else if (e->recipient)
		s = xasprintf("%s (platform lead, %s; the directory has no identity of theirs "
		              "in this tracker)", e->recipient, pl);
	else
		s = xasprintf("the platform lead of %s (none is named in the directory)", pl);
	free(id);
	return s;
}

char *watch_esc_message(const struct watch_esc *e)
{
	char *who = recipient_text(e);
	char *age;
	if (strcmp(e->flag, "overdue") == 0)
		age = xasprintf("was due on %s and is now %d day%s past its due date",
		                e->due ? e->due : "(no date)", e->days, e->days == 1 ? "" : "s");
	else
		age = xasprintf("has carried the `%s` flag for %d day%s", e->flag, e->days,
		                e->days == 1 ? "" : "s");
	char *msg = xasprintf(
		"**closeloop escalation (%s)** — cc %s\n"
		"\n"
		"This action item from postmortem **%s** (%s) %s.\n"
		"\n"
		"It needs a decision: keep it, with an owner and a due date the team can meet, "
		"or close it as not planned and say why (the risk is accepted, or the postmortem "
		"found a better fix). Either answer is fine; an open item nobody is working on is "
		"the one outcome to avoid.\n"
		"\n"
		"_Sent once for this rung by closeloop (escalation #%lld); the ledger keeps the "
		"history._\n"
		"<!-- closeloop:escalation %s -->",
		e->rung, who, e->pm_ref ? e->pm_ref : "?", e->pm_title ? e->pm_title : "untitled",
		age, e->id, e->marker);
	free(who);
	free(age);
	return msg;
}

int watch_flags_once(PGconn *c, const struct cfg_watch *cw, const char *now_text,
                     const char *by, FILE *out, char *err, size_t errlen)
{
	char *opts = watch_flags_options_json(cw);
	const char *params[3] = { now_text, opts, by };
	int rc = 0;
	PGresult *res = db_sync_exec(c, watch_sql_flags, 3, params, err, errlen);
	if (!res) {
		rc = -EIO;
		goto out;
	}
	fprintf(out, "%-18s %7s %8s %6s\n", "flag", "raised", "cleared", "open");
	for (int i = 0; i < PQntuples(res); i++)
		fprintf(out, "%-18s %7s %8s %6s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		        PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
	PQclear(res);
out:
	free(opts);
	return rc;
}

int watch_flags_print(PGconn *c, const char *item, FILE *out, char *err, size_t errlen)
{
	const char *params[1] = { item };
	PGresult *res = db_sync_exec(c,
		"SELECT coalesce(action_item_id::text, '-'), postmortem, kind,"
		" to_char(raised_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), raised_by,"
		" detail::text, coalesce(title, '') "
		"FROM v_item_flag_open WHERE $1::bigint IS NULL OR action_item_id = $1::bigint "
		"ORDER BY postmortem, action_item_id NULLS FIRST, kind", 1, params, err, errlen);
	if (!res)
		return -EIO;
	int n = PQntuples(res);
	if (n == 0)
		fprintf(out, "no open flags%s%s\n", item ? " on item " : "", item ? item : "");
	else
		fprintf(out, "%-7s %-14s %-17s %-17s %s\n", "item", "postmortem", "flag", "raised (UTC)",
		        "detail");
	for (int i = 0; i < n; i++)
		fprintf(out, "%-7s %-14s %-17s %-17s %s  %s (by %s)\n", PQgetvalue(res, i, 0),
		        PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		        PQgetvalue(res, i, 5), PQgetvalue(res, i, 6), PQgetvalue(res, i, 4));
	PQclear(res);
	return 0;
}

int watch_flags_what_if(PGconn *c, const struct cfg_watch *cw, const char *at_text,
                        const char *item, FILE *out, char *err, size_t errlen)
{
	static const char sql[] =
		"WITH w AS (SELECT c.*, c.kind || ':' || c.postmortem_id || ':' ||"
		"                   coalesce(c.action_item_id, 0) AS k"
		"             FROM closeloop_flags_current($1::timestamptz, $2::jsonb) c),"
		" f AS (SELECT o.*, o.kind || ':' || o.postmortem_id || ':' ||"
		"              coalesce(o.action_item_id, 0) AS k"
		"         FROM item_flag o WHERE o.cleared_at IS NULL) "
		"SELECT CASE WHEN f.k IS NULL THEN 'raise' WHEN w.k IS NULL THEN 'clear' ELSE 'open' END,"
		"       coalesce(coalesce(w.action_item_id, f.action_item_id)::text, '-'), pm.reference,"
		"       coalesce(w.kind, f.kind), coalesce(w.detail, f.detail)::text,"
		"       coalesce(ai.title, '') "
		"  FROM w FULL JOIN f ON f.k = w.k"
		"  JOIN postmortem pm ON pm.id = coalesce(w.postmortem_id, f.postmortem_id)"
		"  LEFT JOIN action_item ai ON ai.id = coalesce(w.action_item_id, f.action_item_id)"
		" WHERE $3::bigint IS NULL OR ai.id = $3::bigint"
		" ORDER BY 3, ai.id NULLS FIRST, 4";
	char *opts = watch_flags_options_json(cw);
	const char *params[3] = { at_text, opts, item };
	PGresult *res = db_sync_exec(c, sql, 3, params, err, errlen);
	free(opts);
	if (!res)
		return -EIO;
	int n = PQntuples(res), counts[3] = { 0, 0, 0 };
	for (int i = 0; i < n; i++)
		counts[PQgetvalue(res, i, 0)[0] == 'r' ? 0 : PQgetvalue(res, i, 0)[0] == 'o' ? 1 : 2]++;
	fprintf(out, "what if at %s (nothing written): %d raised, %d staying open, %d cleared\n",
	        at_text, counts[0], counts[1], counts[2]);
	if (n > 0)
		fprintf(out, "%-6s %-7s %-14s %-17s %s\n", "change", "item", "postmortem", "flag", "detail");
	for (int i = 0; i < n; i++)
		fprintf(out, "%-6s %-7s %-14s %-17s %s  %s\n", PQgetvalue(res, i, 0),
		        PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		        PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
	PQclear(res);
	return 0;
}

static const char *nz(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* Print the claimed rows of watch_sql_claim as the daemon would send them. */
static void print_claims(const struct config *cfg, const PGresult *r, bool verbose, FILE *out)
{
	for (int i = 0; i < PQntuples(r); i++) {
		const char *days = nz(r, i, 16), *channel = nz(r, i, 19);
		char *email = watch_person_field(nz(r, i, 18), "email");
		struct watch_esc e = {
			.rung = nz(r, i, 6), .flag = nz(r, i, 7), .recipient = nz(r, i, 8),
			.login = nz(r, i, 9), .platform = nz(r, i, 10), .title = nz(r, i, 12),
			.pm_ref = nz(r, i, 13), .pm_title = nz(r, i, 14), .due = nz(r, i, 15),
			.days = days ? (int)strtol(days, NULL, 10) : 0,
			.id = strtoll(PQgetvalue(r, i, 0), NULL, 10), .marker = nz(r, i, 5),
		};
		bool comment = channel && strncmp(channel, "comment:", 8) == 0;
		const struct cfg_connector *cc = comment ? cfg_find_connector(cfg, nz(r, i, 2)) : NULL;
		struct conn_options co = { .name = cc ? cc->name : NULL,
		                           .type_opts = cc ? cc->type_opts : NULL };
		/* the connector's own type (Jira Data Center: user names) */
		const struct conn_type *t = cc ? conn_type_variant(conn_type_find(cc->type), &co) : NULL;
		/* the tracker's own mention (GitHub's @login only on GitHub) */
		char *mention = t ? watch_person_mention(t, nz(r, i, 18)) : NULL;
		e.mention = mention;
		e.login = t ? NULL : e.login;
		char *who = comment ? watch_esc_identity(&e) : NULL;
		const char *to = who ? who : e.recipient ? e.recipient : "nobody in the directory";
		if (comment)
			fprintf(out, "would comment on %s (connector %s: %s %s) for item %s \"%s\": "
			        "rung %s -> %s\n", PQgetvalue(r, i, 4), PQgetvalue(r, i, 2),
			        cc ? cc->type : "not configured",
			        t && t->comment_noun ? t->comment_noun : "comment", PQgetvalue(r, i, 11),
			        e.title, e.rung, to);
		else if (channel && strncmp(channel, "email:", 6) == 0)
			fprintf(out, "would mail through destination %s (channel %s) for item %s \"%s\": "
			        "rung %s -> %s <%s> (one digest per person and run)\n", channel + 6, channel,
			        PQgetvalue(r, i, 11), e.title, e.rung, to,
			        email ? email : "no address in the directory: the destination's to");
		else
			fprintf(out, "would post to chat destination %s (channel %s) for item %s \"%s\": "
			        "rung %s -> %s (one digest per person and run)\n",
			        channel && strchr(channel, ':') ? strchr(channel, ':') + 1 : "?",
			        channel ? channel : "?", PQgetvalue(r, i, 11), e.title, e.rung, to);
		if (verbose && comment) {
			char *msg = watch_esc_message(&e);
			fprintf(out, "%s\n\n", msg);
			free(msg);
		}
		free(who);
		free(email);
		free(mention);
	}
}

/* The label writes of the run, in the dry run's transaction: every
 * claimed escalation taken as sent (so closeloop:escalated shows), then
 * closeloop_labels_plan; one line per label to put on or take off.
 * Returns their number or -EIO with err. */
static int dry_labels(PGconn *c, const struct config *cfg, const char *now_text, FILE *out,
                      char *err, size_t errlen)
{
	char *opts = watch_labels_options_cfg(cfg);
	const char *pn[1] = { now_text }, *pp[2] = { now_text, opts };
	int rc = -EIO;
	PGresult *r = db_sync_exec(c,
		"SELECT count(closeloop_escalation_done(id, 'sent', 'dry run', NULL, NULL,"
		" $1::timestamptz)) FROM escalation WHERE state = 'sending'", 1, pn, err, errlen);
	if (!r)
		goto out;
	PQclear(r);
	if (!(r = db_sync_exec(c, "SELECT closeloop_labels_plan($1::timestamptz, $2::jsonb)", 2, pp,
	                       err, errlen)))
		goto out;
	PQclear(r);
	/* what closeloop_labels_claim would take, without its per-run limit */
	if (!(r = db_sync_exec(c,
		"SELECT t.want, t.label, l.connector, coalesce(l.remote_key, l.target)"
		" FROM ticket_label t JOIN external_link l ON l.id = t.link_id"
		" WHERE t.want <> t.applied AND t.attempts < 5 AND l.state = 'linked'"
		" ORDER BY l.connector, 4, t.label", 0, NULL, err, errlen)))
		goto out;
	for (int i = 0; i < PQntuples(r); i++) {
		bool on = strcmp(PQgetvalue(r, i, 0), "t") == 0;
		fprintf(out, "would %s label %s %s %s (connector %s, through its paced write queue)\n",
		        on ? "put" : "take", PQgetvalue(r, i, 1), on ? "on" : "off",
		        PQgetvalue(r, i, 3), PQgetvalue(r, i, 2));
	}
	rc = PQntuples(r);
	PQclear(r);
out:
	free(opts);
	return rc;
}

int watch_escalate_dry_run(PGconn *c, const struct config *cfg, const char *now_text,
                           bool verbose, FILE *out, char *err, size_t errlen)
{
	const struct cfg_watch *cw = &cfg->watch;
	char *opts = watch_flags_options_json(cw), *rungs = watch_rungs_json(cw, cfg, NULL, 0);
	const char *by = "dry-run";
	const char *pf[3] = { now_text, opts, by }, *pa[3] = { now_text, rungs, by };
	const char *pc[4] = { now_text, by, "1000000", "0" };
	PGresult *r = NULL;
	int rc = -EIO;
	if (db_sync_command(c, "BEGIN", 0, NULL, err, errlen) < 0)
		goto out;
	if (!(r = db_sync_exec(c, watch_sql_flags, 3, pf, err, errlen)))
		goto rollback;
	PQclear(r);
	if (!(r = db_sync_exec(c, watch_sql_arm, 3, pa, err, errlen)))
		goto rollback;
	PQclear(r);
	if (!(r = db_sync_exec(c, watch_sql_claim, 4, pc, err, errlen)))
		goto rollback;
	print_claims(cfg, r, verbose, out);
	int n = PQntuples(r);
	PQclear(r);
	r = NULL;
	int labels = dry_labels(c, cfg, now_text, out, err, errlen);
	if (labels < 0)
		goto rollback;
	fprintf(out, "%d escalation(s) would be sent, %d ticket label(s) changed; nothing was "
	        "written\n", n, labels);
	rc = n;
rollback:;
	char rerr[256]; /* the first error, if any, stays in err */
	if (db_sync_command(c, "ROLLBACK", 0, NULL, rerr, sizeof(rerr)) < 0 && rc >= 0) {
		snprintf(err, errlen, "%s", rerr);
		rc = -EIO;
	}
out:
	free(opts);
	free(rungs);
	return rc;
}
