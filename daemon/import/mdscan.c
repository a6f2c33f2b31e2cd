/* mdscan.c — md4c callbacks that flatten a document into mds_nodes.
 * See mdscan.h for what is kept and what is dropped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <md4c.h>

#include "mdscan.h"

#define MDS_MAX_DEPTH 16

/* Text being collected for one node (or one table cell). */
struct tgt {
	struct buf b;
	int node;             /* index in doc->nodes, -1 when closed */
	size_t nb_total;      /* non-blank bytes */
	size_t nb_struck;     /* ... of which inside ~~ ~~ */
	size_t nb_linked;     /* ... of which inside a link and not struck */
	int strong;           /* 0 nothing yet, 1 inside a leading strong, 2 decided */
	size_t lead_strong;
	size_t strong_b;      /* where the last top-level strong span began ... */
	size_t strong_e;      /* ... and ended (0, 0: none) */
	size_t nb_after;      /* non-blank bytes since it ended */
	char **hrefs;
	size_t n_hrefs;
};

struct scan {
	const char *src;
	size_t len;
	struct mds_doc *doc;
	size_t cap;
	size_t line_off;      /* incremental line counting: offset ... */
	int line_no;          /* ... and the line it is on */
	struct tgt heading, para, cell;
	struct tgt li[MDS_MAX_DEPTH];
	int li_level;         /* open list items, may exceed MDS_MAX_DEPTH */
	int row;              /* open table row node, -1 */
	int table_no;
	int list_no;          /* list blocks seen */
	int lists[MDS_MAX_DEPTH];   /* ordinal of the open list at each depth ... */
	bool ordered[MDS_MAX_DEPTH];/* ... and whether it is numbered */
	int list_level;       /* open lists */
	bool in_thead, in_html;
	const char *html_b, *html_e;   /* source range of pending HTML blocks ... */
	size_t html_open, html_closed; /* ... and its "<table" / "</table" tags */
	int del_depth, strong_depth, a_depth;
	int err;
};

static void tgt_open(struct tgt *t, int node)
{
	memset(t, 0, sizeof(*t));
	t->node = node;
}

static void tgt_close(struct tgt *t, struct mds_text *out)
{
	size_t len = t->b.len;
	out->text = t->b.data ? buf_steal(&t->b) : xstrdup("");
	/* "~~Document the rollback~~ [T363003](…)": the link to the task
	 * stays unstruck, the item is still struck */
	out->struck = t->nb_struck > 0 && t->nb_struck + t->nb_linked == t->nb_total;
	out->lead_strong = t->strong == 2 ? t->lead_strong : 0;
	out->trail_strong = t->strong_e > t->strong_b && t->strong_b > out->lead_strong &&
	                    t->nb_after == 0 ? len - t->strong_b : 0;
	out->hrefs = t->hrefs;
	out->n_hrefs = t->n_hrefs;
	t->hrefs = NULL;
	t->n_hrefs = 0;
	t->node = -1;
}

static void tgt_discard(struct tgt *t)
{
	buf_free(&t->b);
	for (size_t i = 0; i < t->n_hrefs; i++)
		free(t->hrefs[i]);
	free(t->hrefs);
	t->hrefs = NULL;
	t->n_hrefs = 0;
	t->node = -1;
}

