/* github_req.h — internal to the GitHub connector: the request machinery
 * (github_req.c) that the operations (github.c) are built on.  Not for use
 * outside connectors/github*.c.
 *
 * Every operation is one struct gh_req, an explicit little state machine:
 *
 *   NEW -> QUEUED (max_inflight reached) -> INFLIGHT -> WAITING (retry
 *   timer) -> INFLIGHT ... -> FINISHED
 *
 * A request owns a uv_timer_t (retry back-off, deferred failures) and is
 * freed in that timer's close callback once the HTTP client has also
 * answered (http_send's callback comes exactly once).  A finished request
 * is detached from its connector (r->g = NULL), so a late HTTP answer
 * after cancel() or destroy() touches nothing but the request itself; a
 * request detached while its transfer is in flight also aborts that one
 * transfer (http_cancel), so the HTTP client answers it at once.
 *
 * User callbacks are called from three places only: the HTTP answer of
 * that request, its own timer, and cancel().  After a user callback that
 * may have destroyed the connector, only the request is touched.
 */
#ifndef CLOSELOOP_GITHUB_REQ_H
#define CLOSELOOP_GITHUB_REQ_H

#include <sys/queue.h>
#include <json-c/json.h>
#include "connector.h"
#include "http.h"
#include "pace.h"

enum gh_kind {
	GH_LIST = 0,
	GH_FETCH,
	GH_CREATE,        /* POST: never retried after a possible effect */
	GH_CREATE_CLOSE,  /* PATCH closing an issue just created closed */
	GH_UPDATE,
	GH_COMMENT,       /* POST a comment: never retried after a possible effect */
	GH_COMMENT_FIND,  /* GET comment pages looking for a marker */
	GH_SEARCH,        /* GET /search/issues for a create token (marker) */
	GH_LABEL,         /* POST / DELETE labels of an issue (idempotent): the
	                     label operation, or a step of an update that
	                     changes closeloop's own labels (upd_issue set) */
	GH_GRAPHQL,       /* POST /graphql: a query (a read; not paced), the
	                     project pass of a listing (github_project.c) */
};

enum gh_req_state {
	GHR_NEW = 0,
	GHR_QUEUED,
	GHR_PACED,     /* a write waiting its turn in the pacer (pace.h) */
	GHR_INFLIGHT,
	GHR_WAITING,   /* timer armed: retry or deferred failure */
	GHR_FINISHED,
};

struct gh_conn;
struct gh_proj_pass;

struct gh_req {
	struct gh_conn *g;            /* NULL once finished */
	LIST_ENTRY(gh_req) all;       /* g->reqs (sys/queue.h) */
	TAILQ_ENTRY(gh_req) qlink;    /* g->queue while GHR_QUEUED */
	enum gh_kind kind;
	enum gh_req_state state;
	const char *method;           /* static */
	char *url;
	char *body;
	char *if_none_match;
	char *repo;
	int attempt;                  /* sends of the current request */
	uint64_t http_id;             /* of the transfer in flight (GHR_INFLIGHT) */
	struct pace_wait pw;          /* writes: the place in g->pace */
	bool pace_held;               /* writes: in flight holding the pacer */
	bool may_have_acted;          /* an attempt may have reached GitHub
	                                 (conn_answer_may_have_acted) */
	int64_t fail_retry_ms;        /* timer_fail with CONN_RATE_LIMITED */
	uv_timer_t timer;
	bool timer_fail;              /* timer delivers fail_* instead of retrying */
	enum conn_status fail_status;
	char *fail_msg;
	bool http_pending;
	bool timer_closed;
	bool cancel_mark;
	bool probing;                 /* GH_LIST: the newest-first probe is out */
	char *list_url;               /* GH_LIST: the oldest-first listing, after the probe */
	char *first_etag;             /* GH_LIST: the probe's ETag, for the next cycle */
	int64_t list_since_ms;        /* GH_LIST: since= of the page out (0 = none) */
	int64_t edge_ms;              /* GH_LIST: updated_at of the last page's end */
	char **edge_ids;              /* GH_LIST: ids delivered with updated_at edge_ms */
	size_t n_edge, cap_edge;
	conn_list_cb list_cb;
	conn_item_cb item_cb;
	void *arg;
	conn_comment_cb comment_cb;   /* GH_COMMENT, GH_COMMENT_FIND */
	char *marker;                 /* GH_COMMENT_FIND, GH_SEARCH: what to look for */
	char *close_json;             /* GH_CREATE: follow-up PATCH body */
	char *created_key;
	char *want_owner;             /* GH_UPDATE: the login sent as owner, to
	                                 see whether GitHub assigned it */
	char *label;                  /* GH_LABEL: the label put on or taken off */
	char *label_key;              /* GH_LABEL: ref->key, handed back */
	bool label_on;
	char *label_extra;            /* GH_LABEL: ref->extra, to keep its assignees */
	struct json_object *upd_want; /* GH_UPDATE: the managed labels wanted (array of
	                                 names), when the update changes them */
	struct json_object *upd_issue;/* ... the issue as last answered, its labels
	                                 kept current by the label steps */
	long upd_status;              /* ... the HTTP status of the PATCH (or GET) */
	bool upd_added;               /* ... the POST of missing labels was sent */
	bool upd_step;                /* ... a follow-up step of the update is out */
	char *upd_next_url;           /* ... after the labels added first: the PATCH */
	char *upd_next_body;          /*     (or GET when the body is NULL) */
	char *owner_refused;          /* GH_CREATE/GH_UPDATE: GitHub refused this
	                                 assignee (422); sent again without it */
	char *moved_from;             /* GH_FETCH/GH_CREATE after a redirect: the URL
	                                 that answered 301/307 (followed once) */
	long moved_status;            /* ... and its status */
	bool list_resolving;          /* GH_LIST: GET /repositories/{id} out, after
	                                 the repository's old name redirected */
	bool list_renamed;            /* GH_LIST: r->repo is the repository's new
	                                 name (pages report it as moved_to) */
	/* A listing of a target whose rule names a project (github_project.c):
	 * the project pass runs first as GH_GRAPHQL requests, then the REST
	 * listing; what the pass found is kept here until the listing ends. */
	struct gh_proj_pass *proj;
};

