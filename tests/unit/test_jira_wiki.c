/* test_jira_wiki.c — the Jira Data Center description mapping
 * (connectors/jira_wiki.h): Markdown becomes the wiki markup REST v2 takes
 * (headings, marks, links, lists, code, quotes, rules, mentions), wiki
 * markup written by people in Jira becomes Markdown, and the normaliser
 * is stable (normalising twice gives the same text) on samples and on
 * every postmortem of the fixtures, so a round trip is never an edit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jira_wiki.h"

static const char SAMPLE_MD[] =
	"## Why\n"
	"\n"
	"The *pager* did not fire: see **runbook** `page.sh` and "
	"[the postmortem](https://wiki.example.com/PM-4).\n"
	"\n"
	"- first\n"
	"- second\n"
	"  - nested\n"
	"\n"
	"1. one\n"
	"2. two\n"
	"\n"
	"```sh\n"
	"kubectl get pods\n"
	"```\n"
	"\n"
	"> quoted\n"
	"\n"
	"---\n"
	"\n"
	"Plain <https://example.com/x> end, cc [~jdoe].\n";

static const char SAMPLE_WIKI[] =
	"h2. Why\n"
	"\n"
	"The _pager_ did not fire: see *runbook* {{page.sh}} and "
	"[the postmortem|https://wiki.example.com/PM-4].\n"
	"\n"
	"* first\n"
	"* second\n"
	"** nested\n"
	"\n"
	"# one\n"
	"# two\n"
	"\n"
	"{code:sh}\n"
	"kubectl get pods\n"
	"{code}\n"
	"\n"
	"{quote}\n"
	"quoted\n"
	"{quote}\n"
	"\n"
	"----\n"
	"\n"
	"Plain [https://example.com/x] end, cc [~jdoe].";

static void test_markdown_to_wiki(void **state)
{
	(void)state;
	char *w = jira_wiki_from_markdown(SAMPLE_MD);
	assert_non_null(w);
	assert_string_equal(w, SAMPLE_WIKI);
	free(w);
	/* what would read as notation is escaped; a mention is not */
	w = jira_wiki_from_markdown("a \\*star\\*, {braces}, [x], a|b, - dash at start\n\n"
	                            "\\- item? no\n\n\\# no\n\nh1. not a heading, 2026-12-02");
	assert_non_null(w);
	assert_string_equal(w, "a \\*star\\*, \\{braces\\}, \\[x\\], a\\|b, - dash at start\n\n"
	                       "\\- item? no\n\n\\# no\n\n\\h1. not a heading, 2026-12-02");
	free(w);
	/* marks touching a word take the {*} form */
	w = jira_wiki_from_markdown("**bold**ly and *em*phasis");
	assert_string_equal(w, "{*}bold{*}ly and {_}em{_}phasis");
	free(w);
}

static void test_wiki_to_markdown(void **state)
{
	(void)state;
	char *md = jira_wiki_to_markdown(SAMPLE_WIKI);
	assert_non_null(md);
	char *want = jira_wiki_description_normalise(SAMPLE_MD);
	assert_string_equal(md, want);
	free(want);
	free(md);
	/* as people write it in Jira: CR LF, bq., noformat, "- " items,
	 * {code:title=...}, a continuation line, notation closeloop does not
	 * write kept as text */
	md = jira_wiki_to_markdown("h3. Steps\r\n"
	                           "- one\r\n"
	                           "still one\r\n"
	                           "*# mixed\r\n"
	                           "\r\n"
	                           "bq. a quote\r\n"
	                           "{noformat}raw *x*{noformat}\r\n"
	                           "{code:title=Run.java|borderStyle=solid}\r\nrun();\r\n{code}\r\n"
	                           "-strike- +under+ {color:red}red{color} a*b*c");
	assert_non_null(md);
	assert_string_equal(md, "### Steps\n"
	                        "\n"
	                        "- one\n"
	                        "  still one\n"
	                        "  1. mixed\n"
	                        "\n"
	                        "> a quote\n"
	                        "\n"
	                        "```\n"
	                        "raw *x*\n"
	                        "```\n"
	                        "\n"
	                        "```\n"
	                        "run();\n"
	                        "```\n"
	                        "\n"
	                        "\\-strike- +under+ {color:red}red{color} a\\*b\\*c");
	free(md);
	md = jira_wiki_to_markdown(NULL);
	assert_string_equal(md, "");
	free(md);
}

