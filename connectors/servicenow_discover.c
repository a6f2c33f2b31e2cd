/* servicenow_discover.c — discovery for the ServiceNow connector: the
 * checks of a rule and its evaluation on a listed problem
 * (servicenow_discover.h). */
#include "servicenow_discover.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn_json.h"
#include "connector.h"
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
	bool related = values[2] && strcmp(values[2], "true") == 0;
	if (!reported && !related && !values[1])
		return "reported_by_incident = true, related_incident = true, a category, or "
		       "several of them";
	return NULL;
}

int sn_discover_eval(const struct sn_rule *rule, struct json_object *rec, bool *match,
                     bool *related, char **refs, const char **err)
{
	const char *task = conn_json_str(rec, "first_reported_by_task");
	const char *cls = conn_json_str(rec, "first_reported_by_task.sys_class_name");
	const char *num = conn_json_str(rec, "first_reported_by_task.number");
	const char *cat = conn_json_str(rec, "category");
	*refs = NULL;
	*match = false;
	*related = false;
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
	bool cat_ok = !rule->category || strcmp(cat, rule->category) == 0;
	bool reported = rule->reported_by_incident && *task && strcmp(cls, "incident") == 0;
	bool any_incident = rule->reported_by_incident || rule->related_incident;
	*match = cat_ok && (!any_incident || reported);
	*related = cat_ok && !*match && rule->related_incident;
	if (*task && *num && !strpbrk(num, "\r\n"))
		*refs = xstrdup(num);
	return 0;
}

char *sn_related_query(char *const *ids, size_t n)
{
	struct buf b = { 0 };
	if (buf_appendf(&b, "problem_idIN") < 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if (buf_appendf(&b, "%s%s", i ? "," : "", ids[i]) < 0)
			abort();
	if (buf_appendf(&b, "^ORDERBYsys_id") < 0)
		abort();
	return buf_steal(&b);
}

int sn_related_apply(struct json_object *arr, struct conn_remote *items, const bool *pending,
                     size_t n, const char **err)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *rec = json_object_array_get_idx(arr, i);
		const char *pid = conn_json_str(rec, "problem_id"), *num = conn_json_str(rec, "number");
		size_t k = 0;
		while (k < n && !(pending[k] && pid && strcmp(items[k].remote_id, pid) == 0))
			k++;
		if (k == n) {
			*err = "an incident that points at no problem asked about (the instance "
			       "ignored the problem_id term: does its incident table have problem_id?)";
			return -EINVAL;
		}
		items[k].discover = CONN_DISCOVER_MATCH;
		if (!num || !*num || strpbrk(num, "\r\n"))
			continue;
		char *refs = items[k].refs ? xasprintf("%s\n%s", items[k].refs, num) : xstrdup(num);
		free(items[k].refs);
		items[k].refs = refs;
	}
	return 0;
}
