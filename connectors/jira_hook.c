/* jira_hook.c — Jira Cloud webhook deliveries: verify and classify (the
 * conn_ops.webhook operation of connector.h).
 *
 * Sources (developer.atlassian.com, "Webhooks", Jira Cloud platform):
 *   - an admin webhook registered with a secret is signed: X-Hub-Signature
 *     is "sha256=" and the hex HMAC-SHA256 of the raw body keyed with the
 *     secret (WebSub's method=signature form);
 *   - X-Atlassian-Webhook-Identifier identifies the delivery, unchanged
 *     across Jira's retries (a delivery without one, as from an older Data
 *     Center, is identified by a digest of its body);
 *   - the body is JSON: webhookEvent ("jira:issue_created",
 *     "jira:issue_updated", "jira:issue_deleted", "comment_created", ...)
 *     and issue {id (numeric, as a string), key, fields {project {key}}}.
 *   A move to another project arrives as jira:issue_updated with the new
 *   key: the issue keeps its id, and the engine's fetch by id follows it.
 */
#include "conn_json.h"
#include "connector.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "jira.h"
#include "util.h"

/* issue {id, key, fields.project.key} into ev; false when id or key is
 * missing or not what Jira sends. */
static bool issue_ref(struct json_object *issue, struct conn_hook_event *ev)
{
	const char *id = conn_json_str(issue, "id"), *key = conn_json_str(issue, "key");
	if (!id || !id[0] || strspn(id, "0123456789") != strlen(id) || !key || !strchr(key, '-') ||
	    strlen(id) >= sizeof(ev->remote_id) || strlen(key) >= sizeof(ev->key))
		return false;
	snprintf(ev->remote_id, sizeof(ev->remote_id), "%s", id);
	snprintf(ev->key, sizeof(ev->key), "%s", key);
	const char *project = conn_json_str(conn_json_obj(conn_json_obj(issue, "fields"), "project"), "key");
	if (project)
		snprintf(ev->target, sizeof(ev->target), "%s", project);
	else
		snprintf(ev->target, sizeof(ev->target), "%.*s", (int)(strchr(key, '-') - key), key);
	return true;
}

int jira_webhook(struct connector *c, const struct conn_hook_request *req,
                 const char *secret, struct conn_hook_event *ev, char *err, size_t errlen)
{
	UNUSED(c);
	int rc = -EINVAL;
	memset(ev, 0, sizeof(*ev));
	const char *sig = conn_hook_header(req, "x-hub-signature");
	if (!conn_hook_hmac_ok(sig, "sha256=", secret, req->body, req->body_len)) {
		snprintf(err, errlen, "%s X-Hub-Signature (expected sha256=HMAC-SHA256 of the body "
		         "with the connector's webhook secret, as a Jira admin webhook with a "
		         "secret sends)", sig ? "wrong" : "no");
		return -EACCES;
	}
	const char *id = conn_hook_header(req, "x-atlassian-webhook-identifier");
	if (id && id[0] && strlen(id) < sizeof(ev->delivery_id))
		snprintf(ev->delivery_id, sizeof(ev->delivery_id), "%s", id);
	else
		conn_hook_body_id(req, ev->delivery_id, sizeof(ev->delivery_id));
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "delivery %s: body is not a JSON object (%s)", ev->delivery_id,
		         json_tokener_error_desc(jerr));
		goto out;
	}
	const char *event = conn_json_str(root, "webhookEvent");
	if (!event || !event[0]) {
		snprintf(err, errlen, "delivery %s: no webhookEvent", ev->delivery_id);
		goto out;
	}
	snprintf(ev->event, sizeof(ev->event), "%s", event);
	bool created = strcmp(event, "jira:issue_created") == 0;
	bool updated = strcmp(event, "jira:issue_updated") == 0;
	bool deleted = strcmp(event, "jira:issue_deleted") == 0;
	if (!created && !updated && !deleted) {
		ev->kind = CONN_HOOK_IGNORED; /* comments, worklogs, sprints: not synced */
		rc = 0;
		goto out;
	}
	if (!issue_ref(conn_json_obj(root, "issue"), ev)) {
		snprintf(err, errlen, "%s delivery %s without issue {id, key}", event, ev->delivery_id);
		goto out;
	}
	ev->kind = deleted ? CONN_HOOK_DELETED : CONN_HOOK_CHANGED;
	rc = 0;
out:
	json_object_put(root);
	return rc;
}
