/* impwatch_scan.h — one scan of the watched postmortem directories, run
 * on a thread-pool thread (impwatch.c).  Internal to daemon/import/.
 *
 * The scan owns, while it runs, the watcher's known-file table and its
 * ledger connection; the loop thread does not touch them until the scan's
 * after-work callback.  It writes nothing but its iw_job and those two. */
#ifndef CLOSELOOP_IMPWATCH_SCAN_H
#define CLOSELOOP_IMPWATCH_SCAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <libpq-fe.h>
#include "importer.h"

/* A file as last seen; mtime_ns = INT64_MIN: import it again (not stored). */
struct iw_file {
	char *path;
	int64_t mtime_ns;
	int64_t size;
	uint64_t ino;
};

struct iw_known {
	struct iw_file *v;   /* sorted by path (strcmp) */
	size_t n;
};

/* What the loop gives a scan (copies) and what it gets back. */
struct iw_job {
	/* in */
	char **roots;
	size_t n_roots;
	char *dsn;
	char *platform, *team, *repository;   /* may be NULL */
	char *sn_connectors;                  /* imp_options.sn_connectors */
	atomic_bool cancel;                   /* set by the loop: stop soon */
	struct iw_known *known;               /* the watcher's, owned during the scan */
	PGconn **conn;                        /* likewise; opened when NULL or broken */
	/* out */
	char *log_out, *log_err;              /* lines for the log (info / warn) */
	size_t log_out_len, log_err_len;
	char **dirs;                          /* directories found, sorted */
	size_t n_dirs;
	int *root_errno;                      /* per root: 0 or the errno reading it */
	struct imp_run_stats st;
};

/* Scan job->roots, import what changed, fill the out fields. */
void iw_scan(struct iw_job *job);

void iw_known_free(struct iw_known *k);

#endif
