/* github.c — the GitHub REST connector (see connector.h for the contract,
 * github_body.h for the field mapping, DESIGN.md "GitHub REST").
 *
 * Every operation is one struct gh_req, an explicit little state machine:
 *
 *   NEW -> QUEUED (max_inflight reached) -> INFLIGHT -> WAITING (retry
 *   timer) -> INFLIGHT ... -> FINISHED
 *
 * A request owns a uv_timer_t (retry back-off, deferred failures) and is
 * freed in that timer's close callback once the HTTP client has also
 * answered (http_send's callback comes exactly once).  A finished request
 * is detached from its connector (r->g = NULL), so a late HTTP answer
 * after cancel() or destroy() touches nothing but the request itself.
 *
 * User callbacks are called from three places only: the HTTP answer of
 * that request, its own timer, and cancel().  After a user callback that
 * may have destroyed the connector, only the request is touched.
 *
 * Request facts (GitHub REST API docs, API version 2022-11-28):
 *   Authorization: Bearer <token>; Accept: application/vnd.github+json;
 *   X-GitHub-Api-Version; list issues with state=all&sort=updated&
 *   direction=asc&per_page=100&since=<ISO 8601>; paginate with the Link
 *   header exactly as given; 304 on If-None-Match does not count against
 *   the primary rate limit; 403/429 with retry-after or
 *   x-ratelimit-remaining: 0 are rate limits; 301 = transferred,
 *   404/410 = deleted.
 *
 * Decisions beyond connector.h:
 *   - a create is retried after a rate limit (GitHub did not act) and
 *     after a connection that was never made (refused, DNS); after any
 *     other transport error, a 5xx, or a 2xx whose body we cannot read, it
 *     is CONN_UNKNOWN: the issue may exist, reconcile finds it by token;
 *   - GitHub creates issues open: an item created done/wont_do gets a
 *     follow-up PATCH closing it; if that fails, the create reports
 *     CONN_UNKNOWN naming the created issue (reconcile fixes the state);
 *   - a rate limit is waited out here only when the wait is at most
 *     backoff_max_ms and attempts remain; otherwise CONN_RATE_LIMITED with
 *     retry_after_ms;
 *   - a Link rel="next" outside base_url is refused (CONN_BAD_RESPONSE):
 *     the token is only ever sent to the configured API;
 *   - an update whose mask holds nothing GitHub stores is answered with a
 *     plain GET of the issue.
 */
#include "connector.h"
#include "github_body.h"
#include "http.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define GH_DEFAULT_API_VERSION "2022-11-28"
#ifdef CLOSELOOP_VERSION
#define GH_VERSION CLOSELOOP_VERSION
#else
#define GH_VERSION "0"
#endif

enum gh_kind {
	GH_LIST = 0,
	GH_FETCH,
	GH_CREATE,        /* POST: never retried after a possible effect */
	GH_CREATE_CLOSE,  /* PATCH closing an issue just created closed */
	GH_UPDATE,
};

enum gh_req_state {
	GHR_NEW = 0,
	GHR_QUEUED,
	GHR_INFLIGHT,
	GHR_WAITING,   /* timer armed: retry or deferred failure */
	GHR_FINISHED,
};

struct gh_conn;

struct gh_req {
	struct gh_conn *g;            /* NULL once finished */
	struct gh_req *prev, *next;   /* g->reqs */
	struct gh_req *qnext;         /* g->queue */
	enum gh_kind kind;
	enum gh_req_state state;
	const char *method;           /* static */
	char *url;
	char *body;
	char *if_none_match;
	char *repo;
	int attempt;                  /* sends of the current request */
	uv_timer_t timer;
	bool timer_fail;              /* timer delivers fail_* instead of retrying */
	enum conn_status fail_status;
	char *fail_msg;
	bool http_pending;
	bool timer_closed;
	bool cancel_mark;
	bool first_page;
	char *first_etag;
	conn_list_cb list_cb;
	conn_item_cb item_cb;
	void *arg;
	char *close_json;             /* GH_CREATE: follow-up PATCH body */
	char *created_key;
};

