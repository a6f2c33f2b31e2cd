/* rec_link.c — the driver of the reconcile work on one link (see
 * rec_link.h).
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
 * This file carries an op through those steps: it asks the planner
 * (plan.h) for the field-level plan and acts on it, and it receives the
 * tracker's answers and the ledger write's outcome.  The steps themselves
 * are below it: the op core (rec_op.c: state, log, simple writes, tracker
 * calls), creates and their recovery (rec_create.c), refusals and failed
 * answers (rec_answer.c), the merge write (rec_apply.c).  None of them
 * calls back into this file except through the op's on_answer and
 * applied pointers, set here.  See rec_op.c for how the target is kept
 * alive.
 */
#include "rec_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "plan.h"

#define REC_MAX_RELOADS 3
/* A push in a full pass trusts the pass's own listing for this long after
 * it began: a ticket that listing did not show was not edited before it,
 * so the push needs no read first (op_listing_covers).  About the time a
 * read before the write leaves open anyway (read, queue, PATCH). */
#define REC_LIST_FRESH_MS 10000

static void op_decide(struct rec_op *op);
static void op_apply(struct rec_op *op);

static unsigned popcount(unsigned m)
{
	return (unsigned)__builtin_popcount(m);
}

/* A call that did not start ended its op: a create batch may be complete. */
static void op_call(struct rec_op *op, enum rec_call call)
{
	struct rec_target *t = op->t;
	if (rec_op_call(op, call) < 0)
		rec_created_flush_maybe(t);
}

static void op_after_update(struct rec_op *op)
{
	op->t->pushed_fields += popcount(op->mr.push_mask);
	merge_result_free(&op->mr);
	op->has_mr = false;
	/* conflicts stay those of the first decision */
	op_decide(op);
}

