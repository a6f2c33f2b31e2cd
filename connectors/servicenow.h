/* servicenow.h — internal to the ServiceNow connector (servicenow*.c):
 * the request machinery (servicenow_req.c) the operations (servicenow.c)
 * are built on, and the field mapping both share.
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
	struct pace_wait pw;
	uv_timer_t timer;
	conn_list_cb list_cb;
	conn_item_cb item_cb;
	void *arg;
	/* SN_LIST: the window and the position in it */
	int64_t since_ms;
	long offset;
	/* SN_FIND: the token looked for; SN_UPDATE*: the record id, the
	 * state body still to send, and what the first PATCH answered */
	char *token;
	char *sys_id;
	char *state_body;
	char *want_owner;
	struct json_object *record;    /* last good record (updates) */
	unsigned refused_mask;
	char *refused_reason[ITEM_F__COUNT];
};

struct sn_prio {
	char impact[2], urgency[2];   /* "1".."3" */
};

struct sn_conn {
	struct connector base;
	char *base_url;
	char *auth_header;             /* holds the password: never logged */
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
void sn_req_deliver_page(struct sn_req *r, const struct conn_result *res,
                         struct conn_page *page);
/* Finish r with CONN_ERROR "<what>: could not <doing>: <strerror(-rc)>". */
void sn_req_fail_start(struct sn_req *r, const char *doing, int rc);
/* Fail every unfinished request with CONN_ERROR "cancelled". */
void sn_cancel_all(struct sn_conn *s);
/* "GET /api/now/table/problem" (no host, no query); caller frees. */
char *sn_req_what(const struct sn_req *r);
/* The error sentence of a failure answer: the body's error.message and
 * error.detail, else the HTTP status.  Caller frees. */
char *sn_error_text(const struct http_response *resp);

/* ---- servicenow.c ---- */

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

#endif
