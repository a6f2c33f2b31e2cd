/* report.h — the quarterly closure report (`closeloop report`).
 *
 * The figures are computed in SQL from the ledger's history, as the ledger
 * stood at the quarter's end (sql/008_report.sql: closeloop_report_figures,
 * closeloop_report_overdue, closeloop_report_postmortems); this module
 * loads them (report_data.c) and renders them as Markdown, CSV, JSON or a
 * self-contained HTML page (report_md.c, report_csv.c, report_json.c,
 * report_html.c).  Quarters are calendar quarters in UTC, labelled
 * "YYYYQn".  Definitions of every figure: docs/report.md.
 */
#ifndef CLOSELOOP_REPORT_H
#define CLOSELOOP_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <libpq-fe.h>
#include "util.h"

enum report_format { REPORT_MD, REPORT_CSV, REPORT_JSON, REPORT_HTML };

/* How a figure is shown. */
enum report_kind { RK_COUNT, RK_RATE, RK_DAYS };

/* One figure: its column in closeloop_report_figures, its label, its kind,
 * and whether it is a headline figure (shown in the trend tables). */
struct report_metric {
	const char *column;
	const char *label;
	enum report_kind kind;
	bool headline;
};
enum { REPORT_N_METRICS = 23 };
extern const struct report_metric report_metrics[REPORT_N_METRICS];

/* Index of a metric by column name, or -1. */
int report_metric_index(const char *column);

/* The four quarters of the trend, oldest first; the last is the report's. */
enum { REPORT_TREND = 4 };

/* One row of closeloop_report_figures: level "all" (platform and team
 * NULL), "platform" (team NULL) or "team".  v[i] is the value of
 * report_metrics[i] as PostgreSQL printed it, NULL for SQL NULL (a median
 * with nothing closed, escalations not recorded). */
struct report_row {
	char *level, *platform, *team;
	char *v[REPORT_N_METRICS];
};

struct report_rows {
	struct report_row *row;
	size_t n;
};

struct report_overdue {
	char *platform, *team, *postmortem, *title, *owner, *due_date, *ticket_key, *ticket_url;
	long item_id, days_overdue;
};

struct report_postmortem {
	char *platform, *reference, *title, *published_date;
	long items, items_closed;
};

/* One "unattached" postmortem (sql/033: a team's bucket of discovered
 * action items whose ticket names no postmortem) as at the quarter's end:
 * closeloop_report_unattached (sql/036).  Its items count in the figures
 * too; the report shows the buckets apart. */
struct report_unattached {
	char *platform, *team, *reference;
	long items, opened, closed, open_end, overdue_end;
};

struct report {
	char quarter[8];                 /* "2026Q3" */
	char first_day[11], last_day[11]; /* "2026-07-01", "2026-09-30" (UTC) */
	char generated_at[32];           /* "2026-12-01 18:54 UTC" */
	bool complete;                   /* the quarter has ended */
	const char *filter_platform, *filter_team; /* NULL = all (borrowed) */
	char *escalations_note;          /* NULL when escalations are recorded */
	char trend_quarter[REPORT_TREND][8];
	struct report_rows trend[REPORT_TREND]; /* trend[REPORT_TREND - 1] is the quarter */
	struct report_overdue *overdue;
	size_t n_overdue;
	struct report_postmortem *postmortems;
	size_t n_postmortems;
	struct report_unattached *unattached; /* report_unattached.c */
	size_t n_unattached;
};

/* What to report on.  quarter NULL = the last complete quarter. */
struct report_query {
	const char *quarter;
	const char *platform;
	const char *team;
	int overdue_limit; /* oldest overdue items listed per platform; 0 = 10 */
};

/* True when s is a quarter label "YYYYQn" (n 1..4). */
bool report_quarter_valid(const char *s);

/* Load every figure of the report from the ledger (blocking; a CLI
 * command).  A platform or team named in q that the ledger does not know
 * is an error naming the known ones.  Returns 0, or -EIO / -ENOENT with a
 * sentence in err. */
int report_load(PGconn *c, const struct report_query *q, struct report **out,
                char *err, size_t errlen) MUST_CHECK;
void report_free(struct report *r);

/* Load r->unattached for r->quarter and r's filters, in the caller's
 * transaction (report_unattached.c).  Returns 0 or -EIO with err. */
int report_unattached_load(PGconn *c, struct report *r, char *err, size_t errlen) MUST_CHECK;
void report_unattached_free(struct report *r);

/* The row of rows for (level, platform, team) (NULL matches NULL), or NULL. */
const struct report_row *report_find(const struct report_rows *rows, const char *level,
                                     const char *platform, const char *team);

/* The columns beside a summary row: under a platform's row its teams,
 * under the "all" row the platforms. */
bool report_is_column(const struct report_row *summary, const struct report_row *row);

/* Render r to f.  Returns 0 or -EIO when writing failed. */
int report_write(const struct report *r, enum report_format fmt, FILE *f) MUST_CHECK;
int report_write_md(const struct report *r, FILE *f) MUST_CHECK;
int report_write_csv(const struct report *r, FILE *f) MUST_CHECK;
int report_write_json(const struct report *r, FILE *f) MUST_CHECK;
int report_write_html(const struct report *r, FILE *f) MUST_CHECK;

/* A figure as a reader sees it: counts as they are, rates as "60.0%",
 * days with one decimal; "–" for NULL (nothing to measure, or not
 * recorded).  row NULL (the group had no action item that quarter): 0 for
 * counts that are recorded.  Writes into buf, returns buf. */
const char *report_fmt(const struct report *r, const struct report_row *row, int metric, char *buf, size_t len);

/* `closeloop report`, a handler of main.c's subcommand table (cli.h):
 * --quarter, --platform, --team, --format, -o, --dsn or -c.  Returns the
 * exit status (CLI_OK, CLI_FAIL, CLI_USAGE). */
struct cli;
int report_cmd(const struct cli *cli);

#endif
