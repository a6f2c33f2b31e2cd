/* pace.c — the paced write queue (see pace.h for the rules and their
 * sources).  Every "now" and "_at" inside is a reading of the monotonic
 * clock (ts_mono_ms()); only pace_backlog_drain_at() turns one into the
 * caller's wall clock. */
#include "pace.h"

#include <stdlib.h>
#include <string.h>

#define PACE_BACKOFF_FIRST_MS 60000   /* GitHub: "wait for at least one minute" */
#define PACE_BACKOFF_MAX_MS 900000    /* 15 min: a bound of our own */
/* The tracker counts a budget by arrival times, which trail our send
 * times by a varying delay: a send that frees the budget to the
 * millisecond could arrive inside the window.  A second of slack. */
#define PACE_BUDGET_SLACK_MS 1000

static void budget_set(struct pace_budget *b, int max, int64_t window_ms)
{
	if (max < 0)
		max = 0;
	int64_t *log = max > 0 ? xcalloc((size_t)max, sizeof(*log)) : NULL;
	int keep = b->n < max ? b->n : max;
	/* keep the newest sends */
	for (int i = 0; i < keep; i++)
		log[i] = b->log[(b->head + b->n - keep + i) % b->max];
	free(b->log);
	b->log = log;
	b->max = max;
	b->window_ms = window_ms;
	b->head = 0;
	b->n = keep;
}

/* When the budget has room for one more send (now_at when it has). */
static int64_t budget_free_at(const struct pace_budget *b, int64_t now_at)
{
	if (b->max <= 0 || b->n < b->max)
		return now_at;
	int64_t at = b->log[b->head] + b->window_ms + PACE_BUDGET_SLACK_MS;
	return at > now_at ? at : now_at;
}

static void budget_note(struct pace_budget *b, int64_t at)
{
	if (b->max <= 0)
		return;
	if (b->n < b->max) {
		b->log[(b->head + b->n) % b->max] = at;
		b->n++;
	} else {
		b->log[b->head] = at;
		b->head = (b->head + 1) % b->max;
	}
}

/* Earliest time any write may go: the stop and the spacing. */
static int64_t gate_at(const struct pace *p, int64_t now_at)
{
	int64_t at = now_at;
	if (p->blocked_until > at)
		at = p->blocked_until;
	if (p->gone && p->last_go_at + p->spacing_ms > at)
		at = p->last_go_at + p->spacing_ms;
	return at;
}

static int64_t ready_at(const struct pace *p, const struct pace_wait *w, int64_t now_at)
{
	int64_t at = gate_at(p, now_at);
	for (int i = 0; w->creates && i < PACE_BUDGETS; i++) {
		int64_t b = budget_free_at(&p->budget[i], now_at);
		if (b > at)
			at = b;
	}
	return at;
}

/* The next write to go: of the first create and the first other write,
 * the one ready sooner, the earlier queued on a tie (so an update never
 * waits behind a create whose budget is spent).  *at = when it may go.
 * NULL when nothing is queued. */
static struct pace_wait *pick(const struct pace *p, int64_t now_at, int64_t *at)
{
	struct pace_wait *w, *first[2] = { NULL, NULL }; /* in queue order */
	int n = 0;
	TAILQ_FOREACH(w, &p->queue, link) {
		if (n == 0 || (n == 1 && w->creates != first[0]->creates))
			first[n++] = w;
		if (n == 2)
			break;
	}
	struct pace_wait *best = NULL;
	int64_t best_at = 0;
	for (int k = 0; k < n; k++) {
		struct pace_wait *c = first[k];
		if (!c)
			continue;
		int64_t a = ready_at(p, c, now_at);
		if (!best || a < best_at) {
			best = c;
			best_at = a;
		}
	}
	*at = best_at;
	return best;
}

static void timer_cb(uv_timer_t *t);

