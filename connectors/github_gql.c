/* github_gql.c — GitHub's GraphQL answers of a project pass, read without
 * I/O (github_gql.h says what each document's answer holds and the facts
 * followed).  github_project.c sends the documents and keeps the board;
 * tests/fuzz/fuzz_graphql.c feeds this reader arbitrary bytes. */
#include "conn_json.h"
#include "github_gql.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- an issue ---- */

/* An enum value ("NOT_PLANNED") as the REST API spells it ("not_planned"). */
static struct json_object *lower_enum(const char *s)
{
	if (!s)
		return NULL;
	char *l = xstrdup(s);
	for (char *c = l; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	struct json_object *o = json_object_new_string(l);
	free(l);
	return o;
}

/* The issue's REST id: fullDatabaseId is a BigInt, which GitHub sends as
 * a string of digits (an int is taken too).  0 when missing. */
static int64_t issue_id(struct json_object *n)
{
	int64_t v = 0;
	if (conn_json_int64(n, "fullDatabaseId", &v))
		return v;
	const char *s = conn_json_str(n, "fullDatabaseId");
	char *end = NULL;
	errno = 0;
	long long id = s ? strtoll(s, &end, 10) : 0;
	return s && errno == 0 && end != s && *end == '\0' && id > 0 ? id : 0;
}

/* Names of a connection's nodes ({nodes: [{key: ...}]}) as a REST array
 * of objects {key: ...}. */
static struct json_object *names_rest(struct json_object *conn, const char *key)
{
	struct json_object *a = json_object_new_array(), *nodes = conn_json_arr(conn, "nodes");
	for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++) {
		const char *s = conn_json_str(json_object_array_get_idx(nodes, i), key);
		if (!s)
			continue;
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, key, json_object_new_string(s));
		json_object_array_add(a, o);
	}
	return a;
}

struct json_object *gh_gql_issue_rest(struct json_object *n)
{
	int64_t id = issue_id(n), num = 0;
	if (id <= 0 || !conn_json_int64(n, "number", &num))
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(id));
	json_object_object_add(o, "number", json_object_new_int64(num));
	const char *title = conn_json_str(n, "title"), *body = conn_json_str(n, "body");
	const char *url = conn_json_str(n, "url");
	const char *upd = conn_json_str(n, "updatedAt");
	json_object_object_add(o, "title", title ? json_object_new_string(title) : NULL);
	json_object_object_add(o, "body", body ? json_object_new_string(body) : NULL);
	json_object_object_add(o, "state", lower_enum(conn_json_str(n, "state")));
	json_object_object_add(o, "state_reason", lower_enum(conn_json_str(n, "stateReason")));
	json_object_object_add(o, "html_url", url ? json_object_new_string(url) : NULL);
	json_object_object_add(o, "updated_at", upd ? json_object_new_string(upd) : NULL);
	json_object_object_add(o, "labels", names_rest(conn_json_obj(n, "labels"), "name"));
	json_object_object_add(o, "assignees", names_rest(conn_json_obj(n, "assignees"), "login"));
	return o;
}


/* ---- an answer ---- */

int gh_json_parse(struct json_tokener *tok, const char *body, size_t len,
                  struct json_object **out, const char **err)
{
	struct json_object *o = NULL;
	*out = NULL;
	if (len > INT32_MAX) {
		*err = "answer too large";
		return -EINVAL;
	}
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, body ? body : "", (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	if (je == json_tokener_continue) {
		*err = "truncated JSON";
		goto bad;
	}
	if (je != json_tokener_success) {
		*err = json_tokener_error_desc(je);
		goto bad;
	}
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (!isspace((unsigned char)body[i])) {
			*err = "data after the JSON value";
			goto bad;
		}
	}
	if (!o) {
		*err = "null instead of a value";
		return -EINVAL;
	}
	*out = o;
	return 0;
bad:
	json_object_put(o);
	return -EINVAL;
}

void gh_gql_answer_free(struct gh_gql_answer *a)
{
	json_object_put(a->root);
	free(a->issues);
	memset(a, 0, sizeof(*a));
}

/* The errors and data of a GraphQL response: *data, or 1 for GraphQL's
 * rate limit, or -EINVAL with *msg. */
static int gql_data(struct json_object *root, const char *what, struct json_object **data,
                    char **msg)
{
	struct json_object *errors = conn_json_arr(root, "errors");
	if (errors && json_object_array_length(errors) > 0) {
		for (size_t i = 0; i < json_object_array_length(errors); i++)
			if (str_eq(conn_json_str(json_object_array_get_idx(errors, i), "type"),
			           "RATE_LIMITED"))
				return GH_GQL_RATE_LIMITED;
		struct json_object *e = json_object_array_get_idx(errors, 0);
		const char *type = conn_json_str(e, "type"), *m = conn_json_str(e, "message");
		*msg = xasprintf("%s: GraphQL error %s: %s", what, type ? type : "(no type)",
		                 m ? m : "(no message)");
		return -EINVAL;
	}
	*data = conn_json_obj(root, "data");
	if (!*data) {
		*msg = xasprintf("%s: the GraphQL response has no data", what);
		return -EINVAL;
	}
	return 0;
}

