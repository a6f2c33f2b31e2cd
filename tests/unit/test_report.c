/* test_report.c — the quarterly closure report and the dashboard views
 * (sql/008_report.sql, daemon/report/) against a real PostgreSQL
 * (CLOSELOOP_TEST_DSN), on the ledger of tests/fixtures/report/ledger.sql
 * whose history is built with ordinary updates at chosen times.
 *
 * Expected figures for 2026Q3 (2026-07-01 .. 2026-10-01 UTC), by hand
 * (escalations: one sent for E on 08-15; a failed one for G and one sent
 * for G on 10-02 do not count):
 *   checkout    A closed done 08-10 (due 06-30: late, 131.0 days),
 *               B closed done 09-30 23:58 (due 09-30: on time, 87.6 days),
 *               C due moved 08-01 -> 09-15, closed 09-10 (on time, 62.0),
 *               G closed in Q2, reopened 07-15, open (due 05-01: 153 days
 *               overdue, 214 days old), J opened 08-01, closed 30 s after
 *               the quarter (open and 30 days overdue at its end, 61 old).
 *               opened 3 (B C J), in play 5, closed 3 -> 60.0%,
 *               median 87.6, p90 122.3, open 2 (31-90: J, >180: G).
 *   ledger-team D no owner, no due date, open since 02-01 (242 days),
 *               E due 07-15 open (78 overdue, 108 days old),
 *               F opened 07-02, won't do 08-20 (due 12-31: on time, 49.0).
 *               opened 1, in play 3, closed 1 -> 33.3%.
 *   indexing    H opened 09-20, open (11 days); I opened in Q4.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "db.h"
#include "log.h"
#include "rec_link.h"
#include "report.h"
#include "pgtest.h"

static void load_fixture(PGconn *c)
{
	pgtest_exec_file(c, FIXTURES "/report/ledger.sql");
}

static struct report *load(PGconn *c, const char *quarter, const char *platform, const char *team)
{
	char err[512];
	struct report *r = NULL;
	struct report_query q = { .quarter = quarter, .platform = platform, .team = team };
	if (report_load(c, &q, &r, err, sizeof(err)) < 0)
		fail_msg("report_load: %s", err);
	return r;
}

static const char *fig(const struct report *r, const char *level, const char *platform,
                       const char *team, const char *column)
{
	const struct report_row *row = report_find(&r->trend[REPORT_TREND - 1], level, platform, team);
	if (!row)
		fail_msg("no %s row %s/%s", level, platform ? platform : "-", team ? team : "-");
	int m = report_metric_index(column);
	assert_true(m >= 0);
	return row->v[m] ? row->v[m] : "NULL";
}

/* "column=value ..." for one row, to compare whole rows at once. */
static char *row_text(const struct report *r, const char *level, const char *platform,
                      const char *team, const char *const *columns)
{
	struct buf b = { 0 };
	for (size_t i = 0; columns[i]; i++)
		assert_int_equal(buf_appendf(&b, "%s%s=%s", i ? " " : "", columns[i],
		                             fig(r, level, platform, team, columns[i])), 0);
	return buf_steal(&b);
}

static const char *const headline[] = {
	"opened", "closed_done", "closed_wont_do", "in_play", "closure_rate", "closed_on_time",
	"closed_late", "closed_undated", "median_days_to_close", "p90_days_to_close", "open_end",
	"open_age_0_30", "open_age_31_90", "open_age_91_180", "open_age_over_180", "overdue_end",
	"needs_decision", "ownerless", "undated", "escalations", "postmortems_published",
	"postmortem_items", "postmortem_items_closed", NULL,
};

static void expect_row(const struct report *r, const char *level, const char *platform,
                       const char *team, const char *want)
{
	char *got = row_text(r, level, platform, team, headline);
	assert_string_equal(got, want);
	free(got);
}

static void test_figures_2026q3(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportfig", true);
	load_fixture(t.conn);
	struct report *r = load(t.conn, "2026Q3", NULL, NULL);
	assert_string_equal(r->quarter, "2026Q3");
	assert_string_equal(r->first_day, "2026-07-01");
	assert_string_equal(r->last_day, "2026-09-30");
	assert_true(r->complete);
	assert_null(r->escalations_note); /* sql/012_watch.sql: the escalation table */
	expect_row(r, "team", "payments", "checkout",
		"opened=3 closed_done=3 closed_wont_do=0 in_play=5 closure_rate=0.6000 "
		"closed_on_time=2 closed_late=1 closed_undated=0 median_days_to_close=87.6 "
		"p90_days_to_close=122.3 open_end=2 open_age_0_30=0 open_age_31_90=1 "
		"open_age_91_180=0 open_age_over_180=1 overdue_end=2 needs_decision=1 ownerless=0 "
		"undated=0 escalations=0 postmortems_published=1 postmortem_items=3 "
		"postmortem_items_closed=2");
	expect_row(r, "team", "payments", "ledger-team",
		"opened=1 closed_done=0 closed_wont_do=1 in_play=3 closure_rate=0.3333 "
		"closed_on_time=1 closed_late=0 closed_undated=0 median_days_to_close=49.0 "
		"p90_days_to_close=49.0 open_end=2 open_age_0_30=0 open_age_31_90=0 "
		"open_age_91_180=1 open_age_over_180=1 overdue_end=1 needs_decision=1 ownerless=1 "
		"undated=1 escalations=1 postmortems_published=1 postmortem_items=1 "
		"postmortem_items_closed=1");
	expect_row(r, "platform", "payments", NULL,
		"opened=4 closed_done=3 closed_wont_do=1 in_play=8 closure_rate=0.5000 "
		"closed_on_time=3 closed_late=1 closed_undated=0 median_days_to_close=74.8 "
		"p90_days_to_close=118.0 open_end=4 open_age_0_30=0 open_age_31_90=1 "
		"open_age_91_180=1 open_age_over_180=2 overdue_end=3 needs_decision=2 ownerless=1 "
		"undated=1 escalations=1 postmortems_published=1 postmortem_items=4 "
		"postmortem_items_closed=3");
	expect_row(r, "platform", "search", NULL,
		"opened=1 closed_done=0 closed_wont_do=0 in_play=1 closure_rate=0.0000 "
		"closed_on_time=0 closed_late=0 closed_undated=0 median_days_to_close=NULL "
		"p90_days_to_close=NULL open_end=1 open_age_0_30=1 open_age_31_90=0 "
		"open_age_91_180=0 open_age_over_180=0 overdue_end=0 needs_decision=0 ownerless=0 "
		"undated=0 escalations=0 postmortems_published=1 postmortem_items=1 "
		"postmortem_items_closed=0");
	expect_row(r, "all", NULL, NULL,
		"opened=5 closed_done=3 closed_wont_do=1 in_play=9 closure_rate=0.4444 "
		"closed_on_time=3 closed_late=1 closed_undated=0 median_days_to_close=74.8 "
		"p90_days_to_close=118.0 open_end=5 open_age_0_30=1 open_age_31_90=1 "
		"open_age_91_180=1 open_age_over_180=2 overdue_end=3 needs_decision=2 ownerless=1 "
		"undated=1 escalations=1 postmortems_published=2 postmortem_items=5 "
		"postmortem_items_closed=3");
	/* the trend: four quarters, oldest first */
	assert_string_equal(r->trend_quarter[0], "2025Q4");
	assert_string_equal(r->trend_quarter[2], "2026Q2");
	const struct report_row *q2 = report_find(&r->trend[2], "all", NULL, NULL);
	assert_non_null(q2);
	assert_string_equal(q2->v[report_metric_index("closed_done")], "1"); /* G, 05-20 */
	assert_string_equal(q2->v[report_metric_index("closure_rate")], "0.2500");
	assert_string_equal(q2->v[report_metric_index("closed_late")], "1");
	/* overdue at the end, oldest first, per platform */
	assert_int_equal(r->n_overdue, 3);
	assert_string_equal(r->overdue[0].title, "Load-test the authorisation path");
	assert_int_equal(r->overdue[0].days_overdue, 153);
	assert_string_equal(r->overdue[0].owner, "alice");
	assert_non_null(r->overdue[0].ticket_url);
	assert_string_equal(r->overdue[1].title, "Document the ledger failover runbook");
	assert_int_equal(r->overdue[1].days_overdue, 78);
	assert_null(r->overdue[1].ticket_url);
	assert_int_equal(r->overdue[2].days_overdue, 30);
	/* postmortems published in the quarter */
	assert_int_equal(r->n_postmortems, 2);
	assert_string_equal(r->postmortems[0].reference, "PM-2");
	assert_int_equal(r->postmortems[0].items, 4);
	assert_int_equal(r->postmortems[0].items_closed, 3);
	assert_string_equal(r->postmortems[1].reference, "PM-3");
	report_free(r);
	pgtest_drop(&t);
}

