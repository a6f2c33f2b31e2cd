/* listener.c — see listener.h */
#include "listener.h"

#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_HEADER_BYTES 8192
/* A connection is closed this long after it was accepted, answered or not
 * (GitHub waits 10 s for a webhook answer; a scraper needs far less). */
#define IDLE_TIMEOUT_MS 10000
#define HOOK_PREFIX "/hooks/"
/* Connections open at once; one more is accepted and closed at once, so a
 * scraper storm cannot use up the daemon's file descriptors (the unit's
 * LimitNOFILE leaves room for these, the ledger and the trackers). */
#define LISTENER_MAX_CONNS 64

struct lconn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	struct listener *l;
	struct lconn *next;
	http_parser parser;
	char url[256];
	size_t url_len;
	size_t header_bytes;
	bool headers_done;
	bool responding;
	bool linger;            /* answered before the body ended: read the rest
	                           (discarded) until the client closes or the
	                           connection's time is up, so the client reads
	                           the answer instead of a reset */
	int open_handles;
	/* hook routes: the headers (names lower-cased) and the body */
	struct buf hname[LISTENER_MAX_HEADERS], hval[LISTENER_MAX_HEADERS];
	size_t n_headers;
	bool in_value;          /* the last header callback was a value */
	bool too_many_headers;
	struct buf body;
};

struct listener {
	uv_tcp_t server;
	uv_loop_t *loop;
	struct listener_handlers h;
	struct lconn *conns;
	int n_conns;
	uint64_t refused;     /* connections closed at once for the cap */
	int port;
	int open_handles;
	bool closing;
	void (*closed_cb)(void *);
	void *closed_arg;
};

struct lwrite {
	uv_write_t req;
	char *data;
	struct lconn *c;
};

static void listener_maybe_free(struct listener *l)
{
	if (!l->closing || l->open_handles > 0 || l->conns)
		return;
	void (*cb)(void *) = l->closed_cb;
	void *arg = l->closed_arg;
	free(l);
	if (cb)
		cb(arg);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct lconn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct listener *l = c->l;
	for (struct lconn **p = &l->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			l->n_conns--;
			break;
		}
	}
	for (size_t i = 0; i < c->n_headers; i++) {
		buf_free(&c->hname[i]);
		buf_free(&c->hval[i]);
	}
	buf_free(&c->body);
	free(c);
	listener_maybe_free(l);
}

static void conn_close(struct lconn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void write_done(uv_write_t *req, int status)
{
	UNUSED(status);
	struct lwrite *w = container_of(req, struct lwrite, req);
	struct lconn *c = w->c;
	free(w->data);
	free(w);
	if (!c->linger)
		conn_close(c); /* Connection: close */
}

static void respond(struct lconn *c, int status, const char *reason, const char *ctype,
                    const char *body, size_t len)
{
	if (c->responding)
		return;
	c->responding = true;
	struct lwrite *w = xcalloc(1, sizeof(*w));
	w->c = c;
	/* a HEAD answer has the GET answer's headers and no body (RFC 9110
	 * section 9.3.2) */
	bool head = c->parser.method == HTTP_HEAD;
	w->data = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                    "Connection: close\r\n\r\n%.*s",
	                    status, reason, ctype, len, head ? 0 : (int)len, body);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)strlen(w->data));
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) < 0) {
		free(w->data);
		free(w);
		conn_close(c);
	}
}

static const char *status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

static void respond_text(struct lconn *c, int status, const char *text)
{
	respond(c, status, status_reason(status), "text/plain", text, strlen(text));
}

