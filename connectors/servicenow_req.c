/* servicenow_req.c — the ServiceNow connector's request machinery:
 * request life cycle, the paced writes, retries with back-off and 429
 * Retry-After.  See servicenow.h. */
#include "servicenow.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

static void req_timer_cb(uv_timer_t *t);

struct sn_req *sn_req_new(struct sn_conn *s, enum sn_kind kind, const char *method,
                          char *url, char *body, const char *target, void *arg)
{
	struct sn_req *r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->kind = kind;
	r->method = method;
	r->url = url;
	r->body = body;
	r->target = xstrdup(target);
	r->arg = arg;
	r->state = SNR_NEW;
	if (uv_timer_init(s->base.loop, &r->timer) < 0)
		abort(); /* only fails on a dead loop */
	r->timer.data = r;
	LIST_INSERT_HEAD(&s->reqs, r, all);
	return r;
}

static void req_free(struct sn_req *r)
{
	free(r->url);
	free(r->body);
	free(r->target);
	free(r->token);
	free(r->sys_id);
	free(r->state_body);
	free(r->want_owner);
	free(r->marker);
	free(r->parent_ref);
	free(r->pm_ref);
	free(r->fail_later);
	free(r->want_state);
	for (size_t i = 0; i < r->held_n; i++)
		conn_remote_free(&r->held[i]);
	free(r->held);
	free(r->held_pending);
	free(r->etag);
	free(r->validator);
	for (int f = 0; f < ITEM_F__COUNT; f++)
		free(r->refused_reason[f]);
	if (r->record)
		json_object_put(r->record);
	free(r);
}

static void timer_closed(uv_handle_t *h)
{
	struct sn_req *r = h->data;
	r->timer_closed = true;
	if (!r->http_pending)
		req_free(r);
}

/* Detach r from its connector: no callback after this. */
static void req_detach(struct sn_req *r)
{
	struct sn_conn *s = r->s;
	if (!s)
		return;
	if (r->state == SNR_PACED)
		pace_remove(&s->pace, &r->pw);
	if (r->pace_held) {
		r->pace_held = false;
		pace_done(&s->pace, true);
	}
	if (r->http_pending)
		http_cancel(s->base.http, r->http_id);
	sn_auth_forget(r);
	LIST_REMOVE(r, all);
	r->s = NULL;
	r->state = SNR_FINISHED;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, timer_closed);
}

void sn_req_discard(struct sn_req *r)
{
	req_detach(r);
}

char *sn_req_what(const struct sn_req *r)
{
	const char *p = r->url;
	if (r->s && strncmp(p, r->s->base_url, strlen(r->s->base_url)) == 0)
		p += strlen(r->s->base_url);
	size_t n = strcspn(p, "?");
	return xasprintf("%s %.*s", r->method, (int)n, p);
}

char *sn_error_text(const struct http_response *resp)
{
	struct json_object *o = resp->body ? json_tokener_parse(resp->body) : NULL, *e, *m, *d;
	char *out;
	if (o && json_object_object_get_ex(o, "error", &e) && json_object_is_type(e, json_type_object) &&
	    json_object_object_get_ex(e, "message", &m)) {
		const char *detail = json_object_object_get_ex(e, "detail", &d) ?
		                     json_object_get_string(d) : NULL;
		out = xasprintf("HTTP %ld: %s%s%s", resp->status, json_object_get_string(m),
		                detail && *detail ? ": " : "", detail && *detail ? detail : "");
	} else if (resp->status == 0) {
		out = xasprintf("transport error: %s", resp->error ? resp->error : "unknown");
	} else {
		out = xasprintf("HTTP %ld", resp->status);
	}
	if (o)
		json_object_put(o);
	return out;
}

void sn_req_finish_item(struct sn_req *r, const struct conn_result *res,
                        const struct conn_remote *remote)
{
	conn_item_cb cb = r->item_cb;
	struct connector *c = &r->s->base;
	void *arg = r->arg;
	req_detach(r);
	cb(c, res, remote, arg);
}

void sn_req_finish_comment(struct sn_req *r, const struct conn_result *res,
                           const struct conn_comment *cm)
{
	conn_comment_cb cb = r->comment_cb;
	struct connector *c = &r->s->base;
	void *arg = r->arg;
	req_detach(r);
	cb(c, res, cm, arg);
}

void sn_req_deliver_page(struct sn_req *r, const struct conn_result *res,
                         struct conn_page *page)
{
	struct connector *c = &r->s->base;
	if (page->last)
		req_detach(r);
	r->list_cb(c, res, page, r->arg);
}

