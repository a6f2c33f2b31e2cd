/* report_csv.c — the quarterly closure report as CSV (RFC 4180): one row
 * per quarter, platform, team and figure, for spreadsheets.
 *
 *   quarter,level,platform,team,metric,value
 *   2026Q3,team,payments,checkout,closure_rate,0.6000
 *
 * Every quarter of the trend is included (the report's quarter last);
 * level is all / platform / team, with platform and team empty where they
 * do not apply; value is as computed (rates 0..1, days with one decimal),
 * empty when there is nothing to measure (a median with nothing closed)
 * or when it is not recorded (escalations without an escalation table).
 * The "unattached" postmortems of the report's quarter follow, level
 * "unattached", one row per team and figure (report_unattached.c):
 *
 *   2026Q3,unattached,payments,checkout,open_end,2
 */
#include <errno.h>
#include <string.h>

#include "report.h"

/* A field, quoted when it holds a comma, quote or line break (RFC 4180 §2). */
static void csv_field(FILE *f, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_unattached(const struct report *r, FILE *f)
{
	for (size_t i = 0; i < r->n_unattached; i++) {
		const struct report_unattached *u = &r->unattached[i];
		const struct { const char *metric; long v; } fig[] = {
			{ "action_items", u->items }, { "opened", u->opened }, { "closed", u->closed },
			{ "open_end", u->open_end }, { "overdue_end", u->overdue_end },
		};
		for (size_t k = 0; k < sizeof(fig) / sizeof(fig[0]); k++) {
			fprintf(f, "%s,unattached,", r->quarter);
			csv_field(f, u->platform);
			fputc(',', f);
			csv_field(f, u->team);
			fprintf(f, ",%s,%ld\r\n", fig[k].metric, fig[k].v);
		}
	}
}

int report_write_csv(const struct report *r, FILE *f)
{
	fputs("quarter,level,platform,team,metric,value\r\n", f);
	for (int q = 0; q < REPORT_TREND; q++) {
		const struct report_rows *rows = &r->trend[q];
		for (size_t i = 0; i < rows->n; i++) {
			const struct report_row *row = &rows->row[i];
			for (int m = 0; m < REPORT_N_METRICS; m++) {
				fprintf(f, "%s,%s,", r->trend_quarter[q], row->level);
				csv_field(f, row->platform);
				fputc(',', f);
				csv_field(f, row->team);
				fprintf(f, ",%s,", report_metrics[m].column);
				csv_field(f, row->v[m]);
				fputs("\r\n", f);
			}
		}
	}
	csv_unattached(r, f);
	return ferror(f) ? -EIO : 0;
}
