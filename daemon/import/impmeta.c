/* impmeta.c — a postmortem's metadata, and what is not Markdown.
 *
 * Metadata comes from YAML front matter (read by libyaml: title, date,
 * severity, team, platform, status, id, repository, problem as scalars or
 * lists of scalars; action-item lists; anything else in it is ignored), then from "Key: value" lines
 * of paragraphs and list items, from code blocks made only of such lines
 * (meta_code_block) and from two-column table rows outside the action
 * sections (meta_keys[]).  The first value found wins.
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

#include <yaml.h>

#include "impparse.h"
#include "imptext.h"
#include "log.h"

enum meta {
	META_PLATFORM, META_TEAM, META_SEVERITY, META_DATE, META_REFERENCE, META_START,
	META_TITLE, META_STATUS, META_REPO, META_PROBLEM,
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
	{ "problem", META_PROBLEM }, { "problem record", META_PROBLEM },
	{ "servicenow problem", META_PROBLEM }, { "problem number", META_PROBLEM },
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

/* A ServiceNow problem's number ("PRB0040001": capitals, then at least 4
 * digits) or sys_id (32 lower-case hex digits): what sql/028 accepts in
 * postmortem.problem_ref.  Anything else ("Problem: the disk filled up")
 * is prose, not a reference. */
static bool problem_ref_form(const char *v)
{
	size_t n = strlen(v), caps = 0, digits = 0, hex = 0;
	while (caps < n && isupper((unsigned char)v[caps]))
		caps++;
	while (caps + digits < n && isdigit((unsigned char)v[caps + digits]))
		digits++;
	if (caps >= 1 && caps <= 10 && digits >= 4 && digits <= 12 && caps + digits == n)
		return true;
	while (hex < n && (isdigit((unsigned char)v[hex]) || (v[hex] >= 'a' && v[hex] <= 'f')))
		hex++;
	return n == 32 && hex == 32;
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
	case META_PROBLEM:
		if (problem_ref_form(v))
			set_once(&pm->problem_ref, v);
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

static bool known_key(const char *key)
{
	char *k = impt_collapse(key);
	for (char *c = k; *c; c++)
		if (*c == '_')
			*c = ' ';
	bool found = false;
	for (size_t i = 0; i < ARRAY_SIZE(meta_keys) && !found; i++)
		found = strcasecmp(k, meta_keys[i].key) == 0;
	found = found || strcasecmp(k, "incident id") == 0 || strcasecmp(k, "duration") == 0;
	free(k);
	return found;
}

/* A code block is a metadata block (the "Incident Summary" of many
 * templates: "Incident ID: INC-7", "Date: 2025-02-27", "Severity: P1" in
 * a fence) when every non-blank line is "Key: value" and at least two of
 * the keys are metadata keys; any other code block (a diagram, a config
 * file whose "team:" means something else) is not read. */
static bool meta_code_block(const char *text)
{
	int lines = 0, known = 0;
	bool all = true;
	char *copy = xstrdup(text), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line && all;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[strspn(line, " \t\r")] == '\0')
			continue;
		char *colon = strchr(line, ':');
		all = colon && colon > line && colon - line <= 24;
		if (all) {
			*colon = '\0';
			lines++;
			known += known_key(line);
		}
	}
	free(copy);
	return all && lines >= 2 && known >= 2;
}

