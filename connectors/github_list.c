/* github_list.c — the listing of the GitHub connector (connector.h
 * "list_changed"): GET /repos/{o}/{r}/issues over a window, oldest first,
 * after a conditional probe; its pages and their answers.
 *
 * Facts (GitHub REST docs, API version 2022-11-28, "List repository
 * issues"): state=all&sort=updated&direction=asc&per_page=100&since=<ISO
 * 8601>; pull requests come in the same list with a "pull_request" key;
 * the Link header pages by page number; 304 on If-None-Match does not
 * count against the primary rate limit ("Best practices for using the
 * REST API", conditional requests).
 *
 * Decisions:
 *   - a listing pages by its window's start, not by page number (keyset
 *     paging): after a full page whose last issue was updated at T, the
 *     next request is the same listing with since=T, and issues already
 *     delivered with updated_at T are dropped from it.  GitHub's Link
 *     pages by page number, and an issue edited while the listing is
 *     between pages moves to the end: every later issue shifts back by
 *     one, and the one that slid onto the page already read would never
 *     be seen (tests/integration "edit between listing pages").  With
 *     since=T nothing updated before T can be on a later page, so nothing
 *     is skipped; an issue edited meanwhile comes once more at the end.
 *     Only a page on which every issue carries the same second as since=
 *     (more than 100 issues updated within one second) follows the Link
 *     as given, since since=T would answer the same page again;
 *   - every listing starts with a probe: the repository's ten most
 *     recently updated issues, newest first, with no since= (so the probe
 *     is the same request whatever the cursor, and the ETag kept from the
 *     last cycle still applies after the cursor moved), conditional on
 *     that ETag.  An ETag covers one page, and in an oldest-first listing
 *     an edited issue moves to the last page, so a conditional first page
 *     of that listing would answer 304 and hide the edit whenever the
 *     window spans several pages.  Any update makes its issue the newest,
 *     so it changes the probe's page: 304 there means nothing changed (a
 *     quiet cycle stays one request per repository, also the cycle after
 *     an edit); 200 means list the window oldest first (reconcile's cursor
 *     relies on that order).  The probe holds ten issues, not one, so
 *     several updates within the same second still change it whatever
 *     order GitHub gives equal time stamps.  Its body is never read (only
 *     checked to be a whole JSON array): no JSON tree is built for it.
 */
#include "conn_json.h"
#include "connector.h"
#include "github_body.h"
#include "github_req.h"
#include "http.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct gh_conn *gh_of(struct connector *c)
{
	return container_of(c, struct gh_conn, base);
}

static void free_items(struct conn_remote *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		conn_remote_free(&items[i]);
	free(items);
}

/* Map a page of GET /repos/{o}/{r}/issues; pull requests are skipped.
 * *last_ms is the updated_at (ms) of the page's last element, pull
 * requests included, or -1 when the page is empty.  Returns 0, or -EINVAL
 * with *msg when the body is not an array, an issue is not one, or the
 * last element has no updated_at that is a date (GitHub's issue schema:
 * a required date-time string). */