static int new_node(struct scan *s, enum mds_kind kind)
{
	struct mds_doc *d = s->doc;
	if (d->n_nodes == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		d->nodes = xrealloc(d->nodes, s->cap * sizeof(*d->nodes));
	}
	struct mds_node *n = &d->nodes[d->n_nodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	return (int)d->n_nodes++;
}

/* The text target that inline content goes to right now, or NULL. */
static struct tgt *cur_tgt(struct scan *s)
{
	if (s->cell.node >= 0)
		return &s->cell;
	if (s->heading.node >= 0)
		return &s->heading;
	if (s->li_level > 0)
		return &s->li[(s->li_level > MDS_MAX_DEPTH ? MDS_MAX_DEPTH : s->li_level) - 1];
	if (s->para.node >= 0)
		return &s->para;
	return NULL;
}

static int line_of(struct scan *s, const char *p)
{
	if (p < s->src || p > s->src + s->len)
		return 0;
	size_t off = (size_t)(p - s->src);
	if (off < s->line_off) {
		s->line_off = 0;
		s->line_no = 1;
	}
	for (; s->line_off < off; s->line_off++)
		if (s->src[s->line_off] == '\n')
			s->line_no++;
	return s->line_no;
}

static int put(struct scan *s, struct tgt *t, const char *p, size_t n)
{
	if (buf_append(&t->b, p, n) < 0) {
		s->err = -ENOSPC;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r')
			continue;
		t->nb_total++;
		t->nb_after++;
		if (s->del_depth > 0)
			t->nb_struck++;
		else if (s->a_depth > 0)
			t->nb_linked++;
		if (t->strong == 0)
			t->strong = 2;   /* text before any strong: no leading strong */
	}
	return 0;
}

static size_t utf8_encode(unsigned long cp, char out[4])
{
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decode the handful of entities postmortems use; others stay verbatim. */
static int put_entity(struct scan *s, struct tgt *t, const char *p, size_t n)
{
	static const struct { const char *name; const char *text; } named[] = {
		{ "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" }, { "&quot;", "\"" },
		{ "&apos;", "'" }, { "&nbsp;", " " }, { "&ndash;", "\xE2\x80\x93" },
		{ "&mdash;", "\xE2\x80\x94" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(named); i++)
		if (strlen(named[i].name) == n && memcmp(named[i].name, p, n) == 0)
			return put(s, t, named[i].text, strlen(named[i].text));
	if (n >= 4 && p[1] == '#') {
		char num[16];
		bool hex = p[2] == 'x' || p[2] == 'X';
		size_t start = hex ? 3 : 2, dl = n - start - 1;
		if (dl > 0 && dl < sizeof(num)) {
			memcpy(num, p + start, dl);
			num[dl] = '\0';
			char *end;
			unsigned long cp = strtoul(num, &end, hex ? 16 : 10);
			if (*end == '\0') {
				char u[4];
				return put(s, t, u, utf8_encode(cp, u));
			}
		}
	}
	return put(s, t, p, n);
}

/* ---- HTML tables: <table> written into the Markdown ----
 * md4c hands an HTML block over as raw text; a <table> in it becomes
 * MDS_TABLE_ROW nodes as a Markdown table would (first row the header),
 * cells as plain text: tags dropped except <br> ('\n') and <a href>
 * (kept as the cell's link), entities decoded, blanks collapsed. */

static void close_cell(struct scan *s);

/* Tag name at p ("<td ...>", "</tr>") lower-cased into out; *close says
 * "</...".  Returns the byte after '>', or e when unterminated. */
static const char *html_tag(const char *p, const char *e, char out[12], bool *close)
{
	size_t n = 0;
	p++;
	*close = p < e && *p == '/';
	if (*close)
		p++;
	while (p < e && n + 1 < 12 && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	                               (*p >= '0' && *p <= '9')))
		out[n++] = (char)(*p++ | 0x20);
	out[n] = '\0';
	const char *gt = memchr(p, '>', (size_t)(e - p));
	return gt ? gt + 1 : e;
}

/* href="..." / href='...' inside the tag [b, e) as a new string, or NULL. */
static char *html_href(const char *b, const char *e)
{
	for (const char *p = b; p + 6 < e; p++) {
		if (strncasecmp(p, "href=", 5) != 0 || (p[5] != '"' && p[5] != '\''))
			continue;
		const char *v = p + 6, *q = memchr(v, p[5], (size_t)(e - v));
		return q ? xstrndup(v, (size_t)(q - v)) : NULL;
	}
	return NULL;
}

static void html_cell_close(struct scan *s)
{
	if (s->cell.node < 0)
		return;
	while (s->cell.b.len > 0 && strchr(" \n", s->cell.b.data[s->cell.b.len - 1]))
		s->cell.b.data[--s->cell.b.len] = '\0';
	close_cell(s);
}

/* Text between tags, inside a cell: entities decoded, blanks collapsed. */
static void html_text(struct scan *s, const char *b, const char *e)
{
	struct tgt *t = &s->cell;
	for (const char *p = b; p < e && s->err == 0;) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			if (t->b.len > 0 && !strchr(" \n", t->b.data[t->b.len - 1]))
				put(s, t, " ", 1);
			p++;
			continue;
		}
		const char *semi = *p == '&' ? memchr(p, ';', (size_t)(e - p)) : NULL;
		if (semi && semi - p <= 10) {
			put_entity(s, t, p, (size_t)(semi + 1 - p));
			p = semi + 1;
			continue;
		}
		put(s, t, p, 1);
		p++;
	}
}