static char *render(const struct report *r, enum report_format fmt)
{
	char *data = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&data, &len);
	assert_non_null(f);
	assert_int_equal(report_write(r, fmt, f), 0);
	assert_int_equal(fclose(f), 0);
	return data;
}

/* Editing items today (due date, owner, state, title, team) changes the
 * current quarter's figures and not one byte of 2026Q3's. */
static void test_point_in_time(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportpit", true);
	load_fixture(t.conn);
	struct report *before = load(t.conn, "2026Q3", NULL, NULL);
	char *csv_before = render(before, REPORT_CSV);
	pgtest_exec(t.conn, "UPDATE action_item SET due_date = '2026-09-01' WHERE import_key = 'C'", 0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET owner = 'frank', due_date = '2027-03-01' "
	            "WHERE import_key = 'D'", 0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET state = 'done' WHERE import_key IN ('E', 'G')", 0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET state = 'open' WHERE import_key = 'A'", 0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET title = 'Renamed', "
	            "team_id = (SELECT id FROM team WHERE name = 'indexing') WHERE import_key = 'B'", 0, NULL);
	struct report *after = load(t.conn, "2026Q3", NULL, NULL);
	char *csv_after = render(after, REPORT_CSV);
	assert_string_equal(csv_after, csv_before);
	assert_string_equal(after->overdue[1].title, "Document the ledger failover runbook");
	/* the first load stored 2026Q3's figures (sql/019): computed again
	 * from item_event, after the edits, they are still the same bytes */
	assert_true(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE quarter = '2026Q3'",
	                        0, NULL) == 3);
	pgtest_exec(t.conn, "DELETE FROM report_store_key", 0, NULL);
	struct report *live = load(t.conn, "2026Q3", NULL, NULL);
	char *csv_live = render(live, REPORT_CSV);
	assert_string_equal(csv_live, csv_before);
	free(csv_live);
	report_free(live);
	/* the current quarter sees today's edits */
	char err[256];
	PGresult *res = db_sync_exec(t.conn,
		"SELECT closed_done, ownerless, closeloop_quarter_of(now()) FROM closeloop_report_figures("
		" closeloop_quarter_of(now()), 'payments', NULL) WHERE level = 'platform'", 0, NULL,
		err, sizeof(err));
	assert_non_null(res);
	/* E and G today, and J (closed 2026-10-01) when today is in 2026Q4 */
	assert_string_equal(PQgetvalue(res, 0, 0),
	                    strcmp(PQgetvalue(res, 0, 2), "2026Q4") == 0 ? "3" : "2");
	assert_string_equal(PQgetvalue(res, 0, 1), "0"); /* D has an owner now */
	PQclear(res);
	free(csv_before);
	free(csv_after);
	report_free(before);
	report_free(after);
	pgtest_drop(&t);
}

/* Without closeloop.changed_at a change happened when the ledger learned
 * it; a time in the future is clamped to now; reconcile's write records
 * the ticket's updated-at (a ticket closed at 23:58 on the quarter's last
 * day and pulled later counts in that quarter). */
