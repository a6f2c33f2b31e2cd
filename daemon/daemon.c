/* daemon.c — see daemon.h */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "connector.h"
#include "db.h"
#include "directory.h"
#include "hooks.h"
#include "http.h"
#include "impwatch.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "pace.h"
#include "reconcile.h"
#include "watch.h"
#include "quarterly.h"
#include "status.h"

#define STOP_TIMEOUT_MS 20000
#define LEDGER_CHANNEL "closeloop_ledger"

enum daemon_state {
	DAEMON_STARTING = 0, /* waiting for the ledger connection */
	DAEMON_RUNNING,
	DAEMON_STOPPING,     /* engine draining */
	DAEMON_CLOSING,      /* closing handles */
};

struct poll_timer {
	uv_timer_t timer;
	struct daemon *d;
	char *connector;     /* name */
	bool running;        /* a cycle it asked for is under way */
	int64_t cycle_started_at;  /* ms, of the cycle under way */
	struct status_seen seen;   /* its last connector_status row */
};

/* A running daemon writes a connector's status row at least this often
 * (status.h: otherwise only after cycles that did work, failed or left
 * writes queued). */
#define STATUS_HEARTBEAT_MS 60000

struct daemon {
	uv_loop_t loop;
	enum daemon_state state;
	struct daemon_options opt;
	struct config *cfg;
	struct config **retired;  /* replaced configs, freed when the engine idles */
	size_t n_retired;
	struct db *db;
	struct http_client *http;
	struct connector **conns;
	size_t n_conns;
	struct rec_engine *rec;
	struct watch *watch;      /* flags and escalation; NULL in once mode */
	struct imp_watch *impwatch; /* watched postmortem directories; NULL in once mode */
	struct quarterly *quarterly; /* the quarterly report's deliveries; NULL in once mode */
	struct listener *listener;
	struct hooks *hooks;      /* webhook deliveries; NULL in once mode */
	struct listener *hook_listener; /* webhooks.listen, or NULL */
	struct poll_timer *timers;
	size_t n_timers;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t watchdog;
	uv_timer_t progress;      /* once mode on a terminal: a progress line */
	bool progress_shown;      /* a line is on the terminal: end it with \n */
	bool handles_on;      /* signals and watchdog initialised */
	bool first_cycle_logged;
	int exit_code;
	int64_t once_started_at;  /* once mode: when the cycle started (ms) */
	int once_code;            /* once mode: exit code after the status rows */
	int status_pending;       /* once mode: status rows not yet answered */
	int pending_closes;
};

static void daemon_stop(struct daemon *d, int exit_code);

static struct connector *find_conn(const struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_conns; i++)
		if (str_eq(d->conns[i]->name, name))
			return d->conns[i];
	return NULL;
}

/* Write c's connector_status row after a cycle when it is due (status.h).
 * Returns true when a row was sent (done(arg) follows). */
static bool status_after_cycle(struct daemon *d, struct connector *c, const struct status_cycle *cy,
                               struct status_seen *seen, int64_t heartbeat_ms,
                               void (*done)(void *arg), void *arg)
{
	char by[64];
	if (!c || d->opt.dry_run || !status_due(c, cy, seen, heartbeat_ms))
		return false;
	snprintf(by, sizeof(by), "%s pid %ld", d->opt.once ? "sync --once" : "daemon", (long)getpid());
	if (status_record(d->db, c, cy, by, done, arg) < 0)
		return false;
	status_seen_note(seen, c, cy);
	return true;
}

static void set_state(struct daemon *d, enum daemon_state s)
{
	switch (s) {
	case DAEMON_STARTING:
	case DAEMON_RUNNING:
	case DAEMON_STOPPING:
	case DAEMON_CLOSING:
		d->state = s;
		break;
	default:
		log_error("daemon: impossible state %d", (int)s);
		abort();
	}
}

/* ---- configuration ---- */

static void apply_log_level(const struct config *cfg)
{
	int lvl = log_level_parse(cfg->log_level ? cfg->log_level : "info");
	if (lvl >= 0)
		log_set_level((enum log_level)lvl);
}

