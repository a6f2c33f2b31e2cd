/* fuzz_webhook.c — libFuzzer target for webhook deliveries: the bytes are
 * a delivery body, signed correctly (so every parser past the signature
 * check is reached) and handed to each tracker's conn_ops.webhook —
 * GitHub (as application/json and as the form field payload=, under the
 * issues, ping and another event), Jira and ServiceNow.  A delivery that
 * verifies must either be classified (with a delivery id) or refused with
 * a reason; nothing may crash, leak or read out of bounds.
 *
 * Seeds: tests/fuzz/corpus/webhook (GitHub issues events, a transfer, a
 * Jira issue_updated, a ServiceNow outbound message). */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "connector.h"
#include "fuzz_common.h"
#include "github_req.h"
#include "jira.h"
#include "servicenow.h"

#define SECRET "fuzz secret"

static void sign(const char *body, size_t len, char *out, size_t n)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)body, len, mac, &ml);
	size_t o = (size_t)snprintf(out, n, "sha256=");
	for (unsigned i = 0; i < ml && o + 2 < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%02x", mac[i]);
}

static void check(int rc, const struct conn_hook_event *ev, const char *err)
{
	if (rc == 0 && !ev->delivery_id[0])
		__builtin_trap(); /* a classified delivery has an id */
	if (rc < 0 && rc != -EINVAL && rc != -EACCES)
		__builtin_trap();
	if (rc < 0 && !err[0])
		__builtin_trap(); /* a refusal says why */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	char sig[80], err[256];
	struct conn_hook_event ev;
	sign(body, size, sig, sizeof(sig));
	static const char *const events[] = { "issues", "ping", "issue_comment" };
	static const char *const ctypes[] = { "application/json", "application/x-www-form-urlencoded" };
	for (size_t e = 0; e < 3; e++)
		for (size_t t = 0; t < 2; t++) {
			const char *names[] = { "content-type", "x-hub-signature-256", "x-github-event",
			                        "x-github-delivery" };
			const char *values[] = { ctypes[t], sig, events[e], "d-1" };
			struct conn_hook_request r = { names, values, 4, body, size };
			err[0] = '\0';
			check(gh_webhook(NULL, &r, SECRET, &ev, err, sizeof(err)), &ev, err);
		}
	const char *jn[] = { "x-hub-signature" }, *jv[] = { sig };
	struct conn_hook_request jr = { jn, jv, 1, body, size };
	err[0] = '\0';
	check(jira_webhook(NULL, &jr, SECRET, &ev, err, sizeof(err)), &ev, err);
	/* "fuzz:secret" in base64 */
	const char *sn[] = { "authorization" }, *sv[] = { "Basic ZnV6ejpzZWNyZXQ=" };
	struct conn_hook_request sr = { sn, sv, 1, body, size };
	err[0] = '\0';
	check(sn_webhook(NULL, &sr, "fuzz:secret", &ev, err, sizeof(err)), &ev, err);
	return 0;
}
