/* impmeta.c — a postmortem's metadata, and what is not Markdown.
 *
 * Metadata comes from YAML front matter (title, date, severity, team,
 * platform, status, id, repository — flat "key: value" lines only, quotes
 * removed; anything else in it is ignored), then from "Key: value" lines
 * of paragraphs and list items and from two-column table rows outside the
 * action sections (meta_keys[]).  The first value found wins.
 *
 * Templated files: front matter and, in .erb files, ERB tags "<% ... %>"
 * are blanked (newlines kept, so messages keep their line numbers) before
 * md4c sees the text.  HTML comments and <details> blocks need nothing:
 * md4c reads HTML blocks as HTML (dropped by mdscan.c) and the Markdown
 * between them as Markdown.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "impparse.h"
#include "imptext.h"

enum meta {
	META_PLATFORM, META_TEAM, META_SEVERITY, META_DATE, META_REFERENCE, META_START,
	META_TITLE, META_STATUS, META_REPO,
};

static const struct { const char *key; enum meta m; } meta_keys[] = {
	{ "platform", META_PLATFORM }, { "team", META_TEAM }, { "owning team", META_TEAM },
	{ "teams", META_TEAM }, { "severity", META_SEVERITY }, { "sev", META_SEVERITY },
	{ "date", META_DATE }, { "published", META_DATE }, { "published date", META_DATE },
	{ "date published", META_DATE }, { "incident date", META_DATE },
	{ "reference", META_REFERENCE }, { "id", META_REFERENCE },
	{ "postmortem id", META_REFERENCE }, { "incident start", META_START },
	{ "started", META_START }, { "start time", META_START }, { "status", META_STATUS },
	{ "repository", META_REPO }, { "repo", META_REPO }, { "github", META_REPO },
};

/* Front matter only: these keys are not read from the body, where
 * "Title:" or "Status:" may mean something else. */
static const struct { const char *key; enum meta m; } fm_only[] = {
	{ "title", META_TITLE }, { "postmortem_id", META_REFERENCE },
	{ "incident_id", META_REFERENCE }, { "incident_start", META_START },
};

/* "owner/repo" from "owner/repo" or a GitHub URL, or NULL. */
static char *repo_of(const char *v)
{
	const char *p = v;
	const char *gh = strstr(p, "github.com/");
	if (gh)
		p = gh + 11;
	size_t o = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");
	if (o == 0 || p[o] != '/')
		return NULL;
	const char *r = p + o + 1;
	size_t rl = strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");
	if (rl == 0 || (r[rl] && r[rl] != '/' && r[rl] != ' '))
		return NULL;
	return xasprintf("%.*s/%.*s", (int)o, p, (int)rl, r);
}

static void set_once(char **dst, const char *v)
{
	if (!*dst)
		*dst = xstrdup(v);
}

static void meta_set(struct parse *p, enum meta m, const char *value)
{
	struct imp_postmortem *pm = p->pm;
	char *v = impt_collapse(value);
	char date[11], ts[32];
	int64_t ms;
	if (impt_placeholder(v))
		goto out;
	switch (m) {
	case META_PLATFORM:
		set_once(&pm->platform, v);
		break;
	case META_TEAM:
		set_once(&pm->team, v);
		break;
	case META_SEVERITY:
		set_once(&pm->severity, v);
		break;
	case META_DATE:
		if (!pm->published_date && impt_find_date(v, date))
			pm->published_date = xstrdup(date);
		break;
	case META_REFERENCE:
		set_once(&p->meta_reference, v);
		break;
	case META_START:
		if (!pm->incident_start && ts_parse(v, &ms) == 0) {
			ts_format(ms, ts, sizeof(ts));
			pm->incident_start = xstrdup(ts);
		}
		break;
	case META_TITLE:
		set_once(&pm->title, v);
		break;
	case META_STATUS:
		set_once(&pm->status, v);
		break;
	case META_REPO:
		if (!p->repo)
			p->repo = repo_of(v);
		break;
	default:
		abort();
	}
out:
	free(v);
}

