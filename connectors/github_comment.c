/* github_comment.c — issue comments for the GitHub connector (the
 * connector.h comment and find_comment operations).
 *
 * Facts (GitHub REST docs, "REST API endpoints for issue comments",
 * API version 2022-11-28):
 *   POST /repos/{o}/{r}/issues/{n}/comments {"body": "..."} -> 201 with the
 *     comment (id, html_url, body, user, created_at, ...); it creates
 *     content, so the secondary rate limits apply;
 *   GET  /repos/{o}/{r}/issues/{n}/comments?per_page=100 -> the comments
 *     in ascending id order, paged with the Link header;
 *   a comment (schema issue-comment): id an int64 and html_url a string,
 *     both required; body a string, left out by some media types;
 *   404/410/301 as for the issue itself.
 * A comment POST is never retried after a possible effect (5xx, time-out):
 * CONN_UNKNOWN, and the caller looks for its marker with find_comment.
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

/* id and html_url (NULL when absent) of comment o; body (NULL when
 * absent or null) when body is not NULL.  false with *bad a static phrase
 * naming the member that is missing or of another type: read as absent,
 * the comment carrying the marker would be passed over and made again. */
static bool comment_fields(struct json_object *o, char *id, size_t idlen, const char **url,
                           const char **body, const char **bad)
{
	int64_t v = 0;
	*url = NULL;
	if (!json_object_is_type(o, json_type_object)) {
		*bad = "is not an object";
		return false;
	}
	if (!conn_json_int64(o, "id", &v) || v <= 0) {
		*bad = "has no \"id\" that is a positive integer";
		return false;
	}
	if (conn_json_mistyped(o, "html_url", json_type_string)) {
		*bad = "has an \"html_url\" that is not a string";
		return false;
	}
	if (body && conn_json_mistyped(o, "body", json_type_string)) {
		*bad = "has a \"body\" that is not a string";
		return false;
	}
	snprintf(id, idlen, "%lld", (long long)v);
	*url = conn_json_str(o, "html_url");
	if (body)
		*body = conn_json_str(o, "body");
	return true;
}

static void comment_created(struct gh_req *r, struct json_object *o,
                            const struct http_response *resp, const char *what)
{
	char id[32];
	const char *url = NULL, *bad = NULL;
	if (!comment_fields(o, id, sizeof(id), &url, NULL, &bad)) {
		char *msg = xasprintf("%s: HTTP %ld but the answer is not a comment (it %s); "
		                      "the comment may have been created", what, resp->status, bad);
		gh_req_fail(r, CONN_UNKNOWN, resp->status, 0, msg);
		free(msg);
		return;
	}
	struct conn_result res = { .status = CONN_OK, .http_status = resp->status };
	struct conn_comment cm = { .id = id, .url = url };
	gh_req_finish_comment(r, &res, &cm);
}

/* One page of comments: finish when the marker is found or on the last page,
 * else follow Link rel="next" (only inside base_url: the token goes nowhere
 * else). */
static void comment_page(struct gh_req *r, struct json_object *a,
                         const struct http_response *resp, const char *what)
{
	struct conn_result res = { .status = CONN_OK, .http_status = resp->status };
	char *msg = NULL, *next = NULL;
	size_t n = json_object_array_length(a);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		char id[32];
		const char *url = NULL, *body = NULL, *bad = NULL;
		if (!comment_fields(o, id, sizeof(id), &url, &body, &bad)) {
			msg = xasprintf("%s: HTTP %ld but comment %zu of the page %s", what,
			                resp->status, i, bad);
			gh_req_fail(r, CONN_BAD_RESPONSE, resp->status, 0, msg);
			goto out;
		}
		if (body && strstr(body, r->marker)) {
			struct conn_comment cm = { .id = id, .url = url };
			gh_req_finish_comment(r, &res, &cm);
			return;
		}
	}
	next = gh_link_find(http_response_header(resp, "link"), "next");
	if (!next) {
		gh_req_finish_comment(r, &res, NULL);
		return;
	}
	size_t bl = strlen(r->g->base_url);
	if (strncmp(next, r->g->base_url, bl) != 0 || next[bl] != '/') {
		msg = xasprintf("%s: Link rel=\"next\" points outside %s", what, r->g->base_url);
		gh_req_fail(r, CONN_BAD_RESPONSE, resp->status, 0, msg);
		goto out;
	}
	int rc = gh_req_next(r, r->kind, r->method, next, NULL);
	next = NULL;
	if (rc < 0) {
		msg = xasprintf("%s: could not request the next page: %s", what, strerror(-rc));
		gh_req_fail(r, CONN_ERROR, 0, 0, msg);
	}
out:
	free(next);
	free(msg);
}

void gh_comment_answer(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct json_object *o = NULL;
	const char *err = NULL;
	if (gh_parse_json(r, resp, &o, &err) < 0 ||
	    (r->kind == GH_COMMENT_FIND && !json_object_is_type(o, json_type_array))) {
		bool posted = r->kind == GH_COMMENT;
		char *msg = xasprintf("%s: HTTP %ld but the body is not %s (%s)%s", what, resp->status,
		                      posted ? "JSON" : "a JSON array", err ? err : "another value",
		                      posted ? "; the comment may have been created" : "");
		gh_req_fail(r, posted ? CONN_UNKNOWN : CONN_BAD_RESPONSE, resp->status, 0, msg);
		free(msg);
		json_object_put(o);
		return;
	}
	if (r->kind == GH_COMMENT)
		comment_created(r, o, resp, what);
	else
		comment_page(r, o, resp, what);
	json_object_put(o);
}

/* URL of ref's comments, or NULL when target/ref are not usable. */
static char *comments_url(struct gh_conn *g, const char *target, const struct conn_remote *ref)
{
	long number;
	if (!gh_repo_valid(target) || !ref || gh_key_number(ref->key, &number) < 0)
		return NULL;
	return xasprintf("%s/repos/%s/issues/%ld/comments", g->base_url, target, number);
}

int gh_comment(struct connector *c, const char *target, const struct conn_remote *ref,
               const char *body, conn_comment_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return -ESHUTDOWN;
	if (!cb || !body || !body[0])
		return -EINVAL;
	char *url = comments_url(g, target, ref);
	if (!url)
		return -EINVAL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "body", json_object_new_string(body));
	struct gh_req *r = gh_req_new(g, GH_COMMENT, "POST", url, target, arg);
	r->comment_cb = cb;
	r->body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return gh_req_start(r);
}

int gh_find_comment(struct connector *c, const char *target, const struct conn_remote *ref,
                    const char *marker, conn_comment_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	if (g->destroy_pending)
		return -ESHUTDOWN;
	if (!cb || !marker || !marker[0])
		return -EINVAL;
	char *base = comments_url(g, target, ref);
	if (!base)
		return -EINVAL;
	char *url = xasprintf("%s?per_page=100", base);
	free(base);
	struct gh_req *r = gh_req_new(g, GH_COMMENT_FIND, "GET", url, target, arg);
	r->comment_cb = cb;
	r->marker = xstrdup(marker);
	return gh_req_start(r);
}
