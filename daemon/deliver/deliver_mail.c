/* deliver_mail.c — what a delivery carries, built without I/O on the
 * network: the mail (RFC 5322 message format, RFC 2045/2046 MIME, RFC
 * 2047 encoded words for a non-ASCII subject), the webhook's JSON
 * document, and the atomic file write of a directory destination.
 * See deliver.h. */
#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN 200
#define B64_LINE 76       /* RFC 2045 section 6.8: at most 76 characters a line */
#define WORD_RAW 39       /* bytes per RFC 2047 encoded word: 52 base64 + 12 = 64 <= 75,
                            and "Subject: " + a word fits in 78 */

bool deliver_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > NAME_MAX_LEN || s[0] == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 (RFC 4648 section 4) of p[0..n); with wrap, CRLF every 76
 * characters and at the end. */
static int b64_append(struct buf *out, const void *p, size_t n, bool wrap)
{
	const unsigned char *s = p;
	char q[4];
	size_t col = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = b64[(v >> 18) & 63];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		rc = buf_append(out, q, 4);
		col += 4;
		if (wrap && col >= B64_LINE && rc == 0) {
			rc = buf_append(out, "\r\n", 2);
			col = 0;
		}
	}
	if (wrap && col && rc == 0)
		rc = buf_append(out, "\r\n", 2);
	return rc;
}

/* "Subject: ..." as is when printable ASCII, else as RFC 2047 "B" encoded
 * words (never splitting a UTF-8 sequence), folded with CRLF SP. */
static int header_text(struct buf *out, const char *name, const char *v)
{
	bool ascii = true;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < ' ' || *p >= 0x7f)
			ascii = false;
	if (ascii && strlen(v) < 900)
		return buf_appendf(out, "%s: %s\r\n", name, v);
	int rc = buf_appendf(out, "%s:", name);
	size_t n = strlen(v), i = 0;
	while (i < n && rc == 0) {
		size_t k = n - i < WORD_RAW ? n - i : WORD_RAW;
		while (k > 1 && i + k < n && ((unsigned char)v[i + k] & 0xC0) == 0x80)
			k--; /* end before a continuation byte */
		char clean[WORD_RAW];
		for (size_t j = 0; j < k; j++) /* CR, LF and other controls: a space */
			clean[j] = (unsigned char)v[i + j] < ' ' ? ' ' : v[i + j];
		rc = buf_appendf(out, "%s=?UTF-8?B?", i ? "\r\n " : " ");
		if (rc == 0)
			rc = b64_append(out, clean, k, false);
		if (rc == 0)
			rc = buf_append(out, "?=", 2);
		i += k;
	}
	return rc ? rc : buf_append(out, "\r\n", 2);
}

/* RFC 5322 section 3.3 date-time in UTC: "Tue, 01 Dec 2026 21:48:08 +0000"
 * (English names, whatever the locale). */
