/* test_github.c — the GitHub connector.
 *
 * Part 1: the pure mapping of connectors/github_body.h (body block, labels,
 * state, extra, Link header, issue JSON).
 * Part 2: live runs of connectors/github.c on a libuv loop against the
 * GitHub simulator tests/sim/github_sim.py (spawned per test group; the
 * tests skip when python3 or the simulator is missing).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "connector.h"
#include "pace.h"
#include "github_body.h"
#include "github_gql.h"
#include "github_req.h"
#include "http.h"
#include "log.h"

/* ================= part 1: pure mapping ================= */

static const struct conn_item_context ctx42 = {
	.item_id = 42,
	.token = "cl-7f3a9c2e",
	.postmortem_ref = "PM-2026-014",
	.postmortem_title = "DNS resolver outage",
	.postmortem_url = "https://wiki.example.com/pm/2026-014",
};

static void test_body_roundtrip(void **state)
{
	(void)state;
	const char *desc = "Add a canary for the resolver.\n\n- step one\n- step two";
	char *body = gh_body_render(desc, "2026-12-01", &ctx42, NULL);
	struct gh_body_parsed p;
	assert_non_null(strstr(body, "<!-- closeloop:begin token=cl-7f3a9c2e item=42 -->"));
	assert_non_null(strstr(body, "**Postmortem:** PM-2026-014 — DNS resolver outage "
	                             "(https://wiki.example.com/pm/2026-014)"));
	assert_non_null(strstr(body, "**Due date:** 2026-12-01\n"));
	gh_body_parse(body, &p);
	assert_true(p.has_block);
	assert_string_equal(p.description, desc);
	assert_string_equal(p.due_date, "2026-12-01");
	assert_string_equal(p.token, "cl-7f3a9c2e");
	assert_int_equal(p.item_id, 42);
	gh_body_parsed_free(&p);
	free(body);

	/* no description, no due date, no context */
	body = gh_body_render(NULL, NULL, NULL, "tok-1");
	assert_true(strncmp(body, GH_BLOCK_BEGIN, strlen(GH_BLOCK_BEGIN)) == 0);
	assert_non_null(strstr(body, "**Due date:** none"));
	gh_body_parse(body, &p);
	assert_null(p.description);
	assert_null(p.due_date);
	assert_string_equal(p.token, "tok-1");
	assert_int_equal(p.item_id, 0);
	gh_body_parsed_free(&p);
	free(body);
}

/* Replace the first occurrence of from in s by to (new heap string). */
static char *subst(const char *s, const char *from, const char *to)
{
	const char *hit = strstr(s, from);
	assert_non_null(hit);
	return xasprintf("%.*s%s%s", (int)(hit - s), s, to, hit + strlen(from));
}

static void test_body_user_edits(void **state)
{
	(void)state;
	char *body = gh_body_render("Fix it.", "2026-12-01", &ctx42, NULL);
	struct {
		const char *to;
		const char *want;
		bool unread; /* the body says nothing about the due date */
	} cases[] = {
		{ "**Due date:** 2027-01-15", "2027-01-15", false },
		{ "Due Date: 2027-02-03 (slipped, see thread)", "2027-02-03", false },
		{ "**Due date:**   2027-03-04  ", "2027-03-04", false },
		{ "**Due date:** none", NULL, false },
		{ "**Due date:** 2027-13-45", NULL, true },
		{ "**Due date:** 2027-02-30", NULL, true },
		{ "**Due date:** soon", NULL, true },
		{ "", NULL, true }, /* line removed */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *edited = subst(body, "**Due date:** 2026-12-01", cases[i].to);
		struct gh_body_parsed p;
		gh_body_parse(edited, &p);
		if (cases[i].want)
			assert_string_equal(p.due_date, cases[i].want);
		else
			assert_null(p.due_date);
		assert_int_equal(p.due_unread, cases[i].unread);
		assert_int_equal(p.block_repair, cases[i].unread); /* rewritten when unreadable */
		assert_string_equal(p.description, "Fix it.");
		assert_string_equal(p.token, "cl-7f3a9c2e");
		gh_body_parsed_free(&p);
		free(edited);
	}

	/* the description edited on GitHub, text added after the block, CRLF */
	char *e1 = subst(body, "Fix it.", "Fix it properly.\r\nWith two lines.");
	char *e2 = xasprintf("%s\r\nPS: see runbook.\r\n", e1);
	struct gh_body_parsed p;
	gh_body_parse(e2, &p);
	assert_string_equal(p.description, "Fix it properly.\nWith two lines.\n\nPS: see runbook.");
	assert_string_equal(p.due_date, "2026-12-01");
	gh_body_parsed_free(&p);
	free(e1);
	free(e2);

	/* end marker deleted: the block stops after its own lines, the text
	 * written after it stays the person's; the block is rewritten */
	char *e3 = subst(body, GH_BLOCK_END, "");
	char *e4 = xasprintf("%s\nWritten after the block.\n", e3);
	gh_body_parse(e4, &p);
	assert_string_equal(p.description, "Fix it.\n\nWritten after the block.");
	assert_string_equal(p.due_date, "2026-12-01");
	assert_false(p.due_unread);
	assert_true(p.block_repair);
	gh_body_parsed_free(&p);
	free(e3);
	free(e4);

	/* a copy of the block lower in the body: one token, the text outside
	 * both blocks, the last block that says a date wins */
	char *later = subst(body, "2026-12-01", "2027-05-05");
	char *e5 = xasprintf("%s\nMore text.\n\n%s", body, strstr(later, GH_BLOCK_BEGIN));
	gh_body_parse(e5, &p);
	assert_string_equal(p.description, "Fix it.\n\nMore text.");
	assert_string_equal(p.due_date, "2027-05-05");
	assert_string_equal(p.token, "cl-7f3a9c2e");
	assert_true(p.block_repair);
	gh_body_parsed_free(&p);
	free(e5);
	char *bad = subst(later, "2027-05-05", "2027-02-30"); /* an unreadable copy: the first counts */
	char *e6 = xasprintf("%s\n%s", body, strstr(bad, GH_BLOCK_BEGIN));
	gh_body_parse(e6, &p);
	assert_string_equal(p.due_date, "2026-12-01");
	assert_false(p.due_unread);
	gh_body_parsed_free(&p);
	free(e6);
	free(bad);
	free(later);
	free(body);
}

static void test_body_missing_block(void **state)
{
	(void)state;
	struct gh_body_parsed p;
	gh_body_parse("  Just a ticket someone wrote.\n**Due date:** 2026-01-01\n", &p);
	assert_false(p.has_block);
	assert_string_equal(p.description, "Just a ticket someone wrote.\n**Due date:** 2026-01-01");
	assert_null(p.due_date); /* only the managed block is read */
	assert_true(p.due_unread); /* no block: the ticket says nothing */
	assert_false(p.block_repair);
	assert_null(p.token);
	gh_body_parsed_free(&p);
	gh_body_parse(NULL, &p);
	assert_null(p.description);
	gh_body_parsed_free(&p);
	gh_body_parse("   \n", &p);
	assert_null(p.description);
	gh_body_parsed_free(&p);
}

static void test_state_mapping(void **state)
{
	(void)state;
	assert_string_equal(gh_state_from_issue("open", NULL, false), "open");
	assert_string_equal(gh_state_from_issue("open", "reopened", true), "in_progress");
	assert_string_equal(gh_state_from_issue("closed", "completed", false), "done");
	assert_string_equal(gh_state_from_issue("closed", NULL, true), "done");
	assert_string_equal(gh_state_from_issue("closed", "not_planned", false), "wont_do");
	assert_string_equal(gh_state_from_issue("closed", "duplicate", false), "done");
}

