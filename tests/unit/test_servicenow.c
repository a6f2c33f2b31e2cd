/* test_servicenow.c — the ServiceNow connector (connectors/servicenow*.c):
 * its pure parts (target check, priority map, plain-text normaliser,
 * record mapping), then the real engine against a real PostgreSQL
 * (CLOSELOOP_TEST_DSN) and tests/sim/servicenow_sim.py (spawned here; the
 * live test skips when python3 or the simulator is missing).
 *
 * The live test routes a postmortem to a team whose target is a
 * ServiceNow assignment group and checks: problems created once, an edit
 * in ServiceNow pulled, an SQL edit pushed, a refused state change
 * recorded on the link while the other field of the same edit applies, a
 * create whose answer was lost found again by correlation_id (no
 * duplicate), an owner without a sys_user created unassigned and then held
 * as a refused field, a 403 from a business rule as that item's error, a
 * deleted record as a broken link, and a 429 with Retry-After waited out.
 * A second live test covers OAuth (token cached, refreshed after a 401,
 * a refused grant), work notes (written once, found by marker, a lost
 * answer never resent) and a create that times out.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "pgtest.h"
#include "config.h"
#include "connector.h"
#include "db.h"
#include "log.h"
#include "plan.h"
#include "reconcile.h"
#include "servicenow.h"

#define GROUP "8a4dde73c6112278017a6a4baf547aa7"
#define ALICE "62826bf03710200044e0bfc8bcbe5df1"
#define BOB "a8f98bb0eb32010045e1a5115206fe3a"   /* not a user of the instance */
#define SIM_PATH "tests/sim/servicenow_sim.py"

/* ---- pure parts ---- */

static void test_target_and_options(void **state)
{
	UNUSED(state);
	const struct conn_type *t = conn_type_find("servicenow");
	assert_ptr_equal(t, &servicenow_conn_type);
	assert_string_equal(t->person_ident, "servicenow_sys_id");
	assert_null(t->target_check(GROUP));
	assert_non_null(t->target_check("Platform Engineering"));
	assert_non_null(t->target_check("8A4DDE73C6112278017A6A4BAF547AA7"));
	assert_non_null(t->target_check(GROUP "0"));
	struct sn_prio p[4];
	assert_int_equal(sn_parse_prio_map("P0=1/1,P1=1/2,P2=2/2,P3=3/3", p), 0);
	assert_string_equal(p[1].impact, "1");
	assert_string_equal(p[1].urgency, "2");
	assert_int_equal(sn_parse_prio_map("P0=1/1,P1=1/2,P2=2/2", p), -EINVAL); /* P3 missing */
	assert_int_equal(sn_parse_prio_map("P0=1/4,P1=1/2,P2=2/2,P3=3/3", p), -EINVAL);
	int i = conn_type_option(t, "state_model");
	assert_true(i >= 0);
	assert_null(t->options[i].check("legacy"));
	assert_non_null(t->options[i].check("107"));
	i = conn_type_option(t, "table");
	assert_null(t->options[i].check("problem_task"));
	assert_non_null(t->options[i].check("incident"));
}

static void test_journal_text_and_mention(void **state)
{
	UNUSED(state);
	char *t = sn_journal_text("**closeloop escalation (overdue-30)** cc @[" ALICE ":alice]\n"
	                          "\nPlease decide.\n<!-- closeloop:escalation m-42 -->");
	assert_string_equal(t, "closeloop escalation (overdue-30) cc @[" ALICE ":alice]\n\n"
	                    "Please decide.\n[closeloop:escalation m-42]");
	free(t);
	t = sn_mention(ALICE, "Alice Lee");
	assert_string_equal(t, "@[" ALICE ":Alice Lee]");
	free(t);
	t = sn_mention(ALICE, NULL);
	assert_string_equal(t, "@[" ALICE ":" ALICE "]");
	free(t);
}

static void test_plain_text_is_lossy(void **state)
{
	UNUSED(state);
	char *s = conn_normalise(&servicenow_conn_type, ITEM_F_DESCRIPTION,
	                         "## Why\nUse **etcdctl defrag** on `each` member.  \n");
	assert_string_equal(s, "Why\nUse etcdctl defrag on each member.");
	/* a round trip is stable */
	char *s2 = conn_normalise(&servicenow_conn_type, ITEM_F_DESCRIPTION, s);
	assert_string_equal(s, s2);
	free(s);
	free(s2);
	assert_null(conn_normalise(&servicenow_conn_type, ITEM_F_DESCRIPTION, " ** "));
	s = conn_normalise(&servicenow_conn_type, ITEM_F_TITLE, "**not lossy**");
	assert_string_equal(s, "**not lossy**");
	free(s);
}

/* A problem always has an impact and an urgency: a ledger without a
 * priority is written as P3's pair and reads back as P3.  That round trip
 * is no change (found by the model-based test, tests/mbt: the P3 was
 * pulled into the ledger over the SRE's NULL and fanned out to the item's
 * other trackers); a priority set in ServiceNow still is one. */
static void test_missing_priority_round_trip_is_not_a_change(void **state)
{
	UNUSED(state);
	char *s = conn_normalise(&servicenow_conn_type, ITEM_F_PRIORITY, NULL);
	assert_string_equal(s, "P3");
	free(s);
	s = conn_normalise(&servicenow_conn_type, ITEM_F_PRIORITY, "P1");
	assert_string_equal(s, "P1");
	free(s);
	struct item_fields l, b, r;
	enum cfg_policy pol[ITEM_F__COUNT] = { 0 };
	item_fields_init(&l);
	item_fields_init(&b);
	item_fields_init(&r);
	item_fields_set(&l, ITEM_F_TITLE, "T");
	item_fields_copy(&b, &l);
	item_fields_copy(&r, &l);
	item_fields_set(&r, ITEM_F_PRIORITY, "P3");
	struct rec_plan_in in = { .ledger = &l, .base = &b, .remote = &r, .policy = pol,
	                          .ctype = &servicenow_conn_type, .now_ms = 1000 };
	struct rec_plan p;
	rec_plan_item(&in, &p);
	assert_int_equal(p.mr.pull_mask | p.mr.push_mask | p.mr.conflict_mask, 0);
	rec_plan_free(&p);
	/* the ledger dropped its priority: pushed (as P3's pair) */
	item_fields_set(&b, ITEM_F_PRIORITY, "P1");
	item_fields_set(&r, ITEM_F_PRIORITY, "P1");
	rec_plan_item(&in, &p);
	assert_int_equal(p.mr.push_mask, ITEM_FIELD_BIT(ITEM_F_PRIORITY));
	assert_int_equal(p.mr.pull_mask, 0);
	rec_plan_free(&p);
	/* a person set P0 in ServiceNow: pulled */
	item_fields_set(&b, ITEM_F_PRIORITY, NULL);
	item_fields_set(&r, ITEM_F_PRIORITY, "P0");
	rec_plan_item(&in, &p);
	assert_int_equal(p.mr.pull_mask, ITEM_FIELD_BIT(ITEM_F_PRIORITY));
	rec_plan_free(&p);
	item_fields_free(&l);
	item_fields_free(&b);
	item_fields_free(&r);
}

