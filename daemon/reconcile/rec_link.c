/* rec_link.c — the reconcile work on one link (see rec_link.h).
 *
 * An op is one link's trip through the engine:
 *   merge (merge.h) of ledger L, base B and remote R (canonical)
 *   -> tracker call if the tracker must take fields (update), or if the
 *      remote must be read first (fetch), or the ticket made (create)
 *   -> one ledger write (closeloop_rec_apply / _broken, or a link error;
 *      a created ticket's link waits for the batch write of
 *      closeloop_rec_created_batch), then done.
 * Tracker reads are gated to the connector's max_inflight per target pass;
 * writes go straight to the connector's paced write queue.
 * A ledger write that finds the item changed since it was read writes
 * nothing; the op re-reads the item and merges again (at most 3 times),
 * still knowing the remote exactly, so neither side's edit is lost.
 *
 * Entry points (rec_op_start, tracker and database callbacks) keep the
 * target alive: the caller of rec_op_start holds a reference in t->active,
 * tracker callbacks take one for their duration, and a database callback
 * is covered by its op until op_finish(), which is always the last thing
 * done with an op.
 */
#include "rec_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "plan.h"

#define REC_MAX_RELOADS 3

static void op_decide(struct rec_op *op);
static void op_apply(struct rec_op *op);
static void created_flush_maybe(struct rec_target *t);

void rec_target_pin(struct rec_target *t, int64_t remote_ms)
{
	if (remote_ms <= 0)
		return;
	if (!t->has_min_fail || remote_ms < t->min_fail_ms)
		t->min_fail_ms = remote_ms;
	t->has_min_fail = true;
}

void rec_target_op_done(struct rec_target *t)
{
	if (t->active == 0)
		abort();
	if (--t->active == 0)
		t->drained(t);
}

static const struct rec_engine_view *op_engine(const struct rec_op *op)
{
	return op->t->lc->view;
}

static const char *op_state_name(enum rec_op_state s)
{
	switch (s) {
	case REC_OP_NEW: return "new";
	case REC_OP_WAIT_SLOT: return "wait_slot";
	case REC_OP_REMOTE: return "remote";
	case REC_OP_APPLY: return "apply";
	case REC_OP_RELOAD: return "reload";
	case REC_OP_DONE: return "done";
	default: abort();
	}
}

/* The one place an op changes state; refuses impossible transitions. */
static void op_set_state(struct rec_op *op, enum rec_op_state next)
{
	bool ok;
	switch (op->state) {
	case REC_OP_NEW:
	case REC_OP_APPLY:
	case REC_OP_RELOAD:
		ok = next != REC_OP_NEW;
		break;
	case REC_OP_WAIT_SLOT:
		ok = next == REC_OP_REMOTE || next == REC_OP_DONE;
		break;
	case REC_OP_REMOTE:
		ok = next == REC_OP_APPLY || next == REC_OP_DONE || next == REC_OP_REMOTE ||
		     next == REC_OP_WAIT_SLOT;
		break;
	case REC_OP_DONE:
		ok = false;
		break;
	default:
		abort();
	}
	if (!ok) {
		log_error("reconcile: op for item %lld: bad transition %s -> %s", op->row.item_id,
		          op_state_name(op->state), op_state_name(next));
		abort();
	}
	op->state = next;
}

struct rec_op *rec_op_new(struct rec_target *t, enum rec_op_kind kind)
{
	struct rec_op *op = xcalloc(1, sizeof(*op));
	op->t = t;
	op->kind = kind;
	op->state = REC_OP_NEW;
	conn_remote_init(&op->remote);
	item_fields_init(&op->rcanon);
	return op;
}

static void op_free(struct rec_op *op)
{
	rec_row_free(&op->row);
	conn_remote_free(&op->remote);
	item_fields_free(&op->rcanon);
	if (op->has_mr)
		merge_result_free(&op->mr);
	if (op->conflicts)
		json_object_put(op->conflicts);
	free(op);
}

void rec_op_discard(struct rec_op *op)
{
	if (op->state != REC_OP_NEW)
		abort();
	op_free(op);
}

/* Last thing done with an op: it may end the target's stage. */
static void op_finish(struct rec_op *op)
{
	struct rec_target *t = op->t;
	op_set_state(op, REC_OP_DONE);
	op_free(op);
	rec_target_op_done(t);
}

static unsigned popcount(unsigned m)
{
	return (unsigned)__builtin_popcount(m);
}

/* ---- the dry-run plan ---- */

static void plan_value(char *out, size_t n, const char *v)
{
	size_t o = 0;
	if (!v) {
		snprintf(out, n, "(none)");
		return;
	}
	for (const char *p = v; *p && o + 5 < n; p++) {
		if (p - v >= 60) {
			out[o++] = '.';
			out[o++] = '.';
			out[o++] = '.';
			break;
		}
		if (*p == '\n' || *p == '\r') {
			out[o++] = '\\';
			out[o++] = *p == '\n' ? 'n' : 'r';
		} else {
			out[o++] = *p;
		}
	}
	out[o] = 0;
}

