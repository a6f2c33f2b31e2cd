/* connector.h — the connector contract: one interface for every tracker
 * (GitHub now; Jira, ServiceNow later).
 *
 * A connector maps between the canonical fields of daemon/core/item.h and
 * one tracker's REST API.  It knows nothing of PostgreSQL: reconcile hands
 * it canonical values and gets canonical values back.  All operations are
 * asynchronous on the daemon's libuv loop through daemon/net/http.h.
 *
 * The whole contract, each part stated where it is declared below:
 *   - Registry (struct conn_type): one row per tracker type — name,
 *     constructor, its own option group (parsed by config.c with the
 *     generic rules, values checked by the connector), target check,
 *     the person column holding a person's identity in it, and the field
 *     capabilities.  A tracker is its own files + one row; reconcile,
 *     config.c and the SQL read every tracker fact from the row.
 *   - Capabilities (conn_type.caps, .normalise): per canonical field,
 *     native / writable / lossy and how a lossy value comes back; a value
 *     changed only by the round trip is not a change (daemon/reconcile/
 *     plan.h).
 *   - Operations (struct conn_ops): list_changed (a listing that cannot
 *     skip), create, update, fetch; optional find_by_token (recovery of a
 *     lost create), comment and find_comment (escalation), label (the
 *     closeloop:* flag labels of daemon/watch/), board_version and
 *     board_set (the copy of a discovery rule's board that reconcile
 *     keeps in the ledger).
 *   - Partial writes (conn_result.refused_mask): an update reports field by
 *     field what the tracker did not apply, with its reason; a write that
 *     takes several requests (Jira: edit, then a transition) is still one
 *     operation with one callback.
 *   - Errors and retries: below.
 *
 * Contract for every operation (libuv habit):
 *   - returns 0 when the operation started; its callback is then called
 *     exactly once, later, from the loop (never from inside the call);
 *   - returns a negative errno-style code when it could not start; the
 *     callback is then never called.
 *
 * Retries: a connector retries rate-limit answers (429, GitHub's 403 with
 * retry-after / x-ratelimit-remaining: 0) and 5xx/transport errors on
 * idempotent requests (GET, PATCH) itself, with backoff, up to the
 * configured attempts, honouring Retry-After / x-ratelimit-reset.  A
 * create (POST) is retried only when the tracker said it did not act
 * (429/403 rate limit); after a 5xx or a time-out on a create the
 * outcome is unknown, the callback reports CONN_UNKNOWN, and reconcile
 * finds the ticket by its create token (conn_remote.token) later, so no
 * duplicate is ever created.
 */
#ifndef CLOSELOOP_CONNECTOR_H
#define CLOSELOOP_CONNECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "item.h"

struct http_client;
struct connector;

enum conn_status {
	CONN_OK = 0,
	CONN_NOT_MODIFIED,   /* conditional request answered 304 */
	CONN_GONE,           /* 404 / 410: the ticket no longer exists */
	CONN_MOVED,          /* 301: transferred (GitHub) / moved; an item
	                        callback may then get the ticket at its new
	                        place (key, remote_id, url) as remote; a
	                        create answered so made its ticket there (a
	                        307 on a renamed repository, re-sent to the
	                        new name: GitHub did not act on the first) */
	CONN_RATE_LIMITED,   /* still limited after the allowed retries */
	CONN_INVALID,        /* 400 / 422: the tracker refused our values */
	CONN_BAD_RESPONSE,   /* 2xx but the body is not what the API documents */
	CONN_UNKNOWN,        /* create outcome unknown (5xx/time-out on POST) */
	CONN_AUTH,           /* 401 / 403 without rate limit: credentials */
	CONN_ERROR,          /* transport error or 5xx after the retries */
};

const char *conn_status_name(enum conn_status s);

/* Outcome of one operation.  error is a human sentence naming the request
 * ("GET /repos/acme/k8s/issues: HTTP 502 after 4 attempts"), or NULL. */
struct conn_result {
	enum conn_status status;
	long http_status;        /* last HTTP status, 0 for transport errors */
	const char *error;       /* valid during the callback only */
	int64_t retry_after_ms;  /* for CONN_RATE_LIMITED: when to come back */
	/* update only (partial writes): the fields of the mask the tracker did
	 * NOT apply although the answer is CONN_OK, each with the tracker's
	 * reason (refused_reason[f], valid during the callback).  The other
	 * fields of the mask were applied; remote shows the ticket after. */
	unsigned refused_mask;
	const char *refused_reason[ITEM_F__COUNT];
	/* listing only: the target answered from another name (a GitHub
	 * repository renamed: the old name redirects, the listing followed it
	 * and its items are keyed under this "owner/name"), or NULL */
	const char *moved_to;
	/* With a failure: the tracker cannot have acted on the operation's
	 * requests -- none left closeloop (the connector's budget, pacing or
	 * stop handed it back, a cancel took it from the write queue, the
	 * connection was refused or the name did not resolve) or every one
	 * sent was answered with the tracker's rate limit (one cancelled in
	 * flight may have acted), which the trackers
	 * document as not processed (GitHub "Rate limits for the REST API",
	 * Jira and ServiceNow 429).  Not set for a request the connector
	 * would not send as the values stand (it would fail again: GitHub's
	 * CONN_INVALID "not sent: ... too long", ServiceNow's problem_task
	 * whose postmortem names no problem).  Reconcile gives a create answered so its
	 * intent back (the item waits for a new one; no recovery needed). */
	bool unsent;
};

