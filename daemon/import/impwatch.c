/* impwatch.c — see impwatch.h.  The loop side: timers, file-system event
 * handles, one scan job at a time on the thread pool (impwatch_scan.c).
 *
 * States: IDLE (no scan), SCANNING (a job on the pool), STOPPING (no new
 * job; closing handles and waiting for the job).  Everything here runs on
 * the loop thread; the job's thread touches only its iw_job, the known
 * table and the ledger connection, which the loop leaves alone while the
 * job is out. */
#include "impwatch.h"
#include "impwatch_scan.h"
#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum iw_state {
	IW_IDLE = 0,
	IW_SCANNING,
	IW_STOPPING,
};

struct iw_ev {
	uv_fs_event_t h;
	struct imp_watch *w;
	char *dir;
};

struct imp_watch {
	uv_loop_t *loop;
	enum iw_state state;
	bool scanning;            /* a job is out (also while STOPPING) */
	bool again;               /* a change was seen during the scan */
	char **roots;             /* import.watch */
	size_t n_roots;
	int *root_errno;          /* last reported problem per root */
	char *dsn, *platform, *team, *repository, *sn_connectors;
	int debounce_ms, rescan_ms;
	uv_timer_t debounce, rescan;
	struct iw_ev **evs;       /* sorted by dir */
	size_t n_evs;
	bool ev_limit_logged;
	uv_work_t work;
	struct iw_job *job;
	struct iw_known known;    /* the job's while it is out */
	PGconn *conn;             /* likewise */
	struct imp_watch_stats stats;
	int pending_closes;
	void (*stopped)(void *);
	void *stopped_arg;
};