static char *json_of(struct json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static void fields_set(struct item_fields *f, const char *title, const char *desc,
                       const char *st, const char *pri, const char *type,
                       const char *owner, const char *due)
{
	item_fields_init(f);
	item_fields_set(f, ITEM_F_TITLE, title);
	item_fields_set(f, ITEM_F_DESCRIPTION, desc);
	item_fields_set(f, ITEM_F_STATE, st);
	item_fields_set(f, ITEM_F_PRIORITY, pri);
	item_fields_set(f, ITEM_F_TYPE, type);
	item_fields_set(f, ITEM_F_OWNER, owner);
	item_fields_set(f, ITEM_F_DUE_DATE, due);
}

static void test_labels_assignees(void **state)
{
	(void)state;
	struct item_fields f;
	const char *extra = "{\"labels\":[\"team: sre\",\"priority: P1\",\"bug\"],"
	                    "\"assignees\":[\"bob\",\"carol\"]}";
	fields_set(&f, "t", NULL, "in_progress", "P2", "detect", "alice", NULL);
	char *s = json_of(gh_labels_json(&f, extra));
	assert_string_equal(s, "[\"closeloop\",\"priority: P2\",\"type: detect\","
	                       "\"status: in progress\",\"team: sre\",\"bug\"]");
	free(s);
	s = json_of(gh_assignees_json("alice", extra));
	assert_string_equal(s, "[\"alice\",\"bob\",\"carol\"]");
	free(s);
	s = json_of(gh_assignees_json(NULL, extra));
	assert_string_equal(s, "[]");
	free(s);
	/* garbage extra is ignored */
	item_fields_set(&f, ITEM_F_STATE, "open");
	item_fields_set(&f, ITEM_F_PRIORITY, NULL);
	s = json_of(gh_labels_json(&f, "not json"));
	assert_string_equal(s, "[\"closeloop\",\"type: detect\"]");
	free(s);
	item_fields_free(&f);

	assert_true(gh_label_is_managed("closeloop"));
	assert_true(gh_label_is_managed("Priority: p0"));
	assert_true(gh_label_is_managed("type: Mitigate"));
	assert_true(gh_label_is_managed("STATUS: IN PROGRESS"));
	assert_false(gh_label_is_managed("priority: P4"));
	assert_false(gh_label_is_managed("type: chore"));
	assert_false(gh_label_is_managed("bug"));
}

static const char *issue_json =
	"{\"id\": 3000000042, \"number\": 17, \"title\": \"Rotate certs\","
	" \"html_url\": \"https://github.com/acme/k8s/issues/17\","
	" \"state\": \"open\", \"state_reason\": \"reopened\","
	" \"updated_at\": \"2026-11-21T08:00:00+01:00\","
	" \"labels\": [{\"name\": \"Priority: p1\"}, {\"name\": \"type: prevent\"},"
	"   {\"name\": \"status: in progress\"}, {\"name\": \"closeloop\"}, {\"name\": \"bug\"}],"
	" \"assignee\": {\"login\": \"zed\"},"
	" \"assignees\": [{\"login\": \"alice\"}, {\"login\": \"bob\"}],"
	" \"body\": \"Rotate them.\\n\\n<!-- closeloop:begin token=tk-9 item=7 -->\\n---\\n"
	"**Due date:** 2026-12-24\\n<!-- closeloop:end -->\\n\"}";

/* The same issue as GitHub's GraphQL API gives it (the fields of
 * github_project.c's CloseloopIssue fragment): read from a project board,
 * it must be the ticket issue_json's REST listing reads, field for field. */
static const char *issue_gql =
	"{\"__typename\": \"Issue\", \"id\": \"I_kwDOABC\", \"fullDatabaseId\": \"3000000042\","
	" \"number\": 17, \"title\": \"Rotate certs\", \"state\": \"OPEN\","
	" \"stateReason\": \"REOPENED\", \"url\": \"https://github.com/acme/k8s/issues/17\","
	" \"updatedAt\": \"2026-11-21T07:00:00Z\", \"repository\": {\"nameWithOwner\": \"acme/k8s\"},"
	" \"labels\": {\"nodes\": [{\"name\": \"Priority: p1\"}, {\"name\": \"type: prevent\"},"
	"   {\"name\": \"status: in progress\"}, {\"name\": \"closeloop\"}, {\"name\": \"bug\"}]},"
	" \"assignees\": {\"nodes\": [{\"login\": \"alice\"}, {\"login\": \"bob\"}]},"
	" \"body\": \"Rotate them.\\n\\n<!-- closeloop:begin token=tk-9 item=7 -->\\n---\\n"
	"**Due date:** 2026-12-24\\n<!-- closeloop:end -->\\n\"}";

static void test_gql_issue_reads_as_rest(void **state)
{
	(void)state;
	struct json_object *rest = json_tokener_parse(issue_json), *gql = json_tokener_parse(issue_gql);
	struct json_object *mapped = gh_gql_issue_rest(gql);
	struct conn_remote a, b;
	const char *err = NULL;
	assert_non_null(mapped);
	assert_int_equal(gh_issue_to_remote(rest, "acme/k8s", &a, &err), 0);
	assert_int_equal(gh_issue_to_remote(mapped, "acme/k8s", &b, &err), 0);
	assert_string_equal(a.remote_id, b.remote_id);
	assert_string_equal(a.key, b.key);
	assert_string_equal(a.url, b.url);
	assert_string_equal(a.updated_at, b.updated_at);
	assert_string_equal(a.token, b.token);
	assert_string_equal(a.extra, b.extra);
	for (int f = 0; f < ITEM_F__COUNT; f++)
		if (a.fields.v[f] || b.fields.v[f])
			assert_string_equal(a.fields.v[f], b.fields.v[f]);
	assert_int_equal(a.unread_mask, b.unread_mask);
	/* reopened: closed since its create (reconcile's adopt_base) */
	assert_int_equal(a.changed_mask, ITEM_FIELD_BIT(ITEM_F_STATE));
	assert_int_equal(b.changed_mask, ITEM_FIELD_BIT(ITEM_F_STATE));
	conn_remote_free(&a);
	conn_remote_free(&b);
	json_object_put(mapped);
	/* closed as not planned, no body; a missing or non-numeric id is no issue */
	struct json_object *c = json_tokener_parse("{\"fullDatabaseId\": \"5\", \"number\": 2,"
		" \"title\": \"x\", \"state\": \"CLOSED\", \"stateReason\": \"NOT_PLANNED\","
		" \"body\": \"\", \"labels\": {\"nodes\": []}, \"assignees\": {\"nodes\": []}}");
	mapped = gh_gql_issue_rest(c);
	assert_int_equal(gh_issue_to_remote(mapped, "a/b", &b, &err), 0);
	assert_string_equal(b.remote_id, "5");
	assert_string_equal(b.fields.v[ITEM_F_STATE], "wont_do");
	assert_null(b.fields.v[ITEM_F_OWNER]);
	assert_int_equal(b.changed_mask, 0);
	conn_remote_free(&b);
	json_object_put(mapped);
	json_object_object_add(c, "fullDatabaseId", json_object_new_string("5x"));
	assert_null(gh_gql_issue_rest(c));
	json_object_object_del(c, "fullDatabaseId");
	assert_null(gh_gql_issue_rest(c));
	json_object_put(c);
	json_object_put(rest);
	json_object_put(gql);
}

/* gh_gql_read: what each document's answer yields, and the answers it
 * refuses with a message (the pass fails, not the listing). */
static int gql_read(enum gh_gql_doc doc, const char *body, const struct gh_gql_rule *rule,
                    struct gh_gql_answer *a, char **msg)
{
	struct json_tokener *tok = json_tokener_new();
	int rc = gh_gql_read(doc, body, strlen(body), rule, "POST /graphql", tok, a, msg);
	json_tokener_free(tok);
	return rc;
}

static void test_gql_read(void **state)
{
	(void)state;
	const struct gh_gql_rule rule = { .owner = "acme", .number = 7, .repo = "acme/payments",
	                                  .field = "Type", .value = "postmortem action" };
	struct gh_gql_answer a;
	char *msg = NULL;
	assert_int_equal(gql_read(GH_GQL_PROBE, "{\"data\":{\"repositoryOwner\":{\"projectV2\":"
	                          "{\"updatedAt\":\"2026-12-02T10:15:00Z\",\"items\":{\"totalCount\":"
	                          "251}}}}}", &rule, &a, &msg), 0);
	assert_null(msg);
	assert_true(a.updated_ms == 1796206500000LL);
	assert_int_equal(a.total, 251);
	gh_gql_answer_free(&a);
	/* a page: only the target's issues with the option (any case) are members */
	const char *page = "{\"data\":{\"repositoryOwner\":{\"projectV2\":{\"items\":{\"pageInfo\":"
		"{\"hasNextPage\":true,\"endCursor\":\"Y3Vyc29yOjEwMA\"},\"nodes\":["
		"{\"fieldValueByName\":{\"name\":\"Postmortem Action\"},\"content\":{\"__typename\":"
		"\"Issue\",\"id\":\"I_1\",\"fullDatabaseId\":\"1000001\",\"number\":1,\"repository\":"
		"{\"nameWithOwner\":\"Acme/Payments\"}}},"
		"{\"fieldValueByName\":{\"name\":\"Bug\"},\"content\":{\"__typename\":\"Issue\",\"id\":"
		"\"I_2\",\"fullDatabaseId\":\"1000002\",\"number\":2,\"repository\":{\"nameWithOwner\":"
		"\"acme/payments\"}}},"
		"{\"fieldValueByName\":{\"name\":\"Postmortem action\"},\"content\":{\"__typename\":"
		"\"Issue\",\"id\":\"I_3\",\"fullDatabaseId\":\"1000003\",\"number\":3,\"repository\":"
		"{\"nameWithOwner\":\"acme/other\"}}},"
		"{\"fieldValueByName\":{\"name\":\"Postmortem action\"},\"content\":{\"__typename\":"
		"\"PullRequest\"}},{\"content\":null}]}}}}}";
	assert_int_equal(gql_read(GH_GQL_ITEMS, page, &rule, &a, &msg), 0);
	assert_true(a.has_next);
	assert_string_equal(a.cursor, "Y3Vyc29yOjEwMA");
	assert_int_equal(a.n_issues, 1);
	assert_true(a.issues[0].id == 1000001);
	assert_string_equal(a.issues[0].node, "I_1");
	gh_gql_answer_free(&a);
	/* nodes(ids:): every Issue node; a deleted one is null */
	assert_int_equal(gql_read(GH_GQL_NODES, "{\"data\":{\"nodes\":[null,{\"__typename\":\"Issue\","
	                          "\"id\":\"I_9\",\"fullDatabaseId\":\"9\",\"number\":9}]}}", &rule,
	                          &a, &msg), 0);
	assert_int_equal(a.n_issues, 1);
	assert_true(a.issues[0].id == 9);
	gh_gql_answer_free(&a);
	/* GraphQL's own rate limit, among other errors */
	assert_int_equal(gql_read(GH_GQL_PROBE, "{\"errors\":[{\"type\":\"MAX_NODE_LIMIT_EXCEEDED\"},"
	                          "{\"type\":\"RATE_LIMITED\",\"message\":\"API rate limit exceeded\"}]}",
	                          &rule, &a, &msg), GH_GQL_RATE_LIMITED);
	assert_null(msg);
	gh_gql_answer_free(&a);
	static const struct {
		enum gh_gql_doc doc;
		const char *body, *says;
	} bad[] = {
		{ GH_GQL_PROBE, "[]", "not a GraphQL response (not an object)" },
		{ GH_GQL_PROBE, "{\"data\":", "not a GraphQL response (truncated JSON)" },
		{ GH_GQL_PROBE, "{\"data\":{\"repositoryOwner\":{\"projectV2\":null}},\"errors\":[{\"type\":"
		  "\"NOT_FOUND\",\"message\":\"Could not resolve to a ProjectV2 with the number 99.\"}]}",
		  "GraphQL error NOT_FOUND: Could not resolve to a ProjectV2 with the number 99." },
		{ GH_GQL_PROBE, "{\"data\":{\"repositoryOwner\":null}}", "no user or organization is "
		  "called 'acme'" },
		{ GH_GQL_PROBE, "{\"data\":{\"repositoryOwner\":{\"projectV2\":null}}}", "'acme' has no "
		  "project number 7" },
		{ GH_GQL_PROBE, "{\"data\":{\"repositoryOwner\":{\"projectV2\":{\"updatedAt\":\"soon\","
		  "\"items\":{\"totalCount\":1}}}}}", "updatedAt 'soon' is not a date" },
		{ GH_GQL_PROBE, "{\"data\":{\"repositoryOwner\":{\"projectV2\":{\"updatedAt\":"
		  "\"2026-12-02T10:15:00Z\",\"items\":{\"totalCount\":\"251\"}}}}}", "no updatedAt or "
		  "items.totalCount" },
		{ GH_GQL_ITEMS, "{\"data\":{\"repositoryOwner\":{\"projectV2\":{\"items\":{\"pageInfo\":"
		  "{\"hasNextPage\":\"false\"},\"nodes\":[]}}}}}", "no nodes or pageInfo.hasNextPage" },
		{ GH_GQL_ITEMS, "{\"data\":{\"repositoryOwner\":{\"projectV2\":{\"items\":{\"pageInfo\":"
		  "{\"hasNextPage\":true,\"endCursor\":null},\"nodes\":[]}}}}}", "a next page without an "
		  "endCursor" },
		{ GH_GQL_NODES, "{\"data\":{\"nodes\":{}}}", "the answer has no nodes" },
		{ GH_GQL_NODES, "{\"data\":null}", "the GraphQL response has no data" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(gql_read(bad[i].doc, bad[i].body, &rule, &a, &msg), -EINVAL);
		assert_non_null(msg);
		if (!strstr(msg, bad[i].says) || strncmp(msg, "POST /graphql: ", 15) != 0)
			fail_msg("case %zu: '%s' does not say '%s'", i, msg, bad[i].says);
		free(msg);
		msg = NULL;
		gh_gql_answer_free(&a);
	}
}

static void test_issue_to_remote(void **state)
{
	(void)state;
	struct json_object *o = json_tokener_parse(issue_json);
	struct conn_remote r;
	const char *err = NULL;
	assert_non_null(o);
	assert_int_equal(gh_issue_to_remote(o, "acme/k8s", &r, &err), 0);
	assert_string_equal(r.remote_id, "3000000042");
	assert_string_equal(r.key, "acme/k8s#17");
	assert_string_equal(r.url, "https://github.com/acme/k8s/issues/17");
	assert_string_equal(r.updated_at, "2026-11-21T07:00:00Z");
	assert_string_equal(r.token, "tk-9");
	assert_string_equal(r.fields.v[ITEM_F_TITLE], "Rotate certs");
	assert_string_equal(r.fields.v[ITEM_F_DESCRIPTION], "Rotate them.");
	assert_string_equal(r.fields.v[ITEM_F_STATE], "in_progress");
	assert_string_equal(r.fields.v[ITEM_F_PRIORITY], "P1");
	assert_string_equal(r.fields.v[ITEM_F_TYPE], "prevent");
	assert_string_equal(r.fields.v[ITEM_F_OWNER], "alice"); /* assignees[], not assignee */
	assert_string_equal(r.fields.v[ITEM_F_DUE_DATE], "2026-12-24");
	assert_string_equal(r.extra, "{\"labels\":[\"bug\"],\"assignees\":[\"bob\"]}");
	conn_remote_free(&r);

	/* closed/not_planned, no labels, no assignees, body null */
	struct json_object *c = json_tokener_parse(
		"{\"id\":5,\"number\":2,\"title\":\"x\",\"state\":\"closed\","
		"\"state_reason\":\"not_planned\",\"body\":null,\"assignees\":[]}");
	assert_int_equal(gh_issue_to_remote(c, "a/b", &r, &err), 0);
	assert_string_equal(r.fields.v[ITEM_F_STATE], "wont_do");
	assert_null(r.fields.v[ITEM_F_OWNER]);
	assert_null(r.fields.v[ITEM_F_PRIORITY]);
	assert_null(r.fields.v[ITEM_F_DESCRIPTION]);
	assert_null(r.token);
	assert_string_equal(r.extra, "{\"labels\":[],\"assignees\":[]}");
	conn_remote_free(&r);
	json_object_put(c);

	/* missing id / title, bad updated_at */
	const char *bad[] = {
		"{\"number\":2,\"title\":\"x\"}",
		"{\"id\":\"5\",\"number\":2,\"title\":\"x\"}",
		"{\"id\":5,\"title\":\"x\"}",
		"{\"id\":5,\"number\":2}",
		"{\"id\":5,\"number\":2,\"title\":\"x\",\"updated_at\":\"yesterday\"}",
		"[1]",
	};
	const char *want[] = { "\"id\"", "\"id\"", "\"number\"", "\"title\"", "updated_at", "object" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct json_object *b = json_tokener_parse(bad[i]);
		assert_int_equal(gh_issue_to_remote(b, "a/b", &r, &err), -EINVAL);
		assert_non_null(strstr(err, want[i]));
		assert_null(r.remote_id);
		json_object_put(b);
	}

	assert_false(gh_issue_is_pull_request(o));
	json_object_put(o);
	struct json_object *pr = json_tokener_parse(
		"{\"id\":6,\"number\":3,\"title\":\"PR\",\"pull_request\":{\"url\":\"u\"}}");
	assert_true(gh_issue_is_pull_request(pr));
	json_object_put(pr);
}


static void test_roundtrip_through_json(void **state)
{
	(void)state;
	/* what we send for a create, read back as GitHub would echo it */
	struct item_fields want;
	fields_set(&want, "Add resolver canary", "Probe every resolver.", "open", "P0",
	           "detect", "alice", "2027-01-31");
	char *create = gh_create_json(&want, &ctx42);
	struct json_object *sent = json_tokener_parse(create);
	struct json_object *issue = json_object_new_object(), *v, *labels = json_object_new_array();
	assert_non_null(sent);
	json_object_object_add(issue, "id", json_object_new_int64(99));
	json_object_object_add(issue, "number", json_object_new_int(5));
	json_object_object_get_ex(sent, "title", &v);
	json_object_object_add(issue, "title", json_object_get(v));
	json_object_object_get_ex(sent, "body", &v);
	json_object_object_add(issue, "body", json_object_get(v));
	json_object_object_add(issue, "state", json_object_new_string("open"));
	json_object_object_get_ex(sent, "labels", &v);
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *l = json_object_new_object();
		json_object_object_add(l, "name", json_object_get(json_object_array_get_idx(v, i)));
		json_object_array_add(labels, l);
	}
	json_object_object_add(issue, "labels", labels);
	struct json_object *as = json_object_new_array(), *u = json_object_new_object();
	json_object_object_add(u, "login", json_object_new_string("alice"));
	json_object_array_add(as, u);
	json_object_object_add(issue, "assignees", as);

	struct conn_remote r;
	const char *err;
	assert_int_equal(gh_issue_to_remote(issue, "acme/dns", &r, &err), 0);
	assert_int_equal(item_fields_diff(&want, &r.fields), 0);
	assert_string_equal(r.token, ctx42.token);
	conn_remote_free(&r);
	json_object_put(issue);
	json_object_put(sent);
	free(create);
	item_fields_free(&want);
}

static void test_update_json(void **state)
{
	(void)state;
	struct item_fields w;
	fields_set(&w, "New title", "Desc", "done", "P1", "mitigate", NULL, "2027-05-01");
	char *s;
	assert_null(gh_update_json(&w, 0, &ctx42, NULL, NULL));
	s = gh_update_json(&w, ITEM_FIELD_BIT(ITEM_F_TITLE), &ctx42, NULL, NULL);
	assert_string_equal(s, "{\"title\":\"New title\"}");
	free(s);
	/* never the label set: a PATCH "labels" replaces every label, and a
	 * person's label added since the last pull would be lost */
	s = gh_update_json(&w, ITEM_FIELD_BIT(ITEM_F_STATE) | ITEM_FIELD_BIT(ITEM_F_PRIORITY) |
	                   ITEM_FIELD_BIT(ITEM_F_TYPE), &ctx42, NULL, "{\"labels\":[\"bug\"]}");
	assert_string_equal(s, "{\"state\":\"closed\",\"state_reason\":\"completed\"}");
	free(s);
	item_fields_set(&w, ITEM_F_STATE, "wont_do");
	s = gh_update_json(&w, ITEM_FIELD_BIT(ITEM_F_STATE), &ctx42, NULL, NULL);
	assert_non_null(strstr(s, "\"state\":\"closed\",\"state_reason\":\"not_planned\""));
	free(s);
	item_fields_set(&w, ITEM_F_STATE, "open");
	s = gh_update_json(&w, ITEM_FIELD_BIT(ITEM_F_STATE), &ctx42, NULL, NULL);
	assert_non_null(strstr(s, "\"state\":\"open\""));
	assert_null(strstr(s, "state_reason"));
	free(s);
	/* due date -> whole body re-rendered, with the ticket's own token */
	s = gh_update_json(&w, ITEM_FIELD_BIT(ITEM_F_DUE_DATE), NULL, "tok-old", NULL);
	struct json_object *o = json_tokener_parse(s), *b;
	assert_true(json_object_object_get_ex(o, "body", &b));
	assert_int_equal(json_object_object_length(o), 1);
	struct gh_body_parsed p;
	gh_body_parse(json_object_get_string(b), &p);
	assert_string_equal(p.description, "Desc");
	assert_string_equal(p.due_date, "2027-05-01");
	assert_string_equal(p.token, "tok-old");
	gh_body_parsed_free(&p);
	json_object_put(o);
	free(s);
	/* owner removed -> [] even with foreign assignees */
	s = gh_update_json(&w, ITEM_FIELD_BIT(ITEM_F_OWNER), NULL, NULL, "{\"assignees\":[\"bob\"]}");
	assert_string_equal(s, "{\"assignees\":[]}");
	free(s);
	item_fields_free(&w);
}

static void test_link_header(void **state)
{
	(void)state;
	char *u;
	u = gh_link_find("<https://api.github.com/repositories/1/issues?page=2&per_page=100>; "
	                 "rel=\"next\", <https://api.github.com/repositories/1/issues?page=3"
	                 "&per_page=100>; rel=\"last\"", "next");
	assert_string_equal(u, "https://api.github.com/repositories/1/issues?page=2&per_page=100");
	free(u);
	u = gh_link_find("<https://x/a?page=1>; rel=\"prev first\", <https://x/a?page=3>; "
	                 "rel=\"next last\"", "next");
	assert_string_equal(u, "https://x/a?page=3");
	free(u);
	u = gh_link_find("<https://x/a?page=1>; title=\"a, b; rel=next\"; rel=prev, "
	                 "<https://x/b>;rel=next", "next");
	assert_string_equal(u, "https://x/b");
	free(u);
	u = gh_link_find("<https://x/a>; rel=\"prev\", <https://x/b>; rel=\"first\"", "next");
	assert_null(u);
	assert_null(gh_link_find(NULL, "next"));
	assert_null(gh_link_find("garbage", "next"));
	assert_null(gh_link_find("<https://x/unterminated; rel=next", "next"));
}

static void test_answers(void **state)
{
	(void)state;
	struct http_header h429[] = { { "Retry-After", "7" } };
	struct http_header h403[] = { { "X-RateLimit-Remaining", "0" },
	                              { "X-RateLimit-Reset", "1000" } };
	struct http_header h403b[] = { { "X-RateLimit-Remaining", "4000" } };
	struct http_response r = { .status = 429, .headers = h429, .n_headers = 1 };
	assert_true(gh_is_rate_limited(&r));
	assert_int_equal(gh_rate_limit_wait_ms(&r, 0), 7000);
	r = (struct http_response){ .status = 403, .headers = h403, .n_headers = 2 };
	assert_true(gh_is_rate_limited(&r));
	assert_int_equal(gh_rate_limit_wait_ms(&r, 990000), 10000);
	assert_int_equal(gh_rate_limit_wait_ms(&r, 2000000), 0);
	r = (struct http_response){ .status = 403, .headers = h403b, .n_headers = 1 };
	assert_false(gh_is_rate_limited(&r));
	assert_int_equal(gh_rate_limit_wait_ms(&r, 0), -1);

	/* absurd values are capped at a day, never overflowed (UBSan; found
	 * by tests/fuzz/fuzz_github.c) */
	struct http_header huge[] = { { "Retry-After", "9223372036854775807" },
	                              { "X-RateLimit-Remaining", "0" },
	                              { "X-RateLimit-Reset", "99999999999999999" } };
	r = (struct http_response){ .status = 429, .headers = huge, .n_headers = 1 };
	assert_int_equal(gh_rate_limit_wait_ms(&r, 0), 86400LL * 1000);
	r = (struct http_response){ .status = 403, .headers = huge + 1, .n_headers = 2 };
	assert_int_equal(gh_rate_limit_wait_ms(&r, 1767225600000LL), 86400LL * 1000);
	struct connector conn;
	memset(&conn, 0, sizeof(conn));
	gh_note_budget(&conn, &r);
	assert_true(conn.rate_reset_at > 0);

	char *d = gh_error_detail("{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":"
	                          "\"Issue\",\"field\":\"title\",\"code\":\"missing_field\"},"
	                          "\"free text\"]}");
	assert_string_equal(d, "Validation Failed (Issue.title: missing_field; free text)");
	free(d);
	d = gh_error_detail("<html>bad gateway</html>");
	assert_string_equal(d, "no error message");
	free(d);

	long n;
	assert_int_equal(gh_key_number("acme/k8s#12", &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(gh_key_number("acme/k8s#", &n), -EINVAL);
	assert_int_equal(gh_key_number("acme/k8s#1x", &n), -EINVAL);
	assert_int_equal(gh_key_number("OPS-12", &n), -EINVAL);
	assert_true(gh_repo_valid("acme/k8s.io"));
	assert_false(gh_repo_valid("acme"));
	assert_false(gh_repo_valid("acme/k8s/x"));
	assert_false(gh_repo_valid("/k8s"));
	assert_false(gh_repo_valid("acme/k 8s"));
	assert_false(gh_repo_valid("acme/../x?y"));
	assert_false(gh_repo_valid("acme/.."));
	assert_false(gh_repo_valid("../k8s"));
	assert_true(gh_repo_valid("acme/.github"));
}

/* ================= part 2: live, against tests/sim/github_sim.py ================= */

#define SIM_PATH "tests/sim/github_sim.py"
#define SIM_TOKEN "ghp_testTOKEN0123456789secret"

static pid_t sim_pid;
static bool sim_broken; /* the simulator exists but did not start */
static int sim_port;
static char sim_base[64];

static int sim_group_setup(void **state)
{
	(void)state;
	char portfile[64];
	struct stat st;
	if (stat(SIM_PATH, &st) != 0 || access("/usr/bin/python3", X_OK) != 0)
		return 0; /* the live tests skip */
	snprintf(portfile, sizeof(portfile), "/tmp/ghsim-%d.port", (int)getpid());
	unlink(portfile);
	sim_pid = fork();
	if (sim_pid < 0) {
		sim_broken = true;
		sim_pid = 0;
		return 0;
	}
	if (sim_pid == 0) {
		/* the simulator dies with this test, and never holds its stdout */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		execl("/usr/bin/python3", "python3", SIM_PATH, "--port", "0", "--port-file", portfile,
		      "--token", SIM_TOKEN, "--repos", "acme/*", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) { /* 10 s */
		FILE *f = fopen(portfile, "r");
		if (f) {
			int ok = fscanf(f, "%d", &sim_port) == 1;
			fclose(f);
			if (ok && sim_port > 0)
				break;
		}
		usleep(50000);
	}
	unlink(portfile);
	if (sim_port <= 0) {
		kill(sim_pid, SIGTERM);
		waitpid(sim_pid, NULL, 0);
		sim_pid = 0;
		sim_broken = true;
		return 0;
	}
	snprintf(sim_base, sizeof(sim_base), "http://127.0.0.1:%d", sim_port);
	return 0;
}

static int sim_group_teardown(void **state)
{
	(void)state;
	if (sim_pid > 0) {
		kill(sim_pid, SIGTERM);
		waitpid(sim_pid, NULL, 0);
		sim_pid = 0;
	}
	return 0;
}

static size_t admin_write(char *p, size_t sz, size_t n, void *ud)
{
	assert_int_equal(buf_append(ud, p, sz * n), 0);
	return sz * n;
}

/* Blocking call to the simulator's admin API; returns the parsed answer
 * (caller puts) and checks the status. */
static struct json_object *admin(const char *method, const char *path, const char *json,
                                 long want_status)
{
	CURL *e = curl_easy_init();
	struct buf b = { 0 };
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char *url = xasprintf("%s%s", sim_base, path);
	long status = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (json)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, admin_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status != want_status)
		fail_msg("%s %s -> %ld: %s", method, path, status, b.data ? b.data : "");
	struct json_object *o = b.data ? json_tokener_parse(b.data) : NULL;
	buf_free(&b);
	free(url);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return o;
}

static void admin_fault(const char *json)
{
	json_object_put(admin("POST", "/_sim/faults", json, 201));
}

/* One issue as the simulator holds it (admin view). */
static struct json_object *sim_issue(const char *repo, int number)
{
	char *path = xasprintf("/_sim/issues?repo=%s", repo);
	struct json_object *all = admin("GET", path, NULL, 200), *out = NULL;
	free(path);
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		struct json_object *it = json_object_array_get_idx(all, i), *n;
		if (json_object_object_get_ex(it, "number", &n) && json_object_get_int(n) == number)
			out = json_object_get(it);
	}
	json_object_put(all);
	assert_non_null(out);
	return out;
}

static const char *jstr_of(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

struct live {
	uv_loop_t loop;
	struct http_client *http;
	struct connector *c;
	bool http_closed;
};

/* The GitHub type's own options in the order of its table (api_version,
 * write_spacing_ms, creates_per_minute, creates_per_hour): these tests are
 * not about pacing, so writes go 5 ms apart with room for 1000 creates a
 * minute (test_live_secondary_limit and test_pace.c are about pacing). */
static char *const fast_writes[] = { NULL, (char *)"5", (char *)"1000", (char *)"10000", NULL };

static struct live *live_new_at(const char *base, const char *token, int max_inflight)
{
	struct live *l = xcalloc(1, sizeof(*l));
	assert_int_equal(uv_loop_init(&l->loop), 0);
	struct http_client_options ho = { .default_timeout_ms = 10000 };
	assert_int_equal(http_client_new(&l->http, &l->loop, &ho), 0);
	struct conn_options o = {
		.name = "gh-test", .base_url = base, .token = token,
		.max_attempts = 4, .backoff_base_ms = 50,
		.backoff_max_ms = 2000, .request_timeout_ms = 5000,
		.max_inflight = max_inflight, .type_opts = fast_writes,
	};
	assert_int_equal(connector_new(&l->c, "github", &l->loop, l->http, &o), 0);
	assert_string_equal(l->c->ops->type, "github");
	return l;
}

static struct live *live_new(const char *token, int max_inflight)
{
	return live_new_at(sim_base, token, max_inflight);
}

static int live_setup(void **state)
{
	if (sim_pid <= 0)
		return 0;
	json_object_put(admin("POST", "/_sim/reset", "{}", 200));
	*state = live_new(SIM_TOKEN, 4);
	return 0;
}

static void on_http_closed(void *arg)
{
	((struct live *)arg)->http_closed = true;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void live_free(struct live *l)
{
	if (l->c) {
		l->c->ops->cancel(l->c);
		connector_destroy(l->c);
	}
	http_client_close(l->http, on_http_closed, l);
	uv_run(&l->loop, UV_RUN_DEFAULT);
	assert_true(l->http_closed);
	uv_walk(&l->loop, walk_close, NULL);
	uv_run(&l->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&l->loop), 0);
	free(l);
}

static int live_teardown(void **state)
{
	if (*state)
		live_free(*state);
	return 0;
}

#define LIVE_OR_SKIP(state) \
	do { \
		if (sim_broken) \
			fail_msg("%s exists but did not start", SIM_PATH); \
		if (sim_pid <= 0) \
			skip(); \
	} while (0)

static void run_until(struct live *l, const int *counter, int want)
{
	uint64_t deadline = uv_hrtime() + 20ull * 1000000000ull;
	while (*counter < want) {
		assert_true(uv_hrtime() < deadline);
		uv_run(&l->loop, UV_RUN_ONCE);
	}
}

/* Outcome of an item operation, copied out of the callback. */
struct item_out {
	int calls;
	enum conn_status st;
	long http_status;
	int64_t retry_after_ms;
	char *error;
	struct conn_remote r;
	bool has_remote;
	unsigned refused_mask;
	char *owner_refused;     /* refused_reason[ITEM_F_OWNER] */
};

static void on_item(struct connector *c, const struct conn_result *res,
                    const struct conn_remote *rem, void *arg)
{
	struct item_out *o = arg;
	(void)c;
	o->calls++;
	o->st = res->status;
	o->http_status = res->http_status;
	o->retry_after_ms = res->retry_after_ms;
	str_replace(&o->error, res->error);
	o->refused_mask = res->refused_mask;
	str_replace(&o->owner_refused, res->refused_reason[ITEM_F_OWNER]);
	if (rem) {
		o->has_remote = true;
		conn_remote_init(&o->r);
		o->r.remote_id = xstrdup(rem->remote_id);
		o->r.key = xstrdup(rem->key);
		o->r.url = xstrdup(rem->url);
		o->r.updated_at = xstrdup(rem->updated_at);
		o->r.etag = xstrdup(rem->etag);
		o->r.token = xstrdup(rem->token);
		o->r.extra = xstrdup(rem->extra);
		item_fields_copy(&o->r.fields, &rem->fields);
	}
}

static void item_out_free(struct item_out *o)
{
	free(o->error);
	free(o->owner_refused);
	if (o->has_remote)
		conn_remote_free(&o->r);
	memset(o, 0, sizeof(*o));
}

static void do_create(struct live *l, const char *repo, const struct item_fields *want,
                      const struct conn_item_context *ctx, struct item_out *o)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(l->c->ops->create(l->c, repo, want, ctx, on_item, o), 0);
	assert_int_equal(o->calls, 0);
	run_until(l, &o->calls, 1);
}

static void do_fetch(struct live *l, const char *repo, const struct conn_remote *ref,
                     struct item_out *o)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(l->c->ops->fetch(l->c, repo, ref, on_item, o), 0);
	run_until(l, &o->calls, 1);
}

static void do_update(struct live *l, const char *repo, const struct conn_remote *ref,
                      const struct item_fields *want, unsigned mask, struct item_out *o)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(l->c->ops->update(l->c, repo, ref, want, mask, &ctx42, on_item, o), 0);
	run_until(l, &o->calls, 1);
}