static void rfc5322_date(int64_t ms, char *out, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
	         mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool msg_ok(const struct deliver_msg *m)
{
	if (!deliver_name_ok(m->id) || !m->subject || !m->subject[0] || !m->kind)
		return false;
	for (size_t i = 0; i < m->n_parts; i++)
		if (!deliver_name_ok(m->parts[i].filename) || !m->parts[i].content_type ||
		    strpbrk(m->parts[i].content_type, "\r\n") || (!m->parts[i].data && m->parts[i].len))
			return false;
	for (size_t i = 0; m->to && i < m->n_to; i++)
		if (!m->to[i] || !strchr(m->to[i], '@') || strpbrk(m->to[i], " <>,\r\n"))
			return false;
	return !m->to || m->n_to > 0;
}

static int mail_headers(const struct cfg_destination *d, const struct deliver_msg *m,
                        const char *boundary, struct buf *out)
{
	char date[64];
	const char *domain = strchr(d->from, '@') + 1; /* checked by cfg_deliver.c */
	rfc5322_date(m->date_ms ? m->date_ms : ts_now_ms(), date, sizeof(date));
	int rc = buf_appendf(out, "From: closeloop <%s>\r\nTo: ", d->from);
	const char *const *to = m->to ? m->to : (const char *const *)d->to;
	size_t n_to = m->to ? m->n_to : d->n_to;
	for (size_t i = 0; i < n_to && rc == 0; i++)
		rc = buf_appendf(out, "%s<%s>", i ? ",\r\n " : "", to[i]);
	if (rc == 0)
		rc = buf_appendf(out, "\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n", date, m->id, domain);
	if (rc == 0)
		rc = header_text(out, "Subject", m->subject);
	if (rc == 0)
		rc = buf_appendf(out, "MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
		                 "X-Closeloop-Kind: %s\r\n"
		                 "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n"
		                 "This is a MIME message.\r\n", m->kind, boundary);
	return rc;
}

int deliver_mail_build(const struct cfg_destination *d, const struct deliver_msg *m,
                       struct buf *out)
{
	if (!msg_ok(m) || !d->from || !strchr(d->from, '@') || (d->n_to == 0 && !m->to))
		return -EINVAL;
	/* every body is base64, which never holds "=_", so the boundary
	 * cannot occur in one (RFC 2046 section 5.1.1; at most 70 chars) */
	const char *boundary = "=_closeloop_part";
	const char *text = m->text ? m->text : "";
	int rc = mail_headers(d, m, boundary, out);
	if (rc == 0)
		rc = buf_appendf(out, "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		                 "Content-Transfer-Encoding: base64\r\n\r\n", boundary);
	if (rc == 0)
		rc = b64_append(out, text, strlen(text), true);
	for (size_t i = 0; i < m->n_parts && rc == 0; i++) {
		const struct deliver_part *p = &m->parts[i];
		rc = buf_appendf(out, "\r\n--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: "
		                 "base64\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n",
		                 boundary, p->content_type, p->filename);
		if (rc == 0)
			rc = b64_append(out, p->data, p->len, true);
	}
	if (rc == 0)
		rc = buf_appendf(out, "\r\n--%s--\r\n", boundary);
	return rc < 0 ? -E2BIG : 0;
}

char *deliver_webhook_json(const struct deliver_msg *m)
{
	json_object *o = json_object_new_object();
	json_object *att = json_object_new_array();
	json_object_object_add(o, "kind", json_object_new_string(m->kind));
	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "platform", m->platform ? json_object_new_string(m->platform) : NULL);
	json_object_object_add(o, "subject", json_object_new_string(m->subject));
	json_object_object_add(o, "text", json_object_new_string(m->text ? m->text : ""));
	for (size_t i = 0; i < m->n_parts; i++) {
		json_object *a = json_object_new_object();
		json_object_object_add(a, "filename", json_object_new_string(m->parts[i].filename));
		json_object_object_add(a, "content_type", json_object_new_string(m->parts[i].content_type));
		json_object_object_add(a, "content", json_object_new_string_len(m->parts[i].data,
		                                                                 (int)m->parts[i].len));
		json_object_array_add(att, a);
	}
	json_object_object_add(o, "attachments", att);
	json_object *blocks = m->blocks ? json_tokener_parse(m->blocks) : NULL;
	if (blocks && json_object_is_type(blocks, json_type_array))
		json_object_object_add(o, "blocks", blocks);
	else
		json_object_put(blocks);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

char *deliver_slack_json(const struct deliver_msg *m)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "text", json_object_new_string(m->text ? m->text : m->subject));
	json_object *blocks = m->blocks ? json_tokener_parse(m->blocks) : NULL;
	if (blocks && json_object_is_type(blocks, json_type_array))
		json_object_object_add(o, "blocks", blocks);
	else
		json_object_put(blocks);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

int deliver_file_write(const char *dir, const char *name, const char *data, size_t len,
                       char *err, size_t errlen)
{
	char *tmp = xasprintf("%s/.%s.XXXXXX", dir, name);
	char *dst = xasprintf("%s/%s", dir, name);
	const char *what = "create";
	int rc = 0, fd = mkostemp(tmp, O_CLOEXEC), dfd = -1;
	if (fd < 0)
		goto fail;
	what = "chmod";
	if (fchmod(fd, 0640) < 0)
		goto fail;
	what = "write";
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	what = "fsync";
	if (fsync(fd) < 0)
		goto fail;
	what = "close";
	rc = close(fd);
	fd = -1;
	if (rc < 0)
		goto fail;
	what = "rename";
	if (rename(tmp, dst) < 0)
		goto fail;
	/* the rename itself reaches the disk with the folder */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	rc = 0;
	goto out;
fail:
	rc = -errno;
	snprintf(err, errlen, "%s %s: %s", what, strcmp(what, "rename") == 0 ? dst : tmp,
	         strerror(errno));
	if (fd >= 0)
		close(fd);
	if (strcmp(what, "create") != 0)
		unlink(tmp);
out:
	free(tmp);
	free(dst);
	return rc;
}
