/* jira_discover.h — discovery for the Jira connector: which issues of a
 * project are action items born in Jira (connector.h "discovery",
 * docs/architecture.md "Discovery").  Pure functions, no I/O
 * (tests/unit/test_jira_discover.c).
 *
 * The rule is a JQL fragment (connectors.[].discover.[].jql), e.g.
 *     labels = "postmortem-action"
 *     issue in linkedIssues("INC-42", "is caused by") OR issueLinkType = "causes"
 *     component = "SRE"
 * After a page of the normal incremental listing, the connector asks Jira
 * which of that page's issues the rule takes, with one search:
 *     project = OPS AND id in (10001, 10002) AND (<fragment>)
 * The fragment is parenthesised and ANDed after the listing's own terms,
 * so it can only narrow the answer: a checked fragment has closed quotes
 * and balanced parentheses (a ")" cannot close the listing's terms), no
 * ORDER BY, and is a whole condition (does not start or end with AND/OR).
 *
 * Jira facts (Atlassian, "JQL: fields, operators, keywords and functions",
 * Jira Cloud; checked December 2026): AND binds tighter than OR; string
 * values are quoted with " or ', a backslash escapes the next character;
 * `issue in linkedIssues(KEY[, "link description"])`, `issueLinkType =
 * "is caused by"`, `labels = x`, `component = x`; an issue's links are
 * its `issuelinks` field: [{type: {name, inward, outward}, inwardIssue |
 * outwardIssue: {id, key}}].
 */
#ifndef CLOSELOOP_JIRA_DISCOVER_H
#define CLOSELOOP_JIRA_DISCOVER_H

#include <stddef.h>
#include <json-c/json.h>
#include "connector.h"

/* The longest fragment taken (a page's search carries 100 ids besides). */
#define JIRA_JQL_FRAGMENT_MAX 1000

/* conn_option.check of the jql member: NULL when v is a fragment that can
 * be ANDed in safely (above), else a static phrase of what is expected. */
const char *jira_check_jql_fragment(const char *v);

/* "project = P AND id in (1, 2) AND (fragment)" for the numeric ids
 * ids[0..n) (n >= 1; each all digits, as listed).  Heap. */
char *jira_jql_discover(const char *project, char *const *ids, size_t n, const char *fragment);

/* The search body of that query: {"jql", "fields": ["issuelinks"],
 * "maxResults": max}.  Caller puts. */
struct json_object *jira_discover_body(const char *jql, int max);

/* Mark items[0..n) (the issues of one listed page) by answer, Jira's
 * answer to their discovery search: CONN_DISCOVER_MATCH with refs (the
 * linked keys) for the issues it holds, CONN_DISCOVER_NO_MATCH for the
 * rest.  -EINVAL with *err a static phrase when the answer is not a
 * single page of issues among those asked about. */
int jira_discover_apply(struct json_object *answer, struct conn_remote *items, size_t n,
                        const char **err) MUST_CHECK;

/* The keys of the issues linked to issue (its fields.issuelinks), one a
 * line, in the order Jira gives them; NULL when it has none.  Heap. */
char *jira_issue_link_refs(struct json_object *issue);

#endif
