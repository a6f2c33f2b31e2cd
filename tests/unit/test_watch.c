/* test_watch.c — flags and the escalation ladder against a real PostgreSQL
 * (sql/012_watch.sql through the daemon's options JSON, daemon/watch/).
 *
 * Time is injected: every computation runs at T0 + an interval, T0 being
 * today's UTC midnight, and items are created at T0, so the expectations
 * are exact whatever day the test runs (the history triggers stamp
 * item_event with the real clock, which is T0 + some hours: "today").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pgtest.h"
#include "watch.h"

#define T0 "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"

static struct cfg_watch default_watch(void)
{
	struct cfg_watch w = {
		.interval_s = 300, .ownerless_grace_days = 2, .undated_grace_days = 2,
		.stale_days = 30, .needs_decision_days = 180, .link_broken_errors = 5,
		.no_action_items_grace_days = 2, .long_horizon_days = 30,
		.escalation_enabled = true,
	};
	return w;
}

/* Run the flags at T0 + at (an interval, "12 days 12 hours"); returns
 * "kind+raised-cleared" for the kinds that changed, e.g.
 * "overdue+2-0,ownerless+0-1". */
static char *flags_at(PGconn *c, const struct cfg_watch *cw, const char *at)
{
	char *opts = watch_flags_options_json(cw);
	const char *p[2] = { at, opts };
	char *v = pgtest_value(c,
		"SELECT coalesce(string_agg(r_kind || '+' || r_raised || '-' || r_cleared, ',' "
		"ORDER BY r_kind), '') FROM closeloop_flags_compute(" T0 " + $1::interval, $2::jsonb, "
		"'test') WHERE r_raised + r_cleared > 0", 2, p);
	free(opts);
	return v;
}

/* The open flags as "kind:subject" (subject = item title or postmortem). */
static char *open_flags(PGconn *c)
{
	return pgtest_value(c,
		"SELECT coalesce(string_agg(kind || ':' || coalesce(title, postmortem), ',' "
		"ORDER BY kind, coalesce(title, postmortem)), '') FROM v_item_flag_open", 0, NULL);
}

static void expect_flags(PGconn *c, const struct cfg_watch *cw, const char *at,
                         const char *changes, const char *open)
{
	char *got = flags_at(c, cw, at);
	if (strcmp(got, changes) != 0)
		fail_msg("at T0 + %s: changes '%s', expected '%s'", at, got, changes);
	free(got);
	got = open_flags(c);
	if (strcmp(got, open) != 0)
		fail_msg("at T0 + %s: open flags '%s', expected '%s'", at, got, open);
	free(got);
}

/* Several statements without parameters (PQexec), failing the test on error. */
static void sql(PGconn *c, const char *text)
{
	PGresult *r = PQexec(c, text);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", text, PQerrorMessage(c));
	PQclear(r);
}

