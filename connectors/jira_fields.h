/* jira_fields.h — the Jira connector's field mapping (Jira Cloud REST v3):
 * canonical item fields (item.h) <-> an issue's `fields`, the JQL of an
 * incremental listing and of a create-token lookup, and the checks of the
 * Jira options (the choice of a workflow transition for a wanted state is
 * jira_transition.h's).
 * Pure functions: no I/O, testable on their own (tests/unit/test_jira.c).
 *
 * Jira facts (Atlassian, "The Jira Cloud platform REST API" v3, and the
 * OpenAPI description in ../shared/specs/):
 *   - an issue is {"id": "10002", "key": "OPS-12", "fields": {...}}; the id
 *     is stable, the key changes when the issue moves to another project;
 *   - `updated` looks like "2014-03-19T18:45:42.967+0000";
 *   - a status belongs to a statusCategory whose key is "new",
 *     "indeterminate" or "done"; `resolution` says how a done issue ended;
 *   - status is not a field an edit may set: only a transition from
 *     GET .../transitions (each with `to.statusCategory.key`) changes it;
 *   - labels hold no spaces; description and comments are ADF on v3;
 *   - JQL date operands have minute precision ("yyyy/MM/dd HH:mm") and are
 *     read in the user's time zone (closeloop's Jira user: UTC).
 *
 * Mapping (closeloop's decisions):
 *   title <-> summary; description <-> description (ADF, jira_adf.h);
 *   priority P0..P3 <-> the configured priority names (another priority
 *   reads as no priority); type <-> label "closeloop-type-<type>"; owner
 *   <-> assignee.accountId; due_date <-> duedate; state <- statusCategory
 *   + resolution (done with a "won't" resolution = wont_do) -> transition;
 *   the create token <-> label "closeloop-<token>"; the postmortem
 *   reference -> label "postmortem-<ref>" (both written with every label
 *   write, since PUT replaces the labels).
 *   Labels closeloop does not manage are kept in conn_remote.extra as
 *   {"labels": [...]} and written back with every label update.
 */
#ifndef CLOSELOOP_JIRA_FIELDS_H
#define CLOSELOOP_JIRA_FIELDS_H

#include <json-c/json.h>
#include "connector.h"

/* Which Jira: Cloud speaks REST v3 (ADF, accountId), Data Center / Server
 * REST v2 (wiki markup, user names); the option `flavor`. */
enum jira_flavor {
	JIRA_CLOUD = 0,
	JIRA_DC,
};

#define JIRA_TYPE_LABEL "closeloop-type-"
#define JIRA_TOKEN_LABEL "closeloop-"
#define JIRA_PM_LABEL "postmortem-"

/* Options checks (conn_option.check, conn_type.target_check): NULL when
 * good, else a static phrase saying what is expected. */
const char *jira_check_flavor(const char *v);        /* "cloud" | "datacenter" */
const char *jira_check_project(const char *target);  /* a Jira project key */
const char *jira_check_priorities(const char *v);    /* "P0=Highest,P1=High,..." */

/* Parse a priority mapping "P0=Highest,P1=High,P2=Medium,P3=Low" (each of
 * P0..P3 once, names non-empty, no commas).  Fills names[0..3] (heap).
 * Returns 0 or -EINVAL (names all NULL). */
int jira_priorities_parse(const char *v, char *names[4]) MUST_CHECK;

/* The issue's `fields` object for a create (every field, plus project,
 * issuetype and the token and postmortem labels) or an update (the fields
 * of mask only; labels whenever type is in mask).  priorities[i] names Pi.
 * extra is the stored conn_remote.extra (may be NULL).  fl: Cloud writes
 * the description as ADF and the assignee as {"accountId"}; Data Center
 * (REST v2, "Jira Server platform REST API reference", /rest/api/2/issue:
 * "assignee": {"name": "..."}, "description": a string) as wiki markup and
 * {"name": user name}.  Caller puts. */
struct json_object *jira_fields_json(const char *project, const char *issue_type,
                                     char *const priorities[4],
                                     const struct item_fields *want, unsigned mask,
                                     const struct conn_item_context *ctx,
                                     const char *extra, bool creating, enum jira_flavor fl);

/* An issue (IssueBean) as a conn_remote: remote_id = id, key, url =
 * browse_base + "/browse/" + key, updated_at (RFC 3339 in UTC with Jira's
 * milliseconds, "2014-03-19T18:45:42.967Z": newest_wins compares them),
 * token, extra, canonical fields, and the changelog's change time of each
 * field when the issue was read with expand=changelog.  fl: the
 * description is ADF (Cloud) or a wiki markup string (Data Center), the
 * owner assignee.accountId or assignee.name.  A field absent or JSON null
 * is empty (no title, priority, owner, due date, labels: Jira leaves out
 * or nulls an unset field); a field of another type than the OpenAPI
 * description gives it is refused rather than read as empty, which would
 * clear the item's value: id, key, summary, updated, duedate strings;
 * status, priority, assignee, resolution objects with string key/name/
 * accountId; labels an array of strings; changelog.histories an array of
 * {created: a date string, items: [{field, fieldId strings}]}.  Returns 0,
 * or -EINVAL with *err a static phrase naming what is missing or of
 * another type ("the issue's fields.assignee.accountId is not a string");
 * out is then empty. */