/* Whether a ticket matches the discovery rule of its target. */
enum conn_discover_match {
	CONN_DISCOVER_NONE = 0,  /* the target has no rule (or not evaluated) */
	CONN_DISCOVER_MATCH,     /* an action item born in the tracker */
	CONN_DISCOVER_NO_MATCH,  /* the rule does not take it (any more) */
};

/* One remote ticket as a connector sees it. */
struct conn_remote {
	char *remote_id;   /* stable id: GitHub numeric issue id, Jira numeric
	                      id, ServiceNow sys_id */
	char *key;         /* human key: "acme/k8s#12", "OPS-12", "PRB0040012" */
	char *url;         /* browser URL */
	char *updated_at;  /* RFC 3339 UTC, as ts_format() writes it */
	char *etag;        /* of this ticket's own GET, if the tracker gave one */
	char *token;       /* closeloop create token found in the ticket, or NULL */
	char *extra;       /* connector-private JSON text that reconcile stores
	                      (external_link.remote_extra) and hands back on
	                      update, e.g. GitHub labels/assignees closeloop does
	                      not manage, so an update keeps them; may be NULL */
	struct item_fields fields; /* canonical values; OWNER = tracker identity */
	unsigned unread_mask;      /* ITEM_FIELD_BIT of fields the ticket does not
	                              say (GitHub: no body block, or a due date
	                              that is not a date): not a remote change */
	/* When each field got its value on the ticket, from the tracker's
	 * own field history (ms since the epoch, UTC; 0 = not known: the
	 * ticket's updated_at stands for it).  Only fetch_times fills it
	 * (Jira: the changelog); every other operation leaves it 0. */
	int64_t field_ms[ITEM_F__COUNT];
	/* ITEM_FIELD_BIT of fields the ticket's own record says its creator
	 * set after the create (GitHub: an open issue whose state_reason is
	 * "reopened" was closed since, by anyone; Jira: a changelog entry of
	 * the field by the account in fields.creator, or by no named
	 * account, read by fetch_times only).  For a ticket found by its
	 * create token (the create's answer lost), whose creator is
	 * closeloop, such a field got the create's follow-up (Jira's
	 * transition): a ticket holding the create request's first value
	 * there again was put back by a person, not left as made; a person's
	 * change alone says nothing of the follow-up (reconcile's
	 * adopt_base). */
	unsigned changed_mask;
	unsigned repair_mask;      /* fields whose representation on the ticket
	                              must be rewritten even though the value is
	                              unchanged (a copied or broken body block) */
	/* Discovery (docs/architecture.md "Discovery"): does the ticket match
	 * its target's discovery rule (connector_set_discover)?  Set by every
	 * operation that reads a ticket (listing, fetch, update, ...) in a
	 * target that has a rule; CONN_DISCOVER_NONE when it has none. */
	enum conn_discover_match discover;
	/* Text the ticket holds, beyond its title and description, that may
	 * name the postmortem it belongs to: one reference a line (Jira: the
	 * keys of linked issues; ServiceNow: first_reported_by_task's number,
	 * the parent problem).  Reconcile looks each word of it, of the title
	 * and of the description up as a postmortem reference (PM-...), a
	 * document URL or a problem_ref.  May be NULL. */
	char *refs;
};

void conn_remote_init(struct conn_remote *r);
void conn_remote_free(struct conn_remote *r);

/* Context for rendering a ticket: things that are shown but not synced. */
struct conn_item_context {
	long long item_id;
	const char *token;            /* create token, put into the ticket */
	const char *postmortem_ref;   /* e.g. "PM2021-004" */
	const char *postmortem_title;
	const char *postmortem_url;   /* may be NULL */
	/* the postmortem's problem record in the tracker, from
	 * postmortem.problem_ref (sql/028): a ServiceNow problem number
	 * ("PRB0040001") or sys_id; NULL when the postmortem names none */
	const char *postmortem_problem;
};

/* The board of a discovery rule whose tickets are the items of a board
 * (a list kept apart from the tickets, which no ticket listing shows:
 * GitHub Projects v2), as one listing read it or as the ledger keeps it
 * (sql/044_discover_board.sql; docs/architecture.md "Discovery").  The
 * connector probes the board each listing and pages it only when the
 * probe differs from the copy it holds (conn_ops.board_version,
 * board_set); reconcile keeps that copy in the ledger, so a restart does
 * not page the board again and a ticket taken off it while no daemon ran
 * is seen on the first cycle. */
