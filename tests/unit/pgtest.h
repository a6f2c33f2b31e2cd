/* pgtest.h — a fresh PostgreSQL database per cmocka test.
 *
 * Include after <cmocka.h>.  Usage in a test body:
 *
 *     struct pgtest_db t;
 *     if (!pgtest_create(&t, "ledger", true))
 *             return;                      // skipped (no CLOSELOOP_TEST_DSN)
 *     ... t.conn (blocking connection), t.dsn (for db_open) ...
 *     pgtest_drop(&t);
 *
 * pgtest_create skips the test (cmocka skip()) when CLOSELOOP_TEST_DSN is
 * unset, creates database test_<tag>_<pid>_<n> through that DSN, optionally
 * runs every embedded migration in it, and connects.  pgtest_drop
 * disconnects and drops it (WITH (FORCE), so connections a test left behind
 * do not keep it alive).  The DSN for the new database is built with
 * PQconninfoParse, so both key=value strings and URIs work.
 */
#ifndef CLOSELOOP_PGTEST_H
#define CLOSELOOP_PGTEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "db.h"
#include "util.h"

struct pgtest_db {
	char name[64];
	char *dsn;      /* connection string of the new database */
	PGconn *conn;   /* blocking connection to it */
};

/* Append value quoted for a libpq key=value string. */
static __attribute__((unused)) void pgtest_quote(struct buf *b, const char *v)
{
	assert_int_equal(buf_append(b, "'", 1), 0);
	for (const char *p = v; *p; p++) {
		if (*p == '\'' || *p == '\\')
			assert_int_equal(buf_append(b, "\\", 1), 0);
		assert_int_equal(buf_append(b, p, 1), 0);
	}
	assert_int_equal(buf_append(b, "'", 1), 0);
}

/* The base DSN with dbname replaced by dbname. */
static __attribute__((unused)) char *pgtest_dsn_for(const char *base, const char *dbname)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(base, &perr);
	if (!opts)
		fail_msg("CLOSELOOP_TEST_DSN does not parse: %s", perr ? perr : "?");
	struct buf b = { 0 };
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;
		if (!v)
			continue;
		assert_int_equal(buf_appendf(&b, "%s%s=", b.len ? " " : "", o->keyword), 0);
		pgtest_quote(&b, v);
	}
	PQconninfoFree(opts);
	return buf_steal(&b);
}

/* Returns false when the test was skipped (never returns then, in fact:
 * cmocka's skip() leaves the test). */
static __attribute__((unused)) bool pgtest_create(struct pgtest_db *t, const char *tag,
                                                  bool migrate)
{
	static unsigned counter;
	char err[512];
	const char *base = getenv("CLOSELOOP_TEST_DSN");
	memset(t, 0, sizeof(*t));
	if (!base || !*base) {
		skip();
		return false;
	}
	snprintf(t->name, sizeof(t->name), "test_%s_%ld_%u", tag, (long)getpid(), counter++);
	PGconn *admin = db_sync_connect(base, err, sizeof(err));
	if (!admin)
		fail_msg("%s", err);
	char *ident = PQescapeIdentifier(admin, t->name, strlen(t->name));
	assert_non_null(ident);
	char *sql = xasprintf("CREATE DATABASE %s", ident);
	PQfreemem(ident);
	if (db_sync_command(admin, sql, 0, NULL, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	free(sql);
	PQfinish(admin);
	t->dsn = pgtest_dsn_for(base, t->name);
	t->conn = db_sync_connect(t->dsn, err, sizeof(err));
	if (!t->conn)
		fail_msg("%s", err);
	if (migrate && db_migrate(t->conn, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return true;
}

static __attribute__((unused)) void pgtest_drop(struct pgtest_db *t)
{
	char err[512];
	if (t->conn)
		PQfinish(t->conn);
	t->conn = NULL;
	PGconn *admin = db_sync_connect(getenv("CLOSELOOP_TEST_DSN"), err, sizeof(err));
	if (!admin)
		fail_msg("%s", err);
	char *ident = PQescapeIdentifier(admin, t->name, strlen(t->name));
	assert_non_null(ident);
	char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
	PQfreemem(ident);
	if (db_sync_command(admin, sql, 0, NULL, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	free(sql);
	PQfinish(admin);
	free(t->dsn);
	t->dsn = NULL;
}

/* First column of the first row of a one-value query, as a heap string
 * (NULL for SQL NULL); fails the test on error. */
static __attribute__((unused)) char *pgtest_value(PGconn *c, const char *sql, int nparams,
                                                  const char *const *params)
{
	char err[512];
	PGresult *res = db_sync_exec(c, sql, nparams, params, err, sizeof(err));
	if (!res)
		fail_msg("%s", err);
	assert_int_equal(PQntuples(res), 1);
	char *v = PQgetisnull(res, 0, 0) ? NULL : xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* pgtest_value as a long (the value must not be NULL). */
static __attribute__((unused)) long pgtest_long(PGconn *c, const char *sql, int nparams,
                                                const char *const *params)
{
	char *v = pgtest_value(c, sql, nparams, params);
	assert_non_null(v);
	char *end = NULL;
	long n = strtol(v, &end, 10);
	assert_true(end && *end == '\0');
	free(v);
	return n;
}

/* pgtest_value of a query without parameters must be want (NULL = SQL
 * NULL); fails the test naming the query otherwise. */
static __attribute__((unused)) void pgtest_expect(PGconn *c, const char *sql, const char *want)
{
	char *v = pgtest_value(c, sql, 0, NULL);
	if (!str_eq(v, want))
		fail_msg("%s: got %s, want %s", sql, v ? v : "NULL", want ? want : "NULL");
	free(v);
}

/* Run a command; fails the test on error. */
static __attribute__((unused)) void pgtest_exec(PGconn *c, const char *sql, int nparams,
                                                const char *const *params)
{
	char err[512];
	if (db_sync_command(c, sql, nparams, params, err, sizeof(err)) < 0)
		fail_msg("%s: %s", sql, err);
}

/* Run every statement of the SQL file path (one simple-query round trip);
 * fails the test on error. */
static __attribute__((unused)) void pgtest_exec_file(PGconn *c, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	struct buf b = { 0 };
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(&b, chunk, n), 0);
	fclose(f);
	PGresult *res = PQexec(c, b.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", path, PQerrorMessage(c));
	PQclear(res);
	buf_free(&b);
}

#endif
