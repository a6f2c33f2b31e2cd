/* jira_wiki.c — ADF -> Jira wiki markup (see jira_wiki.h; the way back
 * is jira_wiki_read.c).  The writer walks the ADF tree and writes each
 * block on its own, blocks joined by a blank line, list items by one
 * newline. */
#include "jira_wiki.h"
#include "jira_adf.h"
#include "conn_json.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WIKI_MAX_DEPTH 32

/* ---- small ADF helpers ---- */

static const char *w_type(struct json_object *n)
{
	struct json_object *t;
	if (!json_object_is_type(n, json_type_object) || !json_object_object_get_ex(n, "type", &t) ||
	    !json_object_is_type(t, json_type_string))
		return "";
	return json_object_get_string(t);
}

static struct json_object *w_get(struct json_object *n, const char *k1, const char *k2)
{
	struct json_object *a = NULL, *v = NULL;
	if (!json_object_is_type(n, json_type_object) || !json_object_object_get_ex(n, k1, &a))
		return NULL;
	if (!k2)
		return a;
	return json_object_is_type(a, json_type_object) && json_object_object_get_ex(a, k2, &v) ?
	       v : NULL;
}

static const char *w_str(struct json_object *n, const char *k1, const char *k2)
{
	struct json_object *v = w_get(n, k1, k2);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool w_mark(struct json_object *n, const char *type, struct json_object **mark)
{
	struct json_object *marks = conn_json_arr(n, "marks");
	for (size_t i = 0; marks && i < json_object_array_length(marks); i++) {
		struct json_object *m = json_object_array_get_idx(marks, i);
		if (strcmp(w_type(m), type) == 0) {
			if (mark)
				*mark = m;
			return true;
		}
	}
	return false;
}

/* ---- ADF -> wiki ---- */

bool jira_wiki_word_char(char c)
{
	return isalnum((unsigned char)c) || (unsigned char)c >= 0x80;
}

/* "[~name]" at s: a mention, written and read as it is. */
size_t jira_wiki_mention_len(const char *s, size_t len)
{
	if (len < 4 || s[0] != '[' || s[1] != '~')
		return 0;
	for (size_t i = 2; i < len && i < 258; i++) {
		if (s[i] == ']')
			return i > 2 ? i + 1 : 0;
		if (!isalnum((unsigned char)s[i]) && !strchr("._@-:", s[i]))
			return 0;
	}
	return 0;
}

/* Plain text with the backslashes wiki markup needs to read back as
 * itself.  line_start: s begins a line. */
static int wiki_escape(struct buf *out, const char *s, size_t len, bool line_start)
{
	int rc = 0;
	if (line_start && len >= 3 && s[0] == 'h' && s[1] >= '1' && s[1] <= '6' && s[2] == '.')
		rc = buf_append(out, "\\", 1);
	else if (line_start && len >= 3 && strncmp(s, "bq.", 3) == 0)
		rc = buf_append(out, "\\", 1);
	for (size_t i = 0; i < len && rc == 0; i++) {
		char c = s[i];
		char prev = i ? s[i - 1] : ' ', next = i + 1 < len ? s[i + 1] : ' ';
		size_t m = jira_wiki_mention_len(s + i, len - i);
		if (m) {
			rc = buf_append(out, s + i, m);
			i += m - 1;
			continue;
		}
		bool esc = strchr("\\*_{}[]|", c) != NULL;
		if (strchr("-+^~", c)) /* an effect's opener or closer */
			esc = (!jira_wiki_word_char(prev) && next != ' ') ||
			      (prev != ' ' && !jira_wiki_word_char(next));
		if (c == '?') /* ??citation?? */
			esc = next == '?' || prev == '?';
		if (c == '!')
			esc = next != ' ' && i + 1 < len;
		if ((c == '#' || c == '-') && line_start && i == 0)
			esc = true; /* a numbered or bullet item */
		if (c == '\n') /* inline text holds no newline: a line break is a node */
			c = ' ';
		if (esc)
			rc = buf_append(out, "\\", 1);
		if (rc == 0)
			rc = buf_append(out, &c, 1);
	}
	return rc;
}

/* The first character the inline node n starts with, ' ' for none. */
static char first_char(struct json_object *n)
{
	const char *t = strcmp(w_type(n), "text") == 0 ? w_str(n, "text", NULL) : NULL;
	return t && t[0] ? t[0] : ' ';
}

/* One text node: its marks around the escaped text, spaces outside them;
 * the {*} form when a word touches the mark (Jira's "effects inside a
 * word"). */
static int wiki_text(struct json_object *n, struct buf *out, bool line_start, char next)
{
	const char *s = w_str(n, "text", NULL);
	struct json_object *link = NULL;
	size_t len = s ? strlen(s) : 0, a = 0, z = len;
	int rc = 0;
	if (!s)
		return 0;
	bool strong = w_mark(n, "strong", NULL), em = w_mark(n, "em", NULL);
	bool code = w_mark(n, "code", NULL), is_link = w_mark(n, "link", &link);
	const char *href = is_link ? w_str(link, "attrs", "href") : NULL;
	if (!strong && !em && !code && !href)
		return wiki_escape(out, s, len, line_start);
	if (href && !strong && !em && !code && strcmp(s, href) == 0 && !strpbrk(href, "|] \n"))
		return buf_appendf(out, "[%s]", href); /* a bare link */
	while (a < z && s[a] == ' ')
		a++;
	while (z > a && s[z - 1] == ' ')
		z--;
	rc = buf_append(out, s, a);
	if (a == z)
		return rc;
	char before = out->len ? out->data[out->len - 1] : ' ';
	bool brace = jira_wiki_word_char(before) || (z == len && jira_wiki_word_char(next));
	const char *so = strong ? (brace ? "{*}" : "*") : "", *eo = em ? (brace ? "{_}" : "_") : "";
	if (rc == 0)
		rc = buf_appendf(out, "%s%s%s", so, eo, href ? "[" : "");
	if (rc == 0 && code) {
		rc = buf_append(out, "{{", 2);
		for (size_t i = a; i < z && rc == 0; i++) {
			if (strchr("\\{}", s[i]))
				rc = buf_append(out, "\\", 1);
			if (rc == 0)
				rc = buf_append(out, s[i] == '\n' ? " " : &s[i], 1);
		}
		if (rc == 0)
			rc = buf_append(out, "}}", 2);
	} else if (rc == 0) {
		rc = wiki_escape(out, s + a, z - a, false);
	}
	if (rc == 0 && href) {
		rc = buf_append(out, "|", 1);
		for (const char *h = href; *h && rc == 0; h++)
			rc = *h == '|' ? buf_append(out, "%7C", 3) : *h == ']' ? buf_append(out, "%5D", 3) :
			     *h == '\n' ? 0 : buf_append(out, h, 1);
		if (rc == 0)
			rc = buf_append(out, "]", 1);
	}
	if (rc == 0)
		rc = buf_appendf(out, "%s%s", eo, so);
	if (rc == 0)
		rc = buf_append(out, s + z, len - z);
	return rc;
}

/* Inline content; one_line: a heading, where a line break becomes a
 * space (a list item keeps it: the reader joins a following plain line to
 * the item). */
static int wiki_inline(struct json_object *content, struct buf *out, bool one_line)
{
	bool line_start = true;
	int rc = 0;
	size_t n = content ? json_object_array_length(content) : 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *c = json_object_array_get_idx(content, i);
		const char *t = w_type(c), *v;
		char next = i + 1 < n ? first_char(json_object_array_get_idx(content, i + 1)) : ' ';
		if (strcmp(t, "text") == 0) {
			rc = wiki_text(c, out, line_start, next);
			line_start = false;
		} else if (strcmp(t, "hardBreak") == 0) {
			/* two breaks in a row would be a blank line: a new paragraph;
			 * spaces before a break are dropped (as Markdown drops them) */
			bool blank = out->len && out->data[out->len - 1] == '\n';
			while (!one_line && !blank && i + 1 < n && out->len &&
			       out->data[out->len - 1] == ' ')
				out->data[--out->len] = '\0';
			rc = buf_append(out, one_line || blank || i + 1 == n ? " " : "\n", 1);
			line_start = !one_line && !blank && i + 1 < n;
		} else {
			v = w_str(c, "attrs", "text");
			v = v ? v : w_str(c, "attrs", "url");
			v = v ? v : w_str(c, "attrs", "shortName");
			if (v)
				rc = wiki_escape(out, v, strlen(v), line_start);
			line_start = false;
		}
	}
	return rc;
}

