/* rec_pass.c — one (connector, target) pass of a reconcile cycle: the
 * listing page by page (one SELECT per page), the push pass (one SELECT),
 * the creates (one INSERT of intents per batch of 100, committed before
 * any POST), the cursor (written only when it changed) and the summary
 * line.  The cycle's state machine is in reconcile.c (rec_cycle_enter);
 * the work on each link in rec_link.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "rec_link.h"

#define REC_INTENT_BATCH 100


/* ---- targets ---- */

static void page_free(struct rec_page *pg)
{
	for (size_t i = 0; i < pg->n; i++)
		conn_remote_free(&pg->items[i]);
	free(pg->items);
	free(pg);
}

static void target_free(struct rec_target *t)
{
	if (!t)
		return;
	if (t->created_wait || t->creates_out) {
		/* their ops hold t->active: the pass cannot have ended */
		log_error("reconcile: %s: pass ended with creates unrecorded", t->target);
		abort();
	}
	while (!STAILQ_EMPTY(&t->pages)) {
		struct rec_page *pg = STAILQ_FIRST(&t->pages);
		STAILQ_REMOVE_HEAD(&t->pages, link);
		page_free(pg);
	}
	for (size_t i = t->create_pos; i < t->n_creates; i++)
		if (t->creates[i])
			rec_op_discard(t->creates[i]);
	free(t->creates);
	if (t->page_cur)
		page_free(t->page_cur);
	free(t->target);
	free(t->cursor_etag);
	free(t->first_etag);
	free(t->list_error);
	free(t);
}

static bool target_stopped(const struct rec_target *t)
{
	return t->stop_rate || t->stop_auth;
}


/* ---- listing ---- */

static void page_pump(struct rec_cycle *cy);
static bool page_send(struct rec_cycle *cy);
static void page_pin(struct rec_target *t, const struct rec_page *pg);

static void on_duplicate_written(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_target *t = arg;
	UNUSED(db);
	UNUSED(res);
	if (err) {
		log_conn(LOG_LVL_ERROR, t->lc->name, "%s: recording a duplicate ticket failed: %s",
		         t->target, err);
		t->errors++;
	}
	rec_target_op_done(t);
}

/* The listing met a second ticket carrying the token of a link already
 * linked to another one (a create that went out twice behind closeloop's
 * back): never adopted, flagged for a person to close, once per ticket,
 * in the item's history (field 'duplicate'), and logged every cycle it is
 * still open. */
static void duplicate_flag(struct rec_cycle *cy, const PGresult *res, int row,
                           const struct conn_remote *r)
{
	struct rec_target *t = cy->t;
	struct rec_row link;
	if (rec_row_parse(res, row, &link) < 0) {
		rec_row_free(&link);
		return;
	}
	log_conn(LOG_LVL_ERROR, cy->name, "%s: %s is a duplicate of %s (item %lld): it carries the "
	         "same closeloop token %s; close it on the tracker", t->target, r->key ? r->key : "?",
	         link.remote_key ? link.remote_key : "?", link.item_id, r->token);
	char item[24], *dup = xasprintf("%s %s", r->key ? r->key : "?", r->url ? r->url : "");
	snprintf(item, sizeof(item), "%lld", link.item_id);
	const char *p[] = { item, link.remote_key, dup, t->lc->source };
	t->active++;
	if (rec_lc_query(t->lc, REC_SQL_DUPLICATE, 4, p, on_duplicate_written, t) < 0) {
		t->errors++;
		rec_target_op_done(t);
	}
	free(dup);
	rec_row_free(&link);
}