static void closed_flag(void *arg) { *(bool *)arg = true; }

/* A record as each table and state model reads it (code: the problem's
 * resolution_code, the task's close_code), and the owner/due/priority
 * mapping, through a connector made by the registry. */
static void expect_state(struct connector *c, const char *state, const char *code,
                         const char *want)
{
	struct sn_conn *s = container_of(c, struct sn_conn, base);
	bool task = str_eq(s->table, "problem_task");
	char *json = xasprintf("{\"sys_id\": \"%s\", \"number\": \"PTASK0040001\","
	                       " \"sys_updated_on\": \"2026-12-01 08:30:00\", \"state\": \"%s\","
	                       " \"%s\": \"%s\", \"impact\": \"2\", \"urgency\": \"2\","
	                       " \"due_date\": \"2027-03-31 00:00:00\", \"assigned_to\": \"\"}",
	                       GROUP, state, task ? "close_code" : "resolution_code", code);
	struct json_object *o = json_tokener_parse(json);
	struct conn_remote r;
	assert_int_equal(sn_record_to_remote(s, o, &r), 0);
	if (!str_eq(r.fields.v[ITEM_F_STATE], want))
		fail_msg("state %s / %s read as %s, want %s", state, code,
		         r.fields.v[ITEM_F_STATE], want);
	assert_string_equal(r.updated_at, "2026-12-01T08:30:00Z");
	assert_string_equal(r.fields.v[ITEM_F_PRIORITY], "P2");
	assert_string_equal(r.fields.v[ITEM_F_DUE_DATE], "2027-03-31");
	assert_null(r.fields.v[ITEM_F_OWNER]);
	assert_non_null(strstr(r.url, task ? "problem_task.do?sys_id=" GROUP :
	                                     "problem.do?sys_id=" GROUP));
	conn_remote_free(&r);
	json_object_put(o);
	free(json);
}

/* The next PATCH of a problem task's state walk from state/code towards
 * want: next (NULL: there), with close_code next_code into 157. */
static void expect_step(struct connector *c, const char *state, const char *code,
                        const char *want, const char *next, const char *next_code)
{
	struct sn_conn *s = container_of(c, struct sn_conn, base);
	char *json = xasprintf("{\"state\": \"%s\", \"close_code\": \"%s\"}", state, code);
	struct json_object *rec = json_tokener_parse(json);
	char *body = sn_task_step(s, rec, want);
	struct json_object *b = body ? json_tokener_parse(body) : NULL, *v;
	if (!next) {
		if (body)
			fail_msg("%s/%s -> %s: want no step, got %s", state, code, want, body);
	} else {
		if (!b || !json_object_object_get_ex(b, "state", &v) ||
		    !str_eq(json_object_get_string(v), next))
			fail_msg("%s/%s -> %s: want state %s, got %s", state, code, want, next,
			         body ? body : "no step");
		bool has_code = json_object_object_get_ex(b, "close_code", &v);
		if (next_code ? !has_code || !str_eq(json_object_get_string(v), next_code) : has_code)
			fail_msg("%s/%s -> %s: close_code in %s", state, code, want, body);
		if (next_code && !json_object_object_get_ex(b, "close_notes", &v))
			fail_msg("%s/%s -> %s: no close_notes in %s", state, code, want, body);
	}
	if (b)
		json_object_put(b);
	free(body);
	json_object_put(rec);
	free(json);
}

static void test_state_models(void **state)
{
	UNUSED(state);
	uv_loop_t loop;
	struct http_client *http;
	bool closed = false;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct http_client_options ho = { 0 };
	assert_int_equal(http_client_new(&http, &loop, &ho), 0);
	char *const legacy[] = { NULL, (char *)"legacy", NULL, NULL, NULL, NULL, NULL };
	char *const current[] = { NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	char *const task_legacy[] = { (char *)"problem_task", (char *)"legacy", NULL, NULL, NULL,
	                              NULL, NULL };
	char *const task[] = { (char *)"problem_task", NULL, NULL, NULL, NULL, NULL, NULL };
	char *const oauth[] = { NULL, NULL, NULL, NULL, NULL, (char *)"oauth", NULL };
	_Static_assert(ARRAY_SIZE(oauth) == 7, "one value per servicenow option");
	struct conn_options o = { .name = "snow", .base_url = "https://example.service-now.com",
	                          .token = "closeloop:pw", .type_opts = legacy };
	struct connector *c = NULL;
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), 0);
	expect_state(c, "1", "", "open");
	expect_state(c, "2", "", "in_progress");
	expect_state(c, "4", "fix_applied", "done");
	expect_state(c, "4", "canceled", "wont_do");
	connector_destroy(c);
	o.type_opts = current;
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), 0);
	expect_state(c, "101", "", "open");
	expect_state(c, "103", "", "open");
	expect_state(c, "104", "", "in_progress");
	expect_state(c, "106", "fix_applied", "done");
	expect_state(c, "107", "duplicate", "done");
	expect_state(c, "106", "risk_accepted", "wont_do");
	connector_destroy(c);
	/* a problem task's own states ("Map problem task states") */
	o.type_opts = task_legacy;
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), 0);
	expect_state(c, "-5", "", "open");
	expect_state(c, "1", "", "open");
	expect_state(c, "2", "", "in_progress");
	expect_state(c, "3", "", "done");
	expect_state(c, "4", "", "wont_do");
	expect_state(c, "7", "", "wont_do");
	connector_destroy(c);
	o.type_opts = task;
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), 0);
	expect_state(c, "151", "", "open");
	expect_state(c, "152", "", "open");
	expect_state(c, "154", "", "in_progress");
	expect_state(c, "157", "completed", "done");
	expect_state(c, "157", "canceled", "wont_do");
	expect_state(c, "106", "", "open"); /* a problem's state is none of a task's */
	/* the walk, one documented transition a step */
	expect_step(c, "151", "", "open", NULL, NULL);
	expect_step(c, "151", "", "done", "152", NULL);
	expect_step(c, "152", "", "done", "154", NULL);
	expect_step(c, "154", "", "done", "157", "completed");
	expect_step(c, "157", "completed", "done", NULL, NULL);
	expect_step(c, "151", "", "wont_do", "152", NULL);
	expect_step(c, "152", "", "wont_do", "157", "canceled");
	expect_step(c, "154", "", "wont_do", "157", "canceled");
	expect_step(c, "157", "completed", "wont_do", "152", NULL);
	expect_step(c, "157", "canceled", "done", "152", NULL);
	expect_step(c, "157", "canceled", "open", "152", NULL);
	expect_step(c, "154", "", "open", "152", NULL);
	expect_step(c, "152", "", "in_progress", "154", NULL);
	expect_step(c, "157", "completed", "in_progress", "152", NULL);
	connector_destroy(c);
	/* the instance a record URL must name (url_authority, libcurl's
	 * reading of base_url); a URL libcurl cannot parse makes no connector */
	static const struct { const char *base, *host; } inst[] = {
		{ "https://Example.Service-Now.com", "example.service-now.com" },
		{ "https://example.service-now.com:443/", "example.service-now.com" },
		{ "http://127.0.0.1:8080", "127.0.0.1:8080" },
		{ "https://svc@[::1]:8443/api", "[::1]:8443" },
		{ "https://acme service-now.com", NULL },
		{ "https://acme.service-now.com:99999", NULL },
	};
	o.type_opts = current;
	for (size_t i = 0; i < ARRAY_SIZE(inst); i++) {
		o.base_url = inst[i].base;
		int rc = connector_new(&c, "servicenow", &loop, http, &o);
		if (!inst[i].host) {
			assert_int_equal(rc, -EINVAL);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(c->ref_host, inst[i].host);
		connector_destroy(c);
	}
	o.base_url = "https://example.service-now.com";
	o.token = "no-colon"; /* basic authentication needs user:password */
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), -EINVAL);
	/* OAuth: client id and secret, then a refresh token or a user (both
	 * parts) or nothing (client credentials) */
	o.type_opts = oauth;
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), -EINVAL);
	o.token = "client_id=cl&client_secret=s%26c";
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), 0);
	assert_string_equal(container_of(c, struct sn_conn, base)->oauth.client_secret, "s&c");
	connector_destroy(c);
	o.token = "client_id=cl&client_secret=x&username=u";
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), -EINVAL);
	o.token = "client_id=cl&client_secret=x&colour=red";
	assert_int_equal(connector_new(&c, "servicenow", &loop, http, &o), -EINVAL);
	http_client_close(http, closed_flag, &closed);
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- the simulator ---- */