struct conn_board_member {
	const char *remote_id;   /* the ticket's stable id (conn_remote.remote_id) */
	const char *node_id;     /* the id the board's API reads it by (GitHub:
	                            the GraphQL node id), or NULL */
};

struct conn_board {
	const char *rule;        /* the rule it was read for, in the connector's
	                            own text (a copy for another rule is not
	                            compared with the board: read it all again) */
	int64_t updated_ms;      /* the board's own update time from the probe
	                            (ms since the epoch, UTC) */
	int64_t item_count;      /* and its items then, of every kind */
	int64_t read_ms;         /* when it was last read in full (ms, UTC) */
	int64_t version;         /* the ledger's version of this copy (> 0); 0 for
	                            one a listing read, not stored yet */
	const struct conn_board_member *members; /* the tickets the rule takes */
	size_t n_members;
};

/* Page of a change listing.  items[0..n) are valid during the callback only
 * (the connector frees them after it returns).  next_started tells whether
 * the connector goes on with another page (the callback will be called
 * again) or this was the last call. */
struct conn_page {
	struct conn_remote *items;
	size_t n;
	size_t skipped;       /* e.g. pull requests in GitHub's issue list */
	bool last;            /* true on the final call for this listing */
	const char *etag;     /* validator for the next listing's etag argument
	                         (valid during the callback); reconcile keeps
	                         the last page's (GitHub and Jira give the same
	                         on every page; ServiceNow knows the window's
	                         newest record only at the last) */
	/* On the last call of a listing that went through (CONN_OK or
	 * CONN_NOT_MODIFIED) and read its target's board in full (its probe
	 * differed from the copy, or the copy was older than the rule's
	 * rescan): the board as read, version 0, valid during the callback.
	 * Every ticket that joined or left it was delivered by this listing.
	 * NULL otherwise (no board rule, the probe matched the copy, or the
	 * board could not be read this time). */
	const struct conn_board *board;
};

typedef void (*conn_list_cb)(struct connector *c, const struct conn_result *res,
                             const struct conn_page *page, void *arg);
/* remote is NULL unless res->status == CONN_OK. */
typedef void (*conn_item_cb)(struct connector *c, const struct conn_result *res,
                             const struct conn_remote *remote, void *arg);

/* One comment on a ticket, valid during the callback only. */
struct conn_comment {
	const char *id;    /* the tracker's comment id (GitHub: numeric, as text) */
	const char *url;   /* browser URL of the comment */
};

/* comment is NULL unless res->status == CONN_OK; for find_comment, CONN_OK
 * with comment NULL means "no comment holds the marker". */
typedef void (*conn_comment_cb)(struct connector *c, const struct conn_result *res,
                                const struct conn_comment *comment, void *arg);

/* One webhook delivery as the listener received it (daemon/net/
 * listener.h): header names in lower case, values as sent; the raw body
 * (what a signature covers), not NUL-terminated. */
struct conn_hook_request {
	const char *const *header_names;
	const char *const *header_values;
	size_t n_headers;
	const char *body;
	size_t body_len;
};

/* What a verified delivery asks of the engine.  The delivery is never
 * trusted as the ticket's state (it may be stale or out of order): it only
 * says which ticket or target to look at now. */
enum conn_hook_kind {
	CONN_HOOK_IGNORED = 0,  /* verified, but about nothing closeloop syncs */
	CONN_HOOK_PING,         /* the tracker testing the endpoint */
	CONN_HOOK_CHANGED,      /* a ticket changed: pull target */
	CONN_HOOK_TRANSFERRED,  /* the ticket moved: new_* say where */
	CONN_HOOK_DELETED,      /* the ticket was deleted */
};

struct conn_hook_event {
	enum conn_hook_kind kind;
	char delivery_id[80];   /* the tracker's delivery id, else a digest of
	                           the body: the same delivery twice is one */
	char event[64];         /* "issues.edited", for logs and the ledger */
	char target[256];       /* target the ticket is in ("" = unknown) */
	char remote_id[64];     /* the ticket's stable id ("" = unknown) */
	char key[300];          /* its human key */
	char new_target[256];   /* TRANSFERRED: where it went */
	char new_remote_id[64];
	char new_key[300];
};

struct conn_ops {
	const char *type; /* "github" */