/* The ticket's key ("acme/payments#12"), or NULL before it exists. */
static const char *op_ticket(const struct rec_op *op)
{
	if (op->has_remote && op->remote.key)
		return op->remote.key;
	return op->row.remote_key;
}

static const char *op_key(const struct rec_op *op)
{
	const char *k = op_ticket(op);
	return k ? k : op->t->target;
}

/* One log line about op with its connector, target, item and ticket as
 * fields (log.h). */
#define op_log(lvl, op, ...) \
	log_with((lvl), (&(struct log_ctx){ .connector = (op)->t->lc->name, \
		.target = (op)->t->target, .item = (op)->row.item_id, .ticket = op_ticket(op) }), \
		__VA_ARGS__)

static void op_plan(const struct rec_op *op)
{
	FILE *f = op_engine(op)->plan_out ? op_engine(op)->plan_out : stdout;
	const enum cfg_policy *pol = op->t->lc->policy;
	long long id = op->row.item_id;
	char a[96], b[96];

	if (op->kind == REC_OP_ADOPT_TOKEN)
		fprintf(f, "adopt   %s item %lld\n", op_key(op), id);
	if (!op->has_mr)
		return;
	for (int i = 0; i < ITEM_F__COUNT; i++) {
		const char *name = item_field_name(i);
		if (op->held_mask & ITEM_FIELD_BIT(i)) {
			const struct rec_refusal *rf = &op->row.refused.f[i];
			plan_value(a, sizeof(a), op->row.ledger.v[i]);
			fprintf(f, "held    %s  item %lld  %s: %s  (%s)\n", op_key(op), id, name, a,
			        rf->set ? rf->reason : "the tracker does not take this field");
			continue;
		}
		switch (op->mr.action[i]) {
		case MERGE_SAME:
			break;
		case MERGE_PULL:
			plan_value(a, sizeof(a), op->row.ledger.v[i]);
			plan_value(b, sizeof(b), op->mr.merged.v[i]);
			fprintf(f, "pull    item %lld  %s: %s -> %s  from %s\n", id, name, a, b, op_key(op));
			break;
		case MERGE_PUSH:
			plan_value(a, sizeof(a), op->rcanon.v[i]);
			plan_value(b, sizeof(b), op->mr.merged.v[i]);
			fprintf(f, "push    %s  item %lld  %s: %s -> %s\n", op_key(op), id, name, a, b);
			break;
		case MERGE_CONFLICT_PULL:
		case MERGE_CONFLICT_PUSH:
			plan_value(a, sizeof(a), op->row.ledger.v[i]);
			plan_value(b, sizeof(b), op->rcanon.v[i]);
			fprintf(f, "conflict item %lld %s: ledger \"%s\" remote \"%s\" -> %s (%s)\n", id,
			        name, a, b, op->mr.action[i] == MERGE_CONFLICT_PULL ? "remote" : "ledger",
			        cfg_policy_name(pol[i]));
			break;
		default:
			abort();
		}
	}
}

/* ---- ledger writes other than the merge ---- */

static void op_on_simple_write(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	UNUSED(db);
	UNUSED(res);
	if (err) {
		op_log(LOG_LVL_ERROR, op, "link %lld: ledger write failed: %s", op->row.link_id, err);
		op->t->errors++;
	} else {
		op->t->ledger_writes++;
	}
	op_finish(op);
}

static void op_write(struct rec_op *op, const char *sql, int n, const char *const *p)
{
	op_set_state(op, REC_OP_APPLY);
	if (rec_lc_query(op->t->lc, sql, n, p, op_on_simple_write, op) < 0) {
		op_log(LOG_LVL_ERROR, op, "ledger closed or reconnected, write skipped");
		op->t->errors++;
		op_finish(op);
	}
}

/* A failure on this link: note it (count = false for an unknown create
 * outcome, which is not the link's fault) and go on with the others.
 * external_link.last_error and a broken link's detail hold the tracker's
 * error text, which can echo what it was sent, a token included: stored
 * masked the way the log masks it (log_redact). */
static void op_link_error(struct rec_op *op, const char *what, const char *msg, bool count)
{
	char cnt[2] = { count ? '1' : '0', 0 };
	char id[24];
	op->t->errors++;
	op->t->link_errors++;
	op_log(LOG_LVL_WARN, op, "%s %s: %s", what,
	         op_key(op), msg ? msg : "failed");
	if (op_engine(op)->dry_run || !op->row.link_id) {
		op_finish(op);
		return;
	}
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	char *safe = log_redact(msg ? msg : what);
	const char *p[] = { id, safe, cnt, op->t->lc->source };
	op_write(op, REC_SQL_LINK_ERROR, 4, p);
	free(safe);
}

static void op_broken(struct rec_op *op, const char *reason, const char *msg)
{
	char id[24];
	op->t->broken++;
	op_log(LOG_LVL_WARN, op, "ticket %s is %s: link broken, item left as it is", op_key(op), reason);
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	char *safe = log_redact(msg ? msg : reason);
	const char *p[] = { id, reason, safe, op->t->lc->source };
	op_write(op, REC_SQL_BROKEN, 4, p);
	free(safe);
}

