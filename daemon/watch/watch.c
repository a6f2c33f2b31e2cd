/* watch.c — see watch.h.  The SQL lives in sql/012_watch.sql; this file
 * drives it on the loop and sends the escalations through the connectors.
 *
 * Decisions written down here:
 *   - the claim is the intent: an escalation is committed as 'sending'
 *     before its request, and a row that may have reached the tracker
 *     (crash, time-out, 5xx, cancel) is looked for by its marker before it
 *     is sent again — so a comment is never sent twice, and never lost;
 *   - a tracker refusal (400/422, 401/403, 404/410, 301, rate limit after
 *     retries) is 'failed' and retried on the next run (abandoned after 5
 *     attempts); anything else is 'unknown';
 *   - a run that finds its ledger statement failing ends there (logged,
 *     counted); the next run starts from the ledger's state again.
 */
#include "watch.h"
#include "watch_internal.h"
#include "connector.h"
#include "db.h"
#include "deliver.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One escalation being sent. */
struct watch_send {
	struct watch *w;
	long long id;
	struct connector *conn;
	char *connector, *target, *marker, *body, *identity;
	struct conn_remote ref;
};

static const char SQL_DONE[] =
	"SELECT closeloop_escalation_done($1::bigint, $2, $3, $4, $5, $6::timestamptz)";

static void run_start(struct watch *w);

void watch_set_state(struct watch *w, enum watch_state s)
{
	switch (s) {
	case WATCH_IDLE:
	case WATCH_FLAGS:
	case WATCH_ARM:
	case WATCH_CLAIM:
	case WATCH_SEND:
	case WATCH_LABEL_PLAN:
	case WATCH_LABEL_CLAIM:
	case WATCH_LABEL_SEND:
		w->state = s;
		break;
	default:
		log_error("watch: impossible state %d", (int)s);
		abort();
	}
}

/* ---- sends ---- */

static void send_free(struct watch_send *s)
{
	free(s->connector);
	free(s->target);
	free(s->marker);
	free(s->body);
	free(s->identity);
	free(s->ref.key);
	free(s->ref.remote_id);
	free(s);
}

static void on_done(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	UNUSED(res);
	struct watch_send *s = arg;
	struct watch *w = s->w;
	if (err) {
		/* stays 'sending': retaken after the lease, marker looked for first */
		log_error("escalation %lld: outcome not recorded: %s", s->id, err);
		w->errors++;
	}
	send_free(s);
	watch_send_ended(w);
}

void watch_send_ended(struct watch *w)
{
	if (--w->sends == 0)
		watch_labels_start(w);
}

/* Record the outcome; state is "sent", "failed" or "unknown". */
static void send_record(struct watch_send *s, const char *state, const char *outcome,
                        const char *url)
{
	struct watch *w = s->w;
	char id[24];
	snprintf(id, sizeof(id), "%lld", s->id);
	const char *p[6] = { id, state, outcome, url, s->identity, NULL };
	if (strcmp(state, "sent") == 0) {
		w->stats.escalations_sent++;
		log_info("escalation %lld: comment on %s sent to %s", s->id, s->ref.key,
		         s->identity ? s->identity : "(no identity in the directory)");
	} else {
		if (strcmp(state, "failed") == 0)
			w->stats.escalations_failed++;
		else
			w->stats.escalations_unknown++;
		log_warn("escalation %lld on %s: %s (%s; retried on the next run)", s->id,
		         s->ref.key ? s->ref.key : "?", outcome, state);
		w->errors++;
	}
	if (db_query(w->db, SQL_DONE, 6, p, on_done, s) < 0)
		on_done(w->db, NULL, "ledger connection is closing", s);
}

static bool refused(enum conn_status st)
{
	return st == CONN_INVALID || st == CONN_AUTH || st == CONN_GONE || st == CONN_MOVED ||
	       st == CONN_RATE_LIMITED;
}

static void on_comment(struct connector *c, const struct conn_result *res,
                       const struct conn_comment *cm, void *arg)
{
	UNUSED(c);
	struct watch_send *s = arg;
	if (res->status == CONN_OK)
		send_record(s, "sent", "comment created", cm ? cm->url : NULL);
	else
		send_record(s, refused(res->status) ? "failed" : "unknown",
		            res->error ? res->error : conn_status_name(res->status), NULL);
}

