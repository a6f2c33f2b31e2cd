/* test_directory.c — the directory file (parse, validate, JSON) and its
 * upsert into a real PostgreSQL ledger (CLOSELOOP_TEST_DSN; each test that
 * needs one creates and drops its own database). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "directory.h"
#include "log.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif
#define DIR_FIX FIXTURES "/directory/"

/* ---- parsing ---- */

static void test_example_parses(void **state)
{
	(void)state;
	struct directory *d = NULL;
	char err[512] = "";
	if (dir_load_file("examples/directory.conf", &d, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(d->n_platforms, 2);
	assert_string_equal(d->platforms[0].name, "kubernetes");
	assert_string_equal(d->platforms[0].lead, "platform-lead");
	assert_string_equal(d->platforms[1].name, "etcd");
	assert_string_equal(d->platforms[1].lead, "etcd-lead");
	assert_int_equal(d->n_teams, 3);
	assert_string_equal(d->teams[0].name, "dfds-platform");
	assert_string_equal(d->teams[0].platform, "kubernetes");
	assert_string_equal(d->teams[0].connector, "github-demo");
	assert_string_equal(d->teams[0].target, "dfds/platform-backlog");
	assert_string_equal(d->teams[1].name, "etcd-maintainers");
	assert_string_equal(d->teams[1].target, "etcd-io/etcd");
	assert_string_equal(d->teams[2].connector, "jira-demo");
	assert_string_equal(d->teams[2].target, "IDM");
	assert_true(d->n_people >= 4);
	bool lead = false, etcd_lead = false, inactive = false;
	for (size_t i = 0; i < d->n_people; i++) {
		const struct dir_person *p = &d->people[i];
		assert_non_null(p->github);
		assert_true(p->line > 0);
		if (strcmp(p->handle, "platform-lead") == 0)
			lead = p->active;
		if (strcmp(p->handle, "etcd-lead") == 0)
			etcd_lead = p->active;
		if (!p->active)
			inactive = true;
	}
	assert_true(lead);
	assert_true(etcd_lead);
	assert_true(inactive);
	dir_free(d);
}

struct bad_case { const char *file; int line; const char *expect; };

static const struct bad_case bad_cases[] = {
	{ "bad_syntax.conf", 4, "syntax error" },
	{ "bad_duplicate_handle.conf", 5, "duplicate handle 'rf' (first at line 4" },
	{ "bad_duplicate_team.conf", 5, "duplicate team 'k8s' (first at line 4" },
	{ "bad_duplicate_platform.conf", 4, "duplicate platform 'kubernetes' (first at line 3" },
	{ "bad_unknown_platform.conf", 4, "unknown platform 'postgres' (expected one of the platforms" },
	{ "bad_missing_handle.conf", 4, "person entry without 'handle' (expected handle = " },
	{ "bad_unknown_lead.conf", 4, "lead 'ghost' is not a handle in people (expected" },
	{ "bad_unknown_key.conf", 3, "unknown key 'githb' in person (expected one of handle, name" },
	{ "bad_team_half_route.conf", 4, "connector and target go together" },
	{ "bad_duplicate_github.conf", 4, "github login 'rfaber' of 'rf2' is already used by 'rf'" },
	{ "bad_active_type.conf", 3, "'active' must be true or false" },
	{ "bad_section.conf", 3, "unknown section 'person' (expected platforms, teams or people)" },
	{ "bad_also_own_connector.conf", 5, "also_to names connector 'gh', the team's own" },
	{ "bad_also_twice.conf", 6, "connector 'gh' twice in also_to (first at line 5" },
	{ "bad_also_half.conf", 5, "also_to route entry without 'target'" },
};

static void test_bad_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *bc = &bad_cases[i];
		char path[256], prefix[300], err[512] = "";
		struct directory *d = NULL;
		snprintf(path, sizeof(path), DIR_FIX "%s", bc->file);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, bc->line);
		int rc = dir_load_file(path, &d, err, sizeof(err));
		if (rc != -EINVAL) {
			dir_free(d);
			fail_msg("%s: expected -EINVAL, got %d", bc->file, rc);
		}
		assert_null(d);
		if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, bc->expect))
			fail_msg("%s: expected '%s...%s', got '%s'", bc->file, prefix, bc->expect, err);
	}
	struct directory *d = NULL;
	char err[512] = "";
	assert_int_equal(dir_load_file(DIR_FIX "no-such.conf", &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, DIR_FIX "no-such.conf:0: cannot read"));
}

