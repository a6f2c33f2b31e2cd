/* rec_sql.c — the reconcile engine's statements, row parsing and the
 * identity map (see rec_link.h).  Every statement is set-oriented where the
 * engine reads (one per listing page, one per push pass, one per batch of
 * intents), for the links it creates (one per batch of up to 50) and for
 * the merge writes of pulls and pushes (one per batch of up to 100,
 * rec_apply.c); one per changed link for the other writes (link errors,
 * broken links, refusals of a create, conflicts committed first).
 */
#include "rec_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* Session advisory lock per connector: the daemon that holds it works the
 * connector; kept while the session lives.  Taken once per session
 * (reconcile.c remembers it: taking it again while holding it would stack
 * the hold count); every hold is released when the session ends. */
const char REC_SQL_LOCK[] =
	"SELECT pg_try_advisory_lock(hashtext('closeloop:connector:' || $1))";

/* $1 is the person column of the connector's type (connector.h:
 * conn_type.person_ident, e.g. "github_login"), looked up by name in the
 * row so that a new tracker needs no statement of its own. */
const char REC_SQL_IDMAP[] =
	"SELECT handle, ident FROM (SELECT p.handle, to_jsonb(p) ->> $1::text AS ident"
	" FROM person p) p WHERE ident IS NOT NULL AND ident <> ''";

/* Open items without any managed link whose route (team target, else the
 * configured default) is no configured (connector, target) pair.  "Without
 * any managed link" is action_item.managed_connectors = '{}' (kept by
 * triggers, sql/007_change_markers.sql): an index probe, not a join of
 * every item with every link. */
const char REC_SQL_UNROUTED[] =
	"SELECT count(*) FROM action_item i LEFT JOIN team tm ON tm.id = i.team_id"
	" WHERE i.state NOT IN ('done','wont_do') AND i.managed_connectors = '{}'"
	" AND NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS r(c, t)"
	"                 WHERE r.c = coalesce(tm.connector, $3) AND r.t = coalesce(tm.target, $4))";

/* The targets this connector's links name that are not among its
 * configured targets ($1 connector, $2 its targets), with how many links
 * ('linked', or 'creating': a create whose outcome is unknown) name each
 * (reconcile.c on_stranded): a range of external_link_state_idx
 * (connector, target, state). */
const char REC_SQL_STRANDED[] =
	"SELECT target, count(*) FROM external_link WHERE connector = $1 AND kind = 'managed'"
	" AND state IN ('linked', 'creating') AND target <> ALL($2::text[])"
	" GROUP BY target ORDER BY target";

const char REC_SQL_CURSOR[] =
	"SELECT floor(extract(epoch FROM c.cursor_at) * 1000)::bigint, c.etag, c.last_error IS NOT NULL,"
	" k.n, floor(extract(epoch FROM k.first) * 1000)::bigint, coalesce(b.version, 0)"
	" FROM (SELECT count(*) AS n, min(l.intent_at) AS first FROM external_link l"
	"   WHERE l.connector = $1 AND l.target = $2 AND l.kind = 'managed' AND l.state = 'creating') k"
	" LEFT JOIN sync_cursor c ON c.connector = $1 AND c.target = $2"
	" LEFT JOIN discover_board b ON b.connector = $1 AND b.target = $2";

/* The board of a discovery rule as stored (sql/044): rule, update time and
 * read time (ms), item count, version, then one row per member (remote id,
 * node id), or one row with NULL members for a board without any. */
const char REC_SQL_BOARD_READ[] =
	"SELECT b.rule, floor(extract(epoch FROM b.board_updated_at) * 1000)::bigint, b.item_count,"
	" floor(extract(epoch FROM b.read_at) * 1000)::bigint, b.version, m.remote_id, m.node_id"
	" FROM discover_board b LEFT JOIN discover_board_member m"
	"   ON m.connector = b.connector AND m.target = b.target"
	" WHERE b.connector = $1 AND b.target = $2";

/* $1 connector, $2 target, $3 rule, $4 updated (ms), $5 item count, $6
 * read at (ms), $7 members [[remote_id, node_id], ...] -> the new version;
 * raises unless this session holds the connector's lock. */
