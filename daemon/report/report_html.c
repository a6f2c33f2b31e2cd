/* report_html.c — the quarterly closure report as one self-contained HTML
 * page: inline CSS, inline SVG charts, no script, no fetch of any kind
 * (fonts are the reader's own), printable to PDF (one platform per page).
 *
 * Charts per summary (all platforms, then each platform): closure rate per
 * team (or per platform), open action items at quarter end by age bucket,
 * and the trend over the last four quarters (closure rate; opened, closed,
 * open and overdue at quarter end).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define CHART_W 640
#define LABEL_W 150
#define BAR_H 22

static const char *const palette[] = { "#2f6db5", "#e08a1e", "#3a9a5b", "#c0392b", "#7d5ba6" };

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static double num(const struct report_row *row, const char *column)
{
	int m = report_metric_index(column);
	return row && m >= 0 && row->v[m] ? strtod(row->v[m], NULL) : 0.0;
}

static const char *col_label(const struct report_row *s, const struct report_row *row)
{
	return s->platform ? row->team : row->platform;
}

static void svg_open(FILE *f, const char *title, int height)
{
	fprintf(f, "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	        "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", CHART_W, height, CHART_W, height);
	esc(f, title);
	fputs("\"><title>", f);
	esc(f, title);
	fputs("</title>\n", f);
}

static void svg_close(FILE *f, const char *caption)
{
	fputs("</svg><figcaption>", f);
	esc(f, caption);
	fputs("</figcaption></figure>\n", f);
}

static void svg_label(FILE *f, int x, int y, const char *anchor, const char *text)
{
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\">", x, y, anchor);
	esc(f, text);
	fputs("</text>\n", f);
}

/* Closure rate of each column row, as horizontal bars on a 0-100% axis. */
static void chart_closure(const struct report *r, const struct report_rows *rows, const struct report_row *s, FILE *f)
{
	int n = 0;
	for (size_t i = 0; i < rows->n; i++)
		n += report_is_column(s, &rows->row[i]);
	if (n == 0)
		return;
	int h = 30 + n * (BAR_H + 6), plot = CHART_W - LABEL_W - 60;
	svg_open(f, "Closure rate", h);
	fprintf(f, "<line x1=\"%d\" y1=\"10\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n",
	        LABEL_W, LABEL_W, h - 20);
	int y = 14;
	for (size_t i = 0; i < rows->n; i++) {
		const struct report_row *row = &rows->row[i];
		if (!report_is_column(s, row))
			continue;
		int m = report_metric_index("closure_rate");
		double v = num(row, "closure_rate");
		char pct[32];
		svg_label(f, LABEL_W - 6, y + 15, "end", col_label(s, row));
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n",
		        LABEL_W, y, (int)(v * plot + 0.5), BAR_H, palette[0]);
		svg_label(f, LABEL_W + (int)(v * plot + 0.5) + 6, y + 15, "start",
		          report_fmt(r, row, m, pct, sizeof(pct)));
		y += BAR_H + 6;
	}
	svg_label(f, LABEL_W, h - 4, "middle", "0%");
	svg_label(f, LABEL_W + plot, h - 4, "middle", "100%");
	svg_close(f, "Closure rate: action items closed (done or won't do) in the quarter, "
	          "of those open at some time in it.");
}

/* Open action items at quarter end, stacked by age bucket. */
static void chart_age(const struct report_rows *rows, const struct report_row *s, FILE *f)
{
	static const char *const buckets[] = { "open_age_0_30", "open_age_31_90",
	                                       "open_age_91_180", "open_age_over_180" };
	static const char *const names[] = { "0-30 days", "31-90", "91-180", "over 180" };
	int n = 0;
	double max = 1;
	for (size_t i = 0; i < rows->n; i++)
		if (report_is_column(s, &rows->row[i])) {
			n++;
			if (num(&rows->row[i], "open_end") > max)
				max = num(&rows->row[i], "open_end");
		}
	if (n == 0)
		return;
	int h = 50 + n * (BAR_H + 6), plot = CHART_W - LABEL_W - 60;
	svg_open(f, "Open at quarter end by age", h);
	for (int b = 0; b < 4; b++) {
		fprintf(f, "<rect x=\"%d\" y=\"6\" width=\"12\" height=\"12\" fill=\"%s\"/>\n",
		        LABEL_W + b * 110, palette[b]);
		svg_label(f, LABEL_W + b * 110 + 16, 17, "start", names[b]);
	}
	int y = 30;
	for (size_t i = 0; i < rows->n; i++) {
		const struct report_row *row = &rows->row[i];
		if (!report_is_column(s, row))
			continue;
		svg_label(f, LABEL_W - 6, y + 15, "end", col_label(s, row));
		double x = LABEL_W;
		for (int b = 0; b < 4; b++) {
			double w = num(row, buckets[b]) / max * plot;
			if (w > 0)
				fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
				        "<title>%s: %.0f</title></rect>\n", x, y, w, BAR_H, palette[b],
				        names[b], num(row, buckets[b]));
			x += w;
		}
		fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.0f</text>\n", x + 6, y + 15,
		        num(row, "open_end"));
		y += BAR_H + 6;
	}
	svg_close(f, "Action items open or in progress at the quarter's end, by whole days since "
	          "they were opened.");
}

