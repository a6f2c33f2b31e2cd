/* db_sync.c — PostgreSQL access for one-shot commands: blocking helpers,
 * error sentences and schema migrations (see db.h for the contract).
 *
 * Error sentences everywhere look like
 *   "<what>: ERROR: <primary message> (SQLSTATE 23505)"
 * built from the result's diagnostic fields (libpq docs, "PQresultErrorField").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_internal.h"
#include "log.h"

/* Key of the session advisory lock that serialises migrators (the one-bigint
 * form of pg_advisory_lock; "closelop" in ASCII).  Documented in
 * docs/schema.md so that nobody else picks it. */
#define DB_MIGRATE_LOCK_KEY "7164223648653143920"

/* ---- error sentences ---- */

/* Copy a libpq message into out as one line: runs of white space that
 * hold a line break become one space, trailing white space goes. */
void db_copy_trimmed(char *out, size_t outlen, const char *s)
{
	size_t n = 0;
	if (!outlen)
		return;
	for (const char *p = s ? s : ""; *p && n + 1 < outlen; p++) {
		if (*p == '\n' || *p == '\r') {
			while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
				n--;
			while (p[1] == '\n' || p[1] == '\r' || p[1] == ' ' || p[1] == '\t')
				p++;
			out[n++] = ' ';
			continue;
		}
		out[n++] = *p;
	}
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	out[n] = '\0';
}

/* "<what>: <severity>: <primary> (SQLSTATE x)", falling back to the
 * connection's message when the result carries no diagnostic fields (for
 * instance when the connection broke). */
void db_format_error(char *err, size_t errlen, const char *what,
                     const PGresult *res, const PGconn *c)
{
	if (!err || !errlen)
		return;
	const char *sev = res ? PQresultErrorField(res, PG_DIAG_SEVERITY) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (msg) {
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		snprintf(err, errlen, "%s: %s: %s%s%s (SQLSTATE %s)", what,
		         sev ? sev : "ERROR", msg, detail ? " - " : "",
		         detail ? detail : "", code ? code : "?????");
		return;
	}
	char tmp[512];
	const char *raw = res ? PQresultErrorMessage(res) : NULL;
	if (!raw || !*raw)
		raw = c ? PQerrorMessage(c) : NULL;
	db_copy_trimmed(tmp, sizeof(tmp), raw && *raw ? raw : "unknown error");
	if (res && PQresultStatus(res) != PGRES_FATAL_ERROR &&
	    PQresultStatus(res) != PGRES_NONFATAL_ERROR)
		snprintf(err, errlen, "%s: unexpected result %s", what,
		         PQresStatus(PQresultStatus(res)));
	else
		snprintf(err, errlen, "%s: %s", what, tmp);
}

void db_notice_to_log(void *arg, const char *message)
{
	char line[512];
	UNUSED(arg);
	db_copy_trimmed(line, sizeof(line), message);
	log_debug("db: %s", line);
}

/* ---- blocking helpers ---- */

