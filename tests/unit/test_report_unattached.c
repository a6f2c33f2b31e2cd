/* test_report_unattached.c — the quarterly report shows each team's
 * "unattached" postmortem (discovered action items whose ticket names no
 * postmortem: sql/033, sql/036, daemon/report/report_unattached.c) apart,
 * in every format, against a real PostgreSQL (CLOSELOOP_TEST_DSN), on the
 * ledger of tests/fixtures/report/ledger.sql plus the discovered tickets
 * of tests/fixtures/report/unattached.sql.
 *
 * Expected for 2026Q3, by hand: payments / checkout / unattached:checkout
 * holds #901 (opened 08-03, open, due 09-01: overdue) and #902 (opened
 * 07-05, closed 09-10): 2 items, 2 opened, 1 closed, 1 open, 1 overdue;
 * search / indexing / unattached:indexing holds #905 (open, undated): 1, 1,
 * 0, 1, 0; #903 names PM-3 and is PM-3's; #904 was adopted in 2026Q4.
 * The figures count them too: checkout opened 3 + 2 = 5.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "log.h"
#include "report.h"
#include "pgtest.h"

static struct report *load(PGconn *c, const char *platform, const char *team)
{
	char err[512];
	struct report *r = NULL;
	struct report_query q = { .quarter = "2026Q3", .platform = platform, .team = team };
	if (report_load(c, &q, &r, err, sizeof(err)) < 0)
		fail_msg("report_load: %s", err);
	return r;
}

static char *render(const struct report *r, enum report_format fmt)
{
	char *data = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&data, &len);
	assert_non_null(f);
	assert_int_equal(report_write(r, fmt, f), 0);
	assert_int_equal(fclose(f), 0);
	return data;
}

static void expect_bucket(const struct report_unattached *u, const char *platform,
                          const char *team, const long want[5])
{
	assert_string_equal(u->platform, platform);
	assert_string_equal(u->team, team);
	char ref[64];
	snprintf(ref, sizeof(ref), "unattached:%s", team);
	assert_string_equal(u->reference, ref);
	long got[5] = { u->items, u->opened, u->closed, u->open_end, u->overdue_end };
	for (int i = 0; i < 5; i++)
		assert_int_equal(got[i], want[i]);
}

static void test_buckets_and_figures(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportunatt", true);
	pgtest_exec_file(t.conn, FIXTURES "/report/ledger.sql");
	pgtest_exec_file(t.conn, FIXTURES "/report/unattached.sql");
	pgtest_expect(t.conn, "SELECT p.reference FROM action_item i JOIN postmortem p"
	              " ON p.id = i.postmortem_id WHERE i.title LIKE 'Follow-up of PM-3%'", "PM-3");
	struct report *r = load(t.conn, NULL, NULL);
	assert_int_equal(r->n_unattached, 2);
	expect_bucket(&r->unattached[0], "payments", "checkout", (const long[5]){ 2, 2, 1, 1, 1 });
	expect_bucket(&r->unattached[1], "search", "indexing", (const long[5]){ 1, 1, 0, 1, 0 });
	const struct report_row *co = report_find(&r->trend[REPORT_TREND - 1], "team", "payments",
	                                          "checkout");
	assert_non_null(co);
	assert_string_equal(co->v[report_metric_index("opened")], "5");
	report_free(r);

	r = load(t.conn, NULL, "checkout");
	assert_int_equal(r->n_unattached, 1);
	report_free(r);
	r = load(t.conn, "payments", "ledger-team");
	assert_int_equal(r->n_unattached, 0);
	report_free(r);
	pgtest_drop(&t);
}

static void test_every_format(void **state)
{
	struct pgtest_db t;
	UNUSED(state);
	pgtest_create(&t, "reportunattfmt", true);
	pgtest_exec_file(t.conn, FIXTURES "/report/ledger.sql");
	pgtest_exec_file(t.conn, FIXTURES "/report/unattached.sql");
	struct report *r = load(t.conn, NULL, NULL);

	char *md = render(r, REPORT_MD);
	const char *pay = strstr(md, "\n## Platform payments\n");
	const char *search = strstr(md, "\n## Platform search\n");
	assert_non_null(pay);
	assert_non_null(search);
	const char *row = strstr(md, "| checkout | unattached:checkout | 2 | 2 | 1 | 1 | 1 |\n");
	assert_non_null(row);
	assert_true(row > pay && row < search);
	assert_non_null(strstr(search, "| indexing | unattached:indexing | 1 | 1 | 0 | 1 | 0 |\n"));
	assert_non_null(strstr(md, "\nNot attached to a postmortem"));

	char *csv = render(r, REPORT_CSV);
	assert_non_null(strstr(csv, "\r\n2026Q3,unattached,payments,checkout,action_items,2\r\n"
	                       "2026Q3,unattached,payments,checkout,opened,2\r\n"
	                       "2026Q3,unattached,payments,checkout,closed,1\r\n"
	                       "2026Q3,unattached,payments,checkout,open_end,1\r\n"
	                       "2026Q3,unattached,payments,checkout,overdue_end,1\r\n"));
	assert_non_null(strstr(csv, "\r\n2026Q3,unattached,search,indexing,open_end,1\r\n"));

	char *js = render(r, REPORT_JSON);
	struct json_object *o = json_tokener_parse(js), *u;
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "unattached", &u));
	assert_int_equal(json_object_array_length(u), 2);
	struct json_object *b = json_object_array_get_idx(u, 0);
	assert_string_equal(json_object_get_string(json_object_object_get(b, "postmortem")),
	                    "unattached:checkout");
	assert_int_equal(json_object_get_int(json_object_object_get(b, "action_items")), 2);
	assert_int_equal(json_object_get_int(json_object_object_get(b, "overdue_end")), 1);
	json_object_put(o);

	char *html = render(r, REPORT_HTML);
	assert_non_null(strstr(html, "<h3>Not attached to a postmortem</h3>"));
	assert_non_null(strstr(html, "<tr><td>checkout</td><td>unattached:checkout</td>"
	                       "<td class=\"n\">2</td><td class=\"n\">2</td><td class=\"n\">1</td>"
	                       "<td class=\"n\">1</td><td class=\"n\">1</td></tr>"));
	free(md);
	free(csv);
	free(js);
	free(html);
	report_free(r);

	/* a team with no discovered item shows no such section */
	r = load(t.conn, "payments", "ledger-team");
	assert_int_equal(r->n_unattached, 0);
	md = render(r, REPORT_MD);
	assert_null(strstr(md, "Not attached to a postmortem"));
	free(md);
	report_free(r);
	pgtest_drop(&t);
}

int main(void)
{
	log_set_level(LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_and_figures),
		cmocka_unit_test(test_every_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
