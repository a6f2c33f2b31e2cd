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
 *     project = OPS AND id in (10001, 10002) AND (<fragment>) ORDER BY id
 * (ordered by id so that Data Center's windows, by startAt, neither skip
 * nor repeat an issue whose update time moves between them)
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

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>
#include "connector.h"
#include "jira_fields.h"

/* The longest fragment taken (a page's search carries 100 ids besides). */
#define JIRA_JQL_FRAGMENT_MAX 1000

/* conn_option.check of the jql member: NULL when v is a fragment that can
 * be ANDed in safely (above), else a static phrase of what is expected. */
const char *jira_check_jql_fragment(const char *v);

/* "project = P AND id in (1, 2) AND (fragment) ORDER BY id" for the numeric ids
 * ids[0..n) (n >= 1; each all digits, as listed).  Heap. */
char *jira_jql_discover(const char *project, char *const *ids, size_t n, const char *fragment);

/* The search body of that query, as the flavor's search takes it (the
 * listing's, jira_fields.h): Cloud's /rest/api/3/search/jql {"jql",
 * "fields": ["issuelinks"], "maxResults": max}; Data Center's
 * /rest/api/2/search the same with "startAt": start (Atlassian, "Jira
 * Server platform REST API", POST /rest/api/2/search SearchRequestBean:
 * jql, startAt, maxResults, fields).  Caller puts. */
struct json_object *jira_discover_body(const char *jql, int max, enum jira_flavor flavor,
                                       int start);

/* Mark items[0..n) (the issues of one listed page) by answer, Jira's
 * answer to their discovery search: CONN_DISCOVER_MATCH with refs (the
 * linked keys) for the issues it holds; with first (the answer to the
 * search's first window) every other issue is CONN_DISCOVER_NO_MATCH
 * first.  *next is 0 when the answer is the search's last window, else
 * the startAt of the next one: Data Center caps maxResults on the server
 * (jira.search.views.default.max) and says how many matched in "total"
 * (SearchResults {startAt, maxResults, total, issues}); Cloud's answer is
 * a single page ("isLast" true, asked for as many as there are ids).
 * -EINVAL with *err a static phrase when the answer is not a window of
 * issues among those asked about, or a member it is read by has another
 * type than the OpenAPI description gives it (isLast a Boolean, total and
 * startAt integers, an issue's id a string; its links as
 * jira_issue_link_refs): "\"isLast\" is not a Boolean".  Items are marked
 * up to the issue refused: the caller drops the page. */
int jira_discover_apply(struct json_object *answer, struct conn_remote *items, size_t n,
                        bool first, int *next, const char **err) MUST_CHECK;

/* The keys of the issues linked to issue (its fields.issuelinks), one a
 * line, in the order Jira gives them, into *refs (heap; NULL when it has
 * none: no fields, no issuelinks, links without a key).  -EINVAL with
 * *err a static phrase, *refs NULL, when fields, issuelinks, a link, its
 * inwardIssue/outwardIssue or their key has another type than the
 * IssueLink of the OpenAPI description (objects, an array, a string). */
int jira_issue_link_refs(struct json_object *issue, char **refs, const char **err) MUST_CHECK;

#endif
