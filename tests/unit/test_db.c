/* test_db.c — db.c against a real PostgreSQL (CLOSELOOP_TEST_DSN):
 * migrations, blocking helpers, and the asynchronous connection on a
 * libuv loop (ordering, NULL parameters, errors, LISTEN/NOTIFY, a killed
 * backend and reconnect, db_close from inside a callback). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <cmocka.h>
#include <uv.h>
#include <sys/wait.h>

#include "db.h"
#include "log.h"
#include "pgtest.h"

/* ---- migrations and blocking helpers ---- */

static void test_schema_version_empty(void **state)
{
	struct pgtest_db t;
	char err[512];
	UNUSED(state);
	pgtest_create(&t, "dbver", false);
	assert_int_equal(db_schema_version(t.conn, err, sizeof(err)), 0);
	pgtest_drop(&t);
}

static void test_migrate_applies_all(void **state)
{
	struct pgtest_db t;
	char err[512] = "";
	UNUSED(state);
	pgtest_create(&t, "dbmig", false);
	assert_true(db_n_migrations >= 1);
	int n = db_migrate(t.conn, err, sizeof(err));
	if (n < 0)
		fail_msg("%s", err);
	assert_int_equal(n, (int)db_n_migrations);
	assert_int_equal(db_schema_version(t.conn, err, sizeof(err)), db_schema_required());
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM schema_migrations", 0, NULL),
	                 (long)db_n_migrations);
	for (size_t i = 0; i < db_n_migrations; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", db_migrations[i].version);
		const char *p[1] = { v };
		char *name = pgtest_value(t.conn,
			"SELECT name FROM schema_migrations WHERE version = $1::int", 1, p);
		assert_string_equal(name, db_migrations[i].name);
		free(name);
	}
	/* The ledger is there. */
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM action_item", 0, NULL), 0);
	pgtest_drop(&t);
}

static void test_migrate_twice(void **state)
{
	struct pgtest_db t;
	char err[512] = "";
	UNUSED(state);
	pgtest_create(&t, "dbmig2", true);
	int n = db_migrate(t.conn, err, sizeof(err));
	if (n < 0)
		fail_msg("%s", err);
	assert_int_equal(n, 0);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM schema_migrations", 0, NULL),
	                 (long)db_n_migrations);
	pgtest_drop(&t);
}

/* A ledger that recorded a later migration but never an earlier one (two
 * branches landed their numbers out of order) gets the gap applied, and
 * db_schema_missing names it until then.  011 is CREATE OR REPLACE only, so
 * forgetting its row stands for "never applied". */
static void test_migrate_applies_a_gap(void **state)
{
	struct pgtest_db t;
	char err[512] = "";
	int first = -1;
	UNUSED(state);
	pgtest_create(&t, "dbmiggap", true);
	assert_int_equal(db_schema_missing(t.conn, &first, err, sizeof(err)), 0);
	assert_int_equal(first, 0);
	pgtest_exec(t.conn, "DELETE FROM schema_migrations WHERE version = 11", 0, NULL);
	assert_int_equal(db_schema_version(t.conn, err, sizeof(err)), db_schema_required());
	assert_int_equal(db_schema_missing(t.conn, &first, err, sizeof(err)), 1);
	assert_int_equal(first, 11);
	int n = db_migrate(t.conn, err, sizeof(err));
	if (n < 0)
		fail_msg("%s", err);
	assert_int_equal(n, 1);
	assert_int_equal(db_schema_missing(t.conn, &first, err, sizeof(err)), 0);
	assert_int_equal(pgtest_long(t.conn,
		"SELECT count(*) FROM schema_migrations WHERE version = 11", 0, NULL), 1);
	pgtest_drop(&t);
}

static void test_schema_missing_empty(void **state)
{
	struct pgtest_db t;
	char err[512];
	int first = -1;
	UNUSED(state);
	pgtest_create(&t, "dbmiss0", false);
	assert_int_equal(db_schema_missing(t.conn, &first, err, sizeof(err)), (int)db_n_migrations);
	assert_int_equal(first, db_migrations[0].version);
	pgtest_drop(&t);
}

/* Two migrators at once (separate processes): the advisory lock makes one
 * wait, so every file is applied exactly once and neither fails. */
