/* cli.c — helpers shared by the subcommands (see cli.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "db.h"
#include "log.h"

const char *cli_config_path(const struct cli *cli)
{
	if (cli->config)
		return cli->config;
	const char *env = getenv("CLOSELOOP_CONFIG");
	return env && *env ? env : CLI_DEFAULT_CONFIG;
}

struct config *cli_load_config(const struct cli *cli)
{
	char err[1024];
	struct config *cfg = NULL;
	const char *path = cli_config_path(cli);
	int rc = cfg_load(path, &cfg, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		if (rc == -ENOENT && !cli->config)
			log_error("hint: name the configuration with -c FILE (or set "
			          "CLOSELOOP_CONFIG); examples/closeloop.conf lists every option");
		else if (rc == -ENOENT)
			log_error("hint: check the path; examples/closeloop.conf is a starting point");
		else
			log_error("hint: fix the line named above, then check it with "
			          "`closeloop check-config %s`", path);
		return NULL;
	}
	return cfg;
}

PGconn *cli_ledger_open(const struct cli *cli, const char *dsn, bool check_schema)
{
	char err[1024];
	PGconn *c = db_sync_connect(dsn, err, sizeof(err));
	if (!c) {
		log_error("ledger: %s", err);
		log_error("hint: check database.dsn in %s and that PostgreSQL is running; "
		          "`closeloop check-config --connect` tests the connection",
		          cli->dsn ? "--dsn" : cli_config_path(cli));
		return NULL;
	}
	if (!check_schema)
		return c;
	int have = db_schema_version(c, err, sizeof(err));
	int need = db_schema_required();
	if (have < 0) {
		log_error("ledger: %s", err);
		goto fail;
	}
	if (have == 0) {
		log_error("ledger: the database has no closeloop schema yet: "
		          "run `closeloop migrate -c %s` first", cli_config_path(cli));
		goto fail;
	}
	int first_missing = 0;
	int missing = db_schema_missing(c, &first_missing, err, sizeof(err));
	if (missing < 0) {
		log_error("ledger: %s", err);
		goto fail;
	}
	if (missing > 0) {
		log_error("ledger: schema is at version %d but this closeloop needs %d "
		          "(%d migration(s) not applied, the first %03d): "
		          "run `closeloop migrate -c %s` first",
		          have, need, missing, first_missing, cli_config_path(cli));
		goto fail;
	}
	if (have > need)
		log_warn("ledger: schema is at version %d, newer than this closeloop knows (%d); "
		         "it carries on, but upgrade closeloop to the version that migrated it",
		         have, need);
	return c;
fail:
	PQfinish(c);
	return NULL;
}

void cli_usage_hint(const struct cli *cli)
{
	if (cli->cmd)
		fprintf(stderr, "see `closeloop %s --help`\n", cli->cmd->name);
	else
		fputs("see `closeloop --help`\n", stderr);
}