static void on_page_rows(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	struct rec_target *t = cy->t;
	struct rec_page *pg = t->page_cur;
	int n = err ? 0 : PQntuples(res);
	bool *used = n > 0 ? xcalloc((size_t)n, sizeof(bool)) : NULL;
	struct rec_link_key *keys = n > 0 ? xcalloc((size_t)n, sizeof(*keys)) : NULL;
	UNUSED(db);
	for (int j = 0; j < n; j++) {
		keys[j].state = PQgetvalue(res, j, 1);
		keys[j].token = PQgetisnull(res, j, 2) ? NULL : PQgetvalue(res, j, 2);
		keys[j].remote_id = PQgetisnull(res, j, 3) ? NULL : PQgetvalue(res, j, 3);
	}

	t->page_cur = NULL;
	t->active++; /* until every op of the page is started */
	rec_apply_hold(t); /* the page's ledger writes: one statement */
	if (err) {
		rec_cycle_fail(cy, "reading the links of a page", err);
		t->errors++;
		page_pin(t, pg);
	}
	for (size_t i = 0; i < pg->n && !err; i++) {
		const struct conn_remote *r = &pg->items[i];
		size_t hit = 0;
		enum rec_match m = rec_plan_match(r, keys, (size_t)n, used, &hit);
		if (m == REC_MATCH_NONE && r->token)
			log_conn(LOG_LVL_WARN, cy->name, "%s: %s carries closeloop token %s that no link knows",
			         t->target, r->key ? r->key : "?", r->token);
		if (m == REC_MATCH_DUPLICATE)
			duplicate_flag(cy, res, (int)hit, r);
		if (m != REC_MATCH_PULL && m != REC_MATCH_ADOPT)
			continue;
		used[hit] = true;
		struct rec_op *op = rec_op_new(t, m == REC_MATCH_PULL ? REC_OP_PULL : REC_OP_ADOPT_TOKEN);
		if (rec_row_parse(res, (int)hit, &op->row) < 0) {
			rec_cycle_fail(cy, "reading a link", "unreadable row");
			rec_op_discard(op);
			continue;
		}
		rec_remote_copy(&op->remote, r);
		op->has_remote = true;
		rec_op_start(op);
	}
	free(used);
	free(keys);
	page_free(pg);
	rec_apply_release(t);
	rec_target_op_done(t);
}

/* Keep the cursor before every ticket of a page that was not worked. */
static void page_pin(struct rec_target *t, const struct rec_page *pg)
{
	for (size_t i = 0; i < pg->n; i++) {
		int64_t ms = 0;
		if (pg->items[i].updated_at && ts_parse(pg->items[i].updated_at, &ms) == 0)
			rec_target_pin(t, ms);
	}
}

/* Work the queued pages one at a time: one SELECT per page, then its ops. */
static void page_pump(struct rec_cycle *cy)
{
	struct rec_target *t = cy->t;
	bool sent = false;
	while (!t->page_busy && !STAILQ_EMPTY(&t->pages) && !sent)
		sent = page_send(cy);
	if (!t->page_busy && STAILQ_EMPTY(&t->pages) && t->list_done)
		rec_cycle_enter(cy, target_stopped(t) || (t->list_failed && !t->list_moved) ?
		                    CYC_CURSOR_WRITE : CYC_PUSH_SELECT);
}

static bool page_send(struct rec_cycle *cy)
{
	struct rec_target *t = cy->t;
	struct rec_page *pg = STAILQ_FIRST(&t->pages);
	STAILQ_REMOVE_HEAD(&t->pages, link);
	const char **ids = xcalloc(pg->n + 1, sizeof(char *));
	const char **tokens = xcalloc(pg->n + 1, sizeof(char *));
	size_t n_tok = 0;
	for (size_t i = 0; i < pg->n; i++) {
		ids[i] = pg->items[i].remote_id;
		if (pg->items[i].token)
			tokens[n_tok++] = pg->items[i].token;
	}
	char *a_ids = db_text_array(ids, pg->n);
	char *a_tok = db_text_array(tokens, n_tok);
	const char *p[] = { cy->name, a_ids, a_tok };
	t->page_busy = true;
	t->page_cur = pg;
	bool ok = rec_cycle_query(cy, REC_SQL_PAGE, 3, p, on_page_rows);
	free(a_ids);
	free(a_tok);
	free(ids);
	free(tokens);
	if (!ok) {
		page_pin(t, pg);
		page_free(pg);
		t->page_cur = NULL;
		t->page_busy = false;
	}
	return ok;
}