static void send_comment(struct watch_send *s)
{
	int rc = s->conn->ops->comment(s->conn, s->target, &s->ref, s->body, on_comment, s);
	if (rc < 0) {
		char *m = xasprintf("could not start the comment: %s", strerror(-rc));
		send_record(s, "failed", m, NULL);
		free(m);
	}
}

static void on_found(struct connector *c, const struct conn_result *res,
                     const struct conn_comment *cm, void *arg)
{
	UNUSED(c);
	struct watch_send *s = arg;
	if (res->status != CONN_OK) {
		send_record(s, refused(res->status) ? "failed" : "unknown",
		            res->error ? res->error : conn_status_name(res->status), NULL);
	} else if (cm) {
		send_record(s, "sent", "found the comment of an earlier attempt", cm->url);
	} else {
		send_comment(s);
	}
}

struct connector *watch_find_conn(const struct watch *w, const char *name)
{
	for (size_t i = 0; i < w->n_conns; i++)
		if (strcmp(w->conns[i]->name, name) == 0)
			return w->conns[i];
	return NULL;
}

char *watch_col(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

/* Start sending row r of the claim; the send ends in send_record. */
static void send_start(struct watch *w, const PGresult *res, int r)
{
	struct watch_send *s = xcalloc(1, sizeof(*s));
	s->w = w;
	s->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
	s->connector = xstrdup(watch_col(res, r, 2));
	s->target = xstrdup(watch_col(res, r, 3));
	s->ref.key = xstrdup(watch_col(res, r, 4));
	s->ref.remote_id = xstrdup(watch_col(res, r, 17));
	s->marker = xstrdup(watch_col(res, r, 5));
	s->conn = watch_find_conn(w, s->connector);
	char *mention = s->conn ? watch_person_mention(conn_type_of(s->conn),
	                                               watch_col(res, r, 18)) : NULL;
	const char *days = watch_col(res, r, 16);
	struct watch_esc e = {
		.rung = watch_col(res, r, 6), .flag = watch_col(res, r, 7), .recipient = watch_col(res, r, 8),
		.login = watch_col(res, r, 9), .platform = watch_col(res, r, 10), .title = watch_col(res, r, 12),
		.pm_ref = watch_col(res, r, 13), .pm_title = watch_col(res, r, 14), .due = watch_col(res, r, 15),
		.days = days ? (int)strtol(days, NULL, 10) : 0, .id = s->id, .marker = s->marker,
		.mention = mention,
	};
	if (s->conn)
		e.login = NULL; /* the type's own mention or none: never @login off GitHub */
	s->identity = watch_esc_identity(&e);
	s->body = watch_esc_message(&e);
	free(mention);
	w->sends++;
	if (!s->conn || !s->conn->ops->comment || !s->conn->ops->find_comment) {
		char *m = xasprintf(s->conn ? "connector '%s' cannot comment (no comment operation)"
		                            : "connector '%s' is not configured", s->connector);
		send_record(s, "failed", m, NULL);
		free(m);
		return;
	}
	if (strcmp(PQgetvalue(res, r, 1), "t") != 0) {
		send_comment(s);
		return;
	}
	int rc = s->conn->ops->find_comment(s->conn, s->target, &s->ref, s->marker, on_found, s);
	if (rc < 0) {
		char *m = xasprintf("could not look for an earlier comment: %s", strerror(-rc));
		send_record(s, "unknown", m, NULL);
		free(m);
	}
}

/* ---- the run ---- */

static void on_claim(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	struct watch *w = arg;
	if (err) {
		log_error("escalation: claim failed: %s", err);
		w->errors++;
		watch_labels_start(w);
		return;
	}
	int n = PQntuples(res);
	if (n == 0) {
		watch_labels_start(w);
		return;
	}
	watch_set_state(w, WATCH_SEND);
	w->sends = 1; /* held while starting, so an early finish cannot end the run */
	for (int i = 0; i < n; i++) {
		const char *ch = watch_col(res, i, 19);
		if (ch && strncmp(ch, "comment:", 8) == 0)
			send_start(w, res, i);
		else
			watch_notify_add(w, res, i);
	}
	watch_notify_flush(w);
	watch_send_ended(w);
}

static void claim(struct watch *w)
{
	char limit[16], lease[16];
	snprintf(limit, sizeof(limit), "%d", WATCH_CLAIM_MAX);
	snprintf(lease, sizeof(lease), "%d", WATCH_LEASE_S);
	const char *p[4] = { NULL, w->by, limit, lease };
	watch_set_state(w, WATCH_CLAIM);
	if (db_query(w->db, watch_sql_claim, 4, p, on_claim, w) < 0)
		on_claim(w->db, NULL, "ledger connection is closing", w);
}

static void on_arm(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	struct watch *w = arg;
	if (err) {
		log_error("escalation: arming the ladder failed: %s", err);
		w->errors++;
		watch_labels_start(w);
		return;
	}
	long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0) {
		w->stats.escalations_armed += (uint64_t)n;
		log_info("escalation: %ld new escalation(s) armed", n);
	}
	claim(w);
}

