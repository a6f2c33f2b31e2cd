/* impwalk.c — find the action item candidates of a scanned document.
 *
 * Action items are read in four kinds of context:
 *   - a section under an action heading (impclass.c: "Action items",
 *     "Follow-ups", "Prevention", "How are we preventing it from happening
 *     again?", ...), up to the next heading of the same or a higher level.
 *     Sub-headings inside it are groups: their horizon ("Short-term"),
 *     state ("Completed") and type ("Detection") go to their items, and a
 *     sub-heading that is not about action items ("Lessons learned",
 *     "Follow-up timeline") suspends the section until the next one.
 *     Top-level list items are items, nested ones their description.  When
 *     the section has an action table, its plain lists are explanation
 *     (etcd lists the meaning of its Type and Priority columns).
 *   - a bold label anywhere in the document: a list item that is only a
 *     label made of group words ("- **Review actions**:") heads a list of
 *     items one level deeper; a paragraph that is such a label
 *     ("**Action items:**") makes the next list's top-level items items.
 *   - an inline label "**Action item:** text" in a paragraph or list item:
 *     one item whose title is the text.
 *   - a table anywhere whose header has an "Action item"-like title column
 *     and at least one other known column (the Google SRE book's Action
 *     Item / Type / Owner / Bug).
 * A numbered item whose text is only a bold label, followed by a bullet
 * list at the same indentation, keeps those bullets as its description.
 * Outside these contexts, prose lists ("What went well") are never items;
 * paragraphs, list items and two-column tables give metadata (impmeta.c).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "impparse.h"
#include "imptext.h"
#include "impxref.h"
#include "log.h"

static const struct { const char *name; enum imp_col col; } col_names[] = {
	{ "action item", COL_TITLE }, { "action items", COL_TITLE }, { "action", COL_TITLE },
	{ "actions", COL_TITLE }, { "item", COL_TITLE }, { "task", COL_TITLE },
	{ "title", COL_TITLE }, { "summary", COL_TITLE }, { "follow-up", COL_TITLE }, { "follow-ups", COL_TITLE },
	{ "follow up", COL_TITLE }, { "what", COL_TITLE }, { "remediation", COL_TITLE },
	{ "remediation item", COL_TITLE }, { "corrective action", COL_TITLE },
	{ "description", COL_DESC }, { "details", COL_DESC }, { "notes", COL_DESC },
	{ "type", COL_TYPE }, { "kind", COL_TYPE }, { "category", COL_TYPE },
	{ "owner", COL_OWNER }, { "owners", COL_OWNER }, { "who", COL_OWNER },
	{ "assignee", COL_OWNER }, { "assigned to", COL_OWNER }, { "responsible", COL_OWNER },
	{ "priority", COL_PRIORITY }, { "prio", COL_PRIORITY },
	{ "bug", COL_TICKET }, { "ticket", COL_TICKET }, { "issue", COL_TICKET },
	{ "link", COL_TICKET }, { "tracking", COL_TICKET }, { "tracker", COL_TICKET },
	{ "pr", COL_TICKET }, { "jira", COL_TICKET }, { "tracking issue", COL_TICKET },
	{ "key", COL_TICKET }, { "issue key", COL_TICKET }, { "tracking bug", COL_TICKET },
	{ "due", COL_DUE }, { "due date", COL_DUE }, { "deadline", COL_DUE },
	{ "target date", COL_DUE }, { "eta", COL_DUE }, { "when", COL_DUE },
	{ "status", COL_STATUS }, { "state", COL_STATUS }, { "done?", COL_STATUS },
	{ "done", COL_STATUS }, { "id", COL_ID }, { "action id", COL_ID }, { "item id", COL_ID },
	{ "ai", COL_ID }, { "ai id", COL_ID }, { "ai #", COL_ID }, { "ai no", COL_ID },
};

void imp_add_part(struct buf *b, const char *sep, const char *s)
{
	if (!s || !*s)
		return;
	if ((b->len > 0 && buf_append(b, sep, strlen(sep)) < 0) ||
	    buf_append(b, s, strlen(s)) < 0) {
		log_error("importer: description larger than the buffer cap");
		abort();
	}
}

void raw_free(struct raw *r)
{
	buf_free(&r->extra);
	buf_free(&r->nested);
	for (size_t i = 0; i < r->n_refs; i++)
		impt_ref_free(&r->refs[i]);
	free(r->refs);
	for (size_t i = 0; i < r->n_xrefs; i++)
		impt_ref_free(&r->xrefs[i]);
	free(r->xrefs);
	for (size_t i = 0; i < r->n_links; i++)
		free(r->links[i]);
	free(r->links);
	for (size_t i = 0; i < r->n_bare; i++)
		free(r->bare[i]);
	free(r->bare);
}

/* Bare "#123" in t: a reference when the document names its repository,
 * else kept in r->bare for the configuration's (imp_resolve_bare). */
