/* cli_show.c — `closeloop show ITEM` and `closeloop list [filters]`: the
 * ledger read for a person at a terminal (or, with --json, for a script),
 * over libpq's blocking helpers (db_sync_exec).
 *
 * "Overdue" means a due date before today (UTC) on an item that is still
 * open or in progress — the same rule the closure-rate figures use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_show.h"
#include "db.h"
#include "log.h"

static const char *const item_states[] = { "open", "in_progress", "done", "wont_do" };

/* A time stamp as RFC 3339 UTC to the second. */
#define TS_SQL(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define OVERDUE_SQL "(a.due_date < (now() AT TIME ZONE 'UTC')::date " \
                    "AND a.state IN ('open','in_progress'))"

/* Platform of an item: its team's, else its postmortem's. */
#define ITEM_FROM \
	" FROM action_item a JOIN postmortem pm ON pm.id = a.postmortem_id" \
	" LEFT JOIN team t ON t.id = a.team_id" \
	" LEFT JOIN platform p ON p.id = coalesce(t.platform_id, pm.platform_id)"

static const char *val(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? "-" : PQgetvalue(r, row, col);
}

/* Print the one JSON value a query returned (NULL -> empty array). */
static void print_json(const PGresult *r)
{
	puts(PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "[]");
}

static PGconn *open_ledger(const struct cli *cli, struct config **cfg)
{
	if (!(*cfg = cli_load_config(cli)))
		return NULL;
	return cli_ledger_open(cli, (*cfg)->database_dsn, true);
}

/* ---- list ---- */

/* --flag KIND: items with an open flag of that kind (item_flag, sql/012). */
#define LIST_FLAG_SQL \
	"   AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM item_flag f" \
	"        WHERE f.action_item_id = a.id AND f.kind = $5 AND f.cleared_at IS NULL))"

/* Item-level flag kinds (sql/012_watch.sql's CHECK, less the postmortem-level ones). */
static const char *const item_flag_kinds[] = {
	"ownerless", "undated", "overdue", "stale", "needs_decision",
	"owner_inactive", "link_broken", "long_horizon",
};

static const char list_sql[] =
	"SELECT a.id, a.state, a.priority, a.due_date, a.owner, t.name, p.name,"
	" pm.reference, a.title, " OVERDUE_SQL ","
	" (SELECT string_agg(coalesce(l.remote_key, l.target), ' ' ORDER BY l.id)"
	"    FROM external_link l WHERE l.action_item_id = a.id)"
	ITEM_FROM
	" WHERE ($1::text IS NULL OR p.name = $1) AND ($2::text IS NULL OR t.name = $2)"
	"   AND ($3::text IS NULL OR a.state = $3) AND (NOT $4::bool OR " OVERDUE_SQL ")"
	LIST_FLAG_SQL
	" ORDER BY a.due_date NULLS LAST, a.id";

static const char list_json_sql[] =
	"SELECT json_agg(json_build_object('id', a.id, 'state', a.state, 'priority', a.priority,"
	" 'due_date', a.due_date, 'owner', a.owner, 'team', t.name, 'platform', p.name,"
	" 'postmortem', pm.reference, 'title', a.title, 'overdue', " OVERDUE_SQL ","
	" 'tickets', (SELECT json_agg(coalesce(l.remote_key, l.target) ORDER BY l.id)"
	"   FROM external_link l WHERE l.action_item_id = a.id),"
	" 'flags', (SELECT json_agg(f.kind ORDER BY f.kind) FROM item_flag f"
	"   WHERE f.action_item_id = a.id AND f.cleared_at IS NULL))"
	" ORDER BY a.due_date NULLS LAST, a.id)"
	ITEM_FROM
	" WHERE ($1::text IS NULL OR p.name = $1) AND ($2::text IS NULL OR t.name = $2)"
	"   AND ($3::text IS NULL OR a.state = $3) AND (NOT $4::bool OR " OVERDUE_SQL ")"
	LIST_FLAG_SQL;

static void print_list(const PGresult *r)
{
	int n = PQntuples(r);
	printf("%6s  %-11s %-3s %-10s %-12s %-16s %-14s %s\n", "ID", "STATE", "PRI", "DUE",
	       "OWNER", "TEAM", "POSTMORTEM", "TITLE [TICKETS]");
	for (int i = 0; i < n; i++) {
		bool overdue = strcmp(PQgetvalue(r, i, 9), "t") == 0;
		printf("%6s  %-11s %-3s %-10s%s%-12.12s %-16.16s %-14.14s %.60s%s%s%s\n",
		       val(r, i, 0), val(r, i, 1), val(r, i, 2), val(r, i, 3), overdue ? "!" : " ",
		       val(r, i, 4), val(r, i, 5), val(r, i, 7), val(r, i, 8),
		       PQgetisnull(r, i, 10) ? "" : " [", PQgetisnull(r, i, 10) ? "" : val(r, i, 10),
		       PQgetisnull(r, i, 10) ? "" : "]");
	}
	printf("%d action item(s)%s\n", n, n ? "; ! marks an overdue due date" : "");
}