/* One statement with parameters, failing the test on error. */
static void sql_params(PGconn *c, const char *text, int n, const char *const *p)
{
	PGresult *r = PQexecParams(c, text, n, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", text, PQerrorMessage(c));
	PQclear(r);
}

static void seed(PGconn *c)
{
	sql(c, "INSERT INTO person (handle, github_login, active) VALUES"
		" ('lead', 'lead-gh', true), ('alice', 'alice-gh', true), ('bob', 'bob-gh', false);"
		"INSERT INTO platform (name, lead_handle) VALUES ('k8s', 'lead');"
		"INSERT INTO team (name, platform_id, connector, target) VALUES ('core', 1, 'gh', 'acme/k8s');"
		"INSERT INTO postmortem (reference, title, platform_id, published_date) VALUES"
		" ('PM-1', 'Resolver outage', 1, " T0 "::date),"
		" ('PM-2', 'Empty review', 1, " T0 "::date),"
		" ('PM-3', 'Disk full', 1, " T0 "::date)");
	sql(c, "INSERT INTO action_item (postmortem_id, title, priority, owner, due_date, team_id, created_at)"
		" VALUES (1, 'A', 'P2', NULL, NULL, 1, " T0 "),"
		" (1, 'B', 'P3', 'bob', " T0 "::date + 10, 1, " T0 "),"
		" (1, 'C', 'P2', 'alice', " T0 "::date + 5, 1, " T0 "),"
		" (1, 'D', 'P2', 'alice', " T0 "::date + 60, 1, " T0 "),"
		" (1, 'E', 'P3', 'ghost', " T0 "::date + 100, 1, " T0 "),"
		" (3, 'F', 'P1', 'alice', " T0 "::date + 20, 1, " T0 ");"
		"INSERT INTO external_link (action_item_id, connector, target, state, remote_key, broken_reason)"
		" VALUES (3, 'gh', 'acme/k8s', 'broken', 'acme/k8s#3', 'gone');"
		"INSERT INTO external_link (action_item_id, connector, target, state, remote_id, remote_key)"
		" VALUES (2, 'gh', 'acme/k8s', 'linked', '1002', 'acme/k8s#2')");
}

static void test_flags_raise_clear(void **state)
{
	(void)state;
	struct pgtest_db t;
	if (!pgtest_create(&t, "watch_flags", true))
		return;
	struct cfg_watch cw = default_watch();
	seed(t.conn);

	const char *day1 = "link_broken:C,long_horizon:D,long_horizon:E,no_high_priority:PM-1,"
	                   "owner_inactive:B,owner_inactive:E";
	expect_flags(t.conn, &cw, "1 day 12 hours",
	             "link_broken+1-0,long_horizon+2-0,no_high_priority+1-0,owner_inactive+2-0",
	             day1);
	/* idempotent: the same run again raises nothing and writes nothing */
	expect_flags(t.conn, &cw, "1 day 12 hours", "", day1);
	expect_flags(t.conn, &cw, "1 day 13 hours", "", day1);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM item_flag", 0, NULL), 6);
	char *d = pgtest_value(t.conn, "SELECT detail->>'reason' FROM v_item_flag_open "
	                       "WHERE kind = 'owner_inactive' AND title = 'E'", 0, NULL);
	assert_string_equal(d, "not in the directory");
	free(d);

	/* grace periods over */
	expect_flags(t.conn, &cw, "3 days", "no_action_items+1-0,ownerless+1-0,undated+1-0",
	             "link_broken:C,long_horizon:D,long_horizon:E,no_action_items:PM-2,"
	             "no_high_priority:PM-1,owner_inactive:B,owner_inactive:E,ownerless:A,undated:A");
	/* B (due +10) and C (due +5) overdue; C's days counted */
	expect_flags(t.conn, &cw, "12 days 12 hours", "overdue+2-0",
	             "link_broken:C,long_horizon:D,long_horizon:E,no_action_items:PM-2,"
	             "no_high_priority:PM-1,overdue:B,overdue:C,owner_inactive:B,owner_inactive:E,"
	             "ownerless:A,undated:A");
	d = pgtest_value(t.conn, "SELECT detail->>'days_overdue' FROM item_flag "
	                 "WHERE kind = 'overdue' AND action_item_id = 3", 0, NULL);
	assert_string_equal(d, "7");
	free(d);

	/* edits clear flags, with the reason */
	sql(t.conn, "UPDATE action_item SET owner = 'alice' WHERE title = 'A';"
	            "UPDATE action_item SET state = 'done' WHERE title = 'C';"
	            "UPDATE person SET active = true WHERE handle = 'bob';"
	            "INSERT INTO action_item (postmortem_id, title, priority, owner, due_date, created_at)"
	            " VALUES (1, 'G', 'P0', 'alice', " T0 "::date + 20, " T0 ")");
	expect_flags(t.conn, &cw, "12 days 13 hours",
	             "no_high_priority+0-1,overdue+0-1,owner_inactive+0-1,ownerless+0-1",
	             "link_broken:C,long_horizon:D,long_horizon:E,no_action_items:PM-2,overdue:B,"
	             "owner_inactive:E,undated:A");
	char *hist = pgtest_value(t.conn,
		"SELECT string_agg(kind || '=' || clear_reason || '/' || cleared_by, '; ' ORDER BY kind) "
		"FROM item_flag WHERE cleared_at = " T0 " + interval '12 days 13 hours'", 0, NULL);
	assert_string_equal(hist, "no_high_priority=a P0/P1 action item exists/test; "
	                    "overdue=item closed (done)/test; "
	                    "owner_inactive=owner bob is active in the directory/test; "
	                    "ownerless=owner set: alice/test");
	free(hist);

	/* stale after 30 quiet days (A's edit today counts as activity) */
	expect_flags(t.conn, &cw, "40 days", "overdue+2-0,stale+6-0",
	             "link_broken:C,long_horizon:D,long_horizon:E,no_action_items:PM-2,overdue:B,"
	             "overdue:F,overdue:G,owner_inactive:E,stale:A,stale:B,stale:D,stale:E,stale:F,"
	             "stale:G,undated:A");

	/* turning a flag off clears it */
	char *off[] = { "stale" };
	cw.disable = off;
	cw.n_disable = 1;
	expect_flags(t.conn, &cw, "40 days 1 hour", "stale+0-6",
	             "link_broken:C,long_horizon:D,long_horizon:E,no_action_items:PM-2,overdue:B,"
	             "overdue:F,overdue:G,owner_inactive:E,undated:A");
	d = pgtest_value(t.conn, "SELECT DISTINCT clear_reason FROM item_flag WHERE kind = 'stale'",
	                 0, NULL);
	assert_string_equal(d, "flag turned off in the configuration");
	free(d);

	/* due date moved out and back: a second overdue raise, both kept */
	sql(t.conn, "UPDATE action_item SET due_date = " T0 "::date + 90 WHERE title = 'B'");
	expect_flags(t.conn, &cw, "41 days", "long_horizon+1-0,overdue+0-1",
	             "link_broken:C,long_horizon:B,long_horizon:D,long_horizon:E,no_action_items:PM-2,"
	             "overdue:F,overdue:G,owner_inactive:E,undated:A");
	sql(t.conn, "UPDATE action_item SET due_date = " T0 "::date + 30 WHERE title = 'B'");
	expect_flags(t.conn, &cw, "42 days", "long_horizon+0-1,overdue+1-0",
	             "link_broken:C,long_horizon:D,long_horizon:E,no_action_items:PM-2,overdue:B,"
	             "overdue:F,overdue:G,owner_inactive:E,undated:A");
	hist = pgtest_value(t.conn,
		"SELECT string_agg(coalesce(clear_reason, 'open'), '; ' ORDER BY flag_id) "
		"FROM v_item_flag_history WHERE kind = 'overdue' AND title = 'B'", 0, NULL);
	char *want = pgtest_value(t.conn, "SELECT 'due date moved to ' || (" T0 "::date + 90) || '; open'",
	                          0, NULL);
	assert_string_equal(hist, want);
	free(hist);
	free(want);

	/* needs_decision after 180 days open (A, B, D, E, F, G) */
	char *got = flags_at(t.conn, &cw, "181 days");
	assert_non_null(strstr(got, "needs_decision+6-0"));
	free(got);
	pgtest_drop(&t);
}

/* The ladder's SQL: arm once per (item, rung, flag raise, channel), claim
 * by one caller, record; re-arm after the flag is raised again. */
static void test_escalation_ladder(void **state)
{
	(void)state;
	struct pgtest_db t;
	if (!pgtest_create(&t, "watch_esc", true))
		return;
	struct cfg_watch cw = default_watch();
	struct cfg_rung rung = { .name = "overdue-1", .flag = "overdue", .days = 1,
	                         .notify = "platform_lead", .comment = true };
	cw.rungs = &rung;
	cw.n_rungs = 1;
	char *rungs = watch_rungs_json(&cw, NULL, NULL, 0);
	assert_string_equal(rungs, "[{\"name\":\"overdue-1\",\"flag\":\"overdue\",\"days\":1,"
	                    "\"notify\":\"platform_lead\"}]");
	seed(t.conn);
	const char *arm = "SELECT closeloop_escalation_arm(" T0 " + $1::interval, $2::jsonb, 'test')";
	const char *claim = "SELECT count(*), bool_or(r_check), min(r_login), min(r_days), "
	                    "min(r_remote_key), min(r_platform) "
	                    "FROM closeloop_escalation_claim(" T0 " + $1::interval, 'test', 50, $2::int)";

	/* B is due +10: at +10 days 12 h not overdue yet; at +11 one day over */
	free(flags_at(t.conn, &cw, "10 days 12 hours"));
	const char *p[2] = { "10 days 12 hours", rungs };
	assert_int_equal(pgtest_long(t.conn, arm, 2, p), 0);
	free(flags_at(t.conn, &cw, "11 days 12 hours"));
	p[0] = "11 days 12 hours";
	assert_int_equal(pgtest_long(t.conn, arm, 2, p), 1);
	assert_int_equal(pgtest_long(t.conn, arm, 2, p), 0); /* once */

	const char *cp[2] = { "11 days 12 hours", "600" };
	PGresult *res = db_sync_exec(t.conn, claim, 2, cp, NULL, 0);
	assert_non_null(res);
	assert_string_equal(PQgetvalue(res, 0, 0), "1");
	assert_string_equal(PQgetvalue(res, 0, 1), "f");
	assert_string_equal(PQgetvalue(res, 0, 2), "lead-gh");
	assert_string_equal(PQgetvalue(res, 0, 3), "1");
	assert_string_equal(PQgetvalue(res, 0, 4), "acme/k8s#2");
	assert_string_equal(PQgetvalue(res, 0, 5), "k8s");
	PQclear(res);
	/* claimed: nobody else takes it within the lease; after it, with a check */
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM closeloop_escalation_claim("
	                             T0 " + interval '11 days 12 hours', 'other', 50, 600)", 0, NULL), 0);
	char *chk = pgtest_value(t.conn, "SELECT r_check::text FROM closeloop_escalation_claim("
	                         T0 " + interval '11 days 13 hours', 'other', 50, 60)", 0, NULL);
	assert_string_equal(chk, "true");
	free(chk);

	const char *dp[1] = { "https://github.com/acme/k8s/issues/2#issuecomment-1" };
	char *ok = pgtest_value(t.conn, "SELECT closeloop_escalation_done(min(id), 'sent', "
	                        "'comment created', $1, '@lead-gh', NULL)::text FROM escalation", 1, dp);
	assert_string_equal(ok, "true");
	free(ok);
	ok = pgtest_value(t.conn, "SELECT closeloop_escalation_done(min(id), 'failed', 'x', NULL, NULL, "
	                  "NULL)::text FROM escalation", 0, NULL);
	assert_string_equal(ok, "false"); /* not 'sending' any more */
	free(ok);
	char *row = pgtest_value(t.conn, "SELECT state || ' ' || attempts || ' ' || recipient || ' ' || "
	                         "recipient_identity || ' ' || rung FROM escalation", 0, NULL);
	assert_string_equal(row, "sent 2 lead @lead-gh overdue-1");
	free(row);
	row = pgtest_value(t.conn, "SELECT new_value || ' ' || source FROM item_event "
	                   "WHERE field = 'escalation'", 0, NULL);
	assert_string_equal(row, "overdue-1: @lead-gh watch");
	free(row);
	p[0] = "20 days";
	assert_int_equal(pgtest_long(t.conn, arm, 2, p), 0); /* fired once: never again */

	/* the due date moves out (flag clears), then B is overdue again: re-armed */
	sql(t.conn, "UPDATE action_item SET due_date = " T0 "::date + 30 WHERE title = 'B'");
	free(flags_at(t.conn, &cw, "20 days 1 hour"));
	free(flags_at(t.conn, &cw, "32 days"));
	p[0] = "32 days";
	assert_int_equal(pgtest_long(t.conn, arm, 2, p), 1);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(DISTINCT flag_id) FROM escalation", 0, NULL), 2);

	/* a refused send is retried; 5 attempts then abandoned */
	for (int i = 0; i < 5; i++) {
		const char *cp2[2] = { "32 days", "600" };
		char *id = pgtest_value(t.conn, "SELECT r_id::text FROM closeloop_escalation_claim("
		                        T0 " + $1::interval, 'test', 50, $2::int)", 2, cp2);
		const char *ip[1] = { id };
		ok = pgtest_value(t.conn, "SELECT closeloop_escalation_done($1::bigint, 'failed', "
		                  "'HTTP 422', NULL, NULL, NULL)::text", 1, ip);
		assert_string_equal(ok, "true");
		free(ok);
		free(id);
	}
	row = pgtest_value(t.conn, "SELECT string_agg(state || ' ' || attempts, ',' ORDER BY id) "
	                   "FROM escalation", 0, NULL);
	assert_string_equal(row, "sent 2,abandoned 5");
	free(row);
	free(rungs);
	pgtest_drop(&t);
}

