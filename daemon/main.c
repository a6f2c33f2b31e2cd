/* main.c — the closeloop command line: one binary, several subcommands,
 * all sharing the same modules as the daemon.
 *
 *   closeloop run            [-c FILE]                    the daemon
 *   closeloop sync --once    [-c FILE] [--dry-run] [--connector NAME]
 *   closeloop migrate        [-c FILE | --dsn DSN]
 *   closeloop import         [-c FILE] [--platform P] [--team T] [--dry-run] FILE...
 *   closeloop directory load [-c FILE] [DIRECTORY-FILE]
 *   closeloop check-config   [FILE]
 *   closeloop version
 *
 * The configuration file defaults to $CLOSELOOP_CONFIG, else
 * /etc/closeloop/closeloop.conf.  Exit status: 0 success, 1 failure,
 * 2 partial failure (some files or links failed, the rest was done),
 * 64 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "db.h"
#include "directory.h"
#include "importer.h"
#include "log.h"
#include "util.h"

#define EXIT_USAGE 64
#define DEFAULT_CONFIG "/etc/closeloop/closeloop.conf"

static void usage(FILE *f)
{
	fputs("usage: closeloop COMMAND [OPTIONS]\n"
	      "\n"
	      "commands:\n"
	      "  run                      run the daemon (reconcile on timers and ledger edits)\n"
	      "  sync --once [--dry-run] [--connector NAME]\n"
	      "                           run one reconcile cycle and exit; --dry-run prints\n"
	      "                           the field-level plan and writes nothing\n"
	      "  migrate [--dsn DSN]      apply the ledger's schema migrations\n"
	      "  import [--platform P] [--team T] [--dry-run] FILE...\n"
	      "                           import postmortem action items from Markdown\n"
	      "  directory load [FILE]    load people, teams and platforms into the ledger\n"
	      "  check-config [FILE]      validate a configuration file\n"
	      "  version                  print the version\n"
	      "\n"
	      "options:\n"
	      "  -c, --config FILE        configuration (default $CLOSELOOP_CONFIG or\n"
	      "                           " DEFAULT_CONFIG ")\n"
	      "  -v, --verbose            debug logging\n", f);
}

struct cli {
	const char *config;
	const char *dsn;
	const char *platform;
	const char *team;
	const char *connector;
	bool once, dry_run, verbose;
	int argc;
	char **argv; /* positional arguments after the command */
};

