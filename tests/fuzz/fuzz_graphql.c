/* fuzz_graphql.c — libFuzzer target for GitHub's GraphQL answers to the
 * project pass (connectors/github_gql.c, the reader github_project.c
 * calls): the same bytes are read as the answer to each of the three
 * documents -- the probe, a page of the board's items (with and without
 * the single-select filter) and nodes(ids:) -- and every issue an answer
 * yields goes on as the connector takes it: gh_gql_issue_rest (the REST
 * shape) and gh_issue_to_remote (the ticket reconcile gets).
 *
 * Seeds: tests/fuzz/corpus/graphql (answers of the simulator to
 * closeloop's documents, which tests/sim/graphql_check.js checks against
 * GitHub's schema, and the error shapes GitHub documents).  Nothing may
 * crash, leak, read out of bounds or overflow (UBSan), and the reader
 * keeps its word: a message exactly when it refuses, a cursor with every
 * next page, positive ids, a count that is not negative. */
#include <errno.h>
#include <json-c/json.h>

#include "connector.h"
#include "fuzz_common.h"
#include "github_body.h"
#include "github_gql.h"

static void one_issue(const struct gh_gql_issue *it)
{
	if (it->id <= 0 || !it->content)
		__builtin_trap();
	struct json_object *o = gh_gql_issue_rest(it->content);
	if (!o)
		return;
	struct conn_remote rem;
	const char *err = NULL;
	if (gh_issue_to_remote(o, "acme/payments", &rem, &err) == 0) {
		if (!rem.remote_id || !rem.key)
			__builtin_trap();
		conn_remote_free(&rem);
	} else if (!err) {
		__builtin_trap(); /* a refusal names what was wrong */
	}
	json_object_put(o);
}

static void read_as(struct json_tokener *tok, enum gh_gql_doc doc, const struct gh_gql_rule *rule,
                    const uint8_t *data, size_t size)
{
	struct gh_gql_answer a;
	char *msg = NULL;
	int rc = gh_gql_read(doc, (const char *)data, size, rule, "POST /graphql", tok, &a, &msg);
	if ((rc < 0) != (msg != NULL) || (rc != 0 && rc != GH_GQL_RATE_LIMITED && rc != -EINVAL))
		__builtin_trap();
	if (rc == 0) {
		if ((a.has_next && !a.cursor) || a.total < 0)
			__builtin_trap();
		for (size_t i = 0; i < a.n_issues; i++)
			one_issue(&a.issues[i]);
	}
	free(msg);
	gh_gql_answer_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct json_tokener *tok;
	if (!tok && !(tok = json_tokener_new()))
		abort();
	const struct gh_gql_rule plain = { .owner = "acme", .number = 7, .repo = "acme/payments" };
	const struct gh_gql_rule field = { .owner = "acme", .number = 7, .repo = "acme/payments",
	                                   .field = "Type", .value = "Postmortem action" };
	read_as(tok, GH_GQL_PROBE, &plain, data, size);
	read_as(tok, GH_GQL_ITEMS, &plain, data, size);
	read_as(tok, GH_GQL_ITEMS, &field, data, size);
	read_as(tok, GH_GQL_NODES, &plain, data, size);
	return 0;
}
