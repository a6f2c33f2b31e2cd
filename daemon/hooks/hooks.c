/* hooks.c — webhook deliveries; see hooks.h. */
#include "hooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "connector.h"
#include "db.h"
#include "log.h"
#include "reconcile.h"

/* Delivery ids remembered in memory (per daemon; the ledger's primary key
 * is the cross-daemon check). */
#define HOOKS_SEEN 1024
/* How long the ledger keeps delivery rows (GitHub lets a delivery be
 * redelivered for 3 days); pruned at most once an hour. */
#define HOOKS_KEEP "14 days"
#define HOOKS_PRUNE_EVERY_MS (3600 * 1000)

static const char *const outcome_names[HOOKS__COUNT] = {
	"accepted", "duplicate", "ignored", "bad_signature", "malformed", "unknown_connector",
};

struct hooks {
	struct db *db;
	struct rec_engine *rec;
	struct connector **conns;
	size_t n_conns;
	const struct config *cfg;
	/* counts[i * HOOKS__COUNT + o] for connector i; row n_conns: names
	 * that are no connector */
	uint64_t *counts;
	char seen[HOOKS_SEEN][160];   /* "connector\x1fdelivery" */
	size_t seen_next;
	int64_t pruned_at;
	int pending;                  /* ledger statements in flight */
	bool dead;                    /* hooks_free called: free at pending 0 */
};

struct hooks_job {
	struct hooks *h;
	char connector[128];
	char delivery[80];
};

int hooks_new(struct hooks **out, struct db *db, struct rec_engine *rec,
              struct connector **conns, size_t n_conns, const struct config *cfg)
{
	struct hooks *h = xcalloc(1, sizeof(*h));
	h->db = db;
	h->rec = rec;
	h->conns = conns;
	h->n_conns = n_conns;
	h->cfg = cfg;
	h->counts = xcalloc((n_conns + 1) * HOOKS__COUNT, sizeof(*h->counts));
	*out = h;
	return 0;
}

void hooks_set_config(struct hooks *h, const struct config *cfg)
{
	h->cfg = cfg;
}

static void hooks_maybe_free(struct hooks *h)
{
	if (!h->dead || h->pending > 0)
		return;
	free(h->counts);
	free(h);
}

void hooks_free(struct hooks *h)
{
	if (!h)
		return;
	h->dead = true;
	hooks_maybe_free(h);
}

static size_t conn_index(const struct hooks *h, const char *name)
{
	for (size_t i = 0; i < h->n_conns; i++)
		if (str_eq(h->conns[i]->name, name))
			return i;
	return h->n_conns;
}

static void count(struct hooks *h, size_t ci, enum hooks_outcome o)
{
	h->counts[ci * HOOKS__COUNT + (size_t)o]++;
}

/* true when this daemon saw connector's delivery id before; else remembers it */
static bool seen_before(struct hooks *h, const char *connector, const char *id)
{
	char k[sizeof(h->seen[0])];
	snprintf(k, sizeof(k), "%s\x1f%s", connector, id);
	for (size_t i = 0; i < HOOKS_SEEN; i++)
		if (strcmp(h->seen[i], k) == 0)
			return true;
	memcpy(h->seen[h->seen_next], k, sizeof(k));
	h->seen_next = (h->seen_next + 1) % HOOKS_SEEN;
	return false;
}

/* rec_done_cb of a woken cycle: the cycle logs its own errors. */
static void woke(struct rec_engine *e, int errors, void *arg)
{
	UNUSED(e);
	UNUSED(arg);
	if (errors)
		log_debug("webhook: the cycle it woke ended with %d error(s)", errors);
}

static void wake(struct hooks *h, const char *connector)
{
	if (h->dead || !h->rec)
		return;
	if (rec_sync(h->rec, connector, woke, NULL) < 0)
		log_debug("webhook %s: no cycle started (unknown connector or stopping)", connector);
}

static void on_pruned(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	UNUSED(res);
	struct hooks *h = arg;
	h->pending--;
	if (err)
		log_warn("webhook: pruning old deliveries: %s", err);
	hooks_maybe_free(h);
}

static void on_recorded(struct db *db, const PGresult *res, const char *err, void *arg)
{
	UNUSED(db);
	struct hooks_job *j = arg;
	struct hooks *h = j->h;
	h->pending--;
	size_t ci = conn_index(h, j->connector);
	if (!res || PQntuples(res) != 1) {
		/* not recorded: nobody was notified; this daemon pulls itself */
		if (!h->dead)
			log_warn("webhook %s: delivery %s not recorded in the ledger (%s); pulling "
			         "from this daemon", j->connector, j->delivery, err ? err : "no row");
		count(h, ci, HOOKS_ACCEPTED);
		wake(h, j->connector);
	} else {
		const char *what = PQgetvalue(res, 0, 0);
		count(h, ci, strcmp(what, "duplicate") == 0 ? HOOKS_DUPLICATE : HOOKS_ACCEPTED);
		log_debug("webhook %s: delivery %s: %s", j->connector, j->delivery, what);
		if (strcmp(what, "repointed") == 0 || strcmp(what, "moved") == 0 ||
		    strcmp(what, "broken") == 0)
			log_info("webhook %s: delivery %s: link %s", j->connector, j->delivery, what);
	}
	free(j);
	hooks_maybe_free(h);
}

static const char *kind_name(enum conn_hook_kind k)
{
	switch (k) {
	case CONN_HOOK_CHANGED: return "changed";
	case CONN_HOOK_TRANSFERRED: return "transferred";
	case CONN_HOOK_DELETED: return "deleted";
	case CONN_HOOK_IGNORED:
	case CONN_HOOK_PING:
		return NULL;
	default:
		log_error("webhook: impossible delivery kind %d", (int)k);
		abort();
	}
}

