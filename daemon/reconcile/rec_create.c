/* rec_create.c — creates and their recovery (see rec_link.h): the
 * successful creates of a pass written in one ledger statement per batch,
 * and a link left 'creating' by a crash or a lost answer: found by its
 * token (find_by_token), proven never created, or left for later.
 * Calls down into the op core (rec_op.c) only.
 */
#include "rec_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "log.h"
#include "plan.h"

/* ---- successful creates: one ledger statement per batch ----
 *
 * A created ticket's link waits in t->created_wait (the op keeps its place in
 * t->active) until the batch holds REC_CREATED_BATCH links or no create
 * call of the target is out any more; then one closeloop_rec_created_batch
 * writes them all.  Its intent row was committed before the POST, so a
 * crash loses at most the links of the unwritten batches, and the next
 * cycle's recovery listing adopts their tickets by token.  A link the
 * function could not write is handled alone (a link error). */

#define REC_CREATED_BATCH 50

struct rec_created_batch {
	struct rec_target *t;
	size_t n;
	struct rec_op *ops[REC_CREATED_BATCH];
};

static void jadd(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add_ex(o, key, v, JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

static struct json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* Does the created ticket, as the merge reads it (seen), hold a value of a
 * field closeloop writes other than the ledger's, not held as refused?
 * The tracker filled in a field the create left out (Jira: the default
 * priority for none). */
static bool created_differs(const struct rec_op *op, const struct item_fields *seen)
{
	const struct conn_type *ct = op->t->lc->ctype;
	const unsigned rw = CONN_CAP_NATIVE | CONN_CAP_WRITABLE;
	bool differs = false;
	for (int f = 0; f < ITEM_F__COUNT && !differs; f++)
		differs = (!ct || (ct->caps[f] & rw) == rw) && !op->row.refused.f[f].set &&
		          !str_eq(seen->v[f], op->row.ledger.v[f]);
	return differs;
}

/* A created link's write.  Its base is the created ticket as the merge
 * reads it (rec_plan_remote: a lossy value that is the ledger's after the
 * round trip is the ledger's), as a merge write stores it: ServiceNow
 * makes an item with no priority a problem with P3's impact and urgency,
 * and a base of P3 against the ledger's none read as a ledger change, so
 * a person's later edit of the priority was a conflict (seed 6501 of the
 * soak: under ledger_wins, P3 written over the person's P1).  Its
 * synced_version is the version the create sent, or one before it when
 * the ticket does not hold the ledger's values (created_differs): the
 * next push pass then takes the link and pushes them, and the link does
 * not count as in sync meanwhile. */
static struct json_object *created_json(const struct rec_op *op)
{
	const struct conn_remote *r = &op->remote;
	struct json_object *o = json_object_new_object();
	struct rec_plan_in in = { .ledger = &op->row.ledger, .remote = &op->rcanon,
	                          .ctype = op->t->lc->ctype };
	struct item_fields seen, base;
	item_fields_init(&seen);
	rec_plan_remote(&in, &seen);
	rec_op_base_as_held(op, &seen, &base);
	jadd(o, "link", json_object_new_int64(op->row.link_id));
	jadd(o, "version", json_object_new_int64(op->row.version - (created_differs(op, &seen) ? 1 : 0)));
	jadd(o, "base", item_fields_to_json(&base));
	item_fields_free(&seen);
	item_fields_free(&base);
	jadd(o, "remote_id", jstr(r->remote_id));
	jadd(o, "remote_key", jstr(r->key));
	jadd(o, "url", jstr(r->url));
	jadd(o, "remote_updated_at", jstr(r->updated_at));
	jadd(o, "etag", jstr(r->etag));
	jadd(o, "remote_extra", jstr(r->extra));
	return o;
}

/* A created link is written: keep what the create was refused (the
 * ticket was made without it, e.g. an assignee GitHub cannot assign), so
 * the link says why and the push pass tries again after the back-off. */
static void created_refusals_write(struct rec_op *op)
{
	char id[24];
	if (!op->refused_dirty) {
		rec_op_finish(op);
		return;
	}
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	char *json = rec_refusals_json(&op->row.refused);
	const char *p[] = { id, json, op->t->lc->source, op->t->lc->name };
	rec_op_write(op, REC_SQL_LINK_REFUSED, 4, p);
	free(json);
}

/* Nothing of the batch was written (the caller keeps t alive). */
static void created_batch_failed(struct rec_created_batch *b, const char *err)
{
	struct rec_target *t = b->t;
	log_conn(LOG_LVL_ERROR, t->lc->name,
	         "%s: %zu created tickets not recorded in the ledger (%s); the next cycle adopts "
	         "them by their token", t->target, b->n, err);
	for (size_t i = 0; i < b->n; i++) {
		t->errors++;
		rec_op_finish(b->ops[i]);
	}
}

static void on_created_batch(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_created_batch *b = arg;
	struct rec_target *t = b->t;
	bool alone[REC_CREATED_BATCH] = { false };
	UNUSED(db);
	t->active++; /* while the batch's ops finish */
	if (err) {
		created_batch_failed(b, err);
		goto out;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		long long link = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		for (size_t i = 0; i < b->n; i++) {
			struct rec_op *op = b->ops[i];
			if (alone[i] || op->row.link_id != link)
				continue;
			alone[i] = true;
			if (PQgetisnull(res, r, 1)) {
				op_log(LOG_LVL_DEBUG, op, "link %lld no longer 'creating':"
				         " nothing written", link);
				rec_op_finish(op);
			} else {
				rec_op_link_error(op, "ledger write for created", PQgetvalue(res, r, 1), false);
			}
			break;
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		if (alone[i])
			continue;
		t->ledger_writes++;
		created_refusals_write(b->ops[i]);
	}
out:
	free(b);
	rec_target_op_done(t);
}

/* Write the waiting batch (the caller keeps t alive). */
static void created_flush(struct rec_target *t)
{
	struct rec_created_batch *b = t->created_wait;
	const struct rec_link_ctx *lc = t->lc;
	struct json_object *arr = json_object_new_array();
	t->created_wait = NULL;
	for (size_t i = 0; i < b->n; i++)
		json_object_array_add(arr, created_json(b->ops[i]));
	const char *p[] = { json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN),
	                    lc->source };
	int rc = rec_lc_query(lc, REC_SQL_CREATED_BATCH, 2, p, on_created_batch, b);
	json_object_put(arr);
	if (rc < 0) {
		/* no answer will come to free it (on_created_batch) */
		created_batch_failed(b, "ledger closed or reconnected");
		free(b);
	}
}

void rec_created_flush_maybe(struct rec_target *t)
{
	if (t->created_wait && (t->created_wait->n >= REC_CREATED_BATCH || t->creates_out == 0))
		created_flush(t);
}

void rec_op_created(struct rec_op *op)
{
	struct rec_target *t = op->t;
	rec_canon_remote(t->lc->idmap, &op->remote.fields, &op->row.ledger, &op->rcanon);
	t->created++;
	op_log(LOG_LVL_DEBUG, op, "created %s",
	         op->remote.key ? op->remote.key : "?");
	rec_op_set_state(op, REC_OP_APPLY);
	if (!t->created_wait) {
		t->created_wait = xcalloc(1, sizeof(*t->created_wait));
		t->created_wait->t = t;
	}
	t->created_wait->ops[t->created_wait->n++] = op;
	if (t->created_wait->n >= REC_CREATED_BATCH)
		created_flush(t);
}

/* The repository of a remote key "owner/name#N" (heap), or NULL. */
static char *key_repo(const char *key)
{
	const char *hash = key ? strchr(key, '#') : NULL;
	return hash ? xstrndup(key, (size_t)(hash - key)) : NULL;
}

static void on_create_renamed(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	struct rec_target *t = op->t;
	char *repo = key_repo(op->remote.key);
	UNUSED(db);
	if (rec_renamed_log(t->lc, t->target, repo, res, err))
		t->ledger_writes++;
	else
		t->errors++; /* the link stays on the old name: the next listing re-points it */
	free(repo);
	t->active++; /* keep t while the batch may be written */
	rec_op_created(op);
	rec_created_flush_maybe(t);
	rec_target_op_done(t);
}

void rec_op_create_moved(struct rec_op *op)
{
	struct rec_target *t = op->t;
	char *repo = key_repo(op->remote.key);
	if (!repo || strcasecmp(repo, t->target) == 0) {
		free(repo);
		rec_op_created(op);
		return;
	}
	op_log(LOG_LVL_WARN, op, "%s answered the create from %s (the repository was renamed): "
	       "created there as %s", t->target, repo, op->remote.key);
	const char *p[] = { t->lc->name, t->target, repo };
	rec_op_set_state(op, REC_OP_APPLY);
	if (rec_lc_query(t->lc, REC_SQL_REPO_RENAMED, 3, p, on_create_renamed, op) < 0)
		rec_op_created(op); /* its batch write reports the lost ledger */
	free(repo);
}

/* A link left 'creating' that the recovery listing did not show: the
 * ticket may exist yet be missing from a listing that lags, so the create
 * is sent again only create_min_age after its intent, and only when the
 * tracker's token search (find_by_token, where the connector has it) does
 * not find it either. */
/* Proof that the create of a 'creating' link never reached the tracker:
 * the tracker's listing is consistent (connector.list_consistent), this
 * cycle's listing went back to the oldest intent, did not fail and did not
 * show the token, and it started after the last moment a request for it
 * could still land -- the latest of the intent, the link's last write (an
 * unknown answer is noted there) and the taking of the lock (no earlier
 * holder sends after that), plus the tracker's processing limit
 * (connector.write_land_ms) and its settle margin.  A create that may have
 * reached the tracker is never proven absent this way. */
static bool op_absence_proven(const struct rec_op *op)
{
	const struct rec_target *t = op->t;
	const struct connector *c = t->lc->conn;
	if (!c->list_consistent || c->write_land_ms <= 0 || !t->list_recovery || t->list_failed ||
	    t->list_not_modified || t->has_min_fail || !op->row.has_intent)
		return false;
	int64_t last = op->row.intent_ms;
	if (op->row.touched_ms > last)
		last = op->row.touched_ms;
	if (t->lc->lock_at_ms > last)
		last = t->lc->lock_at_ms;
	return t->list_start_ms >= last + c->write_land_ms + c->list_settle_ms;
}

void rec_op_recover(struct rec_op *op)
{
	const struct rec_engine_view *e = rec_op_engine(op);
	const struct rec_link_ctx *lc = op->t->lc;
	struct rec_target *op_t = op->t; /* op may end in rec_op_call */
	struct connector *c = lc->conn;
	int64_t age = op->row.has_intent ? ts_now_ms() - op->row.intent_ms : INT64_MAX;
	if (op_absence_proven(op)) {
		op_log(LOG_LVL_INFO, op, "create intent %lld s old, never reached the tracker (a "
		       "consistent listing after it does not show its token): sent now",
		       (long long)(age / 1000));
		if (e->dry_run) {
			FILE *f = e->plan_out ? e->plan_out : stdout;
			fprintf(f, "create  %s  item %lld \"%s\"  (again: proven never created)\n",
			        op->t->target, op->row.item_id,
			        op->row.ledger.v[ITEM_F_TITLE] ? op->row.ledger.v[ITEM_F_TITLE] : "");
			rec_op_finish(op);
			return;
		}
		if (rec_op_call(op, REC_CALL_CREATE) < 0)
			rec_created_flush_maybe(op_t);
		return;
	}
	if (age < lc->create_min_age_ms) {
		op->t->recover_waiting++;
		op_log(LOG_LVL_DEBUG, op, "create intent %lld s old: not sent "
		         "again before %lld s", (long long)(age / 1000),
		         (long long)(lc->create_min_age_ms / 1000));
		rec_op_finish(op);
		return;
	}
	if (e->dry_run) {
		FILE *f = e->plan_out ? e->plan_out : stdout;
		fprintf(f, "create  %s  item %lld \"%s\"  (again: intent not found%s)\n", op->t->target,
		        op->row.item_id, op->row.ledger.v[ITEM_F_TITLE] ? op->row.ledger.v[ITEM_F_TITLE] : "",
		        c->ops->find_by_token ? "; token search first" : "");
		rec_op_finish(op);
		return;
	}
	if (rec_op_call(op, c->ops->find_by_token && op->row.token ? REC_CALL_FIND : REC_CALL_CREATE) < 0)
		rec_created_flush_maybe(op_t);
}

