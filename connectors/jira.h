/* jira.h — internal to the Jira connector (jira*.c): the request
 * machinery (jira_req.c) the operations (jira.c) and their answers
 * (jira_steps.c) are built on.  The field mapping is jira_fields.h, the
 * description format jira_adf.h.
 *
 * Jira Data Center / Server (flavor = "datacenter") speaks REST v2 with
 * the same steps: the paths under /rest/api/2, descriptions and comments
 * as wiki markup (jira_wiki.h), the assignee by user name, a personal
 * access token as "Authorization: Bearer" (Atlassian, "Using Personal
 * Access Tokens", confluence.atlassian.com/enterprise/using-personal-
 * access-tokens-1026032365.html), and POST /rest/api/2/search paged by
 * startAt / maxResults / total (jira_fields.h, jira_search_body_dc).
 *
 * Jira Cloud facts used here (Atlassian, "The Jira Cloud platform REST API"
 * v3 and its OpenAPI description, tests/sim/specs/; "Rate limiting",
 * "Basic auth for REST APIs"; checked December 2026):
 *   - authentication: Basic base64(email:api_token);
 *   - POST /rest/api/3/issue -> 201 {id, key, self}; GET/PUT
 *     /rest/api/3/issue/{idOrKey} (PUT -> 204, status is not a field);
 *     an old key of a moved issue still resolves to the same id;
 *   - GET/POST /rest/api/3/issue/{id}/transitions: the transitions
 *     available from the current status; POST -> 204, or 400 when the
 *     transition is not available;
 *   - POST /rest/api/3/search/jql pages with nextPageToken (isLast); the
 *     old /rest/api/3/search answers 410; search reads an index that lags
 *     writes by seconds, GET by id reads its own writes;
 *   - errors are {"errorMessages": [...], "errors": {"field": "message"}};
 *   - 429 carries Retry-After (seconds); 5xx may be retried.
 *
 * Every operation is one struct jira_req that walks steps (enum jira_step),
 * each one HTTP request:
 *   list:          NEWEST [-> SEARCH (page after page: a new query from the
 *                  minute of the newest issue seen, or, when a whole page
 *                  shares one minute, that minute by id; with a discovery
 *                  rule each page's SEARCH -> DISCOVER before it is
 *                  delivered)]
 *   fetch:         READ
 *   create:        CREATE -> READ [-> TRANS_GET -> TRANS_POST -> READ]
 *   update:        [EDIT ->] READ [-> TRANS_GET -> TRANS_POST -> READ]
 *   find_by_token: FIND_NEWEST -> FIND_LABEL [-> PROBE ...] -> READ
 *                  (the anchor is taken before the label search: the
 *                  index may catch up in between)
 *   comment:       COMMENT;  find_comment: COMMENTS (page after page)
 *   label:         LABEL
 * and within a step a small life cycle:
 *   NEW -> (PACED: writes wait their turn) -> INFLIGHT -> (WAITING: retry
 *   timer) -> INFLIGHT ... -> FINISHED
 * A finished request is detached (r->j = NULL) and freed once both its
 * timer is closed and its HTTP answer is in.
 */
#ifndef CLOSELOOP_JIRA_H
#define CLOSELOOP_JIRA_H

#include <sys/queue.h>
#include <json-c/json.h>
#include "connector.h"
#include "http.h"
#include "jira_fields.h"
#include "pace.h"

enum jira_op {
	JO_LIST = 0,
	JO_FETCH,
	JO_CREATE,
	JO_UPDATE,
	JO_FIND,
	JO_COMMENT,
	JO_FIND_COMMENT,
	JO_LABEL,
};

enum jira_step {
	JS_NEWEST = 0,   /* POST search/jql: the window's newest issue (validator) */
	JS_SEARCH,       /* POST search/jql: one page of a listing */
	JS_READ,         /* GET issue/{id} */
	JS_CREATE,       /* POST issue: never resent after a possible effect */
	JS_EDIT,         /* PUT issue/{id} (fields other than state) */
	JS_TRANS_GET,    /* GET issue/{id}/transitions */
	JS_TRANS_POST,   /* POST issue/{id}/transitions */
	JS_FIND_LABEL,   /* POST search/jql: the token's label */
	JS_FIND_NEWEST,  /* POST search/jql: the newest issue the index has */
	JS_PROBE,        /* GET issue/{KEY-n}: created after the index */
	JS_COMMENT,      /* POST issue/{id}/comment: never resent */
	JS_COMMENTS,     /* GET issue/{id}/comment: one page */
	JS_DISCOVER,     /* POST search/jql: which issues of a listed page the
	                    target's discovery rule takes (jira_discover.h) */
	JS_LABEL,        /* PUT issue/{id} {"update": {"labels": [add|remove]}}:
	                    idempotent, so retried like an edit (jira_label.c) */
};