static void test_live_create_fetch(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_fields want;
	struct item_out o, f, g;
	fields_set(&want, "Add resolver canary", "Probe every resolver from each region.",
	           "open", "P1", "prevent", "alice", "2026-12-01");
	do_create(l, "acme/dns", &want, &ctx42, &o);
	assert_int_equal(o.st, CONN_OK);
	assert_int_equal(o.http_status, 201);
	assert_int_equal(item_fields_diff(&want, &o.r.fields), 0);
	assert_string_equal(o.r.key, "acme/dns#1");
	assert_string_equal(o.r.token, ctx42.token);
	assert_non_null(o.r.remote_id);
	assert_non_null(o.r.updated_at);
	assert_string_equal(o.r.url, "https://github.com/acme/dns/issues/1");
	assert_int_equal(l->c->n_create, 1);

	/* what went over the wire (the simulator masks the token) */
	struct json_object *reqs = admin("GET", "/_sim/requests", NULL, 200);
	assert_int_equal(json_object_array_length(reqs), 1);
	struct json_object *rq = json_object_array_get_idx(reqs, 0), *h, *b;
	assert_string_equal(jstr_of(rq, "method"), "POST");
	assert_string_equal(jstr_of(rq, "path"), "/repos/acme/dns/issues");
	assert_true(json_object_object_get_ex(rq, "headers", &h));
	assert_string_equal(jstr_of(h, "authorization"), "Bearer ***");
	assert_string_equal(jstr_of(h, "accept"), "application/vnd.github+json");
	assert_string_equal(jstr_of(h, "x-github-api-version"), "2022-11-28");
	assert_string_equal(jstr_of(h, "content-type"), "application/json");
	assert_non_null(strstr(jstr_of(h, "user-agent"), "closeloop"));
	assert_true(json_object_object_get_ex(rq, "body", &b));
	assert_string_equal(jstr_of(b, "title"), "Add resolver canary");
	assert_string_equal(json_object_to_json_string_ext(json_object_object_get(b, "labels"),
	                                                   JSON_C_TO_STRING_PLAIN),
	                    "[\"closeloop\",\"priority: P1\",\"type: prevent\"]");
	assert_string_equal(json_object_to_json_string_ext(json_object_object_get(b, "assignees"),
	                                                   JSON_C_TO_STRING_PLAIN), "[\"alice\"]");
	json_object_put(reqs);

	/* the create's ETag is the issue's: a conditional fetch answers 304 */
	assert_non_null(o.r.etag);
	do_fetch(l, "acme/dns", &o.r, &f);
	assert_int_equal(f.st, CONN_NOT_MODIFIED);
	item_out_free(&f);
	str_replace(&o.r.etag, NULL);
	do_fetch(l, "acme/dns", &o.r, &f);
	assert_int_equal(f.st, CONN_OK);
	assert_int_equal(item_fields_diff(&want, &f.r.fields), 0);
	assert_non_null(f.r.etag);
	do_fetch(l, "acme/dns", &f.r, &g);
	assert_int_equal(g.st, CONN_NOT_MODIFIED);
	assert_false(g.has_remote);
	assert_int_equal(l->c->n_get, 3);
	assert_int_equal(l->c->n_not_modified, 2);
	item_out_free(&g);

	/* created already done: closed right after, as completed */
	item_fields_set(&want, ITEM_F_STATE, "done");
	do_create(l, "acme/dns", &want, &ctx42, &g);
	assert_int_equal(g.st, CONN_OK);
	assert_string_equal(g.r.fields.v[ITEM_F_STATE], "done");
	struct json_object *si = sim_issue("acme/dns", 2);
	assert_string_equal(jstr_of(si, "state"), "closed");
	assert_string_equal(jstr_of(si, "state_reason"), "completed");
	json_object_put(si);

	item_out_free(&o);
	item_out_free(&f);
	item_out_free(&g);
	item_fields_free(&want);
}