static void op_on_claimed(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	UNUSED(db);
	if (err)
		rec_op_link_error(op, "claim check of", err, false);
	else if (PQntuples(res) == 1)
		rec_op_claimed(op, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	else
		op_decide(op);
}

/* An adopted reference's ticket, fetched: is it another item's already?
 * (Two items of a postmortem naming PRB0040001, or one issue; or a team
 * routed to two ServiceNow connectors of one instance and table, both
 * taking its bare number.)  Asked before anything is merged or written to
 * the ticket.  An adoption of the same ticket in flight in this process
 * (any connector of the claim group) leaves this one to the next pass,
 * which finds the first's link in the ledger (REC_SQL_CLAIMED). */
static void op_claim_check(struct rec_op *op)
{
	const struct rec_link_ctx *lc = op->t->lc;
	const char *rid = op->remote.remote_id;
	op->claim_checked = true;
	if (!rid || !lc->claims) {
		op_decide(op);
		return;
	}
	char *key = xasprintf("%s\n%s", lc->claim_group, rid);
	struct rec_op *o;
	LIST_FOREACH(o, lc->claims, claim_link) {
		if (strcmp(o->claim_key, key) == 0) {
			op_log(LOG_LVL_INFO, op, "%s is being adopted for item %lld by %s: this "
			       "adoption waits for the next pass", rec_op_key(op), o->row.item_id,
			       o->t->lc->name);
			free(key);
			rec_op_finish(op);
			return;
		}
	}
	op->claim_key = key;
	LIST_INSERT_HEAD(lc->claims, op, claim_link);
	char id[24];
	snprintf(id, sizeof(id), "%lld", op->row.link_id);
	const char *p[] = { lc->claim_peers, rid, id };
	rec_op_set_state(op, REC_OP_CLAIM);
	if (rec_lc_query(lc, REC_SQL_CLAIMED, 3, p, op_on_claimed, op) < 0)
		rec_op_link_error(op, "claim check of", "ledger closed", false);
}

static void op_remote_ok(struct rec_op *op, const struct conn_result *res,
                         const struct conn_remote *r)
{
	if ((op->call == REC_CALL_UPDATE || op->call == REC_CALL_CREATE) && res->refused_mask)
		rec_op_note_refused(op, res);
	if (op->call == REC_CALL_UPDATE && op->has_mr)
		op->pushed_mask |= op->mr.push_mask & ~res->refused_mask;
	rec_remote_copy(&op->remote, r);
	op->has_remote = true;
	switch (op->call) {
	case REC_CALL_TIMES:
		op->times_read = true;
		/* fall through */
	case REC_CALL_FETCH:
		if (op->kind == REC_OP_ADOPT_REF && !op->claim_checked)
			op_claim_check(op);
		else
			op_decide(op);
		break;
	case REC_CALL_UPDATE:
		op_after_update(op);
		break;
	case REC_CALL_CREATE:
		if (res->status == CONN_MOVED)
			rec_op_create_moved(op);
		else
			rec_op_created(op);
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

static void op_on_remote(struct connector *c, const struct conn_result *res,
                         const struct conn_remote *remote, void *arg)
{
	struct rec_op *op = arg;
	struct rec_target *t = op->t;
	bool paced = rec_call_paced(op->call); /* the answer may start another call */
	UNUSED(c);
	t->active++; /* keep t while the wait queue moves on */
	if (op->call == REC_CALL_CREATE)
		t->creates_out--;
	if ((res->status == CONN_OK || (res->status == CONN_MOVED && op->call == REC_CALL_CREATE)) &&
	    remote) {
		op_remote_ok(op, res, remote);
	} else if (res->status == CONN_NOT_MODIFIED && op->call == REC_CALL_FETCH &&
	           op->kind == REC_OP_PUSH && !op->has_remote) {
		/* the conditional read before a push: unchanged since the link's
		 * etag (GitHub: a 304 does not count against the rate limit) */
		op->remote_unchanged = true;
		op->call = REC_CALL_NONE;
		op_decide(op);
	} else if (res->status == CONN_MOVED && remote &&
	           (op->call == REC_CALL_FETCH || op->call == REC_CALL_TIMES ||
	            op->call == REC_CALL_UPDATE)) {
		rec_op_moved(op, res, remote);
	} else {
		rec_op_remote_failed(op, res);
	}
	if (!paced)
		rec_op_slot_release(t);
	rec_created_flush_maybe(t);
	/* counted down last: the ledger write this answer led to, and those
	 * of the calls the slot release started, may still join the batch */
	t->calls_out--;
	rec_apply_flush_maybe(t);
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
	 * and the ticket's: the field's own from the tracker's history
	 * (fetch_times), else the ticket's updated-at */
	char at[40];
	int64_t lms = op->row.field_ms[f] > 0 ? op->row.field_ms[f] : op->row.ledger_ms;
	int64_t rms = op->has_remote && op->remote.field_ms[f] > 0 ? op->remote.field_ms[f] :
	              op->remote_ms;
	ts_format(lms, at, sizeof(at));
	json_object_object_add(c, "ledger_changed_at", json_object_new_string(at));
	if (rms > 0) {
		ts_format(rms, at, sizeof(at));
		json_object_object_add(c, "remote_changed_at", json_object_new_string(at));
	}
	json_object_object_add(c, "remote_time", json_object_new_string(
		op->has_remote && op->remote.field_ms[f] > 0 ? "field" : "ticket"));
	return c;
}

/* The ticket as we last wrote or read it (the push pass pushes what the
 * ledger changed since). */
static bool op_is_echo(const struct rec_op *op)
{
	/* values a failed update sent are cleared by the merge write */
	if (op->kind != REC_OP_PULL || !op->row.has_remote_ms || !op->row.has_base ||
	    op->remote_ms != op->row.remote_ms || op->row.unconfirmed_mask)
		return false;
	struct item_fields held; /* compared as the base is stored */
	rec_op_base_as_held(op, &op->rcanon, &held);
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

/* What the create request alone leaves of op's intent, for a ticket found
 * by its create token: *made = conn_ops.created_as of the base (the
 * intent's values; the caller frees it), *filled = the fields the tracker
 * fills in.  False (nothing set) for any other op or connector. */
static bool adopt_made(const struct rec_op *op, struct item_fields *made, unsigned *filled)
{
	const struct connector *c = op->t->lc->conn;
	if (op->kind != REC_OP_ADOPT_TOKEN || !op->row.has_base || !c->ops->created_as)
		return false;
	item_fields_init(made);
	item_fields_copy(made, &op->row.base);
	*filled = c->ops->created_as(c, made);
	return true;
}

/* The fields of op's intent that the create request alone leaves other
 * than sent, for a later step of the create to set (Jira's transition out
 * of its first status, GitHub's close): conn_ops.created_as of the
 * intent's values, less the fields the tracker fills in. */
static unsigned adopt_follow_up_mask(const struct rec_op *op)
{
	struct item_fields made;
	unsigned filled;
	if (!adopt_made(op, &made, &filled))
		return 0;
	unsigned mask = item_fields_diff(&made, &op->row.base) & ~filled;
	item_fields_free(&made);
	return mask;
}

/* A ticket found by its create token (the create's answer was lost):
 * closeloop made it, so it differs from the values the create sent where
 * the create's follow-up steps did not run (Jira's transition out of its
 * first status), where the tracker filled in what the create left out
 * (Jira's default priority) and where a person changed it since.  Its base
 * is therefore the ticket as the request that made it left it
 * (conn_ops.created_as of the intent's values, with the ticket's own
 * values of the fields the tracker filled in), not the intent's values:
 * the ledger's pending values are pushed, a person's change is pulled.
 * But a follow-up field the ticket's record says closeloop set after the
 * create (conn_remote.changed_mask: Jira's changelog entries by the
 * issue's creator) keeps the intent's value as its base: the follow-up
 * ran, so a ticket holding the create's first value again was put back
 * by a person, whose change is pulled (seed 2031 of the soak, issue 6:
 * Jira's issue moved into In Progress, the daemon killed before the
 * ledger knew, a person moving it back to To Do; the base To Do read it
 * as unchanged and In Progress was pushed over the person's edit).  A
 * person's change alone keeps the create's first value as the base: the
 * follow-up never ran, and a ledger value the ticket never held against
 * the person's is a conflict (seed 1851: a person closing the To Do
 * issue as Won't Do was pulled over the ledger's policy, unlogged).
 * Idempotent (op_decide runs again after an update or a re-read): a
 * field set to what the request left is left so again, a kept one is
 * kept again. */
static void adopt_base(struct rec_op *op, const struct item_fields *canon)
{
	struct item_fields made;
	unsigned filled;
	if (!adopt_made(op, &made, &filled))
		return;
	unsigned keep = op->has_remote ? op->remote.changed_mask & ~filled : 0;
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		if (filled & ITEM_FIELD_BIT(f))
			item_fields_set(&op->row.base, f, canon->v[f]);
		else if (!(keep & ITEM_FIELD_BIT(f)))
			item_fields_set(&op->row.base, f, made.v[f]);
	}
	item_fields_free(&made);
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

static void op_on_sending(struct rec_op *op, const char *err)
{
	if (err) {
		/* no tracker write without what it sends and its conflicts on record */
		rec_op_link_error(op, "recording the update of", err, false);
		return;
	}
	op->t->ledger_writes++;
	op->conflicts_written = true;
	op_call(op, REC_CALL_UPDATE);
}

/* Before an update goes to the tracker, one statement commits the values
 * it sends (external_link.unconfirmed) and the merge's conflicts (both
 * values, the policy, the choice; sql/031).  A daemon that dies after the
 * tracker carried out the update, before the merge write that records it
 * (which waits up to REC_APPLY_WAIT_MS in the target's batch, rec_apply.c),
 * has lost neither: the next merge reads the ticket holding the values
 * sent as closeloop's own write (plan.c merge_base), not as a person's
 * edit -- so a ledger edit made since is pushed, where remote_wins (or
 * newest_wins, the write being the later) gave the dead daemon's stale
 * value the win (seed 2153 of the soak, issue 6) -- and the conflicts are
 * on record though both sides are equal by then. */
static void op_before_update(struct rec_op *op)
{
	/* the ledger's values the update writes over the ticket's: a field
	 * the merge pulls (a person's edit, written back whole with a repaired
	 * body block) is not closeloop's change, and the ticket holding it
	 * must still read as the person's (seeds 2086 and 2726 of the soak on
	 * 7b35c7a: a block copied lower with a new due date, the repair cut
	 * short, and the ledger's older date pushed over it) */
	char *sent = rec_fields_json(&op->mr.merged, op->mr.push_mask & ~op->mr.pull_mask);
	const char *conf = op->conflicts && !op->conflicts_written ?
	                   json_object_to_json_string_ext(op->conflicts, JSON_C_TO_STRING_PLAIN) : "[]";
	rec_op_set_state(op, REC_OP_APPLY);
	op->sent_done = op_on_sending;
	rec_send_write(op, sent, conf);
	free(sent);
}

/* Whether this pass's listing proves that op's ticket, which it did not
 * show, is as the base says: a full pass whose listing of a consistent
 * tracker (connector.list_consistent: it shows every change committed
 * before the request) went through whole, not redirected, begun less than
 * REC_LIST_FRESH_MS ago.  A push-only pass (woken by a ledger edit) has
 * no listing and reads the ticket (conditionally, op_ref's etag). */
static bool op_listing_covers(const struct rec_op *op, int64_t now)
{
	const struct rec_target *t = op->t;
	return !t->pp->push_only && t->list_done && !t->list_failed && !t->list_moved &&
	       !t->has_min_fail && t->lc->conn->list_consistent &&
	       now - t->list_start_ms <= REC_LIST_FRESH_MS;
}

/* Whether op's first decision has a newest_wins conflict that the
 * tracker's field history (conn_ops.fetch_times) may decide on the
 * field's own change time, not yet read.  Only then is the history read:
 * a quiet cycle, a pull or a push costs nothing more. */
static bool op_wants_times(const struct rec_op *op)
{
	const struct rec_link_ctx *lc = op->t->lc;
	if (!op->has_remote || op->times_read || !lc->conn->ops->fetch_times)
		return false;
	for (int f = 0; f < ITEM_F__COUNT; f++)
		if ((op->mr.conflict_mask & ITEM_FIELD_BIT(f)) &&
		    lc->policy[f] == CFG_POLICY_NEWEST_WINS)
			return true;
	return false;
}

/* A conflict whose ticket value the ledger held after the ticket last
 * changed is no conflict: both sides held that value at once, an
 * agreement the link's base missed, and since then only the ledger
 * changed.  It happens when a merge that found both sides equal (a person
 * made the ticket what the ledger holds, or the ledger took the value
 * from another ticket of the item) never wrote its base: the daemon was
 * killed first, or the cycle was cut short.  Taken as a conflict, the
 * policy could give the ticket's older value the win over the ledger's
 * newer one, which is lost (seed 2671 of the soak, issue 6: a person's
 * owner edit on GitHub, pulled into the ledger, overwritten by the
 * ServiceNow problem's owner the ledger had held before it).
 *
 * The proof: the ledger left the ticket's value (item_event.old_value) at
 * a time at least REC_AGREED_AFTER_MS after the ticket's updated-at, which
 * is no earlier than the field's own change (GitHub and ServiceNow give
 * whole seconds, so the change may be up to a second later than it
 * says).  The ticket has held its value since before then, so both held
 * it for over a second before the ledger left it.  It assumes the
 * tracker's clock and the ledger's agree within that second.  The margin
 * is two seconds, not one, so that the ledger's edits of one moment (an
 * SRE's script, a round of the model-based test) that pass through the
 * ticket's value on their way elsewhere are still a conflict with the
 * ticket: an agreement is a state both sides stayed in. */
#define REC_AGREED_AFTER_MS 2000
static bool op_wants_left(const struct rec_op *op)
{
	return !op->left_read && op->has_remote && op->remote_ms > 0 && op->row.has_base &&
	       op->mr.conflict_mask != 0;
}

static void op_on_left(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	UNUSED(db);
	if (err) {
		rec_op_link_error(op, "reading the ledger's history of", err, false);
		return;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		int f = item_field_from_name(PQgetvalue(res, r, 0));
		const char *left = PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1);
		if (f < 0 || !(op->mr.conflict_mask & ITEM_FIELD_BIT(f)) ||
		    !str_eq(left, op->rcanon.v[f]))
			continue;
		op_log(LOG_LVL_DEBUG, op, "%s: %s held by the ledger after the ticket's last change: "
		       "agreed, not a conflict", rec_op_key(op), item_field_name(f));
		item_fields_set(&op->row.base, f, op->rcanon.v[f]);
	}
	op->call = REC_CALL_NONE;
	op_decide(op);
}

static void op_read_left(struct rec_op *op)
{
	const struct rec_link_ctx *lc = op->t->lc;
	struct buf names = { 0 };
	char id[24], since[24];
	int rc = 0;
	op->left_read = true;
	for (int f = 0; f < ITEM_F__COUNT && rc == 0; f++)
		if (op->mr.conflict_mask & ITEM_FIELD_BIT(f))
			rc = buf_appendf(&names, "%s%s", names.len ? "," : "{", item_field_name(f));
	if (rc < 0 || buf_append(&names, "}", 1) < 0) {
		buf_free(&names);
		rec_op_link_error(op, "reading the ledger's history of", "out of memory", false);
		return;
	}
	snprintf(id, sizeof(id), "%lld", op->row.item_id);
	snprintf(since, sizeof(since), "%lld", (long long)(op->remote_ms + REC_AGREED_AFTER_MS));
	const char *p[] = { id, names.data, since };
	rec_op_set_state(op, REC_OP_RELOAD);
	rc = rec_lc_query(lc, REC_SQL_LEDGER_LEFT, 3, p, op_on_left, op);
	buf_free(&names);
	if (rc < 0)
		rec_op_link_error(op, "reading the ledger's history of", "ledger closed", false);
}

/* Merge what we know and decide the next step: the planner (plan.h)
 * decides, this driver carries it out. */
static void op_decide(struct rec_op *op)
{
	const struct rec_engine_view *e = rec_op_engine(op);
	const struct rec_link_ctx *lc = op->t->lc;
	bool first = op->conflicts == NULL;
	struct item_fields canon;
	struct rec_plan plan;

	if (op->has_remote && !op->times_read && lc->conn->ops->fetch_times &&
	    adopt_follow_up_mask(op)) {
		/* whether the follow-up fields changed since the create is in
		 * the tracker's field history (adopt_base): read it first */
		op_call(op, REC_CALL_TIMES);
		return;
	}
	item_fields_init(&canon);
	if (op->has_remote) {
		rec_canon_remote(lc->idmap, &op->remote.fields, &op->row.ledger, &canon);
		remote_unread_as_base(op, &canon);
		adopt_base(op, &canon);
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
		.remote_field_ms = op->has_remote ? op->remote.field_ms : NULL,
		.ctype = lc->ctype, .refused = &op->row.refused, .now_ms = now,
		.unconfirmed = &op->row.unconfirmed, .unconfirmed_mask = op->row.unconfirmed_mask,
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
	if (first && op_wants_left(op)) {
		op_read_left(op); /* then decide again */
		return;
	}
	if (first && op_wants_times(op)) {
		/* a newest_wins conflict decided on the ticket's updated-at would
		 * take a later edit of another field for this field's: read the
		 * tracker's field history, then decide again */
		op_call(op, REC_CALL_TIMES);
		return;
	}
	if (op_is_echo(op) && !op->refused_dirty) {
		rec_op_finish(op);
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
		rec_op_plan(op);
		rec_op_finish(op);
		return;
	}
	if (op->mr.push_mask && !op->has_remote && !op->remote_unchanged &&
	    op->kind == REC_OP_PUSH && op_listing_covers(op, now)) {
		op->remote_unchanged = true;
		op_log(LOG_LVL_DEBUG, op, "%s not in this pass's listing: pushed without a read",
		       rec_op_key(op));
	}
	if (op->mr.push_mask && !op->has_remote && !op->remote_unchanged &&
	    op->kind == REC_OP_PUSH) {
		/* decided on the ticket as last seen (the base): a person may
		 * have changed it since the last listing, and a write now would
		 * overwrite that unseen.  Read it (conditional on the link's
		 * etag: a 304 proves it unchanged), then merge again (a
		 * conflict is then decided by the policy and logged). */
		json_object_put(op->conflicts);
		op->conflicts = NULL;
		op_call(op, REC_CALL_FETCH);
		return;
	}
	if (op->mr.push_mask && op->call != REC_CALL_UPDATE) {
		op_before_update(op); /* then the update */
		return;
	}
	if (op->mr.push_mask)
		op_log(LOG_LVL_DEBUG, op, "%s kept other values after the update", rec_op_key(op));
	op_apply(op);
}

/* The item changed while this op's update was out (an SRE's SQL, or the
 * item's ticket in another tracker pulled): the re-read row's base is the
 * one before the update, but the ticket now holds what the update wrote.
 * That is closeloop's own write, not a person's edit: the base of the
 * fields it carried becomes the value written, as the merge write would
 * have stored it (the base as held), so the ledger's newer value reads as
 * the ledger's change alone and is pushed.  With the old base the ticket
 * read as changed too, a conflict the policy could give to the stale
 * write (remote_wins, or newest_wins on the update's own change time).
 * Fields the update did not carry, a change pulled from the ticket among
 * them, keep the old base: the merge still sees them as the ticket's. */
static void base_as_pushed(const struct rec_op *op, struct rec_row *row)
{
	if (!op->has_mr || !row->has_base)
		return;
	unsigned mask = op->pushed_mask & ~op->mr.push_mask; /* the ticket kept them */
	if (!mask)
		return;
	struct item_fields held;
	rec_op_base_as_held(op, &op->mr.merged, &held);
	for (int f = 0; f < ITEM_F__COUNT; f++)
		if (mask & ITEM_FIELD_BIT(f))
			item_fields_set(&row->base, f, held.v[f]);
	item_fields_free(&held);
}

static void op_on_reload(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	struct rec_row row;
	UNUSED(db);
	if (err || PQntuples(res) != 1) {
		rec_op_link_error(op, "re-read of", err ? err : "link vanished", true);
		return;
	}
	if (rec_row_parse(res, 0, &row) < 0) {
		rec_row_free(&row);
		rec_op_link_error(op, "re-read of", "unreadable row", true);
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
	base_as_pushed(op, &row);
	rec_row_free(&op->row);
	op->row = row;
	op->call = REC_CALL_NONE;
	if (op->conflicts)
		json_object_put(op->conflicts);
	op->conflicts = NULL; /* a new decision on the new ledger values */
	op->conflicts_written = false;
	op_decide(op);
}

/* The outcome of an op's closeloop_rec_apply, alone or in a batch
 * (rec_apply.c; op->applied): err set, or written false when the item changed since it
 * was read (nothing was written: re-read and merge again). */
static void op_applied(struct rec_op *op, const char *err, bool written)
{
	struct rec_target *t = op->t;
	char id[24];
	if (err) {
		rec_target_pin(t, op->remote_ms);
		rec_op_link_error(op, "ledger write for", err, true);
		return;
	}
	if (!written) {
		if (++op->reloads > REC_MAX_RELOADS) {
			rec_target_pin(t, op->remote_ms);
			rec_op_link_error(op, "ledger write for", "item kept changing; retried next cycle", false);
			return;
		}
		rec_op_set_state(op, REC_OP_RELOAD);
		snprintf(id, sizeof(id), "%lld", op->row.link_id);
		const char *p[] = { id };
		if (rec_lc_query(t->lc, REC_SQL_RELOAD, 1, p, op_on_reload, op) < 0)
			rec_op_link_error(op, "re-read of", "ledger closed", false);
		return;
	}
	t->ledger_writes++;
	if (op->mr.pull_mask)
		t->pulled++;
	t->conflicts += popcount(op->conflict_mask);
	if (op->kind == REC_OP_ADOPT_TOKEN || op->kind == REC_OP_ADOPT_REF)
		t->adopted++;
	rec_op_finish(op);
}

void rec_op_start(struct rec_op *op)
{
	const struct rec_engine_view *e = rec_op_engine(op);
	FILE *f = e->plan_out ? e->plan_out : stdout;
	op->on_answer = op_on_remote;
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
			        rec_op_key(op), op->row.item_id);
			rec_op_finish(op);
		} else {
			op_call(op, REC_CALL_FETCH);
		}
		break;
	case REC_OP_ADOPT_REF:
		op->row.link_id = op->row.ref_id;
		if (e->dry_run) {
			fprintf(f, "adopt   %s item %lld\n", op->row.ref_key ? op->row.ref_key : "?",
			        op->row.item_id);
			rec_op_finish(op);
		} else {
			op_call(op, REC_CALL_FETCH);
		}
		break;
	case REC_OP_RECOVER:
		rec_op_recover(op);
		break;
	case REC_OP_CREATE:
		if (e->dry_run) {
			fprintf(f, "create  %s  item %lld \"%s\"\n", op->t->target, op->row.item_id,
			        op->row.ledger.v[ITEM_F_TITLE] ? op->row.ledger.v[ITEM_F_TITLE] : "");
			rec_op_finish(op);
		} else {
			op_call(op, REC_CALL_CREATE);
		}
		break;
	default:
		abort();
	}
}

/* One statement per link, or a place in the target's batch while a page's
 * ops are being started or another tracker call of the target is out
 * (rec_apply.c). */
static void op_apply(struct rec_op *op)
{
	rec_op_set_state(op, REC_OP_APPLY);
	op->applied = op_applied;
	rec_apply_write(op);
}