/* ---- tracker calls, gated to max_inflight ---- */

/* Writes go to the connector's paced write queue (connectors/pace.h),
 * which lets them out one at a time within the tracker's limits: they are
 * not gated here, so the queue (and /metrics, `closeloop status`) sees
 * every write waiting, and reads never wait behind writes. */
static bool call_paced(enum rec_call call)
{
	return call == REC_CALL_CREATE || call == REC_CALL_UPDATE;
}

static void op_on_remote(struct connector *c, const struct conn_result *res,
                         const struct conn_remote *remote, void *arg);

static void op_ref(const struct rec_op *op, struct conn_remote *ref)
{
	conn_remote_init(ref);
	if (op->kind == REC_OP_ADOPT_REF) {
		/* a reference may name its ticket by key only (a Jira key from a
		 * postmortem): after the fetch, write to the id the tracker gave */
		bool got = op->has_remote && op->remote.remote_id;
		ref->remote_id = got ? op->remote.remote_id : op->row.ref_remote_id;
		ref->key = got && op->remote.key ? op->remote.key : op->row.ref_key;
		return;
	}
	ref->remote_id = op->has_remote && op->remote.remote_id ? op->remote.remote_id : op->row.remote_id;
	ref->key = op->has_remote && op->remote.key ? op->remote.key : op->row.remote_key;
	ref->extra = op->has_remote && op->remote.extra ? op->remote.extra : op->row.extra;
}

static void op_issue(struct rec_op *op)
{
	struct rec_target *t = op->t;
	struct connector *c = t->lc->conn;
	const struct rec_idmap *idm = t->lc->idmap;
	struct conn_remote ref;
	struct item_fields want;
	struct conn_item_context ctx = {
		.item_id = op->row.item_id, .token = op->row.token, .postmortem_ref = op->row.pm_ref,
		.postmortem_title = op->row.pm_title, .postmortem_url = op->row.pm_url,
		.postmortem_problem = op->row.pm_problem,
	};
	int rc;

	item_fields_init(&want);
	op_ref(op, &ref);
	op_set_state(op, REC_OP_REMOTE);
	if (!call_paced(op->call))
		t->remote_inflight++;
	switch (op->call) {
	case REC_CALL_FETCH:
		rc = c->ops->fetch(c, t->target, &ref, op_on_remote, op);
		break;
	case REC_CALL_UPDATE:
		rec_to_tracker(idm, &op->mr.merged, &want);
		rc = c->ops->update(c, t->target, &ref, &want, op->mr.push_mask, &ctx, op_on_remote, op);
		break;
	case REC_CALL_CREATE:
		rec_to_tracker(idm, &op->row.ledger, &want);
		rc = c->ops->create(c, t->target, &want, &ctx, op_on_remote, op);
		break;
	case REC_CALL_FIND:
		rc = c->ops->find_by_token(c, t->target, op->row.token, op_on_remote, op);
		break;
	default:
		abort();
	}
	item_fields_free(&want);
	if (rc < 0) {
		if (!call_paced(op->call))
			t->remote_inflight--;
		if (op->call == REC_CALL_CREATE)
			t->creates_out--;
		op_link_error(op, "tracker call", strerror(-rc), false);
		created_flush_maybe(t);
	}
}

static void op_call(struct rec_op *op, enum rec_call call)
{
	struct rec_target *t = op->t;
	op->call = call;
	if (t->stop_rate || t->stop_auth || op_engine(op)->cancelled ||
	    (!op_engine(op)->dry_run && !t->lc->locked(t->lc->owner))) {
		rec_target_pin(t, op->remote_ms);
		op_finish(op);
		return;
	}
	if (call == REC_CALL_CREATE)
		t->creates_out++;
	if (!call_paced(call) && t->remote_inflight >= t->lc->max_inflight) {
		op_set_state(op, REC_OP_WAIT_SLOT);
		STAILQ_INSERT_TAIL(&t->wait, op, wait_link);
		return;
	}
	op_issue(op);
}

static void slot_release(struct rec_target *t)
{
	t->remote_inflight--;
	while (!STAILQ_EMPTY(&t->wait) && t->remote_inflight < t->lc->max_inflight) {
		struct rec_op *op = STAILQ_FIRST(&t->wait);
		STAILQ_REMOVE_HEAD(&t->wait, wait_link);
		if (t->stop_rate || t->stop_auth || op_engine(op)->cancelled ||
		    !t->lc->locked(t->lc->owner)) {
			if (op->call == REC_CALL_CREATE)
				t->creates_out--;
			rec_target_pin(t, op->remote_ms);
			op_finish(op);
		} else {
			op_issue(op);
		}
	}
}

/* A partial write: the tracker refused the fields in res->refused_mask
 * (connector.h); note each on the link with its reason, so the planner
 * holds it until the ledger value changes or the back-off expires. */