static void test_to_json(void **state)
{
	(void)state;
	struct directory *d = NULL;
	char err[512] = "";
	assert_int_equal(dir_load_file("examples/directory.conf", &d, err, sizeof(err)), 0);
	char *s = dir_to_json(d);
	struct json_object *o = json_tokener_parse(s);
	assert_non_null(o);
	struct json_object *pl, *tm, *pe, *v;
	assert_true(json_object_object_get_ex(o, "platforms", &pl));
	assert_true(json_object_object_get_ex(o, "teams", &tm));
	assert_true(json_object_object_get_ex(o, "people", &pe));
	assert_int_equal(json_object_array_length(pl), d->n_platforms);
	assert_int_equal(json_object_array_length(tm), d->n_teams);
	assert_int_equal(json_object_array_length(pe), d->n_people);
	struct json_object *t0 = json_object_array_get_idx(tm, 0);
	assert_true(json_object_object_get_ex(t0, "target", &v));
	assert_string_equal(json_object_get_string(v), "dfds/platform-backlog");
	struct json_object *p0 = json_object_array_get_idx(pe, 0);
	assert_true(json_object_object_get_ex(p0, "active", &v));
	assert_true(json_object_get_boolean(v));
	/* unset identities are JSON null, present as keys */
	assert_true(json_object_object_get_ex(p0, "servicenow_sys_id", &v));
	assert_null(v);
	json_object_put(o);
	free(s);
	dir_free(d);
}

/* ---- PostgreSQL ---- */

struct pgfix {
	PGconn *admin;
	PGconn *db;
	char name[64];
};

