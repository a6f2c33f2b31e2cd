/* listener.h — the daemon's small HTTP listener (http-parser on libuv):
 *
 *   GET /healthz   200 "ok\n" when the ledger connection is up and the
 *                  daemon is running, else 503 with the reason
 *   GET /metrics   Prometheus text exposition format 0.0.4
 *                  (https://prometheus.io/docs/instrumenting/exposition_formats/)
 *
 * Anything else is 404; other methods 405.  Requests are limited to 8 KiB
 * of headers and no body; connections idle for 10 s are closed.  Bind it
 * to loopback (or a management network): it has no authentication.
 */
#ifndef CLOSELOOP_LISTENER_H
#define CLOSELOOP_LISTENER_H

#include <stdbool.h>
#include <uv.h>
#include "util.h"

struct listener;

/* Append the metrics text to out; return 0 or a negative code. */
typedef int (*listener_metrics_fn)(struct buf *out, void *arg);
/* Return true when healthy; else set *why to a static sentence. */
typedef bool (*listener_health_fn)(void *arg, const char **why);

/* address is "HOST:PORT" (IPv4 or [IPv6]); port 0 picks a free one.
 * Returns 0 or a negative libuv/errno code (nothing to close then). */
int listener_start(struct listener **out, uv_loop_t *loop, const char *address,
                   listener_metrics_fn metrics, listener_health_fn health,
                   void *arg) MUST_CHECK;
/* The port actually bound (after port 0). */
int listener_port(const struct listener *l);
/* Close the server and every connection; closed_cb runs from the loop
 * when the last handle is closed, then the listener is freed. */
void listener_close(struct listener *l, void (*closed_cb)(void *), void *arg);

#endif