/* A listing collected over all pages. */
struct list_out {
	int calls, lasts;
	enum conn_status st;
	size_t n, skipped;
	char *etag;
	char *error;
	int pages;
	bool in_order;
	char last_updated[32];
};

static void on_list(struct connector *c, const struct conn_result *res,
                    const struct conn_page *page, void *arg)
{
	struct list_out *o = arg;
	(void)c;
	o->calls++;
	o->st = res->status;
	str_replace(&o->error, res->error);
	str_replace(&o->etag, page->etag);
	o->n += page->n;
	o->skipped += page->skipped;
	if (page->n || page->skipped)
		o->pages++;
	for (size_t i = 0; i < page->n; i++) {
		const char *u = page->items[i].updated_at;
		assert_non_null(u);
		if (strcmp(u, o->last_updated) < 0)
			o->in_order = false;
		snprintf(o->last_updated, sizeof(o->last_updated), "%s", u);
	}
	if (page->last)
		o->lasts++;
}

static void do_list(struct live *l, const char *repo, int64_t since, const char *etag,
                    struct list_out *o)
{
	memset(o, 0, sizeof(*o));
	o->in_order = true;
	assert_int_equal(l->c->ops->list_changed(l->c, repo, since, etag, on_list, o), 0);
	run_until(l, &o->lasts, 1);
	for (int i = 0; i < 3; i++)
		uv_run(&l->loop, UV_RUN_NOWAIT);
	assert_int_equal(o->lasts, 1);
}

