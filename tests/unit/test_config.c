/* test_config.c — cfg_load: the sample config, every bad fixture's
 * "FILE:LINE: what was expected" message, defaults, token files, the
 * option table against examples/closeloop.conf and docs/configuration.md,
 * and cfg_reload_blocker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "connector.h"
#include "log.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif
#define CFG_DIR FIXTURES "/config/"

static int setup_env(void **state)
{
	(void)state;
	setenv("CLOSELOOP_TEST_TOKEN", "ghp_testTOKENabcdef123", 1);
	setenv("CLOSELOOP_TEST_EMPTY_TOKEN", "", 1);
	unsetenv("CLOSELOOP_TEST_UNSET_TOKEN");
	setenv("CLOSELOOP_GITHUB_TOKEN", "ghp_demoTOKEN0987654321", 1);
	setenv("CLOSELOOP_TEST_JIRA_TOKEN", "bot@example.com:ATATT3xFfGF0testToken", 1);
	log_set_level(LOG_LVL_ERROR); /* keep the token-file mode warning quiet */
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct buf b = { 0 };
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) < 0)
			break;
	fclose(f);
	return buf_steal(&b);
}

static void test_example_loads(void **state)
{
	(void)state;
	struct config *c = NULL;
	char err[1024] = "";
	int rc = cfg_load("examples/closeloop.conf", &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("examples/closeloop.conf: %s", err);
	assert_string_equal(c->path, "examples/closeloop.conf");
	assert_string_equal(c->database_dsn, "host=/run/postgresql dbname=closeloop");
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->poll_interval_s, 300);
	assert_int_equal(c->notify_debounce_ms, 500);
	assert_int_equal(c->overlap_s, 120);
	assert_string_equal(c->directory_file, "examples/directory.conf");
	assert_string_equal(c->listen_address, "127.0.0.1:9464");
	assert_string_equal(c->default_platform, "kubernetes");
	assert_string_equal(c->default_team, "dfds-platform");
	assert_string_equal(c->default_connector, "github-demo");
	assert_string_equal(c->default_target, "dfds/platform-backlog");
	assert_int_equal(c->policy[ITEM_F_TITLE], CFG_POLICY_REMOTE_WINS);
	assert_int_equal(c->policy[ITEM_F_TYPE], CFG_POLICY_LEDGER_WINS);
	assert_int_equal(c->policy[ITEM_F_DUE_DATE], CFG_POLICY_LEDGER_WINS);
	assert_int_equal(c->n_connectors, 1);
	const struct cfg_connector *cc = cfg_find_connector(c, "github-demo");
	assert_non_null(cc);
	assert_null(cfg_find_connector(c, "github-main"));
	assert_string_equal(cc->type, "github");
	assert_string_equal(cc->base_url, "http://127.0.0.1:8089");
	assert_int_equal(cc->n_type_opts, github_conn_type.n_options);
	struct conn_options co = { .type_opts = cc->type_opts };
	assert_string_equal(conn_opt(&github_conn_type, &co, "api_version"), "2022-11-28");
	assert_null(cc->token_file);
	assert_string_equal(cc->token_env, "CLOSELOOP_GITHUB_TOKEN");
	assert_string_equal(cc->token, "ghp_demoTOKEN0987654321");
	assert_int_equal(cc->n_targets, 2);
	assert_string_equal(cc->targets[0], "dfds/platform-backlog");
	assert_string_equal(cc->targets[1], "etcd-io/etcd");
	assert_int_equal(cc->poll_interval_s, 120);
	assert_int_equal(cc->max_attempts, 5);
	assert_int_equal(cc->request_timeout_s, 30);
	assert_int_equal(cc->max_inflight, 4);
	assert_true(cc->line > 0);
	cfg_free(c);
}

static void test_minimal_defaults(void **state)
{
	(void)state;
	struct config *c = NULL;
	char err[1024] = "";
	int rc = cfg_load(CFG_DIR "minimal.conf", &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->poll_interval_s, 300);
	assert_int_equal(c->notify_debounce_ms, 500);
	assert_int_equal(c->overlap_s, 120);
	assert_null(c->directory_file);
	assert_null(c->listen_address);
	assert_null(c->default_platform);
	assert_null(c->default_connector);
	assert_int_equal(c->n_connectors, 0);
	for (int f = 0; f < ITEM_F__COUNT; f++)
		assert_int_equal(c->policy[f], f == ITEM_F_DUE_DATE ? CFG_POLICY_LEDGER_WINS
		                                                    : CFG_POLICY_REMOTE_WINS);
	cfg_free(c);
}

