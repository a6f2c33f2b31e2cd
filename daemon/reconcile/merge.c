/* merge.c — the per-field three-way merge (see merge.h).
 *
 * Pure: no I/O, no allocation other than the merged strings.  Equality is
 * str_eq(): two NULLs are equal and NULL differs from "" (an empty
 * description is not the same as no description).
 */
#include "merge.h"

#include <stdlib.h>

const char *merge_action_name(enum merge_action a)
{
	switch (a) {
	case MERGE_SAME: return "same";
	case MERGE_PULL: return "pull";
	case MERGE_PUSH: return "push";
	case MERGE_CONFLICT_PULL: return "conflict_pull";
	case MERGE_CONFLICT_PUSH: return "conflict_push";
	default: abort();
	}
}

/* Which side wins a conflict on one field under policy p. */
static enum merge_action merge_resolve(enum cfg_policy p, int64_t ledger_ms, int64_t remote_ms)
{
	switch (p) {
	case CFG_POLICY_REMOTE_WINS:
		return MERGE_CONFLICT_PULL;
	case CFG_POLICY_LEDGER_WINS:
		return MERGE_CONFLICT_PUSH;
	case CFG_POLICY_NEWEST_WINS:
		/* a tie goes to the remote: its users are the people doing the work */
		return ledger_ms > remote_ms ? MERGE_CONFLICT_PUSH : MERGE_CONFLICT_PULL;
	default:
		abort();
	}
}

static enum merge_action merge_field(const char *l, const char *b, bool has_base, const char *r,
                                     enum cfg_policy p, int64_t ledger_ms, int64_t remote_ms)
{
	if (str_eq(l, r))
		return MERGE_SAME;
	if (has_base && str_eq(l, b))
		return MERGE_PULL;
	if (has_base && str_eq(r, b))
		return MERGE_PUSH;
	return merge_resolve(p, ledger_ms, remote_ms);
}

void merge_item(const struct item_fields *ledger, const struct item_fields *base,
                const struct item_fields *remote, const enum cfg_policy policy[ITEM_F__COUNT],
                int64_t ledger_changed_ms, int64_t remote_changed_ms,
                struct merge_result *out)
{
	int64_t at[ITEM_F__COUNT], rat[ITEM_F__COUNT];
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		at[f] = ledger_changed_ms;
		rat[f] = remote_changed_ms;
	}
	merge_item_at(ledger, base, remote, policy, at, rat, out);
}

void merge_item_at(const struct item_fields *ledger, const struct item_fields *base,
                   const struct item_fields *remote, const enum cfg_policy policy[ITEM_F__COUNT],
                   const int64_t ledger_field_ms[ITEM_F__COUNT],
                   const int64_t remote_field_ms[ITEM_F__COUNT], struct merge_result *out)
{
	item_fields_init(&out->merged);
	out->pull_mask = out->push_mask = out->conflict_mask = 0;
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		const char *l = ledger->v[f], *r = remote->v[f];
		const char *b = base ? base->v[f] : NULL;
		enum merge_action a = merge_field(l, b, base != NULL, r, policy[f],
		                                  ledger_field_ms[f], remote_field_ms[f]);
		unsigned bit = ITEM_FIELD_BIT(f);
		out->action[f] = a;
		switch (a) {
		case MERGE_SAME:
			item_fields_set(&out->merged, f, l);
			break;
		case MERGE_CONFLICT_PULL:
			out->conflict_mask |= bit;
			/* fall through */
		case MERGE_PULL:
			out->pull_mask |= bit;
			item_fields_set(&out->merged, f, r);
			break;
		case MERGE_CONFLICT_PUSH:
			out->conflict_mask |= bit;
			/* fall through */
		case MERGE_PUSH:
			out->push_mask |= bit;
			item_fields_set(&out->merged, f, l);
			break;
		default:
			abort();
		}
	}
}

void merge_result_free(struct merge_result *r)
{
	item_fields_free(&r->merged);
	r->pull_mask = r->push_mask = r->conflict_mask = 0;
}
