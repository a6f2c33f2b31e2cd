/* status.c — see status.h. */
#include "status.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connector.h"
#include "db.h"
#include "log.h"
#include "pace.h"

/* ---- what a connector knows ---- */

struct budget {
	int64_t queued, drains_at, blocked_until;  /* 0 = none */
	int64_t backlog_drains_at;                 /* queue + creates waiting; 0 = none */
};

static void budget_of(const struct connector *c, int64_t now, struct budget *b)
{
	memset(b, 0, sizeof(*b));
	if (!c->pace)
		return;
	b->queued = (int64_t)c->pace->queued;
	if (b->queued > 0)
		b->drains_at = pace_drain_at(c->pace, now);
	if (b->queued > 0 || c->creates_waiting > 0)
		b->backlog_drains_at = pace_backlog_drain_at(c->pace, now, c->creates_waiting);
	if (pace_blocked_ms(c->pace) > 0)
		b->blocked_until = now + pace_blocked_ms(c->pace);
}

/* The request counters by kind, in one order for every reader. */
#define STATUS_KINDS 9
static void counters(const struct connector *c, const char **names, uint64_t *v)
{
	static const char *const k[STATUS_KINDS] = { "list", "get", "create", "update", "comment",
	                                             "search", "not_modified", "retries",
	                                             "rate_limited" };
	const uint64_t x[STATUS_KINDS] = { c->n_list, c->n_get, c->n_create, c->n_update,
	                                   c->n_comment, c->n_search, c->n_not_modified,
	                                   c->n_retries, c->n_rate_limited };
	for (size_t i = 0; i < STATUS_KINDS; i++) {
		names[i] = k[i];
		v[i] = x[i];
	}
}

static uint64_t writes_of(const struct connector *c)
{
	return c->n_create + c->n_update + c->n_comment;
}

bool status_due(const struct connector *c, const struct status_cycle *cy,
                const struct status_seen *seen, int64_t heartbeat_ms)
{
	if (cy->errors > 0 || writes_of(c) != seen->writes ||
	    c->creates_waiting != seen->creates_waiting)
		return true;
	if (c->pace && (c->pace->queued > 0 || pace_blocked_ms(c->pace) > 0))
		return true;
	return heartbeat_ms > 0 && cy->ended_at - seen->row_at >= heartbeat_ms;
}

void status_seen_note(struct status_seen *seen, const struct connector *c,
                      const struct status_cycle *cy)
{
	seen->row_at = cy->ended_at;
	seen->writes = writes_of(c);
	seen->creates_waiting = c->creates_waiting;
}

/* ---- /metrics ---- */

/* name{connector="…"[,kind="…"]} value: the connector name escaped as
 * the text format wants (backslash, double quote, newline). */
static int sample(struct buf *b, const char *name, const char *conn, const char *kind,
                  long long v)
{
	int rc = buf_appendf(b, "%s{connector=\"", name);
	for (const char *p = conn; rc == 0 && *p; p++)
		rc = *p == '\\' ? buf_append(b, "\\\\", 2) : *p == '"' ? buf_append(b, "\\\"", 2) :
		     *p == '\n' ? buf_append(b, "\\n", 2) : buf_append(b, p, 1);
	if (rc == 0 && kind)
		rc = buf_appendf(b, "\",kind=\"%s", kind);
	if (rc == 0)
		rc = buf_appendf(b, "\"} %lld\n", v);
	return rc;
}