/* POST /hooks/<name>: hand the request to the hook handler. */
static void serve_hook(struct lconn *c, const char *name)
{
	struct listener *l = c->l;
	if (c->parser.method != HTTP_POST) {
		respond_text(c, 405, "only POST\n");
		return;
	}
	if (!name[0] || strchr(name, '/')) {
		respond_text(c, 404, "expected /hooks/<connector name>\n");
		return;
	}
	if (c->too_many_headers) {
		respond_text(c, 431, "too many headers\n");
		return;
	}
	const char *names[LISTENER_MAX_HEADERS], *values[LISTENER_MAX_HEADERS];
	for (size_t i = 0; i < c->n_headers; i++) {
		names[i] = c->hname[i].data ? c->hname[i].data : "";
		values[i] = c->hval[i].data ? c->hval[i].data : "";
	}
	struct listener_request req = {
		.name = name, .header_names = names, .header_values = values,
		.n_headers = c->n_headers, .body = c->body.data ? c->body.data : "",
		.body_len = c->body.len,
	};
	struct buf out = { 0 };
	int status = l->h.hook(&req, &out, l->h.arg);
	respond(c, status, status_reason(status), "text/plain", out.data ? out.data : "", out.len);
	buf_free(&out);
}

static void serve(struct lconn *c)
{
	struct listener *l = c->l;
	char path[256];
	snprintf(path, sizeof(path), "%.*s", (int)c->url_len, c->url);
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	/* http_parser takes a request line without a version as HTTP/0.9 */
	if (c->parser.http_major != 1) {
		respond_text(c, 400, "HTTP/1.x only\n");
		return;
	}
	if (l->h.hook && strncmp(path, HOOK_PREFIX, strlen(HOOK_PREFIX)) == 0) {
		serve_hook(c, path + strlen(HOOK_PREFIX));
		return;
	}
	bool health = l->h.health && strcmp(path, "/healthz") == 0;
	bool metrics = l->h.metrics && strcmp(path, "/metrics") == 0;
	if (!health && !metrics) {
		respond_text(c, 404, "not found\n");
		return;
	}
	if (c->parser.method != HTTP_GET && c->parser.method != HTTP_HEAD) {
		respond_text(c, 405, "only GET\n");
		return;
	}
	if (health) {
		const char *why = "not ready";
		if (l->h.health(l->h.arg, &why)) {
			respond_text(c, 200, "ok\n");
		} else {
			char *m = xasprintf("%s\n", why);
			respond_text(c, 503, m);
			free(m);
		}
		return;
	}
	struct buf b = { 0 };
	if (l->h.metrics(&b, l->h.arg) < 0 || !b.data)
		respond_text(c, 500, "metrics failed\n");
	else
		respond(c, 200, "OK", "text/plain; version=0.0.4", b.data, b.len);
	buf_free(&b);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct lconn *c = p->data;
	if (c->url_len + len >= sizeof(c->url))
		return -1;
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	return 0;
}

static bool is_hook_request(const struct lconn *c)
{
	return c->l->h.hook && c->url_len >= strlen(HOOK_PREFIX) &&
	       memcmp(c->url, HOOK_PREFIX, strlen(HOOK_PREFIX)) == 0;
}

/* Header names and values may come in pieces (http_parser); names are
 * kept in lower case.  Only hook requests keep them. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct lconn *c = p->data;
	if (!is_hook_request(c) || c->too_many_headers)
		return 0;
	if (c->in_value || c->n_headers == 0) {
		if (c->n_headers == LISTENER_MAX_HEADERS) {
			c->too_many_headers = true;
			return 0;
		}
		c->n_headers++;
		c->in_value = false;
	}
	struct buf *b = &c->hname[c->n_headers - 1];
	for (size_t i = 0; i < len; i++) {
		char ch = (char)tolower((unsigned char)at[i]);
		if (buf_append(b, &ch, 1) < 0)
			return -1;
	}
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct lconn *c = p->data;
	if (!is_hook_request(c) || c->too_many_headers || c->n_headers == 0)
		return 0;
	c->in_value = true;
	/* an empty value still gets a (NUL-terminated) string */
	return buf_append(&c->hval[c->n_headers - 1], at, len) < 0 ||
	       buf_append(&c->hval[c->n_headers - 1], "", 0) < 0 ? -1 : 0;
}

