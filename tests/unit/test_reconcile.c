/* test_reconcile.c — the reconcile engine on a real uv loop with a real
 * PostgreSQL (CLOSELOOP_TEST_DSN; a fresh database per test) and a fake
 * tracker written here: an in-memory struct conn_ops.  (End-to-end tests
 * against the GitHub simulator live in tests/integration.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pgtest.h"
#include "config.h"
#include "connector.h"
#include "db.h"
#include "log.h"
#include "reconcile.h"
#include "rec_link.h"

/* ---- the fake tracker ---- */

struct fake_ticket {
	char *remote_id, *key, *url, *token;
	int64_t updated_ms;
	struct item_fields f;   /* owner = tracker login */
};

struct fake {
	struct connector c;     /* first: the engine's pointer is ours */
	struct fake_ticket t[160];
	size_t n;
	int64_t clock_ms;
	unsigned mutations;
	PGconn *check;          /* sees only committed rows */
	int creates, updates, lists, not_modified, create_calls;
	int intent_missing;     /* creates whose intent row was not committed */
	bool create_unknown_once;
	const char *gone_id;    /* updates of this ticket answer CONN_GONE */
	bool cancelled;
};

enum fake_kind { FK_LIST, FK_CREATE, FK_UPDATE, FK_FETCH };

struct fake_call {
	uv_timer_t timer;
	struct fake *f;
	enum fake_kind kind;
	char *target, *etag, *token, *ref_id;
	int64_t since;
	struct item_fields want;
	unsigned mask;
	conn_list_cb list_cb;
	conn_item_cb item_cb;
	void *arg;
	size_t *order;          /* listing snapshot, oldest first */
	size_t n_order, pos;
};

static void fake_tick(struct fake *f, struct fake_ticket *t)
{
	f->clock_ms += 1000;
	f->mutations++;
	t->updated_ms = f->clock_ms;
}

/* the ticket with this title answers extra "{not json" (NULL: none) */
static const char *fake_bad_extra;

static void fake_to_remote(const struct fake_ticket *t, struct conn_remote *r)
{
	char ts[40];
	bool bad = fake_bad_extra && str_eq(t->f.v[ITEM_F_TITLE], fake_bad_extra);
	conn_remote_init(r);
	r->remote_id = xstrdup(t->remote_id);
	r->key = xstrdup(t->key);
	r->url = xstrdup(t->url);
	ts_format(t->updated_ms, ts, sizeof(ts));
	r->updated_at = xstrdup(ts);
	r->token = xstrdup(t->token);
	r->extra = xstrdup(bad ? "{not json" : "{\"labels\":[\"team-k8s\"]}");
	item_fields_copy(&r->fields, &t->f);
}

static struct fake_ticket *fake_find(struct fake *f, const char *remote_id, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if ((remote_id && strcmp(f->t[i].remote_id, remote_id) == 0) ||
		    (key && strcmp(f->t[i].key, key) == 0))
			return &f->t[i];
	return NULL;
}

static void call_closed(uv_handle_t *h)
{
	struct fake_call *k = h->data;
	free(k->target);
	free(k->etag);
	free(k->token);
	free(k->ref_id);
	free(k->order);
	item_fields_free(&k->want);
	free(k);
}

static void fake_list_step(struct fake_call *k)
{
	struct fake *f = k->f;
	struct conn_result res = { .status = CONN_OK, .http_status = 200 };
	char etag[64];
	snprintf(etag, sizeof(etag), "\"v%u-%lld\"", f->mutations, (long long)k->since);
	if (k->pos == 0 && k->etag && strcmp(k->etag, etag) == 0) {
		struct conn_page pg = { .last = true, .etag = etag };
		res.status = CONN_NOT_MODIFIED;
		res.http_status = 304;
		f->not_modified++;
		k->list_cb(&f->c, &res, &pg, k->arg);
		uv_close((uv_handle_t *)&k->timer, call_closed);
		return;
	}
	struct conn_remote items[2];
	size_t n = 0;
	while (n < 2 && k->pos < k->n_order)
		fake_to_remote(&f->t[k->order[k->pos++]], &items[n++]);
	struct conn_page pg = { .items = items, .n = n, .last = k->pos >= k->n_order, .etag = etag };
	bool last = pg.last;
	k->list_cb(&f->c, &res, &pg, k->arg);
	for (size_t i = 0; i < n; i++)
		conn_remote_free(&items[i]);
	if (last) /* else the timer repeats with the next page */
		uv_close((uv_handle_t *)&k->timer, call_closed);
}

static void fake_item_answer(struct fake_call *k, enum conn_status st, const struct fake_ticket *t)
{
	struct conn_result res = { .status = st, .http_status = st == CONN_OK ? 200 : 500,
	                           .error = st == CONN_OK ? NULL : conn_status_name(st) };
	struct conn_remote r;
	conn_remote_init(&r);
	if (st == CONN_OK)
		fake_to_remote(t, &r);
	k->item_cb(&k->f->c, &res, st == CONN_OK ? &r : NULL, k->arg);
	conn_remote_free(&r);
	uv_close((uv_handle_t *)&k->timer, call_closed);
}