static void on_list(struct connector *c, const struct conn_result *res,
                    const struct conn_page *page, void *arg)
{
	struct rec_cycle *cy = arg;
	struct rec_target *t = cy->t;
	UNUSED(c);
	if (res->status == CONN_NOT_MODIFIED) {
		t->list_not_modified = true;
		t->list_done = true;
	} else if (res->status != CONN_OK || !page) {
		t->list_failed = true;
		t->list_moved = res->status == CONN_MOVED;
		t->list_done = true;
		free(t->list_error);
		/* stored in sync_cursor.last_error: a tracker's text may echo a
		 * token, masked the way the log masks it */
		t->list_error = log_redact(res->error ? res->error : conn_status_name(res->status));
		if (res->status == CONN_RATE_LIMITED) {
			t->stop_rate = true;
			log_conn(LOG_LVL_WARN, cy->name, "%s: listing rate limited; may resume in %lld s",
			         t->target, (long long)(res->retry_after_ms / 1000));
		} else if (res->status == CONN_AUTH) {
			t->stop_auth = true;
			rec_cycle_fail(cy, "listing: credentials refused", t->list_error);
		} else {
			rec_cycle_fail(cy, "listing", t->list_error);
			t->errors++;
		}
	} else {
		if (!t->have_first_page) {
			t->have_first_page = true;
			t->first_etag = xstrdup(page->etag);
		}
		struct rec_page *pg = xcalloc(1, sizeof(*pg));
		pg->items = xcalloc(page->n + 1, sizeof(*pg->items));
		for (size_t i = 0; i < page->n; i++) {
			int64_t ms = 0;
			conn_remote_init(&pg->items[pg->n]);
			rec_remote_copy(&pg->items[pg->n], &page->items[i]);
			pg->n++;
			if (page->items[i].updated_at && ts_parse(page->items[i].updated_at, &ms) == 0 &&
			    (!t->has_max_seen || ms > t->max_seen_ms)) {
				t->max_seen_ms = ms;
				t->has_max_seen = true;
			}
			if (target_stopped(t) || cy->e->view.stopping)
				rec_target_pin(t, ms); /* dropped below: see it again */
		}
		if (target_stopped(t) || cy->e->view.stopping) {
			page_free(pg);
		} else {
			STAILQ_INSERT_TAIL(&t->pages, pg, link);
		}
		if (page->last)
			t->list_done = true;
	}
	page_pump(cy);
}

static void on_cursor(struct db *db, const PGresult *res, const char *err, void *arg);

void rec_pass_cursor(struct rec_cycle *cy)
{
	const char *p[] = { cy->name, cy->t->target };
	rec_cycle_query(cy, REC_SQL_CURSOR, 2, p, on_cursor);
}