struct gh_conn {
	struct connector base;
	char *base_url;
	char *auth_header;   /* holds the token: never logged */
	char *version_header;
	char *ua_header;
	int max_attempts;
	int64_t backoff_base_ms, backoff_max_ms, timeout_ms;
	int max_inflight;
	int inflight;
	struct gh_req *reqs;
	struct gh_req *qhead, *qtail;
	uint64_t rng;
	int cancel_depth;       /* cancel() running (callbacks may nest) */
	bool destroy_pending;   /* destroy() called: no new operations */
};

static void req_timer_cb(uv_timer_t *t);
static void on_http(const struct http_response *resp, void *arg);
static int req_submit(struct gh_req *r) MUST_CHECK;

/* ---- request life cycle ---- */

static void req_free(struct gh_req *r)
{
	free(r->url);
	free(r->body);
	free(r->if_none_match);
	free(r->repo);
	free(r->fail_msg);
	free(r->first_etag);
	free(r->close_json);
	free(r->created_key);
	free(r);
}

static void req_close_cb(uv_handle_t *h)
{
	struct gh_req *r = container_of((uv_timer_t *)h, struct gh_req, timer);
	r->timer_closed = true;
	if (!r->http_pending)
		req_free(r);
}

static struct gh_req *req_new(struct gh_conn *g, enum gh_kind kind, const char *method,
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
	r->next = g->reqs;
	if (g->reqs)
		g->reqs->prev = r;
	g->reqs = r;
	return r;
}

static void queue_remove(struct gh_conn *g, struct gh_req *r)
{
	struct gh_req **pp = &g->qhead, *prev = NULL;
	while (*pp && *pp != r) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (!*pp)
		return;
	*pp = r->qnext;
	if (g->qtail == r)
		g->qtail = prev;
	r->qnext = NULL;
}

/* Take r out of its connector for good; the timer closes (freeing r once
 * the HTTP answer, if any, is in). */
static void req_detach(struct gh_req *r)
{
	struct gh_conn *g = r->g;
	switch (r->state) {
	case GHR_QUEUED:
		queue_remove(g, r);
		break;
	case GHR_INFLIGHT:
		g->inflight--;
		break;
	case GHR_NEW:
	case GHR_WAITING:
		break;
	case GHR_FINISHED:
	default:
		abort();
	}
	if (r->prev)
		r->prev->next = r->next;
	else
		g->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->g = NULL;
	r->state = GHR_FINISHED;
	uv_close((uv_handle_t *)&r->timer, req_close_cb);
}

/* Report the outcome of an item request (remote only with CONN_OK). */
static void req_finish_item(struct gh_req *r, const struct conn_result *res,
                            const struct conn_remote *remote)
{
	struct connector *c = &r->g->base;
	req_detach(r);
	r->item_cb(c, res, remote, r->arg);
}

/* Report a listing page; last=true finishes the request. */
static void req_deliver_page(struct gh_req *r, const struct conn_result *res,
                             struct conn_page *page)
{
	struct connector *c = &r->g->base;
	page->etag = r->first_etag;
	if (page->last)
		req_detach(r);
	r->list_cb(c, res, page, r->arg);
}

static void req_fail(struct gh_req *r, enum conn_status st, long http_status,
                     int64_t retry_after_ms, const char *msg)
{
	struct conn_result res = { .status = st, .http_status = http_status,
	                           .error = msg, .retry_after_ms = retry_after_ms };
	if (r->kind == GH_LIST) {
		struct conn_page page = { .last = true };
		req_deliver_page(r, &res, &page);
	} else {
		req_finish_item(r, &res, NULL);
	}
}

/* Fail from the loop, later (for failures found where the contract
 * forbids calling back). */
static void req_fail_later(struct gh_req *r, enum conn_status st, const char *msg)
{
	r->state = GHR_WAITING;
	r->timer_fail = true;
	r->fail_status = st;
	str_replace(&r->fail_msg, msg);
	uv_timer_start(&r->timer, req_timer_cb, 0, 0);
}

