/* github_req.c — the GitHub connector's request machinery: request life
 * cycle, the max_inflight queue, sending, retries with back-off and rate
 * limits.  See github_req.h for the state machine and github.c for the
 * operations and the answers.
 *
 * Retry facts (GitHub REST API docs, API version 2022-11-28): 403/429
 * with retry-after or x-ratelimit-remaining: 0 are rate limits, waited out
 * here only when the wait is at most backoff_max_ms and attempts remain.
 * A create is retried after a rate limit (GitHub did not act) and after a
 * connection that was never made (refused, DNS); after any other
 * transport error or a 5xx it is CONN_UNKNOWN.
 */
#include "github_req.h"
#include "github_body.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void req_timer_cb(uv_timer_t *t);
static void on_http(const struct http_response *resp, void *arg);

/* ---- request life cycle ---- */

static void req_free(struct gh_req *r)
{
	free(r->url);
	free(r->body);
	free(r->if_none_match);
	free(r->repo);
	free(r->fail_msg);
	free(r->first_etag);
	for (size_t i = 0; i < r->n_edge; i++)
		free(r->edge_ids[i]);
	free(r->edge_ids);
	free(r->list_url);
	free(r->close_json);
	free(r->created_key);
	free(r->want_owner);
	free(r->owner_refused);
	free(r->moved_from);
	free(r->marker);
	free(r->label);
	free(r->label_key);
	free(r->label_extra);
	json_object_put(r->upd_want);
	json_object_put(r->upd_issue);
	free(r->upd_next_url);
	free(r->upd_next_body);
	gh_project_pass_free(r->proj);
	free(r);
}

static void req_close_cb(uv_handle_t *h)
{
	struct gh_req *r = container_of((uv_timer_t *)h, struct gh_req, timer);
	r->timer_closed = true;
	if (!r->http_pending)
		req_free(r);
}

struct gh_req *gh_req_new(struct gh_conn *g, enum gh_kind kind, const char *method,
                          char *url, const char *repo, void *arg)
{
	struct gh_req *r = xcalloc(1, sizeof(*r));
	r->g = g;
	r->kind = kind;
	r->method = method;
	r->url = url;
	r->repo = xstrdup(repo);
	r->arg = arg;
	r->state = GHR_NEW;
	/* uv_timer_init only fills in the handle on a live loop */
	if (uv_timer_init(g->base.loop, &r->timer) < 0)
		abort();
	LIST_INSERT_HEAD(&g->reqs, r, all);
	return r;
}

/* Take r out of its connector for good; the timer closes (freeing r once
 * the HTTP answer, if any, is in). */
static void req_detach(struct gh_req *r)
{
	struct gh_conn *g = r->g;
	switch (r->state) {
	case GHR_QUEUED:
		TAILQ_REMOVE(&g->queue, r, qlink);
		break;
	case GHR_PACED:
		pace_remove(&g->pace, &r->pw);
		break;
	case GHR_INFLIGHT:
		/* abort this request's own transfer (no other connector's):
		 * on_http then only frees r */
		http_cancel(g->base.http, r->http_id);
		g->inflight--;
		if (r->pace_held) {
			r->pace_held = false;
			pace_done(&g->pace, true);
		}
		break;
	case GHR_NEW:
	case GHR_WAITING:
		break;
	case GHR_FINISHED:
	default:
		abort();
	}
	LIST_REMOVE(r, all);
	r->g = NULL;
	r->state = GHR_FINISHED;
	uv_close((uv_handle_t *)&r->timer, req_close_cb);
}

/* Report the outcome of an item request (remote only with CONN_OK). */
void gh_req_finish_item(struct gh_req *r, const struct conn_result *res,
                        const struct conn_remote *remote)
{
	struct connector *c = &r->g->base;
	req_detach(r);
	r->item_cb(c, res, remote, r->arg);
}

void gh_req_finish_comment(struct gh_req *r, const struct conn_result *res,
                           const struct conn_comment *comment)
{
	struct connector *c = &r->g->base;
	req_detach(r);
	r->comment_cb(c, res, comment, r->arg);
}