	/* List tickets in target updated at or after since_ms (ms since the
	 * epoch, UTC; 0 = everything), oldest first, page by page.  etag (may
	 * be NULL) is the page.etag an earlier listing returned: the connector
	 * may answer CONN_NOT_MODIFIED (last = true, n = 0) only when nothing
	 * in the window changed since that listing — a conditional request on
	 * the first page of an oldest-first listing does NOT prove that, since
	 * an edited ticket moves to the last page (github.c probes the window
	 * newest first instead).
	 *
	 * A listing must not skip: every ticket updated at or after since_ms
	 * before the last page is delivered comes at least once, even when
	 * tickets are edited while the listing is between pages (a ticket may
	 * come twice; reconcile takes the later copy).  Paging by page number
	 * over an update-sorted list does not give that (an edit shifts every
	 * later ticket back by one): page by the last update time seen, or by
	 * a cursor the tracker guarantees (github.c: since= keyset paging).
	 * Reconcile then moves its cursor to the newest update time delivered
	 * and starts the next window list_settle_ms before it, or
	 * max(overlap, list_settle_ms) unless list_consistent. */
	int (*list_changed)(struct connector *c, const char *target,
	                    int64_t since_ms, const char *etag,
	                    conn_list_cb cb, void *arg);

	/* Create a ticket in target with the values in want (owner = tracker
	 * identity or NULL) and ctx->token embedded. */
	int (*create)(struct connector *c, const char *target,
	              const struct item_fields *want,
	              const struct conn_item_context *ctx,
	              conn_item_cb cb, void *arg);

	/* Change the fields in mask (ITEM_FIELD_BIT bits) of the ticket
	 * remote_key in target to the values in want.  want carries every
	 * field (trackers that store several fields in one place, like
	 * GitHub's body, need the others to re-render it).  extra is the
	 * conn_remote.extra stored for this ticket (may be NULL). */
	int (*update)(struct connector *c, const char *target,
	              const struct conn_remote *ref, /* remote_id, key, extra */
	              const struct item_fields *want, unsigned mask,
	              const struct conn_item_context *ctx,
	              conn_item_cb cb, void *arg);

	/* Fetch one ticket (conditional on ref->etag when set). */
	int (*fetch)(struct connector *c, const char *target,
	             const struct conn_remote *ref,
	             conn_item_cb cb, void *arg);

	/* Optional (NULL: the tracker publishes no field history, or it is
	 * not read).  fetch, plus remote->field_ms: when each field got its
	 * current value, from the tracker's own history of the ticket.  Costs
	 * a read with the history, so reconcile calls it only when a
	 * newest_wins conflict is to be decided on this ticket (never on a
	 * quiet cycle).  Never conditional (ref->etag is ignored).
	 * Jira: GET issue/{id}?expand=changelog ("changelog: a list of recent
	 * updates to an issue, sorted by date, starting from the most
	 * recent", REST API v3 "Get issue"; DC: REST API v2, the same). */
	int (*fetch_times)(struct connector *c, const char *target,
	                   const struct conn_remote *ref,
	                   conn_item_cb cb, void *arg);

	/* Add a comment to the ticket ref->key in target; body is Markdown
	 * (mentions in the tracker's own syntax, e.g. GitHub "@login").  Like
	 * create, a comment is not idempotent: it is retried only when the
	 * tracker said it did not act (rate limit, connection never made);
	 * after a 5xx or a time-out the callback reports CONN_UNKNOWN and the
	 * caller looks for its marker with find_comment before sending again.
	 * GitHub: POST /repos/{o}/{r}/issues/{n}/comments {"body": ...}. */
	int (*comment)(struct connector *c, const char *target,
	               const struct conn_remote *ref, const char *body,
	               conn_comment_cb cb, void *arg);

	/* Find the first comment on ref->key whose body contains marker (a
	 * token the caller wrote into the comment), reading every page.
	 * GitHub: GET /repos/{o}/{r}/issues/{n}/comments?per_page=100. */
	int (*find_comment)(struct connector *c, const char *target,
	                    const struct conn_remote *ref, const char *marker,
	                    conn_comment_cb cb, void *arg);

	/* Optional (NULL: the tracker has no labels).  Put label on the
	 * ticket ref->key (on = true) or take it off (on = false); one label,
	 * nothing else of the ticket changes (other labels, human or not,
	 * stay).  Idempotent by contract: putting a label the ticket has, or
	 * taking off one it lacks, is CONN_OK, so the caller may repeat an
	 * operation whose answer it lost (restart, time-out) without harm;
	 * the connector retries 5xx and transport errors itself.  A write,
	 * paced through the connector's write queue (not content-creating).
	 * On CONN_OK remote carries key and extra: the connector-private
	 * extra of ref->extra as it is after the change (labels it does not
	 * manage now with or without label), for the caller to store in
	 * external_link.remote_extra so that a later update that rewrites the
	 * labels keeps it; remote->extra may be NULL when unchanged.
	 * GitHub: POST /repos/{o}/{r}/issues/{n}/labels {"labels": [label]}
	 * and DELETE /repos/{o}/{r}/issues/{n}/labels/{label} (404 "Label
	 * does not exist" = already off).  Jira: PUT /rest/api/{3|2}/issue/{id}
	 * {"update": {"labels": [{"add"|"remove": label}]}} (jira_label.c). */
	int (*label)(struct connector *c, const char *target,
	             const struct conn_remote *ref, const char *label, bool on,
	             conn_item_cb cb, void *arg);