struct series {
	const char *name;
	double v[REPORT_TREND];
	bool present[REPORT_TREND];
};

/* Lines over the trend's quarters; rate: the axis is 0-100%. */
static void chart_lines(const struct report *r, const char *title, const char *caption,
                        const struct series *s, int n, bool rate, FILE *f)
{
	const int h = 230, top = 30, bottom = h - 30, left = 60, right = CHART_W - 40;
	double max = 1.0; /* a rate axis is 0-100%; a count axis at least 0-1 */
	for (int i = 0; i < n && !rate; i++)
		for (int q = 0; q < REPORT_TREND; q++)
			if (s[i].v[q] > max)
				max = s[i].v[q];
	svg_open(f, title, h);
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n",
	        left, bottom, right, bottom);
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>\n",
	        left, top, right, top);
	char lab[32];
	if (rate)
		snprintf(lab, sizeof(lab), "100%%");
	else
		snprintf(lab, sizeof(lab), "%.0f", max);
	svg_label(f, left - 6, top + 4, "end", lab);
	svg_label(f, left - 6, bottom + 4, "end", rate ? "0%" : "0");
	int step = (right - left) / (REPORT_TREND - 1);
	for (int q = 0; q < REPORT_TREND; q++)
		svg_label(f, left + q * step, bottom + 18, "middle", r->trend_quarter[q]);
	for (int i = 0; i < n; i++) {
		const char *color = palette[i % ARRAY_SIZE(palette)];
		fprintf(f, "<rect x=\"%d\" y=\"6\" width=\"12\" height=\"12\" fill=\"%s\"/>\n",
		        left + i * 120, color);
		svg_label(f, left + i * 120 + 16, 17, "start", s[i].name);
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
		for (int q = 0; q < REPORT_TREND; q++)
			if (s[i].present[q])
				fprintf(f, "%d,%.1f ", left + q * step,
				        bottom - s[i].v[q] / max * (bottom - top));
		fputs("\"/>\n", f);
		for (int q = 0; q < REPORT_TREND; q++)
			if (s[i].present[q])
				fprintf(f, "<circle cx=\"%d\" cy=\"%.1f\" r=\"3\" fill=\"%s\">"
				        "<title>%s %s: %.*f%s</title></circle>\n", left + q * step,
				        bottom - s[i].v[q] / max * (bottom - top), color, s[i].name,
				        r->trend_quarter[q], rate ? 1 : 0, rate ? s[i].v[q] * 100 : s[i].v[q],
				        rate ? "%" : "");
	}
	svg_close(f, caption);
}

static void chart_trend(const struct report *r, const char *level, const char *platform, FILE *f)
{
	struct series rate = { .name = "closure rate" };
	struct series counts[4] = { { .name = "opened" }, { .name = "closed" },
	                            { .name = "open at end" }, { .name = "overdue at end" } };
	for (int q = 0; q < REPORT_TREND; q++) {
		const struct report_row *row = report_find(&r->trend[q], level, platform, NULL);
		int m = report_metric_index("closure_rate");
		rate.present[q] = row && row->v[m];
		rate.v[q] = num(row, "closure_rate");
		counts[0].v[q] = num(row, "opened");
		counts[1].v[q] = num(row, "closed_done") + num(row, "closed_wont_do");
		counts[2].v[q] = num(row, "open_end");
		counts[3].v[q] = num(row, "overdue_end");
		for (int i = 0; i < 4; i++)
			counts[i].present[q] = true; /* a quarter without items counts 0 */
	}
	chart_lines(r, "Closure rate, last four quarters",
	            "Closure rate per quarter (no point: nothing was open in that quarter).",
	            &rate, 1, true, f);
	chart_lines(r, "Action items, last four quarters",
	            "Opened and closed in each quarter; open and overdue at each quarter's end.",
	            counts, 4, false, f);
}