static void fake_create_now(struct fake_call *k)
{
	struct fake *f = k->f;
	const char *p[] = { k->token };
	PGresult *r = PQexecParams(f->check,
	                           "SELECT 1 FROM external_link WHERE create_token = $1 AND state = 'creating'",
	                           1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		f->intent_missing++;
	PQclear(r);
	assert_true(f->n < ARRAY_SIZE(f->t));
	struct fake_ticket *t = &f->t[f->n++];
	memset(t, 0, sizeof(*t));
	t->remote_id = xasprintf("%zu", 9000 + f->n);
	t->key = xasprintf("%s#%zu", k->target, f->n);
	t->url = xasprintf("https://tracker.example/%s/issues/%zu", k->target, f->n);
	t->token = xstrdup(k->token);
	item_fields_copy(&t->f, &k->want);
	fake_tick(f, t);
	f->creates++;
	if (f->create_unknown_once) {
		f->create_unknown_once = false;
		fake_item_answer(k, CONN_UNKNOWN, NULL);
		return;
	}
	fake_item_answer(k, CONN_OK, t);
}

static void fake_fire(uv_timer_t *h)
{
	struct fake_call *k = h->data;
	struct fake *f = k->f;
	struct fake_ticket *t;
	if (f->cancelled && k->kind == FK_LIST) {
		struct conn_result res = { .status = CONN_ERROR, .error = "cancelled" };
		struct conn_page pg = { .last = true };
		k->list_cb(&f->c, &res, &pg, k->arg);
		uv_close((uv_handle_t *)&k->timer, call_closed);
		return;
	}
	if (f->cancelled) {
		fake_item_answer(k, CONN_ERROR, NULL);
		return;
	}
	if (k->kind != FK_LIST)
		uv_timer_stop(h);
	switch (k->kind) {
	case FK_LIST:
		fake_list_step(k);
		break;
	case FK_CREATE:
		fake_create_now(k);
		break;
	case FK_UPDATE:
		t = fake_find(f, k->ref_id, NULL);
		if (!t || (f->gone_id && strcmp(f->gone_id, t->remote_id) == 0)) {
			fake_item_answer(k, CONN_GONE, NULL);
			return;
		}
		for (int i = 0; i < ITEM_F__COUNT; i++)
			if (k->mask & ITEM_FIELD_BIT(i))
				item_fields_set(&t->f, i, k->want.v[i]);
		fake_tick(f, t);
		f->updates++;
		fake_item_answer(k, CONN_OK, t);
		break;
	case FK_FETCH:
		t = fake_find(f, k->ref_id, k->token);
		fake_item_answer(k, t ? CONN_OK : CONN_GONE, t);
		break;
	default:
		abort();
	}
}

static struct fake_call *fake_call_new(struct fake *f, enum fake_kind kind, const char *target)
{
	struct fake_call *k = xcalloc(1, sizeof(*k));
	k->f = f;
	k->kind = kind;
	k->target = xstrdup(target);
	item_fields_init(&k->want);
	uv_timer_init(f->c.loop, &k->timer);
	k->timer.data = k;
	uv_timer_start(&k->timer, fake_fire, 0, 1);
	return k;
}

static int fake_list(struct connector *c, const char *target, int64_t since_ms, const char *etag,
                     conn_list_cb cb, void *arg)
{
	struct fake *f = (struct fake *)c;
	struct fake_call *k = fake_call_new(f, FK_LIST, target);
	k->since = since_ms;
	k->etag = xstrdup(etag);
	k->list_cb = cb;
	k->arg = arg;
	k->order = xcalloc(f->n + 1, sizeof(size_t));
	for (size_t i = 0; i < f->n; i++)
		if (f->t[i].updated_ms >= since_ms)
			k->order[k->n_order++] = i;
	for (size_t i = 1; i < k->n_order; i++) /* oldest first */
		for (size_t j = i; j > 0 && f->t[k->order[j]].updated_ms < f->t[k->order[j - 1]].updated_ms; j--) {
			size_t x = k->order[j];
			k->order[j] = k->order[j - 1];
			k->order[j - 1] = x;
		}
	f->lists++;
	return 0;
}

static int fake_create(struct connector *c, const char *target, const struct item_fields *want,
                       const struct conn_item_context *ctx, conn_item_cb cb, void *arg)
{
	struct fake_call *k = fake_call_new((struct fake *)c, FK_CREATE, target);
	((struct fake *)c)->create_calls++;
	item_fields_copy(&k->want, want);
	k->token = xstrdup(ctx->token);
	k->item_cb = cb;
	k->arg = arg;
	return 0;
}

static int fake_update(struct connector *c, const char *target, const struct conn_remote *ref,
                       const struct item_fields *want, unsigned mask,
                       const struct conn_item_context *ctx, conn_item_cb cb, void *arg)
{
	struct fake_call *k = fake_call_new((struct fake *)c, FK_UPDATE, target);
	UNUSED(ctx);
	item_fields_copy(&k->want, want);
	k->mask = mask;
	k->ref_id = xstrdup(ref->remote_id);
	k->item_cb = cb;
	k->arg = arg;
	return 0;
}

static int fake_fetch(struct connector *c, const char *target, const struct conn_remote *ref,
                      conn_item_cb cb, void *arg)
{
	struct fake_call *k = fake_call_new((struct fake *)c, FK_FETCH, target);
	k->ref_id = xstrdup(ref->remote_id);
	k->token = xstrdup(ref->key); /* looked up by key */
	k->item_cb = cb;
	k->arg = arg;
	return 0;
}

static void fake_cancel(struct connector *c)
{
	((struct fake *)c)->cancelled = true;
}

static void fake_destroy(struct connector *c)
{
	struct fake *f = (struct fake *)c;
	for (size_t i = 0; i < f->n; i++) {
		free(f->t[i].remote_id);
		free(f->t[i].key);
		free(f->t[i].url);
		free(f->t[i].token);
		item_fields_free(&f->t[i].f);
	}
	if (f->check)
		PQfinish(f->check);
	free(f->c.name);
	free(f);
}

static const struct conn_ops fake_ops = {
	.type = "github",
	.list_changed = fake_list,
	.create = fake_create,
	.update = fake_update,
	.fetch = fake_fetch,
	.cancel = fake_cancel,
	.destroy = fake_destroy,
};

/* ---- the environment: ledger, loop, db, fake, engine ---- */

struct env {
	struct pgtest_db pg;
	uv_loop_t loop;
	struct db *db;
	struct fake *fk;
	struct rec_engine *e;
	struct config cfg;
	struct cfg_connector cc;
	char *targets[1];
	char *plan;
	size_t plan_len;
	FILE *plan_f;
	bool done, stopped, closed;
	int errors;
};

static const char SEED[] =
	"INSERT INTO team (name, connector, target) VALUES ('k8s', 'fake', 'acme/k8s'), ('orphans', NULL, NULL);"
	"INSERT INTO person (handle, github_login) VALUES ('alice', 'Alice-GH'), ('bob', NULL);"
	"INSERT INTO postmortem (reference, title, document_url)"
	"  VALUES ('PM2026-001', 'etcd outage', 'https://docs.example/pm1');"
	"INSERT INTO action_item (postmortem_id, title, description, type, priority, owner, team_id, due_date, state) VALUES"
	" (1, 'Add etcd latency alert', 'p99 > 1s', 'detect', 'P1', 'alice', 1, '2026-12-01', 'open'),"
	" (1, 'Runbook for etcd defrag', NULL, 'process', 'P2', 'bob', 1, NULL, 'in_progress'),"
	" (1, 'Load test the control plane', NULL, 'prevent', NULL, NULL, 1, NULL, 'open'),"
	" (1, 'Old closed item', NULL, 'other', NULL, NULL, 1, NULL, 'done'),"
	" (1, 'Item with no route', NULL, 'other', NULL, NULL, 2, NULL, 'open');";

static void run_until(struct env *v, const bool *flag)
{
	uint64_t start = uv_hrtime();
	while (!*flag) {
		uv_run(&v->loop, UV_RUN_ONCE);
		if (uv_hrtime() - start > 20ull * 1000000000ull)
			fail_msg("timed out waiting for the loop");
	}
}

/* SQL on the blocking connection; returns the first value as a new string
 * (or NULL). */
/* Run one statement on the test's own connection; fails the test on error. */
static void exec_ok(struct env *v, const char *sql)
{
	pgtest_exec(v->pg.conn, sql, 0, NULL);
}

static char *q1(struct env *v, const char *sql)
{
	char err[512];
	PGresult *r = db_sync_exec(v->pg.conn, sql, 0, NULL, err, sizeof(err));
	if (!r)
		fail_msg("%s: %s", sql, err);
	char *s = PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0) ?
	          xstrdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	return s;
}

