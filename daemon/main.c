/* main.c — the closeloop command line: one binary, several subcommands,
 * all sharing the same modules as the daemon.
 *
 * Adding a subcommand is one row of commands[] below (its handler takes
 * a const struct cli *, see daemon/cli/cli.h); adding an option is one row
 * of options[] and a field in struct cli.  `closeloop SUBCOMMAND --help`
 * is generated from the rows, and the integration test runs it for every
 * row that `closeloop help` lists.
 *
 * Options may stand before or after the subcommand (GNU getopt permutes
 * the arguments); an unknown option or subcommand names the nearest valid
 * one.  Exit status: 0 success, 1 failure (also partial: some files or
 * links failed, the rest was done), 2 usage error (nothing was done).
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_link.h"
#include "cli_show.h"
#include "status.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "deliver.h"
#include "directory.h"
#include "importer.h"
#include "log.h"
#include "report.h"
#include "util.h"
#include "watch.h"

static int cmd_run(const struct cli *cli);
static int cmd_sync(const struct cli *cli);
static int cmd_migrate(const struct cli *cli);
static int cmd_import(const struct cli *cli);
static int cmd_directory(const struct cli *cli);
static int cmd_check_config(const struct cli *cli);
static int cmd_flags(const struct cli *cli);
static int cmd_escalate(const struct cli *cli);
static int cmd_status(const struct cli *cli);
static int cmd_version(const struct cli *cli);
static int cmd_help(const struct cli *cli);

/* ---- the subcommand table: one row per subcommand ---- */

static const struct cli_command commands[] = {
	{ "run", cmd_run, "",
	  "run the daemon (reconcile on timers and ledger edits)", "",
	  "closeloop run -c /etc/closeloop/closeloop.conf" },
	{ "sync", cmd_sync, "--once [--dry-run] [--connector NAME]",
	  "run one reconcile cycle and exit; --dry-run prints the plan, writes nothing",
	  "once dry-run connector",
	  "closeloop sync --once --dry-run -c /etc/closeloop/closeloop.conf" },
	{ "migrate", cmd_migrate, "[--dsn DSN]",
	  "create or upgrade the ledger's schema", "dsn",
	  "closeloop migrate -c /etc/closeloop/closeloop.conf" },
	{ "import", cmd_import, "[--platform P] [--team T] [--dry-run] [--write-back] FILE|DIR...",
	  "import postmortem action items from Markdown files and directories",
	  "platform team dry-run write-back",
	  "closeloop import -c /etc/closeloop/closeloop.conf --platform kubernetes --team platform postmortems/*.md" },
	{ "directory", cmd_directory, "load [DIRECTORY-FILE]",
	  "load people, teams and platforms into the ledger", "",
	  "closeloop directory load -c /etc/closeloop/closeloop.conf" },
	{ "check-config", cmd_check_config, "[--connect] [FILE]",
	  "validate a configuration file (--connect: also the ledger and its schema)",
	  "connect",
	  "closeloop check-config --connect /etc/closeloop/closeloop.conf" },
	{ "report", report_cmd, "[--quarter YYYYQn] [--platform P] [--team T] [--format md|csv|json|html] [-o FILE]",
	  "the quarterly closure report, as the ledger stood at the quarter's end",
	  "dsn quarter platform team format output",
	  "closeloop report -c /etc/closeloop/closeloop.conf --quarter 2026Q3 --format html -o q3.html" },
	{ "deliver", deliver_cmd, "--to NAME [--subject TEXT] [--platform P] [FILE...]",
	  "send files (or a test message) to a configured destination, to check it works",
	  "to subject platform",
	  "closeloop deliver -c /etc/closeloop/closeloop.conf --to payments-mail q3.html q3.md" },
	{ "link", cli_cmd_link, "ITEM CONNECTOR TARGET [KEY]",
	  "keep an action item in one more tracker: a new ticket in TARGET, or adopt ticket KEY there",
	  "", "closeloop link -c /etc/closeloop/closeloop.conf 412 jira-cloud OPS" },
	{ "show", cli_cmd_show, "[--json] ITEM",
	  "one action item (ledger id or ticket key) with its links and history", "json",
	  "closeloop show -c /etc/closeloop/closeloop.conf acme/payments#12" },
	{ "list", cli_cmd_list, "[--platform P] [--team T] [--state S] [--overdue] [--flag KIND] [--json]",
	  "action items by due date, filtered", "platform team state overdue flag json",
	  "closeloop list -c /etc/closeloop/closeloop.conf --team payments --overdue" },
	{ "flags", cmd_flags, "[--once] [--now TIME] [ITEM]",
	  "list open flags (of one action item); --once computes them first (as of --now TIME); "
	  "--now TIME alone: what would be raised and cleared then, nothing written", "once now",
	  "closeloop flags --once -c /etc/closeloop/closeloop.conf" },
	{ "escalate", cmd_escalate, "--dry-run [--now TIME]",
	  "print the escalations the daemon would send now (to whom, through which channel, "
	  "each tracker's own mention) and the ticket labels it would change; writes nothing",
	  "dry-run now",
	  "closeloop escalate --dry-run -v -c /etc/closeloop/closeloop.conf" },
	{ "status", cmd_status, "[--connector NAME] [--json]",
	  "per connector: last cycle, write queue, rate budget, requests, links by state",
	  "connector json", "closeloop status -c /etc/closeloop/closeloop.conf" },
	{ "version", cmd_version, "", "print the version", "", "closeloop version" },
	{ "help", cmd_help, "[SUBCOMMAND]", "print this overview, or one subcommand's help", "",
	  "closeloop help import" },
};

