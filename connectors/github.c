/* github.c — the GitHub REST connector (see connector.h for the contract,
 * github_body.h for the field mapping, docs/architecture.md "GitHub REST").
 *
 * This file holds the item operations (create, update, fetch), the status
 * mapping of every answer and the parsing of issue answers; the listing
 * and its pages are in github_list.c, labels (the flag labels and an
 * update's managed labels) in github_label.c, comments, search and
 * webhooks in github_comment.c, github_search.c, github_hook.c; the
 * request machinery (life cycle, max_inflight queue, retries, back-off,
 * cancel of in-flight transfers) is in github_req.c, its state machine
 * described in github_req.h.
 *
 * Request facts (GitHub REST API docs, API version 2022-11-28):
 *   Authorization: Bearer <token>; Accept: application/vnd.github+json;
 *   X-GitHub-Api-Version; list issues with state=all&sort=updated&
 *   direction=asc&per_page=100&since=<ISO 8601>; paginate with the Link
 *   header exactly as given; 304 on If-None-Match does not count against
 *   the primary rate limit (docs: "Best practices for using the REST API",
 *   conditional requests); 403/429 with retry-after or
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
 *   - an update whose mask holds nothing a PATCH carries is answered with
 *     a plain GET of the issue (then its labels are changed, if asked);
 *   - the listing (keyset paging, the conditional probe) is in
 *     github_list.c.
 */
#include "conn_json.h"
#include "connector.h"
#include "github_body.h"
#include "github_gql.h"
#include "github_req.h"
#include "http.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GH_DEFAULT_API_VERSION "2022-11-28"
/* GitHub's documented write limits (pace.h); options of the type */
#define GH_WRITE_SPACING_MS 1000
#define GH_CREATES_PER_MINUTE 80
#define GH_CREATES_PER_HOUR 500
#define GH_STR_(x) #x
#define GH_STR(x) GH_STR_(x)
#ifdef CLOSELOOP_VERSION
#define GH_VERSION CLOSELOOP_VERSION
#else
#define GH_VERSION "0"
#endif

/* ---- answers ---- */

/* Parse an answer with json-c, reusing the connector's tokener
 * (gh_json_parse, github_gql.h). */
int gh_parse_json(struct gh_req *r, const struct http_response *resp,
                      struct json_object **out, const char **err)
{
	return gh_json_parse(r->g->tok, resp->body, resp->body_len, out, err);
}

/* A followed redirect answered with the issue in its repository now (a
 * transfer, or the repository renamed): r->repo becomes "owner/name" of
 * its repository_url (".../repos/owner/name"). */
static void moved_repo(struct gh_req *r, struct json_object *o)
{
	const char *u = conn_json_str(o, "repository_url");
	const char *p = u ? strstr(u, "/repos/") : NULL;
	if (p && gh_repo_valid(p + strlen("/repos/")))
		str_replace(&r->repo, p + strlen("/repos/"));
}

/* 301/307 on an issue (transferred; its repository renamed): follow the
 * Location once with a GET, when it is under base_url (the token is only
 * ever sent to the configured API), so the answer says where the ticket
 * is now.  A create answered 307/308 (its repository renamed: GitHub
 * answers a POST to the old name 307 and does not act on it, "repeat the
 * request with the same method", docs "Troubleshooting the REST API",
 * redirects) is sent again, the same body and token, to the Location.
 * Returns false when it is not followed. */
static bool follow_moved(struct gh_req *r, const struct http_response *resp, const char *what)
{
	const char *loc = http_response_header(resp, "location");
	const char *base = r->g->base_url;
	bool create = r->kind == GH_CREATE && (resp->status == 307 || resp->status == 308);
	if (r->moved_from || (r->kind != GH_FETCH && r->kind != GH_UPDATE && !create) || !loc ||
	    strncmp(loc, base, strlen(base)) != 0 || loc[strlen(base)] != '/')
		return false;
	r->moved_from = r->url;
	r->moved_status = resp->status;
	r->url = NULL;
	char *body = create ? r->body : NULL;
	if (create)
		r->body = NULL;
	int rc = gh_req_next(r, create ? GH_CREATE : GH_FETCH, create ? "POST" : "GET",
	                     xstrdup(loc), body);
	if (rc < 0) {
		char *msg = xasprintf("%s: moved to %s, which could not be read: %s", what, loc,
		                      strerror(-rc));
		gh_req_fail_final(r, CONN_MOVED, resp->status, 0, msg);
		free(msg);
	}
	return true;
}

