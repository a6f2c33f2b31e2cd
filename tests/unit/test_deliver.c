/* test_deliver.c — the pieces of daemon/deliver/ that need no server:
 * the `destinations` options and their errors, the mail (RFC 5322 /
 * MIME / RFC 2047), the webhook JSON, the atomic file write.  Sending to
 * real SMTP and HTTP servers is tested in
 * tests/integration/deliver_tests.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "deliver.h"
#include "log.h"

static char tmpdir[] = "/tmp/closeloop-deliver-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* Load a configuration made of `database` plus text; 0 or the error. */
static int load(const char *text, struct config **out, char *err, size_t errlen)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "database = { dsn = \"dbname=x\"; };\n%s", text);
	fclose(f);
	*out = NULL;
	return cfg_load(path, out, err, errlen);
}

static void expect_error(const char *text, const char *needle)
{
	struct config *c = NULL;
	char err[512] = "";
	int rc = load(text, &c, err, sizeof(err));
	cfg_free(c);
	if (rc != -EINVAL || !strstr(err, needle))
		fail_msg("expected an error with '%s', got rc %d: %s", needle, rc, err);
	assert_non_null(strstr(err, "c.conf:")); /* file:line */
}

static void test_destination_options(void **state)
{
	(void)state;
	struct config *c = NULL;
	char err[512] = "";
	setenv("TEST_HOOK_SECRET", "hook-secret-abcdef", 1);
	int rc = load("destinations = (\n"
	              " { name = \"a\"; type = \"directory\"; path = \"out\"; },\n"
	              " { name = \"h\"; type = \"webhook\"; url = \"https://h.example/x\";\n"
	              "   secret_env = \"TEST_HOOK_SECRET\"; platforms = [ \"payments\" ]; },\n"
	              " { name = \"m\"; type = \"smtp\"; url = \"smtps://mail.example:465\";\n"
	              "   from = \"c@example.org\"; to = [ \"a@example.com\" ]; max_attempts = 2; }\n"
	              ");\n", &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c->n_destinations, 3);
	const struct cfg_destination *a = cfg_find_destination(c, "a");
	assert_non_null(a);
	assert_int_equal(a->type, CFG_DEST_DIRECTORY);
	assert_true(a->path[0] == '/');                 /* relative to the file's folder */
	assert_true(cfg_destination_serves(a, "anything"));
	const struct cfg_destination *h = cfg_find_destination(c, "h");
	assert_string_equal(h->secret, "hook-secret-abcdef");
	assert_string_equal(h->secret_header, "X-Closeloop-Secret");
	assert_int_equal(h->max_attempts, 5);
	assert_true(cfg_destination_serves(h, "payments"));
	assert_false(cfg_destination_serves(h, "search"));
	assert_int_equal(cfg_find_destination(c, "m")->max_attempts, 2);
	assert_null(cfg_find_destination(c, "x"));
	/* the secret is registered with the logger */
	char *red = log_redact("value hook-secret-abcdef here");
	assert_null(strstr(red, "hook-secret-abcdef"));
	free(red);
	cfg_free(c);
}

