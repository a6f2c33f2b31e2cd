/* http_internal.h — what the two halves of the HTTP client share; not
 * part of the public http.h contract.
 *   http.c     transfers (pool, curl easy handles, request set-up, response
 *              header/body capture), delivery from the loop, the client's
 *              life cycle and the public API;
 *   http_uv.c  the libuv side of curl's multi-socket API: the per-socket
 *              uv_poll_t (struct http_sock, found by fd), curl's timeout in
 *              c->timer, and the socket open/close hooks.
 */
#ifndef CLOSELOOP_HTTP_INTERNAL_H
#define CLOSELOOP_HTTP_INTERNAL_H

#include <curl/curl.h>
#include "http.h"

struct xfer;       /* http.c */
struct http_sock;  /* http_uv.c */

enum client_state {
	CLIENT_OPEN = 0,
	CLIENT_CLOSING,   /* close requested, callbacks still to deliver */
	CLIENT_CLOSED,    /* handles closing, freed when the last one is */
};

struct http_client {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;  /* curl's timeout */
	uv_timer_t reap;   /* delivers completions from the loop */
	enum client_state state;
	struct xfer *active;   /* list of XFER_ACTIVE */
	struct xfer *done_head, *done_tail;
	struct xfer *pool;     /* XFER_IDLE, singly linked by next */
	size_t n_pool;
	struct http_sock *socks;
	struct http_sock **by_fd;  /* [fd] -> its http_sock or NULL */
	size_t n_by_fd;
	size_t n_active, n_done;
	uint64_t next_id;      /* last id handed out */
	int open_handles;      /* libuv handles not yet closed */
	bool reaping;
	int64_t default_timeout_ms;
	size_t max_body;
	char *user_agent;
	char *ca_file;
	struct http_stats stats;
	void (*closed_cb)(void *);
	void *closed_arg;
};

/* ---- http.c ---- */

/* Drain curl_multi_info_read() after a curl_multi_socket_action(): each
 * finished transfer leaves the multi handle and is queued for delivery. */
void http_check_multi_info(struct http_client *c);

/* Drives a closing client on; called again whenever one of its libuv
 * handles has closed (a no-op while the client is open). */
void http_client_finish_close(struct http_client *c);

/* ---- http_uv.c ---- */

/* Install CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION (and their data) on
 * c->multi; c->timer is initialised by the caller. */
void http_uv_multi_setup(struct http_client *c);

/* Install CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION (and their
 * data) on easy, so a connection socket is watched for its lifetime. */
void http_uv_easy_setup(struct http_client *c, CURL *easy);

/* Stop and close every watched socket's uv_poll_t (at client close, after
 * curl_multi_cleanup); each close callback calls
 * http_client_finish_close(). */
void http_uv_release_all(struct http_client *c);

#endif