static bool meta_kv(struct parse *p, const char *key, const char *value, bool front)
{
	char *k = impt_collapse(key);
	for (char *c = k; *c; c++)
		if (*c == '_' && !front)
			*c = ' ';
	bool found = false;
	for (size_t i = 0; i < ARRAY_SIZE(meta_keys) && !found; i++) {
		if (strcasecmp(k, meta_keys[i].key) == 0) {
			meta_set(p, meta_keys[i].m, value);
			found = true;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(fm_only) && !found && front; i++) {
		if (strcasecmp(k, fm_only[i].key) == 0) {
			meta_set(p, fm_only[i].m, value);
			found = true;
		}
	}
	free(k);
	return found;
}

/* "Key: value" lines of a paragraph or list item. */
static void meta_lines(struct parse *p, const char *text)
{
	char *copy = xstrdup(text), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon || colon - line > 24)
			continue;
		*colon = '\0';
		meta_kv(p, line, colon + 1, false);
	}
	free(copy);
}

void impm_block(struct parse *p, const struct mds_node *n)
{
	if (n->kind == MDS_PARA || n->kind == MDS_LIST_ITEM)
		meta_lines(p, n->t.text);
	else if (n->kind == MDS_TABLE_ROW && !n->header && n->n_cells == 2)
		meta_kv(p, n->cells[0].text, n->cells[1].text, false);
}

static void blank(char *b, char *e)
{
	for (; b < e; b++)
		if (*b != '\n')
			*b = ' ';
}

/* One front matter line "key: value" (value unquoted). */
static void front_line(struct parse *p, char *line)
{
	char *colon = strchr(line, ':');
	if (!colon || line[0] == ' ' || line[0] == '-' || line[0] == '#')
		return;
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ')
		v++;
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\r'))
		v[--n] = '\0';
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		v++;
	}
	if (v[0] == '[') {   /* a flow list: kept as written, "a, b" */
		v++;
		n = strlen(v);
		if (n > 0 && v[n - 1] == ']')
			v[n - 1] = '\0';
	}
	meta_kv(p, line, v, true);
}

static void front_matter(struct parse *p, char *text, size_t len)
{
	if (len < 4 || strncmp(text, "---", 3) != 0 || (text[3] != '\n' && text[3] != '\r'))
		return;
	char *line = memchr(text, '\n', len);
	char *end = text + len;
	while (line && line + 1 < end) {
		char *b = line + 1;
		char *e = memchr(b, '\n', (size_t)(end - b));
		if (!e)
			e = end;
		size_t l = (size_t)(e - b);
		if (l > 0 && b[l - 1] == '\r')
			l--;
		if ((l == 3 && (strncmp(b, "---", 3) == 0 || strncmp(b, "...", 3) == 0))) {
			/* closed: read it, then blank it */
			for (char *q = memchr(text, '\n', len); q && q + 1 < b;) {
				char *qe = memchr(q + 1, '\n', (size_t)(b - q - 1));
				char *ln = xstrndup(q + 1, (size_t)((qe ? qe : b) - q - 1));
				front_line(p, ln);
				free(ln);
				q = qe;
			}
			blank(text, e);
			return;
		}
		line = e < end ? e : NULL;
	}
}

static void erb_tags(char *text, size_t len)
{
	char *end = text + len;
	for (char *b = text; b + 1 < end; b++) {
		if (b[0] != '<' || b[1] != '%')
			continue;
		char *e = b + 2;
		while (e + 1 < end && !(e[0] == '%' && e[1] == '>'))
			e++;
		e = e + 1 < end ? e + 2 : end;
		blank(b, e);
		b = e - 1;
	}
}

void impm_prepare(struct parse *p, char *text, size_t len)
{
	size_t nl = strlen(p->name);
	if (nl > 4 && strcasecmp(p->name + nl - 4, ".erb") == 0)
		erb_tags(text, len);
	front_matter(p, text, len);
}
