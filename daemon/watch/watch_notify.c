/* watch_notify.c — escalations by chat and mail (watch_internal.h): the
 * claimed rows whose channel is 'chat:<destination>' or
 * 'email:<destination>' (sql/015_watch_channels.sql), grouped per run into
 * one digest per (channel, recipient), sent through daemon/deliver/.
 *
 * Exactly once per rung and item, as far as a chat or mail can be: the
 * claim committed the rows as 'sending' before anything goes out; a
 * digest the receiver took is 'sent' for each of its rows; one it
 * certainly refused or never reached is 'failed' (the rows go into the
 * next run's digest); one whose answer was lost is 'unknown', and the
 * next claim abandons it rather than risk a second message (the message
 * is sent with deliver's at_most_once and an Idempotency-Key for the
 * receivers that honour one).
 *
 * The words are blameless, like the comment's (watch_text.c): the items,
 * their age and the decision needed, never a person's failure.
 */
#include "watch_internal.h"
#include "deliver.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define SLACK_ITEMS_MAX 45 /* Slack: at most 50 blocks a message */

struct notify_row {
	long long id;
	char *item, *title, *pm_ref, *pm_title, *due, *rung, *flag;
	int days;
};

struct notify_group {
	struct watch *w;
	char *channel, *recipient, *display, *email, *platform, *identity;
	struct notify_row *rows;
	size_t n;
};

/* One row's outcome being recorded. */
struct notify_done {
	struct watch *w;
	long long id;
};

static const char SQL_DONE[] =
	"SELECT closeloop_escalation_done($1::bigint, $2, $3, NULL, $4, NULL)";

static void group_free(struct notify_group *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct notify_row *r = &g->rows[i];
		free(r->item);
		free(r->title);
		free(r->pm_ref);
		free(r->pm_title);
		free(r->due);
		free(r->rung);
		free(r->flag);
	}
	free(g->rows);
	free(g->channel);
	free(g->recipient);
	free(g->display);
	free(g->email);
	free(g->platform);
	free(g->identity);
	free(g);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void watch_notify_add(struct watch *w, const PGresult *res, int r)
{
	const char *channel = watch_col(res, r, 19), *recipient = watch_col(res, r, 8);
	struct notify_group *g = NULL;
	for (size_t i = 0; i < w->n_groups && !g; i++)
		if (same(w->groups[i]->channel, channel) && same(w->groups[i]->recipient, recipient))
			g = w->groups[i];
	if (!g) {
		g = xcalloc(1, sizeof(*g));
		g->w = w;
		g->channel = dup_or_null(channel);
		g->recipient = dup_or_null(recipient);
		g->display = watch_person_field(watch_col(res, r, 18), "display_name");
		g->email = watch_person_field(watch_col(res, r, 18), "email");
		g->platform = dup_or_null(watch_col(res, r, 10));
		w->groups = xrealloc(w->groups, (w->n_groups + 1) * sizeof(*w->groups));
		w->groups[w->n_groups++] = g;
	}
	g->rows = xrealloc(g->rows, (g->n + 1) * sizeof(*g->rows));
	struct notify_row *row = &g->rows[g->n++];
	const char *days = watch_col(res, r, 16);
	*row = (struct notify_row){
		.id = strtoll(PQgetvalue(res, r, 0), NULL, 10),
		.item = dup_or_null(watch_col(res, r, 11)), .title = dup_or_null(watch_col(res, r, 12)),
		.pm_ref = dup_or_null(watch_col(res, r, 13)),
		.pm_title = dup_or_null(watch_col(res, r, 14)), .due = dup_or_null(watch_col(res, r, 15)),
		.rung = dup_or_null(watch_col(res, r, 6)), .flag = dup_or_null(watch_col(res, r, 7)),
		.days = days ? (int)strtol(days, NULL, 10) : 0,
	};
	w->sends++;
}

