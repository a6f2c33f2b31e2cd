/* db.c — PostgreSQL access: the asynchronous connection on the libuv loop
 * (see db.h for the contract; blocking helpers are in db_sync.c).
 *
 * Error sentences everywhere look like
 *   "<what>: ERROR: <primary message> (SQLSTATE 23505)"
 * built from the result's diagnostic fields (libpq docs, "PQresultErrorField").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "db.h"
#include "db_internal.h"
#include "log.h"

/* ---- asynchronous connection on the libuv loop ----
 *
 * States (one function, db_set_state, changes them):
 *   CONNECTING  an attempt is scheduled or PQconnectPoll is running; queued
 *               queries wait for it
 *   READY       connected; queries are sent one at a time
 *   WAITING     down, the backoff timer runs; queued queries fail at once
 *   CLOSING     db_close was called; handles are closing, then db is freed
 */
enum db_state {
	DB_ST_CONNECTING,
	DB_ST_READY,
	DB_ST_WAITING,
	DB_ST_CLOSING,
};

#define DB_BACKOFF_MIN_MS 1000
#define DB_BACKOFF_MAX_MS 30000
#define DB_CONNECT_TIMEOUT_MS 10000

struct db_req {
	STAILQ_ENTRY(db_req) link;  /* db->queue (sys/queue.h, the one FIFO idiom) */
	char *sql;
	int nparams;
	char **params;
	db_result_cb cb;
	void *arg;
	bool uncounted;  /* the session's own setting: not in stats.statements */
};

/* The poll handle lives on the heap, not inside struct db: when libpq swaps
 * its socket (multi-host, SSL retry, reconnect) the old handle must be
 * closed and a new one started before the old close callback has run. */
struct db_poll {
	uv_poll_t h;
	struct db *db;
	int fd;
	int events;      /* what the handle watches now; 0 = not started */
};

struct db {
	uv_loop_t *loop;
	char *conninfo;
	enum db_state state;
	PGconn *conn;
	struct db_poll *poll;
	bool flushing;            /* PQflush said 1: also watch UV_WRITABLE */
	uv_timer_t timer;         /* first attempt, connect timeout, backoff */
	uv_timer_t kick;          /* 0 ms: run the queue from the loop */
	unsigned handles;         /* open uv handles; db freed when 0 + CLOSING */
	uint64_t backoff_ms;
	bool ever_connected, lost_reported;

	STAILQ_HEAD(, db_req) queue; /* waiting queries, FIFO */
	size_t queued;
	struct db_req *inflight;
	PGresult *last;           /* last result of the in-flight query */

	char **channels;
	size_t nchannels;

	db_event_cb ev_cb;
	void *ev_arg;
	void (*closed_cb)(void *);
	void *closed_arg;
	struct db_stats stats;
};

static void db_on_poll(uv_poll_t *h, int status, int events);
static void db_go_down(struct db *db, const char *why);
static void db_pump(struct db *db);
static void db_on_kick(uv_timer_t *t);
static void db_on_timer(uv_timer_t *t);

static const char *db_state_name(enum db_state st)
{
	switch (st) {
	case DB_ST_CONNECTING: return "connecting";
	case DB_ST_READY: return "ready";
	case DB_ST_WAITING: return "waiting";
	case DB_ST_CLOSING: return "closing";
	default:
		log_error("db: impossible state %d", (int)st);
		abort();
	}
}

static void db_set_state(struct db *db, enum db_state st)
{
	if (db->state != st)
		log_debug("db: %s -> %s", db_state_name(db->state), db_state_name(st));
	db->state = st;
}

static void db_req_free(struct db_req *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nparams; i++)
		free(r->params[i]);
	free(r->params);
	free(r->sql);
	free(r);
}

static struct db_req *db_req_new(const char *sql, int nparams,
                                 const char *const *params, db_result_cb cb, void *arg)
{
	struct db_req *r = xcalloc(1, sizeof(*r));
	r->sql = xstrdup(sql);
	r->nparams = nparams;
	if (nparams > 0) {
		r->params = xcalloc((size_t)nparams, sizeof(char *));
		for (int i = 0; i < nparams; i++)
			r->params[i] = xstrdup(params ? params[i] : NULL);
	}
	r->cb = cb;
	r->arg = arg;
	return r;
}

