/* watch_label.c — the label stage of a watch run (watch_internal.h): the
 * closeloop:* labels on tickets for open flags (sql/013_watch_labels.sql).
 *
 *   LABEL_PLAN   closeloop_labels_plan(now, options): ticket_label.want
 *                follows the open flags (one statement)
 *   LABEL_CLAIM  closeloop_labels_claim(...): up to WATCH_LABEL_CLAIM_MAX
 *                rows whose want differs from what closeloop applied
 *   LABEL_SEND   per row the connector's label operation (connector.h),
 *                paced by the connector's write queue; then
 *                closeloop_labels_done(id, on, ok, error, extra)
 *
 * The label write is idempotent (connector contract), so no intent marker
 * is needed: a write whose outcome was lost is made again.  Only
 * connectors with the label operation take part (GitHub, Jira; a tracker
 * gains it by implementing conn_ops.label).
 */
#include "watch_internal.h"
#include "connector.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_LABEL_CLAIM_MAX 100  /* label writes per run at most */

static const char SQL_PLAN[] = "SELECT closeloop_labels_plan($1::timestamptz, $2::jsonb)";
static const char SQL_CLAIM[] =
	"SELECT r_id, r_on, r_label, r_connector, r_target, r_remote_key, r_remote_id, r_extra "
	"FROM closeloop_labels_claim($1::timestamptz, $2, $3::int, $4::int)";
static const char SQL_DONE[] =
	"SELECT closeloop_labels_done($1::bigint, $2::boolean, $3::boolean, $4, $5::jsonb, "
	"$6::timestamptz)";

/* One label write. */
struct label_send {
	struct watch *w;
	char id[24];
	bool on;
	char *label, *connector, *target;
	struct conn_remote ref;   /* key, remote_id, extra */
};

static void label_free(struct label_send *s)
{
	free(s->label);
	free(s->connector);
	free(s->target);
	conn_remote_free(&s->ref);
	free(s);
}

static void on_done(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	UNUSED(res);
	struct label_send *s = arg;
	struct watch *w = s->w;
	if (err) {
		/* stays claimed: taken again after the lease (the write is idempotent) */
		log_error("label %s on %s: outcome not recorded: %s", s->label,
		          s->ref.key ? s->ref.key : "?", err);
		w->errors++;
	}
	label_free(s);
	if (--w->label_sends == 0)
		watch_run_finish(w);
}

/* Record the outcome: error NULL = done (extra: the link's new
 * remote_extra or NULL). */
static void label_record(struct label_send *s, const char *error, const char *extra)
{
	struct watch *w = s->w;
	const char *p[6] = { s->id, s->on ? "true" : "false", error ? "false" : "true",
	                     error, error ? NULL : extra, NULL };
	const char *key = s->ref.key ? s->ref.key : "?";
	if (!error) {
		if (s->on)
			w->stats.labels_added++;
		else
			w->stats.labels_removed++;
		log_info("label %s %s %s", s->label, s->on ? "put on" : "taken off", key);
	} else {
		w->stats.label_errors++;
		w->errors++;
		log_warn("label %s on %s: %s (retried on the next run)", s->label, key, error);
	}
	if (db_query(w->db, SQL_DONE, 6, p, on_done, s) < 0)
		on_done(w->db, NULL, "ledger connection is closing", s);
}

static void on_label(struct connector *c, const struct conn_result *res,
                     const struct conn_remote *remote, void *arg)
{
	UNUSED(c);
	struct label_send *s = arg;
	if (res->status == CONN_OK)
		label_record(s, NULL, remote ? remote->extra : NULL);
	else
		label_record(s, res->error ? res->error : conn_status_name(res->status), NULL);
}

static void label_start(struct watch *w, const PGresult *res, int r)
{
	struct label_send *s = xcalloc(1, sizeof(*s));
	s->w = w;
	snprintf(s->id, sizeof(s->id), "%s", PQgetvalue(res, r, 0));
	s->on = strcmp(PQgetvalue(res, r, 1), "t") == 0;
	s->label = xstrdup(watch_col(res, r, 2));
	s->connector = xstrdup(watch_col(res, r, 3));
	s->target = xstrdup(watch_col(res, r, 4));
	conn_remote_init(&s->ref);
	s->ref.key = watch_col(res, r, 5) ? xstrdup(watch_col(res, r, 5)) : NULL;
	s->ref.remote_id = watch_col(res, r, 6) ? xstrdup(watch_col(res, r, 6)) : NULL;
	s->ref.extra = watch_col(res, r, 7) ? xstrdup(watch_col(res, r, 7)) : NULL;
	w->label_sends++;
	struct connector *c = watch_find_conn(w, s->connector);
	if (!c || !c->ops->label) {
		char *m = xasprintf(c ? "connector '%s' has no label operation"
		                      : "connector '%s' is not configured", s->connector);
		label_record(s, m, NULL);
		free(m);
		return;
	}
	int rc = c->ops->label(c, s->target, &s->ref, s->label, s->on, on_label, s);
	if (rc < 0) {
		char *m = xasprintf("could not start the label write: %s", strerror(-rc));
		label_record(s, m, NULL);
		free(m);
	}
}

static void on_claim(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	struct watch *w = arg;
	if (err) {
		log_error("labels: claim failed: %s", err);
		w->errors++;
		watch_run_finish(w);
		return;
	}
	int n = PQntuples(res);
	if (n == 0) {
		watch_run_finish(w);
		return;
	}
	watch_set_state(w, WATCH_LABEL_SEND);
	w->label_sends = 1; /* held while starting, so an early finish cannot end the run */
	for (int i = 0; i < n; i++)
		label_start(w, res, i);
	if (--w->label_sends == 0)
		watch_run_finish(w);
}

static void on_plan(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	struct watch *w = arg;
	if (err) {
		log_error("labels: planning failed: %s", err);
		w->errors++;
		watch_run_finish(w);
		return;
	}
	long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0)
		log_debug("labels: %ld ticket label(s) to put on or take off", n);
	char limit[16], lease[16];
	snprintf(limit, sizeof(limit), "%d", WATCH_LABEL_CLAIM_MAX);
	snprintf(lease, sizeof(lease), "%d", WATCH_LEASE_S);
	const char *p[4] = { NULL, w->by, limit, lease };
	watch_set_state(w, WATCH_LABEL_CLAIM);
	if (db_query(w->db, SQL_CLAIM, 4, p, on_claim, w) < 0)
		on_claim(w->db, NULL, "ledger connection is closing", w);
}

void watch_labels_start(struct watch *w)
{
	char *opts = watch_labels_options_json(&w->cfg->watch, w->conns, w->n_conns);
	const char *p[2] = { NULL, opts };
	watch_set_state(w, WATCH_LABEL_PLAN);
	if (db_query(w->db, SQL_PLAN, 2, p, on_plan, w) < 0)
		on_plan(w->db, NULL, "ledger connection is closing", w);
	free(opts);
}
