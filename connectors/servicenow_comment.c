/* servicenow_comment.c — journal entries (work notes or additional
 * comments) for the ServiceNow connector: the connector.h comment and
 * find_comment operations, used by the escalation ladder (daemon/watch/).
 *
 * ServiceNow facts (Table API; "Journal field type"; checked December 2026):
 *   - work_notes and comments are journal fields: a PATCH of the record
 *     with {"work_notes": "text"} appends one entry to the Journal Entries
 *     table sys_journal_field (sys_id, element_id = the record's sys_id,
 *     name = the table, element = the field, value, sys_created_on); the
 *     answer is the record, which does not name the new entry;
 *   - a journal value is plain text (Markdown is shown as typed; only text
 *     inside [code]...[/code] is rendered as HTML);
 *   - GET /api/now/table/sys_journal_field with sysparm_query lists entries;
 *     reading it needs a role the instance grants through an ACL
 *     (docs/configuration.md says which);
 *   - a mention is stored as "@[<sys_user sys_id>:<name>]" in the entry
 *     (the instance creates the live_mention record and notifies from it).
 * A journal PATCH appends, so unlike the record PATCHes it is not
 * idempotent: after a 5xx or a time-out its outcome is CONN_UNKNOWN, and
 * the caller looks for its marker with find_comment before writing again.
 */
#include "servicenow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SN_JOURNAL_FIELDS "sys_id,element_id,element,value,sys_created_on"

char *sn_mention(const char *sys_id, const char *name)
{
	return xasprintf("@[%s:%s]", sys_id, name && *name ? name : sys_id);
}

char *sn_journal_text(const char *markdown)
{
	struct buf b = { 0 };
	const char *p = markdown;
	while (p && *p) {
		const char *open = strstr(p, "<!--"), *close = open ? strstr(open + 4, "-->") : NULL;
		if (!close) {
			if (buf_append(&b, p, strlen(p)) < 0)
				abort();
			break;
		}
		const char *in = open + 4, *end = close;
		while (in < end && *in == ' ')
			in++;
		while (end > in && end[-1] == ' ')
			end--;
		if (buf_append(&b, p, (size_t)(open - p)) < 0 ||
		    buf_appendf(&b, "[%.*s]", (int)(end - in), in) < 0)
			abort();
		p = close + 3;
	}
	char *joined = b.data ? buf_steal(&b) : xstrdup("");
	char *plain = sn_plain_text(ITEM_F_DESCRIPTION, joined);
	free(joined);
	return plain;
}

/* The journal entries of r->sys_id holding r->marker, page at offset. */
static char *find_url(const struct sn_req *r)
{
	char *q = xasprintf("element_id=%s^element=%s^valueLIKE%s^ORDERBYsys_created_on"
	                    "^ORDERBYsys_id", r->sys_id, r->s->journal, r->marker);
	char *qe = sn_url_encode(q);
	char *u = xasprintf("%s/api/now/table/sys_journal_field?sysparm_query=%s"
	                    "&sysparm_fields=" SN_JOURNAL_FIELDS "&sysparm_limit=%ld"
	                    "&sysparm_offset=%ld&sysparm_display_value=false",
	                    r->s->base_url, qe, r->s->page_size, r->offset);
	free(q);
	free(qe);
	return u;
}

/* One page of entries: the first that is this record's and holds the
 * marker wins (a term the instance ignored only brings more entries, which
 * are checked here); else the next page (Link rel="next"), else none. */
static void find_page(struct sn_req *r, struct json_object *arr,
                      const struct http_response *resp)
{
	struct conn_result res = { .status = CONN_OK, .http_status = resp->status };
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *id = sn_rec_str(e, "sys_id"), *v = sn_rec_str(e, "value");
		if (!id || !v || !str_eq(sn_rec_str(e, "element_id"), r->sys_id) ||
		    !strstr(v, r->marker))
			continue;
		char *url = sn_record_url_browser(r->s, r->sys_id);
		struct conn_comment cm = { .id = id, .url = url };
		sn_req_finish_comment(r, &res, &cm);
		free(url);
		return;
	}
	const char *link = http_response_header(resp, "Link");
	if (!link || !strstr(link, "rel=\"next\"")) {
		sn_req_finish_comment(r, &res, NULL);
		return;
	}
	r->offset += r->s->page_size;
	free(r->url);
	r->url = find_url(r);
	sn_req_resend(r);
}

void sn_comment_answer(struct sn_req *r, struct json_object *res,
                       const struct http_response *resp, const char *what)
{
	bool posted = r->kind == SN_COMMENT;
	if (!res || !json_object_is_type(res, posted ? json_type_object : json_type_array)) {
		char *msg = xasprintf("%s: HTTP %ld but the answer is not {\"result\": ...} as "
		                      "documented%s", what, resp->status,
		                      posted ? "; the entry may have been written" : "");
		sn_req_fail(r, posted ? CONN_UNKNOWN : CONN_BAD_RESPONSE, resp->status, 0, msg);
		free(msg);
		return;
	}
	if (!posted) {
		find_page(r, res, resp);
		return;
	}
	/* the answer is the record; the entry's own id is not in it */
	struct conn_result ok = { .status = CONN_OK, .http_status = resp->status };
	char *url = sn_record_url_browser(r->s, r->sys_id);
	struct conn_comment cm = { .id = r->sys_id, .url = url };
	sn_req_finish_comment(r, &ok, &cm);
	free(url);
}

int sn_comment(struct connector *c, const char *target, const struct conn_remote *ref,
               const char *body, conn_comment_cb cb, void *arg)
{
	struct sn_conn *s = sn_of(c);
	if (s->destroyed)
		return -ESHUTDOWN;
	if (!cb || !body || !body[0] || !ref || !sn_sys_id_valid(ref->remote_id))
		return -EINVAL;
	char *text = sn_journal_text(body);
	if (!text)
		return -EINVAL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, s->journal, json_object_new_string(text));
	free(text);
	char *json = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	/* sysparm_fields: only what proves the record answered */
	char *url = xasprintf("%s/api/now/table/%s/%s?sysparm_fields=sys_id,sys_updated_on"
	                      "&sysparm_display_value=false", s->base_url, s->table,
	                      ref->remote_id);
	struct sn_req *r = sn_req_new(s, SN_COMMENT, "PATCH", url, json, target, arg);
	r->comment_cb = cb;
	r->sys_id = xstrdup(ref->remote_id);
	int rc = sn_req_send(r);
	if (rc < 0)
		sn_req_discard(r);
	return rc;
}

int sn_find_comment(struct connector *c, const char *target, const struct conn_remote *ref,
                    const char *marker, conn_comment_cb cb, void *arg)
{
	struct sn_conn *s = sn_of(c);
	if (s->destroyed)
		return -ESHUTDOWN;
	if (!cb || !ref || !sn_sys_id_valid(ref->remote_id) || !sn_query_value_safe(marker))
		return -EINVAL;
	struct sn_req *r = sn_req_new(s, SN_COMMENT_FIND, "GET", NULL, NULL, target, arg);
	r->comment_cb = cb;
	r->sys_id = xstrdup(ref->remote_id);
	r->marker = xstrdup(marker);
	r->url = find_url(r);
	int rc = sn_req_send(r);
	if (rc < 0)
		sn_req_discard(r);
	return rc;
}