static void db_enqueue(struct db *db, struct db_req *r, bool front)
{
	if (front)
		STAILQ_INSERT_HEAD(&db->queue, r, link);
	else
		STAILQ_INSERT_TAIL(&db->queue, r, link);
	db->queued++;
}

static struct db_req *db_dequeue(struct db *db)
{
	struct db_req *r = STAILQ_FIRST(&db->queue);
	if (!r)
		return NULL;
	STAILQ_REMOVE_HEAD(&db->queue, link);
	db->queued--;
	return r;
}

/* Fail the in-flight query and every queued one with err.  The list is
 * detached first: a callback may queue new work or call db_close. */
static void db_fail_all(struct db *db, const char *err)
{
	char own[1024] = "";
	STAILQ_HEAD(, db_req) list = STAILQ_HEAD_INITIALIZER(list);
	/* The in-flight query may already hold the server's reason (a
	 * terminated backend sends FATAL 57P01 before closing): report that. */
	if (db->inflight && db->last && PQresultStatus(db->last) == PGRES_FATAL_ERROR)
		db_format_error(own, sizeof(own), "db", db->last, NULL);
	STAILQ_CONCAT(&list, &db->queue);
	if (db->inflight)
		STAILQ_INSERT_HEAD(&list, db->inflight, link);
	db->inflight = NULL;
	db->queued = 0;
	PQclear(db->last);
	db->last = NULL;
	for (bool first = true; !STAILQ_EMPTY(&list); first = false) {
		struct db_req *r = STAILQ_FIRST(&list);
		STAILQ_REMOVE_HEAD(&list, link);
		db->stats.errors++;
		r->cb(db, NULL, first && own[0] ? own : err, r->arg);
		db_req_free(r);
	}
}

static void db_emit(struct db *db, enum db_event ev, const char *channel,
                    const char *payload)
{
	if (db->ev_cb && db->state != DB_ST_CLOSING)
		db->ev_cb(db, ev, channel, payload, db->ev_arg);
}

static void db_maybe_free(struct db *db)
{
	if (db->state != DB_ST_CLOSING || db->handles > 0)
		return;
	void (*closed_cb)(void *) = db->closed_cb;
	void *closed_arg = db->closed_arg;
	PQclear(db->last);
	if (db->conn)
		PQfinish(db->conn);
	for (size_t i = 0; i < db->nchannels; i++)
		free(db->channels[i]);
	free(db->channels);
	free(db->conninfo);
	free(db);
	if (closed_cb)
		closed_cb(closed_arg);
}

static void db_on_handle_closed(uv_handle_t *h)
{
	struct db *db = h->data;
	db->handles--;
	db_maybe_free(db);
}

static void db_on_poll_closed(uv_handle_t *h)
{
	struct db_poll *p = container_of((uv_poll_t *)h, struct db_poll, h);
	struct db *db = p->db;
	free(p);
	db->handles--;
	db_maybe_free(db);
}

static void db_close_poll(struct db *db)
{
	if (!db->poll)
		return;
	uv_close((uv_handle_t *)&db->poll->h, db_on_poll_closed);
	db->poll = NULL;
	db->flushing = false;
}

/* Watch PQsocket for events, re-initialising the poll handle when libpq's
 * socket changed.  While connecting, renew is true and the handle is always
 * replaced: libpq may close its socket and open another that reuses the
 * same descriptor number (next host or address, SSL retry), which an fd
 * comparison cannot see and epoll would no longer report.
 * Returns 0 or a negative code (the caller goes down). */
static int db_watch(struct db *db, int events, bool renew)
{
	int fd = PQsocket(db->conn);
	if (fd < 0)
		return -EBADF;
	if (db->poll && (renew || db->poll->fd != fd))
		db_close_poll(db);
	if (!db->poll) {
		struct db_poll *p = xcalloc(1, sizeof(*p));
		int rc = uv_poll_init(db->loop, &p->h, fd);
		if (rc < 0) {
			free(p);
			return rc;
		}
		p->db = db;
		p->fd = fd;
		db->poll = p;
		db->handles++;
	}
	/* uv_poll_start stops and restarts the watcher (epoll_ctl calls):
	 * skip it when the wanted events did not change */
	if (db->poll->events == events && uv_is_active((uv_handle_t *)&db->poll->h))
		return 0;
	int rc = uv_poll_start(&db->poll->h, events, db_on_poll);
	db->poll->events = rc < 0 ? 0 : events;
	return rc;
}

