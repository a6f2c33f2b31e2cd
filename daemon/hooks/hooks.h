/* hooks.h — webhook deliveries as the fast path (sql/016_webhooks.sql).
 *
 * The listener (listener.h) hands every POST /hooks/<connector> here.  A
 * delivery is verified by its connector (conn_ops.webhook: the tracker's
 * signature over the raw body, with the connector's webhook secret) and
 * answered at once — 202 when accepted, 401 for a missing or wrong
 * signature (nothing changes), 400 for a verified body that is not what
 * the tracker documents, 404 for a connector without webhooks — well
 * inside GitHub's 10 s; the work comes after:
 *
 *   1. the delivery id is looked up in a small in-memory ring (a replay
 *      to this daemon does nothing), then recorded in the ledger by
 *      closeloop_webhook_delivery(), whose primary key makes it count
 *      once across every daemon; deletions and transfers are applied to
 *      the link there (broken 'gone'; re-pointed when the new repository
 *      is a target of the connector, else broken 'moved');
 *   2. the insert NOTIFYs channel closeloop_hook with the connector name;
 *      every daemon LISTENs and asks its engine for a cycle of that
 *      connector (rec_sync, coalesced: at most one waiting), which only
 *      the daemon holding the connector's lock runs.  The delivery itself
 *      is never taken as the ticket's state: the engine lists and merges
 *      as usual, so stale, duplicated or reordered deliveries are
 *      harmless.  When the ledger cannot record it, this daemon pulls at
 *      once anyway.
 *
 * Counters by connector and outcome go to /metrics; `closeloop status`
 * shows each connector's last recorded delivery.
 */
#ifndef CLOSELOOP_HOOKS_H
#define CLOSELOOP_HOOKS_H

#include <stdint.h>
#include <uv.h>
#include "listener.h"
#include "util.h"

struct db;
struct rec_engine;
struct connector;
struct config;
struct hooks;

#define HOOKS_CHANNEL "closeloop_hook"

enum hooks_outcome {
	HOOKS_ACCEPTED = 0,   /* verified, recorded (or pulled without the ledger) */
	HOOKS_DUPLICATE,      /* a delivery id seen before */
	HOOKS_IGNORED,        /* verified, about nothing closeloop syncs; pings */
	HOOKS_BAD_SIGNATURE,  /* 401 */
	HOOKS_MALFORMED,      /* 400 */
	HOOKS_UNKNOWN,        /* 404: no such connector, or no webhook secret */
	HOOKS__COUNT,
};

/* conns[0..n) and cfg belong to the caller and outlive the hooks (or the
 * next hooks_set_config).  Returns 0. */
int hooks_new(struct hooks **out, struct db *db, struct rec_engine *rec,
              struct connector **conns, size_t n_conns, const struct config *cfg) MUST_CHECK;
void hooks_set_config(struct hooks *h, const struct config *cfg);
/* The listener_hook_fn (arg = the hooks). */
int hooks_handle(const struct listener_request *req, struct buf *out, void *arg);
/* A NOTIFY on HOOKS_CHANNEL arrived with payload = connector name. */
void hooks_notified(struct hooks *h, const char *connector);
/* Append the closeloop_webhook_deliveries_total family.  Returns 0 or
 * -ENOSPC. */
int hooks_metrics(const struct hooks *h, struct buf *out);
/* No new work after this; frees h (queued ledger answers are dropped by
 * the db's own close, which calls them with "closing" first). */
void hooks_free(struct hooks *h);

#endif