static long qn(struct env *v, const char *sql)
{
	char *s = q1(v, sql);
	long n = s ? strtol(s, NULL, 10) : -1;
	free(s);
	return n;
}

static void assert_q(struct env *v, const char *sql, const char *want)
{
	char *s = q1(v, sql);
	if (!str_eq(s, want))
		fail_msg("%s: got %s, want %s", sql, s ? s : "NULL", want ? want : "NULL");
	free(s);
}

static void on_event(struct db *db, enum db_event ev, const char *ch, const char *pl, void *arg)
{
	UNUSED(db); UNUSED(ev); UNUSED(ch); UNUSED(pl); UNUSED(arg);
}

static void env_engine(struct env *v, bool dry_run)
{
	struct rec_options opt = { .dry_run = dry_run, .plan_out = NULL };
	if (dry_run) {
		v->plan_f = open_memstream(&v->plan, &v->plan_len);
		assert_non_null(v->plan_f);
		opt.plan_out = v->plan_f;
	}
	struct connector *conns[] = { &v->fk->c };
	assert_int_equal(rec_engine_new(&v->e, &v->loop, v->db, conns, 1, &v->cfg, &opt), 0);
}

static bool env_up(struct env *v, bool dry_run)
{
	char err[512];
	memset(v, 0, sizeof(*v));
	if (!pgtest_create(&v->pg, "rec", true))
		return false;
	PGresult *seed = PQexec(v->pg.conn, SEED); /* several statements: simple protocol */
	if (PQresultStatus(seed) != PGRES_COMMAND_OK)
		fail_msg("seed: %s", PQerrorMessage(v->pg.conn));
	PQclear(seed);
	assert_int_equal(uv_loop_init(&v->loop), 0);
	assert_int_equal(db_open(&v->db, &v->loop, v->pg.dsn, on_event, v), 0);

	v->fk = xcalloc(1, sizeof(*v->fk));
	v->fk->c.ops = &fake_ops;
	v->fk->c.name = xstrdup("fake");
	v->fk->c.loop = &v->loop;
	v->fk->clock_ms = ts_now_ms() / 1000 * 1000 - 60000;
	v->fk->check = db_sync_connect(v->pg.dsn, err, sizeof(err));
	assert_non_null(v->fk->check);

	v->targets[0] = "acme/k8s";
	v->cc.name = "fake";
	v->cc.type = "github";
	v->cc.targets = v->targets;
	v->cc.n_targets = 1;
	v->cc.max_inflight = 2;
	v->cfg.connectors = &v->cc;
	v->cfg.n_connectors = 1;
	v->cfg.overlap_s = 120;
	v->cfg.notify_debounce_ms = 5;
	for (int i = 0; i < ITEM_F__COUNT; i++)
		v->cfg.policy[i] = CFG_POLICY_REMOTE_WINS;
	v->cfg.policy[ITEM_F_DUE_DATE] = CFG_POLICY_LEDGER_WINS;
	env_engine(v, dry_run);
	return true;
}