/* Report a listing page; last=true finishes the request. */
void gh_req_deliver_page(struct gh_req *r, const struct conn_result *res,
                         struct conn_page *page)
{
	struct connector *c = &r->g->base;
	struct conn_result rr = *res;
	char *moved_to = r->list_renamed ? xstrdup(r->repo) : NULL;
	rr.moved_to = moved_to;
	page->etag = r->first_etag;
	if (page->last && (res->status == CONN_OK || res->status == CONN_NOT_MODIFIED))
		page->board = gh_project_board(r); /* what the listing read of the board */
	if (page->last)
		req_detach(r);
	r->list_cb(c, &rr, page, r->arg);
	free(moved_to);
}

void gh_req_fail(struct gh_req *r, enum conn_status st, long http_status,
                 int64_t retry_after_ms, const char *msg)
{
	struct conn_result res = { .status = st, .http_status = http_status,
	                           .error = msg, .retry_after_ms = retry_after_ms,
	                           .unsent = !r->may_have_acted && !r->http_pending };
	if (gh_project_failed(r, msg)) /* a listing's project pass: the listing goes on */
		return;
	if (r->kind == GH_LIST || r->kind == GH_GRAPHQL) {
		struct conn_page page = { .last = true };
		gh_req_deliver_page(r, &res, &page);
	} else if (r->kind == GH_COMMENT || r->kind == GH_COMMENT_FIND) {
		gh_req_finish_comment(r, &res, NULL);
	} else {
		gh_req_finish_item(r, &res, NULL);
	}
}

/* Fail from the loop, later (for failures found where the contract
 * forbids calling back). */
void gh_req_fail_later(struct gh_req *r, enum conn_status st, const char *msg)
{
	r->state = GHR_WAITING;
	r->timer_fail = true;
	r->fail_status = st;
	r->fail_retry_ms = 0;
	str_replace(&r->fail_msg, msg);
	uv_timer_start(&r->timer, req_timer_cb, 0, 0);
}

/* "GET /repos/acme/k8s/issues" for error sentences: no host, no query. */
char *gh_req_what(const struct gh_req *r, const char *base_url)
{
	const char *p = r->url;
	if (base_url && strncmp(p, base_url, strlen(base_url)) == 0)
		p += strlen(base_url);
	size_t n = strcspn(p, "?");
	return xasprintf("%s %.*s", r->method, (int)n, p);
}

static int req_send(struct gh_req *r)
{
	struct gh_conn *g = r->g;
	const char *hdrs[8];
	size_t n = 0;
	char *inm = NULL;
	int rc;

	hdrs[n++] = g->auth_header;
	hdrs[n++] = "Accept: application/vnd.github+json";
	hdrs[n++] = g->version_header;
	hdrs[n++] = g->ua_header;
	if (r->body)
		hdrs[n++] = "Content-Type: application/json";
	if (r->if_none_match) {
		inm = xasprintf("If-None-Match: %s", r->if_none_match);
		hdrs[n++] = inm;
	}
	hdrs[n] = NULL;
	struct http_request req = {
		.method = r->method, .url = r->url, .headers = hdrs,
		.body = r->body, .body_len = r->body ? strlen(r->body) : 0,
		.timeout_ms = g->timeout_ms, .ca_file = g->ca_file,
	};
	rc = http_send_id(g->base.http, &req, on_http, r, &r->http_id);
	free(inm);
	if (rc < 0)
		return rc;
	if (r->attempt == 0) {
		switch (r->kind) {
		case GH_LIST: g->base.n_list++; break;
		case GH_FETCH: g->base.n_get++; break;
		case GH_CREATE: g->base.n_create++; break;
		case GH_CREATE_CLOSE:
		case GH_UPDATE:
		case GH_LABEL: g->base.n_update++; break;
		case GH_COMMENT: g->base.n_comment++; break;
		case GH_COMMENT_FIND: g->base.n_list++; break;
		case GH_GRAPHQL: g->base.n_list++; gh_project_sent(r); break;
		case GH_SEARCH: g->base.n_search++; break;
		default: abort();
		}
	}
	r->attempt++;
	r->http_pending = true;
	r->state = GHR_INFLIGHT;
	g->inflight++;
	return 0;
}

bool gh_kind_writes(enum gh_kind k, bool *creates)
{
	*creates = k == GH_CREATE || k == GH_COMMENT;
	switch (k) {
	case GH_CREATE: case GH_CREATE_CLOSE: case GH_UPDATE: case GH_COMMENT: case GH_LABEL:
		return true;
	case GH_LIST: case GH_FETCH: case GH_COMMENT_FIND: case GH_SEARCH: case GH_GRAPHQL:
		return false;
	default:
		abort();
	}
}

