/* test_ledger.c — the ledger schema contract (sql/001_ledger.sql, described
 * in docs/schema.md) against a real PostgreSQL (CLOSELOOP_TEST_DSN):
 * history triggers, closeloop.source / closeloop.actor, closed_at, the
 * append-only item_event, the NOTIFY channel, the unique link rules and the
 * change markers the push pass probes (sql/007_change_markers.sql). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <time.h>
#include <cmocka.h>

#include "db.h"
#include "log.h"
#include "pgtest.h"

/* A postmortem with one action item; returns the item id as text. */
static char *new_item(PGconn *c, const char *ref)
{
	const char *p[1] = { ref };
	char *pm = pgtest_value(c,
		"INSERT INTO postmortem (reference, title) VALUES ($1, 'Checkout outage') "
		"RETURNING id", 1, p);
	const char *q[1] = { pm };
	char *id = pgtest_value(c,
		"INSERT INTO action_item (postmortem_id, title, owner, due_date, created_at, updated_at) "
		"VALUES ($1::bigint, 'Add a circuit breaker', 'alice', '2026-12-01', "
		"        now() - interval '1 hour', now() - interval '1 hour') RETURNING id", 1, q);
	free(pm);
	return id;
}

static long events(PGconn *c, const char *id, const char *field, const char *source)
{
	const char *p[3] = { id, field, source };
	return pgtest_long(c,
		"SELECT count(*) FROM item_event WHERE action_item_id = $1::bigint "
		"AND ($2::text IS NULL OR field = $2) AND ($3::text IS NULL OR source = $3)", 3, p);
}

/* The markers of sql/007 follow edits made with plain SQL: a link carries
 * its item's version (dirty when synced_version is behind), an item lists
 * the connectors it has managed links with, and closeloop_push_select
 * returns exactly the dirty link and the unlinked item. */
static void test_change_markers(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "ledgermark", true);
	char *id = new_item(t.conn, "PM2026-007");
	char *other = new_item(t.conn, "PM2026-008");
	const char *p[2] = { id, other };
	pgtest_exec(t.conn, "INSERT INTO external_link (action_item_id, connector, target, state, "
	            "remote_id, synced_version) VALUES ($1::bigint, 'gh', 'acme/pay', 'linked', '1', 1), "
	            "($1::bigint, 'reference-only', 'x/y', 'reference', NULL, 0)", 1, p);
	pgtest_exec(t.conn, "UPDATE external_link SET kind = 'reference' WHERE connector = 'reference-only'",
	            0, NULL);
	pgtest_expect(t.conn, "SELECT string_agg(managed_connectors::text, ' ' ORDER BY id) FROM action_item",
	              "{gh} {}");
	pgtest_expect(t.conn, "SELECT count(*) FROM closeloop_push_select('gh', 'acme/pay', 'gh', "
	              "'acme/pay', 'github', true, NULL, NULL, false, false)", "1"); /* the unlinked item only */
	pgtest_exec(t.conn, "UPDATE action_item SET title = 'Add two breakers' WHERE id = $1::bigint", 1, p);
	pgtest_expect(t.conn, "SELECT item_version::text || '/' || synced_version FROM external_link "
	              "WHERE connector = 'gh'", "2/1");
	pgtest_expect(t.conn, "SELECT string_agg(coalesce(r_link::text, '-') || ':' || (r_item = "
	              "(SELECT min(id) FROM action_item))::text, ' ') FROM closeloop_push_select('gh', "
	              "'acme/pay', 'gh', 'acme/pay', 'github', true, NULL, NULL, false, false)", "1:true -:false");
	/* a team routed elsewhere takes its items out of this target's pass */
	pgtest_exec(t.conn, "WITH tm AS (INSERT INTO team (name, connector, target) VALUES "
	            "('payments', 'gh', 'acme/other') RETURNING id) "
	            "UPDATE action_item SET team_id = (SELECT id FROM tm) WHERE id = $1::bigint", 1, p + 1);
	pgtest_expect(t.conn, "SELECT count(*) FROM closeloop_push_select('gh', 'acme/pay', 'gh', "
	              "'acme/pay', 'github', true, NULL, NULL, false, false) WHERE r_link IS NULL", "0");
	pgtest_expect(t.conn, "SELECT count(*) FROM closeloop_push_select('gh', 'acme/other', 'gh', "
	              "'acme/pay', 'github', true, NULL, NULL, false, false)", "1");
	pgtest_exec(t.conn, "DELETE FROM external_link WHERE connector = 'gh'", 0, NULL);
	pgtest_expect(t.conn, "SELECT string_agg(managed_connectors::text, ' ' ORDER BY id) FROM action_item",
	              "{} {}");
	free(id);
	free(other);
	pgtest_drop(&t);
}

