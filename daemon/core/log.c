/* log.c — see log.h */
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum log_level log_current_level = LOG_LVL_INFO;
static bool log_timestamps;
static char **secrets;
static size_t n_secrets;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level lvl) { log_current_level = lvl; }
void log_set_timestamps(bool on) { log_timestamps = on; }

int log_level_parse(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(level_names); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void log_add_secret(const char *secret)
{
	/* very short secrets would mask ordinary words; tokens are long */
	if (!secret || strlen(secret) < 4)
		return;
	for (size_t i = 0; i < n_secrets; i++)
		if (strcmp(secrets[i], secret) == 0)
			return;
	secrets = xrealloc(secrets, (n_secrets + 1) * sizeof(*secrets));
	secrets[n_secrets++] = xstrdup(secret);
}

void log_clear_secrets(void)
{
	for (size_t i = 0; i < n_secrets; i++)
		free(secrets[i]);
	free(secrets);
	secrets = NULL;
	n_secrets = 0;
}

char *log_redact(const char *s)
{
	struct buf b = { 0 };
	const char *p = s;
	while (*p) {
		size_t hit = 0;
		for (size_t i = 0; i < n_secrets; i++) {
			size_t n = strlen(secrets[i]);
			if (strncmp(p, secrets[i], n) == 0 && n > hit)
				hit = n;
		}
		if (hit) {
			if (buf_append(&b, "***", 3) < 0)
				break;
			p += hit;
		} else {
			if (buf_append(&b, p, 1) < 0)
				break;
			p++;
		}
	}
	if (!b.data)
		return xstrdup("");
	return buf_steal(&b);
}

static void log_vwrite(enum log_level lvl, const char *prefix, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	char *clean = n_secrets ? log_redact(msg) : msg;
	/* the prefix is often a connector or target name; mask it too */
	char *clean_prefix = prefix && n_secrets ? log_redact(prefix) : NULL;
	if (clean_prefix)
		prefix = clean_prefix;
	char ts[32] = "";
	if (log_timestamps) {
		ts_format(ts_now_ms(), ts, sizeof(ts));
		strcat(ts, " ");
	}
	if (prefix)
		fprintf(stderr, "%s%s [%s] %s\n", ts, level_names[lvl], prefix, clean);
	else
		fprintf(stderr, "%s%s %s\n", ts, level_names[lvl], clean);
	if (clean != msg)
		free(clean);
	free(clean_prefix);
	free(msg);
}

void log_write(enum log_level lvl, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(lvl, prefix, fmt, ap);
	va_end(ap);
}

void log_item(enum log_level lvl, long long item_id, const char *fmt, ...)
{
	if (lvl > log_current_level)
		return;
	char prefix[40];
	snprintf(prefix, sizeof(prefix), "item %lld", item_id);
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(lvl, prefix, fmt, ap);
	va_end(ap);
}