/* A member of a project board: an issue of the rule's target that is an
 * item of the project (and has the rule's field value). */
struct gh_member {
	int64_t id;           /* the issue's REST id (GraphQL fullDatabaseId) */
	char *node;           /* its GraphQL node id, for nodes(ids:) */
};

/* What the connector knows of one rule's project (github_project.c): a
 * copy of the board, which the ledger keeps (conn_ops.board_set, sql/044). */
struct gh_project {
	char *target;         /* the rule's target */
	char *spec;           /* project, field and value of the rule it was read for */
	bool known;           /* members holds a complete pass */
	bool delivered;       /* ... which a listing delivered, or the ledger held:
	                         the probe is compared with updated_ms and total
	                         (false: the next probe pages again) */
	int64_t updated_ms;   /* ProjectV2.updatedAt then (ms, UTC) */
	int64_t total;        /* the items' totalCount then */
	int64_t full_at_ms;   /* when that pass was read (ms, UTC) */
	int64_t version;      /* the ledger's version of this copy (board_set);
	                         0: read since, not stored yet */
	struct gh_member *m;  /* sorted by id */
	size_t n;
};

struct gh_conn {
	struct connector base;
	char *base_url;
	char *auth_header;   /* holds the token: never logged */
	char *version_header;
	char *ua_header;
	int max_attempts;
	int64_t backoff_base_ms, backoff_max_ms, timeout_ms;
	char *ca_file;       /* connectors.[].ca_file, or NULL */
	int max_inflight;
	int inflight;
	LIST_HEAD(, gh_req) reqs;     /* every unfinished request */
	TAILQ_HEAD(, gh_req) queue;   /* waiting for max_inflight, FIFO */
	uint64_t rng;
	int cancel_depth;       /* cancel() running (callbacks may nest) */
	bool destroy_pending;   /* destroy() called: no new operations */
	struct json_tokener *tok; /* reused for every answer (github.c) */
	struct pace pace;         /* the write queue: spacing, budgets, stop */
	char *graphql_url;        /* POST endpoint of the GraphQL API */
	struct gh_project *projects; /* one per rule naming a project */
	size_t n_projects;
	int64_t graphql_blocked_until; /* ms, monotonic (ts_mono_ms(), as the
	                                * pacer's stop): GraphQL's own limit is
	                                * spent until then */
};

/* A write (POST/PATCH): goes through the pacer.  creates = content
 * creation (an issue, a comment), which takes room in its budgets. */
bool gh_kind_writes(enum gh_kind k, bool *creates);

/* A new request (state NEW) of g, owning url (heap); repo is copied. */
struct gh_req *gh_req_new(struct gh_conn *g, enum gh_kind kind, const char *method,
                          char *url, const char *repo, void *arg);
/* Start a new operation: send it, or queue it behind max_inflight.
 * Returns 0, or a negative errno code after which r is discarded without
 * a callback. */
