/* rec_discover.c — discovery: action items born in the tracker
 * (docs/architecture.md "Discovery", connectors/connector.h "discovery",
 * sql/033_discovery.sql).
 *
 * The connector marks every ticket it lists with whether it matches its
 * target's rule (conn_remote.discover).  After a page's links are read
 * (rec_pass.c on_page_rows) the page's discovery work is collected here:
 * matching tickets no link knows (to adopt), discovered tickets that left
 * the rule and that came back.  It costs one statement per page that has
 * any (closeloop_discover_page), none otherwise: a quiet cycle lists
 * nothing and so costs nothing more.
 *
 * Calls go down only: rec_pass.c / reconcile.c -> rec_discover.c ->
 * rec_op.c (target accounting) -> rec_sql.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "rec_link.h"

/* A statement of one page's discovery at most this large (bytes of its
 * JSON); a page of 100 tickets stays far below it. */
#define DISC_WORDS_MAX 300     /* words of a ticket looked up as postmortem names */
#define DISC_WORD_LEN 300      /* longer words are not references */

struct rec_disc {
	struct json_object *adopt;   /* array of tickets to adopt */
	const char **left, **back;   /* remote ids (borrowed from the page) */
	size_t n_left, n_back, cap;
	int64_t *pins;               /* updated_at of every ticket noted */
	size_t n_pins;
	struct rec_target *t;
};

/* ---- configuration ---- */

void rec_disc_configure(struct connector *c, const struct cfg_connector *cc)
{
	size_t n = cc ? cc->n_discover : 0;
	struct conn_discover *r = xcalloc(n + 1, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		r[i].target = cc->discover[i].target;
		r[i].values = cc->discover[i].values;
	}
	connector_set_discover(c, r, n);
	free(r);
}

const char *rec_disc_team(const struct cfg_connector *cc, const char *target)
{
	for (size_t i = 0; cc && i < cc->n_discover; i++)
		if (strcasecmp(cc->discover[i].target, target) == 0)
			return cc->discover[i].team;
	return NULL;
}

/* ---- the words a ticket is looked up by ---- */

static bool word_sep(char ch)
{
	return isspace((unsigned char)ch) || strchr("()[]<>{}\"'`,;|*", ch) != NULL;
}

/* Add the words of s (split at white space, brackets, quotes, commas;
 * trailing '.', ':', '!', '?' dropped) to the array a, at most
 * DISC_WORDS_MAX in all, each once. */
static void words_add(struct json_object *a, const char *s)
{
	for (size_t i = 0; s && s[i] && json_object_array_length(a) < DISC_WORDS_MAX;) {
		while (s[i] && word_sep(s[i]))
			i++;
		size_t b = i;
		while (s[i] && !word_sep(s[i]))
			i++;
		size_t l = i - b;
		while (l > 0 && strchr(".:!?", s[b + l - 1]))
			l--;
		if (l < 3 || l > DISC_WORD_LEN)
			continue;
		bool seen = false;
		for (size_t k = 0; k < json_object_array_length(a) && !seen; k++) {
			const char *w = json_object_get_string(json_object_array_get_idx(a, k));
			seen = strlen(w) == l && strncmp(w, s + b, l) == 0;
		}
		if (!seen)
			json_object_array_add(a, json_object_new_string_len(s + b, (int)l));
	}
}

/* ---- one page's work ---- */

struct rec_disc *rec_disc_new(struct rec_target *t)
{
	struct rec_disc *d = xcalloc(1, sizeof(*d));
	d->t = t;
	return d;
}

static void note_pin(struct rec_disc *d, const struct conn_remote *r)
{
	int64_t ms = 0;
	if (!r->updated_at || ts_parse(r->updated_at, &ms) < 0)
		return;
	d->pins = xrealloc(d->pins, (d->n_pins + 1) * sizeof(*d->pins));
	d->pins[d->n_pins++] = ms;
}

static void note_id(struct rec_disc *d, const char ***v, size_t *n, const char *id)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = id;
}

void rec_disc_note(struct rec_disc *d, const struct conn_remote *r, enum rec_match m,
                   bool linked_discovered, bool linked_left)
{
	const struct rec_link_ctx *lc = d->t->lc;
	if (r->discover == CONN_DISCOVER_NONE || !r->remote_id)
		return;
	if (m == REC_MATCH_PULL && linked_discovered) {
		if (r->discover == CONN_DISCOVER_NO_MATCH && !linked_left)
			note_id(d, &d->left, &d->n_left, r->remote_id);
		else if (r->discover == CONN_DISCOVER_MATCH && linked_left)
			note_id(d, &d->back, &d->n_back, r->remote_id);
		else
			return;
		note_pin(d, r);
		return;
	}
	/* a ticket carrying a create token is closeloop's own (or a copy of
	 * one): never adopted by discovery */
	if (m != REC_MATCH_NONE || r->token || r->discover != CONN_DISCOVER_MATCH)
		return;
	struct item_fields stub, canon;
	item_fields_init(&stub);
	item_fields_init(&canon);
	item_fields_set(&stub, ITEM_F_TYPE, "other");
	rec_canon_remote(lc->idmap, &r->fields, &stub, &canon);
	if (!canon.v[ITEM_F_STATE])
		item_fields_set(&canon, ITEM_F_STATE, "open");
	struct json_object *o = json_object_new_object();
	char *fj = rec_fields_json(&canon, ITEM_FIELDS_ALL);
	json_object_object_add(o, "remote_id", json_object_new_string(r->remote_id));
	json_object_object_add(o, "key", r->key ? json_object_new_string(r->key) : NULL);
	json_object_object_add(o, "url", r->url ? json_object_new_string(r->url) : NULL);
	json_object_object_add(o, "updated_at", r->updated_at ? json_object_new_string(r->updated_at) : NULL);
	json_object_object_add(o, "etag", r->etag ? json_object_new_string(r->etag) : NULL);
	json_object_object_add(o, "extra", r->extra ? json_tokener_parse(r->extra) : NULL);
	json_object_object_add(o, "fields", json_tokener_parse(fj));
	struct json_object *w = json_object_new_array();
	words_add(w, r->fields.v[ITEM_F_TITLE]);
	words_add(w, r->fields.v[ITEM_F_DESCRIPTION]);
	words_add(w, r->refs);
	json_object_object_add(o, "words", w);
	if (!d->adopt)
		d->adopt = json_object_new_array();
	json_object_array_add(d->adopt, o);
	note_pin(d, r);
	free(fj);
	item_fields_free(&stub);
	item_fields_free(&canon);
}