static void test_destination_errors(void **state)
{
	(void)state;
	expect_error("destinations = ( { name = \"a\"; type = \"fax\"; } );",
	             "type \"fax\" is unknown (expected directory, webhook or smtp)");
	expect_error("destinations = ( { name = \"a\"; type = \"directory\"; } );",
	             "missing required option 'path'");
	expect_error("destinations = ( { name = \"a\"; type = \"webhook\"; } );",
	             "missing required option 'url'");
	expect_error("destinations = ( { name = \"a\"; type = \"webhook\"; url = \"http://h.example/\"; } );",
	             "plain http to a host that is not loopback");
	expect_error("destinations = ( { name = \"a\"; type = \"smtp\"; url = \"https://h.example/\"; } );",
	             "is not an smtp:// (STARTTLS) or smtps:// URL");
	expect_error("destinations = ( { name = \"a\"; type = \"smtp\"; url = \"smtp://h\"; "
	             "from = \"c@x.org\"; } );", "missing required option 'to'");
	expect_error("destinations = ( { name = \"a\"; type = \"smtp\"; url = \"smtp://h\"; "
	             "from = \"c@x.org\"; to = [ \"Lead <l@x.org>\" ]; } );", "is not a bare mail address");
	expect_error("destinations = ( { name = \"a\"; type = \"smtp\"; url = \"smtp://h\"; "
	             "from = \"c@x.org\"; to = [ \"l@x.org\" ]; secret_env = \"TEST_HOOK_SECRET\"; } );",
	             "without username");
	expect_error("destinations = ( { name = \"a\"; type = \"webhook\"; url = \"https://h/\"; "
	             "secret_env = \"CLOSELOOP_TEST_UNSET_VAR\"; } );", "is not set");
	expect_error("destinations = ( { name = \"a\"; type = \"directory\"; path = \"/x\"; },"
	             " { name = \"a\"; type = \"directory\"; path = \"/y\"; } );",
	             "duplicate destination name 'a'");
	expect_error("destinations = ( { name = \"a\"; type = \"directory\"; pth = \"/x\"; } );",
	             "did you mean 'path'?");
	expect_error("destinations = ( { name = \"a\"; type = \"webhook\"; url = \"https://h/\"; "
	             "max_attempts = 50; } );", "out of range (expected 1..20 attempts)");
}

static const struct cfg_destination mail_dest = {
	.name = (char *)"m", .type = CFG_DEST_SMTP, .from = (char *)"closeloop@example.org",
	.to = (char *[]){ (char *)"a@example.com", (char *)"b@example.com" }, .n_to = 2,
};

static void test_mail_message(void **state)
{
	(void)state;
	/* a long non-ASCII subject: encoded words of whole UTF-8 characters */
	char subject[400] = "";
	for (int i = 0; i < 25; i++) /* 14 bytes each */
		strcat(subject, "Schließquote ");
	struct deliver_part part = { "r.md", "text/markdown; charset=utf-8", "Man", 3 };
	struct deliver_msg m = { .id = "quarterly-2026Q3-payments", .kind = "quarterly-report",
	                         .subject = subject, .text = "hello\n", .parts = &part, .n_parts = 1,
	                         .date_ms = 1790812800000LL /* 2026-10-01 00:00:00 UTC */ };
	struct buf b = { 0 };
	assert_int_equal(deliver_mail_build(&mail_dest, &m, &b), 0);
	assert_int_equal(buf_append(&b, "", 1), 0);
	const char *s = b.data;
	assert_non_null(strstr(s, "Date: Thu, 01 Oct 2026 00:00:00 +0000\r\n"));
	assert_non_null(strstr(s, "Message-ID: <quarterly-2026Q3-payments@example.org>\r\n"));
	assert_non_null(strstr(s, "To: <a@example.com>,\r\n <b@example.com>\r\n"));
	assert_non_null(strstr(s, "Subject: =?UTF-8?B?"));
	assert_non_null(strstr(s, "MIME-Version: 1.0\r\n"));
	assert_non_null(strstr(s, "filename=\"r.md\"\r\n\r\nTWFu\r\n")); /* RFC 4648 example */
	assert_non_null(strstr(s, "\r\n--=_closeloop_part--\r\n"));
	/* every line at most 78 characters (RFC 5322 2.1.1), CRLF only */
	for (const char *p = s; *p;) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true(e - p <= 78);
		assert_null(memchr(p, '\n', (size_t)(e - p)));
		p = e + 2;
	}
	buf_free(&b);
	/* a bad id or file name is refused */
	m.id = "../x";
	assert_int_equal(deliver_mail_build(&mail_dest, &m, &b), -EINVAL);
	m.id = "ok";
	part.filename = ".hidden";
	assert_int_equal(deliver_mail_build(&mail_dest, &m, &b), -EINVAL);
	buf_free(&b);
	assert_true(deliver_name_ok("2026Q3-payments.html"));
	assert_false(deliver_name_ok("a/b"));
	assert_false(deliver_name_ok(""));
}