static void op_note_refused(struct rec_op *op, const struct conn_result *res)
{
	const struct rec_link_ctx *lc = op->t->lc;
	/* a create pushes every field: what it did not take is refused */
	unsigned mask = res->refused_mask & (op->call == REC_CALL_CREATE ? ~0u : op->mr.push_mask);
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		if (!(mask & ITEM_FIELD_BIT(f)))
			continue;
		const char *why = res->refused_reason[f] ? res->refused_reason[f] : "refused";
		op_log(LOG_LVL_WARN, op, "%s refused %s = \"%s\": %s; held for %lld s "
		         "or until the ledger value changes", op_key(op),
		         item_field_name(f), op->row.ledger.v[f] ? op->row.ledger.v[f] : "(none)", why,
		         (long long)(lc->refusal_backoff_ms / 1000));
		char *safe = log_redact(why);
		rec_refusals_add(&op->row.refused, f, op->row.ledger.v[f], safe, ts_now_ms(),
		                 lc->refusal_backoff_ms);
		free(safe);
		op->refused_dirty = true;
		op->t->refused++;
	}
	op->mr.push_mask &= ~mask;
}

static void op_after_update(struct rec_op *op)
{
	op->t->pushed_fields += popcount(op->mr.push_mask);
	merge_result_free(&op->mr);
	op->has_mr = false;
	/* conflicts stay those of the first decision */
	op_decide(op);
}

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

/* The base records what the tracker holds.  A ticket nobody is assigned
 * to holds no owner, even when the ledger's owner stood in for it (an
 * owner with no login in the directory, rec_canon_remote): the base keeps
 * NULL, so once the directory gives the login, the unassigned ticket
 * reads as unchanged and the ledger's owner is pushed, never cleared.
 * Writes a copy of f with that applied into out. */
static void base_as_held(const struct rec_op *op, const struct item_fields *f,
                         struct item_fields *out)
{
	item_fields_init(out);
	item_fields_copy(out, f);
	if (op->has_remote && !op->remote.fields.v[ITEM_F_OWNER])
		item_fields_set(out, ITEM_F_OWNER, NULL);
}

static struct json_object *created_json(const struct rec_op *op)
{
	const struct conn_remote *r = &op->remote;
	struct json_object *o = json_object_new_object();
	struct item_fields base;
	base_as_held(op, &op->rcanon, &base);
	jadd(o, "link", json_object_new_int64(op->row.link_id));
	jadd(o, "version", json_object_new_int64(op->row.version));
	jadd(o, "base", item_fields_to_json(&base));
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
		op_finish(op);
		return;
	}
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	char *json = rec_refusals_json(&op->row.refused);
	const char *p[] = { id, json, op->t->lc->source, op->t->lc->name };
	op_write(op, REC_SQL_LINK_REFUSED, 4, p);
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
		op_finish(b->ops[i]);
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
				op_finish(op);
			} else {
				op_link_error(op, "ledger write for created", PQgetvalue(res, r, 1), false);
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
	if (rc < 0)
		created_batch_failed(b, "ledger closed or reconnected");
}

static void created_flush_maybe(struct rec_target *t)
{
	if (t->created_wait && (t->created_wait->n >= REC_CREATED_BATCH || t->creates_out == 0))
		created_flush(t);
}

static void op_created(struct rec_op *op)
{
	struct rec_target *t = op->t;
	rec_canon_remote(t->lc->idmap, &op->remote.fields, &op->row.ledger, &op->rcanon);
	t->created++;
	op_log(LOG_LVL_DEBUG, op, "created %s",
	         op->remote.key ? op->remote.key : "?");
	op_set_state(op, REC_OP_APPLY);
	if (!t->created_wait) {
		t->created_wait = xcalloc(1, sizeof(*t->created_wait));
		t->created_wait->t = t;
	}
	t->created_wait->ops[t->created_wait->n++] = op;
	if (t->created_wait->n >= REC_CREATED_BATCH)
		created_flush(t);
}

void rec_remote_copy(struct conn_remote *dst, const struct conn_remote *src)
{
	conn_remote_free(dst);
	dst->remote_id = xstrdup(src->remote_id);
	dst->key = xstrdup(src->key);
	dst->url = xstrdup(src->url);
	dst->updated_at = xstrdup(src->updated_at);
	dst->etag = xstrdup(src->etag);
	dst->token = xstrdup(src->token);
	dst->extra = xstrdup(src->extra);
	item_fields_copy(&dst->fields, &src->fields);
	dst->unread_mask = src->unread_mask;
	dst->repair_mask = src->repair_mask;
}

static void op_remote_ok(struct rec_op *op, const struct conn_result *res,
                         const struct conn_remote *r)
{
	if ((op->call == REC_CALL_UPDATE || op->call == REC_CALL_CREATE) && res->refused_mask)
		op_note_refused(op, res);
	rec_remote_copy(&op->remote, r);
	op->has_remote = true;
	switch (op->call) {
	case REC_CALL_FETCH:
		op_decide(op);
		break;
	case REC_CALL_UPDATE:
		op_after_update(op);
		break;
	case REC_CALL_CREATE:
		op_created(op);
		break;
	case REC_CALL_FIND: /* the lost create's ticket: adopt it */
		op_log(LOG_LVL_INFO, op, "found %s by its create token", r->key ? r->key : "?");
		op->kind = REC_OP_ADOPT_TOKEN;
		op_decide(op);
		break;
	default:
		abort();
	}
}

