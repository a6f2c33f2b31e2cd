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
	return ferror(f) ? -EIO : 0;
}
