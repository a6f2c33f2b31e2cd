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
	char *none[] = { NULL, NULL }, *off[] = { "false", NULL }, *on[] = { "true", NULL },
	     *cat[] = { NULL, "software" };
	assert_non_null(sn_discover_check(none));
	assert_non_null(sn_discover_check(off));
	assert_null(sn_discover_check(on));
	assert_null(sn_discover_check(cat));
}

static void eval_one(const struct sn_rule *rule, const char *json, int want_rc, bool want_match,
                     const char *want_refs)
{
	struct json_object *rec = json_tokener_parse(json);
	bool match = !want_match;
	char *refs = NULL;
	const char *err = NULL;
	assert_non_null(rec);
	assert_int_equal(sn_discover_eval(rule, rec, &match, &refs, &err), want_rc);
	if (want_rc == 0) {
		assert_int_equal(match, want_match);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_eval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