/* The closeloop:* label rows (sql/013): want follows the open flags of
 * the labelled kinds on linked tickets of connectors with labels; a claim
 * is taken once within its lease; a success records applied and the
 * connector's extra, a failure is retried; a label closeloop put on comes
 * off when its flag clears, and one it never put on is never taken off. */
static void test_ticket_labels(void **state)
{
	(void)state;
	struct pgtest_db t;
	if (!pgtest_create(&t, "watch_labels", true))
		return;
	struct cfg_watch cw = default_watch();
	seed(t.conn);
	const char *plan = "SELECT closeloop_labels_plan(" T0 " + $1::interval, $2::jsonb)";
	const char *claim = "SELECT coalesce(string_agg(r_label || '/' || r_on || '/' || r_remote_key, ','"
	                    " ORDER BY r_label), '') FROM closeloop_labels_claim(" T0 " + $1::interval,"
	                    " 'test', 50, 600)";
	const char *opts = "{\"kinds\": [\"overdue\", \"owner_inactive\", \"escalated\"],"
	                   " \"connectors\": [\"gh\"]}";
	/* B (linked, owner bob inactive) is overdue from +11 days; C is
	 * overdue too, but its ticket link is broken: no label there */
	free(flags_at(t.conn, &cw, "11 days 12 hours"));
	const char *p[2] = { "11 days 12 hours", opts };
	assert_int_equal(pgtest_long(t.conn, plan, 2, p), 2);
	assert_int_equal(pgtest_long(t.conn, plan, 2, p), 0); /* idempotent */
	char *got = pgtest_value(t.conn, claim, 1, p);
	assert_string_equal(got, "closeloop:overdue/true/acme/k8s#2,closeloop:owner_inactive/true/acme/k8s#2");
	free(got);
	got = pgtest_value(t.conn, claim, 1, p);
	assert_string_equal(got, ""); /* claimed: nobody else within the lease */
	free(got);

	/* one succeeds (the connector's extra is stored), one fails */
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FILTER (WHERE closeloop_labels_done(id, true,"
	                             " label = 'closeloop:overdue', 'HTTP 502', '{\"labels\": "
	                             "[\"closeloop:overdue\"], \"assignees\": []}', NULL)) FROM ticket_label",
	                             0, NULL), 2);
	got = pgtest_value(t.conn, "SELECT remote_extra::text FROM external_link WHERE id = 2", 0, NULL);
	assert_string_equal(got, "{\"labels\": [\"closeloop:overdue\"], \"assignees\": []}");
	free(got);
	got = pgtest_value(t.conn, "SELECT string_agg(label || ' ' || state || ' ' || attempts, ','"
	                   " ORDER BY label) FROM v_ticket_label", 0, NULL);
	assert_string_equal(got, "closeloop:overdue done 0,closeloop:owner_inactive pending 1");
	free(got);
	got = pgtest_value(t.conn, claim, 1, p); /* the failed one is retried */
	assert_string_equal(got, "closeloop:owner_inactive/true/acme/k8s#2");
	free(got);

	/* B's due date moves out: overdue clears, its label comes off; the
	 * owner_inactive write, whose claim's lease ran out, is taken again */
	sql(t.conn, "UPDATE action_item SET due_date = " T0 "::date + 40 WHERE title = 'B'");
	free(flags_at(t.conn, &cw, "12 days"));
	p[0] = "12 days";
	assert_int_equal(pgtest_long(t.conn, plan, 2, p), 1);
	got = pgtest_value(t.conn, claim, 1, p);
	assert_string_equal(got, "closeloop:overdue/false/acme/k8s#2,"
	                    "closeloop:owner_inactive/true/acme/k8s#2");
	free(got);
	/* labels turned off: owner_inactive, never put on, is no longer wanted
	 * and nothing is taken off for it; overdue still has to come off */
	p[1] = "{\"kinds\": [], \"connectors\": []}";
	assert_int_equal(pgtest_long(t.conn, plan, 2, p), 1);
	got = pgtest_value(t.conn, "SELECT string_agg(label || ' want=' || want || ' applied=' || applied,"
	                   " ',' ORDER BY label) FROM ticket_label", 0, NULL);
	assert_string_equal(got, "closeloop:overdue want=false applied=true,"
	                    "closeloop:owner_inactive want=false applied=false");
	free(got);
	pgtest_drop(&t);
}