static void test_changed_at(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportchg", true);
	pgtest_exec(t.conn, "INSERT INTO postmortem (reference, title) VALUES ('PM-9', 'Outage')", 0, NULL);
	/* a backfill: the item was opened in July */
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	pgtest_exec(t.conn, "SELECT set_config('closeloop.changed_at', '2026-07-01 10:00+00', true)", 0, NULL);
	pgtest_exec(t.conn, "INSERT INTO action_item (postmortem_id, title) "
	            "SELECT id, 'Add an alert' FROM postmortem", 0, NULL);
	pgtest_exec(t.conn, "COMMIT", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM item_event WHERE field = 'created' "
	                             "AND changed_at = '2026-07-01 10:00+00' AND at > changed_at", 0, NULL), 1);
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	pgtest_exec(t.conn, "SELECT set_config('closeloop.changed_at', '2999-01-01 00:00+00', true)", 0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET owner = 'alice'", 0, NULL);
	pgtest_exec(t.conn, "COMMIT", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM item_event WHERE field = 'owner' "
	                             "AND changed_at = at", 0, NULL), 1);
	/* the reconcile engine's write, as the daemon sends it */
	pgtest_exec(t.conn, "INSERT INTO external_link (action_item_id, connector, target, state, "
	            "remote_id, remote_key, base) SELECT id, 'gh', 'acme/x', 'linked', '77', 'acme/x#1', "
	            "'{}' FROM action_item", 0, NULL);
	char *link = pgtest_value(t.conn, "SELECT id FROM external_link", 0, NULL);
	char *version = pgtest_value(t.conn, "SELECT version FROM action_item", 0, NULL);
	const char *p[REC_APPLY_NARGS] = { link, version, "{\"state\": \"done\"}", "{}", "77",
	                                   "acme/x#1", "https://example.invalid/acme/x/issues/1",
	                                   "2026-09-30T23:58:00Z", NULL, NULL, "reconcile:gh", "[]",
	                                   NULL, NULL, NULL };
	char err[256];
	PGresult *res = db_sync_exec(t.conn, REC_SQL_APPLY, REC_APPLY_NARGS, p, err, sizeof(err));
	if (!res)
		fail_msg("%s", err);
	assert_int_equal(PQntuples(res), 1);
	assert_false(PQgetisnull(res, 0, 0));
	PQclear(res);
	char *v = pgtest_value(t.conn, "SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
	                       "|| ' ' || source || ' ' || (at > changed_at) FROM item_event WHERE field = 'state'",
	                       0, NULL);
	assert_string_equal(v, "2026-09-30 23:58 reconcile:gh true");
	free(v);
	assert_int_equal(pgtest_long(t.conn, "SELECT closed_done FROM closeloop_report_figures('2026Q3') "
	                             "WHERE level = 'all'", 0, NULL), 1);
	/* the setting was transaction-local: the next plain edit is "now" again */
	pgtest_exec(t.conn, "UPDATE action_item SET title = 'Add two alerts'", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM item_event WHERE field = 'title' "
	                             "AND changed_at = at", 0, NULL), 1);
	free(link);
	free(version);
	pgtest_drop(&t);
}

/* Stored figures of an ended quarter (sql/019_report_store.sql): read
 * back byte for byte; a change dated inside the quarter that reaches the
 * ledger late drops them, and the next read computes them again; a change
 * dated now, or a rename, is handled as documented. */
static void test_store(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportstore", true);
	load_fixture(t.conn);
	struct report *cold = load(t.conn, "2026Q3", "payments", NULL);
	char *md_cold = render(cold, REPORT_MD);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE quarter = '2026Q3' "
	                             "AND f_platform = 'payments'", 0, NULL), 3);
	assert_true(pgtest_long(t.conn, "SELECT count(*) FROM report_figures_store", 0, NULL) > 0);
	struct report *warm = load(t.conn, "2026Q3", "payments", NULL);
	char *md_warm = render(warm, REPORT_MD);
	assert_string_equal(md_warm, md_cold);
	/* a change of today keeps them */
	pgtest_exec(t.conn, "UPDATE action_item SET owner = 'zoe' WHERE import_key = 'E'", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE quarter = '2026Q3'",
	                             0, NULL), 3);
	/* E closed on 2026-09-01, learned today (a pulled ticket): 2026Q3 changes */
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	pgtest_exec(t.conn, "SELECT set_config('closeloop.changed_at', '2026-09-01 12:00+00', true)", 0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET state = 'done' WHERE import_key = 'E'", 0, NULL);
	pgtest_exec(t.conn, "COMMIT", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE q_end > "
	                             "'2026-09-01 12:00+00'", 0, NULL), 0);
	struct report *late = load(t.conn, "2026Q3", "payments", NULL);
	char *md_late = render(late, REPORT_MD);
	assert_string_not_equal(md_late, md_cold);
	assert_string_equal(fig(late, "platform", "payments", NULL, "closed_done"), "4");
	/* what is stored again equals what is computed */
	struct report *again = load(t.conn, "2026Q3", "payments", NULL);
	char *md_again = render(again, REPORT_MD);
	assert_string_equal(md_again, md_late);
	/* a rename shows in ended quarters too (names are today's) */
	pgtest_exec(t.conn, "UPDATE team SET name = 'checkout-team' WHERE name = 'checkout'", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key", 0, NULL), 0);
	struct report *renamed = load(t.conn, "2026Q3", "payments", NULL);
	assert_non_null(report_find(&renamed->trend[REPORT_TREND - 1], "team", "payments", "checkout-team"));
	/* the daemon's warm-up: every ended quarter, and the current one's snapshot */
	assert_true(pgtest_long(t.conn, "SELECT closeloop_report_store_warm()", 0, NULL) >= 1);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE snapshot AND "
	                             "quarter = closeloop_quarter_of(now())", 0, NULL), 1);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM (SELECT * FROM v_closure_by_quarter "
	                             "EXCEPT SELECT closeloop_quarter_start(f.quarter), f.* FROM "
	                             "(SELECT DISTINCT quarter FROM v_closure_by_quarter) q, "
	                             "closeloop_report_figures(q.quarter) f) d", 0, NULL), 0);
	/* v_overdue_daily: stored ended days and today from today's rows give
	 * what migration 11's computation from item_event gives */
	assert_int_equal(pgtest_long(t.conn, "SELECT closeloop_overdue_daily_fill()", 0, NULL), 0);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM overdue_daily_day", 0, NULL), 89);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM ((SELECT * FROM v_overdue_daily EXCEPT ALL "
	                             "SELECT * FROM closeloop_overdue_daily_live) UNION ALL (SELECT * FROM "
	                             "closeloop_overdue_daily_live EXCEPT ALL SELECT * FROM v_overdue_daily)) d",
	                             0, NULL), 0);
	/* a change dated 10 days ago drops the stored days from then on */
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	pgtest_exec(t.conn, "SELECT set_config('closeloop.changed_at', (now() - interval '10 days')::text, true)",
	            0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET due_date = current_date - 40 WHERE import_key = 'H'", 0, NULL);
	pgtest_exec(t.conn, "COMMIT", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM overdue_daily_day", 0, NULL), 79);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM ((SELECT * FROM v_overdue_daily EXCEPT ALL "
	                             "SELECT * FROM closeloop_overdue_daily_live) UNION ALL (SELECT * FROM "
	                             "closeloop_overdue_daily_live EXCEPT ALL SELECT * FROM v_overdue_daily)) d",
	                             0, NULL), 0);
	free(md_cold);
	free(md_warm);
	free(md_late);
	free(md_again);
	report_free(cold);
	report_free(warm);
	report_free(late);
	report_free(again);
	report_free(renamed);
	pgtest_drop(&t);
}

static const char *const views[] = {
	"v_open_item", "v_item_history", "v_closure_by_quarter", "v_overdue_daily", "v_link_sync", NULL,
};

