/* metrics.c — see metrics.h.  Moved out of daemon.c; the page it renders
 * is the same byte for byte. */
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

/* A family and its samples: labels[i] (NULL: no labels; labels itself
 * NULL: none for any) with the value v[i], i < n. */
static int family(struct buf *b, const char *name, const char *help, const char *type, size_t n,
                  const char *const *labels, const unsigned long long *v)
{
	int rc = metric_head(b, name, help, type);
	for (size_t i = 0; i < n; i++)
		rc |= metric(b, name, labels ? labels[i] : NULL, v[i]);
	return rc;
}

/* Flags and escalation counters of this process (watch.h). */
static int watch_metrics(struct buf *b, const struct watch_stats *w)
{
	static const char *const change[] = { "change=\"raised\"", "change=\"cleared\"" };
	static const char *const esc[] = { "outcome=\"armed\"", "outcome=\"sent\"",
	                                   "outcome=\"failed\"", "outcome=\"unknown\"" };
	static const char *const lab[] = { "outcome=\"added\"", "outcome=\"removed\"",
	                                   "outcome=\"failed\"" };
	static const char *const run[] = { "result=\"all\"", "result=\"error\"" };
	const unsigned long long vf[] = { w->flags_raised, w->flags_cleared };
	const unsigned long long ve[] = { w->escalations_armed, w->escalations_sent,
	                                  w->escalations_failed, w->escalations_unknown };
	const unsigned long long vl[] = { w->labels_added, w->labels_removed, w->label_errors };
	const unsigned long long vr[] = { w->runs, w->run_errors };
	int rc = family(b, "closeloop_flags_total", "Flags raised and cleared by this process.",
	                "counter", ARRAY_SIZE(vf), change, vf);
	rc |= family(b, "closeloop_escalations_total",
	             "Escalations by outcome (armed, sent, failed, unknown).", "counter",
	             ARRAY_SIZE(ve), esc, ve);
	rc |= family(b, "closeloop_ticket_labels_total",
	             "closeloop:* flag labels written to tickets (added, removed, failed).", "counter",
	             ARRAY_SIZE(vl), lab, vl);
	rc |= family(b, "closeloop_watch_runs_total",
	             "Flag and escalation runs, and those with errors.", "counter", ARRAY_SIZE(vr),
	             run, vr);
	return rc;
}

static int import_metrics(struct buf *b, const struct imp_watch_stats *s)
{
	static const char *const out[] = { "outcome=\"imported\"", "outcome=\"skipped\"",
	                                   "outcome=\"not_stored\"" };
	const unsigned long long vf[] = { s->files_imported, s->files_skipped, s->files_failed };
	const unsigned long long vs = s->scans, vd = s->dirs_watched;
	int rc = family(b, "closeloop_import_files_total",
	                "Postmortem files the directory watcher read, by outcome.", "counter",
	                ARRAY_SIZE(vf), out, vf);
	rc |= family(b, "closeloop_import_scans_total",
	             "Scans of the watched postmortem directories.", "counter", 1, NULL, &vs);
	rc |= family(b, "closeloop_import_dirs_watched", "Directories with file-system events.",
	             "gauge", 1, NULL, &vd);
	return rc;
}

int metrics_render(struct buf *b, const struct metrics_sources *src)
{
	int rc = 0;
	if (src->http) {
		static const char *const method[] = { "method=\"GET\"", "method=\"POST\"",
		                                      "method=\"PATCH\"", "method=\"other\"" };
		const struct http_stats *h = http_client_stats(src->http);
		const unsigned long long vm[] = { h->get, h->post, h->patch, h->other };
		const unsigned long long vf = h->failed;
		rc |= family(b, "closeloop_http_requests_total", "HTTP requests sent to trackers.",
		             "counter", ARRAY_SIZE(vm), method, vm);
		rc |= family(b, "closeloop_http_failures_total", "HTTP transfers that failed.",
		             "counter", 1, NULL, &vf);
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