static void on_cursor(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	struct rec_target *t = cy->t;
	struct connector *c = cy->rc->conn;
	long long v = 0;
	UNUSED(db);
	if (err || PQntuples(res) != 1) {
		rec_cycle_fail(cy, "reading the cursor", err ? err : "no row");
		rec_cycle_enter(cy, CYC_TARGET_END);
		return;
	}
	t->has_cursor = !PQgetisnull(res, 0, 0);
	t->cursor_ms = t->has_cursor ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	t->cursor_etag = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
	t->cursor_had_error = !PQgetisnull(res, 0, 2) && PQgetvalue(res, 0, 2)[0] == 't';
	v = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	t->n_creating = v;
	t->has_min_intent = !PQgetisnull(res, 0, 4);
	t->min_intent_ms = t->has_min_intent ? strtoll(PQgetvalue(res, 0, 4), NULL, 10) : 0;

	/* a consistent listing needs only its settle margin (connector.h) */
	int64_t overlap = c->list_consistent ? 0 : (int64_t)cy->overlap_s * 1000;
	if (c->list_settle_ms > overlap)
		overlap = c->list_settle_ms; /* the tracker's own settle margin */
	int64_t since = t->has_cursor ? t->cursor_ms - overlap : 0;
	const char *etag = t->cursor_etag;
	if (t->n_creating > 0) {
		/* a recovery listing: back to the oldest intent, unconditional */
		if (t->has_min_intent && t->min_intent_ms - overlap < since)
			since = t->min_intent_ms - overlap;
		etag = NULL;
	}
	if (since < 0)
		since = 0;
	t->list_recovery = t->n_creating > 0;
	t->list_start_ms = ts_now_ms();
	rec_cycle_enter(cy, CYC_LISTING);
	int rc = c->ops->list_changed(c, t->target, since, etag, on_list, cy);
	if (rc < 0) {
		t->list_failed = t->list_done = true;
		t->list_error = xstrdup(strerror(-rc));
		rec_cycle_fail(cy, "listing did not start", t->list_error);
		page_pump(cy);
	}
}

/* ---- push pass ---- */

static void on_push_rows(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	struct rec_target *t = cy->t;
	UNUSED(db);
	if (err) {
		rec_cycle_fail(cy, "push pass", err);
		t->errors++;
		rec_cycle_enter(cy, CYC_CURSOR_WRITE);
		return;
	}
	int n = PQntuples(res);
	cy->now = n ? xcalloc((size_t)n, sizeof(*cy->now)) : NULL;
	t->creates = n ? xcalloc((size_t)n, sizeof(*t->creates)) : NULL;
	for (int i = 0; i < n; i++) {
		struct rec_row row;
		if (rec_row_parse(res, i, &row) < 0) {
			rec_row_free(&row);
			rec_cycle_fail(cy, "push pass", "unreadable row");
			continue;
		}
		enum rec_op_kind kind;
		bool later = false;
		switch (rec_plan_route(row.link_id ? row.link_state : NULL,
		                       row.ref_id ? row.ref_state : NULL)) {
		case REC_ROUTE_PUSH: kind = REC_OP_PUSH; break;
		case REC_ROUTE_RECOVER: kind = REC_OP_RECOVER; break;
		case REC_ROUTE_ADOPT_REF: kind = REC_OP_ADOPT_REF; break;
		case REC_ROUTE_CREATE: kind = REC_OP_CREATE; later = true; break;
		case REC_ROUTE_SKIP:
			rec_row_free(&row);
			continue;
		default:
			abort();
		}
		struct rec_op *op = rec_op_new(t, kind);
		op->row = row;
		if (later)
			t->creates[t->n_creates++] = op;
		else
			cy->now[cy->n_now++] = op;
	}
	rec_cycle_enter(cy, CYC_PUSH_OPS);
}

static struct rec_op *take_create(struct rec_target *t, long long item_id)
{
	for (size_t i = t->create_pos; i < t->create_pos + t->chunk_len; i++) {
		struct rec_op *op = t->creates[i];
		if (op && op->row.item_id == item_id) {
			t->creates[i] = NULL;
			return op;
		}
	}
	return NULL;
}

static void drop_chunk(struct rec_target *t)
{
	for (size_t i = t->create_pos; i < t->create_pos + t->chunk_len; i++) {
		if (t->creates[i])
			rec_op_discard(t->creates[i]);
		t->creates[i] = NULL;
	}
	t->create_pos += t->chunk_len;
	t->chunk_len = 0;
}

