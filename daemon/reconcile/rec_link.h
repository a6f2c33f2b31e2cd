/* rec_link.h — internals of the reconcile engine, shared by reconcile.c
 * (engine, cycles, listing, push pass, cursor), rec_link.c (the work on
 * one link: merge, tracker call, ledger write) and rec_sql.c (statements,
 * row parsing, identity map).  Not a public interface: only the engine's
 * own files include it.
 */
#ifndef CLOSELOOP_REC_LINK_H
#define CLOSELOOP_REC_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>
#include <libpq-fe.h>
#include <json-c/json.h>
#include <uv.h>
#include "config.h"
#include "connector.h"
#include "db.h"
#include "item.h"
#include "merge.h"
#include "plan.h"
#include "reconcile.h"

struct db;
struct rec_cycle;
struct rec_target;

/* ---- identity map: ledger handle <-> tracker identity (person table) ---- */

struct rec_ident {
	char *handle;
	char *ident;   /* GitHub login (compared case-insensitively) */
};

struct rec_idmap {
	struct rec_ident *by_ident;   /* sorted by strcasecmp(ident) */
	struct rec_ident **by_handle; /* pointers into by_ident, sorted by handle */
	size_t n;
};

/* Fill from a result of REC_SQL_IDMAP (handle, ident); replaces m. */
void rec_idmap_load(struct rec_idmap *m, const PGresult *res);
void rec_idmap_free(struct rec_idmap *m);
const char *rec_idmap_handle(const struct rec_idmap *m, const char *ident);
const char *rec_idmap_ident(const struct rec_idmap *m, const char *handle);

/* Remote (tracker identity) -> canonical: owner login -> handle (unknown
 * login kept as written).  A NULL remote owner next to a ledger owner with
 * no tracker identity counts as the ledger owner: such a handle cannot be
 * assigned in the tracker, so the NULL is not a change made there.  A NULL
 * remote type likewise keeps the ledger's type (the ledger never has none). */
void rec_canon_remote(const struct rec_idmap *m, const struct item_fields *remote,
                      const struct item_fields *ledger, struct item_fields *out);
/* Canonical -> what the connector gets: owner handle -> login or NULL. */
void rec_to_tracker(const struct rec_idmap *m, const struct item_fields *canon,
                    struct item_fields *out);

/* ---- rows: one link with its item and postmortem (REC_SQL_LINK_COLS) ---- */

struct rec_row {
	long long link_id;          /* 0: the item has no managed link */
	char *link_state, *token, *remote_id, *remote_key, *url, *extra, *etag;
	bool has_base;
	struct item_fields base;
	bool has_remote_ms;
	int64_t remote_ms;          /* stored remote_updated_at */
	long long item_id, version;
	int64_t ledger_ms;          /* action_item.updated_at */
	int64_t field_ms[ITEM_F__COUNT]; /* when each ledger value was set at its
	                                    source (a pulled value: the tracker's
	                                    change time); 0 unknown */
	struct item_fields ledger;
	char *pm_ref, *pm_title, *pm_url;
	char *pm_problem;          /* postmortem.problem_ref, NULL none */
	struct rec_refusals refused; /* fields the tracker refused (sql/005) */
	bool has_intent;
	int64_t intent_ms;          /* external_link.intent_at */
	int64_t touched_ms;         /* external_link.updated_at: its last write */
	unsigned unconfirmed_mask;  /* external_link.unconfirmed (sql/045): the fields
	                               failed updates sent since the last merge
	                               write, their values in unconfirmed */
	struct item_fields unconfirmed;
	/* push pass only: an external reference to this target, if any */
	long long ref_id;
	char *ref_remote_id, *ref_key, *ref_state;
};

/* Parse row r of res (columns of REC_SQL_LINK_COLS, then the optional four
 * reference columns).  Returns 0 or -EINVAL for an unreadable number. */