static void retire_config(struct daemon *d, struct config *old)
{
	d->retired = xrealloc(d->retired, (d->n_retired + 1) * sizeof(*d->retired));
	d->retired[d->n_retired++] = old;
}

static void free_retired(struct daemon *d)
{
	for (size_t i = 0; i < d->n_retired; i++)
		cfg_free(d->retired[i]);
	free(d->retired);
	d->retired = NULL;
	d->n_retired = 0;
}

/* ---- ledger connection ---- */

static void directory_stored(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	UNUSED(res);
	UNUSED(arg);
	if (err)
		log_error("directory: not loaded into the ledger: %s", err);
	else
		log_info("directory: loaded into the ledger");
}

/* Load the directory file (if configured) through the async connection. */
static void directory_reload(struct daemon *d)
{
	if (!d->cfg->directory_file)
		return;
	char err[512];
	struct directory *dir = NULL;
	if (dir_load_file(d->cfg->directory_file, &dir, err, sizeof(err)) < 0) {
		log_error("directory: %s (the ledger keeps the previous directory)", err);
		return;
	}
	if (dir_check_routes(dir, d->cfg, d->cfg->directory_file, err, sizeof(err)) < 0)
		log_warn("directory: %s (loaded all the same: those items are not routed there "
		         "until the configuration serves it)", err);
	char *json = dir_to_json(dir);
	const char *params[1] = { json };
	if (db_query(d->db, dir_store_sql, 1, params, directory_stored, d) < 0)
		log_error("directory: ledger connection is closing; not loaded");
	free(json);
	dir_free(dir);
}

static void on_db_event(struct db *db, enum db_event ev, const char *channel,
                        const char *payload, void *arg)
{
	UNUSED(db);
	UNUSED(payload);
	struct daemon *d = arg;
	switch (ev) {
	case DB_EVENT_CONNECTED:
		log_info("ledger: connected");
		/* edits made while the ledger was away sent their NOTIFY to no
		 * one: push them now rather than at the next poll */
		if (d->rec && d->state == DAEMON_RUNNING && db_get_stats(db)->reconnects > 0)
			rec_ledger_changed(d->rec);
		break;
	case DB_EVENT_LOST:
		log_warn("ledger: connection lost; reconnecting (sync pauses until it is back)");
		if (d->rec)
			rec_ledger_lost(d->rec); /* tracker writes stop with the lock */
		break;
	case DB_EVENT_NOTIFY:
		if (d->rec && d->state == DAEMON_RUNNING && str_eq(channel, LEDGER_CHANNEL))
			rec_ledger_changed(d->rec);
		else if (d->hooks && d->state == DAEMON_RUNNING && str_eq(channel, HOOKS_CHANNEL))
			hooks_notified(d->hooks, payload);
		break;
	default:
		log_error("daemon: unknown db event %d", (int)ev);
		abort();
	}
}

/* ---- cycles ---- */

static void cycle_done(struct rec_engine *e, int errors, void *arg)
{
	UNUSED(e);
	struct poll_timer *t = arg;
	struct daemon *d = t->d;
	t->running = false;
	if (errors)
		log_warn("[%s] cycle finished with %d error(s)", t->connector, errors);
	if (!d->first_cycle_logged) {
		bool all_idle = true;
		for (size_t i = 0; i < d->n_timers; i++)
			all_idle = all_idle && !d->timers[i].running;
		if (all_idle) {
			d->first_cycle_logged = true;
			log_info("first reconcile cycle complete");
		}
	}
	struct status_cycle cy = { .started_at = t->cycle_started_at, .ended_at = ts_now_ms(),
	                           .errors = errors };
	(void)status_after_cycle(d, find_conn(d, t->connector), &cy, &t->seen,
	                         STATUS_HEARTBEAT_MS, NULL, NULL);
	if (!rec_busy(d->rec))
		free_retired(d);
}