/* Parse an issue answer into out.  Returns 0, or -EINVAL with *msg. */
static int parse_issue(struct gh_req *r, const struct http_response *resp, const char *what,
                       struct conn_remote *out, char **msg)
{
	struct json_object *o = NULL;
	const char *err = NULL;
	int rc;
	if (gh_parse_json(r, resp, &o, &err) < 0) {
		*msg = xasprintf("%s: HTTP %ld but the body is not JSON (%s)", what, resp->status, err);
		conn_remote_init(out);
		return -EINVAL;
	}
	if (r->moved_from) /* followed: the issue's own repository */
		moved_repo(r, o);
	rc = gh_issue_to_remote(o, r->repo, out, &err);
	if (rc == 0)
		gh_discover_mark(&r->g->base, r->repo, o, out);
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
	char *body = r->close_json;
	r->close_json = NULL;
	r->created_key = xstrdup(rem->key);
	int rc = gh_req_next(r, GH_CREATE_CLOSE, "PATCH",
	                     xasprintf("%s/repos/%s/issues/%ld", r->g->base_url, r->repo, number), body);
	if (rc < 0) {
		msg = xasprintf("could not start closing it: %s", strerror(-rc));
		gh_req_fail_final(r, CONN_ERROR, 0, 0, msg);
		free(msg);
	}
}

/* The item operation's answer rem: status (CONN_OK, or CONN_MOVED with
 * error saying where) and the fields GitHub did not apply. */
static void item_done_as(struct gh_req *r, enum conn_status status, long http_status,
                         const char *error, const struct conn_remote *rem)
{
	struct conn_result res = { .status = status, .http_status = http_status, .error = error };
	char *why = NULL;
	/* a partial write: GitHub refused the assignee (422) and the request
	 * went again without it; or (GitHub Enterprise before the 422)
	 * dropped it without an error */
	if (r->owner_refused) {
		why = xasprintf("GitHub refused to assign %s in %s (HTTP 422, Issue.assignees "
		                "invalid: only people with access to the repository can be "
		                "assignees); the rest was written without the assignee",
		                r->owner_refused, r->repo);
		res.refused_mask = ITEM_FIELD_BIT(ITEM_F_OWNER);
		res.refused_reason[ITEM_F_OWNER] = why;
	} else if (r->want_owner && !(rem->fields.v[ITEM_F_OWNER] &&
	                              strcasecmp(rem->fields.v[ITEM_F_OWNER], r->want_owner) == 0)) {
		why = xasprintf("GitHub did not assign %s in %s (only people with access to the "
		                "repository can be assignees; GitHub drops others without an error)",
		                r->want_owner, r->repo);
		res.refused_mask = ITEM_FIELD_BIT(ITEM_F_OWNER);
		res.refused_reason[ITEM_F_OWNER] = why;
	}
	gh_req_finish_item(r, &res, rem);
	free(why);
}

void gh_item_done(struct gh_req *r, long http_status, const struct conn_remote *rem)
{
	item_done_as(r, CONN_OK, http_status, NULL, rem);
}

static void item_ok(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct conn_remote rem;
	char *msg = NULL;
	if (r->upd_want && !r->moved_from) { /* an update changing closeloop's labels */
		gh_update_labels_start(r, resp, what);
		return;
	}
	if (parse_issue(r, resp, what, &rem, &msg) < 0) {
		gh_req_fail_final(r, r->kind == GH_CREATE ? CONN_UNKNOWN : CONN_BAD_RESPONSE,
		           resp->status, 0, msg);
		free(msg);
		return;
	}
	if (r->kind == GH_CREATE && r->close_json) {
		create_then_close(r, &rem);
	} else if (r->moved_from) {
		char *moved = xasprintf("%s: moved to %s (%s)", r->moved_from + strlen(r->g->base_url),
		                        rem.key, rem.url ? rem.url : "no URL");
		item_done_as(r, CONN_MOVED, r->moved_status, moved, &rem);
		free(moved);
	} else {
		gh_item_done(r, resp->status, &rem);
	}
	conn_remote_free(&rem);
}

