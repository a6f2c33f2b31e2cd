/* servicenow_answer.c — the ServiceNow connector's 2xx answers, mapped
 * per connector.h (servicenow.h): a listing's pages, a token search, the
 * postmortem's problem before a problem_task create, the steps of an
 * update (the state PATCH after the fields PATCH; a problem_task's state
 * walk, servicenow_state.c) and a 403 refusing a state change.  Split
 * from servicenow.c, which keeps the operations and the registry row. */
#include "servicenow.h"
#include "servicenow_discover.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include "log.h"

/* The "result" member of a 2xx answer, or NULL with *err saying why: the
 * body is not one JSON value (cut short: "truncated JSON", json-c's
 * description otherwise) or has no "result". */
static struct json_object *parse_result(const struct http_response *resp, const char **err)
{
	struct json_object *o = NULL, *res = NULL;
	*err = "the body is empty";
	if (resp->body && resp->body_len > 0 && resp->body_len <= INT32_MAX) {
		struct json_tokener *tok = json_tokener_new();
		if (!tok)
			abort();
		o = json_tokener_parse_ex(tok, resp->body, (int)resp->body_len);
		enum json_tokener_error je = json_tokener_get_error(tok);
		*err = je == json_tokener_continue ? "the body is not JSON (truncated JSON)" :
		       je != json_tokener_success ? "the body is not JSON" : NULL;
		json_tokener_free(tok);
	}
	if (o && !*err && json_object_object_get_ex(o, "result", &res))
		json_object_get(res);
	else
		res = NULL;
	if (!res && !*err)
		*err = "the answer is not {\"result\": ...} as documented";
	if (o)
		json_object_put(o);
	return res;
}

static void finish_bad(struct sn_req *r, long status, const char *what, const char *why)
{
	char *msg = xasprintf("%s: %s", what, why);
	sn_req_fail(r, CONN_BAD_RESPONSE, status, 0, msg);
	free(msg);
}

/* A create answered 2xx with a body that does not say the record (cut
 * short): it may exist, so its outcome is unknown and the caller finds it
 * again by its correlation_id rather than creating it twice. */
static void create_unknown(struct sn_req *r, long status, const char *what, const char *why)
{
	char *msg = xasprintf("%s: HTTP %ld but %s; the record may have been created, outcome "
	                      "unknown (found again by its correlation_id)", what, status, why);
	sn_req_fail(r, CONN_UNKNOWN, status, 0, msg);
	free(msg);
}

/* Deliver rec as the item answer, with the refused fields of r. */
static void finish_record(struct sn_req *r, struct json_object *rec, long status,
                          const char *what)
{
	struct conn_remote rem;
	if (sn_record_to_remote(r->s, rec, &rem) < 0) {
		conn_remote_free(&rem);
		finish_bad(r, status, what, "the record lacks sys_id or sys_updated_on");
		return;
	}
	struct conn_result res = { .status = CONN_OK, .http_status = status };
	if (r->want_owner && !str_eq(r->want_owner, rem.fields.v[ITEM_F_OWNER])) {
		r->refused_mask |= ITEM_FIELD_BIT(ITEM_F_OWNER);
		free(r->refused_reason[ITEM_F_OWNER]);
		r->refused_reason[ITEM_F_OWNER] = xasprintf(
			"assigned_to %s is not a user of the instance (left unassigned)", r->want_owner);
	}
	/* a create's refusal too: the link holds it from the start (the item's
	 * next push does not send it again before the back-off) */
	res.refused_mask = r->refused_mask;
	for (int f = 0; f < ITEM_F__COUNT; f++)
		res.refused_reason[f] = r->refused_reason[f];
	if (r->kind == SN_CREATE && r->refused_mask)
		log_conn(LOG_LVL_WARN, r->s->base.name, "%s: created %s unassigned: %s", what, rem.key,
		         r->refused_reason[ITEM_F_OWNER]);
	sn_req_finish_item(r, &res, &rem);
	conn_remote_free(&rem);
}