static void bare_refs(const char *repo, struct raw *r, const char *t)
{
	for (const char *h = strchr(t, '#'); h; h = strchr(h + 1, '#')) {
		size_t d = strspn(h + 1, "0123456789");
		if (d == 0 || d > 9 || isalnum((unsigned char)h[1 + d]) ||
		    (h > t && (isalnum((unsigned char)h[-1]) || strchr("/_-.&", h[-1]))))
			continue;
		if (!repo) {
			bool dup = false;
			for (size_t k = 0; k < r->n_bare && !dup; k++)
				dup = strlen(r->bare[k]) == d && strncmp(r->bare[k], h + 1, d) == 0;
			if (!dup && r->n_bare < 16) {
				r->bare = xrealloc(r->bare, (r->n_bare + 1) * sizeof(*r->bare));
				r->bare[r->n_bare++] = xstrndup(h + 1, d);
			}
			continue;
		}
		char *s = xasprintf("%s#%.*s", repo, (int)d, h + 1);
		impt_refs_from_text(s, &r->refs, &r->n_refs);
		free(s);
	}
}

static void raw_refs_from(const struct parse *p, struct raw *r, const struct mds_text *t)
{
	for (size_t i = 0; i < t->n_hrefs; i++) {
		struct imp_ticket_ref ref = { 0 };
		if (impt_ref_from_url(t->hrefs[i], &ref) == 0) {
			impt_ref_add(&r->refs, &r->n_refs, &ref);
			continue;
		}
		/* a Jira issue or ServiceNow record: adopted where a connector
		 * serves it; the link stays content of the description */
		if (impx_ref_from_url(t->hrefs[i], &ref) == 0)
			impt_ref_add(&r->xrefs, &r->n_xrefs, &ref);
		if (t->hrefs[i][0] && r->n_links < 16) {
			bool dup = false;
			for (size_t k = 0; k < r->n_links && !dup; k++)
				dup = strcmp(r->links[k], t->hrefs[i]) == 0;
			if (!dup) {
				r->links = xrealloc(r->links, (r->n_links + 1) * sizeof(*r->links));
				r->links[r->n_links++] = xstrdup(t->hrefs[i]);
			}
		}
	}
	impt_refs_from_text(t->text, &r->refs, &r->n_refs);
	impx_refs_from_text(t->text, false, &r->xrefs, &r->n_xrefs);
	bare_refs(p->repo, r, t->text);
}