int rec_row_parse(const PGresult *res, int r, struct rec_row *out) MUST_CHECK;
void rec_row_free(struct rec_row *row);

/* JSON text of the fields in mask only ({"state": "done"}). */
char *rec_fields_json(const struct item_fields *f, unsigned mask);

/* ---- per-link work (rec_link.c) ----
 *
 * The link driver knows nothing of cycles or passes: the cycle hands each
 * target a struct rec_link_ctx (what the ops need to read, and the one way
 * to reach the ledger) and a drained callback.  rec_link.c calls down into
 * the planner (plan.h), the statements (rec_sql.c) and the connector, and
 * up only through these two pointers, so reconcile.c -> rec_pass.c ->
 * rec_link.c -> plan.c is a chain, not a circle. */

struct rec_engine_view;

/* The recovery token searches of one connector (find_by_token), paced to
 * its searches_per_minute in a sliding minute, and stopped until
 * blocked_until_ms after the search answered with its rate limit.  Owned
 * by the engine (it outlives cycles); ms since the epoch, UTC. */
#define REC_SEARCH_LOG_MAX 64
struct rec_search_pace {
	int64_t log[REC_SEARCH_LOG_MAX]; /* send times, a ring of the last n */
	int head, n;
	int64_t blocked_until_ms;
};

/* The adoptions of references in flight in this process, every connector's
 * (rec_link.c op_claim_check): ops holding a claim_key. */
LIST_HEAD(rec_claim_list, rec_op);

struct rec_link_ctx {
	const struct rec_engine_view *view;
	struct connector *conn;
	const char *name;             /* connector name */
	const char *source;           /* "reconcile:<name>" */
	const struct rec_idmap *idmap;
	const enum cfg_policy *policy; /* [ITEM_F__COUNT] */
	const struct conn_type *ctype;
	int max_inflight;
	int64_t refusal_backoff_ms, create_min_age_ms;
	char *const *targets;         /* what the connector serves (a moved
	                                 ticket is followed into one of them) */
	size_t n_targets;
	/* db_query on the ledger session that holds the connector's lock:
	 * 0 (cb called once, later) or -ENOTCONN (reconcile.c cyc_db_query) */
	int (*query)(void *owner, const char *sql, int n, const char *const *p,
	             db_result_cb cb, void *arg);
	void *owner;
	/* true while the ledger session that holds the connector's lock is up:
	 * no tracker write starts otherwise (rec_ledger_lost) */
	bool (*locked)(void *owner);
	struct rec_search_pace *search;  /* the connector's token searches */
	/* when this daemon took the connector's lock (ms since the epoch): no
	 * earlier holder can send a write after it (a crashed one is dead; one
	 * that lost its session cancels its requests) */
	int64_t lock_at_ms;
	/* one ticket, one item (rec_link.c op_claim_check): the engine's
	 * adoptions in flight; this connector's claim group, the connectors
	 * whose tickets share one id space ("host table" for ServiceNow
	 * connectors of one instance and table, else the connector's name);
	 * and the group's connector names as a PostgreSQL text[] literal */
	struct rec_claim_list *claims;
	const char *claim_group;
	const char *claim_peers;
};

static inline int rec_lc_query(const struct rec_link_ctx *lc, const char *sql, int n,
                               const char *const *p, db_result_cb cb, void *arg)
{
	return lc->query(lc->owner, sql, n, p, cb, arg);
}

enum rec_op_kind {
	REC_OP_PULL,        /* a listed remote matched to a linked link */
	REC_OP_ADOPT_TOKEN, /* a listed remote carrying a 'creating' link's token */
	REC_OP_PUSH,        /* a linked item whose ledger version moved */
	REC_OP_ADOPT_REF,   /* an item's reference ticket becomes its managed link */
	REC_OP_CREATE,      /* a new ticket (intent recorded first) */
	REC_OP_RECOVER,     /* a link left 'creating' that the listing did not show:
	                       find_by_token, then adopt or create again */
};