void impm_block(struct parse *p, const struct mds_node *n)
{
	if (n->kind == MDS_PARA || n->kind == MDS_LIST_ITEM ||
	    (n->kind == MDS_CODE && meta_code_block(n->t.text)))
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

/* ---- action items in front matter ----
 *   action_items:                 follow_ups:
 *     - title: Fix X                - action: Fix Y
 *       owner: priya                  assignee: "@bilal"
 *       due: 2025-04-01               due_date: 2025-09-30
 *       status: done                  state: completed
 *     - Plain text item               ticket: https://github.com/o/r/issues/3
 * A list under a key that names action items (impc_classify) becomes a
 * table, its keys the columns (so they are recognised as table headers
 * are), placed before the body under an "Action items" heading. */

#define FM_MAX_KEYS 12
#define FM_TABLE (1 << 30)   /* table ordinals of front-matter lists */

struct fm_list {
	int key_line;                /* line of "action_items:", 0 outside one */
	int dash_indent;
	char *keys[FM_MAX_KEYS];     /* column names, first-seen order */
	size_t n_keys;
	struct fm_row { char *v[FM_MAX_KEYS]; int line; } *rows;
	size_t n_rows, rows_cap;
	int tables;                  /* lists emitted */
};

static bool fm_action_key(const char *key)
{
	char *k = xstrdup(key);
	struct impc_info ci;
	for (char *c = k; *c; c++)
		if (*c == '_')
			*c = ' ';
	impc_classify(k, &ci);
	bool yes = ci.cls == IMPC_ACTIONS;
	for (char *c = k; *c && !yes; c++)
		if (*c == ' ')
			*c = '-';   /* "follow_ups" reads as "Follow-ups" */
	if (!yes) {
		impc_classify(k, &ci);
		yes = ci.cls == IMPC_ACTIONS;
	}
	free(k);
	return yes;
}

static void fm_set(struct fm_list *fl, const char *key, const char *value)
{
	size_t k = 0;
	while (k < fl->n_keys && strcasecmp(fl->keys[k], key) != 0)
		k++;
	if (k == fl->n_keys) {
		if (k == FM_MAX_KEYS)
			return;
		fl->keys[fl->n_keys++] = xstrdup(key);
	}
	struct fm_row *r = &fl->rows[fl->n_rows - 1];
	free(r->v[k]);
	r->v[k] = xstrdup(value);
}

static struct mds_node *fm_node(struct parse *p, enum mds_kind kind, int line)
{
	if (p->n_fm_nodes == p->fm_nodes_cap) {
		p->fm_nodes_cap = p->fm_nodes_cap ? 2 * p->fm_nodes_cap : 16;
		p->fm_nodes = xrealloc(p->fm_nodes, p->fm_nodes_cap * sizeof(*p->fm_nodes));
	}
	struct mds_node *n = &p->fm_nodes[p->n_fm_nodes++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = line;
	n->markup = true;
	return n;
}

static void fm_cells(struct mds_node *n, char *const *v, size_t nv)
{
	n->cells = xcalloc(nv, sizeof(*n->cells));
	n->n_cells = nv;
	for (size_t i = 0; i < nv; i++) {
		struct mds_text *c = &n->cells[i];
		c->text = xstrdup(v[i] ? v[i] : "");
		if (str_istarts(c->text, "http://") || str_istarts(c->text, "https://")) {
			c->hrefs = xcalloc(1, sizeof(*c->hrefs));
			c->hrefs[0] = xstrdup(c->text);
			c->n_hrefs = 1;
		}
	}
}

/* The list is complete: its table nodes, then reset. */
static void fm_list_end(struct parse *p, struct fm_list *fl)
{
	if (fl->n_rows > 0) {
		struct mds_node *h = fm_node(p, MDS_HEADING, fl->key_line);
		h->level = 2;
		h->t.text = xstrdup("Action items");
		struct mds_node *hr = fm_node(p, MDS_TABLE_ROW, fl->key_line);
		hr->table = FM_TABLE + fl->tables;
		hr->header = true;
		fm_cells(hr, fl->keys, fl->n_keys);
		for (size_t i = 0; i < fl->n_rows; i++) {
			struct mds_node *r = fm_node(p, MDS_TABLE_ROW, fl->rows[i].line);
			r->table = FM_TABLE + fl->tables;
			fm_cells(r, fl->rows[i].v, fl->n_keys);
		}
		fl->tables++;
	}
	for (size_t i = 0; i < fl->n_rows; i++)
		for (size_t k = 0; k < FM_MAX_KEYS; k++)
			free(fl->rows[i].v[k]);
	free(fl->rows);
	for (size_t k = 0; k < fl->n_keys; k++)
		free(fl->keys[k]);
	int tables = fl->tables;
	memset(fl, 0, sizeof(*fl));
	fl->tables = tables;
}

void impm_free_nodes(struct mds_node *nodes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(nodes[i].t.text);
		for (size_t c = 0; c < nodes[i].n_cells; c++) {
			free(nodes[i].cells[c].text);
			for (size_t h = 0; h < nodes[i].cells[c].n_hrefs; h++)
				free(nodes[i].cells[c].hrefs[h]);
			free(nodes[i].cells[c].hrefs);
		}
		free(nodes[i].cells);
	}
	free(nodes);
}

/* ---- the front matter, read by libyaml ----
 * The document between the opening "---" and the closing "---" or "..."
 * is loaded with yaml_parser_load (libyaml's document API: nodes with
 * their start marks, scalars as written, no type conversion).  Of its
 * root mapping: a scalar value is a metadata key (meta_kv), a flow or
 * block list of scalars is that key's value as "a, b", and a list under
 * a key that names action items becomes rows (fm_list): a scalar item is
 * a title, a mapping item's scalar (or list-of-scalars) values are its
 * columns.  Anything else (nested mappings, aliases) is ignored. */

typedef struct { yaml_document_t *doc; } fm_yaml;

static yaml_node_t *fm_get(const fm_yaml *y, int id)
{
	return yaml_document_get_node(y->doc, id);
}

/* A scalar as a NUL-terminated string, a list of scalars as "a, b"
 * (allocated), else NULL. */
static char *fm_text(const fm_yaml *y, const yaml_node_t *n)
{
	if (n && n->type == YAML_SCALAR_NODE)
		return xstrndup((const char *)n->data.scalar.value, n->data.scalar.length);
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return NULL;
	struct buf b = { 0 };
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
		char *v = fm_text(y, fm_get(y, *i));
		if (v && *v)
			imp_add_part(&b, ", ", v);
		free(v);
	}
	return b.len ? buf_steal(&b) : (buf_free(&b), NULL);
}

