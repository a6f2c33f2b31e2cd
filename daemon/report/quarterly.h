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
 *           the stored figures (sql/019_report_store.sql, as
 *           closeloop_report_store_warm: the ended quarters not stored and
 *           the current quarter's snapshot that v_closure_by_quarter reads,
 *           then the days of v_overdue_daily; see "Stored figures dropped"
 *           below for the lock); and
 *           closeloop_tally_compact (sql/027_dashboard_tally_deltas.sql):
 *           the dashboards' tally rows appended since folded into one per key.
 * ARM, CLAIM, RENDER and RECORD are blocking libpq work on a libuv worker
 * thread with its own connection, so the loop never waits for the ledger;
 * SEND runs on the loop.
 *
 * Stored figures dropped (sql/043_report_store_notify.sql): a change that
 * reaches the ledger late (dated before the current quarter, or before
 * today) drops the stored figures of the quarters, or the days of
 * v_overdue_daily, that it changes, and the dashboards compute those at
 * every read until they are stored again (at 1,000,000 items 0.45-0.64 s
 * a v_closure_by_quarter panel for one quarter; about 1 s for one day at
 * 100,000 items since sql/047, minutes before, docs/report.md "Cost").
 * Deleting them NOTIFYs QUARTERLY_STORE_CHANNEL (a statement trigger on
 * the stored keys, payload 'quarters' or 'days'); the quarterly LISTENs
 * on a connection of its own (struct db, opened by quarterly_new: a
 * NOTIFY reaches a session only between statements, and the daemon's
 * shared connection runs the flags computation, a minute or more at
 * 1,000,000 items) and makes a STORE run
 * quarterly_report.store_debounce_ms later (default 30 s, so a burst of
 * late changes costs one run): on a worker thread with its own
 * connection, closeloop_report_store_quarters (every ended quarter not
 * stored, computed from the rollups, and a new snapshot of the current
 * quarter; quarters still stored are not computed again), committed, then
 * closeloop_overdue_daily_fill — never ARM or CLAIM, so nothing is
 * delivered.  One run at a time: a drop noticed during a check or a store
 * run makes a store run after it (the run may have stored before the
 * drop), a check due during a store run starts when it ends, and a check
 * that starts takes the place of a pending store run.  Across daemons, the
 * store (in a check or a store run) is done under a session advisory lock
 * (7164223648653143924): a daemon that finds it held leaves the figures to
 * the holder, which was told of the drop too.  Nothing starts once the
 * daemon is stopping, and a store run under way is cancelled (a cache
 * fill: the ledger loses nothing).  The listening connection coming back
 * counts as a drop (NOTIFYs sent meanwhile reached no one).
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

#define QUARTERLY_STORE_CHANNEL "closeloop_report_store"

struct quarterly_stats {
	uint64_t runs, sent, failed, unknown;
	uint64_t store_runs;          /* STORE runs started */
};

/* by names this daemon in report_delivery.claimed_by (copied); cfg is
 * borrowed until quarterly_set_config replaces it; http must stay open
 * until the stop has finished.  Starts connecting the LISTEN connection
 * to cfg->database_dsn (it reconnects by itself, db.h).  0, or a negative
 * code from db_open / deliver_new (-ENOMEM). */
int quarterly_new(struct quarterly **out, uv_loop_t *loop, struct http_client *http,
                  const struct config *cfg, const char *by) MUST_CHECK;

/* First run after 1 s, then every cfg->quarterly_check_s seconds. */
void quarterly_start(struct quarterly *q);

/* A reloaded configuration: destinations and the interval apply from the
 * next run (a send under way keeps what it copied). */
void quarterly_set_config(struct quarterly *q, const struct config *cfg);

const struct quarterly_stats *quarterly_get_stats(const struct quarterly *q);


/* Stop: a run on a worker thread is waited for (a STORE run's statement
 * is cancelled first), sends under way are cancelled and their outcome
 * recorded; then done(arg) from the loop and q is freed. */
void quarterly_stop(struct quarterly *q, void (*done)(void *), void *arg);

#endif