const char REC_SQL_BOARD_SAVE[] =
	"SELECT closeloop_discover_board_save($1, $2, $3, $4::bigint, $5::bigint, $6::bigint,"
	" $7::jsonb)";

#define LINK_COLS \
	"l.id, l.state, l.create_token, l.remote_id, l.remote_key, l.url, l.remote_extra::text, l.etag," \
	" l.base::text, floor(extract(epoch FROM l.remote_updated_at) * 1000)::bigint," \
	" i.id, i.version, floor(extract(epoch FROM i.updated_at) * 1000)::bigint," \
	" i.title, i.description, i.state, i.priority, i.type, i.owner," \
	" to_char(i.due_date, 'YYYY-MM-DD'), p.reference, p.title, p.document_url, l.refused::text," \
	" floor(extract(epoch FROM l.intent_at) * 1000)::bigint," \
	" floor(extract(epoch FROM l.updated_at) * 1000)::bigint," \
	FIELD_CHANGED_COL ", p.problem_ref, l.unconfirmed::text"
/* When each synced field's ledger value was set at its source: the latest
 * item_event.changed_at of that field (for a value pulled from a tracker,
 * the ticket's updated-at: sql/008_report.sql), as {"title": ms, ...};
 * NULL when the item has no such event.  newest_wins compares these with
 * the other tracker's own change time (merge_item_at). */
#define FIELD_CHANGED_COL \
	" (SELECT jsonb_object_agg(e.field, floor(extract(epoch FROM e.t) * 1000)::bigint)::text" \
	"  FROM (SELECT ev.field, max(ev.changed_at) AS t FROM item_event ev" \
	"   WHERE ev.action_item_id = i.id AND ev.field IN ('title', 'description', 'state'," \
	"    'priority', 'type', 'owner', 'due_date') GROUP BY ev.field) e)"
enum { COL_REFUSED = 23, COL_INTENT = 24, COL_TOUCHED = 25, COL_FIELD_MS = 26, COL_PROBLEM = 27,
       COL_UNCONFIRMED = 28, COL_REF = 29,
       N_COLS = 29, N_COLS_REF = 33 };

const char REC_SQL_PAGE[] =
	"SELECT " LINK_COLS ", CASE WHEN l.discovered_at IS NULL THEN NULL"
	" WHEN l.discover_left_at IS NULL THEN 'matching' ELSE 'left' END"
	" FROM external_link l JOIN action_item i ON i.id = l.action_item_id"
	" JOIN postmortem p ON p.id = i.postmortem_id"
	" WHERE l.connector = $1 AND l.kind = 'managed'"
	" AND (l.remote_id = ANY($2::text[]) OR l.create_token = ANY($3::text[]))";

/* The column after LINK_COLS in REC_SQL_PAGE: the link's discovery,
 * NULL (not discovered), 'matching' or 'left' (sql/033_discovery.sql). */
const int REC_SQL_PAGE_DISCOVER_COL = N_COLS;

/* One page's discovery (rec_discover.c): $1 connector $2 target $3 team
 * $4 tickets to adopt (jsonb) $5 left ids $6 back ids $7 source $8 dry. */
const char REC_SQL_DISCOVER[] =
	"SELECT r_remote_id, r_outcome, r_item, r_postmortem, r_key, r_title"
	" FROM closeloop_discover_page($1, $2, $3, $4::jsonb, $5::text[], $6::text[], $7,"
	" $8::boolean)";

const char REC_SQL_RELOAD[] =
	"SELECT " LINK_COLS
	" FROM external_link l JOIN action_item i ON i.id = l.action_item_id"
	" JOIN postmortem p ON p.id = i.postmortem_id WHERE l.id = $1";

