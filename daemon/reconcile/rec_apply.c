/* rec_apply.c — the merge writes of a page, or of a pass's pushes, in one
 * statement (see rec_link.h "The merge write").
 *
 * A pulled change used to cost a statement of its own (closeloop_rec_apply,
 * ~0.5 ms of PostgreSQL each); the ops a page starts reach their write in
 * the same turn of the loop, so the page holds the target while it starts
 * them, their writes queue here, and the release sends them as one
 * REC_SQL_APPLY_BATCH.
 *
 * A pushed change did too (1.21 statements a change in `make bench`): its
 * write follows the tracker's answer to its update, and the connector's
 * paced queue lets the updates out one at a time, so they answer in
 * different turns.  Such a write waits in the batch while another tracker
 * call of the target is out (t->calls_out), since that call's op may add
 * its own; the answer that leaves none out sends the batch.  Waiting is
 * bounded (REC_APPLY_WAIT_MS), and it is safe for the crash rules: the
 * write records what the tracker already holds (the base, the version
 * pushed, the ticket's updated-at and etag), and a daemon that dies before
 * it has lost no edit of either side -- the update's values and its
 * conflicts were committed before the tracker write (rec_link.c
 * op_before_update: external_link.unconfirmed), so the next cycle reads
 * the ticket holding them as closeloop's own write, pushes a ledger edit
 * made since, or finds the item past its synced_version and the ticket
 * equal to the ledger and writes that base then (a refusal noted with the
 * write is met again at the next push).  Create
 * intents are not written here (rec_create.c) and keep their rules.
 *
 * The statement returns one row per write, in order, with what
 * closeloop_rec_apply returned (each row version-checked on its own); if
 * it fails as a whole (one row's bad value aborts the statement), every
 * write is sent again alone, so each row's failure lands on its own item.
 * A batch of one is sent as the single write (closeloop_rec_apply), as is
 * the write of an op that neither a hold nor a call covers.  Either way
 * the outcome goes to the op's applied callback (set by its caller,
 * rec_link.c): this file calls down into the op core only.
 */
#include "rec_link.h"

#include <stdlib.h>
#include <string.h>

#define REC_APPLY_BATCH 100
/* The longest a write waits in the batch for others to join it, checked
 * whenever a write joins or a tracker answer of the target was worked (so
 * it is exceeded by at most the gap to the next answer).  At GitHub's pace
 * (an update a second) about five pushes share a statement; a crash loses
 * at most these seconds of ledger writes, which the next cycle re-derives
 * (above). */
#define REC_APPLY_WAIT_MS 5000

struct rec_apply_batch {
	struct rec_target *t;
	size_t n;
	int64_t first_ms;           /* when its first write joined (ts_now_ms) */
	struct rec_op *ops[REC_APPLY_BATCH];
	struct json_object *arr;    /* one object per op, the arguments by name */
};

/* closeloop_rec_apply's arguments by name, in order ($2 is the source). */
static const char *const arg_names[REC_APPLY_NARGS] = {
	"link", "version", "pull", "base", "remote_id", "remote_key", "url",
	"remote_updated_at", "etag", "remote_extra", NULL, "conflicts", "connector", "refused",
	"target",
};

static void op_on_apply(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	UNUSED(db);
	op->applied(op, err, !err && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0));
}

static void apply_args_init(struct rec_apply_args *a, const struct rec_op *op)
{
	const struct rec_link_ctx *lc = op->t->lc;
	const struct conn_remote *r = op->has_remote ? &op->remote : NULL;
	a->pull = rec_fields_json(&op->mr.merged, op->mr.pull_mask);
	struct item_fields base;
	rec_op_base_as_held(op, &op->mr.merged, &base);
	a->base = rec_fields_json(&base, ITEM_FIELDS_ALL);
	item_fields_free(&base);
	/* conflicts committed before the tracker write are not written twice */
	a->conf = xstrdup(op->conflicts && !op->conflicts_written ?
	                  json_object_to_json_string_ext(op->conflicts, JSON_C_TO_STRING_PLAIN) : "[]");
	a->refused = op->refused_dirty ? rec_refusals_json(&op->row.refused) : NULL;
	snprintf(a->id, sizeof(a->id), "%lld", op->row.link_id);
	snprintf(a->ver, sizeof(a->ver), "%lld", op->row.version);
	const char *p[REC_APPLY_NARGS] = {
		a->id, a->ver, a->pull, a->base,
		r ? r->remote_id : NULL, r ? r->key : NULL, r ? r->url : NULL,
		r ? r->updated_at : NULL, r ? r->etag : NULL, r ? r->extra : NULL,
		lc->source, a->conf,
		op->kind == REC_OP_ADOPT_REF ? lc->name : NULL,
		a->refused,
		/* an adopted reference is this target's link (a ServiceNow
		 * reference's target is the table: sql/040) */
		op->kind == REC_OP_ADOPT_REF ? op->t->target : NULL,
	};
	memcpy(a->p, p, sizeof(p));
}