/* "GET /repos/acme/k8s/issues" for error sentences: no host, no query. */
static char *req_what(const struct gh_req *r, const char *base_url)
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
		.timeout_ms = g->timeout_ms,
	};
	rc = http_send(g->base.http, &req, on_http, r);
	free(inm);
	if (rc < 0)
		return rc;
	if (r->attempt == 0) {
		switch (r->kind) {
		case GH_LIST: g->base.n_list++; break;
		case GH_FETCH: g->base.n_get++; break;
		case GH_CREATE: g->base.n_create++; break;
		case GH_CREATE_CLOSE:
		case GH_UPDATE: g->base.n_update++; break;
		default: abort();
		}
	}
	r->attempt++;
	r->http_pending = true;
	r->state = GHR_INFLIGHT;
	g->inflight++;
	return 0;
}

static int req_submit(struct gh_req *r)
{
	struct gh_conn *g = r->g;
	if (g->inflight < g->max_inflight)
		return req_send(r);
	r->state = GHR_QUEUED;
	r->qnext = NULL;
	if (g->qtail)
		g->qtail->qnext = r;
	else
		g->qhead = r;
	g->qtail = r;
	return 0;
}

/* Start queued requests while there is room.  Never calls back. */
static void pump(struct gh_conn *g)
{
	while (g->qhead && g->inflight < g->max_inflight) {
		struct gh_req *r = g->qhead;
		g->qhead = r->qnext;
		if (!g->qhead)
			g->qtail = NULL;
		r->qnext = NULL;
		r->state = GHR_NEW;
		int rc = req_send(r);
		if (rc < 0) {
			char *what = req_what(r, g->base_url);
			char *msg = xasprintf("%s: could not start: %s", what, strerror(-rc));
			req_fail_later(r, CONN_ERROR, msg);
			free(msg);
			free(what);
		}
	}
}

/* Start a new operation: on failure r is discarded without a callback. */
static int req_start(struct gh_req *r)
{
	int rc = req_submit(r);
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

static void req_retry_in(struct gh_req *r, int64_t delay_ms)
{
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
		req_fail(r, r->fail_status, 0, 0, msg);
		free(msg);
		return;
	}
	r->state = GHR_NEW;
	int rc = req_submit(r);
	if (rc < 0) {
		char *what = req_what(r, r->g->base_url);
		char *msg = xasprintf("%s: could not start a retry: %s", what, strerror(-rc));
		req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
		free(what);
	}
}


/* ---- answers ---- */

/* Final failure; a failed close after a create becomes CONN_UNKNOWN: the
 * issue exists, reconcile finds it by its token and fixes its state. */
static void fail_final(struct gh_req *r, enum conn_status st, long http_status,
                       int64_t retry_after_ms, const char *msg)
{
	if (r->kind == GH_CREATE_CLOSE) {
		char *m = xasprintf("created %s but could not close it: %s", r->created_key, msg);
		req_fail(r, CONN_UNKNOWN, http_status, retry_after_ms, m);
		free(m);
		return;
	}
	req_fail(r, st, http_status, retry_after_ms, msg);
}

/* Transport failures where the request never reached the server, so even
 * a create can be retried. */
static bool request_unsent(const struct http_response *resp)
{
	return resp->status == 0 && (resp->curl_code == CURLE_COULDNT_CONNECT ||
	                             resp->curl_code == CURLE_COULDNT_RESOLVE_HOST ||
	                             resp->curl_code == CURLE_COULDNT_RESOLVE_PROXY);
}

static void retry_or_fail(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct gh_conn *g = r->g;
	char *msg;
	if (resp->status == 0 && resp->curl_code == CURLE_ABORTED_BY_CALLBACK) {
		msg = xasprintf("%s: cancelled", what);
		fail_final(r, CONN_ERROR, 0, 0, msg);
	} else if (r->kind == GH_CREATE && !request_unsent(resp)) {
		if (resp->status)
			msg = xasprintf("%s: HTTP %ld; the issue may have been created", what, resp->status);
		else
			msg = xasprintf("%s: %s; the issue may have been created", what, resp->error);
		req_fail(r, CONN_UNKNOWN, resp->status, 0, msg);
	} else if (r->attempt < g->max_attempts) {
		req_retry_in(r, backoff_delay(g, r->attempt));
		return;
	} else {
		if (resp->status)
			msg = xasprintf("%s: HTTP %ld after %d attempts", what, resp->status, r->attempt);
		else
			msg = xasprintf("%s: %s after %d attempts", what, resp->error, r->attempt);
		fail_final(r, CONN_ERROR, resp->status, 0, msg);
	}
	free(msg);
}

