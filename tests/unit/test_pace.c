/* test_pace.c — the paced write queue (connectors/pace.h) on a real libuv
 * loop: writes go one at a time and spacing_ms apart, content-creating
 * writes keep to their per-minute budget (and an update does not wait
 * behind a create whose budget is spent), a stop holds every write, the
 * secondary-limit back-off starts at a minute and doubles, the drain
 * estimate counts the budgets (also for a backlog of creates not yet
 * queued), the timer closes cleanly, and a step of the wall clock changes
 * none of it (the pacer measures on the monotonic clock; this binary is
 * linked with -Wl,--wrap=ts_now_ms so that the test can step the wall
 * clock every caller of ts_now_ms() sees, the pacer included). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pace.h"

/* The wall clock as this binary sees it: the real one plus wall_step_ms
 * (the linker sends every call of ts_now_ms() here). */
static int64_t wall_step_ms;
int64_t __real_ts_now_ms(void);
int64_t __wrap_ts_now_ms(void);
int64_t __wrap_ts_now_ms(void)
{
	return __real_ts_now_ms() + wall_step_ms;
}

struct write {
	struct pace_wait w;
	struct pace *p;
	int64_t went_at;     /* the pacer's (monotonic) clock when it let the write go */
	bool done_at_once;   /* call pace_done from the go callback */
	int *order, *n_order, id;
	int *in_flight, *max_in_flight;
};

static void on_go(struct pace_wait *pw)
{
	struct write *x = container_of(pw, struct write, w);
	/* the spacing is kept between the moments the pacer lets writes go
	 * (pace.h); this callback reads the clock a little after that moment
	 * (in the next millisecond at times, later still on a loaded machine),
	 * so its own reading could put one write late and the next two
	 * seemingly closer than spacing_ms (failed 7 runs in 30 at load 8
	 * under the sanitizers) */
	x->went_at = x->p->last_go_at;
	assert_true(x->went_at > 0 && x->went_at <= ts_mono_ms());
	x->order[(*x->n_order)++] = x->id;
	if (++*x->in_flight > *x->max_in_flight)
		*x->max_in_flight = *x->in_flight;
	if (x->done_at_once) {
		--*x->in_flight;
		pace_done(x->p, true);
	}
}

static void run_ms(uv_loop_t *loop, int64_t ms)
{
	int64_t until = ts_mono_ms() + ms;
	while (ts_mono_ms() < until)
		uv_run(loop, UV_RUN_NOWAIT);
}

/* Run the loop until *n reaches want or max_ms pass: a machine under load
 * may not run the loop within a fixed window, so the tests wait for the
 * event and check the spacing from the times the writes went. */
static void run_until(uv_loop_t *loop, const int *n, int want, int64_t max_ms)
{
	int64_t until = ts_mono_ms() + max_ms;
	while (*n < want && ts_mono_ms() < until)
		uv_run(loop, UV_RUN_NOWAIT);
}

static bool closed;
static void on_closed(struct pace *p)
{
	(void)p;
	closed = true;
}

static void close_loop(uv_loop_t *loop, struct pace *p)
{
	closed = false;
	pace_close(p, on_closed);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void test_spacing_one_at_a_time(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct pace p;
	struct pace_config cfg = { .spacing_ms = 60, .per_minute = 80, .per_hour = 500 };
	int order[8], n = 0, inflight = 0, maxin = 0;
	struct write w[4];
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pace_init(&p, &loop, &cfg), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct write){ .p = &p, .order = order, .n_order = &n, .id = i,
		                       .in_flight = &inflight, .max_in_flight = &maxin };
		pace_enqueue(&p, &w[i].w, i % 2 == 0, on_go);
	}
	assert_int_equal(n, 0); /* never from inside pace_enqueue */
	assert_int_equal(p.queued, 4);
	assert_int_equal(p.queued_creates, 2);
	/* the first write holds the pacer until its answer is in */
	run_until(&loop, &n, 1, 5000);
	run_ms(&loop, 200);
	assert_int_equal(n, 1);
	for (int k = 1; k <= 4; k++) {
		inflight--;
		pace_done(&p, true);
		if (k < 4)
			run_until(&loop, &n, k + 1, 5000);
		else
			run_ms(&loop, 10);
		assert_int_equal(n, k < 4 ? k + 1 : 4);
	}
	assert_int_equal(maxin, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(order[i], i);
	for (int i = 1; i < 4; i++)
		assert_true(w[i].went_at - w[i - 1].went_at >= 60);
	assert_int_equal(p.queued, 0);
	/* the second step of a write goes before the writes queued since */
	struct write f[3];
	n = 0;
	for (int i = 0; i < 3; i++) {
		f[i] = (struct write){ .p = &p, .order = order, .n_order = &n, .id = i,
		                       .done_at_once = true, .in_flight = &inflight,
		                       .max_in_flight = &maxin };
		if (i < 2)
			pace_enqueue(&p, &f[i].w, false, on_go);
		else
			pace_enqueue_first(&p, &f[i].w, false, on_go);
	}
	run_until(&loop, &n, 3, 5000);
	assert_int_equal(n, 3);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 0);
	assert_int_equal(order[2], 1);
	/* answered at once, writes still go spacing_ms apart */
	struct write v[3];
	n = 0;
	for (int i = 0; i < 3; i++) {
		v[i] = (struct write){ .p = &p, .order = order, .n_order = &n, .id = i,
		                       .done_at_once = true, .in_flight = &inflight,
		                       .max_in_flight = &maxin };
		pace_enqueue(&p, &v[i].w, false, on_go);
	}
	run_until(&loop, &n, 3, 5000);
	assert_int_equal(n, 3);
	for (int i = 1; i < 3; i++)
		assert_true(v[i].went_at - v[i - 1].went_at >= 60);
	close_loop(&loop, &p);
}

