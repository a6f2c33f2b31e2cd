/* test_import_identity.c — an action item keeps its identity when the
 * postmortem document is edited (impmatch.h): matched by ticket, explicit
 * id, key, then similarity; reordering swaps nothing; a removed item is
 * kept and marked; unknown teams are reported.  The pure matcher is tested
 * alone; the store tests use a real PostgreSQL (CLOSELOOP_TEST_DSN; they
 * skip without it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "importer.h"
#include "impmatch.h"
#include "pgtest.h"

static struct imp_postmortem *parse(const char *text)
{
	struct imp_postmortem *pm = NULL;
	char err[512];
	if (imp_parse_text("pm.md", text, strlen(text), &pm, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return pm;
}

static void store(PGconn *c, const char *text, struct imp_counts *k, char **out_text)
{
	struct imp_postmortem *pm = parse(text);
	struct imp_options opt = { .team = "sre" };
	char err[512];
	size_t len;
	FILE *out = out_text ? open_memstream(out_text, &len) : NULL;
	if (imp_store(c, pm, &opt, k, out, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	if (out)
		fclose(out);
	imp_postmortem_free(pm);
}

/* The ledger id of the item titled title. */
static long id_of(PGconn *c, const char *title)
{
	const char *p[] = { title };
	return pgtest_long(c, "SELECT id FROM action_item WHERE title = $1", 1, p);
}

static long n(PGconn *c, const char *sql)
{
	return pgtest_long(c, sql, 0, NULL);
}

static void test_similarity(void **state)
{
	UNUSED(state);
	assert_true(impm_similarity("Write the runbook for failover",
	                            "Write the failover runbook") >= IMPM_MIN_SIMILARITY);
	assert_true(impm_similarity("Rotate the keys", "Add an alert on disk space") <
	            IMPM_MIN_SIMILARITY);
	assert_true(impm_similarity("", "") == 1.0);

	/* ticket first, then key, then similarity; never two items on one row */
	struct imp_postmortem *pm = parse("# X\n\n## Action items\n\n"
		"- Alert on p99 latency for checkout acme/shop#5\n"
		"- Rotate the keys\n"
		"- Write the failover runbook\n");
	static const char *const t5[] = { "acme/shop#5" };
	struct impm_row rows[] = {
		{ "k-old-1", "Write the runbook for failover", 3, NULL, 0 },
		{ pm->items[1].import_key, "Rotate the keys", 2, NULL, 0 },
		{ "k-old-3", "Add p99 alert", 1, t5, 1 },
	};
	long match[3];
	impm_match(pm, rows, 3, match);
	assert_int_equal(match[0], 2);
	assert_int_equal(match[1], 1);
	assert_int_equal(match[2], 0);
	bool moves[3] = { false };
	impm_moves(pm, rows, 3, match, moves);
	assert_true(moves[0] && !moves[1] && moves[2]);
	imp_postmortem_free(pm);
}

static const char doc1[] =
	"# Checkout outage\n\n## Action items\n\n"
	"- Add p99 alert on checkout https://github.com/acme/shop/issues/5\n"
	"- Rotate the keys\n"
	"- Write the runbook for failover\n";

