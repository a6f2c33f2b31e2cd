/* github_label.c — the label operation of the GitHub connector
 * (connector.h "label"): one label put on or taken off an issue, for the
 * closeloop:* flag labels of daemon/watch/.
 *
 * Facts (GitHub REST docs, "REST API endpoints for labels", API version
 * 2022-11-28):
 *   POST /repos/{o}/{r}/issues/{n}/labels {"labels": ["name"]} adds the
 *     labels to the (creating a repository label of that name when
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
#include "connector.h"
#include "github_body.h"
#include "github_req.h"
#include "http.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct gh_conn *gh_of(struct connector *c)
{
	return container_of(c, struct gh_conn, base);
}

/* The array called key of the extra JSON text (NULL when absent). */
static struct json_object *extra_array(struct json_object *extra, const char *key)
{
	struct json_object *a;
	if (extra && json_object_object_get_ex(extra, key, &a) &&
	    json_object_is_type(a, json_type_array))
		return a;
	return NULL;
}

/* New extra text: labels from names (objects {"name"} or strings; those
 * closeloop manages as fields are left out, as github_body.c does), minus
 * drop when not NULL; assignees kept from old_extra. */
static char *extra_with(const char *old_extra, struct json_object *names, const char *drop)
{
	struct json_object *old = old_extra ? json_tokener_parse(old_extra) : NULL;
	struct json_object *o = json_object_new_object(), *xl = json_object_new_array();
	for (size_t i = 0; names && i < json_object_array_length(names); i++) {
		struct json_object *l = json_object_array_get_idx(names, i), *v;
		const char *n = json_object_is_type(l, json_type_string) ? json_object_get_string(l) :
		                json_object_object_get_ex(l, "name", &v) ? json_object_get_string(v) :
		                NULL;
		if (n && !gh_label_is_managed(n) && strcasecmp(n, "closeloop") != 0 &&
		    !(drop && strcasecmp(n, drop) == 0))
			json_object_array_add(xl, json_object_new_string(n));
	}
	json_object_object_add(o, "labels", xl);
	struct json_object *xa = extra_array(old, "assignees");
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
	label_finish(r, resp->status, extra_with(r->label_extra, o, NULL));
	json_object_put(o);
}

bool gh_label_absent(struct gh_req *r, const struct http_response *resp)
{
	if (r->label_on || !resp->body)
		return false;
	struct json_object *o = json_tokener_parse(resp->body), *m;
	bool absent = o && json_object_object_get_ex(o, "message", &m) &&
	              json_object_is_type(m, json_type_string) &&
	              strcmp(json_object_get_string(m), "Label does not exist") == 0;
	json_object_put(o);
	if (!absent)
		return false; /* "Not Found": the issue itself is gone */
	struct json_object *old = r->label_extra ? json_tokener_parse(r->label_extra) : NULL;
	label_finish(r, resp->status, extra_with(r->label_extra, extra_array(old, "labels"), r->label));
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