static void test_webhook_json(void **state)
{
	(void)state;
	struct deliver_part part = { "r.html", "text/html", "<p>\"x\"</p>", 10 };
	struct deliver_msg m = { .id = "i1", .kind = "quarterly-report", .platform = "payments",
	                         .subject = "Q3", .text = "# T\n", .parts = &part, .n_parts = 1 };
	char *s = deliver_webhook_json(&m);
	json_object *o = json_tokener_parse(s);
	assert_non_null(o);
	json_object *v, *a;
	assert_true(json_object_object_get_ex(o, "platform", &v));
	assert_string_equal(json_object_get_string(v), "payments");
	assert_true(json_object_object_get_ex(o, "attachments", &a));
	json_object *c = json_object_object_get(json_object_array_get_idx(a, 0), "content");
	assert_string_equal(json_object_get_string(c), "<p>\"x\"</p>");
	assert_false(json_object_object_get_ex(o, "blocks", &v)); /* none given */
	json_object_put(o);
	free(s);

	/* Slack format: only text and blocks; blocks also in the generic
	 * document; text that is not a JSON array is left out */
	m.blocks = "[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"*x*\"}}]";
	s = deliver_slack_json(&m);
	assert_string_equal(s, "{\"text\":\"# T\\n\",\"blocks\":[{\"type\":\"section\",\"text\":"
	                    "{\"type\":\"mrkdwn\",\"text\":\"*x*\"}}]}");
	free(s);
	s = deliver_webhook_json(&m);
	o = json_tokener_parse(s);
	assert_true(json_object_object_get_ex(o, "blocks", &v));
	assert_int_equal(json_object_array_length(v), 1);
	json_object_put(o);
	free(s);
	m.blocks = "{\"not\": \"an array\"}";
	s = deliver_slack_json(&m);
	assert_string_equal(s, "{\"text\":\"# T\\n\"}");
	free(s);
}

/* A message's own recipients replace the destination's (the escalation
 * mail to a lead's address); a bad one is refused. */
static void test_mail_recipients_of_the_message(void **state)
{
	(void)state;
	const char *to[1] = { "lead@example.net" };
	struct deliver_msg m = { .id = "e1", .kind = "escalation", .subject = "s", .text = "t\n",
	                         .to = to, .n_to = 1 };
	struct buf b = { 0 };
	assert_int_equal(deliver_mail_build(&mail_dest, &m, &b), 0);
	assert_int_equal(buf_append(&b, "", 1), 0);
	assert_non_null(strstr(b.data, "To: <lead@example.net>\r\n"));
	assert_null(strstr(b.data, "a@example.com"));
	buf_free(&b);
	to[0] = "lead@example.net>\r\nBcc: x@y";
	assert_int_equal(deliver_mail_build(&mail_dest, &m, &b), -EINVAL);
	buf_free(&b);
}

static void test_file_write(void **state)
{
	(void)state;
	char err[300] = "", path[300];
	assert_int_equal(deliver_file_write(tmpdir, "a.md", "abc", 3, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/a.md", tmpdir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(st.st_size, 3);
	/* again: replaced whole */
	assert_int_equal(deliver_file_write(tmpdir, "a.md", "xy", 2, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 2);
	unlink(path);
	/* a folder that does not exist: the error says which file */
	assert_int_equal(deliver_file_write("/nonexistent-closeloop", "a.md", "x", 1, err,
	                                    sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "create /nonexistent-closeloop/.a.md."));
}

static int teardown(void **state)
{
	(void)state;
	char path[300];
	snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_destination_options),
		cmocka_unit_test(test_destination_errors),
		cmocka_unit_test(test_mail_message),
		cmocka_unit_test(test_webhook_json),
		cmocka_unit_test(test_mail_recipients_of_the_message),
		cmocka_unit_test(test_file_write),
	};
	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