static void poll_fire(uv_timer_t *h)
{
	struct poll_timer *t = container_of(h, struct poll_timer, timer);
	struct daemon *d = t->d;
	if (d->state != DAEMON_RUNNING || t->running)
		return;
	if (rec_sync(d->rec, t->connector, cycle_done, t) < 0) {
		log_error("[%s] connector unknown to the reconcile engine", t->connector);
		return;
	}
	t->running = true;
	t->cycle_started_at = ts_now_ms();
}

static const struct cfg_connector *timer_connector(const struct daemon *d, const struct poll_timer *t)
{
	return cfg_find_connector(d->cfg, t->connector);
}

static void timers_arm(struct daemon *d, bool fire_now)
{
	for (size_t i = 0; i < d->n_timers; i++) {
		struct poll_timer *t = &d->timers[i];
		const struct cfg_connector *cc = timer_connector(d, t);
		int interval = cc && cc->poll_interval_s > 0 ? cc->poll_interval_s : d->cfg->poll_interval_s;
		uint64_t ms = (uint64_t)interval * 1000;
		uv_timer_stop(&t->timer);
		uv_timer_start(&t->timer, poll_fire, fire_now ? 0 : ms, ms);
	}
}

/* ---- once mode ---- */

/* Once a second while `sync --once` runs on a terminal (stderr is a tty;
 * never under systemd or in a script): one line, rewritten in place, with
 * the requests so far and the paced writes still queued, so a first sync
 * of thousands of items paced to the tracker's limits (80 creates a
 * minute on GitHub) does not look hung. */
static void progress_fire(uv_timer_t *h)
{
	struct daemon *d = container_of(h, struct daemon, progress);
	uint64_t lists = 0, creates = 0, updates = 0;
	size_t queued = 0;
	int64_t now = ts_now_ms(), drain_at = 0;
	for (size_t i = 0; i < d->n_conns; i++) {
		const struct connector *c = d->conns[i];
		lists += c->n_list;
		creates += c->n_create;
		updates += c->n_update;
		if (c->pace) {
			queued += c->pace->queued;
			int64_t at = pace_drain_at(c->pace, now);
			if (at > drain_at)
				drain_at = at;
		}
	}
	fprintf(stderr, "\rsync: %.1f s, %llu listed page(s), %llu created, %llu updated, "
	        "%zu write(s) queued", (double)(now - d->once_started_at) / 1000.0,
	        (unsigned long long)lists, (unsigned long long)creates,
	        (unsigned long long)updates, queued);
	if (queued && drain_at > now)
		fprintf(stderr, " (about %lld s more)", (long long)((drain_at - now + 999) / 1000));
	fputs("\033[K", stderr);   /* clear the rest of a longer earlier line */
	d->progress_shown = true;
}

static void progress_end(struct daemon *d)
{
	if (!d->handles_on)
		return;
	uv_timer_stop(&d->progress);
	if (d->progress_shown) {
		fputc('\n', stderr);
		d->progress_shown = false;
	}
}

static void once_recorded(void *arg)
{
	struct daemon *d = arg;
	if (--d->status_pending == 0)
		daemon_stop(d, d->once_code);
}

/* The cycle is over: record each connector's status when it is due (a
 * quiet cycle writes nothing), then stop. */
static void once_done(struct rec_engine *e, int errors, void *arg)
{
	UNUSED(e);
	struct daemon *d = arg;
	progress_end(d);
	log_info("sync: cycle complete, %d error(s)", errors);
	d->once_code = errors ? 2 : 0;
	struct status_cycle cy = { .started_at = d->once_started_at, .ended_at = ts_now_ms(),
	                           .errors = errors };
	d->status_pending = 1;
	for (size_t i = 0; i < d->n_conns; i++) {
		struct status_seen seen = { 0 };
		if (d->opt.connector && !str_eq(d->opt.connector, d->conns[i]->name))
			continue;
		if (status_after_cycle(d, d->conns[i], &cy, &seen, 0, once_recorded, d))
			d->status_pending++;
	}
	once_recorded(d);
}

