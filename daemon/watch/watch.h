/* watch.h — flags and the escalation ladder (sql/012_watch.sql).
 *
 * A run, on the daemon's loop over the async ledger connection (db.h),
 * is a short state machine:
 *   FLAGS   closeloop_flags_compute(now, options, by): one statement raises
 *           and clears every flag (set-based, no per-item round trip)
 *   ARM     closeloop_escalation_arm(now, rungs, by): intents for the items
 *           that reached a rung (one row per item, rung, flag raise, channel)
 *   CLAIM   closeloop_escalation_claim(...): up to WATCH_CLAIM_MAX rows, each
 *           taken by exactly one daemon, committed as 'sending' before any
 *           request is made
 *   SEND    per row: find_comment(marker) first when an earlier attempt may
 *           have reached the tracker, else (or when not found) comment;
 *           then closeloop_escalation_done(id, sent|failed|unknown, ...)
 *   IDLE
 * Runs start on the module's own timer (flags.interval seconds; the first
 * one at once) or with watch_run().  Time comes from the database (now())
 * unless a fixed time was given (tests, `flags --once --now`).
 */
#ifndef CLOSELOOP_WATCH_H
#define CLOSELOOP_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libpq-fe.h>

struct conn_type;
#include <uv.h>
#include "config.h"
#include "util.h"

struct db;
struct connector;
struct http_client;
struct watch;

#define WATCH_CLAIM_MAX 50      /* escalations sent per run at most */
#define WATCH_LEASE_S   600     /* a 'sending' claim older than this is retaken */

struct watch_stats {
	uint64_t runs, run_errors;
	uint64_t flags_raised, flags_cleared;
	uint64_t escalations_armed, escalations_sent, escalations_failed,
	         escalations_unknown;
	uint64_t labels_added, labels_removed, label_errors;
};

/* conns[0..n) belong to the caller and outlive the watch; cfg must outlive
 * it or the next watch_set_config.  by names this process in the ledger
 * (item_flag.raised_by, escalation.claimed_by), copied. */
int watch_new(struct watch **out, uv_loop_t *loop, struct db *db,
              struct connector **conns, size_t n_conns,
              const struct config *cfg, const char *by) MUST_CHECK;
/* The HTTP client chat and mail escalations go through (the daemon's
 * shared one; it must stay open until the watch has stopped).  Without
 * it those escalations fail ("not configured") and are retried. */
void watch_set_http(struct watch *w, struct http_client *http);

/* Start the periodic timer (first run at once). */
void watch_start(struct watch *w);

/* New configuration (SIGHUP): thresholds apply from the next run; the
 * timer is re-armed when it runs. */
void watch_set_config(struct watch *w, const struct config *cfg);

typedef void (*watch_done_cb)(struct watch *w, int errors, void *arg);

/* One run now (or right after the one in progress).  Returns 0 (cb called
 * once, later; may be NULL) or -ECANCELED after watch_stop. */
int watch_run(struct watch *w, watch_done_cb cb, void *arg) MUST_CHECK;

const struct watch_stats *watch_get_stats(const struct watch *w);

/* No new run starts; a run in progress ends (its sends are cancelled
 * through the connectors after timeout_ms); then stopped_cb runs from the
 * loop and w is freed. */
void watch_stop(struct watch *w, int64_t timeout_ms, void (*stopped_cb)(void *), void *arg);

/* ---- pure helpers (watch_text.c), shared with the CLI ---- */

/* The statements of a run, $1 = now (NULL: the ledger's clock):
 * flags ($2 options JSON, $3 by), arm ($2 rungs JSON, $3 by), claim ($2 by,
 * $3 limit, $4 lease seconds; columns as watch.c's send_start reads them). */
extern const char watch_sql_flags[];
extern const char watch_sql_arm[];
extern const char watch_sql_claim[];

/* The p_opts JSON of closeloop_flags_compute from the configuration.
 * Caller frees. */
char *watch_flags_options_json(const struct cfg_watch *cw);
/* The p_rungs JSON of closeloop_escalation_arm (sql/018; "[]" when
 * escalation is disabled): per rung name, flag, days, notify, "comment":
 * false when the rung does not comment, "comment_connectors" (those of
 * conns[0..n) with the comment operations; left out when conns is NULL:
 * any), "dests" (its chat and email destinations of cfg with the
 * platforms they serve; none when cfg is NULL).  Caller frees. */
