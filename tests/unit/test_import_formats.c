/* test_import_formats.c — the postmortem styles the importer reads, each
 * on a document written in that style (tests/fixtures/postmortems/formats),
 * and precision / recall / field accuracy on those documents and on the
 * real postmortems in examples/ (tests/fixtures/postmortems/examples.expected
 * and formats/NAME.expected say what a reader finds in each document).
 *
 * Expected files: one action item a line, tab-separated
 *   [file TAB] state TAB title TAB owner TAB due TAB refs(owner/repo#N,...)
 * ("#" starts a comment line).  An item is found when its title matches
 * (case-insensitive, white space collapsed); its fields are right when
 * state, owner, due date and ticket references all match. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "importer.h"
#include "imptext.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif
#define FMT_DIR FIXTURES "/postmortems/formats"
#define EXAMPLES "examples/postmortems"
/* floors for test_blind_scores, percent */
#define BLIND_PRECISION 95
#define BLIND_RECALL 95
#define BLIND_FIELDS 95

struct exp_item {
	char *file, *state, *title, *owner, *due, *refs;
	bool used;
};

struct score {
	int found, expected, matched, fields_ok;
};

static char *field(char **save)
{
	char *f = strsep(save, "\t");
	return xstrdup(f ? f : "");
}

/* Expected items of one document (file NULL: the file has no file column). */
static struct exp_item *load_expected(const char *path, const char *file, size_t *n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	struct exp_item *v = NULL;
	char line[2048];
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *save = line;
		struct exp_item e = { 0 };
		e.file = file ? field(&save) : xstrdup("");
		if (file && strcmp(e.file, file) != 0) {
			free(e.file);
			continue;
		}
		e.state = field(&save);
		e.title = field(&save);
		e.owner = field(&save);
		e.due = field(&save);
		e.refs = field(&save);
		v = xrealloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = e;
	}
	fclose(f);
	return v;
}

static void free_expected(struct exp_item *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].file);
		free(v[i].state);
		free(v[i].title);
		free(v[i].owner);
		free(v[i].due);
		free(v[i].refs);
	}
	free(v);
}

static char *refs_of(const struct imp_item *it)
{
	struct buf b = { 0 };
	for (size_t r = 0; r < it->n_refs; r++)
		assert_int_equal(buf_appendf(&b, "%s%s#%s", r ? "," : "", it->refs[r].target,
		                             it->refs[r].number), 0);
	return b.data ? buf_steal(&b) : xstrdup("");
}

static bool same(const char *want, const char *got)
{
	return strcmp(want, got ? got : "") == 0;
}

/* Score one parsed document against its expected items; mismatches are
 * printed so a failure says what differs. */
static void score_pm(const char *label, const struct imp_postmortem *pm, struct exp_item *ex,
                     size_t n_ex, struct score *s)
{
	s->found += pm ? (int)pm->n_items : 0;
	s->expected += (int)n_ex;
	for (size_t i = 0; pm && i < pm->n_items; i++) {
		const struct imp_item *it = &pm->items[i];
		char *const *v = it->fields.v;
		char *t = impt_collapse(v[ITEM_F_TITLE]);
		struct exp_item *e = NULL;
		for (size_t k = 0; k < n_ex && !e; k++)
			if (!ex[k].used && strcasecmp(ex[k].title, t) == 0)
				e = &ex[k];
		if (!e) {
			print_message("  %s: not an expected item: \"%s\"\n", label, t);
			free(t);
			continue;
		}
		e->used = true;
		s->matched++;
		char *refs = refs_of(it);
		if (same(e->state, v[ITEM_F_STATE]) && same(e->owner, v[ITEM_F_OWNER]) &&
		    same(e->due, v[ITEM_F_DUE_DATE]) && same(e->refs, refs))
			s->fields_ok++;
		else
			print_message("  %s: \"%s\": want %s/%s/%s/%s, got %s/%s/%s/%s\n", label, t,
			              e->state, e->owner, e->due, e->refs, v[ITEM_F_STATE],
			              v[ITEM_F_OWNER] ? v[ITEM_F_OWNER] : "",
			              v[ITEM_F_DUE_DATE] ? v[ITEM_F_DUE_DATE] : "", refs);
		free(refs);
		free(t);
	}
	for (size_t k = 0; k < n_ex; k++)
		if (!ex[k].used)
			print_message("  %s: missed \"%s\"\n", label, ex[k].title);
}

