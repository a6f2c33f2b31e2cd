/* metrics.c — see metrics.h.  Moved out of daemon.c, unchanged: the page
 * it renders is the same byte for byte. */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>

#include "db.h"
#include "hooks.h"
#include "http.h"
#include "impwatch.h"
#include "reconcile.h"
#include "status.h"
#include "watch.h"

/* Prometheus text format: a family header, then one sample per line. */
static int metric_head(struct buf *b, const char *name, const char *help, const char *type)
{
	return buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int metric(struct buf *b, const char *name, const char *label, unsigned long long v)
{
	if (label)
		return buf_appendf(b, "%s{%s} %llu\n", name, label, v);
	return buf_appendf(b, "%s %llu\n", name, v);
}

/* Flags and escalation counters of this process (watch.h). */
static int watch_metrics(struct buf *b, const struct watch_stats *w)
{
	int rc = 0;
	const char *n = "closeloop_flags_total";
	rc |= metric_head(b, n, "Flags raised and cleared by this process.", "counter");
	rc |= metric(b, n, "change=\"raised\"", w->flags_raised);
	rc |= metric(b, n, "change=\"cleared\"", w->flags_cleared);
	n = "closeloop_escalations_total";
	rc |= metric_head(b, n, "Escalations by outcome (armed, sent, failed, unknown).", "counter");
	rc |= metric(b, n, "outcome=\"armed\"", w->escalations_armed);
	rc |= metric(b, n, "outcome=\"sent\"", w->escalations_sent);
	rc |= metric(b, n, "outcome=\"failed\"", w->escalations_failed);
	rc |= metric(b, n, "outcome=\"unknown\"", w->escalations_unknown);
	n = "closeloop_ticket_labels_total";
	rc |= metric_head(b, n, "closeloop:* flag labels written to tickets (added, removed, failed).",
	                  "counter");
	rc |= metric(b, n, "outcome=\"added\"", w->labels_added);
	rc |= metric(b, n, "outcome=\"removed\"", w->labels_removed);
	rc |= metric(b, n, "outcome=\"failed\"", w->label_errors);
	n = "closeloop_watch_runs_total";
	rc |= metric_head(b, n, "Flag and escalation runs, and those with errors.", "counter");
	rc |= metric(b, n, "result=\"all\"", w->runs);
	rc |= metric(b, n, "result=\"error\"", w->run_errors);
	return rc;
}

static int import_metrics(struct buf *b, const struct imp_watch_stats *s)
{
	const char *n = "closeloop_import_files_total";
	int rc = metric_head(b, n, "Postmortem files the directory watcher read, by outcome.",
	                     "counter");
	rc |= metric(b, n, "outcome=\"imported\"", s->files_imported);
	rc |= metric(b, n, "outcome=\"skipped\"", s->files_skipped);
	rc |= metric(b, n, "outcome=\"not_stored\"", s->files_failed);
	n = "closeloop_import_scans_total";
	rc |= metric_head(b, n, "Scans of the watched postmortem directories.", "counter");
	rc |= metric(b, n, NULL, s->scans);
	n = "closeloop_import_dirs_watched";
	rc |= metric_head(b, n, "Directories with file-system events.", "gauge");
	rc |= metric(b, n, NULL, s->dirs_watched);
	return rc;
}

int metrics_render(struct buf *b, const struct metrics_sources *src)
{
	int rc = 0;
	if (src->http) {
		const struct http_stats *h = http_client_stats(src->http);
		const char *n = "closeloop_http_requests_total";
		rc |= metric_head(b, n, "HTTP requests sent to trackers.", "counter");
		rc |= metric(b, n, "method=\"GET\"", h->get);
		rc |= metric(b, n, "method=\"POST\"", h->post);
		rc |= metric(b, n, "method=\"PATCH\"", h->patch);
		rc |= metric(b, n, "method=\"other\"", h->other);
		n = "closeloop_http_failures_total";
		rc |= metric_head(b, n, "HTTP transfers that failed.", "counter");
		rc |= metric(b, n, NULL, h->failed);
	}
	if (src->db) {
		const struct db_stats *s = db_get_stats(src->db);
		static const struct { const char *name, *help, *type; } fam[] = {
			{ "closeloop_ledger_up", "1 when the ledger connection is up.", "gauge" },
			{ "closeloop_ledger_statements_total", "Statements sent to the ledger.", "counter" },
			{ "closeloop_ledger_errors_total", "Ledger statements that failed.", "counter" },
			{ "closeloop_ledger_reconnects_total", "Ledger reconnections.", "counter" },
		};
		const unsigned long long v[] = { db_connected(src->db) ? 1 : 0, s->statements,
		                                 s->errors, s->reconnects };
		for (size_t i = 0; i < ARRAY_SIZE(fam); i++) {
			rc |= metric_head(b, fam[i].name, fam[i].help, fam[i].type);
			rc |= metric(b, fam[i].name, NULL, v[i]);
		}
	}
	if (src->rec) {
		const struct rec_stats *r = rec_get_stats(src->rec);
		const char *n = "closeloop_reconcile_total";
		static const char *const kinds[] = { "cycle", "pulled", "pushed_field", "created",
		                                      "adopted", "conflict", "link_error", "broken_link",
		                                      "refused_field", "refused_create", "create_deferred" };
		const unsigned long long v[] = { r->cycles, r->pulled, r->pushed_fields, r->created,
		                                 r->adopted, r->conflicts, r->link_errors,
		                                 r->broken_links, r->refused_fields, r->refused_creates,
		                                 r->creates_deferred };
		rc |= metric_head(b, n, "Reconcile outcomes by kind.", "counter");
		for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
			char label[48];
			snprintf(label, sizeof(label), "kind=\"%s\"", kinds[i]);
			rc |= metric(b, n, label, v[i]);
		}
	}
	if (src->watch)
		rc |= watch_metrics(b, watch_get_stats(src->watch));
	if (src->impwatch)
		rc |= import_metrics(b, imp_watch_get_stats(src->impwatch));
	if (src->hooks)
		rc |= hooks_metrics(src->hooks, b);
	rc |= status_metrics(b, src->conns, src->n_conns); /* budgets, queues, requests */
	return rc < 0 ? -ENOSPC : 0;
}