/* closeloop_reader reads every view and no table. */
static void test_reader_role(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportrole", true);
	load_fixture(t.conn);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM pg_roles WHERE rolname = "
	                             "'closeloop_reader' AND NOT rolcanlogin", 0, NULL), 1);
	char err[512];
	PGresult *tables = db_sync_exec(t.conn, "SELECT tablename FROM pg_tables "
	                                "WHERE schemaname = current_schema() ORDER BY 1", 0, NULL,
	                                err, sizeof(err));
	assert_non_null(tables);
	assert_true(PQntuples(tables) >= 8);
	pgtest_exec(t.conn, "SET ROLE closeloop_reader", 0, NULL);
	for (size_t i = 0; views[i]; i++) {
		char *sql = xasprintf("SELECT count(*) FROM %s", views[i]);
		long n = pgtest_long(t.conn, sql, 0, NULL);
		assert_true(n > 0);
		free(sql);
	}
	for (int i = 0; i < PQntuples(tables); i++) {
		char *sql = xasprintf("SELECT 1 FROM \"%s\" LIMIT 1", PQgetvalue(tables, i, 0));
		PGresult *res = db_sync_exec(t.conn, sql, 0, NULL, err, sizeof(err));
		if (res)
			fail_msg("closeloop_reader could read table %s", PQgetvalue(tables, i, 0));
		assert_non_null(strstr(err, "permission denied"));
		free(sql);
	}
	PQclear(tables);
	pgtest_exec(t.conn, "RESET ROLE", 0, NULL);
	pgtest_drop(&t);
}

/* The rows of v_closure_by_quarter and of closeloop_report_figures_v
 * called for each of its quarters that differ (migration 19's view). */
static const char closure_view_vs_function[] =
	"WITH f AS (SELECT closeloop_quarter_start(q.quarter) AS quarter_start, f.*"
	"             FROM (SELECT DISTINCT quarter FROM v_closure_by_quarter) q,"
	"                  closeloop_report_figures_v(q.quarter) f)"
	" SELECT count(*) FROM ((SELECT * FROM v_closure_by_quarter EXCEPT ALL SELECT * FROM f)"
	"  UNION ALL (SELECT * FROM f EXCEPT ALL SELECT * FROM v_closure_by_quarter)) d";

/* The views give the report's numbers. */
static void test_views_agree(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportviews", true);
	load_fixture(t.conn);
	assert_int_equal(pgtest_long(t.conn,
		"SELECT count(*) FROM v_closure_by_quarter v, closeloop_report_figures('2026Q3') f "
		"WHERE v.quarter = '2026Q3' AND v.level = f.level AND v.platform IS NOT DISTINCT FROM f.platform "
		"AND v.team IS NOT DISTINCT FROM f.team AND (v.*)::text = "
		"(closeloop_quarter_start('2026Q3'), f.*)::text", 0, NULL), 6);
	char *v = pgtest_value(t.conn, "SELECT string_agg(quarter, ',' ORDER BY quarter) FROM "
	                       "v_closure_by_quarter WHERE level = 'all' AND quarter <= '2026Q4'", 0, NULL);
	assert_string_equal(v, "2026Q1,2026Q2,2026Q3,2026Q4");
	free(v);
	/* open today: D E G H I J-closed... as the ledger stands now */
	v = pgtest_value(t.conn, "SELECT string_agg(title || ':' || ownerless || undated || overdue || "
	                 "needs_decision || ':' || coalesce(ticket_key, '-'), ', ' ORDER BY title) "
	                 "FROM v_open_item WHERE team = 'checkout'", 0, NULL);
	assert_non_null(strstr(v, "Load-test the authorisation path:falsefalsetruetrue:acme/checkout#"));
	free(v);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM v_open_item", 0, NULL), 5);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM v_item_history", 0, NULL),
	                 pgtest_long(t.conn, "SELECT count(*) FROM item_event", 0, NULL));
	assert_int_equal(pgtest_long(t.conn, "SELECT sum(overdue) FROM v_overdue_daily "
	                             "WHERE day = (now() AT TIME ZONE 'UTC')::date", 0, NULL),
	                 pgtest_long(t.conn, "SELECT count(*) FROM v_open_item WHERE overdue", 0, NULL));
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM v_link_sync WHERE team = 'checkout'", 0, NULL), 5);
	/* sql/038: with figures stored (ended quarters, the current one's
	 * snapshot) the view reads them itself: the same rows as
	 * closeloop_report_figures_v gives quarter by quarter */
	pgtest_exec(t.conn, "SELECT closeloop_report_store_warm()", 0, NULL);
	assert_true(pgtest_long(t.conn, "SELECT count(*) FROM report_store_key WHERE kind = 'figures'",
	                        0, NULL) >= 4);
	assert_int_equal(pgtest_long(t.conn, closure_view_vs_function, 0, NULL), 0);
	pgtest_exec(t.conn, "DELETE FROM report_store_key WHERE quarter = '2026Q2'", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, closure_view_vs_function, 0, NULL), 0);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM v_closure_by_quarter WHERE quarter = '2026Q2'",
	                             0, NULL),
	                 pgtest_long(t.conn, "SELECT count(*) FROM closeloop_report_figures('2026Q2')", 0, NULL));
	pgtest_drop(&t);
}

/* The rows of closeloop_items_at (read from item_span, sql/034) and of
 * closeloop_items_at_replay (migration 11's replay of item_event) that
 * differ, summed over instants where a history row changes the answer
 * (a changed_at, and just after it: every 8th distinct one, about 300
 * instants on the random history, each replay costing a pass over it)
 * and the quarter bounds. */
static const char spans_vs_replay[] =
	"WITH c AS (SELECT x, row_number() OVER (ORDER BY x) AS n"
	"             FROM (SELECT DISTINCT changed_at AS x FROM item_event) d),"
	" ts AS (SELECT DISTINCT x FROM ("
	"  SELECT x FROM c WHERE n % 8 = 1 OR n < 40"
	"  UNION ALL SELECT x + interval '1 microsecond' FROM c WHERE n % 8 = 1 OR n < 40"
	"  UNION ALL SELECT closeloop_quarter_start(closeloop_quarter_add('2024Q4', g))"
	"    FROM generate_series(0, 12) g"
	"  UNION ALL SELECT 'infinity'::timestamptz) a)"
	" SELECT count(*) FROM ts, LATERAL ("
	"  (SELECT * FROM closeloop_items_at(ts.x) EXCEPT ALL SELECT * FROM closeloop_items_at_replay(ts.x))"
	"  UNION ALL"
	"  (SELECT * FROM closeloop_items_at_replay(ts.x) EXCEPT ALL SELECT * FROM closeloop_items_at(ts.x))) d";