int gh_req_start(struct gh_req *r) MUST_CHECK;
/* Send or queue r again (next page, retry, follow-up).  0 or -errno; on
 * failure r is still the caller's to fail. */
int gh_req_submit(struct gh_req *r) MUST_CHECK;
/* The operation's next request (a follow-up, the next page, a redirect
 * followed): r becomes kind and method with url and body (both taken
 * over; body may be NULL), unconditional, its attempts counted afresh,
 * and is sent or queued.  0 or -errno; on failure r is still the
 * caller's to fail. */
int gh_req_next(struct gh_req *r, enum gh_kind kind, const char *method, char *url,
                char *body) MUST_CHECK;
/* As gh_req_next, a GET of url of the same kind, conditional on etag
 * (taken over; NULL = unconditional). */
int gh_req_next_get_if(struct gh_req *r, char *url, char *etag) MUST_CHECK;
/* Start queued requests while there is room.  Never calls back. */
void gh_pump(struct gh_conn *g);

/* Report an item outcome (remote only with CONN_OK); finishes r. */
void gh_req_finish_item(struct gh_req *r, const struct conn_result *res,
                        const struct conn_remote *remote);
/* Report a comment outcome (comment only with CONN_OK); finishes r. */
void gh_req_finish_comment(struct gh_req *r, const struct conn_result *res,
                           const struct conn_comment *comment);
/* Report a listing page; page->last finishes r. */
void gh_req_deliver_page(struct gh_req *r, const struct conn_result *res,
                         struct conn_page *page);
/* Finish r with a failure (the last page of a listing, or an item). */
void gh_req_fail(struct gh_req *r, enum conn_status st, long http_status,
                 int64_t retry_after_ms, const char *msg);
/* gh_req_fail on the next turn of the loop (the operation that made r has
 * returned by then: the contract forbids calling back from inside it). */
void gh_req_fail_later(struct gh_req *r, enum conn_status st, const char *msg);
/* gh_req_fail, except that a failed close after a create becomes
 * CONN_UNKNOWN naming the created issue. */
void gh_req_fail_final(struct gh_req *r, enum conn_status st, long http_status,
                       int64_t retry_after_ms, const char *msg);
/* Transport error or 5xx: retry with back-off while attempts remain (never
 * a create that may have had an effect), else fail. */
void gh_req_retry_or_fail(struct gh_req *r, const struct http_response *resp, const char *what);
/* Rate-limited answer: wait it out if short enough, else CONN_RATE_LIMITED. */
void gh_req_rate_limited(struct gh_req *r, const struct http_response *resp, const char *what);

/* "GET /repos/acme/k8s/issues" for error sentences: no host, no query.
 * Caller frees. */
char *gh_req_what(const struct gh_req *r, const char *base_url);

/* Implemented in github.c: one HTTP answer of r (INFLIGHT just ended),
 * mapped per connector.h. */
void gh_handle_answer(struct gh_req *r, const struct http_response *resp, const char *what);

/* Parse an answer body as one JSON value with the connector's tokener
 * (github.c).  Returns 0 with *out (caller puts), or -EINVAL with *err. */
int gh_parse_json(struct gh_req *r, const struct http_response *resp,
                  struct json_object **out, const char **err) MUST_CHECK;

/* github_hook.c: conn_ops.webhook (verify X-Hub-Signature-256, classify). */
int gh_webhook(struct connector *c, const struct conn_hook_request *req,
               const char *secret, struct conn_hook_event *ev, char *err, size_t errlen);

/* github_list.c: conn_ops.list_changed and the 2xx answers of a listing
 * (the probe, then each page). */
int gh_list_changed(struct connector *c, const char *target, int64_t since_ms,
                    const char *etag, conn_list_cb cb, void *arg) MUST_CHECK;
void gh_list_answer(struct gh_req *r, const struct http_response *resp, const char *what);
/* A listing request answered 301/307 (the repository renamed: GitHub
 * redirects its old name to /repositories/{id}/...): read the repository
 * there for its name now, then list under that name.  Returns false when
 * not followed (a Location outside base_url or not /repositories/{id},
 * or a second redirect): the caller fails the listing CONN_MOVED. */
bool gh_list_moved(struct gh_req *r, const struct http_response *resp, const char *what);

/* github_project.c: the project rule of discovery (GitHub Projects v2
 * through GraphQL).  gh_project_list_start makes r (a new listing of a
 * target whose rule names a project, not yet started) begin with the
 * project pass; it returns false when the target has no project rule or
 * GraphQL's budget is spent (the REST listing goes alone).  The REST
 * listing's end calls gh_project_flush, which delivers the tickets the
 * pass found that the listing's window cannot show; it returns false when
 * r is finished (the last page went, or the callback cancelled). */