/* data.repositoryOwner.projectV2, or NULL with *msg. */
static struct json_object *project_of(const struct gh_gql_rule *rule, struct json_object *data,
                                      const char *what, char **msg)
{
	struct json_object *owner = conn_json_obj(data, "repositoryOwner");
	struct json_object *proj = conn_json_obj(owner, "projectV2");
	if (!owner)
		*msg = xasprintf("%s: no user or organization is called '%s'", what, rule->owner);
	else if (!proj)
		*msg = xasprintf("%s: '%s' has no project number %ld (or the token cannot read it)",
		                 what, rule->owner, rule->number);
	return proj;
}

/* The probe's project (projectV2 { updatedAt items { totalCount } }). */
static int probe_read(struct json_object *proj, const char *what, struct gh_gql_answer *out,
                      char **msg)
{
	const char *upd = conn_json_str(proj, "updatedAt");
	if (!upd || !conn_json_int64(conn_json_obj(proj, "items"), "totalCount", &out->total)) {
		*msg = xasprintf("%s: the project has no updatedAt or items.totalCount", what);
		return -EINVAL;
	}
	if (ts_parse(upd, &out->updated_ms) < 0 || out->total < 0) {
		*msg = xasprintf("%s: the project's updatedAt '%.40s' is not a date, or its "
		                 "totalCount %lld is negative", what, upd, (long long)out->total);
		return -EINVAL;
	}
	return 0;
}

/* Is item node n (ProjectV2Item) a member: an Issue of the rule's target
 * with the rule's field value?  Its content, or NULL. */
static struct json_object *item_issue(const struct gh_gql_rule *rule, struct json_object *n)
{
	struct json_object *c = conn_json_obj(n, "content");
	if (!str_eq(conn_json_str(c, "__typename"), "Issue"))
		return NULL; /* a draft issue, a pull request, or content the token cannot see */
	const char *repo = conn_json_str(conn_json_obj(c, "repository"), "nameWithOwner");
	if (!repo || !rule->repo || strcasecmp(repo, rule->repo) != 0)
		return NULL;
	if (rule->field) {
		const char *v = conn_json_str(conn_json_obj(n, "fieldValueByName"), "name");
		if (!v || !rule->value || strcasecmp(v, rule->value) != 0)
			return NULL;
	}
	return c;
}

/* The issues of the array nodes into out->issues: with a rule, the items
 * (ProjectV2Item) that are members (item_issue); without, the Issue nodes
 * (a deleted one is null: the listing sees it). */
static void issues_of(struct gh_gql_answer *out, struct json_object *nodes,
                      const struct gh_gql_rule *rule)
{
	size_t n = json_object_array_length(nodes);
	out->issues = xcalloc(n + 1, sizeof(*out->issues));
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(nodes, i);
		c = rule ? item_issue(rule, c) :
		    str_eq(conn_json_str(c, "__typename"), "Issue") ? c : NULL;
		int64_t id = c ? issue_id(c) : 0;
		if (id > 0)
			out->issues[out->n_issues++] = (struct gh_gql_issue){
				.id = id, .node = conn_json_str(c, "id"), .content = c };
	}
}

/* A page of the project's items (projectV2 { items { pageInfo nodes } }). */
static int items_read(const struct gh_gql_rule *rule, struct json_object *proj, const char *what,
                      struct gh_gql_answer *out, char **msg)
{
	struct json_object *items = conn_json_obj(proj, "items");
	struct json_object *pi = conn_json_obj(items, "pageInfo");
	struct json_object *nodes = conn_json_arr(items, "nodes");
	if (!nodes || !conn_json_bool(pi, "hasNextPage", &out->has_next)) {
		*msg = xasprintf("%s: the project's items have no nodes or pageInfo.hasNextPage", what);
		return -EINVAL;
	}
	out->cursor = conn_json_str(pi, "endCursor");
	if (out->has_next && !out->cursor) {
		*msg = xasprintf("%s: a next page without an endCursor", what);
		return -EINVAL;
	}
	issues_of(out, nodes, rule);
	return 0;
}

static int nodes_read(struct json_object *data, const char *what, struct gh_gql_answer *out,
                      char **msg)
{
	struct json_object *nodes = conn_json_arr(data, "nodes");
	if (!nodes) {
		*msg = xasprintf("%s: the answer has no nodes", what);
		return -EINVAL;
	}
	issues_of(out, nodes, NULL);
	return 0;
}

int gh_gql_read(enum gh_gql_doc doc, const char *body, size_t len, const struct gh_gql_rule *rule,
                const char *what, struct json_tokener *tok, struct gh_gql_answer *out,
                char **msg)
{
	const char *err = NULL;
	struct json_object *data = NULL;
	memset(out, 0, sizeof(*out));
	*msg = NULL;
	if (gh_json_parse(tok, body, len, &out->root, &err) < 0 ||
	    !json_object_is_type(out->root, json_type_object)) {
		*msg = xasprintf("%s: the body is not a GraphQL response (%s)", what,
		                 err ? err : "not an object");
		return -EINVAL;
	}
	int rc = gql_data(out->root, what, &data, msg);
	if (rc != 0)
		return rc;
	if (doc == GH_GQL_NODES)
		return nodes_read(data, what, out, msg);
	if (doc != GH_GQL_PROBE && doc != GH_GQL_ITEMS)
		abort();
	struct json_object *proj = project_of(rule, data, what, msg);
	if (!proj)
		return -EINVAL;
	return doc == GH_GQL_PROBE ? probe_read(proj, what, out, msg) :
	       items_read(rule, proj, what, out, msg);
}
