/* test_servicenow_discover.c — the ServiceNow connector's discovery rule
 * (connectors/servicenow_discover.h): the checks of a rule and of a
 * category value (a "^" can never reach a query), and the evaluation of
 * a listed problem, where a field the instance left out (it has no such
 * field) is an error, not a silent "no match". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "servicenow_discover.h"

static void test_checks(void **state)
{
	(void)state;
	assert_null(sn_check_category("software"));
	assert_non_null(sn_check_category("Inquiry / Help"));
	assert_null(sn_check_category("data_base-1.2 x"));
	assert_non_null(sn_check_category("software^ORcategory=hardware"));
	assert_non_null(sn_check_category("a=b"));
	assert_non_null(sn_check_category(""));
	assert_non_null(sn_check_category("x\ny"));
	char *none[] = { NULL, NULL, NULL }, *off[] = { "false", NULL, "false" },
	     *on[] = { "true", NULL, NULL }, *cat[] = { NULL, "software", NULL },
	     *rel[] = { NULL, NULL, "true" };
	assert_non_null(sn_discover_check(none));
	assert_non_null(sn_discover_check(off));
	assert_null(sn_discover_check(on));
	assert_null(sn_discover_check(cat));
	assert_null(sn_discover_check(rel));
}

static void eval_rel(const struct sn_rule *rule, const char *json, int want_rc, bool want_match,
                     bool want_related, const char *want_refs)
{
	struct json_object *rec = json_tokener_parse(json);
	bool match = !want_match, related = !want_related;
	char *refs = NULL;
	const char *err = NULL;
	assert_non_null(rec);
	assert_int_equal(sn_discover_eval(rule, rec, &match, &related, &refs, &err), want_rc);
	if (want_rc == 0) {
		assert_int_equal(match, want_match);
		assert_int_equal(related, want_related);
		if (want_refs)
			assert_string_equal(refs, want_refs);
		else
			assert_null(refs);
	} else {
		assert_non_null(err);
	}
	free(refs);
	json_object_put(rec);
}

static void eval_one(const struct sn_rule *rule, const char *json, int want_rc, bool want_match,
                     const char *want_refs)
{
	eval_rel(rule, json, want_rc, want_match, false, want_refs);
}

static void test_eval(void **state)
{
	(void)state;
	struct sn_rule by_inc = { .reported_by_incident = true };
	struct sn_rule by_cat = { .category = "software" };
	struct sn_rule both = { .reported_by_incident = true, .category = "software" };
	const char *from_inc = "{\"first_reported_by_task\":\"a1\",\"first_reported_by_task.number\":"
	                       "\"INC0040001\",\"first_reported_by_task.sys_class_name\":\"incident\","
	                       "\"category\":\"hardware\"}";
	const char *from_change = "{\"first_reported_by_task\":\"b2\",\"first_reported_by_task.number\":"
	                          "\"CHG0030001\",\"first_reported_by_task.sys_class_name\":"
	                          "\"change_request\",\"category\":\"software\"}";
	const char *none = "{\"first_reported_by_task\":\"\",\"first_reported_by_task.number\":\"\","
	                   "\"first_reported_by_task.sys_class_name\":\"\",\"category\":\"software\"}";
	eval_one(&by_inc, from_inc, 0, true, "INC0040001");
	eval_one(&by_inc, from_change, 0, false, "CHG0030001");
	eval_one(&by_inc, none, 0, false, NULL);
	eval_one(&by_cat, from_inc, 0, false, "INC0040001");
	eval_one(&by_cat, none, 0, true, NULL);
	eval_one(&both, from_inc, 0, false, "INC0040001");
	eval_one(&both, from_change, 0, false, "CHG0030001");
	/* an instance without the field leaves it out of the answer */
	eval_one(&by_inc, "{\"category\":\"software\"}", -EINVAL, false, NULL);
	eval_one(&by_cat, "{\"first_reported_by_task\":\"\",\"first_reported_by_task.number\":\"\","
	                  "\"first_reported_by_task.sys_class_name\":\"\"}", -EINVAL, false, NULL);
}

/* related_incident: undecided by the record alone (the link is on the
 * incident), decided by the incident query's answer */
static void test_related(void **state)
{
	(void)state;
	struct sn_rule rel = { .related_incident = true };
	struct sn_rule rel_or_by = { .reported_by_incident = true, .related_incident = true,
	                             .category = "software" };
	const char *from_inc = "{\"first_reported_by_task\":\"a1\",\"first_reported_by_task.number\":"
	                       "\"INC0040001\",\"first_reported_by_task.sys_class_name\":\"incident\","
	                       "\"category\":\"software\"}";
	const char *plain = "{\"first_reported_by_task\":\"\",\"first_reported_by_task.number\":\"\","
	                    "\"first_reported_by_task.sys_class_name\":\"\",\"category\":\"software\"}";
	const char *hw = "{\"first_reported_by_task\":\"\",\"first_reported_by_task.number\":\"\","
	                 "\"first_reported_by_task.sys_class_name\":\"\",\"category\":\"hardware\"}";
	eval_rel(&rel, plain, 0, false, true, NULL);
	eval_rel(&rel_or_by, from_inc, 0, true, false, "INC0040001"); /* reported: decided */
	eval_rel(&rel_or_by, plain, 0, false, true, NULL);
	eval_rel(&rel_or_by, hw, 0, false, false, NULL);              /* category: decided */

	char *ids[] = { "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210" };
	char *q = sn_related_query(ids, 2);
	assert_string_equal(q, "problem_idIN0123456789abcdef0123456789abcdef,"
	                       "fedcba9876543210fedcba9876543210^ORDERBYsys_id");
	free(q);
	struct conn_remote items[3] = { { .remote_id = ids[0], .discover = CONN_DISCOVER_NO_MATCH },
	                                { .remote_id = ids[1], .discover = CONN_DISCOVER_NO_MATCH },
	                                { .remote_id = "c3", .discover = CONN_DISCOVER_MATCH } };
	bool pending[3] = { true, true, false };
	const char *err = NULL;
	struct json_object *a = json_tokener_parse(
		"[{\"problem_id\":\"fedcba9876543210fedcba9876543210\",\"number\":\"INC0040007\"},"
		"{\"problem_id\":\"fedcba9876543210fedcba9876543210\",\"number\":\"INC0040009\"}]");
	assert_int_equal(sn_related_apply(a, items, pending, 3, &err), 0);
	assert_int_equal(items[0].discover, CONN_DISCOVER_NO_MATCH);
	assert_int_equal(items[1].discover, CONN_DISCOVER_MATCH);
	assert_string_equal(items[1].refs, "INC0040007\nINC0040009");
	json_object_put(a);
	/* an incident pointing elsewhere: the instance ignored the term */
	a = json_tokener_parse("[{\"problem_id\":\"c3\",\"number\":\"INC0040001\"}]");
	assert_int_equal(sn_related_apply(a, items, pending, 3, &err), -EINVAL);
	assert_non_null(err);
	json_object_put(a);
	free(items[1].refs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_related),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
