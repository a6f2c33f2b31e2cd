/* impclass.c — what a heading or a bold label means to the importer
 * (see impparse.h, impc_classify).
 *
 * Headings are recognised by meaning, not by prefix: the text is lower
 * cased, every non-alphanumeric byte becomes a space, and whole-word
 * phrases are looked for anywhere in it.  The phrase lists come from the
 * postmortem templates and public postmortems this importer is built for
 * (Google SRE book, PagerDuty, Atlassian, GitLab, DFDS, etcd, ...):
 *   - action phrases: "Action items", "Follow-ups", "Corrective actions",
 *     "Remediation", "Next steps", "Fixes (max 3)", "Prevention", "How are we preventing it
 *     from happening again?", "Future actions", "Improvements", ...;
 *   - vetoes that win over an action phrase: a timeline ("Follow-up
 *     timeline"), "not action items", actions *taken* during the incident
 *     and fixes already "deployed" or "applied",
 *     "what went well / wrong", "where we got lucky";
 *   - narrative sections ("Lessons learned", "Root cause", "Impact", ...)
 *     that are excluded unless an action phrase is in the same heading
 *     ("Lessons learned and action items").
 * A horizon (Immediate / Short-term / Medium-term / Long-term) and a state
 * ("(completed)", "Done", "In progress") are read from any heading or
 * label; the walk applies them to the items of the group they head.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "impparse.h"

static const char *const action_phrases[] = {
	"action item", "action items", "actionitems", "action", "actions", "action plan",
	"follow up", "follow ups", "followup", "followups", "follow up items",
	"corrective", "remediation", "remediations", "next step", "next steps",
	"todo", "to do", "todos", "prevention", "preventive", "preventative",
	"preventing it", "preventing this", "preventing recurrence", "prevent it",
	"prevent this", "prevent recurrence", "prevent future", "to prevent", "improvements", "improvement", "future work",
	"repair items", "what we are doing", "what we re doing", "what were doing",
	"what we will do", "going forward", "stop this happening", "stop it happening",
	"stop this from happening", "stop it from happening", "prevent this happening",
	"doing about it", "recommendations", "recommended actions", "remediation plan",
	"tasks", "post incident tasks", "preventive measures", "preventative measures",
	"fixes", "planned fixes", "permanent fixes", "actionables", "actionable items",
	"action points", "action point",
};

/* win over any action phrase */
static const char *const veto_phrases[] = {
	"timeline", "not action", "not actions", "non action", "taken", "went well",
	"went wrong", "got lucky", "were lucky", "performed", "didnt go", "go well",
	"gone better", "go better", "could have been better", "deployed", "applied",
};

/* win over an action phrase in a heading of its own ("Appendix: follow-up
 * meeting notes"), but not as a sub-heading of an action section ("Notes
 * on remediation" there is more of the section) */
static const char *const weak_veto_phrases[] = {
	"notes", "meeting", "appendix", "attendees", "minutes",
};

/* narrative sections: excluded unless an action phrase is also there */
static const char *const narrative_phrases[] = {
	"lessons", "lesson", "learned", "learnt", "learnings", "root cause", "root causes",
	"background", "supporting information", "glossary", "contributing factors",
	"what happened", "questions", "appendix",
};

/* a group's type: "### Detection" under "Action items" */
static const struct { const char *phrase; const char *type; } types[] = {
	{ "prevent", "prevent" }, { "prevention", "prevent" }, { "preventive", "prevent" },
	{ "preventative", "prevent" }, { "detect", "detect" }, { "detection", "detect" },
	{ "monitoring", "detect" }, { "alerting", "detect" }, { "mitigate", "mitigate" },
	{ "mitigation", "mitigate" }, { "mitigations", "mitigate" }, { "process", "process" },
};

static const struct { const char *phrase; const char *horizon; } horizons[] = {
	{ "immediate", "Immediate" }, { "short term", "Short-term" },
	{ "shortterm", "Short-term" }, { "near term", "Short-term" },
	{ "medium term", "Medium-term" }, { "mid term", "Medium-term" },
	{ "long term", "Long-term" }, { "longer term", "Long-term" },
	{ "longterm", "Long-term" },
};

static const struct { const char *phrase; int state; } states[] = {
	{ "completed", ITEM_STATE_DONE }, { "complete", ITEM_STATE_DONE },
	{ "done", ITEM_STATE_DONE }, { "finished", ITEM_STATE_DONE },
	{ "resolved", ITEM_STATE_DONE }, { "closed", ITEM_STATE_DONE },
	{ "in progress", ITEM_STATE_IN_PROGRESS }, { "ongoing", ITEM_STATE_IN_PROGRESS },
	{ "wip", ITEM_STATE_IN_PROGRESS }, { "underway", ITEM_STATE_IN_PROGRESS },
	{ "not started", ITEM_STATE_OPEN }, { "pending", ITEM_STATE_OPEN },
	{ "open", ITEM_STATE_OPEN }, { "planned", ITEM_STATE_OPEN },
	{ "not doing", ITEM_STATE_WONT_DO }, { "wont fix", ITEM_STATE_WONT_DO },
	{ "won t fix", ITEM_STATE_WONT_DO }, { "wontfix", ITEM_STATE_WONT_DO },
	{ "wont do", ITEM_STATE_WONT_DO }, { "won t do", ITEM_STATE_WONT_DO },
	{ "cancelled", ITEM_STATE_WONT_DO }, { "canceled", ITEM_STATE_WONT_DO },
	{ "dropped", ITEM_STATE_WONT_DO },
};