static void set_state(struct imp_watch *w, enum iw_state s)
{
	switch (s) {
	case IW_IDLE:
	case IW_SCANNING:
	case IW_STOPPING:
		w->state = s;
		break;
	default:
		log_error("import watch: impossible state %d", (int)s);
		abort();
	}
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* What take_config copied (and the per-root reports that go with it). */
static void drop_config(struct imp_watch *w)
{
	free_strv(w->roots, w->n_roots);
	free(w->root_errno);
	free(w->platform);
	free(w->team);
	free(w->repository);
	free(w->sn_connectors);
}

static void take_config(struct imp_watch *w, const struct config *cfg)
{
	drop_config(w);
	w->n_roots = cfg->import.n_watch;
	w->roots = xcalloc(w->n_roots ? w->n_roots : 1, sizeof(*w->roots));
	for (size_t i = 0; i < w->n_roots; i++)
		w->roots[i] = xstrdup(cfg->import.watch[i]);
	w->root_errno = xcalloc(w->n_roots ? w->n_roots : 1, sizeof(*w->root_errno));
	w->platform = dup_or_null(cfg->default_platform);
	w->team = dup_or_null(cfg->default_team);
	w->repository = dup_or_null(cfg->default_target);
	w->sn_connectors = imp_sn_connectors(cfg);
	w->debounce_ms = cfg->import.debounce_ms;
	w->rescan_ms = cfg->import.rescan_interval_s * 1000;
}

/* ---- finishing a stop ---- */

static void maybe_stopped(struct imp_watch *w)
{
	if (w->state != IW_STOPPING || w->pending_closes > 0 || w->scanning)
		return;
	if (w->conn)
		PQfinish(w->conn);
	iw_known_free(&w->known);
	drop_config(w);
	free(w->dsn);
	free(w->evs);
	void (*cb)(void *) = w->stopped;
	void *arg = w->stopped_arg;
	free(w);
	if (cb)
		cb(arg);
}

static void handle_closed(uv_handle_t *h)
{
	struct imp_watch *w = h->data;
	w->pending_closes--;
	maybe_stopped(w);
}

static void ev_closed(uv_handle_t *h)
{
	struct iw_ev *e = h->data;
	struct imp_watch *w = e->w;
	free(e->dir);
	free(e);
	w->pending_closes--;
	maybe_stopped(w);
}

static void ev_close(struct iw_ev *e)
{
	e->w->pending_closes++;
	e->w->stats.dirs_watched--;
	uv_close((uv_handle_t *)&e->h, ev_closed);
}

/* ---- scans ---- */

static void scan_work(uv_work_t *req)
{
	iw_scan(req->data);
}

static void job_free(struct iw_job *j)
{
	free_strv(j->roots, j->n_roots);
	free(j->dsn);
	free(j->platform);
	free(j->team);
	free(j->repository);
	free(j->sn_connectors);
	free(j->log_out);
	free(j->log_err);
	free_strv(j->dirs, j->n_dirs);
	free(j->root_errno);
	free(j);
}

/* Log each line of text at the given level. */
static void log_lines(const char *text, size_t len, bool warn)
{
	for (size_t i = 0; text && i < len;) {
		size_t n = strcspn(text + i, "\n");
		if (warn)
			log_warn("%.*s", (int)n, text + i);
		else
			log_info("%.*s", (int)n, text + i);
		i += n + 1;
	}
}

static void scan_done(uv_work_t *req, int status);

static void scan_start(struct imp_watch *w)
{
	if (w->state == IW_STOPPING)
		return;
	if (w->scanning) {
		w->again = true;
		return;
	}
	struct iw_job *j = xcalloc(1, sizeof(*j));
	j->n_roots = w->n_roots;
	j->roots = xcalloc(w->n_roots ? w->n_roots : 1, sizeof(*j->roots));
	for (size_t i = 0; i < w->n_roots; i++)
		j->roots[i] = xstrdup(w->roots[i]);
	j->dsn = xstrdup(w->dsn);
	j->platform = dup_or_null(w->platform);
	j->team = dup_or_null(w->team);
	j->repository = dup_or_null(w->repository);
	j->sn_connectors = dup_or_null(w->sn_connectors);
	atomic_init(&j->cancel, false);
	j->known = &w->known;
	j->conn = &w->conn;
	w->job = j;
	w->work.data = j;
	w->scanning = true;
	w->again = false;
	set_state(w, IW_SCANNING);
	int rc = uv_queue_work(w->loop, &w->work, scan_work, scan_done);
	if (rc < 0) {
		log_error("import watch: cannot start a scan: %s", uv_strerror(rc));
		w->scanning = false;
		w->job = NULL;
		job_free(j);
		set_state(w, IW_IDLE);
	}
}

static void timer_fire(uv_timer_t *t)
{
	scan_start(t->data);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct iw_ev *e = h->data;
	struct imp_watch *w = e->w;
	UNUSED(filename);
	UNUSED(events);
	if (status < 0)
		log_warn("import watch: %s: file-system events: %s (the rescan every %d s still "
		         "finds changes)", e->dir, uv_strerror(status), w->rescan_ms / 1000);
	if (w->state != IW_STOPPING)
		uv_timer_start(&w->debounce, timer_fire, (uint64_t)w->debounce_ms, 0);
}

static void ev_open(struct imp_watch *w, const char *dir, struct iw_ev **slot)
{
	struct iw_ev *e = xcalloc(1, sizeof(*e));
	e->w = w;
	e->dir = xstrdup(dir);
	int rc = uv_fs_event_init(w->loop, &e->h);
	e->h.data = e;
	if (rc == 0)
		rc = uv_fs_event_start(&e->h, on_fs_event, dir, 0);
	if (rc < 0 && !w->ev_limit_logged) {
		log_warn("import watch: %s: no file-system events (%s%s); the rescan every %d s "
		         "finds its changes", dir, uv_strerror(rc), rc == UV_ENOSPC ?
		         ": raise fs.inotify.max_user_watches" : "", w->rescan_ms / 1000);
		w->ev_limit_logged = true;
	}
	*slot = e;
	w->stats.dirs_watched++;
}

static int cmp_ev(const void *a, const void *b)
{
	return strcmp((*(struct iw_ev *const *)a)->dir, (*(struct iw_ev *const *)b)->dir);
}

/* One event handle per directory the scan found: open the new ones,
 * close those gone (dirs sorted). */
static void evs_sync(struct imp_watch *w, char **dirs, size_t n_dirs)
{
	struct iw_ev **nv = xcalloc(n_dirs ? n_dirs : 1, sizeof(*nv));
	size_t i = 0, k = 0, n = 0;
	while (i < w->n_evs || k < n_dirs) {
		int c = i >= w->n_evs ? 1 : k >= n_dirs ? -1 : strcmp(w->evs[i]->dir, dirs[k]);
		if (c < 0) {
			ev_close(w->evs[i++]);
		} else if (c == 0) {
			nv[n++] = w->evs[i++];
			k++;
		} else {
			ev_open(w, dirs[k++], &nv[n++]);
		}
	}
	free(w->evs);
	w->evs = nv;
	w->n_evs = n;
	qsort(w->evs, w->n_evs, sizeof(*w->evs), cmp_ev);
}

static void evs_close_all(struct imp_watch *w)
{
	for (size_t i = 0; i < w->n_evs; i++)
		ev_close(w->evs[i]);
	w->n_evs = 0;
}

/* Problems reading a root are logged when they change, not every scan. */
static void report_roots(struct imp_watch *w, const struct iw_job *j)
{
	for (size_t r = 0; r < j->n_roots && r < w->n_roots; r++) {
		if (strcmp(j->roots[r], w->roots[r]) != 0 || j->root_errno[r] == w->root_errno[r])
			continue;
		if (j->root_errno[r])
			log_warn("import watch: %s: cannot read the directory: %s (looked at again "
			         "every %d s)", w->roots[r], strerror(j->root_errno[r]),
			         w->rescan_ms / 1000);
		else
			log_info("import watch: %s: readable again", w->roots[r]);
		w->root_errno[r] = j->root_errno[r];
	}
}

static void scan_done(uv_work_t *req, int status)
{
	struct imp_watch *w = (struct imp_watch *)((char *)req - offsetof(struct imp_watch, work));
	struct iw_job *j = w->job;
	w->job = NULL;
	w->scanning = false;
	if (status == 0) {
		w->stats.scans++;
		w->stats.files_imported += (uint64_t)(j->st.files - j->st.skipped - j->st.failed);
		w->stats.files_skipped += (uint64_t)j->st.skipped;
		w->stats.files_failed += (uint64_t)j->st.failed;
		log_lines(j->log_out, j->log_out_len, false);
		log_lines(j->log_err, j->log_err_len, true);
		if (w->state != IW_STOPPING) {
			report_roots(w, j);
			evs_sync(w, j->dirs, j->n_dirs);
		}
	}
	job_free(j);
	if (w->state == IW_STOPPING) {
		maybe_stopped(w);
		return;
	}
	set_state(w, IW_IDLE);
	if (w->again)
		scan_start(w);
}

int imp_watch_new(struct imp_watch **out, uv_loop_t *loop, const struct config *cfg)
{
	struct imp_watch *w = xcalloc(1, sizeof(*w));
	w->loop = loop;
	w->dsn = xstrdup(cfg->database_dsn);
	take_config(w, cfg);
	int rc = uv_timer_init(loop, &w->debounce);
	if (rc == 0)
		rc = uv_timer_init(loop, &w->rescan);
	if (rc < 0) {
		log_error("import watch: cannot start its timers: %s", uv_strerror(rc));
		drop_config(w);
		free(w->dsn);
		free(w);
		return -ENOMEM;
	}
	w->debounce.data = w->rescan.data = w;
	set_state(w, IW_IDLE);
	if (w->n_roots) {
		uv_timer_start(&w->rescan, timer_fire, (uint64_t)w->rescan_ms, (uint64_t)w->rescan_ms);
		scan_start(w);
		log_info("import watch: %zu postmortem director%s, rescan every %d s",
		         w->n_roots, w->n_roots == 1 ? "y" : "ies", w->rescan_ms / 1000);
	}
	*out = w;
	return 0;
}

static bool same_roots(const struct imp_watch *w, const struct config *cfg)
{
	if (w->n_roots != cfg->import.n_watch)
		return false;
	for (size_t i = 0; i < w->n_roots; i++)
		if (strcmp(w->roots[i], cfg->import.watch[i]) != 0)
			return false;
	return true;
}

void imp_watch_set_config(struct imp_watch *w, const struct config *cfg)
{
	if (w->state == IW_STOPPING)
		return;
	bool roots_changed = !same_roots(w, cfg);
	take_config(w, cfg);
	uv_timer_stop(&w->rescan);
	if (!w->n_roots) {
		uv_timer_stop(&w->debounce);
		evs_close_all(w);
		return;
	}
	uv_timer_start(&w->rescan, timer_fire, (uint64_t)w->rescan_ms, (uint64_t)w->rescan_ms);
	if (roots_changed) {
		/* the next scan's directories get the event handles */
		evs_close_all(w);
		scan_start(w);
	}
}

const struct imp_watch_stats *imp_watch_get_stats(const struct imp_watch *w)
{
	return &w->stats;
}

void imp_watch_stop(struct imp_watch *w, void (*stopped)(void *), void *arg)
{
	if (w->state == IW_STOPPING)
		return;
	set_state(w, IW_STOPPING);
	w->stopped = stopped;
	w->stopped_arg = arg;
	if (w->job)
		atomic_store(&w->job->cancel, true);
	if (w->scanning)
		(void)uv_cancel((uv_req_t *)&w->work);   /* only when it has not started */
	evs_close_all(w);
	w->pending_closes += 2;
	uv_close((uv_handle_t *)&w->debounce, handle_closed);
	uv_close((uv_handle_t *)&w->rescan, handle_closed);
}
