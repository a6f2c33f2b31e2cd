/* log.h — level-checked logging with printf checking.
 *
 * Lines go to stderr as "LEVEL [prefix] message" (journald adds the time
 * under systemd; with log_set_timestamps(true) the line starts with an
 * RFC 3339 UTC time).  Every registered secret is replaced by "***" in
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

void log_set_level(enum log_level lvl);
/* "error" | "warn" | "info" | "debug"; returns the level or -1. */
int log_level_parse(const char *name);
void log_set_timestamps(bool on);
/* Register a secret to be masked in every later log line (copied). */
void log_add_secret(const char *secret);
void log_clear_secrets(void);
/* Mask registered secrets in s into a new heap string. */
char *log_redact(const char *s);

void log_write(enum log_level lvl, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_at(lvl, prefix, ...) \
	do { if ((lvl) <= log_current_level) log_write((lvl), (prefix), __VA_ARGS__); } while (0)

#define log_error(...) log_at(LOG_LVL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LVL_WARN, NULL, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LVL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, NULL, __VA_ARGS__)

/* Variants that prefix the object they speak about, e.g. "[github-main]"
 * or "[item 42]". */
#define log_conn(lvl, conn_name, ...) log_at((lvl), (conn_name), __VA_ARGS__)
void log_item(enum log_level lvl, long long item_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