static void table_figures(const struct report *r, const struct report_rows *rows, const struct report_row *s, FILE *f)
{
	char buf[64];
	fprintf(f, "<table><thead><tr><th>Figure</th><th class=\"n\">%s</th>",
	        s->platform ? "all teams" : "all platforms");
	for (size_t i = 0; i < rows->n; i++)
		if (report_is_column(s, &rows->row[i])) {
			fputs("<th class=\"n\">", f);
			esc(f, col_label(s, &rows->row[i]));
			fputs("</th>", f);
		}
	fputs("</tr></thead><tbody>\n", f);
	for (int m = 0; m < REPORT_N_METRICS; m++) {
		fputs("<tr><td>", f);
		esc(f, report_metrics[m].label);
		fprintf(f, "</td><td class=\"n\">%s</td>", report_fmt(r, s, m, buf, sizeof(buf)));
		for (size_t i = 0; i < rows->n; i++)
			if (report_is_column(s, &rows->row[i]))
				fprintf(f, "<td class=\"n\">%s</td>",
				        report_fmt(r, &rows->row[i], m, buf, sizeof(buf)));
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void table_trend(const struct report *r, const char *level, const char *platform, FILE *f)
{
	char buf[64];
	fputs("<table><thead><tr><th>Figure</th>", f);
	for (int q = 0; q < REPORT_TREND; q++)
		fprintf(f, "<th class=\"n\">%s</th>", r->trend_quarter[q]);
	fputs("</tr></thead><tbody>\n", f);
	for (int m = 0; m < REPORT_N_METRICS; m++) {
		if (!report_metrics[m].headline)
			continue;
		fputs("<tr><td>", f);
		esc(f, report_metrics[m].label);
		fputs("</td>", f);
		for (int q = 0; q < REPORT_TREND; q++)
			fprintf(f, "<td class=\"n\">%s</td>",
			        report_fmt(r, report_find(&r->trend[q], level, platform, NULL), m, buf,
			                   sizeof(buf)));
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void list_overdue(const struct report *r, const char *platform, FILE *f)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_overdue; i++) {
		const struct report_overdue *o = &r->overdue[i];
		if (!str_eq(o->platform, platform))
			continue;
		if (n++ == 0)
			fputs("<h3>Overdue at quarter end, oldest first</h3>\n<table><thead><tr>"
			      "<th>Action item</th><th>Postmortem</th><th>Team</th><th>Owner</th>"
			      "<th>Due</th><th class=\"n\">Days overdue</th><th>Ticket</th>"
			      "</tr></thead><tbody>\n", f);
		fputs("<tr><td>", f);
		esc(f, o->title);
		fputs("</td><td>", f);
		esc(f, o->postmortem);
		fputs("</td><td>", f);
		esc(f, o->team);
		fputs("</td><td>", f);
		esc(f, o->owner ? o->owner : "–");
		fprintf(f, "</td><td>%s</td><td class=\"n\">%ld</td><td>", o->due_date, o->days_overdue);
		if (o->ticket_url) {
			fputs("<a href=\"", f);
			esc(f, o->ticket_url);
			fputs("\">", f);
			esc(f, o->ticket_key ? o->ticket_key : o->ticket_url);
			fputs("</a>", f);
		} else {
			fputs("–", f);
		}
		fputs("</td></tr>\n", f);
	}
	if (n)
		fputs("</tbody></table>\n", f);
	else
		fputs("<p>No action item was overdue at quarter end.</p>\n", f);
}

static void list_postmortems(const struct report *r, const char *platform, FILE *f)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_postmortems; i++) {
		const struct report_postmortem *p = &r->postmortems[i];
		if (!str_eq(p->platform, platform))
			continue;
		if (n++ == 0)
			fprintf(f, "<h3>Postmortems published in %s</h3>\n<table><thead><tr>"
			        "<th>Postmortem</th><th>Title</th><th>Published</th>"
			        "<th class=\"n\">Action items</th><th class=\"n\">Closed at quarter end</th>"
			        "</tr></thead><tbody>\n", r->quarter);
		fputs("<tr><td>", f);
		esc(f, p->reference);
		fputs("</td><td>", f);
		esc(f, p->title);
		fprintf(f, "</td><td>%s</td><td class=\"n\">%ld</td><td class=\"n\">%ld</td></tr>\n",
		        p->published_date, p->items, p->items_closed);
	}
	if (n)
		fputs("</tbody></table>\n", f);
	else
		fprintf(f, "<p>No postmortem was published in %s.</p>\n", r->quarter);
}

/* The platform's "unattached" postmortems (report_unattached.c), when any
 * held action items at the quarter's end. */