	/* Optional (NULL: the tracker cannot).  Find the ticket in target that
	 * carries create token token, directly (GitHub: the issue search;
	 * ServiceNow: correlation_id; Jira: a label or entity property), for
	 * recovery when the listing may not show a ticket created moments ago.
	 * CONN_OK with the ticket, or CONN_GONE when no ticket carries it. */
	int (*find_by_token)(struct connector *c, const char *target, const char *token,
	                     conn_item_cb cb, void *arg);

	/* Optional (NULL: the request that makes a ticket sets every field as
	 * sent, with no follow-up step).  What a ticket holds right after the
	 * request that made it, before any follow-up step of the create
	 * (Jira's transition, GitHub's closing PATCH, a ServiceNow task's
	 * walk): f holds the canonical values the create sent and is
	 * rewritten in place.  Returns the mask (ITEM_FIELD_BIT) of fields the
	 * tracker fills in itself when the create leaves them out (Jira: the
	 * project's default priority), whose value only the ticket says.
	 * Reconcile takes the result as the base of a ticket it adopts by its
	 * create token after the create's answer was lost, so what the lost
	 * answer's follow-ups would have written is pushed, not undone
	 * (docs/reconcile.md "Identity and no duplicates").  Pure: no I/O. */
	unsigned (*created_as)(const struct connector *c, struct item_fields *f);

	/* Optional (NULL: no webhooks for this tracker).  Verify one delivery
	 * against secret (the connector's webhook_secret) and say what it is
	 * about, synchronously, without I/O.  Returns 0 (ev filled), -EACCES
	 * when the signature is missing or wrong (the caller answers 401 and
	 * changes nothing), or -EINVAL for a verified delivery that is not
	 * what the tracker documents, with err saying what.  Compares
	 * signatures in constant time and never copies the secret out.
	 * GitHub: X-Hub-Signature-256 (HMAC-SHA256 of the raw body),
	 * X-GitHub-Event, X-GitHub-Delivery (docs.github.com, "Validating
	 * webhook deliveries", "Webhook events and payloads"). */
	int (*webhook)(struct connector *c, const struct conn_hook_request *req,
	               const char *secret, struct conn_hook_event *ev,
	               char *err, size_t errlen);

	/* Optional (NULL: no rule of this type reads a board).  The ledger
	 * version of the copy of target's board the connector holds (the
	 * version board_set gave it); 0 when it holds none so given: none
	 * yet, or one a listing read since, which the ledger does not hold
	 * yet; -1 when target's rule reads no board.  Reconcile compares it
	 * with the ledger's discover_board.version before each listing and
	 * calls board_set when they differ.  No I/O. */
	int64_t (*board_version)(struct connector *c, const char *target);

	/* Optional, with board_version.  The connector's copy of target's
	 * board becomes b (deep-copied; b->version > 0: what the ledger holds,
	 * read from it or just stored there), or none for a NULL b (the next
	 * listing then reads the whole board and delivers every ticket on it
	 * again: adopted once, reconcile knows the linked ones).  The next
	 * listing compares the probe with it and delivers the tickets that
	 * joined or left since.  No I/O. */
	void (*board_set)(struct connector *c, const char *target, const struct conn_board *b);

	/* Stop all in-flight work: every pending callback is called with
	 * CONN_ERROR "cancelled" before this returns or soon after, and no
	 * new timers fire.  Then destroy frees the connector. */
	void (*cancel)(struct connector *c);
	void (*destroy)(struct connector *c);
};

struct conn_type;

/* Options every connector gets (from struct cfg_connector). */
struct conn_options {
	const char *name;          /* configured name, e.g. "github-main" */
	const char *base_url;      /* "https://api.github.com" or simulator */
	const char *token;         /* secret; never logged */
	/* the type's own options (conn_type.options), values as text in the
	 * order of that table, NULL = not set; read them with conn_opt() */
	char *const *type_opts;
	int max_attempts;          /* per request, >= 1 */
	int64_t backoff_base_ms;   /* first retry delay; doubles, jittered */
	int64_t backoff_max_ms;
	int64_t request_timeout_ms;
	int max_inflight;          /* concurrent requests this connector makes */
	const char *ca_file;       /* PEM CA bundle (private CA), NULL = system's */
};

#define CONN_SEARCHES_PER_MINUTE 30

