/* quarterly.c — see quarterly.h.
 *
 * One run at a time, an explicit state machine:
 *   Q_IDLE --timer--> Q_PREPARE (worker: arm, claim, render)
 *          --> Q_SEND (loop: one deliver_send per claimed row)
 *          --> Q_RECORD (worker: record each outcome, store figures) --> Q_IDLE
 *   Q_IDLE --store_timer--> Q_STORE (worker: store figures only) --> Q_IDLE
 * The store timer is the debounce after a NOTIFY on QUARTERLY_STORE_CHANNEL
 * (store_dropped, from the LISTEN connection listen_db); a drop noticed
 * during a run (store_wanted), or the check timer firing during a store run
 * (check_due), is taken up when the run ends (run_next).  The worker threads touch only their struct
 * q_run (copies of what they need) and their own PGconn; they never log
 * (the loop logs what they found when they are done). */
#include "quarterly.h"
#include "db.h"
#include "deliver.h"
#include "log.h"
#include "report.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_MAX 20          /* deliveries per run */
#define LEASE_S 3600          /* a 'sending' claim older than this: its daemon stopped */
/* The session advisory lock a daemon holds while it stores figures, so
 * that two daemons on one ledger never compute the same quarters at once
 * ("closelop" in ASCII + 4; docs/schema.md "Stored figures"). */
#define STORE_LOCK_KEY "7164223648653143924"

enum q_state {
	Q_IDLE = 0,
	Q_PREPARE,    /* worker thread: arm, claim, render */
	Q_SEND,       /* deliver_send calls out */
	Q_RECORD,     /* worker thread: outcomes into the ledger, stored figures */
	Q_STORE,      /* worker thread: stored figures only (some were dropped) */
	Q_STOPPED,
};

struct q_item {
	long long id;
	char *quarter, *platform, *destination;
	char *md, *html;              /* the report, NULL when it could not be made */
	size_t md_len, html_len;
	enum deliver_outcome outcome;
	char *detail;
	bool sent_out;                /* handed to deliver_send */
	bool answered;
};

struct q_run {
	char *dsn, *dests_json, *now_text, *by;
	PGconn *c;                    /* the claim's connection, kept until the
	                                 outcomes are recorded: it holds the
	                                 claimed rows' advisory locks (sql/022) */
	bool arm;                     /* enabled and some destination exists */
	char *quarter;                /* the last ended quarter (worker) */
	int armed;
	struct q_item *items;
	size_t n_items, n_waiting;
	char err[512];                /* what failed on the worker, or "" */
	/* the stored figures (store_figures) */
	uv_mutex_t *mu;               /* quarterly.mu: guards cancel and stop */
	PGcancel *cancel;             /* a Q_STORE run's statement, for quarterly_stop */
	bool stop;                    /* quarterly_stop: run no further statement */
	bool store_busy;              /* another session held STORE_LOCK_KEY */
	int stored_quarters;          /* ended quarters computed now, -1: not run */
	int stored_days;              /* days of v_overdue_daily filled, -1: not run */
	int64_t started_ms;
	char store_err[256];          /* what failed while storing, or "" */
};

struct quarterly {
	uv_loop_t *loop;
	struct http_client *http;
	struct deliver *dl;
	const struct config *cfg;
	char *by;
	uv_timer_t timer;
	uv_timer_t store_timer;       /* debounce after stored figures were dropped */
	struct db *listen_db;         /* LISTENs on QUARTERLY_STORE_CHANNEL */
	uv_mutex_t mu;
	uv_work_t work;
	enum q_state state;
	struct q_run *run;
	struct quarterly_stats stats;
	bool store_wanted;            /* figures dropped during a run: store after it */
	bool check_due;               /* the check timer fired during a store run */
	bool stopping, timer_closed, store_timer_closed, listen_closed, dl_closed;
	void (*done)(void *);
	void *done_arg;
};

static void set_state(struct quarterly *q, enum q_state s)
{
	switch (s) {
	case Q_IDLE:
	case Q_PREPARE:
	case Q_SEND:
	case Q_RECORD:
	case Q_STORE:
	case Q_STOPPED:
		q->state = s;
		return;
	default:
		abort();
	}
}