static void not_modified(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct conn_result res = { .status = CONN_NOT_MODIFIED, .http_status = 304 };
	r->g->base.n_not_modified++;
	if (r->kind == GH_LIST) {
		const char *et = http_response_header(resp, "etag");
		str_replace(&r->first_etag, et ? et : r->if_none_match);
		/* the project pass's tickets first (as changes), then "nothing
		 * else changed" */
		struct conn_result ok = { .status = CONN_OK, .http_status = 304 };
		if (gh_project_pending(r) && !gh_project_flush(r, &ok, false))
			return;
		struct conn_page page = { .last = true };
		gh_req_deliver_page(r, &res, &page);
	} else if (r->kind == GH_FETCH) {
		gh_req_finish_item(r, &res, NULL);
	} else {
		char *msg = xasprintf("%s: HTTP 304 to a request that was not conditional", what);
		gh_req_fail_final(r, CONN_BAD_RESPONSE, 304, 0, msg);
		free(msg);
	}
}

/* One HTTP answer: the status mapping of connector.h. */
void gh_handle_answer(struct gh_req *r, const struct http_response *resp, const char *what)
{
	long st = resp->status;
	char *msg = NULL, *detail = NULL;
	enum conn_status cs;

	if (st == 0 || st >= 500) {
		gh_req_retry_or_fail(r, resp, what);
		return;
	}
	if (r->kind == GH_GRAPHQL && !gh_is_rate_limited(resp)) {
		gh_project_answer(r, resp, what); /* errors come as 200 with "errors" */
		return;
	}
	if (st >= 200 && st < 300) {
		if (r->kind == GH_COMMENT || r->kind == GH_COMMENT_FIND)
			gh_comment_answer(r, resp, what);
		else if (r->kind == GH_SEARCH)
			gh_search_answer(r, resp, what);
		else if (r->kind == GH_LABEL)
			gh_label_answer(r, resp, what);
		else if (r->kind == GH_LIST)
			gh_list_answer(r, resp, what);
		else
			item_ok(r, resp, what);
		return;
	}
	if (st == 304) {
		not_modified(r, resp, what);
		return;
	}
	if (gh_is_rate_limited(resp)) {
		gh_req_rate_limited(r, resp, what);
		return;
	}
	if (r->kind == GH_LABEL && st == 404 && gh_label_absent(r, resp))
		return;
	if (st == 422 && (r->kind == GH_CREATE || r->kind == GH_UPDATE) && !r->owner_refused &&
	    gh_assignee_refusal(resp->body, &r->body, &r->owner_refused) == 0) {
		/* one login GitHub cannot assign refuses the whole write: send
		 * the rest again without it, report the owner as refused */
		log_conn(LOG_LVL_WARN, r->g->base.name, "%s: GitHub cannot assign %s; "
		         "sending it again without the assignee", what, r->owner_refused);
		r->attempt = 0;
		int rc = gh_req_submit(r);
		if (rc < 0) {
			msg = xasprintf("%s: could not send it again without the assignee: %s", what,
			                strerror(-rc));
			gh_req_fail_final(r, CONN_ERROR, st, 0, msg);
			free(msg);
		}
		return;
	}
	if ((st == 301 || st == 302 || st == 307 || st == 308) &&
	    (r->kind == GH_LIST ? gh_list_moved(r, resp, what) :
	     gh_update_labels_moved(r, what) || follow_moved(r, resp, what)))
		return;
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
	gh_req_fail_final(r, cs, st, 0, msg);
	free(msg);
	free(detail);
}

/* ---- operations ---- */

static struct gh_conn *gh_of(struct connector *c)
{
	return container_of(c, struct gh_conn, base);
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
	struct gh_req *r = gh_req_new(g, GH_FETCH, "GET", url, target, arg);
	r->item_cb = cb;
	r->if_none_match = xstrdup(ref->etag);
	return gh_req_start(r);
}

/* A value GitHub cannot take: the request is never sent, it fails
 * CONN_INVALID (on the next loop turn) saying which value and what to do;
 * one oversized item is an error on its own link, never a stop. */
static void fail_not_sent(struct gh_req *r, char *why)
{
	char *what = gh_req_what(r, r->g->base_url);
	char *msg = xasprintf("%s: not sent: %s", what, why);
	gh_req_fail_later(r, CONN_INVALID, msg);
	free(msg);
	free(what);
	free(why);
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
	struct gh_req *r = gh_req_new(g, GH_CREATE, "POST", url, target, arg);
	r->item_cb = cb;
	char *why = gh_value_too_long(want, ~0u, ctx, NULL);
	if (why) {
		fail_not_sent(r, why);
		return 0;
	}
	r->body = gh_create_json(want, ctx);
	/* an issue is always created open: close it right after if needed */
	if (item_state_closed(want->v[ITEM_F_STATE]))
		r->close_json = gh_update_json(want, ITEM_FIELD_BIT(ITEM_F_STATE), ctx, NULL, NULL);
	return gh_req_start(r);
}

