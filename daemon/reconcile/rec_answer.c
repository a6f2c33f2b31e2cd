/* rec_answer.c — what a tracker answered other than a plain success
 * (see rec_link.h): fields refused in a partial write (held with their
 * reason, connector.h), a failed call (rate limit, credentials, gone,
 * unknown outcome, refused), and a ticket answered from another place (a
 * transfer followed, a renamed repository re-pointed).  Calls down into
 * the op core (rec_op.c) and the planner's refusal records (plan.h) only.
 */
#include "rec_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "plan.h"

/* A partial write: the tracker refused the fields in res->refused_mask
 * (connector.h); note each on the link with its reason, so the planner
 * holds it until the ledger value changes or the back-off expires. */
void rec_op_note_refused(struct rec_op *op, const struct conn_result *res)
{
	const struct rec_link_ctx *lc = op->t->lc;
	/* a create pushes every field: what it did not take is refused */
	unsigned mask = res->refused_mask & (op->call == REC_CALL_CREATE ? ~0u : op->mr.push_mask);
	for (int f = 0; f < ITEM_F__COUNT; f++) {
		if (!(mask & ITEM_FIELD_BIT(f)))
			continue;
		const char *why = res->refused_reason[f] ? res->refused_reason[f] : "refused";
		op_log(LOG_LVL_WARN, op, "%s refused %s = \"%s\": %s; held for %lld s "
		         "or until the ledger value changes", rec_op_key(op),
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

void rec_op_remote_failed(struct rec_op *op, const struct conn_result *res)
{
	struct rec_target *t = op->t;
	const char *name = t->lc->name;
	const char *what = op->call == REC_CALL_CREATE ? "create in" :
	                   op->call == REC_CALL_UPDATE ? "update of" :
	                   op->call == REC_CALL_FIND ? "token search in" : "fetch of";
	if (op->call == REC_CALL_FIND && res->status == CONN_GONE) {
		rec_op_call(op, REC_CALL_CREATE); /* no ticket has the token: create it again */
		return;
	}
	if (op->call == REC_CALL_FIND && res->status == CONN_RATE_LIMITED) {
		/* the search's own limit: this link waits, the pass goes on, and
		 * no other search of the connector goes before the limit ends */
		rec_search_block(t->lc, ts_now_ms(), res->retry_after_ms);
		op_log(LOG_LVL_INFO, op, "token search rate limited; "
		         "the create is retried next cycle");
		rec_op_finish(op);
		return;
	}
	/* a create the tracker never acted on (not a refusal of its values,
	 * which would be refused again): its intent goes back */
	bool release = res->unsent && res->status != CONN_INVALID && op->call == REC_CALL_CREATE;
	switch (res->status) {
	case CONN_GONE:
	case CONN_MOVED:
		if (op->call == REC_CALL_CREATE || op->call == REC_CALL_FIND)
			break;
		rec_op_broken(op, res->status == CONN_GONE ? "gone" : "moved", res->error);
		return;
	case CONN_RATE_LIMITED:
		if (!t->stop_rate)
			log_conn(LOG_LVL_WARN, name, "%s: rate limited; pass stopped, may resume in %lld s",
			         t->target, (long long)(res->retry_after_ms / 1000));
		t->stop_rate = true;
		t->retry_after_ms = res->retry_after_ms;
		rec_target_pin(t, op->remote_ms);
		if (!release || !rec_op_release_intent(op))
			rec_op_finish(op);
		return;
	case CONN_AUTH:
		if (!t->stop_auth)
			log_conn(LOG_LVL_ERROR, name, "%s: credentials refused (%s); connector stopped",
			         t->target, res->error ? res->error : "auth");
		t->stop_auth = true;
		t->errors++;
		rec_target_pin(t, op->remote_ms);
		if (!release || !rec_op_release_intent(op))
			rec_op_finish(op);
		return;
	case CONN_UNKNOWN:
		rec_op_link_error(op, what, res->error ? res->error : "outcome unknown", false);
		return;
	case CONN_INVALID:
		if (op->call == REC_CALL_CREATE)
			t->refused_creates++;
		rec_op_link_error(op, what, res->error ? res->error : "refused", true);
		return;
	default:
		break;
	}
	rec_target_pin(t, op->remote_ms);
	if (release) {
		op_log(LOG_LVL_WARN, op, "%s %s: %s", what, rec_op_key(op),
		       res->error ? res->error : conn_status_name(res->status));
		t->errors++;
		if (rec_op_release_intent(op))
			return;
	}
	/* Only the tracker's refusal (CONN_INVALID, above) counts against a
	 * create: any other failure -- a transport error, a 5xx after the
	 * retries, a request cancelled by a stop or a lost ledger session --
	 * says nothing about the create, and may even hide one that went
	 * through, so it never moves the link toward its five refusals. */
	rec_op_link_error(op, what, res->error ? res->error : conn_status_name(res->status),
	              op->call != REC_CALL_CREATE && op->call != REC_CALL_FIND);
}

bool rec_renamed_log(const struct rec_link_ctx *lc, const char *old, const char *new_name,
                     const PGresult *res, const char *err)
{
	if (err) {
		log_conn(LOG_LVL_ERROR, lc->name, "%s was renamed on the tracker to %s; re-pointing "
		         "its links failed: %s", old, new_name, err);
		return false;
	}
	log_conn(LOG_LVL_ERROR, lc->name, "%s was renamed on the tracker to %s: %s "
	         "link(s) now name %s; update the routing (the directory's team targets and "
	         "this connector's targets) to %s", old, new_name,
	         PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?", new_name, new_name);
	return true;
}

static void on_renamed(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_op *op = arg;
	UNUSED(db);
	if (rec_renamed_log(op->t->lc, op->t->target, op->remote.key, res, err))
		op->t->ledger_writes++;
	else
		op->t->errors++;
	rec_op_finish(op);
}

/* The ticket answered from another place (CONN_MOVED with the remote
 * there): the same issue id in another repository is its repository
 * renamed (every link of the target re-pointed, the operator told to
 * update the routing); a new id is a transfer, followed when the new
 * repository is one this connector serves (the link re-pointed: new id,
 * key, target; the next listing there pulls it), else the link is broken
 * with where the ticket went. */
void rec_op_moved(struct rec_op *op, const struct conn_result *res, const struct conn_remote *r)
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
	if (repo && rec_op_engine(op)->dry_run) {
		op_log(LOG_LVL_WARN, op, "%s answered from %s (moved)", rec_op_key(op), r->key);
		free(repo);
		rec_op_finish(op);
		return;
	}
	if (repo && str_eq(r->remote_id, op->row.remote_id) && strcasecmp(repo, op->t->target) != 0) {
		free(op->remote.key);
		op->remote.key = repo; /* the new target, for the log line */
		const char *p[] = { lc->name, op->t->target, repo };
		rec_op_set_state(op, REC_OP_APPLY);
		if (rec_lc_query(lc, REC_SQL_REPO_RENAMED, 3, p, on_renamed, op) < 0)
			rec_op_link_error(op, "re-pointing of", "ledger closed", false);
		return;
	}
	if (repo && served) {
		op_log(LOG_LVL_WARN, op, "%s was transferred to %s: the link follows it", rec_op_key(op), r->key);
		const char *p[] = { id, repo, r->remote_id, r->key, r->url, lc->source };
		rec_op_write(op, REC_SQL_LINK_MOVED, 6, p);
		free(repo);
		return;
	}
	free(repo);
	rec_op_broken(op, "moved", res->error);
}

