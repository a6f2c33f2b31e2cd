/* test_importer.c — the postmortem importer: parsing real postmortems
 * (etcd, DFDS) and synthetic cases, import keys, and storing into a real
 * PostgreSQL (CLOSELOOP_TEST_DSN; those tests skip without it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "importer.h"
#include "imptext.h"
#include "impxref.h"
#include "pgtest.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif
#define PM_DIR FIXTURES "/postmortems"
#define ETCD PM_DIR "/etcd/v3.5-data-inconsistency.md"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	struct buf b = { 0 };
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(&b, chunk, n), 0);
	fclose(f);
	*len = b.len;
	return b.data ? buf_steal(&b) : xstrdup("");
}

/* Replace the first occurrence of from by to in a heap string. */
static char *replace(char *s, const char *from, const char *to)
{
	char *at = strstr(s, from);
	if (!at)
		fail_msg("fixture text not found: %s", from);
	char *r = xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	free(s);
	return r;
}

static struct imp_postmortem *parse_ok(const char *path)
{
	struct imp_postmortem *pm = NULL;
	char err[512];
	if (imp_parse_file(path, &pm, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return pm;
}

static struct imp_postmortem *parse_text_ok(const char *name, const char *text)
{
	struct imp_postmortem *pm = NULL;
	char err[512];
	if (imp_parse_text(name, text, strlen(text), &pm, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return pm;
}

static const char *F(const struct imp_postmortem *pm, size_t i, enum item_field f)
{
	assert_true(i < pm->n_items);
	return pm->items[i].fields.v[f];
}

/* ---- real postmortems ---- */

static void test_etcd(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = parse_ok(ETCD);
	static const char *const types[] = { "prevent", "detect", "prevent", "prevent", "prevent",
	                                     "prevent", "detect", "detect", "mitigate", "mitigate" };
	static const char *const prios[] = { "P0", "P0", "P1", "P1", "P1",
	                                     "P1", "P1", "P1", "P1", "P2" };
	static const bool done[] = { 1, 1, 0, 0, 1, 1, 0, 1, 0, 0 };
	static const char *const refs[] = { "14045", "14039", "13637", NULL, "13775",
	                                    "14911", NULL, "13973", NULL, "13839" };
	assert_int_equal(pm->n_items, 10);
	assert_string_equal(pm->reference, "v3.5-data-inconsistency");
	assert_string_equal(pm->title, "v3.5 data inconsistency postmortem");
	assert_string_equal(pm->published_date, "2022-04-20");
	int n_done = 0;
	for (size_t i = 0; i < 10; i++) {
		const struct imp_item *it = &pm->items[i];
		assert_int_equal(it->position, (int)i + 1);
		assert_string_equal(F(pm, i, ITEM_F_TYPE), types[i]);
		assert_string_equal(F(pm, i, ITEM_F_PRIORITY), prios[i]);
		assert_string_equal(F(pm, i, ITEM_F_STATE), done[i] ? "done" : "open");
		assert_null(F(pm, i, ITEM_F_OWNER));
		assert_null(F(pm, i, ITEM_F_DESCRIPTION));
		n_done += done[i];
		if (!refs[i]) {
			assert_int_equal(it->n_refs, 0);
			continue;
		}
		assert_int_equal(it->n_refs, 1);
		assert_string_equal(it->refs[0].kind, "github");
		assert_string_equal(it->refs[0].target, "etcd-io/etcd");
		assert_string_equal(it->refs[0].number, refs[i]);
		assert_int_equal(it->refs[0].pull, i == 5);
	}
	/* the table has five DONE rows */
	assert_int_equal(n_done, 5);
	assert_string_equal(pm->items[0].refs[0].url, "https://github.com/etcd-io/etcd/issues/14045");
	assert_string_equal(pm->items[5].refs[0].url, "https://github.com/etcd-io/etcd/pull/14911");
	assert_string_equal(F(pm, 0, ITEM_F_TITLE),
	                    "etcd testing can reproduce historical data inconsistency issues");
	assert_string_equal(F(pm, 9, ITEM_F_TITLE),
	                    "etcd can imminently detect and recover from data corruption "
	                    "(implement Merkle root)");
	assert_int_equal(pm->items[0].line, 123);
	imp_postmortem_free(pm);
}

static void test_dfds_counts(void **state)
{
	UNUSED(state);
	static const struct { const char *file; const char *ref; size_t n; } cases[] = {
		{ "PM2019-009 - Kubernetes network infrastructure IP starvation.md", "PM2019-009", 4 },
		{ "PM2021-004 - ADFS outage.md", "PM2021-004", 3 },
		{ "PM2020-009 - KIAM service disruption due to upgrade.md", "PM2020-009", 1 },
		{ "PM2022-009 - Bad AWS EKS AMI causing Kubernetes issues", "PM2022-009", 7 },
		{ "PM2023-001 - Total node failure.md", "PM2023-001", 6 },
		{ "PM2024-002 - PODs not able to start while being moved to new nodes during AMI update.md",
		  "PM2024-002", 2 },
	};
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		char *path = xasprintf("%s/dfds/%s", PM_DIR, cases[c].file);
		struct imp_postmortem *pm = parse_ok(path);
		assert_string_equal(pm->reference, cases[c].ref);
		assert_int_equal(pm->n_items, cases[c].n);
		assert_string_equal(pm->source_path, path);
		for (size_t i = 0; i < pm->n_items; i++)
			assert_string_equal(F(pm, i, ITEM_F_TYPE), "other");
		free(path);
		imp_postmortem_free(pm);
	}
}

static void test_dfds_details(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm =
		parse_ok(PM_DIR "/dfds/PM2019-009 - Kubernetes network infrastructure IP starvation.md");
	assert_string_equal(pm->title, "Kubernetes network infrastructure IP starvation");
	/* "**Title**: explanation" -> title and description */
	assert_string_equal(F(pm, 0, ITEM_F_TITLE),
	                    "Make sure all deployed resources have a plan for monitoring / scaling");
	assert_true(str_istarts(F(pm, 0, ITEM_F_DESCRIPTION), "This is a work in progress"));
	imp_postmortem_free(pm);

	pm = parse_ok(PM_DIR "/dfds/PM2022-009 - Bad AWS EKS AMI causing Kubernetes issues");
	assert_string_equal(F(pm, 0, ITEM_F_TITLE), "Improve coverage of readiness/liveness probes");
	assert_string_equal(F(pm, 0, ITEM_F_DESCRIPTION),
	                    "- Reach out to teams with suggestions about readiness/liveness probes\n"
	                    "- Create dashboard for readiness/liveness probe coverage\n"
	                    "- Create wiki article covering readiness/liveness probes and their usefulness");
	imp_postmortem_free(pm);

	pm = parse_ok(PM_DIR "/dfds/PM2023-001 - Total node failure.md");
	assert_string_equal(F(pm, 5, ITEM_F_TITLE),
	                    "Implement guards against invalid container runtime selection");
	assert_string_equal(F(pm, 5, ITEM_F_STATE), "done");
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(F(pm, i, ITEM_F_STATE), "open");
	imp_postmortem_free(pm);
}

static void expect_reject(const char *path, const char *reason)
{
	struct imp_postmortem *pm = NULL;
	char err[512] = "";
	assert_int_equal(imp_parse_file(path, &pm, err, sizeof(err)), -EINVAL);
	assert_null(pm);
	if (!strstr(err, reason))
		fail_msg("%s: expected \"%s\" in \"%s\"", path, reason, err);
	assert_true(str_istarts(err, path));
}

static void test_dfds_rejected(void **state)
{
	UNUSED(state);
	expect_reject(PM_DIR "/dfds/PMyyyy-nnn - Postmortem template.md",
	              "a template, not a postmortem");
	expect_reject(PM_DIR "/dfds/README.md", "no action items found under any action-items heading");
	expect_reject(PM_DIR "/dfds/LICENSE", "no action items found under any action-items heading");
}

/* ---- synthetic cases ---- */

static void test_table_reordered(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = parse_ok(PM_DIR "/synthetic/table-reordered.md");
	assert_string_equal(pm->platform, "Payments");
	assert_string_equal(pm->team, "checkout");
	assert_string_equal(pm->severity, "SEV2");
	assert_string_equal(pm->published_date, "2026-01-15");
	assert_string_equal(pm->reference, "table-reordered");
	assert_int_equal(pm->n_items, 6);   /* the empty row is skipped */

	assert_string_equal(F(pm, 0, ITEM_F_TITLE), "Add p99 latency alert on checkout");
	assert_string_equal(F(pm, 0, ITEM_F_STATE), "done");
	assert_string_equal(F(pm, 0, ITEM_F_OWNER), "alice");
	assert_string_equal(F(pm, 0, ITEM_F_DUE_DATE), "2026-02-01");
	assert_string_equal(F(pm, 0, ITEM_F_DESCRIPTION), "Area: obs");
	assert_int_equal(pm->items[0].n_refs, 1);
	assert_string_equal(pm->items[0].refs[0].target, "acme/checkout");
	assert_string_equal(pm->items[0].refs[0].number, "123");

	assert_string_equal(F(pm, 1, ITEM_F_STATE), "in_progress");
	assert_string_equal(F(pm, 1, ITEM_F_OWNER), "bob");
	assert_string_equal(F(pm, 1, ITEM_F_DUE_DATE), "2026-03-01");
	assert_string_equal(F(pm, 1, ITEM_F_DESCRIPTION), "Due: by 2026-03-01 (tentative)");
	assert_string_equal(pm->items[1].refs[0].number, "124");

	assert_string_equal(F(pm, 2, ITEM_F_STATE), "wont_do");
	assert_null(F(pm, 2, ITEM_F_OWNER));

	assert_string_equal(F(pm, 3, ITEM_F_STATE), "open");
	assert_null(F(pm, 3, ITEM_F_DUE_DATE));
	assert_string_equal(F(pm, 3, ITEM_F_DESCRIPTION), "Due: next quarter");

	/* an impossible date is not a due date, and is not lost */
	assert_null(F(pm, 4, ITEM_F_DUE_DATE));
	assert_string_equal(F(pm, 4, ITEM_F_DESCRIPTION), "Due: 2026-02-30\nArea: db");
	assert_true(pm->items[4].refs[0].pull);
	assert_string_equal(pm->items[4].refs[0].target, "acme/infra");

	assert_string_equal(F(pm, 5, ITEM_F_STATE), "open");
	assert_null(F(pm, 5, ITEM_F_OWNER));
	assert_string_equal(F(pm, 5, ITEM_F_DESCRIPTION), "Status: Blocked\nTicket: JIRA-42");
	imp_postmortem_free(pm);
}

static void test_checkboxes_and_markers(void **state)
{
	UNUSED(state);
	static const struct { const char *title; const char *state; } want[] = {
		{ "Rotate the leaked API token", "done" },
		{ "Add secret scanning to CI", "open" },
		{ "Move secrets to Vault", "open" },
		{ "Email every customer", "done" },          /* ~~struck~~ */
		{ "Enable audit logging", "done" },          /* (done) */
		{ "Revoke old deploy keys", "done" },        /* DONE: */
		{ "Write the customer notice", "open" },     /* TODO: */
		{ "Review firewall rules", "in_progress" },  /* (WIP) */
		{ "Add MFA for admin accounts", "open" },
		{ "Tighten IAM policies", "open" },
		{ "Decide on a token lifetime", "wont_do" },
	};
	struct imp_postmortem *pm = parse_ok(PM_DIR "/synthetic/checkboxes.md");
	assert_int_equal(pm->n_items, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(F(pm, i, ITEM_F_TITLE), want[i].title);
		assert_string_equal(F(pm, i, ITEM_F_STATE), want[i].state);
	}
	assert_string_equal(F(pm, 1, ITEM_F_OWNER), "erin");
	assert_string_equal(F(pm, 1, ITEM_F_DUE_DATE), "2026-04-01");
	assert_string_equal(F(pm, 1, ITEM_F_PRIORITY), "P1");
	assert_string_equal(F(pm, 2, ITEM_F_DESCRIPTION),
	                    "- start with the payments service\n- [x] inventory the secrets");
	assert_string_equal(pm->items[8].refs[0].target, "acme/security");
	assert_string_equal(pm->items[8].refs[0].number, "77");
	assert_string_equal(pm->items[9].refs[0].number, "78");
	imp_postmortem_free(pm);
}

static void test_headings_and_metadata(void **state)
{
	UNUSED(state);
	static const char *const want[] = {
		"Automate replica promotion", "Practise failover every quarter",
		"Automate replica promotion", "This nested list is still inside Remediation",
		"Publish the runbook", "Review the alert thresholds",
	};
	struct imp_postmortem *pm = parse_ok(PM_DIR "/synthetic/headings.md");
	assert_string_equal(pm->reference, "INC-2026-007");
	assert_string_equal(pm->team, "storage");
	assert_string_equal(pm->severity, "SEV1");
	assert_string_equal(pm->platform, "Data");
	assert_int_equal(pm->n_items, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(F(pm, i, ITEM_F_TITLE), want[i]);
	/* a repeated title gets a counter */
	assert_int_equal(strlen(pm->items[0].import_key), 16);
	char *second = xasprintf("%s-2", pm->items[0].import_key);
	assert_string_equal(pm->items[2].import_key, second);
	free(second);
	imp_postmortem_free(pm);
}

/* The incident's ServiceNow problem (postmortem.problem_ref, the parent of
 * problem tasks): from the front matter or a "Problem:" line, taken only in
 * a problem's form (number or sys_id); prose after "Problem:" is not one. */
static void test_problem_reference(void **state)
{
	UNUSED(state);
	static const char items[] = "## Action items\n\n- [ ] Add a disk alert\n";
	char *text = xasprintf("---\ntitle: Disk full\nproblem: PRB0040123\n---\n\n%s", items);
	struct imp_postmortem *pm = parse_text_ok("disk.md", text);
	assert_string_equal(pm->problem_ref, "PRB0040123");
	imp_postmortem_free(pm);
	free(text);
	text = xasprintf("# Disk full\n\nProblem: the disk filled up overnight\n\n"
	                 "Problem record: 8a401280234e452da079153799492f38\n\n%s", items);
	pm = parse_text_ok("disk2.md", text);
	assert_string_equal(pm->problem_ref, "8a401280234e452da079153799492f38");
	imp_postmortem_free(pm);
	free(text);
	text = xasprintf("# Disk full\n\nProblem: the disk filled up overnight\n\n%s", items);
	pm = parse_text_ok("disk3.md", text);
	assert_null(pm->problem_ref);
	imp_postmortem_free(pm);
	free(text);
}

static void test_mappings(void **state)
{
	UNUSED(state);
	static const struct { const char *type, *prio, *state, *owner, *desc; } want[] = {
		{ "detect", "P0", "in_progress", "ops", NULL },
		{ "mitigate", "P1", "done", "ana", NULL },
		{ "process", "P3", "wont_do", "lee", NULL },
		{ "other", "P2", "open", "kim", "Type: Training\nStatus: Blocked" },
		{ "prevent", NULL, "open", NULL, "Priority: P9" },
		{ "other", "P2", "in_progress", NULL, NULL },
	};
	struct imp_postmortem *pm = parse_ok(PM_DIR "/synthetic/mappings.md");
	assert_int_equal(pm->n_items, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const char *const v[] = { want[i].type, want[i].prio, want[i].state, want[i].owner,
		                          want[i].desc };
		const enum item_field f[] = { ITEM_F_TYPE, ITEM_F_PRIORITY, ITEM_F_STATE, ITEM_F_OWNER,
		                              ITEM_F_DESCRIPTION };
		for (size_t k = 0; k < ARRAY_SIZE(f); k++) {
			if (v[k])
				assert_string_equal(F(pm, i, f[k]), v[k]);
			else
				assert_null(F(pm, i, f[k]));
		}
	}
	imp_postmortem_free(pm);
}

static void test_long_title(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = parse_ok(PM_DIR "/synthetic/long-title.md");
	assert_int_equal(pm->n_items, 2);
	assert_string_equal(F(pm, 0, ITEM_F_TITLE),
	                    "Rework the ingestion pipeline so that a single malformed record can "
	                    "no longer stop the whole batch");
	assert_true(str_istarts(F(pm, 0, ITEM_F_DESCRIPTION), "Rework the ingestion pipeline"));
	assert_non_null(strstr(F(pm, 0, ITEM_F_DESCRIPTION), "two hour outage."));
	assert_string_equal(F(pm, 1, ITEM_F_TITLE), "Add a dead-letter queue");
	imp_postmortem_free(pm);
}

static void test_rejections(void **state)
{
	UNUSED(state);
	expect_reject(PM_DIR "/synthetic/no-actions.md", "no action items found");
	expect_reject(PM_DIR "/synthetic/empty-section.md",
	              "the action-items section at line 3 lists no action items");
	expect_reject(PM_DIR "/synthetic/empty.md", "empty document");
	expect_reject(PM_DIR "/synthetic/latin1.md", "not valid UTF-8 (byte 5)");
	struct imp_postmortem *pm = NULL;
	char err[256];
	assert_int_equal(imp_parse_file(PM_DIR "/synthetic/missing.md", &pm, err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "missing.md: cannot open"));
	assert_int_equal(imp_parse_text("x.md", " \n\t\n", 4, &pm, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "x.md: empty document");
}

static void test_import_keys(void **state)
{
	UNUSED(state);
	size_t len;
	char *text = slurp(PM_DIR "/synthetic/table-reordered.md", &len);
	struct imp_postmortem *a = parse_text_ok("t.md", text);
	struct imp_postmortem *b = parse_text_ok("t.md", text);
	for (size_t i = 0; i < a->n_items; i++)
		assert_string_equal(a->items[i].import_key, b->items[i].import_key);
	imp_postmortem_free(b);
	/* other cells of the row change: same key */
	text = replace(text, "| @alice |", "| @zoe   |");
	text = replace(text, "| Done        |", "| TODO        |");
	b = parse_text_ok("t.md", text);
	assert_string_equal(F(b, 0, ITEM_F_OWNER), "zoe");
	assert_string_equal(F(b, 0, ITEM_F_STATE), "open");
	for (size_t i = 0; i < a->n_items; i++)
		assert_string_equal(a->items[i].import_key, b->items[i].import_key);
	imp_postmortem_free(b);
	/* a struck or re-spaced title keeps its key; a new title is a new item */
	text = replace(text, "Add p99 latency alert on checkout ",
	               "~~Add  p99 latency alert on checkout~~");
	text = replace(text, "Rewrite checkout in Rust", "Rewrite checkout in Go  ");
	b = parse_text_ok("t.md", text);
	assert_string_equal(F(b, 0, ITEM_F_STATE), "open");   /* the Status cell wins */
	assert_string_equal(a->items[0].import_key, b->items[0].import_key);
	assert_string_not_equal(a->items[2].import_key, b->items[2].import_key);
	imp_postmortem_free(b);
	imp_postmortem_free(a);
	free(text);
}

/* ---- crashes found by fuzzing (issue 8) ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "[see]()" has an empty destination: md4c hands over a NULL href. */
static void test_empty_link(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = parse_text_ok("l.md",
		"# X\n\n## Action items\n\n- Fix the alert [see]()\n");
	assert_int_equal(pm->n_items, 1);
	assert_string_equal(F(pm, 0, ITEM_F_TITLE), "Fix the alert");   /* no dangling "see" */
	imp_postmortem_free(pm);
	pm = parse_text_ok("t.md", "# X\n\n## Action items\n\n| Action | Bug |\n|---|---|\n"
	                   "| Fix the alert [see]() | [](<>) |\n");
	assert_int_equal(pm->n_items, 1);
	assert_int_equal(pm->items[0].n_refs, 0);
	imp_postmortem_free(pm);
}

/* An empty H1 (an ERB title blanked out): found by fuzzing the split
 * importer, a use after free of the heading text. */
static void test_empty_first_heading(void **state)
{
	UNUSED(state);
	struct imp_postmortem *pm = parse_text_ok("e.md.erb",
		"# <%= incident.title %>\n\n## Action items\n\n- Fix it\n");
	assert_string_equal(pm->title, "e");
	assert_int_equal(pm->n_items, 1);
	imp_postmortem_free(pm);
}

/* A 201..202-byte title with no break: the ellipsis used to be written
 * past the end of the string. */
static void test_long_title_no_break(void **state)
{
	UNUSED(state);
	for (size_t n = 199; n <= 260; n++) {
		char *word = xmalloc(n + 1);
		memset(word, 'a', n);
		word[n] = '\0';
		char *doc = xasprintf("# X\n\n## Action items\n\n- %s\n", word);
		struct imp_postmortem *pm = parse_text_ok("w.md", doc);
		const char *t = F(pm, 0, ITEM_F_TITLE);
		assert_true(strlen(t) <= 200);
		if (n > 200)
			assert_string_equal(t + strlen(t) - 3, "\xE2\x80\xA6");
		imp_postmortem_free(pm);
		free(doc);
		free(word);
	}
}

/* Parse rows table rows (two titles alternating) and return the time in
 * milliseconds; checks that every key is distinct. */
static int64_t parse_rows(int rows)
{
	struct buf b = { .max = 9u << 20 };
	assert_int_equal(buf_appendf(&b, "# Big\n\n## Action items\n\n| Action | Bug |\n"
	                 "|---|---|\n"), 0);
	for (int i = 0; i < rows; i++)
		assert_int_equal(buf_appendf(&b, "| %s | n/a |\n",
		                             i % 2 ? "Same title" : "Improve the thing"), 0);
	int64_t t0 = now_ms();
	struct imp_postmortem *pm = parse_text_ok("big.md", b.data);
	int64_t took = now_ms() - t0;
	assert_int_equal(pm->n_items, (size_t)rows);
	char *last = xasprintf("-%d", rows / 2);
	assert_string_equal(pm->items[rows - 1].import_key + 16, last);
	assert_string_equal(pm->items[1].import_key + 16, "");
	free(last);
	imp_postmortem_free(pm);
	buf_free(&b);
	return took;
}

/* Key assignment used to compare every title with every earlier one:
 * 190,000 rows (7.6 MiB) took 151 s.  Four times the rows must cost
 * about four times the time (quadratic: sixteen); the margin absorbs a
 * loaded machine and sanitizer builds. */
static void test_keys_linear(void **state)
{
	UNUSED(state);
	int64_t small = parse_rows(20000), big = parse_rows(80000);
	print_message("  20,000 rows parsed and keyed in %lld ms, 80,000 in %lld ms\n",
	              (long long)small, (long long)big);
	assert_true(big < 10 * small + 1000);
}

static void test_text_rules(void **state)
{
	UNUSED(state);
	struct imp_ticket_ref r = { 0 };
	assert_int_equal(impt_ref_from_url("https://github.com/o/r/issues/12#issuecomment-1", &r), 0);
	assert_string_equal(r.target, "o/r");
	assert_string_equal(r.number, "12");
	assert_false(r.pull);
	impt_ref_free(&r);
	assert_int_equal(impt_ref_from_url("https://github.com/o/r/pull/7/files", &r), 0);
	assert_true(r.pull);
	impt_ref_free(&r);
	assert_int_equal(impt_ref_from_url("https://github.com/o/r/blob/main/x.md", &r), -EINVAL);
	assert_int_equal(impt_ref_from_url("https://example.com/o/r/issues/1", &r), -EINVAL);

	struct imp_ticket_ref *v = NULL;
	size_t n = 0;
	impt_refs_from_text("see acme/api#5, acme/api#5 and https://github.com/acme/api/pull/5 "
	                    "but not https://github.com/x/y/issues/1#2 or a/b#c", &v, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].number, "5");
	assert_true(v[0].pull);   /* the same ticket named as a pull request */
	assert_string_equal(v[1].target, "x/y");
	for (size_t i = 0; i < n; i++)
		impt_ref_free(&v[i]);
	free(v);

	char s[] = "Fix the timeout - https://github.com/o/r/issues/3 (#4)";
	impt_strip_trailing_refs(s);
	assert_string_equal(s, "Fix the timeout");
	char keep[] = "Read https://example.com/guide";
	impt_strip_trailing_refs(keep);
	assert_string_equal(keep, "Read https://example.com/guide");

	assert_int_equal(impt_state("Done (in v3.6)", true), ITEM_STATE_DONE);
	assert_int_equal(impt_state("Done (in v3.6)", false), -1);
	assert_int_equal(impt_state("Won't do", false), ITEM_STATE_WONT_DO);
	assert_int_equal(impt_state("", false), ITEM_STATE_OPEN);
	assert_string_equal(impt_priority("p1"), "P1");
	assert_string_equal(impt_priority("High"), "P1");
	assert_null(impt_priority("P4"));
	assert_string_equal(impt_type("Mitigation"), "mitigate");
	assert_null(impt_type("training"));

	char k[17];
	impt_fnv1a_hex("", k);
	assert_string_equal(k, "cbf29ce484222325");   /* FNV-1a 64 offset basis */
	char *kt = impt_key_text("  Add   MFA.  ");
	assert_string_equal(kt, "add mfa");
	free(kt);
}

/* ---- storing into PostgreSQL ---- */

static long count(PGconn *c, const char *table)
{
	char *sql = xasprintf("SELECT count(*) FROM %s", table);
	long n = pgtest_long(c, sql, 0, NULL);
	free(sql);
	return n;
}

static void store_ok(PGconn *c, const struct imp_postmortem *pm, bool dry, struct imp_counts *k,
                     FILE *out)
{
	struct imp_options opt = { .dry_run = dry };
	char err[512];
	if (imp_store(c, pm, &opt, k, out, err, sizeof(err)) < 0)
		fail_msg("%s", err);
}

static void test_store_etcd_idempotent(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_idem", true))
		return;
	struct imp_postmortem *pm = parse_ok(ETCD);
	struct imp_counts k;
	store_ok(t.conn, pm, false, &k, NULL);
	assert_int_equal(k.postmortems_new, 1);
	assert_int_equal(k.items_new, 10);
	assert_int_equal(k.items_updated + k.items_unchanged, 0);
	assert_int_equal(k.refs_new, 7);
	assert_int_equal(count(t.conn, "postmortem"), 1);
	assert_int_equal(count(t.conn, "action_item"), 10);
	assert_int_equal(count(t.conn, "external_link"), 7);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM action_item WHERE state = 'done'"
	                             " AND closed_at IS NOT NULL", 0, NULL), 5);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM item_event WHERE field = 'created'"
	                             " AND source = 'import'", 0, NULL), 10);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM external_link WHERE kind = 'reference'"
	                             " AND state = 'reference' AND connector = 'github'"
	                             " AND target = 'etcd-io/etcd' AND remote_key = 'etcd-io/etcd#14911'"
	                             " AND url = 'https://github.com/etcd-io/etcd/pull/14911'",
	                             0, NULL), 1);
	long events = count(t.conn, "item_event");
	char *updated = pgtest_value(t.conn, "SELECT max(updated_at)::text FROM action_item", 0, NULL);

	store_ok(t.conn, pm, false, &k, NULL);
	assert_int_equal(k.postmortems_new + k.postmortems_updated, 0);
	assert_int_equal(k.items_new + k.items_updated, 0);
	assert_int_equal(k.items_unchanged, 10);
	assert_int_equal(k.refs_new, 0);
	assert_int_equal(count(t.conn, "item_event"), events);
	assert_int_equal(count(t.conn, "external_link"), 7);
	char *updated2 = pgtest_value(t.conn, "SELECT max(updated_at)::text FROM action_item", 0, NULL);
	assert_string_equal(updated, updated2);
	free(updated);
	free(updated2);
	imp_postmortem_free(pm);
	pgtest_drop(&t);
}