static void on_done(struct rec_engine *e, int errors, void *arg)
{
	struct env *v = arg;
	UNUSED(e);
	v->errors = errors;
	v->done = true;
}

static int sync_once(struct env *v)
{
	v->done = false;
	assert_int_equal(rec_sync(v->e, NULL, on_done, v), 0);
	run_until(v, &v->done);
	return v->errors;
}

static void on_stopped(void *arg) { ((struct env *)arg)->stopped = true; }
static void on_closed(void *arg) { ((struct env *)arg)->closed = true; }
static void close_any(uv_handle_t *h, void *arg)
{
	UNUSED(arg);
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void env_stop_engine(struct env *v)
{
	v->stopped = false;
	rec_engine_stop(v->e, 1000, on_stopped, v);
	run_until(v, &v->stopped);
	v->e = NULL;
}

static void env_down(struct env *v)
{
	if (v->e)
		env_stop_engine(v);
	db_close(v->db, on_closed, v);
	run_until(v, &v->closed);
	uv_run(&v->loop, UV_RUN_NOWAIT);
	uv_walk(&v->loop, close_any, NULL);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&v->loop), 0);
	fake_destroy(&v->fk->c);
	if (v->plan_f)
		fclose(v->plan_f);
	free(v->plan);
	pgtest_drop(&v->pg);
}

static const struct fake_ticket *ticket_titled(struct env *v, const char *title)
{
	for (size_t i = 0; i < v->fk->n; i++)
		if (str_eq(v->fk->t[i].f.v[ITEM_F_TITLE], title))
			return &v->fk->t[i];
	fail_msg("no ticket titled %s", title);
	return NULL;
}

/* ---- tests ---- */

static void test_first_cycle_creates(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->creates, 3);
	assert_int_equal(v.fk->n, 3);
	assert_int_equal(v.fk->intent_missing, 0); /* every intent committed before its POST */
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link WHERE state = 'linked'"
	                        " AND remote_id IS NOT NULL AND create_token IS NOT NULL"), 3);
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link l JOIN action_item i"
	                        " ON i.id = l.action_item_id WHERE i.state = 'done' OR i.team_id = 2"), 0);
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link l JOIN action_item i"
	                        " ON i.id = l.action_item_id WHERE l.synced_version = i.version"), 3);
	/* owner: handle -> login; a handle without a login is not assigned */
	assert_string_equal(ticket_titled(&v, "Add etcd latency alert")->f.v[ITEM_F_OWNER], "Alice-GH");
	assert_null(ticket_titled(&v, "Runbook for etcd defrag")->f.v[ITEM_F_OWNER]);
	assert_string_equal(ticket_titled(&v, "Runbook for etcd defrag")->f.v[ITEM_F_STATE], "in_progress");
	/* the base holds what the ticket holds: nobody (bob has no login), so
	 * when the directory gives bob a login the assignment is pushed */
	assert_q(&v, "SELECT coalesce(base->>'owner', 'NULL') FROM external_link WHERE action_item_id = 2",
	         "NULL");
	assert_q(&v, "SELECT base->>'owner' FROM external_link WHERE action_item_id = 1", "alice");
	const struct rec_stats *st = rec_get_stats(v.e);
	assert_int_equal(st->created, 3);
	assert_int_equal(st->unrouted, 1);
	env_down(&v);
}

static void test_quiet_cycle_writes_nothing(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	assert_int_equal(sync_once(&v), 0);
	long events = qn(&v, "SELECT count(*) FROM item_event");
	char *links = q1(&v, "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM external_link");
	char *items = q1(&v, "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM action_item");
	/* second cycle lists the tickets we made: echoes, no ledger write */
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event"), events);
	assert_q(&v, "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM external_link", links);
	assert_q(&v, "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM action_item", items);
	/* the third lists from the moved cursor (a new URL, so no 304 yet);
	 * the fourth is answered 304 and writes nothing at all */
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event"), events);
	assert_q(&v, "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM external_link", links);
	char *cursor = q1(&v, "SELECT xmin::text || cursor_at::text FROM sync_cursor");
	assert_non_null(cursor);
	int nm = v.fk->not_modified;
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->not_modified, nm + 1);
	assert_q(&v, "SELECT xmin::text || cursor_at::text FROM sync_cursor", cursor);
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event"), events);
	assert_q(&v, "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM external_link", links);
	assert_int_equal(v.fk->creates, 3);
	assert_int_equal(v.fk->updates, 0);
	free(links);
	free(items);
	free(cursor);
	env_down(&v);
}