static void run_free(struct q_run *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_items; i++) {
		struct q_item *it = &r->items[i];
		free(it->quarter);
		free(it->platform);
		free(it->destination);
		free(it->md);
		free(it->html);
		free(it->detail);
	}
	free(r->items);
	if (r->c)
		PQfinish(r->c);
	free(r->dsn);
	free(r->dests_json);
	free(r->now_text);
	free(r->by);
	free(r->quarter);
	free(r);
}

/* ---- worker side (no logging, no loop) ---- */

/* The report of (quarter, platform) in one format, into *out. */
static int render(const struct report *rep, enum report_format f, char **out, size_t *len)
{
	FILE *m = open_memstream(out, len);
	if (!m)
		return -ENOMEM;
	int rc = report_write(rep, f, m);
	if (fclose(m) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

static void render_item(PGconn *c, struct q_item *it, const struct q_item *prev)
{
	if (prev && prev->md && strcmp(prev->quarter, it->quarter) == 0 &&
	    strcmp(prev->platform, it->platform) == 0) {
		it->md = xstrndup(prev->md, prev->md_len);
		it->md_len = prev->md_len;
		it->html = xstrndup(prev->html, prev->html_len);
		it->html_len = prev->html_len;
		return;
	}
	struct report_query rq = { .quarter = it->quarter, .platform = it->platform };
	struct report *rep = NULL;
	char err[400] = "";
	if (report_load(c, &rq, &rep, err, sizeof(err)) < 0) {
		it->detail = xasprintf("the report could not be made: %s", err);
		return;
	}
	if (render(rep, REPORT_MD, &it->md, &it->md_len) < 0 ||
	    render(rep, REPORT_HTML, &it->html, &it->html_len) < 0) {
		free(it->md);
		free(it->html);
		it->md = it->html = NULL;
		it->detail = xstrdup("the report could not be rendered (out of memory)");
	}
	report_free(rep);
}

static int claim(PGconn *c, struct q_run *r)
{
	char lim[16], lease[16];
	snprintf(lim, sizeof(lim), "%d", CLAIM_MAX);
	snprintf(lease, sizeof(lease), "%d", LEASE_S);
	const char *p[] = { r->by, lim, lease, r->dests_json };
	PGresult *res = db_sync_exec(c, "SELECT r_id, r_quarter, r_platform, r_destination "
	                             "FROM closeloop_report_delivery_claim($1, $2::int, $3::int, "
	                             "$4::jsonb)", 4, p, r->err, sizeof(r->err));
	if (!res)
		return -EIO;
	int n = PQntuples(res);
	r->items = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*r->items));
	for (int i = 0; i < n; i++) {
		struct q_item *it = &r->items[r->n_items++];
		it->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		it->quarter = xstrdup(PQgetvalue(res, i, 1));
		it->platform = xstrdup(PQgetvalue(res, i, 2));
		it->destination = xstrdup(PQgetvalue(res, i, 3));
	}
	PQclear(res);
	return 0;
}

static void work_prepare(uv_work_t *w)
{
	struct q_run *r = w->data;
	PGconn *c = r->c = db_sync_connect(r->dsn, r->err, sizeof(r->err));
	if (!c)
		return;
	if (r->arm) {
		const char *p[] = { r->now_text };
		PGresult *res = db_sync_exec(c, "SELECT closeloop_quarter_add(closeloop_quarter_of("
		                             "$1::timestamptz), -1)", 1, p, r->err, sizeof(r->err));
		if (!res)
			return;
		r->quarter = xstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
		const char *a[] = { r->quarter, r->dests_json, r->by };
		res = db_sync_exec(c, "SELECT closeloop_report_delivery_arm($1, $2::jsonb, $3)", 3, a,
		                   r->err, sizeof(r->err));
		if (!res)
			return;
		r->armed = atoi(PQgetvalue(res, 0, 0)); /* an integer PostgreSQL printed */
		PQclear(res);
	}
	if (claim(c, r) < 0)
		return;
	for (size_t i = 0; i < r->n_items; i++)
		render_item(c, &r->items[i], i ? &r->items[i - 1] : NULL);
	/* c stays open (r->c) until work_record: it holds the claims' locks */
}

/* Has quarterly_stop asked this run to end? */
static bool run_stopped(struct q_run *r)
{
	uv_mutex_lock(r->mu);
	bool stop = r->stop;
	uv_mutex_unlock(r->mu);
	return stop;
}