static void test_store_edit_and_tracker(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_edit", true))
		return;
	size_t len;
	char *text = slurp(ETCD, &len);
	struct imp_postmortem *pm = parse_text_ok(ETCD, text);
	struct imp_counts k;
	store_ok(t.conn, pm, false, &k, NULL);
	const char *key3[] = { pm->items[2].import_key };
	const char *key4[] = { pm->items[3].import_key };
	long events = count(t.conn, "item_event");

	/* the document marks row 3 DONE: exactly that item changes */
	text = replace(text, "https://github.com/etcd-io/etcd/issues/13637 |        |",
	               "https://github.com/etcd-io/etcd/issues/13637 | DONE   |");
	struct imp_postmortem *pm2 = parse_text_ok(ETCD, text);
	store_ok(t.conn, pm2, false, &k, NULL);
	assert_int_equal(k.items_updated, 1);
	assert_int_equal(k.items_new, 0);
	assert_int_equal(k.items_unchanged, 9);
	assert_int_equal(count(t.conn, "item_event"), events + 1);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM item_event e JOIN action_item a"
	                             " ON a.id = e.action_item_id WHERE a.import_key = $1"
	                             " AND e.field = 'state' AND e.old_value = 'open'"
	                             " AND e.new_value = 'done' AND e.source = 'import'", 1, key3), 1);

	/* the tracker (simulated by SQL) closes row 4 and sets an owner;
	 * re-importing the unchanged document must not revert that */
	pgtest_exec(t.conn, "UPDATE action_item SET state = 'done', owner = 'alice'"
	            " WHERE import_key = $1", 1, key4);
	events = count(t.conn, "item_event");
	store_ok(t.conn, pm2, false, &k, NULL);
	assert_int_equal(k.items_updated, 0);
	assert_int_equal(count(t.conn, "item_event"), events);
	char *st = pgtest_value(t.conn, "SELECT state || '/' || owner FROM action_item"
	                        " WHERE import_key = $1", 1, key4);
	assert_string_equal(st, "done/alice");
	free(st);

	/* ... but when the document itself changes that field, the document wins */
	text = replace(text, "validate correctness               | Prevent  | P1       |",
	               "validate correctness               | Prevent  | P0       |");
	struct imp_postmortem *pm3 = parse_text_ok(ETCD, text);
	store_ok(t.conn, pm3, false, &k, NULL);
	assert_int_equal(k.items_updated, 1);
	st = pgtest_value(t.conn, "SELECT state || '/' || owner || '/' || priority FROM action_item"
	                  " WHERE import_key = $1", 1, key4);
	assert_string_equal(st, "done/alice/P0");
	free(st);

	imp_postmortem_free(pm);
	imp_postmortem_free(pm2);
	imp_postmortem_free(pm3);
	free(text);
	pgtest_drop(&t);
}