static void test_live_list_pages(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	/* 250 issues, half updated in January and half in June, plus 7 PRs */
	struct buf seed = { 0 };
	assert_int_equal(buf_appendf(&seed, "{\"repos\":{\"acme/big\":{\"pulls\":7,\"issues\":["), 0);
	for (int i = 0; i < 250; i++)
		assert_int_equal(buf_appendf(&seed, "%s{\"title\":\"item %d\",\"created_at\":"
		                             "\"2026-01-01T00:00:00Z\",\"updated_at\":"
		                             "\"2026-%02d-%02dT10:00:%02dZ\"}", i ? "," : "", i,
		                             i < 125 ? 1 : 6, 1 + i % 28, i % 60), 0);
	assert_int_equal(buf_appendf(&seed, "]}}}"), 0);
	json_object_put(admin("POST", "/_sim/seed", seed.data, 200));
	buf_free(&seed);

	struct list_out a, b, c, d;
	do_list(l, "acme/big", 0, NULL, &a);
	assert_int_equal(a.st, CONN_OK);
	assert_int_equal(a.n, 250);
	assert_int_equal(a.skipped, 7);
	assert_int_equal(a.pages, 3);
	assert_int_equal(a.calls, 3);
	assert_true(a.in_order);
	assert_non_null(a.etag);
	assert_int_equal(l->c->n_list, 4); /* the probe, then 3 pages */

	int64_t since;
	assert_int_equal(ts_parse("2026-03-01T00:00:00Z", &since), 0);
	do_list(l, "acme/big", since, NULL, &b);
	assert_int_equal(b.st, CONN_OK);
	assert_int_equal(b.n, 125);
	assert_non_null(b.etag);

	/* the listing asked exactly what docs/architecture.md says, and the next
	 * pages start where the page before ended (since=, not page=: see
	 * github.c on keyset paging) */
	struct json_object *reqs = admin("GET", "/_sim/requests", NULL, 200);
	size_t nr = json_object_array_length(reqs);
	assert_int_equal(nr, 7); /* probe + 3 pages, then probe + 2 (125 issues + 7 PRs) */
	assert_string_equal(jstr_of(json_object_array_get_idx(reqs, 0), "raw_query"),
	                    "state=all&sort=updated&direction=desc&per_page=10");
	assert_string_equal(jstr_of(json_object_array_get_idx(reqs, 1), "raw_query"),
	                    "state=all&sort=updated&direction=asc&per_page=100");
	/* the probe has no since=: the same request whatever the cursor */
	assert_string_equal(jstr_of(json_object_array_get_idx(reqs, 4), "raw_query"),
	                    "state=all&sort=updated&direction=desc&per_page=10");
	assert_string_equal(jstr_of(json_object_array_get_idx(reqs, 5), "raw_query"),
	                    "state=all&sort=updated&direction=asc&per_page=100"
	                    "&since=2026-03-01T00:00:00Z");
	struct json_object *second = json_object_array_get_idx(reqs, 2);
	assert_string_equal(jstr_of(second, "path"), "/repos/acme/big/issues");
	assert_non_null(strstr(jstr_of(second, "raw_query"),
	                       "direction=asc&per_page=100&since=2026-01-"));
	assert_null(strstr(jstr_of(second, "raw_query"), "&page="));
	json_object_put(reqs);

	/* nothing changed since: the conditional probe answers 304 */
	do_list(l, "acme/big", since, b.etag, &c);
	assert_int_equal(c.st, CONN_NOT_MODIFIED);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.etag, b.etag);
	assert_int_equal(l->c->n_not_modified, 1);

	/* an edit to an issue that an oldest-first listing puts on its last
	 * page is still seen: the newest-first probe changes */
	json_object_put(admin("POST", "/_sim/issues/acme/big/250/edit", "{\"title\":\"edited late\"}", 200));
	do_list(l, "acme/big", since, b.etag, &d);
	assert_int_equal(d.st, CONN_OK);
	assert_int_equal(d.n, 125);
	assert_true(d.in_order);
	assert_false(str_eq(d.etag, b.etag));
	free(d.etag); free(d.error);

	/* 150 issues updated within one second: since= cannot move past a full
	 * page, so the Link is followed there, and nothing comes twice */
	struct buf tie = { 0 };
	assert_int_equal(buf_appendf(&tie, "{\"repos\":{\"acme/tie\":{\"issues\":["), 0);
	for (int i = 0; i < 150; i++)
		assert_int_equal(buf_appendf(&tie, "%s{\"title\":\"tie %d\",\"created_at\":"
		                             "\"2026-02-01T00:00:00Z\",\"updated_at\":"
		                             "\"2026-02-01T00:00:0%dZ\"}", i ? "," : "", i, i < 149 ? 0 : 1), 0);
	assert_int_equal(buf_appendf(&tie, "]}}}"), 0);
	json_object_put(admin("POST", "/_sim/seed", tie.data, 200));
	buf_free(&tie);
	json_object_put(admin("DELETE", "/_sim/requests", NULL, 200));
	struct list_out e;
	do_list(l, "acme/tie", 0, NULL, &e);
	assert_int_equal(e.st, CONN_OK);
	assert_int_equal(e.n, 150);
	assert_true(e.in_order);
	reqs = admin("GET", "/_sim/requests", NULL, 200);
	/* probe, page 1, since=that second (the same 100: all repeats), then
	 * its Link: page=2 of since=that second */
	assert_int_equal(json_object_array_length(reqs), 4);
	assert_non_null(strstr(jstr_of(json_object_array_get_idx(reqs, 2), "raw_query"),
	                       "&since=2026-02-01T00:00:00Z"));
	assert_non_null(strstr(jstr_of(json_object_array_get_idx(reqs, 3), "raw_query"), "&page=2"));
	json_object_put(reqs);
	free(e.etag); free(e.error);
	free(a.etag); free(a.error);
	free(b.etag); free(b.error);
	free(c.etag); free(c.error);
}

static void test_live_update(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_fields want;
	struct item_out o, u;
	fields_set(&want, "Rotate certs", "Automate it.", "open", "P2", "process", "alice",
	           "2026-12-01");
	do_create(l, "acme/pki", &want, &ctx42, &o);
	assert_int_equal(o.st, CONN_OK);

	/* someone on GitHub adds a foreign label and a second assignee, and
	 * moves the due date in the body */
	struct json_object *si = sim_issue("acme/pki", 1);
	char *body = subst(jstr_of(si, "body"), "2026-12-01", "2027-02-14");
	struct json_object *ed = json_object_new_object(), *labels = json_object_new_array();
	json_object_array_add(labels, json_object_new_string("closeloop"));
	json_object_array_add(labels, json_object_new_string("priority: P2"));
	json_object_array_add(labels, json_object_new_string("type: process"));
	json_object_array_add(labels, json_object_new_string("team: sre"));
	json_object_object_add(ed, "labels", labels);
	json_object_object_add(ed, "body", json_object_new_string(body));
	struct json_object *as = json_object_new_array();
	json_object_array_add(as, json_object_new_string("alice"));
	json_object_array_add(as, json_object_new_string("bob"));
	json_object_object_add(ed, "assignees", as);
	json_object_put(admin("POST", "/_sim/issues/acme/pki/1/edit",
	                      json_object_to_json_string(ed), 200));
	json_object_put(ed);
	json_object_put(si);
	free(body);

	struct item_out f;
	str_replace(&o.r.etag, NULL);
	do_fetch(l, "acme/pki", &o.r, &f);
	assert_int_equal(f.st, CONN_OK);
	assert_string_equal(f.r.fields.v[ITEM_F_DUE_DATE], "2027-02-14");
	assert_string_equal(f.r.fields.v[ITEM_F_OWNER], "alice");
	assert_string_equal(f.r.extra, "{\"labels\":[\"team: sre\"],\"assignees\":[\"bob\"]}");

	/* done -> closed/completed, priority change keeps the foreign label */
	item_fields_set(&want, ITEM_F_STATE, "done");
	item_fields_set(&want, ITEM_F_PRIORITY, "P0");
	item_fields_set(&want, ITEM_F_DUE_DATE, "2027-02-14");
	do_update(l, "acme/pki", &f.r, &want,
	          ITEM_FIELD_BIT(ITEM_F_STATE) | ITEM_FIELD_BIT(ITEM_F_PRIORITY), &u);
	assert_int_equal(u.st, CONN_OK);
	assert_int_equal(item_fields_diff(&want, &u.r.fields), 0);
	si = sim_issue("acme/pki", 1);
	assert_string_equal(jstr_of(si, "state"), "closed");
	assert_string_equal(jstr_of(si, "state_reason"), "completed");
	const char *sij = json_object_to_json_string_ext(si, JSON_C_TO_STRING_PLAIN);
	assert_non_null(strstr(sij, "team: sre"));
	assert_non_null(strstr(sij, "\"login\":\"bob\""));
	json_object_put(si);
	item_out_free(&u);

	/* wont_do -> not_planned; in_progress -> open + label; owner -> carol */
	item_fields_set(&want, ITEM_F_STATE, "wont_do");
	do_update(l, "acme/pki", &f.r, &want, ITEM_FIELD_BIT(ITEM_F_STATE), &u);
	assert_string_equal(u.r.fields.v[ITEM_F_STATE], "wont_do");
	si = sim_issue("acme/pki", 1);
	assert_string_equal(jstr_of(si, "state_reason"), "not_planned");
	json_object_put(si);
	item_out_free(&u);
	item_fields_set(&want, ITEM_F_STATE, "in_progress");
	item_fields_set(&want, ITEM_F_OWNER, "carol");
	item_fields_set(&want, ITEM_F_TITLE, "Rotate all certs");
	item_fields_set(&want, ITEM_F_DESCRIPTION, "Automate it with cert-manager.");
	json_object_put(admin("DELETE", "/_sim/requests", NULL, 200));
	do_update(l, "acme/pki", &f.r, &want, ITEM_FIELDS_ALL, &u);
	assert_int_equal(u.st, CONN_OK);
	assert_int_equal(item_fields_diff(&want, &u.r.fields), 0);
	/* closed -> in_progress: the label goes on before the PATCH opens the
	 * issue, so no moment shows it open without it (a third state that
	 * would read as a change on GitHub if the daemon died in between) */
	struct json_object *rq3 = admin("GET", "/_sim/requests", NULL, 200);
	assert_int_equal(json_object_array_length(rq3), 2);
	assert_string_equal(jstr_of(json_object_array_get_idx(rq3, 0), "method"), "POST");
	assert_non_null(strstr(json_object_to_json_string(json_object_array_get_idx(rq3, 0)),
	                       "status: in progress"));
	assert_string_equal(jstr_of(json_object_array_get_idx(rq3, 1), "method"), "PATCH");
	json_object_put(rq3);
	assert_string_equal(u.r.token, ctx42.token);
	assert_string_equal(u.r.extra, "{\"labels\":[\"team: sre\"],\"assignees\":[\"bob\"]}");
	si = sim_issue("acme/pki", 1);
	assert_string_equal(jstr_of(si, "state"), "open");
	json_object_put(si);
	/* PATCHes 3; labels, added before the PATCH when f.r (the issue as
	 * last read, stale here) lacks them: P0 (all three updates) and the
	 * in-progress label (third, in the same POST), P2 taken off after the
	 * first PATCH */
	assert_int_equal(l->c->n_update, 7);
	item_out_free(&u);

	/* a label a person adds after the last pull (f.r is stale) stays
	 * when closeloop changes its own labels: no request sends the set */
	si = sim_issue("acme/pki", 1);
	struct json_object *sl = json_object_object_get(si, "labels"), *names = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(sl); i++) {
		struct json_object *li = json_object_array_get_idx(sl, i);
		const char *n = json_object_is_type(li, json_type_string) ? json_object_get_string(li) :
		                jstr_of(li, "name");
		json_object_array_add(names, json_object_new_string(n));
	}
	json_object_array_add(names, json_object_new_string("oncall"));
	ed = json_object_new_object();
	json_object_object_add(ed, "labels", names);
	json_object_put(admin("POST", "/_sim/issues/acme/pki/1/edit", json_object_to_json_string(ed), 200));
	json_object_put(ed);
	json_object_put(si);
	json_object_put(admin("DELETE", "/_sim/requests", NULL, 200));
	item_fields_set(&want, ITEM_F_PRIORITY, "P3");
	do_update(l, "acme/pki", &f.r, &want, ITEM_FIELD_BIT(ITEM_F_PRIORITY), &u);
	assert_int_equal(u.st, CONN_OK);
	assert_int_equal(item_fields_diff(&want, &u.r.fields), 0);
	assert_string_equal(u.r.extra, "{\"labels\":[\"team: sre\",\"oncall\"],\"assignees\":[\"bob\"]}");
	struct json_object *reqs = admin("GET", "/_sim/requests", NULL, 200);
	/* P3 added (and the in-progress label, which f.r lacks: adding a
	 * label the issue has changes nothing), the issue as it is then, P0
	 * taken off */
	assert_int_equal(json_object_array_length(reqs), 3);
	assert_string_equal(jstr_of(json_object_array_get_idx(reqs, 0), "method"), "POST");
	assert_string_equal(json_object_to_json_string_ext(json_object_object_get(
	                        json_object_array_get_idx(reqs, 0), "body"), JSON_C_TO_STRING_PLAIN),
	                    "{\"labels\":[\"priority: P3\",\"status: in progress\"]}");
	assert_string_equal(jstr_of(json_object_array_get_idx(reqs, 1), "method"), "GET");
	assert_string_equal(jstr_of(json_object_array_get_idx(reqs, 2), "method"), "DELETE");
	assert_string_equal(jstr_of(json_object_array_get_idx(reqs, 2), "path"),
	                    "/repos/acme/pki/issues/1/labels/priority: P0");
	json_object_put(reqs);
	si = sim_issue("acme/pki", 1);
	sij = json_object_to_json_string_ext(si, JSON_C_TO_STRING_PLAIN);
	assert_non_null(strstr(sij, "oncall"));
	assert_non_null(strstr(sij, "team: sre"));
	assert_non_null(strstr(sij, "priority: P3"));
	assert_null(strstr(sij, "priority: P0"));
	json_object_put(si);
	item_out_free(&u);

	/* a mask with nothing GitHub stores answers with the issue as is */
	do_update(l, "acme/pki", &f.r, &want, 0, &u);
	assert_int_equal(u.st, CONN_OK);
	assert_int_equal(item_fields_diff(&want, &u.r.fields), 0);
	item_out_free(&u);

	item_out_free(&o);
	item_out_free(&f);
	item_fields_free(&want);
}

