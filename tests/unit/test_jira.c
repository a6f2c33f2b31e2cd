/* test_jira.c — the Jira connector's description mapping
 * (connectors/jira_adf.h): Markdown becomes the Atlassian Document Format
 * REST v3 takes (headings, paragraphs, marks, links, lists, code, quotes,
 * rules), the ADF Jira returns becomes Markdown again, a round trip keeps
 * what closeloop writes, and the normaliser is stable (normalising twice
 * gives the same text), so a round trip is never taken for an edit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jira_adf.h"

static const char SAMPLE[] =
	"## Why\n"
	"\n"
	"The *pager* did not fire: see **runbook** `page.sh` and "
	"[the postmortem](https://wiki.example.com/PM-4).\n"
	"\n"
	"- first\n"
	"- second\n"
	"  - nested\n"
	"\n"
	"3. three\n"
	"4. four\n"
	"\n"
	"```sh\n"
	"kubectl get pods\n"
	"echo done\n"
	"```\n"
	"\n"
	"> quoted\n"
	"\n"
	"---\n"
	"\n"
	"Plain <https://example.com/x> end.\n";

static struct json_object *path(struct json_object *o, const char *p)
{
	/* "content.1.attrs.level": keys and array indexes */
	char *copy = strdup(p), *save = NULL;
	for (char *k = strtok_r(copy, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)strtoul(k, NULL, 10));
		else if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	}
	free(copy);
	return o;
}

static const char *str_at(struct json_object *o, const char *p)
{
	struct json_object *v = path(o, p);
	return v ? json_object_get_string(v) : "(missing)";
}

static void test_markdown_to_adf(void **state)
{
	struct json_object *doc = NULL;
	(void)state;
	assert_int_equal(jira_adf_from_markdown(SAMPLE, &doc), 0);
	assert_string_equal(str_at(doc, "type"), "doc");
	assert_int_equal(json_object_get_int(path(doc, "version")), 1);
	assert_string_equal(str_at(doc, "content.0.type"), "heading");
	assert_int_equal(json_object_get_int(path(doc, "content.0.attrs.level")), 2);
	assert_string_equal(str_at(doc, "content.0.content.0.text"), "Why");
	/* paragraph: "The ", em "pager", ..., strong, code, link */
	assert_string_equal(str_at(doc, "content.1.type"), "paragraph");
	assert_string_equal(str_at(doc, "content.1.content.1.text"), "pager");
	assert_string_equal(str_at(doc, "content.1.content.1.marks.0.type"), "em");
	assert_string_equal(str_at(doc, "content.1.content.3.marks.0.type"), "strong");
	assert_string_equal(str_at(doc, "content.1.content.5.text"), "page.sh");
	assert_string_equal(str_at(doc, "content.1.content.5.marks.0.type"), "code");
	assert_string_equal(str_at(doc, "content.1.content.7.text"), "the postmortem");
	assert_string_equal(str_at(doc, "content.1.content.7.marks.0.attrs.href"),
	                    "https://wiki.example.com/PM-4");
	/* lists: items hold paragraphs (ADF requires them), nesting kept */
	assert_string_equal(str_at(doc, "content.2.type"), "bulletList");
	assert_string_equal(str_at(doc, "content.2.content.0.type"), "listItem");
	assert_string_equal(str_at(doc, "content.2.content.0.content.0.type"), "paragraph");
	assert_string_equal(str_at(doc, "content.2.content.1.content.1.type"), "bulletList");
	assert_string_equal(str_at(doc, "content.2.content.1.content.1.content.0.content.0.content.0.text"),
	                    "nested");
	assert_string_equal(str_at(doc, "content.3.type"), "orderedList");
	assert_int_equal(json_object_get_int(path(doc, "content.3.attrs.order")), 3);
	assert_string_equal(str_at(doc, "content.4.type"), "codeBlock");
	assert_string_equal(str_at(doc, "content.4.attrs.language"), "sh");
	assert_string_equal(str_at(doc, "content.4.content.0.text"), "kubectl get pods\necho done");
	assert_string_equal(str_at(doc, "content.5.type"), "blockquote");
	assert_string_equal(str_at(doc, "content.6.type"), "rule");
	assert_null(path(doc, "content.6.content"));
	assert_string_equal(str_at(doc, "content.7.content.1.marks.0.attrs.href"), "https://example.com/x");
	json_object_put(doc);
}

static void test_round_trip_keeps_markdown(void **state)
{
	struct json_object *doc = NULL;
	char *md = NULL;
	const char *err = NULL;
	(void)state;
	assert_int_equal(jira_adf_from_markdown(SAMPLE, &doc), 0);
	assert_int_equal(jira_adf_to_markdown(doc, &md, &err), 0);
	/* the sample is already in normal form: it comes back byte for byte
	 * (but for the final newline) */
	assert_int_equal(strncmp(md, SAMPLE, strlen(SAMPLE) - 1), 0);
	assert_int_equal(strlen(md), strlen(SAMPLE) - 1);
	free(md);
	json_object_put(doc);
}