/* One statement of the store returning one integer, into *out. */
static int store_step(PGconn *c, struct q_run *r, const char *sql, int *out)
{
	if (run_stopped(r)) {
		snprintf(r->store_err, sizeof(r->store_err), "the daemon is stopping");
		return -ECANCELED;
	}
	PGresult *res = db_sync_exec(c, sql, 0, NULL, r->store_err, sizeof(r->store_err));
	if (!res)
		return -EIO;
	*out = atoi(PQgetvalue(res, 0, 0)); /* an integer PostgreSQL printed */
	PQclear(res);
	return 0;
}

/* The stored figures the dashboards read (sql/019_report_store.sql,
 * sql/043_report_store_notify.sql), under STORE_LOCK_KEY: the ended
 * quarters not stored and the current quarter's snapshot, committed
 * first (closeloop_report_store_quarters), then the ended days of
 * v_overdue_daily not stored (closeloop_overdue_daily_fill, from
 * item_span since sql/047: 0.49 s for one day, 9.9 s for all 89 at
 * 100,000 items; minutes at 1,000,000 before).  When another session holds the
 * lock, its daemon is storing them and was told of any drop too (every
 * daemon LISTENs): nothing is done (r->store_busy). */
static void store_figures(PGconn *c, struct q_run *r)
{
	int got = 0;
	if (store_step(c, r, "SELECT pg_try_advisory_lock(" STORE_LOCK_KEY ")::int", &got) < 0)
		return;
	if (!got) {
		r->store_busy = true;
		return;
	}
	if (store_step(c, r, "SELECT closeloop_report_store_quarters()", &r->stored_quarters) == 0)
		(void)store_step(c, r, "SELECT closeloop_overdue_daily_fill()", &r->stored_days);
	/* a failed statement leaves the session usable (autocommit) */
	char err[256];
	PQclear(db_sync_exec(c, "SELECT pg_advisory_unlock(" STORE_LOCK_KEY ")", 0, NULL, err,
	                     sizeof(err)));
}

static void work_store(uv_work_t *w)
{
	struct q_run *r = w->data;
	PGconn *c = db_sync_connect(r->dsn, r->store_err, sizeof(r->store_err));
	if (!c)
		return;
	uv_mutex_lock(r->mu);
	r->cancel = PQgetCancel(c);
	uv_mutex_unlock(r->mu);
	store_figures(c, r);
	uv_mutex_lock(r->mu);
	PGcancel *k = r->cancel;
	r->cancel = NULL;
	uv_mutex_unlock(r->mu);
	PQfreeCancel(k);
	PQfinish(c);
}

static void work_record(uv_work_t *w)
{
	struct q_run *r = w->data;
	/* the claim's session, which holds the rows' locks; if it was lost, the
	 * rows may already be claimed again by another daemon (same id: a
	 * repeat the destination recognises), and recording still works for
	 * rows nobody took since (closeloop_report_delivery_done checks) */
	if (r->c && PQstatus(r->c) != CONNECTION_OK) {
		PQfinish(r->c);
		r->c = NULL;
	}
	r->err[0] = '\0';
	PGconn *c = r->c ? r->c : (r->c = db_sync_connect(r->dsn, r->err, sizeof(r->err)));
	if (!c)
		return;
	for (size_t i = 0; i < r->n_items; i++) {
		struct q_item *it = &r->items[i];
		char id[32];
		snprintf(id, sizeof(id), "%lld", it->id);
		const char *p[] = { id, r->by, deliver_outcome_name(it->outcome),
		                    it->detail ? it->detail : "" };
		PGresult *res = db_sync_exec(c, "SELECT closeloop_report_delivery_done($1::bigint, $2, "
		                             "$3, $4)", 4, p, r->err, sizeof(r->err));
		PQclear(res);
	}
	/* keep the stored figures of ended quarters and the current quarter's
	 * snapshot fresh for the dashboards (sql/019_report_store.sql) */
	char err[256];
	PQclear(db_sync_exec(c, "SELECT pg_advisory_unlock_all()", 0, NULL, err, sizeof(err)));
	/* every quarter kept in the rollups first, in its own transaction (a
	 * fill holds them until it commits; sql/042_report_rollup.sql), so the
	 * figures stored next are read from them */
	PQclear(db_sync_exec(c, "SELECT closeloop_report_rollup_keep()", 0, NULL, err, sizeof(err)));
	store_figures(c, r);
	/* fold the dashboards' tally rows appended since (sql/027) */
	PQclear(db_sync_exec(c, "SELECT closeloop_tally_compact()", 0, NULL, err, sizeof(err)));
	PQfinish(c);
	r->c = NULL;
}