static void test_store_dry_run(void **state)
{
	UNUSED(state);
	static const char *const tables[] = { "postmortem", "action_item", "external_link",
	                                      "item_event", "platform", "team" };
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_dry", true))
		return;
	struct imp_postmortem *pm = parse_ok(PM_DIR "/synthetic/table-reordered.md");
	char *text = NULL;
	size_t tlen = 0;
	FILE *out = open_memstream(&text, &tlen);
	assert_non_null(out);
	struct imp_counts k;
	store_ok(t.conn, pm, true, &k, out);
	fclose(out);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		assert_int_equal(count(t.conn, tables[i]), 0);
	assert_int_equal(k.postmortems_new, 1);
	assert_int_equal(k.items_new, 6);
	assert_int_equal(k.refs_new, 4);   /* 3 GitHub, and JIRA-42 of the ticket column */
	assert_non_null(strstr(text, "postmortem table-reordered \"Checkout latency incident\""));
	assert_non_null(strstr(text, "platform Payments; team checkout; severity SEV2"));
	assert_non_null(strstr(text, "state done; type other; priority -; owner alice; due 2026-02-01"));
	assert_non_null(strstr(text, "reference acme/infra#9 (pull request)"));
	assert_non_null(strstr(text, "reference jira JIRA-42 -"));
	free(text);

	/* without a database a dry run still prints the plan */
	text = NULL;
	out = open_memstream(&text, &tlen);
	store_ok(NULL, pm, true, &k, out);
	fclose(out);
	assert_non_null(strstr(text, "Raise connection pool limit"));
	free(text);
	imp_postmortem_free(pm);
	pgtest_drop(&t);
}