static struct imp_postmortem *parse_ok(const char *path)
{
	struct imp_postmortem *pm = NULL;
	char err[512];
	if (imp_parse_file(path, &pm, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return pm;
}

/* Parse FMT_DIR/doc, check it against its .expected, all or nothing. */
static struct imp_postmortem *check_doc(const char *doc, struct score *total)
{
	char *path = xasprintf("%s/%s", FMT_DIR, doc);
	char *exp = xasprintf("%s/%.*s.expected", FMT_DIR, (int)strcspn(doc, "."), doc);
	size_t n;
	struct exp_item *ex = load_expected(exp, NULL, &n);
	struct imp_postmortem *pm = parse_ok(path);
	struct score s = { 0 };
	score_pm(doc, pm, ex, n, &s);
	if (total) {
		total->found += s.found;
		total->expected += s.expected;
		total->matched += s.matched;
		total->fields_ok += s.fields_ok;
	}
	free_expected(ex, n);
	free(path);
	free(exp);
	assert_int_equal(s.matched, s.expected);
	assert_int_equal(s.found, s.expected);
	assert_int_equal(s.fields_ok, s.expected);
	return pm;
}

static const char *F(const struct imp_postmortem *pm, size_t i, enum item_field f)
{
	assert_true(i < pm->n_items);
	return pm->items[i].fields.v[f];
}

static void contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("\"%s\" not in \"%s\"", needle, hay ? hay : "(null)");
}

/* "- **Review actions**:" with nested bullets, inside "Lessons learned";
 * "What went well / wrong" bullets are not items. */
static void test_bold_label_list(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("bold-label-list.md", NULL);
	contains(F(pm, 1, ITEM_F_DESCRIPTION), "burn-rate alert");
	assert_string_equal(pm->severity, "SEV2");
	imp_postmortem_free(pm);
}

/* "**Action items:**" and "**Actions following review**" paragraphs
 * before lists; inline owner / due / priority / estimate. */
static void test_action_items_paragraph(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("action-items-para.md", NULL);
	assert_string_equal(F(pm, 2, ITEM_F_PRIORITY), "P1");
	assert_string_equal(F(pm, 3, ITEM_F_PRIORITY), "P2");
	assert_string_equal(pm->items[4].estimate, "2d");
	imp_postmortem_free(pm);
}

/* A single "**Action item:** text" in a paragraph. */
static void test_inline_action_item(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("inline-action.md", NULL);
	imp_postmortem_free(pm);
}

/* The Google SRE book's table: Action Item / Type / Owner / Bug, with
 * "n/a **DONE**" and "Bug 5554823 **TODO**" in the Bug column. */
static void test_sre_book_table(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("sre-book.md", NULL);
	assert_string_equal(F(pm, 0, ITEM_F_TYPE), "mitigate");
	assert_string_equal(F(pm, 2, ITEM_F_TYPE), "process");
	contains(F(pm, 1, ITEM_F_DESCRIPTION), "Ticket: Bug 5554823");
	assert_null(F(pm, 8, ITEM_F_DUE_DATE));   /* "until 2015-11-20 due to ..." is prose */
	imp_postmortem_free(pm);
}

/* Numbered bold labels: the bullets under them (deeper or at the same
 * indentation) are the description; the title is the label. */
static void test_numbered_labels(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("numbered-labels.md", NULL);
	contains(F(pm, 0, ITEM_F_DESCRIPTION), "Today the consumer count is fixed");
	contains(F(pm, 0, ITEM_F_DESCRIPTION), "scale between 4 and 40 replicas");
	contains(F(pm, 1, ITEM_F_DESCRIPTION), "lag above 5 minutes pages the on-call");
	contains(F(pm, 1, ITEM_F_DESCRIPTION), "lag above 1 minute");
	contains(F(pm, 2, ITEM_F_DESCRIPTION), "replay suite");
	imp_postmortem_free(pm);
}

/* Headings by meaning; horizons; a timeline is not an action list. */
static void test_headings_by_meaning(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("headings.md", NULL);
	assert_string_equal(pm->items[0].horizon, "Immediate");
	assert_string_equal(pm->items[2].horizon, "Short-term");
	assert_string_equal(pm->items[4].horizon, "Long-term");
	assert_null(pm->items[5].horizon);
	assert_string_equal(F(pm, 7, ITEM_F_TYPE), "prevent");   /* "## Prevention" */
	imp_postmortem_free(pm);
}

/* Every state marker; markers never stay in the title. */
static void test_state_markers(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("states.md", NULL);
	imp_postmortem_free(pm);
}

/* Front matter, inline fields, relative due dates, estimates, links,
 * bare #N against the front matter's repository. */
static void test_inline_fields(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("inline-fields.md", NULL);
	assert_string_equal(pm->reference, "PM2026-031");
	assert_string_equal(pm->team, "payments");
	assert_string_equal(pm->platform, "core");
	assert_string_equal(pm->severity, "SEV1");
	assert_string_equal(pm->status, "published");
	assert_string_equal(pm->published_date, "2026-09-01");
	assert_string_equal(pm->items[6].estimate, "20m");
	assert_string_equal(pm->items[7].estimate, "2d");
	contains(F(pm, 4, ITEM_F_DESCRIPTION), "Due: 2 weeks");
	contains(F(pm, 9, ITEM_F_DESCRIPTION), "Link: https://wiki.example.com/webhooks/replay");
	contains(F(pm, 11, ITEM_F_DESCRIPTION), "Link: https://jira.example.com/browse/PAY-77");
	imp_postmortem_free(pm);
}

/* ERB tags, HTML comments (an example section inside one), <details>. */
static void test_templated_file(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("release-checks.md.erb", NULL);
	assert_string_equal(pm->reference, "release-checks");
	assert_string_equal(pm->title, "release-checks");
	assert_string_equal(pm->published_date, "2026-08-14");
	imp_postmortem_free(pm);
}

/* Parse text as NAME; its error (if any) into err. */
static struct imp_postmortem *parse_str(const char *name, const char *text, char *err,
                                        size_t errlen)
{
	struct imp_postmortem *pm = NULL;
	err[0] = '\0';
	if (imp_parse_text(name, text, strlen(text), &pm, err, errlen) < 0)
		return NULL;
	return pm;
}

/* A template is decided by its content: a rendered postmortem whose file
 * name says "template" is read; a document of placeholders is not, and the
 * message says file:line and what to do. */
static void test_template_by_content(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("template-named-review.md.erb", NULL);
	assert_int_equal(pm->n_items, 2);
	assert_string_equal(pm->published_date, "2026-04-02");
	imp_postmortem_free(pm);

	const char *path = FIXTURES "/postmortems/synthetic/unfilled-template.md";
	char err[512];
	pm = NULL;
	assert_int_equal(imp_parse_file(path, &pm, err, sizeof(err)), -EINVAL);
	assert_null(pm);
	contains(err, FIXTURES "/postmortems/synthetic/unfilled-template.md:1: a template, "
	         "not a postmortem");
	contains(err, "fill it in");

	/* one placeholder kind is not enough to call a document a template */
	pm = parse_str("x.md", "# Outage on YYYY-MM-DD\n\n## Action items\n\n- [Fix it]\n",
	               err, sizeof(err));
	assert_null(pm);
	assert_null(strstr(err, "template"));
}

/* "(see [the runbook](url))": the group goes, the link is kept. */
static void test_link_in_parens(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("link-in-parens.md", NULL);
	contains(F(pm, 0, ITEM_F_DESCRIPTION), "Link: https://wiki.example.com/sessions");
	contains(F(pm, 1, ITEM_F_DESCRIPTION), "Link: https://docs.example.com/ttl");
	assert_true(pm->items[2].refs[0].pull);
	imp_postmortem_free(pm);
}

/* "by Mar 3": the first such day on or after the postmortem's date. */
static void test_due_without_year(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("due-no-year.md", NULL);
	/* 29 February 2027 does not exist: no due date, the text is kept */
	assert_null(F(pm, 4, ITEM_F_DUE_DATE));
	contains(F(pm, 4, ITEM_F_DESCRIPTION), "Due: --02-29 (no year written)");
	imp_postmortem_free(pm);

	char err[512];
	pm = parse_str("same-day.md", "# Sale outage\n\nDate: 2024-02-20\n\n## Action items\n\n"
	               "- Fix the cache - @a, by Feb 20\n- Add the alert - @b, by Mar 3\n"
	               "- Review the plan - @c, by Feb 19\n", err, sizeof(err));
	if (!pm)
		fail_msg("%s", err);
	assert_string_equal(F(pm, 0, ITEM_F_DUE_DATE), "2024-02-20");
	assert_string_equal(F(pm, 1, ITEM_F_DUE_DATE), "2024-03-03");
	assert_string_equal(F(pm, 2, ITEM_F_DUE_DATE), "2025-02-19");
	imp_postmortem_free(pm);

	/* without the postmortem's date the day is kept in the description */
	pm = parse_str("undated.md", "# Outage\n\n## Action items\n\n- Fix the cache - @a, "
	               "by Mar 3\n", err, sizeof(err));
	if (!pm)
		fail_msg("%s", err);
	assert_null(F(pm, 0, ITEM_F_DUE_DATE));
	assert_string_equal(F(pm, 0, ITEM_F_TITLE), "Fix the cache");
	contains(F(pm, 0, ITEM_F_DESCRIPTION), "Due: --03-03 (no year written)");
	imp_postmortem_free(pm);
}

/* <table> written as HTML: header by name, links, entities, a blank line
 * inside the table, a one-line table; a timeline table gives nothing. */
static void test_html_tables(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("html-tables.md", NULL);
	assert_int_equal(pm->n_items, 4);
	assert_int_equal(pm->items[0].line, 16);   /* its <tr> */
	assert_int_equal(pm->items[1].line, 23);
	assert_string_equal(pm->items[2].refs[0].url, "https://github.com/acme/shop/issues/88");
	imp_postmortem_free(pm);

	/* unclosed and broken markup neither crashes nor invents items */
	char err[512];
	pm = parse_str("broken.md", "# X\n\n## Action items\n\n<table><tr><td>Fix the "
	               "<a href=\"https://github.com/o/r/issues/1\">cache<td", err, sizeof(err));
	assert_null(pm);
	contains(err, "lists no action items");
}

/* action_items / follow_ups lists in YAML front matter; the Liquid loop
 * that renders them in the body is not an item. */
static void test_front_matter_actions(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = check_doc("front-matter-actions.md", NULL);
	assert_int_equal(pm->n_items, 4);
	assert_int_equal(pm->items[0].line, 9);    /* "  - title:" in the front matter */
	assert_int_equal(pm->items[3].line, 20);
	assert_string_equal(pm->title, "Queue backlog after the worker deploy");
	assert_string_equal(pm->repository, "acme/pay");
	imp_postmortem_free(pm);
}

/* YAML as libyaml reads it: a block scalar, a quoted value holding ": ",
 * a block list of teams, keys in any order; front matter that is not YAML
 * is reported and its metadata not read, the body still is. */
static void test_front_matter_yaml_forms(void **state)
{
	UNUSED(state);
	char err[512];
	struct imp_postmortem *pm = parse_str("yaml.md",
		"---\n"
		"title: \"Checkout: 502s after the TLS change\"\n"
		"teams:\n  - payments\n  - edge\n"
		"follow_ups:\n"
		"  - due_date: 2025-09-30\n"
		"    action: >-\n      Alert on certificate\n      expiry\n"
		"    assignee: \"@bilal\"\n"
		"...\n# Body\n\nText.\n", err, sizeof(err));
	assert_non_null(pm);
	assert_string_equal(pm->title, "Checkout: 502s after the TLS change");
	assert_string_equal(pm->team, "payments, edge");
	assert_int_equal(pm->n_items, 1);
	assert_string_equal(pm->items[0].fields.v[ITEM_F_TITLE], "Alert on certificate expiry");
	assert_string_equal(pm->items[0].fields.v[ITEM_F_OWNER], "bilal");
	assert_string_equal(pm->items[0].fields.v[ITEM_F_DUE_DATE], "2025-09-30");
	assert_int_equal(pm->items[0].line, 7);   /* the list item's "- due_date" */
	imp_postmortem_free(pm);

	pm = parse_str("bad.md",
		"---\ntitle: Outage: db down\nteam: [x\n---\n# Bad front matter\n\n"
		"## Action items\n\n- Fix the pool size\n", err, sizeof(err));
	assert_non_null(pm);
	assert_string_equal(pm->title, "Bad front matter");
	assert_null(pm->team);
	assert_int_equal(pm->n_items, 1);
	imp_postmortem_free(pm);
}

/* A fenced "Incident Summary" of Key: value lines gives the date (a due
 * date without a year is then read against it); a code block that is a
 * config file or a diagram gives nothing.  "Fixes (max 3)" heads an
 * action group, "Fixes deployed" does not. */
static void test_code_block_metadata_and_fixes_label(void **state)
{
	UNUSED(state);
	char err[512];
	struct imp_postmortem *pm = parse_str("fenced.md",
		"# Leaked token\n\n## Summary\n\n```\nIncident ID: INC-9\nDate: 2025-02-27\n"
		"Severity: P1\n```\n\n```yaml\nteam: not-this-one\nreplicas: 3\n```\n\n"
		"## Action items\n\n- [ ] Rotate the token - Owner: Dana - Due: Mar 7\n",
		err, sizeof(err));
	assert_non_null(pm);
	assert_string_equal(pm->published_date, "2025-02-27");
	assert_null(pm->team);
	assert_int_equal(pm->n_items, 1);
	assert_string_equal(pm->items[0].fields.v[ITEM_F_DUE_DATE], "2025-03-07");
	imp_postmortem_free(pm);

	pm = parse_str("fixes.md",
		"# Invoice run skipped\n\nDate: 2025-07-15\n\n"
		"- **Fixes deployed:**\n  - Removed the stale lock by hand\n"
		"- **Fixes (max 3):**\n  - Give the invoice lock a TTL / @mateo / Jul 22\n",
		err, sizeof(err));
	assert_non_null(pm);
	assert_int_equal(pm->n_items, 1);
	assert_string_equal(pm->items[0].fields.v[ITEM_F_TITLE], "Give the invoice lock a TTL");
	assert_string_equal(pm->items[0].fields.v[ITEM_F_OWNER], "mateo");
	assert_string_equal(pm->items[0].fields.v[ITEM_F_DUE_DATE], "2025-07-22");
	imp_postmortem_free(pm);
}

/* Paragraphs "Action point: X" under lessons learned, each an item; a
 * bullet after one whose first sentence is a state ("This has been done.
 * Sign up here.") is its state and description; "Action: restarted" in
 * a timeline is not an item.  A bold state closing an item ("**Done**")
 * and a struck item followed by its task link are done; trailing task
 * ids (T363001, "(OPS-12)") leave the title; "SHA-256" stays. */
static void test_action_point_paragraphs_and_trailing_marks(void **state)
{
	UNUSED(state);
	char err[512];
	struct imp_postmortem *pm = parse_str("ap.md",
		"# Chain split post mortem\n\n## Timeline\n\nAction: restarted the monitor.\n\n"
		"## Lessons learned\n\n### Notifications\n\nSome projects heard late.\n\n"
		"Action point: keep a list of downstream security contacts.\n"
		"- This has been done. Projects can sign up [here](https://example.org/list)\n\n"
		"### Monitoring\n\nAction point: alert when two heads disagree.\n\n"
		"- An unrelated list\n",
		err, sizeof(err));
	if (!pm)
		fail_msg("%s", err);
	assert_int_equal(pm->n_items, 2);
	assert_string_equal(pm->items[0].fields.v[ITEM_F_TITLE],
	                    "keep a list of downstream security contacts");
	assert_string_equal(pm->items[0].fields.v[ITEM_F_STATE], "done");
	contains(pm->items[0].fields.v[ITEM_F_DESCRIPTION], "Projects can sign up");
	assert_string_equal(pm->items[1].fields.v[ITEM_F_TITLE], "alert when two heads disagree");
	assert_string_equal(pm->items[1].fields.v[ITEM_F_STATE], "open");
	imp_postmortem_free(pm);

	pm = parse_str("marks.md",
		"# Search outage\n\n## Actionables\n\n"
		"- Require review of shard changes [T363001](https://phabricator.example.org/T363001)\n"
		"- Alert on unassigned shards [T363002](https://phabricator.example.org/T363002) **Done**\n"
		"- ~~Document the rollback~~ [T363003](https://phabricator.example.org/T363003)\n"
		"- Check why the health check stayed green (SRCH-12)\n"
		"- Move the index to SHA-256\n",
		err, sizeof(err));
	if (!pm)
		fail_msg("%s", err);
	assert_int_equal(pm->n_items, 5);
	assert_string_equal(pm->items[0].fields.v[ITEM_F_TITLE], "Require review of shard changes");
	assert_string_equal(pm->items[1].fields.v[ITEM_F_TITLE], "Alert on unassigned shards");
	assert_string_equal(pm->items[1].fields.v[ITEM_F_STATE], "done");
	assert_string_equal(pm->items[2].fields.v[ITEM_F_STATE], "done");
	assert_string_equal(pm->items[3].fields.v[ITEM_F_TITLE],
	                    "Check why the health check stayed green");
	assert_string_equal(pm->items[4].fields.v[ITEM_F_TITLE], "Move the index to SHA-256");
	imp_postmortem_free(pm);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of one directory, sorted. */
static char **list_dir(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("%s: %s", dir, strerror(errno));
	char **v = NULL;
	*n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		v = xrealloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(v, *n, sizeof(*v), by_name);
	return v;
}

static void print_score(const char *what, const struct score *s)
{
	print_message("  importer on %s: %d expected, %d found, %d right: "
	              "precision %.1f%%, recall %.1f%%, fields right on %.1f%% of found items\n",
	              what, s->expected, s->found, s->matched,
	              s->found ? 100.0 * s->matched / s->found : 100.0,
	              s->expected ? 100.0 * s->matched / s->expected : 100.0,
	              s->matched ? 100.0 * s->fields_ok / s->matched : 100.0);
}

/* Precision and recall on the real postmortems in examples/ (etcd and
 * DFDS: 137 items in 40 postmortems when this was written) and on the
 * format documents. */
static void test_scores(void **state)
{
	UNUSED(state);
	static const char *const sets[] = { "etcd", "dfds" };
	struct score ex = { 0 };
	int docs = 0;
	for (size_t k = 0; k < ARRAY_SIZE(sets); k++) {
		char *dir = xasprintf("%s/%s", EXAMPLES, sets[k]);
		size_t n;
		char **files = list_dir(dir, &n);
		for (size_t i = 0; i < n; i++) {
			char *path = xasprintf("%s/%s", dir, files[i]);
			char *rel = xasprintf("%s/%s", sets[k], files[i]);
			size_t ne;
			struct exp_item *e = load_expected(FIXTURES "/postmortems/examples.expected",
			                                   rel, &ne);
			struct imp_postmortem *pm = NULL;
			char err[512];
			if (imp_parse_file(path, &pm, err, sizeof(err)) == 0)
				docs++;
			score_pm(rel, pm, e, ne, &ex);
			imp_postmortem_free(pm);
			free_expected(e, ne);
			free(path);
			free(rel);
			free(files[i]);
		}
		free(files);
		free(dir);
	}
	print_score("examples/ (etcd, DFDS)", &ex);
	print_message("  examples/: %d action items from %d postmortems\n", ex.found, docs);
	assert_true(docs >= 40);
	assert_true(ex.matched >= 137);
	assert_true(ex.matched * 100 >= 95 * ex.found);
	assert_true(ex.fields_ok * 100 >= 95 * ex.matched);

	struct score fm = { 0 };
	size_t n;
	char **files = list_dir(FMT_DIR, &n);
	for (size_t i = 0; i < n; i++) {
		if (!strstr(files[i], ".expected"))
			imp_postmortem_free(check_doc(files[i], &fm));
		free(files[i]);
	}
	free(files);
	print_score("format documents", &fm);
}

/* One document "SET/NAME" of tests/fixtures/postmortems/blind1 to blind5
 * (the test's state): every item of SET.truth found, nothing else, every
 * field right. */
static void test_blind_doc(void **state)
{
	const char *set_doc = *state;
	size_t sl = strcspn(set_doc, "/");
	const char *doc = set_doc + sl + 1;
	char *path = xasprintf("%s/postmortems/%s", FIXTURES, set_doc);
	char *truth = xasprintf("%s/postmortems/%.*s.truth", FIXTURES, (int)sl, set_doc);
	size_t n;
	struct exp_item *ex = load_expected(truth, doc, &n);
	free(truth);
	struct imp_postmortem *pm = parse_ok(path);
	struct score s = { 0 };
	score_pm(doc, pm, ex, n, &s);
	assert_true(n > 0);
	assert_int_equal(s.matched, s.expected);
	assert_int_equal(s.found, s.expected);
	assert_int_equal(s.fields_ok, s.expected);
	imp_postmortem_free(pm);
	free_expected(ex, n);
	free(path);
}

/* Score every document of FIXTURES/postmortems/SET against SET.truth. */
static void score_set(const char *set, struct score *s)
{
	char *dir = xasprintf("%s/postmortems/%s", FIXTURES, set);
	char *truth = xasprintf("%s/postmortems/%s.truth", FIXTURES, set);
	size_t n;
	char **files = list_dir(dir, &n);
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, files[i]);
		size_t ne;
		struct exp_item *e = load_expected(truth, files[i], &ne);
		struct imp_postmortem *pm = NULL;
		char err[512];
		if (imp_parse_file(path, &pm, err, sizeof(err)) < 0)
			print_message("  %s: %s\n", files[i], err);
		score_pm(files[i], pm, e, ne, s);
		imp_postmortem_free(pm);
		free_expected(e, ne);
		free(path);
		free(files[i]);
	}
	free(files);
	free(dir);
	free(truth);
}