/* ---- loop side ---- */

static void on_timer(uv_timer_t *t);
static void on_store_timer(uv_timer_t *t);
static void after_record(uv_work_t *w, int status);

static void arm_timer(struct quarterly *q, uint64_t ms)
{
	if (!q->stopping)
		uv_timer_start(&q->timer, on_timer, ms, 0);
}

static void maybe_finished(struct quarterly *q)
{
	if (!q->stopping || q->state != Q_STOPPED || !q->timer_closed || !q->store_timer_closed ||
	    !q->listen_closed || !q->dl_closed)
		return;
	void (*done)(void *) = q->done;
	void *arg = q->done_arg;
	uv_mutex_destroy(&q->mu);
	free(q->by);
	free(q);
	if (done)
		done(arg);
}

/* Store the figures again store_debounce_ms from now, unless that is
 * already due. */
static void store_soon(struct quarterly *q)
{
	if (q->stopping || uv_is_active((uv_handle_t *)&q->store_timer))
		return;
	uv_timer_start(&q->store_timer, on_store_timer,
	               (uint64_t)q->cfg->quarterly_store_debounce_ms, 0);
}

/* What the worker's store_figures found, in a check's run or (after_drop)
 * a store run: INFO when it computed something or after a drop, WARN when
 * a store run failed; nothing when the check never got that far (its
 * connection failed: after_record says so). */
static void log_store(const struct q_run *r, int status, bool after_drop)
{
	const char *why = after_drop ? "after stored figures were dropped" : "at the check";
	if (!after_drop && status >= 0 && r->stored_quarters < 0 && !r->store_busy && !r->store_err[0])
		return;
	if (status < 0 || r->store_err[0])
		log_at(after_drop ? LOG_LVL_WARN : LOG_LVL_DEBUG, NULL,
		       "report store: figures not stored %s (%s); stored at the next drop or check",
		       why, r->store_err[0] ? r->store_err : uv_strerror(status));
	else if (r->store_busy)
		log_debug("report store: another daemon holds the store lock; the figures are left "
		          "to it (%s)", why);
	else
		log_at(after_drop || r->stored_quarters > 0 || r->stored_days > 0 ? LOG_LVL_INFO :
		       LOG_LVL_DEBUG, NULL,
		       "report store: %d ended quarter(s) and %d day(s) computed and stored, the "
		       "current quarter's snapshot taken (%s; %lld ms)", r->stored_quarters,
		       r->stored_days, why, (long long)(ts_now_ms() - r->started_ms));
}

/* A run has ended: stop, or go on with what waited for it. */
static void run_next(struct quarterly *q)
{
	if (q->stopping) {
		set_state(q, Q_STOPPED);
		maybe_finished(q);
		return;
	}
	set_state(q, Q_IDLE);
	if (q->check_due) {
		q->check_due = false;
		on_timer(&q->timer);
	} else if (q->store_wanted) {
		q->store_wanted = false;
		store_soon(q);
	}
}

static void start_record(struct quarterly *q)
{
	set_state(q, Q_RECORD);
	q->work.data = q->run;
	if (uv_queue_work(q->loop, &q->work, work_record, after_record) < 0)
		after_record(&q->work, UV_ECANCELED);
}


