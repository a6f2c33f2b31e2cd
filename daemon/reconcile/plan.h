/* plan.h — the pure half of reconcile (docs/reconcile.md "Planner and
 * driver"): given one link's ledger values, base snapshot and remote
 * ticket (canonical), the connector type's field capabilities and the
 * link's recorded refusals, decide the field-level plan.  No I/O, no
 * clock, no database: the driver (rec_link.c, rec_pass.c, reconcile.c)
 * reads and writes, and calls the planner; the planner never calls back.
 *
 * On top of the three-way merge (merge.h) the planner applies what the
 * tracker can do (connector.h, struct conn_type):
 *   - a field the tracker does not store (no CONN_CAP_NATIVE) never
 *     differs on the remote side and is never pushed;
 *   - a lossy field (CONN_CAP_LOSSY) is compared after the type's
 *     normaliser: a remote value equal to the normalised ledger (or base)
 *     value is the ledger (base) value, so a round trip through the
 *     tracker's format is not a change and never reaches the ledger;
 *   - a field closeloop may not write (no CONN_CAP_WRITABLE), or whose
 *     current ledger value the tracker refused less than the back-off ago,
 *     is held: not pushed, the ledger keeps its value, the base records
 *     the tracker's value (so a later tracker edit is still seen).
 */
#ifndef CLOSELOOP_PLAN_H
#define CLOSELOOP_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include "config.h"
#include "connector.h"
#include "item.h"
#include "merge.h"

/* One refused field of a link (sql/005: external_link.refused). */
struct rec_refusal {
	bool set;
	char *value;       /* the ledger value the tracker refused (NULL = none) */
	char *reason;      /* the tracker's reason */
	int64_t at_ms;     /* when (ms since the epoch, UTC) */
	int64_t retry_ms;  /* not pushed again before this, unless the value changes */
	int64_t since_ms;  /* the first refusal of this value in an unbroken run */
	int count;         /* refusals of this value in a row (1 = the first); the
	                      link_broken flag reads it (sql/033) */
	bool lapsed;       /* back-off expired: out of the column (set false), the
	                      value and run kept so that a refusal of the same
	                      value in the same pass continues the run */
};

struct rec_refusals {
	struct rec_refusal f[ITEM_F__COUNT];
};

void rec_refusals_free(struct rec_refusals *r);
/* From external_link.refused ({"owner": {"value", "reason", "at_ms",
 * "retry_ms", "since_ms", "count"}, ...}; NULL text = none; a record
 * without since_ms/count, written before sql/033, reads as the first
 * refusal at at_ms).  Returns 0 or -EINVAL. */
int rec_refusals_parse(struct rec_refusals *r, const char *json) MUST_CHECK;
/* JSON text for the column; "{}" when none.  Caller frees. */
char *rec_refusals_json(const struct rec_refusals *r);
/* Record that the tracker refused value of field f at now_ms; back-off
 * backoff_ms.  The same value refused again (held, or lapsed in this
 * pass) continues its run: since_ms kept, count + 1; another value
 * starts a new run (count 1). */
void rec_refusals_add(struct rec_refusals *r, enum item_field f, const char *value,
                      const char *reason, int64_t now_ms, int64_t backoff_ms);

struct rec_plan_in {
	const struct item_fields *ledger;
	const struct item_fields *base;    /* NULL: no base (first link) */
	const struct item_fields *remote;  /* canonical (owner mapped) */
	const enum cfg_policy *policy;     /* [ITEM_F__COUNT] */
	int64_t ledger_ms, remote_ms;      /* last change of each side */
	const int64_t *ledger_field_ms;    /* [ITEM_F__COUNT] when each ledger value
	                                      was set at its source (0: unknown,
	                                      ledger_ms is used); may be NULL */
	const int64_t *remote_field_ms;    /* [ITEM_F__COUNT] when each of the
	                                      ticket's values was set, from the
	                                      tracker's field history
	                                      (conn_remote.field_ms; 0: unknown,
	                                      remote_ms is used); may be NULL */
	const struct conn_type *ctype;     /* capabilities and normaliser */
	const struct rec_refusals *refused; /* may be NULL */
	int64_t now_ms;                    /* for refusal back-offs */
	/* external_link.unconfirmed (sql/045): the values failed updates sent
	 * (their fields in unconfirmed_mask; unconfirmed may be NULL when the
	 * mask is 0).  A ticket value equal to the one sent, not to the base,
	 * is closeloop's own write whose answer was lost: the merge takes it
	 * as the base, so it is no change on the tracker's side. */
	const struct item_fields *unconfirmed;
	unsigned unconfirmed_mask;
};

struct rec_plan {
	struct item_fields remote;   /* the remote as the merge saw it */
	struct merge_result mr;      /* pull_mask / push_mask / conflicts */
	unsigned held_mask;          /* pushes withheld (not writable, refused) */
};

/* The remote values as compared: not-native fields take the ledger value,
 * lossy fields that only differ by the round trip take the ledger (or
 * base) value.  out is replaced. */
void rec_plan_remote(const struct rec_plan_in *in, struct item_fields *out);

/* Decide the plan for one link.  out must be freed with rec_plan_free. */
void rec_plan_item(const struct rec_plan_in *in, struct rec_plan *out);
void rec_plan_free(struct rec_plan *p);

/* Drop the refusals whose ledger value changed (the new value may be
 * tried; the run ends) or whose back-off expired (lapsed: the value is
 * tried again and its run goes on if it is refused again in this pass).
 * Returns true when r's column text changed. */
bool rec_refusals_prune(struct rec_refusals *r, const struct item_fields *ledger,
                        int64_t now_ms);

/* ---- which work a listed ticket or a ledger row is ---- */

/* A managed link as the matching sees it (strings may be NULL). */
struct rec_link_key {
	const char *state;      /* "creating", "linked", "broken" */
	const char *token;      /* create token */
	const char *remote_id;
};

enum rec_match {
	REC_MATCH_NONE = 0,  /* no link knows the ticket (a stray token is logged) */
	REC_MATCH_PULL,      /* its linked link: merge (pull / push) */
	REC_MATCH_ADOPT,     /* carries a 'creating' link's token: adopt */
	REC_MATCH_IGNORE,    /* a broken link's ticket, a token already adopted,
	                        or a link matched earlier on the same page */
	REC_MATCH_DUPLICATE, /* a second ticket carrying the token of a link
	                        already linked to another ticket: a duplicate
	                        that slipped through, flagged on the item */
};

/* Match listed ticket r to links[0..n) by stable remote id, else by
 * create token.  used[i] marks links already matched on this page (may be
 * NULL).  *hit = the link's index for PULL and ADOPT. */
enum rec_match rec_plan_match(const struct conn_remote *r, const struct rec_link_key *links,
                              size_t n, const bool *used, size_t *hit);

enum rec_route {
	REC_ROUTE_SKIP = 0,  /* nothing to do (its reference ticket is gone) */
	REC_ROUTE_PUSH,      /* a linked item whose ledger version moved */
	REC_ROUTE_RECOVER,   /* a link left 'creating' the listing did not show */
	REC_ROUTE_ADOPT_REF, /* an item's reference ticket becomes its managed link */
	REC_ROUTE_CREATE,    /* a new ticket */
};

/* What a row of the push selection is: link state (NULL: no managed link)
 * and, for items with none, the state of a reference ticket in the target
 * (NULL: none). */
enum rec_route rec_plan_route(const char *link_state, const char *ref_state);

#endif
