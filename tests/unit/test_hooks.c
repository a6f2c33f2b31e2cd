/* test_hooks.c — webhook deliveries: GitHub's signature check against the
 * published test vector, classification of issues events, and what
 * closeloop_webhook_delivery (sql/016) does to links in a real ledger. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "connector.h"
#include "http.h"
#include "jira.h"
#include "servicenow.h"
#include "pgtest.h"

struct gh {
	uv_loop_t loop;
	struct http_client *http;
	struct connector *c;
};

static int gh_setup(void **state)
{
	struct gh *g = xcalloc(1, sizeof(*g));
	assert_int_equal(uv_loop_init(&g->loop), 0);
	struct http_client_options ho = { .default_timeout_ms = 1000 };
	assert_int_equal(http_client_new(&g->http, &g->loop, &ho), 0);
	struct conn_options o = { .name = "gh", .base_url = "http://127.0.0.1:9",
	                          .token = "t", .max_attempts = 1, .max_inflight = 1 };
	assert_int_equal(connector_new(&g->c, "github", &g->loop, g->http, &o), 0);
	assert_non_null(g->c->ops->webhook);
	assert_true(conn_type_webhooks(conn_type_find("github")));
	*state = g;
	return 0;
}

static void gh_closed(void *arg)
{
	UNUSED(arg);
}

static int gh_teardown(void **state)
{
	struct gh *g = *state;
	connector_destroy(g->c);
	http_client_close(g->http, gh_closed, NULL);
	uv_run(&g->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&g->loop), 0);
	free(g);
	return 0;
}

/* A delivery with the given headers ("name", "value", ..., NULL). */
static int deliver(struct gh *g, const char *secret, const char *body, struct conn_hook_event *ev,
                   char *err, size_t errlen, ...)
{
	const char *names[16], *values[16];
	size_t n = 0;
	va_list ap;
	va_start(ap, errlen);
	for (const char *k; n < 16 && (k = va_arg(ap, const char *)); n++) {
		names[n] = k;
		values[n] = va_arg(ap, const char *);
	}
	va_end(ap);
	struct conn_hook_request r = { .header_names = names, .header_values = values,
	                               .n_headers = n, .body = body, .body_len = strlen(body) };
	return g->c->ops->webhook(g->c, &r, secret, ev, err, errlen);
}

/* "sha256=<hex>" of body under secret, the way GitHub signs. */
static void sign(const char *secret, const char *body, char *out, size_t n)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret),
	                     (const unsigned char *)body, strlen(body), mac, &len));
	size_t o = (size_t)snprintf(out, n, "sha256=");
	for (unsigned i = 0; i < len && o + 2 < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%02x", mac[i]);
}

/* docs.github.com, "Validating webhook deliveries", "Testing the webhook
 * payload validation": secret "It's a Secret to Everybody", payload
 * "Hello, World!", signature
 * sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17.
 * The body is not an event's JSON, so a verified delivery is -EINVAL;
 * any other signature, or none, is -EACCES. */
static void test_github_published_test_vector(void **state)
{
	struct gh *g = *state;
	struct conn_hook_event ev;
	char err[256];
	const char *secret = "It's a Secret to Everybody";
	const char *good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
	const char *bad = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18";
	assert_int_equal(deliver(g, secret, "Hello, World!", &ev, err, sizeof(err),
	                         "x-hub-signature-256", good, "x-github-event", "issues",
	                         "x-github-delivery", "d-1", NULL), -EINVAL);
	assert_non_null(strstr(err, "not a JSON object"));
	assert_int_equal(deliver(g, secret, "Hello, World!", &ev, err, sizeof(err),
	                         "x-hub-signature-256", bad, "x-github-event", "issues",
	                         "x-github-delivery", "d-1", NULL), -EACCES);
	assert_int_equal(deliver(g, secret, "Hello, World?", &ev, err, sizeof(err),
	                         "x-hub-signature-256", good, "x-github-event", "issues",
	                         "x-github-delivery", "d-1", NULL), -EACCES);
	assert_int_equal(deliver(g, "another secret", "Hello, World!", &ev, err, sizeof(err),
	                         "x-hub-signature-256", good, "x-github-event", "issues",
	                         "x-github-delivery", "d-1", NULL), -EACCES);
	assert_int_equal(deliver(g, secret, "Hello, World!", &ev, err, sizeof(err),
	                         "x-github-event", "issues", "x-github-delivery", "d-1", NULL),
	                 -EACCES);
	assert_non_null(strstr(err, "no X-Hub-Signature-256"));
	/* the old SHA-1 header alone is not enough */
	assert_int_equal(deliver(g, secret, "Hello, World!", &ev, err, sizeof(err),
	                         "x-hub-signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59",
	                         "x-github-event", "issues", "x-github-delivery", "d-1", NULL),
	                 -EACCES);
	/* upper-case hex or a truncated signature does not verify */
	assert_int_equal(deliver(g, secret, "Hello, World!", &ev, err, sizeof(err),
	                         "x-hub-signature-256", "sha256=757107EA", "x-github-event", "issues",
	                         "x-github-delivery", "d-1", NULL), -EACCES);
	assert_int_equal(deliver(g, "", "Hello, World!", &ev, err, sizeof(err),
	                         "x-hub-signature-256", good, "x-github-event", "issues",
	                         "x-github-delivery", "d-1", NULL), -EACCES);
}