/* The first PATCH is in: send the state PATCH, keeping this record. */
static void update_next(struct sn_req *r, struct json_object *rec, const char *what)
{
	if (r->record)
		json_object_put(r->record);
	r->record = json_object_get(rec);
	r->kind = SN_UPDATE_STATE;
	free(r->body);
	r->body = r->state_body;
	r->state_body = NULL;
	r->attempt = 0;
	r->state = SNR_NEW;
	int rc = sn_req_send(r);
	if (rc < 0)
		sn_req_fail_start(r, "send the state change", rc);
}

/* Steps of a problem_task's state walk at most (the longest way, closed
 * as canceled to done, is 157 -> 152 -> 154 -> 157). */
#define SN_WALK_MAX 4

/* A problem_task's record as it stands after a create, the fields PATCH,
 * a read or a step: send the next step towards r->want_state
 * (sn_task_step), or finish with the record once it is there.  A walk
 * that does not arrive within SN_WALK_MAX steps (the instance moved the
 * task on by a rule of its own) holds the state on the link as refused. */
static void walk(struct sn_req *r, struct json_object *rec, long status, const char *what)
{
	if (r->record)
		json_object_put(r->record);
	r->record = json_object_get(rec);
	const char *id = sn_rec_str(rec, "sys_id");
	char *body = sn_sys_id_valid(id) ? sn_task_step(r->s, rec, r->want_state) : NULL;
	if (body && r->walk_steps >= SN_WALK_MAX) {
		r->refused_mask |= ITEM_FIELD_BIT(ITEM_F_STATE);
		free(r->refused_reason[ITEM_F_STATE]);
		r->refused_reason[ITEM_F_STATE] = xasprintf(
			"the problem task is in state %s after %d state changes towards %s (a rule of "
			"the instance moves it); change the state in ServiceNow",
			sn_rec_str(rec, "state") ? sn_rec_str(rec, "state") : "(none)", r->walk_steps,
			r->want_state);
		free(body);
		body = NULL;
	}
	if (!body) {
		free(r->want_state);
		r->want_state = NULL;
		finish_record(r, rec, status, what);
		return;
	}
	r->walk_steps++;
	r->kind = SN_UPDATE_STATE;
	r->method = "PATCH";
	free(r->body);
	r->body = body;
	free(r->url);
	r->url = sn_record_url(r->s, id);
	sn_req_resend(r);
}

bool sn_handle_refusal(struct sn_req *r, const struct http_response *resp)
{
	if (r->kind != SN_UPDATE_STATE)
		return false;
	free(r->want_state); /* a walk stops where the instance refused a step */
	r->want_state = NULL;
	r->refused_mask |= ITEM_FIELD_BIT(ITEM_F_STATE);
	char *why = sn_error_text(resp);
	r->refused_reason[ITEM_F_STATE] = xasprintf(
		"the instance refused the state change through the Table API (%s); "
		"allow it for the closeloop user or change the state in ServiceNow", why);
	free(why);
	if (r->record) {
		struct json_object *rec = json_object_get(r->record);
		finish_record(r, rec, resp->status, "PATCH");
		json_object_put(rec);
		return true;
	}
	/* state alone was sent: read the record as it stands */
	r->kind = SN_FETCH;
	r->method = "GET";
	free(r->body);
	r->body = NULL;
	r->attempt = 0;
	r->state = SNR_NEW;
	if (sn_req_send(r) < 0)
		return false;
	return true;
}

/* Did the instance honour the listing's terms (an unknown term is
 * silently dropped)?  Each record must be the target's and in the window. */
static bool list_record_ok(const struct sn_req *r, struct json_object *rec, int64_t *upd_ms)
{
	const char *upd = sn_rec_str(rec, "sys_updated_on");
	return str_eq(sn_rec_str(rec, "assignment_group"), r->target) && upd &&
	       ts_parse(upd, upd_ms) == 0 && *upd_ms >= r->since_ms;
}

/* Mark item, listed from rec, by the target's discovery rule (when the
 * page asked for its fields: servicenow_discover.h).  0, or -EINVAL with
 * *err. */
static bool rule_flag(const struct sn_req *r, const struct conn_discover *rule, const char *name)
{
	return str_eq(conn_discover_opt(&r->s->base, rule, name), "true");
}

