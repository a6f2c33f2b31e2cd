/* report_data.c — load the quarterly closure report's figures from the
 * ledger (sql/008_report.sql does the computing). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "report.h"

const struct report_metric report_metrics[REPORT_N_METRICS] = {
	{ "opened", "Opened", RK_COUNT, true },
	{ "closed_done", "Closed (done)", RK_COUNT, true },
	{ "closed_wont_do", "Closed (won't do)", RK_COUNT, true },
	{ "in_play", "Open at some time in the quarter", RK_COUNT, false },
	{ "closure_rate", "Closure rate", RK_RATE, true },
	{ "closed_on_time", "Closed on time", RK_COUNT, true },
	{ "closed_late", "Closed late", RK_COUNT, false },
	{ "closed_undated", "Closed without a due date", RK_COUNT, false },
	{ "median_days_to_close", "Median days to close", RK_DAYS, true },
	{ "p90_days_to_close", "p90 days to close", RK_DAYS, true },
	{ "open_end", "Open at quarter end", RK_COUNT, true },
	{ "open_age_0_30", "  open 0-30 days", RK_COUNT, false },
	{ "open_age_31_90", "  open 31-90 days", RK_COUNT, false },
	{ "open_age_91_180", "  open 91-180 days", RK_COUNT, false },
	{ "open_age_over_180", "  open over 180 days", RK_COUNT, false },
	{ "overdue_end", "Overdue at quarter end", RK_COUNT, true },
	{ "needs_decision", "Needs a decision (open over 180 days)", RK_COUNT, true },
	{ "ownerless", "Without an owner", RK_COUNT, true },
	{ "undated", "Without a due date", RK_COUNT, true },
	{ "escalations", "Escalations sent", RK_COUNT, true },
	{ "postmortems_published", "Postmortems published", RK_COUNT, true },
	{ "postmortem_items", "  their action items", RK_COUNT, false },
	{ "postmortem_items_closed", "  of which closed", RK_COUNT, false },
};

int report_metric_index(const char *column)
{
	for (int i = 0; i < REPORT_N_METRICS; i++)
		if (strcmp(report_metrics[i].column, column) == 0)
			return i;
	return -1;
}

bool report_quarter_valid(const char *s)
{
	if (!s || strlen(s) != 6)
		return false;
	for (int i = 0; i < 4; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return s[4] == 'Q' && s[5] >= '1' && s[5] <= '4';
}

static char *cell(const PGresult *res, int row, const char *col)
{
	int f = PQfnumber(res, col);
	if (f < 0 || PQgetisnull(res, row, f))
		return NULL;
	return xstrdup(PQgetvalue(res, row, f));
}

static long cell_long(const PGresult *res, int row, const char *col)
{
	char *v = cell(res, row, col);
	long n = v ? strtol(v, NULL, 10) : 0;
	free(v);
	return n;
}

static void rows_free(struct report_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		struct report_row *r = &rows->row[i];
		free(r->level);
		free(r->platform);
		free(r->team);
		for (int m = 0; m < REPORT_N_METRICS; m++)
			free(r->v[m]);
	}
	free(rows->row);
	rows->row = NULL;
	rows->n = 0;
}

void report_free(struct report *r)
{
	if (!r)
		return;
	for (int i = 0; i < REPORT_TREND; i++)
		rows_free(&r->trend[i]);
	for (size_t i = 0; i < r->n_overdue; i++) {
		struct report_overdue *o = &r->overdue[i];
		free(o->platform);
		free(o->team);
		free(o->postmortem);
		free(o->title);
		free(o->owner);
		free(o->due_date);
		free(o->ticket_key);
		free(o->ticket_url);
	}
	free(r->overdue);
	for (size_t i = 0; i < r->n_postmortems; i++) {
		struct report_postmortem *p = &r->postmortems[i];
		free(p->platform);
		free(p->reference);
		free(p->title);
		free(p->published_date);
	}
	free(r->postmortems);
	report_unattached_free(r);
	free(r->escalations_note);
	free(r);
}

const struct report_row *report_find(const struct report_rows *rows, const char *level,
                                     const char *platform, const char *team)
{
	for (size_t i = 0; i < rows->n; i++) {
		const struct report_row *r = &rows->row[i];
		if (strcmp(r->level, level) == 0 && str_eq(r->platform, platform) &&
		    str_eq(r->team, team))
			return r;
	}
	return NULL;
}

static int load_figures(PGconn *c, const struct report *r, const char *quarter,
                        struct report_rows *out, char *err, size_t errlen)
{
	const char *p[3] = { quarter, r->filter_platform, r->filter_team };
	PGresult *res = db_sync_exec(c, "SELECT * FROM closeloop_report_figures_s($1, $2, $3)",
	                             3, p, err, errlen);
	if (!res)
		return -EIO;
	out->n = (size_t)PQntuples(res);
	out->row = xcalloc(out->n ? out->n : 1, sizeof(*out->row));
	for (size_t i = 0; i < out->n; i++) {
		struct report_row *row = &out->row[i];
		row->level = cell(res, (int)i, "level");
		row->platform = cell(res, (int)i, "platform");
		row->team = cell(res, (int)i, "team");
		for (int m = 0; m < REPORT_N_METRICS; m++)
			row->v[m] = cell(res, (int)i, report_metrics[m].column);
	}
	PQclear(res);
	return 0;
}

static int load_lists(PGconn *c, struct report *r, int limit, char *err, size_t errlen)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 10);
	const char *p[4] = { r->quarter, r->filter_platform, r->filter_team, lim };
	PGresult *res = db_sync_exec(c,
		"SELECT * FROM closeloop_report_overdue_s($1, $2, $3, $4::int)", 4, p, err, errlen);
	if (!res)
		return -EIO;
	r->n_overdue = (size_t)PQntuples(res);
	r->overdue = xcalloc(r->n_overdue ? r->n_overdue : 1, sizeof(*r->overdue));
	for (int i = 0; i < (int)r->n_overdue; i++) {
		struct report_overdue *o = &r->overdue[i];
		o->platform = cell(res, i, "platform");
		o->team = cell(res, i, "team");
		o->postmortem = cell(res, i, "postmortem");
		o->title = cell(res, i, "title");
		o->owner = cell(res, i, "owner");
		o->due_date = cell(res, i, "due_date");
		o->ticket_key = cell(res, i, "ticket_key");
		o->ticket_url = cell(res, i, "ticket_url");
		o->item_id = cell_long(res, i, "action_item_id");
		o->days_overdue = cell_long(res, i, "days_overdue");
	}
	PQclear(res);
	res = db_sync_exec(c, "SELECT * FROM closeloop_report_postmortems_s($1, $2, $3)", 3, p,
	                   err, errlen);
	if (!res)
		return -EIO;
	r->n_postmortems = (size_t)PQntuples(res);
	r->postmortems = xcalloc(r->n_postmortems ? r->n_postmortems : 1, sizeof(*r->postmortems));
	for (int i = 0; i < (int)r->n_postmortems; i++) {
		struct report_postmortem *pm = &r->postmortems[i];
		pm->platform = cell(res, i, "platform");
		pm->reference = cell(res, i, "reference");
		pm->title = cell(res, i, "title");
		pm->published_date = cell(res, i, "published_date");
		pm->items = cell_long(res, i, "items");
		pm->items_closed = cell_long(res, i, "items_closed");
	}
	PQclear(res);
	return 0;
}

/* A --platform / --team the ledger does not know is an error naming the
 * known ones (a typo must not produce an empty report). */
