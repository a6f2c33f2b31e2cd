/* jira_req.c — the Jira connector's request machinery: request life cycle,
 * paced writes, retries with back-off and jitter, 429 Retry-After, and
 * Jira's error bodies.  See jira.h. */
#include "jira.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

static void req_timer_cb(uv_timer_t *t);

struct jira_req *jira_req_new(struct jira_conn *j, enum jira_op op, enum jira_step step,
                              const char *method, char *url, char *body,
                              const char *target, void *arg)
{
	struct jira_req *r = xcalloc(1, sizeof(*r));
	r->j = j;
	r->op = op;
	r->step = step;
	r->method = method;
	r->url = url;
	r->body = body;
	r->target = xstrdup(target);
	r->arg = arg;
	r->state = JR_NEW;
	if (uv_timer_init(j->base.loop, &r->timer) < 0)
		abort(); /* only fails on a dead loop */
	r->timer.data = r;
	LIST_INSERT_HEAD(&j->reqs, r, all);
	return r;
}

static void req_free(struct jira_req *r)
{
	free(r->url);
	free(r->body);
	free(r->target);
	free(r->etag);
	free(r->validator);
	for (size_t i = 0; i < r->n_seen; i++)
		free(r->seen_id[i]);
	free(r->seen_id);
	free(r->seen_ms);
	for (size_t i = 0; i < r->pg_n; i++)
		conn_remote_free(&r->pg_items[i]);
	free(r->pg_items);
	conn_remote_free(&r->last); /* the last issue read (callbacks get a const view) */
	free(r->pg_next);
	free(r->pg_jql);
	free(r->issue_id);
	free(r->fields_body);
	free(r->want_state);
	free(r->want_owner);
	free(r->token);
	free(r->issue_key);
	free(r->marker);
	free(r->label);
	free(r->label_extra);
	for (int f = 0; f < ITEM_F__COUNT; f++)
		free(r->refused_reason[f]);
	free(r);
}

static void timer_closed(uv_handle_t *h)
{
	struct jira_req *r = h->data;
	r->timer_closed = true;
	if (!r->http_pending)
		req_free(r);
}

/* Detach r from its connector: no callback after this. */
static void req_detach(struct jira_req *r)
{
	struct jira_conn *j = r->j;
	if (!j)
		return;
	if (r->state == JR_PACED)
		pace_remove(&j->pace, &r->pw);
	if (r->pace_held) {
		r->pace_held = false;
		pace_done(&j->pace, true);
	}
	if (r->http_pending)
		http_cancel(j->base.http, r->http_id);
	LIST_REMOVE(r, all);
	r->j = NULL;
	r->state = JR_FINISHED;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, timer_closed);
}

void jira_req_discard(struct jira_req *r)
{
	req_detach(r);
}

char *jira_req_what(const struct jira_req *r)
{
	const char *p = r->url ? r->url : "";
	if (r->j && strncmp(p, r->j->base_url, strlen(r->j->base_url)) == 0)
		p += strlen(r->j->base_url);
	size_t n = strcspn(p, "?");
	return xasprintf("%s %.*s", r->method, (int)n, p);
}

/* errorMessages and errors ("field: message") of a Jira error body into
 * b; false when the body has neither. */
static bool error_members(struct buf *b, struct json_object *o)
{
	struct json_object *msgs = NULL, *errs = NULL;
	bool any = false;
	if (json_object_object_get_ex(o, "errorMessages", &msgs) &&
	    json_object_is_type(msgs, json_type_array))
		for (size_t i = 0; i < json_object_array_length(msgs); i++) {
			const char *m = json_object_get_string(json_object_array_get_idx(msgs, i));
			if (buf_appendf(b, "%s%s", any ? "; " : "", m ? m : "") < 0)
				abort();
			any = true;
		}
	if (json_object_object_get_ex(o, "errors", &errs) &&
	    json_object_is_type(errs, json_type_object)) {
		json_object_object_foreach(errs, k, v) {
			if (buf_appendf(b, "%sJira refused field %s: %s", any ? "; " : "", k,
			                json_object_get_string(v)) < 0)
				abort();
			any = true;
		}
	}
	return any;
}

char *jira_error_text(const struct http_response *resp)
{
	struct json_object *o = resp->body && resp->body[0] ? json_tokener_parse(resp->body) : NULL;
	struct buf b = { 0 };
	if (buf_appendf(&b, "HTTP %ld", resp->status) < 0)
		abort();
	if (resp->status == 0) {
		buf_free(&b);
		b = (struct buf){ 0 };
		if (buf_appendf(&b, "transport error: %s", resp->error ? resp->error : "unknown") < 0)
			abort();
	} else if (o && json_object_is_type(o, json_type_object)) {
		struct buf m = { 0 };
		if (error_members(&m, o) && buf_appendf(&b, ": %s", m.data) < 0)
			abort();
		buf_free(&m);
	}
	if (o)
		json_object_put(o);
	return buf_steal(&b);
}