static void test_store_team_and_missing(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_team", true))
		return;
	/* an existing team's routing is never overwritten */
	pgtest_exec(t.conn, "INSERT INTO team (name, connector, target)"
	            " VALUES ('checkout', 'github-main', 'acme/checkout')", 0, NULL);
	size_t len;
	char *text = slurp(PM_DIR "/synthetic/table-reordered.md", &len);
	struct imp_postmortem *pm = parse_text_ok("table-reordered.md", text);
	struct imp_counts k;
	store_ok(t.conn, pm, false, &k, NULL);
	char *v = pgtest_value(t.conn, "SELECT connector || ' ' || target || ' ' ||"
	                       " (SELECT name FROM platform) FROM team", 0, NULL);
	assert_string_equal(v, "github-main acme/checkout Payments");
	free(v);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM action_item a JOIN team t"
	                             " ON t.id = a.team_id WHERE t.name = 'checkout'", 0, NULL), 6);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM postmortem p JOIN team t"
	                             " ON t.id = p.team_id JOIN platform pl ON pl.id = p.platform_id"
	                             " WHERE p.severity = 'SEV2' AND p.published_date = '2026-01-15'",
	                             0, NULL), 1);

	/* a row removed from the document is kept and reported */
	text = replace(text, "| Won't do    |", "| Dropped     |");
	text = replace(text, "Rewrite checkout in Rust", "                        ");
	struct imp_postmortem *pm2 = parse_text_ok("table-reordered.md", text);
	assert_int_equal(pm2->n_items, 5);
	char *out_text = NULL;
	size_t olen;
	FILE *out = open_memstream(&out_text, &olen);
	store_ok(t.conn, pm2, false, &k, out);
	fclose(out);
	assert_int_equal(count(t.conn, "action_item"), 6);
	assert_non_null(strstr(out_text, "no longer in the document: Rewrite checkout in Rust"));
	/* the positions after it moved up: updated, but no history rows */
	assert_int_equal(k.items_updated, 3);
	assert_int_equal(pgtest_long(t.conn, "SELECT count(*) FROM item_event WHERE field <> 'created'",
	                             0, NULL), 0);
	free(out_text);
	imp_postmortem_free(pm);
	imp_postmortem_free(pm2);
	free(text);
	pgtest_drop(&t);
}