static void html_tables(struct scan *s)
{
	const char *p = s->html_b, *e = s->html_e;
	int table = -1;
	bool thead = false, first = false;
	s->html_b = s->html_e = NULL;
	s->html_open = s->html_closed = 0;
	while (p && p < e && s->err == 0) {
		const char *lt = memchr(p, '<', (size_t)(e - p));
		const char *stop = lt ? lt : e;
		if (s->cell.node >= 0)
			html_text(s, p, stop);
		if (!lt)
			break;
		char tag[12];
		bool close;
		const char *after = html_tag(lt, e, tag, &close);
		if (!strcmp(tag, "table") && !close) {
			table = s->table_no++;
			first = true;
			thead = false;
		} else if (!strcmp(tag, "thead")) {
			thead = !close;
		} else if (!strcmp(tag, "tr") && table >= 0) {
			html_cell_close(s);
			if (!close) {
				s->row = new_node(s, MDS_TABLE_ROW);
				s->doc->nodes[s->row].table = table;
				s->doc->nodes[s->row].header = thead || first;
				s->doc->nodes[s->row].markup = true;
				s->doc->nodes[s->row].line = line_of(s, lt);
				first = false;
			} else {
				s->row = -1;
			}
		} else if ((!strcmp(tag, "td") || !strcmp(tag, "th")) && s->row >= 0) {
			html_cell_close(s);
			if (!close)
				tgt_open(&s->cell, s->row);
		} else if (!strcmp(tag, "a") && !close && s->cell.node >= 0) {
			char *href = html_href(lt, after);
			if (href) {
				s->cell.hrefs = xrealloc(s->cell.hrefs,
				                         (s->cell.n_hrefs + 1) * sizeof(*s->cell.hrefs));
				s->cell.hrefs[s->cell.n_hrefs++] = href;
			}
		} else if (!strcmp(tag, "br") && s->cell.node >= 0) {
			put(s, &s->cell, "\n", 1);
		} else if (!strcmp(tag, "table") && close) {
			html_cell_close(s);
			s->row = -1;
			table = -1;
		}
		p = after;
	}
	html_cell_close(s);
	s->row = -1;
}

/* Count of case-insensitive occurrences of needle in [b, e). */
static size_t count_in(const char *b, const char *e, const char *needle)
{
	size_t n = 0, l = strlen(needle);
	for (const char *p = b; p + l <= e; p++)
		if (*p == '<' && strncasecmp(p, needle, l) == 0)
			n++;
	return n;
}

/* An HTML block ended: read its tables, unless a <table> is still open
 * (a blank line inside it splits it into several HTML blocks).  The tags
 * were counted as the text came, so a long run of blocks costs O(n). */
static void html_block_done(struct scan *s)
{
	if (!s->html_b)
		return;
	if (s->html_open == 0) {
		s->html_b = s->html_e = NULL;
		s->html_closed = 0;
		return;
	}
	if (s->html_closed < s->html_open)
		return;
	html_tables(s);
}

