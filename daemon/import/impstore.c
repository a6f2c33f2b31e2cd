/* impstore.c — imp_store: upsert one parsed postmortem into the ledger
 * (blocking libpq through db_sync_*, one transaction).
 *
 * Idempotence: every write is an upsert whose UPDATE only runs when a
 * value differs (ON CONFLICT ... DO UPDATE ... WHERE ... IS DISTINCT
 * FROM), so re-importing an unchanged document writes no row and no
 * item_event.  Item fields follow the document only where the document
 * changed: action_item.imported (sql/002_import.sql) keeps the values the
 * document had at the last import, and a field is overwritten only when
 * the new document value differs from that snapshot — an edit made since
 * in a tracker is not reverted by a re-import.
 *
 * Identity (impmatch.h): before the upsert, every document item is matched
 * to the postmortem's ledger items by ticket reference, then by import
 * key, then by title similarity; a matched ledger item whose key differs
 * takes the new key, so a re-worded item is updated (history shows the
 * title change) instead of duplicated.  Items that are no longer in the
 * document are kept (a postmortem edit must not silently delete history),
 * marked removed_from_document_at (sql/009) and listed on `out`; an item
 * that comes back is unmarked.
 *
 * Team: the document's team is used when the directory knows it (by name,
 * any case); otherwise — or when it names several teams ("SN, SW") — it is
 * reported on `out`, kept in postmortem.team_as_written, and the items go
 * to --team / the configured default.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "importer.h"
#include "impmatch.h"
#include "log.h"

/* Fields decided by the document only where it changed (see above). */
#define FOLLOW(f) \
	f " = CASE WHEN a.imported->'" f "' IS DISTINCT FROM EXCLUDED.imported->'" f "'" \
	" THEN EXCLUDED." f " ELSE a." f " END"

static const char sql_item[] =
	"WITH up AS ("
	" INSERT INTO action_item AS a (postmortem_id, import_key, position, title,"
	"  description, type, priority, owner, team_id, due_date, state, imported,"
	"  horizon, estimate)"
	" VALUES ($1, $2, $3::int, $4, $5, $6, $7, $8, $9::bigint, $10::date, $11, $12::jsonb,"
	"  $13, $14)"
	" ON CONFLICT (postmortem_id, import_key) DO UPDATE SET position = EXCLUDED.position, "
	FOLLOW("title") ", " FOLLOW("description") ", " FOLLOW("type") ", "
	FOLLOW("priority") ", " FOLLOW("owner") ", " FOLLOW("due_date") ", "
	FOLLOW("state") ", " FOLLOW("team_id") ", imported = EXCLUDED.imported,"
	" horizon = EXCLUDED.horizon, estimate = EXCLUDED.estimate,"
	" removed_from_document_at = NULL"
	" WHERE (a.position, a.imported, a.horizon, a.estimate, a.removed_from_document_at)"
	"  IS DISTINCT FROM (EXCLUDED.position, EXCLUDED.imported, EXCLUDED.horizon,"
	"  EXCLUDED.estimate, NULL::timestamptz)"
	" RETURNING a.id, (a.xmax = 0) AS inserted)"
	" SELECT id, inserted FROM up"
	" UNION ALL SELECT id, NULL FROM action_item"
	"  WHERE postmortem_id = $1 AND import_key = $2 AND NOT EXISTS (SELECT 1 FROM up)";

/* A reference is skipped when the item already has a link to the same
 * ticket, of any kind: reconcile turns an adopted reference into a managed
 * link, and a re-import must not add the reference again.  $5 is the
 * tracker type ('github', 'jira', 'servicenow': the connector column of
 * references).  A ServiceNow reference's target is the table (a number
 * names no assignment group) while the managed link it becomes has the
 * connector's target, so its ticket is the same when a link of the item
 * has its number (remote_key) or sys_id (remote_id). */
static const char sql_ref[] =
	"INSERT INTO external_link (action_item_id, connector, target, kind, state,"
	" remote_key, url)"
	" SELECT $1::bigint, $5, $2, 'reference', 'reference', $3, $4"
	" WHERE NOT EXISTS (SELECT 1 FROM external_link"
	"  WHERE action_item_id = $1::bigint AND ((target = $2 AND remote_key = $3)"
	"   OR ($5 = 'servicenow' AND (upper(remote_key) = upper($3) OR remote_id = $3))))"
	" ON CONFLICT (action_item_id, target, remote_key) WHERE kind = 'reference' DO NOTHING"
	" RETURNING id";

