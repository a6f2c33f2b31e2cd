/* test_http.c — daemon/net/http.c against a tiny HTTP/1.1 server that runs on
 * the same libuv loop (self-contained: no network, no other process).
 *
 * Server routes (every answer closes the connection):
 *   GET  /hello       200, body "hello", X-Dup twice (last wins)
 *   *    /echo        201, body = request body, X-Method = method
 *   GET  /hang        never answers
 *   GET  /big         200 with a 5000-byte body
 *   GET  /moved       301 to /hello (must not be followed)
 *   GET  /n/<i>       200, body "<i>"
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "util.h"

struct sconn {
	uv_tcp_t h;
	struct srv *s;
	struct buf in;
	bool answered;
	struct sconn *next, *prev;
};

struct srv {
	uv_tcp_t tcp;
	int port;
	struct sconn *conns;
	int n_requests;
};

struct fx {
	uv_loop_t loop;
	struct srv srv;
	struct http_client *http;
	bool http_closed;
};

/* ---- server ---- */

static void sconn_close_cb(uv_handle_t *h)
{
	struct sconn *sc = container_of((uv_tcp_t *)h, struct sconn, h);
	buf_free(&sc->in);
	free(sc);
}

static void sconn_close(struct sconn *sc)
{
	if (uv_is_closing((uv_handle_t *)&sc->h))
		return;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		sc->s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	uv_close((uv_handle_t *)&sc->h, sconn_close_cb);
}

struct wreq {
	uv_write_t w;
	char *data;
	struct sconn *sc;
};

static void write_done(uv_write_t *w, int status)
{
	struct wreq *wr = container_of(w, struct wreq, w);
	(void)status;
	sconn_close(wr->sc);
	free(wr->data);
	free(wr);
}

static void respond(struct sconn *sc, int status, const char *extra_headers,
                    const char *body, size_t body_len)
{
	struct buf out = { 0 };
	assert_int_equal(buf_appendf(&out, "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n"
	                             "Connection: close\r\n\r\n",
	                             status, extra_headers ? extra_headers : "", body_len), 0);
	assert_int_equal(buf_append(&out, body, body_len), 0);
	struct wreq *wr = xcalloc(1, sizeof(*wr));
	wr->sc = sc;
	wr->data = out.data;
	uv_buf_t b = uv_buf_init(out.data, (unsigned)out.len);
	assert_int_equal(uv_write(&wr->w, (uv_stream_t *)&sc->h, &b, 1, write_done), 0);
	sc->answered = true;
}

static void route(struct sconn *sc, const char *method, const char *path,
                  const char *body, size_t body_len)
{
	sc->s->n_requests++;
	if (strcmp(path, "/hello") == 0) {
		respond(sc, 200, "Content-Type: text/plain\r\nX-Dup: first\r\nx-dup:  second \r\n",
		        "hello", 5);
	} else if (strcmp(path, "/echo") == 0) {
		char h[64];
		snprintf(h, sizeof(h), "X-Method: %s\r\n", method);
		respond(sc, 201, h, body, body_len);
	} else if (strcmp(path, "/hang") == 0) {
		sc->answered = true; /* and never write */
	} else if (strcmp(path, "/big") == 0) {
		char big[5000];
		memset(big, 'x', sizeof(big));
		respond(sc, 200, NULL, big, sizeof(big));
	} else if (strcmp(path, "/moved") == 0) {
		respond(sc, 301, "Location: /hello\r\n", "", 0);
	} else if (strncmp(path, "/n/", 3) == 0) {
		respond(sc, 200, NULL, path + 3, strlen(path + 3));
	} else {
		respond(sc, 404, NULL, "", 0);
	}
}

static void sconn_try_parse(struct sconn *sc)
{
	char *end = strstr(sc->in.data, "\r\n\r\n");
	if (!end || sc->answered)
		return;
	size_t head_len = (size_t)(end - sc->in.data) + 4;
	size_t clen = 0;
	for (char *p = sc->in.data; p && p < end; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL)
		if (str_istarts(p, "content-length:"))
			clen = strtoul(p + 15, NULL, 10);
	if (sc->in.len < head_len + clen)
		return;
	char method[16] = "", path[256] = "";
	assert_int_equal(sscanf(sc->in.data, "%15s %255s", method, path), 2);
	route(sc, method, path, sc->in.data + head_len, clen);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	b->base = xmalloc(suggested);
	b->len = suggested;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct sconn *sc = container_of((uv_tcp_t *)st, struct sconn, h);
	if (n < 0) {
		sconn_close(sc);
	} else if (n > 0) {
		assert_int_equal(buf_append(&sc->in, b->base, (size_t)n), 0);
		sconn_try_parse(sc);
	}
	free(b->base);
}