static void op_remote_failed(struct rec_op *op, const struct conn_result *res)
{
	struct rec_target *t = op->t;
	const char *name = t->lc->name;
	const char *what = op->call == REC_CALL_CREATE ? "create in" :
	                   op->call == REC_CALL_UPDATE ? "update of" :
	                   op->call == REC_CALL_FIND ? "token search in" : "fetch of";
	if (op->call == REC_CALL_FIND && res->status == CONN_GONE) {
		op_call(op, REC_CALL_CREATE); /* no ticket has the token: create it again */
		return;
	}
	if (op->call == REC_CALL_FIND && res->status == CONN_RATE_LIMITED) {
		/* the search's own limit: this link waits, the pass goes on */
		op_log(LOG_LVL_INFO, op, "token search rate limited; "
		         "the create is retried next cycle");
		op_finish(op);
		return;
	}
	switch (res->status) {
	case CONN_GONE:
	case CONN_MOVED:
		if (op->call == REC_CALL_CREATE || op->call == REC_CALL_FIND)
			break;
		op_broken(op, res->status == CONN_GONE ? "gone" : "moved", res->error);
		return;
	case CONN_RATE_LIMITED:
		if (!t->stop_rate)
			log_conn(LOG_LVL_WARN, name, "%s: rate limited; pass stopped, may resume in %lld s",
			         t->target, (long long)(res->retry_after_ms / 1000));
		t->stop_rate = true;
		t->retry_after_ms = res->retry_after_ms;
		rec_target_pin(t, op->remote_ms);
		op_finish(op);
		return;
	case CONN_AUTH:
		if (!t->stop_auth)
			log_conn(LOG_LVL_ERROR, name, "%s: credentials refused (%s); connector stopped",
			         t->target, res->error ? res->error : "auth");
		t->stop_auth = true;
		t->errors++;
		rec_target_pin(t, op->remote_ms);
		op_finish(op);
		return;
	case CONN_UNKNOWN:
		op_link_error(op, what, res->error ? res->error : "outcome unknown", false);
		return;
	case CONN_INVALID:
		if (op->call == REC_CALL_CREATE)
			t->refused_creates++;
		op_link_error(op, what, res->error ? res->error : "refused", true);
		return;
	default:
		break;
	}
	rec_target_pin(t, op->remote_ms);
	/* Only the tracker's refusal (CONN_INVALID, above) counts against a
	 * create: any other failure -- a transport error, a 5xx after the
	 * retries, a request cancelled by a stop or a lost ledger session --
	 * says nothing about the create, and may even hide one that went
	 * through, so it never moves the link toward its five refusals. */
	op_link_error(op, what, res->error ? res->error : conn_status_name(res->status),
	              op->call != REC_CALL_CREATE && op->call != REC_CALL_FIND);
}

static void on_renamed(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	UNUSED(db);
	if (err) {
		op_log(LOG_LVL_ERROR, op, "re-pointing the links of a renamed repository failed: %s", err);
		op->t->errors++;
	} else {
		op->t->ledger_writes++;
		log_conn(LOG_LVL_ERROR, op->t->lc->name, "%s was renamed on the tracker to %s: %s "
		         "link(s) now name %s; update the routing (the directory's team targets and "
		         "this connector's targets) to %s", op->t->target, op->remote.key,
		         PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?", op->remote.key,
		         op->remote.key);
	}
	op_finish(op);
}

/* The ticket answered from another place (CONN_MOVED with the remote
 * there): the same issue id in another repository is its repository
 * renamed (every link of the target re-pointed, the operator told to
 * update the routing); a new id is a transfer, followed when the new
 * repository is one this connector serves (the link re-pointed: new id,
 * key, target; the next listing there pulls it), else the link is broken
 * with where the ticket went. */
static void op_moved(struct rec_op *op, const struct conn_result *res, const struct conn_remote *r)
{
	const struct rec_link_ctx *lc = op->t->lc;
	char id[24];
	const char *hash = r->key ? strchr(r->key, '#') : NULL;
	char *repo = hash ? xstrndup(r->key, (size_t)(hash - r->key)) : NULL;
	bool served = false;
	for (size_t i = 0; repo && i < lc->n_targets; i++)
		served = served || strcasecmp(lc->targets[i], repo) == 0;
	rec_remote_copy(&op->remote, r);
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	if (repo && op_engine(op)->dry_run) {
		op_log(LOG_LVL_WARN, op, "%s answered from %s (moved)", op_key(op), r->key);
		free(repo);
		op_finish(op);
		return;
	}
	if (repo && str_eq(r->remote_id, op->row.remote_id) && strcasecmp(repo, op->t->target) != 0) {
		free(op->remote.key);
		op->remote.key = repo; /* the new target, for the log line */
		const char *p[] = { lc->name, op->t->target, repo };
		op_set_state(op, REC_OP_APPLY);
		if (rec_lc_query(lc, REC_SQL_REPO_RENAMED, 3, p, on_renamed, op) < 0)
			op_link_error(op, "re-pointing of", "ledger closed", false);
		return;
	}
	if (repo && served) {
		op_log(LOG_LVL_WARN, op, "%s was transferred to %s: the link follows it", op_key(op), r->key);
		const char *p[] = { id, repo, r->remote_id, r->key, r->url, lc->source };
		op_write(op, REC_SQL_LINK_MOVED, 6, p);
		free(repo);
		return;
	}
	free(repo);
	op_broken(op, "moved", res->error);
}