/* The push pass of one (connector, target):
 *   $1 connector name, $2 target, $3 default connector, $4 default target,
 *   $5 connector column of bare references ('github'), $6 include links
 *   left 'creating' (after a recovery listing only); $7 the reference
 *   target of a connector whose references name none of its targets
 *   (ServiceNow: its table; NULL for the others), $8 its instance
 *   "host[:port]", $9 whether it is the only connector of its type, $10
 *   whether $2 is the target such references are adopted in
 *   (sql/040_servicenow_refs.sql).
 * Rows (the columns of LINK_COLS, then r.id, r.remote_id, r.remote_key,
 * r.state of a reference to adopt): linked links of this target whose item
 * moved past synced_version or whose refused fields' back-off expired
 * (sql/005); 'creating' links to create again (fewer than
 * 5 refusals so far); open items routed here with no managed link of this
 * connector (with the first reference to this target, if any, to adopt
 * instead of creating).  closeloop_push_select (sql/007_change_markers.sql)
 * selects the keys with index probes that return nothing in a quiet cycle,
 * its plan kept for the session; the rows are read around it by primary
 * key (OFFSET 0: a lateral subquery per row, never a join the planner
 * might cost as a scan of the table).  REC_SQL_PUSH_PROBE (same
 * parameters) runs first: planning the full statement costs more than
 * running it empty, and a quiet cycle finds nothing to push. */
#define PUSH_BY_KEY(table, alias, join, cond) \
	" " join " JOIN LATERAL (SELECT * FROM " table " " alias " WHERE " cond " OFFSET 0) " \
	alias " ON true"
const char REC_SQL_PUSH_PROBE[] =
	"SELECT r_item FROM closeloop_push_select($1, $2, $3, $4, $5, $6::boolean, $7, $8,"
	" $9::boolean, $10::boolean) LIMIT 1";
const char REC_SQL_PUSH[] =
	"SELECT " LINK_COLS ", r.id, r.remote_id, r.remote_key, r.state"
	" FROM closeloop_push_select($1, $2, $3, $4, $5, $6::boolean, $7, $8, $9::boolean,"
	" $10::boolean) s"
	PUSH_BY_KEY("action_item", "i", "INNER", "i.id = s.r_item")
	PUSH_BY_KEY("postmortem", "p", "INNER", "p.id = i.postmortem_id")
	PUSH_BY_KEY("external_link", "l", "LEFT", "l.id = s.r_link")
	PUSH_BY_KEY("external_link", "r", "LEFT", "r.id = s.r_ref")
	" ORDER BY s.r_item";

/* Intents for a batch of creates, committed before any POST.  The base is
 * the values the create will send (so that adopting the ticket by its token
 * after a lost answer merges exactly), synced_version their version. */
const char REC_SQL_INTENTS[] =
	"INSERT INTO external_link (action_item_id, connector, target, kind, state, create_token,"
	" intent_at, base, synced_version)"
	" SELECT i.id, $1, $2, 'managed', 'creating', gen_random_uuid()::text, now(),"
	" jsonb_build_object('title', i.title, 'description', i.description, 'state', i.state,"
	"  'priority', i.priority, 'type', i.type, 'owner', i.owner,"
	"  'due_date', to_char(i.due_date, 'YYYY-MM-DD')), i.version"
	" FROM action_item i WHERE i.id = ANY($3::bigint[]) AND i.state NOT IN ('done','wont_do')"
	" ON CONFLICT DO NOTHING"
	" RETURNING id, action_item_id, create_token, base::text, synced_version";

/* sql/005: the 14th argument is the link's refusals (NULL: unchanged).
 * The ticket's updated-at ($8) becomes closeloop.changed_at for the
 * statement's transaction, so the history rows of the fields it pulls say
 * when the change happened on the tracker (sql/008_report.sql). */
const char REC_SQL_APPLY[] =
	"SELECT closeloop_rec_apply($1::bigint, $2::bigint, $3::jsonb, $4::jsonb, $5, $6, $7,"
	" $8::timestamptz, $9, $10::jsonb, $11, $12::jsonb, $13, $14::jsonb, $15)"
	" FROM (SELECT set_config('closeloop.changed_at', coalesce($8::timestamptz::text, ''), true)) AS changed";