static void on_conn(uv_stream_t *server, int status)
{
	struct srv *s = container_of((uv_tcp_t *)server, struct srv, tcp);
	assert_int_equal(status, 0);
	struct sconn *sc = xcalloc(1, sizeof(*sc));
	sc->s = s;
	assert_int_equal(uv_tcp_init(server->loop, &sc->h), 0);
	assert_int_equal(uv_accept(server, (uv_stream_t *)&sc->h), 0);
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	assert_int_equal(uv_read_start((uv_stream_t *)&sc->h, alloc_cb, read_cb), 0);
}

static void srv_start(uv_loop_t *loop, struct srv *s)
{
	struct sockaddr_in addr;
	struct sockaddr_storage got;
	int len = sizeof(got);
	memset(s, 0, sizeof(*s));
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
	assert_int_equal(uv_tcp_init(loop, &s->tcp), 0);
	assert_int_equal(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 128, on_conn), 0);
	assert_int_equal(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len), 0);
	s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void srv_stop(struct srv *s)
{
	while (s->conns)
		sconn_close(s->conns);
	uv_close((uv_handle_t *)&s->tcp, NULL);
}

/* ---- fixture ---- */

static void run_until(uv_loop_t *loop, const int *counter, int want)
{
	uint64_t deadline = uv_hrtime() + 10ull * 1000000000ull;
	while (*counter < want) {
		assert_true(uv_hrtime() < deadline);
		uv_run(loop, UV_RUN_ONCE);
	}
}

static int fx_setup_cap(void **state, size_t max_body)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	srv_start(&f->loop, &f->srv);
	struct http_client_options o = { .default_timeout_ms = 5000, .max_body = max_body,
	                                  .user_agent = "closeloop-test" };
	assert_int_equal(http_client_new(&f->http, &f->loop, &o), 0);
	*state = f;
	return 0;
}

static int fx_setup(void **state) { return fx_setup_cap(state, 0); }
static int fx_setup_small(void **state) { return fx_setup_cap(state, 1000); }