static int head(struct buf *b, const char *name, const char *help, const char *type)
{
	return buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static long long secs_from(int64_t at, int64_t now)
{
	return at > now ? (long long)((at - now + 999) / 1000) : 0;
}

/* c's GraphQL queries by document (kind). */
static int graphql_samples(struct buf *b, const char *name, const struct connector *c)
{
	int rc = sample(b, name, c->name, "probe", (long long)c->n_graphql_probe);
	if (rc == 0)
		rc = sample(b, name, c->name, "items", (long long)c->n_graphql_items);
	if (rc == 0)
		rc = sample(b, name, c->name, "nodes", (long long)c->n_graphql_nodes);
	return rc;
}

int status_metrics(struct buf *b, struct connector *const *conns, size_t n)
{
	static const struct { const char *name, *help, *type; } fam[] = {
		{ "closeloop_connector_requests_total",
		  "Tracker requests by kind (retries, 304 answers and rate-limit answers counted apart).",
		  "counter" },
		{ "closeloop_connector_rate_limit_remaining",
		  "Requests left in the tracker's primary rate limit, as its last answer said.", "gauge" },
		{ "closeloop_connector_rate_limit_reset_seconds",
		  "When the primary rate limit refills (Unix time, seconds).", "gauge" },
		{ "closeloop_connector_writes_queued", "Writes waiting in the paced write queue.", "gauge" },
		{ "closeloop_connector_write_queue_drain_seconds",
		  "Seconds until the write queue is empty at the configured pace and budgets.", "gauge" },
		{ "closeloop_connector_blocked_seconds",
		  "Seconds left of a rate-limit stop of the whole connector.", "gauge" },
		{ "closeloop_connector_creates_waiting",
		  "Creates the last full cycle left for a later one: no room in the creation budget.",
		  "gauge" },
		{ "closeloop_connector_backlog_drain_seconds",
		  "Seconds until the queued writes and the creates waiting are sent at the configured"
		  " pace and budgets.", "gauge" },
		{ "closeloop_connector_graphql_requests_total",
		  "GraphQL queries by document (a board's probe, a page of its items, the issues that"
		  " left it); counted in requests_total{kind=\"list\"} too.", "counter" },
		{ "closeloop_connector_graphql_points_remaining",
		  "Points left in GraphQL's own budget, as its last answer said.", "gauge" },
		{ "closeloop_connector_graphql_points_reset_seconds",
		  "When GraphQL's points budget refills (Unix time, seconds).", "gauge" },
	};
	int64_t now = ts_now_ms();
	int rc = 0;
	for (size_t f = 0; f < ARRAY_SIZE(fam) && rc == 0; f++) {
		rc = head(b, fam[f].name, fam[f].help, fam[f].type);
		for (size_t i = 0; i < n && rc == 0; i++) {
			const struct connector *c = conns[i];
			struct budget bu;
			budget_of(c, now, &bu);
			switch (f) {
			case 0: {
				const char *k[STATUS_KINDS];
				uint64_t v[STATUS_KINDS];
				counters(c, k, v);
				for (size_t j = 0; j < STATUS_KINDS && rc == 0; j++)
					rc = sample(b, fam[f].name, c->name, k[j], (long long)v[j]);
				break;
			}
			case 1:
				if (c->rate_remaining >= 0)
					rc = sample(b, fam[f].name, c->name, NULL, c->rate_remaining);
				break;
			case 2:
				if (c->rate_reset_at > 0)
					rc = sample(b, fam[f].name, c->name, NULL, c->rate_reset_at / 1000);
				break;
			case 3: rc = sample(b, fam[f].name, c->name, NULL, bu.queued); break;
			case 4: rc = sample(b, fam[f].name, c->name, NULL, secs_from(bu.drains_at, now)); break;
			case 5: rc = sample(b, fam[f].name, c->name, NULL, secs_from(bu.blocked_until, now)); break;
			case 6: rc = sample(b, fam[f].name, c->name, NULL, (long long)c->creates_waiting); break;
			case 7:
				rc = sample(b, fam[f].name, c->name, NULL, secs_from(bu.backlog_drains_at, now));
				break;
			case 8:
				if (c->n_graphql > 0) /* absent for a connector that never sent one */
					rc = graphql_samples(b, fam[f].name, c);
				break;
			case 9:
				if (c->graphql_remaining >= 0)
					rc = sample(b, fam[f].name, c->name, NULL, c->graphql_remaining);
				break;
			case 10:
				if (c->graphql_reset_at > 0)
					rc = sample(b, fam[f].name, c->name, NULL, c->graphql_reset_at / 1000);
				break;
			default: abort();
			}
		}
	}
	return rc < 0 ? -ENOSPC : 0;
}

/* ---- the ledger row ---- */

static const char UPSERT_SQL[] =
	"INSERT INTO connector_status AS s (connector, cycle_started_at, cycle_ended_at, cycle_ms,"
	" cycle_errors, writes_queued, queue_drains_at, blocked_until, rate_limit, rate_remaining,"
	" rate_reset_at, requests, written_by, creates_waiting, backlog_drains_at, updated_at)"
	" VALUES ($1, to_timestamp($2::bigint / 1000.0), to_timestamp($3::bigint / 1000.0),"
	" $3::bigint - $2::bigint, $4::int, $5::int, to_timestamp($6::bigint / 1000.0),"
	" to_timestamp($7::bigint / 1000.0), $8::bigint, $9::bigint,"
	" to_timestamp($10::bigint / 1000.0), $11::jsonb, $12, $13::int,"
	" to_timestamp($14::bigint / 1000.0), now())"
	" ON CONFLICT (connector) DO UPDATE SET cycle_started_at = EXCLUDED.cycle_started_at,"
	" cycle_ended_at = EXCLUDED.cycle_ended_at, cycle_ms = EXCLUDED.cycle_ms,"
	" cycle_errors = EXCLUDED.cycle_errors, writes_queued = EXCLUDED.writes_queued,"
	" queue_drains_at = EXCLUDED.queue_drains_at, blocked_until = EXCLUDED.blocked_until,"
	" rate_limit = EXCLUDED.rate_limit, rate_remaining = EXCLUDED.rate_remaining,"
	" rate_reset_at = EXCLUDED.rate_reset_at, requests = EXCLUDED.requests,"
	" written_by = EXCLUDED.written_by, creates_waiting = EXCLUDED.creates_waiting,"
	" backlog_drains_at = EXCLUDED.backlog_drains_at, updated_at = now()";

struct record {
	void (*done)(void *arg);
	void *arg;
	char *name;
};

static void on_recorded(struct db *db, const PGresult *res, const char *err, void *arg)
{
	struct record *r = arg;
	UNUSED(db);
	UNUSED(res);
	if (err)
		log_conn(LOG_LVL_WARN, r->name, "status not recorded in the ledger: %s", err);
	if (r->done)
		r->done(r->arg);
	free(r->name);
	free(r);
}

int status_record(struct db *db, const struct connector *c, const struct status_cycle *cy,
                  const char *written_by, void (*done)(void *arg), void *arg)
{
	struct budget bu;
	budget_of(c, ts_now_ms(), &bu);
	char v[12][24];
	const char *k[STATUS_KINDS];
	uint64_t n[STATUS_KINDS];
	counters(c, k, n);
	struct json_object *o = json_object_new_object();
	for (size_t i = 0; i < STATUS_KINDS; i++)
		json_object_object_add(o, k[i], json_object_new_int64((int64_t)n[i]));
	snprintf(v[0], sizeof(v[0]), "%" PRId64, cy->started_at);
	snprintf(v[1], sizeof(v[1]), "%" PRId64, cy->ended_at);
	snprintf(v[2], sizeof(v[2]), "%d", cy->errors);
	snprintf(v[3], sizeof(v[3]), "%" PRId64, bu.queued);
	snprintf(v[4], sizeof(v[4]), "%" PRId64, bu.drains_at);
	snprintf(v[5], sizeof(v[5]), "%" PRId64, bu.blocked_until);
	snprintf(v[6], sizeof(v[6]), "%" PRId64, c->rate_limit);
	snprintf(v[7], sizeof(v[7]), "%" PRId64, c->rate_remaining);
	snprintf(v[8], sizeof(v[8]), "%" PRId64, c->rate_reset_at);
	/* creates_waiting is an int column: a backlog beyond it is not real */
	snprintf(v[9], sizeof(v[9]), "%" PRIu64, c->creates_waiting > INT32_MAX ? (uint64_t)INT32_MAX :
	         c->creates_waiting);
	snprintf(v[10], sizeof(v[10]), "%" PRId64, bu.backlog_drains_at);
	const char *p[] = { c->name, cy->started_at ? v[0] : NULL, cy->ended_at ? v[1] : NULL,
	                    cy->ended_at ? v[2] : NULL, v[3], bu.drains_at ? v[4] : NULL,
	                    bu.blocked_until ? v[5] : NULL, c->rate_limit >= 0 ? v[6] : NULL,
	                    c->rate_remaining >= 0 ? v[7] : NULL, c->rate_reset_at > 0 ? v[8] : NULL,
	                    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), written_by,
	                    v[9], bu.backlog_drains_at ? v[10] : NULL };
	struct record *r = xcalloc(1, sizeof(*r));
	r->done = done;
	r->arg = arg;
	r->name = xstrdup(c->name);
	int rc = db_query(db, UPSERT_SQL, (int)ARRAY_SIZE(p), p, on_recorded, r);
	json_object_put(o);
	if (rc < 0) {
		free(r->name);
		free(r);
	}
	return rc;
}