/* Import text as file name in dir through imp_import_file; returns its
 * "kind target remote_key" references, sorted, space-joined; err text in
 * *errs (heap). */
static char *import_refs(PGconn *c, const char *dir, const char *name, const char *text,
                         const struct imp_options *opt, char **errs)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	size_t elen;
	FILE *err = open_memstream(errs, &elen);
	FILE *out = fopen("/dev/null", "w");
	struct imp_run_stats st = { 0 };
	assert_int_equal(imp_import_file(c, path, dir, opt, out, err, &st), 0);
	fclose(out);
	fclose(err);
	char *stem = xstrndup(name, strcspn(name, "."));
	const char *p[] = { stem };
	char *v = pgtest_value(c, "SELECT coalesce(string_agg(l.remote_key, ' ' ORDER BY"
	                       " l.remote_key), '') FROM external_link l JOIN action_item a"
	                       " ON a.id = l.action_item_id JOIN postmortem pm ON pm.id ="
	                       " a.postmortem_id WHERE pm.reference = $1", 1, p);
	free(stem);
	free(path);
	return v;
}

/* A bare "#123": the document's repository, else the team's GitHub
 * target, else the configured one (defaults.target); without any it is
 * reported with file:line and left out. */
static void test_bare_refs_from_configuration(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_bare", true))
		return;
	pgtest_exec(t.conn, "INSERT INTO team (name, connector, target) VALUES"
	            " ('payments', 'github-main', 'acme/payments'),"
	            " ('itsm', 'servicenow', '8a4dde73c6112278017a6a4baf547aa7')", 0, NULL);
	char dir[] = "/tmp/closeloop-bare.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *errs = NULL, *v;
	struct imp_options opt = { .team = "payments", .repository = "acme/backlog" };
	static const char doc[] = "# Outage\n\n## Action items\n\n- Fix the retry loop #12\n"
	                          "- Alert on lag (see #13, again #13)\n";
	/* the team's GitHub target */
	v = import_refs(t.conn, dir, "a.md", doc, &opt, &errs);
	assert_string_equal(v, "acme/payments#12 acme/payments#13");
	free(v);
	free(errs);
	/* the front matter's repository wins */
	char *fm = xasprintf("---\nrepository: acme/web\n---\n%s", doc);
	v = import_refs(t.conn, dir, "b.md", fm, &opt, &errs);
	assert_string_equal(v, "acme/web#12 acme/web#13");
	free(v);
	free(errs);
	free(fm);
	/* a team whose target is not a repository: the configured one */
	opt.team = "itsm";
	v = import_refs(t.conn, dir, "c.md", doc, &opt, &errs);
	assert_string_equal(v, "acme/backlog#12 acme/backlog#13");
	free(v);
	free(errs);
	/* nothing names one: reported with file:line, left out */
	opt.repository = NULL;
	v = import_refs(t.conn, dir, "d.md", doc, &opt, &errs);
	assert_string_equal(v, "");
	assert_non_null(strstr(errs, "/d.md:5: #12 names no repository"));
	free(v);
	free(errs);
	static const char *const names[] = { "a.md", "b.md", "c.md", "d.md" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *p = xasprintf("%s/%s", dir, names[i]);
		unlink(p);
		free(p);
	}
	rmdir(dir);
	pgtest_drop(&t);
}

