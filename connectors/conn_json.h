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
 * borrowed: they live as long as o's root is held (json_object_put). */
#ifndef CLOSELOOP_CONN_JSON_H
#define CLOSELOOP_CONN_JSON_H

#include <stdbool.h>
#include <stdint.h>

struct json_object;

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
/* o's member k as text for a message: a string as it is, any other
 * non-null value as its JSON text (json-c's json_object_get_string:
 * 42, true, {"a":1}); NULL when absent or null.  For error details, where
 * a tracker's odd answer is shown rather than dropped, not for fields. */
const char *conn_json_text(struct json_object *o, const char *k);

#endif