/* ---- the option table ---- */

struct cli_option {
	const char *name;   /* long name, "dry-run" */
	char shortopt;      /* 0 = long only */
	const char *arg;    /* metavariable, NULL for a flag */
	size_t off;         /* into struct cli: const char * (arg) or bool (flag) */
	bool global;        /* accepted by every subcommand */
	const char *help;
};
#define OPT_ARG(n, s, a, field, g, h) { n, s, a, offsetof(struct cli, field), g, h }
#define OPT_FLAG(n, s, field, g, h) { n, s, NULL, offsetof(struct cli, field), g, h }

static const struct cli_option options[] = {
	OPT_ARG("config", 'c', "FILE", config, true,
	        "configuration file (default $CLOSELOOP_CONFIG, else " CLI_DEFAULT_CONFIG ")"),
	OPT_FLAG("verbose", 'v', verbose, true, "debug logging"),
	OPT_FLAG("help", 'h', help, true, "print this help and exit"),
	OPT_ARG("log-format", 0, "FORMAT", log_format, true,
	        "text (default: LEVEL [key=value ...] message) or json (one object per line)"),
	OPT_ARG("dsn", 0, "DSN", dsn, false, "libpq connection string, instead of the configuration's"),
	OPT_ARG("platform", 0, "NAME", platform, false, "platform of the action items"),
	OPT_ARG("team", 0, "NAME", team, false, "owning team of the action items"),
	OPT_ARG("connector", 0, "NAME", connector, false, "only this connector"),
	OPT_FLAG("once", 0, once, false, "one cycle, then exit"),
	OPT_FLAG("dry-run", 'n', dry_run, false, "print what would change, write nothing"),
	OPT_FLAG("write-back", 0, write_back, false,
	         "write each item's ticket link into its postmortem document"),
	OPT_FLAG("connect", 0, connect, false, "also connect to the ledger and check its schema version"),
	OPT_ARG("quarter", 0, "YYYYQn", quarter, false, "calendar quarter, UTC (default: the last complete one)"),
	OPT_ARG("format", 0, "FORMAT", format, false, "md (default), csv, json or html"),
	OPT_ARG("output", 'o', "FILE", output, false, "write to FILE instead of standard output"),
	OPT_ARG("state", 0, "STATE", state, false, "open, in_progress, done or wont_do"),
	OPT_FLAG("overdue", 0, overdue, false, "only open or in-progress items past their due date (UTC)"),
	OPT_ARG("flag", 0, "KIND", flag, false,
	        "only items with an open flag of KIND (ownerless, undated, overdue, stale, ...)"),
	OPT_FLAG("json", 0, json, false, "JSON for scripts instead of text"),
	OPT_ARG("to", 0, "NAME", to, false, "a destination of the configuration's destinations list"),
	OPT_ARG("subject", 0, "TEXT", subject, false, "the subject line"),
	OPT_ARG("now", 0, "TIME", now, false,
	        "compute as of TIME (e.g. 2026-12-01T00:00:00Z) instead of the ledger's clock"),
};