struct connector {
	const struct conn_ops *ops;
	const struct conn_type *type;  /* its registry row (connector_new sets it) */
	char *name;
	uv_loop_t *loop;
	struct http_client *http;
	/* Settle margin in ms, set by the constructor: how long the tracker's
	 * listing may take to show a change (Jira Cloud's search is eventually
	 * consistent and JQL `updated` has minute precision).  Reconcile
	 * overlaps each window by at least this much, whatever `overlap` says.
	 * GitHub: 5 s (see list_consistent). */
	int64_t list_settle_ms;
	/* Set by the constructor when the tracker's listing is documented to
	 * show every change committed before the request, stamped by the
	 * tracker's own clock (GitHub's issue list: no index in between, and
	 * `since` compares the tracker's updated_at).  Reconcile then overlaps
	 * each window by list_settle_ms only, so the first edit after a bulk
	 * sync lists the edit, not every ticket the sync touched in the last
	 * `overlap` seconds.  false (the default) = the listing may lag or its
	 * order is not documented: the configured `overlap` applies too. */
	bool list_consistent;
	/* How long after a write request was sent the tracker may still apply
	 * it (its documented processing limit), in ms; 0 = not documented.
	 * With list_consistent, reconcile uses it to prove that a create left
	 * 'creating' never reached the tracker (docs/reconcile.md "No
	 * duplicates"), so it goes out without waiting create_min_age.
	 * GitHub: 10 s ("If GitHub takes more than 10 seconds to process an
	 * API request, GitHub will terminate the request", REST API docs,
	 * "Troubleshooting": timeouts). */
	int64_t write_land_ms;
	/* Token searches (find_by_token) a minute that reconcile may send for
	 * recovery; 0 = unset: connector_new sets CONN_SEARCHES_PER_MINUTE.
	 * GitHub's search API allows 30 requests a minute to an authenticated
	 * user ("Rate limits for the REST API", search: its own budget, answered
	 * with 403/429 and x-ratelimit-resource: search); a constructor whose
	 * tracker allows fewer sets its own value. */
	int searches_per_minute;
	/* request counters by kind, for the metrics and the benchmark */
	uint64_t n_list, n_get, n_create, n_update, n_not_modified, n_retries;
	uint64_t n_comment, n_search;
	uint64_t n_graphql;        /* GraphQL queries (GitHub's project pass;
	                              counted in n_list too) */
	/* ... by document (the probe of a board, a page of its items, the
	 * issues that left it by node id); their sum is n_graphql */
	uint64_t n_graphql_probe, n_graphql_items, n_graphql_nodes;
	/* GraphQL's own points budget as its last answer reported it (GitHub:
	 * x-ratelimit-limit / -remaining / -reset of an answer whose
	 * x-ratelimit-resource is graphql, 5,000 points an hour for a user,
	 * "Rate limits and node limits for the GraphQL API"); -1 / 0 unknown
	 * (connector_new sets -1).  graphql_reset_at is ms since the epoch, UTC. */
	int64_t graphql_limit, graphql_remaining, graphql_reset_at;
	uint64_t n_rate_limited;   /* answers that were rate limits */
	/* Creates the last full reconcile cycle left for a later one because
	 * the creation budget had no room within a minute (reconcile sets it;
	 * /metrics shows it and the time the backlog will take). */
	uint64_t creates_waiting;
	/* The discovery rules of its targets (connector_set_discover), owned
	 * by the connector; read them with conn_discover_rule(). */
	struct conn_discover *discover;
	size_t n_discover;
	/* The tracker's primary budget as its last answer reported it
	 * (GitHub: x-ratelimit-limit / -remaining / -reset); -1 / 0 unknown.
	 * rate_reset_at is ms since the epoch, UTC. */
	int64_t rate_limit, rate_remaining, rate_reset_at;
	/* The connector's paced write queue (connectors/pace.h: queued writes,
	 * when it drains, the connector-wide stop), or NULL. */
	const struct pace *pace;
	/* Set by the constructor of a type whose tickets named in a postmortem
	 * name none of its targets (ServiceNow: a number or record URL names
	 * a table, not an assignment group; docs/import.md): the reference
	 * target such references carry (the connector's table) and the
	 * instance as "host[:port]" in lower case, which a reference's URL
	 * must name (sql/040_servicenow_refs.sql).  NULL for the others. */
	char *ref_table, *ref_host;
};

/* ---- discovery: action items born in the tracker ----
 *
 * A rule (config connectors.[].discover, one per target at most) says
 * which tickets of a target are action items even though closeloop never
 * created them (GitHub: an issue carrying a label).  The connector
 * evaluates it on every ticket it reads in that target, inside its normal
 * incremental listing (no extra scan on a quiet cycle), and says so in
 * conn_remote.discover; reconcile adopts a matching ticket that no link
 * knows as a new action item linked to it (never a create), and flags a
 * discovered item whose ticket no longer matches (docs/architecture.md
 * "Discovery"). */
struct conn_discover {
	char *target;    /* one of the connector's targets */
	char **values;   /* the type's discover_options as text, in its order;
	                    NULL = not set */
};

/* Replace c's rules by a deep copy of rules[0..n) (n may be 0: none).
 * Reconcile calls it at each cycle from the running configuration, so a
 * reload applies from the next listing; a listing in flight reads the
 * rule again for every page. */
void connector_set_discover(struct connector *c, const struct conn_discover *rules, size_t n);
/* The rule of target (compared without regard to ASCII case), or NULL. */
const struct conn_discover *conn_discover_rule(const struct connector *c, const char *target);
/* Value of discover option name in rule (as configured, else its
 * literal default, else NULL); NULL for a NULL rule. */
