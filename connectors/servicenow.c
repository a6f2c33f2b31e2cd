/* servicenow.c — the ServiceNow connector: action items as Problem (or
 * Problem Task) records through the Table API.  See servicenow.h for the
 * ServiceNow facts used and docs/configuration.md for the options.
 *
 * Mapping (canonical field <- -> record field):
 *   title       short_description
 *   description description (plain text: lossy, sn_plain_text)
 *   state       state (+ resolution_code / close_code when closed): per
 *               table and state model in servicenow_state.c (a
 *               problem_task's state model is walked one PATCH a step)
 *   priority    impact/urgency through priority_map; a problem always has
 *               both, so no priority is written as P3's pair and reads
 *               back as P3 (lossy: sn_normalise, that round trip is no
 *               change)
 *   owner       assigned_to (a sys_user sys_id; person.servicenow_sys_id)
 *   due_date    due_date "yyyy-MM-dd 00:00:00" (UTC); read: its date
 *   token       correlation_id (correlation_display "closeloop")
 * The target is the assignment group's sys_id.
 */
#include "servicenow.h"
#include "servicenow_discover.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "url.h"

#define SN_FIELDS "sys_id,number,short_description,description,state,resolution_code,close_code," \
                  "impact,urgency,assigned_to,assignment_group,due_date,correlation_id," \
                  "sys_updated_on,sys_mod_count"
#define SN_DEFAULT_PRIO "P0=1/1,P1=1/2,P2=2/2,P3=3/3"

bool sn_sys_id_valid(const char *s)
{
	size_t n = 0;
	for (; s && s[n]; n++)
		if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
			return false;
	return n == 32;
}

/* A value that may stand in an encoded query: no "^" (the term
 * separator), no "=", "<", ">" or "@", nothing that is not printable. */
bool sn_query_value_safe(const char *v)
{
	if (!v || !*v)
		return false;
	for (const char *p = v; *p; p++)
		if (!isprint((unsigned char)*p) || strchr("^=<>@&", *p))
			return false;
	return true;
}

/* Percent-encode v for a URL query value (RFC 3986 unreserved kept). */
char *sn_url_encode(const char *v)
{
	struct buf b = { 0 };
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		int rc = isalnum(*p) || strchr("-._~", *p) ? buf_append(&b, p, 1) :
		         buf_appendf(&b, "%%%02X", *p);
		if (rc < 0)
			abort();
	}
	return b.data ? buf_steal(&b) : xstrdup("");
}

char *sn_plain_text(enum item_field f, const char *v)
{
	UNUSED(f);
	if (!v)
		return NULL;
	struct buf b = { 0 };
	bool line_start = true;
	for (const char *p = v; *p; p++) {
		if (line_start) {
			while (*p == '#')
				p++;
			if (p != v && p[-1] == '#' && *p == ' ')
				p++;
		}
		if (*p == '\0')
			break;
		line_start = *p == '\n';
		if (*p == '*' || *p == '`' || *p == '\r')
			continue;
		if (buf_append(&b, p, 1) < 0)
			abort();
	}
	char *s = str_trim(b.data ? buf_steal(&b) : xstrdup(""));
	if (!*s) {
		free(s);
		return NULL;
	}
	return s;
}

/* conn_type.normalise: the description as plain text (sn_plain_text); a
 * missing priority as the P3 it is written as (body_fields). */
static char *sn_normalise(enum item_field f, const char *v)
{
	if (f == ITEM_F_PRIORITY)
		return xstrdup(v ? v : "P3");
	return sn_plain_text(f, v);
}

int sn_parse_prio_map(const char *v, struct sn_prio out[4])
{
	bool seen[4] = { false };
	const char *p = v;
	while (p && *p) {
		if (p[0] != 'P' || p[1] < '0' || p[1] > '3' || p[2] != '=' ||
		    p[3] < '1' || p[3] > '3' || p[4] != '/' || p[5] < '1' || p[5] > '3' ||
		    (p[6] != ',' && p[6] != '\0'))
			return -EINVAL;
		int i = p[1] - '0';
		out[i].impact[0] = p[3];
		out[i].impact[1] = '\0';
		out[i].urgency[0] = p[5];
		out[i].urgency[1] = '\0';
		seen[i] = true;
		p += p[6] ? 7 : 6;
	}
	return seen[0] && seen[1] && seen[2] && seen[3] ? 0 : -EINVAL;
}