static void op_on_remote(struct connector *c, const struct conn_result *res,
                         const struct conn_remote *remote, void *arg)
{
	struct rec_op *op = arg;
	struct rec_target *t = op->t;
	bool paced = call_paced(op->call); /* the answer may start another call */
	UNUSED(c);
	t->active++; /* keep t while the wait queue moves on */
	if (op->call == REC_CALL_CREATE)
		t->creates_out--;
	if (res->status == CONN_OK && remote)
		op_remote_ok(op, res, remote);
	else if (res->status == CONN_MOVED && remote &&
	         (op->call == REC_CALL_FETCH || op->call == REC_CALL_UPDATE))
		op_moved(op, res, remote);
	else
		op_remote_failed(op, res);
	if (!paced)
		slot_release(t);
	created_flush_maybe(t);
	rec_target_op_done(t);
}

/* ---- merge and the ledger write ---- */

static struct json_object *conflict_json(const struct rec_op *op, int f)
{
	struct json_object *c = json_object_new_object();
	const enum cfg_policy *pol = op->t->lc->policy;
	const char *l = op->row.ledger.v[f], *r = op->rcanon.v[f];
	const char *b = op->row.has_base ? op->row.base.v[f] : NULL;
	json_object_object_add(c, "field", json_object_new_string(item_field_name(f)));
	json_object_object_add(c, "ledger", l ? json_object_new_string(l) : NULL);
	json_object_object_add(c, "remote", r ? json_object_new_string(r) : NULL);
	json_object_object_add(c, "base", b ? json_object_new_string(b) : NULL);
	json_object_object_add(c, "policy", json_object_new_string(cfg_policy_name(pol[f])));
	json_object_object_add(c, "chosen", json_object_new_string(
		op->mr.action[f] == MERGE_CONFLICT_PULL ? "remote" : "ledger"));
	/* when each side changed, at its source (what newest_wins compares):
	 * the ledger value's own change time (a pulled value: its tracker's),
	 * and this ticket's updated-at */
	char at[40];
	int64_t lms = op->row.field_ms[f] > 0 ? op->row.field_ms[f] : op->row.ledger_ms;
	ts_format(lms, at, sizeof(at));
	json_object_object_add(c, "ledger_changed_at", json_object_new_string(at));
	if (op->remote_ms > 0) {
		ts_format(op->remote_ms, at, sizeof(at));
		json_object_object_add(c, "remote_changed_at", json_object_new_string(at));
	}
	return c;
}

/* The ticket as we last wrote or read it (the push pass pushes what the
 * ledger changed since). */
static bool op_is_echo(const struct rec_op *op)
{
	if (op->kind != REC_OP_PULL || !op->row.has_remote_ms || !op->row.has_base ||
	    op->remote_ms != op->row.remote_ms)
		return false;
	struct item_fields held; /* compared as the base is stored */
	base_as_held(op, &op->rcanon, &held);
	bool same = item_fields_diff(&held, &op->row.base) == 0;
	item_fields_free(&held);
	return same;
}

/* A field the ticket does not say (conn_remote.unread_mask: GitHub's body
 * block deleted, or a due date that is not a date) is no remote change:
 * the remote is taken to hold the base (the ledger's value with no base). */
static void remote_unread_as_base(struct rec_op *op, struct item_fields *canon)
{
	op->never_held = 0;
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		unsigned bit = ITEM_FIELD_BIT(f);
		if (op->remote.unread_mask & bit) {
			item_fields_set(canon, f, op->row.has_base ? op->row.base.v[f] : op->row.ledger.v[f]);
		} else if (!op->row.has_base && !canon->v[f] && op->row.ledger.v[f]) {
			/* first contact (an adopted ticket): a field the ticket never
			 * held (no priority label, nobody assigned) is no remote
			 * change; the ledger's value is pushed */
			item_fields_set(canon, f, op->row.ledger.v[f]);
			op->never_held |= bit;
		}
	}
}

/* Fields pushed whatever the merge says, so the ticket holds them again as
 * closeloop writes them: a broken or copied block (repair_mask), on a
 * ticket closeloop created (it has a create token) a block deleted on the
 * tracker (unread_mask), and on first contact what the ticket never held.  The push carries the merged value: the
 * ledger's, since the remote was taken to hold the base. */
