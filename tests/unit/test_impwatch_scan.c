/* test_impwatch_scan.c — one scan of the watched postmortem directories
 * (daemon/import/impwatch_scan.h) over folders that hold no postmortem,
 * so no ledger is needed: a root that is missing reports its errno and
 * finds no directory (the scan sorted an empty, NULL list with qsort:
 * undefined behaviour, which UBSan stopped the daemon on in the
 * integration test test_import_watch_rescan_finds_a_late_directory), and
 * a tree's directories come back sorted, hidden ones left out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "impwatch_scan.h"
#include "util.h"

static void job_clear(struct iw_job *j)
{
	free(j->log_out);
	free(j->log_err);
	for (size_t i = 0; i < j->n_dirs; i++)
		free(j->dirs[i]);
	free(j->dirs);
	free(j->root_errno);
	iw_known_free(j->known);
}

static void scan(struct iw_job *j, char **roots, size_t n, struct iw_known *known, PGconn **conn)
{
	*j = (struct iw_job){ .roots = roots, .n_roots = n, .dsn = "dbname=unused",
	                      .known = known, .conn = conn };
	iw_scan(j);
}

static void test_missing_root(void **state)
{
	(void)state;
	char root[] = "/tmp/closeloop-iwscan-XXXXXX";
	assert_non_null(mkdtemp(root));
	char *absent = xasprintf("%s/late", root);
	struct iw_known known = { 0 };
	PGconn *conn = NULL;
	struct iw_job j;
	scan(&j, &absent, 1, &known, &conn);
	assert_int_equal(j.root_errno[0], ENOENT);
	assert_int_equal(j.n_dirs, 0);
	assert_int_equal(known.n, 0);
	assert_null(conn);   /* nothing to import: no ledger opened */
	job_clear(&j);
	free(absent);
	assert_int_equal(rmdir(root), 0);
}

static void test_dirs_sorted_hidden_left_out(void **state)
{
	(void)state;
	char root[] = "/tmp/closeloop-iwscan-XXXXXX";
	assert_non_null(mkdtemp(root));
	const char *sub[] = { "b", "a", "a/deep", ".hidden", ".hidden/x" };
	char *path[5];
	for (int i = 0; i < 5; i++) {
		path[i] = xasprintf("%s/%s", root, sub[i]);
		assert_int_equal(mkdir(path[i], 0700), 0);
	}
	char *roots[] = { root };
	struct iw_known known = { 0 };
	PGconn *conn = NULL;
	struct iw_job j;
	scan(&j, roots, 1, &known, &conn);
	assert_int_equal(j.root_errno[0], 0);
	assert_int_equal(j.n_dirs, 4);
	assert_string_equal(j.dirs[0], root);
	assert_string_equal(j.dirs[1], path[1]);   /* a */
	assert_string_equal(j.dirs[2], path[2]);   /* a/deep */
	assert_string_equal(j.dirs[3], path[0]);   /* b */
	assert_null(conn);
	job_clear(&j);
	for (int i = 4; i >= 0; i--) {
		assert_int_equal(rmdir(path[i]), 0);
		free(path[i]);
	}
	assert_int_equal(rmdir(root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_root),
		cmocka_unit_test(test_dirs_sorted_hidden_left_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