bool gh_project_list_start(struct gh_req *r, const char *etag);
void gh_project_answer(struct gh_req *r, const struct http_response *resp, const char *what);
/* A failure of the pass (r->kind GH_GRAPHQL, not a cancel): logged, and
 * the REST listing goes on without the pass.  Returns false when it is a
 * failure of the listing itself (the caller reports it). */
bool gh_project_failed(struct gh_req *r, const char *msg);
bool gh_project_flush(struct gh_req *r, const struct conn_result *res, bool last);
bool gh_project_pending(const struct gh_req *r);
void gh_project_pass_free(struct gh_proj_pass *p);
void gh_projects_free(struct gh_conn *g);
/* Count the first send of r (GH_GRAPHQL) in n_graphql and by document. */
void gh_project_sent(struct gh_req *r);
/* The board of the pass of r, for the last page of its listing when the
 * listing went through and read the board in full (connector.h
 * conn_page.board; kept in r until r is freed), else NULL. */
const struct conn_board *gh_project_board(struct gh_req *r);
/* conn_ops.board_version and board_set (connector.h). */
int64_t gh_board_version(struct connector *c, const char *target);
void gh_board_set(struct connector *c, const char *target, const struct conn_board *b);
/* Whether issue id of repo is a member of its rule's project: 1 yes, 0
 * no, -1 unknown (no project rule, or no complete pass yet). */
int gh_project_member(const struct gh_conn *g, const char *repo, int64_t id);
/* "https://api.github.com/graphql" from the REST base URL (GitHub
 * Enterprise Server: ".../api/v3" -> ".../api/graphql"; docs "Forming
 * calls with GraphQL", the endpoint).  Heap. */
char *gh_graphql_url(const char *base_url);

/* github_comment.c: the comment operations and their 2xx answers. */
int gh_comment(struct connector *c, const char *target, const struct conn_remote *ref,
               const char *body, conn_comment_cb cb, void *arg) MUST_CHECK;
int gh_find_comment(struct connector *c, const char *target, const struct conn_remote *ref,
                    const char *marker, conn_comment_cb cb, void *arg) MUST_CHECK;
void gh_comment_answer(struct gh_req *r, const struct http_response *resp, const char *what);

/* Implemented in github.c: an update or fetch answered with the issue
 * (rem, HTTP status): report CONN_OK, with the owner as refused when
 * GitHub refused or dropped the assignee; finishes r. */
void gh_item_done(struct gh_req *r, long http_status, const struct conn_remote *rem);

/* github_label.c: the label operation, its 2xx answer, and a 404 that
 * means "that label is not on the issue" (true: r is finished as CONN_OK,
 * or the update's next label step is on its way). */
int gh_label(struct connector *c, const char *target, const struct conn_remote *ref,
             const char *label, bool on, conn_item_cb cb, void *arg) MUST_CHECK;
void gh_label_answer(struct gh_req *r, const struct http_response *resp, const char *what);
bool gh_label_absent(struct gh_req *r, const struct http_response *resp);
/* An update that changes priority, type or state asks for labels (the
 * managed ones of want, gh_labels_json) with gh_update_labels_want, r
 * still NEW: the wanted labels that ref (the issue as last read) lacks
 * are added first (one POST), before the PATCH, so that no moment shows
 * the issue opened without its in-progress label; the PATCH (or GET)
 * answer goes to gh_update_labels_start, which adds what is still
 * missing (one POST) and takes off the managed ones not wanted (a DELETE
 * each), then reports the issue with its labels as they are
 * (gh_item_done).  The issue's whole label set is never sent: a label a
 * person added since closeloop's last pull stays. */
void gh_update_labels_want(struct gh_req *r, const struct item_fields *want,
                           const struct conn_remote *ref);
void gh_update_labels_start(struct gh_req *r, const struct http_response *resp,
                            const char *what);
/* The labels added first answered a redirect (the issue transferred, its
 * repository renamed): true when r was such a step; the update's PATCH
 * (or GET) goes out instead, and its redirect is followed (github.c). */
bool gh_update_labels_moved(struct gh_req *r, const char *what);

/* github_search.c: find_by_token and its 2xx answer; s percent-encoded
 * for a query value or a path segment (RFC 3986 unreserved kept; caller
 * frees). */
char *gh_pct_escape(const char *s);
int gh_find_by_token(struct connector *c, const char *target, const char *token,
                     conn_item_cb cb, void *arg) MUST_CHECK;
void gh_search_answer(struct gh_req *r, const struct http_response *resp, const char *what);

#endif
