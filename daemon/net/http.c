/* http.c — see http.h.
 *
 * The transfers and the client: pooled curl easy handles, request set-up,
 * response header/body capture, delivery, close, and the public API.
 * curl's sockets and timer on the libuv loop are in http_uv.c (see
 * http_internal.h); after every curl_multi_socket_action() there,
 * http_check_multi_info() drains curl_multi_info_read() and takes
 * finished easy handles out of the multi handle.
 *
 * Completion callbacks never run while curl is on the stack: a finished
 * (or cancelled) transfer is moved to a "done" queue and a zero-delay
 * timer (reap) calls the user callbacks from the loop, one at a time.
 */
#include "http_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_DEFAULT_TIMEOUT_MS 30000
#define HTTP_DEFAULT_MAX_BODY ((size_t)32 * 1024 * 1024)
/* Response headers are capped too: GitHub sends ~2 KiB. */
#define HTTP_MAX_HEADER_BYTES ((size_t)256 * 1024)
#define HTTP_MAX_HEADERS 256
/* Idle transfers kept for reuse, and the largest buffer a pooled transfer
 * keeps (a bigger one, e.g. after a 1 MiB page, is freed). */
#define HTTP_POOL_MAX 32
#define HTTP_POOL_KEEP_BYTES ((size_t)64 * 1024)
#ifdef CLOSELOOP_VERSION
#define HTTP_VERSION CLOSELOOP_VERSION
#else
#define HTTP_VERSION "0"
#endif

enum xfer_state {
	XFER_IDLE = 0,   /* in the client's pool, ready for reuse */
	XFER_ACTIVE,     /* in the multi handle */
	XFER_DONE,       /* out of curl, waiting for its callback */
};

/* Where a response header's name and value start in hdr_text. */
struct hdr_off {
	size_t name, value;
};

/* One transfer.  Transfers are pooled (up to HTTP_POOL_MAX): the easy
 * handle (curl_easy_reset keeps its allocations and caches) and every
 * buffer below are reused, so a steady stream of requests allocates
 * next to nothing here. */
struct xfer {
	struct http_client *c;
	struct xfer *prev, *next;  /* active list, done queue or pool */
	enum xfer_state state;
	uint64_t id;       /* http_send_id's handle */
	CURL *easy;
	/* request headers: our own curl_slist nodes (a public struct curl
	 * only reads) pointing into req_hdr_text; no curl_slist_append */
	struct curl_slist *req_hdrs;
	size_t req_hdrs_cap;
	struct buf req_hdr_text;
	struct buf req_body;  /* copy of the request body */
	size_t up_off;        /* SMTP: how much of req_body curl has read */
	struct curl_slist *rcpt; /* SMTP: envelope recipients */
	http_done_cb cb;
	void *arg;
	uint64_t start_ns;
	struct buf resp_body;
	/* response headers: "name\0value\0..." in one buffer plus offsets;
	 * the http_header array is made at delivery */
	struct buf hdr_text;
	struct hdr_off *hdr_offs;
	size_t n_headers, hdr_cap;
	struct http_header *headers;
	size_t headers_cap;
	size_t header_bytes;
	bool too_big;
	bool headers_too_big;
	long status;
	int curl_code;
	char *error;
	char errbuf[CURL_ERROR_SIZE];
};

static void on_reap(uv_timer_t *t);

/* ---- lists ---- */

static void active_unlink(struct http_client *c, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		c->active = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	c->n_active--;
}

static void done_push(struct http_client *c, struct xfer *x)
{
	x->state = XFER_DONE;
	x->next = NULL;
	x->prev = c->done_tail;
	if (c->done_tail)
		c->done_tail->next = x;
	else
		c->done_head = x;
	c->done_tail = x;
	c->n_done++;
	if (!c->reaping)
		uv_timer_start(&c->reap, on_reap, 0, 0);
}

static struct xfer *done_pop(struct http_client *c)
{
	struct xfer *x = c->done_head;
	if (!x)
		return NULL;
	c->done_head = x->next;
	if (c->done_head)
		c->done_head->prev = NULL;
	else
		c->done_tail = NULL;
	x->next = x->prev = NULL;
	c->n_done--;
	return x;
}

static void xfer_destroy(struct xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	free(x->req_hdrs);
	curl_slist_free_all(x->rcpt);
	buf_free(&x->req_hdr_text);
	buf_free(&x->req_body);
	buf_free(&x->resp_body);
	buf_free(&x->hdr_text);
	free(x->hdr_offs);
	free(x->headers);
	free(x->error);
	free(x);
}

