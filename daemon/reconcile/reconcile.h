/* reconcile.h — the tracker-agnostic reconcile engine (docs/architecture.md).
 *
 * One engine per daemon, on the loop, over the async db (db.h) and the
 * configured connectors (connectors/connector.h).  A cycle works one
 * (connector, target) pair at a time:
 *   1. recover: links left in state 'creating' by a crash are looked for
 *      by their token in the tracker's listing since the intent was
 *      recorded; found -> adopted, not found after the listing -> created;
 *   2. pull: list tickets changed since the target's cursor minus the
 *      overlap (conditional on the stored ETag), match them to links by
 *      stable remote id (or token), three-way merge (merge.h), write the
 *      ledger side, push what the tracker must take;
 *   3. push: items whose ledger version moved past the link's
 *      synced_version get their changed fields pushed; items routed to
 *      this target with no link get a ticket: intent (link 'creating' +
 *      token) committed first, then the create, then the link 'linked';
 *   4. advance the cursor.
 * A dry run computes the same plan and prints it, writing nothing
 * anywhere (no ledger write, no tracker write).
 */
#ifndef CLOSELOOP_RECONCILE_H
#define CLOSELOOP_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>
#include "config.h"
#include "util.h"

struct db;
struct connector;
struct rec_engine;

struct rec_stats {
	uint64_t cycles, pulled, pushed_fields, created, adopted, conflicts;
	uint64_t ledger_writes, link_errors, broken_links, unrouted;
	uint64_t refused_fields;    /* fields a tracker refused in a partial write */
	uint64_t refused_creates;   /* creates a tracker refused (400/422) */
	uint64_t creates_deferred;  /* creates left for a later cycle: no room in
	                               the creation budget (counted per cycle) */
};

struct rec_options {
	bool dry_run;       /* plan only */
	FILE *plan_out;     /* where the dry-run plan goes (stdout) */
};

/* conns[0..n) are owned by the caller and outlive the engine; the engine
 * looks connectors up by name (cfg_connector.name == connector.name). */
int rec_engine_new(struct rec_engine **out, uv_loop_t *loop, struct db *db,
                   struct connector **conns, size_t n_conns,
                   const struct config *cfg, const struct rec_options *opt) MUST_CHECK;

/* Replace the configuration (after SIGHUP); takes effect at the next cycle.
 * cfg must outlive the engine or the next rec_engine_set_config. */
void rec_engine_set_config(struct rec_engine *e, const struct config *cfg);

/* Called once when a requested cycle ends.  errors = number of links or
 * targets that failed in it (the cycle still did everything else). */
typedef void (*rec_done_cb)(struct rec_engine *e, int errors, void *arg);

/* Run one full cycle (recover, pull, push) for connector name (NULL = every
 * connector, one after another).  If a cycle for it is already running,
 * another one is queued to follow it (coalesced: at most one waiting).
 * Returns 0 (cb called once, later) or -ENOENT for an unknown connector. */
int rec_sync(struct rec_engine *e, const char *connector_name,
             rec_done_cb cb, void *arg) MUST_CHECK;

/* A ledger edit arrived (NOTIFY): run a push-only pass for every connector
 * soon; repeated calls are coalesced. */
void rec_ledger_changed(struct rec_engine *e);

/* The ledger session was lost (db DB_EVENT_LOST): every connector lock this
 * daemon held died with it, and another daemon may take it now.  Tracker
 * writes must stop at once: for each connector whose cycle is running, its
 * requests are cancelled (connector.h cancel: queued writes are never sent,
 * in-flight ones end as unknown, their create intents stay 'creating' for
 * whoever holds the lock next to recover by token).  The connector stays
 * usable; the next cycle takes the lock again. */
void rec_ledger_lost(struct rec_engine *e);

bool rec_busy(const struct rec_engine *e);
const struct rec_stats *rec_get_stats(const struct rec_engine *e);

/* Graceful stop: no new work starts; in-flight HTTP requests finish (or are
 * cancelled after timeout_ms) and their ledger writes are committed; then
 * stopped_cb runs from the loop and the engine is freed. */
void rec_engine_stop(struct rec_engine *e, int64_t timeout_ms,
                     void (*stopped_cb)(void *), void *arg);

#endif
