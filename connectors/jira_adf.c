/* jira_adf.c — Markdown <-> Atlassian Document Format (see jira_adf.h).
 *
 * Markdown is parsed with md4c (CommonMark, raw HTML off so it stays
 * text); its callbacks build the ADF tree with a stack of open nodes.
 * The way back is a recursive renderer that writes each block on its
 * own, joins blocks with a blank line (list items: one newline) and
 * prefixes continuation lines of list items and quotes. */
#include "jira_adf.h"
#include "conn_json.h"

#include <ctype.h>
#include <errno.h>
#include <md4c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADF_MAX_DEPTH 64
#define ADF_MAX_MARKS 8

/* ---- Markdown -> ADF ---- */

struct adf_open {
	struct json_object *content; /* the node's "content" array, or NULL (rule) */
	bool inline_ok;              /* paragraph, heading, codeBlock */
	bool implicit;               /* a paragraph md4c did not open (tight list) */
	bool code;                   /* codeBlock: text is taken as is */
};

struct adf_build {
	struct json_object *doc;
	struct adf_open st[ADF_MAX_DEPTH];
	int depth;                   /* st[0] is the doc */
	struct json_object *marks[ADF_MAX_MARKS];
	int n_marks;
	int skipped;                 /* blocks deeper than ADF_MAX_DEPTH */
};

static struct json_object *adf_node(const char *type)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(type));
	return o;
}

/* Add node to the innermost open node and open it with content (or not). */
static void adf_push(struct adf_build *b, struct json_object *node, bool with_content,
                     bool inline_ok, bool implicit)
{
	struct adf_open *top = &b->st[b->depth];
	json_object_array_add(top->content, node);
	if (b->depth + 1 >= ADF_MAX_DEPTH) {
		b->skipped++;
		return;
	}
	struct adf_open *o = &b->st[++b->depth];
	memset(o, 0, sizeof(*o));
	if (with_content) {
		o->content = json_object_new_array();
		json_object_object_add(node, "content", o->content);
	}
	o->inline_ok = inline_ok;
	o->implicit = implicit;
}

static void adf_pop(struct adf_build *b)
{
	if (b->skipped > 0)
		b->skipped--;
	else if (b->depth > 0)
		b->depth--;
}

static void adf_close_implicit(struct adf_build *b)
{
	if (b->depth > 0 && b->st[b->depth].implicit && !b->skipped)
		b->depth--;
}

static int on_enter_block(MD_BLOCKTYPE type, void *detail, void *ud)
{
	struct adf_build *b = ud;
	struct json_object *n, *attrs;
	adf_close_implicit(b);
	switch (type) {
	case MD_BLOCK_DOC:
		return 0;
	case MD_BLOCK_QUOTE:
		adf_push(b, adf_node("blockquote"), true, false, false);
		return 0;
	case MD_BLOCK_UL:
		adf_push(b, adf_node("bulletList"), true, false, false);
		return 0;
	case MD_BLOCK_OL:
		n = adf_node("orderedList");
		attrs = json_object_new_object();
		json_object_object_add(attrs, "order",
		                       json_object_new_int((int)((MD_BLOCK_OL_DETAIL *)detail)->start));
		json_object_object_add(n, "attrs", attrs);
		adf_push(b, n, true, false, false);
		return 0;
	case MD_BLOCK_LI:
		adf_push(b, adf_node("listItem"), true, false, false);
		return 0;
	case MD_BLOCK_HR:
		adf_push(b, adf_node("rule"), false, false, false);
		return 0;
	case MD_BLOCK_H:
		n = adf_node("heading");
		attrs = json_object_new_object();
		json_object_object_add(attrs, "level",
		                       json_object_new_int((int)((MD_BLOCK_H_DETAIL *)detail)->level));
		json_object_object_add(n, "attrs", attrs);
		adf_push(b, n, true, true, false);
		return 0;
	case MD_BLOCK_CODE: {
		const MD_BLOCK_CODE_DETAIL *d = detail;
		n = adf_node("codeBlock");
		if (d->lang.text && d->lang.size > 0) {
			attrs = json_object_new_object();
			json_object_object_add(attrs, "language",
			                       json_object_new_string_len(d->lang.text, (int)d->lang.size));
			json_object_object_add(n, "attrs", attrs);
		}
		adf_push(b, n, true, true, false);
		if (!b->skipped)
			b->st[b->depth].code = true;
		return 0;
	}
	default: /* P, HTML (off), tables (off): a paragraph */
		adf_push(b, adf_node("paragraph"), true, true, false);
		return 0;
	}
}