static void test_remote_edit_is_pulled(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	assert_int_equal(sync_once(&v), 0);
	struct fake_ticket *t = (struct fake_ticket *)ticket_titled(&v, "Load test the control plane");
	item_fields_set(&t->f, ITEM_F_STATE, "done");
	item_fields_set(&t->f, ITEM_F_OWNER, "alice-gh"); /* logins match case-insensitively */
	fake_tick(v.fk, t);
	assert_int_equal(sync_once(&v), 0);
	assert_q(&v, "SELECT state || ' ' || owner FROM action_item WHERE id = 3", "done alice");
	assert_q(&v, "SELECT source FROM item_event WHERE action_item_id = 3 AND field = 'state'",
	         "reconcile:fake");
	assert_q(&v, "SELECT new_value FROM item_event WHERE action_item_id = 3 AND field = 'owner'",
	         "alice");
	assert_q(&v, "SELECT (l.base->>'state') || ' ' || (l.synced_version = i.version)::text"
	             " FROM external_link l JOIN action_item i ON i.id = l.action_item_id WHERE i.id = 3",
	         "done true");
	assert_int_equal(v.fk->updates, 0); /* nothing to send back */
	assert_int_equal(rec_get_stats(v.e)->pulled, 1);
	env_down(&v);
}

static void test_ledger_edit_is_pushed(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	assert_int_equal(sync_once(&v), 0);
	exec_ok(&v, "UPDATE action_item SET priority = 'P0', owner = 'alice'"
	        " WHERE id = 3");
	rec_ledger_changed(v.e);
	assert_true(rec_busy(v.e));
	while (rec_busy(v.e))
		uv_run(&v.loop, UV_RUN_ONCE);
	const struct fake_ticket *t = ticket_titled(&v, "Load test the control plane");
	assert_string_equal(t->f.v[ITEM_F_PRIORITY], "P0");
	assert_string_equal(t->f.v[ITEM_F_OWNER], "Alice-GH");
	assert_int_equal(v.fk->updates, 1);
	assert_q(&v, "SELECT (l.synced_version = i.version)::text || ' ' || (l.base->>'priority')"
	             " FROM external_link l JOIN action_item i ON i.id = l.action_item_id WHERE i.id = 3",
	         "true P0");
	/* the ticket we updated is listed next: an echo, nothing written */
	long events = qn(&v, "SELECT count(*) FROM item_event");
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event"), events);
	assert_int_equal(v.fk->updates, 1);
	env_down(&v);
}

static void test_conflict_follows_policy(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	assert_int_equal(sync_once(&v), 0);
	exec_ok(&v, "UPDATE action_item SET title = 'Ledger title',"
	        " due_date = '2027-01-10' WHERE id = 1");
	struct fake_ticket *t = (struct fake_ticket *)ticket_titled(&v, "Add etcd latency alert");
	item_fields_set(&t->f, ITEM_F_TITLE, "Remote title");
	item_fields_set(&t->f, ITEM_F_DUE_DATE, "2027-02-20");
	fake_tick(v.fk, t);
	assert_int_equal(sync_once(&v), 0);
	/* title: remote_wins; due_date: ledger_wins */
	assert_q(&v, "SELECT title || ' ' || due_date::text FROM action_item WHERE id = 1",
	         "Remote title 2027-01-10");
	assert_string_equal(t->f.v[ITEM_F_TITLE], "Remote title");
	assert_string_equal(t->f.v[ITEM_F_DUE_DATE], "2027-01-10");
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event WHERE action_item_id = 1"
	                        " AND field = 'conflict' AND source = 'reconcile:fake'"), 2);
	assert_q(&v, "SELECT detail->>'policy' || ' ' || (detail->>'chosen') || ' ' || (detail->>'ledger')"
	             " FROM item_event WHERE field = 'conflict' AND detail->>'field' = 'title'",
	         "remote_wins remote Ledger title");
	assert_q(&v, "SELECT detail->>'policy' || ' ' || (detail->>'chosen') || ' ' || (detail->>'remote')"
	             " FROM item_event WHERE field = 'conflict' AND detail->>'field' = 'due_date'",
	         "ledger_wins ledger 2027-02-20");
	assert_q(&v, "SELECT (l.synced_version = i.version)::text || ' ' || (l.base->>'title')"
	             " || ' ' || (l.base->>'due_date') FROM external_link l JOIN action_item i"
	             " ON i.id = l.action_item_id WHERE i.id = 1", "true Remote title 2027-01-10");
	assert_int_equal(rec_get_stats(v.e)->conflicts, 2);
	env_down(&v);
}

static void test_unknown_create_is_adopted(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	exec_ok(&v, "UPDATE action_item SET state = 'done' WHERE id IN (2, 3)");
	v.fk->create_unknown_once = true;
	assert_int_equal(sync_once(&v), 1);
	assert_int_equal(v.fk->n, 1); /* the tracker did create it */
	assert_q(&v, "SELECT state || ' ' || (last_error IS NOT NULL)::text || ' ' || error_count"
	             " FROM external_link WHERE action_item_id = 1", "creating true 0");
	/* next cycle: the recovery listing finds the token and adopts it */
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->creates, 1);
	assert_int_equal(v.fk->n, 1);
	assert_q(&v, "SELECT state || ' ' || remote_id || ' ' || (last_error IS NULL)::text"
	             " FROM external_link WHERE action_item_id = 1", "linked 9001 true");
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link"), 1);
	assert_int_equal(rec_get_stats(v.e)->adopted, 1);
	env_down(&v);
}

static void test_gone_breaks_link(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	assert_int_equal(sync_once(&v), 0);
	const struct fake_ticket *t = ticket_titled(&v, "Runbook for etcd defrag");
	v.fk->gone_id = t->remote_id;
	exec_ok(&v, "UPDATE action_item SET priority = 'P0' WHERE id = 2");
	assert_int_equal(sync_once(&v), 0);
	assert_q(&v, "SELECT state || ' ' || broken_reason FROM external_link WHERE action_item_id = 2",
	         "broken gone");
	assert_q(&v, "SELECT state || ' ' || priority FROM action_item WHERE id = 2", "in_progress P0");
	assert_q(&v, "SELECT new_value FROM item_event WHERE action_item_id = 2 AND field = 'link'"
	             " ORDER BY id DESC LIMIT 1", "broken: gone");
	assert_int_equal(rec_get_stats(v.e)->broken_links, 1);
	/* a broken link is neither pushed again nor replaced by a new ticket */
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->creates, 3);
	env_down(&v);
}

