/* rec_board.c — the board of a discovery rule kept in the ledger
 * (connectors/connector.h struct conn_board, sql/044_discover_board.sql,
 * docs/architecture.md "Discovery").
 *
 * A rule whose tickets are the items of a board (GitHub Projects v2)
 * cannot be judged from the ticket listing: the connector keeps a copy of
 * the board, probes it each listing and pages it only when the probe
 * differs from the copy.  This file keeps that copy in the ledger so that
 * it outlives the process:
 *
 *   - before the listing (rec_board_load): when the connector's copy is
 *     not the ledger's version (conn_ops.board_version, against the
 *     discover_board.version the cursor statement read), one statement
 *     reads the stored board and board_set gives it to the connector --
 *     after a start, or after another daemon held the connector's lock; a
 *     running daemon's quiet cycle sends nothing more;
 *   - from the listing's last page (rec_board_keep): the board it read in
 *     full, which the listing delivered the changes of;
 *   - before the cursor write (rec_board_save): one statement stores it
 *     (closeloop_discover_board_save, on the session holding the
 *     connector's lock) and board_set gives the connector the new version;
 *     a pass that may not store it (dry run, listing failed or stopped)
 *     makes the connector forget its copy instead, so the next listing
 *     reads the board against what the ledger holds.
 *
 * Calls go down only: rec_pass.c -> rec_board.c -> rec_sql.c and the
 * connector.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rec_link.h"

/* A deep copy of a struct conn_board (rec_target.board). */
struct rec_board {
	struct conn_board b;
	char *rule;
	struct conn_board_member *m;
	char **strs;      /* the members' ids, owned */
	size_t n_strs;
	void (*next)(struct rec_target *t, bool ok);
	struct rec_target *t;
};

static char *board_str(struct rec_board *rb, const char *s)
{
	if (!s)
		return NULL;
	rb->strs[rb->n_strs] = xstrdup(s);
	return rb->strs[rb->n_strs++];
}

static struct rec_board *board_alloc(size_t n_members)
{
	struct rec_board *rb = xcalloc(1, sizeof(*rb));
	rb->m = xcalloc(n_members + 1, sizeof(*rb->m));
	rb->strs = xcalloc(2 * n_members + 1, sizeof(*rb->strs));
	return rb;
}

void rec_board_free(struct rec_board *rb)
{
	if (!rb)
		return;
	for (size_t i = 0; i < rb->n_strs; i++)
		free(rb->strs[i]);
	free(rb->strs);
	free(rb->m);
	free(rb->rule);
	free(rb);
}

void rec_board_keep(struct rec_target *t, const struct conn_board *b)
{
	rec_board_free(t->board);
	struct rec_board *rb = board_alloc(b->n_members);
	rb->b = *b;
	rb->rule = xstrdup(b->rule ? b->rule : "");
	rb->b.rule = rb->rule;
	for (size_t i = 0; i < b->n_members; i++) {
		rb->m[i].remote_id = board_str(rb, b->members[i].remote_id);
		rb->m[i].node_id = board_str(rb, b->members[i].node_id);
	}
	rb->b.members = rb->m;
	t->board = rb;
}

/* ---- before the listing ---- */

static void on_board_read(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_board *rb = arg;
	struct rec_target *t = rb->t;
	struct connector *c = t->lc->conn;
	void (*next)(struct rec_target *t, bool ok) = rb->next;
	UNUSED(db);
	int n = err ? 0 : PQntuples(res);
	if (err) {
		log_conn(LOG_LVL_ERROR, t->lc->name, "%s: reading the discovery board: %s", t->target,
		         err);
		rec_board_free(rb);
		next(t, false);
		return;
	}
	if (n == 0) {
		/* deleted since the cursor was read: the board is read whole */
		c->ops->board_set(c, t->target, NULL);
		rec_board_free(rb);
		next(t, true);
		return;
	}
	struct rec_board *got = board_alloc((size_t)n);
	got->rule = xstrdup(PQgetvalue(res, 0, 0));
	got->b.rule = got->rule;
	got->b.updated_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	got->b.item_count = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	got->b.read_ms = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	got->b.version = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	for (int r = 0; r < n; r++) {
		if (PQgetisnull(res, r, 5))
			continue; /* a board without members: one row, no member */
		struct conn_board_member *m = &got->m[got->b.n_members++];
		m->remote_id = board_str(got, PQgetvalue(res, r, 5));
		m->node_id = PQgetisnull(res, r, 6) ? NULL : board_str(got, PQgetvalue(res, r, 6));
	}
	got->b.members = got->m;
	c->ops->board_set(c, t->target, &got->b);
	log_conn(LOG_LVL_DEBUG, t->lc->name, "%s: discovery board version %lld read from the "
	         "ledger: %zu members", t->target, (long long)got->b.version, got->b.n_members);
	rec_board_free(got);
	rec_board_free(rb);
	next(t, true);
}

