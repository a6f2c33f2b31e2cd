/* jira_label.c — the label operation of the Jira connector (connector.h
 * "label"): one label put on or taken off an issue, for the closeloop:*
 * flag labels and the escalation rungs' label action (daemon/watch/).
 *
 * Facts (Atlassian, "The Jira Cloud platform REST API" v3, Edit issue,
 * PUT /rest/api/3/issue/{issueIdOrKey}, in the OpenAPI description
 * /work/shared/specs/jira-cloud-platform-v3.openapi.json: IssueUpdateDetails
 * "update" is "a Map containing the field name and a list of operations
 * to perform on the issue screen field", FieldUpdateOperation has "add"
 * and "remove"; 204 when done, 400 when a field is refused, 404 when the
 * issue is gone or out of reach; Jira Data Center REST v2, "Updating an
 * Issue via the JIRA REST APIs", developer.atlassian.com/server/jira/
 * platform/updating-an-issue-via-the-jira-rest-apis-6848604: the same
 * body on PUT /rest/api/2/issue/{idOrKey}, "labels" taking the add and
 * remove verbs):
 *   {"update": {"labels": [{"add": "closeloop:ownerless"}]}} adds one
 *     label and leaves the others as they are (the "fields" form would
 *     replace the whole set, losing a label a person added since our
 *     last read); adding a label the issue has changes nothing;
 *   {"update": {"labels": [{"remove": "x"}]}} takes it off; removing a
 *     label the issue lacks changes nothing;
 *   a label holds no white space (Jira answers 400 "errors": {"labels":
 *     ...}) and is at most 255 characters: refused here before sending.
 * Both are idempotent, so the step is retried on 5xx and transport
 * errors like an edit, and paced with the other writes (connectors/pace.h)
 * without taking room in the create budget.
 */
#include "jira.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JIRA_LABEL_MAX 255

static bool label_valid(const char *l)
{
	size_t n = l ? strlen(l) : 0;
	if (n == 0 || n > JIRA_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (isspace((unsigned char)l[i]) || iscntrl((unsigned char)l[i]))
			return false;
	return true;
}

/* extra (the link's remote_extra, {"labels": [...], ...} as jira_fields.c
 * reads it; NULL: none) with label added (on) or taken off; the other
 * members stay.  Heap JSON text. */
static char *extra_after(const char *extra, const char *label, bool on)
{
	struct json_object *o = extra ? json_tokener_parse(extra) : NULL, *old = NULL;
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = json_object_new_object();
	}
	struct json_object *now = json_object_new_array();
	if (json_object_object_get_ex(o, "labels", &old) && json_object_is_type(old, json_type_array))
		for (size_t i = 0; i < json_object_array_length(old); i++) {
			struct json_object *l = json_object_array_get_idx(old, i);
			if (!json_object_is_type(l, json_type_string) ||
			    strcmp(json_object_get_string(l), label) != 0)
				json_object_array_add(now, json_object_get(l));
		}
	if (on) /* once, at the end */
		json_object_array_add(now, json_object_new_string(label));
	json_object_object_add(o, "labels", now);
	char *t = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return t;
}

int jira_label(struct connector *c, const char *target, const struct conn_remote *ref,
               const char *label, bool on, conn_item_cb cb, void *arg)
{
	struct jira_conn *j = container_of(c, struct jira_conn, base);
	const char *id = ref && ref->remote_id ? ref->remote_id : ref ? ref->key : NULL;
	if (j->destroyed)
		return -ESHUTDOWN;
	if (!cb || !label_valid(label) || !jira_id_or_key_valid(id))
		return -EINVAL;
	struct json_object *op = json_object_new_object(), *ops = json_object_new_array(),
	                   *upd = json_object_new_object(), *body = json_object_new_object();
	json_object_object_add(op, on ? "add" : "remove", json_object_new_string(label));
	json_object_array_add(ops, op);
	json_object_object_add(upd, "labels", ops);
	json_object_object_add(body, "update", upd);
	char *text = xstrdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	                                                    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	struct jira_req *r = jira_req_new(j, JO_LABEL, JS_LABEL, "PUT",
	                                  xasprintf("%s%s/issue/%s", j->base_url, j->api, id),
	                                  text, target, arg);
	r->item_cb = cb;
	r->issue_key = xstrdup(ref->key ? ref->key : id);
	r->label = xstrdup(label);
	r->label_on = on;
	r->label_extra = ref->extra ? xstrdup(ref->extra) : NULL;
	int rc = jira_req_send(r);
	if (rc < 0)
		jira_req_discard(r);
	return rc;
}

void jira_label_answer(struct jira_req *r, long status)
{
	struct conn_result res = { .status = CONN_OK, .http_status = status };
	struct conn_remote remote;
	conn_remote_init(&remote);
	remote.key = xstrdup(r->issue_key);
	remote.extra = extra_after(r->label_extra, r->label, r->label_on);
	jira_req_finish_item(r, &res, &remote);
	conn_remote_free(&remote);
}