static void schedule(struct pace *p)
{
	int64_t now = ts_mono_ms(), at = 0;
	if (p->busy || !pick(p, now, &at)) {
		uv_timer_stop(&p->timer);
		return;
	}
	uv_timer_start(&p->timer, timer_cb, (uint64_t)(at > now ? at - now : 0), 0);
}

static void timer_cb(uv_timer_t *t)
{
	struct pace *p = container_of(t, struct pace, timer);
	int64_t now = ts_mono_ms(), at = 0;
	struct pace_wait *w = p->busy ? NULL : pick(p, now, &at);
	if (!w)
		return;
	if (at > now) {
		schedule(p);
		return;
	}
	pace_remove(p, w);
	p->busy = true;
	p->gone = true;
	p->last_go_at = now;
	for (int i = 0; w->creates && i < PACE_BUDGETS; i++)
		budget_note(&p->budget[i], now);
	w->go(w); /* may enqueue, finish or close: p is touched no more */
}

int pace_init(struct pace *p, uv_loop_t *loop, const struct pace_config *cfg)
{
	memset(p, 0, sizeof(*p));
	TAILQ_INIT(&p->queue);
	int rc = uv_timer_init(loop, &p->timer);
	if (rc < 0)
		return rc;
	pace_configure(p, cfg);
	return 0;
}

void pace_configure(struct pace *p, const struct pace_config *cfg)
{
	p->spacing_ms = cfg->spacing_ms > 0 ? cfg->spacing_ms : 0;
	budget_set(&p->budget[0], cfg->per_minute, 60000);
	budget_set(&p->budget[1], cfg->per_hour, 3600000);
	schedule(p);
}

static void enqueue(struct pace *p, struct pace_wait *w, bool creates, pace_go_cb go, bool first)
{
	if (w->queued)
		abort();
	w->creates = creates;
	w->go = go;
	w->queued = true;
	if (first)
		TAILQ_INSERT_HEAD(&p->queue, w, link);
	else
		TAILQ_INSERT_TAIL(&p->queue, w, link);
	p->queued++;
	if (creates)
		p->queued_creates++;
	schedule(p);
}

void pace_enqueue(struct pace *p, struct pace_wait *w, bool creates, pace_go_cb go)
{
	enqueue(p, w, creates, go, false);
}

void pace_enqueue_first(struct pace *p, struct pace_wait *w, bool creates, pace_go_cb go)
{
	enqueue(p, w, creates, go, true);
}

void pace_remove(struct pace *p, struct pace_wait *w)
{
	if (!w->queued)
		return;
	TAILQ_REMOVE(&p->queue, w, link);
	w->queued = false;
	p->queued--;
	if (w->creates)
		p->queued_creates--;
	if (TAILQ_EMPTY(&p->queue))
		uv_timer_stop(&p->timer);
}

void pace_done(struct pace *p, bool ok)
{
	p->busy = false;
	if (ok)
		p->strikes = 0;
	schedule(p);
}

void pace_block_for(struct pace *p, int64_t wait_ms)
{
	int64_t until = ts_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	if (until > p->blocked_until)
		p->blocked_until = until;
	schedule(p);
}

int64_t pace_blocked_ms(const struct pace *p)
{
	int64_t left = p->blocked_until - ts_mono_ms();
	return left > 0 ? left : 0;
}

int64_t pace_block_backoff(struct pace *p)
{
	int64_t wait = PACE_BACKOFF_FIRST_MS;
	for (int i = 0; i < p->strikes && wait < PACE_BACKOFF_MAX_MS; i++)
		wait *= 2;
	if (wait > PACE_BACKOFF_MAX_MS)
		wait = PACE_BACKOFF_MAX_MS;
	p->strikes++;
	pace_block_for(p, wait);
	return wait;
}