static void on_flags(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	struct watch *w = arg;
	if (err) {
		log_error("flags: computation failed: %s", err);
		w->errors++;
		watch_run_finish(w);
		return;
	}
	struct buf b = { .max = 4096 };
	long raised = 0, cleared = 0;
	bool truncated = false;
	for (int i = 0; i < PQntuples(res); i++) {
		long r = strtol(PQgetvalue(res, i, 1), NULL, 10);
		long c = strtol(PQgetvalue(res, i, 2), NULL, 10);
		raised += r;
		cleared += c;
		if ((r || c) && buf_appendf(&b, "%s%s +%ld -%ld", b.len ? "," : "",
		                            PQgetvalue(res, i, 0), r, c) < 0)
			truncated = true; /* capped at 4 KiB: the totals stay exact */
	}
	w->stats.flags_raised += (uint64_t)raised;
	w->stats.flags_cleared += (uint64_t)cleared;
	if (raised || cleared)
		log_info("flags: %ld raised, %ld cleared (%s%s)", raised, cleared,
		         b.data ? b.data : "", truncated ? ", ..." : "");
	buf_free(&b);
	if (!w->cfg->watch.escalation_enabled || w->cfg->watch.n_rungs == 0) {
		watch_labels_start(w);
		return;
	}
	char *rungs = watch_rungs_json(&w->cfg->watch, w->cfg, w->conns, w->n_conns);
	const char *p[3] = { NULL, rungs, w->by };
	watch_set_state(w, WATCH_ARM);
	if (db_query(w->db, watch_sql_arm, 3, p, on_arm, w) < 0)
		on_arm(w->db, NULL, "ledger connection is closing", w);
	free(rungs);
}

static void run_start(struct watch *w)
{
	char *opts = watch_flags_options_json(&w->cfg->watch);
	const char *p[3] = { NULL, opts, w->by };
	w->errors = 0;
	watch_set_state(w, WATCH_FLAGS);
	if (db_query(w->db, watch_sql_flags, 3, p, on_flags, w) < 0)
		on_flags(w->db, NULL, "ledger connection is closing", w);
	free(opts);
}

static void maybe_stopped(struct watch *w);

void watch_run_finish(struct watch *w)
{
	struct waiter *done = w->cur;
	size_t n = w->n_cur;
	int errors = w->errors;
	watch_set_state(w, WATCH_IDLE);
	w->stats.runs++;
	log_debug("watch: run finished (%d error(s))", errors);
	if (errors)
		w->stats.run_errors++;
	w->cur = NULL;
	w->n_cur = 0;
	if (w->again && !w->stopping) {
		w->again = false;
		w->cur = w->next;
		w->n_cur = w->n_next;
		w->next = NULL;
		w->n_next = 0;
		run_start(w);
	}
	for (size_t i = 0; i < n; i++)
		if (done[i].cb)
			done[i].cb(w, errors, done[i].arg);
	free(done);
	if (w->stopping && w->state == WATCH_IDLE)
		maybe_stopped(w);
}

int watch_run(struct watch *w, watch_done_cb cb, void *arg)
{
	if (w->stopping)
		return -ECANCELED;
	if (w->state == WATCH_IDLE) {
		w->cur = xrealloc(w->cur, (w->n_cur + 1) * sizeof(*w->cur));
		w->cur[w->n_cur++] = (struct waiter){ cb, arg };
		run_start(w);
	} else {
		w->next = xrealloc(w->next, (w->n_next + 1) * sizeof(*w->next));
		w->next[w->n_next++] = (struct waiter){ cb, arg };
		w->again = true;
	}
	return 0;
}