/* ---- signals and watchdog ---- */

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (signum == SIGHUP) {
		if (d->state != DAEMON_RUNNING)
			return;
		sd_notify(0, "RELOADING=1");
		char err[512];
		struct config *nw = NULL;
		if (cfg_load(d->cfg->path, &nw, err, sizeof(err)) < 0) {
			log_error("reload: %s; keeping the previous configuration", err);
			sd_notify(0, "READY=1");
			return;
		}
		/* connectors hold their base URL and token: such changes need a restart */
		const char *blk = cfg_reload_blocker(d->cfg, nw);
		if (blk) {
			log_error("reload: option '%s' cannot change without a restart; "
			          "keeping the previous configuration", blk);
			cfg_free(nw);
			sd_notify(0, "READY=1");
			return;
		}
		retire_config(d, d->cfg);
		d->cfg = nw;
		apply_log_level(nw);
		rec_engine_set_config(d->rec, nw);
		if (d->hooks)
			hooks_set_config(d->hooks, nw);
		if (d->watch)
			watch_set_config(d->watch, nw);
		if (d->impwatch)
			imp_watch_set_config(d->impwatch, nw);
		if (d->quarterly)
			quarterly_set_config(d->quarterly, nw);
		timers_arm(d, false);
		directory_reload(d);
		log_info("reload: configuration %s applied", nw->path);
		sd_notify(0, "READY=1");
		return;
	}
	log_info("received %s: stopping gracefully", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	daemon_stop(d, 0);
}

static void watchdog_fire(uv_timer_t *h)
{
	UNUSED(h);
	sd_notify(0, "WATCHDOG=1");
}

/* ---- stop and close ---- */

static void handle_closed(uv_handle_t *h)
{
	struct daemon *d = h->data;
	d->pending_closes--;
}

static void close_handle(struct daemon *d, uv_handle_t *h)
{
	if (uv_is_closing(h))
		return;
	h->data = d;
	d->pending_closes++;
	uv_close(h, handle_closed);
}

static void sub_closed(void *arg)
{
	struct daemon *d = arg;
	d->pending_closes--;
}

static void log_totals(const struct daemon *d)
{
	if (!d->http || !d->db)
		return;
	const struct http_stats *hs = http_client_stats(d->http);
	const struct db_stats *ds = db_get_stats(d->db);
	log_info("totals: http requests %llu (get %llu, post %llu, patch %llu, failed %llu), "
	         "ledger statements %llu (errors %llu, reconnects %llu)",
	         (unsigned long long)hs->requests, (unsigned long long)hs->get,
	         (unsigned long long)hs->post, (unsigned long long)hs->patch,
	         (unsigned long long)hs->failed, (unsigned long long)ds->statements,
	         (unsigned long long)ds->errors, (unsigned long long)ds->reconnects);
}

static void engine_stopped(void *arg)
{
	struct daemon *d = arg;
	d->rec = NULL;
	log_totals(d);
	set_state(d, DAEMON_CLOSING);
	for (size_t i = 0; i < d->n_conns; i++)
		connector_destroy(d->conns[i]);
	d->n_conns = 0;
	if (d->listener) {
		d->pending_closes++;
		listener_close(d->listener, sub_closed, d);
		d->listener = NULL;
	}
	if (d->hook_listener) {
		d->pending_closes++;
		listener_close(d->hook_listener, sub_closed, d);
		d->hook_listener = NULL;
	}
	hooks_free(d->hooks); /* freed once the ledger has answered its statements */
	d->hooks = NULL;
	if (d->http) {
		d->pending_closes++;
		http_client_close(d->http, sub_closed, d);
		d->http = NULL;
	}
	if (d->db) {
		d->pending_closes++;
		db_close(d->db, sub_closed, d);
		d->db = NULL;
	}
	for (size_t i = 0; i < d->n_timers; i++)
		close_handle(d, (uv_handle_t *)&d->timers[i].timer);
	if (d->handles_on) {
		close_handle(d, (uv_handle_t *)&d->sig_term);
		close_handle(d, (uv_handle_t *)&d->sig_int);
		close_handle(d, (uv_handle_t *)&d->sig_hup);
		close_handle(d, (uv_handle_t *)&d->watchdog);
		close_handle(d, (uv_handle_t *)&d->progress);
		/* Closing the last handle of a signal gives it back its default
		 * action (libuv), so a second SIGTERM now would kill the process
		 * in the middle of the stop it asked for, before the ledger's
		 * last writes commit.  The stop is already under way: ignore
		 * further requests (systemd's TimeoutStopSec and SIGKILL remain
		 * the way to cut it short). */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
	}
}