int64_t pace_create_wait(const struct pace *p)
{
	int64_t now_at = ts_mono_ms(), wait = 0;
	for (int i = 0; i < PACE_BUDGETS; i++) {
		const struct pace_budget *b = &p->budget[i];
		if (b->max <= 0)
			continue;
		/* sends still in the window, then the creates queued ahead: the
		 * new one needs the slot of send number (n + queued - max) */
		int64_t idx = (int64_t)b->n + (int64_t)p->queued_creates - b->max;
		int64_t w;
		if (idx < 0)
			w = 0;
		else if (idx < b->n)
			w = b->log[(b->head + idx) % b->max] + b->window_ms + PACE_BUDGET_SLACK_MS - now_at;
		else
			w = b->window_ms;
		if (w > wait)
			wait = w;
	}
	return wait;
}

int pace_create_room(const struct pace *p, int64_t within_ms, int cap)
{
	int64_t now_at = ts_mono_ms();
	int room = cap;
	for (int i = 0; i < PACE_BUDGETS; i++) {
		const struct pace_budget *b = &p->budget[i];
		if (b->max <= 0)
			continue;
		/* the k-th more create needs the slot of send number
		 * (n + queued + k - max), as in pace_create_wait */
		int k = 0;
		while (k < room) {
			int64_t idx = (int64_t)b->n + (int64_t)p->queued_creates + k - b->max;
			if (idx >= b->n)
				break; /* waits for a send not yet made: a window or more */
			if (idx >= 0 && b->log[(b->head + idx) % b->max] + b->window_ms +
			                PACE_BUDGET_SLACK_MS - now_at > within_ms)
				break;
			k++;
		}
		room = k;
	}
	return room;
}

int64_t pace_drain_at(const struct pace *p, int64_t now_at)
{
	return pace_backlog_drain_at(p, now_at, 0);
}

int64_t pace_backlog_drain_at(const struct pace *p, int64_t wall_now_at, uint64_t extra_creates)
{
	static const struct pace_wait backlog = { .creates = true };
	if (TAILQ_EMPTY(&p->queue) && extra_creates == 0)
		return wall_now_at;
	int64_t now_at = ts_mono_ms();
	/* replay the queue in order on copies of the budgets */
	struct pace sim = *p;
	struct pace_budget *b = sim.budget;
	for (int i = 0; i < PACE_BUDGETS; i++) {
		b[i].log = p->budget[i].max > 0 ?
		           xcalloc((size_t)p->budget[i].max, sizeof(int64_t)) : NULL;
		if (b[i].log)
			memcpy(b[i].log, p->budget[i].log, (size_t)p->budget[i].max * sizeof(int64_t));
	}
	int64_t at = now_at;
	const struct pace_wait *w;
	TAILQ_FOREACH(w, &p->queue, link) {
		at = ready_at(&sim, w, now_at > at ? now_at : at);
		sim.last_go_at = at;
		sim.gone = true;
		for (int i = 0; w->creates && i < PACE_BUDGETS; i++)
			budget_note(&b[i], at);
	}
	for (uint64_t k = 0; k < extra_creates; k++) {
		at = ready_at(&sim, &backlog, now_at > at ? now_at : at);
		sim.last_go_at = at;
		sim.gone = true;
		for (int i = 0; i < PACE_BUDGETS; i++)
			budget_note(&b[i], at);
	}
	for (int i = 0; i < PACE_BUDGETS; i++)
		free(b[i].log);
	return wall_now_at + (at - now_at);
}

static void close_cb(uv_handle_t *h)
{
	struct pace *p = container_of((uv_timer_t *)h, struct pace, timer);
	for (int i = 0; i < PACE_BUDGETS; i++) {
		free(p->budget[i].log);
		p->budget[i].log = NULL;
	}
	if (p->closed)
		p->closed(p);
}

void pace_close(struct pace *p, void (*closed)(struct pace *p))
{
	if (!TAILQ_EMPTY(&p->queue))
		abort();
	p->closed = closed;
	uv_close((uv_handle_t *)&p->timer, close_cb);
}
