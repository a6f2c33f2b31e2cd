/* servicenow_discover.h — discovery for the ServiceNow connector: which
 * problems of an assignment group are action items born in ServiceNow
 * (connector.h "discovery", docs/architecture.md "Discovery").  Pure
 * functions, no I/O (tests/unit/test_servicenow_discover.c).
 *
 * A rule (connectors.[].discover.[]) takes the problems
 *   reported_by_incident = true   whose first_reported_by_task is an incident
 *                                 (a problem raised off the back of one);
 *   category = "software"         whose category is that choice value;
 * both when both are set.  The rule is read from the records the normal
 * incremental listing already returns: with a rule, the listing also asks
 * for SN_DISCOVER_FIELDS (sysparm_fields may dot-walk a reference), so
 * discovery costs no request of its own and no sysparm_query term the
 * instance could silently ignore.  A field the instance does not have is
 * left out of its answer (as an unknown term is ignored): a record
 * without one of the fields the rule reads is an error naming it, never a
 * silent "no match".
 *
 * ServiceNow facts (Problem Management, "Problem form": Origin task
 * (first_reported_by_task) is the task that first identified the problem,
 * Category is a choice such as software or hardware; Table API,
 * sysparm_fields dot-walking, e.g. caller_id.email; checked December 2026).
 */
#ifndef CLOSELOOP_SERVICENOW_DISCOVER_H
#define CLOSELOOP_SERVICENOW_DISCOVER_H

#include <stdbool.h>
#include <json-c/json.h>

#define SN_DISCOVER_FIELDS "first_reported_by_task,first_reported_by_task.number," \
                           "first_reported_by_task.sys_class_name,category"

/* One rule as the connector reads it (values of its discover options). */
struct sn_rule {
	bool reported_by_incident;
	const char *category;   /* a choice value, or NULL */
};

/* conn_option.check of category: NULL for a choice value (1-40 letters,
 * digits, '_', '-', '.', ' '), else what is expected. */
const char *sn_check_category(const char *v);

/* conn_type.discover_check: values are reported_by_incident ("true" /
 * "false" / NULL) and category (NULL = unset), in that order.  NULL when
 * the rule takes some problems, else what is expected. */
const char *sn_discover_check(char *const *values);

/* Does the listed record rec match rule?  On 0, *match says so and *refs
 * (heap or NULL) is the number of the task that reported the problem
 * (INC0010001) for the postmortem lookup.  -EINVAL with *err a static
 * phrase when rec lacks a field the rule reads. */
int sn_discover_eval(const struct sn_rule *rule, struct json_object *rec, bool *match,
                     char **refs, const char **err);

#endif