/* The watch ends first (its sends use the connectors and the ledger),
 * then the reconcile engine. */
static void watch_stopped(void *arg)
{
	struct daemon *d = arg;
	d->watch = NULL;
	if (d->rec)
		rec_engine_stop(d->rec, STOP_TIMEOUT_MS, engine_stopped, d);
	else
		engine_stopped(d);
}

/* The quarterly report's sends end first, then the watch. */
static void quarterly_stopped(void *arg)
{
	struct daemon *d = arg;
	d->quarterly = NULL;
	if (d->watch)
		watch_stop(d->watch, STOP_TIMEOUT_MS, watch_stopped, d);
	else
		watch_stopped(d);
}

static void daemon_stop(struct daemon *d, int exit_code)
{
	if (d->state == DAEMON_STOPPING || d->state == DAEMON_CLOSING)
		return;
	d->exit_code = exit_code;
	progress_end(d);
	set_state(d, DAEMON_STOPPING);
	sd_notify(0, "STOPPING=1");
	for (size_t i = 0; i < d->n_timers; i++)
		uv_timer_stop(&d->timers[i].timer);
	if (d->impwatch) {
		/* its scan thread has its own ledger connection: it ends on its own */
		d->pending_closes++;
		imp_watch_stop(d->impwatch, sub_closed, d);
		d->impwatch = NULL;
	}
	if (d->quarterly)
		quarterly_stop(d->quarterly, quarterly_stopped, d);
	else
		quarterly_stopped(d);
}

/* ---- metrics and health (listener.h) ---- */

static int daemon_metrics(struct buf *b, void *arg)
{
	const struct daemon *d = arg;
	const struct metrics_sources src = {
		.http = d->http, .db = d->db, .rec = d->rec, .watch = d->watch,
		.impwatch = d->impwatch, .hooks = d->hooks, .conns = d->conns, .n_conns = d->n_conns,
	};
	return metrics_render(b, &src);
}

static bool daemon_healthy(void *arg, const char **why)
{
	struct daemon *d = arg;
	if (d->state != DAEMON_RUNNING) {
		*why = "not running (starting or stopping)";
		return false;
	}
	if (!d->db || !db_connected(d->db)) {
		*why = "ledger connection is down";
		return false;
	}
	return true;
}

/* ---- start ---- */

static int check_schema(const struct config *cfg)
{
	char err[512];
	PGconn *c = db_sync_connect(cfg->database_dsn, err, sizeof(err));
	if (!c) {
		log_error("ledger: %s", err);
		return -EIO;
	}
	int rc = 0;
	int have = db_schema_version(c, err, sizeof(err));
	if (have < 0) {
		log_error("ledger: %s", err);
		rc = -EIO;
		goto out;
	}
	int first_missing = 0;
	int missing = db_schema_missing(c, &first_missing, err, sizeof(err));
	if (missing < 0) {
		log_error("ledger: %s", err);
		rc = -EIO;
		goto out;
	}
	if (missing > 0) {
		log_error("ledger: schema is at version %d but this closeloop needs %d "
		          "(%d migration(s) not applied, the first %03d): "
		          "run `closeloop migrate` first",
		          have, db_schema_required(), missing, first_missing);
		rc = -EPROTO;
		goto out;
	}
	if (cfg->directory_file) {
		struct directory *dir = NULL;
		if (dir_load_file(cfg->directory_file, &dir, err, sizeof(err)) < 0 ||
		    dir_store(c, dir, err, sizeof(err)) < 0) {
			log_error("directory: %s", err);
			rc = -EINVAL;
		} else {
			log_info("directory: %zu platform(s), %zu team(s), %zu people loaded",
			         dir->n_platforms, dir->n_teams, dir->n_people);
		}
		dir_free(dir);
	}
out:
	PQfinish(c);
	return rc;
}