static void on_intents(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	struct rec_target *t = cy->t;
	UNUSED(db);
	if (err) {
		rec_cycle_fail(cy, "recording create intents", err);
		t->errors++;
		t->chunk_len = t->n_creates - t->create_pos; /* no creates without intents */
		drop_chunk(t);
		rec_cycle_enter(cy, CYC_CREATES);
		return;
	}
	t->active++;
	for (int i = 0; i < PQntuples(res); i++) {
		long long item = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		struct rec_op *op = take_create(t, item);
		if (!op)
			continue;
		struct json_object *o = json_tokener_parse(PQgetvalue(res, i, 3));
		int rc = item_fields_from_json(&op->row.ledger, o);
		json_object_put(o);
		op->row.link_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		op->row.token = xstrdup(PQgetvalue(res, i, 2));
		op->row.version = strtoll(PQgetvalue(res, i, 4), NULL, 10);
		if (rc < 0) {
			rec_cycle_fail(cy, "recording create intents", "unreadable base");
			rec_op_discard(op);
			continue;
		}
		rec_op_start(op);
	}
	drop_chunk(t); /* items that got a link meanwhile */
	rec_target_op_done(t);
}

void rec_pass_creates(struct rec_cycle *cy)
{
	struct rec_target *t = cy->t;
	if (target_stopped(t) || cy->e->view.stopping || t->create_pos >= t->n_creates) {
		t->chunk_len = t->n_creates - t->create_pos;
		drop_chunk(t);
		rec_cycle_enter(cy, CYC_CURSOR_WRITE);
		return;
	}
	size_t len = t->n_creates - t->create_pos;
	t->chunk_len = len > REC_INTENT_BATCH ? REC_INTENT_BATCH : len;
	if (cy->e->view.dry_run) {
		t->active++;
		for (size_t i = t->create_pos; i < t->create_pos + t->chunk_len; i++) {
			struct rec_op *op = t->creates[i];
			t->creates[i] = NULL;
			rec_op_start(op);
		}
		t->create_pos += t->chunk_len;
		t->chunk_len = 0;
		rec_target_op_done(t);
		return;
	}
	struct buf b = { 0 };
	int rc = buf_append(&b, "{", 1);
	for (size_t i = t->create_pos; rc == 0 && i < t->create_pos + t->chunk_len; i++)
		rc = buf_appendf(&b, "%s%lld", i > t->create_pos ? "," : "", t->creates[i]->row.item_id);
	if (rc == 0)
		rc = buf_append(&b, "}", 1);
	if (rc < 0)
		abort();
	const char *p[] = { cy->name, t->target, b.data };
	rec_cycle_query(cy, REC_SQL_INTENTS, 3, p, on_intents);
	buf_free(&b);
}

/* ---- cursor ---- */

static void on_cursor_written(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	UNUSED(db);
	UNUSED(res);
	if (err)
		rec_cycle_fail(cy, "writing the cursor", err);
	else
		cy->t->ledger_writes++;
	rec_cycle_enter(cy, CYC_TARGET_END);
}

void rec_pass_cursor_write(struct rec_cycle *cy)
{
	struct rec_target *t = cy->t;
	char ms[24];
	if (cy->push_only || cy->e->view.dry_run || target_stopped(t)) {
		rec_cycle_enter(cy, CYC_TARGET_END);
		return;
	}
	if (t->list_failed) {
		const char *p[] = { cy->name, t->target, t->list_error };
		rec_cycle_query(cy, REC_SQL_CURSOR_ERROR, 3, p, on_cursor_written);
		return;
	}
	bool has = t->has_cursor;
	int64_t at = t->cursor_ms;
	if (t->has_max_seen) {
		int64_t cand = t->max_seen_ms;
		if (t->has_min_fail && t->min_fail_ms - 1 < cand)
			cand = t->min_fail_ms - 1;
		if (!has || cand > at) {
			at = cand;
			has = true;
		}
	}
	const char *etag = t->list_not_modified ? t->cursor_etag :
	                   t->has_min_fail ? NULL : t->first_etag;
	if (has == t->has_cursor && at == t->cursor_ms && str_eq(etag, t->cursor_etag) &&
	    !t->cursor_had_error) {
		rec_cycle_enter(cy, CYC_TARGET_END); /* a quiet cycle writes nothing */
		return;
	}
	snprintf(ms, sizeof(ms), "%lld", (long long)at);
	const char *p[] = { cy->name, t->target, has ? ms : NULL, etag };
	rec_cycle_query(cy, REC_SQL_CURSOR_WRITE, 4, p, on_cursor_written);
}

