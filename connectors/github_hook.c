/* github_hook.c — GitHub webhook deliveries: verify and classify (the
 * conn_ops.webhook operation of connector.h).
 *
 * Sources (docs.github.com):
 *   - "Validating webhook deliveries": X-Hub-Signature-256 is "sha256="
 *     and the lower-case hex HMAC-SHA256 of the raw request body keyed
 *     with the webhook secret; compare in constant time.
 *   - "Webhook events and payloads": X-GitHub-Event names the event,
 *     X-GitHub-Delivery is a GUID unique to the delivery (a redelivery
 *     keeps it); the body is JSON (content type application/json) or the
 *     form field payload=<JSON> (application/x-www-form-urlencoded).
 *     issues: action, issue {id, number}, repository {full_name};
 *     issues.transferred adds changes.new_issue and changes.new_repository.
 */
#include "github_req.h"
#include "conn_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"
#include "util.h"


/* The JSON of a delivery: the body itself, or the form field payload=
 * (WHATWG application/x-www-form-urlencoded: '+' is a space, %XX a byte).
 * Heap string or NULL. */
static char *payload_json(const struct conn_hook_request *req)
{
	const char *ct = conn_hook_header(req, "content-type");
	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
		char *s = xmalloc(req->body_len + 1);
		memcpy(s, req->body, req->body_len);
		s[req->body_len] = '\0';
		return s;
	}
	const char *p = req->body, *end = req->body + req->body_len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fend = amp ? amp : end;
		if ((size_t)(fend - p) >= 8 && memcmp(p, "payload=", 8) == 0)
			return url_form_decode(p + 8, (size_t)(fend - p) - 8);
		p = fend + 1;
	}
	return NULL;
}

/* issue {id, number} of repository {full_name} into id/key/target:
 * NULL, or a static phrase naming the member that is missing or of
 * another type (GitHub's issue schema: id and number integers, the
 * repository's full_name a string), relative to the delivery's issue and
 * repository ("changes.new_" is put before it for a transfer's). */
static const char *issue_ref(struct json_object *issue, struct json_object *repo, char *id,
                             size_t idn, char *key, size_t keyn, char *target, size_t tn)
{
	int64_t nid = 0, num = 0;
	const char *full = conn_json_str(repo, "full_name");
	if (!issue)
		return "issue is missing or not an object";
	if (!conn_json_int64(issue, "id", &nid) || nid <= 0)
		return "issue.id is missing or not a positive integer";
	if (!conn_json_int64(issue, "number", &num) || num <= 0)
		return "issue.number is missing or not a positive integer";
	if (!full)
		return "repository.full_name is missing or not a string";
	snprintf(id, idn, "%lld", (long long)nid);
	snprintf(key, keyn, "%s#%lld", full, (long long)num);
	snprintf(target, tn, "%s", full);
	return NULL;
}

static int classify_issues(struct json_object *root, struct conn_hook_event *ev,
                           char *err, size_t errlen)
{
	const char *action = conn_json_str(root, "action"), *bad = NULL;
	struct json_object *repo = conn_json_obj(root, "repository");
	if (!action)
		bad = "action is missing or not a string";
	else
		bad = issue_ref(conn_json_obj(root, "issue"), repo, ev->remote_id,
		                sizeof(ev->remote_id), ev->key, sizeof(ev->key), ev->target,
		                sizeof(ev->target));
	if (bad) {
		snprintf(err, errlen, "issues delivery: %s", bad);
		return -EINVAL;
	}
	snprintf(ev->event, sizeof(ev->event), "issues.%s", action);
	ev->kind = CONN_HOOK_CHANGED;
	if (strcmp(action, "deleted") == 0) {
		ev->kind = CONN_HOOK_DELETED;
	} else if (strcmp(action, "transferred") == 0) {
		struct json_object *ch = conn_json_obj(root, "changes");
		bad = issue_ref(conn_json_obj(ch, "new_issue"), conn_json_obj(ch, "new_repository"),
		                ev->new_remote_id, sizeof(ev->new_remote_id), ev->new_key,
		                sizeof(ev->new_key), ev->new_target, sizeof(ev->new_target));
		if (bad) {
			snprintf(err, errlen, "issues.transferred delivery: changes.new_%s", bad);
			return -EINVAL;
		}
		ev->kind = CONN_HOOK_TRANSFERRED;
	}
	return 0;
}

int gh_webhook(struct connector *c, const struct conn_hook_request *req,
               const char *secret, struct conn_hook_event *ev, char *err, size_t errlen)
{
	UNUSED(c);
	int rc = -EINVAL;
	char *json = NULL;
	struct json_object *root = NULL;
	memset(ev, 0, sizeof(*ev));
	if (!conn_hook_hmac_ok(conn_hook_header(req, "x-hub-signature-256"), "sha256=", secret,
	                       req->body, req->body_len)) {
		snprintf(err, errlen, "%s X-Hub-Signature-256 (expected sha256=HMAC-SHA256 of the "
		         "body with the connector's webhook secret)",
		         conn_hook_header(req, "x-hub-signature-256") ? "wrong" : "no");
		return -EACCES;
	}
	const char *event = conn_hook_header(req, "x-github-event");
	const char *delivery = conn_hook_header(req, "x-github-delivery");
	if (!event || !event[0] || !delivery || !delivery[0] || strlen(delivery) >= sizeof(ev->delivery_id)) {
		snprintf(err, errlen, "delivery without X-GitHub-Event or X-GitHub-Delivery (or an "
		         "id longer than %zu bytes)", sizeof(ev->delivery_id) - 1);
		goto out;
	}
	snprintf(ev->delivery_id, sizeof(ev->delivery_id), "%s", delivery);
	snprintf(ev->event, sizeof(ev->event), "%s", event);
	json = payload_json(req);
	enum json_tokener_error jerr = json_tokener_success;
	root = json ? json_tokener_parse_verbose(json, &jerr) : NULL;
	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "%s delivery %s: body is not a JSON object (%s)", event, delivery,
		         json ? json_tokener_error_desc(jerr) : "no payload= form field");
		goto out;
	}
	if (strcmp(event, "ping") == 0) {
		ev->kind = CONN_HOOK_PING;
	} else if (strcmp(event, "issues") == 0) {
		if ((rc = classify_issues(root, ev, err, errlen)) < 0)
			goto out;
	} else {
		ev->kind = CONN_HOOK_IGNORED; /* comments, pushes, ...: not synced */
		const char *full = conn_json_str(conn_json_obj(root, "repository"), "full_name");
		snprintf(ev->target, sizeof(ev->target), "%s", full ? full : "");
	}
	rc = 0;
out:
	json_object_put(root);
	free(json);
	return rc;
}
