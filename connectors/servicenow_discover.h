/* servicenow_discover.h — discovery for the ServiceNow connector: which
 * problems of an assignment group are action items born in ServiceNow
 * (connector.h "discovery", docs/architecture.md "Discovery").  Pure
 * functions, no I/O (tests/unit/test_servicenow_discover.c).
 *
 * A rule (connectors.[].discover.[]) takes the problems
 *   reported_by_incident = true   whose first_reported_by_task is an incident
 *                                 (a problem raised off the back of one);
 *   related_incident = true       that an incident points at through its
 *                                 problem_id (the incident's Problem field);
 *   category = "software"         whose category is that choice value;
 * the two incident conditions either way (when both are set), and the
 * category besides.  related_incident cannot be read from the problem
 * (the link is on the incident): after a listed page, the problems the
 * rest of the rule leaves undecided are asked about with one query on the
 * incident table, sn_related_query:
 *     GET /api/now/table/incident?sysparm_query=problem_idIN<sys_id>,...
 *         ^ORDERBYsys_id&sysparm_fields=problem_id,number
 * (pages of page_size while more follow; every answered record is checked
 * to point at one of the problems asked about, as the instance silently
 * ignores a term it does not understand).  That is the cheapest exact
 * query: the Table API has no reverse reference in sysparm_fields, a
 * related-list condition (RLQUERY) in the listing's own query would drop
 * the problems that do not match, which the listing must still see (a
 * problem that left the rule), and the Aggregate API would count without
 * the incident numbers a postmortem is found by.  A quiet cycle lists no
 * problem (the listing's validator, servicenow.h) and asks nothing.  Linking an incident to a problem changes the
 * incident, not the problem: the problem is discovered when it is next
 * listed (any change to it), not at the moment of the link.  The rule is read from the records the normal
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
	bool related_incident;
	const char *category;   /* a choice value, or NULL */
};

/* conn_option.check of category: NULL for a choice value (1-40 letters,
 * digits, '_', '-', '.', ' '), else what is expected. */
const char *sn_check_category(const char *v);

/* conn_type.discover_check: values are reported_by_incident ("true" /
 * "false" / NULL), category (NULL = unset) and related_incident, in that
 * order.  NULL when the rule takes some problems, else what is expected. */
const char *sn_discover_check(char *const *values);

/* Does the listed record rec match rule?  On 0, *match says so and *refs
 * (heap or NULL) is the number of the task that reported the problem
 * (INC0010001) for the postmortem lookup; *related (rule with
 * related_incident) says the answer waits for the incident query: the
 * problem matches only if an incident points at it.  -EINVAL with *err a
 * static phrase when rec lacks a field the rule reads. */
int sn_discover_eval(const struct sn_rule *rule, struct json_object *rec, bool *match,
                     bool *related, char **refs, const char **err);

/* The sysparm_query asking which incidents point at the problems
 * ids[0..n) (sys_ids, n >= 1): "problem_idIN<id>,<id>^ORDERBYsys_id".
 * Heap. */
char *sn_related_query(char *const *ids, size_t n);

/* Fold one page of the incident query's answer (arr: records of
 * problem_id and number) into items[0..n) whose pending[k] is set: an
 * item an incident points at is CONN_DISCOVER_MATCH and the incident's
 * number joins its refs (one a line).  -EINVAL with *err when a record
 * points at no problem asked about (the instance ignored the term). */
struct conn_remote;
int sn_related_apply(struct json_object *arr, struct conn_remote *items, const bool *pending,
                     size_t n, const char **err);

#endif
