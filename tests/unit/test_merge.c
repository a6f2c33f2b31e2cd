/* test_merge.c — every branch of the three-way merge (daemon/reconcile/merge.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "merge.h"

struct fx {
	struct item_fields l, b, r;
	enum cfg_policy pol[ITEM_F__COUNT];
	struct merge_result m;
};

static void fill(struct item_fields *f)
{
	item_fields_init(f);
	item_fields_set(f, ITEM_F_TITLE, "Add alert on etcd latency");
	item_fields_set(f, ITEM_F_DESCRIPTION, "p99 > 1s for 5m");
	item_fields_set(f, ITEM_F_STATE, "open");
	item_fields_set(f, ITEM_F_PRIORITY, "P2");
	item_fields_set(f, ITEM_F_TYPE, "detect");
	item_fields_set(f, ITEM_F_OWNER, "alice");
	item_fields_set(f, ITEM_F_DUE_DATE, "2026-12-01");
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	fill(&x->l);
	fill(&x->b);
	fill(&x->r);
	for (int i = 0; i < ITEM_F__COUNT; i++)
		x->pol[i] = CFG_POLICY_REMOTE_WINS;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	item_fields_free(&x->l);
	item_fields_free(&x->b);
	item_fields_free(&x->r);
	merge_result_free(&x->m);
	free(x);
	return 0;
}

static void run(struct fx *x, bool with_base, int64_t lms, int64_t rms)
{
	merge_item(&x->l, with_base ? &x->b : NULL, &x->r, x->pol, lms, rms, &x->m);
}

static void test_all_same(void **state)
{
	struct fx *x = *state;
	run(x, true, 0, 0);
	for (int i = 0; i < ITEM_F__COUNT; i++) {
		assert_int_equal(x->m.action[i], MERGE_SAME);
		assert_string_equal(x->m.merged.v[i], x->l.v[i]);
	}
	assert_int_equal(x->m.pull_mask, 0);
	assert_int_equal(x->m.push_mask, 0);
	assert_int_equal(x->m.conflict_mask, 0);
}

static void test_pull(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->r, ITEM_F_STATE, "done");
	run(x, true, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_STATE], MERGE_PULL);
	assert_string_equal(x->m.merged.v[ITEM_F_STATE], "done");
	assert_int_equal(x->m.pull_mask, ITEM_FIELD_BIT(ITEM_F_STATE));
	assert_int_equal(x->m.push_mask, 0);
	assert_int_equal(x->m.conflict_mask, 0);
}

static void test_push(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->l, ITEM_F_PRIORITY, "P0");
	run(x, true, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_PRIORITY], MERGE_PUSH);
	assert_string_equal(x->m.merged.v[ITEM_F_PRIORITY], "P0");
	assert_int_equal(x->m.push_mask, ITEM_FIELD_BIT(ITEM_F_PRIORITY));
	assert_int_equal(x->m.pull_mask, 0);
}

static void test_pull_and_push_different_fields(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->l, ITEM_F_DUE_DATE, "2027-01-15");
	item_fields_set(&x->r, ITEM_F_TITLE, "Alert on etcd fsync latency");
	run(x, true, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_DUE_DATE], MERGE_PUSH);
	assert_int_equal(x->m.action[ITEM_F_TITLE], MERGE_PULL);
	assert_string_equal(x->m.merged.v[ITEM_F_DUE_DATE], "2027-01-15");
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "Alert on etcd fsync latency");
	assert_int_equal(x->m.push_mask, ITEM_FIELD_BIT(ITEM_F_DUE_DATE));
	assert_int_equal(x->m.pull_mask, ITEM_FIELD_BIT(ITEM_F_TITLE));
	assert_int_equal(x->m.conflict_mask, 0);
}

static void test_both_changed_to_same_value(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->l, ITEM_F_STATE, "done");
	item_fields_set(&x->r, ITEM_F_STATE, "done");
	run(x, true, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_STATE], MERGE_SAME);
	assert_string_equal(x->m.merged.v[ITEM_F_STATE], "done");
	assert_int_equal(x->m.pull_mask | x->m.push_mask | x->m.conflict_mask, 0);
}

static void setup_conflict(struct fx *x)
{
	item_fields_set(&x->l, ITEM_F_TITLE, "ledger title");
	item_fields_set(&x->r, ITEM_F_TITLE, "remote title");
}

static void test_conflict_remote_wins(void **state)
{
	struct fx *x = *state;
	setup_conflict(x);
	run(x, true, 2000, 1000);
	assert_int_equal(x->m.action[ITEM_F_TITLE], MERGE_CONFLICT_PULL);
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "remote title");
	assert_int_equal(x->m.conflict_mask, ITEM_FIELD_BIT(ITEM_F_TITLE));
	assert_int_equal(x->m.pull_mask, ITEM_FIELD_BIT(ITEM_F_TITLE));
	assert_int_equal(x->m.push_mask, 0);
}

static void test_conflict_ledger_wins(void **state)
{
	struct fx *x = *state;
	setup_conflict(x);
	x->pol[ITEM_F_TITLE] = CFG_POLICY_LEDGER_WINS;
	run(x, true, 1000, 2000);
	assert_int_equal(x->m.action[ITEM_F_TITLE], MERGE_CONFLICT_PUSH);
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "ledger title");
	assert_int_equal(x->m.conflict_mask, ITEM_FIELD_BIT(ITEM_F_TITLE));
	assert_int_equal(x->m.push_mask, ITEM_FIELD_BIT(ITEM_F_TITLE));
	assert_int_equal(x->m.pull_mask, 0);
}

static void test_conflict_newest_ledger_newer(void **state)
{
	struct fx *x = *state;
	setup_conflict(x);
	x->pol[ITEM_F_TITLE] = CFG_POLICY_NEWEST_WINS;
	run(x, true, 5001, 5000);
	assert_int_equal(x->m.action[ITEM_F_TITLE], MERGE_CONFLICT_PUSH);
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "ledger title");
	assert_int_equal(x->m.push_mask, ITEM_FIELD_BIT(ITEM_F_TITLE));
}

static void test_conflict_newest_remote_newer(void **state)
{
	struct fx *x = *state;
	setup_conflict(x);
	x->pol[ITEM_F_TITLE] = CFG_POLICY_NEWEST_WINS;
	run(x, true, 5000, 5001);
	assert_int_equal(x->m.action[ITEM_F_TITLE], MERGE_CONFLICT_PULL);
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "remote title");
	assert_int_equal(x->m.pull_mask, ITEM_FIELD_BIT(ITEM_F_TITLE));
}

/* Per-field change times (merge_item_at): each field's conflict compares
 * that field's own ledger time, e.g. a title pulled from another tracker
 * at its change time there, an owner set in the ledger later. */