static void rate_limited(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct gh_conn *g = r->g;
	int64_t wait = gh_rate_limit_wait_ms(resp, ts_now_ms());
	if (wait < 0)
		wait = backoff_delay(g, r->attempt);
	if (r->attempt < g->max_attempts && wait <= g->backoff_max_ms) {
		req_retry_in(r, wait);
		return;
	}
	char *msg = xasprintf("%s: rate limited (HTTP %ld), retry in %" PRId64 " s", what,
	                      resp->status, (wait + 999) / 1000);
	fail_final(r, CONN_RATE_LIMITED, resp->status, wait, msg);
	free(msg);
}

/* Parse an issue answer into out.  Returns 0, or -EINVAL with *msg. */
static int parse_issue(struct gh_req *r, const struct http_response *resp, const char *what,
                       struct conn_remote *out, char **msg)
{
	enum json_tokener_error jerr = json_tokener_success;
	struct json_object *o = json_tokener_parse_verbose(resp->body, &jerr);
	const char *err = NULL;
	int rc;
	if (!o) {
		*msg = xasprintf("%s: HTTP %ld but the body is not JSON (%s)", what, resp->status,
		                 json_tokener_error_desc(jerr));
		conn_remote_init(out);
		return -EINVAL;
	}
	rc = gh_issue_to_remote(o, r->repo, out, &err);
	json_object_put(o);
	if (rc < 0) {
		*msg = xasprintf("%s: HTTP %ld but %s", what, resp->status, err);
		return rc;
	}
	str_replace(&out->etag, http_response_header(resp, "etag"));
	return 0;
}

/* After the POST: close the new issue if it was created done/wont_do. */
static void create_then_close(struct gh_req *r, const struct conn_remote *rem)
{
	long number = 0;
	char *msg;
	if (gh_key_number(rem->key, &number) < 0)
		abort(); /* gh_issue_to_remote always writes "repo#N" */
	free(r->url);
	r->url = xasprintf("%s/repos/%s/issues/%ld", r->g->base_url, r->repo, number);
	free(r->body);
	r->body = r->close_json;
	r->close_json = NULL;
	r->created_key = xstrdup(rem->key);
	r->kind = GH_CREATE_CLOSE;
	r->method = "PATCH";
	r->attempt = 0;
	int rc = req_submit(r);
	if (rc < 0) {
		msg = xasprintf("could not start closing it: %s", strerror(-rc));
		fail_final(r, CONN_ERROR, 0, 0, msg);
		free(msg);
	}
}

static void item_ok(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct conn_remote rem;
	char *msg = NULL;
	if (parse_issue(r, resp, what, &rem, &msg) < 0) {
		fail_final(r, r->kind == GH_CREATE ? CONN_UNKNOWN : CONN_BAD_RESPONSE,
		           resp->status, 0, msg);
		free(msg);
		return;
	}
	if (r->kind == GH_CREATE && r->close_json) {
		create_then_close(r, &rem);
	} else {
		struct conn_result res = { .status = CONN_OK, .http_status = resp->status };
		req_finish_item(r, &res, &rem);
	}
	conn_remote_free(&rem);
}

static void free_items(struct conn_remote *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		conn_remote_free(&items[i]);
	free(items);
}

/* Map a page of GET /repos/{o}/{r}/issues; pull requests are skipped.
 * Returns 0 or -EINVAL with *msg. */