static unsigned remote_repair_mask(const struct rec_op *op)
{
	if (!op->has_remote)
		return 0;
	return op->remote.repair_mask | (op->row.token ? op->remote.unread_mask : 0) | op->never_held;
}

/* Merge what we know and decide the next step: the planner (plan.h)
 * decides, this driver carries it out. */
static void op_decide(struct rec_op *op)
{
	const struct rec_engine_view *e = op_engine(op);
	const struct rec_link_ctx *lc = op->t->lc;
	bool first = op->conflicts == NULL;
	struct item_fields canon;
	struct rec_plan plan;

	item_fields_init(&canon);
	if (op->has_remote) {
		rec_canon_remote(lc->idmap, &op->remote.fields, &op->row.ledger, &canon);
		remote_unread_as_base(op, &canon);
		if (!op->remote.updated_at || ts_parse(op->remote.updated_at, &op->remote_ms) < 0)
			op->remote_ms = 0;
	} else {
		item_fields_copy(&canon, &op->row.base); /* assume unchanged */
		op->remote_ms = 0;
	}
	int64_t now = ts_now_ms();
	if (rec_refusals_prune(&op->row.refused, &op->row.ledger, now))
		op->refused_dirty = true;
	struct rec_plan_in in = {
		.ledger = &op->row.ledger, .base = op->row.has_base ? &op->row.base : NULL,
		.remote = &canon, .policy = lc->policy,
		.ledger_ms = op->row.ledger_ms, .remote_ms = op->remote_ms,
		.ledger_field_ms = op->row.field_ms,
		.ctype = lc->ctype, .refused = &op->row.refused, .now_ms = now,
	};
	rec_plan_item(&in, &plan);
	item_fields_free(&canon);
	item_fields_free(&op->rcanon);
	op->rcanon = plan.remote; /* moved */
	item_fields_init(&plan.remote);
	if (op->has_mr)
		merge_result_free(&op->mr);
	op->mr = plan.mr;         /* moved */
	op->has_mr = true;
	op->held_mask = plan.held_mask;
	op->mr.push_mask |= remote_repair_mask(op);
	if (op_is_echo(op) && !op->refused_dirty) {
		op_finish(op);
		return;
	}
	if (first) {
		op->conflicts = json_object_new_array();
		op->conflict_mask = op->mr.conflict_mask;
		for (int f = 0; f < ITEM_F__COUNT; f++)
			if (op->mr.conflict_mask & ITEM_FIELD_BIT(f))
				json_object_array_add(op->conflicts, conflict_json(op, f));
	}
	if (e->dry_run) {
		op_plan(op);
		op_finish(op);
		return;
	}
	if (op->mr.push_mask && op->call != REC_CALL_UPDATE) {
		op_call(op, REC_CALL_UPDATE);
		return;
	}
	if (op->mr.push_mask)
		op_log(LOG_LVL_DEBUG, op, "%s kept other values after the update", op_key(op));
	op_apply(op);
}

static void op_on_reload(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	struct rec_row row;
	UNUSED(db);
	if (err || PQntuples(res) != 1) {
		op_link_error(op, "re-read of", err ? err : "link vanished", true);
		return;
	}
	if (rec_row_parse(res, 0, &row) < 0) {
		rec_row_free(&row);
		op_link_error(op, "re-read of", "unreadable row", true);
		return;
	}
	/* keep the reference columns (an adoption) */
	row.ref_id = op->row.ref_id;
	row.ref_remote_id = op->row.ref_remote_id;
	row.ref_key = op->row.ref_key;
	row.ref_state = op->row.ref_state;
	op->row.ref_remote_id = op->row.ref_key = op->row.ref_state = NULL;
	if (op->refused_dirty) { /* refusals noted since the read: keep them */
		struct rec_refusals keep = op->row.refused;
		op->row.refused = row.refused;
		row.refused = keep;
	}
	rec_row_free(&op->row);
	op->row = row;
	op->call = REC_CALL_NONE;
	if (op->conflicts)
		json_object_put(op->conflicts);
	op->conflicts = NULL; /* a new decision on the new ledger values */
	op_decide(op);
}

/* The outcome of an op's closeloop_rec_apply, alone or in a batch
 * (rec_apply.c): err set, or written false when the item changed since it
 * was read (nothing was written: re-read and merge again). */
void rec_op_applied(struct rec_op *op, const char *err, bool written)
{
	struct rec_target *t = op->t;
	char id[24];
	if (err) {
		rec_target_pin(t, op->remote_ms);
		op_link_error(op, "ledger write for", err, true);
		return;
	}
	if (!written) {
		if (++op->reloads > REC_MAX_RELOADS) {
			rec_target_pin(t, op->remote_ms);
			op_link_error(op, "ledger write for", "item kept changing; retried next cycle", false);
			return;
		}
		op_set_state(op, REC_OP_RELOAD);
		snprintf(id, sizeof(id), "%lld", op->row.link_id);
		const char *p[] = { id };
		if (rec_lc_query(t->lc, REC_SQL_RELOAD, 1, p, op_on_reload, op) < 0)
			op_link_error(op, "re-read of", "ledger closed", false);
		return;
	}
	t->ledger_writes++;
	if (op->mr.pull_mask)
		t->pulled++;
	t->conflicts += popcount(op->conflict_mask);
	if (op->kind == REC_OP_ADOPT_TOKEN || op->kind == REC_OP_ADOPT_REF)
		t->adopted++;
	op_finish(op);
}