enum rec_op_state {
	REC_OP_NEW = 0,
	REC_OP_WAIT_SLOT,   /* queued for a tracker slot (max_inflight) */
	REC_OP_REMOTE,      /* tracker call in flight */
	REC_OP_APPLY,       /* ledger write in flight */
	REC_OP_RELOAD,      /* re-reading the item after a concurrent edit, or its
	                       history (op_read_left) */
	REC_OP_CLAIM,       /* an adopted reference's ticket: is it another
	                       item's already? (REC_SQL_CLAIMED) */
	REC_OP_DONE,
};

enum rec_call {
	REC_CALL_NONE = 0, REC_CALL_FETCH, REC_CALL_UPDATE, REC_CALL_CREATE,
	REC_CALL_FIND,      /* find_by_token */
	REC_CALL_TIMES,     /* fetch_times: the ticket with its field history */
};

struct rec_op {
	struct rec_target *t;
	enum rec_op_kind kind;
	enum rec_op_state state;
	enum rec_call call;         /* the tracker call waiting for / in flight */
	struct rec_row row;
	bool has_remote;
	/* a push proven not to overwrite an unseen tracker edit: the ticket
	 * is as the base says (this pass's fresh listing did not show it, or
	 * a conditional read answered 304) -- no read before the write */
	bool remote_unchanged;
	bool times_read;            /* remote came with its field history
	                               (fetch_times): read at most once */
	bool left_read;             /* the ledger's history asked about the
	                               first decision's conflicts (op_read_left) */
	struct conn_remote remote;  /* latest known remote, tracker identity */
	int64_t remote_ms;          /* its updated_at, 0 when unknown */
	struct item_fields rcanon;  /* remote in canonical form */
	unsigned never_held;        /* first contact (no base): fields the ticket
	                               never held, taken as the ledger's and pushed */
	bool has_mr;
	struct merge_result mr;
	struct json_object *conflicts; /* array of conflict details, or NULL */
	unsigned conflict_mask;
	bool conflicts_written;     /* committed before the tracker write
	                               (REC_SQL_SENDING): not in the apply */
	unsigned held_mask;         /* pushes the planner withheld */
	unsigned pushed_mask;       /* fields of updates the tracker answered
	                               and did not refuse: the ticket holds
	                               what they wrote (op_on_reload) */
	bool refused_dirty;         /* row.refused changed: written with the apply */
	int reloads;
	bool claim_checked;         /* REC_OP_ADOPT_REF: REC_SQL_CLAIMED asked */
	char *claim_key;            /* "group\nremote id" while adopting it, or NULL */
	LIST_ENTRY(rec_op) claim_link; /* in lc->claims while claim_key is set */
	STAILQ_ENTRY(rec_op) wait_link; /* rec_target.wait (sys/queue.h) */
	/* where a tracker answer goes (set by rec_op_start) and where the
	 * outcome of the merge write goes (set before rec_apply_write): the
	 * lower files reach the driver (rec_link.c) only through these */
	conn_item_cb on_answer;
	void (*applied)(struct rec_op *op, const char *err, bool written);
	void (*sent_done)(struct rec_op *op, const char *err); /* rec_send_write */
};

/* Deep copy (dst is freed first). */
void rec_remote_copy(struct conn_remote *dst, const struct conn_remote *src);
struct rec_op *rec_op_new(struct rec_target *t, enum rec_op_kind kind);
/* Free an op that was never started. */
void rec_op_discard(struct rec_op *op);
/* Run the op to its end; t->active counts it until it is done (it may end
 * before this returns, e.g. an echo or a dry run). */
void rec_op_start(struct rec_op *op);

/* ---- one (connector, target) pass and one connector cycle ---- */

struct rec_page {
	struct conn_remote *items;
	size_t n;
	STAILQ_ENTRY(rec_page) link; /* rec_target.pages */
};

