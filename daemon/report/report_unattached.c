/* report_unattached.c — the "unattached" postmortems of the quarterly
 * report: each team's bucket of action items discovered in a tracker
 * whose ticket names no postmortem (sql/033_discovery.sql), as the ledger
 * stood at the quarter's end (sql/036_report_unattached.sql).  Each format
 * shows them apart from the postmortems written as documents
 * (docs/report.md "Not attached to a postmortem"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "report.h"

static char *ucell(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static long unum(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtol(PQgetvalue(res, row, col), NULL, 10);
}

int report_unattached_load(PGconn *c, struct report *r, char *err, size_t errlen)
{
	const char *p[3] = { r->quarter, r->filter_platform, r->filter_team };
	PGresult *res = db_sync_exec(c,
		"SELECT platform, team, reference, items, opened, closed, open_end, overdue_end"
		" FROM closeloop_report_unattached($1, $2, $3)", 3, p, err, errlen);
	if (!res)
		return -EIO;
	r->n_unattached = (size_t)PQntuples(res);
	r->unattached = xcalloc(r->n_unattached ? r->n_unattached : 1, sizeof(*r->unattached));
	for (int i = 0; i < (int)r->n_unattached; i++) {
		struct report_unattached *u = &r->unattached[i];
		u->platform = ucell(res, i, 0);
		u->team = ucell(res, i, 1);
		u->reference = ucell(res, i, 2);
		u->items = unum(res, i, 3);
		u->opened = unum(res, i, 4);
		u->closed = unum(res, i, 5);
		u->open_end = unum(res, i, 6);
		u->overdue_end = unum(res, i, 7);
	}
	PQclear(res);
	return 0;
}

void report_unattached_free(struct report *r)
{
	for (size_t i = 0; i < r->n_unattached; i++) {
		free(r->unattached[i].platform);
		free(r->unattached[i].team);
		free(r->unattached[i].reference);
	}
	free(r->unattached);
	r->unattached = NULL;
	r->n_unattached = 0;
}
