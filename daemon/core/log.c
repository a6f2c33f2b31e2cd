/* log.c — see log.h */
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum log_level log_current_level = LOG_LVL_INFO;
static bool log_timestamps;
static enum log_format log_fmt = LOG_FMT_TEXT;
static char **secrets;
static size_t n_secrets;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static bool log_level_pinned;

void log_set_level(enum log_level lvl)
{
	if (!log_level_pinned)
		log_current_level = lvl;
}

void log_pin_level(enum log_level lvl)
{
	log_current_level = lvl;
	log_level_pinned = true;
}
void log_set_timestamps(bool on) { log_timestamps = on; }
void log_set_format(enum log_format fmt) { log_fmt = fmt; }

int log_format_parse(const char *name)
{
	if (name && strcmp(name, "text") == 0)
		return LOG_FMT_TEXT;
	if (name && strcmp(name, "json") == 0)
		return LOG_FMT_JSON;
	return -1;
}

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

/* Append v to b as a text-field value: bare when it holds no space,
 * quote, backslash or '=', else double-quoted with \" and \\ escaped. */
static int append_text_value(struct buf *b, const char *v)
{
	if (*v && !strpbrk(v, " \"\\=\t\n"))
		return buf_append(b, v, strlen(v));
	int rc = buf_append(b, "\"", 1);
	for (const char *p = v; *p && rc == 0; p++) {
		if (*p == '"' || *p == '\\')
			rc = buf_append(b, "\\", 1);
		if (rc == 0)
			rc = buf_append(b, *p == '\n' ? " " : p, 1);
	}
	return rc ? rc : buf_append(b, "\"", 1);
}

/* Append s as a JSON string (RFC 8259 section 7: quote, backslash and
 * control characters escaped). */
static int append_json_string(struct buf *b, const char *s)
{
	int rc = buf_append(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
		if (*p == '"' || *p == '\\')
			rc = buf_appendf(b, "\\%c", *p);
		else if (*p < 0x20)
			rc = buf_appendf(b, "\\u%04x", *p);
		else
			rc = buf_append(b, p, 1);
	}
	return rc ? rc : buf_append(b, "\"", 1);
}

/* The fields of ctx, secrets masked, in order. */
static size_t ctx_fields(const struct log_ctx *ctx, const char *keys[4], char *vals[4])
{
	size_t n = 0;
	if (!ctx)
		return 0;
	const char *const strs[] = { ctx->connector, ctx->target };
	const char *const names[] = { "connector", "target" };
	for (size_t i = 0; i < 2; i++)
		if (strs[i]) {
			keys[n] = names[i];
			vals[n++] = n_secrets ? log_redact(strs[i]) : xstrdup(strs[i]);
		}
	if (ctx->item) {
		keys[n] = "item";
		vals[n++] = xasprintf("%lld", ctx->item);
	}
	if (ctx->ticket) {
		keys[n] = "ticket";
		vals[n++] = n_secrets ? log_redact(ctx->ticket) : xstrdup(ctx->ticket);
	}
	return n;
}

static int format_line(struct buf *b, enum log_level lvl, const char *ts,
                       size_t n, const char *keys[4], char *vals[4], const char *msg)
{
	int rc = 0;
	if (log_fmt == LOG_FMT_JSON) {
		rc = buf_append(b, "{", 1);
		if (rc == 0 && *ts)
			rc = buf_appendf(b, "\"ts\":\"%s\",", ts);
		if (rc == 0)
			rc = buf_appendf(b, "\"level\":\"%s\"", level_names[lvl]);
		for (size_t i = 0; i < n && rc == 0; i++) {
			rc = buf_appendf(b, ",\"%s\":", keys[i]);
			if (rc == 0)
				rc = strcmp(keys[i], "item") == 0 ? buf_appendf(b, "%s", vals[i])
				                                  : append_json_string(b, vals[i]);
		}
		if (rc == 0)
			rc = buf_append(b, ",\"msg\":", 7);
		if (rc == 0)
			rc = append_json_string(b, msg);
		return rc ? rc : buf_append(b, "}\n", 2);
	}
	rc = buf_appendf(b, "%s%s%s", ts, *ts ? " " : "", level_names[lvl]);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = buf_appendf(b, "%s%s=", i ? " " : " [", keys[i]);
		if (rc == 0)
			rc = append_text_value(b, vals[i]);
	}
	if (rc == 0 && n)
		rc = buf_append(b, "]", 1);
	return rc ? rc : buf_appendf(b, " %s\n", msg);
}

__attribute__((format(printf, 3, 0)))
static void log_vwrite(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	char *clean = n_secrets ? log_redact(msg) : msg;
	const char *keys[4];
	char *vals[4];
	size_t n = ctx_fields(ctx, keys, vals);
	char ts[32] = "";
	if (log_timestamps)
		ts_format(ts_now_ms(), ts, sizeof(ts));
	struct buf b = { .max = 64 * 1024 };
	if (format_line(&b, lvl, ts, n, keys, vals, clean) < 0 && b.data) {
		/* over the cap: the line is cut, and still ends the way it should */
		b.data[b.len - 1] = '\n';
	}
	if (b.data)
		fputs(b.data, stderr);
	buf_free(&b);
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	if (clean != msg)
		free(clean);
	free(msg);
}

void log_write(enum log_level lvl, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(lvl, prefix ? &(struct log_ctx){ .connector = prefix } : NULL, fmt, ap);
	va_end(ap);
}

void log_ctx_write(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(lvl, ctx, fmt, ap);
	va_end(ap);
}

void log_item(enum log_level lvl, long long item_id, const char *fmt, ...)
{
	if (lvl > log_current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(lvl, &(struct log_ctx){ .item = item_id }, fmt, ap);
	va_end(ap);
}
