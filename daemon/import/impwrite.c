/* impwrite.c — write each action item's ticket link back into its
 * postmortem document (`closeloop import --write-back`), so the document
 * shows at a glance that everything was ticketed.
 *
 * The links written are the item's managed links (tickets reconcile
 * created or adopted, state linked) whose ticket the document does not
 * name yet.  The edit is minimal: " ([owner/repo#N](URL))" at the end of
 * the item's first line, or "[owner/repo#N](URL)" in an empty ticket cell
 * of a table row (else after the title cell); nothing else in the file
 * changes (line endings kept), so `git diff` shows only the added links.
 * A second run finds the links in the document and changes nothing.
 * Items read from an HTML table or the front matter are not edited (a
 * link appended there could break the markup); each is reported.  The
 * file is written only when it still has exactly the bytes that were
 * imported, through a temporary file in the same directory and rename(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "importer.h"
#include "imptext.h"

struct edit {
	int line;            /* 1-based */
	const struct imp_item *it;
	char *link;          /* "[owner/repo#N](URL)" */
};

static int edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;
	return x->line != y->line ? (x->line > y->line) - (x->line < y->line)
	                          : (x->it > y->it) - (x->it < y->it);
}

static bool item_names(const struct imp_item *it, const char *remote_key)
{
	for (size_t r = 0; r < it->n_refs; r++) {
		char *k = xasprintf("%s#%s", it->refs[r].target, it->refs[r].number);
		bool same = strcasecmp(k, remote_key) == 0;
		free(k);
		if (same)
			return true;
	}
	return false;
}

/* Byte offsets of the unescaped '|' of a table row line [b, e). */
static size_t pipes(const char *b, const char *e, const char **at, size_t max)
{
	size_t n = 0;
	bool code = false;
	for (const char *p = b; p < e && n < max; p++) {
		if (*p == '`')
			code = !code;
		else if (*p == '|' && !code && (p == b || p[-1] != '\\'))
			at[n++] = p;
	}
	return n;
}

/* Append the edited line [b, e) (without its line ending) to o. */
static void edit_line(struct buf *o, const char *b, const char *e, const struct edit *ed,
                      size_t n_ed)
{
	const struct imp_item *it = ed[0].it;
	struct buf links = { 0 };
	for (size_t i = 0; i < n_ed; i++)
		if (buf_appendf(&links, "%s%s", i ? " " : "", ed[i].link) < 0)
			abort();   /* a few links: far below the cap */
	const char *at[64];
	size_t np = it->title_col >= 0 ? pipes(b, e, at, ARRAY_SIZE(at)) : 0;
	const char *lead = b;
	while (lead < e && (*lead == ' ' || *lead == '\t'))
		lead++;
	size_t first = np > 0 && at[0] == lead ? 1 : 0;   /* a leading pipe opens cell 0 */
	const char *cb = NULL, *ce = NULL;
	if (np > 0 && it->ticket_col >= 0 && (size_t)it->ticket_col + first < np + 1) {
		size_t k = (size_t)it->ticket_col;
		cb = k + first == 0 ? b : at[k + first - 1] + 1;
		ce = k + first < np ? at[k + first] : e;
		char *cell = xstrndup(cb, (size_t)(ce - cb));
		if (!impt_placeholder(cell))
			cb = ce = NULL;
		free(cell);
	}
	int rc = 0;
	if (cb) {   /* fill the empty ticket cell */
		rc |= buf_append(o, b, (size_t)(cb - b));
		rc |= buf_appendf(o, " %s ", links.data);
		rc |= buf_append(o, ce, (size_t)(e - ce));
	} else if (np > 0 && it->title_col >= 0 && (size_t)it->title_col + first < np) {
		/* after the title cell's text */
		const char *end = at[it->title_col + first];
		const char *t = end;
		while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		rc |= buf_append(o, b, (size_t)(t - b));
		rc |= buf_appendf(o, " (%s)", links.data);
		rc |= buf_append(o, t, (size_t)(e - t));
	} else {
		const char *t = e;
		while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		rc |= buf_append(o, b, (size_t)(t - b));
		rc |= buf_appendf(o, " (%s)", links.data);
		rc |= buf_append(o, t, (size_t)(e - t));
	}
	if (rc)
		abort();   /* cap is 16 MiB, the document at most 8 MiB */
	buf_free(&links);
}