/* A batch of merge writes, a page's or a pass's pushes (rec_apply.c): $1
 * is [{"link": "12", "version": "3", "pull": "<json>", "base": "<json>",
 * "remote_id": ..., "remote_key": ..., "url": ..., "remote_updated_at":
 * ..., "etag": ..., "remote_extra": "<json>", "conflicts": "<json>",
 * "connector": ..., "refused": "<json>", "target": ...}, ...] (all strings; an absent key is a NULL argument), $2 the source.
 * One row per element, in order: its ordinal and closeloop_rec_apply's
 * answer.  Each write first sets closeloop.changed_at to its ticket's
 * updated-at, as REC_SQL_APPLY does (sql/008: item_event.changed_at). */
const char REC_SQL_APPLY_BATCH[] =
	"SELECT e.i, (SELECT closeloop_rec_apply((v->>'link')::bigint, (v->>'version')::bigint,"
	" (v->>'pull')::jsonb, (v->>'base')::jsonb, v->>'remote_id', v->>'remote_key', v->>'url',"
	" (v->>'remote_updated_at')::timestamptz, v->>'etag', (v->>'remote_extra')::jsonb, $2,"
	" (v->>'conflicts')::jsonb, v->>'connector', (v->>'refused')::jsonb, v->>'target')"
	"  FROM (SELECT set_config('closeloop.changed_at',"
	"   coalesce((v->>'remote_updated_at')::timestamptz::text, ''), true)) AS changed)"
	" FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, i) ORDER BY e.i";

/* A batch of successful creates (sql/004_reconcile_batch.sql): $1 is
 * [{link, version, base, remote_id, remote_key, url, remote_updated_at,
 * etag, remote_extra (JSON text)}, ...], $2 the source.  Rows: the links
 * NOT written, with the error (NULL: the link was no longer 'creating'). */
const char REC_SQL_CREATED_BATCH[] =
	"SELECT r_link, r_error FROM closeloop_rec_created_batch($1::jsonb, $2)";

const char REC_SQL_BROKEN[] =
	"SELECT closeloop_rec_broken($1::bigint, $2, $3, $4)";

/* The item, target and connector of a link of connectors $1 (text[]: the
 * connector and those sharing its tickets' ids) to ticket $2 (its remote
 * id) other than link $3, if any: the unique index external_link_remote_key
 * allows one such link a connector, so a second item adopting the ticket
 * would fail its write, and one ServiceNow record linked through two
 * connectors would be synced twice. */
const char REC_SQL_CLAIMED[] =
	"SELECT action_item_id, target, connector FROM external_link"
	" WHERE connector = ANY($1::text[]) AND remote_id = $2 AND id <> $3::bigint"
	" ORDER BY id LIMIT 1";

/* $1 link $2 error $3 count (0/1: 0 only notes it, an unknown create)
 * $4 source $5 the values a failed update sent ({field: value}, NULL none),
 * kept in external_link.unconfirmed until the next merge write
 * (sql/045_link_unconfirmed.sql): a fifth refused create makes the link
 * 'broken' (sql/020_refusals.sql). */
const char REC_SQL_LINK_ERROR[] =
	"SELECT closeloop_rec_link_error($1::bigint, $2, $3::int, $4, $5::jsonb)";

/* A create intent given back (rec_op_release_intent): $1 the link, deleted
 * only while it is still a 'creating' link with no ticket. */
const char REC_SQL_INTENT_RELEASE[] =
	"DELETE FROM external_link WHERE id = $1::bigint AND kind = 'managed'"
	" AND state = 'creating' AND remote_id IS NULL";

/* A created link's refusals ($2: rec_refusals_json): a create the tracker
 * took without one field (an assignee GitHub cannot assign, a sys_id the
 * ServiceNow instance does not know, an accountId Jira refuses).  As
 * closeloop_rec_apply_refused (sql/020) writes them: refused_retry_at is
 * the earliest back-off, for the push pass to come back then, and one
 * item_event 'refused' per field in the item's history ($3 source, $4
 * connector). */
