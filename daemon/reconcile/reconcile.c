/* reconcile.c — the reconcile engine: cycles per connector, one
 * (connector, target) pass after another (see reconcile.h, docs/architecture.md
 * "Reconcile").  The pass over one target (listing, push pass, creates,
 * cursor) is in rec_pass.c, the work on each link in rec_link.c, the
 * statements in rec_sql.c.
 *
 * A connector cycle is an explicit state machine (enum cyc_state; the only
 * function that changes state is cyc_enter, whose switch aborts on an
 * impossible state).  It is driven by database and connector callbacks and
 * never blocks:
 *
 *   LOCK      pg_try_advisory_lock per connector on the engine's session:
 *             the daemon that holds it works the connector, the others skip.
 *             Taken once per ledger session (so its hold count stays 1);
 *             after a reconnect it is taken again, and no statement of a
 *             cycle runs on a session that does not hold it
 *   IDMAP     person table -> handle <-> tracker identity map
 *   UNROUTED  (full cycle of the first connector) count open items with no
 *             route to a configured (connector, target): logged once
 *   TARGET    next target of the connector, or DONE
 *   PASS      the target's pass runs (rec_pass.c, its own state machine:
 *             cursor, listing, push pass, creates, cursor write, summary);
 *             it ends in cyc_pass_ended: statistics, then TARGET
 *
 * The cycle calls the pass, never the other way round: the pass reports
 * its end through rec_target.ended and reaches the ledger through the
 * cycle's struct rec_link_ctx.
 *
 * Decisions written down here:
 *   - Items route by team (team.connector/target), else the configured
 *     default_connector/default_target.  Linked items keep syncing with the
 *     ticket they are linked to even if their team moved.
 *   - done / wont_do items never get a new ticket.
 *   - A ledger owner handle with no tracker identity is sent as "no owner";
 *     a remote with no owner next to such a handle is not a difference.
 *   - Links left 'creating' are created again (same token) after a recovery
 *     listing did not find their ticket; a link whose create the tracker
 *     refused 5 times becomes 'broken' (reason 'refused', sql/020).
 *   - The connector lock lives in the ledger session: when the session is
 *     lost, the connector's tracker requests are cancelled (rec_ledger_lost).
 *   - A reference whose ticket is gone is never replaced by a new ticket.
 *   - The cursor never passes a listed ticket whose processing failed
 *     transiently, so the next listing sees it again.
 *   - Connectors cycle independently of each other (a connector's targets
 *     one after another); a cycle that pulled something wakes the others'
 *     push passes.
 */
#include "reconcile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "db.h"
#include "log.h"
#include "rec_link.h"

/* ---- the engine and its cycles ---- */

enum cyc_state {
	CYC_LOCK = 0,
	CYC_IDMAP,
	CYC_UNROUTED,
	CYC_STRANDED,   /* links naming a target no longer configured */
	CYC_TARGET,
	CYC_PASS,       /* a target's pass runs (rec_pass.c) */
	CYC_DONE,
};

struct rec_request {
	rec_done_cb cb;
	void *arg;
	int remaining;
	int errors;
};

struct rec_conn {
	struct rec_engine *e;
	struct connector *conn;
	struct rec_cycle *cycle;      /* running, or NULL */
	bool want_full, want_push;    /* queued behind the running cycle */
	struct rec_request **next_reqs;
	size_t n_next_reqs;
	bool lock_lost_logged;
	char *stranded_logged;        /* the stranded targets last logged, or NULL */
	/* The connector's advisory lock is held on the ledger session number
	 * lock_session (db_stats.reconnects when it was taken): taken once per
	 * session, taken again after a reconnect (the old session's lock died
	 * with it). */
	bool lock_held;
	uint64_t lock_session;
	int64_t lock_at_ms;           /* when it was taken */
	struct rec_search_pace search; /* its recovery token searches, across cycles */
};