static void op_on_apply(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	rec_op_applied(arg, err, !err && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0));
}

void rec_apply_args_init(struct rec_apply_args *a, const struct rec_op *op)
{
	const struct rec_link_ctx *lc = op->t->lc;
	const struct conn_remote *r = op->has_remote ? &op->remote : NULL;
	a->pull = rec_fields_json(&op->mr.merged, op->mr.pull_mask);
	struct item_fields base;
	base_as_held(op, &op->mr.merged, &base);
	a->base = rec_fields_json(&base, ITEM_FIELDS_ALL);
	item_fields_free(&base);
	a->conf = xstrdup(op->conflicts ? json_object_to_json_string_ext(op->conflicts,
	                                                                  JSON_C_TO_STRING_PLAIN) : "[]");
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
	};
	memcpy(a->p, p, sizeof(p));
}

void rec_apply_args_free(struct rec_apply_args *a)
{
	free(a->pull);
	free(a->base);
	free(a->conf);
	free(a->refused);
}

void rec_op_apply_one(struct rec_op *op)
{
	struct rec_apply_args a;
	rec_apply_args_init(&a, op);
	int rc = rec_lc_query(op->t->lc, REC_SQL_APPLY, REC_APPLY_NARGS, a.p, op_on_apply, op);
	rec_apply_args_free(&a);
	if (rc < 0)
		op_link_error(op, "ledger write for", "ledger closed", false);
}

/* One statement per link, or a place in the target's batch while a page's
 * ops are being started (rec_apply.c). */
static void op_apply(struct rec_op *op)
{
	op_set_state(op, REC_OP_APPLY);
	if (op->t->apply_hold > 0)
		rec_apply_add(op);
	else
		rec_op_apply_one(op);
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

static void op_recover(struct rec_op *op)
{
	const struct rec_engine_view *e = op_engine(op);
	const struct rec_link_ctx *lc = op->t->lc;
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
			op_finish(op);
			return;
		}
		op_call(op, REC_CALL_CREATE);
		return;
	}
	if (age < lc->create_min_age_ms) {
		op->t->recover_waiting++;
		op_log(LOG_LVL_DEBUG, op, "create intent %lld s old: not sent "
		         "again before %lld s", (long long)(age / 1000),
		         (long long)(lc->create_min_age_ms / 1000));
		op_finish(op);
		return;
	}
	if (e->dry_run) {
		FILE *f = e->plan_out ? e->plan_out : stdout;
		fprintf(f, "create  %s  item %lld \"%s\"  (again: intent not found%s)\n", op->t->target,
		        op->row.item_id, op->row.ledger.v[ITEM_F_TITLE] ? op->row.ledger.v[ITEM_F_TITLE] : "",
		        c->ops->find_by_token ? "; token search first" : "");
		op_finish(op);
		return;
	}
	op_call(op, c->ops->find_by_token && op->row.token ? REC_CALL_FIND : REC_CALL_CREATE);
}

void rec_op_start(struct rec_op *op)
{
	const struct rec_engine_view *e = op_engine(op);
	FILE *f = e->plan_out ? e->plan_out : stdout;
	op->t->active++;
	switch (op->kind) {
	case REC_OP_PULL:
	case REC_OP_ADOPT_TOKEN:
		op_decide(op);
		break;
	case REC_OP_PUSH:
		if (op->row.has_base) {
			op_decide(op);
		} else if (e->dry_run) {
			fprintf(f, "push    %s  item %lld  (no base: fetch and merge by policy)\n",
			        op_key(op), op->row.item_id);
			op_finish(op);
		} else {
			op_call(op, REC_CALL_FETCH);
		}
		break;
	case REC_OP_ADOPT_REF:
		op->row.link_id = op->row.ref_id;
		if (e->dry_run) {
			fprintf(f, "adopt   %s item %lld\n", op->row.ref_key ? op->row.ref_key : "?",
			        op->row.item_id);
			op_finish(op);
		} else {
			op_call(op, REC_CALL_FETCH);
		}
		break;
	case REC_OP_RECOVER:
		op_recover(op);
		break;
	case REC_OP_CREATE:
		if (e->dry_run) {
			fprintf(f, "create  %s  item %lld \"%s\"\n", op->t->target, op->row.item_id,
			        op->row.ledger.v[ITEM_F_TITLE] ? op->row.ledger.v[ITEM_F_TITLE] : "");
			op_finish(op);
		} else {
			op_call(op, REC_CALL_CREATE);
		}
		break;
	default:
		abort();
	}
}