static void check_stable(const char *what, const char *text)
{
	char *n1 = jira_wiki_description_normalise(text);
	char *n2 = jira_wiki_description_normalise(n1);
	if (!(n1 == NULL && n2 == NULL) && !(n1 && n2 && strcmp(n1, n2) == 0))
		fail_msg("%s not stable:\n[%s]\n--- then ---\n[%s]", what, n1 ? n1 : "(null)",
		         n2 ? n2 : "(null)");
	free(n1);
	free(n2);
}

static void test_normalise_is_stable(void **state)
{
	const char *inputs[] = {
		SAMPLE_MD,
		"snake_case and _under_ and a*b and R&D and &amp; and \\*not em\\*",
		"line one\nline two  \nline three",
		"Heading\n=======\n\ntext",
		"* loose\n\n* list\n\n      indented code\n",
		"1. one\n1. two\n\n2) paren\n",
		"# 1. not a list\n\n\\# not a heading\n\n\\- not an item\n\n10\\. not ordered",
		"**bold *and em* inside** and ***both***",
		"[link **bold**](http://x.example/a_b|c]d) and `` a ` tick `` and `{{x}}`",
		"> quote\n>\n> - list in quote\n>\n> > nested\n\nafter",
		"<b>html</b> stays text",
		"```\n{code} inside\n```",
		"- a\n\n  second paragraph\n\n  ```\n  code in item\n  ```\n- b",
		"a -b- c +d+ ^e^ ~f~ ??g?? !img.png! x!",
		"cc [~jdoe] and [~j.doe@example.com] and [~]",
		"**a**b *c*d e**f**",
		"# T* **b** [litle\n\n* a\n* *", /* fuzz_jira: an empty nested item */
		"- a\n  `hs@\n`\n  ls", /* fuzz_jira: a space before a line break */
		/* fuzz_jira: emphasis around a vertical tab settles on a
		 * second round trip (the normaliser iterates to a fixed point) */
		"h2. Why\n\nThe _pager_ did# Title\n\n\xaa a\n* \x88* not fire: see *ru{k?nb oo{page.sh}} and [the postmortem|https://wiki.example.com/PM-4], cc [~jdoe].\n\x0b* first\n** nesteond codeBlockxed\ncont.b** [ld# Title\na\n* **b** [l](httPs://x)\n\n```\n> quote\n\n0. one\n3. tw[l](https://x)\n\n```sh\nls 0 7",
		"",
		"   ",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		char what[32];
		snprintf(what, sizeof(what), "input %zu", i);
		check_stable(what, inputs[i]);
	}
	assert_null(jira_wiki_description_normalise(NULL));
	assert_null(jira_wiki_description_normalise(""));
	char *n = jira_wiki_description_normalise("- a\n\n  b");
	assert_string_equal(n, "- a\n  b"); /* an item holds one paragraph */
	free(n);
}

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
		if (getdelim(&text, &cap, '\0', f) < 0) {
			free(text);
			text = strdup("");
		}
		fclose(f);
		check_stable(g.gl_pathv[i], text);
		free(text);
		checked++;
	}
	globfree(&g);
	assert_true(checked >= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_markdown_to_wiki),
		cmocka_unit_test(test_wiki_to_markdown),
		cmocka_unit_test(test_normalise_is_stable),
		cmocka_unit_test(test_normalise_fixtures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