static void test_conflict_newest_per_field_times(void **state)
{
	struct fx *x = *state;
	setup_conflict(x);
	item_fields_set(&x->l, ITEM_F_OWNER, "bob");
	item_fields_set(&x->r, ITEM_F_OWNER, "carol");
	x->pol[ITEM_F_TITLE] = x->pol[ITEM_F_OWNER] = CFG_POLICY_NEWEST_WINS;
	int64_t at[ITEM_F__COUNT] = { 0 };
	at[ITEM_F_TITLE] = 4000;  /* older than the remote's 5000 */
	at[ITEM_F_OWNER] = 6000;  /* newer */
	int64_t rat[ITEM_F__COUNT];
	for (int f = 0; f < ITEM_F__COUNT; f++)
		rat[f] = 5000;
	merge_item_at(&x->l, &x->b, &x->r, x->pol, at, rat, &x->m);
	assert_int_equal(x->m.action[ITEM_F_TITLE], MERGE_CONFLICT_PULL);
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "remote title");
	assert_int_equal(x->m.action[ITEM_F_OWNER], MERGE_CONFLICT_PUSH);
	assert_string_equal(x->m.merged.v[ITEM_F_OWNER], "bob");
	assert_int_equal(x->m.conflict_mask, ITEM_FIELD_BIT(ITEM_F_TITLE) | ITEM_FIELD_BIT(ITEM_F_OWNER));
}

/* The ticket's change time per field (its tracker's field history): the
 * title was changed on the ticket at 3000 and the ticket touched again at
 * 7000 on another field; the ledger's title (4000) is newer than the
 * ticket's title, though older than the ticket. */