/* Every figure, overdue list and postmortem list of the report for
 * 2025Q1 .. 2027Q1, as one digest: REPORT_DIGEST("_spans") computed from
 * the spans (migration 37's functions), REPORT_DIGEST("") as the report
 * reads them (the rollups of the quarters kept, sql/042). */
#define REPORT_DIGEST(FROM) \
	"SELECT md5(string_agg(r, E'\\n' ORDER BY q, k, n)) FROM (" \
	" SELECT q, 1 AS k, row_number() OVER () AS n, f::text AS r" \
	"   FROM generate_series(0, 8) g, closeloop_quarter_add('2025Q1', g) q," \
	"        closeloop_report_figures" FROM "(q) f" \
	" UNION ALL SELECT q, 2, row_number() OVER (), o::text" \
	"   FROM generate_series(0, 8) g, closeloop_quarter_add('2025Q1', g) q," \
	"        closeloop_report_overdue" FROM "(q) o" \
	" UNION ALL SELECT q, 3, row_number() OVER (), p::text" \
	"   FROM generate_series(0, 8) g, closeloop_quarter_add('2025Q1', g) q," \
	"        closeloop_report_postmortems" FROM "(q) p) x"
static const char report_digest[] = REPORT_DIGEST("_spans");
static const char rollup_digest[] = REPORT_DIGEST("");

/* The rollups of the kept quarters as text (group rows and closures). */
static const char rollup_rows[] =
	"SELECT coalesce((SELECT string_agg(r::text, E'\\n' ORDER BY r::text) FROM report_rollup r), '')"
	" || '|' || coalesce((SELECT string_agg(c::text, E'\\n' ORDER BY c::text)"
	"                      FROM report_rollup_close c), '')";

/* sql/042: the rollups of 2025Q1 .. 2027Q1 filled, then kept by the
 * triggers through the late changes the caller makes: the report read
 * from them equals the one computed from the spans, and the kept rows
 * equal the rows a fill from scratch gives. */
static void rollup_fill(PGconn *c)
{
	pgtest_exec(c, "SELECT closeloop_report_rollup_fill(array(SELECT closeloop_quarter_add('2025Q1', g)"
	            " FROM generate_series(0, 8) g))", 0, NULL);
	assert_int_equal(pgtest_long(c, "SELECT count(*) FROM report_rollup_quarter", 0, NULL), 9);
}

static void rollup_equal_spans(PGconn *c)
{
	char *from_spans = pgtest_value(c, report_digest, 0, NULL);
	char *from_rollup = pgtest_value(c, rollup_digest, 0, NULL);
	assert_string_equal(from_rollup, from_spans);
	char *kept = pgtest_value(c, rollup_rows, 0, NULL);
	pgtest_exec(c, "BEGIN", 0, NULL);
	pgtest_exec(c, "TRUNCATE report_rollup, report_rollup_close, report_rollup_quarter", 0, NULL);
	rollup_fill(c);
	char *refilled = pgtest_value(c, rollup_rows, 0, NULL);
	pgtest_exec(c, "ROLLBACK", 0, NULL);
	assert_true(strlen(kept) > 100);
	assert_string_equal(kept, refilled);
	free(from_spans);
	free(from_rollup);
	free(kept);
	free(refilled);
}

/* Inside a transaction the caller rolls back: the report's point in time
 * (closeloop_spans_at, sql/034, and closeloop_states_at, sql/037) replaced
 * by the replay of item_event, and the due date at closing by
 * closeloop_due_at_event, as before sql/034. */
static void replay_point_in_time(PGconn *c)
{
	pgtest_exec(c, "CREATE OR REPLACE FUNCTION closeloop_spans_at(p_at timestamptz) "
	            "RETURNS TABLE (action_item_id bigint, postmortem_id bigint, title text, owner text,"
	            " team_id bigint, due_date date, state text, opened_at timestamptz,"
	            " closed_at timestamptz, close_event bigint, due_at_close date) LANGUAGE sql STABLE AS "
	            "'SELECT r.*, CASE WHEN r.closed_at IS NOT NULL"
	            " THEN closeloop_due_at_event(r.action_item_id, r.close_event) END"
	            " FROM closeloop_items_at_replay(p_at) r'", 0, NULL);
	pgtest_exec(c, "CREATE OR REPLACE FUNCTION closeloop_states_at(p_at timestamptz) "
	            "RETURNS TABLE (action_item_id bigint, state text) LANGUAGE sql STABLE AS "
	            "'SELECT r.action_item_id, r.state FROM closeloop_items_at_replay(p_at) r'", 0, NULL);
	/* and no quarter read from the rollups (sql/042) */
	pgtest_exec(c, "DELETE FROM report_rollup_quarter", 0, NULL);
}

/* 2026Q1's figures (all platforms) as one text. */
static const char q1_figures[] =
	"SELECT string_agg(f::text, E'\\n' ORDER BY n) FROM "
	"(SELECT f, row_number() OVER () AS n FROM closeloop_report_figures_s('2026Q1', NULL, NULL) f) x";

/* Back-dated changes into an ended quarter whose figures are stored
 * (sql/019): the store drops them, and the figures computed again (with
 * the quarter's bounds as constants, sql/037) equal the replay's. */
static void backdated_equal_replay(PGconn *c)
{
	pgtest_exec(c, "SELECT closeloop_report_store_fill('2026Q1')", 0, NULL);
	char *before = pgtest_value(c, q1_figures, 0, NULL);
	/* written today, dated inside 2026Q1 (closeloop.changed_at, as a late
	 * pull): three items open then and now closed at 23:58 on its last
	 * day, three due dates moved in February */
	pgtest_exec(c, "BEGIN", 0, NULL);
	pgtest_exec(c, "SELECT set_config('closeloop.changed_at', '2026-03-31 23:58:00+00', true)", 0, NULL);
	pgtest_exec(c, "UPDATE action_item SET state = 'done' WHERE id IN (SELECT i.id FROM action_item i"
	            " JOIN closeloop_items_at('2026-04-01+00') q ON q.action_item_id = i.id"
	            " WHERE i.state = 'open' AND q.state IN ('open', 'in_progress') ORDER BY i.id LIMIT 3)",
	            0, NULL);
	pgtest_exec(c, "SELECT set_config('closeloop.changed_at', '2026-02-15 12:00:00+00', true)", 0, NULL);
	pgtest_exec(c, "UPDATE action_item SET due_date = '2026-01-02' WHERE id IN (SELECT i.id"
	            " FROM action_item i JOIN closeloop_items_at('2026-02-15+00') q ON q.action_item_id = i.id"
	            " WHERE i.state = 'open' AND q.state = 'open' ORDER BY i.id DESC LIMIT 3)", 0, NULL);
	pgtest_exec(c, "COMMIT", 0, NULL);
	assert_int_equal(pgtest_long(c, "SELECT count(*) FROM report_store_key WHERE quarter = '2026Q1'",
	                             0, NULL), 0);
	char *after = pgtest_value(c, q1_figures, 0, NULL);
	assert_string_not_equal(before, after);
	assert_int_equal(pgtest_long(c, spans_vs_replay, 0, NULL), 0);
	pgtest_exec(c, "BEGIN", 0, NULL);
	replay_point_in_time(c);
	char *replayed = pgtest_value(c, q1_figures, 0, NULL);
	pgtest_exec(c, "ROLLBACK", 0, NULL);
	assert_string_equal(after, replayed);
	rollup_equal_spans(c);
	free(before);
	free(after);
	free(replayed);
}