/* "R. F. (rf)", "rf", or the platform lead nobody names. */
static char *who(const struct notify_group *g)
{
	if (g->display && g->recipient)
		return xasprintf("%s (%s)", g->display, g->recipient);
	if (g->recipient)
		return xstrdup(g->recipient);
	return xasprintf("the platform lead of %s (none is named in the directory)",
	                 g->platform ? g->platform : "an unknown platform");
}

/* One line of the digest, Markdown-light (also fine as Slack mrkdwn). */
static char *row_line(const struct notify_row *r)
{
	char *age = strcmp(r->flag, "overdue") == 0 ?
		xasprintf("%d day%s past its due date (%s)", r->days, r->days == 1 ? "" : "s",
		          r->due ? r->due : "no date") :
		xasprintf("flagged %s for %d day%s", r->flag, r->days, r->days == 1 ? "" : "s");
	char *line = xasprintf("• %s (%s), item %s \"%s\": %s — rung %s", r->pm_ref ? r->pm_ref : "?",
	                       r->pm_title ? r->pm_title : "untitled", r->item ? r->item : "?",
	                       r->title ? r->title : "", age, r->rung);
	free(age);
	return line;
}

static const char INTRO[] =
	"These action items reached an escalation rung and need a decision: keep each one, "
	"with an owner and a due date the team can meet, or close it as not planned and say "
	"why (the risk is accepted, or the postmortem found a better fix). Either answer is "
	"fine; an open item nobody is working on is the one outcome to avoid.";

