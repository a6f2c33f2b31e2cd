/* log.h — level-checked logging with printf checking.
 *
 * One line per event on stderr.  Text (the default):
 *     LEVEL [key=value ...] message
 * e.g. "warn [connector=github-main target=acme/payments item=42
 * ticket=acme/payments#12] PATCH refused: 422"; the fields are connector,
 * target, item and ticket (values holding a space or a quote are
 * double-quoted with \" and \\ escaped), so journald's grep and log
 * shippers can filter on them.  JSON (log_set_format(LOG_FMT_JSON),
 * `closeloop --log-format=json`): one object per line,
 *     {"ts":"...","level":"warn","connector":"github-main","item":42,"msg":"..."}
 * with only the fields that are set ("ts" only with timestamps).  journald
 * adds the time under systemd; with log_set_timestamps(true) a text line
 * starts with an RFC 3339 UTC time.  Every registered secret is replaced by "***" in
 * every line before it is written, so a token can never reach a log
 * (tests/unit/test_log.c proves it).
 */
#ifndef CLOSELOOP_LOG_H
#define CLOSELOOP_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

extern enum log_level log_current_level;

enum log_format {
	LOG_FMT_TEXT = 0,
	LOG_FMT_JSON,
};

/* What a line speaks about; NULL / 0 members are left out. */
struct log_ctx {
	const char *connector; /* configured connector name, "github-main" */
	const char *target;    /* tracker target, "acme/payments" */
	long long item;        /* action_item.id, 0 = none */
	const char *ticket;    /* ticket key, "acme/payments#12" */
};

/* Set the level; ignored after log_pin_level (the command line's -v beats
 * the configuration's log_level, also on SIGHUP). */
void log_set_level(enum log_level lvl);
void log_pin_level(enum log_level lvl);
/* "error" | "warn" | "info" | "debug"; returns the level or -1. */
int log_level_parse(const char *name);
void log_set_timestamps(bool on);
void log_set_format(enum log_format fmt);
/* "text" | "json"; returns the format or -1. */
int log_format_parse(const char *name);
/* Register a secret to be masked in every later log line (copied). */
void log_add_secret(const char *secret);
void log_clear_secrets(void);
/* Mask registered secrets in s into a new heap string. */
char *log_redact(const char *s);

void log_write(enum log_level lvl, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write one line about ctx (may be NULL). */
void log_ctx_write(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_at(lvl, prefix, ...) \
	do { if ((lvl) <= log_current_level) log_write((lvl), (prefix), __VA_ARGS__); } while (0)
/* Level-checked line with fields: log_with(LOG_LVL_WARN, &(struct log_ctx){
 * .connector = name, .item = id }, "..."). */
#define log_with(lvl, ctx, ...) \
	do { if ((lvl) <= log_current_level) log_ctx_write((lvl), (ctx), __VA_ARGS__); } while (0)

#define log_error(...) log_at(LOG_LVL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LVL_WARN, NULL, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LVL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, NULL, __VA_ARGS__)

/* Variants for the object they speak about: "[connector=github-main]",
 * "[item=42]".  log_write's prefix is a connector name. */
#define log_conn(lvl, conn_name, ...) log_at((lvl), (conn_name), __VA_ARGS__)
void log_item(enum log_level lvl, long long item_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
