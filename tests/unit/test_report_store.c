/* test_report_store.c — stored figures dropped by a late change tell the
 * daemon so (sql/043_report_store_notify.sql), against a real PostgreSQL
 * (CLOSELOOP_TEST_DSN), on the ledger of tests/fixtures/report/ledger.sql
 * (history from 2026Q1; the current quarter is the wall clock's):
 *
 *   - a change dated in 2026Q3 and written now drops the stored figures of
 *     2026Q3 and later ended quarters, keeps 2026Q2's and the current
 *     quarter's snapshot, and NOTIFYs closeloop_report_store 'quarters'
 *     (and 'days' for the stored days of v_overdue_daily) at commit;
 *   - a change dated now, a late change when nothing stored is left to
 *     drop, and the store's own upkeep (a snapshot replaced) NOTIFY nothing;
 *   - a rename drops every stored quarter and day and NOTIFYs both;
 *   - closeloop_report_store_quarters() computes only the ended quarters
 *     not stored (the others keep their key and computed_at) and returns
 *     how many it computed; closeloop_report_store_warm() the same number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "db.h"
#include "pgtest.h"

/* The payloads of the NOTIFYs on closeloop_report_store received by c so
 * far, sorted and joined by ',' ("" for none); the caller frees. */
static char *notified(PGconn *c)
{
	char *all[8];
	size_t n = 0;
	assert_int_equal(PQconsumeInput(c), 1);
	PGnotify *nf;
	while ((nf = PQnotifies(c)) != NULL) {
		if (strcmp(nf->relname, "closeloop_report_store") == 0 && n < 8)
			all[n++] = xstrdup(nf->extra);
		PQfreemem(nf);
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(all[j - 1], all[j]) > 0; j--) {
			char *x = all[j];
			all[j] = all[j - 1];
			all[j - 1] = x;
		}
	struct buf b = { 0 };
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(buf_appendf(&b, "%s%s", i ? "," : "", all[i]), 0);
		free(all[i]);
	}
	char *s = buf_steal(&b);
	return s ? s : xstrdup("");
}

static void late_change(PGconn *c, const char *changed_at, const char *sql)
{
	const char *p[] = { changed_at };
	pgtest_exec(c, "BEGIN", 0, NULL);
	pgtest_exec(c, "SELECT set_config('closeloop.changed_at', $1, true)", 1, p);
	pgtest_exec(c, sql, 0, NULL);
	pgtest_exec(c, "COMMIT", 0, NULL);
}

static const char stored_at[] =
	"SELECT string_agg(quarter || '@' || computed_at, ',' ORDER BY quarter) FROM report_store_key "
	"WHERE kind = 'figures' AND NOT snapshot AND f_platform = '' AND f_team = ''";

static void test_late_change_notifies_and_only_dropped_quarters_are_computed(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportstorenotify", true);
	pgtest_exec_file(t.conn, FIXTURES "/report/ledger.sql");
	long ended = pgtest_long(t.conn, "SELECT count(*) FROM generate_series(timestamptz '2026-01-01', "
	                         "now() - interval '3 months', interval '3 months')", 0, NULL);
	assert_true(ended >= 3); /* 2026Q1..Q3 at least */
	assert_int_equal(pgtest_long(t.conn, "SELECT closeloop_report_store_warm()", 0, NULL), ended);
	/* everything stored: nothing computed again, keys untouched */
	char *before = pgtest_value(t.conn, stored_at, 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT closeloop_report_store_quarters()", 0, NULL), 0);
	char *same = pgtest_value(t.conn, stored_at, 0, NULL);
	assert_string_equal(same, before);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE snapshot", 0, NULL), 1);

	pgtest_exec(t.conn, "LISTEN closeloop_report_store", 0, NULL);
	/* a change dated now drops nothing and says nothing */
	pgtest_exec(t.conn, "UPDATE action_item SET owner = 'zoe' WHERE import_key = 'E'", 0, NULL);
	char *got = notified(t.conn);
	assert_string_equal(got, "");
	free(got);
	/* E closed on 2026-08-20, learned now: 2026Q3 and later ended quarters */
	late_change(t.conn, "2026-08-20 12:00+00", "UPDATE action_item SET state = 'done' WHERE import_key = 'E'");
	got = notified(t.conn);
	assert_string_equal(got, "days,quarters");
	free(got);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE kind = 'figures' "
	                             "AND NOT snapshot AND quarter >= '2026Q3'", 0, NULL), 0);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE kind = 'figures' "
	                             "AND quarter IN ('2026Q1', '2026Q2')", 0, NULL), 2);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE snapshot", 0, NULL), 1);
	/* another late change: nothing stored left to drop, no NOTIFY */
	late_change(t.conn, "2026-09-02 12:00+00", "UPDATE action_item SET owner = 'yan' WHERE import_key = 'E'");
	got = notified(t.conn);
	assert_string_equal(got, "");
	free(got);
	/* stored again: only the dropped quarters computed, the others kept */
	char *kept = pgtest_value(t.conn, "SELECT string_agg(quarter || '@' || computed_at, ',' ORDER BY quarter) "
	                          "FROM report_store_key WHERE kind = 'figures' AND NOT snapshot", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT closeloop_report_store_quarters()", 0, NULL), ended - 2);
	char *after = pgtest_value(t.conn, stored_at, 0, NULL);
	assert_true(strncmp(after, kept, strlen(kept)) == 0);
	/* the store's own upkeep (the snapshot replaced) says nothing */
	got = notified(t.conn);
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(pgtest_long(t.conn, "SELECT closed_done FROM report_figures_store s JOIN "
	                             "report_store_key k ON k.id = s.key_id WHERE k.quarter = '2026Q3' "
	                             "AND k.kind = 'figures' AND s.level = 'platform' AND s.platform = 'payments'",
	                             0, NULL),
	                 pgtest_long(t.conn, "SELECT closed_done FROM closeloop_report_figures('2026Q3') "
	                             "WHERE level = 'platform' AND platform = 'payments'", 0, NULL));
	/* a rename drops every stored quarter and day: NOTIFYs both */
	assert_true(pgtest_long(t.conn, "SELECT closeloop_overdue_daily_fill()", 0, NULL) > 0);
	pgtest_exec(t.conn, "UPDATE team SET name = 'checkout-team' WHERE name = 'checkout'", 0, NULL);
	got = notified(t.conn);
	assert_string_equal(got, "days,quarters");
	free(got);
	free(before);
	free(same);
	free(kept);
	free(after);
	pgtest_drop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_late_change_notifies_and_only_dropped_quarters_are_computed),
	};
	return cmocka_run_group_tests_name("report_store", tests, NULL, NULL);
}