/* The edits: one per managed link whose ticket the item does not name. */
static int find_edits(PGconn *c, const struct imp_postmortem *pm, struct edit **out,
                      size_t *n, FILE *note, char *err, size_t errlen)
{
	const char *p[] = { pm->reference };
	PGresult *res = db_sync_exec(c,
		"SELECT a.import_key, l.remote_key, l.url FROM action_item a"
		" JOIN postmortem pm ON pm.id = a.postmortem_id"
		" JOIN external_link l ON l.action_item_id = a.id"
		" WHERE pm.reference = $1 AND l.kind = 'managed' AND l.state = 'linked'"
		" AND l.url IS NOT NULL AND l.remote_key IS NOT NULL"
		" AND a.removed_from_document_at IS NULL ORDER BY a.position, l.id",
		1, p, err, errlen);
	if (!res)
		return -EIO;
	*out = NULL;
	*n = 0;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *key = PQgetvalue(res, r, 0), *rk = PQgetvalue(res, r, 1);
		const struct imp_item *it = NULL;
		for (size_t i = 0; i < pm->n_items && !it; i++)
			if (strcmp(pm->items[i].import_key, key) == 0)
				it = &pm->items[i];
		if (!it || it->line <= 0 || item_names(it, rk))
			continue;
		if (it->markup) {   /* an HTML cell or a YAML value: an edit could break it */
			if (note)
				fprintf(note, "  not written  item %d (%s:%d): %s is in an HTML table or "
				        "the front matter; add the link there by hand\n", it->position,
				        pm->source_path, it->line, rk);
			continue;
		}
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = (struct edit){ it->line, it,
		                                xasprintf("[%s](%s)", rk, PQgetvalue(res, r, 2)) };
	}
	PQclear(res);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), edit_cmp);   /* qsort(NULL, 0) is undefined */
	return 0;
}

/* Write data to path atomically, keeping path's mode. */
static int replace_file(const char *path, const char *data, size_t len, char *err,
                        size_t errlen)
{
	struct stat sb;
	char *tmp = xasprintf("%s.closeloop-XXXXXX", path);
	int fd = -1, rc = 0;
	if (stat(path, &sb) < 0 || (fd = mkstemp(tmp)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (rc == 0 && (fchmod(fd, sb.st_mode & 07777) < 0 || fsync(fd) < 0))
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	fd = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
		unlink(tmp);
	}
out:
	free(tmp);
	return rc;
}

int imp_write_back(PGconn *c, const char *path, const char *text, size_t len,
                   const struct imp_postmortem *pm, FILE *out, char *err, size_t errlen)
{
	struct edit *ed = NULL;
	size_t n = 0, k = 0;
	struct buf o = { .max = 32u << 20 };
	char *now = NULL;
	size_t now_len = 0;
	int rc = find_edits(c, pm, &ed, &n, out, err, errlen);
	if (rc < 0 || n == 0)
		goto out;
	int line = 1;
	for (const char *b = text, *end = text + len; b < end; line++) {
		const char *nl = memchr(b, '\n', (size_t)(end - b));
		const char *e = nl ? nl : end;
		const char *ce = e > b && e[-1] == '\r' ? e - 1 : e;   /* keep CRLF */
		size_t first = k;
		while (k < n && ed[k].line == line)
			k++;
		if (k > first)
			edit_line(&o, b, ce, ed + first, k - first);
		else if (buf_append(&o, b, (size_t)(ce - b)) < 0)
			abort();
		if (buf_append(&o, ce, (size_t)((nl ? nl + 1 : end) - ce)) < 0)
			abort();
		b = nl ? nl + 1 : end;
	}
	if ((rc = imp_read_file(path, &now, &now_len, err, errlen)) < 0)
		goto out;
	if (now_len != len || memcmp(now, text, len) != 0) {
		rc = -EAGAIN;
		snprintf(err, errlen, "%s changed since it was read; not overwritten (import it "
		         "again to write the links)", path);
		goto out;
	}
	if ((rc = replace_file(path, o.data, o.len, err, errlen)) < 0)
		goto out;
	for (size_t i = 0; out && i < n; i++)
		fprintf(out, "  linked  item %d (%s:%d): %s\n", ed[i].it->position, path, ed[i].line,
		        ed[i].link);
	rc = (int)n;
out:
	for (size_t i = 0; i < n; i++)
		free(ed[i].link);
	free(ed);
	free(now);
	buf_free(&o);
	return rc;
}