void rec_pass_target_end(struct rec_cycle *cy)
{
	struct rec_target *t = cy->t;
	struct rec_stats *s = &cy->e->stats;
	uint64_t ms = (uv_hrtime() - t->t0_ns) / 1000000u;
	bool busy = t->pulled || t->pushed_fields || t->created || t->adopted || t->conflicts ||
	            t->errors || t->broken;
	if (!cy->push_only || busy)
		log_conn(LOG_LVL_INFO, cy->name,
		         "%s: pulled %llu, pushed %llu fields, created %llu, adopted %llu, conflicts %llu, errors %d (%llu ms)",
		         t->target, (unsigned long long)t->pulled, (unsigned long long)t->pushed_fields,
		         (unsigned long long)t->created, (unsigned long long)t->adopted,
		         (unsigned long long)t->conflicts, t->errors, (unsigned long long)ms);
	s->pulled += t->pulled;
	s->pushed_fields += t->pushed_fields;
	s->created += t->created;
	s->adopted += t->adopted;
	s->conflicts += t->conflicts;
	s->ledger_writes += t->ledger_writes;
	s->link_errors += t->link_errors;
	s->broken_links += t->broken;
	s->refused_fields += t->refused;
	s->refused_creates += t->refused_creates;
	cy->pulled += t->pulled;
	cy->errors += t->errors;
	if (t->stop_auth)
		cy->stop_conn = true;
	target_free(t);
	cy->t = NULL;
}

/* The ops of the current stage are all done (rec_target.drained). */
void rec_pass_drained(struct rec_target *t)
{
	struct rec_cycle *cy = t->cy;
	switch (cy->state) {
	case CYC_LISTING:
		cy->t->page_busy = false;
		page_pump(cy);
		break;
	case CYC_PUSH_OPS:
		rec_cycle_enter(cy, CYC_CREATES);
		break;
	case CYC_CREATES:
		rec_cycle_enter(cy, CYC_CREATES);
		break;
	default:
		log_error("reconcile: ops drained in cycle state %d", (int)cy->state);
		abort();
	}
}

static const char **push_params(struct rec_cycle *cy, const char *p[6])
{
	p[0] = cy->name;
	p[1] = cy->t->target;
	p[2] = cy->def_conn;
	p[3] = cy->def_target;
	p[4] = cy->type;
	p[5] = cy->push_only ? "false" : "true";
	return p;
}

/* Nothing to push (a quiet cycle): done with one cheap statement; else the
 * full selection with the rows. */
static void on_push_probe(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	const char *p[6];
	if (err || PQntuples(res) == 0) {
		on_push_rows(db, res, err, arg);
		return;
	}
	rec_cycle_query(cy, REC_SQL_PUSH, 6, push_params(cy, p), on_push_rows);
}

void rec_pass_push_select(struct rec_cycle *cy)
{
	const char *p[6];
	struct rec_target *t = cy->t;
	if (target_stopped(t) || cy->e->view.stopping) {
		rec_cycle_enter(cy, CYC_CURSOR_WRITE);
		return;
	}
	rec_cycle_query(cy, REC_SQL_PUSH_PROBE, 6, push_params(cy, p), on_push_probe);
}

void rec_pass_push_ops(struct rec_cycle *cy)
{
	struct rec_target *t = cy->t;
	t->active++;
	for (size_t i = 0; i < cy->n_now; i++)
		rec_op_start(cy->now[i]);
	free(cy->now);
	cy->now = NULL;
	cy->n_now = 0;
	rec_target_op_done(t);
}