/* sql/034: the point in time read from the trigger-kept spans equals the
 * replay of item_event — row for row at every instant, and in every
 * figure of the report — on the hand-built fixture and on a random
 * history full of late (back-dated) changes; and the spans the trigger
 * kept equal the spans rebuilt from scratch. */
static void test_spans_equal_replay(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportspan", true);
	load_fixture(t.conn);
	assert_int_equal(pgtest_long(t.conn, spans_vs_replay, 0, NULL), 0);
	pgtest_exec_file(t.conn, FIXTURES "/report/random_history.sql");
	/* not vacuous: many items, many changes dated before an earlier-written one */
	assert_true(pgtest_long(t.conn, "SELECT count(*) FROM item_span", 0, NULL) > 1000);
	assert_true(pgtest_long(t.conn,
		"SELECT count(*) FROM item_event a JOIN item_event b ON b.action_item_id = a.action_item_id"
		" AND b.id > a.id AND b.changed_at < a.changed_at", 0, NULL) > 800);
	assert_int_equal(pgtest_long(t.conn, spans_vs_replay, 0, NULL), 0);
	assert_int_equal(pgtest_long(t.conn,
		"SELECT count(*) FROM ((TABLE item_span EXCEPT ALL SELECT * FROM closeloop_item_spans(array(SELECT id FROM action_item)))"
		" UNION ALL (SELECT * FROM closeloop_item_spans(array(SELECT id FROM action_item)) EXCEPT ALL TABLE item_span)) d",
		0, NULL), 0);
	/* the report itself: computed with the spans, then (in a transaction
	 * rolled back) with the spans replaced by the replay of item_event and
	 * the due date at closing by closeloop_due_at_event, as before sql/034 */
	char *with_spans = pgtest_value(t.conn, report_digest, 0, NULL);
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	replay_point_in_time(t.conn);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM item_span", 0, NULL) > 0, 1);
	char *with_replay = pgtest_value(t.conn, report_digest, 0, NULL);
	pgtest_exec(t.conn, "ROLLBACK", 0, NULL);
	assert_non_null(with_spans);
	assert_string_equal(with_spans, with_replay);
	/* and the figures are not all empty */
	assert_true(pgtest_long(t.conn, "SELECT sum(closed_done + open_end) FROM "
	                        "closeloop_report_figures('2026Q1') WHERE level = 'all'", 0, NULL) > 100);
	free(with_spans);
	free(with_replay);
	rollup_fill(t.conn);
	rollup_equal_spans(t.conn);
	backdated_equal_replay(t.conn);
	pgtest_drop(&t);
}

/* The ended days of v_overdue_daily's window, as a one-row expression. */
#define ENDED_DAYS "array(SELECT g::date FROM generate_series((now() AT TIME ZONE 'UTC')::date - 89," \
	" (now() AT TIME ZONE 'UTC')::date - 1, interval '1 day') g)"

/* Rows in one of two queries' results and not in the other's (with
 * repeats). */
static long rows_differ(PGconn *c, const char *a, const char *b)
{
	char sql[2048];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM (((%s) EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL (%s))) d",
	         a, b, b, a);
	return pgtest_long(c, sql, 0, NULL);
}

static const char days_spans[] =
	"SELECT * FROM closeloop_overdue_daily_spans(" ENDED_DAYS ")";
static const char days_events[] =
	"SELECT * FROM closeloop_overdue_daily_live WHERE day < (now() AT TIME ZONE 'UTC')::date";
static const char days_stored[] =
	"SELECT day, platform, team, open, overdue FROM overdue_daily_store";
static const char days_view[] =
	"SELECT * FROM v_overdue_daily WHERE day < (now() AT TIME ZONE 'UTC')::date";
/* migration 8's definition: closeloop_items_at replayed from item_event at
 * each day's end (team and platform today's, as migration 11's) */
static const char days_replay[] =
	"SELECT d.day, coalesce(pl.name, '(no platform)'), coalesce(tm.name, '(no team)'), count(*),"
	"       count(*) FILTER (WHERE e.due_date < d.day + 1)"
	"  FROM unnest(" ENDED_DAYS ") d(day),"
	"       closeloop_items_at_replay((d.day + 1)::timestamp AT TIME ZONE 'UTC') e"
	"  JOIN action_item i ON i.id = e.action_item_id"
	"  JOIN postmortem pm ON pm.id = i.postmortem_id"
	"  LEFT JOIN team tm ON tm.id = i.team_id"
	"  LEFT JOIN platform pl ON pl.id = coalesce(tm.platform_id, pm.platform_id)"
	" WHERE e.state IN ('open', 'in_progress')"
	" GROUP BY d.day, pl.name, tm.name";

/* Changes dated p_ago before now to up to three open items whose history
 * ends before then (late, but after every change the item has). */
static void late_changes(PGconn *c, const char *ago, const char *set)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "SELECT set_config('closeloop.changed_at', (now() - interval '%s')::text, true)", ago);
	pgtest_exec(c, "BEGIN", 0, NULL);
	pgtest_exec(c, sql, 0, NULL);
	snprintf(sql, sizeof(sql),
	         "UPDATE action_item SET %s WHERE id IN (SELECT i.id FROM action_item i"
	         " WHERE i.state IN ('open', 'in_progress') AND (SELECT max(changed_at) FROM item_event e"
	         " WHERE e.action_item_id = i.id) < now() - interval '%s' ORDER BY i.id LIMIT 3)", set, ago);
	pgtest_exec(c, sql, 0, NULL);
	pgtest_exec(c, "COMMIT", 0, NULL);
}