static void db_watch_or_down(struct db *db, int events)
{
	int rc = db_watch(db, events, db->state == DB_ST_CONNECTING);
	if (rc < 0) {
		char why[128];
		snprintf(why, sizeof(why), "cannot watch the socket: %s", uv_strerror(rc));
		db_go_down(db, why);
	}
}

static void db_kick(struct db *db)
{
	if (db->state != DB_ST_CLOSING && !uv_is_active((uv_handle_t *)&db->kick))
		(void)uv_timer_start(&db->kick, db_on_kick, 0, 0);
}

/* The connection is gone or an attempt failed: drop it, fail every query,
 * report the loss once, and retry after the backoff. */
static void db_go_down(struct db *db, const char *why)
{
	char err[640];
	uint64_t delay = db->backoff_ms;

	db_close_poll(db);
	if (db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->backoff_ms = db->backoff_ms * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS
	                                                        : db->backoff_ms * 2;
	db_set_state(db, DB_ST_WAITING);
	(void)uv_timer_start(&db->timer, db_on_timer, delay, 0);
	log_warn("db: %s; reconnecting in %llu s", why, (unsigned long long)(delay / 1000));
	snprintf(err, sizeof(err), "db: connection lost: %s", why);
	db_fail_all(db, err);
	if (db->state == DB_ST_CLOSING)
		return;
	if (!db->lost_reported) {
		db->lost_reported = true;
		db_emit(db, DB_EVENT_LOST, NULL, NULL);
	}
}

/* The session's own statements (LISTEN, the setting below): arg names
 * the statement; a failure is logged, nothing else depends on it. */
static void db_on_listen_done(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	UNUSED(res);
	if (err)
		log_warn("db: %s failed: %s", (const char *)arg, err);
}

/* The last re-issued LISTEN finished: now the daemon may rely on NOTIFY. */
static void db_on_relisten_done(struct db *db, const PGresult *res, const char *err, void *arg)
{
	db_on_listen_done(db, res, err, arg);
	if (db->state == DB_ST_READY)
		db_emit(db, DB_EVENT_CONNECTED, NULL, NULL);
}

/* A session whose client is gone ends within 5 s even while a statement
 * of it runs or waits for a lock: PostgreSQL 14's
 * client_connection_check_interval ("Connections and Authentication";
 * the backend polls the socket for a hang-up at that interval while a
 * query runs).  Without it a backend notices the loss only when it next
 * reads or writes the socket, so a daemon killed -9 while its statement
 * waited for a row left that statement to run on and commit once the row
 * was free, and its connector's advisory lock held until then: a
 * restarted daemon skipped the connector ("another daemon works this
 * connector").  Older servers have no such setting; nothing is set. */
static const char db_session_sql[] =
	"SELECT set_config('client_connection_check_interval', '5000', false)"
	" WHERE current_setting('server_version_num')::int >= 140000";

/* "LISTEN <quoted channel>", or NULL when libpq cannot quote it. */
static char *db_listen_sql(struct db *db, const char *channel)
{
	char *ident = PQescapeIdentifier(db->conn, channel, strlen(channel));
	if (!ident)
		return NULL;
	char *sql = xasprintf("LISTEN %s", ident);
	PQfreemem(ident);
	return sql;
}

static void db_on_connected(struct db *db)
{
	uv_timer_stop(&db->timer);
	if (PQsetnonblocking(db->conn, 1) != 0) {
		db_go_down(db, "cannot make the connection non-blocking");
		return;
	}
	db_set_state(db, DB_ST_READY);
	db->backoff_ms = DB_BACKOFF_MIN_MS;
	if (db->ever_connected)
		db->stats.reconnects++;
	db->ever_connected = true;
	db->lost_reported = false;
	log_info("db: connected (server %d)", PQserverVersion(db->conn));
	db_watch_or_down(db, UV_READABLE);
	if (db->state != DB_ST_READY)
		return;
	/* Re-issue the LISTENs ahead of anything queued; CONNECTED is
	 * reported when the last one is done. */
	bool announced = false;
	for (size_t i = db->nchannels; i-- > 0;) {
		char *sql = db_listen_sql(db, db->channels[i]);
		if (!sql) {
			log_warn("db: cannot quote channel %s", db->channels[i]);
			continue;
		}
		struct db_req *r = db_req_new(sql, 0, NULL,
			announced ? db_on_listen_done : db_on_relisten_done, (void *)"LISTEN");
		announced = true;
		free(sql);
		db_enqueue(db, r, true);
	}
	/* the session setting goes first of all */
	struct db_req *set = db_req_new(db_session_sql, 0, NULL, db_on_listen_done,
	                                (void *)"SET client_connection_check_interval");
	set->uncounted = true;
	db_enqueue(db, set, true);
	if (!announced)
		db_emit(db, DB_EVENT_CONNECTED, NULL, NULL);
	if (db->state == DB_ST_READY)
		db_pump(db);
}

static void db_connect_step(struct db *db)
{
	PostgresPollingStatusType ps = PQconnectPoll(db->conn);
	switch (ps) {
	case PGRES_POLLING_READING:
		db_watch_or_down(db, UV_READABLE);
		break;
	case PGRES_POLLING_WRITING:
		db_watch_or_down(db, UV_WRITABLE);
		break;
	case PGRES_POLLING_OK:
		db_on_connected(db);
		break;
	case PGRES_POLLING_FAILED:
	default: {
		char why[512];
		db_copy_trimmed(why, sizeof(why), PQerrorMessage(db->conn));
		db_go_down(db, why[0] ? why : "connection failed");
		break;
	}
	}
}

static void db_start_attempt(struct db *db)
{
	db->conn = PQconnectStart(db->conninfo);
	if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD) {
		char why[512];
		db_copy_trimmed(why, sizeof(why), db->conn ? PQerrorMessage(db->conn)
		                                        : "out of memory");
		db_go_down(db, why);
		return;
	}
	PQsetNoticeProcessor(db->conn, db_notice_to_log, NULL);
	(void)uv_timer_start(&db->timer, db_on_timer, DB_CONNECT_TIMEOUT_MS, 0);
	/* libpq: after PQconnectStart, behave as if PQconnectPoll last
	 * returned PGRES_POLLING_WRITING. */
	db_watch_or_down(db, UV_WRITABLE);
}

