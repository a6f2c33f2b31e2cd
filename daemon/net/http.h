/* http.h — asynchronous HTTP client: libcurl's multi-socket API driven by
 * the libuv loop (curl docs/examples/multi-uv.c is the model).
 *
 * One struct http_client per daemon; connectors share it.  Each request
 * is one curl easy handle whose per-transfer state sits in CURLOPT_PRIVATE.
 * The response body is capped (default 32 MiB, curl habit); a larger body
 * fails the request with curl_code CURLE_WRITE_ERROR and an error text.
 * Redirects are NOT followed: connectors must see GitHub's 301.
 */
#ifndef CLOSELOOP_HTTP_H
#define CLOSELOOP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "util.h"

struct http_client;

struct http_header {
	char *name;   /* as received, e.g. "Retry-After" */
	char *value;  /* trimmed */
};

struct http_response {
	long status;              /* HTTP status, 0 when the transfer failed */
	int curl_code;            /* CURLcode, 0 = CURLE_OK */
	const char *error;        /* transport error text or NULL */
	char *body;               /* NUL-terminated, may be empty "" */
	size_t body_len;
	struct http_header *headers;
	size_t n_headers;
	int64_t elapsed_ms;
};

/* Case-insensitive header look-up; the last occurrence wins; NULL if none. */
const char *http_response_header(const struct http_response *r, const char *name);

/* A mail through the same client: libcurl's SMTP (RFC 5321).  With
 * http_request.mail set, url is "smtp://host[:port]" (STARTTLS, RFC 3207,
 * required unless starttls_optional) or "smtps://host[:port]" (implicit
 * TLS, RFC 8314); body is the whole RFC 5322 message with CRLF line ends;
 * method and headers are ignored.  The response's status is the server's
 * last SMTP reply code (250: accepted for delivery), also when the
 * transfer failed (a 5xx that refused the sender, a recipient or the
 * message; 0 when there was no reply). */
struct http_mail {
	const char *from;             /* envelope sender (MAIL FROM) */
	const char *const *rcpt;      /* NULL-terminated envelope recipients, >= 1 */
	const char *username;         /* SMTP AUTH, NULL = none */
	const char *password;
	bool starttls_optional;       /* smtp://: go on in clear text when the
	                                 server offers no STARTTLS */
};

struct http_request {
	const struct http_mail *mail; /* NULL for HTTP; see struct http_mail */
	const char *method;        /* "GET", "POST", "PATCH", "PUT", "DELETE" */
	const char *url;           /* absolute URL */
	const char *const *headers;/* NULL-terminated "Name: value" strings;
	                              at most 256, 64 KiB in all */
	const char *body;          /* may be NULL */
	size_t body_len;
	int64_t timeout_ms;        /* whole transfer; 0 = client default */
	const char *ca_file;       /* PEM CA bundle for this request (a private
	                              CA), NULL = the client's, else the system's */
	bool not_idempotent;       /* a method RFC 9110 calls idempotent used for
	                              a request that is not (ServiceNow's journal
	                              PATCH appends): a fresh connection, as for
	                              every POST (see http.c) */
};

/* Is code (a CURLcode) a TLS certificate failure (the server's certificate
 * not trusted, expired, wrong name, unreadable CA file)?  Such a failure
 * does not heal on its own: callers do not retry it. */
bool http_error_is_certificate(int curl_code);

/* Called once per request from the loop.  resp is valid only during the
 * callback; the client frees it afterwards. */
typedef void (*http_done_cb)(const struct http_response *resp, void *arg);

struct http_stats {
	uint64_t requests, get, post, patch, other, failed, bytes_in;
};

struct http_client_options {
	int64_t default_timeout_ms;  /* 0 = 30000 */
	size_t max_body;             /* 0 = 32 MiB */
	const char *user_agent;      /* 0 = "closeloop/<version>" */
	const char *ca_file;         /* optional */
};

/* Returns 0 or a negative errno-style code. */
int http_client_new(struct http_client **out, uv_loop_t *loop,
                    const struct http_client_options *opt) MUST_CHECK;

/* Start a request.  Returns 0 (cb will be called exactly once, later) or a
 * negative code (cb never called): -EINVAL (no url/cb, bad url), -E2BIG
 * (too many headers), -ESHUTDOWN (closing), -ENOMEM.  The request's
 * strings are copied. */
int http_send(struct http_client *c, const struct http_request *req,
              http_done_cb cb, void *arg) MUST_CHECK;

/* http_send, and the request's id (never 0, unique for the client's
 * life) in *id_out (may be NULL) for http_cancel(). */
int http_send_id(struct http_client *c, const struct http_request *req,
                 http_done_cb cb, void *arg, uint64_t *id_out) MUST_CHECK;

/* Abort the one in-flight request id: its callback is called with
 * curl_code CURLE_ABORTED_BY_CALLBACK and error "cancelled", from the loop
 * (never from inside this call).  An id that is unknown, already
 * cancelled, or whose transfer has already finished (its real answer is
 * then delivered) is ignored.  Cost: a walk of the in-flight list. */
void http_cancel(struct http_client *c, uint64_t id);

/* Abort every in-flight request: each callback is called with curl_code
 * CURLE_ABORTED_BY_CALLBACK and error "cancelled", from the loop. */
void http_cancel_all(struct http_client *c);

/* Close all handles; closed_cb (may be NULL) runs from the loop when the
 * last libuv handle is closed, after which the client is freed.  Pending
 * requests are cancelled first. */
void http_client_close(struct http_client *c, void (*closed_cb)(void *), void *arg);

const struct http_stats *http_client_stats(const struct http_client *c);
size_t http_client_inflight(const struct http_client *c);

#endif