static int check_filter(PGconn *c, const char *table, const char *name, char *err, size_t errlen)
{
	if (!name)
		return 0;
	const char *sql = strcmp(table, "team") == 0
		? "SELECT count(*) FILTER (WHERE name = $1), string_agg(name, ', ' ORDER BY name) FROM team"
		: "SELECT count(*) FILTER (WHERE name = $1), string_agg(name, ', ' ORDER BY name) FROM platform";
	const char *p[1] = { name };
	PGresult *res = db_sync_exec(c, sql, 1, p, err, errlen);
	if (!res)
		return -EIO;
	int rc = 0;
	if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
		snprintf(err, errlen, "the ledger has no %s named \"%s\" (known: %s); "
		         "check the name, or run `closeloop directory load`", table, name,
		         PQgetisnull(res, 0, 1) ? "none" : PQgetvalue(res, 0, 1));
		rc = -ENOENT;
	}
	PQclear(res);
	return rc;
}

/* Quarter label, its bounds, completeness, the trend labels, the
 * escalation note: one statement. */
static int load_frame(PGconn *c, struct report *r, const char *quarter, char *err, size_t errlen)
{
	const char *p[1] = { quarter };
	PGresult *res = db_sync_exec(c,
		"WITH q AS (SELECT coalesce($1, closeloop_quarter_add(closeloop_quarter_of(now()), -1)) AS l)"
		" SELECT q.l, to_char(closeloop_quarter_start(q.l) AT TIME ZONE 'UTC', 'YYYY-MM-DD'),"
		"  to_char((closeloop_quarter_start(q.l) + interval '3 months') AT TIME ZONE 'UTC'"
		"          - interval '1 day', 'YYYY-MM-DD'),"
		"  closeloop_quarter_start(q.l) + interval '3 months' <= now(),"
		"  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"'),"
		"  closeloop_quarter_add(q.l, -3), closeloop_quarter_add(q.l, -2),"
		"  closeloop_quarter_add(q.l, -1), closeloop_escalation_missing()"
		" FROM q", 1, p, err, errlen);
	if (!res)
		return -EIO;
	snprintf(r->quarter, sizeof(r->quarter), "%s", PQgetvalue(res, 0, 0));
	snprintf(r->first_day, sizeof(r->first_day), "%s", PQgetvalue(res, 0, 1));
	snprintf(r->last_day, sizeof(r->last_day), "%s", PQgetvalue(res, 0, 2));
	r->complete = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	snprintf(r->generated_at, sizeof(r->generated_at), "%s", PQgetvalue(res, 0, 4));
	for (int i = 0; i < REPORT_TREND - 1; i++)
		snprintf(r->trend_quarter[i], sizeof(r->trend_quarter[i]), "%s",
		         PQgetvalue(res, 0, 5 + i));
	snprintf(r->trend_quarter[REPORT_TREND - 1], sizeof(r->trend_quarter[0]), "%s", r->quarter);
	r->escalations_note = cell(res, 0, "closeloop_escalation_missing");
	PQclear(res);
	return 0;
}

