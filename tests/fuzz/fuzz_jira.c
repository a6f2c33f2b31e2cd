/* fuzz_jira.c — libFuzzer target for what Jira Cloud and Jira Data Center
 * send back and for the Markdown <-> ADF and Markdown <-> wiki markup
 * mappings: the bytes as JSON through jira_adf_to_markdown (a description
 * or comment in Atlassian Document Format), jira_issue_to_remote as both
 * flavors (an IssueBean, or each of a search answer's "issues"; a Data
 * Center description is a wiki markup string), jira_pick_transition (a
 * transitions answer), jira_search_page_last as both flavors (a listing's
 * page) and jira_discover_apply (a discovery search's answer); as Markdown through jira_adf_from_markdown,
 * jira_description_normalise and jira_wiki_description_normalise (the
 * round trips a description makes; the wiki one must be a fixed point
 * after one pass, or a round trip would read as an edit); as wiki markup
 * through jira_wiki_to_markdown (a Data Center description or comment).
 *
 * Seeds: tests/fuzz/corpus/jira.  Nothing may crash, leak, read out of
 * bounds or overflow; a refusal says why. */
#include <json-c/json.h>

#include "connector.h"
#include "fuzz_common.h"
#include "jira_adf.h"
#include "jira_discover.h"
#include "jira_fields.h"
#include "jira_transition.h"
#include "jira_wiki.h"

static void one_issue(struct json_object *o)
{
	static char p0[] = "Highest", p1[] = "High", p2[] = "Medium", p3[] = "Low";
	static char *const prio[4] = { p0, p1, p2, p3 };
	struct conn_remote rem;
	const char *err = NULL;
	for (int fl = JIRA_CLOUD; fl <= JIRA_DC; fl++) {
		err = NULL;
		if (jira_issue_to_remote(o, prio, "https://fuzz.atlassian.net", &rem, &err,
		                         (enum jira_flavor)fl) == 0)
			conn_remote_free(&rem);
		else if (!err)
			__builtin_trap();
	}
}

static void as_json(const char *s)
{
	struct json_object *doc = json_tokener_parse(s), *issues = NULL;
	if (!doc)
		return;
	char *md = NULL;
	const char *err = NULL;
	if (jira_adf_to_markdown(doc, &md, &err) == 0) {
		if (!md)
			__builtin_trap();
		free(md);
	} else if (!err) {
		__builtin_trap();
	}
	if (json_object_object_get_ex(doc, "issues", &issues) &&
	    json_object_is_type(issues, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(issues); i++)
			one_issue(json_object_array_get_idx(issues, i));
	} else {
		one_issue(doc);
	}
	for (int fl = JIRA_CLOUD; fl <= JIRA_DC; fl++) { /* a listing's page */
		bool last = false;
		err = NULL;
		if (jira_search_page_last(doc, (enum jira_flavor)fl, 3, &last, &err) < 0 && !err)
			__builtin_trap();
	}
	{ /* a discovery search's answer over three listed issues */
		struct conn_remote items[3] = { { .remote_id = (char *)"10001" },
		                                { .remote_id = (char *)"10002" },
		                                { .remote_id = (char *)"10010" } };
		int next = -1;
		err = NULL;
		if (jira_discover_apply(doc, items, 3, true, &next, &err) < 0 && !err)
			__builtin_trap();
		for (int i = 0; i < 3; i++)
			free(items[i].refs);
	}
	static const char *const wants[] = { "open", "in_progress", "done", "wont_do" };
	for (size_t k = 0; k < sizeof(wants) / sizeof(wants[0]); k++) {
		char *id = NULL, *why = NULL;
		(void)!jira_pick_transition(doc, wants[k], &id, &why);
		free(id);
		free(why);
	}
	json_object_put(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	as_json(s);
	struct json_object *adf = NULL;
	if (jira_adf_from_markdown(s, &adf) == 0) {
		char *md = NULL;
		const char *err = NULL;
		/* what we render must read back */
		if (jira_adf_to_markdown(adf, &md, &err) < 0)
			__builtin_trap();
		free(md);
		json_object_put(adf);
	}
	free(jira_description_normalise(s));
	char *w1 = jira_wiki_description_normalise(s);
	char *w2 = jira_wiki_description_normalise(w1);
	if ((w1 == NULL) != (w2 == NULL) || (w1 && strcmp(w1, w2) != 0))
		__builtin_trap(); /* not a fixed point: every sync would push it */
	free(w1);
	free(w2);
	free(jira_wiki_to_markdown(s));
	free(s);
	return 0;
}
