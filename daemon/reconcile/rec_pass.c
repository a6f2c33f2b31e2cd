/* rec_pass.c — one (connector, target) pass of a reconcile cycle: the
 * listing page by page (one SELECT per page), the push pass (one SELECT),
 * the creates (one INSERT of intents per batch of 100, committed before
 * any POST), the cursor (written only when it changed) and the summary
 * line.  The pass is its own state machine (enum rec_pass_state, changed
 * only by pass_enter).  reconcile.c starts a pass (rec_pass_new,
 * rec_pass_start) and hears of its end through rec_target.ended; the
 * pass reaches the ledger only through its struct rec_link_ctx, and calls
 * down into the per-link work (rec_link.c) and the planner (plan.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "log.h"
#include "pace.h"
#include "rec_link.h"

#define REC_INTENT_BATCH 100
/* A create intent is recorded only for a create the connector's budgets
 * let go within this long (connectors/pace.h pace_create_room): a create
 * queued behind the hour's budget would stay 'creating' unsent, and each
 * later cycle would have to recover it (listing back to its intent, token
 * search) as if its answer had been lost.  Well below the time a
 * connector keeps a create waiting for its budget before handing it back
 * unsent (GitHub: 5 min). */
#define REC_CREATE_AHEAD_MS 60000


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
	free(t->disc_team);
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
	free(t->list_etag);
	free(t->list_error);
	free(t->renamed_to);
	rec_board_free(t->board);
	free(t);
}

static bool target_stopped(const struct rec_target *t)
{
	return t->stop_rate || t->stop_auth;
}

static bool pass_stopping(const struct rec_target *t)
{
	return t->lc->view->stopping;
}

static void pass_enter(struct rec_target *t, enum rec_pass_state next);

/* Log a failure of the pass; counted as an error of its cycle. */
static void pass_fail(struct rec_target *t, const char *what, const char *err)
{
	log_conn(LOG_LVL_ERROR, t->lc->name, "%s: %s: %s", t->target, what, err ? err : "failed");
	t->fails++;
}

/* Queue a statement with t as arg, on the session holding the connector's
 * lock.  If the database is closing or that session is gone, the pass
 * ends, except while a listing runs: its caller drops the page and the
 * listing ends on its own.  Returns false then. */
static bool pass_query(struct rec_target *t, const char *sql, int n, const char *const *p,
                       db_result_cb cb)
{
	if (rec_lc_query(t->lc, sql, n, p, cb, t) == 0)
		return true;
	pass_fail(t, "ledger", "database closing or reconnected (connector lock to be taken again)");
	if (t->state != REC_PASS_LISTING)
		pass_enter(t, REC_PASS_END);
	return false;
}


/* ---- listing ---- */