static const char ISSUE_EDITED[] =
	"{\"action\":\"edited\",\"issue\":{\"id\":1001,\"number\":7,\"title\":\"Add alerts\","
	"\"state\":\"open\"},\"changes\":{\"title\":{\"from\":\"add alerts\"}},"
	"\"repository\":{\"id\":55,\"full_name\":\"acme/k8s\"},\"sender\":{\"login\":\"ana\"}}";

static void test_github_issues_edited(void **state)
{
	struct gh *g = *state;
	struct conn_hook_event ev;
	char err[256], sig[80];
	sign("s3cret", ISSUE_EDITED, sig, sizeof(sig));
	assert_int_equal(deliver(g, "s3cret", ISSUE_EDITED, &ev, err, sizeof(err),
	                         "content-type", "application/json", "x-hub-signature-256", sig,
	                         "x-github-event", "issues",
	                         "x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958", NULL), 0);
	assert_int_equal(ev.kind, CONN_HOOK_CHANGED);
	assert_string_equal(ev.event, "issues.edited");
	assert_string_equal(ev.delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
	assert_string_equal(ev.target, "acme/k8s");
	assert_string_equal(ev.remote_id, "1001");
	assert_string_equal(ev.key, "acme/k8s#7");
}

/* The form encoding GitHub uses by default for repository webhooks: the
 * signature covers the encoded body; the JSON is the payload field. */
static void test_github_form_encoded(void **state)
{
	struct gh *g = *state;
	struct conn_hook_event ev;
	char err[256], sig[80];
	const char *body = "payload=%7B%22action%22%3A%22closed%22%2C%22issue%22%3A%7B%22id%22%3A9"
	                   "%2C%22number%22%3A3%7D%2C%22repository%22%3A%7B%22full_name%22%3A%22"
	                   "acme%2Fweb+site%22%7D%7D";
	sign("s3cret", body, sig, sizeof(sig));
	assert_int_equal(deliver(g, "s3cret", body, &ev, err, sizeof(err),
	                         "content-type", "application/x-www-form-urlencoded",
	                         "x-hub-signature-256", sig, "x-github-event", "issues",
	                         "x-github-delivery", "d-form", NULL), 0);
	assert_string_equal(ev.event, "issues.closed");
	assert_string_equal(ev.key, "acme/web site#3");
}

static void test_github_transferred_deleted_ping_other(void **state)
{
	struct gh *g = *state;
	struct conn_hook_event ev;
	char err[256], sig[80];
	const char *tr = "{\"action\":\"transferred\",\"issue\":{\"id\":1001,\"number\":7},"
	                 "\"changes\":{\"new_issue\":{\"id\":2002,\"number\":1},"
	                 "\"new_repository\":{\"full_name\":\"acme/platform\"}},"
	                 "\"repository\":{\"full_name\":\"acme/k8s\"}}";
	sign("k", tr, sig, sizeof(sig));
	assert_int_equal(deliver(g, "k", tr, &ev, err, sizeof(err), "x-hub-signature-256", sig,
	                         "x-github-event", "issues", "x-github-delivery", "t1", NULL), 0);
	assert_int_equal(ev.kind, CONN_HOOK_TRANSFERRED);
	assert_string_equal(ev.remote_id, "1001");
	assert_string_equal(ev.new_remote_id, "2002");
	assert_string_equal(ev.new_key, "acme/platform#1");
	assert_string_equal(ev.new_target, "acme/platform");

	const char *tr_bad = "{\"action\":\"transferred\",\"issue\":{\"id\":1001,\"number\":7},"
	                     "\"repository\":{\"full_name\":\"acme/k8s\"}}";
	sign("k", tr_bad, sig, sizeof(sig));
	assert_int_equal(deliver(g, "k", tr_bad, &ev, err, sizeof(err), "x-hub-signature-256", sig,
	                         "x-github-event", "issues", "x-github-delivery", "t2", NULL), -EINVAL);
	assert_non_null(strstr(err, "changes.new_issue"));

	const char *del = "{\"action\":\"deleted\",\"issue\":{\"id\":1001,\"number\":7},"
	                  "\"repository\":{\"full_name\":\"acme/k8s\"}}";
	sign("k", del, sig, sizeof(sig));
	assert_int_equal(deliver(g, "k", del, &ev, err, sizeof(err), "x-hub-signature-256", sig,
	                         "x-github-event", "issues", "x-github-delivery", "t3", NULL), 0);
	assert_int_equal(ev.kind, CONN_HOOK_DELETED);

	const char *ping = "{\"zen\":\"Keep it logically awesome.\",\"hook_id\":1}";
	sign("k", ping, sig, sizeof(sig));
	assert_int_equal(deliver(g, "k", ping, &ev, err, sizeof(err), "x-hub-signature-256", sig,
	                         "x-github-event", "ping", "x-github-delivery", "p", NULL), 0);
	assert_int_equal(ev.kind, CONN_HOOK_PING);

	const char *cmt = "{\"action\":\"created\",\"comment\":{\"id\":5},"
	                  "\"repository\":{\"full_name\":\"acme/k8s\"}}";
	sign("k", cmt, sig, sizeof(sig));
	assert_int_equal(deliver(g, "k", cmt, &ev, err, sizeof(err), "x-hub-signature-256", sig,
	                         "x-github-event", "issue_comment", "x-github-delivery", "c", NULL), 0);
	assert_int_equal(ev.kind, CONN_HOOK_IGNORED);

	/* verified, but no delivery id: refused, not guessed */
	assert_int_equal(deliver(g, "k", cmt, &ev, err, sizeof(err), "x-hub-signature-256", sig,
	                         "x-github-event", "issue_comment", NULL), -EINVAL);
	/* an issues event without the issue */
	sign("k", "{\"action\":\"edited\"}", sig, sizeof(sig));
	assert_int_equal(deliver(g, "k", "{\"action\":\"edited\"}", &ev, err, sizeof(err),
	                         "x-hub-signature-256", sig, "x-github-event", "issues",
	                         "x-github-delivery", "e", NULL), -EINVAL);
}

/* A verified issues delivery whose issue or repository members have
 * another type than GitHub's schema (id and number integers, full_name
 * a string) is refused with the member named, not with one message for
 * all of them: the operator sees which part of which delivery was
 * wrong. */
static void test_github_wrong_types_name_the_member(void **state)
{
	struct gh *g = *state;
	struct conn_hook_event ev;
	char err[256], sig[80];
	static const struct { const char *body, *err; } cases[] = {
		{ "{\"action\":\"edited\",\"issue\":{\"id\":\"1001\",\"number\":7},"
		  "\"repository\":{\"full_name\":\"acme/k8s\"}}",
		  "issues delivery: issue.id is missing or not a positive integer" },
		{ "{\"action\":\"edited\",\"issue\":{\"id\":1001,\"number\":7.0},"
		  "\"repository\":{\"full_name\":\"acme/k8s\"}}",
		  "issues delivery: issue.number is missing or not a positive integer" },
		{ "{\"action\":\"edited\",\"issue\":{\"id\":1001,\"number\":7},"
		  "\"repository\":{\"full_name\":[\"acme/k8s\"]}}",
		  "issues delivery: repository.full_name is missing or not a string" },
		{ "{\"action\":true,\"issue\":{\"id\":1001,\"number\":7},"
		  "\"repository\":{\"full_name\":\"acme/k8s\"}}",
		  "issues delivery: action is missing or not a string" },
		{ "{\"action\":\"edited\",\"issue\":[1001,7],"
		  "\"repository\":{\"full_name\":\"acme/k8s\"}}",
		  "issues delivery: issue is missing or not an object" },
		{ "{\"action\":\"transferred\",\"issue\":{\"id\":1001,\"number\":7},"
		  "\"changes\":{\"new_issue\":{\"id\":2002,\"number\":\"1\"},"
		  "\"new_repository\":{\"full_name\":\"acme/platform\"}},"
		  "\"repository\":{\"full_name\":\"acme/k8s\"}}",
		  "issues.transferred delivery: changes.new_issue.number is missing or not a "
		  "positive integer" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sign("k", cases[i].body, sig, sizeof(sig));
		err[0] = '\0';
		assert_int_equal(deliver(g, "k", cases[i].body, &ev, err, sizeof(err),
		                         "x-hub-signature-256", sig, "x-github-event", "issues",
		                         "x-github-delivery", "w", NULL), -EINVAL);
		assert_string_equal(err, cases[i].err);
	}
}

/* ---- Jira Cloud: X-Hub-Signature, X-Atlassian-Webhook-Identifier ---- */

static int jira_deliver(const char *secret, const char *body, const char *sig, const char *id,
                        struct conn_hook_event *ev, char *err, size_t errlen)
{
	const char *names[3], *values[3];
	size_t n = 0;
	if (sig) {
		names[n] = "x-hub-signature";
		values[n++] = sig;
	}
	if (id) {
		names[n] = "x-atlassian-webhook-identifier";
		values[n++] = id;
	}
	struct conn_hook_request r = { .header_names = names, .header_values = values,
	                               .n_headers = n, .body = body, .body_len = strlen(body) };
	return jira_webhook(NULL, &r, secret, ev, err, errlen);
}

static void test_jira_deliveries(void **state)
{
	UNUSED(state);
	struct conn_hook_event ev;
	char err[256], sig[80];
	const char *upd = "{\"timestamp\":1764633600000,\"webhookEvent\":\"jira:issue_updated\","
	                  "\"issue_event_type_name\":\"issue_generic\",\"issue\":{\"id\":\"10002\","
	                  "\"key\":\"OPS-12\",\"fields\":{\"project\":{\"key\":\"OPS\"},"
	                  "\"summary\":\"Add alerts\"}},\"changelog\":{\"items\":[]}}";
	sign("jira secret", upd, sig, sizeof(sig));
	assert_int_equal(jira_deliver("jira secret", upd, sig, "d-42", &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, CONN_HOOK_CHANGED);
	assert_string_equal(ev.event, "jira:issue_updated");
	assert_string_equal(ev.delivery_id, "d-42");
	assert_string_equal(ev.remote_id, "10002");
	assert_string_equal(ev.key, "OPS-12");
	assert_string_equal(ev.target, "OPS");
	/* wrong secret, no signature, GitHub's header name: refused */
	assert_int_equal(jira_deliver("other", upd, sig, "d-42", &ev, err, sizeof(err)), -EACCES);
	assert_int_equal(jira_deliver("jira secret", upd, NULL, "d-42", &ev, err, sizeof(err)),
	                 -EACCES);
	assert_non_null(strstr(err, "no X-Hub-Signature"));
	/* no identifier (older Data Center): the body's digest, stable */
	assert_int_equal(jira_deliver("jira secret", upd, sig, NULL, &ev, err, sizeof(err)), 0);
	char first[80];
	snprintf(first, sizeof(first), "%s", ev.delivery_id);
	assert_true(strncmp(first, "sha256:", 7) == 0 && strlen(first) == 39);
	assert_int_equal(jira_deliver("jira secret", upd, sig, NULL, &ev, err, sizeof(err)), 0);
	assert_string_equal(ev.delivery_id, first);
	/* deleted, a comment event, an issue event without the issue */
	const char *del = "{\"webhookEvent\":\"jira:issue_deleted\",\"issue\":{\"id\":\"10002\","
	                  "\"key\":\"OPS-12\",\"fields\":{}}}";
	sign("k", del, sig, sizeof(sig));
	assert_int_equal(jira_deliver("k", del, sig, "d1", &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, CONN_HOOK_DELETED);
	assert_string_equal(ev.target, "OPS");
	const char *cmt = "{\"webhookEvent\":\"comment_created\",\"comment\":{\"id\":\"1\"}}";
	sign("k", cmt, sig, sizeof(sig));
	assert_int_equal(jira_deliver("k", cmt, sig, "d2", &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, CONN_HOOK_IGNORED);
	const char *bad = "{\"webhookEvent\":\"jira:issue_created\",\"issue\":{\"id\":10002}}";
	sign("k", bad, sig, sizeof(sig));
	assert_int_equal(jira_deliver("k", bad, sig, "d3", &ev, err, sizeof(err)), -EINVAL);
	sign("k", "[1,2]", sig, sizeof(sig));
	assert_int_equal(jira_deliver("k", "[1,2]", sig, "d4", &ev, err, sizeof(err)), -EINVAL);
	assert_true(conn_type_webhooks(conn_type_find("jira")));
}

/* ---- ServiceNow: an outbound REST message with Basic authentication ---- */

static int sn_deliver(const char *secret, const char *body, const char *auth,
                      struct conn_hook_event *ev, char *err, size_t errlen)
{
	const char *names[1] = { "authorization" }, *values[1] = { auth };
	struct conn_hook_request r = { .header_names = names, .header_values = values,
	                               .n_headers = auth ? 1 : 0, .body = body,
	                               .body_len = strlen(body) };
	return sn_webhook(NULL, &r, secret, ev, err, errlen);
}

static void test_servicenow_deliveries(void **state)
{
	UNUSED(state);
	struct conn_hook_event ev;
	char err[256];
	const char *secret = "closeloop:s3cr3t";   /* base64: Y2xvc2Vsb29wOnMzY3IzdA== */
	const char *good = "Basic Y2xvc2Vsb29wOnMzY3IzdA==";
	const char *upd = "{\"table\":\"problem\",\"sys_id\":\"a9e30c7dc61122760116894de7bcc7bd\","
	                  "\"number\":\"PRB0040012\",\"assignment_group\":"
	                  "\"8a4dde73c6112278017a6a4baf547aa7\",\"operation\":\"update\","
	                  "\"delivery\":\"4c1d2e3f\"}";
	assert_int_equal(sn_deliver(secret, upd, good, &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, CONN_HOOK_CHANGED);
	assert_string_equal(ev.event, "problem.update");
	assert_string_equal(ev.delivery_id, "4c1d2e3f");
	assert_string_equal(ev.remote_id, "a9e30c7dc61122760116894de7bcc7bd");
	assert_string_equal(ev.key, "PRB0040012");
	assert_string_equal(ev.target, "8a4dde73c6112278017a6a4baf547aa7");
	/* wrong password, no header, another scheme, a prefix of the secret */
	assert_int_equal(sn_deliver(secret, upd, "Basic Y2xvc2Vsb29wOnMzY3IzdQ==", &ev, err,
	                            sizeof(err)), -EACCES);
	assert_int_equal(sn_deliver(secret, upd, NULL, &ev, err, sizeof(err)), -EACCES);
	assert_int_equal(sn_deliver(secret, upd, "Bearer Y2xvc2Vsb29wOnMzY3IzdA==", &ev, err,
	                            sizeof(err)), -EACCES);
	assert_int_equal(sn_deliver(secret, upd, "Basic Y2xvc2Vsb29wOnMzY3Iz", &ev, err,
	                            sizeof(err)), -EACCES);
	/* delete; a body that is not the documented one */
	const char *del = "{\"sys_id\":\"a9e30c7dc61122760116894de7bcc7bd\",\"operation\":\"delete\"}";
	assert_int_equal(sn_deliver(secret, del, good, &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, CONN_HOOK_DELETED);
	assert_true(strncmp(ev.delivery_id, "sha256:", 7) == 0);
	assert_int_equal(sn_deliver(secret, "{\"sys_id\":\"PRB1\",\"operation\":\"update\"}",
	                            good, &ev, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "32 hex digits"));
	assert_true(conn_type_webhooks(conn_type_find("servicenow")));
}

/* ---- closeloop_webhook_delivery in a real ledger ---- */

static const char *delivery(PGconn *c, const char *id, const char *kind, const char *remote,
                            const char *new_target, const char *new_id, const char *served)
{
	static char out[64];
	const char *p[] = { "gh", id, "issues.x", kind, "acme/k8s", remote, "acme/k8s#7",
	                    new_target, new_id, new_id ? "acme/platform#1" : NULL, served, "test" };
	char *v = pgtest_value(c, "SELECT closeloop_webhook_delivery($1, $2, $3, $4, $5, $6, $7, "
	                       "$8, $9, $10, $11::boolean, $12)", 12, p);
	snprintf(out, sizeof(out), "%s", v);
	free(v);
	return out;
}

static void test_ledger_delivery_function(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "hooks", true))
		return;
	pgtest_exec(t.conn, "INSERT INTO postmortem (id, reference, title) VALUES (1, 'PM-1', 'x')",
	            0, NULL);
	pgtest_exec(t.conn, "INSERT INTO action_item (id, postmortem_id, title)"
	            " VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 1, 'c')", 0, NULL);
	pgtest_exec(t.conn, "INSERT INTO external_link (action_item_id, connector, target, state,"
	            " remote_id, remote_key) VALUES (1, 'gh', 'acme/k8s', 'linked', '1001', 'acme/k8s#7'),"
	            " (2, 'gh', 'acme/k8s', 'linked', '1002', 'acme/k8s#8'),"
	            " (3, 'gh', 'acme/k8s', 'linked', '1003', 'acme/k8s#9')", 0, NULL);
	pgtest_exec(t.conn, "LISTEN closeloop_hook", 0, NULL);

	assert_string_equal(delivery(t.conn, "a", "changed", "1001", NULL, NULL, "false"), "pull");
	PGnotify *nt = PQnotifies(t.conn);
	assert_non_null(nt);
	assert_string_equal(nt->relname, "closeloop_hook");
	assert_string_equal(nt->extra, "gh");
	PQfreemem(nt);
	/* the same delivery again: known, nobody is notified */
	assert_string_equal(delivery(t.conn, "a", "changed", "1001", NULL, NULL, "false"), "duplicate");
	assert_null(PQnotifies(t.conn));

	/* transferred to a served repository: the link follows */
	assert_string_equal(delivery(t.conn, "b", "transferred", "1001", "acme/platform", "2002",
	                             "true"), "repointed");
	pgtest_expect(t.conn, "SELECT remote_id || ' ' || remote_key || ' ' || target || ' ' || state"
	              " FROM external_link WHERE action_item_id = 1",
	              "2002 acme/platform#1 acme/platform linked");
	/* transferred elsewhere: broken 'moved', saying where */
	assert_string_equal(delivery(t.conn, "c", "transferred", "1002", "other/repo", "3003",
	                             "false"), "moved");
	pgtest_expect(t.conn, "SELECT state || ' ' || broken_reason FROM external_link"
	              " WHERE action_item_id = 2", "broken moved");
	char *why = pgtest_value(t.conn, "SELECT last_error FROM external_link WHERE action_item_id = 2",
	                         0, NULL);
	assert_non_null(strstr(why, "acme/platform#1"));
	free(why);
	/* deleted: broken 'gone'; the item stays open */
	assert_string_equal(delivery(t.conn, "d", "deleted", "1003", NULL, NULL, "false"), "broken");
	pgtest_expect(t.conn, "SELECT l.state || ' ' || l.broken_reason || ' ' || i.state"
	              " FROM external_link l JOIN action_item i ON i.id = l.action_item_id"
	              " WHERE i.id = 3", "broken gone open");
	/* a ticket no link has */
	assert_string_equal(delivery(t.conn, "e", "deleted", "9999", NULL, NULL, "false"), "unlinked");
	pgtest_expect(t.conn, "SELECT count(*) FROM webhook_delivery", "5");
	pgtest_expect(t.conn, "SELECT outcome FROM webhook_delivery WHERE delivery_id = 'b'",
	              "repointed");
	pgtest_drop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_github_published_test_vector, gh_setup, gh_teardown),
		cmocka_unit_test_setup_teardown(test_github_issues_edited, gh_setup, gh_teardown),
		cmocka_unit_test_setup_teardown(test_github_form_encoded, gh_setup, gh_teardown),
		cmocka_unit_test_setup_teardown(test_github_transferred_deleted_ping_other, gh_setup,
		                                gh_teardown),
		cmocka_unit_test_setup_teardown(test_github_wrong_types_name_the_member, gh_setup,
		                                gh_teardown),
		cmocka_unit_test(test_jira_deliveries),
		cmocka_unit_test(test_servicenow_deliveries),
		cmocka_unit_test(test_ledger_delivery_function),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