/* Creates issue #1 in repo and returns its remote. */
static void make_one(struct live *l, const char *repo, struct item_out *o)
{
	struct item_fields want;
	fields_set(&want, "Page on resolver errors", NULL, "open", "P1", "detect", NULL, NULL);
	do_create(l, repo, &want, &ctx42, o);
	assert_int_equal(o->st, CONN_OK);
	str_replace(&o->r.etag, NULL); /* unconditional fetches from here */
	item_fields_free(&want);
}

static void test_live_retries(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o, f;
	make_one(l, "acme/ret", &o);

	/* 429 with retry-after: 1 -> waited and retried */
	admin_fault("{\"match\":{\"method\":\"GET\",\"path_regex\":\"/issues/1$\"},\"count\":1,"
	            "\"action\":{\"status\":429,\"headers\":{\"retry-after\":\"1\"}}}");
	uint64_t t0 = uv_hrtime();
	do_fetch(l, "acme/ret", &o.r, &f);
	assert_int_equal(f.st, CONN_OK);
	assert_true(uv_hrtime() - t0 >= 900000000ull);
	assert_int_equal(l->c->n_retries, 1);
	item_out_free(&f);

	/* 502 twice on PATCH -> retried with back-off, then applied */
	admin_fault("{\"match\":{\"method\":\"PATCH\"},\"count\":2,\"action\":{\"status\":502}}");
	struct item_fields want;
	item_fields_init(&want);
	item_fields_copy(&want, &o.r.fields);
	item_fields_set(&want, ITEM_F_TITLE, "Page on resolver SERVFAIL");
	do_update(l, "acme/ret", &o.r, &want, ITEM_FIELD_BIT(ITEM_F_TITLE), &f);
	assert_int_equal(f.st, CONN_OK);
	assert_string_equal(f.r.fields.v[ITEM_F_TITLE], "Page on resolver SERVFAIL");
	assert_int_equal(l->c->n_retries, 3);
	item_out_free(&f);

	/* 502 every time -> CONN_ERROR after max_attempts (4) */
	admin_fault("{\"match\":{\"method\":\"GET\"},\"count\":4,\"action\":{\"status\":502}}");
	do_fetch(l, "acme/ret", &o.r, &f);
	assert_int_equal(f.st, CONN_ERROR);
	assert_int_equal(f.http_status, 502);
	assert_string_equal(f.error, "GET /repos/acme/ret/issues/1: HTTP 502 after 4 attempts");
	item_out_free(&f);

	/* a dropped connection on GET is retried too */
	admin_fault("{\"match\":{\"method\":\"GET\"},\"count\":1,\"action\":{\"drop\":true}}");
	do_fetch(l, "acme/ret", &o.r, &f);
	assert_int_equal(f.st, CONN_OK);
	item_out_free(&f);

	/* 502 on POST: outcome unknown, no retry */
	struct json_object *st0 = admin("GET", "/_sim/stats", NULL, 200), *v;
	json_object_object_get_ex(st0, "create", &v);
	int creates0 = json_object_get_int(v);
	json_object_put(st0);
	admin_fault("{\"match\":{\"method\":\"POST\"},\"count\":1,\"action\":{\"status\":502}}");
	do_create(l, "acme/ret", &want, &ctx42, &f);
	assert_int_equal(f.st, CONN_UNKNOWN);
	assert_false(f.has_remote);
	assert_non_null(strstr(f.error, "POST /repos/acme/ret/issues: HTTP 502"));
	item_out_free(&f);
	st0 = admin("GET", "/_sim/stats", NULL, 200);
	json_object_object_get_ex(st0, "create", &v);
	assert_int_equal(json_object_get_int(v), creates0 + 1);
	json_object_put(st0);

	/* secondary rate limit on POST: nothing was created, so it is retried */
	admin_fault("{\"match\":{\"method\":\"POST\"},\"count\":1,\"action\":{\"status\":403,"
	            "\"headers\":{\"retry-after\":\"0\"}}}");
	do_create(l, "acme/ret", &want, &ctx42, &f);
	assert_int_equal(f.st, CONN_OK);
	assert_string_equal(f.r.key, "acme/ret#2");
	item_out_free(&f);

	/* a rate limit longer than backoff_max_ms is handed back */
	admin_fault("{\"match\":{\"method\":\"GET\"},\"count\":1,\"action\":{\"status\":429,"
	            "\"headers\":{\"retry-after\":\"60\"}}}");
	do_fetch(l, "acme/ret", &o.r, &f);
	assert_int_equal(f.st, CONN_RATE_LIMITED);
	assert_int_equal(f.retry_after_ms, 60000);
	item_out_free(&f);

	item_fields_free(&want);
	item_out_free(&o);
}

static int sim_total(void)
{
	struct json_object *st = admin("GET", "/_sim/stats", NULL, 200), *v;
	json_object_object_get_ex(st, "total", &v);
	int n = json_object_get_int(v);
	json_object_put(st);
	return n;
}

/* GitHub's secondary limit: 403, requests remaining, no retry-after, a
 * message that says so.  It is a rate limit (never "check the token"),
 * the wait is at least a minute, and it stops the whole connector: the
 * next request, for any repository, is not sent before then. */
static void test_live_secondary_limit(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out f;
	struct item_fields want;
	item_fields_init(&want);
	str_replace(&want.v[ITEM_F_TITLE], "Paced");
	str_replace(&want.v[ITEM_F_STATE], "open");
	struct conn_item_context ctx = { .item_id = 7, .token = "tok-sec" };
	admin_fault("{\"match\":{\"method\":\"POST\"},\"count\":1,\"action\":{\"status\":403,"
	            "\"headers\":{\"x-ratelimit-remaining\":\"4990\",\"x-ratelimit-limit\":\"5000\"},"
	            "\"body\":{\"message\":\"You have exceeded a secondary rate limit. Please wait a "
	            "few minutes before you try again.\",\"documentation_url\":\"https://docs.github.com"
	            "/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits\"}}}");
	do_create(l, "acme/sec", &want, &ctx, &f);
	assert_int_equal(f.st, CONN_RATE_LIMITED);
	assert_true(f.retry_after_ms >= 60000);
	assert_null(strstr(f.error, "token"));
	assert_int_equal(l->c->n_rate_limited, 1);
	assert_int_equal(l->c->rate_remaining, 4990);
	assert_non_null(l->c->pace);
	assert_true(pace_blocked_ms(l->c->pace) >= 59000);
	item_out_free(&f);

	/* the stop holds for another repository: nothing reaches GitHub */
	int before = sim_total();
	struct conn_remote ref;
	conn_remote_init(&ref);
	ref.key = xstrdup("acme/other#1");
	do_fetch(l, "acme/other", &ref, &f);
	assert_int_equal(f.st, CONN_RATE_LIMITED);
	assert_true(f.retry_after_ms > 50000);
	assert_int_equal(sim_total(), before);
	item_out_free(&f);
	conn_remote_free(&ref);
	item_fields_free(&want);
}

/* Outcome of a comment operation, copied out of the callback. */
struct comment_out {
	int calls;
	enum conn_status st;
	char *error, *id, *url;
};

static void on_comment(struct connector *c, const struct conn_result *res,
                       const struct conn_comment *cm, void *arg)
{
	struct comment_out *o = arg;
	(void)c;
	o->calls++;
	o->st = res->status;
	str_replace(&o->error, res->error);
	str_replace(&o->id, cm ? cm->id : NULL);
	str_replace(&o->url, cm ? cm->url : NULL);
}

static void comment_out_free(struct comment_out *o)
{
	free(o->error);
	free(o->id);
	free(o->url);
	memset(o, 0, sizeof(*o));
}

static void do_comment(struct live *l, const char *repo, const struct conn_remote *ref,
                       const char *body, const char *marker, struct comment_out *o)
{
	memset(o, 0, sizeof(*o));
	int rc = marker ? l->c->ops->find_comment(l->c, repo, ref, marker, on_comment, o)
	                : l->c->ops->comment(l->c, repo, ref, body, on_comment, o);
	assert_int_equal(rc, 0);
	assert_int_equal(o->calls, 0);
	run_until(l, &o->calls, 1);
}

static void test_live_comment(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o;
	struct comment_out c, f;
	make_one(l, "acme/esc", &o);
	assert_int_equal(l->c->ops->comment(l->c, "acme/esc", &o.r, "", on_comment, &c), -EINVAL);

	do_comment(l, "acme/esc", &o.r, "Escalated to @lead-a <!-- closeloop:esc:m1 -->", NULL, &c);
	assert_int_equal(c.st, CONN_OK);
	assert_non_null(c.id);
	assert_string_equal(c.url, "https://github.com/acme/esc/issues/1#issuecomment-1000000001");
	assert_int_equal(l->c->n_comment, 1);
	struct json_object *reqs = admin("GET", "/_sim/requests", NULL, 200);
	struct json_object *rq = json_object_array_get_idx(reqs, json_object_array_length(reqs) - 1), *b;
	assert_string_equal(jstr_of(rq, "path"), "/repos/acme/esc/issues/1/comments");
	assert_true(json_object_object_get_ex(rq, "body", &b));
	assert_string_equal(jstr_of(b, "body"), "Escalated to @lead-a <!-- closeloop:esc:m1 -->");
	json_object_put(reqs);

	/* 150 more comments: the marker is found on page 1, a missing one after 2 pages.
	 * A comment is content creation: the simulator's budget (GitHub's 80 a
	 * minute) is lifted for this test, as the connector's is (fast_writes) */
	json_object_put(admin("POST", "/_sim/ratelimit",
	                      "{\"creates_per_minute\":0,\"creates_per_hour\":0}", 200));
	for (int i = 0; i < 150; i++) {
		comment_out_free(&c);
		char body[32];
		snprintf(body, sizeof(body), "note %d", i);
		do_comment(l, "acme/esc", &o.r, body, NULL, &c);
		assert_int_equal(c.st, CONN_OK);
	}
	do_comment(l, "acme/esc", &o.r, NULL, "closeloop:esc:m1", &f);
	assert_int_equal(f.st, CONN_OK);
	assert_string_equal(f.url, "https://github.com/acme/esc/issues/1#issuecomment-1000000001");
	comment_out_free(&f);
	uint64_t lists0 = l->c->n_list;
	do_comment(l, "acme/esc", &o.r, NULL, "closeloop:esc:absent", &f);
	assert_int_equal(f.st, CONN_OK);
	assert_null(f.id);
	assert_int_equal(l->c->n_list - lists0, 2); /* two pages of 100 */
	comment_out_free(&f);

	/* 502 on the POST: unknown outcome, not retried; the marker tells */
	admin_fault("{\"match\":{\"method\":\"POST\"},\"count\":1,\"after\":true,"
	            "\"action\":{\"status\":502}}");
	comment_out_free(&c);
	do_comment(l, "acme/esc", &o.r, "again <!-- closeloop:esc:m2 -->", NULL, &c);
	assert_int_equal(c.st, CONN_UNKNOWN);
	assert_non_null(strstr(c.error, "the comment may have been created"));
	do_comment(l, "acme/esc", &o.r, NULL, "closeloop:esc:m2", &f);
	assert_int_equal(f.st, CONN_OK);
	assert_non_null(f.id);
	comment_out_free(&f);

	/* a deleted issue: CONN_GONE */
	json_object_put(admin("POST", "/_sim/issues/acme/esc/1/delete", "{}", 200));
	comment_out_free(&c);
	do_comment(l, "acme/esc", &o.r, "x", NULL, &c);
	assert_int_equal(c.st, CONN_GONE);
	comment_out_free(&c);
	item_out_free(&o);
}