/* conn_ops.created_as: GitHub creates every issue open; a closed state is
 * the create's follow-up PATCH (gh_create).  Every other field is in the
 * POST. */
static unsigned gh_created_as(const struct connector *c, struct item_fields *f)
{
	UNUSED(c);
	if (item_state_closed(f->v[ITEM_F_STATE]))
		item_fields_set(f, ITEM_F_STATE, "open");
	return 0;
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
	char *url = xasprintf("%s/repos/%s/issues/%ld", g->base_url, target, number);
	char *why = gh_value_too_long(want, mask, ctx, token);
	if (why) {
		struct gh_req *r = gh_req_new(g, GH_UPDATE, "PATCH", url, target, arg);
		r->item_cb = cb;
		fail_not_sent(r, why);
		return 0;
	}
	char *json = gh_update_json(want, mask, ctx, token, ref->extra);
	/* nothing the PATCH carries changed: answer with the issue as it is
	 * (and change its labels from there) */
	struct gh_req *r = gh_req_new(g, json ? GH_UPDATE : GH_FETCH, json ? "PATCH" : "GET",
	                           url, target, arg);
	r->item_cb = cb;
	r->body = json;
	if (json && (mask & ITEM_FIELD_BIT(ITEM_F_OWNER)) && want->v[ITEM_F_OWNER])
		r->want_owner = xstrdup(want->v[ITEM_F_OWNER]);
	/* priority, type and the in-progress label are labels: changed one
	 * by one after the PATCH (or GET) answers (github_label.c) */
	if (mask & (ITEM_FIELD_BIT(ITEM_F_PRIORITY) | ITEM_FIELD_BIT(ITEM_F_TYPE) |
	            ITEM_FIELD_BIT(ITEM_F_STATE)))
		gh_update_labels_want(r, want, ref);
	return gh_req_start(r);
}

static void gh_pace_closed(struct pace *p)
{
	free(container_of(p, struct gh_conn, pace));
}

/* Frees g once the pacer's timer is closed (from the loop). */
static void gh_free(struct gh_conn *g)
{
	free(g->base.name);
	free(g->base_url);
	free(g->auth_header);
	free(g->version_header);
	free(g->ua_header);
	free(g->ca_file);
	free(g->graphql_url);
	gh_projects_free(g);
	if (g->tok)
		json_tokener_free(g->tok);
	pace_close(&g->pace, gh_pace_closed);
}

static void gh_cancel(struct connector *c)
{
	struct gh_conn *g = gh_of(c);
	struct gh_req *r;
	g->cancel_depth++;
	LIST_FOREACH(r, &g->reqs, all)
		r->cancel_mark = true;
	/* a callback may start new requests (unmarked), end marked ones, or
	 * destroy the connector (freed below, once this loop is done) */
	for (;;) {
		for (r = LIST_FIRST(&g->reqs); r && !r->cancel_mark; r = LIST_NEXT(r, all))
			;
		if (!r)
			break;
		char *what = gh_req_what(r, g->base_url);
		char *msg = xasprintf("%s: cancelled", what);
		gh_req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
		free(what);
	}
	g->cancel_depth--;
	if (g->destroy_pending) {
		if (g->cancel_depth == 0 && LIST_EMPTY(&g->reqs))
			gh_free(g);
		return;
	}
	/* requests the callbacks started may wait in the queue for slots
	 * the cancelled requests held */
	gh_pump(g);
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
	.comment = gh_comment,
	.find_comment = gh_find_comment,
	.find_by_token = gh_find_by_token,
	.created_as = gh_created_as,
	.label = gh_label,
	.webhook = gh_webhook,
	.board_version = gh_board_version,
	.board_set = gh_board_set,
	.cancel = gh_cancel,
	.destroy = gh_destroy,
};

/* An int option of the type's group (already range-checked by config.c),
 * or def when it is not set. */
static int64_t gh_opt_int(const struct conn_options *opt, const char *name, int64_t def)
{
	const char *v = conn_opt(&github_conn_type, opt, name);
	char *end = NULL;
	if (!v)
		return def;
	long long n = strtoll(v, &end, 10);
	return end != v && *end == '\0' ? n : def;
}

