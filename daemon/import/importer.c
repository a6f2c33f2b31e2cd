/* importer.c — read a postmortem document into a struct imp_postmortem.
 *
 * The steps, each in its own file:
 *   impmeta.c   front matter and ERB tags are read and blanked;
 *   mdscan.c    md4c flattens the Markdown into headings, paragraphs,
 *               list items and table rows;
 *   impwalk.c   finds the action item candidates (sections by meaning,
 *               bold labels, inline labels, action tables; impclass.c);
 *   impitem.c   decides each item's fields (impfield.c for inline owner,
 *               due date, estimate; imptext.c for markers and references);
 * then this file names the postmortem, resolves relative due dates
 * against its date and gives every item its import key.  Storing lives in
 * impstore.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "importer.h"
#include "impparse.h"
#include "log.h"
#include "imptext.h"
#include "mdscan.h"

#define IMP_MAX_FILE (8u * 1024 * 1024)   /* a postmortem is a few KiB */

static const char *base_name(const char *name)
{
	const char *s = strrchr(name, '/');
	return s ? s + 1 : name;
}

/* "PM2021-004" from "PM2021-004 - ADFS outage.md" (DFDS), else NULL. */
static char *reference_from_name(const char *base)
{
	size_t n = 2;
	if (strncmp(base, "PM", 2) != 0 || strspn(base + 2, "0123456789") != 4)
		return NULL;
	n += 4;
	if (base[n] != '-')
		return NULL;
	size_t d = strspn(base + n + 1, "0123456789");
	if (d == 0 || d > 6)
		return NULL;
	return xstrndup(base, n + 1 + d);
}

/* "PM2021-004" from a title "PM2021-004: ADFS outage": a first word of
 * two or more capital letters followed by digits and dashes, ending in a
 * digit ("INC-2024-013", "PIR-42"); else NULL. */
static char *reference_from_title(const char *title)
{
	if (!title)
		return NULL;
	size_t u = 0;
	while (isupper((unsigned char)title[u]))
		u++;
	size_t n = u + strspn(title + u, "0123456789-");
	while (n > u && title[n - 1] == '-')
		n--;
	if (u < 2 || n == u || isalnum((unsigned char)title[n]) ||
	    strspn(title + u, "0123456789-") < 2)
		return NULL;
	return xstrndup(title, n);
}

static char *strip_ext(const char *base)
{
	static const char *const exts[] = { ".md.erb", ".markdown.erb", ".md", ".markdown",
	                                    ".mdx", ".erb" };
	size_t n = strlen(base);
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		size_t l = strlen(exts[i]);
		if (n > l && strcasecmp(base + n - l, exts[i]) == 0)
			return xstrndup(base, n - l);
	}
	return xstrdup(base);
}

/* "Due: 2 weeks" -> the postmortem's date + 14 days, and "by Mar 3" -> the
 * first 3 March on or after the postmortem's date, when it has one. */
static void resolve_relative_due(struct imp_postmortem *pm)
{
	int64_t base;
	char ts[64];
	if (!pm->published_date || !date_valid(pm->published_date))
		return;
	snprintf(ts, sizeof(ts), "%sT00:00:00Z", pm->published_date);
	if (ts_parse(ts, &base) < 0)
		return;
	for (size_t i = 0; i < pm->n_items; i++) {
		struct imp_item *it = &pm->items[i];
		char d[11];
		if (it->due_md[0] && !it->fields.v[ITEM_F_DUE_DATE] &&
		    impt_resolve_monthday(pm->published_date, it->due_md, d))
			item_fields_set(&it->fields, ITEM_F_DUE_DATE, d);
		if (it->due_days > 0 && !it->fields.v[ITEM_F_DUE_DATE]) {
			ts_format(base + (int64_t)it->due_days * 86400000, ts, sizeof(ts));
			ts[10] = '\0';   /* "YYYY-MM-DD" of an RFC 3339 UTC time */
			if (date_valid(ts))
				item_fields_set(&it->fields, ITEM_F_DUE_DATE, ts);
		}
	}
}