/* Jira issues named in a postmortem (impxref.c): browse URLs anywhere,
 * bare keys in a ticket column only, never a piece of a longer token. */
static void test_jira_refs(void **state)
{
	UNUSED(state);
	struct imp_ticket_ref *v = NULL, r = { 0 };
	size_t n = 0;
	assert_int_equal(impx_ref_from_url("https://acme.atlassian.net/browse/OPS-12?focusedCommentId=3",
	                                   &r), 0);
	assert_string_equal(r.kind, "jira");
	assert_string_equal(r.target, "OPS");
	assert_string_equal(r.number, "OPS-12");
	assert_string_equal(r.url, "https://acme.atlassian.net/browse/OPS-12");
	impt_ref_free(&r);
	assert_int_equal(impx_ref_from_url("http://jira.example.com/jira/browse/PAY_2-7", &r), 0);
	assert_string_equal(r.target, "PAY_2");
	impt_ref_free(&r);
	static const char *const not_urls[] = {
		"https://acme.atlassian.net/browse/ops-12", "https://acme.atlassian.net/browse/OPS",
		"https://acme.atlassian.net/browse/OPS-12a", "https://x.example.com/?q=/browse/OPS-1",
		"ftp://x.example.com/browse/OPS-1", "https://github.com/acme/k8s/issues/3",
	};
	for (size_t i = 0; i < ARRAY_SIZE(not_urls); i++)
		if (impx_ref_from_url(not_urls[i], &r) == 0)
			fail_msg("%s taken for a Jira issue", not_urls[i]);

	impx_refs_from_text("see https://jira.example.com/browse/IDM-4, and IDM-5 (not a ticket "
	                    "column)", false, &v, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].number, "IDM-4");
	impx_refs_from_text("IDM-5, OPS-12 / https://jira.example.com/browse/IDM-4 CVE-2024-1234 "
	                    "x/OPS-9 utf-8 v1.OPS-3 OPS-12", true, &v, &n);
	assert_int_equal(n, 3);
	assert_string_equal(v[1].number, "IDM-5");
	assert_null(v[1].url);
	assert_string_equal(v[2].number, "OPS-12");
	assert_string_equal(v[2].target, "OPS");
	for (size_t i = 0; i < n; i++)
		impt_ref_free(&v[i]);
	free(v);
}