/* " words of s " : lower case, alphanumerics only, single spaces, padded
 * with one space each side so " phrase " finds whole words. */
static char *words_of(const char *s)
{
	size_t n = strlen(s);
	char *w = xmalloc(n + 3);
	size_t o = 0;
	w[o++] = ' ';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c)) {
			w[o++] = (char)tolower(c);
		} else if (c == '\'' || (c == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
		                         (unsigned char)s[i + 2] == 0x99)) {
			continue;   /* "won't", "we're": one word */
		} else if (w[o - 1] != ' ') {
			w[o++] = ' ';
		}
	}
	if (w[o - 1] != ' ')
		w[o++] = ' ';
	w[o] = '\0';
	return w;
}

static bool has_phrase(const char *words, const char *phrase)
{
	size_t l = strlen(phrase);
	for (const char *p = strstr(words, phrase); p; p = strstr(p + 1, phrase))
		if (p[-1] == ' ' && p[l] == ' ')
			return true;
	return false;
}

static bool any_phrase(const char *words, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (has_phrase(words, list[i]))
			return true;
	return false;
}

void impc_classify(const char *text, struct impc_info *out)
{
	char *w = words_of(text ? text : "");
	/* leading numbering: "3 action items", "iv next steps" stay words;
	 * digits alone never match a phrase, so nothing to strip */
	out->cls = IMPC_NONE;
	out->horizon = NULL;
	out->state = -1;
	out->type = NULL;
	bool action = any_phrase(w, action_phrases, ARRAY_SIZE(action_phrases));
	out->weak = false;
	if (any_phrase(w, veto_phrases, ARRAY_SIZE(veto_phrases)))
		out->cls = IMPC_EXCLUDED;
	else if (any_phrase(w, weak_veto_phrases, ARRAY_SIZE(weak_veto_phrases)))
		out->cls = IMPC_EXCLUDED, out->weak = true;
	else if (action)
		out->cls = IMPC_ACTIONS;
	else if (any_phrase(w, narrative_phrases, ARRAY_SIZE(narrative_phrases)))
		out->cls = IMPC_EXCLUDED;
	for (size_t i = 0; i < ARRAY_SIZE(horizons) && !out->horizon; i++)
		if (has_phrase(w, horizons[i].phrase))
			out->horizon = horizons[i].horizon;
	for (size_t i = 0; i < ARRAY_SIZE(states) && out->state < 0; i++)
		if (has_phrase(w, states[i].phrase))
			out->state = states[i].state;
	/* "Corrective and preventative measures" names no single type */
	bool mixed = has_phrase(w, "corrective") || has_phrase(w, "remediation") ||
	             has_phrase(w, "remediations");
	for (size_t i = 0; i < ARRAY_SIZE(types) && !out->type && !mixed; i++)
		if (has_phrase(w, types[i].phrase))
			out->type = types[i].type;
	free(w);
}

/* Words a group label is made of ("Review actions", "Short-term",
 * "Immediate actions (completed)", "Detection and monitoring"); a label
 * with any other word ("Improve alerting") is an item's title. */
static const char *const group_words[] = {
	"action", "actions", "item", "items", "follow", "up", "ups", "followup", "followups",
	"corrective", "remediation", "remediations", "next", "step", "steps", "todo", "todos",
	"to", "do", "prevent", "prevention", "preventive", "preventative", "preventing",
	"improvement", "improvements", "future", "work", "immediate", "short", "long",
	"longer", "medium", "mid", "near", "term", "shortterm", "longterm", "completed",
	"complete", "done", "finished", "resolved", "closed", "in", "progress", "ongoing",
	"wip", "not", "started", "pending", "open", "planned", "wont", "cancelled",
	"canceled", "dropped", "wontfix", "detection", "detect", "monitoring", "alerting",
	"mitigation", "mitigations", "mitigate", "process", "review", "and", "the", "of",
	"for", "tasks", "task", "other", "repair", "following", "postmortem", "incident",
	"this", "we", "are", "doing", "what", "will", "plan", "going", "forward", "how",
	"it", "happening", "again", "key", "list", "proposed", "recommended", "our",
	"from", "after", "further", "additional", "remaining", "new", "general", "a",
	"taken", "items:", "s", "fixes", "permanent", "max", "actionables", "actionable",
	"point", "points",
};

bool impc_is_group(const char *text)
{
	struct impc_info ci;
	impc_classify(text, &ci);
	if (ci.cls == IMPC_EXCLUDED)
		return false;
	if (!(ci.cls == IMPC_ACTIONS || ci.horizon || ci.state >= 0 || ci.type))
		return false;
	char *w = words_of(text ? text : ""), *save = NULL;
	bool all = true;
	for (char *t = strtok_r(w, " ", &save); t && all; t = strtok_r(NULL, " ", &save)) {
		bool known = strspn(t, "0123456789") == strlen(t);
		for (size_t i = 0; i < ARRAY_SIZE(group_words) && !known; i++)
			known = strcmp(t, group_words[i]) == 0;
		all = known;
	}
	free(w);
	return all;
}
