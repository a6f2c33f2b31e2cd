/* watch_internal.h — shared by the files of daemon/watch/ (watch.c: the
 * run and the escalations; watch_label.c: the closeloop:* ticket labels).
 * Not for use outside daemon/watch/. */
#ifndef CLOSELOOP_WATCH_INTERNAL_H
#define CLOSELOOP_WATCH_INTERNAL_H

#include "watch.h"

enum watch_state {
	WATCH_IDLE = 0,
	WATCH_FLAGS,   /* closeloop_flags_compute in flight */
	WATCH_ARM,     /* closeloop_escalation_arm in flight */
	WATCH_CLAIM,   /* closeloop_escalation_claim in flight */
	WATCH_SEND,    /* sends and their closeloop_escalation_done in flight */
	WATCH_LABEL_PLAN,  /* closeloop_labels_plan in flight */
	WATCH_LABEL_CLAIM, /* closeloop_labels_claim in flight */
	WATCH_LABEL_SEND,  /* label writes and their closeloop_labels_done in flight */
};

struct waiter {
	watch_done_cb cb;
	void *arg;
};

struct notify_group;
struct deliver;

struct watch {
	uv_loop_t *loop;
	struct db *db;
	struct connector **conns;
	size_t n_conns;
	const struct config *cfg;
	char *by;
	enum watch_state state;
	uv_timer_t timer, stop_timer;
	int closes;
	int sends;                 /* escalations of this run not yet recorded */
	int label_sends;           /* label writes of this run not yet recorded */
	int errors;                /* of the current run */
	struct waiter *cur, *next; /* callers of this run / of the one after */
	size_t n_cur, n_next;
	bool again;                /* another run asked for while busy */
	bool stopping;
	void (*stopped_cb)(void *);
	void *stopped_arg;
	struct watch_stats stats;
	struct deliver *dl;        /* chat and mail escalations (daemon/deliver/) */
	bool dl_closing, dl_closed;
	struct notify_group **groups; /* digests being gathered from a claim */
	size_t n_groups;
};

/* The one place the state changes (aborts on an impossible state). */
void watch_set_state(struct watch *w, enum watch_state s);
/* The run is over: callers told, the next run started if asked for. */
void watch_run_finish(struct watch *w);
/* The configured connector called name, or NULL. */
struct connector *watch_find_conn(const struct watch *w, const char *name);
/* Row r, column c of res, or NULL for SQL NULL (borrowed from res). */
char *watch_col(const PGresult *res, int r, int c);
/* One escalation send of this run is recorded: the label stage starts
 * after the last one. */
void watch_send_ended(struct watch *w);
/* watch_notify.c: add claimed row r of res (a chat or email channel) to
 * its digest (counted in w->sends); then send every digest gathered. */
void watch_notify_add(struct watch *w, const PGresult *res, int r);
void watch_notify_flush(struct watch *w);
/* The label stage (watch_label.c), after the escalations: plan, claim and
 * write the closeloop:* labels when flags.labels names any; ends the run
 * with watch_run_finish either way. */
void watch_labels_start(struct watch *w);

#endif
