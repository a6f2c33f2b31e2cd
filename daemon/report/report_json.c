/* report_json.c — the quarterly closure report as JSON.  The shape is
 * documented in docs/report.md ("JSON"); schema_version changes when a
 * key changes meaning or disappears (new keys may appear without it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "report.h"

static struct json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* A figure as a JSON number, in PostgreSQL's own digits (json-c's double
 * printing would turn 0.6000 into 0.59999999999999998), or null. */
static struct json_object *jnum(const char *v, enum report_kind kind)
{
	if (!v)
		return NULL;
	if (kind == RK_COUNT)
		return json_object_new_int64(strtoll(v, NULL, 10));
	return json_object_new_double_s(strtod(v, NULL), v);
}

static struct json_object *rows_json(const struct report_rows *rows)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < rows->n; i++) {
		const struct report_row *row = &rows->row[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "level", jstr(row->level));
		json_object_object_add(o, "platform", jstr(row->platform));
		json_object_object_add(o, "team", jstr(row->team));
		for (int m = 0; m < REPORT_N_METRICS; m++)
			json_object_object_add(o, report_metrics[m].column,
			                       jnum(row->v[m], report_metrics[m].kind));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *overdue_json(const struct report *r)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < r->n_overdue; i++) {
		const struct report_overdue *d = &r->overdue[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "platform", jstr(d->platform));
		json_object_object_add(o, "team", jstr(d->team));
		json_object_object_add(o, "action_item_id", json_object_new_int64(d->item_id));
		json_object_object_add(o, "postmortem", jstr(d->postmortem));
		json_object_object_add(o, "title", jstr(d->title));
		json_object_object_add(o, "owner", jstr(d->owner));
		json_object_object_add(o, "due_date", jstr(d->due_date));
		json_object_object_add(o, "days_overdue", json_object_new_int64(d->days_overdue));
		json_object_object_add(o, "ticket_key", jstr(d->ticket_key));
		json_object_object_add(o, "ticket_url", jstr(d->ticket_url));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *postmortems_json(const struct report *r)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < r->n_postmortems; i++) {
		const struct report_postmortem *p = &r->postmortems[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "platform", jstr(p->platform));
		json_object_object_add(o, "reference", jstr(p->reference));
		json_object_object_add(o, "title", jstr(p->title));
		json_object_object_add(o, "published_date", jstr(p->published_date));
		json_object_object_add(o, "action_items", json_object_new_int64(p->items));
		json_object_object_add(o, "action_items_closed", json_object_new_int64(p->items_closed));
		json_object_array_add(a, o);
	}
	return a;
}

/* "unattached": the "unattached" postmortems (report_unattached.c). */
static struct json_object *unattached_json(const struct report *r)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < r->n_unattached; i++) {
		const struct report_unattached *u = &r->unattached[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "platform", jstr(u->platform));
		json_object_object_add(o, "team", jstr(u->team));
		json_object_object_add(o, "postmortem", jstr(u->reference));
		json_object_object_add(o, "action_items", json_object_new_int64(u->items));
		json_object_object_add(o, "opened", json_object_new_int64(u->opened));
		json_object_object_add(o, "closed", json_object_new_int64(u->closed));
		json_object_object_add(o, "open_end", json_object_new_int64(u->open_end));
		json_object_object_add(o, "overdue_end", json_object_new_int64(u->overdue_end));
		json_object_array_add(a, o);
	}
	return a;
}

int report_write_json(const struct report *r, FILE *f)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "report", json_object_new_string("closeloop quarterly closure report"));
	json_object_object_add(o, "schema_version", json_object_new_int(1));
	json_object_object_add(o, "quarter", jstr(r->quarter));
	json_object_object_add(o, "first_day", jstr(r->first_day));
	json_object_object_add(o, "last_day", jstr(r->last_day));
	json_object_object_add(o, "complete", json_object_new_boolean(r->complete));
	json_object_object_add(o, "generated_at", jstr(r->generated_at));
	struct json_object *filter = json_object_new_object();
	json_object_object_add(filter, "platform", jstr(r->filter_platform));
	json_object_object_add(filter, "team", jstr(r->filter_team));
	json_object_object_add(o, "filter", filter);
	json_object_object_add(o, "escalations_recorded", json_object_new_boolean(!r->escalations_note));
	json_object_object_add(o, "escalations_note", jstr(r->escalations_note));
	json_object_object_add(o, "figures", rows_json(&r->trend[REPORT_TREND - 1]));
	struct json_object *trend = json_object_new_array();
	for (int q = 0; q < REPORT_TREND; q++) {
		struct json_object *t = json_object_new_object();
		json_object_object_add(t, "quarter", jstr(r->trend_quarter[q]));
		json_object_object_add(t, "figures", rows_json(&r->trend[q]));
		json_object_array_add(trend, t);
	}
	json_object_object_add(o, "trend", trend);
	json_object_object_add(o, "overdue", overdue_json(r));
	json_object_object_add(o, "postmortems", postmortems_json(r));
	json_object_object_add(o, "unattached", unattached_json(r));
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE), f);
	fputc('\n', f);
	json_object_put(o);
	return ferror(f) ? -EIO : 0;
}