static void test_reworded_item_same_ticket(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_ident", true))
		return;
	struct imp_counts k;
	store(t.conn, doc1, &k, NULL);
	assert_int_equal(k.items_new, 3);
	long alert = id_of(t.conn, "Add p99 alert on checkout");
	long runbook = id_of(t.conn, "Write the runbook for failover");
	long keys = id_of(t.conn, "Rotate the keys");
	/* reconcile adopts the reference as a managed link */
	pgtest_exec(t.conn, "UPDATE external_link SET kind = 'managed', state = 'linked',"
	            " connector = 'github-main'", 0, NULL);

	/* re-worded: the ticket says it is the same item; no second link */
	char *out = NULL;
	store(t.conn, "# Checkout outage\n\n## Action items\n\n"
	      "- Page on checkout p99 latency above 2 s https://github.com/acme/shop/issues/5\n"
	      "- Rotate the keys\n"
	      "- Write the failover runbook\n", &k, &out);
	assert_int_equal(k.items_new, 0);
	assert_int_equal(k.items_updated, 2);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM action_item"), 3);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM external_link"
	                           " WHERE remote_key = 'acme/shop#5'"), 1);
	assert_int_equal(id_of(t.conn, "Page on checkout p99 latency above 2 s"), alert);
	assert_int_equal(id_of(t.conn, "Write the failover runbook"), runbook);
	/* history shows the title change */
	assert_int_equal(n(t.conn, "SELECT count(*) FROM item_event WHERE field = 'title'"
	                           " AND old_value = 'Add p99 alert on checkout'"
	                           " AND new_value = 'Page on checkout p99 latency above 2 s'"), 1);
	assert_non_null(strstr(out, "is now \"Write the failover runbook\""));
	free(out);

	/* reordered: nothing swaps */
	store(t.conn, "# Checkout outage\n\n## Action items\n\n"
	      "- Write the failover runbook\n"
	      "- Rotate the keys\n"
	      "- Page on checkout p99 latency above 2 s https://github.com/acme/shop/issues/5\n",
	      &k, NULL);
	assert_int_equal(k.items_new, 0);
	assert_int_equal(id_of(t.conn, "Write the failover runbook"), runbook);
	assert_int_equal(id_of(t.conn, "Rotate the keys"), keys);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM item_event WHERE field = 'title'"), 2);

	/* removed: kept and marked; back: unmarked, same item */
	out = NULL;
	store(t.conn, "# Checkout outage\n\n## Action items\n\n"
	      "- Write the failover runbook\n"
	      "- Page on checkout p99 latency above 2 s https://github.com/acme/shop/issues/5\n",
	      &k, &out);
	assert_non_null(strstr(out, "no longer in the document: Rotate the keys"));
	free(out);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM action_item"
	                           " WHERE removed_from_document_at IS NOT NULL"), 1);
	store(t.conn, "# Checkout outage\n\n## Action items\n\n"
	      "- Write the failover runbook\n- Rotate the keys\n"
	      "- Page on checkout p99 latency above 2 s https://github.com/acme/shop/issues/5\n",
	      &k, NULL);
	assert_int_equal(k.items_new, 0);
	assert_int_equal(id_of(t.conn, "Rotate the keys"), keys);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM action_item"
	                           " WHERE removed_from_document_at IS NOT NULL"), 0);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM action_item"), 3);
	pgtest_drop(&t);
}