static int wiki_blocks(struct json_object *content, struct buf *out, int depth, bool in_quote);

/* A list: "prefix" + '*' or '#' per item; an item's first paragraph on
 * its line, its later paragraphs joined by line breaks, nested lists with
 * the longer prefix; other blocks after the list (the notation has no
 * place for them inside an item). */
static int wiki_list(struct json_object *n, struct buf *out, const char *prefix, int depth,
                     struct buf *after)
{
	struct json_object *items = conn_json_arr(n, "content");
	char mine[WIKI_MAX_DEPTH + 2];
	size_t pl = strlen(prefix);
	int rc = 0;
	if (pl + 1 >= sizeof(mine))
		return 0;
	memcpy(mine, prefix, pl);
	mine[pl] = strcmp(w_type(n), "orderedList") == 0 ? '#' : '*';
	mine[pl + 1] = '\0';
	for (size_t i = 0; items && i < json_object_array_length(items) && rc == 0; i++) {
		struct json_object *blocks = conn_json_arr(json_object_array_get_idx(items, i), "content");
		bool line_open = false;
		if (out->len && out->data[out->len - 1] != '\n')
			rc = buf_append(out, "\n", 1);
		if (rc == 0)
			rc = buf_appendf(out, "%s ", mine);
		for (size_t b = 0; blocks && b < json_object_array_length(blocks) && rc == 0; b++) {
			struct json_object *blk = json_object_array_get_idx(blocks, b);
			const char *t = w_type(blk);
			if (strcmp(t, "paragraph") == 0 || strcmp(t, "heading") == 0) {
				struct buf line = { 0 };
				rc = wiki_inline(conn_json_arr(blk, "content"), &line, false);
				if (rc == 0 && line.len && line_open)
					rc = buf_append(out, "\n", 1);
				if (rc == 0 && line.len)
					rc = buf_append(out, line.data, line.len);
				line_open = line_open || line.len;
				buf_free(&line);
			} else if (strstr(t, "List")) {
				rc = wiki_list(blk, out, mine, depth + 1, after);
				line_open = true;
			} else {
				struct json_object *one = json_object_new_array();
				json_object_array_add(one, json_object_get(blk));
				if (after->len)
					rc = buf_append(after, "\n\n", 2);
				if (rc == 0)
					rc = wiki_blocks(one, after, depth + 1, false);
				json_object_put(one);
			}
		}
	}
	return rc;
}

