/* test_conn_json.c — the connectors' typed JSON getters (connectors/
 * conn_json.h): each gives its member only when it has the asked type,
 * and "absent" for a missing member, JSON null, another type, a NULL or
 * non-object container, without aborting; conn_json_text shows any
 * non-null value as text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <string.h>

#include "conn_json.h"

static const char DOC[] =
	"{\"s\":\"text\",\"empty\":\"\",\"n\":42,\"big\":-9007199254740993,\"f\":1.5,"
	"\"t\":true,\"nul\":null,\"o\":{\"k\":\"v\"},\"a\":[1,\"two\"]}";

static void test_str(void **state)
{
	struct json_object *d = json_tokener_parse(DOC), *arr = NULL;
	assert_non_null(d);
	assert_string_equal(conn_json_str(d, "s"), "text");
	assert_string_equal(conn_json_str(d, "empty"), "");
	assert_null(conn_json_str(d, "n"));       /* a number is no string */
	assert_null(conn_json_str(d, "nul"));
	assert_null(conn_json_str(d, "o"));
	assert_null(conn_json_str(d, "missing"));
	assert_null(conn_json_str(NULL, "s"));
	assert_true(json_object_object_get_ex(d, "a", &arr));
	assert_null(conn_json_str(arr, "s"));     /* an array has no members */
	assert_string_equal(conn_json_str(conn_json_obj(d, "o"), "k"), "v");
	json_object_put(d);
}

static void test_obj_and_arr(void **state)
{
	struct json_object *d = json_tokener_parse(DOC);
	assert_non_null(d);
	struct json_object *o = conn_json_obj(d, "o"), *a = conn_json_arr(d, "a");
	assert_true(json_object_is_type(o, json_type_object));
	assert_true(json_object_is_type(a, json_type_array));
	assert_int_equal(json_object_array_length(a), 2);
	assert_null(conn_json_obj(d, "a"));
	assert_null(conn_json_arr(d, "o"));      /* an object where an array belongs */
	assert_null(conn_json_arr(d, "s"));
	assert_null(conn_json_arr(d, "nul"));
	assert_null(conn_json_obj(d, "missing"));
	assert_null(conn_json_arr(NULL, "a"));
	assert_null(conn_json_obj(NULL, "o"));
	json_object_put(d);
}

static void test_int64(void **state)
{
	struct json_object *d = json_tokener_parse(DOC);
	int64_t v = 7;
	assert_non_null(d);
	assert_true(conn_json_int64(d, "n", &v));
	assert_int_equal(v, 42);
	assert_true(conn_json_int64(d, "big", &v));
	assert_true(v == INT64_C(-9007199254740993));
	v = 7;
	assert_false(conn_json_int64(d, "f", &v));   /* a fraction */
	assert_false(conn_json_int64(d, "s", &v));
	assert_false(conn_json_int64(d, "nul", &v));
	assert_false(conn_json_int64(d, "missing", &v));
	assert_false(conn_json_int64(NULL, "n", &v));
	assert_int_equal(v, 7);                      /* untouched when absent */
	json_object_put(d);
}

static void test_bool(void **state)
{
	struct json_object *d = json_tokener_parse(
		"{\"t\":true,\"f\":false,\"sf\":\"false\",\"st\":\"true\",\"one\":1,"
		"\"zero\":0,\"nul\":null}");
	bool v = true;
	assert_non_null(d);
	assert_true(conn_json_bool(d, "f", &v));
	assert_false(v);
	assert_true(conn_json_bool(d, "t", &v));
	assert_true(v);
	v = false;
	/* json_object_get_boolean() reads "false" as true and 1 as true */
	assert_false(conn_json_bool(d, "sf", &v));
	assert_false(conn_json_bool(d, "st", &v));
	assert_false(conn_json_bool(d, "one", &v));
	assert_false(conn_json_bool(d, "zero", &v));
	assert_false(conn_json_bool(d, "nul", &v));
	assert_false(conn_json_bool(d, "missing", &v));
	assert_false(conn_json_bool(NULL, "t", &v));
	assert_false(v);                             /* untouched when absent */
	json_object_put(d);
}

static void test_mistyped(void **state)
{
	struct json_object *d = json_tokener_parse(DOC), *arr = NULL;
	assert_non_null(d);
	assert_false(conn_json_mistyped(d, "t", json_type_boolean));
	assert_true(conn_json_mistyped(d, "s", json_type_boolean));
	assert_false(conn_json_mistyped(d, "n", json_type_int));
	assert_true(conn_json_mistyped(d, "f", json_type_int));   /* a fraction */
	assert_true(conn_json_mistyped(d, "n", json_type_string));
	assert_true(conn_json_mistyped(d, "o", json_type_array));
	assert_false(conn_json_mistyped(d, "a", json_type_array));
	/* absent and null are not wrong: an optional member keeps its default */
	assert_false(conn_json_mistyped(d, "nul", json_type_boolean));
	assert_false(conn_json_mistyped(d, "missing", json_type_int));
	assert_false(conn_json_mistyped(NULL, "s", json_type_int));
	assert_true(json_object_object_get_ex(d, "a", &arr));
	assert_false(conn_json_mistyped(arr, "s", json_type_int)); /* no members */
	json_object_put(d);
}

static void test_text(void **state)
{
	struct json_object *d = json_tokener_parse(DOC);
	assert_non_null(d);
	assert_string_equal(conn_json_text(d, "s"), "text");
	assert_string_equal(conn_json_text(d, "n"), "42");
	assert_string_equal(conn_json_text(d, "t"), "true");
	assert_non_null(strstr(conn_json_text(d, "o"), "\"k\""));
	assert_null(conn_json_text(d, "nul"));
	assert_null(conn_json_text(d, "missing"));
	assert_null(conn_json_text(NULL, "s"));
	json_object_put(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_obj_and_arr),
		cmocka_unit_test(test_int64),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_mistyped),
		cmocka_unit_test(test_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