/* Import keys: "id:AI-1" for an item with an explicit id, else the
 * normalised title's FNV-1a hash; "-N" for its N-th repetition.  Repetitions are counted in an open-addressing table keyed
 * by the 64-bit hash and the text (linear probing, load <= 1/2), so a
 * document of n items costs O(n), not O(n^2) string comparisons. */
static void assign_keys(struct imp_postmortem *pm)
{
	size_t cap = 16;
	while (cap < 2 * pm->n_items)
		cap *= 2;
	struct slot { char *text; uint64_t h; int seen; } *tab = xcalloc(cap, sizeof(*tab));
	for (size_t i = 0; i < pm->n_items; i++) {
		struct imp_item *it = &pm->items[i];
		char *text = it->explicit_id ? xasprintf("id:%s", it->explicit_id)
		                             : impt_key_text(it->fields.v[ITEM_F_TITLE]);
		char hex[17];
		impt_fnv1a_hex(text, hex);
		uint64_t h = strtoull(hex, NULL, 16);
		size_t at = (size_t)h & (cap - 1);
		while (tab[at].text && (tab[at].h != h || strcmp(tab[at].text, text) != 0))
			at = (at + 1) & (cap - 1);
		if (!tab[at].text) {
			tab[at].text = text;
			tab[at].h = h;
		} else {
			free(text);
		}
		int seen = ++tab[at].seen;
		const char *k = it->explicit_id ? tab[at].text : hex;
		it->import_key = seen > 1 ? xasprintf("%s-%d", k, seen) : xstrdup(k);
		it->position = (int)i + 1;
	}
	for (size_t i = 0; i < cap; i++)
		free(tab[i].text);
	free(tab);
}

int imp_parse_text(const char *name, const char *text, size_t len,
                   struct imp_postmortem **out, char *err, size_t errlen)
{
	int rc = -EINVAL;
	struct mds_doc *doc = NULL;
	struct parse p = { .name = name, .table = -1 };
	char *copy = NULL;
	const char *base = base_name(name);
	size_t blank = 0;
	long bad;

	while (blank < len && strchr(" \t\r\n\f\v", text[blank]))
		blank++;
	if (blank == len) {
		snprintf(err, errlen, "%s: empty document", name);
		goto out;
	}
	const char *nul = memchr(text, '\0', len);
	if (nul) {
		snprintf(err, errlen, "%s: a binary file (NUL byte at offset %ld), not a Markdown "
		         "postmortem", name, (long)(nul - text));
		goto out;
	}
	if ((bad = impt_utf8_invalid_at(text, len)) >= 0) {
		snprintf(err, errlen, "%s: not valid UTF-8 (byte %ld); convert it to UTF-8 first",
		         name, bad);
		goto out;
	}
	p.pm = xcalloc(1, sizeof(*p.pm));
	copy = xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	impm_prepare(&p, copy, len);
	if ((rc = mds_scan(copy, len, &doc)) < 0) {
		snprintf(err, errlen, "%s: Markdown parser failed (%s)", name, strerror(-rc));
		goto out;
	}
	mds_prepend(doc, p.fm_nodes, p.n_fm_nodes);
	p.fm_nodes = NULL;
	p.n_fm_nodes = 0;
	imp_walk(&p, doc);
	rc = -EINVAL;
	const char *ph;
	int tl;
	if (p.pm->n_items == 0 && (tl = impm_template_line(text, len, &ph)) > 0) {
		/* by content, not by name: "templated-review.md.erb" may be a
		 * postmortem a site generator renders */
		snprintf(err, errlen, "%s:%d: a template, not a postmortem (placeholders such as "
		         "\"%s\" and no action item); fill it in, then import it", name, tl,
		         strcmp(ph, "{brace}") ? ph : "{...}");
		goto out;
	}
	if (p.n_sections == 0) {
		snprintf(err, errlen, "%s: no action items found under any action-items heading "
		         "(Action items, Follow-ups, Corrective actions, Remediation, Next steps ...)",
		         name);
		goto out;
	}
	if (p.pm->n_items == 0) {
		snprintf(err, errlen, "%s: the action-items section at line %d lists no action items",
		         name, p.first_empty_sec_line);
		goto out;
	}
	/* identity: the document's own id (front matter, "ID:" line, file
	 * name, title), else the file name without extension */
	p.pm->reference = p.meta_reference ? xstrdup(p.meta_reference) : NULL;
	if (!p.pm->reference)
		p.pm->reference = reference_from_name(base);
	if (!p.pm->reference)
		p.pm->reference = reference_from_title(p.pm->title);
	if (!p.pm->reference) {
		p.pm->reference = strip_ext(base);
		p.pm->reference_from_path = true;
	}
	if (!p.pm->title)
		p.pm->title = strip_ext(base);
	p.pm->source_path = xstrdup(name);
	p.pm->repository = p.repo ? xstrdup(p.repo) : NULL;
	resolve_relative_due(p.pm);
	assign_keys(p.pm);
	for (size_t i = 0; i < p.pm->n_items; i++) {
		const char *why = NULL;
		if (item_fields_validate(&p.pm->items[i].fields, &why) < 0) {
			snprintf(err, errlen, "%s:%d: %s", name, p.pm->items[i].line, why);
			goto out;
		}
	}
	*out = p.pm;
	p.pm = NULL;
	rc = 0;
out:
	imp_postmortem_free(p.pm);
	for (size_t i = 0; i < p.n_raws; i++)
		raw_free(&p.raws[i]);
	free(p.raws);
	free(p.cols);
	free(p.col_heads);
	free(p.meta_reference);
	free(p.repo);
	impm_free_nodes(p.fm_nodes, p.n_fm_nodes);
	free(copy);
	mds_doc_free(doc);
	return rc;
}