/* Keep the four trend quarters in the rollups, then store what they need,
 * each in its own transaction (closeloop_report_store_fill: ended quarters
 * only). */
static void store_fill(PGconn *c, const struct report *r, const struct report_query *q)
{
	char lim[16], err[256];
	snprintf(lim, sizeof(lim), "%d", q->overdue_limit > 0 ? q->overdue_limit : 10);
	PGresult *res = NULL;
	const char *p0[] = { q->quarter };
	/* the trend's quarters kept in the rollups from now on (sql/042: a
	 * quarter not kept yet is computed once from the spans; NULL when a
	 * writer held the rollups, and the figures are computed as before) */
	PQclear(db_sync_exec(c, "SELECT closeloop_report_rollup_fill(array(SELECT closeloop_quarter_add("
	                     "coalesce($1, closeloop_quarter_add(closeloop_quarter_of(now()), -1)), g)"
	                     " FROM generate_series(-3, 0) g))", 1, p0, err, sizeof(err)));
	res = db_sync_exec(c, "SELECT closeloop_quarter_add(coalesce($1, closeloop_quarter_add("
	                   "closeloop_quarter_of(now()), -1)), g) FROM generate_series(-3, 0) g",
	                   1, p0, err, sizeof(err));
	for (int i = 0; res && i < PQntuples(res); i++) {
		/* the lists (overdue, postmortems) only for the report's quarter */
		const char *p[] = { PQgetvalue(res, i, 0), r->filter_platform, r->filter_team, lim,
		                    i == PQntuples(res) - 1 ? "true" : "false" };
		PGresult *f = db_sync_exec(c, "SELECT closeloop_report_store_fill($1, $2, $3, $4::int, "
		                           "$5::boolean)", 5, p, err, sizeof(err));
		PQclear(f);
	}
	PQclear(res);
}

int report_load(PGconn *c, const struct report_query *q, struct report **out,
                char *err, size_t errlen)
{
	struct report *r = xcalloc(1, sizeof(*r));
	int rc;
	r->filter_platform = q->platform;
	r->filter_team = q->team;
	if ((rc = check_filter(c, "platform", q->platform, err, errlen)) < 0 ||
	    (rc = check_filter(c, "team", q->team, err, errlen)) < 0)
		goto out;
	/* the figures of ended quarters are computed once and stored
	 * (sql/019_report_store.sql); a ledger role that may not write simply
	 * computes them below, so a failure here is no error */
	store_fill(c, r, q);
	/* one snapshot for every statement: the figures agree with each other */
	if ((rc = db_sync_command(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
	                          err, errlen)) < 0)
		goto out;
	if ((rc = load_frame(c, r, q->quarter, err, errlen)) < 0)
		goto out;
	for (int i = 0; i < REPORT_TREND; i++)
		if ((rc = load_figures(c, r, r->trend_quarter[i], &r->trend[i], err, errlen)) < 0)
			goto out;
	if ((rc = load_lists(c, r, q->overdue_limit, err, errlen)) < 0)
		goto out;
	rc = report_unattached_load(c, r, err, errlen);
out:
	if (PQtransactionStatus(c) != PQTRANS_IDLE) {
		PGresult *res = PQexec(c, "ROLLBACK");
		PQclear(res);
	}
	if (rc < 0) {
		report_free(r);
		r = NULL;
	}
	*out = r;
	return rc;
}

const char *report_fmt(const struct report *r, const struct report_row *row, int metric,
                       char *buf, size_t len)
{
	const char *v = row ? row->v[metric] : NULL;
	if (!v) {
		/* a group absent from a quarter had nothing to count */
		bool zero = !row && report_metrics[metric].kind == RK_COUNT &&
		            !(r->escalations_note && strcmp(report_metrics[metric].column, "escalations") == 0);
		snprintf(buf, len, "%s", zero ? "0" : "–");
		return buf;
	}
	switch (report_metrics[metric].kind) {
	case RK_COUNT:
		snprintf(buf, len, "%s", v);
		break;
	case RK_RATE:
		snprintf(buf, len, "%.1f%%", strtod(v, NULL) * 100.0);
		break;
	case RK_DAYS:
		snprintf(buf, len, "%.1f", strtod(v, NULL));
		break;
	default:
		abort();
	}
	return buf;
}

bool report_is_column(const struct report_row *summary, const struct report_row *row)
{
	if (summary->platform)
		return strcmp(row->level, "team") == 0 && str_eq(row->platform, summary->platform);
	return strcmp(row->level, "platform") == 0;
}