static void test_insert_writes_created(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "ledgerins", true);
	char *id = new_item(t.conn, "PM2026-001");
	assert_int_equal(events(t.conn, id, NULL, NULL), 1);
	assert_int_equal(events(t.conn, id, "created", "sql"), 1);
	const char *p[1] = { id };
	char *v = pgtest_value(t.conn,
		"SELECT new_value || '|' || actor || '|' || (detail->>'title') || '|' || (detail->>'owner') "
		"FROM item_event WHERE action_item_id = $1::bigint", 1, p);
	assert_string_equal(v, "open|postgres|Add a circuit breaker|alice");
	free(v);
	v = pgtest_value(t.conn, "SELECT version::text || '|' || (closed_at IS NULL)::text "
	                 "FROM action_item WHERE id = $1::bigint", 1, p);
	assert_string_equal(v, "1|true");
	free(v);
	free(id);
	pgtest_drop(&t);
}

static void test_sql_update_history(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "ledgerupd", true);
	char *id = new_item(t.conn, "PM2026-002");
	const char *p[1] = { id };
	pgtest_exec(t.conn,
		"UPDATE action_item SET state = 'in_progress', due_date = '2027-01-15', owner = 'bob' "
		"WHERE id = $1::bigint", 1, p);
	assert_int_equal(events(t.conn, id, NULL, NULL), 4);
	assert_int_equal(events(t.conn, id, NULL, "sql"), 4);
	assert_int_equal(events(t.conn, id, "state", NULL), 1);
	assert_int_equal(events(t.conn, id, "due_date", NULL), 1);
	assert_int_equal(events(t.conn, id, "owner", NULL), 1);
	char *v = pgtest_value(t.conn,
		"SELECT string_agg(field || ':' || old_value || '>' || new_value, ',' ORDER BY field) "
		"FROM item_event WHERE action_item_id = $1::bigint AND field <> 'created'", 1, p);
	assert_string_equal(v, "due_date:2026-12-01>2027-01-15,owner:alice>bob,state:open>in_progress");
	free(v);
	/* One statement, one version step; updated_at moves to now. */
	v = pgtest_value(t.conn,
		"SELECT version::text || '|' || (updated_at > created_at + interval '30 minutes')::text "
		"FROM action_item WHERE id = $1::bigint", 1, p);
	assert_string_equal(v, "2|true");
	free(v);
	/* Writing the same values again changes nothing. */
	pgtest_exec(t.conn, "UPDATE action_item SET owner = 'bob' WHERE id = $1::bigint", 1, p);
	assert_int_equal(events(t.conn, id, NULL, NULL), 4);
	assert_int_equal(pgtest_long(t.conn, "SELECT version FROM action_item WHERE id = $1::bigint",
	                             1, p), 2);
	free(id);
	pgtest_drop(&t);
}