/* A platform name as a file name part: [A-Za-z0-9._-], others '-'. */
static char *file_part(const char *s)
{
	char *o = xstrdup(s);
	for (char *p = o; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
			*p = '-';
	if (o[0] == '.' || !o[0])
		o[0] = '_';
	return o;
}

struct send_ctx {
	struct quarterly *q;
	struct q_item *it;
};

static void on_item_sent(const struct deliver_result *res, void *arg)
{
	struct send_ctx *sc = arg;
	struct quarterly *q = sc->q;
	struct q_item *it = sc->it;
	free(sc);
	it->outcome = res->outcome;
	it->detail = xstrdup(res->detail);
	it->answered = true;
	if (res->outcome == DELIVER_SENT)
		q->stats.sent++;
	else if (res->outcome == DELIVER_FAILED)
		q->stats.failed++;
	else
		q->stats.unknown++;
	log_at(res->outcome == DELIVER_SENT ? LOG_LVL_INFO : LOG_LVL_WARN, NULL,
	       "quarterly report %s of platform '%s' to '%s': %s (%s)", it->quarter, it->platform,
	       it->destination, deliver_outcome_name(res->outcome), res->detail);
	if (--q->run->n_waiting == 0)
		start_record(q);
}

static void send_item(struct quarterly *q, struct q_item *it)
{
	const struct cfg_destination *d = cfg_find_destination(q->cfg, it->destination);
	if (!it->md || !d || q->stopping) {
		it->outcome = DELIVER_FAILED;
		if (!it->detail)
			it->detail = q->stopping ? xstrdup("not sent: the daemon is stopping") :
			             xasprintf("destination '%s' is no longer configured", it->destination);
		log_warn("quarterly report %s of platform '%s' to '%s': failed (%s)", it->quarter,
		         it->platform, it->destination, it->detail);
		q->stats.failed++;
		return;
	}
	char *fp = file_part(it->platform);
	char *id = xasprintf("closeloop-report-%s-%s-%lld", it->quarter, fp, it->id);
	char *subject = xasprintf("Action item closure report %s — %s", it->quarter, it->platform);
	char *fhtml = xasprintf("closure-report-%s-%s.html", it->quarter, fp);
	char *fmd = xasprintf("closure-report-%s-%s.md", it->quarter, fp);
	struct deliver_part parts[2] = {
		{ fhtml, "text/html; charset=utf-8", it->html, it->html_len },
		{ fmd, "text/markdown; charset=utf-8", it->md, it->md_len },
	};
	struct deliver_msg m = { .id = id, .kind = "quarterly-report", .platform = it->platform,
	                         .subject = subject, .text = it->md, .parts = parts, .n_parts = 2 };
	struct send_ctx *sc = xcalloc(1, sizeof(*sc));
	sc->q = q;
	sc->it = it;
	int rc = deliver_send(q->dl, d, &m, on_item_sent, sc);
	if (rc < 0) {
		free(sc);
		it->outcome = DELIVER_FAILED;
		it->detail = xasprintf("not sent: %s", strerror(-rc));
		q->stats.failed++;
	} else {
		it->sent_out = true;
		q->run->n_waiting++;
	}
	free(fp);
	free(id);
	free(subject);
	free(fhtml);
	free(fmd);
}

static void after_prepare(uv_work_t *w, int status)
{
	struct quarterly *q = container_of(w, struct quarterly, work);
	struct q_run *r = q->run;
	if (status < 0 && !r->err[0])
		snprintf(r->err, sizeof(r->err), "the worker did not run: %s", uv_strerror(status));
	if (r->err[0])
		log_warn("quarterly report: %s; trying again at the next check", r->err);
	if (r->armed > 0)
		log_info("quarterly report %s: %d deliveries armed", r->quarter, r->armed);
	set_state(q, Q_SEND);
	for (size_t i = 0; i < r->n_items; i++)
		send_item(q, &r->items[i]);
	if (r->n_waiting == 0)
		start_record(q);
}

static void after_record(uv_work_t *w, int status)
{
	struct quarterly *q = container_of(w, struct quarterly, work);
	struct q_run *r = q->run;
	if (r->n_items && (status < 0 || r->err[0]))
		log_error("quarterly report: outcomes not recorded (%s); those deliveries stay "
		          "'sending' and are claimed again at the next run (sent again with the same "
		          "id where the destination recognises a repeat, else 'unknown')",
		          r->err[0] ? r->err : uv_strerror(status));
	log_store(r, status, false);
	log_at(r->n_items ? LOG_LVL_INFO : LOG_LVL_DEBUG, NULL,
	       "quarterly report: run finished (%s ended last; %zu deliveries claimed)",
	       r->quarter ? r->quarter : "no quarter", r->n_items);
	run_free(r);
	q->run = NULL;
	arm_timer(q, (uint64_t)q->cfg->quarterly_check_s * 1000);
	run_next(q);
}

static void after_store(uv_work_t *w, int status)
{
	struct quarterly *q = container_of(w, struct quarterly, work);
	if (q->stopping)
		log_info("report store: store run ended, the daemon is stopping (what it had not "
		         "stored is stored at the next drop or check)");
	else
		log_store(q->run, status, true);
	run_free(q->run);
	q->run = NULL;
	run_next(q);
}

/* The new q_run, with what every run needs. */
static struct q_run *run_new(struct quarterly *q)
{
	struct q_run *r = xcalloc(1, sizeof(*r));
	r->dsn = xstrdup(q->cfg->database_dsn);
	r->mu = &q->mu;
	r->stored_quarters = r->stored_days = -1;
	r->started_ms = ts_now_ms();
	return r;
}

static void on_store_timer(uv_timer_t *t)
{
	struct quarterly *q = container_of(t, struct quarterly, store_timer);
	if (q->stopping)
		return;
	if (q->state != Q_IDLE) {
		q->store_wanted = true;
		return;
	}
	q->run = run_new(q);
	q->stats.store_runs++;
	set_state(q, Q_STORE);
	q->work.data = q->run;
	if (uv_queue_work(q->loop, &q->work, work_store, after_store) < 0)
		after_store(&q->work, UV_ECANCELED);
}

/* Stored figures were dropped: what = the NOTIFY's payload ('quarters' or
 * 'days'), or says that the connection came back; only logged. */
static void store_dropped(struct quarterly *q, const char *what)
{
	if (q->stopping)
		return;
	log_debug("report store: stored figures dropped (%s); storing them again in %d ms",
	          what, q->cfg->quarterly_store_debounce_ms);
	switch (q->state) {
	case Q_IDLE:
		store_soon(q);
		return;
	case Q_PREPARE:
	case Q_SEND:
	case Q_RECORD:
	case Q_STORE:
		/* this run may have stored before the drop: store after it */
		q->store_wanted = true;
		return;
	case Q_STOPPED:
		return;
	default:
		abort();
	}
}

static void on_listen_event(struct db *db, enum db_event ev, const char *channel,
                            const char *payload, void *arg)
{
	struct quarterly *q = arg;
	switch (ev) {
	case DB_EVENT_CONNECTED:
		/* NOTIFYs sent while it was away reached no one */
		if (db_get_stats(db)->reconnects > 0)
			store_dropped(q, "the ledger connection came back");
		break;
	case DB_EVENT_LOST:
		log_warn("report store: the connection that listens for dropped figures was lost; "
		         "reconnecting");
		break;
	case DB_EVENT_NOTIFY:
		if (str_eq(channel, QUARTERLY_STORE_CHANNEL))
			store_dropped(q, payload);
		break;
	default:
		abort();
	}
}

/* The destinations as JSON for closeloop_report_delivery_arm. */
static char *dests_json(const struct config *cfg)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < cfg->n_destinations; i++) {
		const struct cfg_destination *d = &cfg->destinations[i];
		json_object *o = json_object_new_object(), *pl = NULL;
		json_object_object_add(o, "name", json_object_new_string(d->name));
		json_object_object_add(o, "type", json_object_new_string(cfg_dest_type_name(d->type)));
		if (d->platforms) {
			pl = json_object_new_array();
			for (size_t k = 0; k < d->n_platforms; k++)
				json_object_array_add(pl, json_object_new_string(d->platforms[k]));
		}
		json_object_object_add(o, "platforms", pl);
		/* may a lost or interrupted send be repeated with the same id
		 * (sql/022_report_delivery_resend.sql)?  Not to a chat webhook:
		 * it cannot drop a repeat */
		json_object_object_add(o, "resend", json_object_new_boolean(
		        d->type == CFG_DEST_SMTP || d->type == CFG_DEST_DIRECTORY ||
		        (d->type == CFG_DEST_WEBHOOK && !d->slack)));
		json_object_array_add(a, o);
	}
	char *s = xstrdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	return s;
}