static void test_migrate_concurrent(void **state)
{
	struct pgtest_db t;
	pid_t kids[2];
	int applied = 0;
	UNUSED(state);
	pgtest_create(&t, "dbmigrace", false);
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			char err[512];
			PGconn *c = db_sync_connect(t.dsn, err, sizeof(err));
			int n = c ? db_migrate(c, err, sizeof(err)) : -EIO;
			if (n < 0)
				fprintf(stderr, "child: %s\n", err);
			_exit(n < 0 ? 100 : n);
		}
	}
	for (int i = 0; i < 2; i++) {
		int st = 0;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_int_not_equal(WEXITSTATUS(st), 100);
		applied += WEXITSTATUS(st);
	}
	assert_int_equal(applied, (int)db_n_migrations);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM schema_migrations", 0, NULL),
	                 (long)db_n_migrations);
	pgtest_drop(&t);
}

static void test_sync_error_rolls_back(void **state)
{
	struct pgtest_db t;
	char err[512] = "";
	UNUSED(state);
	pgtest_create(&t, "dberr", true);
	pgtest_exec(t.conn, "BEGIN", 0, NULL);
	const char *p[1] = { "infra" };
	pgtest_exec(t.conn, "INSERT INTO platform (name) VALUES ($1)", 1, p);
	assert_int_equal(db_sync_command(t.conn, "INSERT INTO platfrom VALUES (1)", 0, NULL,
	                                 err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "db: ERROR: "));
	assert_non_null(strstr(err, "(SQLSTATE 42P01)"));
	/* The transaction is aborted: nothing else runs until ROLLBACK. */
	assert_int_equal(db_sync_command(t.conn, "SELECT 1", 0, NULL, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "(SQLSTATE 25P02)"));
	pgtest_exec(t.conn, "ROLLBACK", 0, NULL);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM platform", 0, NULL), 0);

	/* A constraint violation names the SQLSTATE and the detail. */
	pgtest_exec(t.conn, "INSERT INTO platform (name) VALUES ($1)", 1, p);
	assert_null(db_sync_exec(t.conn, "INSERT INTO platform (name) VALUES ($1)", 1, p,
	                         err, sizeof(err)));
	assert_non_null(strstr(err, "(SQLSTATE 23505)"));
	assert_non_null(strstr(err, "already exists"));
	pgtest_drop(&t);
}

static void test_sync_connect_error(void **state)
{
	char err[512] = "";
	UNUSED(state);
	assert_null(db_sync_connect("host=/nonexistent/closeloop port=1 dbname=x "
	                            "connect_timeout=2", err, sizeof(err)));
	assert_non_null(strstr(err, "db: connect: "));
}

/* ---- asynchronous ---- */

struct actx {
	uv_loop_t loop;
	uv_timer_t guard;      /* fails the test when it fires */
	uv_timer_t later;      /* test-specific delayed step */
	struct db *db;
	PGconn *side;          /* blocking connection for out-of-band work */
	int connected, lost, notifies, closed;
	int results;           /* result callbacks seen */
	int order[16];
	char errs[16][512];
	bool got_null[16];
	char backend_pid[32];
	char notify_channel[64], notify_payload[64];
	bool timed_out;
};

static void actx_stop(struct actx *a)
{
	if (a->db) {
		db_close(a->db, NULL, NULL);
		a->db = NULL;
	}
	uv_timer_stop(&a->guard);
	uv_timer_stop(&a->later);
}

static void on_guard(uv_timer_t *t)
{
	struct actx *a = container_of(t, struct actx, guard);
	a->timed_out = true;
	actx_stop(a);
}

static void actx_init(struct actx *a)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(uv_loop_init(&a->loop), 0);
	uv_timer_init(&a->loop, &a->guard);
	uv_timer_init(&a->loop, &a->later);
	uv_timer_start(&a->guard, on_guard, 20000, 0);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	UNUSED(arg);
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Run the loop dry, close every handle left, assert the loop closes. */
static void actx_finish(struct actx *a)
{
	uv_run(&a->loop, UV_RUN_DEFAULT);
	uv_walk(&a->loop, close_walk, NULL);
	uv_run(&a->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&a->loop), 0);
	assert_false(a->timed_out);
}

static void on_event(struct db *db, enum db_event ev, const char *channel,
                     const char *payload, void *arg)
{
	struct actx *a = arg;
	UNUSED(db);
	switch (ev) {
	case DB_EVENT_CONNECTED: a->connected++; break;
	case DB_EVENT_LOST: a->lost++; break;
	case DB_EVENT_NOTIFY:
		a->notifies++;
		snprintf(a->notify_channel, sizeof(a->notify_channel), "%s", channel);
		snprintf(a->notify_payload, sizeof(a->notify_payload), "%s", payload);
		break;
	}
}