static int list_discover(const struct sn_req *r, struct json_object *rec, struct conn_remote *item,
                         bool *pending, const char **err)
{
	const struct conn_discover *rule = conn_discover_rule(&r->s->base, r->target);
	*pending = false;
	if (!rule || !r->discover_fields)
		return 0;
	struct sn_rule sr = { .reported_by_incident = rule_flag(r, rule, "reported_by_incident"),
	                      .related_incident = rule_flag(r, rule, "related_incident"),
	                      .category = conn_discover_opt(&r->s->base, rule, "category") };
	bool match = false;
	int rc = sn_discover_eval(&sr, rec, &match, pending, &item->refs, err);
	if (rc == 0)
		item->discover = match ? CONN_DISCOVER_MATCH : CONN_DISCOVER_NO_MATCH;
	return rc;
}

static void list_go_on(struct sn_req *r, struct conn_remote *items, size_t k, bool more,
                       int64_t newest, long status);

/* Send r again, to url (taken), as a new request of the same operation. */
static void send_next(struct sn_req *r, char *url, const char *doing)
{
	free(r->url);
	r->url = url;
	r->attempt = 0;
	r->state = SNR_NEW;
	int rc = sn_req_send(r);
	if (rc < 0)
		sn_req_fail_start(r, doing, rc);
}

/* Ask the incident table about the held page's pending problems (from
 * r->rel_offset). */
static void related_send(struct sn_req *r)
{
	r->related_step = true;
	send_next(r, sn_related_url(r), "ask which problems an incident points at");
}

/* One page of the incident query: mark the problems incidents point at;
 * the next page while more follow, else deliver the held page. */
static void related_answer(struct sn_req *r, struct json_object *arr,
                           const struct http_response *resp, const char *what)
{
	const char *err = NULL;
	if (sn_related_apply(arr, r->held, r->held_pending, r->held_n, &err) < 0) {
		finish_bad(r, resp->status, what, err);
		return;
	}
	const char *link = http_response_header(resp, "Link");
	if (link && strstr(link, "rel=\"next\"")) {
		r->rel_offset += r->s->page_size;
		related_send(r);
		return;
	}
	struct conn_remote *items = r->held;
	size_t k = r->held_n;
	free(r->held_pending);
	r->held = NULL;
	r->held_pending = NULL;
	r->held_n = 0;
	r->related_step = false;
	list_go_on(r, items, k, r->held_more, r->held_newest, resp->status);
}

char *sn_validator_of(const struct http_response *resp, const char *sys_id, int64_t updated_ms)
{
	const char *d = http_response_header(resp, "Date");
	time_t t = d ? curl_getdate(d, NULL) : (time_t)-1;
	if (t <= 0)
		return NULL;
	return xasprintf("sn1:%s:%lld:%lld", sys_id, (long long)updated_ms,
	                 (long long)((int64_t)t * 1000 - resp->elapsed_ms));
}

bool sn_validator_holds(const char *etag, const char *sys_id, int64_t updated_ms, int64_t settle_ms)
{
	char id[40];
	long long upd = 0, taken = 0;
	int end = 0;
	if (!etag || sscanf(etag, "sn1:%39[^:]:%lld:%lld%n", id, &upd, &taken, &end) != 3 ||
	    etag[end] != '\0')
		return false;
	return str_eq(id, sys_id) && upd == updated_ms && taken - upd >= settle_ms;
}

/* The window's newest record on a listing's last page arr: its sys_id and
 * sys_updated_on ("-" and 0 when empty).  false when it has none readable
 * (list_answer then fails the page as it would anyway). */
static bool window_newest(const struct sn_req *r, struct json_object *arr, const char **id,
                          int64_t *upd_ms)
{
	size_t n = json_object_array_length(arr);
	*id = "-";
	*upd_ms = 0;
	if (n == 0)
		return true;
	struct json_object *rec = json_object_array_get_idx(arr, n - 1);
	*id = sn_rec_str(rec, "sys_id");
	return *id && sn_sys_id_valid(*id) && list_record_ok(r, rec, upd_ms);
}