static void db_on_timer(uv_timer_t *t)
{
	struct db *db = container_of(t, struct db, timer);
	switch (db->state) {
	case DB_ST_CONNECTING:
		if (!db->conn)
			db_start_attempt(db);
		else
			db_go_down(db, "connect timed out");
		break;
	case DB_ST_WAITING:
		db_set_state(db, DB_ST_CONNECTING);
		db_start_attempt(db);
		break;
	case DB_ST_READY:
	case DB_ST_CLOSING:
		break;
	default:
		log_error("db: impossible state %d", (int)db->state);
		abort();
	}
}

/* Send queued queries while nothing is in flight (READY only). */
static void db_pump(struct db *db)
{
	while (db->state == DB_ST_READY && !db->inflight && !STAILQ_EMPTY(&db->queue)) {
		struct db_req *r = db_dequeue(db);
		if (!PQsendQueryParams(db->conn, r->sql, r->nparams, NULL,
		                       (const char *const *)r->params, NULL, NULL, 0)) {
			char err[600], why[512];
			db_copy_trimmed(why, sizeof(why), PQerrorMessage(db->conn));
			if (PQstatus(db->conn) == CONNECTION_BAD) {
				db->inflight = r; /* failed with the rest */
				db_go_down(db, why);
				return;
			}
			snprintf(err, sizeof(err), "db: %s", why);
			db->stats.errors++;
			r->cb(db, NULL, err, r->arg);
			db_req_free(r);
			continue;
		}
		db->inflight = r;
		if (!r->uncounted)
			db->stats.statements++;
		int f = PQflush(db->conn);
		if (f < 0) {
			char why[512];
			db_copy_trimmed(why, sizeof(why), PQerrorMessage(db->conn));
			db_go_down(db, why);
			return;
		}
		db->flushing = f == 1;
		db_watch_or_down(db, UV_READABLE | (db->flushing ? UV_WRITABLE : 0));
	}
}

