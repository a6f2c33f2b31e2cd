/* db_internal.h — helpers shared by db.c (async) and db_sync.c (blocking,
 * migrations).  Not part of the public db.h contract. */
#ifndef CLOSELOOP_DB_INTERNAL_H
#define CLOSELOOP_DB_INTERNAL_H

#include <stddef.h>
#include <libpq-fe.h>

/* Copy a libpq message into out as one line (line breaks folded). */
void db_copy_trimmed(char *out, size_t outlen, const char *s);
/* "<what>: ERROR: msg[ - detail] (SQLSTATE x)" from a failed result, or
 * from the connection's message when res is NULL. */
void db_format_error(char *err, size_t errlen, const char *what,
                     const PGresult *res, const PGconn *conn);
/* libpq notice processor that sends server notices to the debug log. */
void db_notice_to_log(void *arg, const char *message);

#endif