const char *conn_discover_opt(const struct connector *c, const struct conn_discover *rule,
                              const char *name);

/* ---- the registry: one row per tracker type ----
 *
 * Adding a tracker is its own files (connectors/<type>*.c), one row in
 * connector.c's registry, a simulator and tests: reconcile, config.c and the
 * SQL read everything tracker-specific from the row.  Tests may register a
 * type of their own with connector_register(). */

/* One option of a type's own option group.  The options sit in the
 * connector's group of the configuration next to the generic ones
 * (name, type, base_url, token_file/token_env, targets, poll_interval,
 * max_attempts, request_timeout, max_inflight); config.c parses them with
 * the same walk, types, ranges and "FILE:LINE: ..." errors as its own
 * table, and documents them as `connectors.[<type>].<name>` rows of
 * docs/configuration.md (a unit test checks that). */
struct conn_option {
	const char *name;      /* leaf, e.g. "api_version" */
	const char *type;      /* "string" | "int" | "bool" */
	const char *def;       /* literal default; "(...)" = described; NULL = required */
	bool reloadable;       /* may change on SIGHUP */
	long long min, max;    /* "int" only: the accepted range */
	const char *unit;      /* "int" only: "seconds", ... */
	/* The connector's own check of a value (may be NULL): NULL when the
	 * value is good, else a static phrase saying what was expected. */
	const char *(*check)(const char *value);
};

/* Capabilities of one canonical field (flags). */
enum conn_cap {
	CONN_CAP_NATIVE = 1u << 0,   /* the tracker stores the field */
	CONN_CAP_WRITABLE = 1u << 1, /* closeloop may write it there */
	CONN_CAP_LOSSY = 1u << 2,    /* a round trip may change its text (the
	                                type's normalise says how) */
};

struct conn_type {
	const char *name;        /* configuration value of type, e.g. "github" */
	int (*create)(struct connector **out, uv_loop_t *loop, struct http_client *http,
	              const struct conn_options *opt);
	const struct conn_option *options;
	size_t n_options;
	/* Is target one this tracker can serve?  NULL when good, else a static
	 * phrase of what is expected ("a repository \"owner/name\""). */
	const char *(*target_check)(const char *target);
	/* Is the secret (token_file / token_env) in the form this tracker
	 * takes, given the type's options in opt->type_opts (opt->token is not
	 * set)?  NULL when good, else a static phrase of what is expected
	 * (Jira Cloud: "email:api_token").  May be NULL: any bare token. */
	const char *(*token_check)(const char *token, const struct conn_options *opt);
	/* Column of the ledger's person table that holds a person's identity
	 * in this tracker ("github_login"); reconcile maps owners through it. */
	const char *person_ident;
	unsigned caps[ITEM_F__COUNT];   /* enum conn_cap bits per field */
	/* For fields with CONN_CAP_LOSSY: the value as it comes back after a
	 * round trip through the tracker (heap string or NULL).  Reconcile
	 * compares normalised values, so a value changed only by the round
	 * trip is not a change.  May be NULL when no field is lossy. */
	char *(*normalise)(enum item_field f, const char *value);
	/* A mention of the person whose identity (person_ident column) is
	 * ident, in the tracker's own syntax, for escalation comments; name is
	 * their display name or handle (may be NULL).  Heap string.  NULL
	 * here: "@ident" (GitHub's syntax).  Jira: "[~accountid:ID]", which
	 * its comment operation turns into an ADF mention node. */
	char *(*mention)(const char *ident, const char *name);
	/* What its comment operation writes, for people reading a dry run:
	 * "issue comment" (GitHub), "comment" (Jira), "work note"
	 * (ServiceNow).  NULL: "comment". */
	const char *comment_noun;
	/* Discovery (docs/architecture.md "Discovery"): the members of one
	 * rule of connectors.[].discover that this type reads, beside the
	 * generic target and team (GitHub: label; Jira: jql; ServiceNow:
	 * reported_by_incident, category).  Parsed by config.c with the rules
	 * of options (types, ranges, check, "FILE:LINE: ..."), documented as
	 * `connectors.[<type>].discover.[].<name>` rows.  NULL: the type
	 * cannot discover, and a discover list is refused for it. */
	const struct conn_option *discover_options;
	size_t n_discover_options;
	/* Check a whole rule (values as text in the order of
	 * discover_options, NULL = not set): NULL when good, else a static
	 * phrase of what is expected ("label or project").  May be NULL. */
	const char *(*discover_check)(char *const *values);
	/* The operations its connectors have (the same table create() puts in
	 * each connector): what the type can do is read from it, not restated
	 * (conn_type_labels, conn_type_webhooks). */
	const struct conn_ops *ops;
	/* The type a connector of these options is (its base.type, which
	 * conn_type_of answers) when that differs from the registry row: Jira
	 * with flavor = "datacenter" has its own person_ident, mention and
	 * normaliser.  NULL: always this row.  For code that has only the
	 * configuration (a dry run's mention). */
	const struct conn_type *(*variant)(const struct conn_options *opt);
};

