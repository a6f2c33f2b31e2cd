/* servicenow_state.c — the ServiceNow connector's state mapping, both
 * ways, for its two tables (servicenow.h):
 *
 * problem (state_model = current: Problem Management best practice state
 * model, "Problem form" / "Life cycle of a problem"; legacy: 1-4):
 *   write: open 101, in_progress 104, done 106 with resolution_code
 *          fix_applied, wont_do 106 with risk_accepted (+ close_notes);
 *          legacy open 1, in_progress 2, done/wont_do 4;
 *   read:  101-103 open, 104-105 in_progress, 106-107 done unless
 *          resolution_code is risk_accepted or canceled (wont_do).
 *
 * problem_task has a state model of its own (ServiceNow docs, Problem
 * Management: "Life cycle of a problem task", "Assess a problem task",
 * "Complete a problem task", "Problem Task form", "Map problem task
 * states"; script include ProblemTaskStateSNC: NEW 151, ASSESS 152,
 * WORK_IN_PROGRESS 154, CLOSED 157; ProblemTaskStateUtilsSNC; checked
 * December 2026):
 *   - a task starts in 151 New; Assess (152) -> Start Work (154); from
 *     154 Re-assess goes back to 152; Cancel (from 152 or 154) and
 *     Complete (from 154 only) close it (157) with close_code "canceled"
 *     or "completed" (the values the ServiceNow-maintained Ansible
 *     collection servicenow.itsm sends: problem_task module, close_code
 *     choices) and close notes; a closed task is reopened by Re-assess
 *     (157 -> 152); New is never entered again.
 *   - the instance enforces those transitions (state model), so a change
 *     is a walk of PATCHes, one step each (sn_task_step), e.g. New -> done
 *     is 151 -> 152 -> 154 -> 157.
 *   write: open 151 at create, else 152; in_progress 154; done 157
 *          completed; wont_do 157 canceled;
 *   read:  151-152 open, 154 in_progress, 157 done unless close_code is
 *          canceled (wont_do); anything else open.
 *   legacy task states ("Map problem task states": -5 Pending, 1 Open,
 *   2 Work in Progress, 3 Closed Complete, 4 Closed Incomplete, 7 Closed
 *   Skipped): open 1, in_progress 2, done 3, wont_do 4; read 3 done, 4 and
 *   7 wont_do, 2 in_progress, else open; written in one PATCH (no model).
 */
#include "servicenow.h"

#include <stdlib.h>
#include <string.h>

#define SN_TASK_NEW "151"
#define SN_TASK_ASSESS "152"
#define SN_TASK_WIP "154"
#define SN_TASK_CLOSED "157"
#define SN_TASK_DONE_CODE "completed"
#define SN_TASK_WONT_CODE "canceled"
#define SN_CLOSE_NOTES "Resolved from the closeloop ledger."

bool sn_is_task(const struct sn_conn *s)
{
	return str_eq(s->table, "problem_task");
}

static long state_num(const char *st)
{
	return st ? strtol(st, NULL, 10) : 0;
}

static const char *task_state_read(const struct sn_conn *s, long n, const char *close_code)
{
	if (s->legacy_states)
		return n == 3 ? "done" : n == 4 || n == 7 ? "wont_do" : n == 2 ? "in_progress" : "open";
	if (n == 157)
		return str_eq(close_code, SN_TASK_WONT_CODE) ? "wont_do" : "done";
	return n == 154 ? "in_progress" : "open";
}

const char *sn_state_from_record(const struct sn_conn *s, struct json_object *rec)
{
	long n = state_num(sn_rec_str(rec, "state"));
	if (sn_is_task(s))
		return task_state_read(s, n, sn_rec_str(rec, "close_code"));
	const char *code = sn_rec_str(rec, "resolution_code");
	bool wont = str_eq(code, "risk_accepted") || str_eq(code, "canceled");
	if (s->legacy_states)
		return n == 4 ? (wont ? "wont_do" : "done") : n >= 2 && n <= 3 ? "in_progress" : "open";
	if (n >= 106)
		return wont ? "wont_do" : "done";
	return n >= 104 ? "in_progress" : "open";
}

static void set(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

/* A legacy task's state in one PATCH. */
static void task_legacy_state(struct json_object *o, const char *state)
{
	bool done = str_eq(state, "done"), wont = str_eq(state, "wont_do");
	set(o, "state", done ? "3" : wont ? "4" : str_eq(state, "in_progress") ? "2" : "1");
	if (done || wont)
		set(o, "close_notes", SN_CLOSE_NOTES);
}

void sn_body_state(const struct sn_conn *s, struct json_object *o, const char *state, bool create)
{
	if (sn_is_task(s)) {
		if (s->legacy_states)
			task_legacy_state(o, state);
		else if (create)
			set(o, "state", SN_TASK_NEW); /* the walk takes it on (sn_task_step) */
		return;
	}
	const char *st, *code = NULL;
	bool legacy = s->legacy_states;
	if (str_eq(state, "in_progress"))
		st = legacy ? "2" : "104";
	else if (str_eq(state, "done"))
		st = legacy ? "4" : "106", code = "fix_applied";
	else if (str_eq(state, "wont_do"))
		st = legacy ? "4" : "106", code = "risk_accepted";
	else
		st = legacy ? "1" : "101";
	set(o, "state", st);
	if (code) {
		set(o, "resolution_code", code);
		set(o, "close_notes", SN_CLOSE_NOTES);
	}
}

/* The next state on the way from n (close code code) to want, or NULL
 * when the task is there: see the model above. */
static const char *task_next(long n, const char *code, const char *want)
{
	bool closed = n == 157, canceled = closed && str_eq(code, SN_TASK_WONT_CODE);
	if (str_eq(want, "done")) {
		if (closed)
			return canceled ? SN_TASK_ASSESS : NULL;
		return n == 154 ? SN_TASK_CLOSED : n == 152 ? SN_TASK_WIP : SN_TASK_ASSESS;
	}
	if (str_eq(want, "wont_do")) {
		if (closed)
			return canceled ? NULL : SN_TASK_ASSESS;
		return n == 152 || n == 154 ? SN_TASK_CLOSED : SN_TASK_ASSESS;
	}
	if (str_eq(want, "in_progress"))
		return n == 154 ? NULL : n == 152 ? SN_TASK_WIP : SN_TASK_ASSESS;
	/* open */
	return n == 151 || n == 152 ? NULL : SN_TASK_ASSESS;
}

char *sn_task_step(const struct sn_conn *s, struct json_object *rec, const char *want)
{
	if (!want || str_eq(sn_state_from_record(s, rec), want))
		return NULL;
	struct json_object *o = json_object_new_object();
	if (s->legacy_states) {
		task_legacy_state(o, want);
	} else {
		const char *next = task_next(state_num(sn_rec_str(rec, "state")),
		                             sn_rec_str(rec, "close_code"), want);
		if (!next) {
			json_object_put(o);
			return NULL;
		}
		set(o, "state", next);
		if (str_eq(next, SN_TASK_CLOSED)) {
			set(o, "close_code", str_eq(want, "done") ? SN_TASK_DONE_CODE : SN_TASK_WONT_CODE);
			set(o, "close_notes", SN_CLOSE_NOTES);
		}
	}
	char *t = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return t;
}