static int wiki_code(struct json_object *n, struct buf *out)
{
	struct json_object *content = conn_json_arr(n, "content");
	const char *lang = w_str(n, "attrs", "language");
	struct buf code = { 0 };
	int rc = 0;
	for (size_t i = 0; content && i < json_object_array_length(content) && rc == 0; i++) {
		const char *t = w_str(json_object_array_get_idx(content, i), "text", NULL);
		if (t)
			rc = buf_appendf(&code, "%s", t);
	}
	const char *body = code.data ? code.data : "";
	bool noformat = strstr(body, "{code}") != NULL;
	for (const char *l = lang; l && *l; l++)
		if (!isalnum((unsigned char)*l) && !strchr("_+#.-", *l))
			lang = NULL;
	if (noformat && strstr(body, "{noformat}")) /* neither fits: the first one loses */
		body = "";
	if (rc == 0 && noformat)
		rc = buf_appendf(out, "{noformat}\n%s%s{noformat}", body, body[0] ? "\n" : "");
	else if (rc == 0)
		rc = buf_appendf(out, "{code%s%s}\n%s%s{code}", lang && *lang ? ":" : "",
		                 lang && *lang ? lang : "", body, body[0] ? "\n" : "");
	buf_free(&code);
	return rc;
}

static int wiki_block(struct json_object *n, struct buf *out, int depth, bool in_quote)
{
	const char *t = w_type(n);
	struct json_object *content = conn_json_arr(n, "content"), *v;
	if (depth > WIKI_MAX_DEPTH)
		return 0;
	if (strcmp(t, "heading") == 0) {
		/* ADF: heading attrs.level, an integer 1-6 (another type: 1) */
		v = w_get(n, "attrs", "level");
		int64_t level = v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 1;
		level = level < 1 ? 1 : level > 6 ? 6 : level;
		int rc = buf_appendf(out, "h%d. ", (int)level);
		return rc ? rc : wiki_inline(content, out, true);
	}
	if (strcmp(t, "codeBlock") == 0)
		return wiki_code(n, out);
	if (strcmp(t, "bulletList") == 0 || strcmp(t, "orderedList") == 0) {
		struct buf after = { 0 };
		int rc = wiki_list(n, out, "", depth, &after);
		if (rc == 0 && after.len)
			rc = buf_appendf(out, "\n\n%s", after.data);
		buf_free(&after);
		return rc;
	}
	if (strcmp(t, "blockquote") == 0) {
		if (in_quote) /* quotes do not nest: the inner one's blocks */
			return wiki_blocks(content, out, depth + 1, true);
		struct buf q = { 0 };
		int rc = wiki_blocks(content, &q, depth + 1, true);
		if (rc == 0 && q.len)
			rc = buf_appendf(out, "{quote}\n%s\n{quote}", q.data);
		buf_free(&q);
		return rc;
	}
	if (strcmp(t, "rule") == 0)
		return buf_appendf(out, "----");
	if (strcmp(t, "paragraph") == 0 || !content)
		return wiki_inline(content, out, false);
	return wiki_blocks(content, out, depth + 1, in_quote);
}

/* Blocks joined by a blank line; a block that writes nothing is left out. */
static int wiki_blocks(struct json_object *content, struct buf *out, int depth, bool in_quote)
{
	int rc = 0;
	for (size_t i = 0; content && i < json_object_array_length(content) && rc == 0; i++) {
		struct buf one = { 0 };
		rc = wiki_block(json_object_array_get_idx(content, i), &one, depth, in_quote);
		size_t n = one.len;
		while (n && (one.data[n - 1] == ' ' || one.data[n - 1] == '\n'))
			n--;
		if (rc == 0 && n) {
			if (out->len)
				rc = buf_append(out, "\n\n", 2);
			if (rc == 0)
				rc = buf_append(out, one.data, n);
		}
		buf_free(&one);
	}
	return rc;
}

int jira_wiki_from_adf(struct json_object *doc, char **out)
{
	struct buf b = { 0 };
	*out = NULL;
	if (wiki_blocks(conn_json_arr(doc, "content"), &b, 0, false) < 0) {
		buf_free(&b);
		return -ENOSPC;
	}
	*out = b.data ? buf_steal(&b) : xstrdup("");
	return 0;
}