static int on_text(MD_TEXTTYPE type, const MD_CHAR *p, MD_SIZE n, void *arg)
{
	struct scan *s = arg;
	struct tgt *t = cur_tgt(s);
	if (s->in_html && type == MD_TEXT_HTML && s->row < 0 && s->cell.node < 0) {
		if (p < s->src || p + n > s->src + s->len)
			return 0;   /* md4c's own "\n" between lines, not source text */
		if (!s->html_b)
			s->html_b = p;
		if (p + n > s->html_e)
			s->html_e = p + n;
		s->html_open += count_in(p, p + n, "<table");
		s->html_closed += count_in(p, p + n, "</table");
		return 0;
	}
	if (!t || s->in_html)
		return 0;
	struct mds_node *node = &s->doc->nodes[t->node];
	if (node->line == 0)
		node->line = line_of(s, p);
	switch (type) {
	case MD_TEXT_NULLCHAR:
		return put(s, t, "\xEF\xBF\xBD", 3);
	case MD_TEXT_BR:
	case MD_TEXT_SOFTBR:
		return put(s, t, "\n", 1);
	case MD_TEXT_ENTITY:
		return put_entity(s, t, p, n);
	case MD_TEXT_HTML:
		/* inline HTML: only <br> means something to us (a line break
		 * inside a table cell); other tags are dropped */
		if (n >= 3 && strncasecmp(p, "<br", 3) == 0)
			return put(s, t, "\n", 1);
		return 0;
	default:
		return put(s, t, p, n);
	}
}

static void open_text_node(struct scan *s, struct tgt *t, enum mds_kind kind)
{
	tgt_open(t, new_node(s, kind));
}

static void close_text_node(struct scan *s, struct tgt *t)
{
	if (t->node < 0)
		return;
	tgt_close(t, &s->doc->nodes[t->node].t);
}

static void enter_li(struct scan *s, const MD_BLOCK_LI_DETAIL *li)
{
	int depth = s->li_level++;
	if (depth >= MDS_MAX_DEPTH)
		return;   /* deeper items stay part of the deepest tracked one */
	open_text_node(s, &s->li[depth], MDS_LIST_ITEM);
	struct mds_node *n = &s->doc->nodes[s->li[depth].node];
	n->depth = depth;
	n->task = li->is_task ? (li->task_mark == ' ' ? ' ' : 'x') : 0;
	int l = s->list_level > MDS_MAX_DEPTH ? MDS_MAX_DEPTH : s->list_level;
	if (l > 0) {
		n->list = s->lists[l - 1];
		n->ordered = s->ordered[l - 1];
	}
}

static void enter_list(struct scan *s, bool ordered)
{
	if (s->list_level < MDS_MAX_DEPTH) {
		s->lists[s->list_level] = s->list_no;
		s->ordered[s->list_level] = ordered;
	}
	s->list_level++;
	s->list_no++;
}

