/* daemon.h — the long-running process: one libuv loop that owns the
 * configuration, the ledger connection (async db), the HTTP client, the
 * connectors, the reconcile engine, one poll timer per connector, the
 * LISTEN channel, signals and the systemd watchdog.
 *
 *   SIGTERM/SIGINT  graceful stop: no new cycles, in-flight requests finish
 *                   (or are cancelled after 20 s) and their ledger writes
 *                   commit, then exit 0
 *   SIGHUP          reload the configuration; a bad new file keeps the old
 *                   one and the reason is logged; the directory is reloaded
 *
 * Signals are handled through uv_signal_t: the handler only records the
 * request, the loop does the work (Redis habit).
 */
#ifndef CLOSELOOP_DAEMON_H
#define CLOSELOOP_DAEMON_H

#include <stdbool.h>
#include "config.h"
#include "util.h"

struct daemon_options {
	const char *config_path;
	bool once;            /* `sync --once`: one full cycle, then exit */
	bool dry_run;         /* with once: print the plan, write nothing */
	const char *connector;/* with once: only this connector (NULL = all) */
};

/* Run until stopped.  Takes ownership of cfg.  Returns the process exit
 * status: 0 after a clean stop (or a once-cycle without errors), 1 when
 * start-up failed (the reason is logged), 2 when a once-cycle had errors. */
int daemon_run(struct config *cfg, const struct daemon_options *opt) MUST_CHECK;

#endif