static int on_leave_block(MD_BLOCKTYPE type, void *detail, void *ud)
{
	struct adf_build *b = ud;
	(void)detail;
	adf_close_implicit(b);
	if (type == MD_BLOCK_DOC)
		return 0;
	if (type == MD_BLOCK_CODE && !b->skipped) {
		/* drop the final newline of the block's last text */
		struct json_object *c = b->st[b->depth].content;
		size_t n = json_object_array_length(c);
		struct json_object *t = n ? json_object_array_get_idx(c, n - 1) : NULL, *tx;
		if (t && json_object_object_get_ex(t, "text", &tx)) {
			const char *s = json_object_get_string(tx);
			int len = json_object_get_string_len(tx);
			if (len > 0 && s[len - 1] == '\n') {
				char *cut = xstrndup(s, (size_t)len - 1);
				if (cut[0])
					json_object_object_add(t, "text", json_object_new_string(cut));
				else
					json_object_array_del_idx(c, n - 1, 1);
				free(cut);
			}
		}
	}
	adf_pop(b);
	return 0;
}

static int on_enter_span(MD_SPANTYPE type, void *detail, void *ud)
{
	struct adf_build *b = ud;
	struct json_object *m = NULL, *attrs;
	switch (type) {
	case MD_SPAN_EM: m = adf_node("em"); break;
	case MD_SPAN_STRONG: m = adf_node("strong"); break;
	case MD_SPAN_CODE: m = adf_node("code"); break;
	case MD_SPAN_A: {
		const MD_SPAN_A_DETAIL *d = detail;
		m = adf_node("link");
		attrs = json_object_new_object();
		json_object_object_add(attrs, "href",
		                       json_object_new_string_len(d->href.text, (int)d->href.size));
		json_object_object_add(m, "attrs", attrs);
		break;
	}
	default: /* images, strike-through (off), ...: their text only */
		m = NULL;
		break;
	}
	if (b->n_marks < ADF_MAX_MARKS)
		b->marks[b->n_marks] = m;
	else
		json_object_put(m); /* deeper than ADF_MAX_MARKS: text only */
	b->n_marks++;
	return 0;
}

static int on_leave_span(MD_SPANTYPE type, void *detail, void *ud)
{
	struct adf_build *b = ud;
	(void)type;
	(void)detail;
	if (b->n_marks > 0 && --b->n_marks < ADF_MAX_MARKS)
		json_object_put(b->marks[b->n_marks]);
	return 0;
}

/* The marks open now as an ADF "marks" array, or NULL for none. */
static struct json_object *adf_marks_now(const struct adf_build *b)
{
	struct json_object *arr = NULL;
	int n = b->n_marks < ADF_MAX_MARKS ? b->n_marks : ADF_MAX_MARKS;
	for (int i = 0; i < n; i++) {
		if (!b->marks[i])
			continue;
		if (!arr)
			arr = json_object_new_array();
		json_object_array_add(arr, json_object_get(b->marks[i]));
	}
	return arr;
}

/* Append text with the open marks; joined to the previous text node when
 * that one has the same marks (md4c splits text at entities, escapes). */
static void adf_add_text(struct adf_build *b, const char *s, size_t len)
{
	jira_adf_add_text(b->st[b->depth].content, s, len, adf_marks_now(b));
}