static int parse_page(struct gh_req *r, const struct http_response *resp, const char *what,
                      struct conn_page *page, int64_t *last_ms, char **msg)
{
	struct json_object *a = NULL;
	const char *jerr = NULL;
	int rc = 0;
	memset(page, 0, sizeof(*page));
	if (gh_parse_json(r, resp, &a, &jerr) < 0 ||
	    !json_object_is_type(a, json_type_array)) {
		*msg = xasprintf("%s: HTTP %ld but the body is not a JSON array", what, resp->status);
		rc = -EINVAL;
		goto out;
	}
	size_t len = json_object_array_length(a);
	*last_ms = -1;
	if (len > 0) {
		/* the next page starts from it (keyset paging): without it the
		 * listing would follow GitHub's page numbers, which an edit
		 * between pages shifts (see the header) */
		const char *u = conn_json_str(json_object_array_get_idx(a, len - 1), "updated_at");
		int64_t ms;
		if (!u || ts_parse(u, &ms) < 0) {
			*msg = xasprintf("%s: HTTP %ld but the page's last item (%zu) has no "
			                 "\"updated_at\" that is a date", what, resp->status, len - 1);
			rc = -EINVAL;
			goto out;
		}
		*last_ms = ms;
	}
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
		gh_discover_mark(&r->g->base, r->repo, it, &page->items[page->n]);
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

/* Send the listing's next GET to url (taken over): a next page, or the
 * oldest-first listing after the probe.  Not conditional. */
static void list_continue(struct gh_req *r, char *url, const char *what, const char *doing)
{
	int rc = gh_req_next(r, GH_LIST, "GET", url, NULL);
	if (rc < 0) {
		char *msg = xasprintf("%s: could not request %s: %s", what, doing, strerror(-rc));
		gh_req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
	}
}

/* The probe answered 200: something in the window changed.  Keep its ETag
 * for the next cycle's conditional probe and list the window oldest first. */
static void list_probe_ok(struct gh_req *r, const struct http_response *resp, const char *what)
{
	/* only whether it changed matters: check the answer looks like a
	 * whole JSON array ('[' ... ']', so a truncated answer is refused), as
	 * the listing's pages are, without building its tree */
	size_t i = 0, end = resp->body_len;
	while (i < end && strchr(" \t\r\n", resp->body[i]) && resp->body[i])
		i++;
	while (end > i && strchr(" \t\r\n", resp->body[end - 1]) && resp->body[end - 1])
		end--;
	if (end - i < 2 || resp->body[i] != '[' || resp->body[end - 1] != ']') {
		char *msg = xasprintf("%s: HTTP %ld but the body is not a whole JSON array", what,
		                      resp->status);
		gh_req_fail(r, CONN_BAD_RESPONSE, resp->status, 0, msg);
		free(msg);
		return;
	}
	str_replace(&r->first_etag, http_response_header(resp, "etag"));
	r->probing = false;
	char *url = r->list_url;
	r->list_url = NULL;
	list_continue(r, url, what, "the listing");
}

/* GET /repos/{o}/{r}/issues over the window from since_ms (0 = all),
 * sorted by update time in direction dir ("asc"/"desc"). */
static char *list_url(const struct gh_conn *g, const char *repo, const char *dir,
                      int per_page, int64_t since_ms)
{
	char ts[32] = "";
	if (since_ms > 0)
		ts_format(since_ms, ts, sizeof(ts));
	return xasprintf("%s/repos/%s/issues?state=all&sort=updated&direction=%s&per_page=%d%s%s",
	                 g->base_url, repo, dir, per_page, since_ms > 0 ? "&since=" : "", ts);
}

static int64_t remote_ms(const struct conn_remote *it)
{
	int64_t ms;
	return it->updated_at && ts_parse(it->updated_at, &ms) == 0 ? ms : -1;
}

/* Drop the issues of page that an earlier page of this listing delivered
 * with the same updated_at (keyset paging asks for since=T again). */
static void drop_repeats(const struct gh_req *r, struct conn_page *page)
{
	size_t k = 0;
	for (size_t i = 0; i < page->n; i++) {
		struct conn_remote *it = &page->items[i];
		bool seen = false;
		if (r->n_edge > 0 && remote_ms(it) == r->edge_ms)
			for (size_t j = 0; j < r->n_edge && !seen; j++)
				seen = str_eq(r->edge_ids[j], it->remote_id);
		if (seen)
			conn_remote_free(it);
		else
			page->items[k++] = *it;
	}
	page->n = k;
}

/* Remember the issues of page updated at edge_ms (a new edge forgets the
 * old one). */
static void edge_note(struct gh_req *r, const struct conn_page *page, int64_t edge_ms)
{
	if (edge_ms != r->edge_ms) {
		for (size_t i = 0; i < r->n_edge; i++)
			free(r->edge_ids[i]);
		r->n_edge = 0;
		r->edge_ms = edge_ms;
	}
	for (size_t i = 0; i < page->n; i++) {
		if (remote_ms(&page->items[i]) != edge_ms || !page->items[i].remote_id)
			continue;
		if (r->n_edge == r->cap_edge) {
			r->cap_edge = r->cap_edge ? 2 * r->cap_edge : 16;
			r->edge_ids = xrealloc(r->edge_ids, r->cap_edge * sizeof(*r->edge_ids));
		}
		r->edge_ids[r->n_edge++] = xstrdup(page->items[i].remote_id);
	}
}

/* The request after a page with a Link rel="next" (taken over): since=
 * the page's last update time, or link itself on a page that all sits on
 * the window's first second (see the header). */
static char *list_next_url(struct gh_req *r, const struct conn_page *page,
                           int64_t last_ms, char *link)
{
	int64_t at = last_ms >= 0 ? last_ms : r->edge_ms;
	edge_note(r, page, at);
	if (last_ms < 0 || last_ms / 1000 <= r->list_since_ms / 1000)
		return link;
	free(link);
	r->list_since_ms = last_ms;
	return list_url(r->g, r->repo, "asc", 100, last_ms);
}

bool gh_list_moved(struct gh_req *r, const struct http_response *resp, const char *what)
{
	const char *loc = http_response_header(resp, "location");
	const char *base = r->g->base_url;
	size_t bl = strlen(base), pl = strlen("/repositories/");
	if (r->list_resolving || r->list_renamed || !loc || strncmp(loc, base, bl) != 0 ||
	    strncmp(loc + bl, "/repositories/", pl) != 0)
		return false;
	size_t digits = strspn(loc + bl + pl, "0123456789");
	if (digits == 0 || digits > 19)
		return false;
	log_conn(LOG_LVL_WARN, r->g->base.name, "%s: HTTP %ld to %s: the repository %s was "
	         "renamed; reading its name now", what, resp->status, loc, r->repo);
	r->list_resolving = true;
	if (r->probing) { /* the probe's ETag, asked for again under the new name */
		free(r->first_etag);
		r->first_etag = r->if_none_match;
		r->if_none_match = NULL;
	}
	int rc = gh_req_next(r, GH_LIST, "GET", xstrndup(loc, bl + pl + digits), NULL);
	if (rc < 0) {
		char *msg = xasprintf("%s: moved to %s, which could not be read: %s", what, loc,
		                      strerror(-rc));
		gh_req_fail(r, CONN_MOVED, resp->status, 0, msg);
		free(msg);
	}
	return true;
}

/* The repository read after its old name redirected (gh_list_moved): its
 * "full_name" is the name it is listed under from now on, the listing
 * goes on where it was (the probe again, conditional on the same ETag: the
 * issues are the same), and every page says the target moved. */
static void list_resolved(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct json_object *o = NULL;
	const char *err = NULL, *name = NULL;
	char *msg, *url;
	r->list_resolving = false;
	if (gh_parse_json(r, resp, &o, &err) == 0)
		name = conn_json_str(o, "full_name");
	if (!name || !gh_repo_valid(name)) {
		msg = xasprintf("%s: HTTP %ld but no valid \"full_name\" (%s): the repository %s "
		                "was renamed to an unknown name; update the routing", what,
		                resp->status, err ? err : "missing", r->repo);
		gh_req_fail(r, CONN_MOVED, resp->status, 0, msg);
		free(msg);
		json_object_put(o);
		return;
	}
	str_replace(&r->repo, name);
	json_object_put(o);
	r->list_renamed = true;
	if (r->probing) {
		free(r->list_url);
		r->list_url = list_url(r->g, r->repo, "asc", 100, r->list_since_ms);
		url = list_url(r->g, r->repo, "desc", 10, 0);
		char *et = r->first_etag; /* kept by gh_list_moved */
		r->first_etag = NULL;
		int rc = gh_req_next_get_if(r, url, et);
		if (rc < 0) {
			msg = xasprintf("%s: could not request the probe: %s", what, strerror(-rc));
			gh_req_fail(r, CONN_ERROR, 0, 0, msg);
			free(msg);
		}
		return;
	}
	list_continue(r, list_url(r->g, r->repo, "asc", 100, r->list_since_ms), what, "the listing");
}

void gh_list_answer(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct gh_conn *g = r->g;
	struct conn_page page;
	char *msg = NULL, *next = NULL;
	int64_t last_ms = -1;
	struct conn_result res = { .status = CONN_OK, .http_status = resp->status };

	if (r->list_resolving) {
		list_resolved(r, resp, what);
		return;
	}
	if (r->probing) {
		list_probe_ok(r, resp, what);
		return;
	}
	if (parse_page(r, resp, what, &page, &last_ms, &msg) < 0)
		goto bad;
	next = gh_link_find(http_response_header(resp, "link"), "next");
	/* the token goes only to the configured API, whatever a Link says */
	size_t bl = strlen(g->base_url);
	if (next && (strncmp(next, g->base_url, bl) != 0 || next[bl] != '/')) {
		free_items(page.items, page.n);
		msg = xasprintf("%s: Link rel=\"next\" points outside %s", what, g->base_url);
		free(next);
		goto bad;
	}
	drop_repeats(r, &page);
	page.last = next == NULL;
	/* the project pass's tickets go after the listing's own pages */
	bool extra = page.last && gh_project_pending(r);
	if (extra)
		page.last = false;
	if (next)
		next = list_next_url(r, &page, last_ms, next);
	if (page.n > 0 || page.skipped > 0 || page.last)
		gh_req_deliver_page(r, &res, &page);
	free_items(page.items, page.n);
	if (extra && r->state != GHR_FINISHED)
		gh_project_flush(r, &res, true);
	if (page.last || extra || r->state == GHR_FINISHED) { /* done, or cancelled */
		free(next);
		return;
	}
	list_continue(r, next, what, "the next page");
	return;
bad:
	gh_req_fail(r, CONN_BAD_RESPONSE, resp->status, 0, msg);
	free(msg);
}

int gh_list_changed(struct connector *c, const char *target, int64_t since_ms,
                           const char *etag, conn_list_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return -ESHUTDOWN;
	if (!gh_repo_valid(target) || !cb || since_ms < 0)
		return -EINVAL;
	struct gh_req *r = gh_req_new(g, GH_LIST, "GET", list_url(g, target, "desc", 10, 0),
	                              target, arg);
	r->list_url = list_url(g, target, "asc", 100, since_ms);
	r->list_since_ms = since_ms;
	r->list_cb = cb;
	r->probing = true;
	/* a target whose rule names a project board reads the board first */
	if (!gh_project_list_start(r, etag))
		r->if_none_match = xstrdup(etag);
	return gh_req_start(r);
}