/* Staleness and closeloop's own writes (sql/025): the tracker's update
 * that closeloop:stale's own label write causes, and the one an
 * escalation comment causes, are not activity, so the flag stays raised;
 * a person's later change is, and clears it. */
static void test_stale_own_writes(void **state)
{
	(void)state;
	struct pgtest_db t;
	if (!pgtest_create(&t, "watch_stale", true))
		return;
	struct cfg_watch cw = default_watch();
	seed(t.conn);
	const char *stale_b = "SELECT count(*) FROM v_item_flag_open WHERE kind = 'stale' AND title = 'B'";
	const char *bump = "UPDATE external_link SET remote_updated_at = " T0 " + $1::interval WHERE id = 2";
	sql(t.conn, "UPDATE external_link SET remote_updated_at = " T0 " WHERE id = 2");
	free(flags_at(t.conn, &cw, "40 days"));
	assert_int_equal(pgtest_long(t.conn, stale_b, 0, NULL), 1);

	/* the label goes on: claimed, the pull sees the tracker's update while
	 * the write is in flight, then the outcome is recorded */
	const char *p[2] = { "40 days", "{\"kinds\": [\"stale\"], \"connectors\": [\"gh\"]}" };
	assert_int_equal(pgtest_long(t.conn, "SELECT closeloop_labels_plan(" T0 " + $1::interval, "
	                             "$2::jsonb)", 2, p), 1);
	char *got = pgtest_value(t.conn, "SELECT string_agg(r_label, ',') FROM closeloop_labels_claim("
	                         T0 " + $1::interval, 'test', 50, 600)", 1, p);
	assert_string_equal(got, "closeloop:stale");
	free(got);
	const char *b1[1] = { "40 days 2 seconds" };
	sql_params(t.conn, bump, 1, b1);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(closeloop_labels_done(id, true, true, NULL, "
	                             "NULL, " T0 " + interval '40 days 1 second')) FROM ticket_label",
	                             0, NULL), 1);
	got = flags_at(t.conn, &cw, "40 days 1 hour");
	assert_string_equal(got, ""); /* nothing cleared: the label is not activity */
	free(got);

	/* an escalation comment on the stale item (a rung on stale, 0 days) */
	const char *rungs = "[{\"name\": \"stale-0\", \"flag\": \"stale\", \"days\": 0,"
	                    " \"notify\": \"platform_lead\"}]";
	const char *ap[2] = { "40 days 1 hour", rungs };
	assert_int_equal(pgtest_long(t.conn, "SELECT closeloop_escalation_arm(" T0 " + $1::interval, "
	                             "$2::jsonb, 'test')", 2, ap), 1);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM closeloop_escalation_claim(" T0
	                             " + $1::interval, 'test', 50, 600)", 1, ap), 1);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(closeloop_escalation_done(id, 'sent', 'ok', "
	                             "NULL, '@lead-gh', " T0 " + interval '40 days 1 hour 3 seconds')) "
	                             "FROM escalation", 0, NULL), 1);
	const char *b2[1] = { "40 days 1 hour 4 seconds" };
	sql_params(t.conn, bump, 1, b2);
	got = flags_at(t.conn, &cw, "40 days 2 hours");
	assert_string_equal(got, "");
	free(got);
	got = pgtest_value(t.conn, "SELECT (remote_activity_at = " T0 ")::text FROM external_link "
	                   "WHERE id = 2", 0, NULL);
	assert_string_equal(got, "true"); /* the tracker's own last change is kept */
	free(got);

	/* a person comments a day later: activity, the flag clears */
	const char *b3[1] = { "41 days" };
	sql_params(t.conn, bump, 1, b3);
	got = flags_at(t.conn, &cw, "41 days 1 hour");
	assert_string_equal(got, "stale+0-1");
	free(got);
	assert_int_equal(pgtest_long(t.conn, stale_b, 0, NULL), 0);
	got = pgtest_value(t.conn, "SELECT clear_reason FROM item_flag WHERE kind = 'stale' "
	                   "AND action_item_id = 2", 0, NULL);
	assert_string_equal(got, "activity on the item");
	free(got);
	pgtest_drop(&t);
}