static void test_budget_and_updates(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct pace p;
	struct pace_config cfg = { .spacing_ms = 5, .per_minute = 3, .per_hour = 500 };
	int order[16], n = 0, inflight = 0, maxin = 0;
	struct write w[6];
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pace_init(&p, &loop, &cfg), 0);
	int64_t t0 = ts_now_ms();
	for (int i = 0; i < 6; i++) {
		w[i] = (struct write){ .p = &p, .order = order, .n_order = &n, .id = i,
		                       .done_at_once = true, .in_flight = &inflight,
		                       .max_in_flight = &maxin };
		/* five creates, then one update */
		pace_enqueue(&p, &w[i].w, i < 5, on_go);
	}
	run_until(&loop, &n, 4, 5000);
	run_ms(&loop, 50); /* and no fifth within the minute */
	/* three creates fit the minute; the update does not wait behind the
	 * two creates that must */
	assert_int_equal(n, 4);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	assert_int_equal(order[3], 5);
	assert_int_equal(p.queued, 2);
	assert_int_equal(p.queued_creates, 2);
	/* the two left go a minute after the first ones went */
	int64_t drain = pace_drain_at(&p, ts_now_ms());
	assert_true(drain >= t0 + 60000);
	assert_true(drain <= t0 + 60000 + 2000); /* + the budget's slack */
	/* a sixth create would wait for the slot the third send frees */
	int64_t wait = pace_create_wait(&p);
	assert_true(wait >= 59000 && wait <= 62000);
	/* no room for another create within 30 s (the minute is spent and two
	 * creates queue for it); within 2 min the three sends' slots free, two
	 * taken by the queued ones, one left */
	assert_int_equal(pace_create_room(&p, 30000, 100), 0);
	assert_int_equal(pace_create_room(&p, 120000, 100), 1);
	assert_int_equal(pace_create_room(&p, 120000, 0), 0);
	pace_remove(&p, &w[3].w);
	pace_remove(&p, &w[4].w);
	/* with nothing queued, the first send's slot */
	wait = pace_create_wait(&p);
	assert_true(wait >= 59000 && wait <= 62000);
	assert_int_equal(p.queued, 0);
	assert_int_equal(pace_drain_at(&p, 1234), 1234);
	/* nothing queued: within 2 min all three slots of the minute */
	assert_int_equal(pace_create_room(&p, 120000, 100), 3);
	close_loop(&loop, &p);
}

static void test_stop_and_backoff(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct pace p;
	struct pace_config cfg = { .spacing_ms = 0, .per_minute = 80, .per_hour = 500 };
	int order[4], n = 0, inflight = 0, maxin = 0;
	struct write w = { .p = &p, .order = order, .n_order = &n, .done_at_once = true,
	                   .in_flight = &inflight, .max_in_flight = &maxin };
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pace_init(&p, &loop, &cfg), 0);
	int64_t t0 = ts_mono_ms();
	pace_block_for(&p, 150);
	int64_t until = p.blocked_until;
	assert_true(until >= t0 + 150);
	assert_true(pace_blocked_ms(&p) > 0 && pace_blocked_ms(&p) <= 150);
	/* an earlier stop never shortens a later one */
	pace_block_for(&p, 10);
	assert_int_equal(p.blocked_until, until);
	pace_enqueue(&p, &w.w, false, on_go);
	run_ms(&loop, 100);
	assert_int_equal(n, 0);
	run_until(&loop, &n, 1, 5000);
	assert_int_equal(n, 1);
	assert_true(w.went_at >= t0 + 150);
	assert_int_equal(pace_blocked_ms(&p), 0);
	/* a secondary limit with no time in it: a minute, then doubling,
	 * bounded; a write that was not refused resets the back-off */
	assert_int_equal(pace_block_backoff(&p), 60000);
	assert_int_equal(pace_block_backoff(&p), 120000);
	assert_int_equal(pace_block_backoff(&p), 240000);
	for (int i = 0; i < 6; i++)
		(void)pace_block_backoff(&p);
	assert_int_equal(pace_block_backoff(&p), 900000);
	assert_true(pace_blocked_ms(&p) > 899000);
	pace_done(&p, true);
	assert_int_equal(pace_block_backoff(&p), 60000);
	close_loop(&loop, &p);
}