static int on_headers_complete(http_parser *p)
{
	struct lconn *c = p->data;
	c->headers_done = true;
	/* refuse an announced oversized body before reading it */
	if (is_hook_request(c) && p->content_length != ULLONG_MAX &&
	    p->content_length > c->l->h.max_body) {
		c->linger = true;
		respond_text(c, 413, "body too large\n");
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct lconn *c = p->data;
	if (c->responding)
		return 0;
	if (!is_hook_request(c) || c->body.len + len > c->l->h.max_body) {
		c->linger = true;
		respond_text(c, 413, "body too large\n");
		return 0;
	}
	c->body.max = c->l->h.max_body + 1;
	return buf_append(&c->body, at, len) < 0 ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
	struct lconn *c = p->data;
	if (!c->responding)
		serve(c);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	UNUSED(h);
	UNUSED(suggested);
	buf->base = xmalloc(4096);
	buf->len = 4096;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct lconn *c = container_of((uv_tcp_t *)s, struct lconn, tcp);
	if (n < 0) {
		conn_close(c);
	} else if (n > 0 && !c->responding) {
		if (!c->headers_done)
			c->header_bytes += (size_t)n;
		size_t done = http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)n);
		if (c->responding)
			; /* answered from a callback (413, or served) */
		else if (!c->headers_done && c->header_bytes > MAX_HEADER_BYTES)
			respond_text(c, 431, "too large\n");
		else if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || done != (size_t)n)
			respond_text(c, 400, "bad request\n");
	}
	free(buf->base);
}

static void idle_fire(uv_timer_t *t)
{
	struct lconn *c = container_of(t, struct lconn, idle);
	conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct listener *l = container_of((uv_tcp_t *)server, struct listener, server);
	if (status < 0 || l->closing)
		return;
	struct lconn *c = xcalloc(1, sizeof(*c));
	c->l = l;
	uv_tcp_init(l->loop, &c->tcp);
	uv_timer_init(l->loop, &c->idle);
	c->tcp.data = c->idle.data = c;
	c->open_handles = 2;
	c->next = l->conns;
	l->conns = c;
	l->n_conns++;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	if (l->n_conns > LISTENER_MAX_CONNS) {
		if (l->refused++ % 100 == 0)
			log_warn("listener: more than %d connections at once; closing new ones "
			         "(%llu so far)", LISTENER_MAX_CONNS, (unsigned long long)l->refused);
		conn_close(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->idle, idle_fire, IDLE_TIMEOUT_MS, 0);
}

static int parse_address(const char *address, struct sockaddr_storage *ss)
{
	char host[128];
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address)
		return -EINVAL;
	size_t hl = (size_t)(colon - address);
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (!*(colon + 1) || *end || port < 0 || port > 65535)
		return -EINVAL;
	if (address[0] == '[' && hl >= 2 && address[hl - 1] == ']') {
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), address + 1);
		return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
	}
	snprintf(host, sizeof(host), "%.*s", (int)hl, address);
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

static void server_closed(uv_handle_t *h)
{
	struct listener *l = container_of((uv_tcp_t *)h, struct listener, server);
	l->open_handles--;
	listener_maybe_free(l);
}

int listener_start(struct listener **out, uv_loop_t *loop, const char *address,
                   const struct listener_handlers *h)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	int rc = parse_address(address, &ss);
	if (rc < 0)
		return rc;
	struct listener *l = xcalloc(1, sizeof(*l));
	l->loop = loop;
	l->h = *h;
	uv_tcp_init(loop, &l->server);
	l->open_handles = 1;
	if ((rc = uv_tcp_bind(&l->server, (const struct sockaddr *)&ss, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&l->server, 64, on_connection)) < 0) {
		/* the handle must still be closed; the caller sees only the error */
		l->closing = true;
		uv_close((uv_handle_t *)&l->server, server_closed);
		return rc;
	}
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	if (uv_tcp_getsockname(&l->server, (struct sockaddr *)&bound, &blen) == 0)
		l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
		                                            : ((struct sockaddr_in *)&bound)->sin_port);
	*out = l;
	return 0;
}

int listener_port(const struct listener *l)
{
	return l->port;
}

void listener_close(struct listener *l, void (*closed_cb)(void *), void *arg)
{
	l->closing = true;
	l->closed_cb = closed_cb;
	l->closed_arg = arg;
	for (struct lconn *c = l->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&l->server, server_closed);
}
