/* cfgfile.h — what config.c and directory.c share about reading a
 * libconfig file: one way to read it and one shape for every error,
 * "FILE:LINE: what was expected". */
#ifndef CLOSELOOP_CFGFILE_H
#define CLOSELOOP_CFGFILE_H

#include <stdarg.h>
#include <stddef.h>
#include <libconfig.h>
#include "util.h"

/* Read path into lc (already config_init'ed).  what names the file in
 * messages ("configuration file", "directory file").  Returns 0, -ENOENT
 * or -EIO (unreadable), or -EINVAL (syntax, with the line). */
int cfgfile_read(config_t *lc, const char *path, const char *what,
                 char *err, size_t errlen) MUST_CHECK;

/* Write "FILE:LINE: message" for setting s (NULL = line 0 of path) into
 * err; returns -EINVAL so callers can `return cfgfile_fail(...)`. */
int cfgfile_vfail(const char *path, const config_setting_t *s, char *err, size_t errlen,
                  const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

#endif