static const char sql_postmortem[] =
	"INSERT INTO postmortem AS p (reference, title, source_path, document_url,"
	" platform_id, team_id, severity, published_date, incident_start, team_as_written,"
	" status, problem_ref)"
	" VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint, $7, $8::date, $9::timestamptz, $10, $11,"
	"  $12)"
	" ON CONFLICT (reference) DO UPDATE SET title = EXCLUDED.title,"
	"  team_as_written = EXCLUDED.team_as_written, status = EXCLUDED.status,"
	"  source_path = EXCLUDED.source_path,"
	"  document_url = coalesce(EXCLUDED.document_url, p.document_url),"
	"  platform_id = coalesce(EXCLUDED.platform_id, p.platform_id),"
	"  team_id = coalesce(EXCLUDED.team_id, p.team_id),"
	"  severity = coalesce(EXCLUDED.severity, p.severity),"
	"  published_date = coalesce(EXCLUDED.published_date, p.published_date),"
	"  incident_start = coalesce(EXCLUDED.incident_start, p.incident_start),"
	"  problem_ref = coalesce(EXCLUDED.problem_ref, p.problem_ref),"
	"  updated_at = now()"
	" WHERE (p.title, p.source_path, p.document_url, p.platform_id, p.team_id, p.severity,"
	"        p.published_date, p.incident_start, p.team_as_written, p.status, p.problem_ref)"
	"  IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.source_path,"
	"  coalesce(EXCLUDED.document_url, p.document_url),"
	"  coalesce(EXCLUDED.platform_id, p.platform_id), coalesce(EXCLUDED.team_id, p.team_id),"
	"  coalesce(EXCLUDED.severity, p.severity),"
	"  coalesce(EXCLUDED.published_date, p.published_date),"
	"  coalesce(EXCLUDED.incident_start, p.incident_start), EXCLUDED.team_as_written,"
	"  EXCLUDED.status, coalesce(EXCLUDED.problem_ref, p.problem_ref))"
	" RETURNING (p.xmax = 0) AS inserted";

static const char *orbar(const char *s)
{
	return s ? s : "-";
}

static void print_plan(FILE *out, const struct imp_postmortem *pm, const char *platform,
                       const char *team)
{
	fprintf(out, "postmortem %s \"%s\"\n", pm->reference, pm->title);
	fprintf(out, "  source %s; platform %s; team %s; severity %s; published %s; "
	        "incident start %s\n", orbar(pm->source_path), orbar(platform), orbar(team),
	        orbar(pm->severity), orbar(pm->published_date), orbar(pm->incident_start));
	for (size_t i = 0; i < pm->n_items; i++) {
		const struct imp_item *it = &pm->items[i];
		char *const *v = it->fields.v;
		fprintf(out, "  item %d (key %s, line %d): %s\n", it->position, it->import_key,
		        it->line, v[ITEM_F_TITLE]);
		fprintf(out, "    state %s; type %s; priority %s; owner %s; due %s\n",
		        v[ITEM_F_STATE], orbar(v[ITEM_F_TYPE]), orbar(v[ITEM_F_PRIORITY]),
		        orbar(v[ITEM_F_OWNER]), orbar(v[ITEM_F_DUE_DATE]));
		if (v[ITEM_F_DESCRIPTION]) {
			fputs("    description: ", out);
			for (const char *p = v[ITEM_F_DESCRIPTION]; *p; p++) {
				fputc(*p, out);
				if (*p == '\n')
					fputs("      ", out);
			}
			fputc('\n', out);
		}
		for (size_t r = 0; r < it->n_refs; r++)
			fprintf(out, "    reference %s#%s (%s) %s\n", it->refs[r].target,
			        it->refs[r].number, it->refs[r].pull ? "pull request" : "issue",
			        it->refs[r].url);
		for (size_t r = 0; r < it->n_xrefs; r++)
			fprintf(out, "    reference %s %s %s\n", it->xrefs[r].kind, it->xrefs[r].number,
			        orbar(it->xrefs[r].url));
	}
}

/* Run sql and return the first column of its first row as a heap string
 * (*val NULL when no row or SQL NULL).  Returns 0 or -EIO with err. */