static struct raw *raw_new(struct parse *p, int line, enum raw_src src)
{
	if (p->n_raws == p->raws_cap) {
		p->raws_cap = p->raws_cap ? 2 * p->raws_cap : 16;
		p->raws = xrealloc(p->raws, p->raws_cap * sizeof(*p->raws));
	}
	struct raw *r = &p->raws[p->n_raws++];
	memset(r, 0, sizeof(*r));
	r->line = line;
	r->src = src;
	r->group = p->group;
	r->title_col = r->ticket_col = -1;
	const struct impc_info *g = p->label_depth >= 0 || p->label_para ? &p->label_grp : &p->grp;
	r->grp_state = g->state >= 0 ? g->state : p->grp.state;
	r->horizon = g->horizon ? g->horizon : p->grp.horizon;
	r->grp_type = g->type ? g->type : p->grp.type;
	return r;
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

/* Build the open candidates into items.  Where a heading group has an
 * action table, its plain list items are explanation, not items. */
static void flush(struct parse *p)
{
	/* candidates are in document order, so a group is one run */
	size_t run_end = 0;
	bool table_group = false;
	for (size_t i = 0; i < p->n_raws; i++) {
		struct imp_item it;
		if (i == run_end) {
			table_group = false;
			for (run_end = i; run_end < p->n_raws &&
			     p->raws[run_end].group == p->raws[i].group; run_end++)
				table_group = table_group || p->raws[run_end].src == RAW_TABLE;
		}
		if (!(table_group && p->raws[i].src == RAW_LIST) && impi_build(&p->raws[i], &it))
			items_push(p, &it);
		raw_free(&p->raws[i]);
	}
	p->n_raws = 0;
}

static const struct impc_info no_group = { .state = -1 };

static void close_section(struct parse *p)
{
	if (p->sec_level == 0)
		return;
	size_t before = p->pm->n_items;
	flush(p);
	if (p->pm->n_items == before && !p->first_empty_sec_line)
		p->first_empty_sec_line = p->sec_line;
	p->sec_level = 0;
	p->sub_level = 0;
	p->sub_excluded = false;
	p->grp = no_group;
}

/* A sub-heading is an item only when field bullets follow it ("- **Owner:**
 * @nia", "- Due: ..."); otherwise it was a component name or a group and
 * its candidate goes. */
static void drop_pending(struct parse *p)
{
	long i = p->head_item;
	p->head_item = -1;
	if (i < 0 || (size_t)i >= p->n_raws || p->raws[i].head_fields)
		return;
	raw_free(&p->raws[i]);
	memmove(&p->raws[i], &p->raws[i + 1], (p->n_raws - (size_t)i - 1) * sizeof(*p->raws));
	p->n_raws--;
}

/* Only fields ("Owner: @nia", "Status: In progress")? */
static bool field_bullet(const struct mds_node *n)
{
	struct impf_fields f = { .state = -1 };
	bool ok = impf_line(n->t.text, &f);
	impf_free(&f);
	return ok;
}

static void end_label(struct parse *p)
{
	p->label_depth = -1;
	p->label_excluded = false;
	p->label_grp = no_group;
	p->base_depth = p->sec_level && !p->sub_excluded ? 0 : -1;
}

static enum imp_col col_kind(const char *head)
{
	char *c = impt_collapse(head);
	size_t n = strlen(c);
	while (n > 0 && (c[n - 1] == ':'))
		c[--n] = '\0';
	enum imp_col k = COL_OTHER;
	for (size_t i = 0; i < ARRAY_SIZE(col_names) && k == COL_OTHER; i++)
		if (strcasecmp(c, col_names[i].name) == 0)
			k = col_names[i].col;
	free(c);
	return k;
}

/* Header row of a table.  In an action section any table with a title
 * column is an action table; elsewhere it needs an "Action item"-like
 * title header, one other known column and no time column (a timeline). */
static void table_header(struct parse *p, const struct mds_node *row)
{
	free(p->cols);
	free(p->col_heads);
	p->n_cols = row->n_cells;
	p->cols = xcalloc(p->n_cols ? p->n_cols : 1, sizeof(*p->cols));
	p->col_heads = xcalloc(p->n_cols ? p->n_cols : 1, sizeof(*p->col_heads));
	bool title = false, desc = false, named_title = false, timeline = false;
	int known = 0;
	for (size_t i = 0; i < p->n_cols; i++) {
		p->col_heads[i] = row->cells[i].text;
		p->cols[i] = col_kind(row->cells[i].text);
		if (p->cols[i] == COL_TITLE) {
			if (title)
				p->cols[i] = COL_OTHER;   /* a second title column is detail */
			else
				named_title = strcasestr(row->cells[i].text, "action") ||
				              strcasestr(row->cells[i].text, "follow") ||
				              strcasestr(row->cells[i].text, "remediation");
			title = true;
		}
		known += p->cols[i] != COL_OTHER && p->cols[i] != COL_TITLE;
		desc = desc || p->cols[i] == COL_DESC;
		timeline = timeline || strcasestr(row->cells[i].text, "time") ||
		           strcasecmp(row->cells[i].text, "date") == 0;
	}
	/* under an action heading, or right after an action label paragraph
	 * ("**Action Items**" in a Google Docs export) */
	bool in_section = (p->sec_level && !p->sub_excluded) || p->label_para;
	/* no title column: Description is the title, else the first column
	 * that is nothing else */
	for (size_t i = 0; i < p->n_cols && !title && in_section; i++) {
		if ((desc && p->cols[i] == COL_DESC) || (!desc && p->cols[i] == COL_OTHER)) {
			p->cols[i] = COL_TITLE;
			title = true;
		}
	}
	p->table_ctx = !in_section && named_title && known > 0 && !timeline && !p->label_excluded;
	p->action_table = (in_section && title) || p->table_ctx;
	if (p->table_ctx)
		p->n_sections++;
}

static void table_row(struct parse *p, const struct mds_node *row)
{
	bool any = false;
	for (size_t i = 0; i < row->n_cells; i++)
		any = any || !impt_placeholder(row->cells[i].text);
	if (!any)
		return;   /* an empty row */
	struct raw *r = raw_new(p, row->line, RAW_TABLE);
	r->cells = row->cells;
	r->n_cells = row->n_cells;
	r->markup = row->markup;
	for (size_t i = 0; i < row->n_cells && i < p->n_cols; i++) {
		const struct mds_text *c = &row->cells[i];
		raw_refs_from(p, r, c);
		if (p->cols[i] == COL_TITLE) {
			r->text = c;
			r->title_col = (int)i;
		} else if (p->cols[i] == COL_OTHER) {
			if (!impt_placeholder(c->text)) {
				char *h = impt_collapse(p->col_heads[i]), *v = impt_collapse(c->text);
				char *line = xasprintf("%s: %s", h[0] ? h : "Column", v);
				imp_add_part(&r->extra, "\n", line);
				free(line);
				free(h);
				free(v);
			}
		} else if (!r->cols[p->cols[i]]) {
			r->cols[p->cols[i]] = c->text;
			if (p->cols[i] == COL_TICKET)
				r->ticket_col = (int)i;
		}
		/* a ticket column names Jira issues by bare key too */
		if (p->cols[i] == COL_TICKET)
			impx_refs_from_text(c->text, true, &r->xrefs, &r->n_xrefs);
	}
}

/* The text of a label: the leading **strong** span when it is the whole
 * text (a trailing ':' allowed after it), else a short plain text ending
 * in ':'.  Returns a collapsed heap string or NULL. */
static char *label_text(const struct mds_text *t)
{
	char *c = impt_collapse(t->text);
	size_t n = strlen(c);
	bool is = false;
	if (t->lead_strong > 0) {
		char *rest = impt_collapse(t->text + t->lead_strong);
		is = rest[0] == '\0' || strcmp(rest, ":") == 0;
		free(rest);
	} else {
		is = n > 0 && n <= 60 && c[n - 1] == ':' && !strchr(c, '\n');
	}
	while (n > 0 && (c[n - 1] == ':' || c[n - 1] == ' '))
		c[--n] = '\0';
	if (!is || n == 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* "Action point: text" without bold (go-ethereum's postmortems write
 * them as paragraphs under each lesson): the label's length with the
 * blanks after it, or 0.  Only these explicit labels; "Action: restarted
 * the node" is a timeline's sentence. */
static size_t plain_label(const char *text)
{
	static const char *const labels[] = { "action point:", "action item:", "todo:",
	                                      "action point -", "action item -" };
	for (size_t k = 0; k < ARRAY_SIZE(labels); k++) {
		size_t l = strlen(labels[k]);
		if (strncasecmp(text, labels[k], l) != 0)
			continue;
		l += strspn(text + l, " ");
		return text[l] ? l : 0;
	}
	return 0;
}

/* "This has been done.", "Done.", "This is in progress": a bullet whose
 * first sentence only says the state of the item above it (what follows
 * is kept as the item's description); the state, or -1. */
static int status_sentence(const char *text)
{
	char *c = impt_collapse(text);
	char *stop = strstr(c, ". ");   /* the first sentence says it */
	if (stop)
		*stop = '\0';
	size_t n = strlen(c);
	while (n > 0 && (c[n - 1] == '.' || c[n - 1] == '!'))
		c[--n] = '\0';
	static const char *const lead[] = { "this has been ", "this has now been ", "this was ",
	                                    "this is now ", "this is ", "it has been ", "it was ",
	                                    "it is ", "now ", "status: " };
	const char *r = c;
	for (size_t k = 0; k < ARRAY_SIZE(lead); k++)
		if (str_istarts(r, lead[k])) {
			r += strlen(lead[k]);
			break;
		}
	int st = n <= 80 ? impt_state(r, true) : -1;
	if (st >= 0 && (strcasecmp(r, "new") == 0 || strcasecmp(r, "x") == 0 || !r[0]))
		st = -1;
	free(c);
	return st;
}

/* "**Action item:** text": the byte length of the label, or 0. */
static size_t inline_label(const struct mds_text *t)
{
	size_t ls = t->lead_strong;
	if (ls == 0)
		return plain_label(t->text);
	if (ls >= strlen(t->text))
		return 0;
	char *l = xstrndup(t->text, ls);
	struct impc_info ci;
	impc_classify(l, &ci);
	size_t n = strlen(l);
	bool colon = (n > 0 && l[n - 1] == ':') || t->text[ls] == ':';
	bool ok = colon && ci.cls == IMPC_ACTIONS && impc_is_group(l) && n < 40;
	free(l);
	if (!ok)
		return 0;
	while (t->text[ls] == ':' || t->text[ls] == ' ')
		ls++;
	return t->text[ls] ? ls : 0;
}

/* A paragraph that opens with a bold line ("**Drain the nodes**") and
 * says nothing else but fields on the next lines (or nothing). */
static bool bold_item(const struct mds_text *t)
{
	size_t ls = t->lead_strong;
	if (ls == 0)
		return false;
	const char *after = t->text + ls;
	while (*after == ' ')
		after++;
	if (*after && *after != '\n')
		return false;   /* "**Note:** text": a bold word in running text */
	char *l = xstrndup(t->text, ls);
	struct impc_info ci;
	impc_classify(l, &ci);
	size_t n = strlen(l);
	bool label = ci.cls == IMPC_EXCLUDED || impc_is_group(l) || (n > 0 && l[n - 1] == ':');
	free(l);
	if (label)
		return false;
	struct impf_fields f = { .state = -1 };
	bool ok = !*after || impf_line(after, &f);
	impf_free(&f);
	return ok;
}

/* "Lesson: the alert was noisy. Action: tune it (@kai)": the bytes
 * before the action's text, or 0. */
static size_t mid_action_label(const char *t)
{
	static const char *const labels[] = { ". Action: ", ". Action item: ", ". Actions: " };
	for (size_t k = 0; k < ARRAY_SIZE(labels); k++) {
		const char *a = strstr(t, labels[k]);
		if (a && a[strlen(labels[k])])
			return (size_t)(a - t) + strlen(labels[k]);
	}
	return 0;
}

static void para(struct parse *p, const struct mds_node *n)
{
	char *label = label_text(&n->t);
	size_t skip;
	p->inline_item = -1;
	if (label && impc_is_group(label)) {
		struct impc_info ci;
		impc_classify(label, &ci);
		p->label_grp = ci;
		p->label_excluded = false;
		p->label_depth = -1;
		p->base_depth = 0;
		p->label_para = 1;
		if (!p->sec_level || p->sub_excluded)
			p->n_sections++;
	} else if (label) {
		struct impc_info ci;
		impc_classify(label, &ci);
		/* a sentence ending in ':' ("We have already taken some steps:")
		 * introduces a list; only a short label excludes one */
		if (ci.cls == IMPC_EXCLUDED && (n->t.lead_strong > 0 || strlen(label) <= 40)) {
			/* "**What went well**" inside an action section */
			p->label_para = 0;
			p->base_depth = -1;
			p->label_excluded = true;
		} else if (p->label_para && !(p->sec_level && !p->sub_excluded)) {
			/* "**Participants:**" after an action list: a new list */
			p->label_para = 0;
			end_label(p);
		}
	} else if ((skip = inline_label(&n->t)) > 0) {
		struct raw *r = raw_new(p, n->line, RAW_INLINE);
		r->text = &n->t;
		r->skip = skip;
		raw_refs_from(p, r, &n->t);
		p->n_sections++;
		p->inline_item = (long)(p->n_raws - 1);
	} else if (p->sec_level && !p->sub_excluded && !p->label_excluded && bold_item(&n->t)) {
		/* "**[P1] Drain the nodes**" + "Owner: @kat. Due: ..." in an
		 * action section: an item per paragraph */
		struct raw *r = raw_new(p, n->line, RAW_LIST);
		r->text = &n->t;
		r->depth = -1;
		raw_refs_from(p, r, &n->t);
	} else if (p->label_para && !(p->sec_level && !p->sub_excluded)) {
		p->label_para = 0;
		end_label(p);
	}
	free(label);
	if (!p->sec_level)
		impm_block(p, n);
}

/* Nested text of a list item under the item r. */
static void nest(const struct parse *p, struct raw *r, const struct mds_node *n, int rel)
{
	char *c = impt_collapse(n->t.text);
	if (c[0]) {
		char *line = xasprintf("%*s- %s%s", 2 * (rel > 0 ? rel - 1 : 0), "",
		                       n->task == 'x' ? "[x] " : n->task == ' ' ? "[ ] " : "", c);
		imp_add_part(&r->nested, "\n", line);
		free(line);
	}
	free(c);
	raw_refs_from(p, r, &n->t);
}

/* The last list candidate of the open context, or NULL. */
static struct raw *last_list_raw(struct parse *p)
{
	if (p->n_raws == 0 || p->raws[p->n_raws - 1].src == RAW_TABLE)
		return NULL;
	return &p->raws[p->n_raws - 1];
}

static void list_item(struct parse *p, const struct mds_node *n)
{
	long k = p->inline_item;
	int st;
	p->inline_item = -1;
	if (k >= 0 && n->depth == 0 && (st = status_sentence(n->t.text)) >= 0) {
		/* "Action point: X" then "- This has been done." */
		struct raw *r = &p->raws[k];
		if (r->grp_state < 0)
			r->grp_state = st;
		nest(p, r, n, 1);
		return;
	}
	size_t mid = n->depth == 0 ? mid_action_label(n->t.text) : 0;
	if (mid > 0 && !(p->sec_level && !p->sub_excluded)) {
		struct raw *r = raw_new(p, n->line, RAW_INLINE);
		r->text = &n->t;
		r->skip = mid;
		raw_refs_from(p, r, &n->t);
		p->n_sections++;
		return;
	}
	if (p->head_item >= 0 && n->depth == 0) {
		struct raw *h = &p->raws[p->head_item];
		if (field_bullet(n)) {
			nest(p, h, n, 1);
			h->head_fields = true;
			return;
		}
		drop_pending(p);
	}
	if (p->label_depth >= 0 && n->depth <= p->label_depth)
		end_label(p);
	char *label = label_text(&n->t);
	size_t skip = 0;
	if (label && impc_is_group(label) && n->depth >= (p->base_depth < 0 ? 0 : p->base_depth)) {
		/* "- **Review actions**:" heads the items nested under it */
		impc_classify(label, &p->label_grp);
		p->label_depth = n->depth;
		p->base_depth = n->depth + 1;
		if (!p->sec_level || p->sub_excluded)
			p->n_sections++;
		free(label);
		return;
	}
	if (label && p->base_depth >= 0 && n->depth == p->base_depth) {
		struct impc_info ci;
		impc_classify(label, &ci);
		/* a sentence ending in ':' ("We have already taken some steps:")
		 * introduces a list; only a short label excludes one */
		if (ci.cls == IMPC_EXCLUDED && (n->t.lead_strong > 0 || strlen(label) <= 40)) {   /* "- **What went well**" */
			p->label_depth = n->depth;
			p->label_excluded = true;
			p->base_depth = -1;
			free(label);
			return;
		}
	}
	if (p->label_excluded && p->label_depth >= 0) {
		free(label);
		return;
	}
	struct raw *last = last_list_raw(p);
	if (p->base_depth >= 0 && n->depth == p->base_depth) {
		/* a bullet list right after a numbered bold-label item, at the
		 * same indentation: that item's explanation */
		if (last && last->label_only && !n->ordered && last->list != n->list &&
		    last->depth == n->depth) {
			nest(p, last, n, 1);
		} else if (!impt_placeholder(n->t.text)) {
			enum raw_src src = p->label_depth >= 0 || (p->label_para && !p->sec_level)
			                   ? RAW_LABEL : RAW_LIST;
			struct raw *r = raw_new(p, n->line, src);
			r->text = &n->t;
			r->skip = inline_label(&n->t);
			r->task = n->task;
			r->list = n->list;
			r->depth = n->depth;
			r->label_only = label && n->ordered;
			raw_refs_from(p, r, &n->t);
		}
	} else if (p->base_depth >= 0 && n->depth > p->base_depth && last) {
		nest(p, last, n, n->depth - p->base_depth);
	} else if ((skip = inline_label(&n->t)) > 0 && !p->label_excluded) {
		struct raw *r = raw_new(p, n->line, RAW_INLINE);
		r->text = &n->t;
		r->skip = skip;
		raw_refs_from(p, r, &n->t);
		p->n_sections++;
	}
	free(label);
}

static void heading(struct parse *p, const struct mds_node *n)
{
	struct impc_info ci;
	drop_pending(p);
	p->inline_item = -1;
	impc_classify(n->t.text, &ci);
	p->group++;
	if (n->level == 1 && !p->pm->title) {
		char *t = impt_collapse(n->t.text);
		/* the document's title ("Traefik rule preventing inbound
		 * traffic") is not a section unless it is only group words */
		if (t[0] && !impc_is_group(n->t.text))
			ci.cls = IMPC_NONE;
		if (t[0])
			p->pm->title = t;
		else
			free(t);
	}
	if (p->sec_level && n->level <= p->sec_level)
		close_section(p);
	p->label_para = 0;
	if (!p->sec_level)
		flush(p);   /* label lists and inline items end at any heading */
	if (!p->sec_level && ci.cls == IMPC_ACTIONS) {
		p->sec_level = n->level;
		p->sec_line = n->line;
		p->n_sections++;
		p->grp = ci;
		p->grp.cls = IMPC_NONE;
	} else if (p->sec_level) {
		/* a group inside the action section */
		p->sub_level = n->level;
		p->sub_excluded = ci.cls == IMPC_EXCLUDED && !ci.weak;
		p->grp = p->sub_excluded ? no_group : ci;
	}
	p->label_depth = -1;
	p->label_excluded = false;
	p->label_grp = no_group;
	p->base_depth = p->sec_level && !p->sub_excluded ? 0 : -1;
	if (p->sec_level && n->level > p->sec_level && !p->sub_excluded &&
	    ci.cls != IMPC_EXCLUDED && !impc_is_group(n->t.text)) {
		/* "### AI-1: Fail the export job" — an item when fields follow */
		struct raw *r = raw_new(p, n->line, RAW_LIST);
		r->text = &n->t;
		r->depth = -1;
		raw_refs_from(p, r, &n->t);
		p->head_item = (long)(p->n_raws - 1);
	}
}

void imp_walk(struct parse *p, const struct mds_doc *doc)
{
	p->grp = p->label_grp = no_group;
	p->label_depth = p->base_depth = -1;
	p->table = -1;
	p->head_item = -1;
	p->inline_item = -1;
	for (size_t i = 0; i < doc->n_nodes; i++) {
		const struct mds_node *n = &doc->nodes[i];
		switch (n->kind) {
		case MDS_HEADING:
			heading(p, n);
			break;
		case MDS_PARA:
			para(p, n);
			break;
		case MDS_LIST_ITEM:
			if (!p->sec_level && p->base_depth < 0)
				impm_block(p, n);
			list_item(p, n);
			break;
		case MDS_TABLE_ROW:
			if (n->table != p->table) {
				drop_pending(p);
				p->table = n->table;
				table_header(p, n);   /* md4c: the header row comes first */
			} else if (p->action_table) {
				table_row(p, n);
			} else if (!p->sec_level && !n->header && n->n_cells == 2) {
				impm_block(p, n);
			}
			break;
		case MDS_CODE:
			if (!p->sec_level)
				impm_block(p, n);
			break;
		default:
			abort();
		}
	}
	drop_pending(p);
	close_section(p);
	flush(p);
}