static void test_normalise_is_stable(void **state)
{
	const char *inputs[] = {
		SAMPLE,
		"snake_case and _under_ and a*b and R&D and &amp; and \\*not em\\*",
		"line one\nline two  \nline three",
		"Heading\n=======\n\ntext",
		"* loose\n\n* list\n\n      indented code\n",
		"1. one\n1. two\n\n2) paren\n",
		"# 1. not a list\n\n\\# not a heading\n\n\\- not an item\n\n10\\. not ordered",
		"**bold *and em* inside** and ***both***",
		"[link **bold**](http://x.example/a_b) and `` a ` tick ``",
		"> quote\n>\n> - list in quote\n\nafter",
		"<b>html</b> stays text",
		"```\n``` inside ~~~ code\n```",
		"- a\n\n  second paragraph\n- b",
		"",
		"   ",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		char *n1 = jira_description_normalise(inputs[i]);
		char *n2 = jira_description_normalise(n1);
		if (!(n1 == NULL && n2 == NULL) && !(n1 && n2 && strcmp(n1, n2) == 0))
			fail_msg("input %zu not stable:\n[%s]\n--- then ---\n[%s]", i,
			         n1 ? n1 : "(null)", n2 ? n2 : "(null)");
		free(n1);
		free(n2);
	}
	assert_null(jira_description_normalise(NULL));
	assert_null(jira_description_normalise(""));
	char *n = jira_description_normalise("snake_case R&D a*b");
	assert_string_equal(n, "snake_case R&D a\\*b");
	free(n);
	n = jira_description_normalise("one\ntwo");
	assert_string_equal(n, "one\ntwo");
	free(n);
}

/* Every postmortem of the fixtures (real-world Markdown: tables, HTML,
 * nested lists) normalises to a fixed point. */
static void test_normalise_fixtures(void **state)
{
	glob_t g;
	size_t checked = 0;
	(void)state;
	assert_int_equal(glob(FIXTURES "/postmortems/*/*.md", 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");
		char *text = NULL;
		size_t cap = 0;
		assert_non_null(f);
		if (getdelim(&text, &cap, '\0', f) < 0) { /* an empty file */
			assert_true(feof(f));
			free(text);
			text = strdup("");
		}
		fclose(f);
		char *n1 = jira_description_normalise(text);
		char *n2 = jira_description_normalise(n1);
		if (!(n1 == NULL && n2 == NULL) && !(n1 && n2 && strcmp(n1, n2) == 0))
			fail_msg("%s does not normalise to a fixed point", g.gl_pathv[i]);
		free(n1);
		free(n2);
		free(text);
		checked++;
	}
	globfree(&g);
	assert_true(checked >= 3);
}

/* ADF written in Jira's editor: nodes closeloop never writes come back as
 * their text; not-ADF is refused with a reason. */
static void test_jira_authored_adf(void **state)
{
	const char *text =
		"{\"type\":\"doc\",\"version\":1,\"content\":["
		"{\"type\":\"paragraph\",\"content\":["
		"{\"type\":\"text\",\"text\":\"ask \"},"
		"{\"type\":\"mention\",\"attrs\":{\"id\":\"5b10\",\"text\":\"@Ana\"}},"
		"{\"type\":\"text\",\"text\":\" \"},"
		"{\"type\":\"emoji\",\"attrs\":{\"shortName\":\":tada:\"}},"
		"{\"type\":\"hardBreak\"},"
		"{\"type\":\"text\",\"text\":\"bold \",\"marks\":[{\"type\":\"strong\"}]},"
		"{\"type\":\"text\",\"text\":\"x\"}]},"
		"{\"type\":\"panel\",\"attrs\":{\"panelType\":\"info\"},\"content\":["
		"{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"# in panel\"}]}]},"
		"{\"type\":\"paragraph\"}]}";
	struct json_object *doc = json_tokener_parse(text);
	char *md = NULL;
	const char *err = NULL;
	(void)state;
	assert_non_null(doc);
	assert_int_equal(jira_adf_to_markdown(doc, &md, &err), 0);
	assert_string_equal(md, "ask @Ana :tada:\n**bold** x\n\n\\# in panel");
	free(md);
	json_object_put(doc);

	doc = json_tokener_parse("{\"type\":\"paragraph\",\"content\":[]}");
	assert_int_equal(jira_adf_to_markdown(doc, &md, &err), -EINVAL);
	assert_null(md);
	assert_string_equal(err, "not an ADF document: type is not \"doc\"");
	json_object_put(doc);
	doc = json_tokener_parse("{\"type\":\"doc\",\"version\":1}");
	assert_int_equal(jira_adf_to_markdown(doc, &md, &err), -EINVAL);
	assert_string_equal(err, "not an ADF document: content is not an array");
	json_object_put(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_markdown_to_adf),
		cmocka_unit_test(test_round_trip_keeps_markdown),
		cmocka_unit_test(test_normalise_is_stable),
		cmocka_unit_test(test_normalise_fixtures),
		cmocka_unit_test(test_jira_authored_adf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
