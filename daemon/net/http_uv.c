/* http_uv.c — curl's multi-socket API on the libuv loop, after curl's
 * docs/examples/multi-uv.c (http_internal.h says how the work is split
 * with http.c):
 *   - CURLMOPT_SOCKETFUNCTION tells us which socket to watch for what; each
 *     watched socket gets a struct http_sock embedding a uv_poll_t, found
 *     by fd and freed in its uv_close callback.  Connection sockets are
 *     made and closed through CURLOPT_OPENSOCKETFUNCTION /
 *     CLOSESOCKETFUNCTION, so their uv_poll_t lives as long as the
 *     connection, across the keep-alive transfers that reuse it, and is
 *     only restarted when the wanted events change;
 *   - CURLMOPT_TIMERFUNCTION asks for one timeout, kept in c->timer;
 *   - after every curl_multi_socket_action() http_check_multi_info()
 *     (http.c) takes finished transfers out of curl.
 */
#include "http_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A socket curl uses.  A connection socket (made by on_open_socket) lives
 * until curl closes it (on_close_socket), across the transfers that reuse
 * the connection; any other socket curl asks us to watch lives from that
 * request to CURL_POLL_REMOVE.  Found by fd (c->by_fd), as curl itself
 * keys its sockets. */
struct http_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http_client *c;
	struct http_sock *prev, *next;
	int events;     /* UV_READABLE | UV_WRITABLE being polled, 0 = stopped */
	bool conn;      /* a connection socket: freed when curl closes it */
	bool wanted;    /* curl watches it (not CURL_POLL_REMOVEd) */
};

static void sock_close_cb(uv_handle_t *h)
{
	struct http_sock *s = container_of((uv_poll_t *)h, struct http_sock, poll);
	struct http_client *c = s->c;
	free(s);
	c->open_handles--;
	http_client_finish_close(c);
}

static struct http_sock *sock_find(struct http_client *c, curl_socket_t fd)
{
	return fd >= 0 && (size_t)fd < c->n_by_fd ? c->by_fd[fd] : NULL;
}

static void sock_release(struct http_client *c, struct http_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (sock_find(c, s->fd) == s)
		c->by_fd[s->fd] = NULL;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, sock_close_cb);
}

/* A new http_sock for fd (not polled yet), or NULL. */
static struct http_sock *sock_new(struct http_client *c, curl_socket_t fd, bool conn)
{
	struct http_sock *s, *stale;
	if (fd < 0)
		return NULL;
	/* an fd number the kernel hands out again: whatever we held under it
	 * belonged to a socket that is closed by now */
	if ((stale = sock_find(c, fd)))
		sock_release(c, stale);
	s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->c = c;
	s->conn = conn;
	if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
		free(s);
		return NULL;
	}
	c->open_handles++;
	s->next = c->socks;
	if (c->socks)
		c->socks->prev = s;
	c->socks = s;
	if ((size_t)fd >= c->n_by_fd) {
		size_t n = c->n_by_fd ? c->n_by_fd : 64;
		while (n <= (size_t)fd)
			n *= 2;
		c->by_fd = xrealloc(c->by_fd, n * sizeof(*c->by_fd));
		memset(c->by_fd + c->n_by_fd, 0, (n - c->n_by_fd) * sizeof(*c->by_fd));
		c->n_by_fd = n;
	}
	c->by_fd[fd] = s;
	return s;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct http_sock *s = container_of(p, struct http_sock, poll);
	struct http_client *c = s->c;
	int flags = 0;
	int running = 0;
	if (!s->wanted) {
		/* an idle pooled connection stirred (the server closed it): stop
		 * watching; curl notices when it next tries to reuse it */
		uv_poll_stop(&s->poll);
		s->events = 0;
		return;
	}
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	/* s may be released by curl's socket callback inside this call. */
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	http_check_multi_info(c);
}

/* CURLOPT_OPENSOCKETFUNCTION: a connection socket, watched from here to
 * on_close_socket. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *a)
{
	struct http_client *c = clientp;
	UNUSED(purpose);
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	if (!sock_new(c, fd, true)) {
		close(fd);
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: stop watching, then close. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
	struct http_client *c = clientp;
	struct http_sock *s = sock_find(c, fd);
	if (s)
		sock_release(c, s);
	return close(fd);
}

/* CURLMOPT_SOCKETFUNCTION.  The poll is (re)started only when the events
 * change; a connection socket is not stopped at CURL_POLL_REMOVE (curl
 * says that when a transfer ends and the connection goes back to its
 * pool), so a reused connection costs no epoll_ctl at all; on_poll stops
 * it if it stirs while idle.  socketp is not used: sockets are found by
 * fd, so a stale pointer for a reused fd number can never be followed. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct http_sock *s = sock_find(c, fd);
	UNUSED(easy);
	UNUSED(socketp);
	if (what == CURL_POLL_REMOVE) {
		if (s && s->conn)
			s->wanted = false;
		else if (s)
			sock_release(c, s);
		return 0;
	}
	if (!s && !(s = sock_new(c, fd, false)))
		return -1;
	s->wanted = true;
	int events = 0;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	if (events != s->events) {
		if (uv_poll_start(&s->poll, events, on_poll) < 0)
			return -1;
		s->events = events;
	}
	return 0;
}

static void on_curl_timeout(uv_timer_t *t)
{
	struct http_client *c = container_of(t, struct http_client, timer);
	int running = 0;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_check_multi_info(c);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	UNUSED(multi);
	if (c->state == CLIENT_CLOSED)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

void http_uv_multi_setup(struct http_client *c)
{
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
}

void http_uv_easy_setup(struct http_client *c, CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, c);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, c);
}

void http_uv_release_all(struct http_client *c)
{
	while (c->socks)
		sock_release(c, c->socks);
}