/* A listing's last page: when it is also its first, CONN_NOT_MODIFIED if
 * the earlier validator holds (nothing to read again, no incident query);
 * else take this listing's validator, delivered with the page.  true when
 * answered. */
static bool list_quiet(struct sn_req *r, struct json_object *arr, const struct http_response *resp)
{
	const char *id = NULL;
	int64_t upd = 0;
	if (!window_newest(r, arr, &id, &upd))
		return false;
	if (!r->paged && sn_validator_holds(r->etag, id, upd, r->s->base.list_settle_ms)) {
		struct conn_result res = { .status = CONN_NOT_MODIFIED, .http_status = resp->status };
		struct conn_page page = { .last = true, .etag = r->etag };
		sn_req_deliver_page(r, &res, &page);
		return true;
	}
	free(r->validator);
	r->validator = sn_validator_of(resp, id, upd);
	return false;
}

static void list_answer(struct sn_req *r, struct json_object *arr, const struct http_response *resp,
                        const char *what)
{
	const char *link = http_response_header(resp, "Link");
	bool more = link && strstr(link, "rel=\"next\"");
	if (!more && list_quiet(r, arr, resp))
		return;
	size_t n = json_object_array_length(arr);
	struct conn_remote *items = xcalloc(n ? n : 1, sizeof(*items));
	bool *pending = xcalloc(n ? n : 1, sizeof(*pending)), any = false;
	int64_t newest = r->since_ms;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *rec = json_object_array_get_idx(arr, i);
		int64_t ms = 0;
		const char *err = "a record outside the query (the instance ignored a term of "
		                  "sysparm_query)";
		if (!list_record_ok(r, rec, &ms) || sn_record_to_remote(r->s, rec, &items[k]) < 0 ||
		    list_discover(r, rec, &items[k], &pending[k], &err) < 0) {
			for (size_t j = 0; j <= k && j < n; j++)
				conn_remote_free(&items[j]);
			free(items);
			free(pending);
			finish_bad(r, resp->status, what, err);
			return;
		}
		any |= pending[k];
		k++;
		if (ms > newest)
			newest = ms;
	}
	if (any) { /* held back until the incidents say which they point at */
		r->held = items;
		r->held_pending = pending;
		r->held_n = k;
		r->held_more = more;
		r->held_newest = newest;
		r->rel_offset = 0;
		related_send(r);
		return;
	}
	free(pending);
	list_go_on(r, items, k, more, newest, resp->status);
}

/* Deliver a listed page (items[0..k), taken) and ask for the next one
 * while more follow. */
static void list_go_on(struct sn_req *r, struct conn_remote *items, size_t k, bool more,
                       int64_t newest, long status)
{
	struct conn_result res = { .status = CONN_OK, .http_status = status };
	struct conn_page page = { .items = items, .n = k, .last = !more, .etag = r->validator };
	struct sn_conn *s = r->s;
	if (more) { /* keyset on sys_updated_on; offset only within one second */
		if (newest > r->since_ms) {
			r->since_ms = newest;
			r->offset = 0;
		} else {
			r->offset += s->page_size;
		}
	}
	r->paged = true;
	sn_req_deliver_page(r, &res, &page);
	for (size_t j = 0; j < k; j++)
		conn_remote_free(&items[j]);
	free(items);
	if (!more || !r->s)
		return;
	send_next(r, sn_list_url(r), "ask for the next page");
}

static void find_answer(struct sn_req *r, struct json_object *arr, long status, const char *what)
{
	size_t n = json_object_array_length(arr);
	if (n == 0) {
		struct conn_result res = { .status = CONN_GONE, .http_status = status };
		sn_req_finish_item(r, &res, NULL);
		return;
	}
	struct json_object *rec = json_object_array_get_idx(arr, 0);
	if (n > 1 || !str_eq(sn_rec_str(rec, "correlation_id"), r->token)) {
		finish_bad(r, status, what, n > 1 ? "two records carry one closeloop token" :
		           "the instance ignored the correlation_id term");
		return;
	}
	finish_record(r, rec, status, what);
}

/* A record asked for by its number (a number named in a postmortem):
 * none is CONN_GONE with a message saying so (the reference is then
 * broken, and nothing is created for it); the answer is checked against
 * the number asked for, as the instance ignores a term it does not
 * understand. */