void jira_req_finish_item(struct jira_req *r, const struct conn_result *res,
                          const struct conn_remote *remote)
{
	conn_item_cb cb = r->item_cb;
	struct connector *c = &r->j->base;
	void *arg = r->arg;
	req_detach(r);
	cb(c, res, remote, arg);
}

void jira_req_finish_comment(struct jira_req *r, const struct conn_result *res,
                             const struct conn_comment *cm)
{
	conn_comment_cb cb = r->comment_cb;
	struct connector *c = &r->j->base;
	void *arg = r->arg;
	req_detach(r);
	cb(c, res, cm, arg);
}

void jira_req_deliver_page(struct jira_req *r, const struct conn_result *res,
                           struct conn_page *page)
{
	struct connector *c = &r->j->base;
	conn_list_cb cb = r->list_cb;
	void *arg = r->arg;
	if (page->last)
		req_detach(r);
	cb(c, res, page, arg);
}

void jira_req_fail(struct jira_req *r, enum conn_status st, long http_status,
                   int64_t retry_after_ms, const char *msg)
{
	struct conn_result res = { .status = st, .http_status = http_status,
	                           .error = msg, .retry_after_ms = retry_after_ms,
	                           .unsent = !r->may_have_acted && !r->http_pending };
	if (r->op == JO_LIST) {
		struct conn_page page = { .last = true };
		jira_req_deliver_page(r, &res, &page);
	} else if (r->op == JO_COMMENT || r->op == JO_FIND_COMMENT) {
		jira_req_finish_comment(r, &res, NULL);
	} else {
		jira_req_finish_item(r, &res, NULL);
	}
}

void jira_cancel_all(struct jira_conn *j)
{
	while (!LIST_EMPTY(&j->reqs))
		jira_req_fail(LIST_FIRST(&j->reqs), CONN_ERROR, 0, 0, "cancelled");
}

static bool step_writes(enum jira_step s)
{
	return s == JS_CREATE || s == JS_EDIT || s == JS_TRANS_POST || s == JS_COMMENT ||
	       s == JS_LABEL;
}

/* Steps that may have acted when no answer came: never resent. */
static bool step_unsafe(enum jira_step s)
{
	return s == JS_CREATE || s == JS_COMMENT;
}

static void retry_in(struct jira_req *r, const char *what, const char *why, int64_t delay_ms)
{
	log_conn(LOG_LVL_WARN, r->j->base.name, "%s: %s; retrying in %" PRId64 " ms (attempt %d of %d)",
	         what, why, delay_ms, r->attempt + 1, r->j->max_attempts);
	r->j->base.n_retries++;
	r->state = JR_WAITING;
	uv_timer_start(&r->timer, req_timer_cb, (uint64_t)(delay_ms > 0 ? delay_ms : 0), 0);
}

/* 429: Jira did not act.  Every write of the connector waits (the pacer's
 * connector-wide stop); this request retries when the wait is short. */
static void answer_rate_limited(struct jira_req *r, const struct http_response *resp,
                                const char *what)
{
	struct jira_conn *j = r->j;
	int64_t wait = conn_retry_after_ms(resp);
	j->base.n_rate_limited++;
	if (wait < 0)
		wait = pace_block_backoff(&j->pace);
	else
		pace_block_for(&j->pace, wait);
	if (r->attempt < j->max_attempts && wait <= j->backoff_max_ms * 4) {
		retry_in(r, what, "HTTP 429 (rate limited)", wait);
		return;
	}
	char *msg = xasprintf("%s: HTTP 429 after %d attempts, retry after %" PRId64 " ms",
	                      what, r->attempt, wait);
	jira_req_fail(r, CONN_RATE_LIMITED, 429, wait, msg);
	free(msg);
}

/* 5xx or transport failure: an idempotent step is retried; a create or a
 * comment that may have reached Jira has an unknown outcome; a transition
 * starts over from reading the issue. */
static void answer_failed(struct jira_req *r, const struct http_response *resp, const char *what)
{
	char *why = jira_error_text(resp);
	bool unsent = resp->status == 0 && !conn_answer_may_have_acted(resp, false);
	bool cert = resp->status == 0 && http_error_is_certificate(resp->curl_code);
	if (step_unsafe(r->step) && !unsent) {
		char *msg = xasprintf("%s: %s, outcome unknown", what, why);
		jira_req_fail(r, CONN_UNKNOWN, resp->status, 0, msg);
		free(msg);
	} else if (!cert && r->step == JS_TRANS_POST && !unsent && jira_transition_restart(r)) {
		log_conn(LOG_LVL_WARN, r->j->base.name, "%s: %s; reading the issue again", what, why);
	} else if (!cert && r->attempt < r->j->max_attempts) {
		retry_in(r, what, why, conn_backoff_ms(&r->j->rng, r->j->backoff_base_ms,
		                                       r->j->backoff_max_ms, r->attempt));
	} else {
		char *msg = xasprintf("%s: %s after %d attempts", what, why, r->attempt);
		jira_req_fail(r, CONN_ERROR, resp->status, 0, msg);
		free(msg);
	}
	free(why);
}