/* Comments and listing pages whose members have another type than
 * GitHub's schemas (issue-comment: id an int64, html_url and body
 * strings; issue: updated_at a date-time string) are refused, naming the
 * member, where they were read as absent: the comment carrying the
 * marker passed over (find_comment answered "none", and the escalation
 * would be posted again), a listing page's last updated_at dropped (the
 * next page followed by GitHub's page number, which an edit between
 * pages shifts). */
static void test_live_wrong_types(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o;
	struct comment_out c, f;
	struct list_out a;
	make_one(l, "acme/esc", &o);
	do_comment(l, "acme/esc", &o.r, "Escalated <!-- closeloop:esc:w1 -->", NULL, &c);
	assert_int_equal(c.st, CONN_OK);
	comment_out_free(&c);

	static const struct { const char *comment, *err; } cases[] = {
		{ "{\"id\":\"1000000001\",\"html_url\":\"https://github.com/acme/esc/issues/1\","
		  "\"body\":\"Escalated <!-- closeloop:esc:w1 -->\"}",
		  "comment 0 of the page has no \"id\" that is a positive integer" },
		{ "{\"id\":1000000001,\"html_url\":7,"
		  "\"body\":\"Escalated <!-- closeloop:esc:w1 -->\"}",
		  "comment 0 of the page has an \"html_url\" that is not a string" },
		{ "{\"id\":1000000001,\"body\":[\"Escalated <!-- closeloop:esc:w1 -->\"]}",
		  "comment 0 of the page has a \"body\" that is not a string" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *fault = xasprintf("{\"match\":{\"method\":\"GET\",\"path_regex\":\"/comments$\"},"
		                        "\"count\":1,\"action\":{\"status\":200,\"body\":[%s]}}",
		                        cases[i].comment);
		admin_fault(fault);
		free(fault);
		do_comment(l, "acme/esc", &o.r, NULL, "closeloop:esc:w1", &f);
		assert_int_equal(f.st, CONN_BAD_RESPONSE);
		assert_null(f.id);
		assert_non_null(f.error);
		assert_non_null(strstr(f.error, cases[i].err));
		comment_out_free(&f);
	}
	/* the same page well-typed, and a comment without body (another media
	 * type) passed over: found */
	admin_fault("{\"match\":{\"method\":\"GET\",\"path_regex\":\"/comments$\"},\"count\":1,"
	            "\"action\":{\"status\":200,\"body\":[{\"id\":1000000000},{\"id\":1000000001,"
	            "\"html_url\":null,\"body\":\"Escalated <!-- closeloop:esc:w1 -->\"}]}}");
	do_comment(l, "acme/esc", &o.r, NULL, "closeloop:esc:w1", &f);
	assert_int_equal(f.st, CONN_OK);
	assert_string_equal(f.id, "1000000001");
	assert_null(f.url);
	comment_out_free(&f);

	/* a created comment's id of another type: the outcome is unknown, and
	 * the message says which member */
	admin_fault("{\"match\":{\"method\":\"POST\",\"path_regex\":\"/comments$\"},\"count\":1,"
	            "\"action\":{\"status\":201,\"body\":{\"id\":\"1000000002\"}}}");
	do_comment(l, "acme/esc", &o.r, "again <!-- closeloop:esc:w2 -->", NULL, &c);
	assert_int_equal(c.st, CONN_UNKNOWN);
	assert_non_null(strstr(c.error, "not a comment (it has no \"id\" that is a positive "
	                                "integer); the comment may have been created"));
	comment_out_free(&c);

	/* a listing page (and the probe before it) ending in a pull request
	 * whose updated_at is a number */
	admin_fault("{\"match\":{\"method\":\"GET\",\"path_regex\":\"^/repos/acme/esc/issues$\"},"
	            "\"count\":2,\"action\":{\"status\":200,\"body\":[{\"id\":77,\"number\":5,"
	            "\"pull_request\":{\"url\":\"x\"},\"updated_at\":1767225600}]}}");
	do_list(l, "acme/esc", 0, NULL, &a);
	assert_int_equal(a.st, CONN_BAD_RESPONSE);
	assert_non_null(a.error);
	assert_non_null(strstr(a.error, "the page's last item (0) has no \"updated_at\" that is "
	                                "a date"));
	assert_int_equal(a.skipped, 0);
	free(a.etag);
	free(a.error);
	item_out_free(&o);
}

/* GitHub refuses a whole create or update naming a login it cannot assign
 * (422, Issue.assignees invalid): the connector sends the rest again
 * without the assignee and reports the owner refused, field by field
 * (connector.h): a partial write, never a refused ticket. */
static void test_live_owner_refused(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o, u;
	json_object_put(admin("POST", "/_sim/seed",
	                      "{\"repos\":{\"acme/assign\":{\"issues\":[],\"users\":[\"rf-gh\"]}}}",
	                      200));
	make_one(l, "acme/assign", &o);
	struct item_fields want;
	fields_set(&want, "Page on resolver errors > 1%", NULL, "open", "P1", "detect",
	           "mallory-gh", NULL);
	do_update(l, "acme/assign", &o.r, &want,
	          ITEM_FIELD_BIT(ITEM_F_TITLE) | ITEM_FIELD_BIT(ITEM_F_OWNER), &u);
	assert_int_equal(u.st, CONN_OK);
	assert_int_equal(u.refused_mask, ITEM_FIELD_BIT(ITEM_F_OWNER));
	assert_non_null(strstr(u.owner_refused, "GitHub refused to assign mallory-gh in acme/assign"));
	assert_string_equal(u.r.fields.v[ITEM_F_TITLE], "Page on resolver errors > 1%");
	assert_null(u.r.fields.v[ITEM_F_OWNER]);
	item_out_free(&u);
	/* a create naming the login: the issue is created without it */
	struct item_out cr;
	do_create(l, "acme/assign", &want, &ctx42, &cr);
	assert_int_equal(cr.st, CONN_OK);
	assert_int_equal(cr.refused_mask, ITEM_FIELD_BIT(ITEM_F_OWNER));
	assert_non_null(strstr(cr.owner_refused, "GitHub refused to assign mallory-gh"));
	assert_string_equal(cr.r.fields.v[ITEM_F_TITLE], "Page on resolver errors > 1%");
	assert_null(cr.r.fields.v[ITEM_F_OWNER]);
	item_out_free(&cr);
	/* an assignable login: nothing refused */
	item_fields_set(&want, ITEM_F_OWNER, "RF-GH");
	do_update(l, "acme/assign", &o.r, &want, ITEM_FIELD_BIT(ITEM_F_OWNER), &u);
	assert_int_equal(u.st, CONN_OK);
	assert_int_equal(u.refused_mask, 0);
	assert_string_equal(u.r.fields.v[ITEM_F_OWNER], "rf-gh");
	item_out_free(&u);
	item_fields_free(&want);
	item_out_free(&o);
}

static void do_find_token(struct live *l, const char *repo, const char *token,
                          struct item_out *o)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(l->c->ops->find_by_token(l->c, repo, token, on_item, o), 0);
	assert_int_equal(o->calls, 0);
	run_until(l, &o->calls, 1);
}

static void test_live_find_by_token(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o, f;
	make_one(l, "acme/find", &o);
	struct item_out other;
	make_one(l, "acme/find-other", &other); /* same token, another repository */
	assert_non_null(o.r.token);
	assert_int_equal(l->c->ops->find_by_token(l->c, "acme", o.r.token, on_item, &f), -EINVAL);
	assert_int_equal(l->c->ops->find_by_token(l->c, "acme/find", "a\"b", on_item, &f), -EINVAL);

	do_find_token(l, "acme/find", o.r.token, &f);
	assert_int_equal(f.st, CONN_OK);
	assert_string_equal(f.r.remote_id, o.r.remote_id);
	assert_string_equal(f.r.key, "acme/find#1");
	assert_string_equal(f.r.token, o.r.token);
	assert_int_equal(l->c->n_search, 1);
	/* the request GitHub documents: the phrase, the repository, issues, bodies */
	struct json_object *reqs = admin("GET", "/_sim/requests", NULL, 200);
	struct json_object *rq = json_object_array_get_idx(reqs, json_object_array_length(reqs) - 1);
	assert_string_equal(jstr_of(rq, "path"), "/search/issues");
	json_object_put(reqs);
	item_out_free(&f);

	/* no issue carries it: CONN_GONE; the index lags: not found yet either */
	do_find_token(l, "acme/find", "0000-not-a-token", &f);
	assert_int_equal(f.st, CONN_GONE);
	assert_non_null(strstr(f.error, "no issue in acme/find carries closeloop token"));
	item_out_free(&f);
	json_object_put(admin("POST", "/_sim/search", "{\"lag_s\":3600}", 200));
	do_find_token(l, "acme/find", o.r.token, &f);
	assert_int_equal(f.st, CONN_GONE);
	item_out_free(&f);
	json_object_put(admin("POST", "/_sim/search", "{\"lag_s\":0}", 200));

	/* the search limit (30 a minute) is a rate limit, never "check the token" */
	json_object_put(admin("POST", "/_sim/search", "{\"limit\":0}", 200));
	do_find_token(l, "acme/find", o.r.token, &f);
	assert_int_equal(f.st, CONN_RATE_LIMITED);
	assert_true(f.retry_after_ms > 0);
	item_out_free(&f);
	item_out_free(&other);
	item_out_free(&o);
}

static void test_live_errors(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o, f;
	struct list_out ls;
	make_one(l, "acme/err", &o);

	admin_fault("{\"match\":{\"method\":\"GET\"},\"count\":1,\"action\":{\"malformed\":true}}");
	do_fetch(l, "acme/err", &o.r, &f);
	assert_int_equal(f.st, CONN_BAD_RESPONSE);
	assert_non_null(strstr(f.error, "GET /repos/acme/err/issues/1: HTTP 200 but"));
	item_out_free(&f);
	admin_fault("{\"match\":{\"method\":\"GET\"},\"count\":1,\"action\":{\"malformed\":true}}");
	do_list(l, "acme/err", 0, NULL, &ls);
	assert_int_equal(ls.st, CONN_BAD_RESPONSE);
	assert_int_equal(ls.n, 0);
	free(ls.error); free(ls.etag);

	admin_fault("{\"match\":{\"method\":\"PATCH\"},\"count\":1,\"action\":{\"status\":422,"
	            "\"body\":{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":\"Issue\","
	            "\"field\":\"title\",\"code\":\"invalid\"}]}}}");
	do_update(l, "acme/err", &o.r, &o.r.fields, ITEM_FIELD_BIT(ITEM_F_TITLE), &f);
	assert_int_equal(f.st, CONN_INVALID);
	assert_string_equal(f.error, "PATCH /repos/acme/err/issues/1: HTTP 422: "
	                             "Validation Failed (Issue.title: invalid)");
	item_out_free(&f);
	/* a refused label step of an update is that update's failure */
	admin_fault("{\"match\":{\"method\":\"POST\",\"path_regex\":\"/labels$\"},\"count\":1,"
	            "\"action\":{\"status\":422,\"body\":{\"message\":\"Validation Failed\","
	            "\"errors\":[{\"resource\":\"Label\",\"field\":\"name\",\"code\":\"invalid\"}]}}}");
	item_fields_set(&o.r.fields, ITEM_F_PRIORITY, "P0");
	do_update(l, "acme/err", &o.r, &o.r.fields, ITEM_FIELD_BIT(ITEM_F_PRIORITY), &f);
	assert_int_equal(f.st, CONN_INVALID);
	assert_string_equal(f.error, "POST /repos/acme/err/issues/1/labels: HTTP 422: "
	                             "Validation Failed (Label.name: invalid)");
	item_out_free(&f);

	/* transferred -> MOVED (the 301 followed: where it is now), deleted ->
	 * GONE, unknown number -> GONE */
	json_object_put(admin("POST", "/_sim/issues/acme/err/1/transfer", "{\"to\":\"acme/other\"}", 200));
	do_fetch(l, "acme/err", &o.r, &f);
	assert_int_equal(f.st, CONN_MOVED);
	assert_int_equal(f.http_status, 301);
	assert_non_null(strstr(f.error, "moved to acme/other#"));
	item_out_free(&f);
	struct item_out two;
	make_one(l, "acme/err", &two);
	json_object_put(admin("POST", "/_sim/issues/acme/err/2/delete", "{}", 200));
	do_fetch(l, "acme/err", &two.r, &f);
	assert_int_equal(f.st, CONN_GONE);
	assert_int_equal(f.http_status, 410);
	item_out_free(&f);
	str_replace(&two.r.key, "acme/err#99");
	do_fetch(l, "acme/err", &two.r, &f);
	assert_int_equal(f.st, CONN_GONE);
	item_out_free(&f);
	item_out_free(&two);

	/* arguments that cannot start: no callback */
	assert_int_equal(l->c->ops->fetch(l->c, "not a repo", &o.r, on_item, &f), -EINVAL);
	str_replace(&o.r.key, "OPS-12");
	assert_int_equal(l->c->ops->fetch(l->c, "acme/err", &o.r, on_item, &f), -EINVAL);
	assert_int_equal(f.calls, 0);
	item_out_free(&o);
}