/* sql/047: a day of v_overdue_daily computed from item_span (when read
 * while not stored, and by closeloop_overdue_daily_fill) has the rows the
 * computation from item_event gives: closeloop_overdue_daily_live on the
 * fixture with late changes dated inside the window, stored days dropped
 * and filled again; and on the random history, whose changes often reach
 * the ledger after one dated later, the per-day replay of item_event
 * (closeloop_items_at's rule, ledger order; closeloop_overdue_daily_live
 * orders by changed_at, and fails on a change dated before the item's
 * creation). */
static void test_overdue_daily_spans(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportdaily", true);
	load_fixture(t.conn);
	late_changes(t.conn, "40 days", "due_date = (now() - interval '45 days')::date");
	late_changes(t.conn, "20 days", "state = 'in_progress'");
	late_changes(t.conn, "10 days", "state = 'done'");
	/* not vacuous: open items on most days, counts that change in the window */
	assert_true(pgtest_long(t.conn, "SELECT count(DISTINCT day) FROM closeloop_overdue_daily_spans(" ENDED_DAYS ")",
	                        0, NULL) == 89);
	assert_true(pgtest_long(t.conn, "SELECT count(DISTINCT (team, open, overdue))"
	                        " FROM closeloop_overdue_daily_spans(" ENDED_DAYS ")", 0, NULL) > 3);
	assert_int_equal(rows_differ(t.conn, days_spans, days_events), 0);
	assert_int_equal(rows_differ(t.conn, days_spans, days_replay), 0);
	/* the fill stores every ended day; a late change drops its days on,
	 * the view computes them meanwhile, the fill stores them again */
	assert_int_equal(pgtest_long(t.conn, "SELECT closeloop_overdue_daily_fill()", 0, NULL), 89);
	assert_int_equal(rows_differ(t.conn, days_stored, days_events), 0);
	late_changes(t.conn, "5 days", "state = 'wont_do'");
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM overdue_daily_day", 0, NULL), 89 - 5);
	assert_int_equal(rows_differ(t.conn, days_view, days_events), 0);
	assert_int_equal(pgtest_long(t.conn, "SELECT closeloop_overdue_daily_fill()", 0, NULL), 5);
	assert_int_equal(rows_differ(t.conn, days_stored, days_events), 0);
	assert_int_equal(rows_differ(t.conn, days_view, days_events), 0);

	pgtest_exec_file(t.conn, FIXTURES "/report/random_history.sql");
	/* not vacuous: changes dated inside the window before one the ledger had */
	assert_true(pgtest_long(t.conn,
		"SELECT count(*) FROM item_event a JOIN item_event b ON b.action_item_id = a.action_item_id"
		" AND b.id > a.id AND b.changed_at < a.changed_at"
		" WHERE b.changed_at >= now() - interval '89 days' AND b.changed_at < now()", 0, NULL) > 20);
	assert_true(pgtest_long(t.conn, "SELECT sum(open) FROM closeloop_overdue_daily_spans(" ENDED_DAYS ")",
	                        0, NULL) > 5000);
	assert_int_equal(rows_differ(t.conn, days_spans, days_replay), 0);
	assert_true(pgtest_long(t.conn, "SELECT closeloop_overdue_daily_fill()", 0, NULL) > 0);
	assert_int_equal(rows_differ(t.conn, days_stored, days_replay), 0);
	assert_int_equal(rows_differ(t.conn, days_view, days_replay), 0);
	pgtest_drop(&t);
}

/* The rollup rows of each quarter as "quarter:row(xmin)" lines: a row
 * rewritten shows a new xmin even when its values come back the same. */
static const char rollup_versions[] =
	"SELECT string_agg(r.quarter || ':' || r::text || '(' || r.xmin || ')', E'\\n'"
	" ORDER BY r.quarter, r.team_id, r.pm_platform_id, r.pm_id) FROM report_rollup r"
	" WHERE r.quarter = $1";

static char *quarter_rows(PGconn *c, const char *quarter)
{
	const char *p[1] = { quarter };
	return pgtest_value(c, rollup_versions, 1, p);
}

/* sql/042: a change reaching the ledger late, dated inside an ended
 * quarter (A, open at 2026Q2's end and closed in Q3, lost its owner on
 * 2026-05-01), changes that quarter's report (checkout: one more item
 * without an owner) and rewrites that quarter's rollup rows only; the
 * figures read from the rollups equal those computed from the spans. */