static pid_t sim_pid;
static char sim_base[64];

static int sim_up(void)
{
	char portfile[64];
	struct stat st;
	int port = 0;
	if (stat(SIM_PATH, &st) != 0 || access("/usr/bin/python3", X_OK) != 0)
		return -ENOENT;
	snprintf(portfile, sizeof(portfile), "/tmp/snsim-%d.port", (int)getpid());
	unlink(portfile);
	sim_pid = fork();
	assert_true(sim_pid >= 0);
	if (sim_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		execl("/usr/bin/python3", "python3", SIM_PATH, "--port", "0", "--port-file", portfile,
		      "--user", "closeloop", "--password", "s3cret:pw", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && port <= 0; i++) { /* 10 s */
		FILE *f = fopen(portfile, "r");
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port <= 0)
			usleep(50000);
	}
	unlink(portfile);
	if (port <= 0)
		fail_msg("%s did not start", SIM_PATH);
	snprintf(sim_base, sizeof(sim_base), "http://127.0.0.1:%d", port);
	return 0;
}

static void sim_down(void)
{
	if (sim_pid > 0) {
		kill(sim_pid, SIGTERM);
		waitpid(sim_pid, NULL, 0);
		sim_pid = 0;
	}
}

static size_t admin_write(char *p, size_t sz, size_t n, void *ud)
{
	assert_int_equal(buf_append(ud, p, sz * n), 0);
	return sz * n;
}

/* Blocking call to the simulator's admin API; the parsed answer (caller puts). */
static struct json_object *admin(const char *method, const char *path, const char *json)
{
	CURL *e = curl_easy_init();
	struct buf b = { 0 };
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char *url = xasprintf("%s%s", sim_base, path);
	long status = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (json)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, admin_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 && status != 201)
		fail_msg("%s %s -> %ld: %s", method, path, status, b.data ? b.data : "");
	struct json_object *o = b.data ? json_tokener_parse(b.data) : NULL;
	buf_free(&b);
	free(url);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return o;
}

static void admin_do(const char *method, const char *path, const char *json)
{
	json_object_put(admin(method, path, json));
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* The simulator's record with short_description title (caller puts), or
 * NULL; *n_out = how many records it holds. */
static struct json_object *sim_record(const char *title, size_t *n_out)
{
	struct json_object *all = admin("GET", "/_sim/records", NULL), *out = NULL;
	size_t n = json_object_array_length(all);
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(all, i);
		if (str_eq(jstr(r, "short_description"), title))
			out = json_object_get(r);
	}
	if (n_out)
		*n_out = n;
	json_object_put(all);
	return out;
}

static size_t sim_count(void)
{
	size_t n;
	struct json_object *r = sim_record("", &n);
	if (r)
		json_object_put(r);
	return n;
}

/* ---- the engine against PostgreSQL and the simulator ---- */

struct env {
	struct pgtest_db pg;
	uv_loop_t loop;
	struct http_client *http;
	struct db *db;
	struct connector *conn;
	struct rec_engine *e;
	struct config *cfg;
	bool done, stopped, closed, http_closed;
	int errors;
};

static const char SEED[] =
	"INSERT INTO team (name, connector, target) VALUES ('itsm', 'snow', '" GROUP "');"
	"INSERT INTO person (handle, servicenow_sys_id) VALUES ('alice', '" ALICE "'),"
	"  ('bob', '" BOB "');"
	"INSERT INTO postmortem (reference, title) VALUES ('PM2026-011', 'payment outage');"
	"INSERT INTO action_item (postmortem_id, title, description, type, priority, owner, team_id,"
	"  state, due_date)"
	" VALUES (1, 'Defragment etcd weekly', 'Use **etcdctl defrag** on each member.', 'prevent',"
	"         'P1', 'alice', 1, 'open', '2027-01-15'),"
	"        (1, 'Alert on queue depth', NULL, 'detect', NULL, 'bob', 1, 'open', NULL);";

static void run_until(struct env *v, const bool *flag)
{
	uint64_t start = uv_hrtime();
	while (!*flag) {
		uv_run(&v->loop, UV_RUN_ONCE);
		if (uv_hrtime() - start > 30ull * 1000000000ull)
			fail_msg("timed out waiting for the loop");
	}
}

static void on_event(struct db *db, enum db_event ev, const char *ch, const char *pl, void *arg)
{
	UNUSED(db); UNUSED(ev); UNUSED(ch); UNUSED(pl); UNUSED(arg);
}

static void on_done(struct rec_engine *e, int errors, void *arg)
{
	struct env *v = arg;
	UNUSED(e);
	v->errors = errors;
	v->done = true;
}

static int sync_once(struct env *v)
{
	v->done = false;
	assert_int_equal(rec_sync(v->e, NULL, on_done, v), 0);
	run_until(v, &v->done);
	return v->errors;
}

