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
/* Likewise, with `fallback` when the option is absent and its row has no
 * default (a connector's poll_interval falls back to the top level's). */
int cfg_get_int_or(struct ctx *x, const config_setting_t *grp, const char *table,
                   const char *shown, int fallback, int *out) MUST_CHECK;

/* p relative to the folder of cfg_path (absolute p and NULL unchanged);
 * a new string. */
char *cfg_resolve_relative(const char *cfg_path, const char *p);
/* Is the host at the start of hostpart ("127.0.0.1:25/", "[::1]",
 * "localhost") a loopback address (RFC 6890, RFC 6761)? */
bool cfg_url_host_is_loopback(const char *hostpart);
/* Read a secret file (at most 64 KiB, trailing white space stripped);
 * errors name owner and the file, never its contents.  0 or -EINVAL. */
int cfg_read_secret_file(struct ctx *x, const config_setting_t *s, const char *owner,
                         const char *path, char **out) MUST_CHECK;
/* Likewise, with `field` naming the option in messages ("token_file"). */
int cfg_read_secret(struct ctx *x, const config_setting_t *s, const char *owner,
                    const char *field, const char *path, char **out) MUST_CHECK;

/* cfg_connector.c: the `connectors` list into c->connectors (after the
 * top level, whose poll_interval is each connector's default). */
int cfg_parse_connectors(struct ctx *x, const config_setting_t *root, struct config *c) MUST_CHECK;
void cfg_connector_free(struct cfg_connector *cc);
/* The first connector option that may not change on reload and did
 * ("connectors.[].base_url", "connectors.[github].api_version"), or NULL;
 * connectors are compared by position, as the daemon holds them. */
const char *cfg_connectors_reload_blocker(const struct config *old, const struct config *new_);

/* cfg_deliver.c: the `destinations` list into c->destinations. */
int cfg_parse_destinations(struct ctx *x, const config_setting_t *root, struct config *c) MUST_CHECK;
void cfg_destinations_free(struct config *c);

/* cfg_watch.c: the flags and escalation groups into c->watch. */
int cfg_parse_watch(struct ctx *x, const config_setting_t *root, struct config *c) MUST_CHECK;
/* escalation.chat / escalation.email name destinations of the right type
 * (after cfg_parse_destinations). */
int cfg_check_watch_channels(struct ctx *x, const config_setting_t *root,
                             struct config *c) MUST_CHECK;
void cfg_watch_free(struct cfg_watch *w);

/* cfg_import.c: the import group into c->import. */
int cfg_parse_import(struct ctx *x, const config_setting_t *root, struct config *c) MUST_CHECK;
void cfg_import_free(struct cfg_import *im);

/* A value of a connector type's option o (connector.h struct conn_option)
 * at setting m, as text in *out (heap): type, range and the option's own
 * check, errors "FILE:LINE: <sh><name> ..." (sh names the connector).
 * 0 or -EINVAL. */
struct conn_option;
int cfg_conn_option_value(struct ctx *x, const config_setting_t *m, const struct conn_option *o,
                          const char *sh, char **out) MUST_CHECK;

/* cfg_discover.c: connector group e's `discover` list into cc->discover
 * (after its type options and targets); sh names the connector for
 * messages ("connectors[0] ('github-main')."). */
struct conn_type;
int cfg_parse_discover(struct ctx *x, const config_setting_t *e, const struct conn_type *ct,
                       const char *sh, struct cfg_connector *cc) MUST_CHECK;
void cfg_discover_free(struct cfg_connector *cc);

#endif