static int parse_page(struct gh_req *r, const struct http_response *resp, const char *what,
                      struct conn_page *page, char **msg)
{
	struct json_object *a = json_tokener_parse(resp->body);
	int rc = 0;
	memset(page, 0, sizeof(*page));
	if (!a || !json_object_is_type(a, json_type_array)) {
		*msg = xasprintf("%s: HTTP %ld but the body is not a JSON array", what, resp->status);
		rc = -EINVAL;
		goto out;
	}
	size_t len = json_object_array_length(a);
	page->items = xcalloc(len ? len : 1, sizeof(*page->items));
	for (size_t i = 0; i < len; i++) {
		struct json_object *it = json_object_array_get_idx(a, i);
		const char *err = NULL;
		if (gh_issue_is_pull_request(it)) {
			page->skipped++;
			continue;
		}
		if (gh_issue_to_remote(it, r->repo, &page->items[page->n], &err) < 0) {
			*msg = xasprintf("%s: HTTP %ld but item %zu of the page: %s", what,
			                 resp->status, i, err);
			rc = -EINVAL;
			goto out;
		}
		page->n++;
	}
out:
	if (rc < 0) {
		free_items(page->items, page->n);
		page->items = NULL;
		page->n = 0;
	}
	json_object_put(a);
	return rc;
}

static void list_ok(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct gh_conn *g = r->g;
	struct conn_page page;
	char *msg = NULL, *next = NULL;
	struct conn_result res = { .status = CONN_OK, .http_status = resp->status };

	if (parse_page(r, resp, what, &page, &msg) < 0)
		goto bad;
	if (r->first_page)
		str_replace(&r->first_etag, http_response_header(resp, "etag"));
	next = gh_link_find(http_response_header(resp, "link"), "next");
	/* the token goes only to the configured API, whatever a Link says */
	size_t bl = strlen(g->base_url);
	if (next && (strncmp(next, g->base_url, bl) != 0 || next[bl] != '/')) {
		free_items(page.items, page.n);
		msg = xasprintf("%s: Link rel=\"next\" points outside %s", what, g->base_url);
		free(next);
		goto bad;
	}
	page.last = next == NULL;
	req_deliver_page(r, &res, &page);
	free_items(page.items, page.n);
	if (page.last || r->state == GHR_FINISHED) { /* done, or cancelled in the callback */
		free(next);
		return;
	}
	free(r->url);
	r->url = next;
	free(r->if_none_match);
	r->if_none_match = NULL;
	r->first_page = false;
	r->attempt = 0;
	int rc = req_submit(r);
	if (rc < 0) {
		msg = xasprintf("%s: could not request the next page: %s", what, strerror(-rc));
		req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
	}
	return;
bad:
	req_fail(r, CONN_BAD_RESPONSE, resp->status, 0, msg);
	free(msg);
}

static void not_modified(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct conn_result res = { .status = CONN_NOT_MODIFIED, .http_status = 304 };
	r->g->base.n_not_modified++;
	if (r->kind == GH_LIST) {
		const char *et = http_response_header(resp, "etag");
		str_replace(&r->first_etag, et ? et : r->if_none_match);
		struct conn_page page = { .last = true };
		req_deliver_page(r, &res, &page);
	} else if (r->kind == GH_FETCH) {
		req_finish_item(r, &res, NULL);
	} else {
		char *msg = xasprintf("%s: HTTP 304 to a request that was not conditional", what);
		fail_final(r, CONN_BAD_RESPONSE, 304, 0, msg);
		free(msg);
	}
}