static struct config *load_conf(const char *extra)
{
	char path[] = "/tmp/closeloop-snow-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "database = { dsn = \"dbname=x\"; };\n"
	        "connectors = ( {\n"
	        "  name = \"snow\";\n  type = \"servicenow\";\n  base_url = \"%s\";\n"
	        "  token_env = \"CLOSELOOP_TEST_SN_CREDENTIALS\";\n"
	        "  targets = [ \"" GROUP "\" ];\n  max_attempts = 3;\n"
	        "  page_size = 2;\n  write_spacing_ms = 0;\n%s} );\n", sim_base, extra);
	fclose(f);
	char err[1024] = "";
	struct config *c = NULL;
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	unlink(path);
	return c;
}

static bool env_up_with(struct env *v, const char *secret, const char *extra,
                        int64_t timeout_ms)
{
	memset(v, 0, sizeof(*v));
	if (!pgtest_create(&v->pg, "servicenow", true))
		return false;
	PGresult *seed = PQexec(v->pg.conn, SEED);
	if (PQresultStatus(seed) != PGRES_COMMAND_OK)
		fail_msg("seed: %s", PQerrorMessage(v->pg.conn));
	PQclear(seed);
	setenv("CLOSELOOP_TEST_SN_CREDENTIALS", secret, 1);
	v->cfg = load_conf(extra);
	v->cfg->notify_debounce_ms = 5;
	assert_int_equal(uv_loop_init(&v->loop), 0);
	struct http_client_options ho = { .default_timeout_ms = 10000 };
	assert_int_equal(http_client_new(&v->http, &v->loop, &ho), 0);
	assert_int_equal(db_open(&v->db, &v->loop, v->pg.dsn, on_event, v), 0);
	const struct cfg_connector *cc = &v->cfg->connectors[0];
	struct conn_options o = { .name = cc->name, .base_url = cc->base_url, .token = cc->token,
	                          .type_opts = cc->type_opts, .max_attempts = 3,
	                          .backoff_base_ms = 20, .backoff_max_ms = 2000,
	                          .request_timeout_ms = timeout_ms, .max_inflight = 4 };
	assert_int_equal(connector_new(&v->conn, cc->type, &v->loop, v->http, &o), 0);
	struct rec_options ro = { .dry_run = false };
	assert_int_equal(rec_engine_new(&v->e, &v->loop, v->db, &v->conn, 1, v->cfg, &ro), 0);
	return true;
}

static bool env_up(struct env *v)
{
	return env_up_with(v, "closeloop:s3cret:pw", "", 5000);
}

static void on_stopped(void *arg) { ((struct env *)arg)->stopped = true; }
static void on_closed(void *arg) { ((struct env *)arg)->closed = true; }
static void on_http_closed(void *arg) { ((struct env *)arg)->http_closed = true; }
static void close_any(uv_handle_t *h, void *arg)
{
	UNUSED(arg);
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void env_down(struct env *v)
{
	rec_engine_stop(v->e, 1000, on_stopped, v);
	run_until(v, &v->stopped);
	db_close(v->db, on_closed, v);
	run_until(v, &v->closed);
	connector_destroy(v->conn);
	http_client_close(v->http, on_http_closed, v);
	run_until(v, &v->http_closed);
	uv_walk(&v->loop, close_any, NULL);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&v->loop), 0);
	cfg_free(v->cfg);
	pgtest_drop(&v->pg);
}

static void assert_q(struct env *v, const char *sql, const char *want)
{
	pgtest_expect(v->pg.conn, sql, want);
}

struct found {
	bool done;
	enum conn_status status;
	char *id;
};

static void on_found(struct connector *c, const struct conn_result *res,
                     const struct conn_remote *r, void *arg)
{
	struct found *fd = arg;
	UNUSED(c);
	fd->status = res->status;
	fd->id = r ? xstrdup(r->remote_id) : NULL;
	fd->done = true;
}

struct listing {
	bool done, short_page;
	int pages;
	enum conn_status status;
	struct buf b;
	const char *titles;  /* "|title|title|..." */
};

static void on_page(struct connector *c, const struct conn_result *res,
                    const struct conn_page *page, void *arg)
{
	struct listing *ls = arg;
	UNUSED(c);
	ls->pages++;
	ls->status = res->status;
	if (!page->last && page->n < 2)
		ls->short_page = true;
	if (ls->b.len == 0)
		assert_int_equal(buf_append(&ls->b, "|", 1), 0);
	for (size_t i = 0; i < page->n; i++)
		assert_int_equal(buf_appendf(&ls->b, "%s|", page->items[i].fields.v[ITEM_F_TITLE]), 0);
	ls->titles = ls->b.data;
	ls->done = page->last;
}

static long sim_requests(const char *kind);

/* A listing's outcome and the validator its last page carried. */
struct quiet {
	bool done;
	enum conn_status status;
	size_t n;
	char *etag;
};

static void on_quiet_page(struct connector *c, const struct conn_result *res,
                          const struct conn_page *page, void *arg)
{
	struct quiet *q = arg;
	UNUSED(c);
	q->status = res->status;
	q->n += page->n;
	if (page->last) {
		free(q->etag);
		q->etag = page->etag ? xstrdup(page->etag) : NULL;
		q->done = true;
	}
}

/* List GROUP from since_ms with etag; q->etag is the new validator. */
static void list_quiet(struct env *v, int64_t since_ms, const char *etag, struct quiet *q)
{
	char *prev = etag ? xstrdup(etag) : NULL;
	free(q->etag);
	memset(q, 0, sizeof(*q));
	assert_int_equal(v->conn->ops->list_changed(v->conn, GROUP, since_ms, prev, on_quiet_page, q), 0);
	run_until(v, &q->done);
	free(prev);
}

/* servicenow.h "A quiet listing": the validator proves nothing changed
 * only for the same newest record, the same sys_updated_on, and a query
 * at least the settle margin after it. */
static void test_quiet_validator(void **state)
{
	UNUSED(state);
	const char *id = "6816f79cc0a8016401c5a33be04be441";
	assert_true(sn_validator_holds("sn1:6816f79cc0a8016401c5a33be04be441:1000:2000", id, 1000, 1000));
	assert_false(sn_validator_holds(NULL, id, 1000, 1000));
	assert_false(sn_validator_holds("sn1:6816f79cc0a8016401c5a33be04be441:1000:1999", id, 1000, 1000));
	assert_false(sn_validator_holds("sn1:6816f79cc0a8016401c5a33be04be441:1000:2000", id, 2000, 1000));
	assert_false(sn_validator_holds("sn1:5137153cc611227c000bbd1bd8cd2005:1000:2000", id, 1000, 1000));
	assert_false(sn_validator_holds("sn1:6816f79cc0a8016401c5a33be04be441:1000:2000x", id, 1000, 1000));
	assert_false(sn_validator_holds("jira1:6816f79cc0a8016401c5a33be04be441:1000:2000", id, 1000, 1000));
	assert_true(sn_validator_holds("sn1:-:0:5000", "-", 0, 1000));
	/* taken = the Date header less the request's time */
	struct http_header h = { .name = "Date", .value = "Tue, 02 Dec 2025 10:00:05 GMT" };
	struct http_response resp = { .status = 200, .headers = &h, .n_headers = 1, .elapsed_ms = 250 };
	char *val = sn_validator_of(&resp, id, 1764669600000);
	assert_string_equal(val, "sn1:6816f79cc0a8016401c5a33be04be441:1764669600000:1764669604750");
	free(val);
	resp.n_headers = 0;
	assert_null(sn_validator_of(&resp, id, 1764669600000));
}