static void test_source_and_actor(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "ledgersrc", true);
	char *id = new_item(t.conn, "PM2026-003");
	const char *p[1] = { id };
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	pgtest_exec(t.conn, "SELECT set_config('closeloop.source', 'reconcile:github-main', true), "
	            "set_config('closeloop.actor', 'octocat', true)", 0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET title = 'Add a breaker' WHERE id = $1::bigint",
	            1, p);
	pgtest_exec(t.conn, "COMMIT", 0, NULL);
	char *v = pgtest_value(t.conn, "SELECT source || '|' || actor FROM item_event "
	                       "WHERE action_item_id = $1::bigint AND field = 'title'", 1, p);
	assert_string_equal(v, "reconcile:github-main|octocat");
	free(v);
	/* The setting was transaction-local: the next edit is 'sql' again. */
	pgtest_exec(t.conn, "UPDATE action_item SET priority = 'P1' WHERE id = $1::bigint", 1, p);
	v = pgtest_value(t.conn, "SELECT source || '|' || actor FROM item_event "
	                 "WHERE action_item_id = $1::bigint AND field = 'priority'", 1, p);
	assert_string_equal(v, "sql|postgres");
	free(v);
	free(id);
	pgtest_drop(&t);
}

static void test_closed_at(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "ledgerclose", true);
	char *id = new_item(t.conn, "PM2026-004");
	const char *p[1] = { id };
	const char *closed = "SELECT (closed_at IS NOT NULL)::text FROM action_item WHERE id = $1::bigint";
	pgtest_exec(t.conn, "UPDATE action_item SET state = 'done' WHERE id = $1::bigint", 1, p);
	char *v = pgtest_value(t.conn, closed, 1, p);
	assert_string_equal(v, "true");
	free(v);
	/* done -> wont_do keeps the first closing time */
	char *before = pgtest_value(t.conn, "SELECT closed_at::text FROM action_item WHERE id = $1::bigint", 1, p);
	pgtest_exec(t.conn, "UPDATE action_item SET state = 'wont_do' WHERE id = $1::bigint", 1, p);
	char *after = pgtest_value(t.conn, "SELECT closed_at::text FROM action_item WHERE id = $1::bigint", 1, p);
	assert_string_equal(before, after);
	free(before);
	free(after);
	pgtest_exec(t.conn, "UPDATE action_item SET state = 'open' WHERE id = $1::bigint", 1, p);
	v = pgtest_value(t.conn, closed, 1, p);
	assert_string_equal(v, "false");
	free(v);
	/* An item inserted closed gets closed_at too. */
	v = pgtest_value(t.conn,
		"INSERT INTO action_item (postmortem_id, title, state) "
		"SELECT postmortem_id, 'Already done', 'done' FROM action_item WHERE id = $1::bigint "
		"RETURNING (closed_at IS NOT NULL)::text", 1, p);
	assert_string_equal(v, "true");
	free(v);
	free(id);
	pgtest_drop(&t);
}

static void test_item_event_append_only(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "ledgerappend", true);
	char *id = new_item(t.conn, "PM2026-005");
	const char *p[1] = { id };
	pgtest_exec(t.conn, "UPDATE item_event SET new_value = 'forged', source = 'x'", 0, NULL);
	pgtest_exec(t.conn, "DELETE FROM item_event", 0, NULL);
	assert_int_equal(events(t.conn, id, "created", "sql"), 1);
	char *v = pgtest_value(t.conn, "SELECT new_value FROM item_event WHERE action_item_id = $1::bigint",
	                       1, p);
	assert_string_equal(v, "open");
	free(v);
	free(id);
	pgtest_drop(&t);
}

/* Wait up to timeout_ms for the next notification on c; returns its
 * payload (heap) or NULL. */