/* A pass's stages (rec_pass.c; pass_enter is the one function that
 * changes them). */
enum rec_pass_state {
	REC_PASS_NEW = 0,
	REC_PASS_CURSOR,        /* sync_cursor + links left 'creating' -> since / etag */
	REC_PASS_LISTING,       /* list_changed page by page; one SELECT per page */
	REC_PASS_PUSH_SELECT,   /* one SELECT of what the tracker must take */
	REC_PASS_PUSH_OPS,
	REC_PASS_CREATES,       /* per batch of 100: intents, then the creates */
	REC_PASS_CURSOR_WRITE,  /* only when it changed */
	REC_PASS_END,           /* summary line, then rec_target.ended */
};

/* What a pass takes from its cycle (borrowed; outlives the pass). */
struct rec_pass_params {
	bool push_only;
	bool links_only;   /* its links only (pushes, a lost create's recovery):
	                      no create or adoption (a target no longer
	                      configured, reconcile.c on_stranded) */
	int overlap_s;                /* listing overlap (cfg overlap) */
	const char *def_conn, *def_target; /* configured default route */
	const char *type;             /* the connector's type name */
	/* references that name no target of the connector (connector.h
	 * ref_table, ref_host; NULL: none), whether it is the only connector
	 * of its type (it takes bare numbers), and the target adopted
	 * records are kept under for items routed elsewhere */
	const char *ref_table, *ref_host, *ref_home;
	bool ref_only;
};

struct rec_target {
	const struct rec_link_ctx *lc;   /* for rec_link.c and rec_pass.c */
	const struct rec_pass_params *pp;
	enum rec_pass_state state;
	void (*drained)(struct rec_target *t); /* active fell to 0 (rec_pass.c) */
	/* the pass reached REC_PASS_END: its cycle takes the figures and frees
	 * it (rec_pass_free); set by the cycle (reconcile.c) */
	void (*ended)(struct rec_target *t);
	int fails;                  /* failures of the pass, counted as the cycle's errors */
	struct rec_op **now;        /* push-pass ops to start */
	size_t n_now;
	char *target;
	uint64_t t0_ns;
	uint64_t pulled, pushed_fields, created, adopted, conflicts, broken;
	uint64_t ledger_writes, link_errors, refused, recover_waiting;
	uint64_t refused_creates;   /* creates the tracker refused (CONN_INVALID) */
	uint64_t discovered;        /* tickets adopted by discovery (rec_discover.c) */
	char *disc_team;            /* the discovery rule's team, NULL: the route's */
	uint64_t creates_deferred;  /* creates left for a later cycle: no room in
	                               the connector's creation budget */
	int errors;
	bool stop_rate, stop_auth;
	int64_t retry_after_ms;
	/* cursor as loaded */
	bool has_cursor;
	int64_t cursor_ms;
	char *cursor_etag;
	bool cursor_had_error;
	long long n_creating;
	bool has_min_intent;
	int64_t min_intent_ms;
	int64_t board_stored;       /* discover_board.version (0: none stored) */
	struct rec_board *board;    /* the board the listing read, to store
	                               (rec_board.c) */
	/* listing */
	int64_t list_start_ms;      /* when list_changed was called */
	bool list_recovery;         /* it went back to the oldest create intent */
	bool list_done, list_failed, list_not_modified;
	bool list_moved;              /* the listing answered "moved" (a renamed
	                                 repository): the push pass still runs,
	                                 and its first push follows the redirect
	                                 and re-points the target's links */
	char *renamed_to;             /* the listing followed the target's new
	                                 name (conn_result.moved_to): its links
	                                 are re-pointed there this pass */
	bool rename_pending;          /* ... that statement not sent yet */
	char *list_etag;              /* the last page's conn_page.etag */
	char *list_error;
	bool has_max_seen, has_min_fail;
	int64_t max_seen_ms, min_fail_ms;
	STAILQ_HEAD(, rec_page) pages; /* listed pages not yet worked, FIFO */
	struct rec_page *page_cur;  /* the page whose links are being read */
	bool page_busy;             /* page_cur or its ops are in progress */
	/* ops */
	size_t active;
	int remote_inflight;
	STAILQ_HEAD(, rec_op) wait;  /* ops waiting for a tracker slot, FIFO */
	/* creates waiting for their intent rows */
	struct rec_op **creates;
	size_t n_creates, create_pos, chunk_len;
	/* create calls issued or waiting for a slot, and the successful ones
	 * waiting for their ledger write (one statement per batch, rec_link.c) */
	int creates_out;
	struct rec_created_batch *created_wait;
	/* tracker calls of t's ops that were started and whose answer has
	 * not been handled yet (rec_op.c counts one up when the connector
	 * took the call, rec_link.c down once its answer was worked): while
	 * one is out, another op's ledger write may still join the batch */
	int calls_out;
	/* merge writes waiting to go as one statement (rec_apply.c): those
	 * of a page's ops started while apply_hold > 0, and those that follow
	 * a tracker answer while calls_out > 0 */
	int apply_hold;
	struct rec_apply_batch *apply_wait;
	/* what the updates of ops started while apply_hold > 0 send, waiting
	 * to be committed as one statement at the release (rec_apply.c) */
	struct rec_send_batch *send_wait;
};