static void on_closed(void *arg)
{
	struct fx *f = arg;
	f->http_closed = true;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* The libuv habit: end by closing every handle; the loop must close. */
static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (f->http)
		http_client_close(f->http, on_closed, f);
	srv_stop(&f->srv);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(!f->http || f->http_closed);
	uv_walk(&f->loop, walk_close, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

struct got {
	int calls;
	long status;
	int curl_code;
	char *error;
	char *body;
	char *xdup, *ctype, *xmethod, *missing;
};

static void got_free(struct got *g)
{
	free(g->error);
	free(g->body);
	free(g->xdup);
	free(g->ctype);
	free(g->xmethod);
	free(g->missing);
}

static void on_done(const struct http_response *r, void *arg)
{
	struct got *g = arg;
	g->calls++;
	g->status = r->status;
	g->curl_code = r->curl_code;
	g->error = xstrdup(r->error);
	g->body = xstrndup(r->body, r->body_len);
	g->xdup = xstrdup(http_response_header(r, "X-DUP"));
	g->ctype = xstrdup(http_response_header(r, "content-type"));
	g->xmethod = xstrdup(http_response_header(r, "x-method"));
	g->missing = xstrdup(http_response_header(r, "x-not-there"));
}

static char *url(struct fx *f, const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", f->srv.port, path);
}

static void send_get(struct fx *f, const char *path, int64_t timeout_ms, struct got *g)
{
	char *u = url(f, path);
	const char *hdrs[] = { "Accept: application/json", NULL };
	struct http_request req = { .method = "GET", .url = u, .headers = hdrs,
	                            .timeout_ms = timeout_ms };
	assert_int_equal(http_send(f->http, &req, on_done, g), 0);
	free(u);
}

static void test_get_headers(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	send_get(f, "/hello", 0, &g);
	assert_int_equal(g.calls, 0); /* never from inside http_send */
	run_until(&f->loop, &g.calls, 1);
	assert_int_equal(g.status, 200);
	assert_int_equal(g.curl_code, 0);
	assert_null(g.error);
	assert_string_equal(g.body, "hello");
	assert_string_equal(g.xdup, "second");
	assert_string_equal(g.ctype, "text/plain");
	assert_null(g.missing);
	const struct http_stats *st = http_client_stats(f->http);
	assert_int_equal(st->requests, 1);
	assert_int_equal(st->get, 1);
	assert_int_equal(st->bytes_in, 5);
	assert_int_equal(http_client_inflight(f->http), 0);
	got_free(&g);
}

static void test_post_patch_echo(void **state)
{
	struct fx *f = *state;
	struct got g1 = { 0 }, g2 = { 0 };
	char *u = url(f, "/echo");
	const char *hdrs[] = { "Content-Type: application/json", NULL };
	const char *body = "{\"title\":\"rotate certs\"}";
	struct http_request post = { .method = "POST", .url = u, .headers = hdrs,
	                             .body = body, .body_len = strlen(body) };
	struct http_request patch = post;
	patch.method = "PATCH";
	patch.body = "{}";
	patch.body_len = 2;
	assert_int_equal(http_send(f->http, &post, on_done, &g1), 0);
	assert_int_equal(http_send(f->http, &patch, on_done, &g2), 0);
	free(u);
	run_until(&f->loop, &g2.calls, 1);
	run_until(&f->loop, &g1.calls, 1);
	assert_int_equal(g1.status, 201);
	assert_string_equal(g1.body, body);
	assert_string_equal(g1.xmethod, "POST");
	assert_string_equal(g2.body, "{}");
	assert_string_equal(g2.xmethod, "PATCH");
	const struct http_stats *st = http_client_stats(f->http);
	assert_int_equal(st->post, 1);
	assert_int_equal(st->patch, 1);
	assert_int_equal(st->failed, 0);
	got_free(&g1);
	got_free(&g2);
}

static void test_redirect_not_followed(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	send_get(f, "/moved", 0, &g);
	run_until(&f->loop, &g.calls, 1);
	assert_int_equal(g.status, 301);
	assert_int_equal(f->srv.n_requests, 1);
	got_free(&g);
}

static void test_timeout(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	send_get(f, "/hang", 300, &g);
	run_until(&f->loop, &g.calls, 1);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.curl_code, CURLE_OPERATION_TIMEDOUT);
	assert_non_null(g.error);
	assert_true(strlen(g.error) > 0);
	assert_int_equal(http_client_stats(f->http)->failed, 1);
	got_free(&g);
}

static void test_body_cap(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	send_get(f, "/big", 0, &g);
	run_until(&f->loop, &g.calls, 1);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.curl_code, CURLE_WRITE_ERROR);
	assert_non_null(strstr(g.error, "larger than 1000"));
	got_free(&g);
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	struct got g[20];
	memset(g, 0, sizeof(g));
	for (int i = 0; i < 20; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/n/%d", i);
		send_get(f, path, 0, &g[i]);
	}
	assert_int_equal(http_client_inflight(f->http), 20);
	for (int i = 0; i < 20; i++)
		run_until(&f->loop, &g[i].calls, 1);
	/* a few more turns: nobody is called twice */
	for (int i = 0; i < 5; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	for (int i = 0; i < 20; i++) {
		char want[16];
		snprintf(want, sizeof(want), "%d", i);
		assert_int_equal(g[i].calls, 1);
		assert_int_equal(g[i].status, 200);
		assert_string_equal(g[i].body, want);
		got_free(&g[i]);
	}
	assert_int_equal(http_client_stats(f->http)->requests, 20);
	assert_int_equal(http_client_inflight(f->http), 0);
}

static void test_cancel_all(void **state)
{
	struct fx *f = *state;
	struct got g[5];
	memset(g, 0, sizeof(g));
	for (int i = 0; i < 5; i++)
		send_get(f, "/hang", 0, &g[i]);
	/* let the requests reach the server */
	run_until(&f->loop, &f->srv.n_requests, 5);
	http_cancel_all(f->http);
	for (int i = 0; i < 5; i++)
		assert_int_equal(g[i].calls, 0); /* from the loop, not from here */
	for (int i = 0; i < 5; i++)
		run_until(&f->loop, &g[i].calls, 1);
	for (int i = 0; i < 5; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(g[i].calls, 1);
		assert_int_equal(g[i].curl_code, CURLE_ABORTED_BY_CALLBACK);
		assert_string_equal(g[i].error, "cancelled");
		got_free(&g[i]);
	}
	/* the client still works after a cancel */
	struct got ok = { 0 };
	send_get(f, "/hello", 0, &ok);
	run_until(&f->loop, &ok.calls, 1);
	assert_int_equal(ok.status, 200);
	got_free(&ok);
}

static uint64_t send_get_id(struct fx *f, const char *path, struct got *g)
{
	char *u = url(f, path);
	struct http_request req = { .method = "GET", .url = u };
	uint64_t id = 0;
	assert_int_equal(http_send_id(f->http, &req, on_done, g, &id), 0);
	free(u);
	assert_true(id != 0);
	return id;
}

/* http_cancel aborts exactly the one transfer it names. */
static void test_cancel_one(void **state)
{
	struct fx *f = *state;
	struct got g[3], fin = { 0 };
	uint64_t id[3];
	memset(g, 0, sizeof(g));
	for (int i = 0; i < 3; i++)
		id[i] = send_get_id(f, "/hang", &g[i]);
	assert_true(id[0] != id[1] && id[1] != id[2] && id[0] != id[2]);
	run_until(&f->loop, &f->srv.n_requests, 3);

	http_cancel(f->http, id[1]);
	assert_int_equal(g[1].calls, 0); /* from the loop, not from here */
	http_cancel(f->http, id[1]);     /* twice: ignored */
	http_cancel(f->http, 0);         /* never an id: ignored */
	http_cancel(f->http, id[2] + 1000);
	run_until(&f->loop, &g[1].calls, 1);
	for (int i = 0; i < 5; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(g[1].calls, 1);
	assert_int_equal(g[1].status, 0);
	assert_int_equal(g[1].curl_code, CURLE_ABORTED_BY_CALLBACK);
	assert_string_equal(g[1].error, "cancelled");
	/* the others are untouched and still in flight */
	assert_int_equal(g[0].calls, 0);
	assert_int_equal(g[2].calls, 0);
	assert_int_equal(http_client_inflight(f->http), 2);

	/* an id whose answer is in: cancel changes nothing */
	uint64_t done_id = send_get_id(f, "/hello", &fin);
	run_until(&f->loop, &fin.calls, 1);
	http_cancel(f->http, done_id);
	for (int i = 0; i < 5; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(fin.calls, 1);
	assert_int_equal(fin.status, 200);
	assert_true(done_id > id[2]);

	http_cancel(f->http, id[0]);
	http_cancel(f->http, id[2]);
	run_until(&f->loop, &g[0].calls, 1);
	run_until(&f->loop, &g[2].calls, 1);
	assert_string_equal(g[0].error, "cancelled");
	assert_string_equal(g[2].error, "cancelled");
	assert_int_equal(http_client_inflight(f->http), 0);
	for (int i = 0; i < 3; i++)
		got_free(&g[i]);
	got_free(&fin);

	/* a request that cannot start reports id 0 */
	struct http_request bad = { .method = "GET", .url = NULL };
	uint64_t bid = 77;
	assert_int_equal(http_send_id(f->http, &bad, on_done, &fin, &bid), -EINVAL);
	assert_int_equal(bid, 0);
}

static void test_close_with_pending(void **state)
{
	struct fx *f = *state;
	struct got g[3];
	memset(g, 0, sizeof(g));
	for (int i = 0; i < 3; i++)
		send_get(f, "/hang", 0, &g[i]);
	run_until(&f->loop, &f->srv.n_requests, 3);
	http_client_close(f->http, on_closed, f);
	struct http_request req = { .method = "GET", .url = "http://127.0.0.1:1/" };
	assert_int_equal(http_send(f->http, &req, on_done, &g[0]), -ESHUTDOWN);
	int closed = 0;
	while (!f->http_closed) {
		uv_run(&f->loop, UV_RUN_ONCE);
		closed++;
		assert_true(closed < 1000);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g[i].calls, 1);
		assert_string_equal(g[i].error, "cancelled");
		got_free(&g[i]);
	}
	f->http = NULL; /* freed by the close */
}

static void test_bad_args(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	struct http_request req = { .method = "GET", .url = NULL };
	assert_int_equal(http_send(f->http, &req, on_done, &g), -EINVAL);
	req.url = "http://127.0.0.1:1/";
	assert_int_equal(http_send(f->http, &req, NULL, &g), -EINVAL);
	/* connection refused: a transport error, reported once */
	assert_int_equal(http_send(f->http, &req, on_done, &g), 0);
	run_until(&f->loop, &g.calls, 1);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.curl_code, CURLE_COULDNT_CONNECT);
	assert_non_null(g.error);
	got_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_headers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_post_patch_echo, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_redirect_not_followed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_timeout, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_body_cap, fx_setup_small, fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_all, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_one, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_close_with_pending, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