/* Empty a buffer for reuse; a large one is freed instead of kept. */
static void buf_recycle(struct buf *b)
{
	if (b->cap > HTTP_POOL_KEEP_BYTES) {
		buf_free(b);
		return;
	}
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Done with x: back into the pool, or destroyed when the pool is full
 * or the client is going away. */
static void xfer_release(struct http_client *c, struct xfer *x)
{
	if (c->state != CLIENT_OPEN || c->n_pool >= HTTP_POOL_MAX || !x->easy) {
		xfer_destroy(x);
		return;
	}
	curl_easy_reset(x->easy);
	curl_slist_free_all(x->rcpt);
	x->rcpt = NULL;
	x->up_off = 0;
	buf_recycle(&x->req_hdr_text);
	buf_recycle(&x->req_body);
	buf_recycle(&x->resp_body);
	buf_recycle(&x->hdr_text);
	x->n_headers = 0;
	x->header_bytes = 0;
	x->too_big = x->headers_too_big = false;
	x->status = 0;
	x->curl_code = 0;
	free(x->error);
	x->error = NULL;
	x->errbuf[0] = '\0';
	x->cb = NULL;
	x->arg = NULL;
	x->id = 0;
	x->state = XFER_IDLE;
	x->prev = NULL;
	x->next = c->pool;
	c->pool = x;
	c->n_pool++;
}

/* A transfer from the pool, or a new one.  NULL when curl cannot make
 * an easy handle. */
static struct xfer *xfer_get(struct http_client *c)
{
	struct xfer *x = c->pool;
	if (x) {
		c->pool = x->next;
		c->n_pool--;
		x->next = NULL;
		return x;
	}
	x = xcalloc(1, sizeof(*x));
	x->c = c;
	x->resp_body.max = c->max_body;
	x->hdr_text.max = HTTP_MAX_HEADER_BYTES + 2 * HTTP_MAX_HEADERS + 1;
	x->easy = curl_easy_init();
	if (!x->easy) {
		xfer_destroy(x);
		return NULL;
	}
	return x;
}

static void pool_drain(struct http_client *c)
{
	while (c->pool) {
		struct xfer *x = c->pool;
		c->pool = x->next;
		xfer_destroy(x);
	}
	c->n_pool = 0;
}

/* Take x out of curl (it must be XFER_ACTIVE) and queue its callback. */
static void xfer_complete(struct xfer *x, int curl_code, const char *error)
{
	struct http_client *c = x->c;
	if (x->state != XFER_ACTIVE)
		abort();
	curl_multi_remove_handle(c->multi, x->easy);
	active_unlink(c, x);
	x->curl_code = curl_code;
	if (curl_code == CURLE_OK) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	} else {
		x->status = 0;
		if (x->rcpt) /* SMTP: the reply that refused it (RFC 5321 4.2) */
			curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		if (error)
			x->error = xstrdup(error);
		else if (x->too_big)
			x->error = xasprintf("response body larger than %zu bytes", c->max_body);
		else if (x->headers_too_big)
			x->error = xstrdup("response headers too large");
		else if (x->errbuf[0])
			x->error = xstrdup(x->errbuf);
		else
			x->error = xstrdup(curl_easy_strerror((CURLcode)curl_code));
		c->stats.failed++;
	}
	c->stats.bytes_in += x->resp_body.len;
	done_push(c, x);
}

/* ---- curl callbacks: they only record, never call the user ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	if (buf_append(&x->resp_body, ptr, n) < 0) {
		x->too_big = true;
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	}
	return n;
}

/* Keep [p, p+n) trimmed of ASCII white space at both ends, NUL-ended,
 * in hdr_text; returns its offset.  hdr_text's cap is above the header
 * byte cap, so this cannot fail once on_header has counted the line. */
