/* conn_json.c — see conn_json.h. */
#include "conn_json.h"

#include <json-c/json.h>

/* json_object_object_get_ex() answers false for a NULL o and for any
 * non-object (json-c's json_object.c), so no getter checks o's type. */
static struct json_object *member_of_type(struct json_object *o, const char *k,
                                          enum json_type t)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

const char *conn_json_str(struct json_object *o, const char *k)
{
	struct json_object *v = member_of_type(o, k, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

struct json_object *conn_json_obj(struct json_object *o, const char *k)
{
	return member_of_type(o, k, json_type_object);
}

struct json_object *conn_json_arr(struct json_object *o, const char *k)
{
	return member_of_type(o, k, json_type_array);
}

bool conn_json_int64(struct json_object *o, const char *k, int64_t *out)
{
	struct json_object *v = member_of_type(o, k, json_type_int);
	if (!v)
		return false;
	*out = json_object_get_int64(v);
	return true;
}

bool conn_json_bool(struct json_object *o, const char *k, bool *out)
{
	struct json_object *v = member_of_type(o, k, json_type_boolean);
	if (!v)
		return false;
	*out = json_object_get_boolean(v);
	return true;
}

bool conn_json_mistyped(struct json_object *o, const char *k, enum json_type t)
{
	struct json_object *v = NULL;
	/* a JSON null is stored as a NULL value (json-c) */
	return json_object_object_get_ex(o, k, &v) && v && !json_object_is_type(v, t);
}

const char *conn_json_text(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, k, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}