/* The fields (of $2, names) whose ledger value an item left at or after
 * $3 (ms since the epoch), with the value it left: item_event (old_value,
 * at: when the ledger took the change).  Asked only on a conflict
 * (rec_link.c op_read_left).  $1 item id. */
const char REC_SQL_LEDGER_LEFT[] =
	"SELECT field, old_value FROM item_event WHERE action_item_id = $1::bigint"
	" AND field = ANY($2::text[]) AND at >= to_timestamp($3::bigint / 1000.0)";

/* Committed before the tracker write of an update: the values it sends
 * (external_link.unconfirmed, sql/045, kept until the merge write that
 * records the update: a daemon killed between the tracker's answer and
 * that write leaves them, and the next merge reads the ticket holding them
 * as closeloop's own write), and the merge's conflicts, which the update
 * resolves (sql/031).  $1 link id $2 jsonb {field: value sent} $3 jsonb
 * array (conflict_json, may be empty) $4 source. */
const char REC_SQL_SENDING[] =
	"WITH u AS (UPDATE external_link SET unconfirmed = coalesce(unconfirmed, '{}'::jsonb)"
	" || $2::jsonb WHERE id = $1::bigint)"
	" SELECT closeloop_rec_conflicts($1::bigint, $3::jsonb, $4)";
/* REC_SQL_SENDING for several links in one statement (rec_apply.c): $1
 * jsonb [{"link": "12", "sent": {...}, "conflicts": [...]}, ...], $2
 * source; one row per element, in order. */
const char REC_SQL_SENDING_BATCH[] =
	"WITH a AS (SELECT (x.e->>'link')::bigint AS link, x.e->'sent' AS sent,"
	" x.e->'conflicts' AS conf, x.ord FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY"
	" AS x(e, ord)),"
	" u AS (UPDATE external_link l SET unconfirmed = coalesce(l.unconfirmed, '{}'::jsonb)"
	" || a.sent FROM a WHERE l.id = a.link)"
	" SELECT closeloop_rec_conflicts(a.link, a.conf, $2) FROM a ORDER BY a.ord";

const char REC_SQL_LINK_REFUSED[] =
	"WITH u AS (UPDATE external_link SET refused = nullif($2::jsonb, '{}'::jsonb),"
	" refused_retry_at = (SELECT to_timestamp(min((e.value->>'retry_ms')::bigint) / 1000.0)"
	" FROM jsonb_each($2::jsonb) AS e), updated_at = now() WHERE id = $1::bigint"
	" RETURNING action_item_id)"
	" INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor, detail)"
	" SELECT u.action_item_id, 'refused', NULL,"
	" e.key || ': ' || coalesce(e.value->>'reason', 'refused'), $3, closeloop_actor(),"
	" jsonb_build_object('field', e.key, 'value', e.value->'value',"
	" 'reason', e.value->'reason', 'connector', $4::text)"
	" FROM u, jsonb_each($2::jsonb) AS e";

/* A second ticket carries a linked item's token: recorded once per ticket
 * in the item's history ($1 item, $2 the linked ticket's key, $3 the
 * duplicate's key and URL, $4 source). */
const char REC_SQL_DUPLICATE[] =
	"INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)"
	" SELECT $1::bigint, 'duplicate', $2, $3, $4, closeloop_actor()"
	" WHERE NOT EXISTS (SELECT 1 FROM item_event WHERE action_item_id = $1::bigint"
	" AND field = 'duplicate' AND new_value = $3)";

/* A transferred ticket followed into another served target: the link
 * names it there ($1 link, $2 target, $3 remote id, $4 key, $5 url,
 * $6 source); the next listing of that target pulls it. */
const char REC_SQL_LINK_MOVED[] =
	"WITH l AS (UPDATE external_link SET target = $2, remote_id = $3, remote_key = $4, url = $5,"
	" etag = NULL, last_error = NULL, error_count = 0, updated_at = now() WHERE id = $1::bigint"
	" RETURNING action_item_id, remote_key)"
	" INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)"
	" SELECT action_item_id, 'link', 'moved', 'followed to ' || remote_key, $6, closeloop_actor()"
	" FROM l";

