/* github_block.c — the managed block at the end of a GitHub issue body:
 * render it, read it back (see github_body.h for the format and how edits
 * made on GitHub are read). */
#include "github_body.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- body block ---- */

char *gh_body_render(const char *description, const char *due_date,
                     const struct conn_item_context *ctx, const char *token)
{
	struct buf b = { 0 };
	char *desc = str_trim(xstrdup(description ? description : ""));
	const char *tok = token ? token : (ctx ? ctx->token : NULL);
	int rc = 0;

	if (desc[0])
		rc |= buf_appendf(&b, "%s\n\n", desc);
	rc |= buf_appendf(&b, GH_BLOCK_BEGIN);
	if (tok)
		rc |= buf_appendf(&b, " token=%s", tok);
	if (ctx && ctx->item_id > 0)
		rc |= buf_appendf(&b, " item=%lld", ctx->item_id);
	rc |= buf_appendf(&b, " -->\n---\n");
	if (ctx && (ctx->postmortem_ref || ctx->postmortem_title)) {
		rc |= buf_appendf(&b, "**Postmortem:** %s", ctx->postmortem_ref ? ctx->postmortem_ref : "");
		if (ctx->postmortem_title)
			rc |= buf_appendf(&b, "%s%s", ctx->postmortem_ref ? " — " : "",
			                  ctx->postmortem_title);
		if (ctx->postmortem_url)
			rc |= buf_appendf(&b, " (%s)", ctx->postmortem_url);
		rc |= buf_appendf(&b, "\n");
	}
	rc |= buf_appendf(&b, "**Due date:** %s\n", due_date ? due_date : "none");
	rc |= buf_appendf(&b, "_Managed by closeloop: edit the due date here; "
	                      "the rest of this block is rewritten._\n" GH_BLOCK_END "\n");
	free(desc);
	if (rc)
		abort(); /* only -ENOSPC at 16 MiB: an issue body cannot be that large */
	return buf_steal(&b);
}

/* Case-insensitive strstr for ASCII. */
static const char *istrstr(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return hay;
	return NULL;
}

/* Value of key=VALUE inside the begin marker [p, end), end being "-->". */
static char *marker_attr(const char *p, const char *end, const char *key)
{
	size_t kl = strlen(key);
	for (const char *s = p; s + kl < end; s++) {
		if (s != p && !isspace((unsigned char)s[-1]))
			continue;
		if (strncmp(s, key, kl) != 0 || s[kl] != '=')
			continue;
		const char *v = s + kl + 1, *e = v;
		while (e < end && !isspace((unsigned char)*e))
			e++;
		return e > v ? xstrndup(v, (size_t)(e - v)) : NULL;
	}
	return NULL;
}

/* The due date in the block text [p, end) (see github_body.h): 1 when the
 * block says one, with *out the date or NULL for "none"; 0 when it does
 * not say (no due-date line, or a number that is not a calendar date such
 * as 2027-02-30): the ticket then says nothing about the due date. */
static int block_due(const char *p, const char *end, char **out)
{
	char *block = xstrndup(p, (size_t)(end - p));
	int said = 0;
	*out = NULL;
	const char *hit = istrstr(block, "due date");
	if (hit) {
		const char *q = hit + strlen("due date");
		const char *eol = strchr(q, '\n');
		if (!eol)
			eol = q + strlen(q);
		for (; q < eol; q++) {
			if (strncasecmp(q, "none", 4) == 0 && (q + 4 == eol || !isalnum((unsigned char)q[4]))) {
				said = 1;
				break;
			}
			if (isdigit((unsigned char)q[0])) {
				char cand[11] = { 0 };
				if (q + 10 <= eol) {
					memcpy(cand, q, 10);
					if (date_valid(cand) && (q + 10 == eol || !isdigit((unsigned char)q[10]))) {
						*out = xstrdup(cand);
						said = 1;
					}
				}
				break; /* the first number decides */
			}
		}
	}
	free(block);
	return said;
}

/* Join two trimmed parts of a description with a blank line. */
static char *join_desc(const char *before, const char *after)
{
	char *x = str_trim(xstrdup(before)), *y = str_trim(xstrdup(after));
	char *d = xasprintf("%s%s%s", x, (*x && *y) ? "\n\n" : "", y);
	free(x);
	free(y);
	if (!*d) {
		free(d);
		return NULL;
	}
	return d;
}