/* The pacer says this write may go: send it (it holds the pacer until
 * its answer is in, so writes go one at a time). */
static void on_pace_go(struct pace_wait *w)
{
	struct gh_req *r = container_of(w, struct gh_req, pw);
	struct gh_conn *g = r->g;
	if (r->state != GHR_PACED)
		abort();
	r->state = GHR_NEW;
	int rc = req_send(r);
	if (rc == 0) {
		r->pace_held = true;
		return;
	}
	pace_done(&g->pace, true);
	char *what = gh_req_what(r, g->base_url);
	char *msg = xasprintf("%s: could not start: %s", what, strerror(-rc));
	gh_req_fail_later(r, CONN_ERROR, msg);
	free(msg);
	free(what);
}

/* A create waits in the pacer for room in its budgets (per minute, per
 * hour) at most this long; beyond it, it is handed back as rate limited. */
#define GH_BUDGET_WAIT_MAX_MS (5 * 60 * 1000)

/* Fail r from the loop: not sent, the connector is stopped for wait ms. */
static void req_fail_stopped(struct gh_req *r, int64_t wait)
{
	char *what = gh_req_what(r, r->g->base_url);
	char *msg = xasprintf("%s: not sent: the connector is rate limited for %" PRId64 " s",
	                      what, (wait + 999) / 1000);
	gh_req_fail_later(r, CONN_RATE_LIMITED, msg);
	r->fail_retry_ms = wait;
	free(msg);
	free(what);
}

/* The connector is stopped by a rate limit (pace_blocked_ms):
 * a request then waits for it when that is within backoff_max_ms, else
 * fails at once (from the loop) with CONN_RATE_LIMITED, so that a listing
 * of the next target or the next cycle does not ask GitHub again.
 * Returns true when r was taken care of. */
static bool req_blocked(struct gh_req *r)
{
	struct gh_conn *g = r->g;
	int64_t wait = pace_blocked_ms(&g->pace);
	if (wait <= 0)
		return false;
	if (wait <= g->backoff_max_ms) {
		r->state = GHR_WAITING;
		r->timer_fail = false;
		uv_timer_start(&r->timer, req_timer_cb, (uint64_t)wait, 0);
		return true;
	}
	req_fail_stopped(r, wait);
	return true;
}

int gh_req_submit(struct gh_req *r)
{
	struct gh_conn *g = r->g;
	bool creates;
	if (req_blocked(r))
		return 0;
	if (gh_kind_writes(r->kind, &creates)) {
		int64_t wait = creates ? pace_create_wait(&g->pace) : 0;
		if (wait > GH_BUDGET_WAIT_MAX_MS) {
			/* the creation budget is spent for longer than a cycle should
			 * wait: handed back unsent, a later cycle creates it */
			req_fail_stopped(r, wait);
			return 0;
		}
		r->state = GHR_PACED;
		/* a create's closing PATCH, an update's label steps and
		 * retries do not queue again behind every write sent for since */
		if (r->kind == GH_CREATE_CLOSE || r->attempt > 0 || r->upd_step)
			pace_enqueue_first(&g->pace, &r->pw, creates, on_pace_go);
		else
			pace_enqueue(&g->pace, &r->pw, creates, on_pace_go);
		return 0;
	}
	if (g->inflight < g->max_inflight)
		return req_send(r);
	r->state = GHR_QUEUED;
	TAILQ_INSERT_TAIL(&g->queue, r, qlink);
	return 0;
}

static void req_prepare(struct gh_req *r, enum gh_kind kind, const char *method, char *url,
                        char *body, char *etag)
{
	free(r->url);
	r->url = url;
	free(r->body);
	r->body = body;
	free(r->if_none_match);
	r->if_none_match = etag;
	r->kind = kind;
	r->method = method;
	r->attempt = 0;
}

int gh_req_next(struct gh_req *r, enum gh_kind kind, const char *method, char *url, char *body)
{
	req_prepare(r, kind, method, url, body, NULL);
	return gh_req_submit(r);
}

int gh_req_next_get_if(struct gh_req *r, char *url, char *etag)
{
	req_prepare(r, r->kind, "GET", url, NULL, etag);
	return gh_req_submit(r);
}