static void test_live_auth(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = live_new("ghp_wrongTOKENabcdef", 4);
	struct list_out ls;
	do_list(l, "acme/auth", 0, NULL, &ls);
	assert_int_equal(ls.st, CONN_AUTH);
	assert_null(strstr(ls.error, "ghp_wrong"));
	assert_null(strstr(ls.error, SIM_TOKEN));
	assert_non_null(strstr(ls.error, "Bad credentials"));
	free(ls.error); free(ls.etag);
	live_free(l);
	(void)state;
}

static void test_live_queue_and_cancel(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l0 = *state;
	struct item_out o;
	make_one(l0, "acme/q", &o);
	struct live *l = live_new(SIM_TOKEN, 2);

	/* six fetches, two at a time */
	struct item_out f[6];
	memset(f, 0, sizeof(f));
	for (int i = 0; i < 6; i++)
		assert_int_equal(l->c->ops->fetch(l->c, "acme/q", &o.r, on_item, &f[i]), 0);
	assert_int_equal(http_client_inflight(l->http), 2);
	for (int i = 0; i < 6; i++)
		run_until(l, &f[i].calls, 1);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(f[i].calls, 1);
		assert_int_equal(f[i].st, CONN_OK);
		item_out_free(&f[i]);
	}

	/* cancel: two fetches in flight (slow), the listing queued behind them
	 * after its 503 and retry back-off */
	admin_fault("{\"match\":{\"method\":\"GET\",\"path_regex\":\"/issues/1$\"},\"count\":2,"
	            "\"action\":{\"delay_ms\":1500}}");
	admin_fault("{\"match\":{\"method\":\"GET\",\"path_regex\":\"/issues$\"},\"count\":1,"
	            "\"action\":{\"status\":503}}");
	struct list_out ls;
	memset(&ls, 0, sizeof(ls));
	assert_int_equal(l->c->ops->fetch(l->c, "acme/q", &o.r, on_item, &f[0]), 0);
	assert_int_equal(l->c->ops->list_changed(l->c, "acme/q", 0, NULL, on_list, &ls), 0);
	assert_int_equal(l->c->ops->fetch(l->c, "acme/q", &o.r, on_item, &f[1]), 0);
	/* let the list get its 503 and arm a retry timer */
	uint64_t until = uv_hrtime() + 300000000ull;
	while (uv_hrtime() < until)
		uv_run(&l->loop, UV_RUN_NOWAIT);
	l->c->ops->cancel(l->c);
	assert_int_equal(f[0].calls, 1);
	assert_int_equal(f[1].calls, 1);
	assert_int_equal(ls.lasts, 1);
	assert_int_equal(f[0].st, CONN_ERROR);
	assert_non_null(strstr(f[0].error, "cancelled"));
	assert_int_equal(ls.st, CONN_ERROR);
	/* late answers reach nobody */
	until = uv_hrtime() + 2000000000ull;
	while (uv_hrtime() < until && http_client_inflight(l->http) > 0)
		uv_run(&l->loop, UV_RUN_ONCE);
	assert_int_equal(f[0].calls, 1);
	assert_int_equal(f[1].calls, 1);
	assert_int_equal(ls.calls, 1);
	item_out_free(&f[0]);
	item_out_free(&f[1]);
	free(ls.error); free(ls.etag);
	live_free(l);
	item_out_free(&o);
}

/* cancel() aborts the connector's own transfers at once (http_cancel),
 * and leaves another connector's transfers on the same HTTP client be. */
static void test_live_cancel_own_transfers(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o, fa, fb;
	struct connector *other = NULL;
	make_one(l, "acme/co", &o);
	struct conn_options opt = { .name = "other", .base_url = sim_base, .token = SIM_TOKEN,
	                            .max_attempts = 1, .max_inflight = 4 };
	assert_int_equal(connector_new(&other, "github", &l->loop, l->http, &opt), 0);
	admin_fault("{\"match\":{\"method\":\"GET\",\"path_regex\":\"/issues/1$\"},\"count\":2,"
	            "\"action\":{\"delay_ms\":1500}}");
	memset(&fa, 0, sizeof(fa));
	memset(&fb, 0, sizeof(fb));
	assert_int_equal(l->c->ops->fetch(l->c, "acme/co", &o.r, on_item, &fa), 0);
	assert_int_equal(other->ops->fetch(other, "acme/co", &o.r, on_item, &fb), 0);
	/* both requests reach the (sleeping) simulator */
	uint64_t until = uv_hrtime() + 300000000ull;
	while (uv_hrtime() < until)
		uv_run(&l->loop, UV_RUN_NOWAIT);
	assert_int_equal(http_client_inflight(l->http), 2);

	uint64_t t0 = uv_hrtime();
	l->c->ops->cancel(l->c);
	assert_int_equal(fa.calls, 1);
	assert_int_equal(fa.st, CONN_ERROR);
	assert_non_null(strstr(fa.error, "cancelled"));
	/* the aborted transfer leaves the HTTP client on the next turns,
	 * long before the simulator would have answered it */
	for (int i = 0; i < 5 && http_client_inflight(l->http) > 1; i++)
		uv_run(&l->loop, UV_RUN_NOWAIT);
	assert_int_equal(http_client_inflight(l->http), 1);
	assert_true(uv_hrtime() - t0 < 1000000000ull);
	assert_int_equal(fb.calls, 0);

	/* the other connector's fetch goes on and succeeds */
	run_until(l, &fb.calls, 1);
	assert_int_equal(fb.st, CONN_OK);
	assert_string_equal(fb.r.key, "acme/co#1");
	assert_int_equal(fa.calls, 1);
	assert_int_equal(http_client_inflight(l->http), 0);

	/* and the cancelled connector still works */
	item_out_free(&fa);
	do_fetch(l, "acme/co", &o.r, &fa);
	assert_int_equal(fa.st, CONN_OK);
	connector_destroy(other);
	item_out_free(&fa);
	item_out_free(&fb);
	item_out_free(&o);
}

/* destroy while requests are in flight; the HTTP client closes later */
static void test_live_destroy_inflight(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o, f;
	make_one(l, "acme/d", &o);
	memset(&f, 0, sizeof(f));
	assert_int_equal(l->c->ops->fetch(l->c, "acme/d", &o.r, on_item, &f), 0);
	assert_int_equal(http_client_inflight(l->http), 1);
	connector_destroy(l->c);
	l->c = NULL;
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.st, CONN_ERROR);
	/* the transfer was aborted (http_cancel): it leaves the HTTP client
	 * on the next loop turns and reaches nobody */
	uint64_t until = uv_hrtime() + 5000000000ull;
	while (uv_hrtime() < until && http_client_inflight(l->http) > 0)
		uv_run(&l->loop, UV_RUN_ONCE);
	assert_int_equal(http_client_inflight(l->http), 0);
	assert_int_equal(f.calls, 1);
	struct conn_options opt = { .name = "again", .base_url = sim_base, .token = SIM_TOKEN,
	                            .max_attempts = 1 };
	assert_int_equal(connector_new(&l->c, "jira-someday", &l->loop, l->http, &opt), -EINVAL);
	assert_int_equal(connector_new(&l->c, "github", &l->loop, l->http, &opt), 0);
	item_out_free(&f);
	item_out_free(&o);
}

/* No server at all (no simulator needed): a create that never reached
 * GitHub is retried like a GET, then reported as an error, not unknown. */
static void test_unreachable(void **state)
{
	(void)state;
	struct live *l = live_new_at("http://127.0.0.1:1/", "ghp_unusedTOKEN", 4);
	struct item_fields want;
	struct item_out o;
	fields_set(&want, "t", NULL, "open", NULL, NULL, NULL, NULL);
	do_create(l, "acme/x", &want, &ctx42, &o);
	assert_int_equal(o.st, CONN_ERROR);
	assert_int_equal(o.http_status, 0);
	assert_non_null(strstr(o.error, "POST /repos/acme/x/issues: "));
	assert_non_null(strstr(o.error, "after 4 attempts"));
	assert_int_equal(l->c->n_retries, 3);
	assert_int_equal(l->c->n_create, 1);
	item_out_free(&o);
	item_fields_free(&want);
	live_free(l);
}

/* A callback that destroys the connector it was called for. */
struct destroyer {
	struct live *l;
	int calls;
	enum conn_status st;
};

static void on_item_destroy(struct connector *c, const struct conn_result *res,
                            const struct conn_remote *rem, void *arg)
{
	struct destroyer *d = arg;
	(void)rem;
	d->calls++;
	d->st = res->status;
	if (d->l->c == c) {
		connector_destroy(c);
		d->l->c = NULL;
	}
}

static void test_live_destroy_in_callback(void **state)
{
	LIVE_OR_SKIP(state);
	struct live *l = *state;
	struct item_out o;
	make_one(l, "acme/dc", &o);

	/* from an answer's callback */
	struct destroyer d1 = { .l = l };
	assert_int_equal(l->c->ops->fetch(l->c, "acme/dc", &o.r, on_item_destroy, &d1), 0);
	run_until(l, &d1.calls, 1);
	assert_int_equal(d1.st, CONN_OK);
	assert_null(l->c);

	/* from a callback that cancel() runs, with another request pending */
	struct conn_options opt = { .name = "again", .base_url = sim_base, .token = SIM_TOKEN,
	                            .max_attempts = 1, .max_inflight = 4 };
	assert_int_equal(connector_new(&l->c, "github", &l->loop, l->http, &opt), 0);
	struct destroyer d2 = { .l = l }, d3 = { .l = l };
	assert_int_equal(l->c->ops->fetch(l->c, "acme/dc", &o.r, on_item_destroy, &d2), 0);
	assert_int_equal(l->c->ops->fetch(l->c, "acme/dc", &o.r, on_item_destroy, &d3), 0);
	l->c->ops->cancel(l->c);
	assert_int_equal(d2.calls + d3.calls, 2);
	assert_int_equal(d2.st, CONN_ERROR);
	assert_int_equal(d3.st, CONN_ERROR);
	assert_null(l->c);
	/* the late answers go nowhere */
	uint64_t until = uv_hrtime() + 2000000000ull;
	while (uv_hrtime() < until && http_client_inflight(l->http) > 0)
		uv_run(&l->loop, UV_RUN_ONCE);
	assert_int_equal(d2.calls + d3.calls, 2);
	item_out_free(&o);
}

int main(void)
{
	/* one group, so that tests/run-unit.sh counts every test */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_roundtrip),
		cmocka_unit_test(test_body_user_edits),
		cmocka_unit_test(test_body_missing_block),
		cmocka_unit_test(test_state_mapping),
		cmocka_unit_test(test_labels_assignees),
		cmocka_unit_test(test_gql_issue_reads_as_rest),
		cmocka_unit_test(test_gql_read),
		cmocka_unit_test(test_issue_to_remote),
		cmocka_unit_test(test_roundtrip_through_json),
		cmocka_unit_test(test_update_json),
		cmocka_unit_test(test_link_header),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test_setup_teardown(test_live_create_fetch, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_list_pages, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_update, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_retries, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_secondary_limit, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_errors, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_comment, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_wrong_types, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_find_by_token, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_owner_refused, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_auth, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_queue_and_cancel, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_cancel_own_transfers, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_destroy_inflight, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_destroy_in_callback, live_setup, live_teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LVL_WARN);
	return cmocka_run_group_tests_name("github connector", tests, sim_group_setup,
	                                   sim_group_teardown);
}
