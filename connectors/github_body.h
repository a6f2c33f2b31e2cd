/* github_body.h — the pure (no I/O) half of the GitHub connector: how the
 * canonical fields of daemon/item.h map onto a GitHub issue, and back.
 * Internal to connectors/github.c; exposed for tests/unit/test_github.c.
 *
 * GitHub has no due date, priority or type.  closeloop uses
 *   - labels (managed, matched case-insensitively as GitHub does):
 *       "closeloop"                 on every issue closeloop created
 *       "priority: P0" .. "P3"      priority
 *       "type: prevent" etc.        type
 *       "status: in progress"       state in_progress (the issue is open)
 *   - state: open | closed with state_reason completed (done) or
 *     not_planned (wont_do);
 *   - assignees[]: the first login is the owner, the others are kept;
 *   - a managed block at the end of the body, carrying the create token,
 *     the back-link to the postmortem and the due date:
 *
 *       <description>
 *
 *       <!-- closeloop:begin token=<token> item=<id> -->
 *       ---
 *       **Postmortem:** <ref> — <title> (<url>)
 *       **Due date:** 2026-12-01          ("none" when unset)
 *       _Managed by closeloop: edit the due date here; the rest of this block is rewritten._
 *       <!-- closeloop:end -->
 *
 *     Parsing is tolerant of edits on GitHub: the due date is read from the
 *     first line of the block mentioning "due date" (any case, any Markdown
 *     emphasis): the first number on that line after "due date" must be a
 *     calendar date YYYY-MM-DD (text after it, like "(slipped)", is
 *     ignored); "none" clears it.  No such line, or a number that is not a
 *     calendar date (2027-02-30), says nothing: the due date is unread
 *     (conn_remote.unread_mask), not a change, and the block is rewritten.
 *     Text the user wrote after the block is kept as part of the
 *     description.  The block is closeloop's: a copy of it lower in the
 *     body counts once (the token of the first, the due date of the last
 *     block that says one, the text outside every block as description)
 *     and is rewritten as one; a block whose end marker was deleted stops
 *     after its own lines, so the text after it stays the person's.  A
 *     body whose begin marker was removed has no block: all of it is the
 *     description, the due date is unread, and reconcile restores the
 *     block on a ticket closeloop created.
 *
 * Labels and assignees closeloop does not manage are kept in
 * conn_remote.extra as {"labels":[...],"assignees":[...]} so that an update
 * that rewrites labels or assignees keeps them.
 */
#ifndef CLOSELOOP_GITHUB_BODY_H
#define CLOSELOOP_GITHUB_BODY_H

#include <json-c/json.h>
#include "connector.h"
#include "http.h"

#define GH_BLOCK_BEGIN "<!-- closeloop:begin"
#define GH_BLOCK_END "<!-- closeloop:end -->"

/* Render a full issue body from the description (may be NULL), the due
 * date ("YYYY-MM-DD" or NULL) and the context (token, postmortem link;
 * ctx may be NULL).  token overrides ctx->token when not NULL.  Returns a
 * heap string. */
char *gh_body_render(const char *description, const char *due_date,
                     const struct conn_item_context *ctx, const char *token);

/* What a body says.  All strings are owned, NULL when absent. */
struct gh_body_parsed {
	char *description; /* body without the block, trimmed; NULL if empty */
	char *due_date;    /* "YYYY-MM-DD" or NULL */
	char *token;       /* create token from the begin marker */
	long long item_id; /* item=N of the begin marker, 0 if absent */
	bool has_block;
	bool due_unread;   /* the body says no due date: no block, or none of
	                      its blocks has a readable due-date line ("none"
	                      is readable, "2027-02-30" is not) */
	bool block_repair; /* the block is not as closeloop writes it: copied
	                      (two begin markers), end marker deleted, or its
	                      due date unreadable; a push rewrites one block */
};
void gh_body_parse(const char *body, struct gh_body_parsed *out);
void gh_body_parsed_free(struct gh_body_parsed *p);

/* True for labels closeloop owns (case-insensitive). */
bool gh_label_is_managed(const char *name);
/* The name of an element of an issue's "labels": an object {"name": ...}
 * (GitHub's REST issues and labels answers, "List labels for an issue")
 * or a plain string (the create and update bodies, the extra text); NULL
 * for anything else.  Borrowed from l. */
const char *gh_label_name(struct json_object *l);

/* Canonical state from GitHub's state ("open"/"closed"), state_reason (may
 * be NULL) and whether the "status: in progress" label is set.  Returns a
 * static canonical state name. */
const char *gh_state_from_issue(const char *state, const char *state_reason,
                                bool in_progress_label);

/* JSON arrays for a create or an update: the managed labels for want's
 * priority, type and state, followed by the foreign labels in extra; the
 * assignees: [owner] + foreign assignees in extra, or [] when owner is
 * NULL.  extra may be NULL or invalid (treated as empty).  Caller owns. */
struct json_object *gh_labels_json(const struct item_fields *want, const char *extra);
struct json_object *gh_assignees_json(const char *owner, const char *extra);

/* Map one issue object of GitHub's REST API (GET /repos/{o}/{r}/issues/{n})
 * to out (initialised here).  repo is "owner/name" for the key.  Returns 0,
 * or -EINVAL with *err set to a static sentence naming what was wrong
 * (missing id, number or title, bad updated_at). */
int gh_issue_to_remote(struct json_object *issue, const char *repo,
                       struct conn_remote *out, const char **err) MUST_CHECK;