int cli_cmd_list(const struct cli *cli)
{
	if (cli->argc) {
		fprintf(stderr, "closeloop list: takes no arguments (got '%s'); filter with "
		        "--platform, --team, --state, --overdue, --flag\n", cli->argv[0]);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	bool state_ok = !cli->state;
	for (size_t i = 0; !state_ok && i < ARRAY_SIZE(item_states); i++)
		state_ok = strcmp(cli->state, item_states[i]) == 0;
	if (!state_ok) {
		const char *near = str_nearest(cli->state, item_states, ARRAY_SIZE(item_states),
		                               sizeof(item_states[0]), 99);
		fprintf(stderr, "closeloop list: --state '%s' is not a state; did you mean %s? "
		        "(open, in_progress, done, wont_do)\n", cli->state, near);
		return CLI_USAGE;
	}
	bool flag_ok = !cli->flag;
	for (size_t i = 0; !flag_ok && i < ARRAY_SIZE(item_flag_kinds); i++)
		flag_ok = strcmp(cli->flag, item_flag_kinds[i]) == 0;
	if (!flag_ok) {
		const char *near = str_nearest(cli->flag, item_flag_kinds, ARRAY_SIZE(item_flag_kinds),
		                               sizeof(item_flag_kinds[0]), 99);
		fprintf(stderr, "closeloop list: --flag '%s' is not an item flag; did you mean %s? "
		        "(ownerless, undated, overdue, stale, needs_decision, owner_inactive, "
		        "link_broken, long_horizon)\n", cli->flag, near);
		return CLI_USAGE;
	}
	struct config *cfg = NULL;
	int code = CLI_FAIL;
	char err[1024];
	PGresult *r = NULL;
	PGconn *c = open_ledger(cli, &cfg);
	if (!c)
		goto out;
	const char *params[5] = { cli->platform, cli->team, cli->state,
	                          cli->overdue ? "true" : "false", cli->flag };
	r = db_sync_exec(c, cli->json ? list_json_sql : list_sql, 5, params, err, sizeof(err));
	if (!r) {
		log_error("list: %s", err);
		goto out;
	}
	if (cli->json)
		print_json(r);
	else
		print_list(r);
	code = CLI_OK;
out:
	PQclear(r);
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}

/* ---- show ---- */

/* ITEM is a ledger id ("42") or a ticket key ("acme/payments#12"). */
static const char find_sql[] =
	"SELECT a.id FROM action_item a WHERE a.id::text = $1"
	" UNION SELECT l.action_item_id FROM external_link l WHERE l.remote_key = $1"
	" ORDER BY 1";

static const char item_sql[] =
	"SELECT a.id, a.title, pm.reference, pm.title, a.state, a.priority, a.type, a.owner,"
	" t.name, p.name, a.due_date, " OVERDUE_SQL ", " TS_SQL("a.created_at") ","
	" " TS_SQL("a.updated_at") ", " TS_SQL("a.closed_at") ", a.description, t.connector, t.target"
	ITEM_FROM " WHERE a.id = $1::bigint";

static const char links_sql[] =
	"SELECT connector, kind, state, coalesce(remote_key, target), url, last_error,"
	" broken_reason, updated_at FROM external_link WHERE action_item_id = $1::bigint ORDER BY id";

/* flags of the item, open ones first (sql/012_watch.sql) */
static const char flags_sql[] =
	"SELECT kind, " TS_SQL("raised_at") ", raised_by, detail::text, " TS_SQL("cleared_at") ","
	" clear_reason FROM item_flag WHERE action_item_id = $1::bigint"
	" ORDER BY cleared_at IS NOT NULL, raised_at, id";

static const char events_sql[] =
	"SELECT " TS_SQL("at") ", field,"
	" old_value, new_value, source, actor FROM item_event"
	" WHERE action_item_id = $1::bigint ORDER BY at, id";

static const char show_json_sql[] =
	"SELECT json_build_object('item', (SELECT row_to_json(a) FROM action_item a WHERE a.id = $1::bigint),"
	" 'links', (SELECT json_agg(l ORDER BY l.id) FROM (SELECT id, connector, kind, state,"
	"   remote_key, target, url, last_error, broken_reason, updated_at FROM external_link"
	"   WHERE action_item_id = $1::bigint) l),"
	" 'history', (SELECT json_agg(e ORDER BY e.at, e.id) FROM item_event e"
	"   WHERE e.action_item_id = $1::bigint),"
	" 'flags', (SELECT json_agg(f ORDER BY f.raised_at, f.id) FROM item_flag f"
	"   WHERE f.action_item_id = $1::bigint))";

static void print_item(const PGresult *r)
{
	printf("action item %s: %s\n", val(r, 0, 0), val(r, 0, 1));
	printf("  postmortem  %s  %s\n", val(r, 0, 2), val(r, 0, 3));
	printf("  state       %s   priority %s   type %s\n", val(r, 0, 4), val(r, 0, 5), val(r, 0, 6));
	printf("  owner       %s   team %s   platform %s\n", val(r, 0, 7), val(r, 0, 8), val(r, 0, 9));
	printf("  due         %s%s\n", val(r, 0, 10),
	       strcmp(PQgetvalue(r, 0, 11), "t") == 0 ? "  (overdue)" : "");
	printf("  tracker     %s %s\n", val(r, 0, 16), val(r, 0, 17));
	printf("  created     %s   updated %s   closed %s\n", val(r, 0, 12), val(r, 0, 13),
	       val(r, 0, 14));
	if (!PQgetisnull(r, 0, 15))
		printf("  description %s\n", PQgetvalue(r, 0, 15));
}

static void print_links(const PGresult *r)
{
	printf("links (%d):\n", PQntuples(r));
	for (int i = 0; i < PQntuples(r); i++) {
		printf("  %-14s %-9s %-9s %s %s\n", val(r, i, 0), val(r, i, 1), val(r, i, 2),
		       val(r, i, 3), PQgetisnull(r, i, 4) ? "" : PQgetvalue(r, i, 4));
		if (!PQgetisnull(r, i, 6))
			printf("      broken: %s\n", PQgetvalue(r, i, 6));
		if (!PQgetisnull(r, i, 5))
			printf("      last error: %s\n", PQgetvalue(r, i, 5));
	}
}

static void print_flags(const PGresult *r)
{
	int open = 0;
	for (int i = 0; i < PQntuples(r); i++)
		open += PQgetisnull(r, i, 4);
	printf("flags (%d open, %d cleared):\n", open, PQntuples(r) - open);
	for (int i = 0; i < PQntuples(r); i++) {
		printf("  %-15s raised %s by %s  %s\n", val(r, i, 0), val(r, i, 1), val(r, i, 2),
		       val(r, i, 3));
		if (!PQgetisnull(r, i, 4))
			printf("      cleared %s: %s\n", PQgetvalue(r, i, 4), val(r, i, 5));
	}
}

static void print_events(const PGresult *r)
{
	printf("history (%d):\n", PQntuples(r));
	for (int i = 0; i < PQntuples(r); i++)
		printf("  %s  %-12s %s -> %s  (%s%s%s)\n", val(r, i, 0), val(r, i, 1),
		       val(r, i, 2), val(r, i, 3), val(r, i, 4),
		       PQgetisnull(r, i, 5) ? "" : ", ", PQgetisnull(r, i, 5) ? "" : PQgetvalue(r, i, 5));
}

/* Resolve ITEM to one id into idbuf.  Returns 0, -ENOENT (none) or
 * -EEXIST (a ticket key naming several items), with the reason logged. */
int cli_find_item(PGconn *c, const char *item, char *idbuf, size_t idlen)
{
	char err[1024];
	const char *p[1] = { item };
	PGresult *r = db_sync_exec(c, find_sql, 1, p, err, sizeof(err));
	int rc = -EIO;
	if (!r) {
		log_error("%s", err);
		goto out;
	}
	if (PQntuples(r) == 0) {
		log_error("no action item '%s' (give a ledger id or a ticket key such as "
		          "owner/repo#12; `closeloop list` shows both)", item);
		rc = -ENOENT;
		goto out;
	}
	if (PQntuples(r) > 1) {
		log_error("'%s' names %d action items; name one by its ledger id", item,
		          PQntuples(r));
		rc = -EEXIST;
		goto out;
	}
	snprintf(idbuf, idlen, "%s", PQgetvalue(r, 0, 0));
	rc = 0;
out:
	PQclear(r);
	return rc;
}

static int show_text(PGconn *c, const char *id)
{
	const char *const sqls[] = { item_sql, links_sql, flags_sql, events_sql };
	void (*const printers[])(const PGresult *) = { print_item, print_links, print_flags,
	                                                print_events };
	char err[1024];
	const char *p[1] = { id };
	for (size_t i = 0; i < ARRAY_SIZE(sqls); i++) {
		PGresult *r = db_sync_exec(c, sqls[i], 1, p, err, sizeof(err));
		if (!r) {
			log_error("show: %s", err);
			return -EIO;
		}
		printers[i](r);
		PQclear(r);
	}
	return 0;
}

int cli_cmd_show(const struct cli *cli)
{
	if (cli->argc != 1) {
		fputs("closeloop show: name one action item (its ledger id, or a ticket key "
		      "such as owner/repo#12)\n", stderr);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	struct config *cfg = NULL;
	int code = CLI_FAIL;
	char id[32], err[1024];
	PGconn *c = open_ledger(cli, &cfg);
	if (!c || cli_find_item(c, cli->argv[0], id, sizeof(id)) < 0)
		goto out;
	if (cli->json) {
		const char *p[1] = { id };
		PGresult *r = db_sync_exec(c, show_json_sql, 1, p, err, sizeof(err));
		if (!r) {
			log_error("show: %s", err);
			goto out;
		}
		print_json(r);
		PQclear(r);
	} else if (show_text(c, id) < 0) {
		goto out;
	}
	code = CLI_OK;
out:
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}
