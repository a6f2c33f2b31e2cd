/* test_log.c — a registered secret never reaches a log line (in the
 * message, in a prefix, inside a URL, registered by cfg_load from a token
 * file or an environment variable), and level filtering works.  stderr is
 * captured by pointing fd 2 at a temporary file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static FILE *cap_file;
static int cap_saved = -1;

static void capture_begin(void)
{
	fflush(stderr);
	cap_file = tmpfile();
	assert_non_null(cap_file);
	cap_saved = dup(STDERR_FILENO);
	assert_true(cap_saved >= 0);
	assert_true(dup2(fileno(cap_file), STDERR_FILENO) >= 0);
}

/* Stop capturing; returns everything written to stderr meanwhile. */
static char *capture_end(void)
{
	fflush(stderr);
	assert_true(dup2(cap_saved, STDERR_FILENO) >= 0);
	close(cap_saved);
	cap_saved = -1;
	rewind(cap_file);
	struct buf b = { 0 };
	char chunk[1024];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), cap_file)) > 0)
		assert_int_equal(buf_append(&b, chunk, n), 0);
	fclose(cap_file);
	cap_file = NULL;
	return b.data ? buf_steal(&b) : xstrdup("");
}

static int reset(void **state)
{
	(void)state;
	log_clear_secrets();
	log_set_level(LOG_LVL_INFO);
	log_set_timestamps(false);
	log_set_format(LOG_FMT_TEXT);
	return 0;
}

/* Fail (freeing out) when secret occurs in text, or no "***" does; text
 * points into out. */
static void assert_masked(char *out, const char *text, const char *secret)
{
	if (strstr(text, secret) || !strstr(text, "***")) {
		print_error("secret leaked into the log:\n%s", out);
		free(out);
		fail();
	}
}

#define TOKEN "ghp_R3allyS3cretT0ken0123456789abcdef"

static void test_secret_masked_everywhere(void **state)
{
	(void)state;
	log_add_secret(TOKEN);
	capture_begin();
	log_info("using token %s for the request", TOKEN);
	log_conn(LOG_LVL_WARN, TOKEN, "a secret used as the prefix");
	log_error("GET https://x-access-token:%s@api.github.com/repos/acme/k8s?token=%s&per_page=100",
	          TOKEN, TOKEN);
	log_item(LOG_LVL_INFO, 42, "header Authorization: Bearer %s", TOKEN);
	log_info("glued%sglued", TOKEN);
	char *out = capture_end();
	assert_masked(out, out, TOKEN);
	/* enough of the line survives to be useful */
	assert_non_null(strstr(out, "info using token *** for the request\n"));
	assert_non_null(strstr(out, "warn [connector=***] a secret used as the prefix\n"));
	assert_non_null(strstr(out, "https://x-access-token:***@api.github.com/repos/acme/k8s?token=***&per_page=100"));
	assert_non_null(strstr(out, "info [item=42] header Authorization: Bearer ***\n"));
	assert_non_null(strstr(out, "glued***glued"));
	/* a prefix of the token is not the token: printed as is */
	assert_null(strstr(out, "ghp_R3ally"));
	free(out);
}