static int github_connector_new(struct connector **out, uv_loop_t *loop,
                                struct http_client *http, const struct conn_options *opt)
{
	*out = NULL;
	if (!loop || !http || !opt || !opt->base_url || !opt->token || !opt->token[0])
		return -EINVAL;
	struct gh_conn *g = xcalloc(1, sizeof(*g));
	LIST_INIT(&g->reqs);
	TAILQ_INIT(&g->queue);
	g->base.ops = &gh_ops;
	g->base.type = &github_conn_type;
	g->base.name = xstrdup(opt->name ? opt->name : "github");
	g->base.loop = loop;
	/* connector.h: GitHub's issue list reads its own writes, so the
	 * configured overlap is not needed.  But updated_at has whole seconds
	 * and is stamped before the write commits: a write committed just
	 * after a later-stamped one (already listed) carries an earlier
	 * second.  5 s covers that race with a wide margin. */
	g->base.list_consistent = true;
	g->base.write_land_ms = 10000; /* connector.h */
	g->base.list_settle_ms = 5000;
	g->base.http = http;
	g->base_url = xstrdup(opt->base_url);
	size_t n = strlen(g->base_url);
	while (n > 0 && g->base_url[n - 1] == '/')
		g->base_url[--n] = '\0';
	g->graphql_url = gh_graphql_url(g->base_url);
	log_add_secret(opt->token);
	g->auth_header = xasprintf("Authorization: Bearer %s", opt->token);
	const char *ver = conn_opt(&github_conn_type, opt, "api_version");
	g->version_header = xasprintf("X-GitHub-Api-Version: %s", ver ? ver : GH_DEFAULT_API_VERSION);
	g->ua_header = xasprintf("User-Agent: closeloop/%s (%s)", GH_VERSION, g->base.name);
	g->max_attempts = opt->max_attempts >= 1 ? opt->max_attempts : 1;
	g->backoff_base_ms = opt->backoff_base_ms > 0 ? opt->backoff_base_ms : 500;
	g->backoff_max_ms = opt->backoff_max_ms >= g->backoff_base_ms ? opt->backoff_max_ms :
	                    g->backoff_base_ms;
	g->timeout_ms = opt->request_timeout_ms > 0 ? opt->request_timeout_ms : 0;
	g->max_inflight = opt->max_inflight > 0 ? opt->max_inflight : 4;
	g->ca_file = xstrdup(opt->ca_file);
	g->tok = json_tokener_new();
	if (!g->tok)
		abort(); /* an allocation failure, as xmalloc treats it */
	struct pace_config pc = {
		.spacing_ms = gh_opt_int(opt, "write_spacing_ms", GH_WRITE_SPACING_MS),
		.per_minute = (int)gh_opt_int(opt, "creates_per_minute", GH_CREATES_PER_MINUTE),
		.per_hour = (int)gh_opt_int(opt, "creates_per_hour", GH_CREATES_PER_HOUR),
	};
	if (pace_init(&g->pace, loop, &pc) < 0)
		abort(); /* uv_timer_init only fails on a dead loop */
	g->base.pace = &g->pace;
	g->base.rate_limit = g->base.rate_remaining = -1;
	g->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)g;
	if (!g->rng)
		g->rng = 0x9e3779b97f4a7c15ull;
	*out = &g->base;
	return 0;
}

/* ---- the registry row (connector.h) ---- */

/* X-GitHub-Api-Version values are dates, YYYY-MM-DD (REST API docs, "API
 * Versions"). */
static const char *gh_check_api_version(const char *v)
{
	return date_valid(v) ? NULL : "a REST API version date YYYY-MM-DD, e.g. \"2022-11-28\"";
}

static const struct conn_option gh_options[] = {
	{ "api_version", "string", GH_DEFAULT_API_VERSION, false, 0, 0, NULL, gh_check_api_version },
	/* docs "Best practices for using the REST API": mutating requests one
	 * at a time, at least one second apart; "Rate limits for the REST
	 * API": at most 80 content-generating requests a minute, 500 an hour */
	{ "write_spacing_ms", "int", GH_STR(GH_WRITE_SPACING_MS), false, 0, 60000, "milliseconds", NULL },
	{ "creates_per_minute", "int", GH_STR(GH_CREATES_PER_MINUTE), false, 1, 100000, "requests", NULL },
	{ "creates_per_hour", "int", GH_STR(GH_CREATES_PER_HOUR), false, 1, 1000000, "requests", NULL },
};

