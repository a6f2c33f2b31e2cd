/* jira_transition.c — see jira_transition.h. */
#include "jira_transition.h"
#include "conn_json.h"
#include "jira_fields.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One transition (IssueTransition) of a GET .../transitions answer. */
struct transition {
	const char *id;   /* NULL: none (the transition is passed over) */
	long n;           /* id as a number, -1 when it is not a number */
	const char *name, *to_name, *cat; /* cat: to.statusCategory.key; each may be NULL */
	bool available;   /* isAvailable; true when absent */
};

/* Read transition t into *tr.  -EINVAL with *err when t is not an object
 * or a member has another type than the OpenAPI description gives it:
 * isAvailable "false" read as true would offer a transition the workflow
 * refuses, a numeric id would be passed over (no transition found).
 * Absent or null members are absent (isAvailable: available). */
static int read_transition(struct json_object *t, struct transition *tr, const char **err)
{
	struct json_object *to = conn_json_obj(t, "to");
	struct json_object *sc = conn_json_obj(to, "statusCategory");
	char *end = NULL;
	memset(tr, 0, sizeof(*tr));
	tr->available = true;
	if (!json_object_is_type(t, json_type_object) ||
	    conn_json_mistyped(t, "to", json_type_object) ||
	    conn_json_mistyped(to, "statusCategory", json_type_object)) {
		*err = "a transition, its \"to\" or to.statusCategory is not an object";
		return -EINVAL;
	}
	if (conn_json_mistyped(t, "isAvailable", json_type_boolean)) {
		*err = "a transition's \"isAvailable\" is not a Boolean";
		return -EINVAL;
	}
	if (conn_json_mistyped(t, "id", json_type_string) ||
	    conn_json_mistyped(t, "name", json_type_string) ||
	    conn_json_mistyped(to, "name", json_type_string) ||
	    conn_json_mistyped(sc, "key", json_type_string)) {
		*err = "a transition's id, name, to.name or to.statusCategory.key is not a string";
		return -EINVAL;
	}
	(void)conn_json_bool(t, "isAvailable", &tr->available);
	tr->id = conn_json_str(t, "id");
	tr->name = conn_json_str(t, "name");
	tr->to_name = conn_json_str(to, "name");
	tr->cat = conn_json_str(sc, "key");
	tr->n = tr->id ? strtol(tr->id, &end, 10) : -1;
	if (!tr->id || !end || *end || tr->n < 0)
		tr->n = -1;
	return 0;
}

/* The transitions array of answer, or NULL with *err. */
static struct json_object *transitions_of(struct json_object *answer, const char **err)
{
	struct json_object *arr = conn_json_arr(answer, "transitions");
	if (!arr)
		*err = "the answer has no transitions array";
	return arr;
}

static bool transition_fits(const struct transition *tr, const char *want)
{
	if (!tr->available || !tr->cat)
		return false;
	bool wont = jira_is_wont(tr->name) || jira_is_wont(tr->to_name);
	if (strcmp(want, "open") == 0)
		return strcmp(tr->cat, "new") == 0;
	if (strcmp(want, "in_progress") == 0)
		return strcmp(tr->cat, "indeterminate") == 0;
	if (strcmp(want, "done") == 0)
		return strcmp(tr->cat, "done") == 0 && !wont;
	return strcmp(tr->cat, "done") == 0 && wont;
}

int jira_pick_transition(struct json_object *answer, const char *want, char **id, char **why)
{
	const char *err = NULL;
	struct json_object *arr = transitions_of(answer, &err);
	struct buf seen = { 0 };
	long best = -1;
	*id = NULL;
	*why = NULL;
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct transition tr;
		if (read_transition(json_object_array_get_idx(arr, i), &tr, &err) < 0) {
			arr = NULL;
			break;
		}
		if (tr.n < 0)
			continue;
		if (buf_appendf(&seen, "%s%s (%s)", seen.len ? ", " : "", tr.name ? tr.name : "?",
		                tr.id) < 0)
			break;
		if (transition_fits(&tr, want) && (best < 0 || tr.n < best)) {
			best = tr.n;
			free(*id);
			*id = xstrdup(tr.id);
		}
	}
	if (!arr) {
		free(*id);
		*id = NULL;
		buf_free(&seen);
		*why = xstrdup(err);
		return -EINVAL;
	}
	if (*id) {
		buf_free(&seen);
		return 0;
	}
	*why = xasprintf("the Jira workflow offers no transition into %s from here "
	                 "(available: %s); change the workflow or the item's state",
	                 strcmp(want, "wont_do") == 0 ? "a done status named like Won't Do or Declined" :
	                 strcmp(want, "done") == 0 ? "a done status" :
	                 strcmp(want, "in_progress") == 0 ? "an in-progress status" : "a to-do status",
	                 seen.len ? seen.data : "none");
	buf_free(&seen);
	return -ENOENT;
}

int jira_pick_reopen(struct json_object *answer, char **id)
{
	const char *err = NULL;
	struct json_object *arr = transitions_of(answer, &err);
	long best = -1;
	int best_rank = 2;
	*id = NULL;
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct transition tr;
		if (read_transition(json_object_array_get_idx(arr, i), &tr, &err) < 0) {
			free(*id);
			*id = NULL;
			return -EINVAL;
		}
		if (tr.n < 0 || !tr.available)
			continue;
		int rank = str_eq(tr.cat, "new") ? 0 : str_eq(tr.cat, "indeterminate") ? 1 : 2;
		if (rank < best_rank || (rank == best_rank && rank < 2 && tr.n < best)) {
			best_rank = rank;
			best = tr.n;
			free(*id);
			*id = xstrdup(tr.id);
		}
	}
	if (!arr)
		return -EINVAL;
	return *id ? 0 : -ENOENT;
}

struct json_object *jira_transition_body(const char *id)
{
	return jira_transition_body_res(id, NULL);
}

struct json_object *jira_transition_body_res(const char *id, const char *resolution)
{
	struct json_object *b = json_object_new_object(), *t = json_object_new_object();
	json_object_object_add(t, "id", json_object_new_string(id));
	json_object_object_add(b, "transition", t);
	if (resolution) {
		struct json_object *f = json_object_new_object(), *res = json_object_new_object();
		json_object_object_add(res, "name", json_object_new_string(resolution));
		json_object_object_add(f, "resolution", res);
		json_object_object_add(b, "fields", f);
	}
	return b;
}

/* The transition of id in a GET .../transitions?expand=transitions.fields
 * answer, or NULL. */
static struct json_object *transition_by_id(struct json_object *answer, const char *id)
{
	struct json_object *arr = conn_json_arr(answer, "transitions");
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *t = json_object_array_get_idx(arr, i);
		if (str_eq(conn_json_str(t, "id"), id))
			return t;
	}
	return NULL;
}

const char *jira_transition_resolution(struct json_object *answer, const char *id,
                                       const char *want)
{
	struct json_object *t = transition_by_id(answer, id);
	struct json_object *res = conn_json_obj(conn_json_obj(t, "fields"), "resolution");
	struct json_object *allowed = conn_json_arr(res, "allowedValues");
	bool wont = str_eq(want, "wont_do");
	for (size_t i = 0; allowed && i < json_object_array_length(allowed); i++) {
		const char *name = conn_json_str(json_object_array_get_idx(allowed, i), "name");
		if (name && jira_is_wont(name) == wont)
			return name;
	}
	return NULL;
}