/* ServiceNow problems and problem tasks named in a postmortem
 * (impxref.c): numbers standing alone anywhere, record URLs of any
 * instance in their classic, nav_to.do and Next Experience forms. */
static void test_servicenow_refs(void **state)
{
	UNUSED(state);
	static const char sid[] = "0123456789abcdef0123456789abcdef";
	static const struct { const char *url, *table, *id; } urls[] = {
		{ "https://acme.service-now.com/problem.do?sys_id=0123456789abcdef0123456789abcdef",
		  "problem", sid },
		{ "https://acme.service-now.com/nav_to.do?uri=problem.do?sys_id="
		  "0123456789abcdef0123456789abcdef&sysparm_view=", "problem", sid },
		{ "https://acme.service-now.com/nav_to.do?uri=%2Fproblem_task.do%3Fsys_id%3D"
		  "0123456789abcdef0123456789abcdef", "problem_task", sid },
		{ "https://acme.service-now.com/now/nav/ui/classic/params/target/problem.do"
		  "%3Fsys_id%3D0123456789abcdef0123456789abcdef", "problem", sid },
		{ "http://127.0.0.1:8080/problem.do?sysparm_query=number=PRB0040002", "problem",
		  "PRB0040002" },
		/* a query's '+' is a space; %2B a '+'; each level decoded once */
		{ "https://acme.service-now.com/problem.do?sysparm_query=short_description%3Ddisk+"
		  "full%5Enumber%3DPRB0040002", "problem", "PRB0040002" },
		{ "https://acme.service-now.com/problem.do?sysparm_query=short_description%3DC%2B%2B"
		  "%5Enumber%3DPRB0040002", "problem", "PRB0040002" },
		{ "https://acme.service-now.com/nav_to.do?uri=problem.do%3Fsysparm_query%3Dnumber"
		  "%253DPRB0040002", "problem", "PRB0040002" },
		{ "https://acme.service-now.com/nav_to.do?sysparm_view=ess&uri=problem.do%3Fsys_id%3D"
		  "0123456789abcdef0123456789abcdef%26sysparm_view%3Dx", "problem", sid },
		/* lower-case hex as well as upper */
		{ "https://acme.service-now.com/nav_to.do?uri=%2fproblem_task.do%3fsys_id%3d"
		  "0123456789abcdef0123456789abcdef", "problem_task", sid },
		{ "https://acme.service-now.com/now/nav/ui/classic/params/target/problem_task.do"
		  "%3fsys_id%3d0123456789abcdef0123456789abcdef", "problem_task", sid },
		/* a bad escape in another parameter is that parameter's */
		{ "https://acme.service-now.com/problem.do?sys_id=0123456789abcdef0123456789abcdef"
		  "&sysparm_view=%zz", "problem", sid },
	};
	struct imp_ticket_ref *v = NULL, r = { 0 };
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
		if (impx_ref_from_url(urls[i].url, &r) != 0)
			fail_msg("%s not taken for a ServiceNow record", urls[i].url);
		assert_string_equal(r.kind, "servicenow");
		assert_string_equal(r.target, urls[i].table);
		assert_string_equal(r.number, urls[i].id);
		assert_string_equal(r.url, urls[i].url);
		impt_ref_free(&r);
	}
	static const char *const not_urls[] = {
		"https://acme.service-now.com/incident.do?sys_id=0123456789abcdef0123456789abcdef",
		"https://acme.service-now.com/problem.do?sys_id=0123456789abcdef",
		"https://acme.service-now.com/problem.do?sys_id=0123456789ABCDEF0123456789ABCDEF",
		"https://acme.service-now.com/xproblem.do?sys_id=0123456789abcdef0123456789abcdef",
		"https://acme.service-now.com/problem.do?sysparm_query=number=PTASK0040001",
		"https://acme.service-now.com/problem.do?xsys_id=0123456789abcdef0123456789abcdef",
		"ftp://acme.service-now.com/problem.do?sys_id=0123456789abcdef0123456789abcdef",
		/* "<sys_id> ", "PRB0040002+": no record's */
		"https://acme.service-now.com/problem.do?sys_id=0123456789abcdef0123456789abcdef+",
		"https://acme.service-now.com/problem.do?sysparm_query=number%3DPRB0040002%2B",
		/* an invalid escape stays as written: no sys_id, no page */
		"https://acme.service-now.com/problem.do?sys_id=0123456789abcdef0123456789abcdef%zz",
		"https://acme.service-now.com/nav_to.do?uri=problem.do%zzsys_id="
		"0123456789abcdef0123456789abcdef",
		"https://acme.service-now.com/problem.do?sys_id=0123456789abcdef0123456789abcdef%00",
		/* a wrapped page is not decoded twice: %253D is "%3D" there */
		"https://acme.service-now.com/nav_to.do?uri=problem.do%3Fsys_id%253D"
		"0123456789abcdef0123456789abcdef",
		"https://acme.service-now.com/problem.do?sysparm_query=numberSTARTSWITHPRB0040002",
	};
	for (size_t i = 0; i < ARRAY_SIZE(not_urls); i++)
		if (impx_ref_from_url(not_urls[i], &r) == 0)
			fail_msg("%s taken for a ServiceNow record", not_urls[i]);

	/* numbers in any text; once each; never inside a longer token */
	impx_refs_from_text("adopt PRB0040002 (and PTASK0040001), again PRB0040002; not "
	                    "XPRB0040003, PRB0040004a, PRB123, x/PRB0040005, "
	                    "see https://acme.service-now.com/problem.do?sys_id="
	                    "0123456789abcdef0123456789abcdef.", false, &v, &n);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].number, "PRB0040002");
	assert_string_equal(v[0].target, "problem");
	assert_null(v[0].url);
	assert_string_equal(v[1].number, "PTASK0040001");
	assert_string_equal(v[1].target, "problem_task");
	assert_string_equal(v[2].number, sid);
	assert_string_equal(v[2].url, "https://acme.service-now.com/problem.do?sys_id="
	                    "0123456789abcdef0123456789abcdef");
	for (size_t i = 0; i < n; i++)
		impt_ref_free(&v[i]);
	free(v);
}

