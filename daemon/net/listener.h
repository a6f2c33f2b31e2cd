/* listener.h — the daemon's small HTTP listener (http-parser on libuv):
 *
 *   GET /healthz        200 "ok\n" when the ledger connection is up and the
 *                       daemon is running, else 503 with the reason
 *   GET /metrics        Prometheus text exposition format 0.0.4
 *                       (https://prometheus.io/docs/instrumenting/exposition_formats/)
 *   POST /hooks/<name>  a tracker's webhook delivery for connector <name>
 *
 * A listener serves the routes whose handler is set (the daemon runs one
 * for /metrics and /healthz and, on its own address, one for /hooks/, so
 * that the unauthenticated metrics can stay on a private address).
 * Anything else is 404; a method a route does not take is 405.  Requests
 * are limited to 8 KiB of headers and max_body bytes of body (413 beyond,
 * checked against Content-Length before the body is read); every
 * connection is closed 10 s after it was accepted, answered or not, so a
 * slow client cannot hold a slot; at most 64 connections are open.  It has
 * no authentication of its own: bind /metrics to loopback (or a management
 * network); webhook deliveries are authenticated by their signatures.
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

/* One request to a hook route, valid during the call only: header names in
 * lower case, values as sent (at most LISTENER_MAX_HEADERS), the raw body
 * (not NUL-terminated). */
#define LISTENER_MAX_HEADERS 48
struct listener_request {
	const char *name;                  /* <name> of /hooks/<name> */
	const char *const *header_names;
	const char *const *header_values;
	size_t n_headers;
	const char *body;
	size_t body_len;
};
/* Handle a POST /hooks/<name>: append a short text answer to out and
 * return the HTTP status to send (202, 401, 404, ...).  Must not block:
 * the answer goes out as soon as it returns. */
typedef int (*listener_hook_fn)(const struct listener_request *req, struct buf *out, void *arg);

struct listener_handlers {
	listener_metrics_fn metrics;  /* GET /metrics, or NULL */
	listener_health_fn health;    /* GET /healthz, or NULL */
	listener_hook_fn hook;        /* POST /hooks/<name>, or NULL */
	void *arg;
	size_t max_body;              /* bytes a hook body may have (0: none) */
};

/* address is "HOST:PORT" (IPv4 or [IPv6]); port 0 picks a free one.  h is
 * copied.  Returns 0 or a negative libuv/errno code (nothing to close
 * then). */
int listener_start(struct listener **out, uv_loop_t *loop, const char *address,
                   const struct listener_handlers *h) MUST_CHECK;
/* The port actually bound (after port 0). */
int listener_port(const struct listener *l);
/* Close the server and every connection; closed_cb runs from the loop
 * when the last handle is closed, then the listener is freed. */
void listener_close(struct listener *l, void (*closed_cb)(void *), void *arg);

#endif