/* Documents in styles the importer had not been tuned on, with a truth
 * file written by hand before they were first imported.  blind1/ to
 * blind5/ were measured, then the importer was fixed for what they
 * showed (their first figures are in docs/import.md); blind6/ was
 * measured once after those fixes and is not tuned on.  Every miss and
 * mismatch is printed; the floors are the measured figures, so a
 * regression fails. */
static void test_blind_scores(void **state)
{
	UNUSED(state);
	struct score s = { 0 };
	score_set("blind1", &s);
	score_set("blind2", &s);
	score_set("blind3", &s);
	score_set("blind4", &s);
	score_set("blind5", &s);
	print_score("blind1-5/ (43 documents, hand-written truth, fixed after a first run)", &s);
	assert_true(s.expected >= 144);
	assert_true(s.matched * 100 >= BLIND_PRECISION * s.found);
	assert_true(s.matched * 100 >= BLIND_RECALL * s.expected);
	assert_true(s.fields_ok * 100 >= BLIND_FIELDS * s.matched);
}

/* Held-out sets, each measured once before the importer was changed for
 * it (first runs in docs/import.md); the floors are what each scores now,
 * so a regression fails.  blind6 was fixed for the two misses issue 8
 * named; blind7 (public postmortem styles) and blind8 (the family of the
 * formats named as misses) were written before those fixes. */
