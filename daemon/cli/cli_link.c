/* cli_link.c — `closeloop link ITEM CONNECTOR TARGET [KEY]`: one action
 * item in one more tracker (sql/017_item_routes.sql).  See cli_link.h. */
#include "cli_link.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_show.h"
#include "connector.h"
#include "db.h"
#include "log.h"

/* The route and, with a KEY, the reference the push pass adopts, in one
 * transaction; refused when the item already has a ticket (or a route) in
 * that connector elsewhere. */
static const char link_sql[] =
	"WITH have AS ("
	"  SELECT coalesce(remote_key, target) AS k FROM external_link"
	"   WHERE action_item_id = $1::bigint AND connector = $2 AND kind = 'managed'"
	"), route AS ("
	"  INSERT INTO item_route (action_item_id, connector, target)"
	"  SELECT $1::bigint, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM have)"
	"  ON CONFLICT (action_item_id, connector) DO UPDATE SET target = EXCLUDED.target,"
	"   added_at = now(), added_by = session_user"
	"  RETURNING 1"
	"), ref AS ("
	"  INSERT INTO external_link (action_item_id, connector, target, kind, state, remote_key)"
	"  SELECT $1::bigint, $4, $3, 'reference', 'reference', $5"
	"   WHERE $5::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM have)"
	"  ON CONFLICT DO NOTHING RETURNING 1"
	") SELECT (SELECT k FROM have LIMIT 1), (SELECT count(*) FROM route),"
	"         (SELECT count(*) FROM ref)";

int cli_cmd_link(const struct cli *cli)
{
	if (cli->argc < 3 || cli->argc > 4) {
		fputs("closeloop link: expected ITEM CONNECTOR TARGET [KEY] (the item as a ledger id "
		      "or ticket key; a configured connector; one of its targets; the key of an "
		      "existing ticket there to adopt instead of creating one)\n", stderr);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	const char *item = cli->argv[0], *conn = cli->argv[1], *target = cli->argv[2];
	const char *key = cli->argc == 4 ? cli->argv[3] : NULL;
	int code = CLI_FAIL;
	char id[32], err[1024];
	PGconn *c = NULL;
	struct config *cfg = cli_load_config(cli);
	if (!cfg)
		return CLI_FAIL;
	const struct cfg_connector *cc = cfg_find_connector(cfg, conn);
	if (!cc) {
		log_error("link: no connector '%s' in %s (expected the name of one of its "
		          "connectors)", conn, cfg->path);
		goto out;
	}
	const char *served = cfg_connector_target(cc, target);
	if (!served) {
		log_error("link: connector '%s' does not serve '%s' (expected one of its targets; "
		          "add it to connectors.[].targets in %s first)", conn, target, cfg->path);
		goto out;
	}
	target = served; /* the configured spelling, as reconcile's targets */
	if (!(c = cli_ledger_open(cli, cfg->database_dsn, true)) ||
	    cli_find_item(c, item, id, sizeof(id)) < 0)
		goto out;
	const char *p[] = { id, conn, target, cc->type, key };
	PGresult *r = db_sync_exec(c, link_sql, 5, p, err, sizeof(err));
	if (!r) {
		log_error("link: %s", err);
		goto out;
	}
	if (!PQgetisnull(r, 0, 0)) {
		log_error("link: item %s already has a ticket in connector '%s': %s (one ticket per "
		          "item and connector)", id, conn, PQgetvalue(r, 0, 0));
	} else {
		printf("item %s: %s in %s/%s on the next push pass (the daemon starts one now)\n",
		       id, key ? "adopts" : "gets a ticket", conn, target);
		if (key)
			printf("  ticket %s%s\n", key, strcmp(PQgetvalue(r, 0, 2), "0") == 0 ?
			       " (already named as a reference)" : "");
		code = CLI_OK;
	}
	PQclear(r);
out:
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}