enum jira_req_state {
	JR_NEW = 0,
	JR_PACED,
	JR_INFLIGHT,
	JR_WAITING,
	JR_FINISHED,
};

struct jira_conn;

struct jira_req {
	struct jira_conn *j;           /* NULL once finished */
	LIST_ENTRY(jira_req) all;
	enum jira_op op;
	enum jira_step step;
	enum jira_req_state state;
	const char *method;            /* static */
	char *url;                     /* current request */
	char *body;
	char *target;                  /* project key */
	int attempt;                   /* of the current step */
	int restarts;                  /* transition rounds after a 5xx */
	uint64_t http_id;
	bool http_pending, timer_closed, pace_held;
	bool may_have_acted;           /* an attempt may have reached Jira
	                                  (conn_answer_may_have_acted) */
	bool wrote;                    /* a write step of r went out */
	struct pace_wait pw;
	uv_timer_t timer;
	conn_list_cb list_cb;
	conn_item_cb item_cb;
	conn_comment_cb comment_cb;
	void *arg;
	/* JO_LIST: the window (floored to its minute), the page token, and
	 * the ids already delivered at or after floor_ms (de-duplication
	 * when a new query starts from the newest minute seen) */
	int64_t floor_ms;
	bool minute_mode;              /* walking floor_ms's minute by id */
	long long last_id;             /* minute_mode: the highest id seen */
	char *etag;                    /* the earlier listing's validator */
	char *validator;               /* this listing's (page.etag) */
	char **seen_id;
	int64_t *seen_ms;
	size_t n_seen;
	/* JO_LIST with a discovery rule: the page held back while JS_DISCOVER
	 * asks which of its issues the rule takes, and the query after it */
	struct conn_remote *pg_items;
	size_t pg_n;
	char *pg_next;
	char *pg_jql;                  /* the discovery search's query */
	int pg_start;                  /* Data Center: its window's startAt */
	/* the issue (numeric id) the steps work on, and what the caller
	 * wants of it */
	char *issue_id;
	char *fields_body;             /* JO_CREATE/JO_UPDATE: the fields JSON */
	char *want_state;              /* NULL: the state is not to be written */
	char *want_owner;              /* the accountId sent, NULL none */
	bool transitioned;             /* a transition went through */
	bool walked;                   /* a reopen step was sent to reach a done
	                                  state no transition led to directly */
	bool walk_step;                /* ... that step's POST is out */
	struct conn_remote last;       /* the issue as the last READ saw it */
	bool has_last;
	/* JO_FIND: the token, the probe position */
	char *token;
	long probe_next, probe_misses, probe_count;
	/* JO_COMMENT / JO_FIND_COMMENT */
	char *issue_key;
	char *marker;
	long start_at;
	/* JO_LABEL: the label, on or off, the link's extra before it */
	char *label;
	bool label_on;
	char *label_extra;
	unsigned refused_mask;
	char *refused_reason[ITEM_F__COUNT];
};

struct jira_conn {
	struct connector base;
	char *base_url;
	enum jira_flavor flavor;
	const char *api;               /* "/rest/api/3" (Cloud) or "/rest/api/2" (DC) */
	char *auth_header;             /* holds the API token: never logged */
	char *ca_file;
	char *issue_type;
	char *prio[4];                 /* P0..P3 -> Jira priority names */
	int max_attempts;
	int64_t backoff_base_ms, backoff_max_ms, timeout_ms;
	LIST_HEAD(, jira_req) reqs;
	struct pace pace;
	uint64_t rng;
	bool destroyed;
};

/* The type of a Data Center connector (jira.c): jira_conn_type's options
 * and capabilities with user names, "[~username]" mentions and the wiki
 * markup normaliser; set as base.type, not a registry row. */
extern const struct conn_type jira_dc_conn_type;