/* A line closeloop writes inside its block (gh_body_render). */
static bool block_line(const char *l, const char *eol)
{
	while (l < eol && isspace((unsigned char)*l))
		l++;
	size_t n = (size_t)(eol - l);
	char *line = xstrndup(l, n);
	bool yes = n == 0 || strncmp(line, "---", 3) == 0 || strncmp(line, "**Postmortem:**", 15) == 0 ||
	           istrstr(line, "due date") != NULL || strncmp(line, "_Managed by closeloop", 21) == 0;
	free(line);
	return yes;
}

/* Where a block whose end marker was deleted stops: after its own lines
 * (block_line), at the first other line or the next begin marker, so that
 * the text a person wrote after it stays theirs. */
static const char *block_stop_without_end(const char *p)
{
	const char *eol = strchr(p, '\n'); /* the rest of the begin marker's line */
	if (!eol)
		return p + strlen(p);
	p = eol + 1;
	while (*p && strncmp(p, GH_BLOCK_BEGIN, strlen(GH_BLOCK_BEGIN)) != 0) {
		eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		if (!block_line(p, eol))
			break;
		p = *eol ? eol + 1 : eol;
	}
	return p;
}

/* One block starting at begin (its marker): reads the marker's attributes
 * into out when it is the first, its due date into *due and *said; returns
 * where the text after it starts. */
static const char *parse_block(const char *begin, struct gh_body_parsed *out,
                               char **due, int *said)
{
	const char *attrs = begin + strlen(GH_BLOCK_BEGIN);
	const char *mend = strstr(attrs, "-->");
	const char *marker_end = mend ? mend : attrs + strlen(attrs);
	if (!out->has_block) {
		out->has_block = true;
		out->token = marker_attr(attrs, marker_end, "token");
		char *item = marker_attr(attrs, marker_end, "item");
		if (item) {
			char *e = NULL;
			errno = 0;
			long long v = strtoll(item, &e, 10);
			if (errno == 0 && e && *e == '\0' && v > 0)
				out->item_id = v;
			free(item);
		}
	} else {
		out->block_repair = true; /* a copy: one block is kept */
	}
	const char *bend = strstr(marker_end, GH_BLOCK_END);
	const char *next = strstr(marker_end, GH_BLOCK_BEGIN);
	const char *stop, *after;
	if (bend && (!next || bend < next)) {
		stop = bend;
		after = bend + strlen(GH_BLOCK_END);
	} else { /* the end marker was deleted */
		stop = after = block_stop_without_end(marker_end);
		out->block_repair = true;
	}
	char *d = NULL;
	if (block_due(marker_end, stop, &d)) { /* the last block that says wins */
		free(*due);
		*due = d;
		*said = 1;
	}
	return after;
}

void gh_body_parse(const char *body, struct gh_body_parsed *out)
{
	memset(out, 0, sizeof(*out));
	/* normalise CRLF (the web editor sends it) */
	char *text = xstrdup(body ? body : "");
	char *w = text;
	for (const char *r = text; *r; r++)
		if (!(r[0] == '\r' && r[1] == '\n'))
			*w++ = *r;
	*w = '\0';

	char *desc = NULL, *due = NULL;
	int said = 0;
	const char *p = text, *begin;
	/* the description is the text outside every block */
	while ((begin = strstr(p, GH_BLOCK_BEGIN)) != NULL) {
		char *part = xstrndup(p, (size_t)(begin - p));
		char *joined = join_desc(desc ? desc : "", part);
		free(desc);
		free(part);
		desc = joined;
		p = parse_block(begin, out, &due, &said);
	}
	out->description = join_desc(desc ? desc : "", p);
	free(desc);
	out->due_date = due;
	/* no block, or no block that says a date: the ticket says nothing
	 * about the due date (not a change); a block that does not say it is
	 * rewritten */
	out->due_unread = !said;
	if (out->has_block && !said)
		out->block_repair = true;
	free(text);
}

void gh_body_parsed_free(struct gh_body_parsed *p)
{
	free(p->description);
	free(p->due_date);
	free(p->token);
	memset(p, 0, sizeof(*p));
}

char *gh_description_normalise(const char *v)
{
	if (!v)
		return NULL;
	char *text = xstrdup(v);
	char *w = text;
	for (const char *r = text; *r; r++)
		if (!(r[0] == '\r' && r[1] == '\n'))
			*w++ = *r;
	*w = '\0';
	char *d = join_desc(text, "");
	free(text);
	return d;
}