static void test_dry_run_writes_nothing(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, true))
		return;
	long events = qn(&v, "SELECT count(*) FROM item_event");
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->creates, 0);
	assert_int_equal(v.fk->n, 0);
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link"), 0);
	assert_int_equal(qn(&v, "SELECT count(*) FROM sync_cursor"), 0);
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event"), events);
	fflush(v.plan_f);
	assert_non_null(v.plan);
	assert_non_null(strstr(v.plan, "create  acme/k8s  item 1 \"Add etcd latency alert\""));
	assert_non_null(strstr(v.plan, "create  acme/k8s  item 3 "));
	assert_null(strstr(v.plan, "item 4 ")); /* closed items get no ticket */
	env_down(&v);
}

static void test_dry_run_plans_pull_and_push(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	assert_int_equal(sync_once(&v), 0);
	env_stop_engine(&v);
	env_engine(&v, true);
	exec_ok(&v, "UPDATE action_item SET priority = 'P3' WHERE id = 1");
	struct fake_ticket *t = (struct fake_ticket *)ticket_titled(&v, "Load test the control plane");
	item_fields_set(&t->f, ITEM_F_DUE_DATE, "2026-12-24");
	fake_tick(v.fk, t);
	long events = qn(&v, "SELECT count(*) FROM item_event");
	char *links = q1(&v, "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM external_link");
	assert_int_equal(sync_once(&v), 0);
	fflush(v.plan_f);
	assert_non_null(strstr(v.plan, "pull    item 3  due_date: (none) -> 2026-12-24  from acme/k8s#3"));
	assert_non_null(strstr(v.plan, "push    acme/k8s#1  item 1  priority: P1 -> P3"));
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event"), events);
	assert_q(&v, "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM external_link", links);
	assert_q(&v, "SELECT due_date FROM action_item WHERE id = 3", NULL);
	assert_string_equal(ticket_titled(&v, "Add etcd latency alert")->f.v[ITEM_F_PRIORITY], "P1");
	free(links);
	env_down(&v);
}

static void test_stop_cancels_and_no_duplicates(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	v.done = false;
	assert_int_equal(rec_sync(v.e, NULL, on_done, &v), 0);
	while (v.fk->create_calls < 1)
		uv_run(&v.loop, UV_RUN_ONCE);
	env_stop_engine(&v); /* time-out 1 s, or cancelled */
	assert_true(v.done);
	/* whatever was cut short: a new engine finishes without duplicates */
	env_engine(&v, false);
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->n, 3);
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link WHERE state = 'linked'"), 3);
	assert_int_equal(v.fk->intent_missing, 0);
	env_down(&v);
}

static void test_stop_timeout_cancels(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	v.done = false;
	assert_int_equal(rec_sync(v.e, NULL, on_done, &v), 0);
	while (v.fk->create_calls < 1)
		uv_run(&v.loop, UV_RUN_ONCE);
	v.stopped = false;
	rec_engine_stop(v.e, 0, on_stopped, &v);
	assert_int_equal(rec_sync(v.e, NULL, on_done, &v), -ECANCELED);
	run_until(&v, &v.stopped);
	v.e = NULL;
	assert_true(v.done);
	assert_true(v.fk->cancelled);
	/* every link is either linked to a ticket or still 'creating' */
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link WHERE state NOT IN ('linked','creating')"), 0);
	v.fk->cancelled = false;
	env_engine(&v, false);
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->n, 3);
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link WHERE state = 'linked'"), 3);
	env_down(&v);
}

/* ---- batched create writes, the connector lock ---- */

static const char BULK[] =
	"INSERT INTO action_item (postmortem_id, title, type, team_id, state)"
	" SELECT 1, 'Bulk item ' || g, 'prevent', 1, 'open' FROM generate_series(1, 117) g";

struct aq {
	bool done;
	char *val, *err;
};

static void on_aq(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct aq *a = arg;
	UNUSED(db);
	if (err)
		a->err = xstrdup(err);
	else if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		a->val = xstrdup(PQgetvalue(res, 0, 0));
	a->done = true;
}

/* First value of sql run on the async connection db (a session of its own). */
static char *aq1(struct env *v, struct db *db, const char *sql)
{
	struct aq a = { 0 };
	assert_int_equal(db_query(db, sql, 0, NULL, on_aq, &a), 0);
	run_until(v, &a.done);
	if (a.err)
		fail_msg("%s: %s", sql, a.err);
	return a.val;
}

/* Run the loop until db has a new session (after its backend was killed). */
static void wait_reconnected(struct env *v, struct db *db, uint64_t reconnects)
{
	uint64_t start = uv_hrtime();
	while (!(db_connected(db) && db_get_stats(db)->reconnects > reconnects)) {
		uv_run(&v->loop, UV_RUN_ONCE);
		if (uv_hrtime() - start > 20ull * 1000000000ull)
			fail_msg("timed out waiting for the reconnect");
	}
}

static void terminate(struct env *v, const char *pid)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
	assert_q(v, sql, "t");
}

static const char LOCKS_HELD[] =
	"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
	" AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

