/* jira_transition.h — the Jira connector's choice of a workflow
 * transition: which transition of a GET .../transitions answer leads an
 * issue into a wanted state, the way out of a done status, the
 * resolution a transition screen asks for, and the POST .../transitions
 * body.  Pure functions: no I/O (tests/unit/test_jira.c).
 *
 * Jira facts (Atlassian, "The Jira Cloud platform REST API" v3, "Get
 * transitions" and "Transition issue", and the OpenAPI description in
 * ../shared/specs/): status is not a field an edit may set; the answer is
 * Transitions {transitions: [IssueTransition {id, name, isAvailable, to:
 * StatusDetails {name, statusCategory: {key}}, fields (with
 * expand=transitions.fields)}]}; a transition is taken with
 * {"transition": {"id"}}, and a screen's required fields go beside it.
 */
#ifndef CLOSELOOP_JIRA_TRANSITION_H
#define CLOSELOOP_JIRA_TRANSITION_H

#include <json-c/json.h>
#include "connector.h"

/* Choose the transition into state want from a GET .../transitions answer:
 * the available ones whose to.statusCategory.key fits (done: a resolution
 * name that is not a "won't" one; wont_do: a transition or target status
 * named like Won't Do / Declined / Rejected), the lowest numeric id when
 * several fit.  Returns 0 with *id (heap), or -ENOENT with *why (heap, the
 * reason a refusal records: what was wanted and what was available), or
 * -EINVAL with *why (heap, what is wrong with the answer) when it has no
 * transitions array or a transition of another shape than the OpenAPI
 * description's IssueTransition (isAvailable a Boolean; id, name, to.name
 * and to.statusCategory.key strings; to an object): "a transition's
 * \"isAvailable\" is not a Boolean".  isAvailable absent reads as true;
 * a transition without a numeric id is passed over. */
int jira_pick_transition(struct json_object *answer, const char *want, char **id,
                         char **why) MUST_CHECK;
/* When no transition leads from a done status into the wanted done state
 * (Won't Do -> Done: Jira's default workflow has no Done -> Done), a
 * person reopens the issue and closes it again: the available transition
 * into a to-do status (statusCategory "new"), else an in-progress one,
 * the lowest numeric id when several fit.  Returns 0 with *id (heap),
 * -ENOENT when none leads out of done, -EINVAL without a transitions
 * array or with a transition jira_pick_transition refuses. */
int jira_pick_reopen(struct json_object *answer, char **id) MUST_CHECK;

/* POST /rest/api/3/issue/{id}/transitions (and v2): {"transition": {"id"}}.
 * Caller puts. */
struct json_object *jira_transition_body(const char *id);
/* {"transition": {"id"}, "fields": {"resolution": {"name"}}} when
 * resolution is not NULL (a transition screen that asks for one). */
struct json_object *jira_transition_body_res(const char *id, const char *resolution);
/* The resolution the transition id of a GET .../transitions?expand=
 * transitions.fields answer asks for on its screen, chosen for want
 * (wont_do: a "won't" one; done: another): a name from its allowedValues,
 * or NULL when the screen has no resolution field.  Valid while answer is. */
const char *jira_transition_resolution(struct json_object *answer, const char *id,
                                       const char *want);

#endif