static void test_conflict_newest_remote_field_times(void **state)
{
	struct fx *x = *state;
	setup_conflict(x);
	item_fields_set(&x->l, ITEM_F_OWNER, "bob");
	item_fields_set(&x->r, ITEM_F_OWNER, "carol");
	x->pol[ITEM_F_TITLE] = x->pol[ITEM_F_OWNER] = CFG_POLICY_NEWEST_WINS;
	int64_t at[ITEM_F__COUNT], rat[ITEM_F__COUNT];
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		at[f] = 4000;
		rat[f] = 7000;    /* the ticket's updated-at */
	}
	rat[ITEM_F_TITLE] = 3000; /* the title's own change on the ticket */
	merge_item_at(&x->l, &x->b, &x->r, x->pol, at, rat, &x->m);
	assert_int_equal(x->m.action[ITEM_F_TITLE], MERGE_CONFLICT_PUSH);
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "ledger title");
	assert_int_equal(x->m.action[ITEM_F_OWNER], MERGE_CONFLICT_PULL);
	assert_string_equal(x->m.merged.v[ITEM_F_OWNER], "carol");
}

static void test_conflict_newest_tie_goes_remote(void **state)
{
	struct fx *x = *state;
	setup_conflict(x);
	x->pol[ITEM_F_TITLE] = CFG_POLICY_NEWEST_WINS;
	run(x, true, 5000, 5000);
	assert_int_equal(x->m.action[ITEM_F_TITLE], MERGE_CONFLICT_PULL);
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "remote title");
}

static void test_policy_is_per_field(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->l, ITEM_F_DUE_DATE, "2027-01-01");
	item_fields_set(&x->r, ITEM_F_DUE_DATE, "2027-02-01");
	item_fields_set(&x->l, ITEM_F_STATE, "in_progress");
	item_fields_set(&x->r, ITEM_F_STATE, "done");
	x->pol[ITEM_F_DUE_DATE] = CFG_POLICY_LEDGER_WINS;
	run(x, true, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_DUE_DATE], MERGE_CONFLICT_PUSH);
	assert_int_equal(x->m.action[ITEM_F_STATE], MERGE_CONFLICT_PULL);
	assert_string_equal(x->m.merged.v[ITEM_F_DUE_DATE], "2027-01-01");
	assert_string_equal(x->m.merged.v[ITEM_F_STATE], "done");
	assert_int_equal(x->m.conflict_mask,
	                 ITEM_FIELD_BIT(ITEM_F_DUE_DATE) | ITEM_FIELD_BIT(ITEM_F_STATE));
	assert_int_equal(x->m.push_mask, ITEM_FIELD_BIT(ITEM_F_DUE_DATE));
	assert_int_equal(x->m.pull_mask, ITEM_FIELD_BIT(ITEM_F_STATE));
}

static void test_no_base_equal(void **state)
{
	struct fx *x = *state;
	run(x, false, 0, 0);
	for (int i = 0; i < ITEM_F__COUNT; i++)
		assert_int_equal(x->m.action[i], MERGE_SAME);
	assert_int_equal(x->m.pull_mask | x->m.push_mask | x->m.conflict_mask, 0);
}

static void test_no_base_differs_is_conflict(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->r, ITEM_F_PRIORITY, "P1");
	item_fields_set(&x->r, ITEM_F_DUE_DATE, NULL);
	x->pol[ITEM_F_DUE_DATE] = CFG_POLICY_LEDGER_WINS;
	run(x, false, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_PRIORITY], MERGE_CONFLICT_PULL);
	assert_int_equal(x->m.action[ITEM_F_DUE_DATE], MERGE_CONFLICT_PUSH);
	assert_string_equal(x->m.merged.v[ITEM_F_PRIORITY], "P1");
	assert_string_equal(x->m.merged.v[ITEM_F_DUE_DATE], "2026-12-01");
	assert_int_equal(x->m.conflict_mask,
	                 ITEM_FIELD_BIT(ITEM_F_PRIORITY) | ITEM_FIELD_BIT(ITEM_F_DUE_DATE));
	assert_int_equal(x->m.pull_mask, ITEM_FIELD_BIT(ITEM_F_PRIORITY));
	assert_int_equal(x->m.push_mask, ITEM_FIELD_BIT(ITEM_F_DUE_DATE));
}

static void test_no_base_newest(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->r, ITEM_F_OWNER, "bob");
	x->pol[ITEM_F_OWNER] = CFG_POLICY_NEWEST_WINS;
	run(x, false, 9000, 1000);
	assert_int_equal(x->m.action[ITEM_F_OWNER], MERGE_CONFLICT_PUSH);
	assert_string_equal(x->m.merged.v[ITEM_F_OWNER], "alice");
}