static void list_unattached(const struct report *r, const char *platform, FILE *f)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_unattached; i++) {
		const struct report_unattached *u = &r->unattached[i];
		if (!str_eq(u->platform, platform))
			continue;
		if (n++ == 0)
			fputs("<h3>Not attached to a postmortem</h3>\n<p>Action items found in a tracker "
			      "whose ticket names no postmortem; counted in the figures above too.</p>\n"
			      "<table class=\"unattached\"><thead><tr><th>Team</th><th>Held in</th>"
			      "<th class=\"n\">Action items</th><th class=\"n\">Opened</th>"
			      "<th class=\"n\">Closed</th><th class=\"n\">Open at quarter end</th>"
			      "<th class=\"n\">Overdue at quarter end</th></tr></thead><tbody>\n", f);
		fputs("<tr><td>", f);
		esc(f, u->team);
		fputs("</td><td>", f);
		esc(f, u->reference);
		fprintf(f, "</td><td class=\"n\">%ld</td><td class=\"n\">%ld</td><td class=\"n\">%ld"
		        "</td><td class=\"n\">%ld</td><td class=\"n\">%ld</td></tr>\n", u->items,
		        u->opened, u->closed, u->open_end, u->overdue_end);
	}
	if (n)
		fputs("</tbody></table>\n", f);
}

static const char css[] =
	"body{font-family:system-ui,sans-serif;color:#222;max-width:60rem;margin:2rem auto;"
	"padding:0 1rem;line-height:1.4}\n"
	"h1{font-size:1.6rem}h2{border-bottom:2px solid #2f6db5;padding-bottom:.2rem;margin-top:2.5rem}\n"
	"table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}\n"
	"th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}\n"
	"th{background:#f0f3f8}td.n,th.n{text-align:right}\n"
	"figure{margin:1rem 0}figcaption{font-size:.85rem;color:#555}\n"
	"svg text{font-family:system-ui,sans-serif;font-size:12px;fill:#222}\n"
	"svg .axis{stroke:#888}svg .grid{stroke:#ddd}\n"
	".note{background:#fff6e0;border-left:4px solid #e08a1e;padding:.5rem 1rem}\n"
	"@media print{body{margin:0;max-width:none}section.platform{break-before:page}"
	"a{color:inherit;text-decoration:none}}\n";

static void section(const struct report *r, const struct report_row *s, FILE *f)
{
	const struct report_rows *rows = &r->trend[REPORT_TREND - 1];
	if (s->platform) {
		fputs("<section class=\"platform\"><h2>Platform ", f);
		esc(f, s->platform);
		fputs("</h2>\n", f);
	} else {
		fputs("<section><h2>All platforms</h2>\n", f);
	}
	chart_closure(r, rows, s, f);
	chart_age(rows, s, f);
	table_figures(r, rows, s, f);
	fputs("<h3>Trend over the last four quarters</h3>\n", f);
	chart_trend(r, s->level, s->platform, f);
	table_trend(r, s->level, s->platform, f);
	if (s->platform) {
		list_overdue(r, s->platform, f);
		list_postmortems(r, s->platform, f);
		list_unattached(r, s->platform, f);
	}
	fputs("</section>\n", f);
}

int report_write_html(const struct report *r, FILE *f)
{
	const struct report_rows *rows = &r->trend[REPORT_TREND - 1];
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	        "<title>Action item closure report %s</title>\n<style>\n%s</style></head><body>\n",
	        r->quarter, css);
	fprintf(f, "<h1>Action item closure report — %s</h1>\n<p>Quarter %s to %s (UTC), as the "
	        "ledger stood at its end; generated %s.", r->quarter, r->first_day, r->last_day,
	        r->generated_at);
	if (r->filter_platform || r->filter_team) {
		fputs(" Only action items of", f);
		if (r->filter_platform) {
			fputs(" platform ", f);
			esc(f, r->filter_platform);
		}
		if (r->filter_team) {
			fputs(r->filter_platform ? ", team " : " team ", f);
			esc(f, r->filter_team);
		}
		fputs(".", f);
	}
	fputs(" Figures are about action items and teams; definitions are in closeloop's "
	      "docs/report.md.</p>\n", f);
	if (!r->complete)
		fputs("<p class=\"note\">This quarter has not ended: the figures are as the ledger "
		      "stands now.</p>\n", f);
	if (r->escalations_note) {
		fputs("<p class=\"note\">Escalations: not counted — ", f);
		esc(f, r->escalations_note);
		fputs(".</p>\n", f);
	}
	const struct report_row *all = report_find(rows, "all", NULL, NULL);
	if (!all)
		fputs("<p>The ledger held no action item at the end of this quarter.</p>\n", f);
	else
		section(r, all, f);
	for (size_t i = 0; i < rows->n; i++)
		if (strcmp(rows->row[i].level, "platform") == 0)
			section(r, &rows->row[i], f);
	fputs("</body></html>\n", f);
	return ferror(f) ? -EIO : 0;
}
