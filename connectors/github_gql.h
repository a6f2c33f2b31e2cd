/* github_gql.h — GitHub's GraphQL answers to the three documents of a
 * project pass (connectors/github_project.c), read without I/O: the
 * connector and tests/fuzz/fuzz_graphql.c call the same reader.
 *
 * Facts (GitHub GraphQL API docs, "Forming calls with GraphQL", "Rate
 * limits and node limits for the GraphQL API"; schema
 * @octokit/graphql-schema pinned in tests/sim/recorded/package.json):
 * an answer is HTTP 200 with a JSON object {"data": ..., "errors": [...]};
 * an error is {type, path, locations, message}, data partial or null;
 * GraphQL's own rate limit is an error of type RATE_LIMITED; an unknown
 * login under repositoryOwner(login:) is data.repositoryOwner null
 * without an error; ProjectV2.updatedAt is a DateTime (ISO 8601),
 * items.totalCount an Int, pageInfo {hasNextPage: Boolean!, endCursor:
 * String}, fullDatabaseId a BigInt (sent as a string of digits). */
#ifndef CLOSELOOP_GITHUB_GQL_H
#define CLOSELOOP_GITHUB_GQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct json_tokener;

/* Which document an answer is to. */
enum gh_gql_doc {
	GH_GQL_PROBE = 1,   /* repositoryOwner { projectV2 { id updatedAt items(first:1) { totalCount } } } */
	GH_GQL_ITEMS,       /* one page of the board's items, with their issue content */
	GH_GQL_NODES,       /* nodes(ids:): issues that left the board, by node id */
};

/* The rule the answer is read for: owner and number name the board in
 * messages; repo (the rule's target, "owner/name") and the single-select
 * filter (field and value, both or neither) say which items are members. */
struct gh_gql_rule {
	const char *owner;
	long number;
	const char *repo;
	const char *field, *value;
};

/* An issue the answer holds: an item of the board that is a member
 * (GH_GQL_ITEMS), or an Issue node (GH_GQL_NODES). */
struct gh_gql_issue {
	int64_t id;                   /* its REST id (fullDatabaseId), > 0 */
	const char *node;             /* its GraphQL node id, or NULL */
	struct json_object *content;  /* the Issue object, for gh_gql_issue_rest */
};

/* What one answer says; pointers are borrowed from root. */
struct gh_gql_answer {
	struct json_object *root;     /* the parsed body (gh_gql_answer_free puts it) */
	int64_t updated_ms;           /* GH_GQL_PROBE: updatedAt, ms since the epoch, UTC */
	int64_t total;                /* ... and items.totalCount (>= 0) */
	bool has_next;                /* GH_GQL_ITEMS: pageInfo.hasNextPage */
	const char *cursor;           /* ... and endCursor (set when has_next) */
	struct gh_gql_issue *issues;  /* GH_GQL_ITEMS, GH_GQL_NODES (heap array) */
	size_t n_issues;
};

#define GH_GQL_RATE_LIMITED 1

/* Read the answer body[0..len) to document doc, sent for rule, with tok
 * (reset here; reused between answers).  Returns 0 with *out filled,
 * GH_GQL_RATE_LIMITED when an error is GraphQL's rate limit (type
 * RATE_LIMITED), or -EINVAL with *msg (heap) saying what is wrong,
 * starting with what ("POST /graphql"): not one JSON object, a GraphQL
 * error (its type and message), no data, no such owner or project, a
 * member the document selects missing or of another type.  Whatever it
 * returns, *out is to be released with gh_gql_answer_free and *msg freed. */
int gh_gql_read(enum gh_gql_doc doc, const char *body, size_t len, const struct gh_gql_rule *rule,
                const char *what, struct json_tokener *tok, struct gh_gql_answer *out,
                char **msg);
void gh_gql_answer_free(struct gh_gql_answer *a);

/* A GraphQL Issue (id fullDatabaseId number title body state stateReason
 * url updatedAt labels{nodes{name}} assignees{nodes{login}}, the
 * schema's names) as the REST issue object gh_issue_to_remote reads (id,
 * number, title, body, state and state_reason in lower case, html_url,
 * updated_at, labels [{name}], assignees [{login}]), so a ticket read from
 * a board is the ticket the REST listing reads.  New reference, or NULL
 * when n lacks fullDatabaseId (a BigInt: a string of digits) or number. */
struct json_object *gh_gql_issue_rest(struct json_object *n);

/* Parse body[0..len) as one JSON value with tok (reset first; trailing
 * white space allowed).  Returns 0 with *out (caller puts; never NULL),
 * or -EINVAL with *err a static phrase. */
int gh_json_parse(struct json_tokener *tok, const char *body, size_t len,
                  struct json_object **out, const char **err);

#endif