/* Start queued requests while there is room.  Never calls back. */
void gh_pump(struct gh_conn *g)
{
	while (!TAILQ_EMPTY(&g->queue) && g->inflight < g->max_inflight) {
		struct gh_req *r = TAILQ_FIRST(&g->queue);
		TAILQ_REMOVE(&g->queue, r, qlink);
		r->state = GHR_NEW;
		int rc = req_send(r);
		if (rc < 0) {
			char *what = gh_req_what(r, g->base_url);
			char *msg = xasprintf("%s: could not start: %s", what, strerror(-rc));
			gh_req_fail_later(r, CONN_ERROR, msg);
			free(msg);
			free(what);
		}
	}
}

/* Start a new operation: on failure r is discarded without a callback. */
int gh_req_start(struct gh_req *r)
{
	int rc = gh_req_submit(r);
	if (rc < 0)
		req_detach(r);
	return rc;
}

/* ---- retries ---- */

static int64_t backoff_delay(struct gh_conn *g, int attempt)
{
	int64_t d = g->backoff_base_ms;
	for (int i = 1; i < attempt && d < g->backoff_max_ms; i++)
		d *= 2;
	if (d > g->backoff_max_ms)
		d = g->backoff_max_ms;
	/* "equal jitter": uniformly in [d/2, d] (xorshift64) */
	g->rng ^= g->rng << 13;
	g->rng ^= g->rng >> 7;
	g->rng ^= g->rng << 17;
	int64_t half = d / 2;
	return half + (half > 0 ? (int64_t)(g->rng % (uint64_t)(half + 1)) : 0);
}

/* Wait delay_ms, then send again.  why says what went wrong; the line is a
 * warning because an operator wants to see a tracker that misbehaves even
 * when the retry then works. */
static void req_retry_in(struct gh_req *r, const char *what, const char *why, int64_t delay_ms)
{
	log_conn(LOG_LVL_WARN, r->g->base.name, "%s: %s; retrying in %" PRId64 " ms (attempt %d of %d)",
	         what, why, delay_ms, r->attempt + 1, r->g->max_attempts);
	r->g->base.n_retries++;
	r->state = GHR_WAITING;
	r->timer_fail = false;
	uv_timer_start(&r->timer, req_timer_cb, (uint64_t)(delay_ms > 0 ? delay_ms : 0), 0);
}

static void req_timer_cb(uv_timer_t *t)
{
	struct gh_req *r = container_of(t, struct gh_req, timer);
	if (r->state != GHR_WAITING)
		abort();
	if (r->timer_fail) {
		char *msg = r->fail_msg;
		r->fail_msg = NULL;
		gh_req_fail(r, r->fail_status, 0, r->fail_retry_ms, msg);
		free(msg);
		return;
	}
	r->state = GHR_NEW;
	int rc = gh_req_submit(r);
	if (rc < 0) {
		char *what = gh_req_what(r, r->g->base_url);
		char *msg = xasprintf("%s: could not start a retry: %s", what, strerror(-rc));
		gh_req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
		free(what);
	}
}

/* ---- failures ---- */

/* Final failure; a failed close after a create becomes CONN_UNKNOWN: the
 * issue exists, reconcile finds it by its token and fixes its state. */
void gh_req_fail_final(struct gh_req *r, enum conn_status st, long http_status,
                       int64_t retry_after_ms, const char *msg)
{
	if (r->kind == GH_CREATE_CLOSE) {
		char *m = xasprintf("created %s but could not close it: %s", r->created_key, msg);
		gh_req_fail(r, CONN_UNKNOWN, http_status, retry_after_ms, m);
		free(m);
		return;
	}
	gh_req_fail(r, st, http_status, retry_after_ms, msg);
}

/* Transport failures where the request never reached the server, so even
 * a create can be retried. */
static bool request_unsent(const struct http_response *resp)
{
	return resp->status == 0 && !conn_answer_may_have_acted(resp, false);
}