static void test_explicit_ids_and_team(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_ids", true))
		return;
	struct imp_counts k;
	char *out = NULL;
	store(t.conn, "---\nteam: SN, SW\n---\n# Disk full\n\n## Action items\n\n"
	      "| ID | Action | Owner |\n|---|---|---|\n"
	      "| AI-1 | Alert on disk usage | @a |\n| AI-2 | Rotate logs hourly | @b |\n",
	      &k, &out);
	assert_non_null(strstr(out, "team    \"SN, SW\" (pm.md:1) is several teams, not one;"
	                            " its items go to sre"));
	free(out);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM action_item a JOIN team t"
	                           " ON t.id = a.team_id WHERE t.name = 'sre'"), 2);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM postmortem"
	                           " WHERE team_as_written = 'SN, SW'"), 1);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM team"), 1);
	long a1 = id_of(t.conn, "Alert on disk usage");
	/* a completely different wording keeps its id through the ID column */
	store(t.conn, "# Disk full\n\n## Action items\n\n"
	      "| ID | Action | Owner |\n|---|---|---|\n"
	      "| AI-2 | Rotate logs hourly | @b |\n| AI-1 | Page when a volume is 90% full | @a |\n",
	      &k, NULL);
	assert_int_equal(k.items_new, 0);
	assert_int_equal(id_of(t.conn, "Page when a volume is 90% full"), a1);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM action_item"), 2);
	pgtest_drop(&t);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static char *read_all(const char *path)
{
	char *text = NULL, err[256];
	size_t len;
	if (imp_read_file(path, &text, &len, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return text;
}

static const char list_doc[] =
	"# Cache stampede\n\n## Action items\n\n"
	"- Add request coalescing to the cache client\n"
	"- Alert on cache hit ratio below 80%\r\n";
static const char table_doc[] =
	"# Cache stampede again\n\n## Action items\n\n"
	"| Action | Owner | Ticket |\n|---|---|---|\n"
	"| Warm the cache before deploys | @a |  |\n"
	"| Cap the cache client's retries | @b | n/a **DONE** |\n";

/* Managed links to acme/cache for the action items WHERE says (reconcile
 * created their tickets). */
static void link_items(PGconn *c, const char *where)
{
	char *sql = xasprintf("INSERT INTO external_link (action_item_id, connector, target,"
	            " kind, state, remote_key, url) SELECT a.id, 'github-main', 'acme/cache',"
	            " 'managed', 'linked', 'acme/cache#' || a.id,"
	            " 'https://github.com/acme/cache/issues/' || a.id FROM action_item a %s", where);
	pgtest_exec(c, sql, 0, NULL);
	free(sql);
}

/* "closeloop import DIR": walked, non-Markdown and binary files reported,
 * same file names in two folders are two postmortems; --write-back adds
 * each item's ticket link next to it, once. */
static void test_directory_and_write_back(void **state)
{
	UNUSED(state);
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_dir", true))
		return;
	char root[] = "/tmp/closeloop-import-XXXXXX";
	assert_non_null(mkdtemp(root));
	char *a = xasprintf("%s/a", root), *b = xasprintf("%s/b", root);
	assert_int_equal(mkdir(a, 0755), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	char *fa = xasprintf("%s/2019-01-23.md", a), *fb = xasprintf("%s/2019-01-23.md", b);
	char *txt = xasprintf("%s/notes.txt", root), *bin = xasprintf("%s/blob.md", root);
	write_file(fa, list_doc, strlen(list_doc));
	write_file(fb, table_doc, strlen(table_doc));
	write_file(txt, "notes", 5);
	write_file(bin, "# x\0\1\2", 6);

	struct imp_options opt = { .team = "sre" };
	struct imp_run_stats st;
	char *out_text = NULL;
	size_t olen;
	FILE *out = open_memstream(&out_text, &olen);
	char *paths[] = { root };
	imp_run(t.conn, paths, 1, &opt, out, &st);
	fclose(out);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.skipped, 2);   /* notes.txt and the binary blob.md */
	assert_int_equal(st.total.postmortems_new, 2);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM postmortem WHERE reference IN"
	                           " ('a/2019-01-23', 'b/2019-01-23')"), 2);
	free(out_text);

	/* reconcile created tickets for the first item of each document */
	link_items(t.conn, "WHERE a.position = 1");
	long ia = pgtest_long(t.conn, "SELECT a.id FROM action_item a JOIN postmortem p"
	                      " ON p.id = a.postmortem_id WHERE p.reference = 'a/2019-01-23'"
	                      " AND a.position = 1", 0, NULL);
	long ib = pgtest_long(t.conn, "SELECT a.id FROM action_item a JOIN postmortem p"
	                      " ON p.id = a.postmortem_id WHERE p.reference = 'b/2019-01-23'"
	                      " AND a.position = 1", 0, NULL);
	opt.write_back = true;
	out = open_memstream(&out_text, &olen);
	imp_run(t.conn, paths, 1, &opt, out, &st);
	fclose(out);
	free(out_text);
	assert_int_equal(st.links_written, 2);
	char *want = xasprintf("# Cache stampede\n\n## Action items\n\n"
		"- Add request coalescing to the cache client"
		" ([acme/cache#%ld](https://github.com/acme/cache/issues/%ld))\n"
		"- Alert on cache hit ratio below 80%%\r\n", ia, ia);
	char *got = read_all(fa);
	assert_string_equal(got, want);
	free(got);
	free(want);
	want = xasprintf("# Cache stampede again\n\n## Action items\n\n"
		"| Action | Owner | Ticket |\n|---|---|---|\n"
		"| Warm the cache before deploys | @a | [acme/cache#%ld](https://github.com/acme/cache/issues/%ld) |\n"
		"| Cap the cache client's retries | @b | n/a **DONE** |\n", ib, ib);
	got = read_all(fb);
	assert_string_equal(got, want);
	free(got);
	free(want);
	/* the links are now in the documents: nothing changes, nothing is added */
	long links = n(t.conn, "SELECT count(*) FROM external_link");
	out = open_memstream(&out_text, &olen);
	imp_run(t.conn, paths, 1, &opt, out, &st);
	fclose(out);
	free(out_text);
	assert_int_equal(st.links_written, 0);
	assert_int_equal(st.total.items_new, 0);
	assert_int_equal(n(t.conn, "SELECT count(*) FROM external_link"), links);

	/* a file changed since it was read is not overwritten */
	pgtest_exec(t.conn, "DELETE FROM external_link WHERE kind = 'reference'", 0, NULL);
	struct imp_postmortem *pm = NULL;
	char err[512];
	assert_int_equal(imp_parse_text(fa, list_doc, strlen(list_doc), &pm, err, sizeof(err)), 0);
	free(pm->reference);
	pm->reference = xstrdup("a/2019-01-23");
	assert_int_equal(imp_write_back(t.conn, fa, list_doc, strlen(list_doc), pm, NULL, err,
	                                sizeof(err)), -EAGAIN);
	assert_non_null(strstr(err, "changed since it was read"));
	imp_postmortem_free(pm);

	unlink(fa);
	unlink(fb);
	unlink(txt);
	unlink(bin);
	rmdir(a);
	rmdir(b);
	rmdir(root);
	free(fa);
	free(fb);
	free(txt);
	free(bin);
	free(a);
	free(b);
	pgtest_drop(&t);
}