/* A repository renamed on the tracker: every link of the connector that
 * names the old target names the new one ($1 connector, $2 old target,
 * $3 new target), a link without a ticket yet ('creating': its token and
 * intent kept) too, and one whose key a pull already wrote under the new
 * name (the ticket listed there by id, or its webhook delivery, while the
 * routing named the new target before this daemon met the old name's
 * redirect: seed 3370 of the soak); returns how many. */
const char REC_SQL_REPO_RENAMED[] =
	"WITH u AS (UPDATE external_link SET target = $3,"
	" remote_key = CASE WHEN left(remote_key, length($2) + 1) = $2 || '#'"
	"  THEN $3 || substr(remote_key, length($2) + 1) ELSE remote_key END,"
	" etag = NULL, updated_at = now()"
	" WHERE connector = $1 AND target = $2"
	" AND (remote_key IS NULL OR left(remote_key, length($2) + 1) = $2 || '#'"
	"  OR left(remote_key, length($3) + 1) = $3 || '#')"
	" RETURNING 1)"
	" SELECT count(*) FROM u";

const char REC_SQL_CURSOR_WRITE[] =
	"INSERT INTO sync_cursor (connector, target, cursor_at, etag, last_run_at, last_error)"
	" VALUES ($1, $2, to_timestamp($3::bigint / 1000.0), $4, now(), NULL)"
	" ON CONFLICT (connector, target) DO UPDATE SET cursor_at = EXCLUDED.cursor_at,"
	" etag = EXCLUDED.etag, last_run_at = now(), last_error = NULL";

const char REC_SQL_CURSOR_ERROR[] =
	"INSERT INTO sync_cursor (connector, target, last_run_at, last_error)"
	" VALUES ($1, $2, now(), $3)"
	" ON CONFLICT (connector, target) DO UPDATE SET last_run_at = now(),"
	" last_error = EXCLUDED.last_error";

/* ---- identity map ---- */

static int ident_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct rec_ident *)a)->ident, ((const struct rec_ident *)b)->ident);
}

static int handle_cmp(const void *a, const void *b)
{
	return strcmp((*(struct rec_ident *const *)a)->handle, (*(struct rec_ident *const *)b)->handle);
}

void rec_idmap_free(struct rec_idmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->by_ident[i].handle);
		free(m->by_ident[i].ident);
	}
	free(m->by_ident);
	free(m->by_handle);
	memset(m, 0, sizeof(*m));
}

void rec_idmap_load(struct rec_idmap *m, const PGresult *res)
{
	rec_idmap_free(m);
	int n = PQntuples(res);
	if (n <= 0)
		return;
	m->by_ident = xcalloc((size_t)n, sizeof(*m->by_ident));
	for (int i = 0; i < n; i++) {
		m->by_ident[m->n].handle = xstrdup(PQgetvalue(res, i, 0));
		m->by_ident[m->n].ident = xstrdup(PQgetvalue(res, i, 1));
		m->n++;
	}
	qsort(m->by_ident, m->n, sizeof(*m->by_ident), ident_cmp);
	m->by_handle = xcalloc(m->n, sizeof(*m->by_handle));
	for (size_t i = 0; i < m->n; i++)
		m->by_handle[i] = &m->by_ident[i];
	qsort(m->by_handle, m->n, sizeof(*m->by_handle), handle_cmp);
}

const char *rec_idmap_handle(const struct rec_idmap *m, const char *ident)
{
	if (!ident || !m->n)
		return NULL;
	struct rec_ident key = { .ident = (char *)ident };
	const struct rec_ident *hit = bsearch(&key, m->by_ident, m->n, sizeof(key), ident_cmp);
	return hit ? hit->handle : NULL;
}

const char *rec_idmap_ident(const struct rec_idmap *m, const char *handle)
{
	if (!handle || !m->n)
		return NULL;
	struct rec_ident key = { .handle = (char *)handle };
	const struct rec_ident *kp = &key;
	struct rec_ident *const *hit = bsearch(&kp, m->by_handle, m->n, sizeof(kp), handle_cmp);
	return hit ? (*hit)->ident : NULL;
}