static void apply_args_free(struct rec_apply_args *a)
{
	free(a->pull);
	free(a->base);
	free(a->conf);
	free(a->refused);
}

/* Send one op's write as its own statement. */
static void apply_one(struct rec_op *op)
{
	struct rec_apply_args a;
	apply_args_init(&a, op);
	int rc = rec_lc_query(op->t->lc, REC_SQL_APPLY, REC_APPLY_NARGS, a.p, op_on_apply, op);
	apply_args_free(&a);
	if (rc < 0)
		rec_op_link_error(op, "ledger write for", "ledger closed", false);
}

static void batch_free(struct rec_apply_batch *b)
{
	json_object_put(b->arr);
	free(b);
}

static void on_batch(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_apply_batch *b = arg;
	UNUSED(db);
	if (err && b->n > 1) {
		for (size_t i = 0; i < b->n; i++)
			apply_one(b->ops[i]); /* one by one: a bad row costs only itself */
	} else if (err || (size_t)PQntuples(res) != b->n || PQnfields(res) != 2) {
		for (size_t i = 0; i < b->n; i++)
			b->ops[i]->applied(b->ops[i], err ? err : "batch answered a wrong number of rows", false);
	} else {
		for (size_t i = 0; i < b->n; i++)
			b->ops[i]->applied(b->ops[i], NULL, !PQgetisnull(res, (int)i, 1));
	}
	batch_free(b);
}

static void batch_send(struct rec_target *t)
{
	struct rec_apply_batch *b = t->apply_wait;
	t->apply_wait = NULL;
	if (b->n == 1) {
		/* nothing joined it: the single statement is cheaper to plan */
		struct rec_op *op = b->ops[0];
		batch_free(b);
		apply_one(op);
		return;
	}
	const char *p[] = { json_object_to_json_string_ext(b->arr, JSON_C_TO_STRING_PLAIN),
	                    t->lc->source };
	if (rec_lc_query(t->lc, REC_SQL_APPLY_BATCH, 2, p, on_batch, b) < 0) {
		for (size_t i = 0; i < b->n; i++)
			b->ops[i]->applied(b->ops[i], "ledger closed", false);
		batch_free(b);
	}
}

/* Whether a write of t joins the batch rather than going alone: something
 * that may add another write to it is still under way. */
static bool batch_open(const struct rec_target *t)
{
	return t->apply_hold > 0 || t->calls_out > 0;
}

/* Send the waiting batch when nothing can join it or it waited enough. */
static void batch_send_due(struct rec_target *t)
{
	const struct rec_apply_batch *b = t->apply_wait;
	if (b && (!batch_open(t) || b->n == REC_APPLY_BATCH ||
	          ts_now_ms() - b->first_ms >= REC_APPLY_WAIT_MS))
		batch_send(t);
}

void rec_apply_hold(struct rec_target *t)
{
	t->apply_hold++;
}

static void send_batch_send(struct rec_target *t);

void rec_apply_release(struct rec_target *t)
{
	if (t->apply_hold <= 0)
		abort(); /* release without hold: a caller bug */
	t->apply_hold--;
	if (t->apply_hold == 0 && t->send_wait)
		send_batch_send(t);
	batch_send_due(t);
}

void rec_apply_flush_maybe(struct rec_target *t)
{
	if (t->calls_out < 0)
		abort(); /* an answer counted twice: a caller bug */
	batch_send_due(t);
}