void jira_adf_add_text(struct json_object *content, const char *s, size_t len,
                       struct json_object *marks)
{
	struct json_object *prev = NULL, *pm = NULL, *pt;
	size_t n = json_object_array_length(content);
	if (n)
		prev = json_object_array_get_idx(content, n - 1);
	if (prev && json_object_object_get_ex(prev, "text", &pt)) {
		json_object_object_get_ex(prev, "marks", &pm);
		if ((!pm && !marks) || (pm && marks && json_object_equal(pm, marks))) {
			char *joined = xasprintf("%s%.*s", json_object_get_string(pt), (int)len, s);
			json_object_object_add(prev, "text", json_object_new_string(joined));
			free(joined);
			json_object_put(marks);
			return;
		}
	}
	struct json_object *t = adf_node("text");
	json_object_object_add(t, "text", json_object_new_string_len(s, (int)len));
	if (marks)
		json_object_object_add(t, "marks", marks);
	json_object_array_add(content, t);
}

/* "&amp;" and friends as UTF-8; an entity not known here stays as written. */
static void adf_add_entity(struct adf_build *b, const char *s, size_t len)
{
	static const struct { const char *e, *u; } known[] = {
		{ "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" }, { "&quot;", "\"" },
		{ "&apos;", "'" }, { "&nbsp;", "\xc2\xa0" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strlen(known[i].e) == len && memcmp(known[i].e, s, len) == 0) {
			adf_add_text(b, known[i].u, strlen(known[i].u));
			return;
		}
	if (len > 3 && s[1] == '#') {
		char *end = NULL, *num = xstrndup(s + 2, len - 3);
		unsigned long cp = (num[0] == 'x' || num[0] == 'X') ? strtoul(num + 1, &end, 16)
		                                                     : strtoul(num, &end, 10);
		bool ok = end && *end == '\0' && cp > 0 && cp < 0x110000 && !(cp >= 0xD800 && cp < 0xE000);
		free(num);
		if (ok) {
			char u[4];
			size_t n;
			if (cp < 0x80) { u[0] = (char)cp; n = 1; }
			else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
			else if (cp < 0x10000) { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
			                         u[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
			else { u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
			       u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
			adf_add_text(b, u, n);
			return;
		}
	}
	adf_add_text(b, s, len);
}

static int on_text(MD_TEXTTYPE type, const MD_CHAR *text, MD_SIZE size, void *ud)
{
	struct adf_build *b = ud;
	if (!b->st[b->depth].inline_ok) /* a tight list item: text without a P */
		adf_push(b, adf_node("paragraph"), true, true, true);
	if (b->skipped)
		return 0;
	switch (type) {
	case MD_TEXT_BR:
	case MD_TEXT_SOFTBR:
		json_object_array_add(b->st[b->depth].content, adf_node("hardBreak"));
		return 0;
	case MD_TEXT_NULLCHAR:
		adf_add_text(b, "\xef\xbf\xbd", 3);
		return 0;
	case MD_TEXT_ENTITY:
		adf_add_entity(b, text, size);
		return 0;
	default:
		adf_add_text(b, text, size);
		return 0;
	}
}

int jira_adf_from_markdown(const char *md, struct json_object **out)
{
	struct adf_build b;
	size_t len = md ? strlen(md) : 0;
	int rc = 0;
	*out = NULL;
	if (len > (size_t)0xFFFFFFFFu) /* MD_SIZE is 32 bits */
		return -EFBIG;
	memset(&b, 0, sizeof(b));
	b.doc = adf_node("doc");
	json_object_object_add(b.doc, "version", json_object_new_int(1));
	b.st[0].content = json_object_new_array();
	json_object_object_add(b.doc, "content", b.st[0].content);

	MD_PARSER p;
	memset(&p, 0, sizeof(p));
	p.abi_version = 0;
	p.flags = MD_FLAG_NOHTML;
	p.enter_block = on_enter_block;
	p.leave_block = on_leave_block;
	p.enter_span = on_enter_span;
	p.leave_span = on_leave_span;
	p.text = on_text;
	if (len && md_parse(md, (MD_SIZE)len, &p, &b) != 0)
		rc = -EINVAL;
	while (b.n_marks > 0)
		on_leave_span(MD_SPAN_EM, NULL, &b);
	if (rc < 0)
		json_object_put(b.doc);
	else
		*out = b.doc;
	return rc;
}

/* ---- ADF -> Markdown ---- */

static int md_blocks(struct json_object *content, struct buf *out, const char *sep, int depth);

static const char *adf_type(struct json_object *n)
{
	struct json_object *t;
	if (!json_object_is_type(n, json_type_object) || !json_object_object_get_ex(n, "type", &t))
		return "";
	return json_object_get_string(t);
}

static struct json_object *adf_get(struct json_object *n, const char *k1, const char *k2)
{
	struct json_object *a = NULL, *v = NULL;
	if (!json_object_object_get_ex(n, k1, &a))
		return NULL;
	if (!k2)
		return a;
	return json_object_object_get_ex(a, k2, &v) ? v : NULL;
}

static bool has_mark(struct json_object *marks, const char *type, struct json_object **mark)
{
	for (size_t i = 0; marks && i < json_object_array_length(marks); i++) {
		struct json_object *m = json_object_array_get_idx(marks, i);
		if (strcmp(adf_type(m), type) == 0) {
			if (mark)
				*mark = m;
			return true;
		}
	}
	return false;
}

/* Plain text with the Markdown escapes it needs to read back as itself.
 * line_start: s begins a line (block markers need escaping there). */
static int md_escape(struct buf *out, const char *s, size_t len, bool line_start)
{
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0; i++) {
		char c = s[i];
		bool esc = false;
		if (strchr("\\*`[]<", c))
			esc = true;
		else if (c == '_')
			esc = i == 0 || i + 1 == len || !isalnum((unsigned char)s[i - 1]) ||
			      !isalnum((unsigned char)s[i + 1]);
		else if (c == '&') { /* only what would read as an entity */
			size_t j = i + 1;
			while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '#'))
				j++;
			esc = j > i + 1 && j < len && s[j] == ';';
		}
		else if (line_start && i == 0 && strchr("#>-+=~|", c))
			esc = true;
		else if (line_start && (c == '.' || c == ')') && i > 0) {
			size_t d = 0;
			while (d < i && isdigit((unsigned char)s[d]))
				d++;
			esc = d == i;
		}
		if (esc)
			rc = buf_append(out, "\\", 1);
		if (rc == 0)
			rc = buf_append(out, &c, 1);
	}
	return rc;
}

/* One text node: marks around the escaped text, white space kept outside
 * the marks (CommonMark does not open emphasis before a space). */
static int md_text(struct json_object *n, struct buf *out, bool line_start)
{
	struct json_object *tx = adf_get(n, "text", NULL), *marks = conn_json_arr(n, "marks"), *link;
	const char *s = tx ? json_object_get_string(tx) : "";
	size_t len = strlen(s), a = 0, z = len;
	int rc = 0;
	if (has_mark(marks, "code", NULL)) {
		int run = 0, best = 0;
		for (size_t i = 0; i < len; i++) {
			run = s[i] == '`' ? run + 1 : 0;
			best = run > best ? run : best;
		}
		char fence[16];
		int nf = best + 1 < 15 ? best + 1 : 15;
		memset(fence, '`', (size_t)nf);
		fence[nf] = '\0';
		bool pad = len && (s[0] == '`' || s[len - 1] == '`' || s[0] == ' ');
		return buf_appendf(out, "%s%s%s%s%s", fence, pad ? " " : "", s, pad ? " " : "", fence);
	}
	bool strong = has_mark(marks, "strong", NULL), em = has_mark(marks, "em", NULL);
	bool is_link = has_mark(marks, "link", &link);
	const char *href = is_link && adf_get(link, "attrs", "href") ?
		json_object_get_string(adf_get(link, "attrs", "href")) : "";
	if (is_link && strcmp(href, s) == 0 && !strong && !em && strchr(href, ':') && !strpbrk(href, " <>"))
		return buf_appendf(out, "<%s>", href);
	if (!strong && !em && !is_link)
		return md_escape(out, s, len, line_start);
	while (a < z && s[a] == ' ')
		a++;
	while (z > a && s[z - 1] == ' ')
		z--;
	const char *open = strong && em ? "***" : strong ? "**" : em ? "*" : "";
	rc = buf_append(out, s, a);
	if (rc == 0 && is_link)
		rc = buf_append(out, "[", 1);
	if (rc == 0)
		rc = buf_appendf(out, "%s", a < z ? open : "");
	if (rc == 0)
		rc = md_escape(out, s + a, z - a, line_start && a == 0 && !is_link && !*open);
	if (rc == 0)
		rc = buf_appendf(out, "%s", a < z ? open : "");
	if (rc == 0 && is_link)
		rc = buf_appendf(out, strpbrk(href, " ()") ? "](<%s>)" : "](%s)", href);
	if (rc == 0)
		rc = buf_append(out, s + z, len - z);
	return rc;
}

/* Inline content of a paragraph or heading (one_line: an ATX heading has
 * one line, so a line break there becomes a space). */
static int md_inline(struct json_object *content, struct buf *out, bool one_line)
{
	bool line_start = true;
	int rc = 0;
	for (size_t i = 0; content && i < json_object_array_length(content) && rc == 0; i++) {
		struct json_object *n = json_object_array_get_idx(content, i), *v;
		const char *t = adf_type(n);
		if (strcmp(t, "text") == 0) {
			rc = md_text(n, out, line_start);
			line_start = false;
		} else if (strcmp(t, "hardBreak") == 0) {
			rc = buf_append(out, one_line ? " " : "\n", 1);
			line_start = !one_line;
		} else {
			/* mention, emoji, date, status, inlineCard: their text */
			v = adf_get(n, "attrs", "text");
			if (!v)
				v = adf_get(n, "attrs", "url");
			if (!v)
				v = adf_get(n, "attrs", "shortName");
			if (v)
				rc = md_escape(out, json_object_get_string(v),
				               strlen(json_object_get_string(v)), line_start);
			line_start = false;
		}
	}
	return rc;
}

/* Append text, putting first before the first line and rest before every
 * other non-empty line (list markers, quote prefixes). */
static int md_prefixed(struct buf *out, const char *text, const char *first, const char *rest)
{
	int rc = buf_appendf(out, "%s", first);
	for (const char *p = text; *p && rc == 0; p++) {
		rc = buf_append(out, p, 1);
		if (rc == 0 && *p == '\n' && p[1] && p[1] != '\n')
			rc = buf_appendf(out, "%s", rest);
		else if (rc == 0 && *p == '\n' && strcmp(rest, "> ") == 0)
			rc = buf_appendf(out, ">");
	}
	return rc;
}

/* alt: the list follows a list of its kind, which it would join in
 * Markdown: it takes the other delimiter ("*" for "-", ")" for "."). */
static int md_list(struct json_object *n, struct buf *out, bool ordered, bool alt, int depth)
{
	struct json_object *content = conn_json_arr(n, "content"), *order = adf_get(n, "attrs", "order");
	/* ADF: orderedList attrs.order, the first item's number, an integer
	 * from 0; Markdown (CommonMark 5.2) takes a start of up to 9 digits,
	 * and a larger one would overflow as the items count up */
	long num = 1;
	if (ordered && order && json_object_is_type(order, json_type_int)) {
		int64_t o = json_object_get_int64(order);
		num = o < 0 ? 1 : o > 999999999 ? 999999999 : (long)o;
	}
	int rc = 0;
	for (size_t i = 0; content && i < json_object_array_length(content) && rc == 0; i++) {
		struct json_object *li = json_object_array_get_idx(content, i);
		struct buf item = { 0 };
		char first[32], rest[32];
		rc = md_blocks(conn_json_arr(li, "content"), &item, "\n", depth + 1);
		if (ordered)
			snprintf(first, sizeof(first), "%ld%c ", num + (long)i, alt ? ')' : '.');
		else
			snprintf(first, sizeof(first), "%c ", alt ? '*' : '-');
		memset(rest, ' ', strlen(first));
		rest[strlen(first)] = '\0';
		if (rc == 0 && i)
			rc = buf_append(out, "\n", 1);
		if (rc == 0)
			rc = md_prefixed(out, item.data ? item.data : "", first, rest);
		buf_free(&item);
	}
	return rc;
}

/* alt: see md_list. */
static int md_block(struct json_object *n, bool alt, struct buf *out, int depth)
{
	const char *t = adf_type(n);
	struct json_object *content = conn_json_arr(n, "content"), *v;
	if (depth > ADF_MAX_DEPTH)
		return 0;
	if (strcmp(t, "heading") == 0) {
		/* ADF: heading attrs.level, an integer 1-6 (another type: 1) */
		v = adf_get(n, "attrs", "level");
		int64_t level = v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 1;
		level = level < 1 ? 1 : level > 6 ? 6 : level;
		int rc = buf_appendf(out, "%.*s ", (int)level, "######");
		return rc ? rc : md_inline(content, out, true);
	}
	if (strcmp(t, "codeBlock") == 0) {
		v = adf_get(n, "attrs", "language");
		struct buf code = { 0 };
		int rc = 0;
		for (size_t i = 0; content && i < json_object_array_length(content) && rc == 0; i++) {
			struct json_object *tx = adf_get(json_object_array_get_idx(content, i), "text", NULL);
			if (tx)
				rc = buf_appendf(&code, "%s", json_object_get_string(tx));
		}
		const char *fence = code.data && strstr(code.data, "```") ? "~~~~" : "```";
		if (rc == 0)
			rc = buf_appendf(out, "%s%s\n%s%s%s", fence, v ? json_object_get_string(v) : "",
			                 code.data ? code.data : "", code.len ? "\n" : "", fence);
		buf_free(&code);
		return rc;
	}
	if (strcmp(t, "bulletList") == 0 || strcmp(t, "orderedList") == 0)
		return md_list(n, out, t[0] == 'o', alt, depth);
	if (strcmp(t, "blockquote") == 0) {
		struct buf q = { 0 };
		int rc = md_blocks(content, &q, "\n\n", depth + 1);
		if (rc == 0)
			rc = md_prefixed(out, q.data ? q.data : "", "> ", "> ");
		buf_free(&q);
		return rc;
	}
	if (strcmp(t, "rule") == 0)
		return buf_appendf(out, "---");
	if (strcmp(t, "paragraph") == 0 || strcmp(t, "text") == 0 || !content)
		return md_inline(strcmp(t, "text") == 0 ? NULL : content, out, false);
	/* panel, expand, table, mediaSingle, ...: their blocks, as blocks */
	return md_blocks(content, out, "\n\n", depth + 1);
}

/* Blocks joined with sep; a block that renders empty is left out. */
static int md_blocks(struct json_object *content, struct buf *out, const char *sep, int depth)
{
	int rc = 0;
	bool any = false, alt = false;
	const char *last = "";
	for (size_t i = 0; content && i < json_object_array_length(content) && rc == 0; i++) {
		struct buf one = { 0 };
		struct json_object *n = json_object_array_get_idx(content, i);
		/* a list right after a list of its kind takes the other delimiter */
		alt = strstr(adf_type(n), "List") && strcmp(adf_type(n), last) == 0 && !alt;
		last = adf_type(n);
		rc = md_block(n, alt, &one, depth);
		if (rc == 0 && one.len) {
			if (any)
				rc = buf_appendf(out, "%s", sep);
			if (rc == 0)
				rc = buf_append(out, one.data, one.len);
			any = true;
		}
		buf_free(&one);
	}
	return rc;
}

int jira_adf_to_markdown(struct json_object *doc, char **out, const char **err)
{
	struct json_object *v = adf_get(doc, "content", NULL);
	struct buf b = { 0 };
	*out = NULL;
	if (strcmp(adf_type(doc), "doc") != 0) {
		*err = "not an ADF document: type is not \"doc\"";
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_array)) {
		*err = "not an ADF document: content is not an array";
		return -EINVAL;
	}
	if (md_blocks(v, &b, "\n\n", 0) < 0) {
		buf_free(&b);
		*err = "ADF document too large";
		return -EINVAL;
	}
	*out = b.data ? buf_steal(&b) : xstrdup("");
	return 0;
}

char *jira_description_normalise(const char *md)
{
	struct json_object *doc = NULL;
	const char *err = NULL;
	char *out = NULL;
	if (!md)
		return NULL;
	if (jira_adf_from_markdown(md, &doc) < 0)
		return xstrdup(md);
	if (jira_adf_to_markdown(doc, &out, &err) < 0)
		out = xstrdup(md);
	json_object_put(doc);
	if (out && !out[0]) {
		free(out);
		out = NULL;
	}
	return out;
}
