/* servicenow.h — internal to the ServiceNow connector (servicenow*.c):
 * the request machinery (servicenow_req.c) the operations (servicenow.c)
 * are built on, their answers (servicenow_answer.c), the state mapping
 * (servicenow_state.c), and the field mapping they share.
 *
 * ServiceNow facts used here (Table API, REST API reference, "Table API";
 * checked December 2026):
 *   - GET/POST /api/now/table/{table}, GET/PATCH /api/now/table/{table}/{sys_id};
 *     the answer is {"result": ...}; an error is
 *     {"error":{"message":..., "detail":...}, "status":"failure"};
 *   - every value is a string; with sysparm_display_value=false dates are
 *     UTC "yyyy-MM-dd HH:mm:ss"; sys_mod_count counts updates;
 *   - a listing pages with sysparm_limit/sysparm_offset and says in a Link
 *     header (rel="next") whether more follow; the limit is applied before
 *     ACLs, so a page may be short (even empty) with more behind it;
 *   - sysparm_query terms naming an unknown field are silently ignored;
 *   - 429 carries Retry-After (seconds).
 *
 * Every operation is one struct sn_req, a small state machine:
 *   NEW -> (PACED: writes wait their turn) -> INFLIGHT -> (WAITING: retry
 *   timer) -> INFLIGHT ... -> FINISHED
 * A finished request is detached (r->s = NULL) and freed once both its
 * timer is closed and its HTTP answer is in.
 */
#ifndef CLOSELOOP_SERVICENOW_H
#define CLOSELOOP_SERVICENOW_H

#include <sys/queue.h>
#include <json-c/json.h>
#include "connector.h"
#include "http.h"
#include "pace.h"

enum sn_kind {
	SN_LIST = 0,
	SN_FETCH,
	SN_CREATE,       /* POST: never retried after a possible effect */
	SN_UPDATE,       /* PATCH of the fields other than state */
	SN_UPDATE_STATE, /* PATCH of state (+ resolution_code, close_notes) */
	SN_FIND,         /* GET by correlation_id */
	SN_COMMENT,      /* PATCH of the journal field: appends, so never
	                    retried after a possible effect (like a create) */
	SN_COMMENT_FIND, /* GET of sys_journal_field entries holding a marker */
	SN_TOKEN,        /* POST /oauth_token.do (servicenow_auth.c) */
	SN_PARENT,       /* GET of the postmortem's problem, then the create
	                    of a problem_task under it (becomes SN_CREATE) */
	SN_FETCH_NUMBER, /* GET of one record by its number (a number named
	                    in a postmortem, adopted: servicenow.c sn_fetch) */
};

enum sn_req_state {
	SNR_NEW = 0,
	SNR_PACED,
	SNR_INFLIGHT,
	SNR_WAITING,
	SNR_FINISHED,
};

struct sn_conn;

struct sn_req {
	struct sn_conn *s;             /* NULL once finished */
	LIST_ENTRY(sn_req) all;
	enum sn_kind kind;
	enum sn_req_state state;
	const char *method;            /* static */
	char *url;                     /* current request */
	char *body;
	char *target;                  /* assignment group sys_id */
	int attempt;
	uint64_t http_id;
	bool http_pending, timer_closed, pace_held;
	bool may_have_acted;           /* an attempt may have reached the
	                                  instance (conn_answer_may_have_acted) */
	bool unsendable;               /* failed before sending for a reason that
	                                  would repeat (sn_req_fail_soon) */
	struct pace_wait pw;
	uv_timer_t timer;
	conn_list_cb list_cb;
	conn_item_cb item_cb;
	conn_comment_cb comment_cb;
	void *arg;
	/* SN_LIST: the window and the position in it; whether the current
	 * page asked for the discovery rule's fields (servicenow_discover.h) */
	int64_t since_ms;
	long offset;
	bool discover_fields;
	/* SN_LIST: the earlier listing's validator (conn_ops.list_changed's
	 * etag, NULL = none), this listing's (sn_validator_of, taken at its
	 * last page), and whether a page was delivered */
	char *etag;
	char *validator;
	bool paged;
	/* SN_LIST with related_incident: the page held back while the
	 * incident query (related_step) asks which of its problems an incident
	 * points at (servicenow_discover.h), and where that query is */
	struct conn_remote *held;
	bool *held_pending;
	size_t held_n;
	bool held_more;
	int64_t held_newest;
	long rel_offset;
	bool related_step;
	/* SN_FIND: the token looked for; SN_UPDATE*: the record id, the
	 * state body still to send, and what the first PATCH answered */
	char *token;
	char *sys_id;
	char *state_body;
	char *want_owner;
	char *marker;                  /* SN_COMMENT_FIND */
	char *parent_ref;              /* SN_PARENT: the problem's number or sys_id;
	                                  SN_FETCH_NUMBER: the number */
	char *pm_ref;                  /* SN_PARENT: the postmortem, for messages */
	char *fail_later;              /* failed from the timer (sn_req_fail_soon) */
	char *want_state;              /* a problem_task's state walk: where to */
	int walk_steps;                /* state PATCHes of the walk sent */
	bool auth_retried;             /* a 401 already made us refresh the token */
	LIST_ENTRY(sn_req) auth_wait;  /* waiting for an access token */
	bool auth_waiting;
	struct json_object *record;    /* last good record (updates) */
	unsigned refused_mask;
	char *refused_reason[ITEM_F__COUNT];
};