void rec_canon_remote(const struct rec_idmap *m, const struct item_fields *remote,
                      const struct item_fields *ledger, struct item_fields *out)
{
	const char *ledger_owner = ledger->v[ITEM_F_OWNER];
	item_fields_copy(out, remote);
	/* The ledger's type is never empty (action_item.type NOT NULL); a ticket
	 * with no type label says nothing about the type, so it keeps the
	 * ledger's value instead of clearing it. */
	if (!remote->v[ITEM_F_TYPE])
		item_fields_set(out, ITEM_F_TYPE, ledger->v[ITEM_F_TYPE]);
	const char *login = remote->v[ITEM_F_OWNER];
	if (login) {
		const char *h = rec_idmap_handle(m, login);
		if (h)
			item_fields_set(out, ITEM_F_OWNER, h);
	} else if (ledger_owner && !rec_idmap_ident(m, ledger_owner)) {
		item_fields_set(out, ITEM_F_OWNER, ledger_owner);
	}
}

void rec_to_tracker(const struct rec_idmap *m, const struct item_fields *canon,
                    struct item_fields *out)
{
	item_fields_copy(out, canon);
	item_fields_set(out, ITEM_F_OWNER, rec_idmap_ident(m, canon->v[ITEM_F_OWNER]));
}

/* ---- rows ---- */

static char *col_str(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : xstrdup(PQgetvalue(res, r, c));
}