static size_t hdr_keep(struct xfer *x, const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
	                 p[n - 1] == '\n'))
		n--;
	size_t off = x->hdr_text.len;
	if (buf_append(&x->hdr_text, p, n) < 0 || buf_append(&x->hdr_text, "", 1) < 0)
		abort();
	return off;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nitems;
	x->header_bytes += n;
	if (x->header_bytes > HTTP_MAX_HEADER_BYTES) {
		x->headers_too_big = true;
		return 0;
	}
	/* A status line starts a new header block (1xx interim answers). */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		x->n_headers = 0;
		x->hdr_text.len = 0;
		return n;
	}
	const char *colon = memchr(ptr, ':', n);
	if (!colon || colon == ptr)
		return n; /* blank line ending the block, or a folded line */
	if (x->n_headers >= HTTP_MAX_HEADERS) {
		x->headers_too_big = true;
		return 0;
	}
	if (x->n_headers == x->hdr_cap) {
		x->hdr_cap = x->hdr_cap ? 2 * x->hdr_cap : 32;
		x->hdr_offs = xrealloc(x->hdr_offs, x->hdr_cap * sizeof(*x->hdr_offs));
	}
	struct hdr_off *h = &x->hdr_offs[x->n_headers++];
	h->name = hdr_keep(x, ptr, (size_t)(colon - ptr));
	h->value = hdr_keep(x, colon + 1, n - (size_t)(colon + 1 - ptr));
	return n;
}

/* The http_header array for the callback, pointing into hdr_text. */
static void headers_build(struct xfer *x)
{
	if (x->n_headers > x->headers_cap) {
		x->headers_cap = x->hdr_cap;
		free(x->headers);
		x->headers = xmalloc(x->headers_cap * sizeof(*x->headers));
	}
	for (size_t i = 0; i < x->n_headers; i++) {
		x->headers[i].name = x->hdr_text.data + x->hdr_offs[i].name;
		x->headers[i].value = x->hdr_text.data + x->hdr_offs[i].value;
	}
}

void http_check_multi_info(struct http_client *c)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode code = msg->data.result;
		struct xfer *x = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		xfer_complete(x, (int)code, NULL);
	}
}

/* ---- delivery from the loop ---- */

static void on_reap(uv_timer_t *t)
{
	struct http_client *c = container_of(t, struct http_client, reap);
	struct xfer *x;
	c->reaping = true;
	while ((x = done_pop(c))) {
		headers_build(x);
		struct http_response r = {
			.status = x->status,
			.curl_code = x->curl_code,
			.error = x->error,
			.body = x->resp_body.data ? x->resp_body.data : "",
			.body_len = x->resp_body.len,
			.headers = x->headers,
			.n_headers = x->n_headers,
			.elapsed_ms = (int64_t)((uv_hrtime() - x->start_ns) / 1000000u),
		};
		x->cb(&r, x->arg);
		xfer_release(c, x);
	}
	c->reaping = false;
	if (c->state == CLIENT_CLOSING)
		http_client_finish_close(c);
}