struct sn_prio {
	char impact[2], urgency[2];   /* "1".."3" */
};

/* OAuth 2.0 against the instance's /oauth_token.do (servicenow_auth.c). */
struct sn_oauth {
	bool on;                       /* auth = "oauth" */
	char *client_id, *client_secret, *refresh_token, *username, *password;
	char *access_header;           /* "Authorization: Bearer ..." or NULL */
	int64_t expires_at_ms;         /* of the access token */
	bool fetching;
	uint64_t http_id;
	struct sn_token_req *treq;     /* the fetch in flight */
	LIST_HEAD(, sn_req) waiting;   /* requests waiting for a token */
	uint64_t n_token;              /* token requests made */
	char *last_error;
};

struct sn_conn {
	struct connector base;
	char *base_url;
	char *auth_header;             /* basic: holds the password, never logged */
	struct sn_oauth oauth;
	char *journal;                 /* "work_notes" | "comments" */
	char *ca_file;
	char *table;                   /* "problem" | "problem_task" */
	bool legacy_states;            /* state_model = legacy (1-4) */
	struct sn_prio prio[4];        /* P0..P3 */
	long page_size;
	int max_attempts;
	int64_t backoff_base_ms, backoff_max_ms, timeout_ms;
	LIST_HEAD(, sn_req) reqs;
	struct pace pace;
	uint64_t rng;
	bool destroyed;
};

/* ---- servicenow_req.c ---- */

/* A new request of s (state NEW) owning url and body (heap, body may be
 * NULL); target is copied. */
struct sn_req *sn_req_new(struct sn_conn *s, enum sn_kind kind, const char *method,
                          char *url, char *body, const char *target, void *arg);
/* Send r (through the pacer for writes).  0, or -errno after which the
 * caller still owns r and must sn_req_discard() it (no callback). */
int sn_req_send(struct sn_req *r) MUST_CHECK;
/* Free a request that never started (no callback). */
void sn_req_discard(struct sn_req *r);
/* Finish r with a failure: the callback gets st and msg. */
void sn_req_fail(struct sn_req *r, enum conn_status st, long http_status,
                 int64_t retry_after_ms, const char *msg);
/* Finish r: call back (item or page) and detach. */
void sn_req_finish_item(struct sn_req *r, const struct conn_result *res,
                        const struct conn_remote *remote);
void sn_req_finish_comment(struct sn_req *r, const struct conn_result *res,
                           const struct conn_comment *cm);
void sn_req_deliver_page(struct sn_req *r, const struct conn_result *res,
                         struct conn_page *page);
/* The URL of r's incident query (servicenow_discover.h sn_related_query)
 * over its held page's pending problems, page_size rows from
 * r->rel_offset. */
char *sn_related_url(const struct sn_req *r);
/* Finish r with CONN_ERROR "<what>: could not <doing>: <strerror(-rc)>". */
void sn_req_fail_start(struct sn_req *r, const char *doing, int rc);
/* Fail r (never sent) with CONN_ERROR and msg from the loop, not from the
 * caller's stack (an operation that returned 0 calls back later); for a
 * failure that would repeat as the values stand (not conn_result.unsent). */