static void test_problems_both_ways(void **state)
{
	UNUSED(state);
	struct env v;
	if (sim_up() < 0)
		skip();
	admin_do("POST", "/_sim/users", "{\"sys_id\": \"" ALICE "\"}");
	if (!env_up(&v)) {
		sim_down();
		return;
	}
	/* created once, with the mapped fields */
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(sim_count(), 2);
	struct json_object *r = sim_record("Defragment etcd weekly", NULL);
	assert_non_null(r);
	assert_string_equal(jstr(r, "assignment_group"), GROUP);
	assert_string_equal(jstr(r, "assigned_to"), ALICE);
	assert_string_equal(jstr(r, "description"), "Use etcdctl defrag on each member.");
	assert_string_equal(jstr(r, "impact"), "1");
	assert_string_equal(jstr(r, "urgency"), "2");
	assert_string_equal(jstr(r, "due_date"), "2027-01-15 00:00:00");
	assert_string_equal(jstr(r, "state"), "101");
	assert_string_equal(jstr(r, "correlation_display"), "closeloop");
	assert_true(strlen(jstr(r, "correlation_id")) > 8);
	char *id1 = xstrdup(jstr(r, "sys_id"));
	json_object_put(r);
	assert_q(&v, "SELECT count(*) FROM external_link WHERE state = 'linked'", "2");
	uint64_t creates = v.conn->n_create;
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.conn->n_create, creates);
	assert_int_equal(sim_count(), 2);
	/* bob has no sys_user on the instance: his problem was created
	 * unassigned (never blocked), and the create itself holds the owner on
	 * the link as a refused field with the instance's reason, in the
	 * item's history too; the item's next push keeps it */
	r = sim_record("Alert on queue depth", NULL);
	assert_string_equal(jstr(r, "assigned_to"), "");
	json_object_put(r);
	assert_q(&v, "SELECT refused->'owner'->>'value' FROM external_link WHERE action_item_id = 2",
	         "bob");
	assert_q(&v, "SELECT count(*) FROM item_event WHERE action_item_id = 2 AND field = 'refused'"
	         " AND new_value LIKE 'owner: %not a user of the instance%'", "1");
	pgtest_exec(v.pg.conn, "UPDATE action_item SET priority = 'P2' WHERE id = 2", 0, NULL);
	assert_int_equal(sync_once(&v), 0);
	r = sim_record("Alert on queue depth", NULL);
	assert_string_equal(jstr(r, "impact"), "2");
	assert_string_equal(jstr(r, "assigned_to"), "");
	json_object_put(r);
	assert_q(&v, "SELECT refused->'owner'->>'value' FROM external_link WHERE action_item_id = 2",
	         "bob");
	assert_q(&v, "SELECT refused->'owner'->>'reason' LIKE '%not a user of the instance%'"
	         " FROM external_link WHERE action_item_id = 2", "t");
	assert_q(&v, "SELECT coalesce(refused ? 'owner', false) FROM external_link"
	         " WHERE action_item_id = 1", "f");
	/* the plain-text description came back without being a change */
	assert_q(&v, "SELECT description FROM action_item WHERE id = 1",
	         "Use **etcdctl defrag** on each member.");

	/* an edit in ServiceNow is pulled */
	char *path = xasprintf("/_sim/records/%s", id1);
	admin_do("PATCH", path, "{\"short_description\": \"Defragment etcd every Monday\"}");
	free(path);
	assert_int_equal(sync_once(&v), 0);
	assert_q(&v, "SELECT title FROM action_item WHERE id = 1", "Defragment etcd every Monday");

	/* an SQL edit is pushed */
	pgtest_exec(v.pg.conn, "UPDATE action_item SET due_date = '2027-02-01' WHERE id = 1", 0, NULL);
	assert_int_equal(sync_once(&v), 0);
	r = sim_record("Defragment etcd every Monday", NULL);
	assert_string_equal(jstr(r, "due_date"), "2027-02-01 00:00:00");
	json_object_put(r);

	/* a newer release refuses the state change: recorded on the link, the
	 * title of the same edit applied */
	admin_do("POST", "/_sim/config", "{\"refuse_state\": true}");
	pgtest_exec(v.pg.conn, "UPDATE action_item SET state = 'done', title = 'Defragment etcd"
	            " on Mondays' WHERE id = 1", 0, NULL);
	assert_int_equal(sync_once(&v), 0);
	r = sim_record("Defragment etcd on Mondays", NULL);
	assert_non_null(r);
	assert_string_equal(jstr(r, "state"), "101");
	json_object_put(r);
	assert_q(&v, "SELECT state FROM action_item WHERE id = 1", "done");
	assert_q(&v, "SELECT refused->'state'->>'value' FROM external_link WHERE action_item_id = 1",
	         "done");
	assert_q(&v, "SELECT refused->'state'->>'reason' LIKE '%refused the state change%not allowed%'"
	         " FROM external_link WHERE action_item_id = 1", "t");
	admin_do("POST", "/_sim/config", "{\"refuse_state\": false}");

	/* a create whose answer is lost: found again by correlation_id */
	pgtest_exec(v.pg.conn, "INSERT INTO action_item (postmortem_id, title, type, team_id, state)"
	            " VALUES (1, 'Rotate the webhook certificate', 'prevent', 1, 'open')", 0, NULL);
	admin_do("POST", "/_sim/faults", "{\"method\": \"POST\", \"status\": 504, \"apply\": true}");
	assert_int_equal(sync_once(&v), 1);
	assert_int_equal(sim_count(), 3);
	assert_q(&v, "SELECT state FROM external_link WHERE action_item_id = 3", "creating");
	pgtest_exec(v.pg.conn, "UPDATE external_link SET intent_at = now() - interval '1 hour'"
	            " WHERE action_item_id = 3", 0, NULL);
	creates = v.conn->n_create;
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.conn->n_create, creates);
	assert_int_equal(sim_count(), 3);
	assert_q(&v, "SELECT state FROM external_link WHERE action_item_id = 3", "linked");
	/* the listing adopted it; the token query finds it directly too, and
	 * a token that would change the query is refused before it is sent */
	char *token = pgtest_value(v.pg.conn, "SELECT create_token FROM external_link"
	                           " WHERE action_item_id = 3", 0, NULL);
	char *remote = pgtest_value(v.pg.conn, "SELECT remote_id FROM external_link"
	                            " WHERE action_item_id = 3", 0, NULL);
	struct found fd = { 0 };
	assert_int_equal(v.conn->ops->find_by_token(v.conn, GROUP, token, on_found, &fd), 0);
	run_until(&v, &fd.done);
	assert_int_equal(fd.status, CONN_OK);
	assert_string_equal(fd.id, remote);
	free(fd.id);
	memset(&fd, 0, sizeof(fd));
	assert_int_equal(v.conn->ops->find_by_token(v.conn, GROUP, "nosuchtoken", on_found, &fd), 0);
	run_until(&v, &fd.done);
	assert_int_equal(fd.status, CONN_GONE);
	assert_int_equal(v.conn->ops->find_by_token(v.conn, GROUP, "x^ORDERBYnumber", on_found, &fd),
	                 -EINVAL);
	free(token);
	free(remote);
	/* the owner the instance does not know stays in the ledger */
	assert_q(&v, "SELECT owner FROM action_item WHERE id = 2", "bob");

	/* an ACL hides a record after the limit: the short first page does
	 * not end the listing */
	admin_do("POST", "/_sim/config", "{\"hidden_prefix\": \"Alert\"}");
	struct listing ls = { 0 };
	assert_int_equal(v.conn->ops->list_changed(v.conn, GROUP, 0, NULL, on_page, &ls), 0);
	run_until(&v, &ls.done);
	assert_int_equal(ls.status, CONN_OK);
	assert_true(ls.pages >= 2);
	assert_true(ls.short_page);
	assert_true(strstr(ls.titles, "|Defragment etcd on Mondays|") != NULL);
	assert_true(strstr(ls.titles, "|Rotate the webhook certificate|") != NULL);
	assert_null(strstr(ls.titles, "Alert"));
	buf_free(&ls.b);
	admin_do("POST", "/_sim/config", "{\"hidden_prefix\": null}");

	/* a business rule refuses one record's write (403): that item's error,
	 * the other item still syncs, the connector goes on */
	admin_do("POST", "/_sim/faults", "{\"method\": \"PATCH\", \"status\": 403, \"detail\":"
	         " \"Data Policy Exception: Close notes are mandatory\"}");
	pgtest_exec(v.pg.conn, "UPDATE action_item SET due_date = '2027-05-01' WHERE id IN (1, 3)",
	            0, NULL);
	assert_int_equal(sync_once(&v), 1);
	assert_q(&v, "SELECT count(*) FROM external_link WHERE last_error LIKE '%Close notes are"
	         " mandatory%business rule%'", "1");
	assert_q(&v, "SELECT count(*) FROM external_link WHERE state = 'linked'", "3");
	assert_int_equal(sync_once(&v), 0);  /* pushed again: no fault now */
	assert_q(&v, "SELECT count(*) FROM external_link WHERE last_error IS NOT NULL", "0");

	/* a problem deleted in ServiceNow (404): the link is broken, flagged */
	r = sim_record("Rotate the webhook certificate", NULL);
	char *del = xasprintf("/_sim/records/%s", jstr(r, "sys_id"));
	json_object_put(r);
	admin_do("DELETE", del, NULL);
	free(del);
	pgtest_exec(v.pg.conn, "UPDATE action_item SET title = 'Rotate the webhook cert' WHERE id = 3",
	            0, NULL);
	sync_once(&v);
	assert_q(&v, "SELECT state FROM external_link WHERE action_item_id = 3", "broken");

	/* 429 with Retry-After is waited out */
	admin_do("POST", "/_sim/faults", "{\"method\": \"GET\", \"status\": 429, \"retry_after\": 1}");
	uint64_t limited = v.conn->n_rate_limited;
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(v.conn->n_rate_limited, limited + 1);

	/* a quiet listing (servicenow.h): a listing carries the window's
	 * newest record in its last page's validator; two
	 * seconds of the instance's clock after that record's write, a window
	 * that fits one page (from the newest record on, as a cursor less its
	 * overlap) answers not modified with its one GET; a record edited
	 * since lists the window again */
	struct quiet q = { 0 };
	long long newest = 0, taken = 0;
	sleep(2);
	list_quiet(&v, 0, NULL, &q);
	assert_int_equal(q.status, CONN_OK);
	assert_true(q.n >= 2);
	assert_non_null(q.etag);
	assert_int_equal(sscanf(q.etag, "sn1:%*32[0-9a-f]:%lld:%lld", &newest, &taken), 2);
	assert_true(taken - newest >= 1000);
	long gets = sim_requests("GET");
	list_quiet(&v, newest, q.etag, &q);
	assert_int_equal(q.status, CONN_NOT_MODIFIED);
	assert_int_equal(q.n, 0);
	assert_int_equal(sim_requests("GET"), gets + 1);
	r = sim_record("Defragment etcd on Mondays", NULL);
	char *edited = xasprintf("/_sim/records/%s", jstr(r, "sys_id"));
	json_object_put(r);
	admin_do("PATCH", edited, "{\"description\": \"Edited in the ServiceNow UI.\"}");
	free(edited);
	list_quiet(&v, newest, q.etag, &q);
	assert_int_equal(q.status, CONN_OK);
	assert_true(q.n >= 1);
	free(q.etag);
	free(id1);
	env_down(&v);
	sim_down();
}