static int on_enter_block(MD_BLOCKTYPE type, void *detail, void *arg)
{
	struct scan *s = arg;
	if (s->html_b && type != MD_BLOCK_HTML && type != MD_BLOCK_DOC)
		html_tables(s);   /* an unclosed <table> ends where Markdown resumes */
	switch (type) {
	case MD_BLOCK_H:
		open_text_node(s, &s->heading, MDS_HEADING);
		s->doc->nodes[s->heading.node].level = (int)((MD_BLOCK_H_DETAIL *)detail)->level;
		break;
	case MD_BLOCK_P:
		if (s->cell.node >= 0 || s->heading.node >= 0)
			break;
		if (s->li_level > 0) {
			struct tgt *t = cur_tgt(s);
			if (t->b.len > 0)
				return put(s, t, "\n", 1);
			break;
		}
		open_text_node(s, &s->para, MDS_PARA);
		break;
	case MD_BLOCK_LI:
		enter_li(s, detail);
		break;
	case MD_BLOCK_UL:
		enter_list(s, false);
		break;
	case MD_BLOCK_OL:
		enter_list(s, true);
		break;
	case MD_BLOCK_TABLE:
		s->in_thead = false;
		break;
	case MD_BLOCK_THEAD:
		s->in_thead = true;
		break;
	case MD_BLOCK_TBODY:
		s->in_thead = false;
		break;
	case MD_BLOCK_TR:
		s->row = new_node(s, MDS_TABLE_ROW);
		s->doc->nodes[s->row].table = s->table_no;
		s->doc->nodes[s->row].header = s->in_thead;
		break;
	case MD_BLOCK_TH:
	case MD_BLOCK_TD:
		if (s->row >= 0)
			tgt_open(&s->cell, s->row);
		break;
	case MD_BLOCK_HTML:
		s->in_html = true;
		break;
	case MD_BLOCK_CODE:
		if (s->cell.node < 0 && s->heading.node < 0 && s->li_level == 0)
			open_text_node(s, &s->para, MDS_CODE);
		break;
	default:
		break;   /* DOC, QUOTE, HR: structure we do not need */
	}
	return 0;
}

static void close_cell(struct scan *s)
{
	if (s->cell.node < 0)
		return;
	struct mds_node *row = &s->doc->nodes[s->cell.node];
	row->cells = xrealloc(row->cells, (row->n_cells + 1) * sizeof(*row->cells));
	tgt_close(&s->cell, &row->cells[row->n_cells]);
	row->n_cells++;
}

static int on_leave_block(MD_BLOCKTYPE type, void *detail, void *arg)
{
	struct scan *s = arg;
	UNUSED(detail);
	switch (type) {
	case MD_BLOCK_H:
		close_text_node(s, &s->heading);
		break;
	case MD_BLOCK_P:
		if (s->para.node >= 0 && s->cell.node < 0 && s->li_level == 0)
			close_text_node(s, &s->para);
		break;
	case MD_BLOCK_LI:
		s->li_level--;
		if (s->li_level < MDS_MAX_DEPTH)
			close_text_node(s, &s->li[s->li_level]);
		break;
	case MD_BLOCK_TH:
	case MD_BLOCK_TD:
		close_cell(s);
		break;
	case MD_BLOCK_UL:
	case MD_BLOCK_OL:
		s->list_level--;
		break;
	case MD_BLOCK_TR:
		s->row = -1;
		break;
	case MD_BLOCK_TABLE:
		s->table_no++;
		break;
	case MD_BLOCK_HTML:
		s->in_html = false;
		html_block_done(s);
		break;
	case MD_BLOCK_CODE:
		if (s->para.node >= 0 && s->li_level == 0)
			close_text_node(s, &s->para);
		break;
	default:
		break;
	}
	return 0;
}

static int on_enter_span(MD_SPANTYPE type, void *detail, void *arg)
{
	struct scan *s = arg;
	struct tgt *t = cur_tgt(s);
	switch (type) {
	case MD_SPAN_DEL:
		s->del_depth++;
		break;
	case MD_SPAN_STRONG:
		if (s->strong_depth++ == 0 && t && t->strong == 0)
			t->strong = 1;
		if (s->strong_depth == 1 && t)
			t->strong_b = t->b.len;
		break;
	case MD_SPAN_A:
		s->a_depth++;
		if (t) {
			const MD_SPAN_A_DETAIL *a = detail;
			t->hrefs = xrealloc(t->hrefs, (t->n_hrefs + 1) * sizeof(*t->hrefs));
			/* an empty destination "[see]()" has href.text NULL */
			t->hrefs[t->n_hrefs++] = a->href.size ? xstrndup(a->href.text, a->href.size)
			                                      : xstrdup("");
		}
		break;
	default:
		break;
	}
	return 0;
}