static void disc_free(struct rec_disc *d)
{
	if (d->adopt)
		json_object_put(d->adopt);
	free(d->left);
	free(d->back);
	free(d->pins);
	free(d);
}

/* Keep the cursor before every ticket noted: the next listing brings them
 * again (the statement failed). */
static void disc_pin(struct rec_disc *d)
{
	for (size_t i = 0; i < d->n_pins; i++)
		rec_target_pin(d->t, d->pins[i]);
}

static void report_row(struct rec_target *t, const PGresult *res, int r)
{
	const struct rec_engine_view *v = t->lc->view;
	const char *rid = PQgetvalue(res, r, 0), *out = PQgetvalue(res, r, 1);
	const char *item = PQgetisnull(res, r, 2) ? NULL : PQgetvalue(res, r, 2);
	const char *pm = PQgetisnull(res, r, 3) ? "?" : PQgetvalue(res, r, 3);
	const char *key = PQgetisnull(res, r, 4) ? rid : PQgetvalue(res, r, 4);
	const char *title = PQgetisnull(res, r, 5) ? "" : PQgetvalue(res, r, 5);
	if (v->dry_run) {
		FILE *f = v->plan_out ? v->plan_out : stdout;
		if (strcmp(out, "adopted") == 0)
			fprintf(f, "adopt   %s \"%s\" -> %s  (discovered)\n", key, title, pm);
		else if (strcmp(out, "left") == 0)
			fprintf(f, "flag    %s item %s: discovery_left (no longer matches the rule)\n",
			        key, item ? item : "?");
		else if (strcmp(out, "back") == 0)
			fprintf(f, "unflag  %s item %s: matches the discovery rule again\n", key,
			        item ? item : "?");
		return;
	}
	if (strcmp(out, "adopted") == 0) {
		t->discovered++;
		log_with(LOG_LVL_INFO, (&(struct log_ctx){ .connector = t->lc->name, .target = t->target,
		         .item = item ? strtoll(item, NULL, 10) : 0, .ticket = key }),
		         "discovered: adopted as an action item of %s", pm);
	} else if (strcmp(out, "left") == 0) {
		log_with(LOG_LVL_WARN, (&(struct log_ctx){ .connector = t->lc->name, .target = t->target,
		         .item = item ? strtoll(item, NULL, 10) : 0, .ticket = key }),
		         "no longer matches the discovery rule: the item stays, flagged discovery_left");
	} else if (strcmp(out, "referenced") == 0) {
		log_with(LOG_LVL_DEBUG, (&(struct log_ctx){ .connector = t->lc->name, .target = t->target,
		         .item = item ? strtoll(item, NULL, 10) : 0, .ticket = key }),
		         "discovered, and named by a postmortem's item: that item takes it");
	}
}

static void on_disc_rows(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_disc *d = arg;
	struct rec_target *t = d->t;
	UNUSED(db);
	if (err) {
		log_conn(LOG_LVL_ERROR, t->lc->name, "%s: discovery: %s (the tickets are listed "
		         "again next cycle)", t->target, err);
		t->errors++;
		disc_pin(d);
	} else {
		for (int r = 0; r < PQntuples(res); r++)
			report_row(t, res, r);
	}
	disc_free(d);
	rec_target_op_done(t);
}

void rec_disc_send(struct rec_disc *d, const char *team)
{
	struct rec_target *t = d->t;
	if (!d->adopt && d->n_left == 0 && d->n_back == 0) {
		disc_free(d);
		return;
	}
	const char *aj = d->adopt ? json_object_to_json_string_ext(d->adopt, JSON_C_TO_STRING_PLAIN)
	                          : "[]";
	char *left = db_text_array(d->left, d->n_left), *back = db_text_array(d->back, d->n_back);
	const char *p[] = { t->lc->name, t->target, team, aj, left, back, t->lc->source,
	                    t->lc->view->dry_run ? "true" : "false" };
	t->active++;
	if (rec_lc_query(t->lc, REC_SQL_DISCOVER, 8, p, on_disc_rows, d) < 0) {
		log_conn(LOG_LVL_ERROR, t->lc->name, "%s: discovery: no ledger session (the tickets "
		         "are listed again next cycle)", t->target);
		t->errors++;
		disc_pin(d);
		disc_free(d);
		rec_target_op_done(t);
	}
	free(left);
	free(back);
}