static void page_pump(struct rec_target *t);
static bool page_send(struct rec_target *t);
static bool rename_send(struct rec_target *t);
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
static void duplicate_flag(struct rec_target *t, const PGresult *res, int row,
                           const struct conn_remote *r)
{
	struct rec_row link;
	if (rec_row_parse(res, row, &link) < 0) {
		rec_row_free(&link);
		return;
	}
	log_conn(LOG_LVL_ERROR, t->lc->name, "%s: %s is a duplicate of %s (item %lld): it carries the "
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
	struct rec_target *t = arg;
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
		pass_fail(t, "reading the links of a page", err);
		t->errors++;
		page_pin(t, pg);
	}
	struct rec_disc *disc = err ? NULL : rec_disc_new(t);
	for (size_t i = 0; i < pg->n && !err; i++) {
		const struct conn_remote *r = &pg->items[i];
		size_t hit = 0;
		enum rec_match m = rec_plan_match(r, keys, (size_t)n, used, &hit);
		int dc = REC_SQL_PAGE_DISCOVER_COL;
		bool found = m == REC_MATCH_PULL && PQnfields(res) > dc;
		rec_disc_note(disc, r, m, found && !PQgetisnull(res, (int)hit, dc),
		              found && strcmp(PQgetvalue(res, (int)hit, dc), "left") == 0);
		if (m == REC_MATCH_NONE && r->token)
			log_conn(LOG_LVL_WARN, t->lc->name, "%s: %s carries closeloop token %s that no link knows",
			         t->target, r->key ? r->key : "?", r->token);
		if (m == REC_MATCH_DUPLICATE)
			duplicate_flag(t, res, (int)hit, r);
		if (m != REC_MATCH_PULL && m != REC_MATCH_ADOPT)
			continue;
		used[hit] = true;
		struct rec_op *op = rec_op_new(t, m == REC_MATCH_PULL ? REC_OP_PULL : REC_OP_ADOPT_TOKEN);
		if (rec_row_parse(res, (int)hit, &op->row) < 0) {
			pass_fail(t, "reading a link", "unreadable row");
			rec_op_discard(op);
			continue;
		}
		rec_remote_copy(&op->remote, r);
		op->has_remote = true;
		rec_op_start(op);
	}
	if (disc)
		rec_disc_send(disc, t->disc_team);
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
static void page_pump(struct rec_target *t)
{
	bool sent = false;
	if (!t->page_busy && t->rename_pending)
		sent = rename_send(t);
	while (!t->page_busy && !STAILQ_EMPTY(&t->pages) && !sent)
		sent = page_send(t);
	if (!t->page_busy && STAILQ_EMPTY(&t->pages) && t->list_done)
		pass_enter(t, target_stopped(t) || (t->list_failed && !t->list_moved) ?
		              REC_PASS_CURSOR_WRITE : REC_PASS_PUSH_SELECT);
}

static bool page_send(struct rec_target *t)
{
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
	const char *p[] = { t->lc->name, a_ids, a_tok };
	t->page_busy = true;
	t->page_cur = pg;
	bool ok = pass_query(t, REC_SQL_PAGE, 3, p, on_page_rows);
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

static void on_list_renamed(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_target *t = arg;
	UNUSED(db);
	if (rec_renamed_log(t->lc, t->target, t->renamed_to, res, err))
		t->ledger_writes++;
	else
		t->errors++;
	t->page_busy = false;
	page_pump(t);
}

/* The listing followed the target's new name (a renamed repository,
 * conn_result.moved_to): before its first page is read, every link of the
 * target is re-pointed there and the operator is told to update the
 * routing (page_pump sends it as it sends a page).  The tickets are then
 * pulled as usual: matched by id and token, whatever name they are listed
 * under. */
static void list_renamed(struct rec_target *t, const char *moved_to)
{
	if (t->renamed_to || strcasecmp(moved_to, t->target) == 0)
		return;
	t->renamed_to = xstrdup(moved_to);
	t->rename_pending = true;
}

static bool rename_send(struct rec_target *t)
{
	const char *p[] = { t->lc->name, t->target, t->renamed_to };
	t->rename_pending = false;
	t->page_busy = true;
	if (pass_query(t, REC_SQL_REPO_RENAMED, 3, p, on_list_renamed))
		return true;
	t->page_busy = false;
	return false;
}

static void on_list(struct connector *c, const struct conn_result *res,
                    const struct conn_page *page, void *arg)
{
	struct rec_target *t = arg;
	UNUSED(c);
	if (res->moved_to)
		list_renamed(t, res->moved_to);
	if (page && page->last && page->board &&
	    (res->status == CONN_OK || res->status == CONN_NOT_MODIFIED))
		rec_board_keep(t, page->board); /* stored before the cursor (rec_board.c) */
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
			log_conn(LOG_LVL_WARN, t->lc->name, "%s: listing rate limited; may resume in %lld s",
			         t->target, (long long)(res->retry_after_ms / 1000));
		} else if (res->status == CONN_AUTH) {
			t->stop_auth = true;
			pass_fail(t, "listing: credentials refused", t->list_error);
		} else {
			pass_fail(t, "listing", t->list_error);
			t->errors++;
		}
	} else {
		if (page->last) { /* the listing's validator (connector.h, conn_page.etag) */
			free(t->list_etag);
			t->list_etag = xstrdup(page->etag);
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
			if (target_stopped(t) || pass_stopping(t))
				rec_target_pin(t, ms); /* dropped below: see it again */
		}
		if (target_stopped(t) || pass_stopping(t)) {
			page_free(pg);
		} else {
			STAILQ_INSERT_TAIL(&t->pages, pg, link);
		}
		if (page->last)
			t->list_done = true;
	}
	page_pump(t);
}

static void on_cursor(struct db *db, const PGresult *res, const char *err, void *arg);
static void pass_list(struct rec_target *t, bool ok);

static void pass_cursor(struct rec_target *t)
{
	const char *p[] = { t->lc->name, t->target };
	pass_query(t, REC_SQL_CURSOR, 2, p, on_cursor);
}