static void on_timer(uv_timer_t *h)
{
	struct watch *w = h->data;
	if (w->state == WATCH_IDLE && !w->stopping)
		run_start(w);
}

/* ---- life cycle ---- */

int watch_new(struct watch **out, uv_loop_t *loop, struct db *db, struct connector **conns,
              size_t n_conns, const struct config *cfg, const char *by)
{
	*out = NULL;
	if (!loop || !db || !cfg || !by)
		return -EINVAL;
	struct watch *w = xcalloc(1, sizeof(*w));
	w->loop = loop;
	w->db = db;
	w->conns = conns;
	w->n_conns = n_conns;
	w->cfg = cfg;
	w->by = xstrdup(by);
	uv_timer_init(loop, &w->timer);
	uv_timer_init(loop, &w->stop_timer);
	w->timer.data = w->stop_timer.data = w;
	*out = w;
	return 0;
}

void watch_set_http(struct watch *w, struct http_client *http)
{
	if (!w->dl && http && deliver_new(&w->dl, w->loop, http) < 0)
		w->dl = NULL; /* chat and mail escalations then fail and are retried */
}

void watch_start(struct watch *w)
{
	uint64_t ms = (uint64_t)(w->cfg->watch.interval_s > 0 ? w->cfg->watch.interval_s : 300) * 1000;
	uv_timer_start(&w->timer, on_timer, 0, ms);
}

void watch_set_config(struct watch *w, const struct config *cfg)
{
	w->cfg = cfg;
	if (uv_is_active((uv_handle_t *)&w->timer)) {
		uint64_t ms = (uint64_t)cfg->watch.interval_s * 1000;
		uv_timer_start(&w->timer, on_timer, ms, ms);
	}
}

const struct watch_stats *watch_get_stats(const struct watch *w)
{
	return &w->stats;
}

static void closed_one(struct watch *w)
{
	if (--w->closes > 0)
		return;
	void (*cb)(void *) = w->stopped_cb;
	void *arg = w->stopped_arg;
	free(w->by);
	free(w->next);
	free(w);
	if (cb)
		cb(arg);
}

static void on_closed(uv_handle_t *h)
{
	closed_one(h->data);
}

static void on_dl_closed(void *arg)
{
	struct watch *w = arg;
	w->dl = NULL;
	w->dl_closed = true;
	if (w->closes > 0) /* maybe_stopped counted it */
		closed_one(w);
}

/* Stop the deliveries (a send in flight ends 'unknown', one waiting to
 * retry 'failed'; their callbacks record that from the loop). */
static void dl_close(struct watch *w)
{
	if (w->dl && !w->dl_closing) {
		w->dl_closing = true;
		deliver_close(w->dl, on_dl_closed, w);
	}
}

static void maybe_stopped(struct watch *w)
{
	if (w->closes)
		return; /* already closing */
	for (size_t i = 0; i < w->n_next; i++)
		if (w->next[i].cb)
			w->next[i].cb(w, 1, w->next[i].arg); /* those runs will not happen */
	w->n_next = 0;
	w->closes = 2 + (w->dl && !w->dl_closed ? 1 : 0);
	dl_close(w);
	uv_close((uv_handle_t *)&w->timer, on_closed);
	uv_close((uv_handle_t *)&w->stop_timer, on_closed);
}

/* The run did not end in time: cancel the connectors' requests (their
 * callbacks record the sends as 'unknown'; the marker is looked for next
 * time). */
static void on_stop_timeout(uv_timer_t *h)
{
	struct watch *w = h->data;
	if (w->state != WATCH_SEND && w->state != WATCH_LABEL_SEND)
		return;
	log_warn("watch: escalations still in flight at stop; cancelling them");
	for (size_t i = 0; i < w->n_conns; i++)
		w->conns[i]->ops->cancel(w->conns[i]);
	dl_close(w);
}

void watch_stop(struct watch *w, int64_t timeout_ms, void (*stopped_cb)(void *), void *arg)
{
	if (w->stopping)
		abort(); /* stopping twice: a caller bug */
	w->stopping = true;
	w->stopped_cb = stopped_cb;
	w->stopped_arg = arg;
	uv_timer_stop(&w->timer);
	if (w->state == WATCH_IDLE) {
		maybe_stopped(w);
		return;
	}
	uv_timer_start(&w->stop_timer, on_stop_timeout, timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
}
