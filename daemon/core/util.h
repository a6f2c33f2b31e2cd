/* util.h — small shared helpers: allocation, bounded buffers, time stamps.
 *
 * Allocation failures abort (as pgbouncer and Redis do for their core
 * allocations): a daemon that cannot allocate a few bytes cannot do
 * anything useful, and checking every strdup hides the real logic.
 */
#ifndef CLOSELOOP_UTIL_H
#define CLOSELOOP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdarg.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define UNUSED(x) ((void)(x))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* xstrdup(NULL) returns NULL. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new heap string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Free *p and set it to a copy of s (or NULL). */
void str_replace(char **p, const char *s);
/* NULL-safe equality: two NULLs are equal, NULL != "". */
bool str_eq(const char *a, const char *b);
/* Trim ASCII white space at both ends, in place; returns s. */
char *str_trim(char *s);
/* Levenshtein distance between a and b, capped: strings over 64 bytes
 * count as 99 apart.  Enough for "did you mean". */
size_t str_edit_distance(const char *a, const char *b);
/* The nearest of n names to word, or NULL when none is closer than
 * max_distance.  names points at rows of size stride whose FIRST member
 * is the `const char *` name (tables of options or subcommands). */
const char *str_nearest(const char *word, const void *rows, size_t n, size_t stride,
                        size_t max_distance);
/* Case-insensitive ASCII prefix test. */
bool str_istarts(const char *s, const char *prefix);

/* Growable byte buffer with a hard size cap (curl habit: every growable
 * buffer has a cap).  data is always NUL-terminated after an append. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* 0 = 16 MiB default cap */
};
/* Returns 0, or -ENOSPC when the cap would be exceeded (buffer unchanged). */
int buf_append(struct buf *b, const void *p, size_t n) MUST_CHECK;
int buf_appendf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3))) MUST_CHECK;
void buf_free(struct buf *b);
/* Hand the data over to the caller (may be NULL when empty); b is reset. */
char *buf_steal(struct buf *b);

/* Time.  All time stamps closeloop passes around are UTC.
 * ts_now_ms: wall clock, milliseconds since the Unix epoch. */
int64_t ts_now_ms(void);
/* A monotonic clock in milliseconds (CLOCK_MONOTONIC, POSIX: from an
 * unspecified start, never stepped by settimeofday, NTP or an operator):
 * for waits and spacing measured between two readings, never for a time
 * of day or a stored time stamp. */
int64_t ts_mono_ms(void);
/* Parse an ISO 8601 / RFC 3339 time stamp into ms since the epoch, UTC.
 * Accepts "2026-11-21T07:00:00Z", "...+00:00", "...+0000" (Jira),
 * fractional seconds, and "2026-11-21 07:00:00" (ServiceNow, UTC).
 * Returns 0 or -EINVAL. */
int ts_parse(const char *s, int64_t *out_ms) MUST_CHECK;
/* Format ms since the epoch as "2026-11-21T07:00:00Z" into out (>= 21 bytes). */
void ts_format(int64_t ms, char *out, size_t outlen);
/* The same with milliseconds, "2026-11-21T07:00:00.123Z" (>= 25 bytes). */
void ts_format_ms(int64_t ms, char *out, size_t outlen);
/* Validate a calendar date "YYYY-MM-DD"; returns true if it is one. */
bool date_valid(const char *s);

#endif
