/* impwatch.h — the daemon watches postmortem directories (config
 * `import.watch`) and imports a file within seconds of its change.
 *
 * How a change is noticed:
 *   - libuv file-system events (uv_fs_event_t, inotify on Linux), one per
 *     directory found under a watched root (inotify is not recursive), a
 *     quiet time of import.debounce_ms after the last event, then a scan;
 *   - a full rescan every import.rescan_interval seconds, because inotify
 *     misses changes on some file systems (NFS, SMB, FUSE, bind mounts
 *     changed from another namespace) and an event may be lost when the
 *     watch limit (fs.inotify.max_user_watches) is reached.
 * A scan stats every Markdown file (imp_markdown_name) under the roots and
 * imports those whose (mtime, size, inode) differ from the last scan — all
 * of them at the daemon's start, which changes nothing in the ledger for
 * documents already imported (the import is idempotent).
 *
 * The scan runs on libuv's thread pool (uv_queue_work) with its own
 * blocking ledger connection, so a large file or a slow transaction never
 * stalls the loop (reconcile, HTTP, the listener).  One scan at a time;
 * events during a scan ask for one more.  Results are logged from the
 * loop: "imported REF (PATH): n new, ..." (info) and, per broken file,
 * "import: skipped PATH[:LINE]: reason" (warn) — once per version of the
 * file, not at every rescan.  A file that could not be stored (ledger
 * down) is tried again at the next scan.  A file removed from a watched
 * directory keeps its postmortem in the ledger.  Documents without an id
 * of their own get the reference of their path relative to the watched
 * root, as `closeloop import DIR` gives them.
 */
#ifndef CLOSELOOP_IMPWATCH_H
#define CLOSELOOP_IMPWATCH_H

#include <stdint.h>
#include <uv.h>
#include "config.h"
#include "util.h"

struct imp_watch;

struct imp_watch_stats {
	uint64_t scans;
	uint64_t files_imported;   /* stored (new, updated or unchanged) */
	uint64_t files_skipped;    /* not a postmortem, unreadable, no items */
	uint64_t files_failed;     /* not stored (retried at the next scan) */
	uint64_t dirs_watched;     /* file-system event handles open now */
};

/* cfg is copied (import.*, database.dsn, defaults.platform / team /
 * target); the first scan starts at once when import.watch lists any
 * directory.  Returns 0 or -errno (timers could not start). */
int imp_watch_new(struct imp_watch **out, uv_loop_t *loop, const struct config *cfg) MUST_CHECK;

/* New configuration (SIGHUP): directories, debounce and rescan interval
 * apply at once (a scan follows). */
void imp_watch_set_config(struct imp_watch *w, const struct config *cfg);

const struct imp_watch_stats *imp_watch_get_stats(const struct imp_watch *w);

/* Stop: no new scan; a scan in progress ends after the file it is
 * importing (its transaction commits; the thread is not interrupted);
 * handles close; then stopped(arg) runs from the loop and w is freed. */
void imp_watch_stop(struct imp_watch *w, void (*stopped)(void *), void *arg);

#endif
