/* github_search.c — find_by_token for the GitHub connector (connector.h):
 * the issue search, for recovery of a create whose answer was lost while
 * the repository listing may not show the new issue yet.
 *
 * Facts (GitHub REST docs, "REST API endpoints for search", "Search
 * issues and pull requests", API version 2022-11-28):
 *   GET /search/issues?q=<query>&per_page=N -> 200
 *     {"total_count": n, "incomplete_results": bool, "items": [issue, ...]}
 *   with the same issue objects as the issues API (plus "score");
 *   qualifiers repo:OWNER/NAME, is:issue, in:body; a quoted phrase matches
 *   as a phrase; the search API has its own rate limit (30 requests a
 *   minute when authenticated; x-ratelimit-resource: search), answered
 *   like the primary limit (403/429 with x-ratelimit-remaining: 0);
 *   search results may lag a just-made change (the index is updated
 *   asynchronously), so "not found" is not proof: reconcile re-creates a
 *   'creating' link only after create_min_age.
 * Every item of the answer is checked: only an issue whose body block
 * carries exactly this token is the ticket.
 */
#include "conn_json.h"
#include "connector.h"
#include "github_body.h"
#include "github_req.h"
#include "http.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static struct gh_conn *gh_of(struct connector *c)
{
	return container_of(c, struct gh_conn, base);
}

void gh_search_answer(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct json_object *o = NULL, *items = NULL;
	const char *err = NULL;
	char *msg = NULL;
	if (gh_parse_json(r, resp, &o, &err) < 0 || !(items = conn_json_arr(o, "items"))) {
		msg = xasprintf("%s: HTTP %ld but the body is not a search result (%s)", what,
		                resp->status, err ? err : "no items array");
		gh_req_fail(r, CONN_BAD_RESPONSE, resp->status, 0, msg);
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		struct json_object *it = json_object_array_get_idx(items, i);
		struct conn_remote rem;
		if (gh_issue_is_pull_request(it) || gh_issue_to_remote(it, r->repo, &rem, &err) < 0)
			continue;
		if (str_eq(rem.token, r->marker)) {
			struct conn_result res = { .status = CONN_OK, .http_status = resp->status };
			gh_req_finish_item(r, &res, &rem);
			conn_remote_free(&rem);
			goto out;
		}
		conn_remote_free(&rem);
	}
	msg = xasprintf("%s: no issue in %s carries closeloop token %s", what, r->repo, r->marker);
	struct conn_result res = { .status = CONN_GONE, .http_status = resp->status, .error = msg };
	gh_req_finish_item(r, &res, NULL);
out:
	free(msg);
	json_object_put(o);
}

char *gh_pct_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = { 0 };
	int rc = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			rc = buf_append(&b, (const char *)p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			rc = buf_append(&b, e, 3);
		}
	}
	if (rc < 0)
		abort(); /* a query or a label name: a few hundred bytes */
	return b.data ? buf_steal(&b) : xstrdup("");
}

int gh_find_by_token(struct connector *c, const char *target, const char *token,
                     conn_item_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return -ESHUTDOWN;
	if (!cb || !gh_repo_valid(target) || !token || !token[0] || strpbrk(token, "\" \t\r\n"))
		return -EINVAL;
	char *q = xasprintf("\"%s\" repo:%s is:issue in:body", token, target);
	char *eq = gh_pct_escape(q);
	char *url = xasprintf("%s/search/issues?q=%s&per_page=10", g->base_url, eq);
	free(q);
	free(eq);
	struct gh_req *r = gh_req_new(g, GH_SEARCH, "GET", url, target, arg);
	r->item_cb = cb;
	r->marker = xstrdup(token);
	return gh_req_start(r);
}