static void test_heldout_scores(void **state)
{
	UNUSED(state);
	static const struct {
		const char *set, *what;
		int expected, precision, recall, fields;
	} sets[] = {
		{ "blind6", "blind6/ (issue 8 styles)", 21, 100, 100, 100 },
		{ "blind7", "blind7/ (public postmortem styles)", 38, 100, 100, 100 },
		{ "blind8", "blind8/ (front matter, HTML tables, no-year dates, ...)", 20, 100, 100,
		  100 },
		{ "blind9", "blind9/ (written after the fixes, never tuned on)", 21, 100, 100, 100 },
		{ "blind10", "blind10/ (seven more public styles)", 23, 100, 100, 100 },
		{ "blind11", "blind11/ (issue 8's formats, new documents)", 21, 100, 100, 100 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		struct score s = { 0 };
		score_set(sets[i].set, &s);
		print_score(sets[i].what, &s);
		assert_true(s.expected >= sets[i].expected);
		assert_true(s.matched * 100 >= sets[i].precision * s.found);
		assert_true(s.matched * 100 >= sets[i].recall * s.expected);
		assert_true(s.fields_ok * 100 >= sets[i].fields * s.matched);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bold_label_list),
		cmocka_unit_test(test_action_items_paragraph),
		cmocka_unit_test(test_inline_action_item),
		cmocka_unit_test(test_sre_book_table),
		cmocka_unit_test(test_numbered_labels),
		cmocka_unit_test(test_headings_by_meaning),
		cmocka_unit_test(test_state_markers),
		cmocka_unit_test(test_inline_fields),
		cmocka_unit_test(test_templated_file),
		cmocka_unit_test(test_template_by_content),
		cmocka_unit_test(test_link_in_parens),
		cmocka_unit_test(test_due_without_year),
		cmocka_unit_test(test_html_tables),
		cmocka_unit_test(test_front_matter_actions),
		cmocka_unit_test(test_front_matter_yaml_forms),
		cmocka_unit_test(test_code_block_metadata_and_fixes_label),
		cmocka_unit_test(test_action_point_paragraphs_and_trailing_marks),
		cmocka_unit_test(test_scores),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/atlassian-postmortem.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/etsy-morgue.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/github-issue-postmortem.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/gitlab-incident-review.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/incidentio-export.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/jeli-export.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/lessons-to-actions.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/nested-follow-ups.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/next-steps-dates.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/pagerduty-postmortem.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/remediation-status-table.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/setext-headings.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind1/sre-workbook-table.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind2/capa.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind2/cloudflare-blog.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind2/gdocs-export.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind2/go-todo.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind2/monzo-style.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind2/retro-numbered-checkboxes.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind2/table-done-column.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind2/bold-remediation-items.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind3/emoji-status.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind3/followup-tasks-multiline.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind3/heading-per-item.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind3/jira-export-table.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind3/parenthesised-fields.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind3/phased-plan.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind3/recommendations.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind4/bold-paragraph-items.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind4/corrective-jira-paren.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind4/lessons-with-actions.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind4/owner-first-checkboxes.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind4/post-incident-tasks.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind4/preventive-measures.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind4/priority-first-table.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind5/actions-following-review.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind5/followup-table-dates.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind5/inline-owner-due-jira.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind5/k8s-issue-refs.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind5/next-steps-bold-numbered.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind5/remediation-horizons.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind5/sre-table-done-todo.md"),
		cmocka_unit_test_prestate(test_blind_doc, (void *)"blind5/two-action-sections.md"),
		cmocka_unit_test(test_blind_scores),
		cmocka_unit_test(test_heldout_scores),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