const char *http_response_header(const struct http_response *r, const char *name)
{
	const char *v = NULL;
	for (size_t i = 0; r && name && i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			v = r->headers[i].value;
	return v;
}

static void curl_init_once(void)
{
	/* curl_global_init is not thread-safe before 7.84: run it once. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void client_free(struct http_client *c)
{
	free(c->by_fd);
	free(c->user_agent);
	free(c->ca_file);
	free(c);
}

int http_client_new(struct http_client **out, uv_loop_t *loop,
                    const struct http_client_options *opt)
{
	static uv_once_t once = UV_ONCE_INIT;
	struct http_client *c;
	int rc = 0;

	*out = NULL;
	uv_once(&once, curl_init_once);
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->default_timeout_ms = opt && opt->default_timeout_ms > 0 ?
		opt->default_timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	c->max_body = opt && opt->max_body ? opt->max_body : HTTP_DEFAULT_MAX_BODY;
	c->user_agent = xstrdup(opt && opt->user_agent ? opt->user_agent :
	                        "closeloop/" HTTP_VERSION);
	c->ca_file = xstrdup(opt ? opt->ca_file : NULL);
	c->multi = curl_multi_init();
	if (!c->multi) {
		rc = -ENOMEM;
		goto out;
	}
	http_uv_multi_setup(c);
	/* uv_timer_init only fills in the handle: it cannot fail on a live
	 * loop, and a half-made pair could not be undone without the loop */
	if (uv_timer_init(loop, &c->timer) < 0 || uv_timer_init(loop, &c->reap) < 0)
		abort();
	c->open_handles = 2;
	*out = c;
out:
	if (rc < 0) {
		if (c->multi)
			curl_multi_cleanup(c->multi);
		client_free(c);
	}
	return rc;
}

/* The request headers plus "Expect:" (no 100-continue round trip for our
 * small bodies) as a curl_slist made of our own nodes: the strings go to
 * req_hdr_text, the nodes to req_hdrs, both reused by the pool.  Returns 0
 * or -E2BIG past HTTP_MAX_HEADERS / 64 KiB of header text. */
static int req_headers_set(struct xfer *x, const char *const *headers)
{
	static const char expect[] = "Expect:";
	size_t n = 0, off[HTTP_MAX_HEADERS + 1];
	x->req_hdr_text.max = HTTP_POOL_KEEP_BYTES;
	for (const char *const *h = headers; h && *h; h++) {
		if (n == HTTP_MAX_HEADERS)
			return -E2BIG;
		off[n++] = x->req_hdr_text.len;
		if (buf_append(&x->req_hdr_text, *h, strlen(*h) + 1) < 0)
			return -E2BIG;
	}
	off[n++] = x->req_hdr_text.len;
	if (buf_append(&x->req_hdr_text, expect, sizeof(expect)) < 0)
		return -E2BIG;
	if (n > x->req_hdrs_cap) {
		x->req_hdrs_cap = n < 16 ? 16 : n;
		free(x->req_hdrs);
		x->req_hdrs = xmalloc(x->req_hdrs_cap * sizeof(*x->req_hdrs));
	}
	/* pointers only now: the text buffer may have moved while growing */
	for (size_t i = 0; i < n; i++) {
		x->req_hdrs[i].data = x->req_hdr_text.data + off[i];
		x->req_hdrs[i].next = i + 1 < n ? &x->req_hdrs[i + 1] : NULL;
	}
	return 0;
}

/* SMTP upload: the message from req_body. */
static size_t on_upload(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = x->req_body.len - x->up_off;
	if (n > size * nmemb)
		n = size * nmemb;
	memcpy(ptr, x->req_body.data + x->up_off, n);
	x->up_off += n;
	return n;
}

/* The SMTP half of xfer_setup (the common options are already set). */
static int mail_setup(struct http_client *c, struct xfer *x, const struct http_request *req)
{
	CURL *e = x->easy;
	const struct http_mail *m = req->mail;
	if (!m->from || !m->rcpt || !m->rcpt[0])
		return -EINVAL;
	for (const char *const *r = m->rcpt; *r; r++) {
		struct curl_slist *n = curl_slist_append(x->rcpt, *r);
		if (!n)
			return -ENOMEM;
		x->rcpt = n;
	}
	x->req_body.max = req->body_len + 2;
	if (buf_append(&x->req_body, req->body ? req->body : "", req->body_len) < 0)
		abort(); /* the cap was just made to fit */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(e, CURLOPT_USE_SSL,
	                 (long)(m->starttls_optional ? CURLUSESSL_TRY : CURLUSESSL_ALL));
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, m->from);
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
	curl_easy_setopt(e, CURLOPT_READDATA, x);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
	if (m->username) {
		curl_easy_setopt(e, CURLOPT_USERNAME, m->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, m->password ? m->password : "");
	}
	/* a mail is not idempotent either (see POST below) */
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	c->stats.other++;
	return 0;
}

static int xfer_setup(struct http_client *c, struct xfer *x, const struct http_request *req)
{
	CURL *e = x->easy;
	const char *m = req->method ? req->method : "GET";
	int64_t timeout = req->timeout_ms > 0 ? req->timeout_ms : c->default_timeout_ms;

	if (req_headers_set(x, req->headers) < 0)
		return -E2BIG;

	if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK)
		return -EINVAL;
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout < 10000 ? timeout : 10000));
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	http_uv_easy_setup(c, e);
	if (req->ca_file || c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file ? req->ca_file : c->ca_file);

	if (req->mail)
		return mail_setup(c, x, req);
	if (strcmp(m, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		c->stats.get++;
	} else {
		if (strcmp(m, "POST") == 0)
			c->stats.post++;
		else if (strcmp(m, "PATCH") == 0)
			c->stats.patch++;
		else
			c->stats.other++;
		if (req->body || strcmp(m, "DELETE") != 0) {
			x->req_body.max = req->body_len + 2;
			if (buf_append(&x->req_body, req->body ? req->body : "", req->body_len) < 0)
				abort(); /* the cap was just made to fit */
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req_body.data);
		}
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
		if (strcmp(m, "POST") == 0 || req->not_idempotent)
			/* POST is not idempotent (RFC 9110 section 9.2.2).  When a
			 * reused keep-alive connection dies before any answer,
			 * libcurl silently sends the request again on a new one: the
			 * tracker may already have acted, and a create would make a
			 * second ticket.  On a fresh connection a lost answer is an
			 * error the caller sees (CONN_UNKNOWN, then the create token
			 * finds the ticket).  Creates are paced to about one a
			 * second, so the extra handshake costs nothing that matters. */
			curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	}
	return 0;
}