bool rec_board_load(struct rec_target *t, void (*next)(struct rec_target *t, bool ok))
{
	struct connector *c = t->lc->conn;
	if (!c->ops->board_version || !c->ops->board_set)
		return false;
	int64_t have = c->ops->board_version(c, t->target);
	if (have < 0 || have == t->board_stored)
		return false; /* no board rule, or the copy is the ledger's */
	if (t->board_stored == 0) {
		c->ops->board_set(c, t->target, NULL); /* the ledger holds none */
		return false;
	}
	struct rec_board *rb = xcalloc(1, sizeof(*rb));
	rb->t = t;
	rb->next = next;
	const char *p[] = { t->lc->name, t->target };
	if (rec_lc_query(t->lc, REC_SQL_BOARD_READ, 2, p, on_board_read, rb) < 0) {
		free(rb);
		next(t, false);
	}
	return true;
}

/* ---- before the cursor write ---- */

static void on_board_saved(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_target *t = arg;
	struct connector *c = t->lc->conn;
	struct rec_board *rb = t->board;
	void (*next)(struct rec_target *t, bool ok) = rb->next;
	UNUSED(db);
	t->board = NULL;
	if (err || PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		log_conn(LOG_LVL_ERROR, t->lc->name, "%s: storing the discovery board: %s (the next "
		         "listing reads the board again)", t->target, err ? err : "no version");
		t->errors++;
		c->ops->board_set(c, t->target, NULL);
	} else {
		rb->b.version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		c->ops->board_set(c, t->target, &rb->b);
		t->ledger_writes++;
	}
	rec_board_free(rb);
	next(t, !err);
}

bool rec_board_save(struct rec_target *t, bool store, void (*next)(struct rec_target *t, bool ok))
{
	struct connector *c = t->lc->conn;
	struct rec_board *rb = t->board;
	if (!rb)
		return false;
	if (!store) {
		/* the ledger keeps what it had: the connector too, at the next
		 * listing (a copy of its own would hide what this pass did not
		 * finish) */
		c->ops->board_set(c, t->target, NULL);
		rec_board_free(rb);
		t->board = NULL;
		return false;
	}
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < rb->b.n_members; i++) {
		struct json_object *m = json_object_new_array();
		json_object_array_add(m, json_object_new_string(rb->m[i].remote_id));
		json_object_array_add(m, rb->m[i].node_id ? json_object_new_string(rb->m[i].node_id) :
		                         NULL);
		json_object_array_add(a, m);
	}
	char upd[24], count[24], read[24];
	snprintf(upd, sizeof(upd), "%lld", (long long)rb->b.updated_ms);
	snprintf(count, sizeof(count), "%lld", (long long)rb->b.item_count);
	snprintf(read, sizeof(read), "%lld", (long long)rb->b.read_ms);
	const char *p[] = { t->lc->name, t->target, rb->rule, upd, count, read,
	                    json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN) };
	rb->next = next;
	int rc = rec_lc_query(t->lc, REC_SQL_BOARD_SAVE, 7, p, on_board_saved, t);
	json_object_put(a);
	if (rc < 0) {
		log_conn(LOG_LVL_ERROR, t->lc->name, "%s: storing the discovery board: database "
		         "closing or reconnected", t->target);
		c->ops->board_set(c, t->target, NULL);
		rec_board_free(rb);
		t->board = NULL;
		next(t, false);
	}
	return true;
}