struct commented {
	bool done;
	enum conn_status status;
	char *id, *url, *error;
};

static void on_commented(struct connector *c, const struct conn_result *res,
                         const struct conn_comment *cm, void *arg)
{
	struct commented *k = arg;
	UNUSED(c);
	k->status = res->status;
	k->id = cm ? xstrdup(cm->id) : NULL;
	k->url = cm ? xstrdup(cm->url) : NULL;
	k->error = xstrdup(res->error);
	k->done = true;
}

static void commented_free(struct commented *k)
{
	free(k->id);
	free(k->url);
	free(k->error);
	memset(k, 0, sizeof(*k));
}

static long sim_requests(const char *kind)
{
	struct json_object *o = admin("GET", "/_sim/requests", NULL), *v;
	long n = json_object_object_get_ex(o, kind, &v) ? (long)json_object_get_int64(v) : -1;
	json_object_put(o);
	return n;
}

/* Journal entries holding text (the simulator's sys_journal_field). */
static int journal_count(const char *text)
{
	struct json_object *all = admin("GET", "/_sim/journal", NULL);
	int n = 0;
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		struct json_object *e = json_object_array_get_idx(all, i);
		if (strstr(jstr(e, "value"), text) && str_eq(jstr(e, "element"), "work_notes"))
			n++;
	}
	json_object_put(all);
	return n;
}

/* OAuth (refresh token grant; the token refreshed after a 401 once, a
 * refused grant a clear error), then work notes: one written, found again
 * by its marker, a lost answer found instead of written twice, and a
 * create that times out recovered by its correlation_id. */
/* Several SQL commands in one string (the simple query protocol). */
static void exec_all(struct env *v, const char *sql)
{
	PGresult *res = PQexec(v->pg.conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(v->pg.conn));
	PQclear(res);
}

/* The parent of each created problem_task (its "problem" reference), or
 * NULL when the item has no record; *number its PTASK number. */