/* The ledger write of one op (closeloop_rec_apply's 14 arguments). */
enum { REC_APPLY_NARGS = 15 };
struct rec_apply_args {
	char id[24], ver[24];
	char *pull, *base, *conf, *refused;
	const char *p[REC_APPLY_NARGS];
};

/* The merge write of op (rec_apply.c): a place in the target's batch
 * while its target holds (hold/release nest: a listed page's ops being
 * started) or while a tracker call of the target is out (t->calls_out:
 * the pushes of a pass, whose tracker writes the connector's paced queue
 * lets go one at a time, and answers one by one); else one statement of
 * its own.  The batch is sent when it is full (100 writes), when no hold
 * and no call is left to add to it, or at the first of those moments
 * after its oldest write has waited REC_APPLY_WAIT_MS: the pulls of one
 * listed page, and the pushes of one pass, cost one statement.  A batch
 * of one goes as the single statement.  If the batch statement fails,
 * each op's write is sent again alone, so one bad row costs only itself.
 * The outcome goes to op->applied: err, or written false when the item
 * changed since it was read (the op re-reads and merges again). */
void rec_apply_write(struct rec_op *op);
void rec_apply_hold(struct rec_target *t);
void rec_apply_release(struct rec_target *t);
/* A tracker answer of t was worked and t->calls_out counted down: send
 * the waiting batch if nothing can join it any more or it waited long
 * enough (above). */
void rec_apply_flush_maybe(struct rec_target *t);
/* Commit what op's update will send and its conflicts before the update
 * goes out (REC_SQL_SENDING; rec_link.c op_before_update): sent, a JSON
 * object {field: value}, and conflicts, a JSON array (may be "[]").
 * While the target holds (the ops of a listed page or of a push pass
 * being started), a place in one statement for them all, sent at the
 * release; else a statement of its own.  If the batch statement fails,
 * each is sent again alone.  The outcome goes to op->sent_done: err or
 * NULL. */
void rec_send_write(struct rec_op *op, const char *sent, const char *conflicts);

/* ---- the op core (rec_op.c) ---- */

/* The engine's view of op (dry run, stopping, plan output). */
const struct rec_engine_view *rec_op_engine(const struct rec_op *op);
/* The one place an op changes state; aborts on an impossible transition. */
void rec_op_set_state(struct rec_op *op, enum rec_op_state next);
/* Last thing done with an op: frees it; it may end the target's stage. */
void rec_op_finish(struct rec_op *op);
/* The ticket's key ("acme/payments#12"), or NULL before it exists;
 * rec_op_key falls back to the target. */