void gh_req_retry_or_fail(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct gh_conn *g = r->g;
	char *msg;
	if (resp->status == 0 && resp->curl_code == CURLE_ABORTED_BY_CALLBACK) {
		msg = xasprintf("%s: cancelled", what);
		gh_req_fail_final(r, CONN_ERROR, 0, 0, msg);
	} else if (resp->status == 0 && http_error_is_certificate(resp->curl_code)) {
		/* a certificate does not heal between attempts: not retried */
		msg = xasprintf("%s: TLS certificate not accepted (%s); not retried: set the "
		                "connector's ca_file to the CA that signed %s, or fix the "
		                "server's certificate", what, resp->error ? resp->error : "?",
		                g->base_url);
		gh_req_fail_final(r, CONN_ERROR, 0, 0, msg);
	} else if ((r->kind == GH_CREATE || r->kind == GH_COMMENT) && !request_unsent(resp)) {
		const char *thing = r->kind == GH_CREATE ? "issue" : "comment";
		if (resp->status)
			msg = xasprintf("%s: HTTP %ld; the %s may have been created", what,
			                resp->status, thing);
		else
			msg = xasprintf("%s: %s; the %s may have been created", what, resp->error, thing);
		gh_req_fail(r, CONN_UNKNOWN, resp->status, 0, msg);
	} else if (r->attempt < g->max_attempts) {
		char why[256];
		if (resp->status)
			snprintf(why, sizeof(why), "HTTP %ld", resp->status);
		else
			snprintf(why, sizeof(why), "%s", resp->error ? resp->error : "transport error");
		req_retry_in(r, what, why, backoff_delay(g, r->attempt));
		return;
	} else {
		if (resp->status)
			msg = xasprintf("%s: HTTP %ld after %d attempts", what, resp->status, r->attempt);
		else
			msg = xasprintf("%s: %s after %d attempts", what, resp->error, r->attempt);
		gh_req_fail_final(r, CONN_ERROR, resp->status, 0, msg);
	}
	free(msg);
}

/* A stop longer than backoff_max_ms: the writes waiting in the pacer
 * fail now with CONN_RATE_LIMITED instead of waiting for it. */
static void pace_flush(struct gh_conn *g, int64_t wait)
{
	struct gh_req *r;
	LIST_FOREACH(r, &g->reqs, all) {
		if (r->state != GHR_PACED)
			continue;
		pace_remove(&g->pace, &r->pw);
		req_fail_stopped(r, wait);
	}
}

void gh_req_rate_limited(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct gh_conn *g = r->g;
	int64_t now = ts_now_ms();
	int64_t wait = gh_rate_limit_wait_ms(resp, now);
	/* the search API has its own budget (x-ratelimit-resource: search):
	 * running out of it stops searches, not the connector */
	const char *res = http_response_header(resp, "x-ratelimit-resource");
	bool whole = !res || (strcmp(res, "search") != 0 && strcmp(res, "graphql") != 0);
	/* connector-wide: every target and later cycles wait too */
	if (wait < 0)
		wait = pace_block_backoff(&g->pace); /* secondary limit: >= 60 s, doubling */
	else if (whole)
		pace_block_for(&g->pace, wait);
	else if (strcmp(res, "graphql") == 0) /* project passes wait, REST goes on */
		g->graphql_blocked_until = ts_mono_ms() + wait;
	g->base.n_rate_limited++;
	if (whole && wait > g->backoff_max_ms)
		pace_flush(g, wait);
	if (r->attempt < g->max_attempts && wait <= g->backoff_max_ms) {
		char why[64];
		snprintf(why, sizeof(why), "rate limited (HTTP %ld)", resp->status);
		req_retry_in(r, what, why, wait);
		return;
	}
	char *msg = xasprintf("%s: rate limited (HTTP %ld), retry in %" PRId64 " s", what,
	                      resp->status, (wait + 999) / 1000);
	gh_req_fail_final(r, CONN_RATE_LIMITED, resp->status, wait, msg);
	free(msg);
}

/* ---- the HTTP answer ---- */

static void on_http(const struct http_response *resp, void *arg)
{
	struct gh_req *r = arg;
	struct gh_conn *g = r->g;
	r->http_pending = false;
	if (!g) { /* cancelled or destroyed meanwhile: nobody to tell */
		if (r->timer_closed)
			req_free(r);
		return;
	}
	if (r->state != GHR_INFLIGHT)
		abort();
	g->inflight--;
	r->state = GHR_NEW;
	gh_note_budget(&g->base, resp);
	if (conn_answer_may_have_acted(resp, gh_is_rate_limited(resp)))
		r->may_have_acted = true;
	if (r->pace_held) {
		r->pace_held = false;
		pace_done(&g->pace, !gh_is_rate_limited(resp));
	}
	gh_pump(g);
	char *what = gh_req_what(r, g->base_url);
	log_conn(LOG_LVL_DEBUG, g->base.name, "%s -> %ld (%" PRId64 " ms, attempt %d)",
	         what, resp->status, resp->elapsed_ms, r->attempt);
	gh_handle_answer(r, resp, what);
	free(what);
}