/* Its connectors have the label operation (conn_ops.label), so the
 * closeloop:* flag labels can be planned without one (the dry run). */
static inline bool conn_type_labels(const struct conn_type *t)
{
	return t->ops && t->ops->label;
}

/* The type verifies webhook deliveries (conn_ops.webhook is set), so a
 * connector of it may have a webhook_secret. */
static inline bool conn_type_webhooks(const struct conn_type *t)
{
	return t->ops && t->ops->webhook;
}

/* ---- helpers for conn_ops.webhook ---- */

/* The value of header name (lower case) of a delivery, or NULL. */
const char *conn_hook_header(const struct conn_hook_request *req, const char *name);
/* true when sig is prefix followed by the lower-case hex HMAC-SHA256 of
 * body keyed with secret (RFC 2104; the form GitHub's X-Hub-Signature-256
 * and Jira's X-Hub-Signature, WebSub's "method=signature", use), compared
 * in constant time.  false for a NULL or empty sig or secret. */
bool conn_hook_hmac_ok(const char *sig, const char *prefix, const char *secret,
                       const char *body, size_t len);
/* A delivery's JSON is walked with conn_json.h's getters. */
/* A delivery id for trackers that send none: "sha256:" and the first 32
 * hex digits of the body's SHA-256, into out (>= 40 bytes). */
void conn_hook_body_id(const struct conn_hook_request *req, char *out, size_t n);

/* The registered type called name, or NULL. */
const struct conn_type *conn_type_find(const char *name);
/* The registered types, for messages and the documentation check:
 * conn_type_at(i) for i < conn_type_count(). */
size_t conn_type_count(void);
const struct conn_type *conn_type_at(size_t i);
/* "github, jira" — every registered type name, for messages (static). */
const char *conn_type_names(void);
/* Register a type (tests; at most a few).  Returns 0, -EEXIST for a
 * registered name, -ENOSPC when full. */
int connector_register(const struct conn_type *t) MUST_CHECK;
/* The row's index of option name in t->options, or -1. */
int conn_type_option(const struct conn_type *t, const char *name);
/* A type option's value: as configured, else its literal default, else
 * NULL. */
const char *conn_opt(const struct conn_type *t, const struct conn_options *o,
                     const char *name);
/* The type of a connector: its row, or the row named by ops->type. */
const struct conn_type *conn_type_of(const struct connector *c);
/* The type a connector of t with options opt will be (t->variant), t when
 * t has no variants; NULL for NULL t. */
const struct conn_type *conn_type_variant(const struct conn_type *t,
                                          const struct conn_options *opt);
/* The mention of ident under t (t->mention, else "@ident"); NULL when
 * ident is NULL or empty.  Heap string. */
char *conn_mention(const struct conn_type *t, const char *ident, const char *name);
/* Normalised copy of v for field f under t (a plain copy when the field
 * is not lossy).  Heap string or NULL. */
char *conn_normalise(const struct conn_type *t, enum item_field f, const char *v);

/* Make a connector of the registered type.  Returns 0, -EINVAL for an
 * unknown type, or the constructor's error.  connector_destroy() calls
 * ops->destroy. */
int connector_new(struct connector **out, const char *type, uv_loop_t *loop,
                  struct http_client *http, const struct conn_options *opt) MUST_CHECK;
void connector_destroy(struct connector *c);

/* ---- helpers the connectors share ---- */

struct http_response;

/* "Authorization: Basic <base64 of cred>" (RFC 7617: cred is
 * "user:password", e.g. ServiceNow's user or Jira Cloud's
 * email:api_token).  Heap; it holds the secret: never log it. */
char *conn_basic_auth_header(const char *cred);
/* Back-off before retry number attempt (1 = the first retry): base_ms
 * doubled per attempt, at most max_ms, with equal jitter (uniform in
 * [d/2, d], xorshift64 on *rng, which must not be 0).  Milliseconds. */
int64_t conn_backoff_ms(uint64_t *rng, int64_t base_ms, int64_t max_ms, int attempt);
/* Retry-After of resp in ms (delta-seconds form, RFC 9110 10.2.3, under
 * a day), or -1 when absent or in another form. */
int64_t conn_retry_after_ms(const struct http_response *resp);
/* Whether resp shows that the tracker may have acted on the request:
 * false for a connection never made (refused, name or proxy not
 * resolved: curl sent nothing) and for an answer the connector read as
 * its tracker's rate limit (rate_limited), true for anything else, a
 * cancelled transfer included (it may have been sent).  Connectors keep
 * it per request for conn_result.unsent. */
bool conn_answer_may_have_acted(const struct http_response *resp, bool rate_limited);

/* Registry rows, one per tracker file. */
extern const struct conn_type github_conn_type;
extern const struct conn_type servicenow_conn_type;
extern const struct conn_type jira_conn_type;

#endif