static int on_leave_span(MD_SPANTYPE type, void *detail, void *arg)
{
	struct scan *s = arg;
	struct tgt *t = cur_tgt(s);
	UNUSED(detail);
	switch (type) {
	case MD_SPAN_DEL:
		s->del_depth--;
		break;
	case MD_SPAN_STRONG:
		if (--s->strong_depth == 0 && t && t->strong == 1) {
			t->strong = 2;
			t->lead_strong = t->b.len;
		}
		if (s->strong_depth == 0 && t) {
			t->strong_e = t->b.len;
			t->nb_after = 0;
		}
		break;
	case MD_SPAN_A:
		s->a_depth--;
		break;
	default:
		break;
	}
	return 0;
}

static void text_free(struct mds_text *t)
{
	free(t->text);
	for (size_t i = 0; i < t->n_hrefs; i++)
		free(t->hrefs[i]);
	free(t->hrefs);
}

void mds_doc_free(struct mds_doc *doc)
{
	if (!doc)
		return;
	for (size_t i = 0; i < doc->n_nodes; i++) {
		struct mds_node *n = &doc->nodes[i];
		text_free(&n->t);
		for (size_t c = 0; c < n->n_cells; c++)
			text_free(&n->cells[c]);
		free(n->cells);
	}
	free(doc->nodes);
	free(doc);
}

void mds_prepend(struct mds_doc *doc, struct mds_node *nodes, size_t n)
{
	if (n > 0) {
		doc->nodes = xrealloc(doc->nodes, (doc->n_nodes + n) * sizeof(*doc->nodes));
		memmove(doc->nodes + n, doc->nodes, doc->n_nodes * sizeof(*doc->nodes));
		memcpy(doc->nodes, nodes, n * sizeof(*nodes));
		doc->n_nodes += n;
	}
	free(nodes);
}

int mds_scan(const char *text, size_t len, struct mds_doc **out)
{
	int rc = 0;
	struct scan s;
	memset(&s, 0, sizeof(s));
	s.src = text;
	s.len = len;
	s.line_no = 1;
	s.row = -1;
	s.doc = xcalloc(1, sizeof(*s.doc));
	s.heading.node = s.para.node = s.cell.node = -1;
	for (int i = 0; i < MDS_MAX_DEPTH; i++)
		s.li[i].node = -1;

	MD_PARSER parser;
	memset(&parser, 0, sizeof(parser));
	parser.abi_version = 0;
	parser.flags = MD_FLAG_TABLES | MD_FLAG_TASKLISTS | MD_FLAG_STRIKETHROUGH |
	               MD_FLAG_PERMISSIVEURLAUTOLINKS;
	parser.enter_block = on_enter_block;
	parser.leave_block = on_leave_block;
	parser.enter_span = on_enter_span;
	parser.leave_span = on_leave_span;
	parser.text = on_text;

	if (len > (size_t)0xFFFFFFFFu) {   /* MD_SIZE is 32 bits */
		rc = -EFBIG;
		goto out;
	}
	if (md_parse(text, (MD_SIZE)len, &parser, &s) != 0) {
		rc = s.err ? s.err : -EINVAL;
		goto out;
	}
	if (s.html_b)
		html_tables(&s);
	if (s.err) {
		rc = s.err;
		goto out;
	}
out:
	/* after an abort, targets may still hold text: drop it; every node
	 * already has a (possibly NULL) text that mds_doc_free handles */
	tgt_discard(&s.heading);
	tgt_discard(&s.para);
	tgt_discard(&s.cell);
	for (int i = 0; i < MDS_MAX_DEPTH; i++)
		tgt_discard(&s.li[i]);
	if (rc < 0) {
		mds_doc_free(s.doc);
		return rc;
	}
	/* nodes whose text never closed (cannot happen after a clean parse,
	 * kept defensive): give them "" so readers never see NULL */
	for (size_t i = 0; i < s.doc->n_nodes; i++)
		if (s.doc->nodes[i].kind != MDS_TABLE_ROW && !s.doc->nodes[i].t.text)
			s.doc->nodes[i].t.text = xstrdup("");
	*out = s.doc;
	return 0;
}
