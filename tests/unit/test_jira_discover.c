/* test_jira_discover.c — the Jira connector's discovery rule
 * (connectors/jira_discover.h): the JQL fragment check that keeps the
 * rule from widening the listing's query, the query built for a page of
 * listed issues, its search body, and the keys read from an issue's
 * links. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jira_discover.h"

static void test_fragment_good(void **state)
{
	(void)state;
	static const char *const good[] = {
		"labels = \"postmortem-action\"",
		"labels = postmortem-action",
		"component = 'SRE' OR component = \"On call\"",
		"issue in linkedIssues(\"INC-42\", \"is caused by\")",
		"issueLinkType = \"is caused by\" AND NOT labels = chore",
		"(labels = a OR labels = b) AND component = SRE",
		"labels = \"with \\\" quote\" AND summary ~ 'order by here is text'",
		"labels = ordered AND labels = by",
		"labels in (\"x)\", 'y(')",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *why = jira_check_jql_fragment(good[i]);
		if (why)
			fail_msg("%s: %s", good[i], why);
	}
}

static void expect_bad(const char *v, const char *phrase)
{
	const char *why = jira_check_jql_fragment(v);
	if (!why)
		fail_msg("taken: %s", v ? v : "(null)");
	if (!strstr(why, phrase))
		fail_msg("%s: \"%s\" lacks \"%s\"", v, why, phrase);
}

static void test_fragment_bad(void **state)
{
	(void)state;
	expect_bad("", "a JQL condition");
	expect_bad("   ", "a JQL condition");
	expect_bad(NULL, "a JQL condition");
	expect_bad("labels = \"open", "quoted values are closed");
	expect_bad("labels = 'open", "quoted values are closed");
	expect_bad("labels = \"a\\\"", "quoted values are closed");
	/* a ")" that would close the listing's terms and OR past them */
	expect_bad("labels = a) OR (project = OTHER", "parentheses are balanced");
	expect_bad("(labels = a", "parentheses are balanced");
	expect_bad("labels = a ORDER BY created", "without ORDER BY");
	expect_bad("labels = a order   BY key", "without ORDER BY");
	expect_bad("OR project = OTHER", "whole JQL condition");
	expect_bad("labels = a AND", "whole JQL condition");
	expect_bad("labels = a or", "whole JQL condition");
	expect_bad("labels = a\nOR project = X", "one line");
	expect_bad("labels = \"a\tb\"", "control character");
	char *big = malloc(JIRA_JQL_FRAGMENT_MAX + 2);
	memset(big, 'a', JIRA_JQL_FRAGMENT_MAX + 1);
	big[JIRA_JQL_FRAGMENT_MAX + 1] = '\0';
	expect_bad(big, "at most 1000");
	free(big);
}

static void test_query_and_body(void **state)
{
	(void)state;
	char *ids[] = { "10001", "10002", "10010" };
	char *q = jira_jql_discover("OPS", ids, 3, "labels = a OR component = SRE");
	/* the fragment is parenthesised: its OR stays inside */
	assert_string_equal(q, "project = OPS AND id in (10001, 10002, 10010) AND "
	                       "(labels = a OR component = SRE) ORDER BY id");
	struct json_object *b = jira_discover_body(q, 100, JIRA_CLOUD, 0);
	assert_string_equal(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN),
	                    "{\"jql\":\"project = OPS AND id in (10001, 10002, 10010) AND "
	                    "(labels = a OR component = SRE) ORDER BY id\",\"fields\":[\"issuelinks\"],"
	                    "\"maxResults\":100}");
	json_object_put(b);
	/* Data Center's v2 search: the same with its window's startAt */
	b = jira_discover_body(q, 3, JIRA_DC, 2);
	assert_string_equal(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN),
	                    "{\"jql\":\"project = OPS AND id in (10001, 10002, 10010) AND "
	                    "(labels = a OR component = SRE) ORDER BY id\",\"fields\":[\"issuelinks\"],"
	                    "\"maxResults\":3,\"startAt\":2}");
	json_object_put(b);
	free(q);
}