int http_send(struct http_client *c, const struct http_request *req,
              http_done_cb cb, void *arg)
{
	return http_send_id(c, req, cb, arg, NULL);
}

int http_send_id(struct http_client *c, const struct http_request *req,
                 http_done_cb cb, void *arg, uint64_t *id_out)
{
	struct xfer *x = NULL;
	int rc = 0;

	if (id_out)
		*id_out = 0;
	if (!c || !req || !req->url || !cb)
		return -EINVAL;
	if (c->state != CLIENT_OPEN)
		return -ESHUTDOWN;
	x = xfer_get(c);
	if (!x) {
		rc = -ENOMEM;
		goto out;
	}
	x->cb = cb;
	x->arg = arg;
	rc = xfer_setup(c, x, req);
	if (rc < 0)
		goto out;
	x->start_ns = uv_hrtime();
	x->state = XFER_ACTIVE;
	x->next = c->active;
	if (c->active)
		c->active->prev = x;
	c->active = x;
	c->n_active++;
	/* adding calls on_timer (http_uv.c), which arms the uv timer: curl
	 * starts from the loop, never from inside this call */
	if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
		active_unlink(c, x);
		rc = -ENOMEM;
		goto out;
	}
	c->stats.requests++;
	x->id = ++c->next_id;
	if (id_out)
		*id_out = x->id;
out:
	if (rc < 0 && x)
		xfer_release(c, x);
	return rc;
}

void http_cancel(struct http_client *c, uint64_t id)
{
	struct xfer *x;
	if (!c || id == 0)
		return;
	for (x = c->active; x && x->id != id; x = x->next)
		;
	if (x)
		xfer_complete(x, CURLE_ABORTED_BY_CALLBACK, "cancelled");
}

void http_cancel_all(struct http_client *c)
{
	while (c->active)
		xfer_complete(c->active, CURLE_ABORTED_BY_CALLBACK, "cancelled");
}

static void handle_close_cb(uv_handle_t *h)
{
	struct http_client *c = h->data;
	c->open_handles--;
	http_client_finish_close(c);
}

/* Drives the close: CLOSING -> (callbacks delivered) -> CLOSED -> freed
 * when the last libuv handle's close callback has run. */
void http_client_finish_close(struct http_client *c)
{
	switch (c->state) {
	case CLIENT_OPEN:
		return; /* a socket closed during normal work */
	case CLIENT_CLOSING:
		if (c->reaping || c->done_head || c->active)
			return; /* on_reap calls us again when it is done */
		c->state = CLIENT_CLOSED;
		/* curl closes its cached connections here and may call on_socket
		 * with CURL_POLL_REMOVE; on_timer ignores calls from now on. */
		pool_drain(c);
		curl_multi_cleanup(c->multi);
		c->multi = NULL;
		http_uv_release_all(c);
		c->timer.data = c;
		c->reap.data = c;
		uv_close((uv_handle_t *)&c->timer, handle_close_cb);
		uv_close((uv_handle_t *)&c->reap, handle_close_cb);
		return;
	case CLIENT_CLOSED:
		if (c->open_handles > 0)
			return;
		if (c->closed_cb)
			c->closed_cb(c->closed_arg);
		client_free(c);
		return;
	default:
		abort();
	}
}

void http_client_close(struct http_client *c, void (*closed_cb)(void *), void *arg)
{
	if (!c || c->state != CLIENT_OPEN)
		return;
	c->closed_cb = closed_cb;
	c->closed_arg = arg;
	c->state = CLIENT_CLOSING;
	http_cancel_all(c);
	http_client_finish_close(c);
}

const struct http_stats *http_client_stats(const struct http_client *c)
{
	return &c->stats;
}

size_t http_client_inflight(const struct http_client *c)
{
	return c->n_active + c->n_done;
}

bool http_error_is_certificate(int curl_code)
{
	switch (curl_code) {
	case CURLE_PEER_FAILED_VERIFICATION: /* also CURLE_SSL_CACERT since 7.62 */
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return true;
	default:
		return false;
	}
}