int imp_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	int rc = 0;
	struct buf b = { .max = IMP_MAX_FILE + 1 };
	char chunk[16384];
	size_t n;
	*text = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			rc = -EFBIG;
			snprintf(err, errlen, "%s: larger than %u bytes; not a postmortem document",
			         path, IMP_MAX_FILE);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = errno == EISDIR ? -EISDIR : -EIO;
		snprintf(err, errlen, "%s: %s", path, rc == -EISDIR
		         ? "a directory; give it to `closeloop import` as a directory to walk"
		         : "read error");
		goto out;
	}
	*len = b.len;
	*text = b.data ? buf_steal(&b) : xstrdup("");
out:
	if (f)
		fclose(f);
	buf_free(&b);
	return rc;
}

int imp_parse_file(const char *path, struct imp_postmortem **out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc = imp_read_file(path, &text, &len, err, errlen);
	if (rc == 0)
		rc = imp_parse_text(path, text, len, out, err, errlen);
	free(text);
	return rc;
}

int imp_resolve_bare(struct imp_postmortem *pm, const char *repo)
{
	int added = 0;
	for (size_t i = 0; i < pm->n_items; i++) {
		struct imp_item *it = &pm->items[i];
		for (size_t b = 0; b < it->n_bare; b++) {
			char *s = xasprintf("%s#%s", repo, it->bare[b]);
			size_t before = it->n_refs;
			impt_refs_from_text(s, &it->refs, &it->n_refs);
			added += (int)(it->n_refs - before);
			free(s);
			free(it->bare[b]);
		}
		free(it->bare);
		it->bare = NULL;
		it->n_bare = 0;
	}
	return added;
}

void imp_postmortem_free(struct imp_postmortem *pm)
{
	if (!pm)
		return;
	for (size_t i = 0; i < pm->n_items; i++) {
		struct imp_item *it = &pm->items[i];
		free(it->import_key);
		item_fields_free(&it->fields);
		for (size_t r = 0; r < it->n_refs; r++)
			impt_ref_free(&it->refs[r]);
		free(it->refs);
		for (size_t r = 0; r < it->n_xrefs; r++)
			impt_ref_free(&it->xrefs[r]);
		free(it->xrefs);
		for (size_t b = 0; b < it->n_bare; b++)
			free(it->bare[b]);
		free(it->bare);
		free(it->horizon);
		free(it->estimate);
		free(it->explicit_id);
	}
	free(pm->items);
	free(pm->reference);
	free(pm->title);
	free(pm->source_path);
	free(pm->document_url);
	free(pm->platform);
	free(pm->team);
	free(pm->severity);
	free(pm->problem_ref);
	free(pm->published_date);
	free(pm->incident_start);
	free(pm->status);
	free(pm->repository);
	free(pm);
}
