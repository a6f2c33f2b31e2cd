/* report_md.c — the quarterly closure report as Markdown (GitHub-flavoured
 * tables; readable in a terminal and a wiki). */
#include <errno.h>
#include <string.h>

#include "report.h"

/* A table cell: '|' escaped, line breaks folded (GFM tables are one line). */
static void md_cell(FILE *f, const char *s)
{
	if (!s || !*s) {
		fputs("–", f);
		return;
	}
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

static const struct report_rows *current(const struct report *r)
{
	return &r->trend[REPORT_TREND - 1];
}

/* Figures of one platform: a column for the platform and one per team. */
static void md_platform_table(const struct report *r, const struct report_row *prow, FILE *f)
{
	const struct report_rows *rows = current(r);
	char buf[64];
	fputs("| Figure | ", f);
	fputs(prow->platform ? "all teams" : "all platforms", f);
	for (size_t i = 0; i < rows->n; i++) {
		const struct report_row *t = &rows->row[i];
		if (report_is_column(prow, t)) {
			fputs(" | ", f);
			md_cell(f, prow->platform ? t->team : t->platform);
		}
	}
	fputs(" |\n|---|---:", f);
	for (size_t i = 0; i < rows->n; i++) {
		const struct report_row *t = &rows->row[i];
		if (report_is_column(prow, t))
			fputs("|---:", f);
	}
	fputs("|\n", f);
	for (int m = 0; m < REPORT_N_METRICS; m++) {
		fprintf(f, "| %s | %s", report_metrics[m].label, report_fmt(r, prow, m, buf, sizeof(buf)));
		for (size_t i = 0; i < rows->n; i++) {
			const struct report_row *t = &rows->row[i];
			if (report_is_column(prow, t))
				fprintf(f, " | %s", report_fmt(r, t, m, buf, sizeof(buf)));
		}
		fputs(" |\n", f);
	}
}

static void md_trend(const struct report *r, const char *level, const char *platform, FILE *f)
{
	char buf[64];
	fputs("\nTrend over the last four quarters:\n\n| Figure |", f);
	for (int q = 0; q < REPORT_TREND; q++)
		fprintf(f, " %s |", r->trend_quarter[q]);
	fputs("\n|---|", f);
	for (int q = 0; q < REPORT_TREND; q++)
		fputs("---:|", f);
	fputc('\n', f);
	for (int m = 0; m < REPORT_N_METRICS; m++) {
		if (!report_metrics[m].headline)
			continue;
		fprintf(f, "| %s |", report_metrics[m].label);
		for (int q = 0; q < REPORT_TREND; q++) {
			const struct report_row *row = report_find(&r->trend[q], level, platform, NULL);
			fprintf(f, " %s |", report_fmt(r, row, m, buf, sizeof(buf)));
		}
		fputc('\n', f);
	}
}

static void md_overdue(const struct report *r, const char *platform, FILE *f)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_overdue; i++) {
		const struct report_overdue *o = &r->overdue[i];
		if (!str_eq(o->platform, platform))
			continue;
		if (n++ == 0)
			fputs("\nOverdue at quarter end, oldest first:\n\n"
			      "| Action item | Team | Owner | Due | Days overdue | Ticket |\n"
			      "|---|---|---|---|---:|---|\n", f);
		fputs("| ", f);
		md_cell(f, o->title);
		fprintf(f, " (%s) | ", o->postmortem ? o->postmortem : "");
		md_cell(f, o->team);
		fputs(" | ", f);
		md_cell(f, o->owner);
		fprintf(f, " | %s | %ld | ", o->due_date, o->days_overdue);
		if (o->ticket_url) {
			fputc('[', f);
			md_cell(f, o->ticket_key ? o->ticket_key : o->ticket_url);
			fputs("](", f);
			md_cell(f, o->ticket_url);
			fputc(')', f);
		} else {
			md_cell(f, NULL);
		}
		fputs(" |\n", f);
	}
	if (n == 0)
		fputs("\nNo action item was overdue at quarter end.\n", f);
}

static void md_postmortems(const struct report *r, const char *platform, FILE *f)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_postmortems; i++) {
		const struct report_postmortem *p = &r->postmortems[i];
		if (!str_eq(p->platform, platform))
			continue;
		if (n++ == 0)
			fprintf(f, "\nPostmortems published in %s:\n\n"
			        "| Postmortem | Title | Published | Action items | Closed at quarter end |\n"
			        "|---|---|---|---:|---:|\n", r->quarter);
		fputs("| ", f);
		md_cell(f, p->reference);
		fputs(" | ", f);
		md_cell(f, p->title);
		fprintf(f, " | %s | %ld | %ld |\n", p->published_date, p->items, p->items_closed);
	}
	if (n == 0)
		fprintf(f, "\nNo postmortem was published in %s.\n", r->quarter);
}

/* The platform's "unattached" postmortems (report_unattached.c), when any
 * held action items at the quarter's end. */
static void md_unattached(const struct report *r, const char *platform, FILE *f)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_unattached; i++) {
		const struct report_unattached *u = &r->unattached[i];
		if (!str_eq(u->platform, platform))
			continue;
		if (n++ == 0)
			fputs("\nNot attached to a postmortem (action items found in a tracker whose ticket "
			      "names no postmortem; counted in the figures above too):\n\n"
			      "| Team | Held in | Action items | Opened | Closed | Open at quarter end "
			      "| Overdue at quarter end |\n|---|---|---:|---:|---:|---:|---:|\n", f);
		fputs("| ", f);
		md_cell(f, u->team);
		fputs(" | ", f);
		md_cell(f, u->reference);
		fprintf(f, " | %ld | %ld | %ld | %ld | %ld |\n", u->items, u->opened, u->closed,
		        u->open_end, u->overdue_end);
	}
}

int report_write_md(const struct report *r, FILE *f)
{
	const struct report_rows *rows = current(r);
	fprintf(f, "# Action item closure report — %s\n\n", r->quarter);
	fprintf(f, "Quarter %s to %s (UTC), as the ledger stood at its end; generated %s.\n",
	        r->first_day, r->last_day, r->generated_at);
	if (!r->complete)
		fputs("**This quarter has not ended: the figures are as the ledger stands now.**\n", f);
	if (r->filter_platform || r->filter_team) {
		fputs("Only action items of", f);
		if (r->filter_platform)
			fprintf(f, " platform %s", r->filter_platform);
		if (r->filter_team)
			fprintf(f, "%s team %s", r->filter_platform ? "," : "", r->filter_team);
		fputs(".\n", f);
	}
	if (r->escalations_note)
		fprintf(f, "\nEscalations: not counted — %s.\n", r->escalations_note);
	fputs("\nFigures are about action items and teams. Definitions: docs/report.md.\n", f);
	const struct report_row *all = report_find(rows, "all", NULL, NULL);
	if (!all) {
		fputs("\nThe ledger held no action item at the end of this quarter.\n", f);
		return ferror(f) ? -EIO : 0;
	}
	fputs("\n## All platforms\n\n", f);
	md_platform_table(r, all, f);
	md_trend(r, "all", NULL, f);
	for (size_t i = 0; i < rows->n; i++) {
		const struct report_row *p = &rows->row[i];
		if (strcmp(p->level, "platform") != 0)
			continue;
		fputs("\n## Platform ", f);
		md_cell(f, p->platform);
		fputs("\n\n", f);
		md_platform_table(r, p, f);
		md_trend(r, "platform", p->platform, f);
		md_overdue(r, p->platform, f);
		md_postmortems(r, p->platform, f);
		md_unattached(r, p->platform, f);
	}
	return ferror(f) ? -EIO : 0;
}