static char *next_notify(PGconn *c, const char *channel, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		assert_int_equal(PQconsumeInput(c), 1);
		PGnotify *n = PQnotifies(c);
		if (n) {
			assert_string_equal(n->relname, channel);
			char *payload = xstrdup(n->extra);
			PQfreemem(n);
			return payload;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void test_notify_channel(void **state)
{
	struct pgtest_db t;
	char err[512];
	UNUSED(state);
	pgtest_create(&t, "ledgernotify", true);
	PGconn *listener = db_sync_connect(t.dsn, err, sizeof(err));
	if (!listener)
		fail_msg("%s", err);
	pgtest_exec(listener, "LISTEN closeloop_ledger", 0, NULL);

	char *id = new_item(t.conn, "PM2026-006");
	const char *p[1] = { id };
	char *n = next_notify(listener, "closeloop_ledger", 5000);
	assert_non_null(n);   /* the INSERT */
	assert_string_equal(n, "");
	free(n);

	/* A reconcile write stays quiet; a marker sent after it shows that
	 * nothing came before it. */
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	pgtest_exec(t.conn, "SELECT set_config('closeloop.source', 'reconcile:github-main', true)",
	            0, NULL);
	pgtest_exec(t.conn, "UPDATE action_item SET state = 'in_progress' WHERE id = $1::bigint", 1, p);
	pgtest_exec(t.conn, "COMMIT", 0, NULL);
	pgtest_exec(t.conn, "NOTIFY closeloop_ledger, 'marker'", 0, NULL);
	n = next_notify(listener, "closeloop_ledger", 5000);
	assert_non_null(n);
	assert_string_equal(n, "marker");
	free(n);

	/* A plain SQL edit wakes the daemon. */
	pgtest_exec(t.conn, "UPDATE action_item SET owner = 'carol' WHERE id = $1::bigint", 1, p);
	n = next_notify(listener, "closeloop_ledger", 5000);
	assert_non_null(n);
	assert_string_equal(n, "");
	free(n);
	/* An UPDATE that changes no synced field does not. */
	pgtest_exec(t.conn, "UPDATE action_item SET position = 3 WHERE id = $1::bigint", 1, p);
	pgtest_exec(t.conn, "NOTIFY closeloop_ledger, 'marker2'", 0, NULL);
	n = next_notify(listener, "closeloop_ledger", 5000);
	assert_non_null(n);
	assert_string_equal(n, "marker2");
	free(n);
	PQfinish(listener);
	free(id);
	pgtest_drop(&t);
}

static void expect_unique_violation(PGconn *c, const char *sql, int nparams,
                                    const char *const *params, const char *index)
{
	char err[512] = "";
	assert_int_equal(db_sync_command(c, sql, nparams, params, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "(SQLSTATE 23505)"));
	assert_non_null(strstr(err, index));
}

static void test_link_uniqueness(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "ledgerlink", true);
	char *a = new_item(t.conn, "PM2026-007");
	const char *p[1] = { a };
	char *b = pgtest_value(t.conn,
		"INSERT INTO action_item (postmortem_id, title) "
		"SELECT postmortem_id, 'Second item' FROM action_item WHERE id = $1::bigint "
		"RETURNING id", 1, p);
	const char *ins = "INSERT INTO external_link (action_item_id, connector, target, kind, state, remote_id) "
	                  "VALUES ($1::bigint, $2, 'acme/payments', $3, $4, $5)";
	const char *l1[5] = { a, "github-main", "managed", "linked", "1001" };
	pgtest_exec(t.conn, ins, 5, l1);
	/* a second managed link for the same item and connector */
	const char *l2[5] = { a, "github-main", "managed", "creating", NULL };
	expect_unique_violation(t.conn, ins, 5, l2, "external_link_managed_key");
	/* another item pointing at the same remote issue */
	const char *l3[5] = { b, "github-main", "managed", "linked", "1001" };
	expect_unique_violation(t.conn, ins, 5, l3, "external_link_remote_key");
	/* allowed: the same item on another connector, and a reference link */
	const char *l4[5] = { a, "jira-main", "managed", "linked", "1001" };
	pgtest_exec(t.conn, ins, 5, l4);
	const char *l5[5] = { a, "github", "reference", "reference", NULL };
	pgtest_exec(t.conn, ins, 5, l5);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM external_link", 0, NULL), 3);
	free(a);
	free(b);
	pgtest_drop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_writes_created),
		cmocka_unit_test(test_sql_update_history),
		cmocka_unit_test(test_source_and_actor),
		cmocka_unit_test(test_closed_at),
		cmocka_unit_test(test_item_event_append_only),
		cmocka_unit_test(test_notify_channel),
		cmocka_unit_test(test_link_uniqueness),
		cmocka_unit_test(test_change_markers),
	};
	log_set_level(LOG_LVL_WARN);
	return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
