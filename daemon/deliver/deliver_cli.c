/* deliver_cli.c — `closeloop deliver --to NAME [--subject TEXT]
 * [--platform P] [FILE...]`: send the files (each one part: a file in a
 * directory, an attachment of a mail or a webhook) or, without files, a
 * short test message to one configured destination, and say what
 * happened.  Exit 0 sent, 1 failed or unknown, 2 usage. */
#include "deliver.h"
#include "cli.h"
#include "log.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX ((size_t)64 * 1024 * 1024)

struct run {
	bool done;
	enum deliver_outcome outcome;
};

static void on_done(const struct deliver_result *r, void *arg)
{
	struct run *run = arg;
	run->done = true;
	run->outcome = r->outcome;
	printf("%s: %s after %d attempt(s): %s\n", "deliver", deliver_outcome_name(r->outcome),
	       r->attempts, r->detail);
}

static void on_closed(void *arg)
{
	*(bool *)arg = true;
}

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot)
		return "application/octet-stream";
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".md") == 0)
		return "text/markdown; charset=utf-8";
	if (strcmp(dot, ".csv") == 0)
		return "text/csv; charset=utf-8";
	if (strcmp(dot, ".json") == 0)
		return "application/json";
	if (strcmp(dot, ".txt") == 0)
		return "text/plain; charset=utf-8";
	return "application/octet-stream";
}

/* Read the files into parts; 0 or CLI_FAIL (said why). */
static int read_parts(const struct cli *cli, struct deliver_part *parts, struct buf *data)
{
	for (int i = 0; i < cli->argc; i++) {
		FILE *f = fopen(cli->argv[i], "rb");
		if (!f) {
			log_error("cannot read %s: %s", cli->argv[i], strerror(errno));
			return CLI_FAIL;
		}
		data[i].max = FILE_MAX;
		char chunk[65536];
		size_t n;
		int rc = 0;
		while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			rc = buf_append(&data[i], chunk, n);
		fclose(f);
		if (rc < 0) {
			log_error("%s is larger than %zu bytes", cli->argv[i], FILE_MAX);
			return CLI_FAIL;
		}
		char *copy = xstrdup(cli->argv[i]);
		parts[i].filename = xstrdup(basename(copy));
		free(copy);
		parts[i].content_type = type_of(parts[i].filename);
		parts[i].data = data[i].data ? data[i].data : "";
		parts[i].len = data[i].len;
		if (!deliver_name_ok(parts[i].filename)) {
			log_error("%s: the file name must be letters, digits, '.', '_' or '-' and not "
			          "start with '.' (rename or copy it)", cli->argv[i]);
			return CLI_FAIL;
		}
	}
	return 0;
}

int deliver_cmd(const struct cli *cli)
{
	if (!cli->to) {
		fprintf(stderr, "closeloop deliver: --to NAME is required (a destination of the "
		        "configuration's destinations list)\n");
		cli_usage_hint(cli);
		return CLI_USAGE;
	}
	struct config *cfg = cli_load_config(cli);
	if (!cfg)
		return CLI_FAIL;
	int ret = CLI_FAIL;
	size_t n = (size_t)cli->argc;
	struct deliver_part *parts = xcalloc(n ? n : 1, sizeof(*parts));
	struct buf *data = xcalloc(n ? n : 1, sizeof(*data));
	struct http_client *http = NULL;
	struct deliver *dl = NULL;
	uv_loop_t loop;
	uv_loop_init(&loop);
	const struct cfg_destination *d = cfg_find_destination(cfg, cli->to);
	if (!d) {
		log_error("--to %s: no such destination in %s (expected the name of one of its "
		          "destinations; %zu defined)", cli->to, cfg->path, cfg->n_destinations);
		goto out;
	}
	if (read_parts(cli, parts, data) != 0)
		goto out;
	char id[80], subject[200];
	int64_t now = ts_now_ms();
	snprintf(id, sizeof(id), "closeloop-deliver-%lld", (long long)now);
	snprintf(subject, sizeof(subject), "%s", cli->subject ? cli->subject :
	         "closeloop: a test of this destination");
	struct deliver_msg m = {
		.id = id, .kind = n ? "document" : "test", .platform = cli->platform,
		.subject = subject, .parts = parts, .n_parts = n, .date_ms = now,
		.text = n ? "Sent with `closeloop deliver`; the files are attached.\n" :
		            "A test message sent with `closeloop deliver`: this destination works.\n",
	};
	struct http_client_options ho = { 0 };
	struct run run = { 0 };
	if (http_client_new(&http, &loop, &ho) < 0 || deliver_new(&dl, &loop, http) < 0) {
		log_error("cannot start the HTTP client");
		goto out;
	}
	if (deliver_send(dl, d, &m, on_done, &run) < 0) {
		log_error("the message is not well formed (file names: letters, digits, '.', '_', '-')");
		goto out;
	}
	while (!run.done)
		uv_run(&loop, UV_RUN_ONCE);
	ret = run.outcome == DELIVER_SENT ? CLI_OK : CLI_FAIL;
out:
	if (dl) {
		bool closed = false;
		deliver_close(dl, on_closed, &closed);
		while (!closed)
			uv_run(&loop, UV_RUN_ONCE);
	}
	if (http)
		http_client_close(http, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&loop);
	for (size_t i = 0; i < n; i++) {
		free((char *)parts[i].filename);
		buf_free(&data[i]);
	}
	free(parts);
	free(data);
	cfg_free(cfg);
	return ret;
}
