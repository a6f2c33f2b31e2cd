/* importer.c — find the action items of a postmortem document.
 *
 * mdscan.c flattens the Markdown (md4c) into headings, paragraphs, list
 * items and table rows; this file walks them:
 *   - an action-items section starts at a heading whose text starts with
 *     one of section_names[] (case-insensitive, after any "3." numbering)
 *     and ends at the next heading of the same or a higher level;
 *   - inside it, rows of a table whose header names a title column are
 *     action items; when the section has such a table, its lists are
 *     explanation (etcd's postmortem lists the meaning of its Type and
 *     Priority columns above the table) and are not items; otherwise
 *     every top-level list item is an action item and nested items are
 *     appended to their parent's description;
 *   - outside it, "Key: value" lines, list items and two-column table rows
 *     give the postmortem's metadata (meta_keys[]).
 * The string rules (status markers, mappings, references) live in
 * imptext.c; storing lives in impstore.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "importer.h"
#include "log.h"
#include "imptext.h"
#include "mdscan.h"

#define IMP_MAX_FILE (8u * 1024 * 1024)   /* a postmortem is a few KiB */
#define IMP_TITLE_MAX 200                 /* longer: first sentence */

static const char *const section_names[] = {
	"action item", "follow-up", "follow up", "followup", "corrective action",
	"remediation", "review action", "next step", "todo", "to-do", "to do",
};

enum col {
	COL_OTHER = 0,   /* unrecognised: kept as "Header: value" in the description */
	COL_TITLE,
	COL_DESC,
	COL_TYPE,
	COL_OWNER,
	COL_PRIORITY,
	COL_TICKET,
	COL_DUE,
	COL_STATUS,
	COL__COUNT
};

static const struct { const char *name; enum col col; } col_names[] = {
	{ "action item", COL_TITLE }, { "action items", COL_TITLE }, { "action", COL_TITLE },
	{ "actions", COL_TITLE }, { "item", COL_TITLE }, { "task", COL_TITLE },
	{ "title", COL_TITLE }, { "follow-up", COL_TITLE }, { "what", COL_TITLE },
	{ "description", COL_DESC }, { "details", COL_DESC }, { "notes", COL_DESC },
	{ "type", COL_TYPE }, { "kind", COL_TYPE }, { "category", COL_TYPE },
	{ "owner", COL_OWNER }, { "owners", COL_OWNER }, { "who", COL_OWNER },
	{ "assignee", COL_OWNER }, { "assigned to", COL_OWNER }, { "responsible", COL_OWNER },
	{ "priority", COL_PRIORITY }, { "prio", COL_PRIORITY },
	{ "bug", COL_TICKET }, { "ticket", COL_TICKET }, { "issue", COL_TICKET },
	{ "link", COL_TICKET }, { "tracking", COL_TICKET }, { "tracker", COL_TICKET },
	{ "pr", COL_TICKET },
	{ "due", COL_DUE }, { "due date", COL_DUE }, { "deadline", COL_DUE },
	{ "target date", COL_DUE }, { "eta", COL_DUE },
	{ "status", COL_STATUS }, { "state", COL_STATUS }, { "done?", COL_STATUS },
};

/* One action item before its fields are decided. */
struct raw {
	const struct mds_text *text;   /* the title source (list item / title cell) */
	char task;                     /* 0, ' ', 'x' */
	const char *cols[COL__COUNT];  /* cell texts of recognised columns */
	struct buf extra;              /* "Header: value" lines of other columns */
	struct buf nested;             /* "- child" lines */
	struct imp_ticket_ref *refs;
	size_t n_refs;
	int line;
	bool from_table;
};

struct parse {
	const char *name;
	struct imp_postmortem *pm;
	size_t items_cap;
	struct raw *raws;              /* the open section's candidates */
	size_t n_raws;
	int sec_level;                 /* 0: not in an action-items section */
	int sec_line;
	int first_empty_sec_line;      /* a section that yielded nothing */
	int n_sections;
	int table;                     /* table ordinal being read, -1 */
	enum col *cols;                /* its column kinds */
	const char **col_heads;        /* its header texts (borrowed) */
	size_t n_cols;
	bool action_table;
	char *meta_reference;
};