static int one_value(PGconn *c, const char *sql, int n, const char *const *params,
                     char **val, char *err, size_t errlen)
{
	*val = NULL;
	PGresult *res = db_sync_exec(c, sql, n, params, err, errlen);
	if (!res)
		return -EIO;
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		*val = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Find or create a platform / team by name; *id NULL when name is NULL.
 * A team created here has no tracker target; an existing team's routing
 * is never touched. */
static int upsert_named(PGconn *c, const char *table, const char *name, const char *platform_id,
                        char **id, char *err, size_t errlen)
{
	*id = NULL;
	if (!name)
		return 0;
	const char *params[] = { name, platform_id };
	if (strcmp(table, "platform") == 0)
		return one_value(c,
			"WITH ins AS (INSERT INTO platform (name) VALUES ($1)"
			" ON CONFLICT (name) DO NOTHING RETURNING id)"
			" SELECT id FROM ins UNION ALL SELECT id FROM platform WHERE name = $1 LIMIT 1",
			1, params, id, err, errlen);
	return one_value(c,
		"WITH ins AS (INSERT INTO team (name, platform_id) VALUES ($1, $2::bigint)"
		" ON CONFLICT (name) DO NOTHING RETURNING id)"
		" SELECT id FROM ins UNION ALL SELECT id FROM team WHERE name = $1 LIMIT 1",
		2, params, id, err, errlen);
}

/* A document item that links a ticket discovered in a tracker (an item
 * no document claimed yet: sql/033_discovery.sql) is that item: it moves
 * into this postmortem and takes the document item's key, with the
 * document's values as its import snapshot, so the upsert after it keeps
 * the ticket's values (FOLLOW: the document did not change since) and no
 * second item is made.  $1 postmortem $2 key $3 imported $4 target
 * $5 remote key $6 tracker type of the reference.  A ServiceNow
 * reference's target is the table while the discovered link's is the
 * assignment group (as in sql_ref): its ticket is the one whose number
 * (remote_key) or sys_id (remote_id) it names. */
static const char sql_claim[] =
	"UPDATE action_item a SET postmortem_id = $1::bigint, import_key = $2,"
	" imported = $3::jsonb, removed_from_document_at = NULL"
	" FROM external_link l"
	" WHERE l.action_item_id = a.id AND l.kind = 'managed' AND l.discovered_at IS NOT NULL"
	" AND a.import_key IS NULL AND ((lower(l.target) = lower($4)"
	"  AND lower(l.remote_key) = lower($5))"
	"  OR ($6 = 'servicenow' AND (upper(l.remote_key) = upper($5) OR l.remote_id = $5)))"
	" AND NOT EXISTS (SELECT 1 FROM action_item b WHERE b.postmortem_id = $1::bigint"
	"  AND b.import_key = $2)"
	" RETURNING a.id";

/* The ledger's remote_key of ticket reference r of it: GitHub's is
 * owner/repo#N, a Jira key is its own; *ref gets the reference. */
static char *ref_key(const struct imp_item *it, size_t r, const struct imp_ticket_ref **ref)
{
	*ref = r < it->n_refs ? &it->refs[r] : &it->xrefs[r - it->n_refs];
	return r < it->n_refs ? xasprintf("%s#%s", (*ref)->target, (*ref)->number) :
	                        xstrdup((*ref)->number);
}

static int claim_discovered(PGconn *c, const char *pm_id, const struct imp_item *it,
                            const char *imported, FILE *out, const char *would,
                            char *err, size_t errlen)
{
	for (size_t r = 0; r < it->n_refs + it->n_xrefs; r++) {
		const struct imp_ticket_ref *ref;
		char *key = ref_key(it, r, &ref);
		const char *p[] = { pm_id, it->import_key, imported, ref->target, key, ref->kind };
		PGresult *res = db_sync_exec(c, sql_claim, 6, p, err, errlen);
		if (!res) {
			free(key);
			return -EIO;
		}
		int n = PQntuples(res);
		if (n > 0 && out)
			fprintf(out, "  %ssame    item id %s: %s, found in its tracker (discovered), "
			        "is item %d of the document\n", would, PQgetvalue(res, 0, 0), key,
			        it->position);
		PQclear(res);
		free(key);
		if (n > 0)
			return 0;
	}
	return 0;
}

static char *imported_json(const struct imp_item *it, const char *team_id)
{
	struct json_object *o = item_fields_to_json(&it->fields);
	json_object_object_add(o, "team_id", team_id ? json_object_new_string(team_id) : NULL);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static int store_item(PGconn *c, const char *pm_id, const char *team_id,
                      const struct imp_item *it, struct imp_counts *counts, FILE *out,
                      const char *would, char *err, size_t errlen)
{
	int rc = 0;
	char pos[16];
	char *const *v = it->fields.v;
	char *imported = imported_json(it, team_id);
	PGresult *res = NULL;
	snprintf(pos, sizeof(pos), "%d", it->position);
	if ((rc = claim_discovered(c, pm_id, it, imported, out, would, err, errlen)) < 0)
		goto out;
	const char *params[] = {
		pm_id, it->import_key, pos, v[ITEM_F_TITLE], v[ITEM_F_DESCRIPTION],
		v[ITEM_F_TYPE] ? v[ITEM_F_TYPE] : "other", v[ITEM_F_PRIORITY], v[ITEM_F_OWNER],
		team_id, v[ITEM_F_DUE_DATE], v[ITEM_F_STATE] ? v[ITEM_F_STATE] : "open", imported,
		it->horizon, it->estimate,
	};
	res = db_sync_exec(c, sql_item, (int)ARRAY_SIZE(params), params, err, errlen);
	if (!res || PQntuples(res) != 1) {
		if (res)
			snprintf(err, errlen, "item %d: upsert returned %d rows", it->position,
			         PQntuples(res));
		rc = -EIO;
		goto out;
	}
	const char *what = "unchanged";
	if (PQgetisnull(res, 0, 1)) {
		counts->items_unchanged++;
	} else if (PQgetvalue(res, 0, 1)[0] == 't') {
		counts->items_new++;
		what = "new";
	} else {
		counts->items_updated++;
		what = "updated";
	}
	if (out && strcmp(what, "unchanged") != 0)
		fprintf(out, "  %s%-7s item %d: %s\n", would, what, it->position, v[ITEM_F_TITLE]);
	for (size_t r = 0; r < it->n_refs + it->n_xrefs; r++) {
		const struct imp_ticket_ref *ref;
		char *key = ref_key(it, r, &ref);
		const char *rp[] = { PQgetvalue(res, 0, 0), ref->target, key, ref->url, ref->kind };
		PGresult *rr = db_sync_exec(c, sql_ref, 5, rp, err, errlen);
		free(key);
		if (!rr) {
			rc = -EIO;
			goto out;
		}
		counts->refs_new += PQntuples(rr);
		PQclear(rr);
	}
out:
	if (rc < 0) {
		char *tmp = xstrdup(err);
		snprintf(err, errlen, "item %d (line %d): %s", it->position, it->line, tmp);
		free(tmp);
	}
	PQclear(res);
	free(imported);
	return rc;
}

/* Mark the items of this postmortem that the document no longer has
 * (kept, never deleted) and list every such item. */
static int report_missing(PGconn *c, const char *pm_id, const struct imp_postmortem *pm,
                          FILE *out, char *err, size_t errlen)
{
	int rc = 0;
	const char **keys = xcalloc(pm->n_items ? pm->n_items : 1, sizeof(*keys));
	for (size_t i = 0; i < pm->n_items; i++)
		keys[i] = pm->items[i].import_key;
	char *arr = db_text_array(keys, pm->n_items);
	free(keys);
	const char *params[] = { pm_id, arr };
	if ((rc = db_sync_command(c,
		"UPDATE action_item SET removed_from_document_at = now()"
		" WHERE postmortem_id = $1::bigint AND import_key IS NOT NULL"
		" AND import_key <> ALL ($2::text[]) AND removed_from_document_at IS NULL",
		2, params, err, errlen)) < 0)
		goto out;
	PGresult *res = db_sync_exec(c,
		"SELECT id, title FROM action_item WHERE postmortem_id = $1::bigint"
		" AND removed_from_document_at IS NOT NULL ORDER BY position, id",
		1, params, err, errlen);
	if (!res) {
		rc = -EIO;
		goto out;
	}
	for (int i = 0; out && i < PQntuples(res); i++)
		fprintf(out, "  kept    item id %s, no longer in the document: %s\n",
		        PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
out:
	free(arr);
	return rc;
}

static int set_key(PGconn *c, const char *id, const char *key, char *err, size_t errlen)
{
	const char *p[] = { id, key };
	return db_sync_command(c, key ? "UPDATE action_item SET import_key = $2 WHERE id = $1::bigint"
	                              : "UPDATE action_item SET import_key = 'moved:' || id"
	                                " WHERE id = $1::bigint",
	                       key ? 2 : 1, p, err, errlen);
}

/* Give the ledger items the document items match (impmatch.h) the keys
 * of those document items, so the upsert updates them.  Keys move in two
 * steps (first to "moved:ID") so that no two rows ever hold one key. */
static int rekey(PGconn *c, const char *pm_id, const struct imp_postmortem *pm, FILE *out,
                 char *err, size_t errlen)
{
	int rc = 0, n = 0;
	const char *params[] = { pm_id };
	long *match = xcalloc(pm->n_items ? pm->n_items : 1, sizeof(*match));
	struct impm_row *rows = NULL;
	char ***tickets = NULL;
	PGresult *res = db_sync_exec(c,
		"SELECT a.id, a.import_key, coalesce(a.imported->>'title', a.title), a.position,"
		" coalesce(string_agg(l.remote_key, ' '), '')"
		" FROM action_item a LEFT JOIN external_link l ON l.action_item_id = a.id"
		" WHERE a.postmortem_id = $1::bigint AND a.import_key IS NOT NULL"
		" GROUP BY a.id ORDER BY a.position, a.id", 1, params, err, errlen);
	if (!res) {
		rc = -EIO;
		goto out;
	}
	n = PQntuples(res);
	rows = xcalloc(n ? (size_t)n : 1, sizeof(*rows));
	tickets = xcalloc(n ? (size_t)n : 1, sizeof(*tickets));
	for (int r = 0; r < n; r++) {
		rows[r].import_key = PQgetvalue(res, r, 1);
		rows[r].title = PQgetvalue(res, r, 2);
		rows[r].position = (int)strtol(PQgetvalue(res, r, 3), NULL, 10);
		char *save = NULL, *list = PQgetvalue(res, r, 4);
		for (char *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			tickets[r] = xrealloc(tickets[r], (rows[r].n_tickets + 1) * sizeof(char *));
			tickets[r][rows[r].n_tickets++] = t;
		}
		rows[r].tickets = (const char *const *)tickets[r];
	}
	impm_match(pm, rows, (size_t)n, match);
	/* step 1: free every key that will move or that a document item takes */
	bool *moves = xcalloc(n ? (size_t)n : 1, sizeof(*moves));
	impm_moves(pm, rows, (size_t)n, match, moves);
	for (int r = 0; r < n && rc == 0; r++)
		if (moves[r])
			rc = set_key(c, PQgetvalue(res, r, 0), NULL, err, errlen);
	/* step 2: the matched ones take their document item's key */
	for (size_t i = 0; i < pm->n_items && rc == 0; i++) {
		if (match[i] < 0 || !strcmp(rows[match[i]].import_key, pm->items[i].import_key))
			continue;
		if (out)
			fprintf(out, "  same    item id %s: \"%s\" is now \"%s\"\n",
			        PQgetvalue(res, (int)match[i], 0), rows[match[i]].title,
			        pm->items[i].fields.v[ITEM_F_TITLE]);
		rc = set_key(c, PQgetvalue(res, (int)match[i], 0), pm->items[i].import_key, err, errlen);
	}
	free(moves);
out:
	for (int r = 0; r < n; r++)
		free(tickets[r]);
	free(tickets);
	free(rows);
	free(match);
	PQclear(res);
	return rc;
}

/* The team the items go to: the document's when the directory knows it,
 * else opt_team (created when missing, as before).  *written is the
 * document's team when it was not used. */
static int decide_team(PGconn *c, const struct imp_postmortem *pm, const char *opt_team,
                       const char *platform_id, char **team_id, const char **written,
                       FILE *out, char *err, size_t errlen)
{
	int rc;
	*written = NULL;
	*team_id = NULL;
	if (pm->team) {
		bool list = strpbrk(pm->team, ",;/&+") || strcasestr(pm->team, " and ");
		const char *p[] = { pm->team };
		if (!list && (rc = one_value(c, "SELECT id FROM team WHERE lower(name) = lower($1)"
		                                " ORDER BY id LIMIT 1", 1, p, team_id, err, errlen)) < 0)
			return rc;
		if (*team_id)
			return 0;
		*written = pm->team;
		if (out)
			fprintf(out, "  team    \"%s\" (%s:1) is %s; its items go to %s\n", pm->team,
			        pm->source_path, list ? "several teams, not one" : "not in the directory",
			        opt_team ? opt_team : "no team (give --team or set a default team)");
	}
	return upsert_named(c, "team", opt_team, platform_id, team_id, err, errlen);
}

/* The transaction body (BEGIN already sent). */
static int store_tx(PGconn *c, const struct imp_postmortem *pm, const char *platform,
                    const char *team, struct imp_counts *counts, FILE *out, bool dry,
                    char *err, size_t errlen)
{
	const char *would = dry ? "would be " : "", *written = NULL;
	int rc;
	char *platform_id = NULL, *team_id = NULL, *pm_id = NULL, *pm_team = NULL, *ins = NULL;
	if ((rc = db_sync_command(c, "SELECT set_config('closeloop.source', 'import', true)",
	                          0, NULL, err, errlen)) < 0)
		goto out;
	if ((rc = upsert_named(c, "platform", platform, NULL, &platform_id, err, errlen)) < 0 ||
	    (rc = decide_team(c, pm, team, platform_id, &team_id, &written, out, err, errlen)) < 0)
		goto out;
	const char *pp[] = { pm->reference, pm->title, pm->source_path, pm->document_url,
	                     platform_id, team_id, pm->severity, pm->published_date,
	                     pm->incident_start, written, pm->status, pm->problem_ref };
	if ((rc = one_value(c, sql_postmortem, 12, pp, &ins, err, errlen)) < 0)
		goto out;
	if (ins && ins[0] == 't')
		counts->postmortems_new++;
	else if (ins)
		counts->postmortems_updated++;
	if (out)
		fprintf(out, "postmortem %s: %s%s\n", pm->reference, ins ? would : "",
		        !ins ? "unchanged" : ins[0] == 't' ? "new" : "updated");
	PGresult *res = db_sync_exec(c, "SELECT id, team_id FROM postmortem WHERE reference = $1",
	                             1, pp, err, errlen);
	if (!res || PQntuples(res) != 1) {
		PQclear(res);
		rc = -EIO;
		goto out;
	}
	pm_id = xstrdup(PQgetvalue(res, 0, 0));
	pm_team = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	if ((rc = rekey(c, pm_id, pm, out, err, errlen)) < 0)
		goto out;
	for (size_t i = 0; i < pm->n_items; i++)
		if ((rc = store_item(c, pm_id, pm_team, &pm->items[i], counts, out, would,
		                      err, errlen)) < 0)
			goto out;
	rc = report_missing(c, pm_id, pm, out, err, errlen);
out:
	free(platform_id);
	free(team_id);
	free(pm_id);
	free(pm_team);
	free(ins);
	return rc;
}

int imp_store(PGconn *c, const struct imp_postmortem *pm, const struct imp_options *opt,
              struct imp_counts *counts, FILE *out, char *err, size_t errlen)
{
	int rc = 0;
	bool began = false;
	static const struct imp_options none = { 0 };
	if (!opt)
		opt = &none;
	const char *platform = pm->platform ? pm->platform : opt->platform;
	const char *team = opt->team;   /* the document's team: decide_team */
	memset(counts, 0, sizeof(*counts));
	if (opt->dry_run && out)
		print_plan(out, pm, platform, pm->team ? pm->team : team);
	if (!c) {
		/* a dry run without a database: the plan is all there is */
		if (!opt->dry_run) {
			snprintf(err, errlen, "%s: no database connection", pm->reference);
			rc = -EIO;
		}
		goto out;
	}
	if ((rc = db_sync_command(c, "BEGIN", 0, NULL, err, errlen)) < 0)
		goto out;
	began = true;
	if ((rc = store_tx(c, pm, platform, team, counts, out, opt->dry_run, err, errlen)) < 0)
		goto out;
	/* a dry run computed the counts against the real ledger; undo it all */
	rc = db_sync_command(c, opt->dry_run ? "ROLLBACK" : "COMMIT", 0, NULL, err, errlen);
	began = false;
out:
	if (began) {
		char ignore[128];
		if (db_sync_command(c, "ROLLBACK", 0, NULL, ignore, sizeof(ignore)) < 0)
			log_warn("import %s: rollback failed: %s", pm->reference, ignore);
	}
	return rc < 0 ? -EIO : 0;
}