/* ---- parsing ---- */

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Does cmd take the option (by its own row's list or as a global one)? */
static bool command_takes(const struct cli_command *cmd, const struct cli_option *o)
{
	if (o->global)
		return true;
	size_t n = strlen(o->name);
	for (const char *p = cmd->options; (p = strstr(p, o->name)) != NULL; p += n)
		if ((p == cmd->options || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static void print_options(FILE *f, const struct cli_command *cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct cli_option *o = &options[i];
		if (cmd ? !command_takes(cmd, o) : !o->global)
			continue;
		char left[48];
		if (o->shortopt)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->shortopt, o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-24s %s\n", left, o->help);
	}
}

static void usage(FILE *f)
{
	fputs("usage: closeloop [OPTIONS] SUBCOMMAND [ARGS...]\n\nsubcommands:\n", f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fputs("\noptions (every subcommand):\n", f);
	print_options(f, NULL);
	fputs("\nexit status: 0 success, 1 failure (also partial), 2 usage error\n"
	      "`closeloop SUBCOMMAND --help` shows a subcommand's options and an example.\n", f);
}

static void command_help(FILE *f, const struct cli_command *cmd)
{
	fprintf(f, "usage: closeloop %s [OPTIONS]%s%s\n\n%s\n\noptions:\n", cmd->name,
	        *cmd->synopsis ? " " : "", cmd->synopsis, cmd->summary);
	print_options(f, cmd);
	fprintf(f, "\nexample:\n  %s\n\nexit status: 0 success, 1 failure, 2 usage error\n",
	        cmd->example);
}

static void unknown_option(const char *arg)
{
	char word[64];
	const char *p = arg;
	while (*p == '-')
		p++;
	snprintf(word, sizeof(word), "%.*s", (int)strcspn(p, "="), p);
	const char *near = str_nearest(word, options, ARRAY_SIZE(options), sizeof(options[0]), 4);
	if (near)
		fprintf(stderr, "closeloop: unknown option '%s'; did you mean --%s?\n", arg, near);
	else
		fprintf(stderr, "closeloop: unknown option '%s'\n", arg);
}

/* Parse argv into cli (options anywhere, the first positional argument is
 * the subcommand).  Returns 0 or CLI_USAGE after printing why. */
static int parse(int argc, char **argv, struct cli *cli)
{
	struct option lopts[ARRAY_SIZE(options) + 1];
	char shorts[2 * ARRAY_SIZE(options) + 2] = ":";
	size_t ns = 1;
	bool seen[ARRAY_SIZE(options)] = { false };
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		lopts[i] = (struct option){ options[i].name,
			options[i].arg ? required_argument : no_argument, NULL, 256 + (int)i };
		if (options[i].shortopt) {
			shorts[ns++] = options[i].shortopt;
			if (options[i].arg)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = '\0';
	lopts[ARRAY_SIZE(options)] = (struct option){ NULL, 0, NULL, 0 };
	opterr = 0;
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, shorts, lopts, NULL)) != -1) {
		size_t idx = ARRAY_SIZE(options);
		if (ch >= 256)
			idx = (size_t)(ch - 256);
		for (size_t i = 0; ch < 256 && i < ARRAY_SIZE(options); i++)
			if (options[i].shortopt && options[i].shortopt == ch)
				idx = i;
		if (ch == ':') {
			fprintf(stderr, "closeloop: option '%s' needs a value\n", argv[optind - 1]);
			return CLI_USAGE;
		}
		if (ch == '?' || idx == ARRAY_SIZE(options)) {
			if (optopt && optopt < 256)
				fprintf(stderr, "closeloop: unknown option '-%c'\n", optopt);
			else
				unknown_option(argv[optind - 1]);
			fputs("see `closeloop --help`\n", stderr);
			return CLI_USAGE;
		}
		seen[idx] = true;
		char *field = (char *)cli + options[idx].off;
		if (options[idx].arg)
			*(const char **)(void *)field = optarg;
		else
			*(bool *)(void *)field = true;
	}
	if (optind < argc) {
		const char *name = argv[optind++];
		cli->cmd = find_command(name);
		if (!cli->cmd) {
			const char *near = str_nearest(name, commands, ARRAY_SIZE(commands),
			                               sizeof(commands[0]), 4);
			fprintf(stderr, "closeloop: unknown subcommand '%s'%s%s%s\nsee `closeloop --help`\n",
			        name, near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
			return CLI_USAGE;
		}
	}
	cli->argc = argc - optind;
	cli->argv = argv + optind;
	for (size_t i = 0; cli->cmd && i < ARRAY_SIZE(options); i++) {
		if (seen[i] && !command_takes(cli->cmd, &options[i])) {
			fprintf(stderr, "closeloop %s: --%s is not an option of %s\n",
			        cli->cmd->name, options[i].name, cli->cmd->name);
			cli_usage_hint(cli);
			return CLI_USAGE;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int rc = parse(argc, argv, &cli);
	if (rc)
		return rc;
	if (cli.verbose)
		log_pin_level(LOG_LVL_DEBUG);
	if (cli.log_format) {
		int f = log_format_parse(cli.log_format);
		if (f < 0) {
			fprintf(stderr, "closeloop: --log-format '%s': expected text or json\n",
			        cli.log_format);
			return CLI_USAGE;
		}
		log_set_format((enum log_format)f);
	}
	if (cli.help) {
		if (cli.cmd)
			command_help(stdout, cli.cmd);
		else
			usage(stdout);
		return CLI_OK;
	}
	if (!cli.cmd) {
		usage(stderr);
		return CLI_USAGE;
	}
	return cli.cmd->run(&cli);
}

/* ---- subcommands ---- */

static int cmd_help(const struct cli *cli)
{
	if (cli->argc == 0) {
		usage(stdout);
		return CLI_OK;
	}
	const struct cli_command *cmd = find_command(cli->argv[0]);
	if (!cmd) {
		fprintf(stderr, "closeloop help: no subcommand '%s'\n", cli->argv[0]);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	command_help(stdout, cmd);
	return CLI_OK;
}

static int cmd_version(const struct cli *cli)
{
	UNUSED(cli);
	printf("closeloop %s\n", CLOSELOOP_VERSION);
	return CLI_OK;
}

static int cmd_check_config(const struct cli *cli)
{
	const char *path = cli->argc > 0 ? cli->argv[0] : cli_config_path(cli);
	char err[1024];
	struct config *cfg = NULL;
	if (cfg_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\nfix the line named above and run `closeloop check-config %s` again\n",
		        err, path);
		return CLI_FAIL;
	}
	int rc = CLI_OK;
	if (cfg->directory_file) {
		struct directory *dir = NULL;
		if (dir_load_file(cfg->directory_file, &dir, err, sizeof(err)) < 0 ||
		    dir_check_routes(dir, cfg, cfg->directory_file, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\nfix the directory file named by `directory` in %s\n",
			        err, path);
			rc = CLI_FAIL;
		}
		dir_free(dir);
	}
	if (rc == CLI_OK && cli->connect) {
		struct cli c2 = *cli;
		c2.config = path;
		PGconn *c = cli_ledger_open(&c2, cfg->database_dsn, true);
		if (!c)
			rc = CLI_FAIL;
		else
			PQfinish(c);
	}
	if (rc == CLI_OK)
		printf("%s: ok (%zu connector(s)%s)\n", path, cfg->n_connectors,
		       cli->connect ? ", ledger answers, schema fits" : "");
	cfg_free(cfg);
	return rc;
}

/* `closeloop flags [--once] [--now TIME] [ITEM]`: --once computes the flags
 * (what the daemon does on its timer; at TIME with --now), then the open
 * flags are listed; --now TIME alone is a what-if that writes nothing. */
static int cmd_flags(const struct cli *cli)
{
	const char *item = cli->argc > 0 ? cli->argv[0] : NULL;
	char *end = NULL;
	if (cli->argc > 1 || (item && (strtoll(item, &end, 10) <= 0 || *end))) {
		fputs("closeloop flags: expected at most one action item id (a number)\n", stderr);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	struct config *cfg = cli_load_config(cli);
	if (!cfg)
		return CLI_FAIL;
	int code = CLI_FAIL;
	char err[1024];
	PGconn *c = cli_ledger_open(cli, cfg->database_dsn, true);
	if (!c)
		goto out;
	if (cli->once) {
		const char *user = getenv("USER");
		char *by = xasprintf("cli:%s", user && *user ? user : "unknown");
		int rc = watch_flags_once(c, &cfg->watch, cli->now, by, stdout, err, sizeof(err));
		free(by);
		if (rc < 0) {
			log_error("flags: %s", err);
			goto out;
		}
	}
	if (cli->now && !cli->once) { /* a what-if: nothing written */
		if (watch_flags_what_if(c, &cfg->watch, cli->now, item, stdout, err, sizeof(err)) < 0) {
			log_error("flags: %s", err);
			goto out;
		}
	} else if (watch_flags_print(c, item, stdout, err, sizeof(err)) < 0) {
		log_error("flags: %s", err);
		goto out;
	}
	code = CLI_OK;
out:
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}

/* `closeloop escalate --dry-run`: the daemon sends escalations; this shows
 * what it would send (with -v, the comments themselves). */
static int cmd_escalate(const struct cli *cli)
{
	if (!cli->dry_run || cli->argc) {
		fputs("closeloop escalate: only --dry-run is supported (the daemon sends "
		      "escalations on its flags timer)\n", stderr);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	struct config *cfg = cli_load_config(cli);
	if (!cfg)
		return CLI_FAIL;
	int code = CLI_FAIL;
	char err[1024];
	PGconn *c = cli_ledger_open(cli, cfg->database_dsn, true);
	if (c && watch_escalate_dry_run(c, cfg, cli->now, cli->verbose, stdout, err,
	                                sizeof(err)) < 0)
		log_error("escalate: %s", err);
	else if (c)
		code = CLI_OK;
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}

/* What the daemon recorded in the ledger (status.h). */
static int cmd_status(const struct cli *cli)
{
	struct config *cfg = cli_load_config(cli);
	if (!cfg)
		return CLI_FAIL;
	int code = CLI_FAIL;
	char err[1024];
	PGconn *c = cli_ledger_open(cli, cfg->database_dsn, true);
	if (c && status_print(c, cli->connector, cli->json, stdout, err, sizeof(err)) == 0)
		code = CLI_OK;
	else if (c)
		log_error("status: %s", err);
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}

static int cmd_migrate(const struct cli *cli)
{
	struct config *cfg = NULL;
	const char *dsn = cli->dsn;
	if (!dsn) {
		if (!(cfg = cli_load_config(cli)))
			return CLI_FAIL;
		dsn = cfg->database_dsn;
	}
	int code = CLI_FAIL;
	char err[1024];
	PGconn *c = cli_ledger_open(cli, dsn, false);
	if (!c)
		goto out;
	int n = db_migrate(c, err, sizeof(err));
	if (n < 0) {
		log_error("migrate: %s", err);
		log_error("hint: nothing after the failed migration was applied; fix the cause "
		          "(permissions of the DSN's role, a conflicting object) and run migrate again");
		goto out;
	}
	printf("ledger schema at version %d (%d migration(s) applied)\n", db_schema_required(), n);
	code = CLI_OK;
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
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	struct config *cfg = cli_load_config(cli);
	if (!cfg)
		return CLI_FAIL;
	int code = CLI_FAIL, failed = 0;
	char *sn_conns = NULL;
	PGconn *c = cli_ledger_open(cli, cfg->database_dsn, true);
	if (!c)
		goto out;
	struct imp_options io = {
		.platform = cli->platform ? cli->platform : cfg->default_platform,
		.team = cli->team ? cli->team : cfg->default_team,
		.dry_run = cli->dry_run,
		.repository = cfg->default_target,   /* bare "#N"; GitHub-shaped only */
	};
	sn_conns = imp_sn_connectors(cfg);
	io.sn_connectors = sn_conns;
	io.write_back = cli->write_back;
	struct imp_run_stats st;
	imp_run(c, cli->argv, cli->argc, &io, stdout, &st);
	failed = st.skipped + st.failed;
	if (failed)
		fprintf(stderr, "import: %d file(s) skipped or not stored for the reasons above; fix "
		        "them and import them again (files already imported are unchanged by a "
		        "re-import)\n", failed);
	code = failed == 0 ? CLI_OK : CLI_FAIL;
out:
	if (c)
		PQfinish(c);
	free(sn_conns);
	cfg_free(cfg);
	return code;
}

static int cmd_directory(const struct cli *cli)
{
	if (cli->argc < 1 || strcmp(cli->argv[0], "load") != 0 || cli->argc > 2) {
		fputs("closeloop directory: the only action is `load [DIRECTORY-FILE]`\n", stderr);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	struct config *cfg = cli_load_config(cli);
	if (!cfg)
		return CLI_FAIL;
	int code = CLI_FAIL;
	char err[1024];
	struct directory *dir = NULL;
	PGconn *c = NULL;
	const char *path = cli->argc > 1 ? cli->argv[1] : cfg->directory_file;
	if (!path) {
		log_error("directory: no file named and the configuration names none: "
		          "name one (`closeloop directory load FILE`) or set `directory` in %s",
		          cli_config_path(cli));
		goto out;
	}
	if (dir_load_file(path, &dir, err, sizeof(err)) < 0) {
		log_error("%s", err);
		log_error("hint: fix the line named above (examples/directory.conf shows the shape)");
		goto out;
	}
	if (dir_check_routes(dir, cfg, path, err, sizeof(err)) < 0)
		log_warn("%s (loaded all the same: those items are not routed there until the "
		         "configuration serves it; `closeloop check-config` fails on this)", err);
	if (!(c = cli_ledger_open(cli, cfg->database_dsn, true)))
		goto out;
	if (dir_store(c, dir, err, sizeof(err)) < 0) {
		log_error("directory: %s", err);
		goto out;
	}
	printf("directory %s: %zu platform(s), %zu team(s), %zu people loaded\n", path,
	       dir->n_platforms, dir->n_teams, dir->n_people);
	code = CLI_OK;
out:
	if (c)
		PQfinish(c);
	dir_free(dir);
	cfg_free(cfg);
	return code;
}

static int run_daemon(const struct cli *cli, bool once)
{
	struct config *cfg = cli_load_config(cli);
	if (!cfg)
		return CLI_FAIL;
	if (!once)
		log_set_timestamps(getenv("JOURNAL_STREAM") == NULL);
	struct daemon_options o = {
		.config_path = cli_config_path(cli),
		.once = once,
		.dry_run = cli->dry_run,
		.connector = cli->connector,
	};
	/* daemon_run: 0 clean, 1 start-up failed, 2 a once-cycle had errors */
	return daemon_run(cfg, &o) == 0 ? CLI_OK : CLI_FAIL;
}

static int cmd_run(const struct cli *cli)
{
	if (cli->argc) {
		fprintf(stderr, "closeloop run: takes no arguments (got '%s')\n", cli->argv[0]);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	return run_daemon(cli, false);
}

static int cmd_sync(const struct cli *cli)
{
	if (!cli->once || cli->argc) {
		fputs("closeloop sync: only `sync --once` is supported "
		      "(the long-running daemon is `closeloop run`)\n", stderr);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	return run_daemon(cli, true);
}