/* ---- record -> canonical ---- */

const char *sn_rec_str(struct json_object *rec, const char *k)
{
	struct json_object *v;
	if (!json_object_object_get_ex(rec, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	return s && *s ? s : NULL;
}

static const char *prio_from_record(const struct sn_conn *s, const char *impact,
                                    const char *urgency)
{
	static const char *const names[4] = { "P0", "P1", "P2", "P3" };
	for (int i = 0; i < 4; i++)
		if (str_eq(s->prio[i].impact, impact) && str_eq(s->prio[i].urgency, urgency))
			return names[i];
	return NULL;
}

int sn_record_to_remote(const struct sn_conn *s, struct json_object *rec, struct conn_remote *out)
{
	conn_remote_init(out);
	const char *id = sn_rec_str(rec, "sys_id"), *upd = sn_rec_str(rec, "sys_updated_on");
	int64_t ms;
	if (!json_object_is_type(rec, json_type_object) || !sn_sys_id_valid(id) || !upd ||
	    ts_parse(upd, &ms) < 0)
		return -EINVAL;
	char ts[40];
	ts_format(ms, ts, sizeof(ts));
	out->remote_id = xstrdup(id);
	out->key = xstrdup(sn_rec_str(rec, "number") ? sn_rec_str(rec, "number") : id);
	out->url = sn_record_url_browser(s, id);
	out->updated_at = xstrdup(ts);
	out->token = xstrdup(sn_rec_str(rec, "correlation_id"));
	struct item_fields *f = &out->fields;
	item_fields_set(f, ITEM_F_TITLE, sn_rec_str(rec, "short_description"));
	item_fields_set(f, ITEM_F_DESCRIPTION, sn_rec_str(rec, "description"));
	item_fields_set(f, ITEM_F_STATE, sn_state_from_record(s, rec));
	item_fields_set(f, ITEM_F_PRIORITY, prio_from_record(s, sn_rec_str(rec, "impact"),
	                                                     sn_rec_str(rec, "urgency")));
	item_fields_set(f, ITEM_F_OWNER, sn_rec_str(rec, "assigned_to"));
	const char *due = sn_rec_str(rec, "due_date");
	if (due && strlen(due) >= 10) {
		char d[11];
		memcpy(d, due, 10);
		d[10] = '\0';
		item_fields_set(f, ITEM_F_DUE_DATE, date_valid(d) ? d : NULL);
	}
	out->extra = xasprintf("{\"sys_mod_count\":\"%s\"}",
	                       sn_rec_str(rec, "sys_mod_count") ? sn_rec_str(rec, "sys_mod_count") : "0");
	return 0;
}

/* ---- canonical -> record ---- */

static void body_set(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

/* Fields of mask from want into o (state excluded: it goes alone). */
static void body_fields(const struct sn_conn *s, struct json_object *o,
                        const struct item_fields *want, unsigned mask)
{
	if (mask & ITEM_FIELD_BIT(ITEM_F_TITLE))
		body_set(o, "short_description", want->v[ITEM_F_TITLE]);
	if (mask & ITEM_FIELD_BIT(ITEM_F_DESCRIPTION)) {
		char *plain = sn_plain_text(ITEM_F_DESCRIPTION, want->v[ITEM_F_DESCRIPTION]);
		body_set(o, "description", plain);
		free(plain);
	}
	if (mask & ITEM_FIELD_BIT(ITEM_F_PRIORITY)) {
		const char *p = want->v[ITEM_F_PRIORITY];
		int i = p && p[0] == 'P' && p[1] >= '0' && p[1] <= '3' && !p[2] ? p[1] - '0' : 3;
		body_set(o, "impact", s->prio[i].impact);
		body_set(o, "urgency", s->prio[i].urgency);
	}
	if (mask & ITEM_FIELD_BIT(ITEM_F_OWNER))
		body_set(o, "assigned_to", sn_sys_id_valid(want->v[ITEM_F_OWNER]) ?
		         want->v[ITEM_F_OWNER] : NULL);
	if (mask & ITEM_FIELD_BIT(ITEM_F_DUE_DATE)) {
		const char *d = want->v[ITEM_F_DUE_DATE];
		char *v = date_valid(d) ? xasprintf("%s 00:00:00", d) : NULL;
		body_set(o, "due_date", v);
		free(v);
	}
}

char *sn_json_text(struct json_object *o)
{
	char *t = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return t;
}

char *sn_record_url_browser(const struct sn_conn *s, const char *sys_id)
{
	return xasprintf("%s/nav_to.do?uri=%s.do?sys_id=%s", s->base_url, s->table, sys_id);
}

struct sn_conn *sn_of(struct connector *c)
{
	return container_of(c, struct sn_conn, base);
}

char *sn_record_url(const struct sn_conn *s, const char *sys_id)
{
	return xasprintf("%s/api/now/table/%s/%s?sysparm_display_value=false"
	                 "&sysparm_exclude_reference_link=true&sysparm_fields=%s",
	                 s->base_url, s->table, sys_id, SN_FIELDS);
}

/* ---- operations ---- */

static int start(struct sn_req *r)
{
	int rc = sn_req_send(r);
	if (rc < 0)
		sn_req_discard(r);
	return rc;
}

char *sn_create_url(const struct sn_conn *s)
{
	return xasprintf("%s/api/now/table/%s?sysparm_display_value=false"
	                 "&sysparm_exclude_reference_link=true&sysparm_fields=%s",
	                 s->base_url, s->table, SN_FIELDS);
}

/* Is v a problem's number (a prefix of capitals, then digits: PRB0040001)
 * or sys_id?  The form sql/028 allows in postmortem.problem_ref. */
static bool problem_ref_valid(const char *v)
{
	size_t n = v ? strlen(v) : 0, caps = 0;
	if (sn_sys_id_valid(v))
		return true;
	while (caps < n && isupper((unsigned char)v[caps]))
		caps++;
	size_t digits = 0;
	while (caps + digits < n && isdigit((unsigned char)v[caps + digits]))
		digits++;
	return caps >= 1 && digits >= 4 && caps + digits == n;
}

/* A problem_task is created under its postmortem's problem: first a read
 * of that problem (number or sys_id) on the problem table, then the POST
 * with problem = its sys_id (parent_answer).  A postmortem that names no
 * problem, or names one the instance does not show, fails the create with
 * a per-item error (CONN_ERROR: not the tracker refusing our values, so it
 * never counts toward a broken link). */
static int create_task(struct sn_conn *s, struct sn_req *r, const struct conn_item_context *ctx)
{
	const char *ref = ctx->postmortem_problem;
	r->pm_ref = xstrdup(ctx->postmortem_ref ? ctx->postmortem_ref : "(no reference)");
	if (!ref || !problem_ref_valid(ref)) {
		char *msg = xasprintf("postmortem %s names no ServiceNow problem%s%s%s: a problem_task "
		                      "needs its problem; set postmortem.problem_ref to the "
		                      "problem's number (PRB...) or sys_id, or add \"problem: "
		                      "PRB...\" to the postmortem's front matter", r->pm_ref,
		                      ref ? " (\"" : "", ref ? ref : "", ref ? "\" is neither)" : "");
		sn_req_fail_soon(r, msg);
		free(msg);
		return 0;
	}
	r->parent_ref = xstrdup(ref);
	free(r->url);
	r->url = xasprintf("%s/api/now/table/problem?sysparm_query=%s%%3D%s"
	                   "&sysparm_fields=sys_id%%2Cnumber&sysparm_limit=2"
	                   "&sysparm_display_value=false", s->base_url,
	                   sn_sys_id_valid(ref) ? "sys_id" : "number", ref);
	return start(r);
}

static int sn_create(struct connector *c, const char *target, const struct item_fields *want,
                     const struct conn_item_context *ctx, conn_item_cb cb, void *arg)
{
	struct sn_conn *s = sn_of(c);
	if (s->destroyed || !sn_sys_id_valid(target) || !ctx || !sn_query_value_safe(ctx->token))
		return -EINVAL;
	struct json_object *o = json_object_new_object();
	body_fields(s, o, want, ITEM_FIELDS_ALL);
	sn_body_state(s, o, want->v[ITEM_F_STATE], true);
	body_set(o, "assignment_group", target);
	body_set(o, "correlation_id", ctx->token);
	body_set(o, "correlation_display", "closeloop");
	bool task = str_eq(s->table, "problem_task");
	struct sn_req *r = sn_req_new(s, task ? SN_PARENT : SN_CREATE, task ? "GET" : "POST",
	                              sn_create_url(s), sn_json_text(o), target, arg);
	r->item_cb = cb;
	r->want_owner = xstrdup(want->v[ITEM_F_OWNER]);
	if (task && !s->legacy_states) /* created New, then walked (sn_walk) */
		r->want_state = xstrdup(want->v[ITEM_F_STATE] ? want->v[ITEM_F_STATE] : "open");
	return task ? create_task(s, r, ctx) : start(r);
}

/* conn_ops.created_as: a problem is created in the state the POST sends
 * (sn_body_state); a problem_task of the current state model is created
 * New and walked on, one PATCH a step (sn_walk).  No priority is written
 * as P3's pair, which reads back as the P3 it normalises to. */
static unsigned sn_created_as(const struct connector *c, struct item_fields *f)
{
	const struct sn_conn *s = container_of(c, const struct sn_conn, base);
	if (sn_is_task(s) && !s->legacy_states)
		item_fields_set(f, ITEM_F_STATE, "open");
	return 0;
}

/* An update is one or two PATCHes: the fields other than state, then the
 * state (with resolution_code), which newer releases may refuse through
 * the Table API while the first PATCH stands (a partial write).  A
 * problem_task (current state model) walks its state instead: the fields
 * PATCH, or a read of the record, then one PATCH per step (sn_walk). */
static int sn_update(struct connector *c, const char *target, const struct conn_remote *ref,
                     const struct item_fields *want, unsigned mask,
                     const struct conn_item_context *ctx, conn_item_cb cb, void *arg)
{
	UNUSED(ctx);
	struct sn_conn *s = sn_of(c);
	if (s->destroyed || !ref || !sn_sys_id_valid(ref->remote_id))
		return -EINVAL;
	bool walk = sn_is_task(s) && !s->legacy_states && (mask & ITEM_FIELD_BIT(ITEM_F_STATE));
	struct json_object *o = json_object_new_object();
	body_fields(s, o, want, mask);
	char *state_body = NULL;
	if ((mask & ITEM_FIELD_BIT(ITEM_F_STATE)) && !walk) {
		struct json_object *so = json_object_new_object();
		sn_body_state(s, so, want->v[ITEM_F_STATE], false);
		state_body = sn_json_text(so);
	}
	bool fields = json_object_object_length(o) > 0;
	char *body = sn_json_text(o);
	enum sn_kind kind = SN_UPDATE;
	if (!fields && state_body) { /* state alone: one PATCH */
		free(body);
		body = state_body;
		state_body = NULL;
		kind = SN_UPDATE_STATE;
	} else if (!fields && walk) { /* state alone: read where the task is */
		free(body);
		body = NULL;
		kind = SN_FETCH;
	}
	struct sn_req *r = sn_req_new(s, kind, kind == SN_FETCH ? "GET" : "PATCH",
	                              sn_record_url(s, ref->remote_id), body, target, arg);
	r->item_cb = cb;
	r->sys_id = xstrdup(ref->remote_id);
	r->state_body = state_body;
	if (walk)
		r->want_state = xstrdup(want->v[ITEM_F_STATE] ? want->v[ITEM_F_STATE] : "open");
	if (mask & ITEM_FIELD_BIT(ITEM_F_OWNER))
		r->want_owner = xstrdup(want->v[ITEM_F_OWNER]);
	return start(r);
}

/* GET of the records matching query (terms joined with "^"; every field
 * name in it is one this connector maps, every value checked by the
 * caller), limit rows from offset. */
static char *table_query_url(const struct sn_conn *s, const char *table, const char *query,
                             const char *fields, long limit, long offset)
{
	char *q = sn_url_encode(query);
	char *u = xasprintf("%s/api/now/table/%s?sysparm_query=%s&sysparm_fields=%s"
	                    "&sysparm_limit=%ld&sysparm_offset=%ld&sysparm_display_value=false"
	                    "&sysparm_exclude_reference_link=true",
	                    s->base_url, table, q, fields, limit, offset);
	free(q);
	return u;
}

static char *query_url_fields(const struct sn_conn *s, const char *query, const char *fields,
                              long limit, long offset)
{
	return table_query_url(s, s->table, query, fields, limit, offset);
}

char *sn_related_url(const struct sn_req *r)
{
	char **ids = xcalloc(r->held_n ? r->held_n : 1, sizeof(*ids));
	size_t n = 0;
	for (size_t i = 0; i < r->held_n; i++)
		if (r->held_pending[i] && sn_sys_id_valid(r->held[i].remote_id))
			ids[n++] = r->held[i].remote_id;
	char *q = sn_related_query(ids, n);
	free(ids);
	char *u = table_query_url(r->s, "incident", q, "problem_id,number", r->s->page_size,
	                          r->rel_offset);
	free(q);
	return u;
}

static char *query_url(const struct sn_conn *s, const char *query, long limit, long offset)
{
	return query_url_fields(s, query, SN_FIELDS, limit, offset);
}

/* A record by its sys_id (ref->remote_id, or ref->key when that is one:
 * a record URL named in a postmortem), else by its number (ref->key,
 * PRB0040002: a number named in a postmortem, not yet adopted), through
 * GET /api/now/table/{table}?sysparm_query=number=... (ServiceNow REST
 * API reference, "Table API", GET /now/table/{tableName} with
 * sysparm_query: the matching records, an empty result when none;
 * servicenow.com/docs/r/yokohama/api-reference/rest-apis/c_TableAPI.html).
 * No record (an empty result or a 404) is CONN_GONE saying so
 * (number_answer). */
static int sn_fetch(struct connector *c, const char *target, const struct conn_remote *ref,
                    conn_item_cb cb, void *arg)
{
	struct sn_conn *s = sn_of(c);
	const char *id = ref && sn_sys_id_valid(ref->remote_id) ? ref->remote_id :
	                 ref && sn_sys_id_valid(ref->key) ? ref->key : NULL;
	if (s->destroyed || !ref || (!id && (!problem_ref_valid(ref->key))))
		return -EINVAL;
	if (id) {
		struct sn_req *r = sn_req_new(s, SN_FETCH, "GET", sn_record_url(s, id), NULL, target,
		                              arg);
		r->item_cb = cb;
		return start(r);
	}
	char *q = xasprintf("number=%s", ref->key);
	struct sn_req *r = sn_req_new(s, SN_FETCH_NUMBER, "GET", query_url(s, q, 2, 0), NULL,
	                              target, arg);
	free(q);
	r->item_cb = cb;
	r->parent_ref = xstrdup(ref->key);
	return start(r);
}

char *sn_list_url(struct sn_req *r)
{
	char ts[24];
	time_t t = (time_t)(r->since_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		abort();
	char *q = xasprintf("assignment_group=%s^sys_updated_on>=%s^ORDERBYsys_updated_on"
	                    "^ORDERBYsys_id", r->target, ts);
	/* with a discovery rule the same page carries the fields it reads */
	r->discover_fields = conn_discover_rule(&r->s->base, r->target) != NULL;
	char *u = query_url_fields(r->s, q, r->discover_fields ? SN_FIELDS "," SN_DISCOVER_FIELDS :
	                           SN_FIELDS, r->s->page_size, r->offset);
	free(q);
	return u;
}

static int sn_list_changed(struct connector *c, const char *target, int64_t since_ms,
                           const char *etag, conn_list_cb cb, void *arg)
{
	struct sn_conn *s = sn_of(c);
	if (s->destroyed || !sn_sys_id_valid(target) || since_ms < 0)
		return -EINVAL;
	struct sn_req *r = sn_req_new(s, SN_LIST, "GET", NULL, NULL, target, arg);
	r->list_cb = cb;
	r->etag = etag ? xstrdup(etag) : NULL;
	r->since_ms = since_ms - since_ms % 1000; /* the query has whole seconds */
	r->url = sn_list_url(r);
	return start(r);
}

static int sn_find_by_token(struct connector *c, const char *target, const char *token,
                            conn_item_cb cb, void *arg)
{
	struct sn_conn *s = sn_of(c);
	if (s->destroyed || !sn_sys_id_valid(target) || !sn_query_value_safe(token))
		return -EINVAL;
	char *q = xasprintf("correlation_id=%s^assignment_group=%s", token, target);
	struct sn_req *r = sn_req_new(s, SN_FIND, "GET", query_url(s, q, 2, 0), NULL, target, arg);
	free(q);
	r->item_cb = cb;
	r->token = xstrdup(token);
	return start(r);
}

static void sn_cancel(struct connector *c)
{
	sn_cancel_all(sn_of(c));
}

static void pace_closed(struct pace *p)
{
	struct sn_conn *s = container_of(p, struct sn_conn, pace);
	free(s->base_url);
	free(s->auth_header);
	sn_oauth_free(&s->oauth);
	free(s->journal);
	free(s->ca_file);
	free(s->table);
	free(s->base.ref_host);
	free(s->base.name);
	free(s);
}

static void sn_destroy(struct connector *c)
{
	struct sn_conn *s = sn_of(c);
	if (s->destroyed)
		return;
	s->destroyed = true;
	sn_cancel_all(s);
	sn_auth_cancel(s);
	pace_close(&s->pace, pace_closed);
}

static const struct conn_ops sn_ops = {
	.type = "servicenow",
	.list_changed = sn_list_changed,
	.create = sn_create,
	.update = sn_update,
	.fetch = sn_fetch,
	.find_by_token = sn_find_by_token,
	.created_as = sn_created_as,
	.comment = sn_comment,
	.find_comment = sn_find_comment,
	.webhook = sn_webhook,
	.cancel = sn_cancel,
	.destroy = sn_destroy,
};

/* ---- construction and the registry row ---- */

static const char *sn_check_table(const char *v)
{
	return str_eq(v, "problem") || str_eq(v, "problem_task") ? NULL :
	       "\"problem\" or \"problem_task\"";
}

static const char *sn_check_state_model(const char *v)
{
	return str_eq(v, "current") || str_eq(v, "legacy") ? NULL :
	       "\"current\" (states 101-107) or \"legacy\" (states 1-4)";
}

static const char *sn_check_prio(const char *v)
{
	struct sn_prio p[4];
	return sn_parse_prio_map(v, p) == 0 ? NULL :
	       "impact/urgency (1-3) for each of P0-P3, e.g. \"" SN_DEFAULT_PRIO "\"";
}

static const char *sn_check_auth(const char *v)
{
	return str_eq(v, "basic") || str_eq(v, "oauth") ? NULL :
	       "\"basic\" (the secret is user:password) or \"oauth\" (the secret is "
	       "client_id=..&client_secret=..[&refresh_token=..|&username=..&password=..])";
}

static const char *sn_check_journal(const char *v)
{
	return str_eq(v, "work_notes") || str_eq(v, "comments") ? NULL :
	       "\"work_notes\" (internal) or \"comments\" (additional comments, seen by the "
	       "caller)";
}

static const struct conn_option sn_options[] = {
	{ "table", "string", "problem", false, 0, 0, NULL, sn_check_table },
	{ "state_model", "string", "current", false, 0, 0, NULL, sn_check_state_model },
	{ "priority_map", "string", SN_DEFAULT_PRIO, true, 0, 0, NULL, sn_check_prio },
	{ "page_size", "int", "100", true, 1, 10000, "records", NULL },
	{ "write_spacing_ms", "int", "200", true, 0, 60000, "milliseconds", NULL },
	{ "auth", "string", "basic", false, 0, 0, NULL, sn_check_auth },
	{ "journal_field", "string", "work_notes", true, 0, 0, NULL, sn_check_journal },
};

/* a rule of connectors.[].discover (servicenow_discover.h) */
static const struct conn_option sn_discover_options[] = {
	{ "reported_by_incident", "bool", "false", true, 0, 0, NULL, NULL },
	{ "category", "string", "(any)", true, 0, 0, NULL, sn_check_category },
	{ "related_incident", "bool", "false", true, 0, 0, NULL, NULL },
};

static long long sn_opt_int(const struct conn_options *opt, const char *name, long long def)
{
	const char *v = conn_opt(&servicenow_conn_type, opt, name);
	char *end = NULL;
	long long n = v ? strtoll(v, &end, 10) : def;
	return v && (end == v || *end) ? def : n;
}

/* opt->token is "user:password" (auth = basic) or the OAuth client's
 * credentials (auth = oauth; servicenow_auth.c says the form). */
static int servicenow_connector_new(struct connector **out, uv_loop_t *loop,
                                    struct http_client *http, const struct conn_options *opt)
{
	*out = NULL;
	struct sn_prio prio[4];
	const char *pm = conn_opt(&servicenow_conn_type, opt, "priority_map");
	bool oauth = str_eq(conn_opt(&servicenow_conn_type, opt, "auth"), "oauth");
	if (!loop || !http || !opt || !opt->base_url || url_http_problem(opt->base_url) || !opt->token ||
	    (!oauth && !strchr(opt->token, ':')) ||
	    sn_parse_prio_map(pm ? pm : SN_DEFAULT_PRIO, prio) < 0)
		return -EINVAL;
	struct sn_conn *s = xcalloc(1, sizeof(*s));
	LIST_INIT(&s->oauth.waiting);
	if (oauth && sn_oauth_init(&s->oauth, opt->token) < 0) {
		sn_oauth_free(&s->oauth);
		free(s);
		return -EINVAL;
	}
	LIST_INIT(&s->reqs);
	s->base.ops = &sn_ops;
	s->base.type = &servicenow_conn_type;
	s->base.name = xstrdup(opt->name ? opt->name : "servicenow");
	s->base.loop = loop;
	s->base.http = http;
	s->base.list_settle_ms = 1000; /* sys_updated_on has whole seconds */
	s->base_url = xstrdup(opt->base_url);
	size_t n = strlen(s->base_url);
	while (n > 0 && s->base_url[n - 1] == '/')
		s->base_url[--n] = '\0';
	log_add_secret(opt->token);
	if (!oauth) {
		s->auth_header = conn_basic_auth_header(opt->token);
		log_add_secret(s->auth_header + strlen("Authorization: Basic "));
	}
	const char *journal = conn_opt(&servicenow_conn_type, opt, "journal_field");
	s->journal = xstrdup(journal ? journal : "work_notes");
	const char *table = conn_opt(&servicenow_conn_type, opt, "table");
	s->table = xstrdup(table ? table : "problem");
	s->base.ref_table = s->table;
	/* what a record URL named in a postmortem must name for this
	 * connector to adopt it: "host[:port]", lower case (url.h) */
	s->base.ref_host = url_authority(s->base_url);
	s->legacy_states = str_eq(conn_opt(&servicenow_conn_type, opt, "state_model"), "legacy");
	memcpy(s->prio, prio, sizeof(prio));
	s->page_size = (long)sn_opt_int(opt, "page_size", 100);
	s->max_attempts = opt->max_attempts >= 1 ? opt->max_attempts : 1;
	s->backoff_base_ms = opt->backoff_base_ms > 0 ? opt->backoff_base_ms : 500;
	s->backoff_max_ms = opt->backoff_max_ms >= s->backoff_base_ms ? opt->backoff_max_ms :
	                    s->backoff_base_ms;
	s->timeout_ms = opt->request_timeout_ms > 0 ? opt->request_timeout_ms : 0;
	s->ca_file = xstrdup(opt->ca_file);
	struct pace_config pc = { .spacing_ms = sn_opt_int(opt, "write_spacing_ms", 200) };
	if (pace_init(&s->pace, loop, &pc) < 0)
		abort(); /* uv_timer_init only fails on a dead loop */
	s->base.pace = &s->pace;
	s->base.rate_limit = s->base.rate_remaining = -1;
	s->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)s;
	if (!s->rng)
		s->rng = 0x9e3779b97f4a7c15ull;
	*out = &s->base;
	return 0;
}

static const char *sn_target_check(const char *target)
{
	return sn_sys_id_valid(target) ? NULL :
	       "an assignment group sys_id (32 lower-case hex digits; a group name is not "
	       "unique, so closeloop does not accept one)";
}

const struct conn_type servicenow_conn_type = {
	.name = "servicenow",
	.create = servicenow_connector_new,
	.options = sn_options,
	.n_options = ARRAY_SIZE(sn_options),
	.target_check = sn_target_check,
	.person_ident = "servicenow_sys_id",
	/* no type field on a problem: closeloop keeps the type in the ledger */
	.caps = {
		[ITEM_F_TITLE] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE,
		[ITEM_F_DESCRIPTION] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE | CONN_CAP_LOSSY,
		[ITEM_F_STATE] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE,
		[ITEM_F_PRIORITY] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE | CONN_CAP_LOSSY,
		[ITEM_F_OWNER] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE,
		[ITEM_F_DUE_DATE] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE,
	},
	.normalise = sn_normalise,
	.mention = sn_mention,
	.comment_noun = "work note",
	.discover_options = sn_discover_options,
	.n_discover_options = ARRAY_SIZE(sn_discover_options),
	.discover_check = sn_discover_check,
	.ops = &sn_ops,
};