void sn_req_fail_soon(struct sn_req *r, const char *msg);
/* Fail every unfinished request with CONN_ERROR "cancelled". */
void sn_cancel_all(struct sn_conn *s);
/* "GET /api/now/table/problem" (no host, no query); caller frees. */
char *sn_req_what(const struct sn_req *r);
/* The error sentence of a failure answer: the body's error.message and
 * error.detail, else the HTTP status.  Caller frees. */
char *sn_error_text(const struct http_response *resp);

/* ---- servicenow_auth.c ---- */

/* Read the credentials text (token_file / token_env) for auth = oauth:
 * lines "client_id=...", "client_secret=...", and "refresh_token=..." or
 * "username=..." + "password=..." (none: the client credentials grant).
 * Every value is registered as a log secret.  0 or -EINVAL. */
int sn_oauth_init(struct sn_oauth *o, const char *text) MUST_CHECK;
void sn_oauth_free(struct sn_oauth *o);
/* The Authorization header for r now, or NULL when r must wait: then r is
 * queued and sent again (sn_req_resend) once a token is in, or failed
 * with CONN_AUTH when the instance refuses the grant. */
const char *sn_auth_header(struct sn_req *r);
/* A 401 on r: forget the access token and queue r for a fresh one, once;
 * false when r already had its retry (the caller fails it). */
bool sn_auth_rejected(struct sn_req *r);
/* Remove r from the token wait list (r finished). */
void sn_auth_forget(struct sn_req *r);
/* Cancel a token request in flight (destroy). */
void sn_auth_cancel(struct sn_conn *s);
/* The access token's lifetime in seconds from the token endpoint's
 * answer: "expires_in", a JSON number (RFC 6749 section 5.1, "the
 * lifetime in seconds of the access token"; ServiceNow's oauth_token.do
 * answers 1799 by default), or a string of decimal digits, as some
 * servers send it.  Above SN_TOKEN_LIFE_MAX_S it is taken as that: the
 * token is fetched again within it, and a larger value (up to a JSON
 * number's INT64_MAX) would overflow the expiry in milliseconds.  false
 * when it is absent, not positive or of another type. */
#define SN_TOKEN_LIFE_MAX_S (366LL * 24 * 3600)
bool sn_token_life(struct json_object *answer, int64_t *life_s) MUST_CHECK;
/* Send r now, past the pacer (it already has its turn).  0 or -errno. */
int sn_req_send_now(struct sn_req *r) MUST_CHECK;
/* Send r again now (state NEW -> INFLIGHT), failing it on error. */
void sn_req_resend(struct sn_req *r);

/* ---- servicenow_comment.c ---- */

int sn_comment(struct connector *c, const char *target, const struct conn_remote *ref,
               const char *body, conn_comment_cb cb, void *arg);
int sn_find_comment(struct connector *c, const char *target, const struct conn_remote *ref,
                    const char *marker, conn_comment_cb cb, void *arg);
/* A 2xx answer of an SN_COMMENT or SN_COMMENT_FIND request. */
void sn_comment_answer(struct sn_req *r, struct json_object *res,
                       const struct http_response *resp, const char *what);
/* Markdown as a journal entry: sn_plain_text, and an HTML comment
 * "<!-- x -->" (invisible on GitHub, shown as text in a journal) as "[x]".
 * Caller frees. */
char *sn_journal_text(const char *markdown);
/* The ServiceNow mention of a user in a journal entry: "@[sys_id:name]"
 * (how the instance stores a mention; live_mention).  Caller frees. */
char *sn_mention(const char *sys_id, const char *name);
/* The helpers servicenow.c shares with the comment operations. */
bool sn_query_value_safe(const char *v);
char *sn_url_encode(const char *v);
struct sn_conn *sn_of(struct connector *c);
char *sn_record_url(const struct sn_conn *s, const char *sys_id);
/* The record's browser address (nav_to.do).  Caller frees. */
char *sn_record_url_browser(const struct sn_conn *s, const char *sys_id);
const char *sn_rec_str(struct json_object *rec, const char *k);
/* ---- servicenow_state.c ---- */

