/* cli.h — what every `closeloop SUBCOMMAND` handler receives, and the
 * helpers they share (configuration, ledger connection with the schema
 * check, exit codes).
 *
 * The subcommand table lives in daemon/main.c: adding a subcommand is one
 * row there (name, handler, synopsis, summary, the options it takes, an
 * example).  A handler is `int fn(const struct cli *)` returning an exit
 * status (CLI_OK, CLI_FAIL, CLI_USAGE).  Options are parsed before the
 * handler runs, anywhere on the command line (`closeloop -c F import X`
 * and `closeloop import X -c F` are the same); an option a subcommand does
 * not list is a usage error.
 */
#ifndef CLOSELOOP_CLI_H
#define CLOSELOOP_CLI_H

#include <stdbool.h>
#include <libpq-fe.h>
#include "config.h"
#include "util.h"

/* Exit statuses (documented in closeloop(8) and `closeloop --help`). */
#define CLI_OK    0   /* success */
#define CLI_FAIL  1   /* failure, also a partial one (some files skipped) */
#define CLI_USAGE 2   /* bad command line: nothing was done */

#define CLI_DEFAULT_CONFIG "/etc/closeloop/closeloop.conf"

struct cli_command;

/* Parsed command line.  String options are NULL when not given. */
struct cli {
	const char *config;     /* -c/--config FILE */
	const char *dsn;        /* --dsn DSN (migrate, check-config) */
	const char *platform;   /* --platform NAME */
	const char *team;       /* --team NAME */
	const char *connector;  /* --connector NAME */
	const char *state;      /* --state STATE (list) */
	const char *flag;       /* --flag KIND (list): an open item flag */
	const char *log_format; /* --log-format text|json */
	const char *quarter;    /* --quarter YYYYQn (report) */
	const char *format;     /* --format md|csv|json|html (report) */
	const char *output;     /* -o/--output FILE (report) */
	const char *now;        /* --now TIME (flags): a timestamptz, instead of the ledger's clock */
	const char *to;         /* --to NAME (deliver): a configured destination */
	const char *subject;    /* --subject TEXT (deliver) */
	bool once, dry_run, verbose, json, overdue, connect, help;
	bool write_back;        /* import --write-back */
	int argc;               /* positional arguments after the subcommand */
	char **argv;
	const struct cli_command *cmd;
};

/* One row of the subcommand table (daemon/main.c). */
struct cli_command {
	const char *name;      /* "import" */
	int (*run)(const struct cli *cli);
	const char *synopsis;  /* after the name: "[--dry-run] FILE..." */
	const char *summary;   /* one line for `closeloop --help` */
	const char *options;   /* option names it takes beyond the global ones,
	                          space separated: "platform team dry-run" */
	const char *example;   /* one command line */
};

/* The configuration file: -c, else $CLOSELOOP_CONFIG, else
 * CLI_DEFAULT_CONFIG. */
const char *cli_config_path(const struct cli *cli);

/* Load and validate the configuration; on failure logs the file:line
 * sentence and what to do next, and returns NULL. */
struct config *cli_load_config(const struct cli *cli);

/* Connect to the ledger at dsn.  With check_schema, refuse a ledger whose
 * schema is older than this build needs (and say to run `closeloop
 * migrate`), warn about a newer one.  On failure logs what went wrong and
 * what to do next, and returns NULL. */
PGconn *cli_ledger_open(const struct cli *cli, const char *dsn, bool check_schema);

/* Print the one-line hint that ends a usage error:
 * "see `closeloop NAME --help`". */
void cli_usage_hint(const struct cli *cli);

#endif