static void test_created_links_written_in_batches(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	exec_ok(&v, BULK);
	uint64_t st0 = db_get_stats(v.db)->statements;
	assert_int_equal(sync_once(&v), 0);
	uint64_t stmts = db_get_stats(v.db)->statements - st0;
	assert_int_equal(v.fk->creates, 120);
	assert_int_equal(v.fk->intent_missing, 0); /* intents committed before their POST */
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link l JOIN action_item i"
	                        " ON i.id = l.action_item_id WHERE l.state = 'linked'"
	                        " AND l.synced_version = i.version AND l.remote_id IS NOT NULL"
	                        " AND l.base->>'title' = i.title AND l.remote_extra ? 'labels'"), 120);
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event WHERE field = 'link'"
	                        " AND new_value LIKE 'created: acme/k8s#%' AND source = 'reconcile:fake'"), 120);
	/* 2 intent batches (100 + 20), 3 created batches (50 + 50 + 20) and the
	 * cycle's reads and cursor: 12; one statement per link would be > 120 */
	if (stmts > 15)
		fail_msg("%llu statements for 120 creates", (unsigned long long)stmts);
	assert_int_equal(rec_get_stats(v.e)->created, 120);
	/* the next cycle lists them back: echoes, nothing created or written */
	long events = qn(&v, "SELECT count(*) FROM item_event");
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->creates, 120);
	assert_int_equal(qn(&v, "SELECT count(*) FROM item_event"), events);
	env_down(&v);
}

/* Pulled changes are written one statement per listed page, not one per
 * ticket (rec_apply.c): 120 tickets closed on the tracker, listed two per
 * page, cost 60 page reads and 60 batched writes plus the cycle's own reads;
 * one write per ticket would be 180 and more. */
static void test_pulls_written_in_batches(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	exec_ok(&v, BULK);
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(sync_once(&v), 0); /* the echo */
	uint64_t pulled0 = rec_get_stats(v.e)->pulled;
	for (size_t i = 0; i < v.fk->n; i++) {
		item_fields_set(&v.fk->t[i].f, ITEM_F_STATE, "done");
		fake_tick(v.fk, &v.fk->t[i]);
	}
	uint64_t st0 = db_get_stats(v.db)->statements;
	assert_int_equal(sync_once(&v), 0);
	uint64_t stmts = db_get_stats(v.db)->statements - st0;
	assert_int_equal(rec_get_stats(v.e)->pulled - pulled0, v.fk->n);
	assert_int_equal(qn(&v, "SELECT count(*) FROM action_item i JOIN external_link l"
	                        " ON l.action_item_id = i.id AND l.kind = 'managed' WHERE i.state = 'done'"
	                        " AND l.synced_version = i.version AND l.base->>'state' = 'done'"),
	                 (long)v.fk->n);
	if (stmts > v.fk->n + 15)
		fail_msg("%llu statements for %zu pulled tickets", (unsigned long long)stmts, v.fk->n);
	env_down(&v);
}

static void test_created_batch_bad_link_alone(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	fake_bad_extra = "Runbook for etcd defrag";
	assert_int_equal(sync_once(&v), 1); /* that link only */
	fake_bad_extra = NULL;
	assert_int_equal(v.fk->n, 3);
	assert_q(&v, "SELECT string_agg(action_item_id || ' ' || state, ',' ORDER BY action_item_id)"
	             " FROM external_link", "1 linked,2 creating,3 linked");
	assert_q(&v, "SELECT (last_error LIKE '%json%')::text || ' ' || error_count"
	             " FROM external_link WHERE action_item_id = 2", "true 0");
	/* the next cycle's recovery listing adopts the ticket by its token */
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->creates, 3);
	assert_q(&v, "SELECT state || ' ' || (last_error IS NULL)::text FROM external_link"
	             " WHERE action_item_id = 2", "linked true");
	assert_int_equal(rec_get_stats(v.e)->adopted, 1);
	env_down(&v);
}

static void test_lost_created_batch_recovered_by_token(void **state)
{
	struct env v;
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	exec_ok(&v, BULK);
	char *pid = aq1(&v, v.db, "SELECT pg_backend_pid()");
	v.done = false;
	assert_int_equal(rec_sync(v.e, NULL, on_done, &v), 0);
	while (v.fk->creates < 60)
		uv_run(&v.loop, UV_RUN_ONCE);
	terminate(&v, pid); /* a crash of the ledger session amid the creates */
	run_until(&v, &v.done);
	assert_true(v.errors > 0);
	long linked = qn(&v, "SELECT count(*) FROM external_link WHERE state = 'linked'");
	long creating = qn(&v, "SELECT count(*) FROM external_link WHERE state = 'creating'");
	assert_true(creating > 0);
	assert_true((long)v.fk->n > linked); /* tickets whose links were not recorded */
	wait_reconnected(&v, v.db, 0);
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->n, 120);
	assert_int_equal(v.fk->creates, 120); /* no ticket made twice */
	assert_int_equal(v.fk->intent_missing, 0);
	assert_int_equal(qn(&v, "SELECT count(*) FROM external_link WHERE state = 'linked'"), 120);
	assert_int_equal(qn(&v, "SELECT count(DISTINCT remote_id) FROM external_link"), 120);
	assert_true(rec_get_stats(v.e)->adopted > 0);
	free(pid);
	env_down(&v);
}