/* A label name: GitHub allows up to 50 characters ("Managing labels");
 * closeloop's own labels are never a discovery rule (they mark what it
 * manages). */
static const char *gh_check_discover_label(const char *v)
{
	if (strlen(v) > 50 || strpbrk(v, "\r\n,"))
		return "a label name of at most 50 characters, without a comma or a line break";
	if (gh_label_is_managed(v) || str_istarts(v, "closeloop:"))
		return "a label of the team's own (closeloop's labels mark what it manages)";
	return NULL;
}

/* A project board: "OWNER/NUMBER", OWNER a user or organisation login
 * (letters, digits, single hyphens, at most 39 characters, GitHub's
 * rule for user names), NUMBER the project's number (its URL's
 * .../projects/NUMBER). */
static const char *gh_check_discover_project(const char *v)
{
	static const char *want = "\"OWNER/NUMBER\": a user or organization login and the "
	                          "project's number, e.g. \"my-org/7\"";
	const char *slash = strchr(v, '/');
	size_t ol = slash ? (size_t)(slash - v) : 0;
	if (!slash || ol == 0 || ol > 39 || v[0] == '-' || v[ol - 1] == '-')
		return want;
	for (size_t i = 0; i < ol; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '-'))
			return want;
	const char *num = slash + 1;
	size_t nl = strspn(num, "0123456789");
	if (nl == 0 || nl > 9 || num[nl] != '\0' || num[0] == '0')
		return want;
	return NULL;
}

/* A field or option name of a project: shown text, at most 256
 * characters, one line. */
static const char *gh_check_discover_field_text(const char *v)
{
	if (!v[0] || strlen(v) > 256 || strpbrk(v, "\r\n"))
		return "a non-empty name of at most 256 characters on one line";
	return NULL;
}

/* connectors.[github].discover.[].x: an issue carrying the label, or an
 * item of the project board (with the field's option, when one is
 * named), is an action item born on GitHub (labels: read from the issue in
 * the normal listing, gh_discover_mark; the board: github_project.c). */
static const struct conn_option gh_discover_options[] = {
	{ "label", "string", "(none)", true, 0, 0, NULL, gh_check_discover_label },
	{ "project", "string", "(none)", true, 0, 0, NULL, gh_check_discover_project },
	{ "project_field", "string", "(none)", true, 0, 0, NULL, gh_check_discover_field_text },
	{ "project_value", "string", "(none)", true, 0, 0, NULL, gh_check_discover_field_text },
	{ "project_rescan", "int", "3600", true, 60, 86400, "seconds", NULL },
};

/* A rule (values in the order above): a label, a project, or both; the
 * field and its value together, and only with a project. */
static const char *gh_discover_check(char *const *values)
{
	if ((values[2] || values[3]) && !values[1])
		return "project_field and project_value only with a project";
	if (!values[0] && !values[1])
		return "a label, a project, or both";
	if (!values[2] != !values[3])
		return "project_field and project_value together (the single-select field and "
		       "the option that makes an item an action item)";
	return NULL;
}

static char *gh_normalise(enum item_field f, const char *v)
{
	return f == ITEM_F_DESCRIPTION ? gh_description_normalise(v) : xstrdup(v);
}

#define GH_RW (CONN_CAP_NATIVE | CONN_CAP_WRITABLE)
const struct conn_type github_conn_type = {
	.name = "github",
	.create = github_connector_new,
	.options = gh_options,
	.n_options = ARRAY_SIZE(gh_options),
	.target_check = gh_target_check,
	.person_ident = "github_login",
	/* title, state, owner natively; description and due date in the body
	 * block; priority and type as labels (github_body.h) */
	.caps = {
		[ITEM_F_TITLE] = GH_RW,
		[ITEM_F_DESCRIPTION] = GH_RW | CONN_CAP_LOSSY,
		[ITEM_F_STATE] = GH_RW,
		[ITEM_F_PRIORITY] = GH_RW,
		[ITEM_F_TYPE] = GH_RW,
		[ITEM_F_OWNER] = GH_RW,
		[ITEM_F_DUE_DATE] = GH_RW,
	},
	.normalise = gh_normalise,
	.discover_options = gh_discover_options,
	.n_discover_options = ARRAY_SIZE(gh_discover_options),
	.discover_check = gh_discover_check,
	.comment_noun = "issue comment",
	.ops = &gh_ops,
};