static void raw_refs_from(struct raw *r, const struct mds_text *t)
{
	for (size_t i = 0; i < t->n_hrefs; i++) {
		struct imp_ticket_ref ref = { 0 };
		if (impt_ref_from_url(t->hrefs[i], &ref) == 0)
			impt_ref_add(&r->refs, &r->n_refs, &ref);
	}
	impt_refs_from_text(t->text, &r->refs, &r->n_refs);
}

static struct raw *raw_new(struct parse *p, int line)
{
	p->raws = xrealloc(p->raws, (p->n_raws + 1) * sizeof(*p->raws));
	struct raw *r = &p->raws[p->n_raws++];
	memset(r, 0, sizeof(*r));
	r->line = line;
	return r;
}

static void raw_free(struct raw *r)
{
	buf_free(&r->extra);
	buf_free(&r->nested);
	for (size_t i = 0; i < r->n_refs; i++)
		impt_ref_free(&r->refs[i]);
	free(r->refs);
}

/* Append "sep" (when b is not empty) and s to b; the buffer cap (16 MiB)
 * cannot be reached from an 8 MiB document, so a failure is a bug. */
static void add_part(struct buf *b, const char *sep, const char *s)
{
	if (!s || !*s)
		return;
	if ((b->len > 0 && buf_append(b, sep, strlen(sep)) < 0) ||
	    buf_append(b, s, strlen(s)) < 0) {
		log_error("importer: description larger than the buffer cap");
		abort();
	}
}

static bool section_heading(const char *text)
{
	char *c = impt_collapse(text);
	const char *h = c;
	while (*h && (strchr("0123456789.) ", *h)))
		h++;
	bool r = false;
	for (size_t i = 0; i < ARRAY_SIZE(section_names) && !r; i++) {
		size_t l = strlen(section_names[i]);
		/* whole words, plural allowed: "Next steps", not "To document" */
		if (str_istarts(h, section_names[i]))
			r = !isalnum((unsigned char)h[l]) ||
			    ((h[l] == 's' || h[l] == 'S') && !isalnum((unsigned char)h[l + 1]));
	}
	free(c);
	return r;
}

static enum col col_kind(const char *head)
{
	char *c = impt_collapse(head);
	size_t n = strlen(c);
	while (n > 0 && (c[n - 1] == ':'))
		c[--n] = '\0';
	enum col k = COL_OTHER;
	for (size_t i = 0; i < ARRAY_SIZE(col_names) && k == COL_OTHER; i++)
		if (strcasecmp(c, col_names[i].name) == 0)
			k = col_names[i].col;
	free(c);
	return k;
}

/* Header row of a table inside an action-items section. */
static void table_header(struct parse *p, const struct mds_node *row)
{
	free(p->cols);
	free(p->col_heads);
	p->n_cols = row->n_cells;
	p->cols = xcalloc(p->n_cols ? p->n_cols : 1, sizeof(*p->cols));
	p->col_heads = xcalloc(p->n_cols ? p->n_cols : 1, sizeof(*p->col_heads));
	bool title = false, desc = false;
	for (size_t i = 0; i < p->n_cols; i++) {
		p->col_heads[i] = row->cells[i].text;
		p->cols[i] = col_kind(row->cells[i].text);
		if (p->cols[i] == COL_TITLE) {
			if (title)
				p->cols[i] = COL_OTHER;   /* a second title column is detail */
			title = true;
		}
		desc = desc || p->cols[i] == COL_DESC;
	}
	/* no title column: Description is the title, else the first column
	 * that is nothing else */
	for (size_t i = 0; i < p->n_cols && !title; i++) {
		if ((desc && p->cols[i] == COL_DESC) || (!desc && p->cols[i] == COL_OTHER)) {
			p->cols[i] = COL_TITLE;
			title = true;
		}
	}
	p->action_table = title;
}

static void table_row(struct parse *p, const struct mds_node *row)
{
	struct raw *r = NULL;
	bool any = false;
	for (size_t i = 0; i < row->n_cells; i++)
		any = any || !impt_placeholder(row->cells[i].text);
	if (!any)
		return;   /* an empty row */
	r = raw_new(p, row->line);
	r->from_table = true;
	for (size_t i = 0; i < row->n_cells && i < p->n_cols; i++) {
		const struct mds_text *c = &row->cells[i];
		raw_refs_from(r, c);
		if (p->cols[i] == COL_TITLE) {
			r->text = c;
		} else if (p->cols[i] == COL_OTHER) {
			if (!impt_placeholder(c->text)) {
				char *h = impt_collapse(p->col_heads[i]), *v = impt_collapse(c->text);
				char *line = xasprintf("%s: %s", h[0] ? h : "Column", v);
				add_part(&r->extra, "\n", line);
				free(line);
				free(h);
				free(v);
			}
		} else if (!r->cols[p->cols[i]]) {
			r->cols[p->cols[i]] = c->text;
		}
	}
}