/* A backlog of creates not yet queued (reconcile's creates waiting for
 * the budget): GitHub's documented limits, one write a second, 80 creates
 * a minute and 500 an hour: 500 go a second apart, then each next 500
 * waits for the hour of the 500 before it (plus the budget's second of
 * slack).  10,000 creates: the last goes 19 h 8 min 38 s from now. */
static void test_backlog_drain(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct pace p;
	struct pace_config cfg = { .spacing_ms = 1000, .per_minute = 80, .per_hour = 500 };
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pace_init(&p, &loop, &cfg), 0);
	const int64_t t = 1000000000000LL;
	assert_int_equal(pace_backlog_drain_at(&p, t, 0), t);
	assert_int_equal(pace_backlog_drain_at(&p, t, 1), t);
	assert_int_equal(pace_backlog_drain_at(&p, t, 80), t + 79000);
	assert_int_equal(pace_backlog_drain_at(&p, t, 500), t + 499000);
	assert_int_equal(pace_backlog_drain_at(&p, t, 501), t + 3601000);
	assert_int_equal(pace_backlog_drain_at(&p, t, 10000), t + 19 * 3601000LL + 499000);
	/* the estimate leaves the queue's budgets as they were */
	assert_int_equal(pace_backlog_drain_at(&p, t, 501), t + 3601000);
	close_loop(&loop, &p);
	/* no spacing: the minute's budget paces; 3 a minute */
	struct pace_config fast = { .spacing_ms = 0, .per_minute = 3, .per_hour = 500 };
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pace_init(&p, &loop, &fast), 0);
	assert_int_equal(pace_backlog_drain_at(&p, t, 3), t);
	assert_int_equal(pace_backlog_drain_at(&p, t, 6), t + 61000);
	assert_int_equal(pace_backlog_drain_at(&p, t, 7), t + 122000);
	close_loop(&loop, &p);
}

/* The wall clock steps an hour back, then two minutes forward, then an
 * hour forward (NTP, an operator's date, a VM resumed): the write after
 * the step back still goes spacing_ms after the one before (it does not
 * wait the hour), the third create of a minute whose budget is 2 still
 * waits for the minute after the step forward (no burst), and a stop of
 * 300 ms still holds 300 ms after the hour forward.  Failed before, when
 * the pacer read CLOCK_REALTIME: the write after the step back did not go
 * within 5 s (it waited the hour). */
static void test_wall_clock_step(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct pace p;
	struct pace_config cfg = { .spacing_ms = 100, .per_minute = 2, .per_hour = 500 };
	int order[8], n = 0, inflight = 0, maxin = 0;
	struct write w[6];
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pace_init(&p, &loop, &cfg), 0);
	for (int i = 0; i < 6; i++)
		w[i] = (struct write){ .p = &p, .order = order, .n_order = &n, .id = i,
		                       .done_at_once = true, .in_flight = &inflight,
		                       .max_in_flight = &maxin };
	wall_step_ms = 0;
	pace_enqueue(&p, &w[0].w, false, on_go);
	run_until(&loop, &n, 1, 5000);
	assert_int_equal(n, 1);
	wall_step_ms = -3600000; /* an hour back */
	pace_enqueue(&p, &w[1].w, false, on_go);
	run_until(&loop, &n, 2, 5000);
	assert_int_equal(n, 2);
	assert_true(w[1].went_at - w[0].went_at >= 100);
	/* two creates take the minute's budget; two minutes forward */
	pace_enqueue(&p, &w[2].w, true, on_go);
	pace_enqueue(&p, &w[3].w, true, on_go);
	run_until(&loop, &n, 4, 5000);
	assert_int_equal(n, 4);
	wall_step_ms += 120000;
	pace_enqueue(&p, &w[4].w, true, on_go);
	run_ms(&loop, 1000);
	assert_int_equal(n, 4);
	assert_true(pace_create_wait(&p) > 55000);
	pace_remove(&p, &w[4].w);
	/* a stop of 300 ms, then an hour forward */
	int64_t t0 = ts_mono_ms();
	pace_block_for(&p, 300);
	wall_step_ms += 3600000;
	pace_enqueue(&p, &w[5].w, false, on_go);
	run_ms(&loop, 150);
	assert_int_equal(n, 4);
	run_until(&loop, &n, 5, 5000);
	assert_int_equal(n, 5);
	assert_true(w[5].went_at >= t0 + 300);
	wall_step_ms = 0;
	close_loop(&loop, &p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spacing_one_at_a_time),
		cmocka_unit_test(test_budget_and_updates),
		cmocka_unit_test(test_stop_and_backoff),
		cmocka_unit_test(test_backlog_drain),
		cmocka_unit_test(test_wall_clock_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
