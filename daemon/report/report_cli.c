/* report_cli.c — `closeloop report` (one row of main.c's subcommand
 * table): options checked, ledger opened, report written.
 *
 *   closeloop report [-c FILE | --dsn DSN] [--quarter YYYYQn] [--platform P]
 *                    [--team T] [--format md|csv|json|html] [-o FILE]
 *
 * Defaults: the last complete quarter (UTC), Markdown, standard output.
 * With -o the report is written to FILE.tmp and renamed over FILE, so a
 * reader never sees half a report.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "log.h"
#include "report.h"

static int parse_format(const char *s, enum report_format *out)
{
	static const struct { const char *name; enum report_format fmt; } formats[] = {
		{ "md", REPORT_MD }, { "markdown", REPORT_MD }, { "csv", REPORT_CSV },
		{ "json", REPORT_JSON }, { "html", REPORT_HTML },
	};
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		if (strcmp(s, formats[i].name) == 0) {
			*out = formats[i].fmt;
			return 0;
		}
	return -EINVAL;
}

int report_write(const struct report *r, enum report_format fmt, FILE *f)
{
	switch (fmt) {
	case REPORT_MD: return report_write_md(r, f);
	case REPORT_CSV: return report_write_csv(r, f);
	case REPORT_JSON: return report_write_json(r, f);
	case REPORT_HTML: return report_write_html(r, f);
	default: abort();
	}
}

/* Write to path through path.tmp + rename, or to stdout when path is NULL. */
static int write_out(const struct report *r, enum report_format fmt, const char *path)
{
	if (!path) {
		int rc = report_write(r, fmt, stdout);
		if (fflush(stdout) != 0)
			rc = -EIO;
		return rc;
	}
	char *tmp = xasprintf("%s.tmp", path);
	int rc = -EIO;
	FILE *f = fopen(tmp, "w");
	if (!f) {
		log_error("report: cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = report_write(r, fmt, f);
	if (fclose(f) != 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0) {
		log_error("report: writing %s failed: %s", path, strerror(-rc));
		unlink(tmp);
	}
out:
	free(tmp);
	return rc;
}

int report_cmd(const struct cli *cli)
{
	enum report_format fmt = REPORT_MD;
	if (cli->format && parse_format(cli->format, &fmt) < 0) {
		fprintf(stderr, "closeloop report: --format %s: expected md, csv, json or html\n",
		        cli->format);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	if (cli->quarter && !report_quarter_valid(cli->quarter)) {
		fprintf(stderr, "closeloop report: --quarter %s: expected YYYYQn, e.g. 2026Q3\n",
		        cli->quarter);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	if (cli->argc > 0) {
		fprintf(stderr, "closeloop report: unexpected argument '%s'\n", cli->argv[0]);
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	struct config *cfg = NULL;
	PGconn *c = NULL;
	struct report *r = NULL;
	char err[1024];
	int code = CLI_FAIL;
	const char *dsn = cli->dsn;
	if (!dsn) {
		if (!(cfg = cli_load_config(cli)))
			goto out;
		dsn = cfg->database_dsn;
	}
	if (!(c = cli_ledger_open(cli, dsn, true)))
		goto out;
	struct report_query q = { .quarter = cli->quarter, .platform = cli->platform,
	                          .team = cli->team };
	if (report_load(c, &q, &r, err, sizeof(err)) < 0) {
		log_error("report: %s", err);
		goto out;
	}
	if (write_out(r, fmt, cli->output) == 0)
		code = CLI_OK;
out:
	report_free(r);
	if (c)
		PQfinish(c);
	cfg_free(cfg);
	return code;
}