struct rec_cycle {
	struct rec_engine *e;
	struct rec_conn *rc;
	enum cyc_state state;
	bool push_only, first_conn;
	char *name, *type, *source;
	const struct conn_type *ctype; /* the connector's registry row */
	char **targets;
	char **disc_teams;            /* per target: its discovery rule's team */
	size_t n_targets, ti;
	/* targets that linked tickets of this connector name but that are no
	 * longer among its configured targets (on_stranded): each gets a
	 * pass that creates nothing (pp_stranded) after the configured ones */
	char **stranded;
	size_t n_stranded, si;
	struct rec_pass_params pp_stranded;
	int max_inflight, overlap_s;
	int64_t refusal_backoff_ms, create_min_age_ms;
	enum cfg_policy policy[ITEM_F__COUNT];
	char *def_conn, *def_target;
	char *ref_table, *ref_host;   /* connector.h: references naming no target */
	char *claim_group, *claim_peers; /* rec_link_ctx */
	char *pairs_c, *pairs_t;      /* every configured (connector, target) */
	struct rec_idmap idmap;
	struct rec_link_ctx lc;       /* what rec_pass.c and rec_link.c see of this cycle */
	struct rec_pass_params pp;    /* what each pass takes from it */
	struct rec_target *t;         /* the running pass */
	int errors;
	bool stop_conn;
	uint64_t pulled;
	uint64_t creates_deferred;    /* of its passes so far */
	struct rec_request **reqs;
	size_t n_reqs;
};

struct rec_engine {
	uv_loop_t *loop;
	struct db *db;
	const struct config *cfg;
	struct rec_engine_view view;
	struct rec_stats stats;
	struct rec_conn *conns;
	size_t n_conns;
	struct rec_claim_list claims; /* adoptions in flight (rec_link.h) */
	uv_timer_t debounce, stop_timer;
	int open_handles;
	bool closing;
	void (*stopped_cb)(void *);
	void *stopped_arg;
};

static void cyc_start(struct rec_conn *rc, bool push_only, struct rec_request **reqs, size_t n);
static void cyc_enter(struct rec_cycle *cy, enum cyc_state next);
static void engine_maybe_stopped(struct rec_engine *e);

/* Log a failure of the cycle and count it. */
static void cyc_fail(struct rec_cycle *cy, const char *what, const char *err)
{
	log_conn(LOG_LVL_ERROR, cy->name, "%s: %s", what, err ? err : "failed");
	cy->errors++;
}

/* The connector's lock is held on the session the database is on now.
 * db_stats.reconnects is counted when a new session is up, before any
 * queued statement runs on it, so it numbers the sessions. */
static bool lock_session_ok(const struct rec_conn *rc)
{
	const struct db *db = rc->e->db;
	return rc->lock_held && db_connected(db) && db_get_stats(db)->reconnects == rc->lock_session;
}

/* db_query on the ledger session that holds the cycle's connector lock.
 * Returns 0 (cb called once, later) or -ENOTCONN when the database is
 * closing, down, or reconnected since the lock was taken: without the lock
 * nothing is read for work or written (the next cycle takes it again). */
static int cyc_db_query(struct rec_cycle *cy, const char *sql, int n, const char *const *p,
                        db_result_cb cb, void *arg)
{
	if (!lock_session_ok(cy->rc))
		return -ENOTCONN;
	return db_query(cy->e->db, sql, n, p, cb, arg);
}

static bool lc_locked(void *owner)
{
	const struct rec_cycle *cy = owner;
	return lock_session_ok(cy->rc);
}

static int lc_query(void *owner, const char *sql, int n, const char *const *p,
                    db_result_cb cb, void *arg)
{
	return cyc_db_query(owner, sql, n, p, cb, arg);
}

/* Queue a statement of the cycle itself (a pass queues its own).  If the
 * database is closing, or the session holding the lock is gone
 * (-ENOTCONN), the cycle ends. */
static void cyc_query(struct rec_cycle *cy, const char *sql, int n, const char *const *p,
                      db_result_cb cb)
{
	if (cyc_db_query(cy, sql, n, p, cb, cy) == 0)
		return;
	cyc_fail(cy, "ledger", "database closing or reconnected (connector lock to be taken again)");
	cyc_enter(cy, CYC_DONE);
}