static void list_item(struct parse *p, const struct mds_node *n)
{
	struct raw *parent = NULL;
	for (size_t i = p->n_raws; i > 0 && n->depth > 0; i--) {
		if (!p->raws[i - 1].from_table) {
			parent = &p->raws[i - 1];
			break;
		}
	}
	if (!parent) {
		if (impt_placeholder(n->t.text))
			return;   /* "-" with nothing after it (the DFDS template) */
		struct raw *r = raw_new(p, n->line);
		r->text = &n->t;
		r->task = n->task;
		raw_refs_from(r, &n->t);
		return;
	}
	char *c = impt_collapse(n->t.text);
	if (c[0]) {
		char *line = xasprintf("%*s- %s%s", 2 * (n->depth - 1), "",
		                       n->task == 'x' ? "[x] " : n->task == ' ' ? "[ ] " : "", c);
		add_part(&parent->nested, "\n", line);
		free(line);
	}
	free(c);
	raw_refs_from(parent, &n->t);
}

static void items_push(struct parse *p, struct imp_item *it)
{
	struct imp_postmortem *pm = p->pm;
	if (pm->n_items == p->items_cap) {
		p->items_cap = p->items_cap ? p->items_cap * 2 : 16;
		pm->items = xrealloc(pm->items, p->items_cap * sizeof(*pm->items));
	}
	pm->items[pm->n_items++] = *it;
}

/* Title and the text that follows a leading "**Title**:" into rest. */
static char *split_title(const struct mds_text *t, char **rest)
{
	*rest = NULL;
	size_t ls = t->lead_strong;
	if (ls == 0 || ls >= strlen(t->text))
		return impt_collapse(t->text);
	char *strong = xstrndup(t->text, ls);
	char *title = impt_collapse(strong);
	free(strong);
	const char *after = t->text + ls;
	while (*after == ' ' || *after == '\t')
		after++;
	size_t tl = strlen(title);
	bool colon_in = tl > 0 && title[tl - 1] == ':';
	if (!colon_in && *after != ':' && !(after[0] == '-' && after[1] == ' ')) {
		free(title);
		return impt_collapse(t->text);
	}
	if (colon_in)
		title[tl - 1] = '\0';
	if (*after == ':' || *after == '-')
		after++;
	*rest = impt_collapse(after);
	return title;
}

/* Cut a long title (more than IMP_TITLE_MAX bytes) at its first sentence,
 * else at the last word boundary that leaves room for "…" (3 bytes), so
 * the result is at most IMP_TITLE_MAX bytes and always fits the string it
 * was cut from.  Returns true when it cut. */
static bool shorten_title(char *title)
{
	size_t n = strlen(title);
	if (n <= IMP_TITLE_MAX)
		return false;
	for (size_t i = 10; i < IMP_TITLE_MAX; i++) {
		if (strchr(".!?", title[i]) && title[i + 1] == ' ') {
			title[title[i] == '.' ? i : i + 1] = '\0';
			return true;
		}
	}
	size_t room = IMP_TITLE_MAX - 3, cut = 0;
	for (size_t i = room; i > 0 && !cut; i--)
		if (title[i] == ' ')
			cut = i;
	if (!cut)
		cut = room;
	while (cut > 0 && ((unsigned char)title[cut] & 0xC0) == 0x80)
		cut--;   /* never split a UTF-8 sequence */
	while (cut > 0 && strchr(" ,;:-(", title[cut - 1]))
		cut--;   /* no dangling separator before the ellipsis */
	memcpy(title + cut, "\xE2\x80\xA6", 4);   /* "…" + NUL: cut + 4 <= n + 1 */
	return true;
}