/* Records the result: arg is the query's index in a->order. */
struct qarg { struct actx *a; int idx; };

static void on_result(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct qarg *q = arg;
	struct actx *a = q->a;
	UNUSED(db);
	a->order[a->results++] = q->idx;
	if (err) {
		assert_null(res);
		snprintf(a->errs[q->idx], sizeof(a->errs[q->idx]), "%s", err);
		return;
	}
	assert_non_null(res);
	if (PQntuples(res) == 1 && PQnfields(res) >= 2) {
		assert_int_equal(strtol(PQgetvalue(res, 0, 0), NULL, 10), q->idx);
		a->got_null[q->idx] = PQgetisnull(res, 0, 1);
	}
}

static void on_result_stop(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct qarg *q = arg;
	on_result(db, res, err, arg);
	actx_stop(q->a);
}

static void test_async_order_and_errors(void **state)
{
	struct pgtest_db t;
	struct actx a;
	struct qarg q[6];
	UNUSED(state);
	pgtest_create(&t, "dbasync", true);
	actx_init(&a);
	assert_int_equal(db_open(&a.db, &a.loop, t.dsn, on_event, &a), 0);
	/* Queued before the connection is up; run in submission order. */
	for (int i = 0; i < 6; i++) {
		char idx[8];
		q[i] = (struct qarg){ &a, i };
		snprintf(idx, sizeof(idx), "%d", i);
		const char *p[2] = { idx, (i % 2) ? NULL : "text" };
		const char *sql = i == 3 ? "SELECT $1::int, $2::text, 1/0"
		                         : "SELECT $1::int, $2::text";
		assert_int_equal(db_query(a.db, sql, 2, p, i == 5 ? on_result_stop : on_result,
		                          &q[i]), 0);
	}
	/* Callbacks never run inside db_query. */
	assert_int_equal(a.results, 0);
	assert_int_equal(db_queue_length(a.db), 6);
	const struct db_stats *st = db_get_stats(a.db);
	uv_run(&a.loop, UV_RUN_DEFAULT);
	assert_int_equal(a.results, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(a.order[i], i);
	for (int i = 0; i < 6; i++) {
		if (i == 3)
			continue;
		assert_string_equal(a.errs[i], "");
		assert_int_equal(a.got_null[i], i % 2 == 1);
	}
	assert_non_null(strstr(a.errs[3], "division by zero"));
	assert_non_null(strstr(a.errs[3], "(SQLSTATE 22012)"));
	assert_int_equal(a.connected, 1);
	UNUSED(st); /* freed by now: db_close ran in on_result_stop */
	actx_finish(&a);
	pgtest_drop(&t);
}

static void on_stats_check(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct actx *a = arg;
	assert_null(err);
	assert_non_null(res);
	const struct db_stats *st = db_get_stats(db);
	assert_int_equal(st->statements, 2);
	assert_int_equal(st->errors, 1);
	assert_true(db_connected(db));
	actx_stop(a);
}

static void on_ignore_err(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	UNUSED(res);
	UNUSED(arg);
	assert_non_null(err);
}

static void test_async_stats(void **state)
{
	struct pgtest_db t;
	struct actx a;
	UNUSED(state);
	pgtest_create(&t, "dbstats", false);
	actx_init(&a);
	assert_int_equal(db_open(&a.db, &a.loop, t.dsn, on_event, &a), 0);
	assert_int_equal(db_query(a.db, "SELEC 1", 0, NULL, on_ignore_err, &a), 0);
	assert_int_equal(db_query(a.db, "SELECT 1", 0, NULL, on_stats_check, &a), 0);
	uv_run(&a.loop, UV_RUN_DEFAULT);
	actx_finish(&a);
	pgtest_drop(&t);
}

/* LISTEN on a channel that needs quoting, NOTIFY from a second connection. */
static void on_notify_event(struct db *db, enum db_event ev, const char *channel,
                            const char *payload, void *arg)
{
	struct actx *a = arg;
	on_event(db, ev, channel, payload, arg);
	if (ev == DB_EVENT_CONNECTED) {
		const char *p[2] = { "Closeloop \"Test\"", "hello" };
		pgtest_exec(a->side, "SELECT pg_notify($1, $2)", 2, p);
	} else if (ev == DB_EVENT_NOTIFY) {
		actx_stop(a);
	}
}

static void test_async_listen_notify(void **state)
{
	struct pgtest_db t;
	struct actx a;
	UNUSED(state);
	pgtest_create(&t, "dbnotify", false);
	actx_init(&a);
	a.side = t.conn;
	assert_int_equal(db_open(&a.db, &a.loop, t.dsn, on_notify_event, &a), 0);
	assert_int_equal(db_listen(a.db, "Closeloop \"Test\""), 0);
	assert_int_equal(db_listen(a.db, ""), -EINVAL);
	uv_run(&a.loop, UV_RUN_DEFAULT);
	assert_int_equal(a.connected, 1);
	assert_int_equal(a.notifies, 1);
	assert_string_equal(a.notify_channel, "Closeloop \"Test\"");
	assert_string_equal(a.notify_payload, "hello");
	actx_finish(&a);
	pgtest_drop(&t);
}

/* ---- a killed backend: fail, LOST, reconnect, re-LISTEN, CONNECTED ---- */

struct kill_ctx {
	struct actx a;
	char sleep_err[512], behind_err[512];
	char pid2[32];
};

static void on_killer(uv_timer_t *t)
{
	struct actx *a = container_of(t, struct actx, later);
	const char *p[1] = { a->backend_pid };
	char *ok = pgtest_value(a->side, "SELECT pg_terminate_backend($1::int)", 1, p);
	assert_string_equal(ok, "t");
	free(ok);
}

static void on_sleep_done(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct kill_ctx *k = arg;
	UNUSED(db);
	assert_null(res);
	assert_non_null(err);
	snprintf(k->sleep_err, sizeof(k->sleep_err), "%s", err);
}

static void on_behind_done(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct kill_ctx *k = arg;
	UNUSED(db);
	assert_null(res);
	assert_non_null(err);
	snprintf(k->behind_err, sizeof(k->behind_err), "%s", err);
}

static void on_pid(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct kill_ctx *k = arg;
	struct actx *a = &k->a;
	assert_null(err);
	if (a->connected == 1) {
		snprintf(a->backend_pid, sizeof(a->backend_pid), "%s", PQgetvalue(res, 0, 0));
		assert_int_equal(db_query(db, "SELECT pg_sleep(30)", 0, NULL, on_sleep_done, k), 0);
		assert_int_equal(db_query(db, "SELECT 2", 0, NULL, on_behind_done, k), 0);
		uv_timer_start(&a->later, on_killer, 300, 0);
	} else {
		snprintf(k->pid2, sizeof(k->pid2), "%s", PQgetvalue(res, 0, 0));
		/* The LISTEN was re-issued before CONNECTED. */
		pgtest_exec(a->side, "NOTIFY closeloop_ledger, 'again'", 0, NULL);
	}
}

static void on_kill_event(struct db *db, enum db_event ev, const char *channel,
                          const char *payload, void *arg)
{
	struct kill_ctx *k = arg;
	on_event(db, ev, channel, payload, &k->a);
	if (ev == DB_EVENT_CONNECTED)
		assert_int_equal(db_query(db, "SELECT pg_backend_pid()", 0, NULL, on_pid, k), 0);
	else if (ev == DB_EVENT_LOST)
		assert_false(db_connected(db));
	else if (ev == DB_EVENT_NOTIFY) {
		assert_int_equal(db_get_stats(db)->reconnects, 1);
		assert_int_equal(db_get_stats(db)->notifies, 1);
		actx_stop(&k->a);
	}
}

static void test_async_killed_backend(void **state)
{
	struct pgtest_db t;
	struct kill_ctx k;
	UNUSED(state);
	pgtest_create(&t, "dbkill", false);
	memset(&k, 0, sizeof(k));
	actx_init(&k.a);
	k.a.side = t.conn;
	assert_int_equal(db_open(&k.a.db, &k.a.loop, t.dsn, on_kill_event, &k), 0);
	assert_int_equal(db_listen(k.a.db, "closeloop_ledger"), 0);
	uv_run(&k.a.loop, UV_RUN_DEFAULT);
	assert_non_null(strstr(k.sleep_err, "terminating connection"));
	assert_non_null(strstr(k.sleep_err, "(SQLSTATE 57P01)"));
	assert_non_null(strstr(k.behind_err, "db: connection lost"));
	assert_int_equal(k.a.lost, 1);
	assert_int_equal(k.a.connected, 2);
	assert_int_equal(k.a.notifies, 1);
	assert_string_equal(k.a.notify_payload, "again");
	assert_string_not_equal(k.a.backend_pid, k.pid2);
	actx_finish(&k.a);
	pgtest_drop(&t);
}

/* ---- db_close from inside a result callback ---- */

static void on_closed(void *arg)
{
	struct actx *a = arg;
	a->closed++;
}

static void on_first_closes(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct qarg *q = arg;
	struct actx *a = q->a;
	on_result(db, res, err, arg);
	db_close(db, on_closed, a);
	a->db = NULL;
	/* Still valid until the loop runs the close callbacks. */
	assert_int_equal(db_query(db, "SELECT 1", 0, NULL, on_result, q), -ENOTCONN);
	assert_int_equal(db_listen(db, "x"), -ENOTCONN);
	db_close(db, on_closed, a); /* a second close is ignored */
	assert_int_equal(a->results, 3); /* the two queued ones failed now */
	actx_stop(a);
}

static void test_async_close_in_callback(void **state)
{
	struct pgtest_db t;
	struct actx a;
	struct qarg q[3];
	UNUSED(state);
	pgtest_create(&t, "dbclose", false);
	actx_init(&a);
	assert_int_equal(db_open(&a.db, &a.loop, t.dsn, on_event, &a), 0);
	for (int i = 0; i < 3; i++) {
		q[i] = (struct qarg){ &a, i };
		const char *idx[1] = { i == 0 ? "0" : i == 1 ? "1" : "2" };
		assert_int_equal(db_query(a.db, "SELECT $1::int, NULL", 1, idx,
		                          i == 0 ? on_first_closes : on_result, &q[i]), 0);
	}
	uv_run(&a.loop, UV_RUN_DEFAULT);
	assert_int_equal(a.results, 3);
	assert_string_equal(a.errs[0], "");
	assert_string_equal(a.errs[1], "db: closing");
	assert_string_equal(a.errs[2], "db: closing");
	assert_int_equal(a.closed, 1);
	actx_finish(&a);
	pgtest_drop(&t);
}

/* ---- a server that is not there ---- */

static void on_unreachable_event(struct db *db, enum db_event ev, const char *channel,
                                 const char *payload, void *arg)
{
	struct actx *a = arg;
	on_event(db, ev, channel, payload, arg);
	if (ev == DB_EVENT_LOST) {
		assert_int_equal(a->results, 1); /* failed before LOST */
		actx_stop(a);
	}
}

static void test_async_unreachable(void **state)
{
	struct actx a;
	struct qarg q = { &a, 0 };
	struct db *bad = NULL;
	UNUSED(state);
	actx_init(&a);
	assert_int_equal(db_open(&bad, &a.loop, "host=", on_event, &a), 0);
	db_close(bad, NULL, NULL);
	assert_int_equal(db_open(&bad, &a.loop, "nonsense without equals", on_event, &a),
	                 -EINVAL);
	assert_int_equal(db_open(&a.db, &a.loop, "host=/nonexistent/closeloop port=1 dbname=x",
	                         on_unreachable_event, &a), 0);
	assert_int_equal(db_query(a.db, "SELECT 1", 0, NULL, on_result, &q), 0);
	uv_run(&a.loop, UV_RUN_DEFAULT);
	assert_int_equal(a.lost, 1);
	assert_int_equal(a.connected, 0);
	assert_non_null(strstr(a.errs[0], "db: connection lost: "));
	actx_finish(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_version_empty),
		cmocka_unit_test(test_migrate_applies_all),
		cmocka_unit_test(test_migrate_twice),
		cmocka_unit_test(test_migrate_applies_a_gap),
		cmocka_unit_test(test_schema_missing_empty),
		cmocka_unit_test(test_migrate_concurrent),
		cmocka_unit_test(test_sync_error_rolls_back),
		cmocka_unit_test(test_sync_connect_error),
		cmocka_unit_test(test_async_order_and_errors),
		cmocka_unit_test(test_async_stats),
		cmocka_unit_test(test_async_listen_notify),
		cmocka_unit_test(test_async_killed_backend),
		cmocka_unit_test(test_async_close_in_callback),
		cmocka_unit_test(test_async_unreachable),
	};
	log_set_level(LOG_LVL_WARN);
	return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
