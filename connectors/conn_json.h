/* conn_json.h — typed member getters for the JSON the trackers send
 * (json-c), shared by every connector.
 *
 * A tracker's answer, a webhook delivery or an ADF document may hold
 * anything where a member should be: a member missing, JSON null, or of
 * another type than the vendor documents.  json-c's own accessors are
 * not safe on such input (json_object_array_length() on an object aborts,
 * as fuzz_jira found with an ADF "content" object; json_object_get_string()
 * turns any value into text), so the connectors read members through
 * these getters, which say "absent" (NULL or false) for every one of those
 * cases and never abort.
 *
 * Every getter takes the object o (NULL, or a value of any type: a
 * non-object reads as having no members) and a member name k
 * (NUL-terminated, matched exactly as json-c does).  Returned pointers are
 * borrowed: they live as long as o's root is held (json_object_put).
 *
 * "Absent" is not "wrong": a field that matters (a paging flag or count,
 * an id, a key, a status) is read in two steps, so that an optional
 * member left out keeps its documented default while one of another
 * type refuses the answer instead of being read as absent:
 *     if (conn_json_mistyped(answer, "isLast", json_type_boolean))
 *             refuse: "\"isLast\" is not a Boolean";
 *     if (!conn_json_bool(answer, "isLast", &last))
 *             last = the default; */
#ifndef CLOSELOOP_CONN_JSON_H
#define CLOSELOOP_CONN_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json_types.h>

/* o's member k when it is a JSON string, else NULL. */
const char *conn_json_str(struct json_object *o, const char *k);
/* o's member k when it is a JSON object, else NULL. */
struct json_object *conn_json_obj(struct json_object *o, const char *k);
/* o's member k when it is a JSON array, else NULL. */
struct json_object *conn_json_arr(struct json_object *o, const char *k);
/* true and *out set when o's member k is a JSON integer (json-c's int
 * type: a number written without fraction or exponent that fits int64;
 * json-c clamps a larger one to INT64_MAX/INT64_MIN); false and *out
 * untouched otherwise (absent, null, a string, a fraction). */
bool conn_json_int64(struct json_object *o, const char *k, int64_t *out);
/* true and *out set when o's member k is a JSON Boolean (true or false);
 * false and *out untouched otherwise (absent, null, a string, a number):
 * json-c's json_object_get_boolean() would read the string "false" as
 * true (any non-empty string is) and a number as whether it is not 0. */
bool conn_json_bool(struct json_object *o, const char *k, bool *out);
/* true when o has a member k that is neither JSON null nor of type t
 * (json-c's enum json_type: json_type_boolean, json_type_int (a number
 * without fraction or exponent: 1.0 is a json_type_double),
 * json_type_string, json_type_object, json_type_array): a value the
 * tracker does not document there, which the reader refuses.  false when
 * the member is absent or null (an optional member keeps its default; a
 * required one is refused by its getter's NULL or false), when it is of
 * type t, and when o is NULL or not an object. */
bool conn_json_mistyped(struct json_object *o, const char *k, enum json_type t);
/* o's member k as text for a message: a string as it is, any other
 * non-null value as its JSON text (json-c's json_object_get_string:
 * 42, true, {"a":1}); NULL when absent or null.  For error details, where
 * a tracker's odd answer is shown rather than dropped, not for fields. */
const char *conn_json_text(struct json_object *o, const char *k);

#endif
