/* servicenow_discover.c — discovery for the ServiceNow connector: the
 * checks of a rule and its evaluation on a listed problem
 * (servicenow_discover.h). */
#include "servicenow_discover.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "util.h"

const char *sn_check_category(const char *v)
{
	size_t n = v ? strlen(v) : 0;
	if (n == 0 || n > 40)
		return "a category's choice value (1 to 40 characters), e.g. \"software\"";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!isalnum(c) && !strchr("_-. ", c))
			return "a category's choice value: letters, digits, '_', '-', '.' and spaces "
			       "(the value stored, not the label shown), e.g. \"software\"";
	}
	return NULL;
}

const char *sn_discover_check(char *const *values)
{
	bool reported = values[0] && strcmp(values[0], "true") == 0;
	if (!reported && !values[1])
		return "reported_by_incident = true, a category, or both";
	return NULL;
}

/* The string value of field k in rec ("" when empty), or NULL when the
 * record lacks it. */
static const char *field_of(struct json_object *rec, const char *k)
{
	struct json_object *v;
	if (!json_object_object_get_ex(rec, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int sn_discover_eval(const struct sn_rule *rule, struct json_object *rec, bool *match,
                     char **refs, const char **err)
{
	const char *task = field_of(rec, "first_reported_by_task");
	const char *cls = field_of(rec, "first_reported_by_task.sys_class_name");
	const char *num = field_of(rec, "first_reported_by_task.number");
	const char *cat = field_of(rec, "category");
	*refs = NULL;
	*match = false;
	if (!task || !cls || !num) {
		*err = "a problem without first_reported_by_task (or its dot-walked number and "
		       "sys_class_name): the instance does not have the field the discovery rule "
		       "reads (remove reported_by_incident from the rule)";
		return -EINVAL;
	}
	if (rule->category && !cat) {
		*err = "a problem without category: the instance does not have the field the "
		       "discovery rule reads (remove category from the rule)";
		return -EINVAL;
	}
	*match = (!rule->reported_by_incident || (*task && strcmp(cls, "incident") == 0)) &&
	         (!rule->category || strcmp(cat, rule->category) == 0);
	if (*task && *num && !strpbrk(num, "\r\n"))
		*refs = xstrdup(num);
	return 0;
}