/* One item of an action list: a new row (its line from libyaml's 0-based
 * mark, the front matter starting at line first). */
static void fm_row(struct fm_list *fl, const fm_yaml *y, const yaml_node_t *n,
                   int first)
{
	if (fl->n_rows == fl->rows_cap) {
		fl->rows_cap = fl->rows_cap ? 2 * fl->rows_cap : 8;
		fl->rows = xrealloc(fl->rows, fl->rows_cap * sizeof(*fl->rows));
	}
	memset(&fl->rows[fl->n_rows], 0, sizeof(*fl->rows));
	fl->rows[fl->n_rows++].line = first + (int)n->start_mark.line;
	if (n->type == YAML_SCALAR_NODE) {
		char *v = fm_text(y, n);
		fm_set(fl, "title", v);   /* "- Plain text item" */
		free(v);
		return;
	}
	if (n->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		char *k = fm_text(y, fm_get(y, pr->key)), *v = fm_text(y, fm_get(y, pr->value));
		if (k && v) {
			for (char *c = k; *c; c++)
				if (*c == '_')
					*c = ' ';   /* "due_date" is the column "due date" */
			fm_set(fl, k, v);
		}
		free(k);
		free(v);
	}
}

/* Read the front matter's YAML (fm, len bytes; its first line is line
 * first of the file).  Not YAML: a warning naming the file and line, and
 * no metadata from it (as a static site generator would refuse it). */
static void fm_load(struct parse *p, const char *fm, size_t len, int first)
{
	yaml_parser_t yp;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&yp))
		return;
	yaml_parser_set_input_string(&yp, (const unsigned char *)fm, len);
	if (!yaml_parser_load(&yp, &doc)) {
		log_warn("import: %s:%d: the front matter is not YAML (%s); its metadata and "
		         "action items are not read", p->name, first + (int)yp.problem_mark.line,
		         yp.problem ? yp.problem : "libyaml error");
		yaml_parser_delete(&yp);
		return;
	}
	fm_yaml y = { &doc };
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	struct fm_list fl = { 0 };
	for (yaml_node_pair_t *pr = root && root->type == YAML_MAPPING_NODE
	                            ? root->data.mapping.pairs.start : NULL;
	     pr && pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = fm_get(&y, pr->key), *vn = fm_get(&y, pr->value);
		char *k = kn && kn->type == YAML_SCALAR_NODE ? fm_text(&y, kn) : NULL;
		if (!k)
			continue;
		if (vn && vn->type == YAML_SEQUENCE_NODE && fm_action_key(k)) {
			fl.key_line = first + (int)kn->start_mark.line;
			for (yaml_node_item_t *i = vn->data.sequence.items.start;
			     i < vn->data.sequence.items.top; i++) {
				yaml_node_t *in = fm_get(&y, *i);
				if (in)
					fm_row(&fl, &y, in, first);
			}
			fm_list_end(p, &fl);
		} else {
			char *v = fm_text(&y, vn);
			if (v)
				meta_kv(p, k, v, true);
			free(v);
		}
		free(k);
	}
	fm_list_end(p, &fl);
	yaml_document_delete(&doc);
	yaml_parser_delete(&yp);
}