/* http:// is allowed to loopback and when allow_insecure_http says so;
 * ca_file is resolved like token_file. */
/* import.watch: relative to the configuration file's folder; defaults. */
static void test_import_group(void **state)
{
	(void)state;
	struct config *c = NULL;
	char err[1024] = "";
	if (cfg_load(CFG_DIR "good_import.conf", &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c->import.n_watch, 2);
	assert_string_equal(c->import.watch[0], "tests/fixtures/config/pm");
	assert_string_equal(c->import.watch[1], "/srv/postmortems");
	assert_int_equal(c->import.debounce_ms, 250);
	assert_int_equal(c->import.rescan_interval_s, 60);
	cfg_free(c);
	c = NULL;
	if (cfg_load(CFG_DIR "minimal.conf", &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c->import.n_watch, 0);
	assert_int_equal(c->import.debounce_ms, 1000);
	cfg_free(c);
}

static void test_insecure_http_and_ca_file(void **state)
{
	(void)state;
	struct config *c = NULL;
	char err[1024] = "";
	int rc = cfg_load(CFG_DIR "good_insecure_http.conf", &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_true(cfg_find_connector(c, "lab")->allow_insecure_http);
	assert_null(cfg_find_connector(c, "lab")->ca_file);
	assert_false(cfg_find_connector(c, "local")->allow_insecure_http);
	assert_string_equal(cfg_find_connector(c, "local")->ca_file, CFG_DIR "good.token");
	assert_non_null(cfg_find_connector(c, "local6"));
	cfg_free(c);
}

static void test_token_file(void **state)
{
	(void)state;
	struct config *c = NULL;
	char err[1024] = "";
	int rc = cfg_load(CFG_DIR "good_token_file.conf", &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	const struct cfg_connector *cc = cfg_find_connector(c, "gh");
	assert_non_null(cc);
	/* relative to the config file's folder; trailing newline stripped */
	assert_string_equal(cc->token_file, CFG_DIR "good.token");
	assert_string_equal(cc->token, "ghp_fixtureTOKEN1234567890");
	assert_null(cc->token_env);
	/* trailing slash of base_url dropped; per-connector poll = global */
	assert_string_equal(cc->base_url, "https://github.example.com/api/v3");
	assert_int_equal(cc->poll_interval_s, c->poll_interval_s);
	assert_string_equal(c->directory_file, CFG_DIR "dir/people.conf");
	cfg_free(c);
}

static void test_jira_options(void **state)
{
	(void)state;
	struct config *c = NULL;
	char err[1024] = "";
	int rc = cfg_load(CFG_DIR "good_jira.conf", &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	const struct cfg_connector *cc = cfg_find_connector(c, "jira");
	assert_non_null(cc);
	const struct conn_type *t = conn_type_find("jira");
	assert_non_null(t);
	assert_string_equal(t->person_ident, "jira_account_id");
	struct conn_options o = { .name = cc->name, .type_opts = cc->type_opts };
	assert_string_equal(conn_opt(t, &o, "issue_type"), "Story");
	assert_string_equal(conn_opt(t, &o, "flavor"), "cloud");
	assert_string_equal(conn_opt(t, &o, "search_settle_ms"), "90000");
	assert_string_equal(cc->token, "bot@example.com:ATATT3xFfGF0testToken");
	cfg_free(c);
}

struct bad_case {
	const char *file;   /* under tests/fixtures/config/ */
	int line;           /* expected line in the "FILE:LINE:" prefix */
	const char *expect; /* text the message must contain */
	const char *expect2;
};

static const struct bad_case bad_cases[] = {
	{ "bad_syntax.conf", 3, "syntax error", "expected libconfig syntax" },
	{ "bad_discover_target.conf", 10, "discover[0].target 'acme/billing' is not one of connector 'gh''s targets", "add it to targets" },
	{ "bad_discover_label.conf", 11, "the rule for target 'acme/payments' is not complete", "a label, a project, or both" },
	{ "bad_discover_twice.conf", 12, "target 'acme/payments' already has a rule", "line 11" },
	{ "bad_discover_member.conf", 12, "unknown option 'connectors[0] ('gh').discover[0].jql'", "expected one of target, team, label" },
	{ "bad_discover_own_label.conf", 10, "label = \"closeloop:overdue\"", "a label of the team's own" },
	{ "bad_unknown_option.conf", 3, "unknown option 'pol_interval'", "did you mean 'poll_interval'" },
	{ "bad_unknown_connector_option.conf", 7, "unknown option 'connectors[0].bse_url'", "expected one of name, type, base_url" },
	{ "bad_wrong_type.conf", 4, "'poll_interval' must be an integer", "got a string" },
	{ "bad_targets_type.conf", 9, "'connectors[0].targets' must be a list", "got a string" },
	{ "bad_range.conf", 3, "poll_interval = 5 is out of range", "expected 10..86400 seconds" },
	{ "bad_policy.conf", 5, "conflict_policy.state = \"tracker_wins\"", "expected remote_wins, ledger_wins or newest_wins" },
	{ "bad_missing_dsn.conf", 0, "missing required option 'database.dsn'", "expected a libpq connection string" },
	{ "bad_log_level.conf", 3, "log_level = \"verbose\"", "expected error, warn, info or debug" },
	{ "bad_listen.conf", 3, "listen = \"127.0.0.1\"", "expected \"ADDRESS:PORT\"" },
	{ "bad_inline_token.conf", 8, "inline 'token' is refused", "use token_file" },
	{ "bad_token_file_missing.conf", 8, "cannot read token_file 'tests/fixtures/config/does-not-exist.token'", "No such file" },
	{ "bad_token_file_empty.conf", 8, "token_file 'tests/fixtures/config/empty.token' is empty", "expected the API token" },
	{ "bad_token_env_empty.conf", 8, "environment variable CLOSELOOP_TEST_EMPTY_TOKEN", "is empty" },
	{ "bad_token_env_unset.conf", 8, "environment variable CLOSELOOP_TEST_UNSET_TOKEN", "is not set" },
	{ "bad_token_both.conf", 8, "expected exactly one of token_file or token_env", "got both" },
	{ "bad_token_none.conf", 4, "expected exactly one of token_file or token_env", "got neither" },
	{ "bad_connector_no_name.conf", 4, "missing required option 'connectors[0].name'", "expected a unique connector name" },
	{ "bad_unknown_type.conf", 6, "unknown type 'youtrack'", "expected one of: github, servicenow, jira" },
	{ "bad_jira_credentials.conf", 8, "the secret in environment variable CLOSELOOP_TEST_TOKEN is not what type 'jira' takes", "expected \"email:api_token\"" },
	{ "bad_jira_flavor.conf", 8, "connectors[0] ('jira').flavor = \"server\"", "expected \"cloud\" or \"datacenter\"" },
	{ "bad_jira_dc_credentials.conf", 9, "the secret in environment variable CLOSELOOP_TEST_JIRA_TOKEN is not what type 'jira' takes", "expected a Jira Data Center personal access token" },
	{ "bad_jira_project.conf", 10, "target 'platform-team' is not valid for type 'jira'", "expected a Jira project key" },
	{ "bad_jira_priority.conf", 11, "priority_map = \"P0=Highest,P1=High,P2=Medium\"", "P0..P3 each mapped once" },
	{ "bad_base_url.conf", 7, "base_url 'ftp://api.github.com' is not an http(s) URL", "not an http:// or https:// URL" },
	{ "bad_base_url_no_host.conf", 7, "base_url 'https:///api' is not an http(s) URL", "no host after the scheme's //" },
	{ "bad_servicenow_base_url.conf", 7, "connector 'sn': base_url 'https://acme service-now.com' is not an http(s) URL libcurl can parse: ", "expected e.g." },
	{ "bad_base_url_port.conf", 7, "base_url 'https://acme.service-now.com:99999' is not an http(s) URL libcurl can parse: Port number", "expected e.g." },
	{ "bad_insecure_http.conf", 7, "is plain http to a host that is not loopback", "allow_insecure_http = true" },
	{ "bad_ca_file_missing.conf", 9, "cannot read ca_file", "expected a PEM file" },
	{ "bad_target.conf", 9, "target 'acme' is not valid for type 'github'", "expected a repository \"owner/name\"" },
	{ "bad_api_version.conf", 7, "connectors[0] ('gh').api_version = \"latest\"", "expected a REST API version date YYYY-MM-DD" },
	{ "bad_type_option_type.conf", 7, "option 'connectors[0].api_version' must be a string", "got an integer" },
	{ "bad_duplicate_connector.conf", 12, "duplicate connector name 'gh'", "first defined at line 4" },
	{ "bad_defaults_target.conf", 14, "defaults.target = \"acme/elsewhere\" is not served by connector 'gh'", "expected one of its targets" },
	{ "bad_defaults_connector.conf", 13, "defaults.connector = \"github-main\" is not a configured connector", "expected the name" },
	{ "bad_flags_disable.conf", 4, "flags.disable: 'orphaned' is not a flag", "expected ownerless, undated" },
	{ "bad_rung_no_days.conf", 5, "escalation rung 'overdue-30': missing required option 'days'", "days past the due date" },
	{ "bad_rung_duplicate.conf", 6, "duplicate escalation rung name 'lead'", "first defined at line 5" },
	{ "bad_import_rescan.conf", 4, "import.rescan_interval = 2 is out of range", "expected 5..86400 seconds" },
	{ "bad_import_twice.conf", 4, "import.watch lists \"pm\" twice", "expected each directory once" },
	{ "bad_rung_pm_flag.conf", 5, "escalation rung 'pm': 'no_action_items' is a postmortem flag", "expected an item flag" },
	{ "bad_flags_labels_escalated.conf", 4, "flags.labels: 'escalated' is an action of the escalation rungs", "escalation.rungs.[].channels" },
	{ "bad_rung_label_alone.conf", 5, "escalation rung 'overdue-30': action 'label' alone sends nothing", "expected comment, chat or email with it" },
	{ "bad_rung_action.conf", 5, "escalation rung 'overdue-30': action 'pager' is unknown", "expected comment, label, chat or email" },
};

static void test_bad_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *bc = &bad_cases[i];
		char path[256], prefix[300], err[1024] = "";
		struct config *c = NULL;
		snprintf(path, sizeof(path), CFG_DIR "%s", bc->file);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, bc->line);
		int rc = cfg_load(path, &c, err, sizeof(err));
		if (rc != -EINVAL) {
			cfg_free(c);
			fail_msg("%s: expected -EINVAL, got %d (%s)", bc->file, rc, err);
		}
		assert_null(c);
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			fail_msg("%s: expected prefix '%s' in '%s'", bc->file, prefix, err);
		if (!strstr(err, bc->expect) || !strstr(err, bc->expect2))
			fail_msg("%s: expected '%s' and '%s' in '%s'", bc->file, bc->expect,
			         bc->expect2, err);
	}
}

static void test_secret_not_in_messages(void **state)
{
	(void)state;
	char err[1024] = "";
	struct config *c = NULL;
	/* the inline secret must not be echoed back in the error */
	assert_int_equal(cfg_load(CFG_DIR "bad_inline_token.conf", &c, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "ghp_inline_secret_value"));
	/* a valid token that sits next to a broken one is not echoed either */
	assert_int_equal(cfg_load(CFG_DIR "bad_defaults_target.conf", &c, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "ghp_testTOKENabcdef123"));
}

static void test_missing_file(void **state)
{
	(void)state;
	char err[1024] = "";
	struct config *c = NULL;
	assert_int_equal(cfg_load(CFG_DIR "no-such.conf", &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, CFG_DIR "no-such.conf:0: "));
}

/* Does text assign leaf, i.e. contain "leaf =" with leaf a whole word? */
static bool assigns(const char *text, const char *leaf)
{
	size_t n = strlen(leaf);
	for (const char *p = strstr(text, leaf); p; p = strstr(p + 1, leaf)) {
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		const char *q = p + n;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '=')
			return true;
	}
	return false;
}

/* pgbouncer habit: every row of the option table is in the sample config
 * (as "leaf =") and in the reference (as `full.name`). */
static void test_options_documented(void **state)
{
	(void)state;
	char *example = slurp("examples/closeloop.conf");
	char *doc = slurp("docs/configuration.md");
	assert_non_null(example);
	assert_non_null(doc);
	assert_true(cfg_n_options > 20);
	for (size_t i = 0; i < cfg_n_options; i++) {
		const struct cfg_option_doc *o = &cfg_options[i];
		const char *leaf = strrchr(o->name, '.');
		leaf = leaf ? leaf + 1 : o->name;
		if (!assigns(example, leaf))
			fail_msg("option %s is not in examples/closeloop.conf", o->name);
		char row[128];
		snprintf(row, sizeof(row), "| `%s` | %s | ", o->name, o->type);
		const char *r = strstr(doc, row);
		if (!r)
			fail_msg("option %s is not in docs/configuration.md (as a row '%s')", o->name, row);
		/* the reference's Reload column agrees with the table */
		const char *cell = strstr(r + strlen(row), " | ");
		assert_non_null(cell);
		const char *want = o->reloadable ? " | yes | " : " | no | ";
		if (strncmp(cell, want, strlen(want)) != 0)
			fail_msg("docs/configuration.md: %s should say reload %s", o->name,
			         o->reloadable ? "yes" : "no");
		assert_true(strcmp(o->type, "string") == 0 || strcmp(o->type, "int") == 0 ||
		            strcmp(o->type, "bool") == 0 || strcmp(o->type, "list") == 0 ||
		            strcmp(o->type, "group") == 0);
	}
	/* every registered type's own options: `connectors.[TYPE].name` */
	for (size_t t = 0; t < conn_type_count(); t++) {
		const struct conn_type *ct = conn_type_at(t);
		for (size_t i = 0; i < ct->n_options; i++) {
			const struct conn_option *o = &ct->options[i];
			if (!assigns(example, o->name))
				fail_msg("option %s of type %s is not in examples/closeloop.conf",
				         o->name, ct->name);
			char row[160];
			snprintf(row, sizeof(row), "| `connectors.[%s].%s` | %s | ", ct->name, o->name,
			         o->type);
			const char *r = strstr(doc, row);
			if (!r)
				fail_msg("option %s of type %s is not in docs/configuration.md (as a row '%s')",
				         o->name, ct->name, row);
			const char *cell = strstr(r + strlen(row), " | ");
			assert_non_null(cell);
			const char *want = o->reloadable ? " | yes | " : " | no | ";
			if (strncmp(cell, want, strlen(want)) != 0)
				fail_msg("docs/configuration.md: %s.%s should say reload %s", ct->name,
				         o->name, o->reloadable ? "yes" : "no");
		}
	}
	/* and their discovery rules' members: `connectors.[TYPE].discover.[].name` */
	for (size_t t = 0; t < conn_type_count(); t++) {
		const struct conn_type *ct = conn_type_at(t);
		for (size_t i = 0; i < ct->n_discover_options; i++) {
			const struct conn_option *o = &ct->discover_options[i];
			if (!assigns(example, o->name))
				fail_msg("discover member %s of type %s is not in examples/closeloop.conf",
				         o->name, ct->name);
			char row[160];
			snprintf(row, sizeof(row), "| `connectors.[%s].discover.[].%s` | %s | ",
			         ct->name, o->name, o->type);
			if (!strstr(doc, row))
				fail_msg("discover member %s of type %s is not in docs/configuration.md "
				         "(as a row '%s')", o->name, ct->name, row);
		}
	}
	free(example);
	free(doc);
}

/* A discovery rule reaches the configuration with the connector's spelling
 * of its target and the type's values in the order of its table. */
static void test_discover_rules(void **state)
{
	(void)state;
	struct config *c = NULL;
	char err[1024] = "";
	assert_int_equal(cfg_load("examples/closeloop.conf", &c, err, sizeof(err)), 0);
	const struct cfg_connector *cc = &c->connectors[0];
	assert_int_equal(cc->n_discover, 1);
	assert_string_equal(cc->discover[0].target, "dfds/platform-backlog");
	assert_null(cc->discover[0].team);
	int li = -1;
	for (size_t i = 0; i < github_conn_type.n_discover_options; i++)
		if (strcmp(github_conn_type.discover_options[i].name, "label") == 0)
			li = (int)i;
	assert_true(li >= 0);
	assert_string_equal(cc->discover[0].values[li], "postmortem-action");
	cfg_free(c);
}

static void test_reload_blocker(void **state)
{
	(void)state;
	struct config *a = NULL, *b = NULL;
	char err[1024] = "";
	assert_int_equal(cfg_load("examples/closeloop.conf", &a, err, sizeof(err)), 0);
	assert_int_equal(cfg_load("examples/closeloop.conf", &b, err, sizeof(err)), 0);
	assert_null(cfg_reload_blocker(a, b));
	/* reloadable options may change */
	b->poll_interval_s = 60;
	b->policy[ITEM_F_STATE] = CFG_POLICY_NEWEST_WINS;
	str_replace(&b->log_level, "debug");
	assert_null(cfg_reload_blocker(a, b));
	str_replace(&b->listen_address, "127.0.0.1:9999");
	assert_string_equal(cfg_reload_blocker(a, b), "listen");
	str_replace(&b->listen_address, NULL);
	assert_string_equal(cfg_reload_blocker(a, b), "listen");
	str_replace(&b->listen_address, a->listen_address);
	str_replace(&b->database_dsn, "host=elsewhere dbname=closeloop");
	assert_string_equal(cfg_reload_blocker(a, b), "database.dsn");
	str_replace(&b->database_dsn, a->database_dsn);
	assert_null(cfg_reload_blocker(a, b));

	/* a connector's polling and limits may change; its identity not */
	struct cfg_connector *cc = &b->connectors[0];
	cc->poll_interval_s = 600;
	cc->max_inflight = 1;
	assert_null(cfg_reload_blocker(a, b));
	str_replace(&cc->base_url, "https://api.github.com");
	assert_string_equal(cfg_reload_blocker(a, b), "connectors.[].base_url");
	str_replace(&cc->base_url, a->connectors[0].base_url);
	str_replace(&cc->token, "ghp_rotatedTOKEN");
	assert_string_equal(cfg_reload_blocker(a, b), "connectors.[].token_env");
	str_replace(&cc->token, a->connectors[0].token);
	str_replace(&cc->type_opts[0], "2026-03-10");
	assert_string_equal(cfg_reload_blocker(a, b), "connectors.[github].api_version");
	str_replace(&cc->type_opts[0], a->connectors[0].type_opts[0]);
	str_replace(&cc->name, "github-other");
	assert_string_equal(cfg_reload_blocker(a, b), "connectors.[].name");
	str_replace(&cc->name, a->connectors[0].name);
	assert_null(cfg_reload_blocker(a, b));
	b->n_connectors = 0;
	assert_string_equal(cfg_reload_blocker(a, b), "connectors");
	b->n_connectors = 1;

	/* every name the blocker can return is a row marked not reloadable */
	static const char *const blockers[] = {
		"database.dsn", "listen", "connectors", "connectors.[].name",
		"connectors.[].type", "connectors.[].base_url",
		"connectors.[].token_file", "connectors.[].token_env",
	};
	/* and the type's own option the blocker named is not reloadable */
	int api = conn_type_option(&github_conn_type, "api_version");
	assert_true(api >= 0);
	assert_false(github_conn_type.options[api].reloadable);
	for (size_t i = 0; i < ARRAY_SIZE(blockers); i++) {
		bool found = false;
		for (size_t j = 0; j < cfg_n_options; j++)
			if (strcmp(cfg_options[j].name, blockers[i]) == 0) {
				found = true;
				assert_false(cfg_options[j].reloadable);
			}
		assert_true(found);
	}
	cfg_free(a);
	cfg_free(b);
}

static void test_policy_names(void **state)
{
	(void)state;
	assert_string_equal(cfg_policy_name(CFG_POLICY_REMOTE_WINS), "remote_wins");
	assert_string_equal(cfg_policy_name(CFG_POLICY_LEDGER_WINS), "ledger_wins");
	assert_string_equal(cfg_policy_name(CFG_POLICY_NEWEST_WINS), "newest_wins");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_jira_options),
		cmocka_unit_test(test_insecure_http_and_ca_file),
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_import_group),
		cmocka_unit_test(test_secret_not_in_messages),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_options_documented),
		cmocka_unit_test(test_discover_rules),
		cmocka_unit_test(test_reload_blocker),
		cmocka_unit_test(test_policy_names),
	};
	int rc = cmocka_run_group_tests(tests, setup_env, NULL);
	log_clear_secrets();
	return rc;
}