/* Items read from an HTML table or the front matter: --write-back
 * leaves the file as it is and says which links to add by hand. */
static void test_write_back_leaves_markup(void **state)
{
	UNUSED(state);
	static const char html_doc[] =
		"---\ntitle: Cold cache\naction_items:\n  - title: Warm the cache first\n---\n\n"
		"# Cold cache\n\n## Follow-ups\n\n<table>\n<tr><th>Action</th><th>Owner</th></tr>\n"
		"<tr><td>Coalesce cache fetches</td><td>@a</td></tr>\n</table>\n";
	struct pgtest_db t;
	if (!pgtest_create(&t, "imp_markup", true))
		return;
	char root[] = "/tmp/closeloop-import-XXXXXX";
	assert_non_null(mkdtemp(root));
	char *f = xasprintf("%s/cold.md", root);
	write_file(f, html_doc, strlen(html_doc));
	struct imp_options opt = { .team = "sre" };
	struct imp_run_stats st;
	char *out_text = NULL;
	size_t olen;
	char *paths[] = { root };
	FILE *out = open_memstream(&out_text, &olen);
	imp_run(t.conn, paths, 1, &opt, out, &st);
	fclose(out);
	free(out_text);
	assert_int_equal(st.total.items_new, 2);
	link_items(t.conn, "");
	opt.write_back = true;
	out = open_memstream(&out_text, &olen);
	imp_run(t.conn, paths, 1, &opt, out, &st);
	fclose(out);
	assert_int_equal(st.links_written, 0);
	assert_non_null(strstr(out_text, "not written  item 1 ("));
	assert_non_null(strstr(out_text, "cold.md:4): acme/cache#"));
	assert_non_null(strstr(out_text, "not written  item 2 ("));
	free(out_text);
	char *got = read_all(f);
	assert_string_equal(got, html_doc);
	free(got);
	unlink(f);
	rmdir(root);
	free(f);
	pgtest_drop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_similarity),
		cmocka_unit_test(test_reworded_item_same_ticket),
		cmocka_unit_test(test_explicit_ids_and_team),
		cmocka_unit_test(test_directory_and_write_back),
		cmocka_unit_test(test_write_back_leaves_markup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