/* Front matter: "---" on the first line, up to a line "---" or "...";
 * read (fm_load), then blanked so md4c does not see it. */
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
		if (l == 3 && (strncmp(b, "---", 3) == 0 || strncmp(b, "...", 3) == 0)) {
			char *body = memchr(text, '\n', len) + 1;
			fm_load(p, body, (size_t)(b - body), 2);
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

/* "{Incident Title}", "{draft|final}": letters, blanks and "|" in braces
 * (not "{{"), at most 80 bytes; the length of the group, else 0. */
static size_t brace_group(const char *s, const char *end)
{
	if (s + 2 >= end || s[0] != '{' || s[1] == '{' || s[1] == '%')
		return 0;
	const char *e = s + 1;
	while (e < end && e - s < 80 && (isalpha((unsigned char)*e) || *e == ' ' || *e == '|' ||
	                                  *e == '-' || *e == '/' || *e == ','))
		e++;
	return e < end && *e == '}' && e - s > 3 ? (size_t)(e + 1 - s) : 0;
}

int impm_template_line(const char *text, size_t len, const char **what)
{
	static const char *const marks[] = { "YYYY-MM-DD", "yyyy-mm-dd", "20xx-", "HH:MM",
	                                     "HH:mm", "[Name]", "[name]", "[Date]", "[date]",
	                                     "[Owner]", "XXX", "{brace}" };
	bool seen[ARRAY_SIZE(marks)] = { false };
	int kinds = 0, first = 0, line = 1;
	const char *end = text + len;
	*what = NULL;
	for (const char *s = text; s < end; s++) {
		if (*s == '\n') {
			line++;
			continue;
		}
		for (size_t k = 0; k < ARRAY_SIZE(marks); k++) {
			size_t l = strlen(marks[k]);
			bool hit = k + 1 == ARRAY_SIZE(marks)
			           ? brace_group(s, end) > 0
			           : (size_t)(end - s) >= l && memcmp(s, marks[k], l) == 0 &&
			             (s == text || !isalnum((unsigned char)s[-1]));
			if (hit && !seen[k]) {
				seen[k] = true;
				if (kinds++ == 0) {
					first = line;
					*what = marks[k];
				}
			}
		}
	}
	return kinds >= 2 ? first : 0;
}

bool impm_placeholder_title(const char *title)
{
	size_t n = strlen(title);
	static const char *const fill[] = { "{{", "{%", "[Name]", "[name]", "[Date]", "[date]",
	                                    "[Owner]", "[owner]" };
	for (size_t i = 0; i < ARRAY_SIZE(fill); i++)
		if (strstr(title, fill[i]))
			return true;
	if (n >= 3 && ((title[0] == '[' && title[n - 1] == ']' && !strchr(title + 1, '[')) ||
	               (title[0] == '{' && title[n - 1] == '}') ||
	               (title[0] == '<' && title[n - 1] == '>')))
		return true;
	const char *p = title;
	if (!str_istarts(p, "action item") && !str_istarts(p, "item"))
		return false;
	p += str_istarts(p, "item") ? 4 : 11;
	while (*p == ' ' || isdigit((unsigned char)*p))
		p++;
	return *p == '\0';
}

void impm_prepare(struct parse *p, char *text, size_t len)
{
	size_t nl = strlen(p->name);
	if (nl > 4 && strcasecmp(p->name + nl - 4, ".erb") == 0)
		erb_tags(text, len);
	front_matter(p, text, len);
}
