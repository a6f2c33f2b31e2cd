/* status_print.c — `closeloop status`: the connector_status rows (sql/006)
 * and each connector's links by state, for a person or as JSON.  See
 * status.h. */
#include "status.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')"
#define SECS(expr) "extract(epoch FROM " expr ")::bigint"

/* Every connector that has a status row or managed links; columns in the
 * order of enum col. */
static const char STATUS_SQL[] =
	"SELECT n.connector, s.connector IS NOT NULL, "
	TS("s.cycle_started_at") ", s.cycle_ms, s.cycle_errors, s.writes_queued, "
	TS("s.queue_drains_at") ", " SECS("s.queue_drains_at - now()") ", "
	TS("s.blocked_until") ", " SECS("s.blocked_until - now()") ", "
	"s.rate_limit, s.rate_remaining, " TS("s.rate_reset_at") ", s.requests::text, "
	"s.written_by, " SECS("now() - s.updated_at") ", "
	"s.creates_waiting, " TS("s.backlog_drains_at") ", " SECS("s.backlog_drains_at - now()") ", "
	"(SELECT json_object_agg(state, k)::text FROM (SELECT state, count(*) AS k FROM external_link l"
	"   WHERE l.connector = n.connector AND l.kind = 'managed' GROUP BY state) x), "
	"(SELECT count(*) FROM external_link l WHERE l.connector = n.connector AND l.kind = 'reference'), "
	"(SELECT " TS("w.received_at") " || ' ' || w.event || coalesce(' (' || w.outcome || ')', '') "
	"   FROM webhook_delivery w WHERE w.connector = n.connector "
	"  ORDER BY w.received_at DESC LIMIT 1) "
	"FROM (SELECT connector FROM connector_status UNION "
	"      SELECT connector FROM external_link WHERE kind = 'managed') n "
	"LEFT JOIN connector_status s USING (connector) "
	"WHERE $1::text IS NULL OR n.connector = $1 ORDER BY 1";

enum col {
	C_NAME, C_HAS, C_CYCLE_AT, C_CYCLE_MS, C_ERRORS, C_QUEUED, C_DRAIN_AT, C_DRAIN_S,
	C_BLOCK_AT, C_BLOCK_S, C_RLIMIT, C_RLEFT, C_RRESET, C_REQUESTS, C_BY, C_AGE,
	C_WAITING, C_BACKLOG_AT, C_BACKLOG_S, C_LINKS, C_REFS, C_DELIVERY,
};

static const char *val(const PGresult *r, int row, enum col c)
{
	return PQgetisnull(r, row, (int)c) ? NULL : PQgetvalue(r, row, (int)c);
}

static long long num(const PGresult *r, int row, enum col c)
{
	const char *v = val(r, row, c);
	return v ? strtoll(v, NULL, 10) : 0;
}

/* "3 h 12 min", "45 s" */
static void span(char *out, size_t n, long long s)
{
	if (s >= 3600)
		snprintf(out, n, "%lld h %lld min", s / 3600, (s % 3600) / 60);
	else if (s >= 60)
		snprintf(out, n, "%lld min %lld s", s / 60, s % 60);
	else
		snprintf(out, n, "%lld s", s < 0 ? 0 : s);
}

/* "list 12, get 0, ..." from the requests object; "not_modified" shown as 304. */
static void print_kv(FILE *out, const char *json, const char *none)
{
	struct json_object *o = json ? json_tokener_parse(json) : NULL;
	bool any = false;
	if (o && json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			fprintf(out, "%s%s %lld", any ? ", " : "",
			        strcmp(k, "not_modified") == 0 ? "304" : k,
			        (long long)json_object_get_int64(v));
			any = true;
		}
	}
	fprintf(out, "%s\n", any ? "" : none);
	json_object_put(o);
}