static void number_answer(struct sn_req *r, struct json_object *arr, long status,
                          const char *what)
{
	size_t n = json_object_array_length(arr);
	if (n == 0) {
		char *msg = xasprintf("%s: no %s numbered %s on %s (or the closeloop user may not "
		                      "read it); correct the number in the postmortem and import "
		                      "it again", what, r->s->table, r->parent_ref, r->s->base_url);
		struct conn_result res = { .status = CONN_GONE, .http_status = status, .error = msg };
		sn_req_finish_item(r, &res, NULL);
		free(msg);
		return;
	}
	struct json_object *rec = json_object_array_get_idx(arr, 0);
	if (n > 1 || !str_eq(sn_rec_str(rec, "number"), r->parent_ref)) {
		finish_bad(r, status, what, n > 1 ? "two records carry one number" :
		           "the instance ignored the number term");
		return;
	}
	finish_record(r, rec, status, what);
}

/* The postmortem's problem, read: create the problem_task under it.  The
 * answer is checked against the reference asked for (the Table API
 * ignores a query term it does not understand and would answer every
 * problem). */
static void parent_answer(struct sn_req *r, struct json_object *res, long status,
                          const char *what)
{
	const char *parent = NULL;
	for (size_t i = 0; i < json_object_array_length(res); i++) {
		struct json_object *rec = json_object_array_get_idx(res, i);
		if (str_eq(sn_rec_str(rec, "number"), r->parent_ref) ||
		    str_eq(sn_rec_str(rec, "sys_id"), r->parent_ref))
			parent = sn_rec_str(rec, "sys_id");
	}
	struct json_object *body = r->body ? json_tokener_parse(r->body) : NULL;
	if (!parent || !sn_sys_id_valid(parent) || !body) {
		char *msg = xasprintf("%s: problem %s of postmortem %s is not in ServiceNow (or the "
		                      "closeloop user may not read it); create the problem or correct "
		                      "postmortem.problem_ref", what, r->parent_ref, r->pm_ref);
		if (body)
			json_object_put(body);
		sn_req_fail(r, CONN_ERROR, status, 0, msg);
		free(msg);
		return;
	}
	json_object_object_add(body, "problem", json_object_new_string(parent));
	free(r->body);
	r->body = sn_json_text(body);
	free(r->url);
	r->url = sn_create_url(r->s);
	r->kind = SN_CREATE;
	r->method = "POST";
	sn_req_resend(r);
}

void sn_handle_ok(struct sn_req *r, const struct http_response *resp, const char *what)
{
	const char *err = NULL;
	struct json_object *res = parse_result(resp, &err);
	bool arr = res && json_object_is_type(res, json_type_array);
	bool obj = res && json_object_is_type(res, json_type_object);
	bool many = r->kind == SN_LIST || r->kind == SN_FIND || r->kind == SN_PARENT ||
	            r->kind == SN_FETCH_NUMBER;
	if (r->kind == SN_COMMENT || r->kind == SN_COMMENT_FIND)
		sn_comment_answer(r, res, resp, what);
	else if (r->kind == SN_CREATE && !obj) /* made, perhaps: its token finds it */
		create_unknown(r, resp->status, what, err ? err : "the result is not a record");
	else if (many ? !arr : !obj)
		finish_bad(r, resp->status, what, err ? err : "the result is not of the documented "
		           "type");
	else if (r->kind == SN_LIST && r->related_step)
		related_answer(r, res, resp, what);
	else if (r->kind == SN_LIST)
		list_answer(r, res, resp, what);
	else if (r->kind == SN_FIND)
		find_answer(r, res, resp->status, what);
	else if (r->kind == SN_PARENT)
		parent_answer(r, res, resp->status, what);
	else if (r->kind == SN_FETCH_NUMBER)
		number_answer(r, res, resp->status, what);
	else if (r->kind == SN_UPDATE && r->state_body)
		update_next(r, res, what);
	else if (r->want_state)
		walk(r, res, resp->status, what);
	else
		finish_record(r, res, resp->status, what);
	if (res)
		json_object_put(res);
}