/* Answers to one discovery search over three listed issues. */
static void test_apply_windows(void **state)
{
	(void)state;
	struct conn_remote items[3] = { { .remote_id = "10001" }, { .remote_id = "10002" },
	                                { .remote_id = "10010" } };
	const char *err = NULL;
	int next = -1;
	/* Cloud: one page, isLast */
	struct json_object *a = json_tokener_parse(
		"{\"issues\":[{\"id\":\"10002\",\"fields\":{}}],\"isLast\":true}");
	assert_int_equal(jira_discover_apply(a, items, 3, true, &next, &err), 0);
	assert_int_equal(next, 0);
	assert_int_equal(items[0].discover, CONN_DISCOVER_NO_MATCH);
	assert_int_equal(items[1].discover, CONN_DISCOVER_MATCH);
	assert_int_equal(items[2].discover, CONN_DISCOVER_NO_MATCH);
	json_object_put(a);
	a = json_tokener_parse("{\"issues\":[],\"isLast\":false}");
	assert_int_equal(jira_discover_apply(a, items, 3, true, &next, &err), -EINVAL);
	assert_string_equal(err, "the discovery search answered more issues than it was asked about");
	json_object_put(a);
	/* Data Center, the server capping maxResults at 2: two windows */
	a = json_tokener_parse("{\"startAt\":0,\"maxResults\":2,\"total\":3,\"issues\":["
	                       "{\"id\":\"10001\",\"fields\":{}},{\"id\":\"10002\",\"fields\":{}}]}");
	assert_int_equal(jira_discover_apply(a, items, 3, true, &next, &err), 0);
	assert_int_equal(next, 2);
	json_object_put(a);
	a = json_tokener_parse("{\"startAt\":2,\"maxResults\":2,\"total\":3,\"issues\":["
	                       "{\"id\":\"10010\",\"fields\":{}}]}");
	assert_int_equal(jira_discover_apply(a, items, 3, false, &next, &err), 0);
	assert_int_equal(next, 0);
	for (int i = 0; i < 3; i++) /* the second window keeps the first's marks */
		assert_int_equal(items[i].discover, CONN_DISCOVER_MATCH);
	json_object_put(a);
	/* a total that says more follow, with nothing answered, is no progress */
	a = json_tokener_parse("{\"startAt\":0,\"maxResults\":2,\"total\":3,\"issues\":[]}");
	assert_int_equal(jira_discover_apply(a, items, 3, true, &next, &err), -EINVAL);
	json_object_put(a);
	for (int i = 0; i < 3; i++)
		free(items[i].refs);
}

static void test_link_refs(void **state)
{
	(void)state;
	struct json_object *issue = json_tokener_parse(
		"{\"id\":\"10003\",\"key\":\"OPS-3\",\"fields\":{\"issuelinks\":["
		"{\"id\":\"1\",\"type\":{\"name\":\"Problem/Incident\",\"inward\":\"is caused by\","
		"\"outward\":\"causes\"},\"inwardIssue\":{\"id\":\"10000\",\"key\":\"INC-7\"}},"
		"{\"id\":\"2\",\"type\":{\"name\":\"Relates\"},\"outwardIssue\":{\"id\":\"9\",\"key\":\"OPS-1\"}},"
		"{\"id\":\"3\",\"type\":{\"name\":\"Relates\"}}]}}");
	char *refs = NULL;
	const char *err = NULL;
	assert_int_equal(jira_issue_link_refs(issue, &refs, &err), 0);
	assert_non_null(refs);
	assert_string_equal(refs, "INC-7\nOPS-1");
	free(refs);
	json_object_put(issue);
	issue = json_tokener_parse("{\"id\":\"1\",\"fields\":{\"issuelinks\":[]}}");
	assert_int_equal(jira_issue_link_refs(issue, &refs, &err), 0);
	assert_null(refs);
	json_object_put(issue);
	issue = json_tokener_parse("{\"id\":\"1\",\"fields\":{\"issuelinks\":null}}");
	assert_int_equal(jira_issue_link_refs(issue, &refs, &err), 0);
	assert_null(refs);
	json_object_put(issue);
	issue = json_tokener_parse("{\"id\":\"1\",\"fields\":{}}");
	assert_int_equal(jira_issue_link_refs(issue, &refs, &err), 0);
	assert_null(refs);
	json_object_put(issue);
	/* a link of another shape refuses the issue rather than losing a
	 * reference (an item born in Jira would lose its postmortem) */
	static const char *const bad[] = {
		"{\"fields\":{\"issuelinks\":{\"inwardIssue\":{\"key\":\"INC-7\"}}}}",
		"{\"fields\":{\"issuelinks\":[\"INC-7\"]}}",
		"{\"fields\":{\"issuelinks\":[{\"inwardIssue\":\"INC-7\"}]}}",
		"{\"fields\":{\"issuelinks\":[{\"outwardIssue\":{\"key\":7}}]}}",
		"{\"fields\":\"issuelinks\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		issue = json_tokener_parse(bad[i]);
		assert_non_null(issue);
		err = NULL;
		refs = (char *)"unset";
		assert_int_equal(jira_issue_link_refs(issue, &refs, &err), -EINVAL);
		assert_null(refs);
		assert_non_null(err);
		json_object_put(issue);
	}
}