/* ---- jira_req.c ---- */

/* A new request of j for op, first step step (state NEW), owning url and
 * body (heap, may be NULL); target is copied. */
struct jira_req *jira_req_new(struct jira_conn *j, enum jira_op op, enum jira_step step,
                              const char *method, char *url, char *body,
                              const char *target, void *arg);
/* Move r to its next step (method, url, body owned) and send it.  0, or
 * -errno after which the caller still owns r (no callback yet). */
int jira_req_step(struct jira_req *r, enum jira_step step, const char *method,
                  char *url, char *body) MUST_CHECK;
/* Send r's current step (through the pacer for writes).  0 or -errno. */
int jira_req_send(struct jira_req *r) MUST_CHECK;
/* Free a request that never started (no callback). */
void jira_req_discard(struct jira_req *r);
/* Finish r with a failure: the callback gets st and msg. */
void jira_req_fail(struct jira_req *r, enum conn_status st, long http_status,
                   int64_t retry_after_ms, const char *msg);
/* Finish r: call back and detach. */
void jira_req_finish_item(struct jira_req *r, const struct conn_result *res,
                          const struct conn_remote *remote);
void jira_req_finish_comment(struct jira_req *r, const struct conn_result *res,
                             const struct conn_comment *cm);
void jira_req_deliver_page(struct jira_req *r, const struct conn_result *res,
                           struct conn_page *page);
/* Finish r with CONN_ERROR "<what>: could not <doing>: <strerror(-rc)>". */
void jira_req_fail_start(struct jira_req *r, const char *doing, int rc);
/* Fail every unfinished request with CONN_ERROR "cancelled". */
void jira_cancel_all(struct jira_conn *j);
/* "GET /rest/api/3/issue/10002" (no host, no query); caller frees. */
char *jira_req_what(const struct jira_req *r);
/* The error sentence of a failure answer: errorMessages and every
 * errors member as "field: message", else the HTTP status.  Caller frees. */
char *jira_error_text(const struct http_response *resp);

/* ---- jira_steps.c ---- */

/* One 2xx answer of r's step, mapped per connector.h. */
void jira_handle_ok(struct jira_req *r, const struct http_response *resp, const char *what);
/* A 4xx answer (not 429) of r's step: true when the step handled it (a
 * 404 while probing, a refused assignee or transition), false to fail r. */
bool jira_handle_refusal(struct jira_req *r, const struct http_response *resp,
                         const char *what);
/* A 5xx or transport failure of a transition: read the issue again and
 * decide afresh (the transition may have gone through).  False when the
 * rounds are used up. */
bool jira_transition_restart(struct jira_req *r);
/* Is v a numeric issue id or a key "ABC-12" (alphanumerics, '-', '_', at
 * most 64), which stands in a URL path as it is?  (jira.c) */
bool jira_id_or_key_valid(const char *v);
/* URL of the issue id (or key) with the mapped fields.  Heap. */
char *jira_issue_url(const struct jira_conn *j, const char *id_or_key);
/* URL of the search: POST /rest/api/3/search/jql (Cloud) or POST
 * /rest/api/2/search (Data Center).  Heap. */
char *jira_search_url(const struct jira_conn *j);
/* The search request body of jql for j's flavor, at most max issues
 * (jira_search_body_n / jira_search_body_dc).  Heap JSON text. */
char *jira_search_text(const struct jira_conn *j, const char *jql, int max);

/* ---- jira_label.c ---- */

/* conn_ops.label (connector.h): one label put on or taken off the issue
 * ref->remote_id (else ref->key) by an edit's "update" verbs.  0 or
 * -EINVAL (a label Jira refuses: empty, over 255 characters, or with
 * white space), -ESHUTDOWN. */
int jira_label(struct connector *c, const char *target, const struct conn_remote *ref,
               const char *label, bool on, conn_item_cb cb, void *arg) MUST_CHECK;
/* The 204 of r's JS_LABEL step: finish r with the key and the extra as it
 * is after the change. */
void jira_label_answer(struct jira_req *r, long status);

/* jira_hook.c: conn_ops.webhook (X-Hub-Signature, the delivery's issue). */
int jira_webhook(struct connector *c, const struct conn_hook_request *req,
                 const char *secret, struct conn_hook_event *ev, char *err, size_t errlen);

#endif