/* Subject, text and Slack blocks of g's digest (caller frees all three). */
static void digest(const struct notify_group *g, char **subject, char **text, char **blocks)
{
	char *name = who(g);
	*subject = xasprintf("closeloop: %zu action item%s escalated to %s%s%s%s", g->n,
	                     g->n == 1 ? "" : "s", name, g->platform ? " (platform " : "",
	                     g->platform ? g->platform : "", g->platform ? ")" : "");
	struct buf b = { 0 };
	struct json_object *bl = json_object_new_array(), *o, *t;
	bool ok = buf_appendf(&b, "*%s*\n\n%s\n\n", *subject, INTRO) == 0;
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("section"));
	t = json_object_new_object();
	json_object_object_add(t, "type", json_object_new_string("mrkdwn"));
	char *head = xasprintf("*%s*\n%s", *subject, INTRO);
	json_object_object_add(t, "text", json_object_new_string(head));
	free(head);
	json_object_object_add(o, "text", t);
	json_object_array_add(bl, o);
	for (size_t i = 0; i < g->n; i++) {
		char *line = row_line(&g->rows[i]);
		ok = ok && buf_appendf(&b, "%s\n", line) == 0;
		if (i < SLACK_ITEMS_MAX) {
			o = json_object_new_object();
			json_object_object_add(o, "type", json_object_new_string("section"));
			t = json_object_new_object();
			json_object_object_add(t, "type", json_object_new_string("mrkdwn"));
			json_object_object_add(t, "text", json_object_new_string(line));
			json_object_object_add(o, "text", t);
			json_object_array_add(bl, o);
		}
		free(line);
	}
	char *tail = xasprintf("Sent once per item and rung by closeloop; the ledger keeps the "
	                       "history (escalation #%lld%s).", g->rows[0].id,
	                       g->n > 1 ? " and the next ones" : "");
	ok = ok && buf_appendf(&b, "\n_%s_\n", tail) == 0;
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("context"));
	struct json_object *els = json_object_new_array();
	t = json_object_new_object();
	json_object_object_add(t, "type", json_object_new_string("mrkdwn"));
	char *more = g->n > SLACK_ITEMS_MAX ?
		xasprintf("%zu more in the text of this message. %s", g->n - SLACK_ITEMS_MAX, tail) :
		xstrdup(tail);
	json_object_object_add(t, "text", json_object_new_string(more));
	free(more);
	free(tail);
	json_object_array_add(els, t);
	json_object_object_add(o, "elements", els);
	json_object_array_add(bl, o);
	if (!ok)
		abort(); /* a digest of at most WATCH_CLAIM_MAX lines */
	*text = buf_steal(&b);
	*blocks = xstrdup(json_object_to_json_string_ext(bl, JSON_C_TO_STRING_PLAIN |
	                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(bl);
	free(name);
}

static void on_done(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	UNUSED(res);
	struct notify_done *d = arg;
	struct watch *w = d->w;
	if (err) {
		log_error("escalation %lld: outcome not recorded: %s", d->id, err);
		w->errors++;
	}
	free(d);
	watch_send_ended(w);
}

/* Record state ("sent", "failed", "unknown") for every row of g; frees g. */
static void group_record(struct notify_group *g, const char *state, const char *outcome)
{
	struct watch *w = g->w;
	bool sent = strcmp(state, "sent") == 0;
	if (sent)
		log_info("escalation digest of %zu item(s) through %s sent to %s", g->n, g->channel,
		         g->identity ? g->identity : "(nobody in the directory)");
	else
		log_warn("escalation digest of %zu item(s) through %s: %s (%s)", g->n, g->channel,
		         outcome, state);
	for (size_t i = 0; i < g->n; i++) {
		if (sent)
			w->stats.escalations_sent++;
		else if (strcmp(state, "failed") == 0)
			w->stats.escalations_failed++;
		else
			w->stats.escalations_unknown++;
		if (!sent)
			w->errors++;
		struct notify_done *d = xcalloc(1, sizeof(*d));
		d->w = w;
		d->id = g->rows[i].id;
		char id[24];
		snprintf(id, sizeof(id), "%lld", d->id);
		const char *p[4] = { id, state, outcome, g->identity };
		if (db_query(w->db, SQL_DONE, 4, p, on_done, d) < 0)
			on_done(w->db, NULL, "ledger connection is closing", d);
	}
	group_free(g);
}

static void on_delivered(const struct deliver_result *r, void *arg)
{
	struct notify_group *g = arg;
	char *outcome = xasprintf("%s after %d attempt(s): %s",
	                          r->outcome == DELIVER_SENT ? "delivered" : "not delivered",
	                          r->attempts, r->detail ? r->detail : "?");
	group_record(g, deliver_outcome_name(r->outcome), outcome);
	free(outcome);
}

/* Send g (owned from here). */
static void group_send(struct watch *w, struct notify_group *g)
{
	bool mail = strncmp(g->channel ? g->channel : "", "email:", 6) == 0;
	const char *dname = g->channel ? strchr(g->channel, ':') : NULL;
	const struct cfg_destination *dest = dname ? cfg_find_destination(w->cfg, dname + 1) : NULL;
	g->identity = mail && g->email ? xstrdup(g->email) : who(g);
	if (!dest || !w->dl) {
		char *m = xasprintf("destination '%s' is %s", dname ? dname + 1 : "?",
		                    dest ? "closed (stopping)" : "not configured");
		group_record(g, "failed", m);
		free(m);
		return;
	}
	char *subject, *text, *blocks;
	digest(g, &subject, &text, &blocks);
	char *id = xasprintf("closeloop-escalation-%lld-%zu", g->rows[0].id, g->n);
	const char *to[1] = { g->email };
	struct deliver_msg m = {
		.id = id, .kind = "escalation", .platform = g->platform, .subject = subject,
		.text = text, .blocks = blocks, .at_most_once = true,
		.to = mail && g->email ? to : NULL, .n_to = mail && g->email ? 1 : 0,
	};
	int rc = deliver_send(w->dl, dest, &m, on_delivered, g);
	if (rc < 0) {
		char *e = xasprintf("could not start the send: %s", strerror(-rc));
		group_record(g, "failed", e);
		free(e);
	}
	free(id);
	free(subject);
	free(text);
	free(blocks);
}

void watch_notify_flush(struct watch *w)
{
	struct notify_group **groups = w->groups;
	size_t n = w->n_groups;
	w->groups = NULL;
	w->n_groups = 0;
	for (size_t i = 0; i < n; i++)
		group_send(w, groups[i]);
	free(groups);
}