/* ---- the cycle ---- */

static void on_lock(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	UNUSED(db);
	if (err || PQntuples(res) != 1) {
		cyc_fail(cy, "advisory lock", err ? err : "no row");
		cyc_enter(cy, CYC_DONE);
		return;
	}
	if (PQgetvalue(res, 0, 0)[0] != 't') {
		cy->rc->lock_held = false;
		if (!cy->rc->lock_lost_logged)
			log_conn(LOG_LVL_INFO, cy->name, "another daemon works this connector; skipped");
		cy->rc->lock_lost_logged = true;
		cyc_enter(cy, CYC_DONE);
		return;
	}
	if (cy->rc->lock_lost_logged)
		log_conn(LOG_LVL_INFO, cy->name, "this daemon now works this connector");
	cy->rc->lock_lost_logged = false;
	cy->rc->lock_held = true;
	cy->rc->lock_session = db_get_stats(cy->e->db)->reconnects; /* the session it ran on */
	cy->rc->lock_at_ms = ts_now_ms();
	cy->lc.lock_at_ms = cy->rc->lock_at_ms;
	cyc_enter(cy, CYC_IDMAP);
}

static void on_idmap(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	UNUSED(db);
	if (err) {
		cyc_fail(cy, "loading people", err);
		cyc_enter(cy, CYC_DONE);
		return;
	}
	rec_idmap_load(&cy->idmap, res);
	cyc_enter(cy, cy->first_conn && !cy->push_only ? CYC_UNROUTED : CYC_STRANDED);
}

static void on_unrouted(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	UNUSED(db);
	if (err) {
		cyc_fail(cy, "counting unrouted items", err);
	} else if (PQntuples(res) == 1) {
		long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		cy->e->stats.unrouted = n > 0 ? (uint64_t)n : 0;
		if (n > 0)
			log_warn("reconcile: %lld open items have no tracker route (their team has no "
			         "target and no default target is configured, or the target is not "
			         "configured for its connector)", n);
	}
	cyc_enter(cy, CYC_STRANDED);
}

/* Rows (target, links) of REC_SQL_STRANDED: the targets this connector's
 * linked tickets name that are not among its configured targets -- a
 * repository renamed on the tracker and routed to its new name before
 * closeloop followed the rename, or a target taken out of the routing.
 * Their links are in no configured target's pass, so a ledger edit of
 * their items would never reach the ticket, nor a create whose answer was
 * lost be found: each such target gets a pass after the configured ones
 * that creates nothing and keeps no cursor (rec_pass_params.links_only):
 * a push answered from a renamed repository's new name re-points every
 * link of the old one (rec_answer.c rec_op_moved), and while it has
 * intents it is listed from the oldest, a listing that follows the
 * redirect, re-points them and finds their tokens under the new name
 * (rec_pass.c list_renamed).  The operator is told once per change of the
 * set. */
static void on_stranded(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct rec_cycle *cy = arg;
	UNUSED(db);
	if (err) {
		cyc_fail(cy, "reading links of unconfigured targets", err);
		cyc_enter(cy, CYC_TARGET);
		return;
	}
	int n = PQntuples(res);
	struct buf b = { 0 };
	cy->stranded = n ? xcalloc((size_t)n, sizeof(char *)) : NULL;
	for (int i = 0; i < n; i++) {
		cy->stranded[cy->n_stranded++] = xstrdup(PQgetvalue(res, i, 0));
		if (buf_appendf(&b, "%s%s (%s link(s))", i ? ", " : "", PQgetvalue(res, i, 0),
		                PQgetvalue(res, i, 1)) < 0)
			abort();
	}
	const char *now = b.data ? b.data : "";
	if (!str_eq(now, cy->rc->stranded_logged ? cy->rc->stranded_logged : "")) {
		if (n)
			log_conn(LOG_LVL_WARN, cy->name, "linked tickets name target(s) this connector is "
			         "not configured for: %s; their items' edits are still pushed there, nothing is "
			         "created there (a renamed repository is followed to its new name); route "
			         "the target again, or unlink the items (closeloop link)", now);
		free(cy->rc->stranded_logged);
		cy->rc->stranded_logged = n ? xstrdup(now) : NULL;
	}
	buf_free(&b);
	cyc_enter(cy, CYC_TARGET);
}