static char *task_parent(const char *title, char **number)
{
	struct json_object *r = sim_record(title, NULL);
	char *out = r ? xstrdup(jstr(r, "problem")) : NULL;
	if (number)
		*number = r ? xstrdup(jstr(r, "number")) : NULL;
	if (r)
		json_object_put(r);
	return out;
}

/* table = "problem_task": the items of a postmortem whose problem is in
 * ServiceNow become problem tasks under it (problem = the problem's
 * sys_id, read by its number); an item whose postmortem names no problem,
 * or one the instance does not have, is not created and its link says
 * why; once the postmortem names a problem that exists, it is created
 * under it, once. */
static void test_problem_tasks_under_the_incidents_problem(void **state)
{
	UNUSED(state);
	struct env v;
	if (sim_up() < 0)
		skip();
	if (!env_up_with(&v, "closeloop:s3cret:pw", "  table = \"problem_task\";\n", 5000)) {
		sim_down();
		return;
	}
	struct json_object *p1 = admin("POST", "/_sim/records/problem",
	                               "{\"short_description\": \"Payment outage\"}");
	char *p1_id = xstrdup(jstr(p1, "sys_id")), *p1_no = xstrdup(jstr(p1, "number"));
	json_object_put(p1);
	char *sql = xasprintf("UPDATE postmortem SET problem_ref = '%s' WHERE id = 1;"
	                      "INSERT INTO postmortem (reference, title) VALUES ('PM2026-012', 'dns');"
	                      "INSERT INTO action_item (postmortem_id, title, owner, team_id, state)"
	                      " VALUES (2, 'Lower the resolver TTL', 'alice', 1, 'open')", p1_no);
	exec_all(&v, sql);
	free(sql);
	assert_true(sync_once(&v) > 0); /* the item of PM2026-012 failed */
	char *number = NULL, *parent = task_parent("Defragment etcd weekly", &number);
	assert_string_equal(parent, p1_id);
	assert_true(strncmp(number, "PTASK", 5) == 0);
	free(parent);
	free(number);
	parent = task_parent("Alert on queue depth", NULL);
	assert_string_equal(parent, p1_id);
	free(parent);
	assert_null(task_parent("Lower the resolver TTL", NULL));
	assert_int_equal(sim_count(), 3); /* the problem and its two tasks */
	assert_q(&v, "SELECT last_error LIKE '%postmortem PM2026-012 names no ServiceNow problem%'"
	         " FROM external_link WHERE action_item_id = 3", "t");

	/* a problem the instance does not have: not created, the link says so
	 * (intent_at moved back: the create may be sent again at once) */
	exec_all(&v, "UPDATE postmortem SET problem_ref = 'PRB0099999' WHERE id = 2;"
	         "UPDATE external_link SET intent_at = now() - interval '1 hour'");
	assert_true(sync_once(&v) > 0);
	assert_null(task_parent("Lower the resolver TTL", NULL));
	assert_q(&v, "SELECT last_error LIKE '%problem PRB0099999 of postmortem PM2026-012 is not in "
	         "ServiceNow%' FROM external_link WHERE action_item_id = 3", "t");

	/* the problem made in ServiceNow and named (by sys_id): created under it, once */
	struct json_object *p2 = admin("POST", "/_sim/records/problem",
	                               "{\"short_description\": \"DNS resolution failures\"}");
	sql = xasprintf("UPDATE postmortem SET problem_ref = '%s' WHERE id = 2;"
	                "UPDATE external_link SET intent_at = now() - interval '1 hour'",
	                jstr(p2, "sys_id"));
	exec_all(&v, sql);
	free(sql);
	assert_int_equal(sync_once(&v), 0);
	parent = task_parent("Lower the resolver TTL", NULL);
	assert_string_equal(parent, jstr(p2, "sys_id"));
	free(parent);
	json_object_put(p2);
	assert_int_equal(sim_count(), 5);
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(sim_count(), 5);
	assert_q(&v, "SELECT count(*) FROM external_link WHERE state = 'linked'", "3");
	/* a value of another form never reaches the ledger */
	PGresult *bad = PQexec(v.pg.conn, "UPDATE postmortem SET problem_ref = 'PRB 1' WHERE id = 2");
	assert_int_equal(PQresultStatus(bad), PGRES_FATAL_ERROR);
	PQclear(bad);
	free(p1_id);
	free(p1_no);
	env_down(&v);
	sim_down();
}

/* The connector on auth = oauth with a refresh token the simulator
 * honours; false (the simulator stopped) when it could not start. */
static bool oauth_env_up(struct env *v)
{
	admin_do("POST", "/_sim/oauth", "{\"client_id\": \"closeloop-cl\", \"client_secret\":"
	         " \"c&s3cret\", \"refresh_token\": \"rt-1\"}");
	if (!env_up_with(v, "client_id=closeloop-cl&client_secret=c%26s3cret&refresh_token=rt-1",
	                 "  auth = \"oauth\";\n", 1500)) {
		sim_down();
		return false;
	}
	return true;
}

