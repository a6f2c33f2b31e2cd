/* listener.c — see listener.h */
#include "listener.h"

#include <errno.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_HEADER_BYTES 8192
#define IDLE_TIMEOUT_MS 10000
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
	bool responding;
	int open_handles;
};

struct listener {
	uv_tcp_t server;
	uv_loop_t *loop;
	listener_metrics_fn metrics;
	listener_health_fn health;
	void *arg;
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
		respond(c, 400, "Bad Request", "text/plain", "HTTP/1.x only\n", 14);
		return;
	}
	if (c->parser.method != HTTP_GET && c->parser.method != HTTP_HEAD) {
		respond(c, 405, "Method Not Allowed", "text/plain", "only GET\n", 9);
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		const char *why = "not ready";
		if (l->health(l->arg, &why)) {
			respond(c, 200, "OK", "text/plain", "ok\n", 3);
		} else {
			char *m = xasprintf("%s\n", why);
			respond(c, 503, "Service Unavailable", "text/plain", m, strlen(m));
			free(m);
		}
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		struct buf b = { 0 };
		if (l->metrics(&b, l->arg) < 0 || !b.data) {
			respond(c, 500, "Internal Server Error", "text/plain", "metrics failed\n", 15);
		} else {
			respond(c, 200, "OK", "text/plain; version=0.0.4", b.data, b.len);
		}
		buf_free(&b);
		return;
	}
	respond(c, 404, "Not Found", "text/plain", "not found\n", 10);
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

static int on_message_complete(http_parser *p)
{
	serve(p->data);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_url = on_url,
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
		c->header_bytes += (size_t)n;
		size_t done = http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)n);
		if (c->header_bytes > MAX_HEADER_BYTES)
			respond(c, 431, "Request Header Fields Too Large", "text/plain", "too large\n", 10);
		else if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || done != (size_t)n)
			respond(c, 400, "Bad Request", "text/plain", "bad request\n", 12);
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
                   listener_metrics_fn metrics, listener_health_fn health, void *arg)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	int rc = parse_address(address, &ss);
	if (rc < 0)
		return rc;
	struct listener *l = xcalloc(1, sizeof(*l));
	l->loop = loop;
	l->metrics = metrics;
	l->health = health;
	l->arg = arg;
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