static int parse_options(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dsn", required_argument, NULL, 'd' },
		{ "platform", required_argument, NULL, 'p' },
		{ "team", required_argument, NULL, 't' },
		{ "connector", required_argument, NULL, 'C' },
		{ "once", no_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cli->config = optarg; break;
		case 'd': cli->dsn = optarg; break;
		case 'p': cli->platform = optarg; break;
		case 't': cli->team = optarg; break;
		case 'C': cli->connector = optarg; break;
		case 'o': cli->once = true; break;
		case 'n': cli->dry_run = true; break;
		case 'v': cli->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	cli->argc = argc - optind;
	cli->argv = argv + optind;
	if (cli->verbose)
		log_set_level(LOG_LVL_DEBUG);
	return 0;
}

static const char *config_path(const struct cli *cli)
{
	if (cli->config)
		return cli->config;
	const char *env = getenv("CLOSELOOP_CONFIG");
	return env && *env ? env : DEFAULT_CONFIG;
}

static struct config *load_config(const struct cli *cli)
{
	char err[1024];
	struct config *cfg = NULL;
	if (cfg_load(config_path(cli), &cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return NULL;
	}
	return cfg;
}

static PGconn *connect_ledger(const char *dsn)
{
	char err[512];
	PGconn *c = db_sync_connect(dsn, err, sizeof(err));
	if (!c)
		log_error("ledger: %s", err);
	return c;
}

static int cmd_check_config(const struct cli *cli)
{
	const char *path = cli->argc > 0 ? cli->argv[0] : config_path(cli);
	char err[1024];
	struct config *cfg = NULL;
	if (cfg_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int rc = 0;
	if (cfg->directory_file) {
		struct directory *dir = NULL;
		if (dir_load_file(cfg->directory_file, &dir, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			rc = 1;
		}
		dir_free(dir);
	}
	if (rc == 0)
		printf("%s: ok (%zu connector(s))\n", path, cfg->n_connectors);
	cfg_free(cfg);
	return rc;
}

static int cmd_migrate(const struct cli *cli)
{
	struct config *cfg = NULL;
	const char *dsn = cli->dsn;
	if (!dsn) {
		if (!(cfg = load_config(cli)))
			return 1;
		dsn = cfg->database_dsn;
	}
	int code = 1;
	char err[1024];
	PGconn *c = connect_ledger(dsn);
	if (!c)
		goto out;
	int n = db_migrate(c, err, sizeof(err));
	if (n < 0) {
		log_error("migrate: %s", err);
		goto out;
	}
	printf("ledger schema at version %d (%d migration(s) applied)\n", db_schema_required(), n);
	code = 0;
out:
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}

static int cmd_import(const struct cli *cli)
{
	if (cli->argc == 0) {
		fputs("closeloop import: name at least one postmortem file\n", stderr);
		return EXIT_USAGE;
	}
	struct config *cfg = load_config(cli);
	if (!cfg)
		return 1;
	int code = 1, failed = 0;
	char err[1024];
	PGconn *c = connect_ledger(cfg->database_dsn);
	if (!c)
		goto out;
	struct imp_options io = {
		.platform = cli->platform ? cli->platform : cfg->default_platform,
		.team = cli->team ? cli->team : cfg->default_team,
		.dry_run = cli->dry_run,
	};
	struct imp_counts total = { 0 };
	for (int i = 0; i < cli->argc; i++) {
		struct imp_postmortem *pm = NULL;
		if (imp_parse_file(cli->argv[i], &pm, err, sizeof(err)) < 0) {
			fprintf(stderr, "import: skipped %s\n", err);
			failed++;
			continue;
		}
		struct imp_counts n = { 0 };
		if (imp_store(c, pm, &io, &n, stdout, err, sizeof(err)) < 0) {
			fprintf(stderr, "import: %s: not stored: %s\n", cli->argv[i], err);
			failed++;
		} else if (!cli->dry_run) {
			printf("imported %s (%s): %d new, %d updated, %d unchanged item(s)\n",
			       pm->reference, cli->argv[i], n.items_new, n.items_updated,
			       n.items_unchanged);
			total.postmortems_new += n.postmortems_new;
			total.postmortems_updated += n.postmortems_updated;
			total.items_new += n.items_new;
			total.items_updated += n.items_updated;
			total.items_unchanged += n.items_unchanged;
			total.refs_new += n.refs_new;
		}
		imp_postmortem_free(pm);
	}
	if (!cli->dry_run)
		printf("import: %d file(s) read, %d skipped; postmortems %d new, %d updated; "
		       "action items %d new, %d updated, %d unchanged; %d ticket reference(s) new\n",
		       cli->argc, failed, total.postmortems_new, total.postmortems_updated,
		       total.items_new, total.items_updated, total.items_unchanged, total.refs_new);
	code = failed == 0 ? 0 : (failed < cli->argc ? 2 : 1);
out:
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}

static int cmd_directory(const struct cli *cli)
{
	if (cli->argc < 1 || strcmp(cli->argv[0], "load") != 0) {
		fputs("usage: closeloop directory load [-c FILE] [DIRECTORY-FILE]\n", stderr);
		return EXIT_USAGE;
	}
	struct config *cfg = load_config(cli);
	if (!cfg)
		return 1;
	int code = 1;
	char err[1024];
	struct directory *dir = NULL;
	PGconn *c = NULL;
	const char *path = cli->argc > 1 ? cli->argv[1] : cfg->directory_file;
	if (!path) {
		log_error("directory: no file named and the configuration names none");
		goto out;
	}
	if (dir_load_file(path, &dir, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	if (!(c = connect_ledger(cfg->database_dsn)))
		goto out;
	if (dir_store(c, dir, err, sizeof(err)) < 0) {
		log_error("directory: %s", err);
		goto out;
	}
	printf("directory %s: %zu platform(s), %zu team(s), %zu people loaded\n", path,
	       dir->n_platforms, dir->n_teams, dir->n_people);
	code = 0;
out:
	if (c)
		PQfinish(c);
	dir_free(dir);
	cfg_free(cfg);
	return code;
}

static int cmd_run(const struct cli *cli, bool once)
{
	if (once && !cli->once) {
		fputs("closeloop sync: only --once is supported (the daemon is `closeloop run`)\n", stderr);
		return EXIT_USAGE;
	}
	struct config *cfg = load_config(cli);
	if (!cfg)
		return 1;
	if (!once)
		log_set_timestamps(getenv("JOURNAL_STREAM") == NULL);
	struct daemon_options o = {
		.config_path = config_path(cli),
		.once = once,
		.dry_run = cli->dry_run,
		.connector = cli->connector,
	};
	return daemon_run(cfg, &o);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("closeloop %s\n", CLOSELOOP_VERSION);
		return 0;
	}
	struct cli cli = { 0 };
	if (parse_options(argc - 1, argv + 1, &cli) < 0)
		return EXIT_USAGE;
	if (strcmp(cmd, "run") == 0)
		return cmd_run(&cli, false);
	if (strcmp(cmd, "sync") == 0)
		return cmd_run(&cli, true);
	if (strcmp(cmd, "migrate") == 0)
		return cmd_migrate(&cli);
	if (strcmp(cmd, "import") == 0)
		return cmd_import(&cli);
	if (strcmp(cmd, "directory") == 0)
		return cmd_directory(&cli);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(&cli);
	fprintf(stderr, "closeloop: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
