/* merge.h — the per-field three-way merge at the heart of reconcile
 * (docs/architecture.md "Reconcile").  Pure: no I/O, fully unit-tested.
 *
 * For each field, with L = ledger, B = base snapshot (what both sides last
 * agreed on), R = remote (canonical, owner already mapped to a handle):
 *   L == R            -> nothing (base becomes L)
 *   L == B, R != B    -> pull: the ledger takes R
 *   R == B, L != B    -> push: the tracker takes L
 *   L != B, R != B    -> conflict, resolved by the field's policy:
 *                          remote_wins -> pull, ledger_wins -> push,
 *                          newest_wins -> the side with the later change
 *                          time stamp (ties go to the remote, whose users
 *                          are the people doing the work); the ledger's
 *                          time is per field and, for a value pulled from
 *                          another tracker, that tracker's (merge_item_at)
 * With no base (a first link to a ticket that already existed) every
 * differing field is a conflict resolved by policy.
 */
#ifndef CLOSELOOP_MERGE_H
#define CLOSELOOP_MERGE_H

#include <stdint.h>
#include "config.h"
#include "item.h"

enum merge_action {
	MERGE_SAME = 0,      /* equal on both sides */
	MERGE_PULL,          /* remote changed: ledger takes it */
	MERGE_PUSH,          /* ledger changed: tracker takes it */
	MERGE_CONFLICT_PULL, /* both changed, policy chose the remote value */
	MERGE_CONFLICT_PUSH, /* both changed, policy chose the ledger value */
};
const char *merge_action_name(enum merge_action a);

struct merge_result {
	enum merge_action action[ITEM_F__COUNT];
	struct item_fields merged;   /* the value both sides will hold */
	unsigned pull_mask;          /* fields the ledger must take */
	unsigned push_mask;          /* fields the tracker must take */
	unsigned conflict_mask;      /* fields that were conflicts */
};

/* base may be NULL.  ledger_changed_ms / remote_changed_ms are ms since the
 * epoch (UTC) of each side's last change, used by newest_wins only.
 * out must be freed with merge_result_free. */
void merge_item(const struct item_fields *ledger, const struct item_fields *base,
                const struct item_fields *remote, const enum cfg_policy policy[ITEM_F__COUNT],
                int64_t ledger_changed_ms, int64_t remote_changed_ms,
                struct merge_result *out);
/* merge_item with each side's change time per field: ledger_field_ms[f]
 * is when the ledger's value of f was set at its source (for a value
 * pulled from a tracker, that tracker's change time), remote_field_ms[f]
 * when the ticket's value of f was set (the tracker's own field history,
 * e.g. the Jira changelog; else the ticket's updated-at); ms since the
 * epoch, UTC.  So newest_wins compares the trackers' own change times of
 * that field, not when the ledger learned them, nor a later edit of
 * another field of the ticket. */
void merge_item_at(const struct item_fields *ledger, const struct item_fields *base,
                   const struct item_fields *remote, const enum cfg_policy policy[ITEM_F__COUNT],
                   const int64_t ledger_field_ms[ITEM_F__COUNT],
                   const int64_t remote_field_ms[ITEM_F__COUNT], struct merge_result *out);
void merge_result_free(struct merge_result *r);

#endif