/* Discovery (connector.h): set out->discover from the rule of repo on c
 * (connector_set_discover; c is a GitHub connector): MATCH when the issue
 * carries the rule's label (compared without regard to case, as GitHub
 * compares label names) or is on the rule's project board as its last
 * pass read it (github_project.c), else NO_MATCH; NONE when repo has no
 * rule, and when the issue is not labelled and the board has not been
 * read yet.  Labels are read from the issue as every REST answer holds
 * them, so the normal listing decides them with no request of its own. */
void gh_discover_mark(const struct connector *c, const char *repo, struct json_object *issue,
                      struct conn_remote *out);

/* True when an element of the issues list is a pull request (it has a
 * "pull_request" key). */
bool gh_issue_is_pull_request(struct json_object *issue);

/* Find the URL of the link with relation rel in an RFC 8288 Link header
 * value such as `<https://…?page=2>; rel="next", <…>; rel="last"`.  A link
 * may carry several space-separated relations (rel="next last"), rel may be
 * unquoted, parameters may come in any order.  Returns a heap copy of the
 * URL exactly as given, or NULL. */
char *gh_link_find(const char *link, const char *rel);

/* GitHub's limits on an issue (REST docs "Create an issue"; the answer
 * past them is 422 "body is too long (maximum is 65536 characters)"):
 * a title of at most 256 characters, a body of at most 65536. */
#define GH_TITLE_MAX 256
#define GH_BODY_MAX 65536
/* NULL when the fields of mask that GitHub stores fit, else a heap
 * sentence saying which value is too long, by how much, and what to do.
 * Never renders a body larger than the limit allows (a 16 MiB
 * description is refused by its length alone). */
char *gh_value_too_long(const struct item_fields *want, unsigned mask,
                        const struct conn_item_context *ctx, const char *token);

/* JSON text for POST /repos/{o}/{r}/issues: title, body, labels,
 * assignees.  Caller frees. */
char *gh_create_json(const struct item_fields *want, const struct conn_item_context *ctx);

/* JSON text for PATCH /repos/{o}/{r}/issues/{n} with only what mask
 * (ITEM_FIELD_BIT bits) needs: title; body (description or due_date);
 * state (+ state_reason completed / not_planned when closing); assignees
 * (owner).  Never labels (a PATCH replaces them all): the managed labels
 * of priority, type and state are added and taken off one by one
 * (github_label.c).  token is the ticket's
 * create token for the re-rendered body (NULL: ctx->token).  Returns NULL
 * when mask asks for nothing GitHub stores.  Caller frees. */
char *gh_update_json(const struct item_fields *want, unsigned mask,
                     const struct conn_item_context *ctx, const char *token,
                     const char *extra);

/* A 422 refusing an assignee (GitHub refuses a whole create or update
 * naming a login it cannot assign: errors [{"resource": "Issue", "field":
 * "assignees", "code": "invalid", "value": LOGIN}], REST docs "Create an
 * issue" / "Update an issue", 422): rewrite *req_body (the request's JSON
 * text) without its assignees and return 0 with *login the refused login
 * (heap, "?" when the answer does not say); -ENOENT when the answer is not
 * such a refusal or the request named no assignee. */
int gh_assignee_refusal(const char *resp_body, char **req_body, char **login);

/* Is this answer a rate limit?  429, or GitHub's 403 with retry-after,
 * with x-ratelimit-remaining: 0, or whose message says "secondary rate
 * limit" (REST docs, "Rate limits for the REST API": a secondary limit
 * may come with no retry-after and remaining above zero).  Never a
 * credentials problem. */
bool gh_is_rate_limited(const struct http_response *resp);
/* How long a rate-limited answer asks us to wait, in ms: retry-after
 * (seconds), else, when x-ratelimit-remaining is 0, x-ratelimit-reset
 * (epoch seconds) - now_ms (never negative); -1 when the answer says
 * neither (a secondary limit: wait at least a minute, pace.h). */
int64_t gh_rate_limit_wait_ms(const struct http_response *resp, int64_t now_ms);
/* Keep the primary budget an answer reports (x-ratelimit-limit,
 * -remaining, -reset) in c->rate_*, or in c->graphql_* for an answer of
 * GraphQL's own budget (x-ratelimit-resource: graphql); answers without
 * them, and those of the search budget, change nothing. */
void gh_note_budget(struct connector *c, const struct http_response *resp);
/* GitHub's error body {"message": ..., "errors": [...]} as one bounded
 * phrase, e.g. "Validation Failed (Issue.title: missing_field)".  Caller
 * frees. */
char *gh_error_detail(const char *body);

/* "acme/k8s#12" -> 12.  Returns 0 or -EINVAL. */
int gh_key_number(const char *key, long *out) MUST_CHECK;
/* "owner/name" with GitHub's allowed characters [A-Za-z0-9._-]. */
bool gh_repo_valid(const char *repo);

/* A description as it comes back from GitHub after a round trip (the
 * registry's normaliser for the lossy description): CRLF as LF (the web
 * editor sends CRLF), surrounding white space trimmed (gh_body_render and
 * gh_body_parse trim), empty as NULL.  Heap string or NULL. */
char *gh_description_normalise(const char *v);

/* The registry's target check: NULL for a repository "owner/name" (owner
 * [A-Za-z0-9-], name [A-Za-z0-9._-]), else what is expected. */
const char *gh_target_check(const char *target);

#endif