static void on_cursor(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_target *t = arg;
	long long v = 0;
	UNUSED(db);
	if (err || PQntuples(res) != 1) {
		pass_fail(t, "reading the cursor", err ? err : "no row");
		pass_enter(t, REC_PASS_END);
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
	t->board_stored = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	if (t->pp->links_only && t->n_creating == 0) {
		/* a target no longer configured (reconcile.c on_stranded) is
		 * listed only to find its lost creates: its links' pushes go
		 * out without (one answered from a renamed repository's new
		 * name re-points them) */
		pass_enter(t, REC_PASS_PUSH_SELECT);
		return;
	}
	/* the connector's copy of the rule's board, when it is not the ledger's */
	if (!rec_board_load(t, pass_list))
		pass_list(t, true);
}

/* The listing, from the cursor read (ok false: the ledger is gone). */
static void pass_list(struct rec_target *t, bool ok)
{
	struct connector *c = t->lc->conn;
	if (!ok) {
		pass_fail(t, "discovery board", "not read from the ledger; the listing waits for the "
		          "next cycle");
		pass_enter(t, REC_PASS_END);
		return;
	}
	/* a consistent listing needs only its settle margin (connector.h) */
	int64_t overlap = c->list_consistent ? 0 : (int64_t)t->pp->overlap_s * 1000;
	if (c->list_settle_ms > overlap)
		overlap = c->list_settle_ms; /* the tracker's own settle margin */
	int64_t since = t->has_cursor ? t->cursor_ms - overlap : 0;
	/* a target no longer configured keeps no cursor (cursor_write) and is
	 * listed only for its intents: from the oldest, not from the start */
	if (t->pp->links_only)
		since = t->has_min_intent ? t->min_intent_ms - overlap : 0;
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
	pass_enter(t, REC_PASS_LISTING);
	int rc = c->ops->list_changed(c, t->target, since, etag, on_list, t);
	if (rc < 0) {
		t->list_failed = t->list_done = true;
		t->list_error = xstrdup(strerror(-rc));
		pass_fail(t, "listing did not start", t->list_error);
		page_pump(t);
	}
}

/* ---- push pass ---- */

static void on_push_rows(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_target *t = arg;
	UNUSED(db);
	if (err) {
		pass_fail(t, "push pass", err);
		t->errors++;
		pass_enter(t, REC_PASS_CURSOR_WRITE);
		return;
	}
	int n = PQntuples(res);
	t->now = n ? xcalloc((size_t)n, sizeof(*t->now)) : NULL;
	t->creates = n ? xcalloc((size_t)n, sizeof(*t->creates)) : NULL;
	for (int i = 0; i < n; i++) {
		struct rec_row row;
		if (rec_row_parse(res, i, &row) < 0) {
			rec_row_free(&row);
			pass_fail(t, "push pass", "unreadable row");
			continue;
		}
		enum rec_op_kind kind;
		bool later = false;
		enum rec_route route = rec_plan_route(row.link_id ? row.link_state : NULL,
		                                      row.ref_id ? row.ref_state : NULL);
		/* a target no longer configured (reconcile.c on_stranded): its
		 * links' pushes and lost creates' recovery only, nothing created
		 * or adopted there */
		if (t->pp->links_only && route != REC_ROUTE_PUSH && route != REC_ROUTE_RECOVER)
			route = REC_ROUTE_SKIP;
		switch (route) {
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
			t->now[t->n_now++] = op;
	}
	pass_enter(t, REC_PASS_PUSH_OPS);
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
	struct rec_target *t = arg;
	UNUSED(db);
	if (err) {
		pass_fail(t, "recording create intents", err);
		t->errors++;
		t->chunk_len = t->n_creates - t->create_pos; /* no creates without intents */
		drop_chunk(t);
		pass_enter(t, REC_PASS_CREATES);
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
			pass_fail(t, "recording create intents", "unreadable base");
			rec_op_discard(op);
			continue;
		}
		rec_op_start(op);
	}
	drop_chunk(t); /* items that got a link meanwhile */
	rec_target_op_done(t);
}

static void pass_creates(struct rec_target *t)
{
	if (target_stopped(t) || pass_stopping(t) || t->create_pos >= t->n_creates) {
		t->chunk_len = t->n_creates - t->create_pos;
		drop_chunk(t);
		pass_enter(t, REC_PASS_CURSOR_WRITE);
		return;
	}
	size_t len = t->n_creates - t->create_pos;
	t->chunk_len = len > REC_INTENT_BATCH ? REC_INTENT_BATCH : len;
	if (t->lc->view->dry_run) {
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
	const struct pace *pc = t->lc->conn->pace;
	if (pc) {
		int room = pace_create_room(pc, REC_CREATE_AHEAD_MS, (int)t->chunk_len);
		if (room <= 0) {
			/* no intent for a create that cannot go soon: the items stay
			 * without a link, and a later cycle creates them */
			log_conn(LOG_LVL_DEBUG, t->lc->name, "%s: %zu creates wait for the creation budget "
			         "(room again in %lld s)", t->target, len,
			         (long long)(pace_create_wait(pc) / 1000));
			t->creates_deferred += len;
			t->chunk_len = len;
			drop_chunk(t);
			pass_enter(t, REC_PASS_CURSOR_WRITE);
			return;
		}
		t->chunk_len = (size_t)room;
	}
	struct buf b = { 0 };
	int rc = buf_append(&b, "{", 1);
	for (size_t i = t->create_pos; rc == 0 && i < t->create_pos + t->chunk_len; i++)
		rc = buf_appendf(&b, "%s%lld", i > t->create_pos ? "," : "", t->creates[i]->row.item_id);
	if (rc == 0)
		rc = buf_append(&b, "}", 1);
	if (rc < 0)
		abort();
	/* the listing re-pointed the target's links to its new name
	 * (list_renamed) before these links exist: they name it too, or one
	 * whose create's outcome stays unknown (a time-out) would be left
	 * under the old name, which the routing the operator is told to
	 * update never visits again */
	const char *p[] = { t->lc->name, t->renamed_to ? t->renamed_to : t->target, b.data };
	pass_query(t, REC_SQL_INTENTS, 3, p, on_intents);
	buf_free(&b);
}

/* ---- cursor ---- */

static void on_cursor_written(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_target *t = arg;
	UNUSED(db);
	UNUSED(res);
	if (err)
		pass_fail(t, "writing the cursor", err);
	else
		t->ledger_writes++;
	pass_enter(t, REC_PASS_END);
}

static void cursor_write(struct rec_target *t, bool ok);

/* The board the listing read goes first (rec_board.c): stored when the
 * listing went through and the pass was not stopped (a ticket whose work
 * failed pinned the cursor: the next listing shows it again, judged by
 * the board stored here), else the connector forgets its copy. */
static void pass_cursor_write(struct rec_target *t)
{
	bool store = !t->pp->push_only && !t->pp->links_only && !t->lc->view->dry_run &&
	             !target_stopped(t) && !pass_stopping(t) && !t->list_failed;
	if (!rec_board_save(t, store, cursor_write))
		cursor_write(t, true);
}

static void cursor_write(struct rec_target *t, bool ok)
{
	char ms[24];
	UNUSED(ok); /* a board not stored is logged and read again: the cursor goes on */
	/* nor does a target no longer configured (links_only) write one: the
	 * routing may name it again, and its first pass then lists it whole,
	 * for the discovery this pass did not do (seed 1123 of the soak on
	 * 6f71adb: a ticket raised before its repository's rename, never
	 * adopted, the new name's cursor written by such a pass) */
	if (t->pp->push_only || t->pp->links_only || t->lc->view->dry_run || target_stopped(t)) {
		pass_enter(t, REC_PASS_END);
		return;
	}
	if (t->list_failed) {
		const char *p[] = { t->lc->name, t->target, t->list_error };
		pass_query(t, REC_SQL_CURSOR_ERROR, 3, p, on_cursor_written);
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
	                   t->has_min_fail ? NULL : t->list_etag;
	if (has == t->has_cursor && at == t->cursor_ms && str_eq(etag, t->cursor_etag) &&
	    !t->cursor_had_error) {
		pass_enter(t, REC_PASS_END); /* a quiet cycle writes nothing */
		return;
	}
	snprintf(ms, sizeof(ms), "%lld", (long long)at);
	const char *p[] = { t->lc->name, t->target, has ? ms : NULL, etag };
	pass_query(t, REC_SQL_CURSOR_WRITE, 4, p, on_cursor_written);
}

/* The summary line; then the cycle takes the pass's figures and frees it
 * (rec_target.ended): t is gone when this returns. */
static void pass_end(struct rec_target *t)
{
	uint64_t ms = (uv_hrtime() - t->t0_ns) / 1000000u;
	bool busy = t->pulled || t->pushed_fields || t->created || t->adopted || t->conflicts ||
	            t->errors || t->broken || t->discovered;
	if (!t->pp->push_only || busy)
		log_conn(LOG_LVL_INFO, t->lc->name,
		         "%s: pulled %llu, pushed %llu fields, created %llu, adopted %llu, discovered %llu, "
		         "conflicts %llu, errors %d (%llu ms)",
		         t->target, (unsigned long long)t->pulled, (unsigned long long)t->pushed_fields,
		         (unsigned long long)t->created, (unsigned long long)t->adopted,
		         (unsigned long long)t->discovered, (unsigned long long)t->conflicts, t->errors,
		         (unsigned long long)ms);
	t->ended(t);
}

/* The ops of the current stage are all done (rec_target.drained). */
static void pass_drained(struct rec_target *t)
{
	switch (t->state) {
	case REC_PASS_LISTING:
		t->page_busy = false;
		page_pump(t);
		break;
	case REC_PASS_PUSH_OPS:
	case REC_PASS_CREATES:
		pass_enter(t, REC_PASS_CREATES);
		break;
	default:
		log_error("reconcile: ops drained in pass state %d", (int)t->state);
		abort();
	}
}

static const char **push_params(const struct rec_target *t, const char *p[10])
{
	const struct rec_pass_params *pp = t->pp;
	p[0] = t->lc->name;
	p[1] = t->target;
	p[2] = t->pp->def_conn;
	p[3] = t->pp->def_target;
	p[4] = t->pp->type;
	p[5] = t->pp->push_only ? "false" : "true";
	p[6] = pp->ref_table;
	p[7] = pp->ref_host;
	p[8] = pp->ref_only ? "true" : "false";
	p[9] = pp->ref_table && pp->ref_home && strcmp(pp->ref_home, t->target) == 0 ? "true" :
	       "false";
	return p;
}

/* Nothing to push (a quiet cycle): done with one cheap statement; else the
 * full selection with the rows. */
static void on_push_probe(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_target *t = arg;
	const char *p[10];
	if (err || PQntuples(res) == 0) {
		on_push_rows(db, res, err, arg);
		return;
	}
	pass_query(t, REC_SQL_PUSH, 10, push_params(t, p), on_push_rows);
}

static void pass_push_select(struct rec_target *t)
{
	const char *p[10];
	if (target_stopped(t) || pass_stopping(t)) {
		pass_enter(t, REC_PASS_CURSOR_WRITE);
		return;
	}
	pass_query(t, REC_SQL_PUSH_PROBE, 10, push_params(t, p), on_push_probe);
}

static void pass_push_ops(struct rec_target *t)
{
	t->active++;
	rec_apply_hold(t); /* what their updates send: one statement (rec_send_write) */
	for (size_t i = 0; i < t->n_now; i++)
		rec_op_start(t->now[i]);
	rec_apply_release(t);
	free(t->now);
	t->now = NULL;
	t->n_now = 0;
	rec_target_op_done(t);
}

/* ---- the pass's state machine ---- */

static const char *pass_state_name(enum rec_pass_state s)
{
	static const char *const names[] = {
		"new", "cursor", "listing", "push_select", "push_ops", "creates", "cursor_write", "end",
	};
	if ((unsigned)s >= ARRAY_SIZE(names))
		abort();
	return names[s];
}

/* The one function that changes a pass's state; runs the new state's
 * entry action. */
static void pass_enter(struct rec_target *t, enum rec_pass_state next)
{
	log_debug("[%s] %s: pass %s -> %s", t->lc->name, t->target, pass_state_name(t->state),
	          pass_state_name(next));
	t->state = next;
	switch (next) {
	case REC_PASS_CURSOR:
		pass_cursor(t);
		break;
	case REC_PASS_LISTING:
		break; /* on_cursor starts the listing; pages drive it */
	case REC_PASS_PUSH_SELECT:
		pass_push_select(t);
		break;
	case REC_PASS_PUSH_OPS:
		pass_push_ops(t);
		break;
	case REC_PASS_CREATES:
		pass_creates(t);
		break;
	case REC_PASS_CURSOR_WRITE:
		pass_cursor_write(t);
		break;
	case REC_PASS_END:
		pass_end(t);
		break;
	case REC_PASS_NEW:
	default:
		abort();
	}
}

struct rec_target *rec_pass_new(const struct rec_link_ctx *lc, const struct rec_pass_params *pp,
                                const char *target, void (*ended)(struct rec_target *t))
{
	struct rec_target *t = xcalloc(1, sizeof(*t));
	STAILQ_INIT(&t->wait);
	STAILQ_INIT(&t->pages);
	t->lc = lc;
	t->pp = pp;
	t->drained = pass_drained;
	t->ended = ended;
	t->target = xstrdup(target);
	t->t0_ns = uv_hrtime();
	t->state = REC_PASS_NEW;
	return t;
}

void rec_pass_start(struct rec_target *t)
{
	pass_enter(t, t->pp->push_only ? REC_PASS_PUSH_SELECT : REC_PASS_CURSOR);
}

void rec_pass_free(struct rec_target *t)
{
	target_free(t);
}