/* Is s's table problem_task? */
bool sn_is_task(const struct sn_conn *s);
/* The canonical state ("open", "in_progress", "done", "wont_do") of a
 * record of s's table, from its state and resolution_code (problem) or
 * close_code (problem_task). */
const char *sn_state_from_record(const struct sn_conn *s, struct json_object *rec);
/* The state fields for state into o: a problem's state (+ resolution_code
 * and close_notes when closed); a legacy task's state; a current-model
 * task only at create (151 New: its walk takes it on). */
void sn_body_state(const struct sn_conn *s, struct json_object *o, const char *state,
                   bool create);
/* The body of the next state PATCH taking the problem_task rec towards
 * want ({"state": ...} and, into 157, close_code and close_notes), or
 * NULL when it is there.  Caller frees. */
char *sn_task_step(const struct sn_conn *s, struct json_object *rec, const char *want);

/* ---- servicenow.c ---- */

/* o as compact JSON text, o put.  Caller frees. */
char *sn_json_text(struct json_object *o);
/* The POST address of a record of s's table.  Caller frees. */
char *sn_create_url(const struct sn_conn *s);
/* The listing page r asks for next: its target's records changed since
 * r->since_ms (whole seconds), from r->offset.  Caller frees. */
char *sn_list_url(struct sn_req *r);

/* A quiet listing (connector.h, list_changed's etag).  The Table API has
 * no conditional GET, and the window (sys_updated_on>= the cursor less
 * the overlap) always holds the group's newest records again, so without
 * a validator every cycle re-reads them (and, with a related_incident
 * rule, asks the incident table about them: servicenow_discover.h).  A
 * listing's last page carries the validator
 * "sn1:<newest sys_id>:<its sys_updated_on, ms>:<taken, ms>" (newest =
 * the window's last record in the listing's order, "-" and 0 for an
 * empty window); taken is that page's Date header (RFC 9110 6.6.1, the
 * instance's clock, whole seconds) less the request's elapsed time, so
 * the query ran at or after it.  The next listing answers
 * CONN_NOT_MODIFIED, reading nothing more, when its window fits its
 * first page and the validator holds for that page's newest record.
 * sn_validator_of: heap, or NULL when the answer has no readable Date
 * (this host's clock is not the instance's: no validator rather than a
 * wrong one). */
char *sn_validator_of(const struct http_response *resp, const char *sys_id, int64_t updated_ms);
/* Does etag (NULL = none) prove that nothing in the window changed since
 * that listing, the window's newest record now being (sys_id,
 * updated_ms)?  Yes when it is the same record with the same
 * sys_updated_on and that listing's query ran at least settle_ms (one
 * whole second: sys_updated_on has seconds) after it: any write after that
 * query is stamped a later second and would be the newest now. */
bool sn_validator_holds(const char *etag, const char *sys_id, int64_t updated_ms, int64_t settle_ms);

/* ---- servicenow_answer.c ---- */

/* One 2xx answer of r, mapped per connector.h. */
void sn_handle_ok(struct sn_req *r, const struct http_response *resp, const char *what);
/* A 403 answer of r (SN_UPDATE_STATE: a refused transition). */
bool sn_handle_refusal(struct sn_req *r, const struct http_response *resp);

/* The record as closeloop's canonical fields (out initialised here). */
int sn_record_to_remote(const struct sn_conn *s, struct json_object *rec,
                        struct conn_remote *out) MUST_CHECK;
/* The Markdown description as ServiceNow keeps it (plain text): emphasis,
 * code and heading marks dropped, trailing blanks trimmed; NULL for none. */
char *sn_plain_text(enum item_field f, const char *value);
/* Parse a priority map "P0=1/1,P1=1/2,P2=2/2,P3=3/3" (impact/urgency per
 * priority, each 1..3).  0 or -EINVAL. */
int sn_parse_prio_map(const char *v, struct sn_prio out[4]) MUST_CHECK;
/* Is s a sys_id (32 lower-case hex digits)? */
bool sn_sys_id_valid(const char *s);

/* servicenow_hook.c: conn_ops.webhook (an outbound REST message with Basic
 * authentication; the body closeloop documents). */
int sn_webhook(struct connector *c, const struct conn_hook_request *req,
               const char *secret, struct conn_hook_event *ev, char *err, size_t errlen);

#endif