char *watch_rungs_json(const struct cfg_watch *cw, const struct config *cfg,
                       struct connector *const *conns, size_t n_conns);

/* The p_opts JSON of closeloop_labels_plan (sql/013, sql/035): the prefix
 * "closeloop:", the kinds of flags.labels, "escalated_rungs" (the rungs
 * with the "label" action; none when escalation is disabled), and the
 * names of conns[0..n) whose connector has the label operation.  Caller
 * frees. */
char *watch_labels_options_json(const struct cfg_watch *cw, struct connector *const *conns,
                                size_t n_conns);

/* The same from the configuration alone (the dry run, which has no
 * connectors): the connectors whose type has labels (conn_type.labels).
 * Caller frees. */
char *watch_labels_options_cfg(const struct config *cfg);

/* What an escalation says, from one row of closeloop_escalation_claim. */
struct watch_esc {
	const char *rung, *flag;      /* "overdue-30", "overdue" */
	const char *recipient;        /* person handle or NULL */
	const char *login;            /* recipient's GitHub login or NULL; used
	                                 only when the ticket's tracker type is
	                                 unknown (else .mention or nothing) */
	const char *mention;          /* the recipient in the ticket's tracker's
	                                 syntax (conn_mention), or NULL: "@login" */
	const char *platform;         /* or NULL */
	const char *title, *pm_ref, *pm_title;
	const char *due;              /* YYYY-MM-DD or NULL */
	int days;                     /* overdue: days past due; else days flagged */
	long long id;
	const char *marker;           /* hidden in the comment */
};

/* The mention of the recipient: e->mention when set, else GitHub's syntax
 * ("@login"), or NULL when the directory has no identity for them.
 * Caller frees. */
char *watch_esc_identity(const struct watch_esc *e);
/* The mention of the person whose directory row is person_json (r_person
 * of the claim, to_jsonb(person)) in tracker type t: its t->person_ident
 * value, named by display_name or handle (conn_mention).  NULL when the
 * row has no identity there.  Caller frees. */
char *watch_person_mention(const struct conn_type *t, const char *person_json);
/* The string field key ("email", "display_name") of a person row as
 * the claim's r_person gives it (jsonb text), or NULL.  Caller frees. */
char *watch_person_field(const char *person_json, const char *key);
/* The comment, Markdown, in blameless words: the item, its age and the
 * decision needed; ends with the hidden marker.  Caller frees. */
char *watch_esc_message(const struct watch_esc *e);

/* `closeloop flags --once`: compute the flags with a blocking connection,
 * at now_text (a timestamptz literal; NULL = the database's now()), print
 * one line per kind to out.  Returns 0 or -EIO with err. */
int watch_flags_once(PGconn *c, const struct cfg_watch *cw, const char *now_text,
                     const char *by, FILE *out, char *err, size_t errlen) MUST_CHECK;

/* `closeloop escalate --dry-run`: in one transaction that is rolled back,
 * compute the flags, arm the ladder and claim every escalation due at
 * now_text (NULL = now), then print what would be sent, to whom (in the
 * ticket's tracker's own mention), through which channel (with the
 * comment when verbose); then, taking those as sent, the closeloop:*
 * ticket labels the run would put on or take off.  Writes nothing (the
 * sequences of the rolled-back rows still advance, as PostgreSQL's do).
 * Returns the number of escalations (>= 0) or -EIO with err. */
int watch_escalate_dry_run(PGconn *c, const struct config *cfg, const char *now_text,
                           bool verbose, FILE *out, char *err, size_t errlen) MUST_CHECK;

/* Print the open flags (v_item_flag_open), of one item when item (an id
 * as text) is not NULL, one line each.  Returns 0 or -EIO with err. */
int watch_flags_print(PGconn *c, const char *item, FILE *out, char *err, size_t errlen) MUST_CHECK;

/* `closeloop flags --now TIME` without --once: a what-if.  The flags the
 * configuration's thresholds give at at_text (a timestamptz literal, the
 * SQL's p_now; not NULL) from the ledger as it is now, beside the open
 * ones: each line says "raise" (not open now), "open" (stays) or "clear"
 * (open now, gone then); of one item when item is not NULL.  Reads only
 * (closeloop_flags_current, a STABLE function; no lock, no row written).
 * Returns 0 or -EIO with err. */
int watch_flags_what_if(PGconn *c, const struct cfg_watch *cw, const char *at_text,
                        const char *item, FILE *out, char *err, size_t errlen) MUST_CHECK;

#endif
