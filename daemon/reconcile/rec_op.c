/* rec_op.c — the core of the per-link work (see rec_link.h "the op
 * core"): an op's life (one function changes its state), its log lines
 * and dry-run plan, the ledger writes other than the merge (a link error,
 * a broken link), and the tracker calls, reads gated to max_inflight per
 * pass and writes handed to the connector's paced queue.  Everything
 * above it (rec_link.c, rec_create.c, rec_answer.c, rec_apply.c) calls
 * down into it; it calls nothing of theirs: a tracker answer goes to the
 * op's own on_answer (set by rec_op_start, rec_link.c).
 *
 * Entry points (rec_op_start, tracker and database callbacks) keep the
 * target alive: the caller of rec_op_start holds a reference in t->active,
 * tracker callbacks take one for their duration, and a database callback
 * is covered by its op until rec_op_finish(), which is always the last
 * thing done with an op.
 */
#include "rec_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "plan.h"

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

const struct rec_engine_view *rec_op_engine(const struct rec_op *op)
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
	case REC_OP_CLAIM: return "claim";
	case REC_OP_DONE: return "done";
	default: abort();
	}
}

/* The one place an op changes state; refuses impossible transitions. */
void rec_op_set_state(struct rec_op *op, enum rec_op_state next)
{
	bool ok;
	switch (op->state) {
	case REC_OP_NEW:
	case REC_OP_APPLY:
	case REC_OP_RELOAD:
	case REC_OP_CLAIM:
		ok = next != REC_OP_NEW;
		break;
	case REC_OP_WAIT_SLOT:
		ok = next == REC_OP_REMOTE || next == REC_OP_DONE;
		break;
	case REC_OP_REMOTE:
		ok = next == REC_OP_APPLY || next == REC_OP_DONE || next == REC_OP_REMOTE ||
		     next == REC_OP_WAIT_SLOT || next == REC_OP_CLAIM || next == REC_OP_RELOAD;
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
	if (op->claim_key) {
		LIST_REMOVE(op, claim_link);
		free(op->claim_key);
	}
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
void rec_op_finish(struct rec_op *op)
{
	struct rec_target *t = op->t;
	rec_op_set_state(op, REC_OP_DONE);
	op_free(op);
	rec_target_op_done(t);
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
const char *rec_op_ticket(const struct rec_op *op)
{
	if (op->has_remote && op->remote.key)
		return op->remote.key;
	return op->row.remote_key;
}

const char *rec_op_key(const struct rec_op *op)
{
	const char *k = rec_op_ticket(op);
	return k ? k : op->t->target;
}

void rec_op_plan(const struct rec_op *op)
{
	FILE *f = rec_op_engine(op)->plan_out ? rec_op_engine(op)->plan_out : stdout;
	const enum cfg_policy *pol = op->t->lc->policy;
	long long id = op->row.item_id;
	char a[96], b[96];

	if (op->kind == REC_OP_ADOPT_TOKEN)
		fprintf(f, "adopt   %s item %lld\n", rec_op_key(op), id);
	if (!op->has_mr)
		return;
	for (int i = 0; i < ITEM_F__COUNT; i++) {
		const char *name = item_field_name(i);
		if (op->held_mask & ITEM_FIELD_BIT(i)) {
			const struct rec_refusal *rf = &op->row.refused.f[i];
			plan_value(a, sizeof(a), op->row.ledger.v[i]);
			fprintf(f, "held    %s  item %lld  %s: %s  (%s)\n", rec_op_key(op), id, name, a,
			        rf->set ? rf->reason : "the tracker does not take this field");
			continue;
		}
		switch (op->mr.action[i]) {
		case MERGE_SAME:
			break;
		case MERGE_PULL:
			plan_value(a, sizeof(a), op->row.ledger.v[i]);
			plan_value(b, sizeof(b), op->mr.merged.v[i]);
			fprintf(f, "pull    item %lld  %s: %s -> %s  from %s\n", id, name, a, b, rec_op_key(op));
			break;
		case MERGE_PUSH:
			plan_value(a, sizeof(a), op->rcanon.v[i]);
			plan_value(b, sizeof(b), op->mr.merged.v[i]);
			fprintf(f, "push    %s  item %lld  %s: %s -> %s\n", rec_op_key(op), id, name, a, b);
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
	rec_op_finish(op);
}

void rec_op_write(struct rec_op *op, const char *sql, int n, const char *const *p)
{
	rec_op_set_state(op, REC_OP_APPLY);
	if (rec_lc_query(op->t->lc, sql, n, p, op_on_simple_write, op) < 0) {
		op_log(LOG_LVL_ERROR, op, "ledger closed or reconnected, write skipped");
		op->t->errors++;
		rec_op_finish(op);
	}
}

/* A failure on this link: note it (count = false for an unknown create
 * outcome, which is not the link's fault) and go on with the others.
 * external_link.last_error and a broken link's detail hold the tracker's
 * error text, which can echo what it was sent, a token included: stored
 * masked the way the log masks it (log_redact). */
void rec_op_link_error(struct rec_op *op, const char *what, const char *msg, bool count)
{
	char cnt[2] = { count ? '1' : '0', 0 };
	char id[24];
	op->t->errors++;
	op->t->link_errors++;
	op_log(LOG_LVL_WARN, op, "%s %s: %s", what,
	         rec_op_key(op), msg ? msg : "failed");
	if (rec_op_engine(op)->dry_run || !op->row.link_id) {
		rec_op_finish(op);
		return;
	}
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	char *safe = log_redact(msg ? msg : what);
	/* an update that failed may still have been carried out (its answer
	 * lost, or a later step of it failing): the values it sent are kept
	 * until the next merge write, which reads them as closeloop's own
	 * (sql/045_link_unconfirmed.sql, plan.h) */
	unsigned mask = op->has_mr ? op->mr.push_mask & ~op->mr.pull_mask : 0;
	char *sent = op->call == REC_CALL_UPDATE && mask ? rec_fields_json(&op->mr.merged, mask) : NULL;
	const char *p[] = { id, safe, cnt, op->t->lc->source, sent };
	rec_op_write(op, REC_SQL_LINK_ERROR, 5, p);
	free(sent);
	free(safe);
}

void rec_op_broken(struct rec_op *op, const char *reason, const char *msg)
{
	char id[24];
	op->t->broken++;
	op_log(LOG_LVL_WARN, op, "ticket %s is %s: link broken, item left as it is", rec_op_key(op), reason);
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	char *safe = log_redact(msg ? msg : reason);
	const char *p[] = { id, reason, safe, op->t->lc->source };
	rec_op_write(op, REC_SQL_BROKEN, 4, p);
	free(safe);
}

void rec_op_claimed(struct rec_op *op, const char *other_item, const char *other_target,
                    const char *other_conn)
{
	const struct rec_link_ctx *lc = op->t->lc;
	char id[24];
	op->t->broken++;
	char *msg = xasprintf("%s is item %s's ticket in %s (target %s) already: item %lld names it "
	                      "too and is not linked to it (one ticket, one item); name it in one "
	                      "item only", op->remote.key ? op->remote.key : rec_op_key(op),
	                      other_item, other_conn, other_target, op->row.item_id);
	op_log(LOG_LVL_WARN, op, "%s: reference claimed, left broken", msg);
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	char *safe = log_redact(msg);
	const char *p[] = { id, "claimed", safe, lc->source };
	rec_op_write(op, REC_SQL_BROKEN, 4, p);
	free(safe);
	free(msg);
}

bool rec_op_release_intent(struct rec_op *op)
{
	const struct rec_link_ctx *lc = op->t->lc;
	char id[24];
	if (op->kind != REC_OP_CREATE || op->call != REC_CALL_CREATE || !op->row.link_id ||
	    rec_op_engine(op)->dry_run || !lc->locked(lc->owner))
		return false;
	op->t->creates_deferred++;
	op_log(LOG_LVL_INFO, op, "create never reached %s: its intent is given back, a later "
	       "cycle creates it", op->t->target);
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	const char *p[] = { id };
	rec_op_write(op, REC_SQL_INTENT_RELEASE, 1, p);
	return true;
}

/* ---- tracker calls, gated to max_inflight ---- */

/* Writes go to the connector's paced write queue (connectors/pace.h),
 * which lets them out one at a time within the tracker's limits: they are
 * not gated here, so the queue (and /metrics, `closeloop status`) sees
 * every write waiting, and reads never wait behind writes. */
bool rec_call_paced(enum rec_call call)
{
	return call == REC_CALL_CREATE || call == REC_CALL_UPDATE;
}

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
	/* the read before a push is conditional: the link's etag is that of
	 * the ticket's last GET or write answer, stored with the base it
	 * gave, so a 304 says the ticket is still as the base says */
	if (op->kind == REC_OP_PUSH && op->call == REC_CALL_FETCH && !op->has_remote)
		ref->etag = op->row.etag;
}

/* ---- token searches, paced per connector ---- */

/* A search counts against the minute for this long (GitHub's window is a
 * minute; a second of slack for the clocks). */
#define REC_SEARCH_WINDOW_MS 61000
/* At least this long after a search was answered with its rate limit. */
#define REC_SEARCH_BLOCK_MIN_MS 60000

bool rec_search_take(const struct rec_link_ctx *lc, int64_t now_ms)
{
	struct rec_search_pace *s = lc->search;
	if (!s)
		return true;
	if (now_ms < s->blocked_until_ms)
		return false;
	int max = lc->conn->searches_per_minute > 0 ? lc->conn->searches_per_minute :
	          CONN_SEARCHES_PER_MINUTE;
	if (max > REC_SEARCH_LOG_MAX)
		max = REC_SEARCH_LOG_MAX;
	while (s->n > 0 && s->log[s->head] <= now_ms - REC_SEARCH_WINDOW_MS) {
		s->head = (s->head + 1) % REC_SEARCH_LOG_MAX;
		s->n--;
	}
	if (s->n >= max)
		return false;
	s->log[(s->head + s->n) % REC_SEARCH_LOG_MAX] = now_ms;
	s->n++;
	return true;
}

void rec_search_block(const struct rec_link_ctx *lc, int64_t now_ms, int64_t retry_after_ms)
{
	struct rec_search_pace *s = lc->search;
	int64_t until = now_ms + (retry_after_ms > REC_SEARCH_BLOCK_MIN_MS ? retry_after_ms :
	                          REC_SEARCH_BLOCK_MIN_MS);
	if (s && until > s->blocked_until_ms)
		s->blocked_until_ms = until;
}

static int op_issue(struct rec_op *op)
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

	if (op->call == REC_CALL_FIND && !rec_search_take(t->lc, ts_now_ms())) {
		/* the connector's searches are spent for now: the link stays
		 * 'creating' and a later cycle searches for it */
		t->recover_waiting++;
		op_log(LOG_LVL_DEBUG, op, "token search waits for the connector's search budget");
		rec_op_finish(op);
		return 0;
	}
	item_fields_init(&want);
	op_ref(op, &ref);
	rec_op_set_state(op, REC_OP_REMOTE);
	if (!rec_call_paced(op->call))
		t->remote_inflight++;
	switch (op->call) {
	case REC_CALL_FETCH:
		rc = c->ops->fetch(c, t->target, &ref, op->on_answer, op);
		break;
	case REC_CALL_TIMES:
		rc = c->ops->fetch_times(c, t->target, &ref, op->on_answer, op);
		break;
	case REC_CALL_UPDATE:
		rec_to_tracker(idm, &op->mr.merged, &want);
		rc = c->ops->update(c, t->target, &ref, &want, op->mr.push_mask, &ctx, op->on_answer, op);
		break;
	case REC_CALL_CREATE:
		rec_to_tracker(idm, &op->row.ledger, &want);
		rc = c->ops->create(c, t->target, &want, &ctx, op->on_answer, op);
		break;
	case REC_CALL_FIND:
		rc = c->ops->find_by_token(c, t->target, op->row.token, op->on_answer, op);
		break;
	default:
		abort();
	}
	item_fields_free(&want);
	if (rc == 0)
		t->calls_out++; /* its answer comes to op->on_answer, which counts it down */
	if (rc < 0) {
		if (!rec_call_paced(op->call))
			t->remote_inflight--;
		if (op->call == REC_CALL_CREATE)
			t->creates_out--;
		if (!rec_op_release_intent(op))
			rec_op_link_error(op, "tracker call", strerror(-rc), false);
	}
	return rc;
}

int rec_op_call(struct rec_op *op, enum rec_call call)
{
	struct rec_target *t = op->t;
	op->call = call;
	if (t->stop_rate || t->stop_auth || rec_op_engine(op)->cancelled ||
	    (!rec_op_engine(op)->dry_run && !t->lc->locked(t->lc->owner))) {
		rec_target_pin(t, op->remote_ms);
		if (!rec_op_release_intent(op))
			rec_op_finish(op);
		return 0;
	}
	if (call == REC_CALL_CREATE)
		t->creates_out++;
	if (!rec_call_paced(call) && t->remote_inflight >= t->lc->max_inflight) {
		rec_op_set_state(op, REC_OP_WAIT_SLOT);
		STAILQ_INSERT_TAIL(&t->wait, op, wait_link);
		return 0;
	}
	return op_issue(op);
}

void rec_op_slot_release(struct rec_target *t)
{
	t->remote_inflight--;
	while (!STAILQ_EMPTY(&t->wait) && t->remote_inflight < t->lc->max_inflight) {
		struct rec_op *op = STAILQ_FIRST(&t->wait);
		STAILQ_REMOVE_HEAD(&t->wait, wait_link);
		if (t->stop_rate || t->stop_auth || rec_op_engine(op)->cancelled ||
		    !t->lc->locked(t->lc->owner)) {
			if (op->call == REC_CALL_CREATE)
				t->creates_out--;
			rec_target_pin(t, op->remote_ms);
			rec_op_finish(op);
		} else {
			(void)op_issue(op); /* a failed start ended the op (its caller flushes) */
		}
	}
}

/* The base records what the tracker holds.  A ticket nobody is assigned
 * to holds no owner, even when the ledger's owner stood in for it (an
 * owner with no login in the directory, rec_canon_remote): the base keeps
 * NULL, so once the directory gives the login, the unassigned ticket
 * reads as unchanged and the ledger's owner is pushed, never cleared.
 * Writes a copy of f with that applied into out. */
void rec_op_base_as_held(const struct rec_op *op, const struct item_fields *f,
                         struct item_fields *out)
{
	item_fields_init(out);
	item_fields_copy(out, f);
	if (op->has_remote && !op->remote.fields.v[ITEM_F_OWNER])
		item_fields_set(out, ITEM_F_OWNER, NULL);
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
	dst->changed_mask = src->changed_mask;
	memcpy(dst->field_ms, src->field_ms, sizeof(dst->field_ms));
	dst->discover = src->discover;
	dst->refs = xstrdup(src->refs);
}