static void test_message(void **state)
{
	(void)state;
	struct watch_esc e = {
		.rung = "overdue-30", .flag = "overdue", .recipient = "lead", .login = "lead-gh",
		.platform = "k8s", .title = "Add a canary", .pm_ref = "PM-1",
		.pm_title = "Resolver outage", .due = "2026-10-01", .days = 31, .id = 7,
		.marker = "esc-abc",
	};
	char *m = watch_esc_message(&e);
	assert_non_null(strstr(m, "**closeloop escalation (overdue-30)** — cc @lead-gh (platform lead, k8s)\n"));
	assert_non_null(strstr(m, "postmortem **PM-1** (Resolver outage) was due on 2026-10-01 and is "
	                          "now 31 days past its due date."));
	assert_non_null(strstr(m, "(escalation #7)"));
	const char *tail = "\n<!-- closeloop:escalation esc-abc -->";
	assert_true(strlen(m) > strlen(tail));
	assert_string_equal(m + strlen(m) - strlen(tail), tail);
	free(m);
	e.login = NULL;
	e.flag = "needs_decision";
	e.days = 1;
	m = watch_esc_message(&e);
	assert_non_null(strstr(m, "cc lead (platform lead, k8s; the directory has no identity of "
	                          "theirs in this tracker)"));
	assert_non_null(strstr(m, "has carried the `needs_decision` flag for 1 day."));
	free(m);
	char *id = watch_esc_identity(&e);
	assert_null(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_flags_raise_clear),
		cmocka_unit_test(test_escalation_ladder),
		cmocka_unit_test(test_ticket_labels),
		cmocka_unit_test(test_stale_own_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