static PGconn *connect_to(const char *dsn, const char *dbname)
{
	const char *keys[] = { "dbname", "dbname", NULL };
	const char *vals[] = { dsn, dbname, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		print_error("connect %s: %s", dbname, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int pg_setup(void **state)
{
	static int seq;
	const char *dsn = getenv("CLOSELOOP_TEST_DSN");
	if (!dsn || !*dsn) {
		*state = NULL;
		return 0;
	}
	struct pgfix *f = calloc(1, sizeof(*f));
	char err[512] = "", sql[128];
	snprintf(f->name, sizeof(f->name), "test_directory_%d_%d", (int)getpid(), ++seq);
	f->admin = db_sync_connect(dsn, err, sizeof(err));
	if (!f->admin) {
		print_error("%s\n", err);
		free(f);
		return -1;
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", f->name);
	PQclear(PQexec(f->admin, sql));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->name);
	if (db_sync_command(f->admin, sql, 0, NULL, err, sizeof(err)) < 0 ||
	    !(f->db = connect_to(dsn, f->name)) ||
	    db_migrate(f->db, err, sizeof(err)) < 0) {
		print_error("setup %s: %s\n", f->name, err);
		return -1;
	}
	*state = f;
	return 0;
}

static int pg_teardown(void **state)
{
	struct pgfix *f = *state;
	if (!f)
		return 0;
	char sql[128];
	PQfinish(f->db);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", f->name);
	PQclear(PQexec(f->admin, sql));
	PQfinish(f->admin);
	free(f);
	return 0;
}

#define NEED_PG(f) do { if (!(f)) { skip(); return; } } while (0)

/* First column of the first row as a new string ("" for NULL). */
static char *q1(PGconn *c, const char *sql)
{
	char err[512] = "";
	PGresult *r = db_sync_exec(c, sql, 0, NULL, err, sizeof(err));
	if (!r)
		fail_msg("%s: %s", sql, err);
	char *s = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return s;
}

static void q_eq(PGconn *c, const char *sql, const char *want)
{
	char *got = q1(c, sql);
	char copy[256];
	bool same = strcmp(got, want) == 0;
	snprintf(copy, sizeof(copy), "%s", got);
	free(got);
	if (!same)
		fail_msg("%s: got '%s', want '%s'", sql, copy, want);
}

static void exec_ok(PGconn *c, const char *sql)
{
	char err[512] = "";
	if (db_sync_command(c, sql, 0, NULL, err, sizeof(err)) < 0)
		fail_msg("%s: %s", sql, err);
}

static void store_file(PGconn *c, const char *path)
{
	struct directory *d = NULL;
	char err[512] = "";
	if (dir_load_file(path, &d, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	if (dir_store(c, d, err, sizeof(err)) != 0)
		fail_msg("dir_store: %s", err);
	dir_free(d);
}

/* Write text to a temporary file; returns its path (static buffer). */
static const char *tmp_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/closeloop-dir-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static const char *const XMIN_ALL =
	"SELECT (SELECT string_agg(xmin::text, ',' ORDER BY id) FROM platform) || '|' ||"
	"       (SELECT string_agg(xmin::text, ',' ORDER BY id) FROM team) || '|' ||"
	"       (SELECT string_agg(xmin::text, ',' ORDER BY id) FROM person)";

static void test_store_and_repeat(void **state)
{
	struct pgfix *f = *state;
	NEED_PG(f);
	store_file(f->db, "examples/directory.conf");
	q_eq(f->db, "SELECT count(*) FROM platform", "2");
	q_eq(f->db, "SELECT lead_handle FROM platform WHERE name = 'etcd'", "etcd-lead");
	q_eq(f->db, "SELECT p.name || ' ' || t.connector || ' ' || t.target FROM team t "
	            "JOIN platform p ON p.id = t.platform_id WHERE t.name = 'etcd-maintainers'",
	     "etcd github-demo etcd-io/etcd");
	q_eq(f->db, "SELECT count(*) FROM person", "6");
	q_eq(f->db, "SELECT display_name || ' ' || github_login || ' ' || active FROM person "
	            "WHERE handle = 'platform-lead'", "Pia Lindqvist pia-lindqvist true");
	q_eq(f->db, "SELECT active::text FROM person WHERE handle = 'sofia'", "false");
	q_eq(f->db, "SELECT jira_username FROM person WHERE handle = 'rf'", "rfaber");

	/* the same file again writes nothing: no new row versions anywhere */
	char *before = q1(f->db, XMIN_ALL);
	char *upd_before = q1(f->db, "SELECT max(updated_at)::text FROM person");
	store_file(f->db, "examples/directory.conf");
	char *after = q1(f->db, XMIN_ALL);
	char *upd_after = q1(f->db, "SELECT max(updated_at)::text FROM person");
	assert_string_equal(before, after);
	assert_string_equal(upd_before, upd_after);
	free(before);
	free(after);
	free(upd_before);
	free(upd_after);
}

static void test_store_deactivates_missing_person(void **state)
{
	struct pgfix *f = *state;
	NEED_PG(f);
	const char *v1 = tmp_file(
		"platforms = ( { name = \"kubernetes\"; lead = \"rf\"; } );\n"
		"people = ( { handle = \"rf\"; github = \"rf-gh\"; },\n"
		"           { handle = \"ola\"; name = \"Ola N.\"; github = \"ola-gh\"; } );\n");
	store_file(f->db, v1);
	unlink(v1);
	/* someone added by SQL is kept too, but is not in the file */
	exec_ok(f->db, "INSERT INTO person (handle) VALUES ('sql-only')");
	q_eq(f->db, "SELECT string_agg(handle || '=' || active, ',' ORDER BY handle) FROM person",
	     "ola=true,rf=true,sql-only=true");
	char *rf_xmin = q1(f->db, "SELECT xmin FROM person WHERE handle = 'rf'");

	const char *v2 = tmp_file(
		"platforms = ( { name = \"kubernetes\"; lead = \"rf\"; } );\n"
		"people = ( { handle = \"rf\"; github = \"rf-gh\"; } );\n");
	store_file(f->db, v2);
	unlink(v2);
	q_eq(f->db, "SELECT string_agg(handle || '=' || active, ',' ORDER BY handle) FROM person",
	     "ola=false,rf=true,sql-only=false");
	/* the row is kept with its data; rf was not touched */
	q_eq(f->db, "SELECT display_name || ' ' || github_login FROM person WHERE handle = 'ola'",
	     "Ola N. ola-gh");
	q_eq(f->db, "SELECT xmin FROM person WHERE handle = 'rf'", rf_xmin);
	free(rf_xmin);

	/* back in the file: active again */
	const char *v3 = tmp_file(
		"platforms = ( { name = \"kubernetes\"; lead = \"rf\"; } );\n"
		"people = ( { handle = \"rf\"; github = \"rf-gh\"; },\n"
		"           { handle = \"ola\"; name = \"Ola N.\"; github = \"ola-gh\"; } );\n");
	store_file(f->db, v3);
	unlink(v3);
	q_eq(f->db, "SELECT active::text FROM person WHERE handle = 'ola'", "true");
}

static void test_file_wins_on_load(void **state)
{
	struct pgfix *f = *state;
	NEED_PG(f);
	store_file(f->db, "examples/directory.conf");
	/* an operator re-routes the team by SQL, and adds a team of their own */
	exec_ok(f->db, "UPDATE team SET target = 'dfds/somewhere-else' WHERE name = 'dfds-platform'");
	exec_ok(f->db, "UPDATE platform SET lead_handle = 'rf' WHERE name = 'kubernetes'");
	exec_ok(f->db, "INSERT INTO team (name) VALUES ('sql-team')");
	char *etcd_xmin = q1(f->db, "SELECT xmin FROM team WHERE name = 'etcd-maintainers'");
	store_file(f->db, "examples/directory.conf");
	q_eq(f->db, "SELECT target FROM team WHERE name = 'dfds-platform'", "dfds/platform-backlog");
	q_eq(f->db, "SELECT lead_handle FROM platform WHERE name = 'kubernetes'", "platform-lead");
	q_eq(f->db, "SELECT count(*) FROM team WHERE name = 'sql-team'", "1");
	q_eq(f->db, "SELECT xmin FROM team WHERE name = 'etcd-maintainers'", etcd_xmin);
	free(etcd_xmin);
}

static void test_store_error(void **state)
{
	struct pgfix *f = *state;
	NEED_PG(f);
	/* a GitHub login already held by a person outside the file violates
	 * person_github_login_key: the statement fails as a whole */
	exec_ok(f->db, "INSERT INTO person (handle, github_login) VALUES ('old', 'RF-GH')");
	const char *p = tmp_file("people = ( { handle = \"rf\"; github = \"rf-gh\"; } );\n");
	struct directory *d = NULL;
	char err[512] = "";
	assert_int_equal(dir_load_file(p, &d, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(dir_store(f->db, d, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "person_github_login_key"));
	dir_free(d);
	q_eq(f->db, "SELECT string_agg(handle || '=' || active, ',') FROM person", "old=true");
}


/* ---- a team routed to several trackers (also_to, table team_route) ---- */

static const char ROUTES_V1[] =
	"platforms = ( { name = \"kubernetes\"; } );\n"
	"teams = (\n"
	"  { name = \"k8s\"; platform = \"kubernetes\"; connector = \"jira\"; target = \"K8S\";\n"
	"    also_to = ( { connector = \"gh\"; target = \"acme/oss\"; },\n"
	"                { connector = \"sn\"; target = \"grp1\"; } ); },\n"
	"  { name = \"db\"; platform = \"kubernetes\"; connector = \"gh\"; target = \"acme/db\"; }\n"
	");\n";

static void test_routes_parse_and_check(void **state)
{
	(void)state;
	const char *p = tmp_file(ROUTES_V1);
	struct directory *d = NULL;
	char err[512] = "";
	if (dir_load_file(p, &d, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(d->n_teams, 2);
	assert_int_equal(d->teams[0].n_also, 2);
	assert_string_equal(d->teams[0].also[0].connector, "gh");
	assert_string_equal(d->teams[0].also[0].target, "acme/oss");
	assert_int_equal(d->teams[0].also[1].line, 5);
	assert_int_equal(d->teams[1].n_also, 0);

	char *gh_t[] = { "acme/oss", "acme/db" }, *jira_t[] = { "K8S" }, *sn_t[] = { "grp1" };
	struct cfg_connector cc[] = {
		{ .name = "gh", .type = "github", .targets = gh_t, .n_targets = 2 },
		{ .name = "jira", .type = "jira", .targets = jira_t, .n_targets = 1 },
		{ .name = "sn", .type = "servicenow", .targets = sn_t, .n_targets = 1 },
	};
	struct config cfg = { .path = "closeloop.conf", .connectors = cc, .n_connectors = 3 };
	assert_int_equal(dir_check_routes(d, &cfg, p, err, sizeof(err)), 0);

	/* served, but spelt otherwise: the push pass compares targets exactly */
	gh_t[0] = "Acme/OSS";
	assert_int_equal(dir_check_routes(d, &cfg, p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":4: team 'k8s': target 'acme/oss' is spelt 'Acme/OSS' in "
	                            "closeloop.conf"));
	gh_t[0] = "acme/oss";

	/* a target the connector does not serve, then a connector not configured */
	cc[2].n_targets = 0;
	char want[512];
	assert_int_equal(dir_check_routes(d, &cfg, p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:5: team 'k8s': connector 'sn' does not serve 'grp1' "
	         "(expected one of its targets; add it to connectors.[].targets in "
	         "closeloop.conf)", p);
	assert_string_equal(err, want);
	cfg.n_connectors = 1;
	assert_int_equal(dir_check_routes(d, &cfg, p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: team 'k8s': connector 'jira' is not in closeloop.conf",
	         p);
	assert_non_null(strstr(err, want));

	/* a team without its own route goes to the default connector: an extra
	 * route there would be a second ticket in one connector */
	free(d->teams[0].connector);
	free(d->teams[0].target);
	d->teams[0].connector = d->teams[0].target = NULL;
	cc[2].n_targets = 1;
	cfg.n_connectors = 3;
	cfg.default_connector = "gh";
	assert_int_equal(dir_check_routes(d, &cfg, p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":4: team 'k8s': also_to names connector 'gh', where the "
	                            "team's items go already"));
	unlink(p);
	dir_free(d);
}

static void test_routes_store(void **state)
{
	struct pgfix *f = *state;
	NEED_PG(f);
	const char *v1 = tmp_file(ROUTES_V1);
	store_file(f->db, v1);
	unlink(v1);
	static const char ROUTES[] =
		"SELECT string_agg(t.name || ':' || r.connector || '=' || r.target, ',' "
		"ORDER BY t.name, r.connector) FROM team_route r JOIN team t ON t.id = r.team_id";
	q_eq(f->db, ROUTES, "k8s:gh=acme/oss,k8s:sn=grp1");
	/* the same file again writes nothing */
	char *before = q1(f->db, "SELECT string_agg(xmin::text, ',' ORDER BY connector) FROM team_route");
	const char *v1b = tmp_file(ROUTES_V1);
	store_file(f->db, v1b);
	unlink(v1b);
	char *after = q1(f->db, "SELECT string_agg(xmin::text, ',' ORDER BY connector) FROM team_route");
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* a route by SQL for a team that is not in the file is kept; the file's
	 * teams get exactly the file's routes (one re-pointed, one dropped, one
	 * new) */
	exec_ok(f->db, "INSERT INTO team (name) VALUES ('sql-team')");
	exec_ok(f->db, "INSERT INTO team_route (team_id, connector, target) "
	               "SELECT id, 'gh', 'acme/sql' FROM team WHERE name = 'sql-team'");
	const char *v2 = tmp_file(
		"platforms = ( { name = \"kubernetes\"; } );\n"
		"teams = (\n"
		"  { name = \"k8s\"; platform = \"kubernetes\"; connector = \"jira\"; target = \"K8S\";\n"
		"    also_to = ( { connector = \"gh\"; target = \"acme/k8s-public\"; } ); },\n"
		"  { name = \"db\"; platform = \"kubernetes\"; connector = \"gh\"; target = \"acme/db\";\n"
		"    also_to = ( { connector = \"jira\"; target = \"DB\"; } ); }\n"
		");\n");
	store_file(f->db, v2);
	unlink(v2);
	q_eq(f->db, ROUTES, "db:jira=DB,k8s:gh=acme/k8s-public,sql-team:gh=acme/sql");
}

int main(void)
{
	log_set_level(LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_parses),
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test_setup_teardown(test_store_and_repeat, pg_setup, pg_teardown),
		cmocka_unit_test_setup_teardown(test_store_deactivates_missing_person, pg_setup, pg_teardown),
		cmocka_unit_test_setup_teardown(test_file_wins_on_load, pg_setup, pg_teardown),
		cmocka_unit_test_setup_teardown(test_store_error, pg_setup, pg_teardown),
		cmocka_unit_test(test_routes_parse_and_check),
		cmocka_unit_test_setup_teardown(test_routes_store, pg_setup, pg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