static int start_connectors(struct daemon *d)
{
	d->conns = xcalloc(d->cfg->n_connectors, sizeof(*d->conns));
	d->timers = xcalloc(d->cfg->n_connectors, sizeof(*d->timers));
	for (size_t i = 0; i < d->cfg->n_connectors; i++) {
		const struct cfg_connector *cc = &d->cfg->connectors[i];
		struct conn_options o = {
			.name = cc->name,
			.base_url = cc->base_url,
			.token = cc->token,
			.type_opts = cc->type_opts,
			.max_attempts = cc->max_attempts > 0 ? cc->max_attempts : 5,
			.backoff_base_ms = 500,
			.backoff_max_ms = 60000,
			.request_timeout_ms = (int64_t)(cc->request_timeout_s > 0 ? cc->request_timeout_s : 30) * 1000,
			.max_inflight = cc->max_inflight > 0 ? cc->max_inflight : 4,
			.ca_file = cc->ca_file,
		};
		int rc = connector_new(&d->conns[i], cc->type, &d->loop, d->http, &o);
		if (rc < 0) {
			log_error("%s:%d: connector '%s': cannot start (%s)", d->cfg->path, cc->line,
			          cc->name, strerror(-rc));
			return rc;
		}
		d->n_conns++;
		struct poll_timer *t = &d->timers[i];
		t->d = d;
		t->connector = xstrdup(cc->name); /* cfg may be replaced on reload */
		uv_timer_init(&d->loop, &t->timer);
		d->n_timers++;
	}
	return 0;
}

/* Flags and escalation on their own timer; rows name this process as
 * "daemon:<host>:<pid>". */
static int start_watch(struct daemon *d)
{
	char host[256] = "unknown";
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	char *by = xasprintf("daemon:%s:%ld", host, (long)getpid());
	int rc = watch_new(&d->watch, &d->loop, d->db, d->conns, d->n_conns, d->cfg, by);
	if (rc < 0) {
		log_error("watch: cannot start: %s", strerror(-rc));
		goto out;
	}
	watch_set_http(d->watch, d->http);
	watch_start(d->watch);
	/* the quarterly report, under the same name */
	if ((rc = quarterly_new(&d->quarterly, &d->loop, d->http, d->cfg, by)) < 0) {
		log_error("quarterly report: cannot start: %s", strerror(-rc));
		goto out;
	}
	quarterly_start(d->quarterly);
out:
	free(by);
	return rc;
}

/* /metrics and /healthz on listen; webhook deliveries on webhooks.listen
 * (hooks.h: every daemon LISTENs for deliveries another one recorded). */
static int start_listeners(struct daemon *d)
{
	int rc = hooks_new(&d->hooks, d->db, d->rec, d->conns, d->n_conns, d->cfg);
	if (rc < 0 || (rc = db_listen(d->db, HOOKS_CHANNEL)) < 0)
		return rc;
	if (d->cfg->listen_address) {
		struct listener_handlers lh = { .metrics = daemon_metrics, .health = daemon_healthy,
		                                .arg = d };
		rc = listener_start(&d->listener, &d->loop, d->cfg->listen_address, &lh);
		if (rc < 0) {
			log_error("%s: listen = \"%s\": cannot listen: %s", d->cfg->path,
			          d->cfg->listen_address, uv_strerror(rc));
			return rc;
		}
		log_info("listening on %s for /metrics and /healthz", d->cfg->listen_address);
	}
	if (d->cfg->webhook_listen) {
		struct listener_handlers hh = { .hook = hooks_handle, .arg = d->hooks,
		                                .max_body = (size_t)d->cfg->webhook_max_body };
		rc = listener_start(&d->hook_listener, &d->loop, d->cfg->webhook_listen, &hh);
		if (rc < 0) {
			log_error("%s: webhooks.listen = \"%s\": cannot listen: %s", d->cfg->path,
			          d->cfg->webhook_listen, uv_strerror(rc));
			return rc;
		}
		log_info("listening on %s for webhook deliveries (POST /hooks/<connector>)",
		         d->cfg->webhook_listen);
	}
	return 0;
}