/* A target's pass ended (rec_target.ended): its figures go into the
 * engine's statistics, then the next target. */
static void cyc_pass_ended(struct rec_target *t)
{
	struct rec_cycle *cy = t->lc->owner;
	struct rec_stats *s = &cy->e->stats;
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
	s->creates_deferred += t->creates_deferred;
	cy->pulled += t->pulled;
	cy->creates_deferred += t->creates_deferred;
	cy->errors += t->errors + t->fails;
	if (t->stop_auth)
		cy->stop_conn = true;
	rec_pass_free(t);
	cy->t = NULL;
	cyc_enter(cy, CYC_TARGET);
}

static void cyc_next_target(struct rec_cycle *cy)
{
	if (cy->e->view.stopping || cy->stop_conn ||
	    (cy->ti >= cy->n_targets && cy->si >= cy->n_stranded)) {
		cyc_enter(cy, CYC_DONE);
		return;
	}
	if (cy->ti < cy->n_targets) {
		cy->t = rec_pass_new(&cy->lc, &cy->pp, cy->targets[cy->ti], cyc_pass_ended);
		cy->t->disc_team = xstrdup(cy->disc_teams[cy->ti]);
		cy->ti++;
	} else {
		cy->t = rec_pass_new(&cy->lc, &cy->pp_stranded, cy->stranded[cy->si++],
		                     cyc_pass_ended);
	}
	cyc_enter(cy, CYC_PASS);
}

static void cyc_free(struct rec_cycle *cy)
{
	for (size_t i = 0; i < cy->n_targets; i++) {
		free(cy->targets[i]);
		free(cy->disc_teams[i]);
	}
	free(cy->targets);
	free(cy->disc_teams);
	for (size_t i = 0; i < cy->n_stranded; i++)
		free(cy->stranded[i]);
	free(cy->stranded);
	free(cy->name);
	free(cy->type);
	free(cy->source);
	free(cy->def_conn);
	free(cy->def_target);
	free(cy->ref_table);
	free(cy->ref_host);
	free(cy->claim_group);
	free(cy->claim_peers);
	free(cy->pairs_c);
	free(cy->pairs_t);
	rec_idmap_free(&cy->idmap);
	free(cy->reqs);
	free(cy);
}

static void requests_done(struct rec_engine *e, struct rec_request **reqs, size_t n, int errors)
{
	for (size_t i = 0; i < n; i++) {
		struct rec_request *q = reqs[i];
		q->errors += errors;
		if (--q->remaining == 0) {
			q->cb(e, q->errors, q->arg);
			free(q);
		}
	}
}

static void cyc_done(struct rec_cycle *cy)
{
	struct rec_engine *e = cy->e;
	struct rec_conn *rc = cy->rc;
	struct rec_request **reqs = cy->reqs;
	size_t n_reqs = cy->n_reqs;
	int errors = cy->errors;
	bool pulled = cy->pulled > 0;

	e->stats.cycles++;
	/* a full cycle that saw every target knows the backlog */
	if (!cy->push_only && !cy->stop_conn && cy->ti >= cy->n_targets && !e->view.stopping)
		rc->conn->creates_waiting = cy->creates_deferred;
	cy->reqs = NULL;
	rc->cycle = NULL;
	cyc_free(cy);
	if (!e->view.stopping && rc->want_full) {
		struct rec_request **next = rc->next_reqs;
		size_t n_next = rc->n_next_reqs;
		rc->next_reqs = NULL;
		rc->n_next_reqs = 0;
		rc->want_full = rc->want_push = false;
		cyc_start(rc, false, next, n_next);
	} else if (!e->view.stopping && rc->want_push) {
		rc->want_push = false;
		cyc_start(rc, true, NULL, 0);
	}
	if (pulled && e->n_conns > 1)
		rec_ledger_changed(e); /* what one tracker changed, the others take */
	requests_done(e, reqs, n_reqs, errors);
	free(reqs);
	engine_maybe_stopped(e);
}