static void test_null_vs_empty_distinct(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->b, ITEM_F_DESCRIPTION, NULL);
	item_fields_set(&x->l, ITEM_F_DESCRIPTION, NULL);
	item_fields_set(&x->r, ITEM_F_DESCRIPTION, "");
	run(x, true, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_DESCRIPTION], MERGE_PULL);
	assert_non_null(x->m.merged.v[ITEM_F_DESCRIPTION]);
	assert_string_equal(x->m.merged.v[ITEM_F_DESCRIPTION], "");
}

static void test_pull_to_null(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->r, ITEM_F_OWNER, NULL);
	run(x, true, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_OWNER], MERGE_PULL);
	assert_null(x->m.merged.v[ITEM_F_OWNER]);
	assert_int_equal(x->m.pull_mask, ITEM_FIELD_BIT(ITEM_F_OWNER));
}

static void test_push_from_null(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->b, ITEM_F_DUE_DATE, NULL);
	item_fields_set(&x->r, ITEM_F_DUE_DATE, NULL);
	run(x, true, 0, 0);
	assert_int_equal(x->m.action[ITEM_F_DUE_DATE], MERGE_PUSH);
	assert_string_equal(x->m.merged.v[ITEM_F_DUE_DATE], "2026-12-01");
	assert_int_equal(x->m.push_mask, ITEM_FIELD_BIT(ITEM_F_DUE_DATE));
}

static void test_all_null_same(void **state)
{
	struct fx *x = *state;
	item_fields_free(&x->l);
	item_fields_free(&x->b);
	item_fields_free(&x->r);
	run(x, true, 0, 0);
	for (int i = 0; i < ITEM_F__COUNT; i++) {
		assert_int_equal(x->m.action[i], MERGE_SAME);
		assert_null(x->m.merged.v[i]);
	}
}

static void test_masks_cover_every_field(void **state)
{
	struct fx *x = *state;
	/* ledger changes every field: every field is pushed */
	for (int i = 0; i < ITEM_F__COUNT; i++)
		item_fields_set(&x->l, i, "changed");
	run(x, true, 0, 0);
	assert_int_equal(x->m.push_mask, ITEM_FIELDS_ALL);
	assert_int_equal(x->m.pull_mask, 0);
	assert_int_equal(x->m.conflict_mask, 0);
}

static void test_merged_is_a_copy(void **state)
{
	struct fx *x = *state;
	item_fields_set(&x->r, ITEM_F_TITLE, "remote title");
	run(x, true, 0, 0);
	assert_ptr_not_equal(x->m.merged.v[ITEM_F_TITLE], x->r.v[ITEM_F_TITLE]);
	item_fields_set(&x->r, ITEM_F_TITLE, "gone");
	assert_string_equal(x->m.merged.v[ITEM_F_TITLE], "remote title");
}

static void test_action_names(void **state)
{
	(void)state;
	assert_string_equal(merge_action_name(MERGE_SAME), "same");
	assert_string_equal(merge_action_name(MERGE_PULL), "pull");
	assert_string_equal(merge_action_name(MERGE_PUSH), "push");
	assert_string_equal(merge_action_name(MERGE_CONFLICT_PULL), "conflict_pull");
	assert_string_equal(merge_action_name(MERGE_CONFLICT_PUSH), "conflict_push");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_all_same),
		T(test_pull),
		T(test_push),
		T(test_pull_and_push_different_fields),
		T(test_both_changed_to_same_value),
		T(test_conflict_remote_wins),
		T(test_conflict_ledger_wins),
		T(test_conflict_newest_ledger_newer),
		T(test_conflict_newest_remote_newer),
		T(test_conflict_newest_tie_goes_remote),
		T(test_conflict_newest_per_field_times),
		T(test_conflict_newest_remote_field_times),
		T(test_policy_is_per_field),
		T(test_no_base_equal),
		T(test_no_base_differs_is_conflict),
		T(test_no_base_newest),
		T(test_null_vs_empty_distinct),
		T(test_pull_to_null),
		T(test_push_from_null),
		T(test_all_null_same),
		T(test_masks_cover_every_field),
		T(test_merged_is_a_copy),
		T(test_action_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