/* A postmortem naming ServiceNow records in its ticket column and its
 * text (tests/fixtures/postmortems/servicenow): references of type
 * servicenow, target the table; once each; a re-import adds none, nor
 * after reconcile adopted one (the link then has the connector's target
 * and the record's sys_id). */
static void test_servicenow_refs_stored(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_snref", true))
		return;
	size_t len;
	char *text = slurp(PM_DIR "/servicenow/2026-11-18-queue-backlog.md", &len);
	struct imp_postmortem *pm = parse_text_ok("queue-backlog.md", text);
	assert_int_equal(pm->n_items, 5);
	assert_int_equal(pm->items[0].n_xrefs, 1);
	assert_string_equal(pm->items[0].xrefs[0].number, "PRB0040002");
	assert_int_equal(pm->items[2].n_xrefs, 2);
	assert_int_equal(pm->items[3].n_xrefs, 1); /* named twice: one */
	assert_int_equal(pm->items[4].n_xrefs, 0);
	assert_int_equal(pm->items[4].n_refs, 1);
	struct imp_counts k;
	store_ok(t.conn, pm, false, &k, NULL);
	static const char q[] =
		"SELECT string_agg(a.position || ':' || l.connector || '/' || l.target || '/' ||"
		" l.remote_key, ' ' ORDER BY a.position, l.remote_key) FROM external_link l"
		" JOIN action_item a ON a.id = l.action_item_id WHERE l.kind = 'reference'";
	char *v = pgtest_value(t.conn, q, 0, NULL);
	assert_string_equal(v, "1:servicenow/problem/PRB0040002 "
	                    "2:servicenow/problem/0123456789abcdef0123456789abcdef "
	                    "3:servicenow/problem/PRB0040002 3:servicenow/problem_task/PTASK0040001 "
	                    "4:servicenow/problem/PRB0040003 5:github/acme/payments/acme/payments#77");
	free(v);
	long links = count(t.conn, "external_link");
	store_ok(t.conn, pm, false, &k, NULL);
	assert_int_equal(count(t.conn, "external_link"), links);
	/* reconcile adopted item 1's problem (as closeloop_rec_apply leaves
	 * it) and item 2's by its sys_id: still no second reference */
	pgtest_exec(t.conn, "UPDATE external_link l SET kind = 'managed', connector = 'itsm',"
	            " target = '8a4dde73c6112278017a6a4baf547aa7', state = 'linked',"
	            " remote_id = CASE WHEN l.remote_key LIKE 'PRB%' THEN"
	            "  'fedcba9876543210fedcba9876543210' ELSE l.remote_key END,"
	            " remote_key = 'PRB0040002' FROM action_item a"
	            " WHERE a.id = l.action_item_id AND a.position IN (1, 2)"
	            " AND l.connector = 'servicenow'", 0, NULL);
	store_ok(t.conn, pm, false, &k, NULL);
	assert_int_equal(count(t.conn, "external_link"), links);
	assert_int_equal(k.refs_new, 0);
	imp_postmortem_free(pm);
	free(text);
	pgtest_drop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_etcd),
		cmocka_unit_test(test_dfds_counts),
		cmocka_unit_test(test_dfds_details),
		cmocka_unit_test(test_dfds_rejected),
		cmocka_unit_test(test_table_reordered),
		cmocka_unit_test(test_checkboxes_and_markers),
		cmocka_unit_test(test_headings_and_metadata),
		cmocka_unit_test(test_problem_reference),
		cmocka_unit_test(test_mappings),
		cmocka_unit_test(test_long_title),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_import_keys),
		cmocka_unit_test(test_empty_link),
		cmocka_unit_test(test_long_title_no_break),
		cmocka_unit_test(test_empty_first_heading),
		cmocka_unit_test(test_keys_linear),
		cmocka_unit_test(test_text_rules),
		cmocka_unit_test(test_store_etcd_idempotent),
		cmocka_unit_test(test_store_edit_and_tracker),
		cmocka_unit_test(test_store_dry_run),
		cmocka_unit_test(test_store_team_and_missing),
		cmocka_unit_test(test_bare_refs_from_configuration),
		cmocka_unit_test(test_jira_refs),
		cmocka_unit_test(test_servicenow_refs),
		cmocka_unit_test(test_servicenow_refs_stored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