static const char *cyc_state_name(enum cyc_state s)
{
	static const char *const names[] = {
		"lock", "idmap", "unrouted", "stranded", "target", "pass", "done",
	};
	if ((unsigned)s >= ARRAY_SIZE(names))
		abort();
	return names[s];
}

/* The one function that changes a cycle's state; runs the new state's
 * entry action. */
static void cyc_enter(struct rec_cycle *cy, enum cyc_state next)
{
	log_debug("[%s] cycle %s -> %s", cy->name, cyc_state_name(cy->state), cyc_state_name(next));
	cy->state = next;
	switch (next) {
	case CYC_LOCK: {
		const char *p[] = { cy->name };
		if (lock_session_ok(cy->rc)) {
			cy->lc.lock_at_ms = cy->rc->lock_at_ms;
			cyc_enter(cy, CYC_IDMAP); /* held since this session began */
			break;
		}
		cy->rc->lock_held = false;
		if (db_query(cy->e->db, REC_SQL_LOCK, 1, p, on_lock, cy) < 0) {
			cyc_fail(cy, "advisory lock", "database closing");
			cyc_enter(cy, CYC_DONE);
		}
		break;
	}
	case CYC_IDMAP: {
		const char *p[] = { cy->ctype->person_ident };
		cyc_query(cy, REC_SQL_IDMAP, 1, p, on_idmap);
		break;
	}
	case CYC_UNROUTED: {
		const char *p[] = { cy->pairs_c, cy->pairs_t, cy->def_conn, cy->def_target };
		cyc_query(cy, REC_SQL_UNROUTED, 4, p, on_unrouted);
		break;
	}
	case CYC_STRANDED: {
		char *mine = db_text_array((const char *const *)cy->targets, cy->n_targets);
		const char *p[] = { cy->name, mine };
		cyc_query(cy, REC_SQL_STRANDED, 2, p, on_stranded);
		free(mine);
		break;
	}
	case CYC_TARGET:
		cyc_next_target(cy);
		break;
	case CYC_PASS:
		rec_pass_start(cy->t); /* it ends in cyc_pass_ended */
		break;
	case CYC_DONE:
		cyc_done(cy);
		break;
	default:
		abort();
	}
}

/* Do a and b serve one reference table of one instance (two ServiceNow
 * connectors with other assignment groups)?  Their tickets share ids. */
static bool same_records(const struct connector *a, const struct connector *b)
{
	return a->ref_host && b->ref_host && strcmp(a->ref_host, b->ref_host) == 0 &&
	       a->ref_table && b->ref_table && strcmp(a->ref_table, b->ref_table) == 0;
}

/* Is c the only connector serving its reference table on its instance?
 * Two (two ServiceNow connectors on one instance and table, with other
 * assignment groups) would each adopt a record URL named in a postmortem:
 * then neither does (docs/reconcile.md), rather than link it twice. */
static bool ref_host_alone(const struct rec_engine *e, const struct connector *c)
{
	for (size_t i = 0; i < e->n_conns; i++)
		if (e->conns[i].conn != c && same_records(e->conns[i].conn, c))
			return false;
	return true;
}

/* c's claim group (rec_link_ctx.claim_group) and its connectors' names as a
 * text[] literal (db_text_array). */
static void claim_group(const struct rec_engine *e, const struct connector *c, char **group,
                        char **peers)
{
	const char **names = xcalloc(e->n_conns + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < e->n_conns; i++) {
		const struct connector *o = e->conns[i].conn;
		if (o == c || same_records(o, c))
			names[n++] = o->name;
	}
	*peers = db_text_array(names, n);
	free(names);
	*group = c->ref_host && c->ref_table ? xasprintf("%s %s", c->ref_host, c->ref_table) :
	         xstrdup(c->name);
}

