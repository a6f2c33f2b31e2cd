/* pace.h — one paced write queue per connector (connector.h "Writes").
 *
 * Trackers limit writes more tightly than reads.  GitHub documents
 * ("Best practices for using the REST API"; "Rate limits for the REST
 * API", secondary rate limits; checked December 2026): make mutating
 * requests serially, not concurrently; wait at least one second between
 * POST/PATCH/PUT/DELETE requests; no more than 80 content-generating
 * requests a minute and 500 an hour; after a rate-limit answer, wait
 * retry-after seconds, or until x-ratelimit-reset when
 * x-ratelimit-remaining is 0, or otherwise at least one minute, growing
 * exponentially while the limit persists.
 *
 * A pacer holds the writes of one connector in one FIFO and lets them go
 * one at a time:
 *   - a write goes only when no other write of the connector is in flight
 *     (pace_done() ends one), at least spacing_ms after the previous write
 *     went, and not before blocked_until (a connector-wide stop set by a
 *     rate-limit answer, for every target and every later cycle);
 *   - a content-creating write (a new ticket, a comment) also needs room
 *     in every budget: at most budget[i].max of them in any window of
 *     budget[i].window_ms.  The budgets count sends in a sliding window
 *     (a log of send times), the way the tracker counts, rather than a
 *     token bucket that would allow a full bucket plus its refill within
 *     one window.
 * Reads are not paced here (the connector's max_inflight bounds them).
 *
 * All times are milliseconds.  The pacer measures spacing, budgets and
 * stops on the monotonic clock (ts_mono_ms(); the fields below marked
 * "monotonic" hold its readings): a step of the wall clock (NTP, an
 * operator's date, a VM resumed) neither holds writes back by the size
 * of the step nor frees a budget early into a burst.  Times of day come
 * in and go out only where a caller asks for one: pace_drain_at() and
 * pace_backlog_drain_at() take the caller's wall-clock now (ms since the
 * epoch, UTC, ts_now_ms()) and answer in the same clock.  The pacer owns
 * a uv_timer_t; pace_close() closes it and calls back once it is closed
 * (libuv habit: free in the close callback).
 */
#ifndef CLOSELOOP_PACE_H
#define CLOSELOOP_PACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>
#include "util.h"

#define PACE_BUDGETS 2

struct pace_budget {
	int max;            /* content-creating writes per window; 0 = no budget */
	int64_t window_ms;
	int64_t *log;       /* ring of the last max send times (monotonic) */
	int head, n;
};

struct pace_wait;
typedef void (*pace_go_cb)(struct pace_wait *w);

/* Embedded in the caller's request object. */
struct pace_wait {
	TAILQ_ENTRY(pace_wait) link;
	bool creates;       /* content-creating: takes room in the budgets */
	bool queued;
	pace_go_cb go;      /* called from the loop when the write may go */
};

TAILQ_HEAD(pace_queue, pace_wait);

struct pace_config {
	int64_t spacing_ms;               /* between the starts of two writes */
	int per_minute, per_hour;         /* content-creating writes; 0 = none */
};

struct pace {
	uv_timer_t timer;
	struct pace_queue queue;
	size_t queued, queued_creates;
	bool busy;                 /* a write is in flight */
	int64_t spacing_ms;
	bool gone;                 /* a write has gone (last_go_at is set) */
	int64_t last_go_at;        /* when the last write went (monotonic) */
	int64_t blocked_until;     /* connector-wide: nothing goes before
	                            * (monotonic; 0 = never stopped) */
	int strikes;               /* secondary limits in a row (back-off) */
	struct pace_budget budget[PACE_BUDGETS];
	void (*closed)(struct pace *p);
};

/* Set up p on loop.  Returns 0 or a negative libuv code. */
int pace_init(struct pace *p, uv_loop_t *loop, const struct pace_config *cfg) MUST_CHECK;
/* Change spacing and budgets (SIGHUP); the send log is kept. */
void pace_configure(struct pace *p, const struct pace_config *cfg);
/* Queue w (not already queued); w->go is called from the loop, never from
 * inside this call, once it may go.  The caller then sends the write and
 * calls pace_done() when its answer (or failure) is in. */
void pace_enqueue(struct pace *p, struct pace_wait *w, bool creates, pace_go_cb go);
/* The same, at the head of the queue: the second step of a write already
 * under way (GitHub: closing an issue just created closed) or its retry,
 * which should not wait behind every write queued since. */
void pace_enqueue_first(struct pace *p, struct pace_wait *w, bool creates, pace_go_cb go);
/* Take a queued w out (cancel); harmless when w is not queued. */
void pace_remove(struct pace *p, struct pace_wait *w);
/* The write in flight has its answer: the next may go after spacing_ms.
 * ok = it was not refused by a rate limit (resets the back-off). */
void pace_done(struct pace *p, bool ok);
/* Nothing goes for wait_ms from now (a tracker's retry-after, or the
 * time left to its x-ratelimit-reset); a stop ending later wins. */
void pace_block_for(struct pace *p, int64_t wait_ms);
/* How long the connector-wide stop still holds, in ms (0 when none). */
int64_t pace_blocked_ms(const struct pace *p);
/* A rate-limit answer with no time in it (GitHub's secondary limit
 * without retry-after): block for 60 s, doubled for each such answer in
 * a row, at most 15 min.  Returns the wait in ms. */
int64_t pace_block_backoff(struct pace *p);
/* How long (ms from now) a content-creating write enqueued now would
 * wait for room in the budgets, counting the creates queued before it
 * (spacing not counted).  A wait of a whole window or more is reported as
 * that window when it depends on sends not yet made. */
int64_t pace_create_wait(const struct pace *p);
/* How many more content-creating writes, enqueued now one after another,
 * would each find room in the budgets within within_ms from now
 * (counting the creates queued before them; spacing not counted), at most
 * cap.  A caller that hands the connector only that many creates never
 * has one wait for the budget longer than within_ms (reconcile: a create
 * intent is recorded only for a create about to be sent). */
int pace_create_room(const struct pace *p, int64_t within_ms, int cap);
/* Estimated time the queue will be empty, in the clock of now_at (the
 * caller's wall-clock now, ms since the epoch): spacing and budgets
 * applied to what is queued now; now_at when it is empty. */
int64_t pace_drain_at(const struct pace *p, int64_t now_at);
/* As pace_drain_at, then extra_creates more content-creating writes
 * queued behind what is queued now (a backlog not yet handed to the
 * queue): when the last of them may go.  now_at when there is nothing. */
int64_t pace_backlog_drain_at(const struct pace *p, int64_t now_at, uint64_t extra_creates);
/* Close the timer; closed(p) is called once it is closed.  The queue must
 * be empty (callers fail their queued writes first). */
void pace_close(struct pace *p, void (*closed)(struct pace *p));

#endif