/* Column value -> field, keeping what cannot be mapped in desc. */
static void map_columns(const struct raw *r, struct imp_item *it, struct buf *desc,
                        int *state)
{
	struct item_fields *f = &it->fields;
	const char *v;
	char *c;
	if ((v = r->cols[COL_TYPE]) && !impt_placeholder(v)) {
		const char *t = impt_type(v);
		item_fields_set(f, ITEM_F_TYPE, t ? t : "other");
		if (!t) {
			c = impt_collapse(v);
			char *l = xasprintf("Type: %s", c);
			add_part(desc, "\n", l);
			free(l);
			free(c);
		}
	}
	static const struct { enum col col; const char *label; } kept[] = {
		{ COL_PRIORITY, "Priority" }, { COL_DUE, "Due" }, { COL_STATUS, "Status" },
		{ COL_TICKET, "Ticket" },
	};
	for (size_t k = 0; k < ARRAY_SIZE(kept); k++) {
		if (!(v = r->cols[kept[k].col]) || impt_placeholder(v))
			continue;
		c = impt_collapse(v);
		char date[11];
		bool keep = false;
		if (kept[k].col == COL_PRIORITY) {
			const char *pr = impt_priority(c);
			item_fields_set(f, ITEM_F_PRIORITY, pr);
			keep = !pr;
		} else if (kept[k].col == COL_DUE) {
			bool found = impt_find_date(c, date);
			if (found)
				item_fields_set(f, ITEM_F_DUE_DATE, date);
			keep = !found || strcmp(c, date) != 0;
		} else if (kept[k].col == COL_STATUS) {
			*state = impt_state(c, true);
			keep = *state < 0;
		} else {
			struct imp_ticket_ref *tmp = NULL;
			size_t nt = 0;
			impt_refs_from_text(c, &tmp, &nt);
			keep = nt == 0 && r->n_refs == 0;
			for (size_t i = 0; i < nt; i++)
				impt_ref_free(&tmp[i]);
			free(tmp);
		}
		if (keep) {
			char *l = xasprintf("%s: %s", kept[k].label, c);
			add_part(desc, "\n", l);
			free(l);
		}
		free(c);
	}
	if ((v = r->cols[COL_OWNER]) && !impt_placeholder(v)) {
		c = impt_collapse(v);
		item_fields_set(f, ITEM_F_OWNER, c[0] == '@' ? c + 1 : c);
		free(c);
	}
}

/* Decide one item's fields.  Returns false for an item with no title. */
static bool build_item(const struct raw *r, struct imp_item *it)
{
	struct impt_marks m = { .state = -1 };
	struct buf desc = { 0 }, tail = { 0 };
	char *rest = NULL;
	char *title = r->text ? split_title(r->text, &rest) : xstrdup("");
	int col_state = -1;
	bool ok = false;

	memset(it, 0, sizeof(*it));
	item_fields_init(&it->fields);
	it->line = r->line;
	impt_strip_markers(title, &m);
	impt_strip_trailing_refs(title);
	impt_strip_markers(title, &m);
	map_columns(r, it, &tail, &col_state);

	char *full = xstrdup(title);
	if (shorten_title(title))
		add_part(&desc, "\n\n", full);
	free(full);
	add_part(&desc, "\n\n", rest);
	if (r->cols[COL_DESC] && !impt_placeholder(r->cols[COL_DESC])) {
		char *d = impt_collapse(r->cols[COL_DESC]);
		add_part(&desc, "\n\n", d);
		free(d);
	}
	add_part(&desc, "\n\n", r->nested.data);
	add_part(&tail, "\n", r->extra.data);   /* "Header: value" lines together */
	add_part(&desc, "\n\n", tail.data);

	if (!title[0] && r->n_refs > 0) {
		free(title);
		title = xasprintf("%s#%s", r->refs[0].target, r->refs[0].number);
	}
	if (!title[0])
		goto out;

	int state = col_state;
	if (state < 0)
		state = m.state;
	if (state < 0 && r->task)
		state = r->task == 'x' ? ITEM_STATE_DONE : ITEM_STATE_OPEN;
	if (state < 0 && r->text && r->text->struck)
		state = ITEM_STATE_DONE;
	if (state < 0)
		state = ITEM_STATE_OPEN;
	item_fields_set(&it->fields, ITEM_F_TITLE, title);
	item_fields_set(&it->fields, ITEM_F_DESCRIPTION, desc.len ? desc.data : NULL);
	item_fields_set(&it->fields, ITEM_F_STATE, item_state_name((enum item_state)state));
	if (!it->fields.v[ITEM_F_TYPE])
		item_fields_set(&it->fields, ITEM_F_TYPE, "other");
	if (!it->fields.v[ITEM_F_PRIORITY])
		item_fields_set(&it->fields, ITEM_F_PRIORITY, m.priority);
	if (!it->fields.v[ITEM_F_OWNER])
		item_fields_set(&it->fields, ITEM_F_OWNER, m.owner);
	if (!it->fields.v[ITEM_F_DUE_DATE] && m.due[0])
		item_fields_set(&it->fields, ITEM_F_DUE_DATE, m.due);
	if (r->n_refs) {
		it->refs = xcalloc(r->n_refs, sizeof(*it->refs));
		for (size_t i = 0; i < r->n_refs; i++) {
			struct imp_ticket_ref *d = &it->refs[i];
			d->kind = xstrdup(r->refs[i].kind);
			d->target = xstrdup(r->refs[i].target);
			d->number = xstrdup(r->refs[i].number);
			d->url = xstrdup(r->refs[i].url);
			d->pull = r->refs[i].pull;
		}
		it->n_refs = r->n_refs;
	}
	ok = true;
out:
	if (!ok)
		item_fields_free(&it->fields);
	free(title);
	free(rest);
	free(m.owner);
	buf_free(&desc);
	buf_free(&tail);
	return ok;
}

