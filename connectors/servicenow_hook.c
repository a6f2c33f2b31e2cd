/* servicenow_hook.c — ServiceNow deliveries: an outbound REST message from
 * a business rule on the problem table (the conn_ops.webhook operation of
 * connector.h).
 *
 * ServiceNow has no built-in webhook format: an administrator defines an
 * outbound REST message (System Web Services > Outbound > REST Message)
 * with Basic authentication (a basic auth profile) and a body template,
 * and a business rule (after insert/update/delete on problem) that sends
 * it.  closeloop takes this body, documented in docs/configuration.md
 * "Webhooks":
 *
 *   {"table": "problem", "sys_id": "${sys_id}", "number": "${number}",
 *    "assignment_group": "${assignment_group}", "operation": "update",
 *    "delivery": "<a unique id, e.g. gs.generateGUID()>"}
 *
 * The connector's webhook secret is "user:password" of that profile; a
 * delivery is verified by comparing its Authorization: Basic credentials
 * with it in constant time.  "operation" is insert, update or delete;
 * without "delivery" the body's digest identifies it.
 */
#include "conn_json.h"
#include "connector.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "servicenow.h"
#include "util.h"

/* true when the header is "Basic base64(secret)" (RFC 7617). */
static bool basic_ok(const char *hdr, const char *secret)
{
	if (!hdr || !secret || !secret[0] || strncasecmp(hdr, "Basic ", 6) != 0)
		return false;
	const char *b64 = hdr + 6;
	while (*b64 == ' ')
		b64++;
	size_t n = strlen(b64);
	if (n == 0 || n % 4 || n > 4096)
		return false;
	unsigned char *raw = xmalloc(n);
	int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	bool same = false;
	if (len >= 0) {
		/* EVP_DecodeBlock counts the padding's zero bytes */
		if (n >= 1 && b64[n - 1] == '=')
			len--;
		if (n >= 2 && b64[n - 2] == '=')
			len--;
		same = (size_t)len == strlen(secret) &&
		       CRYPTO_memcmp(raw, secret, (size_t)len) == 0;
	}
	OPENSSL_cleanse(raw, n);
	free(raw);
	return same;
}

static bool sys_id_ok(const char *v)
{
	return v && strlen(v) == 32 && strspn(v, "0123456789abcdef") == 32;
}

int sn_webhook(struct connector *c, const struct conn_hook_request *req,
               const char *secret, struct conn_hook_event *ev, char *err, size_t errlen)
{
	UNUSED(c);
	int rc = -EINVAL;
	memset(ev, 0, sizeof(*ev));
	const char *auth = conn_hook_header(req, "authorization");
	if (!basic_ok(auth, secret)) {
		snprintf(err, errlen, "%s Authorization (expected Basic credentials equal to the "
		         "connector's webhook secret, user:password of the REST message's basic "
		         "auth profile)", auth ? "wrong" : "no");
		return -EACCES;
	}
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "body is not a JSON object (%s)", json_tokener_error_desc(jerr));
		goto out;
	}
	const char *delivery = conn_json_str(root, "delivery");
	if (delivery && delivery[0] && strlen(delivery) < sizeof(ev->delivery_id))
		snprintf(ev->delivery_id, sizeof(ev->delivery_id), "%s", delivery);
	else
		conn_hook_body_id(req, ev->delivery_id, sizeof(ev->delivery_id));
	const char *sys_id = conn_json_str(root, "sys_id");
	const char *op = conn_json_str(root, "operation");
	const char *number = conn_json_str(root, "number");
	const char *group = conn_json_str(root, "assignment_group");
	if (!sys_id_ok(sys_id) || !op) {
		snprintf(err, errlen, "delivery %s: expected sys_id (32 hex digits) and operation "
		         "(insert, update or delete) in the body", ev->delivery_id);
		goto out;
	}
	snprintf(ev->event, sizeof(ev->event), "%.20s.%.40s",
	         conn_json_str(root, "table") ? conn_json_str(root, "table") : "problem", op);
	snprintf(ev->remote_id, sizeof(ev->remote_id), "%s", sys_id);
	snprintf(ev->key, sizeof(ev->key), "%s", number ? number : sys_id);
	snprintf(ev->target, sizeof(ev->target), "%s", sys_id_ok(group) ? group : "");
	if (strcmp(op, "delete") == 0)
		ev->kind = CONN_HOOK_DELETED;
	else if (strcmp(op, "insert") == 0 || strcmp(op, "update") == 0)
		ev->kind = CONN_HOOK_CHANGED;
	else
		ev->kind = CONN_HOOK_IGNORED;
	rc = 0;
out:
	json_object_put(root);
	return rc;
}
