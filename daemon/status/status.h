/* status.h — each connector's budget made visible: the rate budget the
 * tracker reports, the paced write queue (connectors/pace.h), the request
 * counters by kind, and the last reconcile cycle.
 *
 * Three readers, one set of facts:
 *   - /metrics (daemon/net/listener.c through the daemon's metrics
 *     writer): status_metrics() appends Prometheus families;
 *   - the ledger: status_record() upserts the connector's row of
 *     connector_status (sql/006) at the end of a cycle, because
 *   - `closeloop status` runs as a separate process: status_print() reads
 *     that table and the links by state, and prints them for a person or
 *     as JSON.
 * Times are ms since the epoch (UTC) unless a name says otherwise.
 */
#ifndef CLOSELOOP_STATUS_H
#define CLOSELOOP_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libpq-fe.h>
#include "util.h"

struct connector;
struct db;

/* One reconcile cycle of one connector, as the daemon saw it; ended_at 0:
 * still under way (no duration, no errors yet). */
struct status_cycle {
	int64_t started_at, ended_at;
	int errors;
};

/* Append, per connector of conns[0..n), the families
 *   closeloop_connector_requests_total{connector,kind}   counter
 *   closeloop_connector_rate_limit_remaining{connector}  gauge (when known)
 *   closeloop_connector_rate_limit_reset_seconds{connector} gauge, epoch s
 *   closeloop_connector_writes_queued{connector}         gauge
 *   closeloop_connector_write_queue_drain_seconds{connector} gauge, s from now
 *   closeloop_connector_blocked_seconds{connector}       gauge, s from now
 * to b.  Returns 0 or -ENOSPC (b full). */
int status_metrics(struct buf *b, struct connector *const *conns, size_t n) MUST_CHECK;

/* What the caller remembers of the last row it wrote for a connector
 * (all zero before the first): when (ms), c's writes so far then
 * (n_create + n_update + n_comment) and its creates waiting then. */
struct status_seen {
	int64_t row_at;
	uint64_t writes;
	uint64_t creates_waiting;
};

/* Is a row worth writing after this cycle?  Yes when it failed, left
 * writes queued, wrote to the tracker since the last row, changed the
 * number of creates waiting for the creation budget (a paced first sync:
 * `closeloop status` shows the backlog), or, when heartbeat_ms > 0, when
 * the last row is that old.  A quiet cycle of `sync --once`
 * (heartbeat_ms 0) writes nothing. */
bool status_due(const struct connector *c, const struct status_cycle *cy,
                const struct status_seen *seen, int64_t heartbeat_ms);
/* A row of c was written after cycle cy: remember it in seen. */
void status_seen_note(struct status_seen *seen, const struct connector *c,
                      const struct status_cycle *cy);

/* Upsert c's connector_status row on db (async): the cycle, the write
 * queue, the creates waiting and when the backlog drains (sql/041), the
 * rate budget and the request counters.  written_by says who
 * ("daemon pid 123").  done(arg) is called once the statement is answered
 * (a failure is logged, not returned), or never when this returns < 0. */
int status_record(struct db *db, const struct connector *c, const struct status_cycle *cy,
                  const char *written_by, void (*done)(void *arg), void *arg) MUST_CHECK;

/* `closeloop status`: print every connector's row (or only connector's,
 * when not NULL) with its links by state, for a person or as a JSON array
 * (json).  Returns 0, or -1 with err (a sentence) when the ledger did not
 * answer. */
int status_print(PGconn *pg, const char *connector, bool json, FILE *out,
                 char *err, size_t errlen) MUST_CHECK;

#endif