const char *rec_op_ticket(const struct rec_op *op);
const char *rec_op_key(const struct rec_op *op);
/* The dry-run plan lines of a decided op (plan_out). */
void rec_op_plan(const struct rec_op *op);
/* A ledger write other than the merge (n parameters p); ends the op. */
void rec_op_write(struct rec_op *op, const char *sql, int n, const char *const *p);
/* A failure on this link: logged, counted, noted on the link (count =
 * false for an unknown outcome, which is not the link's fault); ends the op. */
void rec_op_link_error(struct rec_op *op, const char *what, const char *msg, bool count);
/* The ticket is gone or moved away: the link becomes broken; ends the op. */
void rec_op_broken(struct rec_op *op, const char *reason, const char *msg);
/* An adopted reference's ticket (op->remote) is already item other_item's,
 * linked in other_target of connector other_conn (this one, or one
 * sharing its tickets' ids: lc->claim_peers): one ticket is one item's, so
 * the reference becomes broken ('claimed', an item_event; last_error and
 * a warning name both items, the ticket, the connector and the target),
 * and nothing is written to the ticket; ends the op. */
void rec_op_claimed(struct rec_op *op, const char *other_item, const char *other_target,
                    const char *other_conn);
/* A first create (REC_OP_CREATE) that never reached the tracker
 * (conn_result.unsent, or stopped before it was sent): its intent is
 * given back -- the 'creating' link deleted, the item again one with no
 * ticket -- so a later cycle records a new intent and creates it, with no
 * recovery listing or token search.  Returns true when it took (and
 * ends) the op; false (op untouched) for any other op, a dry run or a
 * lost lock.  A recovery's create keeps its link: an earlier send of
 * that token may still show up. */
bool rec_op_release_intent(struct rec_op *op);
/* Writes (create, update) go to the connector's paced queue, not gated. */
bool rec_call_paced(enum rec_call call);
/* Make tracker call `call` for op (answer to op->on_answer), or queue it
 * for a read slot; a stopped pass or a lost lock ends the op instead.
 * Returns 0, or a negative errno when the call did not start (the op was
 * ended with a link error: the caller may need rec_created_flush_maybe). */
int rec_op_call(struct rec_op *op, enum rec_call call);
/* Room for one more token search of lc's connector now (now_ms): taken
 * (noted as sent) and true, or false while the minute's searches are
 * spent or a search rate limit lasts. */
bool rec_search_take(const struct rec_link_ctx *lc, int64_t now_ms);
/* A token search was answered with the search's rate limit: no search
 * before retry_after_ms from now (at least a minute). */
void rec_search_block(const struct rec_link_ctx *lc, int64_t now_ms, int64_t retry_after_ms);
/* A read slot of t is free: start the next waiting reads. */
void rec_op_slot_release(struct rec_target *t);
/* f as the base stores it: no owner when the ticket holds none (see
 * rec_op.c).  out is initialised here. */
void rec_op_base_as_held(const struct rec_op *op, const struct item_fields *f,
                         struct item_fields *out);

/* One log line about op with its connector, target, item and ticket as
 * fields (log.h). */
#define op_log(lvl, op, ...) \
	log_with((lvl), (&(struct log_ctx){ .connector = (op)->t->lc->name, \
		.target = (op)->t->target, .item = (op)->row.item_id, .ticket = rec_op_ticket(op) }), \
		__VA_ARGS__)

/* ---- creates and their recovery (rec_create.c) ---- */

/* A create answered with its ticket: the link joins the target's batch of
 * created links (one ledger statement per REC_CREATED_BATCH). */