static int daemon_start(struct daemon *d)
{
	int rc = check_schema(d->cfg);
	if (rc < 0)
		return rc;
	rc = db_open(&d->db, &d->loop, d->cfg->database_dsn, on_db_event, d);
	if (rc < 0) {
		log_error("ledger: cannot start connecting: %s", strerror(-rc));
		return rc;
	}
	if (!d->opt.once && (rc = db_listen(d->db, LEDGER_CHANNEL)) < 0)
		return rc;
	struct http_client_options ho = { 0 };
	if ((rc = http_client_new(&d->http, &d->loop, &ho)) < 0) {
		log_error("http: cannot start the client: %s", strerror(-rc));
		return rc;
	}
	if ((rc = start_connectors(d)) < 0)
		return rc;
	struct rec_options ro = { .dry_run = d->opt.dry_run, .plan_out = stdout };
	rc = rec_engine_new(&d->rec, &d->loop, d->db, d->conns, d->n_conns, d->cfg, &ro);
	if (rc < 0) {
		log_error("reconcile: cannot start: %s", strerror(-rc));
		return rc;
	}
	if (!d->opt.once && (rc = start_watch(d)) < 0)
		return rc;
	if (!d->opt.once && (rc = imp_watch_new(&d->impwatch, &d->loop, d->cfg)) < 0)
		return rc;
	if (!d->opt.once && (rc = start_listeners(d)) < 0)
		return rc;
	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_int);
	uv_signal_init(&d->loop, &d->sig_hup);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);
	if (!d->opt.once)
		uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
	uv_timer_init(&d->loop, &d->watchdog);
	uv_timer_init(&d->loop, &d->progress);
	d->handles_on = true;
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		uv_timer_start(&d->watchdog, watchdog_fire, usec / 2000, usec / 2000);
	}
	set_state(d, DAEMON_RUNNING);
	if (d->opt.once) {
		d->once_started_at = ts_now_ms();
		if (isatty(STDERR_FILENO))
			uv_timer_start(&d->progress, progress_fire, 1000, 1000);
		rc = rec_sync(d->rec, d->opt.connector, once_done, d);
		if (rc < 0) {
			log_error("sync: unknown connector '%s'", d->opt.connector ? d->opt.connector : "");
			return rc;
		}
	} else {
		timers_arm(d, true);
		sd_notifyf(0, "READY=1\nSTATUS=reconciling %zu connector(s)", d->n_conns);
		log_info("closeloop %s running: %zu connector(s), poll every %d s",
		         CLOSELOOP_VERSION, d->n_conns, d->cfg->poll_interval_s);
	}
	return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	UNUSED(arg);
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int daemon_run(struct config *cfg, const struct daemon_options *opt)
{
	struct daemon *d = xcalloc(1, sizeof(*d));
	d->cfg = cfg;
	d->opt = *opt;
	apply_log_level(cfg);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&d->loop);
	set_state(d, DAEMON_STARTING);

	int rc = daemon_start(d);
	if (rc < 0) {
		d->exit_code = 1;
		daemon_stop(d, 1);
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	if (d->pending_closes)
		log_warn("daemon: %d handle(s) still open at exit", d->pending_closes);
	uv_walk(&d->loop, walk_close, NULL);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&d->loop) != 0)
		log_warn("daemon: the event loop did not close cleanly");
	int code = d->exit_code;
	free_retired(d);
	cfg_free(d->cfg);
	free(d->conns);
	for (size_t i = 0; i < d->n_timers; i++)
		free(d->timers[i].connector);
	free(d->timers);
	free(d);
	if (code == 0 && !opt->once)
		log_info("stopped");
	return code;
}
