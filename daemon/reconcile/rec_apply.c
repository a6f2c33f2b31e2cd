/* rec_apply.c — the ledger writes of one listed page in one statement (see
 * rec_link.h "Batched writes").  A pulled change used to cost a statement
 * of its own (closeloop_rec_apply, ~0.5 ms of PostgreSQL each); the ops a
 * page starts reach their write in the same turn of the loop, so the page
 * holds the target while it starts them, their writes queue here, and the
 * release sends them as one REC_SQL_APPLY_BATCH.  The statement returns
 * one row per write, in order, with what closeloop_rec_apply returned; if
 * it fails as a whole (one row's bad value aborts the statement), every
 * write is sent again alone.
 */
#include "rec_link.h"

#include <stdlib.h>
#include <string.h>

#define REC_APPLY_BATCH 100

struct rec_apply_batch {
	struct rec_target *t;
	size_t n;
	struct rec_op *ops[REC_APPLY_BATCH];
	struct json_object *arr;    /* one object per op, the arguments by name */
};

/* closeloop_rec_apply's arguments by name, in order ($2 is the source). */
static const char *const arg_names[REC_APPLY_NARGS] = {
	"link", "version", "pull", "base", "remote_id", "remote_key", "url",
	"remote_updated_at", "etag", "remote_extra", NULL, "conflicts", "connector", "refused",
};

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
			rec_op_apply_one(b->ops[i]); /* one by one: a bad row costs only itself */
	} else if (err || (size_t)PQntuples(res) != b->n || PQnfields(res) != 2) {
		for (size_t i = 0; i < b->n; i++)
			rec_op_applied(b->ops[i], err ? err : "batch answered a wrong number of rows", false);
	} else {
		for (size_t i = 0; i < b->n; i++)
			rec_op_applied(b->ops[i], NULL, !PQgetisnull(res, (int)i, 1));
	}
	batch_free(b);
}

static void batch_send(struct rec_target *t)
{
	struct rec_apply_batch *b = t->apply_wait;
	t->apply_wait = NULL;
	const char *p[] = { json_object_to_json_string_ext(b->arr, JSON_C_TO_STRING_PLAIN),
	                    t->lc->source };
	if (rec_lc_query(t->lc, REC_SQL_APPLY_BATCH, 2, p, on_batch, b) < 0) {
		for (size_t i = 0; i < b->n; i++)
			rec_op_applied(b->ops[i], "ledger closed", false);
		batch_free(b);
	}
}

void rec_apply_hold(struct rec_target *t)
{
	t->apply_hold++;
}

void rec_apply_release(struct rec_target *t)
{
	if (t->apply_hold <= 0)
		abort(); /* release without hold: a caller bug */
	if (--t->apply_hold == 0 && t->apply_wait)
		batch_send(t);
}

void rec_apply_add(struct rec_op *op)
{
	struct rec_target *t = op->t;
	struct rec_apply_args a;
	if (!t->apply_wait) {
		t->apply_wait = xcalloc(1, sizeof(*t->apply_wait));
		t->apply_wait->t = t;
		t->apply_wait->arr = json_object_new_array();
	}
	struct rec_apply_batch *b = t->apply_wait;
	struct json_object *o = json_object_new_object();
	rec_apply_args_init(&a, op);
	for (int i = 0; i < REC_APPLY_NARGS; i++)
		if (arg_names[i] && a.p[i]) /* absent: NULL, as a NULL argument */
			json_object_object_add(o, arg_names[i], json_object_new_string(a.p[i]));
	rec_apply_args_free(&a);
	json_object_array_add(b->arr, o);
	b->ops[b->n++] = op;
	if (b->n == REC_APPLY_BATCH)
		batch_send(t);
}