static void answer_status(struct jira_req *r, const struct http_response *resp, const char *what)
{
	enum conn_status st;
	switch (resp->status) {
	case 401: case 403: st = CONN_AUTH; break;
	case 404: case 410: st = CONN_GONE; break;
	case 400: case 422: st = CONN_INVALID; break;
	default: st = CONN_BAD_RESPONSE; break;
	}
	if (jira_handle_refusal(r, resp, what))
		return;
	char *why = jira_error_text(resp);
	char *msg = xasprintf("%s: %s", what, why);
	jira_req_fail(r, st, resp->status, 0, msg);
	free(msg);
	free(why);
}

static void http_done(const struct http_response *resp, void *arg)
{
	struct jira_req *r = arg;
	r->http_pending = false;
	if (!r->j) {
		if (r->timer_closed)
			req_free(r);
		return;
	}
	struct jira_conn *j = r->j;
	if (conn_answer_may_have_acted(resp, resp->status == 429))
		r->may_have_acted = true;
	if (r->pace_held) {
		r->pace_held = false;
		pace_done(&j->pace, resp->status != 429);
	}
	char *what = jira_req_what(r);
	if (resp->status == 429)
		answer_rate_limited(r, resp, what);
	else if (resp->status == 0 || resp->status >= 500)
		answer_failed(r, resp, what);
	else if (resp->status >= 200 && resp->status < 300)
		jira_handle_ok(r, resp, what);
	else
		answer_status(r, resp, what);
	free(what);
}

static void count_request(struct jira_conn *j, enum jira_step s)
{
	switch (s) {
	case JS_NEWEST: case JS_SEARCH: case JS_DISCOVER: j->base.n_list++; break;
	case JS_READ: case JS_TRANS_GET: case JS_PROBE: case JS_COMMENTS: j->base.n_get++; break;
	case JS_FIND_LABEL: case JS_FIND_NEWEST: j->base.n_search++; break;
	case JS_CREATE: j->base.n_create++; break;
	case JS_EDIT: case JS_TRANS_POST: case JS_LABEL: j->base.n_update++; break;
	case JS_COMMENT: j->base.n_comment++; break;
	default: abort();
	}
}

static int send_now(struct jira_req *r)
{
	struct jira_conn *j = r->j;
	const char *headers[] = { j->auth_header, "Accept: application/json",
	                          "Content-Type: application/json", NULL };
	struct http_request hr = {
		.method = r->method, .url = r->url, .headers = headers,
		.body = r->body, .body_len = r->body ? strlen(r->body) : 0,
		.timeout_ms = j->timeout_ms, .ca_file = j->ca_file,
	};
	int rc = http_send_id(j->base.http, &hr, http_done, r, &r->http_id);
	if (rc < 0)
		return rc;
	r->attempt++;
	r->http_pending = true;
	r->state = JR_INFLIGHT;
	count_request(j, r->step);
	return 0;
}

void jira_req_fail_start(struct jira_req *r, const char *doing, int rc)
{
	char *what = jira_req_what(r);
	char *msg = xasprintf("%s: could not %s: %s", what, doing, strerror(-rc));
	jira_req_fail(r, CONN_ERROR, 0, 0, msg);
	free(msg);
	free(what);
}

static void pace_go(struct pace_wait *w)
{
	struct jira_req *r = container_of(w, struct jira_req, pw);
	if (r->state != JR_PACED)
		abort();
	r->pace_held = true;
	r->wrote = true;
	int rc = send_now(r);
	if (rc < 0)
		jira_req_fail_start(r, "start", rc);
}

int jira_req_send(struct jira_req *r)
{
	if (step_writes(r->step)) {
		bool creates = r->step == JS_CREATE || r->step == JS_COMMENT;
		r->state = JR_PACED;
		/* a later step of a write under way, or a retry, goes first */
		if (r->attempt > 0 || r->wrote)
			pace_enqueue_first(&r->j->pace, &r->pw, creates, pace_go);
		else
			pace_enqueue(&r->j->pace, &r->pw, creates, pace_go);
		return 0;
	}
	return send_now(r);
}

int jira_req_step(struct jira_req *r, enum jira_step step, const char *method,
                  char *url, char *body)
{
	free(r->url);
	free(r->body);
	r->step = step;
	r->method = method;
	r->url = url;
	r->body = body;
	r->attempt = 0;
	r->state = JR_NEW;
	return jira_req_send(r);
}

static void req_timer_cb(uv_timer_t *t)
{
	struct jira_req *r = t->data;
	if (r->state != JR_WAITING)
		abort();
	r->state = JR_NEW;
	int rc = jira_req_send(r);
	if (rc < 0)
		jira_req_fail_start(r, "start a retry", rc);
}