/* Record ev in the ledger (closeloop_webhook_delivery), then on_recorded. */
static void record(struct hooks *h, struct connector *c, const struct cfg_connector *cc,
                   const struct conn_hook_event *ev)
{
	char by[64];
	snprintf(by, sizeof(by), "daemon pid %ld", (long)getpid());
	bool served = ev->kind == CONN_HOOK_TRANSFERRED && cfg_connector_target(cc, ev->new_target) != NULL;
	const char *p[] = {
		c->name, ev->delivery_id, ev->event, kind_name(ev->kind),
		ev->target[0] ? ev->target : NULL, ev->remote_id[0] ? ev->remote_id : NULL,
		ev->key[0] ? ev->key : NULL, ev->new_target[0] ? ev->new_target : NULL,
		ev->new_remote_id[0] ? ev->new_remote_id : NULL, ev->new_key[0] ? ev->new_key : NULL,
		served ? "true" : "false", by,
	};
	struct hooks_job *j = xcalloc(1, sizeof(*j));
	j->h = h;
	snprintf(j->connector, sizeof(j->connector), "%s", c->name);
	snprintf(j->delivery, sizeof(j->delivery), "%s", ev->delivery_id);
	if (db_query(h->db, "SELECT closeloop_webhook_delivery($1, $2, $3, $4, $5, $6, $7, $8, "
	             "$9, $10, $11::boolean, $12)", (int)ARRAY_SIZE(p), p, on_recorded, j) < 0) {
		free(j);
		count(h, conn_index(h, c->name), HOOKS_ACCEPTED);
		wake(h, c->name);
		return;
	}
	h->pending++;
	int64_t now = ts_now_ms();
	if (now - h->pruned_at >= HOOKS_PRUNE_EVERY_MS) {
		h->pruned_at = now;
		if (db_query(h->db, "DELETE FROM webhook_delivery WHERE received_at < now() - "
		             "interval '" HOOKS_KEEP "'", 0, NULL, on_pruned, h) == 0)
			h->pending++;
	}
}

/* Put text into the answer and return status (the answer is a courtesy:
 * a buffer that cannot grow leaves it empty). */
static int answer(struct buf *out, int status, const char *text)
{
	if (buf_append(out, text, strlen(text)) < 0)
		log_debug("webhook: answer text dropped");
	return status;
}

int hooks_handle(const struct listener_request *req, struct buf *out, void *arg)
{
	char msg[400];
	struct hooks *h = arg;
	size_t ci = conn_index(h, req->name);
	struct connector *c = ci < h->n_conns ? h->conns[ci] : NULL;
	const struct cfg_connector *cc = c ? cfg_find_connector(h->cfg, c->name) : NULL;
	if (!c || !cc || !cc->webhook_secret || !c->ops->webhook || h->dead) {
		count(h, ci, HOOKS_UNKNOWN);
		snprintf(msg, sizeof(msg), "no webhook endpoint for connector '%.100s' (expected "
		         "the name of a connector with a webhook secret)\n", req->name);
		return answer(out, 404, msg);
	}
	struct conn_hook_request r = {
		.header_names = req->header_names, .header_values = req->header_values,
		.n_headers = req->n_headers, .body = req->body, .body_len = req->body_len,
	};
	struct conn_hook_event ev;
	char err[256] = "";
	int rc = c->ops->webhook(c, &r, cc->webhook_secret, &ev, err, sizeof(err));
	if (rc == -EACCES) {
		count(h, ci, HOOKS_BAD_SIGNATURE);
		log_warn("webhook %s: delivery refused (401): %s", c->name, err);
		return answer(out, 401, "signature does not verify\n");
	}
	if (rc < 0) {
		count(h, ci, HOOKS_MALFORMED);
		log_warn("webhook %s: delivery refused (400): %s", c->name, err);
		snprintf(msg, sizeof(msg), "%s\n", err);
		return answer(out, 400, msg);
	}
	if (seen_before(h, c->name, ev.delivery_id)) {
		count(h, ci, HOOKS_DUPLICATE);
		return answer(out, 200, "duplicate delivery\n");
	}
	if (ev.kind == CONN_HOOK_IGNORED || ev.kind == CONN_HOOK_PING) {
		count(h, ci, HOOKS_IGNORED);
		return ev.kind == CONN_HOOK_PING ? answer(out, 200, "pong\n")
		                                 : answer(out, 202, "ignored\n");
	}
	log_debug("webhook %s: %s delivery %s for %s", c->name, ev.event, ev.delivery_id,
	          ev.key[0] ? ev.key : ev.target);
	record(h, c, cc, &ev);
	return answer(out, 202, "accepted\n");
}

void hooks_notified(struct hooks *h, const char *connector)
{
	if (connector && conn_index(h, connector) < h->n_conns)
		wake(h, connector);
}

int hooks_metrics(const struct hooks *h, struct buf *out)
{
	const char *n = "closeloop_webhook_deliveries_total";
	int rc = buf_appendf(out, "# HELP %s Webhook deliveries by connector and outcome.\n"
	                     "# TYPE %s counter\n", n, n);
	for (size_t i = 0; i <= h->n_conns; i++) {
		const char *name = i < h->n_conns ? h->conns[i]->name : "(none)";
		for (size_t o = 0; o < HOOKS__COUNT; o++)
			rc |= buf_appendf(out, "%s{connector=\"%s\",outcome=\"%s\"} %llu\n", n, name,
			                  outcome_names[o],
			                  (unsigned long long)h->counts[i * HOOKS__COUNT + o]);
	}
	return rc < 0 ? -ENOSPC : 0;
}