/* Copy what a cycle needs out of the configuration (which may be replaced
 * while the cycle runs). */
static void cyc_start(struct rec_conn *rc, bool push_only, struct rec_request **reqs, size_t n)
{
	struct rec_engine *e = rc->e;
	const struct config *cfg = e->cfg;
	struct rec_cycle *cy = xcalloc(1, sizeof(*cy));
	const struct cfg_connector *cc = cfg_find_connector(cfg, rc->conn->name);

	cy->e = e;
	cy->rc = rc;
	cy->push_only = push_only;
	cy->first_conn = rc == &e->conns[0];
	cy->name = xstrdup(rc->conn->name);
	cy->type = xstrdup(cc && cc->type ? cc->type : rc->conn->ops->type);
	cy->source = xasprintf("reconcile:%s", cy->name);
	cy->ctype = conn_type_of(rc->conn);
	cy->max_inflight = cc && cc->max_inflight > 0 ? cc->max_inflight : 4;
	cy->overlap_s = cfg->overlap_s > 0 ? cfg->overlap_s : 0;
	cy->refusal_backoff_ms = (int64_t)(cfg->refusal_backoff_s > 0 ? cfg->refusal_backoff_s : 0) * 1000;
	cy->create_min_age_ms = (int64_t)(cfg->create_min_age_s > 0 ? cfg->create_min_age_s : 0) * 1000;
	cy->lc = (struct rec_link_ctx){
		.view = &e->view, .conn = rc->conn, .name = cy->name, .source = cy->source,
		.idmap = &cy->idmap, .policy = cy->policy, .ctype = cy->ctype,
		.max_inflight = cy->max_inflight, .refusal_backoff_ms = cy->refusal_backoff_ms,
		.create_min_age_ms = cy->create_min_age_ms, .query = lc_query, .owner = cy,
		.locked = lc_locked, .search = &rc->search,
	};
	memcpy(cy->policy, cfg->policy, sizeof(cy->policy));
	cy->def_conn = xstrdup(cfg->default_connector);
	cy->def_target = xstrdup(cfg->default_target);
	cy->ref_table = xstrdup(rc->conn->ref_table);
	cy->ref_host = ref_host_alone(e, rc->conn) ? xstrdup(rc->conn->ref_host) : NULL;
	claim_group(e, rc->conn, &cy->claim_group, &cy->claim_peers);
	cy->lc.claims = &e->claims;
	cy->lc.claim_group = cy->claim_group;
	cy->lc.claim_peers = cy->claim_peers;
	size_t same_type = 0;
	for (size_t i = 0; i < cfg->n_connectors; i++)
		same_type += cfg->connectors[i].type && strcmp(cfg->connectors[i].type, cy->type) == 0;
	cy->pp = (struct rec_pass_params){
		.push_only = push_only, .overlap_s = cy->overlap_s, .def_conn = cy->def_conn,
		.def_target = cy->def_target, .type = cy->type, .ref_table = cy->ref_table,
		.ref_host = cy->ref_host, .ref_only = same_type == 1,
	};
	if (cc && cc->n_targets) {
		cy->targets = xcalloc(cc->n_targets, sizeof(char *));
		cy->disc_teams = xcalloc(cc->n_targets, sizeof(char *));
		for (size_t i = 0; i < cc->n_targets; i++) {
			cy->targets[i] = xstrdup(cc->targets[i]);
			cy->disc_teams[i] = xstrdup(rec_disc_team(cc, cc->targets[i]));
		}
		cy->n_targets = cc->n_targets;
		cy->pp.ref_home = cy->targets[0];
	}
	cy->pp_stranded = cy->pp;
	cy->pp_stranded.links_only = true;
	rec_disc_configure(rc->conn, cc); /* a reload's rules from this cycle on */
	cy->lc.targets = cy->targets;
	cy->lc.n_targets = cy->n_targets;
	size_t np = 0;
	for (size_t i = 0; i < cfg->n_connectors; i++)
		np += cfg->connectors[i].n_targets;
	const char **pc = xcalloc(np + 1, sizeof(char *)), **pt = xcalloc(np + 1, sizeof(char *));
	np = 0;
	for (size_t i = 0; i < cfg->n_connectors; i++)
		for (size_t j = 0; j < cfg->connectors[i].n_targets; j++) {
			pc[np] = cfg->connectors[i].name;
			pt[np++] = cfg->connectors[i].targets[j];
		}
	cy->pairs_c = db_text_array(pc, np);
	cy->pairs_t = db_text_array(pt, np);
	free(pc);
	free(pt);
	cy->reqs = reqs;
	cy->n_reqs = n;
	rc->cycle = cy;
	cy->state = CYC_LOCK;
	cyc_enter(cy, CYC_LOCK);
}