/* One HTTP answer: the status mapping of connector.h. */
static void handle_answer(struct gh_req *r, const struct http_response *resp, const char *what)
{
	long st = resp->status;
	char *msg = NULL, *detail = NULL;
	enum conn_status cs;

	if (st == 0 || st >= 500) {
		retry_or_fail(r, resp, what);
		return;
	}
	if (st >= 200 && st < 300) {
		if (r->kind == GH_LIST)
			list_ok(r, resp, what);
		else
			item_ok(r, resp, what);
		return;
	}
	if (st == 304) {
		not_modified(r, resp, what);
		return;
	}
	if (gh_is_rate_limited(resp)) {
		rate_limited(r, resp, what);
		return;
	}
	if (st == 301 || st == 302 || st == 307 || st == 308) {
		cs = CONN_MOVED;
		const char *loc = http_response_header(resp, "location");
		msg = xasprintf("%s: HTTP %ld, moved%s%s", what, st, loc ? " to " : "", loc ? loc : "");
	} else if (st == 404 || st == 410) {
		cs = CONN_GONE;
		msg = xasprintf("%s: HTTP %ld, the issue or repository does not exist", what, st);
	} else if (st == 401 || st == 403) {
		cs = CONN_AUTH;
		detail = gh_error_detail(resp->body);
		msg = xasprintf("%s: HTTP %ld, check the token and its permissions: %s", what, st, detail);
	} else if (st == 400 || st == 422) {
		cs = CONN_INVALID;
		detail = gh_error_detail(resp->body);
		msg = xasprintf("%s: HTTP %ld: %s", what, st, detail);
	} else {
		cs = CONN_ERROR;
		detail = gh_error_detail(resp->body);
		msg = xasprintf("%s: unexpected HTTP %ld: %s", what, st, detail);
	}
	fail_final(r, cs, st, 0, msg);
	free(msg);
	free(detail);
}

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
	pump(g);
	char *what = req_what(r, g->base_url);
	log_conn(LOG_LVL_DEBUG, g->base.name, "%s -> %ld (%" PRId64 " ms, attempt %d)",
	         what, resp->status, resp->elapsed_ms, r->attempt);
	handle_answer(r, resp, what);
	free(what);
}

/* ---- operations ---- */

static struct gh_conn *gh_of(struct connector *c)
{
	return container_of(c, struct gh_conn, base);
}

static int gh_list_changed(struct connector *c, const char *target, int64_t since_ms,
                           const char *etag, conn_list_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return -ESHUTDOWN;
	char ts[32] = "";
	if (!gh_repo_valid(target) || !cb || since_ms < 0)
		return -EINVAL;
	if (since_ms > 0)
		ts_format(since_ms, ts, sizeof(ts));
	char *url = xasprintf("%s/repos/%s/issues?state=all&sort=updated&direction=asc"
	                      "&per_page=100%s%s", g->base_url, target,
	                      since_ms > 0 ? "&since=" : "", ts);
	struct gh_req *r = req_new(g, GH_LIST, "GET", url, target, arg);
	r->list_cb = cb;
	r->first_page = true;
	r->if_none_match = xstrdup(etag);
	return req_start(r);
}

static int gh_fetch(struct connector *c, const char *target, const struct conn_remote *ref,
                    conn_item_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return -ESHUTDOWN;
	long number;
	if (!gh_repo_valid(target) || !cb || !ref || gh_key_number(ref->key, &number) < 0)
		return -EINVAL;
	char *url = xasprintf("%s/repos/%s/issues/%ld", g->base_url, target, number);
	struct gh_req *r = req_new(g, GH_FETCH, "GET", url, target, arg);
	r->item_cb = cb;
	r->if_none_match = xstrdup(ref->etag);
	return req_start(r);
}

static int gh_create(struct connector *c, const char *target, const struct item_fields *want,
                     const struct conn_item_context *ctx, conn_item_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return -ESHUTDOWN;
	if (!gh_repo_valid(target) || !cb || !want || !want->v[ITEM_F_TITLE])
		return -EINVAL;
	char *url = xasprintf("%s/repos/%s/issues", g->base_url, target);
	struct gh_req *r = req_new(g, GH_CREATE, "POST", url, target, arg);
	r->item_cb = cb;
	r->body = gh_create_json(want, ctx);
	/* an issue is always created open: close it right after if needed */
	if (item_state_closed(want->v[ITEM_F_STATE]))
		r->close_json = gh_update_json(want, ITEM_FIELD_BIT(ITEM_F_STATE), ctx, NULL, NULL);
	return req_start(r);
}