void rec_op_created(struct rec_op *op);
/* Write the batch when it is full or no create of t is out any more. */
void rec_created_flush_maybe(struct rec_target *t);
/* A create answered from another repository (CONN_MOVED: its repository
 * renamed, the POST sent again under the new name): the target's links,
 * this 'creating' one with its token and intent among them, are
 * re-pointed to the new name first, then the link joins the batch. */
void rec_op_create_moved(struct rec_op *op);
/* A link left 'creating' the listing did not show: adopt by token, create
 * again when proven absent, or wait for create_min_age. */
void rec_op_recover(struct rec_op *op);

/* ---- answers other than success (rec_answer.c) ---- */

/* The fields res->refused_mask refused: held on the link with the reason. */
void rec_op_note_refused(struct rec_op *op, const struct conn_result *res);
/* A failed call: rate limit, credentials, gone, unknown, refused. */
void rec_op_remote_failed(struct rec_op *op, const struct conn_result *res);
/* The ticket answered from another place (CONN_MOVED with remote r). */
void rec_op_moved(struct rec_op *op, const struct conn_result *res, const struct conn_remote *r);
/* REC_SQL_REPO_RENAMED answered (res, or err): the operator is told the
 * target old was renamed to new_name on the tracker and to update the
 * routing.  Returns false on err (logged). */
bool rec_renamed_log(const struct rec_link_ctx *lc, const char *old, const char *new_name,
                     const PGresult *res, const char *err);

/* An op is done: release it (rec_op.c; calls t->drained at zero). */
void rec_target_op_done(struct rec_target *t);
/* A remote ticket (updated_at remote_ms; <= 0: none) could not be worked:
 * keep the cursor before it so the next listing sees it again. */
void rec_target_pin(struct rec_target *t, int64_t remote_ms);

/* The engine, as the drivers below it see it. */
struct rec_engine_view {
	struct db *db;
	bool dry_run;
	FILE *plan_out;
	bool stopping;      /* rec_engine_stop was called */
	bool cancelled;     /* ... and its time-out passed: start no tracker call */
};

/* ---- one (connector, target) pass (rec_pass.c) ----
 *
 * The cycle (reconcile.c) makes a pass per target and starts it; the pass
 * runs its own stages and reports its end through t->ended.  The pass never
 * calls the cycle: reconcile.c -> rec_pass.c -> rec_link.c. */

/* A new pass over target (copied) of the connector lc serves. */
struct rec_target *rec_pass_new(const struct rec_link_ctx *lc, const struct rec_pass_params *pp,
                                const char *target, void (*ended)(struct rec_target *t));
/* Run it: CURSOR (LISTING, ...) or, push-only, PUSH_SELECT; ended is
 * called once at the end (possibly before this returns). */
void rec_pass_start(struct rec_target *t);
/* Free an ended pass (from its ended callback). */
void rec_pass_free(struct rec_target *t);

/* ---- discovery (rec_discover.c) ---- */

/* Hand the discovery rules of cc (NULL: none) to its connector
 * (connector_set_discover); called at every cycle's start. */
void rec_disc_configure(struct connector *c, const struct cfg_connector *cc);
/* The team of cc's rule for target, or NULL. */
const char *rec_disc_team(const struct cfg_connector *cc, const char *target);
/* One page's discovery work for pass t. */
struct rec_disc;
struct rec_disc *rec_disc_new(struct rec_target *t);
/* Note listed ticket r, which the page matched as m to a link; for a
 * PULL, whether that link was born by discovery and whether its ticket
 * had left the rule (REC_SQL_PAGE_DISCOVER_COL).  A MATCH no link knows
 * (and carrying no create token) is to be adopted; a discovered link's
 * NO_MATCH leaves, its MATCH comes back; anything else is ignored. */
void rec_disc_note(struct rec_disc *d, const struct conn_remote *r, enum rec_match m,
                   bool linked_discovered, bool linked_left);
/* Send d's work as one statement (none when there is nothing), counted
 * in t->active until it is answered; team: the rule's team (NULL: the
 * route's).  A dry run prints what it would do and writes nothing.
 * Frees d. */
