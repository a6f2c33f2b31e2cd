/* config_internal.h — what config.c shares with the parsers of its other
 * option groups (cfg_watch.c).  Not part of the config.h contract. */
#ifndef CLOSELOOP_CONFIG_INTERNAL_H
#define CLOSELOOP_CONFIG_INTERNAL_H

#include <libconfig.h>
#include "config.h"

/* One parse: the file name for messages and where the error goes. */
struct ctx {
	const char *path;
	char *err;
	size_t errlen;
};

/* "FILE:LINE: message" for setting s (NULL = line 0); returns -EINVAL. */
int cfg_fail(struct ctx *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Option `table` (a row of cfg_options) in group grp (may be NULL):
 * its value, else the row's literal default, else NULL; a missing required
 * option or an empty string is an error naming `shown`.  0 or -EINVAL. */
int cfg_get_string(struct ctx *x, const config_setting_t *grp, const char *table,
                   const char *shown, char **out) MUST_CHECK;
/* Likewise for an int, checked against cfg_ranges[]. */
int cfg_get_int(struct ctx *x, const config_setting_t *grp, const char *table,
                const char *shown, int *out) MUST_CHECK;

/* cfg_watch.c: the flags and escalation groups into c->watch. */
int cfg_parse_watch(struct ctx *x, const config_setting_t *root, struct config *c) MUST_CHECK;
void cfg_watch_free(struct cfg_watch *w);

#endif
