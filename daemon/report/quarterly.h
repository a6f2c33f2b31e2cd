/* quarterly.h — the daemon's quarterly report: once a quarter has ended,
 * each platform's report of it (HTML and Markdown) goes to every
 * destination that serves the platform (config.h struct cfg_destination),
 * once, across restarts and several daemons on one ledger
 * (sql/014_report_delivery.sql, docs/report.md "Delivery").
 *
 * A run (at start, then every quarterly_report.check_interval seconds):
 *   ARM     closeloop_report_delivery_arm: a 'pending' row per platform and
 *           destination for the last ended quarter, if it has none — so a
 *           daemon that was down on the quarter's first day catches up;
 *   CLAIM   closeloop_report_delivery_claim (sql/022): rows become 'sending'
 *           under this daemon's name, committed before anything is sent,
 *           and locked by the claim's connection, which stays open until
 *           RECORD; an 'unknown' row, or one whose sender died, is claimed
 *           again and sent with the same id where the destination
 *           recognises a repeat (not a format = "slack" webhook);
 *   RENDER  the report for (quarter, platform), as `closeloop report` makes it;
 *   SEND    deliver_send (daemon/deliver/);
 *   RECORD  closeloop_report_delivery_done: sent, failed or unknown; then
 *           closeloop_report_rollup_keep (sql/042_report_rollup.sql): every
 *           quarter kept in the rollups (a new quarter filled once);
 *           closeloop_report_store_warm (sql/019_report_store.sql): the
 *           stored figures of ended quarters and the current quarter's
 *           snapshot that v_closure_by_quarter reads; and
 *           closeloop_tally_compact (sql/027_dashboard_tally_deltas.sql):
 *           the dashboards' tally rows appended since folded into one per key.
 * ARM, CLAIM, RENDER and RECORD are blocking libpq work on a libuv worker
 * thread with its own connection, so the loop never waits for the ledger;
 * SEND runs on the loop.
 *
 * "Now" is the wall clock, or for tests only the environment variable
 * CLOSELOOP_TEST_NOW (an ISO 8601 time such as 2026-10-01T00:05:00Z),
 * read at each run: it decides which quarter has ended last.
 */
#ifndef CLOSELOOP_QUARTERLY_H
#define CLOSELOOP_QUARTERLY_H

#include <stdint.h>
#include <uv.h>
#include "config.h"
#include "http.h"
#include "util.h"

struct quarterly;

struct quarterly_stats {
	uint64_t runs, sent, failed, unknown;
};

/* by names this daemon in report_delivery.claimed_by (copied); cfg is
 * borrowed until quarterly_set_config replaces it; http must stay open
 * until the stop has finished.  0 or -ENOMEM. */
int quarterly_new(struct quarterly **out, uv_loop_t *loop, struct http_client *http,
                  const struct config *cfg, const char *by) MUST_CHECK;

/* First run after 1 s, then every cfg->quarterly_check_s seconds. */
void quarterly_start(struct quarterly *q);

/* A reloaded configuration: destinations and the interval apply from the
 * next run (a send under way keeps what it copied). */
void quarterly_set_config(struct quarterly *q, const struct config *cfg);

const struct quarterly_stats *quarterly_get_stats(const struct quarterly *q);

/* Stop: a run on a worker thread is waited for, sends under way are
 * cancelled and their outcome recorded; then done(arg) from the loop and
 * q is freed. */
void quarterly_stop(struct quarterly *q, void (*done)(void *), void *arg);

#endif