static void test_oauth_and_work_notes(void **state)
{
	UNUSED(state);
	struct env v;
	if (sim_up() < 0)
		skip();
	if (!oauth_env_up(&v))
		return;
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(sim_count(), 2);
	assert_int_equal(sim_requests("TOKEN"), 1);   /* cached for every request */
	/* an access token the instance no longer honours: one refresh, no error */
	admin_do("POST", "/_sim/expire_tokens", "{}");
	pgtest_exec(v.pg.conn, "UPDATE action_item SET title = 'Defragment etcd daily' WHERE id = 1",
	            0, NULL);
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(sim_requests("TOKEN"), 2);
	struct json_object *r = sim_record("Defragment etcd daily", NULL);
	assert_non_null(r);
	struct conn_remote ref;
	conn_remote_init(&ref);
	ref.remote_id = xstrdup(jstr(r, "sys_id"));
	ref.key = xstrdup(jstr(r, "number"));
	json_object_put(r);

	/* a work note with the marker; found again by it */
	struct commented k = { 0 };
	const char *body = "**closeloop escalation (overdue-30)** cc @[" ALICE ":alice]\n\n"
	                   "Please decide.\n<!-- closeloop:escalation m-41 -->";
	assert_int_equal(v.conn->ops->comment(v.conn, GROUP, &ref, body, on_commented, &k), 0);
	run_until(&v, &k.done);
	assert_int_equal(k.status, CONN_OK);
	assert_non_null(strstr(k.url, "problem.do?sys_id="));
	commented_free(&k);
	assert_int_equal(journal_count("[closeloop:escalation m-41]"), 1);
	assert_int_equal(journal_count("@[" ALICE ":alice]"), 1);
	assert_int_equal(v.conn->ops->find_comment(v.conn, GROUP, &ref, "m-41", on_commented, &k), 0);
	run_until(&v, &k.done);
	assert_int_equal(k.status, CONN_OK);
	assert_non_null(k.id);
	assert_int_equal(strlen(k.id), 32);
	commented_free(&k);
	assert_int_equal(v.conn->ops->find_comment(v.conn, GROUP, &ref, "m-99", on_commented, &k), 0);
	run_until(&v, &k.done);
	assert_int_equal(k.status, CONN_OK);
	assert_null(k.id);
	commented_free(&k);
	assert_int_equal(v.conn->ops->find_comment(v.conn, GROUP, &ref, "m^ORDERBYvalue",
	                                           on_commented, &k), -EINVAL);
	/* the note is written but its answer lost (504): unknown, never resent
	 * by the connector, and its marker finds it */
	admin_do("POST", "/_sim/faults", "{\"method\": \"PATCH\", \"status\": 504, \"apply\": true}");
	body = "Second rung.\n<!-- closeloop:escalation m-42 -->";
	assert_int_equal(v.conn->ops->comment(v.conn, GROUP, &ref, body, on_commented, &k), 0);
	run_until(&v, &k.done);
	assert_int_equal(k.status, CONN_UNKNOWN);
	commented_free(&k);
	assert_int_equal(journal_count("[closeloop:escalation m-42]"), 1);
	assert_int_equal(v.conn->ops->find_comment(v.conn, GROUP, &ref, "m-42", on_commented, &k), 0);
	run_until(&v, &k.done);
	assert_int_equal(k.status, CONN_OK);
	assert_non_null(k.id);
	commented_free(&k);

	/* a create that times out after the instance made the record: the
	 * outcome is unknown, and the correlation_id finds it (no duplicate) */
	pgtest_exec(v.pg.conn, "INSERT INTO action_item (postmortem_id, title, type, team_id, state)"
	            " VALUES (1, 'Page on etcd fsync latency', 'detect', 1, 'open')", 0, NULL);
	admin_do("POST", "/_sim/faults", "{\"method\": \"POST\", \"status\": 504, \"apply\": true,"
	         " \"hang\": 3}");
	assert_int_equal(sync_once(&v), 1);
	assert_int_equal(sim_count(), 3);
	pgtest_exec(v.pg.conn, "UPDATE external_link SET intent_at = now() - interval '1 hour'"
	            " WHERE action_item_id = 3", 0, NULL);
	usleep(2500 * 1000); /* the simulator's late answer goes nowhere */
	assert_int_equal(sync_once(&v), 0);
	assert_int_equal(sim_count(), 3);
	assert_q(&v, "SELECT state FROM external_link WHERE action_item_id = 3", "linked");

	/* the instance refuses the refresh token: a clear error, nothing sent */
	admin_do("POST", "/_sim/oauth", "{\"client_id\": \"closeloop-cl\", \"client_secret\":"
	         " \"rotated\"}");
	admin_do("POST", "/_sim/expire_tokens", "{}");
	memset(&k, 0, sizeof(k));
	assert_int_equal(v.conn->ops->comment(v.conn, GROUP, &ref, "x <!-- m-43 -->", on_commented,
	                                      &k), 0);
	run_until(&v, &k.done);
	assert_int_equal(k.status, CONN_AUTH);
	assert_non_null(strstr(k.error, "oauth_token.do"));
	assert_null(strstr(k.error, "s3cret"));
	commented_free(&k);
	assert_int_equal(journal_count("m-43"), 0);
	conn_remote_free(&ref);
	env_down(&v);
	sim_down();
}

/* expires_in as RFC 6749 section 5.1 gives it (a number of seconds), as
 * some servers send it (a string of digits), and what is refused */
static void test_token_life(void **state)
{
	UNUSED(state);
	static const struct { const char *json; bool ok; int64_t life; } cases[] = {
		{ "{\"expires_in\": 1799}", true, 1799 },
		{ "{\"expires_in\": \"3600\"}", true, 3600 },
		{ "{\"expires_in\": 1}", true, 1 },
		{ "{\"expires_in\": 31622400}", true, SN_TOKEN_LIFE_MAX_S },
		{ "{\"expires_in\": 31622401}", true, SN_TOKEN_LIFE_MAX_S },
		{ "{\"expires_in\": 9223372036854775807}", true, SN_TOKEN_LIFE_MAX_S },
		{ "{\"expires_in\": \"99999999999999999999999\"}", true, SN_TOKEN_LIFE_MAX_S },
		{ "{\"expires_in\": 0}", false, 0 },
		{ "{\"expires_in\": -5}", false, 0 },
		{ "{\"expires_in\": \"\"}", false, 0 },
		{ "{\"expires_in\": \"12a\"}", false, 0 },
		{ "{\"expires_in\": \"-5\"}", false, 0 },
		{ "{\"expires_in\": 1.5}", false, 0 },
		{ "{\"expires_in\": true}", false, 0 },
		{ "{\"expires_in\": null}", false, 0 },
		{ "{}", false, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct json_object *o = json_tokener_parse(cases[i].json);
		int64_t life = -1;
		assert_non_null(o);
		bool ok = sn_token_life(o, &life);
		if (ok != cases[i].ok || (ok && life != cases[i].life))
			fail_msg("%s: %s, %lld", cases[i].json, ok ? "taken" : "refused", (long long)life);
		json_object_put(o);
	}
}

/* A token endpoint answering an absurd lifetime (the largest JSON integer
 * json-c reads): the token is kept and used, not fetched again for every
 * request.  Before, the expiry in milliseconds overflowed to 200 ms in the
 * past (a signed overflow, UBSan's report), so each request took a new
 * token. */
static void test_oauth_absurd_token_life(void **state)
{
	UNUSED(state);
	struct env v;
	if (sim_up() < 0)
		skip();
	admin_do("POST", "/_sim/config", "{\"token_lifetime\": 9223372036854775807}");
	if (!oauth_env_up(&v))
		return;
	assert_int_equal(sync_once(&v), 0);
	pgtest_exec(v.pg.conn, "UPDATE action_item SET title = 'Defragment etcd daily' WHERE id = 1",
	            0, NULL);
	assert_int_equal(sync_once(&v), 0);
	struct json_object *r = sim_record("Defragment etcd daily", NULL);
	assert_non_null(r);
	json_object_put(r);
	assert_int_equal(sim_requests("TOKEN"), 1);
	env_down(&v);
	sim_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_and_options),
		cmocka_unit_test(test_plain_text_is_lossy),
		cmocka_unit_test(test_missing_priority_round_trip_is_not_a_change),
		cmocka_unit_test(test_journal_text_and_mention),
		cmocka_unit_test(test_state_models),
		cmocka_unit_test(test_quiet_validator),
		cmocka_unit_test(test_problems_both_ways),
		cmocka_unit_test(test_problem_tasks_under_the_incidents_problem),
		cmocka_unit_test(test_oauth_and_work_notes),
		cmocka_unit_test(test_token_life),
		cmocka_unit_test(test_oauth_absurd_token_life),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	log_clear_secrets();
	return rc;
}