static void close_section(struct parse *p)
{
	if (p->sec_level == 0)
		return;
	bool tables = false;
	for (size_t i = 0; i < p->n_raws; i++)
		tables = tables || p->raws[i].from_table;
	size_t before = p->pm->n_items;
	for (size_t i = 0; i < p->n_raws; i++) {
		struct imp_item it;
		if (p->raws[i].from_table == tables && build_item(&p->raws[i], &it))
			items_push(p, &it);
		raw_free(&p->raws[i]);
	}
	if (p->pm->n_items == before && !p->first_empty_sec_line)
		p->first_empty_sec_line = p->sec_line;
	p->n_raws = 0;
	p->sec_level = 0;
	p->table = -1;
}

/* ---- postmortem metadata ---- */

enum meta { META_PLATFORM, META_TEAM, META_SEVERITY, META_DATE, META_REFERENCE, META_START };

static const struct { const char *key; enum meta m; } meta_keys[] = {
	{ "platform", META_PLATFORM }, { "team", META_TEAM }, { "owning team", META_TEAM },
	{ "severity", META_SEVERITY }, { "sev", META_SEVERITY },
	{ "date", META_DATE }, { "published", META_DATE }, { "published date", META_DATE },
	{ "date published", META_DATE }, { "reference", META_REFERENCE }, { "id", META_REFERENCE },
	{ "postmortem id", META_REFERENCE }, { "incident start", META_START },
	{ "started", META_START }, { "start time", META_START },
};

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
		if (!pm->platform)
			pm->platform = xstrdup(v);
		break;
	case META_TEAM:
		if (!pm->team)
			pm->team = xstrdup(v);
		break;
	case META_SEVERITY:
		if (!pm->severity)
			pm->severity = xstrdup(v);
		break;
	case META_DATE:
		if (!pm->published_date && impt_find_date(v, date))
			pm->published_date = xstrdup(date);
		break;
	case META_REFERENCE:
		if (!p->meta_reference)
			p->meta_reference = xstrdup(v);
		break;
	case META_START:
		if (!pm->incident_start && ts_parse(v, &ms) == 0) {
			ts_format(ms, ts, sizeof(ts));
			pm->incident_start = xstrdup(ts);
		}
		break;
	default:
		abort();
	}
out:
	free(v);
}

static void meta_kv(struct parse *p, const char *key, const char *value)
{
	char *k = impt_collapse(key);
	for (size_t i = 0; i < ARRAY_SIZE(meta_keys); i++) {
		if (strcasecmp(k, meta_keys[i].key) == 0) {
			meta_set(p, meta_keys[i].m, value);
			break;
		}
	}
	free(k);
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
		meta_kv(p, line, colon + 1);
	}
	free(copy);
}

/* ---- the document walk ---- */