static void on_timer(uv_timer_t *t)
{
	struct quarterly *q = container_of(t, struct quarterly, timer);
	if (q->stopping)
		return;
	if (q->state != Q_IDLE) {
		/* a store run (the timer is armed again only after a check ends) */
		q->check_due = true;
		return;
	}
	/* this check stores the figures, later than any drop before now */
	uv_timer_stop(&q->store_timer);
	q->store_wanted = false;
	struct q_run *r = run_new(q);
	const char *fake = getenv("CLOSELOOP_TEST_NOW");
	char now[40];
	ts_format(ts_now_ms(), now, sizeof(now));
	r->by = xstrdup(q->by);
	r->now_text = xstrdup(fake && fake[0] ? fake : now);
	r->arm = q->cfg->quarterly_enabled && q->cfg->n_destinations > 0;
	r->dests_json = dests_json(q->cfg);
	q->run = r;
	q->stats.runs++;
	set_state(q, Q_PREPARE);
	q->work.data = r;
	if (uv_queue_work(q->loop, &q->work, work_prepare, after_prepare) < 0)
		after_prepare(&q->work, UV_ECANCELED);
}

int quarterly_new(struct quarterly **out, uv_loop_t *loop, struct http_client *http,
                  const struct config *cfg, const char *by)
{
	struct quarterly *q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->http = http;
	q->cfg = cfg;
	q->by = xstrdup(by);
	/* its own connection: a NOTIFY reaches a session only between its
	 * statements, and the daemon's shared one runs the flags computation
	 * (minutes at 1,000,000 items) */
	int rc = db_open(&q->listen_db, loop, cfg->database_dsn, on_listen_event, q);
	if (rc < 0 || (rc = db_listen(q->listen_db, QUARTERLY_STORE_CHANNEL)) < 0 ||
	    (rc = deliver_new(&q->dl, loop, http)) < 0) {
		if (q->listen_db)
			db_close(q->listen_db, NULL, NULL);
		free(q->by);
		free(q);
		return rc;
	}
	uv_timer_init(loop, &q->timer);
	uv_timer_init(loop, &q->store_timer);
	if (uv_mutex_init(&q->mu) < 0)
		abort(); /* only fails out of memory or on a broken pthread */
	*out = q;
	return 0;
}