static void test_connector_lock_one_engine(void **state)
{
	struct env v;
	struct db *db2 = NULL;
	struct rec_engine *e2 = NULL;
	const char *key = "hashtext('closeloop:connector:fake')";
	char sql[200];
	UNUSED(state);
	if (!env_up(&v, false))
		return;
	assert_int_equal(db_open(&db2, &v.loop, v.pg.dsn, on_event, NULL), 0);
	struct connector *conns[] = { &v.fk->c };
	assert_int_equal(rec_engine_new(&e2, &v.loop, db2, conns, 1, &v.cfg, NULL), 0);

	/* engine 1 works the connector, three cycles on one session ... */
	for (int i = 0; i < 3; i++)
		assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->creates, 3);
	/* ... and holds the lock once, not once per cycle */
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%s)::text || ' ' || pg_advisory_unlock(%s)::text",
	         key, key);
	char *holds = aq1(&v, v.db, sql);
	assert_string_equal(holds, "true false");
	free(holds);
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%s)::text", key);
	free(aq1(&v, v.db, sql));

	/* engine 2 skips it: an edit waits for engine 1 */
	exec_ok(&v, "UPDATE action_item SET priority = 'P0' WHERE id = 3");
	int lists = v.fk->lists;
	struct rec_engine *e1 = v.e;
	v.e = e2;
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->lists, lists);
	assert_int_equal(v.fk->updates, 0);

	/* engine 1 and its session go away: engine 2 takes over next cycle */
	v.e = e1;
	env_stop_engine(&v);
	v.closed = false;
	db_close(v.db, on_closed, &v);
	run_until(&v, &v.closed);
	v.db = db2;
	v.e = e2;
	for (int i = 0; i < 500 && qn(&v, LOCKS_HELD) > 0; i++)
		usleep(10000); /* the old backend exits */
	assert_int_equal(qn(&v, LOCKS_HELD), 0);
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->updates, 1);
	assert_int_equal(qn(&v, LOCKS_HELD), 1);

	/* its session dies: the new session takes the lock again */
	char *pid = aq1(&v, db2, "SELECT pg_backend_pid()");
	terminate(&v, pid);
	free(pid);
	wait_reconnected(&v, db2, 0);
	assert_int_equal(qn(&v, LOCKS_HELD), 0);
	exec_ok(&v, "UPDATE action_item SET priority = 'P1' WHERE id = 3");
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.fk->updates, 2);
	pid = aq1(&v, db2, "SELECT pg_backend_pid()");
	snprintf(sql, sizeof(sql), "SELECT pid::text FROM pg_locks WHERE locktype = 'advisory' AND granted"
	         " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
	assert_q(&v, sql, pid);
	free(pid);
	env_down(&v);
}

/* Recovery token searches are paced per connector: searches_per_minute
 * in any minute (a sliding window), none while the search's own rate limit
 * lasts (at least a minute after it answered). */
static void test_search_pace(void **state)
{
	(void)state;
	struct connector conn = { .searches_per_minute = 3 };
	struct rec_search_pace sp = { 0 };
	struct rec_link_ctx lc = { .conn = &conn, .search = &sp };
	int64_t t0 = 1000000000;
	assert_true(rec_search_take(&lc, t0));
	assert_true(rec_search_take(&lc, t0 + 10000));
	assert_true(rec_search_take(&lc, t0 + 20000));
	assert_false(rec_search_take(&lc, t0 + 30000));  /* three in the minute */
	assert_false(rec_search_take(&lc, t0 + 60000));
	assert_true(rec_search_take(&lc, t0 + 61000));   /* the first one's minute is over */
	assert_false(rec_search_take(&lc, t0 + 62000));
	rec_search_block(&lc, t0 + 200000, 0);           /* no time given: a minute */
	assert_false(rec_search_take(&lc, t0 + 259999));
	assert_true(rec_search_take(&lc, t0 + 260000));
	rec_search_block(&lc, t0 + 300000, 120000);      /* retry-after 2 min */
	assert_false(rec_search_take(&lc, t0 + 419999));
	assert_true(rec_search_take(&lc, t0 + 420000));
	/* unset: the contract's default (30 a minute) */
	struct connector dflt = { 0 };
	struct rec_search_pace sp2 = { 0 };
	struct rec_link_ctx lc2 = { .conn = &dflt, .search = &sp2 };
	for (int i = 0; i < CONN_SEARCHES_PER_MINUTE; i++)
		assert_true(rec_search_take(&lc2, t0 + i));
	assert_false(rec_search_take(&lc2, t0 + 100));
}

int main(void)
{
	log_set_level(LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_cycle_creates),
		cmocka_unit_test(test_quiet_cycle_writes_nothing),
		cmocka_unit_test(test_remote_edit_is_pulled),
		cmocka_unit_test(test_ledger_edit_is_pushed),
		cmocka_unit_test(test_conflict_follows_policy),
		cmocka_unit_test(test_unknown_create_is_adopted),
		cmocka_unit_test(test_gone_breaks_link),
		cmocka_unit_test(test_dry_run_writes_nothing),
		cmocka_unit_test(test_dry_run_plans_pull_and_push),
		cmocka_unit_test(test_stop_cancels_and_no_duplicates),
		cmocka_unit_test(test_stop_timeout_cancels),
		cmocka_unit_test(test_created_links_written_in_batches),
		cmocka_unit_test(test_pulls_written_in_batches),
		cmocka_unit_test(test_created_batch_bad_link_alone),
		cmocka_unit_test(test_lost_created_batch_recovered_by_token),
		cmocka_unit_test(test_connector_lock_one_engine),
		cmocka_unit_test(test_search_pace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