static void print_person(FILE *out, const PGresult *r, int i)
{
	char a[64], b[64];
	fprintf(out, "%s\n", val(r, i, C_NAME));
	if (val(r, i, C_HAS)[0] != 't') {
		fprintf(out, "  last cycle   none recorded yet (the daemon writes this after a cycle)\n");
	} else {
		span(a, sizeof(a), num(r, i, C_AGE));
		if (val(r, i, C_CYCLE_MS))
			fprintf(out, "  last cycle   %s, took %.1f s, %lld error(s)  (recorded by %s, %s ago)\n",
			        val(r, i, C_CYCLE_AT), (double)num(r, i, C_CYCLE_MS) / 1000.0,
			        num(r, i, C_ERRORS), val(r, i, C_BY), a);
		else
			fprintf(out, "  last cycle   started %s, still running  (recorded by %s, %s ago)\n",
			        val(r, i, C_CYCLE_AT) ? val(r, i, C_CYCLE_AT) : "(unknown)", val(r, i, C_BY), a);
		if (num(r, i, C_QUEUED) > 0) {
			span(b, sizeof(b), num(r, i, C_DRAIN_S));
			fprintf(out, "  write queue  %lld write(s) queued, empty in about %s (%s)\n",
			        num(r, i, C_QUEUED), b, val(r, i, C_DRAIN_AT));
		} else {
			fprintf(out, "  write queue  empty\n");
		}
		/* the creates the last full cycle left for the creation budget
		 * (sql/041): a paced first sync's backlog and when it ends */
		if (num(r, i, C_WAITING) > 0) {
			span(b, sizeof(b), num(r, i, C_BACKLOG_S));
			fprintf(out, "  creates      %lld waiting for the creation budget; with the queue,"
			        " all sent in about %s (%s)\n", num(r, i, C_WAITING), b,
			        val(r, i, C_BACKLOG_AT) ? val(r, i, C_BACKLOG_AT) : "(unknown)");
		}
		if (val(r, i, C_RLEFT))
			fprintf(out, "  rate budget  %lld of %lld requests left, refills %s\n",
			        num(r, i, C_RLEFT), num(r, i, C_RLIMIT),
			        val(r, i, C_RRESET) ? val(r, i, C_RRESET) : "(unknown)");
		else
			fprintf(out, "  rate budget  not reported yet\n");
		if (num(r, i, C_BLOCK_S) > 0) {
			span(b, sizeof(b), num(r, i, C_BLOCK_S));
			fprintf(out, "  stopped      rate limited until %s (%s more)\n", val(r, i, C_BLOCK_AT), b);
		}
		fprintf(out, "  requests     ");
		print_kv(out, val(r, i, C_REQUESTS), "none");
	}
	fprintf(out, "  links        ");
	print_kv(out, val(r, i, C_LINKS), "none");
	if (num(r, i, C_REFS) > 0)
		fprintf(out, "  references   %lld (named in postmortems, not synced)\n", num(r, i, C_REFS));
	if (val(r, i, C_DELIVERY))
		fprintf(out, "  last delivery  %s (webhook)\n", val(r, i, C_DELIVERY));
}

static struct json_object *parsed_or_empty(const char *json)
{
	struct json_object *o = json ? json_tokener_parse(json) : NULL;
	return o ? o : json_object_new_object();
}

static struct json_object *row_json(const PGresult *r, int i)
{
	struct json_object *o = json_object_new_object();
	bool has = val(r, i, C_HAS)[0] == 't';
	json_object_object_add(o, "connector", json_object_new_string(val(r, i, C_NAME)));
	static const struct { const char *key; enum col c; bool text; } f[] = {
		{ "last_cycle_at", C_CYCLE_AT, true }, { "last_cycle_ms", C_CYCLE_MS, false },
		{ "last_cycle_errors", C_ERRORS, false }, { "writes_queued", C_QUEUED, false },
		{ "queue_drains_at", C_DRAIN_AT, true }, { "blocked_until", C_BLOCK_AT, true },
		{ "rate_limit", C_RLIMIT, false }, { "rate_remaining", C_RLEFT, false },
		{ "rate_reset_at", C_RRESET, true }, { "creates_waiting", C_WAITING, false },
		{ "backlog_drains_at", C_BACKLOG_AT, true }, { "recorded_by", C_BY, true },
		{ "recorded_seconds_ago", C_AGE, false },
	};
	for (size_t k = 0; k < ARRAY_SIZE(f); k++) {
		const char *v = has ? val(r, i, f[k].c) : NULL;
		json_object_object_add(o, f[k].key, !v ? NULL : f[k].text ? json_object_new_string(v) :
		                       json_object_new_int64(strtoll(v, NULL, 10)));
	}
	json_object_object_add(o, "requests", parsed_or_empty(has ? val(r, i, C_REQUESTS) : NULL));
	json_object_object_add(o, "links", parsed_or_empty(val(r, i, C_LINKS)));
	json_object_object_add(o, "references", json_object_new_int64(num(r, i, C_REFS)));
	const char *dl = val(r, i, C_DELIVERY);
	json_object_object_add(o, "last_delivery", dl ? json_object_new_string(dl) : NULL);
	return o;
}

int status_print(PGconn *pg, const char *connector, bool json, FILE *out,
                 char *err, size_t errlen)
{
	const char *p[] = { connector };
	PGresult *r = PQexecParams(pg, STATUS_SQL, 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "reading connector_status: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	int n = PQntuples(r);
	if (json) {
		struct json_object *a = json_object_new_array();
		for (int i = 0; i < n; i++)
			json_object_array_add(a, row_json(r, i));
		fprintf(out, "%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY |
		                                                    JSON_C_TO_STRING_SPACED));
		json_object_put(a);
	} else if (n == 0) {
		fprintf(out, "no connector has run a cycle or holds links yet%s%s\n",
		        connector ? " named " : "", connector ? connector : "");
	}
	for (int i = 0; !json && i < n; i++)
		print_person(out, r, i);
	PQclear(r);
	return 0;
}