PGconn *db_sync_connect(const char *conninfo, char *err, size_t errlen)
{
	PGconn *c = PQconnectdb(conninfo ? conninfo : "");
	if (!c) {
		snprintf(err, errlen, "db: connect: out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char tmp[512];
		db_copy_trimmed(tmp, sizeof(tmp), PQerrorMessage(c));
		snprintf(err, errlen, "db: connect: %s", tmp);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, db_notice_to_log, NULL);
	return c;
}

/* Shared by the public helpers: what names the statement in errors. */
static PGresult *db_sync_exec_what(PGconn *c, const char *what, const char *sql,
                                   int nparams, const char *const *params,
                                   char *err, size_t errlen)
{
	PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	db_format_error(err, errlen, what, res, c);
	PQclear(res);
	return NULL;
}

PGresult *db_sync_exec(PGconn *c, const char *sql, int nparams,
                       const char *const *params, char *err, size_t errlen)
{
	return db_sync_exec_what(c, "db", sql, nparams, params, err, errlen);
}

int db_sync_command(PGconn *c, const char *sql, int nparams,
                    const char *const *params, char *err, size_t errlen)
{
	PGresult *res = db_sync_exec(c, sql, nparams, params, err, errlen);
	if (!res)
		return -EIO;
	PQclear(res);
	return 0;
}

/* ---- migrations ---- */

int db_schema_required(void)
{
	int v = 0;
	for (size_t i = 0; i < db_n_migrations; i++)
		if (db_migrations[i].version > v)
			v = db_migrations[i].version;
	return v;
}

int db_schema_version(PGconn *c, char *err, size_t errlen)
{
	int rc = -EIO;
	PGresult *res = db_sync_exec_what(c, "schema version",
		"SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, err, errlen);
	if (!res)
		goto out;
	bool exists = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!exists) {
		rc = 0;
		goto out;
	}
	res = db_sync_exec_what(c, "schema version",
		"SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, err, errlen);
	if (!res)
		goto out;
	char *end = NULL;
	errno = 0;
	long v = strtol(PQgetvalue(res, 0, 0), &end, 10);
	bool bad = errno || !end || *end || v < 0 || v > 1000000000L;
	PQclear(res);
	if (bad) {
		snprintf(err, errlen, "schema version: unreadable value in schema_migrations");
		goto out;
	}
	rc = (int)v;
out:
	return rc;
}

/* 1 if schema_migrations records version, 0 if not, -EIO with err.  The
 * table must exist. */
static int db_migration_applied(PGconn *c, int version, char *err, size_t errlen)
{
	char vbuf[16];
	snprintf(vbuf, sizeof(vbuf), "%d", version);
	const char *params[1] = { vbuf };
	PGresult *res = db_sync_exec_what(c, "schema version",
		"SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, params, err, errlen);
	if (!res)
		return -EIO;
	int rc = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

int db_schema_missing(PGconn *c, int *first_missing, char *err, size_t errlen)
{
	int missing = 0;
	if (first_missing)
		*first_missing = 0;
	int have = db_schema_version(c, err, errlen);
	if (have < 0)
		return -EIO;
	for (size_t i = 0; i < db_n_migrations; i++) {
		int v = db_migrations[i].version;
		int applied = have == 0 ? 0 : db_migration_applied(c, v, err, errlen);
		if (applied < 0)
			return -EIO;
		if (applied)
			continue;
		if (first_missing && (*first_missing == 0 || v < *first_missing))
			*first_missing = v;
		missing++;
	}
	return missing;
}

/* Apply one migration in its own transaction.  Returns 0 or -EIO. */
static int db_apply_migration(PGconn *c, const struct db_migration *m,
                              char *err, size_t errlen)
{
	char what[160];
	char vbuf[16];
	int rc = -EIO;
	bool in_tx = false;
	PGresult *res = NULL;

	snprintf(what, sizeof(what), "migration %s", m->name);
	snprintf(vbuf, sizeof(vbuf), "%d", m->version);
	res = db_sync_exec_what(c, what, "BEGIN", 0, NULL, err, errlen);
	if (!res)
		goto out;
	PQclear(res);
	in_tx = true;
	/* PQexec (simple protocol): a migration holds several statements; the
	 * status is that of the last one. */
	res = PQexec(c, m->sql);
	if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK &&
	             PQresultStatus(res) != PGRES_TUPLES_OK)) {
		db_format_error(err, errlen, what, res, c);
		goto out;
	}
	PQclear(res);
	res = NULL;
	const char *params[2] = { vbuf, m->name };
	res = db_sync_exec_what(c, what,
		"INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
		2, params, err, errlen);
	if (!res)
		goto out;
	PQclear(res);
	res = db_sync_exec_what(c, what, "COMMIT", 0, NULL, err, errlen);
	if (!res)
		goto out;
	in_tx = false;
	rc = 0;
out:
	PQclear(res);
	if (in_tx) {
		PGresult *rb = PQexec(c, "ROLLBACK");
		PQclear(rb);
	}
	return rc;
}

int db_migrate(PGconn *c, char *err, size_t errlen)
{
	int rc = -EIO;
	int applied = 0;
	bool locked = false;
	PGresult *res;

	/* Session lock: held across the per-migration transactions. */
	res = db_sync_exec_what(c, "migrate: lock",
		"SELECT pg_advisory_lock(" DB_MIGRATE_LOCK_KEY ")", 0, NULL, err, errlen);
	if (!res)
		goto out;
	PQclear(res);
	locked = true;
	res = db_sync_exec_what(c, "migrate: schema_migrations",
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		" version int PRIMARY KEY,"
		" name text NOT NULL,"
		" applied_at timestamptz DEFAULT now())", 0, NULL, err, errlen);
	if (!res)
		goto out;
	PQclear(res);
	int current = db_schema_version(c, err, errlen);
	if (current < 0)
		goto out;
	if (current > db_schema_required())
		log_warn("db: schema version %d is newer than this build (%d)",
		         current, db_schema_required());
	/* db_migrations is in version order (gen-migrations.sh sorts). */
	for (size_t i = 0; i < db_n_migrations; i++) {
		const struct db_migration *m = &db_migrations[i];
		int done = db_migration_applied(c, m->version, err, errlen);
		if (done < 0)
			goto out;
		if (done)
			continue;
		if (m->version < current)
			log_warn("db: migration %s was never applied though the ledger records "
			         "version %d; applying it now", m->name, current);
		if (db_apply_migration(c, m, err, errlen) < 0)
			goto out;
		log_info("db: applied migration %s (schema version %d)", m->name, m->version);
		applied++;
	}
	rc = applied;
out:
	if (locked) {
		res = PQexec(c, "SELECT pg_advisory_unlock(" DB_MIGRATE_LOCK_KEY ")");
		PQclear(res);
	}
	return rc;
}