static void db_on_kick(uv_timer_t *t)
{
	struct db *db = container_of(t, struct db, kick);
	switch (db->state) {
	case DB_ST_READY:
		db_pump(db);
		break;
	case DB_ST_WAITING:
		/* Down between attempts: fail now rather than hold queries for
		 * up to 30 s (nothing is in flight in this state). */
		db_fail_all(db, "db: not connected (reconnecting)");
		break;
	case DB_ST_CONNECTING:
	case DB_ST_CLOSING:
		break;
	default:
		log_error("db: impossible state %d", (int)db->state);
		abort();
	}
}

/* The in-flight query has produced all its results. */
static void db_complete(struct db *db)
{
	struct db_req *r = db->inflight;
	PGresult *res = db->last;
	char err[1024] = "";
	db->inflight = NULL;
	db->last = NULL;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok) {
		db->stats.errors++;
		if (res)
			db_format_error(err, sizeof(err), "db", res, db->conn);
		else
			snprintf(err, sizeof(err), "db: the server returned no result");
	}
	r->cb(db, ok ? res : NULL, ok ? NULL : err, r->arg);
	PQclear(res);
	db_req_free(r);
}

static void db_drain_notifies(struct db *db)
{
	PGnotify *n;
	while (db->state == DB_ST_READY && (n = PQnotifies(db->conn)) != NULL) {
		db->stats.notifies++;
		db_emit(db, DB_EVENT_NOTIFY, n->relname, n->extra);
		PQfreemem(n);
	}
}

/* READY: readable / writable on the connection's socket. */
static void db_ready_io(struct db *db, int events)
{
	char why[512];
	if (events & UV_READABLE) {
		if (!PQconsumeInput(db->conn))
			goto lost;
		db_drain_notifies(db);
		if (db->state != DB_ST_READY)
			return;
	}
	if (db->flushing) {
		int f = PQflush(db->conn);
		if (f < 0)
			goto lost;
		db->flushing = f == 1;
	}
	while (db->inflight && !db->flushing && !PQisBusy(db->conn)) {
		PGresult *res = PQgetResult(db->conn);
		if (!res) {
			db_complete(db);
			if (db->state != DB_ST_READY)
				return;
			break;
		}
		PQclear(db->last);
		db->last = res;
	}
	/* PQisBusy/PQgetResult parse input too: notifications that came in
	 * with the results are only visible now. */
	db_drain_notifies(db);
	if (db->state != DB_ST_READY)
		return;
	if (PQstatus(db->conn) == CONNECTION_BAD)
		goto lost;
	db_watch_or_down(db, UV_READABLE | (db->flushing ? UV_WRITABLE : 0));
	if (db->state == DB_ST_READY)
		db_pump(db);
	return;
lost:
	db_copy_trimmed(why, sizeof(why), PQerrorMessage(db->conn));
	db_go_down(db, why[0] ? why : "connection lost");
}

static void db_on_poll(uv_poll_t *h, int status, int events)
{
	struct db *db = container_of(h, struct db_poll, h)->db;
	if (status < 0 && db->state != DB_ST_CLOSING) {
		char why[128];
		snprintf(why, sizeof(why), "socket error: %s", uv_strerror(status));
		db_go_down(db, why);
		return;
	}
	switch (db->state) {
	case DB_ST_CONNECTING:
		db_connect_step(db);
		break;
	case DB_ST_READY:
		db_ready_io(db, events);
		break;
	case DB_ST_WAITING:
	case DB_ST_CLOSING:
		break;
	default:
		log_error("db: impossible state %d", (int)db->state);
		abort();
	}
}

/* ---- public asynchronous API ---- */

