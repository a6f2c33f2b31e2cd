/* github_label.c — labels of the GitHub connector: the label operation
 * (connector.h "label"), one label put on or taken off an issue, for the
 * closeloop:* flag labels of daemon/watch/; and the label steps of an
 * update that changes closeloop's own labels (priority, type, the
 * in-progress label: github_body.h).
 *
 * An update never sends the issue's label set (PATCH "labels" replaces
 * them all): GitHub has no conditional PATCH, and the set closeloop holds
 * is the one of its last pull, which may be stale (a cycle cut short, a
 * failed pull, a person's edit right after the listing), so a label a
 * person added since would be lost.  The managed labels the issue lacked
 * when last read are added first (one POST), before the PATCH: closed ->
 * in progress never shows the issue open without its label (a third
 * state, which a daemon dying in between would leave for the next pull
 * to read as a change on GitHub).  The update's own answer (the issue as
 * it is after the PATCH, or a GET when nothing else changes) then says
 * which are still missing (one more POST) and which are extra: those are
 * taken off with a DELETE each.  Every step goes through the pacer like
 * the flag labels.  A change cut short between the add and the DELETE
 * leaves two labels of one kind (priority: P1 and P2): github_body.c
 * reads the last one, and the next update of those labels takes the
 * other off.
 *
 * Facts (GitHub REST docs, "REST API endpoints for labels", API version
 * 2022-11-28):
 *   POST /repos/{o}/{r}/issues/{n}/labels {"labels": ["name"]} adds the
 *     labels to the issue's (creating a repository label of that name when
 *     there is none) -> 200 with every label of the issue after; adding a
 *     label the issue has changes nothing;
 *   DELETE /repos/{o}/{r}/issues/{n}/labels/{name} -> 200 with the labels
 *     that remain; 404 when the label is not on the issue (message "Label
 *     does not exist"), which for us means "already off";
 *   label names are matched case-insensitively;
 *   both are mutating requests (paced, connectors/pace.h) but do not
 *     create content, so they take no room in the create budgets.
 * Both requests are idempotent in effect, so gh_req retries 5xx and
 * transport errors as for an update.
 */
#include "conn_json.h"
#include "connector.h"
#include "github_body.h"
#include "github_req.h"
#include "http.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct gh_conn *gh_of(struct connector *c)
{
	return container_of(c, struct gh_conn, base);
}

/* ---- the label steps of an update ---- */

static bool names_have(struct json_object *a, const char *name)
{
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		const char *n = gh_label_name(json_object_array_get_idx(a, i));
		if (n && strcasecmp(n, name) == 0)
			return true;
	}
	return false;
}

/* The labels of the issue being updated as a new array without drop
 * (NULL: all of them); labels (NULL: the issue's own) is the source. */
static void issue_labels_set(struct gh_req *r, struct json_object *labels, const char *drop)
{
	struct json_object *a = json_object_new_array();
	if (!labels)
		labels = conn_json_arr(r->upd_issue, "labels");
	for (size_t i = 0; labels && i < json_object_array_length(labels); i++) {
		struct json_object *l = json_object_array_get_idx(labels, i);
		const char *n = gh_label_name(l);
		if (n && !(drop && strcasecmp(n, drop) == 0))
			json_object_array_add(a, json_object_get(l));
	}
	json_object_object_add(r->upd_issue, "labels", a);
}

static void update_labels_finish(struct gh_req *r, const char *what)
{
	struct conn_remote rem;
	const char *err = NULL;
	if (gh_issue_to_remote(r->upd_issue, r->repo, &rem, &err) < 0) {
		char *msg = xasprintf("%s: HTTP %ld but %s", what, r->upd_status, err);
		gh_req_fail(r, CONN_BAD_RESPONSE, r->upd_status, 0, msg);
		free(msg);
		return;
	}
	gh_discover_mark(&r->g->base, r->repo, r->upd_issue, &rem);
	/* the ETag of the PATCH answer is the one from before the label steps */
	str_replace(&rem.etag, NULL);
	gh_item_done(r, r->upd_status, &rem);
	conn_remote_free(&rem);
}

/* Send one label step of the update r; on failure to start, fail r. */
static void update_labels_send(struct gh_req *r, const char *method, char *url, char *body,
                               const char *what)
{
	r->upd_step = true;
	int rc = gh_req_next(r, GH_LABEL, method, url, body);
	if (rc < 0) {
		char *msg = xasprintf("%s: could not change closeloop's labels: %s", what, strerror(-rc));
		gh_req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
	}
}

/* The next step: add the wanted labels the issue lacks (once), then take
 * off one managed label it should not carry; else report the issue. */