static int col_ll(const PGresult *res, int r, int c, long long *out)
{
	*out = 0;
	if (PQgetisnull(res, r, c))
		return 0;
	const char *s = PQgetvalue(res, r, c);
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int col_fields_json(const PGresult *res, int r, int c, struct item_fields *f, bool *has)
{
	*has = false;
	if (PQgetisnull(res, r, c))
		return 0;
	struct json_object *o = json_tokener_parse(PQgetvalue(res, r, c));
	int rc = item_fields_from_json(f, o);
	json_object_put(o);
	if (rc < 0)
		return rc;
	*has = true;
	return 0;
}

/* Column c of row r as a JSON object into *o (caller puts it); NULL for an
 * SQL NULL.  Returns 0 or -EINVAL for text that is no JSON object. */
static int col_object(const PGresult *res, int r, int c, struct json_object **o)
{
	*o = NULL;
	if (PQgetisnull(res, r, c))
		return 0;
	*o = json_tokener_parse(PQgetvalue(res, r, c));
	if (!*o || !json_object_is_type(*o, json_type_object)) {
		json_object_put(*o);
		*o = NULL;
		return -EINVAL;
	}
	return 0;
}

/* {"title": ms, ...} (FIELD_CHANGED_COL) into at[]; 0 where absent. */
static int col_field_ms(const PGresult *res, int r, int c, int64_t at[ITEM_F__COUNT])
{
	struct json_object *o, *v;
	for (int f = 0; f < ITEM_F__COUNT; f++)
		at[f] = 0;
	int rc = col_object(res, r, c, &o);
	for (int f = 0; o && f < ITEM_F__COUNT; f++)
		if (json_object_object_get_ex(o, item_field_name(f), &v))
			at[f] = json_object_get_int64(v);
	json_object_put(o);
	return rc;
}

/* {"title": "value", "owner": null, ...} (external_link.unconfirmed) into
 * f, a bit in *mask per field named (its value may be NULL: none sent). */
static int col_fields_named(const PGresult *res, int r, int c, struct item_fields *f,
                            unsigned *mask)
{
	struct json_object *o, *v;
	*mask = 0;
	int rc = col_object(res, r, c, &o);
	for (int i = 0; o && rc == 0 && i < ITEM_F__COUNT; i++) {
		if (!json_object_object_get_ex(o, item_field_name(i), &v))
			continue;
		if (v && !json_object_is_type(v, json_type_string)) {
			rc = -EINVAL;
			break;
		}
		item_fields_set(f, i, v ? json_object_get_string(v) : NULL);
		*mask |= ITEM_FIELD_BIT(i);
	}
	json_object_put(o);
	return rc;
}

int rec_row_parse(const PGresult *res, int r, struct rec_row *out)
{
	long long ms = 0;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	item_fields_init(&out->base);
	item_fields_init(&out->ledger);
	item_fields_init(&out->unconfirmed);
	if (PQnfields(res) < N_COLS)
		return -EINVAL;
	rc = col_ll(res, r, 0, &out->link_id);
	if (rc < 0)
		goto out;
	out->link_state = col_str(res, r, 1);
	out->token = col_str(res, r, 2);
	out->remote_id = col_str(res, r, 3);
	out->remote_key = col_str(res, r, 4);
	out->url = col_str(res, r, 5);
	out->extra = col_str(res, r, 6);
	out->etag = col_str(res, r, 7);
	rc = col_fields_json(res, r, 8, &out->base, &out->has_base);
	if (rc < 0)
		goto out;
	out->has_remote_ms = !PQgetisnull(res, r, 9);
	if ((rc = col_ll(res, r, 9, &ms)) < 0)
		goto out;
	out->remote_ms = ms;
	if ((rc = col_ll(res, r, 10, &out->item_id)) < 0 ||
	    (rc = col_ll(res, r, 11, &out->version)) < 0 ||
	    (rc = col_ll(res, r, 12, &ms)) < 0)
		goto out;
	out->ledger_ms = ms;
	for (int f = 0; f < ITEM_F__COUNT; f++)
		out->ledger.v[f] = col_str(res, r, 13 + f);
	out->pm_ref = col_str(res, r, 20);
	out->pm_title = col_str(res, r, 21);
	out->pm_url = col_str(res, r, 22);
	out->pm_problem = col_str(res, r, COL_PROBLEM);
	if ((rc = rec_refusals_parse(&out->refused, PQgetisnull(res, r, COL_REFUSED) ? NULL :
	                             PQgetvalue(res, r, COL_REFUSED))) < 0)
		goto out;
	out->has_intent = !PQgetisnull(res, r, COL_INTENT);
	if ((rc = col_ll(res, r, COL_INTENT, &ms)) < 0)
		goto out;
	out->intent_ms = ms;
	if ((rc = col_ll(res, r, COL_TOUCHED, &ms)) < 0)
		goto out;
	out->touched_ms = ms;
	if ((rc = col_field_ms(res, r, COL_FIELD_MS, out->field_ms)) < 0)
		goto out;
	if ((rc = col_fields_named(res, r, COL_UNCONFIRMED, &out->unconfirmed,
	                           &out->unconfirmed_mask)) < 0)
		goto out;
	if (PQnfields(res) >= N_COLS_REF) {
		if ((rc = col_ll(res, r, COL_REF, &out->ref_id)) < 0)
			goto out;
		out->ref_remote_id = col_str(res, r, COL_REF + 1);
		out->ref_key = col_str(res, r, COL_REF + 2);
		out->ref_state = col_str(res, r, COL_REF + 3);
	}
out:
	return rc;
}

void rec_row_free(struct rec_row *row)
{
	free(row->link_state);
	free(row->token);
	free(row->remote_id);
	free(row->remote_key);
	free(row->url);
	free(row->extra);
	free(row->etag);
	item_fields_free(&row->base);
	item_fields_free(&row->ledger);
	item_fields_free(&row->unconfirmed);
	free(row->pm_ref);
	free(row->pm_title);
	free(row->pm_url);
	free(row->pm_problem);
	free(row->ref_remote_id);
	free(row->ref_key);
	free(row->ref_state);
	rec_refusals_free(&row->refused);
	memset(row, 0, sizeof(*row));
}


char *rec_fields_json(const struct item_fields *f, unsigned mask)
{
	struct json_object *o = json_object_new_object();
	for (int i = 0; i < ITEM_F__COUNT; i++)
		if (mask & ITEM_FIELD_BIT(i))
			json_object_object_add(o, item_field_name(i),
			                       f->v[i] ? json_object_new_string(f->v[i]) : NULL);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}