static void test_overlapping_secrets(void **state)
{
	(void)state;
	log_add_secret("abcd1234");
	log_add_secret("abcd1234efgh5678");
	log_add_secret("abcd1234"); /* registering twice is harmless */
	char *r = log_redact("x=abcd1234efgh5678 y=abcd1234 z=abcd123");
	/* the longer secret is masked whole, not leaving "efgh5678" behind */
	assert_string_equal(r, "x=*** y=*** z=abcd123");
	free(r);
	log_clear_secrets();
	r = log_redact("x=abcd1234");
	assert_string_equal(r, "x=abcd1234");
	free(r);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

#define FILE_TOKEN "ghp_fromAfileT0ken9876543210"
#define ENV_TOKEN "ghp_fromTheEnvironment55555"

/* cfg_load reads the token (file and environment) and registers it: a log
 * line that contains it afterwards is masked. */
static void test_cfg_load_registers_tokens(void **state)
{
	(void)state;
	char dir[] = "/tmp/closeloop-logtest-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char conf[128], tok[128];
	snprintf(conf, sizeof(conf), "%s/closeloop.conf", dir);
	snprintf(tok, sizeof(tok), "%s/github-token", dir);
	write_file(tok, FILE_TOKEN "\n", 0400);
	write_file(conf,
		"database = { dsn = \"dbname=closeloop\"; };\n"
		"connectors = (\n"
		"  { name = \"from-file\"; type = \"github\"; base_url = \"https://api.github.com\";\n"
		"    token_file = \"github-token\"; targets = [ \"acme/payments\" ]; },\n"
		"  { name = \"from-env\"; type = \"github\"; base_url = \"https://api.github.com\";\n"
		"    token_env = \"CLOSELOOP_LOGTEST_TOKEN\"; targets = [ \"acme/k8s\" ]; }\n"
		");\n", 0600);
	setenv("CLOSELOOP_LOGTEST_TOKEN", ENV_TOKEN, 1);

	struct config *c = NULL;
	char err[512] = "";
	capture_begin();
	log_info("before: %s", FILE_TOKEN);
	int rc = cfg_load(conf, &c, err, sizeof(err));
	log_info("file token %s", FILE_TOKEN);
	log_info("env token %s", ENV_TOKEN);
	if (c)
		log_conn(LOG_LVL_INFO, c->connectors[0].name, "Authorization: Bearer %s",
		         c->connectors[0].token);
	char *out = capture_end();
	unlink(conf);
	unlink(tok);
	rmdir(dir);
	if (rc != 0)
		fail_msg("cfg_load: %s", err);
	assert_string_equal(c->connectors[0].token, FILE_TOKEN);
	assert_string_equal(c->connectors[1].token, ENV_TOKEN);
	/* before cfg_load the token was not known yet: it shows (this is why
	 * the daemon loads the configuration before it logs anything else) */
	assert_non_null(strstr(out, "info before: " FILE_TOKEN "\n"));
	const char *after = strstr(out, "info file token");
	assert_non_null(after);
	assert_masked(out, after, FILE_TOKEN);
	assert_masked(out, after, ENV_TOKEN);
	assert_non_null(strstr(after, "info [connector=from-file] Authorization: Bearer ***\n"));
	free(out);
	cfg_free(c);
	unsetenv("CLOSELOOP_LOGTEST_TOKEN");
}

static void test_level_filtering(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("error"), LOG_LVL_ERROR);
	assert_int_equal(log_level_parse("warn"), LOG_LVL_WARN);
	assert_int_equal(log_level_parse("info"), LOG_LVL_INFO);
	assert_int_equal(log_level_parse("debug"), LOG_LVL_DEBUG);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(NULL), -1);

	capture_begin();
	log_set_level(LOG_LVL_WARN);
	log_debug("d1");
	log_info("i1");
	log_warn("w1");
	log_error("e1");
	log_item(LOG_LVL_INFO, 7, "item-info-1");
	log_item(LOG_LVL_WARN, 7, "item-warn-1");
	log_set_level(LOG_LVL_DEBUG);
	log_debug("d2");
	log_conn(LOG_LVL_DEBUG, "github-main", "c2");
	log_set_level(LOG_LVL_ERROR);
	log_warn("w3");
	log_error("e3");
	char *out = capture_end();
	assert_string_equal(out,
		"warn w1\n"
		"error e1\n"
		"warn [item=7] item-warn-1\n"
		"debug d2\n"
		"debug [connector=github-main] c2\n"
		"error e3\n");
	free(out);
}

/* key=value fields in text, one JSON object per line, secrets masked in
 * both, values with spaces or quotes quoted. */
static void test_fields_text_and_json(void **state)
{
	(void)state;
	log_add_secret(TOKEN);
	const struct log_ctx ctx = { .connector = "github-main", .target = "acme/pay ments",
	                             .item = 42, .ticket = "acme/payments#12" };
	capture_begin();
	log_with(LOG_LVL_WARN, &ctx, "PATCH refused: \"%s\"", TOKEN);
	log_with(LOG_LVL_DEBUG, &ctx, "filtered out");
	log_set_format(LOG_FMT_JSON);
	log_with(LOG_LVL_WARN, &ctx, "PATCH refused: \"%s\"\tend", TOKEN);
	log_item(LOG_LVL_INFO, 7, "plain");
	log_info("no fields");
	char *out = capture_end();
	assert_masked(out, out, TOKEN);
	assert_string_equal(out,
		"warn [connector=github-main target=\"acme/pay ments\" item=42 "
		"ticket=acme/payments#12] PATCH refused: \"***\"\n"
		"{\"level\":\"warn\",\"connector\":\"github-main\",\"target\":\"acme/pay ments\","
		"\"item\":42,\"ticket\":\"acme/payments#12\",\"msg\":\"PATCH refused: \\\"***\\\"\\u0009end\"}\n"
		"{\"level\":\"info\",\"item\":7,\"msg\":\"plain\"}\n"
		"{\"level\":\"info\",\"msg\":\"no fields\"}\n");
	free(out);
	assert_int_equal(log_format_parse("json"), LOG_FMT_JSON);
	assert_int_equal(log_format_parse("text"), LOG_FMT_TEXT);
	assert_int_equal(log_format_parse("xml"), -1);
}

static void test_timestamps(void **state)
{
	(void)state;
	log_set_timestamps(true);
	capture_begin();
	log_info("stamped");
	char *out = capture_end();
	/* "2026-11-21T07:00:00Z info stamped" */
	assert_true(strlen(out) > 21);
	assert_true(out[4] == '-' && out[10] == 'T' && out[19] == 'Z' && out[20] == ' ');
	assert_string_equal(out + 21, "info stamped\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_secret_masked_everywhere, reset),
		cmocka_unit_test_setup(test_overlapping_secrets, reset),
		cmocka_unit_test_setup(test_cfg_load_registers_tokens, reset),
		cmocka_unit_test_setup(test_level_filtering, reset),
		cmocka_unit_test_setup(test_timestamps, reset),
		cmocka_unit_test_setup(test_fields_text_and_json, reset),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	log_clear_secrets();
	return rc;
}