int jira_issue_to_remote(struct json_object *issue, char *const priorities[4],
                         const char *browse_base, struct conn_remote *out,
                         const char **err, enum jira_flavor fl) MUST_CHECK;

/* Canonical state of statusCategory key + resolution name (may be NULL);
 * NULL for an unknown category. */
const char *jira_state_of(const char *category, const char *resolution);
/* Does name (a resolution, a transition or a status; may be NULL) mean
 * "closed without doing it": Jira's default resolutions Won't Do,
 * Duplicate, Cannot Reproduce and common workflow names (Won't Fix,
 * Declined, Rejected, Obsolete, Not a Bug), any case, ’ read as '. */
bool jira_is_wont(const char *name);

/* Request bodies (Jira Cloud REST v3, shapes of the OpenAPI description;
 * tests/sim/test_jira_sim.py checks them against its schemas).  Caller puts.
 *   POST /rest/api/3/search/jql: {"jql", "fields": the mapped fields,
 *     "maxResults": 100, "nextPageToken" when next_token is not NULL};
 *   POST /rest/api/3/issue/{id}/comment: {"body": ADF of Markdown md}. */
struct json_object *jira_search_body(const char *jql, const char *next_token);
/* The same with maxResults = max. */
struct json_object *jira_search_body_n(const char *jql, const char *next_token, int max);
/* POST /rest/api/2/search (Data Center): {"jql", "startAt": 0,
 * "maxResults": max, "fields"} (Atlassian, "Jira Server platform REST API
 * reference, Search, and "How to use the maxResults API parameter for
 * Jira Issue Search REST API", support.atlassian.com: the answer is
 * {startAt, maxResults, total, issues}, 50 issues by default, at most
 * jira.search.views.default.max; a page may be short while more follow,
 * so only startAt + the issues returned >= total ends the results). */
struct json_object *jira_search_body_dc(const char *jql, int max);
/* Is answer, a page of a listing's search holding n issues, its last one?
 *   Cloud (POST /rest/api/3/search/jql, SearchAndReconcileResults
 *   {issues, isLast, nextPageToken}): isLast when the answer has it, else
 *   whether nextPageToken is absent or null (the description: null on the
 *   last page; Jira leaves the member out there, JRACLOUD-92184);
 *   Data Center (POST /rest/api/2/search, SearchResults {startAt,
 *   maxResults, total, issues}): only when startAt (0 when absent) + n
 *   reaches total: the server may answer fewer than maxResults while more
 *   follow ("the maximum allowable value is dictated by the JIRA property
 *   jira.search.views.default.max", Atlassian JRASERVER-23960; "How to use
 *   the maxResults API parameter for Jira Issue Search REST API",
 *   support.atlassian.com, Data Center); an answer without total is last
 *   when it is empty.
 * Returns 0 with *last, or -EINVAL with *err a static phrase naming the
 * member of another type than the OpenAPI description gives it (isLast
 * Boolean, nextPageToken string, startAt and total integers), e.g.
 * "\"isLast\" is not a Boolean": read as something else (json-c reads
 * the string "false" as true), such a member ends a listing early,
 * skipping issues, or pages on to the cap. */
int jira_search_page_last(struct json_object *answer, enum jira_flavor fl, size_t n, bool *last,
                          const char **err) MUST_CHECK;
struct json_object *jira_comment_body(const char *md);
/* POST /rest/api/2/issue/{id}/comment (Data Center): {"body": the wiki
 * markup of Markdown md} (jira_wiki.h; "[~username]" mentions kept). */
struct json_object *jira_comment_body_dc(const char *md);
/* The mention of a Jira Cloud user by accountId in a comment's Markdown:
 * "[~accountid:ID]" (Jira's own mention markup), which jira_comment_body
 * turns into an ADF mention node (conn_type.mention of the registry row).
 * name is not used (Jira shows the user's current name).  Heap string. */
#define JIRA_MENTION_OPEN "[~accountid:"
char *jira_mention(const char *account_id, const char *name);
/* The mention of a Jira Data Center user by user name: "[~username]"
 * (Atlassian, "Text Formatting Notation Help": [~username] creates a link
 * to the user's profile and notifies them).  name is not used.  Heap. */
char *jira_dc_mention(const char *username, const char *name);

/* JQL of an incremental listing: `project = KEY AND updated >= "yyyy/MM/dd
 * HH:mm" ORDER BY updated ASC`, the minute floored (JQL has no seconds, so
 * the window starts early, never late); since_ms 0 = no updated clause.
 * Heap. */
char *jira_jql_changed(const char *project, int64_t since_ms);
/* JQL of the create-token lookup: `project = KEY AND labels = "closeloop-<token>"`. */
char *jira_jql_token(const char *project, const char *token);
/* The issues updated within the minute starting at minute_ms with an id
 * above after_id, by id: `project = KEY AND updated >= "M" AND updated <
 * "M+1" AND id > N ORDER BY id ASC` (a keyset that an edit cannot shift).
 * Heap. */
char *jira_jql_minute(const char *project, int64_t minute_ms, long long after_id);
/* The same window newest first (ORDER BY updated DESC).  Heap. */
char *jira_jql_newest_changed(const char *project, int64_t since_ms);
/* JQL of the project's newest issue: `project = KEY ORDER BY created DESC`. */
char *jira_jql_newest(const char *project);

#endif
