/* metrics.h — the daemon's /metrics page: every counter and gauge of this
 * process in the Prometheus text exposition format (version 0.0.4,
 * prometheus.io/docs/instrumenting/exposition_formats: "# HELP", "# TYPE",
 * then one "name{labels} value" line per sample).  The listener
 * (daemon/net/listener.h) serves it on the configuration's `listen`.
 */
#ifndef CLOSELOOP_METRICS_H
#define CLOSELOOP_METRICS_H

#include <stddef.h>
#include "util.h"

struct connector;
struct db;
struct hooks;
struct http_client;
struct imp_watch;
struct rec_engine;
struct watch;

/* What the page is read from; a NULL source (a subsystem not running,
 * e.g. no watcher in once mode) leaves its families out. */
struct metrics_sources {
	struct http_client *http;        /* closeloop_http_*: requests by method, failures */
	struct db *db;                   /* closeloop_ledger_*: up, statements, errors, reconnects */
	struct rec_engine *rec;          /* closeloop_reconcile_total by kind */
	struct watch *watch;             /* flags, escalations, ticket labels, watch runs */
	struct imp_watch *impwatch;      /* closeloop_import_*: files, scans, directories */
	struct hooks *hooks;             /* webhook deliveries (hooks_metrics) */
	struct connector *const *conns;  /* budgets, queues, requests (status_metrics) */
	size_t n_conns;
};

/* Append the page to b: counters since this process started, gauges as
 * they are now (seconds where a family's name says so).  Returns 0, or
 * -ENOSPC when b's size cap was reached (the page is then incomplete). */
int metrics_render(struct buf *b, const struct metrics_sources *src) MUST_CHECK;

#endif