static void walk(struct parse *p, const struct mds_doc *doc)
{
	for (size_t i = 0; i < doc->n_nodes; i++) {
		const struct mds_node *n = &doc->nodes[i];
		if (n->kind == MDS_HEADING) {
			if (n->level == 1 && !p->pm->title) {
				char *t = impt_collapse(n->t.text);
				if (t[0])
					p->pm->title = t;
				else
					free(t);
			}
			if (p->sec_level && n->level <= p->sec_level)
				close_section(p);
			if (!p->sec_level && section_heading(n->t.text)) {
				p->sec_level = n->level;
				p->sec_line = n->line;
				p->n_sections++;
			}
			continue;
		}
		if (!p->sec_level) {
			if (n->kind == MDS_PARA || n->kind == MDS_LIST_ITEM)
				meta_lines(p, n->t.text);
			else if (n->kind == MDS_TABLE_ROW && !n->header && n->n_cells == 2)
				meta_kv(p, n->cells[0].text, n->cells[1].text);
			continue;
		}
		switch (n->kind) {
		case MDS_TABLE_ROW:
			if (n->table != p->table) {
				p->table = n->table;
				table_header(p, n);   /* md4c: the header row comes first */
			} else if (p->action_table) {
				table_row(p, n);
			}
			break;
		case MDS_LIST_ITEM:
			list_item(p, n);
			break;
		case MDS_PARA:
		case MDS_HEADING:
			break;   /* explanation between the items */
		default:
			abort();
		}
	}
	close_section(p);
}

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

static char *strip_ext(const char *base)
{
	const char *dot = strrchr(base, '.');
	if (dot && dot != base && (strcasecmp(dot, ".md") == 0 || strcasecmp(dot, ".markdown") == 0))
		return xstrndup(base, (size_t)(dot - base));
	return xstrdup(base);
}

/* Import keys: the normalised title's FNV-1a hash, "-N" for its N-th
 * repetition.  Repetitions are counted in an open-addressing table keyed
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
		char *text = impt_key_text(it->fields.v[ITEM_F_TITLE]), hex[17];
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
		it->import_key = seen > 1 ? xasprintf("%s-%d", hex, seen) : xstrdup(hex);
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
	const char *base = base_name(name);
	size_t blank = 0;
	long bad;

	while (blank < len && strchr(" \t\r\n\f\v", text[blank]))
		blank++;
	if (blank == len) {
		snprintf(err, errlen, "%s: empty document", name);
		goto out;
	}
	if ((bad = impt_utf8_invalid_at(text, len)) >= 0) {
		snprintf(err, errlen, "%s: not valid UTF-8 (byte %ld); convert it to UTF-8 first",
		         name, bad);
		goto out;
	}
	if (strcasestr(base, "template") || str_istarts(base, "PMyyyy-nnn")) {
		snprintf(err, errlen, "%s: a template, not a postmortem", name);
		goto out;
	}
	if ((rc = mds_scan(text, len, &doc)) < 0) {
		snprintf(err, errlen, "%s: Markdown parser failed (%s)", name, strerror(-rc));
		goto out;
	}
	p.pm = xcalloc(1, sizeof(*p.pm));
	walk(&p, doc);
	rc = -EINVAL;
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
	p.pm->reference = reference_from_name(base);
	if (!p.pm->reference)
		p.pm->reference = p.meta_reference ? xstrdup(p.meta_reference) : strip_ext(base);
	if (!p.pm->title)
		p.pm->title = strip_ext(base);
	p.pm->source_path = xstrdup(name);
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
	mds_doc_free(doc);
	return rc;
}

int imp_parse_file(const char *path, struct imp_postmortem **out, char *err, size_t errlen)
{
	int rc = 0;
	struct buf b = { .max = IMP_MAX_FILE + 1 };
	char chunk[16384];
	size_t n;
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
		rc = -EIO;
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	rc = imp_parse_text(path, b.data ? b.data : "", b.len, out, err, errlen);
out:
	if (f)
		fclose(f);
	buf_free(&b);
	return rc;
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
	}
	free(pm->items);
	free(pm->reference);
	free(pm->title);
	free(pm->source_path);
	free(pm->document_url);
	free(pm->platform);
	free(pm->team);
	free(pm->severity);
	free(pm->published_date);
	free(pm->incident_start);
	free(pm);
}