int db_open(struct db **out, uv_loop_t *loop, const char *conninfo,
            db_event_cb ev_cb, void *arg)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
	if (!opts) {
		if (perr) {
			char tmp[256];
			db_copy_trimmed(tmp, sizeof(tmp), perr);
			log_error("db: bad connection string: %s", tmp);
			PQfreemem(perr);
		}
		return -EINVAL;
	}
	PQconninfoFree(opts);

	struct db *db = xcalloc(1, sizeof(*db));
	STAILQ_INIT(&db->queue);
	db->loop = loop;
	db->conninfo = xstrdup(conninfo);
	db->ev_cb = ev_cb;
	db->ev_arg = arg;
	db->backoff_ms = DB_BACKOFF_MIN_MS;
	db->state = DB_ST_CONNECTING;
	uv_timer_init(loop, &db->timer);
	uv_timer_init(loop, &db->kick);
	db->timer.data = db;
	db->kick.data = db;
	db->handles = 2;
	/* The first attempt starts from the loop, so a failure is reported
	 * through ev_cb and never from inside db_open. */
	(void)uv_timer_start(&db->timer, db_on_timer, 0, 0);
	*out = db;
	return 0;
}

int db_query(struct db *db, const char *sql, int nparams,
             const char *const *params, db_result_cb cb, void *arg)
{
	if (!db || !sql || !cb || nparams < 0 || (nparams > 0 && !params))
		return -EINVAL;
	if (db->state == DB_ST_CLOSING)
		return -ENOTCONN;
	db_enqueue(db, db_req_new(sql, nparams, params, cb, arg), false);
	db_kick(db);
	return 0;
}

int db_listen(struct db *db, const char *channel)
{
	if (!db || !channel || !*channel)
		return -EINVAL;
	if (db->state == DB_ST_CLOSING)
		return -ENOTCONN;
	for (size_t i = 0; i < db->nchannels; i++)
		if (strcmp(db->channels[i], channel) == 0)
			return 0;
	db->channels = xrealloc(db->channels, (db->nchannels + 1) * sizeof(char *));
	db->channels[db->nchannels++] = xstrdup(channel);
	/* Connecting or waiting: db_connected issues it with the others. */
	if (db->state == DB_ST_READY) {
		char *sql = db_listen_sql(db, channel);
		if (!sql)
			return -EINVAL;
		db_enqueue(db, db_req_new(sql, 0, NULL, db_on_listen_done, (void *)"LISTEN"), false);
		free(sql);
		db_kick(db);
	}
	return 0;
}

bool db_connected(const struct db *db)
{
	return db && db->state == DB_ST_READY;
}

size_t db_queue_length(const struct db *db)
{
	return db ? db->queued + (db->inflight ? 1 : 0) : 0;
}

const struct db_stats *db_get_stats(const struct db *db)
{
	return &db->stats;
}

void db_close(struct db *db, void (*closed_cb)(void *), void *arg)
{
	if (!db || db->state == DB_ST_CLOSING)
		return;
	db_set_state(db, DB_ST_CLOSING);
	db->closed_cb = closed_cb;
	db->closed_arg = arg;
	uv_timer_stop(&db->timer);
	uv_timer_stop(&db->kick);
	uv_close((uv_handle_t *)&db->timer, db_on_handle_closed);
	uv_close((uv_handle_t *)&db->kick, db_on_handle_closed);
	db_close_poll(db);
	/* The connection itself is finished in db_maybe_free: a libpq-driven
	 * frame may still be on the stack below this call. */
	db_fail_all(db, "db: closing");
}

/* ---- parameters ---- */

char *db_text_array(const char *const *v, size_t n)
{
	struct buf b = { 0 };
	if (buf_append(&b, "{", 1) < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (i && buf_append(&b, ",", 1) < 0)
			abort();
		if (!v[i]) {
			if (buf_append(&b, "NULL", 4) < 0)
				abort();
			continue;
		}
		if (buf_append(&b, "\"", 1) < 0)
			abort();
		for (const char *p = v[i]; *p; p++) {
			if ((*p == '"' || *p == '\\') && buf_append(&b, "\\", 1) < 0)
				abort();
			if (buf_append(&b, p, 1) < 0)
				abort();
		}
		if (buf_append(&b, "\"", 1) < 0)
			abort();
	}
	if (buf_append(&b, "}", 1) < 0)
		abort();
	return buf_steal(&b);
}