static int gh_update(struct connector *c, const char *target, const struct conn_remote *ref,
                     const struct item_fields *want, unsigned mask,
                     const struct conn_item_context *ctx, conn_item_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return -ESHUTDOWN;
	long number;
	if (!gh_repo_valid(target) || !cb || !ref || !want || gh_key_number(ref->key, &number) < 0)
		return -EINVAL;
	const char *token = ctx && ctx->token ? ctx->token : ref->token;
	char *json = gh_update_json(want, mask, ctx, token, ref->extra);
	char *url = xasprintf("%s/repos/%s/issues/%ld", g->base_url, target, number);
	/* nothing GitHub stores changed: answer with the issue as it is */
	struct gh_req *r = req_new(g, json ? GH_UPDATE : GH_FETCH, json ? "PATCH" : "GET",
	                           url, target, arg);
	r->item_cb = cb;
	r->body = json;
	return req_start(r);
}

static void gh_free(struct gh_conn *g)
{
	free(g->base.name);
	free(g->base_url);
	free(g->auth_header);
	free(g->version_header);
	free(g->ua_header);
	free(g);
}

static void gh_cancel(struct connector *c)
{
	struct gh_conn *g = gh_of(c);
	struct gh_req *r;
	g->cancel_depth++;
	for (r = g->reqs; r; r = r->next)
		r->cancel_mark = true;
	/* a callback may start new requests (unmarked), end marked ones, or
	 * destroy the connector (freed below, once this loop is done) */
	for (;;) {
		for (r = g->reqs; r && !r->cancel_mark; r = r->next)
			;
		if (!r)
			break;
		char *what = req_what(r, g->base_url);
		char *msg = xasprintf("%s: cancelled", what);
		req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
		free(what);
	}
	g->cancel_depth--;
	if (g->destroy_pending) {
		if (g->cancel_depth == 0 && !g->reqs)
			gh_free(g);
		return;
	}
	/* requests the callbacks started may wait in the queue for slots
	 * the cancelled requests held */
	pump(g);
}

/* Cancels what is pending, then frees; safe from inside a callback. */
static void gh_destroy(struct connector *c)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return;
	g->destroy_pending = true; /* from here every operation is refused */
	g->cancel_depth++;         /* keep g alive across the cancel below */
	gh_cancel(c);
	g->cancel_depth--;
	if (g->cancel_depth == 0)
		gh_free(g);
}

static const struct conn_ops gh_ops = {
	.type = "github",
	.list_changed = gh_list_changed,
	.create = gh_create,
	.update = gh_update,
	.fetch = gh_fetch,
	.cancel = gh_cancel,
	.destroy = gh_destroy,
};

int github_connector_new(struct connector **out, uv_loop_t *loop, struct http_client *http,
                         const struct conn_options *opt)
{
	*out = NULL;
	if (!loop || !http || !opt || !opt->base_url || !opt->token || !opt->token[0])
		return -EINVAL;
	struct gh_conn *g = xcalloc(1, sizeof(*g));
	g->base.ops = &gh_ops;
	g->base.name = xstrdup(opt->name ? opt->name : "github");
	g->base.loop = loop;
	g->base.http = http;
	g->base_url = xstrdup(opt->base_url);
	size_t n = strlen(g->base_url);
	while (n > 0 && g->base_url[n - 1] == '/')
		g->base_url[--n] = '\0';
	log_add_secret(opt->token);
	g->auth_header = xasprintf("Authorization: Bearer %s", opt->token);
	g->version_header = xasprintf("X-GitHub-Api-Version: %s",
	                              opt->api_version ? opt->api_version : GH_DEFAULT_API_VERSION);
	g->ua_header = xasprintf("User-Agent: closeloop/%s (%s)", GH_VERSION, g->base.name);
	g->max_attempts = opt->max_attempts >= 1 ? opt->max_attempts : 1;
	g->backoff_base_ms = opt->backoff_base_ms > 0 ? opt->backoff_base_ms : 500;
	g->backoff_max_ms = opt->backoff_max_ms >= g->backoff_base_ms ? opt->backoff_max_ms :
	                    g->backoff_base_ms;
	g->timeout_ms = opt->request_timeout_ms > 0 ? opt->request_timeout_ms : 0;
	g->max_inflight = opt->max_inflight > 0 ? opt->max_inflight : 4;
	g->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)g;
	if (!g->rng)
		g->rng = 0x9e3779b97f4a7c15ull;
	*out = &g->base;
	return 0;
}