void quarterly_start(struct quarterly *q)
{
	arm_timer(q, 1000);
}

void quarterly_set_config(struct quarterly *q, const struct config *cfg)
{
	q->cfg = cfg;
}

const struct quarterly_stats *quarterly_get_stats(const struct quarterly *q)
{
	return &q->stats;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct quarterly *q = container_of((uv_timer_t *)h, struct quarterly, timer);
	q->timer_closed = true;
	maybe_finished(q);
}

static void on_store_timer_closed(uv_handle_t *h)
{
	struct quarterly *q = container_of((uv_timer_t *)h, struct quarterly, store_timer);
	q->store_timer_closed = true;
	maybe_finished(q);
}

static void on_listen_closed(void *arg)
{
	struct quarterly *q = arg;
	q->listen_closed = true;
	q->listen_db = NULL;
	maybe_finished(q);
}

static void on_dl_closed(void *arg)
{
	struct quarterly *q = arg;
	q->dl_closed = true;
	q->dl = NULL;
	maybe_finished(q);
}

void quarterly_stop(struct quarterly *q, void (*done)(void *), void *arg)
{
	q->stopping = true;
	q->done = done;
	q->done_arg = arg;
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, on_timer_closed);
	uv_timer_stop(&q->store_timer);
	uv_close((uv_handle_t *)&q->store_timer, on_store_timer_closed);
	db_close(q->listen_db, on_listen_closed, q);
	if (q->state == Q_IDLE)
		set_state(q, Q_STOPPED);
	/* a store run is only a cache fill: its statement is cancelled (the
	 * days of a whole window take seconds to minutes) and rolled back */
	if (q->state == Q_STORE && q->run) {
		char err[256];
		uv_mutex_lock(&q->mu);
		q->run->stop = true;
		if (q->run->cancel && !PQcancel(q->run->cancel, err, sizeof(err)))
			log_debug("report store: could not cancel the store run: %s", err);
		uv_mutex_unlock(&q->mu);
	}
	/* sends under way end UNKNOWN or FAILED and are recorded (Q_RECORD);
	 * a worker in flight finishes and after_* sees `stopping` */
	deliver_close(q->dl, on_dl_closed, q);
}