/* ---- the engine ---- */

int rec_engine_new(struct rec_engine **out, uv_loop_t *loop, struct db *db,
                   struct connector **conns, size_t n_conns,
                   const struct config *cfg, const struct rec_options *opt)
{
	*out = NULL;
	if (!loop || !db || !cfg || (n_conns && !conns))
		return -EINVAL;
	for (size_t i = 0; i < n_conns; i++)
		if (!conns[i] || !conns[i]->name || !conns[i]->ops || !conn_type_of(conns[i]) ||
		    !conn_type_of(conns[i])->person_ident)
			return -EINVAL; /* every connector has a registry row (connector.h) */
	struct rec_engine *e = xcalloc(1, sizeof(*e));
	LIST_INIT(&e->claims);
	e->loop = loop;
	e->db = db;
	e->cfg = cfg;
	e->view.db = db;
	e->view.dry_run = opt && opt->dry_run;
	e->view.plan_out = opt && opt->plan_out ? opt->plan_out : stdout;
	e->n_conns = n_conns;
	e->conns = n_conns ? xcalloc(n_conns, sizeof(*e->conns)) : NULL;
	for (size_t i = 0; i < n_conns; i++) {
		e->conns[i].e = e;
		e->conns[i].conn = conns[i];
	}
	uv_timer_init(loop, &e->debounce);
	uv_timer_init(loop, &e->stop_timer);
	e->debounce.data = e;
	e->stop_timer.data = e;
	e->open_handles = 2;
	*out = e;
	return 0;
}

void rec_engine_set_config(struct rec_engine *e, const struct config *cfg)
{
	if (cfg)
		e->cfg = cfg;
}

static void rc_request(struct rec_conn *rc, struct rec_request *q)
{
	if (!rc->cycle) {
		struct rec_request **r = xcalloc(1, sizeof(*r));
		r[0] = q;
		cyc_start(rc, false, r, 1);
		return;
	}
	rc->want_full = true;
	rc->next_reqs = xrealloc(rc->next_reqs, (rc->n_next_reqs + 1) * sizeof(*rc->next_reqs));
	rc->next_reqs[rc->n_next_reqs++] = q;
}

/* Also returns -ECANCELED once rec_engine_stop was called. */
int rec_sync(struct rec_engine *e, const char *connector_name, rec_done_cb cb, void *arg)
{
	size_t n = 0;
	if (e->view.stopping)
		return -ECANCELED;
	for (size_t i = 0; i < e->n_conns; i++)
		if (!connector_name || strcmp(e->conns[i].conn->name, connector_name) == 0)
			n++;
	if (n == 0)
		return -ENOENT;
	struct rec_request *q = xcalloc(1, sizeof(*q));
	q->cb = cb;
	q->arg = arg;
	q->remaining = (int)n;
	for (size_t i = 0; i < e->n_conns; i++)
		if (!connector_name || strcmp(e->conns[i].conn->name, connector_name) == 0)
			rc_request(&e->conns[i], q);
	return 0;
}