/* A member of another type than the OpenAPI description gives it refuses
 * the answer, naming the member, where json-c would have read it as
 * something else: isLast "false" as true (the page taken as the last
 * window), total "x" as 0 (windows still to come dropped), a numeric id
 * as its text, a link key of another type as no link. */
static void test_apply_wrong_types(void **state)
{
	(void)state;
	static const struct { const char *answer, *err; } cases[] = {
		{ "{\"issues\":[{\"id\":\"10002\",\"fields\":{}}],\"isLast\":\"false\"}",
		  "\"isLast\" is not a Boolean" },
		{ "{\"issues\":[{\"id\":\"10002\",\"fields\":{}}],\"isLast\":1}",
		  "\"isLast\" is not a Boolean" },
		{ "{\"startAt\":0,\"total\":\"x\",\"issues\":[{\"id\":\"10001\",\"fields\":{}}]}",
		  "\"total\" or \"startAt\" is not an integer" },
		{ "{\"startAt\":\"0\",\"total\":3,\"issues\":[{\"id\":\"10001\",\"fields\":{}}]}",
		  "\"total\" or \"startAt\" is not an integer" },
		{ "{\"startAt\":0,\"total\":3.0,\"issues\":[{\"id\":\"10001\",\"fields\":{}}]}",
		  "\"total\" or \"startAt\" is not an integer" },
		{ "{\"issues\":[{\"id\":10002,\"fields\":{}}],\"isLast\":true}",
		  "the discovery search answered an issue whose \"id\" is not a string" },
		{ "{\"issues\":[{\"id\":\"10002\",\"fields\":{\"issuelinks\":[{\"inwardIssue\":"
		  "{\"key\":[\"INC-7\"]}}]}}],\"isLast\":true}",
		  "an issue link's inwardIssue or outwardIssue, or its \"key\", has another type "
		  "than an object with a string key" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conn_remote items[3] = { { .remote_id = "10001" }, { .remote_id = "10002" },
		                                { .remote_id = "10010" } };
		struct json_object *a = json_tokener_parse(cases[i].answer);
		const char *err = NULL;
		int next = -1;
		assert_non_null(a);
		assert_int_equal(jira_discover_apply(a, items, 3, true, &next, &err), -EINVAL);
		assert_non_null(err);
		assert_string_equal(err, cases[i].err);
		json_object_put(a);
		for (int k = 0; k < 3; k++)
			free(items[k].refs);
	}
	/* absent and null keep their defaults: a last window from startAt 0 */
	struct conn_remote items[3] = { { .remote_id = "10001" }, { .remote_id = "10002" },
	                                { .remote_id = "10010" } };
	struct json_object *a = json_tokener_parse(
		"{\"startAt\":null,\"isLast\":null,\"total\":1,\"issues\":[{\"id\":\"10010\"}]}");
	const char *err = NULL;
	int next = -1;
	assert_int_equal(jira_discover_apply(a, items, 3, true, &next, &err), 0);
	assert_int_equal(next, 0);
	assert_int_equal(items[2].discover, CONN_DISCOVER_MATCH);
	json_object_put(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fragment_good),
		cmocka_unit_test(test_fragment_bad),
		cmocka_unit_test(test_query_and_body),
		cmocka_unit_test(test_link_refs),
		cmocka_unit_test(test_apply_windows),
		cmocka_unit_test(test_apply_wrong_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