void rec_disc_send(struct rec_disc *d, const char *team);

/* ---- the board of a discovery rule, kept in the ledger (rec_board.c) ---- */

struct rec_board;
/* Before t's listing: when the connector's copy of t's board is not the
 * ledger's version t->board_stored (conn_ops.board_version), read the
 * stored board and give it to the connector (board_set; none stored: it
 * forgets its copy), then call next, ok false when the ledger could not
 * be reached.  Returns false when there was nothing to read (next is not
 * called). */
bool rec_board_load(struct rec_target *t, void (*next)(struct rec_target *t, bool ok));
/* From the listing's last page (conn_page.board): keep a copy to store. */
void rec_board_keep(struct rec_target *t, const struct conn_board *b);
/* Before the cursor write, with the board rec_board_keep kept: store it
 * (store true: one statement, then board_set with the new version, then
 * next) or make the connector forget its copy (store false: the pass did
 * not finish its work).  Returns false when next is not called (nothing
 * kept, or not stored). */
bool rec_board_save(struct rec_target *t, bool store, void (*next)(struct rec_target *t, bool ok));
void rec_board_free(struct rec_board *rb);

/* ---- SQL (rec_sql.c) ---- */

extern const char REC_SQL_LOCK[];        /* $1 connector name -> bool */
extern const char REC_SQL_IDMAP[];       /* $1 person column -> handle, ident */
extern const char REC_SQL_STRANDED[];    /* $1 connector $2 its targets[] */
extern const char REC_SQL_UNROUTED[];    /* $1 conns[] $2 targets[] $3 def conn $4 def target */
extern const char REC_SQL_CURSOR[];      /* $1 conn $2 target */
extern const char REC_SQL_BOARD_READ[];  /* $1 conn $2 target -> board, one row a member */
extern const char REC_SQL_BOARD_SAVE[];  /* see rec_sql.c -> version */
extern const char REC_SQL_PAGE[];        /* $1 conn $2 remote_ids[] $3 tokens[] */
extern const char REC_SQL_RELOAD[];      /* $1 link id */
extern const int REC_SQL_PAGE_DISCOVER_COL; /* REC_SQL_PAGE: the link's discovery */
extern const char REC_SQL_DISCOVER[];    /* see rec_sql.c */
extern const char REC_SQL_PUSH_PROBE[];  /* REC_SQL_PUSH's parameters -> a row if any */
extern const char REC_SQL_PUSH[];        /* see rec_sql.c */
extern const char REC_SQL_INTENTS[];     /* $1 conn $2 target $3 item ids[] */
extern const char REC_SQL_APPLY[];
extern const char REC_SQL_APPLY_BATCH[]; /* $1 jsonb array of writes $2 source -> one row each */
extern const char REC_SQL_CREATED_BATCH[]; /* $1 jsonb array $2 source -> link, error */
extern const char REC_SQL_BROKEN[];
extern const char REC_SQL_CLAIMED[];     /* $1 conns[] $2 remote id $3 link -> item, target, conn */
extern const char REC_SQL_LINK_ERROR[];
extern const char REC_SQL_INTENT_RELEASE[];
extern const char REC_SQL_LINK_REFUSED[];
extern const char REC_SQL_SENDING[];      /* $1 link $2 sent $3 conflicts $4 source */
extern const char REC_SQL_SENDING_BATCH[]; /* $1 [{link, sent, conflicts}] $2 source */
extern const char REC_SQL_LEDGER_LEFT[];  /* $1 item $2 fields $3 since (ms) */
extern const char REC_SQL_DUPLICATE[];
extern const char REC_SQL_LINK_MOVED[];
extern const char REC_SQL_REPO_RENAMED[];
extern const char REC_SQL_CURSOR_WRITE[];
extern const char REC_SQL_CURSOR_ERROR[];

#endif