static void update_labels_next(struct gh_req *r, const char *what)
{
	struct json_object *have = conn_json_arr(r->upd_issue, "labels");
	struct json_object *add = json_object_new_array();
	int64_t number = 0;
	for (size_t i = 0; i < json_object_array_length(r->upd_want); i++) {
		const char *n = json_object_get_string(json_object_array_get_idx(r->upd_want, i));
		if (!names_have(have, n))
			json_object_array_add(add, json_object_new_string(n));
	}
	const char *drop = NULL;
	for (size_t i = 0; have && i < json_object_array_length(have) && !drop; i++) {
		const char *n = gh_label_name(json_object_array_get_idx(have, i));
		if (n && gh_label_is_managed(n) && !names_have(r->upd_want, n))
			drop = n;
	}
	conn_json_int64(r->upd_issue, "number", &number);
	if (json_object_array_length(add) > 0 && !r->upd_added) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "labels", json_object_get(add));
		char *body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		                                                    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		r->upd_added = true;
		r->label_on = true;
		update_labels_send(r, "POST", xasprintf("%s/repos/%s/issues/%" PRId64 "/labels",
		                                        r->g->base_url, r->repo, number), body, what);
	} else if (drop) {
		char *e = gh_pct_escape(drop);
		str_replace(&r->label, drop);
		r->label_on = false;
		update_labels_send(r, "DELETE", xasprintf("%s/repos/%s/issues/%" PRId64 "/labels/%s",
		                                          r->g->base_url, r->repo, number, e), NULL, what);
		free(e);
	} else {
		update_labels_finish(r, what);
	}
	json_object_put(add);
}

void gh_update_labels_want(struct gh_req *r, const struct item_fields *want,
                           const struct conn_remote *ref)
{
	json_object_put(r->upd_want);
	r->upd_want = gh_labels_json(want, NULL);
	/* the managed labels of the issue as last read (its fields) */
	struct json_object *had = gh_labels_json(&ref->fields, NULL);
	struct json_object *add = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(r->upd_want); i++) {
		const char *n = json_object_get_string(json_object_array_get_idx(r->upd_want, i));
		if (!names_have(had, n))
			json_object_array_add(add, json_object_new_string(n));
	}
	json_object_put(had);
	if (json_object_array_length(add) > 0) {
		/* r becomes the POST of those; the PATCH (or GET) follows */
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "labels", json_object_get(add));
		r->upd_next_url = r->url;
		r->upd_next_body = r->body;
		r->url = xasprintf("%s/labels", r->upd_next_url);
		r->body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		r->kind = GH_LABEL;
		r->method = "POST";
		r->label_on = true;
	}
	json_object_put(add);
}

/* The labels added first have answered: send the update's PATCH (or a
 * GET when it has nothing else to write). */
static void update_labels_then_patch(struct gh_req *r, const char *what)
{
	char *url = r->upd_next_url, *body = r->upd_next_body;
	r->upd_next_url = r->upd_next_body = NULL;
	r->upd_step = true;
	int rc = gh_req_next(r, body ? GH_UPDATE : GH_FETCH, body ? "PATCH" : "GET", url, body);
	if (rc < 0) {
		char *msg = xasprintf("%s: could not send the update after its labels: %s", what,
		                      strerror(-rc));
		gh_req_fail(r, CONN_ERROR, 0, 0, msg);
		free(msg);
	}
}

bool gh_update_labels_moved(struct gh_req *r, const char *what)
{
	if (!r->upd_next_url)
		return false;
	update_labels_then_patch(r, what);
	return true;
}

void gh_update_labels_start(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct json_object *o = NULL;
	const char *err = NULL;
	int64_t number;
	if (gh_parse_json(r, resp, &o, &err) < 0 || !conn_json_int64(o, "number", &number)) {
		char *msg = xasprintf("%s: HTTP %ld but the body is not an issue (%s)", what,
		                      resp->status, err ? err : "no number");
		gh_req_fail(r, CONN_BAD_RESPONSE, resp->status, 0, msg);
		free(msg);
		json_object_put(o);
		return;
	}
	r->upd_issue = o;
	r->upd_status = resp->status;
	issue_labels_set(r, NULL, NULL); /* a missing or odd "labels" reads as none */
	update_labels_next(r, what);
}

/* New extra text: labels from names (objects {"name"} or strings; those
 * closeloop manages as fields are left out, as github_body.c does), minus
 * drop when not NULL; assignees kept from old_extra. */
