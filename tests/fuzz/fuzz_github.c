/* fuzz_github.c — libFuzzer target for what GitHub sends back: the same
 * bytes go through every parser of a GitHub answer in connectors/github*.c
 *
 *   - as JSON: an issue object, a page of issues (array) or a search
 *     answer ({"items": [...]}), each element through
 *     gh_issue_is_pull_request and gh_issue_to_remote, and the parsed
 *     labels/assignees back through gh_labels_json/gh_assignees_json
 *     (what an update sends from the foreign labels it kept);
 *   - as an issue body: gh_body_parse (the closeloop block, token, item,
 *     due date) and gh_description_normalise;
 *   - as a Link header value: gh_link_find for next and last;
 *   - as an HTTP answer (header lines, an empty line, a body):
 *     gh_is_rate_limited, gh_rate_limit_wait_ms, gh_note_budget and
 *     gh_error_detail (rate-limit headers and error bodies).
 *
 * Seeds: tests/fuzz/corpus/github (answers of the simulator and bodies in
 * the shapes docs/reconcile.md describes).  Nothing may crash, leak, read
 * out of bounds or overflow (UBSan). */
#include <json-c/json.h>

#include "connector.h"
#include "fuzz_common.h"
#include "github_body.h"

static void one_issue(struct json_object *o)
{
	struct conn_remote rem;
	const char *err = NULL;
	(void)gh_issue_is_pull_request(o);
	if (gh_issue_to_remote(o, "fuzz/repo", &rem, &err) == 0) {
		if (!rem.remote_id || !rem.key)
			__builtin_trap();
		json_object_put(gh_labels_json(&rem.fields, rem.extra));
		json_object_put(gh_assignees_json(rem.fields.v[ITEM_F_OWNER], rem.extra));
		conn_remote_free(&rem);
	} else if (!err) {
		__builtin_trap(); /* a refusal names what was wrong */
	}
}

static void as_json(const char *s)
{
	struct json_object *doc = json_tokener_parse(s), *items = NULL;
	if (!doc)
		return;
	if (json_object_is_type(doc, json_type_object) &&
	    json_object_object_get_ex(doc, "items", &items) &&
	    json_object_is_type(items, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(items); i++)
			one_issue(json_object_array_get_idx(items, i));
	} else if (json_object_is_type(doc, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(doc); i++)
			one_issue(json_object_array_get_idx(doc, i));
	} else {
		one_issue(doc);
	}
	json_object_put(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	as_json(s);

	struct gh_body_parsed p;
	gh_body_parse(s, &p);
	if (p.token && !p.has_block)
		__builtin_trap();
	gh_body_parsed_free(&p);
	free(gh_description_normalise(s));

	free(gh_link_find(s, "next"));
	free(gh_link_find(s, "last"));

	static const long statuses[] = { 200, 403, 429 };
	for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
		struct http_response r;
		struct connector c;
		memset(&c, 0, sizeof(c));
		fuzz_response(data, size, statuses[k], &r);
		(void)gh_is_rate_limited(&r);
		(void)gh_rate_limit_wait_ms(&r, 1767225600000LL);
		gh_note_budget(&c, &r);
		free(gh_error_detail(r.body));
		fuzz_response_free(&r);
	}
	free(s);
	return 0;
}