void sn_req_fail(struct sn_req *r, enum conn_status st, long http_status,
                 int64_t retry_after_ms, const char *msg)
{
	struct conn_result res = { .status = st, .http_status = http_status,
	                           .error = msg, .retry_after_ms = retry_after_ms,
	                           .unsent = !r->may_have_acted && !r->http_pending &&
	                                     !r->unsendable };
	if (r->kind == SN_LIST) {
		struct conn_page page = { .last = true };
		sn_req_deliver_page(r, &res, &page);
	} else if (r->kind == SN_COMMENT || r->kind == SN_COMMENT_FIND) {
		sn_req_finish_comment(r, &res, NULL);
	} else {
		sn_req_finish_item(r, &res, NULL);
	}
}

void sn_cancel_all(struct sn_conn *s)
{
	while (!LIST_EMPTY(&s->reqs))
		sn_req_fail(LIST_FIRST(&s->reqs), CONN_ERROR, 0, 0, "cancelled");
}

static bool kind_writes(enum sn_kind k)
{
	return k == SN_CREATE || k == SN_UPDATE || k == SN_UPDATE_STATE || k == SN_COMMENT;
}

static void retry_in(struct sn_req *r, const char *what, const char *why, int64_t delay_ms)
{
	log_conn(LOG_LVL_WARN, r->s->base.name, "%s: %s; retrying in %" PRId64 " ms (attempt %d of %d)",
	         what, why, delay_ms, r->attempt + 1, r->s->max_attempts);
	r->s->base.n_retries++;
	r->state = SNR_WAITING;
	uv_timer_start(&r->timer, req_timer_cb, (uint64_t)(delay_ms > 0 ? delay_ms : 0), 0);
}

/* The instance's rate-limit rule as a 429 states it ("Inbound REST API
 * rate limiting": X-RateLimit-Limit requests an hour, X-RateLimit-Reset
 * in epoch seconds), for /metrics and status. */
static void rate_headers(struct sn_conn *s, const struct http_response *resp)
{
	const char *lim = http_response_header(resp, "X-RateLimit-Limit");
	const char *reset = http_response_header(resp, "X-RateLimit-Reset");
	char *end = NULL;
	long long n = lim ? strtoll(lim, &end, 10) : -1;
	if (lim && end != lim && *end == '\0' && n >= 0) {
		s->base.rate_limit = n;
		s->base.rate_remaining = 0;
	}
	n = reset ? strtoll(reset, &end, 10) : -1;
	if (reset && end != reset && *end == '\0' && n > 0 && n < 4102444800LL)
		s->base.rate_reset_at = n * 1000;
}

static void answer_rate_limited(struct sn_req *r, const struct http_response *resp,
                                const char *what)
{
	struct sn_conn *s = r->s;
	int64_t wait = conn_retry_after_ms(resp);
	s->base.n_rate_limited++;
	rate_headers(s, resp);
	if (wait < 0)
		wait = pace_block_backoff(&s->pace);
	else
		pace_block_for(&s->pace, wait);
	if (r->attempt < s->max_attempts && wait <= s->backoff_max_ms * 4) {
		retry_in(r, what, "HTTP 429 (rate limited)", wait);
		return;
	}
	char *msg = xasprintf("%s: HTTP 429 after %d attempts, retry after %" PRId64 " ms",
	                      what, r->attempt, wait);
	sn_req_fail(r, CONN_RATE_LIMITED, 429, wait, msg);
	free(msg);
}

/* 5xx or transport failure: an idempotent request is retried; a create
 * that may have reached the instance has an unknown outcome. */
static void answer_failed(struct sn_req *r, const struct http_response *resp, const char *what)
{
	char *why = sn_error_text(resp);
	bool unsent = resp->status == 0 && !conn_answer_may_have_acted(resp, false);
	bool cert = resp->status == 0 && http_error_is_certificate(resp->curl_code);
	if ((r->kind == SN_CREATE || r->kind == SN_COMMENT) && !unsent) {
		char *msg = xasprintf("%s: %s, outcome unknown", what, why);
		sn_req_fail(r, CONN_UNKNOWN, resp->status, 0, msg);
		free(msg);
	} else if (!cert && r->attempt < r->s->max_attempts) {
		retry_in(r, what, why, conn_backoff_ms(&r->s->rng, r->s->backoff_base_ms,
		                                       r->s->backoff_max_ms, r->attempt));
	} else {
		char *msg = xasprintf("%s: %s after %d attempts", what, why, r->attempt);
		sn_req_fail(r, CONN_ERROR, resp->status, 0, msg);
		free(msg);
	}
	free(why);
}