static void test_rollup_late_change(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportlate", true);
	load_fixture(t.conn);
	pgtest_exec(t.conn, "SELECT closeloop_report_rollup_fill(array['2026Q1', '2026Q2', '2026Q3',"
	            " closeloop_quarter_of(now())])", 0, NULL);
	struct report *before = load(t.conn, "2026Q2", NULL, NULL);
	assert_string_equal(fig(before, "team", "payments", "checkout", "ownerless"), "0");
	assert_string_equal(fig(before, "team", "payments", "checkout", "open_end"), "1"); /* A */
	const char *quarters[] = { "2026Q1", "2026Q2", "2026Q3", NULL };
	char *rows_before[3];
	for (int i = 0; quarters[i]; i++)
		rows_before[i] = quarter_rows(t.conn, quarters[i]);
	char *now_before = pgtest_value(t.conn, "SELECT string_agg(r::text || r.xmin, ',' ORDER BY r::text)"
	                                " FROM report_rollup r WHERE quarter = closeloop_quarter_of(now())",
	                                0, NULL);
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	pgtest_exec(t.conn, "SELECT set_config('closeloop.changed_at', '2026-05-01 09:00:00+00', true)", 0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET owner = NULL WHERE import_key = 'A'", 0, NULL);
	pgtest_exec(t.conn, "COMMIT", 0, NULL);
	struct report *after = load(t.conn, "2026Q2", NULL, NULL);
	assert_string_equal(fig(after, "team", "payments", "checkout", "ownerless"), "1");
	assert_int_equal(strtol(fig(after, "all", NULL, NULL, "ownerless"), NULL, 10),
	                 strtol(fig(before, "all", NULL, NULL, "ownerless"), NULL, 10) + 1);
	/* 2026Q2's rows rewritten (checkout's), the other quarters' untouched */
	char *q2_after = quarter_rows(t.conn, "2026Q2");
	assert_string_not_equal(q2_after, rows_before[1]);
	for (int i = 0; quarters[i]; i++) {
		if (i == 1)
			continue;
		char *now = quarter_rows(t.conn, quarters[i]);
		assert_string_equal(now, rows_before[i]);
		free(now);
	}
	char *now_after = pgtest_value(t.conn, "SELECT string_agg(r::text || r.xmin, ',' ORDER BY r::text)"
	                               " FROM report_rollup r WHERE quarter = closeloop_quarter_of(now())",
	                               0, NULL);
	assert_string_equal(now_after, now_before);
	/* the stored rollup equals the one a fill from scratch gives */
	char *kept = pgtest_value(t.conn, rollup_rows, 0, NULL);
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	pgtest_exec(t.conn, "TRUNCATE report_rollup, report_rollup_close, report_rollup_quarter", 0, NULL);
	pgtest_exec(t.conn, "SELECT closeloop_report_rollup_fill(array['2026Q1', '2026Q2', '2026Q3',"
	            " closeloop_quarter_of(now())])", 0, NULL);
	char *refilled = pgtest_value(t.conn, rollup_rows, 0, NULL);
	pgtest_exec(t.conn, "ROLLBACK", 0, NULL);
	assert_string_equal(kept, refilled);
	free(kept);
	free(refilled);
	assert_int_equal(pgtest_long(t.conn,
		"SELECT count(*) FROM ((SELECT * FROM closeloop_report_figures('2026Q2'))"
		" EXCEPT (SELECT * FROM closeloop_report_figures_spans('2026Q2'))) d", 0, NULL), 0);
	free(q2_after);
	free(now_before);
	free(now_after);
	for (int i = 0; quarters[i]; i++)
		free(rows_before[i]);
	report_free(before);
	report_free(after);
	pgtest_drop(&t);
}

/* A quarter or a name the ledger does not know is a clear error. */
static void test_errors(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reporterr", true);
	load_fixture(t.conn);
	char err[512];
	struct report *r = NULL;
	struct report_query q = { .quarter = "2026Q3", .platform = "paymnets" };
	assert_int_equal(report_load(t.conn, &q, &r, err, sizeof(err)), -ENOENT);
	assert_null(r);
	assert_string_equal(err, "the ledger has no platform named \"paymnets\" (known: payments, search); "
	                    "check the name, or run `closeloop directory load`");
	q.platform = NULL;
	q.quarter = "2026Q5";
	assert_int_equal(report_load(t.conn, &q, &r, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "quarter \"2026Q5\" is not of the form YYYYQn (e.g. 2026Q3)"));
	assert_true(report_quarter_valid("2026Q3"));
	assert_false(report_quarter_valid("2026Q0"));
	assert_false(report_quarter_valid("26Q3"));
	assert_false(report_quarter_valid("2026q3"));
	/* a team filter: only that team's items */
	r = load(t.conn, "2026Q3", NULL, "ledger-team");
	assert_string_equal(fig(r, "all", NULL, NULL, "opened"), "1");
	assert_string_equal(fig(r, "all", NULL, NULL, "closed_wont_do"), "1");
	assert_int_equal(r->n_overdue, 1);
	report_free(r);
	pgtest_drop(&t);
}

/* Each format carries the figures. */
static void test_formats(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportfmt", true);
	load_fixture(t.conn);
	struct report *r = load(t.conn, "2026Q3", NULL, NULL);
	char *md = render(r, REPORT_MD);
	assert_non_null(strstr(md, "# Action item closure report — 2026Q3\n"));
	assert_non_null(strstr(md, "| Closure rate | 50.0% | 60.0% | 33.3% |\n"));
	assert_non_null(strstr(md, "| Load-test the authorisation path (PM-1) | checkout | alice | "
	                       "2026-05-01 | 153 | [acme/checkout#"));
	assert_non_null(strstr(md, "| Closure rate | – | 0.0% | 25.0% | 44.4% |\n"));
	assert_null(strstr(md, "Escalations: not counted"));
	assert_non_null(strstr(md, "| Escalations sent | 1 | 1 | 0 |\n"));
	char *csv = render(r, REPORT_CSV);
	assert_non_null(strstr(csv, "\r\n2026Q3,team,payments,checkout,closure_rate,0.6000\r\n"));
	assert_non_null(strstr(csv, "\r\n2026Q3,all,,,escalations,1\r\n"));
	char *js = render(r, REPORT_JSON);
	struct json_object *o = json_tokener_parse(js);
	assert_non_null(o);
	struct json_object *figs = json_object_object_get(o, "figures"), *trend;
	assert_int_equal(json_object_array_length(figs), 6);
	struct json_object *all = json_object_array_get_idx(figs, 0);
	assert_string_equal(json_object_to_json_string(json_object_object_get(all, "closure_rate")), "0.4444");
	assert_int_equal(json_object_get_int(json_object_object_get(all, "overdue_end")), 3);
	assert_true(json_object_object_get_ex(o, "trend", &trend));
	assert_int_equal(json_object_array_length(trend), 4);
	json_object_put(o);
	char *html = render(r, REPORT_HTML);
	assert_non_null(strstr(html, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<link"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "url("));
	assert_non_null(strstr(html, "<td>Closure rate</td><td class=\"n\">44.4%</td>"));
	free(md);
	free(csv);
	free(js);
	free(html);
	report_free(r);
	pgtest_drop(&t);
}

/* On a ledger without the escalation table the report says escalations
 * are not recorded instead of showing 0. */
static void test_escalations_not_recorded(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportnoesc", true);
	load_fixture(t.conn);
	pgtest_exec(t.conn, "DROP TABLE escalation CASCADE", 0, NULL);
	struct report *r = load(t.conn, "2026Q3", NULL, NULL);
	assert_non_null(r->escalations_note);
	assert_string_equal(fig(r, "all", NULL, NULL, "escalations"), "NULL");
	assert_string_equal(fig(r, "all", NULL, NULL, "opened"), "5");
	char *md = render(r, REPORT_MD);
	assert_non_null(strstr(md, "Escalations: not counted — this ledger has no escalation table"));
	assert_non_null(strstr(md, "| Escalations sent | – | – | – | – |\n")); /* trend: not 0 */
	char *csv = render(r, REPORT_CSV);
	assert_non_null(strstr(csv, "\r\n2026Q3,all,,,escalations,\r\n"));
	free(md);
	free(csv);
	report_free(r);
	pgtest_drop(&t);
}

int main(void)
{
	log_set_level(LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_figures_2026q3),
		cmocka_unit_test(test_point_in_time),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_changed_at),
		cmocka_unit_test(test_reader_role),
		cmocka_unit_test(test_views_agree),
		cmocka_unit_test(test_spans_equal_replay),
		cmocka_unit_test(test_rollup_late_change),
		cmocka_unit_test(test_overdue_daily_spans),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_escalations_not_recorded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