static void apply_add(struct rec_op *op)
{
	struct rec_target *t = op->t;
	struct rec_apply_args a;
	if (!t->apply_wait) {
		t->apply_wait = xcalloc(1, sizeof(*t->apply_wait));
		t->apply_wait->t = t;
		t->apply_wait->first_ms = ts_now_ms();
		t->apply_wait->arr = json_object_new_array();
	}
	struct rec_apply_batch *b = t->apply_wait;
	struct json_object *o = json_object_new_object();
	apply_args_init(&a, op);
	for (int i = 0; i < REC_APPLY_NARGS; i++)
		if (arg_names[i] && a.p[i]) /* absent: NULL, as a NULL argument */
			json_object_object_add(o, arg_names[i], json_object_new_string(a.p[i]));
	apply_args_free(&a);
	json_object_array_add(b->arr, o);
	b->ops[b->n++] = op;
	batch_send_due(t);
}

void rec_apply_write(struct rec_op *op)
{
	if (batch_open(op->t))
		apply_add(op);
	else
		apply_one(op);
}

/* ---- what updates send, committed before they go (rec_send_write) ---- */

struct rec_send_batch {
	size_t n;
	struct rec_op *ops[REC_APPLY_BATCH];
	char *sent[REC_APPLY_BATCH], *conf[REC_APPLY_BATCH]; /* for a resend alone */
	struct json_object *arr;
};

static void send_batch_free(struct rec_send_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->sent[i]);
		free(b->conf[i]);
	}
	json_object_put(b->arr);
	free(b);
}

static void on_send_one(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	UNUSED(db);
	UNUSED(res);
	op->sent_done(op, err);
}

static void send_one(struct rec_op *op, const char *sent, const char *conf)
{
	char id[24];
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	const char *p[] = { id, sent, conf, op->t->lc->source };
	if (rec_lc_query(op->t->lc, REC_SQL_SENDING, 4, p, on_send_one, op) < 0)
		op->sent_done(op, "ledger closed");
}

static void on_send_batch(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_send_batch *b = arg;
	UNUSED(db);
	if (err) {
		for (size_t i = 0; i < b->n; i++)
			send_one(b->ops[i], b->sent[i], b->conf[i]); /* a bad row costs only itself */
	} else if ((size_t)PQntuples(res) != b->n) {
		for (size_t i = 0; i < b->n; i++)
			b->ops[i]->sent_done(b->ops[i], "batch answered a wrong number of rows");
	} else {
		for (size_t i = 0; i < b->n; i++)
			b->ops[i]->sent_done(b->ops[i], NULL);
	}
	send_batch_free(b);
}

static void send_batch_send(struct rec_target *t)
{
	struct rec_send_batch *b = t->send_wait;
	t->send_wait = NULL;
	if (b->n == 1) {
		send_one(b->ops[0], b->sent[0], b->conf[0]);
		send_batch_free(b);
		return;
	}
	const char *p[] = { json_object_to_json_string_ext(b->arr, JSON_C_TO_STRING_PLAIN),
	                    t->lc->source };
	if (rec_lc_query(t->lc, REC_SQL_SENDING_BATCH, 2, p, on_send_batch, b) < 0) {
		for (size_t i = 0; i < b->n; i++)
			b->ops[i]->sent_done(b->ops[i], "ledger closed");
		send_batch_free(b);
	}
}

void rec_send_write(struct rec_op *op, const char *sent, const char *conflicts)
{
	struct rec_target *t = op->t;
	if (t->apply_hold <= 0) {
		send_one(op, sent, conflicts);
		return;
	}
	if (!t->send_wait) {
		t->send_wait = xcalloc(1, sizeof(*t->send_wait));
		t->send_wait->arr = json_object_new_array();
	}
	struct rec_send_batch *b = t->send_wait;
	struct json_object *o = json_object_new_object(), *v;
	char id[24];
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	json_object_object_add(o, "link", json_object_new_string(id));
	v = json_tokener_parse(sent);
	json_object_object_add(o, "sent", v ? v : json_object_new_object());
	v = json_tokener_parse(conflicts);
	json_object_object_add(o, "conflicts", v ? v : json_object_new_array());
	json_object_array_add(b->arr, o);
	b->sent[b->n] = xstrdup(sent);
	b->conf[b->n] = xstrdup(conflicts);
	b->ops[b->n++] = op;
	if (b->n == REC_APPLY_BATCH)
		send_batch_send(t);
}