static void on_debounce(uv_timer_t *h)
{
	struct rec_engine *e = h->data;
	if (e->view.stopping)
		return;
	for (size_t i = 0; i < e->n_conns; i++) {
		struct rec_conn *rc = &e->conns[i];
		if (rc->cycle)
			rc->want_push = true;
		else
			cyc_start(rc, true, NULL, 0);
	}
}

void rec_ledger_changed(struct rec_engine *e)
{
	if (e->view.stopping)
		return;
	int ms = e->cfg->notify_debounce_ms > 0 ? e->cfg->notify_debounce_ms : 0;
	uv_timer_start(&e->debounce, on_debounce, (uint64_t)ms, 0);
}

void rec_ledger_lost(struct rec_engine *e)
{
	for (size_t i = 0; i < e->n_conns; i++) {
		struct rec_conn *rc = &e->conns[i];
		bool held = rc->lock_held;
		rc->lock_held = false; /* it died with the session */
		if (!held || !rc->cycle)
			continue;
		log_conn(LOG_LVL_WARN, rc->conn->name, "ledger session lost: its connector lock is gone, "
		         "so this connector's tracker requests are cancelled (queued writes are not sent); "
		         "the next cycle takes the lock again");
		rc->conn->ops->cancel(rc->conn);
	}
}

bool rec_busy(const struct rec_engine *e)
{
	if (uv_is_active((const uv_handle_t *)&e->debounce))
		return true;
	for (size_t i = 0; i < e->n_conns; i++)
		if (e->conns[i].cycle || e->conns[i].want_full || e->conns[i].want_push)
			return true;
	return false;
}

const struct rec_stats *rec_get_stats(const struct rec_engine *e)
{
	return &e->stats;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct rec_engine *e = h->data;
	if (--e->open_handles > 0)
		return;
	void (*cb)(void *) = e->stopped_cb;
	void *arg = e->stopped_arg;
	for (size_t i = 0; i < e->n_conns; i++)
		free(e->conns[i].stranded_logged);
	free(e->conns);
	free(e);
	if (cb)
		cb(arg);
}

static void engine_maybe_stopped(struct rec_engine *e)
{
	if (!e->view.stopping || e->closing)
		return;
	for (size_t i = 0; i < e->n_conns; i++)
		if (e->conns[i].cycle)
			return;
	e->closing = true;
	uv_timer_stop(&e->debounce);
	uv_timer_stop(&e->stop_timer);
	uv_close((uv_handle_t *)&e->debounce, on_handle_closed);
	uv_close((uv_handle_t *)&e->stop_timer, on_handle_closed);
}

static void on_stop_timeout(uv_timer_t *h)
{
	struct rec_engine *e = h->data;
	e->view.cancelled = true;
	for (size_t i = 0; i < e->n_conns; i++)
		if (e->conns[i].cycle) {
			log_conn(LOG_LVL_WARN, e->conns[i].conn->name, "stop: cancelling tracker requests");
			e->conns[i].conn->ops->cancel(e->conns[i].conn);
		}
}

void rec_engine_stop(struct rec_engine *e, int64_t timeout_ms,
                     void (*stopped_cb)(void *), void *arg)
{
	if (e->view.stopping)
		abort(); /* stopping twice: a caller bug */
	e->view.stopping = true;
	e->stopped_cb = stopped_cb;
	e->stopped_arg = arg;
	uv_timer_stop(&e->debounce);
	for (size_t i = 0; i < e->n_conns; i++) {
		struct rec_conn *rc = &e->conns[i];
		struct rec_request **reqs = rc->next_reqs;
		size_t n = rc->n_next_reqs;
		rc->next_reqs = NULL;
		rc->n_next_reqs = 0;
		rc->want_full = rc->want_push = false;
		requests_done(e, reqs, n, 1); /* those cycles will not run */
		free(reqs);
	}
	bool running = false;
	for (size_t i = 0; i < e->n_conns; i++)
		running = running || e->conns[i].cycle;
	if (running)
		uv_timer_start(&e->stop_timer, on_stop_timeout, timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
	engine_maybe_stopped(e);
}
