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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_similarity),
		cmocka_unit_test(test_reworded_item_same_ticket),
		cmocka_unit_test(test_explicit_ids_and_team),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