static void answer_status(struct sn_req *r, const struct http_response *resp, const char *what)
{
	enum conn_status st;
	switch (resp->status) {
	case 401: st = CONN_AUTH; break;
	case 403: st = CONN_AUTH; break;
	case 404: st = CONN_GONE; break;
	case 400: st = CONN_INVALID; break;
	default: st = CONN_BAD_RESPONSE; break;
	}
	if (resp->status == 403 && sn_handle_refusal(r, resp))
		return;
	if (resp->status == 401 && sn_auth_rejected(r))
		return;
	/* a 403 on one record is an ACL or a business rule refusing this
	 * write or read: that item's error, not the connector's credentials */
	bool one_record = resp->status == 403 && r->kind != SN_LIST && r->kind != SN_FIND &&
	                  r->kind != SN_COMMENT_FIND;
	if (one_record)
		st = CONN_INVALID;
	char *why = sn_error_text(resp);
	char *msg = xasprintf("%s: %s%s", what, why, one_record ?
	                      " (an ACL or business rule of the instance refused it; the "
	                      "closeloop user needs access to this record)" : "");
	sn_req_fail(r, st, resp->status, 0, msg);
	free(msg);
	free(why);
}

static void http_done(const struct http_response *resp, void *arg)
{
	struct sn_req *r = arg;
	r->http_pending = false;
	if (!r->s) {
		if (r->timer_closed)
			req_free(r);
		return;
	}
	struct sn_conn *s = r->s;
	if (conn_answer_may_have_acted(resp, resp->status == 429))
		r->may_have_acted = true;
	if (r->pace_held) {
		r->pace_held = false;
		pace_done(&s->pace, resp->status != 429);
	}
	char *what = sn_req_what(r);
	if (resp->status == 429)
		answer_rate_limited(r, resp, what);
	else if (resp->status == 0 || resp->status >= 500)
		answer_failed(r, resp, what);
	else if (resp->status >= 200 && resp->status < 300)
		sn_handle_ok(r, resp, what);
	else
		answer_status(r, resp, what);
	free(what);
}

static int send_now(struct sn_req *r)
{
	struct sn_conn *s = r->s;
	const char *auth = sn_auth_header(r);
	if (!auth)
		return 0; /* queued for an access token: sent again from there */
	const char *headers[] = { auth, "Accept: application/json",
	                          "Content-Type: application/json", NULL };
	struct http_request hr = {
		.method = r->method, .url = r->url, .headers = headers,
		.body = r->body, .body_len = r->body ? strlen(r->body) : 0,
		.timeout_ms = s->timeout_ms, .ca_file = s->ca_file,
		.not_idempotent = r->kind == SN_COMMENT,
	};
	int rc = http_send_id(s->base.http, &hr, http_done, r, &r->http_id);
	if (rc < 0)
		return rc;
	r->attempt++;
	r->http_pending = true;
	r->state = SNR_INFLIGHT;
	switch (r->kind) {
	case SN_LIST: s->base.n_list++; break;
	case SN_FETCH: case SN_FETCH_NUMBER: s->base.n_get++; break;
	case SN_FIND: case SN_PARENT: s->base.n_search++; break;
	case SN_CREATE: s->base.n_create++; break;
	case SN_UPDATE: case SN_UPDATE_STATE: s->base.n_update++; break;
	case SN_COMMENT: s->base.n_comment++; break;
	case SN_COMMENT_FIND: s->base.n_get++; break;
	default: abort();
	}
	return 0;
}

int sn_req_send_now(struct sn_req *r)
{
	return send_now(r);
}

void sn_req_fail_start(struct sn_req *r, const char *doing, int rc)
{
	char *what = sn_req_what(r);
	char *msg = xasprintf("%s: could not %s: %s", what, doing, strerror(-rc));
	sn_req_fail(r, CONN_ERROR, 0, 0, msg);
	free(msg);
	free(what);
}

static void pace_go(struct pace_wait *w)
{
	struct sn_req *r = container_of(w, struct sn_req, pw);
	if (r->state != SNR_PACED)
		abort();
	r->pace_held = true;
	int rc = send_now(r);
	if (rc < 0)
		sn_req_fail_start(r, "start", rc);
}

int sn_req_send(struct sn_req *r)
{
	if (kind_writes(r->kind)) {
		r->state = SNR_PACED;
		pace_enqueue(&r->s->pace, &r->pw, r->kind == SN_CREATE, pace_go);
		return 0;
	}
	return send_now(r);
}

void sn_req_resend(struct sn_req *r)
{
	r->attempt = 0;
	r->state = SNR_NEW;
	int rc = sn_req_send(r);
	if (rc < 0)
		sn_req_fail_start(r, "send", rc);
}

void sn_req_fail_soon(struct sn_req *r, const char *msg)
{
	free(r->fail_later);
	r->fail_later = xstrdup(msg);
	r->unsendable = true;
	r->state = SNR_WAITING;
	uv_timer_start(&r->timer, req_timer_cb, 0, 0);
}

static void req_timer_cb(uv_timer_t *t)
{
	struct sn_req *r = t->data;
	if (r->state != SNR_WAITING)
		abort();
	if (r->fail_later) {
		char *msg = r->fail_later;
		r->fail_later = NULL;
		sn_req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
		return;
	}
	r->state = SNR_NEW;
	int rc = sn_req_send(r);
	if (rc < 0)
		sn_req_fail_start(r, "start a retry", rc);
}