static char *extra_with(const char *old_extra, struct json_object *names, const char *drop)
{
	struct json_object *old = old_extra ? json_tokener_parse(old_extra) : NULL;
	struct json_object *o = json_object_new_object(), *xl = json_object_new_array();
	for (size_t i = 0; names && i < json_object_array_length(names); i++) {
		struct json_object *l = json_object_array_get_idx(names, i);
		/* GitHub's label schema: name, a string (another type is no label) */
		const char *n = json_object_is_type(l, json_type_string) ? json_object_get_string(l) :
		                conn_json_str(l, "name");
		if (n && !gh_label_is_managed(n) && strcasecmp(n, "closeloop") != 0 &&
		    !(drop && strcasecmp(n, drop) == 0))
			json_object_array_add(xl, json_object_new_string(n));
	}
	json_object_object_add(o, "labels", xl);
	struct json_object *xa = conn_json_arr(old, "assignees");
	json_object_object_add(o, "assignees", xa ? json_object_get(xa) : json_object_new_array());
	char *text = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	json_object_put(old);
	return text;
}

static void label_finish(struct gh_req *r, long http_status, char *extra)
{
	struct conn_result res = { .status = CONN_OK, .http_status = http_status };
	struct conn_remote remote;
	conn_remote_init(&remote);
	remote.key = xstrdup(r->label_key);
	remote.extra = extra;
	gh_req_finish_item(r, &res, &remote);
	conn_remote_free(&remote);
}

void gh_label_answer(struct gh_req *r, const struct http_response *resp, const char *what)
{
	struct json_object *o = NULL;
	const char *err = NULL;
	if (gh_parse_json(r, resp, &o, &err) < 0 || !json_object_is_type(o, json_type_array)) {
		char *msg = xasprintf("%s: HTTP %ld but the body is not the issue's labels (%s)",
		                      what, resp->status, err ? err : "not a JSON array");
		gh_req_fail(r, CONN_BAD_RESPONSE, resp->status, 0, msg);
		free(msg);
		json_object_put(o);
		return;
	}
	if (r->upd_next_url) {
		json_object_put(o);
		update_labels_then_patch(r, what);
		return;
	}
	if (r->upd_issue) {
		/* the labels the issue has now; the one just taken off is
		 * dropped whatever the answer says, so every DELETE step makes
		 * progress */
		issue_labels_set(r, o, r->label_on ? NULL : r->label);
		json_object_put(o);
		update_labels_next(r, what);
		return;
	}
	label_finish(r, resp->status, extra_with(r->label_extra, o, NULL));
	json_object_put(o);
}

bool gh_label_absent(struct gh_req *r, const struct http_response *resp)
{
	if (r->label_on || !resp->body)
		return false;
	struct json_object *o = json_tokener_parse(resp->body);
	bool absent = str_eq(conn_json_str(o, "message"), "Label does not exist");
	json_object_put(o);
	if (!absent)
		return false; /* "Not Found": the issue itself is gone */
	if (r->upd_issue) { /* already off: the update's next step */
		char *what = gh_req_what(r, r->g->base_url);
		issue_labels_set(r, NULL, r->label);
		update_labels_next(r, what);
		free(what);
		return true;
	}
	struct json_object *old = r->label_extra ? json_tokener_parse(r->label_extra) : NULL;
	label_finish(r, resp->status, extra_with(r->label_extra, conn_json_arr(old, "labels"), r->label));
	json_object_put(old);
	return true;
}

int gh_label(struct connector *c, const char *target, const struct conn_remote *ref,
             const char *label, bool on, conn_item_cb cb, void *arg)
{
	struct gh_conn *g = gh_of(c);
	long number;
	if (g->destroy_pending)
		return -ESHUTDOWN;
	/* GitHub: label names at most 50 characters */
	if (!cb || !label || !label[0] || strlen(label) > 50 || !gh_repo_valid(target) || !ref ||
	    gh_key_number(ref->key, &number) < 0)
		return -EINVAL;
	char *url;
	if (on) {
		url = xasprintf("%s/repos/%s/issues/%ld/labels", g->base_url, target, number);
	} else {
		char *e = gh_pct_escape(label);
		url = xasprintf("%s/repos/%s/issues/%ld/labels/%s", g->base_url, target, number, e);
		free(e);
	}
	struct gh_req *r = gh_req_new(g, GH_LABEL, on ? "POST" : "DELETE", url, target, arg);
	r->item_cb = cb;
	r->label = xstrdup(label);
	r->label_on = on;
	r->label_key = xstrdup(ref->key);
	r->label_extra = ref->extra ? xstrdup(ref->extra) : NULL;
	if (on) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(label));
		json_object_object_add(o, "labels", a);
		r->body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
	return gh_req_start(r);
}
